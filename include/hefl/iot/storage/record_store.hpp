#pragma once
/// @file
/// The hospital's record store (seed 003, application layer): signed records in a real SQLite
/// database through Botan::Sqlite3_Database, verified on insert and on read, one SQLite transaction
/// per insert, a ledger entry (transaction::record_stored) per stored record, and an integrity scan
/// that re-hashes and re-verifies every row.
///
/// Botan 2.19's SQLite wrapper swallows statement errors (step() only says "no row"), reads integers
/// as 32-bit and refuses to bind integers above 2^31 (FIELD_NOTES): every write is therefore checked
/// with `SELECT changes()` and by reading back what landed, and 64-bit values (ids, times) cross the
/// wrapper as text.

#include <hefl/core/error.hpp>
#include <hefl/iot/ledger/ledger.hpp>
#include <hefl/iot/storage/record.hpp>

#include <botan/hex.h>
#include <botan/sqlite3.h>

#include <atomic>
#include <charconv>
#include <compare>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hefl::iot {

/// Thrown by record_store::insert() for a record that does not verify; check() says why.
class record_refused : public security_error {
public:
  /// Wraps a failed check.
  explicit record_refused(record_check check)
      : security_error("record refused (" + std::string(to_string(check.fault)) + "): " + check.message),
        m_check(std::move(check)) {}
  /// Why the record was refused.
  [[nodiscard]] const record_check& check() const noexcept { return m_check; }
  /// The fault alone.
  [[nodiscard]] record_fault fault() const noexcept { return m_check.fault; }

private:
  record_check m_check;
};

/// A stored row failed verification on read; ids() names the rows.
class record_integrity_error : public parse_error {
public:
  /// @p ids are the failing rows, @p detail the first failure.
  record_integrity_error(std::vector<std::uint64_t> ids, const std::string& detail)
      : parse_error("record store integrity: " + std::to_string(ids.size()) + " stored row(s) fail verification; " +
                    detail),
        m_ids(std::move(ids)) {}
  /// Ids of the rows that failed.
  [[nodiscard]] const std::vector<std::uint64_t>& ids() const noexcept { return m_ids; }

private:
  std::vector<std::uint64_t> m_ids;
};

/// One row that failed the integrity scan.
struct integrity_finding {
  std::uint64_t id = 0;                          ///< the row id
  record_fault fault = record_fault::malformed;  ///< why (malformed for an unreadable row)
  std::string message;                           ///< details
};

/// How a row and the ledger's record_stored entries disagree.
enum class ledger_reconcile_fault : std::uint8_t {
  not_logged,           ///< a row with no record_stored entry (stored behind the ledger's back, or its entry lost)
  differs_from_ledger,  ///< the entry for this id names another hash or patient (rows renumbered or swapped)
  missing_row,          ///< an entry names an id that has no row (deleted, even if the ids were renumbered)
};

/// The spelling of @p f in messages, e.g. "missing_row".
/// @throws nothing
[[nodiscard]] inline std::string_view to_string(ledger_reconcile_fault f) noexcept {
  switch (f) {
    case ledger_reconcile_fault::not_logged: return "not_logged";
    case ledger_reconcile_fault::differs_from_ledger: return "differs_from_ledger";
    case ledger_reconcile_fault::missing_row: return "missing_row";
  }
  return "unknown";
}

/// One disagreement between the rows and the ledger.
struct reconcile_finding {
  std::uint64_t id = 0;                                                ///< the row id (or the id the entry names)
  ledger_reconcile_fault fault = ledger_reconcile_fault::not_logged;   ///< what disagrees
  std::string message;                                                 ///< details
};

/// What record_store::integrity_scan() found.
struct integrity_report {
  /// Most missing ids listed; missing_count counts them all.
  static constexpr std::size_t max_missing_listed = 1000;

  std::uint64_t rows_checked = 0;              ///< rows read
  std::vector<integrity_finding> findings;     ///< rows that fail, in id order
  std::vector<std::uint64_t> missing_ids;      ///< ids handed out but no longer present (deleted rows), at most max_missing_listed
  std::uint64_t missing_count = 0;             ///< number of such ids
  /// Whether the rows were reconciled against the ledger's record_stored entries (stores built with
  /// a hefl::iot::ledger); empty ledger_findings mean nothing differs.
  bool reconciled = false;
  std::vector<reconcile_finding> ledger_findings;  ///< rows and entries that disagree, rows first in id order

  /// Ids of the rows that fail verification, in id order.
  [[nodiscard]] std::vector<std::uint64_t> tampered_ids() const {
    std::vector<std::uint64_t> out;
    out.reserve(findings.size());
    for (const auto& f : findings) out.push_back(f.id);
    return out;
  }
  /// True when every row verifies, none is missing, and rows and ledger entries agree.
  [[nodiscard]] bool ok() const noexcept { return findings.empty() && missing_count == 0 && ledger_findings.empty(); }
};

