#pragma once
/// @file
/// Polynomials in the Chebyshev basis on an interval [lo, hi]: p(x) = Σ c_k T_k(t) with
/// t = (2x − lo − hi) / (hi − lo) in [−1, 1]. On [−1, 1] every |T_k| <= 1, so the size of a
/// coefficient is the size of its contribution; in the power basis the same polynomial has large
/// coefficients of alternating sign that cancel, which is what amplifies CKKS noise (see
/// docs/approximations.md). Conversions to and from the power basis are here for compatibility.

#include <hefl/core/error.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

namespace hefl::approx {

namespace detail {

inline void check_unit_interval(double lo, double hi, const char* who) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || !(lo < hi))
    throw invalid_argument(std::string("approx::") + who + ": interval [" + std::to_string(lo) + ", " +
                           std::to_string(hi) + "] is empty or not finite");
}

/// Converts Σ c_k T_k(t), t = (2x - lo - hi) / (hi - lo), to power-basis coefficients in x. The
/// Chebyshev polynomials' integer power coefficients come from T_{k+1} = 2t T_k - T_{k-1}; the affine
/// substitution expands (a x + b)^j binomially. long double keeps the cancellation error small.
inline std::vector<double> chebyshev_to_power(const std::vector<long double>& c, double lo, double hi) {
  const std::size_t n = c.size();
  std::vector<long double> in_t(n, 0.0L);
  std::vector<long double> t_prev(n, 0.0L), t_cur(n, 0.0L), t_next(n, 0.0L);
  t_cur[0] = 1.0L;  // T_0
  for (std::size_t k = 0; k < n; ++k) {
    for (std::size_t j = 0; j <= k; ++j) in_t[j] += c[k] * t_cur[j];
    if (k + 1 == n) break;
    std::fill(t_next.begin(), t_next.end(), 0.0L);
    for (std::size_t j = 0; j + 1 < n; ++j) t_next[j + 1] = (k == 0 ? 1.0L : 2.0L) * t_cur[j];
    if (k > 0)
      for (std::size_t j = 0; j < n; ++j) t_next[j] -= t_prev[j];
    std::swap(t_prev, t_cur);
    std::swap(t_cur, t_next);
  }
  const long double a = 2.0L / (static_cast<long double>(hi) - static_cast<long double>(lo));
  const long double b = -(static_cast<long double>(hi) + static_cast<long double>(lo)) /
                        (static_cast<long double>(hi) - static_cast<long double>(lo));
  std::vector<long double> in_x(n, 0.0L);
  std::vector<long double> binom(n, 0.0L);  // row j of Pascal's triangle
  for (std::size_t j = 0; j < n; ++j) {
    for (std::size_t i = j; i > 0; --i) binom[i] += binom[i - 1];
    binom[0] = 1.0L;
    for (std::size_t i = 0; i <= j; ++i)
      in_x[i] += in_t[j] * binom[i] * std::pow(a, static_cast<long double>(i)) *
                 std::pow(b, static_cast<long double>(j - i));
  }
  std::vector<double> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<double>(in_x[i]);
  return out;
}

/// Chebyshev points of the first kind, θ_j = π (j + 1/2) / n, j < n.
inline std::vector<long double> chebyshev_angles(std::size_t n) {
  std::vector<long double> theta(n);
  for (std::size_t j = 0; j < n; ++j)
    theta[j] = std::numbers::pi_v<long double> * (static_cast<long double>(j) + 0.5L) / static_cast<long double>(n);
  return theta;
}

/// Coefficients of the degree n-1 interpolant through the values f_j at cos θ_j (discrete
/// orthogonality of cos(kθ) at the Chebyshev points: Mason & Handscomb, "Chebyshev Polynomials", §6.3).
inline std::vector<long double> chebyshev_transform(const std::vector<long double>& f,
                                                    const std::vector<long double>& theta) {
  const std::size_t n = f.size();
  std::vector<long double> c(n, 0.0L);
  for (std::size_t k = 0; k < n; ++k) {
    long double sum = 0.0L;
    for (std::size_t j = 0; j < n; ++j) sum += f[j] * std::cos(static_cast<long double>(k) * theta[j]);
    c[k] = (k == 0 ? 1.0L : 2.0L) * sum / static_cast<long double>(n);
  }
  return c;
}

} // namespace detail

/// Σ c_k T_k(t) at t in [−1, 1] by Clenshaw's recurrence (stable for any t in [−1, 1]).
[[nodiscard]] inline double clenshaw(const std::vector<double>& c, double t) noexcept {
  long double b1 = 0.0L, b2 = 0.0L;
  for (std::size_t k = c.size(); k-- > 1;) {
    const long double b0 = 2.0L * t * b1 - b2 + c[k];
    b2 = b1;
    b1 = b0;
  }
  return c.empty() ? 0.0 : static_cast<double>(t * b1 - b2 + c[0]);
}

