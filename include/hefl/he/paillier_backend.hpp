#pragma once
/// @file
/// he::paillier_backend: Paillier's additively homomorphic encryption (P. Paillier, "Public-key
/// cryptosystems based on composite degree residuosity classes", EUROCRYPT 1999) behind
/// he::additive_backend. It can carry encrypted FedAvg through fl::federated_trainer, but it cannot
/// multiply two ciphertexts, so it is NOT an he::arithmetic_backend and cannot train on encrypted
/// data. See docs/backends.md.
///
/// Needs Botan 2 (BigInt, prime generation): include it with target hefl::iot, like crypto/.
///
/// Scheme: n = p·q with p, q random primes of equal size, g = n + 1, λ = lcm(p − 1, q − 1);
/// Enc(m) = (1 + m·n) · r^n mod n² with r uniform in Z*_n; decryption by CRT (Paillier 1999, §7).
/// Randomness for keys and r comes from the hefl::random_source passed in (Botan's CSPRNG in
/// production: crypto::system_random).
///
/// Encoding (stated range): a value v with |v| < 2^integer_bits becomes the integer round(v · 2^f),
/// f = fraction_bits (absolute error ≤ 2^−(f+1)). Slots are packed side by side, slot_bits() bits
/// each, into one plaintext M = Σ v_i · 2^(slot_bits·i) with signed v_i; a negative M is stored as
/// n + M (two's complement modulo n). Additions and integer scalars act slot-wise as long as no slot
/// leaves (−2^(slot_bits−1), 2^(slot_bits−1)); the backend tracks a public bound on every ciphertext
/// and refuses an operation that could overflow, instead of decrypting garbage. slot_bits() =
/// integer_bits + fraction_bits + scalar_fraction_bits + headroom_bits + 1, so with the defaults
/// (20, 32, 32, 20) a slot is 105 bits, a 2048-bit modulus packs 19 slots, and fewer than 2^20
/// full-range values, each multiplied by one fractional scalar of magnitude ≤ 1 (a FedAvg
/// coefficient), always fit in one sum.

#include <hefl/core/error.hpp>
#include <hefl/core/random.hpp>
#include <hefl/core/serialization.hpp>
#include <hefl/he/backend.hpp>

#include <botan/bigint.h>
#include <botan/numthry.h>
#include <botan/rng.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace hefl::he {

/// Whether paillier_params may be below the 2048-bit modulus (NIST SP 800-57 Part 1 Rev. 5, table
/// 2: 2048-bit factoring-based keys for 112-bit security).
enum class paillier_security {
  standard,                     ///< modulus_bits >= 2048
  none_i_know_this_is_insecure  ///< modulus_bits >= 1024, for fast tests only
};

/// Parameters of paillier_backend: the key size and the fixed-point encoding.
struct paillier_params {
  /// Bits of n. 2048 gives ~112-bit security; smaller needs paillier_security::none_i_know_this_is_insecure.
  std::size_t modulus_bits = 2048;
  /// Encrypted values satisfy |v| < 2^integer_bits.
  int integer_bits = 20;
  /// Fixed-point precision of encrypted values: 2^-fraction_bits.
  int fraction_bits = 32;
  /// Fixed-point precision of a non-integer multiply_scalar: 2^-scalar_fraction_bits.
  int scalar_fraction_bits = 32;
  /// log2 of how many full-range terms one slot can accumulate.
  int headroom_bits = 20;
  paillier_security security = paillier_security::standard;

  static constexpr std::size_t min_secure_modulus_bits = 2048;
  static constexpr std::size_t min_modulus_bits = 1024;
  static constexpr std::size_t max_modulus_bits = 8192;

