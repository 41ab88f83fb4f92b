#pragma once
/// @file
/// AVX-512 IFMA modular arithmetic on eight 64-bit lanes for primes q < 2^50, the building blocks of
/// the IFMA NTT and the element-wise kernels. vpmadd52{lo,hi}uq multiply the low 52 bits of two lanes
/// and add the low or high 52 bits of the 104-bit product to a third lane, so the word size of
/// Shoup's and Barrett's methods becomes 2^52 instead of 2^64:
/// - Shoup with w' = floor(w * 2^52 / q) gives x*w mod q in [0, 2q) for any x < 2^52 (D. Harvey,
///   "Faster arithmetic for number-theoretic transforms", J. Symb. Comp. 2014, with beta = 2^52).
/// - Barrett with n = bit length of q and mu = floor(2^(n+51) / q): for x = a*b < q^2 the estimate
///   floor(floor(x / 2^(n-1)) * mu / 2^52) is at most two short of floor(x / q) (P. Barrett, CRYPTO
///   1986; A. Menezes et al., Handbook of Applied Cryptography, Alg. 14.42), so the remainder lies
///   in [0, 3q) and two conditional subtractions finish it.
/// The same approach as Intel HEXL (F. Boemer et al., "Intel HEXL: Accelerating Homomorphic Encryption
/// with Intel AVX512-IFMA52", WAHC 2021). Every function here carries the target attribute, so the
/// library builds without -mavx512 flags; callers reach them only after detail::use_ifma().

#include <hefl/he/ckks/detail/cpu_features.hpp>
#include <hefl/he/ckks/detail/modarith.hpp>

#include <cstddef>

#if HEFL_CKKS_HAVE_IFMA_KERNELS
#include <immintrin.h>

/// Compiles a function for AVX-512 F/DQ/VL/IFMA whatever the global flags.
#define HEFL_IFMA_TARGET __attribute__((target("avx512f,avx512ifma,avx512dq,avx512vl")))
/// As HEFL_IFMA_TARGET, for the small vector helpers that must inline into the kernels.
#define HEFL_IFMA_INLINE inline __attribute__((target("avx512f,avx512ifma,avx512dq,avx512vl"), always_inline))
/// HEFL_IFMA_TARGET for a lambda inside a kernel (written after its parameter list).
#define HEFL_IFMA_TARGET_LAMBDA __attribute__((target("avx512f,avx512ifma,avx512dq,avx512vl")))
#endif

