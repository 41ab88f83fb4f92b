#pragma once
/// @file
/// Signed patient records (seed 003, "Save Data to DB"): a measurement of one device for one patient,
/// hashed with SHA-256 (FIPS 180-4) over a canonical, domain-separated encoding, the hash signed by the
/// patient's smart card, and hash plus patient signature countersigned by the collector that forwarded
/// it. Also the storage node's identity_directory: the keys and device groups it learned at enrolment
/// from certificates it validated, which the record store, the storage guard and the access
/// controller verify against.
///
/// Origin: a record built from an accepted request (make_attested_record) carries the device's signed
/// request, byte for byte, as its payload bytes. The storage node then verifies that the device
/// signed exactly the stored measurement (patient, device, data type, payload, timestamp and the
/// collector it was sent to) under the device key it enrolled, so a compromised collector cannot
/// store a value, a patient or a time the device did not send. make_record() still builds a bare
/// record (payload::canonical_bytes() only) for stores fed by trusted code; the storage guard
/// refuses those (unattested).

#include <hefl/core/error.hpp>
#include <hefl/core/serialization.hpp>
#include <hefl/iot/pki/epc.hpp>
#include <hefl/iot/pki/identity.hpp>
#include <hefl/iot/pki/pki.hpp>
#include <hefl/iot/collection/request.hpp>
#include <hefl/iot/collection/rules.hpp>
#include <hefl/iot/pki/signing.hpp>

#include <botan/hex.h>
#include <botan/pk_keys.h>
#include <botan/rng.h>
#include <botan/x509_key.h>
#include <botan/x509cert.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <compare>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hefl::iot {

/// When a measurement was taken: wall-clock milliseconds since 1970, as hashed and stored.
using record_time = std::chrono::sys_time<std::chrono::milliseconds>;

/// Domain tag of the record hash: a record hash can never equal the hash of another hefl message.
inline constexpr std::string_view record_domain = "hefl/record/v1";
/// Domain tag of the bytes a collector signs.
inline constexpr std::string_view record_collector_domain = "hefl/record-collector/v1";

namespace record_detail {

/// Whether @p id can be a patient or collector id (the registry's and the certificates' rule).
[[nodiscard]] inline bool valid_node_id(std::string_view id) noexcept {
  return !id.empty() && id.size() <= identity::max_subject_id &&
         std::all_of(id.begin(), id.end(), [](char c) { return identity::valid_subject_char(c); });
}

inline void put_text(serial::writer& w, std::string_view s) {
  w.put(static_cast<std::uint32_t>(s.size()));
  w.put_bytes(s);
}

inline void put_blob(serial::writer& w, std::span<const std::uint8_t> b) {
  w.put(static_cast<std::uint32_t>(b.size()));
  w.put_span<std::uint8_t>(b);
}

/// Lower-case hex.
[[nodiscard]] inline std::string to_hex(std::span<const std::uint8_t> bytes) {
  return Botan::hex_encode(bytes.data(), bytes.size(), false);
}

/// A string that is safe in ledger fields and messages: untrusted text (an id from a forged record, a
/// requested patient id) is kept when it is a plain id, otherwise logged as "hex:" + up to 64 bytes.
[[nodiscard]] inline std::string loggable(std::string_view text) {
  if (valid_node_id(text)) return std::string(text);
  const auto n = std::min<std::size_t>(text.size(), 64);
  return "hex:" + to_hex(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), n)) +
         (text.size() > n ? "..." : "");
}

} // namespace record_detail

/// Why a record is not acceptable. The first fault found wins, in the order listed.
enum class record_fault : std::uint8_t {
  none,                         ///< the record verifies
  malformed,                    ///< a field breaks the format (id characters, EPC, data type, payload, sizes)
  hash_mismatch,                ///< the stored hash is not SHA-256 of the record's content
  missing_patient_signature,    ///< no patient signature
  unknown_patient_key,          ///< no public key is registered for the patient
  bad_patient_signature,        ///< the patient signature does not verify under the patient's key(s)
  missing_collector_signature,  ///< no collector signature
  unknown_collector_key,        ///< no public key is registered for the collector
  bad_collector_signature,      ///< the collector signature does not verify under the collector's key(s)
  duplicate,                    ///< a record with the same hash is already stored
};

