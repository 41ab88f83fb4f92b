#pragma once
/// @file
/// CKKS secret and public keys (Cheon, Kim, Kim, Song, ASIACRYPT 2017, §3.4: KeyGen with a ternary
/// secret and a discrete Gaussian error of σ = 3.2, the HomomorphicEncryption.org standard's choice).
/// Key-switching keys (relinearization, Galois) use the hybrid method of Han and Ki ("Better
/// Bootstrapping for Approximate Homomorphic Encryption", CT-RSA 2020, §3): α special primes
/// (parameters::special_primes) and dnum = ceil((L + 1)/α) digits of α chain primes each.
/// α = 1 (dnum = L + 1) is the default and Microsoft SEAL's layout.
/// The public key keeps its uniform "common random polynomial" a explicit, so that several parties
/// holding secret shares s_i can each publish b_i = -a·s_i + e_i for the same a and sum them into a
/// collective key (Mouchet, Troncoso-Pastoriza, Bossuat, Hubaux, "Multiparty Homomorphic Encryption
/// from Ring-Learning-with-Errors", PETS 2021); nothing here assumes one party holds the whole secret.
/// All randomness comes from a hefl::random_source; this header does not include Botan.

#include <hefl/core/error.hpp>
#include <hefl/core/random.hpp>
#include <hefl/he/ckks/detail/chacha20.hpp>
#include <hefl/he/ckks/detail/eltwise.hpp>
#include <hefl/he/ckks/detail/rns_poly.hpp>
#include <hefl/he/ckks/params.hpp>

#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace hefl::he::ckks {

/// Standard deviation of the error distribution.
inline constexpr double error_std_dev = 3.2;
/// Errors are cut at 6σ: every sample lies in [-19, 19].
inline constexpr int error_bound = 19;

namespace detail {

/// Overwrites @p data with zeros through a volatile pointer, so the compiler cannot drop the stores
/// as dead (the same reason as C11's memset_s).
inline void secure_wipe(std::span<u64> data) noexcept {
  volatile u64* p = data.data();
  for (std::size_t i = 0; i < data.size(); ++i) p[i] = 0;
}

/// Buffers bytes from a random_source so that samplers draw in large chunks instead of one virtual
/// call per coefficient; the buffer is wiped when the stream ends because it held secret material.
class random_stream {
public:
  explicit random_stream(random_source& source) noexcept : m_source(source) {}
  random_stream(const random_stream&) = delete;
  random_stream& operator=(const random_stream&) = delete;
  ~random_stream() { secure_wipe(m_buffer); }

  /// The next 64 random bits.
  u64 next_u64() {
    if (m_pos == m_buffer.size()) refill();
    return m_buffer[m_pos++];
  }

private:
  void refill() {
    m_source.fill(std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(m_buffer.data()), sizeof m_buffer));
    m_pos = 0;
  }

  random_source& m_source;
  std::array<u64, 512> m_buffer{};
  std::size_t m_pos = 512;
};

/// Cumulative distribution of the discrete Gaussian D_{Z,σ} cut to [-19, 19], as thresholds on a
/// uniform 64-bit word: sample = (number of thresholds <= r) - 19.
[[nodiscard]] inline const std::array<u64, 2 * error_bound>& gaussian_cdt() {
  static const std::array<u64, 2 * error_bound> table = [] {
    std::array<long double, 2 * error_bound + 1> weight{};
    long double total = 0;
    for (int x = -error_bound; x <= error_bound; ++x) {
      const long double w = std::exp(-static_cast<long double>(x) * x / (2.0L * error_std_dev * error_std_dev));
      weight[static_cast<std::size_t>(x + error_bound)] = w;
      total += w;
    }
    std::array<u64, 2 * error_bound> cdt{};
    long double cumulative = 0;
    for (std::size_t k = 0; k < cdt.size(); ++k) {
      cumulative += weight[k];
      cdt[k] = static_cast<u64>(std::ldexp(cumulative / total, 64));
    }
    return cdt;
  }();
  return table;
}

/// One discrete Gaussian sample in [-19, 19]. The scan always reads the whole table, so its timing
/// does not depend on the value drawn.
[[nodiscard]] inline int sample_gaussian(random_stream& rs) {
  const auto& cdt = gaussian_cdt();
  const u64 r = rs.next_u64();
  int index = 0;
  for (const u64 threshold : cdt) index += static_cast<int>(r >= threshold);
  return index - error_bound;
}

/// Fills @p p (coefficient form) with a uniform ternary polynomial: each coefficient -1, 0 or 1 with
/// probability 1/3, the same integer in every limb. The draws come first (in coefficient order), then
/// each limb is written in one pass; the residues do not depend on how the work is split.
inline void sample_ternary(rns_poly& p, random_stream& rs, const context& ctx) {
  const std::size_t n = p.degree();
  word_vector draws = uninitialized_words(n); // 0 -> 0, 1 -> 1, 2 -> -1
  u64 word = 0;
  int bytes_left = 0;
  for (std::size_t j = 0; j < n; ++j) {
    unsigned byte = 255;
    while (byte == 255) { // 255 = 3 * 85: rejecting it makes byte % 3 uniform
      if (bytes_left == 0) {
        word = rs.next_u64();
        bytes_left = 8;
      }
      byte = static_cast<unsigned>(word & 0xff);
      word >>= 8;
      --bytes_left;
    }
    draws[j] = byte % 3;
  }
  word = 0;
  for (std::size_t i = 0; i < p.limb_count(); ++i) {
    const u64 q_minus_1 = ctx.primes()[p.prime_index(i, ctx)] - 1;
    u64* x = p.limb(i);
    // Branch-free: t = 2 selects q - 1 through an all-ones mask, t = 1 leaves its low bit.
    for (std::size_t j = 0; j < n; ++j) x[j] = (draws[j] & 1) | ((u64{0} - (draws[j] >> 1)) & q_minus_1);
  }
  secure_wipe(std::span<u64>(draws.data(), n));
  p.set_ntt_form(false);
}

/// Adds a discrete Gaussian error polynomial to @p p, which must be in coefficient form. The samples
/// are drawn first (in coefficient order), then added to each limb in one pass.
inline void add_gaussian_error(rns_poly& p, random_stream& rs, const context& ctx) {
  const std::size_t n = p.degree();
  word_vector draws = uninitialized_words(n); // the error as a 64-bit two's-complement integer
  for (std::size_t j = 0; j < n; ++j) draws[j] = static_cast<u64>(static_cast<std::int64_t>(sample_gaussian(rs)));
  for (std::size_t i = 0; i < p.limb_count(); ++i) {
    const u64 q = ctx.primes()[p.prime_index(i, ctx)];
    u64* x = p.limb(i);
    // e mod q is e or q + e (modulo 2^64 the same sum); adding it is x + e mod q.
    for (std::size_t j = 0; j < n; ++j) {
      const u64 e = draws[j] + (q & (u64{0} - (draws[j] >> 63)));
      x[j] = add_mod(x[j], e, q);
    }
  }
  secure_wipe(std::span<u64>(draws.data(), n));
}

