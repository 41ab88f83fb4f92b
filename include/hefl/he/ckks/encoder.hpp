#pragma once
/// @file
/// he::ckks::encoder: packs N/2 complex (or real) slots into a real polynomial of degree < N and back,
/// through the canonical embedding of CKKS (Cheon, Kim, Kim, Song, "Homomorphic encryption for
/// arithmetic of approximate numbers", ASIACRYPT 2017, the encoding and decoding maps).
///
/// Slot order. Let ζ = exp(iπ/N), a primitive 2N-th root of unity. Slot j (0 <= j < N/2) of a
/// polynomial m(X) is m(ζ^(5^j)). The other N/2 roots ζ^(-5^j) carry the complex conjugates, which is
/// why the coefficients are real. With this order:
///   - the Galois automorphism X -> X^(5^k mod 2N) rotates the slots left by k (slot j receives slot
///     j+k mod N/2), because m(ζ^(5^j · 5^k)) = m(ζ^(5^(j+k)));
///   - X -> X^(2N-1) = X^(-1) conjugates every slot.
/// rotation_galois_element() and conjugation_galois_element() give those exponents.

#include <hefl/core/error.hpp>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <numbers>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace hefl::he::ckks {

/// CKKS encoder for one ring degree N: encode(z, Δ) = round(Δ · σ^{-1}(z)) and decode(m, Δ) = σ(m) / Δ,
/// where σ evaluates at the 2N-th roots ζ^(5^j) (see the file comment for the slot order). Each call
/// costs O(N log N) and allocates nothing beyond its output (decode() allocates N doubles as work
/// space and shrinks them to its N/2 slots). Immutable after construction, so one
/// encoder may be shared between threads.
class encoder {
public:
  /// Smallest supported ring degree.
  static constexpr std::size_t min_ring_degree = 2;
  /// Largest supported ring degree (2^17).
  static constexpr std::size_t max_ring_degree = std::size_t{1} << 17;
  /// The default bound on encoded coefficients (2^62): below it a coefficient fits a signed 64-bit
  /// integer. ckks::encode passes Q_l/2 instead, the bound that matters for a plaintext at level l.
  static constexpr double max_coefficient = 0x1p62;

  /// Precomputes the rotation group 5^j mod 2N and the FFT roots for ring degree @p ring_degree.
  /// @throws hefl::invalid_argument if ring_degree is not a power of two in [2, 2^17].
  explicit encoder(std::size_t ring_degree) : m_ring_degree(ring_degree), m_slots(ring_degree / 2) {
    if (ring_degree < min_ring_degree || ring_degree > max_ring_degree || (ring_degree & (ring_degree - 1)) != 0)
      throw invalid_argument("ckks::encoder: ring degree must be a power of two in [2, 131072], got " +
                             std::to_string(ring_degree));
    const std::uint64_t m = 2 * static_cast<std::uint64_t>(ring_degree);
    m_rotation_group.resize(m_slots);
    std::uint64_t g = 1;
    for (std::size_t j = 0; j < m_slots; ++j) {
      m_rotation_group[j] = g;
      g = (g * 5) % m;
    }
    // Stage with half-length h uses the primitive 8h-th root ρ = ζ^(2N/8h) raised to 5^j: the points
    // of a size-2h subproblem are ρ^(5^j), and ρ^(5^(j+h)) = -ρ^(5^j) gives the butterfly. Angles are
    // computed in long double from the exact residue so that no error accumulates across stages.
    m_roots.resize(m_slots > 1 ? m_slots - 1 : 0);
    for (std::size_t h = 1; h < m_slots; h *= 2) {
      const std::uint64_t order = 8 * static_cast<std::uint64_t>(h);
      for (std::size_t j = 0; j < h; ++j) {
        const auto residue = static_cast<long double>(m_rotation_group[j] & (order - 1));
        const long double angle = 2.0L * std::numbers::pi_v<long double> * residue / static_cast<long double>(order);
        m_roots[h - 1 + j] = {static_cast<double>(std::cos(angle)), static_cast<double>(std::sin(angle))};
      }
    }
  }

