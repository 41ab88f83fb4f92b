#pragma once
/// @file
/// The encryption-backend policy. A backend packs a vector of doubles into "slots" of a ciphertext
/// and computes on ciphertexts. hefl's trainer is written against these concepts, so the same code
/// runs plaintext FL (he::plain_backend), CKKS FL+FHE (he::ckks_backend) and any backend a
/// downstream project brings. See docs/backends.md.

#include <hefl/core/error.hpp>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace hefl::he {

/// Enough to aggregate encrypted model updates: encrypt, decrypt, add, multiply by a public scalar,
/// serialize. Paillier-style backends stop here.
template <class B>
concept additive_backend = requires(B& b, const typename B::ciphertext_type& c, typename B::ciphertext_type& m,
                                    std::span<const double> values, double scalar,
                                    std::span<const std::uint8_t> bytes) {
  typename B::ciphertext_type;
  { std::as_const(b).slot_count() } -> std::convertible_to<std::size_t>;
  { b.encrypt(values) } -> std::same_as<typename B::ciphertext_type>;
  { std::as_const(b).decrypt(c) } -> std::same_as<std::vector<double>>;
  { std::as_const(b).add(c, c) } -> std::same_as<typename B::ciphertext_type>;
  { std::as_const(b).add_inplace(m, c) };
  { std::as_const(b).multiply_scalar(c, scalar) } -> std::same_as<typename B::ciphertext_type>;
  { std::as_const(b).serialize(c) } -> std::same_as<std::vector<std::uint8_t>>;
  { std::as_const(b).deserialize(bytes) } -> std::same_as<typename B::ciphertext_type>;
};

/// What a party that computes on ciphertexts without any key material beyond evaluation keys needs
/// (the server role; see ckks_server): add, multiply by a public scalar, subtract, add and multiply
/// plaintext vectors, multiply ciphertexts (relinearized and rescaled), report levels, serialize.
template <class S>
concept arithmetic_evaluator = requires(const S& s, const typename S::ciphertext_type& c, typename S::ciphertext_type& m,
                                        std::span<const double> values, double scalar,
                                        std::span<const std::uint8_t> bytes) {
  typename S::ciphertext_type;
  { s.slot_count() } -> std::convertible_to<std::size_t>;
  { s.add(c, c) } -> std::same_as<typename S::ciphertext_type>;
  { s.add_inplace(m, c) };
  { s.multiply_scalar(c, scalar) } -> std::same_as<typename S::ciphertext_type>;
  { s.sub(c, c) } -> std::same_as<typename S::ciphertext_type>;
  { s.add_plain(c, values) } -> std::same_as<typename S::ciphertext_type>;
  { s.multiply_plain(c, values) } -> std::same_as<typename S::ciphertext_type>;
  { s.multiply(c, c) } -> std::same_as<typename S::ciphertext_type>;
  { s.level(c) } -> std::convertible_to<int>;
  { s.max_depth() } -> std::convertible_to<int>;
  { s.serialize(c) } -> std::same_as<std::vector<std::uint8_t>>;
  { s.deserialize(bytes) } -> std::same_as<typename S::ciphertext_type>;
};

/// Enough to train on encrypted data: an additive_backend that is also an arithmetic_evaluator
/// (subtract, add/multiply by plaintext vectors, multiply ciphertexts, report the multiplicative
/// levels left so that a polynomial's depth can be checked before evaluating it). Summing the slots
/// is a detected capability (native `sum_slots`, or composed from `rotate`), not a requirement: see
/// has_native_sum_slots, has_rotate and he::sum_slots below.
template <class B>
concept arithmetic_backend = additive_backend<B> && arithmetic_evaluator<B>;

/// Optional capability: cyclic slot rotation `rotate(c, steps)` (negative steps rotate right).
template <class B>
concept has_rotate = requires(const B& b, const typename B::ciphertext_type& c, int steps) {
  { b.rotate(c, steps) } -> std::same_as<typename B::ciphertext_type>;
};

