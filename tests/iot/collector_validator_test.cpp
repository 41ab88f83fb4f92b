#include <hefl/iot.hpp>  // the umbrella, so that the suite compiles every IoT header together

#include <catch2/catch.hpp>

#include <botan/auto_rng.h>
#include <botan/ecdsa.h>
#include <botan/x509_ca.h>
#include <botan/x509_ext.h>

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace hefl::iot;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

Botan::AutoSeeded_RNG& rng() {
  static Botan::AutoSeeded_RNG r;
  return r;
}

/// A certificate holder made by a CA: its key pair, certificate and (for devices) EPC.
struct holder {
  key_pair keys;
  Botan::X509_Certificate cert;
  sgtin96 epc;
  [[nodiscard]] certificate_chain chain() const { return {cert}; }
};

sgtin96 epc_of(std::uint64_t serial) {
  return sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345." + std::to_string(serial), 1);
}

identity device_identity(std::uint64_t serial, std::uint32_t group) {
  identity id;
  id.role = role::device;
  id.subject_id = "monitor-" + std::to_string(serial);
  id.group_id = group;
  id.rule_id = group * 10;
  id.device_epc = epc_of(serial);
  return id;
}

/// The hospital PKI, a rogue CA with the same name, and every certificate the scenarios need; made once.
struct hospital {
  clock_time t0 = std::chrono::system_clock::now();
  Botan::ECDSA_PrivateKey ca_key{rng(), Botan::EC_Group("secp256r1")};
  certificate_authority ca{std::make_unique<Botan::ECDSA_PrivateKey>(rng(), ca_key.domain(), ca_key.private_value()),
                           "St Mary Hospital", t0};
  certificate_authority rogue{"St Mary Hospital", t0};
  trust_store store = trust_store::in_memory();

  holder admin = person(role::admin, "admin-1");
  holder monitor_a = device(1, 1);
  holder monitor_b = device(2, 1);
  holder thermometer = device(3, 2);
  holder captured = device(4, 1);                           // revoked during the node-capture scenario
  holder expired = device(5, 1, t0 - 48h, t0 - 24h);
  holder spoofed = device(1, 1, t0, t0 + 24h, &rogue);      // monitor_a's identity from the rogue CA
  holder bare = without_identity(6);
  holder collector = node(role::collector, "collector-icu");

  hospital() {
    store.add_root(ca.root());
    store.add_crl(ca.crl());  // from now on revocation information is required
  }

  holder device(std::uint64_t serial, std::uint32_t group, clock_time from = {}, clock_time to = {},
                certificate_authority* issuer = nullptr) {
    if (from == clock_time{}) {
      from = t0 - 1h;
      to = t0 + 24h * 30;
    }
    holder h{ecdsa_p256_signing::generate(rng()), {}, epc_of(serial)};
    h.cert = (issuer ? *issuer : ca).issue(*h.keys.public_key, device_identity(serial, group), from, to);
    return h;
  }

  holder node(role r, const std::string& name) {
    identity id;
    id.role = r;
    id.subject_id = name;
    id.group_id = 1;
    holder h{ecdsa_p256_signing::generate(rng()), {}, {}};
    h.cert = ca.issue(*h.keys.public_key, id, t0 - 1h, t0 + 24h * 30);
    return h;
  }

  holder person(role r, const std::string& name) { return node(r, name); }

  /// A device certificate signed with the real CA key but without the hospital identity extension.
  holder without_identity(std::uint64_t serial) {
    holder h{ecdsa_p256_signing::generate(rng()), {}, epc_of(serial)};
    Botan::Extensions ext;
    ext.add(new Botan::Cert_Extension::Basic_Constraints(false), true);
    ext.add(new Botan::Cert_Extension::Key_Usage(Botan::DIGITAL_SIGNATURE), true);
    ext.add(new Botan::Cert_Extension::Extended_Key_Usage({Botan::OID("1.3.6.1.5.5.7.3.2")}));
    ext.add(new Botan::Cert_Extension::Authority_Key_ID(ca.root().subject_key_id()));
    Botan::AlgorithmIdentifier alg;
    std::unique_ptr<Botan::PK_Signer> signer(Botan::choose_sig_format(ca_key, rng(), "SHA-256", alg));
    Botan::X509_DN dn;
    dn.add_attribute("X520.CommonName", "monitor-" + std::to_string(serial));
    dn.add_attribute("X520.Organization", "St Mary Hospital");
    h.cert = Botan::X509_CA::make_cert(signer.get(), rng(), Botan::BigInt(900000 + serial), alg,
                                       h.keys.public_key->subject_public_key(), Botan::X509_Time(t0 - 1h),
                                       Botan::X509_Time(t0 + 24h), ca.root().subject_dn(), dn, ext);
    return h;
  }
};

