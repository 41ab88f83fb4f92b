#pragma once
/// @file
/// Logistic-regression gradients computed on encrypted training data: the first step of the seed
/// paper's FL+FHE mode. The protocol is the TenSEAL encrypted-LR tutorial's (the compute party holds
/// encrypted data and public weights; the key holder decrypts the gradient and updates the weights),
/// but SIMD-packed: one ciphertext per feature column with the samples in the slots, instead of one
/// ciphertext per sample, so an epoch costs a few ciphertext operations per feature instead of a
/// dot product per sample, and a 2^40 scale fits where the tutorial's per-sample layout needed 2^21.

#include <hefl/approx/evaluate.hpp>
#include <hefl/approx/sigmoid.hpp>
#include <hefl/core/error.hpp>
#include <hefl/data/dataset.hpp>
#include <hefl/he/backend.hpp>
#include <hefl/model/logistic_regression.hpp>

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace hefl::fl {

namespace detail {
template <class B>
consteval bool check_encrypted_training_backend() {
  static_assert(he::arithmetic_backend<B>,
                "hefl: the backend cannot multiply ciphertexts, sum slots or report levels "
                "(he::arithmetic_backend), so it cannot compute a gradient on encrypted data: see docs/backends.md");
  return true;
}
} // namespace detail

/// A training set encrypted column-wise: columns[j] holds feature j of samples 0..samples-1 in slots
/// 0..samples-1 and zeros after them; labels holds the labels the same way.
/// @tparam B an he::arithmetic_backend.
template <class B>
struct encrypted_dataset {
  static_assert(detail::check_encrypted_training_backend<B>());
  std::vector<typename B::ciphertext_type> columns;  ///< one ciphertext per feature
  typename B::ciphertext_type labels;                ///< the 0/1 labels
  std::size_t samples = 0;                           ///< m, the number of filled slots

  /// Number of features (columns).
  [[nodiscard]] std::size_t features() const noexcept { return columns.size(); }
};

/// Encrypts @p d column by column (Halevi-Shoup-style SIMD packing, CRYPTO 2014: samples in slots).
/// @tparam B an he::arithmetic_backend.
/// @throws hefl::invalid_argument if d is empty or inconsistent, has no features, or has more samples
///         than backend.slot_count(); whatever the backend's encrypt throws.
template <class B>
[[nodiscard]] encrypted_dataset<B> encrypt_dataset(B& backend, const data::dataset& d) {
  static_assert(detail::check_encrypted_training_backend<B>());
  d.validate();
  if (d.empty()) throw invalid_argument("encrypt_dataset: the dataset has no samples");
  if (d.features() == 0) throw invalid_argument("encrypt_dataset: the dataset has no features");
  const std::size_t slots = static_cast<std::size_t>(backend.slot_count());
  if (d.size() > slots)
    throw invalid_argument("encrypt_dataset: " + std::to_string(d.size()) + " samples exceed the backend's " +
                           std::to_string(slots) + " slots; split the data over several clients");
  std::vector<double> buffer(d.size());
  std::vector<typename B::ciphertext_type> columns;
  columns.reserve(d.features());
  for (std::size_t j = 0; j < d.features(); ++j) {
    for (std::size_t i = 0; i < d.size(); ++i)
      buffer[i] = d.x(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j));
    columns.push_back(backend.encrypt(std::span<const double>(buffer)));
  }
  for (std::size_t i = 0; i < d.size(); ++i) buffer[i] = d.y(static_cast<Eigen::Index>(i));
  return encrypted_dataset<B>{std::move(columns), backend.encrypt(std::span<const double>(buffer)), d.size()};
}

/// Levels encrypted_gradient consumes with @p sigmoid: 1 (w·x) + depth(σ) + 1 (e·x_j, or the mask
/// of the padded slots for the bias term; both run in parallel).
template <class Sigmoid>
[[nodiscard]] int encrypted_gradient_depth(const Sigmoid& sigmoid) {
  return 1 + approx::multiplicative_depth(sigmoid.degree()) + 1;
}

