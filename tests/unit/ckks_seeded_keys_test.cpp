// Seeded relinearization and Galois keys on the wire (issue 12, "Keys"): the key generator expands
// each key-switching key's a_j from a 256-bit seed drawn from its random source, and save() writes
// the seed and the b_j only.
#include <hefl/he/ckks/decryptor.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/evaluator.hpp>
#include <hefl/he/ckks/keys.hpp>
#include <hefl/he/ckks/serialization.hpp>

#include <catch2/catch.hpp>

#include "ckks_test_support.hpp"

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <vector>

namespace ckks = hefl::he::ckks;
namespace detail = hefl::he::ckks::detail;
namespace wire = hefl::he::ckks::detail::wire;
using bytes_t = std::vector<std::uint8_t>;
using Catch::Contains;

namespace {

using hefl_test::max_error;
using hefl_test::random_values;

constexpr auto insecure = ckks::security::none_i_know_this_is_insecure;

// Offsets of the common prefix and shape header, and of the word after the shape (relinearization
// key: seed length; Galois key set: key count, then seed length).
constexpr std::size_t at_version = 8, at_length = 20, at_flags = 44, after_shape = 52;

detail::chacha20_source test_source(std::uint8_t tag) {
  std::array<std::uint8_t, 32> seed{};
  seed[0] = tag;
  seed[31] = 0xa5;
  return detail::chacha20_source(seed);
}

const ckks::parameters& tiny() {
  static const ckks::parameters p(16, {30, 25, 25, 30}, 20, insecure);
  return p;
}

template <class T>
void poke(bytes_t& b, std::size_t offset, T value) {
  std::memcpy(b.data() + offset, &value, sizeof(T));
}

template <class T>
T peek(const bytes_t& b, std::size_t offset) {
  T value;
  std::memcpy(&value, b.data() + offset, sizeof(T));
  return value;
}

void reseal(bytes_t& b) {
  poke(b, b.size() - 8, hefl::serial::checksum(std::span<const std::uint8_t>(b.data(), b.size() - 8)));
}

std::string parse_message(const std::function<void()>& load) {
  try {
    load();
  } catch (const hefl::parse_error& e) {
    return e.what();
  }
  return "(no parse_error)";
}

// Bytes of one polynomial over every prime (chain and special), computed here from the format's
// definition (N residues of bit_width(q) bits per prime), independently of the library's helper.
std::uint64_t full_poly_bytes(const ckks::parameters& p) {
  std::uint64_t bits = 0;
  for (const std::uint64_t q : p.primes()) bits += static_cast<std::uint64_t>(std::bit_width(q));
  return p.poly_degree() * bits / 8;
}

// The same key without its seed (explicit a_j), as a caller assembling a key from polynomials has.
ckks::kswitch_key unseeded_copy(const ckks::parameters& p, const ckks::kswitch_key& k) {
  std::vector<detail::rns_poly> bs, as;
  for (std::size_t j = 0; j < k.digit_count(); ++j) {
    bs.push_back(k.b(j));
    as.push_back(k.a(j));
  }
  return ckks::kswitch_key(p, std::move(bs), std::move(as));
}

void check_same_key(const ckks::kswitch_key& x, const ckks::kswitch_key& y) {
  REQUIRE(x.digit_count() == y.digit_count());
  for (std::size_t j = 0; j < x.digit_count(); ++j) {
    CHECK(x.b(j) == y.b(j));
    CHECK(x.a(j) == y.a(j));
  }
}

struct toolkit {
  explicit toolkit(const ckks::parameters& params, std::uint8_t tag)
      : p(params), rng(test_source(tag)), keygen(p, rng), pk(keygen.create_public_key()), enc(p.poly_degree()),
        encryptor(p, pk, rng), decryptor(p, keygen.secret()), ev(p) {}

  ckks::parameters p;
  detail::chacha20_source rng;
  ckks::key_generator keygen;
  ckks::public_key pk;
  ckks::encoder enc;
  ckks::encryptor encryptor;
  ckks::decryptor decryptor;
  ckks::evaluator ev;
};

} // namespace

