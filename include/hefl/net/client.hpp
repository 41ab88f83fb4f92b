#pragma once
/// @file
/// A mutual-TLS 1.2 client for tls_server: connects, authenticates the server through hefl's trust
/// store (role and CRL checked), keeps the connection for many requests, each with a deadline.

#include <hefl/net/detail/connection.hpp>

#include <botan/system_rng.h>
#include <botan/tls_client.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <thread>

namespace hefl::net {

/// Options of a tls_client.
struct client_options {
  std::chrono::milliseconds connect_timeout{5000};   ///< TCP connect plus TLS handshake
  std::chrono::milliseconds request_timeout{10000};  ///< default deadline of request()
  std::size_t max_frame_size = 1u << 20;             ///< largest reply payload accepted
  iot::role_set accepted_server_roles{iot::role::collector, iot::role::storage};  ///< who may serve us
  /// Remember the server's TLS session and offer it at the next connect(): a server that remembers it
  /// too (server_limits::session_cache_size) resumes it with an abbreviated handshake (RFC 5246
  /// section 7.3: no key exchange, no signatures) and both ends validate the other's remembered chain
  /// again (CRL, expiry, role). False: every connect() is a full handshake. See docs/net.md.
  bool resume_sessions = false;
  std::chrono::seconds session_lifetime{3600};  ///< a remembered session is not offered after this
};

/// Completes one request of tls_client::request_async(frame, reply_handler, ...): either an exception
/// (hefl::net::remote_error for a typed error reply, timeout_error, hefl::io_error when the connection
/// closed first) or the reply frame. Runs on the client's I/O thread: it must not block (no request()
/// or connect() of the same client inside it).
using reply_handler = std::function<void(std::exception_ptr, frame)>;

namespace detail {

class client_session final : public connection {
public:
  client_session(asio::ip::tcp::socket socket, const tls_credentials& creds, const client_options& o,
                 Botan::TLS::Session_Manager* sessions, Botan::TLS::Server_Information server)
      : connection(std::move(socket), creds, iot::cert_usage::tls_server, o.accepted_server_roles,
                   {o.connect_timeout, o.request_timeout, std::chrono::hours(24)}, o.max_frame_size, sessions),
        m_server_info(std::move(server)) {}

  std::future<void> handshake_future() { return m_handshake.get_future(); }

  void begin_connect(const asio::ip::tcp::endpoint& ep) {
    auto self = std::static_pointer_cast<client_session>(shared_from_this());
    m_socket.async_connect(ep, [self](const asio::error_code& ec) {
      if (ec) {
        self->abort("connect failed: " + ec.message());
        return;
      }
      try {
        self->start(std::make_unique<Botan::TLS::Client>(*self, self->m_sessions, self->m_adapter, self->m_policy,
                                                          self->m_rng, self->m_server_info));
      } catch (const std::exception& e) {
        self->abort(std::string("TLS setup failed: ") + e.what());
      }
    });
  }

  void send_request(std::uint32_t id, const frame& f, reply_handler done,
                    std::optional<std::chrono::milliseconds> deadline = std::nullopt) {
    if (closing() || !established()) {
      done(m_connection_error ? m_connection_error
                              : std::make_exception_ptr(io_error("connection closed: " + m_reason)),
           {});
      return;
    }
    pending_request p{std::move(done), nullptr};
    if (deadline) {
      // One timer per request with a deadline: a reply that never comes completes it with timeout_error.
      p.timer = std::make_shared<asio::steady_timer>(executor(), *deadline);
      p.timer->async_wait([self = std::static_pointer_cast<client_session>(shared_from_this()), id,
                           ms = deadline->count()](const asio::error_code& ec) {
        if (ec == asio::error::operation_aborted) return;
        const auto it = self->m_pending.find(id);
        if (it == self->m_pending.end()) return;
        auto h = std::move(it->second.done);
        self->m_pending.erase(it);
        h(std::make_exception_ptr(timeout_error("tls_client: no reply within " + std::to_string(ms) + " ms")), {});
      });
    }
    m_pending.emplace(id, std::move(p));
    send_frame(id, f);
  }

  void forget(std::uint32_t id) {
    const auto it = m_pending.find(id);
    if (it == m_pending.end()) return;
    if (it->second.timer) it->second.timer->cancel();
    m_pending.erase(it);
  }

  [[nodiscard]] const peer_identity& server() const { return *m_peer; }
  [[nodiscard]] const std::string& version() const { return m_version; }
  [[nodiscard]] const std::string& suite() const { return m_suite; }
  [[nodiscard]] bool open() const noexcept { return established() && !closing(); }
  [[nodiscard]] bool resumed_session() const noexcept { return resumed(); }

private:
  void on_established() override {
    m_handshake_done = true;
    m_handshake.set_value();
  }

