#pragma once
/// @file
/// A mutual-TLS 1.2 request/response server on Asio: Botan's TLS::Server per connection, the peer's
/// identity from its verified certificate, length-prefixed frames, deadlines, connection and
/// in-flight limits, graceful stop. See docs/net.md.

#include <hefl/net/detail/connection.hpp>

#include <botan/system_rng.h>
#include <botan/tls_server.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hefl::net {

/// Limits and deadlines of a tls_server.
struct server_limits {
  std::size_t max_frame_size = 1u << 20;       ///< largest payload accepted; larger is refused and the connection closed
  std::size_t max_connections = 256;           ///< connections (handshaking or established) at once; more are closed at accept
  std::size_t max_in_flight_per_peer = 8;      ///< requests being handled per peer identity, over all its connections
  std::chrono::milliseconds handshake_timeout{5000};  ///< accept to established session
  std::chrono::milliseconds read_timeout{5000};       ///< first to last byte of one frame
  std::chrono::milliseconds idle_timeout{30000};      ///< between requests on an established connection
  std::chrono::milliseconds stop_timeout{10000};      ///< how long stop() waits for in-flight requests
  std::size_t handler_threads = 2;             ///< threads running the request handler
  /// Threads running the sockets and TLS (handshakes, record encryption); each connection stays on
  /// its own strand, so more than one spreads many connections' handshakes over cores.
  std::size_t io_threads = 1;
  /// Handshake refusals kept for refusals() (the newest; older ones are only counted), each reason
  /// cut to max_refusal_chars: a flood of refused handshakes cannot grow the server's memory.
  std::size_t max_refusals_kept = 256;
  std::size_t max_refusal_chars = 512;          ///< longest refusal reason kept (longer ones are cut)
  iot::role_set accepted_client_roles = iot::role_set::any();  ///< roles allowed to connect
  /// TLS sessions remembered (by session ID, no tickets) so that a client reconnecting with
  /// client_options::resume_sessions resumes with an abbreviated handshake (RFC 5246 section 7.3);
  /// its remembered chain is validated again, so a revoked client is refused. 0 = none: every
  /// handshake is a full one. Remembered master secrets cost forward secrecy for session_lifetime.
  std::size_t session_cache_size = 0;
  std::chrono::seconds session_lifetime{3600};  ///< a remembered session is not resumed after this
};

/// Handshakes completed by a tls_server, by kind.
struct handshake_counts {
  std::uint64_t full = 0;     ///< key exchange, signatures and the client's chain validated
  std::uint64_t resumed = 0;  ///< abbreviated: a remembered session, its chain validated again
};

/// Computes the reply to one request from a verified peer. May throw: the client then gets
/// error_code::handler_failed (the exception text is not sent).
using request_handler = std::function<frame(const peer_identity&, frame)>;

/// Completes one request of an async_request_handler with its reply (a typed error frame too). Call it
/// once, from any thread; later calls are ignored.
using reply_callback = std::function<void(frame)>;

/// Starts handling one request from a verified peer and returns without waiting for the reply, which
/// is given later through the reply_callback (e.g. once a batch the request joined is committed), so
/// no pool thread is held while the request waits. Runs on the worker pool. If it throws before
/// replying, the client gets error_code::handler_failed; a request never completed is answered by
/// nobody until stop() closes the connection after stop_timeout.
using async_request_handler = std::function<void(const peer_identity&, frame, reply_callback)>;

namespace detail {

class server_session;

struct server_state {
  server_state(tls_credentials c, request_handler h, async_request_handler a, server_limits l)
      : creds(std::move(c)), handler(std::move(h)), async_handler(std::move(a)), limits(l),
        pool(l.handler_threads == 0 ? 1 : l.handler_threads),
        tls_sessions(l.session_cache_size == 0 ? nullptr
                                           : std::make_unique<Botan::TLS::Session_Manager_In_Memory>(
                                                 Botan::system_rng(), l.session_cache_size, l.session_lifetime)) {}
  tls_credentials creds;
  request_handler handler;              ///< set for a synchronous server
  async_request_handler async_handler;  ///< set for an asynchronous server
  server_limits limits;
  asio::thread_pool pool;
  std::unique_ptr<Botan::TLS::Session_Manager> tls_sessions;  ///< null without a session cache; thread-safe
  std::mutex mutex;
  std::condition_variable cv;
  std::size_t connections = 0;
  std::size_t in_flight_total = 0;
  std::size_t replies = 0;
  std::map<std::string, std::size_t> in_flight;
  std::vector<std::weak_ptr<server_session>> sessions;
  std::deque<std::string> refusals;   ///< the newest limits.max_refusals_kept refusals
  std::uint64_t refusals_total = 0;   ///< every refusal since start
  handshake_counts handshakes;        ///< established sessions by kind
  std::atomic<bool> stopping{false};
  /// False once stop() is past draining: late asynchronous replies are dropped, never posted to the
  /// server's io_context (which the server's destructor frees). Guarded by mutex.
  bool io_open = true;

