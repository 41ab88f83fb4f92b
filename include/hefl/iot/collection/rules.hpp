#pragma once
/// @file
/// Rule contracts (seed 003, "Rule Policy Definition" and "Smart Contract Installation"): per device
/// group, which data types it may send and, per type, the fields with type, unit and bounds; the
/// largest payload; the highest message rate per device. Contracts are JSON, versioned, and installed
/// only by a deployment signed by an admin; the rule manager checks every payload against the
/// contract of its sender's group and returns a typed verdict.

#include <hefl/core/error.hpp>
#include <hefl/core/serialization.hpp>
#include <hefl/iot/pki/signing.hpp>

#include <botan/hex.h>
#include <botan/pkix_types.h>
#include <botan/sqlite3.h>
#include <botan/x509cert.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hefl::iot {

/// The clock of rule checks and replay checks: wall time, because message timestamps come from devices.
using iot_clock = std::chrono::system_clock;

// ---------------------------------------------------------------------------------------------------
// JSON helpers shared by the contract and payload parsers.
namespace detail {

/// Appends @p key to a JSON Pointer (RFC 6901 §3: '~' -> "~0", '/' -> "~1").
inline std::string pointer_append(const std::string& path, std::string_view key) {
  std::string out = path;
  out += '/';
  for (const char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

inline std::string shown_path(const std::string& path) { return path.empty() ? std::string("(root)") : path; }

/// The JSON kind of @p v in the words of the contract format.
inline std::string json_kind(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::null: return "null";
    case nlohmann::json::value_t::object: return "object";
    case nlohmann::json::value_t::array: return "array";
    case nlohmann::json::value_t::string: return "string";
    case nlohmann::json::value_t::boolean: return "bool";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: return "integer";
    case nlohmann::json::value_t::number_float: return "number";
    default: return "binary";
  }
}

/// Shortest round-trip decimal form of @p x (so messages show 37.2, not 37.200000000000003).
inline std::string format_number(double x) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, r.ptr);
}

/// Throws hefl::parse_error with the document name and JSON Pointer in front of the message.
[[noreturn]] inline void json_fail(std::string_view what, const std::string& path, const std::string& message) {
  throw parse_error(std::string(what) + ": at " + shown_path(path) + ": " + message);
}

/// Checks that @p v is an object whose keys are all in @p allowed.
inline void expect_object(const nlohmann::json& v, std::string_view what, const std::string& path,
                          std::initializer_list<std::string_view> allowed) {
  if (!v.is_object()) json_fail(what, path, "expected an object, got " + json_kind(v));
  if (allowed.size() == 0) return;
  for (const auto& item : v.items()) {
    const std::string& key = item.key();
    if (std::find(allowed.begin(), allowed.end(), std::string_view(key)) == allowed.end()) {
      std::string list;
      for (const auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      json_fail(what, pointer_append(path, key), "unknown key '" + key + "', expected one of: " + list);
    }
  }
}

/// The member @p key of object @p obj, or a parse_error naming the object when it is absent.
inline const nlohmann::json& require_key(const nlohmann::json& obj, std::string_view what, const std::string& path,
                                         const char* key) {
  const auto it = obj.find(key);
  if (it == obj.end()) json_fail(what, path, std::string("missing required key '") + key + "'");
  return *it;
}

inline std::string get_string(const nlohmann::json& v, std::string_view what, const std::string& path) {
  if (!v.is_string()) json_fail(what, path, "expected a string, got " + json_kind(v));
  return v.get<std::string>();
}

inline bool get_bool(const nlohmann::json& v, std::string_view what, const std::string& path) {
  if (!v.is_boolean()) json_fail(what, path, "expected a bool, got " + json_kind(v));
  return v.get<bool>();
}

/// An integer in [lo, hi]; floats such as 5.0 are refused, the format says "integer".
inline std::int64_t get_integer(const nlohmann::json& v, std::string_view what, const std::string& path,
                                std::int64_t lo, std::int64_t hi) {
  if (!v.is_number_integer()) json_fail(what, path, "expected an integer, got " + json_kind(v));
  if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(hi))
    json_fail(what, path, "expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                              std::to_string(v.get<std::uint64_t>()));
  const auto x = v.get<std::int64_t>();
  if (x < lo || x > hi)
    json_fail(what, path, "expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                              std::to_string(x));
  return x;
}

/// A finite number (integer or not).
inline double get_number(const nlohmann::json& v, std::string_view what, const std::string& path) {
  if (!v.is_number()) json_fail(what, path, "expected a number, got " + json_kind(v));
  const double x = v.get<double>();
  if (!std::isfinite(x)) json_fail(what, path, "expected a finite number, got " + format_number(x));
  return x;
}

/// Identifiers for data types and fields: 1..64 characters of [A-Za-z0-9_.-], so that contracts
/// cannot hide look-alike Unicode names.
inline bool is_identifier(std::string_view s) noexcept {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
  });
}

/// Whether @p s is well-formed UTF-8 (RFC 3629 §4: no overlong forms, no surrogates, nothing above
/// U+10FFFF); @p bad_at receives the offset of the first bad byte.
inline bool valid_utf8(std::string_view s, std::size_t* bad_at = nullptr) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  const auto fail = [&] {
    if (bad_at) *bad_at = i;
    return false;
  };
  while (i < n) {
    const unsigned c = p[i];
    if (c < 0x80) { ++i; continue; }
    std::size_t len = 0;
    unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) { len = 3; lo = 0xA0; }
    else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) len = 3;
    else if (c == 0xED) { len = 3; hi = 0x9F; }
    else if (c == 0xF0) { len = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else if (c == 0xF4) { len = 4; hi = 0x8F; }
    else return fail();
    if (n - i < len) return fail();
    if (p[i + 1] < lo || p[i + 1] > hi) return fail();
    for (std::size_t k = 2; k < len; ++k)
      if (p[i + k] < 0x80 || p[i + k] > 0xBF) return fail();
    i += len;
  }
  return true;
}

/// Parses JSON text refusing duplicate keys (the signer and a checker must not read different values
/// from the same signed bytes) and nesting deeper than @p max_depth.
inline nlohmann::json parse_json_strict(std::string_view text, std::string_view what, int max_depth) {
  std::vector<std::set<std::string>> open_objects;
  const nlohmann::json::parser_callback_t callback = [&](int depth, nlohmann::json::parse_event_t event,
                                                         nlohmann::json& parsed) -> bool {
    if (depth > max_depth)
      throw parse_error(std::string(what) + ": nested deeper than " + std::to_string(max_depth) + " levels");
    switch (event) {
      case nlohmann::json::parse_event_t::object_start: open_objects.emplace_back(); break;
      case nlohmann::json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case nlohmann::json::parse_event_t::key:
        if (!open_objects.empty() && !open_objects.back().insert(parsed.get<std::string>()).second)
          throw parse_error(std::string(what) + ": duplicate key '" + parsed.get<std::string>() + "'");
        break;
      default: break;
    }
    return true;
  };
  try {
    return nlohmann::json::parse(text.begin(), text.end(), callback, true, false);
  } catch (const nlohmann::json::exception& e) {
    throw parse_error(std::string(what) + ": not valid JSON: " + e.what());
  }
}

} // namespace detail

// ---------------------------------------------------------------------------------------------------
// Payloads.

