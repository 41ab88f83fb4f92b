#pragma once
/// @file
/// Paillier's additively homomorphic encryption (P. Paillier, "Public-key cryptosystems based on
/// composite degree residuosity classes", EUROCRYPT 1999) as three role objects and a bundle, like
/// he::ckks_backend:
///
/// - he::paillier_key_holder generates and keeps the secret key (p, q): decrypts, and publishes the
///   public key as bytes (public_key()).
/// - he::paillier_client is built from the public-key bytes: encrypts.
/// - he::paillier_server is built from the public-key bytes: adds ciphertexts and multiplies them by
///   public scalars. Its type has no secret key, no decrypt and no encrypt.
/// - he::paillier_backend makes the three from parameters and a random_source (the public key
///   reaching client and server as bytes) and satisfies he::additive_backend by delegating.
///
/// It can carry encrypted FedAvg through fl::federated_trainer, but it cannot multiply two
/// ciphertexts, so it is NOT an he::arithmetic_backend and cannot train on encrypted data. See
/// docs/backends.md.
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
#include <string_view>
#include <utility>
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

namespace detail {

/// The public half of a Paillier key (n, the encoding parameters) and everything computable with it:
/// encryption (given randomness), additions, scalar multiplications, (de)serialization. Shared by
/// the three roles; holds nothing secret.
class paillier_public {
public:
  /// @throws as paillier_params::validate; hefl::invalid_argument if n does not have exactly
  ///         modulus_bits bits or is even.
  paillier_public(paillier_params params, Botan::BigInt n) : m_params(params), m_n(std::move(n)) {
    m_params.validate();
    if (m_n.bits() != m_params.modulus_bits || m_n.is_even())
      throw invalid_argument("paillier public key: n must be odd with exactly " + std::to_string(m_params.modulus_bits) +
                             " bits, got " + std::to_string(m_n.bits()) + " bits");
    m_n2 = m_n * m_n;
    m_half_n = m_n >> 1;
    m_slot_modulus = Botan::BigInt::power_of_2(static_cast<std::size_t>(m_params.slot_bits()));
    m_packed_modulus = Botan::BigInt::power_of_2(static_cast<std::size_t>(m_params.slot_bits()) * slot_count());
    std::vector<std::uint8_t> bytes(m_n.bytes());
    m_n.binary_encode(bytes.data());
    m_key_id = serial::fnv1a(bytes);
  }

  [[nodiscard]] const paillier_params& params() const noexcept { return m_params; }
  [[nodiscard]] const Botan::BigInt& modulus() const noexcept { return m_n; }
  [[nodiscard]] std::size_t slot_count() const noexcept { return m_params.slots(); }
  [[nodiscard]] double slot_limit() const noexcept { return std::ldexp(1.0, m_params.slot_bits() - 1); }
  [[nodiscard]] std::uint64_t key_id() const noexcept { return m_key_id; }
  [[nodiscard]] const Botan::BigInt& half_n() const noexcept { return m_half_n; }
  [[nodiscard]] const Botan::BigInt& slot_modulus() const noexcept { return m_slot_modulus; }
  [[nodiscard]] const Botan::BigInt& packed_modulus() const noexcept { return m_packed_modulus; }

  /// Format: "HEFLPPK1", uint64 modulus bits, int32 integer, fraction, scalar-fraction and headroom
  /// bits, uint32 length L = ⌈modulus_bits/8⌉, then n as L big-endian bytes.
  [[nodiscard]] std::vector<std::uint8_t> save() const {
    serial::writer w;
    w.put_bytes(key_magic);
    w.put<std::uint64_t>(m_params.modulus_bits);
    w.put<std::int32_t>(m_params.integer_bits);
    w.put<std::int32_t>(m_params.fraction_bits);
    w.put<std::int32_t>(m_params.scalar_fraction_bits);
    w.put<std::int32_t>(m_params.headroom_bits);
    std::vector<std::uint8_t> body(m_n.bytes());
    m_n.binary_encode(body.data());
    w.put<std::uint32_t>(static_cast<std::uint32_t>(body.size()));
    w.put_span<std::uint8_t>(body);
    return std::move(w).take();
  }

