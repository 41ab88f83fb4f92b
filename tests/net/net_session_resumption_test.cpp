// TLS session resumption (server_limits::session_cache_size, client_options::resume_sessions): an
// abbreviated handshake (RFC 5246 section 7.3) over real mutual TLS on 127.0.0.1, bound to the chain the
// session was first established with, which both ends validate again (a revoked peer cannot resume).
#include <hefl/net.hpp>

#include "net_support.hpp"

#include <botan/auto_rng.h>
#include <botan/ecdsa.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

using namespace hefl;
using namespace hefl::net;
using namespace hefl::net::test;
using namespace std::chrono_literals;

namespace {

struct resumption_fixture {
  Botan::AutoSeeded_RNG rng;
  const iot::clock_time t0 = std::chrono::system_clock::now() - 1min;
  iot::certificate_authority ca{"St Jude Hospital", t0};
  std::shared_ptr<iot::trust_store> trust = [&] {
    auto s = std::make_shared<iot::trust_store>(iot::trust_store::in_memory());
    s->add_root(ca.root());
    s->add_crl(ca.crl());
    return s;
  }();

  tls_credentials issue(iot::role r, const std::string& subject, std::uint64_t serial) {
    auto key = std::make_shared<Botan::ECDSA_PrivateKey>(rng, Botan::EC_Group("secp256r1"));
    return tls_credentials({ca.issue(*key, make_identity(r, subject, serial, 7), t0, 24h)}, key, trust);
  }
  void revoke(const tls_credentials& c) {
    REQUIRE(ca.revoke(c.chain().front()));
    trust->add_crl(ca.crl());
  }
};

frame text_frame(const std::string& s) { return {1, std::vector<std::uint8_t>(s.begin(), s.end())}; }

/// Echoes "<peer id>/<payload>": the identity the server bound to the connection.
frame identity_echo(const peer_identity& peer, frame f) { return text_frame(peer.device_id() + "/" + text_of(f)); }

server_limits limits(std::size_t cache) {
  server_limits l;
  l.handshake_timeout = 2s;
  l.read_timeout = 2s;
  l.idle_timeout = 5s;
  l.stop_timeout = 5s;
  l.session_cache_size = cache;
  return l;
}

client_options resuming() {
  client_options o;
  o.connect_timeout = 3s;
  o.resume_sessions = true;
  return o;
}


} // namespace

TEST_CASE("net: a reconnecting client resumes its TLS session and keeps its verified identity", "[net][resumption]") {
  resumption_fixture f;
  tls_server server(f.issue(iot::role::collector, "collector-1", 0), identity_echo, limits(16));
  tls_client pump(f.issue(iot::role::device, "pump-1", 1), resuming());
  tls_client monitor(f.issue(iot::role::device, "monitor-2", 2), resuming());

  pump.connect("127.0.0.1", server.port());
  CHECK_FALSE(pump.resumed());
  CHECK(text_of(pump.request(text_frame("a"))) == "pump-1/a");
  pump.close();
  monitor.connect("127.0.0.1", server.port());
  CHECK_FALSE(monitor.resumed());
  monitor.close();

  for (int round = 0; round < 3; ++round) {
    pump.connect("127.0.0.1", server.port());
    CHECK(pump.resumed());
    CHECK(pump.negotiated().first == "TLS v1.2");
    CHECK(pump.server_identity().device_id() == "collector-1");  // the server's remembered chain, validated again
    CHECK(text_of(pump.request(text_frame("b"))) == "pump-1/b");   // bound to the pump's chain, not another's
    pump.close();
  }
  monitor.connect("127.0.0.1", server.port());
  CHECK(monitor.resumed());
  CHECK(text_of(monitor.request(text_frame("c"))) == "monitor-2/c");
  monitor.close();

  const auto h = server.handshakes();
  CHECK(h.full == 2);
  CHECK(h.resumed == 4);
}

