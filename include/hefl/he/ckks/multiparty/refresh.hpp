#pragma once
/// @file
/// Collective refresh of a CKKS ciphertext: the interactive "collective bootstrapping" of Mouchet,
/// Troncoso-Pastoriza, Bossuat, Hubaux (PETS 2021, §5, Protocol 6), in the CKKS form Lattigo's
/// RefreshProtocol uses (encryption-to-shares followed by shares-to-encryption). A ciphertext
/// (c_0, c_1) at a low level l under s = Σ s_i becomes a ciphertext of the same values at the top
/// level L, and no party learns the values. Each party i draws a mask M_i (integer coefficients
/// uniform on [-2^(b-1), 2^(b-1))) and sends, in one message pair,
///   decrypt part  h0_i = s_i·c_1 - M_i + f_i   (mod Q_l; f_i smudging, as in CKS),
///   encrypt part  h1_i = -s_i·a + M_i + e_i    (mod Q_L; a the refresh's CRP, e_i Gaussian σ = 3.2).
/// The combiner computes x = c_0 + Σ h0_i = Δ·m + e + Σ f_i - Σ M_i mod Q_l, takes its centered
/// representative (exact when |x| < Q_l/4, which the mask width guarantees), lifts it to Q_L and
/// outputs (x + Σ h1_i, a) = (Δ·m + e + Σ f_i + Σ e_i - s·a, a) at level L and the input's scale.
///
/// The masks: b = λ_m + log2(N) + ceil(log2(Δ·V + noise)) + 1 bits, V a bound on the slot values and
/// λ_m = refresh_parameters::mask_security, so that one honest party's mask alone puts x within
/// statistical distance N·2^(log2(Δ·V + noise) + 1 - b) <= 2^-λ_m of a value independent of the
/// message (uniform masking of each of the N coefficients). Correctness needs Q_l >= 2^(b + log2 K + 2)
/// (K parties): the refresh refuses a ciphertext at a lower level. The CRP a is derived from the
/// session seed and a refresh index: an index must never be used twice in a session (two
/// ciphertexts with the same a would differ by a plaintext), which ckks_threshold_party enforces.
/// Like every protocol here, it assumes honest-but-curious parties.

#include <hefl/core/error.hpp>
#include <hefl/core/random.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/multiparty/cks.hpp>
#include <hefl/he/ckks/multiparty/sampling.hpp>
#include <hefl/he/ckks/multiparty/session.hpp>
#include <hefl/he/ckks/multiparty/share.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace hefl::he::ckks::multiparty {

/// What a refresh masks and how.
struct refresh_parameters {
  /// V: a bound on the absolute value of every slot value (real and imaginary parts) of the
  /// ciphertext; the masks are sized above Δ·V. Values beyond it are hidden less than stated.
  double value_bound = 1;
  /// λ_m: the masked decryption the combiner sees is within statistical distance 2^-λ_m of one
  /// independent of the values (one honest party suffices). In [40, 100].
  int mask_security = 40;
};

/// One party's refresh message: the two parts it sends together.
struct refresh_share {
  share decrypt; ///< h0_i at the ciphertext's level (protocol::refresh_decrypt, subject: the ciphertext's fingerprint)
  share encrypt; ///< h1_i at the top level (protocol::refresh_encrypt, subject: the refresh index)
};

