#pragma once
/// @file
/// Collective Galois-key generation, RTG (Mouchet, Troncoso-Pastoriza, Bossuat, Hubaux, PETS 2021,
/// Protocol 4), in the hybrid layout of keys.hpp: for Galois element g and digit j, with CRP a_gj,
/// party i publishes h_ij = -a_gj·s_i + π_g(s_i)·w_j + e_ij; since π_g is linear, Σ_i h_ij =
/// -a_gj·s + π_g(s)·w_j + e, the key-switching key from π_g(s) to s that ckks::evaluator::rotate,
/// conjugate and sum_slots take.

#include <hefl/core/random.hpp>
#include <hefl/he/ckks/keys.hpp>
#include <hefl/he/ckks/multiparty/sampling.hpp>
#include <hefl/he/ckks/multiparty/session.hpp>
#include <hefl/he/ckks/multiparty/share.hpp>

#include <algorithm>
#include <cstdint>
#include <span>
#include <map>
#include <utility>
#include <vector>

namespace hefl::he::ckks::multiparty {

/// The shape of an RTG share: dnum polynomials over all primes.
[[nodiscard]] inline share_shape rtg_shape(const session& s) {
  return {s.params().digit_count(), s.params().max_level(), s.params().special_prime_count()};
}

/// The Galois elements of rotations by @p steps (and conjugation if @p conjugation), as
/// key_generator::create_galois_keys computes them, without duplicates.
/// @throws hefl::invalid_argument if a step is a multiple of the slot count.
[[nodiscard]] inline std::vector<std::uint64_t> galois_elements(const session& s, std::span<const long long> steps,
                                                                bool conjugation = false) {
  const std::size_t n = s.params().poly_degree();
  std::vector<std::uint64_t> out;
  for (const long long step : steps) {
    if (step % static_cast<long long>(n / 2) == 0)
      throw invalid_argument("ckks::multiparty::galois_elements: rotation step " + std::to_string(step) +
                             " is a multiple of the slot count (no rotation)");
    const auto g = galois_element_for_step(step, n);
    if (std::find(out.begin(), out.end(), g) == out.end()) out.push_back(g);
  }
  if (conjugation) {
    const auto g = conjugation_galois_element(n);
    if (std::find(out.begin(), out.end(), g) == out.end()) out.push_back(g);
  }
  return out;
}

/// Party @p party's RTG share for Galois element @p galois_element.
/// @throws hefl::invalid_argument if sk belongs to other parameters, party is out of range, or the
///         element is even or not below 2N.
[[nodiscard]] inline share rtg_share(const session& s, std::uint32_t party, const secret_key& sk,
                                     std::uint64_t galois_element, random_source& rng) {
  const auto& params = s.params();
  if (sk.parameters_id() != params.id())
    throw invalid_argument("ckks::multiparty::rtg_share: the secret share belongs to other parameters");
  if (party >= s.party_count())
    throw invalid_argument("ckks::multiparty::rtg_share: party " + std::to_string(party) + " out of range");
  const auto& ctx = params.context();
  ckks::detail::rns_poly rotated;
  ckks::detail::apply_galois(sk.poly(), galois_element, rotated, ctx);
  std::vector<ckks::detail::rns_poly> out;
  for (std::size_t j = 0; j < params.digit_count(); ++j) {
    const auto a = s.crp(protocol::rtg, galois_element, j);
    auto h = detail::gaussian_poly(params, params.max_level(), params.special_prime_count(), rng);
    detail::multiply_subtract(h, a, sk.poly(), ctx);
    detail::add_gadget_term(h, rotated, j, params);
    out.push_back(std::move(h));
  }
  ckks::detail::secure_wipe(rotated.data());
  return share(s, protocol::rtg, 1, party, galois_element, std::move(out));
}

/// An RTG accumulator for Galois element @p galois_element.
[[nodiscard]] inline share_sum rtg_aggregator(const session& s, std::uint64_t galois_element) {
  return share_sum(s, protocol::rtg, 1, galois_element, rtg_shape(s));
}

/// The collective Galois keys from one aggregated RTG share per Galois element.
/// @throws share_mismatch if a share is not an aggregated RTG share of this session;
///         hefl::invalid_argument if two shares have the same element.
[[nodiscard]] inline galois_keys collective_galois_keys(const session& s, std::span<const share> aggregates) {
  const auto& params = s.params();
  std::map<std::uint64_t, kswitch_key> keys;
  for (const auto& agg : aggregates) {
    check_share(s, agg, protocol::rtg, 1, agg.subject(), rtg_shape(s), all_parties);
    if (keys.count(agg.subject()) != 0)
      throw invalid_argument("ckks::multiparty::collective_galois_keys: two shares for Galois element " +
                             std::to_string(agg.subject()));
    std::vector<ckks::detail::rns_poly> a;
    for (std::size_t j = 0; j < params.digit_count(); ++j) a.push_back(s.crp(protocol::rtg, agg.subject(), j));
    keys.emplace(agg.subject(), kswitch_key(params, agg.polys(), std::move(a)));
  }
  return galois_keys(params.id(), std::move(keys));
}

} // namespace hefl::he::ckks::multiparty
