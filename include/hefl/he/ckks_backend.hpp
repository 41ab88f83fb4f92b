#pragma once
/// @file
/// hefl's RNS-CKKS (Cheon, Kim, Kim, Song, ASIACRYPT 2017) as three role objects and a bundle:
///
/// - he::ckks_key_holder holds the secret key: decrypts, and publishes the public context and the
///   evaluation keys as bytes.
/// - he::ckks_client is built from the public-context bytes (parameters + public key): encrypts.
/// - he::ckks_server is built from the evaluation-key bytes (parameters + relinearization and Galois
///   keys): computes on ciphertexts. Its type has no secret key and no decrypt.
/// - he::ckks_backend makes the three from parameters and a random_source (the key holder's
///   material reaches the other two as bytes) and satisfies he::arithmetic_backend by delegating, so
///   approx::evaluate and the trainer run on it with the code that runs on he::plain_backend.
///
/// Levels follow the convenience layer of ckks::evaluator: every product (ciphertext × ciphertext,
/// × plaintext vector, × non-integer scalar) is relinearized and rescaled and consumes exactly one
/// level; an integer scalar costs none; binary operations accept operands at different levels.
/// level(c) is the number of products c can still take, as in he::plain_backend.
///
/// Decryptions handed to another party are noise-flooded (ckks_key_holder::decrypt_for_sharing,
/// Li–Micciancio, EUROCRYPT 2021); ckks_flooding_options says how, docs/threat-model.md what is left.

#include <hefl/core/error.hpp>
#include <hefl/core/random.hpp>
#include <hefl/core/serialization.hpp>
#include <hefl/he/backend.hpp>
#include <hefl/he/ckks/decryptor.hpp>
#include <hefl/he/ckks/encoder.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/evaluator.hpp>
#include <hefl/he/ckks/keys.hpp>
#include <hefl/he/ckks/params.hpp>
#include <hefl/he/ckks/serialization.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace hefl::he {

/// What the key holder does with a ciphertext published to another party whose noise it cannot bound
/// (one that went through products: a gradient computed on encrypted data, a model trained under
/// encryption), when ckks_flooding_options::computed_noise_bound is not set.
enum class unbounded_noise {
  /// The default: estimate how far the noise moves a slot from the imaginary parts of the decryption
  /// (ckks::decryptor::imaginary_slot_noise, a heuristic measurement as in OpenFHE), double it and round
  /// it up to a power of two (B), and add to each published slot value a Gaussian of
  /// σ = sqrt(12·τ)·2^(s/2)·B (Li, Micciancio, Schultz, Sorrell, CRYPTO 2022; ckks::gaussian_flooding_deviation),
  /// s = computed_statistical_security, τ = computed_published_values. Refuses with hefl::security_error
  /// when σ exceeds 2^-computed_min_precision_bits or when the key would publish more than τ values.
  estimate_and_flood,
  /// Raw decryption: the Li–Micciancio leak stays for these results, counted in unflooded_decryptions().
  /// An opt-out by name, for parameters with no room for flooding.
  raw_decryption_leaks,
  /// Refuse with hefl::security_error.
  refuse
};

/// How ckks_key_holder::decrypt_for_sharing floods (Li, Micciancio, EUROCRYPT 2021; Li, Micciancio,
/// Schultz, Sorrell, CRYPTO 2022).
struct ckks_flooding_options {
  /// λ_s of the uniform flooding of linear results: each flooded decryption is within statistical
  /// distance 2^-λ_s of one that depends on the message only; q decryptions under one key add up to
  /// q·2^-λ_s, so choose λ_s >= 40 + log2(q). In [40, 100].
  int statistical_security = 40;
  /// Refuse when the uniform flooding's standard deviation per slot, about U·sqrt(N/6)/Δ, exceeds
  /// 2^-min_precision_bits in units of one fresh value (the sum's error divided by Σ|a_k|).
  int min_precision_bits = 20;
  /// B for computed ciphertexts (in coefficient units at their scale), e.g. measured with
  /// ckks::decryptor::noise_bound on the key holder's own data plus a margin; 0 = unknown. When set,
  /// computed results are flooded uniformly with it, as linear ones.
  double computed_noise_bound = 0;
  /// What to do with a computed ciphertext when computed_noise_bound is 0.
  unbounded_noise unknown = unbounded_noise::estimate_and_flood;
  /// s of the Gaussian flooding of computed results (unbounded_noise::estimate_and_flood), in
  /// [30, 100]: 30 is the least OpenFHE's noise-flooding documentation advises.
  int computed_statistical_security = 30;
  /// τ: how many computed slot values this key will publish in all (each value handed out counts
  /// one; the trainer publishes n + 1 per gradient). The key holder refuses the value after. In [1, 2^40].
  double computed_published_values = 16384;
  /// Refuse Gaussian flooding whose σ exceeds 2^-computed_min_precision_bits units of the published
  /// values (published_noise::computed_unit). In [0, 52].
  int computed_min_precision_bits = 6;
};

/// Which evaluation keys the key holder generates. Galois keys are the large ones (one key-switching
/// key per rotation step, each ~(L+1)² limbs of N words), so generate only what the computation needs.
struct ckks_backend_options {
  /// Relinearization key, needed by multiply(). Aggregation alone does not need it.
  bool relinearization = true;
  /// Galois keys for sum_slots() (ckks::evaluator::sum_slots_steps) and, with any_rotation, for
  /// rotations by ±2^i, from which rotate() composes any step. Aggregation alone does not need them.
  bool rotations = true;
  /// With rotations: also the ±2^i keys (encrypted_gradient_packed rotates by arbitrary steps; the
  /// encrypted-weights epoch only sums slots).
  bool any_rotation = true;
  /// Further rotation steps to give a key of their own (one key switch instead of a composition).
  std::vector<long long> extra_rotation_steps;
  /// How decryptions for another party are flooded.
  ckks_flooding_options flooding{};
  /// When set (and rotations is true), the Galois keys are exactly these: a key for each listed step,
  /// ckks::evaluator::sum_slots_steps if it asks for sum_slots, and extra_rotation_steps; no ±2^i
  /// whatever any_rotation says. fl::rotation_steps_for lists what the trainer's encrypted epochs use
  /// (the FL-FHE-model epoch at N = 16384 needs half the default set). A step left out is refused
  /// when used, naming it (or composed from signed powers of two that are listed), and the trainer
  /// refuses before any work when its epochs need a key that is missing. Steps that are multiples
  /// of the slot count need no key and are skipped.
  std::optional<rotation_key_set> exact_rotations;
};

