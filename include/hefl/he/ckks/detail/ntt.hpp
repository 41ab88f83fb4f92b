#pragma once
/// @file
/// Negacyclic number-theoretic transform over Z_q[X]/(X^N + 1) for one RNS limb.
/// Merged twisting and bit-reversed twiddles: P. Longa, M. Naehrig, "Speeding up the Number Theoretic
/// Transform for Faster Ideal Lattice-Based Cryptography", CANS 2016 (Alg. 1 and 2). Lazy reduction with
/// Shoup multiplication, values kept in [0, 4q): D. Harvey, "Faster arithmetic for number-theoretic
/// transforms", J. Symbolic Computation 2014. Primes below 2^50 take the AVX-512 IFMA kernels of
/// ntt_ifma.hpp when the CPU has them (see cpu_features.hpp); the results are the same residues.

#include <hefl/he/ckks/detail/cpu_features.hpp>
#include <hefl/he/ckks/detail/modarith.hpp>
#include <hefl/he/ckks/detail/ntt_ifma.hpp>
#include <hefl/he/ckks/detail/primes.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace hefl::he::ckks::detail {

/// Reverses the low @p bits bits of @p x.
[[nodiscard]] constexpr std::size_t reverse_bits(std::size_t x, int bits) noexcept {
  std::size_t r = 0;
  for (int i = 0; i < bits; ++i) {
    r = (r << 1) | (x & 1);
    x >>= 1;
  }
  return r;
}

/// Precomputed twiddles (powers of a primitive 2N-th root psi in bit-reversed order, with their Shoup
/// constants) for the negacyclic NTT of degree N modulo one prime q. Immutable after construction,
/// so one table may be shared between threads. Slot i of the transform holds a(psi^(2*rev(i)+1)).
class ntt_tables {
public:
  /// Builds the tables for the prime @p q (q = 1 mod 2N, q < 2^61) and ring degree @p poly_degree.
  /// @throws hefl::invalid_argument if N is not a power of two in [2, 2^17] or q is not a prime
  /// below 2^61 that is 1 mod 2N.
  ntt_tables(u64 q, std::size_t poly_degree) : m_mod(q < 2 ? 2 : q), m_degree(poly_degree) {
    if (poly_degree < 2 || poly_degree > (std::size_t{1} << 17) || (poly_degree & (poly_degree - 1)) != 0)
      throw invalid_argument("ckks::ntt_tables: ring degree must be a power of two in [2, 2^17], got " +
                             std::to_string(poly_degree));
    m_psi = minimal_primitive_root(q, poly_degree); // validates q
    while ((std::size_t{1} << m_log_degree) < poly_degree) ++m_log_degree;
    const u64 psi_inv = inv_mod(m_psi, q);
    m_roots.resize(poly_degree);
    m_roots_shoup.resize(poly_degree);
    m_inv_roots.resize(poly_degree);
    m_inv_roots_shoup.resize(poly_degree);
    u64 power = 1, inv_power = 1;
    for (std::size_t k = 0; k < poly_degree; ++k) {
      const std::size_t r = reverse_bits(k, m_log_degree);
      m_roots[r] = power;
      m_inv_roots[r] = inv_power;
      power = mul_mod(power, m_psi, m_mod);
      inv_power = mul_mod(inv_power, psi_inv, m_mod);
    }
    for (std::size_t k = 0; k < poly_degree; ++k) {
      m_roots_shoup[k] = shoup_precompute(m_roots[k], q);
      m_inv_roots_shoup[k] = shoup_precompute(m_inv_roots[k], q);
    }
    m_degree_inv = inv_mod(poly_degree % q, q);
    m_degree_inv_shoup = shoup_precompute(m_degree_inv, q);
    // The last inverse stage multiplies by its twiddle and by N^{-1} at once.
    m_last_twiddle = mul_mod(m_inv_roots[1], m_degree_inv, m_mod);
    m_last_twiddle_shoup = shoup_precompute(m_last_twiddle, q);
    // The 52-bit Shoup constants of the IFMA path, kept only where that path can run.
    if (q < ifma_modulus_bound && poly_degree >= 16 && cpu_supports_ifma()) {
      m_roots_shoup52.resize(poly_degree);
      m_inv_roots_shoup52.resize(poly_degree);
      for (std::size_t k = 0; k < poly_degree; ++k) {
        m_roots_shoup52[k] = shoup52_from_shoup64(m_roots_shoup[k]);
        m_inv_roots_shoup52[k] = shoup52_from_shoup64(m_inv_roots_shoup[k]);
      }
    }
  }