  /// Bits per packed slot (one is the sign).
  [[nodiscard]] int slot_bits() const noexcept {
    return integer_bits + fraction_bits + scalar_fraction_bits + headroom_bits + 1;
  }
  /// Slots per ciphertext: slot_bits() each, keeping the packed integer below n/4.
  [[nodiscard]] std::size_t slots() const noexcept {
    return slot_bits() <= 0 ? 0 : (modulus_bits - 2) / static_cast<std::size_t>(slot_bits());
  }

  /// @throws hefl::security_error if modulus_bits < 2048 without the opt-out.
  /// @throws hefl::invalid_argument if modulus_bits is odd or outside [1024, 8192], integer_bits < 1,
  ///         fraction_bits or scalar_fraction_bits outside [0, 52], integer_bits + fraction_bits > 62,
  ///         headroom_bits outside [1, 64], or not even one slot fits.
  void validate() const {
    if (modulus_bits < min_secure_modulus_bits && security != paillier_security::none_i_know_this_is_insecure)
      throw security_error("paillier_params: a " + std::to_string(modulus_bits) + "-bit modulus is below " +
                           std::to_string(min_secure_modulus_bits) +
                           " bits; use 2048 or more, or paillier_security::none_i_know_this_is_insecure for tests");
    if (modulus_bits % 2 != 0 || modulus_bits < min_modulus_bits || modulus_bits > max_modulus_bits)
      throw invalid_argument("paillier_params: modulus_bits must be even and in [" + std::to_string(min_modulus_bits) +
                             ", " + std::to_string(max_modulus_bits) + "], got " + std::to_string(modulus_bits));
    if (integer_bits < 1) throw invalid_argument("paillier_params: integer_bits must be >= 1");
    if (fraction_bits < 0 || fraction_bits > 52 || scalar_fraction_bits < 0 || scalar_fraction_bits > 52)
      throw invalid_argument("paillier_params: fraction_bits and scalar_fraction_bits must be in [0, 52]");
    if (integer_bits + fraction_bits > 62)
      throw invalid_argument("paillier_params: integer_bits + fraction_bits = " + std::to_string(integer_bits + fraction_bits) +
                             " > 62");
    if (headroom_bits < 1 || headroom_bits > 64) throw invalid_argument("paillier_params: headroom_bits must be in [1, 64]");
    if (slots() == 0)
      throw invalid_argument("paillier_params: a " + std::to_string(slot_bits()) + "-bit slot does not fit in a " +
                             std::to_string(modulus_bits) + "-bit modulus");
  }
};

/// A Paillier ciphertext: c in Z*_{n²}, the fixed-point scale 2^scale_bits of its slots, a public
/// upper bound on the magnitude of every slot's integer, and the id of the key it belongs to.
struct paillier_ciphertext {
  Botan::BigInt value;
  int scale_bits = 0;
  double bound = 0.0;
  std::uint64_t key_id = 0;
};

namespace detail {
/// Lets Botan's prime generation and random_integer draw from a hefl::random_source.
class random_source_rng final : public Botan::RandomNumberGenerator {
public:
  explicit random_source_rng(random_source& source) noexcept : m_source(source) {}
  void randomize(uint8_t output[], size_t length) override { m_source.fill(std::span<std::uint8_t>(output, length)); }
  bool accepts_input() const override { return false; }
  void add_entropy(const uint8_t[], size_t) override {}
  std::string name() const override { return "hefl::random_source"; }
  void clear() override {}
  bool is_seeded() const override { return true; }

private:
  random_source& m_source;
};

/// A non-negative BigInt as a double (rounded; exact below 2^53).
inline double to_double(const Botan::BigInt& x) {
  double d = 0.0;
  for (std::size_t i = x.sig_words(); i-- > 0;) d = d * 18446744073709551616.0 + static_cast<double>(x.word_at(i));
  return d;
}
} // namespace detail

/// Paillier as an he::additive_backend (not arithmetic). Holds the private key: the object is the
/// key holder's. The random source must outlive the backend; it feeds key generation and every
/// encryption. Not thread-safe (the random source is not).
class paillier_backend {
public:
  using ciphertext_type = paillier_ciphertext;
  static constexpr bool is_encrypted = true;