namespace detail {

/// log2 of the mask width b for a refresh of @p ct by @p parties parties with smudging @p f.
template <class Smudging>
[[nodiscard]] double refresh_mask_bits(const session& s, const ciphertext& ct, const refresh_parameters& r,
                                       const Smudging& f) {
  if (!std::isfinite(r.value_bound) || !(r.value_bound > 0))
    throw invalid_argument("ckks::multiparty::refresh: value_bound must be finite and > 0");
  if (r.mask_security < 40 || r.mask_security > 100)
    throw invalid_argument("ckks::multiparty::refresh: mask_security must be in [40, 100], got " +
                           std::to_string(r.mask_security));
  double noise = 0;
  if constexpr (std::same_as<Smudging, flooding_parameters>)
    noise = flooding_amplitude(s.params().poly_degree(), f);
  else
    noise = 10 * smudging_deviation(f);
  noise = noise * static_cast<double>(s.party_count()) + f.noise_bound;
  const double message = std::ceil(std::log2(ct.scale() * r.value_bound + noise));
  return r.mask_security + std::log2(static_cast<double>(s.params().poly_degree())) + message + 1;
}

/// @throws hefl::invalid_argument unless Q_l >= 2^(b + log2 K + 2).
inline void check_refresh_room(const session& s, const ciphertext& ct, double bits) {
  const double need = std::ceil(bits + std::log2(static_cast<double>(s.party_count()))) + 2;
  const double have = s.params().log2_modulus(ct.level());
  if (!(need <= have) || bits > 125)
    throw invalid_argument("ckks::multiparty::refresh: masks of 2^" + std::to_string(static_cast<int>(std::ceil(bits))) +
                           " for " + std::to_string(s.party_count()) + " parties need a modulus of 2^" +
                           std::to_string(static_cast<int>(need)) + ", the ciphertext's level " +
                           std::to_string(ct.level()) + " has 2^" + std::to_string(static_cast<int>(have)) +
                           " (and masks are limited to 2^125): refresh at a higher level, or lower value_bound or "
                           "mask_security");
}

/// The top-level CRP of refresh @p index (no special limb).
[[nodiscard]] inline rns_poly refresh_crp(const session& s, std::uint32_t index) {
  return at_level(s.crp(protocol::refresh_encrypt, index, 0), s.params().max_level());
}

} // namespace detail

/// The shape of the decrypt part of a refresh of @p ct: one polynomial at ct's level.
[[nodiscard]] inline share_shape refresh_decrypt_shape(const ciphertext& ct) { return {1, ct.level(), 0}; }
/// The shape of the encrypt part: one polynomial at the top level.
[[nodiscard]] inline share_shape refresh_encrypt_shape(const session& s) { return {1, s.params().max_level(), 0}; }

/// Party @p party's refresh message for @p ct (refresh number @p index of the session), with its
/// additive secret share @p sk (for a quorum of a t-out-of-N session: active_share) and smudging @p f
/// on the decrypt part.
/// @throws hefl::invalid_argument if sk or ct belong to other parameters, ct has 3 parts, party is out
///         of range, refresh_parameters are out of range, the level's modulus has no room for the
///         masks (see the file comment), or as detail::smudging_poly.
template <class Smudging>
[[nodiscard]] refresh_share make_refresh_share(const session& s, std::uint32_t party, const secret_key& sk,
                                               const ciphertext& ct, std::uint32_t index, const refresh_parameters& r,
                                               const Smudging& f, random_source& rng) {
  static_assert(smudging_parameters<Smudging>,
                "ckks::multiparty::make_refresh_share needs its smudging as ckks::flooding_parameters or "
                "multiparty::gaussian_smudging: see docs/threshold.md");
  const auto& params = s.params();
  const auto& ctx = params.context();
  detail::check_ciphertext(s, ct, "ckks::multiparty::make_refresh_share");
  if (sk.parameters_id() != params.id())
    throw invalid_argument("ckks::multiparty::make_refresh_share: the secret share belongs to other parameters");
  if (party >= s.party_count())
    throw invalid_argument("ckks::multiparty::make_refresh_share: party " + std::to_string(party) + " out of range");
  const double bits = detail::refresh_mask_bits(s, ct, r, f);
  detail::check_refresh_room(s, ct, bits);
  const std::size_t level = ct.level(), top = params.max_level(), n = params.poly_degree();

  // The mask M_i, uniform on [-2^(b-1), 2^(b-1)), as residues at the top level (coefficient form).
  const int b = static_cast<int>(std::ceil(bits));
  const ckks::detail::u128 width_mask = (ckks::detail::u128{1} << b) - 1, half = ckks::detail::u128{1} << (b - 1);
  ckks::detail::rns_poly mask(n, top, 0);
  {
    ckks::detail::random_stream rs(rng);
    for (std::size_t j = 0; j < n; ++j) {
      const ckks::detail::u128 u = ((static_cast<ckks::detail::u128>(rs.next_u64()) << 64) | rs.next_u64()) & width_mask;
      const bool negative = u < half;
      const ckks::detail::u128 magnitude = negative ? half - u : u - half;
      for (std::size_t i = 0; i <= top; ++i) {
        const auto& q = ctx.ntt(i).mod();
        const std::uint64_t x = q.reduce(magnitude);
        mask.limb(i)[j] = negative ? ckks::detail::neg_mod(x, q.value()) : x;
      }
    }
  }
  ckks::detail::to_ntt(mask, ctx);

  auto h0 = detail::smudging_poly(params, level, f, s.party_count(), rng);
  auto si = detail::at_level(sk.poly(), level);
  ckks::detail::multiply_accumulate(h0, ct.poly(1), si, ctx);
  ckks::detail::secure_wipe(si.data());
  {
    auto m_low = detail::at_level(mask, level);
    ckks::detail::sub_inplace(h0, m_low, ctx);
    ckks::detail::secure_wipe(m_low.data());
  }

  auto h1 = detail::gaussian_poly(params, top, 0, rng);
  auto s_top = detail::at_level(sk.poly(), top);
  detail::multiply_subtract(h1, detail::refresh_crp(s, index), s_top, ctx);
  ckks::detail::secure_wipe(s_top.data());
  ckks::detail::add_inplace(h1, mask, ctx);
  ckks::detail::secure_wipe(mask.data());

  std::vector<ckks::detail::rns_poly> p0, p1;
  p0.push_back(std::move(h0));
  p1.push_back(std::move(h1));
  return {share(s, protocol::refresh_decrypt, 1, party, fingerprint(ct), std::move(p0)),
          share(s, protocol::refresh_encrypt, 1, party, index, std::move(p1))};
}