/// log2 of the scale he::ckks_client::encrypt_update encodes model updates at: 2^100, or less when
/// the top-level modulus Q_L has fewer than 140 bits (then Q_L / 2^40), and never below the
/// parameters' scale. Flooding a sum of fresh encryptions with integer weights a_k costs about
/// λ_s + log2(N · fresh_noise_bound()) + log2(sqrt(N/6)) bits per unit weight: at 2^100 and λ_s = 40
/// by this formula about 27 bits stay at N = 16384, 30 at N = 8192 (ckks_key_holder::decrypt_for_sharing).
[[nodiscard]] inline double ckks_update_log2_scale(const ckks::parameters& params) {
  const double top = params.log2_modulus(params.max_level());
  return std::max(params.log2_scale(), std::min(100.0, std::floor(top) - 40.0));
}

namespace detail {

/// A preset chain @p chain (q_0..q_L) at ring degree @p n with @p alpha special primes appended:
/// one of @p single_bits bits for α = 1 (the presets' layout), otherwise α primes of ceil(D/α)
/// bits, D the largest key-switching digit (α consecutive chain primes), as ckks::secure_parameters
/// does. Refuses by name, before any prime is generated, an α of 0, above the chain's length, or
/// whose chain does not fit the 128-bit bound at N.
[[nodiscard]] inline ckks::parameters preset_with_special_primes(const char* name, std::size_t n, std::vector<int> chain,
                                                                 int single_bits, double log2_scale,
                                                                 ckks::special_primes alpha) {
  const std::size_t a = alpha.count;
  if (a == 0 || a > chain.size())
    throw invalid_argument(std::string(name) + ": the number of special primes must be in [1, " +
                           std::to_string(chain.size()) + "] (one digit per special prime at most), got " +
                           std::to_string(a));
  std::vector<int> bits = std::move(chain);
  const std::size_t chain_count = bits.size();
  if (a == 1) {
    bits.push_back(single_bits);
  } else {
    int digit_bits = 0;
    for (std::size_t first = 0; first < chain_count; first += a) {
      int sum = 0;
      for (std::size_t i = first; i < std::min(chain_count, first + a); ++i) sum += bits[i];
      digit_bits = std::max(digit_bits, sum);
    }
    bits.insert(bits.end(), a, (digit_bits + static_cast<int>(a) - 1) / static_cast<int>(a));
  }
  int total = 0;
  for (const int b : bits) total += b;
  const int bound = ckks::max_secure_modulus_bits(n);
  if (total > bound)
    throw invalid_argument(std::string(name) + ": " + std::to_string(chain_count - 1) + " levels with " +
                           std::to_string(a) + " special primes need " + std::to_string(total) +
                           " bits of modulus, more than the " + std::to_string(bound) + " bits allowed for 128-bit "
                           "security at N = " + std::to_string(n) + "; use fewer levels or fewer special primes");
  return ckks::parameters(n, std::move(bits), log2_scale, alpha);
}

} // namespace detail

/// Parameters for encrypted FedAvg (no products) with room for flooded decryption, 128-bit secure:
/// N = 8192, chain {50, 50, 50 | 60} (210 of the 218 bits allowed), updates encrypted at 2^100.
/// @p alpha special primes (hybrid key switching, ckks::special_primes) are accepted by name, but
/// this chain has no room for a second one.
/// @throws hefl::invalid_argument if alpha is not 1 (the message names the bits needed and
///         allowed); as ckks::parameters.
[[nodiscard]] inline ckks::parameters ckks_aggregation_parameters(ckks::special_primes alpha = ckks::special_primes{1}) {
  return detail::preset_with_special_primes("he::ckks_aggregation_parameters", 8192, {50, 50, 50}, 60, 40, alpha);
}

/// Parameters for fl::encrypted_data_training (encrypted data, public weights) with room to flood the
/// gradient sums the key holder publishes (unbounded_noise::estimate_and_flood, judged per sample):
/// 128-bit secure, scale 2^50, chain {60, 50 × levels | 60}; N = 16384 up to 6 levels (420 of the 438
/// bits allowed), N = 32768 from 7 to 15. The 60-bit first prime leaves 2^9 above the scale for the
/// result. With @p alpha > 1 special primes (hybrid key switching: smaller keys and faster key
/// switching, docs/ckks.md "Hybrid key switching") the chain keeps its N and gets α special primes
/// of ceil(D/α) bits, D the largest digit: at N = 16384 α = 2 fits up to 5 levels ({55, 55}) and
/// α = 3 up to 4 ({54, 54, 54}), at N = 32768 α = 2 up to 14 and α = 3 up to 13.
/// @throws hefl::invalid_argument if levels is outside [1, 15], alpha is 0 or above levels + 1, or
///         the chain with its special primes exceeds the 128-bit bound at its N (the message names
///         both bit counts); as ckks::parameters.
/// (A function object, so that code passing the preset as a callable, e.g. paper_tables, keeps
/// compiling with the optional argument.)
struct ckks_encrypted_data_parameters_fn {
  [[nodiscard]] ckks::parameters operator()(int levels, ckks::special_primes alpha = ckks::special_primes{1}) const {
    if (levels < 1 || levels > 15)
      throw invalid_argument("he::ckks_encrypted_data_parameters: levels must be in [1, 15], got " +
                             std::to_string(levels));
    std::vector<int> chain{60};
    chain.insert(chain.end(), static_cast<std::size_t>(levels), 50);
    return detail::preset_with_special_primes("he::ckks_encrypted_data_parameters", levels <= 6 ? 16384 : 32768,
                                              std::move(chain), 60, 50, alpha);
  }
};
inline constexpr ckks_encrypted_data_parameters_fn ckks_encrypted_data_parameters{};

