#pragma once
/// @file
/// iot::batched_audit_ledger: a ledger_policy over AuditLog that puts many entries in one transaction
/// (issue 14). Entries wait in a batch; a batch closes when it holds max_batch entries or its first
/// entry has waited max_delay; its SHA-256 Merkle root (RFC 6962 §2.1) goes on chain by appendBatch,
/// and each entry gets an inclusion proof. An entry counts as logged (wait() returns, confirmed() is
/// true; submit() returns, unless pipelined) only once the receipt of its root's transaction is in
/// and its BatchAppended event carries that root. Entries and proofs are kept in memory by this
/// object (not in SQLite: a restart loses the proofs, the roots stay on chain).

#include <hefl/iot/ledger/ethereum/audit_batch.hpp>
#include <hefl/iot/ledger/ethereum/ethereum_ledger.hpp>
#include <hefl/iot/ledger/ethereum/sender.hpp>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace hefl::iot {

/// How batched_audit_ledger batches and submits.
struct batched_audit_config {
  std::size_t max_batch = 1000;                                           ///< a batch closes at this many entries
  std::chrono::milliseconds max_delay{100};                               ///< ... or when its first entry waited this long
  bool pipelined = false;  ///< false: submit() returns once the entry's root is mined; true: at once (use wait())
  std::chrono::milliseconds receipt_timeout{std::chrono::seconds(60)};  ///< bound on waiting for each receipt
  std::uint64_t gas_limit = 200000;                                       ///< per appendBatch (one costs about 60k)
};

/// A ledger_policy writing Merkle-batched entries to AuditLog. Thread-safe; the destructor closes the
/// open batch and waits for every submitted batch's receipt (bounded by receipt_timeout).
class batched_audit_ledger {
public:
  /// One logged entry: the transaction and what a reader needs to check it against the chain.
  struct entry {
    transaction tx;
    ethereum::audit_inclusion inclusion;
  };

  /// @param audit_log address of a deployed AuditLog where @p sender's account is a writer
  /// @throws invalid_argument if max_batch is 0 or above 2^32 - 1
  batched_audit_ledger(const ethereum::json_rpc_client& rpc, ethereum::transaction_sender& sender,
                       ethereum::address audit_log, batched_audit_config config = {})
      : m_rpc(rpc), m_sender(sender), m_audit_log(audit_log), m_config(config) {
    if (config.max_batch == 0 || config.max_batch > UINT32_MAX)
      throw invalid_argument("batched_audit_ledger: max_batch must be in 1..2^32-1");
    m_batcher = std::thread([this] { batch_loop(); });
    m_confirmer = std::thread([this] { confirm_loop(); });
  }
  batched_audit_ledger(const batched_audit_ledger&) = delete;
  batched_audit_ledger& operator=(const batched_audit_ledger&) = delete;
  ~batched_audit_ledger() {
    {
      std::lock_guard lock(m_mutex);
      m_stopping = true;
    }
    m_cv.notify_all();
    m_batcher.join();  // closes the open batch first
    {
      std::lock_guard lock(m_mutex);
      m_submitted_all = true;
    }
    m_cv.notify_all();
    m_confirmer.join();
  }

  /// Adds @p tx's entry to the open batch. Unless pipelined, waits until its root is mined.
  /// @returns the transaction's id
  /// @throws ethereum_entry_refused (unsupported kind; or, not pipelined, appendBatch reverted),
  ///         invalid_argument after shutdown began; not pipelined also as wait()
  sha256_digest submit(transaction tx) {
    const ethereum::audit_entry e = ethereum_ledger::entry_of(tx);
    const sha256_digest id = tx.id();
    {
      std::lock_guard lock(m_mutex);
      if (m_stopping) throw invalid_argument("batched_audit_ledger: submit after shutdown began");
      if (m_open.empty()) m_open_since = std::chrono::steady_clock::now();
      m_open.push_back({std::move(tx), e});
      m_state.emplace(id, state{});  // an equal transaction submitted twice is one leaf per submission, one state
    }
    m_cv.notify_all();
    if (!m_config.pipelined) (void)wait(id, m_config.receipt_timeout + m_config.max_delay + std::chrono::seconds(5));
    return id;
  }

  /// Closes the open batch now (it is submitted without waiting for max_batch or max_delay).
  void flush() {
    {
      std::lock_guard lock(m_mutex);
      m_flush = true;
    }
    m_cv.notify_all();
  }

