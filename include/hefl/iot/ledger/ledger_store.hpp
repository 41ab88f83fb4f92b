#pragma once
/// @file
/// Persists a ledger's blocks and transactions (with their author signatures) in SQLite (through
/// Botan::Sqlite3_Database) and reloads them with full verification, so an edited row is reported
/// with the block it sits in. Each save also writes the saving node's signed checkpoint of the head
/// in the same SQLite transaction; reloading compares against it (and against a newer checkpoint a
/// peer kept, when given), so deleting the newest block rows is reported as a truncated chain.
/// Needs Botan 2 and nlohmann-json (target hefl::iot).
///
/// Botan 2.19's SQLite wrapper swallows statement errors (step() only says "no row") and reads
/// integers as 32-bit: every write is therefore checked by counting rows (and the commit by a second
/// connection that only sees committed data), and 64-bit values are stored as text.

#include <hefl/core/error.hpp>
#include <hefl/iot/ledger/ledger.hpp>

#include <botan/hex.h>
#include <botan/sqlite3.h>

#include <charconv>
#include <climits>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hefl::iot {

/// A SQLite file holding one ledger replica's chain (tables ledger_blocks, ledger_transactions and
/// ledger_checkpoint) and the entries submitted through it that no saved block holds yet (ledger_pending). Thread-safe. Each save() is one BEGIN IMMEDIATE ... COMMIT, so a crash leaves
/// every block it wrote and the matching checkpoint, or none of them, never half a block.
class ledger_store {
public:
  /// Opens (or creates) the database at @p path and its tables.
  /// @throws hefl::io_error if the file cannot be opened or is not a SQLite database
  explicit ledger_store(const std::string& path) : m_path(path) {
    try {
      m_db = std::make_unique<Botan::Sqlite3_Database>(path);
      exec("PRAGMA busy_timeout = 5000");
      exec("CREATE TABLE IF NOT EXISTS ledger_blocks (height INTEGER PRIMARY KEY, previous TEXT NOT NULL, "
           "merkle_root TEXT NOT NULL, time TEXT NOT NULL, sealer TEXT NOT NULL, signature TEXT NOT NULL)");
      exec("CREATE TABLE IF NOT EXISTS ledger_transactions (height INTEGER NOT NULL, idx INTEGER NOT NULL, "
           "body TEXT NOT NULL, author TEXT NOT NULL DEFAULT '', author_signature TEXT NOT NULL DEFAULT '', "
           "PRIMARY KEY (height, idx))");
      // Files written before entries were signed lack the author columns; their chains then fail
      // verification as unsigned (unknown_author) rather than as unreadable.
      if (count(*m_db, "SELECT count(*) FROM pragma_table_info('ledger_transactions') WHERE name = 'author'") == 0) {
        exec("ALTER TABLE ledger_transactions ADD COLUMN author TEXT NOT NULL DEFAULT ''");
        exec("ALTER TABLE ledger_transactions ADD COLUMN author_signature TEXT NOT NULL DEFAULT ''");
      }
      exec("CREATE TABLE IF NOT EXISTS ledger_checkpoint (id INTEGER PRIMARY KEY CHECK (id = 1), height TEXT NOT NULL, "
           "head TEXT NOT NULL, signer TEXT NOT NULL, signature TEXT NOT NULL)");
      exec("CREATE TABLE IF NOT EXISTS ledger_pending (id TEXT PRIMARY KEY, body TEXT NOT NULL, "
           "author TEXT NOT NULL, signature TEXT NOT NULL)");
      if (count(*m_db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                       "('ledger_blocks', 'ledger_transactions', 'ledger_checkpoint', 'ledger_pending')") != 4)
        throw io_error("ledger_store: could not create the ledger tables in " + path);
      m_committed = std::make_unique<Botan::Sqlite3_Database>(path);
      exec(*m_committed, "PRAGMA busy_timeout = 5000");
    } catch (const Botan::Exception& e) {
      throw io_error("ledger_store: cannot open " + path + ": " + e.what());
    }
  }

  /// Number of blocks stored (genesis included).
  /// @throws hefl::io_error if the database cannot be read
  [[nodiscard]] std::uint64_t block_count() const {
    const std::lock_guard lock(m_mutex);
    return guarded("count blocks", [&] { return count(*m_db, "SELECT count(*) FROM ledger_blocks"); });
  }