hospital& pki() {
  static hospital h;
  return h;
}

bool is_admin(const Botan::X509_Certificate& c) {
  return validate_chain(c, pki().store, cert_usage::any, std::chrono::system_clock::now(), {role::admin}).ok();
}

constexpr std::string_view thermometer_contract = R"({
  "group_id": 2, "name": "thermometers", "version": 1, "max_payload_bytes": 128, "max_messages_per_minute": 60,
  "data_types": { "temperature": { "fields": {
    "celsius": { "type": "number", "unit": "°C", "min": 30, "max": 45, "required": true } } } }
})";

/// One collector: a real ledger, a rule manager with both contracts deployed by the admin (each
/// deployment logged), a replay guard and the validator under test.
template <class Validator = collector_validator<>>
struct rig {
  local_ledger ledger;
  rule_manager<> rules;
  replay_guard replay;
  Validator validator;

  explicit rig(collector_validator_options options = {})
      : rules(is_admin,
              [this](const deployment_event& e) {
                if (e.accepted())
                  ledger.submit(transaction::rule_deployment(std::to_string(*e.group_id), e.version, e.contract_hash,
                                                             e.signer, ledger_now()));
              }),
        validator(pki().store, rules, replay, ledger, std::move(options)) {
    for (const auto contract : {vital_signs_example_contract, thermometer_contract})
      REQUIRE(rules.deploy(sign_deployment(contract, *pki().admin.keys.private_key, pki().admin.cert, rng())).accepted());
  }

  /// The rule_check transaction of @p v, once sealed.
  transaction logged(const collector_verdict& v) {
    REQUIRE(v.ledger_tx.has_value());
    ledger.flush();
    const auto inclusion = ledger.prove(*v.ledger_tx);
    REQUIRE(inclusion.has_value());
    REQUIRE(inclusion->location.tx.kind() == tx_kind::rule_check);
    return inclusion->location.tx;
  }
};

payload heart_rate(int bpm) { return payload{"heart_rate", {{"bpm", json(bpm)}}}; }

request signed_by(const holder& h, payload p, request_time ts = request_now(), std::string patient = "patient-7",
                  std::string collector = "collector") {
  return make_signed_request(h.epc, std::move(collector), std::move(patient), std::move(p), ts, *h.keys.private_key,
                             rng());
}

/// The reasons given before the request is authenticated: counted, never a ledger entry of their own.
bool unauthenticated_reason(verdict_reason r) {
  switch (r) {
    case verdict_reason::oversized: case verdict_reason::malformed: case verdict_reason::untrusted_certificate:
    case verdict_reason::revoked: case verdict_reason::expired: case verdict_reason::not_yet_valid:
    case verdict_reason::wrong_usage: case verdict_reason::revocation_unavailable:
    case verdict_reason::missing_identity: case verdict_reason::malformed_identity: case verdict_reason::wrong_role:
    case verdict_reason::identity_mismatch: case verdict_reason::bad_signature: case verdict_reason::rate_limited:
      return true;
    default: return false;
  }
}

std::string hash_hex(const payload& p) { return ledger_detail::to_hex(sha256(p.canonical_bytes())); }