namespace hefl::he::ckks::detail {

/// Primes below this bound take the IFMA kernels: the lazy NTT keeps values in [0, 4q), and the
/// 52-bit multipliers need them below 2^52.
inline constexpr u64 ifma_modulus_bound = u64{1} << 50;

/// Shoup's constant for the 52-bit word: floor(w * 2^52 / q) = floor(floor(w * 2^64 / q) / 2^12).
[[nodiscard]] constexpr u64 shoup52_from_shoup64(u64 w_shoup) noexcept { return w_shoup >> 12; }

/// The constants of 52-bit Barrett multiplication modulo q < 2^50.
struct barrett52 {
  u64 q = 0;
  int shift = 0; ///< bit length of q minus one
  u64 mu = 0;    ///< floor(2^(shift + 52) / q), below 2^52
  explicit constexpr barrett52(u64 modulus) noexcept : q(modulus) {
    int bits = 0;
    while (bits < 64 && (modulus >> bits) != 0) ++bits;
    shift = bits - 1;
    mu = static_cast<u64>((u128{1} << (shift + 52)) / modulus);
  }
};

#if HEFL_CKKS_HAVE_IFMA_KERNELS
// GCC 12 reports its own _mm512_undefined_epi32() (inside _mm512_min_epu64 and others) as maybe
// uninitialized once inlined here (GCC bug 105593); the value is never read.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
namespace ifma {

/// Low 52 bits of every lane.
HEFL_IFMA_INLINE __m512i mask52() { return _mm512_set1_epi64(static_cast<long long>((u64{1} << 52) - 1)); }

/// x - c if x >= c, else x (lanes below 2^63 + c): the unsigned minimum of x and x - c.
HEFL_IFMA_INLINE __m512i reduce_once(__m512i x, __m512i c) { return _mm512_min_epu64(x, _mm512_sub_epi64(x, c)); }

/// (x - y) mod q for lanes x, y in [0, q): x - y wraps above 2^63 exactly when x < y, and then
/// x - y + q is the smaller of the two.
HEFL_IFMA_INLINE __m512i sub_mod(__m512i x, __m512i y, __m512i q) {
  const __m512i d = _mm512_sub_epi64(x, y);
  return _mm512_min_epu64(d, _mm512_add_epi64(d, q));
}

/// x * w mod q in [0, 2q) for lanes x < 2^52, w < q < 2^51, w52 = floor(w * 2^52 / q);
/// neg_q holds -q (its low 52 bits are 2^52 - q).
HEFL_IFMA_INLINE __m512i mul_shoup_lazy(__m512i x, __m512i w, __m512i w52, __m512i neg_q) {
  const __m512i zero = _mm512_setzero_si512();
  const __m512i quotient = _mm512_madd52hi_epu64(zero, w52, x);
  __m512i r = _mm512_madd52lo_epu64(zero, w, x);
  r = _mm512_madd52lo_epu64(r, quotient, neg_q); // w*x - quotient*q modulo 2^52, below 2q
  return _mm512_and_si512(r, mask52());
}

/// a * b mod q in [0, q) for lanes a, b < q < 2^50 (Barrett, constants from barrett52).
HEFL_IFMA_INLINE __m512i mul_barrett(__m512i a, __m512i b, __m512i q, __m512i neg_q, __m512i mu, __m128i shift_right,
                                     __m128i shift_left) {
  const __m512i zero = _mm512_setzero_si512();
  const __m512i lo = _mm512_madd52lo_epu64(zero, a, b);
  const __m512i hi = _mm512_madd52hi_epu64(zero, a, b);
  // floor(a*b / 2^shift) < 2^(shift+2) <= 2^51: the bits of hi and lo do not overlap.
  const __m512i top = _mm512_or_si512(_mm512_maskz_sll_epi64(0xFF, hi, shift_left),
                                        _mm512_maskz_srl_epi64(0xFF, lo, shift_right));
  const __m512i estimate = _mm512_madd52hi_epu64(zero, top, mu);
  __m512i r = _mm512_and_si512(_mm512_madd52lo_epu64(lo, estimate, neg_q), mask52()); // in [0, 3q)
  r = reduce_once(r, q);
  return reduce_once(r, q);
}

/// out[j] = a[j] * b[j] mod q for a, b in [0, q), q < 2^50; out may alias a or b.
HEFL_IFMA_TARGET inline void multiply(u64* out, const u64* a, const u64* b, std::size_t n, const barrett52& c) {
  const __m512i q = _mm512_set1_epi64(static_cast<long long>(c.q));
  const __m512i neg_q = _mm512_set1_epi64(-static_cast<long long>(c.q));
  const __m512i mu = _mm512_set1_epi64(static_cast<long long>(c.mu));
  const __m128i right = _mm_cvtsi32_si128(c.shift), left = _mm_cvtsi32_si128(52 - c.shift);
  std::size_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m512i x = _mm512_loadu_si512(a + j), y = _mm512_loadu_si512(b + j);
    _mm512_storeu_si512(out + j, mul_barrett(x, y, q, neg_q, mu, right, left));
  }
  if (j < n) {
    const __mmask8 m = static_cast<__mmask8>((1u << (n - j)) - 1);
    const __m512i x = _mm512_maskz_loadu_epi64(m, a + j), y = _mm512_maskz_loadu_epi64(m, b + j);
    _mm512_mask_storeu_epi64(out + j, m, mul_barrett(x, y, q, neg_q, mu, right, left));
  }
}

/// acc[j] = (acc[j] + a[j] * b[j]) mod q for acc, a, b in [0, q), q < 2^50.
HEFL_IFMA_TARGET inline void multiply_add(u64* acc, const u64* a, const u64* b, std::size_t n, const barrett52& c) {
  const __m512i q = _mm512_set1_epi64(static_cast<long long>(c.q));
  const __m512i neg_q = _mm512_set1_epi64(-static_cast<long long>(c.q));
  const __m512i mu = _mm512_set1_epi64(static_cast<long long>(c.mu));
  const __m128i right = _mm_cvtsi32_si128(c.shift), left = _mm_cvtsi32_si128(52 - c.shift);
  std::size_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m512i x = _mm512_loadu_si512(a + j), y = _mm512_loadu_si512(b + j);
    const __m512i s = _mm512_add_epi64(_mm512_loadu_si512(acc + j), mul_barrett(x, y, q, neg_q, mu, right, left));
    _mm512_storeu_si512(acc + j, reduce_once(s, q));
  }
  if (j < n) {
    const __mmask8 m = static_cast<__mmask8>((1u << (n - j)) - 1);
    const __m512i x = _mm512_maskz_loadu_epi64(m, a + j), y = _mm512_maskz_loadu_epi64(m, b + j);
    const __m512i s =
        _mm512_add_epi64(_mm512_maskz_loadu_epi64(m, acc + j), mul_barrett(x, y, q, neg_q, mu, right, left));
    _mm512_mask_storeu_epi64(acc + j, m, reduce_once(s, q));
  }
}