/// Fills @p p with residues uniform modulo each limb's prime, marked as NTT form (the NTT is a
/// bijection, so a uniform polynomial is uniform in either representation).
inline void sample_uniform(rns_poly& p, random_stream& rs, const context& ctx) {
  for (std::size_t i = 0; i < p.limb_count(); ++i) {
    const u64 q = ctx.primes()[p.prime_index(i, ctx)];
    const u64 mask = (u64{1} << std::bit_width(q)) - 1; // q < 2^61, so no overflow
    u64* x = p.limb(i);
    for (std::size_t j = 0; j < p.degree(); ++j) {
      u64 r = rs.next_u64() & mask;
      while (r >= q) r = rs.next_u64() & mask; // accepted with probability > 1/2
      x[j] = r;
    }
  }
  p.set_ntt_form(true);
}

/// ChaCha20 nonce of key-switching-key expansion ("kswk"), so that a key's stream never equals a
/// seeded ciphertext's (zero nonce) even for the same seed.
inline constexpr std::array<std::uint32_t, 3> kswitch_key_nonce{0x6b77736bu, 0, 0};

/// The uniform parts a_0..a_{dnum-1} of a seeded key-switching key (NTT form, all primes), drawn in order
/// from one ChaCha20 key stream of @p seed: how the key generator makes them and how loading
/// re-expands them, so both give the same residues.
[[nodiscard]] inline std::vector<rns_poly> expand_kswitch_uniform(const parameters& params,
                                                                  std::span<const std::uint8_t, chacha20_seed_size> seed) {
  chacha20_source source(seed, kswitch_key_nonce);
  random_stream rs(source);
  std::vector<rns_poly> as;
  as.reserve(params.digit_count());
  for (std::size_t j = 0; j < params.digit_count(); ++j) {
    rns_poly a(params.poly_degree(), params.max_level(), params.special_prime_count());
    sample_uniform(a, rs, params.context());
    as.push_back(std::move(a));
  }
  return as;
}

} // namespace detail

/// The public seed of a key-switching key's uniform parts: 256 bits drawn from the key generator's
/// random source.
using kswitch_seed = std::array<std::uint8_t, detail::chacha20_seed_size>;

class key_generator;

/// A ternary secret key s, stored in NTT form over every prime (q_0..q_L and P). Its memory is
/// wiped when the key is destroyed or overwritten. Never serialized unless asked for by name.
class secret_key {
public:
  /// Wraps a secret polynomial (NTT form, level L, with the special limb) for @p params.
  /// @throws hefl::invalid_argument if the polynomial does not have that shape.
  secret_key(const parameters& params, detail::rns_poly s) : m_params_id(params.id()), m_s(std::move(s)) {
    if (m_s.degree() != params.poly_degree() || m_s.level() != params.max_level() ||
        m_s.special_count() != params.special_prime_count() ||
        !m_s.is_ntt_form()) {
      detail::secure_wipe(m_s.data());
      throw invalid_argument("ckks::secret_key: the secret polynomial must be in NTT form over all " +
                             std::to_string(params.primes().size()) + " primes of the parameters");
    }
  }
  secret_key(const secret_key&) = default;
  secret_key(secret_key&&) noexcept = default;
  secret_key& operator=(const secret_key& other) {
    if (this != &other) {
      detail::secure_wipe(m_s.data());
      m_params_id = other.m_params_id;
      m_s = other.m_s;
    }
    return *this;
  }
  secret_key& operator=(secret_key&& other) noexcept {
    if (this != &other) {
      detail::secure_wipe(m_s.data());
      m_params_id = other.m_params_id;
      m_s = std::move(other.m_s);
    }
    return *this;
  }
  ~secret_key() { detail::secure_wipe(m_s.data()); }

  /// Id of the parameters the key belongs to.
  [[nodiscard]] std::uint64_t parameters_id() const noexcept { return m_params_id; }
  /// The secret polynomial s (NTT form, all primes). Handle with care: this is the secret.
  [[nodiscard]] const detail::rns_poly& poly() const noexcept { return m_s; }

private:
  std::uint64_t m_params_id;
  detail::rns_poly m_s;
};

/// A public key (b, a) with b = -a·s + e over all primes, both in NTT form. a is the common random
/// polynomial: uniform, independent of s, and shareable between parties.
class public_key {
public:
  /// Assembles a public key from its two polynomials (NTT form, level L, with the special limb).
  /// @throws hefl::invalid_argument if either polynomial does not have that shape.
  public_key(const parameters& params, detail::rns_poly b, detail::rns_poly a)
      : m_params_id(params.id()), m_b(std::move(b)), m_a(std::move(a)) {
    for (const auto* p : {&m_b, &m_a})
      if (p->degree() != params.poly_degree() || p->level() != params.max_level() ||
          p->special_count() != params.special_prime_count() ||
          !p->is_ntt_form())
        throw invalid_argument("ckks::public_key: both polynomials must be in NTT form over all " +
                               std::to_string(params.primes().size()) + " primes of the parameters");
  }

  /// Id of the parameters the key belongs to.
  [[nodiscard]] std::uint64_t parameters_id() const noexcept { return m_params_id; }
  /// b = -a·s + e.
  [[nodiscard]] const detail::rns_poly& b() const noexcept { return m_b; }
  /// The common random polynomial a.
  [[nodiscard]] const detail::rns_poly& a() const noexcept { return m_a; }

private:
  std::uint64_t m_params_id;
  detail::rns_poly m_b, m_a;
};

/// A key-switching key from a polynomial s' to the secret s: for each digit j (the chain primes
/// q_{jα}..q_{jα+α-1}, fewer in the last digit) a pair (b_j, a_j) over all primes,
/// b_j = -a_j·s + e_j + P·s'·[j], where P is the product of the α special primes and [j] is 1
/// modulo the digit's primes and 0 modulo the other chain primes. Switching c·s' to s costs one NTT
/// per (digit, prime outside the digit) pair.
/// Keys made by key_generator are seeded: their a_j are the ChaCha20 expansion of a public 256-bit
/// seed (detail::expand_kswitch_uniform), so save() stores the seed and the b_j only (half the size),
/// as Microsoft SEAL does for its seeded keys. Keys assembled from explicit a_j have no seed and are
/// saved in full.
class kswitch_key {
public:
  /// Assembles a key from dnum pairs (NTT form, all primes). The key has no seed.
  /// @throws hefl::invalid_argument if the counts or shapes are wrong.
  kswitch_key(const parameters& params, std::vector<detail::rns_poly> b, std::vector<detail::rns_poly> a)
      : kswitch_key(params, std::move(b), std::move(a), std::nullopt) {}

  /// Assembles a seeded key from its dnum polynomials b_j and the seed its a_j expand from (how a
  /// loaded key is rebuilt: the a_j are re-expanded here, so they always match the seed).
  /// @throws hefl::invalid_argument if the count or shapes of b are wrong.
  [[nodiscard]] static kswitch_key from_seed(const parameters& params, std::vector<detail::rns_poly> b,
                                             const kswitch_seed& seed) {
    return kswitch_key(params, std::move(b), detail::expand_kswitch_uniform(params, seed), seed);
  }