/// The combiner of one refresh: sums the decrypt parts and the encrypt parts separately, each
/// checked against the ciphertext, the refresh index and (for a quorum) the active parties.
class refresh_aggregator {
public:
  /// Expects every party of the session.
  refresh_aggregator(const session& s, const ciphertext& ct, std::uint32_t index)
      : m_decrypt(s, protocol::refresh_decrypt, 1, fingerprint(ct), refresh_decrypt_shape(ct)),
        m_encrypt(s, protocol::refresh_encrypt, 1, index, refresh_encrypt_shape(s)) {}
  /// Expects the parties in @p active only (a quorum of a t-out-of-N session).
  /// @throws hefl::invalid_argument as share_sum.
  refresh_aggregator(const session& s, const ciphertext& ct, std::uint32_t index, std::span<const std::uint32_t> active)
      : m_decrypt(s, protocol::refresh_decrypt, 1, fingerprint(ct), refresh_decrypt_shape(ct), active),
        m_encrypt(s, protocol::refresh_encrypt, 1, index, refresh_encrypt_shape(s), active) {}

  /// Adds one party's two parts (from the same party).
  /// @throws share_mismatch as share_sum::add, or if the parts come from different parties.
  void add(const share& decrypt_part, const share& encrypt_part) {
    if (decrypt_part.party() != encrypt_part.party())
      throw share_mismatch("ckks::multiparty::refresh_aggregator: the two parts come from parties " +
                           std::to_string(decrypt_part.party()) + " and " + std::to_string(encrypt_part.party()));
    m_decrypt.add(decrypt_part);
    m_encrypt.add(encrypt_part);
  }
  void add(const refresh_share& r) { add(r.decrypt, r.encrypt); }

  [[nodiscard]] bool complete() const noexcept { return m_decrypt.complete() && m_encrypt.complete(); }
  /// The aggregated parts. @throws hefl::invalid_argument unless every expected party contributed.
  [[nodiscard]] refresh_share result() const { return {m_decrypt.result(), m_encrypt.result()}; }
  /// The sums so far, complete or not (for tests of what too few parties compute).
  [[nodiscard]] refresh_share partial_result() const { return {m_decrypt.partial_result(), m_encrypt.partial_result()}; }

private:
  share_sum m_decrypt, m_encrypt;
};

