#pragma once
/// @file
/// Collective public-key generation, CKG (Mouchet, Troncoso-Pastoriza, Bossuat, Hubaux, PETS 2021,
/// Protocol 1): with the session's CRP a, party i publishes b_i = -a·s_i + e_i; the sum
/// b = Σ b_i = -a·s + e with s = Σ s_i makes (b, a) a public key of the collective secret s, which
/// the single-key ckks::encryptor takes unchanged.

#include <hefl/core/random.hpp>
#include <hefl/he/ckks/keys.hpp>
#include <hefl/he/ckks/multiparty/sampling.hpp>
#include <hefl/he/ckks/multiparty/session.hpp>
#include <hefl/he/ckks/multiparty/share.hpp>

#include <cstdint>
#include <utility>
#include <vector>

namespace hefl::he::ckks::multiparty {

/// The shape of a CKG share: one polynomial over all primes.
[[nodiscard]] inline share_shape ckg_shape(const session& s) {
  return {1, s.params().max_level(), s.params().special_prime_count()};
}

/// Party @p party's CKG share b_i = -a·s_i + e_i for its secret share @p sk.
/// @throws hefl::invalid_argument if sk belongs to other parameters or party is out of range.
[[nodiscard]] inline share ckg_share(const session& s, std::uint32_t party, const secret_key& sk, random_source& rng) {
  const auto& params = s.params();
  if (sk.parameters_id() != params.id())
    throw invalid_argument("ckks::multiparty::ckg_share: the secret share belongs to other parameters");
  if (party >= s.party_count())
    throw invalid_argument("ckks::multiparty::ckg_share: party " + std::to_string(party) + " out of range");
  const auto a = s.crp(protocol::ckg, 0, 0);
  auto b = detail::gaussian_poly(params, params.max_level(), params.special_prime_count(), rng);
  detail::multiply_subtract(b, a, sk.poly(), params.context());
  std::vector<ckks::detail::rns_poly> polys;
  polys.push_back(std::move(b));
  return share(s, protocol::ckg, 1, party, 0, std::move(polys));
}

/// A CKG accumulator for session @p s.
[[nodiscard]] inline share_sum ckg_aggregator(const session& s) { return share_sum(s, protocol::ckg, 1, 0, ckg_shape(s)); }

/// The collective public key (Σ b_i, a) from the aggregated CKG share.
/// @throws share_mismatch if @p aggregate is not the aggregated CKG share of this session.
[[nodiscard]] inline public_key collective_public_key(const session& s, const share& aggregate) {
  check_share(s, aggregate, protocol::ckg, 1, 0, ckg_shape(s), all_parties);
  return public_key(s.params(), aggregate.polys()[0], s.crp(protocol::ckg, 0, 0));
}

} // namespace hefl::he::ckks::multiparty