/// Parameters for fl::encrypted_model_training (encrypted data and weights) with room to flood the
/// models the key holder publishes (a model has no sample count to divide its noise by, so it needs
/// about 10 more bits than a gradient sum): 128-bit secure, N = 32768, scale 2^60, chain
/// {60, 60, 60 × levels | 60} (the result stays one level above the bottom, 2^60 above the scale).
/// With @p alpha > 1 the chain gets α special primes of 60 bits: levels + α ≤ 12.
/// @throws hefl::invalid_argument if levels is outside [1, 11] (14 primes of 60 bits fill the 881 bits
///         allowed at N = 32768), alpha is 0 or above levels + 2, or the chain with its special primes
///         exceeds the bound (the message names both bit counts); as ckks::parameters.
/// (A function object, as ckks_encrypted_data_parameters.)
struct ckks_encrypted_model_parameters_fn {
  [[nodiscard]] ckks::parameters operator()(int levels, ckks::special_primes alpha = ckks::special_primes{1}) const {
    if (levels < 1 || levels > 11)
      throw invalid_argument("he::ckks_encrypted_model_parameters: levels must be in [1, 11], got " +
                             std::to_string(levels));
    std::vector<int> chain(static_cast<std::size_t>(levels) + 2, 60);
    return detail::preset_with_special_primes("he::ckks_encrypted_model_parameters", 32768, std::move(chain), 60, 60,
                                              alpha);
  }
};
inline constexpr ckks_encrypted_model_parameters_fn ckks_encrypted_model_parameters{};

namespace detail {

// Framing of the public bundles: magic, then length-prefixed blobs (each one a ckks::save object,
// validated by its own loader).
inline std::vector<std::uint8_t> frame(std::string_view magic, const std::vector<std::vector<std::uint8_t>>& blobs) {
  serial::writer w;
  w.put_bytes(magic);
  w.put<std::uint32_t>(static_cast<std::uint32_t>(blobs.size()));
  for (const auto& b : blobs) {
    w.put<std::uint64_t>(b.size());
    w.put_span<std::uint8_t>(b);
  }
  return std::move(w).take();
}

inline std::vector<std::span<const std::uint8_t>> unframe(std::span<const std::uint8_t> bytes, std::string_view magic,
                                                          std::uint32_t min_blobs, std::uint32_t max_blobs,
                                                          std::string_view what) {
  serial::reader r(bytes);
  r.expect_magic(magic, what);
  const auto count = r.get<std::uint32_t>(what);
  if (count < min_blobs || count > max_blobs)
    throw parse_error(std::string(what) + ": " + std::to_string(count) + " parts, expected " +
                      std::to_string(min_blobs) + " to " + std::to_string(max_blobs));
  std::vector<std::span<const std::uint8_t>> out;
  std::size_t offset = magic.size() + 4;
  for (std::uint32_t i = 0; i < count; ++i) {
    const auto size = r.get<std::uint64_t>(what);
    offset += 8;
    if (size > bytes.size() - offset)
      throw parse_error(std::string(what) + ": part " + std::to_string(i) + " claims " + std::to_string(size) +
                        " bytes, " + std::to_string(bytes.size() - offset) + " remain");
    out.push_back(bytes.subspan(offset, static_cast<std::size_t>(size)));
    (void)r.get_vector<std::uint8_t>(size, what);
    offset += static_cast<std::size_t>(size);
  }
  r.expect_end(what);
  return out;
}

inline void check_slot_count(std::size_t count, std::size_t slots, const char* who, const char* op) {
  if (count > slots)
    throw invalid_argument(std::string(who) + "::" + op + ": " + std::to_string(count) + " values exceed " +
                           std::to_string(slots) + " slots");
}

} // namespace detail

/// The CKKS key holder: generates and keeps the secret key, decrypts, and hands out public material
/// as bytes. The random source must outlive it; it feeds key generation and encryption.
class ckks_key_holder {
public:
  using ciphertext_type = ckks::ciphertext;
  static constexpr bool is_encrypted = true;

  /// Generates a secret key, a public key and the evaluation keys @p options asks for (kept only as
  /// bytes, for evaluation_keys(): the key holder does not compute).
  /// @throws whatever ckks::key_generator throws (invalid parameters are refused when constructed).
  ckks_key_holder(ckks::parameters params, random_source& rng, const ckks_backend_options& options = {})
      : m_params(std::move(params)), m_encoder(m_params.poly_degree()), m_keygen(m_params, rng),
        m_public(m_keygen.create_public_key()), m_encryptor(m_params, m_public, rng),
        m_decryptor(m_params, m_keygen.secret()), m_rng(&rng), m_flooding(options.flooding) {
    (void)ckks::flooding_amplitude(m_params.poly_degree(), {1, m_flooding.statistical_security}); // validates λ_s
    if (m_flooding.min_precision_bits < 0 || m_flooding.min_precision_bits > 52)
      throw invalid_argument("ckks_key_holder: flooding.min_precision_bits must be in [0, 52], got " +
                             std::to_string(m_flooding.min_precision_bits));
    if (!std::isfinite(m_flooding.computed_noise_bound) || m_flooding.computed_noise_bound < 0)
      throw invalid_argument("ckks_key_holder: flooding.computed_noise_bound must be finite and >= 0");
    if (m_flooding.computed_min_precision_bits < 0 || m_flooding.computed_min_precision_bits > 52)
      throw invalid_argument("ckks_key_holder: flooding.computed_min_precision_bits must be in [0, 52], got " +
                             std::to_string(m_flooding.computed_min_precision_bits));
    (void)ckks::gaussian_flooding_deviation(1, m_flooding.computed_statistical_security,
                                            m_flooding.computed_published_values);
    std::vector<std::vector<std::uint8_t>> blobs{ckks::save(m_params)};
    blobs.push_back(options.relinearization ? ckks::save(m_params, m_keygen.create_relin_keys())
                                            : std::vector<std::uint8_t>{});
    if (options.exact_rotations && !options.rotations)
      throw invalid_argument("ckks_key_holder: exact_rotations is set but rotations is false; set rotations to "
                             "generate the listed keys, or leave exact_rotations empty");
    if (options.rotations) {
      const auto slots = static_cast<long long>(m_params.slot_count());
      std::vector<long long> steps;
      if (options.exact_rotations) {
        if (options.exact_rotations->sum_slots) steps = ckks::evaluator::sum_slots_steps(m_params.slot_count());
        for (const long long t : options.exact_rotations->steps)
          if (t % slots != 0) add_unique(steps, t);
      } else {
        steps = ckks::evaluator::sum_slots_steps(m_params.slot_count());
        for (long long s = 1; options.any_rotation && s < slots; s *= 2)
          for (const long long t : {s, -s}) add_unique(steps, t);
      }
      for (const long long t : options.extra_rotation_steps) add_unique(steps, t);
      // An exact set may ask for nothing (an epoch without rotations): then no Galois keys at all.
      if (steps.empty()) blobs.emplace_back();
      else blobs.push_back(ckks::save(m_params, m_keygen.create_galois_keys(steps)));
    } else {
      blobs.emplace_back();
    }
    m_evaluation_keys = detail::frame(evaluation_magic, blobs);
  }