/// out[j] = a[j] * w mod q for a in [0, q), a constant w < q < 2^50 and w52 = floor(w * 2^52 / q).
HEFL_IFMA_TARGET inline void multiply_constant(u64* out, const u64* a, u64 w, u64 w52, std::size_t n, u64 modulus) {
  const __m512i q = _mm512_set1_epi64(static_cast<long long>(modulus));
  const __m512i neg_q = _mm512_set1_epi64(-static_cast<long long>(modulus));
  const __m512i vw = _mm512_set1_epi64(static_cast<long long>(w)), vw52 = _mm512_set1_epi64(static_cast<long long>(w52));
  std::size_t j = 0;
  for (; j + 8 <= n; j += 8)
    _mm512_storeu_si512(out + j, reduce_once(mul_shoup_lazy(_mm512_loadu_si512(a + j), vw, vw52, neg_q), q));
  if (j < n) {
    const __mmask8 m = static_cast<__mmask8>((1u << (n - j)) - 1);
    _mm512_mask_storeu_epi64(out + j, m,
                             reduce_once(mul_shoup_lazy(_mm512_maskz_loadu_epi64(m, a + j), vw, vw52, neg_q), q));
  }
}

/// out[j] = (x[j] - t[j]) * w mod q for x in [0, q), t in [0, 4q) (a lazy NTT output), a constant
/// w < q < 2^50 and w52 = floor(w * 2^52 / q): the last step of a rescale in NTT form.
HEFL_IFMA_TARGET inline void subtract_lazy_multiply_constant(u64* out, const u64* x, const u64* t, u64 w, u64 w52,
                                                             std::size_t n, u64 modulus) {
  const __m512i q = _mm512_set1_epi64(static_cast<long long>(modulus));
  const __m512i two_q = _mm512_set1_epi64(static_cast<long long>(2 * modulus));
  const __m512i neg_q = _mm512_set1_epi64(-static_cast<long long>(modulus));
  const __m512i vw = _mm512_set1_epi64(static_cast<long long>(w)), vw52 = _mm512_set1_epi64(static_cast<long long>(w52));
  for (std::size_t j = 0; j < n; j += 8) {
    const __mmask8 m = n - j >= 8 ? __mmask8{0xFF} : static_cast<__mmask8>((1u << (n - j)) - 1);
    const __m512i vx = _mm512_maskz_loadu_epi64(m, x + j), vt = _mm512_maskz_loadu_epi64(m, t + j);
    const __m512i d = _mm512_sub_epi64(_mm512_add_epi64(vx, two_q), reduce_once(vt, two_q)); // < 3q
    _mm512_mask_storeu_epi64(out + j, m, reduce_once(mul_shoup_lazy(d, vw, vw52, neg_q), q));
  }
}

