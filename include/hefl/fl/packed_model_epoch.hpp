#pragma once
/// @file
/// The encrypted-data-and-weights epoch (fl::encrypted_model_epoch_unit) with everything in one
/// ciphertext: the client's data as one ciphertext of blocks, the n + 1 parameters as one ciphertext
/// of blocks, so an epoch sums over the samples with log2(block) rotations instead of n + 1 sums
/// over all N/2 slots, and the key holder refreshes one ciphertext instead of n + 1.
///
/// Layout (model_packing): block = bit_ceil(m) slots per feature, groups = bit_ceil(n + 1) blocks,
/// period P = groups·block slots, repeated over all N/2 slots (P divides N/2). In every period, block
/// j < n holds feature j of samples 0..m−1, block n holds a 1 for each sample (the bias column), the
/// other slots 0. The parameters φ = a·θ (the sigmoid's unit coordinates, fl::to_unit_parameters)
/// are encrypted with φ_j in every slot of block j. The compute party forms the products φ_j·x_ij
/// (one product), adds the blocks together with log2(groups) rotations by multiples of block (every
/// block of every period then holds t_i = a·z_i for its sample i: SIMD packing with rotate-and-add,
/// Halevi–Shoup, "Algorithms in HElib", CRYPTO 2014), evaluates the sigmoid, multiplies the error by
/// the data again (one product) and sums each block with log2(block) rotations: the update of
/// parameter j lands in slot j·block. The key holder reads those n + 1 slots and encrypts the next
/// parameters in the same layout. packed_gradient runs the public-weights mode (FL-FHE) on the
/// same layout: the weights are a plaintext, and the n + 1 gradient sums land in the same slots.

#include <hefl/core/error.hpp>
#include <hefl/data/dataset.hpp>
#include <hefl/fl/encrypted_gradient.hpp>
#include <hefl/fl/sigmoid_plan.hpp>
#include <hefl/he/backend.hpp>
#include <hefl/model/logistic_regression.hpp>

#include <Eigen/Dense>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace hefl::fl {

/// Where the packed encrypted-weights epoch puts samples and parameters (see the file comment).
struct model_packing {
  std::size_t samples = 0;   ///< m
  std::size_t features = 0;  ///< n
  std::size_t block = 0;     ///< bit_ceil(m): slots per feature
  std::size_t groups = 0;    ///< bit_ceil(n + 1): blocks per period
  std::size_t slots = 0;     ///< the backend's slot count, a multiple of period()

  /// groups·block: the layout repeats with this period.
  [[nodiscard]] std::size_t period() const noexcept { return groups * block; }
  /// The slots holding parameter j's update after an epoch: j·block, j = 0..n (the bias last).
  [[nodiscard]] std::vector<std::size_t> parameter_slots() const {
    std::vector<std::size_t> s(features + 1);
    for (std::size_t j = 0; j < s.size(); ++j) s[j] = j * block;
    return s;
  }
  /// The n + 1 parameters in the layout: φ_j in every slot of block j of every period.
  /// @throws hefl::invalid_argument if p does not have features + 1 entries.
  [[nodiscard]] std::vector<double> spread(const Eigen::VectorXd& p) const {
    if (static_cast<std::size_t>(p.size()) != features + 1)
      throw invalid_argument("model_packing::spread: " + std::to_string(p.size()) + " parameters for " +
                             std::to_string(features) + " features plus a bias");
    std::vector<double> v(slots, 0.0);
    for (std::size_t t = 0; t < slots; ++t) {
      const std::size_t j = (t % period()) / block;
      if (j <= features) v[t] = p(static_cast<Eigen::Index>(j));
    }
    return v;
  }
};

/// The packing for @p samples samples and @p features features on @p backend's slots, or nothing when
/// it does not fit (the period groups·block exceeds the slots, or the slot count is not a power of
/// two): then use encrypted_model_epoch_unit.
template <class B>
[[nodiscard]] std::optional<model_packing> pack_model(const B& backend, std::size_t samples, std::size_t features);

