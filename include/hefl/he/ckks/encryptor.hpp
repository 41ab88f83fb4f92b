#pragma once
/// @file
/// CKKS plaintexts, ciphertexts, encoding into the RNS ring and public-key encryption (Cheon, Kim,
/// Kim, Song, ASIACRYPT 2017, §3.4: Enc(m) = v·pk + (m + e0, e1)). The encryption of zero is computed
/// over Q·P and divided by the special prime P, which shrinks the v·e noise to about the rounding
/// error (the same choice as Microsoft SEAL's public-key encryption).

#include <hefl/core/error.hpp>
#include <hefl/core/parallel.hpp>
#include <hefl/core/random.hpp>
#include <hefl/he/ckks/detail/rns_poly.hpp>
#include <hefl/he/ckks/encoder.hpp>
#include <hefl/he/ckks/keys.hpp>
#include <hefl/he/ckks/params.hpp>

#include <cmath>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace hefl::he::ckks {

/// An encoded message: a polynomial in NTT form over q_0..q_l (no special limb) and its scale.
class plaintext {
public:
  /// Wraps @p poly (NTT form, no special limb, level within the chain) at scale @p scale.
  /// @throws hefl::invalid_argument if the polynomial does not fit params or scale is not positive and finite.
  plaintext(const parameters& params, detail::rns_poly poly, double scale)
      : m_params_id(params.id()), m_poly(std::move(poly)), m_scale(scale) {
    if (m_poly.degree() != params.poly_degree() || m_poly.level() > params.max_level() || m_poly.has_special() ||
        !m_poly.is_ntt_form())
      throw invalid_argument("ckks::plaintext: polynomial must be in NTT form, without the special limb, at a level "
                             "in 0.." + std::to_string(params.max_level()));
    if (!std::isnormal(scale) || !(scale > 0))
      throw invalid_argument("ckks::plaintext: scale must be positive, finite and not subnormal, got " +
                             std::to_string(scale));
  }

  /// Id of the parameters the plaintext belongs to.
  [[nodiscard]] std::uint64_t parameters_id() const noexcept { return m_params_id; }
  /// The level l: the polynomial has limbs q_0..q_l.
  [[nodiscard]] std::size_t level() const noexcept { return m_poly.level(); }
  /// The scale Δ the values were multiplied by.
  [[nodiscard]] double scale() const noexcept { return m_scale; }
  /// The polynomial (NTT form).
  [[nodiscard]] const detail::rns_poly& poly() const noexcept { return m_poly; }

private:
  std::uint64_t m_params_id;
  detail::rns_poly m_poly;
  double m_scale;
};

/// A ciphertext (c_0, ..., c_{k-1}), k = 2 after encryption and 3 after a multiplication before
/// relinearization; decrypts to c_0 + c_1·s + c_2·s^2. Polynomials in NTT form over q_0..q_l.
class ciphertext {
public:
  /// Assembles a ciphertext from 2 or 3 polynomials of one shape (NTT form, no special limb).
  /// @throws hefl::invalid_argument if the count, the shapes or the scale are wrong.
  ciphertext(const parameters& params, std::vector<detail::rns_poly> polys, double scale)
      : m_params_id(params.id()), m_polys(std::move(polys)), m_scale(scale) {
    if (m_polys.size() < 2 || m_polys.size() > 3)
      throw invalid_argument("ckks::ciphertext: needs 2 or 3 polynomials, got " + std::to_string(m_polys.size()));
    for (const auto& p : m_polys)
      if (p.degree() != params.poly_degree() || p.level() != m_polys[0].level() || p.level() > params.max_level() ||
          p.has_special() || !p.is_ntt_form())
        throw invalid_argument("ckks::ciphertext: polynomials must share one level in 0.." +
                               std::to_string(params.max_level()) + ", be in NTT form and lack the special limb");
    if (!std::isnormal(scale) || !(scale > 0))
      throw invalid_argument("ckks::ciphertext: scale must be positive, finite and not subnormal, got " +
                             std::to_string(scale));
  }

