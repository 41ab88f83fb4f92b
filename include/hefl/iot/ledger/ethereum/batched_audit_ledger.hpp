#pragma once
/// @file
/// iot::batched_audit_ledger: a ledger_policy over AuditLog that puts many entries in one transaction
/// (issue 14). Entries wait in a batch; a batch closes when it holds max_batch entries or its first
/// entry has waited max_delay; its SHA-256 Merkle root (RFC 6962 §2.1) goes on chain by appendBatch,
/// and each entry gets an inclusion proof. An entry counts as logged (wait() returns, confirmed() is
/// true; submit() returns, unless pipelined) only once the receipt of its root's transaction is in
/// and its BatchAppended event carries that root. With config.database set, the entries, their
/// batches (root, transaction, block) and the entries not on chain yet are kept in that SQLite file
/// (audit_batch_store.hpp) and restored, checked against the chain, when a ledger opens it again;
/// without it they live in memory only (a restart loses the proofs, the roots stay on chain).

#include <hefl/iot/ledger/ethereum/audit_batch.hpp>
#include <hefl/iot/ledger/ethereum/audit_batch_store.hpp>
#include <hefl/iot/ledger/ethereum/ethereum_ledger.hpp>
#include <hefl/iot/ledger/ethereum/resend.hpp>
#include <hefl/iot/ledger/ethereum/revert_reason.hpp>
#include <hefl/iot/ledger/ethereum/sender.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace hefl::iot {

/// How batched_audit_ledger batches and submits.
struct batched_audit_config {
  std::size_t max_batch = 1000;                                           ///< a batch closes at this many entries
  std::chrono::milliseconds max_delay{100};                               ///< ... or when its first entry waited this long
  bool pipelined = false;  ///< false: submit() returns once the entry's root is mined; true: at once (use wait())
  std::chrono::milliseconds receipt_timeout{std::chrono::seconds(60)};  ///< bound on each receipt, counted from its batch's submission
  std::uint64_t gas_limit = 200000;                                       ///< per appendBatch (one costs about 60k)
  std::string database;  ///< SQLite file keeping entries, batches and pending entries; empty: memory only
  std::uint64_t confirmations = 0;     ///< blocks on top of a batch's block before await_final() calls it final
  std::chrono::milliseconds poll{50};  ///< how often await_final() and resubmit_pending() ask the node
};

/// A ledger_policy writing Merkle-batched entries to AuditLog. Thread-safe; the destructor closes the
/// open batch and waits for every submitted batch's receipt, each until receipt_timeout after that
/// batch was submitted (so batches stuck behind an unmined one end together, not one timeout apiece).
class batched_audit_ledger {
public:
  /// One logged entry: the transaction and what a reader needs to check it against the chain.
  struct entry {
    transaction tx;
    ethereum::audit_inclusion inclusion;
  };

