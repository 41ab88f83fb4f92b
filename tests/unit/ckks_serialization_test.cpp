#include <hefl/he/ckks/decryptor.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/keys.hpp>
#include <hefl/he/ckks/serialization.hpp>

#include <catch2/catch.hpp>

#include "ckks_test_support.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace ckks = hefl::he::ckks;
namespace detail = hefl::he::ckks::detail;
namespace wire = hefl::he::ckks::detail::wire;
using bytes_t = std::vector<std::uint8_t>;

namespace {

using hefl_test::max_error;
using hefl_test::random_values;

constexpr auto insecure = ckks::security::none_i_know_this_is_insecure;

// A deterministic random_source without Botan: the ChaCha20 stream of a one-byte seed.
wire::chacha20_source test_source(std::uint8_t tag) {
  std::array<std::uint8_t, 32> seed{};
  seed[0] = tag;
  seed[31] = 0x5a;
  return wire::chacha20_source(seed);
}

// N = 16, three chain primes (two digits of key switching) and the special prime.
const ckks::parameters& tiny() {
  static const ckks::parameters p(16, {30, 25, 25, 30}, 20, insecure);
  return p;
}

// Keys, an encryptor and a decryptor for one parameter set.
struct toolkit {
  explicit toolkit(const ckks::parameters& params, std::uint8_t tag = 1)
      : p(params), rng(test_source(tag)), keygen(p, rng), pk(keygen.create_public_key()),
        rk(keygen.create_relin_keys()), enc(p.poly_degree()), encryptor(p, pk, rng), decryptor(p, keygen.secret()) {}

  ckks::ciphertext encrypt(const std::vector<double>& x, std::size_t level) {
    return encryptor.encrypt(ckks::encode(p, enc, x, p.scale(), level));
  }

  ckks::parameters p;
  wire::chacha20_source rng;
  ckks::key_generator keygen;
  ckks::public_key pk;
  ckks::relin_keys rk;
  ckks::encoder enc;
  ckks::encryptor encryptor;
  ckks::decryptor decryptor;
};



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

// Recomputes the trailing checksum, so that the field checks behind it are exercised.
void reseal(bytes_t& b) {
  poke(b, b.size() - 8, hefl::serial::checksum(std::span<const std::uint8_t>(b.data(), b.size() - 8)));
}

// Sets the bits [bit, bit + width) of the payload starting at byte @p start to one.
void set_ones(bytes_t& b, std::size_t start, std::size_t bit, int width) {
  for (int k = 0; k < width; ++k) {
    const std::size_t at = bit + static_cast<std::size_t>(k);
    b[start + at / 8] |= static_cast<std::uint8_t>(1u << (at % 8));
  }
}

std::string parse_message(const std::function<void()>& load) {
  try {
    load();
  } catch (const hefl::parse_error& e) {
    return e.what();
  }
  return "(no parse_error)";
}

// Field offsets of the common prefix and the shape header.
constexpr std::size_t at_version = 8, at_id = 12, at_length = 20, at_degree = 28, at_level = 32, at_limbs = 36,
                      at_polys = 40, at_flags = 44, at_reserved = 45, at_scale = 52;

// Loads @p b with @p load after each truncation to every shorter length and after appending a byte:
// each must be a parse_error.
void require_truncations_refused(const bytes_t& b, const std::function<void(std::span<const std::uint8_t>)>& load) {
  for (std::size_t len = 0; len < b.size(); ++len) {
    CAPTURE(len);
    REQUIRE_THROWS_AS(load(std::span<const std::uint8_t>(b.data(), len)), hefl::parse_error);
  }
  bytes_t longer = b;
  longer.push_back(0);
  REQUIRE_THROWS_WITH(load(longer), Catch::Contains("1 trailing bytes"));
  REQUIRE_NOTHROW(load(b));
}

// Every single-byte change is refused (FNV-1a maps any one-byte change to a different sum, and the
// header checks come first); random multi-byte damage is refused or, if it ever passed, harmless.
void require_corruption_refused(const bytes_t& b, const std::function<void(std::span<const std::uint8_t>)>& load,
                                std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (std::size_t i = 0; i < b.size(); ++i) {
    bytes_t damaged = b;
    damaged[i] ^= static_cast<std::uint8_t>(1 + rng() % 255);
    CAPTURE(i);
    REQUIRE_THROWS_AS(load(damaged), hefl::parse_error);
  }
  for (int round = 0; round < 300; ++round) {
    bytes_t damaged = b;
    const int count = 2 + static_cast<int>(rng() % 8);
    for (int k = 0; k < count; ++k) damaged[rng() % damaged.size()] = static_cast<std::uint8_t>(rng());
    try {
      load(damaged);
    } catch (const hefl::parse_error&) {
    }
  }
}

} // namespace

