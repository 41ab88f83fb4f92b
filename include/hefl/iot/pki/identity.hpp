#pragma once
/// @file
/// The hospital identity carried in every hefl certificate: a private, non-critical X.509 v3
/// extension (RFC 5280 §4.2) with the holder's role, subject id, device EPC, group id and rule id,
/// as the seed paper (003, "Certificate Distribution") puts device id and group/rule id in an
/// extension field. Parsing is strict DER (X.690 §10) and never throws on a hostile certificate.
///
/// Extension OID. The UUID chosen for it is b9bc8b65-f3bf-4e45-9d4c-c46889d3b66c, i.e.
/// 2.25.246886158362029437451133966183853962860 in the X.667 UUID arc. Botan 2.19 keeps OID arcs
/// in 32 bits and refuses to parse any certificate containing that OID ("OID component overflow",
/// checked on this machine with an OpenSSL-made certificate), so the same UUID is used under the
/// arc reserved for GUID-derived OIDs, 1.2.840.113556.1.8000.2554, split into 16/16/16/16/16/24/24-bit
/// arcs: 1.2.840.113556.1.8000.2554.47548.35685.62399.20037.40268.12871817.13874796.
///
/// ASN.1 of the extension value:
///   HospitalIdentity ::= SEQUENCE {
///     version    INTEGER (1),
///     role       ENUMERATED { device(0), collector(1), storage(2), admin(3), doctor(4), nurse(5), patient(6) },
///     subjectId  UTF8String (SIZE (1..64)),        -- letters, digits and - . _ : @
///     groupId    INTEGER (0..4294967295),
///     ruleId     INTEGER (0..4294967295),
///     deviceEpc  [0] IMPLICIT OCTET STRING (SIZE (12)) OPTIONAL }   -- SGTIN-96
/// deviceEpc is required for devices, optional for collectors and storage nodes, absent for people.

#include <hefl/core/error.hpp>
#include <hefl/iot/pki/epc.hpp>

#include <botan/asn1_obj.h>
#include <botan/pkix_types.h>
#include <botan/x509cert.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hefl::iot {

/// What a certificate holder is in the hospital; decides key usage and what the holder may do.
enum class role : std::uint8_t { device = 0, collector = 1, storage = 2, admin = 3, doctor = 4, nurse = 5, patient = 6 };

/// Lower-case name of a role ("device", "collector", ...); "unknown" for a value outside the enum.
[[nodiscard]] constexpr std::string_view to_string(role r) noexcept {
  switch (r) {
    case role::device: return "device";
    case role::collector: return "collector";
    case role::storage: return "storage";
    case role::admin: return "admin";
    case role::doctor: return "doctor";
    case role::nurse: return "nurse";
    case role::patient: return "patient";
  }
  return "unknown";
}

/// True for machines (device, collector, storage), false for people.
[[nodiscard]] constexpr bool is_node(role r) noexcept {
  return r == role::device || r == role::collector || r == role::storage;
}

/// The identity a certificate binds to its key.
struct identity {
  static constexpr std::size_t max_subject_id = 64;  ///< X.520 ub-common-name, since it is also the CN

  iot::role role = role::device;
  std::string subject_id;                 ///< registry key of the holder (patient id, staff id, device name)
  std::optional<sgtin96> device_epc;      ///< required for devices
  std::uint32_t group_id = 0;             ///< device group whose rule contract applies
  std::uint32_t rule_id = 0;              ///< rule contract id

  friend bool operator==(const identity&, const identity&) = default;

  /// Checks the fields against the rules in the file comment.
  /// @throws hefl::invalid_argument naming the field, what was expected and what was found.
  void validate() const {
    if (static_cast<unsigned>(role) > static_cast<unsigned>(role::patient))
      throw invalid_argument("identity role: expected 0..6, got " + std::to_string(static_cast<unsigned>(role)));
    if (subject_id.empty() || subject_id.size() > max_subject_id)
      throw invalid_argument("identity subject id: expected 1..64 characters, got " + std::to_string(subject_id.size()));
    for (const char c : subject_id) {
      if (!valid_subject_char(c))
        throw invalid_argument("identity subject id: expected letters, digits or -._:@, got \"" + subject_id + "\"");
    }
    if (role == role::device && !device_epc)
      throw invalid_argument("identity of a device: expected a device EPC, got none");
    if (!is_node(role) && device_epc)
      throw invalid_argument("identity of a " + std::string(to_string(role)) + ": expected no device EPC, got one");
    if (device_epc) device_epc->validate();
  }

