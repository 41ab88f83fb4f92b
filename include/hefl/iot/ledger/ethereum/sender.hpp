#pragma once
/// @file
/// Submitting signed transactions from one account: a nonce manager safe for concurrent submitters.
/// Nonce assignment, signing and eth_sendRawTransaction happen under one lock, so the node receives
/// the account's transactions in nonce order and no two share a nonce. The account's nonce is the
/// per-account transaction counter of the Ethereum yellow paper (§4.1); a node executes an account's
/// transactions only in nonce order, so a nonce left unused stalls every later one.

#include <hefl/iot/ledger/ethereum/json_rpc.hpp>
#include <hefl/iot/ledger/ethereum/transaction.hpp>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace hefl::iot::ethereum {

/// What a node's refusal of eth_sendRawTransaction says about the transaction's nonce.
enum class nonce_refusal {
  nonce_used,  ///< another transaction of the account holds that nonce (mined, or waiting in the pool)
  not_taken,   ///< the node refused this transaction for another reason and holds nothing for the nonce
};

/// Classifies a node's error message for eth_sendRawTransaction (the node knows no transaction with
/// this hash: the caller checked). Messages that mean the nonce is used:
/// - "nonce too low" (geth, Nethermind, Erigon: the nonce is below the account's mined count);
/// - "the tx doesn't have the correct nonce. account has nonce of: N tx has nonce of: M" (ganache 7,
///   for the same case);
/// - "transaction underpriced" exactly (ganache 7: a transaction of the account with that nonce is in
///   its pool and this one's gas price is not the required bump above it);
/// - "replacement transaction underpriced" (geth, the same case);
/// - "transaction can't be replaced, mining has already started" (ganache 7: the pooled one is being mined);
/// - "already known" (geth) and "transaction already imported" (Parity): a pooled transaction, not this one.
/// Any other message (insufficient funds, intrinsic gas too low, exceeds block gas limit, invalid
/// sender, a geth price below the pool's minimum, "transaction underpriced: ...") means the node did
/// not take the transaction and holds nothing for its nonce.
inline nonce_refusal classify_refusal(std::string_view message) {
  std::string m(message);
  std::transform(m.begin(), m.end(), m.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const auto has = [&](std::string_view s) { return m.find(s) != std::string::npos; };
  if (has("nonce too low") || has("doesn't have the correct nonce") || m == "transaction underpriced" ||
      has("replacement transaction underpriced") || has("can't be replaced") || has("already known") ||
      has("already imported"))
    return nonce_refusal::nonce_used;
  return nonce_refusal::not_taken;
}

/// Signs and submits transactions for one account on one chain. Thread-safe.
///
/// The nonce is kept locally once read from the node and moves only on what the node said:
/// - the node took the transaction (a hash, or it knows the hash after a lost reply): the next nonce;
/// - the node refused it and holds nothing for its nonce (classify_refusal: not_taken): the same nonce
///   again for the next transaction, so no gap opens;
/// - the node says the nonce is used (nonce_used; e.g. another process of this account took it, or
///   the first read was stale): max(this nonce + 1, the node's "pending" count), never back, and the
///   transaction is signed again with that nonce, at most nonce_retries times in one submit;
/// - uncertain (no answer after the resends, or the node named another hash): recorded; the next
///   submit first asks the node for that hash: the nonce after it if the node holds it, else the same.
/// The node's count alone is no source after a failure: ganache 7's "pending" count leaves out the
/// transactions still in its pool, so a nonce re-read there can be one a waiting transaction holds.
class transaction_sender {
public:
  /// @throws invalid_argument if chain_id is 0
  transaction_sender(const json_rpc_client& rpc, secp256k1_key key, std::uint64_t chain_id)
      : m_rpc(rpc), m_key(std::move(key)), m_account(m_key.account()), m_chain_id(chain_id) {
    if (chain_id == 0) throw invalid_argument("transaction_sender: chain id 0 gives no replay protection");
  }

  [[nodiscard]] const address& account() const noexcept { return m_account; }
  [[nodiscard]] std::uint64_t chain_id() const noexcept { return m_chain_id; }

  /// A secret derived from the account key for @p purpose (secp256k1_key::derive_secret), for state
  /// the account holder must recognise as its own (batched_audit_ledger's pending rows).
  /// @throws invalid_argument if @p purpose is empty
  [[nodiscard]] Botan::secure_vector<std::uint8_t> derive_secret(std::string_view purpose) const {
    return m_key.derive_secret(purpose);
  }

  /// Gives @p tx the account's next nonce, signs it for this chain (EIP-155) and submits it, as the
  /// class comment says. Holds the sender's lock throughout, round trips included: a later submitter
  /// must not take nonce n + 1 while n's fate is open, or a refused n would leave a gap that stalls
  /// every later transaction. So a submit keeps other submitters waiting for at most max_round_trips
  /// JSON-RPC calls, each bounded by the client's timeout.
  /// @throws node_unreachable (uncertain: no answer after the resends; the next submit settles it),
  ///         json_rpc_error (the node refused it; the nonce is kept for the next transaction when
  ///         the refusal means it is free, moved past when it is used), malformed_reply (uncertain)
  signed_transaction submit(legacy_transaction tx) {
    std::lock_guard lock(m_mutex);
    int trips = 0;
    if (m_uncertain) {
      ++trips;  // node_unreachable here leaves it uncertain, for the next submit
      if (m_rpc.knows_transaction(m_uncertain->hash)) m_next = m_uncertain->nonce + 1;
      // else the node holds nothing for it now: its nonce goes to this transaction. Should a send of
      // the old one still arrive, the node refuses one of the two as a used nonce, and a later
      // submit moves past it.
      m_uncertain.reset();
    }
    if (!m_next) {
      ++trips;
      m_next = m_rpc.transaction_count(m_account, "pending");
    }
    for (int retry = 0;; ++retry) {
      tx.nonce = *m_next;
      signed_transaction st = sign(tx, m_key, m_chain_id);
      const send_result r = send(st, trips);
      switch (r.outcome) {
        case send_outcome::sent:
          ++*m_next;
          return st;
        case send_outcome::refused:
          std::rethrow_exception(r.error);  // nothing for this nonce at the node: the next one reuses it
        case send_outcome::uncertain:
          m_uncertain = uncertain_send{tx.nonce, st.hash};
          std::rethrow_exception(r.error);
        case send_outcome::nonce_used:
          m_next = tx.nonce + 1;
          if (retry >= nonce_retries || trips + 2 > max_round_trips) std::rethrow_exception(r.error);
          try {
            ++trips;
            m_next = std::max(*m_next, m_rpc.transaction_count(m_account, "pending"));
          } catch (const node_unreachable&) {
            std::rethrow_exception(r.error);  // keeps tx.nonce + 1: never back
          }
          break;
      }
    }
  }

  /// Forgets the local nonce (after a reorganisation took the account's transactions back, say); the
  /// next submit reads the node's "pending" count. Not for ordinary failures: submit() handles those.
  void resync() {
    std::lock_guard lock(m_mutex);
    m_next.reset();
    m_uncertain.reset();
  }

  /// How often an uncertain send is checked and repeated with the same bytes before submit() gives up.
  static constexpr int uncertain_resends = 2;
  /// How many used nonces one submit moves past (signing again each time) before it gives up.
  static constexpr int nonce_retries = 4;
  /// The most JSON-RPC calls one submit makes while it holds the lock.
  static constexpr int max_round_trips = 12;

private:
  enum class send_outcome { sent, refused, nonce_used, uncertain };
  struct send_result {
    send_outcome outcome;
    std::exception_ptr error;
  };
  struct uncertain_send {
    std::uint64_t nonce;
    hash32 hash;
  };
  enum class known { yes, no, unknown };

  known knows(const hash32& hash, int& trips) const {
    ++trips;
    try {
      return m_rpc.knows_transaction(hash) ? known::yes : known::no;
    } catch (const node_unreachable&) {
      return known::unknown;
    } catch (const malformed_reply&) {
      return known::unknown;
    }
  }

  // Sends @p st; after an uncertain failure the node's view of its hash decides, and a send of the
  // same bytes (never a new nonce) is the only retry. After a refusal, the hash is checked too: a
  // resend of bytes the node took is refused ("already known"; ganache: "transaction underpriced"),
  // and a node may report an executed transaction's revert as an error (ganache's
  // --chain.vmErrorsOnRPCResponse). Counts each JSON-RPC call in @p trips.
  send_result send(const signed_transaction& st, int& trips) {
    for (int attempt = 0;; ++attempt) {
      std::exception_ptr last;
      try {
        ++trips;
        const hash32 reported = m_rpc.send_raw_transaction(st.raw);
        if (reported != st.hash)
          return {send_outcome::uncertain,
                  std::make_exception_ptr(malformed_reply("json-rpc: node reports another hash for the transaction"))};
        return {send_outcome::sent, nullptr};
      } catch (const node_unreachable&) {
        last = std::current_exception();
      } catch (const malformed_reply&) {
        last = std::current_exception();  // an unreadable reply: as uncertain as none
      } catch (const json_rpc_error& e) {
        const std::exception_ptr refusal = std::current_exception();
        switch (knows(st.hash, trips)) {
          case known::yes: return {send_outcome::sent, nullptr};
          case known::unknown: return {send_outcome::uncertain, refusal};
          case known::no: break;
        }
        return {classify_refusal(e.message_text()) == nonce_refusal::nonce_used ? send_outcome::nonce_used
                                                                                 : send_outcome::refused,
                refusal};
      }
      if (attempt >= uncertain_resends || trips + 2 > max_round_trips) return {send_outcome::uncertain, last};
      if (knows(st.hash, trips) == known::yes) return {send_outcome::sent, nullptr};  // only the reply was lost
      // not known, or still no answer: the resend decides
    }
  }

  const json_rpc_client& m_rpc;
  secp256k1_key m_key;
  address m_account;
  std::uint64_t m_chain_id;
  mutable std::mutex m_mutex;
  std::optional<std::uint64_t> m_next;
  std::optional<uncertain_send> m_uncertain;
};

} // namespace hefl::iot::ethereum
