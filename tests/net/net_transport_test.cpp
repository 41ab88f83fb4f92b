#include <hefl/net.hpp>

#include "net_support.hpp"

#include <botan/auto_rng.h>
#include <botan/ecdsa.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

using namespace hefl;
using namespace hefl::net;
using namespace hefl::net::test;
using namespace std::chrono_literals;

namespace {

/// A hospital CA, a rogue CA with the same name, and a trust store holding the hospital root and CRL.
struct net_fixture {
  Botan::AutoSeeded_RNG rng;
  const iot::clock_time t0 = std::chrono::system_clock::now() - 1min;
  iot::certificate_authority ca{"St Mary Hospital", t0};
  iot::certificate_authority rogue{"St Mary Hospital", t0};
  std::shared_ptr<iot::trust_store> trust = [&] {
    auto s = std::make_shared<iot::trust_store>(iot::trust_store::in_memory());
    s->add_root(ca.root());
    s->add_crl(ca.crl());
    return s;
  }();

  std::shared_ptr<Botan::ECDSA_PrivateKey> new_key() {
    return std::make_shared<Botan::ECDSA_PrivateKey>(rng, Botan::EC_Group("secp256r1"));
  }
  tls_credentials issue(iot::certificate_authority& by, iot::role r, const std::string& subject, std::uint64_t serial,
                        std::uint32_t group = 7) {
    auto key = new_key();
    auto cert = by.issue(*key, make_identity(r, subject, serial, group), t0, 24h);
    return tls_credentials({cert}, key, trust);
  }
  tls_credentials collector() { return issue(ca, iot::role::collector, "collector-icu", 0); }
};

net_fixture& fx() {
  static net_fixture f;
  return f;
}

frame text_frame(std::uint8_t type, const std::string& s) { return {type, std::vector<std::uint8_t>(s.begin(), s.end())}; }

/// Echoes "<device id>/<group id>/<payload>", so a test sees the identity the server used.
frame identity_echo(const peer_identity& peer, frame f) {
  return text_frame(1, peer.device_id() + "/" + std::to_string(peer.group_id()) + "/" + text_of(f));
}

server_limits fast_limits() {
  server_limits l;
  l.handshake_timeout = 2s;
  l.read_timeout = 2s;
  l.idle_timeout = 5s;
  l.stop_timeout = 5s;
  return l;
}

/// A TLS client that presents no certificate at all (Botan's empty Credentials_Manager), driven by
/// the same Asio connection code; reports "established" or why the connection ended.
class anonymous_client final : public detail::connection {
public:
  /// @param present_certificate false: send no certificate; true: present @p creds' certificate and,
  ///        once established, send only the first 19 bytes of a 109-byte frame (a slow peer)
  anonymous_client(asio::io_context& io, const tls_credentials& creds, bool present_certificate = false)
      : connection(asio::ip::tcp::socket(asio::make_strand(io)), creds, iot::cert_usage::tls_server,
                   iot::role_set::any(), {2000ms, 5000ms, 5000ms}, 1024),
        m_present(present_certificate) {}
  std::future<std::string> outcome() { return m_outcome.get_future(); }
  void go(std::uint16_t port) {
    auto self = std::static_pointer_cast<anonymous_client>(shared_from_this());
    asio::post(executor(), [self, port] {
      self->m_socket.async_connect({asio::ip::make_address("127.0.0.1"), port}, [self](const asio::error_code& ec) {
        if (ec) return self->abort("connect failed");
        Botan::Credentials_Manager& creds = self->m_present ? static_cast<Botan::Credentials_Manager&>(self->m_adapter)
                                                            : self->m_none;
        self->start(std::make_unique<Botan::TLS::Client>(*self, self->m_sessions, creds, self->m_policy, self->m_rng));
      });
    });
  }

private:
  void on_frame(std::uint32_t id, frame f) override {
    if (id == 0 && f.type == error_frame_type) m_server_error = read_error_frame(f).what();
  }
  void on_established() override {
    if (!m_present) return report("established");
    auto bytes = encode_frame(text_frame(1, std::string(100, 'p')), 1);
    m_channel->send(bytes.data(), 19);  // header + 10 of 100 payload bytes, then silence
  }
  void on_closed(const std::string& reason, bool) override {
    if (!m_server_error.empty()) return report(m_server_error);
    report(m_fatal_alert.empty() ? reason : "alert " + m_fatal_alert);
  }
  bool m_present;
  std::string m_server_error;
  void report(const std::string& s) {
    if (!m_reported) m_outcome.set_value(s);
    m_reported = true;
  }
  Botan::Credentials_Manager m_none;
  std::promise<std::string> m_outcome;
  bool m_reported = false;
};

} // namespace

