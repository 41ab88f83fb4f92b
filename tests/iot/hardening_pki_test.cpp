// The hospital PKI tried as an attacker would (issue 10, items 4, 5, 6 and 12): degenerate keys,
// a CA restarted from its stored key, a trust store whose database was edited, and crafted chains.
#include <hefl/iot/pki/key_validation.hpp>
#include "test_support.hpp"
#include <hefl/iot/pki/pki.hpp>
#include <hefl/iot/pki/signing.hpp>

#include <botan/auto_rng.h>
#include <botan/data_src.h>
#include <botan/dl_group.h>
#include <botan/dsa.h>
#include <botan/ecdsa.h>
#include <botan/ed25519.h>
#include <botan/pkcs8.h>
#include <botan/sqlite3.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace hefl::iot;
using namespace std::chrono_literals;

namespace {

identity make_identity(role r, const std::string& subject, std::uint64_t serial = 1) {
  identity id;
  id.role = r;
  id.subject_id = subject;
  id.group_id = 3;
  id.rule_id = 30;
  if (r == role::device) id.device_epc = sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345." + std::to_string(serial), 1);
  return id;
}

std::vector<std::uint8_t> from_hex(const std::string& hex) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

/// A CA whose key the test keeps, to build certificates the CA itself would refuse (as a CA from
/// before the key checks, or a compromised one, would have issued them).
struct hardening_fixture {
  Botan::AutoSeeded_RNG rng;
  const clock_time t0 = std::chrono::system_clock::now();
  Botan::ECDSA_PrivateKey ca_key{rng, Botan::EC_Group("secp256r1")};
  certificate_authority ca{std::make_unique<Botan::ECDSA_PrivateKey>(rng, ca_key.domain(), ca_key.private_value()),
                           "St Mary Hospital", t0 - 1h};
  Botan::ECDSA_PrivateKey device_key{rng, Botan::EC_Group("secp256r1")};

  /// A certificate for @p key signed with the real CA key, bypassing the CA's key checks.
  Botan::X509_Certificate certify_unchecked(const Botan::Public_Key& key, const identity& id) {
    Botan::Extensions ext;
    ext.add(new Botan::Cert_Extension::Basic_Constraints(false), true);
    ext.add(new Botan::Cert_Extension::Key_Usage(certificate_authority::usage_for(id.role)), true);
    ext.add(new Botan::Cert_Extension::Extended_Key_Usage(certificate_authority::extended_usage_for(id.role)));
    ext.add(new Botan::Cert_Extension::Authority_Key_ID(ca.root().subject_key_id()));
    ext.add(new identity_extension(id), false);
    Botan::AlgorithmIdentifier alg;
    std::unique_ptr<Botan::PK_Signer> signer(Botan::choose_sig_format(ca_key, rng, "SHA-256", alg));
    Botan::X509_DN dn;
    dn.add_attribute("X520.CommonName", id.subject_id);
    return Botan::X509_CA::make_cert(signer.get(), rng, Botan::BigInt(rng, 128), alg, key.subject_public_key(),
                                     Botan::X509_Time(t0 - 1h), Botan::X509_Time(t0 + 24h), ca.root().subject_dn(), dn,
                                     ext);
  }