TEST_CASE("ckks serialization: ChaCha20 seed expansion matches RFC 8439", "[ckks][serialization]") {
  std::array<std::uint32_t, 8> key{};
  for (std::uint32_t i = 0; i < 8; ++i) key[i] = (4 * i) | ((4 * i + 1) << 8) | ((4 * i + 2) << 16) | ((4 * i + 3) << 24);
  std::array<std::uint8_t, 64> block{};
  wire::chacha20_block(key, 1, {0x09000000u, 0x4a000000u, 0}, block.data()); // RFC 8439, §2.3.2
  const std::array<std::uint8_t, 64> expected{
      0x10, 0xf1, 0xe7, 0xe4, 0xd1, 0x3b, 0x59, 0x15, 0x50, 0x0f, 0xdd, 0x1f, 0xa3, 0x20, 0x71, 0xc4,
      0xc7, 0xd1, 0xf4, 0xc7, 0x33, 0xc0, 0x68, 0x03, 0x04, 0x22, 0xaa, 0x9a, 0xc3, 0xd4, 0x6c, 0x4e,
      0xd2, 0x82, 0x64, 0x46, 0x07, 0x9f, 0xaa, 0x09, 0x14, 0xc2, 0xd7, 0x05, 0xd9, 0x8b, 0x02, 0xa2,
      0xb5, 0x12, 0x9c, 0xd1, 0xde, 0x16, 0x4e, 0xb9, 0xcb, 0xd0, 0x83, 0xe8, 0xa2, 0x50, 0x3c, 0x4e};
  CHECK(block == expected);

  // The source's stream in odd-sized pieces across a block boundary (reference: Python's cryptography).
  std::array<std::uint8_t, 32> seed{};
  seed[0] = 7;
  wire::chacha20_source source(seed);
  std::array<std::uint8_t, 60> skip{};
  source.fill(std::span(skip).first(37));
  source.fill(std::span(skip).first(23));
  std::array<std::uint8_t, 12> got{};
  source.fill(got);
  const std::array<std::uint8_t, 12> want{0xe2, 0xbf, 0xb6, 0xf9, 0x7f, 0x05, 0xf0, 0x73, 0xa1, 0xa3, 0x1d, 0x46};
  CHECK(got == want);
}

TEST_CASE("ckks serialization: bit packing round-trips every width and flags unreduced residues",
          "[ckks][serialization]") {
  std::mt19937_64 rng(3);
  for (int bits = 20; bits <= 61; ++bits) {
    CAPTURE(bits);
    const std::uint64_t q = (std::uint64_t{1} << (bits - 1)) + 1 + rng() % (std::uint64_t{1} << (bits - 2));
    std::vector<std::uint64_t> x(64);
    for (auto& v : x) v = rng() % q;
    x[5] = q - 1;
    x[6] = 0;
    std::vector<std::uint8_t> packed(64 * static_cast<std::size_t>(bits) / 8);
    REQUIRE(wire::pack_limb(x.data(), x.size(), q, bits, packed.data()));
    std::vector<std::uint64_t> y(64);
    REQUIRE(wire::unpack_limb(packed.data(), y.size(), q, bits, y.data()) == y.size());
    CHECK(y == x);
    x[9] = q;
    CHECK_FALSE(wire::pack_limb(x.data(), x.size(), q, bits, packed.data()));
    CHECK(wire::unpack_limb(packed.data(), y.size(), q, bits, y.data()) == 9);
  }
}

