#include <hefl/iot/pki/signing.hpp>

#include <catch2/catch.hpp>

#include <botan/auto_rng.h>
#include <botan/dsa.h>
#include <botan/ecdsa.h>

#include <string>
#include <vector>

using namespace hefl::iot;

namespace {

std::vector<std::uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

Botan::AutoSeeded_RNG& test_rng() {
  static Botan::AutoSeeded_RNG rng;
  return rng;
}

// Key generation for DSA costs a few ms; generate each policy's pairs once for the whole file.
template <class Policy>
const key_pair& keys(int which) {
  static const key_pair a = Policy::generate(test_rng());
  static const key_pair b = Policy::generate(test_rng());
  return which == 0 ? a : b;
}

} // namespace

TEMPLATE_TEST_CASE("signing policies sign and verify, and refuse tampering and wrong keys", "[iot][signing]",
                   ed25519_signing, ecdsa_p256_signing, dsa2048_signing) {
  const auto& k = keys<TestType>(0);
  const auto& other = keys<TestType>(1);
  REQUIRE(k.private_key);
  REQUIRE(k.public_key);
  CHECK(TestType::accepts_key(*k.public_key));
  CHECK(TestType::accepts_key(*k.private_key));

  const auto msg = bytes_of("heart_rate bpm=72 patient=p-17");
  const auto sig = TestType::sign(*k.private_key, msg, test_rng());
  CHECK(TestType::verify(*k.public_key, msg, sig));
  CHECK(TestType::verify(*k.private_key, msg, sig));  // a private key is also a public key

  SECTION("a tampered message fails") {
    auto bad = msg;
    bad[4] ^= 0x01;
    CHECK_FALSE(TestType::verify(*k.public_key, bad, sig));
    bad = msg;
    bad.push_back(0);
    CHECK_FALSE(TestType::verify(*k.public_key, bad, sig));
  }
  SECTION("every flipped signature byte fails") {
    for (std::size_t i = 0; i < sig.size(); ++i) {
      auto bad = sig;
      bad[i] ^= 0x80;
      INFO("byte " << i);
      CHECK_FALSE(TestType::verify(*k.public_key, msg, bad));
    }
  }
  SECTION("another key of the same scheme fails") {
    CHECK_FALSE(TestType::verify(*other.public_key, msg, sig));
  }
  SECTION("empty, truncated, extended and garbage signatures fail without throwing") {
    CHECK_FALSE(TestType::verify(*k.public_key, msg, std::vector<std::uint8_t>{}));
    CHECK_FALSE(TestType::verify(*k.public_key, msg, std::span(sig).first(sig.size() - 1)));
    CHECK_FALSE(TestType::verify(*k.public_key, msg, std::span(sig).first(1)));
    auto longer = sig;
    longer.push_back(0);
    CHECK_FALSE(TestType::verify(*k.public_key, msg, longer));
    CHECK_FALSE(TestType::verify(*k.public_key, msg, std::vector<std::uint8_t>(sig.size(), 0x00)));
    CHECK_FALSE(TestType::verify(*k.public_key, msg, std::vector<std::uint8_t>(sig.size(), 0xff)));
    CHECK_FALSE(TestType::verify(*k.public_key, msg, std::vector<std::uint8_t>(4096, 0x30)));
  }
  SECTION("the empty message can be signed") {
    const std::vector<std::uint8_t> empty;
    const auto s = TestType::sign(*k.private_key, empty, test_rng());
    CHECK(TestType::verify(*k.public_key, empty, s));
    CHECK_FALSE(TestType::verify(*k.public_key, msg, s));
  }
}

