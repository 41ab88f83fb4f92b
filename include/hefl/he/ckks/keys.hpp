#pragma once
/// @file
/// CKKS secret and public keys (Cheon, Kim, Kim, Song, ASIACRYPT 2017, §3.4: KeyGen with a ternary
/// secret and a discrete Gaussian error of σ = 3.2, the HomomorphicEncryption.org standard's choice).
/// The public key keeps its uniform "common random polynomial" a explicit, so that several parties
/// holding secret shares s_i can each publish b_i = -a·s_i + e_i for the same a and sum them into a
/// collective key (Mouchet, Troncoso-Pastoriza, Bossuat, Hubaux, "Multiparty Homomorphic Encryption
/// from Ring-Learning-with-Errors", PETS 2021); nothing here assumes one party holds the whole secret.
/// All randomness comes from a hefl::random_source; this header does not include Botan.

#include <hefl/core/error.hpp>
#include <hefl/core/random.hpp>
#include <hefl/he/ckks/detail/rns_poly.hpp>
#include <hefl/he/ckks/params.hpp>

#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
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
/// probability 1/3, the same integer in every limb.
inline void sample_ternary(rns_poly& p, random_stream& rs, const context& ctx) {
  const std::size_t n = p.degree();
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
    const unsigned t = byte % 3; // 0 -> 0, 1 -> 1, 2 -> -1
    for (std::size_t i = 0; i < p.limb_count(); ++i) {
      const u64 q = ctx.primes()[p.prime_index(i, ctx)];
      p.limb(i)[j] = t == 0 ? 0 : (t == 1 ? 1 : q - 1);
    }
  }
  word = 0;
  p.set_ntt_form(false);
}

/// Adds a discrete Gaussian error polynomial to @p p, which must be in coefficient form.
inline void add_gaussian_error(rns_poly& p, random_stream& rs, const context& ctx) {
  const std::size_t n = p.degree();
  for (std::size_t j = 0; j < n; ++j) {
    const int e = sample_gaussian(rs);
    for (std::size_t i = 0; i < p.limb_count(); ++i) {
      const u64 q = ctx.primes()[p.prime_index(i, ctx)];
      u64& x = p.limb(i)[j];
      x = e >= 0 ? add_mod(x, static_cast<u64>(e), q) : sub_mod(x, static_cast<u64>(-e), q);
    }
  }
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

} // namespace detail

/// A ternary secret key s, stored in NTT form over every prime (q_0..q_L and P). Its memory is
/// wiped when the key is destroyed or overwritten. Never serialized unless asked for by name.
class secret_key {
public:
  /// Wraps a secret polynomial (NTT form, level L, with the special limb) for @p params.
  /// @throws hefl::invalid_argument if the polynomial does not have that shape.
  secret_key(const parameters& params, detail::rns_poly s) : m_params_id(params.id()), m_s(std::move(s)) {
    if (m_s.degree() != params.poly_degree() || m_s.level() != params.max_level() || !m_s.has_special() ||
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
      if (p->degree() != params.poly_degree() || p->level() != params.max_level() || !p->has_special() ||
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

/// A fresh common random polynomial for @p params: uniform, NTT form, over all primes. Parties that
/// draw it from identically seeded sources obtain the same polynomial.
/// @throws whatever the random source throws.
[[nodiscard]] inline detail::rns_poly sample_common_random_polynomial(const parameters& params, random_source& rng) {
  detail::rns_poly a(params.poly_degree(), params.max_level(), true);
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
    const auto& ctx = m_params.context();
    if (a.degree() != m_params.poly_degree() || a.level() != m_params.max_level() || !a.has_special() ||
        !a.is_ntt_form())
      throw invalid_argument("ckks::key_generator: the common random polynomial must be in NTT form over all " +
                             std::to_string(m_params.primes().size()) + " primes");
    detail::rns_poly b(m_params.poly_degree(), m_params.max_level(), true);
    {
      detail::random_stream rs(m_rng);
      detail::add_gaussian_error(b, rs, ctx);
    }
    detail::to_ntt(b, ctx);
    // b = e - a·s
    for (std::size_t i = 0; i < b.limb_count(); ++i) {
      const detail::modulus& q = ctx.ntt(b.prime_index(i, ctx)).mod();
      detail::u64* y = b.limb(i);
      const detail::u64* x = a.limb(i);
      const detail::u64* s = m_secret.poly().limb(i);
      for (std::size_t j = 0; j < b.degree(); ++j) y[j] = detail::sub_mod(y[j], detail::mul_mod(x[j], s[j], q), q.value());
    }
    return public_key(m_params, std::move(b), std::move(a));
  }

private:
  static detail::rns_poly sample_secret(const parameters& params, random_source& rng) {
    detail::rns_poly s(params.poly_degree(), params.max_level(), true);
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
