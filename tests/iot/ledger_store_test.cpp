#include <hefl/iot/ledger/ledger_store.hpp>
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <botan/hex.h>
#include <botan/sqlite3.h>
#include <botan/system_rng.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace hefl::iot;

namespace {

ledger_time at_ms(std::int64_t ms) { return ledger_time(std::chrono::milliseconds(ms)); }

sealer_key seeded_key(const std::string& id, std::uint8_t seed) {
  return sealer_key::from_seed(id, std::vector<std::uint8_t>(32, seed));
}

transaction check_tx(int i) {
  const std::string payload = "payload-" + std::to_string(i);
  return transaction::rule_check("dev-" + std::to_string(i % 3), "group-7", "accepted",
                                 std::vector<std::uint8_t>(payload.begin(), payload.end()), at_ms(1'000'000 + i));
}

struct temp_db : hefl_test::temp_db {
  temp_db() : hefl_test::temp_db("hefl_ledger_") {}
};

// Runs SQL on the file directly, as an attacker with write access to the disk would.
void raw_sql(const std::string& path, const std::string& sql) {
  Botan::Sqlite3_Database db(path);
  db.new_statement(sql)->spin();
}

struct chain_fixture {
  sealer_key a = seeded_key("collector", 1), b = seeded_key("storage", 2);
  block genesis = make_genesis({a.identity(), b.identity()}, "store-chain", at_ms(1'000'000));
  ledger_config cfg = [] {
    ledger_config c;
    c.max_block_transactions = 3;
    c.clock = [] { return at_ms(2'000'000); };
    return c;
  }();
  ledger node_a{genesis, cfg, a}, node_b{genesis, cfg, b};
  int next = 0;

  // Seals @p blocks more blocks, alternating sealers as the turn rule demands.
  void grow(int blocks) {
    for (int k = 0; k < blocks; ++k) {
      auto& sealer = node_a.expected_sealer(node_a.height() + 1) == "collector" ? node_a : node_b;
      auto& other = &sealer == &node_a ? node_b : node_a;
      for (int i = 0; i < 3; ++i) sealer.submit(check_tx(next++));
      REQUIRE(other.sync_from(sealer));
    }
  }
};

// Loads @p path into @p target and returns the report of the integrity error it must raise.
verify_report reload_failure(ledger& target, const std::string& path) {
  try {
    ledger_store(path).load_into(target);
  } catch (const ledger_integrity_error& e) {
    CHECK(target.height() == 0);
    return e.report();
  }
  FAIL("reload accepted a tampered or foreign database");
  return {};
}

verify_report reload_failure(const chain_fixture& f, const std::string& path) {
  ledger fresh(f.genesis, f.cfg);
  return reload_failure(fresh, path);
}

} // namespace

TEST_CASE("ledger_store round-trips a chain through SQLite", "[iot][ledger][store]") {
  const temp_db tmp;
  chain_fixture f;
  f.grow(4);
  {
    ledger_store store(tmp.path);
    CHECK(store.block_count() == 0);
    CHECK(store.save(f.node_a) == 5);
    CHECK(store.block_count() == 5);
    CHECK(store.save(f.node_a) == 0);  // nothing new
    f.grow(2);
    CHECK(store.save(f.node_b) == 2);  // only the new blocks
  }
  ledger_store reopened(tmp.path);
  CHECK(reopened.block_count() == 7);
  const auto blocks = reopened.read_blocks();
  REQUIRE(blocks.size() == 7);
  CHECK(blocks[3].hash() == f.node_a.block_at(3).hash());
  CHECK(blocks[3].transactions == f.node_a.block_at(3).transactions);
  CHECK(blocks[3].signature == f.node_a.block_at(3).signature);

  ledger restored(f.genesis, f.cfg, f.a);
  reopened.load_into(restored);
  CHECK(restored.head_hash() == f.node_a.head_hash());
  CHECK(restored.verify().ok());
  CHECK(restored.transaction_count() == f.node_a.transaction_count());
  CHECK(restored.find_device("dev-1").size() == f.node_a.find_device("dev-1").size());
  CHECK_THROWS_AS(reopened.load_into(restored), hefl::invalid_argument);  // not a fresh replica
  // The restored replica carries on sealing where the chain stopped.
  restored.submit(check_tx(1000));
  restored.flush();
  CHECK(restored.height() == 7);
  CHECK(restored.block_at(7).header.sealer == "collector");
  CHECK(reopened.save(restored) == 1);
}

