// ethereum_ledger's and batched_audit_ledger's failure handling on a ganache this test starts
// (issue 14): an entry is final only with config.confirmations blocks on top of it (bounded wait,
// receipt_timeout otherwise); a reorganisation that drops the entry's block (evm_snapshot, submit,
// evm_revert, a different block mined at that height) is reported as ethereum_entry_reorganised, the
// entry leaves entries(), and it lands on the new chain again (ethereum_ledger: submitted again by the
// caller; batched_audit_ledger: its batch's entries resubmitted by the ledger); a transaction dropped
// from the pool by a node restart is sent again with the same nonce by resubmit_pending().
#include <hefl/iot/ledger/ethereum/batched_audit_ledger.hpp>
#include <hefl/iot/ledger/ethereum/ethereum_ledger.hpp>

#include "eth_support.hpp"
#include "test_support.hpp"

#include <array>
#include <chrono>
#include <filesystem>
#include <memory>


using namespace hefl::iot;
using namespace std::chrono_literals;
namespace eth = hefl::iot::ethereum;

namespace {
// A ganache started on a chain database (so it can be restarted with the chain but an empty pool).
struct restartable {
  hefl_test::temp_dir db{"hefl-ganache-drop-"};
  hefl::testing::ganache_process::options o;
  restartable() { o.db_path = db.path; }
};
} // namespace

TEST_CASE("ethereum_ledger: confirmations before final, and a reorganisation is reported and resubmitted",
          "[eth][ledger][ganache][failure]") {
  HEFL_GANACHE_OR_SKIP(tools);
  hefl::testing::ganache_chain chain(tools);
  auto& rpc = chain.rpc;
  ethereum_ledger_config config;
  config.confirmations = 2;
  config.receipt_timeout = std::chrono::seconds(30);
  ethereum_ledger ledger(rpc, chain.sender, chain.audit_log, config);
  const std::array<std::uint8_t, 32> h{3};
  const auto t = ledger_now();
  const auto tx0 = transaction::rule_check("3074257bf7194e4000001a85", "icu", "accepted", h, t);
  const auto tx1 = transaction::rule_check("3074257bf7194e4000001a86", "icu", "accepted", h, t);

  // Final only after 2 more blocks: with none mined, the bounded wait ends in receipt_timeout.
  REQUIRE(ledger.submit(tx0) == tx0.id());
  const auto block0 = ledger.entries().at(0).block_number;
  CHECK_THROWS_AS(ledger.await_final(tx0.id(), std::chrono::milliseconds(300)), eth::receipt_timeout);
  rpc.call("evm_mine");
  CHECK_THROWS_AS(ledger.await_final(tx0.id(), std::chrono::milliseconds(300)), eth::receipt_timeout);
  rpc.call("evm_mine");
  CHECK(ledger.await_final(tx0.id(), std::chrono::seconds(10)) == block0);
  CHECK_THROWS_AS(ledger.await_final(tx1.id(), std::chrono::seconds(1)), hefl::invalid_argument);

  // A reorganisation within the confirmation depth: the block holding tx1 is replaced.
  const auto snapshot = rpc.call("evm_snapshot");
  REQUIRE(ledger.submit(tx1) == tx1.id());
  const auto first = ledger.entries().at(1);
  REQUIRE(rpc.call("evm_revert", nlohmann::json::array({snapshot})).get<bool>());
  rpc.call("evm_mine");  // another block at the height that held tx1
  CHECK(rpc.block_number() == first.block_number);
  CHECK_THROWS_AS(ledger.await_final(tx1.id(), std::chrono::seconds(10)), ethereum_entry_reorganised);
  REQUIRE(ledger.entries().size() == 1);  // tx1 left the local view with its block
  CHECK_FALSE(ledger.verify_against_chain().has_value());

  // Submitted again, it lands on the new chain and becomes final after two more blocks.
  REQUIRE(ledger.submit(tx1) == tx1.id());
  const auto again = ledger.entries().at(1);
  CHECK(again.record.index == 1);
  CHECK(again.block_hash != first.block_hash);
  rpc.call("evm_mine");
  rpc.call("evm_mine");
  CHECK(ledger.await_final(tx1.id(), std::chrono::seconds(10)) == again.block_number);
  CHECK_FALSE(ledger.verify_against_chain().has_value());

  // Node down: await_final is a typed error, not a hang.
  chain.node.stop();
  CHECK_THROWS_AS(ledger.await_final(tx1.id(), std::chrono::seconds(2)), eth::node_unreachable);
}

