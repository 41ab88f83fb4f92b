#pragma once
/// @file
/// Which rotations fl::federated_trainer's encrypted epochs perform, so that the key holder generates
/// exactly those Galois keys (he::ckks_backend_options::exact_rotations) instead of every ±2^i.
/// Galois keys dominate the evaluation keys (one key-switching key per step), and the packed
/// epochs rotate only left, by the powers of two below their period: half the default set.
///
/// The trainer picks a layout per client (fit()): the packed layout (fl/packed_model_epoch.hpp) when
/// the client's samples and features fit in the slots, otherwise one ciphertext per feature, whose
/// sums the encrypted-data mode packs with encrypted_gradient_packed when its blocks fit and both
/// modes otherwise take with he::sum_slots. encrypted_layout_for makes the same choice from the
/// sizes alone, and rotation_steps_for collects the steps of every client's layout.

#include <hefl/core/error.hpp>
#include <hefl/data/dataset.hpp>
#include <hefl/fl/encrypted_gradient.hpp>
#include <hefl/fl/packed_model_epoch.hpp>
#include <hefl/fl/policies.hpp>
#include <hefl/he/backend.hpp>

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace hefl::fl {

/// How fl::federated_trainer lays out one client's data on a backend that rotates.
enum class encrypted_layout {
  plaintext,    ///< plaintext training: nothing encrypted, no rotation
  packed,       ///< data (and weights) one ciphertext each: packed_gradient, packed_model_epoch
  packed_sums,  ///< one ciphertext per feature, the n + 1 sums packed by encrypted_gradient_packed
  columns,      ///< one ciphertext per feature (or parameter), each sum by he::sum_slots
};

/// A short name of @p layout for messages.
[[nodiscard]] inline const char* layout_name(encrypted_layout layout) noexcept {
  switch (layout) {
  case encrypted_layout::plaintext: return "plaintext";
  case encrypted_layout::packed: return "packed";
  case encrypted_layout::packed_sums: return "columns with packed sums";
  case encrypted_layout::columns: return "columns with sum_slots";
  }
  return "?";
}

/// The layout fl::federated_trainer with Compute policy @p C uses for a client of @p samples
/// samples and @p features features on a backend with @p slots slots that rotates; with
/// @p threshold_keys (he::ckks_threshold_backend) the encrypted-weights mode stays in columns.
/// @throws hefl::invalid_argument for an encrypting policy with 0 samples or 0 features.
template <compute_policy C>
[[nodiscard]] encrypted_layout encrypted_layout_for(std::size_t slots, std::size_t samples, std::size_t features,
                                                    bool threshold_keys = false) {
  if constexpr (!C::encrypts_data) {
    return encrypted_layout::plaintext;
  } else {
    if (samples == 0 || features == 0)
      throw invalid_argument("fl::encrypted_layout_for: a client needs samples and features, got " +
                             std::to_string(samples) + " samples and " + std::to_string(features) + " features");
    const bool can_pack = !(threshold_keys && C::encrypts_model);
    if (can_pack && pack_model_for_slots(slots, samples, features)) return encrypted_layout::packed;
    if (!C::encrypts_model && packed_gradient_block_for_slots(slots, samples, features) != 0)
      return encrypted_layout::packed_sums;
    return encrypted_layout::columns;
  }
}

/// The rotations one client's epochs perform in @p layout (see encrypted_layout_for).
/// @throws hefl::invalid_argument if the layout does not fit the sizes.
[[nodiscard]] inline he::rotation_key_set rotation_steps_for_layout(encrypted_layout layout, std::size_t slots,
                                                                    std::size_t samples, std::size_t features) {
  he::rotation_key_set keys;
  switch (layout) {
  case encrypted_layout::plaintext: break;
  case encrypted_layout::packed: {
    const auto packing = pack_model_for_slots(slots, samples, features);
    if (!packing)
      throw invalid_argument("fl::rotation_steps_for_layout: " + std::to_string(samples) + " samples and " +
                             std::to_string(features) + " features do not fit the packed layout in " +
                             std::to_string(slots) + " slots");
    for (const long long s : packed_epoch_rotation_steps(*packing)) keys.add_step(s);
    break;
  }
  case encrypted_layout::packed_sums: {
    const std::size_t block = packed_gradient_block_for_slots(slots, samples, features);
    if (block == 0)
      throw invalid_argument("fl::rotation_steps_for_layout: " + std::to_string(samples) + " samples and " +
                             std::to_string(features) + " features do not fit packed sums in " +
                             std::to_string(slots) + " slots");
    for (const long long s : packed_gradient_rotation_steps(features, block)) keys.add_step(s);
    break;
  }
  case encrypted_layout::columns: keys.sum_slots = true; break;
  }
  return keys;
}

/// Exactly the rotations fl::federated_trainer<..., C, ...>::fit performs on a backend with @p slots
/// slots (a rotating one, such as he::ckks_backend) for clients of @p samples_per_client samples
/// (clients with 0 samples sit out) and @p features features: the union over the clients of each
/// layout's steps (encrypted_layout_for). Pass it as he::ckks_backend_options::exact_rotations, and
/// the key holder generates only these keys. Plaintext training needs none. The trainer checks the
/// server's keys against this set before any work (he::has_rotation_key_query).
/// @tparam C fl::plaintext_training, fl::encrypted_data_training or fl::encrypted_model_training.
/// @throws hefl::invalid_argument for an encrypting policy with 0 features.
template <compute_policy C>
[[nodiscard]] he::rotation_key_set rotation_steps_for(std::size_t slots, std::size_t features,
                                                      std::span<const std::size_t> samples_per_client,
                                                      bool threshold_keys = false) {
  he::rotation_key_set keys;
  if constexpr (C::encrypts_data) {
    if (features == 0) throw invalid_argument("fl::rotation_steps_for: features must be >= 1");
    for (const std::size_t m : samples_per_client) {
      if (m == 0) continue;
      keys.merge(rotation_steps_for_layout(encrypted_layout_for<C>(slots, m, features, threshold_keys), slots, m,
                                           features));
    }
  }
  return keys;
}

/// rotation_steps_for of the clients' data sets, as passed to federated_trainer::fit.
/// @throws hefl::invalid_argument for an encrypting policy and clients of different feature counts
///         or none at all.
template <compute_policy C>
[[nodiscard]] he::rotation_key_set rotation_steps_for(std::size_t slots, const std::vector<data::dataset>& clients,
                                                      bool threshold_keys = false) {
  std::vector<std::size_t> samples;
  std::size_t features = 0;
  for (const auto& c : clients) {
    samples.push_back(c.size());
    if (c.empty()) continue;
    if (features != 0 && c.features() != features)
      throw invalid_argument("fl::rotation_steps_for: clients with " + std::to_string(features) + " and " +
                             std::to_string(c.features()) + " features");
    features = c.features();
  }
  if constexpr (C::encrypts_data) {
    if (features == 0) throw invalid_argument("fl::rotation_steps_for: every client data set is empty");
  }
  return rotation_steps_for<C>(slots, features, std::span<const std::size_t>(samples), threshold_keys);
}

} // namespace hefl::fl
