#pragma once
/// @file
/// ckks::linear_transform: y = M·x for a plaintext matrix M and encrypted slots x, evaluated from
/// M's generalised diagonals (Halevi, Shoup, "Algorithms in HElib", CRYPTO 2014) with the
/// baby-step giant-step schedule and hoisted baby steps (Halevi, Shoup, "Faster Homomorphic Linear
/// Transformations in HElib", CRYPTO 2018).
///
/// Diagonal k of the n×n slot matrix (n = N/2 slots) is d_k[i] = M[i][(i + k) mod n], so
/// M·x = sum_k d_k ⊙ rot(x, k). Writing k = g·n1 + b (0 <= b < n1),
///   M·x = sum_g rot( sum_b rot(d_k, -g·n1) ⊙ rot(x, b), g·n1 ):
/// n1 baby-step rotations of x (one hoisted decomposition, evaluator::rotate_many) and one
/// giant-step rotation per group g, about 2·sqrt(#diagonals) key switches instead of #diagonals.
/// Zero diagonals are skipped, and so are baby or giant steps that only zero diagonals use.
///
/// Layouts of a d×d matrix (d a power of two dividing n; for d = n both are the full n×n matrix):
/// - slot_layout::replicated: x is stored with period d (slot i holds x[i mod d]) and y comes out
///   the same way; d diagonals 0..d-1.
/// - slot_layout::blocks: the slots are n/d blocks of d slots, each an independent vector, and M
///   is applied to every block (a single vector zero-padded into slots 0..d-1 is the case of one
///   non-zero block; its result has zeros outside slots 0..d-1); diagonals -(d-1)..d-1.
/// Complex matrices act on complex slots; real matrices are encoded as real vectors. apply encodes
/// each diagonal as it goes; encode_diagonals encodes them once for a matrix applied many times.

#include <hefl/core/error.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/evaluator.hpp>
#include <hefl/he/ckks/keys.hpp>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <set>
#include <span>
#include <string>
#include <vector>

namespace hefl::he::ckks {

/// How a d×d matrix is laid out on the slots (see the file comment).
enum class slot_layout {
  replicated, ///< x repeated with period d over all slots; y repeated the same way.
  blocks      ///< n/d independent vectors of d slots; y = M·x in every block.
};

/// What one linear_transform::apply did, counted at its calls into the evaluator.
struct linear_transform_stats {
  std::size_t baby_rotations = 0;     ///< non-trivial rotations of the input (one hoisted decomposition)
  std::size_t giant_rotations = 0;    ///< rotations of the partial sums
  std::size_t plaintext_products = 0; ///< multiply_plain calls, one per non-zero diagonal
  /// Key switches: baby_rotations + giant_rotations.
  [[nodiscard]] std::size_t key_switches() const noexcept { return baby_rotations + giant_rotations; }
};

/// A plaintext d×d matrix prepared for the baby-step giant-step evaluation of y = M·x on one
/// ciphertext. Holds a copy of the matrix (d² values) and the indices of its non-zero diagonals;
/// each diagonal is encoded during apply at the ciphertext's scale and level.
class linear_transform {
public:
  /// A real d×d matrix, row-major (@p matrix[r·d + c]), for @p slot_count slots.
  /// @param baby_steps n1; 0 chooses default_baby_steps(slot_count, dimension, layout), whose
  ///        rotation steps are a subset of rotation_steps(slot_count, dimension, layout).
  /// @throws hefl::invalid_argument if slot_count is not a power of two >= 2, dimension is not a
  ///         power of two in [1, slot_count], matrix.size() != dimension², an entry is not finite,
  ///         or baby_steps exceeds slot_count.
  linear_transform(std::size_t slot_count, std::size_t dimension, std::span<const double> matrix, slot_layout layout,
                   std::size_t baby_steps = 0)
      : linear_transform(slot_count, dimension, matrix.size(), layout) {
    m_real.assign(matrix.begin(), matrix.end());
    finish(baby_steps);
  }

  /// A complex d×d matrix, row-major, acting on complex slots (see the real overload).
  /// @throws hefl::invalid_argument as the real overload.
  linear_transform(std::size_t slot_count, std::size_t dimension, std::span<const std::complex<double>> matrix,
                   slot_layout layout, std::size_t baby_steps = 0)
      : linear_transform(slot_count, dimension, matrix.size(), layout) {
    m_real.resize(matrix.size());
    m_imag.resize(matrix.size());
    for (std::size_t i = 0; i < matrix.size(); ++i) {
      m_real[i] = matrix[i].real();
      m_imag[i] = matrix[i].imag();
    }
    finish(baby_steps);
  }