  ckks_key_holder(const ckks_key_holder&) = delete;
  ckks_key_holder& operator=(const ckks_key_holder&) = delete;

  [[nodiscard]] const ckks::parameters& params() const noexcept { return m_params; }
  [[nodiscard]] const ckks::public_key& public_key() const noexcept { return m_public; }
  [[nodiscard]] std::size_t slot_count() const noexcept { return m_params.slot_count(); }

  /// Parameters and public key, for the clients (he::ckks_client).
  [[nodiscard]] std::vector<std::uint8_t> public_context() const {
    return detail::frame(public_magic, {ckks::save(m_params), ckks::save(m_params, m_public)});
  }
  /// Parameters, relinearization key and Galois keys (empty parts when not generated), for the
  /// server (he::ckks_server).
  [[nodiscard]] const std::vector<std::uint8_t>& evaluation_keys() const noexcept { return m_evaluation_keys; }

  /// Encrypts with the public key (the key holder re-encrypts refreshed weights).
  /// @throws hefl::invalid_argument as ckks_client::encrypt.
  [[nodiscard]] ciphertext_type encrypt(std::span<const double> values) {
    detail::check_slot_count(values.size(), slot_count(), "ckks_key_holder", "encrypt");
    return m_encryptor.encrypt(ckks::encode(m_params, m_encoder, values));
  }

  /// Raw decryption, for values that stay with the key holder (e.g. refreshing encrypted weights):
  /// never hand its result to another party (use decrypt_for_sharing). Returns all slot_count()
  /// slots (approximate: CKKS error ~2^-25 relative at scale 2^40).
  /// @throws hefl::invalid_argument if @p c belongs to other parameters.
  [[nodiscard]] std::vector<double> decrypt(const ciphertext_type& c) const {
    ++m_raw;
    return m_decryptor.decrypt_decode(c, m_encoder);
  }

  /// A bound B on every coefficient of the noise of a fresh encryption (ckks::encryptor: v·pk + (m + e0,
  /// e1) over Q·P, then divided by P): |v·e + e0 + e1·s| <= (2N+1)·error_bound for ternary v, s and
  /// errors cut at error_bound, shrunk by P; the division's rounding adds at most 1 + N (|r0| + |r1·s|).
  [[nodiscard]] double fresh_noise_bound() const noexcept {
    const double n = static_cast<double>(m_params.poly_degree());
    const double p = static_cast<double>(m_params.primes().back());
    return std::ceil((2 * n + 1) * ckks::error_bound / p) + n + 1;
  }

  /// Decryption of a value published to another party, noise-flooded: plain CKKS decryption hands
  /// the noise, and with it the secret key, to whoever computed the ciphertext (Li, Micciancio,
  /// EUROCRYPT 2021), so every coefficient gets a uniform integer in [-U, U], U = N·B·2^(λ_s-1)
  /// (ckks::decryptor::decrypt_for_sharing), λ_s = ckks_flooding_options::statistical_security.
  /// B comes from what the caller states about @p c (he::published_noise):
  /// - linear(l1): Σ a_k·c_k over fresh encryptions with integer a_k, Σ|a_k| = l1: B = l1·fresh_noise_bound();
  /// - computed(unit): B = ckks_flooding_options::computed_noise_bound, or, when that is 0, the
  ///   ckks_flooding_options::unknown policy: Gaussian flooding of every slot with an estimated bound
  ///   (the default; every slot counts against computed_published_values, so publish only the slots
  ///   needed with the overload below), raw decryption (counted in unflooded_decryptions()), or refusal.
  /// @throws hefl::security_error if the parameters leave no room for flooding: the flooding's standard
  ///         deviation per slot U·sqrt(N/6)/Δ, divided by l1 (1 for computed), exceeds
  ///         2^-min_precision_bits, or U plus the message does not fit Q_l/4; for a computed
  ///         ciphertext with no bound under unbounded_noise::refuse; under estimate_and_flood when σ
  ///         exceeds 2^-computed_min_precision_bits units or the budget of published values is spent.
  ///         hefl::invalid_argument if @p c belongs to other parameters.
  [[nodiscard]] std::vector<double> decrypt_for_sharing(const ciphertext_type& c, const published_noise& noise) const {
    double bound = m_flooding.computed_noise_bound, unit = 1;
    if (noise.is_linear()) {
      if (!std::isfinite(noise.fresh_l1))
        throw invalid_argument("ckks_key_holder::decrypt_for_sharing: the weight sum is not finite");
      bound = std::ceil(noise.fresh_l1) * fresh_noise_bound();
      unit = noise.fresh_l1;
    } else if (bound == 0) {
      if (m_flooding.unknown == unbounded_noise::refuse)
        throw security_error("ckks_key_holder::decrypt_for_sharing: no noise bound for a computed ciphertext, so it "
                             "cannot be flooded (set ckks_flooding_options::computed_noise_bound, or accept the leak "
                             "with unbounded_noise::raw_decryption_leaks): see docs/threat-model.md");
      if (m_flooding.unknown == unbounded_noise::estimate_and_flood)
        return flood_estimated(c, all_slots(), noise.computed_unit);
      ++m_unflooded;
      return m_decryptor.decrypt_decode(c, m_encoder);
    }
    return flood(c, bound, unit);
  }