TEST_CASE("ethereum_ledger: a transaction dropped from the pool is resubmitted with the same nonce",
          "[eth][ledger][ganache][failure]") {
  HEFL_GANACHE_OR_SKIP(tools);
  restartable r;
  hefl::testing::ganache_chain chain(tools, r.o);
  r.o.port = chain.node.port();  // the restarted node answers where the client asks
  auto& rpc = chain.rpc;
  auto& sender = chain.sender;
  ethereum_ledger_config config;
  config.receipt_timeout = std::chrono::milliseconds(500);
  ethereum_ledger ledger(rpc, sender, chain.audit_log, config);
  const std::array<std::uint8_t, 32> h{4};
  const auto tx0 = transaction::rule_check("3074257bf7194e4000001a85", "icu", "accepted", h, ledger_now());
  const auto nonce = rpc.transaction_count(sender.account(), "latest");

  // Mining stopped: the append waits in the pool, submit ends in receipt_timeout and keeps it pending.
  rpc.call("miner_stop");
  CHECK_THROWS_AS(ledger.submit(tx0), eth::receipt_timeout);
  CHECK(ledger.pending_count() == 1);
  CHECK(ledger.entries().empty());
  // The node restarts from its stored chain: its pool, and the transaction, are gone.
  chain.node.stop();
  const hefl::testing::ganache_process restarted(tools, r.o);
  CHECK(rpc.transaction_count(sender.account(), "pending") == nonce);
  // Resubmitted byte for byte: mined in its nonce slot, and the entry is recorded.
  CHECK(ledger.resubmit_pending() == 1);
  CHECK(ledger.pending_count() == 0);
  REQUIRE(ledger.entries().size() == 1);
  CHECK(ledger.entries()[0].tx.id() == tx0.id());
  CHECK(rpc.transaction_count(sender.account(), "latest") == nonce + 1);
  CHECK_FALSE(ledger.verify_against_chain().has_value());
}

