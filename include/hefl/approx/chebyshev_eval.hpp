#pragma once
/// @file
/// Evaluating a polynomial given in the Chebyshev basis on a ciphertext whose slots lie in [−1, 1],
/// without amplifying the encryption noise: every intermediate value is a T_k(t) (|T_k| <= 1 on
/// [−1, 1]) or a partial sum bounded by the coefficients, so an error δ on t reaches the result as at
/// most Σ|c_k|·k²·δ (Markov's inequality |T_k'| <= k²) instead of the |x|^(k−1) growth of the power
/// basis on a wide interval (docs/approximations.md has the measurements).
///
/// The plan is baby-step giant-step in the Chebyshev basis (Paterson & Stockmeyer, SIAM J. Comput.
/// 1973; in the Chebyshev basis as in Han & Ki, CT-RSA 2020, Bossuat, Mouchet, Troncoso-Pastoriza,
/// Hubaux, EUROCRYPT 2021, and Lee, Lee, Kim, No, "High-precision bootstrapping", 2020): baby steps
/// T_1..T_{2^l − 1}, giant steps T_{2^l}, T_{2^(l+1)}, ..., T_{2^(m−1)} with 2^(m−1) <= d < 2^m, and
/// the recursive division p = q·T_{2^i} + r, which in the Chebyshev basis follows from
/// T_{n+k} = 2·T_k·T_n − T_{n−k}. The leaves (degree < 2^l) are linear combinations of baby steps.
/// Depth: at most m + 1 = ceil(log2(d + 1)) + 1; with l = 1 it is exactly m (at O(d) products).
/// The plan picks, among l = 1..m, the fewest ciphertext products within the depth budget
/// (default m + 1), which is O(√d) products for the default budget.
///
/// Depth is counted by running the same plan on a symbolic evaluator, so it equals the levels
/// consumed on he::plain_backend and on CKKS: every product by a coefficient consumes one level on
/// both (an integer coefficient, which CKKS would multiply for free, is split into a half-integer
/// product and doublings so that the count does not depend on the backend).

#include <hefl/core/error.hpp>
#include <hefl/he/backend.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace hefl::approx {

/// What a plan costs: levels consumed and operations performed.
struct chebyshev_plan_cost {
  int depth = 0;            ///< levels consumed on an input already in [−1, 1]
  int products = 0;         ///< ciphertext × ciphertext products (relinearised and rescaled)
  int scalar_products = 0;  ///< ciphertext × public constant products (one rescale each)
  int additions = 0;        ///< ciphertext additions and subtractions (constants not counted)
};

namespace detail {

// Depth-and-count only: the plan is run on this to choose it and to report its cost.
struct symbolic_ops {
  struct value {
    int depth = 0;
  };
  mutable chebyshev_plan_cost cost;
  value mul(const value& a, const value& b) const {
    ++cost.products;
    return {std::max(a.depth, b.depth) + 1};
  }
  value scale(const value& a, double) const {
    ++cost.scalar_products;
    return {a.depth + 1};
  }
  value add(const value& a, const value& b) const {
    ++cost.additions;
    return {std::max(a.depth, b.depth)};
  }
  value sub(const value& a, const value& b) const { return add(a, b); }
  value add_const(const value& a, double) const { return a; }
};

template <class Backend>
struct backend_ops {
  using value = typename Backend::ciphertext_type;
  const Backend& backend;
  value mul(const value& a, const value& b) const { return backend.multiply(a, b); }
  // Exactly one level on every backend: CKKS multiplies by an integer for free, the plain backend
  // charges a level, so an integer c = 2^e·o is applied as (o/2)·x followed by e + 1 doublings.
  value scale(const value& a, double c) const {
    if (c == std::nearbyint(c) && std::fabs(c) <= 0x1p52 && c != 0.0) {
      int e = 0;
      double o = c;
      while (std::fmod(o, 2.0) == 0.0) {
        o /= 2.0;
        ++e;
      }
      value r = backend.multiply_scalar(a, o / 2.0);
      for (int i = 0; i <= e; ++i) r = backend.add(r, r);
      return r;
    }
    return backend.multiply_scalar(a, c);
  }
  value add(const value& a, const value& b) const { return backend.add(a, b); }
  value sub(const value& a, const value& b) const { return backend.sub(a, b); }
  value add_const(const value& a, double c) const {
    if (c == 0.0) return a;
    return backend.add_plain(a, std::vector<double>(backend.slot_count(), c));
  }
};

// Runs the baby-step giant-step recursion on Ops (symbolic or a backend). T_k are computed lazily
// and cached, so only the ones the coefficients need are formed (an odd polynomial needs no even
// baby steps beyond the powers of two).
template <class Ops>
class chebyshev_executor {
public:
  using value = typename Ops::value;

