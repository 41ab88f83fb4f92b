// libFuzzer harness: ledger transactions and blocks as stored in SQLite (transaction::parse,
// ledger_store::read_blocks / load_into, hefl/iot/ledger/ledger.hpp and ledger_store.hpp).
// First byte even: the rest is a transaction body for transaction::parse. Odd: the rest is rows in
// the text form of ledger_support.hpp (blocks, transactions with their author signatures, the head
// checkpoint, pending entries), written to a scratch database that a fresh replica of the fixed chain
// then reloads (which verifies links, sealer turns, signatures, Merkle roots, author signatures and the
// checkpoint, then re-submits the pending entries).
#include "fuzz_support.hpp"
#include "ledger_support.hpp"

#include <hefl/iot/ledger/ledger_store.hpp>

#include <botan/sqlite3.h>

#include <filesystem>
#include <unistd.h>

namespace {

// A scratch database on tmpfs when there is one (/dev/shm): the harness measures the parser and the
// replica's checks, not the disk. One file per process, reused for every input.
std::filesystem::path scratch_dir() {
  std::error_code ec;
  if (std::filesystem::is_directory("/dev/shm", ec)) return "/dev/shm";
  return std::filesystem::temp_directory_path();
}

struct scratch {
  std::string path = (scratch_dir() / ("hefl_ledger_fuzz_" + std::to_string(::getpid()) + ".db")).string();
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
  hefl_fuzz::write_ledger_rows(s.writer, text);
  try {
    hefl::iot::ledger replica(s.fixture.genesis, s.fixture.cfg);
    s.store.load_into(replica);
  } catch (const hefl::error&) {
  }
  return 0;
}
