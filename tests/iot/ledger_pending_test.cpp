// Issue 10, item 10 leftover: the ledger's pending pool (entries submitted but not sealed yet) is
// written to the store's SQLite file before submit returns, so a crash loses no acknowledged entry.
#include <hefl/iot/ledger/ledger_store.hpp>
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <botan/hex.h>
#include <botan/sqlite3.h>
#include <botan/system_rng.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

using namespace hefl::iot;

namespace {

ledger_time at_ms(std::int64_t ms) { return ledger_time(std::chrono::milliseconds(ms)); }

transaction check_tx(int i) {
  const std::string payload = "pending-" + std::to_string(i);
  return transaction::rule_check("dev-" + std::to_string(i), "group-7", "accepted",
                                 std::vector<std::uint8_t>(payload.begin(), payload.end()), at_ms(1'000'000 + i));
}

struct temp_db : hefl_test::temp_db {
  temp_db() : hefl_test::temp_db("hefl_pending_") {}
};

struct pending_fixture {
  sealer_key key = sealer_key::from_seed("collector", std::vector<std::uint8_t>(32, 7));
  block genesis = make_genesis({key.identity()}, "pending-chain", at_ms(1'000'000));
  ledger_config cfg = [] {
    ledger_config c;
    c.max_block_transactions = 10;  // nothing is sealed by count in these tests before flush()
    c.max_block_delay = std::chrono::hours(1);
    c.clock = [] { return at_ms(2'000'000); };
    return c;
  }();
  std::unique_ptr<ledger> fresh() { return std::make_unique<ledger>(genesis, cfg, key); }
};

} // namespace

TEST_CASE("ledger pending pool: entries acknowledged before a crash come back after the restart",
          "[iot][ledger][ledger_store][pending]") {
  pending_fixture f;
  temp_db db;
  std::vector<sha256_digest> ids;
  {
    auto node = f.fresh();
    ledger_store store(db.path);
    // One block sealed and saved, then three entries acknowledged but not sealed when the node dies.
    for (int i = 0; i < 2; ++i) ids.push_back(store.submit(*node, check_tx(i)));
    REQUIRE(node->flush() == 1);
    REQUIRE(store.save(*node) == 2);
    CHECK(store.pending_entries().empty());  // sealed and saved: the rows went with the block
    for (int i = 2; i < 5; ++i) ids.push_back(store.submit(*node, check_tx(i)));
    REQUIRE(node->pending_count() == 3);
    CHECK(store.pending_entries().size() == 3);
  }  // crash: the in-memory pool is gone
  // The blocks alone (all a restart had before the pending table) do not hold the last three entries.
  auto blocks_only = f.fresh();
  blocks_only->restore(ledger_store(db.path).read_blocks());
  CHECK(blocks_only->height() == 1);
  CHECK(blocks_only->pending_count() == 0);
  CHECK_FALSE(blocks_only->contains(ids[2]));

  auto restarted = f.fresh();
  ledger_store store(db.path);
  store.load_into(*restarted);
  CHECK(restarted->height() == 1);
  CHECK(restarted->pending_count() == 3);
  REQUIRE(restarted->flush() == 1);
  for (const auto& id : ids) CHECK(restarted->contains(id));
  CHECK(restarted->verify().ok());
  REQUIRE(store.save(*restarted) == 1);
  CHECK(store.pending_entries().empty());
}

TEST_CASE("ledger pending pool: a pending row edited on disk is refused on reload, the others kept",
          "[iot][ledger][ledger_store][pending]") {
  pending_fixture f;
  temp_db db;
  {
    auto node = f.fresh();
    ledger_store store(db.path);
    REQUIRE(store.save(*node) == 1);  // a node saves its genesis when it starts
    (void)store.submit(*node, check_tx(1));
    (void)store.submit(*node, check_tx(2));
  }
  {
    // The attacker rewrites one entry's verdict; its author signature no longer matches its id.
    const auto forged = check_tx(2);
    const auto body = transaction::rule_check("dev-2", "group-7", "rule_violation",
                                              std::vector<std::uint8_t>{'x'}, at_ms(1'000'002));
    Botan::Sqlite3_Database raw(db.path);
    const auto q = raw.new_statement("UPDATE ledger_pending SET id = ?1, body = ?2 WHERE id = ?3");
    q->bind(1, Botan::hex_encode(body.id().data(), body.id().size(), false));
    q->bind(2, body.canonical());
    q->bind(3, Botan::hex_encode(forged.id().data(), forged.id().size(), false));
    q->spin();
  }
  auto restarted = f.fresh();
  try {
    ledger_store(db.path).load_into(*restarted);
    FAIL("a forged pending row was accepted");
  } catch (const ledger_integrity_error& e) {
    CHECK(e.report().fault == block_fault::bad_author_signature);
    CHECK_THAT(std::string(e.what()), Catch::Contains("1 stored pending entry refused"));
  }
  REQUIRE(restarted->pending_count() == 1);
  CHECK(restarted->pending().front().id() == check_tx(1).id());
}

TEST_CASE("ledger pending pool: a refused submission leaves no row, and durable_ledger is a ledger_policy",
          "[iot][ledger][ledger_store][pending]") {
  pending_fixture f;
  temp_db db;
  auto node = f.fresh();
  ledger_store store(db.path);
  // An entry signed by a key that is not an author of this chain.
  const auto stranger = sealer_key::from_seed("stranger", std::vector<std::uint8_t>(32, 9));
  const auto tx = check_tx(3);
  const auto forged = tx.with_author("collector", stranger.sign(transaction::author_message(node->genesis_hash(),
                                                                                            "collector", tx.id())));
  CHECK_THROWS_AS(store.submit(*node, forged), ledger_entry_refused);
  CHECK(store.pending_entries().empty());
  CHECK(node->pending_count() == 0);

  durable_ledger durable(*node, store);
  const auto id = durable.submit(check_tx(4));
  CHECK(node->pending_count() == 1);
  REQUIRE(store.pending_entries().size() == 1);
  CHECK(store.pending_entries().front().id() == id);
  CHECK(store.pending_entries().front().author() == "collector");
}
