#pragma once
/// @file
/// Weighted federated averaging (McMahan et al., "Communication-efficient learning of deep networks
/// from decentralized data", AISTATS 2017): Σ (n_k / n) · θ_k. Linear, so it runs on ciphertexts.

#include <hefl/aggregate/rule.hpp>

#include <cmath>
#include <string>
#include <vector>

namespace hefl::aggregate {

/// Weighted FedAvg; weights are the clients' sample counts.
struct fedavg {
  static constexpr bool is_linear = true;

  /// n_k / Σn. @throws hefl::invalid_argument if a weight is negative or not finite, or all are zero.
  [[nodiscard]] std::vector<double> coefficients(std::span<const double> weights) const {
    double total = 0.0;
    for (double w : weights) {
      if (!(w >= 0.0) || !std::isfinite(w)) throw invalid_argument("fedavg: weights must be finite and >= 0");
      total += w;
    }
    if (!(total > 0.0)) throw invalid_argument("fedavg: the weights sum to zero");
    std::vector<double> c(weights.begin(), weights.end());
    for (double& v : c) v /= total;
    return c;
  }

  /// Any number of clients but zero. @throws hefl::invalid_argument if k == 0.
  void check_clients(std::size_t k) const {
    if (k == 0) throw invalid_argument("fedavg: no client has data, nothing to average");
  }

  /// @throws hefl::invalid_argument on no updates, mismatched lengths or bad weights.
  [[nodiscard]] Eigen::VectorXd aggregate(std::span<const Eigen::VectorXd> updates, std::span<const double> weights) const {
    detail::check_updates(updates, weights, "fedavg");
    const auto c = coefficients(weights);
    Eigen::VectorXd out = Eigen::VectorXd::Zero(updates[0].size());
    for (std::size_t k = 0; k < updates.size(); ++k) out += c[k] * updates[k];
    return out;
  }

  [[nodiscard]] std::string name() const { return "fedavg"; }
};

static_assert(linear_aggregation_rule<fedavg>);

} // namespace hefl::aggregate