  /// The baby-step count n1 chosen for every matrix of this shape: it minimises the key switches
  /// (non-zero baby steps + non-zero giant steps) when all diagonals are non-zero; ties go to the
  /// larger n1 (baby steps are hoisted, hence cheaper).
  /// @throws hefl::invalid_argument on a bad shape (as the constructor).
  [[nodiscard]] static std::size_t default_baby_steps(std::size_t slot_count, std::size_t dimension,
                                                      slot_layout layout) {
    check_shape(slot_count, dimension, "default_baby_steps");
    const std::vector<long long> all = candidate_indices(slot_count, dimension, layout);
    return best_baby_steps(all);
  }

  /// The rotation steps apply needs for any d×d matrix of this shape with the default baby steps
  /// (a sparse matrix needs a subset: its rotation_steps()). Pass them to
  /// key_generator::create_galois_keys to generate only these keys: about 2·sqrt(#diagonals).
  /// @throws hefl::invalid_argument on a bad shape (as the constructor).
  [[nodiscard]] static std::vector<long long> rotation_steps(std::size_t slot_count, std::size_t dimension,
                                                             slot_layout layout) {
    check_shape(slot_count, dimension, "rotation_steps");
    const std::vector<long long> all = candidate_indices(slot_count, dimension, layout);
    return steps_for(all, best_baby_steps(all), slot_count);
  }

  /// The rotation steps this matrix needs (non-zero baby steps, then non-zero giant steps).
  [[nodiscard]] std::vector<long long> rotation_steps() const { return steps_for(m_indices, m_baby, m_slots); }

  /// Number of slots the transform acts on.
  [[nodiscard]] std::size_t slot_count() const noexcept { return m_slots; }
  /// The matrix dimension d.
  [[nodiscard]] std::size_t dimension() const noexcept { return m_dim; }
  /// The layout.
  [[nodiscard]] slot_layout layout() const noexcept { return m_layout; }
  /// Whether the matrix has complex entries.
  [[nodiscard]] bool is_complex() const noexcept { return !m_imag.empty(); }
  /// The baby-step count n1.
  [[nodiscard]] std::size_t baby_steps() const noexcept { return m_baby; }
  /// The number of giant-step groups n2 (distinct g among the non-zero diagonals); n1·n2 covers them.
  [[nodiscard]] std::size_t giant_steps() const {
    std::set<long long> groups;
    for (const long long k : m_indices) groups.insert(floor_div(k, static_cast<long long>(m_baby)));
    return groups.size();
  }
  /// The indices k of the non-zero diagonals, in (-n/2, n/2], ascending.
  [[nodiscard]] const std::vector<long long>& diagonal_indices() const noexcept { return m_indices; }
  /// The vector apply multiplies rot(x, k) by, for @p k taken modulo the slot count (all zeros for
  /// a zero diagonal; in the replicated layout, k and k + d give the same vector).
  [[nodiscard]] std::vector<std::complex<double>> diagonal(long long k) const { return shifted_diagonal(k, 0); }

  /// M·x on the slots of @p a: level l - 1, scale s²/q_l (the diagonals are encoded at a's scale
  /// and level and the sum is rescaled once, as evaluator::multiply_plain_rescale). All keys and
  /// the level are checked before any work. A zero matrix gives an encryption of zeros.
  /// @param stats if not null, receives the rotations and products made.
  /// @throws hefl::invalid_argument if the evaluator has another slot count than the transform, a
  ///         or gk belongs to other parameters than the evaluator, a has 3 parts, or gk lacks a key
  ///         of rotation_steps() (the message names the step; rotations are not composed from other
  ///         keys, so the key-switch count stays what BSGS promises).
  /// @throws hefl::depth_exhausted if a is at level 0.
  [[nodiscard]] ciphertext apply(const evaluator& ev, const ciphertext& a, const galois_keys& gk,
                                 linear_transform_stats* stats = nullptr) const {
    check_apply(ev, a, gk);
    std::vector<double> real(m_slots);
    return run(ev, a, gk, stats, [&](std::size_t index, long long shift) {
      return encode_one(ev, index, shift, a.scale(), a.level(), real);
    });
  }