/// A measurement sent by a device: a data type and named scalar fields (number, integer, string, bool).
/// Fields are kept sorted by name, so the canonical encoding is unique.
struct payload {
  std::string type;                                          ///< data type, e.g. "heart_rate"
  std::map<std::string, nlohmann::json, std::less<>> fields;  ///< field name -> scalar JSON value

  /// Magic prefix of the canonical encoding, version 1.
  static constexpr std::string_view magic = "HPL1";

  /// The canonical byte encoding, used for size limits, hashes and signatures: "HPL1", u32 type length,
  /// type, u32 field count, then per field in byte order of the name: u32 name length, name, a tag and
  /// the value: 'b' + 1 byte, 'i' + int64, 'u' + uint64 (only above INT64_MAX), 'f' + IEEE-754 binary64,
  /// 's' + u32 length + bytes. All integers little-endian. Integers are normalised, so 72 parsed as
  /// unsigned and 72 as signed encode alike; 72.0 is a float and encodes differently on purpose.
  /// @throws hefl::invalid_argument if a field value is null, an array, an object or a non-finite number,
  ///         or a string is 4 GiB or longer
  [[nodiscard]] std::vector<std::uint8_t> canonical_bytes() const {
    serial::writer w;
    w.put_bytes(magic);
    put_string(w, type, "payload type");
    w.put(checked_u32(fields.size(), "payload field count"));
    for (const auto& [name, value] : fields) {
      put_string(w, name, "payload field name");
      if (const auto problem = scalar_problem(value))
        throw invalid_argument("payload field '" + name + "': " + *problem);
      switch (value.type()) {
        case nlohmann::json::value_t::boolean:
          w.put<std::uint8_t>('b');
          w.put<std::uint8_t>(value.get<bool>() ? 1 : 0);
          break;
        case nlohmann::json::value_t::number_integer:
        case nlohmann::json::value_t::number_unsigned:
          if (value.is_number_unsigned() && value.get<std::uint64_t>() > std::uint64_t{INT64_MAX}) {
            w.put<std::uint8_t>('u');
            w.put(value.get<std::uint64_t>());
          } else {
            w.put<std::uint8_t>('i');
            w.put(value.get<std::int64_t>());
          }
          break;
        case nlohmann::json::value_t::number_float:
          w.put<std::uint8_t>('f');
          w.put(value.get<double>());
          break;
        default:
          w.put<std::uint8_t>('s');
          put_string(w, value.get_ref<const std::string&>(), "payload string value");
          break;
      }
    }
    return std::move(w).take();
  }

  /// The size of canonical_bytes() without building it, or nullopt (with the offending field in
  /// @p bad_field when given) when a value cannot be encoded.
  [[nodiscard]] std::optional<std::size_t> canonical_size(std::string* bad_field = nullptr) const noexcept {
    std::size_t n = magic.size() + 4 + type.size() + 4;
    for (const auto& [name, value] : fields) {
      if (scalar_problem(value)) {
        if (bad_field) *bad_field = name;
        return std::nullopt;
      }
      n += 4 + name.size() + 1;
      if (value.is_boolean()) n += 1;
      else if (value.is_number()) n += 8;
      else n += 4 + value.get_ref<const std::string&>().size();
    }
    return n;
  }

  /// Decodes canonical bytes, refusing anything that canonical_bytes() would not produce.
  /// @throws hefl::parse_error on truncation, bad magic, an unknown tag, unsorted or duplicate names,
  ///         a bool byte other than 0/1, a non-canonical integer, a non-finite float or trailing bytes
  [[nodiscard]] static payload decode(std::span<const std::uint8_t> bytes) {
    serial::reader r(bytes);
    r.expect_magic(magic, "payload");
    payload p;
    p.type = get_string(r, "payload type");
    const auto count = r.get<std::uint32_t>("payload field count");
    // Each field needs at least 4 (name length) + 1 (tag) + 1 bytes: a declared count cannot run ahead.
    if (count > r.remaining() / 6)
      throw parse_error("payload: " + std::to_string(count) + " fields declared but only " +
                        std::to_string(r.remaining()) + " bytes remain");
    for (std::uint32_t i = 0; i < count; ++i) {
      std::string name = get_string(r, "payload field name");
      if (!p.fields.empty() && !(p.fields.rbegin()->first < name))
        throw parse_error("payload: field '" + name + "' is out of order or duplicated (expected names in increasing byte order)");
      const auto tag = r.get<std::uint8_t>("payload field tag");
      nlohmann::json value;
      switch (tag) {
        case 'b': {
          const auto b = r.get<std::uint8_t>("payload bool");
          if (b > 1) throw parse_error("payload: field '" + name + "': bool byte must be 0 or 1, got " + std::to_string(b));
          value = (b == 1);
          break;
        }
        case 'i': value = r.get<std::int64_t>("payload integer"); break;
        case 'u': {
          const auto u = r.get<std::uint64_t>("payload unsigned integer");
          if (u <= std::uint64_t{INT64_MAX})
            throw parse_error("payload: field '" + name + "': unsigned tag for " + std::to_string(u) +
                              ", which must use the integer tag");
          value = u;
          break;
        }
        case 'f': {
          const auto x = r.get<double>("payload number");
          if (!std::isfinite(x)) throw parse_error("payload: field '" + name + "': number is not finite");
          value = x;
          break;
        }
        case 's': value = get_string(r, "payload string value"); break;
        default:
          throw parse_error("payload: field '" + name + "': unknown tag 0x" + hex_byte(tag) +
                            ", expected one of b, i, u, f, s");
      }
      p.fields.emplace(std::move(name), std::move(value));
    }
    r.expect_end("payload");
    return p;
  }

  /// Reads the JSON form {"type": string, "fields": {name: scalar, ...}}.
  /// @throws hefl::parse_error naming the JSON Pointer of the first problem (unknown key, wrong kind,
  ///         missing key, non-scalar value)
  [[nodiscard]] static payload from_json(const nlohmann::json& doc) {
    constexpr std::string_view what = "payload";
    detail::expect_object(doc, what, "", {"type", "fields"});
    payload p;
    p.type = detail::get_string(detail::require_key(doc, what, "", "type"), what, "/type");
    const auto& fields = detail::require_key(doc, what, "", "fields");
    detail::expect_object(fields, what, "/fields", {});
    for (const auto& item : fields.items()) {
      if (const auto problem = scalar_problem(item.value()))
        detail::json_fail(what, detail::pointer_append("/fields", item.key()), *problem);
      p.fields.emplace(item.key(), item.value());
    }
    return p;
  }

  /// The JSON form read by from_json().
  [[nodiscard]] nlohmann::json to_json() const {
    nlohmann::json f = nlohmann::json::object();
    for (const auto& [name, value] : fields) f[name] = value;
    return nlohmann::json{{"type", type}, {"fields", std::move(f)}};
  }

  /// Why @p value cannot be a payload field value, or nullopt if it can.
  [[nodiscard]] static std::optional<std::string> scalar_problem(const nlohmann::json& value) noexcept {
    if (value.is_boolean() || value.is_string() || value.is_number_integer()) return std::nullopt;
    if (value.is_number_float())
      return std::isfinite(value.get<double>()) ? std::nullopt
                                                : std::optional<std::string>("expected a finite number");
    return std::optional<std::string>("expected a number, integer, string or bool, got " +
                                      std::string(value.is_null() ? "null" : value.is_array() ? "array" : "object"));
  }