TEST_CASE("ckks serialization: every object type round-trips and works after loading", "[ckks][serialization]") {
  toolkit t(tiny());
  const auto& p = t.p;
  const auto x = random_values(8, 11);

  // Parameters.
  const bytes_t pb = ckks::save(p);
  CHECK(pb.size() == ckks::serialized_size(p));
  const ckks::parameters p2 = ckks::load_parameters(pb, insecure);
  CHECK(p2 == p);
  CHECK(p2.poly_degree() == 16);
  CHECK(std::ranges::equal(p2.primes(), p.primes()));
  CHECK(std::ranges::equal(p2.prime_bits(), p.prime_bits()));
  CHECK(p2.log2_scale() == p.log2_scale());
  CHECK(p2.security_level() == insecure);

  // Keys: identical polynomials after loading.
  const bytes_t skb = ckks::save(p, t.keygen.secret(), ckks::expose_secret);
  const ckks::secret_key sk2 = ckks::load_secret_key(p2, skb);
  CHECK(sk2.poly() == t.keygen.secret().poly());
  CHECK(sk2.parameters_id() == p.id());
  const ckks::public_key pk2 = ckks::load_public_key(p2, ckks::save(p, t.pk));
  CHECK(pk2.b() == t.pk.b());
  CHECK(pk2.a() == t.pk.a());
  const ckks::relin_keys rk2 = ckks::load_relin_keys(p2, ckks::save(p, t.rk));
  REQUIRE(rk2.key().digit_count() == 3);
  for (std::size_t j = 0; j < 3; ++j) {
    CHECK(rk2.key().b(j) == t.rk.key().b(j));
    CHECK(rk2.key().a(j) == t.rk.key().a(j));
  }
  const ckks::galois_keys gk = t.keygen.create_galois_keys(std::vector<long long>{1, 2, -1}, true);
  const bytes_t gkb = ckks::save(p, gk);
  CHECK(gkb.size() == ckks::serialized_size(p, gk));
  const ckks::galois_keys gk2 = ckks::load_galois_keys(p2, gkb);
  REQUIRE(gk2.elements() == gk.elements());
  for (const std::uint64_t g : gk.elements())
    for (std::size_t j = 0; j < 3; ++j) {
      CHECK(gk2.key(g).b(j) == gk.key(g).b(j));
      CHECK(gk2.key(g).a(j) == gk.key(g).a(j));
    }
  const ckks::galois_keys none(p.id(), {});
  CHECK(ckks::load_galois_keys(p2, ckks::save(p, none)).elements().empty());

  // Loaded keys work: encrypt with the loaded public key, decrypt with the loaded secret key.
  auto rng = test_source(40);
  ckks::encryptor enc2(p2, pk2, rng);
  const ckks::decryptor dec2(p2, sk2);
  CHECK(max_error(dec2.decrypt_decode(enc2.encrypt(ckks::encode(p2, t.enc, x)), t.enc), x) < 1e-3);

  // Loaded relinearization key: (c0^2, 2 c0 c1, c1^2) relinearized decrypts to x^2.
  const auto ct = t.encrypt(x, 2);
  const auto& ctx = p2.context();
  detail::rns_poly d0 = ct.poly(0), d1 = ct.poly(0), d2 = ct.poly(1), u0, u1;
  detail::multiply_inplace(d0, ct.poly(0), ctx);
  detail::multiply_inplace(d1, ct.poly(1), ctx);
  detail::add_inplace(d1, d1, ctx);
  detail::multiply_inplace(d2, ct.poly(1), ctx);
  const ckks::ciphertext product(p2, {d0, d1, d2}, ct.scale() * ct.scale());
  detail::key_switch(d2, rk2.key(), ctx, u0, u1);
  detail::add_inplace(d0, u0, ctx);
  detail::add_inplace(d1, u1, ctx);
  std::vector<double> squares(8);
  for (std::size_t i = 0; i < 8; ++i) squares[i] = x[i] * x[i];
  CHECK(max_error(dec2.decrypt_decode(ckks::ciphertext(p2, {d0, d1}, product.scale()), t.enc), squares) < 1e-3);

  // Loaded Galois key: rotation by one slot.
  const std::uint64_t g = ckks::galois_element_for_step(1, 16);
  detail::rns_poly r0, r1;
  detail::apply_galois(ct.poly(0), g, r0, ctx);
  detail::apply_galois(ct.poly(1), g, r1, ctx);
  detail::key_switch(r1, gk2.key(g), ctx, u0, u1);
  detail::add_inplace(r0, u0, ctx);
  std::vector<double> rotated(8);
  for (std::size_t i = 0; i < 8; ++i) rotated[i] = x[(i + 1) % 8];
  CHECK(max_error(dec2.decrypt_decode(ckks::ciphertext(p2, {r0, u1}, ct.scale()), t.enc), rotated) < 1e-3);

  // Plaintexts and ciphertexts at every level, and a 3-part product.
  for (std::size_t level = 0; level <= p.max_level(); ++level) {
    CAPTURE(level);
    const auto pt = ckks::encode(p, t.enc, x, 0x1p18, level);
    const bytes_t ptb = ckks::save(p, pt);
    CHECK(ptb.size() == ckks::serialized_size(p, pt));
    const auto pt2 = ckks::load_plaintext(p2, ptb);
    CHECK(pt2.poly() == pt.poly());
    CHECK(pt2.scale() == 0x1p18);
    const auto c = t.encryptor.encrypt(pt);
    const bytes_t cb = ckks::save(p, c);
    CHECK(cb.size() == ckks::serialized_size(p, c));
    const auto c2 = ckks::load_ciphertext(p2, cb);
    CHECK(c2.level() == level);
    CHECK(c2.scale() == c.scale());
    CHECK(c2.polys() == c.polys());
    CHECK(dec2.decrypt(c2).poly() == t.decryptor.decrypt(c).poly());
  }
  const auto product2 = ckks::load_ciphertext(p2, ckks::save(p, product));
  CHECK(product2.size() == 3);
  CHECK(product2.polys() == product.polys());
  CHECK(product2.scale() == product.scale());
}