  /// @param audit_log address of a deployed AuditLog where @p sender's account is a writer
  /// With config.database set, first restores what that file holds: each stored batch's entries give
  /// its Merkle root again, which must equal the root, size, writer and transaction the chain's
  /// BatchAppended event for that batch records; every batch the chain holds from this writer account
  /// must be in the file (one file per writer account and AuditLog); a batch whose transaction went
  /// out before the restart is sent again (same bytes) and awaited; entries not submitted yet go into
  /// the open batch. Pending rows (not on chain, so not covered by a root there) must carry MACs keyed
  /// from the sender's account key (audit_batch_store::pending()).
  /// @throws invalid_argument if max_batch is 0 or above 2^32 - 1, or the file belongs to another
  ///         contract or account; ethereum::batch_store_tampered naming the first batch whose rows are
  ///         unreadable, changed or missing, or (pending_row()) the first pending row that is
  ///         unreadable or whose MAC does not verify; hefl::io_error if the file cannot be used;
  ///         ethereum::node_unreachable, json_rpc_error, malformed_reply while reading the chain
  batched_audit_ledger(const ethereum::json_rpc_client& rpc, ethereum::transaction_sender& sender,
                       ethereum::address audit_log, batched_audit_config config = {})
      : m_rpc(rpc), m_sender(sender), m_audit_log(audit_log), m_config(config) {
    if (config.max_batch == 0 || config.max_batch > UINT32_MAX)
      throw invalid_argument("batched_audit_ledger: max_batch must be in 1..2^32-1");
    if (!config.database.empty()) {
      m_store = std::make_unique<ethereum::audit_batch_store>(
          config.database, audit_log, sender.account(), sender.derive_secret(ethereum::audit_batch_store::row_key_purpose));
      restore();
    }
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

  /// Adds @p tx's entry to the open batch (with a database: after its row is in the file). Unless
  /// pipelined, waits until its root is mined.
  /// @returns the transaction's id
  /// @throws ethereum_entry_refused (unsupported kind; or, not pipelined, appendBatch reverted),
  ///         invalid_argument after shutdown began, hefl::io_error if the row does not reach the
  ///         database; not pipelined also as wait()
  sha256_digest submit(transaction tx) {
    const ethereum::audit_entry e = ethereum_ledger::entry_of(tx);
    const sha256_digest id = tx.id();
    {
      std::lock_guard lock(m_mutex);
      if (m_stopping) throw invalid_argument("batched_audit_ledger: submit after shutdown began");
    }
    const std::uint64_t seq = m_store ? m_store->add_pending(tx) : 0;
    {
      std::lock_guard lock(m_mutex);
      if (m_open.empty()) m_open_since = std::chrono::steady_clock::now();
      m_open.push_back({std::move(tx), e, seq});
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
  ///         the error its batch failed with (ethereum_entry_refused naming the contract's error when
  ///         appendBatch reverted, ethereum::node_unreachable, ethereum::receipt_timeout (the batch is
  ///         then pending: resubmit_pending()), ethereum::malformed_reply, ...)
  ethereum::audit_inclusion wait(const sha256_digest& id, std::chrono::milliseconds timeout = std::chrono::seconds(120)) {
    std::unique_lock lock(m_mutex);
    if (m_state.find(id) == m_state.end()) throw invalid_argument("batched_audit_ledger::wait: unknown entry");
    if (!m_done_cv.wait_for(lock, timeout, [&] {
          const state& s = m_state[id];
          return s.inclusion || s.failure;
        }))
      throw ethereum::receipt_timeout("batched_audit_ledger: entry not on chain within " + std::to_string(timeout.count()) + " ms");
    const state& s = m_state[id];
    if (s.failure) std::rethrow_exception(s.failure);
    return *s.inclusion;
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

  /// Waits until the batch holding entry @p id has config.confirmations blocks on top of its block,
  /// re-reading the batch's receipt each poll. If the receipt is gone or names another block, a
  /// reorganisation dropped the batch: its entries leave entries(), go back into the open batch (and
  /// the database's pending rows) and are submitted again in a new batch; the sender re-reads its nonce.
  /// @returns the number of the block holding the entry's batch
  /// @throws ethereum_entry_reorganised after resubmitting, as above (wait() for the entry's new
  ///         inclusion); ethereum::receipt_timeout if not final within @p timeout; invalid_argument if
  ///         @p id is not on chain through this ledger; ethereum::node_unreachable, json_rpc_error,
  ///         malformed_reply; hefl::io_error if the database cannot record the resubmission
  std::uint64_t await_final(const sha256_digest& id, std::chrono::milliseconds timeout) {
    ethereum::hash32 tx_hash{}, block_hash{};
    std::uint64_t batch = 0;
    {
      std::lock_guard lock(m_mutex);
      const auto it = m_state.find(id);
      if (it == m_state.end() || !it->second.inclusion)
        throw invalid_argument("batched_audit_ledger::await_final: entry is not on chain through this ledger");
      batch = it->second.inclusion->batch;
      const auto b = find_own(batch);
      if (b == m_own.end()) throw invalid_argument("batched_audit_ledger::await_final: entry's batch is unknown");
      tx_hash = b->record.transaction_hash;
      block_hash = b->block_hash;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto r = m_rpc.transaction_receipt(tx_hash);
      if (!r || r->block_hash != block_hash) {
        const std::size_t n = requeue(tx_hash);
        throw ethereum_entry_reorganised("batched_audit_ledger: the block holding batch " + std::to_string(batch) +
                                         (r ? " was replaced by another" : " left the chain") +
                                         " before it was final; its " + std::to_string(n) +
                                         " entries were submitted again in a new batch (wait() for them)");
      }
      if (m_rpc.block_number() >= r->block_number + m_config.confirmations) return r->block_number;
      if (std::chrono::steady_clock::now() >= deadline)
        throw ethereum::receipt_timeout("batched_audit_ledger: batch " + std::to_string(batch) + " not final (" +
                                        std::to_string(m_config.confirmations) + " confirmations) within the timeout");
      std::this_thread::sleep_for(m_config.poll);
    }
  }

  /// Sends again, byte for byte (same nonce, same hash), every batch whose receipt did not come within
  /// receipt_timeout, all of them first, in submission (nonce) order, then waits for their receipts
  /// together, each until receipt_timeout after its own resend (polling every config.poll): n batches
  /// take one receipt_timeout at most, not n. A transaction the node dropped from its pool is mined in
  /// its nonce slot and the batch's entries are released. Batches whose receipt does not come again,
  /// or whose receipt the node cannot be asked for, stay pending, in order.
  /// @returns how many entries are now on chain
  /// @throws after every batch is settled or put back, the first failure in batch order:
  ///         ethereum::receipt_timeout or node_unreachable (that batch stays pending), or the error a
  ///         batch failed with for good (as wait(): ethereum_entry_refused, malformed_reply, ...)
  std::size_t resubmit_pending() {
    std::deque<in_flight> todo;
    {
      std::lock_guard lock(m_mutex);
      todo.swap(m_stalled);
    }
    const std::size_t n = todo.size();
    std::vector<const ethereum::signed_transaction*> txs;
    for (const auto& b : todo) txs.push_back(&b.st);
    const auto outcomes =
        ethereum::resend_and_await(m_rpc, txs, m_config.receipt_timeout, m_config.poll, "batched_audit_ledger::resubmit_pending");
    std::size_t done = 0;
    std::exception_ptr first;
    std::deque<in_flight> still;
    for (std::size_t i = 0; i < n; ++i) {
      if (!outcomes[i].mined) {
        if (!first) first = outcomes[i].error;
        still.push_back(std::move(todo[i]));
        continue;
      }
      try {
        settle(todo[i], &*outcomes[i].mined, nullptr);
        done += todo[i].items.size();
      } catch (...) {
        if (!first) first = std::current_exception();  // failed for good: its entries say why
      }
    }
    {
      std::lock_guard lock(m_mutex);
      while (!still.empty()) {
        m_stalled.push_front(std::move(still.back()));
        still.pop_back();
      }
    }
    if (first) std::rethrow_exception(first);
    return done;
  }

  /// Entries in batches whose receipt timed out and that resubmit_pending() has not landed yet.
  [[nodiscard]] std::size_t pending_count() const {
    std::lock_guard lock(m_mutex);
    std::size_t n = 0;
    for (const auto& b : m_stalled) n += b.items.size();
    return n;
  }

  /// The entries on chain, in the order of their batches and leaves.
  [[nodiscard]] std::vector<entry> entries() const {
    std::lock_guard lock(m_mutex);
    std::vector<entry> out;
    for (const auto& b : m_own)
      for (std::size_t i = 0; i < b.txs.size(); ++i)
        out.push_back({b.txs[i], {ethereum_ledger::entry_of(b.txs[i]), b.record.batch, b.record.root, b.tree->proof(i)}});
    return out;
  }

  /// The batches this object put on chain (or restored), as their receipts reported them.
  [[nodiscard]] std::vector<ethereum::batch_record> batches() const {
    std::lock_guard lock(m_mutex);
    std::vector<ethereum::batch_record> out;
    for (const auto& b : m_own) out.push_back(b.record);
    return out;
  }

  /// Gas used by each batch's transaction, in batch order.
  [[nodiscard]] std::vector<std::uint64_t> gas_used() const {
    std::lock_guard lock(m_mutex);
    std::vector<std::uint64_t> out;
    for (const auto& b : m_own) out.push_back(b.gas);
    return out;
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
    for (const auto& b : m_own) {
      const auto it = chain.find(b.record.batch);
      if (it == chain.end() || it->second.root != b.record.root || it->second.entries != b.record.entries ||
          it->second.writer != b.record.writer)
        return "batch " + std::to_string(b.record.batch) + " is not on chain as submitted";
      for (std::size_t i = 0; i < b.txs.size(); ++i)
        if (!merkle_tree::verify_proof(ethereum::audit_batch_abi::leaf_of(ethereum_ledger::entry_of(b.txs[i])),
                                       b.tree->proof(i), it->second.root))
          return "an entry of batch " + std::to_string(b.record.batch) + " does not verify against its on-chain root";
    }
    return std::nullopt;
  }

private:
  struct pending {
    transaction tx;
    ethereum::audit_entry entry;
    std::uint64_t seq = 0;  // its row in the database (0 without one)
  };
  struct state {
    std::optional<ethereum::audit_inclusion> inclusion;
    std::exception_ptr failure;
  };
  struct in_flight {
    std::vector<pending> items;
    std::shared_ptr<const merkle_tree> tree;
    ethereum::legacy_transaction call;  // for replaying a revert
    ethereum::signed_transaction st;
    std::exception_ptr failure;  // set when submitting failed
    std::chrono::steady_clock::time_point sent = std::chrono::steady_clock::now();  // its receipt bound counts from here
  };
  // A batch on chain through this object.
  struct own_batch {
    ethereum::batch_record record;
    ethereum::hash32 block_hash{};
    std::uint64_t gas = 0;
    std::vector<transaction> txs;
    std::shared_ptr<const merkle_tree> tree;
  };

  static std::shared_ptr<const merkle_tree> tree_of(const std::vector<ethereum::audit_entry>& entries) {
    std::vector<sha256_digest> leaves;
    leaves.reserve(entries.size());
    for (const auto& e : entries) leaves.push_back(ethereum::audit_batch_abi::leaf_of(e));
    return std::make_shared<const merkle_tree>(std::move(leaves));
  }

  std::vector<own_batch>::iterator find_own(std::uint64_t batch) {
    return std::find_if(m_own.begin(), m_own.end(), [batch](const own_batch& b) { return b.record.batch == batch; });
  }

  ethereum::legacy_transaction append_batch_call(const sha256_digest& root, std::size_t n) const {
    ethereum::legacy_transaction call;
    call.gas_limit = m_config.gas_limit;
    call.to = m_audit_log;
    call.data = ethereum::audit_batch_abi::encode_append_batch(root, static_cast<std::uint32_t>(n));
    return call;
  }

  // Reads config.database back (constructor, before the threads start), checking it against the chain.
  void restore() {
    using ethereum::batch_store_tampered;
    const auto chain = ethereum::audit_batch_abi::read_batches(m_rpc, m_audit_log);
    const auto stored = m_store->batches();
    std::set<std::uint64_t> held;
    for (const auto& sb : stored) {
      const std::uint64_t i = sb.record.batch;
      const std::string name = "batch " + std::to_string(i);
      std::vector<ethereum::audit_entry> es;
      try {
        for (const auto& tx : sb.entries) es.push_back(ethereum_ledger::entry_of(tx));
      } catch (const ethereum_entry_refused& e) {
        throw batch_store_tampered(i, "batched_audit_ledger: " + name + " in " + m_config.database +
                                          " holds an entry AuditLog does not record: " + e.what());
      }
      if (es.size() != sb.record.entries)
        throw batch_store_tampered(i, "batched_audit_ledger: " + name + " in " + m_config.database + " holds " +
                                          std::to_string(es.size()) + " entry rows, its batch row says " +
                                          std::to_string(sb.record.entries));
      const auto it = chain.find(i);
      if (it == chain.end() || it->second.writer != m_sender.account() ||
          it->second.transaction_hash != sb.record.transaction_hash)
        throw batch_store_tampered(i, "batched_audit_ledger: " + name + " in " + m_config.database +
                                          " is not on chain as stored (no such batch from this writer and transaction)");
      if (es.empty() || it->second.entries != es.size())
        throw batch_store_tampered(i, "batched_audit_ledger: " + name + ": the chain records " +
                                          std::to_string(it->second.entries) + " entries, " + m_config.database +
                                          " holds " + std::to_string(es.size()));
      auto tree = tree_of(es);
      if (tree->root() != it->second.root)
        throw batch_store_tampered(i, "batched_audit_ledger: " + name + ": the entries stored in " + m_config.database +
                                          " give another Merkle root than the chain records (a row was changed or deleted)");
      if (sb.record.root != it->second.root)
        throw batch_store_tampered(i, "batched_audit_ledger: " + name + ": the stored root differs from the chain's");
      adopt(own_batch{it->second, sb.block_hash, sb.gas_used, sb.entries, std::move(tree)});
      held.insert(i);
    }
    // Pending rows: by the transaction they went out in (zero: not submitted yet).
    std::map<ethereum::hash32, std::vector<ethereum::stored_pending>> sent;
    for (auto& p : m_store->pending()) {
      const ethereum::audit_entry e = ethereum_ledger::entry_of(p.tx);
      if (p.tx_hash == ethereum::hash32{}) {
        if (m_open.empty()) m_open_since = std::chrono::steady_clock::now();
        m_state[p.tx.id()] = state{};
        m_open.push_back({std::move(p.tx), e, p.seq});
      } else {
        sent[p.tx_hash].push_back(std::move(p));
      }
    }
    for (const auto& [index, rec] : chain) {
      if (rec.writer != m_sender.account() || held.count(index)) continue;
      if (sent.count(rec.transaction_hash)) continue;  // went out before the restart: settled below
      throw batch_store_tampered(index, "batched_audit_ledger: batch " + std::to_string(index) +
                                            " on chain was written by this account but is missing from " +
                                            m_config.database + " (its rows were deleted, or the file is not this writer's)");
    }
    for (auto& [hash, rows] : sent) {
      in_flight b;
      for (auto& p : rows) b.items.push_back({p.tx, ethereum_ledger::entry_of(p.tx), p.seq});
      std::vector<ethereum::audit_entry> es;
      for (const auto& p : b.items) es.push_back(p.entry);
      b.tree = tree_of(es);
      b.call = append_batch_call(b.tree->root(), b.items.size());
      b.st = {rows.front().raw, hash};
      for (const auto& p : b.items) m_state[p.tx.id()] = state{};
      try {
        (void)m_rpc.send_raw_transaction(b.st.raw);  // dropped with a node restart: send the same bytes again
      } catch (const ethereum::json_rpc_error&) {
        // already known or already mined: the receipt decides
      }
      m_in_flight.push_back(std::move(b));
    }
  }

  // Records a batch on chain (caller holds m_mutex, or the constructor runs).
  void adopt(own_batch b) {
    for (std::size_t i = 0; i < b.txs.size(); ++i) {
      state& s = m_state[b.txs[i].id()];
      s.failure = nullptr;
      s.inclusion = ethereum::audit_inclusion{ethereum_ledger::entry_of(b.txs[i]), b.record.batch, b.record.root,
                                              b.tree->proof(i)};
    }
    m_own.push_back(std::move(b));
  }

  // A reorganisation dropped the batch sent as @p tx_hash: its entries go back into the open batch.
  std::size_t requeue(const ethereum::hash32& tx_hash) {
    std::size_t n = 0;
    {
      std::lock_guard lock(m_mutex);
      const auto it = std::find_if(m_own.begin(), m_own.end(),
                                   [&](const own_batch& b) { return b.record.transaction_hash == tx_hash; });
      if (it == m_own.end()) return 0;  // another caller requeued it already
      std::vector<ethereum::stored_pending> rows;
      if (m_store) rows = m_store->drop_batch(it->record.batch, it->txs);
      if (m_open.empty()) m_open_since = std::chrono::steady_clock::now();
      for (std::size_t i = 0; i < it->txs.size(); ++i) {
        m_state[it->txs[i].id()] = state{};
        m_open.push_back({it->txs[i], ethereum_ledger::entry_of(it->txs[i]), m_store ? rows[i].seq : 0});
      }
      n = it->txs.size();
      m_own.erase(it);
    }
    m_sender.resync();  // the account's nonce went back with the chain
    m_cv.notify_all();
    return n;
  }

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
      std::vector<ethereum::audit_entry> es;
      es.reserve(b.items.size());
      for (const auto& p : b.items) es.push_back(p.entry);
      b.tree = tree_of(es);
      b.call = append_batch_call(b.tree->root(), b.items.size());
      try {
        ethereum::legacy_transaction call = b.call;
        call.gas_price = Botan::BigInt(m_rpc.gas_price());
        b.st = m_sender.submit(std::move(call));
        b.sent = std::chrono::steady_clock::now();
        if (m_store) {
          std::vector<std::uint64_t> seqs;
          for (const auto& p : b.items) seqs.push_back(p.seq);
          m_store->mark_submitted(seqs, b.st.hash, b.st.raw);
        }
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
      std::optional<ethereum::receipt> r;
      std::exception_ptr failure = b.failure;
      if (!failure) {
        try {
          // Bounded from the batch's submission, not from now: batches behind an unmined nonce cannot be
          // mined before it, and waiting receipt_timeout for each in turn made shutdown take n times that.
          const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
              b.sent + m_config.receipt_timeout - std::chrono::steady_clock::now());
          r = m_rpc.await_receipt(b.st.hash, std::max(left, std::chrono::milliseconds(0)));
        } catch (const ethereum::receipt_timeout&) {
          // Kept, signed, for resubmit_pending(): the same nonce fills its place in the account's order.
          failure = std::current_exception();
          lock.lock();
          for (const auto& p : b.items) m_state[p.tx.id()].failure = failure;
          m_stalled.push_back(std::move(b));
          m_done_cv.notify_all();
          continue;
        } catch (...) {
          failure = std::current_exception();
        }
      }
      try {
        settle(b, r ? &*r : nullptr, failure);
      } catch (...) {
        // settle() recorded the failure on every entry of the batch
      }
      lock.lock();
    }
  }

  // Checks @p r (or takes @p failure) for batch @p b and releases its entries: on chain, or failed.
  // @throws the batch's failure, after recording it on every entry
  void settle(in_flight& b, const ethereum::receipt* r, std::exception_ptr failure) {
    std::optional<own_batch> done;
    if (!failure) {
      try {
        if (!r->success)
          throw ethereum_entry_refused("batched_audit_ledger: AuditLog.appendBatch reverted: " +
                                       ethereum::explain_revert(m_rpc, m_sender.account(), b.call, *r).text);
        std::optional<ethereum::batch_record> rec;
        for (const auto& l : r->logs)
          if (l.emitter == m_audit_log && !l.topics.empty() && l.topics[0] == ethereum::audit_batch_abi::batch_appended_topic())
            rec = ethereum::audit_batch_abi::decode_batch_appended(l);
        if (!rec || rec->root != b.tree->root() || rec->entries != b.items.size() || rec->writer != m_sender.account())
          throw ethereum::malformed_reply("batched_audit_ledger: the receipt's BatchAppended event does not match the batch");
        own_batch o{*rec, r->block_hash, r->gas_used, {}, b.tree};
        for (const auto& p : b.items) o.txs.push_back(p.tx);
        if (m_store) {
          std::vector<std::uint64_t> seqs;
          for (const auto& p : b.items) seqs.push_back(p.seq);
          m_store->record_batch({o.record, o.block_hash, o.gas, o.txs}, seqs);
        }
        done = std::move(o);
      } catch (...) {
        failure = std::current_exception();
      }
    }
    if (failure) {
      // The sender's nonce stays: a reverted or mismatched batch used its nonce, and a failed submit
      // was settled by the sender itself (re-reading the node's count here could go back behind
      // batches still in the pool).
      if (m_store) {
        std::vector<std::uint64_t> seqs;
        for (const auto& p : b.items) seqs.push_back(p.seq);
        try {
          m_store->drop_pending(seqs);  // failed for good, and each caller is told below: not kept for a restart
        } catch (const io_error&) {
          // the rows stay; a restart submits them again, which logs them late rather than never
        }
      }
    }
    {
      std::lock_guard lock(m_mutex);
      if (done) adopt(std::move(*done));
      else
        for (const auto& p : b.items) m_state[p.tx.id()].failure = failure;
    }
    m_done_cv.notify_all();
    if (failure) std::rethrow_exception(failure);
  }

  const ethereum::json_rpc_client& m_rpc;
  ethereum::transaction_sender& m_sender;
  ethereum::address m_audit_log;
  batched_audit_config m_config;
  std::unique_ptr<ethereum::audit_batch_store> m_store;
  mutable std::mutex m_mutex;
  std::condition_variable m_cv, m_done_cv;
  std::vector<pending> m_open;
  std::chrono::steady_clock::time_point m_open_since;
  bool m_flush = false, m_stopping = false, m_submitted_all = false;
  std::deque<in_flight> m_in_flight, m_stalled;
  std::map<sha256_digest, state> m_state;
  std::vector<own_batch> m_own;
  std::thread m_batcher, m_confirmer;
};

static_assert(ledger_policy<batched_audit_ledger>, "hefl::iot::batched_audit_ledger must satisfy ledger_policy");

} // namespace hefl::iot