/// The spelling of @p f in messages and ledger entries, e.g. "bad_patient_signature".
[[nodiscard]] constexpr std::string_view to_string(record_fault f) noexcept {
  switch (f) {
    case record_fault::none: return "none";
    case record_fault::malformed: return "malformed";
    case record_fault::hash_mismatch: return "hash_mismatch";
    case record_fault::missing_patient_signature: return "missing_patient_signature";
    case record_fault::unknown_patient_key: return "unknown_patient_key";
    case record_fault::bad_patient_signature: return "bad_patient_signature";
    case record_fault::missing_collector_signature: return "missing_collector_signature";
    case record_fault::unknown_collector_key: return "unknown_collector_key";
    case record_fault::bad_collector_signature: return "bad_collector_signature";
    case record_fault::duplicate: return "duplicate";
  }
  return "unknown";
}

/// The outcome of verifying a record (Botan Path_Validation_Result style: untrusted input gives a
/// verdict, not an exception).
struct record_check {
  record_fault fault = record_fault::none;  ///< none when the record verifies
  std::string message;                      ///< what was expected and what was found; empty when ok

  /// True when the record verifies.
  [[nodiscard]] bool ok() const noexcept { return fault == record_fault::none; }
  /// Same as ok().
  explicit operator bool() const noexcept { return ok(); }
};

/// One stored measurement. Everything except id is covered by the hash or by a signature: content by
/// the hash, the hash by the patient signature, hash + patient signature + collector id by the
/// collector signature.
struct record {
  /// Largest bare payload accepted, in bytes (the largest payload any rule contract may allow).
  static constexpr std::size_t max_payload_bytes = static_cast<std::size_t>(rule_contract::max_payload_limit);
  /// Largest attested payload (a device request carrying up to max_payload_bytes of payload).
  static constexpr std::size_t max_attested_bytes = max_payload_bytes + 1024;
  /// Largest signature accepted, in bytes (Ed25519, ECDSA P-256 and DSA-2048 signatures are 64).
  static constexpr std::size_t max_signature_bytes = 512;

  std::uint64_t id = 0;                          ///< assigned by the record store; 0 before insertion; not hashed
  std::string patient_id;                        ///< the patient measured
  sgtin96 device;                                ///< the device that measured
  std::string data_type;                         ///< equal to the payload's type, e.g. "heart_rate"
  std::vector<std::uint8_t> payload_bytes;       ///< the device's signed request (request::encode(), attested) or
                                                 ///< payload::canonical_bytes() of the measurement (bare)
  record_time timestamp{};                       ///< when the device measured
  record_digest hash{};                          ///< SHA-256 of content_bytes()
  std::vector<std::uint8_t> patient_signature;   ///< the patient card's signature of hash
  std::string collector_id;                      ///< the collector that forwarded the record
  std::vector<std::uint8_t> collector_signature; ///< the collector's signature of collector_message()

  friend bool operator==(const record&, const record&) = default;

  /// Why the record's content breaks the format, or nullopt when it is well-formed: the patient id
  /// (1..64 characters of [A-Za-z0-9-._:@]), the EPC, the data type (an identifier of the rule contract
  /// format), the payload (1..max_payload_bytes canonical bytes whose type is data_type) and a timestamp
  /// not before 1970. Never throws beyond std::bad_alloc.
  [[nodiscard]] std::optional<std::string> content_problem() const {
    if (!record_detail::valid_node_id(patient_id))
      return "patient id \"" + record_detail::loggable(patient_id) + "\": expected 1..64 characters of [A-Za-z0-9-._:@]";
    try {
      device.validate();
    } catch (const hefl::error& e) {
      return std::string("device EPC: ") + e.what();
    }
    if (!detail::is_identifier(data_type))
      return "data type \"" + record_detail::loggable(data_type) + "\": expected 1..64 characters of [A-Za-z0-9_.-]";
    const std::size_t limit = attested() ? max_attested_bytes : max_payload_bytes;
    if (payload_bytes.empty() || payload_bytes.size() > limit)
      return "payload: expected 1.." + std::to_string(limit) + " bytes, got " + std::to_string(payload_bytes.size());
    if (timestamp.time_since_epoch().count() < 0)
      return "timestamp " + std::to_string(timestamp.time_since_epoch().count()) + " ms is before 1970";
    try {
      if (attested()) {
        const auto req = request::decode(payload_bytes, request_limits{max_attested_bytes});
        if (req.device != device) return std::string("device request: signed for another device than the record's");
        if (req.patient_id != patient_id)
          return std::string("device request: signed for another patient than the record's");
        if (req.data.type != data_type)
          return "device request: data type \"" + record_detail::loggable(req.data.type) +
                 "\" differs from the record's \"" + data_type + "\"";
        if (std::chrono::floor<std::chrono::milliseconds>(req.timestamp) != timestamp)
          return std::string("device request: signed with another timestamp than the record's");
        return std::nullopt;
      }
      const auto p = iot::payload::decode(payload_bytes);
      if (p.type != data_type)
        return "payload type \"" + record_detail::loggable(p.type) + "\" differs from the record's data type \"" +
               data_type + "\"";
    } catch (const hefl::error& e) {
      return std::string(attested() ? "device request: " : "payload: ") + e.what();
    }
    return std::nullopt;
  }

