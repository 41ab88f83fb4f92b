#pragma once
/// @file
/// Byzantine-robust aggregation rules. All are order statistics of the updates, so they need the
/// updates in clear: they are marked non-linear and the trainer refuses them with an encrypting
/// backend at compile time. They ignore sample counts, since a liar could inflate its own.

#include <hefl/aggregate/rule.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace hefl::aggregate {

/// Coordinate-wise median (Yin et al., "Byzantine-robust distributed learning", ICML 2018).
struct median {
  static constexpr bool is_linear = false;

  /// @throws hefl::invalid_argument on no updates or mismatched lengths.
  [[nodiscard]] Eigen::VectorXd aggregate(std::span<const Eigen::VectorXd> updates, std::span<const double> weights) const {
    detail::check_updates(updates, weights, "median");
    const Eigen::Index d = updates[0].size();
    Eigen::VectorXd out(d);
    std::vector<double> column(updates.size());
    for (Eigen::Index j = 0; j < d; ++j) {
      for (std::size_t k = 0; k < updates.size(); ++k) column[k] = updates[k](j);
      std::sort(column.begin(), column.end());
      const std::size_t n = column.size();
      out(j) = n % 2 == 1 ? column[n / 2] : 0.5 * (column[n / 2 - 1] + column[n / 2]);
    }
    return out;
  }
  [[nodiscard]] std::string name() const { return "median"; }
};

/// Coordinate-wise β-trimmed mean (Yin et al., ICML 2018): drop the floor(β·K) largest and smallest
/// values of each coordinate and average the rest.
class trimmed_mean {
public:
  static constexpr bool is_linear = false;

  /// @throws hefl::invalid_argument unless 0 <= beta < 0.5.
  explicit trimmed_mean(double beta = 0.1) : m_beta(beta) {
    if (!(beta >= 0.0 && beta < 0.5))
      throw invalid_argument("trimmed_mean: beta must be in [0, 0.5), got " + std::to_string(beta));
  }

  /// @throws hefl::invalid_argument on no updates or mismatched lengths.
  [[nodiscard]] Eigen::VectorXd aggregate(std::span<const Eigen::VectorXd> updates, std::span<const double> weights) const {
    detail::check_updates(updates, weights, "trimmed_mean");
    const std::size_t n = updates.size();
    const auto trim = static_cast<std::size_t>(std::floor(m_beta * static_cast<double>(n)));
    const Eigen::Index d = updates[0].size();
    Eigen::VectorXd out(d);
    std::vector<double> column(n);
    for (Eigen::Index j = 0; j < d; ++j) {
      for (std::size_t k = 0; k < n; ++k) column[k] = updates[k](j);
      std::sort(column.begin(), column.end());
      double sum = 0.0;
      for (std::size_t k = trim; k < n - trim; ++k) sum += column[k];
      out(j) = sum / static_cast<double>(n - 2 * trim);
    }
    return out;
  }
  [[nodiscard]] double beta() const noexcept { return m_beta; }
  [[nodiscard]] std::string name() const { return "trimmed_mean"; }

private:
  double m_beta;
};

/// Krum (Blanchard et al., "Machine learning with adversaries: Byzantine tolerant gradient
/// descent", NeurIPS 2017): the update whose K−f−2 nearest neighbours are closest in squared
/// Euclidean distance, tolerating f Byzantine clients when K > 2f + 2.
class krum {
public:
  static constexpr bool is_linear = false;

  explicit krum(std::size_t byzantine = 1) : m_f(byzantine) {}

  /// @throws hefl::invalid_argument on no updates, mismatched lengths, or K <= 2f + 2.
  [[nodiscard]] Eigen::VectorXd aggregate(std::span<const Eigen::VectorXd> updates, std::span<const double> weights) const {
    detail::check_updates(updates, weights, "krum");
    const std::size_t n = updates.size();
    if (n <= 2 * m_f + 2)
      throw invalid_argument("krum: " + std::to_string(n) + " clients cannot tolerate " + std::to_string(m_f) +
                             " Byzantine ones, need more than " + std::to_string(2 * m_f + 2));
    const std::size_t neighbours = n - m_f - 2;
    std::size_t best = 0;
    double best_score = std::numeric_limits<double>::infinity();
    std::vector<double> dist(n);
    for (std::size_t i = 0; i < n; ++i) {
      dist.clear();
      for (std::size_t j = 0; j < n; ++j)
        if (j != i) dist.push_back((updates[i] - updates[j]).squaredNorm());
      std::partial_sort(dist.begin(), dist.begin() + static_cast<long>(neighbours), dist.end());
      double score = 0.0;
      for (std::size_t k = 0; k < neighbours; ++k) score += dist[k];
      if (score < best_score) {
        best_score = score;
        best = i;
      }
    }
    return updates[best];
  }
  [[nodiscard]] std::size_t byzantine() const noexcept { return m_f; }
  [[nodiscard]] std::string name() const { return "krum"; }

private:
  std::size_t m_f;
};

static_assert(aggregation_rule<median> && !linear_aggregation_rule<median>);
static_assert(aggregation_rule<trimmed_mean> && aggregation_rule<krum>);

} // namespace hefl::aggregate