  /// Id of the parameters the ciphertext belongs to.
  [[nodiscard]] std::uint64_t parameters_id() const noexcept { return m_params_id; }
  /// Number of polynomials (2, or 3 before relinearization).
  [[nodiscard]] std::size_t size() const noexcept { return m_polys.size(); }
  /// The level l.
  [[nodiscard]] std::size_t level() const noexcept { return m_polys[0].level(); }
  /// The scale Δ of the encrypted values.
  [[nodiscard]] double scale() const noexcept { return m_scale; }
  /// Polynomial @p i (no bounds check). Read-only: the shapes, the count and the scale are an
  /// invariant that only the constructor and the CKKS operations (friends) maintain.
  [[nodiscard]] const detail::rns_poly& poly(std::size_t i) const noexcept { return m_polys[i]; }
  /// All polynomials.
  [[nodiscard]] const std::vector<detail::rns_poly>& polys() const noexcept { return m_polys; }

private:
  friend class evaluator;
  friend class encryptor;
  friend class symmetric_encryptor;

  // For the operations, which must keep all polynomials at one shape (no bounds check).
  [[nodiscard]] detail::rns_poly& mutable_poly(std::size_t i) noexcept { return m_polys[i]; }
  // Called only with scales the operations checked (positive, normal).
  void set_scale(double scale) noexcept { m_scale = scale; }

  std::uint64_t m_params_id;
  std::vector<detail::rns_poly> m_polys;
  double m_scale;
};

namespace detail {

/// Checks the encoder and level, runs @p encode_into (which fills N coefficient doubles), and lifts
/// the coefficients into NTT form over q_0..q_level.
template <class EncodeInto>
[[nodiscard]] plaintext encode_with(const parameters& params, const encoder& enc, double scale, std::size_t level,
                                    EncodeInto&& encode_into) {
  if (enc.ring_degree() != params.poly_degree())
    throw invalid_argument("ckks::encode: encoder ring degree " + std::to_string(enc.ring_degree()) +
                           " differs from the parameters' " + std::to_string(params.poly_degree()));
  if (level > params.max_level())
    throw invalid_argument("ckks::encode: level " + std::to_string(level) + " exceeds the top level " +
                           std::to_string(params.max_level()));
  const double log2_q = params.log2_modulus(level);
  std::vector<double> coeffs(params.poly_degree());
  // The coefficients are bounded by Q_l/2 (as in Microsoft SEAL), not by 64-bit integers: an
  // unrescaled product at scale 2^80 takes plaintexts at that scale. +inf when Q_l/2 exceeds doubles.
  encode_into(std::span<double>(coeffs), std::exp2(log2_q - 1));
  double largest = 0;
  for (const double c : coeffs) largest = std::max(largest, std::fabs(c));
  // Coefficients must stay inside (-Q_l/2, Q_l/2) or they wrap around and decrypt to garbage.
  if (largest > 0 && std::log2(largest) >= log2_q - 1)
    throw invalid_argument("ckks::encode: a coefficient of 2^" + std::to_string(std::log2(largest)) +
                           " does not fit the modulus of 2^" + std::to_string(log2_q) + " at level " +
                           std::to_string(level) + ": lower the scale or the values, or encode at a higher level");
  rns_poly poly = from_signed(std::span<const double>(coeffs), level, false, params.context());
  to_ntt(poly, params.context());
  return plaintext(params, std::move(poly), scale);
}

} // namespace detail

/// Encodes up to N/2 real values at scale @p scale and level @p level. Coefficients may reach
/// Q_level/2 (not only 2^62), so a plaintext can match an unrescaled product's scale.
/// @throws hefl::invalid_argument if the encoder's degree differs from the parameters', the level
/// exceeds the top level, the encoder rejects the values or scale, or a coefficient does not fit Q_level.
[[nodiscard]] inline plaintext encode(const parameters& params, const encoder& enc, std::span<const double> values,
                                      double scale, std::size_t level) {
  return detail::encode_with(params, enc, scale, level, [&](std::span<double> out, double bound) {
    enc.encode(values, scale, out, bound);
  });
}

