// Issue 10, collector side: each TEST_CASE reproduces an attack that worked against the code before
// the fix (authentication after the registry look-up, junk written to the ledger one entry each,
// contracts and nonces forgotten by a restart, requests valid at any collector, invalid UTF-8
// stored, a stray future "now" ratcheting the replay window) and shows the refusal and its reason.
#include <hefl/iot.hpp>
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <botan/auto_rng.h>
#include <botan/hex.h>
#include <botan/sqlite3.h>
#include <botan/system_rng.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

using namespace hefl::iot;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

using hefl_test::temp_dir;

payload heart_rate(std::int64_t bpm) { return hefl_test::vital("heart_rate", "bpm", bpm); }

struct device_holder {
  key_pair keys;
  Botan::X509_Certificate cert;
  sgtin96 epc;
  [[nodiscard]] certificate_chain chain() const { return {cert}; }
};

// One hospital's PKI, registry and an admin; collectors are built per test.
struct site {
  Botan::AutoSeeded_RNG rng;
  clock_time t0 = std::chrono::system_clock::now();
  certificate_authority ca{"St Mary Hospital", t0 - 2h};
  certificate_authority rogue{"St Mary Hospital", t0 - 2h};
  trust_store trust = trust_store::in_memory();
  key_pair admin_keys = ecdsa_p256_signing::generate(rng);
  Botan::X509_Certificate admin;
  device_holder monitor = make_device(1, ca);      // alice's, reports to collector-icu
  device_holder thermometer = make_device(2, ca);  // another device of the hospital
  device_holder spoofed = make_device(1, rogue);   // monitor-1's identity from a rogue CA
  registry reg;

  site() {
    trust.add_root(ca.root());
    trust.add_crl(ca.crl());
    admin = ca.issue(*admin_keys.public_key, identity{role::admin, "admin.root", {}, 0, 0}, t0 - 1h, 24h);
    reg.register_patient({"p-1001", "icu", "1", "A"});
    reg.register_patient({"p-1002", "icu", "1", "B"});
    reg.register_collector("collector-icu");
    reg.register_collector("collector-ward");
    reg.register_device(monitor.epc, "p-1001", "collector-icu");
    reg.register_device(thermometer.epc, "p-1002", "collector-icu");
  }

  device_holder make_device(std::uint64_t serial, certificate_authority& by) {
    const auto epc = sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345." + std::to_string(serial), 1);
    auto keys = ecdsa_p256_signing::generate(rng);
    auto cert = by.issue(*keys.public_key, identity{role::device, "device-" + std::to_string(serial), epc, 1, 1},
                         t0 - 1h, 24h * 30);
    return {std::move(keys), std::move(cert), epc};
  }

  bool is_admin(const Botan::X509_Certificate& c) const {
    return validate_chain(c, trust, cert_usage::any, std::chrono::system_clock::now(), {role::admin}).ok();
  }

  request signed_by(const device_holder& d, payload p, std::string patient = "p-1001",
                    std::string collector = "collector-icu", request_time at = request_now()) {
    return make_signed_request(d.epc, std::move(collector), std::move(patient), std::move(p), at, *d.keys.private_key,
                               rng);
  }

  // The same request, signed by another key than the device's (an attacker who has the device's
  // public certificate but not its key).
  request forged(const device_holder& d, payload p, std::string patient) {
    auto r = signed_by(d, std::move(p), std::move(patient));
    const auto attacker = ecdsa_p256_signing::generate(rng);
    sign_request(r, *attacker.private_key, rng);
    return r;
  }
};

// A collector: rule manager with the vital-signs contract, replay guard, validator over @p Ledger.
template <class Ledger = local_ledger>
struct collector {
  Ledger& chain;
  rule_manager<> rules;
  replay_guard replay;
  collector_validator<trust_store_certificates, ecdsa_p256_signing, rule_manager<>, replay_guard, Ledger> validator;

  collector(site& s, Ledger& ledger, collector_validator_options options, replay_guard_options replay_options = {})
      : chain(ledger), rules([&s](const Botan::X509_Certificate& c) { return s.is_admin(c); },
                             [](const deployment_event&) {}),
        replay(std::move(replay_options)), validator(s.trust, rules, replay, ledger, std::move(options)) {
    REQUIRE(rules.deploy(sign_deployment(vital_signs_example_contract, *s.admin_keys.private_key, s.admin, s.rng))
                .accepted());
  }
};

collector_validator_options at_icu(const registry* reg = nullptr) {
  collector_validator_options o;
  o.collector_id = "collector-icu";
  o.devices = reg;
  return o;
}

} // namespace