  /// Loads save() bytes. A modulus below 2048 bits loads only with @p accept ==
  /// paillier_security::none_i_know_this_is_insecure.
  /// @throws hefl::parse_error on malformed bytes or parameters; hefl::security_error for a short
  ///         modulus without the opt-out.
  [[nodiscard]] static paillier_public load(std::span<const std::uint8_t> bytes, paillier_security accept) {
    serial::reader r(bytes);
    r.expect_magic(key_magic, "paillier public key");
    paillier_params p;
    p.modulus_bits = static_cast<std::size_t>(r.get<std::uint64_t>("paillier public key modulus bits"));
    p.integer_bits = r.get<std::int32_t>("paillier public key integer bits");
    p.fraction_bits = r.get<std::int32_t>("paillier public key fraction bits");
    p.scalar_fraction_bits = r.get<std::int32_t>("paillier public key scalar fraction bits");
    p.headroom_bits = r.get<std::int32_t>("paillier public key headroom bits");
    p.security = accept;
    for (const int bits : {p.integer_bits, p.fraction_bits, p.scalar_fraction_bits, p.headroom_bits})
      if (bits < 0 || bits > 128)
        throw parse_error("paillier public key: encoding field " + std::to_string(bits) + " outside [0, 128] bits");
    const auto len = r.get<std::uint32_t>("paillier public key length");
    if (p.modulus_bits > paillier_params::max_modulus_bits || len != (p.modulus_bits + 7) / 8)
      throw parse_error("paillier public key: " + std::to_string(len) + " modulus bytes for a " +
                        std::to_string(p.modulus_bits) + "-bit modulus");
    const auto body = r.get_vector<std::uint8_t>(len, "paillier public key modulus");
    r.expect_end("paillier public key");
    try {
      return paillier_public(p, Botan::BigInt(body.data(), body.size()));
    } catch (const invalid_argument& e) {
      throw parse_error(std::string("paillier public key: ") + e.what());
    }
  }

