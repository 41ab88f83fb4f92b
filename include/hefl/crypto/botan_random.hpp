#pragma once
/// @file
/// Botan-backed implementations of hefl::random_source (needs target hefl::iot).

#include <hefl/core/random.hpp>

#include <botan/auto_rng.h>
#include <botan/chacha_rng.h>
#include <botan/build.h>
#include <botan/secmem.h>

#include <cstdint>
#include <span>

namespace hefl::crypto {

/// The production CSPRNG: a Botan::ChaCha_RNG (ChaCha20 keyed stream, RFC 8439) seeded with 256 bits
/// from Botan::AutoSeeded_RNG (HMAC_DRBG over the operating system's entropy, NIST SP 800-90A) and
/// reseeded from it every 1024 requests. The DRBG alone was too slow for CKKS noise sampling (it made
/// public-key encryption 2.7x slower in ckks_bench); with the ChaCha stream, encryption costs the
/// same as with seeded_random (see docs/ckks.md). Not thread-safe: one per thread.
class system_random final : public random_source {
public:
  system_random() : m_seed_source(), m_rng(m_seed_source, BOTAN_RNG_DEFAULT_RESEED_INTERVAL) {}
  system_random(const system_random&) = delete;
  system_random& operator=(const system_random&) = delete;

  void fill(std::span<std::uint8_t> out) override { m_rng.randomize(out.data(), out.size()); }

private:
  Botan::AutoSeeded_RNG m_seed_source;  // declared first: m_rng keeps a reference to it
  Botan::ChaCha_RNG m_rng;
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