  /// Writes the blocks of @p l that are not stored yet and @p l's signed checkpoint of its head, all
  /// in one SQLite transaction. A stored newest block that @p l replaced by fork choice (an in-turn
  /// block preferred to an out-of-turn one, same parent) is rewritten.
  /// @returns the number of blocks written
  /// @throws hefl::invalid_argument if @p l has no key but blocks beyond genesis (nobody could sign
  ///         the checkpoint that reloading needs); hefl::io_error if a write fails (nothing of this
  ///         call is kept), or the stored chain is not a prefix of @p l (another chain, or one that is longer)
  std::size_t save(const ledger& l) {
    const std::lock_guard lock(m_mutex);
    const auto stored = guarded("count blocks", [&] { return count(*m_db, "SELECT count(*) FROM ledger_blocks"); });
    const auto chain = l.blocks();
    if (stored > chain.size())
      throw io_error("ledger_store::save: " + m_path + " holds " + std::to_string(stored) +
                     " blocks, the ledger only " + std::to_string(chain.size()));
    const auto checkpoint = l.checkpoint();
    if (!checkpoint && chain.size() > 1)
      throw invalid_argument("ledger_store::save: the replica has no key to sign the checkpoint of its head");
    auto first = stored;
    if (stored > 0) {
      const auto h = stored - 1;
      const auto header = guarded("read block", [&] { return read_header(h); });
      const bool replaced = h >= 1 && header.height == h && header.hash() != chain[h].hash() &&
                            guarded("read block", [&] { return read_header(h - 1); }).hash() == chain[h - 1].hash();
      if (header.hash() != chain[h].hash() && !replaced)
        throw io_error("ledger_store::save: block " + std::to_string(h) + " in " + m_path +
                       " differs from the ledger's: the store belongs to another chain");
      if (replaced) first = h;
    }
    if (first < chain.size() || (checkpoint && !checkpoint_is_locked(*checkpoint)))
      write_locked(chain, first, stored, checkpoint);
    return chain.size() - first;
  }

  /// Submits @p tx to @p l after writing it, signed, to table ledger_pending (committed before this
  /// returns), so an entry acknowledged to its caller survives a crash before its block is saved:
  /// load_into() hands the pending rows to the restarted replica. An unsigned entry is signed as
  /// @p l's node first (ledger::sign_entry()); a signed one is written as it is and checked by
  /// ledger::submit(). save() deletes the rows of entries it writes in blocks, in its transaction.
  /// @returns the entry id
  /// @throws hefl::io_error if the row does not reach the file (nothing is submitted then); whatever
  ///         ledger::submit() throws (the row is deleted again: a refused entry is not kept)
  sha256_digest submit(ledger& l, transaction tx) {
    if (!tx.is_signed() && l.self_id()) tx = l.sign_entry(tx);
    const auto id = tx.id();
    if (l.contains(id)) return id;
    const auto id_hex = ledger_detail::to_hex(id);
    {
      const std::lock_guard lock(m_mutex);
      guarded("write pending entry", [&] {
        const auto ins = m_db->new_statement(
            "INSERT OR IGNORE INTO ledger_pending (id, body, author, signature) VALUES (?1, ?2, ?3, ?4)");
        ins->bind(1, id_hex);
        ins->bind(2, tx.canonical());
        ins->bind(3, tx.author());
        ins->bind(4, ledger_detail::to_hex(tx.author_signature()));
        ins->spin();
        // Written in autocommit mode: only a second connection tells whether the row is in the file.
        const auto q = m_committed->new_statement("SELECT count(*) FROM ledger_pending WHERE id = ?1");
        q->bind(1, id_hex);
        if (!q->step() || q->get_size_t(0) != 1)
          throw io_error("ledger_store: pending entry " + id_hex.substr(0, 16) + "... did not reach " + m_path);
      });
    }
    try {
      return l.submit(std::move(tx));
    } catch (...) {
      const std::lock_guard lock(m_mutex);
      try {
        const auto del = m_db->new_statement("DELETE FROM ledger_pending WHERE id = ?1");
        del->bind(1, id_hex);
        del->spin();
      } catch (const Botan::Exception&) {  // the refusal below is what the caller must see
      }
      throw;
    }
  }

  /// The entries written by submit() whose blocks are not saved yet, oldest first, as stored
  /// (not verified here: load_into() hands them to ledger::submit(), which checks each signature).
  /// @throws hefl::parse_error if a row is unreadable; hefl::io_error if the database cannot be read
  [[nodiscard]] std::vector<transaction> pending_entries() const {
    const std::lock_guard lock(m_mutex);
    return pending_locked();
  }

