#pragma once
/// @file
/// How the encrypted training modes evaluate a polynomial sigmoid: in the Chebyshev basis of its
/// interval [lo, hi], on t = a·z + s in [−1, 1] (a = 2/(hi − lo), s = −(hi + lo)/(hi − lo)), with the
/// baby-step giant-step plan of approx/chebyshev_eval.hpp. In the power basis the encryption noise on
/// the small high-degree coefficients is multiplied by |z|^(k−1) (issue 9: least-squares degree 15 on
/// [−8, 8] came out of CKKS with error 3.5e3); in the Chebyshev basis on [−1, 1] it is not.
///
/// The mapping costs no level where the mode allows: with public weights the compute party forms
/// t = Σ (a·w_j)·x_j + (a·b + s) directly; with encrypted weights the key holder encrypts a·θ, and
/// s is a plaintext addition. Only a caller holding encrypted parameters in natural units
/// (fl::encrypted_model_epoch) pays one scalar product for it.

#include <hefl/approx/chebyshev.hpp>
#include <hefl/approx/chebyshev_eval.hpp>
#include <hefl/approx/sigmoid.hpp>
#include <hefl/core/error.hpp>

#include <concepts>
#include <cstddef>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace hefl::fl {

/// A polynomial sigmoid prepared for encrypted evaluation: its Chebyshev series on [lo, hi] and the
/// evaluation plan on t in [−1, 1]. Cheap to copy.
class sigmoid_plan {
public:
  static constexpr bool is_polynomial = true;

  /// From a polynomial sigmoid policy @p s. An approx::sigmoid_approximation keeps its own series and
  /// plan (depth s.mapped_depth(), chosen with its own depth budget); any other polynomial (e.g.
  /// approx::paper_sigmoid3()) is converted from its power coefficients to the Chebyshev basis of
  /// [s.lo(), s.hi()] and planned within ceil(log2(d + 1)) levels, the depth its power-basis
  /// evaluation had, so a chain sized for it still fits.
  /// @tparam Sigmoid an approx::polynomial_sigmoid_policy.
  /// @throws hefl::invalid_argument if the interval is empty or not finite or a coefficient is not finite.
  template <class Sigmoid>
    requires(!std::same_as<std::remove_cvref_t<Sigmoid>, sigmoid_plan> &&
             !std::same_as<std::remove_cvref_t<Sigmoid>, approx::chebyshev_series>)
  explicit sigmoid_plan(const Sigmoid& s) : sigmoid_plan(make(s)) {}

  /// From a Chebyshev series, planned within @p depth_budget levels (default ceil(log2(d + 1)), the
  /// least possible).
  /// @throws hefl::invalid_argument as approx::chebyshev_plan.
  explicit sigmoid_plan(approx::chebyshev_series series, std::optional<int> depth_budget = std::nullopt,
                        std::string name = "polynomial")
      : m_series(std::move(series)),
        m_plan(m_series.coefficients(), depth_budget.value_or(approx::multiplicative_depth(m_series.degree()))),
        m_name(std::move(name)) {}

  /// p(x), evaluated in the clear (Clenshaw).
  [[nodiscard]] double operator()(double x) const noexcept { return m_series(x); }
  [[nodiscard]] const std::string& name() const noexcept { return m_name; }
  [[nodiscard]] std::size_t degree() const noexcept { return m_series.degree(); }
  [[nodiscard]] double lo() const noexcept { return m_series.lo(); }
  [[nodiscard]] double hi() const noexcept { return m_series.hi(); }
  /// a in t = a·z + s.
  [[nodiscard]] double scale() const noexcept { return m_series.unit_scale(); }
  /// s in t = a·z + s (0 on a symmetric interval).
  [[nodiscard]] double shift() const noexcept { return m_series.unit_shift(); }
  /// Levels the plan consumes on t (the mapping folded into the parameters costs none).
  [[nodiscard]] int depth() const noexcept { return m_plan.depth(); }
  [[nodiscard]] const approx::chebyshev_plan& plan() const noexcept { return m_plan; }
  [[nodiscard]] const approx::chebyshev_series& series() const noexcept { return m_series; }

  /// The plan of factor·p with the same depth (folds a learning rate into the coefficients).
  /// @throws hefl::invalid_argument if factor is not finite.
  [[nodiscard]] approx::chebyshev_plan scaled_plan(double factor) const {
    std::vector<double> c = m_plan.coefficients();
    for (double& v : c) v *= factor;
    return approx::chebyshev_plan(std::move(c), m_plan.depth());
  }

private:
  sigmoid_plan(approx::chebyshev_series series, approx::chebyshev_plan plan, std::string name)
      : m_series(std::move(series)), m_plan(std::move(plan)), m_name(std::move(name)) {}

  template <class Sigmoid>
  static sigmoid_plan make(const Sigmoid& s) {
    static_assert(approx::check_polynomial_sigmoid_policy<Sigmoid>());
    if constexpr (requires {
                    { s.series() } -> std::convertible_to<approx::chebyshev_series>;
                    { s.plan() } -> std::convertible_to<approx::chebyshev_plan>;
                  }) {
      return sigmoid_plan(s.series(), s.plan(), std::string(s.name()));
    } else {
      return sigmoid_plan(approx::chebyshev_series::from_power(std::vector<double>(s.coefficients()),
                                                               static_cast<double>(s.lo()), static_cast<double>(s.hi())),
                          std::nullopt, std::string(s.name()));
    }
  }

  approx::chebyshev_series m_series;
  approx::chebyshev_plan m_plan;
  std::string m_name;
};

/// Copies @p p (it is already a plan).
[[nodiscard]] inline sigmoid_plan make_sigmoid_plan(const sigmoid_plan& p) { return p; }
/// sigmoid_plan(s) for an approx::polynomial_sigmoid_policy.
template <class Sigmoid>
[[nodiscard]] sigmoid_plan make_sigmoid_plan(const Sigmoid& s) {
  return sigmoid_plan(s);
}

} // namespace hefl::fl