/// Optional capability: a native `sum_slots(c)` leaving the sum of all slots in every slot.
template <class B>
concept has_native_sum_slots = requires(const B& b, const typename B::ciphertext_type& c) {
  { b.sum_slots(c) } -> std::same_as<typename B::ciphertext_type>;
};

/// Which rotations a computation performs, so that a key holder can generate exactly their keys
/// (fl::rotation_steps_for lists them for the trainer's encrypted epochs; he::ckks_backend_options::
/// exact_rotations and plain_backend::set_rotation_keys take it).
struct rotation_key_set {
  /// The steps passed to `rotate` (negative: right), each once, in increasing order.
  std::vector<long long> steps;
  /// Whether the computation calls he::sum_slots: the backend's own keys for it (CKKS:
  /// ckks::evaluator::sum_slots_steps), or for a backend without a native sum_slots the rotations
  /// 1, 2, ..., slots/2 of he::sum_slots' fallback.
  bool sum_slots = false;

  /// Adds @p step to steps unless it is there already, keeping them sorted.
  void add_step(long long step) {
    const auto at = std::lower_bound(steps.begin(), steps.end(), step);
    if (at == steps.end() || *at != step) steps.insert(at, step);
  }
  /// This set and @p other together.
  void merge(const rotation_key_set& other) {
    for (const long long s : other.steps) add_step(s);
    sum_slots = sum_slots || other.sum_slots;
  }
  friend bool operator==(const rotation_key_set&, const rotation_key_set&) = default;
};

/// Optional capability: the compute party says whether its keys cover a rotation (`can_rotate(steps)`)
/// and he::sum_slots (`can_sum_slots()`), so a computation can refuse a missing key before any work.
template <class S>
concept has_rotation_key_query = requires(const S& s, long long steps) {
  { s.can_rotate(steps) } -> std::convertible_to<bool>;
  { s.can_sum_slots() } -> std::convertible_to<bool>;
};

/// Every slot of the result holds the sum of all slots of @p c: the backend's own sum_slots if it has
/// one, else log2(slot_count()) rotations and additions (slot_count() must then be a power of two).
/// @throws hefl::invalid_argument if the rotation fallback meets a slot count that is not a power of two.
template <class B>
  requires(has_native_sum_slots<B> || has_rotate<B>)
[[nodiscard]] typename B::ciphertext_type sum_slots(const B& b, const typename B::ciphertext_type& c) {
  if constexpr (has_native_sum_slots<B>) {
    return b.sum_slots(c);
  } else {
    const std::size_t n = static_cast<std::size_t>(b.slot_count());
    if (n == 0 || (n & (n - 1)) != 0)
      throw invalid_argument("he::sum_slots: composing the sum from rotations needs a power-of-two slot count, got " +
                             std::to_string(n));
    typename B::ciphertext_type acc = c;
    for (std::size_t step = 1; step < n; step *= 2) b.add_inplace(acc, b.rotate(acc, static_cast<int>(step)));
    return acc;
  }
}

/// Static facts about a backend (Eigen's NumTraits habit). Specialise it for a backend that cannot
/// carry the static members itself. `is_encrypted` defaults to true, the safe assumption: an
/// unknown backend is treated as hiding its data, so plaintext-only rules are refused with it.
///
/// - `free_integer_scalars`: multiply_scalar by an integer costs no level and no precision (CKKS,
///   the plain backend, Paillier's exponentiation). Read from `B::free_integer_scalars`; default false.
/// - `mixed_levels`: binary operations accept operands at different levels (the lower level wins).
///   Read from `B::mixed_levels`; default true, the behaviour of CKKS and the plain backend. A
///   backend that needs matching levels sets it to false and cannot train with encrypted weights.
template <class B>
struct backend_traits {
  static constexpr bool is_encrypted = [] {
    if constexpr (requires { B::is_encrypted; }) return static_cast<bool>(B::is_encrypted);
    else return true;
  }();
  static constexpr bool free_integer_scalars = [] {
    if constexpr (requires { B::free_integer_scalars; }) return static_cast<bool>(B::free_integer_scalars);
    else return false;
  }();
  static constexpr bool mixed_levels = [] {
    if constexpr (requires { B::mixed_levels; }) return static_cast<bool>(B::mixed_levels);
    else return true;
  }();
};