/// Tunables of a record store.
struct record_store_options {
  /// How long a write waits for another connection's lock before failing with hefl::io_error.
  std::chrono::milliseconds busy_timeout{5000};
};

/// Signed records in SQLite (table hefl_records). Thread-safe: one connection, serialised by a mutex.
///
/// Inserts verify the record against the identity_directory (format, hash, patient signature,
/// collector signature; refusing duplicates) and run as BEGIN IMMEDIATE ... COMMIT: the ledger entry
/// is submitted inside the transaction, so a record that cannot be logged is rolled back, and a
/// COMMIT that did not reach the file is reported, never acknowledged. With a hefl::iot::ledger, the
/// signed entry is also written to table hefl_ledger_journal in that same SQLite transaction, so a
/// crash after COMMIT cannot leave a row whose entry was only in the ledger's memory:
/// resubmit_journal() hands such entries to the ledger again after a restart, and prune_journal()
/// drops those sealed in blocks that are saved. Reads verify every row they return. Ids are assigned
/// by SQLite AUTOINCREMENT, never reused, so deleted rows show as gaps; integrity_scan() also
/// reconciles the rows against the ledger's record_stored entries, so deleting a row and renumbering
/// the rest is caught too.
/// @tparam PatientPolicy the patient cards' signing policy (Ed25519 by default)
/// @tparam CollectorPolicy the collectors' certificate key policy (ECDSA P-256 by default)
template <signing_policy PatientPolicy = ed25519_signing, signing_policy CollectorPolicy = ecdsa_p256_signing>
class record_store {
public:
  /// The outcome of try_insert(): the id, or why the record was refused.
  struct insert_result {
    record_check check;    ///< ok, or the fault
    std::uint64_t id = 0;  ///< the new row id when ok; for a duplicate, the id of the stored copy
    /// True when the record was stored.
    [[nodiscard]] bool ok() const noexcept { return check.ok(); }
    /// Same as ok().
    explicit operator bool() const noexcept { return ok(); }
  };

  /// Opens (creating if needed) the store at @p path (a file, or ":memory:") without a ledger.
  /// @p keys must outlive the store.
  /// @throws hefl::io_error if the file cannot be opened, is not a SQLite database, or the table cannot be made
  record_store(const std::string& path, const identity_directory& keys, record_store_options options = {})
      : m_path(path), m_keys(&keys), m_options(options) {
    open();
  }

  /// As above, logging a transaction::record_stored on @p ledger for every insert; @p ledger must
  /// outlive the store.
  /// @throws hefl::io_error as above
  template <ledger_policy Ledger>
  record_store(const std::string& path, const identity_directory& keys, Ledger& ledger,
               record_store_options options = {})
      : m_path(path), m_keys(&keys), m_options(options),
        m_log([&ledger](transaction tx) { return static_cast<sha256_digest>(ledger.submit(std::move(tx))); }) {
    // A ledger that can sign entries and be queried gets the journal and the reconciliation; any
    // other ledger_policy only logs.
    if constexpr (requires(Ledger& l, const transaction& tx, const sha256_digest& id) {
                    { l.sign_entry(tx) } -> std::convertible_to<transaction>;
                    { l.height_of(id) } -> std::convertible_to<std::optional<std::uint64_t>>;
                    { l.find(tx_kind::record_stored) } -> std::convertible_to<std::vector<tx_location>>;
                    { l.pending() } -> std::convertible_to<std::vector<transaction>>;
                    { l.self_id() } -> std::convertible_to<std::optional<std::string>>;
                  }) {
      m_sign = [&ledger](const transaction& tx) { return ledger.self_id() ? ledger.sign_entry(tx) : tx; };
      m_sealed_at = [&ledger](const sha256_digest& id) { return ledger.height_of(id); };
      // On a ledger shared by several storage nodes (replicas of one chain), only the entries this
      // node authored describe this store: other nodes' record ids are their own.
      m_entries = [&ledger] {
        const auto self = ledger.self_id();
        const auto mine = [&self](const transaction& tx) { return !self || tx.author() == *self || !tx.is_signed(); };
        std::vector<transaction> out;
        for (auto& loc : ledger.find([&mine](const transaction& tx) {
               return (tx.kind() == tx_kind::record_stored ||
                       (tx.kind() == tx_kind::custom && tx.field_string("type") == "record_store_rollback")) &&
                      mine(tx);
             }))
          out.push_back(std::move(loc.tx));
        for (auto& tx : ledger.pending())
          if (mine(tx)) out.push_back(std::move(tx));
        return out;
      };
    }
    open();
  }

  record_store(const record_store&) = delete;
  record_store& operator=(const record_store&) = delete;

