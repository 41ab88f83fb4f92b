#include <hefl/approx/approximation.hpp>
#include <hefl/approx/evaluate.hpp>
#include <hefl/approx/families.hpp>
#include <hefl/approx/fit.hpp>
#include <hefl/approx/remez.hpp>
#include <hefl/core/prng.hpp>
#include <hefl/he/plain_backend.hpp>

#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

using namespace hefl::approx;
using hefl::he::plain_backend;

TEST_CASE("approx: every family fits any degree 1..31 on [-R, R] and reports coherent data", "[approx][families]") {
  for (const double radius : {2.0, 4.0, 8.0, 16.0}) {
    for (int degree = 1; degree <= 31; degree += (degree < 9 ? 1 : 6)) {
      for (const fit_family family :
           {fit_family::taylor, fit_family::least_squares, fit_family::chebyshev, fit_family::minimax}) {
        const sigmoid_approximation s = fit(family, degree, radius);
        INFO(s.name());
        CHECK(s.family() == family);
        CHECK(s.lo() == -radius);
        CHECK(s.hi() == radius);
        CHECK(s.degree() <= static_cast<std::size_t>(degree));
        CHECK(s.degree() >= static_cast<std::size_t>(degree - 1));  // odd: an even degree drops to the odd below
        CHECK(s.name().find(std::string(family_name(family))) == 0);
        CHECK(s.name().find(detail::interval_suffix(-radius, radius)) != std::string::npos);
        // The reported error is the error of the polynomial, in either basis.
        CHECK(s.max_error() == Approx(max_error(s.to_polynomial_sigmoid(), exact_sigmoid{}, -radius, radius, 20001))
                                   .epsilon(1e-6)
                                   .margin(1e-12));
        CHECK(s.coefficients().size() == s.degree() + 1);
        CHECK(s.chebyshev_coefficients().size() == s.degree() + 1);
        CHECK(s(0.0) == Approx(0.5).margin(1e-14));
        // Depth: the plan's, plus one for x / R.
        const int m = static_cast<int>(std::bit_width(s.degree()));
        CHECK(s.mapped_depth() <= m + 1);
        CHECK(s.depth() == s.mapped_depth() + 1);
      }
    }
  }
}

TEST_CASE("approx: minimax <= Chebyshev interpolation and least squares <= 2x minimax on [-8, 8]",
          "[approx][families]") {
  for (int degree = 3; degree <= 31; degree += 2) {
    INFO("degree " << degree);
    const auto mm = fit_minimax(degree, 8.0), ch = fit_chebyshev(degree, 8.0), ls = fit_least_squares(degree, 8.0);
    CHECK(mm.max_error() <= ch.max_error() * (1.0 + 1e-9));
    CHECK(mm.max_error() <= ls.max_error() * (1.0 + 1e-9));
    // Chebyshev interpolation is near-minimax: within the Lebesgue constant 2 + (2/π) ln(d + 1).
    CHECK(ch.max_error() <= mm.max_error() * (2.0 + 2.0 / std::numbers::pi * std::log(degree + 1.0)));
  }
  // Higher degree, smaller error, for every convergent family.
  for (const fit_family family : {fit_family::least_squares, fit_family::chebyshev, fit_family::minimax})
    for (int degree = 3; degree + 2 <= 31; degree += 2)
      CHECK(fit(family, degree + 2, 8.0).max_error() < fit(family, degree, 8.0).max_error());
}

TEST_CASE("approx: the Remez exchange equioscillates", "[approx][families]") {
  for (const int degree : {1, 3, 7, 15}) {
    const long double r = 8.0L;
    const remez_result rr = remez_odd([r](long double t) { return std::tanh(r * t / 2.0L) / 2.0L; }, degree);
    INFO("degree " << degree << " after " << rr.iterations << " iterations");
    CHECK(rr.converged);
    CHECK(rr.max_error == Approx(rr.levelled_error).epsilon(1e-5));
    // (degree + 1)/2 + 1 alternating extrema on (0, 1]: count the sign changes of the error.
    const auto s = fit_minimax(degree, 8.0);
    CHECK(s.max_error() == Approx(rr.max_error).epsilon(1e-4));
    int changes = 0;
    double previous = 0.0;
    for (int i = 1; i <= 20000; ++i) {
      const double x = 8.0 * i / 20000.0;
      const double e = s(x) - exact_sigmoid{}(x);
      if (std::fabs(e) > 0.5 * s.max_error()) {
        if (previous != 0.0 && (e > 0) != (previous > 0)) ++changes;
        previous = e;
      }
    }
    CHECK(changes == (degree + 1) / 2);
  }
  CHECK_THROWS_AS(remez_odd([](long double t) { return t; }, 0), hefl::invalid_argument);
}