TEST_CASE("signature sizes are the documented ones", "[iot][signing]") {
  const auto msg = bytes_of("x");
  CHECK(ed25519_signing::sign(*keys<ed25519_signing>(0).private_key, msg, test_rng()).size() == 64);
  CHECK(ecdsa_p256_signing::sign(*keys<ecdsa_p256_signing>(0).private_key, msg, test_rng()).size() == 64);
  // dsa/botan/2048 has a 256-bit q: r || s is 64 bytes.
  CHECK(dsa2048_signing::sign(*keys<dsa2048_signing>(0).private_key, msg, test_rng()).size() == 64);
  CHECK(dsa2048_signing::group().p_bits() == 2048);
  CHECK(dsa2048_signing::group().q_bits() == 256);
}

TEST_CASE("a signature or key of another algorithm is refused without throwing", "[iot][signing]") {
  const auto msg = bytes_of("spo2 98");
  const auto& ed = keys<ed25519_signing>(0);
  const auto& ec = keys<ecdsa_p256_signing>(0);
  const auto& dsa = keys<dsa2048_signing>(0);
  const auto ed_sig = ed25519_signing::sign(*ed.private_key, msg, test_rng());
  const auto ec_sig = ecdsa_p256_signing::sign(*ec.private_key, msg, test_rng());
  const auto dsa_sig = dsa2048_signing::sign(*dsa.private_key, msg, test_rng());

  // Signatures of one scheme under the right key of another scheme (same 64-byte size throughout).
  CHECK_FALSE(ecdsa_p256_signing::verify(*ec.public_key, msg, ed_sig));
  CHECK_FALSE(ed25519_signing::verify(*ed.public_key, msg, ec_sig));
  CHECK_FALSE(dsa2048_signing::verify(*dsa.public_key, msg, ec_sig));
  CHECK_FALSE(ecdsa_p256_signing::verify(*ec.public_key, msg, dsa_sig));

  // Keys of another algorithm, with the signature that would be valid for that key.
  CHECK_FALSE(ed25519_signing::verify(*ec.public_key, msg, ec_sig));
  CHECK_FALSE(ed25519_signing::verify(*dsa.public_key, msg, dsa_sig));
  CHECK_FALSE(ecdsa_p256_signing::verify(*ed.public_key, msg, ed_sig));
  CHECK_FALSE(ecdsa_p256_signing::verify(*dsa.public_key, msg, dsa_sig));
  CHECK_FALSE(dsa2048_signing::verify(*ed.public_key, msg, ed_sig));
  CHECK_FALSE(dsa2048_signing::verify(*ec.public_key, msg, ec_sig));

  CHECK_FALSE(ed25519_signing::accepts_key(*ec.public_key));
  CHECK_FALSE(ecdsa_p256_signing::accepts_key(*dsa.public_key));
  CHECK_FALSE(dsa2048_signing::accepts_key(*ed.public_key));

  // Signing with a key of the wrong algorithm is a caller error, reported with both names.
  CHECK_THROWS_AS(ed25519_signing::sign(*ec.private_key, msg, test_rng()), hefl::invalid_argument);
  CHECK_THROWS_WITH(dsa2048_signing::sign(*ed.private_key, msg, test_rng()),
                    Catch::Contains("expected a DSA-2048-SHA256 private key, got Ed25519"));
}

TEST_CASE("ECDSA on another curve and DSA below 2048 bits are refused", "[iot][signing]") {
  const auto msg = bytes_of("temperature 37.2");
  const Botan::ECDSA_PrivateKey p384(test_rng(), Botan::EC_Group("secp384r1"));
  const auto p384_sig = Botan::PK_Signer(p384, test_rng(), "EMSA1(SHA-256)").sign_message(msg, test_rng());
  CHECK_FALSE(ecdsa_p256_signing::accepts_key(p384));
  CHECK_FALSE(ecdsa_p256_signing::verify(p384, msg, p384_sig));
  CHECK_THROWS_AS(ecdsa_p256_signing::sign(p384, msg, test_rng()), hefl::invalid_argument);

  const Botan::DSA_PrivateKey dsa1024(test_rng(), Botan::DL_Group("dsa/jce/1024"));
  const auto weak_sig = Botan::PK_Signer(dsa1024, test_rng(), "EMSA1(SHA-256)").sign_message(msg, test_rng());
  REQUIRE(Botan::PK_Verifier(dsa1024, "EMSA1(SHA-256)").verify_message(msg, weak_sig));  // valid, but weak
  CHECK_FALSE(dsa2048_signing::accepts_key(dsa1024));
  CHECK_FALSE(dsa2048_signing::verify(dsa1024, msg, weak_sig));
  CHECK_THROWS_WITH(dsa2048_signing::sign(dsa1024, msg, test_rng()), Catch::Contains("1024 bits"));
}

