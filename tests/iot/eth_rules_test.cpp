// The rule manager reading RuleRegistry on a ganache this test starts (issue 14): an admin-signed
// deployment installed with setRule is read back and installed in rule_manager, whose checks then use
// the on-chain ranges; a non-admin setRule and a stale version revert with a typed error; a rollback
// of the registry (evm_snapshot / evm_revert) is refused by the reader; a document signed by a
// non-admin certificate is refused by the rule manager even though the chain's admin sent it.
#include <hefl/iot/ledger/ethereum/rule_registry.hpp>
#include <hefl/iot/pki/pki.hpp>

#include "eth_support.hpp"
#include "test_support.hpp"

#include <botan/auto_rng.h>
#include <botan/ecdsa.h>

#include <array>
#include <chrono>
#include <string>

using namespace hefl::iot;
using namespace std::chrono_literals;
namespace eth = hefl::iot::ethereum;

namespace {

// The vital-signs contract at @p version with heart_rate bpm at most @p max_bpm.
std::string vital_signs(std::uint64_t version, std::int64_t max_bpm) {
  auto j = nlohmann::json::parse(vital_signs_example_contract);
  j["version"] = version;
  j["data_types"]["heart_rate"]["fields"]["bpm"]["max"] = max_bpm;
  return j.dump();
}
} // namespace

TEST_CASE("RuleRegistry document: a signed deployment round-trips, garbage is a parse_error", "[eth][rules]") {
  Botan::AutoSeeded_RNG rng;
  certificate_authority ca{"St Mary Hospital"};
  Botan::ECDSA_PrivateKey admin_key{rng, Botan::EC_Group("secp256r1")};
  identity id;
  id.role = role::admin;
  id.subject_id = "admin.root";
  const auto cert = ca.issue(admin_key, id, std::chrono::system_clock::now() - 1h, 24h);
  const auto d = sign_deployment(vital_signs_example_contract, admin_key, cert, rng);
  const auto back = eth::rule_registry_abi::deployment_of(eth::rule_registry_abi::document_of(d));
  CHECK(back.contract == d.contract);
  CHECK(back.signature == d.signature);
  CHECK(back.signer == d.signer);
  const std::string junk = "{\"contract\": 5}";
  CHECK_THROWS_AS(eth::rule_registry_abi::deployment_of(eth::bytes(junk.begin(), junk.end())), hefl::parse_error);
  CHECK_THROWS_AS(eth::rule_registry_abi::decode_rule_of(eth::bytes(40, 0)), eth::malformed_reply);
}

