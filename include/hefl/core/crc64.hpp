#pragma once
/// @file
/// CRC-64/XZ (serial::checksum), with two kernels that return the same value: slicing-by-8 tables
/// (portable) and carry-less-multiplication folding (x86-64 PCLMULQDQ + SSE4.1, chosen at run time
/// when the CPU has them). HEFL_CKKS_PORTABLE=1 or HEFL_PORTABLE_CRC=1 in the environment, or
/// serial::set_simd_checksum(false), forces the portable kernel (so a CPU with PCLMULQDQ tests both).

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

// HEFL_NO_PCLMUL leaves the carry-less-multiplication kernel out of the build (as on other
// architectures).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(HEFL_NO_PCLMUL)
#include <cpuid.h>
#include <immintrin.h>
#define HEFL_HAVE_PCLMUL_CRC 1
#else
#define HEFL_HAVE_PCLMUL_CRC 0
#endif

namespace hefl::serial {

static_assert(std::endian::native == std::endian::little, "hefl's binary formats assume a little-endian host");

namespace detail {

/// The reflected ECMA-182 polynomial: bit 63 - i holds the coefficient of x^i (x^64 implied).
inline constexpr std::uint64_t crc64_poly = 0xC96C5795D7870F42ULL;

/// The eight 256-entry tables of slicing-by-8 CRC-64 (M. E. Kounavis, F. L. Berry, "Novel Table
/// Lookup-Based Algorithms for High-Performance CRC Generation", IEEE Trans. Computers 57(11), 2008)
/// for the reflected ECMA-182 polynomial 0xC96C5795D7870F42.
[[nodiscard]] inline const std::array<std::array<std::uint64_t, 256>, 8>& crc64_tables() noexcept {
  static constexpr auto tables = [] {
    std::array<std::array<std::uint64_t, 256>, 8> t{};
    for (std::uint64_t b = 0; b < 256; ++b) {
      std::uint64_t c = b;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ ((c & 1) ? crc64_poly : 0);
      t[0][b] = c;
    }
    for (std::size_t b = 0; b < 256; ++b)
      for (std::size_t j = 1; j < 8; ++j) t[j][b] = (t[j - 1][b] >> 8) ^ t[0][t[j - 1][b] & 0xff];
    return t;
  }();
  return tables;
}

/// One slicing-by-8 step per 8-byte word over @p words words of @p p, continuing @p crc (the running
/// register, before the final xor).
[[nodiscard]] inline std::uint64_t crc64_words(std::uint64_t crc, const std::uint8_t* p, std::size_t words) noexcept {
  const auto& t = crc64_tables();
  for (std::size_t i = 0; i < words; ++i, p += 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8); // little-endian host (static_assert above)
    w ^= crc;
    crc = t[7][w & 0xff] ^ t[6][(w >> 8) & 0xff] ^ t[5][(w >> 16) & 0xff] ^ t[4][(w >> 24) & 0xff] ^
          t[3][(w >> 32) & 0xff] ^ t[2][(w >> 40) & 0xff] ^ t[1][(w >> 48) & 0xff] ^ t[0][w >> 56];
  }
  return crc;
}

/// The running register over @p n bytes of @p p, continuing @p crc: whole words by slicing-by-8,
/// the rest byte by byte.
[[nodiscard]] inline std::uint64_t crc64_bytes(std::uint64_t crc, const std::uint8_t* p, std::size_t n) noexcept {
  const auto& t = crc64_tables();
  crc = crc64_words(crc, p, n / 8);
  p += 8 * (n / 8);
  for (n %= 8; n > 0; --n, ++p) crc = (crc >> 8) ^ t[0][(crc ^ *p) & 0xff];
  return crc;
}

/// a·b modulo the CRC polynomial, both in the reflected representation (bit 63 is x^0): the
/// carry-less product zlib's crc32_combine uses (M. Adler), for the 64-bit polynomial.
[[nodiscard]] constexpr std::uint64_t crc64_multiply(std::uint64_t a, std::uint64_t b) noexcept {
  std::uint64_t product = 0;
  for (std::uint64_t m = std::uint64_t{1} << 63; m != 0; m >>= 1) {
    if (a & m) product ^= b;
    b = (b & 1) ? (b >> 1) ^ crc64_poly : b >> 1;
  }
  return product;
}

/// x^n modulo the CRC polynomial (reflected), by square and multiply.
[[nodiscard]] constexpr std::uint64_t crc64_x_pow(std::uint64_t n) noexcept {
  std::uint64_t result = std::uint64_t{1} << 63, base = std::uint64_t{1} << 62; // x^0, x^1
  for (; n != 0; n >>= 1) {
    if (n & 1) result = crc64_multiply(result, base);
    base = crc64_multiply(base, base);
  }
  return result;
}

/// x^(8·bytes) modulo the CRC polynomial (reflected).
[[nodiscard]] constexpr std::uint64_t crc64_shift(std::uint64_t bytes) noexcept { return crc64_x_pow(8 * bytes); }

/// The portable kernel: the running register over @p bytes from @p crc, by slicing-by-8 over eight
/// contiguous parts of the input at once, joined as zlib's crc32_combine joins CRCs.
[[nodiscard]] inline std::uint64_t crc64_portable(std::uint64_t crc, std::span<const std::uint8_t> bytes) noexcept {
  const auto& t = crc64_tables();
  const std::uint8_t* p = bytes.data();
  std::size_t n = bytes.size();
  constexpr std::size_t lanes = 8;
  if (n >= 4096) {
    // Eight contiguous lanes of `lane` words each, stepped together so that their dependency chains
    // overlap in the CPU; each lane after the first starts from a zero register and is joined below.
    const std::size_t lane = n / (8 * lanes);
    std::uint64_t c[lanes] = {crc};
    for (std::size_t i = 0; i < lane; ++i)
      for (std::size_t j = 0; j < lanes; ++j) {
        std::uint64_t w;
        std::memcpy(&w, p + 8 * (j * lane + i), 8);
        w ^= c[j];
        c[j] = t[7][w & 0xff] ^ t[6][(w >> 8) & 0xff] ^ t[5][(w >> 16) & 0xff] ^ t[4][(w >> 24) & 0xff] ^
               t[3][(w >> 32) & 0xff] ^ t[2][(w >> 40) & 0xff] ^ t[1][(w >> 48) & 0xff] ^ t[0][w >> 56];
      }
    // CRC registers are linear: register(A || B) = register(A)·x^(8|B|) + register_from_zero(B).
    const std::uint64_t shift = crc64_shift(8 * lane);
    crc = c[0];
    for (std::size_t j = 1; j < lanes; ++j) crc = crc64_multiply(crc, shift) ^ c[j];
    p += 8 * lanes * lane;
    n -= 8 * lanes * lane;
  }
  return crc64_bytes(crc, p, n);
}

/// Whether this CPU has PCLMULQDQ and SSE4.1 (cpuid leaf 1, ECX bits 1 and 19; Intel SDM vol. 2,
/// CPUID), asked once.
[[nodiscard]] inline bool cpu_supports_pclmul() noexcept {
#if HEFL_HAVE_PCLMUL_CRC
  static const bool supported = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return false;
    const unsigned pclmulqdq = 1u << 1, sse41 = 1u << 19;
    return (ecx & (pclmulqdq | sse41)) == (pclmulqdq | sse41);
  }();
  return supported;
#else
  return false;
#endif
}