TEST_CASE("net: without a session cache on either end, every handshake is a full one", "[net][resumption]") {
  resumption_fixture f;
  SECTION("the server remembers no session") {
    tls_server server(f.issue(iot::role::collector, "collector-1", 0), identity_echo, limits(0));
    tls_client pump(f.issue(iot::role::device, "pump-1", 1), resuming());
    for (int i = 0; i < 2; ++i) {
      pump.connect("127.0.0.1", server.port());
      CHECK_FALSE(pump.resumed());
      CHECK(text_of(pump.request(text_frame("x"))) == "pump-1/x");
      pump.close();
    }
    CHECK(server.handshakes().full == 2);
    CHECK(server.handshakes().resumed == 0);
  }
  SECTION("the client offers no session") {
    tls_server server(f.issue(iot::role::collector, "collector-1", 0), identity_echo, limits(16));
    client_options o;
    o.resume_sessions = false;
    tls_client pump(f.issue(iot::role::device, "pump-1", 1), o);
    for (int i = 0; i < 2; ++i) {
      pump.connect("127.0.0.1", server.port());
      CHECK_FALSE(pump.resumed());
      pump.close();
    }
    CHECK(server.handshakes().full == 2);
    CHECK(server.handshakes().resumed == 0);
  }
}

TEST_CASE("net: a revoked device cannot resume its TLS session", "[net][resumption]") {
  resumption_fixture f;
  tls_server server(f.issue(iot::role::collector, "collector-1", 0), identity_echo, limits(16));
  const auto captured = f.issue(iot::role::device, "pump-3", 3);
  tls_client pump(captured, resuming());
  pump.connect("127.0.0.1", server.port());
  CHECK(text_of(pump.request(text_frame("before"))) == "pump-3/before");
  pump.close();

  f.revoke(captured);
  // The device offers its remembered session; the server validates the session's chain again and
  // refuses it with a fatal certificate_revoked alert before its own Finished, so connect() fails.
  try {
    pump.connect("127.0.0.1", server.port());
    FAIL("a revoked device resumed its session");
  } catch (const security_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("certificate_revoked"));
  }
  REQUIRE(eventually([&] { return any_contains(server.refusals(), "revoked"); }));
  CHECK(server.handshakes().resumed == 0);
  CHECK(server.replies() == 1);

  // The refused session was dropped from the server's cache: the next attempt is a full handshake,
  // refused in tls_verify_cert_chain as before resumption existed.
  try {
    pump.connect("127.0.0.1", server.port());
    FAIL("a revoked device completed a handshake");
  } catch (const security_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("bad_certificate"));
  }
  CHECK(server.handshakes().full == 1);
  CHECK(server.replies() == 1);
}

TEST_CASE("net: a client does not resume a session with a server whose certificate was revoked", "[net][resumption]") {
  resumption_fixture f;
  const auto collector = f.issue(iot::role::collector, "collector-1", 0);
  tls_server server(collector, identity_echo, limits(16));
  tls_client pump(f.issue(iot::role::device, "pump-4", 4), resuming());
  pump.connect("127.0.0.1", server.port());
  pump.close();

  f.revoke(collector);
  // The client validates the server's remembered chain when the server's Finished arrives, refuses it
  // and sends no request (the server may already count the session as resumed: the client's Finished
  // can precede its refusal, which then closes the connection with a fatal alert).
  for (int attempt = 0; attempt < 2; ++attempt) {  // the second offers no session: a full handshake, refused too
    try {
      pump.connect("127.0.0.1", server.port());
      FAIL("the client completed a handshake with a revoked server");
    } catch (const security_error& e) {
      CHECK_THAT(e.what(), Catch::Contains("server certificate refused: revoked"));
    }
  }
  CHECK(server.handshakes().full == 1);
  CHECK(server.replies() == 0);
}

TEST_CASE("net: session cache settings are checked", "[net][resumption]") {
  resumption_fixture f;
  auto l = limits(16);
  l.session_lifetime = 0s;
  CHECK_THROWS_AS(tls_server(f.issue(iot::role::collector, "collector-1", 0), identity_echo, l), invalid_argument);
  auto o = resuming();
  o.session_lifetime = -1s;
  CHECK_THROWS_AS(tls_client(f.issue(iot::role::device, "pump-5", 5), o), invalid_argument);
}