  chebyshev_executor(const Ops& ops, value t, int baby_log) : m_ops(ops), m_baby(std::size_t{1} << baby_log) {
    m_t.emplace(1, std::move(t));
  }

  // c has degree >= 1 after trimming; returns the ciphertext of Σ c_k T_k(t).
  value run(std::vector<double> c) {
    partial p = eval(std::move(c));
    return m_ops.add_const(*p.ct, p.constant);
  }

private:
  struct partial {
    std::optional<value> ct;  // the non-constant part, if any
    double constant = 0.0;
  };

  static void trim(std::vector<double>& c) {
    while (c.size() > 1 && c.back() == 0.0) c.pop_back();
  }

  const value& chebyshev_t(std::size_t k) {
    if (auto it = m_t.find(k); it != m_t.end()) return it->second;
    value v = [&] {
      if (std::has_single_bit(k)) {
        // T_{2j} = 2·T_j² − 1
        const value& h = chebyshev_t(k / 2);
        const value sq = m_ops.mul(h, h);
        return m_ops.add_const(m_ops.add(sq, sq), -1.0);
      }
      // T_{a+b} = 2·T_a·T_b − T_{a−b}, a the largest power of two below k
      const std::size_t a = std::bit_floor(k), b = k - a;
      const value prod = m_ops.mul(chebyshev_t(a), chebyshev_t(b));
      return m_ops.sub(m_ops.add(prod, prod), chebyshev_t(a - b));
    }();
    return m_t.emplace(k, std::move(v)).first->second;
  }

  partial leaf(const std::vector<double>& c) {
    partial p{std::nullopt, c[0]};
    for (std::size_t k = 1; k < c.size(); ++k) {
      if (c[k] == 0.0) continue;
      value term = m_ops.scale(chebyshev_t(k), c[k]);
      p.ct = p.ct ? m_ops.add(*p.ct, term) : std::move(term);
    }
    return p;
  }

  partial eval(std::vector<double> c) {
    trim(c);
    const std::size_t d = c.size() - 1;
    if (d < m_baby) return leaf(c);
    const std::size_t n = std::bit_floor(d);
    // p = q·T_n + r with T_{n+k} = 2·T_k·T_n − T_{n−k}
    std::vector<double> q(d - n + 1), r(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(n));
    q[0] = c[n];
    for (std::size_t k = 1; k + n <= d; ++k) {
      q[k] = 2.0 * c[n + k];
      r[n - k] -= c[n + k];
    }
    partial qp = eval(std::move(q));
    partial rp = eval(std::move(r));
    const value& tn = chebyshev_t(n);
    value prod = qp.ct ? m_ops.mul(m_ops.add_const(*qp.ct, qp.constant), tn) : m_ops.scale(tn, qp.constant);
    if (rp.ct) prod = m_ops.add(prod, *rp.ct);
    return partial{std::move(prod), rp.constant};
  }

  const Ops& m_ops;
  std::size_t m_baby;  // leaves have degree < m_baby = 2^l
  std::map<std::size_t, value> m_t;
};

} // namespace detail

