#pragma once
/// @file
/// A seeded train/test split, optionally stratified by label so that a small or unbalanced dataset
/// (Pima: 500 negatives, 268 positives) keeps its class ratio on both sides.

#include <hefl/core/error.hpp>
#include <hefl/core/prng.hpp>
#include <hefl/data/dataset.hpp>

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace hefl::data {

/// Options of train_test_split.
struct split_options {
  /// Share of the samples that go to the test set, in (0, 1).
  double test_fraction = 0.25;
  /// Split each label value separately (round(test_fraction · count) of each go to the test set).
  bool stratify = true;
};

/// Shuffles @p d with @p seed and cuts it into a training and a test set. Deterministic per seed;
/// every sample lands in exactly one of the two sets.
/// @throws hefl::invalid_argument if x and y disagree, test_fraction is not in (0, 1), or either set
///         would be empty.
[[nodiscard]] inline train_test train_test_split(const dataset& d, std::uint64_t seed, const split_options& opt = {}) {
  d.validate_shape();
  if (!(opt.test_fraction > 0.0 && opt.test_fraction < 1.0))
    throw invalid_argument("train_test_split: test_fraction must be in (0, 1), got " + std::to_string(opt.test_fraction));
  deterministic_rng rng(seed);
  std::vector<std::vector<std::size_t>> groups;
  if (opt.stratify) {
    std::map<double, std::vector<std::size_t>> by_label;
    for (std::size_t i = 0; i < d.size(); ++i) by_label[d.y(static_cast<Eigen::Index>(i))].push_back(i);
    for (auto& [label, idx] : by_label) groups.push_back(std::move(idx));
  } else {
    groups.emplace_back();
    for (std::size_t i = 0; i < d.size(); ++i) groups.back().push_back(i);
  }
  std::vector<std::size_t> train, test;
  for (auto& g : groups) {
    rng.shuffle(g);
    const auto n_test = static_cast<std::size_t>(std::llround(opt.test_fraction * static_cast<double>(g.size())));
    test.insert(test.end(), g.begin(), g.begin() + static_cast<long>(n_test));
    train.insert(train.end(), g.begin() + static_cast<long>(n_test), g.end());
  }
  if (train.empty() || test.empty())
    throw invalid_argument("train_test_split: " + std::to_string(d.size()) + " samples with test_fraction " +
                           std::to_string(opt.test_fraction) + " leave the " + (train.empty() ? "training" : "test") +
                           " set empty");
  // Stratified groups were appended label by label: shuffle so the order carries no label information.
  rng.shuffle(train);
  rng.shuffle(test);
  return train_test{d.subset(train), d.subset(test)};
}

} // namespace hefl::data