// ---------------------------------------------------------------------------------------------------
// Item 3: authenticate first.

TEST_CASE("hardening: without the device key, a forger learns nothing about which patient a device serves",
          "[iot][hardening][authenticate_first]") {
  site s;
  local_ledger chain;
  collector c(s, chain, at_icu(&s.reg));
  // The monitor serves p-1001. Before the fix the registry ran before the signature check, so the
  // forged request naming p-1002 came back patient_mismatch and the one naming p-1001 bad_signature.
  const auto right = c.validator.validate(s.monitor.chain(), s.forged(s.monitor, heart_rate(80), "p-1001").encode());
  const auto wrong = c.validator.validate(s.monitor.chain(), s.forged(s.monitor, heart_rate(80), "p-1002").encode());
  const auto unknown = c.validator.validate(s.monitor.chain(), s.forged(s.monitor, heart_rate(80), "p-9999").encode());
  for (const auto* v : {&right, &wrong, &unknown}) {
    INFO(v->message);
    CHECK(v->reason == verdict_reason::bad_signature);
    CHECK_FALSE(v->authenticated);
    CHECK(v->peer_code() == "unauthenticated");
    CHECK(v->message == right.message);
    CHECK_FALSE(v->ledger_tx.has_value());
  }
  // Every unauthenticated refusal looks the same to the peer, whatever the precise reason.
  const auto rogue = c.validator.validate(s.spoofed.chain(), s.signed_by(s.spoofed, heart_rate(80)).encode());
  CHECK(rogue.reason == verdict_reason::untrusted_certificate);
  CHECK(rogue.peer_code() == right.peer_code());

  // The audit trail names no device for them: no rule_check entry claims the monitor as the source.
  CHECK(c.validator.flush_refusal_summary().has_value());
  chain.flush();
  CHECK(chain.find_device(s.monitor.epc.to_hex()).empty());
  CHECK(chain.find(tx_kind::rule_check).empty());
  const auto summaries =
      chain.find([](const transaction& tx) { return tx.field_string("type") == "unauthenticated_refusals"; });
  REQUIRE(summaries.size() == 1);
  const auto& summary = summaries.front().tx;
  CHECK(summary.fields().at("total") == 4);
  CHECK(summary.fields().at("counts").at("bad_signature") == 3);
  CHECK(summary.fields().at("counts").at("untrusted_certificate") == 1);
  CHECK(summary.canonical().find(s.monitor.epc.to_hex()) == std::string::npos);

  // With its key, the device gets the registry's precise verdicts, each logged under its EPC.
  const auto honest = c.validator.validate(s.monitor.chain(), s.signed_by(s.monitor, heart_rate(80)).encode());
  CHECK(honest.accepted());
  const auto mismatch =
      c.validator.validate(s.monitor.chain(), s.signed_by(s.monitor, heart_rate(80), "p-1002").encode());
  CHECK(mismatch.reason == verdict_reason::patient_mismatch);
  CHECK(mismatch.peer_code() == "patient_mismatch");
  chain.flush();
  CHECK(chain.find_device(s.monitor.epc.to_hex()).size() == 2);
}

// ---------------------------------------------------------------------------------------------------
// Item 11: junk does not fill the ledger; honest traffic keeps flowing.