TEST_CASE("ckks seeded keys: generated keys carry distinct seeds that expand to their a_j",
          "[ckks][serialization][seeded_keys]") {
  toolkit t(tiny(), 1);
  const auto& p = t.p;
  const auto rk = t.keygen.create_relin_keys();
  const auto gk = t.keygen.create_galois_keys(std::vector<long long>{1, -1});
  REQUIRE(rk.key().seed().has_value());
  const auto expanded = detail::expand_kswitch_uniform(p, *rk.key().seed());
  REQUIRE(expanded.size() == rk.key().digit_count());
  for (std::size_t j = 0; j < expanded.size(); ++j) CHECK(expanded[j] == rk.key().a(j));
  std::vector<ckks::kswitch_seed> seeds{*rk.key().seed()};
  for (const std::uint64_t g : gk.elements()) {
    REQUIRE(gk.key(g).seed().has_value());
    seeds.push_back(*gk.key(g).seed());
  }
  for (std::size_t i = 0; i < seeds.size(); ++i)
    for (std::size_t k = i + 1; k < seeds.size(); ++k) CHECK(seeds[i] != seeds[k]);
  // Two digits of one key do not share a_j, and the key stream differs from a seeded ciphertext's.
  CHECK_FALSE(rk.key().a(0) == rk.key().a(1));
  CHECK_FALSE(wire::expand_uniform(p, p.max_level(), *rk.key().seed()).limb(0)[0] ==
              rk.key().a(0).limb(0)[0]);
}

TEST_CASE("ckks seeded keys: loaded keys compute bit-identically and decrypt correctly",
          "[ckks][serialization][seeded_keys]") {
  toolkit t(tiny(), 2);
  const auto& p = t.p;
  const auto x = random_values(8, 21);
  const auto ct = t.encryptor.encrypt(ckks::encode(p, t.enc, x));

  const auto rk = t.keygen.create_relin_keys();
  const bytes_t rkb = ckks::save(p, rk);
  CHECK(peek<std::uint32_t>(rkb, at_version) == 3);
  CHECK((rkb[at_flags] & wire::flag_seeded) != 0);
  CHECK(peek<std::uint32_t>(rkb, after_shape) == 32);
  const auto rk2 = ckks::load_relin_keys(p, rkb);
  REQUIRE(rk2.key().seed() == rk.key().seed());
  check_same_key(rk2.key(), rk.key());
  CHECK(ckks::save(p, rk2) == rkb);
  const auto product = t.ev.multiply(ct, ct);
  const auto r1 = t.ev.relinearize(product, rk);
  const auto r2 = t.ev.relinearize(product, rk2);
  CHECK(r1.polys() == r2.polys());
  std::vector<double> squares(8);
  for (std::size_t i = 0; i < 8; ++i) squares[i] = x[i] * x[i];
  CHECK(max_error(t.decryptor.decrypt_decode(r2, t.enc), squares) < 1e-3);

  const auto gk = t.keygen.create_galois_keys(std::vector<long long>{1, -1, 3}, true);
  const bytes_t gkb = ckks::save(p, gk);
  CHECK(peek<std::uint32_t>(gkb, at_version) == 3);
  CHECK((gkb[at_flags] & wire::flag_seeded) != 0);
  const auto gk2 = ckks::load_galois_keys(p, gkb);
  REQUIRE(gk2.elements() == gk.elements());
  for (const std::uint64_t g : gk.elements()) {
    CHECK(gk2.key(g).seed() == gk.key(g).seed());
    check_same_key(gk2.key(g), gk.key(g));
  }
  CHECK(ckks::save(p, gk2) == gkb);
  for (const long long step : {1LL, -1LL, 3LL}) {
    CAPTURE(step);
    const auto a = t.ev.rotate(ct, step, gk);
    const auto b = t.ev.rotate(ct, step, gk2);
    CHECK(a.polys() == b.polys());
    std::vector<double> rotated(8);
    for (std::size_t i = 0; i < 8; ++i) rotated[i] = x[static_cast<std::size_t>((static_cast<long long>(i) + step + 8) % 8)];
    CHECK(max_error(t.decryptor.decrypt_decode(b, t.enc), rotated) < 1e-3);
  }

  // Streams carry seeded keys too.
  std::stringstream s;
  ckks::save(p, rk, s);
  ckks::save(p, gk, s);
  CHECK(ckks::load_relin_keys(p, s).key().b(2) == rk.key().b(2));
  CHECK(ckks::load_galois_keys(p, s).key(gk.elements()[0]).a(1) == gk.key(gk.elements()[0]).a(1));

  // A different seed (checksum resealed) loads, but to another key: relinearization then fails.
  bytes_t b = rkb;
  b[after_shape + 8] ^= 1;
  reseal(b);
  const auto wrong = ckks::load_relin_keys(p, b);
  CHECK_FALSE(wrong.key().a(0) == rk.key().a(0));
  CHECK(max_error(t.decryptor.decrypt_decode(t.ev.relinearize(product, wrong), t.enc), squares) > 1);
}

