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
  /// @throws node_unreachable, json_rpc_error (the node refused it), malformed_reply
  signed_transaction submit(legacy_transaction tx) {
    std::lock_guard lock(m_mutex);
    try {
      if (!m_next) m_next = m_rpc.transaction_count(m_account, "pending");
      tx.nonce = *m_next;
      signed_transaction st = sign(tx, m_key, m_chain_id);
      const hash32 reported = m_rpc.send_raw_transaction(st.raw);
      if (reported != st.hash) throw malformed_reply("json-rpc: node reports another hash for the transaction");
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

private:
  const json_rpc_client& m_rpc;
  secp256k1_key m_key;
  address m_account;
  std::uint64_t m_chain_id;
  std::mutex m_mutex;
  std::optional<std::uint64_t> m_next;
};

} // namespace hefl::iot::ethereum
