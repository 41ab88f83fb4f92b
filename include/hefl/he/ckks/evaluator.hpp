#pragma once
/// @file
/// ckks::evaluator: homomorphic arithmetic on CKKS ciphertexts (Cheon, Kim, Kim, Song, "Homomorphic
/// Encryption for Arithmetic of Approximate Numbers", ASIACRYPT 2017; in the full-RNS form of
/// Cheon, Han, Kim, Kim, Song, SAC 2018): addition, multiplication, relinearization, rescaling,
/// level switching, rotations and conjugation, hoisted rotations (Halevi, Shoup, CRYPTO 2018) and
/// the sum of all slots.
///
/// Levels and scales. A ciphertext at level l lives modulo q_0·...·q_l and encrypts values·scale.
/// - Low-level operations never rescale: multiply() gives a 3-part ciphertext at scale s_a·s_b,
///   relinearize() makes it 2 parts again, rescale() divides by q_l (level l-1, scale s/q_l).
/// - Binary operations accept operands at different levels: the higher operand is brought down to
///   the lower one's level *and scale* (adjust_to: one integer multiplication and a rescale,
///   Kim, Papadimitriou, Polyakov, "Approximate Homomorphic Encryption with Reduced Approximation
///   Error", CT-RSA 2022), so that every ciphertext of one level derived from the same inputs
///   carries the same scale. Additions then require exactly equal scales (or, when the evaluator
///   was built with a relative_scale_tolerance, equal within it) and throw otherwise, printing both
///   scales to 17 digits (usually a forgotten rescale, or a plaintext encoded at the default scale
///   for a product whose scale drifted: encode(params, enc, values, ct) takes ct's exact scale).
///   When the evaluator matched the levels itself, the adjustment's own rounding (relative at most
///   0.5/k, see adjust_to) is accepted up to adjust_tolerance = 2^-32.
/// - Every `_inplace` operation gives the strong exception guarantee: when it throws, its operand
///   is left bit-identical (all checks run before the first write, or the work is done on a copy).
/// - The convenience layer (multiply_relin_rescale, square_relin_rescale, multiply_scalar,
///   multiply_plain_rescale, inner_product) consumes exactly one level per product and checks it
///   before doing any work, throwing hefl::depth_exhausted that names the operation.
///
/// Keys are passed per call (relin_keys, galois_keys); the evaluator holds only the parameters and
/// small precomputed tables, is immutable after construction, and may be shared between threads.
/// Limb-wise work runs on hefl::thread_count() threads (hefl/core/parallel.hpp); results are
/// bit-identical for every thread count.

#include <hefl/core/error.hpp>
#include <hefl/core/parallel.hpp>
#include <hefl/he/ckks/detail/rns_poly.hpp>
#include <hefl/he/ckks/encoder.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/keys.hpp>
#include <hefl/he/ckks/params.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <complex>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace hefl::he::ckks {

/// Gives the limb buffers that CKKS operations keep for reuse back to the system (see
/// detail::buffer_pool: freed ciphertext-sized buffers are cached, up to 512 MiB, because faulting
/// fresh pages in costs more than the arithmetic). Call it after a large computation to shrink the
/// process; later operations allocate again as needed.
inline void release_cached_memory() noexcept { detail::release_cached_memory(); }

/// A relative tolerance under which two scales count as equal in an addition: an explicit option of
/// evaluator (the default is exact equality). Within it the sum takes the first operand's scale, so
/// the second operand's values carry a relative error up to @p value.
struct relative_scale_tolerance {
  double value;
};

/// The residual accepted when the evaluator itself brought an operand to the other's level and
/// scale (adjust_to multiplies by an integer k, a relative rounding of at most 0.5/k): 2^-32.
inline constexpr double adjust_tolerance = 0x1p-32;

/// Homomorphic operations for one parameter set. See the file comment for the level and scale rules.
class evaluator {
public:
  /// An evaluator whose additions require exactly equal scales.
  /// @param params the parameter set every operand must belong to.
  explicit evaluator(const parameters& params) : evaluator(params, relative_scale_tolerance{0}) {}

  /// An evaluator whose additions accept scales with |s_a/s_b - 1| <= tolerance.value; the sum takes
  /// the first operand's scale (an error of that relative size on the second operand's values).
  /// @throws hefl::invalid_argument if the tolerance is negative, not finite, or 2^-10 or more.
  evaluator(const parameters& params, relative_scale_tolerance tolerance)
      : m_params(params), m_encoder(params.poly_degree()), m_scale_tolerance(tolerance.value),
        m_bit_reverse(detail::bit_reverse_table(params.poly_degree())) {
    if (!std::isfinite(tolerance.value) || tolerance.value < 0 || tolerance.value >= 0x1p-10)
      throw invalid_argument("ckks::evaluator: the relative scale tolerance must be in [0, 2^-10), got " +
                             std::to_string(tolerance.value));
    for (std::size_t l = 0; l <= params.max_level(); ++l) m_log2_modulus.push_back(params.log2_modulus(l));
  }

  /// The parameters.
  [[nodiscard]] const parameters& params() const noexcept { return m_params; }
  /// The relative scale tolerance of additions (0: exact matching, the default).
  [[nodiscard]] double scale_tolerance() const noexcept { return m_scale_tolerance; }
  /// Number of slots, N/2.
  [[nodiscard]] std::size_t slot_count() const noexcept { return m_params.slot_count(); }
  /// The encoder the evaluator uses for plaintext vectors and constants.
  [[nodiscard]] const encoder& slot_encoder() const noexcept { return m_encoder; }

  // ---------------------------------------------------------------------------------------------
  // Additions (no level consumed)

  /// a + b. Operands at different levels are matched first (see adjust_to); sizes 2 and 3 mix.
  /// @throws hefl::invalid_argument if an operand belongs to other parameters or the scales differ
  ///         beyond scale_tolerance() after matching.
  [[nodiscard]] ciphertext add(const ciphertext& a, const ciphertext& b) const {
    ciphertext r = a;
    add_inplace(r, b);
    return r;
  }
  /// a += b (see add).
  void add_inplace(ciphertext& a, const ciphertext& b) const { add_sub_inplace(a, b, false, "add"); }

  /// a - b (see add).
  [[nodiscard]] ciphertext sub(const ciphertext& a, const ciphertext& b) const {
    ciphertext r = a;
    sub_inplace(r, b);
    return r;
  }
  /// a -= b (see add).
  void sub_inplace(ciphertext& a, const ciphertext& b) const { add_sub_inplace(a, b, true, "sub"); }

  /// -a. @throws hefl::invalid_argument if a belongs to other parameters.
  [[nodiscard]] ciphertext negate(const ciphertext& a) const {
    ciphertext r = a;
    negate_inplace(r);
    return r;
  }
  /// a = -a. @throws hefl::invalid_argument if a belongs to other parameters.
  void negate_inplace(ciphertext& a) const {
    check(a, "negate");
    for (std::size_t i = 0; i < a.size(); ++i) detail::negate_inplace(a.mutable_poly(i), ctx());
  }