  /// Whether inserts are logged on a ledger.
  [[nodiscard]] bool logs_to_ledger() const noexcept { return static_cast<bool>(m_log); }
  /// The directory inserts, reads and scans verify against.
  [[nodiscard]] const identity_directory& directory() const noexcept { return *m_keys; }
  /// The database path given at construction.
  [[nodiscard]] const std::string& path() const noexcept { return m_path; }

  /// Verifies and stores @p r. A refused record changes nothing (no row, no ledger entry).
  /// @returns the new id, or the refusal (format, hash, signatures, unknown keys, duplicate)
  /// @throws hefl::io_error if the database refuses the write or the COMMIT (nothing is kept);
  ///         whatever the ledger's submit() throws, e.g. hefl::security_error when its backlog is full
  ///         (the insert is rolled back: an event that cannot be logged is not acted on)
  [[nodiscard]] insert_result try_insert(const record& r) {
    insert_result out;
    out.check = verify_record<PatientPolicy, CollectorPolicy>(r, *m_keys);
    if (!out.check) return out;
    const std::lock_guard lock(m_mutex);
    guarded("insert", [&] {
      exec("BEGIN IMMEDIATE");
      try {
        insert_row_locked(r, out);
      } catch (...) {
        exec("ROLLBACK");
        throw;
      }
      commit_locked(std::span<const record>(&r, 1), std::span<insert_result>(&out, 1));
    });
    return out;
  }