  /// Id of the parameters the key belongs to.
  [[nodiscard]] std::uint64_t parameters_id() const noexcept { return m_params_id; }
  /// Number of digits, dnum = ceil((L + 1)/α).
  [[nodiscard]] std::size_t digit_count() const noexcept { return m_b.size(); }
  /// Number α of special primes (special limbs of every polynomial) the key was made for.
  [[nodiscard]] std::size_t special_count() const noexcept { return m_b.empty() ? 0 : m_b[0].special_count(); }
  /// b_j.
  [[nodiscard]] const detail::rns_poly& b(std::size_t j) const noexcept { return m_b[j]; }
  /// a_j, uniform: the common random polynomials of this key.
  [[nodiscard]] const detail::rns_poly& a(std::size_t j) const noexcept { return m_a[j]; }
  /// The seed the a_j were expanded from, or nothing for a key assembled from explicit a_j.
  [[nodiscard]] const std::optional<kswitch_seed>& seed() const noexcept { return m_seed; }

private:
  friend class key_generator;

  kswitch_key(const parameters& params, std::vector<detail::rns_poly> b, std::vector<detail::rns_poly> a,
              const std::optional<kswitch_seed>& seed)
      : m_params_id(params.id()), m_b(std::move(b)), m_a(std::move(a)), m_seed(seed) {
    if (m_b.size() != params.digit_count() || m_a.size() != m_b.size())
      throw invalid_argument("ckks::kswitch_key: expected " + std::to_string(params.digit_count()) +
                             " pairs (one per digit of " + std::to_string(params.special_prime_count()) +
                             " chain primes), got " + std::to_string(m_b.size()) + " and " +
                             std::to_string(m_a.size()));
    for (const auto* v : {&m_b, &m_a})
      for (const auto& p : *v)
        if (p.degree() != params.poly_degree() || p.level() != params.max_level() ||
            p.special_count() != params.special_prime_count() ||
            !p.is_ntt_form())
          throw invalid_argument("ckks::kswitch_key: every polynomial must be in NTT form over all primes (" +
                                 std::to_string(params.special_prime_count()) + " special limbs)");
  }

  std::uint64_t m_params_id;
  std::vector<detail::rns_poly> m_b, m_a;
  std::optional<kswitch_seed> m_seed;
};

/// The relinearization key: switches s^2 to s, turning a 3-part product back into 2 parts.
class relin_keys {
public:
  /// Wraps the key-switching key for s^2.
  explicit relin_keys(kswitch_key key) : m_key(std::move(key)) {}
  /// The key-switching key for s^2.
  [[nodiscard]] const kswitch_key& key() const noexcept { return m_key; }
  /// Id of the parameters the key belongs to.
  [[nodiscard]] std::uint64_t parameters_id() const noexcept { return m_key.parameters_id(); }

private:
  kswitch_key m_key;
};

/// The Galois element g = 5^steps mod 2N (5^(N/2 - |steps|) for negative steps) whose automorphism
/// X -> X^g rotates the N/2 slots left by @p steps; the slot order of ckks::encoder.
/// @throws hefl::invalid_argument if poly_degree is not a power of two >= 4.
[[nodiscard]] inline std::uint64_t galois_element_for_step(long long steps, std::size_t poly_degree) {
  if (poly_degree < 4 || (poly_degree & (poly_degree - 1)) != 0)
    throw invalid_argument("ckks::galois_element_for_step: ring degree must be a power of two >= 4, got " +
                           std::to_string(poly_degree));
  const auto slots = static_cast<long long>(poly_degree / 2);
  const auto k = static_cast<std::uint64_t>(((steps % slots) + slots) % slots);
  const std::uint64_t mask = 2 * static_cast<std::uint64_t>(poly_degree) - 1;
  std::uint64_t g = 1;
  for (std::uint64_t i = 0; i < k; ++i) g = (g * 5) & mask;
  return g;
}

/// The Galois element of complex conjugation, X -> X^(2N-1).
[[nodiscard]] constexpr std::uint64_t conjugation_galois_element(std::size_t poly_degree) noexcept {
  return 2 * static_cast<std::uint64_t>(poly_degree) - 1;
}

/// Key-switching keys for a chosen set of Galois elements (rotations, conjugation).
class galois_keys {
public:
  /// Keys indexed by Galois element.
  galois_keys(std::uint64_t params_id, std::map<std::uint64_t, kswitch_key> keys)
      : m_params_id(params_id), m_keys(std::move(keys)) {}

  /// Id of the parameters the keys belong to.
  [[nodiscard]] std::uint64_t parameters_id() const noexcept { return m_params_id; }
  /// Whether a key for Galois element @p g exists.
  [[nodiscard]] bool has(std::uint64_t g) const noexcept { return m_keys.count(g) != 0; }
  /// The key for Galois element @p g.
  /// @throws hefl::invalid_argument if no key for g was generated (the message names g).
  [[nodiscard]] const kswitch_key& key(std::uint64_t g) const {
    const auto it = m_keys.find(g);
    if (it == m_keys.end())
      throw invalid_argument("ckks::galois_keys: no key for Galois element " + std::to_string(g) +
                             "; generate it by listing its rotation step in create_galois_keys");
    return it->second;
  }
  /// The Galois elements that have keys, ascending.
  [[nodiscard]] std::vector<std::uint64_t> elements() const {
    std::vector<std::uint64_t> out;
    for (const auto& [g, k] : m_keys) out.push_back(g);
    return out;
  }

private:
  std::uint64_t m_params_id;
  std::map<std::uint64_t, kswitch_key> m_keys;
};

namespace detail {

/// The digit decomposition of one polynomial c (level l) for key switching, hoisted. With α = 1
/// digit j is the limb [c]_{q_j}, centered into (-q_j/2, q_j/2] and lifted to every prime of
/// q_0..q_l, P, in NTT form. With α > 1 digit j is [c] modulo the product D_j of its α chain primes,
/// carried to the other primes of q_0..q_l, p_1..p_α by the fast basis conversion of Cheon, Han,
/// Kim, Kim, Song (SAC 2018, §2.2: it leaves d + u·D_j with 0 <= u < α, which the key's factor
/// [j] cancels modulo Q and P cancels modulo P; only u·D_j·e_j / P stays as noise), the ModUp of
/// Han–Ki. Computing it costs l + 1 inverse and (l + 1)^2 forward NTTs, which dominate a key switch;
/// the digits of a Galois image c(X^g) are the digits of c with their NTT values permuted, so one
/// decomposition serves any number of rotations of the same ciphertext ("hoisting": S. Halevi,
/// V. Shoup, "Faster Homomorphic Linear Transformations in HElib", CRYPTO 2018).
/// Digit values are lazy, in [0, 4q_i).
class key_switch_digits {
public:
  key_switch_digits() = default;

  /// The level l of the decomposed polynomial: ceil((l + 1)/α) digits over l + 1 + α primes.
  [[nodiscard]] std::size_t level() const noexcept { return m_level; }
  /// The ring degree N.
  [[nodiscard]] std::size_t degree() const noexcept { return m_degree; }
  /// Number of digits, ceil((l + 1)/α) (l + 1 for α = 1).
  [[nodiscard]] std::size_t digit_count() const noexcept { return (m_level + m_special) / m_special; }
  /// Number of limbs per digit, l + 1 + α (q_0..q_l and the special primes).
  [[nodiscard]] std::size_t limb_count() const noexcept { return m_level + 1 + m_special; }
  /// Whether a decomposition is held.
  [[nodiscard]] bool empty() const noexcept { return m_data.empty(); }
  /// The N NTT values of digit @p j modulo the prime of limb @p i (limb l + 1 is P).
  [[nodiscard]] const u64* digit(std::size_t j, std::size_t i) const noexcept {
    return m_data.data() + (i * digit_count() + j) * m_degree;
  }
  /// Writable digit(j, i), for decompose_for_key_switch.
  [[nodiscard]] u64* digit(std::size_t j, std::size_t i) noexcept {
    return m_data.data() + (i * digit_count() + j) * m_degree;
  }