namespace detail {
template <class B>
concept has_ciphertext_type = requires { typename B::ciphertext_type; };
} // namespace detail

/// Checks the additive_backend requirements one by one, so a failing backend is told which piece is
/// missing in a sentence instead of a page of template errors. Call it as `check_additive_backend<B>();`.
template <class B>
consteval bool check_additive_backend() {
  static_assert(detail::has_ciphertext_type<B>,
                "hefl: the backend has no member type `ciphertext_type`: see docs/backends.md");
  if constexpr (detail::has_ciphertext_type<B>) {
    using C = typename B::ciphertext_type;
    static_assert(requires(B& b, std::span<const double> v) {
      { b.encrypt(v) } -> std::same_as<C>;
    }, "hefl: the backend has no `ciphertext_type encrypt(std::span<const double>)`: see docs/backends.md");
    static_assert(requires(const B& b, const C& c) {
      { b.decrypt(c) } -> std::same_as<std::vector<double>>;
    }, "hefl: the backend has no `std::vector<double> decrypt(const ciphertext_type&) const`, so nobody could read "
       "the aggregate: see docs/backends.md");
    static_assert(requires(const B& b, const C& c, C& m) {
      { b.add(c, c) } -> std::same_as<C>;
      { b.add_inplace(m, c) };
    }, "hefl: the backend cannot add ciphertexts (`add` and `add_inplace`), so it cannot aggregate: see docs/backends.md");
    static_assert(requires(const B& b, const C& c, double s) {
      { b.multiply_scalar(c, s) } -> std::same_as<C>;
    }, "hefl: the backend has no `multiply_scalar(const ciphertext_type&, double) const`, needed for weighted "
       "averaging: see docs/backends.md");
    static_assert(requires(const B& b) {
      { b.slot_count() } -> std::convertible_to<std::size_t>;
    }, "hefl: the backend has no `slot_count() const`: see docs/backends.md");
    static_assert(requires(const B& b, const C& c, std::span<const std::uint8_t> bytes) {
      { b.serialize(c) } -> std::same_as<std::vector<std::uint8_t>>;
      { b.deserialize(bytes) } -> std::same_as<C>;
    }, "hefl: the backend cannot `serialize`/`deserialize` ciphertexts, so updates cannot travel: see docs/backends.md");
  }
  return true;
}

/// Checks the arithmetic_backend requirements one by one (after check_additive_backend), naming the
/// first missing operation in one sentence. Call it as `check_arithmetic_backend<B>();`.
template <class B>
consteval bool check_arithmetic_backend() {
  static_assert(check_additive_backend<B>());
  if constexpr (additive_backend<B>) {
    using C = typename B::ciphertext_type;
    static_assert(requires(const B& b, const C& c) {
      { b.multiply(c, c) } -> std::same_as<C>;
    }, "hefl: the backend cannot multiply two ciphertexts (`multiply(const ciphertext_type&, const ciphertext_type&) "
       "const`), so it cannot train on encrypted data; an additive-only backend can still carry encrypted FedAvg: "
       "see docs/backends.md");
    static_assert(requires(const B& b, const C& c) {
      { b.sub(c, c) } -> std::same_as<C>;
    }, "hefl: the backend has no `sub(const ciphertext_type&, const ciphertext_type&) const`: see docs/backends.md");
    static_assert(requires(const B& b, const C& c, std::span<const double> v) {
      { b.add_plain(c, v) } -> std::same_as<C>;
    }, "hefl: the backend has no `add_plain(const ciphertext_type&, std::span<const double>) const`: see "
       "docs/backends.md");
    static_assert(requires(const B& b, const C& c, std::span<const double> v) {
      { b.multiply_plain(c, v) } -> std::same_as<C>;
    }, "hefl: the backend has no `multiply_plain(const ciphertext_type&, std::span<const double>) const`: see "
       "docs/backends.md");
    static_assert(requires(const B& b, const C& c) {
      { b.level(c) } -> std::convertible_to<int>;
      { b.max_depth() } -> std::convertible_to<int>;
    }, "hefl: the backend does not report levels (`level(c)` and `max_depth()`), so a polynomial's depth cannot be "
       "checked before encrypting: see docs/backends.md");
  }
  return true;
}

