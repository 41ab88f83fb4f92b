#pragma once
/// @file
/// CKKS decryption and decoding (Cheon, Kim, Kim, Song, ASIACRYPT 2017, §3.4: Dec(c) = c_0 + c_1·s
/// (+ c_2·s^2) mod q_l), with the CRT composition of detail::to_centered_doubles so that a ciphertext
/// decrypts at any level; and noise-flooded decryption for results handed to another party.

#include <hefl/core/error.hpp>
#include <hefl/core/random.hpp>
#include <hefl/he/ckks/detail/rns_poly.hpp>
#include <hefl/he/ckks/encoder.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/keys.hpp>
#include <hefl/he/ckks/params.hpp>

#include <bit>
#include <cmath>
#include <complex>
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <span>
#include <utility>
#include <vector>

namespace hefl::he::ckks {

namespace detail {

[[nodiscard]] inline std::vector<double> centered_coefficients(const parameters& params, const rns_poly& ntt_poly);

/// The centered coefficients of a plaintext as doubles (one inverse NTT per limb plus CRT).
[[nodiscard]] inline std::vector<double> plaintext_coefficients(const parameters& params, const encoder& enc,
                                                                const plaintext& pt) {
  if (pt.parameters_id() != params.id())
    throw invalid_argument("ckks::decode: the plaintext belongs to other parameters");
  if (enc.ring_degree() != params.poly_degree())
    throw invalid_argument("ckks::decode: encoder ring degree " + std::to_string(enc.ring_degree()) +
                           " differs from the parameters' " + std::to_string(params.poly_degree()));
  return centered_coefficients(params, pt.poly());
}

/// The centered coefficients of a polynomial in NTT form without the special limb, as doubles.
[[nodiscard]] inline std::vector<double> centered_coefficients(const parameters& params, const rns_poly& ntt_poly) {
  rns_poly p = ntt_poly;
  from_ntt(p, params.context());
  std::vector<double> coeffs(params.poly_degree());
  to_centered_doubles(p, coeffs, params.context());
  return coeffs;
}

} // namespace detail

/// The real parts of the N/2 slots of @p pt.
/// @throws hefl::invalid_argument if the plaintext belongs to other parameters or the encoder's
/// degree differs from the parameters'.
[[nodiscard]] inline std::vector<double> decode(const parameters& params, const encoder& enc, const plaintext& pt) {
  const auto coeffs = detail::plaintext_coefficients(params, enc, pt);
  return enc.decode(coeffs, pt.scale());
}

/// The N/2 complex slots of @p pt.
/// @throws hefl::invalid_argument as decode.
[[nodiscard]] inline std::vector<std::complex<double>> decode_complex(const parameters& params, const encoder& enc,
                                                                      const plaintext& pt) {
  const auto coeffs = detail::plaintext_coefficients(params, enc, pt);
  return enc.decode_complex(coeffs, pt.scale());
}

/// The statistical parameter of decryptor::decrypt_for_sharing.
struct flooding_parameters {
  /// B: a bound on |e_k| for every coefficient of the ciphertext's noise e = c_0 + c_1·s - Δ·m (in
  /// integer coefficient units at the ciphertext's scale Δ). The key holder must know it from an
  /// analysis of the computation or measure it (decryptor::noise_bound), then keep a margin.
  double noise_bound = 0;
  /// λ_s: the flooded decryption of any ciphertext whose noise is within noise_bound is within
  /// statistical distance 2^-λ_s of a distribution that depends on the message only. In [40, 100].
  int statistical_security = 40;
};

/// The flooding amplitude U = ceil(N·B·2^(λ_s-1)) of decrypt_for_sharing as a double (see there).
/// @throws hefl::invalid_argument if noise_bound is not finite and >= 1, or statistical_security is
/// outside [40, 100].
[[nodiscard]] inline double flooding_amplitude(std::size_t poly_degree, const flooding_parameters& f) {
  if (!std::isfinite(f.noise_bound) || !(f.noise_bound >= 1))
    throw invalid_argument("ckks::decrypt_for_sharing: noise_bound must be finite and >= 1, got " +
                           std::to_string(f.noise_bound));
  if (f.statistical_security < 40 || f.statistical_security > 100)
    throw invalid_argument("ckks::decrypt_for_sharing: statistical_security must be in [40, 100] bits, got " +
                           std::to_string(f.statistical_security));
  return std::ceil(std::ldexp(static_cast<double>(poly_degree) * std::ceil(f.noise_bound), f.statistical_security - 1));
}

/// The standard deviation of Gaussian flooding (Li, Micciancio, Schultz, Sorrell, "Securing Approximate
/// Homomorphic Encryption Using Differential Privacy", CRYPTO 2022, Cor. 2, as OpenFHE applies it in
/// its CKKS_NOISE_FLOODING.md): σ = sqrt(12·τ)·2^(s/2)·B for s bits of statistical security, τ
/// published values an adversary sees under one key, and B a bound on how far the noise moves each.
/// @throws hefl::invalid_argument if noise_bound is not finite and > 0, s is outside [30, 100], or
///         published_values is not in [1, 2^40].
[[nodiscard]] inline double gaussian_flooding_deviation(double noise_bound, int statistical_security,
                                                        double published_values) {
  if (!std::isfinite(noise_bound) || !(noise_bound > 0))
    throw invalid_argument("ckks::gaussian_flooding_deviation: the noise bound must be finite and > 0, got " +
                           std::to_string(noise_bound));
  if (statistical_security < 30 || statistical_security > 100)
    throw invalid_argument("ckks::gaussian_flooding_deviation: statistical_security must be in [30, 100] bits, got " +
                           std::to_string(statistical_security));
  if (!(published_values >= 1 && published_values <= 0x1p40))
    throw invalid_argument("ckks::gaussian_flooding_deviation: published_values must be in [1, 2^40], got " +
                           std::to_string(published_values));
  return std::sqrt(12 * published_values) * noise_bound * std::exp2(statistical_security / 2.0);
}

/// Decryption with a secret key. Holds a copy of the key, wiped on destruction. Stateless apart
/// from the key, so one decryptor may be shared between threads.
class decryptor {
public:
  /// @throws hefl::invalid_argument if the secret key belongs to other parameters.
  decryptor(const parameters& params, const secret_key& sk) : m_params(params), m_sk(sk) {
    if (sk.parameters_id() != params.id())
      throw invalid_argument("ckks::decryptor: the secret key belongs to other parameters");
  }