TEST_CASE("ckks serialization: seeded symmetric ciphertexts store the seed and re-expand it",
          "[ckks][serialization]") {
  toolkit t(tiny(), 2);
  const auto& p = t.p;
  auto err_rng = test_source(50);
  ckks::symmetric_encryptor sym(p, t.keygen.secret(), err_rng);
  const auto x = random_values(8, 12);
  for (std::size_t level = 0; level <= p.max_level(); ++level) {
    CAPTURE(level);
    const auto sct = ckks::encrypt_seeded(sym, ckks::encode(p, t.enc, x, p.scale(), level));
    const bytes_t seeded = ckks::save(p, sct);
    const bytes_t full = ckks::save(p, sct.get());
    CHECK(seeded.size() == ckks::serialized_size(p, sct));
    CHECK(seeded.size() + detail::wire::poly_bytes(p, level, false) == full.size() + 32);
    const auto back = ckks::load_ciphertext(p, seeded);
    CHECK(back.polys() == sct.get().polys());
    CHECK(back.scale() == sct.get().scale());
    CHECK(max_error(t.decryptor.decrypt_decode(back, t.enc), x) < 1e-3);
  }
  const auto sct = ckks::encrypt_seeded(sym, ckks::encode(p, t.enc, x));
  bytes_t b = ckks::save(p, sct);
  require_truncations_refused(b, [&](auto s) { (void)ckks::load_ciphertext(p, s); });
  require_corruption_refused(b, [&](auto s) { (void)ckks::load_ciphertext(p, s); }, 52);
  // A different seed (checksum resealed) still loads, but to a ciphertext that does not decrypt to x.
  b[at_scale + 8] ^= 1;
  reseal(b);
  CHECK(max_error(t.decryptor.decrypt_decode(ckks::load_ciphertext(p, b), t.enc), x) > 1);
  // Clearing the seeded flag makes the header imply a second polynomial that is not there.
  b = ckks::save(p, sct);
  b[at_flags] &= static_cast<std::uint8_t>(~wire::flag_seeded);
  reseal(b);
  CHECK_THROWS_WITH(ckks::load_ciphertext(p, b), Catch::Contains("does not match"));
  // The seeded flag on a 3-part ciphertext is refused.
  b = ckks::save(p, sct);
  poke<std::uint32_t>(b, at_polys, 3);
  CHECK_THROWS_WITH(ckks::load_ciphertext(p, b), Catch::Contains("seeded ciphertext has 2 polynomials"));
}

