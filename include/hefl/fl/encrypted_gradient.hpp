#pragma once
/// @file
/// Logistic-regression gradients computed on encrypted training data: the first step of the seed
/// paper's FL+FHE mode. The protocol is the TenSEAL encrypted-LR tutorial's (the compute party holds
/// encrypted data and public weights; the key holder decrypts the gradient and updates the weights),
/// but SIMD-packed: one ciphertext per feature column with the samples in the slots, instead of one
/// ciphertext per sample, so an epoch costs a few ciphertext operations per feature instead of a
/// dot product per sample, and a 2^40 scale fits where the tutorial's per-sample layout needed 2^21.

#include <hefl/approx/sigmoid.hpp>
#include <hefl/core/error.hpp>
#include <hefl/data/dataset.hpp>
#include <hefl/fl/sigmoid_plan.hpp>
#include <hefl/he/backend.hpp>
#include <hefl/model/logistic_regression.hpp>

#include <Eigen/Dense>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace hefl::fl {

namespace detail {
template <class B>
consteval bool check_encrypted_training_backend() {
  static_assert(he::arithmetic_evaluator<B>,
                "hefl: the backend cannot multiply ciphertexts or report levels (he::arithmetic_evaluator), so it "
                "cannot compute a gradient on encrypted data: see docs/backends.md");
  static_assert(he::has_native_sum_slots<B> || he::has_rotate<B>,
                "hefl: the backend can neither sum slots (`sum_slots(c)`) nor rotate them (`rotate(c, steps)`), so "
                "it cannot add up a gradient over the samples: see docs/backends.md");
  return true;
}

inline void check_options(const model::train_options& o, const char* who) {
  if (o.epochs < 0) throw invalid_argument(std::string(who) + ": epochs must be >= 0, got " + std::to_string(o.epochs));
  if (!(o.learning_rate > 0.0) || !std::isfinite(o.learning_rate))
    throw invalid_argument(std::string(who) + ": learning_rate must be positive and finite");
  if (!(o.l2 >= 0.0) || !std::isfinite(o.l2)) throw invalid_argument(std::string(who) + ": l2 must be >= 0 and finite");
}
} // namespace detail

/// A training set encrypted column-wise: columns[j] holds feature j of samples 0..samples-1 in slots
/// 0..samples-1 and zeros after them; labels holds the labels the same way.
/// @tparam B the backend or role whose ciphertexts these are.
template <class B>
struct encrypted_dataset {
  using ciphertext_type = typename B::ciphertext_type;
  std::vector<typename B::ciphertext_type> columns;  ///< one ciphertext per feature
  typename B::ciphertext_type labels;                ///< the 0/1 labels
  std::size_t samples = 0;                           ///< m, the number of filled slots

  /// Number of features (columns).
  [[nodiscard]] std::size_t features() const noexcept { return columns.size(); }
};