/// Checks the verdict and its ledger entry: verdict code, device, its source, group and payload hash.
/// An unauthenticated refusal (see unauthenticated_reason) must have no ledger entry, the generic
/// peer code and its count; then the device, source and group arguments are not used.
template <class Rig>
std::optional<transaction> expect(Rig& r, const collector_verdict& v, verdict_reason reason, const std::string& device,
                                  const std::string& source, const std::string& group) {
  INFO(v.message);
  CHECK(v.reason == reason);
  CHECK(v.accepted() == (reason == verdict_reason::accepted));
  if (unauthenticated_reason(reason)) {
    CHECK_FALSE(v.authenticated);
    CHECK_FALSE(v.ledger_tx.has_value());
    CHECK(v.peer_code() == "unauthenticated");
    CHECK(r.validator.refusal_counts()[std::string(to_string(reason))] >= 1);
    return std::nullopt;
  }
  CHECK(v.authenticated);
  CHECK(v.peer_code() == to_string(reason));
  const auto tx = r.logged(v);
  CHECK(tx.field_string("verdict") == to_string(reason));
  CHECK(tx.field_string("device") == device);
  CHECK(tx.field_string("device_source") == source);
  CHECK(tx.field_string("group") == group);
  CHECK(tx.field_string("collector") == r.validator.options().collector_id);
  if (v.parsed) {
    CHECK(tx.field_string("payload_hash") == hash_hex(v.parsed->data));
  }
  return tx;
}

/// An honest heart-rate request from @p h, validated and checked as accepted with its ledger entry.
template <class Rig>
void honest_accepted(Rig& r, const holder& h, int bpm = 72) {
  const auto req = signed_by(h, heart_rate(bpm), request_now(), "patient-7", r.validator.options().collector_id);
  const auto v = r.validator.validate(h.chain(), req.encode());
  expect(r, v, verdict_reason::accepted, h.epc.to_hex(), "certificate", "1");
  CHECK(v.parsed == req);
  REQUIRE(v.holder.has_value());
  CHECK(v.holder->device_epc == h.epc);
}

} // namespace

// ---------------------------------------------------------------------------------------------------
// The request and its wire form

TEST_CASE("collector_validator: request round-trips and its signature covers every field",
          "[iot][request][collector_validator]") {
  const auto& a = pki().monitor_a;
  const auto req = signed_by(a, payload{"blood_pressure", {{"systolic", json(120)}, {"diastolic", json(80)},
                                                           {"irregular_heartbeat", json(false)}}});
  CHECK(req.nonce.size() == 16);
  CHECK(req.data_type() == "blood_pressure");
  const auto bytes = req.encode();
  CHECK(bytes.size() == *req.encoded_size());
  CHECK(request::decode(bytes) == req);
  CHECK(verify_request(req, *a.keys.public_key));
  CHECK_FALSE(verify_request(req, *pki().monitor_b.keys.public_key));
  CHECK_FALSE(verify_request<ed25519_signing>(req, *a.keys.public_key));

  const auto signed_bytes = req.signing_bytes();
  const std::string domain(request::signing_domain);
  REQUIRE(signed_bytes.size() > domain.size());
  CHECK(std::string(signed_bytes.begin(), signed_bytes.begin() + static_cast<std::ptrdiff_t>(domain.size())) == domain);
  CHECK(signed_bytes[domain.size()] == 0);

  // Every field is covered: changing any one breaks the signature.
  auto changed = req;
  changed.patient_id = "patient-8";
  CHECK_FALSE(verify_request(changed, *a.keys.public_key));
  changed = req;
  changed.collector_id = "collector-2";
  CHECK_FALSE(verify_request(changed, *a.keys.public_key));
  changed = req;
  changed.device = epc_of(2);
  CHECK_FALSE(verify_request(changed, *a.keys.public_key));
  changed = req;
  changed.data.type = "heart_rate";
  CHECK_FALSE(verify_request(changed, *a.keys.public_key));
  changed = req;
  changed.data.fields["systolic"] = 121;
  CHECK_FALSE(verify_request(changed, *a.keys.public_key));
  changed = req;
  changed.timestamp += 1ms;
  CHECK_FALSE(verify_request(changed, *a.keys.public_key));
  changed = req;
  changed.nonce[0] ^= 1;
  CHECK_FALSE(verify_request(changed, *a.keys.public_key));
}

