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
/// after its record's batch committed (and, with a seal_interval, after the ledger block holding the
/// batch's entries is sealed: the paper's "answered once the rule check is in a block"). Readers are the TLS session's verified peer (the handshake
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
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
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
  /// Committer threads. Each takes what is queued (up to max_batch) and runs the guard's checks
  /// (signatures, chains) on it before its COMMIT, so two let two batches' checks use two cores; the
  /// record store serialises the transactions themselves.
  std::size_t committers = 1;
  /// 0: a record is acknowledged once its batch committed. Otherwise a sealer thread calls seal every
  /// seal_interval, and a record is acknowledged once its batch committed and the next seal() after
  /// that commit returned (e.g. the ledger sealed the block holding its entry, as the paper's
  /// Proof-of-Authority chain does every 5 s). Requires seal.
  std::chrono::milliseconds seal_interval{0};
  /// Seals the ledger's pending entries into a block (e.g. [&ledger] { ledger.flush(); }). May throw:
  /// the records waiting for it are then refused as "unavailable" (they are stored; a retry is answered
  /// already_stored).
  std::function<void()> seal;
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
    if (m_options.max_batch == 0 || m_options.committers == 0)
      throw invalid_argument("storage_service: max_batch and committers must be at least 1");
    if (m_options.seal_interval.count() < 0 || (m_options.seal_interval.count() > 0 && !m_options.seal))
      throw invalid_argument("storage_service: a positive seal_interval needs a seal function");
    if (m_options.max_read_records == 0 || m_options.max_read_bytes < 4096)
      throw invalid_argument("storage_service: max_read_records must be at least 1 and max_read_bytes at least 4096");
    for (std::size_t i = 0; i < m_options.committers; ++i) m_committers.emplace_back([this] { commit_loop(); });
    if (m_options.seal_interval.count() > 0) m_sealer = std::thread([this] { seal_loop(); });
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
  /// Records received and waiting for the committer, now.
  [[nodiscard]] std::size_t queued() const {
    const std::lock_guard lock(m_mutex);
    return m_queue.size();
  }
  /// Seals done by the sealer (seal_interval > 0).
  [[nodiscard]] std::uint64_t seals() const noexcept { return m_seals.load(); }

  /// Holds the committer: records received are queued (each still counts towards the server's
  /// in-flight limit of its collector) and not committed until resume(). For maintenance, and for
  /// tests that need a known queue. stop() resumes.
  void pause() {
    const std::lock_guard lock(m_mutex);
    m_paused = true;
  }
  /// Lets the committer take what queued while paused (at most max_batch records per commit).
  void resume() {
    {
      const std::lock_guard lock(m_mutex);
      m_paused = false;
    }
    m_cv.notify_all();
  }

  /// Stops the server (answering the requests already received, whose batches still commit and, with
  /// a seal_interval, are sealed), then the committer and the sealer. Idempotent.
  void stop() {
    resume();
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
      if (j.contains("after")) q.after = cursor_from_json(j.at("after"));
    } catch (const std::exception& e) {
      return refusal_frame("access", "malformed", e.what());
    }
    const auto result = m_access->read_authenticated({peer.certificate}, patient, q);
    if (!result) {
      log("read refused reader=" + peer.device_id() + " reason=" + std::string(iot::to_string(*result.refusal)));
      return refusal_frame("access", iot::to_string(*result.refusal), result.message);
    }
    // Each record is serialised once, into the reply's text, until the next one would pass
    // max_read_bytes (128 bytes stay free for the envelope and "next"); the rest is the next page.
    std::string body = "{\"records\":[";
    std::optional<iot::record_cursor> next = result.next;
    std::size_t sent = 0;
    for (const auto& r : result.records) {
      const auto text = record_to_json(r).dump();
      if (sent > 0 && body.size() + 1 + text.size() + 128 > m_options.max_read_bytes) {
        next = iot::record_cursor::of(result.records[sent - 1]);
        break;
      }
      if (sent > 0) body += ',';
      body += text;
      ++sent;
    }
    body += ']';
    if (next) body += ",\"next\":" + cursor_to_json(*next).dump();
    body += '}';
    log("read reader=" + peer.device_id() + " records=" + std::to_string(sent) + (next ? " more=1" : ""));
    return {msg::records, std::vector<std::uint8_t>(body.begin(), body.end())};
  }

  void commit_loop() {
    for (;;) {
      std::vector<pending> batch;
      {
        std::unique_lock lock(m_mutex);
        m_cv.wait(lock, [&] { return (!m_queue.empty() && !m_paused) || m_stop_committer; });
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
    std::vector<std::pair<net::reply_callback, net::frame>> after_seal;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const auto& v = verdicts[i];
      if (v.ok()) {
        if (v.already_stored) {
          ++m_retries;
          log("retry answered record_id=" + std::to_string(v.record_id) + " collector=" + batch[i].item.rec.collector_id);
        }
        if (m_options.seal_interval.count() > 0) after_seal.emplace_back(std::move(batch[i].reply), accepted_frame(v.record_id, v.already_stored));
        else batch[i].reply(accepted_frame(v.record_id, v.already_stored));
      } else {
        log("refused reason=" + std::string(iot::to_string(*v.refusal)) + " collector=" + batch[i].item.rec.collector_id);
        batch[i].reply(refusal_frame("storage", iot::to_string(*v.refusal), v.message));
      }
    }
    if (!after_seal.empty()) {
      {
        const std::lock_guard lock(m_seal_mutex);
        for (auto& a : after_seal) m_unsealed.push_back(std::move(a));
      }
      m_seal_cv.notify_all();
    }
  }

  // Every seal_interval: seal, then acknowledge what was committed before the seal began. On stop, a
  // last seal for what is left.
  void seal_loop() {
    for (;;) {
      std::vector<std::pair<net::reply_callback, net::frame>> due;
      bool last = false;
      {
        std::unique_lock lock(m_seal_mutex);
        m_seal_cv.wait_for(lock, m_options.seal_interval, [&] { return m_stop_sealer; });
        last = m_stop_sealer;
        due.swap(m_unsealed);
      }
      std::string failure;
      try {
        m_options.seal();
        ++m_seals;
      } catch (const std::exception& e) {
        failure = e.what();
      }
      if (!failure.empty()) log("seal failed error=" + failure + " waiting=" + std::to_string(due.size()));
      else if (!due.empty()) log("sealed acknowledged=" + std::to_string(due.size()));
      for (auto& [reply, frame] : due) {
        if (failure.empty()) reply(std::move(frame));
        else reply(refusal_frame("storage", "unavailable", "stored, but the ledger block was not sealed: " + failure));
      }
      if (last) return;
    }
  }

  void stop_committer() {
    {
      const std::lock_guard lock(m_mutex);
      m_stopping = true;
      m_stop_committer = true;
    }
    m_cv.notify_all();
    for (auto& t : m_committers)
      if (t.joinable()) t.join();
    {
      const std::lock_guard lock(m_seal_mutex);
      m_stop_sealer = true;
    }
    m_seal_cv.notify_all();
    if (m_sealer.joinable()) m_sealer.join();
  }

  Guard* m_guard;
  Access* m_access;
  storage_service_options m_options;
  mutable std::mutex m_mutex;
  std::condition_variable m_cv;
  std::deque<pending> m_queue;
  bool m_stopping = false;
  bool m_stop_committer = false;
  bool m_paused = false;
  std::mutex m_seal_mutex;
  std::condition_variable m_seal_cv;
  std::vector<std::pair<net::reply_callback, net::frame>> m_unsealed;  // committed, waiting for the next seal
  bool m_stop_sealer = false;
  std::atomic<std::uint64_t> m_batches{0}, m_stored{0}, m_largest{0}, m_retries{0}, m_seals{0};
  std::vector<std::thread> m_committers;
  std::thread m_sealer;
  std::unique_ptr<net::tls_server> m_server;
};

} // namespace hefl::services