  /// c_0 + c_1·s (+ c_2·s^2) at the ciphertext's level and scale.
  /// @throws hefl::invalid_argument if the ciphertext belongs to other parameters or its parts do not
  ///         have the shape the parameters give (2 or 3 parts of degree N at one level in the chain).
  [[nodiscard]] plaintext decrypt(const ciphertext& ct) const {
    if (ct.parameters_id() != m_params.id())
      throw invalid_argument("ckks::decryptor: the ciphertext belongs to other parameters");
    check_shape(ct);
    const auto& ctx = m_params.context();
    const std::size_t n = m_params.poly_degree();
    detail::rns_poly m = ct.poly(0);
    detail::for_each_limb(m, [&](std::size_t i) {
      const detail::modulus& q = ctx.ntt(i).mod();
      const detail::u64* s = m_sk.poly().limb(i);
      detail::u64* x = m.limb(i);
      // Horner in s: ((c_{k-1}) s + c_{k-2}) s + ... + c_0.
      const std::size_t k = ct.size();
      const detail::u64* top = ct.poly(k - 1).limb(i);
      if (detail::eltwise_uses_ifma(q.value())) { // the same Horner steps on the IFMA kernels
        if (k == 2) {
          detail::eltwise_multiply_add(x, top, s, n, q); // x holds c_0
          return;
        }
        detail::word_vector t = detail::uninitialized_words(n);
        std::copy_n(top, n, t.data());
        for (std::size_t p = k - 1; p-- > 1;) {
          detail::eltwise_multiply(t.data(), t.data(), s, n, q);
          detail::eltwise_add(t.data(), t.data(), ct.poly(p).limb(i), n, q.value());
        }
        detail::eltwise_multiply_add(x, t.data(), s, n, q);
        detail::secure_wipe(std::span<detail::u64>(t.data(), n));
        return;
      }
      for (std::size_t j = 0; j < n; ++j) {
        detail::u64 acc = top[j];
        for (std::size_t t = k - 1; t-- > 0;)
          acc = detail::add_mod(detail::mul_mod(acc, s[j], q), ct.poly(t).limb(i)[j], q.value());
        x[j] = acc;
      }
    });
    return plaintext(m_params, std::move(m), ct.scale());
  }

