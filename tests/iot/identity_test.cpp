#include <hefl/iot/pki/identity.hpp>

#include <botan/auto_rng.h>
#include <botan/ecdsa.h>
#include <botan/pk_keys.h>
#include <botan/pubkey.h>
#include <botan/x509_ca.h>
#include <botan/x509_ext.h>

#include <catch2/catch.hpp>

#include "raw_extension.hpp"

#include <chrono>
#include <memory>

using namespace hefl::iot;

namespace {

identity device_identity() {
  identity id;
  id.role = role::device;
  id.subject_id = "icu-monitor-7";
  id.device_epc = sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345.6789", 3);
  id.group_id = 42;
  id.rule_id = 4000000000u;
  return id;
}

using hefl_test::raw_extension;

/// One issuer key for the whole file: certificates here only need to carry extensions.
struct issuer_fixture {
  Botan::AutoSeeded_RNG rng;
  Botan::ECDSA_PrivateKey key{rng, Botan::EC_Group("secp256r1")};
  Botan::X509_DN dn;
  issuer_fixture() {
    dn.add_attribute("X520.CommonName", "identity test issuer");
  }

  Botan::X509_Certificate make(Botan::Extensions ext, const std::string& cn = "leaf") {
    Botan::AlgorithmIdentifier alg;
    std::unique_ptr<Botan::PK_Signer> signer(Botan::choose_sig_format(key, rng, "SHA-256", alg));
    Botan::X509_DN subject;
    subject.add_attribute("X520.CommonName", cn);
    const auto now = std::chrono::system_clock::now();
    return Botan::X509_CA::make_cert(signer.get(), rng, Botan::BigInt(7), alg, key.subject_public_key(),
                                     Botan::X509_Time(now), Botan::X509_Time(now + std::chrono::hours(1)), dn,
                                     subject, ext);
  }
};

issuer_fixture& issuer() {
  static issuer_fixture f;
  return f;
}

Botan::X509_Certificate cert_with_raw(std::vector<std::uint8_t> bytes, bool critical = false) {
  Botan::Extensions ext;
  ext.add(new raw_extension(identity_oid(), std::move(bytes)), critical);
  return issuer().make(ext);
}

} // namespace

TEST_CASE("identity DER round trip for every role", "[iot][identity]") {
  for (unsigned r = 0; r <= 6; ++r) {
    identity id;
    id.role = static_cast<role>(r);
    id.subject_id = "subject-" + std::to_string(r);
    id.group_id = r * 1000;
    id.rule_id = 0xFFFFFFFFu - r;
    if (id.role == role::device || id.role == role::collector) id.device_epc = device_identity().device_epc;
    const auto der = encode_identity(id);
    CHECK(der[0] == 0x30);
    CHECK(decode_identity(der) == id);
  }
  const auto id = device_identity();
  CHECK(to_string(id.role) == "device");
  identity_extension ext(id);
  CHECK_FALSE(ext.oid_name().empty());
  identity_extension back;
  back.decode_inner(ext.encode_inner());
  CHECK(back.value() == id);
  CHECK(identity_oid().to_string() == "1.2.840.113556.1.8000.2554.47548.35685.62399.20037.40268.12871817.13874796");
}

TEST_CASE("identity validation refuses bad fields", "[iot][identity]") {
  auto id = device_identity();
  id.device_epc.reset();
  CHECK_THROWS_WITH(encode_identity(id), Catch::Contains("expected a device EPC"));
  id = device_identity();
  id.role = role::doctor;
  CHECK_THROWS_WITH(identity_extension(id), Catch::Contains("identity of a doctor: expected no device EPC"));
  id = device_identity();
  id.subject_id = "";
  CHECK_THROWS_AS(encode_identity(id), hefl::invalid_argument);
  id.subject_id = std::string(65, 'a');
  CHECK_THROWS_WITH(encode_identity(id), Catch::Contains("expected 1..64 characters, got 65"));
  id.subject_id = "bad name";
  CHECK_THROWS_AS(encode_identity(id), hefl::invalid_argument);
  id.subject_id = "x";
  id.role = static_cast<role>(9);
  CHECK_THROWS_WITH(encode_identity(id), Catch::Contains("expected 0..6, got 9"));
  id = device_identity();
  id.device_epc->serial = sgtin96::max_serial + 1;
  CHECK_THROWS_AS(encode_identity(id), hefl::invalid_argument);
}

