// The asynchronous request handler of tls_server: replies given later, from another thread, without
// holding a pool thread while a request waits.
#include <hefl/net.hpp>

#include <botan/auto_rng.h>
#include <botan/ecdsa.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

using namespace hefl;
using namespace hefl::net;
using namespace std::chrono_literals;

namespace {

struct async_fixture {
  Botan::AutoSeeded_RNG rng;
  const iot::clock_time t0 = std::chrono::system_clock::now() - 1min;
  iot::certificate_authority ca{"St Mary Hospital", t0};
  std::shared_ptr<iot::trust_store> trust = [&] {
    auto s = std::make_shared<iot::trust_store>(iot::trust_store::in_memory());
    s->add_root(ca.root());
    s->add_crl(ca.crl());
    return s;
  }();
  tls_credentials issue(iot::role r, const std::string& subject) {
    auto key = std::make_shared<Botan::ECDSA_PrivateKey>(rng, Botan::EC_Group("secp256r1"));
    iot::identity id;
    id.role = r;
    id.subject_id = subject;
    return tls_credentials({ca.issue(*key, id, t0, 24h)}, key, trust);
  }
};

frame text(const std::string& s) { return {1, std::vector<std::uint8_t>(s.begin(), s.end())}; }
std::string text_of(const frame& f) { return std::string(f.payload.begin(), f.payload.end()); }

} // namespace

TEST_CASE("tls_server with an async handler answers requests completed later from another thread",
          "[net][async]") {
  async_fixture f;
  // One pool thread. The handler parks each request and returns; a second thread answers all four
  // once all four arrived. A synchronous handler on one thread could never see the second request
  // while it waited for the fourth.
  std::mutex m;
  std::vector<std::pair<frame, reply_callback>> parked;
  std::promise<void> all_parked;
  server_limits l;
  l.handler_threads = 1;
  tls_server server(f.issue(iot::role::collector, "collector-icu"),
                    async_request_handler([&](const peer_identity& peer, frame req, reply_callback reply) {
                      if (text_of(req) == "throw") throw std::runtime_error("boom");
                      if (text_of(req) == "twice") {
                        reply(text("first"));
                        reply(text("second"));  // ignored
                        return;
                      }
                      const std::lock_guard lock(m);
                      parked.emplace_back(text(peer.device_id() + ":" + text_of(req)), std::move(reply));
                      if (parked.size() == 4) all_parked.set_value();
                    }),
                    l);
  tls_client client(f.issue(iot::role::nurse, "nurse-1"), [] {
    client_options o;
    o.accepted_server_roles = iot::role_set{iot::role::collector};
    return o;
  }());
  client.connect("127.0.0.1", server.port());
  std::vector<std::future<frame>> replies;
  for (int i = 0; i < 4; ++i) replies.push_back(client.request_async(text(std::to_string(i))));
  REQUIRE(all_parked.get_future().wait_for(5s) == std::future_status::ready);
  CHECK(server.in_flight() == 4);
  std::thread answer([&] {
    const std::lock_guard lock(m);
    for (auto it = parked.rbegin(); it != parked.rend(); ++it) it->second(it->first);  // in reverse order
  });
  answer.join();
  for (int i = 0; i < 4; ++i) {
    REQUIRE(replies[i].wait_for(5s) == std::future_status::ready);
    CHECK(text_of(replies[i].get()) == "nurse-1:" + std::to_string(i));
  }
  CHECK(text_of(client.request(text("twice"))) == "first");
  try {
    (void)client.request(text("throw"));
    FAIL("expected handler_failed");
  } catch (const remote_error& e) {
    CHECK(e.code() == error_code::handler_failed);
  }
  CHECK(text_of(client.request(text("twice"))) == "first");  // the connection still serves
  server.stop();
  CHECK(server.in_flight() == 0);
}

TEST_CASE("tls_server: a reply callback kept past stop() and past the server's lifetime is dropped safely",
          "[net][async]") {
  async_fixture f;
  std::mutex m;
  std::vector<reply_callback> parked;
  std::promise<void> both_parked;
  {
    server_limits l;
    l.handler_threads = 1;
    l.stop_timeout = 500ms;
    tls_server server(f.issue(iot::role::collector, "collector-icu"),
                      async_request_handler([&](const peer_identity&, frame, reply_callback reply) {
                        const std::lock_guard lock(m);
                        parked.push_back(std::move(reply));  // never answered while the server runs
                        if (parked.size() == 2) both_parked.set_value();
                      }),
                      l);
    tls_client client(f.issue(iot::role::nurse, "nurse-1"), [] {
      client_options o;
      o.accepted_server_roles = iot::role_set{iot::role::collector};
      o.request_timeout = 5s;
      return o;
    }());
    client.connect("127.0.0.1", server.port());
    auto r1 = client.request_async(text("a"));
    auto r2 = client.request_async(text("b"));
    REQUIRE(both_parked.get_future().wait_for(5s) == std::future_status::ready);
    CHECK(server.in_flight() == 2);
    server.stop();  // the drain gives up after stop_timeout: the connection is aborted
    parked[0](text("late"));  // after stop(): dropped, and no longer counted in flight
    CHECK(server.in_flight() == 1);
  }
  // The server, its io_context and its sessions are gone; the callback still holds only the shared
  // state and a weak reference to its session (AddressSanitizer reported a use after free here before).
  parked[1](text("later"));
  parked.clear();
  SUCCEED("no crash");
}
