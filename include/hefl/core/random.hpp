#pragma once
/// @file
/// The randomness seam. Cryptographic code in hefl (CKKS keys and noise, ...) draws bytes from a
/// hefl::random_source, so that the Eigen-only part of the library never includes Botan. The
/// Botan-backed sources live in hefl/crypto/botan_random.hpp (target hefl::iot).

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace hefl {

/// A source of cryptographically secure random bytes.
class random_source {
public:
  virtual ~random_source() = default;

  /// Fills @p out with random bytes.
  virtual void fill(std::span<std::uint8_t> out) = 0;

  /// A uniformly random 64-bit word.
  std::uint64_t next_u64() {
    std::array<std::uint8_t, 8> bytes{};
    fill(bytes);
    std::uint64_t v = 0;
    std::memcpy(&v, bytes.data(), sizeof v);
    return v;
  }

  /// A uniform integer in [0, bound) without modulo bias (rejection sampling). @p bound must be > 0.
  std::uint64_t uniform(std::uint64_t bound) {
    // Values below 2^64 mod bound would make small results more likely; draw again instead.
    const std::uint64_t threshold = (0 - bound) % bound;
    for (;;) {
      const std::uint64_t v = next_u64();
      if (v >= threshold) return v % bound;
    }
  }
};

} // namespace hefl