/// A backend that is a bundle of role objects: `client()` (public context: encrypts), `server()`
/// (evaluation keys only: computes on ciphertexts) and `key_holder()` (secret key: decrypts). A
/// backend without them (he::plain_backend, a user's single-object backend) plays every role itself.
template <class B>
concept has_roles = requires(B& b) {
  b.client();
  b.server();
  b.key_holder();
};

/// A backend whose key holder is a quorum of parties that decrypt together (he::ckks_threshold_backend;
/// fl::threshold_updates needs one): it has roles and says `static constexpr bool is_threshold = true`.
template <class B>
concept threshold_backend = has_roles<B> && requires { requires static_cast<bool>(B::is_threshold); };

/// The party that encrypts with public material.
template <class B>
[[nodiscard]] auto& client_of(B& b) noexcept {
  if constexpr (has_roles<B>) return b.client();
  else return b;
}
/// The party that computes on ciphertexts with evaluation keys only.
template <class B>
[[nodiscard]] auto& server_of(B& b) noexcept {
  if constexpr (has_roles<B>) return b.server();
  else return std::as_const(b);
}
/// The party that holds the secret key.
template <class B>
[[nodiscard]] auto& key_holder_of(B& b) noexcept {
  if constexpr (has_roles<B>) return b.key_holder();
  else return b;
}

/// What the publishing party knows about the noise of a ciphertext it asks the key holder to
/// decrypt for someone else: either it is Σ a_k·c_k over fresh encryptions c_k with integer a_k
/// (then Σ|a_k| bounds its noise in units of one fresh encryption's), or it went through products.
struct published_noise {
  /// Σ|a_k| for a linear combination of fresh encryptions; 0 for a computed ciphertext.
  double fresh_l1 = 0;
  /// For a computed ciphertext: the size of one unit of the published values, against which the key
  /// holder judges the flooding's precision (e.g. the sample count for a gradient sum the receiver
  /// divides by it; 1 for a model). Must be finite and > 0.
  double computed_unit = 1;
  [[nodiscard]] static constexpr published_noise linear(double l1) noexcept { return {l1, 1}; }
  [[nodiscard]] static constexpr published_noise computed(double unit = 1) noexcept { return {0, unit}; }
  [[nodiscard]] constexpr bool is_linear() const noexcept { return fresh_l1 > 0; }
};

