#pragma once
/// @file
/// The collector as a mutual-TLS service (seed 003, collector): each device request is validated by
/// the collector_validator against the device's verified TLS certificate (device id and group come
/// from it, never from the payload), turned into an attested record (the patient's card signs, the
/// collector countersigns with its certificate's key) and forwarded over mutual TLS to the storage
/// service. The device is answered only after storage acknowledged the record as durably stored, or
/// with a refusal naming the stage ("collector" or "storage") and the reason. An unauthenticated
/// request gets the one generic reason "unauthenticated" (collector_verdict::peer_code()).
///
/// Retries: a device that got no definite answer resends the same signed bytes (same nonce). The
/// collector's replay memory may already hold that nonce (the first copy passed it, or the collector
/// recorded it and was killed before forwarding). An authenticated request refused only as "replay"
/// is therefore forwarded like an accepted one, and the storage node decides (storage_guard, the
/// authority on what is stored): an exact retry of a stored record is answered "accepted" with the
/// stored record's id and "already_stored"; a nonce it holds no record for is judged and stored once;
/// another record under a used nonce is refused as duplicate_nonce. Every other collector refusal
/// (stale, future, rule_violation, bad signature, ...) is unchanged. When storage cannot be reached
/// or does not commit, a nonce this request recorded is released from the collector's replay memory.
///
/// Pipelined forwarding: a handler thread validates and signs a request, sends the record on the one
/// persistent mTLS connection to storage and returns; the reply (matched by request id) completes the
/// device's request from the client's I/O thread. No thread waits for storage's commit, so up to
/// max_forwarding records of many devices are in storage's queue at once and join one group commit
/// (test: "services: 64 concurrent devices ... a storage batch larger than the collector's handler
/// threads"). More than max_forwarding records awaiting storage: the request is refused as
/// "overloaded" (retryable, the nonce released).

#include <hefl/iot/storage/record.hpp>
#include <hefl/net/client.hpp>
#include <hefl/net/server.hpp>
#include <hefl/services/wire.hpp>

#include <botan/system_rng.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace hefl::services {

/// Tunables of a collector_service.
struct collector_service_options {
  net::server_limits limits = [] {
    net::server_limits l;
    l.handler_threads = 2;  // validate and sign only: forwarding does not hold a thread
    l.io_threads = 2;       // TLS handshakes of many devices on both cores
    l.max_connections = 1024;
    l.accepted_client_roles = iot::role_set{iot::role::device};
    l.session_cache_size = 4096;  // devices reconnecting resume (their chain validated again): docs/net.md
    l.session_lifetime = std::chrono::hours(1);
    return l;
  }();
  std::uint16_t port = 0;              ///< 0 = ephemeral (see port())
  std::string address = "127.0.0.1";
  std::string storage_host = "127.0.0.1";
  std::uint16_t storage_port = 0;      ///< where the storage service listens
  /// Records sent to storage and not yet answered, over all devices; more are refused as "overloaded".
  /// Keep it at most the storage server's max_in_flight_per_peer (4096 by default).
  std::size_t max_forwarding = 1024;
  net::client_options storage_client = [] {
    net::client_options o;
    o.accepted_server_roles = iot::role_set{iot::role::storage};
    return o;
  }();
  /// One line per event; empty = silent. Never given secrets or measured values.
  std::function<void(const std::string&)> log;
};

/// The collector service.
/// @tparam Validator a hefl::iot::collector_validator instantiation
/// @tparam Card the patient smart card type (hefl::iot::patient_smart_card<>)
template <class Validator, class Card>
class collector_service {
public:
  /// The patient's card, or null if this collector holds none for @p patient_id.
  using card_lookup = std::function<Card*(const std::string& patient_id)>;

  /// Starts serving devices. @p creds is used both as the TLS server towards devices and as the TLS
  /// client towards storage (collector certificates carry both usages); its key countersigns records.
  /// @p nonces, if not null, is the validator's replay memory, from which the nonce of a request that
  /// could not be stored is released. All references must outlive the service.
  /// @throws as net::tls_server; hefl::invalid_argument for a null card lookup, a zero storage port or
  ///         a zero max_forwarding
  collector_service(net::tls_credentials creds, Validator& validator, typename Validator::replay_policy_type* nonces,
                    card_lookup cards, collector_service_options options)
      : m_creds(creds), m_validator(&validator), m_nonces(nonces), m_cards(std::move(cards)),
        m_options(std::move(options)), m_client(std::make_unique<net::tls_client>(m_creds, m_options.storage_client)) {
    if (!m_cards) throw invalid_argument("collector_service: expected a patient card lookup, got none");
    if (m_options.storage_port == 0) throw invalid_argument("collector_service: storage_port must be set");
    if (m_options.max_forwarding == 0) throw invalid_argument("collector_service: max_forwarding must be at least 1");
    m_server = std::make_unique<net::tls_server>(
        std::move(creds),
        net::async_request_handler([this](const net::peer_identity& p, net::frame f, net::reply_callback reply) {
          handle(p, std::move(f), std::move(reply));
        }),
        m_options.limits, m_options.port, m_options.address);
  }
  collector_service(const collector_service&) = delete;
  collector_service& operator=(const collector_service&) = delete;
  ~collector_service() { stop(); }