  /// The ring degree N.
  [[nodiscard]] std::size_t ring_degree() const noexcept { return m_ring_degree; }
  /// The number of complex slots, N/2.
  [[nodiscard]] std::size_t slot_count() const noexcept { return m_slots; }

  /// The exponent g = 5^k mod 2N such that X -> X^g rotates slots left by @p steps (negative: right).
  [[nodiscard]] std::uint64_t rotation_galois_element(long long steps) const noexcept {
    const auto n = static_cast<long long>(m_slots);
    return m_rotation_group[static_cast<std::size_t>(((steps % n) + n) % n)];
  }
  /// The exponent 2N-1 such that X -> X^(2N-1) conjugates every slot.
  [[nodiscard]] std::uint64_t conjugation_galois_element() const noexcept { return 2 * m_ring_degree - 1; }

  /// Encodes complex slots: coeffs_out = round(scale · σ^{-1}(values)), values zero-padded to N/2.
  /// On a throw after validation (coefficient too large) coeffs_out holds unspecified values.
  /// @param values at most N/2 finite slot values; must not overlap coeffs_out.
  /// @param scale the CKKS scale Δ, positive and finite.
  /// @param coeffs_out exactly N doubles, receiving integers of magnitude < @p bound.
  /// @param bound the coefficient bound (default 2^62; ckks::encode passes Q_l/2, possibly +inf).
  /// @throws hefl::invalid_argument if values has more than N/2 entries or a non-finite entry, coeffs_out
  ///         does not have N entries or overlaps values, scale is not positive and finite, or a rounded
  ///         coefficient reaches @p bound in magnitude or is not finite (the message names the scale
  ///         and the largest value).
  void encode(std::span<const std::complex<double>> values, double scale, std::span<double> coeffs_out,
              double bound = max_coefficient) const {
    check_encode_arguments(values.size(), scale, coeffs_out, overlaps(values, coeffs_out));
    double* re = coeffs_out.data();
    double* im = coeffs_out.data() + m_slots;
    double largest = 0.0;
    std::size_t largest_at = 0;
    for (std::size_t j = 0; j < values.size(); ++j) {
      const double r = values[j].real(), i = values[j].imag();
      if (!std::isfinite(r) || !std::isfinite(i))
        throw invalid_argument("ckks::encoder::encode: value " + std::to_string(j) + " is not finite");
      const double a = std::max(std::abs(r), std::abs(i));
      if (a > largest) largest = a, largest_at = j;
    }
    for (std::size_t j = 0; j < values.size(); ++j) re[j] = values[j].real(), im[j] = values[j].imag();
    for (std::size_t j = values.size(); j < m_slots; ++j) re[j] = 0.0, im[j] = 0.0;
    finish_encode(coeffs_out, scale, largest, largest_at, bound);
  }

  /// Encodes real slots (imaginary parts zero); otherwise identical to the complex overload.
  /// @throws hefl::invalid_argument in the same cases as the complex overload.
  void encode(std::span<const double> values, double scale, std::span<double> coeffs_out,
              double bound = max_coefficient) const {
    check_encode_arguments(values.size(), scale, coeffs_out, overlaps(values, coeffs_out));
    double largest = 0.0;
    std::size_t largest_at = 0;
    for (std::size_t j = 0; j < values.size(); ++j) {
      if (!std::isfinite(values[j]))
        throw invalid_argument("ckks::encoder::encode: value " + std::to_string(j) + " is not finite");
      if (std::abs(values[j]) > largest) largest = std::abs(values[j]), largest_at = j;
    }
    double* re = coeffs_out.data();
    double* im = coeffs_out.data() + m_slots;
    for (std::size_t j = 0; j < values.size(); ++j) re[j] = values[j];
    for (std::size_t j = values.size(); j < m_slots; ++j) re[j] = 0.0;
    for (std::size_t j = 0; j < m_slots; ++j) im[j] = 0.0;
    finish_encode(coeffs_out, scale, largest, largest_at, bound);
  }