  /// The non-zero diagonals, pre-rotated for the baby-step giant-step schedule and encoded at
  /// @p scale and @p level, in the order apply uses them: encode once, apply to many ciphertexts
  /// (one plaintext of level + 1 limbs per non-zero diagonal).
  /// @throws hefl::invalid_argument if the evaluator has another slot count than the transform, or as
  ///         ckks::encode (level above the top level, scale not positive or too large).
  [[nodiscard]] std::vector<plaintext> encode_diagonals(const evaluator& ev, double scale, std::size_t level) const {
    check_slots(ev, "encode_diagonals");
    std::vector<double> real(m_slots);
    std::vector<plaintext> out;
    out.reserve(m_indices.size());
    const auto n1 = static_cast<long long>(m_baby);
    for (std::size_t i = 0; i < m_indices.size(); ++i)
      out.push_back(encode_one(ev, i, -floor_div(m_indices[i], n1) * n1, scale, level, real));
    return out;
  }

  /// M·x with diagonals from encode_diagonals: level l - 1, scale s·s_p/q_l for plaintexts at scale
  /// s_p (plaintexts above a's level are used at a's level).
  /// @throws hefl::invalid_argument as the other overload, or if @p diagonals does not hold one
  ///         plaintext per non-zero diagonal, or one belongs to other parameters or lies below a's
  ///         level.
  /// @throws hefl::depth_exhausted if a is at level 0.
  [[nodiscard]] ciphertext apply(const evaluator& ev, const ciphertext& a, const galois_keys& gk,
                                 std::span<const plaintext> diagonals, linear_transform_stats* stats = nullptr) const {
    check_apply(ev, a, gk);
    if (diagonals.size() != m_indices.size())
      throw invalid_argument("ckks::linear_transform::apply: expected " + std::to_string(m_indices.size()) +
                             " encoded diagonals (encode_diagonals), got " + std::to_string(diagonals.size()));
    for (const plaintext& p : diagonals) {
      if (p.parameters_id() != ev.params().id())
        throw invalid_argument("ckks::linear_transform::apply: an encoded diagonal belongs to other parameters");
      if (p.level() < a.level())
        throw invalid_argument("ckks::linear_transform::apply: the diagonals are encoded at level " +
                               std::to_string(p.level()) + ", below the ciphertext's level " +
                               std::to_string(a.level()) + "; encode them at the ciphertext's level");
    }
    return run(ev, a, gk, stats, [&](std::size_t index, long long) -> const plaintext& { return diagonals[index]; });
  }

private:
  void check_slots(const evaluator& ev, const char* op) const {
    if (ev.slot_count() != m_slots)
      throw invalid_argument(std::string("ckks::linear_transform::") + op + ": the transform is for " +
                             std::to_string(m_slots) + " slots, the evaluator has " + std::to_string(ev.slot_count()));
  }

  void check_apply(const evaluator& ev, const ciphertext& a, const galois_keys& gk) const {
    const parameters& params = ev.params();
    check_slots(ev, "apply");
    if (a.parameters_id() != params.id())
      throw invalid_argument("ckks::linear_transform::apply: the ciphertext belongs to other parameters (id " +
                             std::to_string(a.parameters_id()) + ", expected " + std::to_string(params.id()) + ")");
    if (gk.parameters_id() != params.id())
      throw invalid_argument("ckks::linear_transform::apply: the Galois keys belong to other parameters");
    if (a.size() != 2)
      throw invalid_argument("ckks::linear_transform::apply: needs a 2-part ciphertext, got " +
                             std::to_string(a.size()) + " parts; relinearize it first");
    if (a.level() == 0)
      throw depth_exhausted("ckks::linear_transform::apply: the ciphertext is at level 0, but the transform "
                            "consumes one level (multiply_plain then rescale)");
    for (const long long step : rotation_steps()) {
      const std::uint64_t g = galois_element_for_step(step, params.poly_degree());
      if (!gk.has(g))
        throw invalid_argument("ckks::linear_transform::apply: no Galois key for rotation step " +
                               std::to_string(step) + " (Galois element " + std::to_string(g) +
                               "); generate the keys of linear_transform::rotation_steps()");
    }
  }

  // Diagonal m_indices[index] rotated by shift, encoded.
  [[nodiscard]] plaintext encode_one(const evaluator& ev, std::size_t index, long long shift, double scale,
                                     std::size_t level, std::vector<double>& real) const {
    const std::vector<std::complex<double>> values = shifted_diagonal(m_indices[index], shift);
    if (is_complex()) return encode(ev.params(), ev.slot_encoder(), std::span<const std::complex<double>>(values), scale, level);
    for (std::size_t i = 0; i < values.size(); ++i) real[i] = values[i].real();
    return encode(ev.params(), ev.slot_encoder(), std::span<const double>(real), scale, level);
  }