/// Encodes up to N/2 real values at exactly the scale and level of @p like, so that the plaintext
/// can be added to it (or subtracted) without a scale mismatch: after a rescale the scale of a
/// product drifts from the default (e.g. 2^40 · (1 + 4.8e-6)), and encode(params, enc, values)
/// would no longer match it.
/// @throws hefl::invalid_argument if @p like belongs to other parameters, or as the full overload.
[[nodiscard]] inline plaintext encode(const parameters& params, const encoder& enc, std::span<const double> values,
                                      const ciphertext& like) {
  if (like.parameters_id() != params.id())
    throw invalid_argument("ckks::encode: the ciphertext whose scale and level to match belongs to other parameters");
  return encode(params, enc, values, like.scale(), like.level());
}

/// Encodes up to N/2 real values at the parameters' default scale and the top level.
/// @throws hefl::invalid_argument as the full overload.
[[nodiscard]] inline plaintext encode(const parameters& params, const encoder& enc, std::span<const double> values) {
  return encode(params, enc, values, params.scale(), params.max_level());
}

/// Encodes up to N/2 complex values at scale @p scale and level @p level.
/// @throws hefl::invalid_argument as the real overload.
[[nodiscard]] inline plaintext encode(const parameters& params, const encoder& enc,
                                      std::span<const std::complex<double>> values, double scale, std::size_t level) {
  return detail::encode_with(params, enc, scale, level, [&](std::span<double> out, double bound) {
    enc.encode(values, scale, out, bound);
  });
}

/// Encodes up to N/2 complex values at the parameters' default scale and the top level.
/// @throws hefl::invalid_argument as the real overload.
[[nodiscard]] inline plaintext encode(const parameters& params, const encoder& enc,
                                      std::span<const std::complex<double>> values) {
  return encode(params, enc, values, params.scale(), params.max_level());
}

/// Encodes up to N/2 complex values at exactly the scale and level of @p like (see the real overload).
/// @throws hefl::invalid_argument as the real overload.
[[nodiscard]] inline plaintext encode(const parameters& params, const encoder& enc,
                                      std::span<const std::complex<double>> values, const ciphertext& like) {
  if (like.parameters_id() != params.id())
    throw invalid_argument("ckks::encode: the ciphertext whose scale and level to match belongs to other parameters");
  return encode(params, enc, values, like.scale(), like.level());
}

/// Public-key encryption for one parameter set. Draws randomness from the random_source given at
/// construction, so one encryptor must not be used by two threads at once.
class encryptor {
public:
  /// Keeps a copy of @p pk and a reference to @p rng, which must outlive the encryptor.
  /// @throws hefl::invalid_argument if the public key belongs to other parameters.
  encryptor(const parameters& params, const public_key& pk, random_source& rng)
      : m_params(params), m_pk(pk), m_rng(rng) {
    if (pk.parameters_id() != params.id())
      throw invalid_argument("ckks::encryptor: the public key belongs to other parameters");
    // The key is fixed, so Shoup constants for it turn every v·pk product into two multiplications.
    const auto& ctx = params.context();
    m_b_shoup.resize(pk.b().data().size());
    m_a_shoup.resize(pk.a().data().size());
    const std::size_t n = params.poly_degree();
    for (std::size_t i = 0; i < pk.b().limb_count(); ++i) {
      const detail::u64 q = ctx.primes()[pk.b().prime_index(i, ctx)];
      for (std::size_t j = 0; j < n; ++j) {
        m_b_shoup[i * n + j] = detail::shoup_precompute(pk.b().limb(i)[j], q);
        m_a_shoup[i * n + j] = detail::shoup_precompute(pk.a().limb(i)[j], q);
      }
    }
  }

