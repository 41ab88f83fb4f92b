#pragma once
/// @file
/// A doctor's or nurse's client of the storage service: the TLS session authenticates the reader
/// (certificate plus possession of its key, proven in the handshake); the storage node decides from
/// the registry whether the reader may see the patient.

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

  /// Reads @p patient_id's records, optionally only from <= timestamp <= to.
  /// @throws hefl::security_error if either certificate is refused in the handshake; hefl::io_error
  ///         on a connection failure; hefl::parse_error on a reply that does not decode
  [[nodiscard]] read_result read(const std::string& patient_id, std::optional<iot::record_time> from = {},
                                 std::optional<iot::record_time> to = {}) {
    if (!m_client.connected()) m_client.connect(m_host, m_port);
    nlohmann::json q{{"patient", patient_id}};
    if (from) q["from"] = from->time_since_epoch().count();
    if (to) q["to"] = to->time_since_epoch().count();
    const auto reply = m_client.request(json_frame(msg::read, q));
    read_result out;
    if (reply.type == msg::refused) {
      out.refused = read_refusal(reply);
      return out;
    }
    if (reply.type != msg::records) throw parse_error("reader_client: unexpected reply type " + std::to_string(reply.type));
    out.records = read_records(reply);
    return out;
  }

private:
  std::string m_host;
  std::uint16_t m_port;
  net::tls_client m_client;
};

} // namespace hefl::services