TEST_CASE("ckks seeded keys: serialized_size is exact and seeded keys take about half the bytes",
          "[ckks][serialization][seeded_keys]") {
  const ckks::parameters p(8192, {60, 40, 40, 60}, 40);
  toolkit t(p, 3);
  const std::uint64_t digits = p.max_level() + 1, poly = full_poly_bytes(p);
  // Framing: prefix 28, shape 24, then 8 bytes (relinearization key: seed length and a reserved word;
  // Galois keys: key count and seed length), checksum 8; a seed is 32 bytes.
  const std::uint64_t seeded_rk = 28 + 24 + 8 + 32 + digits * poly + 8;
  const std::uint64_t full_rk = 28 + 24 + 8 + 2 * digits * poly + 8;
  const std::uint64_t version2_rk = 28 + 24 + 2 * digits * poly + 8; // before: no seed-length word

  const auto rk = t.keygen.create_relin_keys();
  const bytes_t rkb = ckks::save(p, rk);
  CHECK(rkb.size() == ckks::serialized_size(p, rk));
  CHECK(rkb.size() == seeded_rk);
  const ckks::relin_keys unseeded(unseeded_copy(p, rk.key()));
  const bytes_t urkb = ckks::save(p, unseeded);
  CHECK(urkb.size() == ckks::serialized_size(p, unseeded));
  CHECK(urkb.size() == full_rk);
  const double rk_ratio = static_cast<double>(rkb.size()) / static_cast<double>(version2_rk);
  CAPTURE(rk_ratio);
  CHECK(rk_ratio > 0.5);
  CHECK(rk_ratio < 0.5001);

  const auto gk = t.keygen.create_galois_keys(std::vector<long long>{1, 2});
  const bytes_t gkb = ckks::save(p, gk);
  const std::uint64_t seeded_gk = 28 + 24 + 8 + 2 * (8 + 32 + digits * poly) + 8;
  const std::uint64_t version2_gk = 28 + 24 + 8 + 2 * (8 + 2 * digits * poly) + 8;
  CHECK(gkb.size() == ckks::serialized_size(p, gk));
  CHECK(gkb.size() == seeded_gk);
  const double gk_ratio = static_cast<double>(gkb.size()) / static_cast<double>(version2_gk);
  CAPTURE(gk_ratio);
  CHECK(gk_ratio > 0.5);
  CHECK(gk_ratio < 0.5001);
  const auto gk2 = ckks::load_galois_keys(p, gkb);
  for (const std::uint64_t g : gk.elements()) check_same_key(gk2.key(g), gk.key(g));
}