  /// Releases one in-flight request of @p peer_key whose reply went nowhere. Call with mutex held.
  void release_in_flight(const std::string& peer_key) {
    auto it = in_flight.find(peer_key);
    if (it != in_flight.end() && --it->second == 0) in_flight.erase(it);
    --in_flight_total;
  }

  /// Notes one handshake refusal. Call with mutex held.
  void note_refusal(std::string reason) {
    ++refusals_total;
    if (limits.max_refusals_kept == 0) return;
    if (reason.size() > limits.max_refusal_chars) {
      reason.resize(limits.max_refusal_chars);
      reason += "...";
    }
    if (refusals.size() >= limits.max_refusals_kept) refusals.pop_front();
    refusals.push_back(std::move(reason));
  }
};

class server_session final : public connection {
public:
  server_session(asio::ip::tcp::socket socket, std::shared_ptr<server_state> state)
      : connection(std::move(socket), state->creds, iot::cert_usage::tls_client, state->limits.accepted_client_roles,
                   {state->limits.handshake_timeout, state->limits.read_timeout, state->limits.idle_timeout},
                   state->limits.max_frame_size, state->tls_sessions.get()),
        m_state(std::move(state)) {}

  void begin() {
    asio::post(executor(), [self = std::static_pointer_cast<server_session>(shared_from_this())] {
      try {
        self->start(std::make_unique<Botan::TLS::Server>(*self, self->m_sessions, self->m_adapter, self->m_policy,
                                                          self->m_rng));
      } catch (const std::exception& e) {
        self->abort(std::string("TLS setup failed: ") + e.what());
      }
    });
  }

  /// Stop accepting requests; close once the running ones are answered. On the strand.
  void begin_drain() {
    m_draining = true;
    if (m_in_flight == 0) close_gracefully();
  }

private:
  bool busy() const override { return m_in_flight > 0; }

  void on_established() override {
    std::lock_guard lock(m_state->mutex);
    ++(resumed() ? m_state->handshakes.resumed : m_state->handshakes.full);
  }

  void on_frame(std::uint32_t id, frame f) override {
    if (m_draining || m_state->stopping) {
      send_frame(id, make_error_frame(error_code::shutting_down, "the server is stopping"));
      return;
    }
    if (f.type == error_frame_type) {
      send_frame(id, make_error_frame(error_code::malformed, "type 0xFF is reserved for error replies"));
      return;
    }
    const std::string key = m_peer->device_id();
    {
      std::lock_guard lock(m_state->mutex);
      auto& n = m_state->in_flight[key];
      if (n >= m_state->limits.max_in_flight_per_peer) {
        send_frame(id, make_error_frame(error_code::busy, std::to_string(n) + " requests of this peer in flight, at most " +
                                                              std::to_string(m_state->limits.max_in_flight_per_peer)));
        return;
      }
      ++n;
      ++m_state->in_flight_total;
    }
    ++m_in_flight;
    auto self = std::static_pointer_cast<server_session>(shared_from_this());
    if (m_state->async_handler) {
      asio::post(m_state->pool, [self, peer = *m_peer, id, f = std::move(f)]() mutable {
        auto done = std::make_shared<std::atomic<bool>>(false);
        // The callback may outlive the connection and the server (a handler may keep it): it holds the
        // session weakly and the shared state strongly, and delivers only while the io_context runs.
        reply_callback reply = [weak = std::weak_ptr<server_session>(self), state = self->m_state,
                                key = peer.device_id(), id, done](frame r) {
          if (done->exchange(true)) return;
          {
            std::lock_guard lock(state->mutex);
            std::shared_ptr<server_session> s = state->io_open ? weak.lock() : nullptr;
            if (s) {
              // The posted handler keeps the session alive until it runs (or the io_context drops it).
              asio::post(s->executor(), [s, id, r = std::move(r)] { s->reply_ready(id, r); });
              return;
            }
            state->release_in_flight(key);  // the connection or the server is gone: nobody to answer
          }
          state->cv.notify_all();
        };
        try {
          self->m_state->async_handler(peer, std::move(f), reply);
        } catch (...) {
          reply(make_error_frame(error_code::handler_failed, "the request handler failed"));
        }
      });
      return;
    }
    asio::post(m_state->pool, [self, peer = *m_peer, id, f = std::move(f)]() mutable {
      frame reply;
      try {
        reply = self->m_state->handler(peer, std::move(f));
      } catch (...) {
        reply = make_error_frame(error_code::handler_failed, "the request handler failed");
      }
      asio::post(self->executor(), [self, id, reply = std::move(reply)] { self->reply_ready(id, reply); });
    });
  }