TEST_CASE("ckks serialization: a ciphertext refuses each corrupted header field by name", "[ckks][serialization]") {
  toolkit t(tiny(), 3);
  const auto& p = t.p;
  const auto ct = t.encrypt(random_values(8, 13), 1);
  const bytes_t good = ckks::save(p, ct);
  const auto load = [&](const bytes_t& b) { return parse_message([&] { (void)ckks::load_ciphertext(p, b); }); };
  const auto with = [&](auto change) {
    bytes_t b = good;
    change(b);
    return load(b);
  };
  using Catch::Contains;

  CHECK_THAT(with([](bytes_t& b) { b[0] = 'X'; }), Contains("wrong magic") && Contains("not a serialized ciphertext"));
  CHECK_THAT(with([](bytes_t& b) { std::memcpy(b.data(), "hefl:PUB", 8); }),
             Contains("this is a serialized public key, not a ciphertext"));
  CHECK_THAT(with([](bytes_t& b) { poke<std::uint32_t>(b, at_version, 3); }),
             Contains("unsupported format version 3") && Contains("reads version 2"));
  CHECK_THAT(with([](bytes_t& b) { poke<std::uint32_t>(b, at_version, 1); }),
             Contains("format version 1 is no longer read") && Contains("CRC-64"));
  CHECK_THAT(with([](bytes_t& b) { poke<std::uint32_t>(b, at_version, 0); }), Contains("unsupported format version 0"));
  CHECK_THAT(with([](bytes_t& b) { poke<std::uint64_t>(b, at_id, 0x1234); }),
             Contains("wrong parameter id") && Contains("0x0000000000001234") && Contains(wire::hex(p.id())));
  CHECK_THAT(with([&](bytes_t& b) { poke<std::uint64_t>(b, at_length, good.size() + 1); }), Contains("truncated"));
  CHECK_THAT(with([&](bytes_t& b) { poke<std::uint64_t>(b, at_length, good.size() - 1); }), Contains("1 trailing bytes"));
  CHECK_THAT(with([](bytes_t& b) { poke<std::uint64_t>(b, at_length, std::uint64_t{1} << 62); }),
             Contains("declares 4611686018427387904 bytes"));
  CHECK_THAT(with([](bytes_t& b) { poke<std::uint32_t>(b, at_degree, 32); }),
             Contains("ring degree 32 differs from the parameters' 16"));
  CHECK_THAT(with([](bytes_t& b) { poke<std::uint32_t>(b, at_degree, 0x80000000u); }), Contains("ring degree 2147483648"));
  CHECK_THAT(with([](bytes_t& b) { poke<std::uint32_t>(b, at_level, 3); }), Contains("level 3 exceeds the top level 2"));
  CHECK_THAT(with([](bytes_t& b) { poke<std::uint32_t>(b, at_level, 0xffffffffu); }), Contains("exceeds the top level"));
  CHECK_THAT(with([](bytes_t& b) { poke<std::uint32_t>(b, at_level, 2); }),
             Contains("limb count 2 is inconsistent with level 2"));
  CHECK_THAT(with([](bytes_t& b) { poke<std::uint32_t>(b, at_limbs, 3); }), Contains("limb count 3"));
  CHECK_THAT(with([](bytes_t& b) { poke<std::uint32_t>(b, at_limbs, 0xffffffffu); }), Contains("limb count 4294967295"));
  CHECK_THAT(with([](bytes_t& b) { poke<std::uint32_t>(b, at_polys, 1); }), Contains("polynomial count 1, expected 2 to 3"));
  CHECK_THAT(with([](bytes_t& b) { poke<std::uint32_t>(b, at_polys, 0xffffffffu); }), Contains("polynomial count"));
  CHECK_THAT(with([](bytes_t& b) { poke<std::uint32_t>(b, at_polys, 3); }), Contains("does not match"));
  CHECK_THAT(with([](bytes_t& b) { b[at_flags] = 0; }), Contains("NTT-form flag is clear"));
  CHECK_THAT(with([](bytes_t& b) { b[at_flags] |= wire::flag_special; }), Contains("special-limb flag is set"));
  CHECK_THAT(with([](bytes_t& b) { b[at_flags] |= 0x80; }), Contains("unknown flag bits 128"));
  CHECK_THAT(with([](bytes_t& b) { b[at_reserved + 3] = 1; }), Contains("reserved header bytes are not zero"));
  for (const double bad : {0.0, -1.0, std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN(),
                           -std::numeric_limits<double>::denorm_min()}) {
    CAPTURE(bad);
    CHECK_THAT(with([&](bytes_t& b) { poke(b, at_scale, bad); }), Contains("scale must be positive and finite"));
  }
  // A plausible scale passes the header checks and is caught by the checksum.
  CHECK_THAT(with([](bytes_t& b) { poke(b, at_scale, 3.0); }), Contains("checksum mismatch") && Contains("corrupted"));
  CHECK_THAT(with([](bytes_t& b) { b[100] ^= 4; }), Contains("checksum mismatch"));
  CHECK_THAT(with([](bytes_t& b) { b[b.size() - 1] ^= 4; }), Contains("checksum mismatch"));

  // Coefficient >= its prime with a valid checksum: the range check itself must refuse it.
  const std::size_t payload = at_scale + 8;
  const auto& primes = p.primes();
  {
    bytes_t b = good;
    set_ones(b, payload, 5 * 30, 30); // polynomial 0, limb 0 (30-bit prime), coefficient 5
    reseal(b);
    CHECK_THAT(load(b), Contains("ciphertext polynomial 0, limb 0: coefficient 5 is 1073741823") &&
                            Contains("not below its prime " + std::to_string(primes[0])));
  }
  {
    bytes_t b = good;
    const std::size_t second_poly_limb1 = payload + wire::poly_bytes(p, 1, false) + 16 * 30 / 8;
    set_ones(b, second_poly_limb1, 15 * 25, 25); // polynomial 1, limb 1 (25-bit prime), last coefficient
    reseal(b);
    CHECK_THAT(load(b), Contains("ciphertext polynomial 1, limb 1: coefficient 15 is 33554431") &&
                            Contains(std::to_string(primes[1])));
  }
  CHECK(load(good) == "(no parse_error)");
}

