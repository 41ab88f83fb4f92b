// Issue 10 leftover: every chain status reaches the collector's verdict as its own reason, so a
// degenerate key (invalid_key) and a path-building attack (chain_too_long) are not reported as an
// unknown issuer (untrusted_certificate), which is what reason_of() did before.
#include <hefl/iot.hpp>

#include <catch2/catch.hpp>

#include <botan/auto_rng.h>

#include <chrono>
#include <set>
#include <string>

using namespace hefl::iot;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// A certificate policy that answers a fixed status (the chain statuses themselves are produced and
// tested in hardening_pki_test.cpp); holder-less, as validate_chain() answers a refusal.
struct fixed_status {
  chain_status status = chain_status::ok;
  [[nodiscard]] chain_verdict validate(const certificate_chain&, clock_time) const noexcept {
    chain_verdict v;
    v.status = status;
    v.reason = "fixed: " + std::string(to_string(status));
    return v;
  }
};

struct reasons_site {
  Botan::AutoSeeded_RNG rng;
  clock_time t0 = std::chrono::system_clock::now();
  certificate_authority ca{"St Mary Hospital", t0 - 2h};
  trust_store trust = trust_store::in_memory();
  key_pair admin_keys = ecdsa_p256_signing::generate(rng);
  Botan::X509_Certificate admin;
  key_pair device_keys = ecdsa_p256_signing::generate(rng);
  sgtin96 epc = sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345.7", 1);
  Botan::X509_Certificate device;

  reasons_site() {
    trust.add_root(ca.root());
    trust.add_crl(ca.crl());
    admin = ca.issue(*admin_keys.public_key, identity{role::admin, "admin.root", {}, 0, 0}, t0 - 1h, 24h);
    device = ca.issue(*device_keys.public_key, identity{role::device, "device-7", epc, 1, 1}, t0 - 1h, 24h);
  }
  request signed_request() {
    return make_signed_request(epc, "collector-icu", "p-1001", payload{"heart_rate", {{"bpm", json(72)}}},
                               request_now(), *device_keys.private_key, rng);
  }
  bool is_admin(const Botan::X509_Certificate& c) const {
    return validate_chain(c, trust, cert_usage::any, std::chrono::system_clock::now(), {role::admin}).ok();
  }
};

template <class Certificates>
collector_verdict run(reasons_site& s, Certificates& certs, const certificate_chain& chain) {
  local_ledger chain_log;
  rule_manager<> rules([&s](const Botan::X509_Certificate& c) { return s.is_admin(c); }, [](const deployment_event&) {});
  REQUIRE(rules.deploy(sign_deployment(vital_signs_example_contract, *s.admin_keys.private_key, s.admin, s.rng))
              .accepted());
  replay_guard replay;
  collector_validator_options o;
  o.collector_id = "collector-icu";
  collector_validator<Certificates, ecdsa_p256_signing, rule_manager<>, replay_guard, local_ledger> v(
      certs, rules, replay, chain_log, o);
  return v.validate(chain, s.signed_request(), std::chrono::system_clock::now());
}

} // namespace

TEST_CASE("collector reasons: every chain status maps to its own verdict reason", "[iot][collector_validator]") {
  std::set<verdict_reason> seen;
  for (const auto s : {chain_status::untrusted, chain_status::revoked, chain_status::expired,
                       chain_status::not_yet_valid, chain_status::wrong_usage, chain_status::wrong_role,
                       chain_status::revocation_unavailable, chain_status::missing_identity,
                       chain_status::malformed_identity, chain_status::invalid_key, chain_status::chain_too_long}) {
    const auto r = verdict_reason_of(s);
    CHECK(r != verdict_reason::accepted);
    seen.insert(r);
  }
  CHECK(seen.size() == 11);
  CHECK(verdict_reason_of(chain_status::ok) == verdict_reason::accepted);
  CHECK(to_string(verdict_reason_of(chain_status::invalid_key)) == "invalid_key");
  CHECK(to_string(verdict_reason_of(chain_status::chain_too_long)) == "chain_too_long");
}

TEST_CASE("collector reasons: a degenerate-key verdict reaches the collector as invalid_key", "[iot][collector_validator]") {
  reasons_site s;
  fixed_status certs{chain_status::invalid_key};
  const auto v = run(s, certs, {s.device});
  CHECK(v.reason == verdict_reason::invalid_key);
  CHECK_FALSE(v.authenticated);
  CHECK(v.peer_code() == collector_verdict::unauthenticated_code);  // still one generic reply to the peer
  fixed_status honest{chain_status::untrusted};
  CHECK(run(s, honest, {s.device}).reason == verdict_reason::untrusted_certificate);
}

TEST_CASE("collector reasons: a chain longer than the trust store's cap is refused as chain_too_long",
          "[iot][collector_validator]") {
  reasons_site s;
  trust_store_certificates certs(s.trust);
  const auto too_long = run(s, certs, {s.device, s.ca.root(), s.ca.root()});
  CHECK(too_long.reason == verdict_reason::chain_too_long);
  CHECK_THAT(too_long.message, Catch::Contains("3 certificates"));
  // The same device with its leaf alone is accepted: the refusal is about the chain's length.
  CHECK(run(s, certs, {s.device}).accepted());
}