/// Encrypts @p d column by column (Halevi-Shoup-style SIMD packing, CRYPTO 2014: samples in slots).
/// @tparam B anything that encrypts: a backend or a client role (he::ckks_client).
/// @throws hefl::invalid_argument if d is empty or inconsistent, has no features, or has more samples
///         than backend.slot_count(); whatever the backend's encrypt throws.
template <class B>
[[nodiscard]] encrypted_dataset<B> encrypt_dataset(B& backend, const data::dataset& d) {
  static_assert(requires(std::span<const double> v) {
    { backend.encrypt(v) } -> std::same_as<typename B::ciphertext_type>;
  }, "hefl: encrypt_dataset needs a party that encrypts (`encrypt(std::span<const double>)`): see docs/backends.md");
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

/// Levels encrypted_gradient consumes with @p sigmoid: 1 (w·x, with 1/R folded into the public
/// weights) + the depth of its Chebyshev plan (fl::sigmoid_plan: ceil(log2(d + 1)) for a power-basis
/// polynomial such as approx::paper_sigmoid3(), mapped_depth() for an approx::sigmoid_approximation)
/// + 1 (e·x_j, or the mask of the padded slots for the bias term; both run in parallel).
/// @tparam Sigmoid an approx::polynomial_sigmoid_policy or a fl::sigmoid_plan.
template <class Sigmoid>
[[nodiscard]] int encrypted_gradient_depth(const Sigmoid& sigmoid) {
  return 1 + make_sigmoid_plan(sigmoid).depth() + 1;
}

namespace detail {
template <class Sigmoid>
consteval bool check_encrypted_sigmoid() {
  static_assert(approx::sigmoid_policy<Sigmoid> && Sigmoid::is_polynomial,
                "hefl: only a polynomial sigmoid can be evaluated on ciphertexts (e.g. approx::paper_sigmoid3()); "
                "approx::exact_sigmoid is for plaintext training only");
  return true;
}

template <class B>
int lowest_level(const B& backend, const encrypted_dataset<B>& data) {
  int available = static_cast<int>(backend.level(data.labels));
  for (const auto& c : data.columns) available = std::min(available, static_cast<int>(backend.level(c)));
  return available;
}

inline std::string depth_message(const char* who, int available, int required, int mapping, const sigmoid_plan& s) {
  return std::string(who) + ": level " + std::to_string(available) + " < " + std::to_string(required) +
         " required (1 for w·x, " + (mapping > 0 ? std::to_string(mapping) + " for mapping into [-1, 1], " : "") +
         std::to_string(s.depth()) + " for the degree-" + std::to_string(s.degree()) + " sigmoid, 1 for e·x)";
}

// e = p(t) − y with t = Σ_j (a·w_j)·x_j + (a·b + s) = a·z + s in [−1, 1] when z is in the sigmoid's
// interval: the mapping is folded into the public weights, so it costs no level.
template <class B>
typename B::ciphertext_type gradient_error(const B& backend, const encrypted_dataset<B>& data,
                                           const Eigen::VectorXd& weights, double bias, const sigmoid_plan& sigmoid,
                                           const char* who) {
  static_assert(detail::check_encrypted_training_backend<B>());
  using ciphertext = typename B::ciphertext_type;
  const std::size_t n = data.features();
  if (n == 0 || data.samples == 0) throw invalid_argument(std::string(who) + ": the encrypted dataset is empty");
  if (static_cast<std::size_t>(weights.size()) != n)
    throw invalid_argument(std::string(who) + ": " + std::to_string(weights.size()) + " weights for " +
                           std::to_string(n) + " encrypted features");
  if (!weights.allFinite() || !std::isfinite(bias))
    throw invalid_argument(std::string(who) + ": a weight or the bias is not finite");
  const int required = 2 + sigmoid.depth();
  const int available = lowest_level(backend, data);
  if (available < required) throw depth_exhausted(depth_message(who, available, required, 0, sigmoid));

  const double a = sigmoid.scale();
  ciphertext t = backend.multiply_scalar(data.columns[0], a * weights(0));
  for (std::size_t j = 1; j < n; ++j)
    backend.add_inplace(t, backend.multiply_scalar(data.columns[j], a * weights(static_cast<Eigen::Index>(j))));
  const double offset = a * bias + sigmoid.shift();
  if (offset != 0.0) t = backend.add_plain(t, std::vector<double>(backend.slot_count(), offset));
  return backend.sub(sigmoid.plan().evaluate(backend, t), data.labels);
}

template <class B, class Sigmoid>
typename B::ciphertext_type gradient_error(const B& backend, const encrypted_dataset<B>& data,
                                           const Eigen::VectorXd& weights, double bias, const Sigmoid& sigmoid,
                                           const char* who) {
  static_assert(detail::check_encrypted_training_backend<B>());
  static_assert(check_encrypted_sigmoid<Sigmoid>());
  return gradient_error(backend, data, weights, bias, make_sigmoid_plan(sigmoid), who);
}
} // namespace detail

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
  using ciphertext = typename B::ciphertext_type;
  const std::size_t n = data.features();
  const ciphertext error = detail::gradient_error(backend, data, weights, bias, sigmoid, "encrypted_gradient");
  std::vector<ciphertext> sums;
  sums.reserve(n + 1);
  for (std::size_t j = 0; j < n; ++j) sums.push_back(he::sum_slots(backend, backend.multiply(error, data.columns[j])));
  const std::vector<double> mask(data.samples, 1.0);  // zero-padded to the slot count by the backend
  sums.push_back(he::sum_slots(backend, backend.multiply_plain(error, mask)));
  return sums;
}

/// The block size encrypted_gradient_packed uses for @p samples samples and @p features features:
/// the smallest power of two >= samples, or 0 when the features+1 blocks do not fit in the slots
/// (or the slot count is not a power of two), in which case use encrypted_gradient.
/// packed_gradient_block for a backend with @p slots slots.
[[nodiscard]] inline std::size_t packed_gradient_block_for_slots(std::size_t slots, std::size_t samples,
                                                                 std::size_t features) {
  if (samples == 0 || slots == 0 || (slots & (slots - 1)) != 0) return 0;
  const std::size_t block = std::bit_ceil(samples);
  return block <= slots / (features + 1) ? block : 0;
}