TEST_CASE("ckks serialization: truncation at every offset and random damage are refused for every type",
          "[ckks][serialization]") {
  toolkit t(tiny(), 4);
  const auto& p = t.p;
  const auto gk = t.keygen.create_galois_keys();
  const auto ct = t.encrypt(random_values(8, 14), 2);
  const auto pt = ckks::encode(p, t.enc, random_values(8, 15), p.scale(), 1);

  struct object {
    const char* name;
    bytes_t bytes;
    std::function<void(std::span<const std::uint8_t>)> load;
  };
  const std::vector<object> objects{
      {"parameters", ckks::save(p), [](auto s) { (void)ckks::load_parameters(s, insecure); }},
      {"secret key", ckks::save(p, t.keygen.secret(), ckks::expose_secret),
       [&](auto s) { (void)ckks::load_secret_key(p, s); }},
      {"public key", ckks::save(p, t.pk), [&](auto s) { (void)ckks::load_public_key(p, s); }},
      {"relin keys", ckks::save(p, t.rk), [&](auto s) { (void)ckks::load_relin_keys(p, s); }},
      {"galois keys", ckks::save(p, gk), [&](auto s) { (void)ckks::load_galois_keys(p, s); }},
      {"plaintext", ckks::save(p, pt), [&](auto s) { (void)ckks::load_plaintext(p, s); }},
      {"ciphertext", ckks::save(p, ct), [&](auto s) { (void)ckks::load_ciphertext(p, s); }},
  };
  std::uint64_t seed = 100;
  for (const auto& o : objects) {
    CAPTURE(o.name);
    require_truncations_refused(o.bytes, o.load);
    require_corruption_refused(o.bytes, o.load, ++seed);
  }
  // Each loader names the type it was given when handed another one.
  for (const auto& o : objects)
    for (const auto& other : objects)
      if (&o != &other) {
        CAPTURE(o.name, other.name);
        CHECK_THROWS_WITH(o.load(other.bytes), Catch::Contains("wrong magic: this is a serialized"));
      }
}

TEST_CASE("ckks serialization: keys refuse wrong shapes, foreign parameters and unreduced residues",
          "[ckks][serialization]") {
  toolkit t(tiny(), 5);
  const auto& p = t.p;
  using Catch::Contains;

  // A parameter set that differs only in the scale has another id; both ids are in the message.
  const ckks::parameters other(16, {30, 25, 25, 30}, 21, insecure);
  REQUIRE(other.id() != p.id());
  const bytes_t pkb = ckks::save(p, t.pk);
  CHECK_THROWS_WITH(ckks::load_public_key(other, pkb),
                    Contains("wrong parameter id") && Contains(wire::hex(p.id())) && Contains(wire::hex(other.id())));
  CHECK_THROWS_AS(ckks::save(other, t.pk), hefl::invalid_argument);
  CHECK_THROWS_AS(ckks::save(other, t.keygen.secret(), ckks::expose_secret), hefl::invalid_argument);
  CHECK_THROWS_AS(ckks::save(other, t.encrypt(random_values(8, 1), 0)), hefl::invalid_argument);

  // Keys are at the top level, with the special limb.
  bytes_t b = pkb;
  poke<std::uint32_t>(b, at_level, 1);
  CHECK_THROWS_WITH(ckks::load_public_key(p, b), Contains("level 1, but a public key is always at the top level 2"));
  b = pkb;
  b[at_flags] = wire::flag_ntt;
  CHECK_THROWS_WITH(ckks::load_public_key(p, b), Contains("special-limb flag is clear"));
  b = pkb;
  b[at_flags] |= wire::flag_seeded;
  CHECK_THROWS_WITH(ckks::load_public_key(p, b), Contains("only a ciphertext or a key-switching key can be stored with a seed"));
  b = pkb;
  poke<std::uint32_t>(b, at_polys, 3);
  CHECK_THROWS_WITH(ckks::load_public_key(p, b), Contains("polynomial count 3, expected 2"));

  // An unreduced residue in the special limb of the secret key (valid checksum).
  bytes_t sk = ckks::save(p, t.keygen.secret(), ckks::expose_secret);
  const std::size_t special_limb = at_degree + 24 + wire::poly_bytes(p, 2, false);
  set_ones(sk, special_limb, 0, 30);
  reseal(sk);
  CHECK_THROWS_WITH(ckks::load_secret_key(p, sk),
                    Contains("secret key, limb 3: coefficient 0 is 1073741823") &&
                        Contains(std::to_string(p.special_prime())));
  // ... and in the last b_j of the (seeded) relinearization key.
  bytes_t rk = ckks::save(p, t.rk);
  set_ones(rk, rk.size() - 8 - 16 * 30 / 8, 0, 30);
  reseal(rk);
  CHECK_THROWS_WITH(ckks::load_relin_keys(p, rk), Contains("relinearization key b_2, limb 3: coefficient 0"));

  // Galois keys: absurd counts and malformed element lists.
  const auto gk = t.keygen.create_galois_keys(std::vector<long long>{1, 2});
  const bytes_t gkb = ckks::save(p, gk);
  const std::size_t at_count = at_scale, at_elements = at_scale + 8;
  const auto gload = [&](const bytes_t& x) { return parse_message([&] { (void)ckks::load_galois_keys(p, x); }); };
  b = gkb;
  poke<std::uint32_t>(b, at_count, 0x80000000u);
  CHECK_THAT(gload(b), Contains("key count 2147483648 exceeds N = 16"));
  b = gkb;
  poke<std::uint32_t>(b, at_count, 3);
  CHECK_THAT(gload(b), Contains("does not match"));
  b = gkb;
  poke<std::uint32_t>(b, at_count + 4, 9);
  CHECK_THAT(gload(b), Contains("seed length 9 bytes, expected 32"));
  b = gkb;
  poke<std::uint64_t>(b, at_elements, 4);
  CHECK_THAT(gload(b), Contains("Galois element 0 is 4, not odd and below 2N = 32"));
  b = gkb;
  poke<std::uint64_t>(b, at_elements + 8, 33);
  CHECK_THAT(gload(b), Contains("Galois element 1 is 33"));
  b = gkb;
  poke<std::uint64_t>(b, at_elements + 8, peek<std::uint64_t>(b, at_elements));
  CHECK_THAT(gload(b), Contains("not strictly ascending"));
  b = gkb;
  set_ones(b, b.size() - 8 - 16 * 30 / 8, 16 * 30 - 30, 30);
  reseal(b);
  CHECK_THAT(gload(b), Contains("Galois key 25 b_2, limb 3: coefficient 15"));
}