  /// Equal when type and fields (kind and value) are equal.
  friend bool operator==(const payload& a, const payload& b) { return a.type == b.type && a.fields == b.fields; }

private:
  static std::uint32_t checked_u32(std::size_t n, const char* what) {
    if (n > std::numeric_limits<std::uint32_t>::max())
      throw invalid_argument(std::string(what) + ": " + std::to_string(n) + " does not fit in 32 bits");
    return static_cast<std::uint32_t>(n);
  }
  static void put_string(serial::writer& w, std::string_view s, const char* what) {
    w.put(checked_u32(s.size(), what));
    w.put_bytes(s);
  }
  static std::string get_string(serial::reader& r, const char* what) {
    const auto n = r.get<std::uint32_t>(what);
    const auto bytes = r.get_vector<std::uint8_t>(n, what);
    return std::string(bytes.begin(), bytes.end());
  }
  static std::string hex_byte(std::uint8_t b) {
    constexpr char digits[] = "0123456789abcdef";
    return {digits[b >> 4], digits[b & 15]};
  }
};

// ---------------------------------------------------------------------------------------------------
// Contracts.

/// The value kind of a contract field.
enum class field_type { number, integer, string, boolean };

/// The contract spelling of @p t ("number", "integer", "string", "bool").
[[nodiscard]] inline std::string_view to_string(field_type t) noexcept {
  switch (t) {
    case field_type::number: return "number";
    case field_type::integer: return "integer";
    case field_type::string: return "string";
    case field_type::boolean: return "bool";
  }
  return "?";
}

/// One field of a data type. Which bounds apply depends on the type: number uses min/max, integer uses
/// int_min/int_max (exact 64-bit), string uses max_length (bytes), bool has none.
struct field_rule {
  field_type type = field_type::number;  ///< kind of value
  std::string unit;                      ///< unit shown in messages, e.g. "bpm", "%", "°C"; may be empty
  bool required = true;                  ///< a payload of this type must carry the field
  double min = 0;                        ///< number: inclusive lower bound
  double max = 0;                        ///< number: inclusive upper bound
  std::int64_t int_min = 0;              ///< integer: inclusive lower bound
  std::int64_t int_max = 0;              ///< integer: inclusive upper bound
  std::optional<std::size_t> max_length; ///< string: longest value in bytes, unbounded if absent (the payload size still applies)

  friend bool operator==(const field_rule&, const field_rule&) = default;
};

/// One data type a group may send, with its fields.
struct data_type_rule {
  std::map<std::string, field_rule, std::less<>> fields;  ///< field name -> rule

  friend bool operator==(const data_type_rule&, const data_type_rule&) = default;
};

/// The rule contract of one device group (seed 003: "which device group can send which type of data").
///
/// JSON form (every key listed is required unless marked optional; no other keys are allowed):
/// ```
/// { "group_id": 1, "name": "vital-signs", "version": 1, "max_payload_bytes": 256, "max_messages_per_minute": 60,
///   "data_types": { "heart_rate": { "fields": {
///       "bpm": { "type": "integer", "unit": "bpm", "min": 20, "max": 250, "required": true } } } } }
/// ```
/// "group_id" is the certificate's group id (hefl/iot/pki/identity.hpp, INTEGER 0..2^32-1); "name" is an
/// optional label of 1..64 characters of [A-Za-z0-9_.-] for messages. Field keys: "type" (number | integer | string | bool) and "required" always; "unit" optional;
/// "min" and "max" required for number and integer (integers for integer fields) and refused for the
/// others; "max_length" optional for string and refused for the others.
struct rule_contract {
  /// Largest accepted contract text in bytes.
  static constexpr std::size_t max_text_bytes = std::size_t{1} << 20;
  /// Largest allowed max_payload_bytes.
  static constexpr std::int64_t max_payload_limit = std::int64_t{1} << 20;
  /// Largest allowed max_messages_per_minute (1000 per second).
  static constexpr std::int64_t max_rate_limit = 60000;
  /// Largest number of data types per contract and of fields per data type.
  static constexpr std::size_t max_entries = 256;

  std::uint32_t group_id = 0;              ///< the group this contract governs, as in device certificates
  std::string name;                        ///< optional label for messages, e.g. "vital-signs"
  std::uint64_t version = 0;               ///< strictly increasing per group, >= 1
  std::size_t max_payload_bytes = 0;       ///< largest payload::canonical_bytes() size, 1..2^20
  std::uint32_t max_messages_per_minute = 0;  ///< sustained rate per device, 1..60000; bursts up to this many
  std::map<std::string, data_type_rule, std::less<>> data_types;  ///< allowed data types

  friend bool operator==(const rule_contract&, const rule_contract&) = default;

  /// Parses contract JSON text strictly.
  /// @throws hefl::parse_error naming the JSON Pointer of the problem: invalid JSON or UTF-8, duplicate
  ///         keys, text over 1 MiB, unknown keys, missing keys, wrong kinds, min > max, out-of-range limits,
  ///         bad identifiers
  [[nodiscard]] static rule_contract parse(std::string_view text) {
    if (text.size() > max_text_bytes)
      throw parse_error("rule contract: expected at most " + std::to_string(max_text_bytes) + " bytes of JSON, got " +
                        std::to_string(text.size()));
    return from_json(detail::parse_json_strict(text, "rule contract", 8));
  }

  /// Parses a contract from a JSON value (same rules as parse()).
  /// @throws hefl::parse_error as parse()
  [[nodiscard]] static rule_contract from_json(const nlohmann::json& doc) {
    constexpr std::string_view what = "rule contract";
    using namespace detail;
    expect_object(doc, what, "",
                  {"group_id", "name", "version", "max_payload_bytes", "max_messages_per_minute", "data_types"});
    rule_contract c;
    c.group_id = static_cast<std::uint32_t>(
        get_integer(require_key(doc, what, "", "group_id"), what, "/group_id", 0, UINT32_MAX));
    if (doc.contains("name")) {
      c.name = get_string(doc["name"], what, "/name");
      if (!is_identifier(c.name)) json_fail(what, "/name", "name must be 1..64 characters of [A-Za-z0-9_.-]");
    }
    c.version = static_cast<std::uint64_t>(
        get_integer(require_key(doc, what, "", "version"), what, "/version", 1, INT64_MAX));
    c.max_payload_bytes = static_cast<std::size_t>(get_integer(
        require_key(doc, what, "", "max_payload_bytes"), what, "/max_payload_bytes", 1, max_payload_limit));
    c.max_messages_per_minute = static_cast<std::uint32_t>(
        get_integer(require_key(doc, what, "", "max_messages_per_minute"), what, "/max_messages_per_minute", 1,
                    max_rate_limit));
    const auto& types = require_key(doc, what, "", "data_types");
    expect_object(types, what, "/data_types", {});
    if (types.empty()) json_fail(what, "/data_types", "expected at least one data type, got none");
    if (types.size() > max_entries)
      json_fail(what, "/data_types",
                "expected at most " + std::to_string(max_entries) + " data types, got " + std::to_string(types.size()));
    for (const auto& type_item : types.items()) {
      const std::string type_path = pointer_append("/data_types", type_item.key());
      if (!is_identifier(type_item.key()))
        json_fail(what, type_path, "data type name must be 1..64 characters of [A-Za-z0-9_.-]");
      expect_object(type_item.value(), what, type_path, {"fields"});
      const auto& fields = require_key(type_item.value(), what, type_path, "fields");
      const std::string fields_path = type_path + "/fields";
      expect_object(fields, what, fields_path, {});
      if (fields.empty()) json_fail(what, fields_path, "expected at least one field, got none");
      if (fields.size() > max_entries)
        json_fail(what, fields_path,
                  "expected at most " + std::to_string(max_entries) + " fields, got " + std::to_string(fields.size()));
      data_type_rule dt;
      for (const auto& field_item : fields.items()) {
        const std::string path = pointer_append(fields_path, field_item.key());
        if (!is_identifier(field_item.key()))
          json_fail(what, path, "field name must be 1..64 characters of [A-Za-z0-9_.-]");
        dt.fields.emplace(field_item.key(), parse_field(field_item.value(), path));
      }
      c.data_types.emplace(type_item.key(), std::move(dt));
    }
    return c;
  }