template <class B>
[[nodiscard]] std::size_t packed_gradient_block(const B& backend, std::size_t samples, std::size_t features) {
  return packed_gradient_block_for_slots(static_cast<std::size_t>(backend.slot_count()), samples, features);
}

/// The steps encrypted_gradient_packed rotates by with @p features features and @p block: −j·block
/// for j = 1..features (each product into its block) and 1, 2, ..., block/2 (the window sum),
/// in increasing order.
[[nodiscard]] inline std::vector<long long> packed_gradient_rotation_steps(std::size_t features, std::size_t block) {
  std::vector<long long> steps;
  for (std::size_t j = features; j >= 1; --j) steps.push_back(-static_cast<long long>(j * block));
  for (std::size_t step = 1; step < block; step *= 2) steps.push_back(static_cast<long long>(step));
  return steps;
}

/// encrypted_gradient with the n+1 sums packed into ONE ciphertext: sum j (j < features: Σ_i e_i·x_ij;
/// j = features: Σ_i e_i) lands in slot j·block, with block = packed_gradient_block(...). The
/// products are rotated into blocks of their own (j·block slots to the right) and added, then one
/// window sum of log2(block) rotations adds up every block at once: about 2·log2(block) rotations
/// instead of n+1 sums over all slots, and one ciphertext to send and decrypt instead of n+1.
/// @tparam B an he::arithmetic_evaluator with rotate.
/// @throws hefl::invalid_argument if block is 0, not a power of two, smaller than the samples, or the
///         blocks do not fit; otherwise as encrypted_gradient.
template <class B, class Sigmoid>
[[nodiscard]] typename B::ciphertext_type encrypted_gradient_packed(const B& backend, const encrypted_dataset<B>& data,
                                                                    const Eigen::VectorXd& weights, double bias,
                                                                    const Sigmoid& sigmoid, std::size_t block) {
  static_assert(he::has_rotate<B>, "hefl: encrypted_gradient_packed needs `rotate(c, steps)`: see docs/backends.md");
  const std::size_t n = data.features();
  if (block == 0 || (block & (block - 1)) != 0 || block < data.samples ||
      block > static_cast<std::size_t>(backend.slot_count()) / (n + 1))
    throw invalid_argument("encrypted_gradient_packed: block " + std::to_string(block) + " cannot hold " +
                           std::to_string(data.samples) + " samples in " + std::to_string(n + 1) + " blocks of " +
                           std::to_string(backend.slot_count()) + " slots");
  using ciphertext = typename B::ciphertext_type;
  const ciphertext error = detail::gradient_error(backend, data, weights, bias, sigmoid, "encrypted_gradient_packed");
  const std::vector<double> mask(data.samples, 1.0);
  ciphertext packed = backend.multiply(error, data.columns[0]);
  for (std::size_t j = 1; j <= n; ++j) {
    const ciphertext product = j < n ? backend.multiply(error, data.columns[j]) : backend.multiply_plain(error, mask);
    backend.add_inplace(packed, backend.rotate(product, -static_cast<int>(j * block)));
  }
  for (std::size_t step = 1; step < block; step *= 2)
    backend.add_inplace(packed, backend.rotate(packed, static_cast<int>(step)));
  return packed;
}

/// The regularised gradient (1/m)·sums + l2·[w, 0] from the decrypted gradient sums (slot 0 of each
/// ciphertext of encrypted_gradient), laid out like model::logistic_regression::gradient.
/// @throws hefl::invalid_argument if sums does not have weights.size()+1 entries, samples is 0, l2 is
///         negative, or a sum is not finite.
[[nodiscard]] inline Eigen::VectorXd gradient_from_sums(std::span<const double> sums, std::size_t samples,
                                                        const Eigen::VectorXd& weights, double l2) {
  if (sums.size() != static_cast<std::size_t>(weights.size()) + 1)
    throw invalid_argument("decrypt_gradient: " + std::to_string(sums.size()) + " ciphertexts for " +
                           std::to_string(weights.size()) + " weights plus a bias");
  if (samples == 0) throw invalid_argument("decrypt_gradient: samples must be positive");
  if (!(l2 >= 0.0)) throw invalid_argument("decrypt_gradient: l2 must be >= 0");
  const double inv_m = 1.0 / static_cast<double>(samples);
  Eigen::VectorXd g(static_cast<Eigen::Index>(sums.size()));
  for (std::size_t k = 0; k < sums.size(); ++k) {
    if (!std::isfinite(sums[k]))
      throw invalid_argument("decrypt_gradient: ciphertext " + std::to_string(k) + " decrypts to a non-finite sum");
    g(static_cast<Eigen::Index>(k)) = inv_m * sums[k];
  }
  g.head(weights.size()) += l2 * weights;
  return g;
}