  /// Generates a key pair: primes p and q of modulus_bits/2 bits each (Botan::generate_rsa_prime,
  /// Miller–Rabin error below 2^-128, p − 1 and q − 1 coprime to 65537) until n = pq has exactly modulus_bits bits.
  /// @throws as paillier_params::validate.
  paillier_backend(paillier_params params, random_source& rng) : m_params(params), m_rng(rng) {
    m_params.validate();
    const std::size_t half = m_params.modulus_bits / 2;
    for (;;) {
      // generate_rsa_prime wants an odd e coprime to p − 1; 65537 is harmless for Paillier.
      m_p = Botan::generate_rsa_prime(m_rng, m_rng, half, Botan::BigInt(65537), 128);
      m_q = Botan::generate_rsa_prime(m_rng, m_rng, half, Botan::BigInt(65537), 128);
      if (m_p == m_q) continue;
      m_n = m_p * m_q;
      if (m_n.bits() == m_params.modulus_bits) break;
    }
    m_n2 = m_n * m_n;
    m_p2 = m_p * m_p;
    m_q2 = m_q * m_q;
    // h_p = L_p(g^(p−1) mod p²)^(−1) mod p, likewise for q (Paillier 1999, §7).
    const Botan::BigInt g = m_n + 1;
    m_hp = Botan::inverse_mod(l_function(Botan::power_mod(g, m_p - 1, m_p2), m_p), m_p);
    m_hq = Botan::inverse_mod(l_function(Botan::power_mod(g, m_q - 1, m_q2), m_q), m_q);
    m_q_inv_p = Botan::inverse_mod(m_q, m_p);
    m_half_n = m_n >> 1;
    m_slot_modulus = Botan::BigInt::power_of_2(static_cast<std::size_t>(m_params.slot_bits()));
    m_packed_modulus = Botan::BigInt::power_of_2(static_cast<std::size_t>(m_params.slot_bits()) * slot_count());
    std::vector<std::uint8_t> bytes(m_n.bytes());
    m_n.binary_encode(bytes.data());
    m_key_id = serial::fnv1a(bytes);
  }

  paillier_backend(const paillier_backend&) = delete;
  paillier_backend& operator=(const paillier_backend&) = delete;

  [[nodiscard]] const paillier_params& params() const noexcept { return m_params; }
  /// The public modulus n.
  [[nodiscard]] const Botan::BigInt& modulus() const noexcept { return m_n; }
  /// Packed slots per ciphertext (paillier_params::slots()).
  [[nodiscard]] std::size_t slot_count() const noexcept { return m_params.slots(); }
  /// Largest slot integer magnitude a ciphertext may reach: 2^(slot_bits − 1) − 1.
  [[nodiscard]] double slot_limit() const noexcept { return std::ldexp(1.0, m_params.slot_bits() - 1); }