TEST_CASE("hardening: honest traffic keeps flowing under a junk flood; junk is counted, not logged one by one",
          "[iot][hardening][junk_flood]") {
  site s;
  // A ledger that never seals here and takes at most 64 pending entries: before the fix every junk
  // request was an entry, the backlog filled after 64 of them and honest requests were refused
  // ledger_unavailable.
  ledger_config cfg;
  cfg.max_block_transactions = 64;
  cfg.max_block_delay = 24h;
  cfg.max_pending = 64;
  const auto sealer = sealer_key::generate("collector-icu", Botan::system_rng());
  ledger backlog(make_genesis({sealer.identity()}, "junk-flood", ledger_now()), cfg);
  collector c(s, backlog, at_icu(&s.reg));

  const std::vector<std::uint8_t> garbage{'G', 'E', 'T', ' ', '/', ' ', 'H', 'T', 'T', 'P', 0, 1, 2, 3};
  const auto bad_signature = s.forged(s.thermometer, heart_rate(70), "p-1002").encode();
  const auto rogue = s.signed_by(s.spoofed, heart_rate(70)).encode();
  constexpr int rounds = 10, junk_per_round = 300;
  int honest_accepted = 0, junk = 0, limited = 0;
  for (int round = 0; round < rounds; ++round) {
    for (int i = 0; i < junk_per_round; ++i) {
      const auto v = i % 3 == 0   ? c.validator.validate(certificate_chain{}, garbage)
                     : i % 3 == 1 ? c.validator.validate(s.thermometer.chain(), bad_signature)
                                  : c.validator.validate(s.spoofed.chain(), rogue);
      REQUIRE_FALSE(v.accepted());
      CHECK_FALSE(v.ledger_tx.has_value());
      limited += v.reason == verdict_reason::rate_limited;
      ++junk;
    }
    const auto v = c.validator.validate(s.monitor.chain(), s.signed_by(s.monitor, heart_rate(60 + round)).encode());
    INFO(v.message);
    CHECK(v.accepted());
    honest_accepted += v.accepted();
  }
  CHECK(honest_accepted == rounds);
  // Each junk peer got its burst of refusals, then was refused unread.
  CHECK(limited > junk / 2);
  std::uint64_t counted = 0;
  for (const auto& [reason, n] : c.validator.refusal_counts()) counted += n;
  CHECK(counted == static_cast<std::uint64_t>(junk));
  // The ledger holds the honest entries and at most a few summaries, nowhere near its limit.
  CHECK(backlog.pending_count() <= static_cast<std::size_t>(rounds) + 3);
  CHECK(c.validator.verdict_count() == static_cast<std::uint64_t>(rounds));
}

TEST_CASE("hardening: the per-peer limit counts only unauthenticated refusals, and recovers",
          "[iot][hardening][junk_flood]") {
  site s;
  local_ledger chain;
  collector_validator_options o = at_icu();
  o.peer_refusals_per_minute = 5;
  auto own = std::chrono::system_clock::now();
  o.clock = [&own] { return own; };  // the limit runs on the validator's own clock
  collector c(s, chain, o);
  const auto now = own;
  const std::vector<std::uint8_t> garbage{'x', 'y', 'z'};
  for (int i = 0; i < 5; ++i)
    CHECK(c.validator.validate(s.spoofed.chain(), garbage, now).reason == verdict_reason::malformed);
  CHECK(c.validator.validate(s.spoofed.chain(), garbage, now).reason == verdict_reason::rate_limited);
  // Another peer is not affected, nor is an authenticated device whose requests are refused.
  for (int i = 0; i < 8; ++i) {
    const auto stale = c.validator.validate(
        s.monitor.chain(), s.signed_by(s.monitor, heart_rate(70), "p-1001", "collector-icu", request_now() - 10min).encode(),
        now);
    CHECK(stale.reason == verdict_reason::stale);
  }
  CHECK(c.validator.validate(s.monitor.chain(), s.signed_by(s.monitor, heart_rate(70)).encode(), now).accepted());
  // A stray future "now" from the caller does not move the limit's clock; a minute later by that
  // clock, the limited peer may try again.
  CHECK(c.validator.validate(s.spoofed.chain(), garbage, now + 24h * 365).reason == verdict_reason::rate_limited);
  own += 61s;
  CHECK(c.validator.validate(s.spoofed.chain(), garbage, now + 61s).reason == verdict_reason::malformed);
}

// ---------------------------------------------------------------------------------------------------
// Item 7: contracts, nonces and the addressed collector.

