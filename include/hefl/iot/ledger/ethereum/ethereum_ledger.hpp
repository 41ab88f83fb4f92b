#pragma once
/// @file
/// iot::ethereum_ledger: a ledger_policy that records entries in the AuditLog contract on an Ethereum
/// node instead of hefl's built-in PoA chain (issue 14). First step: submit() appends one AuditLog
/// entry per rule check, stored record or access and waits for its receipt; verify_against_chain()
/// re-reads the events and checks them and the contract's hash chain against the local view.
/// Only the entry's SHA-256 id goes on chain; the full transaction stays with the caller.

#include <hefl/iot/ledger/ethereum/audit_log.hpp>
#include <hefl/iot/ledger/ethereum/resend.hpp>
#include <hefl/iot/ledger/ethereum/revert_reason.hpp>
#include <hefl/iot/ledger/ethereum/sender.hpp>
#include <hefl/iot/ledger/ledger.hpp>

#include <algorithm>
#include <chrono>
#include <exception>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace hefl::iot {

/// The Ethereum ledger refused an entry: a kind AuditLog does not record, or the append reverted.
class ethereum_entry_refused : public security_error {
public:
  using security_error::security_error;
};

/// An entry's block left the chain (a reorganisation) before it was final: the entry is no longer
/// in entries() and must be submitted again.
class ethereum_entry_reorganised : public io_error {
public:
  using io_error::io_error;
};

/// How ethereum_ledger submits.
struct ethereum_ledger_config {
  std::chrono::milliseconds receipt_timeout{std::chrono::seconds(60)};  ///< bound on waiting for each receipt
  std::uint64_t gas_limit = 200000;                                       ///< per append (one costs about 40k)
  std::uint64_t confirmations = 0;  ///< blocks on top of an entry's block before await_final() calls it final
  std::chrono::milliseconds poll{50};  ///< how often await_final() and resubmit_pending() ask the node
};

/// A ledger_policy over the AuditLog contract. Thread-safe.
class ethereum_ledger {
public:
  /// One entry as this node submitted it and as the chain reported it.
  struct entry {
    transaction tx;
    ethereum::audit_record record;
    ethereum::hash32 tx_hash{};     ///< the Ethereum transaction that appended it
    std::uint64_t block_number = 0; ///< the block its receipt named
    ethereum::hash32 block_hash{};  ///< ... and that block's hash
  };

  /// @param audit_log address of a deployed AuditLog where @p sender's account is a writer
  ethereum_ledger(const ethereum::json_rpc_client& rpc, ethereum::transaction_sender& sender, ethereum::address audit_log,
                  ethereum_ledger_config config = {})
      : m_rpc(rpc), m_sender(sender), m_audit_log(audit_log), m_config(config) {}

  /// The AuditLog entry of a transaction: request hash = its id; kind from its kind; accepted from
  /// its verdict ("accepted"), "allowed" or true for a stored record; reason 0 if accepted, else 1;
  /// device = the rule check's 24-hex-digit SGTIN-96 left-aligned, or Keccak-256 of the patient id.
  /// A custom entry of type "record_refused" (storage_guard) is a storage entry, not accepted, device =
  /// Keccak-256 of the patient id; "record_store_rollback" likewise with Keccak-256 of the record id.
  /// @throws ethereum_entry_refused for kinds other than rule_check, record_stored, access and those two
  ///         custom types
  [[nodiscard]] static ethereum::audit_entry entry_of(const transaction& tx) {
    ethereum::audit_entry e;
    std::copy(tx.id().begin(), tx.id().end(), e.request_hash.begin());
    const auto& f = tx.fields();
    const auto text = [&f](const char* key) {
      return f.contains(key) && f[key].is_string() ? f[key].get<std::string>() : std::string();
    };
    switch (tx.kind()) {
      case tx_kind::rule_check: {
        e.kind = ethereum::audit_kind::rule_check;
        e.accepted = text("verdict") == "accepted";
        const std::string device = text("device");
        e.device_id = device_word(device);
        break;
      }
      case tx_kind::record_stored:
        e.kind = ethereum::audit_kind::storage;
        e.accepted = true;
        e.device_id = ethereum::keccak256(text("patient"));
        break;
      case tx_kind::access:
        e.kind = ethereum::audit_kind::access;
        e.accepted = f.contains("allowed") && f["allowed"].is_boolean() && f["allowed"].get<bool>();
        e.device_id = ethereum::keccak256(text("patient"));
        break;
      case tx_kind::custom:
        // The storage guard's refusals and the record store's rollbacks: storage entries, not accepted.
        if (text("type") == "record_refused" || text("type") == "record_store_rollback") {
          e.kind = ethereum::audit_kind::storage;
          e.accepted = false;
          e.device_id = text("type") == "record_refused" ? ethereum::keccak256(text("patient"))
                                                         : ethereum::keccak256(text("record"));
          break;
        }
        [[fallthrough]];
      default:
        throw ethereum_entry_refused("ethereum_ledger: AuditLog records rule checks, stored records, storage refusals "
                                     "and access, not " +
                                     std::string(to_string(tx.kind())));
    }
    e.reason = e.accepted ? 0 : 1;
    return e;
  }