/// pack_model for a backend with @p slots slots (what a key holder knows before any backend exists).
[[nodiscard]] inline std::optional<model_packing> pack_model_for_slots(std::size_t slots, std::size_t samples,
                                                                       std::size_t features) {
  if (samples == 0 || features == 0 || slots == 0 || (slots & (slots - 1)) != 0) return std::nullopt;
  const std::size_t block = std::bit_ceil(samples), groups = std::bit_ceil(features + 1);
  if (block > slots || groups > slots / block) return std::nullopt;
  return model_packing{samples, features, block, groups, slots};
}

template <class B>
[[nodiscard]] std::optional<model_packing> pack_model(const B& backend, std::size_t samples, std::size_t features) {
  return pack_model_for_slots(static_cast<std::size_t>(backend.slot_count()), samples, features);
}

/// The steps packed_model_epoch and packed_gradient rotate by on @p packing: block, 2·block, ...,
/// period/2 (adding the blocks together) and 1, 2, ..., block/2 (summing within a block), that is
/// every power of two below the period, all to the left.
[[nodiscard]] inline std::vector<long long> packed_epoch_rotation_steps(const model_packing& packing) {
  std::vector<long long> steps;
  for (std::size_t step = 1; step < packing.period(); step *= 2) steps.push_back(static_cast<long long>(step));
  return steps;
}

/// A client's training set in the packed layout: one ciphertext for the features and the bias column,
/// one for the labels (y_i in slot i of every block).
template <class B>
struct packed_model_dataset {
  typename B::ciphertext_type data;
  typename B::ciphertext_type labels;
  model_packing packing;
};

namespace detail {
inline void check_packing(const model_packing& p, std::size_t samples, std::size_t features, std::size_t slots,
                          const char* who) {
  const bool power = p.block != 0 && (p.block & (p.block - 1)) == 0 && p.groups != 0 && (p.groups & (p.groups - 1)) == 0;
  if (!power || p.samples != samples || p.features != features || p.block < samples || p.groups < features + 1 ||
      p.slots != slots || p.period() > slots || slots % p.period() != 0)
    throw invalid_argument(std::string(who) + ": the packing (block " + std::to_string(p.block) + ", " +
                           std::to_string(p.groups) + " blocks, " + std::to_string(p.slots) +
                           " slots) does not fit " + std::to_string(samples) + " samples, " +
                           std::to_string(features) + " features and " + std::to_string(slots) +
                           " slots: make it with pack_model");
}
} // namespace detail

/// Encrypts @p d in the packed layout of @p packing (make it with pack_model(backend, d.size(),
/// d.features())).
/// @tparam B anything that encrypts: a backend or a client role (he::ckks_client).
/// @throws hefl::invalid_argument if d is invalid or empty, or the packing does not fit it; whatever
///         the backend's encrypt throws.
template <class B>
[[nodiscard]] packed_model_dataset<B> encrypt_packed_dataset(B& backend, const data::dataset& d,
                                                             const model_packing& packing) {
  d.validate();
  if (d.empty() || d.features() == 0) throw invalid_argument("encrypt_packed_dataset: the dataset is empty");
  detail::check_packing(packing, d.size(), d.features(), static_cast<std::size_t>(backend.slot_count()),
                        "encrypt_packed_dataset");
  std::vector<double> x(packing.slots, 0.0), y(packing.slots, 0.0);
  const std::size_t n = d.features();
  for (std::size_t t = 0; t < packing.slots; ++t) {
    const std::size_t i = t % packing.block, j = (t % packing.period()) / packing.block;
    if (i >= d.size()) continue;
    const auto row = static_cast<Eigen::Index>(i);
    if (j < n) x[t] = d.x(row, static_cast<Eigen::Index>(j));
    else if (j == n) x[t] = 1.0;
    y[t] = d.y(row);
  }
  return {backend.encrypt(std::span<const double>(x)), backend.encrypt(std::span<const double>(y)), packing};
}

