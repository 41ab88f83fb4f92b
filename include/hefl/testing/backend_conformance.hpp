#pragma once
/// @file
/// A Catch2 (v2) conformance suite for encryption backends: what fl::federated_trainer relies on
/// from an he::additive_backend, checked on a real instance. A downstream project runs it against
/// its own backend:
///
/// @code
/// #include <catch2/catch.hpp>
/// #include <hefl/testing/backend_conformance.hpp>
/// HEFL_BACKEND_CONFORMANCE_TEST("my backend", my_backend, [] { return std::make_unique<my_backend>(...); })
/// // or, inside any TEST_CASE: hefl::testing::check_backend_conformance(backend, options);
/// @endcode
///
/// Checked: encrypt/decrypt round trip; decrypt returns at least slot_count() values and unused
/// slots are zero; too many values are refused; integer and fractional scalars; operands at
/// different levels (or scales) can be added, unless the backend declares
/// `static constexpr bool requires_matching_levels = true`; weighted aggregation Σ c_k·Enc(θ_k) as
/// the trainer computes it, with fractional and with integer weights; serialization round trip;
/// empty, truncated, extended and mis-tagged bytes refused with a hefl::error. See docs/backends.md.

#include <hefl/core/error.hpp>
#include <hefl/core/prng.hpp>
#include <hefl/he/backend.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace hefl::testing {

/// Knobs of the conformance suite.
struct conformance_options {
  /// Largest absolute error accepted on a decrypted value (the backend's precision).
  double tolerance = 1e-6;
  /// Test values are drawn uniformly from [-value_range, value_range].
  double value_range = 4.0;
  /// Values per ciphertext in the round-trip checks, at most slot_count().
  std::size_t values = 16;
  /// Clients in the aggregation check.
  std::size_t clients = 5;
  std::uint64_t seed = 2024;
};

namespace detail {
template <class B>
constexpr bool requires_matching_levels() {
  if constexpr (requires { B::requires_matching_levels; }) return static_cast<bool>(B::requires_matching_levels);
  else return false;
}

inline std::vector<double> draw(std::size_t n, double range, deterministic_rng& rng) {
  std::vector<double> v(n);
  for (auto& x : v) x = (2 * rng.uniform() - 1) * range;
  return v;
}

inline double max_abs_error(const std::vector<double>& got, const std::vector<double>& want) {
  double e = 0;
  for (std::size_t i = 0; i < want.size(); ++i) e = std::max(e, std::abs(got[i] - want[i]));
  return e;
}
} // namespace detail

