#pragma once
/// @file
/// Messages of the hospital services over hefl's mutual-TLS frames: the frame type says what a
/// message is, the payload is a device request (request::encode()) or UTF-8 JSON. Binary fields in
/// JSON (EPCs, signatures, hashes, payload bytes) are lower-case hex. See docs/services.md.

#include <hefl/core/error.hpp>
#include <hefl/iot/storage/record.hpp>
#include <hefl/net/frame.hpp>

#include <botan/hex.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hefl::services {

/// Frame types of the services.
namespace msg {
inline constexpr std::uint8_t submit = 0x01;    ///< device -> collector: a signed request (request::encode())
inline constexpr std::uint8_t store = 0x02;     ///< collector -> storage: an attested record (JSON)
inline constexpr std::uint8_t read = 0x03;      ///< reader -> storage: {"patient", "from"?, "to"?} (JSON, times in ms)
inline constexpr std::uint8_t accepted = 0x81;  ///< reply: {"record_id", "already_stored"?} once the record is durably stored
inline constexpr std::uint8_t refused = 0x82;   ///< reply: {"stage", "reason", "message"} (a refusal with its reason)
inline constexpr std::uint8_t records = 0x83;   ///< reply to read: {"records": [record, ...]}
} // namespace msg

/// A refusal as the peer sent it.
struct refusal {
  std::string stage;    ///< "collector", "storage" or "access"
  std::string reason;   ///< the verdict code, e.g. "replay", "duplicate_nonce", "not_assigned"
  std::string message;  ///< for logs
};

/// A frame of @p type carrying @p j as UTF-8 JSON.
[[nodiscard]] inline net::frame json_frame(std::uint8_t type, const nlohmann::json& j) {
  const auto text = j.dump();
  return {type, std::vector<std::uint8_t>(text.begin(), text.end())};
}

