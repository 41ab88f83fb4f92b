#pragma once
/// @file
/// Byzantine-robust aggregation rules. All are order statistics of the updates, so they need the
/// updates in clear: they are marked non-linear and the trainer refuses them with an encrypting
/// backend at compile time. They ignore sample counts, since a liar could inflate its own.
///
/// Each rule has `check_clients(k)`, which says before any client trains whether the rule can work
/// with k clients (clients without data do not count), and `aggregate` calls it again, so a rule
/// never silently degrades into another one (a trimmed mean that trims nothing is a plain mean;
/// Krum with K <= 2f + 2 tolerates nobody). See docs/aggregation.md.

#include <hefl/aggregate/rule.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

namespace hefl::aggregate {

/// Coordinate-wise median (Yin et al., "Byzantine-robust distributed learning", ICML 2018).
struct median {
  static constexpr bool is_linear = false;

  /// Any number of clients but zero (with two it is their mean; it tolerates < K/2 liars).
  /// @throws hefl::invalid_argument if k == 0.
  void check_clients(std::size_t k) const {
    if (k == 0) throw invalid_argument("median: no client has data, nothing to aggregate");
  }

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

/// Coordinate-wise β-trimmed mean (Yin et al., ICML 2018): drop the ⌊β·K⌋ largest and smallest
/// values of each coordinate and average the rest. With ⌊β·K⌋ = 0 it would be a plain mean that
/// tolerates nobody, so that case is refused.
class trimmed_mean {
public:
  static constexpr bool is_linear = false;

  /// @throws hefl::invalid_argument unless 0 < beta < 0.5.
  explicit trimmed_mean(double beta = 0.1) : m_beta(beta) {
    if (!(beta > 0.0 && beta < 0.5))
      throw invalid_argument("trimmed_mean: beta must be in (0, 0.5), got " + std::to_string(beta) +
                             " (beta = 0 trims nothing: use fedavg for a mean)");
  }

  /// Values dropped at each end of every coordinate when there are @p k clients: ⌊β·k⌋.
  [[nodiscard]] std::size_t trimmed(std::size_t k) const noexcept {
    // The epsilon keeps e.g. β = 0.1, K = 30 at 3 although 0.1·30 is not exactly 3 in binary.
    return static_cast<std::size_t>(std::floor(m_beta * static_cast<double>(k) + 1e-9));
  }

  /// @throws hefl::invalid_argument if ⌊β·k⌋ = 0, i.e. k < 1/β: nothing would be trimmed.
  void check_clients(std::size_t k) const {
    if (trimmed(k) == 0)
      throw invalid_argument("trimmed_mean: beta = " + std::to_string(m_beta) + " with " + std::to_string(k) +
                             " clients trims floor(beta*K) = 0 values per side, so it would be a plain mean; need K >= " +
                             std::to_string(static_cast<std::size_t>(std::ceil(1.0 / m_beta - 1e-9))) +
                             " clients or a larger beta");
  }

  /// @throws hefl::invalid_argument on no updates, mismatched lengths, or as check_clients.
  [[nodiscard]] Eigen::VectorXd aggregate(std::span<const Eigen::VectorXd> updates, std::span<const double> weights) const {
    detail::check_updates(updates, weights, "trimmed_mean");
    const std::size_t n = updates.size();
    check_clients(n);
    const std::size_t trim = trimmed(n);
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

namespace detail {
/// Krum scores (Blanchard et al., NeurIPS 2017): for each update, the sum of squared Euclidean
/// distances to its K − f − 2 nearest other updates.
inline std::vector<double> krum_scores(std::span<const Eigen::VectorXd> updates, std::size_t f) {
  const std::size_t n = updates.size();
  const std::size_t neighbours = n - f - 2;
  std::vector<double> scores(n);
  std::vector<double> dist;
  dist.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    dist.clear();
    for (std::size_t j = 0; j < n; ++j)
      if (j != i) dist.push_back((updates[i] - updates[j]).squaredNorm());
    std::partial_sort(dist.begin(), dist.begin() + static_cast<long>(neighbours), dist.end());
    scores[i] = std::accumulate(dist.begin(), dist.begin() + static_cast<long>(neighbours), 0.0);
  }
  return scores;
}

inline void check_krum_clients(std::size_t k, std::size_t f, const char* who) {
  if (k <= 2 * f + 2)
    throw invalid_argument(std::string(who) + ": " + std::to_string(k) + " clients cannot tolerate " + std::to_string(f) +
                           " Byzantine ones, need more than 2f + 2 = " + std::to_string(2 * f + 2));
}
} // namespace detail

/// Krum (Blanchard et al., "Machine learning with adversaries: Byzantine tolerant gradient
/// descent", NeurIPS 2017): the update whose K−f−2 nearest neighbours are closest in squared
/// Euclidean distance, tolerating f Byzantine clients when K > 2f + 2.
class krum {
public:
  static constexpr bool is_linear = false;

