#pragma once
/// @file
/// t-out-of-N threshold secret sharing of the collective key, so that any t parties (a quorum) can
/// decrypt while t - 1 cannot: Shamir secret sharing (Shamir, "How to Share a Secret", CACM 1979) of
/// each party's additive share, the "thresholdizer" of Mouchet, Bertrand, Hubaux ("An Efficient
/// Threshold Access-Structure for RLWE-Based Multiparty Homomorphic Encryption", IACR ePrint 2022)
/// as Lattigo implements it:
///   1. party i draws a random polynomial P_i of degree t - 1 over R_QP with P_i(0) = s_i and sends
///      P_i(α_j) (α_j = j + 1) to party j over a confidential, authenticated channel;
///   2. party j keeps t_j = Σ_i P_i(α_j) = P(α_j), a point of P = Σ_i P_i, P(0) = s;
///   3. for an active set T of t parties, party j ∈ T uses λ_j^T·t_j as its additive share, where
///      λ_j^T = Π_{k ∈ T, k ≠ j} α_k/(α_k - α_j) mod each prime: Σ_{j ∈ T} λ_j^T·t_j = P(0) = s.
/// The additive shares then enter CKS or PCKS unchanged, with an aggregator restricted to T
/// (cks_aggregator(s, ct, active)). Any t - 1 points of P reveal nothing about s (each coefficient
/// of each residue is shared by Shamir's scheme over Z_q). Setup needs all N parties online; only
/// decryption works with a quorum. The points of step 1 travel as protocol::shamir_dealing shares
/// (dealing_message / receive_dealing: hefl:MPS format, subject = threshold and recipient), which are
/// secrets: send them only over confidential, authenticated channels, and wipe the bytes after use.

#include <hefl/core/error.hpp>
#include <hefl/core/random.hpp>
#include <hefl/he/ckks/keys.hpp>
#include <hefl/he/ckks/multiparty/sampling.hpp>
#include <hefl/he/ckks/multiparty/session.hpp>
#include <hefl/he/ckks/multiparty/share.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace hefl::he::ckks::multiparty {

/// Whether a threshold below a strict majority of the parties is accepted. With t <= N/2, two
/// disjoint coalitions can each decrypt, and fewer parties need to collude to read everything.
enum class threshold_policy {
  /// The default: t must be greater than N/2.
  majority,
  /// Accept any t in [1, N]: the caller has decided that fewer parties may decrypt.
  allow_minority_i_know_fewer_parties_can_decrypt,
};

/// The Shamir evaluation point of party @p j: α_j = j + 1.
[[nodiscard]] constexpr std::uint64_t evaluation_point(std::uint32_t j) noexcept { return std::uint64_t{j} + 1; }

/// Checks a threshold @p t for session @p s.
/// @throws hefl::invalid_argument if t is 0 or above the party count;
///         hefl::security_error if t <= N/2 and @p policy is threshold_policy::majority.
inline void check_threshold(const session& s, std::size_t t, threshold_policy policy = threshold_policy::majority) {
  const std::size_t n = s.party_count();
  if (t == 0 || t > n)
    throw invalid_argument("ckks::multiparty: threshold " + std::to_string(t) + " outside [1, " + std::to_string(n) + "]");
  if (2 * t <= n && policy == threshold_policy::majority)
    throw security_error("ckks::multiparty: threshold " + std::to_string(t) + " of " + std::to_string(n) +
                         " parties is not a majority (at least " + std::to_string(n / 2 + 1) +
                         "); pass threshold_policy::allow_minority_i_know_fewer_parties_can_decrypt to accept it");
}