/// out[j] = (a[j] - c) mod q for a in [0, q) and a constant c in [0, q), q < 2^63.
HEFL_IFMA_TARGET inline void subtract_constant(u64* out, const u64* a, u64 c, std::size_t n, u64 modulus) {
  const __m512i q = _mm512_set1_epi64(static_cast<long long>(modulus));
  const __m512i vc = _mm512_set1_epi64(static_cast<long long>(c));
  std::size_t j = 0;
  for (; j + 8 <= n; j += 8) _mm512_storeu_si512(out + j, sub_mod(_mm512_loadu_si512(a + j), vc, q));
  if (j < n) {
    const __mmask8 m = static_cast<__mmask8>((1u << (n - j)) - 1);
    _mm512_mask_storeu_epi64(out + j, m, sub_mod(_mm512_maskz_loadu_epi64(m, a + j), vc, q));
  }
}

/// out[j] = a[j] > half ? a[j] + shift : a[j] (modulo 2^64).
HEFL_IFMA_TARGET inline void lift_centered(u64* out, const u64* a, u64 half, u64 shift, std::size_t n) {
  const __m512i vh = _mm512_set1_epi64(static_cast<long long>(half));
  const __m512i vs = _mm512_set1_epi64(static_cast<long long>(shift));
  for (std::size_t j = 0; j < n; j += 8) {
    const __mmask8 m = n - j >= 8 ? __mmask8{0xFF} : static_cast<__mmask8>((1u << (n - j)) - 1);
    const __m512i x = _mm512_maskz_loadu_epi64(m, a + j);
    const __mmask8 negative = _mm512_cmpgt_epu64_mask(x, vh);
    _mm512_mask_storeu_epi64(out + j, m, _mm512_mask_add_epi64(x, negative, x, vs));
  }
}

/// Constants of dot_product2 for one prime q < 2^50.
struct dot_constants {
  u64 q = 0;
  u64 r = 0, r52 = 0;         ///< 2^52 mod q and its 52-bit Shoup constant
  u64 one52 = 0;              ///< floor(2^52 / q): Shoup's constant of 1
  std::size_t fold_every = 0; ///< terms that may be summed before the sums are folded below q
  explicit constexpr dot_constants(u64 modulus) noexcept : q(modulus) {
    r = static_cast<u64>((u128{1} << 52) % modulus);
    r52 = static_cast<u64>((static_cast<u128>(r) << 52) / modulus);
    one52 = static_cast<u64>((u128{1} << 52) / modulus);
    // A term adds below 2^52 to the low sum and at most hi = floor((4q - 1)(q - 1) / 2^52) to the
    // high one; the fold needs high + carries < 2^52, and the low sum must stay below 2^64.
    const u128 hi = static_cast<u128>(4 * modulus - 1) * (modulus - 1) >> 52;
    const u128 limit = ((u128{1} << 52) - 4096) / (hi + 1);
    fold_every = static_cast<std::size_t>(limit < 4095 ? limit : 4095);
  }
};

/// (h * 2^52 + l) mod q for lanes h < 2^52 and l < 2^52.
HEFL_IFMA_INLINE __m512i fold52(__m512i h, __m512i l, __m512i q, __m512i two_q, __m512i neg_q, __m512i r, __m512i r52,
                                __m512i one, __m512i one52) {
  const __m512i s = _mm512_add_epi64(mul_shoup_lazy(h, r, r52, neg_q), mul_shoup_lazy(l, one, one52, neg_q)); // < 4q
  return reduce_once(reduce_once(s, two_q), q);
}