/// The key holder's side: decrypts the sums of encrypted_gradient (through he::decrypt_for_sharing:
/// the gradient determines the next public weights) and returns gradient_from_sums of them.
/// @tparam K the key holder: has `decrypt` (and optionally `decrypt_for_sharing`).
/// @throws hefl::invalid_argument as gradient_from_sums; whatever the key holder's decrypt throws.
template <class K, class C>
[[nodiscard]] Eigen::VectorXd decrypt_gradient(const K& key_holder, const std::vector<C>& sums, std::size_t samples,
                                               const Eigen::VectorXd& weights, double l2) {
  if (sums.size() != static_cast<std::size_t>(weights.size()) + 1)
    throw invalid_argument("decrypt_gradient: " + std::to_string(sums.size()) + " ciphertexts for " +
                           std::to_string(weights.size()) + " weights plus a bias");
  std::vector<double> first(sums.size());
  // Gradient sums over `samples` values, divided by that count after decryption: it is their unit.
  for (std::size_t k = 0; k < sums.size(); ++k)
    first[k] = he::decrypt_first_for_sharing(key_holder, sums[k], he::published_noise::computed(static_cast<double>(samples)));
  return gradient_from_sums(first, samples, weights, l2);
}

/// Full-batch gradient descent on encrypted data for @p options.epochs epochs: encrypted_gradient
/// by the compute party, decrypt_gradient by the key holder, then the plaintext update
/// θ ← θ − lr·g (the TenSEAL encrypted-LR tutorial's loop). @p on_epoch, if set, is called after
/// each epoch with the 1-based epoch and the updated model.
/// @tparam B an he::arithmetic_backend (one object playing compute party and key holder).
/// @tparam Sigmoid an approx::polynomial_sigmoid_policy or a fl::sigmoid_plan.
/// @throws hefl::invalid_argument for epochs < 0, learning_rate <= 0, l2 < 0, a model whose feature
///         count differs from the data's, or parameters that become non-finite (divergence).
/// @throws hefl::depth_exhausted as encrypted_gradient, before the first epoch's work.
template <class B, class Sigmoid>
void train_encrypted(const B& backend, model::logistic_regression& model, const encrypted_dataset<B>& data,
                     const model::train_options& options, const Sigmoid& sigmoid,
                     const std::function<void(int, const model::logistic_regression&)>& on_epoch = {}) {
  static_assert(detail::check_encrypted_training_backend<B>());
  static_assert(detail::check_encrypted_sigmoid<Sigmoid>());
  detail::check_options(options, "train_encrypted");
  if (model.features() != data.features())
    throw invalid_argument("train_encrypted: the model has " + std::to_string(model.features()) +
                           " features, the encrypted data " + std::to_string(data.features()));
  const sigmoid_plan plan = make_sigmoid_plan(sigmoid);
  for (int e = 1; e <= options.epochs; ++e) {
    const auto sums = encrypted_gradient(backend, data, model.weights(), model.bias(), plan);
    const Eigen::VectorXd g = decrypt_gradient(backend, sums, data.samples, model.weights(), options.l2);
    const Eigen::VectorXd next = model.parameters() - options.learning_rate * g;
    if (!next.allFinite())
      throw invalid_argument("train_encrypted: parameters diverged at epoch " + std::to_string(e) +
                             "; lower the learning rate");
    model.set_parameters(next);
    if (on_epoch) on_epoch(e, model);
  }
}

/// The parameters [w_0..w_{n-1}, b] of a logistic regression as n+1 ciphertexts, each value repeated
/// in every slot (what encrypted_model_epoch reads and writes).
template <class C>
using encrypted_parameters = std::vector<C>;

