// libFuzzer harness: ledger transactions and blocks as stored in SQLite (transaction::parse,
// ledger_store::read_blocks / load_into, hefl/iot/ledger/ledger.hpp and ledger_store.hpp).
// First byte even: the rest is a transaction body for transaction::parse. Odd: the rest is rows in
// the text form of ledger_support.hpp, written to a scratch database that a fresh replica of the
// fixed chain then reloads (which verifies links, sealer turns, signatures and Merkle roots).
#include "fuzz_support.hpp"
#include "ledger_support.hpp"

#include <hefl/iot/ledger/ledger_store.hpp>

#include <botan/sqlite3.h>

#include <filesystem>
#include <unistd.h>

namespace {

struct scratch {
  std::string path = (std::filesystem::temp_directory_path() /
                      ("hefl_ledger_fuzz_" + std::to_string(::getpid()) + ".db")).string();
  hefl::iot::ledger_store store{path};
  Botan::Sqlite3_Database writer{path};
  hefl_fuzz::ledger_fixture fixture;
  scratch() {
    writer.new_statement("PRAGMA synchronous = OFF")->spin();
  }
  ~scratch() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
    std::filesystem::remove(path + "-journal", ec);
  }
};

// Writes the rows; a row SQLite refuses (the table's own constraints) is skipped: that is the
// harness's setup, not the parser under test.
void write_rows(scratch& s, std::string_view text) {
  s.writer.new_statement("DELETE FROM ledger_blocks")->spin();
  s.writer.new_statement("DELETE FROM ledger_transactions")->spin();
  for (const auto& line : hefl_fuzz::split(text, '\n')) {
    const auto f = hefl_fuzz::split(line, '\t');
    try {
      if (f.size() == 7 && f[0] == "B") {
        auto st = s.writer.new_statement(
            "INSERT INTO ledger_blocks (height, previous, merkle_root, time, sealer, signature) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
        for (int i = 1; i < 7; ++i) st->bind(i, f[static_cast<std::size_t>(i)]);
        st->spin();
      } else if (f.size() == 4 && f[0] == "T") {
        auto st = s.writer.new_statement("INSERT INTO ledger_transactions (height, idx, body) VALUES (?1, ?2, ?3)");
        for (int i = 1; i < 4; ++i) st->bind(i, f[static_cast<std::size_t>(i)]);
        st->spin();
      }
    } catch (const Botan::Exception&) {
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] % 2 == 0) {
    try {
      const auto tx = hefl::iot::transaction::parse(text);
      if (tx.canonical() != text) hefl_fuzz::finding("transaction::parse accepted a non-canonical body");
    } catch (const hefl::error&) {
    }
    return 0;
  }
  static scratch s;
  write_rows(s, text);
  try {
    hefl::iot::ledger replica(s.fixture.genesis, s.fixture.cfg);
    s.store.load_into(replica);
  } catch (const hefl::error&) {
  }
  return 0;
}
