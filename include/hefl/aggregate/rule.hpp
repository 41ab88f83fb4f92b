#pragma once
/// @file
/// The aggregation-rule policy. A rule turns the clients' parameter vectors (and their sample
/// counts) into the next global parameters. Linear rules can also say which coefficients to apply,
/// so a server can combine *encrypted* updates; order statistics cannot, and say so.

#include <hefl/core/error.hpp>

#include <Eigen/Dense>

#include <concepts>
#include <span>
#include <string>
#include <vector>

namespace hefl::aggregate {

/// Any aggregation rule: `aggregate(updates, weights)` on plaintext parameter vectors.
template <class A>
concept aggregation_rule = requires(const A& a, std::span<const Eigen::VectorXd> updates, std::span<const double> weights) {
  { A::is_linear } -> std::convertible_to<bool>;
  { a.aggregate(updates, weights) } -> std::same_as<Eigen::VectorXd>;
  { a.name() } -> std::convertible_to<std::string>;
};

/// A rule whose result is Σ c_k · update_k with coefficients that depend only on public weights,
/// so it can run on ciphertexts.
template <class A>
concept linear_aggregation_rule = aggregation_rule<A> && A::is_linear && requires(const A& a, std::span<const double> w) {
  { a.coefficients(w) } -> std::same_as<std::vector<double>>;
};

/// A rule that can say, before any client trains, whether it works with k clients. Rules that have
/// a precondition on the number of clients (trimmed mean, Krum, Multi-Krum) provide
/// `void check_clients(std::size_t k) const`, throwing hefl::invalid_argument with the reason.
template <class A>
concept checks_client_count = requires(const A& a, std::size_t k) { a.check_clients(k); };

/// Calls `rule.check_clients(k)` when the rule has it; otherwise only refuses k == 0.
/// @throws hefl::invalid_argument if the rule cannot aggregate the updates of k clients.
template <class A>
void check_clients(const A& rule, std::size_t k) {
  if constexpr (checks_client_count<A>) {
    rule.check_clients(k);
  } else {
    if (k == 0) throw invalid_argument(std::string(rule.name()) + ": no client has data, nothing to aggregate");
  }
}

namespace detail {
/// Shared argument checks: at least one update, equal lengths, weights aligned, finite values.
inline void check_updates(std::span<const Eigen::VectorXd> updates, std::span<const double> weights, const char* who) {
  if (updates.empty()) throw invalid_argument(std::string(who) + ": no updates to aggregate");
  if (weights.size() != updates.size())
    throw invalid_argument(std::string(who) + ": " + std::to_string(updates.size()) + " updates but " +
                           std::to_string(weights.size()) + " weights");
  for (const auto& u : updates) {
    if (u.size() != updates[0].size())
      throw invalid_argument(std::string(who) + ": updates have different lengths (" + std::to_string(updates[0].size()) +
                             " and " + std::to_string(u.size()) + ")");
    if (!u.allFinite()) throw invalid_argument(std::string(who) + ": an update holds a non-finite value");
  }
}
} // namespace detail

} // namespace hefl::aggregate