  /// A fresh encryption of zero at @p level and @p scale.
  /// @throws hefl::invalid_argument if level exceeds the top level or scale is not positive and finite.
  [[nodiscard]] ciphertext encrypt_zero(std::size_t level, double scale) {
    if (level > m_params.max_level())
      throw invalid_argument("ckks::encryptor: level " + std::to_string(level) + " exceeds the top level " +
                             std::to_string(m_params.max_level()));
    const auto& ctx = m_params.context();
    const std::size_t n = m_params.poly_degree();
    detail::rns_poly u(n, level, true);
    detail::rns_poly c0(n, level, true, true), c1(n, level, true, true);
    {
      detail::random_stream rs(m_rng);
      detail::sample_ternary(u, rs, ctx);
      detail::to_ntt(u, ctx);
      const std::size_t pk_special = m_pk.b().limb_count() - 1;
      // Randomness is drawn sequentially above and below; the limbs in between are independent.
      hefl::parallel_for(u.limb_count(), [&](std::size_t i) {
        const std::size_t src = i <= level ? i : pk_special;
        const detail::ntt_tables& tables = ctx.ntt(u.prime_index(i, ctx));
        const detail::u64 q = tables.prime();
        const detail::u64* ui = u.limb(i);
        const detail::u64* b = m_pk.b().limb(src);
        const detail::u64* a = m_pk.a().limb(src);
        const detail::u64* b_shoup = m_b_shoup.data() + src * n;
        const detail::u64* a_shoup = m_a_shoup.data() + src * n;
        detail::u64* x0 = c0.limb(i);
        detail::u64* x1 = c1.limb(i);
        if (detail::eltwise_uses_ifma(q)) {
          detail::eltwise_multiply(x0, ui, b, n, tables.mod());
          detail::eltwise_multiply(x1, ui, a, n, tables.mod());
        } else {
          for (std::size_t j = 0; j < n; ++j) {
            x0[j] = detail::mul_shoup(ui[j], b[j], b_shoup[j], q);
            x1[j] = detail::mul_shoup(ui[j], a[j], a_shoup[j], q);
          }
        }
        tables.inverse(x0);
        tables.inverse(x1);
      });
      detail::secure_wipe(u.data());
      c0.set_ntt_form(false);
      c1.set_ntt_form(false);
      detail::add_gaussian_error(c0, rs, ctx);
      detail::add_gaussian_error(c1, rs, ctx);
    }
    detail::key_switch_mod_down(c0, c1, ctx);
    detail::to_ntt(c0, ctx);
    detail::to_ntt(c1, ctx);
    std::vector<detail::rns_poly> polys;
    polys.reserve(2);
    polys.push_back(std::move(c0));
    polys.push_back(std::move(c1));
    return ciphertext(m_params, std::move(polys), scale);
  }

  /// Encrypts @p pt at its level and scale.
  /// @throws hefl::invalid_argument if the plaintext belongs to other parameters.
  [[nodiscard]] ciphertext encrypt(const plaintext& pt) {
    if (pt.parameters_id() != m_params.id())
      throw invalid_argument("ckks::encryptor: the plaintext belongs to other parameters");
    ciphertext ct = encrypt_zero(pt.level(), pt.scale());
    detail::add_inplace(ct.mutable_poly(0), pt.poly(), m_params.context());
    return ct;
  }

private:
  parameters m_params;
  public_key m_pk;
  std::vector<detail::u64> m_b_shoup, m_a_shoup;
  random_source& m_rng;
};

namespace detail {
struct symmetric_encryptor_access;
} // namespace detail