  /// Encodes @p values into the first slots (the rest are zero) and encrypts them.
  /// @throws hefl::invalid_argument if there are more values than slots, or a value is not finite or
  ///         |v| >= 2^integer_bits.
  [[nodiscard]] paillier_ciphertext encrypt(std::span<const double> values) {
    if (values.size() > slot_count())
      throw invalid_argument("paillier_backend::encrypt: " + std::to_string(values.size()) + " values exceed " +
                             std::to_string(slot_count()) + " slots");
    const double range = std::ldexp(1.0, m_params.integer_bits);
    Botan::BigInt positive, negative;
    for (std::size_t i = values.size(); i-- > 0;) {
      const double v = values[i];
      if (!std::isfinite(v) || !(std::abs(v) < range))
        throw invalid_argument("paillier_backend::encrypt: value " + std::to_string(v) + " at slot " + std::to_string(i) +
                               " is outside (-2^" + std::to_string(m_params.integer_bits) + ", 2^" +
                               std::to_string(m_params.integer_bits) + ")");
    }
    for (std::size_t i = values.size(); i-- > 0;) {
      positive <<= static_cast<std::size_t>(m_params.slot_bits());
      negative <<= static_cast<std::size_t>(m_params.slot_bits());
      const long long q = std::llround(std::ldexp(values[i], m_params.fraction_bits));
      if (q >= 0) positive += Botan::BigInt(static_cast<std::uint64_t>(q));
      else negative += Botan::BigInt(static_cast<std::uint64_t>(-q));
    }
    const Botan::BigInt m = positive >= negative ? positive - negative : m_n - (negative - positive);
    paillier_ciphertext c;
    // (1 + m·n) · r^n mod n²
    const Botan::BigInt gm = (m * m_n + 1) % m_n2;
    c.value = (gm * random_r_to_n()) % m_n2;
    c.scale_bits = m_params.fraction_bits;
    c.bound = std::ldexp(1.0, m_params.integer_bits + m_params.fraction_bits);  // public: reveals nothing about v
    c.key_id = m_key_id;
    return c;
  }

  /// All slot_count() slot values (unused slots decrypt to 0).
  /// @throws hefl::invalid_argument if @p c belongs to another key.
  [[nodiscard]] std::vector<double> decrypt(const paillier_ciphertext& c) const {
    check_key(c, "decrypt");
    // CRT decryption (Paillier 1999, §7): m_p = L_p(c^(p−1) mod p²)·h_p mod p, likewise for q.
    const Botan::BigInt mp = (l_function(Botan::power_mod(c.value % m_p2, m_p - 1, m_p2), m_p) * m_hp) % m_p;
    const Botan::BigInt mq = (l_function(Botan::power_mod(c.value % m_q2, m_q - 1, m_q2), m_q) * m_hq) % m_q;
    const Botan::BigInt diff = (mp + m_p - (mq % m_p)) % m_p;
    const Botan::BigInt m = mq + m_q * ((diff * m_q_inv_p) % m_p);
    // Signed packed integer M as a non-negative T-bit two's-complement word X.
    const Botan::BigInt x = m <= m_half_n ? m : m_packed_modulus - (m_n - m);
    std::vector<double> out(slot_count(), 0.0);
    const auto w = static_cast<std::size_t>(m_params.slot_bits());
    const Botan::BigInt half_slot = m_slot_modulus >> 1;
    bool carry = false;
    for (std::size_t i = 0; i < out.size(); ++i) {
      // Botan 2's operator>> misbehaves when shifting past the top word, so test the size first.
      Botan::BigInt d = x.bits() > w * i ? (x >> (w * i)) % m_slot_modulus : Botan::BigInt(0);
      if (carry) d += 1;
      const bool negative = d >= half_slot;
      carry = negative;
      const double magnitude = detail::to_double(negative ? m_slot_modulus - d : d);
      out[i] = std::ldexp(negative ? -magnitude : magnitude, -c.scale_bits);
    }
    return out;
  }

  /// a + b slot-wise; the operand at the smaller scale is first multiplied by a power of two.
  /// @throws hefl::invalid_argument if the keys differ or a slot could overflow.
  [[nodiscard]] paillier_ciphertext add(const paillier_ciphertext& a, const paillier_ciphertext& b) const {
    paillier_ciphertext r = a;
    add_inplace(r, b);
    return r;
  }
  /// a += b. @throws as add.
  void add_inplace(paillier_ciphertext& a, const paillier_ciphertext& b) const {
    check_key(a, "add");
    check_key(b, "add");
    const int scale = std::max(a.scale_bits, b.scale_bits);
    const paillier_ciphertext x = a.scale_bits < scale ? rescale_up(a, scale) : a;
    const paillier_ciphertext y = b.scale_bits < scale ? rescale_up(b, scale) : b;
    const double bound = x.bound + y.bound;
    check_bound(bound, "add");
    a.value = (x.value * y.value) % m_n2;
    a.scale_bits = scale;
    a.bound = bound;
  }

