#pragma once
/// @file
/// The seed paper's synthetic data (TenSEAL encrypted-LR tutorial `random_data`).

#include <hefl/core/error.hpp>
#include <hefl/core/prng.hpp>
#include <hefl/data/dataset.hpp>

#include <cstdint>
#include <string>

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

} // namespace hefl::data
