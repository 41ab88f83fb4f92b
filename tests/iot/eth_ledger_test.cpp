// iot::ethereum_ledger on a ganache it starts itself: hefl ledger transactions become AuditLog
// entries, receipts are awaited, and the chain is re-read and checked against the local view.
#include <hefl/iot/ledger/ethereum/ethereum_ledger.hpp>

#include "eth_support.hpp"
#include "test_support.hpp"

#include <array>
#include <chrono>
#include <filesystem>
#include <memory>

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
  HEFL_GANACHE_OR_SKIP(tools);
  hefl::testing::ganache_chain chain(tools);
  const auto& rpc = chain.rpc;
  auto& sender = chain.sender;
  auto& node = chain.node;
  const eth::address audit_log = chain.audit_log;

  ethereum_ledger ledger(rpc, sender, audit_log);
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
  auto outsider = chain.sender_for(hefl::testing::ganache_key1);
  ethereum_ledger foreign(rpc, outsider, audit_log);
  // The message names the contract's error (NotWriter with the caller), decoded from the revert data
  // of the transaction replayed with eth_call, not a guess.
  CHECK_THROWS_WITH(foreign.submit(txs[0]), Catch::Contains("AuditLog.append reverted: NotWriter(" +
                                                            eth::to_hex(outsider.account()) + ")"));
  CHECK_THROWS_AS(foreign.submit(txs[1]), ethereum_entry_refused);
  CHECK(ledger.entries().size() == txs.size());
  CHECK_FALSE(ledger.verify_against_chain().has_value());

  node.stop();
  CHECK_THROWS_AS(ledger.submit(txs[0]), eth::node_unreachable);
  CHECK_THROWS_AS(ledger.verify_against_chain(), eth::node_unreachable);
}

TEST_CASE("ethereum_ledger: ganache stopped mid-run is node_unreachable, and after a restart submits resume",
          "[eth][ledger][ganache]") {
  HEFL_GANACHE_OR_SKIP(tools);
  hefl_test::temp_dir db("hefl-ganache-db-");
  hefl::testing::ganache_process::options o;
  o.db_path = db.path;
  hefl::testing::ganache_chain chain(tools, o);
  o.port = chain.node.port();  // the restart listens where the client already points
  ethereum_ledger ledger(chain.rpc, chain.sender, chain.audit_log);
  const std::array<std::uint8_t, 32> h{5};
  const auto tx0 = transaction::rule_check("3074257bf7194e4000001a85", "icu", "accepted", h, at(1));
  const auto tx1 = transaction::rule_check("3074257bf7194e4000001a85", "icu", "accepted", h, at(2));
  CHECK(ledger.submit(tx0) == tx0.id());

  chain.node.stop();
  CHECK_THROWS_AS(ledger.submit(tx1), eth::node_unreachable);
  CHECK(ledger.entries().size() == 1);

  const hefl::testing::ganache_process restarted(tools, o);  // same chain database, same port
  CHECK(ledger.submit(tx1) == tx1.id());  // the sender re-read its nonce from the node
  const auto entries = ledger.entries();
  REQUIRE(entries.size() == 2);
  CHECK(entries[1].record.index == 1);
  CHECK_FALSE(ledger.verify_against_chain().has_value());
}