  trust_store store() {
    auto s = trust_store::in_memory();
    s.add_root(ca.root());
    s.add_crl(ca.crl());
    return s;
  }
};

hardening_fixture& fx() {
  static hardening_fixture f;
  return f;
}

/// DSA in Botan's 2048-bit group, but with g = 1 and y = 1.
Botan::DSA_PublicKey degenerate_dsa_key() {
  const Botan::DL_Group good("dsa/botan/2048");
  return Botan::DSA_PublicKey(Botan::DL_Group(good.get_p(), good.get_q(), Botan::BigInt(1)), Botan::BigInt(1));
}

/// The encoding of the Ed25519 identity point (0, 1): order 1.
std::vector<std::uint8_t> ed25519_identity() {
  std::vector<std::uint8_t> a(32, 0);
  a[0] = 1;
  return a;
}

using hefl_test::temp_dir;

/// Runs one SQL statement on @p file, as an attacker with write access to the database would.
void tamper(const std::filesystem::path& file, const std::string& sql, const std::vector<std::uint8_t>* blob = nullptr) {
  Botan::Sqlite3_Database db(file.string());
  auto stmt = db.new_statement(sql);
  if (blob) stmt->bind(1, *blob);
  stmt->spin();
}

/// y(8P) for the Ed25519 point with affine y = @p y, by three doublings tracked on (x^2, y) only:
/// on -x^2 + y^2 = 1 + d x^2 y^2, 2P has y' = (y^2 + x^2) / (2 + x^2 - y^2) and x'^2 = 4 x^2 y^2 / (y^2 - x^2)^2.
bool ed25519_times_8_is_identity(const Botan::BigInt& y_in) {
  const auto& c = detail::ed25519_constants();
  const auto& p = c.p;
  Botan::BigInt y = y_in % p;
  Botan::BigInt x2 = (y * y + p - 1) % p * Botan::inverse_mod((c.d * y * y + 1) % p, p) % p;
  for (int i = 0; i < 3; ++i) {
    const Botan::BigInt y2 = y * y % p;
    const Botan::BigInt ny = (y2 + x2) % p * Botan::inverse_mod((x2 + 2 + p - y2) % p, p) % p;
    const Botan::BigInt diff = (y2 + p - x2) % p;
    const Botan::BigInt nx2 = Botan::BigInt(4) * x2 % p * y2 % p * Botan::inverse_mod(diff * diff % p, p) % p;
    y = ny;
    x2 = nx2;
  }
  return x2.is_zero() && y == 1;
}

/// CA certificates named like the root (subject = issuer = the root's name) without key identifiers,
/// each signed by a key other than its own, so none is self-signed: Botan's path builder tries every
/// ordering of them before checking a signature (FIELD_NOTES: 20 s for 10 of them).
std::vector<Botan::X509_Certificate> fake_intermediates(const Botan::X509_Certificate& leaf, std::size_t n,
                                                        Botan::RandomNumberGenerator& rng, clock_time t0) {
  std::vector<Botan::X509_Certificate> out;
  for (std::size_t i = 0; i < n; ++i) {
    Botan::ECDSA_PrivateKey k(rng, Botan::EC_Group("secp256r1"));
    Botan::ECDSA_PrivateKey subject(rng, Botan::EC_Group("secp256r1"));
    Botan::Extensions ext;
    ext.add(new Botan::Cert_Extension::Basic_Constraints(true, 8), true);
    ext.add(new Botan::Cert_Extension::Key_Usage(static_cast<Botan::Key_Constraints>(Botan::KEY_CERT_SIGN | Botan::CRL_SIGN)),
            true);
    Botan::AlgorithmIdentifier alg;
    std::unique_ptr<Botan::PK_Signer> signer(Botan::choose_sig_format(k, rng, "SHA-256", alg));
    out.push_back(Botan::X509_CA::make_cert(signer.get(), rng, Botan::BigInt(rng, 64), alg, subject.subject_public_key(),
                                            Botan::X509_Time(t0 - 1h), Botan::X509_Time(t0 + 24h), leaf.issuer_dn(),
                                            leaf.issuer_dn(), ext));
  }
  return out;
}

} // namespace

// ---- item 4: degenerate keys ---------------------------------------------------------------------

TEST_CASE("degenerate DSA key (g = 1, y = 1): one fixed signature verifies any message under raw Botan", "[iot][pki][hardening]") {
  const auto key = degenerate_dsa_key();
  const std::vector<std::uint8_t> r_s = [] {
    std::vector<std::uint8_t> sig(64, 0);
    sig[31] = 1;  // r = 1
    sig[63] = 1;  // s = 1
    return sig;
  }();
  for (const std::string msg : {"heart rate 72", "heart rate 190"}) {
    Botan::PK_Verifier raw(key, "EMSA1(SHA-256)", Botan::IEEE_1363);
    CHECK(raw.verify_message(reinterpret_cast<const std::uint8_t*>(msg.data()), msg.size(), r_s.data(), r_s.size()));
    CHECK_FALSE(dsa2048_signing::verify(key, std::span(reinterpret_cast<const std::uint8_t*>(msg.data()), msg.size()), r_s));
  }
  const auto check = check_public_key(key, key_check_depth::encoding);
  CHECK(check.defect == key_defect::degenerate_element);
  CHECK_THAT(check.reason, Catch::Contains("g = 1"));
  CHECK_FALSE(dsa2048_signing::accepts_key(key));
}