TEST_CASE("collector_validator: request decoding refuses truncated, trailing, oversized and malformed bytes",
          "[iot][request][collector_validator]") {
  const auto req = signed_by(pki().monitor_a, heart_rate(72));
  const auto bytes = req.encode();
  const auto problem_of = [](std::span<const std::uint8_t> b, request_limits limits = {}) -> std::string {
    try {
      (void)request::decode(b, limits);
    } catch (const request_error& e) {
      return std::string(to_string(e.problem()));
    }
    return "none";
  };

  for (std::size_t n = 0; n < bytes.size(); ++n) {
    INFO("prefix of " << n << " bytes");
    CHECK(problem_of(std::span(bytes).first(n)) == "truncated");
  }
  auto longer = bytes;
  longer.push_back(0);
  CHECK(problem_of(longer) == "trailing");
  CHECK_THROWS_WITH(request::decode(longer), Catch::Contains("1 bytes after the signature"));
  CHECK(problem_of(bytes, request_limits{bytes.size() - 1}) == "oversized");
  CHECK(problem_of(bytes, request_limits{bytes.size()}) == "none");
  CHECK_THROWS_AS(request::decode(longer), hefl::parse_error);  // request_error is a parse_error

  auto bad_magic = bytes;
  bad_magic[3] = '1';  // version 1 (no collector id) is not accepted any more
  CHECK(problem_of(bad_magic) == "malformed");
  auto bad_epc = bytes;
  bad_epc[4] = 0x31;  // SGTIN-96 header must be 0x30
  CHECK_THROWS_WITH(request::decode(bad_epc), Catch::Contains("device id") && Catch::Contains("header"));
  auto huge_patient = bytes;
  huge_patient[16 + 4 + req.collector_id.size() + 3] = 0x7F;  // patient id length 0x7Fxxxxxx
  CHECK_THROWS_WITH(request::decode(huge_patient), Catch::Contains("patient id: length"));

  const auto with = [&](auto edit) {
    auto r = req;
    edit(r);
    return r;
  };
  // Objects with invalid fields cannot be encoded; encode them by hand to test the decoder.
  const auto raw = [](const request& r, std::span<const std::uint8_t> patient_override = {}) {
    hefl::serial::writer w;
    w.put_bytes(request::magic);
    const auto epc = r.device.encode();
    w.put_span<std::uint8_t>(epc);
    w.put(static_cast<std::uint32_t>(r.collector_id.size()));
    w.put_bytes(r.collector_id);
    const std::string pid = patient_override.empty() ? r.patient_id : std::string(patient_override.begin(), patient_override.end());
    w.put(static_cast<std::uint32_t>(pid.size()));
    w.put_bytes(pid);
    const auto body = r.data.canonical_bytes();
    w.put(static_cast<std::uint32_t>(body.size()));
    w.put_span<std::uint8_t>(body);
    w.put(static_cast<std::int64_t>(r.timestamp.time_since_epoch().count()));
    w.put(static_cast<std::uint32_t>(r.nonce.size()));
    w.put_span<std::uint8_t>(r.nonce);
    w.put(static_cast<std::uint32_t>(r.signature.size()));
    w.put_span<std::uint8_t>(r.signature);
    return std::move(w).take();
  };
  CHECK(request::decode(raw(req)) == req);
  CHECK_THROWS_WITH(request::decode(raw(with([](request& r) { r.nonce.resize(4); }))),
                    Catch::Contains("nonce: expected 8..64 bytes, got 4"));
  CHECK_THROWS_WITH(request::decode(raw(with([](request& r) { r.signature.clear(); }))),
                    Catch::Contains("unsigned"));
  CHECK_THROWS_WITH(request::decode(raw(with([](request& r) { r.timestamp = request_time(-5ms); }))),
                    Catch::Contains("before 1970"));
  const std::string space_id = "patient 7";
  CHECK_THROWS_WITH(request::decode(raw(req, std::span(reinterpret_cast<const std::uint8_t*>(space_id.data()),
                                                       space_id.size()))),
                    Catch::Contains("patient id"));
  auto bad_payload = raw(req);
  bad_payload[16 + 4 + req.collector_id.size() + 4 + req.patient_id.size() + 4] = 'X';  // payload magic "HPL1" -> "XPL1"
  CHECK_THROWS_WITH(request::decode(bad_payload), Catch::Contains("payload"));
  CHECK(problem_of(bad_payload) == "malformed");

  // Encoding refuses what decoding would refuse.
  auto unsigned_req = req;
  unsigned_req.signature.clear();
  CHECK_THROWS_AS(unsigned_req.encode(), hefl::invalid_argument);
  CHECK_FALSE(verify_request(unsigned_req, *pki().monitor_a.keys.public_key));
  auto bad_patient = req;
  bad_patient.patient_id = "";
  CHECK(bad_patient.problem().has_value());
  CHECK_FALSE(bad_patient.encoded_size().has_value());
  CHECK_THROWS_WITH(bad_patient.encode(), Catch::Contains("patient id"));
  CHECK_THROWS_AS(sign_request(bad_patient, *pki().monitor_a.keys.private_key, rng()), hefl::invalid_argument);
  CHECK_THROWS_AS(sign_request<ed25519_signing>(unsigned_req, *pki().monitor_a.keys.private_key, rng()),
                  hefl::invalid_argument);
}

