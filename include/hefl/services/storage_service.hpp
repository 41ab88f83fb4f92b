#pragma once
/// @file
/// The storage node as a mutual-TLS service (seed 003, storage): collectors forward attested records,
/// which the storage guard re-checks (origin: the device's signed request inside the record) and the
/// record store keeps with batched durable commits; doctors and nurses read their patients' records.
///
/// Group commit: store requests are queued by the server's asynchronous handler (no pool thread
/// waits) and one committer thread takes everything queued at once, up to max_batch records, into one
/// storage_guard::submit_batch call: one SQLite transaction, one COMMIT (one fsync with
/// synchronous = FULL), the records' ledger entries journaled in it. Each collector is answered only
/// after its record's batch committed. Readers are the TLS session's verified peer (the handshake
/// proved possession of the certificate's key) and go through access_controller::read_authenticated.

#include <hefl/iot/hospital/access.hpp>
#include <hefl/iot/storage/storage_guard.hpp>
#include <hefl/net/server.hpp>
#include <hefl/services/wire.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace hefl::services {

/// Tunables of a storage_service.
struct storage_service_options {
  net::server_limits limits = [] {
    net::server_limits l;
    l.max_in_flight_per_peer = 4096;  // a collector forwards many devices' records at once
    l.max_connections = 1024;
    l.accepted_client_roles = iot::role_set{iot::role::collector, iot::role::doctor, iot::role::nurse};
    return l;
  }();
  std::uint16_t port = 0;                ///< 0 = ephemeral (see port())
  std::string address = "127.0.0.1";
  std::size_t max_batch = 512;           ///< most records in one transaction
  /// Most records in one read reply (a page); a reader asks for the next page with the cursor the
  /// reply names ("next"). A reply also stops before its JSON would exceed max_read_bytes.
  std::size_t max_read_records = 1000;
  std::size_t max_read_bytes = 512 * 1024;  ///< must stay below the readers' max_frame_size (1 MiB by default)
  /// Callback for one line per event (stored, refused, batch, read); empty = silent. Never given secrets.
  std::function<void(const std::string&)> log;
};

/// The storage service over a storage guard and an access controller (both must outlive it).
/// @tparam Guard a hefl::iot::storage_guard instantiation
/// @tparam Access a hefl::iot::access_controller instantiation
template <class Guard, class Access>
class storage_service {
public:
  /// Starts the committer and the server.
  /// @throws as net::tls_server's constructor; hefl::invalid_argument if max_batch is 0
  storage_service(net::tls_credentials creds, Guard& guard, Access& access, storage_service_options options = {})
      : m_guard(&guard), m_access(&access), m_options(std::move(options)) {
    if (m_options.max_batch == 0) throw invalid_argument("storage_service: max_batch must be at least 1");
    if (m_options.max_read_records == 0 || m_options.max_read_bytes < 4096)
      throw invalid_argument("storage_service: max_read_records must be at least 1 and max_read_bytes at least 4096");
    m_committer = std::thread([this] { commit_loop(); });
    try {
      m_server = std::make_unique<net::tls_server>(
          std::move(creds),
          net::async_request_handler([this](const net::peer_identity& peer, net::frame f, net::reply_callback reply) {
            handle(peer, std::move(f), std::move(reply));
          }),
          m_options.limits, m_options.port, m_options.address);
    } catch (...) {
      stop_committer();
      throw;
    }
  }
  storage_service(const storage_service&) = delete;
  storage_service& operator=(const storage_service&) = delete;
  ~storage_service() { stop(); }

  /// The port the server listens on.
  [[nodiscard]] std::uint16_t port() const noexcept { return m_server->port(); }
  /// The TLS server (connections, refusals at handshake).
  [[nodiscard]] const net::tls_server& server() const noexcept { return *m_server; }
  /// Batches committed (each one SQLite transaction with one COMMIT).
  [[nodiscard]] std::uint64_t batches() const noexcept { return m_batches.load(); }
  /// Records stored so far.
  [[nodiscard]] std::uint64_t stored() const noexcept { return m_stored.load(); }
  /// Largest batch so far.
  [[nodiscard]] std::uint64_t largest_batch() const noexcept { return m_largest.load(); }
  /// Retries answered with the id of the record an earlier copy stored (storage_verdict::already_stored).
  [[nodiscard]] std::uint64_t retries_answered() const noexcept { return m_retries.load(); }

  /// Stops the server (answering the requests already received, whose batches still commit), then
  /// the committer. Idempotent.
  void stop() {
    if (m_server) m_server->stop();
    stop_committer();
  }

private:
  struct pending {
    typename Guard::batch_item item;
    net::reply_callback reply;
  };

  void log(const std::string& line) const {
    if (m_options.log) m_options.log(line);
  }

  void handle(const net::peer_identity& peer, net::frame f, net::reply_callback reply) {
    if (f.type == msg::store) {
      if (peer.role() != iot::role::collector) {
        reply(refusal_frame("storage", "wrong_role", "only collectors forward records"));
        return;
      }
      iot::record r;
      try {
        r = record_from_json(read_json(f));
      } catch (const parse_error& e) {
        reply(refusal_frame("storage", "malformed", e.what()));
        return;
      }
      {
        const std::lock_guard lock(m_mutex);
        if (m_stopping) {
          reply(net::make_error_frame(net::error_code::shutting_down, "the storage service is stopping"));
          return;
        }
        m_queue.push_back({{std::move(r), {peer.certificate}}, std::move(reply)});
      }
      m_cv.notify_one();
      return;
    }
    if (f.type == msg::read) {
      reply(read(peer, f));
      return;
    }
    reply(refusal_frame("storage", "malformed", "unknown message type " + std::to_string(f.type)));
  }