TEST_CASE("approx: the new least squares and Chebyshev fits agree with fit.hpp's", "[approx][families]") {
  for (const int degree : {3, 5, 7, 11}) {
    const auto old_ls = least_squares_sigmoid(degree, -8.0, 8.0), old_ch = chebyshev_sigmoid(degree, -8.0, 8.0);
    const auto ls = fit_least_squares(degree, 8.0), ch = fit_chebyshev(degree, 8.0);
    for (int i = 0; i <= 32; ++i) {
      const double x = -8.0 + i * 0.5;
      CHECK(ls(x) == Approx(old_ls(x)).margin(1e-9));
      CHECK(ch(x) == Approx(old_ch(x)).margin(1e-9));
    }
  }
  const auto t = fit_taylor(9, 1.0);
  for (int i = -10; i <= 10; ++i) CHECK(t(i / 10.0) == Approx(taylor_sigmoid(9)(i / 10.0)).margin(1e-13));
}

TEST_CASE("approx: weighted least squares follows the weight", "[approx][families]") {
  // z concentrated around +3: the weighted fit is more accurate there than the uniform fit, less
  // accurate at the far end, and still bounded on the whole interval.
  const auto density = [](double x) { return std::exp(-0.5 * (x - 3.0) * (x - 3.0)); };
  const auto w = fit_weighted_least_squares(5, 8.0, density);
  const auto u = fit_least_squares(5, 8.0);
  CHECK(w.family() == fit_family::weighted_least_squares);
  const auto local = [](const sigmoid_approximation& s, double lo, double hi) {
    return max_error(s.to_polynomial_sigmoid(), exact_sigmoid{}, lo, hi, 2001);
  };
  CHECK(local(w, 2.0, 4.0) < 0.5 * local(u, 2.0, 4.0));
  CHECK(local(w, 2.0, 4.0) < 0.5 * local(w, -4.0, -2.0));  // the uniform fit is symmetric
  CHECK(w.max_error() < 0.5);

  CHECK(local(u, 2.0, 4.0) == Approx(local(u, -4.0, -2.0)).epsilon(1e-6));
  // A sample histogram gives the same kind of fit; values outside [-R, R] are ignored.
  std::vector<double> sample;
  hefl::deterministic_rng rng(5);
  for (int i = 0; i < 5000; ++i) sample.push_back(3.0 + rng.normal());
  sample.push_back(100.0);
  sample.push_back(std::numeric_limits<double>::quiet_NaN());
  const auto from_sample = fit_sample_least_squares(5, 8.0, sample);
  CHECK(local(from_sample, 2.0, 4.0) < 0.5 * local(u, 2.0, 4.0));
  CHECK(local(from_sample, 2.0, 4.0) == Approx(local(w, 2.0, 4.0)).epsilon(0.5));

  // A uniform floor of 1 is the uniform fit.
  const auto all_uniform = fit_weighted_least_squares(5, 8.0, density, 1.0);
  CHECK(all_uniform.max_error() == Approx(fit_least_squares(5, 8.0).max_error()).epsilon(1e-6));

  CHECK_THROWS_AS(fit_weighted_least_squares(5, 8.0, [](double) { return -1.0; }), hefl::invalid_argument);
  CHECK_THROWS_AS(fit_weighted_least_squares(5, 8.0, [](double) { return 0.0; }, 0.0), hefl::invalid_argument);
  CHECK_THROWS_AS(fit_weighted_least_squares(5, 8.0, density, 1.5), hefl::invalid_argument);
  CHECK_THROWS_AS(fit_weighted_least_squares(5, 8.0, {}), hefl::invalid_argument);
  CHECK_THROWS_WITH(fit_sample_least_squares(5, 8.0, std::vector<double>{9.0, -20.0}),
                    Catch::Contains("none of the 2 sample values"));
}

TEST_CASE("approx: literature fits keep their coefficients and are named with their interval", "[approx][families]") {
  const auto fits = literature_fits();
  REQUIRE(fits.size() == 4);
  CHECK(fits[0].name() == "paper-deg3[-5,5]");
  CHECK(fits[1].name() == "idash-deg3[-8,8]");
  CHECK(fits[2].name() == "idash-deg5[-8,8]");
  CHECK(fits[3].name() == "idash-deg7[-8,8]");
  const std::vector<polynomial_sigmoid> originals{paper_sigmoid3(), idash_sigmoid3(), idash_sigmoid5(),
                                                  idash_sigmoid7()};
  for (std::size_t i = 0; i < fits.size(); ++i) {
    INFO(fits[i].name());
    CHECK(fits[i].family() == fit_family::fixed);
    CHECK(fits[i].lo() == originals[i].lo());
    CHECK(fits[i].hi() == originals[i].hi());
    const auto power = fits[i].coefficients();
    REQUIRE(power.size() == originals[i].coefficients().size());
    for (std::size_t k = 0; k < power.size(); ++k)
      CHECK(power[k] == Approx(originals[i].coefficients()[k]).epsilon(1e-10).margin(1e-15));
  }
  // The paper's cubic is a fit for [-5, 5]: on [-8, 8] it is far off.
  CHECK(fits[0].max_error() < 0.06);
  CHECK(max_error(paper_sigmoid3(), exact_sigmoid{}, -8.0, 8.0) > 0.5);
}

