#include <hefl/iot/pki/pki.hpp>
#include "test_support.hpp"

#include <botan/auto_rng.h>
#include <botan/ecdsa.h>
#include <botan/ed25519.h>
#include <botan/rsa.h>

#include <catch2/catch.hpp>

#include "raw_extension.hpp"

#include <chrono>
#include <filesystem>
#include <memory>
#include <random>

using namespace hefl::iot;
using namespace std::chrono_literals;

namespace {

using hefl_test::raw_extension;

identity make_identity(role r, const std::string& subject, std::uint64_t serial = 1) {
  identity id;
  id.role = r;
  id.subject_id = subject;
  id.group_id = 7;
  id.rule_id = 70;
  if (r == role::device) {
    id.device_epc = sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345." + std::to_string(serial), 1);
  }
  return id;
}

/// Keys, a CA and a rogue CA with the same hospital name, made once for the whole file.
struct pki_fixture {
  Botan::AutoSeeded_RNG rng;
  const clock_time t0 = std::chrono::system_clock::now();
  Botan::ECDSA_PrivateKey ca_key{rng, Botan::EC_Group("secp256r1")};
  certificate_authority ca{std::make_unique<Botan::ECDSA_PrivateKey>(rng, ca_key.domain(), ca_key.private_value()),
                           "St Mary Hospital", t0};
  certificate_authority rogue{"St Mary Hospital", t0};
  Botan::ECDSA_PrivateKey device_key{rng, Botan::EC_Group("secp256r1")};
  Botan::ECDSA_PrivateKey collector_key{rng, Botan::EC_Group("secp256r1")};
  Botan::Ed25519_PrivateKey doctor_key{rng};
  Botan::X509_Certificate device = ca.issue(device_key, make_identity(role::device, "icu-monitor-1"), t0, 365 * 24h);
  Botan::X509_Certificate collector =
      ca.issue(collector_key, make_identity(role::collector, "collector-icu"), t0, 365 * 24h);
  Botan::X509_Certificate doctor = ca.issue(doctor_key, make_identity(role::doctor, "dr.house"), t0, 365 * 24h);

  /// A certificate signed with the real CA key but built by hand, with @p extra as its identity.
  Botan::X509_Certificate forge(Botan::Certificate_Extension* extra) {
    Botan::Extensions ext;
    ext.add(new Botan::Cert_Extension::Basic_Constraints(false), true);
    ext.add(new Botan::Cert_Extension::Key_Usage(Botan::DIGITAL_SIGNATURE), true);
    ext.add(new Botan::Cert_Extension::Extended_Key_Usage({Botan::OID("1.3.6.1.5.5.7.3.2")}));
    ext.add(new Botan::Cert_Extension::Authority_Key_ID(ca.root().subject_key_id()));
    if (extra) ext.add(extra);
    Botan::AlgorithmIdentifier alg;
    std::unique_ptr<Botan::PK_Signer> signer(Botan::choose_sig_format(ca_key, rng, "SHA-256", alg));
    Botan::X509_DN dn;
    dn.add_attribute("X520.CommonName", "forged");
    return Botan::X509_CA::make_cert(signer.get(), rng, Botan::BigInt(999999), alg, device_key.subject_public_key(),
                                     Botan::X509_Time(t0), Botan::X509_Time(t0 + 24h), ca.root().subject_dn(), dn, ext);
  }
};

pki_fixture& fx() {
  static pki_fixture f;
  return f;
}

trust_store hospital_store() {
  auto s = trust_store::in_memory();
  s.add_root(fx().ca.root());
  s.add_crl(fx().ca.crl());  // revocation information is required by default
  return s;
}

/// A temporary directory removed when the test ends, whatever happens.
using hefl_test::temp_dir;

} // namespace

