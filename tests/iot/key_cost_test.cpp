// Presented certificates whose keys are too expensive to verify under (docs/fuzzing.md, "Findings and
// fixes"): Botan 2 bounds neither RSA moduli and exponents nor DSA groups, so before check_key_cost a
// leaf plus one fake intermediate with a 16384-bit RSA key and exponent cost about 5 s of path
// validation. validate_chain now refuses such a chain from the encoding, before any signature check.
#include <hefl/iot/pki/key_validation.hpp>
#include <hefl/iot/pki/pki.hpp>

#include <botan/auto_rng.h>
#include <botan/der_enc.h>
#include <botan/ecdsa.h>
#include <botan/x509_ca.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

using namespace hefl::iot;
using namespace std::chrono_literals;

namespace {

std::vector<std::uint8_t> der_sequence(const std::vector<Botan::BigInt>& values) {
  std::vector<std::uint8_t> out;
  Botan::DER_Encoder enc(out);
  enc.start_cons(Botan::SEQUENCE);
  for (const auto& v : values) enc.encode(v);
  enc.end_cons();
  return out;
}

/// A SubjectPublicKeyInfo with any algorithm, parameters and key bits: what an attacker can put in a certificate.
std::vector<std::uint8_t> spki(const Botan::OID& oid, const std::vector<std::uint8_t>& params, const std::vector<std::uint8_t>& key) {
  std::vector<std::uint8_t> out;
  Botan::DER_Encoder(out)
      .start_cons(Botan::SEQUENCE)
      .encode(Botan::AlgorithmIdentifier(oid, params))
      .encode(key, Botan::BIT_STRING)
      .end_cons();
  return out;
}

Botan::BigInt odd_of_bits(Botan::RandomNumberGenerator& rng, std::size_t bits) {
  Botan::BigInt x(rng, bits);
  x.set_bit(0);
  x.set_bit(bits - 1);
  return x;
}

const Botan::OID rsa_oid{1, 2, 840, 113549, 1, 1, 1};
const Botan::OID dsa_oid{1, 2, 840, 10040, 4, 1};
const Botan::OID ec_oid{1, 2, 840, 10045, 2, 1};

struct key_cost_fixture {
  Botan::AutoSeeded_RNG rng;
  const clock_time t0 = std::chrono::system_clock::now();
  certificate_authority ca{std::make_unique<Botan::ECDSA_PrivateKey>(rng, Botan::EC_Group("secp256r1")), "St Mary Hospital",
                           t0 - 1h};
  trust_store store = [this] {
    auto s = trust_store::in_memory();
    s.add_root(ca.root());
    s.add_crl(ca.crl());
    return s;
  }();
  Botan::ECDSA_PrivateKey attacker{rng, Botan::EC_Group("secp256r1")};  // not the CA's key

  /// A certificate with subject key @p subject_spki, in @p issuer's name, signed by the attacker.
  Botan::X509_Certificate forge(const std::vector<std::uint8_t>& subject_spki, const Botan::X509_DN& issuer,
                                const std::string& subject_cn, bool is_ca) {
    Botan::X509_DN dn;
    dn.add_attribute("X520.CommonName", subject_cn);
    Botan::Extensions ext;
    ext.add(new Botan::Cert_Extension::Basic_Constraints(is_ca, 0), true);
    Botan::AlgorithmIdentifier alg;
    std::unique_ptr<Botan::PK_Signer> signer(Botan::choose_sig_format(attacker, rng, "SHA-256", alg));
    return Botan::X509_CA::make_cert(signer.get(), rng, Botan::BigInt(7), alg, subject_spki, Botan::X509_Time(t0 - 1h),
                                     Botan::X509_Time(t0 + 24h), issuer, dn, ext);
  }

  /// A device-looking leaf plus a fake intermediate with @p intermediate_spki, in the root's name.
  std::vector<Botan::X509_Certificate> chain_with_intermediate(const std::vector<std::uint8_t>& intermediate_spki) {
    const auto inter = forge(intermediate_spki, ca.root().subject_dn(), "Evil CA", true);
    Botan::ECDSA_PrivateKey device(rng, Botan::EC_Group("secp256r1"));
    const auto leaf = forge(device.subject_public_key(), inter.subject_dn(), "icu-monitor-1", false);
    return {leaf, inter};
  }

  chain_verdict validate(const std::vector<Botan::X509_Certificate>& chain) {
    return validate_chain(chain, store, cert_usage::tls_client, t0);
  }
};

} // namespace

