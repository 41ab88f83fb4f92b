#pragma once
/// @file
/// Sigmoid policies for logistic regression. The exact sigmoid is for plaintext runs only; under
/// encryption the sigmoid must be a polynomial, whose degree decides the multiplicative depth.

#include <hefl/core/error.hpp>

#include <bit>
#include <cmath>
#include <cstddef>
#include <concepts>
#include <string>
#include <utility>
#include <vector>

namespace hefl::approx {

/// Levels approx::evaluate consumes for a power-basis polynomial of degree @p degree:
/// ceil(log2(degree + 1)), i.e. 0 for a constant, 1 for degree 1, 2 for degrees 2-3, 3 for 4-7,
/// 4 for 8-15, 5 for 16-31.
[[nodiscard]] constexpr int multiplicative_depth(std::size_t degree) noexcept {
  return static_cast<int>(std::bit_width(degree));
}

/// A sigmoid policy: callable on a double, named, and telling whether it is a polynomial
/// (only polynomials can be evaluated on ciphertexts).
template <class S>
concept sigmoid_policy = requires(const S& s, double x) {
  { s(x) } -> std::convertible_to<double>;
  { s.name() } -> std::convertible_to<std::string>;
  { S::is_polynomial } -> std::convertible_to<bool>;
};

/// The logistic function 1 / (1 + e^-x), evaluated stably for large |x|. Plaintext only.
struct exact_sigmoid {
  static constexpr bool is_polynomial = false;
  [[nodiscard]] double operator()(double x) const noexcept {
    if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
    const double e = std::exp(x);
    return e / (1.0 + e);
  }
  [[nodiscard]] std::string name() const { return "exact"; }
};

/// A polynomial approximation of the sigmoid, c0 + c1 x + c2 x^2 + ..., valid on [lo, hi].
/// Outside the fitted interval the polynomial diverges from the sigmoid; callers keep w·x+b inside it
/// (L2 regularisation does, in the paper's setup).
class polynomial_sigmoid {
public:
  static constexpr bool is_polynomial = true;

  /// @param coefficients power-basis coefficients, lowest degree first.
  /// @param lo,hi the interval the fit is meant for.
  /// @throws hefl::invalid_argument if coefficients is empty, a coefficient is not finite, or lo >= hi.
  polynomial_sigmoid(std::vector<double> coefficients, double lo, double hi, std::string name = "polynomial")
      : m_coefficients(std::move(coefficients)), m_lo(lo), m_hi(hi), m_name(std::move(name)) {
    if (m_coefficients.empty()) throw invalid_argument("polynomial_sigmoid: no coefficients");
    for (double c : m_coefficients)
      if (!std::isfinite(c)) throw invalid_argument("polynomial_sigmoid: coefficient is not finite");
    if (!(lo < hi))
      throw invalid_argument("polynomial_sigmoid: interval [" + std::to_string(lo) + ", " + std::to_string(hi) +
                             "] is empty");
    while (m_coefficients.size() > 1 && m_coefficients.back() == 0.0) m_coefficients.pop_back();
  }