/// The switch behind set_simd_checksum: starts on unless HEFL_CKKS_PORTABLE or HEFL_PORTABLE_CRC is
/// set to a value other than "0" or empty.
[[nodiscard]] inline std::atomic<bool>& simd_checksum_requested() noexcept {
  static std::atomic<bool> requested = [] {
    const auto unset = [](const char* v) { return v == nullptr || v[0] == '\0' || (v[0] == '0' && v[1] == '\0'); };
    return unset(std::getenv("HEFL_CKKS_PORTABLE")) && unset(std::getenv("HEFL_PORTABLE_CRC"));
  }();
  return requested;
}

/// Whether checksum() takes the carry-less-multiplication kernel now.
[[nodiscard]] inline bool use_pclmul_checksum() noexcept {
  return cpu_supports_pclmul() && simd_checksum_requested().load(std::memory_order_relaxed);
}

#if HEFL_HAVE_PCLMUL_CRC

// Folding constants. An xmm register loaded with 16 message bytes holds, in bit j (bit 0 = the low
// bit of the first byte), the coefficient of x^(127 - j) of a 128-bit block A = H·x^64 + L, with H
// in the low and L in the high 64-bit half, each reflected as crc64_multiply expects. Moving A
// forward by D bits: A·x^D = H·x^(D+64) + L·x^D (mod P). PCLMULQDQ of two reflected 64-bit values
// gives their 127-bit product with bit k holding x^(126 - k); read as a reflected 128-bit block that
// is the product times x, so the constants carry one factor x less: x^(D+63) mod P for H and
// x^(D-1) mod P for L, computed below by crc64_x_pow.
inline constexpr std::uint64_t crc64_fold128_h = crc64_x_pow(128 + 63); // fold by one 16-byte block
inline constexpr std::uint64_t crc64_fold128_l = crc64_x_pow(128 - 1);
inline constexpr std::uint64_t crc64_fold1024_h = crc64_x_pow(1024 + 63); // fold by eight blocks
inline constexpr std::uint64_t crc64_fold1024_l = crc64_x_pow(1024 - 1);