TEST_CASE("identity decoding is strict DER", "[iot][identity]") {
  const auto good = encode_identity(device_identity());
  auto bad = good;
  bad.push_back(0x00);
  CHECK_THROWS_WITH(decode_identity(bad), Catch::Contains("trailing bytes"));
  bad = good;
  bad[0] = 0x31;  // SET instead of SEQUENCE
  CHECK_THROWS_WITH(decode_identity(bad), Catch::Contains("expected tag 48, got 49"));
  bad = good;
  bad.pop_back();
  CHECK_THROWS_WITH(decode_identity(bad), Catch::Contains("exceeds"));
  CHECK_THROWS_AS(decode_identity({}), hefl::parse_error);
  CHECK_THROWS_AS(decode_identity(std::vector<std::uint8_t>{0x30}), hefl::parse_error);
  CHECK_THROWS_WITH(decode_identity(std::vector<std::uint8_t>{0x30, 0x80, 0x00, 0x00}), Catch::Contains("indefinite"));
  CHECK_THROWS_WITH(decode_identity(std::vector<std::uint8_t>{0x30, 0x81, 0x05, 1, 2, 3, 4, 5}), Catch::Contains("non-minimal length"));
  CHECK_THROWS_WITH(decode_identity(std::vector<std::uint8_t>{0x30, 0x84, 0x7F, 0xFF, 0xFF, 0xFF}), Catch::Contains("too long"));

  auto build = [](std::uint32_t version, std::vector<std::uint8_t> role_content, std::vector<std::uint8_t> epc,
                  std::vector<std::uint8_t> extra = {}) {
    std::vector<std::uint8_t> body;
    hefl::iot::detail::der_put(body, 0x02, hefl::iot::detail::der_uint(version));
    hefl::iot::detail::der_put(body, 0x0A, role_content);
    const std::string sid = "dev-1";
    hefl::iot::detail::der_put(body, 0x0C, std::vector<std::uint8_t>(sid.begin(), sid.end()));
    hefl::iot::detail::der_put(body, 0x02, hefl::iot::detail::der_uint(5));
    hefl::iot::detail::der_put(body, 0x02, hefl::iot::detail::der_uint(6));
    if (!epc.empty()) hefl::iot::detail::der_put(body, 0x80, epc);
    body.insert(body.end(), extra.begin(), extra.end());
    std::vector<std::uint8_t> out;
    hefl::iot::detail::der_put(out, 0x30, body);
    return out;
  };
  const auto epc = device_identity().device_epc->encode();
  const std::vector<std::uint8_t> epc_bytes(epc.begin(), epc.end());
  CHECK(decode_identity(build(1, {0}, epc_bytes)).subject_id == "dev-1");
  CHECK_THROWS_WITH(decode_identity(build(2, {0}, epc_bytes)), Catch::Contains("version: expected 1, got 2"));
  CHECK_THROWS_WITH(decode_identity(build(1, {7}, epc_bytes)), Catch::Contains("role: expected 0..6, got 7"));
  CHECK_THROWS_WITH(decode_identity(build(1, {0xFF}, epc_bytes)), Catch::Contains("non-negative"));
  CHECK_THROWS_WITH(decode_identity(build(1, {0x00, 0x01}, epc_bytes)), Catch::Contains("non-minimal integer"));
  CHECK_THROWS_WITH(decode_identity(build(1, {0}, {})), Catch::Contains("expected a device EPC"));
  auto wrong_header = epc_bytes;
  wrong_header[0] = 0x35;
  CHECK_THROWS_WITH(decode_identity(build(1, {0}, wrong_header)), Catch::Contains("expected header 0x30"));
  CHECK_THROWS_WITH(decode_identity(build(1, {0}, {epc_bytes.begin(), epc_bytes.end() - 1})), Catch::Contains("expected 12 bytes"));
  CHECK_THROWS_WITH(decode_identity(build(1, {0}, epc_bytes, {0x05, 0x00})), Catch::Contains("unexpected fields"));
  CHECK_THROWS_WITH(decode_identity(build(1, {4}, epc_bytes)), Catch::Contains("expected no device EPC"));
  // group id of 2^32 does not fit.
  std::vector<std::uint8_t> body;
  hefl::iot::detail::der_put(body, 0x02, hefl::iot::detail::der_uint(1));
  hefl::iot::detail::der_put(body, 0x0A, hefl::iot::detail::der_uint(3));
  hefl::iot::detail::der_put(body, 0x0C, std::vector<std::uint8_t>{'a'});
  hefl::iot::detail::der_put(body, 0x02, hefl::iot::detail::der_uint(std::uint64_t{1} << 32));
  hefl::iot::detail::der_put(body, 0x02, hefl::iot::detail::der_uint(0));
  std::vector<std::uint8_t> big;
  hefl::iot::detail::der_put(big, 0x30, body);
  CHECK_THROWS_WITH(decode_identity(big), Catch::Contains("below 2^32"));
}