TEST_CASE("hardening: an old contract deployment is refused after a restart, and a tampered stored one is not installed",
          "[iot][hardening][restart]") {
  site s;
  temp_dir dir;
  const auto v1 = sign_deployment(vital_signs_example_contract, *s.admin_keys.private_key, s.admin, s.rng);
  auto contract = rule_contract::parse(vital_signs_example_contract);
  contract.version = 2;
  const auto v2 = sign_deployment(contract.to_json().dump(), *s.admin_keys.private_key, s.admin, s.rng);
  const auto is_admin = [&s](const Botan::X509_Certificate& c) { return s.is_admin(c); };
  rule_manager_options o;
  o.sqlite_path = dir.file("rules.db");
  {
    rule_manager<> rules(is_admin, [](const deployment_event&) {}, o);
    REQUIRE(rules.deploy(v1).accepted());
    REQUIRE(rules.deploy(v2).accepted());
    CHECK(rules.deploy(v1).status == deployment_status::stale_version);
  }
  {
    // Restarted from its database: version 2 is back, and the captured version 1 blob is refused.
    // Before the fix contracts lived in memory only and v1 was installed again.
    rule_manager<> rules(is_admin, [](const deployment_event&) {}, o);
    CHECK(rules.persistent());
    CHECK(rules.load_problems().empty());
    REQUIRE(rules.contract(1) != nullptr);
    CHECK(rules.contract(1)->version == 2);
    const auto e = rules.deploy(v1);
    CHECK(e.status == deployment_status::stale_version);
    CHECK(e.installed_version == 2);
    CHECK(rules.contract(1)->version == 2);
  }
  {
    // Someone with disk access swaps in a laxer contract: it no longer verifies, so the group gets
    // no contract (every payload of it is refused), and the version floor stays.
    Botan::Sqlite3_Database db(o.sqlite_path);
    auto lax = rule_contract::parse(vital_signs_example_contract);
    lax.version = 2;
    lax.max_payload_bytes = 1024;
    const auto text = lax.to_json().dump();
    auto st = db.new_statement("UPDATE hefl_rule_deployments SET contract = ?1");
    st->bind(1, Botan::hex_encode(reinterpret_cast<const std::uint8_t*>(text.data()), text.size(), false));
    st->spin();
  }
  rule_manager<> rules(is_admin, [](const deployment_event&) {}, o);
  REQUIRE(rules.load_problems().size() == 1);
  CHECK_THAT(rules.load_problems().front(), Catch::Contains("signature does not verify"));
  CHECK(rules.contract(1) == nullptr);
  CHECK(rules.check(1, "d", heart_rate(70), iot_clock::now()).violation().kind == rule_violation_kind::unknown_group);
  CHECK(rules.deploy(v1).status == deployment_status::stale_version);
}

TEST_CASE("hardening: a request captured before a collector restart is still a replay after it",
          "[iot][hardening][restart]") {
  site s;
  temp_dir dir;
  local_ledger chain;
  const auto captured = s.signed_by(s.monitor, heart_rate(72)).encode();
  {
    rule_manager<> rules([&s](const Botan::X509_Certificate& c) { return s.is_admin(c); }, [](const deployment_event&) {});
    REQUIRE(rules.deploy(sign_deployment(vital_signs_example_contract, *s.admin_keys.private_key, s.admin, s.rng))
                .accepted());
    replay_guard replay(dir.file("nonces.db"));
    collector_validator<> validator(s.trust, rules, replay, chain, at_icu());
    CHECK(validator.validate(s.monitor.chain(), captured).accepted());
    CHECK(validator.validate(s.monitor.chain(), captured).reason == verdict_reason::replay);
  }
  // Before the fix the nonces lived in memory only: the restarted collector accepted the capture.
  rule_manager<> rules([&s](const Botan::X509_Certificate& c) { return s.is_admin(c); }, [](const deployment_event&) {});
  REQUIRE(rules.deploy(sign_deployment(vital_signs_example_contract, *s.admin_keys.private_key, s.admin, s.rng))
              .accepted());
  replay_guard replay(dir.file("nonces.db"));
  CHECK(replay.persistent());
  CHECK(replay.size() == 1);
  collector_validator<> validator(s.trust, rules, replay, chain, at_icu());
  const auto again = validator.validate(s.monitor.chain(), captured);
  CHECK(again.reason == verdict_reason::replay);
  CHECK(validator.validate(s.monitor.chain(), s.signed_by(s.monitor, heart_rate(73)).encode()).accepted());
}

TEST_CASE("hardening: a request signed for one collector is refused by another", "[iot][hardening][collector_binding]") {
  site s;
  local_ledger chain;
  collector_validator_options ward = at_icu();
  ward.collector_id = "collector-ward";
  collector c(s, chain, ward);
  // Captured on its way to collector-icu and sent to collector-ward instead.
  const auto v = c.validator.validate(s.monitor.chain(), s.signed_by(s.monitor, heart_rate(72)).encode());
  CHECK(v.reason == verdict_reason::misaddressed);
  CHECK(v.authenticated);
  REQUIRE(v.ledger_tx.has_value());
  // Rewriting the address breaks the device's signature.
  auto rewritten = s.signed_by(s.monitor, heart_rate(72));
  rewritten.collector_id = "collector-ward";
  CHECK(c.validator.validate(s.monitor.chain(), rewritten.encode()).reason == verdict_reason::bad_signature);
  // Addressed to it, the same device is accepted.
  CHECK(c.validator
            .validate(s.monitor.chain(),
                      s.signed_by(s.monitor, heart_rate(72), "p-1001", "collector-ward").encode())
            .accepted());
  CHECK(c.replay.size() == 1);  // the misaddressed request did not use up its nonce here
}

// ---------------------------------------------------------------------------------------------------
// Item 13: UTF-8.

