#include <hefl/aggregate/robust.hpp>
#include <hefl/crypto/botan_random.hpp>
#include <hefl/data/synthetic.hpp>
#include <hefl/fl/federated_trainer.hpp>
#include <hefl/he/paillier_backend.hpp>
#include <hefl/he/plain_backend.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

using namespace hefl;

namespace {
// 1024-bit keys (opted out by name) keep the tests fast; one test uses the 2048-bit default.
he::paillier_params toy_params() {
  he::paillier_params p;
  p.modulus_bits = 1024;
  p.security = he::paillier_security::none_i_know_this_is_insecure;
  return p;
}
double max_err(const std::vector<double>& got, const std::vector<double>& want) {
  double e = 0;
  for (std::size_t i = 0; i < want.size(); ++i) e = std::max(e, std::abs(got[i] - want[i]));
  return e;
}
} // namespace

static_assert(he::additive_backend<he::paillier_backend>);
static_assert(!he::arithmetic_backend<he::paillier_backend>);
static_assert(he::backend_traits<he::paillier_backend>::is_encrypted);

TEST_CASE("paillier_params refuse moduli below 2048 bits unless opted out by name", "[he][paillier]") {
  he::paillier_params p;
  CHECK_NOTHROW(p.validate());
  CHECK(p.slot_bits() == 105);
  CHECK(p.slots() == 19);  // (2048 - 2) / 105
  p.modulus_bits = 1024;
  CHECK_THROWS_AS(p.validate(), hefl::security_error);
  CHECK_THROWS_WITH(p.validate(), Catch::Contains("none_i_know_this_is_insecure"));
  p.security = he::paillier_security::none_i_know_this_is_insecure;
  CHECK_NOTHROW(p.validate());
  CHECK(p.slots() == 9);
  p.modulus_bits = 512;
  CHECK_THROWS_AS(p.validate(), hefl::invalid_argument);
  p = toy_params();
  p.integer_bits = 40;
  p.fraction_bits = 30;
  CHECK_THROWS_WITH(p.validate(), Catch::Contains("> 62"));
  p = toy_params();
  p.headroom_bits = 0;
  CHECK_THROWS_AS(p.validate(), hefl::invalid_argument);
  p = toy_params();
  p.headroom_bits = 64;
  p.scalar_fraction_bits = 52;
  p.fraction_bits = 42;
  p.integer_bits = 20;
  CHECK(p.slots() == 5);
  crypto::seeded_random rng(1);
  he::paillier_params bad;
  bad.modulus_bits = 1536;
  CHECK_THROWS_AS(he::paillier_backend(bad, rng), hefl::security_error);
}

TEST_CASE("paillier_backend: packed fixed-point round trip with negative values, 2048-bit key", "[he][paillier]") {
  crypto::seeded_random rng(7);
  he::paillier_backend b(he::paillier_params{}, rng);
  CHECK(b.modulus().bits() == 2048);
  REQUIRE(b.slot_count() == 19);
  std::vector<double> x(19);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = (i % 2 ? -1.0 : 1.0) * (0.123456789 + static_cast<double>(i) * 5123.25);
  x[3] = -(std::ldexp(1.0, 20) - 1);  // the range edge
  x[4] = 0.0;
  const auto c = b.encrypt(x);
  const auto got = b.decrypt(c);
  REQUIRE(got.size() == 19);
  CHECK(max_err(got, x) <= std::ldexp(1.0, -33));  // rounding to 2^-32
  // Probabilistic: the same values encrypt differently.
  CHECK(b.encrypt(x).value != c.value);
  // Outside the stated range, or too many values: refused.
  CHECK_THROWS_WITH(b.encrypt(std::vector<double>{std::ldexp(1.0, 20)}), Catch::Contains("outside (-2^20, 2^20)"));
  CHECK_THROWS_AS(b.encrypt(std::vector<double>{std::nan("")}), hefl::invalid_argument);
  CHECK_THROWS_AS(b.encrypt(std::vector<double>(20, 1.0)), hefl::invalid_argument);
}