// ---------------------------------------------------------------------------------------------------
// Attack scenarios (seed 003's threat list), each interleaved with honest traffic

TEST_CASE("collector_validator: every attack is refused with its reason and logged; honest traffic passes",
          "[iot][collector_validator][attack]") {
  auto& h = pki();
  rig r;
  const auto& a = h.monitor_a;
  const std::string a_hex = a.epc.to_hex();

  honest_accepted(r, a);

  {
    // A rogue CA with the same subject name issues a certificate for monitor A's identity.
    REQUIRE(h.spoofed.cert.issuer_dn() == a.cert.issuer_dn());
    const auto v = r.validator.validate(h.spoofed.chain(), signed_by(h.spoofed, heart_rate(72)).encode());
    expect(r, v, verdict_reason::untrusted_certificate, a_hex, "request", "unknown");
    CHECK_FALSE(v.holder.has_value());
    honest_accepted(r, a);
  }
  {
    // Node capture: the captured device works until the admin revokes it and the CRL reaches the store.
    const auto& c = h.captured;
    const auto before = r.validator.validate(c.chain(), signed_by(c, heart_rate(70)).encode());
    expect(r, before, verdict_reason::accepted, c.epc.to_hex(), "certificate", "1");
    REQUIRE(h.ca.revoke(c.cert));
    h.store.add_crl(h.ca.crl());
    const auto after = r.validator.validate(c.chain(), signed_by(c, heart_rate(70)).encode());
    expect(r, after, verdict_reason::revoked, c.epc.to_hex(), "request", "unknown");
    honest_accepted(r, a);
  }
  {
    const auto v = r.validator.validate(h.expired.chain(), signed_by(h.expired, heart_rate(70)).encode());
    expect(r, v, verdict_reason::expired, h.expired.epc.to_hex(), "request", "unknown");
    honest_accepted(r, a);
  }
  {
    // Trusted chain, but no hospital identity extension: nothing says which device this is.
    const auto v = r.validator.validate(h.bare.chain(), signed_by(h.bare, heart_rate(70)).encode());
    expect(r, v, verdict_reason::missing_identity, h.bare.epc.to_hex(), "request", "unknown");
    honest_accepted(r, a);
  }
  {
    // False data injection: a value out of range, named by its field.
    const auto req = signed_by(a, heart_rate(400));
    const auto v = r.validator.validate(a.chain(), req.encode());
    const auto tx = expect(r, v, verdict_reason::rule_violation, a_hex, "certificate", "1");
    REQUIRE(v.violation.has_value());
    CHECK(v.violation->kind == rule_violation_kind::out_of_range);
    CHECK(v.violation->field == "bpm");
    CHECK(v.violation->actual == 400);
    CHECK(v.message.find("bpm") != std::string::npos);
    CHECK(tx->field_string("rule") == "out_of_range");
    CHECK(tx->field_string("field") == "bpm");
    CHECK(tx->field_string("payload_hash") == hash_hex(req.data));
    honest_accepted(r, a);
  }
  {
    // False data injection: a data type the thermometer group may not send.
    const auto& t = h.thermometer;
    const auto ok = r.validator.validate(t.chain(), signed_by(t, payload{"temperature", {{"celsius", json(37.2)}}}).encode());
    expect(r, ok, verdict_reason::accepted, t.epc.to_hex(), "certificate", "2");
    const auto v = r.validator.validate(t.chain(), signed_by(t, heart_rate(72)).encode());
    const auto tx = expect(r, v, verdict_reason::rule_violation, t.epc.to_hex(), "certificate", "2");
    REQUIRE(v.violation.has_value());
    CHECK(v.violation->kind == rule_violation_kind::type_not_allowed);
    CHECK(tx->field_string("rule") == "type_not_allowed");
    honest_accepted(r, a);
  }
  {
    // Replay: the same bytes twice; both verdicts are separate ledger entries.
    const auto bytes = signed_by(a, heart_rate(75)).encode();
    const auto first = r.validator.validate(a.chain(), bytes);
    expect(r, first, verdict_reason::accepted, a_hex, "certificate", "1");
    const auto second = r.validator.validate(a.chain(), bytes);
    expect(r, second, verdict_reason::replay, a_hex, "certificate", "1");
    const auto third = r.validator.validate(a.chain(), bytes);
    expect(r, third, verdict_reason::replay, a_hex, "certificate", "1");
    CHECK(*second.ledger_tx != *third.ledger_tx);
    honest_accepted(r, a);
  }
  {
    // Replay of an old capture: the timestamp is outside the window.
    const auto v = r.validator.validate(a.chain(), signed_by(a, heart_rate(75), request_now() - 10min).encode());
    expect(r, v, verdict_reason::stale, a_hex, "certificate", "1");
    const auto f = r.validator.validate(a.chain(), signed_by(a, heart_rate(75), request_now() + 10min).encode());
    expect(r, f, verdict_reason::future, a_hex, "certificate", "1");
    honest_accepted(r, a);
  }
  {
    // A field changed after signing (on the wire, or in the object).
    auto req = signed_by(a, heart_rate(72));
    req.data.fields["bpm"] = 73;
    const auto v = r.validator.validate(a.chain(), req.encode());
    expect(r, v, verdict_reason::bad_signature, a_hex, "certificate", "1");
    const auto o = r.validator.validate(a.chain(), req);
    expect(r, o, verdict_reason::bad_signature, a_hex, "certificate", "1");
    honest_accepted(r, a);
  }
  {
    std::vector<std::uint8_t> huge(r.validator.options().limits.max_bytes + 1, 0x30);
    const auto v = r.validator.validate(a.chain(), huge);
    CHECK_FALSE(expect(r, v, verdict_reason::oversized, "unknown", "none", "unknown").has_value());
    // An object whose fields push it over the limit is refused the same way.
    auto big = signed_by(a, payload{"temperature", {{"site", json(std::string(20000, 'x'))}, {"celsius", json(37.0)}}});
    const auto o = r.validator.validate(a.chain(), big);
    expect(r, o, verdict_reason::oversized, a_hex, "request", "unknown");
    honest_accepted(r, a);
  }
  {
    const std::vector<std::uint8_t> garbage{'G', 'E', 'T', ' ', '/', ' ', 'H', 'T', 'T', 'P', 0, 1, 2, 3};
    const auto v = r.validator.validate(a.chain(), garbage);
    expect(r, v, verdict_reason::malformed, "unknown", "none", "unknown");
    CHECK_FALSE(v.parsed.has_value());
    auto truncated = signed_by(a, heart_rate(72)).encode();
    truncated.resize(truncated.size() - 10);
    const auto t = r.validator.validate(a.chain(), truncated);
    expect(r, t, verdict_reason::malformed, "unknown", "none", "unknown");
    CHECK(t.message.find("truncated") != std::string::npos);
    honest_accepted(r, a);
  }
  {
    // Monitor B's certificate presenting a request for monitor A.
    const auto req = signed_by(a, heart_rate(72));
    const auto v = r.validator.validate(h.monitor_b.chain(), req.encode());
    expect(r, v, verdict_reason::identity_mismatch, h.monitor_b.epc.to_hex(), "certificate", "1");
    // A collector's certificate is valid, but not a device's.
    const auto c = r.validator.validate(h.collector.chain(), req.encode());
    expect(r, c, verdict_reason::wrong_role, a_hex, "request", "1");
    // No certificate at all.
    const auto n = r.validator.validate(certificate_chain{}, req.encode());
    expect(r, n, verdict_reason::untrusted_certificate, a_hex, "request", "unknown");
    honest_accepted(r, a);
  }

  // Every verdict above is one rule_check entry, and the chain verifies.
  r.ledger.flush();
  CHECK(r.ledger.find(tx_kind::rule_check).size() == r.validator.verdict_count());
  CHECK(r.ledger.find(tx_kind::rule_deployment).size() == 2);
  CHECK(r.ledger.verify().ok());
}