  /// The stored checkpoint of the head, if any.
  /// @throws hefl::ledger_integrity_error (fault bad_checkpoint) if the row is unreadable;
  ///         hefl::io_error if the database cannot be read
  [[nodiscard]] std::optional<head_checkpoint> read_checkpoint() const {
    const std::lock_guard lock(m_mutex);
    return read_checkpoint_locked();
  }

  /// Reads every stored block, genesis first, without verifying signatures or hashes (see load_into()).
  /// @throws hefl::ledger_integrity_error (fault malformed) naming the block of an unreadable or
  ///         missing row; hefl::io_error if the database cannot be read
  [[nodiscard]] std::vector<block> read_blocks() const {
    const std::lock_guard lock(m_mutex);
    std::vector<block> chain;
    guarded("read blocks", [&] {
      const auto rows = m_db->new_statement("SELECT CAST(height AS TEXT), previous, merkle_root, time, sealer, "
                                            "signature FROM ledger_blocks ORDER BY height");
      while (rows->step()) {
        const auto h = chain.size();
        const auto stored_height = row_field(h, "height", [&] { return parse_int(rows->get_str(0), "height"); });
        if (stored_height != static_cast<std::int64_t>(h))
          throw malformed(h, "rows skip from height " + std::to_string(h) + " to " + std::to_string(stored_height));
        block b;
        b.header = row_field(h, "header", [&] { return header_from_row(*rows, 1, h); });
        b.signature = row_field(h, "signature", [&] { return hex_field(rows->get_str(5), "signature"); });
        chain.push_back(std::move(b));
      }
      const auto txs = m_db->new_statement("SELECT CAST(height AS TEXT), CAST(idx AS TEXT), body, author, "
                                           "author_signature FROM ledger_transactions ORDER BY height, idx");
      while (txs->step()) {
        const auto h = row_field(chain.size(), "transaction", [&] { return parse_int(txs->get_str(0), "height"); });
        if (h < 0 || static_cast<std::uint64_t>(h) >= chain.size())
          throw malformed(chain.size(), "a transaction row belongs to block " + std::to_string(h) + ", which is not stored");
        auto& b = chain[static_cast<std::size_t>(h)];
        const auto at = b.transactions.size();
        const auto what = "transaction " + std::to_string(at);
        const auto idx = row_field(static_cast<std::size_t>(h), what, [&] { return parse_int(txs->get_str(1), "idx"); });
        if (idx != static_cast<std::int64_t>(at))
          throw malformed(static_cast<std::size_t>(h), "expected transaction index " + std::to_string(at) +
                                                           ", row says " + std::to_string(idx));
        b.transactions.push_back(row_field(static_cast<std::size_t>(h), what, [&] {
          auto tx = transaction::parse(txs->get_str(2));
          auto author = txs->get_str(3);
          if (author.empty()) return tx;  // unsigned: verification names it
          return tx.with_author(std::move(author), hex_field(txs->get_str(4), "author signature"));
        }));
      }
    });
    return chain;
  }

  /// Reads the chain and hands it to @p l (a fresh replica built from the trusted genesis), which
  /// verifies every block (links, sealer turns, signatures, Merkle roots, author signatures) and
  /// then the stored checkpoint: a stored chain beyond genesis needs one, signed by an author, naming
  /// its head. @p newest_known, when given (e.g. the last checkpoint this node handed to a peer, as the
  /// peer kept it), must be reached too: a whole file rolled back to an older copy is caught that way.
  /// Nothing is adopted when any check fails.
  /// @throws hefl::ledger_integrity_error naming the first bad block and why, with fault truncated
  ///         when the chain ends below a checkpoint (or has none) and bad_checkpoint when a checkpoint
  ///         does not verify or names another block; hefl::io_error if the database cannot be read;
  ///         hefl::invalid_argument if @p l already holds blocks
  /// Then the entries of table ledger_pending that the chain does not hold go back into @p l's
  /// pending pool through ledger::submit() (each author signature checked again); rows that fail are
  /// reported after every good one is in.
  /// @throws hefl::ledger_integrity_error (fault of the first refusal, e.g. bad_author_signature)
  ///         naming the pending rows @p l refused; the chain and the other entries are adopted then
  void load_into(ledger& l, const std::optional<head_checkpoint>& newest_known = std::nullopt) const {
    auto chain = read_blocks();
    const auto stored = [&] {
      const std::lock_guard lock(m_mutex);
      return read_checkpoint_locked();
    }();
    if (chain.size() > 1 && !stored) {
      verify_report r;
      r.bad_block = chain.size();
      r.fault = block_fault::truncated;
      r.message = "block " + std::to_string(chain.size() - 1) + ": the store holds blocks but no signed checkpoint " +
                  "of its head (the checkpoint row was deleted)";
      throw ledger_integrity_error(std::move(r));
    }
    std::vector<head_checkpoint> checkpoints;
    if (stored) checkpoints.push_back(*stored);
    if (newest_known) checkpoints.push_back(*newest_known);
    l.restore(std::move(chain), checkpoints);
    resubmit_pending(l);
  }