TEST_CASE("approx: the polynomial sigmoid policy", "[approx][families]") {
  STATIC_REQUIRE(polynomial_sigmoid_policy<sigmoid_approximation>);
  STATIC_REQUIRE(polynomial_sigmoid_policy<polynomial_sigmoid>);
  STATIC_REQUIRE_FALSE(polynomial_sigmoid_policy<exact_sigmoid>);
  STATIC_REQUIRE(check_polynomial_sigmoid_policy<sigmoid_approximation>());
  STATIC_REQUIRE(check_polynomial_sigmoid_policy<polynomial_sigmoid>());
  CHECK(paper_sigmoid3().depth() == 2);
  CHECK(idash_sigmoid7().depth() == 3);
}

TEST_CASE("approx: family arguments are checked", "[approx][families]") {
  for (const fit_family family :
       {fit_family::taylor, fit_family::least_squares, fit_family::chebyshev, fit_family::minimax}) {
    CHECK_THROWS_AS(fit(family, 0, 8.0), hefl::invalid_argument);
    CHECK_THROWS_AS(fit(family, 32, 8.0), hefl::invalid_argument);
    CHECK_THROWS_AS(fit(family, 3, 0.0), hefl::invalid_argument);
    CHECK_THROWS_AS(fit(family, 3, -2.0), hefl::invalid_argument);
    CHECK_THROWS_AS(fit(family, 3, std::numeric_limits<double>::infinity()), hefl::invalid_argument);
  }
  CHECK_THROWS_WITH(fit(fit_family::weighted_least_squares, 3, 8.0), Catch::Contains("needs its own arguments"));
  CHECK_THROWS_AS(fit(fit_family::fixed, 3, 8.0), hefl::invalid_argument);
}

TEST_CASE("approx: inputs outside the interval are counted", "[approx][families]") {
  const std::vector<double> z{-9.0, -8.0, 0.0, 7.9, 8.0, 8.5, std::numeric_limits<double>::quiet_NaN(), 12.0};
  const auto s = fit_chebyshev(7, 8.0);
  const interval_count c = count_outside(z, s);
  CHECK(c.total == 8);
  CHECK(c.outside == 4);  // -9, 8.5, NaN, 12
  CHECK(c.share() == 0.5);
  CHECK(c.largest_magnitude == 12.0);
  CHECK(count_outside(std::vector<double>{}, -1.0, 1.0).share() == 0.0);
  CHECK(count_outside(z, paper_sigmoid3()).outside == 7);
  CHECK_THROWS_AS(count_outside(z, 1.0, -1.0), hefl::invalid_argument);
  // Documented behaviour outside: the polynomial is evaluated there all the same and departs from σ.
  CHECK(std::fabs(s(12.0) - exact_sigmoid{}(12.0)) > 1.0);
}

TEST_CASE("approx: evaluate on a sigmoid approximation uses the Chebyshev plan at its stated depth",
          "[approx][families]") {
  std::vector<double> x(129);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = -8.0 + 16.0 * static_cast<double>(i) / 128.0;
  for (int degree : {1, 3, 7, 15, 31}) {
    const auto s = fit_minimax(degree, 8.0);
    INFO(s.name());
    const plain_backend b(x.size(), s.depth());
    const auto r = evaluate(b, b.encrypt(x), s);
    CHECK(b.level(r) == 0);
    const auto got = b.decrypt(r);
    for (std::size_t i = 0; i < x.size(); ++i) CHECK(got[i] == Approx(s(x[i])).margin(1e-12));
    const plain_backend short_one(x.size(), s.depth() - 1);
    CHECK_THROWS_WITH(evaluate(short_one, short_one.encrypt(x), s),
                      Catch::Contains("required by " + s.name()));
    // Folding 1/R into the caller's weights saves the mapping level.
    std::vector<double> t(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) t[i] = x[i] / 8.0;
    const plain_backend folded(x.size(), s.mapped_depth());
    const auto rf = evaluate_mapped(folded, folded.encrypt(t), s);
    CHECK(folded.level(rf) == 0);
    const auto got_f = folded.decrypt(rf);
    for (std::size_t i = 0; i < x.size(); ++i) CHECK(got_f[i] == Approx(s(x[i])).margin(1e-12));
  }
}