  /// The port devices connect to.
  [[nodiscard]] std::uint16_t port() const noexcept { return m_server->port(); }
  /// The TLS server (connections, refusals at handshake).
  [[nodiscard]] const net::tls_server& server() const noexcept { return *m_server; }
  /// Records acknowledged to devices (retries answered with an already stored record included).
  [[nodiscard]] std::uint64_t acknowledged() const noexcept { return m_acked.load(); }
  /// Requests refused by the replay memory and forwarded to storage as retries.
  [[nodiscard]] std::uint64_t retries_forwarded() const noexcept { return m_retries.load(); }
  /// Records sent to storage and not yet answered, now.
  [[nodiscard]] std::size_t forwarding() const {
    const std::lock_guard lock(m_forward_mutex);
    return m_forwarding;
  }
  /// Most records that were awaiting storage's answer at once, so far.
  [[nodiscard]] std::size_t most_forwarding() const {
    const std::lock_guard lock(m_forward_mutex);
    return m_most_forwarding;
  }

  /// Stops serving: the requests received are still answered (their records forwarded and, if
  /// storage answers within the server's stop_timeout, acknowledged), then the connection to storage
  /// is closed; a record still unanswered then is refused as storage_unavailable with its nonce
  /// released. Idempotent.
  void stop() {
    if (m_stopped.exchange(true)) return;
    if (m_server) m_server->stop();
    {
      const std::lock_guard lock(m_forward_mutex);
      m_stopping = true;  // no reconnect from now on
    }
    {
      const std::lock_guard lock(m_client_mutex);
      m_client->close();
    }
    std::unique_lock lock(m_forward_mutex);
    // close() fails whatever is still pending on the connection, so this wait is short.
    m_forward_cv.wait_for(lock, m_options.storage_client.connect_timeout, [&] { return m_forwarding == 0; });
  }

private:
  // One record on its way to storage, and the device request waiting for it.
  struct forward_job {
    net::frame request;              // the msg::store frame
    std::string device;              // request's device (hex) and nonce, to release the nonce on failure
    std::vector<std::uint8_t> nonce;
    std::string peer;                // the device's subject id, for the log
    bool retry = false;              // the collector's replay memory had the nonce already: do not release it
    int attempt = 0;
    net::reply_callback reply;
  };

  void log(const std::string& line) const {
    if (m_options.log) m_options.log(line);
  }

  net::frame refuse(std::string_view stage, std::string_view reason, const std::string& message,
                    const std::string& peer) {
    log("refused stage=" + std::string(stage) + " reason=" + std::string(reason) + " peer=" + peer);
    return refusal_frame(stage, reason, message);
  }

  void release(const std::string& device, std::span<const std::uint8_t> nonce) {
    if (m_nonces) m_nonces->forget(device, nonce);
  }

  // On a server pool thread: validate, sign, hand the record to the connection to storage, return.
  void handle(const net::peer_identity& peer, net::frame f, net::reply_callback reply) {
    if (f.type != msg::submit) {
      reply(refuse("collector", "malformed", "expected a device request", peer.device_id()));
      return;
    }
    const auto verdict = m_validator->validate({peer.certificate}, std::span<const std::uint8_t>(f.payload));
    // A retry: authenticated, refused only because the nonce was seen. Storage decides (see the file comment).
    using reason_type = decltype(verdict.reason);  // iot::verdict_reason, named through the Validator
    const bool retry = !verdict.accepted() && verdict.authenticated && verdict.reason == reason_type::replay &&
                       verdict.parsed.has_value();
    if (!verdict.accepted() && !retry) {
      reply(refuse("collector", verdict.peer_code(), verdict.authenticated ? verdict.message : "request refused",
                   peer.device_id()));
      return;
    }
    if (retry) {
      ++m_retries;
      log("retry forwarded device=" + verdict.parsed->device.to_hex());
    }
    const iot::request& req = *verdict.parsed;
    auto job = std::make_shared<forward_job>();
    job->device = req.device.to_hex();
    job->nonce = req.nonce;
    job->peer = peer.device_id();
    job->retry = retry;
    job->reply = std::move(reply);
    iot::record rec;
    {
      Card* card = m_cards(req.patient_id);
      if (!card) {
        fail(*job, "no_patient_card", "this collector holds no card for the request's patient");
        return;
      }
      const std::lock_guard lock(m_card_mutex);  // cards and the signing RNG are not shared across threads
      rec = iot::make_attested_record(req, *card, m_validator->options().collector_id, m_creds.key(),
                                      Botan::system_rng());
    }
    job->request = json_frame(msg::store, record_to_json(rec));
    bool admitted = false;
    {
      const std::lock_guard lock(m_forward_mutex);
      admitted = m_forwarding < m_options.max_forwarding;
      if (admitted) m_most_forwarding = std::max(m_most_forwarding, ++m_forwarding);
    }
    if (!admitted) {
      fail(*job, "overloaded", std::to_string(m_options.max_forwarding) + " records are awaiting storage; retry later");
      return;
    }
    send(job);
  }