  /// Allocates (without initializing) room for the digits of a polynomial at @p level with
  /// @p special special primes.
  void reset(std::size_t degree, std::size_t level, std::size_t special = 1) {
    m_degree = degree;
    m_level = level;
    m_special = special;
    m_data = uninitialized_words(digit_count() * limb_count() * degree);
  }

private:
  std::size_t m_level = 0;
  std::size_t m_degree = 0;
  std::size_t m_special = 1;
  word_vector m_data; // limb-major: all digits of limb 0, then limb 1, ...
};

/// The coefficient form of each limb of @p c (NTT form, level l, no special limb): one inverse NTT
/// per limb, l + 1 rows of N words in [0, q_j). The first step of every digit decomposition.
/// @throws hefl::invalid_argument if c does not fit ctx, is not in NTT form or has the special limb.
[[nodiscard]] inline word_vector key_switch_coefficients(const rns_poly& c, const context& ctx) {
  check_poly(c, ctx, "key_switch");
  if (!c.is_ntt_form() || c.has_special())
    throw invalid_argument("ckks::key_switch: input must be in NTT form without the special limb");
  const std::size_t n = c.degree(), digits = c.level() + 1, alpha = ctx.special_count();
  word_vector coeff = uninitialized_words(digits * n);
  hefl::parallel_for(digits, [&](std::size_t j) {
    u64* x = coeff.data() + j * n;
    std::copy_n(c.limb(j), n, x);
    ctx.ntt(j).inverse(x);
    // α > 1: row j becomes [x·(D/q_j)^{-1}]_{q_j} for its digit's product D, the first step of the
    // fast basis conversion (a digit of one prime keeps its row: the factor is 1).
    const std::size_t first = j / alpha * alpha, last = std::min(first + alpha, digits);
    if (last - first < 2) return;
    const modulus& q = ctx.ntt(j).mod();
    u64 factor = 1;
    for (std::size_t k = first; k < last; ++k)
      if (k != j) factor = mul_mod(factor, ctx.inverse(k, j), q);
    const u64 factor_shoup = shoup_precompute(factor, q.value());
    for (std::size_t k = 0; k < n; ++k) x[k] = mul_shoup(x[k], factor, factor_shoup, q.value());
  });
  return coeff;
}

/// Digit j of key switching modulo the prime of limb @p i (limb l + 1 is P), in NTT form with lazy
/// values in [0, 4q_i): the coefficient-form limb @p x of c modulo q_j, centered into (-q_j/2, q_j/2]
/// and lifted to q_i. For i == j the digit is c's own limb @p c_limb (already the NTT modulo q_j).
inline void key_switch_digit(const u64* x, const u64* c_limb, std::size_t j, std::size_t i, std::size_t level,
                             const context& ctx, u64* out) {
  const std::size_t n = ctx.poly_degree();
  if (i == j) {
    std::copy_n(c_limb, n, out);
    return;
  }
  const std::size_t index = i <= level ? i : ctx.first_special_index() + (i - level - 1);
  const ntt_tables& tables = ctx.ntt(index);
  const modulus& q = tables.mod();
  const u64 qi = q.value();
  // The centered representative: a centered digit has a quarter of the second moment of one in
  // [0, q_j), which halves the key-switching noise.
  const u64 qj = ctx.primes()[j], half_j = qj >> 1;
  if (half_j < qi) {
    // |centered digit| <= q_j/2 < q_i: no reduction; a negative digit x - q_j becomes x + (q_i - q_j)
    // (computed modulo 2^64, exact since the result lies in [0, q_i)).
    eltwise_lift_centered(out, x, half_j, qi - qj, n);
  } else {
    for (std::size_t k = 0; k < n; ++k) out[k] = x[k] > half_j ? neg_mod(q.reduce(qj - x[k]), qi) : q.reduce(x[k]);
  }
  tables.forward_lazy(out);
}

/// Digit @p j of key switching (hybrid, α = ctx.special_count() chain primes per digit) modulo the
/// prime of limb @p i (limbs l + 1.. are the special primes), in NTT form with lazy values in
/// [0, 4q_i). @p coeff holds the rows of key_switch_coefficients(c). A digit of one prime is
/// key_switch_digit's centered lift (α = 1 is exactly that); for a larger digit, limbs of its own
/// primes are c's limbs and the others its fast basis conversion sum_k row_k·(D_j/q_k) mod q_i.
inline void key_switch_digit_hybrid(const u64* coeff, const rns_poly& c, std::size_t j, std::size_t i,
                                    std::size_t level, const context& ctx, u64* out) {
  const std::size_t n = ctx.poly_degree(), alpha = ctx.special_count();
  const std::size_t first = j * alpha, last = std::min(first + alpha, level + 1);
  if (last - first == 1) {
    key_switch_digit(coeff + first * n, c.limb(first), first, i, level, ctx, out);
    return;
  }
  if (i >= first && i < last) {
    std::copy_n(c.limb(i), n, out);
    return;
  }
  const std::size_t index = i <= level ? i : ctx.first_special_index() + (i - level - 1);
  const ntt_tables& tables = ctx.ntt(index);
  const modulus& q = tables.mod();
  // (D_j / q_k) mod q_i for each prime q_k of the digit (at most 32: parameters refuses more).
  std::array<u64, 32> w{}, w_shoup{};
  std::array<const u64*, 32> rows{};
  u64 row_bound = 0;
  for (std::size_t k = first; k < last; ++k) {
    u64 v = 1;
    for (std::size_t m = first; m < last; ++m)
      if (m != k) v = mul_mod(v, q.reduce(ctx.primes()[m]), q);
    w[k - first] = v;
    w_shoup[k - first] = shoup_precompute(v, q.value());
    rows[k - first] = coeff + k * n;
    row_bound = std::max(row_bound, ctx.primes()[k]);
  }
  eltwise_weighted_sum(out, rows.data(), w.data(), w_shoup.data(), last - first, n, q.value(), row_bound);
  tables.forward_lazy(out);
}

/// Decomposes @p c (NTT form, level l, no special limb) into the digits of key switching.
/// Parallel over (digit, limb) pairs; the result does not depend on the thread count.
/// @throws hefl::invalid_argument if c does not fit ctx, is not in NTT form or has the special limb.
[[nodiscard]] inline key_switch_digits decompose_for_key_switch(const rns_poly& c, const context& ctx) {
  const word_vector coeff = key_switch_coefficients(c, ctx);
  const std::size_t n = c.degree(), level = c.level();
  key_switch_digits d;
  d.reset(n, level, ctx.special_count());
  const std::size_t digits = d.digit_count(), limbs = d.limb_count();
  hefl::parallel_for(digits * limbs, [&](std::size_t item) {
    const std::size_t i = item / digits, j = item % digits;
    key_switch_digit_hybrid(coeff.data(), c, j, i, level, ctx, d.digit(j, i));
  });
  return d;
}

/// One term of a key-switching sum: a key, and the NTT permutation of a Galois automorphism to
/// apply to the digits first (nullptr: none).
struct key_switch_term {
  const kswitch_key* key = nullptr;
  const std::uint32_t* permutation = nullptr;
};

/// One chunk [begin, begin + len) of limb @p i of the key-switching inner products on the IFMA
/// kernel (the prime of the limb is below 2^50): per block of coefficients, one eltwise_dot_product2
/// call over every (term, digit) pair, with the permuted digits of a rotation gathered into a buffer
/// first. digit_of(j) gives digit j modulo this prime; @p src is the limb of the keys that holds it.
/// The residues equal the portable loops'.
template <class DigitOf>
void key_switch_limb_ifma(DigitOf&& digit_of, std::size_t digits, std::span<const key_switch_term> terms,
                          std::size_t src, std::size_t begin, std::size_t len, const modulus& q, u64* y0, u64* y1) {
  const std::size_t pairs = terms.size() * digits;
  std::size_t permuted = 0;
  for (const key_switch_term& t : terms) permuted += t.permutation != nullptr ? 1 : 0;
  // Blocks small enough that the gathered digits of a few rotations stay in L2; without
  // rotations one call covers the chunk (dot_product2 blocks it itself).
  const std::size_t block = permuted == 0 ? len : std::size_t{256};
  std::vector<const u64*> xs(pairs), bs(pairs), as(pairs);
  word_vector gathered = uninitialized_words(permuted * digits * std::min(block, len));
  for (std::size_t b0 = begin; b0 < begin + len; b0 += block) {
    const std::size_t blen = std::min(block, begin + len - b0);
    std::size_t pair = 0;
    u64* scratch = gathered.data();
    for (const key_switch_term& t : terms) {
      for (std::size_t j = 0; j < digits; ++j, ++pair) {
        const u64* x = digit_of(j);
        if (t.permutation == nullptr) {
          xs[pair] = x + b0;
        } else {
          // The digits of c(X^g) are the digits of c with their NTT values permuted.
          const std::uint32_t* perm = t.permutation + b0;
          for (std::size_t k = 0; k < blen; ++k) scratch[k] = x[perm[k]];
          xs[pair] = scratch;
          scratch += blen;
        }
        bs[pair] = t.key->b(j).limb(src) + b0;
        as[pair] = t.key->a(j).limb(src) + b0;
      }
    }
    eltwise_dot_product2(y0 + b0, y1 + b0, xs.data(), bs.data(), as.data(), pairs, blen, q);
  }
}

/// One chunk [begin, begin + len) of limb @p i of the key-switching inner products: y0 = sum over
/// terms and digits of perm(digit_j) · b_j, y1 the same with a_j, modulo the limb's prime q.
/// digit_of(j) gives digit j modulo q (lazy, in [0, 4q)); @p src is the limb of the keys for q.
/// Products accumulate in 128 bits and are reduced once, or every few terms when the primes are
/// large enough that more terms could overflow; primes below 2^50 take the IFMA kernel when it is
/// on (key_switch_limb_ifma), with the same residues.
template <class DigitOf>
void key_switch_limb(DigitOf&& digit_of, std::size_t digits, std::span<const key_switch_term> terms, std::size_t src,
                     std::size_t begin, std::size_t len, const modulus& q, u64* y0_limb, u64* y1_limb) {
  const u64 qv = q.value();
  if (eltwise_uses_ifma(qv)) {
    key_switch_limb_ifma(digit_of, digits, terms, src, begin, len, q, y0_limb, y1_limb);
    return;
  }
  // After a fold the sums are below q; each product is below 4q·q (lazy digits): fold before
  // q + T·4q^2 could pass 2^128.
  const u128 room = (~u128{0} - qv) / (4 * static_cast<u128>(qv) * qv);
  const std::size_t fold_every = room > 4096 ? 4096 : static_cast<std::size_t>(room);
  // Blocks of coefficients whose 128-bit sums stay in L1; two digits per pass halve the traffic
  // to those sums (measured fastest among 1, 2 and 4 digits and blocks of 128 to 2048).
  constexpr std::size_t block = 512;
  u128 acc0[block], acc1[block];
  u64 gathered0[block], gathered1[block];
  const auto fold = [&](std::size_t blen) {
    for (std::size_t k = 0; k < blen; ++k) {
      acc0[k] = q.reduce(acc0[k]);
      acc1[k] = q.reduce(acc1[k]);
    }
  };
  for (std::size_t b0 = begin; b0 < begin + len; b0 += block) {
    const std::size_t blen = std::min(block, begin + len - b0);
    std::fill_n(acc0, blen, u128{0});
    std::fill_n(acc1, blen, u128{0});
    std::size_t since_fold = 0;
    for (const key_switch_term& t : terms) {
      // The digits of c(X^g) are the digits of c with their NTT values permuted.
      const auto digit_block = [&](std::size_t j, u64* gathered) -> const u64* {
        const u64* x = digit_of(j);
        if (t.permutation == nullptr) return x + b0;
        const std::uint32_t* perm = t.permutation + b0;
        for (std::size_t k = 0; k < blen; ++k) gathered[k] = x[perm[k]];
        return gathered;
      };
      std::size_t j = 0;
      for (; j + 1 < digits; j += 2) {
        if (since_fold + 2 > fold_every) {
          fold(blen);
          since_fold = 0;
        }
        const u64* x0 = digit_block(j, gathered0);
        const u64* x1 = digit_block(j + 1, gathered1);
        const u64* b0j = t.key->b(j).limb(src) + b0;
        const u64* a0j = t.key->a(j).limb(src) + b0;
        const u64* b1j = t.key->b(j + 1).limb(src) + b0;
        const u64* a1j = t.key->a(j + 1).limb(src) + b0;
        for (std::size_t k = 0; k < blen; ++k) {
          acc0[k] += static_cast<u128>(x0[k]) * b0j[k] + static_cast<u128>(x1[k]) * b1j[k];
          acc1[k] += static_cast<u128>(x0[k]) * a0j[k] + static_cast<u128>(x1[k]) * a1j[k];
        }
        since_fold += 2;
      }
      if (j < digits) {
        if (since_fold + 1 > fold_every) {
          fold(blen);
          since_fold = 0;
        }
        const u64* x0 = digit_block(j, gathered0);
        const u64* bj = t.key->b(j).limb(src) + b0;
        const u64* aj = t.key->a(j).limb(src) + b0;
        for (std::size_t k = 0; k < blen; ++k) {
          acc0[k] += static_cast<u128>(x0[k]) * bj[k];
          acc1[k] += static_cast<u128>(x0[k]) * aj[k];
        }
        since_fold += 1;
      }
    }
    u64* y0 = y0_limb + b0;
    u64* y1 = y1_limb + b0;
    for (std::size_t k = 0; k < blen; ++k) {
      y0[k] = q.reduce(acc0[k]);
      y1[k] = q.reduce(acc1[k]);
    }
  }
}

/// Checks the keys of @p terms against ctx and shapes (ext0, ext1) for the inner products at @p level.
/// @throws hefl::invalid_argument if a key does not belong to ctx's parameters or terms is empty.
inline void prepare_key_switch_outputs(std::span<const key_switch_term> terms, std::size_t n, std::size_t level,
                                       const context& ctx, rns_poly& ext0, rns_poly& ext1) {
  if (terms.empty()) throw invalid_argument("ckks::key_switch: nothing to switch (no digits or no keys)");
  const std::size_t alpha = ctx.special_count();
  const std::size_t dnum = (ctx.prime_count() - 1) / alpha; // ceil((L + 1)/α) with L + 1 = count - α
  for (const key_switch_term& t : terms)
    if (t.key == nullptr || t.key->digit_count() != dnum || t.key->special_count() != alpha ||
        t.key->b(0).degree() != n)
      throw invalid_argument("ckks::key_switch: the key does not belong to these parameters (" +
                             std::to_string(dnum) + " digits and " + std::to_string(alpha) +
                             " special primes expected)");
  if (ext0.degree() != n || ext0.level() != level || ext0.special_count() != alpha)
    ext0 = rns_poly(n, level, alpha, true, uninitialized);
  if (ext1.degree() != n || ext1.level() != level || ext1.special_count() != alpha)
    ext1 = rns_poly(n, level, alpha, true, uninitialized);
  ext0.set_ntt_form(true);
  ext1.set_ntt_form(true);
}

/// (ext0, ext1) = sum over @p terms of sum_j perm(digit_j) · (b_j, a_j): the key-switching inner
/// products over q_0..q_l, P (NTT form, with the special limb), before the division by P. Summing
/// several terms before one mod-down is the "double hoisting" of J.-P. Bossuat, C. Mouchet,
/// J. Troncoso-Pastoriza, J.-P. Hubaux, "Efficient Bootstrapping for Approximate Homomorphic
/// Encryption with Non-Sparse Keys", EUROCRYPT 2021. See key_switch_limb for the arithmetic.
/// @throws hefl::invalid_argument if a key does not belong to ctx's parameters or terms is empty.
inline void key_switch_inner_product(const key_switch_digits& d, std::span<const key_switch_term> terms,
                                     const context& ctx, rns_poly& ext0, rns_poly& ext1) {
  if (d.empty()) throw invalid_argument("ckks::key_switch: nothing to switch (no digits or no keys)");
  const std::size_t n = d.degree(), level = d.level(), digits = d.digit_count(), limbs = d.limb_count();
  prepare_key_switch_outputs(terms, n, level, ctx, ext0, ext1);
  // The key's special limbs follow its L + 1 chain limbs; limb l + 1 + k here is special prime k.
  const std::size_t key_special = terms[0].key->b(0).limb_count() - ctx.special_count();
  // Work items: (limb, chunk of coefficients), so that two threads share even a few limbs evenly.
  const std::size_t chunk = std::min<std::size_t>(n, 2048);
  const std::size_t chunks = n / chunk;
  hefl::parallel_for(limbs * chunks, [&](std::size_t item) {
    const std::size_t i = item / chunks;
    const std::size_t begin = (item % chunks) * chunk;
    const std::size_t index = i <= level ? i : ctx.first_special_index() + (i - level - 1);
    const std::size_t src = i <= level ? i : key_special + (i - level - 1);
    key_switch_limb([&](std::size_t j) { return d.digit(j, i); }, digits, terms, src, begin, chunk,
                    ctx.ntt(index).mod(), ext0.limb(i), ext1.limb(i));
  });
}

/// The ModDown of hybrid key switching for α = ctx.special_count() > 1 special limbs: each of
/// @p polys (NTT form, level l, α special limbs, reduced residues) becomes round(x/P) - u with
/// 0 <= u < α, at level l without special limbs. [x + floor(P/2)]_P is carried from the special
/// primes to each q_i by the fast basis conversion (Cheon, Han, Kim, Kim, Song, SAC 2018, §2.2), which
/// adds u·P; then (x + floor(P/2) - conversion)·P^{-1} mod q_i. Costs α inverse and l + 1 forward
/// NTTs per polynomial instead of about α·(l + 1) for α exact divisions.
/// @throws hefl::invalid_argument if a polynomial is not in NTT form with α special limbs, or the
///         shapes differ.
inline void mod_down_special_inplace(std::span<rns_poly* const> polys, const context& ctx) {
  if (polys.empty()) return;
  const std::size_t alpha = ctx.special_count(), first_special = ctx.first_special_index();
  const rns_poly& first = *polys[0];
  for (const rns_poly* p : polys) {
    check_same_shape(first, *p, ctx, "mod_down");
    if (!p->is_ntt_form() || p->special_count() != alpha)
      throw invalid_argument("ckks::mod_down: needs NTT form with all " + std::to_string(alpha) + " special limbs");
  }
  const std::size_t n = first.degree(), level = first.level(), chain = level + 1, count = polys.size();
  // Per special prime p_k: floor(P/2) mod p_k = (p_k - 1)/2 (P is odd and 0 mod p_k), (P/p_k)^{-1}.
  std::vector<u64> half_k(alpha), hat_inv(alpha), hat_inv_shoup(alpha);
  for (std::size_t k = 0; k < alpha; ++k) {
    const modulus& pk = ctx.ntt(first_special + k).mod();
    half_k[k] = (pk.value() - 1) / 2;
    u64 v = 1;
    for (std::size_t m = 0; m < alpha; ++m)
      if (m != k) v = mul_mod(v, ctx.inverse(first_special + m, first_special + k), pk);
    hat_inv[k] = v;
    hat_inv_shoup[k] = shoup_precompute(v, pk.value());
  }
  // Per chain prime q_i: (P/p_k) mod q_i, floor(P/2) mod q_i = (P - 1)/2 mod q_i, and P^{-1} mod q_i.
  std::vector<u64> hat(chain * alpha), hat_shoup(chain * alpha), half_i(chain), p_inv(chain), p_inv_shoup(chain);
  u64 special_bound = 0;
  for (std::size_t k = 0; k < alpha; ++k) special_bound = std::max(special_bound, ctx.primes()[first_special + k]);
  for (std::size_t i = 0; i < chain; ++i) {
    const modulus& q = ctx.ntt(i).mod();
    u64 product = 1, inverse = 1;
    for (std::size_t k = 0; k < alpha; ++k) {
      product = mul_mod(product, q.reduce(ctx.primes()[first_special + k]), q);
      inverse = mul_mod(inverse, ctx.inverse(first_special + k, i), q);
      u64 v = 1;
      for (std::size_t m = 0; m < alpha; ++m)
        if (m != k) v = mul_mod(v, q.reduce(ctx.primes()[first_special + m]), q);
      hat[i * alpha + k] = v;
      hat_shoup[i * alpha + k] = shoup_precompute(v, q.value());
    }
    const u64 inv2 = (q.value() + 1) / 2;
    half_i[i] = mul_mod(sub_mod(product, 1, q.value()), inv2, q);
    p_inv[i] = inverse;
    p_inv_shoup[i] = shoup_precompute(inverse, q.value());
  }
  // v_k = [(x mod p_k + floor(P/2))·(P/p_k)^{-1}]_{p_k} in coefficient form, one row per (poly, k).
  word_vector rows = uninitialized_words(count * alpha * n);
  hefl::parallel_for(count * alpha, [&](std::size_t item) {
    const std::size_t c = item / alpha, k = item % alpha;
    const ntt_tables& tables = ctx.ntt(first_special + k);
    const u64 pv = tables.prime();
    u64* t = rows.data() + item * n;
    std::copy_n(polys[c]->limb(chain + k), n, t);
    tables.inverse(t);
    for (std::size_t j = 0; j < n; ++j) t[j] = mul_shoup(add_mod(t[j], half_k[k], pv), hat_inv[k], hat_inv_shoup[k], pv);
  });
  std::vector<rns_poly> out(count);
  for (auto& o : out) o = rns_poly(n, level, 0, true, uninitialized);
  hefl::parallel_for(count * chain, [&](std::size_t item) {
    const std::size_t c = item / chain, i = item % chain;
    const ntt_tables& tables = ctx.ntt(i);
    const modulus& q = tables.mod();
    const u64 qv = q.value();
    word_vector work = uninitialized_words(n);
    u64* t = work.data();
    std::array<const u64*, 32> v{};
    for (std::size_t k = 0; k < alpha; ++k) v[k] = rows.data() + (c * alpha + k) * n;
    eltwise_weighted_sum(t, v.data(), hat.data() + i * alpha, hat_shoup.data() + i * alpha, alpha, n, qv,
                         special_bound);
    eltwise_subtract_constant(t, t, half_i[i], n, qv);
    tables.forward_lazy(t); // [0, 4q)
    eltwise_subtract_lazy_multiply_constant(out[c].limb(i), polys[c]->limb(i), t, p_inv[i], p_inv_shoup[i], n, qv);
  });
  for (std::size_t c = 0; c < count; ++c) *polys[c] = std::move(out[c]);
}

/// Divides both outputs of key_switch_inner_product by P with rounding (the mod-down), leaving them
/// at level l without special limbs: with one special prime an exact rounded division, with α > 1
/// mod_down_special_inplace (off by less than α).
/// @throws hefl::invalid_argument if they have no special limb or differ in shape.
inline void key_switch_mod_down(rns_poly& ext0, rns_poly& ext1, const context& ctx) {
  if (!ext0.has_special() || !ext1.has_special())
    throw invalid_argument("ckks::mod_down: the polynomial has no special limb");
  rns_poly* both[2] = {&ext0, &ext1};
  if (ext0.special_count() > 1) {
    mod_down_special_inplace(std::span<rns_poly* const>(both), ctx);
    return;
  }
  divide_round_last_inplace(std::span<rns_poly* const>(both), ctx);
}

/// key_switch_inner_product over the digits of @p c without storing them: per limb i (in parallel),
/// the l + 1 digits modulo q_i are made in a buffer of (l + 1)·N words and consumed by every term
/// while it is hot in cache, instead of writing all (l + 1)·(l + 2)·N words first. The digits are
/// those of decompose_for_key_switch, so the residues are the same as key_switch_inner_product's on
/// them.
/// @throws hefl::invalid_argument if c or a key do not fit ctx, or terms is empty.
inline void key_switch_inner_product_fused(const rns_poly& c, std::span<const key_switch_term> terms,
                                           const context& ctx, rns_poly& ext0, rns_poly& ext1) {
  const word_vector coeff = key_switch_coefficients(c, ctx);
  const std::size_t alpha = ctx.special_count();
  const std::size_t n = c.degree(), level = c.level(), digits = (level + alpha) / alpha, limbs = level + 1 + alpha;
  prepare_key_switch_outputs(terms, n, level, ctx, ext0, ext1);
  const std::size_t key_special = terms[0].key->b(0).limb_count() - alpha;
  hefl::parallel_for(limbs, [&](std::size_t i) {
    const std::size_t index = i <= level ? i : ctx.first_special_index() + (i - level - 1);
    const std::size_t src = i <= level ? i : key_special + (i - level - 1);
    word_vector buffer = uninitialized_words(digits * n);
    for (std::size_t j = 0; j < digits; ++j)
      key_switch_digit_hybrid(coeff.data(), c, j, i, level, ctx, buffer.data() + j * n);
    key_switch_limb([&](std::size_t j) -> const u64* { return buffer.data() + j * n; }, digits, terms, src, 0, n,
                    ctx.ntt(index).mod(), ext0.limb(i), ext1.limb(i));
  });
}

/// key_switch_inner_product_fused for one key and no automorphism.
/// @throws hefl::invalid_argument if c or the key do not fit ctx.
inline void key_switch_inner_product_fused(const rns_poly& c, const kswitch_key& key, const context& ctx,
                                           rns_poly& ext0, rns_poly& ext1) {
  const key_switch_term term{&key, nullptr};
  key_switch_inner_product_fused(c, std::span<const key_switch_term>(&term, 1), ctx, ext0, ext1);
}

/// Key switching (hybrid: ceil((l + 1)/α) digits at level l, see key_switch_digits): for @p c (NTT form, level l, no special limb) that
/// multiplies s', writes (u0, u1) at level l, NTT form, with u0 + u1·s ~ c·s'. Digit j is the limb
/// [c]_{q_j}, centered, lifted to every prime of q_0..q_l, P; the sum of digit times key is divided
/// by P with rounding, which leaves the noise sum_j [c]_{q_j}·e_j / P, small when P is at least as
/// large as the q_j.
/// @throws hefl::invalid_argument if c or the key do not fit ctx.
inline void key_switch(const rns_poly& c, const kswitch_key& key, const context& ctx, rns_poly& u0, rns_poly& u1) {
  key_switch_inner_product_fused(c, key, ctx, u0, u1);
  key_switch_mod_down(u0, u1, ctx);
}

} // namespace detail