  /// Appends @p tx's entry to AuditLog, waits for the receipt and checks the event it emitted.
  /// @returns the transaction's id
  /// @throws ethereum_entry_refused (unsupported kind, or the append reverted: the message names the
  ///         contract's error, e.g. NotWriter(0x...), decoded by ethereum::explain_revert),
  ///         ethereum::node_unreachable, ethereum::receipt_timeout, ethereum::json_rpc_error,
  ///         ethereum::malformed_reply (including an event that does not match the entry)
  sha256_digest submit(transaction tx) {
    const ethereum::audit_entry e = entry_of(tx);
    ethereum::legacy_transaction call;
    call.gas_price = Botan::BigInt(m_rpc.gas_price());
    call.gas_limit = m_config.gas_limit;
    call.to = m_audit_log;
    call.data = ethereum::audit_log_abi::encode_append(e);
    const ethereum::signed_transaction st = m_sender.submit(std::move(call));
    std::optional<ethereum::receipt> awaited;
    try {
      awaited = m_rpc.await_receipt(st.hash, m_config.receipt_timeout);
    } catch (const ethereum::receipt_timeout&) {
      // Kept, signed, for resubmit_pending(): the same nonce, so it fills its place in the account's order.
      std::lock_guard lock(m_mutex);
      m_pending.push_back({tx, e, st});
      throw;
    }
    return record_receipt(std::move(tx), e, st, *awaited);
  }

  /// Sends again, byte for byte (same nonce, same hash), every entry whose submit() ended in
  /// receipt_timeout, all of them first, then awaits their receipts together, each until
  /// receipt_timeout after its own resend (ethereum::resend_and_await): a transaction the node dropped
  /// from its pool (a restart, eviction) is mined in its nonce slot, and n of them take about one
  /// block, not one receipt_timeout apiece. Concurrent submits time out in any order, not nonce order;
  /// since every one is sent before any is awaited, none waits for a nonce sent after it. Entries that
  /// land are recorded; the others stay pending.
  /// @returns how many pending entries are now on chain
  /// @throws the first failure among them (ethereum::receipt_timeout, node_unreachable,
  ///         ethereum_entry_refused for a reverted append, malformed_reply), after recording the rest
  std::size_t resubmit_pending() {
    std::vector<pending_entry> todo;
    {
      std::lock_guard lock(m_mutex);
      todo.swap(m_pending);
    }
    std::vector<const ethereum::signed_transaction*> txs;
    for (const auto& p : todo) txs.push_back(&p.st);
    const auto outcomes =
        ethereum::resend_and_await(m_rpc, txs, m_config.receipt_timeout, m_config.poll, "ethereum_ledger::resubmit_pending");
    std::size_t done = 0;
    std::exception_ptr first;
    std::vector<pending_entry> still;
    for (std::size_t i = 0; i < todo.size(); ++i) {
      if (!outcomes[i].mined) {
        if (!first) first = outcomes[i].error;
        still.push_back(std::move(todo[i]));
        continue;
      }
      try {
        record_receipt(todo[i].tx, todo[i].entry, todo[i].st, *outcomes[i].mined);
        ++done;
      } catch (...) {
        if (!first) first = std::current_exception();  // reverted or not the entry: refused for good
      }
    }
    if (!still.empty()) {
      std::lock_guard lock(m_mutex);
      m_pending.insert(m_pending.begin(), std::make_move_iterator(still.begin()), std::make_move_iterator(still.end()));
    }
    if (first) std::rethrow_exception(first);
    return done;
  }

