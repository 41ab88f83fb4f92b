#pragma once
/// @file
/// The SQLite file behind batched_audit_ledger (Botan::Sqlite3_Database, as ledger_store.hpp uses it):
/// each batch this writer put on chain (its BatchAppended record, the block and transaction that hold
/// it, the gas) with its entries in leaf order, and the entries not on chain yet (submitted to the
/// ledger, in the open batch or in a batch whose receipt is not in, with that batch's signed
/// transaction). The entries are stored whole (canonical transaction text and author signature); the
/// proofs are not stored but recomputed from the batch's entries, so an edited or deleted entry row
/// changes the batch's Merkle root and is caught when the root is compared with the chain's.
/// A pending row is not on chain, so nothing there covers it: each carries an HMAC-SHA-256 (RFC 2104)
/// over its sequence number and its entry, and one over its batch transaction once it went out, keyed
/// with a secret derived from the writer account's key (transaction_sender::derive_secret), and
/// pending() refuses a row whose MACs do not verify. An edited, inserted, renumbered or swapped
/// pending row is caught; a deleted one is not (nor the whole file replaced by an older copy of it).
///
/// Like ledger_store: Botan 2.19's wrapper swallows statement errors and reads integers as 32-bit, so
/// 64-bit values are stored as text and writes are checked by counting rows on a second connection.

#include <hefl/core/error.hpp>
#include <hefl/iot/ledger/ethereum/audit_batch.hpp>
#include <hefl/iot/ledger/ledger.hpp>

#include <botan/hex.h>
#include <botan/mac.h>
#include <botan/mem_ops.h>
#include <botan/sqlite3.h>

#include <charconv>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hefl::iot::ethereum {

/// A batch restored from the SQLite file does not match the chain, or its rows are unreadable or
/// missing: an entry row edited or deleted, a batch row deleted, a root or count changed; or a pending
/// row (not on chain yet) is unreadable or its MAC does not verify. batch() names the batch;
/// pending_row() the pending row's sequence number when the fault is there (batch() is then 0).
class batch_store_tampered : public security_error {
public:
  batch_store_tampered(std::uint64_t batch, const std::string& message) : security_error(message), m_batch(batch) {}
  /// A fault in pending row @p seq.
  static batch_store_tampered in_pending_row(std::uint64_t seq, const std::string& message) {
    batch_store_tampered e(0, message);
    e.m_pending_row = seq;
    return e;
  }
  [[nodiscard]] std::uint64_t batch() const noexcept { return m_batch; }
  [[nodiscard]] std::optional<std::uint64_t> pending_row() const noexcept { return m_pending_row; }

private:
  std::uint64_t m_batch;
  std::optional<std::uint64_t> m_pending_row;
};

/// One batch as the store holds it.
struct stored_batch {
  batch_record record;          ///< as its receipt's BatchAppended event reported it
  hash32 block_hash{};          ///< the block its receipt named
  std::uint64_t gas_used = 0;
  std::vector<transaction> entries;  ///< leaf order
};

/// One entry not on chain yet.
struct stored_pending {
  std::uint64_t seq = 0;   ///< submission order
  transaction tx;
  hash32 tx_hash{};        ///< zero while in the open batch; else the batch transaction it went out in
  bytes raw;               ///< that transaction, signed (empty while open)
};

/// The batched ledger's SQLite file. Thread-safe.
class audit_batch_store {
public:
  /// What transaction_sender::derive_secret is given for the pending rows' MAC key.
  static constexpr std::string_view row_key_purpose = "hefl audit_batch_store pending rows v1";