/// Encrypts the parameters @p p (already in unit coordinates, fl::to_unit_parameters) in the layout
/// of @p packing with @p encryptor (the key holder's public key).
/// @throws hefl::invalid_argument as model_packing::spread; whatever the encryptor throws.
template <class E>
[[nodiscard]] auto encrypt_packed_parameters(E& encryptor, const model_packing& packing, const Eigen::VectorXd& p) {
  const std::vector<double> v = packing.spread(p);
  return encryptor.encrypt(std::span<const double>(v));
}

/// Levels packed_model_epoch consumes: encrypted_gradient_depth(sigmoid) (θ·x, the sigmoid, e·x), as
/// encrypted_model_epoch_unit.
template <class Sigmoid>
[[nodiscard]] int packed_model_epoch_depth(const Sigmoid& sigmoid) {
  return encrypted_gradient_depth(sigmoid);
}

/// One epoch of gradient descent on encrypted data and encrypted parameters in the packed layout:
/// encrypted_model_epoch_unit's computation (c = lr/m, error a·c·p(t) − a·c·y, φ_j ← (1 − lr·l2)·φ_j −
/// Σ_i e_i·x_ij, φ_b ← φ_b − Σ_i e_i) with log2(groups) + log2(block) rotations. The result holds
/// parameter j's new value in slot j·block (model_packing::parameter_slots); the other slots hold
/// partial sums, so the key holder reads those slots and encrypts the next parameters afresh
/// (encrypt_packed_parameters) before the next epoch.
/// @tparam B an he::arithmetic_evaluator with rotate and mixed levels.
/// @tparam Sigmoid an approx::polynomial_sigmoid_policy or a fl::sigmoid_plan.
/// @throws hefl::depth_exhausted before any homomorphic operation if the data, labels or parameters
///         have fewer than packed_model_epoch_depth(sigmoid) levels left.
/// @throws hefl::invalid_argument if the options are invalid or the packing is inconsistent with the
///         backend; whatever the backend throws otherwise.
template <class B, class Sigmoid>
[[nodiscard]] typename B::ciphertext_type packed_model_epoch(const B& backend, const packed_model_dataset<B>& data,
                                                             const typename B::ciphertext_type& params,
                                                             const model::train_options& options,
                                                             const Sigmoid& sigmoid_policy) {
  static_assert(detail::check_encrypted_model_epoch<B, Sigmoid>());
  static_assert(he::has_rotate<B>, "hefl: packed_model_epoch needs `rotate(c, steps)`: see docs/backends.md");
  using ciphertext = typename B::ciphertext_type;
  const char* who = "packed_model_epoch";
  detail::check_options(options, who);
  const model_packing& pk = data.packing;
  detail::check_packing(pk, pk.samples, pk.features, static_cast<std::size_t>(backend.slot_count()), who);
  const sigmoid_plan sigmoid = make_sigmoid_plan(sigmoid_policy);
  const int required = 2 + sigmoid.depth();
  const int available = std::min({static_cast<int>(backend.level(data.data)), static_cast<int>(backend.level(data.labels)),
                                  static_cast<int>(backend.level(params))});
  if (available < required) throw depth_exhausted(detail::depth_message(who, available, required, 0, sigmoid));

  const double a = sigmoid.scale();
  const double c = a * options.learning_rate / static_cast<double>(pk.samples);
  // t = Σ_j φ_j·x_ij + φ_b (+ s) in every block: one product, then the blocks added together.
  ciphertext z = backend.multiply(params, data.data);
  for (std::size_t step = pk.block; step < pk.period(); step *= 2)
    backend.add_inplace(z, backend.rotate(z, static_cast<int>(step)));
  if (sigmoid.shift() != 0.0) z = backend.add_plain(z, std::vector<double>(pk.slots, sigmoid.shift()));
  // e = a·c·(p(t) − y); the padded samples have x = 0 and a zero bias column, so they add nothing.
  const ciphertext error =
      backend.sub(sigmoid.scaled_plan(c).evaluate(backend, z), backend.multiply_scalar(data.labels, c));
  ciphertext sums = backend.multiply(error, data.data);
  for (std::size_t step = 1; step < pk.block; step *= 2)
    backend.add_inplace(sums, backend.rotate(sums, static_cast<int>(step)));
  // φ_j·(1 − lr·l2) for the weights, φ_b unchanged, minus the sums.
  const double decay = 1.0 - options.learning_rate * options.l2;
  Eigen::VectorXd factors = Eigen::VectorXd::Constant(static_cast<Eigen::Index>(pk.features + 1), decay);
  factors(static_cast<Eigen::Index>(pk.features)) = 1.0;
  const std::vector<double> spread = pk.spread(factors);
  return backend.sub(backend.multiply_plain(params, spread), sums);
}

