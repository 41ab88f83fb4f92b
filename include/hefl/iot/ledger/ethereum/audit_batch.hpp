#pragma once
/// @file
/// Batches of AuditLog entries under one Merkle root (contracts/AuditLog.sol, appendBatch): the ABI of
/// appendBatch and its BatchAppended event (https://docs.soliditylang.org/en/v0.8.24/abi-spec.html),
/// the leaf of an entry, and the reader's check of one entry's inclusion proof against the root the
/// chain recorded. The tree is hefl's SHA-256 tree of RFC 6962 §2.1 (iot/ledger/merkle.hpp).

#include <hefl/iot/ledger/ethereum/audit_log.hpp>
#include <hefl/iot/ledger/ledger.hpp>
#include <hefl/iot/ledger/merkle.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace hefl::iot::ethereum {

/// An entry's inclusion proof does not hold: the entry, the proof or the claimed root was altered, or
/// the chain has no such batch / another root for it.
class batch_proof_refused : public security_error {
public:
  using security_error::security_error;
};

/// One BatchAppended event read back from the chain.
struct batch_record {
  std::uint64_t batch = 0;        ///< the batch's index in the contract
  sha256_digest root{};           ///< Merkle root of the batch's entries
  std::uint32_t entries = 0;      ///< number of entries (leaves)
  address writer{};
  std::uint64_t timestamp = 0;    ///< block timestamp, seconds
  hash32 head{};                  ///< the contract's batch hash chain after this batch
  std::uint64_t block_number = 0;
  hash32 transaction_hash{};
};

/// What a reader needs to check that one entry is on chain: the entry, its batch and its proof.
struct audit_inclusion {
  audit_entry entry;
  std::uint64_t batch = 0;
  sha256_digest root{};  ///< the root the writer claims for the batch (checked against the chain)
  merkle_proof proof;
};