  /// Decrypts and decodes the real parts of the N/2 slots.
  /// @throws hefl::invalid_argument as decrypt and decode.
  [[nodiscard]] std::vector<double> decrypt_decode(const ciphertext& ct, const encoder& enc) const {
    return decode(m_params, enc, decrypt(ct));
  }

  /// Decrypts and decodes the N/2 complex slots.
  /// @throws hefl::invalid_argument as decrypt and decode_complex.
  [[nodiscard]] std::vector<std::complex<double>> decrypt_decode_complex(const ciphertext& ct,
                                                                         const encoder& enc) const {
    return decode_complex(m_params, enc, decrypt(ct));
  }

  /// Decryption for a result that leaves the key holder (sent to a client, a server or published):
  /// c_0 + c_1·s plus, in every coefficient, an integer drawn uniformly from [-U, U] with
  /// U = ceil(N·B·2^(λ_s-1)) (B = f.noise_bound, λ_s = f.statistical_security). Exact decryptions of
  /// CKKS ciphertexts leak the noise, and with it the secret key (Li, Micciancio, "On the Security of
  /// Homomorphic Encryption on Approximate Numbers", EUROCRYPT 2021); flooding hides it: for noises
  /// e, e' with |e_k|, |e'_k| <= B the outputs are within statistical distance N·B/(2U+1) <= 2^-λ_s
  /// (one coefficient: |e_k - 0|/(2U+1) for a uniform on 2U+1 integers; a sum over the N
  /// coefficients). Precision cost (docs/ckks.md, "Noise-flooded decryption"): each slot's real part
  /// changes by a sum of N independent terms of standard deviation at most U/sqrt(3), i.e. by
  /// about U·sqrt(N/6)/Δ (and never more than N·U/Δ).
  /// @param rng the randomness of the flooding noise (a CSPRNG such as hefl::crypto::system_random).
  /// @throws hefl::invalid_argument as decrypt, as flooding_amplitude, or if U plus the largest
  ///         decrypted coefficient reaches Q_l/4 at the ciphertext's level (the sum could wrap:
  ///         decrypt at a higher level, or use larger primes).
  [[nodiscard]] plaintext decrypt_for_sharing(const ciphertext& ct, const flooding_parameters& f,
                                              random_source& rng) const {
    const double amplitude = flooding_amplitude(m_params.poly_degree(), f);
    plaintext pt = decrypt(ct);
    const double log2_q = m_params.log2_modulus(ct.level());
    const std::vector<double> raw = detail::centered_coefficients(m_params, pt.poly());
    double largest = 0;
    for (const double c : raw) largest = std::max(largest, std::fabs(c));
    if (!(std::log2(amplitude + largest) < log2_q - 2) || !(amplitude < 0x1p125))
      throw invalid_argument("ckks::decryptor::decrypt_for_sharing: the flooding noise 2^" +
                             std::to_string(std::log2(amplitude)) + " plus the message 2^" +
                             std::to_string(std::log2(largest)) + " does not fit the modulus 2^" +
                             std::to_string(log2_q) + " at level " + std::to_string(ct.level()) +
                             "; decrypt at a higher level, lower statistical_security or noise_bound, or use "
                             "larger primes");
    const auto& ctx = m_params.context();
    const std::size_t n = m_params.poly_degree();
    const auto u = static_cast<detail::u128>(amplitude);
    const detail::u128 range = 2 * u; // draw r in [0, 2U], flood with r - U
    const auto high = static_cast<std::uint64_t>(range >> 64), low = static_cast<std::uint64_t>(range);
    const int bits = high != 0 ? 64 + std::bit_width(high) : std::bit_width(low); // < 128: U < 2^125
    const detail::u128 mask = (detail::u128{1} << bits) - 1; // rejection accepts with probability > 1/2
    detail::rns_poly flood(n, ct.level(), false);
    {
      detail::random_stream rs(rng);
      for (std::size_t j = 0; j < n; ++j) {
        detail::u128 r;
        do {
          r = ((static_cast<detail::u128>(rs.next_u64()) << 64) | rs.next_u64()) & mask;
        } while (r > range);
        const bool negative = r < u;
        const detail::u128 magnitude = negative ? u - r : r - u;
        for (std::size_t i = 0; i <= ct.level(); ++i) {
          const detail::modulus& q = ctx.ntt(i).mod();
          const detail::u64 x = q.reduce(magnitude);
          flood.limb(i)[j] = negative ? detail::neg_mod(x, q.value()) : x;
        }
      }
    }
    detail::to_ntt(flood, ctx);
    detail::rns_poly m = pt.poly();
    detail::add_inplace(m, flood, ctx);
    detail::secure_wipe(flood.data());
    return plaintext(m_params, std::move(m), pt.scale());
  }

