#pragma once
/// @file
/// Signing policies (Ed25519, ECDSA P-256, DSA-2048) behind one concept, and the patient smart card
/// that signs record hashes with the patient's key (seed 003, "Save Data to DB": the hash of the data
/// is signed with the private key on the patient's smart card before the database accepts it).
///
/// A policy is a type with static members only, so the collector validator can name it as a template
/// argument and call it without holding state. verify() never throws: untrusted signatures and keys of
/// the wrong algorithm or parameters are simply not valid.

#include <hefl/core/error.hpp>
#include <hefl/iot/pki/key_validation.hpp>

#include <botan/auto_rng.h>
#include <botan/dl_group.h>
#include <botan/dsa.h>
#include <botan/ec_group.h>
#include <botan/ecdsa.h>
#include <botan/ed25519.h>
#include <botan/hash.h>
#include <botan/pk_keys.h>
#include <botan/pubkey.h>
#include <botan/rng.h>
#include <botan/x509_key.h>

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hefl::iot {

/// A freshly generated signing key pair. The public key is a separate object so it can be handed out
/// (to a certificate request, a registry) while the private key stays where it was generated.
struct key_pair {
  std::unique_ptr<Botan::Private_Key> private_key;  ///< the secret half; never log or serialise it
  std::unique_ptr<Botan::Public_Key> public_key;    ///< the matching public key
};

/// A signature scheme usable for records, rule deployments and ledger seals.
///
/// Requirements, all static: `algorithm_name` (a string constant), `generate(rng)` -> key_pair,
/// `sign(private_key, message, rng)` -> signature bytes (throws hefl::invalid_argument for a key of
/// another algorithm), `verify(public_key, message, signature)` -> bool and noexcept, and
/// `accepts_key(public_key)` -> bool and noexcept (is this key of the policy's algorithm and parameters).
template <class P>
concept signing_policy = requires(Botan::RandomNumberGenerator& rng, const Botan::Private_Key& private_key,
                                  const Botan::Public_Key& public_key, std::span<const std::uint8_t> bytes) {
  { P::algorithm_name } -> std::convertible_to<std::string_view>;
  { P::generate(rng) } -> std::same_as<key_pair>;
  { P::sign(private_key, bytes, rng) } -> std::same_as<std::vector<std::uint8_t>>;
  { P::verify(public_key, bytes, bytes) } noexcept -> std::same_as<bool>;
  { P::accepts_key(public_key) } noexcept -> std::same_as<bool>;
};

namespace detail {

/// Splits a freshly generated private key into the key_pair shape; the public half is re-read from
/// its SubjectPublicKeyInfo so it shares no state with the private object.
inline key_pair split_key_pair(std::unique_ptr<Botan::Private_Key> private_key) {
  std::unique_ptr<Botan::Public_Key> public_key(Botan::X509::load_key(Botan::X509::BER_encode(*private_key)));
  return key_pair{std::move(private_key), std::move(public_key)};
}

/// Signs with Botan after checking that the key belongs to the policy; the shared body of the policies.
template <class Policy>
std::vector<std::uint8_t> sign_with(const Botan::Private_Key& private_key, std::span<const std::uint8_t> message,
                                    Botan::RandomNumberGenerator& rng, std::string_view padding,
                                    Botan::Signature_Format format) {
  if (!Policy::accepts_key(private_key))
    throw invalid_argument(std::string(Policy::algorithm_name) + " signing: expected a " +
                           std::string(Policy::algorithm_name) + " private key, got " + private_key.algo_name() +
                           " (" + std::to_string(private_key.key_length()) + " bits)");
  Botan::PK_Signer signer(private_key, rng, std::string(padding), format);
  return signer.sign_message(message.data(), message.size(), rng);
}

/// Verifies with Botan; any exception from a malformed key or signature means "not valid".
template <class Policy>
bool verify_with(const Botan::Public_Key& public_key, std::span<const std::uint8_t> message,
                 std::span<const std::uint8_t> signature, std::string_view padding, Botan::Signature_Format format,
                 std::size_t expected_signature_size) noexcept {
  if (!Policy::accepts_key(public_key)) return false;
  if (expected_signature_size != 0 && signature.size() != expected_signature_size) return false;
  try {
    Botan::PK_Verifier verifier(public_key, std::string(padding), format);
    return verifier.verify_message(message.data(), message.size(), signature.data(), signature.size());
  } catch (...) {  // verify() is a predicate over untrusted input: every failure is a "no"
    return false;
  }
}

} // namespace detail

/// Ed25519 (RFC 8032, pure EdDSA): the default for records. Signatures are 64 bytes and deterministic.
struct ed25519_signing {
  /// The scheme, as shown in logs and ledger entries.
  static constexpr std::string_view algorithm_name = "Ed25519";
  /// Size of every valid signature in bytes (RFC 8032 §5.1.6).
  static constexpr std::size_t signature_size = 64;

  /// A new key pair drawn from @p rng (use Botan's system RNG for real keys).
  /// @throws Botan::Exception only if the RNG fails
  static key_pair generate(Botan::RandomNumberGenerator& rng) {
    return detail::split_key_pair(std::make_unique<Botan::Ed25519_PrivateKey>(rng));
  }

  /// Signs @p message (the whole message: pure Ed25519 hashes internally with SHA-512).
  /// @throws hefl::invalid_argument if @p private_key is not an Ed25519 key
  static std::vector<std::uint8_t> sign(const Botan::Private_Key& private_key, std::span<const std::uint8_t> message,
                                        Botan::RandomNumberGenerator& rng) {
    return detail::sign_with<ed25519_signing>(private_key, message, rng, "Pure", Botan::IEEE_1363);
  }

  /// True when @p signature is a valid Ed25519 signature of @p message under @p public_key; false for
  /// anything else, including keys of other algorithms and signatures of the wrong length.
  static bool verify(const Botan::Public_Key& public_key, std::span<const std::uint8_t> message,
                     std::span<const std::uint8_t> signature) noexcept {
    return detail::verify_with<ed25519_signing>(public_key, message, signature, "Pure", Botan::IEEE_1363,
                                                signature_size);
  }

  /// True when @p key is an Ed25519 key with a canonical encoding that is not a small-order point
  /// (check_public_key at encoding depth: with the identity as key, R = identity, S = 0 verifies anything).
  static bool accepts_key(const Botan::Public_Key& key) noexcept {
    try {
      return key.algo_name() == "Ed25519" && check_public_key(key, key_check_depth::encoding).ok();
    } catch (...) {
      return false;
    }
  }
};

/// ECDSA over NIST P-256 with SHA-256 (FIPS 186-4, SEC 1). Signatures use the IEEE 1363 encoding,
/// the fixed 64 bytes r || s, not DER: a fixed size keeps record and ledger sizes predictable and leaves
/// no ASN.1 parsing of untrusted signature bytes. ECDSA signatures are malleable ((r, n - s) is valid
/// too), so never use signature bytes as an identifier; replay protection uses nonces, not signatures.
struct ecdsa_p256_signing {
  /// The scheme, as shown in logs and ledger entries.
  static constexpr std::string_view algorithm_name = "ECDSA-P256-SHA256";
  /// Size of every valid signature in bytes (two 32-byte integers).
  static constexpr std::size_t signature_size = 64;

  /// A new key pair on P-256 drawn from @p rng.
  /// @throws Botan::Exception only if the RNG fails
  static key_pair generate(Botan::RandomNumberGenerator& rng) {
    return detail::split_key_pair(std::make_unique<Botan::ECDSA_PrivateKey>(rng, curve()));
  }

  /// Signs SHA-256(@p message).
  /// @throws hefl::invalid_argument if @p private_key is not an ECDSA key on P-256
  static std::vector<std::uint8_t> sign(const Botan::Private_Key& private_key, std::span<const std::uint8_t> message,
                                        Botan::RandomNumberGenerator& rng) {
    return detail::sign_with<ecdsa_p256_signing>(private_key, message, rng, "EMSA1(SHA-256)", Botan::IEEE_1363);
  }

  /// True when @p signature (r || s, 64 bytes) is valid for @p message under @p public_key; false for
  /// anything else, including DER-encoded signatures and keys on other curves.
  static bool verify(const Botan::Public_Key& public_key, std::span<const std::uint8_t> message,
                     std::span<const std::uint8_t> signature) noexcept {
    return detail::verify_with<ecdsa_p256_signing>(public_key, message, signature, "EMSA1(SHA-256)",
                                                   Botan::IEEE_1363, signature_size);
  }

  /// True when @p key is an ECDSA key on P-256 whose point is on the curve and not the identity.
  static bool accepts_key(const Botan::Public_Key& key) noexcept {
    try {
      if (key.algo_name() != "ECDSA") return false;
      const auto* ec = dynamic_cast<const Botan::EC_PublicKey*>(&key);
      return ec != nullptr && ec->domain() == curve() && check_public_key(key, key_check_depth::encoding).ok();
    } catch (...) {
      return false;
    }
  }

  /// The curve P-256 (secp256r1), built once.
  static const Botan::EC_Group& curve() {
    static const Botan::EC_Group group("secp256r1");
    return group;
  }
};

/// DSA with SHA-256 (FIPS 186-4), the paper's choice for signing patient data. Keys are generated in
/// Botan's fixed 2048-bit group "dsa/botan/2048" (q of 256 bits); verification accepts any DSA key
/// with p >= 2048 and q >= 224 bits (FIPS 186-4 §4.2) and refuses smaller, insecure groups.
/// Signatures use the IEEE 1363 encoding r || s (2 * |q| bytes), for the same reasons as ECDSA above.
struct dsa2048_signing {
  /// The scheme, as shown in logs and ledger entries.
  static constexpr std::string_view algorithm_name = "DSA-2048-SHA256";
  /// Smallest modulus accepted, in bits.
  static constexpr std::size_t min_p_bits = 2048;
  /// Smallest subgroup order accepted, in bits.
  static constexpr std::size_t min_q_bits = 224;

  /// A new key pair in the group dsa/botan/2048 drawn from @p rng.
  /// @throws Botan::Exception only if the RNG fails
  static key_pair generate(Botan::RandomNumberGenerator& rng) {
    return detail::split_key_pair(std::make_unique<Botan::DSA_PrivateKey>(rng, group()));
  }

  /// Signs SHA-256(@p message).
  /// @throws hefl::invalid_argument if @p private_key is not a DSA key with p >= 2048 and q >= 224 bits
  static std::vector<std::uint8_t> sign(const Botan::Private_Key& private_key, std::span<const std::uint8_t> message,
                                        Botan::RandomNumberGenerator& rng) {
    return detail::sign_with<dsa2048_signing>(private_key, message, rng, "EMSA1(SHA-256)", Botan::IEEE_1363);
  }

  /// True when @p signature is a valid DSA signature of @p message under @p public_key; false for
  /// anything else, including keys of other algorithms and DSA groups below 2048 bits.
  static bool verify(const Botan::Public_Key& public_key, std::span<const std::uint8_t> message,
                     std::span<const std::uint8_t> signature) noexcept {
    // The size (2 * |q| bytes) depends on the key's group; Botan checks it against the key.
    return detail::verify_with<dsa2048_signing>(public_key, message, signature, "EMSA1(SHA-256)",
                                                Botan::IEEE_1363, 0);
  }

  /// True when @p key is a DSA key with p >= 2048 and q >= 224 bits, q | p - 1, 1 < g < p - 1 and
  /// 1 < y < p - 1 (check_public_key at encoding depth: with g = y = 1, r = 1 verifies anything).
  static bool accepts_key(const Botan::Public_Key& key) noexcept {
    try {
      if (key.algo_name() != "DSA") return false;
      const auto* dl = dynamic_cast<const Botan::DL_Scheme_PublicKey*>(&key);
      return dl != nullptr && dl->get_group().p_bits() >= min_p_bits && dl->get_group().q_bits() >= min_q_bits &&
             check_public_key(key, key_check_depth::encoding).ok();
    } catch (...) {
      return false;
    }
  }

  /// The group dsa/botan/2048, built once.
  static const Botan::DL_Group& group() {
    static const Botan::DL_Group g("dsa/botan/2048");
    return g;
  }
};

static_assert(signing_policy<ed25519_signing>);
static_assert(signing_policy<ecdsa_p256_signing>);
static_assert(signing_policy<dsa2048_signing>);

/// SHA-256 digest of a record's canonical bytes.
using record_digest = std::array<std::uint8_t, 32>;

/// SHA-256 (FIPS 180-4) of @p bytes.
/// @throws Botan::Exception only if SHA-256 is unavailable in the Botan build
[[nodiscard]] inline record_digest sha256(std::span<const std::uint8_t> bytes) {
  const auto hash = Botan::HashFunction::create_or_throw("SHA-256");
  hash->update(bytes.data(), bytes.size());
  record_digest out{};
  hash->final(out.data());
  return out;
}

/// A patient's smart card: it holds the patient's private key and signs SHA-256 hashes of records.
/// The private key never leaves the object (no getter, no copy); it is generated on the card or moved
/// in once at provisioning. Movable (a moved-from card holds nothing and must not be used); signing is
/// serialised by an internal mutex, so one card may be shared by several collector threads.
/// @tparam SigningPolicy a hefl::iot::signing_policy, Ed25519 by default
template <signing_policy SigningPolicy = ed25519_signing>
class patient_smart_card {
public:
  /// The policy the card signs with.
  using policy = SigningPolicy;

  /// Generates a fresh key pair on the card from @p rng.
  /// @throws hefl::invalid_argument if @p patient_id is empty
  patient_smart_card(std::string patient_id, Botan::RandomNumberGenerator& rng)
      : patient_smart_card(std::move(patient_id), SigningPolicy::generate(rng)) {}

  /// Provisions the card with an existing private key, which is moved in and cannot be read back.
  /// @throws hefl::invalid_argument if @p patient_id is empty, @p private_key is null or not a key of
  ///         the card's signing policy
  patient_smart_card(std::string patient_id, std::unique_ptr<Botan::Private_Key> private_key)
      : patient_smart_card(std::move(patient_id), checked_pair(std::move(private_key))) {}

  patient_smart_card(const patient_smart_card&) = delete;
  patient_smart_card& operator=(const patient_smart_card&) = delete;
  patient_smart_card(patient_smart_card&&) noexcept = default;
  patient_smart_card& operator=(patient_smart_card&&) noexcept = default;
  ~patient_smart_card() = default;

  /// The patient this card belongs to.
  [[nodiscard]] const std::string& patient_id() const noexcept { return m_patient_id; }

  /// The patient's public key, for verifying record signatures and for the patient's certificate.
  [[nodiscard]] const Botan::Public_Key& public_key() const noexcept { return *m_state->public_key; }

  /// The public key as DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7), e.g. for a registry.
  [[nodiscard]] std::vector<std::uint8_t> public_key_der() const { return Botan::X509::BER_encode(public_key()); }

  /// Signs SHA-256(@p record_bytes), the record's canonical bytes.
  /// @throws Botan::Exception only if the card's RNG fails
  [[nodiscard]] std::vector<std::uint8_t> sign_record(std::span<const std::uint8_t> record_bytes) {
    return sign_digest(sha256(record_bytes));
  }

  /// Signs a record hash computed elsewhere (the paper's collectors hash, the card signs the hash).
  /// @throws Botan::Exception only if the card's RNG fails
  [[nodiscard]] std::vector<std::uint8_t> sign_digest(const record_digest& digest) {
    const std::lock_guard lock(m_state->mutex);
    return SigningPolicy::sign(*m_state->private_key, digest, m_state->rng);
  }

  /// True when @p signature is this scheme's signature of SHA-256(@p record_bytes) under @p public_key;
  /// what the storage node checks before it accepts a record. Never throws.
  [[nodiscard]] static bool verify_record(const Botan::Public_Key& public_key,
                                          std::span<const std::uint8_t> record_bytes,
                                          std::span<const std::uint8_t> signature) noexcept {
    try {
      const record_digest digest = sha256(record_bytes);
      return SigningPolicy::verify(public_key, digest, signature);
    } catch (...) {
      return false;
    }
  }

private:
  struct state {
    std::unique_ptr<Botan::Private_Key> private_key;
    std::unique_ptr<Botan::Public_Key> public_key;
    Botan::AutoSeeded_RNG rng;  // ECDSA and DSA blind with fresh randomness on every signature
    std::mutex mutex;
  };

  patient_smart_card(std::string patient_id, key_pair keys)
      : m_patient_id(std::move(patient_id)), m_state(std::make_unique<state>()) {
    if (m_patient_id.empty()) throw invalid_argument("patient_smart_card: expected a patient id, got an empty string");
    m_state->private_key = std::move(keys.private_key);
    m_state->public_key = std::move(keys.public_key);
  }

  static key_pair checked_pair(std::unique_ptr<Botan::Private_Key> private_key) {
    if (!private_key) throw invalid_argument("patient_smart_card: expected a private key, got null");
    if (!SigningPolicy::accepts_key(*private_key))
      throw invalid_argument("patient_smart_card: expected a " + std::string(SigningPolicy::algorithm_name) +
                             " key, got " + private_key->algo_name());
    return detail::split_key_pair(std::move(private_key));
  }

  std::string m_patient_id;
  std::unique_ptr<state> m_state;
};

} // namespace hefl::iot