  /// Whether the payload bytes are a device's signed request (see the file comment).
  [[nodiscard]] bool attested() const noexcept {
    return payload_bytes.size() >= request::magic.size() &&
           std::equal(request::magic.begin(), request::magic.end(), payload_bytes.begin(),
                      [](char a, std::uint8_t b) { return static_cast<std::uint8_t>(a) == b; });
  }

  /// The device's signed request of an attested record.
  /// @throws hefl::invalid_argument if the record is bare; hefl::iot::request_error if the bytes do not decode
  [[nodiscard]] request device_request() const {
    if (!attested()) throw invalid_argument("record: bare record, it carries no device request");
    return request::decode(payload_bytes, request_limits{max_attested_bytes});
  }

  /// Why the record breaks the format, or nullopt when every field is well-formed: content_problem(),
  /// then the collector id (same rule as the patient id) and signature sizes. Signatures may be empty
  /// here (verification names that fault). Never throws beyond std::bad_alloc.
  [[nodiscard]] std::optional<std::string> format_problem() const {
    if (auto problem = content_problem()) return problem;
    if (!record_detail::valid_node_id(collector_id))
      return "collector id \"" + record_detail::loggable(collector_id) + "\": expected 1..64 characters of [A-Za-z0-9-._:@]";
    if (patient_signature.size() > max_signature_bytes || collector_signature.size() > max_signature_bytes)
      return "signature longer than " + std::to_string(max_signature_bytes) + " bytes";
    if (attested()) {
      try {
        if (device_request().collector_id != collector_id)
          return "device request: addressed to another collector than \"" + record_detail::loggable(collector_id) + "\"";
      } catch (const hefl::error& e) {
        return std::string("device request: ") + e.what();
      }
    }
    return std::nullopt;
  }

  /// Checks the format (see format_problem()).
  /// @throws hefl::invalid_argument naming the first problem
  void validate() const {
    if (auto problem = format_problem()) throw invalid_argument("record: " + *problem);
  }

  /// The canonical content encoding that the hash covers: record_domain, a zero byte, then the patient
  /// id (u32 length + bytes), the 12-byte SGTIN-96 encoding, the data type (u32 length + bytes), the
  /// payload (u32 length + bytes) and the timestamp (int64 milliseconds); integers little-endian.
  /// Length prefixes make the encoding injective, so no two records share content bytes.
  /// @throws hefl::invalid_argument if the EPC is invalid
  [[nodiscard]] std::vector<std::uint8_t> content_bytes() const {
    serial::writer w;
    w.put_bytes(record_domain);
    w.put<std::uint8_t>(0);
    record_detail::put_text(w, patient_id);
    const auto epc = device.encode();
    w.put_span<std::uint8_t>(epc);
    record_detail::put_text(w, data_type);
    record_detail::put_blob(w, payload_bytes);
    w.put<std::int64_t>(timestamp.time_since_epoch().count());
    return std::move(w).take();
  }

  /// SHA-256 (FIPS 180-4) of content_bytes(): what the stored hash must equal.
  /// @throws hefl::invalid_argument if the EPC is invalid
  [[nodiscard]] record_digest compute_hash() const { return sha256(content_bytes()); }

