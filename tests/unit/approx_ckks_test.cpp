// Sigmoid approximations under real CKKS. One secure parameter set (N = 16384, primes
// {60, 40 x 7, 60}, scale 2^40: 7 levels, log2(PQ) = 400 <= 438 for 128-bit security), keys made once
// and shared by every test here; rotation keys are not generated (evaluation does not rotate).

#include <hefl/approx/approximation.hpp>
#include <hefl/approx/chebyshev_eval.hpp>
#include <hefl/approx/evaluate.hpp>
#include <hefl/approx/families.hpp>
#include <hefl/he/ckks_backend.hpp>
#include <hefl/he/plain_backend.hpp>

#include "ckks_test_support.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

using namespace hefl::approx;
namespace ckks = hefl::he::ckks;

namespace {

constexpr double log2_scale = 40.0;
constexpr std::size_t ring_degree = 16384;

hefl::he::ckks_backend& shared_backend() {
  static hefl_test::test_source rng(20261130);
  static hefl::he::ckks_backend backend(
      ckks::parameters(ring_degree, {60, 40, 40, 40, 40, 40, 40, 40, 60}, log2_scale), rng,
      hefl::he::ckks_backend_options{true, false, {}});
  return backend;
}

std::vector<double> grid(double lo, double hi, std::size_t count = 1024) {
  std::vector<double> x(count);
  for (std::size_t i = 0; i < count; ++i) x[i] = lo + (hi - lo) * static_cast<double>(i) / static_cast<double>(count - 1);
  return x;
}

// Evaluates s on the encrypted grid and checks: levels consumed on CKKS = s.depth() = levels
// consumed on the plain backend; |CKKS − p| <= the stated noise bound; |CKKS − σ| <= fit error + bound.
void check_under_ckks(const sigmoid_approximation& s, const std::vector<double>& x,
                      const hefl::he::ckks_backend::ciphertext_type& cx) {
  auto& b = shared_backend();
  INFO(s.name() << " (fit error " << s.max_error() << ", depth " << s.depth() << ")");
  REQUIRE(s.depth() <= b.max_depth());
  const auto r = evaluate(b, cx, s);
  CHECK(b.max_depth() - b.level(r) == s.depth());

  const hefl::he::plain_backend plain(x.size(), b.max_depth());
  const auto pr = evaluate(plain, plain.encrypt(x), s);
  CHECK(plain.max_depth() - plain.level(pr) == s.depth());

  const double bound = ckks_noise_bound(s.plan(), log2_scale, ring_degree);
  const auto got = b.decrypt(r);
  double to_poly = 0.0, to_sigmoid = 0.0;
  const exact_sigmoid sigmoid;
  for (std::size_t i = 0; i < x.size(); ++i) {
    to_poly = std::max(to_poly, std::fabs(got[i] - s(x[i])));
    to_sigmoid = std::max(to_sigmoid, std::fabs(got[i] - sigmoid(x[i])));
  }
  INFO("CKKS vs polynomial " << to_poly << ", vs sigmoid " << to_sigmoid << ", noise bound " << bound);
  CHECK(to_poly <= bound);
  CHECK(to_sigmoid <= s.max_error() + bound);
}

} // namespace

TEST_CASE("approx: every family of degree 3..15 (and Chebyshev 31) stays within fit error + noise bound under CKKS",
          "[approx][ckks]") {
  auto& b = shared_backend();
  const auto x8 = grid(-8.0, 8.0), x2 = grid(-2.0, 2.0);
  const auto c8 = b.encrypt(x8), c2 = b.encrypt(x2);
  // z of a trained model is rarely symmetric: weight towards the positive side.
  const auto skewed = [](double z) { return std::exp(-0.5 * (z - 2.0) * (z - 2.0) / 9.0); };
  for (int degree = 3; degree <= 15; ++degree) {
    check_under_ckks(fit_taylor(degree, 2.0), x2, c2);  // Taylor only converges for |x| < π
    check_under_ckks(fit_least_squares(degree, 8.0), x8, c8);
    check_under_ckks(fit_weighted_least_squares(degree, 8.0, skewed), x8, c8);
    check_under_ckks(fit_chebyshev(degree, 8.0), x8, c8);
    check_under_ckks(fit_minimax(degree, 8.0), x8, c8);
  }
  check_under_ckks(fit_chebyshev(31, 8.0), x8, c8);
  for (const auto& fixed : literature_fits()) {
    const auto x = grid(fixed.lo(), fixed.hi());
    check_under_ckks(fixed, x, b.encrypt(x));
  }
}

TEST_CASE("approx: folding 1/R into the input saves the mapping level under CKKS", "[approx][ckks]") {
  auto& b = shared_backend();
  const auto s = fit_chebyshev(31, 8.0);
  const auto x = grid(-8.0, 8.0);
  std::vector<double> t(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) t[i] = x[i] / 8.0;
  const auto r = evaluate_mapped(b, b.encrypt(t), s);
  CHECK(b.max_depth() - b.level(r) == s.mapped_depth());
  CHECK(s.mapped_depth() == s.depth() - 1);
  const auto got = b.decrypt(r);
  double err = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) err = std::max(err, std::fabs(got[i] - s(x[i])));
  CHECK(err <= ckks_noise_bound(s.plan(), log2_scale, ring_degree));
}

// The server role holds evaluation keys only (no encrypt, no decrypt): both evaluation plans take it
// as it is, with no adapter pretending it could decrypt.
static_assert(!hefl::he::arithmetic_backend<hefl::he::ckks_server> && hefl::he::arithmetic_evaluator<hefl::he::ckks_server>);

TEST_CASE("approx: the server role evaluates the power-basis and the Chebyshev plans", "[approx][ckks]") {
  auto& b = shared_backend();
  const auto& server = b.server();
  const auto s = fit_chebyshev(7, 8.0);
  const auto x = grid(-8.0, 8.0);
  std::vector<double> t(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) t[i] = x[i] / 8.0;
  const auto power = s.coefficients();
  const auto by_power = evaluate_polynomial(server, server.deserialize(b.client().serialize(b.client().encrypt(x))),
                                            std::span<const double>(power));
  const auto by_plan = s.plan().evaluate(server, server.deserialize(b.client().serialize(b.client().encrypt(t))));
  CHECK(server.max_depth() - server.level(by_plan) == s.mapped_depth());
  const auto p = b.decrypt(by_power), c = b.decrypt(by_plan);
  double err_power = 0.0, err_plan = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    err_power = std::max(err_power, std::fabs(p[i] - s(x[i])));
    err_plan = std::max(err_plan, std::fabs(c[i] - s(x[i])));
  }
  // Degree 7 on [-8, 8] still works in the power basis, already with noise amplified to about 3e-3
  // (|x|^6 on the degree-7 coefficient); the Chebyshev plan stays at its noise bound.
  CHECK(err_power < 0.05);
  CHECK(err_plan <= ckks_noise_bound(s.plan(), log2_scale, ring_degree));
  CHECK(err_plan < err_power / 100);
}
