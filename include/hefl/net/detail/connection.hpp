#pragma once
/// @file
/// One TLS connection driven by Asio: the socket's completions run on a strand, Botan's channel is
/// touched only on that strand, its callbacks queue ciphertext for async_write and plaintext for the
/// frame parser, and one steady_timer enforces the handshake, slow-peer and idle deadlines.

#ifndef ASIO_STANDALONE
#define ASIO_STANDALONE
#endif
#include <asio.hpp>

#include <hefl/iot/pki/pki.hpp>
#include <hefl/net/credentials.hpp>
#include <hefl/net/frame.hpp>
#include <hefl/net/peer.hpp>
#include <hefl/net/tls_policy.hpp>

#include <botan/auto_rng.h>
#include <botan/tls_callbacks.h>
#include <botan/tls_channel.h>
#include <botan/tls_exceptn.h>
#include <botan/tls_session_manager.h>

#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hefl::net::detail {

using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

/// Deadlines of one connection.
struct deadlines {
  milliseconds handshake;  ///< from TCP accept/connect to an established TLS session
  milliseconds read;       ///< from the first byte of a frame to its last (slow peers)
  milliseconds idle;       ///< from the last complete frame or reply to the next frame
};

/// TLS alert for a refused peer chain.
inline Botan::TLS::Alert::Type alert_for(iot::chain_status s) noexcept {
  using A = Botan::TLS::Alert;
  switch (s) {
    case iot::chain_status::revoked: return A::CERTIFICATE_REVOKED;
    case iot::chain_status::expired:
    case iot::chain_status::not_yet_valid: return A::CERTIFICATE_EXPIRED;
    case iot::chain_status::untrusted: return A::UNKNOWN_CA;
    case iot::chain_status::wrong_usage:
    case iot::chain_status::wrong_role: return A::UNSUPPORTED_CERTIFICATE;
    default: return A::BAD_CERTIFICATE;
  }
}

/// Base of the server and client sessions. Everything here runs on the socket's strand.
class connection : public Botan::TLS::Callbacks, public std::enable_shared_from_this<connection> {
public:
  /// @param sessions TLS sessions to resume from and remember (shared by the connections of one client
  ///        or server; it must outlive this connection), or null: every handshake is a full one
  connection(asio::ip::tcp::socket socket, const tls_credentials& creds, iot::cert_usage peer_usage,
             iot::role_set peer_roles, deadlines d, std::size_t max_frame,
             Botan::TLS::Session_Manager* sessions = nullptr)
      : m_socket(std::move(socket)), m_timer(m_socket.get_executor()), m_creds(creds), m_adapter(creds),
        m_sessions(sessions ? *sessions : m_no_sessions), m_remember_sessions(sessions != nullptr),
        m_peer_usage(peer_usage), m_peer_roles(peer_roles), m_deadlines(d), m_max_frame(max_frame) {}
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  ~connection() override = default;

  /// The strand-bound executor of this connection.
  [[nodiscard]] asio::any_io_executor executor() { return m_socket.get_executor(); }

  /// Sends close_notify once the queued output is written, then closes the socket. On the strand.
  void close_gracefully() {
    if (m_finished || m_closing) return;
    try {
      if (m_channel && m_channel->is_active()) m_channel->close();
    } catch (...) {
    }
    note("closed by this side");
    shutdown_after_flush();
  }

  /// Closes the socket now, dropping queued output. On the strand.
  void abort(const std::string& reason) {
    note(reason);
    finish();
  }

protected:
  virtual void on_frame(std::uint32_t id, frame f) = 0;
  virtual void on_established() {}
  virtual void on_closed(const std::string& /*reason*/, bool /*was_established*/) {}
  /// True while requests are being handled, which holds the idle deadline.
  [[nodiscard]] virtual bool busy() const { return false; }

  /// Takes ownership of the channel and starts reading. On the strand.
  void start(std::unique_ptr<Botan::TLS::Channel> channel) {
    m_channel = std::move(channel);
    arm_timer();
    start_read();
  }

  /// Queues @p f as the reply to (or request) @p id. On the strand.
  void send_frame(std::uint32_t id, const frame& f) {
    if (m_finished || m_closing || !m_channel || !m_channel->is_active()) return;
    try {
      const auto bytes = encode_frame(f, id);
      m_channel->send(bytes.data(), bytes.size());
      m_last_activity = steady::now();
    } catch (const std::exception& e) {
      note(std::string("send failed: ") + e.what());
      shutdown_after_flush();
    }
  }

  /// Re-arms the deadline timer after a state change. On the strand.
  void arm_timer() {
    if (m_finished) return;
    m_timer.expires_at(deadline());
    m_timer.async_wait([self = shared_from_this()](const asio::error_code& ec) {
      if (ec != asio::error::operation_aborted) self->on_timer();
    });
  }