TEST_CASE("ckks seeded keys: keys assembled from explicit polynomials are saved in full and still work",
          "[ckks][serialization][seeded_keys]") {
  toolkit t(tiny(), 4);
  const auto& p = t.p;
  const auto x = random_values(8, 22);
  const auto ct = t.encryptor.encrypt(ckks::encode(p, t.enc, x));
  const std::uint64_t digits = p.max_level() + 1, poly = full_poly_bytes(p);

  const auto rk = t.keygen.create_relin_keys();
  const ckks::relin_keys unseeded(unseeded_copy(p, rk.key()));
  CHECK_FALSE(unseeded.key().seed().has_value());
  const bytes_t b = ckks::save(p, unseeded);
  CHECK(b.size() == 28 + 24 + 8 + 2 * digits * poly + 8);
  CHECK(b.size() == ckks::serialized_size(p, unseeded));
  CHECK((b[at_flags] & wire::flag_seeded) == 0);
  CHECK(peek<std::uint32_t>(b, after_shape) == 0);
  const auto back = ckks::load_relin_keys(p, b);
  CHECK_FALSE(back.key().seed().has_value());
  check_same_key(back.key(), rk.key());
  const auto product = t.ev.multiply(ct, ct);
  CHECK(t.ev.relinearize(product, back).polys() == t.ev.relinearize(product, rk).polys());

  // Truncations and damage of the full form are refused as for the seeded form.
  for (std::size_t len = 0; len < b.size(); ++len) {
    CAPTURE(len);
    REQUIRE_THROWS_AS(ckks::load_relin_keys(p, std::span<const std::uint8_t>(b.data(), len)), hefl::parse_error);
  }
  std::mt19937_64 rng(77);
  for (std::size_t i = 0; i < b.size(); ++i) {
    bytes_t damaged = b;
    damaged[i] ^= static_cast<std::uint8_t>(1 + rng() % 255);
    CAPTURE(i);
    REQUIRE_THROWS_AS(ckks::load_relin_keys(p, damaged), hefl::parse_error);
  }

  // A Galois key set with one key without a seed is saved in full; every key loads back unseeded.
  const auto gk = t.keygen.create_galois_keys(std::vector<long long>{1, 2});
  const auto elements = gk.elements();
  std::map<std::uint64_t, ckks::kswitch_key> mixed;
  mixed.emplace(elements[0], gk.key(elements[0]));
  mixed.emplace(elements[1], unseeded_copy(p, gk.key(elements[1])));
  const ckks::galois_keys mixed_set(p.id(), std::move(mixed));
  const bytes_t gb = ckks::save(p, mixed_set);
  CHECK(gb.size() == 28 + 24 + 8 + 2 * (8 + 2 * digits * poly) + 8);
  CHECK(gb.size() == ckks::serialized_size(p, mixed_set));
  CHECK((gb[at_flags] & wire::flag_seeded) == 0);
  const auto gback = ckks::load_galois_keys(p, gb);
  for (const std::uint64_t g : elements) {
    CHECK_FALSE(gback.key(g).seed().has_value());
    check_same_key(gback.key(g), gk.key(g));
  }
  CHECK(t.ev.rotate(ct, 1, gback).polys() == t.ev.rotate(ct, 1, gk).polys());
}

