// batched_audit_ledger with a SQLite file (config.database) on a ganache this test starts: entries
// batched and on chain, the ledger destroyed, a new ledger on the same file proves every entry against
// the roots read back from the chain; a batch whose transaction was out but not mined at the restart
// is sent again and lands; an entry row written just before a crash is batched after the restart; an
// entry row changed or deleted, a batch's rows deleted, or a root edited is refused with
// batch_store_tampered naming the batch; a pending row (not on chain yet) edited, inserted, renumbered,
// or with its batch transaction edited is refused naming the row (its MAC, keyed from the writer's
// account key, does not verify).
#include <hefl/iot/ledger/ethereum/batched_audit_ledger.hpp>

#include "eth_support.hpp"
#include "test_support.hpp"

#include <botan/sqlite3.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

using namespace hefl::iot;
using namespace std::chrono_literals;
namespace eth = hefl::iot::ethereum;

namespace {
transaction check_of(std::size_t i) {
  const std::array<std::uint8_t, 32> payload_hash{static_cast<std::uint8_t>(i), static_cast<std::uint8_t>(i >> 8), 0x5a};
  return transaction::rule_check("3074257bf7194e4000001a85", "icu", i % 3 == 0 ? "out_of_range" : "accepted", payload_hash,
                                 ledger_time(std::chrono::milliseconds(5000 + i)));
}
batched_audit_config persisted(const std::string& db) {
  batched_audit_config c;
  c.max_batch = 4;
  c.max_delay = 10s;  // batches close on size, flush() or wait_all(): 4, 4, 2
  c.pipelined = true;
  c.receipt_timeout = 10s;
  c.database = db;
  return c;
}
void sql(const std::string& db, const std::string& statement) {
  Botan::Sqlite3_Database d(db);
  d.new_statement(statement)->spin();
}
Botan::secure_vector<std::uint8_t> row_key(const eth::transaction_sender& sender) {
  return sender.derive_secret(eth::audit_batch_store::row_key_purpose);
}
// The pending row a tampered copy of the file is refused for; -1 when it is not refused.
std::int64_t refused_row(const hefl::testing::ganache_chain& chain, eth::transaction_sender& sender,
                         const std::string& db) {
  try {
    batched_audit_ledger again(chain.rpc, sender, chain.audit_log, persisted(db));
    return -1;
  } catch (const eth::batch_store_tampered& e) {
    INFO(e.what());
    CHECK(e.pending_row().has_value());
    return e.pending_row() ? static_cast<std::int64_t>(*e.pending_row()) : -2;
  }
}
// The batch a tampered copy of the file is refused for; -1 when it is not refused.
std::int64_t refused_batch(const hefl::testing::ganache_chain& chain, eth::transaction_sender& sender,
                           const std::string& db) {
  try {
    batched_audit_ledger again(chain.rpc, sender, chain.audit_log, persisted(db));
    return -1;
  } catch (const eth::batch_store_tampered& e) {
    INFO(e.what());
    return static_cast<std::int64_t>(e.batch());
  }
}
} // namespace