  /// Encodes @p values into the first slots (the rest are zero) and encrypts them with randomness
  /// from @p rng. @throws hefl::invalid_argument if there are more values than slots, or a value is
  /// not finite or |v| >= 2^integer_bits.
  [[nodiscard]] paillier_ciphertext encrypt(std::span<const double> values, Botan::RandomNumberGenerator& rng,
                                            const char* who) const {
    if (values.size() > slot_count())
      throw invalid_argument(std::string(who) + "::encrypt: " + std::to_string(values.size()) + " values exceed " +
                             std::to_string(slot_count()) + " slots");
    const double range = std::ldexp(1.0, m_params.integer_bits);
    Botan::BigInt positive, negative;
    for (std::size_t i = values.size(); i-- > 0;) {
      const double v = values[i];
      if (!std::isfinite(v) || !(std::abs(v) < range))
        throw invalid_argument(std::string(who) + "::encrypt: value " + std::to_string(v) + " at slot " +
                               std::to_string(i) + " is outside (-2^" + std::to_string(m_params.integer_bits) +
                               ", 2^" + std::to_string(m_params.integer_bits) + ")");
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
    c.value = (gm * random_r_to_n(rng)) % m_n2;
    c.scale_bits = m_params.fraction_bits;
    c.bound = std::ldexp(1.0, m_params.integer_bits + m_params.fraction_bits);  // public: reveals nothing about v
    c.key_id = m_key_id;
    return c;
  }

  /// a += b slot-wise; the operand at the smaller scale is first multiplied by a power of two.
  /// @throws hefl::invalid_argument if the keys differ or a slot could overflow.
  void add_inplace(paillier_ciphertext& a, const paillier_ciphertext& b, const char* who) const {
    check_key(a, who, "add");
    check_key(b, who, "add");
    const int scale = std::max(a.scale_bits, b.scale_bits);
    const paillier_ciphertext x = a.scale_bits < scale ? rescale_up(a, scale, who) : a;
    const paillier_ciphertext y = b.scale_bits < scale ? rescale_up(b, scale, who) : b;
    const double bound = x.bound + y.bound;
    check_bound(bound, who, "add");
    a.value = (x.value * y.value) % m_n2;
    a.scale_bits = scale;
    a.bound = bound;
  }

  /// a · s in every slot. An integer s (|s| <= 2^53) is exact and keeps the scale; any other s is
  /// rounded to a multiple of 2^-scalar_fraction_bits and raises the scale by scalar_fraction_bits.
  /// @throws hefl::invalid_argument if s is not finite, the key differs, or a slot could overflow.
  [[nodiscard]] paillier_ciphertext multiply_scalar(const paillier_ciphertext& a, double s, const char* who) const {
    check_key(a, who, "multiply_scalar");
    if (!std::isfinite(s)) throw invalid_argument(std::string(who) + "::multiply_scalar: the scalar is not finite");
    paillier_ciphertext r = a;
    long long k = 0;
    if (s == std::floor(s) && std::abs(s) <= 0x1p53) {
      k = static_cast<long long>(s);
    } else {
      const double scaled = std::ldexp(s, m_params.scalar_fraction_bits);
      if (!(std::abs(scaled) < 0x1p62))
        throw invalid_argument(std::string(who) + "::multiply_scalar: |s| = " + std::to_string(std::abs(s)) +
                               " is too large for a fractional scalar");
      k = std::llround(scaled);
      r.scale_bits += m_params.scalar_fraction_bits;
      if (r.scale_bits > max_scale_bits())
        throw invalid_argument(std::string(who) + "::multiply_scalar: scale 2^" + std::to_string(r.scale_bits) +
                               " after too many fractional scalars (at most 2^" + std::to_string(max_scale_bits()) + ")");
    }
    r.bound = a.bound * std::abs(static_cast<double>(k));
    check_bound(r.bound, who, "multiply_scalar");
    r.value = power_signed(a.value, k);
    return r;
  }

  /// Format: "HEFLPAI1", uint64 key id, int32 scale bits, double bound, uint32 length L, then c as
  /// L = 2·⌈modulus_bits/8⌉ big-endian bytes.
  /// @throws hefl::invalid_argument if @p c belongs to another key.
  [[nodiscard]] std::vector<std::uint8_t> serialize(const paillier_ciphertext& c, const char* who) const {
    check_key(c, who, "serialize");
    serial::writer w;
    w.put_bytes(ciphertext_magic);
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
    r.expect_magic(ciphertext_magic, "paillier ciphertext");
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

  void check_key(const paillier_ciphertext& c, const char* who, const char* op) const {
    if (c.key_id != m_key_id)
      throw invalid_argument(std::string(who) + "::" + op + ": the ciphertext belongs to another key");
  }

  static constexpr std::string_view key_magic = "HEFLPPK1";
  static constexpr std::string_view ciphertext_magic = "HEFLPAI1";

private:
  [[nodiscard]] int max_scale_bits() const noexcept { return m_params.fraction_bits + 8 * m_params.scalar_fraction_bits; }
  [[nodiscard]] std::size_t ciphertext_bytes() const noexcept { return 2 * ((m_params.modulus_bits + 7) / 8); }

  /// r^n mod n² for r uniform in Z*_n.
  Botan::BigInt random_r_to_n(Botan::RandomNumberGenerator& rng) const {
    for (;;) {
      const Botan::BigInt r = Botan::BigInt::random_integer(rng, 1, m_n);
      if (Botan::gcd(r, m_n) == 1) return Botan::power_mod(r, m_n, m_n2);
    }
  }

  Botan::BigInt power_signed(const Botan::BigInt& c, long long k) const {
    if (k == 0) return Botan::BigInt(1);
    const Botan::BigInt e(static_cast<std::uint64_t>(k < 0 ? -k : k));
    const Botan::BigInt p = Botan::power_mod(c, e, m_n2);
    return k < 0 ? Botan::inverse_mod(p, m_n2) : p;
  }

  paillier_ciphertext rescale_up(const paillier_ciphertext& a, int scale_bits, const char* who) const {
    paillier_ciphertext r = a;
    const int shift = scale_bits - a.scale_bits;
    r.bound = std::ldexp(a.bound, shift);
    check_bound(r.bound, who, "add (aligning scales)");
    r.value = Botan::power_mod(a.value, Botan::BigInt::power_of_2(static_cast<std::size_t>(shift)), m_n2);
    r.scale_bits = scale_bits;
    return r;
  }

  void check_bound(double bound, const char* who, const char* op) const {
    // The slack covers rounding of the double bound itself.
    if (!(bound * (1.0 + 1e-9) < slot_limit()))
      throw invalid_argument(std::string(who) + "::" + op + ": a slot could reach 2^" +
                             std::to_string(std::log2(bound)).substr(0, 6) + " >= 2^" +
                             std::to_string(m_params.slot_bits() - 1) +
                             " and overflow; raise paillier_params::headroom_bits or combine fewer terms");
  }

  paillier_params m_params;
  Botan::BigInt m_n, m_n2, m_half_n, m_slot_modulus, m_packed_modulus;
  std::uint64_t m_key_id = 0;
};

} // namespace detail

/// The Paillier key holder: generates and keeps the secret key (p, q and the CRT constants),
/// decrypts, and hands out the public key as bytes. The random source must outlive it; it feeds key
/// generation and its own encryptions. Not thread-safe (the random source is not).
class paillier_key_holder {
public:
  using ciphertext_type = paillier_ciphertext;
  static constexpr bool is_encrypted = true;