/// The refreshed ciphertext: (lift(c_0 + Σ h0_i) + Σ h1_i, a) at the top level and ct's scale.
/// @throws share_mismatch unless @p aggregate holds the aggregated parts of this session for ct and
///         refresh @p index; hefl::invalid_argument as make_refresh_share for ct.
[[nodiscard]] inline ciphertext collective_refresh(const session& s, const ciphertext& ct, std::uint32_t index,
                                                   const refresh_share& aggregate) {
  detail::check_ciphertext(s, ct, "ckks::multiparty::collective_refresh");
  check_share(s, aggregate.decrypt, protocol::refresh_decrypt, 1, fingerprint(ct), refresh_decrypt_shape(ct), all_parties);
  check_share(s, aggregate.encrypt, protocol::refresh_encrypt, 1, index, refresh_encrypt_shape(s), all_parties);
  const auto& params = s.params();
  const auto& ctx = params.context();
  const std::size_t level = ct.level(), top = params.max_level(), n = params.poly_degree();
  auto x = ct.poly(0);
  ckks::detail::add_inplace(x, aggregate.decrypt.polys()[0], ctx);
  ckks::detail::from_ntt(x, ctx);
  // Centered representative of x mod Q_l in mixed radix (balanced digits b_k, |b_k| <= q_k/2),
  // then Σ b_k·(q_0···q_{k-1}) modulo every prime of the top level: exact, no floating point.
  const auto primes = ctx.primes();
  std::vector<std::vector<std::uint64_t>> radix(level + 1, std::vector<std::uint64_t>(top + 1));  // Π_{k'<k} q_k' mod p_i
  for (std::size_t i = 0; i <= top; ++i) {
    const auto& p = ctx.ntt(i).mod();
    std::uint64_t acc = 1;
    for (std::size_t k = 0; k <= level; ++k) {
      radix[k][i] = acc;
      acc = ckks::detail::mul_mod(acc, p.reduce(primes[k]), p);
    }
  }
  ckks::detail::rns_poly lifted(n, top, 0);
  std::vector<std::uint64_t> digits(level + 1);
  std::vector<std::int64_t> balanced(level + 1);
  for (std::size_t j = 0; j < n; ++j) {
    for (std::size_t i = 0; i <= level; ++i) {
      const auto& q = ctx.ntt(i).mod();
      std::uint64_t t = x.limb(i)[j];
      for (std::size_t k = 0; k < i; ++k)
        t = ckks::detail::mul_shoup(ckks::detail::sub_mod(t, q.reduce(digits[k]), q.value()), ctx.inverse(k, i),
                                    ctx.inverse_shoup(k, i), q.value());
      digits[i] = t;
    }
    std::uint64_t carry = 0;
    for (std::size_t k = 0; k <= level; ++k) {
      const std::uint64_t d = digits[k] + carry;
      if (d > (primes[k] - 1) / 2) {
        balanced[k] = -static_cast<std::int64_t>(primes[k] - d);
        carry = 1;
      } else {
        balanced[k] = static_cast<std::int64_t>(d);
        carry = 0;
      }
    }
    for (std::size_t i = 0; i <= top; ++i) {
      const auto& p = ctx.ntt(i).mod();
      std::uint64_t acc = 0;
      for (std::size_t k = 0; k <= level; ++k) {
        const std::uint64_t magnitude = p.reduce(static_cast<std::uint64_t>(balanced[k] < 0 ? -balanced[k] : balanced[k]));
        const std::uint64_t term = ckks::detail::mul_mod(magnitude, radix[k][i], p);
        acc = balanced[k] < 0 ? ckks::detail::sub_mod(acc, term, p.value()) : ckks::detail::add_mod(acc, term, p.value());
      }
      lifted.limb(i)[j] = acc;
    }
  }
  ckks::detail::to_ntt(lifted, ctx);
  ckks::detail::add_inplace(lifted, aggregate.encrypt.polys()[0], ctx);
  std::vector<ckks::detail::rns_poly> polys;
  polys.push_back(std::move(lifted));
  polys.push_back(detail::refresh_crp(s, index));
  return ciphertext(params, std::move(polys), ct.scale());
}

} // namespace hefl::he::ckks::multiparty