  // Refuses the job's device request before it was forwarded, releasing the nonce it recorded.
  void fail(forward_job& job, std::string_view reason, const std::string& message) {
    if (!job.retry) release(job.device, std::span<const std::uint8_t>(job.nonce));
    job.reply(refuse("collector", reason, message, job.peer));
  }

  // Sends the job on the connection to storage, connecting first if needed (a pool or retry thread:
  // connect() blocks until the handshake is done).
  void send(const std::shared_ptr<forward_job>& job) {
    try {
      const std::lock_guard lock(m_client_mutex);
      {
        const std::lock_guard f(m_forward_mutex);
        if (m_stopping) throw io_error("the collector is stopping");
      }
      if (!m_client->connected()) m_client->connect(m_options.storage_host, m_options.storage_port);
      m_client->request_async(job->request, [this, job](std::exception_ptr e, net::frame reply) {
        on_reply(job, e, std::move(reply));
      });
    } catch (const std::exception& e) {
      complete(*job, refusal_frame("collector", "storage_unavailable",
                                   std::string("the record could not be stored: ") + e.what()),
               true);
    }
  }

  // On the client's I/O thread: must not block.
  void on_reply(const std::shared_ptr<forward_job>& job, std::exception_ptr error, net::frame reply) {
    if (error) {
      std::string why;
      try {
        std::rethrow_exception(error);
      } catch (const net::timeout_error& e) {
        why = e.what();  // the record may still commit: no second copy (storage would answer it as a retry anyway)
      } catch (const io_error& e) {
        // The connection dropped: reconnect once (off this thread) and resend the same record. If the
        // first copy was committed, storage answers the copy as already_stored.
        if (job->attempt++ < 1) {
          asio::post(m_retry_pool, [this, job] { send(job); });
          return;
        }
        why = e.what();
      } catch (const std::exception& e) {
        why = e.what();
      }
      complete(*job, refusal_frame("collector", "storage_unavailable", "the record could not be stored: " + why), true);
      return;
    }
    if (reply.type == msg::accepted) {
      ++m_acked;
      if (m_options.log) {
        try {
          log("stored device=" + job->device + " " + read_json(reply).dump());
        } catch (const std::exception&) {
          log("stored device=" + job->device + " (unreadable acknowledgement)");
        }
      }
      complete(*job, std::move(reply), false);
      return;
    }
    if (reply.type == msg::refused) {
      bool unavailable = false;
      try {
        const auto r = read_refusal(reply);
        unavailable = r.reason == "unavailable";
        log("refused stage=storage reason=" + r.reason + " peer=" + job->peer);
      } catch (const std::exception&) {
        complete(*job, refusal_frame("collector", "storage_unavailable", "storage sent an unreadable refusal"), true);
        return;
      }
      complete(*job, std::move(reply), unavailable);
      return;
    }
    complete(*job, refusal_frame("collector", "storage_unavailable", "storage sent an unexpected reply"), true);
  }

  // Answers the device and ends the job's forwarding slot; @p failed releases the nonce it recorded.
  void complete(forward_job& job, net::frame reply, bool failed) {
    if (failed) {
      if (!job.retry) release(job.device, std::span<const std::uint8_t>(job.nonce));
      if (reply.type == msg::refused) log("refused stage=collector reason=storage_unavailable peer=" + job.peer);
    }
    job.reply(std::move(reply));
    {
      const std::lock_guard lock(m_forward_mutex);
      --m_forwarding;
    }
    m_forward_cv.notify_all();
  }

  net::tls_credentials m_creds;
  Validator* m_validator;
  typename Validator::replay_policy_type* m_nonces;
  card_lookup m_cards;
  collector_service_options m_options;
  std::mutex m_card_mutex, m_client_mutex;
  mutable std::mutex m_forward_mutex;
  std::condition_variable m_forward_cv;
  std::size_t m_forwarding = 0, m_most_forwarding = 0;
  bool m_stopping = false;
  std::atomic<bool> m_stopped{false};
  std::atomic<std::uint64_t> m_acked{0}, m_retries{0};
  std::unique_ptr<net::tls_server> m_server;
  // Declared after the server, so destroyed before it: a reply still completing reaches a live server.
  asio::thread_pool m_retry_pool{1};           // reconnects and resends after a dropped connection
  std::unique_ptr<net::tls_client> m_client;   // the persistent connection to storage
};

} // namespace hefl::services
