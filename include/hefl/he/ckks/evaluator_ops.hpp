#pragma once
/// @file
/// Operations built on ckks::evaluator's public interface: powers (exponentiate), sums within
/// aligned segments of k slots (sum_segments) and the batched inner product over such segments,
/// plus the rotation steps the segment operations need (sum_segments_steps), so callers generate
/// only those Galois keys. Free functions: they use only the evaluator's public operations.

#include <hefl/core/error.hpp>
#include <hefl/he/ckks/evaluator.hpp>
#include <hefl/he/ckks/keys.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace hefl::he::ckks {

namespace detail {

inline void require_same_params(const evaluator& ev, std::uint64_t id, const char* op, const char* what) {
  if (id != ev.params().id())
    throw invalid_argument(std::string("ckks::") + op + ": the " + what + " belongs to other parameters (id " +
                           std::to_string(id) + ", expected " + std::to_string(ev.params().id()) + ")");
}

// k must be a power of two in [1, slot_count] (then it divides slot_count, itself a power of two).
inline void require_segment_size(std::size_t k, std::size_t slot_count, const char* op) {
  if (k == 0 || (k & (k - 1)) != 0 || k > slot_count)
    throw invalid_argument(std::string("ckks::") + op + ": the segment size must be a power of two in [1, " +
                           std::to_string(slot_count) + "] (the slot count), got " + std::to_string(k));
}

// Levels sum_segments consumes: one for the mask, except for k = 1 (nothing to sum) and
// k = slot_count (sum_slots, no mask).
[[nodiscard]] inline std::size_t segment_sum_depth(std::size_t k, std::size_t slot_count) noexcept {
  return (k == 1 || k == slot_count) ? 0 : 1;
}

} // namespace detail

/// The rotation steps sum_segments (and the segment inner_product) use for segments of @p k slots
/// out of @p slot_count: 1, 2, ..., k/2 and -1, -2, ..., -k/2 (none for k = 1), or
/// evaluator::sum_slots_steps(slot_count) when k = slot_count. Pass them to
/// key_generator::create_galois_keys to generate only these keys.
/// @throws hefl::invalid_argument if slot_count is not a power of two or k is not a power of two in
///         [1, slot_count].
[[nodiscard]] inline std::vector<long long> sum_segments_steps(std::size_t k, std::size_t slot_count) {
  if (slot_count == 0 || (slot_count & (slot_count - 1)) != 0)
    throw invalid_argument("ckks::sum_segments_steps: the slot count must be a power of two, got " +
                           std::to_string(slot_count));
  detail::require_segment_size(k, slot_count, "sum_segments_steps");
  if (k == slot_count) return evaluator::sum_slots_steps(slot_count);
  std::vector<long long> steps;
  for (long long s = 1; s < static_cast<long long>(k); s *= 2) steps.push_back(s);
  for (long long s = 1; s < static_cast<long long>(k); s *= 2) steps.push_back(-s);
  return steps;
}

/// a^k slot-wise by binary powering (square-and-multiply, Knuth TAOCP vol. 2 §4.6.3): the squares
/// a^(2^i) are multiplied together from the lowest set bit of k up, each product relinearized and
/// rescaled (multiply_relin_rescale), so the result is ceil(log2 k) levels below a. k = 1 returns a.
/// @throws hefl::invalid_argument if k is 0, a or rk belongs to other parameters, or a has 3 parts.
/// @throws hefl::depth_exhausted (before any work) if a's level is below ceil(log2 k); the message
///         names the levels needed and the levels a has.
[[nodiscard]] inline ciphertext exponentiate(const evaluator& ev, const ciphertext& a, std::uint64_t k,
                                             const relin_keys& rk) {
  detail::require_same_params(ev, a.parameters_id(), "exponentiate", "ciphertext");
  if (k == 0)
    throw invalid_argument("ckks::exponentiate: the exponent must be at least 1 (a^0 = 1 is a constant: encrypt "
                           "or add_scalar it instead)");
  if (a.size() != 2)
    throw invalid_argument("ckks::exponentiate: needs a 2-part ciphertext, got " + std::to_string(a.size()) +
                           " parts; relinearize it first");
  if (k == 1) return a;
  detail::require_same_params(ev, rk.parameters_id(), "exponentiate", "relinearization key");
  std::size_t depth = 0;
  while (depth < 64 && (std::uint64_t{1} << depth) < k) ++depth;
  if (depth > a.level())
    throw depth_exhausted("ckks::exponentiate: a^" + std::to_string(k) + " needs " + std::to_string(depth) +
                          " levels, the ciphertext has " + std::to_string(a.level()) +
                          " (use a longer prime chain or a higher-level ciphertext)");
  // Bit i set: multiply the running product (depth <= i) by a^(2^i) (depth i): depth i + 1.
  ciphertext square = a;
  ciphertext product = a;
  bool have_product = false;
  for (std::uint64_t rest = k;;) {
    if (rest & 1) {
      product = have_product ? ev.multiply_relin_rescale(product, square, rk) : square;
      have_product = true;
    }
    rest >>= 1;
    if (rest == 0) break;
    square = ev.square_relin_rescale(square, rk);
  }
  return product;
}

