#pragma once
/// @file
/// approx::sigmoid_approximation: a polynomial sigmoid kept in the Chebyshev basis of its interval,
/// with its fit error and its evaluation plan, so that degree, interval, error and depth are known
/// before anything is encrypted. approx::evaluate runs it on any he::arithmetic_backend through the
/// Chebyshev plan (approx/chebyshev_eval.hpp), which does not amplify CKKS noise.

#include <hefl/approx/chebyshev.hpp>
#include <hefl/approx/chebyshev_eval.hpp>
#include <hefl/approx/sigmoid.hpp>
#include <hefl/core/error.hpp>
#include <hefl/he/backend.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hefl::approx {

/// How an approximation was obtained (for reports; each family has its own fit_* function).
enum class fit_family { taylor, least_squares, weighted_least_squares, chebyshev, minimax, fixed };

/// "taylor", "least-squares", "weighted-least-squares", "chebyshev", "minimax" or "fixed".
[[nodiscard]] constexpr std::string_view family_name(fit_family f) noexcept {
  switch (f) {
    case fit_family::taylor: return "taylor";
    case fit_family::least_squares: return "least-squares";
    case fit_family::weighted_least_squares: return "weighted-least-squares";
    case fit_family::chebyshev: return "chebyshev";
    case fit_family::minimax: return "minimax";
    case fit_family::fixed: return "fixed";
  }
  return "unknown";
}

/// Points approx::sigmoid_approximation samples its interval at to measure the fit error.
inline constexpr std::size_t fit_error_samples = 20001;

/// A polynomial sigmoid in the Chebyshev basis on [lo, hi]. Satisfies polynomial_sigmoid_policy:
/// coefficients() gives the power basis for code that wants it (approx::evaluate_polynomial), but
/// approx::evaluate on this type evaluates in the Chebyshev basis.
class sigmoid_approximation {
public:
  static constexpr bool is_polynomial = true;

  /// @param depth_budget passed to chebyshev_plan (default: ceil(log2(d + 1)) + 1 levels).
  /// @throws hefl::invalid_argument as chebyshev_plan.
  sigmoid_approximation(fit_family family, chebyshev_series series, std::string name,
                        std::optional<int> depth_budget = std::nullopt)
      : m_family(family), m_series(std::move(series)), m_plan(m_series.coefficients(), depth_budget),
        m_name(std::move(name)) {
    const exact_sigmoid sigmoid;
    const double lo = m_series.lo(), hi = m_series.hi();
    for (std::size_t s = 0; s < fit_error_samples; ++s) {
      const double x = s + 1 == fit_error_samples
                           ? hi
                           : lo + (hi - lo) * static_cast<double>(s) / static_cast<double>(fit_error_samples - 1);
      m_max_error = std::max(m_max_error, std::fabs(m_series(x) - sigmoid(x)));
    }
  }

  /// p(x) (Clenshaw); outside [lo, hi] the polynomial extrapolated, which departs from the sigmoid.
  [[nodiscard]] double operator()(double x) const noexcept { return m_series(x); }
  [[nodiscard]] std::string name() const { return m_name; }
  [[nodiscard]] fit_family family() const noexcept { return m_family; }
  [[nodiscard]] std::size_t degree() const noexcept { return m_series.degree(); }
  [[nodiscard]] double lo() const noexcept { return m_series.lo(); }
  [[nodiscard]] double hi() const noexcept { return m_series.hi(); }
  [[nodiscard]] const chebyshev_series& series() const noexcept { return m_series; }
  /// c_k of T_k(t), t = (2x − lo − hi)/(hi − lo).
  [[nodiscard]] const std::vector<double>& chebyshev_coefficients() const noexcept { return m_series.coefficients(); }
  /// The same polynomial in the power basis of x, lowest degree first.
  [[nodiscard]] std::vector<double> coefficients() const { return m_series.power_coefficients(); }
  /// Largest |p(x) − σ(x)| over fit_error_samples equally spaced points of [lo, hi].
  [[nodiscard]] double max_error() const noexcept { return m_max_error; }
  /// The evaluation plan on t in [−1, 1].
  [[nodiscard]] const chebyshev_plan& plan() const noexcept { return m_plan; }
  /// Levels approx::evaluate consumes: the plan's, plus one for mapping x into [−1, 1] unless that
  /// is the identity.
  [[nodiscard]] int depth() const noexcept { return mapping_depth(m_series.unit_scale()) + m_plan.depth(); }
  /// Levels approx::evaluate_mapped consumes (the caller mapped x into [−1, 1], e.g. by folding
  /// unit_scale() into public weights).
  [[nodiscard]] int mapped_depth() const noexcept { return m_plan.depth(); }
  /// a and b of t = a·x + b.
  [[nodiscard]] double unit_scale() const noexcept { return m_series.unit_scale(); }
  [[nodiscard]] double unit_shift() const noexcept { return m_series.unit_shift(); }
  /// The power-basis form, for code written against approx::polynomial_sigmoid (its evaluation is
  /// the power-basis plan, which amplifies noise at high degree: prefer this type's evaluate).
  [[nodiscard]] polynomial_sigmoid to_polynomial_sigmoid() const {
    return polynomial_sigmoid(coefficients(), lo(), hi(), m_name);
  }

private:
  fit_family m_family;
  chebyshev_series m_series;
  chebyshev_plan m_plan;
  std::string m_name;
  double m_max_error = 0.0;
};

