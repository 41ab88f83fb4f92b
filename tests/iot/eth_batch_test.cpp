// iot::batched_audit_ledger on a ganache it starts itself: many AuditLog entries under one Merkle root
// per transaction, each entry's inclusion proof checked against the root read back from the chain,
// and tampered entries, proofs and roots refused with batch_proof_refused.
#include <hefl/iot.hpp>
#include <hefl/iot/ledger/ethereum/batched_audit_ledger.hpp>

#include "eth_support.hpp"

#include <botan/auto_rng.h>

#include <array>
#include <chrono>
#include <iostream>
#include <set>
#include <thread>

using namespace hefl::iot;
using namespace std::chrono_literals;
namespace eth = hefl::iot::ethereum;

namespace {
ledger_time at(std::int64_t ms) { return ledger_time(std::chrono::milliseconds(ms)); }
transaction check_of(std::size_t i) {
  const std::array<std::uint8_t, 32> payload_hash{static_cast<std::uint8_t>(i), static_cast<std::uint8_t>(i >> 8)};
  return transaction::rule_check("3074257bf7194e4000001a85", "icu", i % 7 == 0 ? "out_of_range" : "accepted", payload_hash,
                                 at(static_cast<std::int64_t>(1000 + i)));
}
} // namespace

TEST_CASE("audit batches: the ABI of appendBatch and the leaf of an entry", "[eth][eth_batch]") {
  const auto e = ethereum_ledger::entry_of(check_of(1));
  const sha256_digest root{7};
  const eth::bytes call = eth::audit_batch_abi::encode_append_batch(root, 1000);
  REQUIRE(call.size() == 4 + 2 * 32);
  CHECK(eth::to_hex(std::span<const std::uint8_t>(call).first(4)) ==
        eth::to_hex(std::span<const std::uint8_t>(eth::keccak256(std::string_view("appendBatch(bytes32,uint32)"))).first(4)));
  CHECK(call[4 + 32 + 30] == 0x03);  // 1000 = 0x03e8, right-aligned
  CHECK(call[4 + 32 + 31] == 0xe8);
  // The leaf binds every field of the entry.
  const sha256_digest leaf = eth::audit_batch_abi::leaf_of(e);
  auto changed = e;
  changed.accepted = !changed.accepted;
  CHECK(eth::audit_batch_abi::leaf_of(changed) != leaf);
  changed = e;
  changed.reason = 9;
  CHECK(eth::audit_batch_abi::leaf_of(changed) != leaf);
  changed = e;
  changed.device_id[31] ^= 1;
  CHECK(eth::audit_batch_abi::leaf_of(changed) != leaf);
  // A log that is not a BatchAppended event is refused.
  eth::log_entry l;
  l.topics = {eth::audit_log_abi::appended_topic(), {}, {}};
  l.data.resize(128);
  CHECK_THROWS_AS(eth::audit_batch_abi::decode_batch_appended(l), eth::malformed_reply);
}