TEST_CASE("mutual TLS handshake and requests carry the identity from the client certificate", "[net]") {
  auto& f = fx();
  tls_server server(f.collector(), identity_echo, fast_limits());
  REQUIRE(server.port() != 0);

  tls_client client(f.issue(f.ca, iot::role::device, "icu-monitor-1", 1, 42));
  client.connect("127.0.0.1", server.port());
  CHECK(client.server_identity().role() == iot::role::collector);
  CHECK(client.server_identity().device_id() == "collector-icu");
  const auto [version, suite] = client.negotiated();
  CHECK(version == "TLS v1.2");
  CHECK_THAT(suite, Catch::StartsWith("ECDHE_ECDSA_WITH_"));
  CHECK_THAT(suite, Catch::Contains("_GCM_") || Catch::Contains("CHACHA20_POLY1305"));

  // The payload claims another device; the server still sees the certificate's identity.
  CHECK(text_of(client.request(text_frame(1, "device=evil-pump;group=1"))) == "icu-monitor-1/42/device=evil-pump;group=1");
  // Keep-alive: several requests over the same connection.
  for (int i = 0; i < 5; ++i) CHECK(text_of(client.request(text_frame(1, std::to_string(i)))) == "icu-monitor-1/42/" + std::to_string(i));
  CHECK(server.connections() == 1);
  // The reserved error type is refused with a typed error, and the connection stays usable.
  try {
    (void)client.request(frame{error_frame_type, {1}});
    FAIL("a frame of the reserved type was accepted");
  } catch (const remote_error& e) {
    CHECK(e.code() == error_code::malformed);
  }
  CHECK(text_of(client.request(text_frame(1, "again"))) == "icu-monitor-1/42/again");
  CHECK(server.refusals().empty());
}

TEST_CASE("a client certificate from a foreign CA is refused during the handshake", "[net]") {
  auto& f = fx();
  tls_server server(f.collector(), identity_echo, fast_limits());
  tls_client client(f.issue(f.rogue, iot::role::device, "icu-monitor-1", 2));
  CHECK_THROWS_AS(client.connect("127.0.0.1", server.port()), security_error);
  CHECK_FALSE(client.connected());
  REQUIRE(eventually([&] { return !server.refusals().empty(); }));
  CHECK(any_contains(server.refusals(), "untrusted"));
  CHECK(server.replies() == 0);
}

TEST_CASE("a revoked client certificate is refused during the handshake through the trust store's CRL", "[net]") {
  auto& f = fx();
  tls_server server(f.collector(), identity_echo, fast_limits());
  auto captured = f.issue(f.ca, iot::role::device, "ward-3-pump", 3);
  {
    tls_client before(captured);
    before.connect("127.0.0.1", server.port());  // valid until revoked
    CHECK(text_of(before.request(text_frame(1, "x"))) == "ward-3-pump/7/x");
  }
  f.ca.revoke(captured.chain().front());
  f.trust->add_crl(f.ca.crl());
  tls_client after(captured);
  try {
    after.connect("127.0.0.1", server.port());
    FAIL("a revoked certificate completed the handshake");
  } catch (const security_error& e) {
    // Botan 2.19 turns any exception from tls_verify_cert_chain into a bad_certificate alert.
    CHECK_THAT(e.what(), Catch::Contains("bad_certificate"));
  }
  REQUIRE(eventually([&] { return !server.refusals().empty(); }));
  CHECK(any_contains(server.refusals(), "revoked"));
}

TEST_CASE("a client without a certificate is refused", "[net]") {
  auto& f = fx();
  tls_server server(f.collector(), identity_echo, fast_limits());
  const auto trust_only = f.issue(f.ca, iot::role::device, "trust-only", 4);
  asio::io_context io;
  auto client = std::make_shared<anonymous_client>(io, trust_only);
  auto outcome = client->outcome();
  client->go(server.port());
  std::thread runner([&] { io.run_for(5s); });
  const bool ready = outcome.wait_for(5s) == std::future_status::ready;
  const std::string result = ready ? outcome.get() : "no outcome";
  io.stop();
  runner.join();
  CHECK(ready);
  INFO("outcome: " << result);
  CHECK(result != "established");
  CHECK_THAT(result, Catch::Contains("handshake_failure"));
  REQUIRE(eventually([&] { return !server.refusals().empty(); }));
  CHECK(server.replies() == 0);
}

