#pragma once
/// @file
/// Ledger blocks and signed entries as JSON for the wire (replicas gossiping over mutual TLS, see
/// hefl/services/ledger_replica_service.hpp). Parsing is strict and bounded: exact keys, lower-case
/// hex of the right lengths, each entry's canonical body re-parsed by transaction::parse, at most
/// max_block_entries entries. Parsing checks form only; whether a block belongs on the chain
/// (signatures, links, turn, authors) is the ledger's accept_block() verdict.
/// Needs Botan 2 (hex) and nlohmann-json (target hefl::iot).

#include <hefl/core/error.hpp>
#include <hefl/iot/ledger/ledger.hpp>

#include <botan/hex.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace hefl::iot {

/// Most entries a block on the wire may carry (ledger_config::max_block_transactions' upper bound).
inline constexpr std::size_t max_block_entries = 100000;

namespace wire_detail {

inline void require_keys(const nlohmann::json& j, std::initializer_list<std::string_view> keys, std::string_view what) {
  if (!j.is_object()) throw parse_error(std::string(what) + ": expected a JSON object");
  if (j.size() != keys.size())
    throw parse_error(std::string(what) + ": expected exactly " + std::to_string(keys.size()) + " fields, got " +
                      std::to_string(j.size()));
  for (const auto k : keys)
    if (!j.contains(std::string(k))) throw parse_error(std::string(what) + ": missing field '" + std::string(k) + "'");
}

inline const std::string& string_field(const nlohmann::json& j, const char* key, std::string_view what) {
  const auto& v = j.at(key);
  if (!v.is_string()) throw parse_error(std::string(what) + ": '" + key + "' must be a string");
  return v.get_ref<const std::string&>();
}

inline std::vector<std::uint8_t> hex_field(const nlohmann::json& j, const char* key, std::string_view what,
                                           std::size_t max_bytes) {
  const auto& text = string_field(j, key, what);
  if (text.size() > 2 * max_bytes)
    throw parse_error(std::string(what) + ": '" + key + "' is longer than " + std::to_string(max_bytes) + " bytes");
  std::vector<std::uint8_t> out;
  try {
    out = Botan::hex_decode(text, false);
  } catch (const Botan::Exception&) {
    throw parse_error(std::string(what) + ": '" + key + "' is not hex");
  }
  if (ledger_detail::to_hex(out) != text) throw parse_error(std::string(what) + ": '" + key + "' is not lower-case hex");
  return out;
}

inline sha256_digest digest_field(const nlohmann::json& j, const char* key, std::string_view what) {
  const auto bytes = hex_field(j, key, what, 32);
  if (bytes.size() != 32)
    throw parse_error(std::string(what) + ": '" + key + "' is " + std::to_string(bytes.size()) + " bytes, expected 32");
  sha256_digest d;
  std::copy(bytes.begin(), bytes.end(), d.begin());
  return d;
}

inline std::int64_t integer_field(const nlohmann::json& j, const char* key, std::string_view what) {
  const auto& v = j.at(key);
  if (!v.is_number_integer()) throw parse_error(std::string(what) + ": '" + key + "' must be an integer");
  if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
    throw parse_error(std::string(what) + ": '" + key + "' is out of range");
  const auto x = v.get<std::int64_t>();
  if (x < 0) throw parse_error(std::string(what) + ": '" + key + "' must not be negative");
  return x;
}

} // namespace wire_detail

/// A signed entry as JSON: {"body": canonical text, "author": id, "signature": hex}.
/// @throws nothing beyond std::bad_alloc
[[nodiscard]] inline nlohmann::json entry_to_json(const transaction& tx) {
  return {{"body", tx.canonical()}, {"author", tx.author()}, {"signature", ledger_detail::to_hex(tx.author_signature())}};
}

/// The entry in @p j (form only: the ledger checks the author and signature when it is submitted).
/// @throws hefl::parse_error for a malformed entry (the message names the field)
[[nodiscard]] inline transaction entry_from_json(const nlohmann::json& j) {
  constexpr std::string_view what = "ledger entry";
  wire_detail::require_keys(j, {"body", "author", "signature"}, what);
  auto tx = transaction::parse(wire_detail::string_field(j, "body", what));
  const auto& author = wire_detail::string_field(j, "author", what);
  if (author.size() > 128) throw parse_error("ledger entry: author id is longer than 128 bytes");
  auto signature = wire_detail::hex_field(j, "signature", what, 64);
  if (author.empty() != signature.empty())
    throw parse_error("ledger entry: an author needs a signature and a signature an author");
  if (author.empty()) return tx;
  return tx.with_author(author, std::move(signature));
}

/// A block as JSON: header fields (hashes as hex, time in ms), the sealer's signature and the entries.
/// @throws nothing beyond std::bad_alloc
[[nodiscard]] inline nlohmann::json block_to_json(const block& b) {
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& tx : b.transactions) entries.push_back(entry_to_json(tx));
  return {{"height", b.header.height},
          {"previous", ledger_detail::to_hex(b.header.previous)},
          {"merkle_root", ledger_detail::to_hex(b.header.merkle_root)},
          {"time", b.header.time.time_since_epoch().count()},
          {"sealer", b.header.sealer},
          {"signature", ledger_detail::to_hex(b.signature)},
          {"entries", std::move(entries)}};
}

/// The block in @p j (form only: ledger::accept_block() decides whether it belongs on the chain).
/// @throws hefl::parse_error for a malformed block (the message names the field)
[[nodiscard]] inline block block_from_json(const nlohmann::json& j) {
  constexpr std::string_view what = "ledger block";
  wire_detail::require_keys(j, {"height", "previous", "merkle_root", "time", "sealer", "signature", "entries"}, what);
  block b;
  b.header.height = static_cast<std::uint64_t>(wire_detail::integer_field(j, "height", what));
  b.header.previous = wire_detail::digest_field(j, "previous", what);
  b.header.merkle_root = wire_detail::digest_field(j, "merkle_root", what);
  b.header.time = ledger_time(std::chrono::milliseconds(wire_detail::integer_field(j, "time", what)));
  b.header.sealer = wire_detail::string_field(j, "sealer", what);
  if (b.header.sealer.size() > 128) throw parse_error("ledger block: sealer id is longer than 128 bytes");
  b.signature = wire_detail::hex_field(j, "signature", what, 64);
  const auto& entries = j.at("entries");
  if (!entries.is_array()) throw parse_error("ledger block: 'entries' must be an array");
  if (entries.size() > max_block_entries)
    throw parse_error("ledger block: " + std::to_string(entries.size()) + " entries, at most " +
                      std::to_string(max_block_entries) + " allowed");
  b.transactions.reserve(entries.size());
  for (const auto& e : entries) b.transactions.push_back(entry_from_json(e));
  return b;
}

} // namespace hefl::iot
