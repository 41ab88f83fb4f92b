#pragma once
/// @file
/// The sigmoid the library recommends for the encrypted training modes on standardised features
/// (zero mean, unit variance per feature, e.g. data::standardizer::fit_federated), and why: see
/// docs/encrypted-training.md. In short: [−8, 8] because that is where the measured scores z = w·x + b
/// of such data stay under the trainer's default L2 term (round_metrics::outside_interval reports
/// it when they do not); degree 7 because at R = 8 it is the lowest degree whose FL accuracy matched
/// the exact sigmoid's in benchmarks/sigmoid_degrees; minimax because it has the smallest maximum
/// error of the families at that degree (0.0189); evaluated by the Chebyshev plan within
/// ceil(log2(8)) = 3 levels, so an encrypted epoch needs 5.

#include <hefl/approx/families.hpp>
#include <hefl/approx/sigmoid.hpp>

namespace hefl::fl {

/// R of the default interval [−R, R].
inline constexpr double default_sigmoid_radius = 8.0;
/// Degree of the default encrypted sigmoid.
inline constexpr int default_sigmoid_degree = 7;

/// The minimax (Remez) polynomial of degree default_sigmoid_degree on [−default_sigmoid_radius,
/// default_sigmoid_radius], as an approx::polynomial_sigmoid named "minimax-deg7[-8,8]" (the type
/// the encrypted trainer aliases take by default). The trainer evaluates it in the Chebyshev basis
/// of its interval (fl::sigmoid_plan), 3 levels; fl::encrypted_gradient_depth gives 5 per epoch.
[[nodiscard]] inline approx::polynomial_sigmoid default_encrypted_sigmoid() {
  return approx::fit_minimax(default_sigmoid_degree, default_sigmoid_radius).to_polynomial_sigmoid();
}

} // namespace hefl::fl