TEST_CASE("paillier_backend adds and scales slot-wise, tracking scale and overflow bound", "[he][paillier]") {
  crypto::seeded_random rng(8);
  he::paillier_backend b(toy_params(), rng);
  const std::vector<double> x{1.5, -2.25, 1000.0, -0.001}, y{-3.0, 4.0, -999.5, 0.002};
  const auto cx = b.encrypt(x), cy = b.encrypt(y);
  const auto s = b.decrypt(b.add(cx, cy));
  CHECK(s[0] == Approx(-1.5));
  CHECK(s[2] == Approx(0.5));
  CHECK(s[3] == Approx(0.001).margin(1e-9));
  const auto neg = b.decrypt(b.multiply_scalar(cx, -2.0));
  CHECK(neg[1] == Approx(4.5));
  CHECK(b.multiply_scalar(cx, 3.0).scale_bits == 32);  // an integer is free
  const auto frac = b.multiply_scalar(cx, 0.1);
  CHECK(frac.scale_bits == 64);
  CHECK(b.decrypt(frac)[2] == Approx(100.0).epsilon(1e-9));
  // The stated headroom: a fresh value times a fractional scalar |s| <= 1 is bounded by 2^(20+32+32),
  // the slot limit is 2^104, so fewer than 2^20 such terms always fit in one sum.
  CHECK(b.multiply_scalar(cx, -0.999).bound <= std::ldexp(1.0, 84));
  CHECK(b.slot_limit() == std::ldexp(1.0, 104));
  // Mixed scales: the fresh operand is aligned.
  CHECK(b.decrypt(b.add(frac, cy))[0] == Approx(0.15 - 3.0));
  // Overflow is refused before it happens. A fresh slot may hold 2^(20+32); a slot has 105 bits, so
  // an integer scalar 2^51 still fits (2^103), but adding two such results could reach 2^104.
  const auto big = b.multiply_scalar(cx, std::ldexp(1.0, 51));
  CHECK(b.decrypt(big)[0] == Approx(1.5 * std::ldexp(1.0, 51)));
  CHECK_THROWS_WITH(b.add(big, big), Catch::Contains("overflow"));
  CHECK_THROWS_WITH(b.multiply_scalar(cx, std::ldexp(1.0, 52)), Catch::Contains("overflow"));
  // Too many fractional scalars.
  auto chain = cx;
  CHECK_THROWS_AS([&] { for (int i = 0; i < 10; ++i) chain = b.multiply_scalar(chain, 0.5); }(), hefl::invalid_argument);
  // Another key's ciphertext is refused.
  he::paillier_backend other(toy_params(), rng);
  CHECK_THROWS_WITH(b.add(cx, other.encrypt(x)), Catch::Contains("another key"));
  CHECK_THROWS_AS(b.decrypt(other.encrypt(x)), hefl::invalid_argument);
}

TEST_CASE("paillier_backend refuses bad, truncated, oversized and out-of-range bytes", "[he][paillier][serialization]") {
  crypto::seeded_random rng(9);
  he::paillier_backend b(toy_params(), rng);
  const std::vector<double> x{0.5, -7.0};
  const auto bytes = b.serialize(b.encrypt(x));
  REQUIRE(bytes.size() == 8 + 8 + 4 + 8 + 4 + 256);
  CHECK(max_err(b.decrypt(b.deserialize(bytes)), x) < 1e-9);
  const auto fails = [&](std::vector<std::uint8_t> v, const std::string& why) {
    CHECK_THROWS_WITH(b.deserialize(v), Catch::Contains(why));
  };
  fails({bytes.begin(), bytes.begin() + 40}, "declared but only");
  fails({bytes.begin(), bytes.begin() + 10}, "truncated");
  auto longer = bytes;
  longer.push_back(1);
  fails(longer, "trailing bytes");
  auto key = bytes;
  key[8] ^= 1;
  fails(key, "another key");
  auto scale = bytes;
  scale[16] = 10;  // below the fresh scale 2^32
  fails(scale, "scale");
  auto bound = bytes;
  for (int i = 20; i < 28; ++i) bound[static_cast<std::size_t>(i)] = 0x7f;  // a huge double
  fails(bound, "slot bound");
  auto length = bytes;
  length[29] = 2;  // 512 instead of 256
  fails(length, "bytes declared");
  auto zero = bytes;
  std::fill(zero.begin() + 32, zero.end(), std::uint8_t{0});
  fails(zero, "outside [1, n^2)");
  auto huge = bytes;
  std::fill(huge.begin() + 32, huge.end(), std::uint8_t{0xff});
  fails(huge, "outside [1, n^2)");
  // c = n (a multiple of p and q) is in range but not a unit.
  auto multiple = bytes;
  std::fill(multiple.begin() + 32, multiple.end(), std::uint8_t{0});
  b.modulus().binary_encode(multiple.data() + 32 + 128, 128);
  fails(multiple, "not a unit");
  he::paillier_backend other(toy_params(), rng);
  CHECK_THROWS_AS(other.deserialize(bytes), hefl::parse_error);
}

TEST_CASE("paillier_backend carries encrypted FedAvg through the trainer", "[he][paillier][fl]") {
  crypto::seeded_random rng(10);
  he::paillier_backend paillier(toy_params(), rng);
  he::plain_backend plain(16);
  const auto d = data::paper_random(400, 3, 5);
  fl::trainer_config cfg;
  cfg.rounds = 3;
  model::logistic_regression m_enc(3), m_plain(3);
  const auto h = fl::federated_trainer<he::paillier_backend>(paillier, cfg).fit(m_enc, d.train, d.test);
  fl::federated_trainer<he::plain_backend>(plain, cfg).fit(m_plain, d.train, d.test);
  // Fixed-point rounding 2^-32 per value and per coefficient: the models agree far below that scale.
  CHECK((m_enc.parameters() - m_plain.parameters()).cwiseAbs().maxCoeff() < 1e-8);
  CHECK(h.back().accuracy > 0.9);
}

