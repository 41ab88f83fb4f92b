#pragma once
/// @file
/// CKKS decryption and decoding (Cheon, Kim, Kim, Song, ASIACRYPT 2017, §3.4: Dec(c) = c_0 + c_1·s
/// (+ c_2·s^2) mod q_l), with the CRT composition of detail::to_centered_doubles so that a ciphertext
/// decrypts at any level.

#include <hefl/core/error.hpp>
#include <hefl/he/ckks/detail/rns_poly.hpp>
#include <hefl/he/ckks/encoder.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/keys.hpp>
#include <hefl/he/ckks/params.hpp>

#include <complex>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace hefl::he::ckks {

namespace detail {

/// The centered coefficients of a plaintext as doubles (one inverse NTT per limb plus CRT).
[[nodiscard]] inline std::vector<double> plaintext_coefficients(const parameters& params, const encoder& enc,
                                                                const plaintext& pt) {
  if (pt.parameters_id() != params.id())
    throw invalid_argument("ckks::decode: the plaintext belongs to other parameters");
  if (enc.ring_degree() != params.poly_degree())
    throw invalid_argument("ckks::decode: encoder ring degree " + std::to_string(enc.ring_degree()) +
                           " differs from the parameters' " + std::to_string(params.poly_degree()));
  rns_poly p = pt.poly();
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
  /// @throws hefl::invalid_argument if the ciphertext belongs to other parameters.
  [[nodiscard]] plaintext decrypt(const ciphertext& ct) const {
    if (ct.parameters_id() != m_params.id())
      throw invalid_argument("ckks::decryptor: the ciphertext belongs to other parameters");
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

private:
  parameters m_params;
  secret_key m_sk;
};

} // namespace hefl::he::ckks