TEST_CASE("ckks seeded keys: bad seed lengths, flags, versions, parameters and kinds are refused by name",
          "[ckks][serialization][seeded_keys]") {
  toolkit t(tiny(), 5);
  const auto& p = t.p;
  const auto rk = t.keygen.create_relin_keys();
  const auto gk = t.keygen.create_galois_keys(std::vector<long long>{1});
  const bytes_t rkb = ckks::save(p, rk), gkb = ckks::save(p, gk);
  const auto rload = [&](const bytes_t& x) { return parse_message([&] { (void)ckks::load_relin_keys(p, x); }); };
  const auto gload = [&](const bytes_t& x) { return parse_message([&] { (void)ckks::load_galois_keys(p, x); }); };
  bytes_t b;

  // Seed length: neither 32 nor 0, or disagreeing with the seeded flag.
  b = rkb;
  poke<std::uint32_t>(b, after_shape, 16);
  reseal(b);
  CHECK_THAT(rload(b), Contains("seed length 16 bytes, expected 32 (seeded keys) or 0 (keys in full)"));
  b = rkb;
  poke<std::uint32_t>(b, after_shape, 0);
  reseal(b);
  CHECK_THAT(rload(b), Contains("seed length 0 contradicts the seeded flag, which is set"));
  b = rkb;
  b[at_flags] &= static_cast<std::uint8_t>(~wire::flag_seeded);
  reseal(b);
  CHECK_THAT(rload(b), Contains("seed length 32 contradicts the seeded flag, which is clear"));
  b = gkb;
  poke<std::uint32_t>(b, after_shape + 4, 64);
  reseal(b);
  CHECK_THAT(gload(b), Contains("seed length 64 bytes, expected 32"));
  b = rkb;
  poke<std::uint32_t>(b, after_shape + 4, 1);
  reseal(b);
  CHECK_THAT(rload(b), Contains("reserved word is not zero"));

  // A truncated seed: the declared length then disagrees with the input, and with the header.
  b = rkb;
  b.resize(after_shape + 8 + 16);
  CHECK_THAT(rload(b), Contains("truncated input"));
  b = rkb;
  b.erase(b.begin() + static_cast<std::ptrdiff_t>(after_shape + 8), b.begin() + static_cast<std::ptrdiff_t>(after_shape + 24));
  poke<std::uint64_t>(b, at_length, b.size());
  reseal(b);
  CHECK_THAT(rload(b), Contains("does not match"));

  // Versions: 4 is unknown; 2 had no seeded keys; a version-2 key in full still loads.
  b = rkb;
  poke<std::uint32_t>(b, at_version, 4);
  CHECK_THAT(rload(b), Contains("unsupported format version 4") &&
                           Contains("reads versions 2 and 3 of a relinearization key"));
  b = gkb;
  poke<std::uint32_t>(b, at_version, 4);
  CHECK_THAT(gload(b), Contains("unsupported format version 4") && Contains("of a Galois key set"));
  b = rkb;
  poke<std::uint32_t>(b, at_version, 2);
  reseal(b);
  CHECK_THAT(rload(b), Contains("format version 2 has no seeded keys"));
  // Version 2's layout: the full form without the seed-length word.
  b = ckks::save(p, ckks::relin_keys(unseeded_copy(p, rk.key())));
  b.erase(b.begin() + static_cast<std::ptrdiff_t>(after_shape), b.begin() + static_cast<std::ptrdiff_t>(after_shape + 8));
  poke<std::uint32_t>(b, at_version, 2);
  poke<std::uint64_t>(b, at_length, b.size());
  reseal(b);
  check_same_key(ckks::load_relin_keys(p, b).key(), rk.key());
  std::map<std::uint64_t, ckks::kswitch_key> one;
  one.emplace(gk.elements()[0], unseeded_copy(p, gk.key(gk.elements()[0])));
  b = ckks::save(p, ckks::galois_keys(p.id(), std::move(one)));
  poke<std::uint32_t>(b, at_version, 2);
  reseal(b);
  check_same_key(ckks::load_galois_keys(p, b).key(gk.elements()[0]), gk.key(gk.elements()[0]));

  // Other objects keep refusing the seeded flag, and other versions.
  b = ckks::save(p, t.pk);
  b[at_flags] |= wire::flag_seeded;
  reseal(b);
  CHECK_THROWS_WITH(ckks::load_public_key(p, b), Contains("only a ciphertext or a key-switching key"));
  b = ckks::save(p, t.pk);
  poke<std::uint32_t>(b, at_version, 3);
  CHECK_THROWS_WITH(ckks::load_public_key(p, b), Contains("unsupported format version 3"));

  // Wrong parameters and wrong kinds.
  const ckks::parameters other(16, {30, 25, 25, 30}, 21, insecure);
  CHECK_THROWS_WITH(ckks::load_relin_keys(other, rkb), Contains("wrong parameter id"));
  CHECK_THROWS_WITH(ckks::load_galois_keys(other, gkb), Contains("wrong parameter id"));
  CHECK_THROWS_AS(ckks::save(other, rk), hefl::invalid_argument);
  CHECK_THAT(gload(rkb), Contains("this is a serialized relinearization key, not a Galois key set"));
  CHECK_THAT(rload(gkb), Contains("this is a serialized Galois key set, not a relinearization key"));
}

TEST_CASE("ckks seeded keys: the eight-block ChaCha20 gives the bytes of eight single blocks",
          "[ckks][serialization][seeded_keys]") {
  std::array<std::uint32_t, 8> key{};
  for (std::uint32_t i = 0; i < 8; ++i) key[i] = 0x9e3779b9u * (i + 1);
  for (const std::uint32_t counter : {0u, 1u, 0xfffffff8u}) {
    CAPTURE(counter);
    std::array<std::uint8_t, 512> eight{}, single{};
    detail::chacha20_blocks8(key, counter, {3, 0x4a000000u, 7}, eight.data());
    for (std::uint32_t l = 0; l < 8; ++l) detail::chacha20_block(key, counter + l, {3, 0x4a000000u, 7}, single.data() + 64 * l);
    CHECK(eight == single);
  }
}