  /// The bytes the collector signs: record_collector_domain, a zero byte, the 32-byte hash, the
  /// collector id (u32 length + bytes) and the patient signature (u32 length + bytes). Binding the
  /// collector id stops one collector from passing another's signature off as its own.
  [[nodiscard]] std::vector<std::uint8_t> collector_message() const {
    serial::writer w;
    w.put_bytes(record_collector_domain);
    w.put<std::uint8_t>(0);
    w.put_span<std::uint8_t>(hash);
    record_detail::put_text(w, collector_id);
    record_detail::put_blob(w, patient_signature);
    return std::move(w).take();
  }

  /// The measurement (from the device's request when attested).
  /// @throws hefl::parse_error if payload_bytes are not a canonical payload or a device request
  [[nodiscard]] iot::payload decode_payload() const {
    if (attested()) return device_request().data;
    return iot::payload::decode(payload_bytes);
  }
};

/// A record with content and hash set, not yet signed (collector side, step 1 of make_record()).
/// @throws hefl::invalid_argument if a field breaks the format (see record::content_problem()) or
///         @p data_type differs from @p p.type
[[nodiscard]] inline record draft_record(std::string patient_id, const sgtin96& device, std::string data_type,
                                         const payload& p, record_time timestamp) {
  if (data_type != p.type)
    throw invalid_argument("record: data type \"" + record_detail::loggable(data_type) +
                           "\" differs from the payload's type \"" + record_detail::loggable(p.type) + "\"");
  record r;
  r.patient_id = std::move(patient_id);
  r.device = device;
  r.data_type = std::move(data_type);
  r.payload_bytes = p.canonical_bytes();
  r.timestamp = timestamp;
  if (auto problem = r.content_problem()) throw invalid_argument("record: " + *problem);
  r.hash = r.compute_hash();
  return r;
}

/// Has the patient's card sign @p r's hash (step 2).
/// @throws hefl::invalid_argument if the card belongs to another patient
template <signing_policy PatientPolicy>
void sign_as_patient(record& r, patient_smart_card<PatientPolicy>& card) {
  if (card.patient_id() != r.patient_id)
    throw invalid_argument("record: the smart card of \"" + record_detail::loggable(card.patient_id()) +
                           "\" cannot sign a record of \"" + record_detail::loggable(r.patient_id) + "\"");
  r.patient_signature = card.sign_digest(r.hash);
}

/// Sets the collector id and countersigns hash + patient signature with the collector's key (step 3).
/// @tparam CollectorPolicy the policy of the collector's certificate key (ECDSA P-256: Botan 2.19 TLS needs it)
/// @throws hefl::invalid_argument if @p collector_id is not a valid id or the key is not of CollectorPolicy
template <signing_policy CollectorPolicy = ecdsa_p256_signing>
void sign_as_collector(record& r, std::string collector_id, const Botan::Private_Key& collector_key,
                       Botan::RandomNumberGenerator& rng) {
  if (!record_detail::valid_node_id(collector_id))
    throw invalid_argument("record: collector id \"" + record_detail::loggable(collector_id) +
                           "\": expected 1..64 characters of [A-Za-z0-9-._:@]");
  r.collector_id = std::move(collector_id);
  r.collector_signature = CollectorPolicy::sign(collector_key, r.collector_message(), rng);
}

/// Builds a complete record on the collector: content and hash, the patient card's signature of the
/// hash, the collector's countersignature.
/// @tparam CollectorPolicy the collector key's policy; PatientPolicy is the card's
/// @throws hefl::invalid_argument on a malformed field, a data type that differs from @p p.type, a card
///         of another patient, or a collector key not of CollectorPolicy
template <signing_policy CollectorPolicy = ecdsa_p256_signing, signing_policy PatientPolicy>
[[nodiscard]] record make_record(std::string patient_id, const sgtin96& device, std::string data_type,
                                 const payload& p, record_time timestamp, patient_smart_card<PatientPolicy>& card,
                                 std::string collector_id, const Botan::Private_Key& collector_key,
                                 Botan::RandomNumberGenerator& rng) {
  record r = draft_record(std::move(patient_id), device, std::move(data_type), p, timestamp);
  sign_as_patient(r, card);
  sign_as_collector<CollectorPolicy>(r, std::move(collector_id), collector_key, rng);
  return r;
}

