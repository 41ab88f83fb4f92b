#include <hefl/iot/collection/replay_guard.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>
#include <string>
#include <vector>

using namespace hefl::iot;
using namespace std::chrono_literals;

namespace {

const auto t0 = iot_clock::time_point{} + std::chrono::hours(24 * 365 * 50);

// These tests drive the guard with the caller's now (t0 is in 2020): its own clock bounds are opened
// wide here and tested in hardening_collector_test.cpp.
constexpr auto wide_open = std::chrono::hours(24 * 365 * 100);

replay_guard_options trusting() {
  replay_guard_options o;
  o.max_clock_offset = wide_open;
  return o;
}

replay_guard_options small(std::size_t total, std::size_t per_device) {
  replay_guard_options o = trusting();
  o.max_age = 60s;
  o.max_future_skew = 5s;
  o.max_entries = total;
  o.max_entries_per_device = per_device;
  return o;
}

} // namespace

TEST_CASE("a fresh message passes once; the duplicate is a replay", "[iot][replay]") {
  replay_guard guard(small(1000, 100));
  CHECK(guard.check("pump-1", "n-1", t0, t0).ok());
  const auto dup = guard.check("pump-1", "n-1", t0, t0 + 1s);
  CHECK(dup.status == replay_status::replay);
  CHECK(dup.message == "device 'pump-1' already used this nonce inside the replay window");
  // A replay with another (still fresh) timestamp is the same nonce: refused too.
  CHECK(guard.check("pump-1", "n-1", t0 + 2s, t0 + 2s).status == replay_status::replay);
  // The same nonce from another device is that device's business.
  CHECK(guard.check("pump-2", "n-1", t0, t0).ok());
  CHECK(guard.check("pump-1", "n-2", t0, t0).ok());
  CHECK(guard.size() == 3);
  CHECK(guard.size("pump-1") == 2);
  CHECK(guard.device_count() == 2);
  // Byte nonces and text nonces are the same bytes.
  const std::vector<std::uint8_t> bytes{'n', '-', '2'};
  CHECK(guard.check("pump-1", std::span<const std::uint8_t>(bytes), t0, t0).status == replay_status::replay);
  CHECK(to_string(replay_status::replay) == "replay");
}

TEST_CASE("stale and future timestamps are refused at the window's edges", "[iot][replay]") {
  replay_guard guard(small(1000, 100));
  CHECK(guard.check("d", "a", t0 - 60s, t0).ok());  // exactly max_age old: inside
  const auto stale = guard.check("d", "b", t0 - 60s - 1ms, t0);
  CHECK(stale.status == replay_status::stale);
  CHECK(stale.message == "timestamp is 60001 ms old, the limit is 60000 ms");
  CHECK(guard.check("d", "c", t0 + 5s, t0).ok());  // exactly the skew ahead: inside
  const auto future = guard.check("d", "e", t0 + 5s + 1ms, t0);
  CHECK(future.status == replay_status::future);
  CHECK(future.message == "timestamp is 5001 ms in the future, the limit is 5000 ms");
  // Refused messages leave no trace: the same nonces pass once their timestamps are fine.
  CHECK(guard.size() == 2);
  CHECK(guard.check("d", "b", t0, t0).ok());
  CHECK(guard.check("d", "e", t0, t0).ok());
  // Extreme timestamps from a hostile device neither overflow nor pass.
  CHECK(guard.check("d", "x", iot_clock::time_point::min(), t0).status == replay_status::stale);
  CHECK(guard.check("d", "y", iot_clock::time_point::max(), t0).status == replay_status::future);
}

TEST_CASE("empty and oversized nonces are malformed", "[iot][replay]") {
  replay_guard guard(trusting());
  CHECK(guard.check("d", "", t0, t0).status == replay_status::malformed);
  CHECK(guard.check("d", std::string(replay_guard::max_nonce_bytes + 1, 'n'), t0, t0).status ==
        replay_status::malformed);
  CHECK(guard.check("d", std::string(replay_guard::max_nonce_bytes, 'n'), t0, t0).ok());
  CHECK(guard.size() == 1);
}

TEST_CASE("the window slides: old nonces are forgotten exactly when their replay is stale", "[iot][replay]") {
  replay_guard guard(small(1000, 100));
  REQUIRE(guard.check("d", "n", t0, t0).ok());
  CHECK(guard.check("d", "n", t0, t0 + 60s).status == replay_status::replay);  // still inside: remembered
  CHECK(guard.size() == 1);
  const auto later = guard.check("d", "n", t0, t0 + 60s + 1ns);
  CHECK(later.status == replay_status::stale);  // forgotten, and its replay is stale
  CHECK(guard.size() == 0);
  CHECK(guard.device_count() == 0);
  // A fresh message may reuse the nonce once the old one is outside the window.
  CHECK(guard.check("d", "n", t0 + 61s, t0 + 61s).ok());
}

TEST_CASE("a clock stepped back cannot revive forgotten nonces", "[iot][replay]") {
  replay_guard guard(small(1000, 100));
  REQUIRE(guard.check("d", "n", t0, t0).ok());
  CHECK(guard.check("d", "other", t0 + 120s, t0 + 120s).ok());  // forgets "n"
  // The collector's clock jumps back to t0: "n" at t0 must still not pass.
  CHECK(guard.check("d", "n", t0, t0).status == replay_status::stale);
}