TEST_CASE_METHOD(key_cost_fixture, "a fake intermediate with an oversized RSA modulus is refused before path building",
                 "[pki][dos]") {
  const auto n = odd_of_bits(rng, max_rsa_modulus_bits + 8);
  const auto v = validate(chain_with_intermediate(spki(rsa_oid, {0x05, 0x00}, der_sequence({n, Botan::BigInt(65537)}))));
  CHECK(v.status == chain_status::invalid_key);
  CHECK(v.reason.find("presented certificate 1") != std::string::npos);
  CHECK(v.reason.find("modulus") != std::string::npos);
}

TEST_CASE_METHOD(key_cost_fixture, "a fake intermediate with a huge RSA public exponent is refused before path building",
                 "[pki][dos]") {
  // The attack measured: verifying under e of thousands of bits costs a long modular exponentiation.
  const auto n = odd_of_bits(rng, 2048);
  const auto e = odd_of_bits(rng, 2047);
  const auto v = validate(chain_with_intermediate(spki(rsa_oid, {0x05, 0x00}, der_sequence({n, e}))));
  CHECK(v.status == chain_status::invalid_key);
  CHECK(v.reason.find("exponent") != std::string::npos);
}

TEST_CASE_METHOD(key_cost_fixture, "a fake intermediate with an oversized DSA group is refused before path building",
                 "[pki][dos]") {
  const auto p = odd_of_bits(rng, 4096);
  const auto q = odd_of_bits(rng, 4000);
  const auto y = odd_of_bits(rng, 4000);
  std::vector<std::uint8_t> y_der;
  Botan::DER_Encoder(y_der).encode(y);
  const auto v = validate(chain_with_intermediate(spki(dsa_oid, der_sequence({p, q, Botan::BigInt(2)}), y_der)));
  CHECK(v.status == chain_status::invalid_key);
  CHECK(v.reason.find("DSA key") != std::string::npos);
}

TEST_CASE_METHOD(key_cost_fixture, "EC keys with explicit curve parameters and unknown key algorithms are refused",
                 "[pki][dos]") {
  const std::vector<std::uint8_t> point(65, 0x04);
  const auto explicit_curve = validate(chain_with_intermediate(spki(ec_oid, der_sequence({odd_of_bits(rng, 256)}), point)));
  CHECK(explicit_curve.status == chain_status::invalid_key);
  CHECK(explicit_curve.reason.find("named curves") != std::string::npos);
  const Botan::OID unknown{1, 2, 3, 4};
  const auto other = validate(chain_with_intermediate(spki(unknown, {0x05, 0x00}, point)));
  CHECK(other.status == chain_status::invalid_key);
  CHECK(other.reason.find("not accepted") != std::string::npos);
}

TEST_CASE_METHOD(key_cost_fixture, "the leaf's own key is checked too, and keys within the limits still go to path validation",
                 "[pki][dos]") {
  const auto n = odd_of_bits(rng, 2048);
  const auto huge_e_leaf = forge(spki(rsa_oid, {0x05, 0x00}, der_sequence({n, odd_of_bits(rng, 1024)})),
                                 ca.root().subject_dn(), "icu-monitor-2", false);
  const auto leaf_verdict = validate({huge_e_leaf});
  CHECK(leaf_verdict.status == chain_status::invalid_key);
  CHECK(leaf_verdict.reason.find("presented certificate 0") != std::string::npos);
  // An ordinary RSA-2048 intermediate is not refused for its size: it fails path validation (untrusted).
  const auto ordinary = validate(chain_with_intermediate(spki(rsa_oid, {0x05, 0x00}, der_sequence({n, Botan::BigInt(65537)}))));
  CHECK(ordinary.status == chain_status::untrusted);
  // The CA's own certificates pass the check: the root and a P-256 device leaf validate.
  CHECK(check_key_cost(ca.root()).ok());
  Botan::ECDSA_PrivateKey device(rng, Botan::EC_Group("secp256r1"));
  identity id;
  id.role = role::device;
  id.subject_id = "icu-monitor-3";
  id.group_id = 3;
  id.rule_id = 30;
  id.device_epc = sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345.3", 1);
  const auto honest = ca.issue(device, id, t0, 24h);
  CHECK(check_key_cost(honest).ok());
  CHECK(validate({honest, ca.root()}).ok());
}