  /// Decodes the N/2 complex slots σ(coeffs) / scale.
  /// @param coeffs exactly N finite coefficients (centred representatives, not residues).
  /// @throws hefl::invalid_argument if coeffs does not have N entries or has a non-finite entry, or
  ///         scale is not positive and finite.
  [[nodiscard]] std::vector<std::complex<double>> decode_complex(std::span<const double> coeffs, double scale) const {
    check_decode_arguments(coeffs, scale);
    std::vector<std::complex<double>> out(m_slots);
    // std::complex<double> arrays may be accessed as interleaved doubles ([complex.numbers]).
    double* d = reinterpret_cast<double*>(out.data());
    const double inv = 1.0 / scale;
    for (std::size_t k = 0; k < m_slots; ++k) {
      d[2 * k] = coeffs[k] * inv;
      d[2 * k + 1] = coeffs[k + m_slots] * inv;
    }
    forward<2>(d, d + 1);
    return out;
  }

  /// Decodes the real parts of the N/2 slots.
  /// @throws hefl::invalid_argument in the same cases as decode_complex.
  [[nodiscard]] std::vector<double> decode(std::span<const double> coeffs, double scale) const {
    check_decode_arguments(coeffs, scale);
    // Work in the output's own storage as interleaved (re, im) pairs, which keeps each butterfly's
    // operands on one cache line, then keep the real parts: out[j] = out[2j] never overwrites a
    // value still to be read.
    std::vector<double> out(m_ring_degree);
    const double inv = 1.0 / scale;
    for (std::size_t k = 0; k < m_slots; ++k) {
      out[2 * k] = coeffs[k] * inv;
      out[2 * k + 1] = coeffs[k + m_slots] * inv;
    }
    forward<2>(out.data(), out.data() + 1);
    for (std::size_t j = 0; j < m_slots; ++j) out[j] = out[2 * j];
    out.resize(m_slots);
    return out;
  }

private:
  template <class T>
  static bool overlaps(std::span<const T> values, std::span<double> out) noexcept {
    if (values.empty()) return false;
    const auto* vb = reinterpret_cast<const unsigned char*>(values.data());
    const auto* ve = vb + values.size_bytes();
    const auto* ob = reinterpret_cast<const unsigned char*>(out.data());
    const auto* oe = ob + out.size_bytes();
    const std::less<const unsigned char*> lt;
    return lt(vb, oe) && lt(ob, ve);
  }

  static void check_scale(double scale, const char* op) {
    if (!std::isfinite(scale) || !(scale > 0.0))
      throw invalid_argument(std::string("ckks::encoder::") + op + ": scale must be positive and finite, got " +
                             std::to_string(scale));
  }

  void check_encode_arguments(std::size_t count, double scale, std::span<double> out, bool overlap) const {
    if (count > m_slots)
      throw invalid_argument("ckks::encoder::encode: " + std::to_string(count) + " values exceed " +
                             std::to_string(m_slots) + " slots");
    if (out.size() != m_ring_degree)
      throw invalid_argument("ckks::encoder::encode: output has " + std::to_string(out.size()) +
                             " coefficients, expected N = " + std::to_string(m_ring_degree));
    if (overlap) throw invalid_argument("ckks::encoder::encode: values overlap the output coefficients");
    check_scale(scale, "encode");
  }

  void check_decode_arguments(std::span<const double> coeffs, double scale) const {
    if (coeffs.size() != m_ring_degree)
      throw invalid_argument("ckks::encoder::decode: " + std::to_string(coeffs.size()) +
                             " coefficients, expected N = " + std::to_string(m_ring_degree));
    check_scale(scale, "decode");
    for (std::size_t k = 0; k < coeffs.size(); ++k)
      if (!std::isfinite(coeffs[k]))
        throw invalid_argument("ckks::encoder::decode: coefficient " + std::to_string(k) + " is not finite");
  }