static_assert(polynomial_sigmoid_policy<sigmoid_approximation>);

/// σ(x) slot-wise for @p x anywhere in [lo, hi]: maps x into [−1, 1] (one product by a public
/// constant, see map_to_unit) and runs the Chebyshev plan; consumes s.depth() levels.
/// @tparam Backend a he::arithmetic_backend.
/// @throws hefl::depth_exhausted before any homomorphic operation if backend.level(x) < s.depth(),
///         e.g. "level 4 < 5 required by chebyshev-deg7[-8,8]".
/// @throws whatever the backend throws.
template <class Backend>
[[nodiscard]] typename Backend::ciphertext_type evaluate(const Backend& backend,
                                                         const typename Backend::ciphertext_type& x,
                                                         const sigmoid_approximation& s) {
  static_assert(he::arithmetic_backend<Backend>,
                "hefl: approx::evaluate needs a backend that multiplies ciphertexts (he::arithmetic_backend); "
                "an additive-only backend cannot evaluate a polynomial sigmoid: see docs/backends.md");
  const int level = static_cast<int>(backend.level(x));
  if (level < s.depth())
    throw depth_exhausted("approx::evaluate: level " + std::to_string(level) + " < " + std::to_string(s.depth()) +
                          " required by " + s.name());
  return s.plan().evaluate(backend, map_to_unit(backend, x, s.unit_scale(), s.unit_shift()));
}

/// σ slot-wise for @p t already mapped into [−1, 1] (t = s.unit_scale()·x + s.unit_shift(), e.g.
/// computed with weights pre-multiplied by unit_scale()); consumes s.mapped_depth() levels.
/// @tparam Backend a he::arithmetic_backend.
/// @throws hefl::depth_exhausted before any homomorphic operation if backend.level(t) < s.mapped_depth().
/// @throws whatever the backend throws.
template <class Backend>
[[nodiscard]] typename Backend::ciphertext_type evaluate_mapped(const Backend& backend,
                                                                const typename Backend::ciphertext_type& t,
                                                                const sigmoid_approximation& s) {
  static_assert(he::arithmetic_backend<Backend>,
                "hefl: approx::evaluate_mapped needs a backend that multiplies ciphertexts (he::arithmetic_backend): "
                "see docs/backends.md");
  return s.plan().evaluate(backend, t);
}

/// How many inputs fall outside a fitted interval (NaN counts as outside).
struct interval_count {
  std::size_t outside = 0;
  std::size_t total = 0;
  double largest_magnitude = 0.0;  ///< max |z| over the finite inputs
  /// outside / total (0 for no inputs).
  [[nodiscard]] double share() const noexcept {
    return total == 0 ? 0.0 : static_cast<double>(outside) / static_cast<double>(total);
  }
};

/// Counts the entries of @p z outside [lo, hi]. Under encryption nothing can clamp them: the
/// polynomial is evaluated there too and departs from the sigmoid (docs/approximations.md), so
/// callers that see z in clear (plaintext runs, or the key holder) report this share.
/// @throws hefl::invalid_argument if [lo, hi] is empty or not finite.
[[nodiscard]] inline interval_count count_outside(std::span<const double> z, double lo, double hi) {
  detail::check_unit_interval(lo, hi, "count_outside");
  interval_count r;
  r.total = z.size();
  for (const double v : z) {
    if (!(v >= lo && v <= hi)) ++r.outside;
    if (std::isfinite(v)) r.largest_magnitude = std::max(r.largest_magnitude, std::fabs(v));
  }
  return r;
}

/// count_outside on the interval @p s is fitted on.
/// @tparam S a polynomial_sigmoid_policy.
template <class S>
[[nodiscard]] interval_count count_outside(std::span<const double> z, const S& s) {
  static_assert(check_polynomial_sigmoid_policy<S>());
  return count_outside(z, static_cast<double>(s.lo()), static_cast<double>(s.hi()));
}

} // namespace hefl::approx
