#pragma once
/// @file
/// 64-bit modular arithmetic for the RNS limbs of CKKS: primes below 2^61, so that 4q fits in a
/// 64-bit word and the lazy NTT butterflies (values in [0, 4q)) never overflow.
/// Barrett reduction: P. Barrett, "Implementing the RSA public key encryption algorithm on a standard
/// digital signal processor", CRYPTO 1986. Shoup multiplication by a precomputed constant: V. Shoup,
/// NTL (MulModPrecon), analysed by D. Harvey, "Faster arithmetic for number-theoretic transforms", 2014.

#include <hefl/core/error.hpp>

#include <cstdint>
#include <string>

namespace hefl::he::ckks::detail {

using u64 = std::uint64_t;
// __extension__ keeps -Wpedantic quiet about the GCC/Clang 128-bit integer types.
__extension__ typedef unsigned __int128 u128;
__extension__ typedef __int128 i128;

/// Largest modulus the limb arithmetic accepts: 2^61 keeps 4q < 2^63.
inline constexpr u64 max_modulus = u64{1} << 61;

/// High 64 bits of the 128-bit product a*b.
[[nodiscard]] constexpr u64 mul_hi(u64 a, u64 b) noexcept {
  return static_cast<u64>((static_cast<u128>(a) * b) >> 64);
}

/// A modulus q in [2, 2^61] with its Barrett constant floor(2^128 / q) split into two words.
class modulus {
public:
  /// Precomputes the Barrett constant of @p q.
  /// @throws hefl::invalid_argument if q < 2 or q > 2^61.
  constexpr explicit modulus(u64 q) : m_value(q) {
    if (q < 2 || q > max_modulus)
      throw invalid_argument("ckks::modulus: modulus must lie in [2, 2^61], got " + std::to_string(q));
    // 2^128 itself is not representable: floor(2^128/q) = floor((2^128-1)/q), plus one when q divides 2^128.
    const u128 all = ~u128{0};
    u128 ratio = all / q;
    if (all % q == q - 1) ratio += 1;
    m_ratio_lo = static_cast<u64>(ratio);
    m_ratio_hi = static_cast<u64>(ratio >> 64);
  }

  /// The modulus q.
  [[nodiscard]] constexpr u64 value() const noexcept { return m_value; }
  /// Low word of floor(2^128 / q).
  [[nodiscard]] constexpr u64 ratio_lo() const noexcept { return m_ratio_lo; }
  /// High word of floor(2^128 / q), which equals floor(2^64 / q).
  [[nodiscard]] constexpr u64 ratio_hi() const noexcept { return m_ratio_hi; }

  /// x mod q for any 64-bit x (Barrett with floor(2^64/q); the estimate is short by at most one q).
  [[nodiscard]] constexpr u64 reduce(u64 x) const noexcept {
    const u64 r = x - mul_hi(x, m_ratio_hi) * m_value;
    return r >= m_value ? r - m_value : r;
  }

  /// x mod q for any 128-bit x. The quotient estimate floor(x * floor(2^128/q) / 2^128) is exact or
  /// one short; the arithmetic below is that product's top word, computed modulo 2^64, which is all
  /// the remainder x - estimate*q (a value below 2q) needs.
  [[nodiscard]] constexpr u64 reduce(u128 x) const noexcept {
    const u64 x0 = static_cast<u64>(x), x1 = static_cast<u64>(x >> 64);
    const u128 p01 = static_cast<u128>(x0) * m_ratio_hi;
    const u128 p10 = static_cast<u128>(x1) * m_ratio_lo;
    const u128 mid = static_cast<u128>(mul_hi(x0, m_ratio_lo)) + static_cast<u64>(p01) + static_cast<u64>(p10);
    const u64 quotient = x1 * m_ratio_hi + static_cast<u64>(p01 >> 64) + static_cast<u64>(p10 >> 64) +
                         static_cast<u64>(mid >> 64);
    const u64 r = x0 - quotient * m_value;
    return r >= m_value ? r - m_value : r;
  }