TEST_CASE("an oversized frame is refused with frame_too_large and the connection closed", "[net]") {
  auto& f = fx();
  auto limits = fast_limits();
  limits.max_frame_size = 1024;
  tls_server server(f.collector(), identity_echo, limits);
  client_options opts;
  opts.max_frame_size = 1u << 20;
  tls_client client(f.issue(f.ca, iot::role::device, "big-sender", 5), opts);
  client.connect("127.0.0.1", server.port());
  CHECK(text_of(client.request(text_frame(1, std::string(1000, 'a')))).size() == std::string("big-sender/7/").size() + 1000);
  try {
    (void)client.request(text_frame(1, std::string(1025, 'b')));
    FAIL("an oversized frame was accepted");
  } catch (const remote_error& e) {
    CHECK(e.code() == error_code::frame_too_large);
    CHECK_THAT(e.what(), Catch::Contains("1025") && Catch::Contains("1024"));
  }
  CHECK(eventually([&] { return !client.connected() && server.connections() == 0; }));
  CHECK_THROWS_AS(client.request(text_frame(1, "after")), io_error);
}

TEST_CASE("an idle peer and a peer that never handshakes are timed out", "[net]") {
  auto& f = fx();
  auto limits = fast_limits();
  limits.idle_timeout = 300ms;
  limits.handshake_timeout = 300ms;
  tls_server server(f.collector(), identity_echo, limits);

  tls_client client(f.issue(f.ca, iot::role::device, "sleepy", 6));
  client.connect("127.0.0.1", server.port());
  CHECK(text_of(client.request(text_frame(1, "hi"))) == "sleepy/7/hi");
  REQUIRE(eventually([&] { return !client.connected(); }, 3000ms));
  CHECK_THROWS_WITH(client.request(text_frame(1, "late")), Catch::Contains("idle_timeout"));

  // A bare TCP connection that never sends a ClientHello is closed at the handshake deadline.
  asio::io_context io;
  asio::ip::tcp::socket raw(io);
  raw.connect({asio::ip::make_address("127.0.0.1"), server.port()});
  REQUIRE(eventually([&] { return any_contains(server.refusals(), "handshake deadline"); }, 3000ms));
  CHECK(eventually([&] { return server.connections() == 0; }));
}

TEST_CASE("a peer that starts a frame and stalls is closed at the read deadline", "[net]") {
  auto& f = fx();
  auto limits = fast_limits();
  limits.read_timeout = 300ms;
  limits.idle_timeout = 10s;  // longer than the test: only the read deadline can close it
  tls_server server(f.collector(), identity_echo, limits);
  const auto creds = f.issue(f.ca, iot::role::device, "slow-loris", 14);
  asio::io_context io;
  auto client = std::make_shared<anonymous_client>(io, creds, true);
  auto outcome = client->outcome();
  const auto started = std::chrono::steady_clock::now();
  client->go(server.port());
  std::thread runner([&] { io.run_for(5s); });
  const bool ready = outcome.wait_for(5s) == std::future_status::ready;
  const auto elapsed = std::chrono::steady_clock::now() - started;
  const std::string result = ready ? outcome.get() : "no outcome";
  io.stop();
  runner.join();
  REQUIRE(ready);
  CHECK_THAT(result, Catch::Contains("idle_timeout") && Catch::Contains("read deadline"));
  CHECK(elapsed >= 300ms);
  CHECK(elapsed < 5s);
  CHECK(server.replies() == 0);
}

TEST_CASE("the connection limit is enforced and frees up when a peer leaves", "[net]") {
  auto& f = fx();
  auto limits = fast_limits();
  limits.max_connections = 2;
  tls_server server(f.collector(), identity_echo, limits);
  auto a = std::make_unique<tls_client>(f.issue(f.ca, iot::role::device, "dev-a", 7));
  tls_client b(f.issue(f.ca, iot::role::device, "dev-b", 8));
  tls_client c(f.issue(f.ca, iot::role::device, "dev-c", 9));
  a->connect("127.0.0.1", server.port());
  b.connect("127.0.0.1", server.port());
  CHECK(server.connections() == 2);
  CHECK_THROWS_AS(c.connect("127.0.0.1", server.port()), io_error);
  CHECK(any_contains(server.refusals(), "connection limit of 2"));
  a.reset();
  REQUIRE(eventually([&] { return server.connections() == 1; }));
  c.connect("127.0.0.1", server.port());
  CHECK(text_of(c.request(text_frame(1, "in"))) == "dev-c/7/in");
}