  /// Generates a key pair: primes p and q of modulus_bits/2 bits each (Botan::generate_rsa_prime,
  /// Miller–Rabin error below 2^-128, p − 1 and q − 1 coprime to 65537) until n = pq has exactly
  /// modulus_bits bits.
  /// @throws as paillier_params::validate.
  paillier_key_holder(paillier_params params, random_source& rng)
      : m_rng(rng), m_public(generate(params, m_rng, m_p, m_q)) {
    m_p2 = m_p * m_p;
    m_q2 = m_q * m_q;
    // h_p = L_p(g^(p−1) mod p²)^(−1) mod p, likewise for q (Paillier 1999, §7).
    const Botan::BigInt g = m_public.modulus() + 1;
    m_hp = Botan::inverse_mod(l_function(Botan::power_mod(g, m_p - 1, m_p2), m_p), m_p);
    m_hq = Botan::inverse_mod(l_function(Botan::power_mod(g, m_q - 1, m_q2), m_q), m_q);
    m_q_inv_p = Botan::inverse_mod(m_q, m_p);
  }

  paillier_key_holder(const paillier_key_holder&) = delete;
  paillier_key_holder& operator=(const paillier_key_holder&) = delete;
  ~paillier_key_holder() {
    for (Botan::BigInt* x : {&m_p, &m_q, &m_p2, &m_q2, &m_hp, &m_hq, &m_q_inv_p}) x->clear();
  }

  [[nodiscard]] const paillier_params& params() const noexcept { return m_public.params(); }
  /// The public modulus n.
  [[nodiscard]] const Botan::BigInt& modulus() const noexcept { return m_public.modulus(); }
  [[nodiscard]] std::size_t slot_count() const noexcept { return m_public.slot_count(); }
  [[nodiscard]] double slot_limit() const noexcept { return m_public.slot_limit(); }
  /// The public key (n and the encoding parameters) for paillier_client and paillier_server.
  [[nodiscard]] std::vector<std::uint8_t> public_key() const { return m_public.save(); }

  /// See paillier_client::encrypt.
  [[nodiscard]] paillier_ciphertext encrypt(std::span<const double> values) {
    return m_public.encrypt(values, m_rng, "paillier_key_holder");
  }