/// A·x^D + next (mod P, as a 128-bit block), with @p k holding the constants for D.
__attribute__((target("pclmul,sse4.1"))) inline __m128i crc64_fold(__m128i a, __m128i k, __m128i next) noexcept {
  return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(a, k, 0x00), _mm_clmulepi64_si128(a, k, 0x11)), next);
}

/// The carry-less-multiplication kernel: the running register over @p n >= 128 bytes of @p p from
/// @p crc, folding eight 16-byte blocks per step (V. Gopal et al., "Fast CRC Computation for Generic
/// Polynomials Using PCLMULQDQ Instruction", Intel white paper, 2009). The last block is reduced to
/// 64 bits by two slicing-by-8 steps instead of the paper's Barrett reduction: the register of a
/// block A read from a zero register is A·x^64 mod P, which is what is wanted.
__attribute__((target("pclmul,sse4.1"))) inline std::uint64_t crc64_pclmul(std::uint64_t crc, const std::uint8_t* p,
                                                                           std::size_t n) noexcept {
  const auto load = [](const std::uint8_t* q) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(q)); };
  const __m128i k128 = _mm_set_epi64x(static_cast<long long>(crc64_fold128_l), static_cast<long long>(crc64_fold128_h));
  const __m128i k1024 =
      _mm_set_epi64x(static_cast<long long>(crc64_fold1024_l), static_cast<long long>(crc64_fold1024_h));
  __m128i a[8];
  for (int i = 0; i < 8; ++i) a[i] = load(p + 16 * i);
  a[0] = _mm_xor_si128(a[0], _mm_cvtsi64_si128(static_cast<long long>(crc))); // the register meets the first word
  p += 128;
  n -= 128;
  for (; n >= 128; p += 128, n -= 128)
    for (int i = 0; i < 8; ++i) a[i] = crc64_fold(a[i], k1024, load(p + 16 * i));
  __m128i acc = a[0];
  for (int i = 1; i < 8; ++i) acc = crc64_fold(acc, k128, a[i]);
  for (; n >= 16; p += 16, n -= 16) acc = crc64_fold(acc, k128, load(p));
  alignas(16) std::uint8_t block[16];
  _mm_store_si128(reinterpret_cast<__m128i*>(block), acc);
  return crc64_bytes(crc64_words(0, block, 2), p, n);
}

#endif

} // namespace detail

/// Turns the carry-less-multiplication (PCLMULQDQ) checksum kernel on or off for the whole process;
/// off forces the slicing-by-8 tables, as HEFL_CKKS_PORTABLE=1 or HEFL_PORTABLE_CRC=1 does. The
/// checksum is the same either way. Safe to call from any thread.
/// @return whether the PCLMULQDQ kernel is now in use (false when the CPU lacks it, whatever is asked).
inline bool set_simd_checksum(bool enabled) noexcept {
  detail::simd_checksum_requested().store(enabled, std::memory_order_relaxed);
  return detail::use_pclmul_checksum();
}

/// Whether checksum() uses the PCLMULQDQ kernel (CPU support and not switched off).
[[nodiscard]] inline bool simd_checksum_enabled() noexcept { return detail::use_pclmul_checksum(); }

/// CRC-64/XZ of @p bytes: the ECMA-182 polynomial (ECMA-182, 1992, Annex B; reflected, initial value
/// and final xor all ones, check value 0x995DC9BBDF1939FA for "123456789"), by carry-less
/// multiplication when the CPU has PCLMULQDQ (see set_simd_checksum), otherwise by slicing-by-8; both
/// give the same value. It detects accidental corruption of serialized
/// objects (not an attacker: authenticity is the job of signatures). The polynomial has an even
/// number of terms, so x + 1 divides it and every error of an odd number of bits is detected;
/// x^d != 1 modulo it for every d <= 2^28 (checked by a program, see docs/ckks.md), so every error of
/// two bits less than 2^28 bits apart is detected; every burst of at most 64 bits is detected, as for
/// any 64-bit CRC.
[[nodiscard]] inline std::uint64_t checksum(std::span<const std::uint8_t> bytes) noexcept {
  const std::uint64_t init = ~std::uint64_t{0};
#if HEFL_HAVE_PCLMUL_CRC
  if (bytes.size() >= 128 && detail::use_pclmul_checksum())
    return ~detail::crc64_pclmul(init, bytes.data(), bytes.size());
#endif
  return ~detail::crc64_portable(init, bytes);
}

} // namespace hefl::serial