TEST_CASE("rule_registry_reader on ganache: on-chain rules feed the rule manager, admin-only, no rollback",
          "[eth][ganache][rules]") {
  HEFL_GANACHE_OR_SKIP(tools);
  hefl::testing::ganache_chain chain(tools, {}, false);
  const auto& rpc = chain.rpc;
  auto& chain_admin = chain.sender;
  auto outsider = chain.sender_for(hefl::testing::ganache_key1);
  const eth::address registry = chain.deploy(eth::from_hex(eth::contracts::rule_registry_bytecode), 2000000);

  Botan::AutoSeeded_RNG rng;
  const auto t0 = std::chrono::system_clock::now();
  certificate_authority ca{"St Mary Hospital", t0 - 2h};
  trust_store trust = trust_store::in_memory();
  trust.add_root(ca.root());
  trust.add_crl(ca.crl());
  const auto person = [&](const Botan::Private_Key& k, role r, const char* name) {
    identity id;
    id.role = r;
    id.subject_id = name;
    return ca.issue(k, id, t0 - 1h, 24h);
  };
  Botan::ECDSA_PrivateKey admin_key{rng, Botan::EC_Group("secp256r1")};
  Botan::ECDSA_PrivateKey doctor_key{rng, Botan::EC_Group("secp256r1")};
  const auto admin_cert = person(admin_key, role::admin, "admin.root");
  const auto doctor_cert = person(doctor_key, role::doctor, "dr.house");
  rule_manager<> rules{[&](const Botan::X509_Certificate& c) {
                         return validate_chain(c, trust, cert_usage::any, t0, {role::admin}).ok();
                       },
                       [](const deployment_event&) {}};
  const std::string group = "vital-signs";
  const auto timeout = std::chrono::seconds(30);
  const auto heart = [](std::int64_t bpm) { return hefl_test::vital("heart_rate", "bpm", bpm); };
  const auto now = [] { return iot_clock::now(); };

  rule_registry_reader reader(rpc, registry);
  CHECK_FALSE(reader.sync(group, rules).has_value());  // nothing on chain yet
  CHECK(rules.group_count() == 0);
  CHECK_FALSE(rules.check(1, "dev-1", heart(72), now()).ok());  // unknown group

  // Version 1 (bpm <= 250) installed on chain by the admin account, read and installed.
  set_rule(rpc, chain_admin, registry, group, 1, sign_deployment(vital_signs(1, 250), admin_key, admin_cert, rng), timeout);
  const auto e1 = reader.sync(group, rules);
  REQUIRE(e1.has_value());
  INFO(e1->message);
  CHECK(e1->accepted());
  CHECK(reader.synced_version(group) == 1);
  CHECK_FALSE(reader.sync(group, rules).has_value());  // same version: nothing to do
  CHECK(rules.check(1, "dev-1", heart(240), now()).ok());
  const auto eth_snapshot = rpc.call("evm_snapshot");

  // A non-admin account cannot set a rule: typed not_admin, and nothing changes on chain.
  try {
    set_rule(rpc, outsider, registry, group, 2, sign_deployment(vital_signs(2, 200), admin_key, admin_cert, rng), timeout);
    FAIL("a non-admin setRule was accepted");
  } catch (const rule_registry_refused& e) {
    CHECK(e.reason() == rule_registry_refused::reason_kind::not_admin);
    // The contract's own error, decoded from the replayed call's revert data, with the caller's address.
    CHECK_THAT(e.what(), Catch::Contains("NotAdmin(" + eth::to_hex(outsider.account()) + ")"));
  }
  CHECK_FALSE(reader.sync(group, rules).has_value());

  // Version 2 tightens bpm to <= 200: the manager checks against it once synced.
  set_rule(rpc, chain_admin, registry, group, 2, sign_deployment(vital_signs(2, 200), admin_key, admin_cert, rng), timeout);
  const auto e2 = reader.sync(group, rules);
  REQUIRE(e2.has_value());
  CHECK(e2->accepted());
  CHECK(e2->installed_version == 1);
  const auto tight = rules.check(1, "dev-2", heart(240), now());
  REQUIRE_FALSE(tight.ok());
  CHECK(tight.violation().kind == rule_violation_kind::out_of_range);
  CHECK(rules.check(1, "dev-2", heart(120), now()).ok());

  // The same version again: typed stale_version.
  try {
    set_rule(rpc, chain_admin, registry, group, 2, sign_deployment(vital_signs(2, 180), admin_key, admin_cert, rng), timeout);
    FAIL("a stale setRule was accepted");
  } catch (const rule_registry_refused& e) {
    CHECK(e.reason() == rule_registry_refused::reason_kind::stale_version);
    CHECK_THAT(e.what(), Catch::Contains("StaleVersion(2, 2)"));
  }

  // The chain admin installs a document signed by a doctor: the rule manager refuses it (not_admin).
  set_rule(rpc, chain_admin, registry, group, 3, sign_deployment(vital_signs(3, 300), doctor_key, doctor_cert, rng), timeout);
  const auto e3 = reader.sync(group, rules);
  REQUIRE(e3.has_value());
  CHECK(e3->status == deployment_status::not_admin);
  CHECK(reader.synced_version(group) == 2);
  CHECK_FALSE(rules.check(1, "dev-3", heart(240), now()).ok());  // still version 2's range

  // A registry version that disagrees with its document's version is refused.
  set_rule(rpc, chain_admin, registry, group, 5, sign_deployment(vital_signs(4, 200), admin_key, admin_cert, rng), timeout);
  CHECK_THROWS_AS(reader.sync(group, rules), hefl::parse_error);

  // The chain rolled back to before version 2 (evm_revert): the reader refuses the lower version.
  REQUIRE(rpc.call("evm_revert", nlohmann::json::array({eth_snapshot})).get<bool>());
  CHECK_THROWS_AS(reader.sync(group, rules), rule_rollback);
  CHECK(reader.synced_version(group) == 2);
  CHECK(rules.contract(1)->version == 2);
}