/// A baby-step giant-step evaluation plan for Σ c_k T_k(t), t in [−1, 1] (see the file comment).
/// Plain data, cheap to copy; build it once per polynomial and evaluate it on any arithmetic backend.
class chebyshev_plan {
public:
  /// Plans the polynomial with Chebyshev coefficients @p coefficients (trailing zeros dropped).
  /// @param depth_budget most levels the plan may consume; default ceil(log2(d + 1)) + 1. The plan
  ///        with the fewest ciphertext products within it is chosen.
  /// @throws hefl::invalid_argument if coefficients is empty or has a non-finite entry, or no plan
  ///         fits depth_budget (the least is ceil(log2(d + 1))).
  explicit chebyshev_plan(std::vector<double> coefficients, std::optional<int> depth_budget = std::nullopt)
      : m_c(std::move(coefficients)) {
    if (m_c.empty()) throw invalid_argument("approx::chebyshev_plan: no coefficients");
    for (std::size_t k = 0; k < m_c.size(); ++k)
      if (!std::isfinite(m_c[k]))
        throw invalid_argument("approx::chebyshev_plan: coefficient " + std::to_string(k) + " is not finite");
    while (m_c.size() > 1 && m_c.back() == 0.0) m_c.pop_back();
    const std::size_t d = degree();
    if (d == 0) return;  // a constant: no level, no product
    const int m = static_cast<int>(std::bit_width(d));
    const int budget = depth_budget.value_or(m + 1);
    bool found = false;
    for (int l = 1; l <= m; ++l) {
      const detail::symbolic_ops ops;
      detail::chebyshev_executor<detail::symbolic_ops> ex(ops, detail::symbolic_ops::value{0}, l);
      const int depth = ex.run(m_c).depth;
      chebyshev_plan_cost cost = ops.cost;
      cost.depth = depth;
      if (depth > budget) continue;
      if (!found || cost.products < m_cost.products ||
          (cost.products == m_cost.products && cost.scalar_products < m_cost.scalar_products)) {
        m_cost = cost;
        m_baby_log = l;
        found = true;
      }
    }
    if (!found)
      throw invalid_argument("approx::chebyshev_plan: no plan for degree " + std::to_string(d) + " fits " +
                             std::to_string(budget) + " levels (at least " + std::to_string(m) + " are needed)");
  }

  /// Chebyshev coefficients, trailing zeros dropped.
  [[nodiscard]] const std::vector<double>& coefficients() const noexcept { return m_c; }
  [[nodiscard]] std::size_t degree() const noexcept { return m_c.size() - 1; }
  /// Levels, products and additions of evaluate(), counted on the symbolic evaluator.
  [[nodiscard]] const chebyshev_plan_cost& cost() const noexcept { return m_cost; }
  /// Levels evaluate() consumes (input already in [−1, 1]).
  [[nodiscard]] int depth() const noexcept { return m_cost.depth; }
  /// l: the baby steps are T_1..T_{2^l − 1} (0 for a constant).
  [[nodiscard]] int baby_log() const noexcept { return m_baby_log; }

  /// Σ c_k T_k(t) slot-wise, for @p t holding values in [−1, 1] (outside it the polynomial is
  /// evaluated all the same and grows like |t|^d: see docs/approximations.md).
  /// @tparam Backend a he::arithmetic_evaluator (a server role with evaluation keys suffices).
  /// @throws hefl::depth_exhausted before any homomorphic operation if backend.level(t) < depth(),
  ///         e.g. "level 3 < 4 required by the degree-7 Chebyshev plan".
  /// @throws whatever the backend throws.
  template <class Backend>
  [[nodiscard]] typename Backend::ciphertext_type evaluate(const Backend& backend,
                                                           const typename Backend::ciphertext_type& t) const {
    static_assert(he::arithmetic_evaluator<Backend>,
                  "hefl: approx::chebyshev_plan::evaluate needs a party that multiplies ciphertexts "
                  "(he::arithmetic_evaluator); an additive-only backend cannot evaluate a polynomial sigmoid: see "
                  "docs/backends.md");
    const int level = static_cast<int>(backend.level(t));
    if (level < depth())
      throw depth_exhausted("approx::chebyshev_plan: level " + std::to_string(level) + " < " +
                            std::to_string(depth()) + " required by the degree-" + std::to_string(degree()) +
                            " Chebyshev plan");
    const detail::backend_ops<Backend> ops{backend};
    if (degree() == 0) return ops.add_const(backend.sub(t, t), m_c[0]);  // sub(t, t): zero at t's level
    detail::chebyshev_executor<detail::backend_ops<Backend>> ex(ops, t, m_baby_log);
    return ex.run(m_c);
  }

private:
  std::vector<double> m_c;
  chebyshev_plan_cost m_cost;
  int m_baby_log = 0;
};