TEST_CASE("collector_validator: a forged request cannot burn the device's nonce",
          "[iot][collector_validator][attack]") {
  auto& h = pki();
  rig r;
  const auto& a = h.monitor_a;
  const auto genuine = signed_by(a, heart_rate(72));
  auto forged = genuine;
  forged.data.fields["bpm"] = 140;  // same nonce, forged content, signature no longer matches
  expect(r, r.validator.validate(a.chain(), forged), verdict_reason::bad_signature, a.epc.to_hex(), "certificate", "1");
  CHECK(r.replay.size() == 0);
  expect(r, r.validator.validate(a.chain(), genuine), verdict_reason::accepted, a.epc.to_hex(), "certificate", "1");
  CHECK(r.replay.size() == 1);
}

TEST_CASE("collector_validator: a signing policy that cannot take the certificate's key gives bad_signature",
          "[iot][collector_validator]") {
  rig<collector_validator<trust_store_certificates, ed25519_signing>> r;
  const auto& a = pki().monitor_a;
  const auto v = r.validator.validate(a.chain(), signed_by(a, heart_rate(72)));
  expect(r, v, verdict_reason::bad_signature, a.epc.to_hex(), "certificate", "1");
  CHECK(v.message.find("Ed25519") != std::string::npos);
  CHECK(v.message.find("ECDSA") != std::string::npos);
}

