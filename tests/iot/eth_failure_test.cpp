// ethereum_ledger's failure handling on a ganache this test starts (issue 14): an entry is final only
// with config.confirmations blocks on top of it (bounded wait, receipt_timeout otherwise); a
// reorganisation that drops the entry's block (evm_snapshot, submit, evm_revert, a different block
// mined at that height) is reported as ethereum_entry_reorganised, the entry leaves entries(), and
// submitting it again lands it on the new chain (the sender re-reads its nonce).
#include <hefl/iot/ledger/ethereum/ethereum_ledger.hpp>
#include <hefl/testing/ganache.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <filesystem>
#include <memory>

#include <unistd.h>

#ifndef HEFL_ETH_TOOLS_DEFAULT
#define HEFL_ETH_TOOLS_DEFAULT ".eth-tools"
#endif

using namespace hefl::iot;
namespace eth = hefl::iot::ethereum;

TEST_CASE("ethereum_ledger: confirmations before final, and a reorganisation is reported and resubmitted",
          "[eth][ledger][ganache][failure]") {
  const auto tools = hefl::testing::eth_tools_dir(HEFL_ETH_TOOLS_DEFAULT);
  if (hefl::testing::ganache_cli(tools).empty()) {
    WARN("SKIPPED: ganache is not installed under " << tools << " (scripts/eth/install.sh installs it)");
    return;
  }
  hefl::testing::ganache_process node(tools, 0);
  const eth::json_rpc_client rpc("127.0.0.1", node.port(), std::chrono::seconds(20));
  eth::transaction_sender sender(rpc, hefl::testing::account_key(hefl::testing::ganache_key0), rpc.chain_id());
  eth::legacy_transaction deploy;
  deploy.gas_price = Botan::BigInt(rpc.gas_price());
  deploy.gas_limit = 1000000;
  deploy.data = eth::audit_log_abi::creation_code();
  const eth::receipt dr = rpc.await_receipt(sender.submit(deploy).hash, std::chrono::seconds(30));
  REQUIRE(dr.success);
  ethereum_ledger_config config;
  config.confirmations = 2;
  config.receipt_timeout = std::chrono::seconds(30);
  ethereum_ledger ledger(rpc, sender, *dr.contract_address, config);
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
  node.stop();
  CHECK_THROWS_AS(ledger.await_final(tx1.id(), std::chrono::seconds(2)), eth::node_unreachable);
}

TEST_CASE("ethereum_ledger: a transaction dropped from the pool is resubmitted with the same nonce",
          "[eth][ledger][ganache][failure]") {
  const auto tools = hefl::testing::eth_tools_dir(HEFL_ETH_TOOLS_DEFAULT);
  if (hefl::testing::ganache_cli(tools).empty()) {
    WARN("SKIPPED: ganache is not installed under " << tools << " (scripts/eth/install.sh installs it)");
    return;
  }
  const auto db = std::filesystem::temp_directory_path() / ("hefl-ganache-drop-" + std::to_string(::getpid()));
  std::filesystem::remove_all(db);
  std::filesystem::create_directories(db);
  hefl::testing::ganache_process::options o;
  o.db_path = db;
  auto node = std::make_unique<hefl::testing::ganache_process>(tools, o);
  o.port = node->port();
  const eth::json_rpc_client rpc("127.0.0.1", o.port, std::chrono::seconds(20));
  eth::transaction_sender sender(rpc, hefl::testing::account_key(hefl::testing::ganache_key0), rpc.chain_id());
  eth::legacy_transaction deploy;
  deploy.gas_price = Botan::BigInt(rpc.gas_price());
  deploy.gas_limit = 1000000;
  deploy.data = eth::audit_log_abi::creation_code();
  const eth::receipt dr = rpc.await_receipt(sender.submit(deploy).hash, std::chrono::seconds(30));
  REQUIRE(dr.success);
  ethereum_ledger_config config;
  config.receipt_timeout = std::chrono::milliseconds(500);
  ethereum_ledger ledger(rpc, sender, *dr.contract_address, config);
  const std::array<std::uint8_t, 32> h{4};
  const auto tx0 = transaction::rule_check("3074257bf7194e4000001a85", "icu", "accepted", h, ledger_now());
  const auto nonce = rpc.transaction_count(sender.account(), "latest");

  // Mining stopped: the append waits in the pool, submit ends in receipt_timeout and keeps it pending.
  rpc.call("miner_stop");
  CHECK_THROWS_AS(ledger.submit(tx0), eth::receipt_timeout);
  CHECK(ledger.pending_count() == 1);
  CHECK(ledger.entries().empty());
  // The node restarts from its stored chain: its pool, and the transaction, are gone.
  node->stop();
  node.reset();
  node = std::make_unique<hefl::testing::ganache_process>(tools, o);
  CHECK(rpc.transaction_count(sender.account(), "pending") == nonce);
  // Resubmitted byte for byte: mined in its nonce slot, and the entry is recorded.
  CHECK(ledger.resubmit_pending() == 1);
  CHECK(ledger.pending_count() == 0);
  REQUIRE(ledger.entries().size() == 1);
  CHECK(ledger.entries()[0].tx.id() == tx0.id());
  CHECK(rpc.transaction_count(sender.account(), "latest") == nonce + 1);
  CHECK_FALSE(ledger.verify_against_chain().has_value());
  node.reset();
  std::filesystem::remove_all(db);
}
