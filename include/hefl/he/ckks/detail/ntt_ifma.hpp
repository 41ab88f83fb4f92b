#pragma once
/// @file
/// The negacyclic NTT of ntt.hpp on AVX-512 IFMA for primes q < 2^50 and N >= 16: the same
/// Cooley-Tukey / Gentleman-Sande stages with merged twisting (Longa-Naehrig, CANS 2016) and Harvey's
/// lazy butterflies (values in [0, 4q) forward, [0, 2q) inverse), eight butterflies per instruction,
/// with the twiddle products done by 52-bit Shoup multiplication (see ifma_arith.hpp). The last three
/// forward stages (and first three inverse ones) have butterfly distances 4, 2, 1 inside one
/// register; two registers are regrouped with vpermt2q so every lane pair is a butterfly, as Intel HEXL
/// does. Outputs are the same residues as the portable transform (the fully reduced ones equal it
/// word for word; the lazy ones are congruent and in the same range).

#include <hefl/he/ckks/detail/ifma_arith.hpp>

#include <cstddef>

#if HEFL_CKKS_HAVE_IFMA_KERNELS
// GCC 12 reports its own _mm512_undefined_epi32() (inside _mm512_min_epu64 and others) as maybe
// uninitialized once inlined here (GCC bug 105593); the value is never read.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
namespace hefl::he::ckks::detail::ifma {

/// Twiddles of one transform: the powers of psi (or psi^-1) in bit-reversed order with their 52-bit
/// Shoup constants, as ntt_tables stores them.
struct ntt_twiddles {
  const u64* roots;
  const u64* roots52;
};

/// Cooley-Tukey butterfly on lanes: x in [0, 4q) -> x + w*y, y in [0, 4q) -> x - w*y, both in [0, 4q).
HEFL_IFMA_INLINE void forward_butterfly(__m512i& x, __m512i& y, __m512i w, __m512i w52, __m512i two_q, __m512i neg_q) {
  const __m512i u = reduce_once(x, two_q);
  const __m512i v = mul_shoup_lazy(y, w, w52, neg_q);
  x = _mm512_add_epi64(u, v);
  y = _mm512_add_epi64(_mm512_sub_epi64(u, v), two_q);
}

/// Gentleman-Sande butterfly on lanes: x, y in [0, 2q) -> x + y and (x - y)*w, both in [0, 2q).
HEFL_IFMA_INLINE void inverse_butterfly(__m512i& x, __m512i& y, __m512i w, __m512i w52, __m512i two_q, __m512i neg_q) {
  const __m512i s = _mm512_add_epi64(x, y);
  const __m512i d = _mm512_sub_epi64(_mm512_add_epi64(x, two_q), y);
  x = reduce_once(s, two_q);
  y = mul_shoup_lazy(d, w, w52, neg_q);
}

/// Index vectors for vpermt2q (entries 8..15 pick from the second register).
HEFL_IFMA_INLINE __m512i lanes(long long a, long long b, long long c, long long d, long long e, long long f, long long g,
                               long long h) {
  return _mm512_set_epi64(h, g, f, e, d, c, b, a);
}

/// One stage whose butterfly distance t is 4, 2 or 1 (groups of 2t words, twiddle w[i] for group i):
/// each step loads 16 words, that is 8 / t groups, gathers the x and y sides of their eight
/// butterflies into two registers (take_x, take_y), and scatters the results back (put_lo, put_hi);
/// spread copies each group's twiddle to its lanes.
template <bool Forward>
HEFL_IFMA_INLINE void narrow_stage(u64* a, std::size_t n, std::size_t t, const u64* w, const u64* w52, __m512i two_q,
                                   __m512i neg_q) {
  __m512i take_x, take_y, put_lo, put_hi, spread;
  if (t == 4) {
    take_x = lanes(0, 1, 2, 3, 8, 9, 10, 11);
    take_y = lanes(4, 5, 6, 7, 12, 13, 14, 15);
    put_lo = take_x;
    put_hi = take_y;
    spread = lanes(0, 0, 0, 0, 1, 1, 1, 1);
  } else if (t == 2) {
    take_x = lanes(0, 1, 4, 5, 8, 9, 12, 13);
    take_y = lanes(2, 3, 6, 7, 10, 11, 14, 15);
    put_lo = lanes(0, 1, 8, 9, 2, 3, 10, 11);
    put_hi = lanes(4, 5, 12, 13, 6, 7, 14, 15);
    spread = lanes(0, 0, 1, 1, 2, 2, 3, 3);
  } else {
    take_x = lanes(0, 2, 4, 6, 8, 10, 12, 14);
    take_y = lanes(1, 3, 5, 7, 9, 11, 13, 15);
    put_lo = lanes(0, 8, 1, 9, 2, 10, 3, 11);
    put_hi = lanes(4, 12, 5, 13, 6, 14, 7, 15);
    spread = lanes(0, 1, 2, 3, 4, 5, 6, 7);
  }
  const std::size_t groups_per_step = 8 / t;
  const __mmask8 twiddle_mask = static_cast<__mmask8>((1u << groups_per_step) - 1);
  for (std::size_t k = 0, g = 0; k < n; k += 16, g += groups_per_step) {
    const __m512i lo = _mm512_loadu_si512(a + k), hi = _mm512_loadu_si512(a + k + 8);
    __m512i x = _mm512_permutex2var_epi64(lo, take_x, hi);
    __m512i y = _mm512_permutex2var_epi64(lo, take_y, hi);
    const __m512i vw = _mm512_permutexvar_epi64(spread, _mm512_maskz_loadu_epi64(twiddle_mask, w + g));
    const __m512i vw52 = _mm512_permutexvar_epi64(spread, _mm512_maskz_loadu_epi64(twiddle_mask, w52 + g));
    if constexpr (Forward) forward_butterfly(x, y, vw, vw52, two_q, neg_q);
    else inverse_butterfly(x, y, vw, vw52, two_q, neg_q);
    _mm512_storeu_si512(a + k, _mm512_permutex2var_epi64(x, put_lo, y));
    _mm512_storeu_si512(a + k + 8, _mm512_permutex2var_epi64(x, put_hi, y));
  }
}

/// In-place forward transform of @p a (N >= 16 words in [0, 4q)), output in [0, 4q); q < 2^50.
HEFL_IFMA_TARGET inline void forward_lazy(u64* a, std::size_t n, u64 q, ntt_twiddles tw) {
  const __m512i two_q = _mm512_set1_epi64(static_cast<long long>(2 * q));
  const __m512i neg_q = _mm512_set1_epi64(-static_cast<long long>(q));
  std::size_t t = n;
  for (std::size_t m = 1; m < n; m <<= 1) {
    t >>= 1;
    if (t < 8) {
      narrow_stage<true>(a, n, t, tw.roots + m, tw.roots52 + m, two_q, neg_q);
      continue;
    }
    for (std::size_t i = 0; i < m; ++i) {
      u64* x = a + 2 * i * t;
      u64* y = x + t;
      const __m512i w = _mm512_set1_epi64(static_cast<long long>(tw.roots[m + i]));
      const __m512i w52 = _mm512_set1_epi64(static_cast<long long>(tw.roots52[m + i]));
      for (std::size_t j = 0; j < t; j += 8) {
        __m512i vx = _mm512_loadu_si512(x + j), vy = _mm512_loadu_si512(y + j);
        forward_butterfly(vx, vy, w, w52, two_q, neg_q);
        _mm512_storeu_si512(x + j, vx);
        _mm512_storeu_si512(y + j, vy);
      }
    }
  }
}

/// In-place inverse transform of @p a (N >= 16 words in [0, 2q)) including the factor N^-1, output
/// in [0, 2q); q < 2^50. The last stage multiplies x + y by N^-1 and x - y by @p last (psi^-1 times
/// N^-1), with 52-bit Shoup constants @p degree_inv52 and @p last52.
HEFL_IFMA_TARGET inline void inverse_lazy(u64* a, std::size_t n, u64 q, ntt_twiddles tw, u64 degree_inv,
                                          u64 degree_inv52, u64 last, u64 last52) {
  const __m512i two_q = _mm512_set1_epi64(static_cast<long long>(2 * q));
  const __m512i neg_q = _mm512_set1_epi64(-static_cast<long long>(q));
  std::size_t t = 1;
  for (std::size_t m = n; m > 2; m >>= 1) {
    const std::size_t h = m >> 1;
    if (t < 8) {
      narrow_stage<false>(a, n, t, tw.roots + h, tw.roots52 + h, two_q, neg_q);
    } else {
      for (std::size_t i = 0; i < h; ++i) {
        u64* x = a + 2 * i * t;
        u64* y = x + t;
        const __m512i w = _mm512_set1_epi64(static_cast<long long>(tw.roots[h + i]));
        const __m512i w52 = _mm512_set1_epi64(static_cast<long long>(tw.roots52[h + i]));
        for (std::size_t j = 0; j < t; j += 8) {
          __m512i vx = _mm512_loadu_si512(x + j), vy = _mm512_loadu_si512(y + j);
          inverse_butterfly(vx, vy, w, w52, two_q, neg_q);
          _mm512_storeu_si512(x + j, vx);
          _mm512_storeu_si512(y + j, vy);
        }
      }
    }
    t <<= 1;
  }
  const __m512i wn = _mm512_set1_epi64(static_cast<long long>(degree_inv));
  const __m512i wn52 = _mm512_set1_epi64(static_cast<long long>(degree_inv52));
  const __m512i wl = _mm512_set1_epi64(static_cast<long long>(last));
  const __m512i wl52 = _mm512_set1_epi64(static_cast<long long>(last52));
  u64* x = a;
  u64* y = a + t;
  for (std::size_t j = 0; j < t; j += 8) {
    const __m512i vx = _mm512_loadu_si512(x + j), vy = _mm512_loadu_si512(y + j);
    const __m512i s = _mm512_add_epi64(vx, vy);                           // < 4q
    const __m512i d = _mm512_sub_epi64(_mm512_add_epi64(vx, two_q), vy); // < 4q
    _mm512_storeu_si512(x + j, mul_shoup_lazy(s, wn, wn52, neg_q));
    _mm512_storeu_si512(y + j, mul_shoup_lazy(d, wl, wl52, neg_q));
  }
}

/// a[j] mod q for a[j] in [0, 4q) (n a multiple of 8).
HEFL_IFMA_TARGET inline void reduce_from_4q(u64* a, std::size_t n, u64 q) {
  const __m512i vq = _mm512_set1_epi64(static_cast<long long>(q));
  const __m512i two_q = _mm512_set1_epi64(static_cast<long long>(2 * q));
  for (std::size_t j = 0; j < n; j += 8)
    _mm512_storeu_si512(a + j, reduce_once(reduce_once(_mm512_loadu_si512(a + j), two_q), vq));
}

/// a[j] mod q for a[j] in [0, 2q) (n a multiple of 8).
HEFL_IFMA_TARGET inline void reduce_from_2q(u64* a, std::size_t n, u64 q) {
  const __m512i vq = _mm512_set1_epi64(static_cast<long long>(q));
  for (std::size_t j = 0; j < n; j += 8) _mm512_storeu_si512(a + j, reduce_once(_mm512_loadu_si512(a + j), vq));
}

/// forward_lazy followed by reduce_from_4q, in one call.
HEFL_IFMA_TARGET inline void forward(u64* a, std::size_t n, u64 q, ntt_twiddles tw) {
  forward_lazy(a, n, q, tw);
  reduce_from_4q(a, n, q);
}

/// inverse_lazy followed by reduce_from_2q, in one call.
HEFL_IFMA_TARGET inline void inverse(u64* a, std::size_t n, u64 q, ntt_twiddles tw, u64 degree_inv, u64 degree_inv52,
                                     u64 last, u64 last52) {
  inverse_lazy(a, n, q, tw, degree_inv, degree_inv52, last, last52);
  reduce_from_2q(a, n, q);
}

} // namespace hefl::he::ckks::detail::ifma
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif
