#pragma once
/// @file
/// Element-wise modular arithmetic over one limb (N residues modulo one prime): the loops behind
/// rns_poly's additions and pointwise products. Primes below 2^50 take the AVX-512 IFMA kernels of
/// ifma_arith.hpp when the CPU has them and they are not switched off; the results are the same
/// residues as the portable loops (all inputs and outputs in [0, q)).

#include <hefl/he/ckks/detail/cpu_features.hpp>
#include <hefl/he/ckks/detail/ifma_arith.hpp>
#include <hefl/he/ckks/detail/modarith.hpp>

#include <cstddef>

namespace hefl::he::ckks::detail {

/// Whether limb loops modulo @p q take the IFMA kernels now.
[[nodiscard]] inline bool eltwise_uses_ifma(u64 q) noexcept { return q < ifma_modulus_bound && use_ifma(); }

/// out[j] = (a[j] + b[j]) mod q; out may alias a or b.
inline void eltwise_add(u64* out, const u64* a, const u64* b, std::size_t n, u64 q) noexcept {
#if HEFL_CKKS_HAVE_IFMA_KERNELS
  if (eltwise_uses_ifma(q)) return ifma::add(out, a, b, n, q);
#endif
  for (std::size_t j = 0; j < n; ++j) out[j] = add_mod(a[j], b[j], q);
}

/// out[j] = (a[j] - b[j]) mod q; out may alias a or b.
inline void eltwise_subtract(u64* out, const u64* a, const u64* b, std::size_t n, u64 q) noexcept {
#if HEFL_CKKS_HAVE_IFMA_KERNELS
  if (eltwise_uses_ifma(q)) return ifma::subtract(out, a, b, n, q);
#endif
  for (std::size_t j = 0; j < n; ++j) out[j] = sub_mod(a[j], b[j], q);
}

/// out[j] = a[j] * b[j] mod q; out may alias a or b.
inline void eltwise_multiply(u64* out, const u64* a, const u64* b, std::size_t n, const modulus& q) noexcept {
#if HEFL_CKKS_HAVE_IFMA_KERNELS
  if (eltwise_uses_ifma(q.value())) return ifma::multiply(out, a, b, n, barrett52(q.value()));
#endif
  for (std::size_t j = 0; j < n; ++j) out[j] = mul_mod(a[j], b[j], q);
}

/// acc[j] = (acc[j] + a[j] * b[j]) mod q.
inline void eltwise_multiply_add(u64* acc, const u64* a, const u64* b, std::size_t n, const modulus& q) noexcept {
#if HEFL_CKKS_HAVE_IFMA_KERNELS
  if (eltwise_uses_ifma(q.value())) return ifma::multiply_add(acc, a, b, n, barrett52(q.value()));
#endif
  for (std::size_t j = 0; j < n; ++j) acc[j] = add_mod(acc[j], mul_mod(a[j], b[j], q), q.value());
}

/// out[j] = a[j] * w mod q for a constant w in [0, q) with w_shoup = shoup_precompute(w, q); out may alias a.
inline void eltwise_multiply_constant(u64* out, const u64* a, u64 w, u64 w_shoup, std::size_t n, u64 q) noexcept {
#if HEFL_CKKS_HAVE_IFMA_KERNELS
  if (eltwise_uses_ifma(q)) return ifma::multiply_constant(out, a, w, shoup52_from_shoup64(w_shoup), n, q);
#endif
  for (std::size_t j = 0; j < n; ++j) out[j] = mul_shoup(a[j], w, w_shoup, q);
}

/// out[j] = (a[j] - c) mod q for a constant c in [0, q); out may alias a.
inline void eltwise_subtract_constant(u64* out, const u64* a, u64 c, std::size_t n, u64 q) noexcept {
#if HEFL_CKKS_HAVE_IFMA_KERNELS
  if (eltwise_uses_ifma(q)) return ifma::subtract_constant(out, a, c, n, q);
#endif
  for (std::size_t j = 0; j < n; ++j) out[j] = sub_mod(a[j], c, q);
}

/// out[j] = (x[j] - t[j]) * w mod q for x in [0, q), t in [0, 4q) (a lazy forward NTT's output) and a
/// constant w in [0, q) with w_shoup = shoup_precompute(w, q); q < 2^61. out may alias x or t.
inline void eltwise_subtract_lazy_multiply_constant(u64* out, const u64* x, const u64* t, u64 w, u64 w_shoup,
                                                    std::size_t n, u64 q) noexcept {
#if HEFL_CKKS_HAVE_IFMA_KERNELS
  if (eltwise_uses_ifma(q))
    return ifma::subtract_lazy_multiply_constant(out, x, t, w, shoup52_from_shoup64(w_shoup), n, q);
#endif
  const u64 four_q = 4 * q; // x + 4q - t < 5q < 2^64
  for (std::size_t j = 0; j < n; ++j) out[j] = mul_shoup(x[j] + four_q - t[j], w, w_shoup, q);
}

/// out[j] = sum_k rows[k][j] * w[k] mod q for @p count rows whose values are below @p row_bound,
/// constants w[k] in [0, q) with w_shoup[k] = shoup_precompute(w[k], q), count <= 32 and q < 2^61
/// (the fast basis conversion of hybrid key switching). The IFMA kernel runs when q < 2^50 and
/// row_bound <= 2^52; the residues are the same either way.
inline void eltwise_weighted_sum(u64* out, const u64* const* rows, const u64* w, const u64* w_shoup, std::size_t count,
                                 std::size_t n, u64 q, u64 row_bound) noexcept {
#if HEFL_CKKS_HAVE_IFMA_KERNELS
  if (eltwise_uses_ifma(q) && row_bound <= (u64{1} << 52) && count <= 32) {
    u64 w52[32];
    for (std::size_t k = 0; k < count; ++k) w52[k] = shoup52_from_shoup64(w_shoup[k]);
    return ifma::weighted_sum(out, rows, w, w52, count, n, q);
  }
#endif
  (void)w_shoup;
  const modulus mod(q);
  for (std::size_t j = 0; j < n; ++j) {
    u128 acc = 0; // at most 32 products below 2^122
    for (std::size_t k = 0; k < count; ++k) acc += static_cast<u128>(rows[k][j]) * w[k];
    out[j] = mod.reduce(acc);
  }
}

/// out[j] = a[j] > half ? a[j] + shift : a[j] (modulo 2^64): a residue modulo q_j, centered by
/// @p half = floor(q_j / 2), lifted to a prime q_i > half with shift = q_i - q_j (the digits of key
/// switching).
inline void eltwise_lift_centered(u64* out, const u64* a, u64 half, u64 shift, std::size_t n) noexcept {
#if HEFL_CKKS_HAVE_IFMA_KERNELS
  if (use_ifma()) return ifma::lift_centered(out, a, half, shift, n);
#endif
  for (std::size_t j = 0; j < n; ++j) out[j] = a[j] > half ? a[j] + shift : a[j];
}

/// out0[k] = sum_t x_t[k] * b_t[k] mod q and out1[k] = sum_t x_t[k] * a_t[k] mod q for k < n, over
/// @p terms triples (x[t], b[t], a[t]) with x_t in [0, 4q) (lazy NTT values) and b_t, a_t in [0, q):
/// the two inner products of key switching (digits times the key's b and a parts).
inline void eltwise_dot_product2(u64* out0, u64* out1, const u64* const* x, const u64* const* b, const u64* const* a,
                                 std::size_t terms, std::size_t n, const modulus& q) noexcept {
#if HEFL_CKKS_HAVE_IFMA_KERNELS
  if (eltwise_uses_ifma(q.value())) return ifma::dot_product2(out0, out1, x, b, a, terms, n,
                                                                ifma::dot_constants(q.value()));
#endif
  // 128-bit sums; a sum below q plus T products below 4q^2 must stay below 2^128.
  const u64 qv = q.value();
  const u128 room = (~u128{0} - qv) / (4 * static_cast<u128>(qv) * qv);
  const std::size_t fold_every = room > 4096 ? 4096 : static_cast<std::size_t>(room);
  for (std::size_t k = 0; k < n; ++k) {
    u128 s0 = 0, s1 = 0;
    std::size_t since_fold = 0;
    for (std::size_t t = 0; t < terms; ++t) {
      if (since_fold == fold_every) {
        s0 = q.reduce(s0);
        s1 = q.reduce(s1);
        since_fold = 0;
      }
      s0 += static_cast<u128>(x[t][k]) * b[t][k];
      s1 += static_cast<u128>(x[t][k]) * a[t][k];
      ++since_fold;
    }
    out0[k] = q.reduce(s0);
    out1[k] = q.reduce(s1);
  }
}

} // namespace hefl::he::ckks::detail