TEST_CASE("memory stays bounded under a flood of distinct nonces", "[iot][replay]") {
  SECTION("one device flooding hits its own cap and nobody else's") {
    replay_guard guard(small(1000, 100));
    int refused = 0;
    for (int i = 0; i < 5000; ++i) {
      const auto v = guard.check("attacker", "n" + std::to_string(i), t0, t0);
      if (!v.ok()) {
        ++refused;
        REQUIRE(v.status == replay_status::overloaded);
      }
      REQUIRE(guard.size() <= 100);
    }
    CHECK(refused == 4900);
    CHECK(guard.size() == 100);
    CHECK(guard.size("attacker") == 100);
    // Refusing instead of forgetting: the first nonce is still remembered, its replay still caught.
    CHECK(guard.check("attacker", "n0", t0, t0).status == replay_status::replay);
    CHECK_THAT(guard.check("attacker", "fresh", t0, t0).message, Catch::Contains("the limit is 100"));
    CHECK(guard.check("honest", "n0", t0, t0).ok());
    // Once the window has passed the flood's timestamps, the device is served again.
    CHECK(guard.check("attacker", "fresh", t0 + 61s, t0 + 61s).ok());
    CHECK(guard.size() == 1);
  }
  SECTION("many devices together hit the total cap") {
    replay_guard guard(small(1000, 10));
    int accepted = 0;
    for (int d = 0; d < 300; ++d)
      for (int n = 0; n < 5; ++n) {
        const auto v = guard.check("dev-" + std::to_string(d), "n" + std::to_string(n), t0, t0);
        accepted += v.ok();
        if (!v.ok()) REQUIRE(v.status == replay_status::overloaded);
        REQUIRE(guard.size() <= 1000);
      }
    CHECK(accepted == 1000);
    CHECK(guard.size() == 1000);
    CHECK(guard.device_count() == 200);
    const auto full = guard.check("dev-999", "n", t0, t0);
    CHECK(full.status == replay_status::overloaded);
    CHECK_THAT(full.message, Catch::Contains("replay memory full (1000 nonces inside the window)"));
    // Every accepted nonce is still caught as a replay.
    for (int d = 0; d < 200; ++d)
      REQUIRE(guard.check("dev-" + std::to_string(d), "n4", t0, t0).status == replay_status::replay);
  }
  SECTION("a steady flood over a long time is forgotten as it ages out") {
    replay_guard guard(small(100000, 100000));
    // 10 messages per second for 10 minutes with a 60 s window: at most ~600 nonces are live.
    for (int i = 0; i < 6000; ++i) {
      const auto t = t0 + std::chrono::milliseconds(100 * i);
      REQUIRE(guard.check("sensor", "n" + std::to_string(i), t, t).ok());
      REQUIRE(guard.size() <= 601);
    }
    CHECK(guard.size() >= 600);
  }
}

TEST_CASE("many devices are kept apart", "[iot][replay]") {
  replay_guard guard(trusting());
  for (int d = 0; d < 2000; ++d) REQUIRE(guard.check("device-" + std::to_string(d), "same-nonce", t0, t0).ok());
  CHECK(guard.device_count() == 2000);
  CHECK(guard.size() == 2000);
  for (int d = 0; d < 2000; d += 7)
    REQUIRE(guard.check("device-" + std::to_string(d), "same-nonce", t0 + 1s, t0 + 1s).status == replay_status::replay);
  CHECK(guard.check("device-2000", "same-nonce", t0 + 1s, t0 + 1s).ok());
}

TEST_CASE("replay guard options are validated", "[iot][replay]") {
  replay_guard_options o;
  CHECK(o.max_age == std::chrono::minutes(2));
  o.max_age = 0s;
  CHECK_THROWS_WITH(replay_guard(o), Catch::Contains("expected max_age > 0, got 0 ns"));
  o = {};
  o.max_future_skew = -1s;
  CHECK_THROWS_AS(replay_guard(o), hefl::invalid_argument);
  o = {};
  o.max_entries = 0;
  CHECK_THROWS_AS(replay_guard(o), hefl::invalid_argument);
  o = {};
  o.max_entries = 10;
  o.max_entries_per_device = 11;
  CHECK_THROWS_WITH(replay_guard(o), Catch::Contains("max_entries_per_device 11 > max_entries 10"));
  o.max_future_skew = 0s;
  o.max_entries_per_device = 10;
  o.max_clock_offset = wide_open;
  replay_guard strict(o);
  CHECK(strict.check("d", "n", t0 + 1ns, t0).status == replay_status::future);
  static_assert(replay_policy<replay_guard>);
  static_assert(!replay_policy<int>);
}

TEST_CASE("concurrent checks accept each nonce exactly once", "[iot][replay]") {
  replay_guard guard(small(100000, 100000));
  std::atomic<int> accepted{0};
  std::atomic<int> replays{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int n = 0; n < 2000; ++n) {
        const auto v = guard.check("shared-device", "n" + std::to_string(n), t0, t0);
        if (v.ok()) ++accepted;
        else if (v.status == replay_status::replay) ++replays;
      }
    });
  for (auto& th : threads) th.join();
  CHECK(accepted == 2000);
  CHECK(replays == 3 * 2000);
  CHECK(guard.size() == 2000);
}