/// Step 1, party side: the N Shamir shares P_i(α_0..α_{N-1}) of the additive share @p sk for a
/// threshold @p t; element j goes to party j (element i the dealer keeps).
/// @throws as check_threshold; hefl::invalid_argument if sk belongs to other parameters.
[[nodiscard]] inline std::vector<secret_key> deal_threshold_shares(const session& s, const secret_key& sk, std::size_t t,
                                                                   random_source& rng,
                                                                   threshold_policy policy = threshold_policy::majority) {
  check_threshold(s, t, policy);
  const auto& params = s.params();
  if (sk.parameters_id() != params.id())
    throw invalid_argument("ckks::multiparty::deal_threshold_shares: the secret share belongs to other parameters");
  const auto& ctx = params.context();
  std::vector<ckks::detail::rns_poly> coeffs; // c_1..c_{t-1}, secret, wiped below
  {
    ckks::detail::random_stream rs(rng);
    for (std::size_t k = 1; k < t; ++k) {
      ckks::detail::rns_poly c(params.poly_degree(), params.max_level(), params.special_prime_count());
      ckks::detail::sample_uniform(c, rs, ctx);
      coeffs.push_back(std::move(c));
    }
  }
  std::vector<secret_key> out;
  out.reserve(s.party_count());
  for (std::uint32_t j = 0; j < s.party_count(); ++j) {
    // Horner: ((c_{t-1}·α + c_{t-2})·α + ... + c_1)·α + s_i.
    ckks::detail::rns_poly v(params.poly_degree(), params.max_level(), params.special_prime_count(), true);
    const std::uint64_t alpha = evaluation_point(j);
    for (std::size_t limb = 0; limb < v.limb_count(); ++limb) {
      const auto& q = ctx.ntt(v.prime_index(limb, ctx)).mod();
      const std::uint64_t a = q.reduce(alpha);
      std::uint64_t* y = v.limb(limb);
      for (std::size_t k = coeffs.size(); k-- > 0;) {
        const std::uint64_t* c = coeffs[k].limb(limb);
        for (std::size_t x = 0; x < v.degree(); ++x)
          y[x] = ckks::detail::mul_mod(ckks::detail::add_mod(y[x], c[x], q.value()), a, q);
      }
      const std::uint64_t* si = sk.poly().limb(limb);
      for (std::size_t x = 0; x < v.degree(); ++x) y[x] = ckks::detail::add_mod(y[x], si[x], q.value());
    }
    out.emplace_back(params, std::move(v));
  }
  for (auto& c : coeffs) ckks::detail::secure_wipe(c.data());
  return out;
}

/// The subject of a dealing message: the threshold in the high 32 bits, the recipient in the low.
[[nodiscard]] constexpr std::uint64_t dealing_subject(std::size_t t, std::uint32_t recipient) noexcept {
  return (static_cast<std::uint64_t>(t) << 32) | recipient;
}

/// The shape of a dealing message: one polynomial over all primes (chain and special).
[[nodiscard]] inline share_shape dealing_shape(const session& s) {
  return {1, s.params().max_level(), s.params().special_prime_count()};
}

/// Step 1 as a message: dealer @p dealer's Shamir point @p point (element @p recipient of
/// deal_threshold_shares) for party @p recipient and threshold @p t. A secret: serialize it with
/// save() only for a confidential, authenticated channel.
/// @throws hefl::invalid_argument if dealer or recipient is out of range, t is 0 or above the
///         party count, or the point belongs to other parameters.
[[nodiscard]] inline share dealing_message(const session& s, std::uint32_t dealer, std::uint32_t recipient, std::size_t t,
                                           const secret_key& point) {
  if (dealer >= s.party_count() || recipient >= s.party_count())
    throw invalid_argument("ckks::multiparty::dealing_message: dealer " + std::to_string(dealer) + " or recipient " +
                           std::to_string(recipient) + " out of range");
  if (t == 0 || t > s.party_count())
    throw invalid_argument("ckks::multiparty::dealing_message: threshold " + std::to_string(t) + " outside [1, " +
                           std::to_string(s.party_count()) + "]");
  if (point.parameters_id() != s.params().id())
    throw invalid_argument("ckks::multiparty::dealing_message: the point belongs to other parameters");
  std::vector<ckks::detail::rns_poly> polys;
  polys.push_back(point.poly());
  return share(s, protocol::shamir_dealing, 1, dealer, dealing_subject(t, recipient), std::move(polys));
}

