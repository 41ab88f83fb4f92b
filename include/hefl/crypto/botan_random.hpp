#pragma once
/// @file
/// Botan-backed implementations of hefl::random_source (needs target hefl::iot).

#include <hefl/core/random.hpp>

#include <botan/auto_rng.h>
#include <botan/chacha_rng.h>
#include <botan/secmem.h>

#include <cstdint>
#include <span>

namespace hefl::crypto {

/// The system CSPRNG (Botan::AutoSeeded_RNG, reseeded from the OS). Use this in production.
class system_random final : public random_source {
public:
  void fill(std::span<std::uint8_t> out) override { m_rng.randomize(out.data(), out.size()); }

private:
  Botan::AutoSeeded_RNG m_rng;
};

/// A deterministic ChaCha20 stream (Botan::ChaCha_RNG) seeded from a 64-bit value, for reproducible
/// tests and experiments. Never use it for keys that protect real data: 64 bits of seed is guessable.
class seeded_random final : public random_source {
public:
  explicit seeded_random(std::uint64_t seed) : m_rng(seed_bytes(seed)) {}

  void fill(std::span<std::uint8_t> out) override { m_rng.randomize(out.data(), out.size()); }

private:
  static Botan::secure_vector<std::uint8_t> seed_bytes(std::uint64_t seed) {
    Botan::secure_vector<std::uint8_t> bytes(32, 0);
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<std::uint8_t>(seed >> (8 * i));
    return bytes;
  }
  Botan::ChaCha_RNG m_rng;
};

} // namespace hefl::crypto