  void reply_ready(std::uint32_t id, const frame& reply) {
    --m_in_flight;
    send_frame(id, reply);
    {
      std::lock_guard lock(m_state->mutex);
      m_state->release_in_flight(m_peer->device_id());
      ++m_state->replies;
    }
    m_state->cv.notify_all();
    if (m_draining && m_in_flight == 0) close_gracefully();
    else arm_timer();
  }

  void on_closed(const std::string& reason, bool was_established) override {
    {
      std::lock_guard lock(m_state->mutex);
      --m_state->connections;
      if (!was_established) m_state->note_refusal(m_refusal.empty() ? reason : m_refusal);
    }
    m_state->cv.notify_all();
  }

  std::shared_ptr<server_state> m_state;
  std::size_t m_in_flight = 0;
  bool m_draining = false;
};

} // namespace detail

/// Mutual-TLS server on 127.0.0.1 (or another local address). Each request frame is handed, with
/// the peer identity from the verified client certificate, to the handler on a worker pool; the
/// reply goes back with the request's id. Thread-safe; stop() is idempotent and run by the destructor.
class tls_server {
public:
  /// Binds, listens and starts serving.
  /// @param port 0 picks an ephemeral port (see port())
  /// @throws hefl::invalid_argument for a null handler, zero limits or a bad address
  /// @throws hefl::io_error if binding fails
  tls_server(tls_credentials creds, request_handler handler, server_limits limits = {}, std::uint16_t port = 0,
             const std::string& address = "127.0.0.1")
      : m_acceptor(asio::make_strand(m_io)) {
    if (!handler) throw invalid_argument("tls_server: expected a request handler, got none");
    start(std::make_shared<detail::server_state>(std::move(creds), std::move(handler), nullptr, limits), port,
          address);
  }

  /// As above with an asynchronous handler: the reply is given later through its reply_callback.
  /// @throws as above
  tls_server(tls_credentials creds, async_request_handler handler, server_limits limits = {}, std::uint16_t port = 0,
             const std::string& address = "127.0.0.1")
      : m_acceptor(asio::make_strand(m_io)) {
    if (!handler) throw invalid_argument("tls_server: expected a request handler, got none");
    start(std::make_shared<detail::server_state>(std::move(creds), nullptr, std::move(handler), limits), port,
          address);
  }

private:
  void start(std::shared_ptr<detail::server_state> state, std::uint16_t port, const std::string& address) {
    const auto& limits = state->limits;
    if (limits.max_connections == 0 || limits.max_in_flight_per_peer == 0 || limits.max_frame_size == 0)
      throw invalid_argument("tls_server: max_connections, max_in_flight_per_peer and max_frame_size must be positive");
    if (limits.session_cache_size > 0 && limits.session_lifetime.count() <= 0)
      throw invalid_argument("tls_server: session_lifetime must be positive when session_cache_size is set");
    m_state = std::move(state);
    asio::error_code ec;
    const auto addr = asio::ip::make_address(address, ec);
    if (ec) throw invalid_argument("tls_server: bad address \"" + address + "\": " + ec.message());
    const asio::ip::tcp::endpoint ep(addr, port);
    m_acceptor.open(ep.protocol(), ec);
    if (!ec) m_acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) m_acceptor.bind(ep, ec);
    if (!ec) m_acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw io_error("tls_server: cannot listen on " + address + ":" + std::to_string(port) + ": " + ec.message());
    m_port = m_acceptor.local_endpoint().port();
    do_accept();
    const std::size_t threads = m_state->limits.io_threads == 0 ? 1 : m_state->limits.io_threads;
    for (std::size_t i = 0; i < threads; ++i)
      m_threads.emplace_back([this] { m_io.run(); });  // m_work keeps run() alive until stop()
  }

