#pragma once
/// @file
/// Synthetic binary classification data: the seed paper's (TenSEAL encrypted-LR tutorial
/// `random_data`), and a generator with controllable margin, label noise, feature scale and class
/// balance, on which the choice of sigmoid approximation shows in the accuracy (docs/approximations.md).

#include <hefl/core/error.hpp>
#include <hefl/core/prng.hpp>
#include <hefl/data/dataset.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace hefl::data {

/// m samples with n features ~ N(0, 1), label 1 when feature 0 >= feature 1, else 0.
/// With n > 2 the extra features are pure noise, as in the paper.
/// @throws hefl::invalid_argument if m == 0 or n < 2.
[[nodiscard]] inline dataset paper_random_set(std::size_t m, std::size_t n, deterministic_rng& rng) {
  if (m == 0) throw invalid_argument("paper_random: need at least one sample");
  if (n < 2) throw invalid_argument("paper_random: the label compares features 0 and 1, so n >= 2 (got " + std::to_string(n) + ")");
  dataset d{Eigen::MatrixXd(static_cast<Eigen::Index>(m), static_cast<Eigen::Index>(n)),
            Eigen::VectorXd(static_cast<Eigen::Index>(m))};
  for (Eigen::Index i = 0; i < d.x.rows(); ++i) {
    for (Eigen::Index j = 0; j < d.x.cols(); ++j) d.x(i, j) = rng.normal();
    d.y(i) = d.x(i, 0) >= d.x(i, 1) ? 1.0 : 0.0;
  }
  return d;
}

/// The paper's experiment data: a training set of m samples and a test set of m/2 samples (at least
/// one) drawn the same way, both from @p seed.
/// @throws hefl::invalid_argument if m == 0 or n < 2.
[[nodiscard]] inline train_test paper_random(std::size_t m, std::size_t n, std::uint64_t seed) {
  deterministic_rng rng(seed);
  train_test out;
  out.train = paper_random_set(m, n, rng);
  out.test = paper_random_set(m / 2 == 0 ? 1 : m / 2, n, rng);
  return out;
}

/// The knobs of synthetic_classification. Defaults give the paper's difficulty: balanced, separable
/// through the origin with no gap, no label noise, unit scale.
struct synthetic_options {
  std::size_t samples = 1000;       ///< training samples
  std::size_t test_samples = 500;   ///< test samples, drawn the same way (label noise included)
  std::size_t features = 5;
  /// Half the gap between the classes along the true direction u, in units of the unscaled normal:
  /// every clean sample has |u·x| >= margin·feature_scale. Negative values make the classes overlap
  /// (the component along u is ±(margin + |g|), g ~ N(0, 1)).
  double margin = 0.0;
  /// Exact share of labels flipped after drawing, in [0, 0.5]: round(label_noise · m) per set.
  double label_noise = 0.0;
  /// Every feature is multiplied by it (> 0): the same model then sees w·x + b feature_scale times
  /// wider, which is what pushes z out of a polynomial's interval.
  double feature_scale = 1.0;
  /// Exact share of label 1 before label noise, in (0, 1): round(positive_fraction · m) per set.
  double positive_fraction = 0.5;
  std::uint64_t seed = 1;
};

/// A synthetic train/test pair and the unit direction u the labels were drawn along.
struct synthetic_data {
  train_test data;
  Eigen::VectorXd direction;
};

namespace detail {

inline dataset synthetic_set(const synthetic_options& o, std::size_t m, const Eigen::VectorXd& u,
                             deterministic_rng& rng) {
  const auto n = static_cast<Eigen::Index>(o.features);
  dataset d{Eigen::MatrixXd(static_cast<Eigen::Index>(m), n), Eigen::VectorXd::Zero(static_cast<Eigen::Index>(m))};
  const auto positives = static_cast<std::size_t>(std::llround(o.positive_fraction * static_cast<double>(m)));
  std::vector<std::size_t> order(m);
  for (std::size_t i = 0; i < m; ++i) order[i] = i;
  for (std::size_t i = m; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);  // Fisher–Yates
  for (std::size_t i = 0; i < positives; ++i) d.y(static_cast<Eigen::Index>(order[i])) = 1.0;
  Eigen::VectorXd g(n);
  for (Eigen::Index i = 0; i < d.x.rows(); ++i) {
    for (Eigen::Index j = 0; j < n; ++j) g(j) = rng.normal();
    g -= u.dot(g) * u;
    const double along = (o.margin + std::fabs(rng.normal())) * (d.y(i) == 1.0 ? 1.0 : -1.0);
    d.x.row(i) = (o.feature_scale * (g + along * u)).transpose();
  }
  const auto flips = static_cast<std::size_t>(std::llround(o.label_noise * static_cast<double>(m)));
  for (std::size_t i = m; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  for (std::size_t i = 0; i < flips; ++i) {
    const auto k = static_cast<Eigen::Index>(order[i]);
    d.y(k) = 1.0 - d.y(k);
  }
  return d;
}

} // namespace detail

/// Two classes on either side of a hyperplane through the origin with normal u (a random unit
/// vector from the seed): x = feature_scale · (g + s·u) with g ~ N(0, I) orthogonal to u and
/// s = ±(margin + |N(0, 1)|), + for label 1. Then exactly round(label_noise · m) labels are flipped.
/// Deterministic for a given options value.
/// @throws hefl::invalid_argument if samples, test_samples or features is 0, samples × features
///         exceeds 10^8, margin is not finite, label_noise is outside [0, 0.5], feature_scale is not
///         positive and finite, or positive_fraction is outside (0, 1).
[[nodiscard]] inline synthetic_data synthetic_classification(const synthetic_options& o) {
  if (o.samples == 0 || o.test_samples == 0 || o.features == 0)
    throw invalid_argument("synthetic_classification: samples, test_samples and features must be positive (got " +
                           std::to_string(o.samples) + ", " + std::to_string(o.test_samples) + ", " +
                           std::to_string(o.features) + ")");
  if (std::max(o.samples, o.test_samples) > 100000000 / o.features)
    throw invalid_argument("synthetic_classification: more than 10^8 values per set");
  if (!std::isfinite(o.margin)) throw invalid_argument("synthetic_classification: margin must be finite");
  if (!(o.label_noise >= 0.0 && o.label_noise <= 0.5))
    throw invalid_argument("synthetic_classification: label_noise must be in [0, 0.5], got " +
                           std::to_string(o.label_noise));
  if (!(o.feature_scale > 0.0) || !std::isfinite(o.feature_scale))
    throw invalid_argument("synthetic_classification: feature_scale must be positive and finite, got " +
                           std::to_string(o.feature_scale));
  if (!(o.positive_fraction > 0.0 && o.positive_fraction < 1.0))
    throw invalid_argument("synthetic_classification: positive_fraction must be in (0, 1), got " +
                           std::to_string(o.positive_fraction));
  deterministic_rng rng(o.seed);
  synthetic_data out;
  out.direction = Eigen::VectorXd(static_cast<Eigen::Index>(o.features));
  do {
    for (Eigen::Index j = 0; j < out.direction.size(); ++j) out.direction(j) = rng.normal();
  } while (out.direction.norm() == 0.0);
  out.direction.normalize();
  out.data.train = detail::synthetic_set(o, o.samples, out.direction, rng);
  out.data.test = detail::synthetic_set(o, o.test_samples, out.direction, rng);
  return out;
}

} // namespace hefl::data