  /// Horner evaluation.
  [[nodiscard]] double operator()(double x) const noexcept {
    double r = 0.0;
    for (auto it = m_coefficients.rbegin(); it != m_coefficients.rend(); ++it) r = r * x + *it;
    return r;
  }
  [[nodiscard]] const std::vector<double>& coefficients() const noexcept { return m_coefficients; }
  [[nodiscard]] std::size_t degree() const noexcept { return m_coefficients.size() - 1; }
  [[nodiscard]] double lo() const noexcept { return m_lo; }
  [[nodiscard]] double hi() const noexcept { return m_hi; }
  /// Levels approx::evaluate consumes on this polynomial (power-basis plan): multiplicative_depth(degree()).
  [[nodiscard]] int depth() const noexcept { return multiplicative_depth(degree()); }
  [[nodiscard]] std::string name() const { return m_name; }

private:
  std::vector<double> m_coefficients;
  double m_lo, m_hi;
  std::string m_name;
};

/// The seed paper's sigmoid (TenSEAL encrypted-LR tutorial): 0.5 + 0.197x − 0.004x³, fitted for [−5, 5].
[[nodiscard]] inline polynomial_sigmoid paper_sigmoid3() {
  return polynomial_sigmoid({0.5, 0.197, 0.0, -0.004}, -5.0, 5.0, "paper-deg3");
}

/// iDASH 2017 least-squares fits on [−8, 8] (Kim, Song, Kim, Lee, Cheon: "Logistic regression model
/// training based on the approximate homomorphic encryption", BMC Med. Genomics 2018).
[[nodiscard]] inline polynomial_sigmoid idash_sigmoid3() {
  return polynomial_sigmoid({0.5, 0.15012, 0.0, -0.001593}, -8.0, 8.0, "idash-deg3");
}
/// @copydoc idash_sigmoid3
[[nodiscard]] inline polynomial_sigmoid idash_sigmoid5() {
  return polynomial_sigmoid({0.5, 0.19131, 0.0, -0.0045963, 0.0, 4.12332e-5}, -8.0, 8.0, "idash-deg5");
}
/// @copydoc idash_sigmoid3
[[nodiscard]] inline polynomial_sigmoid idash_sigmoid7() {
  return polynomial_sigmoid({0.5, 0.216884, 0.0, -0.00819276, 0.0, 1.65861e-4, 0.0, -1.19581e-6}, -8.0, 8.0,
                            "idash-deg7");
}

/// A sigmoid that can be evaluated on ciphertexts: a sigmoid_policy with is_polynomial == true that
/// tells its degree, its power-basis coefficients (lowest first), the interval [lo, hi] it is fitted
/// on and the multiplicative depth its evaluation by approx::evaluate consumes. The encrypted
/// training modes require it. Satisfied by approx::polynomial_sigmoid and approx::sigmoid_approximation.
template <class S>
concept polynomial_sigmoid_policy = sigmoid_policy<S> && S::is_polynomial && requires(const S& s) {
  { s.degree() } -> std::convertible_to<std::size_t>;
  { s.coefficients() } -> std::convertible_to<std::vector<double>>;
  { s.lo() } -> std::convertible_to<double>;
  { s.hi() } -> std::convertible_to<double>;
  { s.depth() } -> std::convertible_to<int>;
};

/// Checks the polynomial_sigmoid_policy requirements one at a time, so a failing type is told in one
/// sentence which piece it lacks. Use as `static_assert(check_polynomial_sigmoid_policy<S>());`.
template <class S>
consteval bool check_polynomial_sigmoid_policy() {
  static_assert(sigmoid_policy<S>,
                "hefl: the sigmoid is not an approx::sigmoid_policy (needs operator()(double), name() and "
                "is_polynomial): see docs/approximations.md");
  if constexpr (sigmoid_policy<S>) {
    static_assert(S::is_polynomial,
                  "hefl: only a polynomial sigmoid can be evaluated on ciphertexts (approx::exact_sigmoid is for "
                  "plaintext training; use e.g. approx::fit_chebyshev(7, 8.0)): see docs/approximations.md");
    if constexpr (S::is_polynomial) {
      static_assert(requires(const S& s) {
        { s.degree() } -> std::convertible_to<std::size_t>;
      }, "hefl: the polynomial sigmoid has no `degree() const`: see docs/approximations.md");
      static_assert(requires(const S& s) {
        { s.coefficients() } -> std::convertible_to<std::vector<double>>;
      }, "hefl: the polynomial sigmoid has no `coefficients() const` (power basis, lowest degree first): see "
         "docs/approximations.md");
      static_assert(requires(const S& s) {
        { s.lo() } -> std::convertible_to<double>;
        { s.hi() } -> std::convertible_to<double>;
      }, "hefl: the polynomial sigmoid does not tell its interval (`lo() const`, `hi() const`), so inputs outside "
         "it cannot be counted: see docs/approximations.md");
      static_assert(requires(const S& s) {
        { s.depth() } -> std::convertible_to<int>;
      }, "hefl: the polynomial sigmoid has no `depth() const`, so its levels cannot be planned before encrypting: "
         "see docs/approximations.md");
    }
  }
  return true;
}

static_assert(sigmoid_policy<exact_sigmoid>);
static_assert(sigmoid_policy<polynomial_sigmoid>);
static_assert(polynomial_sigmoid_policy<polynomial_sigmoid>);
static_assert(!polynomial_sigmoid_policy<exact_sigmoid>);

} // namespace hefl::approx
