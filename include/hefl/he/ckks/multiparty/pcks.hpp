#pragma once
/// @file
/// Collective public-key switching, PCKS (Mouchet, Troncoso-Pastoriza, Bossuat, Hubaux, PETS 2021,
/// Protocol 6): re-encrypts a ciphertext (c_0, c_1) under s = Σ s_i to a target public key
/// (b', a') of secret s' (one party's own key), so that only the holder of s' can decrypt. Party i,
/// with an ephemeral ternary u_i, publishes h0_i = s_i·c_1 + u_i·b' + f_i and h1_i = u_i·a' + e1_i;
/// then (c_0 + Σ h0_i, Σ h1_i) decrypts under s' to Δ·m + e + u·e' + Σ f_i + s'·Σ e1_i. The smudging
/// noise f_i is that of CKS (cks.hpp: uniform on [-U, U], U = flooding_amplitude(N, f)).

#include <hefl/core/random.hpp>
#include <hefl/he/ckks/decryptor.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/keys.hpp>
#include <hefl/he/ckks/multiparty/cks.hpp>
#include <hefl/he/ckks/multiparty/sampling.hpp>
#include <hefl/he/ckks/multiparty/session.hpp>
#include <hefl/he/ckks/multiparty/share.hpp>

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace hefl::he::ckks::multiparty {

/// The shape of a PCKS share for @p ct: two polynomials at ct's level.
[[nodiscard]] inline share_shape pcks_shape(const ciphertext& ct) { return {2, ct.level(), 0}; }

/// Party @p party's PCKS share of @p ct towards @p target.
/// @throws hefl::invalid_argument as cks_share, or if target belongs to other parameters.
template <class Smudging>
[[nodiscard]] share pcks_share(const session& s, std::uint32_t party, const secret_key& sk, const ciphertext& ct,
                                      const public_key& target, const Smudging& f, random_source& rng) {
  static_assert(smudging_parameters<Smudging>,
                "ckks::multiparty::pcks_share needs its smudging as ckks::flooding_parameters (uniform, with a statistical "
                "bound) or multiparty::gaussian_smudging (for computed results): see docs/threshold.md");
  const auto& params = s.params();
  const auto& ctx = params.context();
  detail::check_ciphertext(s, ct, "ckks::multiparty::pcks_share");
  if (sk.parameters_id() != params.id() || target.parameters_id() != params.id())
    throw invalid_argument("ckks::multiparty::pcks_share: the secret share or the target key belongs to other parameters");
  if (party >= s.party_count())
    throw invalid_argument("ckks::multiparty::pcks_share: party " + std::to_string(party) + " out of range");
  const std::size_t level = ct.level();
  auto h0 = detail::smudging_poly(params, level, f, s.party_count(), rng);
  auto u = detail::ternary_poly(params, level, 0, rng);
  auto h1 = detail::gaussian_poly(params, level, 0, rng);
  auto si = detail::at_level(sk.poly(), level);
  ckks::detail::multiply_accumulate(h0, ct.poly(1), si, ctx);
  ckks::detail::secure_wipe(si.data());
  ckks::detail::multiply_accumulate(h0, u, detail::at_level(target.b(), level), ctx);
  ckks::detail::multiply_accumulate(h1, u, detail::at_level(target.a(), level), ctx);
  ckks::detail::secure_wipe(u.data());
  std::vector<ckks::detail::rns_poly> polys;
  polys.push_back(std::move(h0));
  polys.push_back(std::move(h1));
  return share(s, protocol::pcks, 1, party, fingerprint(ct), std::move(polys));
}

/// A PCKS accumulator for @p ct.
[[nodiscard]] inline share_sum pcks_aggregator(const session& s, const ciphertext& ct) {
  return share_sum(s, protocol::pcks, 1, fingerprint(ct), pcks_shape(ct));
}

/// A PCKS accumulator for @p ct that expects the shares of the parties in @p active only (a quorum
/// of a threshold session, threshold.hpp).
/// @throws hefl::invalid_argument as share_sum.
[[nodiscard]] inline share_sum pcks_aggregator(const session& s, const ciphertext& ct,
                                            std::span<const std::uint32_t> active) {
  return share_sum(s, protocol::pcks, 1, fingerprint(ct), pcks_shape(ct), active);
}

/// The re-encrypted ciphertext (c_0 + Σ h0_i, Σ h1_i) at ct's level and scale, under the target key.
/// @throws share_mismatch if @p aggregate is not an aggregated PCKS share of this session for ct;
///         hefl::invalid_argument as pcks_share for ct.
[[nodiscard]] inline ciphertext collective_key_switch(const session& s, const ciphertext& ct, const share& aggregate) {
  detail::check_ciphertext(s, ct, "ckks::multiparty::collective_key_switch");
  check_share(s, aggregate, protocol::pcks, 1, fingerprint(ct), pcks_shape(ct), all_parties);
  auto c0 = ct.poly(0);
  ckks::detail::add_inplace(c0, aggregate.polys()[0], s.params().context());
  std::vector<ckks::detail::rns_poly> polys;
  polys.push_back(std::move(c0));
  polys.push_back(aggregate.polys()[1]);
  return ciphertext(s.params(), std::move(polys), ct.scale());
}

} // namespace hefl::he::ckks::multiparty