  /// decrypt_for_sharing for the values in @p slots only (in that order), the others staying with the
  /// key holder: what the trainer publishes. A computed result under unbounded_noise::estimate_and_flood
  /// is flooded per published value (each counts one against computed_published_values); the
  /// other cases flood as decrypt_for_sharing(c, noise) and pick the slots.
  /// @throws as decrypt_for_sharing; hefl::invalid_argument if a slot index is not below slot_count().
  [[nodiscard]] std::vector<double> decrypt_for_sharing(const ciphertext_type& c, const published_noise& noise,
                                                        std::span<const std::size_t> slots) const {
    for (const std::size_t j : slots)
      if (j >= slot_count())
        throw invalid_argument("ckks_key_holder::decrypt_for_sharing: slot " + std::to_string(j) + " of " +
                               std::to_string(slot_count()));
    if (!noise.is_linear() && m_flooding.computed_noise_bound == 0 &&
        m_flooding.unknown == unbounded_noise::estimate_and_flood)
      return flood_estimated(c, std::vector<std::size_t>(slots.begin(), slots.end()), noise.computed_unit);
    const std::vector<double> all = decrypt_for_sharing(c, noise);
    std::vector<double> out;
    out.reserve(slots.size());
    for (const std::size_t j : slots) out.push_back(all[j]);
    return out;
  }

  /// decrypt_for_sharing(c, he::published_noise::computed()).
  [[nodiscard]] std::vector<double> decrypt_for_sharing(const ciphertext_type& c) const {
    return decrypt_for_sharing(c, published_noise::computed());
  }

  /// decrypt_for_sharing with an explicit noise bound @p noise_bound (coefficient units at c's scale).
  /// @throws as decrypt_for_sharing (precision judged per slot) and ckks::flooding_amplitude.
  [[nodiscard]] std::vector<double> decrypt_for_sharing(const ciphertext_type& c, double noise_bound) const {
    return flood(c, noise_bound, 1);
  }

  /// The flooding options this key holder was made with.
  [[nodiscard]] const ckks_flooding_options& flooding() const noexcept { return m_flooding; }
  /// Counters, for tests and audits: raw decryptions (the key holder's own), flooded decryptions for
  /// sharing, and decryptions for sharing left unflooded by unbounded_noise::raw_decryption_leaks.
  [[nodiscard]] std::uint64_t raw_decryptions() const noexcept { return m_raw; }
  [[nodiscard]] std::uint64_t flooded_decryptions() const noexcept { return m_flooded; }
  [[nodiscard]] std::uint64_t unflooded_decryptions() const noexcept { return m_unflooded; }
  /// Computed results flooded with an estimated bound (unbounded_noise::estimate_and_flood), counted in
  /// flooded_decryptions() too, and the slot values they published (at most
  /// ckks_flooding_options::computed_published_values).
  [[nodiscard]] std::uint64_t estimated_floodings() const noexcept { return m_estimated; }
  [[nodiscard]] std::uint64_t published_computed_values() const noexcept { return m_published_values; }
  /// The largest σ (in value units) of the estimated floodings; 0 if none.
  [[nodiscard]] double largest_flooding_deviation() const noexcept { return m_largest_deviation; }

  [[nodiscard]] std::vector<std::uint8_t> serialize(const ciphertext_type& c) const { return ckks::save(m_params, c); }
  /// @throws hefl::parse_error naming what is wrong.
  [[nodiscard]] ciphertext_type deserialize(std::span<const std::uint8_t> bytes) const {
    return ckks::load_ciphertext(m_params, bytes);
  }

  static constexpr std::string_view public_magic = "HEFLPUB1";
  static constexpr std::string_view evaluation_magic = "HEFLEVK1";

private:
  std::vector<double> flood(const ciphertext_type& c, double bound, double unit) const {
    const ckks::flooding_parameters f{bound, m_flooding.statistical_security};
    const double amplitude = ckks::flooding_amplitude(m_params.poly_degree(), f);
    const double n = static_cast<double>(m_params.poly_degree());
    const double deviation = amplitude * std::sqrt(n / 6) / c.scale() / unit;
    if (!(deviation <= std::ldexp(1.0, -m_flooding.min_precision_bits)))
      throw security_error("ckks_key_holder::decrypt_for_sharing: no room for flooding: U = 2^" +
                           std::to_string(std::log2(amplitude)).substr(0, 5) + " at scale 2^" +
                           std::to_string(std::log2(c.scale())).substr(0, 5) + " leaves a per-slot error of 2^" +
                           std::to_string(std::log2(deviation)).substr(0, 6) + " > 2^-" +
                           std::to_string(m_flooding.min_precision_bits) +
                           "; encrypt at a larger scale (he::ckks_client::encrypt_update, "
                           "he::ckks_aggregation_parameters()): see docs/threat-model.md");
    std::vector<double> out;
    try {
      out = m_decryptor.decrypt_decode_for_sharing(c, m_encoder, f, *m_rng);
    } catch (const invalid_argument& e) {
      if (std::string_view(e.what()).find("does not fit the modulus") == std::string_view::npos) throw;
      throw security_error(std::string("ckks_key_holder::decrypt_for_sharing: no room for flooding: ") + e.what());
    }
    ++m_flooded;
    return out;
  }

  std::vector<std::size_t> all_slots() const {
    std::vector<std::size_t> v(slot_count());
    for (std::size_t j = 0; j < v.size(); ++j) v[j] = j;
    return v;
  }