TEST_CASE("CA issues role-specific certificates that validate", "[iot][pki]") {
  auto& f = fx();
  const auto store = hospital_store();
  const auto now = f.t0 + 1min;
  CHECK(f.ca.root().is_CA_cert());
  CHECK(f.ca.root().subject_dn() == f.rogue.root().subject_dn());  // same name, different key

  const auto d = validate_chain(f.device, store, cert_usage::tls_client, now);
  REQUIRE(d.ok());
  CHECK(d.reason.empty());
  REQUIRE(d.holder);
  CHECK(d.holder->role == role::device);
  CHECK(d.holder->device_epc->to_urn() == "urn:epc:id:sgtin:0614141.812345.1");
  CHECK(d.holder->group_id == 7);
  CHECK(f.device.subject_info("X520.CommonName").at(0) == "icu-monitor-1");
  CHECK_FALSE(f.device.is_CA_cert());
  CHECK_FALSE(f.device.v3_extensions().critical_extension_set(identity_oid()));

  CHECK(validate_chain(f.collector, store, cert_usage::tls_server, now).ok());
  CHECK(validate_chain(f.collector, store, cert_usage::tls_client, now).ok());
  const auto doc = validate_chain(f.doctor, store, cert_usage::record_signing, now, {role::doctor, role::nurse});
  REQUIRE(doc.ok());
  CHECK(doc.holder->subject_id == "dr.house");
  // The chain may include the root itself.
  CHECK(validate_chain(std::vector{f.device, f.ca.root()}, store, cert_usage::tls_client, now).ok());
}

TEST_CASE("serial numbers are random 128-bit values, each recorded once", "[iot][pki]") {
  auto& f = fx();
  const auto before = f.ca.issued_count();
  const auto a = f.ca.issue(f.device_key, make_identity(role::device, "serial-a", 11), f.t0, 24h);
  const auto b = f.ca.issue(f.device_key, make_identity(role::device, "serial-b", 12), f.t0, 24h);
  CHECK(a.serial_number() != b.serial_number());
  CHECK(Botan::BigInt(a.serial_number()).bits() == 128);
  CHECK(Botan::BigInt(b.serial_number()).bits() == 128);
  CHECK(Botan::BigInt(f.ca.root().serial_number()).bits() == 128);
  CHECK(f.ca.issued_count() == before + 2);
  CHECK_FALSE(f.ca.persistent());
}

TEST_CASE("spoofing: a rogue CA with the same name is untrusted", "[iot][pki]") {
  auto& f = fx();
  const auto store = hospital_store();
  const auto fake = f.rogue.issue(f.device_key, make_identity(role::device, "icu-monitor-1"), f.t0, 24h);
  CHECK(fake.issuer_dn() == f.device.issuer_dn());
  const auto v = validate_chain(fake, store, cert_usage::tls_client, f.t0 + 1min);
  CHECK(v.status == chain_status::untrusted);
  CHECK(v.botan_code == Botan::Certificate_Status_Code::CERT_ISSUER_NOT_FOUND);
  CHECK_THAT(v.reason, Catch::Contains("untrusted") && Catch::Contains("issuer"));
  CHECK_FALSE(v.holder);
  // Shipping the rogue root in the chain does not help.
  CHECK(validate_chain(std::vector{fake, f.rogue.root()}, store, cert_usage::tls_client, f.t0 + 1min).status ==
        chain_status::untrusted);
  CHECK_THROWS_AS(f.ca.revoke(fake), hefl::invalid_argument);
  CHECK(validate_chain(std::vector<Botan::X509_Certificate>{}, store, cert_usage::tls_client).status ==
        chain_status::untrusted);
  const auto empty = trust_store::in_memory();
  CHECK(validate_chain(f.device, empty, cert_usage::tls_client, f.t0 + 1min).status == chain_status::untrusted);
}

TEST_CASE("node capture: a revoked device is refused", "[iot][pki]") {
  auto& f = fx();
  auto store = hospital_store();
  const auto captured = f.ca.issue(f.device_key, make_identity(role::device, "ward-3-pump", 33), f.t0, 24h);
  CHECK(validate_chain(captured, store, cert_usage::tls_client, f.t0 + 1min).ok());  // not yet revoked
  CHECK(f.ca.revoke(captured, Botan::CRL_Code::KEY_COMPROMISE, f.t0));
  CHECK_FALSE(f.ca.revoke(captured, Botan::CRL_Code::KEY_COMPROMISE, f.t0));
  CHECK(f.ca.is_revoked(captured));
  CHECK_FALSE(f.ca.is_revoked(f.device));
  store.add_crl(f.ca.crl());
  CHECK(store.crl_count() == 1);  // the newer CRL replaced the older one
  const auto v = validate_chain(captured, store, cert_usage::tls_client, f.t0 + 3min);
  CHECK(v.status == chain_status::revoked);
  CHECK(v.botan_code == Botan::Certificate_Status_Code::CERT_IS_REVOKED);
  CHECK_THAT(v.reason, Catch::Contains("revoked"));
  // Honest devices still pass, now with revocation checked.
  CHECK(validate_chain(f.device, store, cert_usage::tls_client, f.t0 + 3min).ok());
}