  /// The JSON form read by from_json(); parse(to_json().dump()) == *this.
  [[nodiscard]] nlohmann::json to_json() const {
    nlohmann::json types = nlohmann::json::object();
    for (const auto& [type_name, dt] : data_types) {
      nlohmann::json fields = nlohmann::json::object();
      for (const auto& [name, f] : dt.fields) {
        nlohmann::json j{{"type", to_string(f.type)}, {"required", f.required}};
        if (!f.unit.empty()) j["unit"] = f.unit;
        if (f.type == field_type::number) {
          j["min"] = f.min;
          j["max"] = f.max;
        } else if (f.type == field_type::integer) {
          j["min"] = f.int_min;
          j["max"] = f.int_max;
        } else if (f.type == field_type::string && f.max_length) {
          j["max_length"] = *f.max_length;
        }
        fields[name] = std::move(j);
      }
      types[type_name] = nlohmann::json{{"fields", std::move(fields)}};
    }
    nlohmann::json out{{"group_id", group_id},
                          {"version", version},
                          {"max_payload_bytes", max_payload_bytes},
                          {"max_messages_per_minute", max_messages_per_minute},
                          {"data_types", std::move(types)}};
    if (!name.empty()) out["name"] = name;
    return out;
  }

  /// "group 1 (vital-signs)", or "group 1" without a name: how messages refer to the group.
  [[nodiscard]] std::string label() const { return group_label(group_id, name); }

  /// How messages refer to group @p id with optional @p name.
  [[nodiscard]] static std::string group_label(std::uint32_t id, std::string_view name) {
    return "group " + std::to_string(id) + (name.empty() ? "" : " (" + std::string(name) + ")");
  }

private:
  static field_rule parse_field(const nlohmann::json& v, const std::string& path) {
    constexpr std::string_view what = "rule contract";
    using namespace detail;
    expect_object(v, what, path, {"type", "unit", "min", "max", "max_length", "required"});
    field_rule f;
    const std::string type_name = get_string(require_key(v, what, path, "type"), what, path + "/type");
    if (type_name == "number") f.type = field_type::number;
    else if (type_name == "integer") f.type = field_type::integer;
    else if (type_name == "string") f.type = field_type::string;
    else if (type_name == "bool") f.type = field_type::boolean;
    else json_fail(what, path + "/type", "expected one of number, integer, string, bool, got '" + type_name + "'");
    f.required = get_bool(require_key(v, what, path, "required"), what, path + "/required");
    if (v.contains("unit")) f.unit = get_string(v["unit"], what, path + "/unit");

    const bool ranged = f.type == field_type::number || f.type == field_type::integer;
    for (const char* key : {"min", "max"}) {
      if (!ranged && v.contains(key))
        json_fail(what, path + "/" + key, "min and max apply to number and integer fields, not " + type_name);
    }
    if (f.type != field_type::string && v.contains("max_length"))
      json_fail(what, path + "/max_length", "max_length applies to string fields, not " + type_name);

    if (f.type == field_type::number) {
      f.min = get_number(require_key(v, what, path, "min"), what, path + "/min");
      f.max = get_number(require_key(v, what, path, "max"), what, path + "/max");
      if (f.min > f.max)
        json_fail(what, path, "min " + format_number(f.min) + " > max " + format_number(f.max));
    } else if (f.type == field_type::integer) {
      f.int_min = get_integer(require_key(v, what, path, "min"), what, path + "/min", INT64_MIN, INT64_MAX);
      f.int_max = get_integer(require_key(v, what, path, "max"), what, path + "/max", INT64_MIN, INT64_MAX);
      if (f.int_min > f.int_max)
        json_fail(what, path, "min " + std::to_string(f.int_min) + " > max " + std::to_string(f.int_max));
      f.min = static_cast<double>(f.int_min);
      f.max = static_cast<double>(f.int_max);
    } else if (f.type == field_type::string && v.contains("max_length")) {
      f.max_length = static_cast<std::size_t>(
          get_integer(v["max_length"], what, path + "/max_length", 0, max_payload_limit));
    }
    return f;
  }
};

/// An example contract for a vital-signs monitor group (heart rate, SpO2, temperature, blood pressure),
/// used by the tests, the examples and the attack scenarios. Bounds are plausibility limits for
/// adult patients, not clinical alarm thresholds.
inline constexpr std::string_view vital_signs_example_contract = R"({
  "group_id": 1,
  "name": "vital-signs",
  "version": 1,
  "max_payload_bytes": 256,
  "max_messages_per_minute": 60,
  "data_types": {
    "heart_rate": { "fields": {
      "bpm": { "type": "integer", "unit": "bpm", "min": 20, "max": 250, "required": true } } },
    "spo2": { "fields": {
      "saturation": { "type": "number", "unit": "%", "min": 50, "max": 100, "required": true } } },
    "temperature": { "fields": {
      "celsius": { "type": "number", "unit": "°C", "min": 30, "max": 45, "required": true },
      "site": { "type": "string", "max_length": 16, "required": false } } },
    "blood_pressure": { "fields": {
      "systolic": { "type": "integer", "unit": "mmHg", "min": 50, "max": 260, "required": true },
      "diastolic": { "type": "integer", "unit": "mmHg", "min": 20, "max": 160, "required": true },
      "irregular_heartbeat": { "type": "bool", "required": false } } }
  }
})";

// ---------------------------------------------------------------------------------------------------
// Verdicts.

/// Why a payload broke its group's contract.
enum class rule_violation_kind {
  unknown_group,     ///< no contract is deployed for the sender's group
  type_not_allowed,  ///< the group may not send this data type
  missing_field,     ///< a required field is absent
  unknown_field,     ///< a field the data type does not define
  wrong_field_type,  ///< a value of the wrong kind (e.g. a string for a number)
  out_of_range,      ///< a number outside [min, max], or a string longer than max_length
  oversized,         ///< the canonical payload is larger than max_payload_bytes
  rate_exceeded,     ///< the device sends faster than max_messages_per_minute (or the rate table is full)
  malformed,         ///< a value that no field can hold (null, array, object, non-finite number)
};

/// The spelling of @p k used in messages and ledger entries, e.g. "out_of_range".
[[nodiscard]] inline std::string_view to_string(rule_violation_kind k) noexcept {
  switch (k) {
    case rule_violation_kind::unknown_group: return "unknown_group";
    case rule_violation_kind::type_not_allowed: return "type_not_allowed";
    case rule_violation_kind::missing_field: return "missing_field";
    case rule_violation_kind::unknown_field: return "unknown_field";
    case rule_violation_kind::wrong_field_type: return "wrong_field_type";
    case rule_violation_kind::out_of_range: return "out_of_range";
    case rule_violation_kind::oversized: return "oversized";
    case rule_violation_kind::rate_exceeded: return "rate_exceeded";
    case rule_violation_kind::malformed: return "malformed";
  }
  return "?";
}

