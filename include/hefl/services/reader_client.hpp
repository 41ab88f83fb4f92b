#pragma once
/// @file
/// A doctor's or nurse's client of the storage service: the TLS session authenticates the reader
/// (certificate plus possession of its key, proven in the handshake); the storage node decides from
/// the registry whether the reader may see the patient.

#include <hefl/iot/hospital/access.hpp>
#include <hefl/net/client.hpp>
#include <hefl/services/wire.hpp>

#include <optional>
#include <string>
#include <vector>

namespace hefl::services {

/// The answer to a read.
struct read_result {
  std::vector<iot::record> records;  ///< the patient's records (empty when refused)
  std::optional<refusal> refused;    ///< why not, e.g. reason "not_assigned"
  /// After read_page(): where the next page starts, when the storage node has more records for the
  /// query; empty on the last page (and always after read(), which fetches every page).
  std::optional<iot::record_cursor> next;
  /// True when the read was allowed.
  [[nodiscard]] bool ok() const noexcept { return !refused; }
};

/// A reader's client. Not thread-safe.
class reader_client {
public:
  reader_client(net::tls_credentials creds, std::string host, std::uint16_t port, net::client_options tls = [] {
    net::client_options o;
    o.accepted_server_roles = iot::role_set{iot::role::storage};
    return o;
  }())
      : m_host(std::move(host)), m_port(port), m_client(std::move(creds), tls) {}

  /// Sets the most records read() gathers over all pages (default 1,000,000) before it stops with
  /// hefl::security_error, so a storage node that never ends its pages cannot exhaust the reader's memory.
  /// @throws hefl::invalid_argument if @p n is 0
  void set_max_records(std::size_t n) {
    if (n == 0) throw invalid_argument("reader_client: max_records must be at least 1");
    m_max_records = n;
  }

  /// Reads all of @p patient_id's records, optionally only from <= timestamp <= to, page after page
  /// (the storage node caps each reply: storage_service_options::max_read_records); each page is a
  /// logged access. Records stored during the read with a later (timestamp, id) than the page
  /// already read are included; a refusal of any page is returned as the result.
  /// @throws hefl::security_error if either certificate is refused in the handshake, or the storage
  ///         node's pages do not advance or exceed max_records; hefl::io_error on a connection
  ///         failure; hefl::parse_error on a reply that does not decode
  [[nodiscard]] read_result read(const std::string& patient_id, std::optional<iot::record_time> from = {},
                                 std::optional<iot::record_time> to = {}) {
    iot::read_query q{from, to, {}, 0};
    read_result all;
    for (;;) {
      auto page = read_page(patient_id, q);
      if (!page.ok()) return page;
      for (auto& r : page.records) {
        // Every record lies after the cursor asked for, in (timestamp, id) order.
        // (After the first page, q.after is the last record gathered, so this covers the cursor too.)
        if (!all.records.empty() && !(iot::record_cursor::of(all.records.back()) < iot::record_cursor::of(r)))
          throw security_error("reader_client: the storage node's page is not in (timestamp, id) order after its cursor");
        if (all.records.size() >= m_max_records)
          throw security_error("reader_client: more than max_records (" + std::to_string(m_max_records) + ") records");
        all.records.push_back(std::move(r));
      }
      if (!page.next) return all;
      if (page.records.empty() || iot::record_cursor::of(all.records.back()) != *page.next)
        throw security_error("reader_client: the storage node's next cursor is not its page's last record");
      q.after = page.next;
    }
  }

  /// Reads one page: @p patient_id's records that @p query selects (query.limit = 0 takes the
  /// storage node's page size, a larger one is capped by it); result.next says where the next page
  /// starts (pass it as query.after).
  /// @throws as read(), but not for the pages' order
  [[nodiscard]] read_result read_page(const std::string& patient_id, const iot::read_query& query) {
    if (!m_client.connected()) m_client.connect(m_host, m_port);
    nlohmann::json q{{"patient", patient_id}};
    if (query.from) q["from"] = query.from->time_since_epoch().count();
    if (query.to) q["to"] = query.to->time_since_epoch().count();
    if (query.limit > 0) q["limit"] = query.limit;
    if (query.after) q["after"] = cursor_to_json(*query.after);
    const auto reply = m_client.request(json_frame(msg::read, q));
    read_result out;
    if (reply.type == msg::refused) {
      out.refused = read_refusal(reply);
      return out;
    }
    if (reply.type != msg::records) throw parse_error("reader_client: unexpected reply type " + std::to_string(reply.type));
    auto page = read_records_page(reply);  // one parse of the reply
    out.records = std::move(page.records);
    out.next = page.next;
    return out;
  }

private:
  std::string m_host;
  std::uint16_t m_port;
  net::tls_client m_client;
  std::size_t m_max_records = 1'000'000;
};

} // namespace hefl::services
