#pragma once
/// @file
/// Fitting polynomial sigmoids: Taylor series at 0, discrete least squares on a uniform grid, and
/// Chebyshev interpolation. Each fit returns an approx::polynomial_sigmoid in the power basis, ready
/// for approx::evaluate. The degree decides the multiplicative depth (approx::multiplicative_depth),
/// the interval decides where the fit is accurate: keep w·x+b inside it.

#include <hefl/approx/chebyshev.hpp>
#include <hefl/approx/sigmoid.hpp>
#include <hefl/core/error.hpp>

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numbers>
#include <string>
#include <vector>

namespace hefl::approx {

/// Highest degree the fits accept. Beyond it the power basis loses every digit on intervals like
/// [-8, 8], and no CKKS chain of practical length has the depth (ceil(log2 32) = 6 levels already).
inline constexpr int max_fit_degree = 31;
/// Most grid points least_squares_sigmoid and max_error accept (bounds their memory and time).
inline constexpr std::size_t max_fit_samples = 1000000;

namespace detail {

inline void check_degree(int degree, const char* fit) {
  if (degree < 1 || degree > max_fit_degree)
    throw invalid_argument(std::string("approx::") + fit + ": degree must be in [1, " +
                           std::to_string(max_fit_degree) + "], got " + std::to_string(degree));
}

inline void check_interval(double lo, double hi, const char* fit) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || !(lo < hi))
    throw invalid_argument(std::string("approx::") + fit + ": interval [" + std::to_string(lo) + ", " +
                           std::to_string(hi) + "] is empty or not finite");
}

inline std::string interval_suffix(double lo, double hi) {
  auto fmt = [](double v) {
    std::string s = std::to_string(v);
    s.erase(s.find_last_not_of('0') + 1);
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
  };
  return "[" + fmt(lo) + "," + fmt(hi) + "]";
}

// The sigmoid minus 1/2 is odd, so on an interval symmetric about 0 only odd Chebyshev terms appear:
// fitting those alone halves the unknowns and makes the even power coefficients exactly zero.
inline bool symmetric(double lo, double hi) { return lo == -hi; }

} // namespace detail

/// Taylor polynomial of the sigmoid at 0 up to @p degree: 1/2 + x/4 - x^3/48 + x^5/480 - ...
/// The series converges only for |x| < π, so the fit is for small inputs; [lo, hi] just records
/// the interval the caller means to use it on.
/// @throws hefl::invalid_argument if degree is outside [1, 31] or [lo, hi] is empty or not finite.
[[nodiscard]] inline polynomial_sigmoid taylor_sigmoid(int degree, double lo = -2.0, double hi = 2.0) {
  detail::check_degree(degree, "taylor_sigmoid");
  detail::check_interval(lo, hi, "taylor_sigmoid");
  // Coefficients from the Riccati equation σ' = σ(1 − σ): (k+1) a_{k+1} = a_k − Σ_{i+j=k} a_i a_j.
  std::vector<double> a(static_cast<std::size_t>(degree) + 1, 0.0);
  a[0] = 0.5;
  for (std::size_t k = 0; k + 1 < a.size(); ++k) {
    double square = 0.0;
    for (std::size_t i = 0; i <= k; ++i) square += a[i] * a[k - i];
    a[k + 1] = (a[k] - square) / static_cast<double>(k + 1);
  }
  return polynomial_sigmoid(std::move(a), lo, hi, "taylor-deg" + std::to_string(degree));
}