  /// Entries whose submit() timed out and that resubmit_pending() has not landed yet.
  [[nodiscard]] std::size_t pending_count() const {
    std::lock_guard lock(m_mutex);
    return m_pending.size();
  }

private:
  struct pending_entry {
    transaction tx;
    ethereum::audit_entry entry;
    ethereum::signed_transaction st;
  };

  sha256_digest record_receipt(transaction tx, const ethereum::audit_entry& e, const ethereum::signed_transaction& st,
                               const ethereum::receipt& r) {
    if (!r.success) {
      ethereum::legacy_transaction call;
      call.gas_limit = m_config.gas_limit;
      call.to = m_audit_log;
      call.data = ethereum::audit_log_abi::encode_append(e);
      throw ethereum_entry_refused("ethereum_ledger: AuditLog.append reverted: " +
                                   ethereum::explain_revert(m_rpc, m_sender.account(), call, r).text);
    }
    std::optional<ethereum::audit_record> rec;
    for (const auto& l : r.logs)
      if (l.emitter == m_audit_log) rec = ethereum::audit_log_abi::decode_appended(l);
    if (!rec || !same(rec->entry, e) || rec->writer != m_sender.account())
      throw ethereum::malformed_reply("ethereum_ledger: the receipt's Appended event does not match the entry");
    const sha256_digest id = tx.id();
    std::lock_guard lock(m_mutex);
    m_entries.push_back({std::move(tx), *rec, st.hash, r.block_number, r.block_hash});
    return id;
  }

public:

  /// Waits until entry @p id (submitted here) has config.confirmations blocks on top of the block
  /// that holds it, re-reading its receipt each poll: if the receipt is gone or names another block,
  /// a reorganisation dropped it and the entry is removed from entries() (submit it again).
  /// @returns the number of the block holding the entry
  /// @throws ethereum_entry_reorganised; ethereum::receipt_timeout if not final within @p timeout;
  ///         hefl::invalid_argument if @p id was not submitted here; ethereum::node_unreachable,
  ///         ethereum::json_rpc_error, ethereum::malformed_reply
  std::uint64_t await_final(const sha256_digest& id, std::chrono::milliseconds timeout) {
    ethereum::hash32 tx_hash{}, block_hash{};
    {
      std::lock_guard lock(m_mutex);
      const auto it = find_locked(id);
      if (it == m_entries.end()) throw invalid_argument("ethereum_ledger::await_final: entry was not submitted here");
      tx_hash = it->tx_hash;
      block_hash = it->block_hash;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto r = m_rpc.transaction_receipt(tx_hash);
      if (!r || r->block_hash != block_hash) {
        std::lock_guard lock(m_mutex);
        const auto it = find_locked(id);
        const std::uint64_t index = it == m_entries.end() ? 0 : it->record.index;
        if (it != m_entries.end()) m_entries.erase(it);
        m_sender.resync();  // the account's nonce went back with the chain
        throw ethereum_entry_reorganised("ethereum_ledger: the block holding entry " + std::to_string(index) +
                                         (r ? " was replaced by another" : " left the chain") +
                                         " before it was final; submit the entry again");
      }
      if (m_rpc.block_number() >= r->block_number + m_config.confirmations) return r->block_number;
      if (std::chrono::steady_clock::now() >= deadline)
        throw ethereum::receipt_timeout("ethereum_ledger: entry not final (" + std::to_string(m_config.confirmations) +
                                        " confirmations) within the timeout");
      std::this_thread::sleep_for(m_config.poll);
    }
  }

