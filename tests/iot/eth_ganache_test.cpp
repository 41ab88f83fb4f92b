// AuditLog on a real Ethereum node: the test starts its own ganache (scripts/eth/install.sh installs
// it; scripts/test.sh runs that), deploys AuditLog with a transaction signed in C++, appends entries,
// awaits their receipts, reads the events back with eth_getLogs and checks them and the contract's
// hash chain; prints the gas per entry; submits from several threads; then stops the node and checks
// that the client reports it as down. Every wait is bounded.
#include <hefl/iot/ledger/ethereum/audit_log.hpp>
#include <hefl/iot/ledger/ethereum/sender.hpp>

#include "eth_support.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <thread>
#include <vector>

using namespace hefl::iot::ethereum;
using hefl::testing::ganache_chain;

namespace {


hash32 word_of(std::uint64_t v) {
  hash32 h{};
  for (int i = 0; i < 8; ++i) h[31 - i] = static_cast<std::uint8_t>(v >> (8 * i));
  return h;
}

// A view function with no arguments, read as one 32-byte word.
hash32 view(const json_rpc_client& rpc, const address& contract, std::string_view signature) {
  const hash32 sel = keccak256(signature);
  const bytes out = rpc.eth_call(contract, bytes(sel.begin(), sel.begin() + 4));
  REQUIRE(out.size() == 32);
  hash32 h{};
  std::copy(out.begin(), out.end(), h.begin());
  return h;
}

legacy_transaction call_tx(const json_rpc_client& rpc, const address& to, bytes data, std::uint64_t gas = 200000) {
  legacy_transaction tx;
  tx.gas_price = Botan::BigInt(rpc.gas_price());
  tx.gas_limit = gas;  // explicit, so a reverting call is mined (status 0) instead of failing estimation
  tx.to = to;
  tx.data = std::move(data);
  return tx;
}

audit_entry entry_for(std::uint64_t i, bool accepted) {
  audit_entry e;
  e.request_hash = keccak256(word_of(i));
  e.kind = static_cast<audit_kind>(i % 3);
  e.accepted = accepted;
  e.reason = accepted ? 0 : static_cast<std::uint16_t>(100 + i);
  e.device_id = word_of(0x3074257bf7194eULL + i);
  return e;
}

bool same_entry(const audit_entry& a, const audit_entry& b) {
  return a.request_hash == b.request_hash && a.kind == b.kind && a.accepted == b.accepted && a.reason == b.reason &&
         a.device_id == b.device_id;
}

address deploy_audit_log(const json_rpc_client& rpc, transaction_sender& sender) {
  legacy_transaction tx;
  tx.gas_price = Botan::BigInt(rpc.gas_price());
  tx.gas_limit = 1000000;
  tx.data = audit_log_abi::creation_code();
  const std::uint64_t nonce = rpc.transaction_count(sender.account());
  const signed_transaction st = sender.submit(tx);
  const receipt r = rpc.await_receipt(st.hash, std::chrono::seconds(60));
  REQUIRE(r.success);
  REQUIRE(r.contract_address.has_value());
  // The creation address is keccak256(rlp([sender, nonce]))[12..] (yellow paper, eq. 85).
  const hash32 h = keccak256(rlp::encode_list({rlp::encode_bytes(sender.account()), rlp::encode_uint(nonce)}));
  address expected{};
  std::copy(h.begin() + 12, h.end(), expected.begin());
  CHECK(*r.contract_address == expected);
  std::cout << "AuditLog deployment gas: " << r.gas_used << "\n";
  return *r.contract_address;
}
} // namespace