  /// Waits until the entry with id @p id is on chain.
  /// @returns its inclusion proof, checked against the root in its batch's receipt
  /// @throws invalid_argument for an id never submitted; receipt_timeout when @p timeout passes first;
  ///         the error its batch failed with (ethereum_entry_refused when appendBatch reverted,
  ///         ethereum::node_unreachable, ethereum::receipt_timeout, ethereum::malformed_reply, ...)
  ethereum::audit_inclusion wait(const sha256_digest& id, std::chrono::milliseconds timeout = std::chrono::seconds(120)) {
    std::unique_lock lock(m_mutex);
    const auto it = m_state.find(id);
    if (it == m_state.end()) throw invalid_argument("batched_audit_ledger::wait: unknown entry");
    if (!m_done_cv.wait_for(lock, timeout, [&] { return it->second.inclusion || it->second.failure; }))
      throw ethereum::receipt_timeout("batched_audit_ledger: entry not on chain within " + std::to_string(timeout.count()) + " ms");
    if (it->second.failure) std::rethrow_exception(it->second.failure);
    return *it->second.inclusion;
  }

  /// Waits until every entry submitted so far is on chain (or its batch failed).
  /// @throws receipt_timeout when @p timeout passes first; the first failure of a batch
  void wait_all(std::chrono::milliseconds timeout = std::chrono::seconds(120)) {
    std::vector<sha256_digest> ids;
    {
      std::lock_guard lock(m_mutex);
      for (const auto& [id, s] : m_state) ids.push_back(id);
    }
    flush();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (const auto& id : ids)
      (void)wait(id, std::max(std::chrono::milliseconds(0), std::chrono::duration_cast<std::chrono::milliseconds>(
                                                                  deadline - std::chrono::steady_clock::now())));
  }

  /// Whether the entry with id @p id is on chain (its batch's receipt and event are in and match).
  [[nodiscard]] bool confirmed(const sha256_digest& id) const {
    std::lock_guard lock(m_mutex);
    const auto it = m_state.find(id);
    return it != m_state.end() && it->second.inclusion.has_value();
  }

  /// The entries on chain, in the order of their batches and leaves.
  [[nodiscard]] std::vector<entry> entries() const {
    std::lock_guard lock(m_mutex);
    return m_entries;
  }

  /// The batches this object put on chain, as their receipts reported them.
  [[nodiscard]] std::vector<ethereum::batch_record> batches() const {
    std::lock_guard lock(m_mutex);
    return m_batches;
  }

  /// Gas used by each batch's transaction, in batch order.
  [[nodiscard]] std::vector<std::uint64_t> gas_used() const {
    std::lock_guard lock(m_mutex);
    return m_gas;
  }

  /// Re-reads every BatchAppended event of the contract and checks: batch indices 0..n-1 once each,
  /// the batch hash chain recomputed from the start equal to each event's head and to batchHead(),
  /// every batch of this object on chain as recorded, and every entry's proof against its on-chain root.
  /// @returns nullopt when consistent, otherwise what is wrong
  /// @throws ethereum::node_unreachable, ethereum::json_rpc_error, ethereum::malformed_reply
  [[nodiscard]] std::optional<std::string> verify_against_chain() const {
    const auto chain = ethereum::audit_batch_abi::read_batches(m_rpc, m_audit_log);
    ethereum::hash32 head{};
    std::uint64_t expected = 0;
    for (const auto& [index, rec] : chain) {
      if (index != expected) return "batch " + std::to_string(expected) + " is missing";
      head = ethereum::audit_batch_abi::batch_chain_head(head, rec);
      if (rec.head != head) return "batch hash chain breaks at batch " + std::to_string(index);
      ++expected;
    }
    const ethereum::hash32 sel = ethereum::keccak256(std::string_view("batchHead()"));
    const ethereum::bytes on_chain = m_rpc.eth_call(m_audit_log, ethereum::bytes(sel.begin(), sel.begin() + 4));
    if (on_chain != ethereum::bytes(head.begin(), head.end())) return "the contract's batchHead differs from the events' chain";
    std::lock_guard lock(m_mutex);
    for (const auto& b : m_batches) {
      const auto it = chain.find(b.batch);
      if (it == chain.end() || it->second.root != b.root || it->second.entries != b.entries || it->second.writer != b.writer)
        return "batch " + std::to_string(b.batch) + " is not on chain as submitted";
    }
    for (const auto& e : m_entries) {
      const auto it = chain.find(e.inclusion.batch);
      if (it == chain.end() || it->second.root != e.inclusion.root ||
          !merkle_tree::verify_proof(ethereum::audit_batch_abi::leaf_of(e.inclusion.entry), e.inclusion.proof, it->second.root))
        return "an entry of batch " + std::to_string(e.inclusion.batch) + " does not verify against its on-chain root";
    }
    return std::nullopt;
  }

private:
  struct pending {
    transaction tx;
    ethereum::audit_entry entry;
  };
  struct state {
    std::optional<ethereum::audit_inclusion> inclusion;
    std::exception_ptr failure;
  };
  struct in_flight {
    std::vector<pending> items;
    std::shared_ptr<const merkle_tree> tree;
    ethereum::hash32 tx_hash{};
    std::exception_ptr failure;  // set when submitting failed
  };