/// Builds an attested record on the collector from a request it accepted: the payload bytes are the
/// device's signed request as received, content and hash follow from it, then the patient card's
/// signature and the collector's countersignature. The storage guard verifies the device's signature.
/// @tparam CollectorPolicy the collector key's policy; PatientPolicy is the card's
/// @throws hefl::invalid_argument if @p accepted is unsigned or invalid, was addressed to another
///         collector than @p collector_id, the card belongs to another patient, or the key is not of CollectorPolicy
template <signing_policy CollectorPolicy = ecdsa_p256_signing, signing_policy PatientPolicy>
[[nodiscard]] record make_attested_record(const request& accepted, patient_smart_card<PatientPolicy>& card,
                                          std::string collector_id, const Botan::Private_Key& collector_key,
                                          Botan::RandomNumberGenerator& rng) {
  if (accepted.collector_id != collector_id)
    throw invalid_argument("record: the request was addressed to collector \"" +
                           record_detail::loggable(accepted.collector_id) + "\", not \"" +
                           record_detail::loggable(collector_id) + "\"");
  record r;
  r.patient_id = accepted.patient_id;
  r.device = accepted.device;
  r.data_type = accepted.data.type;
  r.payload_bytes = accepted.encode();
  r.timestamp = std::chrono::floor<std::chrono::milliseconds>(accepted.timestamp);
  if (auto problem = r.content_problem()) throw invalid_argument("record: " + *problem);
  r.hash = r.compute_hash();
  sign_as_patient(r, card);
  sign_as_collector<CollectorPolicy>(r, std::move(collector_id), collector_key, rng);
  return r;
}

namespace record_detail {

inline record_check fail(record_fault f, std::string message) { return {f, std::move(message)}; }

/// Format and hash; the shared first half of every verification.
inline record_check check_content(const record& r) {
  if (auto problem = r.format_problem()) return fail(record_fault::malformed, std::move(*problem));
  if (r.compute_hash() != r.hash)
    return fail(record_fault::hash_mismatch, "stored hash " + to_hex(r.hash).substr(0, 16) +
                                                 "... is not SHA-256 of the record's content");
  return {};
}

template <signing_policy PatientPolicy, class Keys>
record_check check_patient(const record& r, const Keys& keys) {
  if (r.patient_signature.empty())
    return fail(record_fault::missing_patient_signature, "record of \"" + r.patient_id + "\" has no patient signature");
  if (keys.empty())
    return fail(record_fault::unknown_patient_key, "no public key is registered for patient \"" + r.patient_id + "\"");
  for (const auto& k : keys)
    if (k && PatientPolicy::verify(*k, r.hash, r.patient_signature)) return {};
  return fail(record_fault::bad_patient_signature,
              "patient signature does not verify as " + std::string(PatientPolicy::algorithm_name) +
                  " under the registered key of \"" + r.patient_id + "\"");
}

template <signing_policy CollectorPolicy, class Keys>
record_check check_collector(const record& r, const Keys& keys) {
  if (r.collector_signature.empty())
    return fail(record_fault::missing_collector_signature, "record has no signature of collector \"" + r.collector_id + "\"");
  if (keys.empty())
    return fail(record_fault::unknown_collector_key,
                "no public key is registered for collector \"" + r.collector_id + "\"");
  const auto message = r.collector_message();
  for (const auto& k : keys)
    if (k && CollectorPolicy::verify(*k, message, r.collector_signature)) return {};
  return fail(record_fault::bad_collector_signature,
              "collector signature does not verify as " + std::string(CollectorPolicy::algorithm_name) +
                  " under the key of \"" + r.collector_id + "\"");
}

} // namespace record_detail

/// Verifies @p r against the given keys: format, hash, patient signature, collector signature, in
/// that order. Never throws for any record (std::bad_alloc aside).
/// @tparam PatientPolicy the patient card's signing policy; CollectorPolicy the collector key's
template <signing_policy PatientPolicy = ed25519_signing, signing_policy CollectorPolicy = ecdsa_p256_signing>
[[nodiscard]] record_check verify_record(const record& r, const Botan::Public_Key& patient_key,
                                         const Botan::Public_Key& collector_key) {
  if (auto c = record_detail::check_content(r); !c) return c;
  const std::array<const Botan::Public_Key*, 1> patient{&patient_key}, collector{&collector_key};
  if (auto c = record_detail::check_patient<PatientPolicy>(r, patient); !c) return c;
  return record_detail::check_collector<CollectorPolicy>(r, collector);
}

