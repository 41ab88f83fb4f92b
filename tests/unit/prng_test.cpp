#include <hefl/core/prng.hpp>
#include <hefl/core/random.hpp>

#include <catch2/catch.hpp>

#include <numeric>

TEST_CASE("deterministic_rng reproduces its stream and draws sane distributions", "[core][prng]") {
  hefl::deterministic_rng a(1), b(1), c(2);
  for (int i = 0; i < 10; ++i) {
    const auto x = a();
    CHECK(x == b());
    CHECK(x != c());
  }
  hefl::deterministic_rng r(99);
  double sum = 0, sq = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const double z = r.normal();
    sum += z;
    sq += z * z;
  }
  CHECK(sum / n == Approx(0.0).margin(0.02));
  CHECK(sq / n == Approx(1.0).margin(0.02));
  double g = 0;
  for (int i = 0; i < n; ++i) g += r.gamma(0.5);
  CHECK(g / n == Approx(0.5).margin(0.02));  // E[Gamma(k,1)] = k
  const auto p = r.dirichlet(7, 0.3);
  CHECK(std::accumulate(p.begin(), p.end(), 0.0) == Approx(1.0));
  std::vector<int> hits(5, 0);
  for (int i = 0; i < 50000; ++i) ++hits[r.below(5)];
  for (int h : hits) CHECK(h == Approx(10000).margin(400));
  CHECK_THROWS_AS(r.below(0), hefl::invalid_argument);
  CHECK_THROWS_AS(r.gamma(0.0), hefl::invalid_argument);
}

namespace {
// A random_source that replays a fixed byte pattern, to check the seam's integer helpers.
struct counting_source final : hefl::random_source {
  std::uint8_t next = 0;
  void fill(std::span<std::uint8_t> out) override {
    for (auto& b : out) b = next++;
  }
};
} // namespace

TEST_CASE("random_source::uniform stays below its bound", "[core][random]") {
  counting_source s;
  for (std::uint64_t bound : {1ull, 2ull, 3ull, 1000ull, (1ull << 61) - 1})
    for (int i = 0; i < 100; ++i) CHECK(s.uniform(bound) < bound);
}