TEST_CASE("ledger_store reload names the tampered block", "[iot][ledger][store][tamper]") {
  const temp_db tmp;
  chain_fixture f;
  f.grow(5);
  ledger_store(tmp.path).save(f.node_a);
  REQUIRE(f.node_a.height() == 5);

  SECTION("a transaction's JSON edited") {
    raw_sql(tmp.path, "UPDATE ledger_transactions SET body = replace(body, '\"accepted\"', '\"rejected\"') "
                      "WHERE height = 2 AND idx = 1");
    const auto r = reload_failure(f, tmp.path);
    CHECK(r.bad_block == 2u);
    CHECK(r.fault == block_fault::tampered_transaction);
    CHECK_THAT(r.message, Catch::StartsWith("block 2"));
  }
  SECTION("a transaction's JSON no longer canonical") {
    raw_sql(tmp.path, "UPDATE ledger_transactions SET body = replace(body, ':', ': ') WHERE height = 3 AND idx = 0");
    const auto r = reload_failure(f, tmp.path);
    CHECK(r.bad_block == 3u);
    CHECK(r.fault == block_fault::malformed);
    CHECK_THAT(r.message, Catch::Contains("canonical"));
  }
  SECTION("a transaction row replaced by a blob") {
    raw_sql(tmp.path, "UPDATE ledger_transactions SET body = x'00ff' WHERE height = 4 AND idx = 2");
    const auto r = reload_failure(f, tmp.path);
    CHECK(r.bad_block == 4u);
    CHECK(r.fault == block_fault::malformed);
  }
  SECTION("a transaction row deleted") {
    raw_sql(tmp.path, "DELETE FROM ledger_transactions WHERE height = 1 AND idx = 2");
    const auto r = reload_failure(f, tmp.path);
    CHECK(r.bad_block == 1u);
    CHECK(r.fault == block_fault::tampered_transaction);
  }
  SECTION("a header's time edited") {
    raw_sql(tmp.path, "UPDATE ledger_blocks SET time = '2000001' WHERE height = 3");
    const auto r = reload_failure(f, tmp.path);
    CHECK(r.bad_block == 3u);
    CHECK(r.fault == block_fault::tampered_header);
  }
  SECTION("signatures swapped between blocks") {
    raw_sql(tmp.path, "UPDATE ledger_blocks SET signature = (SELECT signature FROM ledger_blocks WHERE height = 4) "
                      "WHERE height = 2");
    const auto r = reload_failure(f, tmp.path);
    CHECK(r.bad_block == 2u);
    CHECK(r.fault == block_fault::bad_signature);
  }
  SECTION("a block row deleted") {
    raw_sql(tmp.path, "DELETE FROM ledger_blocks WHERE height = 3");
    const auto r = reload_failure(f, tmp.path);
    CHECK(r.bad_block == 3u);
    CHECK(r.fault == block_fault::malformed);
  }
  SECTION("a hash column that is not hex") {
    raw_sql(tmp.path, "UPDATE ledger_blocks SET merkle_root = 'zz' WHERE height = 2");
    const auto r = reload_failure(f, tmp.path);
    CHECK(r.bad_block == 2u);
    CHECK(r.fault == block_fault::malformed);
  }
  SECTION("a different genesis") {
    const auto other = make_genesis({f.a.identity()}, "another-chain", at_ms(1));
    ledger stranger(other);
    const auto r = reload_failure(stranger, tmp.path);
    CHECK(r.bad_block == 0u);
    CHECK(r.fault == block_fault::genesis_mismatch);
  }
}

TEST_CASE("ledger_store refuses to mix chains", "[iot][ledger][store]") {
  const temp_db tmp;
  chain_fixture f;
  f.grow(2);
  ledger_store store(tmp.path);
  store.save(f.node_a);
  chain_fixture g;
  g.genesis = make_genesis({g.a.identity()}, "other", at_ms(5));
  ledger other(g.genesis, {}, g.a);
  CHECK_THROWS_AS(store.save(other), hefl::io_error);
  ledger shorter(f.genesis, f.cfg);
  CHECK_THROWS_WITH(store.save(shorter), Catch::Contains("the ledger only 1"));
  CHECK(store.block_count() == 3);
}

TEST_CASE("ledger_store saves all new blocks or none", "[iot][ledger][store]") {
  const temp_db tmp;
  chain_fixture f;
  f.grow(1);
  ledger_store store(tmp.path);
  REQUIRE(store.save(f.node_a) == 2);
  f.grow(2);
  // A failure in the middle of the second new block (its third transaction row), like a full disk:
  // block 2 was written completely in the same save, and must go too.
  raw_sql(tmp.path, "CREATE TRIGGER fail_third BEFORE INSERT ON ledger_transactions "
                    "WHEN NEW.height = 3 AND NEW.idx = 2 BEGIN SELECT RAISE(ABORT, 'simulated failure'); END");
  CHECK_THROWS_AS(store.save(f.node_a), hefl::io_error);
  CHECK_THROWS_WITH(store.save(f.node_a), Catch::Contains("5 of 6 transaction rows; rolled back"));
  CHECK(store.block_count() == 2);
  {
    Botan::Sqlite3_Database db(tmp.path);
    const auto q = db.new_statement("SELECT count(*) FROM ledger_transactions WHERE height >= 2");
    REQUIRE(q->step());
    CHECK(q->get_size_t(0) == 0);
  }
  ledger partial(f.genesis, f.cfg);
  store.load_into(partial);  // what is stored still verifies
  CHECK(partial.height() == 1);
  raw_sql(tmp.path, "DROP TRIGGER fail_third");
  CHECK(store.save(f.node_a) == 2);  // retry after the fault is fixed
  ledger full(f.genesis, f.cfg);
  store.load_into(full);
  CHECK(full.head_hash() == f.node_a.head_hash());
}

TEST_CASE("ledger_store refuses rows it did not write", "[iot][ledger][store]") {
  const temp_db tmp;
  chain_fixture f;
  f.grow(1);
  ledger_store store(tmp.path);
  store.save(f.node_a);
  f.grow(1);
  raw_sql(tmp.path, "INSERT INTO ledger_transactions (height, idx, body) VALUES (2, 0, 'planted')");
  CHECK_THROWS_WITH(store.save(f.node_a), Catch::Contains("did not write"));
  CHECK(store.block_count() == 2);
  const auto r = reload_failure(f, tmp.path);
  CHECK(r.fault == block_fault::malformed);
  CHECK(r.bad_block == 2u);
}

TEST_CASE("ledger_store reports unusable files as io_error", "[iot][ledger][store]") {
  const temp_db tmp;
  {
    std::ofstream junk(tmp.path, std::ios::binary);
    junk << std::string(4096, 'x');
  }
  CHECK_THROWS_AS(ledger_store(tmp.path), hefl::io_error);
  CHECK_THROWS_AS(ledger_store((std::filesystem::path(tmp.path) / "no" / "such" / "dir.db").string()), hefl::io_error);
}