  // The schedule, after the checks: diagonal(index, shift) gives the plaintext of non-zero diagonal
  // m_indices[index] rotated by shift = -g·n1.
  template <class Diagonal>
  [[nodiscard]] ciphertext run(const evaluator& ev, const ciphertext& a, const galois_keys& gk,
                               linear_transform_stats* stats, Diagonal&& diagonal) const {
    linear_transform_stats local;
    linear_transform_stats& st = stats != nullptr ? *stats : local;
    st = {};
    if (m_indices.empty()) {
      const std::vector<double> zeros(m_slots, 0.0);
      return ev.multiply_plain_rescale(a, zeros);
    }
    const auto n1 = static_cast<long long>(m_baby);
    std::set<long long> babies;
    for (const long long k : m_indices) babies.insert(k - floor_div(k, n1) * n1);
    const std::vector<long long> baby_list(babies.begin(), babies.end());
    const std::vector<ciphertext> rotated = ev.rotate_many(a, baby_list, gk);
    st.baby_rotations = static_cast<std::size_t>(std::count_if(baby_list.begin(), baby_list.end(),
                                                               [](long long b) { return b != 0; }));
    // m_indices is ascending, so each group g is one run of it, baby steps ascending within.
    ciphertext sum = a;
    bool have_sum = false;
    for (std::size_t i = 0; i < m_indices.size();) {
      const long long g = floor_div(m_indices[i], n1);
      ciphertext inner = a;
      bool have_inner = false;
      for (; i < m_indices.size() && floor_div(m_indices[i], n1) == g; ++i) {
        const long long b = m_indices[i] - g * n1;
        const auto at = static_cast<std::size_t>(std::lower_bound(baby_list.begin(), baby_list.end(), b) -
                                                 baby_list.begin());
        ciphertext term = ev.multiply_plain(rotated[at], diagonal(i, -g * n1));
        ++st.plaintext_products;
        if (have_inner) {
          ev.add_inplace(inner, term);
        } else {
          inner = std::move(term);
          have_inner = true;
        }
      }
      if (g != 0 && (g * n1) % static_cast<long long>(m_slots) != 0) { // a multiple of n is no rotation
        inner = ev.rotate(inner, g * n1, gk);
        ++st.giant_rotations;
      }
      if (have_sum) {
        ev.add_inplace(sum, inner);
      } else {
        sum = std::move(inner);
        have_sum = true;
      }
    }
    ev.rescale_inplace(sum);
    return sum;
  }

  linear_transform(std::size_t slot_count, std::size_t dimension, std::size_t entries, slot_layout layout)
      : m_slots(slot_count), m_dim(dimension), m_layout(layout) {
    check_shape(slot_count, dimension, "linear_transform");
    if (entries != dimension * dimension)
      throw invalid_argument("ckks::linear_transform: a " + std::to_string(dimension) + "x" +
                             std::to_string(dimension) + " matrix has " + std::to_string(dimension * dimension) +
                             " entries, got " + std::to_string(entries));
    // For d = n both layouts are the full cyclic n×n matrix.
    if (dimension == slot_count) m_layout = slot_layout::replicated;
  }

  void finish(std::size_t baby_steps) {
    for (std::size_t i = 0; i < m_real.size(); ++i)
      if (!std::isfinite(m_real[i]) || (!m_imag.empty() && !std::isfinite(m_imag[i])))
        throw invalid_argument("ckks::linear_transform: matrix entry (" + std::to_string(i / m_dim) + ", " +
                               std::to_string(i % m_dim) + ") is not finite");
    if (baby_steps > m_slots)
      throw invalid_argument("ckks::linear_transform: baby_steps must be at most the slot count " +
                             std::to_string(m_slots) + ", got " + std::to_string(baby_steps));
    for (const long long k : candidate_indices(m_slots, m_dim, m_layout)) {
      bool nonzero = false;
      for (std::size_t r = 0; r < m_dim && !nonzero; ++r) nonzero = entry(k, r) != std::complex<double>(0, 0);
      if (nonzero) m_indices.push_back(k);
    }
    m_baby = baby_steps != 0 ? baby_steps : default_baby_steps(m_slots, m_dim, m_layout);
  }

  static void check_shape(std::size_t slot_count, std::size_t dimension, const char* op) {
    if (slot_count < 2 || (slot_count & (slot_count - 1)) != 0)
      throw invalid_argument(std::string("ckks::linear_transform::") + op +
                             ": the slot count must be a power of two >= 2, got " + std::to_string(slot_count));
    if (dimension == 0 || (dimension & (dimension - 1)) != 0 || dimension > slot_count)
      throw invalid_argument(std::string("ckks::linear_transform::") + op +
                             ": the dimension must be a power of two dividing the slot count " +
                             std::to_string(slot_count) + ", got " + std::to_string(dimension));
  }