/// Decrypts @p c for publication to another party (an aggregate to the clients, a gradient to the
/// compute party). Every decryption the library hands to someone other than the key holder goes
/// through here: the key holder's `decrypt_for_sharing(c, noise, slots)` for slots 0..needed-1 when it
/// has one (he::ckks_key_holder: only those values leave it, and it floods them; exactly @p needed
/// values are returned), else its noise-aware `decrypt_for_sharing(c, noise)`, else its
/// `decrypt_for_sharing(c)`, else its raw `decrypt` (at least @p needed values).
/// @throws hefl::invalid_argument if the backend returns fewer than @p needed values (the contract
///         is at least slot_count()); whatever the backend's decryption throws.
template <class K, class C>
[[nodiscard]] std::vector<double> decrypt_for_sharing(const K& key_holder, const C& c, std::size_t needed,
                                                      const published_noise& noise) {
  std::vector<double> values;
  if constexpr (requires(std::span<const std::size_t> slots) {
                  { key_holder.decrypt_for_sharing(c, noise, slots) } -> std::same_as<std::vector<double>>;
                }) {
    // Only the first `needed` values leave the key holder (he::ckks_key_holder floods per value).
    std::vector<std::size_t> slots(needed);
    for (std::size_t j = 0; j < needed; ++j) slots[j] = j;
    values = key_holder.decrypt_for_sharing(c, noise, std::span<const std::size_t>(slots));
    if (values.size() != needed)
      throw invalid_argument("he::decrypt_for_sharing: the backend returned " + std::to_string(values.size()) +
                             " values, " + std::to_string(needed) + " needed");
    return values;
  } else if constexpr (requires { { key_holder.decrypt_for_sharing(c, noise) } -> std::same_as<std::vector<double>>; })
    values = key_holder.decrypt_for_sharing(c, noise);
  else if constexpr (requires { { key_holder.decrypt_for_sharing(c) } -> std::same_as<std::vector<double>>; })
    values = key_holder.decrypt_for_sharing(c);
  else
    values = key_holder.decrypt(c);
  if (values.size() < needed)
    throw invalid_argument("he::decrypt_for_sharing: the backend's decrypt returned " + std::to_string(values.size()) +
                           " values, " + std::to_string(needed) + " needed (a backend returns at least slot_count())");
  return values;
}

/// decrypt_for_sharing of a ciphertext whose noise the caller cannot bound (published_noise::computed()).
template <class K, class C>
[[nodiscard]] std::vector<double> decrypt_for_sharing(const K& key_holder, const C& c, std::size_t needed) {
  return decrypt_for_sharing(key_holder, c, needed, published_noise::computed());
}

/// The values in @p slots of a result the key holder publishes, and only those: the key holder's
/// `decrypt_for_sharing(c, noise, slots)` when it has one (he::ckks_key_holder then floods only what
/// leaves it), else decrypt_for_sharing(key_holder, c, largest slot + 1, noise) and the slots picked.
/// @throws hefl::invalid_argument if the backend returns a different number of values; as
///         decrypt_for_sharing.
template <class K, class C>
[[nodiscard]] std::vector<double> decrypt_slots_for_sharing(const K& key_holder, const C& c,
                                                            std::span<const std::size_t> slots,
                                                            const published_noise& noise) {
  std::vector<double> out;
  if constexpr (requires { { key_holder.decrypt_for_sharing(c, noise, slots) } -> std::same_as<std::vector<double>>; }) {
    out = key_holder.decrypt_for_sharing(c, noise, slots);
    if (out.size() != slots.size())
      throw invalid_argument("he::decrypt_slots_for_sharing: the backend returned " + std::to_string(out.size()) +
                             " values for " + std::to_string(slots.size()) + " slots");
  } else {
    std::size_t needed = 0;
    for (const std::size_t j : slots) needed = std::max(needed, j + 1);
    const std::vector<double> all = decrypt_for_sharing(key_holder, c, needed, noise);
    out.reserve(slots.size());
    for (const std::size_t j : slots) out.push_back(all[j]);
  }
  return out;
}

/// The value in slot 0 of a published result (decrypt_slots_for_sharing).
template <class K, class C>
[[nodiscard]] double decrypt_first_for_sharing(const K& key_holder, const C& c, const published_noise& noise) {
  const std::size_t first = 0;
  return decrypt_slots_for_sharing(key_holder, c, std::span<const std::size_t>(&first, 1), noise)[0];
}

/// Encrypts a model update that will be aggregated and decrypted for sharing: the client's
/// `encrypt_update` when it has one (he::ckks_client encrypts at a scale with room for flooding),
/// its `encrypt` otherwise.
template <class Client>
[[nodiscard]] auto encrypt_update(Client& client, std::span<const double> values) {
  if constexpr (requires { client.encrypt_update(values); }) return client.encrypt_update(values);
  else return client.encrypt(values);
}

} // namespace hefl::he
