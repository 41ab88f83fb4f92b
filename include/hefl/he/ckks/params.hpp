#pragma once
/// @file
/// ckks::parameters: ring degree, RNS modulus chain and default scale of an RNS-CKKS instance
/// (J. H. Cheon, K. Han, A. Kim, M. Kim, Y. Song, "A Full RNS Variant of Approximate Homomorphic
/// Encryption", SAC 2018), checked against the HomomorphicEncryption.org security standard
/// (M. Albrecht et al., "Homomorphic Encryption Security Standard", 2018, Table 1, classical 128-bit,
/// ternary secret).

#include <hefl/core/error.hpp>
#include <hefl/core/serialization.hpp>
#include <hefl/he/ckks/detail/modarith.hpp>
#include <hefl/he/ckks/detail/ntt.hpp>
#include <hefl/he/ckks/detail/primes.hpp>

#include <atomic>
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace hefl::he::ckks {

/// The security requirement a parameter set is checked against.
enum class security {
  /// 128-bit classical security for ternary secrets (HomomorphicEncryption.org standard). The default.
  classical_128,
  /// No check at all: for tests and toy examples only. Data encrypted this way is not protected.
  none_i_know_this_is_insecure,
};

/// Whether the special (key-switching) prime may be smaller than a chain prime.
enum class special_prime_size {
  /// The default: the special prime must have at least as many bits as the largest chain prime.
  /// Key switching divides its noise by P, so a smaller P amplifies it instead (a 30-bit P under
  /// 40-bit chain primes gave a rotation error of 7.8 on values of magnitude 1).
  at_least_largest_chain_prime,
  /// No check: for experiments that study the effect. Key switching may then return garbage.
  allow_smaller_i_know_key_switching_loses_precision,
};

/// The number α of special primes P = p_1·...·p_α that key switching extends the modulus by: the
/// last α primes of a parameter set. Key-switching keys then have dnum = ceil((L + 1)/α) digits,
/// each covering α consecutive chain primes (the hybrid key switching of K. Han, D. Ki, "Better
/// Bootstrapping for Approximate Homomorphic Encryption", CT-RSA 2020, §3; SEAL's and OpenFHE's
/// "decomposition number"). α = 1 (one digit per chain prime) is the default and the layout of
/// every earlier release. A larger α makes keys smaller (dnum·(L + 1 + α) limbs per polynomial
/// instead of (L + 1)·(L + 2)) and key switching cheaper, but the α special primes count in log2(QP)
/// against the security bound, so at a fixed N the chain must be shorter. See docs/ckks.md.
struct special_primes {
  std::size_t count = 1;
};

/// Version of the binary formats of CKKS objects; part of every parameter id. Version 2 replaced the
/// word-wise FNV checksum of version 1 by CRC-64/XZ (serial::checksum).
inline constexpr std::uint32_t format_version = 2;

/// Smallest ring degree accepted with security::classical_128 (and the smallest the standard lists).
inline constexpr std::size_t min_secure_poly_degree = 4096;
/// Largest ring degree accepted.
inline constexpr std::size_t max_poly_degree = 65536;
/// Smallest ring degree accepted with security::none_i_know_this_is_insecure.
inline constexpr std::size_t min_poly_degree = 8;

/// The largest log2(PQ), in bits, that gives 128-bit classical security for ternary secrets at ring
/// degree @p poly_degree (HomomorphicEncryption.org standard, Table 1); 0 if the degree is not listed.
[[nodiscard]] constexpr int max_secure_modulus_bits(std::size_t poly_degree) noexcept {
  switch (poly_degree) {
  case 4096: return 109;
  case 8192: return 218;
  case 16384: return 438;
  case 32768: return 881;
  case 65536: return 1761;
  default: return 0;
  }
}

namespace detail {

/// The parameter id: FNV-1a over the format version, N, the primes and log2 of the scale.
/// With @p special_primes above 1 the count is hashed too (the same primes split differently are
/// another parameter set); with 1 the id is that of every earlier release.
[[nodiscard]] inline std::uint64_t parameters_id(std::size_t poly_degree, std::span<const u64> primes,
                                                 double log2_scale, std::size_t special_primes = 1) {
  serial::writer w;
  w.put_bytes("hefl.ckks.params");
  w.put(format_version);
  w.put(static_cast<std::uint64_t>(poly_degree));
  w.put(static_cast<std::uint64_t>(primes.size()));
  w.put_span<std::uint64_t>(primes);
  w.put(log2_scale);
  if (special_primes > 1) {
    w.put_bytes("hybrid");
    w.put(static_cast<std::uint64_t>(special_primes));
  }
  return serial::fnv1a(w.bytes());
}

/// How many detail::context objects (NTT tables) this process has built: lets tests check that
/// untrusted input is refused before the expensive precomputation.
[[nodiscard]] inline std::atomic<std::uint64_t>& context_build_count() noexcept {
  static std::atomic<std::uint64_t> count{0};
  return count;
}

/// Bit length of the product of @p primes, computed exactly in multi-word arithmetic.
[[nodiscard]] inline int product_bit_count(std::span<const u64> primes) {
  std::vector<u64> words{1};
  for (const u64 p : primes) {
    u64 carry = 0;
    for (u64& w : words) {
      const u128 t = static_cast<u128>(w) * p + carry;
      w = static_cast<u64>(t);
      carry = static_cast<u64>(t >> 64);
    }
    if (carry != 0) words.push_back(carry);
  }
  return static_cast<int>(64 * (words.size() - 1) + static_cast<std::size_t>(std::bit_width(words.back())));
}

/// The immutable precomputation behind a parameter set: NTT tables per prime and the pairwise
/// inverses q_j^{-1} mod q_i used by rescaling, key-switching mod-down and CRT composition. Shared
/// between copies of ckks::parameters through a shared_ptr, so copies are cheap.
class context {
public:
  /// Builds the tables for @p primes (q_0..q_L, then the special prime) and ring degree @p poly_degree.
  /// @throws hefl::invalid_argument if a prime is unsuitable (see ntt_tables).
  /// The last @p special_primes primes are the special ones.
  context(std::size_t poly_degree, std::vector<u64> primes, std::size_t special_primes = 1)
      : m_poly_degree(poly_degree), m_primes(std::move(primes)), m_special_count(special_primes) {
    context_build_count().fetch_add(1, std::memory_order_relaxed);
    const std::size_t k = m_primes.size();
    m_ntt.reserve(k);
    for (const u64 q : m_primes) m_ntt.emplace_back(q, poly_degree);
    m_inverse.assign(k * k, 0);
    m_inverse_shoup.assign(k * k, 0);
    for (std::size_t j = 0; j < k; ++j)
      for (std::size_t i = 0; i < k; ++i) {
        if (i == j) continue;
        const u64 qi = m_primes[i];
        const u64 inv = inv_mod(m_primes[j] % qi, qi);
        m_inverse[j * k + i] = inv;
        m_inverse_shoup[j * k + i] = shoup_precompute(inv, qi);
      }
  }

  /// The ring degree N.
  [[nodiscard]] std::size_t poly_degree() const noexcept { return m_poly_degree; }
  /// All primes: the ciphertext chain q_0..q_L followed by the special prime.
  [[nodiscard]] std::span<const u64> primes() const noexcept { return m_primes; }
  /// Number of primes, including the special one.
  [[nodiscard]] std::size_t prime_count() const noexcept { return m_primes.size(); }
  /// Index of the last special (key-switching) prime among primes(): the prime of the special limb
  /// of a polynomial with one special limb (a polynomial with s special limbs has the last s primes).
  [[nodiscard]] std::size_t special_index() const noexcept { return m_primes.size() - 1; }
  /// Number α of special primes (the last α of primes()).
  [[nodiscard]] std::size_t special_count() const noexcept { return m_special_count; }
  /// Index of the first special prime among primes(): L + 1.
  [[nodiscard]] std::size_t first_special_index() const noexcept { return m_primes.size() - m_special_count; }
  /// The NTT tables of prime @p index.
  [[nodiscard]] const ntt_tables& ntt(std::size_t index) const noexcept { return m_ntt[index]; }
  /// q_j^{-1} mod q_i (j != i).
  [[nodiscard]] u64 inverse(std::size_t j, std::size_t i) const noexcept { return m_inverse[j * m_primes.size() + i]; }
  /// Shoup constant of inverse(j, i) modulo q_i.
  [[nodiscard]] u64 inverse_shoup(std::size_t j, std::size_t i) const noexcept {
    return m_inverse_shoup[j * m_primes.size() + i];
  }

private:
  std::size_t m_poly_degree;
  std::vector<u64> m_primes;
  std::size_t m_special_count;
  std::vector<ntt_tables> m_ntt;
  std::vector<u64> m_inverse, m_inverse_shoup;
};

} // namespace detail

/// An RNS-CKKS parameter set: ring degree N, primes generated from bit sizes (the last one, or the
/// last α with special_primes{α}, are the special primes P for key switching, the others form the
/// ciphertext chain q_0..q_L, so a fresh ciphertext has level L), and the default scale. Immutable;
/// copies share the precomputed tables.
class parameters {
public:
  /// Generates the primes for @p prime_bits (e.g. {60, 40, 40, 60}) at ring degree @p poly_degree and
  /// checks the set against @p level.
  /// @throws hefl::invalid_argument if N is not a power of two in [4096, 65536] (down to 8 with
  /// security::none_i_know_this_is_insecure), fewer than 2 primes are given, a size is outside
  /// [20, 61] bits, not enough NTT-friendly primes of a size exist, or log2_scale is not finite
  /// and in [1, bits of q_0 + ... + q_L).
  /// @throws hefl::invalid_argument if the special prime has fewer bits than the largest chain prime
  /// and @p special is special_prime_size::at_least_largest_chain_prime (the default).
  /// @throws hefl::security_error if level is security::classical_128 and log2(PQ) exceeds the
  /// HomomorphicEncryption.org bound for N (the message names both numbers).
  parameters(std::size_t poly_degree, std::vector<int> prime_bits, double log2_scale,
             security level = security::classical_128,
             special_prime_size special = special_prime_size::at_least_largest_chain_prime)
      : parameters(poly_degree, std::move(prime_bits), log2_scale, special_primes{1}, level, special) {}

  /// As the constructor above, with the last @p key_switching.count primes of @p prime_bits as the
  /// special primes of hybrid key switching (see special_primes): the chain is q_0..q_L with L + 1 =
  /// prime_bits.size() - α, and keys get dnum = ceil((L + 1)/α) digits. log2(PQ) counts every
  /// special prime against the security bound. With special_prime_size::at_least_largest_chain_prime
  /// P = p_1·...·p_α must have at least as many bits as the largest digit product (the product of
  /// the α consecutive chain primes a digit covers; for α = 1 the largest chain prime): key
  /// switching divides its noise, about a digit times the key error, by P. The special primes
  /// themselves may then be smaller than the chain primes.
  /// @throws hefl::invalid_argument as the constructor above; if key_switching.count is 0, exceeds
  ///         32 or leaves no chain prime (the message names both counts); if P has fewer bits than a
  ///         digit product (the message names the digit and both bit counts) unless the rule is
  ///         special_prime_size::allow_smaller_i_know_key_switching_loses_precision.
  /// @throws hefl::security_error as the constructor above (log2(PQ) includes all special primes).
  parameters(std::size_t poly_degree, std::vector<int> prime_bits, double log2_scale, special_primes key_switching,
             security level = security::classical_128,
             special_prime_size special = special_prime_size::at_least_largest_chain_prime)
      : m_security(level), m_special_rule(special), m_log2_scale(log2_scale), m_prime_bits(std::move(prime_bits)),
        m_special_count(key_switching.count) {
    const bool insecure = level == security::none_i_know_this_is_insecure;
    const std::size_t min_degree = insecure ? min_poly_degree : min_secure_poly_degree;
    if (poly_degree < min_degree || poly_degree > max_poly_degree || (poly_degree & (poly_degree - 1)) != 0) {
      std::string msg = "ckks::parameters: poly_degree must be a power of two in [" + std::to_string(min_degree) +
                        ", " + std::to_string(max_poly_degree) + "], got " + std::to_string(poly_degree);
      if (!insecure && poly_degree >= min_poly_degree && poly_degree < min_secure_poly_degree &&
          (poly_degree & (poly_degree - 1)) == 0)
        throw security_error(msg + " (degrees below 4096 give no 128-bit security; pass "
                                   "security::none_i_know_this_is_insecure for toy parameters)");
      throw invalid_argument(msg);
    }
    if (m_prime_bits.size() < 2)
      throw invalid_argument("ckks::parameters: need at least 2 primes (one ciphertext prime and the special "
                             "prime), got " + std::to_string(m_prime_bits.size()));
    if (m_prime_bits.size() > 256)
      throw invalid_argument("ckks::parameters: at most 256 primes, got " + std::to_string(m_prime_bits.size()));
    if (m_special_count == 0 || m_special_count > 32 || m_special_count >= m_prime_bits.size())
      throw invalid_argument("ckks::parameters: the special prime count must be in [1, " +
                             std::to_string(std::min<std::size_t>(32, m_prime_bits.size() - 1)) + "] for " +
                             std::to_string(m_prime_bits.size()) + " primes (at least one must stay in the "
                             "ciphertext chain), got " + std::to_string(m_special_count));
    const std::size_t chain_count = m_prime_bits.size() - m_special_count;
    for (std::size_t i = 0; i < m_prime_bits.size(); ++i)
      if (m_prime_bits[i] < detail::min_prime_bits || m_prime_bits[i] > detail::max_prime_bits)
        throw invalid_argument("ckks::parameters: prime " + std::to_string(i) + " must have 20 to 61 bits, got " +
                               std::to_string(m_prime_bits[i]));
    int chain_bits = 0, largest_chain_bits = 0;
    for (std::size_t i = 0; i < chain_count; ++i) {
      chain_bits += m_prime_bits[i];
      largest_chain_bits = std::max(largest_chain_bits, m_prime_bits[i]);
    }
    const bool check_special = special == special_prime_size::at_least_largest_chain_prime;
    // α = 1: the digit is one chain prime (the message of every earlier release); α > 1: below,
    // once the primes exist, P against every digit product.
    if (check_special && m_special_count == 1 && m_prime_bits.back() < largest_chain_bits)
      throw invalid_argument("ckks::parameters: the special prime has " + std::to_string(m_prime_bits.back()) +
                             " bits, fewer than the largest chain prime's " + std::to_string(largest_chain_bits) +
                             "; key switching (relinearization, rotation) would amplify its noise instead of "
                             "dividing it. Make the last prime at least that large, or pass "
                             "special_prime_size::allow_smaller_i_know_key_switching_loses_precision");
    if (!std::isfinite(log2_scale) || log2_scale < 1 || log2_scale >= chain_bits)
      throw invalid_argument("ckks::parameters: log2_scale must be in [1, " + std::to_string(chain_bits) +
                             ") (the ciphertext modulus bits), got " + std::to_string(log2_scale));

    std::vector<std::uint64_t> primes = detail::generate_ntt_primes(m_prime_bits, poly_degree);
    m_modulus_bits = detail::product_bit_count(primes);
    if (check_special && m_special_count > 1) {
      // Key switching divides sum_j digit_j·e_j by P; a digit is below its primes' product D_j.
      const std::span<const std::uint64_t> all(primes);
      const int special_bits = detail::product_bit_count(all.subspan(chain_count));
      for (std::size_t first = 0; first < chain_count; first += m_special_count) {
        const std::size_t size = std::min(m_special_count, chain_count - first);
        const int digit_bits = detail::product_bit_count(all.subspan(first, size));
        if (special_bits < digit_bits)
          throw invalid_argument("ckks::parameters: the " + std::to_string(m_special_count) +
                                 " special primes multiply to " + std::to_string(special_bits) +
                                 " bits, fewer than the " + std::to_string(digit_bits) + " bits of key-switching digit " +
                                 std::to_string(first / m_special_count) + " (chain primes " + std::to_string(first) +
                                 ".." + std::to_string(first + size - 1) +
                                 "); key switching would amplify its noise instead of dividing it. Use larger special "
                                 "primes, or pass special_prime_size::allow_smaller_i_know_key_switching_loses_precision");
      }
    }
    const int bound = max_secure_modulus_bits(poly_degree);
    if (!insecure && m_modulus_bits > bound)
      throw security_error("ckks::parameters: log2(PQ) = " + std::to_string(m_modulus_bits) + " bits exceeds the " +
                           std::to_string(bound) + " bits allowed for 128-bit security at N = " +
                           std::to_string(poly_degree) +
                           " (HomomorphicEncryption.org standard, ternary secret); use fewer or smaller primes, "
                           "a larger N, or security::none_i_know_this_is_insecure");

    m_id = detail::parameters_id(poly_degree, primes, log2_scale, m_special_count);

    m_context = std::make_shared<const detail::context>(poly_degree, std::move(primes), m_special_count);
  }

  /// The ring degree N.
  [[nodiscard]] std::size_t poly_degree() const noexcept { return m_context->poly_degree(); }
  /// Number of complex slots, N/2.
  [[nodiscard]] std::size_t slot_count() const noexcept { return poly_degree() / 2; }
  /// The highest level L: a fresh ciphertext has L + 1 primes and can be rescaled L times.
  [[nodiscard]] std::size_t max_level() const noexcept { return m_context->prime_count() - 1 - m_special_count; }
  /// All primes: the chain q_0..q_L followed by the special primes.
  [[nodiscard]] std::span<const std::uint64_t> primes() const noexcept { return m_context->primes(); }
  /// The ciphertext chain q_0..q_L.
  [[nodiscard]] std::span<const std::uint64_t> ciphertext_primes() const noexcept {
    return primes().first(primes().size() - m_special_count);
  }
  /// The (last) special prime used only during key switching; with α = 1 the special modulus P.
  [[nodiscard]] std::uint64_t special_prime() const noexcept { return primes().back(); }
  /// The α special primes, whose product P key switching extends the modulus by.
  [[nodiscard]] std::span<const std::uint64_t> key_switch_primes() const noexcept {
    return primes().last(m_special_count);
  }
  /// Number α of special primes.
  [[nodiscard]] std::size_t special_prime_count() const noexcept { return m_special_count; }
  /// Number of digits of a key-switching key, dnum = ceil((L + 1)/α).
  [[nodiscard]] std::size_t digit_count() const noexcept {
    return (max_level() + m_special_count) / m_special_count;
  }
  /// The bit sizes the primes were generated from.
  [[nodiscard]] std::span<const int> prime_bits() const noexcept { return m_prime_bits; }
  /// Bit length of P * q_0 * ... * q_L, the quantity the security standard bounds.
  [[nodiscard]] int modulus_bits() const noexcept { return m_modulus_bits; }
  /// log2 of the default scale.
  [[nodiscard]] double log2_scale() const noexcept { return m_log2_scale; }
  /// log2 of Q_l = q_0·...·q_l, the ciphertext modulus at level @p level.
  /// @throws hefl::invalid_argument if @p level exceeds max_level().
  [[nodiscard]] double log2_modulus(std::size_t level) const {
    if (level > max_level())
      throw invalid_argument("ckks::parameters::log2_modulus: level " + std::to_string(level) + " exceeds the top level " +
                             std::to_string(max_level()));
    double bits = 0;
    for (std::size_t i = 0; i <= level; ++i) bits += std::log2(static_cast<double>(primes()[i]));
    return bits;
  }
  /// The default scale, 2^log2_scale.
  [[nodiscard]] double scale() const noexcept { return std::exp2(m_log2_scale); }
  /// The security requirement the set was checked against.
  [[nodiscard]] security security_level() const noexcept { return m_security; }
  /// The special-prime rule the set was checked against.
  [[nodiscard]] special_prime_size special_prime_rule() const noexcept { return m_special_rule; }
  /// A stable 64-bit id (FNV-1a over the format version, N, the primes and the scale) that
  /// serialized objects carry to say which parameters they belong to.
  [[nodiscard]] std::uint64_t id() const noexcept { return m_id; }
  /// The shared precomputation (NTT tables, inverses).
  [[nodiscard]] const detail::context& context() const noexcept { return *m_context; }
  /// The shared precomputation as a shared pointer, for objects that must keep it alive.
  [[nodiscard]] const std::shared_ptr<const detail::context>& context_ptr() const noexcept { return m_context; }

  /// Two parameter sets are equal when their ids are (same N, primes, scale and format version).
  friend bool operator==(const parameters& a, const parameters& b) noexcept { return a.m_id == b.m_id; }

private:
  security m_security;
  special_prime_size m_special_rule;
  double m_log2_scale;
  std::vector<int> m_prime_bits;
  std::size_t m_special_count = 1;
  int m_modulus_bits = 0;
  std::uint64_t m_id = 0;
  std::shared_ptr<const detail::context> m_context;
};

/// The default integer_bits of secure_parameters: at scale 2^40 it makes q_0 and the special prime
/// 50-bit, so every prime is below 2^50 and takes the AVX-512 IFMA kernels (docs/ckks.md, "The
/// default trades integer room for speed"): results up to about ±2^9 at level 0.
inline constexpr int default_integer_bits = 10;

namespace detail {

/// The bit sizes of a secure_parameters chain: q_0 of @p first bits, @p depth primes of
/// @p middle bits, then @p alpha special primes. With α = 1 the special prime has q_0's size; with
/// α > 1 each special prime has ceil(D/α) bits, D the largest bit count of a key-switching digit
/// (α consecutive chain primes), so that P = p_1·...·p_α is at least as large as every digit.
/// Empty if a special prime would need more than 60 bits.
[[nodiscard]] inline std::vector<int> secure_chain_bits(std::size_t depth, int middle, int first, std::size_t alpha) {
  std::vector<int> bits;
  bits.reserve(depth + 1 + alpha);
  bits.push_back(first);
  bits.insert(bits.end(), depth, middle);
  if (alpha == 1) {
    bits.push_back(first);
    return bits;
  }
  const std::size_t chain = depth + 1;
  int digit_bits = 0;
  for (std::size_t start = 0; start < chain; start += alpha) {
    int sum = 0;
    for (std::size_t i = start; i < std::min(chain, start + alpha); ++i) sum += bits[i];
    digit_bits = std::max(digit_bits, sum);
  }
  const int special = (digit_bits + static_cast<int>(alpha) - 1) / static_cast<int>(alpha);
  if (special > 60) return {};
  bits.insert(bits.end(), alpha, std::max(special, min_prime_bits));
  return bits;
}

/// Sum of @p bits: log2(PQ) of the chain up to rounding (each prime is just below 2^bits).
[[nodiscard]] inline std::uint64_t bit_total(std::span<const int> bits) {
  std::uint64_t total = 0;
  for (const int b : bits) total += static_cast<std::uint64_t>(b);
  return total;
}

} // namespace detail

/// Asks secure_parameters to choose α: the largest number of special primes, up to
/// max_automatic_special_primes, that fits the 128-bit bound at the ring degree α = 1 needs (no
/// larger ring for a faster key switch).
inline constexpr special_primes automatic_special_primes{0};
/// The largest α secure_parameters chooses by itself (the counts tests/unit/ckks_hybrid_keyswitch_test.cpp
/// covers); larger ones can be asked for explicitly.
inline constexpr std::size_t max_automatic_special_primes = 3;

/// A parameter set for @p depth rescaled multiplications at scale 2^log2_scale that is 128-bit
/// secure by the HomomorphicEncryption.org table above: q_0 has log2_scale + integer_bits bits (room
/// for results up to about ±2^(integer_bits - 1) at level 0), each of the depth middle primes has
/// log2_scale bits (so the scale stays near 2^log2_scale after every rescale), and then α special
/// primes for hybrid key switching (special_primes): with α = 1 one special prime as large as q_0,
/// with α > 1 primes of ceil(D/α) bits each, D the bits of the largest key-switching digit (α
/// consecutive chain primes), so P covers every digit. The ring degree is the smallest N in
/// 4096..65536 whose bound admits the sum of all bit sizes.
///
/// @p alpha = automatic_special_primes (the default) takes the largest α (at most 3) that fits at the ring
/// degree α = 1 needs: fewer, smaller keys and faster key switching at the same N (docs/ckks.md,
/// "Choosing a chain for a depth"). Depth 2 at 2^40 gives N = 8192 {50, 40, 40 | 50} (α = 1: no
/// room for a second special prime), depth 7 gives N = 16384 {50, 40×7 | 45, 45} (α = 2, 4 digits
/// instead of 8); integer_bits = 20 gives {60, 40×7 | 60} (more room, α = 1, portable kernels).
/// An explicit special_primes{α} takes that α and the smallest N that admits it.
/// @throws hefl::invalid_argument if log2_scale is outside [20, 60], integer_bits is below 1 or
///         log2_scale + integer_bits exceeds 60; if an explicit α is 0 or exceeds depth + 1 (the
///         chain primes, one digit) or its special primes would need more than 60 bits; or if no ring
///         degree up to 65536 admits the chain with its special primes (the message names the bits
///         needed and the largest bound); or if the primes cannot be generated at the chosen N.
[[nodiscard]] inline parameters secure_parameters(std::size_t depth, int log2_scale,
                                                  int integer_bits = default_integer_bits,
                                                  special_primes alpha = automatic_special_primes) {
  if (log2_scale < 20 || log2_scale > 60)
    throw invalid_argument("ckks::secure_parameters: log2_scale must be in [20, 60] (the size of the middle "
                           "primes), got " + std::to_string(log2_scale));
  if (integer_bits < 1 || log2_scale + integer_bits > 60)
    throw invalid_argument("ckks::secure_parameters: q_0 needs log2_scale + integer_bits <= 60 bits, got " +
                           std::to_string(log2_scale) + " + " + std::to_string(integer_bits));
  const int first = log2_scale + integer_bits;
  const bool automatic = alpha.count == 0;
  if (!automatic && alpha.count > depth + 1)
    throw invalid_argument("ckks::secure_parameters: " + std::to_string(alpha.count) +
                           " special primes for a chain of " + std::to_string(depth + 1) +
                           " primes (depth " + std::to_string(depth) + "); at most one per chain prime "
                           "(special_primes{" + std::to_string(depth + 1) + "} already makes a single digit)");
  const std::vector<int> base = detail::secure_chain_bits(depth, log2_scale, first, automatic ? 1 : alpha.count);
  if (base.empty())
    throw invalid_argument("ckks::secure_parameters: with " + std::to_string(alpha.count) +
                           " special primes each would need more than 60 bits to cover a key-switching digit; "
                           "use more special primes");
  const std::uint64_t total = detail::bit_total(base);
  for (std::size_t n = min_secure_poly_degree; n <= max_poly_degree; n *= 2) {
    const auto bound = static_cast<std::uint64_t>(max_secure_modulus_bits(n));
    if (total > bound) continue;
    if (!automatic) return parameters(n, base, log2_scale, alpha);
    // The largest α whose chain still fits this N's bound.
    std::vector<int> best = base;
    std::size_t best_alpha = 1;
    for (std::size_t a = 2; a <= std::min<std::size_t>(depth + 1, max_automatic_special_primes); ++a) {
      std::vector<int> bits = detail::secure_chain_bits(depth, log2_scale, first, a);
      if (!bits.empty() && detail::bit_total(bits) <= bound) best = std::move(bits), best_alpha = a;
    }
    return parameters(n, std::move(best), log2_scale, special_primes{best_alpha});
  }
  throw invalid_argument("ckks::secure_parameters: depth " + std::to_string(depth) + " at scale 2^" +
                         std::to_string(log2_scale) + (automatic ? std::string() : " with " + std::to_string(alpha.count) +
                         " special primes") + " needs " + std::to_string(total) +
                         " bits of modulus, more than the " + std::to_string(max_secure_modulus_bits(max_poly_degree)) +
                         " bits that N = 65536 allows at 128-bit security; lower the depth, the scale or the number "
                         "of special primes");
}

} // namespace hefl::he::ckks