TEST_CASE("small-order Ed25519 key: R = identity, S = 0 verifies any message under raw Botan", "[iot][pki][hardening]") {
  const Botan::Ed25519_PublicKey key(ed25519_identity());
  std::vector<std::uint8_t> sig(64, 0);
  sig[0] = 1;  // R = identity, S = 0
  for (const std::string msg : {"spo2 98", "spo2 60"}) {
    Botan::PK_Verifier raw(key, "Pure", Botan::IEEE_1363);
    CHECK(raw.verify_message(reinterpret_cast<const std::uint8_t*>(msg.data()), msg.size(), sig.data(), sig.size()));
    CHECK_FALSE(ed25519_signing::verify(key, std::span(reinterpret_cast<const std::uint8_t*>(msg.data()), msg.size()), sig));
  }
  CHECK(check_public_key(key, key_check_depth::encoding).defect == key_defect::small_order);
  CHECK_FALSE(ed25519_signing::accepts_key(key));
}

TEST_CASE("Ed25519 small-order set: exactly the 5 y values whose points P have 8P = identity", "[iot][pki][hardening]") {
  const auto& c = detail::ed25519_constants();
  REQUIRE(c.small_order_y.size() == 5);
  for (const auto& y : c.small_order_y) CHECK(ed25519_times_8_is_identity(y));
  // The order-8 encodings listed by libsodium (crypto_core_ed25519_is_valid_point's blocklist).
  for (const auto* hex : {"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
                          "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"}) {
    const Botan::Ed25519_PublicKey k(from_hex(hex));
    CHECK(check_public_key(k, key_check_depth::encoding).defect == key_defect::small_order);
  }
  // Real keys are not small order, and pass every depth.
  Botan::AutoSeeded_RNG rng;
  for (int i = 0; i < 8; ++i) {
    const Botan::Ed25519_PrivateKey k(rng);
    auto a = k.get_public_key();
    a[31] &= 0x7F;
    std::reverse(a.begin(), a.end());
    CHECK_FALSE(ed25519_times_8_is_identity(Botan::BigInt(a.data(), a.size())));
    CHECK(check_public_key(k, key_check_depth::full).ok());
  }
  // Non-canonical: y = p + 1 (the identity again, encoded above the field).
  auto non_canonical = from_hex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
  CHECK(check_public_key(Botan::Ed25519_PublicKey(non_canonical), key_check_depth::encoding).defect == key_defect::bad_encoding);
  // y = 2 is not the y of any curve point.
  std::vector<std::uint8_t> off_curve(32, 0);
  off_curve[0] = 2;
  const Botan::Ed25519_PublicKey off(off_curve);
  const bool on_curve = check_public_key(off, key_check_depth::subgroup).defect != key_defect::not_on_curve;
  const auto y2 = Botan::BigInt(4);
  const auto x2 = (y2 + c.p - 1) * Botan::inverse_mod((c.d * y2 + 1) % c.p, c.p) % c.p;
  CHECK(on_curve == (Botan::power_mod(x2, (c.p - 1) >> 1, c.p) == 1));
}

TEST_CASE("honest keys of every signing policy pass full validation; small DSA groups do not", "[iot][pki][hardening]") {
  Botan::AutoSeeded_RNG rng;
  CHECK(check_public_key(*ed25519_signing::generate(rng).public_key, key_check_depth::full).ok());
  CHECK(check_public_key(*ecdsa_p256_signing::generate(rng).public_key, key_check_depth::full).ok());
  CHECK(check_public_key(*dsa2048_signing::generate(rng).public_key, key_check_depth::full).ok());
  const Botan::DSA_PrivateKey small(rng, Botan::DL_Group("dsa/jce/1024"));
  CHECK(check_public_key(small, key_check_depth::encoding).defect == key_defect::insecure_parameters);
  // y outside the order-q subgroup: p - 2 is in range but y^q != 1.
  const auto& g = dsa2048_signing::group();
  const Botan::DSA_PublicKey outside(g, g.get_p() - 2);
  CHECK(check_public_key(outside, key_check_depth::encoding).ok());  // the cheap depth cannot see it
  CHECK(check_public_key(outside, key_check_depth::subgroup).defect == key_defect::not_in_subgroup);
}