TEST_CASE("expired and not-yet-valid certificates are refused", "[iot][pki]") {
  auto& f = fx();
  const auto store = hospital_store();
  const auto short_lived = f.ca.issue(f.device_key, make_identity(role::device, "short-lived", 44), f.t0, 1h);
  CHECK(validate_chain(short_lived, store, cert_usage::tls_client, f.t0 + 30min).ok());
  const auto expired = validate_chain(short_lived, store, cert_usage::tls_client, f.t0 + 2h);
  CHECK(expired.status == chain_status::expired);
  CHECK(expired.botan_code == Botan::Certificate_Status_Code::CERT_HAS_EXPIRED);

  const auto future = f.ca.issue(f.device_key, make_identity(role::device, "future", 45), f.t0 + 24h, f.t0 + 48h);
  const auto early = validate_chain(future, store, cert_usage::tls_client, f.t0 + 1h);
  CHECK(early.status == chain_status::not_yet_valid);
  CHECK(early.botan_code == Botan::Certificate_Status_Code::CERT_NOT_YET_VALID);
  CHECK(validate_chain(future, store, cert_usage::tls_client, f.t0 + 25h).ok());
}

TEST_CASE("wrong usage and wrong role are refused", "[iot][pki]") {
  auto& f = fx();
  const auto store = hospital_store();
  const auto now = f.t0 + 1min;
  const auto as_server = validate_chain(f.device, store, cert_usage::tls_server, now);
  CHECK(as_server.status == chain_status::wrong_usage);
  CHECK(as_server.botan_code == Botan::Certificate_Status_Code::INVALID_USAGE);
  const auto as_signer = validate_chain(f.device, store, cert_usage::record_signing, now);
  CHECK(as_signer.status == chain_status::wrong_usage);
  CHECK_THAT(as_signer.reason, Catch::Contains("nonRepudiation"));
  CHECK(validate_chain(f.doctor, store, cert_usage::tls_server, now).status == chain_status::wrong_usage);
  const auto role_mismatch = validate_chain(f.device, store, cert_usage::tls_client, now, {role::collector, role::storage});
  CHECK(role_mismatch.status == chain_status::wrong_role);
  CHECK_THAT(role_mismatch.reason, Catch::Contains("is a device"));
}

TEST_CASE("missing and malformed identity extensions are refused", "[iot][pki]") {
  auto& f = fx();
  const auto store = hospital_store();
  const auto now = f.t0 + 1min;
  const auto bare = f.forge(nullptr);
  const auto missing = validate_chain(bare, store, cert_usage::tls_client, now);
  CHECK(missing.status == chain_status::missing_identity);
  CHECK_THAT(missing.reason, Catch::Contains("no hospital identity"));

  const auto garbage = f.forge(new raw_extension(identity_oid(), {0x30, 0x03, 0x02, 0x01, 0x07}));
  const auto malformed = validate_chain(garbage, store, cert_usage::tls_client, now);
  CHECK(malformed.status == chain_status::malformed_identity);
  CHECK_THAT(malformed.reason, Catch::Contains("version: expected 1, got 7"));

  const auto not_der = f.forge(new raw_extension(identity_oid(), {'h', 'e', 'l', 'l', 'o'}));
  CHECK(validate_chain(not_der, store, cert_usage::tls_client, now).status == chain_status::malformed_identity);
}