  /// Whether the transforms take the AVX-512 IFMA kernels now: q < 2^50, N >= 16, the CPU has
  /// them and they are not switched off (set_simd_kernels, HEFL_CKKS_PORTABLE).
  [[nodiscard]] bool uses_ifma() const noexcept { return !m_roots_shoup52.empty() && use_ifma(); }

  /// The prime q.
  [[nodiscard]] u64 prime() const noexcept { return m_mod.value(); }
  /// The prime with its Barrett constants.
  [[nodiscard]] const modulus& mod() const noexcept { return m_mod; }
  /// The ring degree N.
  [[nodiscard]] std::size_t degree() const noexcept { return m_degree; }
  /// The primitive 2N-th root of unity psi the transform evaluates at.
  [[nodiscard]] u64 root() const noexcept { return m_psi; }

  /// In-place forward transform leaving values in [0, 4q). Input values must lie in [0, 4q). Which
  /// representative in [0, 4q) comes out depends on the path (IFMA or portable); its residue does not.
  void forward_lazy(u64* a) const noexcept {
#if HEFL_CKKS_HAVE_IFMA_KERNELS
    if (uses_ifma()) return ifma::forward_lazy(a, m_degree, m_mod.value(), {m_roots.data(), m_roots_shoup52.data()});
#endif
    forward_lazy_portable(a);
  }

  /// In-place forward transform with fully reduced output in [0, q). Input values must lie in [0, 4q).
  void forward(u64* a) const noexcept {
#if HEFL_CKKS_HAVE_IFMA_KERNELS
    if (uses_ifma()) return ifma::forward(a, m_degree, m_mod.value(), {m_roots.data(), m_roots_shoup52.data()});
#endif
    forward_lazy_portable(a);
    const u64 q = m_mod.value(), two_q = 2 * q;
    for (std::size_t j = 0; j < m_degree; ++j) {
      u64 v = a[j];
      v = v >= two_q ? v - two_q : v;
      a[j] = v >= q ? v - q : v;
    }
  }

  /// In-place inverse transform (including the factor N^{-1}) leaving values in [0, 2q). Input
  /// values must lie in [0, 2q). As for forward_lazy, the representative depends on the path.
  void inverse_lazy(u64* a) const noexcept {
#if HEFL_CKKS_HAVE_IFMA_KERNELS
    if (uses_ifma())
      return ifma::inverse_lazy(a, m_degree, m_mod.value(), {m_inv_roots.data(), m_inv_roots_shoup52.data()},
                                m_degree_inv, shoup52_from_shoup64(m_degree_inv_shoup), m_last_twiddle,
                                shoup52_from_shoup64(m_last_twiddle_shoup));
#endif
    inverse_lazy_portable(a);
  }

