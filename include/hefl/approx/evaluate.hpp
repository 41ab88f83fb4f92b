#pragma once
/// @file
/// Evaluating a polynomial (a polynomial sigmoid) on a ciphertext with the least multiplicative depth:
/// a polynomial of degree d costs ceil(log2(d + 1)) levels, counting ciphertext products and the
/// products by non-integer coefficients, which consume a level in CKKS as they do in he::plain_backend.
///
/// The plan splits p(x) = q(x) · x^(2^m) + r(x) with 2^m <= d < 2^(m+1) and recurses on q and r, as in
/// the giant steps of Paterson–Stockmeyer ("On the number of nonscalar multiplications necessary to
/// evaluate polynomials", SIAM J. Comput. 1973) restricted to powers of two. The powers x^(2^i) come from
/// repeated squaring (depth i); a coefficient multiplies the lowest power it meets (c · x, depth 1)
/// instead of a finished product, so it never adds a level on top of one.

#include <hefl/approx/sigmoid.hpp>
#include <hefl/core/error.hpp>
#include <hefl/he/backend.hpp>

#include <bit>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace hefl::approx {

namespace detail {

template <class Backend>
typename Backend::ciphertext_type add_constant(const Backend& backend, const typename Backend::ciphertext_type& c,
                                               double value) {
  const std::vector<double> constant(backend.slot_count(), value);
  return backend.add_plain(c, constant);
}

template <class Backend>
class polynomial_plan {
public:
  using ciphertext = typename Backend::ciphertext_type;

  polynomial_plan(const Backend& backend, const ciphertext& x, std::size_t degree) : m_backend(backend) {
    m_powers.reserve(static_cast<std::size_t>(multiplicative_depth(degree)));
    m_powers.push_back(x);
    for (std::size_t p = 2; p <= degree; p *= 2) m_powers.push_back(m_backend.multiply(m_powers.back(), m_powers.back()));
  }

  // p has degree >= 1 (non-zero last coefficient); the result includes p's constant term.
  ciphertext evaluate(std::span<const double> p) const {
    const std::size_t d = p.size() - 1;
    const int m = static_cast<int>(std::bit_width(d)) - 1;
    const std::size_t split = std::size_t{1} << m;
    const std::span<const double> q = p.subspan(split);
    ciphertext result = q.size() == 1 ? m_backend.multiply_scalar(m_powers[static_cast<std::size_t>(m)], q[0])
                                      : m_backend.multiply(evaluate(q), m_powers[static_cast<std::size_t>(m)]);
    const std::span<const double> r = trim(p.first(split));
    if (r.size() > 1) m_backend.add_inplace(result, evaluate(r));
    else if (r[0] != 0.0) result = add_constant(m_backend, result, r[0]);
    return result;
  }

  static std::span<const double> trim(std::span<const double> p) {
    std::size_t n = p.size();
    while (n > 1 && p[n - 1] == 0.0) --n;
    return p.first(n);
  }

private:
  const Backend& m_backend;
  std::vector<ciphertext> m_powers;  // x^(2^i) at depth i
};

} // namespace detail

/// Evaluates the polynomial Σ coefficients[k] x^k slot-wise on @p x, consuming exactly
/// multiplicative_depth(degree) levels (degree after dropping zero leading coefficients). Needs no
/// key material beyond evaluation keys: a server role (he::ckks_server) evaluates it.
/// @tparam Backend a he::arithmetic_evaluator (every he::arithmetic_backend is one).
/// @throws hefl::depth_exhausted before any homomorphic operation if backend.level(x) is below
///         multiplicative_depth(degree), e.g. "level 1 < 2 required by degree-3 polynomial".
/// @throws hefl::invalid_argument if coefficients is empty or has a non-finite entry; whatever the
///         backend throws otherwise.
template <class Backend>
[[nodiscard]] typename Backend::ciphertext_type evaluate_polynomial(const Backend& backend,
                                                                    const typename Backend::ciphertext_type& x,
                                                                    std::span<const double> coefficients) {
  static_assert(he::arithmetic_evaluator<Backend>,
                "hefl: approx::evaluate needs a party that multiplies ciphertexts (he::arithmetic_evaluator); "
                "an additive-only backend cannot evaluate a polynomial sigmoid: see docs/backends.md");
  if (coefficients.empty()) throw invalid_argument("approx::evaluate: the polynomial has no coefficients");
  for (std::size_t k = 0; k < coefficients.size(); ++k)
    if (!std::isfinite(coefficients[k]))
      throw invalid_argument("approx::evaluate: coefficient " + std::to_string(k) + " is not finite");
  const std::span<const double> p = detail::polynomial_plan<Backend>::trim(coefficients);
  const std::size_t degree = p.size() - 1;
  const int required = multiplicative_depth(degree);
  const int level = static_cast<int>(backend.level(x));
  if (level < required)
    throw depth_exhausted("approx::evaluate: level " + std::to_string(level) + " < " + std::to_string(required) +
                          " required by degree-" + std::to_string(degree) + " polynomial");
  if (degree == 0) {
    // sub(x, x) is an encryption of zero at x's level, so a constant costs no level either.
    const typename Backend::ciphertext_type zero = backend.sub(x, x);
    return p[0] == 0.0 ? zero : detail::add_constant(backend, zero, p[0]);
  }
  const detail::polynomial_plan<Backend> plan(backend, x, degree);
  return plan.evaluate(p);
}

/// Evaluates a polynomial sigmoid on @p x slot-wise (see evaluate_polynomial for the plan and depth).
/// @tparam Backend a he::arithmetic_evaluator.
/// @throws hefl::depth_exhausted before any homomorphic operation if backend.level(x) is below
///         multiplicative_depth(sigmoid.degree()); whatever the backend throws otherwise.
template <class Backend>
[[nodiscard]] typename Backend::ciphertext_type evaluate(const Backend& backend,
                                                         const typename Backend::ciphertext_type& x,
                                                         const polynomial_sigmoid& sigmoid) {
  return evaluate_polynomial(backend, x, std::span<const double>(sigmoid.coefficients()));
}

} // namespace hefl::approx