  /// a + p for a plaintext. A plaintext above a's level is used at a's level (its extra limbs are
  /// ignored); a ciphertext above the plaintext's level is brought down to the plaintext's level
  /// and scale (adjust_to).
  /// @throws hefl::invalid_argument if an operand belongs to other parameters or the scales differ
  ///         beyond scale_tolerance().
  [[nodiscard]] ciphertext add_plain(const ciphertext& a, const plaintext& p) const {
    ciphertext r = a;
    add_plain_inplace(r, p);
    return r;
  }
  /// a += p (see add_plain).
  void add_plain_inplace(ciphertext& a, const plaintext& p) const { add_sub_plain_inplace(a, p, false, "add_plain"); }
  /// a - p (see add_plain).
  [[nodiscard]] ciphertext sub_plain(const ciphertext& a, const plaintext& p) const {
    ciphertext r = a;
    sub_plain_inplace(r, p);
    return r;
  }
  /// a -= p (see add_plain).
  void sub_plain_inplace(ciphertext& a, const plaintext& p) const { add_sub_plain_inplace(a, p, true, "sub_plain"); }

  /// a + values, slot-wise: the values (at most N/2, zero-padded) are encoded at a's exact scale and
  /// level (encode(params, encoder, values, a)), so no scale or level is spelled out and scale drift
  /// after a rescale cannot make the scales differ. Level and scale of a unchanged.
  /// @throws hefl::invalid_argument if a belongs to other parameters, there are more than N/2 values,
  ///         a value is not finite, or a value times a's scale does not fit Q_l/2 at a's level.
  [[nodiscard]] ciphertext add_plain(const ciphertext& a, std::span<const double> values) const {
    check(a, "add_plain");
    return add_plain(a, encode(m_params, m_encoder, values, a.scale(), a.level()));
  }
  /// a + values for complex slot values (at most N/2, zero-padded), encoded at a's scale and level.
  /// @throws hefl::invalid_argument as the real overload.
  [[nodiscard]] ciphertext add_plain(const ciphertext& a, std::span<const std::complex<double>> values) const {
    check(a, "add_plain");
    return add_plain(a, encode(m_params, m_encoder, values, a.scale(), a.level()));
  }
  /// a - values, slot-wise, the values encoded at a's exact scale and level (as add_plain).
  /// @throws hefl::invalid_argument as add_plain(a, values).
  [[nodiscard]] ciphertext sub_plain(const ciphertext& a, std::span<const double> values) const {
    check(a, "sub_plain");
    return sub_plain(a, encode(m_params, m_encoder, values, a.scale(), a.level()));
  }
  /// a - values for complex slot values, encoded at a's exact scale and level.
  /// @throws hefl::invalid_argument as add_plain(a, values).
  [[nodiscard]] ciphertext sub_plain(const ciphertext& a, std::span<const std::complex<double>> values) const {
    check(a, "sub_plain");
    return sub_plain(a, encode(m_params, m_encoder, values, a.scale(), a.level()));
  }

