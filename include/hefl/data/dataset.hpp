#pragma once
/// @file
/// A labelled dataset: a feature matrix (one sample per row) and a label vector.

#include <hefl/core/error.hpp>

#include <Eigen/Dense>

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

namespace hefl::data {

/// Samples in rows of @c x, labels in @c y (0 or 1 for binary classification).
struct dataset {
  Eigen::MatrixXd x;
  Eigen::VectorXd y;

  [[nodiscard]] std::size_t size() const noexcept { return static_cast<std::size_t>(x.rows()); }
  [[nodiscard]] std::size_t features() const noexcept { return static_cast<std::size_t>(x.cols()); }
  [[nodiscard]] bool empty() const noexcept { return x.rows() == 0; }

  /// Checks only that x and y agree on the number of samples.
  /// @throws hefl::invalid_argument if they do not.
  void validate_shape() const {
    if (x.rows() != y.size())
      throw invalid_argument("dataset: " + std::to_string(x.rows()) + " samples but " + std::to_string(y.size()) +
                             " labels");
  }

  /// Checks what binary logistic regression needs: as many labels as samples, every feature finite,
  /// every label 0 or 1. The message names the first offending sample (0-based row) and column.
  /// @throws hefl::invalid_argument on the first violation found.
  void validate() const {
    validate_shape();
    for (Eigen::Index i = 0; i < x.rows(); ++i)
      for (Eigen::Index j = 0; j < x.cols(); ++j)
        if (!std::isfinite(x(i, j)))
          throw invalid_argument("dataset: feature " + std::to_string(j) + " of sample " + std::to_string(i) +
                                 " is not finite (" + std::to_string(x(i, j)) + ")");
    for (Eigen::Index i = 0; i < y.size(); ++i)
      if (y(i) != 0.0 && y(i) != 1.0)
        throw invalid_argument("dataset: label of sample " + std::to_string(i) + " is " + std::to_string(y(i)) +
                               ", expected 0 or 1");
  }

  /// The rows listed in @p indices, in that order.
  /// @throws hefl::invalid_argument if an index is out of range.
  [[nodiscard]] dataset subset(const std::vector<std::size_t>& indices) const {
    dataset out{Eigen::MatrixXd(static_cast<Eigen::Index>(indices.size()), x.cols()),
                Eigen::VectorXd(static_cast<Eigen::Index>(indices.size()))};
    for (std::size_t i = 0; i < indices.size(); ++i) {
      if (indices[i] >= size())
        throw invalid_argument("dataset::subset: index " + std::to_string(indices[i]) + " >= " + std::to_string(size()));
      out.x.row(static_cast<Eigen::Index>(i)) = x.row(static_cast<Eigen::Index>(indices[i]));
      out.y(static_cast<Eigen::Index>(i)) = y(static_cast<Eigen::Index>(indices[i]));
    }
    return out;
  }
};

/// A training set and a held-out test set.
struct train_test {
  dataset train;
  dataset test;
};

/// All clients' data in one place: the centralised baseline.
/// @throws hefl::invalid_argument if the parts have different feature counts.
[[nodiscard]] inline dataset concatenate(const std::vector<dataset>& parts) {
  Eigen::Index rows = 0, cols = -1;
  for (const auto& p : parts) {
    if (p.empty()) continue;
    if (cols >= 0 && p.x.cols() != cols)
      throw invalid_argument("concatenate: parts have " + std::to_string(cols) + " and " + std::to_string(p.x.cols()) +
                             " features");
    cols = p.x.cols();
    rows += p.x.rows();
  }
  dataset out{Eigen::MatrixXd(rows, cols < 0 ? 0 : cols), Eigen::VectorXd(rows)};
  Eigen::Index at = 0;
  for (const auto& p : parts) {
    if (p.empty()) continue;
    out.x.middleRows(at, p.x.rows()) = p.x;
    out.y.segment(at, p.y.size()) = p.y;
    at += p.x.rows();
  }
  return out;
}

} // namespace hefl::data