TEST_CASE("AuditLog on ganache: deploy, append, read back, concurrent submitters, node down", "[eth][ganache]") {
  HEFL_GANACHE_OR_SKIP(tools);
  ganache_chain chain(tools, {}, false);  // this test deploys AuditLog itself and checks the address
  auto& node = chain.node;
  const json_rpc_client& rpc = chain.rpc;
  REQUIRE(rpc.chain_id() == 1337);

  const secp256k1_key key = hefl::testing::account_key(hefl::testing::ganache_key0);
  const auto accounts = rpc.call("eth_accounts");
  REQUIRE(accounts.size() >= 2);
  CHECK(accounts[0].get<std::string>() == to_hex(key.account()));  // our address derivation agrees with ganache's
  transaction_sender& sender = chain.sender;

  const address log = deploy_audit_log(rpc, sender);

  // One entry: append, await, read back.
  const std::uint64_t from_block = rpc.block_number();
  const audit_entry first = entry_for(0, false);
  const signed_transaction st = sender.submit(call_tx(rpc, log, audit_log_abi::encode_append(first)));
  const receipt r = rpc.await_receipt(st.hash, std::chrono::seconds(60));
  REQUIRE(r.success);
  REQUIRE(r.logs.size() == 1);
  std::cout << "AuditLog.append gas, first entry: " << r.gas_used << "\n";

  log_filter filter;
  filter.emitter = log;
  filter.topics = {audit_log_abi::appended_topic()};
  filter.from_block = from_block;
  auto logs = rpc.logs(filter);
  REQUIRE(logs.size() == 1);
  const audit_record rec = audit_log_abi::decode_appended(logs[0]);
  CHECK(rec.index == 0);
  CHECK(same_entry(rec.entry, first));
  CHECK(rec.writer == key.account());
  CHECK(rec.transaction_hash == st.hash);
  CHECK(rec.block_number == r.block_number);
  CHECK(rec.timestamp > 1600000000);
  CHECK(rec.head == audit_log_abi::chain_head(hash32{}, rec));
  CHECK(view(rpc, log, "head()") == rec.head);
  CHECK(view(rpc, log, "count()") == word_of(1));

  // A second entry costs less: the count and head slots are no longer zero.
  const receipt r2 = rpc.await_receipt(sender.submit(call_tx(rpc, log, audit_log_abi::encode_append(entry_for(1, true)))).hash);
  REQUIRE(r2.success);
  std::cout << "AuditLog.append gas, later entries: " << r2.gas_used << "\n";
  CHECK(r2.gas_used < r.gas_used);

  // Refusals are mined as reverted transactions (status 0) and leave no entry.
  audit_entry bad_kind = entry_for(2, true);
  bad_kind.kind = static_cast<audit_kind>(3);
  CHECK_FALSE(rpc.await_receipt(sender.submit(call_tx(rpc, log, audit_log_abi::encode_append(bad_kind))).hash).success);
  auto outsider = chain.sender_for(hefl::testing::ganache_key1);
  CHECK_FALSE(rpc.await_receipt(outsider.submit(call_tx(rpc, log, audit_log_abi::encode_append(first))).hash).success);
  CHECK(view(rpc, log, "count()") == word_of(2));

  // Concurrent submitters share one sender: distinct nonces, every transaction mined.
  constexpr int threads = 4, per_thread = 5;
  std::vector<std::vector<hash32>> sent(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i)
        sent[t].push_back(sender.submit(call_tx(rpc, log, audit_log_abi::encode_append(entry_for(10 + t * per_thread + i, i % 2 == 0)))).hash);
    });
  for (auto& th : pool) th.join();
  for (const auto& hs : sent)
    for (const auto& h : hs) CHECK(rpc.await_receipt(h, std::chrono::seconds(60)).success);
  CHECK(view(rpc, log, "count()") == word_of(2 + threads * per_thread));

  // All entries read back: indices 0..n-1 once each, and the hash chain verifies from the start.
  filter.from_block = 0;
  logs = rpc.logs(filter);
  REQUIRE(logs.size() == 2 + threads * per_thread);
  std::map<std::uint64_t, audit_record> by_index;
  for (const auto& l : logs) {
    const audit_record a = audit_log_abi::decode_appended(l);
    CHECK(by_index.emplace(a.index, a).second);
  }
  hash32 head{};
  std::uint64_t expected_index = 0;
  for (const auto& [i, a] : by_index) {
    CHECK(i == expected_index++);
    head = audit_log_abi::chain_head(head, a);
    CHECK(a.head == head);
  }
  CHECK(view(rpc, log, "head()") == head);
  // A tampered record no longer fits the chain.
  audit_record forged = by_index.at(1);
  forged.entry.accepted = !forged.entry.accepted;
  CHECK(audit_log_abi::chain_head(by_index.at(0).head, forged) != forged.head);

  // Node down: the client says so with a typed error, and the sender forgets its nonce.
  node.stop();
  CHECK_THROWS_AS(rpc.chain_id(), node_unreachable);
  CHECK_THROWS_AS(sender.submit(call_tx(rpc, log, {})), hefl::io_error);
}

TEST_CASE("AuditLog on ganache with 1 s blocks: receipts are awaited across blocks", "[eth][ganache]") {
  HEFL_GANACHE_OR_SKIP(tools);
  hefl::testing::ganache_process::options one_second;
  one_second.block_time_s = 1;
  ganache_chain chain(tools, one_second, false);
  const json_rpc_client& rpc = chain.rpc;
  transaction_sender& sender = chain.sender;
  const address log = deploy_audit_log(rpc, sender);
  const signed_transaction st = sender.submit(call_tx(rpc, log, audit_log_abi::encode_append(entry_for(7, true))));
  // Not mined yet right after submission (the next block is up to 1 s away), then mined.
  const receipt r = rpc.await_receipt(st.hash, std::chrono::seconds(30), std::chrono::milliseconds(100));
  CHECK(r.success);
  CHECK(r.block_number >= 1);
}