  /// a · s in every slot. An integer s (|s| <= 2^53) is exact and keeps the scale; any other s is
  /// rounded to a multiple of 2^-scalar_fraction_bits and raises the scale by scalar_fraction_bits.
  /// @throws hefl::invalid_argument if s is not finite, the key differs, or a slot could overflow.
  [[nodiscard]] paillier_ciphertext multiply_scalar(const paillier_ciphertext& a, double s) const {
    check_key(a, "multiply_scalar");
    if (!std::isfinite(s)) throw invalid_argument("paillier_backend::multiply_scalar: the scalar is not finite");
    paillier_ciphertext r = a;
    long long k = 0;
    if (s == std::floor(s) && std::abs(s) <= 0x1p53) {
      k = static_cast<long long>(s);
    } else {
      const double scaled = std::ldexp(s, m_params.scalar_fraction_bits);
      if (!(std::abs(scaled) < 0x1p62))
        throw invalid_argument("paillier_backend::multiply_scalar: |s| = " + std::to_string(std::abs(s)) +
                               " is too large for a fractional scalar");
      k = std::llround(scaled);
      r.scale_bits += m_params.scalar_fraction_bits;
      if (r.scale_bits > max_scale_bits())
        throw invalid_argument("paillier_backend::multiply_scalar: scale 2^" + std::to_string(r.scale_bits) +
                               " after too many fractional scalars (at most 2^" + std::to_string(max_scale_bits()) + ")");
    }
    r.bound = a.bound * std::abs(static_cast<double>(k));
    check_bound(r.bound, "multiply_scalar");
    r.value = power_signed(a.value, k);
    return r;
  }

  /// Format: "HEFLPAI1", uint64 key id, int32 scale bits, double bound, uint32 length L, then c as
  /// L = 2·⌈modulus_bits/8⌉ big-endian bytes.
  /// @throws hefl::invalid_argument if @p c belongs to another key.
  [[nodiscard]] std::vector<std::uint8_t> serialize(const paillier_ciphertext& c) const {
    check_key(c, "serialize");
    serial::writer w;
    w.put_bytes(magic);
    w.put<std::uint64_t>(c.key_id);
    w.put<std::int32_t>(c.scale_bits);
    w.put<double>(c.bound);
    const auto len = static_cast<std::uint32_t>(ciphertext_bytes());
    w.put<std::uint32_t>(len);
    std::vector<std::uint8_t> body(len);
    c.value.binary_encode(body.data(), body.size());
    w.put_span<std::uint8_t>(body);
    return std::move(w).take();
  }

  /// @throws hefl::parse_error on a wrong magic, another key's id, truncation, a length other than
  ///         this key's, a scale or bound the backend could not have produced, c = 0, c >= n²,
  ///         gcd(c, n) != 1 (not in Z*_{n²}), or trailing bytes.
  [[nodiscard]] paillier_ciphertext deserialize(std::span<const std::uint8_t> bytes) const {
    serial::reader r(bytes);
    r.expect_magic(magic, "paillier ciphertext");
    paillier_ciphertext c;
    c.key_id = r.get<std::uint64_t>("paillier ciphertext key id");
    if (c.key_id != m_key_id) throw parse_error("paillier ciphertext: encrypted under another key");
    c.scale_bits = r.get<std::int32_t>("paillier ciphertext scale");
    const int max_scale = max_scale_bits();
    if (c.scale_bits < m_params.fraction_bits || c.scale_bits > max_scale)
      throw parse_error("paillier ciphertext: scale 2^" + std::to_string(c.scale_bits) + " outside [2^" +
                        std::to_string(m_params.fraction_bits) + ", 2^" + std::to_string(max_scale) + "]");
    c.bound = r.get<double>("paillier ciphertext bound");
    if (!(c.bound >= 0.0) || !(c.bound < slot_limit()))
      throw parse_error("paillier ciphertext: slot bound outside [0, 2^" + std::to_string(m_params.slot_bits() - 1) + ")");
    const auto len = r.get<std::uint32_t>("paillier ciphertext length");
    if (len != ciphertext_bytes())
      throw parse_error("paillier ciphertext: " + std::to_string(len) + " bytes declared, this key's ciphertexts have " +
                        std::to_string(ciphertext_bytes()));
    const auto body = r.get_vector<std::uint8_t>(len, "paillier ciphertext value");
    r.expect_end("paillier ciphertext");
    c.value = Botan::BigInt(body.data(), body.size());
    if (c.value.is_zero() || c.value >= m_n2) throw parse_error("paillier ciphertext: value outside [1, n^2)");
    if (Botan::gcd(c.value, m_n) != 1) throw parse_error("paillier ciphertext: value is not a unit modulo n^2");
    return c;
  }

private:
  static constexpr const char* magic = "HEFLPAI1";