/// out0[k] = sum_t x_t[k] * b_t[k] mod q and out1[k] = sum_t x_t[k] * a_t[k] mod q for k < n, over
/// @p terms triples with x_t in [0, 4q) (lazy NTT values) and b_t, a_t in [0, q), q < 2^50: the two
/// inner products of key switching. The 104-bit products are summed as separate low and high 52-bit
/// halves (vpmadd52luq / vpmadd52huq), folded below q every c.fold_every terms. Blocks of 256
/// coefficients keep their four sums in L1 while the terms go by one at a time, so only three
/// arrays stream at once (the key parts come from memory; many concurrent streams defeat the
/// hardware prefetchers).
HEFL_IFMA_TARGET inline void dot_product2(u64* out0, u64* out1, const u64* const* x, const u64* const* b,
                                          const u64* const* a, std::size_t terms, std::size_t n,
                                          const dot_constants& c) {
  const __m512i q = _mm512_set1_epi64(static_cast<long long>(c.q));
  const __m512i two_q = _mm512_set1_epi64(static_cast<long long>(2 * c.q));
  const __m512i neg_q = _mm512_set1_epi64(-static_cast<long long>(c.q));
  const __m512i r = _mm512_set1_epi64(static_cast<long long>(c.r)), r52 = _mm512_set1_epi64(static_cast<long long>(c.r52));
  const __m512i one = _mm512_set1_epi64(1), one52 = _mm512_set1_epi64(static_cast<long long>(c.one52));
  const __m512i mask = mask52();
  const __m512i zero = _mm512_setzero_si512();
  // Lanes (h, l) hold h * 2^52 + l; folding moves the carries of l into h first.
  const auto fold = [&](__m512i h, __m512i l) HEFL_IFMA_TARGET_LAMBDA {
    return fold52(_mm512_add_epi64(h, _mm512_maskz_srli_epi64(0xFF, l, 52)), _mm512_and_si512(l, mask), q, two_q, neg_q, r, r52,
                  one, one52);
  };
  constexpr std::size_t block = 256;
  alignas(64) u64 lo0[block], hi0[block], lo1[block], hi1[block];
  for (std::size_t k0 = 0; k0 < n; k0 += block) {
    const std::size_t len = n - k0 < block ? n - k0 : block;
    const std::size_t vectors = (len + 7) / 8;
    const auto lane_mask = [&](std::size_t v) HEFL_IFMA_TARGET_LAMBDA {
      const std::size_t left = len - 8 * v;
      return left >= 8 ? __mmask8{0xFF} : static_cast<__mmask8>((1u << left) - 1);
    };
    for (std::size_t v = 0; v < vectors; ++v) {
      _mm512_store_si512(lo0 + 8 * v, zero);
      _mm512_store_si512(hi0 + 8 * v, zero);
      _mm512_store_si512(lo1 + 8 * v, zero);
      _mm512_store_si512(hi1 + 8 * v, zero);
    }
    std::size_t since_fold = 0;
    for (std::size_t t = 0; t < terms; ++t) {
      if (since_fold == c.fold_every) {
        for (std::size_t v = 0; v < vectors; ++v) {
          _mm512_store_si512(lo0 + 8 * v, fold(_mm512_load_si512(hi0 + 8 * v), _mm512_load_si512(lo0 + 8 * v)));
          _mm512_store_si512(lo1 + 8 * v, fold(_mm512_load_si512(hi1 + 8 * v), _mm512_load_si512(lo1 + 8 * v)));
          _mm512_store_si512(hi0 + 8 * v, zero);
          _mm512_store_si512(hi1 + 8 * v, zero);
        }
        since_fold = 0;
      }
      const u64* xt = x[t] + k0;
      const u64* bt = b[t] + k0;
      const u64* at = a[t] + k0;
      for (std::size_t v = 0; v < vectors; ++v) {
        const __mmask8 m = lane_mask(v);
        const __m512i vx = _mm512_maskz_loadu_epi64(m, xt + 8 * v);
        const __m512i vb = _mm512_maskz_loadu_epi64(m, bt + 8 * v);
        const __m512i va = _mm512_maskz_loadu_epi64(m, at + 8 * v);
        _mm512_store_si512(lo0 + 8 * v, _mm512_madd52lo_epu64(_mm512_load_si512(lo0 + 8 * v), vx, vb));
        _mm512_store_si512(hi0 + 8 * v, _mm512_madd52hi_epu64(_mm512_load_si512(hi0 + 8 * v), vx, vb));
        _mm512_store_si512(lo1 + 8 * v, _mm512_madd52lo_epu64(_mm512_load_si512(lo1 + 8 * v), vx, va));
        _mm512_store_si512(hi1 + 8 * v, _mm512_madd52hi_epu64(_mm512_load_si512(hi1 + 8 * v), vx, va));
      }
      ++since_fold;
    }
    for (std::size_t v = 0; v < vectors; ++v) {
      const __mmask8 m = lane_mask(v);
      _mm512_mask_storeu_epi64(out0 + k0 + 8 * v, m, fold(_mm512_load_si512(hi0 + 8 * v), _mm512_load_si512(lo0 + 8 * v)));
      _mm512_mask_storeu_epi64(out1 + k0 + 8 * v, m, fold(_mm512_load_si512(hi1 + 8 * v), _mm512_load_si512(lo1 + 8 * v)));
    }
  }
}