TEST_CASE("batched_audit_ledger: entries, proofs and pending entries survive a restart through SQLite; "
          "a tampered row is refused naming its batch",
          "[eth][eth_batch][ganache][persist]") {
  HEFL_GANACHE_OR_SKIP(tools);
  hefl::testing::ganache_chain chain(tools);
  hefl_test::temp_dir dir("hefl_eth_persist_");
  const std::string db = dir.file("batches.db");

  std::vector<sha256_digest> ids;
  {
    batched_audit_ledger ledger(chain.rpc, chain.sender, chain.audit_log, persisted(db));
    for (std::size_t i = 0; i < 10; ++i) ids.push_back(ledger.submit(check_of(i)));
    ledger.wait_all(30s);
    CHECK(ledger.batches().size() >= 3);  // at most 4 entries per batch
    CHECK(ledger.entries().size() == 10);
  }  // destroyed: nothing of it is left in memory

  // A batch whose transaction is out but not mined when the process stops: it stays pending in the file.
  std::vector<sha256_digest> late;
  {
    auto c = persisted(db);
    c.receipt_timeout = 500ms;
    batched_audit_ledger ledger(chain.rpc, chain.sender, chain.audit_log, c);
    chain.rpc.call("miner_stop");
    for (std::size_t i = 10; i < 12; ++i) late.push_back(ledger.submit(check_of(i)));
    ledger.flush();
    CHECK_THROWS_AS(ledger.wait(late[0], 20s), eth::receipt_timeout);
    CHECK(ledger.pending_count() == 2);
  }
  // An entry row written just before a crash, not yet in any batch.
  const transaction crashed = check_of(12);
  {
    eth::audit_batch_store store(db, chain.audit_log, chain.sender.account(), row_key(chain.sender));
    (void)store.add_pending(crashed);
    CHECK(store.pending().size() == 3);
  }
  chain.rpc.call("miner_start");
  chain.rpc.call("evm_mine");

  // Keep an untampered copy, and make tampered ones, before the next ledger writes to the file.
  const auto copy = [&](const std::string& name) {
    const std::string p = dir.file(name);
    std::filesystem::copy_file(db, p);
    return p;
  };
  const std::string edited = copy("edited.db"), deleted = copy("deleted.db"), dropped = copy("dropped.db"),
                    rerooted = copy("rerooted.db"), swapped = copy("swapped.db");

  // A new ledger on the same file: every entry is proved against the chain's roots, the pending
  // batch lands, the crashed row is batched.
  {
    batched_audit_ledger ledger(chain.rpc, chain.sender, chain.audit_log, persisted(db));
    for (const auto& id : ids) CHECK(ledger.confirmed(id));
    ledger.flush();  // the crashed row is in the open batch
    for (const auto& id : late) CHECK(ledger.wait(id, 30s).entry.request_hash == eth::hash32(id));
    CHECK(ledger.wait(crashed.id(), 30s).entry.request_hash == eth::hash32(crashed.id()));
    const auto entries = ledger.entries();
    REQUIRE(entries.size() == 13);
    std::set<sha256_digest> seen;
    for (const auto& e : entries) {
      seen.insert(e.tx.id());
      CHECK_NOTHROW(eth::verify_inclusion(chain.rpc, chain.audit_log, e.inclusion));
    }
    for (const auto& id : ids) CHECK(seen.count(id) == 1);
    CHECK_FALSE(ledger.verify_against_chain().has_value());
  }
  {
    // And once more: now everything is in batches on chain, nothing pending.
    batched_audit_ledger ledger(chain.rpc, chain.sender, chain.audit_log, persisted(db));
    CHECK(ledger.entries().size() == 13);
    CHECK(ledger.pending_count() == 0);
    CHECK_FALSE(ledger.verify_against_chain().has_value());
    eth::audit_batch_store store(db, chain.audit_log, chain.sender.account(), row_key(chain.sender));
    CHECK(store.pending().empty());
  }

  // Tampering with the copies (taken while the late batch was still pending): each is refused, naming the batch.
  sql(edited, "UPDATE eth_batch_entries SET body = '" + check_of(99).canonical() + "' WHERE batch = '1' AND leaf = '2'");
  sql(deleted, "DELETE FROM eth_batch_entries WHERE batch = '0' AND leaf = '3'");
  sql(dropped, "DELETE FROM eth_batch_entries WHERE batch = '2'");
  sql(dropped, "DELETE FROM eth_batches WHERE batch = '2'");
  sql(rerooted, "UPDATE eth_batches SET root = '0x" + std::string(64, 'a') + "' WHERE batch = '1'");
  // Two leaves swapped within a batch: same entries, another tree.
  sql(swapped, "UPDATE eth_batch_entries SET leaf = 'x' WHERE batch = '0' AND leaf = '0'");
  sql(swapped, "UPDATE eth_batch_entries SET leaf = '0' WHERE batch = '0' AND leaf = '1'");
  sql(swapped, "UPDATE eth_batch_entries SET leaf = '1' WHERE batch = '0' AND leaf = 'x'");
  CHECK(refused_batch(chain, chain.sender, edited) == 1);
  CHECK(refused_batch(chain, chain.sender, deleted) == 0);
  CHECK(refused_batch(chain, chain.sender, dropped) == 2);
  CHECK(refused_batch(chain, chain.sender, rerooted) == 1);
  CHECK(refused_batch(chain, chain.sender, swapped) == 0);

  // The file belongs to one AuditLog and one writer account.
  auto other = chain.sender_for(hefl::testing::ganache_key1);
  CHECK_THROWS_AS(batched_audit_ledger(chain.rpc, other, chain.audit_log, persisted(db)), hefl::invalid_argument);
}