  /// All slot_count() slot values (unused slots decrypt to 0). Exact: Paillier decryption has no
  /// noise, so it leaks nothing beyond the (fixed-point) plaintext, and there is nothing to flood.
  /// @throws hefl::invalid_argument if @p c belongs to another key.
  [[nodiscard]] std::vector<double> decrypt(const paillier_ciphertext& c) const {
    m_public.check_key(c, "paillier_key_holder", "decrypt");
    // CRT decryption (Paillier 1999, §7): m_p = L_p(c^(p−1) mod p²)·h_p mod p, likewise for q.
    const Botan::BigInt mp = (l_function(Botan::power_mod(c.value % m_p2, m_p - 1, m_p2), m_p) * m_hp) % m_p;
    const Botan::BigInt mq = (l_function(Botan::power_mod(c.value % m_q2, m_q - 1, m_q2), m_q) * m_hq) % m_q;
    const Botan::BigInt diff = (mp + m_p - (mq % m_p)) % m_p;
    const Botan::BigInt m = mq + m_q * ((diff * m_q_inv_p) % m_p);
    const Botan::BigInt& n = m_public.modulus();
    // Signed packed integer M as a non-negative T-bit two's-complement word X.
    const Botan::BigInt x = m <= m_public.half_n() ? m : m_public.packed_modulus() - (n - m);
    std::vector<double> out(slot_count(), 0.0);
    const auto w = static_cast<std::size_t>(params().slot_bits());
    const Botan::BigInt& slot_modulus = m_public.slot_modulus();
    const Botan::BigInt half_slot = slot_modulus >> 1;
    bool carry = false;
    for (std::size_t i = 0; i < out.size(); ++i) {
      // Botan 2's operator>> misbehaves when shifting past the top word, so test the size first.
      Botan::BigInt d = x.bits() > w * i ? (x >> (w * i)) % slot_modulus : Botan::BigInt(0);
      if (carry) d += 1;
      const bool negative = d >= half_slot;
      carry = negative;
      const double magnitude = detail::to_double(negative ? slot_modulus - d : d);
      out[i] = std::ldexp(negative ? -magnitude : magnitude, -c.scale_bits);
    }
    return out;
  }

  /// See paillier_server::serialize.
  [[nodiscard]] std::vector<std::uint8_t> serialize(const paillier_ciphertext& c) const {
    return m_public.serialize(c, "paillier_key_holder");
  }
  /// See paillier_server::deserialize.
  [[nodiscard]] paillier_ciphertext deserialize(std::span<const std::uint8_t> bytes) const {
    return m_public.deserialize(bytes);
  }

private:
  static detail::paillier_public generate(paillier_params params, Botan::RandomNumberGenerator& rng, Botan::BigInt& p,
                                          Botan::BigInt& q) {
    params.validate();
    const std::size_t half = params.modulus_bits / 2;
    for (;;) {
      // generate_rsa_prime wants an odd e coprime to p − 1; 65537 is harmless for Paillier.
      p = Botan::generate_rsa_prime(rng, rng, half, Botan::BigInt(65537), 128);
      q = Botan::generate_rsa_prime(rng, rng, half, Botan::BigInt(65537), 128);
      if (p == q) continue;
      const Botan::BigInt n = p * q;
      if (n.bits() == params.modulus_bits) return detail::paillier_public(params, n);
    }
  }

  static Botan::BigInt l_function(const Botan::BigInt& u, const Botan::BigInt& d) { return (u - 1) / d; }

  detail::random_source_rng m_rng;
  Botan::BigInt m_p, m_q;  // filled by generate() while m_public is built
  detail::paillier_public m_public;
  Botan::BigInt m_p2, m_q2, m_hp, m_hq, m_q_inv_p;
};

/// A Paillier client: the public key only. Encrypts; cannot decrypt. The random source must outlive
/// it. Not thread-safe.
class paillier_client {
public:
  using ciphertext_type = paillier_ciphertext;

