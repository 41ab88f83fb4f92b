#pragma once
// The fixed two-sealer chain the ledger harness reloads against, shared with make_corpus.cpp, and the
// text form of SQLite rows the harness writes: one row per line, fields separated by tabs,
//   B <height> <previous> <merkle_root> <time> <sealer> <signature>   (table ledger_blocks)
//   T <height> <idx> <body> [<author> <author_signature>]              (table ledger_transactions)
//   C <height> <head> <signer> <signature>                             (table ledger_checkpoint, id 1)
//   P <id> <body> <author> <signature>                                 (table ledger_pending)
#include <hefl/iot/ledger/ledger.hpp>

#include <botan/sqlite3.h>

#include <chrono>
#include <string>
#include <vector>

namespace hefl_fuzz {

inline hefl::iot::ledger_time ledger_ms(std::int64_t ms) { return hefl::iot::ledger_time(std::chrono::milliseconds(ms)); }

struct ledger_fixture {
  hefl::iot::sealer_key a = hefl::iot::sealer_key::from_seed("collector", std::vector<std::uint8_t>(32, 1));
  hefl::iot::sealer_key b = hefl::iot::sealer_key::from_seed("storage", std::vector<std::uint8_t>(32, 2));
  hefl::iot::block genesis = hefl::iot::make_genesis({a.identity(), b.identity()}, "fuzz-chain", ledger_ms(1'000'000));
  hefl::iot::ledger_config cfg = [] {
    hefl::iot::ledger_config c;
    c.max_block_transactions = 2;
    c.clock = [] { return ledger_ms(2'000'000); };
    return c;
  }();
};

inline std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i)
    if (i == s.size() || s[i] == sep) {
      out.emplace_back(s.substr(start, i - start));
      start = i + 1;
    }
  return out;
}

/// Replaces the ledger rows of @p db (tables made by hefl::iot::ledger_store) with the rows of @p text,
/// in one transaction. A row SQLite refuses (the table's own constraints) is skipped: that is the
/// harness's setup, not the parser under test.
inline void write_ledger_rows(Botan::Sqlite3_Database& db, std::string_view text) {
  db.new_statement("BEGIN")->spin();
  for (const char* table : {"ledger_blocks", "ledger_transactions", "ledger_checkpoint", "ledger_pending"})
    db.new_statement(std::string("DELETE FROM ") + table)->spin();
  for (const auto& line : split(text, '\n')) {
    const auto f = split(line, '\t');
    const char* sql = nullptr;
    if (f.size() == 7 && f[0] == "B") {
      sql = "INSERT INTO ledger_blocks (height, previous, merkle_root, time, sealer, signature) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    } else if (f.size() == 4 && f[0] == "T") {
      sql = "INSERT INTO ledger_transactions (height, idx, body) VALUES (?1, ?2, ?3)";
    } else if (f.size() == 6 && f[0] == "T") {
      sql = "INSERT INTO ledger_transactions (height, idx, body, author, author_signature) VALUES (?1, ?2, ?3, ?4, ?5)";
    } else if (f.size() == 5 && f[0] == "C") {
      sql = "INSERT INTO ledger_checkpoint (id, height, head, signer, signature) VALUES (1, ?1, ?2, ?3, ?4)";
    } else if (f.size() == 5 && f[0] == "P") {
      sql = "INSERT INTO ledger_pending (id, body, author, signature) VALUES (?1, ?2, ?3, ?4)";
    }
    if (sql == nullptr) continue;
    try {
      auto st = db.new_statement(sql);
      for (std::size_t i = 1; i < f.size(); ++i) st->bind(static_cast<int>(i), f[i]);
      st->spin();
    } catch (const Botan::Exception&) {
    }
  }
  db.new_statement("COMMIT")->spin();
}

} // namespace hefl_fuzz