TEST_CASE("batched_audit_ledger: 1000 entries in one transaction, each proof verified against the chain; "
          "a tampered entry, proof or root is refused",
          "[eth][eth_batch][ganache]") {
  HEFL_GANACHE_OR_SKIP(tools);
  hefl::testing::ganache_chain chain(tools);
  const auto& rpc = chain.rpc;
  auto& sender = chain.sender;
  const eth::address audit_log = chain.audit_log;
  const std::uint64_t nonce_before = rpc.transaction_count(sender.account(), "latest");

  batched_audit_config cfg;
  cfg.max_batch = 1000;
  cfg.max_delay = 60s;  // the batch closes on size
  cfg.pipelined = true;
  batched_audit_ledger ledger(rpc, sender, audit_log, cfg);
  std::vector<sha256_digest> ids;
  for (std::size_t i = 0; i < 1000; ++i) ids.push_back(ledger.submit(check_of(i)));
  for (const auto& id : ids) (void)ledger.wait(id, 60s);

  // One transaction for the 1000 entries.
  CHECK(rpc.transaction_count(sender.account(), "latest") == nonce_before + 1);
  const auto batches = ledger.batches();
  REQUIRE(batches.size() == 1);
  CHECK(batches[0].entries == 1000);
  CHECK(batches[0].batch == 0);
  const auto gas = ledger.gas_used();
  REQUIRE(gas.size() == 1);
  std::cout << "batched_audit_ledger: appendBatch of 1000 entries used " << gas[0] << " gas in one transaction\n";
  CHECK(gas[0] < 100000);
  const auto entries = ledger.entries();
  REQUIRE(entries.size() == 1000);
  std::set<std::uint64_t> positions;
  for (const auto& e : entries) positions.insert(e.inclusion.proof.index);
  CHECK(positions.size() == 1000);
  CHECK(ledger.confirmed(ids[0]));
  CHECK(ledger.confirmed(ids[999]));

  // A reader checks entries against the root it reads from the chain.
  for (std::size_t i : {0U, 1U, 511U, 998U, 999U}) {
    const auto rec = eth::verify_inclusion(rpc, audit_log, entries[i].inclusion);
    CHECK(rec.root == batches[0].root);
    CHECK(entries[i].inclusion.entry.request_hash == eth::hash32(entries[i].tx.id()));
  }
  CHECK_FALSE(ledger.verify_against_chain().has_value());

  // Tampered entry: a rejected check turned into an accepted one.
  auto bad = entries[7].inclusion;
  REQUIRE_FALSE(bad.entry.accepted);
  bad.entry.accepted = true;
  bad.entry.reason = 0;
  CHECK_THROWS_AS(eth::verify_inclusion(rpc, audit_log, bad), eth::batch_proof_refused);
  // Tampered entry: another request hash.
  bad = entries[8].inclusion;
  bad.entry.request_hash[0] ^= 1;
  CHECK_THROWS_AS(eth::verify_inclusion(rpc, audit_log, bad), eth::batch_proof_refused);
  // Tampered proof: a sibling hash, the index, the tree size.
  bad = entries[9].inclusion;
  bad.proof.path[3][5] ^= 0x40;
  CHECK_THROWS_AS(eth::verify_inclusion(rpc, audit_log, bad), eth::batch_proof_refused);
  bad = entries[9].inclusion;
  bad.proof.index = 10;
  CHECK_THROWS_AS(eth::verify_inclusion(rpc, audit_log, bad), eth::batch_proof_refused);
  // Tampered root: a forged tree with the entry in it gives a consistent proof for a root the chain never saw.
  std::vector<sha256_digest> forged_leaves = {eth::audit_batch_abi::leaf_of(entries[9].inclusion.entry), sha256_digest{1}};
  const merkle_tree forged(forged_leaves);
  bad = entries[9].inclusion;
  bad.root = forged.root();
  bad.proof = forged.proof(0);
  REQUIRE(merkle_tree::verify_proof(forged_leaves[0], bad.proof, bad.root));
  CHECK_THROWS_AS(eth::verify_inclusion(rpc, audit_log, bad), eth::batch_proof_refused);
  // A batch index the chain does not have.
  bad = entries[9].inclusion;
  bad.batch = 5;
  CHECK_THROWS_AS(eth::verify_inclusion(rpc, audit_log, bad), eth::batch_proof_refused);
}