  /// In-place inverse transform (including N^{-1}) with output in [0, q). Input values must lie in [0, 2q).
  void inverse(u64* a) const noexcept {
#if HEFL_CKKS_HAVE_IFMA_KERNELS
    if (uses_ifma())
      return ifma::inverse(a, m_degree, m_mod.value(), {m_inv_roots.data(), m_inv_roots_shoup52.data()},
                           m_degree_inv, shoup52_from_shoup64(m_degree_inv_shoup), m_last_twiddle,
                           shoup52_from_shoup64(m_last_twiddle_shoup));
#endif
    inverse_lazy_portable(a);
    const u64 q = m_mod.value();
    for (std::size_t j = 0; j < m_degree; ++j) a[j] = a[j] >= q ? a[j] - q : a[j];
  }

private:
  void forward_lazy_portable(u64* a) const noexcept {
    const u64 q = m_mod.value(), two_q = 2 * q;
    // One Cooley-Tukey butterfly: inputs in [0, 4q), outputs in [0, 4q).
    const auto butterfly = [q, two_q](u64& x, u64& y, u64 w, u64 w_shoup) {
      u64 u = x;
      u = u >= two_q ? u - two_q : u;
      const u64 v = mul_shoup_lazy(y, w, w_shoup, q);
      x = u + v;
      y = u - v + two_q;
    };
    std::size_t t = m_degree;
    for (std::size_t m = 1; m < m_degree; m <<= 1) {
      t >>= 1;
      const u64* w = m_roots.data() + m;
      const u64* ws = m_roots_shoup.data() + m;
      // The last two stages have groups of one or two butterflies; unrolled, they skip the loop overhead.
      if (t == 1) {
        for (std::size_t i = 0; i < m; ++i) butterfly(a[2 * i], a[2 * i + 1], w[i], ws[i]);
      } else if (t == 2) {
        for (std::size_t i = 0; i < m; ++i) {
          u64* x = a + 4 * i;
          butterfly(x[0], x[2], w[i], ws[i]);
          butterfly(x[1], x[3], w[i], ws[i]);
        }
      } else {
        for (std::size_t i = 0; i < m; ++i) {
          u64* __restrict x = a + 2 * i * t;
          u64* __restrict y = x + t;
          const u64 wi = w[i], wsi = ws[i];
          for (std::size_t j = 0; j < t; j += 4) {
            butterfly(x[j], y[j], wi, wsi);
            butterfly(x[j + 1], y[j + 1], wi, wsi);
            butterfly(x[j + 2], y[j + 2], wi, wsi);
            butterfly(x[j + 3], y[j + 3], wi, wsi);
          }
        }
      }
    }
  }

  void inverse_lazy_portable(u64* a) const noexcept {
    const u64 q = m_mod.value(), two_q = 2 * q;
    // One Gentleman-Sande butterfly: inputs in [0, 2q), outputs in [0, 2q).
    const auto butterfly = [q, two_q](u64& x, u64& y, u64 w, u64 w_shoup) {
      const u64 u = x, v = y;
      const u64 s = u + v;
      x = s >= two_q ? s - two_q : s;
      y = mul_shoup_lazy(u - v + two_q, w, w_shoup, q);
    };
    std::size_t t = 1;
    for (std::size_t m = m_degree; m > 2; m >>= 1) {
      const std::size_t h = m >> 1;
      const u64* w = m_inv_roots.data() + h;
      const u64* ws = m_inv_roots_shoup.data() + h;
      if (t == 1) {
        for (std::size_t i = 0; i < h; ++i) butterfly(a[2 * i], a[2 * i + 1], w[i], ws[i]);
      } else if (t == 2) {
        for (std::size_t i = 0; i < h; ++i) {
          u64* x = a + 4 * i;
          butterfly(x[0], x[2], w[i], ws[i]);
          butterfly(x[1], x[3], w[i], ws[i]);
        }
      } else {
        for (std::size_t i = 0; i < h; ++i) {
          u64* __restrict x = a + 2 * i * t;
          u64* __restrict y = x + t;
          const u64 wi = w[i], wsi = ws[i];
          for (std::size_t j = 0; j < t; j += 4) {
            butterfly(x[j], y[j], wi, wsi);
            butterfly(x[j + 1], y[j + 1], wi, wsi);
            butterfly(x[j + 2], y[j + 2], wi, wsi);
            butterfly(x[j + 3], y[j + 3], wi, wsi);
          }
        }
      }
      t <<= 1;
    }
    u64* __restrict x = a;
    u64* __restrict y = a + t;
    for (std::size_t j = 0; j < t; ++j) {
      const u64 u = x[j], v = y[j];
      x[j] = mul_shoup_lazy(u + v, m_degree_inv, m_degree_inv_shoup, q);
      y[j] = mul_shoup_lazy(u - v + two_q, m_last_twiddle, m_last_twiddle_shoup, q);
    }
  }

  modulus m_mod;
  std::size_t m_degree;
  int m_log_degree = 0;
  u64 m_psi = 0;
  std::vector<u64> m_roots, m_roots_shoup, m_inv_roots, m_inv_roots_shoup;
  std::vector<u64> m_roots_shoup52, m_inv_roots_shoup52; // empty unless the IFMA path can run
  u64 m_degree_inv = 0, m_degree_inv_shoup = 0, m_last_twiddle = 0, m_last_twiddle_shoup = 0;
};

} // namespace hefl::he::ckks::detail