  void note(const std::string& reason) {
    if (m_reason.empty()) m_reason = reason;
  }

  [[nodiscard]] bool closing() const noexcept { return m_closing || m_finished; }
  [[nodiscard]] bool established() const noexcept { return m_established; }
  /// Whether the session was resumed (abbreviated handshake) rather than newly negotiated.
  [[nodiscard]] bool resumed() const noexcept { return m_resumed; }

  // Botan callbacks (on the strand, from inside received_data/send/close or the channel constructor).
  void tls_emit_data(const std::uint8_t data[], std::size_t size) override {
    if (m_finished) return;
    m_out.emplace_back(data, data + size);
    if (!m_writing) start_write();
  }
  void tls_record_received(std::uint64_t, const std::uint8_t data[], std::size_t size) override {
    if (size == 0) return;
    if (m_plain.empty()) m_partial_since = steady::now();
    m_plain.insert(m_plain.end(), data, data + size);
  }
  void tls_alert(Botan::TLS::Alert alert) override {
    if (alert.type() == Botan::TLS::Alert::CLOSE_NOTIFY) note("peer sent close_notify");
    else note("peer sent TLS alert " + alert.type_string());
    if (alert.is_fatal()) m_fatal_alert = alert.type_string();
  }
  bool tls_session_established(const Botan::TLS::Session& session) override {
    // An abbreviated handshake (RFC 5246 section 7.3) carries no Certificate message, so Botan calls no
    // tls_verify_cert_chain: the chain the session was first established with is validated again here
    // (trust store, CRL, expiry, usage, role), and a refused one is dropped from the session cache.
    if (!m_peer) adopt_resumed(session.peer_certs(), session.session_id());
    m_version = session.version().to_string();
    m_suite = session.ciphersuite().to_string();
    return m_remember_sessions;  // true: Botan saves the session in m_sessions for later resumption
  }
  void tls_session_activated() override {
    // Belt and braces: whichever handshake ran, no session is used without a peer validated just now.
    if (!m_peer) adopt_resumed(m_channel ? m_channel->peer_cert_chain() : std::vector<Botan::X509_Certificate>{}, {});
    m_established = true;
    m_last_activity = steady::now();
    arm_timer();
    on_established();
  }
  void tls_verify_cert_chain(const std::vector<Botan::X509_Certificate>& chain,
                             const std::vector<std::shared_ptr<const Botan::OCSP::Response>>&,
                             const std::vector<Botan::Certificate_Store*>&, Botan::Usage_Type, const std::string&,
                             const Botan::TLS::Policy&) override {
    verify_peer(chain);
  }

  asio::ip::tcp::socket m_socket;
  asio::steady_timer m_timer;
  const tls_credentials& m_creds;
  credentials_adapter m_adapter;
  strict_policy m_policy;
  Botan::AutoSeeded_RNG m_rng;
  Botan::TLS::Session_Manager_Noop m_no_sessions;
  Botan::TLS::Session_Manager& m_sessions;
  bool m_remember_sessions;
  bool m_resumed = false;
  std::unique_ptr<Botan::TLS::Channel> m_channel;
  std::optional<peer_identity> m_peer;
  std::string m_refusal;      ///< validate_chain's reason when the peer chain was refused
  std::string m_reason;       ///< first reason the connection ended
  std::string m_fatal_alert;  ///< fatal alert received from the peer, if any
  std::string m_version;      ///< negotiated protocol version, e.g. "TLS v1.2"
  std::string m_suite;        ///< negotiated ciphersuite (IANA name)
  steady::time_point m_started = steady::now();

private:
  /// Validates @p chain as the peer's; throws the TLS alert for a refusal (Botan sends it, fatal).
  void verify_peer(const std::vector<Botan::X509_Certificate>& chain) {
    const auto v = m_creds.validate_peer(chain, m_peer_usage, std::chrono::system_clock::now(), m_peer_roles);
    if (!v.ok()) {
      m_refusal = v.reason;
      throw Botan::TLS::TLS_Exception(alert_for(v.status), "peer certificate refused: " + v.reason);
    }
    m_peer = peer_identity{*v.holder, chain.front()};
  }

  /// The peer of a resumed session: its remembered chain, validated as in a full handshake.
  void adopt_resumed(const std::vector<Botan::X509_Certificate>& chain, const std::vector<std::uint8_t>& session_id) {
    if (chain.empty())
      throw Botan::TLS::TLS_Exception(Botan::TLS::Alert::HANDSHAKE_FAILURE, "no verified peer certificate");
    try {
      verify_peer(chain);
    } catch (...) {
      if (!session_id.empty()) m_sessions.remove_entry(session_id);
      throw;
    }
    m_resumed = true;
  }