/// A fresh common random polynomial for @p params: uniform, NTT form, over all primes. Parties that
/// draw it from identically seeded sources obtain the same polynomial.
/// @throws whatever the random source throws.
[[nodiscard]] inline detail::rns_poly sample_common_random_polynomial(const parameters& params, random_source& rng) {
  detail::rns_poly a(params.poly_degree(), params.max_level(), params.special_prime_count());
  detail::random_stream rs(rng);
  detail::sample_uniform(a, rs, params.context());
  return a;
}

/// Generates keys for one parameter set from one random source.
class key_generator {
public:
  /// Samples a fresh ternary secret key from @p rng. Keeps a reference to rng, which must outlive
  /// the generator.
  /// @throws whatever the random source throws.
  key_generator(const parameters& params, random_source& rng)
      : m_params(params), m_rng(rng), m_secret(params, sample_secret(params, rng)) {}

  /// Uses an existing secret key (e.g. one party's share).
  /// @throws hefl::invalid_argument if the key belongs to other parameters.
  key_generator(const parameters& params, const secret_key& sk, random_source& rng)
      : m_params(params), m_rng(rng), m_secret(checked(params, sk)) {}

  /// The secret key.
  [[nodiscard]] const secret_key& secret() const noexcept { return m_secret; }

  /// A public key with a fresh common random polynomial.
  /// @throws whatever the random source throws.
  [[nodiscard]] public_key create_public_key() {
    return create_public_key(sample_common_random_polynomial(m_params, m_rng));
  }