/// out[j] = (a[j] + b[j]) mod q for a, b in [0, q), q < 2^63.
HEFL_IFMA_TARGET inline void add(u64* out, const u64* a, const u64* b, std::size_t n, u64 modulus) {
  const __m512i q = _mm512_set1_epi64(static_cast<long long>(modulus));
  std::size_t j = 0;
  for (; j + 8 <= n; j += 8)
    _mm512_storeu_si512(out + j, reduce_once(_mm512_add_epi64(_mm512_loadu_si512(a + j), _mm512_loadu_si512(b + j)), q));
  if (j < n) {
    const __mmask8 m = static_cast<__mmask8>((1u << (n - j)) - 1);
    const __m512i s = _mm512_add_epi64(_mm512_maskz_loadu_epi64(m, a + j), _mm512_maskz_loadu_epi64(m, b + j));
    _mm512_mask_storeu_epi64(out + j, m, reduce_once(s, q));
  }
}

/// out[j] = (a[j] - b[j]) mod q for a, b in [0, q), q < 2^63.
HEFL_IFMA_TARGET inline void subtract(u64* out, const u64* a, const u64* b, std::size_t n, u64 modulus) {
  const __m512i q = _mm512_set1_epi64(static_cast<long long>(modulus));
  std::size_t j = 0;
  for (; j + 8 <= n; j += 8)
    _mm512_storeu_si512(out + j, sub_mod(_mm512_loadu_si512(a + j), _mm512_loadu_si512(b + j), q));
  if (j < n) {
    const __mmask8 m = static_cast<__mmask8>((1u << (n - j)) - 1);
    _mm512_mask_storeu_epi64(out + j, m,
                             sub_mod(_mm512_maskz_loadu_epi64(m, a + j), _mm512_maskz_loadu_epi64(m, b + j), q));
  }
}

/// out[j] = sum_k rows[k][j] * w[k] mod q for rows below 2^52, constants w[k] < q < 2^50 and
/// w52[k] = floor(w[k] * 2^52 / q): the fast basis conversion of hybrid key switching. The running
/// sum stays below 2q (each lazy product is below 2q, folded after every addition).
HEFL_IFMA_TARGET inline void weighted_sum(u64* out, const u64* const* rows, const u64* w, const u64* w52,
                                          std::size_t count, std::size_t n, u64 modulus) {
  const __m512i q = _mm512_set1_epi64(static_cast<long long>(modulus));
  const __m512i two_q = _mm512_set1_epi64(static_cast<long long>(2 * modulus));
  const __m512i neg_q = _mm512_set1_epi64(-static_cast<long long>(modulus));
  for (std::size_t j = 0; j < n; j += 8) {
    const __mmask8 m = n - j >= 8 ? static_cast<__mmask8>(0xFF) : static_cast<__mmask8>((1u << (n - j)) - 1);
    __m512i s = _mm512_setzero_si512();
    for (std::size_t k = 0; k < count; ++k) {
      const __m512i x = _mm512_maskz_loadu_epi64(m, rows[k] + j);
      const __m512i p = mul_shoup_lazy(x, _mm512_set1_epi64(static_cast<long long>(w[k])),
                                       _mm512_set1_epi64(static_cast<long long>(w52[k])), neg_q);
      s = reduce_once(_mm512_add_epi64(s, p), two_q);
    }
    _mm512_mask_storeu_epi64(out + j, m, reduce_once(s, q));
  }
}

} // namespace ifma
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

} // namespace hefl::he::ckks::detail