/// The gradient sums of encrypted_gradient on data in the packed layout, with public weights (the
/// FL-FHE mode): t = Σ_j (a·w_j)·x_ij + a·b (+ s) by one plaintext product and log2(groups)
/// rotations, e = p(t) − y, then one product by the data and log2(block) rotations: sum j
/// (Σ_i e_i·x_ij for j < n, Σ_i e_i for j = n) lands in slot j·block (model_packing::parameter_slots).
/// Two products and about log2(period) rotations, whatever the number of features.
/// @tparam B an he::arithmetic_evaluator with rotate.
/// @tparam Sigmoid an approx::polynomial_sigmoid_policy or a fl::sigmoid_plan.
/// @throws hefl::depth_exhausted before any homomorphic operation if the data or labels have fewer
///         than encrypted_gradient_depth(sigmoid) levels left.
/// @throws hefl::invalid_argument if weights has the wrong size, a weight or the bias is not finite,
///         or the packing is inconsistent with the backend; whatever the backend throws otherwise.
template <class B, class Sigmoid>
[[nodiscard]] typename B::ciphertext_type packed_gradient(const B& backend, const packed_model_dataset<B>& data,
                                                          const Eigen::VectorXd& weights, double bias,
                                                          const Sigmoid& sigmoid_policy) {
  static_assert(detail::check_encrypted_training_backend<B>());
  static_assert(detail::check_encrypted_sigmoid<Sigmoid>());
  static_assert(he::has_rotate<B>, "hefl: packed_gradient needs `rotate(c, steps)`: see docs/backends.md");
  using ciphertext = typename B::ciphertext_type;
  const char* who = "packed_gradient";
  const model_packing& pk = data.packing;
  detail::check_packing(pk, pk.samples, pk.features, static_cast<std::size_t>(backend.slot_count()), who);
  if (static_cast<std::size_t>(weights.size()) != pk.features)
    throw invalid_argument(std::string(who) + ": " + std::to_string(weights.size()) + " weights for " +
                           std::to_string(pk.features) + " encrypted features");
  if (!weights.allFinite() || !std::isfinite(bias))
    throw invalid_argument(std::string(who) + ": a weight or the bias is not finite");
  const sigmoid_plan sigmoid = make_sigmoid_plan(sigmoid_policy);
  const int required = 2 + sigmoid.depth();
  const int available = std::min(static_cast<int>(backend.level(data.data)), static_cast<int>(backend.level(data.labels)));
  if (available < required) throw depth_exhausted(detail::depth_message(who, available, required, 0, sigmoid));

  Eigen::VectorXd phi(static_cast<Eigen::Index>(pk.features + 1));
  phi << weights, bias;
  const std::vector<double> spread = pk.spread(sigmoid.scale() * phi);
  ciphertext t = backend.multiply_plain(data.data, spread);
  for (std::size_t step = pk.block; step < pk.period(); step *= 2)
    backend.add_inplace(t, backend.rotate(t, static_cast<int>(step)));
  if (sigmoid.shift() != 0.0) t = backend.add_plain(t, std::vector<double>(pk.slots, sigmoid.shift()));
  const ciphertext error = backend.sub(sigmoid.plan().evaluate(backend, t), data.labels);
  ciphertext sums = backend.multiply(error, data.data);  // the padded samples have x = 0, bias column 0
  for (std::size_t step = 1; step < pk.block; step *= 2)
    backend.add_inplace(sums, backend.rotate(sums, static_cast<int>(step)));
  return sums;
}

} // namespace hefl::fl