TEST_CASE("issuance refuses degenerate DSA and small-order Ed25519 keys", "[iot][pki][hardening]") {
  auto& f = fx();
  CHECK_THROWS_AS(f.ca.issue(degenerate_dsa_key(), make_identity(role::patient, "p-dsa"), f.t0, 24h), hefl::security_error);
  CHECK_THROWS_WITH(f.ca.issue(degenerate_dsa_key(), make_identity(role::patient, "p-dsa"), f.t0, 24h),
                    Catch::Contains("degenerate_element") && Catch::Contains("g = 1"));
  const Botan::Ed25519_PublicKey small(ed25519_identity());
  CHECK_THROWS_WITH(f.ca.issue(small, make_identity(role::doctor, "dr.small"), f.t0, 24h), Catch::Contains("small_order"));
  const Botan::Ed25519_PublicKey order8(from_hex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"));
  CHECK_THROWS_AS(f.ca.issue(order8, make_identity(role::nurse, "n.small"), f.t0, 24h), hefl::security_error);
  // An honest Ed25519 key of a person still gets its certificate.
  Botan::Ed25519_PrivateKey honest(f.rng);
  CHECK(validate_chain(f.ca.issue(honest, make_identity(role::doctor, "dr.ok"), f.t0, 24h), f.store(),
                       cert_usage::record_signing, f.t0 + 1min)
            .ok());
}

TEST_CASE("a presented certificate carrying a degenerate key is refused as invalid_key", "[iot][pki][hardening]") {
  auto& f = fx();
  const auto store = f.store();
  const auto dsa_cert = f.certify_unchecked(degenerate_dsa_key(), make_identity(role::patient, "p-forged"));
  const auto v = validate_chain(dsa_cert, store, cert_usage::record_signing, f.t0 + 1min);
  CHECK(v.status == chain_status::invalid_key);
  CHECK_THAT(v.reason, Catch::Contains("degenerate_element"));
  CHECK_FALSE(v.holder);

  const auto ed_cert = f.certify_unchecked(Botan::Ed25519_PublicKey(ed25519_identity()), make_identity(role::doctor, "dr.forged"));
  const auto w = validate_chain(ed_cert, store, cert_usage::record_signing, f.t0 + 1min);
  CHECK(w.status == chain_status::invalid_key);
  CHECK_THAT(w.reason, Catch::Contains("small_order"));

  // The same path with an honest key is accepted: the refusal is about the key, not the forging.
  Botan::Ed25519_PrivateKey honest(f.rng);
  CHECK(validate_chain(f.certify_unchecked(honest, make_identity(role::doctor, "dr.honest")), store,
                       cert_usage::record_signing, f.t0 + 1min)
            .ok());
}

// ---- item 12: crafted chains ---------------------------------------------------------------------

TEST_CASE("a leaf plus 10 same-named fake intermediates is refused before path building", "[iot][pki][hardening]") {
  auto& f = fx();
  const auto store = f.store();
  const auto leaf = f.ca.issue(f.device_key, make_identity(role::device, "chain-dev", 120), f.t0, 24h);
  auto chain = std::vector<Botan::X509_Certificate>{leaf};
  const auto fakes = fake_intermediates(leaf, 10, f.rng, f.t0);
  chain.insert(chain.end(), fakes.begin(), fakes.end());
  const auto v = validate_chain(chain, store, cert_usage::tls_client, f.t0 + 1min);
  CHECK(v.status == chain_status::chain_too_long);
  CHECK_THAT(v.reason, Catch::Contains("11 certificates") && Catch::Contains("at most 2"));
  CHECK_FALSE(v.holder);
  // The hospital's real shapes still validate: the leaf alone, and leaf + root.
  CHECK(validate_chain(leaf, store, cert_usage::tls_client, f.t0 + 1min).ok());
  CHECK(validate_chain(std::vector{leaf, f.ca.root()}, store, cert_usage::tls_client, f.t0 + 1min).ok());
  // One fake intermediate fits under the cap and costs one path: the leaf's real issuer is still found.
  CHECK(validate_chain(std::vector{leaf, fakes.front()}, store, cert_usage::tls_client, f.t0 + 1min).ok());
  // The cap is the store's configuration; it cannot be below 1.
  CHECK_THROWS_AS(trust_store::in_memory({revocation_policy::required, 0}), hefl::invalid_argument);
}

TEST_CASE("validation reads an immutable snapshot: a CRL added meanwhile does not change it", "[iot][pki][hardening]") {
  // validate_chain takes the store's lock only to copy this pointer; path building runs on the copy.
  auto& f = fx();
  certificate_authority ca("Snapshot Hospital", f.t0 - 1h);
  const auto captured = ca.issue(f.device_key, make_identity(role::device, "snap-dev", 121), f.t0 - 1h, 24h);
  auto store = trust_store::in_memory();
  store.add_root(ca.root());
  store.add_crl(ca.crl());
  const auto before = store.snapshot();
  REQUIRE(ca.revoke(captured, Botan::CRL_Code::KEY_COMPROMISE, f.t0 - 30min));
  store.add_crl(ca.crl());
  CHECK_FALSE(before->crls.front()->is_revoked(captured));
  CHECK(store.snapshot()->crls.front()->is_revoked(captured));
  CHECK(store.snapshot() != before);
  CHECK(validate_chain(captured, store, cert_usage::tls_client, f.t0).status == chain_status::revoked);
}

// ---- item 6: revocation fails closed ---------------------------------------------------------------

TEST_CASE("revocation is required by default: a store without a CRL refuses", "[iot][pki][hardening]") {
  auto& f = fx();
  const auto leaf = f.ca.issue(f.device_key, make_identity(role::device, "no-crl-dev", 60), f.t0, 24h);
  auto store = trust_store::in_memory();
  store.add_root(f.ca.root());
  const auto v = validate_chain(leaf, store, cert_usage::tls_client, f.t0 + 1min);
  CHECK(v.status == chain_status::revocation_unavailable);
  CHECK(v.botan_code == Botan::Certificate_Status_Code::NO_REVOCATION_DATA);
  // Opting out is explicit and named.
  auto unchecked = trust_store::in_memory({revocation_policy::not_checked});
  unchecked.add_root(f.ca.root());
  CHECK(validate_chain(leaf, unchecked, cert_usage::tls_client, f.t0 + 1min).ok());
  CHECK(unchecked.options().revocation == revocation_policy::not_checked);
}

TEST_CASE("trust store in SQLite: deleting the CRL row does not un-revoke a device", "[iot][pki][hardening]") {
  auto& f = fx();
  temp_dir dir;
  const auto file = dir.path / "trust.sqlite";
  certificate_authority ca("Delete Hospital", f.t0 - 1h);
  const auto captured = ca.issue(f.device_key, make_identity(role::device, "captured", 61), f.t0 - 1h, 24h);
  REQUIRE(ca.revoke(captured, Botan::CRL_Code::KEY_COMPROMISE, f.t0 - 30min));
  {
    auto store = trust_store::open_sqlite(file);
    store.add_root(ca.root());
    store.add_crl(ca.crl());
    REQUIRE(validate_chain(captured, store, cert_usage::tls_client, f.t0).status == chain_status::revoked);
  }
  tamper(file, "DELETE FROM hefl_crls");
  const auto reopened = trust_store::open_sqlite(file);
  CHECK(reopened.crl_count() == 0);
  const auto v = validate_chain(captured, reopened, cert_usage::tls_client, f.t0);
  CHECK(v.status == chain_status::revocation_unavailable);
  CHECK_THAT(v.reason, Catch::Contains("missing"));
  REQUIRE(reopened.load_problems().size() == 1);
  CHECK_THAT(reopened.load_problems().front(), Catch::Contains("missing"));
}

TEST_CASE("trust store in SQLite: a tampered stored CRL is re-verified and refused at load", "[iot][pki][hardening]") {
  auto& f = fx();
  temp_dir dir;
  const auto file = dir.path / "trust.sqlite";
  certificate_authority ca("Tamper Hospital", f.t0 - 1h);
  const auto captured = ca.issue(f.device_key, make_identity(role::device, "captured", 62), f.t0 - 1h, 24h);
  REQUIRE(ca.revoke(captured, Botan::CRL_Code::KEY_COMPROMISE, f.t0 - 30min));
  {
    auto store = trust_store::open_sqlite(file);
    store.add_root(ca.root());
    store.add_crl(ca.crl());
  }
  auto der = ca.crl().BER_encode();
  der[der.size() - 5] ^= 0x01;  // inside the signature
  tamper(file, "UPDATE hefl_crls SET der = ?1", &der);
  const auto reopened = trust_store::open_sqlite(file);
  REQUIRE(reopened.load_problems().size() == 1);
  CHECK_THAT(reopened.load_problems().front(), Catch::Contains("not signed by a trusted root"));
  CHECK(reopened.crl_count() == 0);
  const auto v = validate_chain(captured, reopened, cert_usage::tls_client, f.t0);
  CHECK(v.status == chain_status::revocation_unavailable);
  CHECK_THAT(v.reason, Catch::Contains("not signed by a trusted root"));
  // A CRL that does not even parse is refused the same way, not thrown at the caller.
  const std::vector<std::uint8_t> junk{0x30, 0x03, 0x02, 0x01, 0x07};
  tamper(file, "UPDATE hefl_crls SET der = ?1", &junk);
  const auto junk_store = trust_store::open_sqlite(file);
  REQUIRE(junk_store.load_problems().size() == 1);
  CHECK_THAT(junk_store.load_problems().front(), Catch::Contains("does not parse"));
  CHECK(validate_chain(captured, junk_store, cert_usage::tls_client, f.t0).status == chain_status::revocation_unavailable);
}

TEST_CASE("trust store: a CRL older than the newest seen is refused (no rollback), in memory and in SQLite", "[iot][pki][hardening]") {
  auto& f = fx();
  temp_dir dir;
  const auto file = dir.path / "trust.sqlite";
  certificate_authority ca("Rollback Hospital", f.t0 - 1h);
  const auto captured = ca.issue(f.device_key, make_identity(role::device, "captured", 63), f.t0 - 1h, 24h);
  const auto before = ca.crl();  // CRL number 1: nobody revoked
  REQUIRE(ca.revoke(captured, Botan::CRL_Code::KEY_COMPROMISE, f.t0 - 30min));
  const auto after = ca.crl();
  REQUIRE(after.crl_number() > before.crl_number());

  auto memory = trust_store::in_memory();
  memory.add_root(ca.root());
  memory.add_crl(after);
  CHECK_THROWS_AS(memory.add_crl(before), hefl::security_error);
  CHECK_THROWS_WITH(memory.add_crl(before), Catch::Contains("rollback"));
  CHECK(validate_chain(captured, memory, cert_usage::tls_client, f.t0).status == chain_status::revoked);

  {
    auto store = trust_store::open_sqlite(file);
    store.add_root(ca.root());
    store.add_crl(before);
    store.add_crl(after);
    CHECK_THROWS_WITH(store.add_crl(before), Catch::Contains("rollback"));
  }
  const auto old_der = before.BER_encode();
  tamper(file, "UPDATE hefl_crls SET der = ?1", &old_der);
  const auto reopened = trust_store::open_sqlite(file);
  REQUIRE(reopened.load_problems().size() == 1);
  CHECK_THAT(reopened.load_problems().front(), Catch::Contains("rollback"));
  const auto v = validate_chain(captured, reopened, cert_usage::tls_client, f.t0);
  CHECK(v.status == chain_status::revocation_unavailable);
  CHECK_FALSE(v.ok());
}

// ---- item 5: CA state survives a restart ----------------------------------------------------------

TEST_CASE("a CA restarted from its stored key and database keeps its revocations and never reuses a serial", "[iot][pki][hardening]") {
  auto& f = fx();
  temp_dir dir;
  const auto db = dir.path / "ca.sqlite";
  const auto key_file = dir.path / "ca-key.pem";
  {
    Botan::ECDSA_PrivateKey k(f.rng, Botan::EC_Group("secp256r1"));
    std::ofstream(key_file) << Botan::PKCS8::PEM_encode(k);
  }
  const auto load_key = [&] {
    Botan::DataSource_Stream in(key_file.string());
    std::unique_ptr<Botan::Private_Key> k = Botan::PKCS8::load_key(in);
    auto* ec = dynamic_cast<Botan::ECDSA_PrivateKey*>(k.get());
    REQUIRE(ec != nullptr);
    k.release();
    return std::unique_ptr<Botan::ECDSA_PrivateKey>(ec);
  };

  std::set<std::vector<std::uint8_t>> serials;
  Botan::X509_Certificate root, captured, honest;
  std::uint32_t crl_number = 0;
  {
    auto ca = certificate_authority::open_sqlite(db, load_key(), "Restart Hospital", f.t0 - 1h);
    CHECK(ca.persistent());
    root = ca.root();
    captured = ca.issue(f.device_key, make_identity(role::device, "captured", 71), f.t0 - 1h, 24h);
    honest = ca.issue(f.device_key, make_identity(role::device, "honest", 72), f.t0 - 1h, 24h);
    serials.insert(captured.serial_number());
    serials.insert(honest.serial_number());
    REQUIRE(ca.revoke(captured, Botan::CRL_Code::KEY_COMPROMISE, f.t0 - 30min));
    crl_number = ca.crl().crl_number();
    CHECK(ca.issued_count() == 3);  // root + 2
  }
  auto ca = certificate_authority::open_sqlite(db, load_key(), "Restart Hospital", f.t0);
  CHECK(ca.root() == root);
  CHECK(ca.issued_count() == 3);
  CHECK(ca.is_revoked(captured));
  const auto& refreshed = ca.refresh_crl(f.t0);
  CHECK(refreshed.crl_number() > crl_number);
  CHECK(refreshed.is_revoked(captured));
  CHECK_FALSE(refreshed.is_revoked(honest));
  CHECK_FALSE(ca.revoke(captured, Botan::CRL_Code::KEY_COMPROMISE, f.t0));  // already revoked, remembered

  auto store = trust_store::in_memory();
  store.add_root(ca.root());
  store.add_crl(ca.crl());
  CHECK(validate_chain(captured, store, cert_usage::tls_client, f.t0 + 1min).status == chain_status::revoked);
  CHECK(validate_chain(honest, store, cert_usage::tls_client, f.t0 + 1min).ok());

  for (int i = 0; i < 20; ++i) {
    const auto c = ca.issue(f.device_key, make_identity(role::device, "after-" + std::to_string(i), 80 + i), f.t0, 24h);
    CHECK(serials.insert(c.serial_number()).second);
    CHECK(Botan::BigInt(c.serial_number()).bits() == 128);
  }
  CHECK(ca.issued_count() == 23);

  // A different key, or a different hospital name, does not open this CA's database.
  CHECK_THROWS_AS(certificate_authority::open_sqlite(db, std::make_unique<Botan::ECDSA_PrivateKey>(f.rng, Botan::EC_Group("secp256r1")),
                                                     "Restart Hospital", f.t0),
                  hefl::security_error);
  CHECK_THROWS_AS(certificate_authority::open_sqlite(db, load_key(), "Other Hospital", f.t0), hefl::invalid_argument);
}

TEST_CASE("a CA database whose CRL row was deleted or tampered refuses to open", "[iot][pki][hardening]") {
  auto& f = fx();
  temp_dir dir;
  const auto db = dir.path / "ca.sqlite";
  Botan::ECDSA_PrivateKey k(f.rng, Botan::EC_Group("secp256r1"));
  const auto copy = [&] { return std::make_unique<Botan::ECDSA_PrivateKey>(f.rng, k.domain(), k.private_value()); };
  {
    auto ca = certificate_authority::open_sqlite(db, copy(), "Guarded Hospital", f.t0);
    (void)ca.issue(f.device_key, make_identity(role::device, "d", 90), f.t0, 24h);
  }
  auto der = [&] {
    Botan::Sqlite3_Database raw(db.string());
    auto s = raw.new_statement("SELECT der FROM hefl_ca_crl");
    REQUIRE(s->step());
    const auto b = s->get_blob(0);
    return std::vector<std::uint8_t>(b.first, b.first + b.second);
  }();
  der[der.size() - 5] ^= 0x01;
  tamper(db, "UPDATE hefl_ca_crl SET der = ?1", &der);
  CHECK_THROWS_WITH(certificate_authority::open_sqlite(db, copy(), "Guarded Hospital", f.t0), Catch::Contains("CRL"));
  tamper(db, "DELETE FROM hefl_ca_crl");
  CHECK_THROWS_AS(certificate_authority::open_sqlite(db, copy(), "Guarded Hospital", f.t0), hefl::security_error);
}

TEST_CASE("a CA restarted in memory from its key alone does not reuse serial numbers", "[iot][pki][hardening]") {
  auto& f = fx();
  Botan::ECDSA_PrivateKey k(f.rng, Botan::EC_Group("secp256r1"));
  const auto copy = [&] { return std::make_unique<Botan::ECDSA_PrivateKey>(f.rng, k.domain(), k.private_value()); };
  certificate_authority first(copy(), "Memory Hospital", f.t0);
  const auto a = first.issue(f.device_key, make_identity(role::device, "a", 91), f.t0, 24h);
  certificate_authority second(copy(), "Memory Hospital", f.t0);
  const auto b = second.issue(f.device_key, make_identity(role::device, "b", 92), f.t0, 24h);
  CHECK(a.serial_number() != b.serial_number());
  CHECK_FALSE(first.persistent());
}