/// A broken rule, with the details a log or an alarm needs.
struct rule_violation {
  rule_violation_kind kind = rule_violation_kind::malformed;  ///< what was broken
  std::string field;    ///< the field concerned (missing, unknown, wrong type, out of range, malformed), else empty
  double min = 0;       ///< out_of_range: the lower bound (0 for a string length)
  double max = 0;       ///< out_of_range: the upper bound; oversized: max_payload_bytes
  double actual = 0;    ///< out_of_range: the value (string: its length); oversized: the payload size
  std::string message;  ///< a sentence naming expected vs actual
};

/// The result of a rule check: ok, or the violation.
class rule_verdict {
public:
  /// The payload obeys its contract.
  [[nodiscard]] static rule_verdict accepted() { return rule_verdict(); }
  /// The payload broke a rule.
  [[nodiscard]] static rule_verdict rejected(rule_violation v) {
    rule_verdict r;
    r.m_violation = std::move(v);
    return r;
  }

  /// True when the payload obeys its contract.
  [[nodiscard]] bool ok() const noexcept { return !m_violation.has_value(); }
  /// Same as ok().
  explicit operator bool() const noexcept { return ok(); }
  /// The violation.
  /// @throws hefl::invalid_argument if the verdict is ok
  [[nodiscard]] const rule_violation& violation() const {
    if (!m_violation) throw invalid_argument("rule_verdict::violation: the verdict is ok, there is no violation");
    return *m_violation;
  }
  /// The violation kind, or nullopt when ok.
  [[nodiscard]] std::optional<rule_violation_kind> kind() const noexcept {
    return m_violation ? std::optional(m_violation->kind) : std::nullopt;
  }
  /// "ok" or the violation kind's name: the verdict string recorded on the ledger.
  [[nodiscard]] std::string_view code() const noexcept { return m_violation ? to_string(m_violation->kind) : "ok"; }

private:
  rule_verdict() = default;  // only through accepted() / rejected(): no verdict is "ok" by accident

  std::optional<rule_violation> m_violation;
};

/// A rule policy for the collector validator: checks a payload of a device of a group at time now.
/// Requirements: `check(group_id, device_id, payload, now)` -> rule_verdict, callable on an lvalue
/// (it may keep per-device rate state).
template <class R>
concept rule_policy = requires(R& rules, std::uint32_t group_id, std::string_view device_id, const payload& p,
                               iot_clock::time_point now) {
  { rules.check(group_id, device_id, p, now) } -> std::same_as<rule_verdict>;
};

/// Checks @p p against @p contract's content rules (type, fields, size), not the rate.
/// Never throws for any payload; the order of checks is malformed, oversized, type_not_allowed, then
/// per field in name order unknown_field, wrong_field_type, out_of_range, then missing_field.
[[nodiscard]] inline rule_verdict check_content(const rule_contract& contract, const payload& p) {
  const auto fail = [](rule_violation_kind kind, std::string field, std::string message) {
    rule_violation v;
    v.kind = kind;
    v.field = std::move(field);
    v.message = std::move(message);
    return v;
  };
  std::string bad_field;
  const auto size = p.canonical_size(&bad_field);
  if (!size) {
    const auto it = p.fields.find(bad_field);
    const auto problem = it != p.fields.end() ? payload::scalar_problem(it->second) : std::nullopt;
    return rule_verdict::rejected(fail(rule_violation_kind::malformed, bad_field,
                                       "field '" + bad_field + "': " + problem.value_or("not encodable")));
  }
  if (*size > contract.max_payload_bytes) {
    auto v = fail(rule_violation_kind::oversized, "",
                  "payload of " + std::to_string(*size) + " bytes exceeds the group's limit of " +
                      std::to_string(contract.max_payload_bytes) + " bytes");
    v.max = static_cast<double>(contract.max_payload_bytes);
    v.actual = static_cast<double>(*size);
    return rule_verdict::rejected(std::move(v));
  }
  const auto type_it = contract.data_types.find(p.type);
  if (type_it == contract.data_types.end()) {
    std::string allowed;
    for (const auto& [name, dt] : contract.data_types) allowed += (allowed.empty() ? "" : ", ") + name;
    return rule_verdict::rejected(fail(rule_violation_kind::type_not_allowed, "",
                                       contract.label() + " may not send data type '" + p.type +
                                           "' (allowed: " + allowed + ")"));
  }
  const auto& rules = type_it->second.fields;
  for (const auto& field : p.fields) {
    // Named references, not a structured binding: clang 14 cannot capture bindings in the lambdas below.
    const std::string& name = field.first;
    const auto& value = field.second;
    const auto rule_it = rules.find(name);
    if (rule_it == rules.end())
      return rule_verdict::rejected(fail(rule_violation_kind::unknown_field, name,
                                         "data type '" + p.type + "' has no field '" + name + "'"));
    const field_rule& rule = rule_it->second;
    const auto wrong_type = [&] {
      return rule_verdict::rejected(fail(rule_violation_kind::wrong_field_type, name,
                                         "field '" + name + "': expected " + std::string(to_string(rule.type)) +
                                             ", got " + detail::json_kind(value)));
    };
    const auto out_of_range = [&](double lo, double hi, double actual, std::string shown_value, std::string bounds) {
      auto v = fail(rule_violation_kind::out_of_range, name,
                    "field '" + name + "' = " + shown_value + " is out of range " + bounds);
      v.min = lo;
      v.max = hi;
      v.actual = actual;
      return rule_verdict::rejected(std::move(v));
    };
    const std::string unit = rule.unit.empty() ? "" : " " + rule.unit;
    switch (rule.type) {
      case field_type::number: {
        if (!value.is_number()) return wrong_type();
        const double x = value.get<double>();
        if (!(x >= rule.min && x <= rule.max))
          return out_of_range(rule.min, rule.max, x, detail::format_number(x) + unit,
                              "[" + detail::format_number(rule.min) + ", " + detail::format_number(rule.max) + "]" + unit);
        break;
      }
      case field_type::integer: {
        if (!value.is_number_integer()) return wrong_type();
        const bool huge = value.is_number_unsigned() && value.get<std::uint64_t>() > std::uint64_t{INT64_MAX};
        const std::string shown = huge ? std::to_string(value.get<std::uint64_t>())
                                       : std::to_string(value.get<std::int64_t>());
        if (huge || value.get<std::int64_t>() < rule.int_min || value.get<std::int64_t>() > rule.int_max)
          return out_of_range(rule.min, rule.max, value.get<double>(), shown + unit,
                              "[" + std::to_string(rule.int_min) + ", " + std::to_string(rule.int_max) + "]" + unit);
        break;
      }
      case field_type::string: {
        if (!value.is_string()) return wrong_type();
        std::size_t bad_at = 0;
        if (!detail::valid_utf8(value.get_ref<const std::string&>(), &bad_at))
          return rule_verdict::rejected(fail(rule_violation_kind::malformed, name,
                                             "field '" + name + "': not valid UTF-8 (RFC 3629), first bad byte at offset " +
                                                 std::to_string(bad_at)));
        const auto length = value.get_ref<const std::string&>().size();
        if (rule.max_length && length > *rule.max_length)
          return out_of_range(0, static_cast<double>(*rule.max_length), static_cast<double>(length),
                              "a string of " + std::to_string(length) + " bytes",
                              "of at most " + std::to_string(*rule.max_length) + " bytes");
        break;
      }
      case field_type::boolean:
        if (!value.is_boolean()) return wrong_type();
        break;
    }
  }
  for (const auto& [name, rule] : rules) {
    if (rule.required && !p.fields.contains(name))
      return rule_verdict::rejected(fail(rule_violation_kind::missing_field, name,
                                         "data type '" + p.type + "' requires field '" + name + "', which is absent"));
  }
  return rule_verdict::accepted();
}