  /// The public key (or one party's share of a collective key) b = -a·s + e for a given common
  /// random polynomial @p a (NTT form, all primes).
  /// @throws hefl::invalid_argument if a does not have that shape.
  [[nodiscard]] public_key create_public_key(detail::rns_poly a) {
    if (a.degree() != m_params.poly_degree() || a.level() != m_params.max_level() ||
        a.special_count() != m_params.special_prime_count() || !a.is_ntt_form())
      throw invalid_argument("ckks::key_generator: the common random polynomial must be in NTT form over all " +
                             std::to_string(m_params.primes().size()) + " primes");
    detail::rns_poly b = error_minus_a_s(a);
    return public_key(m_params, std::move(b), std::move(a));
  }

  /// The relinearization key (switches s^2 to s).
  /// @throws whatever the random source throws.
  [[nodiscard]] relin_keys create_relin_keys() {
    detail::rns_poly s2 = m_secret.poly();
    detail::multiply_inplace(s2, m_secret.poly(), m_params.context());
    relin_keys keys(create_kswitch_key(s2));
    detail::secure_wipe(s2.data());
    return keys;
  }

  /// Galois keys for rotating the slots left by each of @p steps (negative: right), plus complex
  /// conjugation if @p conjugation. Only the keys asked for are generated: each costs L + 1
  /// polynomial pairs over all primes.
  /// @throws hefl::invalid_argument if a step is 0 modulo N/2 (no rotation).
  [[nodiscard]] galois_keys create_galois_keys(std::span<const long long> steps, bool conjugation = false) {
    const std::size_t n = m_params.poly_degree();
    std::vector<std::uint64_t> elements;
    for (const long long step : steps) {
      if (step % static_cast<long long>(n / 2) == 0)
        throw invalid_argument("ckks::key_generator: rotation step " + std::to_string(step) +
                               " is a multiple of the slot count " + std::to_string(n / 2) + " (no rotation)");
      elements.push_back(galois_element_for_step(step, n));
    }
    if (conjugation) elements.push_back(conjugation_galois_element(n));
    return create_galois_keys_for_elements(elements);
  }