/// Encrypts @p p with @p encryptor (the key holder's public key), each value repeated in all slots.
/// @throws whatever the encryptor throws.
template <class E>
[[nodiscard]] auto encrypt_parameters(E& encryptor, const Eigen::VectorXd& p) {
  std::vector<typename E::ciphertext_type> out;
  out.reserve(static_cast<std::size_t>(p.size()));
  for (Eigen::Index j = 0; j < p.size(); ++j) {
    const std::vector<double> replicated(static_cast<std::size_t>(encryptor.slot_count()), p(j));
    out.push_back(encryptor.encrypt(std::span<const double>(replicated)));
  }
  return out;
}

/// The parameters θ in the sigmoid's unit coordinates, φ = a·θ (a = sigmoid_plan::scale(), 1/R on
/// [−R, R]): Σ_j φ_j·x_j + φ_b + s is then t = a·z + s, the sigmoid plan's argument, with no product
/// spent on the mapping. What the key holder encrypts for encrypted_model_epoch_unit.
/// @tparam Sigmoid an approx::polynomial_sigmoid_policy or a fl::sigmoid_plan.
template <class Sigmoid>
[[nodiscard]] Eigen::VectorXd to_unit_parameters(const Eigen::VectorXd& theta, const Sigmoid& sigmoid) {
  return make_sigmoid_plan(sigmoid).scale() * theta;
}

/// θ = φ / a, the inverse of to_unit_parameters (linear, so it commutes with any linear aggregation).
/// @tparam Sigmoid an approx::polynomial_sigmoid_policy or a fl::sigmoid_plan.
template <class Sigmoid>
[[nodiscard]] Eigen::VectorXd from_unit_parameters(const Eigen::VectorXd& phi, const Sigmoid& sigmoid) {
  return phi / make_sigmoid_plan(sigmoid).scale();
}

/// Levels encrypted_model_epoch consumes with @p sigmoid: encrypted_gradient_depth(sigmoid) plus one
/// for mapping z into [−1, 1] (a scalar product; none when the interval is [−1, 1]).
/// encrypted_model_epoch_unit needs only encrypted_gradient_depth(sigmoid).
template <class Sigmoid>
[[nodiscard]] int encrypted_model_epoch_depth(const Sigmoid& sigmoid) {
  const sigmoid_plan plan = make_sigmoid_plan(sigmoid);
  return 2 + approx::mapping_depth(plan.scale()) + plan.depth();
}

namespace detail {
// The epoch of encrypted_model_epoch (unit == false: params hold θ, z is mapped by one scalar
// product) and encrypted_model_epoch_unit (unit == true: params hold φ = a·θ, no product spent).
template <class B>
std::vector<typename B::ciphertext_type> model_epoch(const B& backend, const encrypted_dataset<B>& data,
                                                     const std::vector<typename B::ciphertext_type>& params,
                                                     const model::train_options& options, const sigmoid_plan& sigmoid,
                                                     bool unit, const char* who) {
  using ciphertext = typename B::ciphertext_type;
  check_options(options, who);
  const std::size_t n = data.features();
  if (n == 0 || data.samples == 0) throw invalid_argument(std::string(who) + ": the encrypted dataset is empty");
  if (params.size() != n + 1)
    throw invalid_argument(std::string(who) + ": " + std::to_string(params.size()) + " parameter ciphertexts for " +
                           std::to_string(n) + " features plus a bias");
  const double a = sigmoid.scale();
  const int mapping = unit ? 0 : approx::mapping_depth(a);
  const int required = 2 + mapping + sigmoid.depth();
  int available = lowest_level(backend, data);
  for (const ciphertext& c : params) available = std::min(available, static_cast<int>(backend.level(c)));
  if (available < required) throw depth_exhausted(depth_message(who, available, required, mapping, sigmoid));

  // With c = lr/m and e = p(z) − y: θ_j ← decay·θ_j − c·Σ e·x_j. In unit coordinates every term is
  // multiplied by a, so the error is (a·c)·p − (a·c)·y and the update keeps its form.
  const double c = (unit ? a : 1.0) * options.learning_rate / static_cast<double>(data.samples);
  ciphertext z = backend.multiply(params[0], data.columns[0]);
  for (std::size_t j = 1; j < n; ++j) backend.add_inplace(z, backend.multiply(params[j], data.columns[j]));
  backend.add_inplace(z, params[n]);
  const ciphertext t = unit ? approx::map_to_unit(backend, z, 1.0, sigmoid.shift())
                            : approx::map_to_unit(backend, z, a, sigmoid.shift());
  const ciphertext error =
      backend.sub(sigmoid.scaled_plan(c).evaluate(backend, t), backend.multiply_scalar(data.labels, c));
  const double decay = 1.0 - options.learning_rate * options.l2;
  std::vector<ciphertext> next;
  next.reserve(n + 1);
  for (std::size_t j = 0; j < n; ++j) {
    const ciphertext sum = he::sum_slots(backend, backend.multiply(error, data.columns[j]));
    next.push_back(backend.sub(backend.multiply_scalar(params[j], decay), sum));
  }
  const std::vector<double> mask(data.samples, 1.0);  // the padded slots have z = b: mask their error
  next.push_back(backend.sub(params[n], he::sum_slots(backend, backend.multiply_plain(error, mask))));
  return next;
}

template <class B, class Sigmoid>
consteval bool check_encrypted_model_epoch() {
  static_assert(detail::check_encrypted_training_backend<B>());
  static_assert(he::backend_traits<B>::mixed_levels,
                "hefl: training with encrypted weights combines ciphertexts at different levels, and this backend "
                "says it needs matching levels (backend_traits<B>::mixed_levels is false): see docs/backends.md");
  static_assert(check_encrypted_sigmoid<Sigmoid>());
  return true;
}
} // namespace detail

