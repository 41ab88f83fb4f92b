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

#include <hefl/iot/storage/record.hpp>
#include <hefl/net/client.hpp>
#include <hefl/net/server.hpp>
#include <hefl/services/wire.hpp>

#include <botan/system_rng.h>

#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>

namespace hefl::services {

/// Tunables of a collector_service.
struct collector_service_options {
  net::server_limits limits = [] {
    net::server_limits l;
    l.handler_threads = 8;  // each forwards one record at a time and waits for storage's commit
    l.max_connections = 1024;
    l.accepted_client_roles = iot::role_set{iot::role::device};
    return l;
  }();
  std::uint16_t port = 0;              ///< 0 = ephemeral (see port())
  std::string address = "127.0.0.1";
  std::string storage_host = "127.0.0.1";
  std::uint16_t storage_port = 0;      ///< where the storage service listens
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
  /// @throws as net::tls_server; hefl::invalid_argument for a null card lookup or a zero storage port
  collector_service(net::tls_credentials creds, Validator& validator, typename Validator::replay_policy_type* nonces,
                    card_lookup cards, collector_service_options options)
      : m_creds(creds), m_validator(&validator), m_nonces(nonces), m_cards(std::move(cards)),
        m_options(std::move(options)), m_client(m_creds, m_options.storage_client) {
    if (!m_cards) throw invalid_argument("collector_service: expected a patient card lookup, got none");
    if (m_options.storage_port == 0) throw invalid_argument("collector_service: storage_port must be set");
    m_server = std::make_unique<net::tls_server>(
        std::move(creds), net::request_handler([this](const net::peer_identity& p, net::frame f) {
          return handle(p, std::move(f));
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

  /// Stops serving (requests received are still answered). Idempotent.
  void stop() {
    if (m_server) m_server->stop();
    const std::lock_guard lock(m_client_mutex);
    m_client.close();
  }

private:
  void log(const std::string& line) const {
    if (m_options.log) m_options.log(line);
  }

  net::frame refuse(std::string_view stage, std::string_view reason, const std::string& message,
                    const net::peer_identity& peer) {
    log("refused stage=" + std::string(stage) + " reason=" + std::string(reason) + " peer=" + peer.device_id());
    return refusal_frame(stage, reason, message);
  }

  void release(const iot::request& r) {
    if (m_nonces) m_nonces->forget(r.device.to_hex(), std::span<const std::uint8_t>(r.nonce));
  }

  net::frame handle(const net::peer_identity& peer, net::frame f) {
    if (f.type != msg::submit) return refuse("collector", "malformed", "expected a device request", peer);
    const auto verdict = m_validator->validate({peer.certificate}, std::span<const std::uint8_t>(f.payload));
    // A retry: authenticated, refused only because the nonce was seen. Storage decides (see the file comment).
    using reason_type = decltype(verdict.reason);  // iot::verdict_reason, named through the Validator
    const bool retry = !verdict.accepted() && verdict.authenticated && verdict.reason == reason_type::replay &&
                       verdict.parsed.has_value();
    if (!verdict.accepted() && !retry)
      return refuse("collector", verdict.peer_code(), verdict.authenticated ? verdict.message : "request refused",
                    peer);
    if (retry) {
      ++m_retries;
      log("retry forwarded device=" + verdict.parsed->device.to_hex());
    }
    const iot::request& req = *verdict.parsed;
    // Only a nonce this request recorded is released on failure (a retry's was recorded earlier).
    const auto release = [&](const iot::request& r) {
      if (!retry) this->release(r);
    };
    iot::record rec;
    {
      Card* card = m_cards(req.patient_id);
      if (!card) {
        release(req);
        return refuse("collector", "no_patient_card", "this collector holds no card for the request's patient", peer);
      }
      const std::lock_guard lock(m_card_mutex);  // cards and the signing RNG are not shared across threads
      rec = iot::make_attested_record(req, *card, m_options_collector_id(), m_creds.key(), Botan::system_rng());
    }
    net::frame reply;
    try {
      reply = forward(rec);
    } catch (const std::exception& e) {
      release(req);
      return refuse("collector", "storage_unavailable", std::string("the record could not be stored: ") + e.what(),
                    peer);
    }
    if (reply.type == msg::accepted) {
      ++m_acked;
      log("stored device=" + req.device.to_hex() + " " + read_json(reply).dump());
      return reply;
    }
    if (reply.type == msg::refused) {
      const auto r = read_refusal(reply);
      if (r.reason == "unavailable") release(req);
      log("refused stage=storage reason=" + r.reason + " peer=" + peer.device_id());
      return reply;
    }
    release(req);
    return refuse("collector", "storage_unavailable", "storage sent an unexpected reply", peer);
  }

  std::string m_options_collector_id() const { return m_validator->options().collector_id; }

  net::frame forward(const iot::record& rec) {
    const auto request = json_frame(msg::store, record_to_json(rec));
    for (int attempt = 0;; ++attempt) {
      std::future<net::frame> pending;
      {
        // The client's session is replaced by connect(): every use of it happens under this lock
        // (handler threads share the client); only the wait for the reply happens outside.
        const std::lock_guard lock(m_client_mutex);
        if (!m_client.connected()) m_client.connect(m_options.storage_host, m_options.storage_port);
        pending = m_client.request_async(request);
      }
      try {
        if (pending.wait_for(m_options.storage_client.request_timeout) != std::future_status::ready)
          throw net::timeout_error("collector_service: storage sent no reply within " +
                                   std::to_string(m_options.storage_client.request_timeout.count()) + " ms");
        auto reply = pending.get();
        if (reply.type == net::error_frame_type) throw net::read_error_frame(reply);
        return reply;
      } catch (const net::timeout_error&) {
        throw;  // the record may still commit: no second copy (storage would refuse it as duplicate_nonce anyway)
      } catch (const io_error&) {
        if (attempt >= 1) throw;  // the connection dropped: reconnect once and resend the same record
      }
    }
  }

  net::tls_credentials m_creds;
  Validator* m_validator;
  typename Validator::replay_policy_type* m_nonces;
  card_lookup m_cards;
  collector_service_options m_options;
  std::mutex m_card_mutex, m_client_mutex;
  net::tls_client m_client;
  std::atomic<std::uint64_t> m_acked{0}, m_retries{0};
  std::unique_ptr<net::tls_server> m_server;
};

} // namespace hefl::services