  /// Whether @p c may appear in a subject id.
  [[nodiscard]] static constexpr bool valid_subject_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == ':' || c == '@';
  }
};

/// The OID of the identity extension (see the file comment for why it is not 2.25.<uuid>).
[[nodiscard]] inline const Botan::OID& identity_oid() {
  static const Botan::OID oid("1.2.840.113556.1.8000.2554.47548.35685.62399.20037.40268.12871817.13874796");
  return oid;
}

namespace detail {

/// Minimal DER writer for the identity SEQUENCE (single-byte tags, definite lengths).
inline void der_put(std::vector<std::uint8_t>& out, std::uint8_t tag, std::span<const std::uint8_t> content) {
  out.push_back(tag);
  const std::size_t n = content.size();
  if (n < 0x80) {
    out.push_back(static_cast<std::uint8_t>(n));
  } else if (n <= 0xFF) {
    out.push_back(0x81);
    out.push_back(static_cast<std::uint8_t>(n));
  } else {
    out.push_back(0x82);
    out.push_back(static_cast<std::uint8_t>(n >> 8));
    out.push_back(static_cast<std::uint8_t>(n));
  }
  out.insert(out.end(), content.begin(), content.end());
}

/// Minimal two's-complement big-endian content of a non-negative integer (X.690 §8.3.2).
inline std::vector<std::uint8_t> der_uint(std::uint64_t v) {
  std::vector<std::uint8_t> bytes;
  do {
    bytes.insert(bytes.begin(), static_cast<std::uint8_t>(v & 0xFF));
    v >>= 8;
  } while (v != 0);
  if (bytes.front() & 0x80) bytes.insert(bytes.begin(), 0x00);
  return bytes;
}

/// Strict DER reader over untrusted bytes: exact tags, minimal definite lengths, no overruns.
class der_reader {
public:
  explicit der_reader(std::span<const std::uint8_t> bytes) noexcept : m_bytes(bytes) {}

  [[nodiscard]] bool empty() const noexcept { return m_pos == m_bytes.size(); }
  [[nodiscard]] bool next_tag_is(std::uint8_t tag) const noexcept { return !empty() && m_bytes[m_pos] == tag; }

  /// Reads one TLV with tag @p tag and returns its content.
  /// @throws hefl::parse_error on a different tag, an indefinite, non-minimal or overlong length.
  std::span<const std::uint8_t> take(std::uint8_t tag, const char* what) {
    if (empty()) throw parse_error(std::string("identity ") + what + ": expected a field, got end of data");
    if (m_bytes[m_pos] != tag)
      throw parse_error(std::string("identity ") + what + ": expected tag " + std::to_string(tag) + ", got " +
                        std::to_string(m_bytes[m_pos]));
    ++m_pos;
    if (empty()) throw parse_error(std::string("identity ") + what + ": truncated length");
    std::size_t len = m_bytes[m_pos++];
    if (len == 0x80) throw parse_error(std::string("identity ") + what + ": indefinite length is not DER");
    if (len > 0x80) {
      const std::size_t count = len - 0x80;
      if (count > 2) throw parse_error(std::string("identity ") + what + ": length of " + std::to_string(count) + " bytes is too long");
      if (m_bytes.size() - m_pos < count) throw parse_error(std::string("identity ") + what + ": truncated length");
      len = 0;
      for (std::size_t i = 0; i < count; ++i) len = (len << 8) | m_bytes[m_pos++];
      if (len < 0x80 || (count == 2 && len <= 0xFF))
        throw parse_error(std::string("identity ") + what + ": non-minimal length encoding is not DER");
    }
    if (m_bytes.size() - m_pos < len)
      throw parse_error(std::string("identity ") + what + ": length " + std::to_string(len) + " exceeds the " +
                        std::to_string(m_bytes.size() - m_pos) + " bytes left");
    const auto content = m_bytes.subspan(m_pos, len);
    m_pos += len;
    return content;
  }

