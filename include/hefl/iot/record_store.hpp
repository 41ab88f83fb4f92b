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
#include <hefl/iot/ledger.hpp>
#include <hefl/iot/record.hpp>

#include <botan/hex.h>
#include <botan/sqlite3.h>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
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

/// What record_store::integrity_scan() found.
struct integrity_report {
  /// Most missing ids listed; missing_count counts them all.
  static constexpr std::size_t max_missing_listed = 1000;

  std::uint64_t rows_checked = 0;              ///< rows read
  std::vector<integrity_finding> findings;     ///< rows that fail, in id order
  std::vector<std::uint64_t> missing_ids;      ///< ids handed out but no longer present (deleted rows), at most max_missing_listed
  std::uint64_t missing_count = 0;             ///< number of such ids

  /// Ids of the rows that fail verification, in id order.
  [[nodiscard]] std::vector<std::uint64_t> tampered_ids() const {
    std::vector<std::uint64_t> out;
    out.reserve(findings.size());
    for (const auto& f : findings) out.push_back(f.id);
    return out;
  }
  /// True when every row verifies and none is missing.
  [[nodiscard]] bool ok() const noexcept { return findings.empty() && missing_count == 0; }
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
/// COMMIT that did not reach the file is reported, never acknowledged. Reads verify every row they
/// return. Ids are assigned by SQLite AUTOINCREMENT, never reused, so deleted rows show as gaps.
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
    guarded("insert", [&] { insert_locked(r, out); });
    return out;
  }

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
    const std::lock_guard lock(m_mutex);
    return guarded("read records", [&] {
      std::string sql = std::string(select_columns) + " WHERE patient = ?1";
      if (from) sql += " AND time_ms >= CAST(?2 AS INTEGER)";
      if (to) sql += " AND time_ms <= CAST(?3 AS INTEGER)";
      sql += " ORDER BY time_ms, id";
      const auto q = m_db->new_statement(sql);
      q->bind(1, std::string(patient_id));
      if (from) q->bind(2, std::to_string(from->time_since_epoch().count()));
      if (to) q->bind(3, std::to_string(to->time_since_epoch().count()));
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
      const auto q = m_db->new_statement(std::string(select_columns) + " ORDER BY id");
      std::uint64_t expected = 1;
      while (q->step()) {
        auto row = read_row(*q);
        ++report.rows_checked;
        if (row.id != 0) note_missing(report, expected, row.id);
        if (!row.check) report.findings.push_back({row.id, row.check.fault, std::move(row.check.message)});
      }
      const auto seq = m_db->new_statement("SELECT CAST(seq AS TEXT) FROM sqlite_sequence WHERE name = 'hefl_records'");
      if (seq->step()) {
        const auto last = parse_u64(text_column(*seq, 0), "sqlite_sequence");
        if (last) note_missing(report, expected, *last + 1);
      }
      return report;
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

  void insert_locked(const record& r, insert_result& out) {
    const auto hash_hex = record_detail::to_hex(r.hash);
    exec("BEGIN IMMEDIATE");
    std::uint64_t id = 0;
    try {
      {
        const auto dup = m_db->new_statement("SELECT CAST(id AS TEXT) FROM hefl_records WHERE hash = ?1");
        dup->bind(1, hash_hex);
        if (dup->step()) {
          out.id = parse_u64(text_column(*dup, 0), "id").value_or(0);
          out.check = {record_fault::duplicate, "a record with hash " + hash_hex.substr(0, 16) +
                                                    "... is already stored as id " + std::to_string(out.id)};
        }
      }
      if (!out.check) {
        exec("ROLLBACK");
        return;
      }
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
      if (m_log) m_log(transaction::record_stored(std::to_string(id), r.patient_id, r.hash, ledger_now()));
    } catch (...) {
      exec("ROLLBACK");
      throw;
    }
    exec("COMMIT");
    // A failed COMMIT may leave the transaction open: ROLLBACK then undoes it, and the row is gone.
    exec("ROLLBACK");
    if (!row_exists(id)) {
      if (m_log) {
        try {
          m_log(transaction(tx_kind::custom,
                            {{"type", "record_store_rollback"}, {"record", std::to_string(id)},
                             {"hash", hash_hex}},
                            ledger_now()));
        } catch (...) {  // the io_error below is what the caller must see
        }
      }
      throw io_error("record_store: COMMIT of record " + std::to_string(id) + " did not reach " + m_path);
    }
    out.id = id;
  }

  std::string m_path;
  const identity_directory* m_keys;
  record_store_options m_options;
  std::function<sha256_digest(transaction)> m_log;
  mutable std::mutex m_mutex;
  std::unique_ptr<Botan::Sqlite3_Database> m_db;
  std::unique_ptr<Botan::Sqlite3_Database> m_probe;  // second connection: sees only committed rows
};

} // namespace hefl::iot
