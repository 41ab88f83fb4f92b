#pragma once
/// @file
/// A device's request to a collector (seed 003, "Data Transmission": device id, the measurement, a
/// timestamp against replays, signed by the device): device EPC, the collector it is addressed to,
/// patient id, the payload of rules.hpp, timestamp, nonce and the device's signature, with a strict
/// binary wire form.
///
/// Wire form, all integers little-endian, every variable field length-prefixed (u32):
///   "HRQ2"                          magic, format version 2
///   12 bytes                        device id, SGTIN-96 binary (epc.hpp)
///   u32 n, n bytes                  collector id, 1..64 characters as in identity.hpp subject ids
///   u32 n, n bytes                  patient id, 1..64 characters as in identity.hpp subject ids
///   u32 n, n bytes                  payload::canonical_bytes() (data type and fields)
///   i64                             timestamp, milliseconds since 1970-01-01 UTC, >= 0
///   u32 n, n bytes                  nonce, 8..64 bytes
///   u32 n, n bytes                  signature, 1..512 bytes
/// The device signs signing_domain, one zero byte, then every byte before the signature field
/// (magic through nonce): domain separation keeps a device signature from being valid in another
/// hefl protocol (rule deployments, records), and the length prefixes make the message unambiguous.
/// The collector id is signed, so a request captured on its way to one collector is refused by every
/// other (collector_validator: misaddressed); version 1 had no collector id and is no longer accepted.

#include <hefl/core/error.hpp>
#include <hefl/core/serialization.hpp>
#include <hefl/iot/pki/epc.hpp>
#include <hefl/iot/pki/identity.hpp>
#include <hefl/iot/collection/rules.hpp>
#include <hefl/iot/pki/signing.hpp>

#include <botan/pk_keys.h>
#include <botan/rng.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hefl::iot {

/// Request timestamps: wall time with millisecond resolution, the resolution of the wire form.
using request_time = std::chrono::sys_time<std::chrono::milliseconds>;

