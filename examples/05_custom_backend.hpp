// A user-written encryption backend for hefl, used by examples/05_custom_backend.cpp and run through
// the conformance suite in tests/unit/backend_conformance_test.cpp.
//
// !!! INSECURE TOY — DO NOT USE TO PROTECT DATA !!!
// Each ciphertext is the values plus pseudorandom masks from a 64-bit key and a per-ciphertext nonce
// (xoshiro256**, not a cryptographic generator; masks are doubles, so the magnitude of values shows
// through, and anyone who learns the key or two related ciphertexts learns the values). It exists to
// show which members hefl's backend concept asks for, nothing more.
#pragma once

#include <hefl/core/error.hpp>
#include <hefl/core/prng.hpp>
#include <hefl/core/serialization.hpp>
#include <hefl/he/backend.hpp>

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace example {

/// A masked vector: masked[i] = Σ_t coeff_t · mask(nonce_t, i) + value[i], with the masks' nonces and
/// coefficients carried along so the key holder can remove them after additions and scalings.
struct toy_ciphertext {
  std::vector<double> masked;
  std::map<std::uint64_t, double> terms;  // nonce -> coefficient
};

/// INSECURE toy backend satisfying hefl::he::additive_backend (encrypt, decrypt, add, add_inplace,
/// multiply_scalar, serialize, deserialize, slot_count).
class toy_masking_backend {
public:
  using ciphertext_type = toy_ciphertext;
  static constexpr bool is_encrypted = true;  // pretends to hide data, so the trainer treats it so
  static constexpr std::size_t slots = 32;
  static constexpr std::size_t max_terms = 1 << 16;

  explicit toy_masking_backend(std::uint64_t key) : m_key(key) {}

  [[nodiscard]] std::size_t slot_count() const noexcept { return slots; }

  /// @throws hefl::invalid_argument if there are more values than slots or one is not finite.
  [[nodiscard]] toy_ciphertext encrypt(std::span<const double> values) {
    if (values.size() > slots) throw hefl::invalid_argument("toy_masking_backend: too many values");
    const std::uint64_t nonce = m_next_nonce++;
    toy_ciphertext c{mask(nonce), {{nonce, 1.0}}};
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (!std::isfinite(values[i])) throw hefl::invalid_argument("toy_masking_backend: value is not finite");
      c.masked[i] += values[i];
    }
    return c;
  }

  [[nodiscard]] std::vector<double> decrypt(const toy_ciphertext& c) const {
    std::vector<double> out = c.masked;
    for (const auto& [nonce, coeff] : c.terms) {
      const auto m = mask(nonce);
      for (std::size_t i = 0; i < slots; ++i) out[i] -= coeff * m[i];
    }
    return out;
  }

  [[nodiscard]] toy_ciphertext add(const toy_ciphertext& a, const toy_ciphertext& b) const {
    toy_ciphertext r = a;
    add_inplace(r, b);
    return r;
  }
  void add_inplace(toy_ciphertext& a, const toy_ciphertext& b) const {
    for (std::size_t i = 0; i < slots; ++i) a.masked[i] += b.masked[i];
    for (const auto& [nonce, coeff] : b.terms) a.terms[nonce] += coeff;
  }
  [[nodiscard]] toy_ciphertext multiply_scalar(const toy_ciphertext& a, double s) const {
    toy_ciphertext r = a;
    for (double& v : r.masked) v *= s;
    for (auto& [nonce, coeff] : r.terms) coeff *= s;
    return r;
  }

  /// "TOYMASK1", uint64 term count, (uint64 nonce, double coefficient) per term, 32 doubles.
  [[nodiscard]] std::vector<std::uint8_t> serialize(const toy_ciphertext& c) const {
    hefl::serial::writer w;
    w.put_bytes("TOYMASK1");
    w.put<std::uint64_t>(c.terms.size());
    for (const auto& [nonce, coeff] : c.terms) {
      w.put<std::uint64_t>(nonce);
      w.put<double>(coeff);
    }
    w.put_span<double>(c.masked);
    return std::move(w).take();
  }
  /// @throws hefl::parse_error on a wrong tag, truncation, too many terms, a repeated nonce, a
  ///         non-finite number or trailing bytes.
  [[nodiscard]] toy_ciphertext deserialize(std::span<const std::uint8_t> bytes) const {
    hefl::serial::reader r(bytes);
    r.expect_magic("TOYMASK1", "toy ciphertext");
    const auto count = r.get<std::uint64_t>("toy ciphertext term count");
    if (count == 0 || count > max_terms) throw hefl::parse_error("toy ciphertext: bad term count");
    toy_ciphertext c;
    for (std::uint64_t t = 0; t < count; ++t) {
      const auto nonce = r.get<std::uint64_t>("toy ciphertext nonce");
      const auto coeff = r.get<double>("toy ciphertext coefficient");
      if (!std::isfinite(coeff) || !c.terms.emplace(nonce, coeff).second)
        throw hefl::parse_error("toy ciphertext: bad or repeated term");
    }
    c.masked = r.get_vector<double>(slots, "toy ciphertext slots");
    r.expect_end("toy ciphertext");
    for (double v : c.masked)
      if (!std::isfinite(v)) throw hefl::parse_error("toy ciphertext: non-finite slot");
    return c;
  }

private:
  [[nodiscard]] std::vector<double> mask(std::uint64_t nonce) const {
    hefl::deterministic_rng rng(m_key ^ (nonce * 0x9e3779b97f4a7c15ULL));
    std::vector<double> m(slots);
    for (double& v : m) v = (2 * rng.uniform() - 1) * 1000.0;
    return m;
  }

  std::uint64_t m_key;
  std::uint64_t m_next_nonce = 1;
};

static_assert(hefl::he::additive_backend<toy_masking_backend>);
static_assert(!hefl::he::arithmetic_backend<toy_masking_backend>);

} // namespace example
