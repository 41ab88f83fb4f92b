#pragma once
/// @file
/// ChaCha20 (Y. Nir, A. Langley, RFC 8439, 2018) as a deterministic random_source: the PRG that
/// expands the public 32-byte seeds of seeded ciphertexts and seeded key-switching keys into their
/// uniform polynomials. Only ever keyed with public seeds; secrets come from the caller's source.

#include <hefl/core/error.hpp>
#include <hefl/core/random.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace hefl::he::ckks::detail {

/// Bytes of a seed (a ChaCha20 key).
inline constexpr std::size_t chacha20_seed_size = 32;

/// The ChaCha20 block function (RFC 8439, §2.3): 64 bytes of key stream for a 256-bit key, a 32-bit
/// block counter and a 96-bit nonce.
inline void chacha20_block(const std::array<std::uint32_t, 8>& key, std::uint32_t counter,
                           const std::array<std::uint32_t, 3>& nonce, std::uint8_t out[64]) noexcept {
  std::array<std::uint32_t, 16> s{0x61707865u, 0x3320646eu, 0x79622d32u, 0x6b206574u, key[0],   key[1],
                                  key[2],      key[3],      key[4],      key[5],      key[6],   key[7],
                                  counter,     nonce[0],    nonce[1],    nonce[2]};
  std::array<std::uint32_t, 16> x = s;
  const auto quarter = [&x](int a, int b, int c, int d) {
    x[a] += x[b]; x[d] = std::rotl(x[d] ^ x[a], 16);
    x[c] += x[d]; x[b] = std::rotl(x[b] ^ x[c], 12);
    x[a] += x[b]; x[d] = std::rotl(x[d] ^ x[a], 8);
    x[c] += x[d]; x[b] = std::rotl(x[b] ^ x[c], 7);
  };
  for (int round = 0; round < 10; ++round) {
    quarter(0, 4, 8, 12);
    quarter(1, 5, 9, 13);
    quarter(2, 6, 10, 14);
    quarter(3, 7, 11, 15);
    quarter(0, 5, 10, 15);
    quarter(1, 6, 11, 12);
    quarter(2, 7, 8, 13);
    quarter(3, 4, 9, 14);
  }
  for (std::size_t i = 0; i < 16; ++i) {
    const std::uint32_t w = x[i] + s[i];
    std::memcpy(out + 4 * i, &w, 4);
  }
}

/// Eight consecutive ChaCha20 blocks (counters @p counter .. counter + 7), 512 bytes: the block
/// function of chacha20_block computed lane by lane, so that the compiler vectorizes it (about twice
/// the throughput of one block at a time with SSE2 alone). Same bytes as eight chacha20_block calls.
inline void chacha20_blocks8(const std::array<std::uint32_t, 8>& key, std::uint32_t counter,
                             const std::array<std::uint32_t, 3>& nonce, std::uint8_t out[512]) noexcept {
  constexpr int lanes = 8;
  const std::uint32_t init[16] = {0x61707865u, 0x3320646eu, 0x79622d32u, 0x6b206574u, key[0],   key[1],
                                  key[2],      key[3],      key[4],      key[5],      key[6],   key[7],
                                  0,           nonce[0],    nonce[1],    nonce[2]};
  std::uint32_t s[16][lanes], x[16][lanes];
  for (int i = 0; i < 16; ++i)
    for (int l = 0; l < lanes; ++l) s[i][l] = init[i];
  for (int l = 0; l < lanes; ++l) s[12][l] = counter + static_cast<std::uint32_t>(l);
  for (int i = 0; i < 16; ++i)
    for (int l = 0; l < lanes; ++l) x[i][l] = s[i][l];
  const auto quarter = [&x](int a, int b, int c, int d) {
    for (int l = 0; l < lanes; ++l) {
      x[a][l] += x[b][l]; x[d][l] = std::rotl(x[d][l] ^ x[a][l], 16);
      x[c][l] += x[d][l]; x[b][l] = std::rotl(x[b][l] ^ x[c][l], 12);
      x[a][l] += x[b][l]; x[d][l] = std::rotl(x[d][l] ^ x[a][l], 8);
      x[c][l] += x[d][l]; x[b][l] = std::rotl(x[b][l] ^ x[c][l], 7);
    }
  };
  for (int round = 0; round < 10; ++round) {
    quarter(0, 4, 8, 12);
    quarter(1, 5, 9, 13);
    quarter(2, 6, 10, 14);
    quarter(3, 7, 11, 15);
    quarter(0, 5, 10, 15);
    quarter(1, 6, 11, 12);
    quarter(2, 7, 8, 13);
    quarter(3, 4, 9, 14);
  }
  for (int l = 0; l < lanes; ++l)
    for (int i = 0; i < 16; ++i) {
      const std::uint32_t w = x[i][l] + s[i][l];
      std::memcpy(out + 64 * l + 4 * i, &w, 4);
    }
}

/// The ChaCha20 key stream (RFC 8439, counter from 0) of a 32-byte seed and a 96-bit nonce (zero by
/// default), as a random_source: the expansion of the uniform parts of seeded ciphertexts (zero
/// nonce) and of seeded key-switching keys (kswitch_key_nonce). The seed is public (it is stored with
/// the object), so nothing here is wiped.
class chacha20_source final : public random_source {
public:
  explicit chacha20_source(std::span<const std::uint8_t, chacha20_seed_size> seed,
                           const std::array<std::uint32_t, 3>& nonce = {0, 0, 0}) noexcept
      : m_nonce(nonce) {
    for (std::size_t i = 0; i < 8; ++i) std::memcpy(&m_key[i], seed.data() + 4 * i, 4);
  }

  /// @throws hefl::error after 2^32 blocks (256 GiB), far beyond any polynomial.
  void fill(std::span<std::uint8_t> out) override {
    std::size_t done = 0;
    while (done < out.size()) {
      if (m_used == m_block.size()) {
        if (m_exhausted) throw error("ckks::chacha20_source: key stream exhausted");
        chacha20_blocks8(m_key, m_counter, m_nonce, m_block.data()); // 2^32 is a multiple of 8: no wrap inside
        m_counter += 8;
        m_exhausted = m_counter == 0;
        m_used = 0;
      }
      const std::size_t take = std::min(out.size() - done, m_block.size() - m_used);
      std::memcpy(out.data() + done, m_block.data() + m_used, take);
      done += take;
      m_used += take;
    }
  }

private:
  std::array<std::uint32_t, 8> m_key{};
  std::array<std::uint32_t, 3> m_nonce{};
  std::array<std::uint8_t, 512> m_block{};
  std::size_t m_used = 512;
  std::uint32_t m_counter = 0;
  bool m_exhausted = false;
};

} // namespace hefl::he::ckks::detail