namespace audit_batch_abi {
inline constexpr std::string_view append_batch_signature = "appendBatch(bytes32,uint32)";
inline constexpr std::string_view batch_appended_signature = "BatchAppended(uint64,bytes32,uint32,address,uint256,bytes32)";

/// Topic 0 of BatchAppended events.
inline hash32 batch_appended_topic() { return keccak256(batch_appended_signature); }

/// The Merkle leaf of an entry: leaf_hash of its five ABI words (request hash, kind, accepted, reason,
/// device id), the same bytes append() takes, so a leaf binds every field of the entry.
inline sha256_digest leaf_of(const audit_entry& e) {
  const bytes call = audit_log_abi::encode_append(e);
  return merkle_tree::leaf_hash(std::span<const std::uint8_t>(call).subspan(4));
}

/// Calldata of appendBatch(root, entries).
inline bytes encode_append_batch(const sha256_digest& root, std::uint32_t entries) {
  const hash32 sel = keccak256(append_batch_signature);
  bytes out(sel.begin(), sel.begin() + 4);
  out.insert(out.end(), root.begin(), root.end());
  audit_log_abi::detail::put_uint(out, entries);
  return out;
}

/// Decodes a BatchAppended event, checking every field's ABI range.
/// @throws malformed_reply if the log is not a BatchAppended event or a field is out of range
inline batch_record decode_batch_appended(const log_entry& log) {
  if (log.topics.size() != 3 || log.topics[0] != batch_appended_topic())
    throw malformed_reply("AuditLog event: not a BatchAppended event");
  if (log.data.size() != 4 * 32)
    throw malformed_reply("AuditLog event: BatchAppended data of " + std::to_string(log.data.size()) + " bytes, expected 128");
  const std::span<const std::uint8_t> d(log.data);
  batch_record r;
  r.batch = audit_log_abi::detail::get_uint(log.topics[1], UINT64_MAX, "batch");
  std::copy(log.topics[2].begin(), log.topics[2].end(), r.root.begin());
  r.entries = static_cast<std::uint32_t>(audit_log_abi::detail::get_uint(d.subspan(0, 32), UINT32_MAX, "entries"));
  const auto w = d.subspan(32, 32);
  if (!std::all_of(w.begin(), w.begin() + 12, [](std::uint8_t b) { return b == 0; }))
    throw malformed_reply("AuditLog event: writer is not an address");
  std::copy(w.begin() + 12, w.end(), r.writer.begin());
  r.timestamp = audit_log_abi::detail::get_uint(d.subspan(64, 32), UINT64_MAX, "timestamp");
  std::copy(d.begin() + 96, d.end(), r.head.begin());
  r.block_number = log.block_number;
  r.transaction_hash = log.transaction_hash;
  return r;
}

/// The contract's batch hash chain step: keccak256(abi.encode(previous, batch, root, entries, writer, timestamp)).
inline hash32 batch_chain_head(const hash32& previous, const batch_record& r) {
  bytes b(previous.begin(), previous.end());
  audit_log_abi::detail::put_uint(b, r.batch);
  b.insert(b.end(), r.root.begin(), r.root.end());
  audit_log_abi::detail::put_uint(b, r.entries);
  b.insert(b.end(), 12, 0);
  b.insert(b.end(), r.writer.begin(), r.writer.end());
  audit_log_abi::detail::put_uint(b, r.timestamp);
  return keccak256(b);
}

/// Every BatchAppended event of @p audit_log, by batch index (removed logs skipped).
/// @throws node_unreachable, json_rpc_error, malformed_reply (also when an index appears twice)
inline std::map<std::uint64_t, batch_record> read_batches(const json_rpc_client& rpc, const address& audit_log,
                                                          std::optional<std::uint64_t> only = std::nullopt) {
  log_filter filter;
  filter.emitter = audit_log;
  filter.topics = {batch_appended_topic()};
  if (only) {
    hash32 t{};
    for (int i = 0; i < 8; ++i) t[31 - i] = static_cast<std::uint8_t>(*only >> (8 * i));
    filter.topics.push_back(t);
  }
  std::map<std::uint64_t, batch_record> out;
  for (const auto& l : rpc.logs(filter)) {
    if (l.removed) continue;
    const batch_record r = decode_batch_appended(l);
    if (!out.emplace(r.batch, r).second) throw malformed_reply("AuditLog: batch " + std::to_string(r.batch) + " appears twice");
  }
  return out;
}
} // namespace audit_batch_abi

/// A reader's check of one entry: the proof must lead from the entry's leaf to the claimed root, and
/// the chain's BatchAppended event for that batch must carry the same root and a tree of that size.
/// @returns the on-chain batch record
/// @throws batch_proof_refused when any of these fails; node_unreachable, json_rpc_error, malformed_reply
inline batch_record verify_inclusion(const json_rpc_client& rpc, const address& audit_log, const audit_inclusion& inc) {
  if (!merkle_tree::verify_proof(audit_batch_abi::leaf_of(inc.entry), inc.proof, inc.root))
    throw batch_proof_refused("AuditLog batch " + std::to_string(inc.batch) + ": the proof does not lead from the entry to the root");
  const auto on_chain = audit_batch_abi::read_batches(rpc, audit_log, inc.batch);
  const auto it = on_chain.find(inc.batch);
  if (it == on_chain.end()) throw batch_proof_refused("AuditLog: no batch " + std::to_string(inc.batch) + " on chain");
  if (it->second.root != inc.root)
    throw batch_proof_refused("AuditLog batch " + std::to_string(inc.batch) + ": the chain records another root");
  if (it->second.entries != inc.proof.tree_size)
    throw batch_proof_refused("AuditLog batch " + std::to_string(inc.batch) + ": the chain records " +
                              std::to_string(it->second.entries) + " entries, the proof " + std::to_string(inc.proof.tree_size));
  return it->second;
}

} // namespace hefl::iot::ethereum
