#pragma once
/// @file
/// A device's side of the collector service: signs each measurement with the device's key (the key
/// of its TLS certificate, ECDSA P-256) and sends it over mutual TLS. On a connection error it
/// reconnects and resends the same signed bytes (same nonce). Retries are idempotent (docs/services.md):
/// a copy of a record already stored is answered as stored, with the stored record's id and
/// submit_result::already_stored, and is not stored twice.

#include <hefl/iot/collection/request.hpp>
#include <hefl/net/client.hpp>
#include <hefl/services/wire.hpp>

#include <botan/system_rng.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>

namespace hefl::services {

/// Where and how a device connects.
struct device_client_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;          ///< the collector service's port
  int max_attempts = 3;            ///< sends of one request, counting the first
  std::chrono::milliseconds retry_delay{50};
  /// By default a reconnecting device resumes its TLS session (abbreviated handshake, the collector's
  /// chain validated again) where the collector remembers it (collector_service_options::limits).
  net::client_options tls = [] {
    net::client_options o;
    o.accepted_server_roles = iot::role_set{iot::role::collector};
    o.resume_sessions = true;
    return o;
  }();
};

/// What became of one request.
struct submit_result {
  bool stored = false;              ///< acknowledged: durably stored at the storage node
  std::uint64_t record_id = 0;      ///< the stored record's id
  bool already_stored = false;      ///< stored by an earlier copy of the same signed request (a retry)
  std::optional<refusal> refused;   ///< the refusal with its stage and reason
  int attempts = 0;                 ///< sends made
};

/// Whether @p r leaves the outcome open, so that the device should send the same signed bytes again
/// later: storage was unreachable or did not commit, or a memory or ledger was full.
[[nodiscard]] inline bool retryable(const refusal& r) noexcept {
  return r.reason == "storage_unavailable" || r.reason == "unavailable" || r.reason == "ledger_unavailable" ||
         r.reason == "overloaded";
}

/// One device's client. Not thread-safe (a device sends one request at a time).
class device_client {
public:
  /// @param creds the device's certificate and key; the key signs requests
  /// @param collector_id the collector the requests are addressed to (signed into each request)
  /// @throws hefl::invalid_argument if the certificate carries no device identity
  device_client(net::tls_credentials creds, std::string collector_id, device_client_options options)
      : m_creds(std::move(creds)), m_collector(std::move(collector_id)), m_options(std::move(options)),
        m_client(m_creds, m_options.tls) {
    const auto id = iot::identity_of(m_creds.chain().front());
    if (!id || !id.value().device_epc) throw invalid_argument("device_client: the certificate names no device EPC");
    m_epc = *id.value().device_epc;
  }

  /// This device's EPC, from its certificate.
  [[nodiscard]] const iot::sgtin96& epc() const noexcept { return m_epc; }

  /// A request for @p patient_id carrying @p data measured at @p at, signed with a fresh nonce.
  /// @throws hefl::invalid_argument if the request would be invalid
  [[nodiscard]] iot::request sign(std::string patient_id, iot::payload data, iot::request_time at = iot::request_now()) {
    return iot::make_signed_request(m_epc, m_collector, std::move(patient_id), std::move(data), at, m_creds.key(),
                                    Botan::system_rng());
  }

  /// Sends @p r (resending the same bytes after a connection error, up to max_attempts).
  /// @throws hefl::security_error if the collector's certificate is refused or ours is; hefl::io_error
  ///         if every attempt failed to get a reply
  [[nodiscard]] submit_result send(const iot::request& r) {
    const net::frame f{msg::submit, r.encode()};
    submit_result out;
    for (;;) {
      ++out.attempts;
      try {
        if (!m_client.connected()) m_client.connect(m_options.host, m_options.port);
        const auto reply = m_client.request(f);
        if (reply.type == msg::accepted) {
          out.stored = true;
          const auto ack = read_accepted(reply);
          out.record_id = ack.record_id;
          out.already_stored = ack.already_stored;
        } else if (reply.type == msg::refused) {
          out.refused = read_refusal(reply);
        } else {
          throw parse_error("device_client: unexpected reply type " + std::to_string(reply.type));
        }
        return out;
      } catch (const security_error&) {
        throw;  // a refused certificate does not get better by retrying
      } catch (const net::remote_error& e) {
        if (e.code() != net::error_code::busy && e.code() != net::error_code::shutting_down &&
            e.code() != net::error_code::idle_timeout)
          throw;
        if (out.attempts >= m_options.max_attempts) throw;
      } catch (const io_error&) {
        if (out.attempts >= m_options.max_attempts) throw;
      }
      m_client.close();
      std::this_thread::sleep_for(m_options.retry_delay);
    }
  }

  /// sign() then send().
  [[nodiscard]] submit_result submit(std::string patient_id, iot::payload data,
                                     iot::request_time at = iot::request_now()) {
    return send(sign(std::move(patient_id), std::move(data), at));
  }

  /// Opens the connection now (send() would open it on first use): a monitor that stays connected
  /// sends later requests without any handshake. Does nothing if connected.
  /// @throws as net::tls_client::connect
  void connect() {
    if (!m_client.connected()) m_client.connect(m_options.host, m_options.port);
  }

  /// Whether the connection is open and resumed a remembered TLS session (see device_client_options::tls).
  [[nodiscard]] bool resumed() const {
    try {
      return m_client.resumed();
    } catch (const io_error&) {
      return false;  // not connected
    }
  }

  /// Closes the connection; the TLS session stays remembered for the next connection.
  void close() { m_client.close(); }

private:
  net::tls_credentials m_creds;
  std::string m_collector;
  device_client_options m_options;
  net::tls_client m_client;
  iot::sgtin96 m_epc;
};

} // namespace hefl::services