  [[nodiscard]] int max_scale_bits() const noexcept { return m_params.fraction_bits + 8 * m_params.scalar_fraction_bits; }

  [[nodiscard]] std::size_t ciphertext_bytes() const noexcept { return 2 * ((m_params.modulus_bits + 7) / 8); }

  static Botan::BigInt l_function(const Botan::BigInt& u, const Botan::BigInt& d) { return (u - 1) / d; }

  /// r^n mod n² for r uniform in Z*_n.
  Botan::BigInt random_r_to_n() {
    for (;;) {
      const Botan::BigInt r = Botan::BigInt::random_integer(m_rng, 1, m_n);
      if (Botan::gcd(r, m_n) == 1) return Botan::power_mod(r, m_n, m_n2);
    }
  }

  Botan::BigInt power_signed(const Botan::BigInt& c, long long k) const {
    if (k == 0) return Botan::BigInt(1);
    const Botan::BigInt e(static_cast<std::uint64_t>(k < 0 ? -k : k));
    const Botan::BigInt p = Botan::power_mod(c, e, m_n2);
    return k < 0 ? Botan::inverse_mod(p, m_n2) : p;
  }

  paillier_ciphertext rescale_up(const paillier_ciphertext& a, int scale_bits) const {
    paillier_ciphertext r = a;
    const int shift = scale_bits - a.scale_bits;
    r.bound = std::ldexp(a.bound, shift);
    check_bound(r.bound, "add (aligning scales)");
    r.value = Botan::power_mod(a.value, Botan::BigInt::power_of_2(static_cast<std::size_t>(shift)), m_n2);
    r.scale_bits = scale_bits;
    return r;
  }

  void check_bound(double bound, const char* op) const {
    // The slack covers rounding of the double bound itself.
    if (!(bound * (1.0 + 1e-9) < slot_limit()))
      throw invalid_argument(std::string("paillier_backend::") + op + ": a slot could reach 2^" +
                             std::to_string(std::log2(bound)).substr(0, 6) + " >= 2^" +
                             std::to_string(m_params.slot_bits() - 1) +
                             " and overflow; raise paillier_params::headroom_bits or combine fewer terms");
  }

  void check_key(const paillier_ciphertext& c, const char* op) const {
    if (c.key_id != m_key_id)
      throw invalid_argument(std::string("paillier_backend::") + op + ": the ciphertext belongs to another key");
  }

  paillier_params m_params;
  detail::random_source_rng m_rng;
  Botan::BigInt m_p, m_q, m_n, m_n2, m_p2, m_q2, m_hp, m_hq, m_q_inv_p, m_half_n;
  Botan::BigInt m_slot_modulus, m_packed_modulus;
  std::uint64_t m_key_id = 0;
};

static_assert(additive_backend<paillier_backend>);
static_assert(!arithmetic_backend<paillier_backend>, "Paillier cannot multiply ciphertexts");

} // namespace hefl::he