  // Gaussian flooding of the published slot values of a computed result, its noise estimated from the
  // imaginary parts (unbounded_noise::estimate_and_flood).
  std::vector<double> flood_estimated(const ciphertext_type& c, const std::vector<std::size_t>& slots,
                                      double unit) const {
    if (!std::isfinite(unit) || !(unit > 0))
      throw invalid_argument("ckks_key_holder::decrypt_for_sharing: published_noise::computed_unit must be finite and > 0");
    const double budget = m_flooding.computed_published_values;
    if (static_cast<double>(m_published_values) + static_cast<double>(slots.size()) > budget)
      throw security_error("ckks_key_holder::decrypt_for_sharing: publishing " + std::to_string(slots.size()) +
                           " more computed values would exceed the " + std::to_string(static_cast<long long>(budget)) +
                           " this key's Gaussian flooding was sized for (" + std::to_string(m_published_values) +
                           " published; ckks_flooding_options::computed_published_values): publish only the slots "
                           "needed, use a new key, or size τ larger");
    const auto z = ckks::decode_complex(m_params, m_encoder, m_decryptor.decrypt(c));
    double estimate = 0;
    for (const auto& v : z) estimate = std::max(estimate, std::fabs(v.imag()));
    const double bound = std::exp2(std::ceil(std::log2(std::max(0x1p-60, 2 * estimate))));  // margin 2, a power of 2
    const double sigma = ckks::gaussian_flooding_deviation(bound, m_flooding.computed_statistical_security, budget);
    if (!(sigma / unit <= std::ldexp(1.0, -m_flooding.computed_min_precision_bits)))
      throw security_error("ckks_key_holder::decrypt_for_sharing: no room for flooding a computed result: its noise "
                           "(estimated 2^" + std::to_string(std::log2(std::max(0x1p-60, estimate))).substr(0, 6) +
                           " per slot at scale 2^" + std::to_string(std::log2(c.scale())).substr(0, 5) +
                           ") needs a Gaussian of σ = 2^" + std::to_string(std::log2(sigma)).substr(0, 6) +
                           ", 2^" + std::to_string(std::log2(sigma / unit)).substr(0, 6) + " of a unit of the values > 2^-" +
                           std::to_string(m_flooding.computed_min_precision_bits) +
                           "; compute at a larger scale (he::ckks_encrypted_data_parameters, he::ckks_encrypted_model_parameters), or opt out with "
                           "unbounded_noise::raw_decryption_leaks: see docs/threat-model.md");
    std::vector<double> out;
    out.reserve(slots.size());
    {
      ckks::detail::random_stream rs(*m_rng);
      const auto uniform = [&] { return (static_cast<double>(rs.next_u64() >> 11) + 1) * 0x1p-53; };  // (0, 1]
      for (const std::size_t j : slots) {
        // Box–Muller (one of the pair): a standard normal from two uniforms.
        const double g = std::sqrt(-2 * std::log(uniform())) * std::cos(6.283185307179586 * uniform());
        out.push_back(z[j].real() + sigma * g);
      }
    }
    m_published_values += slots.size();
    ++m_estimated;
    ++m_flooded;
    m_largest_deviation = std::max(m_largest_deviation, sigma);
    return out;
  }

  static void add_unique(std::vector<long long>& steps, long long t) {
    for (const long long s : steps)
      if (s == t) return;
    steps.push_back(t);
  }

  ckks::parameters m_params;
  ckks::encoder m_encoder;
  ckks::key_generator m_keygen;
  ckks::public_key m_public;
  ckks::encryptor m_encryptor;
  ckks::decryptor m_decryptor;
  random_source* m_rng;
  ckks_flooding_options m_flooding;
  mutable std::uint64_t m_raw = 0, m_flooded = 0, m_unflooded = 0, m_estimated = 0, m_published_values = 0;
  mutable double m_largest_deviation = 0;
  std::vector<std::uint8_t> m_evaluation_keys;
};

/// A CKKS client: the public context only. Encrypts; cannot decrypt.
class ckks_client {
public:
  using ciphertext_type = ckks::ciphertext;

  /// Loads ckks_key_holder::public_context() bytes. Parameters marked insecure load only when
  /// @p accept is ckks::security::none_i_know_this_is_insecure.
  /// @throws hefl::parse_error on malformed bytes; hefl::security_error as ckks::load_parameters.
  ckks_client(std::span<const std::uint8_t> public_context, random_source& rng,
              ckks::security accept = ckks::security::classical_128)
      : ckks_client(load(public_context, accept), rng) {}

  ckks_client(const ckks_client&) = delete;
  ckks_client& operator=(const ckks_client&) = delete;

  [[nodiscard]] const ckks::parameters& params() const noexcept { return m_params; }
  [[nodiscard]] std::size_t slot_count() const noexcept { return m_params.slot_count(); }

  /// Encodes @p values into the first slots (the rest are zero) at the default scale and top level,
  /// and encrypts them with the public key.
  /// @throws hefl::invalid_argument if there are more values than slots or a value is not finite
  ///         or too large for the scale.
  [[nodiscard]] ciphertext_type encrypt(std::span<const double> values) {
    detail::check_slot_count(values.size(), slot_count(), "ckks_client", "encrypt");
    return m_encryptor.encrypt(ckks::encode(m_params, m_encoder, values));
  }

  /// Encrypts a model update that the server aggregates (integer weights, no products) and the key
  /// holder decrypts for sharing: at the top level and scale 2^ckks_update_log2_scale(params()),
  /// which leaves the flooding room that the default scale of a computation chain does not.
  /// @throws hefl::invalid_argument as encrypt.
  [[nodiscard]] ciphertext_type encrypt_update(std::span<const double> values) {
    detail::check_slot_count(values.size(), slot_count(), "ckks_client", "encrypt_update");
    return m_encryptor.encrypt(
        ckks::encode(m_params, m_encoder, values, std::exp2(ckks_update_log2_scale(m_params)), m_params.max_level()));
  }

  [[nodiscard]] std::vector<std::uint8_t> serialize(const ciphertext_type& c) const { return ckks::save(m_params, c); }
  /// @throws hefl::parse_error naming what is wrong.
  [[nodiscard]] ciphertext_type deserialize(std::span<const std::uint8_t> bytes) const {
    return ckks::load_ciphertext(m_params, bytes);
  }

private:
  struct loaded {
    ckks::parameters params;
    ckks::public_key pk;
  };
  static loaded load(std::span<const std::uint8_t> bytes, ckks::security accept) {
    const auto parts = detail::unframe(bytes, ckks_key_holder::public_magic, 2, 2, "ckks public context");
    ckks::parameters params = ckks::load_parameters(parts[0], accept);
    ckks::public_key pk = ckks::load_public_key(params, parts[1]);
    return {std::move(params), std::move(pk)};
  }
  ckks_client(loaded l, random_source& rng)
      : m_params(std::move(l.params)), m_encoder(m_params.poly_degree()), m_public(std::move(l.pk)),
        m_encryptor(m_params, m_public, rng) {}

  ckks::parameters m_params;
  ckks::encoder m_encoder;
  ckks::public_key m_public;
  ckks::encryptor m_encryptor;
};