  /// Galois keys for rotations by every power of two below N/2, in both directions (N/4 and -N/4
  /// are the same rotation, so 2·log2(N/2) - 1 keys), and the conjugation key (as SEAL's and
  /// OpenFHE's default key sets): 2·log2(N/2) keys in all. They cover every rotation (composed from
  /// signed powers of two), sum_slots and evaluator::conjugate.
  /// @throws whatever the random source throws.
  [[nodiscard]] galois_keys create_galois_keys() {
    std::vector<long long> steps;
    for (long long s = 1; s < static_cast<long long>(m_params.poly_degree() / 2); s *= 2) {
      steps.push_back(s);
      steps.push_back(-s);
    }
    return create_galois_keys(steps, /*conjugation=*/true);
  }

  /// Galois keys for explicit Galois elements (odd, below 2N).
  /// @throws hefl::invalid_argument if an element is even or not below 2N.
  [[nodiscard]] galois_keys create_galois_keys_for_elements(std::span<const std::uint64_t> elements) {
    const auto& ctx = m_params.context();
    std::map<std::uint64_t, kswitch_key> keys;
    detail::rns_poly rotated;
    for (const std::uint64_t g : elements) {
      if (keys.count(g) != 0) continue;
      detail::apply_galois(m_secret.poly(), g, rotated, ctx);
      keys.emplace(g, create_kswitch_key(rotated));
    }
    detail::secure_wipe(rotated.data());
    return galois_keys(m_params.id(), std::move(keys));
  }