TEST_CASE("collector_validator: the registry hook refuses unknown devices, foreign patients and other collectors",
          "[iot][collector_validator][registry]") {
  auto& h = pki();
  registry reg;
  reg.register_patient({"patient-7", "icu", "1", "1"});
  reg.register_patient({"patient-8", "icu", "1", "2"});
  reg.register_collector("collector-icu");
  reg.register_collector("collector-ward");
  reg.register_device(h.monitor_a.epc, "patient-7", "collector-icu");
  reg.register_device(h.monitor_b.epc, "patient-8", "collector-ward");

  collector_validator_options options;
  options.collector_id = "collector-icu";
  options.devices = &reg;
  rig r(options);
  const auto& a = h.monitor_a;
  const auto& b = h.monitor_b;

  honest_accepted(r, a);
  const auto& t = h.thermometer;
  expect(r, r.validator.validate(t.chain(), signed_by(t, payload{"temperature", {{"celsius", json(37.0)}}},
                                                     request_now(), "patient-7", "collector-icu")),
         verdict_reason::unknown_device, t.epc.to_hex(), "certificate", "2");
  expect(r, r.validator.validate(a.chain(), signed_by(a, heart_rate(72), request_now(), "patient-8", "collector-icu")),
         verdict_reason::patient_mismatch, a.epc.to_hex(), "certificate", "1");
  expect(r, r.validator.validate(b.chain(), signed_by(b, heart_rate(72), request_now(), "patient-8", "collector-icu")),
         verdict_reason::wrong_collector, b.epc.to_hex(), "certificate", "1");
  honest_accepted(r, a);
}

TEST_CASE("collector_validator: concurrent validations from two threads, honest and replayed",
          "[iot][collector_validator][concurrency]") {
  auto& h = pki();
  rig r;
  constexpr int per_thread = 20;
  // Requests are built up front: the test RNG is not shared across threads.
  std::vector<std::vector<std::uint8_t>> batches[2];
  const holder* devices[2] = {&h.monitor_a, &h.monitor_b};
  for (int t = 0; t < 2; ++t)
    for (int i = 0; i < per_thread; ++i) batches[t].push_back(signed_by(*devices[t], heart_rate(60 + i)).encode());

  std::vector<collector_verdict> results[2];
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        results[t].push_back(r.validator.validate(devices[t]->chain(), batches[t][static_cast<std::size_t>(i)]));
        // This thread's previous request again: a replay, refused while the other thread validates.
        if (i > 0)
          results[t].push_back(r.validator.validate(devices[t]->chain(), batches[t][static_cast<std::size_t>(i - 1)]));
      }
    });
  }
  for (auto& th : threads) th.join();

  for (int t = 0; t < 2; ++t) {
    REQUIRE(results[t].size() == 2 * per_thread - 1);
    int accepted = 0, replays = 0;
    for (const auto& v : results[t]) {
      INFO(v.message);
      CHECK(v.ledger_tx.has_value());
      accepted += v.accepted();
      replays += v.reason == verdict_reason::replay;
    }
    CHECK(accepted == per_thread);
    CHECK(replays == per_thread - 1);
  }
  r.ledger.flush();
  CHECK(r.ledger.find(tx_kind::rule_check).size() == 2 * (2 * per_thread - 1));
  CHECK(r.validator.verdict_count() == 2 * (2 * per_thread - 1));
  CHECK(r.ledger.find_device(h.monitor_a.epc.to_hex()).size() == 2 * per_thread - 1);
  CHECK(r.ledger.verify().ok());
}