/// The unnormalised gradient sums on encrypted data, one ciphertext per parameter in the layout of
/// model::logistic_regression::parameters(): result[j] holds Σ_i (σ(z_i) − y_i)·x_ij in every slot
/// (j < features), result[features] holds Σ_i (σ(z_i) − y_i), with z = Σ_j w_j·x_j + b and σ the
/// polynomial @p sigmoid. Weights and bias are public to the compute party (TenSEAL tutorial protocol).
/// The padded slots have z = b, so the error is masked to the first m slots before the bias sum; the
/// per-feature products are zero there already because the columns are.
/// @tparam B an he::arithmetic_backend.
/// @tparam Sigmoid a polynomial approx::sigmoid_policy (e.g. approx::polynomial_sigmoid).
/// @throws hefl::depth_exhausted before any homomorphic operation if the data's level is below
///         encrypted_gradient_depth(sigmoid), naming both.
/// @throws hefl::invalid_argument if weights has the wrong size or a weight or the bias is not finite;
///         whatever the backend throws otherwise.
template <class B, class Sigmoid>
[[nodiscard]] std::vector<typename B::ciphertext_type> encrypted_gradient(const B& backend,
                                                                          const encrypted_dataset<B>& data,
                                                                          const Eigen::VectorXd& weights, double bias,
                                                                          const Sigmoid& sigmoid) {
  static_assert(detail::check_encrypted_training_backend<B>());
  static_assert(approx::sigmoid_policy<Sigmoid> && Sigmoid::is_polynomial,
                "hefl: only a polynomial sigmoid can be evaluated on ciphertexts (e.g. approx::paper_sigmoid3()); "
                "approx::exact_sigmoid is for plaintext training only");
  using ciphertext = typename B::ciphertext_type;
  const std::size_t n = data.features();
  if (n == 0 || data.samples == 0) throw invalid_argument("encrypted_gradient: the encrypted dataset is empty");
  if (static_cast<std::size_t>(weights.size()) != n)
    throw invalid_argument("encrypted_gradient: " + std::to_string(weights.size()) + " weights for " +
                           std::to_string(n) + " encrypted features");
  if (!weights.allFinite() || !std::isfinite(bias))
    throw invalid_argument("encrypted_gradient: a weight or the bias is not finite");
  const int required = encrypted_gradient_depth(sigmoid);
  int available = static_cast<int>(backend.level(data.labels));
  for (const ciphertext& c : data.columns) available = std::min(available, static_cast<int>(backend.level(c)));
  if (available < required)
    throw depth_exhausted("encrypted_gradient: level " + std::to_string(available) + " < " +
                          std::to_string(required) + " required (1 for w·x, " +
                          std::to_string(required - 2) + " for the degree-" + std::to_string(sigmoid.degree()) +
                          " sigmoid, 1 for e·x)");

  ciphertext z = backend.multiply_scalar(data.columns[0], weights(0));
  for (std::size_t j = 1; j < n; ++j)
    backend.add_inplace(z, backend.multiply_scalar(data.columns[j], weights(static_cast<Eigen::Index>(j))));
  if (bias != 0.0) z = backend.add_plain(z, std::vector<double>(backend.slot_count(), bias));
  const ciphertext error =
      backend.sub(approx::evaluate_polynomial(backend, z, std::span<const double>(sigmoid.coefficients())), data.labels);

  std::vector<ciphertext> sums;
  sums.reserve(n + 1);
  for (std::size_t j = 0; j < n; ++j) sums.push_back(backend.sum_slots(backend.multiply(error, data.columns[j])));
  const std::vector<double> mask(data.samples, 1.0);  // zero-padded to the slot count by the backend
  sums.push_back(backend.sum_slots(backend.multiply_plain(error, mask)));
  return sums;
}