  /// Loads paillier_key_holder::public_key() bytes (see detail::paillier_public::load for @p accept).
  /// @throws hefl::parse_error on malformed bytes; hefl::security_error for a short modulus.
  paillier_client(std::span<const std::uint8_t> public_key, random_source& rng,
                  paillier_security accept = paillier_security::standard)
      : m_rng(rng), m_public(detail::paillier_public::load(public_key, accept)) {}

  paillier_client(const paillier_client&) = delete;
  paillier_client& operator=(const paillier_client&) = delete;

  [[nodiscard]] const paillier_params& params() const noexcept { return m_public.params(); }
  [[nodiscard]] const Botan::BigInt& modulus() const noexcept { return m_public.modulus(); }
  [[nodiscard]] std::size_t slot_count() const noexcept { return m_public.slot_count(); }

  /// Encodes @p values into the first slots (the rest are zero) and encrypts them.
  /// @throws hefl::invalid_argument if there are more values than slots, or a value is not finite or
  ///         |v| >= 2^integer_bits.
  [[nodiscard]] paillier_ciphertext encrypt(std::span<const double> values) {
    return m_public.encrypt(values, m_rng, "paillier_client");
  }
  [[nodiscard]] std::vector<std::uint8_t> serialize(const paillier_ciphertext& c) const {
    return m_public.serialize(c, "paillier_client");
  }
  /// @throws hefl::parse_error as paillier_server::deserialize.
  [[nodiscard]] paillier_ciphertext deserialize(std::span<const std::uint8_t> bytes) const {
    return m_public.deserialize(bytes);
  }

private:
  detail::random_source_rng m_rng;
  detail::paillier_public m_public;
};

/// The Paillier server (aggregator): the public key only. Adds ciphertexts and multiplies them by
/// public scalars; has no secret key, no decrypt and no encrypt.
class paillier_server {
public:
  using ciphertext_type = paillier_ciphertext;
  static constexpr bool is_encrypted = true;
  static constexpr bool free_integer_scalars = true;

  /// Loads paillier_key_holder::public_key() bytes (see paillier_client for @p accept).
  /// @throws hefl::parse_error on malformed bytes; hefl::security_error for a short modulus.
  explicit paillier_server(std::span<const std::uint8_t> public_key, paillier_security accept = paillier_security::standard)
      : m_public(detail::paillier_public::load(public_key, accept)) {}

  paillier_server(const paillier_server&) = delete;
  paillier_server& operator=(const paillier_server&) = delete;

  [[nodiscard]] const paillier_params& params() const noexcept { return m_public.params(); }
  [[nodiscard]] const Botan::BigInt& modulus() const noexcept { return m_public.modulus(); }
  [[nodiscard]] std::size_t slot_count() const noexcept { return m_public.slot_count(); }
  /// Largest slot integer magnitude a ciphertext may reach: 2^(slot_bits − 1) − 1.
  [[nodiscard]] double slot_limit() const noexcept { return m_public.slot_limit(); }

  /// a + b slot-wise (see detail::paillier_public::add_inplace).
  /// @throws hefl::invalid_argument if the keys differ or a slot could overflow.
  [[nodiscard]] paillier_ciphertext add(const paillier_ciphertext& a, const paillier_ciphertext& b) const {
    paillier_ciphertext r = a;
    add_inplace(r, b);
    return r;
  }
  /// a += b. @throws as add.
  void add_inplace(paillier_ciphertext& a, const paillier_ciphertext& b) const {
    m_public.add_inplace(a, b, "paillier_server");
  }
  /// a · s in every slot: exact for an integer s, fixed-point otherwise.
  /// @throws hefl::invalid_argument if s is not finite, the key differs, or a slot could overflow.
  [[nodiscard]] paillier_ciphertext multiply_scalar(const paillier_ciphertext& a, double s) const {
    return m_public.multiply_scalar(a, s, "paillier_server");
  }
  [[nodiscard]] std::vector<std::uint8_t> serialize(const paillier_ciphertext& c) const {
    return m_public.serialize(c, "paillier_server");
  }
  /// @throws hefl::parse_error on a wrong magic, another key's id, truncation, a length other than
  ///         this key's, a scale or bound the backend could not have produced, c = 0, c >= n²,
  ///         gcd(c, n) != 1 (not in Z*_{n²}), or trailing bytes.
  [[nodiscard]] paillier_ciphertext deserialize(std::span<const std::uint8_t> bytes) const {
    return m_public.deserialize(bytes);
  }

private:
  detail::paillier_public m_public;
};

/// The three Paillier roles made from parameters and a random_source, the public key reaching the
/// client and the server as bytes. Satisfies he::additive_backend by delegating (encrypt to the
/// client, arithmetic to the server, decrypt to the key holder), so one object can stand for all
/// parties in a test; the trainer talks to each role through client(), server() and key_holder().
/// The random source must outlive the object. Not thread-safe.
class paillier_backend {
public:
  using ciphertext_type = paillier_ciphertext;
  static constexpr bool is_encrypted = true;
  static constexpr bool free_integer_scalars = true;