/// The CKKS server (compute party): evaluation keys only. Adds, multiplies, rotates and sums slots;
/// has no secret key, no decrypt and no encrypt.
///
/// Its evaluator accepts scales that differ by at most ckks::adjust_tolerance (2^-32, relative) in
/// additions. Generic algorithms written against the backend concepts (Chebyshev polynomial plans,
/// gradients) add terms that reached one level through different products; with chain primes that
/// are not exactly 2^40 their scales then differ by double rounding (about 1e-12 relative), and an
/// exact-match evaluator would refuse them. 2^-32 keeps the error this admits far below the CKKS
/// noise at scale 2^40. Use ckks::evaluator directly for exact matching.
class ckks_server {
public:
  using ciphertext_type = ckks::ciphertext;
  static constexpr bool is_encrypted = true;
  static constexpr bool free_integer_scalars = true;
  static constexpr bool mixed_levels = true;

  /// Loads ckks_key_holder::evaluation_keys() bytes (see ckks_client for @p accept).
  /// @throws hefl::parse_error on malformed bytes; hefl::security_error as ckks::load_parameters.
  explicit ckks_server(std::span<const std::uint8_t> evaluation_keys,
                       ckks::security accept = ckks::security::classical_128)
      : ckks_server(detail::unframe(evaluation_keys, ckks_key_holder::evaluation_magic, 3, 3, "ckks evaluation keys"),
                    accept) {}

  ckks_server(const ckks_server&) = delete;
  ckks_server& operator=(const ckks_server&) = delete;

  [[nodiscard]] const ckks::parameters& params() const noexcept { return m_params; }
  /// The evaluator, for operations the concept does not name (conjugate, hoisted rotations, ...).
  [[nodiscard]] const ckks::evaluator& evaluator() const noexcept { return m_evaluator; }
  [[nodiscard]] std::size_t slot_count() const noexcept { return m_params.slot_count(); }
  /// Levels of a fresh ciphertext: the number of products it can take.
  [[nodiscard]] int max_depth() const noexcept { return static_cast<int>(m_params.max_level()); }
  /// Products @p c can still take.
  [[nodiscard]] int level(const ciphertext_type& c) const noexcept { return static_cast<int>(c.level()); }

  /// a + b (levels matched). @throws hefl::invalid_argument as ckks::evaluator::add.
  [[nodiscard]] ciphertext_type add(const ciphertext_type& a, const ciphertext_type& b) const {
    return m_evaluator.add(a, b);
  }
  /// a += b. @throws hefl::invalid_argument as ckks::evaluator::add.
  void add_inplace(ciphertext_type& a, const ciphertext_type& b) const { m_evaluator.add_inplace(a, b); }
  /// a - b. @throws hefl::invalid_argument as ckks::evaluator::sub.
  [[nodiscard]] ciphertext_type sub(const ciphertext_type& a, const ciphertext_type& b) const {
    return m_evaluator.sub(a, b);
  }
  /// a · s in every slot: exact and free for an integer s, one level otherwise.
  /// @throws hefl::depth_exhausted if a non-integer s meets a ciphertext at level 0.
  [[nodiscard]] ciphertext_type multiply_scalar(const ciphertext_type& a, double s) const {
    return m_evaluator.multiply_scalar(a, s);
  }
  /// a + values slot-wise (zero-padded); no level consumed.
  /// @throws hefl::invalid_argument if there are more values than slots.
  [[nodiscard]] ciphertext_type add_plain(const ciphertext_type& a, std::span<const double> values) const {
    detail::check_slot_count(values.size(), slot_count(), "ckks_server", "add_plain");
    return m_evaluator.add_plain(a, values);
  }
  /// a · values slot-wise (zero-padded); one level.
  /// @throws hefl::depth_exhausted at level 0; hefl::invalid_argument if there are more values than slots.
  [[nodiscard]] ciphertext_type multiply_plain(const ciphertext_type& a, std::span<const double> values) const {
    detail::check_slot_count(values.size(), slot_count(), "ckks_server", "multiply_plain");
    return m_evaluator.multiply_plain_rescale(a, values);
  }
  /// a · b slot-wise, relinearized and rescaled; one level.
  /// @throws hefl::invalid_argument if the key holder generated no relinearization key.
  /// @throws hefl::depth_exhausted if an operand is at level 0.
  [[nodiscard]] ciphertext_type multiply(const ciphertext_type& a, const ciphertext_type& b) const {
    if (!m_relin)
      throw invalid_argument("ckks_server::multiply: no relinearization key "
                             "(ckks_backend_options::relinearization = false)");
    return m_evaluator.multiply_relin_rescale(a, b, *m_relin);
  }
  /// Slots rotated left by @p steps (negative: right).
  /// @throws hefl::invalid_argument if the key holder generated no rotation keys, or neither the
  ///         step's key nor keys composing it (the message names the step).
  [[nodiscard]] ciphertext_type rotate(const ciphertext_type& a, int steps) const {
    return m_evaluator.rotate(a, steps, galois("rotate"));
  }
  /// Every slot receives the sum of all slots (hoisted radix-4 rounds, see ckks::evaluator::sum_slots).
  /// @throws hefl::invalid_argument if the key holder generated no rotation keys, or not those of
  ///         ckks::evaluator::sum_slots_steps (the message names the missing step).
  [[nodiscard]] ciphertext_type sum_slots(const ciphertext_type& a) const {
    return m_evaluator.sum_slots(a, galois("sum_slots"));
  }
  /// Whether rotate(a, @p steps) finds its keys (the step's own, or signed powers of two composing it).
  [[nodiscard]] bool can_rotate(long long steps) const { return m_galois && m_evaluator.can_rotate(steps, *m_galois); }
  /// Whether sum_slots finds its keys.
  [[nodiscard]] bool can_sum_slots() const { return m_galois && m_evaluator.can_sum_slots(*m_galois); }

  /// The versioned binary form of @p c (see docs/ckks.md).
  [[nodiscard]] std::vector<std::uint8_t> serialize(const ciphertext_type& c) const { return ckks::save(m_params, c); }
  /// @throws hefl::parse_error naming what is wrong (truncation, wrong parameter id, checksum, ...).
  [[nodiscard]] ciphertext_type deserialize(std::span<const std::uint8_t> bytes) const {
    return ckks::load_ciphertext(m_params, bytes);
  }

private:
  ckks_server(const std::vector<std::span<const std::uint8_t>>& parts, ckks::security accept)
      : m_params(ckks::load_parameters(parts[0], accept)),
        m_evaluator(m_params, ckks::relative_scale_tolerance{ckks::adjust_tolerance}) {
    if (!parts[1].empty()) m_relin.emplace(ckks::load_relin_keys(m_params, parts[1]));
    if (!parts[2].empty()) m_galois.emplace(ckks::load_galois_keys(m_params, parts[2]));
  }