/// One epoch of gradient descent with encrypted data AND encrypted parameters (the TenSEAL
/// encrypted-LR tutorial's protocol, SIMD-packed: every sample of the client in the slots of one
/// ciphertext per feature, each parameter replicated in every slot): the compute party sees neither
/// the data nor the model. With c = lr/m, it computes z = Σ_j Enc(w_j)·x_j + Enc(b), maps it into
/// [−1, 1] with one scalar product (t = a·z + s), evaluates the sigmoid's Chebyshev plan with its
/// coefficients scaled by c (no extra level), the error e = c·p(t) − c·y (c·y taken at the labels'
/// own higher level), the sums S_j = Σ_i e_i·x_ij and S_b = Σ_{i<m} e_i, and returns
/// w_j ← (1 − lr·l2)·w_j − S_j, b ← b − S_b, each repeated in every slot. Consumes
/// encrypted_model_epoch_depth(sigmoid) levels, relying on the backend's operations accepting
/// operands at different levels (he::backend_traits<B>::mixed_levels); the key holder refreshes the
/// result (decrypts and re-encrypts) before the next epoch. encrypted_model_epoch_unit saves the
/// mapping's level; the trainer uses it.
/// @tparam B an he::arithmetic_evaluator that can sum slots.
/// @tparam Sigmoid an approx::polynomial_sigmoid_policy or a fl::sigmoid_plan.
/// @throws hefl::depth_exhausted before any homomorphic operation if a data or parameter ciphertext
///         has fewer than encrypted_model_epoch_depth(sigmoid) levels left.
/// @throws hefl::invalid_argument if params does not have features()+1 ciphertexts or the options are
///         invalid; whatever the backend throws otherwise.
template <class B, class Sigmoid>
[[nodiscard]] std::vector<typename B::ciphertext_type> encrypted_model_epoch(
    const B& backend, const encrypted_dataset<B>& data, const std::vector<typename B::ciphertext_type>& params,
    const model::train_options& options, const Sigmoid& sigmoid) {
  static_assert(detail::check_encrypted_model_epoch<B, Sigmoid>());
  return detail::model_epoch(backend, data, params, options, make_sigmoid_plan(sigmoid), false,
                             "encrypted_model_epoch");
}

/// encrypted_model_epoch on parameters in the sigmoid's unit coordinates: @p params encrypt
/// φ = to_unit_parameters(θ, sigmoid) and the result encrypts the next φ (from_unit_parameters gives
/// θ back after decryption). Since Σ_j φ_j·x_j + φ_b is already a·z, the mapping into [−1, 1] costs
/// no level: consumes encrypted_gradient_depth(sigmoid) levels, the same as encrypted_gradient.
/// @throws as encrypted_model_epoch, with encrypted_gradient_depth(sigmoid) as the levels required.
template <class B, class Sigmoid>
[[nodiscard]] std::vector<typename B::ciphertext_type> encrypted_model_epoch_unit(
    const B& backend, const encrypted_dataset<B>& data, const std::vector<typename B::ciphertext_type>& params,
    const model::train_options& options, const Sigmoid& sigmoid) {
  static_assert(detail::check_encrypted_model_epoch<B, Sigmoid>());
  return detail::model_epoch(backend, data, params, options, make_sigmoid_plan(sigmoid), true,
                             "encrypted_model_epoch_unit");
}

} // namespace hefl::fl