  /// Reads a non-negative INTEGER (or ENUMERATED, by @p tag) no larger than 2^32-1.
  /// @throws hefl::parse_error on a negative, non-minimal or too large value.
  std::uint32_t take_uint32(std::uint8_t tag, const char* what) {
    const auto c = take(tag, what);
    if (c.empty()) throw parse_error(std::string("identity ") + what + ": empty integer");
    if (c[0] & 0x80) throw parse_error(std::string("identity ") + what + ": expected a non-negative integer");
    if (c.size() > 1 && c[0] == 0 && !(c[1] & 0x80))
      throw parse_error(std::string("identity ") + what + ": non-minimal integer encoding is not DER");
    if (c.size() > 5 || (c.size() == 5 && c[0] != 0))
      throw parse_error(std::string("identity ") + what + ": expected a value below 2^32");
    std::uint64_t v = 0;
    for (const auto b : c) v = (v << 8) | b;
    return static_cast<std::uint32_t>(v);
  }

private:
  std::span<const std::uint8_t> m_bytes;
  std::size_t m_pos = 0;
};

inline constexpr std::uint8_t der_integer = 0x02;
inline constexpr std::uint8_t der_enumerated = 0x0A;
inline constexpr std::uint8_t der_utf8_string = 0x0C;
inline constexpr std::uint8_t der_sequence = 0x30;
inline constexpr std::uint8_t der_context_0 = 0x80;  // [0] IMPLICIT, primitive

} // namespace detail

/// DER-encodes an identity as the extension value.
/// @throws hefl::invalid_argument if the identity fails identity::validate().
[[nodiscard]] inline std::vector<std::uint8_t> encode_identity(const identity& id) {
  id.validate();
  std::vector<std::uint8_t> body;
  detail::der_put(body, detail::der_integer, detail::der_uint(1));
  detail::der_put(body, detail::der_enumerated, detail::der_uint(static_cast<std::uint8_t>(id.role)));
  detail::der_put(body, detail::der_utf8_string,
                  std::span(reinterpret_cast<const std::uint8_t*>(id.subject_id.data()), id.subject_id.size()));
  detail::der_put(body, detail::der_integer, detail::der_uint(id.group_id));
  detail::der_put(body, detail::der_integer, detail::der_uint(id.rule_id));
  if (id.device_epc) {
    const auto epc = id.device_epc->encode();
    detail::der_put(body, detail::der_context_0, epc);
  }
  std::vector<std::uint8_t> out;
  detail::der_put(out, detail::der_sequence, body);
  return out;
}

/// Decodes an extension value strictly: exactly one DER SEQUENCE in the schema of the file comment,
/// version 1, a known role, a valid SGTIN-96 EPC where the role calls for it, no trailing bytes.
/// @throws hefl::parse_error describing the first violation.
[[nodiscard]] inline identity decode_identity(std::span<const std::uint8_t> der) {
  detail::der_reader outer(der);
  const auto body = outer.take(detail::der_sequence, "SEQUENCE");
  if (!outer.empty()) throw parse_error("identity: trailing bytes after the SEQUENCE");
  detail::der_reader r(body);
  const auto version = r.take_uint32(detail::der_integer, "version");
  if (version != 1) throw parse_error("identity version: expected 1, got " + std::to_string(version));
  const auto role_value = r.take_uint32(detail::der_enumerated, "role");
  if (role_value > static_cast<std::uint32_t>(role::patient))
    throw parse_error("identity role: expected 0..6, got " + std::to_string(role_value));
  identity id;
  id.role = static_cast<role>(role_value);
  const auto subject = r.take(detail::der_utf8_string, "subject id");
  id.subject_id.assign(subject.begin(), subject.end());
  id.group_id = r.take_uint32(detail::der_integer, "group id");
  id.rule_id = r.take_uint32(detail::der_integer, "rule id");
  if (r.next_tag_is(detail::der_context_0)) id.device_epc = sgtin96::decode(r.take(detail::der_context_0, "device EPC"));
  if (!r.empty()) throw parse_error("identity: unexpected fields after the last one in the SEQUENCE");
  try {
    id.validate();
  } catch (const invalid_argument& e) {
    throw parse_error(e.what());
  }
  return id;
}