/// Discrete least-squares fit of the sigmoid on @p samples equally spaced points of [lo, hi] (as the
/// iDASH 2017 fits of Kim et al., BMC Med. Genomics 2018). Solved by Householder QR on a Chebyshev
/// basis scaled to [-1, 1], whose columns are nearly orthogonal (the monomial Vandermonde matrix is
/// not), then converted to the power basis.
/// @throws hefl::invalid_argument if degree is outside [1, 31], [lo, hi] is empty or not finite, or
///         samples is below degree + 1 or above max_fit_samples.
[[nodiscard]] inline polynomial_sigmoid least_squares_sigmoid(int degree, double lo, double hi,
                                                              std::size_t samples = 2001) {
  detail::check_degree(degree, "least_squares_sigmoid");
  detail::check_interval(lo, hi, "least_squares_sigmoid");
  const auto terms = static_cast<std::size_t>(degree) + 1;
  if (samples < terms || samples > max_fit_samples)
    throw invalid_argument("approx::least_squares_sigmoid: samples must be in [degree + 1 = " + std::to_string(terms) +
                           ", " + std::to_string(max_fit_samples) + "], got " + std::to_string(samples));
  const bool odd_only = detail::symmetric(lo, hi);
  std::vector<std::size_t> basis;
  for (std::size_t k = odd_only ? 1 : 0; k < terms; k += odd_only ? 2 : 1) basis.push_back(k);

  const exact_sigmoid sigmoid;
  Eigen::MatrixXd a(static_cast<Eigen::Index>(samples), static_cast<Eigen::Index>(basis.size()));
  Eigen::VectorXd y(static_cast<Eigen::Index>(samples));
  std::vector<double> t_pows(terms);
  for (std::size_t s = 0; s < samples; ++s) {
    const double t = -1.0 + 2.0 * static_cast<double>(s) / static_cast<double>(samples - 1);
    const double x = 0.5 * (hi + lo) + 0.5 * (hi - lo) * t;
    t_pows[0] = 1.0;
    if (terms > 1) t_pows[1] = t;
    for (std::size_t k = 2; k < terms; ++k) t_pows[k] = 2.0 * t * t_pows[k - 1] - t_pows[k - 2];
    const auto row = static_cast<Eigen::Index>(s);
    for (std::size_t c = 0; c < basis.size(); ++c) a(row, static_cast<Eigen::Index>(c)) = t_pows[basis[c]];
    y(row) = sigmoid(x) - (odd_only ? 0.5 : 0.0);
  }
  const Eigen::VectorXd solution = a.householderQr().solve(y);
  std::vector<long double> cheb(terms, 0.0L);
  for (std::size_t c = 0; c < basis.size(); ++c) cheb[basis[c]] = solution(static_cast<Eigen::Index>(c));
  if (odd_only) cheb[0] = 0.5L;
  std::vector<double> power = detail::chebyshev_to_power(cheb, lo, hi);
  if (odd_only)
    for (std::size_t k = 2; k < power.size(); k += 2) power[k] = 0.0;
  return polynomial_sigmoid(std::move(power), lo, hi,
                            "least-squares-deg" + std::to_string(degree) + detail::interval_suffix(lo, hi));
}

/// Chebyshev interpolant of the sigmoid at the degree + 1 Chebyshev points of the first kind mapped
/// to [lo, hi] (Mason & Handscomb, "Chebyshev Polynomials", 2003, §6.3: near-minimax, error falls
/// geometrically with the degree for an analytic function), converted to the power basis.
/// @throws hefl::invalid_argument if degree is outside [1, 31] or [lo, hi] is empty or not finite.
[[nodiscard]] inline polynomial_sigmoid chebyshev_sigmoid(int degree, double lo, double hi) {
  detail::check_degree(degree, "chebyshev_sigmoid");
  detail::check_interval(lo, hi, "chebyshev_sigmoid");
  const auto terms = static_cast<std::size_t>(degree) + 1;
  const bool odd_only = detail::symmetric(lo, hi);
  const exact_sigmoid sigmoid;
  std::vector<long double> f(terms), theta(terms);
  for (std::size_t j = 0; j < terms; ++j) {
    theta[j] = std::numbers::pi_v<long double> * (static_cast<long double>(j) + 0.5L) / static_cast<long double>(terms);
    const double x = 0.5 * (hi + lo) + 0.5 * (hi - lo) * static_cast<double>(std::cos(theta[j]));
    f[j] = sigmoid(x) - (odd_only ? 0.5 : 0.0);
  }
  // Discrete orthogonality of cos(kθ_j) at these nodes gives the coefficients directly.
  std::vector<long double> cheb(terms, 0.0L);
  for (std::size_t k = 0; k < terms; ++k) {
    if (odd_only && k % 2 == 0) continue;
    long double sum = 0.0L;
    for (std::size_t j = 0; j < terms; ++j) sum += f[j] * std::cos(static_cast<long double>(k) * theta[j]);
    cheb[k] = (k == 0 ? 1.0L : 2.0L) * sum / static_cast<long double>(terms);
  }
  if (odd_only) cheb[0] = 0.5L;
  std::vector<double> power = detail::chebyshev_to_power(cheb, lo, hi);
  if (odd_only)
    for (std::size_t k = 2; k < power.size(); k += 2) power[k] = 0.0;
  return polynomial_sigmoid(std::move(power), lo, hi,
                            "chebyshev-deg" + std::to_string(degree) + detail::interval_suffix(lo, hi));
}

/// Largest |poly(x) − f(x)| over @p samples equally spaced points of [lo, hi], both ends included.
/// @tparam F callable double -> double (e.g. approx::exact_sigmoid).
/// @throws hefl::invalid_argument if [lo, hi] is empty or not finite or samples is outside
///         [2, max_fit_samples].
template <class F>
[[nodiscard]] double max_error(const polynomial_sigmoid& poly, const F& f, double lo, double hi,
                               std::size_t samples = 10001) {
  detail::check_interval(lo, hi, "max_error");
  if (samples < 2 || samples > max_fit_samples)
    throw invalid_argument("approx::max_error: samples must be in [2, " + std::to_string(max_fit_samples) + "], got " +
                           std::to_string(samples));
  double worst = 0.0;
  for (std::size_t s = 0; s < samples; ++s) {
    const double x = s + 1 == samples ? hi : lo + (hi - lo) * static_cast<double>(s) / static_cast<double>(samples - 1);
    worst = std::max(worst, std::abs(poly(x) - static_cast<double>(f(x))));
  }
  return worst;
}

} // namespace hefl::approx