  /// Verifies and stores every record of @p batch in one SQLite transaction, so that one COMMIT (one
  /// fsync with synchronous = FULL) makes the whole batch durable (group commit). Each record is
  /// judged on its own: a refused one (format, signatures, duplicate, also a duplicate of an earlier
  /// record of the same batch) gets its fault and changes nothing, the others are stored, each with
  /// its ledger entry journaled in the same transaction.
  /// @returns one insert_result per record, in order
  /// @throws hefl::io_error if the database refuses a write or the COMMIT; whatever the ledger's
  ///         submit() throws. Then nothing of the batch is kept (the transaction is rolled back).
  [[nodiscard]] std::vector<insert_result> try_insert_batch(std::span<const record> batch) {
    std::vector<insert_result> out(batch.size());
    bool any = false;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      out[i].check = verify_record<PatientPolicy, CollectorPolicy>(batch[i], *m_keys);
      any = any || out[i].check.ok();
    }
    if (!any) return out;
    const std::lock_guard lock(m_mutex);
    guarded("batch insert", [&] {
      exec("BEGIN IMMEDIATE");
      try {
        for (std::size_t i = 0; i < batch.size(); ++i)
          if (out[i].check) insert_row_locked(batch[i], out[i]);
      } catch (...) {
        exec("ROLLBACK");
        throw;
      }
      commit_locked(batch, out);
    });
    return out;
  }

  /// Number of COMMITs that stored at least one record (each one fsync of the database file with
  /// synchronous = FULL): equal to the records stored by try_insert(), fewer with try_insert_batch().
  [[nodiscard]] std::uint64_t commit_count() const noexcept { return m_commits.load(); }

  /// Verifies and stores @p r.
  /// @returns the new row id
  /// @throws hefl::iot::record_refused (a hefl::security_error) naming the fault of a refused record;
  ///         otherwise as try_insert()
  std::uint64_t insert(const record& r) {
    auto result = try_insert(r);
    if (!result) throw record_refused(std::move(result.check));
    return result.id;
  }

  /// The verified record with id @p id, or nullopt if there is none.
  /// @throws hefl::iot::record_integrity_error if the row fails verification; hefl::io_error if the
  ///         database cannot be read
  [[nodiscard]] std::optional<record> get(std::uint64_t id) const {
    const std::lock_guard lock(m_mutex);
    return guarded("read record", [&]() -> std::optional<record> {
      const auto q = m_db->new_statement(std::string(select_columns) + " WHERE id = CAST(?1 AS INTEGER)");
      q->bind(1, std::to_string(id));
      if (!q->step()) return std::nullopt;
      auto row = read_row(*q);
      if (!row.check) throw record_integrity_error({row.id}, "row " + std::to_string(row.id) + ": " + row.check.message);
      return std::move(row.value);
    });
  }

  /// The verified records of @p patient_id with from <= timestamp <= to (each bound optional), in
  /// timestamp order, then id order.
  /// @throws hefl::iot::record_integrity_error naming every row of the result that fails verification
  ///         (nothing is returned then); hefl::io_error if the database cannot be read
  [[nodiscard]] std::vector<record> records_of(std::string_view patient_id, std::optional<record_time> from = {},
                                               std::optional<record_time> to = {}) const {
    return records_of(patient_id, from, to, std::nullopt, 0);
  }

  /// One page of records_of(): the records that come after @p after in (timestamp, id) order (all of
  /// them when empty), at most @p limit of them (0 = no limit). Pass the last record's
  /// record_cursor::of() as @p after to read the next page; records stored meanwhile with a later
  /// (timestamp, id) appear on later pages, earlier ones do not.
  /// @throws as records_of() above
  [[nodiscard]] std::vector<record> records_of(std::string_view patient_id, std::optional<record_time> from,
                                               std::optional<record_time> to, std::optional<record_cursor> after,
                                               std::size_t limit) const {
    const std::lock_guard lock(m_mutex);
    return guarded("read records", [&] {
      std::string sql = std::string(select_columns) + " WHERE patient = ?1";
      if (from) sql += " AND time_ms >= CAST(?2 AS INTEGER)";
      if (to) sql += " AND time_ms <= CAST(?3 AS INTEGER)";
      if (after)
        sql += " AND (time_ms > CAST(?4 AS INTEGER) OR (time_ms = CAST(?4 AS INTEGER) AND id > CAST(?5 AS INTEGER)))";
      sql += " ORDER BY time_ms, id";
      if (limit > 0) sql += " LIMIT " + std::to_string(limit);
      const auto q = m_db->new_statement(sql);
      q->bind(1, std::string(patient_id));
      if (from) q->bind(2, std::to_string(from->time_since_epoch().count()));
      if (to) q->bind(3, std::to_string(to->time_since_epoch().count()));
      if (after) {
        q->bind(4, std::to_string(after->timestamp.time_since_epoch().count()));
        q->bind(5, std::to_string(after->id));
      }
      std::vector<record> out;
      std::vector<std::uint64_t> bad;
      std::string first_problem;
      while (q->step()) {
        auto row = read_row(*q);
        if (!row.check) {
          if (bad.empty()) first_problem = "row " + std::to_string(row.id) + ": " + row.check.message;
          bad.push_back(row.id);
        } else {
          out.push_back(std::move(row.value));
        }
      }
      if (!bad.empty()) throw record_integrity_error(std::move(bad), first_problem);
      return out;
    });
  }

  /// The verified stored record whose device request (an attested record's payload) was signed by
  /// @p device with nonce @p nonce, looking only at that device's rows with from <= timestamp <= to
  /// (each bound optional; the storage guard passes its replay window), or nullopt if there is none.
  /// Used to answer a device's retry idempotently (storage_guard). Bare records carry no nonce and
  /// are never found.
  /// @throws hefl::iot::record_integrity_error if the matching row fails verification; hefl::io_error
  ///         if the database cannot be read
  [[nodiscard]] std::optional<record> find_by_device_nonce(const sgtin96& device, std::span<const std::uint8_t> nonce,
                                                           std::optional<record_time> from = {},
                                                           std::optional<record_time> to = {}) const {
    const std::lock_guard lock(m_mutex);
    return guarded("find by device nonce", [&]() -> std::optional<record> {
      if (!m_device_index) {  // made on first use; if it cannot be made (read-only file) the query scans
        exec("CREATE INDEX IF NOT EXISTS hefl_records_by_device ON hefl_records (device, time_ms)");
        m_device_index = true;
      }
      std::string sql = "SELECT CAST(id AS TEXT), payload FROM hefl_records WHERE device = ?1";
      if (from) sql += " AND time_ms >= CAST(?2 AS INTEGER)";
      if (to) sql += " AND time_ms <= CAST(?3 AS INTEGER)";
      sql += " ORDER BY id";
      const auto q = m_db->new_statement(sql);
      q->bind(1, device.to_hex());
      if (from) q->bind(2, std::to_string(from->time_since_epoch().count()));
      if (to) q->bind(3, std::to_string(to->time_since_epoch().count()));
      std::optional<std::uint64_t> match;
      while (!match && q->step()) {
        const auto id = parse_u64(text_column(*q, 0), "id");
        const auto payload = hex_column(text_column(*q, 1));
        if (!id || !payload) continue;  // an unreadable row is integrity_scan()'s to report
        record probe;
        probe.payload_bytes = *payload;
        if (!probe.attested()) continue;
        try {
          const auto req = probe.device_request();
          if (req.device == device && std::equal(req.nonce.begin(), req.nonce.end(), nonce.begin(), nonce.end()))
            match = *id;
        } catch (const hefl::error&) {
        }
      }
      if (!match) return std::nullopt;
      const auto r = m_db->new_statement(std::string(select_columns) + " WHERE id = CAST(?1 AS INTEGER)");
      r->bind(1, std::to_string(*match));
      if (!r->step()) return std::nullopt;
      auto row = read_row(*r);
      if (!row.check) throw record_integrity_error({row.id}, "row " + std::to_string(row.id) + ": " + row.check.message);
      return std::move(row.value);
    });
  }

  /// Number of stored rows.
  /// @throws hefl::io_error if the database cannot be read
  [[nodiscard]] std::uint64_t size() const {
    const std::lock_guard lock(m_mutex);
    return guarded("count records", [&] { return scalar_u64("SELECT CAST(count(*) AS TEXT) FROM hefl_records"); });
  }

  /// Re-reads, re-hashes and re-verifies every row against the identity directory, and lists ids that
  /// were handed out but are gone (AUTOINCREMENT never reuses ids, and a rolled-back insert does not
  /// consume one). Never stops at a bad row.
  /// @throws hefl::io_error if the database cannot be read
  [[nodiscard]] integrity_report integrity_scan() const {
    const std::lock_guard lock(m_mutex);
    return guarded("integrity scan", [&] {
      integrity_report report;
      // id -> (hash hex, patient) of each record_stored entry, minus rolled-back inserts.
      std::map<std::uint64_t, std::pair<std::string, std::string>> logged;
      if (m_entries) {
        report.reconciled = true;
        std::set<std::uint64_t> rolled_back;
        for (const auto& tx : m_entries()) {
          const auto id = parse_u64(std::string(tx.field_string("record")), "record");
          if (!id) continue;
          if (tx.kind() == tx_kind::custom) rolled_back.insert(*id);
          else logged[*id] = {std::string(tx.field_string("hash")), std::string(tx.field_string("patient"))};
        }
        for (const auto id : rolled_back) logged.erase(id);
      }
      const auto q = m_db->new_statement(std::string(select_columns) + " ORDER BY id");
      std::uint64_t expected = 1;
      while (q->step()) {
        auto row = read_row(*q);
        ++report.rows_checked;
        if (row.id != 0) note_missing(report, expected, row.id);
        if (report.reconciled && row.id != 0) {
          const auto it = logged.find(row.id);
          const auto row_hash = record_detail::to_hex(row.value.hash);
          if (it == logged.end())
            report.ledger_findings.push_back({row.id, ledger_reconcile_fault::not_logged,
                                              "row " + std::to_string(row.id) + " has no record_stored entry on the ledger"});
          else if (it->second.first != row_hash || it->second.second != row.value.patient_id)
            report.ledger_findings.push_back(
                {row.id, ledger_reconcile_fault::differs_from_ledger,
                 "row " + std::to_string(row.id) + " holds hash " + row_hash.substr(0, 16) +
                     "..., the ledger logged " + it->second.first.substr(0, 16) + "... for this id"});
          if (it != logged.end()) logged.erase(it);
        }
        if (!row.check) report.findings.push_back({row.id, row.check.fault, std::move(row.check.message)});
      }
      for (const auto& [id, entry] : logged)
        report.ledger_findings.push_back({id, ledger_reconcile_fault::missing_row,
                                          "the ledger logged record " + std::to_string(id) + " (hash " +
                                              entry.first.substr(0, 16) + "...), which has no row"});
      const auto seq = m_db->new_statement("SELECT CAST(seq AS TEXT) FROM sqlite_sequence WHERE name = 'hefl_records'");
      if (seq->step()) {
        const auto last = parse_u64(text_column(*seq, 0), "sqlite_sequence");
        if (last) note_missing(report, expected, *last + 1);
      }
      return report;
    });
  }

  /// Whether inserts are journaled with their signed ledger entry (stores built with a hefl::iot::ledger).
  [[nodiscard]] bool journals_ledger_entries() const noexcept { return static_cast<bool>(m_sign); }

  /// Number of entries in the pending-entry journal.
  /// @throws hefl::io_error if the database cannot be read
  [[nodiscard]] std::uint64_t journal_size() const {
    const std::lock_guard lock(m_mutex);
    return guarded("count journal", [&] { return scalar_u64("SELECT CAST(count(*) AS TEXT) FROM hefl_ledger_journal"); });
  }

  /// After a restart (the ledger reloaded from its store), submits again every journaled entry the
  /// ledger has not sealed, with its original author signature: a crash between the row's COMMIT
  /// and the ledger's save loses no entry.
  /// @returns the number of entries submitted
  /// @throws hefl::parse_error if a journal row is unreadable; whatever the ledger's submit() throws
  ///         (e.g. ledger_entry_refused for an entry whose signature was edited); hefl::io_error if
  ///         the database cannot be read; hefl::invalid_argument if the store has no journal
  std::size_t resubmit_journal() {
    if (!m_sign) throw invalid_argument("record_store::resubmit_journal: the store was not built with a ledger");
    std::vector<transaction> entries;
    {
      const std::lock_guard lock(m_mutex);
      guarded("read journal", [&] {
        const auto q = m_db->new_statement("SELECT body, author, signature FROM hefl_ledger_journal ORDER BY rowid");
        while (q->step()) {
          const auto body = text_column(*q, 0);
          const auto author = text_column(*q, 1);
          const auto sig = hex_column(text_column(*q, 2));
          if (!body || !author || !sig) throw parse_error("record_store: a ledger journal row is unreadable");
          auto tx = transaction::parse(*body);
          entries.push_back(author->empty() ? std::move(tx) : tx.with_author(*author, *sig));
        }
      });
    }
    std::size_t submitted = 0;
    for (auto& tx : entries)
      if (!m_sealed_at(tx.id())) {
        m_log(std::move(tx));
        ++submitted;
      }
    return submitted;
  }

  /// Drops journal entries sealed at or below @p durable_height, i.e. in blocks already saved
  /// (ledger_store::block_count() - 1): those survive a crash in the ledger's own store.
  /// @returns the number of entries dropped
  /// @throws hefl::io_error if the database cannot be written; hefl::invalid_argument if the store has no journal
  std::size_t prune_journal(std::uint64_t durable_height) {
    if (!m_sign) throw invalid_argument("record_store::prune_journal: the store was not built with a ledger");
    const std::lock_guard lock(m_mutex);
    return guarded("prune journal", [&] {
      std::vector<std::string> drop;
      const auto q = m_db->new_statement("SELECT id FROM hefl_ledger_journal");
      while (q->step()) {
        const auto id = hex_column(text_column(*q, 0));
        if (!id || id->size() != 32) continue;
        sha256_digest d;
        std::copy(id->begin(), id->end(), d.begin());
        if (const auto h = m_sealed_at(d); h && *h <= durable_height) drop.push_back(record_detail::to_hex(*id));
      }
      for (const auto& id : drop) {
        const auto del = m_db->new_statement("DELETE FROM hefl_ledger_journal WHERE id = ?1");
        del->bind(1, id);
        del->spin();
      }
      return drop.size();
    });
  }