/// The key holder's side: decrypts the sums of encrypted_gradient and returns the regularised
/// gradient (1/m)·sums + l2·[w, 0], laid out like model::logistic_regression::gradient.
/// @tparam B an he::arithmetic_backend.
/// @throws hefl::invalid_argument if sums does not have weights.size()+1 entries, samples is 0, l2 is
///         negative, or a decrypted value is not finite; whatever the backend's decrypt throws.
template <class B>
[[nodiscard]] Eigen::VectorXd decrypt_gradient(const B& backend, const std::vector<typename B::ciphertext_type>& sums,
                                               std::size_t samples, const Eigen::VectorXd& weights, double l2) {
  static_assert(detail::check_encrypted_training_backend<B>());
  if (sums.size() != static_cast<std::size_t>(weights.size()) + 1)
    throw invalid_argument("decrypt_gradient: " + std::to_string(sums.size()) + " ciphertexts for " +
                           std::to_string(weights.size()) + " weights plus a bias");
  if (samples == 0) throw invalid_argument("decrypt_gradient: samples must be positive");
  if (!(l2 >= 0.0)) throw invalid_argument("decrypt_gradient: l2 must be >= 0");
  const double inv_m = 1.0 / static_cast<double>(samples);
  Eigen::VectorXd g(static_cast<Eigen::Index>(sums.size()));
  for (std::size_t k = 0; k < sums.size(); ++k) {
    const std::vector<double> slots = backend.decrypt(sums[k]);
    if (slots.empty() || !std::isfinite(slots[0]))
      throw invalid_argument("decrypt_gradient: ciphertext " + std::to_string(k) + " decrypts to a non-finite sum");
    g(static_cast<Eigen::Index>(k)) = inv_m * slots[0];
  }
  g.head(weights.size()) += l2 * weights;
  return g;
}

/// Full-batch gradient descent on encrypted data for @p epochs epochs: encrypted_gradient by the
/// compute party, decrypt_gradient by the key holder, then the plaintext update
/// θ ← θ − lr·g (the TenSEAL encrypted-LR tutorial's loop). @p on_epoch, if set, is called after
/// each epoch with the 1-based epoch and the updated model.
/// @tparam B an he::arithmetic_backend.
/// @tparam Sigmoid a polynomial approx::sigmoid_policy.
/// @throws hefl::invalid_argument for epochs < 0, learning_rate <= 0, l2 < 0, a model whose feature
///         count differs from the data's, or parameters that become non-finite (divergence).
/// @throws hefl::depth_exhausted as encrypted_gradient, before the first epoch's work.
template <class B, class Sigmoid>
void train_encrypted(const B& backend, model::logistic_regression& model, const encrypted_dataset<B>& data, int epochs,
                     double learning_rate, double l2, const Sigmoid& sigmoid,
                     const std::function<void(int, const model::logistic_regression&)>& on_epoch = {}) {
  static_assert(detail::check_encrypted_training_backend<B>());
  if (epochs < 0) throw invalid_argument("train_encrypted: epochs must be >= 0, got " + std::to_string(epochs));
  if (!(learning_rate > 0.0)) throw invalid_argument("train_encrypted: learning_rate must be positive");
  if (!(l2 >= 0.0)) throw invalid_argument("train_encrypted: l2 must be >= 0");
  if (model.features() != data.features())
    throw invalid_argument("train_encrypted: the model has " + std::to_string(model.features()) +
                           " features, the encrypted data " + std::to_string(data.features()));
  for (int e = 1; e <= epochs; ++e) {
    const auto sums = encrypted_gradient(backend, data, model.weights(), model.bias(), sigmoid);
    const Eigen::VectorXd g = decrypt_gradient(backend, sums, data.samples, model.weights(), l2);
    const Eigen::VectorXd next = model.parameters() - learning_rate * g;
    if (!next.allFinite())
      throw invalid_argument("train_encrypted: parameters diverged at epoch " + std::to_string(e) +
                             "; lower the learning rate");
    model.set_parameters(next);
    if (on_epoch) on_epoch(e, model);
  }
}

} // namespace hefl::fl
