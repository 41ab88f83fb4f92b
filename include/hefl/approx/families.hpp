#pragma once
/// @file
/// The sigmoid approximation families on [−R, R], any degree 1..31, each returned as an
/// approx::sigmoid_approximation (Chebyshev coefficients, power coefficients, max error, depth):
/// - fit_taylor: the Taylor series at 0 (accurate only for |x| well inside π, its radius of convergence);
/// - fit_least_squares: discrete least squares on a uniform grid (iDASH 2017 style);
/// - fit_weighted_least_squares / fit_sample_least_squares: least squares weighted by a density of z
///   the caller gives, or by a histogram of observed z (e.g. the trainer's w·x + b of a round);
/// - fit_chebyshev: interpolation at the Chebyshev points (near-minimax);
/// - fit_minimax: the best uniform approximation by the Remez exchange (approx/remez.hpp);
/// - literature_fits: the paper's cubic on [−5, 5] and the iDASH 2017 fits on [−8, 8], unchanged.
/// On the symmetric interval σ(x) − 1/2 is odd, so the unweighted fits keep only odd T_k and an even
/// degree gives the polynomial of the odd degree below it (degree() reports the real degree).

#include <hefl/approx/approximation.hpp>
#include <hefl/approx/chebyshev.hpp>
#include <hefl/approx/fit.hpp>
#include <hefl/approx/remez.hpp>
#include <hefl/approx/sigmoid.hpp>
#include <hefl/core/error.hpp>

#include <Eigen/Dense>

#include <cmath>
#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace hefl::approx {

/// Grid points of the least-squares fits (uniform on [−R, R], both ends included).
inline constexpr std::size_t least_squares_grid = 2001;
/// Share of the uniform measure mixed into the weights of the weighted fits by default, so that the
/// polynomial stays close to the sigmoid on the whole interval, not only where z was seen.
inline constexpr double default_uniform_floor = 0.05;

namespace detail {

inline void check_family_args(int degree, double radius, const char* fit) {
  check_degree(degree, fit);
  if (!std::isfinite(radius) || !(radius > 0.0) || radius > 1e6)
    throw invalid_argument(std::string("approx::") + fit + ": R must be in (0, 1e6], got " + std::to_string(radius));
}

inline std::string fit_name(const char* family, int degree, double radius) {
  return std::string(family) + "-deg" + std::to_string(degree) + interval_suffix(-radius, radius);
}

// Weighted least squares of σ on the uniform grid of [−R, R] in the Chebyshev basis T_k(x/R), k in
// basis, by Householder QR on rows scaled by sqrt(weight) (the Chebyshev columns are nearly orthogonal).
inline std::vector<double> least_squares_chebyshev(int degree, double radius, const std::vector<double>& weights,
                                                   bool odd_only) {
  const auto terms = static_cast<std::size_t>(degree) + 1;
  std::vector<std::size_t> basis;
  for (std::size_t k = odd_only ? 1 : 0; k < terms; k += odd_only ? 2 : 1) basis.push_back(k);
  const std::size_t samples = weights.size();
  const exact_sigmoid sigmoid;
  Eigen::MatrixXd a(static_cast<Eigen::Index>(samples), static_cast<Eigen::Index>(basis.size()));
  Eigen::VectorXd y(static_cast<Eigen::Index>(samples));
  std::vector<double> tk(terms);
  for (std::size_t s = 0; s < samples; ++s) {
    const double t = -1.0 + 2.0 * static_cast<double>(s) / static_cast<double>(samples - 1);
    tk[0] = 1.0;
    if (terms > 1) tk[1] = t;
    for (std::size_t k = 2; k < terms; ++k) tk[k] = 2.0 * t * tk[k - 1] - tk[k - 2];
    const double w = std::sqrt(weights[s]);
    const auto row = static_cast<Eigen::Index>(s);
    for (std::size_t c = 0; c < basis.size(); ++c) a(row, static_cast<Eigen::Index>(c)) = w * tk[basis[c]];
    y(row) = w * (sigmoid(radius * t) - (odd_only ? 0.5 : 0.0));
  }
  const Eigen::VectorXd solution = a.householderQr().solve(y);
  std::vector<double> cheb(terms, 0.0);
  for (std::size_t c = 0; c < basis.size(); ++c) cheb[basis[c]] = solution(static_cast<Eigen::Index>(c));
  if (odd_only) cheb[0] = 0.5;
  return cheb;
}

inline std::vector<double> mix_with_uniform(std::vector<double> w, double floor, const char* fit) {
  if (!(floor >= 0.0 && floor <= 1.0))
    throw invalid_argument(std::string("approx::") + fit + ": uniform_floor must be in [0, 1], got " +
                           std::to_string(floor));
  double total = 0.0;
  for (const double v : w) total += v;
  if (!(total > 0.0) || !std::isfinite(total))
    throw invalid_argument(std::string("approx::") + fit + ": the weights have no mass on the interval");
  const double n = static_cast<double>(w.size());
  for (double& v : w) v = floor / n + (1.0 - floor) * v / total;
  return w;
}

} // namespace detail

