#pragma once
/// @file
/// Polynomial helpers of the multiparty protocols: fresh ternary and Gaussian polynomials, the
/// smudging (flooding) noise of partial decryptions, the gadget term of key-switching keys in the
/// hybrid layout of keys.hpp, and the restriction of an all-primes polynomial to a ciphertext level.

#include <hefl/core/error.hpp>
#include <hefl/core/random.hpp>
#include <hefl/he/ckks/decryptor.hpp>
#include <hefl/he/ckks/detail/rns_poly.hpp>
#include <hefl/he/ckks/keys.hpp>
#include <hefl/he/ckks/params.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <string>

namespace hefl::he::ckks::multiparty::detail {

using namespace hefl::he::ckks::detail;

__extension__ typedef __int128 i128;

/// A fresh polynomial (NTT form) at @p level with @p special special limbs, its coefficients drawn by
/// @p sample(poly, stream, context) from a stream on @p rng.
template <class Sampler>
[[nodiscard]] rns_poly fresh_poly(const parameters& params, std::size_t level, std::size_t special, random_source& rng,
                                  Sampler&& sample) {
  rns_poly p(params.poly_degree(), level, special);
  {
    random_stream rs(rng);
    sample(p, rs, params.context());
  }
  to_ntt(p, params.context());
  return p;
}

/// A fresh ternary polynomial (NTT form) at @p level with @p special special limbs.
[[nodiscard]] inline rns_poly ternary_poly(const parameters& params, std::size_t level, std::size_t special,
                                           random_source& rng) {
  return fresh_poly(params, level, special, rng,
                    [](rns_poly& p, random_stream& rs, const context& c) { sample_ternary(p, rs, c); });
}

/// A fresh discrete Gaussian polynomial (σ = 3.2, NTT form) at @p level with @p special special limbs.
[[nodiscard]] inline rns_poly gaussian_poly(const parameters& params, std::size_t level, std::size_t special,
                                            random_source& rng) {
  return fresh_poly(params, level, special, rng,
                    [](rns_poly& p, random_stream& rs, const context& c) { add_gaussian_error(p, rs, c); });
}

/// The smudging polynomial of a partial decryption: every coefficient uniform on the integers of
/// [-U, U] (NTT form, level @p level, no special limb), U = flooding_amplitude(N, f).
/// @throws hefl::invalid_argument as flooding_amplitude, or if @p parties·U reaches Q_l/8 (the sum
///         of all parties' noise and the message could wrap modulo Q_l).
[[nodiscard]] inline rns_poly smudging_poly(const parameters& params, std::size_t level, const flooding_parameters& f,
                                            std::size_t parties, random_source& rng) {
  const double amplitude = flooding_amplitude(params.poly_degree(), f);
  const double room = params.log2_modulus(level) - 3;
  if (!(std::log2(amplitude * static_cast<double>(parties)) < room) || !(amplitude < 0x1p125))
    throw invalid_argument("ckks::multiparty: the smudging noise of " + std::to_string(parties) + " parties, 2^" +
                           std::to_string(std::log2(amplitude * static_cast<double>(parties))) +
                           ", does not fit the modulus 2^" + std::to_string(room + 3) + " at level " +
                           std::to_string(level) + " with 3 bits of headroom; decrypt at a higher level, lower "
                           "statistical_security or noise_bound, or use larger primes");
  const auto& ctx = params.context();
  const std::size_t n = params.poly_degree();
  const auto u = static_cast<u128>(amplitude);
  const u128 range = 2 * u;
  const auto high = static_cast<std::uint64_t>(range >> 64), low = static_cast<std::uint64_t>(range);
  const int bits = high != 0 ? 64 + static_cast<int>(std::bit_width(high)) : static_cast<int>(std::bit_width(low));
  const u128 mask = (u128{1} << bits) - 1;
  rns_poly flood(n, level, 0);
  {
    random_stream rs(rng);
    for (std::size_t j = 0; j < n; ++j) {
      u128 r;
      do {
        r = ((static_cast<u128>(rs.next_u64()) << 64) | rs.next_u64()) & mask;
      } while (r > range);
      const bool negative = r < u;
      const u128 magnitude = negative ? u - r : r - u;
      for (std::size_t i = 0; i <= level; ++i) {
        const modulus& q = ctx.ntt(i).mod();
        const u64 x = q.reduce(magnitude);
        flood.limb(i)[j] = negative ? neg_mod(x, q.value()) : x;
      }
    }
  }
  to_ntt(flood, ctx);
  return flood;
}

/// The Gaussian smudging of a partial decryption of a computed result (Li, Micciancio, Schultz,
/// Sorrell, "Securing Approximate Homomorphic Encryption Using Differential Privacy", CRYPTO 2022,
/// Cor. 2): every coefficient gets a Gaussian of σ = sqrt(12·τ)·2^(s/2)·B
/// (gaussian_flooding_deviation), B a bound on the coefficients of the ciphertext noise, s the
/// security in bits and τ the number of values published under the collective key. That paper's
/// guarantee (s bits against key recovery from τ published values), not a statistical distance: far
/// smaller than the uniform smudging of flooding_parameters (N·2^(λ_s - 1)/sqrt(3)·B per coefficient,
/// a statistical bound), so it fits products at usual scales.
struct gaussian_smudging {
  double noise_bound = 0;         ///< B, in integer coefficient units at the ciphertext's scale
  int statistical_security = 40;  ///< s, in [30, 100]
  double published_values = 1;    ///< τ, in [1, 2^40]
};

/// The σ of @p g.
/// @throws hefl::invalid_argument as gaussian_flooding_deviation.
[[nodiscard]] inline double smudging_deviation(const gaussian_smudging& g) {
  return gaussian_flooding_deviation(g.noise_bound, g.statistical_security, g.published_values);
}

/// The Gaussian smudging polynomial (NTT form, level @p level, no special limb): each coefficient
/// round(σ·z) for a Box–Muller normal z, plus an independent integer uniform on [-2^(t-1), 2^(t-1))
/// with 2^t >= σ·2^-50, so that the sum has no gaps at the resolution of a double (a sample on a
/// coarse grid would reveal the ciphertext noise modulo the grid).
/// @throws hefl::invalid_argument as smudging_deviation, or if @p parties·10σ reaches Q_l/8.
[[nodiscard]] inline rns_poly smudging_poly(const parameters& params, std::size_t level, const gaussian_smudging& g,
                                            std::size_t parties, random_source& rng) {
  const double sigma = smudging_deviation(g);
  const double room = params.log2_modulus(level) - 3;
  if (!(std::log2(10 * sigma * static_cast<double>(parties)) < room) || !(sigma < 0x1p115))
    throw invalid_argument("ckks::multiparty: the Gaussian smudging of " + std::to_string(parties) +
                           " parties (10σ = 2^" + std::to_string(std::log2(10 * sigma * static_cast<double>(parties))) +
                           ") does not fit the modulus 2^" + std::to_string(room + 3) + " at level " +
                           std::to_string(level) + " with 3 bits of headroom; decrypt at a higher level or use larger primes");
  const int t = std::max(0, static_cast<int>(std::ceil(std::log2(sigma))) - 50);
  const auto& ctx = params.context();
  const std::size_t n = params.poly_degree();
  rns_poly flood(n, level, 0);
  {
    random_stream rs(rng);
    const auto uniform = [&] { return (static_cast<double>(rs.next_u64() >> 11) + 1) * 0x1p-53; }; // (0, 1]
    for (std::size_t j = 0; j < n; ++j) {
      const double z = std::sqrt(-2 * std::log(uniform())) * std::cos(6.283185307179586 * uniform());
      i128 value = static_cast<i128>(std::nearbyint(sigma * z)); // |σ·z| < 2^122
      if (t > 0) { // + r - 2^(t-1), r uniform on [0, 2^t), t <= 66
        const u128 r = ((static_cast<u128>(rs.next_u64()) << 64) | rs.next_u64()) & ((u128{1} << t) - 1);
        value += static_cast<i128>(r) - static_cast<i128>(u128{1} << (t - 1));
      }
      const bool negative = value < 0;
      const u128 magnitude = negative ? static_cast<u128>(-value) : static_cast<u128>(value);
      for (std::size_t i = 0; i <= level; ++i) {
        const modulus& q = ctx.ntt(i).mod();
        const u64 x = q.reduce(magnitude);
        flood.limb(i)[j] = negative ? neg_mod(x, q.value()) : x;
      }
    }
  }
  to_ntt(flood, ctx);
  return flood;
}

/// The limbs q_0..q_l of @p p (which has at least that many chain limbs), without special limbs.
[[nodiscard]] inline rns_poly at_level(const rns_poly& p, std::size_t level) {
  rns_poly out(p.degree(), level, 0, p.is_ntt_form(), uninitialized);
  std::copy_n(p.limb(0), (level + 1) * p.degree(), out.limb(0));
  return out;
}

/// y += P·x·[j]: the gadget term of digit @p j of a key-switching key in the layout of
/// key_generator::create_kswitch_key (P the product of the special primes, [j] one on the digit's
/// chain primes and zero elsewhere). Both over all primes, NTT form.
inline void add_gadget_term(rns_poly& y, const rns_poly& x, std::size_t j, const parameters& params) {
  const auto& ctx = params.context();
  const std::size_t alpha = params.special_prime_count(), chain = params.max_level() + 1;
  for (std::size_t i = j * alpha; i < std::min((j + 1) * alpha, chain); ++i) {
    const modulus& qi = ctx.ntt(i).mod();
    u64 factor = 1;
    for (const u64 p : params.key_switch_primes()) factor = mul_mod(factor, qi.reduce(p), qi);
    const u64 factor_shoup = shoup_precompute(factor, qi.value());
    u64* out = y.limb(i);
    const u64* in = x.limb(i);
    for (std::size_t k = 0; k < y.degree(); ++k)
      out[k] = add_mod(out[k], mul_shoup(in[k], factor, factor_shoup, qi.value()), qi.value());
  }
}

/// acc -= a·b (same shape, NTT form).
inline void multiply_subtract(rns_poly& acc, const rns_poly& a, const rns_poly& b, const context& ctx) {
  rns_poly t = a;
  multiply_inplace(t, b, ctx);
  sub_inplace(acc, t, ctx);
  secure_wipe(t.data()); // a·s_i or a·u_i: the secret to anyone who knows a
}

} // namespace hefl::he::ckks::multiparty::detail

namespace hefl::he::ckks::multiparty {

using detail::gaussian_smudging;

/// The smudging a partial decryption accepts: uniform with a statistical bound (ckks::flooding_parameters,
/// for fresh or linearly combined ciphertexts at large scales) or Gaussian (gaussian_smudging, for
/// computed results).
template <class S>
concept smudging_parameters = std::same_as<S, flooding_parameters> || std::same_as<S, gaussian_smudging>;

} // namespace hefl::he::ckks::multiparty