TEST_CASE("batched_audit_ledger: a pending row edited, inserted or renumbered in the SQLite file is refused "
          "naming the row; an untouched file lands every pending entry",
          "[eth][eth_batch][ganache][persist]") {
  HEFL_GANACHE_OR_SKIP(tools);
  hefl::testing::ganache_chain chain(tools);
  hefl_test::temp_dir dir("hefl_eth_pending_mac_");
  const std::string db = dir.file("batches.db");
  {
    auto c = persisted(db);
    c.receipt_timeout = 500ms;
    batched_audit_ledger ledger(chain.rpc, chain.sender, chain.audit_log, c);
    for (std::size_t i = 0; i < 4; ++i) (void)ledger.submit(check_of(i));  // rows 1-4: batch 0, on chain
    ledger.wait_all(30s);
    chain.rpc.call("miner_stop");
    const auto a = ledger.submit(check_of(4)), b = ledger.submit(check_of(5));  // rows 5, 6: sent, not mined
    ledger.flush();
    CHECK_THROWS_AS(ledger.wait(b, 20s), eth::receipt_timeout);
    (void)a;
  }
  {
    // Rows 7 and 8, not batched yet (as written just before a crash).
    eth::audit_batch_store store(db, chain.audit_log, chain.sender.account(), row_key(chain.sender));
    CHECK(store.add_pending(check_of(6)) == 7);
    CHECK(store.add_pending(check_of(7)) == 8);
    CHECK(store.pending().size() == 4);
  }
  const auto copy = [&](const std::string& name) {
    const std::string p = dir.file(name);
    std::filesystem::copy_file(db, p);
    return p;
  };
  const std::string edited = copy("edited.db"), edited_sent = copy("edited_sent.db"), inserted = copy("inserted.db"),
                    forged = copy("forged.db"), renumbered = copy("renumbered.db"), swapped = copy("swapped.db"),
                    moved = copy("moved.db");
  // The verdict of row 7 flipped (before: submitted with the edited content).
  sql(edited, "UPDATE eth_batch_pending SET body = '" + check_of(99).canonical() + "' WHERE seq = 7");
  // A sent row's entry changed (before: its batch was sent again and failed against the chain's root).
  sql(edited_sent, "UPDATE eth_batch_pending SET body = '" + check_of(98).canonical() + "' WHERE seq = 6");
  // Row 8 copied whole, MAC included, as row 9.
  sql(inserted, "INSERT INTO eth_batch_pending (seq, body, author, signature, tx_hash, raw, mac, sent_mac) "
                "SELECT 9, body, author, signature, tx_hash, raw, mac, sent_mac FROM eth_batch_pending WHERE seq = 8");
  // A new row with a made-up MAC.
  sql(forged, "INSERT INTO eth_batch_pending (seq, body, author, signature, mac) VALUES (9, '" + check_of(97).canonical() +
                  "', '', '', '" + std::string(64, '0') + "')");
  // Row 8 moved to number 12 (a renumbering that keeps the order), and rows 7 and 8 swapped.
  sql(renumbered, "UPDATE eth_batch_pending SET seq = 12 WHERE seq = 8");
  sql(swapped, "UPDATE eth_batch_pending SET seq = 100 WHERE seq = 7");
  sql(swapped, "UPDATE eth_batch_pending SET seq = 7 WHERE seq = 8");
  sql(swapped, "UPDATE eth_batch_pending SET seq = 8 WHERE seq = 100");
  // Row 7 (not sent) given row 6's batch transaction, its sent MAC included.
  sql(moved, "UPDATE eth_batch_pending SET (tx_hash, raw, sent_mac) = (SELECT tx_hash, raw, sent_mac FROM "
             "eth_batch_pending WHERE seq = 6) WHERE seq = 7");
  CHECK(refused_row(chain, chain.sender, edited) == 7);
  CHECK(refused_row(chain, chain.sender, edited_sent) == 6);
  CHECK(refused_row(chain, chain.sender, inserted) == 9);
  CHECK(refused_row(chain, chain.sender, forged) == 9);
  CHECK(refused_row(chain, chain.sender, renumbered) == 12);
  CHECK(refused_row(chain, chain.sender, swapped) == 7);
  CHECK(refused_row(chain, chain.sender, moved) == 7);
  // Another account's key cannot write rows this file accepts.
  {
    auto other = chain.sender_for(hefl::testing::ganache_key1);
    eth::audit_batch_store store(dir.file("other-key.db"), chain.audit_log, chain.sender.account(), row_key(other));
    (void)store.add_pending(check_of(50));
    eth::audit_batch_store mine(dir.file("other-key.db"), chain.audit_log, chain.sender.account(), row_key(chain.sender));
    CHECK_THROWS_AS(mine.pending(), eth::batch_store_tampered);
  }

  // The untouched file: the sent batch is sent again and lands, rows 7 and 8 are batched.
  chain.rpc.call("miner_start");
  chain.rpc.call("evm_mine");
  batched_audit_ledger ledger(chain.rpc, chain.sender, chain.audit_log, persisted(db));
  ledger.wait_all(30s);
  CHECK(ledger.entries().size() == 8);
  CHECK(ledger.pending_count() == 0);
  CHECK_FALSE(ledger.verify_against_chain().has_value());
}