TEST_CASE("ECDSA signatures are IEEE 1363 r||s; DER-encoded ones are refused", "[iot][signing]") {
  const auto msg = bytes_of("bp 120/80");
  const auto& ec = keys<ecdsa_p256_signing>(0);
  const auto der = Botan::PK_Signer(*ec.private_key, test_rng(), "EMSA1(SHA-256)", Botan::DER_SEQUENCE)
                       .sign_message(msg, test_rng());
  REQUIRE(Botan::PK_Verifier(*ec.public_key, "EMSA1(SHA-256)", Botan::DER_SEQUENCE).verify_message(msg, der));
  CHECK_FALSE(ecdsa_p256_signing::verify(*ec.public_key, msg, der));
}

TEMPLATE_TEST_CASE("a patient smart card signs the SHA-256 of a record", "[iot][signing][card]", ed25519_signing,
                   ecdsa_p256_signing, dsa2048_signing) {
  patient_smart_card<TestType> card("patient-17", test_rng());
  CHECK(card.patient_id() == "patient-17");
  CHECK(TestType::accepts_key(card.public_key()));
  CHECK_FALSE(card.public_key_der().empty());

  const auto record = bytes_of(R"({"type":"heart_rate","fields":{"bpm":72}})");
  const auto sig = card.sign_record(record);
  CHECK(patient_smart_card<TestType>::verify_record(card.public_key(), record, sig));
  // The signature covers the digest, so it verifies as a plain signature of the 32 hash bytes.
  const auto digest = sha256(record);
  CHECK(TestType::verify(card.public_key(), digest, sig));
  CHECK(patient_smart_card<TestType>::verify_record(card.public_key(), record, card.sign_digest(digest)));

  auto tampered = record;
  tampered[tampered.size() - 3] = '9';
  CHECK_FALSE(patient_smart_card<TestType>::verify_record(card.public_key(), tampered, sig));

  patient_smart_card<TestType> other("patient-18", test_rng());
  CHECK_FALSE(patient_smart_card<TestType>::verify_record(other.public_key(), record, sig));
  CHECK_FALSE(patient_smart_card<TestType>::verify_record(card.public_key(), record, {}));

  // Moving the card keeps the key (it is the same card).
  patient_smart_card<TestType> moved = std::move(card);
  CHECK(patient_smart_card<TestType>::verify_record(moved.public_key(), record, moved.sign_record(record)));
}

TEST_CASE("a smart card is provisioned only with a key of its policy", "[iot][signing][card]") {
  auto ed = ed25519_signing::generate(test_rng());
  const auto public_der = Botan::X509::BER_encode(*ed.public_key);
  patient_smart_card<ed25519_signing> card("p-1", std::move(ed.private_key));
  CHECK(card.public_key_der() == public_der);

  auto ec = ecdsa_p256_signing::generate(test_rng());
  CHECK_THROWS_WITH((patient_smart_card<ed25519_signing>("p-2", std::move(ec.private_key))),
                    Catch::Contains("expected a Ed25519 key, got ECDSA"));
  CHECK_THROWS_AS((patient_smart_card<ed25519_signing>("p-3", std::unique_ptr<Botan::Private_Key>{})),
                  hefl::invalid_argument);
  CHECK_THROWS_AS((patient_smart_card<ed25519_signing>("", test_rng())), hefl::invalid_argument);
  static_assert(!std::is_copy_constructible_v<patient_smart_card<>>, "the private key must not be copied");
}
