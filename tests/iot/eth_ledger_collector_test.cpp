// The collector validator, unchanged, with iot::ethereum_ledger as its ledger policy: an accepted
// request's rule check lands in AuditLog on a ganache the test starts itself.
#include <hefl/iot.hpp>
#include <hefl/iot/ledger/ethereum/ethereum_ledger.hpp>
#include <hefl/testing/ganache.hpp>

#include <catch2/catch.hpp>

#include <botan/auto_rng.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <string>

#ifndef HEFL_ETH_TOOLS_DEFAULT
#define HEFL_ETH_TOOLS_DEFAULT ".eth-tools"
#endif

using namespace hefl::iot;
using namespace std::chrono_literals;
namespace eth = hefl::iot::ethereum;

TEST_CASE("collector_validator with ethereum_ledger logs its verdicts in AuditLog", "[eth][ledger][ganache]") {
  const auto tools = hefl::testing::eth_tools_dir(HEFL_ETH_TOOLS_DEFAULT);
  if (hefl::testing::ganache_cli(tools).empty()) {
    WARN("SKIPPED: ganache is not installed under " << tools << " (scripts/eth/install.sh installs it)");
    return;
  }
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
  hefl::testing::ganache_process node(tools, 0);
  const eth::json_rpc_client rpc("127.0.0.1", node.port(), std::chrono::seconds(20));
  const auto secret = eth::from_hex(hefl::testing::ganache_key0);
  std::array<std::uint8_t, 32> s{};
  std::copy(secret.begin(), secret.end(), s.begin());
  eth::transaction_sender sender(rpc, eth::secp256k1_key(s), rpc.chain_id());
  eth::legacy_transaction deploy;
  deploy.gas_price = Botan::BigInt(rpc.gas_price());
  deploy.gas_limit = 1000000;
  deploy.data = eth::audit_log_abi::creation_code();
  const eth::receipt dr = rpc.await_receipt(sender.submit(deploy).hash);
  REQUIRE(dr.success);
  ethereum_ledger chain_log(rpc, sender, *dr.contract_address);

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
