#pragma once
/// @file
/// he::plain_backend: the "no encryption" backend. Slots are plain doubles, but levels are tracked
/// the way CKKS tracks them (every multiplication consumes one), so a computation that would run
/// out of depth under encryption fails here first, before any key is generated (Lattigo's
/// simulating-evaluator habit).

#include <hefl/core/error.hpp>
#include <hefl/core/serialization.hpp>
#include <hefl/he/backend.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace hefl::he {

/// A "ciphertext" of the plain backend: the slot values in clear and the levels left.
struct plain_ciphertext {
  std::vector<double> slots;
  int level = 0;
};

/// Plaintext backend satisfying he::arithmetic_backend, with CKKS-like depth accounting.
class plain_backend {
public:
  using ciphertext_type = plain_ciphertext;
  static constexpr bool is_encrypted = false;
  /// Integer scalars cost no level, as in CKKS (see multiply_scalar).
  static constexpr bool free_integer_scalars = true;
  /// Binary operations take the lower of the operands' levels, as CKKS does.
  static constexpr bool mixed_levels = true;
  /// Depth used when the caller does not ask for a limit.
  static constexpr int unlimited_depth = 1 << 20;

  /// @param slot_count number of slots per ciphertext (CKKS: N/2).
  /// @param max_depth multiplicative levels of a fresh ciphertext (CKKS: primes in the chain minus one).
  /// @throws hefl::invalid_argument if slot_count is 0 or max_depth is negative.
  explicit plain_backend(std::size_t slot_count = 4096, int max_depth = unlimited_depth)
      : m_slot_count(slot_count), m_max_depth(max_depth) {
    if (slot_count == 0) throw invalid_argument("plain_backend: slot_count must be positive");
    if (max_depth < 0) throw invalid_argument("plain_backend: max_depth must be >= 0, got " + std::to_string(max_depth));
  }

  [[nodiscard]] std::size_t slot_count() const noexcept { return m_slot_count; }
  [[nodiscard]] int max_depth() const noexcept { return m_max_depth; }
  [[nodiscard]] int level(const plain_ciphertext& c) const noexcept { return c.level; }

  /// Packs @p values into the first slots (the rest are zero), at full level.
  /// @throws hefl::invalid_argument if values has more entries than slot_count().
  [[nodiscard]] plain_ciphertext encrypt(std::span<const double> values) const {
    if (values.size() > m_slot_count)
      throw invalid_argument("plain_backend::encrypt: " + std::to_string(values.size()) + " values exceed " +
                             std::to_string(m_slot_count) + " slots");
    plain_ciphertext c{std::vector<double>(m_slot_count, 0.0), m_max_depth};
    std::copy(values.begin(), values.end(), c.slots.begin());
    return c;
  }

  /// All slot_count() slot values.
  [[nodiscard]] std::vector<double> decrypt(const plain_ciphertext& c) const { return c.slots; }

  [[nodiscard]] plain_ciphertext add(const plain_ciphertext& a, const plain_ciphertext& b) const {
    plain_ciphertext r = a;
    add_inplace(r, b);
    return r;
  }
  /// @throws hefl::invalid_argument if the ciphertexts have different slot counts.
  void add_inplace(plain_ciphertext& a, const plain_ciphertext& b) const {
    check_same_size(a, b, "add");
    for (std::size_t i = 0; i < a.slots.size(); ++i) a.slots[i] += b.slots[i];
    a.level = std::min(a.level, b.level);
  }
  [[nodiscard]] plain_ciphertext sub(const plain_ciphertext& a, const plain_ciphertext& b) const {
    check_same_size(a, b, "sub");
    plain_ciphertext r = a;
    for (std::size_t i = 0; i < r.slots.size(); ++i) r.slots[i] -= b.slots[i];
    r.level = std::min(a.level, b.level);
    return r;
  }
  /// Adds a plaintext vector (shorter vectors are zero-padded); consumes no level.
  [[nodiscard]] plain_ciphertext add_plain(const plain_ciphertext& a, std::span<const double> values) const {
    check_plain_size(a, values, "add_plain");
    plain_ciphertext r = a;
    for (std::size_t i = 0; i < values.size(); ++i) r.slots[i] += values[i];
    return r;
  }
  /// Multiplies slot-wise by a plaintext vector (missing entries count as zero); consumes one level.
  /// @throws hefl::depth_exhausted if no level is left.
  [[nodiscard]] plain_ciphertext multiply_plain(const plain_ciphertext& a, std::span<const double> values) const {
    check_plain_size(a, values, "multiply_plain");
    plain_ciphertext r{std::vector<double>(a.slots.size(), 0.0), consume_level(a.level, "multiply_plain")};
    for (std::size_t i = 0; i < values.size(); ++i) r.slots[i] = a.slots[i] * values[i];
    return r;
  }
  /// Multiplies every slot by @p s. Mirrors CKKS: an integer s (|s| <= 2^53) costs no level, any
  /// other s consumes one.
  /// @throws hefl::depth_exhausted if s is not an integer and no level is left.
  [[nodiscard]] plain_ciphertext multiply_scalar(const plain_ciphertext& a, double s) const {
    const bool integer = std::isfinite(s) && s == std::nearbyint(s) && std::fabs(s) <= 0x1p53;
    plain_ciphertext r{a.slots, integer ? a.level : consume_level(a.level, "multiply_scalar")};
    for (double& v : r.slots) v *= s;
    return r;
  }
  /// Slot-wise product, relinearized and rescaled in CKKS terms; consumes one level.
  /// @throws hefl::depth_exhausted if no level is left.
  [[nodiscard]] plain_ciphertext multiply(const plain_ciphertext& a, const plain_ciphertext& b) const {
    check_same_size(a, b, "multiply");
    plain_ciphertext r{a.slots, consume_level(std::min(a.level, b.level), "multiply")};
    for (std::size_t i = 0; i < r.slots.size(); ++i) r.slots[i] *= b.slots[i];
    return r;
  }
  /// From now on, rotate() and sum_slots() accept only what @p keys lists, as a CKKS server with
  /// exactly those Galois keys would (stricter: a step is never composed from others), so a key set
  /// missing a step shows here, before any key is generated. Unrestricted until called.
  void set_rotation_keys(rotation_key_set keys) {
    for (long long& s : keys.steps) s = normalized(s);
    m_rotation_keys = std::move(keys);
  }
  /// Whether rotate(c, steps) is allowed: always, unless set_rotation_keys restricted it.
  [[nodiscard]] bool can_rotate(long long steps) const {
    const long long k = normalized(steps);
    return !m_rotation_keys || k == 0 ||
           std::find(m_rotation_keys->steps.begin(), m_rotation_keys->steps.end(), k) != m_rotation_keys->steps.end();
  }
  /// Whether sum_slots is allowed: always, unless set_rotation_keys restricted it without sum_slots.
  [[nodiscard]] bool can_sum_slots() const { return !m_rotation_keys || m_rotation_keys->sum_slots; }