public:
  tls_server(const tls_server&) = delete;
  tls_server& operator=(const tls_server&) = delete;
  ~tls_server() { stop(); }

  /// The port actually bound.
  [[nodiscard]] std::uint16_t port() const noexcept { return m_port; }

  /// Connections open now (handshaking or established).
  [[nodiscard]] std::size_t connections() const {
    std::lock_guard lock(m_state->mutex);
    return m_state->connections;
  }
  /// Requests being handled now, over all peers.
  [[nodiscard]] std::size_t in_flight() const {
    std::lock_guard lock(m_state->mutex);
    return m_state->in_flight_total;
  }
  /// Replies handed back to connections so far.
  [[nodiscard]] std::size_t replies() const {
    std::lock_guard lock(m_state->mutex);
    return m_state->replies;
  }
  /// One reason per connection that closed before its TLS session was established (refused
  /// certificate with validate_chain's reason, missing client certificate, handshake deadline,
  /// connection limit): the newest server_limits::max_refusals_kept of them, oldest first.
  [[nodiscard]] std::vector<std::string> refusals() const {
    std::lock_guard lock(m_state->mutex);
    return {m_state->refusals.begin(), m_state->refusals.end()};
  }
  /// Every handshake refusal since start, also those no longer kept by refusals().
  [[nodiscard]] std::uint64_t refusals_total() const {
    std::lock_guard lock(m_state->mutex);
    return m_state->refusals_total;
  }
  /// Sessions established so far, full and resumed (server_limits::session_cache_size).
  [[nodiscard]] handshake_counts handshakes() const {
    std::lock_guard lock(m_state->mutex);
    return m_state->handshakes;
  }
  /// refusals_total() and refusals() read together (one lock), for a log that shows each refusal once.
  struct refusal_snapshot {
    std::uint64_t total = 0;            ///< as refusals_total()
    std::vector<std::string> newest;    ///< as refusals(): the last newest.size() of the total
  };
  /// Both at once.
  [[nodiscard]] refusal_snapshot refusals_snapshot() const {
    std::lock_guard lock(m_state->mutex);
    return {m_state->refusals_total, {m_state->refusals.begin(), m_state->refusals.end()}};
  }

  /// Stops accepting, refuses new requests with error_code::shutting_down, waits up to
  /// stop_timeout for the requests already received to be answered, closes every connection with
  /// close_notify and joins the threads. Idempotent.
  void stop() {
    if (m_stopped.exchange(true)) return;
    m_state->stopping = true;
    {
      std::promise<void> closed;
      asio::post(m_acceptor.get_executor(), [&] {
        asio::error_code ignored;
        m_acceptor.close(ignored);
        closed.set_value();
      });
      closed.get_future().wait();
    }
    std::vector<std::shared_ptr<detail::server_session>> live;
    {
      std::lock_guard lock(m_state->mutex);
      for (const auto& w : m_state->sessions) {
        if (auto s = w.lock()) live.push_back(std::move(s));
      }
    }
    for (const auto& s : live) asio::post(s->executor(), [s] { s->begin_drain(); });
    const auto all_closed = [&] { return m_state->connections == 0; };
    {
      std::unique_lock lock(m_state->mutex);
      if (!m_state->cv.wait_for(lock, m_state->limits.stop_timeout, all_closed)) {
        lock.unlock();
        for (const auto& s : live) asio::post(s->executor(), [s] { s->abort("stop deadline passed"); });
        lock.lock();
        m_state->cv.wait_for(lock, std::chrono::seconds(2), all_closed);
      }
    }
    {
      std::lock_guard lock(m_state->mutex);
      m_state->io_open = false;  // asynchronous replies from now on are dropped (see server_state)
    }
    m_state->pool.join();
    m_work.reset();
    m_io.stop();
    for (auto& t : m_threads)
      if (t.joinable()) t.join();
  }

private:
  void do_accept() {
    m_acceptor.async_accept(asio::make_strand(m_io), [this](const asio::error_code& ec, asio::ip::tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !m_acceptor.is_open()) return;
      if (!ec && !m_state->stopping) {
        bool admitted = false;
        {
          std::lock_guard lock(m_state->mutex);
          if (m_state->connections < m_state->limits.max_connections) {
            ++m_state->connections;
            admitted = true;
          } else {
            m_state->note_refusal("connection limit of " + std::to_string(m_state->limits.max_connections) +
                                  " reached");
          }
        }
        if (admitted) {
          auto s = std::make_shared<detail::server_session>(asio::ip::tcp::socket(std::move(socket)), m_state);
          {
            std::lock_guard lock(m_state->mutex);
            std::erase_if(m_state->sessions, [](const auto& w) { return w.expired(); });
            m_state->sessions.push_back(s);
          }
          s->begin();
        } else {
          asio::error_code ignored;
          socket.close(ignored);
        }
      }
      do_accept();
    });
  }

  asio::io_context m_io;  // default concurrency hint: may run on several threads (io_threads)
  asio::executor_work_guard<asio::io_context::executor_type> m_work{m_io.get_executor()};
  asio::basic_socket_acceptor<asio::ip::tcp, asio::strand<asio::io_context::executor_type>> m_acceptor;
  std::shared_ptr<detail::server_state> m_state;
  std::uint16_t m_port = 0;
  std::vector<std::thread> m_threads;
  std::atomic<bool> m_stopped{false};
};

} // namespace hefl::net