  /// a + value in every slot: adds round(value·scale) to the constant coefficient, exactly, without
  /// consuming a level.
  /// @throws hefl::invalid_argument if a belongs to other parameters, value is not finite, or
  ///         value·scale does not fit the modulus at a's level.
  [[nodiscard]] ciphertext add_scalar(const ciphertext& a, double value) const {
    ciphertext r = a;
    add_scalar_inplace(r, value);
    return r;
  }
  /// a += value in every slot (see add_scalar).
  void add_scalar_inplace(ciphertext& a, double value) const {
    check(a, "add_scalar");
    const double scaled = value * a.scale();
    check_fits(scaled, a.level(), "add_scalar");
    // A constant polynomial has the same value at every NTT point.
    detail::rns_poly& c0 = a.mutable_poly(0);
    const std::size_t n = c0.degree();
    detail::for_each_limb(c0, [&](std::size_t i) {
      const detail::modulus& q = ctx().ntt(i).mod();
      const detail::u64 r = detail::rounded_residue(scaled, q);
      detail::u64* x = c0.limb(i);
      for (std::size_t k = 0; k < n; ++k) x[k] = detail::add_mod(x[k], r, q.value());
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Multiplications, low level (no rescale)

  /// The tensor product of two 2-part ciphertexts: 3 parts, scale s_a·s_b, at the lower level
  /// (the higher operand is adjusted to the lower one's level and scale first).
  /// @throws hefl::invalid_argument if an operand belongs to other parameters or has 3 parts
  ///         (relinearize it first).
  /// @throws hefl::depth_exhausted if the product's scale would not fit the modulus at its level.
  [[nodiscard]] ciphertext multiply(const ciphertext& a, const ciphertext& b) const {
    check(a, "multiply");
    check(b, "multiply");
    check_size2(a, "multiply");
    check_size2(b, "multiply");
    if (a.level() != b.level()) {
      if (a.level() > b.level()) return multiply(adjust_to(a, b.level(), b.scale()), b);
      return multiply(a, adjust_to(b, a.level(), a.scale()));
    }
    const double scale = a.scale() * b.scale();
    check_scale_fits(scale, a.level(), "multiply");
    return tensor(a, b, scale);
  }
  /// a = a·b (see multiply).
  void multiply_inplace(ciphertext& a, const ciphertext& b) const { a = multiply(a, b); }

  /// a·a: 3 parts, scale s^2 (one product fewer than multiply(a, a)).
  /// @throws hefl::invalid_argument if a belongs to other parameters or has 3 parts.
  /// @throws hefl::depth_exhausted if the scale s^2 would not fit the modulus at a's level.
  [[nodiscard]] ciphertext square(const ciphertext& a) const {
    check(a, "square");
    check_size2(a, "square");
    const double scale = a.scale() * a.scale();
    check_scale_fits(scale, a.level(), "square");
    return tensor(a, a, scale);
  }
  /// a = a·a (see square).
  void square_inplace(ciphertext& a) const { a = square(a); }

  /// a·p slot-wise for a plaintext: scale s_a·s_p, level unchanged (or the plaintext's, if lower:
  /// the ciphertext's extra limbs are dropped without changing its scale; a plaintext above a's
  /// level is used at a's level).
  /// @throws hefl::invalid_argument if an operand belongs to other parameters.
  /// @throws hefl::depth_exhausted if the product's scale would not fit the modulus.
  [[nodiscard]] ciphertext multiply_plain(const ciphertext& a, const plaintext& p) const {
    ciphertext r = a;
    multiply_plain_inplace(r, p);
    return r;
  }
  /// a·values slot-wise without rescaling: the values (at most N/2, zero-padded) are encoded at a's
  /// exact scale s and level l, so the result has level l and scale s² (rescale it, or call
  /// multiply_plain_rescale, which does both: the residues are the same).
  /// @throws hefl::invalid_argument if a belongs to other parameters, there are more than N/2 values,
  ///         a value is not finite, or a value times s does not fit Q_l/2.
  /// @throws hefl::depth_exhausted if the scale s² does not fit the modulus at level l.
  [[nodiscard]] ciphertext multiply_plain(const ciphertext& a, std::span<const double> values) const {
    check(a, "multiply_plain");
    check_scale_fits(a.scale() * a.scale(), a.level(), "multiply_plain");
    return multiply_plain(a, encode(m_params, m_encoder, values, a.scale(), a.level()));
  }
  /// a·values slot-wise for complex slot values, without rescaling (as the real overload).
  /// @throws as the real overload.
  [[nodiscard]] ciphertext multiply_plain(const ciphertext& a, std::span<const std::complex<double>> values) const {
    check(a, "multiply_plain");
    check_scale_fits(a.scale() * a.scale(), a.level(), "multiply_plain");
    return multiply_plain(a, encode(m_params, m_encoder, values, a.scale(), a.level()));
  }
  /// a = a·p (see multiply_plain).
  void multiply_plain_inplace(ciphertext& a, const plaintext& p) const {
    check(a, "multiply_plain");
    check(p, "multiply_plain");
    const double scale = a.scale() * p.scale();
    check_scale_fits(scale, std::min(a.level(), p.level()), "multiply_plain");
    if (a.level() > p.level()) mod_switch_to_inplace(a, p.level());
    const std::size_t n = m_params.poly_degree();
    for (std::size_t c = 0; c < a.size(); ++c) {
      detail::rns_poly& x = a.mutable_poly(c);
      detail::for_each_limb(x, [&](std::size_t i) {
        const detail::modulus& q = ctx().ntt(i).mod();
        detail::u64* y = x.limb(i);
        const detail::u64* z = p.poly().limb(i);
        detail::eltwise_multiply(y, y, z, n, q);
      });
    }
    a.set_scale(scale);
  }

  /// a·k for an integer k: exact, no level consumed, scale unchanged. Like add_scalar, it checks
  /// that k·scale fits the modulus at a's level (values of magnitude up to 1 times k must not wrap).
  /// @throws hefl::invalid_argument if a belongs to other parameters or |k|·scale >= Q_l/2.
  [[nodiscard]] ciphertext multiply_integer(const ciphertext& a, std::int64_t k) const {
    ciphertext r = a;
    multiply_integer_inplace(r, k);
    return r;
  }
  /// a = a·k (see multiply_integer).
  void multiply_integer_inplace(ciphertext& a, std::int64_t k) const {
    check(a, "multiply_integer");
    check_fits(static_cast<double>(k) * a.scale(), a.level(), "multiply_integer");
    for (std::size_t c = 0; c < a.size(); ++c) detail::multiply_scalar_inplace(a.mutable_poly(c), k, ctx());
  }

  /// a·value with value encoded as the integer round(value·constant_scale): the scale becomes
  /// s·constant_scale and the level stays (rescale() afterwards to bring the scale back down). The
  /// constant carries a relative error of at most 0.5/|value·constant_scale|.
  /// @throws hefl::invalid_argument if a belongs to other parameters, value or constant_scale is not
  ///         finite, or constant_scale is not positive.
  /// @throws hefl::depth_exhausted if the new scale would not fit the modulus at a's level.
  [[nodiscard]] ciphertext multiply_constant(const ciphertext& a, double value, double constant_scale) const {
    ciphertext r = a;
    multiply_constant_inplace(r, value, constant_scale);
    return r;
  }
  /// a = a·value (see multiply_constant).
  void multiply_constant_inplace(ciphertext& a, double value, double constant_scale) const {
    check(a, "multiply_constant");
    if (!std::isfinite(value) || !std::isfinite(constant_scale) || !(constant_scale > 0))
      throw invalid_argument("ckks::evaluator::multiply_constant: value and constant_scale must be finite and "
                             "constant_scale positive, got " + std::to_string(value) + " and " +
                             std::to_string(constant_scale));
    const double scale = a.scale() * constant_scale;
    check_scale_fits(scale, a.level(), "multiply_constant");
    const double scaled = value * constant_scale;
    check_fits(scaled, a.level(), "multiply_constant");
    const std::size_t n = m_params.poly_degree();
    for (std::size_t c = 0; c < a.size(); ++c) {
      detail::rns_poly& x = a.mutable_poly(c);
      detail::for_each_limb(x, [&](std::size_t i) {
        const detail::modulus& q = ctx().ntt(i).mod();
        const detail::u64 w = detail::rounded_residue(scaled, q), w_shoup = detail::shoup_precompute(w, q.value());
        detail::u64* y = x.limb(i);
        detail::eltwise_multiply_constant(y, y, w, w_shoup, n, q.value());
      });
    }
    a.set_scale(scale);
  }

  /// Switches the third part of a product back to the secret s (key switching with @p rk): 2 parts,
  /// same level and scale. A 2-part ciphertext is returned unchanged.
  /// @throws hefl::invalid_argument if a or rk belong to other parameters.
  [[nodiscard]] ciphertext relinearize(const ciphertext& a, const relin_keys& rk) const {
    check(a, "relinearize");
    check(rk);
    if (a.size() == 2) return a;
    detail::rns_poly u0, u1;
    detail::key_switch(a.poly(2), rk.key(), ctx(), u0, u1);
    detail::add_inplace(u0, a.poly(0), ctx());
    detail::add_inplace(u1, a.poly(1), ctx());
    std::vector<detail::rns_poly> polys;
    polys.reserve(2);
    polys.push_back(std::move(u0));
    polys.push_back(std::move(u1));
    return ciphertext(m_params, std::move(polys), a.scale());
  }
  /// a = relinearize(a, rk).
  void relinearize_inplace(ciphertext& a, const relin_keys& rk) const {
    check(a, "relinearize");
    check(rk);
    if (a.size() == 2) return;
    a = relinearize(a, rk);
  }

  /// Divides by the last prime q_l with rounding: level l-1, scale s/q_l (Cheon, Han, Kim, Kim,
  /// Song 2018, RNS.Rescale). Works on 2- and 3-part ciphertexts.
  /// @throws hefl::invalid_argument if a belongs to other parameters, or the new scale would drop
  ///         below 1 (every bit of precision lost: rescale only after a multiplication).
  /// @throws hefl::depth_exhausted if a is at level 0.
  [[nodiscard]] ciphertext rescale(const ciphertext& a) const {
    const double scale = rescaled_scale(a);
    std::vector<const detail::rns_poly*> in;
    std::vector<detail::rns_poly> polys(a.size());
    std::vector<detail::rns_poly*> out;
    for (std::size_t c = 0; c < a.size(); ++c) {
      in.push_back(&a.poly(c));
      out.push_back(&polys[c]);
    }
    detail::divide_round_last(in, out, ctx());
    return ciphertext(m_params, std::move(polys), scale);
  }
  /// a = rescale(a).
  void rescale_inplace(ciphertext& a) const {
    const double scale = rescaled_scale(a);
    std::vector<detail::rns_poly*> polys;
    for (std::size_t c = 0; c < a.size(); ++c) polys.push_back(&a.mutable_poly(c));
    detail::divide_round_last_inplace(std::span<detail::rns_poly* const>(polys), ctx());
    a.set_scale(scale);
  }

  /// a at the lower level @p level, scale unchanged: the limbs above it are dropped (exact).
  /// @throws hefl::invalid_argument if a belongs to other parameters or level exceeds a's level.
  [[nodiscard]] ciphertext mod_switch_to(const ciphertext& a, std::size_t level) const {
    ciphertext r = a;
    mod_switch_to_inplace(r, level);
    return r;
  }
  /// a = mod_switch_to(a, level).
  void mod_switch_to_inplace(ciphertext& a, std::size_t level) const {
    check(a, "mod_switch_to");
    if (level > a.level())
      throw invalid_argument("ckks::evaluator::mod_switch_to: cannot raise a ciphertext from level " +
                             std::to_string(a.level()) + " to level " + std::to_string(level));
    for (std::size_t c = 0; c < a.size(); ++c)
      while (a.poly(c).level() > level) a.mutable_poly(c).drop_last_limb();
  }
  /// The plaintext at the lower level @p level (limbs above dropped, scale unchanged).
  /// @throws hefl::invalid_argument if p belongs to other parameters or level exceeds p's level.
  [[nodiscard]] plaintext mod_switch_to(const plaintext& p, std::size_t level) const {
    check(p, "mod_switch_to");
    if (level > p.level())
      throw invalid_argument("ckks::evaluator::mod_switch_to: cannot raise a plaintext from level " +
                             std::to_string(p.level()) + " to level " + std::to_string(level));
    detail::rns_poly poly = p.poly();
    while (poly.level() > level) poly.drop_last_limb();
    return plaintext(m_params, std::move(poly), p.scale());
  }

  /// a brought down to @p level with scale close to @p scale: the limbs above level + 1 are dropped,
  /// then a is multiplied by the integer k = round(scale·q_{level+1}/s_a) and rescaled, which leaves
  /// the scale s_a·k/q_{level+1} (relative error at most 0.5/k from @p scale; Kim, Papadimitriou,
  /// Polyakov 2022). When k would not be a usable integer (below 1/2 or above 2^62), or level equals
  /// a's level, only the limbs are dropped and the scale stays. The binary operations call this to
  /// match their operands.
  /// @throws hefl::invalid_argument if a belongs to other parameters, level exceeds a's level, or
  ///         scale is not positive and finite.
  [[nodiscard]] ciphertext adjust_to(const ciphertext& a, std::size_t level, double scale) const {
    check(a, "adjust_to");
    if (level > a.level())
      throw invalid_argument("ckks::evaluator::adjust_to: cannot raise a ciphertext from level " +
                             std::to_string(a.level()) + " to level " + std::to_string(level));
    if (!std::isfinite(scale) || !(scale > 0))
      throw invalid_argument("ckks::evaluator::adjust_to: scale must be positive and finite, got " +
                             std::to_string(scale));
    if (level == a.level()) return a;
    const double q = static_cast<double>(m_params.primes()[level + 1]);
    const double k = std::nearbyint(scale * q / a.scale());
    if (!(k >= 1) || !(k < 0x1p62)) return mod_switch_to(a, level);
    ciphertext r = mod_switch_to(a, level + 1);
    for (std::size_t c = 0; c < r.size(); ++c)
      detail::multiply_scalar_inplace(r.mutable_poly(c), static_cast<std::int64_t>(k), ctx());
    std::vector<detail::rns_poly*> polys;
    for (std::size_t c = 0; c < r.size(); ++c) polys.push_back(&r.mutable_poly(c));
    detail::divide_round_last_inplace(std::span<detail::rns_poly* const>(polys), ctx());
    r.set_scale(a.scale() * k / q);
    return r;
  }

  // ---------------------------------------------------------------------------------------------
  // Multiplications, convenience layer (one level per product)

  /// a·b relinearized and rescaled: level min(l_a, l_b) - 1, scale s_a·s_b/q (operands at different
  /// levels are matched first, see adjust_to).
  /// @throws hefl::depth_exhausted (naming the operation) before any work if an operand is at
  ///         level 0.
  /// @throws hefl::invalid_argument if an operand or rk belongs to other parameters or has 3 parts.
  [[nodiscard]] ciphertext multiply_relin_rescale(const ciphertext& a, const ciphertext& b,
                                                  const relin_keys& rk) const {
    check(a, "multiply_relin_rescale");
    check(b, "multiply_relin_rescale");
    require_level(std::min(a.level(), b.level()), "multiply_relin_rescale");
    ciphertext r = multiply(a, b);
    relinearize_inplace(r, rk);
    rescale_inplace(r);
    return r;
  }

  /// a·a relinearized and rescaled: level l - 1, scale s^2/q_l.
  /// @throws as multiply_relin_rescale.
  [[nodiscard]] ciphertext square_relin_rescale(const ciphertext& a, const relin_keys& rk) const {
    check(a, "square_relin_rescale");
    require_level(a.level(), "square_relin_rescale");
    ciphertext r = square(a);
    relinearize_inplace(r, rk);
    rescale_inplace(r);
    return r;
  }

  /// a·value in every slot. An integer value (|value| <= 2^53) multiplies exactly, consuming no
  /// level and keeping the scale. Any other value is encoded at a's scale s and the product is
  /// rescaled: one level consumed, scale s^2/q_l — the scale a product of two ciphertexts at scale s
  /// has, so c·x and x·y can be added without adjustment.
  /// @throws hefl::depth_exhausted (naming the operation) if value is not an integer and a is at
  ///         level 0.
  /// @throws hefl::invalid_argument if a belongs to other parameters or value is not finite.
  [[nodiscard]] ciphertext multiply_scalar(const ciphertext& a, double value) const {
    ciphertext r = a;
    multiply_scalar_inplace(r, value);
    return r;
  }
  /// a = a·value (see multiply_scalar).
  void multiply_scalar_inplace(ciphertext& a, double value) const {
    check(a, "multiply_scalar");
    if (!std::isfinite(value))
      throw invalid_argument("ckks::evaluator::multiply_scalar: value is not finite (" + std::to_string(value) + ")");
    if (value == std::nearbyint(value) && std::fabs(value) <= 0x1p53) {
      multiply_integer_inplace(a, static_cast<std::int64_t>(value));
      return;
    }
    require_level(a.level(), "multiply_scalar");
    ciphertext r = a; // the rescale may still refuse: keep a intact until both steps succeeded
    multiply_constant_inplace(r, value, r.scale());
    rescale_inplace(r);
    a = std::move(r);
  }

  /// a·values slot-wise (at most N/2 values, zero-padded), encoded at a's scale and rescaled: one
  /// level consumed, scale s^2/q_l as in multiply_scalar.
  /// @throws hefl::depth_exhausted (naming the operation) if a is at level 0.
  /// @throws hefl::invalid_argument if a belongs to other parameters or the encoder rejects the values.
  [[nodiscard]] ciphertext multiply_plain_rescale(const ciphertext& a, std::span<const double> values) const {
    check(a, "multiply_plain_rescale");
    require_level(a.level(), "multiply_plain_rescale");
    ciphertext r = multiply_plain(a, encode(m_params, m_encoder, values, a.scale(), a.level()));
    rescale_inplace(r);
    return r;
  }
  /// a·values slot-wise for complex values, as the real overload (one level, scale s²/q_l).
  /// @throws as the real overload.
  [[nodiscard]] ciphertext multiply_plain_rescale(const ciphertext& a,
                                                  std::span<const std::complex<double>> values) const {
    check(a, "multiply_plain_rescale");
    require_level(a.level(), "multiply_plain_rescale");
    ciphertext r = multiply_plain(a, encode(m_params, m_encoder, values, a.scale(), a.level()));
    rescale_inplace(r);
    return r;
  }

  // ---------------------------------------------------------------------------------------------
  // Rotations

  /// a with its slots rotated left by @p steps (negative: right), same level and scale. Uses the
  /// Galois key of that step if @p gk has it; otherwise composes the rotation from keys of signed
  /// powers of two (one key switch each). A step that is a multiple of N/2 returns a copy.
  /// @throws hefl::invalid_argument if a or gk belong to other parameters, a has 3 parts, or no
  ///         key (or composition of power-of-two keys) exists for the step (the message names it).
  [[nodiscard]] ciphertext rotate(const ciphertext& a, long long steps, const galois_keys& gk) const {
    check(a, "rotate");
    check_size2(a, "rotate");
    check(gk, "rotate");
    const long long k = normalized_step(steps);
    if (k == 0) return a;
    const std::uint64_t g = galois_element_for_step(k, m_params.poly_degree());
    if (gk.has(g)) return apply_keyed_automorphism(a, g, gk.key(g));
    ciphertext r = a;
    for (const long long part : rotation_plan(steps, gk, "rotate")) {
      const std::uint64_t gp = galois_element_for_step(part, m_params.poly_degree());
      r = apply_keyed_automorphism(r, gp, gk.key(gp));
    }
    return r;
  }
  /// a = rotate(a, steps, gk).
  void rotate_inplace(ciphertext& a, long long steps, const galois_keys& gk) const { a = rotate(a, steps, gk); }

  /// The rotations of a by each of @p steps, in order, sharing one digit decomposition of a's second
  /// part (hoisting: Halevi, Shoup, "Faster Homomorphic Linear Transformations in HElib", CRYPTO
  /// 2018). Each hoisted rotation costs an inner product with its key and a mod-down, instead
  /// of a full key switch. Steps without their own key are composed as in rotate() (not hoisted).
  /// @throws as rotate, for any of the steps.
  [[nodiscard]] std::vector<ciphertext> rotate_many(const ciphertext& a, std::span<const long long> steps,
                                                    const galois_keys& gk) const {
    check(a, "rotate_many");
    check_size2(a, "rotate_many");
    check(gk, "rotate_many");
    std::vector<ciphertext> out;
    out.reserve(steps.size());
    detail::key_switch_digits digits;
    for (const long long steps_i : steps) {
      const long long k = normalized_step(steps_i);
      if (k == 0) {
        out.push_back(a);
        continue;
      }
      const std::uint64_t g = galois_element_for_step(k, m_params.poly_degree());
      if (!gk.has(g)) {
        out.push_back(rotate(a, steps_i, gk));
        continue;
      }
      if (digits.empty()) digits = detail::decompose_for_key_switch(a.poly(1), ctx());
      out.push_back(apply_keyed_automorphism(a, g, gk.key(g), &digits));
    }
    return out;
  }

  /// The complex conjugate of every slot (Galois element 2N - 1), same level and scale.
  /// @throws hefl::invalid_argument if a or gk belong to other parameters, a has 3 parts, or gk has
  ///         no conjugation key (create_galois_keys(steps, true) makes one).
  [[nodiscard]] ciphertext conjugate(const ciphertext& a, const galois_keys& gk) const {
    check(a, "conjugate");
    check_size2(a, "conjugate");
    check(gk, "conjugate");
    const std::uint64_t g = conjugation_galois_element(m_params.poly_degree());
    if (!gk.has(g))
      throw invalid_argument("ckks::evaluator::conjugate: the Galois keys have no conjugation key; generate it with "
                             "key_generator::create_galois_keys(steps, true)");
    return apply_keyed_automorphism(a, g, gk.key(g));
  }
  /// a = conjugate(a, gk).
  void conjugate_inplace(ciphertext& a, const galois_keys& gk) const { a = conjugate(a, gk); }

  /// The rotation steps sum_slots uses for @p slot_count slots (a power of two): s, 2s and -s for
  /// each radix-4 round of stride s = 4^t, and s alone for a last radix-2 round when log2(slots)
  /// is odd; about 1.5·log2(slots) steps, all signed powers of two, so the default
  /// key_generator::create_galois_keys() covers them and create_galois_keys(sum_slots_steps(n))
  /// generates only these.
  [[nodiscard]] static std::vector<long long> sum_slots_steps(std::size_t slot_count) {
    std::vector<long long> steps;
    const auto slots = static_cast<long long>(slot_count);
    long long s = 1;
    while (s < slots) {
      if (slots / s >= 4) {
        for (const long long t : {s, 2 * s, -s})
          if (std::find(steps.begin(), steps.end(), t) == steps.end()) steps.push_back(t);
        s *= 4;
      } else {
        if (std::find(steps.begin(), steps.end(), s) == steps.end()) steps.push_back(s);
        s *= 2;
      }
    }
    return steps;
  }

  /// Whether rotate(a, @p steps, @p gk) finds its keys: the step's own, or signed powers of two that
  /// compose it (a multiple of N/2 needs none).
  [[nodiscard]] bool can_rotate(long long steps, const galois_keys& gk) const {
    check(gk, "can_rotate");
    const long long k = normalized_step(steps);
    if (k == 0 || gk.has(galois_element_for_step(k, m_params.poly_degree()))) return true;
    return find_rotation_plan(steps, gk).has_value();
  }

  /// Whether sum_slots(a, @p gk) finds its keys (a radix-2 key for every round it cannot take in radix 4).
  [[nodiscard]] bool can_sum_slots(const galois_keys& gk) const {
    check(gk, "can_sum_slots");
    const auto slots = static_cast<long long>(slot_count());
    const std::size_t n = m_params.poly_degree();
    for (long long s = 1; s < slots;) {
      if (slots / s >= 4 && gk.has(galois_element_for_step(s, n)) && gk.has(galois_element_for_step(2 * s, n)) &&
          (gk.has(galois_element_for_step(-s, n)) || gk.has(galois_element_for_step(3 * s, n)))) {
        s *= 4;
        continue;
      }
      if (!gk.has(galois_element_for_step(s, n))) return false;
      s *= 2;
    }
    return true;
  }

  /// Every slot receives the sum of all N/2 slots; level and scale unchanged. Radix-4 rounds: the
  /// round of stride s adds the rotations by s, 2s and -s (or 3s) to the running sum, all three from
  /// one hoisted decomposition and summed before one mod-down (Halevi–Shoup 2018 hoisting; the
  /// shared mod-down is the "double hoisting" of Bossuat et al., EUROCRYPT 2021); offsets
  /// {-1, 0, 1, 2}·s cover every residue modulo 4s, so log4(N/2) rounds reach every slot. A round
  /// whose keys are missing falls back to a radix-2 round (rotation by s).
  /// @throws hefl::invalid_argument if a or gk belong to other parameters, a has 3 parts, or a step
  ///         has no key (the message names it; sum_slots_steps lists them).
  [[nodiscard]] ciphertext sum_slots(const ciphertext& a, const galois_keys& gk) const {
    check(a, "sum_slots");
    check_size2(a, "sum_slots");
    check(gk, "sum_slots");
    const auto slots = static_cast<long long>(slot_count());
    const std::size_t n = m_params.poly_degree();
    ciphertext acc = a;
    long long s = 1;
    while (s < slots) {
      const std::uint64_t g1 = galois_element_for_step(s, n);
      if (slots / s >= 4) {
        const std::uint64_t g2 = galois_element_for_step(2 * s, n);
        const std::uint64_t g_minus = galois_element_for_step(-s, n), g3 = galois_element_for_step(3 * s, n);
        if (gk.has(g1) && gk.has(g2) && (gk.has(g_minus) || gk.has(g3))) {
          const std::uint64_t elements[3] = {g1, g2, gk.has(g_minus) ? g_minus : g3};
          hoisted_sum_round(acc, elements, gk);
          s *= 4;
          continue;
        }
      }
      if (!gk.has(g1))
        throw invalid_argument("ckks::evaluator::sum_slots: no Galois key for rotation step " + std::to_string(s) +
                               " (Galois element " + std::to_string(g1) +
                               "); generate the keys of evaluator::sum_slots_steps(" + std::to_string(slots) + ")");
      const std::uint64_t single[1] = {g1};
      hoisted_sum_round(acc, single, gk);
      s *= 2;
    }
    return acc;
  }

  /// The slot-wise product of a and b, summed over all slots, in every slot:
  /// sum_slots(multiply_relin_rescale(a, b, rk), gk). One level consumed.
  /// @throws as multiply_relin_rescale and sum_slots.
  [[nodiscard]] ciphertext inner_product(const ciphertext& a, const ciphertext& b, const relin_keys& rk,
                                         const galois_keys& gk) const {
    check(gk, "inner_product");
    return sum_slots(multiply_relin_rescale(a, b, rk), gk);
  }

  /// sum_i a_i·weights_i in every slot: sum_slots(multiply_plain_rescale(a, weights), gk). One level
  /// consumed.
  /// @throws as multiply_plain_rescale and sum_slots.
  [[nodiscard]] ciphertext inner_product(const ciphertext& a, std::span<const double> weights,
                                         const galois_keys& gk) const {
    check(gk, "inner_product");
    return sum_slots(multiply_plain_rescale(a, weights), gk);
  }

  // ---------------------------------------------------------------------------------------------
  // Operations built from the above

  /// a·i in every (complex) slot: multiplication by the monomial X^(N/2), exact, no level consumed,
  /// scale unchanged (every slot root ζ^(5^j) raised to N/2 is i, since 5^j = 1 mod 4).
  /// @throws hefl::invalid_argument if a belongs to other parameters.
  [[nodiscard]] ciphertext multiply_by_i(const ciphertext& a) const {
    ciphertext r = a;
    multiply_by_i_inplace(r);
    return r;
  }
  /// a = a·i (see multiply_by_i).
  void multiply_by_i_inplace(ciphertext& a) const {
    check(a, "multiply_by_i");
    const std::size_t n = m_params.poly_degree();
    std::vector<std::int64_t> monomial(n, 0);
    monomial[n / 2] = 1;
    detail::rns_poly m = detail::from_signed(std::span<const std::int64_t>(monomial), a.level(), false, ctx());
    detail::to_ntt(m, ctx());
    for (std::size_t c = 0; c < a.size(); ++c) detail::multiply_inplace(a.mutable_poly(c), m, ctx());
  }

  /// a rescaled repeatedly down to @p level (one division by q_l per level, as rescale).
  /// @throws hefl::invalid_argument if a belongs to other parameters, level exceeds a's level, or a
  ///         rescale would leave a scale below 1 (a is then unchanged).
  [[nodiscard]] ciphertext rescale_to(const ciphertext& a, std::size_t level) const {
    check(a, "rescale_to");
    if (level > a.level())
      throw invalid_argument("ckks::evaluator::rescale_to: cannot raise a ciphertext from level " +
                             std::to_string(a.level()) + " to level " + std::to_string(level));
    ciphertext r = a;
    while (r.level() > level) rescale_inplace(r);
    return r;
  }
  /// a = rescale_to(a, level) (strong exception guarantee).
  void rescale_to_inplace(ciphertext& a, std::size_t level) const { a = rescale_to(a, level); }

  /// The sum of @p terms (at least one), left to right with add (levels matched as there).
  /// @throws hefl::invalid_argument if terms is empty, or as add.
  [[nodiscard]] ciphertext add_many(std::span<const ciphertext> terms) const {
    if (terms.empty()) throw invalid_argument("ckks::evaluator::add_many: no terms to add");
    ciphertext sum = terms[0];
    check(sum, "add_many");
    for (std::size_t i = 1; i < terms.size(); ++i) add_inplace(sum, terms[i]);
    return sum;
  }

  /// The product of @p factors (at least one) as a balanced tree of multiply_relin_rescale: depth
  /// ceil(log2(count)) levels instead of count - 1.
  /// @throws hefl::invalid_argument if factors is empty, or as multiply_relin_rescale.
  /// @throws hefl::depth_exhausted (before any work) if the tree is deeper than the lowest factor's level.
  [[nodiscard]] ciphertext multiply_many(std::span<const ciphertext> factors, const relin_keys& rk) const {
    if (factors.empty()) throw invalid_argument("ckks::evaluator::multiply_many: no factors to multiply");
    std::size_t depth = 0, lowest = factors[0].level();
    for (const auto& f : factors) {
      check(f, "multiply_many");
      lowest = std::min(lowest, f.level());
    }
    while ((std::size_t{1} << depth) < factors.size()) ++depth;
    if (depth > lowest)
      throw depth_exhausted("ckks::evaluator::multiply_many: " + std::to_string(factors.size()) +
                            " factors need " + std::to_string(depth) + " levels, the lowest factor has " +
                            std::to_string(lowest));
    std::vector<ciphertext> layer(factors.begin(), factors.end());
    while (layer.size() > 1) {
      std::vector<ciphertext> next;
      next.reserve((layer.size() + 1) / 2);
      for (std::size_t i = 0; i + 1 < layer.size(); i += 2) next.push_back(multiply_relin_rescale(layer[i], layer[i + 1], rk));
      if (layer.size() % 2 == 1) next.push_back(layer.back());
      layer = std::move(next);
    }
    return layer[0];
  }

private:
  [[nodiscard]] const detail::context& ctx() const noexcept { return m_params.context(); }

  void check(const ciphertext& a, const char* op) const {
    if (a.parameters_id() != m_params.id())
      throw invalid_argument(std::string("ckks::evaluator::") + op +
                             ": the ciphertext belongs to other parameters (id " + std::to_string(a.parameters_id()) +
                             ", expected " + std::to_string(m_params.id()) + ")");
  }
  void check(const plaintext& p, const char* op) const {
    if (p.parameters_id() != m_params.id())
      throw invalid_argument(std::string("ckks::evaluator::") + op +
                             ": the plaintext belongs to other parameters (id " + std::to_string(p.parameters_id()) +
                             ", expected " + std::to_string(m_params.id()) + ")");
  }
  void check(const relin_keys& rk) const {
    if (rk.parameters_id() != m_params.id())
      throw invalid_argument("ckks::evaluator::relinearize: the relinearization key belongs to other parameters");
  }
  void check(const galois_keys& gk, const char* op) const {
    if (gk.parameters_id() != m_params.id())
      throw invalid_argument(std::string("ckks::evaluator::") + op + ": the Galois keys belong to other parameters");
  }
  static void check_size2(const ciphertext& a, const char* op) {
    if (a.size() != 2)
      throw invalid_argument(std::string("ckks::evaluator::") + op + ": needs a 2-part ciphertext, got " +
                             std::to_string(a.size()) + " parts; relinearize it first");
  }
  static void require_level(std::size_t level, const char* op) {
    if (level == 0)
      throw depth_exhausted(std::string("ckks::evaluator::") + op +
                            ": the operand is at level 0, but the operation consumes one level (the computation "
                            "is deeper than the parameters' prime chain allows)");
  }
  // A scale at or above Q_l/2 leaves no room for the values: every such product decrypts to garbage.
  void check_scale_fits(double scale, std::size_t level, const char* op) const {
    const double log2_scale = std::log2(scale);
    if (!(log2_scale < m_log2_modulus[level] - 1))
      throw depth_exhausted(std::string("ckks::evaluator::") + op + ": the result's scale 2^" +
                            std::to_string(log2_scale) + " does not fit the modulus 2^" +
                            std::to_string(m_log2_modulus[level]) + " at level " + std::to_string(level) +
                            "; no level left (rescale earlier or use a longer prime chain)");
  }
  void check_fits(double scaled, std::size_t level, const char* op) const {
    if (!std::isfinite(scaled))
      throw invalid_argument(std::string("ckks::evaluator::") + op + ": the scaled constant is not finite");
    if (scaled != 0 && !(std::log2(std::fabs(scaled)) < m_log2_modulus[level] - 1))
      throw invalid_argument(std::string("ckks::evaluator::") + op + ": the scaled constant 2^" +
                             std::to_string(std::log2(std::fabs(scaled))) + " does not fit the modulus 2^" +
                             std::to_string(m_log2_modulus[level]) + " at level " + std::to_string(level));
  }
  void check_scales(double sa, double sb, std::size_t level, const char* op, double tolerance) const {
    if (sa == sb) return;
    const double rel = std::fabs(sa / sb - 1);
    if (!(rel <= tolerance)) {
      char buf[256];
      std::snprintf(buf, sizeof buf, "%.17g (2^%.12f) vs %.17g (2^%.12f), relative difference %.3g > tolerance %.3g",
                    sa, std::log2(sa), sb, std::log2(sb), rel, tolerance);
      throw invalid_argument(std::string("ckks::evaluator::") + op + ": scales differ at level " +
                             std::to_string(level) + ": " + buf +
                             "; rescale the product first, or encode the plaintext with the ciphertext's exact "
                             "scale: encode(params, encoder, values, ciphertext)");
    }
  }

  // The scale after rescaling a, after checking that a can be rescaled.
  [[nodiscard]] double rescaled_scale(const ciphertext& a) const {
    check(a, "rescale");
    if (a.level() == 0)
      throw depth_exhausted("ckks::evaluator::rescale: the ciphertext is at level 0, no prime is left to divide "
                            "by (the computation needs more levels than the parameters have)");
    const double q = static_cast<double>(m_params.primes()[a.level()]);
    const double scale = a.scale() / q;
    if (scale < 1)
      throw invalid_argument("ckks::evaluator::rescale: dividing scale 2^" + std::to_string(std::log2(a.scale())) +
                             " by q_" + std::to_string(a.level()) + " = 2^" + std::to_string(std::log2(q)) +
                             " would leave a scale below 1; rescale after a multiplication");
    return scale;
  }

  [[nodiscard]] long long normalized_step(long long steps) const noexcept {
    const auto slots = static_cast<long long>(slot_count());
    return ((steps % slots) + slots) % slots;
  }

  // Checks everything (adjusting a copy of the higher operand when the levels differ) before the
  // first write to a: the strong exception guarantee of the _inplace operations.
  void add_sub_inplace(ciphertext& a, const ciphertext& b, bool subtract, const char* op) const {
    check(a, op);
    check(b, op);
    if (a.level() > b.level()) {
      ciphertext adjusted = adjust_to(a, b.level(), b.scale());
      check_scales(adjusted.scale(), b.scale(), b.level(), op, std::max(m_scale_tolerance, adjust_tolerance));
      add_sub_same_level(adjusted, b, subtract);
      a = std::move(adjusted);
      return;
    }
    if (b.level() > a.level()) {
      const ciphertext adjusted = adjust_to(b, a.level(), a.scale());
      check_scales(a.scale(), adjusted.scale(), a.level(), op, std::max(m_scale_tolerance, adjust_tolerance));
      add_sub_same_level(a, adjusted, subtract);
      return;
    }
    check_scales(a.scale(), b.scale(), a.level(), op, m_scale_tolerance);
    add_sub_same_level(a, b, subtract);
  }

  // a ± b for operands of one level whose scales were checked; a keeps its scale.
  void add_sub_same_level(ciphertext& a, const ciphertext& b, bool subtract) const {
    if (b.size() > a.size()) {
      std::vector<detail::rns_poly> polys(a.polys());
      detail::rns_poly extra = b.poly(2);
      if (subtract) detail::negate_inplace(extra, ctx());
      polys.push_back(std::move(extra));
      ciphertext grown(m_params, std::move(polys), a.scale());
      add_sub_same_level(grown, b, subtract, 2);
      a = std::move(grown);
      return;
    }
    add_sub_same_level(a, b, subtract, b.size());
  }
  void add_sub_same_level(ciphertext& a, const ciphertext& b, bool subtract, std::size_t parts) const {
    for (std::size_t c = 0; c < parts; ++c) {
      if (subtract) detail::sub_inplace(a.mutable_poly(c), b.poly(c), ctx());
      else detail::add_inplace(a.mutable_poly(c), b.poly(c), ctx());
    }
  }

  void add_sub_plain_inplace(ciphertext& a, const plaintext& p, bool subtract, const char* op) const {
    check(a, op);
    check(p, op);
    if (a.level() > p.level()) {
      ciphertext adjusted = adjust_to(a, p.level(), p.scale());
      check_scales(adjusted.scale(), p.scale(), p.level(), op, std::max(m_scale_tolerance, adjust_tolerance));
      add_sub_plain_same_level(adjusted, p, subtract);
      a = std::move(adjusted);
      return;
    }
    check_scales(a.scale(), p.scale(), a.level(), op, m_scale_tolerance);
    add_sub_plain_same_level(a, p, subtract);
  }

  // a ± p on a's limbs (a plaintext above a's level contributes its lower limbs).
  void add_sub_plain_same_level(ciphertext& a, const plaintext& p, bool subtract) const {
    detail::rns_poly& x = a.mutable_poly(0);
    const std::size_t n = m_params.poly_degree();
    detail::for_each_limb(x, [&](std::size_t i) {
      const detail::u64 q = m_params.primes()[i];
      detail::u64* y = x.limb(i);
      const detail::u64* z = p.poly().limb(i);
      if (subtract) {
        for (std::size_t k = 0; k < n; ++k) y[k] = detail::sub_mod(y[k], z[k], q);
      } else {
        for (std::size_t k = 0; k < n; ++k) y[k] = detail::add_mod(y[k], z[k], q);
      }
    });
  }

  // (a0 + a1 s)(b0 + b1 s) = d0 + d1 s + d2 s^2: one pass per limb where d1 sums two 128-bit
  // products before its single reduction, or the IFMA element-wise kernels for primes below 2^50.
  [[nodiscard]] ciphertext tensor(const ciphertext& a, const ciphertext& b, double scale) const {
    const std::size_t n = m_params.poly_degree(), level = a.level();
    detail::rns_poly d0(n, level, false, true, detail::uninitialized), d1(n, level, false, true, detail::uninitialized),
        d2(n, level, false, true, detail::uninitialized);
    const bool same = &a == &b;
    detail::for_each_limb(d0, [&](std::size_t i) {
      const detail::modulus& q = ctx().ntt(i).mod();
      const detail::u64 *a0 = a.poly(0).limb(i), *a1 = a.poly(1).limb(i);
      const detail::u64 *b0 = b.poly(0).limb(i), *b1 = b.poly(1).limb(i);
      detail::u64 *y0 = d0.limb(i), *y1 = d1.limb(i), *y2 = d2.limb(i);
      if (detail::eltwise_uses_ifma(q.value())) {
        detail::eltwise_multiply(y0, a0, b0, n, q);
        detail::eltwise_multiply(y2, a1, b1, n, q);
        detail::eltwise_multiply(y1, a0, b1, n, q);
        if (same)
          detail::eltwise_add(y1, y1, y1, n, q.value());
        else
          detail::eltwise_multiply_add(y1, a1, b0, n, q);
      } else if (same) {
        for (std::size_t k = 0; k < n; ++k) {
          y0[k] = detail::mul_mod(a0[k], a0[k], q);
          const detail::u64 cross = detail::mul_mod(a0[k], a1[k], q);
          y1[k] = detail::add_mod(cross, cross, q.value());
          y2[k] = detail::mul_mod(a1[k], a1[k], q);
        }
      } else {
        for (std::size_t k = 0; k < n; ++k) {
          y0[k] = detail::mul_mod(a0[k], b0[k], q);
          y1[k] = q.reduce(static_cast<detail::u128>(a0[k]) * b1[k] + static_cast<detail::u128>(a1[k]) * b0[k]);
          y2[k] = detail::mul_mod(a1[k], b1[k], q);
        }
      }
    });
    std::vector<detail::rns_poly> polys;
    polys.reserve(3);
    polys.push_back(std::move(d0));
    polys.push_back(std::move(d1));
    polys.push_back(std::move(d2));
    return ciphertext(m_params, std::move(polys), scale);
  }

  [[nodiscard]] std::vector<std::uint32_t> permutation(std::uint64_t galois_elt) const {
    std::vector<std::uint32_t> source(m_params.poly_degree());
    detail::galois_ntt_permutation(galois_elt, m_bit_reverse, source);
    return source;
  }

  // (c0(X^g) + ModDown(<digits(c1)(X^g), key_b>), ModDown(<digits(c1)(X^g), key_a>)), reusing
  // precomputed digits of a's second part when given.
  [[nodiscard]] ciphertext apply_keyed_automorphism(const ciphertext& a, std::uint64_t galois_elt,
                                                    const kswitch_key& key,
                                                    const detail::key_switch_digits* digits = nullptr) const {
    const std::vector<std::uint32_t> source = permutation(galois_elt);
    detail::rns_poly ext0, ext1;
    if (digits == nullptr) {
      // One rotation: permuting the l + 1 limbs of c1 first costs less than permuting the
      // (l + 1)(l + 2) digits; the digits of c1(X^g) are the same residues either way.
      detail::rns_poly rotated;
      detail::apply_galois_ntt(a.poly(1), source, rotated, ctx());
      detail::key_switch_inner_product_fused(rotated, key, ctx(), ext0, ext1);
    } else {
      const detail::key_switch_term term{&key, source.data()};
      detail::key_switch_inner_product(*digits, std::span<const detail::key_switch_term>(&term, 1), ctx(), ext0, ext1);
    }
    detail::key_switch_mod_down(ext0, ext1, ctx());
    const std::size_t n = m_params.poly_degree();
    const detail::rns_poly& c0 = a.poly(0);
    detail::for_each_limb(ext0, [&](std::size_t i) {
      const detail::u64 q = m_params.primes()[i];
      const detail::u64* x = c0.limb(i);
      detail::u64* y = ext0.limb(i);
      for (std::size_t k = 0; k < n; ++k) y[k] = detail::add_mod(y[k], x[source[k]], q);
    });
    std::vector<detail::rns_poly> polys;
    polys.reserve(2);
    polys.push_back(std::move(ext0));
    polys.push_back(std::move(ext1));
    return ciphertext(m_params, std::move(polys), a.scale());
  }

  // acc += sum over the Galois elements of acc(X^g): one decomposition (made limb by limb, see
  // key_switch_inner_product_fused), one inner product over all keys, one mod-down.
  void hoisted_sum_round(ciphertext& acc, std::span<const std::uint64_t> elements, const galois_keys& gk) const {
    std::vector<std::vector<std::uint32_t>> sources;
    std::vector<detail::key_switch_term> terms;
    sources.reserve(elements.size());
    for (const std::uint64_t g : elements) {
      sources.push_back(permutation(g));
      terms.push_back({&gk.key(g), sources.back().data()});
    }
    detail::rns_poly ext0, ext1;
    detail::key_switch_inner_product_fused(acc.poly(1), terms, ctx(), ext0, ext1);
    detail::key_switch_mod_down(ext0, ext1, ctx());
    const std::size_t n = m_params.poly_degree();
    detail::rns_poly& c0 = acc.mutable_poly(0);
    detail::rns_poly& c1 = acc.mutable_poly(1);
    detail::for_each_limb(ext0, [&](std::size_t i) {
      const detail::u64 q = m_params.primes()[i];
      const detail::u64* x = c0.limb(i);
      detail::u64* y0 = ext0.limb(i);
      for (const auto& source : sources)
        for (std::size_t k = 0; k < n; ++k) y0[k] = detail::add_mod(y0[k], x[source[k]], q);
      for (std::size_t k = 0; k < n; ++k) y0[k] = detail::add_mod(y0[k], x[k], q);
      detail::u64* y1 = c1.limb(i);
      const detail::u64* z1 = ext1.limb(i);
      for (std::size_t k = 0; k < n; ++k) y1[k] = detail::add_mod(y1[k], z1[k], q);
    });
    c0 = std::move(ext0);
  }

  // Signed powers of two whose rotations compose the rotation by steps, all with keys in gk:
  // the non-adjacent form of the step or of its complement (step - N/2), or plain binary forms;
  // nothing if none has all its keys.
  // The non-adjacent form of x (signed powers of two), without parts that are multiples of slots.
  [[nodiscard]] static std::vector<long long> naf_parts(long long x, long long slots) {
    std::vector<long long> parts;
    const long long sign = x < 0 ? -1 : 1;
    long long v = x < 0 ? -x : x;
    for (long long bit = 1; v != 0; bit *= 2, v /= 2) {
      if (v & 1) {
        const long long z = 2 - (v & 3); // +1 or -1
        v -= z;
        if ((bit * z) % slots != 0) parts.push_back(sign * z * bit);
      }
    }
    return parts;
  }

  [[nodiscard]] std::optional<std::vector<long long>> find_rotation_plan(long long steps, const galois_keys& gk) const {
    const auto slots = static_cast<long long>(slot_count());
    const long long k = normalized_step(steps);
    const auto naf = [slots](long long x) { return naf_parts(x, slots); };
    const auto binary = [slots](long long x, long long sign) {
      std::vector<long long> parts;
      for (long long bit = 1; bit < slots; bit *= 2)
        if (x & bit) parts.push_back(sign * bit);
      return parts;
    };
    const std::vector<std::vector<long long>> candidates{naf(k), naf(k - slots), binary(k, 1), binary(slots - k, -1)};
    const std::vector<long long>* best = nullptr;
    for (const auto& c : candidates) {
      const bool all = std::all_of(c.begin(), c.end(), [&](long long part) {
        return gk.has(galois_element_for_step(part, m_params.poly_degree()));
      });
      if (all && (best == nullptr || c.size() < best->size())) best = &c;
    }
    if (best != nullptr) return *best;
    return std::nullopt;
  }

  [[nodiscard]] std::vector<long long> rotation_plan(long long steps, const galois_keys& gk, const char* op) const {
    if (auto plan = find_rotation_plan(steps, gk)) return std::move(*plan);
    const auto slots = static_cast<long long>(slot_count());
    const long long k = normalized_step(steps);
    std::string missing;
    for (const long long part : naf_parts(k, slots))
      if (!gk.has(galois_element_for_step(part, m_params.poly_degree())))
        missing += (missing.empty() ? "" : ", ") + std::to_string(part);
    throw invalid_argument(std::string("ckks::evaluator::") + op + ": no Galois key for rotation step " +
                           std::to_string(steps) + " (Galois element " +
                           std::to_string(galois_element_for_step(k, m_params.poly_degree())) +
                           "), and the power-of-two keys to compose it are missing too (steps " + missing +
                           "); list the step in key_generator::create_galois_keys");
  }

  parameters m_params;
  encoder m_encoder;
  double m_scale_tolerance;
  std::vector<std::uint32_t> m_bit_reverse;
  std::vector<double> m_log2_modulus; // log2(q_0·...·q_l) per level l
};

} // namespace hefl::he::ckks