  /// Cyclic left rotation by @p steps (negative rotates right), as CKKS rotations do.
  /// @throws hefl::invalid_argument if set_rotation_keys left no key for the step (the message names it).
  [[nodiscard]] plain_ciphertext rotate(const plain_ciphertext& a, int steps) const {
    if (!can_rotate(steps))
      throw invalid_argument("plain_backend::rotate: no rotation key for step " + std::to_string(steps) +
                             " (set_rotation_keys lists " + std::to_string(m_rotation_keys->steps.size()) + " steps)");
    plain_ciphertext r{std::vector<double>(a.slots.size()), a.level};
    const auto n = static_cast<long long>(a.slots.size());
    const long long k = ((steps % n) + n) % n;
    for (long long i = 0; i < n; ++i) r.slots[static_cast<std::size_t>(i)] = a.slots[static_cast<std::size_t>((i + k) % n)];
    return r;
  }
  /// Every slot receives the sum of all slots (what log2(slots) rotations and additions give in CKKS).
  /// @throws hefl::invalid_argument if set_rotation_keys was given a set without sum_slots.
  [[nodiscard]] plain_ciphertext sum_slots(const plain_ciphertext& a) const {
    if (!can_sum_slots())
      throw invalid_argument("plain_backend::sum_slots: the rotation keys (set_rotation_keys) do not include sum_slots");
    double total = 0.0;
    for (double v : a.slots) total += v;
    return plain_ciphertext{std::vector<double>(a.slots.size(), total), a.level};
  }

  /// Format: "HEFLPLN1", int32 level, uint64 count, count doubles.
  [[nodiscard]] std::vector<std::uint8_t> serialize(const plain_ciphertext& c) const {
    serial::writer w;
    w.put_bytes(magic);
    w.put<std::int32_t>(c.level);
    w.put<std::uint64_t>(c.slots.size());
    w.put_span<double>(c.slots);
    return std::move(w).take();
  }
  /// @throws hefl::parse_error on a wrong magic, truncation, a slot count different from this
  ///         backend's, a level outside [0, max_depth] or trailing bytes.
  [[nodiscard]] plain_ciphertext deserialize(std::span<const std::uint8_t> bytes) const {
    serial::reader r(bytes);
    r.expect_magic(magic, "plain ciphertext");
    plain_ciphertext c;
    c.level = r.get<std::int32_t>("plain ciphertext level");
    if (c.level < 0 || c.level > m_max_depth)
      throw parse_error("plain ciphertext: level " + std::to_string(c.level) + " outside [0, " +
                        std::to_string(m_max_depth) + "]");
    const auto count = r.get<std::uint64_t>("plain ciphertext slot count");
    if (count != m_slot_count)
      throw parse_error("plain ciphertext: " + std::to_string(count) + " slots, this backend has " +
                        std::to_string(m_slot_count));
    c.slots = r.get_vector<double>(count, "plain ciphertext slots");
    r.expect_end("plain ciphertext");
    return c;
  }

private:
  static constexpr const char* magic = "HEFLPLN1";

  static int consume_level(int level, const char* op) {
    if (level < 1)
      throw depth_exhausted(std::string("plain_backend::") + op + ": level " + std::to_string(level) +
                            " < 1 required; the computation is deeper than the backend's depth budget");
    return level - 1;
  }
  static void check_same_size(const plain_ciphertext& a, const plain_ciphertext& b, const char* op) {
    if (a.slots.size() != b.slots.size())
      throw invalid_argument(std::string("plain_backend::") + op + ": slot counts differ (" +
                             std::to_string(a.slots.size()) + " vs " + std::to_string(b.slots.size()) + ")");
  }
  static void check_plain_size(const plain_ciphertext& a, std::span<const double> v, const char* op) {
    if (v.size() > a.slots.size())
      throw invalid_argument(std::string("plain_backend::") + op + ": " + std::to_string(v.size()) +
                             " plaintext values exceed " + std::to_string(a.slots.size()) + " slots");
  }

  [[nodiscard]] long long normalized(long long steps) const {
    const auto n = static_cast<long long>(m_slot_count);
    return ((steps % n) + n) % n;
  }

  std::size_t m_slot_count;
  int m_max_depth;
  std::optional<rotation_key_set> m_rotation_keys;
};

static_assert(arithmetic_backend<plain_backend> && has_rotation_key_query<plain_backend>);

} // namespace hefl::he