/// Step 1, receiver side: the point in @p message, which must come from @p dealer, be meant for
/// @p recipient and for threshold @p t, in this session.
/// @throws share_mismatch if the message is of another session, parameters, protocol or round, from
///         another dealer, for another recipient or threshold, or of another shape.
[[nodiscard]] inline secret_key receive_dealing(const session& s, const share& message, std::uint32_t dealer,
                                                std::uint32_t recipient, std::size_t t) {
  check_share(s, message, protocol::shamir_dealing, 1, dealing_subject(t, recipient), dealing_shape(s), dealer);
  return secret_key(s.params(), message.polys()[0]);
}

/// Step 2, party side: party j's threshold secret t_j = Σ_i P_i(α_j) from the N shares it received
/// (one from each dealer, its own included).
/// @throws hefl::invalid_argument unless there is one share per party of the session, all of these
///         parameters.
[[nodiscard]] inline secret_key combine_threshold_shares(const session& s, std::span<const secret_key> received) {
  const auto& params = s.params();
  if (received.size() != s.party_count())
    throw invalid_argument("ckks::multiparty::combine_threshold_shares: expected " + std::to_string(s.party_count()) +
                           " shares (one per dealer), got " + std::to_string(received.size()));
  ckks::detail::rns_poly sum = received[0].poly();
  for (std::size_t i = 0; i < received.size(); ++i) {
    if (received[i].parameters_id() != params.id())
      throw invalid_argument("ckks::multiparty::combine_threshold_shares: a share belongs to other parameters");
    if (i > 0) ckks::detail::add_inplace(sum, received[i].poly(), params.context());
  }
  return secret_key(params, std::move(sum));
}

/// Step 3, party side: party @p party's additive share λ_party^T·t_party for the active set
/// @p active (which must contain it and list at least the threshold's number of parties for the
/// shares to sum to s; fewer give a wrong key, and decryptions with it give garbage).
/// @throws hefl::invalid_argument if party is not in active, active lists a party twice or one out
///         of range, or the threshold secret belongs to other parameters.
[[nodiscard]] inline secret_key active_share(const session& s, std::uint32_t party, const secret_key& threshold_secret,
                                             std::span<const std::uint32_t> active) {
  const auto& params = s.params();
  const auto& ctx = params.context();
  if (threshold_secret.parameters_id() != params.id())
    throw invalid_argument("ckks::multiparty::active_share: the threshold secret belongs to other parameters");
  bool found = false;
  std::vector<bool> seen(s.party_count(), false);
  for (const auto k : active) {
    if (k >= s.party_count() || seen[k])
      throw invalid_argument("ckks::multiparty::active_share: party " + std::to_string(k) +
                             " is out of range or listed twice in the active set");
    seen[k] = true;
    found = found || k == party;
  }
  if (!found)
    throw invalid_argument("ckks::multiparty::active_share: party " + std::to_string(party) + " is not in the active set");
  ckks::detail::rns_poly v = threshold_secret.poly();
  const std::uint64_t aj = evaluation_point(party);
  for (std::size_t limb = 0; limb < v.limb_count(); ++limb) {
    const auto& q = ctx.ntt(v.prime_index(limb, ctx)).mod();
    std::uint64_t num = 1, den = 1;
    for (const auto k : active) {
      if (k == party) continue;
      const std::uint64_t ak = evaluation_point(k);
      num = ckks::detail::mul_mod(num, q.reduce(ak), q);
      den = ckks::detail::mul_mod(den, ckks::detail::sub_mod(q.reduce(ak), q.reduce(aj), q.value()), q);
    }
    const std::uint64_t lambda = ckks::detail::mul_mod(num, ckks::detail::pow_mod(den, q.value() - 2, q), q);
    std::uint64_t* y = v.limb(limb);
    for (std::size_t x = 0; x < v.degree(); ++x) y[x] = ckks::detail::mul_mod(y[x], lambda, q);
  }
  return secret_key(params, std::move(v));
}

} // namespace hefl::he::ckks::multiparty