  /// Opens (or creates) the file at @p path for AuditLog @p contract written by @p writer; @p row_key
  /// (at least 16 bytes; batched_audit_ledger passes sender.derive_secret(row_key_purpose)) keys the
  /// pending rows' MACs.
  /// @throws hefl::io_error if it cannot be opened; hefl::invalid_argument if it belongs to another
  ///         contract or writer account, or @p row_key is shorter than 16 bytes
  audit_batch_store(const std::string& path, const address& contract, const address& writer,
                    Botan::secure_vector<std::uint8_t> row_key)
      : m_path(path), m_contract(contract), m_writer(writer), m_row_key(std::move(row_key)) {
    if (m_row_key.size() < 16)
      throw invalid_argument("audit_batch_store: the row key has " + std::to_string(m_row_key.size()) + " bytes, at least 16 needed");
    try {
      m_db = std::make_unique<Botan::Sqlite3_Database>(path);
      exec(*m_db, "PRAGMA busy_timeout = 5000");
      exec(*m_db, "CREATE TABLE IF NOT EXISTS eth_batch_meta (id INTEGER PRIMARY KEY CHECK (id = 1), "
                  "contract TEXT NOT NULL, writer TEXT NOT NULL)");
      exec(*m_db, "CREATE TABLE IF NOT EXISTS eth_batches (batch TEXT PRIMARY KEY, root TEXT NOT NULL, "
                  "entries TEXT NOT NULL, timestamp TEXT NOT NULL, head TEXT NOT NULL, block_number TEXT NOT NULL, "
                  "block_hash TEXT NOT NULL, tx_hash TEXT NOT NULL, gas TEXT NOT NULL)");
      exec(*m_db, "CREATE TABLE IF NOT EXISTS eth_batch_entries (batch TEXT NOT NULL, leaf TEXT NOT NULL, "
                  "body TEXT NOT NULL, author TEXT NOT NULL, signature TEXT NOT NULL, PRIMARY KEY (batch, leaf))");
      exec(*m_db, "CREATE TABLE IF NOT EXISTS eth_batch_pending (seq INTEGER PRIMARY KEY, body TEXT NOT NULL, "
                  "author TEXT NOT NULL, signature TEXT NOT NULL, tx_hash TEXT NOT NULL DEFAULT '', "
                  "raw TEXT NOT NULL DEFAULT '', mac TEXT NOT NULL DEFAULT '', sent_mac TEXT NOT NULL DEFAULT '')");
      // A file from before the MACs: the columns are added, and its pending rows (without MACs) are refused.
      for (const char* column : {"mac", "sent_mac"})
        if (count(*m_db, std::string("SELECT count(*) FROM pragma_table_info('eth_batch_pending') WHERE name = '") +
                             column + "'") == 0)
          exec(*m_db, std::string("ALTER TABLE eth_batch_pending ADD COLUMN ") + column + " TEXT NOT NULL DEFAULT ''");
      m_committed = std::make_unique<Botan::Sqlite3_Database>(path);
      exec(*m_committed, "PRAGMA busy_timeout = 5000");
      const std::string c = to_hex(contract), w = to_hex(writer);
      const auto q = m_db->new_statement("SELECT contract, writer FROM eth_batch_meta WHERE id = 1");
      if (q->step()) {
        if (q->get_str(0) != c || q->get_str(1) != w)
          throw invalid_argument("audit_batch_store: " + path + " belongs to AuditLog " + q->get_str(0) + " and writer " +
                                 q->get_str(1) + ", not " + c + " and " + w);
      } else {
        const auto ins = m_db->new_statement("INSERT INTO eth_batch_meta (id, contract, writer) VALUES (1, ?1, ?2)");
        ins->bind(1, c);
        ins->bind(2, w);
        ins->spin();
        if (count(*m_committed, "SELECT count(*) FROM eth_batch_meta") != 1)
          throw io_error("audit_batch_store: cannot write to " + path);
      }
      const auto s = m_db->new_statement("SELECT CAST(coalesce(max(seq), 0) AS TEXT) FROM eth_batch_pending");
      if (s->step()) m_next_seq = parse_u64(s->get_str(0), "seq") + 1;
    } catch (const Botan::Exception& e) {
      throw io_error("audit_batch_store: cannot open " + path + ": " + e.what());
    }
  }

  [[nodiscard]] const std::string& path() const noexcept { return m_path; }