TEST_CASE("batched_audit_ledger: confirmations before final, and a batch dropped by a reorganisation is resubmitted",
          "[eth][eth_batch][ganache][failure]") {
  HEFL_GANACHE_OR_SKIP(tools);
  hefl::testing::ganache_chain chain(tools);
  auto& rpc = chain.rpc;
  batched_audit_config config;
  config.confirmations = 2;
  config.pipelined = true;
  config.max_delay = 10s;  // batches close on flush(): nothing is resubmitted behind the test's back
  config.receipt_timeout = 30s;
  batched_audit_ledger ledger(rpc, chain.sender, chain.audit_log, config);
  const std::array<std::uint8_t, 32> h{5};
  const auto t = ledger_now();
  const auto tx0 = transaction::rule_check("3074257bf7194e4000001a85", "icu", "accepted", h, t);
  const auto tx1 = transaction::rule_check("3074257bf7194e4000001a86", "icu", "out_of_range", h, t);
  const auto tx2 = transaction::rule_check("3074257bf7194e4000001a87", "icu", "accepted", h, t);

  // Final only after 2 more blocks on top of the batch's block.
  REQUIRE(ledger.submit(tx0) == tx0.id());
  ledger.flush();
  (void)ledger.wait(tx0.id(), 30s);
  const auto block0 = ledger.batches().at(0).block_number;
  CHECK_THROWS_AS(ledger.await_final(tx0.id(), 300ms), eth::receipt_timeout);
  rpc.call("evm_mine");
  CHECK_THROWS_AS(ledger.await_final(tx0.id(), 300ms), eth::receipt_timeout);
  rpc.call("evm_mine");
  CHECK(ledger.await_final(tx0.id(), 10s) == block0);
  CHECK_THROWS_AS(ledger.await_final(tx1.id(), 1s), hefl::invalid_argument);

  // A reorganisation within the confirmation depth: the block holding batch 1 (tx1, tx2) is replaced.
  const auto snapshot = rpc.call("evm_snapshot");
  (void)ledger.submit(tx1);
  (void)ledger.submit(tx2);
  ledger.flush();
  const auto first = ledger.wait(tx1.id(), 30s);
  CHECK(first.batch == 1);
  const auto first_block = ledger.batches().at(1).block_number;
  REQUIRE(rpc.call("evm_revert", nlohmann::json::array({snapshot})).get<bool>());
  rpc.call("evm_mine");  // another block at the height that held batch 1
  CHECK(rpc.block_number() == first_block);
  CHECK_THROWS_AS(ledger.await_final(tx2.id(), 10s), ethereum_entry_reorganised);
  // Both entries of the batch left the local view; they wait in the open batch.
  CHECK(ledger.entries().size() == 1);
  CHECK(ledger.batches().size() == 1);
  CHECK_FALSE(ledger.confirmed(tx1.id()));
  CHECK_FALSE(ledger.confirmed(tx2.id()));
  CHECK_FALSE(ledger.verify_against_chain().has_value());

  // The ledger submits them again: they land on the new chain, in batch 1 again, and become final.
  ledger.flush();
  const auto again = ledger.wait(tx1.id(), 30s);
  CHECK(again.batch == 1);
  CHECK(ledger.wait(tx2.id(), 30s).root == again.root);
  CHECK_NOTHROW(eth::verify_inclusion(rpc, chain.audit_log, again));
  CHECK(ledger.entries().size() == 3);
  const auto block1 = ledger.batches().at(1).block_number;
  rpc.call("evm_mine");
  rpc.call("evm_mine");
  CHECK(ledger.await_final(tx1.id(), 10s) == block1);
  CHECK_FALSE(ledger.verify_against_chain().has_value());

  // Node down: await_final is a typed error, not a hang.
  chain.node.stop();
  CHECK_THROWS_AS(ledger.await_final(tx1.id(), 2s), eth::node_unreachable);
}

TEST_CASE("batched_audit_ledger: a batch dropped from the pool is resubmitted with the same nonce",
          "[eth][eth_batch][ganache][failure]") {
  HEFL_GANACHE_OR_SKIP(tools);
  restartable r;
  hefl::testing::ganache_chain chain(tools, r.o);
  r.o.port = chain.node.port();
  auto& rpc = chain.rpc;
  batched_audit_config config;
  config.pipelined = true;
  config.max_delay = 10s;
  config.receipt_timeout = 500ms;
  batched_audit_ledger ledger(rpc, chain.sender, chain.audit_log, config);
  const std::array<std::uint8_t, 32> h{6};
  const auto tx0 = transaction::rule_check("3074257bf7194e4000001a85", "icu", "accepted", h, ledger_now());
  const auto tx1 = transaction::rule_check("3074257bf7194e4000001a86", "icu", "accepted", h, ledger_now());
  const auto nonce = rpc.transaction_count(chain.sender.account(), "latest");

  // Mining stopped: the batch waits in the pool, its entries end in receipt_timeout and stay pending.
  rpc.call("miner_stop");
  (void)ledger.submit(tx0);
  (void)ledger.submit(tx1);
  ledger.flush();
  CHECK_THROWS_AS(ledger.wait(tx0.id(), 20s), eth::receipt_timeout);
  CHECK(ledger.pending_count() == 2);
  CHECK(ledger.entries().empty());
  // The node restarts from its stored chain: its pool, and the batch's transaction, are gone.
  chain.node.stop();
  const hefl::testing::ganache_process restarted(tools, r.o);
  CHECK(rpc.transaction_count(chain.sender.account(), "pending") == nonce);
  // Resubmitted byte for byte: mined in its nonce slot, and both entries are released.
  CHECK(ledger.resubmit_pending() == 2);
  CHECK(ledger.pending_count() == 0);
  CHECK(ledger.confirmed(tx0.id()));
  CHECK(ledger.wait(tx1.id(), 1s).batch == 0);
  REQUIRE(ledger.entries().size() == 2);
  CHECK(rpc.transaction_count(chain.sender.account(), "latest") == nonce + 1);
  CHECK_FALSE(ledger.verify_against_chain().has_value());
}
