#pragma once
/// @file
/// he::ckks_backend: hefl's RNS-CKKS (Cheon, Kim, Kim, Song, ASIACRYPT 2017) behind the
/// he::arithmetic_backend concept, so that fl::federated_trainer and approx::evaluate run on real
/// ciphertexts with the same code that runs on he::plain_backend.
///
/// One object holds the parameters, the keys and an evaluator. Levels follow the convenience layer
/// of ckks::evaluator: every product (ciphertext × ciphertext, × plaintext vector, × non-integer
/// scalar) is relinearized and rescaled and consumes exactly one level; additions match levels
/// themselves. level(c) is the number of products c can still take, as in he::plain_backend.

#include <hefl/core/error.hpp>
#include <hefl/core/random.hpp>
#include <hefl/he/backend.hpp>
#include <hefl/he/ckks/decryptor.hpp>
#include <hefl/he/ckks/encoder.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/evaluator.hpp>
#include <hefl/he/ckks/keys.hpp>
#include <hefl/he/ckks/params.hpp>
#include <hefl/he/ckks/serialization.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace hefl::he {

/// Which evaluation keys a ckks_backend generates. Galois keys are the large ones (one key-switching
/// key per rotation step, each ~(L+1)² limbs of N words), so generate only what the computation needs.
struct ckks_backend_options {
  /// Relinearization key, needed by multiply(). Aggregation alone does not need it.
  bool relinearization = true;
  /// Galois keys for sum_slots() (ckks::evaluator::sum_slots_steps) and for rotations by ±2^i, from
  /// which rotate() composes any step. Aggregation alone does not need them.
  bool rotations = true;
  /// Further rotation steps to give a key of their own (one key switch instead of a composition).
  std::vector<long long> extra_rotation_steps;
};

/// CKKS as an he::arithmetic_backend. Holds the secret key: the object is the key holder's. The
/// random source passed in must outlive the backend; it feeds key generation and every encryption.
class ckks_backend {
public:
  using ciphertext_type = ckks::ciphertext;
  static constexpr bool is_encrypted = true;

  /// Generates a secret key, a public key and the evaluation keys @p options asks for.
  /// @throws whatever ckks::key_generator throws (invalid parameters are refused when constructed).
  ckks_backend(ckks::parameters params, random_source& rng, const ckks_backend_options& options = {})
      : m_params(std::move(params)), m_encoder(m_params.poly_degree()), m_evaluator(m_params),
        m_keygen(m_params, rng), m_public(m_keygen.create_public_key()), m_encryptor(m_params, m_public, rng),
        m_decryptor(m_params, m_keygen.secret()) {
    if (options.relinearization) m_relin.emplace(m_keygen.create_relin_keys());
    if (options.rotations) {
      std::vector<long long> steps = ckks::evaluator::sum_slots_steps(m_params.slot_count());
      const auto slots = static_cast<long long>(m_params.slot_count());
      for (long long s = 1; s < slots; s *= 2)
        for (const long long t : {s, -s}) add_unique(steps, t);
      for (const long long t : options.extra_rotation_steps) add_unique(steps, t);
      m_galois.emplace(m_keygen.create_galois_keys(steps));
    }
  }

  ckks_backend(const ckks_backend&) = delete;
  ckks_backend& operator=(const ckks_backend&) = delete;

  /// The parameter set.
  [[nodiscard]] const ckks::parameters& params() const noexcept { return m_params; }
  /// The evaluator, for operations the concept does not name (conjugate, hoisted rotations, ...).
  [[nodiscard]] const ckks::evaluator& evaluator() const noexcept { return m_evaluator; }
  /// The public key (to hand to parties that only encrypt).
  [[nodiscard]] const ckks::public_key& public_key() const noexcept { return m_public; }

  /// N/2 real slots.
  [[nodiscard]] std::size_t slot_count() const noexcept { return m_params.slot_count(); }
  /// Levels of a fresh ciphertext: the number of products it can take.
  [[nodiscard]] int max_depth() const noexcept { return static_cast<int>(m_params.max_level()); }
  /// Products @p c can still take.
  [[nodiscard]] int level(const ciphertext_type& c) const noexcept { return static_cast<int>(c.level()); }

