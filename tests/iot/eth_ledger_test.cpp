// iot::ethereum_ledger on a ganache it starts itself: hefl ledger transactions become AuditLog
// entries, receipts are awaited, and the chain is re-read and checked against the local view.
#include <hefl/iot/ledger/ethereum/ethereum_ledger.hpp>
#include <hefl/testing/ganache.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <filesystem>
#include <memory>

#ifndef HEFL_ETH_TOOLS_DEFAULT
#define HEFL_ETH_TOOLS_DEFAULT ".eth-tools"
#endif

using namespace hefl::iot;
namespace eth = hefl::iot::ethereum;

namespace {
ledger_time at(std::int64_t ms) { return ledger_time(std::chrono::milliseconds(ms)); }
} // namespace

TEST_CASE("ethereum_ledger: entries of a transaction", "[eth][ledger]") {
  const std::array<std::uint8_t, 32> payload_hash{1, 2, 3};
  const auto tx = transaction::rule_check("3074257bf7194e4000001a85", "icu", "accepted", payload_hash, at(1000));
  const eth::audit_entry e = ethereum_ledger::entry_of(tx);
  CHECK(std::equal(e.request_hash.begin(), e.request_hash.end(), tx.id().begin()));
  CHECK(e.kind == eth::audit_kind::rule_check);
  CHECK(e.accepted);
  CHECK(e.reason == 0);
  CHECK(eth::to_hex(e.device_id) == "0x3074257bf7194e4000001a850000000000000000000000000000000000000000");
  const auto refused = ethereum_ledger::entry_of(transaction::rule_check("3074257bf7194e4000001a85", "icu", "out_of_range", payload_hash, at(1000)));
  CHECK_FALSE(refused.accepted);
  CHECK(refused.reason == 1);
  CHECK_FALSE(ethereum_ledger::entry_of(transaction::access("dr-who", "patient-7", false, at(5))).accepted);
  CHECK(ethereum_ledger::entry_of(transaction::access("dr-who", "patient-7", true, at(5))).device_id ==
        eth::keccak256(std::string_view("patient-7")));
  CHECK_THROWS_AS(ethereum_ledger::entry_of(transaction(tx_kind::custom, {{"type", "note"}}, at(5))), ethereum_entry_refused);
}

TEST_CASE("ethereum_ledger on ganache: submit, read back, verify against the chain", "[eth][ledger][ganache]") {
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
  const eth::receipt dr = rpc.await_receipt(sender.submit(deploy).hash);
  REQUIRE(dr.success);

  ethereum_ledger ledger(rpc, sender, *dr.contract_address);
  const std::array<std::uint8_t, 32> payload_hash{9};
  const std::vector<transaction> txs = {
      transaction::rule_check("3074257bf7194e4000001a85", "icu", "accepted", payload_hash, at(1000)),
      transaction::rule_check("3074257bf7194e4000001a86", "icu", "out_of_range", payload_hash, at(1001)),
      transaction::record_stored("rec-1", "patient-7", payload_hash, at(1002)),
      transaction::access("dr-who", "patient-7", false, at(1003))};
  for (const auto& tx : txs) CHECK(ledger.submit(tx) == tx.id());
  const auto entries = ledger.entries();
  REQUIRE(entries.size() == txs.size());
  for (std::size_t i = 0; i < txs.size(); ++i) {
    CHECK(entries[i].record.index == i);
    CHECK(entries[i].tx.id() == txs[i].id());
  }
  CHECK_FALSE(ledger.verify_against_chain().has_value());

  // Kinds AuditLog does not record are refused before anything is sent.
  CHECK_THROWS_AS(ledger.submit(transaction(tx_kind::custom, {{"type", "note"}}, at(7))), ethereum_entry_refused);
  // An account that is not a writer: the append reverts and submit says so.
  eth::transaction_sender outsider(rpc, hefl::testing::account_key(hefl::testing::ganache_key1), rpc.chain_id());
  ethereum_ledger foreign(rpc, outsider, *dr.contract_address);
  CHECK_THROWS_AS(foreign.submit(txs[0]), ethereum_entry_refused);
  CHECK(ledger.entries().size() == txs.size());
  CHECK_FALSE(ledger.verify_against_chain().has_value());

  node.stop();
  CHECK_THROWS_AS(ledger.submit(txs[0]), eth::node_unreachable);
  CHECK_THROWS_AS(ledger.verify_against_chain(), eth::node_unreachable);
}

TEST_CASE("ethereum_ledger: ganache stopped mid-run is node_unreachable, and after a restart submits resume",
          "[eth][ledger][ganache]") {
  const auto tools = hefl::testing::eth_tools_dir(HEFL_ETH_TOOLS_DEFAULT);
  if (hefl::testing::ganache_cli(tools).empty()) {
    WARN("SKIPPED: ganache is not installed under " << tools << " (scripts/eth/install.sh installs it)");
    return;
  }
  const auto db = std::filesystem::temp_directory_path() / ("hefl-ganache-db-" + std::to_string(::getpid()));
  std::filesystem::remove_all(db);
  std::filesystem::create_directories(db);
  hefl::testing::ganache_process::options o;
  o.db_path = db;
  auto node = std::make_unique<hefl::testing::ganache_process>(tools, o);
  o.port = node->port();  // the restart listens where the client already points
  const eth::json_rpc_client rpc("127.0.0.1", o.port, std::chrono::seconds(20));
  eth::transaction_sender sender(rpc, hefl::testing::account_key(hefl::testing::ganache_key0), rpc.chain_id());
  eth::legacy_transaction deploy;
  deploy.gas_price = Botan::BigInt(rpc.gas_price());
  deploy.gas_limit = 1000000;
  deploy.data = eth::audit_log_abi::creation_code();
  const eth::receipt dr = rpc.await_receipt(sender.submit(deploy).hash);
  REQUIRE(dr.success);
  ethereum_ledger ledger(rpc, sender, *dr.contract_address);
  const std::array<std::uint8_t, 32> h{5};
  const auto tx0 = transaction::rule_check("3074257bf7194e4000001a85", "icu", "accepted", h, at(1));
  const auto tx1 = transaction::rule_check("3074257bf7194e4000001a85", "icu", "accepted", h, at(2));
  CHECK(ledger.submit(tx0) == tx0.id());

  node->stop();
  CHECK_THROWS_AS(ledger.submit(tx1), eth::node_unreachable);
  CHECK(ledger.entries().size() == 1);

  node = std::make_unique<hefl::testing::ganache_process>(tools, o);  // same chain database, same port
  CHECK(ledger.submit(tx1) == tx1.id());  // the sender re-read its nonce from the node
  const auto entries = ledger.entries();
  REQUIRE(entries.size() == 2);
  CHECK(entries[1].record.index == 1);
  CHECK_FALSE(ledger.verify_against_chain().has_value());
  node.reset();
  std::filesystem::remove_all(db);
}