TEST_CASE("identity_of reads real certificates and never throws on hostile ones", "[iot][identity]") {
  Botan::Extensions ext;
  ext.add(new identity_extension(device_identity()));
  const auto cert = issuer().make(ext);
  const auto got = identity_of(cert);
  REQUIRE(got.has_value());
  CHECK(got.status() == identity_status::ok);
  CHECK(got.value() == device_identity());
  CHECK(got.value().device_epc->to_hex() == "3074257BF7194E4000001A85");
  CHECK_FALSE(cert.v3_extensions().critical_extension_set(identity_oid()));
  const auto raw = cert.v3_extensions().get_raw<identity_extension>(identity_oid());
  REQUIRE(raw);
  CHECK(raw->value() == device_identity());
  // A PEM round trip keeps the extension.
  const Botan::X509_Certificate reparsed(cert.BER_encode());
  CHECK(identity_of(reparsed).value() == device_identity());

  const auto missing = identity_of(issuer().make(Botan::Extensions{}, "bare"));
  CHECK(missing.status() == identity_status::missing_identity);
  CHECK_THAT(missing.reason(), Catch::Contains("bare"));
  CHECK_THROWS_AS(missing.value(), hefl::security_error);

  const auto garbage = identity_of(cert_with_raw({0xDE, 0xAD, 0xBE, 0xEF}));
  CHECK(garbage.status() == identity_status::malformed_identity);
  CHECK_FALSE(garbage.reason().empty());
  CHECK(identity_of(cert_with_raw({})).status() == identity_status::malformed_identity);

  auto trailing = encode_identity(device_identity());
  trailing.push_back(0);
  const auto t = identity_of(cert_with_raw(trailing));
  CHECK(t.status() == identity_status::malformed_identity);
  CHECK_THAT(t.reason(), Catch::Contains("trailing"));

  const auto critical = identity_of(cert_with_raw(encode_identity(device_identity()), true));
  CHECK(critical.status() == identity_status::malformed_identity);
  CHECK_THAT(critical.reason(), Catch::Contains("critical"));

  // Random garbage of every length up to 64 bytes: always a typed failure, never an exception.
  Botan::AutoSeeded_RNG rng;
  for (std::size_t n = 0; n < 64; n += 7) {
    std::vector<std::uint8_t> noise(n);
    rng.randomize(noise.data(), noise.size());
    if (n > 0) noise[0] = 0x30;
    CHECK(identity_of(cert_with_raw(noise)).status() == identity_status::malformed_identity);
  }
}

TEST_CASE("identity decoding of mutated encodings throws only parse_error", "[iot][identity]") {
  const auto good = encode_identity(device_identity());
  std::size_t accepted = 0, refused = 0;
  for (std::size_t i = 0; i < good.size(); ++i) {
    for (const std::uint8_t x : {std::uint8_t{0x01}, std::uint8_t{0x80}, std::uint8_t{0xFF}}) {
      auto m = good;
      m[i] = static_cast<std::uint8_t>(m[i] ^ x);
      try {
        const auto id = decode_identity(m);
        CHECK_NOTHROW(id.validate());
        ++accepted;
      } catch (const hefl::parse_error&) {
        ++refused;
      }
    }
  }
  CHECK(refused > good.size());  // most structural bytes are refused
  CHECK(accepted > 0);           // flips inside group id, rule id or serial are still well-formed
}
