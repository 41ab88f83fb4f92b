#pragma once
// Test support for the CKKS tests: a reproducible random_source without Botan, random slot values,
// and the largest absolute error between two vectors.

#include <hefl/core/prng.hpp>
#include <hefl/core/random.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace hefl_test {

/// A deterministic hefl::random_source over xoshiro256** (hefl::deterministic_rng). Tests only: it is
/// not a CSPRNG.
class test_source final : public hefl::random_source {
public:
  explicit test_source(std::uint64_t seed) : m_rng(seed) {}
  void fill(std::span<std::uint8_t> out) override {
    for (std::size_t i = 0; i < out.size(); i += 8) {
      const std::uint64_t v = m_rng();
      std::memcpy(out.data() + i, &v, std::min<std::size_t>(8, out.size() - i));
    }
  }

private:
  hefl::deterministic_rng m_rng;
};

/// @p count values uniform in [-bound, bound), reproducible from @p seed.
inline std::vector<double> random_values(std::size_t count, std::uint64_t seed, double bound = 1.0) {
  hefl::deterministic_rng rng(seed);
  std::vector<double> v(count);
  for (auto& x : v) x = (2 * rng.uniform() - 1) * bound;
  return v;
}

/// max_i |got[i] - want[i]| over want's length.
inline double max_error(const std::vector<double>& got, const std::vector<double>& want) {
  double e = 0;
  for (std::size_t i = 0; i < want.size(); ++i) e = std::max(e, std::fabs(got[i] - want[i]));
  return e;
}

} // namespace hefl_test