TEST_CASE("handshake refusals are kept in a bounded ring and counted in full", "[net]") {
  auto& f = fx();
  auto limits = fast_limits();
  limits.max_connections = 1;
  limits.max_refusals_kept = 3;
  limits.max_refusal_chars = 10;
  tls_server server(f.collector(), identity_echo, limits);
  tls_client a(f.issue(f.ca, iot::role::device, "dev-a", 7));
  a.connect("127.0.0.1", server.port());
  // Each further connection is refused at accept ("connection limit of 1 reached", cut to 10 chars).
  constexpr int attempts = 12;
  for (int i = 0; i < attempts; ++i) {
    tls_client c(f.issue(f.ca, iot::role::device, "dev-c", 9));
    CHECK_THROWS_AS(c.connect("127.0.0.1", server.port()), io_error);
  }
  REQUIRE(eventually([&] { return server.refusals_total() == attempts; }));
  const auto kept = server.refusals();
  CHECK(kept.size() == 3);
  for (const auto& r : kept) {
    CHECK(r.size() <= 13);
    CHECK(r.rfind("connection", 0) == 0);
  }
  const auto snap = server.refusals_snapshot();
  CHECK(snap.total == attempts);
  CHECK(snap.newest == kept);
}

TEST_CASE("in-flight requests per peer are bounded with a typed busy reply", "[net]") {
  auto& f = fx();
  auto limits = fast_limits();
  limits.max_in_flight_per_peer = 1;
  tls_server server(f.collector(), [](const peer_identity& p, frame fr) {
    std::this_thread::sleep_for(300ms);
    return identity_echo(p, std::move(fr));
  }, limits);
  tls_client client(f.issue(f.ca, iot::role::device, "eager", 10));
  client.connect("127.0.0.1", server.port());
  auto first = client.request_async(text_frame(1, "1"));
  REQUIRE(eventually([&] { return server.in_flight() == 1; }));
  auto second = client.request_async(text_frame(1, "2"));
  REQUIRE(second.wait_for(3s) == std::future_status::ready);
  try {
    (void)second.get();
    FAIL("a second concurrent request was accepted");
  } catch (const remote_error& e) {
    CHECK(e.code() == error_code::busy);
  }
  REQUIRE(first.wait_for(3s) == std::future_status::ready);
  CHECK(text_of(first.get()) == "eager/7/1");
}

TEST_CASE("graceful stop answers the request in flight, then closes", "[net]") {
  auto& f = fx();
  std::promise<void> entered;
  auto entered_future = entered.get_future();
  tls_server server(f.collector(), [&](const peer_identity& p, frame fr) {
    entered.set_value();
    std::this_thread::sleep_for(400ms);
    return identity_echo(p, std::move(fr));
  }, fast_limits());
  tls_client client(f.issue(f.ca, iot::role::device, "slow-job", 11));
  client.connect("127.0.0.1", server.port());
  auto reply = client.request_async(text_frame(1, "acknowledged work"));
  REQUIRE(entered_future.wait_for(3s) == std::future_status::ready);
  auto stopped = std::async(std::launch::async, [&] { server.stop(); });
  REQUIRE(reply.wait_for(5s) == std::future_status::ready);
  CHECK(text_of(reply.get()) == "slow-job/7/acknowledged work");
  REQUIRE(stopped.wait_for(6s) == std::future_status::ready);
  CHECK(server.connections() == 0);
  CHECK(server.replies() == 1);
  CHECK(eventually([&] { return !client.connected(); }));
  tls_client late(f.issue(f.ca, iot::role::device, "late", 12));
  CHECK_THROWS_AS(late.connect("127.0.0.1", server.port()), io_error);
}

TEST_CASE("credentials refuse keys TLS cannot use and mismatched keys", "[net]") {
  auto& f = fx();
  auto key = f.new_key();
  auto other = f.new_key();
  const auto cert = f.ca.issue(*key, make_identity(iot::role::device, "k", 13, 7), f.t0, 24h);
  CHECK_THROWS_AS(tls_credentials({cert}, other, f.trust), invalid_argument);
  CHECK_THROWS_AS(tls_credentials({}, key, f.trust), invalid_argument);
  CHECK_THROWS_AS(tls_credentials({cert}, key, nullptr), invalid_argument);
  auto p384 = std::make_shared<Botan::ECDSA_PrivateKey>(f.rng, Botan::EC_Group("secp384r1"));
  CHECK_THROWS_WITH(tls_credentials({cert}, p384, f.trust), Catch::Contains("P-256"));
}