private:
  static constexpr std::string_view select_columns =
      "SELECT CAST(id AS TEXT), patient, device, data_type, payload, CAST(time_ms AS TEXT), hash, "
      "patient_signature, collector, collector_signature FROM hefl_records";

  struct row_result {
    std::uint64_t id = 0;
    record value;
    record_check check;
  };

  template <class F>
  static auto guarded(std::string_view what, F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const Botan::Exception& e) {
      throw io_error("record_store: " + std::string(what) + " failed: " + e.what());
    }
  }

  void open() {
    try {
      m_db = std::make_unique<Botan::Sqlite3_Database>(m_path);
      exec("PRAGMA busy_timeout = " + std::to_string(m_options.busy_timeout.count()));
      exec("PRAGMA synchronous = FULL");
      exec("CREATE TABLE IF NOT EXISTS hefl_records (id INTEGER PRIMARY KEY AUTOINCREMENT, "
           "patient TEXT NOT NULL, device TEXT NOT NULL, data_type TEXT NOT NULL, payload TEXT NOT NULL, "
           "time_ms INTEGER NOT NULL, hash TEXT NOT NULL UNIQUE, patient_signature TEXT NOT NULL, "
           "collector TEXT NOT NULL, collector_signature TEXT NOT NULL)");
      exec("CREATE INDEX IF NOT EXISTS hefl_records_by_patient ON hefl_records (patient, time_ms)");
      exec("CREATE TABLE IF NOT EXISTS hefl_ledger_journal (id TEXT PRIMARY KEY, body TEXT NOT NULL, "
           "author TEXT NOT NULL, signature TEXT NOT NULL)");
      if (scalar_u64("SELECT CAST(count(*) AS TEXT) FROM sqlite_master WHERE type = 'table' AND "
                     "name = 'hefl_records'") != 1)
        throw io_error("record_store: could not create table hefl_records in " + m_path);
      if (m_path != ":memory:" && !m_path.empty()) m_probe = std::make_unique<Botan::Sqlite3_Database>(m_path);
    } catch (const Botan::Exception& e) {
      throw io_error("record_store: cannot open " + m_path + ": " + e.what());
    }
  }

  void exec(const std::string& sql) const { m_db->new_statement(sql)->spin(); }

  // Reads a TEXT column; NULL or another type (a hand-edited row) gives nullopt.
  static std::optional<std::string> text_column(Botan::SQL_Database::Statement& q, int column) {
    try {
      return q.get_str(column);
    } catch (const Botan::Exception&) {
      return std::nullopt;
    }
  }

  static std::optional<std::uint64_t> parse_u64(const std::optional<std::string>& text, std::string_view) {
    if (!text || text->empty()) return std::nullopt;
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
    if (ec != std::errc() || end != text->data() + text->size()) return std::nullopt;
    return v;
  }

  static std::optional<std::int64_t> parse_i64(const std::optional<std::string>& text) {
    if (!text || text->empty()) return std::nullopt;
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
    if (ec != std::errc() || end != text->data() + text->size()) return std::nullopt;
    return v;
  }

  // Strict lower-case hex, so that each value has one stored form.
  static std::optional<std::vector<std::uint8_t>> hex_column(const std::optional<std::string>& text) {
    if (!text) return std::nullopt;
    try {
      auto bytes = Botan::hex_decode(*text, false);
      if (record_detail::to_hex(bytes) != *text) return std::nullopt;
      return bytes;
    } catch (const Botan::Exception&) {
      return std::nullopt;
    }
  }

  std::uint64_t scalar_u64(const std::string& sql) const {
    const auto q = m_db->new_statement(sql);
    if (!q->step()) throw io_error("record_store: query returned no row: " + sql);
    const auto v = parse_u64(text_column(*q, 0), sql);
    if (!v) throw io_error("record_store: query did not return a count: " + sql);
    return *v;
  }

  // Parses one row of select_columns and verifies it; any unreadable column is a malformed row.
  row_result read_row(Botan::SQL_Database::Statement& q) const {
    row_result out;
    const auto fail = [&](std::string what) {
      out.check = {record_fault::malformed, "stored " + what + " is unreadable"};
      return std::move(out);
    };
    const auto id = parse_u64(text_column(q, 0), "id");
    if (!id) return fail("id");
    out.id = *id;
    record& r = out.value;
    r.id = *id;
    const auto patient = text_column(q, 1);
    const auto device = text_column(q, 2);
    const auto data_type = text_column(q, 3);
    const auto payload = hex_column(text_column(q, 4));
    const auto time_ms = parse_i64(text_column(q, 5));
    const auto hash = hex_column(text_column(q, 6));
    const auto patient_sig = hex_column(text_column(q, 7));
    const auto collector = text_column(q, 8);
    const auto collector_sig = hex_column(text_column(q, 9));
    if (!patient) return fail("patient");
    if (!device) return fail("device");
    try {
      r.device = sgtin96::from_hex(*device);
    } catch (const hefl::error&) {
      return fail("device EPC");
    }
    if (!data_type) return fail("data type");
    if (!payload) return fail("payload");
    if (!time_ms) return fail("timestamp");
    if (!hash || hash->size() != r.hash.size()) return fail("hash");
    if (!patient_sig) return fail("patient signature");
    if (!collector) return fail("collector");
    if (!collector_sig) return fail("collector signature");
    r.patient_id = *patient;
    r.data_type = *data_type;
    r.payload_bytes = *payload;
    r.timestamp = record_time(std::chrono::milliseconds(*time_ms));
    std::copy(hash->begin(), hash->end(), r.hash.begin());
    r.patient_signature = *patient_sig;
    r.collector_id = *collector;
    r.collector_signature = *collector_sig;
    out.check = verify_record<PatientPolicy, CollectorPolicy>(r, *m_keys);
    return out;
  }

  static void note_missing(integrity_report& report, std::uint64_t& expected, std::uint64_t next_present) {
    for (; expected < next_present; ++expected) {
      ++report.missing_count;
      if (report.missing_ids.size() < integrity_report::max_missing_listed) report.missing_ids.push_back(expected);
      // A hand-edited sequence could claim billions of ids: count the rest without walking them.
      if (report.missing_ids.size() == integrity_report::max_missing_listed && next_present - expected > 1) {
        report.missing_count += next_present - expected - 1;
        expected = next_present;
        break;
      }
    }
    if (expected == next_present) ++expected;
  }

  // Whether a row with @p id is visible to a second connection, i.e. committed. The probe never
  // waits for locks: if it is locked out, a writer holds the database, which means our transaction
  // is active. Private databases (":memory:", "") have no second connection and no rival writer.
  bool committed_elsewhere(std::uint64_t id) const {
    if (!m_probe) return false;
    const auto q = m_probe->new_statement("SELECT count(*) FROM hefl_records WHERE id = CAST(?1 AS INTEGER)");
    q->bind(1, std::to_string(id));
    return q->step() && q->get_size_t(0) == 1;
  }

  bool row_exists(std::uint64_t id) const {
    const auto q = m_db->new_statement("SELECT count(*) FROM hefl_records WHERE id = CAST(?1 AS INTEGER)");
    q->bind(1, std::to_string(id));
    return q->step() && q->get_size_t(0) == 1;
  }

  // Inside an open transaction: refuses a duplicate (out.check), or inserts @p r and its journaled
  // ledger entry and sets out.id. Throws on a write that did not land (the caller rolls back).
  void insert_row_locked(const record& r, insert_result& out) {
    const auto hash_hex = record_detail::to_hex(r.hash);
    {
      const auto dup = m_db->new_statement("SELECT CAST(id AS TEXT) FROM hefl_records WHERE hash = ?1");
      dup->bind(1, hash_hex);
      if (dup->step()) {
        out.id = parse_u64(text_column(*dup, 0), "id").value_or(0);
        out.check = {record_fault::duplicate, "a record with hash " + hash_hex.substr(0, 16) +
                                                  "... is already stored as id " + std::to_string(out.id)};
        return;
      }
    }
    std::uint64_t id = 0;
    const auto changes_before = scalar_u64("SELECT CAST(total_changes() AS TEXT)");
    {
      const auto ins = m_db->new_statement(
          "INSERT INTO hefl_records (patient, device, data_type, payload, time_ms, hash, patient_signature, "
          "collector, collector_signature) VALUES (?1, ?2, ?3, ?4, CAST(?5 AS INTEGER), ?6, ?7, ?8, ?9)");
      ins->bind(1, r.patient_id);
      ins->bind(2, r.device.to_hex());
      ins->bind(3, r.data_type);
      ins->bind(4, record_detail::to_hex(r.payload_bytes));
      ins->bind(5, std::to_string(r.timestamp.time_since_epoch().count()));
      ins->bind(6, hash_hex);
      ins->bind(7, record_detail::to_hex(r.patient_signature));
      ins->bind(8, r.collector_id);
      ins->bind(9, record_detail::to_hex(r.collector_signature));
      ins->spin();
    }
    // step() hides errors (a lock held elsewhere, a full disk), and after a failed statement
    // last_insert_rowid() still names an older row: count the change and find the row by its hash.
    if (scalar_u64("SELECT CAST(total_changes() AS TEXT)") != changes_before + 1)
      throw io_error("record_store: INSERT into " + m_path + " was not applied (database locked or read-only?)");
    {
      const auto q = m_db->new_statement("SELECT CAST(id AS TEXT) FROM hefl_records WHERE hash = ?1");
      q->bind(1, hash_hex);
      const auto found = q->step() ? parse_u64(text_column(*q, 0), "id") : std::nullopt;
      if (!found) throw io_error("record_store: the inserted record is not in " + m_path);
      id = *found;
    }
    // If BEGIN IMMEDIATE silently failed, the INSERT ran on its own and is already visible elsewhere.
    // Undoing it leaves its id as a gap that integrity_scan() reports; it was never acknowledged.
    if (committed_elsewhere(id)) {
      exec("DELETE FROM hefl_records WHERE id = " + std::to_string(id));
      throw io_error("record_store: the insert ran outside a transaction (BEGIN IMMEDIATE failed); undone");
    }
    if (m_log) {
      auto entry = transaction::record_stored(std::to_string(id), r.patient_id, r.hash, ledger_now());
      if (m_sign) {
        // The signed entry lands in this same SQLite transaction as the row it describes.
        entry = m_sign(entry);
        const auto j = m_db->new_statement(
            "INSERT OR REPLACE INTO hefl_ledger_journal (id, body, author, signature) VALUES (?1, ?2, ?3, ?4)");
        j->bind(1, record_detail::to_hex(entry.id()));
        j->bind(2, entry.canonical());
        j->bind(3, entry.author());
        j->bind(4, record_detail::to_hex(entry.author_signature()));
        j->spin();
        // The record's INSERT was counted above and SELECTs change nothing: one more change expected.
        if (scalar_u64("SELECT CAST(total_changes() AS TEXT)") != changes_before + 2)
          throw io_error("record_store: the ledger journal row for record " + std::to_string(id) +
                         " was not written to " + m_path);
      }
      m_log(std::move(entry));
    }
    out.id = id;
  }

  // Commits the open transaction and checks that every stored row of @p out landed.
  void commit_locked(std::span<const record> batch, std::span<insert_result> out) {
    exec("COMMIT");
    // A failed COMMIT may leave the transaction open: ROLLBACK then undoes it, and the rows are gone.
    exec("ROLLBACK");
    bool stored_any = false;
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (!out[i].check) continue;
      stored_any = true;
      if (row_exists(out[i].id)) continue;
      if (m_log) {
        for (std::size_t k = 0; k < out.size(); ++k) {
          if (!out[k].check) continue;
          try {
            m_log(transaction(tx_kind::custom,
                              {{"type", "record_store_rollback"}, {"record", std::to_string(out[k].id)},
                               {"hash", record_detail::to_hex(batch[k].hash)}},
                              ledger_now()));
          } catch (...) {  // the io_error below is what the caller must see
          }
        }
      }
      throw io_error("record_store: COMMIT of record " + std::to_string(out[i].id) + " did not reach " + m_path);
    }
    if (stored_any) ++m_commits;
  }

  std::string m_path;
  const identity_directory* m_keys;
  record_store_options m_options;
  std::function<sha256_digest(transaction)> m_log;
  std::function<transaction(const transaction&)> m_sign;                      // journal: the entry as the ledger signs it
  std::function<std::optional<std::uint64_t>(const sha256_digest&)> m_sealed_at;  // journal: where an entry is sealed
  std::function<std::vector<transaction>()> m_entries;                         // reconciliation: logged entries
  mutable std::mutex m_mutex;
  std::unique_ptr<Botan::Sqlite3_Database> m_db;
  std::unique_ptr<Botan::Sqlite3_Database> m_probe;  // second connection: sees only committed rows
  std::atomic<std::uint64_t> m_commits{0};
  mutable bool m_device_index = false;  // find_by_device_nonce's index exists (guarded by m_mutex)
};

} // namespace hefl::iot