  /// A seeded key-switching key from @p target (NTT form, all primes) to this generator's secret: a
  /// fresh 256-bit seed from the generator's random source expands to the a_j.
  /// @throws hefl::invalid_argument if target does not have that shape; whatever the source throws.
  [[nodiscard]] kswitch_key create_kswitch_key(const detail::rns_poly& target) {
    const auto& ctx = m_params.context();
    if (target.degree() != m_params.poly_degree() || target.level() != m_params.max_level() ||
        target.special_count() != m_params.special_prime_count() || !target.is_ntt_form())
      throw invalid_argument("ckks::key_generator: the key-switching target must be in NTT form over all primes");
    const std::size_t digits = m_params.digit_count(), alpha = m_params.special_prime_count();
    const std::size_t chain = m_params.max_level() + 1;
    kswitch_seed seed{};
    m_rng.fill(seed);
    std::vector<detail::rns_poly> as = detail::expand_kswitch_uniform(m_params, seed);
    std::vector<detail::rns_poly> bs;
    bs.reserve(digits);
    for (std::size_t j = 0; j < digits; ++j) {
      detail::rns_poly b = error_minus_a_s(as[j]);
      // P·s' on the digit's primes (P mod q_i, the product of the special primes).
      for (std::size_t i = j * alpha; i < std::min((j + 1) * alpha, chain); ++i) {
        const detail::modulus& qi = ctx.ntt(i).mod();
        detail::u64 factor = 1;
        for (const detail::u64 p : m_params.key_switch_primes()) factor = detail::mul_mod(factor, qi.reduce(p), qi);
        const detail::u64 factor_shoup = detail::shoup_precompute(factor, qi.value());
        detail::u64* y = b.limb(i);
        const detail::u64* t = target.limb(i);
        for (std::size_t k = 0; k < b.degree(); ++k)
          y[k] = detail::add_mod(y[k], detail::mul_shoup(t[k], factor, factor_shoup, qi.value()), qi.value());
      }
      bs.push_back(std::move(b));
    }
    return kswitch_key(m_params, std::move(bs), std::move(as), seed);
  }

private:
  /// e - a·s for a fresh error e (NTT form, all primes): the b of a public key or key-switching pair.
  detail::rns_poly error_minus_a_s(const detail::rns_poly& a) {
    const auto& ctx = m_params.context();
    detail::rns_poly b(m_params.poly_degree(), m_params.max_level(), m_params.special_prime_count());
    {
      detail::random_stream rs(m_rng);
      detail::add_gaussian_error(b, rs, ctx);
    }
    detail::to_ntt(b, ctx);
    for (std::size_t i = 0; i < b.limb_count(); ++i) {
      const detail::modulus& q = ctx.ntt(b.prime_index(i, ctx)).mod();
      detail::u64* y = b.limb(i);
      const detail::u64* x = a.limb(i);
      const detail::u64* s = m_secret.poly().limb(i);
      for (std::size_t j = 0; j < b.degree(); ++j) y[j] = detail::sub_mod(y[j], detail::mul_mod(x[j], s[j], q), q.value());
    }
    return b;
  }

  static detail::rns_poly sample_secret(const parameters& params, random_source& rng) {
    detail::rns_poly s(params.poly_degree(), params.max_level(), params.special_prime_count());
    {
      detail::random_stream rs(rng);
      detail::sample_ternary(s, rs, params.context());
    }
    detail::to_ntt(s, params.context());
    return s;
  }

  static const secret_key& checked(const parameters& params, const secret_key& sk) {
    if (sk.parameters_id() != params.id())
      throw invalid_argument("ckks::key_generator: the secret key belongs to other parameters");
    return sk;
  }

  parameters m_params;
  random_source& m_rng;
  secret_key m_secret;
};

} // namespace hefl::he::ckks