  /// The entries this node submitted, in submission order.
  [[nodiscard]] std::vector<entry> entries() const {
    std::lock_guard lock(m_mutex);
    return m_entries;
  }

  /// Re-reads every Appended event of the contract and checks: indices 0..n-1 once each, each event's
  /// head equal to the hash chain recomputed from the start, the contract's head() equal to the last,
  /// and every entry this node submitted present with the same fields.
  /// @returns nullopt when consistent, otherwise what is wrong
  /// @throws ethereum::node_unreachable, ethereum::json_rpc_error, ethereum::malformed_reply
  [[nodiscard]] std::optional<std::string> verify_against_chain() const {
    ethereum::log_filter filter;
    filter.emitter = m_audit_log;
    filter.topics = {ethereum::audit_log_abi::appended_topic()};
    std::map<std::uint64_t, ethereum::audit_record> chain;
    for (const auto& l : m_rpc.logs(filter)) {
      if (l.removed) continue;
      const auto rec = ethereum::audit_log_abi::decode_appended(l);
      if (!chain.emplace(rec.index, rec).second) return "index " + std::to_string(rec.index) + " appears twice";
    }
    ethereum::hash32 head{};
    std::uint64_t expected = 0;
    for (const auto& [index, rec] : chain) {
      if (index != expected) return "entry " + std::to_string(expected) + " is missing";
      head = ethereum::audit_log_abi::chain_head(head, rec);
      if (rec.head != head) return "hash chain breaks at entry " + std::to_string(index);
      ++expected;
    }
    const ethereum::hash32 sel = ethereum::keccak256(std::string_view("head()"));
    const ethereum::bytes on_chain = m_rpc.eth_call(m_audit_log, ethereum::bytes(sel.begin(), sel.begin() + 4));
    if (on_chain != ethereum::bytes(head.begin(), head.end())) return "the contract's head differs from the events' chain";
    std::lock_guard lock(m_mutex);
    for (const auto& e : m_entries) {
      const auto it = chain.find(e.record.index);
      if (it == chain.end() || !same(it->second.entry, e.record.entry) || it->second.writer != e.record.writer)
        return "submitted entry " + std::to_string(e.record.index) + " is not on chain as submitted";
    }
    return std::nullopt;
  }

private:
  std::vector<entry>::iterator find_locked(const sha256_digest& id) {
    return std::find_if(m_entries.begin(), m_entries.end(), [&id](const entry& e) { return e.tx.id() == id; });
  }

  // A hex device id of at most 32 bytes, left-aligned; anything else by its Keccak-256.
  static ethereum::hash32 device_word(const std::string& s) {
    if (!s.empty() && s.size() <= 64) {
      try {
        const auto b = ethereum::from_hex(s);
        ethereum::hash32 out{};
        std::copy(b.begin(), b.end(), out.begin());
        return out;
      } catch (const parse_error&) {
      }
    }
    return ethereum::keccak256(s);
  }
  static bool same(const ethereum::audit_entry& a, const ethereum::audit_entry& b) {
    return a.request_hash == b.request_hash && a.kind == b.kind && a.accepted == b.accepted && a.reason == b.reason &&
           a.device_id == b.device_id;
  }

  const ethereum::json_rpc_client& m_rpc;
  ethereum::transaction_sender& m_sender;
  ethereum::address m_audit_log;
  ethereum_ledger_config m_config;
  mutable std::mutex m_mutex;
  std::vector<entry> m_entries;
  std::vector<pending_entry> m_pending;
};

static_assert(ledger_policy<ethereum_ledger>, "hefl::iot::ethereum_ledger must satisfy ledger_policy");

} // namespace hefl::iot