  [[nodiscard]] static long long floor_div(long long a, long long b) noexcept {
    const long long q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
  }

  // The diagonal indices a matrix of this shape can have, as representatives in (-n/2, n/2].
  [[nodiscard]] static std::vector<long long> candidate_indices(std::size_t slot_count, std::size_t dimension,
                                                                slot_layout layout) {
    const auto n = static_cast<long long>(slot_count), d = static_cast<long long>(dimension);
    std::vector<long long> out;
    if (d == n) {
      for (long long k = -n / 2 + 1; k <= n / 2; ++k) out.push_back(k);
    } else if (layout == slot_layout::replicated) {
      for (long long k = 0; k < d; ++k) out.push_back(k);
    } else {
      for (long long k = -d + 1; k < d; ++k) out.push_back(k);
    }
    return out;
  }

  // Key switches of the schedule with n1 baby steps over the diagonals @p indices.
  [[nodiscard]] static std::size_t cost(const std::vector<long long>& indices, long long n1) {
    std::set<long long> babies, giants;
    for (const long long k : indices) {
      const long long g = floor_div(k, n1);
      if (k - g * n1 != 0) babies.insert(k - g * n1);
      if (g != 0) giants.insert(g);
    }
    return babies.size() + giants.size();
  }

  [[nodiscard]] static std::size_t best_baby_steps(const std::vector<long long>& indices) {
    if (indices.empty()) return 1;
    const long long span = indices.back() - indices.front() + 1;
    const auto limit = std::min<long long>(span, 2 * static_cast<long long>(std::ceil(std::sqrt(span))) + 2);
    long long best = 1;
    std::size_t best_cost = cost(indices, 1);
    for (long long n1 = 2; n1 <= limit; ++n1) {
      const std::size_t c = cost(indices, n1);
      if (c <= best_cost) {
        best = n1;
        best_cost = c;
      }
    }
    return static_cast<std::size_t>(best);
  }

  // Non-zero baby steps (ascending), then non-zero giant steps g·n1 (ascending), without two steps
  // that are equal modulo the slot count.
  [[nodiscard]] static std::vector<long long> steps_for(const std::vector<long long>& indices, std::size_t baby,
                                                        std::size_t slot_count) {
    const auto n1 = static_cast<long long>(baby), n = static_cast<long long>(slot_count);
    std::set<long long> babies, giants;
    for (const long long k : indices) {
      const long long g = floor_div(k, n1);
      if (k - g * n1 != 0) babies.insert(k - g * n1);
      if (g != 0 && (g * n1) % n != 0) giants.insert(g * n1);
    }
    std::vector<long long> out;
    std::set<long long> seen;
    for (const auto* set : {&babies, &giants})
      for (const long long s : *set)
        if (seen.insert(((s % n) + n) % n).second) out.push_back(s);
    return out;
  }

  // Entry r (0 <= r < d) of one period of diagonal k: M[r][c] with c = r + k (modulo d when
  // replicated; zero outside [0, d) for blocks).
  [[nodiscard]] std::complex<double> entry(long long k, std::size_t r) const {
    const auto d = static_cast<long long>(m_dim);
    long long c = static_cast<long long>(r) + k;
    if (m_layout == slot_layout::replicated) {
      c = ((c % d) + d) % d;
    } else if (c < 0 || c >= d) {
      return {0, 0};
    }
    const std::size_t at = r * m_dim + static_cast<std::size_t>(c);
    return {m_real[at], m_imag.empty() ? 0.0 : m_imag[at]};
  }

  // Slot j of rot(d_k, shift): d_k[j + shift]. Diagonals have period d in the slot index.
  [[nodiscard]] std::vector<std::complex<double>> shifted_diagonal(long long k, long long shift) const {
    const auto n = static_cast<long long>(m_slots), d = static_cast<long long>(m_dim);
    const long long kk = ((k % n) + n) % n;
    const long long rep = kk > n / 2 ? kk - n : kk; // the representative the layouts' formulas expect
    std::vector<std::complex<double>> out(m_slots);
    for (long long j = 0; j < n; ++j) {
      const long long i = (((j + shift) % n) + n) % n;
      out[static_cast<std::size_t>(j)] = entry(rep, static_cast<std::size_t>(i % d));
    }
    return out;
  }

  std::size_t m_slots;
  std::size_t m_dim;
  slot_layout m_layout;
  std::vector<double> m_real;
  std::vector<double> m_imag; // empty for a real matrix
  std::vector<long long> m_indices;
  std::size_t m_baby = 1;
};

} // namespace hefl::he::ckks