  /// Writes @p tx as a pending entry (committed before this returns).
  /// @returns its sequence number
  /// @throws hefl::io_error if the row does not reach the file
  std::uint64_t add_pending(const transaction& tx) {
    const std::lock_guard lock(m_mutex);
    const std::uint64_t seq = m_next_seq++;
    guarded("write pending entry", [&] {
      insert_pending(seq, tx);
      if (count(*m_committed, "SELECT count(*) FROM eth_batch_pending WHERE seq = " + std::to_string(seq)) != 1)
        throw io_error("audit_batch_store: pending entry did not reach " + m_path);
    });
    return seq;
  }

  /// Records that the pending entries @p seqs went out in the signed transaction @p raw (hash @p tx_hash).
  /// @throws hefl::io_error
  void mark_submitted(const std::vector<std::uint64_t>& seqs, const hash32& tx_hash, const bytes& raw) {
    const std::lock_guard lock(m_mutex);
    in_transaction("mark a batch submitted", [&] {
      for (const auto seq : seqs) {
        const auto up = m_db->new_statement("UPDATE eth_batch_pending SET tx_hash = ?1, raw = ?2, sent_mac = ?3 WHERE seq = ?4");
        up->bind(1, to_hex(tx_hash));
        up->bind(2, to_hex(raw));
        up->bind(3, Botan::hex_encode(sent_mac(seq, to_hex(tx_hash), to_hex(raw)), false));
        up->bind(4, static_cast<std::size_t>(seq));
        up->spin();
      }
      if (!seqs.empty() &&
          count(*m_db, "SELECT count(*) FROM eth_batch_pending WHERE tx_hash = '" + to_hex(tx_hash) + "'") != seqs.size())
        throw io_error("audit_batch_store: marking a batch submitted did not reach every row");
    });
  }