/// Secret-key encryption: Enc(m) = (-a·s + e + m, a) with a uniform (Cheon, Kim, Kim, Song 2017,
/// §3.4, symmetric variant). Its noise is the fresh error e alone. Holds a copy of the secret key,
/// wiped on destruction.
///
/// Both e and a come from the encryptor's own random_source; a caller cannot supply a, because two
/// encryptions with the same a reveal m - m' to anyone (c_0 - c_0' = m - m' + e - e'). The seeded
/// form that halves a fresh ciphertext on the wire, encrypt_seeded(enc, pt) in serialization.hpp,
/// draws a fresh 32-byte seed from the same source for every ciphertext. The only way to choose the
/// seed is ckks::testing::encrypt_seeded_with_chosen_seed, which is compiled only where
/// HEFL_CKKS_TESTING_CHOSEN_SEEDS is defined (the known-answer tests), so production code cannot
/// reach it by accident: without the macro it does not exist.
class symmetric_encryptor {
public:
  /// Keeps a copy of @p sk and a reference to @p rng (for the error and for a; a CSPRNG such as
  /// hefl::crypto::system_random outside tests), which must outlive the encryptor.
  /// @throws hefl::invalid_argument if the secret key belongs to other parameters.
  symmetric_encryptor(const parameters& params, const secret_key& sk, random_source& rng)
      : m_params(params), m_sk(sk), m_rng(rng) {
    if (sk.parameters_id() != params.id())
      throw invalid_argument("ckks::symmetric_encryptor: the secret key belongs to other parameters");
  }

  /// Encrypts @p pt at its level and scale, drawing a and e from the encryptor's source.
  /// @throws hefl::invalid_argument if the plaintext belongs to other parameters.
  [[nodiscard]] ciphertext encrypt(const plaintext& pt) { return encrypt_with_uniform(pt, m_rng); }

private:
  friend struct detail::symmetric_encryptor_access;

  // a from a_source (the encryptor's own source, or the key stream of a seed the encryptor drew).
  [[nodiscard]] ciphertext encrypt_with_uniform(const plaintext& pt, random_source& a_source) {
    if (pt.parameters_id() != m_params.id())
      throw invalid_argument("ckks::symmetric_encryptor: the plaintext belongs to other parameters");
    const auto& ctx = m_params.context();
    const std::size_t n = m_params.poly_degree(), level = pt.level();
    detail::rns_poly a(n, level, false);
    {
      detail::random_stream rs(a_source);
      detail::sample_uniform(a, rs, ctx);
    }
    detail::rns_poly c0(n, level, false);
    {
      detail::random_stream rs(m_rng);
      detail::add_gaussian_error(c0, rs, ctx);
    }
    detail::to_ntt(c0, ctx);
    // c0 = e - a·s + m
    detail::for_each_limb(c0, [&](std::size_t i) {
      const detail::modulus& q = ctx.ntt(i).mod();
      const detail::u64* x = a.limb(i);
      const detail::u64* s = m_sk.poly().limb(i);
      const detail::u64* m = pt.poly().limb(i);
      detail::u64* y = c0.limb(i);
      if (detail::eltwise_uses_ifma(q.value())) { // the same residues on the IFMA kernels
        detail::word_vector as = detail::uninitialized_words(n);
        detail::eltwise_multiply(as.data(), x, s, n, q);
        detail::eltwise_subtract(y, y, as.data(), n, q.value());
        detail::eltwise_add(y, y, m, n, q.value());
        detail::secure_wipe(std::span<detail::u64>(as.data(), n));
        return;
      }
      for (std::size_t j = 0; j < n; ++j)
        y[j] = detail::add_mod(detail::sub_mod(y[j], detail::mul_mod(x[j], s[j], q), q.value()), m[j], q.value());
    });
    std::vector<detail::rns_poly> polys;
    polys.reserve(2);
    polys.push_back(std::move(c0));
    polys.push_back(std::move(a));
    return ciphertext(m_params, std::move(polys), pt.scale());
  }

private:
  parameters m_params;
  secret_key m_sk;
  random_source& m_rng;
};

} // namespace hefl::he::ckks