/// What the storage node learned at enrolment, from certificates it validated (or keys an operator
/// registered): each patient's card key(s), each collector's key(s), each device's group. Several
/// keys per holder are kept so that records signed before a card or certificate was replaced still
/// verify. In memory only: re-enrol from the certificates when a node starts. Thread-safe.
///
/// The device group lives here, not in the record: a compromised collector writes the record, and
/// could otherwise name a laxer group's contract.
class identity_directory {
public:
  /// Shared, immutable public keys.
  using key_list = std::vector<std::shared_ptr<const Botan::Public_Key>>;

  /// Registers a public key of @p patient_id's card (idempotent).
  /// @throws hefl::invalid_argument on an invalid id
  void add_patient_key(std::string_view patient_id, const Botan::Public_Key& key) {
    add(m_patients, patient_id, "patient id", Botan::X509::BER_encode(key));
  }

  /// Registers a patient key given as DER SubjectPublicKeyInfo, e.g. patient_smart_card::public_key_der().
  /// @throws hefl::invalid_argument on an invalid id; hefl::parse_error if @p der is not a public key
  void add_patient_key_der(std::string_view patient_id, std::span<const std::uint8_t> der) {
    add(m_patients, patient_id, "patient id", std::vector<std::uint8_t>(der.begin(), der.end()));
  }

  /// Registers a collector's public key (idempotent).
  /// @throws hefl::invalid_argument on an invalid id
  void add_collector_key(std::string_view collector_id, const Botan::Public_Key& key) {
    add(m_collectors, collector_id, "collector id", Botan::X509::BER_encode(key));
  }

  /// Registers the group whose rule contract applies to @p device (replacing an earlier one).
  /// @throws hefl::invalid_argument on an invalid EPC
  void set_device_group(const sgtin96& device, std::uint32_t group_id) {
    device.validate();
    const std::unique_lock lock(*m_mutex);
    m_groups.insert_or_assign(device, group_id);
  }

  /// Validates @p chain (a patient's certificate, usage record_signing) and registers its key under the
  /// certificate's subject id. Refused chains change nothing.
  /// @return the validation verdict (never throws for hostile certificates)
  chain_verdict enrol_patient(const std::vector<Botan::X509_Certificate>& chain, const trust_store& trust,
                              clock_time now = std::chrono::system_clock::now()) {
    auto v = validate_chain(chain, trust, cert_usage::record_signing, now, {role::patient});
    if (v) add_from_certificate(m_patients, *v.holder, chain.front());
    return v;
  }

  /// Validates @p chain (a collector's certificate) and registers its key under the subject id.
  /// @return the validation verdict (never throws for hostile certificates)
  chain_verdict enrol_collector(const std::vector<Botan::X509_Certificate>& chain, const trust_store& trust,
                                clock_time now = std::chrono::system_clock::now()) {
    auto v = validate_chain(chain, trust, cert_usage::tls_client, now, {role::collector});
    if (v) add_from_certificate(m_collectors, *v.holder, chain.front());
    return v;
  }

  /// Validates @p chain (a device's certificate) and records the group its identity names, the
  /// certificate (to check its revocation later) and its public key (to verify the device's
  /// signature on every record, see storage_guard).
  /// @return the validation verdict (never throws for hostile certificates)
  chain_verdict enrol_device(const std::vector<Botan::X509_Certificate>& chain, const trust_store& trust,
                             clock_time now = std::chrono::system_clock::now()) {
    auto v = validate_chain(chain, trust, cert_usage::tls_client, now, {role::device});
    if (!v) return v;
    std::shared_ptr<const Botan::Public_Key> key;
    try {
      key = chain.front().load_subject_public_key();
    } catch (const std::exception& e) {
      v.status = chain_status::untrusted;
      v.reason = std::string("the device certificate's key does not load: ") + e.what();
      v.holder.reset();
      return v;
    }
    const auto& epc = *v.holder->device_epc;
    set_device_group(epc, v.holder->group_id);
    const std::unique_lock lock(*m_mutex);
    m_devices.insert_or_assign(epc, enrolled_device{chain.front(), std::move(key)});
    return v;
  }

  /// The certificate and public key a device was enrolled with, if any.
  struct enrolled_device {
    Botan::X509_Certificate certificate;             ///< the device's certificate (end-entity)
    std::shared_ptr<const Botan::Public_Key> key;    ///< its public key
  };

