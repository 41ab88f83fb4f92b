#pragma once
/// @file
/// The AuditLog contract (contracts/AuditLog.sol) from C++: deploy it, encode append() calls with the
/// Solidity ABI (https://docs.soliditylang.org/en/v0.8.24/abi-spec.html), and decode and check its
/// Appended events, including the hash chain the contract keeps over them.

#include <hefl/core/error.hpp>
#include <hefl/iot/ledger/ethereum/contract_artifacts.hpp>
#include <hefl/iot/ledger/ethereum/json_rpc.hpp>
#include <hefl/iot/ledger/ethereum/keccak.hpp>

#include <algorithm>
#include <cstdint>
#include <string_view>

namespace hefl::iot::ethereum {

/// What an audit entry records (the contract's KIND_* constants).
enum class audit_kind : std::uint8_t { rule_check = 0, storage = 1, access = 2 };

/// One entry as a writer appends it.
struct audit_entry {
  hash32 request_hash{};
  audit_kind kind = audit_kind::rule_check;
  bool accepted = false;
  std::uint16_t reason = 0;  ///< reason code of the verdict (0 when accepted)
  hash32 device_id{};        ///< e.g. the device's SGTIN-96, left-aligned and zero-padded
};

/// One Appended event read back from the chain.
struct audit_record {
  std::uint64_t index = 0;
  audit_entry entry;
  address writer{};
  std::uint64_t timestamp = 0;  ///< block timestamp, seconds
  hash32 head{};                ///< the contract's hash chain after this entry
  std::uint64_t block_number = 0;
  hash32 transaction_hash{};
};

namespace audit_log_abi {
inline constexpr std::string_view append_signature = "append(bytes32,uint8,bool,uint16,bytes32)";
inline constexpr std::string_view appended_signature =
    "Appended(uint64,bytes32,bytes32,uint8,bool,uint16,address,uint256,bytes32)";

/// Topic 0 of Appended events.
inline hash32 appended_topic() { return keccak256(appended_signature); }

namespace detail {
inline void put_uint(bytes& out, std::uint64_t v) {
  std::uint8_t word[32] = {};
  for (int i = 0; i < 8; ++i) word[31 - i] = static_cast<std::uint8_t>(v >> (8 * i));
  out.insert(out.end(), word, word + 32);
}
inline std::uint64_t get_uint(std::span<const std::uint8_t> word, std::uint64_t max, const char* what) {
  if (!std::all_of(word.begin(), word.begin() + 24, [](std::uint8_t b) { return b == 0; }))
    throw malformed_reply(std::string("AuditLog event: ") + what + " out of range");
  std::uint64_t v = 0;
  for (std::size_t i = 24; i < 32; ++i) v = v << 8 | word[i];
  if (v > max) throw malformed_reply(std::string("AuditLog event: ") + what + " out of range");
  return v;
}
} // namespace detail

/// Calldata of append(entry): the 4-byte selector and five 32-byte words.
inline bytes encode_append(const audit_entry& e) {
  const hash32 sel = keccak256(append_signature);
  bytes out(sel.begin(), sel.begin() + 4);
  out.insert(out.end(), e.request_hash.begin(), e.request_hash.end());
  detail::put_uint(out, static_cast<std::uint8_t>(e.kind));
  detail::put_uint(out, e.accepted ? 1 : 0);
  detail::put_uint(out, e.reason);
  out.insert(out.end(), e.device_id.begin(), e.device_id.end());
  return out;
}

/// Decodes an Appended event, checking every field's ABI range.
/// @throws malformed_reply if the log is not an Appended event or a field is out of range
inline audit_record decode_appended(const log_entry& log) {
  if (log.topics.size() != 4 || log.topics[0] != appended_topic())
    throw malformed_reply("AuditLog event: not an Appended event");
  if (log.data.size() != 6 * 32)
    throw malformed_reply("AuditLog event: data of " + std::to_string(log.data.size()) + " bytes, expected 192");
  const std::span<const std::uint8_t> d(log.data);
  audit_record r;
  r.index = detail::get_uint(log.topics[1], UINT64_MAX, "index");
  r.entry.request_hash = log.topics[2];
  r.entry.device_id = log.topics[3];
  r.entry.kind = static_cast<audit_kind>(detail::get_uint(d.subspan(0, 32), 2, "kind"));
  r.entry.accepted = detail::get_uint(d.subspan(32, 32), 1, "accepted") == 1;
  r.entry.reason = static_cast<std::uint16_t>(detail::get_uint(d.subspan(64, 32), 0xffff, "reason"));
  const auto w = d.subspan(96, 32);
  if (!std::all_of(w.begin(), w.begin() + 12, [](std::uint8_t b) { return b == 0; }))
    throw malformed_reply("AuditLog event: writer is not an address");
  std::copy(w.begin() + 12, w.end(), r.writer.begin());
  r.timestamp = detail::get_uint(d.subspan(128, 32), UINT64_MAX, "timestamp");
  std::copy(d.begin() + 160, d.end(), r.head.begin());
  r.block_number = log.block_number;
  r.transaction_hash = log.transaction_hash;
  return r;
}

/// The contract's hash chain step, recomputed locally: keccak256(abi.encode(previous head, index,
/// request hash, kind, accepted, reason, device id, writer, timestamp)).
inline hash32 chain_head(const hash32& previous, const audit_record& r) {
  bytes b(previous.begin(), previous.end());
  detail::put_uint(b, r.index);
  b.insert(b.end(), r.entry.request_hash.begin(), r.entry.request_hash.end());
  detail::put_uint(b, static_cast<std::uint8_t>(r.entry.kind));
  detail::put_uint(b, r.entry.accepted ? 1 : 0);
  detail::put_uint(b, r.entry.reason);
  b.insert(b.end(), r.entry.device_id.begin(), r.entry.device_id.end());
  b.insert(b.end(), 12, 0);
  b.insert(b.end(), r.writer.begin(), r.writer.end());
  detail::put_uint(b, r.timestamp);
  return keccak256(b);
}

/// AuditLog's creation code.
inline bytes creation_code() { return from_hex(contracts::audit_log_bytecode); }
} // namespace audit_log_abi

} // namespace hefl::iot::ethereum
