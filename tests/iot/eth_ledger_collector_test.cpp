// The collector validator, unchanged, with iot::ethereum_ledger as its ledger policy: an accepted
// request's rule check lands in AuditLog on a ganache the test starts itself.
#include <hefl/iot.hpp>
#include <hefl/iot/ledger/ethereum/ethereum_ledger.hpp>

#include "eth_support.hpp"

#include <botan/auto_rng.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <string>

using namespace hefl::iot;
using namespace std::chrono_literals;
namespace eth = hefl::iot::ethereum;

TEST_CASE("collector_validator with ethereum_ledger logs its verdicts in AuditLog", "[eth][ledger][ganache]") {
  HEFL_GANACHE_OR_SKIP(tools);
  // A hospital CA, an admin who deploys the example rule contract, one device.
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

  // The chain: ganache, AuditLog deployed by ganache's first account, the ledger over it.
  hefl::testing::ganache_chain chain(tools);
  ethereum_ledger chain_log(chain.rpc, chain.sender, chain.audit_log);

  collector_validator_options o;
  o.collector_id = "collector-icu";
  collector_validator<trust_store_certificates, ecdsa_p256_signing, rule_manager<>, replay_guard, ethereum_ledger> v(
      trust_store_certificates(trust), rules, replay, chain_log, o);
  const request req = make_signed_request(epc, "collector-icu", "p-1001", payload{"heart_rate", {{"bpm", nlohmann::json(72)}}},
                                          request_now(), *device_keys.private_key, rng);
  const auto verdict = v.validate({device}, req, std::chrono::system_clock::now());
  REQUIRE(verdict.accepted());
  // The same request again is a replay: refused, and that verdict is logged too.
  const auto again = v.validate({device}, req, std::chrono::system_clock::now());
  CHECK_FALSE(again.accepted());

  const auto entries = chain_log.entries();
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].tx.kind() == tx_kind::rule_check);
  CHECK(entries[0].record.entry.accepted);
  CHECK_FALSE(entries[1].record.entry.accepted);
  std::string epc_hex = epc.to_hex();
  std::transform(epc_hex.begin(), epc_hex.end(), epc_hex.begin(), [](unsigned char c) { return std::tolower(c); });
  CHECK(eth::to_hex(entries[0].record.entry.device_id) == "0x" + epc_hex + std::string(64 - 24, '0'));
  CHECK_FALSE(chain_log.verify_against_chain().has_value());
}
