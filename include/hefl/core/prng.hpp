#pragma once
/// @file
/// A small deterministic generator for experiments (data synthesis, partitioning, shuffling).
/// The standard library's distributions differ between implementations, so hefl draws its own
/// normals and gammas from xoshiro256** to reproduce bit-for-bit everywhere. NOT for cryptography:
/// keys and noise come from hefl::random_source (Botan's CSPRNG).

#include <hefl/core/error.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>
#include <vector>

namespace hefl {

/// xoshiro256** (Blackman & Vigna, "Scrambled linear pseudorandom number generators", 2021),
/// seeded through splitmix64 so that any 64-bit seed, including 0, gives a good state.
class deterministic_rng {
public:
  using result_type = std::uint64_t;

  explicit deterministic_rng(std::uint64_t seed) noexcept {
    for (auto& s : m_state) {
      seed += 0x9e3779b97f4a7c15ULL;
      std::uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      s = z ^ (z >> 31);
    }
  }

  static constexpr result_type min() noexcept { return 0; }
  static constexpr result_type max() noexcept { return ~result_type{0}; }

  result_type operator()() noexcept {
    const std::uint64_t result = rotl(m_state[1] * 5, 7) * 9;
    const std::uint64_t t = m_state[1] << 17;
    m_state[2] ^= m_state[0];
    m_state[3] ^= m_state[1];
    m_state[1] ^= m_state[2];
    m_state[0] ^= m_state[3];
    m_state[2] ^= t;
    m_state[3] = rotl(m_state[3], 45);
    return result;
  }

  /// Uniform in [0, 1) with 53 random bits.
  double uniform() noexcept { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }

  /// Uniform integer in [0, bound), bound > 0 (Lemire's multiply-shift, unbiased by rejection).
  std::uint64_t below(std::uint64_t bound) {
    if (bound == 0) throw invalid_argument("deterministic_rng::below: bound must be positive");
    const std::uint64_t threshold = (0 - bound) % bound;
    for (;;) {
      const unsigned __int128 m = static_cast<unsigned __int128>((*this)()) * bound;
      if (static_cast<std::uint64_t>(m) >= threshold) return static_cast<std::uint64_t>(m >> 64);
    }
  }

  /// Standard normal deviate (Box–Muller; the second deviate is cached).
  double normal() noexcept {
    if (m_has_spare) {
      m_has_spare = false;
      return m_spare;
    }
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    m_spare = r * std::sin(2.0 * std::numbers::pi * u2);
    m_has_spare = true;
    return r * std::cos(2.0 * std::numbers::pi * u2);
  }

  /// Gamma(shape, 1) deviate (Marsaglia & Tsang, ACM TOMS 2000; shape < 1 boosted by U^(1/shape)).
  /// @throws hefl::invalid_argument if shape is not positive and finite.
  double gamma(double shape) {
    if (!(shape > 0.0) || !std::isfinite(shape))
      throw invalid_argument("deterministic_rng::gamma: shape must be positive, got " + std::to_string(shape));
    if (shape < 1.0) {
      double u = uniform();
      while (u <= 0.0) u = uniform();
      return gamma(shape + 1.0) * std::pow(u, 1.0 / shape);
    }
    const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
    for (;;) {
      double x, v;
      do {
        x = normal();
        v = 1.0 + c * x;
      } while (v <= 0.0);
      v = v * v * v;
      const double u = uniform();
      if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
      if (u > 0.0 && std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
    }
  }

  /// A point of the Dirichlet(alpha, ..., alpha) distribution on k categories.
  std::vector<double> dirichlet(std::size_t k, double alpha) {
    std::vector<double> p(k);
    double total = 0.0;
    for (auto& v : p) total += (v = gamma(alpha));
    if (total <= 0.0) {  // every draw underflowed (tiny alpha): all mass on one category
      p.assign(k, 0.0);
      p[below(k)] = 1.0;
      return p;
    }
    for (auto& v : p) v /= total;
    return p;
  }

  /// Fisher–Yates shuffle.
  template <class T>
  void shuffle(std::vector<T>& v) {
    for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }

private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }

  std::array<std::uint64_t, 4> m_state{};
  double m_spare = 0.0;
  bool m_has_spare = false;
};

} // namespace hefl