  /// @throws as paillier_key_holder.
  paillier_backend(paillier_params params, random_source& rng)
      : m_key_holder(params, rng), m_client(m_key_holder.public_key(), rng, params.security),
        m_server(m_key_holder.public_key(), params.security) {}

  paillier_backend(const paillier_backend&) = delete;
  paillier_backend& operator=(const paillier_backend&) = delete;

  [[nodiscard]] paillier_client& client() noexcept { return m_client; }
  [[nodiscard]] const paillier_server& server() const noexcept { return m_server; }
  [[nodiscard]] paillier_key_holder& key_holder() noexcept { return m_key_holder; }

  [[nodiscard]] const paillier_params& params() const noexcept { return m_key_holder.params(); }
  /// The public modulus n.
  [[nodiscard]] const Botan::BigInt& modulus() const noexcept { return m_key_holder.modulus(); }
  /// Packed slots per ciphertext (paillier_params::slots()).
  [[nodiscard]] std::size_t slot_count() const noexcept { return m_server.slot_count(); }
  /// Largest slot integer magnitude a ciphertext may reach: 2^(slot_bits − 1) − 1.
  [[nodiscard]] double slot_limit() const noexcept { return m_server.slot_limit(); }

  /// See paillier_client::encrypt.
  [[nodiscard]] paillier_ciphertext encrypt(std::span<const double> values) { return m_client.encrypt(values); }
  /// See paillier_key_holder::decrypt.
  [[nodiscard]] std::vector<double> decrypt(const paillier_ciphertext& c) const { return m_key_holder.decrypt(c); }
  [[nodiscard]] paillier_ciphertext add(const paillier_ciphertext& a, const paillier_ciphertext& b) const {
    return m_server.add(a, b);
  }
  void add_inplace(paillier_ciphertext& a, const paillier_ciphertext& b) const { m_server.add_inplace(a, b); }
  [[nodiscard]] paillier_ciphertext multiply_scalar(const paillier_ciphertext& a, double s) const {
    return m_server.multiply_scalar(a, s);
  }
  [[nodiscard]] std::vector<std::uint8_t> serialize(const paillier_ciphertext& c) const { return m_server.serialize(c); }
  [[nodiscard]] paillier_ciphertext deserialize(std::span<const std::uint8_t> bytes) const {
    return m_server.deserialize(bytes);
  }

private:
  paillier_key_holder m_key_holder;
  paillier_client m_client;
  paillier_server m_server;
};

static_assert(additive_backend<paillier_backend> && has_roles<paillier_backend>);
static_assert(!arithmetic_backend<paillier_backend>, "Paillier cannot multiply ciphertexts");
namespace detail {
template <class S>
concept paillier_can_decrypt = requires(const S& s, const paillier_ciphertext& c) { s.decrypt(c); };
} // namespace detail
static_assert(!detail::paillier_can_decrypt<paillier_server> && !detail::paillier_can_decrypt<paillier_client>,
              "only the Paillier key holder can decrypt");

} // namespace hefl::he