/// Runs every conformance check on @p backend. Call it inside a TEST_CASE.
/// @tparam Backend an he::additive_backend.
template <class Backend>
void check_backend_conformance(Backend& backend, const conformance_options& opt = {}) {
  static_assert(he::check_additive_backend<Backend>());
  using C = typename Backend::ciphertext_type;
  deterministic_rng rng(opt.seed);
  const std::size_t slots = static_cast<std::size_t>(backend.slot_count());
  REQUIRE(slots >= 1);
  const std::size_t k = std::min(opt.values, slots);
  const double tol = opt.tolerance;

  {
    INFO("conformance: round trip, and decrypt returns at least slot_count() values");
    const auto x = detail::draw(k, opt.value_range, rng);
    const auto got = backend.decrypt(backend.encrypt(x));
    REQUIRE(got.size() >= slots);
    CHECK(detail::max_abs_error(got, x) <= tol);
    const auto full = detail::draw(slots, opt.value_range, rng);
    CHECK(detail::max_abs_error(backend.decrypt(backend.encrypt(full)), full) <= tol);
  }
  {
    INFO("conformance: unused slots decrypt to zero (the trainer reads only the first ones, aggregates all)");
    const std::size_t used = slots > 1 ? std::min(k, slots - 1) : 0;
    const auto x = detail::draw(used, opt.value_range, rng);
    const auto got = backend.decrypt(backend.encrypt(x));
    REQUIRE(got.size() >= slots);
    double worst = 0;
    for (std::size_t i = used; i < slots; ++i) worst = std::max(worst, std::abs(got[i]));
    CHECK(worst <= tol);
    const std::vector<double> none;
    const auto zeros = backend.decrypt(backend.encrypt(none));
    CHECK(detail::max_abs_error(zeros, std::vector<double>(slots, 0.0)) <= tol);
  }
  {
    INFO("conformance: more values than slots are refused with a hefl::error");
    const std::vector<double> too_many(slots + 1, 0.5);
    CHECK_THROWS_AS(backend.encrypt(too_many), hefl::error);
  }
  {
    INFO("conformance: add, add_inplace, integer and fractional scalars");
    const auto x = detail::draw(k, opt.value_range, rng), y = detail::draw(k, opt.value_range, rng);
    const C cx = backend.encrypt(x), cy = backend.encrypt(y);
    std::vector<double> sum(k), triple(k), fraction(k);
    for (std::size_t i = 0; i < k; ++i) {
      sum[i] = x[i] + y[i];
      triple[i] = 3 * x[i];
      fraction[i] = 0.375 * x[i];
    }
    CHECK(detail::max_abs_error(backend.decrypt(backend.add(cx, cy)), sum) <= tol);
    C acc = cx;
    backend.add_inplace(acc, cy);
    CHECK(detail::max_abs_error(backend.decrypt(acc), sum) <= tol);
    CHECK(detail::max_abs_error(backend.decrypt(backend.multiply_scalar(cx, 3.0)), triple) <= tol);
    CHECK(detail::max_abs_error(backend.decrypt(backend.multiply_scalar(cx, 0.375)), fraction) <= tol);
    CHECK(detail::max_abs_error(backend.decrypt(backend.multiply_scalar(cx, 0.0)), std::vector<double>(k, 0.0)) <= tol);
  }
  if constexpr (!detail::requires_matching_levels<Backend>()) {
    INFO("conformance: operands at different levels (or scales) add up: fresh + (fresh x 0.5)");
    const auto x = detail::draw(k, opt.value_range, rng), y = detail::draw(k, opt.value_range, rng);
    const C fresh = backend.encrypt(x);
    const C used = backend.multiply_scalar(backend.encrypt(y), 0.5);
    std::vector<double> want(k);
    for (std::size_t i = 0; i < k; ++i) want[i] = x[i] + 0.5 * y[i];
    CHECK(detail::max_abs_error(backend.decrypt(backend.add(fresh, used)), want) <= tol);
    CHECK(detail::max_abs_error(backend.decrypt(backend.add(used, fresh)), want) <= tol);
  }
  {
    INFO("conformance: weighted aggregation as the trainer computes it, sum_k c_k Enc(theta_k)");
    std::vector<std::vector<double>> theta;
    std::vector<double> n;
    double total = 0;
    for (std::size_t c = 0; c < opt.clients; ++c) {
      theta.push_back(detail::draw(k, opt.value_range, rng));
      n.push_back(static_cast<double>(1 + rng.below(1000)));
      total += n.back();
    }
    std::vector<double> fedavg(k, 0.0), integer_sum(k, 0.0);
    for (std::size_t c = 0; c < opt.clients; ++c)
      for (std::size_t i = 0; i < k; ++i) {
        fedavg[i] += n[c] / total * theta[c][i];
        integer_sum[i] += n[c] * theta[c][i];
      }
    C agg = backend.multiply_scalar(backend.encrypt(theta[0]), n[0] / total);
    for (std::size_t c = 1; c < opt.clients; ++c)
      backend.add_inplace(agg, backend.multiply_scalar(backend.encrypt(theta[c]), n[c] / total));
    CHECK(detail::max_abs_error(backend.decrypt(agg), fedavg) <= tol);
    // Integer weights, divided after decryption.
    C isum = backend.multiply_scalar(backend.encrypt(theta[0]), n[0]);
    for (std::size_t c = 1; c < opt.clients; ++c)
      backend.add_inplace(isum, backend.multiply_scalar(backend.encrypt(theta[c]), n[c]));
    auto divided = backend.decrypt(isum);
    for (auto& v : divided) v /= total;
    CHECK(detail::max_abs_error(divided, fedavg) <= tol);
  }
  {
    INFO("conformance: serialization round trip, and bad bytes refused with a hefl::error");
    const auto x = detail::draw(k, opt.value_range, rng);
    const C c = backend.multiply_scalar(backend.encrypt(x), 1.0);
    const std::vector<std::uint8_t> bytes = backend.serialize(c);
    REQUIRE(bytes.size() >= 2);
    CHECK(detail::max_abs_error(backend.decrypt(backend.deserialize(bytes)), x) <= tol);
    const std::span<const std::uint8_t> all(bytes);
    CHECK_THROWS_AS(backend.deserialize(all.first(0)), hefl::error);
    for (const std::size_t cut : {std::size_t{1}, bytes.size() / 2, bytes.size() - 1}) {
      INFO("truncated to " << cut << " of " << bytes.size() << " bytes");
      CHECK_THROWS_AS(backend.deserialize(all.first(cut)), hefl::error);
    }
    std::vector<std::uint8_t> longer = bytes;
    longer.push_back(0);
    CHECK_THROWS_AS(backend.deserialize(longer), hefl::error);
    std::vector<std::uint8_t> tagged = bytes;
    tagged[0] ^= 0x5a;
    CHECK_THROWS_AS(backend.deserialize(tagged), hefl::error);
  }
}

/// As above, on a backend made by @p factory (a callable returning std::unique_ptr<Backend>, for
/// backends that can be neither copied nor moved).
template <class Factory>
void check_backend_conformance_with(Factory&& factory, const conformance_options& opt = {}) {
  auto backend = factory();
  REQUIRE(backend != nullptr);
  check_backend_conformance(*backend, opt);
}

} // namespace hefl::testing

/// Defines a Catch2 TEST_CASE named "backend conformance: NAME" that runs the suite on the backend
/// FACTORY makes (a callable returning std::unique_ptr<BACKEND>); optional 4th argument: options.
#define HEFL_BACKEND_CONFORMANCE_TEST(NAME, BACKEND, FACTORY, ...)                              \
  TEST_CASE("backend conformance: " NAME, "[backend][conformance]") {                         \
    static_assert(::hefl::he::additive_backend<BACKEND>, "hefl: " #BACKEND " is not an additive backend"); \
    ::hefl::testing::check_backend_conformance_with(FACTORY __VA_OPT__(, ) __VA_ARGS__);        \
  }