  /// Encodes @p values into the first slots (the rest are zero) at the default scale and top level,
  /// and encrypts them with the public key.
  /// @throws hefl::invalid_argument if there are more values than slots or a value is not finite
  ///         or too large for the scale.
  [[nodiscard]] ciphertext_type encrypt(std::span<const double> values) {
    check_count(values.size(), "encrypt");
    return m_encryptor.encrypt(ckks::encode(m_params, m_encoder, values));
  }

  /// All slot_count() slot values (approximate: CKKS error ~2^-25 relative at scale 2^40).
  /// @throws hefl::invalid_argument if @p c belongs to other parameters.
  [[nodiscard]] std::vector<double> decrypt(const ciphertext_type& c) const {
    return m_decryptor.decrypt_decode(c, m_encoder);
  }

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
    check_count(values.size(), "add_plain");
    return m_evaluator.add_plain(a, values);
  }
  /// a · values slot-wise (zero-padded); one level.
  /// @throws hefl::depth_exhausted at level 0; hefl::invalid_argument if there are more values than slots.
  [[nodiscard]] ciphertext_type multiply_plain(const ciphertext_type& a, std::span<const double> values) const {
    check_count(values.size(), "multiply_plain");
    return m_evaluator.multiply_plain_rescale(a, values);
  }
  /// a · b slot-wise, relinearized and rescaled; one level.
  /// @throws hefl::invalid_argument if the backend was built without a relinearization key.
  /// @throws hefl::depth_exhausted if an operand is at level 0.
  [[nodiscard]] ciphertext_type multiply(const ciphertext_type& a, const ciphertext_type& b) const {
    if (!m_relin)
      throw invalid_argument("ckks_backend::multiply: built without a relinearization key "
                             "(ckks_backend_options::relinearization = false)");
    return m_evaluator.multiply_relin_rescale(a, b, *m_relin);
  }
  /// Slots rotated left by @p steps (negative: right).
  /// @throws hefl::invalid_argument if the backend was built without rotation keys.
  [[nodiscard]] ciphertext_type rotate(const ciphertext_type& a, int steps) const {
    return m_evaluator.rotate(a, steps, galois("rotate"));
  }
  /// Every slot receives the sum of all slots (hoisted radix-4 rounds, see ckks::evaluator::sum_slots).
  /// @throws hefl::invalid_argument if the backend was built without rotation keys.
  [[nodiscard]] ciphertext_type sum_slots(const ciphertext_type& a) const {
    return m_evaluator.sum_slots(a, galois("sum_slots"));
  }

  /// The versioned binary form of @p c (see docs/ckks.md). @throws hefl::invalid_argument if c
  /// belongs to other parameters.
  [[nodiscard]] std::vector<std::uint8_t> serialize(const ciphertext_type& c) const { return ckks::save(m_params, c); }
  /// Loads and validates a ciphertext of these parameters.
  /// @throws hefl::parse_error naming what is wrong (truncation, wrong parameter id, checksum, ...).
  [[nodiscard]] ciphertext_type deserialize(std::span<const std::uint8_t> bytes) const {
    return ckks::load_ciphertext(m_params, bytes);
  }

private:
  static void add_unique(std::vector<long long>& steps, long long t) {
    for (const long long s : steps)
      if (s == t) return;
    steps.push_back(t);
  }

  void check_count(std::size_t count, const char* op) const {
    if (count > slot_count())
      throw invalid_argument(std::string("ckks_backend::") + op + ": " + std::to_string(count) + " values exceed " +
                             std::to_string(slot_count()) + " slots");
  }

  const ckks::galois_keys& galois(const char* op) const {
    if (!m_galois)
      throw invalid_argument(std::string("ckks_backend::") + op +
                             ": built without rotation keys (ckks_backend_options::rotations = false)");
    return *m_galois;
  }

  ckks::parameters m_params;
  ckks::encoder m_encoder;
  ckks::evaluator m_evaluator;
  ckks::key_generator m_keygen;
  ckks::public_key m_public;
  ckks::encryptor m_encryptor;
  ckks::decryptor m_decryptor;
  std::optional<ckks::relin_keys> m_relin;
  std::optional<ckks::galois_keys> m_galois;
};

static_assert(arithmetic_backend<ckks_backend>);

} // namespace hefl::he