/// The identity as a Botan certificate extension, for X509_CA::make_cert and Extensions::get_raw.
/// decode_inner is public because Botan's Extensions::get_raw<T> calls it.
class identity_extension final : public Botan::Certificate_Extension {
public:
  /// An empty extension, to be filled by decode_inner.
  identity_extension() = default;
  /// @throws hefl::invalid_argument if @p id fails identity::validate().
  explicit identity_extension(identity id) : m_identity(std::move(id)) { m_identity.validate(); }

  /// The extension OID, see identity_oid().
  static Botan::OID static_oid() { return identity_oid(); }
  Botan::OID oid_of() const override { return static_oid(); }
  /// Non-empty so Botan treats the object as a known extension type.
  std::string oid_name() const override { return "hefl.iot.HospitalIdentity"; }
  identity_extension* copy() const override { return new identity_extension(*this); }
  /// Nothing goes into Botan's Data_Store: the identity is read through identity_of().
  void contents_to(Botan::Data_Store&, Botan::Data_Store&) const override {}
  /// @throws hefl::invalid_argument if the held identity is invalid.
  std::vector<std::uint8_t> encode_inner() const override { return encode_identity(m_identity); }
  /// @throws hefl::parse_error on a malformed value (see decode_identity()).
  void decode_inner(const std::vector<std::uint8_t>& in) override { m_identity = decode_identity(in); }

  /// The decoded or given identity.
  [[nodiscard]] const identity& value() const noexcept { return m_identity; }

private:
  identity m_identity;
};

/// Why identity_of() found no usable identity.
enum class identity_status { ok, missing_identity, malformed_identity };

/// The outcome of reading an identity from a certificate: the identity, or a typed failure with a reason.
class identity_result {
public:
  /// A successful result.
  static identity_result success(identity id) { return identity_result(identity_status::ok, std::move(id), {}); }
  /// A failure; @p status must not be ok.
  static identity_result failure(identity_status status, std::string reason) {
    return identity_result(status, {}, std::move(reason));
  }

  [[nodiscard]] bool has_value() const noexcept { return m_status == identity_status::ok; }
  explicit operator bool() const noexcept { return has_value(); }
  [[nodiscard]] identity_status status() const noexcept { return m_status; }
  /// Why the identity is missing or malformed; empty on success.
  [[nodiscard]] const std::string& reason() const noexcept { return m_reason; }
  /// The identity.
  /// @throws hefl::security_error if there is none, with the reason.
  [[nodiscard]] const identity& value() const {
    if (!has_value()) throw security_error("certificate has no usable identity: " + m_reason);
    return m_identity;
  }

private:
  identity_result(identity_status s, identity id, std::string reason)
      : m_status(s), m_identity(std::move(id)), m_reason(std::move(reason)) {}
  identity_status m_status;
  identity m_identity;
  std::string m_reason;
};

/// Reads the identity extension of @p cert. Never throws: a certificate without the extension gives
/// missing_identity; a critical one, or one whose value fails decode_identity(), gives malformed_identity.
[[nodiscard]] inline identity_result identity_of(const Botan::X509_Certificate& cert) noexcept {
  try {
    const auto& ext = cert.v3_extensions();
    if (!ext.extension_set(identity_oid()))
      return identity_result::failure(identity_status::missing_identity,
                                      "certificate \"" + cert.subject_dn().to_string() +
                                          "\" has no hospital identity extension");
  } catch (...) {
    return identity_result::failure(identity_status::missing_identity, "certificate has no hospital identity extension");
  }
  try {
    const auto& ext = cert.v3_extensions();
    if (ext.critical_extension_set(identity_oid()))
      return identity_result::failure(identity_status::malformed_identity,
                                      "hospital identity extension is marked critical; expected non-critical");
    const auto bits = ext.get_extension_bits(identity_oid());
    return identity_result::success(decode_identity(bits));
  } catch (const std::exception& e) {
    return identity_result::failure(identity_status::malformed_identity, e.what());
  } catch (...) {
    return identity_result::failure(identity_status::malformed_identity, "hospital identity extension could not be read");
  }
}

} // namespace hefl::iot