  // A read: {"patient", "from"?, "to"?, "limit"?, "after"?: {"time_ms", "id"}}; the reply
  // {"records": [...], "next"?: {"time_ms", "id"}} holds at most max_read_records records and
  // max_read_bytes of JSON, "next" naming where the following page starts.
  net::frame read(const net::peer_identity& peer, const net::frame& f) {
    std::string patient;
    iot::read_query q;
    q.limit = m_options.max_read_records;
    try {
      const auto j = read_json(f);
      patient = j.at("patient").get<std::string>();
      if (j.contains("from")) q.from = iot::record_time(std::chrono::milliseconds(j.at("from").get<std::int64_t>()));
      if (j.contains("to")) q.to = iot::record_time(std::chrono::milliseconds(j.at("to").get<std::int64_t>()));
      if (j.contains("limit")) {
        const auto limit = j.at("limit").get<std::int64_t>();
        if (limit < 1) throw parse_error("limit must be at least 1, got " + std::to_string(limit));
        q.limit = std::min<std::size_t>(static_cast<std::size_t>(limit), m_options.max_read_records);
      }
      if (j.contains("after")) {
        const auto& a = j.at("after");
        q.after = iot::record_cursor{iot::record_time(std::chrono::milliseconds(a.at("time_ms").get<std::int64_t>())),
                                     a.at("id").get<std::uint64_t>()};
      }
    } catch (const std::exception& e) {
      return refusal_frame("access", "malformed", e.what());
    }
    const auto result = m_access->read_authenticated({peer.certificate}, patient, q);
    if (!result) {
      log("read refused reader=" + peer.device_id() + " reason=" + std::string(iot::to_string(*result.refusal)));
      return refusal_frame("access", iot::to_string(*result.refusal), result.message);
    }
    nlohmann::json out = nlohmann::json::array();
    std::optional<iot::record_cursor> next = result.next;
    std::size_t bytes = 64;  // the envelope and "next"
    for (std::size_t i = 0; i < result.records.size(); ++i) {
      auto r = record_to_json(result.records[i]);
      bytes += r.dump().size() + 1;
      if (bytes > m_options.max_read_bytes && i > 0) {  // the rest on the next page
        next = iot::record_cursor::of(result.records[i - 1]);
        break;
      }
      out.push_back(std::move(r));
    }
    log("read reader=" + peer.device_id() + " records=" + std::to_string(out.size()) + (next ? " more=1" : ""));
    nlohmann::json reply{{"records", std::move(out)}};
    if (next) reply["next"] = {{"time_ms", next->timestamp.time_since_epoch().count()}, {"id", next->id}};
    return json_frame(msg::records, reply);
  }

  void commit_loop() {
    for (;;) {
      std::vector<pending> batch;
      {
        std::unique_lock lock(m_mutex);
        m_cv.wait(lock, [&] { return !m_queue.empty() || m_stop_committer; });
        if (m_queue.empty()) return;
        while (!m_queue.empty() && batch.size() < m_options.max_batch) {
          batch.push_back(std::move(m_queue.front()));
          m_queue.pop_front();
        }
      }
      commit(batch);
    }
  }

  void commit(std::vector<pending>& batch) {
    std::vector<typename Guard::batch_item> items;
    items.reserve(batch.size());
    for (auto& p : batch) items.push_back(p.item);
    std::vector<iot::storage_verdict> verdicts;
    try {
      verdicts = m_guard->submit_batch(std::span<const typename Guard::batch_item>(items));
    } catch (const std::exception& e) {
      log(std::string("batch failed records=") + std::to_string(batch.size()) + " error=" + e.what());
      for (auto& p : batch) p.reply(refusal_frame("storage", "unavailable", "the batch did not commit; retry"));
      return;
    }
    std::uint64_t stored = 0;
    for (const auto& v : verdicts) stored += v.ok() && !v.already_stored ? 1 : 0;
    if (stored > 0) {
      ++m_batches;
      m_stored += stored;
      auto largest = m_largest.load();
      while (stored > largest && !m_largest.compare_exchange_weak(largest, stored)) {
      }
      log("batch committed records=" + std::to_string(stored) + " of " + std::to_string(batch.size()));
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const auto& v = verdicts[i];
      if (v.ok()) {
        if (v.already_stored) {
          ++m_retries;
          log("retry answered record_id=" + std::to_string(v.record_id) + " collector=" + batch[i].item.rec.collector_id);
        }
        batch[i].reply(accepted_frame(v.record_id, v.already_stored));
      } else {
        log("refused reason=" + std::string(iot::to_string(*v.refusal)) + " collector=" + batch[i].item.rec.collector_id);
        batch[i].reply(refusal_frame("storage", iot::to_string(*v.refusal), v.message));
      }
    }
  }

  void stop_committer() {
    {
      const std::lock_guard lock(m_mutex);
      m_stopping = true;
      m_stop_committer = true;
    }
    m_cv.notify_all();
    if (m_committer.joinable()) m_committer.join();
  }

  Guard* m_guard;
  Access* m_access;
  storage_service_options m_options;
  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::deque<pending> m_queue;
  bool m_stopping = false;
  bool m_stop_committer = false;
  std::atomic<std::uint64_t> m_batches{0}, m_stored{0}, m_largest{0}, m_retries{0};
  std::thread m_committer;
  std::unique_ptr<net::tls_server> m_server;
};

} // namespace hefl::services