TEST_CASE("ckks serialization: parameters are validated, regenerated and checked against their id",
          "[ckks][serialization]") {
  const auto& p = tiny();
  const bytes_t good = ckks::save(p);
  using Catch::Contains;
  const auto load = [](const bytes_t& b) { return parse_message([&] { (void)ckks::load_parameters(b, insecure); }); };
  const auto with = [&](auto change, bool resealed = false) {
    bytes_t b = good;
    change(b);
    if (resealed) reseal(b);
    return load(b);
  };
  constexpr std::size_t at_n = 28, at_count = 32, at_security = 34, at_reserved_byte = 35, at_log2 = 36, at_bits = 44,
                        at_primes = 48;

  // Insecure sets load only with the named flag; secure ones load either way.
  CHECK_THROWS_AS(ckks::load_parameters(good), hefl::security_error);
  CHECK_THROWS_WITH(ckks::load_parameters(good), Contains("none_i_know_this_is_insecure"));
  const ckks::parameters secure(4096, {30, 30, 40}, 25);
  CHECK(ckks::load_parameters(ckks::save(secure)) == secure);
  CHECK(ckks::load_parameters(ckks::save(secure), insecure).security_level() == ckks::security::classical_128);

  CHECK_THAT(with([](bytes_t& b) { poke<std::uint32_t>(b, at_n, 24); }), Contains("ring degree 24 is not a power of two"));
  CHECK_THAT(with([](bytes_t& b) { poke<std::uint32_t>(b, at_n, 4); }), Contains("ring degree 4"));
  CHECK_THAT(with([](bytes_t& b) { poke<std::uint32_t>(b, at_n, 1u << 31); }), Contains("ring degree 2147483648"));
  CHECK_THAT(with([](bytes_t& b) { poke<std::uint16_t>(b, at_count, 1); }), Contains("prime count 1 is outside [2, 256]"));
  CHECK_THAT(with([](bytes_t& b) { poke<std::uint16_t>(b, at_count, 60000); }), Contains("prime count 60000"));
  CHECK_THAT(with([](bytes_t& b) { poke<std::uint16_t>(b, at_count, 5); }), Contains("does not match"));
  CHECK_THAT(with([](bytes_t& b) { b[at_security] = 2; }), Contains("unknown security level 2"));
  CHECK_THAT(with([](bytes_t& b) { b[at_reserved_byte] = 2; }), Contains("unknown special-prime rule 2"));
  CHECK_THAT(with([](bytes_t& b) { poke(b, at_log2, std::numeric_limits<double>::quiet_NaN()); }), Contains("log2 scale"));
  CHECK_THAT(with([](bytes_t& b) { poke(b, at_log2, 0.5); }), Contains("log2 scale"));
  CHECK_THAT(with([](bytes_t& b) { b[at_bits + 1] = 19; }), Contains("prime 1 has 19 bits"));
  CHECK_THAT(with([](bytes_t& b) { b[at_bits + 3] = 62; }), Contains("prime 3 has 62 bits"));
  CHECK_THAT(with([](bytes_t& b) { poke(b, at_log2, 21.0); }), Contains("checksum mismatch"));
  // Behind a valid checksum: a scale the constructor rejects, a prime that the bit sizes do not
  // generate, a claimed security level that does not hold, and a stale id.
  CHECK_THAT(with([](bytes_t& b) { poke(b, at_log2, 1000.0); }, true), Contains("stored parameters are invalid"));
  CHECK_THAT(with([](bytes_t& b) { poke<std::uint64_t>(b, at_primes + 8, 97); }, true),
             Contains("stored prime 1 is 97"));
  CHECK_THAT(with([](bytes_t& b) { b[at_security] = 0; }, true),
             Contains("stored parameters are invalid") && Contains("128-bit"));
  CHECK_THAT(with([](bytes_t& b) { poke<std::uint64_t>(b, at_id, 77); }, true),
             Contains("wrong parameter id: stored 0x000000000000004d") && Contains(wire::hex(p.id())));
  CHECK(load(good) == "(no parse_error)");
}

