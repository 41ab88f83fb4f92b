#pragma once
/// @file
/// Collective relinearization-key generation, RKG (Mouchet, Troncoso-Pastoriza, Bossuat, Hubaux,
/// PETS 2021, Protocol 3, the two-round protocol), in the hybrid key-switching layout of keys.hpp:
/// one pair per digit j with gadget w_j = P·[j]. With CRPs a_j and an ephemeral ternary u_i:
///   round 1: h0_ij = -u_i·a_j + s_i·w_j + e0_ij,  h1_ij = s_i·a_j + e1_ij   (summed: h0_j, h1_j)
///   round 2: h0'_ij = s_i·h0_j + e2_ij,           h1'_ij = (u_i - s_i)·h1_j + e3_ij
/// and the key is (b_j, a'_j) = (Σ h0'_ij + Σ h1'_ij, h1_j): b_j + a'_j·s = s^2·w_j + s·e0 + u·e1 + e2
/// + e3 (s = Σ s_i, u = Σ u_i), a key-switching key from s^2 to s that ckks::evaluator::relinearize takes.

#include <hefl/core/random.hpp>
#include <hefl/he/ckks/keys.hpp>
#include <hefl/he/ckks/multiparty/sampling.hpp>
#include <hefl/he/ckks/multiparty/session.hpp>
#include <hefl/he/ckks/multiparty/share.hpp>

#include <cstdint>
#include <utility>
#include <vector>

namespace hefl::he::ckks::multiparty {

/// The shape of an RKG share of either round: 2·dnum polynomials over all primes (the h0 of every
/// digit, then the h1).
[[nodiscard]] inline share_shape rkg_shape(const session& s) {
  return {2 * s.params().digit_count(), s.params().max_level(), s.params().special_prime_count()};
}

/// One party's side of RKG: holds the ephemeral secret u_i between the two rounds (wiped on destruction).
class rkg_party {
public:
  /// Draws u_i from @p rng, which is kept by reference for the errors and must outlive the party.
  /// @throws hefl::invalid_argument if sk belongs to other parameters or party is out of range.
  rkg_party(const session& s, std::uint32_t party, const secret_key& sk, random_source& rng)
      : m_session(s), m_party(party), m_sk(sk), m_rng(rng) {
    const auto& params = s.params();
    if (sk.parameters_id() != params.id())
      throw invalid_argument("ckks::multiparty::rkg_party: the secret share belongs to other parameters");
    if (party >= s.party_count())
      throw invalid_argument("ckks::multiparty::rkg_party: party " + std::to_string(party) + " out of range");
    m_u = detail::ternary_poly(params, params.max_level(), params.special_prime_count(), rng);
  }
  rkg_party(const rkg_party&) = delete;
  rkg_party& operator=(const rkg_party&) = delete;
  ~rkg_party() { ckks::detail::secure_wipe(m_u.data()); }

  /// The round-1 share (h0_ij, h1_ij) for every digit j.
  [[nodiscard]] share round1() {
    const auto& params = m_session.params();
    const auto& ctx = params.context();
    const std::size_t digits = params.digit_count(), level = params.max_level(), alpha = params.special_prime_count();
    std::vector<ckks::detail::rns_poly> h0, h1;
    for (std::size_t j = 0; j < digits; ++j) {
      const auto a = m_session.crp(protocol::rkg, 0, j);
      auto x = detail::gaussian_poly(params, level, alpha, m_rng);
      detail::multiply_subtract(x, a, m_u, ctx);
      detail::add_gadget_term(x, m_sk.poly(), j, params);
      h0.push_back(std::move(x));
      auto y = detail::gaussian_poly(params, level, alpha, m_rng);
      ckks::detail::multiply_accumulate(y, a, m_sk.poly(), ctx);
      h1.push_back(std::move(y));
    }
    for (auto& y : h1) h0.push_back(std::move(y));
    return share(m_session, protocol::rkg, 1, m_party, 0, std::move(h0));
  }

  /// The round-2 share (s_i·h0_j + e2, (u_i - s_i)·h1_j + e3) from the aggregated round-1 share.
  /// @throws share_mismatch if @p aggregate1 is not the aggregated RKG round-1 share of this session.
  [[nodiscard]] share round2(const share& aggregate1) {
    check_share(m_session, aggregate1, protocol::rkg, 1, 0, rkg_shape(m_session), all_parties);
    const auto& params = m_session.params();
    const auto& ctx = params.context();
    const std::size_t digits = params.digit_count(), level = params.max_level(), alpha = params.special_prime_count();
    ckks::detail::rns_poly u_minus_s = m_u;
    ckks::detail::sub_inplace(u_minus_s, m_sk.poly(), ctx);
    std::vector<ckks::detail::rns_poly> out;
    for (std::size_t j = 0; j < digits; ++j) {
      auto x = detail::gaussian_poly(params, level, alpha, m_rng);
      ckks::detail::multiply_accumulate(x, aggregate1.polys()[j], m_sk.poly(), ctx);
      out.push_back(std::move(x));
    }
    for (std::size_t j = 0; j < digits; ++j) {
      auto y = detail::gaussian_poly(params, level, alpha, m_rng);
      ckks::detail::multiply_accumulate(y, aggregate1.polys()[digits + j], u_minus_s, ctx);
      out.push_back(std::move(y));
    }
    ckks::detail::secure_wipe(u_minus_s.data());
    return share(m_session, protocol::rkg, 2, m_party, 0, std::move(out));
  }

private:
  session m_session;
  std::uint32_t m_party;
  secret_key m_sk;
  random_source& m_rng;
  ckks::detail::rns_poly m_u;
};

/// An RKG accumulator for round @p round (1 or 2).
/// @throws hefl::invalid_argument if round is not 1 or 2.
[[nodiscard]] inline share_sum rkg_aggregator(const session& s, unsigned round) {
  if (round != 1 && round != 2) throw invalid_argument("ckks::multiparty::rkg_aggregator: RKG has rounds 1 and 2");
  return share_sum(s, protocol::rkg, round, 0, rkg_shape(s));
}

/// The collective relinearization key from the aggregated shares of both rounds.
/// @throws share_mismatch if either is not the aggregated RKG share of its round in this session.
[[nodiscard]] inline relin_keys collective_relin_keys(const session& s, const share& aggregate1, const share& aggregate2) {
  check_share(s, aggregate1, protocol::rkg, 1, 0, rkg_shape(s), all_parties);
  check_share(s, aggregate2, protocol::rkg, 2, 0, rkg_shape(s), all_parties);
  const auto& params = s.params();
  const std::size_t digits = params.digit_count();
  std::vector<ckks::detail::rns_poly> b, a;
  for (std::size_t j = 0; j < digits; ++j) {
    auto x = aggregate2.polys()[j];
    ckks::detail::add_inplace(x, aggregate2.polys()[digits + j], params.context());
    b.push_back(std::move(x));
    a.push_back(aggregate1.polys()[digits + j]);
  }
  return relin_keys(kswitch_key(params, std::move(b), std::move(a)));
}

} // namespace hefl::he::ckks::multiparty