TEST_CASE("batched_audit_ledger: a batch closes on its time bound; submit returns once the root is mined; "
          "a non-writer's batch is refused",
          "[eth][eth_batch][ganache]") {
  HEFL_GANACHE_OR_SKIP(tools);
  hefl::testing::ganache_chain chain(tools);
  const auto& rpc = chain.rpc;
  auto& sender = chain.sender;
  const eth::address audit_log = chain.audit_log;
  {
    batched_audit_config cfg;
    cfg.max_batch = 1000;
    cfg.max_delay = 200ms;  // far below 1000 entries: the time bound closes the batches
    batched_audit_ledger ledger(rpc, sender, audit_log, cfg);
    std::vector<std::thread> threads;
    std::vector<sha256_digest> ids(8);
    for (std::size_t t = 0; t < 8; ++t)
      threads.emplace_back([&, t] {
        ids[t] = ledger.submit(check_of(100 + t));
        CHECK(ledger.confirmed(ids[t]));  // not pipelined: on chain when submit returns
      });
    for (auto& th : threads) th.join();
    const auto batches = ledger.batches();
    REQUIRE_FALSE(batches.empty());
    std::uint64_t total = 0;
    for (const auto& b : batches) total += b.entries;
    CHECK(total == 8);
    CHECK(ledger.entries().size() == 8);
    CHECK_FALSE(ledger.verify_against_chain().has_value());
    // Kinds AuditLog does not record are refused before anything is batched.
    CHECK_THROWS_AS(ledger.submit(transaction(tx_kind::custom, {{"type", "note"}}, at(5))), ethereum_entry_refused);
  }
  // Ganache's second account is not a writer: its batch reverts and its entry fails with a typed error.
  auto stranger = chain.sender_for(hefl::testing::ganache_key1);
  batched_audit_config cfg;
  cfg.max_delay = 50ms;
  batched_audit_ledger refused(rpc, stranger, audit_log, cfg);
  CHECK_THROWS_AS(refused.submit(check_of(1)), ethereum_entry_refused);
  // The message names the contract's error, decoded from the replayed appendBatch's revert data.
  CHECK_THROWS_WITH(refused.submit(check_of(2)), Catch::Contains("AuditLog.appendBatch reverted: NotWriter(" +
                                                                 eth::to_hex(stranger.account()) + ")"));
  CHECK(refused.batches().empty());
  CHECK(refused.entries().empty());
}

TEST_CASE("collector_validator with batched_audit_ledger logs its verdicts under a Merkle root", "[eth][eth_batch][ganache]") {
  HEFL_GANACHE_OR_SKIP(tools);
  Botan::AutoSeeded_RNG rng;
  const clock_time t0 = std::chrono::system_clock::now();
  certificate_authority ca{"St Mary Hospital", t0 - 2h};
  trust_store trust = trust_store::in_memory();
  trust.add_root(ca.root());
  trust.add_crl(ca.crl());
  const key_pair admin_keys = ecdsa_p256_signing::generate(rng);
  const auto admin = ca.issue(*admin_keys.public_key, identity{role::admin, "admin.root", {}, 0, 0}, t0 - 1h, 24h);
  const key_pair device_keys = ecdsa_p256_signing::generate(rng);
  const sgtin96 epc = sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345.7", 1);
  const auto device = ca.issue(*device_keys.public_key, identity{role::device, "device-7", epc, 1, 1}, t0 - 1h, 24h);
  rule_manager<> rules(
      [&](const Botan::X509_Certificate& c) {
        return validate_chain(c, trust, cert_usage::any, std::chrono::system_clock::now(), {role::admin}).ok();
      },
      [](const deployment_event&) {});
  REQUIRE(rules.deploy(sign_deployment(vital_signs_example_contract, *admin_keys.private_key, admin, rng)).accepted());
  replay_guard replay;

  hefl::testing::ganache_chain chain(tools);
  const auto& rpc = chain.rpc;
  const eth::address audit_log = chain.audit_log;
  batched_audit_config cfg;
  cfg.max_delay = 50ms;
  batched_audit_ledger chain_log(rpc, chain.sender, audit_log, cfg);

  collector_validator_options o;
  o.collector_id = "collector-icu";
  collector_validator<trust_store_certificates, ecdsa_p256_signing, rule_manager<>, replay_guard, batched_audit_ledger> v(
      trust_store_certificates(trust), rules, replay, chain_log, o);
  const request req = make_signed_request(epc, "collector-icu", "p-1001", payload{"heart_rate", {{"bpm", nlohmann::json(72)}}},
                                          request_now(), *device_keys.private_key, rng);
  const auto verdict = v.validate({device}, req, std::chrono::system_clock::now());
  REQUIRE(verdict.accepted());
  REQUIRE(verdict.ledger_tx.has_value());
  CHECK(chain_log.confirmed(*verdict.ledger_tx));
  const auto again = v.validate({device}, req, std::chrono::system_clock::now());
  CHECK_FALSE(again.accepted());

  const auto entries = chain_log.entries();
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].tx.kind() == tx_kind::rule_check);
  CHECK(entries[0].inclusion.entry.accepted);
  CHECK_FALSE(entries[1].inclusion.entry.accepted);
  for (const auto& e : entries) CHECK_NOTHROW(eth::verify_inclusion(rpc, audit_log, e.inclusion));
  CHECK_FALSE(chain_log.verify_against_chain().has_value());
}