/// The JSON object in @p f's payload.
/// @throws hefl::parse_error if the payload is not a JSON object
[[nodiscard]] inline nlohmann::json read_json(const net::frame& f) {
  auto j = nlohmann::json::parse(f.payload.begin(), f.payload.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    throw parse_error("services: expected a JSON object in a frame of type " + std::to_string(f.type));
  return j;
}

/// A refusal reply.
[[nodiscard]] inline net::frame refusal_frame(std::string_view stage, std::string_view reason, std::string_view message) {
  return json_frame(msg::refused, {{"stage", stage}, {"reason", reason}, {"message", message}});
}

/// An acknowledgement of a durably stored record; @p already_stored says that it was stored by an
/// earlier copy of the same signed request (a retry), under @p record_id.
[[nodiscard]] inline net::frame accepted_frame(std::uint64_t record_id, bool already_stored = false) {
  nlohmann::json j{{"record_id", record_id}};
  if (already_stored) j["already_stored"] = true;
  return json_frame(msg::accepted, j);
}

/// Reads a refusal reply.
/// @throws hefl::parse_error if @p f is not one
[[nodiscard]] inline refusal read_refusal(const net::frame& f) {
  if (f.type != msg::refused) throw parse_error("services: expected a refusal frame");
  const auto j = read_json(f);
  try {
    return {j.at("stage").get<std::string>(), j.at("reason").get<std::string>(), j.at("message").get<std::string>()};
  } catch (const nlohmann::json::exception& e) {
    throw parse_error(std::string("services: refusal frame: ") + e.what());
  }
}

/// An acknowledgement as the peer sent it (see accepted_frame()).
struct acknowledgement {
  std::uint64_t record_id = 0;
  bool already_stored = false;
};

/// Reads an acknowledgement reply.
/// @throws hefl::parse_error if @p f is not one (wrong type, not JSON, "record_id" not a non-negative
///         integer, "already_stored" present and not a boolean)
[[nodiscard]] inline acknowledgement read_accepted(const net::frame& f) {
  if (f.type != msg::accepted) throw parse_error("services: expected an acknowledgement frame");
  const auto j = read_json(f);
  const auto id = j.find("record_id");
  if (id == j.end() || !id->is_number_unsigned())
    throw parse_error("services: acknowledgement: \"record_id\" must be a non-negative integer");
  acknowledgement out{id->get<std::uint64_t>(), false};
  if (const auto again = j.find("already_stored"); again != j.end()) {
    if (!again->is_boolean()) throw parse_error("services: acknowledgement: \"already_stored\" must be a boolean");
    out.already_stored = again->get<bool>();
  }
  return out;
}

namespace wire_detail {
inline std::string hex(std::span<const std::uint8_t> b) { return Botan::hex_encode(b.data(), b.size(), false); }
inline std::vector<std::uint8_t> unhex(const nlohmann::json& j, const char* field) {
  const auto s = j.at(field).get<std::string>();
  try {
    auto v = Botan::hex_decode(s, false);
    return std::vector<std::uint8_t>(v.begin(), v.end());
  } catch (const std::exception&) {
    throw parse_error(std::string("services: field \"") + field + "\" is not hex");
  }
}
} // namespace wire_detail

/// A record as JSON (the id too, which the store assigns).
/// @throws hefl::invalid_argument if the device EPC does not encode
[[nodiscard]] inline nlohmann::json record_to_json(const iot::record& r) {
  using wire_detail::hex;
  return {{"id", r.id},
          {"patient", r.patient_id},
          {"device", r.device.to_hex()},
          {"data_type", r.data_type},
          {"payload", hex(r.payload_bytes)},
          {"time_ms", r.timestamp.time_since_epoch().count()},
          {"hash", hex(r.hash)},
          {"patient_signature", hex(r.patient_signature)},
          {"collector", r.collector_id},
          {"collector_signature", hex(r.collector_signature)}};
}

/// The record in @p j. Only the shape is checked here; the storage guard checks everything else.
/// @throws hefl::parse_error naming the bad field
[[nodiscard]] inline iot::record record_from_json(const nlohmann::json& j) {
  try {
    iot::record r;
    r.id = j.value("id", std::uint64_t{0});
    r.patient_id = j.at("patient").get<std::string>();
    r.device = iot::sgtin96::from_hex(j.at("device").get<std::string>());
    r.data_type = j.at("data_type").get<std::string>();
    r.payload_bytes = wire_detail::unhex(j, "payload");
    r.timestamp = iot::record_time(std::chrono::milliseconds(j.at("time_ms").get<std::int64_t>()));
    const auto h = wire_detail::unhex(j, "hash");
    if (h.size() != r.hash.size()) throw parse_error("services: record hash must be 32 bytes");
    std::copy(h.begin(), h.end(), r.hash.begin());
    r.patient_signature = wire_detail::unhex(j, "patient_signature");
    r.collector_id = j.at("collector").get<std::string>();
    r.collector_signature = wire_detail::unhex(j, "collector_signature");
    return r;
  } catch (const nlohmann::json::exception& e) {
    throw parse_error(std::string("services: record: ") + e.what());
  } catch (const parse_error&) {
    throw;
  } catch (const hefl::error& e) {
    throw parse_error(std::string("services: record: ") + e.what());
  }
}

/// A page cursor on the wire: {"time_ms": integer, "id": unsigned integer}.
[[nodiscard]] inline nlohmann::json cursor_to_json(const iot::record_cursor& c) {
  return {{"time_ms", c.timestamp.time_since_epoch().count()}, {"id", c.id}};
}

/// The cursor in @p j (see cursor_to_json()).
/// @throws hefl::parse_error naming what is wrong (a negative or non-integer id included)
[[nodiscard]] inline iot::record_cursor cursor_from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("time_ms") || !j.contains("id") || !j.at("time_ms").is_number_integer() ||
      !j.at("id").is_number_unsigned())
    throw parse_error("services: a cursor must be {\"time_ms\": integer, \"id\": unsigned integer}");
  return {iot::record_time(std::chrono::milliseconds(j.at("time_ms").get<std::int64_t>())), j.at("id").get<std::uint64_t>()};
}

/// A reply to a read request, decoded: the records of the page and where the next page starts.
struct records_page {
  std::vector<iot::record> records;         ///< each checked by record_from_json()
  std::optional<iot::record_cursor> next;   ///< "next": {"time_ms", "id"}; empty on the last page
};

/// Reads a reply to a read request: {"records": [record, ...], "next"?: {"time_ms", "id"}}.
/// @throws hefl::parse_error if @p f is not one
[[nodiscard]] inline records_page read_records_page(const net::frame& f) {
  if (f.type != msg::records) throw parse_error("services: expected a records frame");
  const auto j = read_json(f);
  const auto list = j.find("records");
  if (list == j.end() || !list->is_array()) throw parse_error("services: records frame: \"records\" must be an array");
  records_page out;
  out.records.reserve(list->size());
  for (const auto& r : *list) out.records.push_back(record_from_json(r));
  if (const auto n = j.find("next"); n != j.end()) out.next = cursor_from_json(*n);
  return out;
}

/// The records of a reply to a read request (read_records_page() without the cursor).
/// @throws hefl::parse_error if @p f is not one
[[nodiscard]] inline std::vector<iot::record> read_records(const net::frame& f) { return read_records_page(f).records; }

} // namespace hefl::services
