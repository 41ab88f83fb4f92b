#pragma once
/// @file
/// Submitting signed transactions from one account: a nonce manager safe for concurrent submitters.
/// Nonce assignment, signing and eth_sendRawTransaction happen under one lock, so the node receives
/// the account's transactions in nonce order and no two share a nonce.

#include <hefl/iot/ledger/ethereum/json_rpc.hpp>
#include <hefl/iot/ledger/ethereum/transaction.hpp>

#include <cstdint>
#include <mutex>
#include <optional>

namespace hefl::iot::ethereum {

/// Signs and submits transactions for one account on one chain. Thread-safe.
class transaction_sender {
public:
  /// @throws invalid_argument if chain_id is 0
  transaction_sender(const json_rpc_client& rpc, secp256k1_key key, std::uint64_t chain_id)
      : m_rpc(rpc), m_key(std::move(key)), m_account(m_key.account()), m_chain_id(chain_id) {
    if (chain_id == 0) throw invalid_argument("transaction_sender: chain id 0 gives no replay protection");
  }

  [[nodiscard]] const address& account() const noexcept { return m_account; }
  [[nodiscard]] std::uint64_t chain_id() const noexcept { return m_chain_id; }

  /// Gives @p tx the account's next nonce, signs it for this chain and submits it.
  /// The first call, and the first after a failure, reads the nonce from the node ("pending").
  /// When the send itself is uncertain (node_unreachable: a timeout or a dropped connection, so the
  /// node may hold the transaction or not), asks the node for the transaction's hash and, while it
  /// does not know it, sends the same signed bytes again (same nonce, same hash), at most
  /// uncertain_resends times: a transaction the node took counts as sent instead of failing (its nonce
  /// then reused by the next submit and refused). Re-reading the nonce is no cure on ganache 7, whose
  /// "pending" count leaves out the transactions in its pool.
  /// @throws node_unreachable (still uncertain after the resends), json_rpc_error (the node refused
  ///         it), malformed_reply
  signed_transaction submit(legacy_transaction tx) {
    std::lock_guard lock(m_mutex);
    try {
      if (!m_next) m_next = m_rpc.transaction_count(m_account, "pending");
      tx.nonce = *m_next;
      signed_transaction st = sign(tx, m_key, m_chain_id);
      send_idempotent(st);
      ++*m_next;
      return st;
    } catch (...) {
      m_next.reset();  // the node may or may not hold it: ask again next time
      throw;
    }
  }

  /// Forgets the cached nonce (after a transaction was dropped, say); the next submit asks the node.
  void resync() {
    std::lock_guard lock(m_mutex);
    m_next.reset();
  }

  /// How often an uncertain send is checked and repeated with the same bytes before submit() gives up.
  static constexpr int uncertain_resends = 2;

private:
  // Sends @p st; after an uncertain failure, the node's view of its hash decides, and a send of the
  // same bytes (never a new nonce) is the only retry. Each call is bounded by the client's timeout.
  void send_idempotent(const signed_transaction& st) {
    for (int attempt = 0;; ++attempt) {
      try {
        const hash32 reported = m_rpc.send_raw_transaction(st.raw);
        if (reported != st.hash) throw malformed_reply("json-rpc: node reports another hash for the transaction");
        return;
      } catch (const node_unreachable&) {
        if (attempt >= uncertain_resends) throw;
      } catch (const json_rpc_error&) {
        // A resend refused ("already imported", "can't be replaced") may be the first send landing late.
        if (attempt > 0 && m_rpc.knows_transaction(st.hash)) return;
        throw;
      }
      try {
        if (m_rpc.knows_transaction(st.hash)) return;  // it got there; only the reply was lost
      } catch (const node_unreachable&) {
        // still uncertain: the resend decides
      }
    }
  }

  const json_rpc_client& m_rpc;
  secp256k1_key m_key;
  address m_account;
  std::uint64_t m_chain_id;
  std::mutex m_mutex;
  std::optional<std::uint64_t> m_next;
};

} // namespace hefl::iot::ethereum