// ---------------------------------------------------------------------------------------------------
// Rate limiting.

/// Per-device message rate limiting with the Generic Cell Rate Algorithm, virtual-scheduling form
/// (ITU-T I.371 / ATM Forum TM 4.0): one timestamp per device, so memory does not grow with the rate.
/// A device may send a burst of up to N messages and N per minute sustained. A device whose
/// theoretical arrival time has passed is indistinguishable from a new one, so its entry can be
/// forgotten without opening a hole; when the table is full and no entry can be forgotten, new
/// devices are refused (fail closed) instead of evicting state that still limits someone.
class device_rate_limiter {
public:
  /// A limiter tracking at most @p max_devices devices at once.
  /// @throws hefl::invalid_argument if max_devices is 0
  explicit device_rate_limiter(std::size_t max_devices) : m_max_devices(max_devices) {
    if (max_devices == 0) throw invalid_argument("device_rate_limiter: expected max_devices >= 1, got 0");
  }

  /// Outcome of admit().
  enum class decision { admitted, rate_exceeded, table_full };

  /// Counts one message of @p device_id at @p now against @p per_minute (>= 1) and says whether it may pass.
  decision admit(std::string_view device_id, std::uint32_t per_minute, iot_clock::time_point now) {
    using std::chrono::nanoseconds;
    const auto n = std::max<std::uint32_t>(per_minute, 1);
    // Ceiling, so that rounding never lets more than N messages per minute through.
    const nanoseconds interval((std::int64_t{60'000'000'000} + n - 1) / n);
    const nanoseconds tolerance = interval * (n - 1);
    forget_idle(now);
    auto it = m_tat.find(device_id);
    if (it == m_tat.end()) {
      if (m_tat.size() >= m_max_devices) return decision::table_full;
      it = m_tat.emplace(std::string(device_id), now).first;
      m_by_time.emplace(now, &it->first);
    }
    const auto tat = std::max(it->second, now);
    if (tat - now > tolerance) return decision::rate_exceeded;
    m_by_time.erase({it->second, &it->first});
    it->second = tat + interval;
    m_by_time.emplace(it->second, &it->first);
    return decision::admitted;
  }

  /// Whether a message of @p device_id at @p now would be admitted, without counting it. A device
  /// not tracked would be admitted (even when the table is full: only admit() adds devices).
  [[nodiscard]] bool would_admit(std::string_view device_id, std::uint32_t per_minute, iot_clock::time_point now) {
    const auto n = std::max<std::uint32_t>(per_minute, 1);
    const std::chrono::nanoseconds interval((std::int64_t{60'000'000'000} + n - 1) / n);
    forget_idle(now);
    const auto it = m_tat.find(device_id);
    return it == m_tat.end() || std::max(it->second, now) - now <= interval * (n - 1);
  }

  /// Devices currently tracked (never more than the constructor's max_devices).
  [[nodiscard]] std::size_t size() const noexcept { return m_tat.size(); }

private:
  void forget_idle(iot_clock::time_point now) {
    while (!m_by_time.empty() && m_by_time.begin()->first <= now) {
      const std::string* key = m_by_time.begin()->second;
      m_by_time.erase(m_by_time.begin());
      m_tat.erase(m_tat.find(*key));
    }
  }

  std::size_t m_max_devices;
  std::map<std::string, iot_clock::time_point, std::less<>> m_tat;        // theoretical arrival time
  std::set<std::pair<iot_clock::time_point, const std::string*>> m_by_time;  // keys live in m_tat
};

// ---------------------------------------------------------------------------------------------------
// Deployments and the rule manager.

/// A contract as an admin deployed it: the exact JSON bytes, the admin's signature over
/// deployment_message(contract), and the admin's certificate.
struct signed_deployment {
  std::vector<std::uint8_t> contract;   ///< contract JSON bytes, exactly as signed
  std::vector<std::uint8_t> signature;  ///< signature over deployment_message(contract)
  Botan::X509_Certificate signer;       ///< the admin's certificate; its key verifies the signature
};

/// Domain-separation tag: an admin key signing a deployment cannot be tricked into a signature that is
/// valid in another protocol, nor the reverse.
inline constexpr std::string_view deployment_domain = "hefl/rule-deployment/v1";

/// The bytes an admin signs for @p contract: the domain tag, a zero byte, then the contract bytes.
[[nodiscard]] inline std::vector<std::uint8_t> deployment_message(std::span<const std::uint8_t> contract) {
  std::vector<std::uint8_t> m(deployment_domain.begin(), deployment_domain.end());
  m.push_back(0);
  m.insert(m.end(), contract.begin(), contract.end());
  return m;
}

/// Signs @p contract_json with the admin's key and bundles it with the admin's certificate.
/// @tparam SigningPolicy the policy of the admin's key (ECDSA P-256 by default, like the hospital CA)
/// @throws hefl::invalid_argument if @p admin_key does not belong to SigningPolicy
template <signing_policy SigningPolicy = ecdsa_p256_signing>
[[nodiscard]] signed_deployment sign_deployment(std::string_view contract_json, const Botan::Private_Key& admin_key,
                                                const Botan::X509_Certificate& admin_certificate,
                                                Botan::RandomNumberGenerator& rng) {
  signed_deployment d;
  d.contract.assign(contract_json.begin(), contract_json.end());
  d.signature = SigningPolicy::sign(admin_key, deployment_message(d.contract), rng);
  d.signer = admin_certificate;
  return d;
}

/// How a deployment ended.
enum class deployment_status {
  accepted,            ///< installed (a new group, or a higher version)
  not_admin,           ///< the signer's certificate is not an admin's (or the predicate threw)
  bad_signature,       ///< the signature does not verify under the certificate's key
  malformed_contract,  ///< the signed bytes are not a valid contract
  stale_version,       ///< version not above the installed one: an old or repeated deployment
};

/// The spelling of @p s used in messages and ledger entries, e.g. "stale_version".
[[nodiscard]] inline std::string_view to_string(deployment_status s) noexcept {
  switch (s) {
    case deployment_status::accepted: return "accepted";
    case deployment_status::not_admin: return "not_admin";
    case deployment_status::bad_signature: return "bad_signature";
    case deployment_status::malformed_contract: return "malformed_contract";
    case deployment_status::stale_version: return "stale_version";
  }
  return "?";
}

/// What the rule manager reports for every deployment, accepted or refused (for the ledger).
struct deployment_event {
  deployment_status status = deployment_status::malformed_contract;  ///< outcome
  std::optional<std::uint32_t> group_id;  ///< the contract's group; empty if not parsed (unauthenticated bytes are not parsed)
  std::string group_name;            ///< the contract's name, if any
  std::uint64_t version = 0;         ///< the contract's version; 0 if not parsed
  std::uint64_t installed_version = 0;  ///< the version installed before this deployment; 0 if none
  record_digest contract_hash{};     ///< SHA-256 of the contract bytes
  std::string signer;                ///< the signer certificate's subject DN
  std::string signer_fingerprint;    ///< SHA-256 fingerprint of the signer certificate, "" if unavailable
  std::string message;               ///< a sentence for logs

  /// True when the contract was installed.
  [[nodiscard]] bool accepted() const noexcept { return status == deployment_status::accepted; }
};

/// Tunables of the rule manager.
struct rule_manager_options {
  std::size_t max_tracked_devices = 65536;  ///< rate-limiter capacity (about 100 bytes per device)
  /// SQLite file where installed deployments persist (empty = memory only). On opening, every stored
  /// deployment is verified again (admin, signature, contract) before it is installed, and the
  /// highest version seen per group stays the floor, so an old captured deployment is refused after
  /// a restart too.
  std::string sqlite_path;
};

/// Holds the active contract of each group, installs contracts from admin-signed deployments, and
/// checks payloads (seed 003's "rule manager" smart contract). Thread-safe: check() runs concurrently
/// with itself and with deploy().
/// @tparam AdminSigningPolicy the signing policy of admin certificates' keys (ECDSA P-256 by default)
template <signing_policy AdminSigningPolicy = ecdsa_p256_signing>
class rule_manager {
public:
  /// Decides whether a certificate belongs to an admin (the PKI supplies "valid chain and role admin").
  using admin_predicate = std::function<bool(const Botan::X509_Certificate&)>;
  /// Receives every deployment outcome (the ledger records it). If it throws for an accepted
  /// deployment, the contract is not installed and the exception propagates. It must not call deploy().
  using deployment_observer = std::function<void(const deployment_event&)>;

  /// A manager with no contracts.
  /// @throws hefl::invalid_argument if @p is_admin or @p observer is empty (pass a no-op observer to
  ///         opt out of recording deployments), or options.max_tracked_devices is 0
  rule_manager(admin_predicate is_admin, deployment_observer observer, rule_manager_options options = {})
      : m_is_admin(std::move(is_admin)), m_observer(std::move(observer)),
        m_rate(checked_capacity(options.max_tracked_devices)) {
    if (!m_is_admin) throw invalid_argument("rule_manager: expected an is_admin predicate, got an empty function");
    if (!m_observer)
      throw invalid_argument("rule_manager: expected a deployment observer (pass a no-op lambda to opt out), got an empty function");
    if (!options.sqlite_path.empty()) open(options.sqlite_path);
  }

  rule_manager(const rule_manager&) = delete;
  rule_manager& operator=(const rule_manager&) = delete;

  /// Installs or replaces a group's contract if @p d is signed by an admin, its signature verifies, the
  /// contract parses and its version is above the installed one. Checks run in that order, so bytes
  /// that are not signed by an admin are never parsed. Every outcome goes to the observer.
  /// @return the event also given to the observer
  /// @throws whatever the observer throws (the deployment is then not installed)
  deployment_event deploy(const signed_deployment& d) {
    const std::lock_guard deploy_lock(m_deploy_mutex);
    deployment_event e;
    e.contract_hash = sha256(d.contract);
    try {
      e.signer = d.signer.subject_dn().to_string();
      e.signer_fingerprint = d.signer.fingerprint("SHA-256");
    } catch (const std::exception&) {
      e.signer = "(unreadable certificate)";
    }
    const auto refuse = [&](deployment_status s, std::string message) {
      e.status = s;
      e.message = std::move(message);
      m_observer(e);
      return e;
    };

    bool admin = false;
    try {
      admin = m_is_admin(d.signer);
    } catch (const std::exception& ex) {
      return refuse(deployment_status::not_admin, std::string("admin check failed: ") + ex.what());
    }
    if (!admin) return refuse(deployment_status::not_admin, "signer '" + e.signer + "' is not an admin");

    bool signature_ok = false;
    try {
      const auto key = d.signer.load_subject_public_key();
      signature_ok = key && AdminSigningPolicy::verify(*key, deployment_message(d.contract), d.signature);
    } catch (const std::exception&) {
      signature_ok = false;
    }
    if (!signature_ok)
      return refuse(deployment_status::bad_signature,
                    "the deployment signature does not verify as " + std::string(AdminSigningPolicy::algorithm_name) +
                        " under the key of '" + e.signer + "'");

    std::shared_ptr<const rule_contract> contract;
    try {
      contract = std::make_shared<const rule_contract>(rule_contract::parse(
          std::string_view(reinterpret_cast<const char*>(d.contract.data()), d.contract.size())));
    } catch (const parse_error& ex) {
      return refuse(deployment_status::malformed_contract, ex.what());
    }
    e.group_id = contract->group_id;
    e.group_name = contract->name;
    e.version = contract->version;
    {
      const std::lock_guard lock(m_mutex);
      const auto it = m_contracts.find(contract->group_id);
      if (it != m_contracts.end()) e.installed_version = it->second->version;
    }
    std::uint64_t floor = e.installed_version;
    if (const auto f = m_floor.find(contract->group_id); f != m_floor.end()) floor = std::max(floor, f->second);
    if (floor != 0 && contract->version <= floor)
      return refuse(deployment_status::stale_version,
                    contract->label() + ": version " + std::to_string(e.version) +
                        " is not above the installed version " + std::to_string(floor));

    e.status = deployment_status::accepted;
    e.message = contract->label() + ": installed version " + std::to_string(e.version);
    // Persisted first, so a restart never forgets a version the ledger saw; restored if the observer refuses.
    const auto previous = m_deployments.find(contract->group_id);
    const std::optional<signed_deployment> before =
        previous == m_deployments.end() ? std::nullopt : std::optional<signed_deployment>(previous->second);
    persist(contract->group_id, contract->version, d);
    try {
      m_observer(e);  // recorded first: a deployment the ledger did not take is not installed
    } catch (...) {
      try {
        if (before) persist(contract->group_id, floor, *before);
        else unpersist(contract->group_id);
      } catch (const std::exception&) {  // the stored row keeps the higher version: refuses more, never less
      }
      throw;
    }
    m_floor[contract->group_id] = contract->version;
    m_deployments.insert_or_assign(contract->group_id, d);
    const std::lock_guard lock(m_mutex);
    m_contracts.insert_or_assign(contract->group_id, std::move(contract));
    return e;
  }

  /// Stored deployments that did not verify when the database was opened (each is a sentence);
  /// their groups have no contract until an admin deploys a higher version.
  [[nodiscard]] const std::vector<std::string>& load_problems() const noexcept { return m_load_problems; }

  /// Whether installed deployments persist in SQLite.
  [[nodiscard]] bool persistent() const noexcept { return m_db != nullptr; }

  /// Checks @p p from @p device_id of @p group_id at @p now. Every message of a known group counts
  /// against the device's rate, refused ones too, so a flood of bad messages is cut off early.
  /// Order: unknown_group, rate_exceeded, then check_content(). Never throws for any payload.
  [[nodiscard]] rule_verdict check(std::uint32_t group_id, std::string_view device_id, const payload& p,
                                   iot_clock::time_point now) {
    std::shared_ptr<const rule_contract> contract;
    device_rate_limiter::decision rate = device_rate_limiter::decision::admitted;
    {
      const std::lock_guard lock(m_mutex);
      const auto it = m_contracts.find(group_id);
      if (it != m_contracts.end()) {
        contract = it->second;
        rate = m_rate.admit(device_id, contract->max_messages_per_minute, now);
      }
    }
    if (!contract) {
      rule_violation v;
      v.kind = rule_violation_kind::unknown_group;
      v.message = "no rule contract is deployed for group " + std::to_string(group_id);
      return rule_verdict::rejected(std::move(v));
    }
    if (rate != device_rate_limiter::decision::admitted) {
      rule_violation v;
      v.kind = rule_violation_kind::rate_exceeded;
      v.max = contract->max_messages_per_minute;
      v.message = rate == device_rate_limiter::decision::rate_exceeded
                      ? "device '" + std::string(device_id) + "' exceeded " +
                            std::to_string(contract->max_messages_per_minute) + " messages per minute of " +
                            contract->label()
                      : "rate table full: " + std::to_string(m_rate.size()) +
                            " devices are being limited, new device '" + std::string(device_id) + "' refused";
      return rule_verdict::rejected(std::move(v));
    }
    return check_content(*contract, p);
  }

  /// The installed contract of @p group_id, or null.
  [[nodiscard]] std::shared_ptr<const rule_contract> contract(std::uint32_t group_id) const {
    const std::lock_guard lock(m_mutex);
    const auto it = m_contracts.find(group_id);
    return it == m_contracts.end() ? nullptr : it->second;
  }

  /// Number of groups with an installed contract.
  [[nodiscard]] std::size_t group_count() const {
    const std::lock_guard lock(m_mutex);
    return m_contracts.size();
  }

  /// Devices the rate limiter currently remembers (bounded by options.max_tracked_devices).
  [[nodiscard]] std::size_t tracked_devices() const {
    const std::lock_guard lock(m_mutex);
    return m_rate.size();
  }

private:
  static std::size_t checked_capacity(std::size_t n) {
    if (n == 0) throw invalid_argument("rule_manager: expected max_tracked_devices >= 1, got 0");
    return n;
  }

  static std::string hex(std::span<const std::uint8_t> b) { return Botan::hex_encode(b.data(), b.size(), false); }

  void open(const std::string& path) {
    try {
      m_db = std::make_unique<Botan::Sqlite3_Database>(path);
      m_db->create_table(
          "CREATE TABLE IF NOT EXISTS hefl_rule_deployments (group_id TEXT PRIMARY KEY, version TEXT NOT NULL, "
          "contract TEXT NOT NULL, signature TEXT NOT NULL, signer TEXT NOT NULL)");
      auto q = m_db->new_statement("SELECT group_id, version, contract, signature, signer FROM hefl_rule_deployments");
      while (q->step()) {
        const auto group_text = q->get_str(0), version_text = q->get_str(1);
        std::uint32_t group = 0;
        std::uint64_t version = 0;
        const auto g = std::from_chars(group_text.data(), group_text.data() + group_text.size(), group);
        const auto v = std::from_chars(version_text.data(), version_text.data() + version_text.size(), version);
        if (g.ec != std::errc{} || g.ptr != group_text.data() + group_text.size() || v.ec != std::errc{} ||
            v.ptr != version_text.data() + version_text.size())
          throw parse_error("rule_manager " + path + ": stored row with group \"" + group_text.substr(0, 16) +
                            "\" and version \"" + version_text.substr(0, 24) + "\" is not numbers");
        m_floor[group] = std::max(m_floor[group], version);
        const auto problem = reinstall(group, version, q->get_str(2), q->get_str(3), q->get_str(4));
        if (problem)
          m_load_problems.push_back("group " + std::to_string(group) + " version " + std::to_string(version) + ": " +
                                    *problem);
      }
    } catch (const Botan::Exception& e) {
      throw io_error("rule_manager " + path + ": " + e.what());
    }
  }

  // Verifies a stored deployment as deploy() would and installs it; the reason if it does not verify.
  std::optional<std::string> reinstall(std::uint32_t group, std::uint64_t version, const std::string& contract_hex,
                                       const std::string& signature_hex, const std::string& signer_hex) {
    signed_deployment d;
    try {
      const auto c = Botan::hex_decode(contract_hex), sig = Botan::hex_decode(signature_hex),
                 cert = Botan::hex_decode(signer_hex);
      d.contract.assign(c.begin(), c.end());
      d.signature.assign(sig.begin(), sig.end());
      d.signer = Botan::X509_Certificate(cert);
    } catch (const std::exception& e) {
      return std::string("stored row does not decode: ") + e.what();
    }
    try {
      if (!m_is_admin(d.signer)) return std::string("the signer is not (or no longer) an admin");
      const auto key = d.signer.load_subject_public_key();
      if (!key || !AdminSigningPolicy::verify(*key, deployment_message(d.contract), d.signature))
        return std::string("the signature does not verify");
      auto contract = std::make_shared<const rule_contract>(rule_contract::parse(
          std::string_view(reinterpret_cast<const char*>(d.contract.data()), d.contract.size())));
      if (contract->group_id != group || contract->version != version)
        return std::string("the signed contract is for another group or version than the row says");
      m_deployments.insert_or_assign(group, d);
      const std::lock_guard lock(m_mutex);
      m_contracts.insert_or_assign(group, std::move(contract));
      return std::nullopt;
    } catch (const std::exception& e) {
      return std::string("stored deployment refused: ") + e.what();
    }
  }

  // Botan's wrapper swallows step errors: the write is confirmed by counting changes.
  void persist(std::uint32_t group, std::uint64_t version, const signed_deployment& d) {
    if (!m_db) return;
    try {
      auto ins = m_db->new_statement(
          "INSERT OR REPLACE INTO hefl_rule_deployments (group_id, version, contract, signature, signer) "
          "VALUES (?1, ?2, ?3, ?4, ?5)");
      ins->bind(1, std::to_string(group));
      ins->bind(2, std::to_string(version));
      ins->bind(3, hex(d.contract));
      ins->bind(4, hex(d.signature));
      ins->bind(5, hex(d.signer.BER_encode()));
      ins->spin();
      auto changes = m_db->new_statement("SELECT changes()");
      if (!changes->step() || changes->get_size_t(0) == 0)
        throw io_error("rule_manager: the deployment of group " + std::to_string(group) + " was not stored");
    } catch (const Botan::Exception& e) {
      throw io_error(std::string("rule_manager: storing a deployment failed: ") + e.what());
    }
  }

  void unpersist(std::uint32_t group) {
    if (!m_db) return;
    auto del = m_db->new_statement("DELETE FROM hefl_rule_deployments WHERE group_id = ?1");
    del->bind(1, std::to_string(group));
    del->spin();
  }

  admin_predicate m_is_admin;
  deployment_observer m_observer;
  mutable std::mutex m_mutex;   // guards m_contracts and m_rate
  std::mutex m_deploy_mutex;    // serialises deployments, so the version check and install are atomic
  std::map<std::uint32_t, std::shared_ptr<const rule_contract>> m_contracts;
  device_rate_limiter m_rate;
  // Guarded by m_deploy_mutex (and written only while loading, before the manager is shared):
  std::map<std::uint32_t, std::uint64_t> m_floor;              // highest version ever installed per group
  std::map<std::uint32_t, signed_deployment> m_deployments;    // the installed deployments, as signed
  std::unique_ptr<Botan::Sqlite3_Database> m_db;
  std::vector<std::string> m_load_problems;
};

static_assert(rule_policy<rule_manager<>>);

} // namespace hefl::iot
