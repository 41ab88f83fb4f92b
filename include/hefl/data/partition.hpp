#pragma once
/// @file
/// Splitting a dataset among federated clients: IID equal shares (the seed paper's setting),
/// Dirichlet label skew and Dirichlet quantity skew (Hsu, Qi & Brown 2019; Li et al., "Federated
/// learning on non-IID data silos", ICDE 2022).

#include <hefl/core/error.hpp>
#include <hefl/core/prng.hpp>
#include <hefl/data/dataset.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace hefl::data {

namespace detail {
inline void check_partition_args(const dataset& d, std::size_t clients, const char* who) {
  d.validate_shape();
  if (clients == 0) throw invalid_argument(std::string(who) + ": need at least one client");
  if (clients > d.size())
    throw invalid_argument(std::string(who) + ": " + std::to_string(clients) + " clients but only " +
                           std::to_string(d.size()) + " samples");
}

inline void check_min_size(const dataset& d, std::size_t clients, std::size_t min_size, const char* who) {
  if (min_size > 0 && clients > d.size() / min_size)
    throw invalid_argument(std::string(who) + ": " + std::to_string(clients) + " clients of at least " +
                           std::to_string(min_size) + " samples need " + std::to_string(clients * min_size) +
                           ", the dataset has " + std::to_string(d.size()));
}

// Cuts `count` items into parts proportional to `share`; the rounding remainder goes to the parts
// with the largest fractional share so that the sizes add up exactly.
inline std::vector<std::size_t> proportional_sizes(std::size_t count, const std::vector<double>& share) {
  std::vector<std::size_t> sizes(share.size());
  std::vector<std::pair<double, std::size_t>> remainders;
  std::size_t assigned = 0;
  for (std::size_t k = 0; k < share.size(); ++k) {
    const double exact = share[k] * static_cast<double>(count);
    sizes[k] = static_cast<std::size_t>(std::floor(exact));
    assigned += sizes[k];
    remainders.emplace_back(exact - std::floor(exact), k);
  }
  std::stable_sort(remainders.begin(), remainders.end(), [](auto a, auto b) { return a.first > b.first; });
  for (std::size_t i = 0; assigned < count; ++i, ++assigned) ++sizes[remainders[i % remainders.size()].second];
  return sizes;
}
} // namespace detail

/// Shuffles and deals @p clients equal shares; when the size does not divide, the first
/// (size mod clients) clients get one sample more.
/// @throws hefl::invalid_argument if clients is 0 or exceeds the number of samples.
[[nodiscard]] inline std::vector<dataset> partition_iid(const dataset& d, std::size_t clients, std::uint64_t seed) {
  detail::check_partition_args(d, clients, "partition_iid");
  deterministic_rng rng(seed);
  std::vector<std::size_t> order(d.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  rng.shuffle(order);
  std::vector<dataset> parts;
  std::size_t at = 0;
  for (std::size_t k = 0; k < clients; ++k) {
    const std::size_t n = d.size() / clients + (k < d.size() % clients ? 1 : 0);
    parts.push_back(d.subset(std::vector<std::size_t>(order.begin() + static_cast<long>(at),
                                                      order.begin() + static_cast<long>(at + n))));
    at += n;
  }
  return parts;
}

/// Label skew: for each label value, the clients' shares of that label's samples are drawn from
/// Dirichlet(alpha). Small alpha (0.1) gives clients that see almost one class; large alpha
/// (100) approaches IID. With small alpha some clients may receive few samples or none (the trainer
/// skips empty clients); @p min_client_size > 0 redraws the whole partition, as NIID-Bench does
/// (Li et al., ICDE 2022), until every client has at least that many samples.
/// @throws hefl::invalid_argument if clients is 0 or exceeds the samples, alpha is not positive,
///         clients · min_client_size exceeds the samples, or 1000 draws did not meet the minimum
///         (the message suggests a larger alpha or a smaller minimum).
[[nodiscard]] inline std::vector<dataset> partition_dirichlet_labels(const dataset& d, std::size_t clients, double alpha,
                                                                     std::uint64_t seed, std::size_t min_client_size = 0) {
  detail::check_partition_args(d, clients, "partition_dirichlet_labels");
  if (!(alpha > 0.0)) throw invalid_argument("partition_dirichlet_labels: alpha must be positive");
  detail::check_min_size(d, clients, min_client_size, "partition_dirichlet_labels");
  constexpr int max_draws = 1000;
  deterministic_rng rng(seed);
  std::map<double, std::vector<std::size_t>> by_label;
  for (std::size_t i = 0; i < d.size(); ++i) by_label[d.y(static_cast<Eigen::Index>(i))].push_back(i);
  for (int draw = 0; draw < max_draws; ++draw) {
    std::vector<std::vector<std::size_t>> assigned(clients);
    for (auto& [label, indices] : by_label) {
      rng.shuffle(indices);
      const auto sizes = detail::proportional_sizes(indices.size(), rng.dirichlet(clients, alpha));
      std::size_t at = 0;
      for (std::size_t k = 0; k < clients; ++k)
        for (std::size_t j = 0; j < sizes[k]; ++j) assigned[k].push_back(indices[at++]);
    }
    bool big_enough = true;
    for (const auto& idx : assigned) big_enough = big_enough && idx.size() >= min_client_size;
    if (!big_enough) continue;
    std::vector<dataset> parts;
    for (auto& idx : assigned) {
      rng.shuffle(idx);
      parts.push_back(d.subset(idx));
    }
    return parts;
  }
  throw invalid_argument("partition_dirichlet_labels: no draw out of " + std::to_string(max_draws) + " gave all " +
                         std::to_string(clients) + " clients at least " + std::to_string(min_client_size) +
                         " samples with alpha = " + std::to_string(alpha) + ": use a larger alpha or a smaller minimum");
}

/// Quantity skew: client sizes proportional to a Dirichlet(alpha) draw on top of
/// @p min_client_size samples each (at least one); labels stay IID.
/// @throws hefl::invalid_argument if clients is 0 or exceeds the samples, alpha is not positive, or
///         clients · min_client_size exceeds the samples.
[[nodiscard]] inline std::vector<dataset> partition_quantity_skew(const dataset& d, std::size_t clients, double alpha,
                                                                  std::uint64_t seed, std::size_t min_client_size = 1) {
  detail::check_partition_args(d, clients, "partition_quantity_skew");
  if (!(alpha > 0.0)) throw invalid_argument("partition_quantity_skew: alpha must be positive");
  const std::size_t minimum = std::max<std::size_t>(min_client_size, 1);
  detail::check_min_size(d, clients, minimum, "partition_quantity_skew");
  deterministic_rng rng(seed);
  std::vector<std::size_t> order(d.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  rng.shuffle(order);
  // The minimum per client first, the rest by the Dirichlet shares.
  auto sizes = detail::proportional_sizes(d.size() - clients * minimum, rng.dirichlet(clients, alpha));
  std::vector<dataset> parts;
  std::size_t at = 0;
  for (std::size_t k = 0; k < clients; ++k) {
    const std::size_t n = sizes[k] + minimum;
    parts.push_back(d.subset(std::vector<std::size_t>(order.begin() + static_cast<long>(at),
                                                      order.begin() + static_cast<long>(at + n))));
    at += n;
  }
  return parts;
}

} // namespace hefl::data