/// Taylor polynomial of σ at 0 (from approx::taylor_sigmoid) re-expressed on [−R, R].
/// @throws hefl::invalid_argument if degree is outside [1, 31] or R is not in (0, 1e6].
[[nodiscard]] inline sigmoid_approximation fit_taylor(int degree, double radius) {
  detail::check_family_args(degree, radius, "fit_taylor");
  return sigmoid_approximation(fit_family::taylor,
                               chebyshev_series::from_power(taylor_sigmoid(degree).coefficients(), -radius, radius),
                               detail::fit_name("taylor", degree, radius));
}

/// Least squares on least_squares_grid equally spaced points of [−R, R] (Kim, Song, Kim, Lee,
/// Cheon, BMC Med. Genomics 2018, the iDASH 2017 fits), solved in the Chebyshev basis.
/// @throws hefl::invalid_argument if degree is outside [1, 31] or R is not in (0, 1e6].
[[nodiscard]] inline sigmoid_approximation fit_least_squares(int degree, double radius) {
  detail::check_family_args(degree, radius, "fit_least_squares");
  const std::vector<double> w(least_squares_grid, 1.0);
  return sigmoid_approximation(fit_family::least_squares,
                               chebyshev_series(detail::least_squares_chebyshev(degree, radius, w, true), -radius, radius),
                               detail::fit_name("least-squares", degree, radius));
}

/// Least squares on the grid of [−R, R] weighted by @p density(x) (any non-negative function, need
/// not be normalised), mixed with @p uniform_floor of the uniform weight.
/// @throws hefl::invalid_argument if degree is outside [1, 31], R is not in (0, 1e6], uniform_floor
///         is outside [0, 1], or density is negative or not finite somewhere on the grid, or zero
///         everywhere.
[[nodiscard]] inline sigmoid_approximation fit_weighted_least_squares(int degree, double radius,
                                                                      const std::function<double(double)>& density,
                                                                      double uniform_floor = default_uniform_floor) {
  detail::check_family_args(degree, radius, "fit_weighted_least_squares");
  if (!density) throw invalid_argument("approx::fit_weighted_least_squares: no density given");
  std::vector<double> w(least_squares_grid);
  for (std::size_t s = 0; s < w.size(); ++s) {
    const double x = radius * (-1.0 + 2.0 * static_cast<double>(s) / static_cast<double>(w.size() - 1));
    w[s] = density(x);
    if (!std::isfinite(w[s]) || w[s] < 0.0)
      throw invalid_argument("approx::fit_weighted_least_squares: density(" + std::to_string(x) + ") = " +
                             std::to_string(w[s]) + " is negative or not finite");
  }
  w = detail::mix_with_uniform(std::move(w), uniform_floor, "fit_weighted_least_squares");
  return sigmoid_approximation(
      fit_family::weighted_least_squares,
      chebyshev_series(detail::least_squares_chebyshev(degree, radius, w, false), -radius, radius),
      detail::fit_name("weighted-least-squares", degree, radius));
}

/// Least squares weighted by the histogram of an observed sample of z on the grid of [−R, R] (each
/// value counts at its nearest grid point; values outside the interval or not finite are ignored),
/// mixed with @p uniform_floor of the uniform weight.
/// @throws hefl::invalid_argument as fit_weighted_least_squares, or if no sample value is inside [−R, R].
[[nodiscard]] inline sigmoid_approximation fit_sample_least_squares(int degree, double radius,
                                                                    std::span<const double> sample,
                                                                    double uniform_floor = default_uniform_floor) {
  detail::check_family_args(degree, radius, "fit_sample_least_squares");
  std::vector<double> w(least_squares_grid, 0.0);
  const double step = 2.0 * radius / static_cast<double>(w.size() - 1);
  std::size_t inside = 0;
  for (const double z : sample) {
    if (!(z >= -radius && z <= radius)) continue;
    const auto s = static_cast<std::size_t>(std::lround((z + radius) / step));
    w[std::min(s, w.size() - 1)] += 1.0;
    ++inside;
  }
  if (inside == 0)
    throw invalid_argument("approx::fit_sample_least_squares: none of the " + std::to_string(sample.size()) +
                           " sample values is inside [-R, R] = " + detail::interval_suffix(-radius, radius));
  w = detail::mix_with_uniform(std::move(w), uniform_floor, "fit_sample_least_squares");
  return sigmoid_approximation(
      fit_family::weighted_least_squares,
      chebyshev_series(detail::least_squares_chebyshev(degree, radius, w, false), -radius, radius),
      detail::fit_name("sample-least-squares", degree, radius));
}