  /// Records batch @p b (its entries were the pending rows @p seqs, in leaf order) in one transaction:
  /// the batch row and its entry rows written, the pending rows deleted.
  /// @throws hefl::io_error (nothing of it is kept)
  void record_batch(const stored_batch& b, const std::vector<std::uint64_t>& seqs) {
    const std::lock_guard lock(m_mutex);
    const std::string batch = std::to_string(b.record.batch);
    in_transaction("record batch " + batch, [&] {
      const auto ins = m_db->new_statement(
          "INSERT OR REPLACE INTO eth_batches (batch, root, entries, timestamp, head, block_number, block_hash, tx_hash, gas) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
      ins->bind(1, batch);
      ins->bind(2, to_hex(b.record.root));
      ins->bind(3, std::to_string(b.record.entries));
      ins->bind(4, std::to_string(b.record.timestamp));
      ins->bind(5, to_hex(b.record.head));
      ins->bind(6, std::to_string(b.record.block_number));
      ins->bind(7, to_hex(b.block_hash));
      ins->bind(8, to_hex(b.record.transaction_hash));
      ins->bind(9, std::to_string(b.gas_used));
      ins->spin();
      const auto del_old = m_db->new_statement("DELETE FROM eth_batch_entries WHERE batch = ?1");
      del_old->bind(1, batch);
      del_old->spin();
      for (std::size_t i = 0; i < b.entries.size(); ++i) {
        const auto e = m_db->new_statement(
            "INSERT INTO eth_batch_entries (batch, leaf, body, author, signature) VALUES (?1, ?2, ?3, ?4, ?5)");
        e->bind(1, batch);
        e->bind(2, std::to_string(i));
        e->bind(3, b.entries[i].canonical());
        e->bind(4, b.entries[i].author());
        e->bind(5, Botan::hex_encode(b.entries[i].author_signature(), false));
        e->spin();
      }
      for (const auto seq : seqs) {
        const auto del = m_db->new_statement("DELETE FROM eth_batch_pending WHERE seq = ?1");
        del->bind(1, static_cast<std::size_t>(seq));
        del->spin();
      }
      if (count(*m_db, "SELECT count(*) FROM eth_batch_entries WHERE batch = '" + batch + "'") != b.entries.size() ||
          count(*m_db, "SELECT count(*) FROM eth_batches WHERE batch = '" + batch + "'") != 1)
        throw io_error("audit_batch_store: batch " + batch + " was not written whole");
    });
  }

  /// Deletes the pending rows @p seqs (their batch failed for good and the caller was told).
  /// @throws hefl::io_error
  void drop_pending(const std::vector<std::uint64_t>& seqs) {
    const std::lock_guard lock(m_mutex);
    in_transaction("drop pending entries", [&] {
      for (const auto seq : seqs) {
        const auto del = m_db->new_statement("DELETE FROM eth_batch_pending WHERE seq = ?1");
        del->bind(1, static_cast<std::size_t>(seq));
        del->spin();
      }
    });
  }

  /// A reorganisation dropped batch @p batch: its rows are deleted and its entries become pending
  /// again (new sequence numbers, not submitted), in one transaction.
  /// @returns the new pending rows, in leaf order
  /// @throws hefl::io_error
  std::vector<stored_pending> drop_batch(std::uint64_t batch, const std::vector<transaction>& entries) {
    const std::lock_guard lock(m_mutex);
    std::vector<stored_pending> out;
    const std::string b = std::to_string(batch);
    const std::uint64_t first = m_next_seq;
    in_transaction("drop batch " + b, [&] {
      for (const char* table : {"eth_batches", "eth_batch_entries"}) {
        const auto del = m_db->new_statement(std::string("DELETE FROM ") + table + " WHERE batch = ?1");
        del->bind(1, b);
        del->spin();
      }
      for (std::size_t i = 0; i < entries.size(); ++i) insert_pending(first + i, entries[i]);
    });
    m_next_seq = first + entries.size();
    for (std::size_t i = 0; i < entries.size(); ++i) out.push_back({first + i, entries[i], {}, {}});
    return out;
  }

  /// Every stored batch, by batch index, as stored (check them with the chain: batched_audit_ledger does).
  /// @throws batch_store_tampered naming a batch whose rows are unreadable; hefl::io_error
  [[nodiscard]] std::vector<stored_batch> batches() const {
    const std::lock_guard lock(m_mutex);
    std::vector<stored_batch> out;
    guarded("read batches", [&] {
      const auto q = m_db->new_statement("SELECT batch, root, entries, timestamp, head, block_number, block_hash, tx_hash, "
                                         "gas FROM eth_batches ORDER BY CAST(batch AS INTEGER)");
      while (q->step()) {
        stored_batch b;
        std::uint64_t index = 0;
        try {
          index = parse_u64(q->get_str(0), "batch");
        } catch (const parse_error& e) {
          throw batch_store_tampered(0, std::string("audit_batch_store: a batch row is unreadable: ") + e.what());
        }
        row(index, [&] {
          b.record.batch = index;
          b.record.root = fixed<32>(q->get_str(1), "root");
          const auto n = parse_u64(q->get_str(2), "entries");
          if (n > UINT32_MAX) throw parse_error("entries out of range");
          b.record.entries = static_cast<std::uint32_t>(n);
          b.record.timestamp = parse_u64(q->get_str(3), "timestamp");
          b.record.head = fixed<32>(q->get_str(4), "head");
          b.record.block_number = parse_u64(q->get_str(5), "block_number");
          b.block_hash = fixed<32>(q->get_str(6), "block_hash");
          b.record.transaction_hash = fixed<32>(q->get_str(7), "tx_hash");
          b.gas_used = parse_u64(q->get_str(8), "gas");
        });
        out.push_back(std::move(b));
      }
      for (auto& b : out) {
        const auto e = m_db->new_statement("SELECT leaf, body, author, signature FROM eth_batch_entries WHERE batch = ?1 "
                                           "ORDER BY CAST(leaf AS INTEGER)");
        e->bind(1, std::to_string(b.record.batch));
        while (e->step()) {
          row(b.record.batch, [&] {
            const auto leaf = parse_u64(e->get_str(0), "leaf");
            if (leaf != b.entries.size())
              throw parse_error("expected leaf " + std::to_string(b.entries.size()) + ", row says " + std::to_string(leaf));
            b.entries.push_back(entry_of_row(e->get_str(1), e->get_str(2), e->get_str(3)));
          });
        }
      }
    });
    return out;
  }

  /// The entries not on chain yet, in submission order, each row's MACs checked.
  /// @throws batch_store_tampered with pending_row() naming the first row that is unreadable or whose
  ///         MACs do not verify (edited, inserted, renumbered, or written without this writer's key);
  ///         hefl::io_error
  [[nodiscard]] std::vector<stored_pending> pending() const {
    const std::lock_guard lock(m_mutex);
    std::vector<stored_pending> out;
    guarded("read pending entries", [&] {
      const auto q = m_db->new_statement("SELECT CAST(seq AS TEXT), body, author, signature, tx_hash, raw, mac, sent_mac "
                                         "FROM eth_batch_pending ORDER BY seq");
      while (q->step()) {
        const std::string seq_text = q->get_str(0);
        std::uint64_t seq = 0;
        try {
          seq = parse_u64(seq_text, "seq");
        } catch (const parse_error& e) {
          throw batch_store_tampered::in_pending_row(0, "audit_batch_store: a pending row of " + m_path + " is unreadable: " + e.what());
        }
        const std::string name = "audit_batch_store: pending row " + seq_text + " of " + m_path;
        const std::string body = q->get_str(1), author = q->get_str(2), signature = q->get_str(3);
        const std::string tx_hash = q->get_str(4), raw = q->get_str(5);
        if (!mac_matches(entry_mac(seq, body, author, signature), q->get_str(6)))
          throw batch_store_tampered::in_pending_row(
              seq, name + ": its MAC does not verify (the row was edited, inserted or renumbered, or written without this writer's key)");
        if (!(tx_hash.empty() && raw.empty() && q->get_str(7).empty()) &&
            !mac_matches(sent_mac(seq, tx_hash, raw), q->get_str(7)))
          throw batch_store_tampered::in_pending_row(
              seq, name + ": the MAC over its batch transaction does not verify (edited, or moved from another row)");
        try {
          stored_pending p{seq, entry_of_row(body, author, signature), {}, {}};
          if (!tx_hash.empty()) {
            p.tx_hash = fixed<32>(tx_hash, "tx_hash");
            p.raw = from_hex(raw);
          }
          out.push_back(std::move(p));
        } catch (const hefl::error& e) {
          throw batch_store_tampered::in_pending_row(seq, name + " is unreadable: " + e.what());
        }
      }
    });
    return out;
  }

private:
  // Inserts pending row @p seq holding @p tx, with its MAC (caller holds m_mutex).
  void insert_pending(std::uint64_t seq, const transaction& tx) {
    const std::string body = tx.canonical(), signature = Botan::hex_encode(tx.author_signature(), false);
    const auto ins = m_db->new_statement(
        "INSERT INTO eth_batch_pending (seq, body, author, signature, mac) VALUES (?1, ?2, ?3, ?4, ?5)");
    ins->bind(1, static_cast<std::size_t>(seq));
    ins->bind(2, body);
    ins->bind(3, tx.author());
    ins->bind(4, signature);
    ins->bind(5, Botan::hex_encode(entry_mac(seq, body, tx.author(), signature), false));
    ins->spin();
  }
  // HMAC-SHA-256 (RFC 2104) over a domain tag, the file's contract and writer, the row's sequence
  // number and the length-prefixed fields: a row cannot be moved to another number, file or purpose.
  [[nodiscard]] std::vector<std::uint8_t> row_mac(std::string_view tag, std::uint64_t seq,
                                                  std::initializer_list<std::string_view> fields) const {
    const auto mac = Botan::MessageAuthenticationCode::create_or_throw("HMAC(SHA-256)");
    mac->set_key(m_row_key);
    const auto put = [&](std::string_view f) {
      const std::uint64_t n = f.size();
      for (int i = 7; i >= 0; --i) mac->update(static_cast<std::uint8_t>(n >> (8 * i)));
      mac->update(reinterpret_cast<const std::uint8_t*>(f.data()), f.size());
    };
    put(tag);
    mac->update(m_contract.data(), m_contract.size());
    mac->update(m_writer.data(), m_writer.size());
    for (int i = 7; i >= 0; --i) mac->update(static_cast<std::uint8_t>(seq >> (8 * i)));
    for (const auto f : fields) put(f);
    const auto out = mac->final();
    return {out.begin(), out.end()};
  }
  [[nodiscard]] std::vector<std::uint8_t> entry_mac(std::uint64_t seq, std::string_view body, std::string_view author,
                                                    std::string_view signature) const {
    return row_mac("hefl eth_batch_pending entry v1", seq, {body, author, signature});
  }
  [[nodiscard]] std::vector<std::uint8_t> sent_mac(std::uint64_t seq, std::string_view tx_hash, std::string_view raw) const {
    return row_mac("hefl eth_batch_pending sent v1", seq, {tx_hash, raw});
  }
  static bool mac_matches(const std::vector<std::uint8_t>& expected, const std::string& stored_hex) {
    std::vector<std::uint8_t> stored;
    try {
      stored = Botan::hex_decode(stored_hex, false);
    } catch (const Botan::Exception&) {
      return false;
    }
    return stored.size() == expected.size() && Botan::constant_time_compare(stored.data(), expected.data(), stored.size());
  }

  template <class F>
  static auto guarded(std::string_view what, F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const Botan::Exception& e) {
      throw io_error("audit_batch_store: " + std::string(what) + " failed: " + e.what());
    }
  }
  // Any failure reading a row of batch @p batch names the batch.
  template <class F>
  static void row(std::uint64_t batch, F&& f) {
    try {
      f();
    } catch (const batch_store_tampered&) {
      throw;
    } catch (const Botan::Exception& e) {
      throw batch_store_tampered(batch, "audit_batch_store: a row of batch " + std::to_string(batch) + " is unreadable: " + e.what());
    } catch (const hefl::error& e) {
      throw batch_store_tampered(batch, "audit_batch_store: a row of batch " + std::to_string(batch) + " is unreadable: " + e.what());
    }
  }
  template <class F>
  void in_transaction(const std::string& what, F&& f) {
    guarded(what, [&] {
      exec(*m_db, "BEGIN IMMEDIATE");
      try {
        f();
        exec(*m_db, "COMMIT");
      } catch (...) {
        try {
          exec(*m_db, "ROLLBACK");
        } catch (const Botan::Exception&) {
        }
        throw;
      }
    });
  }
  static void exec(Botan::Sqlite3_Database& db, const std::string& sql) { db.new_statement(sql)->spin(); }
  static std::size_t count(const Botan::Sqlite3_Database& db, const std::string& sql) {
    const auto q = db.new_statement(sql);
    if (!q->step()) throw io_error("audit_batch_store: query returned no row: " + sql);
    return q->get_size_t(0);
  }
  static std::uint64_t parse_u64(const std::string& text, std::string_view what) {
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size())
      throw parse_error(std::string(what) + " '" + text.substr(0, 32) + "' is not a non-negative integer");
    return v;
  }
  template <std::size_t N>
  static std::array<std::uint8_t, N> fixed(const std::string& text, std::string_view what) {
    const bytes b = from_hex(text);
    if (b.size() != N) throw parse_error(std::string(what) + " has " + std::to_string(b.size()) + " bytes, expected " + std::to_string(N));
    std::array<std::uint8_t, N> out{};
    std::copy(b.begin(), b.end(), out.begin());
    return out;
  }
  static transaction entry_of_row(const std::string& body, std::string author, const std::string& signature) {
    auto tx = transaction::parse(body);
    if (author.empty()) return tx;
    std::vector<std::uint8_t> sig;
    try {
      sig = Botan::hex_decode(signature, false);
    } catch (const Botan::Exception&) {
      throw parse_error("author signature is not hex");
    }
    return tx.with_author(std::move(author), std::move(sig));
  }

  std::string m_path;
  address m_contract{};
  address m_writer{};
  Botan::secure_vector<std::uint8_t> m_row_key;
  mutable std::mutex m_mutex;
  std::unique_ptr<Botan::Sqlite3_Database> m_db;
  std::unique_ptr<Botan::Sqlite3_Database> m_committed;
  std::uint64_t m_next_seq = 1;
};

} // namespace hefl::iot::ethereum