  // Closes batches (size, age, flush or shutdown) and submits their roots; never waits for receipts.
  void batch_loop() {
    std::unique_lock lock(m_mutex);
    for (;;) {
      if (m_open.empty()) {
        m_flush = false;
        if (m_stopping) return;
        m_cv.wait(lock, [&] { return m_stopping || !m_open.empty(); });
        continue;
      }
      const auto due = m_open_since + m_config.max_delay;
      if (!(m_open.size() >= m_config.max_batch || m_flush || m_stopping || std::chrono::steady_clock::now() >= due)) {
        m_cv.wait_until(lock, due, [&] { return m_open.size() >= m_config.max_batch || m_flush || m_stopping; });
        continue;
      }
      in_flight b;
      const std::size_t n = std::min(m_open.size(), m_config.max_batch);
      b.items.assign(std::make_move_iterator(m_open.begin()), std::make_move_iterator(m_open.begin() + static_cast<std::ptrdiff_t>(n)));
      m_open.erase(m_open.begin(), m_open.begin() + static_cast<std::ptrdiff_t>(n));
      if (!m_open.empty()) m_open_since = std::chrono::steady_clock::now();
      else m_flush = false;
      lock.unlock();
      std::vector<sha256_digest> leaves;
      leaves.reserve(b.items.size());
      for (const auto& p : b.items) leaves.push_back(ethereum::audit_batch_abi::leaf_of(p.entry));
      b.tree = std::make_shared<const merkle_tree>(std::move(leaves));
      try {
        ethereum::legacy_transaction call;
        call.gas_price = Botan::BigInt(m_rpc.gas_price());
        call.gas_limit = m_config.gas_limit;
        call.to = m_audit_log;
        call.data = ethereum::audit_batch_abi::encode_append_batch(b.tree->root(), static_cast<std::uint32_t>(b.items.size()));
        b.tx_hash = m_sender.submit(std::move(call)).hash;
      } catch (...) {
        b.failure = std::current_exception();
      }
      lock.lock();
      m_in_flight.push_back(std::move(b));
      m_cv.notify_all();
    }
  }

  // Awaits the receipts of submitted batches in submission (nonce) order and releases their entries.
  void confirm_loop() {
    std::unique_lock lock(m_mutex);
    for (;;) {
      m_cv.wait(lock, [&] { return !m_in_flight.empty() || m_submitted_all; });
      if (m_in_flight.empty()) return;
      in_flight b = std::move(m_in_flight.front());
      m_in_flight.pop_front();
      lock.unlock();
      std::optional<ethereum::batch_record> rec;
      std::uint64_t gas = 0;
      if (!b.failure) {
        try {
          const ethereum::receipt r = m_rpc.await_receipt(b.tx_hash, m_config.receipt_timeout);
          if (!r.success) throw ethereum_entry_refused("batched_audit_ledger: AuditLog.appendBatch reverted (is this account a writer?)");
          for (const auto& l : r.logs)
            if (l.emitter == m_audit_log && !l.topics.empty() && l.topics[0] == ethereum::audit_batch_abi::batch_appended_topic())
              rec = ethereum::audit_batch_abi::decode_batch_appended(l);
          if (!rec || rec->root != b.tree->root() || rec->entries != b.items.size() || rec->writer != m_sender.account())
            throw ethereum::malformed_reply("batched_audit_ledger: the receipt's BatchAppended event does not match the batch");
          gas = r.gas_used;
        } catch (...) {
          b.failure = std::current_exception();
        }
      }
      if (b.failure) m_sender.resync();  // the node may not hold later nonces either
      lock.lock();
      if (rec) {
        m_batches.push_back(*rec);
        m_gas.push_back(gas);
      }
      for (std::size_t i = 0; i < b.items.size(); ++i) {
        state& s = m_state[b.items[i].tx.id()];
        if (b.failure) {
          s.failure = b.failure;
          continue;
        }
        ethereum::audit_inclusion inc{b.items[i].entry, rec->batch, rec->root, b.tree->proof(i)};
        s.inclusion = inc;
        m_entries.push_back({std::move(b.items[i].tx), std::move(inc)});
      }
      m_done_cv.notify_all();
    }
  }

  const ethereum::json_rpc_client& m_rpc;
  ethereum::transaction_sender& m_sender;
  ethereum::address m_audit_log;
  batched_audit_config m_config;
  mutable std::mutex m_mutex;
  std::condition_variable m_cv, m_done_cv;
  std::vector<pending> m_open;
  std::chrono::steady_clock::time_point m_open_since;
  bool m_flush = false, m_stopping = false, m_submitted_all = false;
  std::deque<in_flight> m_in_flight;
  std::map<sha256_digest, state> m_state;
  std::vector<entry> m_entries;
  std::vector<ethereum::batch_record> m_batches;
  std::vector<std::uint64_t> m_gas;
  std::thread m_batcher, m_confirmer;
};

static_assert(ledger_policy<batched_audit_ledger>, "hefl::iot::batched_audit_ledger must satisfy ledger_policy");

} // namespace hefl::iot