namespace {
// Solidity ABI for setRule(string,uint64,bytes) and ruleOf(string): head words, then each dynamic
// argument as its length and its bytes padded to 32.
void put_word(bytes& out, std::uint64_t v) {
  const hash32 w = word_of(v);
  out.insert(out.end(), w.begin(), w.end());
}
void put_dynamic(bytes& out, std::string_view s) {
  put_word(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
  out.insert(out.end(), (32 - s.size() % 32) % 32, 0);
}
bytes selector(std::string_view signature) {
  const hash32 h = keccak256(signature);
  return bytes(h.begin(), h.begin() + 4);
}
bytes encode_set_rule(std::string_view group, std::uint64_t version, std::string_view document) {
  bytes out = selector("setRule(string,uint64,bytes)");
  put_word(out, 3 * 32);
  put_word(out, version);
  put_word(out, 3 * 32 + 32 + (group.size() + 31) / 32 * 32);
  put_dynamic(out, group);
  put_dynamic(out, document);
  return out;
}
struct installed_rule {
  std::uint64_t version = 0;
  hash32 document_hash{};
  std::string document;
};
installed_rule rule_of(const json_rpc_client& rpc, const address& registry, std::string_view group) {
  bytes call = selector("ruleOf(string)");
  put_word(call, 32);
  put_dynamic(call, group);
  const bytes out = rpc.eth_call(registry, call);
  REQUIRE(out.size() >= 5 * 32);
  installed_rule r;
  for (std::size_t i = 24; i < 32; ++i) r.version = r.version << 8 | out[i];
  std::copy(out.begin() + 32, out.begin() + 64, r.document_hash.begin());
  std::uint64_t len = 0;
  for (std::size_t i = 4 * 32 + 24; i < 5 * 32; ++i) len = len << 8 | out[i];
  REQUIRE(out.size() >= 5 * 32 + len);
  r.document.assign(out.begin() + 5 * 32, out.begin() + 5 * 32 + static_cast<std::ptrdiff_t>(len));
  return r;
}
} // namespace

TEST_CASE("RuleRegistry on ganache: admin-only, versions only go up, events on change", "[eth][ganache]") {
  HEFL_GANACHE_OR_SKIP(tools);
  ganache_chain chain(tools, {}, false);
  const json_rpc_client& rpc = chain.rpc;
  transaction_sender& admin = chain.sender;
  auto outsider = chain.sender_for(hefl::testing::ganache_key1);
  const address registry = chain.deploy(from_hex(hefl::iot::ethereum::contracts::rule_registry_bytecode), 2000000);

  const std::string group = "icu-monitors";
  const std::string v1 = R"({"group":"icu-monitors","version":1,"types":{"heart_rate":{"fields":{"bpm":{"type":"integer","int_min":20,"int_max":250}}}}})";
  const std::string v2 = R"({"group":"icu-monitors","version":2,"types":{"heart_rate":{"fields":{"bpm":{"type":"integer","int_min":25,"int_max":240}}}}})";
  const auto set = [&](transaction_sender& s, std::uint64_t version, const std::string& doc) {
    return rpc.await_receipt(s.submit(call_tx(rpc, registry, encode_set_rule(group, version, doc), 1000000)).hash);
  };
  CHECK(rule_of(rpc, registry, group).version == 0);

  const receipt r1 = set(admin, 1, v1);
  REQUIRE(r1.success);
  std::cout << "RuleRegistry.setRule gas, " << v1.size() << "-byte rule: " << r1.gas_used << "\n";
  REQUIRE(r1.logs.size() == 1);
  CHECK(r1.logs[0].topics.at(0) == keccak256(std::string_view("RuleSet(bytes32,string,uint64,bytes32)")));
  CHECK(r1.logs[0].topics.at(1) == keccak256(group));
  installed_rule got = rule_of(rpc, registry, group);
  CHECK(got.version == 1);
  CHECK(got.document == v1);
  CHECK(got.document_hash == keccak256(v1));

  CHECK_FALSE(set(admin, 1, v2).success);     // same version: StaleVersion
  CHECK_FALSE(set(outsider, 2, v2).success);  // not the admin: NotAdmin
  CHECK(rule_of(rpc, registry, group).document == v1);
  REQUIRE(set(admin, 2, v2).success);
  got = rule_of(rpc, registry, group);
  CHECK(got.version == 2);
  CHECK(got.document == v2);
  CHECK(rule_of(rpc, registry, "other-group").version == 0);
}