namespace {

/// A ledger that refuses everything, as a full ledger does (ledger::submit past max_pending).
struct refusing_ledger {
  int attempts = 0;
  sha256_digest submit(transaction) {
    ++attempts;
    throw hefl::security_error("ledger::submit: 100000 transactions already pending");
  }
};

/// A certificate policy that throws instead of answering.
struct throwing_certificates {
  chain_verdict validate(const certificate_chain&, clock_time) { throw std::runtime_error("certificate store offline"); }
};

} // namespace

TEST_CASE("collector_validator: what cannot be logged is refused; a throwing policy fails closed",
          "[iot][collector_validator]") {
  static_assert(ledger_policy<refusing_ledger>);
  static_assert(certificate_policy<throwing_certificates>);
  static_assert(!certificate_policy<int>);
  static_assert(certificate_policy<trust_store_certificates>);

  auto& h = pki();
  const auto& a = h.monitor_a;
  rule_manager<> rules(is_admin, [](const deployment_event&) {});
  REQUIRE(rules.deploy(sign_deployment(vital_signs_example_contract, *h.admin.keys.private_key, h.admin.cert, rng()))
              .accepted());
  replay_guard replay;
  refusing_ledger refusing;
  collector_validator<trust_store_certificates, ecdsa_p256_signing, rule_manager<>, replay_guard, refusing_ledger>
      unlogged(h.store, rules, replay, refusing);
  const auto v = unlogged.validate(a.chain(), signed_by(a, heart_rate(72)));
  CHECK(v.reason == verdict_reason::ledger_unavailable);
  CHECK_FALSE(v.ledger_tx.has_value());
  CHECK(v.message.find("pending") != std::string::npos);
  const auto rejected = unlogged.validate(a.chain(), signed_by(a, heart_rate(400)));
  CHECK(rejected.reason == verdict_reason::rule_violation);
  CHECK(rejected.message.find("ledger refused") != std::string::npos);
  CHECK(refusing.attempts == 2);

  local_ledger chain_log;
  collector_validator<throwing_certificates> broken(throwing_certificates{}, rules, replay, chain_log);
  const auto b = broken.validate(a.chain(), signed_by(a, heart_rate(72)));
  CHECK(b.reason == verdict_reason::policy_error);
  CHECK(b.message.find("offline") != std::string::npos);
  // Before authentication: counted, not logged one by one.
  CHECK_FALSE(b.ledger_tx.has_value());
  CHECK(broken.refusal_counts()["policy_error"] == 1);

  collector_validator_options bad;
  bad.collector_id = "";
  CHECK_THROWS_AS(collector_validator<>(h.store, rules, replay, chain_log, bad), hefl::invalid_argument);
  bad.collector_id = "c\n1";
  CHECK_THROWS_AS(collector_validator<>(h.store, rules, replay, chain_log, bad), hefl::invalid_argument);
}

TEST_CASE("collector_validator: verdict reasons have distinct names", "[iot][collector_validator]") {
  std::set<std::string_view> names;
  for (int i = 0; i <= static_cast<int>(verdict_reason::policy_error); ++i)
    names.insert(to_string(static_cast<verdict_reason>(i)));
  CHECK(names.size() == static_cast<std::size_t>(verdict_reason::policy_error) + 1);
  CHECK_FALSE(names.contains("?"));
  CHECK(to_string(verdict_reason::untrusted_certificate) == "untrusted_certificate");
}