/// Levels map_to_unit consumes for t = scale·x + shift: 0 when scale is 1, else 1.
[[nodiscard]] constexpr int mapping_depth(double scale) noexcept { return scale == 1.0 ? 0 : 1; }

/// t = scale·x + shift slot-wise: one product by a public constant (exactly one level on every
/// backend, as in chebyshev_plan) and a free addition; nothing when scale is 1 and shift 0. Callers
/// that can fold the scale into public weights (w·x/R = (w/R)·x) skip this and its level.
/// @tparam Backend a he::arithmetic_evaluator.
/// @throws hefl::invalid_argument if scale or shift is not finite or scale is 0.
/// @throws hefl::depth_exhausted if scale != 1 and x is at level 0.
template <class Backend>
[[nodiscard]] typename Backend::ciphertext_type map_to_unit(const Backend& backend,
                                                            const typename Backend::ciphertext_type& x, double scale,
                                                            double shift = 0.0) {
  static_assert(he::arithmetic_evaluator<Backend>,
                "hefl: approx::map_to_unit needs a party that multiplies by constants and reports levels "
                "(he::arithmetic_evaluator): see docs/backends.md");
  if (!std::isfinite(scale) || !std::isfinite(shift) || scale == 0.0)
    throw invalid_argument("approx::map_to_unit: scale must be finite and non-zero and shift finite, got " +
                           std::to_string(scale) + " and " + std::to_string(shift));
  const detail::backend_ops<Backend> ops{backend};
  if (scale != 1.0) {
    if (backend.level(x) < 1)
      throw depth_exhausted("approx::map_to_unit: level 0 < 1 required by the product with " + std::to_string(scale));
    return ops.add_const(ops.scale(x, scale), shift);
  }
  return ops.add_const(x, shift);
}

/// The CKKS noise bound docs/approximations.md states for a plan evaluated on t in [−1, 1]:
/// |decrypted − p(t)| <= ε·(1 + Σ_k |c_k|·k²)·(2 + products + scalar_products), with
/// ε = 2^(−log2_scale)·sqrt(N)·2^8, an upper estimate of the per-slot error one fresh encryption or
/// one rescale adds (fresh error ≈ 6σ·sqrt(N)/Δ with σ = 3.2; benchmarks/sigmoid_degrees measures
/// ≈ 2ε for a degree-1 polynomial, three operations, at N = 16384, Δ = 2^40). Markov's inequality |T_k'| <= k² bounds how
/// an input error grows through T_k; each operation adds at most ε. A heuristic checked by
/// tests/unit/approx_ckks_test.cpp for every family and degree 3..15 (and 31), not a proof. It holds
/// only while every intermediate value fits the modulus: Σ|c_k| well below 2^(bits(q_0) − log2 Δ)
/// (2^20 for primes {60, 40, ...} at scale 2^40); a Taylor polynomial on a wide interval breaks it.
/// @throws hefl::invalid_argument if log2_scale is not in (0, 200] or poly_degree is 0.
[[nodiscard]] inline double ckks_noise_bound(const chebyshev_plan& plan, double log2_scale, std::size_t poly_degree) {
  if (!(log2_scale > 0.0) || !(log2_scale <= 200.0) || poly_degree == 0)
    throw invalid_argument("approx::ckks_noise_bound: log2_scale must be in (0, 200] and poly_degree positive");
  const double eps = std::exp2(-log2_scale) * std::sqrt(static_cast<double>(poly_degree)) * 256.0;
  double weight = 1.0;
  const auto& c = plan.coefficients();
  for (std::size_t k = 1; k < c.size(); ++k) weight += std::fabs(c[k]) * static_cast<double>(k * k);
  return eps * weight * (2.0 + plan.cost().products + plan.cost().scalar_products);
}

} // namespace hefl::approx
