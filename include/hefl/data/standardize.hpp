#pragma once
/// @file
/// Standardisation: each feature shifted by its mean and divided by its standard deviation, both
/// fitted on training data only and then applied unchanged to test data (fitting on the test set
/// would leak it into the model).
///
/// Federated fit without pooling raw data: each client computes feature_moments::of(its data), i.e.
/// its sample count n and, per feature, Σx and Σx², and sends only these; the server adds them up
/// (feature_moments::merge) and builds the standardizer from the totals (standardizer::from_moments).
/// The result equals a fit on the pooled data up to rounding (tests/unit/standardize_test.cpp).
/// What this reveals to the server: each client's n and, per feature, Σx and Σx², i.e. the client's
/// per-feature mean and variance. No individual sample is sent, but with n = 1 these ARE the sample.
/// hefl does not hide the per-client sums (they are linear, so a secure-aggregation or additive-HE
/// layer could; none is wired in here). See docs/data.md.

#include <hefl/core/error.hpp>
#include <hefl/data/dataset.hpp>

#include <Eigen/Dense>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace hefl::data {

/// What one party reveals for a federated standardisation: n and per-feature Σx and Σx².
struct feature_moments {
  std::uint64_t count = 0;
  Eigen::VectorXd sum;
  Eigen::VectorXd sum_of_squares;

  /// The moments of @p d. @throws hefl::invalid_argument if d fails dataset::validate().
  [[nodiscard]] static feature_moments of(const dataset& d) {
    d.validate();
    feature_moments m;
    m.count = d.size();
    m.sum = d.x.colwise().sum().transpose();
    m.sum_of_squares = d.x.array().square().colwise().sum().transpose();
    return m;
  }

  /// Adds another party's moments (an empty party, count 0 and no features, is neutral).
  /// @throws hefl::invalid_argument if both have samples but different feature counts, or the other's
  ///         sums are not finite or its Σx² is negative.
  void merge(const feature_moments& other) {
    other.check("feature_moments::merge");
    if (other.count == 0 && other.sum.size() == 0) return;
    if (count == 0 && sum.size() == 0) {
      *this = other;
      return;
    }
    if (other.sum.size() != sum.size())
      throw invalid_argument("feature_moments::merge: " + std::to_string(sum.size()) + " and " +
                             std::to_string(other.sum.size()) + " features");
    count += other.count;
    sum += other.sum;
    sum_of_squares += other.sum_of_squares;
  }

  /// @throws hefl::invalid_argument naming @p who if the fields are inconsistent.
  void check(const char* who) const {
    if (sum.size() != sum_of_squares.size())
      throw invalid_argument(std::string(who) + ": Σx has " + std::to_string(sum.size()) + " entries, Σx² " +
                             std::to_string(sum_of_squares.size()));
    if (!sum.allFinite() || !sum_of_squares.allFinite() || (sum_of_squares.array() < 0.0).any())
      throw invalid_argument(std::string(who) + ": sums must be finite and Σx² >= 0");
  }
};

/// A fitted standardisation x ↦ (x − mean) / scale. Features with zero variance get scale 1 (they
/// are only centred), so a constant column never divides by zero.
class standardizer {
public:
  /// Fits on @p train. @throws hefl::invalid_argument if it is empty or fails dataset::validate().
  [[nodiscard]] static standardizer fit(const dataset& train) { return from_moments(feature_moments::of(train)); }

  /// Builds the standardizer from combined moments (the server's step of a federated fit).
  /// @throws hefl::invalid_argument if the moments are inconsistent or count is 0.
  [[nodiscard]] static standardizer from_moments(const feature_moments& m) {
    m.check("standardizer::from_moments");
    if (m.count == 0) throw invalid_argument("standardizer: cannot fit on zero samples");
    const double n = static_cast<double>(m.count);
    standardizer s;
    s.m_mean = m.sum / n;
    // Population variance E[x²] − E[x]², clamped at 0 against rounding.
    const Eigen::ArrayXd var = (m.sum_of_squares.array() / n - s.m_mean.array().square()).max(0.0);
    s.m_scale = var.sqrt().matrix();
    for (Eigen::Index j = 0; j < s.m_scale.size(); ++j)
      if (!(s.m_scale(j) > 1e-12 * std::max(1.0, std::abs(s.m_mean(j))))) s.m_scale(j) = 1.0;
    return s;
  }

  /// Federated fit: every client's moments are computed locally and only they are combined.
  /// @throws hefl::invalid_argument if no client has samples or feature counts differ.
  [[nodiscard]] static standardizer fit_federated(const std::vector<dataset>& clients) {
    feature_moments total;
    for (const auto& c : clients)
      if (!c.empty()) total.merge(feature_moments::of(c));
    return from_moments(total);
  }

  /// (x − mean) / scale for every sample; labels unchanged.
  /// @throws hefl::invalid_argument if @p d has a different number of features or fails validate().
  [[nodiscard]] dataset transform(const dataset& d) const {
    dataset out = d;
    transform_inplace(out);
    return out;
  }
  /// As transform, in place.
  void transform_inplace(dataset& d) const {
    d.validate();
    if (d.x.cols() != m_mean.size())
      throw invalid_argument("standardizer: data has " + std::to_string(d.x.cols()) + " features, fitted on " +
                             std::to_string(m_mean.size()));
    d.x = ((d.x.rowwise() - m_mean.transpose()).array().rowwise() / m_scale.transpose().array()).matrix();
  }

  [[nodiscard]] const Eigen::VectorXd& mean() const noexcept { return m_mean; }
  /// Per-feature standard deviation (population, divisor n), or 1 for a constant feature.
  [[nodiscard]] const Eigen::VectorXd& scale() const noexcept { return m_scale; }

private:
  Eigen::VectorXd m_mean;
  Eigen::VectorXd m_scale;
};

} // namespace hefl::data