  /// Moduli are equal when their values are.
  friend constexpr bool operator==(const modulus& a, const modulus& b) noexcept { return a.m_value == b.m_value; }

private:
  u64 m_value;
  u64 m_ratio_lo = 0;
  u64 m_ratio_hi = 0;
};

/// (a + b) mod q for a, b in [0, q).
[[nodiscard]] constexpr u64 add_mod(u64 a, u64 b, u64 q) noexcept {
  const u64 s = a + b;
  return s >= q ? s - q : s;
}

/// (a - b) mod q for a, b in [0, q).
[[nodiscard]] constexpr u64 sub_mod(u64 a, u64 b, u64 q) noexcept { return a >= b ? a - b : a + q - b; }

/// (-a) mod q for a in [0, q).
[[nodiscard]] constexpr u64 neg_mod(u64 a, u64 q) noexcept { return a == 0 ? 0 : q - a; }

/// (a * b) mod q for any a, b whose product is below 2^128 (always true for 64-bit words).
[[nodiscard]] constexpr u64 mul_mod(u64 a, u64 b, const modulus& q) noexcept {
  return q.reduce(static_cast<u128>(a) * b);
}

/// Shoup's constant w' = floor(w * 2^64 / q) for a fixed multiplicand w in [0, q).
[[nodiscard]] constexpr u64 shoup_precompute(u64 w, u64 q) noexcept {
  return static_cast<u64>((static_cast<u128>(w) << 64) / q);
}

/// x * w mod q in [0, 2q) for any 64-bit x, given w' = shoup_precompute(w, q) (Harvey 2014, Alg. 2).
[[nodiscard]] constexpr u64 mul_shoup_lazy(u64 x, u64 w, u64 w_shoup, u64 q) noexcept {
  return x * w - mul_hi(x, w_shoup) * q;
}

/// x * w mod q in [0, q) for any 64-bit x, given w' = shoup_precompute(w, q).
[[nodiscard]] constexpr u64 mul_shoup(u64 x, u64 w, u64 w_shoup, u64 q) noexcept {
  const u64 r = mul_shoup_lazy(x, w, w_shoup, q);
  return r >= q ? r - q : r;
}

/// base^exponent mod q by square-and-multiply.
[[nodiscard]] constexpr u64 pow_mod(u64 base, u64 exponent, const modulus& q) noexcept {
  u64 result = q.value() == 1 ? 0 : 1;
  base = q.reduce(base);
  while (exponent != 0) {
    if (exponent & 1) result = mul_mod(result, base, q);
    base = mul_mod(base, base, q);
    exponent >>= 1;
  }
  return result;
}

/// The inverse of a modulo q by the extended Euclidean algorithm.
/// @throws hefl::invalid_argument if a has no inverse modulo q (gcd(a, q) != 1).
/// @throws hefl::invalid_argument if q < 2.
[[nodiscard]] constexpr u64 inv_mod(u64 a, u64 q) {
  if (q < 2) throw invalid_argument("ckks::inv_mod: modulus must be at least 2, got " + std::to_string(q));
  // Signed 128-bit Bezout coefficients stay bounded by q, so no overflow.
  i128 old_r = static_cast<i128>(a % q), r = q, old_s = 1, s = 0;
  while (r != 0) {
    const i128 quotient = old_r / r;
    const i128 next_r = old_r - quotient * r;
    old_r = r;
    r = next_r;
    const i128 next_s = old_s - quotient * s;
    old_s = s;
    s = next_s;
  }
  if (old_r != 1)
    throw invalid_argument("ckks::inv_mod: " + std::to_string(a) + " is not invertible modulo " + std::to_string(q));
  i128 result = old_s % static_cast<i128>(q);
  if (result < 0) result += q;
  return static_cast<u64>(result);
}

} // namespace hefl::he::ckks::detail