  void on_frame(std::uint32_t id, frame f) override {
    if (f.type == error_frame_type && (id == 0 || !m_pending.contains(id))) {
      try {
        const auto e = read_error_frame(f);
        m_reason = e.what();  // the server's typed reason explains the close that follows
        m_connection_error = std::make_exception_ptr(e);
      } catch (...) {
      }
      return;
    }
    const auto it = m_pending.find(id);
    if (it == m_pending.end()) return;  // reply to a request whose caller gave up
    auto p = std::move(it->second);
    m_pending.erase(it);
    if (p.timer) p.timer->cancel();
    if (f.type == error_frame_type) {
      std::exception_ptr e;
      try {
        e = std::make_exception_ptr(read_error_frame(f));
      } catch (const parse_error&) {
        e = std::current_exception();
      }
      p.done(e, {});
    } else {
      p.done(nullptr, std::move(f));
    }
  }

  void on_closed(const std::string& reason, bool) override {
    if (!m_handshake_done) {
      m_handshake_done = true;
      if (!m_refusal.empty())
        m_handshake.set_exception(std::make_exception_ptr(security_error("server certificate refused: " + m_refusal)));
      else if (!m_fatal_alert.empty())
        m_handshake.set_exception(std::make_exception_ptr(
            security_error("handshake refused by the server: TLS alert " + m_fatal_alert)));
      else
        m_handshake.set_exception(std::make_exception_ptr(io_error("handshake failed: " + reason)));
    }
    auto pending = std::move(m_pending);
    m_pending.clear();
    for (auto& [id, p] : pending) {
      if (p.timer) p.timer->cancel();
      p.done(m_connection_error ? m_connection_error
                                : std::make_exception_ptr(io_error("connection closed: " + reason)),
             {});
    }
  }

  struct pending_request {
    reply_handler done;
    std::shared_ptr<asio::steady_timer> timer;  ///< null without a deadline
  };

  Botan::TLS::Server_Information m_server_info;  ///< the session cache's key (empty: no resumption)
  std::promise<void> m_handshake;
  bool m_handshake_done = false;
  std::map<std::uint32_t, pending_request> m_pending;
  std::exception_ptr m_connection_error;
};

} // namespace detail

/// Mutual-TLS client. One connection at a time, kept alive for many requests; requests may be
/// issued from several threads and are matched to replies by id.
class tls_client {
public:
  /// @throws hefl::invalid_argument for non-positive deadlines or max_frame_size
  explicit tls_client(tls_credentials creds, client_options opts = {}) : m_creds(std::move(creds)), m_options(opts) {
    if (opts.connect_timeout.count() <= 0 || opts.request_timeout.count() <= 0 || opts.max_frame_size == 0)
      throw invalid_argument("tls_client: deadlines and max_frame_size must be positive");
    if (opts.resume_sessions) {
      if (opts.session_lifetime.count() <= 0)
        throw invalid_argument("tls_client: session_lifetime must be positive when resume_sessions is set");
      m_sessions = std::make_unique<Botan::TLS::Session_Manager_In_Memory>(Botan::system_rng(), 16, opts.session_lifetime);
    }
    m_thread = std::thread([this] { m_io.run(); });
  }
  tls_client(const tls_client&) = delete;
  tls_client& operator=(const tls_client&) = delete;
  ~tls_client() {
    close();
    m_work.reset();
    m_io.stop();
    if (m_thread.joinable()) m_thread.join();
  }

  /// Connects to @p host (an IP address) and completes the mutual-TLS handshake.
  /// @throws hefl::invalid_argument for a bad address or if already connected
  /// @throws hefl::security_error if the server's certificate is refused by the trust store, or the
  ///         server refused ours (TLS alert)
  /// @throws hefl::net::timeout_error if connect + handshake exceed connect_timeout
  /// @throws hefl::io_error if the connection failed or was closed during the handshake
  void connect(const std::string& host, std::uint16_t port) {
    if (m_session && m_session->open()) throw invalid_argument("tls_client: already connected");
    asio::error_code ec;
    const auto addr = asio::ip::make_address(host, ec);
    if (ec) throw invalid_argument("tls_client: bad address \"" + host + "\": " + ec.message());
    auto s = std::make_shared<detail::client_session>(
        asio::ip::tcp::socket(asio::make_strand(m_io)), m_creds, m_options, m_sessions.get(),
        m_sessions ? Botan::TLS::Server_Information(host, port) : Botan::TLS::Server_Information());
    auto done = s->handshake_future();
    m_session = s;
    const asio::ip::tcp::endpoint ep(addr, port);
    asio::post(s->executor(), [s, ep] { s->begin_connect(ep); });
    if (done.wait_for(m_options.connect_timeout) != std::future_status::ready) {
      asio::post(s->executor(), [s] { s->abort("connect deadline passed"); });
      throw timeout_error("tls_client: connect and handshake took longer than " +
                          std::to_string(m_options.connect_timeout.count()) + " ms");
    }
    done.get();
  }