  /// decrypt_for_sharing, then the real parts of the N/2 slots.
  /// @throws hefl::invalid_argument as decrypt_for_sharing and decode.
  [[nodiscard]] std::vector<double> decrypt_decode_for_sharing(const ciphertext& ct, const encoder& enc,
                                                               const flooding_parameters& f,
                                                               random_source& rng) const {
    return decode(m_params, enc, decrypt_for_sharing(ct, f, rng));
  }

  /// An estimate of the noise per slot of a decryption @p pt whose message is real (every value hefl
  /// encodes is, and additions, products and rotations keep it so): the largest |Im z_j| over its N/2
  /// slots z_j, in value units, since the imaginary parts are noise only. A heuristic measurement, as in
  /// Costache, Curtis, Hales, Murphy, Ogilvie, Player, "On the precision loss in approximate
  /// homomorphic encryption" (2022) and OpenFHE's EXEC_NOISE_ESTIMATION; not a bound.
  /// @throws hefl::invalid_argument as decode_complex.
  [[nodiscard]] double imaginary_slot_noise(const plaintext& pt, const encoder& enc) const {
    double largest = 0;
    for (const auto& z : decode_complex(m_params, enc, pt)) largest = std::max(largest, std::fabs(z.imag()));
    return largest;
  }

  /// The largest |e_k| over the coefficients of the noise e = Dec(ct) - Encode(expected) at ct's scale
  /// and level: a measurement of flooding_parameters::noise_bound from a run on known inputs (the
  /// key holder's own test data, never the secret inputs of others).
  /// @throws hefl::invalid_argument as decrypt and encode.
  [[nodiscard]] double noise_bound(const ciphertext& ct, std::span<const double> expected, const encoder& enc) const {
    plaintext diff = decrypt(ct);
    const plaintext want = encode(m_params, enc, expected, ct);
    detail::rns_poly d = diff.poly();
    detail::sub_inplace(d, want.poly(), m_params.context());
    const std::vector<double> coeffs = detail::centered_coefficients(m_params, d);
    double largest = 0;
    for (const double c : coeffs) largest = std::max(largest, std::fabs(c));
    return largest;
  }

private:
  void check_shape(const ciphertext& ct) const {
    const std::size_t k = ct.size();
    bool ok = k == 2 || k == 3;
    for (std::size_t i = 0; ok && i < k; ++i) {
      const detail::rns_poly& p = ct.poly(i);
      ok = p.degree() == m_params.poly_degree() && p.level() == ct.level() && p.level() <= m_params.max_level() &&
           !p.has_special() && p.is_ntt_form() && p.limb_count() == p.level() + 1;
    }
    if (!ok)
      throw invalid_argument("ckks::decryptor: the ciphertext does not have the shape of these parameters (2 or 3 "
                             "parts of degree " + std::to_string(m_params.poly_degree()) + " at one level in 0.." +
                             std::to_string(m_params.max_level()) + ")");
  }

  parameters m_params;
  secret_key m_sk;
};

} // namespace hefl::he::ckks