/// A polynomial Σ c_k T_k(t) on [lo, hi], t = (2x − lo − hi) / (hi − lo).
class chebyshev_series {
public:
  /// @param coefficients c_0..c_d of T_0..T_d (trailing zeros are dropped; at least one entry).
  /// @throws hefl::invalid_argument if coefficients is empty or has a non-finite entry, or [lo, hi]
  ///         is empty or not finite.
  chebyshev_series(std::vector<double> coefficients, double lo, double hi)
      : m_c(std::move(coefficients)), m_lo(lo), m_hi(hi) {
    detail::check_unit_interval(lo, hi, "chebyshev_series");
    if (m_c.empty()) throw invalid_argument("approx::chebyshev_series: no coefficients");
    for (std::size_t k = 0; k < m_c.size(); ++k)
      if (!std::isfinite(m_c[k]))
        throw invalid_argument("approx::chebyshev_series: coefficient " + std::to_string(k) + " is not finite");
    while (m_c.size() > 1 && m_c.back() == 0.0) m_c.pop_back();
  }

  /// The Chebyshev expansion on [lo, hi] of the power-basis polynomial Σ a_k x^k, by interpolation
  /// at degree + 1 Chebyshev points in long double (exact up to rounding for a polynomial).
  /// @throws hefl::invalid_argument as the constructor.
  [[nodiscard]] static chebyshev_series from_power(const std::vector<double>& power, double lo, double hi) {
    detail::check_unit_interval(lo, hi, "chebyshev_series::from_power");
    if (power.empty()) throw invalid_argument("approx::chebyshev_series::from_power: no coefficients");
    const std::vector<long double> theta = detail::chebyshev_angles(power.size());
    std::vector<long double> f(power.size());
    for (std::size_t j = 0; j < f.size(); ++j) {
      const long double x = 0.5L * (static_cast<long double>(hi) + lo) +
                            0.5L * (static_cast<long double>(hi) - lo) * std::cos(theta[j]);
      long double r = 0.0L;
      for (std::size_t k = power.size(); k-- > 0;) r = r * x + power[k];
      f[j] = r;
    }
    const std::vector<long double> c = detail::chebyshev_transform(f, theta);
    std::vector<double> out(c.begin(), c.end());
    // On a symmetric interval x^k maps to (R·t)^k, which has only T_j of k's parity: keep the
    // parities exact instead of leaving rounding residue that would cost products to evaluate.
    if (lo == -hi) {
      bool has_even = false, has_odd = false;
      for (std::size_t k = 1; k < power.size(); ++k) (k % 2 == 0 ? has_even : has_odd) |= power[k] != 0.0;
      if (!has_even) {
        for (std::size_t k = 2; k < out.size(); k += 2) out[k] = 0.0;
        out[0] = power[0];
      }
      if (!has_odd)
        for (std::size_t k = 1; k < out.size(); k += 2) out[k] = 0.0;
    }
    return chebyshev_series(std::move(out), lo, hi);
  }

  /// p(x); outside [lo, hi] the same polynomial, extrapolated.
  [[nodiscard]] double operator()(double x) const noexcept { return clenshaw(m_c, to_unit(x)); }
  /// t = (2x − lo − hi) / (hi − lo), the argument of the T_k.
  [[nodiscard]] double to_unit(double x) const noexcept { return unit_scale() * x + unit_shift(); }
  /// a in t = a·x + b: 2 / (hi − lo).
  [[nodiscard]] double unit_scale() const noexcept { return 2.0 / (m_hi - m_lo); }
  /// b in t = a·x + b: −(hi + lo) / (hi − lo), zero on a symmetric interval.
  [[nodiscard]] double unit_shift() const noexcept { return m_lo == -m_hi ? 0.0 : -(m_hi + m_lo) / (m_hi - m_lo); }

  [[nodiscard]] const std::vector<double>& coefficients() const noexcept { return m_c; }
  [[nodiscard]] std::size_t degree() const noexcept { return m_c.size() - 1; }
  [[nodiscard]] double lo() const noexcept { return m_lo; }
  [[nodiscard]] double hi() const noexcept { return m_hi; }
  /// The same polynomial in the power basis of x, lowest degree first.
  [[nodiscard]] std::vector<double> power_coefficients() const {
    return detail::chebyshev_to_power(std::vector<long double>(m_c.begin(), m_c.end()), m_lo, m_hi);
  }

private:
  std::vector<double> m_c;
  double m_lo, m_hi;
};

} // namespace hefl::approx