/// The current system time truncated to milliseconds, for request timestamps.
[[nodiscard]] inline request_time request_now() noexcept {
  return std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

/// Size limits applied when decoding or validating a request.
struct request_limits {
  /// Largest encoded request accepted, in bytes (the whole wire form).
  std::size_t max_bytes = 16 * 1024;
};

/// What was wrong with the bytes of a request.
enum class request_problem : std::uint8_t {
  oversized,  ///< more bytes than request_limits::max_bytes
  truncated,  ///< the bytes end inside a field
  trailing,   ///< bytes left after the signature
  malformed,  ///< a field has a wrong magic, length, value or encoding
};

/// The spelling of @p p used in messages, e.g. "truncated".
[[nodiscard]] constexpr std::string_view to_string(request_problem p) noexcept {
  switch (p) {
    case request_problem::oversized: return "oversized";
    case request_problem::truncated: return "truncated";
    case request_problem::trailing: return "trailing";
    case request_problem::malformed: return "malformed";
  }
  return "?";
}

/// A request's bytes could not be decoded; problem() says which way they were wrong.
class request_error : public parse_error {
public:
  /// @p message names the field and what was expected.
  request_error(request_problem problem, const std::string& message)
      : parse_error("request (" + std::string(to_string(problem)) + "): " + message), m_problem(problem) {}
  /// Which way the bytes were wrong.
  [[nodiscard]] request_problem problem() const noexcept { return m_problem; }

private:
  request_problem m_problem;
};

/// A device's measurement for one patient, as sent to a collector.
struct request {
  /// Magic prefix of the wire form, version 2.
  static constexpr std::string_view magic = "HRQ2";
  /// Domain-separation tag in front of the signed bytes.
  static constexpr std::string_view signing_domain = "hefl/device-request/v2";
  /// Shortest nonce accepted: 8 bytes keep accidental repeats unlikely (16 random bytes recommended).
  static constexpr std::size_t min_nonce_bytes = 8;
  /// Longest nonce accepted.
  static constexpr std::size_t max_nonce_bytes = 64;
  /// Longest signature accepted (Ed25519, ECDSA P-256 and DSA with a 256-bit q all use 64 bytes).
  static constexpr std::size_t max_signature_bytes = 512;
  /// Longest patient id, as identity::max_subject_id.
  static constexpr std::size_t max_patient_id = identity::max_subject_id;

  sgtin96 device;                       ///< the sending device's EPC, as in its certificate
  std::string collector_id;             ///< the collector the device addresses (signed: no other collector accepts it)
  std::string patient_id;               ///< the patient measured (registry key)
  payload data;                         ///< data type and fields, checked against the group's rule contract
  request_time timestamp{};             ///< when the device took the measurement
  std::vector<std::uint8_t> nonce;      ///< fresh per request (replay protection)
  std::vector<std::uint8_t> signature;  ///< the device key's signature over signing_bytes(); empty = unsigned

  /// The data type of the payload.
  [[nodiscard]] const std::string& data_type() const noexcept { return data.type; }

  /// Why this request cannot be encoded or signed, or nullopt if it can. The signature is only checked
  /// for its length (an empty signature is allowed here: an unsigned request can still be signed).
  [[nodiscard]] std::optional<std::string> problem() const noexcept {
    try {
      device.validate();
    } catch (const std::exception& e) {
      return std::string("device id: ") + e.what();
    }
    if (collector_id.empty() || collector_id.size() > max_patient_id)
      return "collector id: expected 1.." + std::to_string(max_patient_id) + " characters, got " +
             std::to_string(collector_id.size());
    for (const char c : collector_id) {
      if (!identity::valid_subject_char(c)) return std::string("collector id: expected letters, digits or -._:@");
    }
    if (patient_id.empty() || patient_id.size() > max_patient_id)
      return "patient id: expected 1.." + std::to_string(max_patient_id) + " characters, got " +
             std::to_string(patient_id.size());
    for (const char c : patient_id) {
      if (!identity::valid_subject_char(c)) return std::string("patient id: expected letters, digits or -._:@");
    }
    std::string bad_field;
    if (!data.canonical_size(&bad_field)) return "payload field '" + bad_field + "' cannot be encoded";
    if (data.type.size() > std::numeric_limits<std::uint32_t>::max())
      return std::string("payload type: longer than 2^32-1 bytes");
    if (timestamp.time_since_epoch().count() < 0)
      return "timestamp: " + std::to_string(timestamp.time_since_epoch().count()) + " ms is before 1970";
    if (nonce.size() < min_nonce_bytes || nonce.size() > max_nonce_bytes)
      return "nonce: expected " + std::to_string(min_nonce_bytes) + ".." + std::to_string(max_nonce_bytes) +
             " bytes, got " + std::to_string(nonce.size());
    if (signature.size() > max_signature_bytes)
      return "signature: expected at most " + std::to_string(max_signature_bytes) + " bytes, got " +
             std::to_string(signature.size());
    return std::nullopt;
  }

  /// The size encode() would produce, or nullopt if problem() is set.
  [[nodiscard]] std::optional<std::size_t> encoded_size() const noexcept {
    if (problem()) return std::nullopt;
    const auto payload_size = data.canonical_size();
    return magic.size() + 12 + 4 + collector_id.size() + 4 + patient_id.size() + 4 + *payload_size + 8 + 4 + nonce.size() + 4 +
           signature.size();
  }

  /// The bytes the device signs: signing_domain, a zero byte, then the wire form up to the signature.
  /// @throws hefl::invalid_argument naming the field if problem() is set
  [[nodiscard]] std::vector<std::uint8_t> signing_bytes() const {
    std::vector<std::uint8_t> out(signing_domain.begin(), signing_domain.end());
    out.push_back(0);
    const auto body = encode_body();
    out.insert(out.end(), body.begin(), body.end());
    return out;
  }

  /// The wire form (see the file comment).
  /// @throws hefl::invalid_argument naming the field if problem() is set or the request is unsigned
  [[nodiscard]] std::vector<std::uint8_t> encode() const {
    if (signature.empty()) throw invalid_argument("request: unsigned, sign it (sign_request) before encoding");
    auto bytes = encode_body();
    serial::writer w;
    w.put(static_cast<std::uint32_t>(signature.size()));
    w.put_span<std::uint8_t>(signature);
    const auto tail = std::move(w).take();
    bytes.insert(bytes.end(), tail.begin(), tail.end());
    return bytes;
  }

  /// Decodes untrusted bytes strictly: the size limit first, then every field in order, then no
  /// trailing bytes. The signature is not verified here (the collector validator does that).
  /// @throws hefl::iot::request_error (a hefl::parse_error) whose problem() is oversized, truncated,
  ///         trailing or malformed, with a message naming the field
  [[nodiscard]] static request decode(std::span<const std::uint8_t> bytes, request_limits limits = {}) {
    if (bytes.size() > limits.max_bytes)
      throw request_error(request_problem::oversized, std::to_string(bytes.size()) + " bytes exceed the limit of " +
                                                          std::to_string(limits.max_bytes));
    cursor c{bytes};
    const auto m = c.take(magic.size(), "magic");
    if (!std::equal(m.begin(), m.end(), magic.begin(), magic.end(),
                    [](std::uint8_t a, char b) { return a == static_cast<std::uint8_t>(b); }))
      throw request_error(request_problem::malformed, "magic: expected \"HRQ2\", this is not a hefl request (version 2)");
    request r;
    const auto epc = c.take(12, "device id");
    try {
      r.device = sgtin96::decode(epc);
    } catch (const parse_error& e) {
      throw request_error(request_problem::malformed, std::string("device id: ") + e.what());
    }
    const auto collector = c.take_prefixed(max_patient_id, "collector id");
    r.collector_id.assign(collector.begin(), collector.end());
    const auto patient = c.take_prefixed(max_patient_id, "patient id");
    r.patient_id.assign(patient.begin(), patient.end());
    const auto payload_bytes = c.take_prefixed(limits.max_bytes, "payload");
    try {
      r.data = payload::decode(payload_bytes);
    } catch (const parse_error& e) {
      throw request_error(request_problem::malformed, std::string("payload: ") + e.what());
    }
    const auto ms = c.take_int64("timestamp");
    r.timestamp = request_time(std::chrono::milliseconds(ms));
    const auto nonce_bytes = c.take_prefixed(max_nonce_bytes, "nonce");
    r.nonce.assign(nonce_bytes.begin(), nonce_bytes.end());
    const auto signature_bytes = c.take_prefixed(max_signature_bytes, "signature");
    r.signature.assign(signature_bytes.begin(), signature_bytes.end());
    if (c.remaining() != 0)
      throw request_error(request_problem::trailing,
                          std::to_string(c.remaining()) + " bytes after the signature, expected none");
    if (r.signature.empty()) throw request_error(request_problem::malformed, "signature: empty, the request is unsigned");
    if (const auto p = r.problem()) throw request_error(request_problem::malformed, *p);
    return r;
  }

  /// Equal when every field, the signature included, is equal.
  friend bool operator==(const request& a, const request& b) {
    return a.device == b.device && a.collector_id == b.collector_id && a.patient_id == b.patient_id && a.data == b.data && a.timestamp == b.timestamp &&
           a.nonce == b.nonce && a.signature == b.signature;
  }

private:
  // Everything before the signature field.
  std::vector<std::uint8_t> encode_body() const {
    if (const auto p = problem()) throw invalid_argument("request: " + *p);
    serial::writer w;
    w.put_bytes(magic);
    const auto epc = device.encode();
    w.put_span<std::uint8_t>(epc);
    w.put(static_cast<std::uint32_t>(collector_id.size()));
    w.put_bytes(collector_id);
    w.put(static_cast<std::uint32_t>(patient_id.size()));
    w.put_bytes(patient_id);
    const auto body = data.canonical_bytes();
    w.put(static_cast<std::uint32_t>(body.size()));
    w.put_span<std::uint8_t>(body);
    w.put(static_cast<std::int64_t>(timestamp.time_since_epoch().count()));
    w.put(static_cast<std::uint32_t>(nonce.size()));
    w.put_span<std::uint8_t>(nonce);
    return std::move(w).take();
  }

  // A reader that tells truncation (the bytes end) from malformation (a declared length out of bounds).
  struct cursor {
    std::span<const std::uint8_t> bytes;
    std::size_t pos = 0;

    [[nodiscard]] std::size_t remaining() const noexcept { return bytes.size() - pos; }

    std::span<const std::uint8_t> take(std::size_t n, const char* what) {
      if (remaining() < n)
        throw request_error(request_problem::truncated, std::string(what) + ": needed " + std::to_string(n) +
                                                            " bytes, " + std::to_string(remaining()) + " remain");
      const auto out = bytes.subspan(pos, n);
      pos += n;
      return out;
    }

    std::uint32_t take_u32(const char* what) {
      const auto b = take(4, what);
      return static_cast<std::uint32_t>(b[0]) | static_cast<std::uint32_t>(b[1]) << 8 |
             static_cast<std::uint32_t>(b[2]) << 16 | static_cast<std::uint32_t>(b[3]) << 24;
    }

    std::int64_t take_int64(const char* what) {
      const auto b = take(8, what);
      std::uint64_t v = 0;
      for (int i = 7; i >= 0; --i) v = (v << 8) | b[static_cast<std::size_t>(i)];
      const auto s = static_cast<std::int64_t>(v);
      if (s < 0) throw request_error(request_problem::malformed, std::string(what) + ": " + std::to_string(s) + " ms is before 1970");
      return s;
    }

    // A u32 length (at most @p max, else malformed), then that many bytes (else truncated).
    std::span<const std::uint8_t> take_prefixed(std::size_t max, const char* what) {
      const auto n = take_u32(what);
      if (n > max)
        throw request_error(request_problem::malformed, std::string(what) + ": length " + std::to_string(n) +
                                                            " exceeds the maximum of " + std::to_string(max));
      return take(n, what);
    }
  };
};

/// Signs @p r with the device's private key (the key certified in the device's certificate),
/// replacing any previous signature.
/// @tparam SigningPolicy the policy of the device key; the hospital CA certifies ECDSA P-256 device keys
/// @throws hefl::invalid_argument if problem() is set or @p device_key does not belong to SigningPolicy
template <signing_policy SigningPolicy = ecdsa_p256_signing>
void sign_request(request& r, const Botan::Private_Key& device_key, Botan::RandomNumberGenerator& rng) {
  r.signature = SigningPolicy::sign(device_key, r.signing_bytes(), rng);
}

/// True when @p r carries a valid SigningPolicy signature under @p device_key; false for anything
/// else (unsigned, malformed, another key or algorithm). Never throws.
template <signing_policy SigningPolicy = ecdsa_p256_signing>
[[nodiscard]] bool verify_request(const request& r, const Botan::Public_Key& device_key) noexcept {
  try {
    if (r.signature.empty() || r.problem()) return false;
    return SigningPolicy::verify(device_key, r.signing_bytes(), r.signature);
  } catch (...) {
    return false;
  }
}

/// Builds a request to @p collector_id with a fresh 16-byte nonce from @p rng and signs it with @p device_key.
/// @tparam SigningPolicy the policy of the device key (ECDSA P-256 by default, as the CA issues)
/// @throws hefl::invalid_argument naming the field if the request would be invalid (see
///         request::problem()) or @p device_key does not belong to SigningPolicy
template <signing_policy SigningPolicy = ecdsa_p256_signing>
[[nodiscard]] request make_signed_request(const sgtin96& device, std::string collector_id, std::string patient_id,
                                          payload data, request_time timestamp, const Botan::Private_Key& device_key,
                                          Botan::RandomNumberGenerator& rng) {
  request r;
  r.device = device;
  r.collector_id = std::move(collector_id);
  r.patient_id = std::move(patient_id);
  r.data = std::move(data);
  r.timestamp = timestamp;
  r.nonce.resize(16);
  rng.randomize(r.nonce.data(), r.nonce.size());
  sign_request<SigningPolicy>(r, device_key, rng);
  return r;
}

} // namespace hefl::iot