/// Every slot of each aligned segment of @p k slots (slots jk .. jk + k - 1) receives the sum of
/// that segment. Window sums by rotations 1, 2, ..., k/2 (Halevi, Shoup, "Algorithms in HElib",
/// CRYPTO 2014: rotate-and-add) leave segment j's sum in slot jk; a 0/1 mask keeps those slots
/// (multiply_plain_rescale: one level, scale s^2/q_l) and rotations by -1, -2, ..., -k/2 copy each
/// sum over its segment: 2·log2(k) rotations, each round depending on the previous one (nothing to
/// hoist). k = N/2 is sum_slots (no level consumed); k = 1 returns a.
/// @throws hefl::invalid_argument if k is not a power of two in [1, N/2], a or gk belongs to other
///         parameters, a has 3 parts, or gk lacks a key of sum_segments_steps(k, N/2) (the message
///         names the step); checked before any work.
/// @throws hefl::depth_exhausted (before any work) if 1 < k < N/2 and a is at level 0.
[[nodiscard]] inline ciphertext sum_segments(const evaluator& ev, const ciphertext& a, std::size_t k,
                                             const galois_keys& gk) {
  const std::size_t slots = ev.slot_count();
  detail::require_same_params(ev, a.parameters_id(), "sum_segments", "ciphertext");
  detail::require_segment_size(k, slots, "sum_segments");
  if (a.size() != 2)
    throw invalid_argument("ckks::sum_segments: needs a 2-part ciphertext, got " + std::to_string(a.size()) +
                           " parts; relinearize it first");
  if (k == 1) return a;
  detail::require_same_params(ev, gk.parameters_id(), "sum_segments", "Galois key set");
  if (k == slots) return ev.sum_slots(a, gk);
  for (const long long step : sum_segments_steps(k, slots)) {
    const std::uint64_t g = galois_element_for_step(step, ev.params().poly_degree());
    if (!gk.has(g))
      throw invalid_argument("ckks::sum_segments: no Galois key for rotation step " + std::to_string(step) +
                             " (Galois element " + std::to_string(g) + "); generate the keys of sum_segments_steps(" +
                             std::to_string(k) + ", " + std::to_string(slots) + ")");
  }
  if (a.level() == 0)
    throw depth_exhausted("ckks::sum_segments: segments of " + std::to_string(k) +
                          " slots need one level for the mask, the ciphertext is at level 0");
  ciphertext acc = a;
  for (long long s = 1; s < static_cast<long long>(k); s *= 2) ev.add_inplace(acc, ev.rotate(acc, s, gk));
  std::vector<double> mask(slots, 0.0);
  for (std::size_t j = 0; j < slots; j += k) mask[j] = 1.0;
  acc = ev.multiply_plain_rescale(acc, mask);
  for (long long s = 1; s < static_cast<long long>(k); s *= 2) ev.add_inplace(acc, ev.rotate(acc, -s, gk));
  return acc;
}

/// The batched inner product: every slot of each aligned segment of @p k slots receives
/// sum_{i in segment} a_i·b_i, i.e. sum_segments(multiply_relin_rescale(a, b, rk), k, gk).
/// Consumes one level, plus one for the mask when 1 < k < N/2.
/// @throws hefl::invalid_argument as multiply_relin_rescale and sum_segments (for 1 < k < N/2 the
///         keys are checked before any work; for k = N/2, sum_slots checks them after the product).
/// @throws hefl::depth_exhausted (before any work) if the lower operand's level is below the levels
///         needed; the message names both.
[[nodiscard]] inline ciphertext inner_product(const evaluator& ev, const ciphertext& a, const ciphertext& b,
                                              std::size_t k, const relin_keys& rk, const galois_keys& gk) {
  detail::require_same_params(ev, a.parameters_id(), "inner_product", "ciphertext");
  detail::require_same_params(ev, b.parameters_id(), "inner_product", "ciphertext");
  detail::require_same_params(ev, rk.parameters_id(), "inner_product", "relinearization key");
  detail::require_same_params(ev, gk.parameters_id(), "inner_product", "Galois key set");
  detail::require_segment_size(k, ev.slot_count(), "inner_product");
  const std::size_t needed = 1 + detail::segment_sum_depth(k, ev.slot_count());
  const std::size_t lowest = std::min(a.level(), b.level());
  if (lowest < needed)
    throw depth_exhausted("ckks::inner_product: segments of " + std::to_string(k) + " slots need " +
                          std::to_string(needed) + " levels, the lower operand has " + std::to_string(lowest));
  if (k != 1 && k != ev.slot_count())
    for (const long long step : sum_segments_steps(k, ev.slot_count()))
      if (!gk.has(galois_element_for_step(step, ev.params().poly_degree())))
        throw invalid_argument("ckks::inner_product: no Galois key for rotation step " + std::to_string(step) +
                               "; generate the keys of sum_segments_steps(" + std::to_string(k) + ", " +
                               std::to_string(ev.slot_count()) + ")");
  return sum_segments(ev, ev.multiply_relin_rescale(a, b, rk), k, gk);
}

} // namespace hefl::he::ckks
