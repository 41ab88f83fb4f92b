#pragma once
/// @file
/// Collective decryption: key switching to the zero key, CKS (Mouchet, Troncoso-Pastoriza, Bossuat,
/// Hubaux, PETS 2021, Protocol 5 with s' = 0). For a ciphertext (c_0, c_1) under s = Σ s_i, party i
/// publishes the partial decryption h_i = s_i·c_1 + f_i with smudging noise f_i; then
/// c_0 + Σ h_i = Δ·m + e + Σ f_i. Without every party's h_i the sum lacks an s_i·c_1 term, uniform to
/// anyone without s_i, and decodes to garbage.
///
/// Smudging, two kinds (detail/sampling.hpp), chosen by the type of the parameter:
/// - ckks::flooding_parameters{B, λ_s}: coefficients uniform on the integers of [-U, U],
///   U = ceil(N·B·2^(λ_s - 1)) (flooding_amplitude; σ_smudge = U/sqrt(3) per coefficient), B a bound
///   on the ciphertext noise e. One honest party's f_i alone puts the published values within
///   statistical distance N·B/(2U + 1) <= 2^-λ_s of values that depend only on Δ·m and the other
///   parties' inputs (the smudging lemma over N coefficients, as decryptor::decrypt_for_sharing), so
///   the output does not leak e, whose terms carry the secrets. Fits fresh or summed ciphertexts at
///   large scales (e.g. 2^100 for FL updates); too large for products at usual scales.
/// - gaussian_smudging{B, s, τ}: a Gaussian of σ_smudge = sqrt(12·τ)·2^(s/2)·B per coefficient (Li,
///   Micciancio, Schultz, Sorrell, CRYPTO 2022, Cor. 2: s bits of security for τ published values),
///   about N·2^(s/2) times smaller: for computed results such as products.
/// Precision cost: each slot moves by about σ_smudge·sqrt(K·N/2)/Δ for K parties (measured in
/// tests/unit/ckks_multiparty_test.cpp).
#include <hefl/core/random.hpp>
#include <hefl/he/ckks/decryptor.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/multiparty/sampling.hpp>
#include <hefl/he/ckks/multiparty/session.hpp>
#include <hefl/he/ckks/multiparty/share.hpp>

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace hefl::he::ckks::multiparty {

/// The shape of a CKS share for @p ct: one polynomial at ct's level.
[[nodiscard]] inline share_shape cks_shape(const ciphertext& ct) { return {1, ct.level(), 0}; }

namespace detail {
inline void check_ciphertext(const session& s, const ciphertext& ct, const char* who) {
  if (ct.parameters_id() != s.params().id())
    throw invalid_argument(std::string(who) + ": the ciphertext belongs to other parameters");
  if (ct.size() != 2)
    throw invalid_argument(std::string(who) + ": the ciphertext has " + std::to_string(ct.size()) +
                           " parts; relinearize it first");
}
} // namespace detail

/// Party @p party's partial decryption of @p ct: s_i·c_1 plus smudging noise of parameter @p f.
/// @throws hefl::invalid_argument if sk or ct belong to other parameters, ct has 3 parts, party is
///         out of range, or as detail::smudging_poly (f invalid, or K·U does not fit Q_l/8).
template <class Smudging>
[[nodiscard]] share cks_share(const session& s, std::uint32_t party, const secret_key& sk, const ciphertext& ct,
                                     const Smudging& f, random_source& rng) {
  static_assert(smudging_parameters<Smudging>,
                "ckks::multiparty::cks_share needs its smudging as ckks::flooding_parameters (uniform, with a statistical "
                "bound) or multiparty::gaussian_smudging (for computed results): see docs/threshold.md");
  const auto& params = s.params();
  detail::check_ciphertext(s, ct, "ckks::multiparty::cks_share");
  if (sk.parameters_id() != params.id())
    throw invalid_argument("ckks::multiparty::cks_share: the secret share belongs to other parameters");
  if (party >= s.party_count())
    throw invalid_argument("ckks::multiparty::cks_share: party " + std::to_string(party) + " out of range");
  auto h = detail::smudging_poly(params, ct.level(), f, s.party_count(), rng);
  auto si = detail::at_level(sk.poly(), ct.level());
  ckks::detail::multiply_accumulate(h, ct.poly(1), si, params.context());
  ckks::detail::secure_wipe(si.data());
  std::vector<ckks::detail::rns_poly> polys;
  polys.push_back(std::move(h));
  return share(s, protocol::cks, 1, party, fingerprint(ct), std::move(polys));
}

/// A CKS accumulator for @p ct.
[[nodiscard]] inline share_sum cks_aggregator(const session& s, const ciphertext& ct) {
  return share_sum(s, protocol::cks, 1, fingerprint(ct), cks_shape(ct));
}

/// A CKS accumulator for @p ct that expects the shares of the parties in @p active only (a quorum
/// of a threshold session, threshold.hpp).
/// @throws hefl::invalid_argument as share_sum.
[[nodiscard]] inline share_sum cks_aggregator(const session& s, const ciphertext& ct,
                                            std::span<const std::uint32_t> active) {
  return share_sum(s, protocol::cks, 1, fingerprint(ct), cks_shape(ct), active);
}

/// The plaintext c_0 + Σ h_i at ct's level and scale (decode it with ckks::decode).
/// @throws share_mismatch if @p aggregate is not an aggregated CKS share of this session for ct;
///         hefl::invalid_argument as cks_share for ct.
[[nodiscard]] inline plaintext collective_decrypt(const session& s, const ciphertext& ct, const share& aggregate) {
  detail::check_ciphertext(s, ct, "ckks::multiparty::collective_decrypt");
  check_share(s, aggregate, protocol::cks, 1, fingerprint(ct), cks_shape(ct), all_parties);
  auto m = ct.poly(0);
  ckks::detail::add_inplace(m, aggregate.polys()[0], s.params().context());
  return plaintext(s.params(), std::move(m), ct.scale());
}

} // namespace hefl::he::ckks::multiparty
