#pragma once
/// @file
/// The encryption-backend policy. A backend packs a vector of doubles into "slots" of a ciphertext
/// and computes on ciphertexts. hefl's trainer is written against these concepts, so the same code
/// runs plaintext FL (he::plain_backend), CKKS FL+FHE (he::ckks_backend) and any backend a
/// downstream project brings. See docs/backends.md.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
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

/// Enough to train on encrypted data: additionally subtract, add/multiply by plaintext vectors,
/// multiply ciphertexts (relinearized and rescaled), rotate slots, sum slots, and report the
/// multiplicative levels left so that a polynomial's depth can be checked before evaluating it.
template <class B>
concept arithmetic_backend =
    additive_backend<B> && requires(const B& b, const typename B::ciphertext_type& c, std::span<const double> values,
                                    int steps) {
      { b.sub(c, c) } -> std::same_as<typename B::ciphertext_type>;
      { b.add_plain(c, values) } -> std::same_as<typename B::ciphertext_type>;
      { b.multiply_plain(c, values) } -> std::same_as<typename B::ciphertext_type>;
      { b.multiply(c, c) } -> std::same_as<typename B::ciphertext_type>;
      { b.rotate(c, steps) } -> std::same_as<typename B::ciphertext_type>;
      { b.sum_slots(c) } -> std::same_as<typename B::ciphertext_type>;
      { b.level(c) } -> std::convertible_to<int>;
      { b.max_depth() } -> std::convertible_to<int>;
    };

/// Static facts about a backend (Eigen's NumTraits habit). Specialise it for a backend that cannot
/// carry the static members itself. `is_encrypted` defaults to true, the safe assumption: an
/// unknown backend is treated as hiding its data, so plaintext-only rules are refused with it.
template <class B>
struct backend_traits {
  static constexpr bool is_encrypted = [] {
    if constexpr (requires { B::is_encrypted; }) return static_cast<bool>(B::is_encrypted);
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

} // namespace hefl::he