  // Slots were loaded as (re, im) halves of coeffs_out; σ^{-1} leaves u_k = m_k + i·m_{k+N/2} in the
  // same places, which is already the coefficient order.
  void finish_encode(std::span<double> coeffs_out, double scale, double largest, std::size_t largest_at,
                     double bound) const {
    inverse<1>(coeffs_out.data(), coeffs_out.data() + m_slots);
    const double factor = scale / static_cast<double>(m_slots);
    for (std::size_t k = 0; k < coeffs_out.size(); ++k) {
      const double x = coeffs_out[k] * factor;
      // Rounding is exact above 2^52 and moves x by at most 1/2 below, so |x| < bound (a power of
      // two in practice) implies |round(x)| < bound; a NaN or infinite x fails the test too.
      if (!(std::abs(x) < bound) || !std::isfinite(x))
        throw invalid_argument("ckks::encoder::encode: coefficient " + std::to_string(k) + " does not fit: it reaches 2^" +
                               std::to_string(std::log2(bound)) + " at scale " +
                               std::to_string(scale) + " (2^" + std::to_string(std::log2(scale)) +
                               "); the largest slot is value " + std::to_string(largest_at) + " with a part of magnitude " +
                               std::to_string(largest) + ": lower the scale or the values");
      coeffs_out[k] = round_to_integer(x);
    }
  }

  // Adding and subtracting 1.5 · 2^52 rounds to the nearest integer (ties to even) in the default
  // rounding mode, inline and vectorizable, where std::round is a library call; larger doubles are
  // already integers. Like every finiteness check here, it assumes no -ffast-math.
  static double round_to_integer(double x) noexcept {
    constexpr double magic = 0x1.8p52;
    return std::abs(x) < 0x1p52 ? (x + magic) - magic : x;
  }

  template <std::size_t Stride>
  void bit_reverse(double* re, double* im) const noexcept {
    for (std::size_t i = 1, j = 0; i < m_slots; ++i) {
      std::size_t bit = m_slots >> 1;
      for (; j & bit; bit >>= 1) j ^= bit;
      j ^= bit;
      if (i < j) {
        std::swap(re[i * Stride], re[j * Stride]);
        std::swap(im[i * Stride], im[j * Stride]);
      }
    }
  }

  // Special FFT (HEAAN's fftSpecial, Cheon et al. 2017): z_j = Σ_k u_k ζ^(5^j·k), decimation in time
  // over the 5^j orbit. z_j = Σ_{k<N} m_k ζ^(5^j k) folds to N/2 terms because ζ^(5^j·N/2) = i.
  template <std::size_t Stride>
  void forward(double* re, double* im) const noexcept {
    bit_reverse<Stride>(re, im);
    for (std::size_t h = 1; h < m_slots; h *= 2) {
      const std::complex<double>* w = m_roots.data() + (h - 1);
      for (std::size_t i = 0; i < m_slots; i += 2 * h) {
        for (std::size_t j = 0; j < h; ++j) {
          const std::size_t a = (i + j) * Stride, b = (i + j + h) * Stride;
          const double wr = w[j].real(), wi = w[j].imag();
          const double vr = re[b] * wr - im[b] * wi, vi = re[b] * wi + im[b] * wr;
          re[b] = re[a] - vr;
          im[b] = im[a] - vi;
          re[a] += vr;
          im[a] += vi;
        }
      }
    }
  }

  // The inverse butterflies in reverse order, without the 1/2 per stage (applied once as 1/(N/2)).
  template <std::size_t Stride>
  void inverse(double* re, double* im) const noexcept {
    for (std::size_t h = m_slots / 2; h >= 1; h /= 2) {
      const std::complex<double>* w = m_roots.data() + (h - 1);
      for (std::size_t i = 0; i < m_slots; i += 2 * h) {
        for (std::size_t j = 0; j < h; ++j) {
          const std::size_t a = (i + j) * Stride, b = (i + j + h) * Stride;
          const double wr = w[j].real(), wi = w[j].imag();
          const double dr = re[a] - re[b], di = im[a] - im[b];
          re[a] += re[b];
          im[a] += im[b];
          re[b] = dr * wr + di * wi;
          im[b] = di * wr - dr * wi;
        }
      }
    }
    bit_reverse<Stride>(re, im);
  }

  std::size_t m_ring_degree;
  std::size_t m_slots;
  std::vector<std::uint64_t> m_rotation_group;
  std::vector<std::complex<double>> m_roots;
};

} // namespace hefl::he::ckks