  /// The enrolment of @p device (certificate and key), if it was enrolled.
  [[nodiscard]] std::optional<enrolled_device> device_enrolment(const sgtin96& device) const {
    const std::shared_lock lock(*m_mutex);
    const auto it = m_devices.find(device);
    if (it == m_devices.end()) return std::nullopt;
    return it->second;
  }

  /// Forgets a device's enrolment (group, certificate, key), e.g. when it is deregistered.
  /// @return whether it was enrolled
  bool forget_device(const sgtin96& device) {
    const std::unique_lock lock(*m_mutex);
    const bool had = m_devices.erase(device) > 0;
    return m_groups.erase(device) > 0 || had;
  }

  /// The keys registered for a patient (empty when none).
  [[nodiscard]] key_list patient_keys(std::string_view patient_id) const { return find(m_patients, patient_id); }
  /// The keys registered for a collector (empty when none).
  [[nodiscard]] key_list collector_keys(std::string_view collector_id) const { return find(m_collectors, collector_id); }
  /// The group of a device, if enrolled.
  [[nodiscard]] std::optional<std::uint32_t> device_group(const sgtin96& device) const {
    const std::shared_lock lock(*m_mutex);
    const auto it = m_groups.find(device);
    if (it == m_groups.end()) return std::nullopt;
    return it->second;
  }

private:
  struct entry {
    std::vector<std::vector<std::uint8_t>> der;  // for idempotence
    key_list keys;
  };
  using table = std::map<std::string, entry, std::less<>>;

  void add(table& t, std::string_view id, const char* what, std::vector<std::uint8_t> der) {
    if (!record_detail::valid_node_id(id))
      throw invalid_argument(std::string("identity_directory: ") + what + " \"" + record_detail::loggable(id) +
                             "\": expected 1..64 characters of [A-Za-z0-9-._:@]");
    std::shared_ptr<const Botan::Public_Key> key;
    try {
      key.reset(Botan::X509::load_key(der));
    } catch (const Botan::Exception& e) {
      throw parse_error(std::string("identity_directory: key of \"") + std::string(id) + "\" is not a public key: " + e.what());
    }
    const std::unique_lock lock(*m_mutex);
    auto& e = t[std::string(id)];
    if (std::find(e.der.begin(), e.der.end(), der) != e.der.end()) return;
    e.der.push_back(std::move(der));
    e.keys.push_back(std::move(key));
  }

  void add_from_certificate(table& t, const identity& holder, const Botan::X509_Certificate& cert) {
    add(t, holder.subject_id, "subject id", cert.subject_public_key_info());
  }

  key_list find(const table& t, std::string_view id) const {
    const std::shared_lock lock(*m_mutex);
    const auto it = t.find(id);
    return it == t.end() ? key_list{} : it->second.keys;
  }

  std::unique_ptr<std::shared_mutex> m_mutex = std::make_unique<std::shared_mutex>();
  table m_patients;
  table m_collectors;
  std::map<sgtin96, std::uint32_t> m_groups;
  std::map<sgtin96, enrolled_device> m_devices;
};

/// Verifies @p r against every key @p keys holds for its patient and collector: format, hash,
/// patient signature, collector signature. Never throws for any record (std::bad_alloc aside).
template <signing_policy PatientPolicy = ed25519_signing, signing_policy CollectorPolicy = ecdsa_p256_signing>
[[nodiscard]] record_check verify_record(const record& r, const identity_directory& keys) {
  if (auto c = record_detail::check_content(r); !c) return c;
  if (auto c = record_detail::check_patient<PatientPolicy>(r, keys.patient_keys(r.patient_id)); !c) return c;
  return record_detail::check_collector<CollectorPolicy>(r, keys.collector_keys(r.collector_id));
}

/// A position in a patient's records as record_store::records_of() orders them: (timestamp, id). A page of a read
/// ends at the cursor of its last record; the next page starts after it.
struct record_cursor {
  record_time timestamp{};  ///< the record's timestamp
  std::uint64_t id = 0;     ///< the record's store id
  /// The cursor of @p r (a stored record).
  [[nodiscard]] static record_cursor of(const record& r) noexcept { return {r.timestamp, r.id}; }
  /// Cursors are equal when both fields are.
  bool operator==(const record_cursor&) const = default;
  /// (timestamp, id) order, the order of records_of().
  auto operator<=>(const record_cursor&) const = default;
};

} // namespace hefl::iot