TEST_CASE("CRL lifecycle: stale CRL, refresh, forged CRL", "[iot][pki]") {
  auto& f = fx();
  auto store = hospital_store();
  certificate_authority other("Other Hospital", f.t0, {std::chrono::hours(24 * 365), std::chrono::hours(24)});
  Botan::ECDSA_PrivateKey k(f.rng, Botan::EC_Group("secp256r1"));
  auto other_store = trust_store::in_memory();
  other_store.add_root(other.root());
  const auto cert = other.issue(k, make_identity(role::device, "other-dev", 55), f.t0, 30 * 24h);
  other_store.add_crl(other.crl());
  CHECK(validate_chain(cert, other_store, cert_usage::tls_client, f.t0 + 1h).ok());
  const auto stale = validate_chain(cert, other_store, cert_usage::tls_client, f.t0 + 48h);
  CHECK(stale.status == chain_status::revocation_unavailable);
  CHECK(stale.botan_code == Botan::Certificate_Status_Code::CRL_HAS_EXPIRED);
  other_store.add_crl(other.refresh_crl(f.t0 + 47h));
  CHECK(validate_chain(cert, other_store, cert_usage::tls_client, f.t0 + 48h).ok());
  other_store.add_crl(other.crl());  // re-adding the same CRL is harmless
  CHECK(other_store.crl_count() == 1);

  CHECK_THROWS_AS(store.add_crl(other.crl()), hefl::security_error);
  CHECK_THROWS_AS(store.add_crl(f.rogue.crl()), hefl::security_error);  // same issuer name, wrong key
  CHECK_THROWS_AS(store.add_root(f.device), hefl::invalid_argument);
  CHECK(store.crl_count() == 1);  // still only the hospital's own
}

TEST_CASE("CA and issuance refuse bad parameters", "[iot][pki]") {
  auto& f = fx();
  CHECK_THROWS_AS(certificate_authority(""), hefl::invalid_argument);
  CHECK_THROWS_WITH(certificate_authority(std::string(65, 'x')), Catch::Contains("expected 1..64 characters, got 65"));
  CHECK_THROWS_AS(certificate_authority(std::make_unique<Botan::ECDSA_PrivateKey>(f.rng, Botan::EC_Group("secp384r1")),
                                        "H", f.t0),
                  hefl::invalid_argument);
  auto bad = make_identity(role::device, "x");
  bad.device_epc.reset();
  CHECK_THROWS_AS(f.ca.issue(f.device_key, bad, f.t0, 24h), hefl::invalid_argument);
  CHECK_THROWS_WITH(f.ca.issue(f.doctor_key, make_identity(role::device, "ed-dev", 66), f.t0, 24h),
                    Catch::Contains("expected ECDSA (TLS), got Ed25519"));
  CHECK_THROWS_AS(f.ca.issue(f.device_key, make_identity(role::device, "y", 67), f.t0, f.t0), hefl::invalid_argument);
  CHECK_THROWS_WITH(f.ca.issue(f.device_key, make_identity(role::device, "z", 68), f.t0, 24h * 365 * 11),
                    Catch::Contains("is after the root's"));
  const Botan::RSA_PrivateKey weak(f.rng, 1024);
  CHECK_THROWS_AS(f.ca.issue(weak, make_identity(role::patient, "p-1"), f.t0, 24h), hefl::security_error);
}

TEST_CASE("SQLite trust store survives a reopen", "[iot][pki]") {
  auto& f = fx();
  temp_dir dir;
  const auto file = dir.path / "trust.sqlite";
  const auto revoked = f.ca.issue(f.device_key, make_identity(role::device, "sqlite-dev", 77), f.t0, 24h);
  f.ca.revoke(revoked, Botan::CRL_Code::KEY_COMPROMISE, f.t0 + 1min);
  {
    auto store = trust_store::open_sqlite(file);
    CHECK(store.persistent());
    store.add_root(f.ca.root());
    store.add_root(f.ca.root());  // idempotent
    store.add_crl(f.ca.crl());
    CHECK(validate_chain(revoked, store, cert_usage::tls_client, f.t0 + 2min).status == chain_status::revoked);
  }
  REQUIRE(std::filesystem::exists(file));
  auto reopened = trust_store::open_sqlite(file);
  CHECK(reopened.roots().size() == 1);
  CHECK(reopened.roots().at(0) == f.ca.root());
  CHECK(reopened.crl_count() == 1);
  CHECK(validate_chain(f.device, reopened, cert_usage::tls_client, f.t0 + 2min).ok());
  CHECK(validate_chain(revoked, reopened, cert_usage::tls_client, f.t0 + 2min).status == chain_status::revoked);
  const auto fake = f.rogue.issue(f.device_key, make_identity(role::device, "sqlite-fake", 78), f.t0, 24h);
  CHECK(validate_chain(fake, reopened, cert_usage::tls_client, f.t0 + 2min).status == chain_status::untrusted);
  CHECK(validate_chain(f.device, reopened, cert_usage::tls_server, f.t0 + 2min).status == chain_status::wrong_usage);
  CHECK_THROWS_AS(trust_store::open_sqlite(dir.path / "no-such-dir" / "x.sqlite"), hefl::io_error);
}