  const ckks::galois_keys& galois(const char* op) const {
    if (!m_galois)
      throw invalid_argument(std::string("ckks_server::") + op +
                             ": no rotation keys (ckks_backend_options::rotations = false, or exact_rotations "
                             "lists none)");
    return *m_galois;
  }

  ckks::parameters m_params;
  ckks::evaluator m_evaluator;
  std::optional<ckks::relin_keys> m_relin;
  std::optional<ckks::galois_keys> m_galois;
};

/// The three CKKS roles made from parameters and a random_source, the key holder's public material
/// reaching the client and the server as bytes. Satisfies he::arithmetic_backend by delegating
/// (encrypt to the client, arithmetic to the server, decrypt to the key holder), so one object can
/// stand for all parties in a test or a single-process simulation; the trainer talks to each role
/// through client(), server() and key_holder(). The random source must outlive the object.
class ckks_backend {
public:
  using ciphertext_type = ckks::ciphertext;
  static constexpr bool is_encrypted = true;
  static constexpr bool free_integer_scalars = true;
  static constexpr bool mixed_levels = true;

  /// @throws whatever ckks_key_holder, ckks_client and ckks_server throw.
  ckks_backend(ckks::parameters params, random_source& rng, const ckks_backend_options& options = {})
      : m_key_holder(std::move(params), rng, options),
        m_client(m_key_holder.public_context(), rng, m_key_holder.params().security_level()),
        m_server(m_key_holder.evaluation_keys(), m_key_holder.params().security_level()) {}

  ckks_backend(const ckks_backend&) = delete;
  ckks_backend& operator=(const ckks_backend&) = delete;

  [[nodiscard]] ckks_client& client() noexcept { return m_client; }
  [[nodiscard]] const ckks_server& server() const noexcept { return m_server; }
  [[nodiscard]] ckks_key_holder& key_holder() noexcept { return m_key_holder; }

  [[nodiscard]] const ckks::parameters& params() const noexcept { return m_key_holder.params(); }
  [[nodiscard]] const ckks::evaluator& evaluator() const noexcept { return m_server.evaluator(); }
  [[nodiscard]] const ckks::public_key& public_key() const noexcept { return m_key_holder.public_key(); }

  [[nodiscard]] std::size_t slot_count() const noexcept { return m_server.slot_count(); }
  [[nodiscard]] int max_depth() const noexcept { return m_server.max_depth(); }
  [[nodiscard]] int level(const ciphertext_type& c) const noexcept { return m_server.level(c); }

  /// See ckks_client::encrypt.
  [[nodiscard]] ciphertext_type encrypt(std::span<const double> values) { return m_client.encrypt(values); }
  /// See ckks_client::encrypt_update.
  [[nodiscard]] ciphertext_type encrypt_update(std::span<const double> values) { return m_client.encrypt_update(values); }
  /// The key holder's raw decryption (see ckks_key_holder::decrypt and decrypt_for_sharing).
  [[nodiscard]] std::vector<double> decrypt(const ciphertext_type& c) const { return m_key_holder.decrypt(c); }
  /// See ckks_key_holder::decrypt_for_sharing.
  [[nodiscard]] std::vector<double> decrypt_for_sharing(const ciphertext_type& c, const published_noise& noise) const {
    return m_key_holder.decrypt_for_sharing(c, noise);
  }
  /// See ckks_key_holder::decrypt_for_sharing (published slots only).
  [[nodiscard]] std::vector<double> decrypt_for_sharing(const ciphertext_type& c, const published_noise& noise,
                                                        std::span<const std::size_t> slots) const {
    return m_key_holder.decrypt_for_sharing(c, noise, slots);
  }

  [[nodiscard]] ciphertext_type add(const ciphertext_type& a, const ciphertext_type& b) const { return m_server.add(a, b); }
  void add_inplace(ciphertext_type& a, const ciphertext_type& b) const { m_server.add_inplace(a, b); }
  [[nodiscard]] ciphertext_type sub(const ciphertext_type& a, const ciphertext_type& b) const { return m_server.sub(a, b); }
  [[nodiscard]] ciphertext_type multiply_scalar(const ciphertext_type& a, double s) const {
    return m_server.multiply_scalar(a, s);
  }
  [[nodiscard]] ciphertext_type add_plain(const ciphertext_type& a, std::span<const double> values) const {
    return m_server.add_plain(a, values);
  }
  [[nodiscard]] ciphertext_type multiply_plain(const ciphertext_type& a, std::span<const double> values) const {
    return m_server.multiply_plain(a, values);
  }
  [[nodiscard]] ciphertext_type multiply(const ciphertext_type& a, const ciphertext_type& b) const {
    return m_server.multiply(a, b);
  }
  [[nodiscard]] ciphertext_type rotate(const ciphertext_type& a, int steps) const { return m_server.rotate(a, steps); }
  [[nodiscard]] ciphertext_type sum_slots(const ciphertext_type& a) const { return m_server.sum_slots(a); }
  [[nodiscard]] bool can_rotate(long long steps) const { return m_server.can_rotate(steps); }
  [[nodiscard]] bool can_sum_slots() const { return m_server.can_sum_slots(); }

  [[nodiscard]] std::vector<std::uint8_t> serialize(const ciphertext_type& c) const { return m_server.serialize(c); }
  [[nodiscard]] ciphertext_type deserialize(std::span<const std::uint8_t> bytes) const {
    return m_server.deserialize(bytes);
  }

private:
  ckks_key_holder m_key_holder;
  ckks_client m_client;
  ckks_server m_server;
};

static_assert(arithmetic_backend<ckks_backend> && has_roles<ckks_backend> && has_native_sum_slots<ckks_backend>);
static_assert(has_rotation_key_query<ckks_server> && has_rotation_key_query<ckks_backend>);
namespace detail {
template <class S>
concept can_decrypt = requires(const S& s, const typename S::ciphertext_type& c) { s.decrypt(c); };
} // namespace detail
static_assert(!detail::can_decrypt<ckks_server> && !detail::can_decrypt<ckks_client>,
              "only the key holder role can decrypt");

} // namespace hefl::he