  /// Sends @p f and returns the future reply (for several requests in flight).
  /// @throws hefl::io_error if not connected
  [[nodiscard]] std::future<frame> request_async(const frame& f, std::uint32_t* id_out = nullptr) {
    if (!m_session) throw io_error("tls_client: not connected");
    auto p = std::make_shared<std::promise<frame>>();
    auto fut = p->get_future();
    std::uint32_t id = next_id();
    if (id_out) *id_out = id;
    auto s = m_session;
    asio::post(s->executor(), [s, id, f, p = std::move(p)]() mutable {
      s->send_request(id, f, [p](std::exception_ptr e, frame r) {
        if (e) p->set_exception(e);
        else p->set_value(std::move(r));
      });
    });
    return fut;
  }

  /// Sends @p f and returns at once; @p done is called exactly once, on the client's I/O thread, with
  /// the reply or the reason there is none (see reply_handler): many requests may be outstanding on
  /// the one connection, matched to their replies by id, and no thread waits for them.
  /// @param timeout the request's deadline (default request_timeout); when it passes, @p done gets a
  ///        timeout_error and a late reply is dropped
  /// @throws hefl::io_error if not connected (then @p done is not called)
  void request_async(const frame& f, reply_handler done, std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    if (!m_session) throw io_error("tls_client: not connected");
    if (!done) throw invalid_argument("tls_client: expected a reply handler, got none");
    const std::uint32_t id = next_id();
    auto s = m_session;
    asio::post(s->executor(), [s, id, f, done = std::move(done), limit = timeout.value_or(m_options.request_timeout)]() mutable {
      s->send_request(id, f, std::move(done), limit);
    });
  }

  /// Sends @p f and waits for the reply.
  /// @throws hefl::net::remote_error for a typed error reply (frame_too_large, busy, ...)
  /// @throws hefl::net::timeout_error if no reply within @p timeout (default request_timeout)
  /// @throws hefl::io_error if not connected or the connection closed first
  [[nodiscard]] frame request(const frame& f, std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    std::uint32_t id = 0;
    auto fut = request_async(f, &id);
    const auto limit = timeout.value_or(m_options.request_timeout);
    if (fut.wait_for(limit) != std::future_status::ready) {
      auto s = m_session;
      asio::post(s->executor(), [s, id] { s->forget(id); });
      throw timeout_error("tls_client: no reply within " + std::to_string(limit.count()) + " ms");
    }
    return fut.get();
  }

  /// The server's identity from its verified certificate.
  /// @throws hefl::io_error if no handshake has completed
  [[nodiscard]] const peer_identity& server_identity() const {
    if (!m_session || !m_session->open()) throw io_error("tls_client: not connected");
    return m_session->server();
  }

  /// The negotiated protocol version ("TLS v1.2") and ciphersuite (IANA name) of the current connection.
  /// @throws hefl::io_error if no handshake has completed
  [[nodiscard]] std::pair<std::string, std::string> negotiated() const {
    if (!m_session || !m_session->open()) throw io_error("tls_client: not connected");
    return {m_session->version(), m_session->suite()};
  }

  /// Whether the current connection resumed a remembered TLS session (client_options::resume_sessions)
  /// rather than running a full handshake.
  /// @throws hefl::io_error if no handshake has completed
  [[nodiscard]] bool resumed() const {
    if (!m_session || !m_session->open()) throw io_error("tls_client: not connected");
    return m_session->resumed_session();
  }

  /// Whether the connection is established and not closing (a snapshot: the server may close it any time).
  [[nodiscard]] bool connected() const { return m_session && m_session->open(); }

  /// Sends close_notify and closes. Idempotent.
  void close() {
    if (!m_session) return;
    auto s = m_session;
    auto done = std::make_shared<std::promise<void>>();
    auto closed = done->get_future();
    asio::post(s->executor(), [s, done] {
      s->close_gracefully();
      done->set_value();
    });
    closed.wait_for(m_options.connect_timeout);
  }

private:
  std::uint32_t next_id() {
    std::uint32_t id = ++m_next_id;
    if (id == 0) id = ++m_next_id;
    return id;
  }

  tls_credentials m_creds;
  client_options m_options;
  std::unique_ptr<Botan::TLS::Session_Manager> m_sessions;  ///< null unless resume_sessions; outlives the sessions
  asio::io_context m_io{1};
  asio::executor_work_guard<asio::io_context::executor_type> m_work{m_io.get_executor()};
  std::shared_ptr<detail::client_session> m_session;
  std::atomic<std::uint32_t> m_next_id{0};
  std::thread m_thread;
};

} // namespace hefl::net