  explicit krum(std::size_t byzantine = 1) : m_f(byzantine) {}

  /// @throws hefl::invalid_argument if k <= 2f + 2.
  void check_clients(std::size_t k) const { detail::check_krum_clients(k, m_f, "krum"); }

  /// @throws hefl::invalid_argument on no updates, mismatched lengths, or K <= 2f + 2.
  [[nodiscard]] Eigen::VectorXd aggregate(std::span<const Eigen::VectorXd> updates, std::span<const double> weights) const {
    detail::check_updates(updates, weights, "krum");
    check_clients(updates.size());
    const auto scores = detail::krum_scores(updates, m_f);
    return updates[static_cast<std::size_t>(std::min_element(scores.begin(), scores.end()) - scores.begin())];
  }
  [[nodiscard]] std::size_t byzantine() const noexcept { return m_f; }
  [[nodiscard]] std::string name() const { return "krum"; }

private:
  std::size_t m_f;
};

/// Multi-Krum (Blanchard et al., NeurIPS 2017, §5): the mean of the m updates with the lowest Krum
/// scores. m = 1 is Krum; larger m averages away more of the honest clients' variance. m is at most
/// K − f: any larger selection would have to contain Byzantine updates when f clients lie.
class multi_krum {
public:
  static constexpr bool is_linear = false;
  /// Pass as @p selected to select K − f updates, however many clients there are.
  static constexpr std::size_t all_but_byzantine = 0;

  /// @param byzantine f, the number of Byzantine clients tolerated.
  /// @param selected m, the number of updates averaged (all_but_byzantine: K − f).
  explicit multi_krum(std::size_t byzantine = 1, std::size_t selected = all_but_byzantine)
      : m_f(byzantine), m_m(selected) {}

  /// The number of updates averaged with @p k clients.
  [[nodiscard]] std::size_t selected(std::size_t k) const noexcept { return m_m == all_but_byzantine ? k - m_f : m_m; }

  /// @throws hefl::invalid_argument if k <= 2f + 2 or m > k − f.
  void check_clients(std::size_t k) const {
    detail::check_krum_clients(k, m_f, "multi_krum");
    if (selected(k) > k - m_f)
      throw invalid_argument("multi_krum: m = " + std::to_string(m_m) + " updates cannot be selected from " +
                             std::to_string(k) + " clients without Byzantine ones when f = " + std::to_string(m_f) +
                             ": need m <= K - f = " + std::to_string(k - m_f));
  }

  /// @throws hefl::invalid_argument on no updates, mismatched lengths, or as check_clients.
  [[nodiscard]] Eigen::VectorXd aggregate(std::span<const Eigen::VectorXd> updates, std::span<const double> weights) const {
    detail::check_updates(updates, weights, "multi_krum");
    const std::size_t n = updates.size();
    check_clients(n);
    const auto scores = detail::krum_scores(updates, m_f);
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    // Ties keep client order, so the result does not depend on the sort implementation.
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
    const std::size_t m = selected(n);
    Eigen::VectorXd out = Eigen::VectorXd::Zero(updates[0].size());
    for (std::size_t i = 0; i < m; ++i) out += updates[order[i]];
    return out / static_cast<double>(m);
  }
  [[nodiscard]] std::size_t byzantine() const noexcept { return m_f; }
  [[nodiscard]] std::string name() const { return "multi_krum"; }

private:
  std::size_t m_f;
  std::size_t m_m;
};

static_assert(aggregation_rule<median> && !linear_aggregation_rule<median>);
static_assert(aggregation_rule<trimmed_mean> && aggregation_rule<krum> && aggregation_rule<multi_krum>);
static_assert(checks_client_count<median> && checks_client_count<trimmed_mean> && checks_client_count<krum> &&
              checks_client_count<multi_krum>);

} // namespace hefl::aggregate
