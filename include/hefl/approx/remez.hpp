#pragma once
/// @file
/// The Remez exchange algorithm (E. Remez, "Sur la détermination des polynômes d'approximation de
/// degré donnée", Comm. Soc. Math. Kharkov 10, 1934) for the best uniform approximation of an odd
/// function on [−1, 1] by an odd polynomial Σ a_j T_{2j+1}(t). An odd function's best approximation
/// is odd, and the odd Chebyshev polynomials form a Haar system on (0, 1], so the exchange runs on
/// (0, 1] with K + 2 reference points for K + 1 coefficients (Powell, "Approximation Theory and
/// Methods", 1981, ch. 7-9). Long double throughout; the reference starts at the extrema of
/// T_{2K+3}, where the Chebyshev interpolant is already near-minimax.

#include <hefl/approx/chebyshev.hpp>
#include <hefl/core/error.hpp>

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numbers>
#include <vector>

namespace hefl::approx {

/// Outcome of remez_odd.
struct remez_result {
  std::vector<double> chebyshev;  ///< c_k of T_k(t), k = 0..2K+1 (even entries zero)
  double levelled_error = 0.0;    ///< |E| of the last reference (the alternating error)
  double max_error = 0.0;         ///< max |f − p| on the search grid of the last iteration
  int iterations = 0;
  bool converged = false;         ///< the extrema levelled to a relative spread below the tolerance
};

namespace detail {

inline long double odd_series(const std::vector<long double>& a, long double t) {
  // Σ a_j T_{2j+1}(t) via the full Clenshaw recurrence on the sparse coefficient vector.
  long double b1 = 0.0L, b2 = 0.0L;
  const std::size_t n = 2 * a.size();  // highest index 2K+1 -> n = 2K+2 entries
  for (std::size_t k = n; k-- > 1;) {
    const long double ck = (k % 2 == 1) ? a[k / 2] : 0.0L;
    const long double b0 = 2.0L * t * b1 - b2 + ck;
    b2 = b1;
    b1 = b0;
  }
  return t * b1 - b2;
}

} // namespace detail

/// Best uniform approximation of the odd function @p f on [−1, 1] by Σ_{j<=K} a_j T_{2j+1}, with
/// 2K+1 the largest odd number <= @p degree.
/// @tparam F callable long double -> long double, odd (f(−t) = −f(t)).
/// @param tolerance stop when (max − min)/max of |error| at the reference is below it.
/// @throws hefl::invalid_argument if degree < 1.
template <class F>
[[nodiscard]] remez_result remez_odd(const F& f, int degree, double tolerance = 1e-6, int max_iterations = 60) {
  if (degree < 1) throw invalid_argument("approx::remez_odd: degree must be >= 1, got " + std::to_string(degree));
  const std::size_t terms = static_cast<std::size_t>(degree + 1) / 2;  // K + 1
  const std::size_t points = terms + 1;                                 // K + 2
  using matrix = Eigen::Matrix<long double, Eigen::Dynamic, Eigen::Dynamic>;
  using vector = Eigen::Matrix<long double, Eigen::Dynamic, 1>;

  std::vector<long double> ref(points);
  for (std::size_t j = 0; j < points; ++j)
    ref[points - 1 - j] = std::cos(static_cast<long double>(j) * std::numbers::pi_v<long double> /
                                   static_cast<long double>(2 * terms + 1));
  const std::size_t grid = std::max<std::size_t>(4000, 400 * points);
  std::vector<long double> a(terms, 0.0L);
  remez_result out;
  std::vector<long double> best_a;
  long double best_max = INFINITY;

  for (int it = 1; it <= max_iterations; ++it) {
    matrix m(points, points);
    vector rhs(points);
    for (std::size_t i = 0; i < points; ++i) {
      const long double t = ref[i], theta = std::acos(std::clamp(t, -1.0L, 1.0L));
      for (std::size_t j = 0; j < terms; ++j) m(i, j) = std::cos(static_cast<long double>(2 * j + 1) * theta);
      m(i, terms) = (i % 2 == 0) ? 1.0L : -1.0L;
      rhs(i) = f(t);
    }
    const vector sol = m.partialPivLu().solve(rhs);
    for (std::size_t j = 0; j < terms; ++j) a[j] = sol(j);
    const long double levelled = std::fabs(sol(terms));
    auto err = [&](long double t) { return f(t) - detail::odd_series(a, t); };

    // Extrema of the error, one per sign segment, on a grid clustered towards 1 (where they crowd),
    // each refined by golden-section search between its grid neighbours.
    std::vector<long double> ts(grid + 1), es(grid + 1);
    for (std::size_t i = 0; i <= grid; ++i) {
      ts[i] = std::sin(std::numbers::pi_v<long double> / 2 * static_cast<long double>(i) / grid);
      es[i] = err(ts[i]);
    }
    std::vector<long double> ext_t, ext_e;
    std::size_t i = 1;
    long double grid_max = 0.0L;
    while (i <= grid) {
      const bool positive = es[i] >= 0;
      std::size_t best = i;
      std::size_t j = i;
      while (j <= grid && (es[j] >= 0) == positive) {
        if (std::fabs(es[j]) > std::fabs(es[best])) best = j;
        ++j;
      }
      long double lo = ts[best == 0 ? 0 : best - 1], hi = ts[std::min(best + 1, grid)];
      const long double g = (std::sqrt(5.0L) - 1) / 2;
      for (int s = 0; s < 80 && hi - lo > 1e-18L; ++s) {
        const long double x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo);
        if (std::fabs(err(x1)) > std::fabs(err(x2))) hi = x2;
        else lo = x1;
      }
      long double tb = (lo + hi) / 2, eb = err(tb);
      if (std::fabs(es[best]) > std::fabs(eb)) tb = ts[best], eb = es[best];
      ext_t.push_back(tb);
      ext_e.push_back(eb);
      grid_max = std::max(grid_max, std::fabs(eb));
      i = j;
    }
    out.iterations = it;
    if (grid_max < best_max) {
      best_max = grid_max;
      best_a = a;
      out.levelled_error = static_cast<double>(levelled);
      out.max_error = static_cast<double>(grid_max);
    }
    if (ext_t.size() < points) break;  // no alternation left to exchange (rounding level reached)
    while (ext_t.size() > points) {
      // Drop the smaller end: the remaining extrema still alternate in sign.
      if (std::fabs(ext_e.front()) < std::fabs(ext_e.back())) {
        ext_t.erase(ext_t.begin());
        ext_e.erase(ext_e.begin());
      } else {
        ext_t.pop_back();
        ext_e.pop_back();
      }
    }
    long double lo_e = INFINITY, hi_e = 0;
    for (const long double e : ext_e) lo_e = std::min(lo_e, std::fabs(e)), hi_e = std::max(hi_e, std::fabs(e));
    ref = ext_t;
    if (hi_e > 0 && (hi_e - lo_e) / hi_e < tolerance) {
      out.converged = true;
      break;
    }
  }
  out.chebyshev.assign(2 * terms, 0.0);
  for (std::size_t j = 0; j < terms; ++j) out.chebyshev[2 * j + 1] = static_cast<double>(best_a[j]);
  return out;
}

} // namespace hefl::approx