TEST_CASE("audit_batch_store: a file from before the pending rows' MACs gets the columns and its pending rows "
          "are refused; a short row key is refused",
          "[eth][eth_batch][persist]") {
  hefl_test::temp_dir dir("hefl_eth_old_schema_");
  const std::string db = dir.file("old.db");
  const eth::address contract{0x11}, writer{0x22};
  sql(db, "CREATE TABLE eth_batch_pending (seq INTEGER PRIMARY KEY, body TEXT NOT NULL, author TEXT NOT NULL, "
          "signature TEXT NOT NULL, tx_hash TEXT NOT NULL DEFAULT '', raw TEXT NOT NULL DEFAULT '')");
  sql(db, "INSERT INTO eth_batch_pending (seq, body, author, signature) VALUES (3, '" + check_of(3).canonical() + "', '', '')");
  const auto key = hefl::testing::account_key(hefl::testing::ganache_key0).derive_secret(eth::audit_batch_store::row_key_purpose);
  eth::audit_batch_store store(db, contract, writer, key);
  try {
    (void)store.pending();
    FAIL("a pending row without a MAC was accepted");
  } catch (const eth::batch_store_tampered& e) {
    INFO(e.what());
    CHECK(e.pending_row() == std::optional<std::uint64_t>(3));
  }
  CHECK(store.add_pending(check_of(4)) == 4);  // rows written now carry MACs
  sql(db, "DELETE FROM eth_batch_pending WHERE seq = 3");
  const auto rows = store.pending();
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].tx == check_of(4));
  CHECK_THROWS_AS(eth::audit_batch_store(db, contract, writer, Botan::secure_vector<std::uint8_t>(8)), hefl::invalid_argument);
}