/// Interpolation at the degree + 1 Chebyshev points of the first kind on [−R, R] (Mason &
/// Handscomb, "Chebyshev Polynomials", 2003, §6.3; error within a factor of about 2 + (2/π)·ln(d) of
/// the minimax error).
/// @throws hefl::invalid_argument if degree is outside [1, 31] or R is not in (0, 1e6].
[[nodiscard]] inline sigmoid_approximation fit_chebyshev(int degree, double radius) {
  detail::check_family_args(degree, radius, "fit_chebyshev");
  const auto terms = static_cast<std::size_t>(degree) + 1;
  const std::vector<long double> theta = detail::chebyshev_angles(terms);
  const exact_sigmoid sigmoid;
  std::vector<long double> f(terms);
  for (std::size_t j = 0; j < terms; ++j) f[j] = sigmoid(radius * static_cast<double>(std::cos(theta[j]))) - 0.5;
  const std::vector<long double> c = detail::chebyshev_transform(f, theta);
  std::vector<double> cheb(terms, 0.0);
  for (std::size_t k = 1; k < terms; k += 2) cheb[k] = static_cast<double>(c[k]);  // even terms vanish by symmetry
  cheb[0] = 0.5;
  return sigmoid_approximation(fit_family::chebyshev, chebyshev_series(std::move(cheb), -radius, radius),
                               detail::fit_name("chebyshev", degree, radius));
}

/// The best uniform (minimax) approximation of σ on [−R, R] of the given degree, by the Remez
/// exchange (Remez 1934; approx::remez_odd). When the error reaches rounding level (degree 31 on
/// small R) the exchange stops at its best levelled reference.
/// @throws hefl::invalid_argument if degree is outside [1, 31] or R is not in (0, 1e6].
[[nodiscard]] inline sigmoid_approximation fit_minimax(int degree, double radius) {
  detail::check_family_args(degree, radius, "fit_minimax");
  const long double r = radius;
  const remez_result rr = remez_odd(
      [r](long double t) {
        // σ(rt) − 1/2 = tanh(rt/2)/2: odd and accurate near 0
        return std::tanh(r * t / 2.0L) / 2.0L;
      },
      degree);
  std::vector<double> cheb = rr.chebyshev;
  cheb[0] = 0.5;
  return sigmoid_approximation(fit_family::minimax, chebyshev_series(std::move(cheb), -radius, radius),
                               detail::fit_name("minimax", degree, radius));
}

/// A fixed power-basis fit (e.g. approx::paper_sigmoid3()) in the Chebyshev basis of its own interval,
/// named with that interval.
/// @throws hefl::invalid_argument as chebyshev_series.
[[nodiscard]] inline sigmoid_approximation fixed_fit(const polynomial_sigmoid& p) {
  std::string name = p.name();
  if (name.find('[') == std::string::npos) name += detail::interval_suffix(p.lo(), p.hi());
  return sigmoid_approximation(fit_family::fixed, chebyshev_series::from_power(p.coefficients(), p.lo(), p.hi()),
                               std::move(name));
}

/// The literature's fixed fits, named with their interval: paper-deg3[-5,5] (the seed paper's
/// TenSEAL tutorial cubic) and idash-deg3/5/7[-8,8] (Kim et al. 2018).
[[nodiscard]] inline std::vector<sigmoid_approximation> literature_fits() {
  return {fixed_fit(paper_sigmoid3()), fixed_fit(idash_sigmoid3()), fixed_fit(idash_sigmoid5()),
          fixed_fit(idash_sigmoid7())};
}

/// fit_<family>(degree, R) chosen at run time, for command lines and benchmark loops (the weighted
/// fits need a density or a sample, so they are not offered here).
/// @throws hefl::invalid_argument for fit_family::weighted_least_squares or fit_family::fixed, and as
///         the chosen fit.
[[nodiscard]] inline sigmoid_approximation fit(fit_family family, int degree, double radius) {
  switch (family) {
    case fit_family::taylor: return fit_taylor(degree, radius);
    case fit_family::least_squares: return fit_least_squares(degree, radius);
    case fit_family::chebyshev: return fit_chebyshev(degree, radius);
    case fit_family::minimax: return fit_minimax(degree, radius);
    default: break;
  }
  throw invalid_argument("approx::fit: family " + std::string(family_name(family)) +
                         " needs its own arguments (fit_weighted_least_squares, fit_sample_least_squares, fixed_fit)");
}

} // namespace hefl::approx
