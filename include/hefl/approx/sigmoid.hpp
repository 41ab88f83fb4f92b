#pragma once
/// @file
/// Sigmoid policies for logistic regression. The exact sigmoid is for plaintext runs only; under
/// encryption the sigmoid must be a polynomial, whose degree decides the multiplicative depth.

#include <hefl/core/error.hpp>

#include <cmath>
#include <concepts>
#include <string>
#include <utility>
#include <vector>

namespace hefl::approx {

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

static_assert(sigmoid_policy<exact_sigmoid>);
static_assert(sigmoid_policy<polynomial_sigmoid>);

} // namespace hefl::approx