namespace {
template <class S>
concept can_decrypt = requires(const S& s, const he::paillier_ciphertext& c) { s.decrypt(c); };
template <class S>
concept can_encrypt = requires(S& s, std::span<const double> v) { s.encrypt(v); };
} // namespace
static_assert(!can_decrypt<he::paillier_server> && !can_decrypt<he::paillier_client> &&
              can_decrypt<he::paillier_key_holder>);
static_assert(!can_encrypt<he::paillier_server> && can_encrypt<he::paillier_client>);
static_assert(he::has_roles<he::paillier_backend>);

TEST_CASE("paillier roles: clients encrypt, the server aggregates from the public key alone, the key holder decrypts",
          "[he][paillier][roles]") {
  crypto::seeded_random rng(11);
  he::paillier_key_holder holder(toy_params(), rng);
  const std::vector<std::uint8_t> pk = holder.public_key();
  he::paillier_client alice(pk, rng, he::paillier_security::none_i_know_this_is_insecure);
  he::paillier_client bob(pk, rng, he::paillier_security::none_i_know_this_is_insecure);
  const he::paillier_server server(pk, he::paillier_security::none_i_know_this_is_insecure);
  CHECK(server.modulus() == holder.modulus());
  CHECK(server.slot_count() == holder.slot_count());
  const std::vector<double> a{0.25, -1.5, 3.0}, b{1.0, 2.0, -4.0};
  // Only bytes travel: client -> server -> key holder.
  auto acc = server.multiply_scalar(server.deserialize(alice.serialize(alice.encrypt(a))), 3.0);
  server.add_inplace(acc, server.multiply_scalar(server.deserialize(bob.serialize(bob.encrypt(b))), 5.0));
  const auto sum = holder.decrypt(holder.deserialize(server.serialize(acc)));
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(std::abs(sum[i] - (3 * a[i] + 5 * b[i])) < 1e-8);
  CHECK(sum[a.size()] == 0.0);
  // A ciphertext under another key pair is refused by the server.
  he::paillier_key_holder other(toy_params(), rng);
  CHECK_THROWS_AS(server.deserialize(other.serialize(other.encrypt(a))), hefl::parse_error);
}

TEST_CASE("paillier public-key bytes: short keys need the opt-out, malformed bytes are refused",
          "[he][paillier][roles][serialization]") {
  crypto::seeded_random rng(12);
  he::paillier_key_holder holder(toy_params(), rng);
  const std::vector<std::uint8_t> pk = holder.public_key();
  REQUIRE(pk.size() == 8 + 8 + 4 * 4 + 4 + 128);
  // A 1024-bit key loads only when the receiver opts out by name.
  CHECK_THROWS_AS(he::paillier_server(pk), hefl::security_error);
  CHECK_THROWS_AS(he::paillier_client(pk, rng), hefl::security_error);
  const auto fails = [&](std::vector<std::uint8_t> v, const std::string& why) {
    CHECK_THROWS_WITH(he::paillier_server(v, he::paillier_security::none_i_know_this_is_insecure), Catch::Contains(why));
  };
  fails({pk.begin(), pk.begin() + 20}, "truncated");
  auto magic = pk;
  magic[0] = 'X';
  fails(magic, "paillier public key");
  auto longer = pk;
  longer.push_back(0);
  fails(longer, "trailing bytes");
  auto even = pk;
  even[8 + 8 + 16 + 4 + 127] &= 0xfe;  // n even: not a product of two odd primes
  fails(even, "odd");
  auto bits = pk;
  bits[8 + 8 + 16 + 4] = 0x00;  // top byte of n zeroed: fewer than 1024 bits
  fails(bits, "1024 bits");
  auto len = pk;
  len[8 + 8 + 16 + 3] = 0x81;  // a length that does not match the modulus
  fails(len, "modulus bytes");
  auto encoding = pk;
  encoding[8 + 8 + 3] = 0x7f;  // integer_bits absurd
  CHECK_THROWS_AS(he::paillier_server(encoding, he::paillier_security::none_i_know_this_is_insecure), hefl::error);
}

TEST_CASE("paillier roles through the trainer: the server role aggregates, results match the plain backend",
          "[he][paillier][roles][fl]") {
  crypto::seeded_random rng(13);
  he::paillier_backend paillier(toy_params(), rng);
  he::plain_backend plain(16);
  const auto d = data::paper_random(300, 2, 6);
  fl::trainer_config cfg;
  cfg.rounds = 2;
  cfg.clients = 3;
  model::logistic_regression m_enc(2), m_plain(2);
  const auto h = fl::federated_trainer<he::paillier_backend>(paillier, cfg).fit(m_enc, d.train, d.test);
  fl::federated_trainer<he::plain_backend>(plain, cfg).fit(m_plain, d.train, d.test);
  CHECK((m_enc.parameters() - m_plain.parameters()).cwiseAbs().maxCoeff() < 1e-8);
  // Each client's upload is one serialized ciphertext: magic, key id, scale, bound, length, c (2·128 bytes).
  REQUIRE(h.front().bytes_uploaded.size() == 3);
  CHECK(h.front().bytes_uploaded[0] == 8 + 8 + 4 + 8 + 4 + 256);
}