TEST_CASE("ckks serialization: streams carry several objects and refuse lying lengths", "[ckks][serialization]") {
  toolkit t(tiny(), 6);
  const auto& p = t.p;
  const auto ct = t.encrypt(random_values(8, 16), 2);
  std::stringstream s;
  ckks::save(p, s);
  ckks::save(p, t.pk, s);
  ckks::save(p, t.keygen.secret(), ckks::expose_secret, s);
  ckks::save(p, ct, s);
  ckks::save(p, t.rk, s);
  const auto p2 = ckks::load_parameters(s, insecure);
  CHECK(p2 == p);
  CHECK(ckks::load_public_key(p2, s).a() == t.pk.a());
  CHECK(ckks::load_secret_key(p2, s).poly() == t.keygen.secret().poly());
  CHECK(ckks::load_ciphertext(p2, s).polys() == ct.polys());
  CHECK(ckks::load_relin_keys(p2, s).key().b(1) == t.rk.key().b(1));
  CHECK_THROWS_WITH(ckks::load_ciphertext(p2, s), Catch::Contains("truncated input while reading the magic"));

  const bytes_t good = ckks::save(p, ct);
  const auto from = [&](const bytes_t& b) {
    std::stringstream in(std::string(b.begin(), b.end()));
    return parse_message([&] { (void)ckks::load_ciphertext(p, in); });
  };
  bytes_t b = good;
  poke<std::uint64_t>(b, at_length, std::uint64_t{1} << 62);
  CHECK_THAT(from(b), Catch::Contains("declared length 4611686018427387904 is impossible"));
  b = good;
  b.resize(b.size() - 5);
  CHECK_THAT(from(b), Catch::Contains("truncated stream"));
  b = good;
  poke<std::uint64_t>(b, at_id, 5);
  CHECK_THAT(from(b), Catch::Contains("wrong parameter id"));
  CHECK(from(good) == "(no parse_error)");

  std::ostringstream closed;
  closed.setstate(std::ios::badbit);
  CHECK_THROWS_AS(ckks::save(p, ct, closed), hefl::io_error);
  static_assert(!ckks::saveable<ckks::secret_key>);
  static_assert(ckks::saveable<ckks::galois_keys>);
}

TEST_CASE("ckks serialization: N = 8192 ciphertexts and keys are bit-packed below SEAL's sizes",
          "[ckks][serialization]") {
  const ckks::parameters p(8192, {60, 40, 40, 60}, 40);
  toolkit t(p, 7);
  const auto x = random_values(4096, 17);
  const auto ct = t.encrypt(x, 2);
  const bytes_t cb = ckks::save(p, ct);
  CHECK(cb.size() == 68 + 2 * 8192 * (60 + 40 + 40) / 8);
  CHECK(cb.size() < 393216); // SEAL 4.4 writes 2 * 3 * 8192 * 8 bytes (uncompressed)
  const auto back = ckks::load_ciphertext(ckks::load_parameters(ckks::save(p)), cb);
  CHECK(back.polys() == ct.polys());
  CHECK(max_error(t.decryptor.decrypt_decode(back, t.enc), x) < 0x1p-25);

  auto err_rng = test_source(60);
  ckks::symmetric_encryptor sym(p, t.keygen.secret(), err_rng);
  const auto sct = ckks::encrypt_seeded(sym, ckks::encode(p, t.enc, x));
  const bytes_t sb = ckks::save(p, sct);
  CHECK(sb.size() == 100 + 8192 * 140 / 8);
  CHECK(max_error(t.decryptor.decrypt_decode(ckks::load_ciphertext(p, sb), t.enc), x) < 0x1p-25);

  CHECK(ckks::save(p, t.pk).size() == 60 + 2 * 8192 * 200 / 8);
  const auto rk = ckks::load_relin_keys(p, ckks::save(p, t.rk));
  CHECK(rk.key().a(2) == t.rk.key().a(2));
  CHECK(ckks::load_secret_key(p, ckks::save(p, t.keygen.secret(), ckks::expose_secret)).poly() ==
        t.keygen.secret().poly());
}
