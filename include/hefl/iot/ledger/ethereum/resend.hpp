#pragma once
/// @file
/// Sending stalled transactions again, byte for byte, and awaiting their receipts together: what
/// ethereum_ledger::resubmit_pending and batched_audit_ledger::resubmit_pending share. The same signed
/// bytes keep their nonce and hash (EIP-155), so a transaction the node dropped from its pool fills its
/// old nonce slot and one it still holds or already mined is not sent twice.

#include <hefl/iot/ledger/ethereum/json_rpc.hpp>
#include <hefl/iot/ledger/ethereum/transaction.hpp>

#include <chrono>
#include <exception>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace hefl::iot::ethereum {

/// What became of one resent transaction: its receipt, or why there is none.
struct resend_outcome {
  std::optional<receipt> mined;  ///< the receipt (successful or reverted: the caller judges it)
  std::exception_ptr error;      ///< receipt_timeout, node_unreachable, malformed_reply, ... when no receipt
};

/// Sends each of @p txs again in the given order, all first (so none is awaited before a transaction
/// holding an earlier nonce of the account is back at the node), then polls every receipt each
/// @p poll until it comes or @p timeout has passed since that transaction's own resend: n
/// stalled transactions take about one block and at most one @p timeout, not one apiece. A send
/// the node refuses ("already known": still pooled; "nonce too low": mined) or cannot take (node
/// unreachable) is not an error by itself: the receipt decides. @p who names the caller in messages.
/// @returns one outcome per transaction, in the order of @p txs
[[nodiscard]] inline std::vector<resend_outcome> resend_and_await(const json_rpc_client& rpc,
                                                                  const std::vector<const signed_transaction*>& txs,
                                                                  std::chrono::milliseconds timeout,
                                                                  std::chrono::milliseconds poll, const std::string& who) {
  using clock = std::chrono::steady_clock;
  const std::size_t n = txs.size();
  std::vector<clock::time_point> resent(n);
  for (std::size_t i = 0; i < n; ++i) {
    try {
      (void)rpc.send_raw_transaction(txs[i]->raw);
    } catch (const json_rpc_error&) {
      // "already known" (still pooled) or "nonce too low" (already mined): the receipt decides.
    } catch (const node_unreachable&) {
      // asking for its receipt tells whether the node can be reached at all
    }
    resent[i] = clock::now();
  }
  std::vector<resend_outcome> out(n);
  std::vector<bool> open(n, true);
  for (std::size_t left = n; left > 0;) {
    for (std::size_t i = 0; i < n; ++i) {
      if (!open[i]) continue;
      try {
        out[i].mined = rpc.transaction_receipt(txs[i]->hash);
        if (!out[i].mined && clock::now() >= resent[i] + timeout)
          throw receipt_timeout(who + ": no receipt for " + to_hex(txs[i]->hash) + " within " +
                                std::to_string(timeout.count()) + " ms of its resend");
      } catch (...) {
        out[i].error = std::current_exception();
      }
      if (out[i].mined || out[i].error) {
        open[i] = false;
        --left;
      }
    }
    if (left > 0) std::this_thread::sleep_for(poll);
  }
  return out;
}

} // namespace hefl::iot::ethereum