TEST_CASE("hardening: payload strings that are not valid UTF-8 are refused at the rule check",
          "[iot][hardening][utf8]") {
  const auto contract = rule_contract::parse(R"({
    "group_id": 9, "name": "notes", "version": 1, "max_payload_bytes": 256, "max_messages_per_minute": 60,
    "data_types": { "note": { "fields": { "text": { "type": "string", "max_length": 64, "required": true } } } }
  })");
  const auto note = [](std::string text) { return payload{"note", {{"text", json(std::move(text))}}}; };
  CHECK(check_content(contract, note("plain ascii")).ok());
  CHECK(check_content(contract, note("37.2 \xc2\xb0" "C, caf\xc3\xa9, \xe2\x82\xac, \xf0\x9f\x92\x93")).ok());
  for (const std::string bad : {std::string("\xff\xfe"), std::string("ok\xc0\xaf"), std::string("\xed\xa0\x80"),
                                std::string("\xf4\x90\x80\x80"), std::string("cut \xe2\x82"), std::string("\x80")}) {
    const auto v = check_content(contract, note(bad));
    INFO(Botan::hex_encode(reinterpret_cast<const std::uint8_t*>(bad.data()), bad.size()));
    REQUIRE_FALSE(v.ok());
    CHECK(v.violation().kind == rule_violation_kind::malformed);
    CHECK(v.violation().field == "text");
    CHECK_THAT(v.violation().message, Catch::Contains("not valid UTF-8"));
  }
}

TEST_CASE("hardening: an invalid UTF-8 string from a device is refused by the collector", "[iot][hardening][utf8]") {
  site s;
  local_ledger chain;
  collector c(s, chain, at_icu());
  // The vital-signs contract's temperature type has a free-text "site" field.
  const auto bad = payload{"temperature", {{"celsius", json(37.0)}, {"site", json(std::string("arm\xff"))}}};
  const auto v = c.validator.validate(s.monitor.chain(), s.signed_by(s.monitor, bad).encode());
  INFO(v.message);
  CHECK(v.reason == verdict_reason::rule_violation);
  REQUIRE(v.violation.has_value());
  CHECK(v.violation->kind == rule_violation_kind::malformed);
  const auto good = payload{"temperature", {{"celsius", json(37.0)}, {"site", json(std::string("\xc3\xa9paule"))}}};
  CHECK(c.validator.validate(s.monitor.chain(), s.signed_by(s.monitor, good).encode()).accepted());
}

// ---------------------------------------------------------------------------------------------------
// Item 14: the replay guard's own clock.

TEST_CASE("hardening: a stray future now cannot ratchet the replay guard's window", "[iot][hardening][replay_clock]") {
  auto own = iot_clock::now();
  replay_guard_options o;
  o.clock = [&own] { return own; };
  replay_guard guard(o);
  // Before the fix this "now", a year ahead, became the guard's now: every honest message after it
  // was stale, and the remembered nonces were forgotten.
  CHECK(guard.check("d", "n-1", own, own + 24h * 365).ok());
  CHECK(guard.current_time() <= own + o.max_clock_offset);
  CHECK(guard.check("d", "n-2", own + 1s, own + 1s).ok());
  CHECK(guard.check("d", "n-1", own, own + 2s).status == replay_status::replay);
  // A "now" far in the past is bounded the same way: a stale capture stays stale.
  CHECK(guard.check("d", "n-3", own - 10min, own - 10min).status == replay_status::stale);
  // The guard's own clock moves the window.
  own += 3min;
  CHECK(guard.check("d", "n-4", own, own).ok());
  CHECK(guard.check("d", "n-2", own - 3min + 1s, own).status == replay_status::stale);
}

TEST_CASE("hardening: a stray future now through the collector does not stop honest traffic",
          "[iot][hardening][replay_clock]") {
  site s;
  local_ledger chain;
  collector c(s, chain, at_icu());
  const auto early = c.validator.validate(s.monitor.chain(), s.signed_by(s.monitor, heart_rate(70)).encode(),
                                          std::chrono::system_clock::now() + 24h * 365);
  // The certificate has expired by then, so that request is refused; neither the replay window nor
  // the per-peer refusal limit may move with that "now".
  CHECK_FALSE(early.accepted());
  const auto future_ok = s.signed_by(s.monitor, heart_rate(71));
  CHECK(c.replay.check("x", "n", future_ok.timestamp, std::chrono::system_clock::now() + 24h * 365).ok());
  const auto v = c.validator.validate(s.monitor.chain(), s.signed_by(s.monitor, heart_rate(72)).encode());
  INFO(v.message);
  CHECK(v.accepted());
}