  [[nodiscard]] steady::time_point deadline() const {
    if (!m_established) return m_started + m_deadlines.handshake;
    if (!m_plain.empty()) return m_partial_since + m_deadlines.read;
    if (busy()) return steady::now() + m_deadlines.idle;
    return m_last_activity + m_deadlines.idle;
  }

  void on_timer() {
    if (m_finished || m_closing) return;
    if (steady::now() < deadline()) {
      arm_timer();
      return;
    }
    if (!m_established) {
      abort("handshake deadline passed");
      return;
    }
    const bool partial = !m_plain.empty();
    send_frame(0, make_error_frame(error_code::idle_timeout,
                                   partial ? "frame not completed within the read deadline"
                                           : "no request within the idle deadline"));
    note(partial ? "read deadline passed" : "idle deadline passed");
    close_gracefully();
  }

  void start_read() {
    m_socket.async_read_some(asio::buffer(m_read_buf),
                             [self = shared_from_this()](const asio::error_code& ec, std::size_t n) {
                               self->on_read(ec, n);
                             });
  }

  void on_read(const asio::error_code& ec, std::size_t n) {
    if (m_finished) return;
    if (ec) {
      note(ec == asio::error::eof ? "peer closed the connection" : "read failed: " + ec.message());
      finish();
      return;
    }
    try {
      m_channel->received_data(m_read_buf.data(), n);
    } catch (const std::exception& e) {
      note(std::string("TLS: ") + e.what());
      shutdown_after_flush();  // Botan queued the fatal alert; send it, then close
      return;
    }
    parse_frames();  // before the close check: a reply and close_notify may arrive in one read
    if (!m_finished && m_channel->is_closed()) {
      note("peer closed TLS");
      shutdown_after_flush();
      return;
    }
    if (!m_closing && !m_finished) {
      arm_timer();
      start_read();
    }
  }

  void parse_frames() {
    std::size_t at = 0;
    while (!m_closing && !m_finished && m_plain.size() - at >= frame_header_size) {
      const auto h = decode_header(std::span<const std::uint8_t>(m_plain).subspan(at));
      if (h.length > m_max_frame) {
        send_frame(h.id, make_error_frame(error_code::frame_too_large,
                                          "payload of " + std::to_string(h.length) + " bytes exceeds the maximum of " +
                                              std::to_string(m_max_frame)));
        note("frame too large");
        m_plain.clear();
        close_gracefully();
        return;
      }
      if (m_plain.size() - at < frame_header_size + h.length) break;
      frame f{h.type, std::vector<std::uint8_t>(m_plain.begin() + static_cast<std::ptrdiff_t>(at + frame_header_size),
                                                m_plain.begin() +
                                                    static_cast<std::ptrdiff_t>(at + frame_header_size + h.length))};
      at += frame_header_size + h.length;
      m_last_activity = m_partial_since = steady::now();
      on_frame(h.id, std::move(f));
    }
    if (!m_finished) m_plain.erase(m_plain.begin(), m_plain.begin() + static_cast<std::ptrdiff_t>(std::min(at, m_plain.size())));
  }

  void start_write() {
    m_writing = true;
    asio::async_write(m_socket, asio::buffer(m_out.front()),
                      [self = shared_from_this()](const asio::error_code& ec, std::size_t) {
                        self->m_writing = false;
                        if (self->m_finished) return;
                        if (ec) {
                          self->note("write failed: " + ec.message());
                          self->finish();
                          return;
                        }
                        self->m_out.pop_front();
                        if (!self->m_out.empty()) self->start_write();
                        else if (self->m_closing) self->finish();
                      });
  }

  void shutdown_after_flush() {
    m_closing = true;
    if (!m_writing) finish();
  }

  void finish() {
    if (m_finished) return;
    m_finished = true;
    m_closing = true;
    m_timer.cancel();
    asio::error_code ignored;
    m_socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    m_socket.close(ignored);
    m_out.clear();
    on_closed(m_reason.empty() ? "closed" : m_reason, m_established);
  }

  iot::cert_usage m_peer_usage;
  iot::role_set m_peer_roles;
  deadlines m_deadlines;
  std::size_t m_max_frame;
  std::array<std::uint8_t, 16 * 1024> m_read_buf{};
  std::deque<std::vector<std::uint8_t>> m_out;
  std::vector<std::uint8_t> m_plain;
  bool m_writing = false;
  // Written on the strand; atomic because tls_client::connected() reads them from the caller's thread.
  std::atomic<bool> m_closing{false};
  std::atomic<bool> m_finished{false};
  std::atomic<bool> m_established{false};
  steady::time_point m_last_activity = steady::now();
  steady::time_point m_partial_since = steady::now();
};

} // namespace hefl::net::detail