  /// Path of the database file.
  [[nodiscard]] const std::string& path() const noexcept { return m_path; }

private:
  using statement = Botan::SQL_Database::Statement;

  template <class F>
  static auto guarded(std::string_view what, F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const Botan::Exception& e) {
      throw io_error("ledger_store: " + std::string(what) + " failed: " + e.what());
    }
  }

  static ledger_integrity_error malformed(std::uint64_t height, const std::string& why) {
    verify_report r;
    r.blocks_checked = 0;
    r.bad_block = height;
    r.fault = block_fault::malformed;
    r.message = "block " + std::to_string(height) + ": stored row unreadable: " + why;
    return ledger_integrity_error(std::move(r));
  }

  // Runs one row's parsing; any failure (Botan's type assertions included) names the block.
  template <class F>
  static auto row_field(std::uint64_t height, std::string_view what, F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const ledger_integrity_error&) {
      throw;
    } catch (const Botan::Exception& e) {
      throw malformed(height, std::string(what) + ": " + e.what());
    } catch (const hefl::error& e) {
      throw malformed(height, std::string(what) + ": " + e.what());
    }
  }

  static std::int64_t parse_int(const std::string& text, std::string_view what) {
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty())
      throw parse_error(std::string(what) + " '" + text.substr(0, 32) + "' is not an integer");
    return v;
  }

  static std::vector<std::uint8_t> hex_field(const std::string& text, std::string_view what) {
    std::vector<std::uint8_t> out;
    try {
      out = Botan::hex_decode(text, false);
    } catch (const Botan::Exception&) {
      throw parse_error(std::string(what) + " is not hex");
    }
    if (ledger_detail::to_hex(out) != text) throw parse_error(std::string(what) + " is not lower-case hex");
    return out;
  }

  static sha256_digest digest_field(const std::string& text, std::string_view what) {
    const auto bytes = hex_field(text, what);
    if (bytes.size() != 32)
      throw parse_error(std::string(what) + " is " + std::to_string(bytes.size()) + " bytes, expected 32");
    sha256_digest d;
    std::copy(bytes.begin(), bytes.end(), d.begin());
    return d;
  }

  // Columns from @p first: previous, merkle_root, time, sealer.
  static block_header header_from_row(statement& row, int first, std::uint64_t height) {
    block_header h;
    h.height = height;
    h.previous = digest_field(row.get_str(first), "previous");
    h.merkle_root = digest_field(row.get_str(first + 1), "merkle_root");
    h.time = ledger_time(std::chrono::milliseconds(parse_int(row.get_str(first + 2), "time")));
    h.sealer = row.get_str(first + 3);
    return h;
  }

  block_header read_header(std::uint64_t height) const {
    const auto row = m_db->new_statement(
        "SELECT previous, merkle_root, time, sealer FROM ledger_blocks WHERE height = ?1");
    row->bind(1, static_cast<std::size_t>(height));
    if (!row->step()) throw io_error("ledger_store: block " + std::to_string(height) + " is missing in " + m_path);
    return row_field(height, "header", [&] { return header_from_row(*row, 0, height); });
  }

  void exec(const std::string& sql) { exec(*m_db, sql); }
  static void exec(Botan::Sqlite3_Database& db, const std::string& sql) { db.new_statement(sql)->spin(); }

  static std::size_t count(const Botan::Sqlite3_Database& db, const std::string& sql, std::size_t height = 0,
                           bool bind_height = false) {
    const auto q = db.new_statement(sql);
    if (bind_height) q->bind(1, height);
    if (!q->step()) throw io_error("ledger_store: query returned no row: " + sql);
    return q->get_size_t(0);
  }

  std::optional<head_checkpoint> read_checkpoint_locked() const {
    return guarded("read checkpoint", [&]() -> std::optional<head_checkpoint> {
      const auto q = m_db->new_statement("SELECT height, head, signer, signature FROM ledger_checkpoint WHERE id = 1");
      if (!q->step()) return std::nullopt;
      head_checkpoint cp;
      try {
        const auto h = parse_int(q->get_str(0), "checkpoint height");
        if (h < 0) throw parse_error("checkpoint height is negative");
        cp.height = static_cast<std::uint64_t>(h);
        cp.head = digest_field(q->get_str(1), "checkpoint head");
        cp.signer = q->get_str(2);
        cp.signature = hex_field(q->get_str(3), "checkpoint signature");
      } catch (const std::exception& e) {
        verify_report r;
        r.bad_block = 0;
        r.fault = block_fault::bad_checkpoint;
        r.message = std::string("the stored checkpoint is unreadable: ") + e.what();
        throw ledger_integrity_error(std::move(r));
      }
      return cp;
    });
  }

  std::vector<transaction> pending_locked() const {
    std::vector<transaction> out;
    guarded("read pending entries", [&] {
      const auto q = m_db->new_statement("SELECT id, body, author, signature FROM ledger_pending ORDER BY rowid");
      while (q->step()) {
        try {
          auto tx = transaction::parse(q->get_str(1));
          if (ledger_detail::to_hex(tx.id()) != q->get_str(0))
            throw parse_error("its id column does not match its body");
          auto author = q->get_str(2);
          out.push_back(author.empty() ? std::move(tx)
                                       : tx.with_author(std::move(author), hex_field(q->get_str(3), "signature")));
        } catch (const parse_error& e) {
          throw parse_error(std::string("ledger_store: a pending entry row is unreadable: ") + e.what());
        }
      }
    });
    return out;
  }

  void resubmit_pending(ledger& l) const {
    const auto entries = [&] {
      const std::lock_guard lock(m_mutex);
      return pending_locked();
    }();
    std::size_t refused = 0;
    std::optional<ledger_entry_refused> first;
    for (const auto& tx : entries) {
      if (l.contains(tx.id())) continue;
      try {
        (void)l.submit(tx);
      } catch (const ledger_entry_refused& e) {
        if (!first) first = e;
        ++refused;
      }
    }
    if (first) {
      verify_report r;
      r.blocks_checked = l.height() + 1;
      r.bad_block = l.height() + 1;
      r.fault = first->fault();
      r.message = std::to_string(refused) + " stored pending entr" + (refused == 1 ? "y" : "ies") +
                  " refused on reload: " + first->what();
      throw ledger_integrity_error(std::move(r));
    }
  }

  bool checkpoint_is_locked(const head_checkpoint& cp) const {
    try {
      const auto stored = read_checkpoint_locked();
      return stored && stored->height == cp.height && stored->head == cp.head && stored->signer == cp.signer;
    } catch (const ledger_integrity_error&) {
      return false;
    }
  }

  // Writes chain[first..] and the checkpoint in one SQLite transaction: all of it lands, or none.
  // Rows from @p first to @p stored (a head replaced by fork choice) are deleted in that transaction.
  void write_locked(const std::vector<block>& chain, std::size_t first, std::size_t stored,
                    const std::optional<head_checkpoint>& checkpoint) {
    // Botan binds integers as 32-bit ints.
    if (chain.size() > static_cast<std::size_t>(INT_MAX))
      throw io_error("ledger_store: height " + std::to_string(chain.size() - 1) + " exceeds what the store can index");
    const auto from = std::to_string(first);
    guarded("write blocks from " + from, [&] {
      if (count(*m_db, "SELECT count(*) FROM ledger_blocks WHERE height >= ?1", stored, true) != 0 ||
          count(*m_db, "SELECT count(*) FROM ledger_transactions WHERE height >= ?1", stored, true) != 0)
        throw io_error("ledger_store: " + m_path + " already has rows at or above height " + std::to_string(stored) +
                       " that this store did not write");
      std::size_t tx_rows = 0;
      exec("BEGIN IMMEDIATE");
      try {
        if (first < stored) {
          const auto del_b = m_db->new_statement("DELETE FROM ledger_blocks WHERE height >= ?1");
          del_b->bind(1, first);
          del_b->spin();
          const auto del_t = m_db->new_statement("DELETE FROM ledger_transactions WHERE height >= ?1");
          del_t->bind(1, first);
          del_t->spin();
        }
        for (auto h = first; h < chain.size(); ++h) {
          const auto& b = chain[h];
          const auto ins = m_db->new_statement(
              "INSERT INTO ledger_blocks (height, previous, merkle_root, time, sealer, signature) "
              "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
          ins->bind(1, h);
          ins->bind(2, ledger_detail::to_hex(b.header.previous));
          ins->bind(3, ledger_detail::to_hex(b.header.merkle_root));
          ins->bind(4, std::to_string(b.header.time.time_since_epoch().count()));
          ins->bind(5, b.header.sealer);
          ins->bind(6, ledger_detail::to_hex(b.signature));
          ins->spin();
          for (std::size_t i = 0; i < b.transactions.size(); ++i) {
            const auto tx = m_db->new_statement(
                "INSERT INTO ledger_transactions (height, idx, body, author, author_signature) "
                "VALUES (?1, ?2, ?3, ?4, ?5)");
            tx->bind(1, h);
            tx->bind(2, i);
            tx->bind(3, b.transactions[i].canonical());
            tx->bind(4, b.transactions[i].author());
            tx->bind(5, ledger_detail::to_hex(b.transactions[i].author_signature()));
            tx->spin();
          }
          tx_rows += b.transactions.size();
          // Entries now in a saved block leave the pending table in this same transaction.
          for (const auto& t : b.transactions) {
            const auto del = m_db->new_statement("DELETE FROM ledger_pending WHERE id = ?1");
            del->bind(1, ledger_detail::to_hex(t.id()));
            del->spin();
          }
        }
        // step() hides errors: count what actually landed before committing.
        const auto blocks = count(*m_db, "SELECT count(*) FROM ledger_blocks WHERE height >= ?1", first, true);
        const auto txs = count(*m_db, "SELECT count(*) FROM ledger_transactions WHERE height >= ?1", first, true);
        if (blocks != chain.size() - first || txs != tx_rows)
          throw io_error("ledger_store: writing blocks from " + from + " stored " + std::to_string(blocks) + " of " +
                         std::to_string(chain.size() - first) + " headers and " + std::to_string(txs) + " of " +
                         std::to_string(tx_rows) + " transaction rows; rolled back");
        if (checkpoint) {
          const auto cp = m_db->new_statement(
              "INSERT OR REPLACE INTO ledger_checkpoint (id, height, head, signer, signature) VALUES (1, ?1, ?2, ?3, ?4)");
          cp->bind(1, std::to_string(checkpoint->height));
          cp->bind(2, ledger_detail::to_hex(checkpoint->head));
          cp->bind(3, checkpoint->signer);
          cp->bind(4, ledger_detail::to_hex(checkpoint->signature));
          cp->spin();
          if (count(*m_db, "SELECT count(*) FROM ledger_checkpoint WHERE id = 1 AND height = '" +
                               std::to_string(checkpoint->height) + "'") != 1)
            throw io_error("ledger_store: the checkpoint of height " + std::to_string(checkpoint->height) +
                           " was not written; rolled back");
        }
        exec("COMMIT");
        // Only a second connection tells whether COMMIT really happened.
        if (count(*m_committed, "SELECT count(*) FROM ledger_blocks WHERE height >= ?1", first, true) !=
                chain.size() - first ||
            (checkpoint && count(*m_committed, "SELECT count(*) FROM ledger_checkpoint WHERE height = '" +
                                                   std::to_string(checkpoint->height) + "'") != 1))
          throw io_error("ledger_store: COMMIT of blocks from " + from + " did not reach " + m_path);
      } catch (...) {
        exec("ROLLBACK");
        throw;
      }
    });
  }

  std::string m_path;
  mutable std::mutex m_mutex;
  std::unique_ptr<Botan::Sqlite3_Database> m_db;
  std::unique_ptr<Botan::Sqlite3_Database> m_committed;
};

/// A ledger_policy whose submit() goes through ledger_store::submit(): a collector validator built
/// on it returns its verdict only once the rule_check entry is in the SQLite file, so a crash before
/// the next block is saved loses no acknowledged entry. Both objects must outlive it.
class durable_ledger {
public:
  /// Submits to @p l through @p store.
  durable_ledger(ledger& l, ledger_store& store) noexcept : m_ledger(&l), m_store(&store) {}
  /// ledger_store::submit(replica(), tx).
  /// @throws as ledger_store::submit()
  sha256_digest submit(transaction tx) { return m_store->submit(*m_ledger, std::move(tx)); }
  /// The replica entries go to.
  [[nodiscard]] ledger& replica() const noexcept { return *m_ledger; }

private:
  ledger* m_ledger;
  ledger_store* m_store;
};

static_assert(ledger_policy<durable_ledger>, "hefl::iot::durable_ledger must satisfy ledger_policy");

} // namespace hefl::iot
