#pragma once
/// @file
/// What the trainer reports after each round, and how a round callback stops training early.

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

namespace hefl::fl {

/// Test-set metrics and costs of one round.
struct round_metrics {
  int round = 0;          ///< 1-based
  double accuracy = 0.0;  ///< fraction in [0, 1]
  double loss = 0.0;      ///< mean binary cross-entropy
  /// Bytes each client (indexed as the clients passed to fit) sent this round: its update, and in
  /// round 1 of the encrypted-data modes also its encrypted training data. 0 for an empty client.
  std::vector<std::uint64_t> bytes_uploaded;
  double seconds_local_training = 0.0;  ///< plaintext training, or homomorphic work of the compute party
  double seconds_encryption = 0.0;      ///< encrypting (and serializing) data, weights and updates
  double seconds_aggregation = 0.0;     ///< the server combining the updates
  double seconds_decryption = 0.0;      ///< the key holder's decryptions (gradients, refreshes, aggregate)
  /// Share of the values z = w·x + b met during the round's local training (every client, every
  /// epoch) outside the sigmoid approximation's interval, where the polynomial is no longer a
  /// sigmoid. NaN when the sigmoid states no interval (e.g. the exact sigmoid) or the model has no
  /// decision_function. A diagnostic of the simulation, computed from the clients' own data.
  double outside_interval = std::numeric_limits<double>::quiet_NaN();
  /// Largest |z| among the same values (NaN when outside_interval is): how far the interval would
  /// have to reach to hold every score of the round (docs/encrypted-training.md).
  double largest_score = std::numeric_limits<double>::quiet_NaN();
};

/// What a round callback may return to continue or stop training (a callback returning void continues).
enum class round_decision { proceed, stop };

/// The interval [lo, hi] a sigmoid approximation is meant for, if it says: `interval()` (a pair or
/// a struct with lo/hi), `radius()` (the interval [-r, r]) or `lo()`/`hi()`.
template <class S>
[[nodiscard]] std::optional<std::pair<double, double>> sigmoid_interval(const S& s) {
  if constexpr (requires { s.interval().first; s.interval().second; }) {
    const auto iv = s.interval();
    return std::pair<double, double>{static_cast<double>(iv.first), static_cast<double>(iv.second)};
  } else if constexpr (requires { s.interval().lo; s.interval().hi; }) {
    const auto iv = s.interval();
    return std::pair<double, double>{static_cast<double>(iv.lo), static_cast<double>(iv.hi)};
  } else if constexpr (requires { { s.radius() } -> std::convertible_to<double>; }) {
    const double r = s.radius();
    return std::pair<double, double>{-r, r};
  } else if constexpr (requires { { s.lo() } -> std::convertible_to<double>; { s.hi() } -> std::convertible_to<double>; }) {
    return std::pair<double, double>{s.lo(), s.hi()};
  } else {
    return std::nullopt;
  }
}

} // namespace hefl::fl
