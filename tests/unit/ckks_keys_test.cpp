#include <hefl/crypto/botan_random.hpp>
#include <hefl/he/ckks/decryptor.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/keys.hpp>

#include <catch2/catch.hpp>

#include "ckks_test_support.hpp"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <random>
#include <vector>

namespace ckks = hefl::he::ckks;
namespace detail = hefl::he::ckks::detail;
using hefl::crypto::seeded_random;

namespace {

using hefl_test::max_error;
using hefl_test::random_values;

constexpr auto insecure = ckks::security::none_i_know_this_is_insecure;

const ckks::parameters& params8192() {
  static const ckks::parameters p(8192, {60, 40, 40, 60}, 40);
  return p;
}

// Centered coefficients of limb i of a coefficient-form polynomial.
std::vector<std::int64_t> centered_limb(const detail::rns_poly& p, std::size_t i, const detail::context& ctx) {
  const detail::u64 q = ctx.primes()[p.prime_index(i, ctx)];
  std::vector<std::int64_t> out(p.degree());
  for (std::size_t j = 0; j < p.degree(); ++j) {
    const detail::u64 x = p.limb(i)[j];
    out[j] = x > q / 2 ? -static_cast<std::int64_t>(q - x) : static_cast<std::int64_t>(x);
  }
  return out;
}



} // namespace

TEST_CASE("samplers: ternary, bounded Gaussian and uniform have the right support and shape", "[ckks][keys]") {
  const ckks::parameters p(4096, {40, 30, 30}, 25, ckks::security::classical_128,
                           ckks::special_prime_size::allow_smaller_i_know_key_switching_loses_precision);
  const auto& ctx = p.context();
  seeded_random rng(1);
  detail::random_stream rs(rng);

  detail::rns_poly t(4096, 1, true);
  detail::sample_ternary(t, rs, ctx);
  const auto t0 = centered_limb(t, 0, ctx);
  std::array<int, 3> counts{};
  for (std::size_t j = 0; j < 4096; ++j) {
    REQUIRE(std::abs(t0[j]) <= 1);
    ++counts[static_cast<std::size_t>(t0[j] + 1)];
    for (std::size_t i = 1; i < 3; ++i) REQUIRE(centered_limb(t, i, ctx)[j] == t0[j]);
  }
  for (int c : counts) CHECK(std::abs(c - 4096 / 3) < 250); // sd ~30

  const auto& cdt = detail::gaussian_cdt();
  CHECK(std::is_sorted(cdt.begin(), cdt.end()));
  double sum = 0, sum_sq = 0;
  int largest = 0;
  const int samples = 200000;
  for (int k = 0; k < samples; ++k) {
    const int e = detail::sample_gaussian(rs);
    REQUIRE(std::abs(e) <= ckks::error_bound);
    largest = std::max(largest, std::abs(e));
    sum += e;
    sum_sq += static_cast<double>(e) * e;
  }
  const double mean = sum / samples, sd = std::sqrt(sum_sq / samples - mean * mean);
  CHECK(std::fabs(mean) < 0.05);
  CHECK(sd == Approx(ckks::error_std_dev).epsilon(0.02));
  CHECK(largest >= 10); // the tails are reached (P(|e| >= 10) ~ 0.2%)

  detail::rns_poly e(4096, 1, false);
  detail::add_gaussian_error(e, rs, ctx);
  CHECK(centered_limb(e, 0, ctx) == centered_limb(e, 1, ctx));

  detail::rns_poly u(4096, 1, true);
  detail::sample_uniform(u, rs, ctx);
  CHECK(u.is_ntt_form());
  for (std::size_t i = 0; i < 3; ++i) {
    const detail::u64 q = ctx.primes()[u.prime_index(i, ctx)];
    double total = 0;
    for (std::size_t j = 0; j < 4096; ++j) {
      REQUIRE(u.limb(i)[j] < q);
      total += static_cast<double>(u.limb(i)[j]) / static_cast<double>(q);
    }
    CHECK(total / 4096 == Approx(0.5).margin(0.03));
  }

  std::vector<detail::u64> secret{1, 2, 3};
  detail::secure_wipe(secret);
  CHECK(secret == std::vector<detail::u64>{0, 0, 0});
}

TEST_CASE("key generation: ternary secret, b + a*s is a small error, deterministic when seeded", "[ckks][keys]") {
  const auto& p = params8192();
  const auto& ctx = p.context();
  seeded_random rng(2);
  ckks::key_generator keygen(p, rng);
  const ckks::public_key pk = keygen.create_public_key();

  detail::rns_poly s = keygen.secret().poly();
  detail::from_ntt(s, ctx);
  const auto s0 = centered_limb(s, 0, ctx);
  CHECK(std::all_of(s0.begin(), s0.end(), [](std::int64_t v) { return std::abs(v) <= 1; }));
  CHECK(std::count(s0.begin(), s0.end(), 0) < 8192 / 2); // not degenerate
  CHECK(centered_limb(s, 3, ctx) == s0);

  detail::rns_poly e = pk.a();
  detail::multiply_inplace(e, keygen.secret().poly(), ctx);
  detail::add_inplace(e, pk.b(), ctx);
  detail::from_ntt(e, ctx);
  const auto e0 = centered_limb(e, 0, ctx);
  CHECK(std::all_of(e0.begin(), e0.end(), [](std::int64_t v) { return std::abs(v) <= ckks::error_bound; }));
  CHECK(std::any_of(e0.begin(), e0.end(), [](std::int64_t v) { return v != 0; }));
  for (std::size_t i = 1; i < 4; ++i) CHECK(centered_limb(e, i, ctx) == e0);

  seeded_random same(2);
  ckks::key_generator again(p, same);
  CHECK(again.secret().poly() == keygen.secret().poly());
  CHECK(again.create_public_key().b() == pk.b());
  seeded_random other(3);
  CHECK_FALSE(ckks::key_generator(p, other).secret().poly() == keygen.secret().poly());

  // Copies and assignments of secret keys keep the value.
  ckks::secret_key copy = keygen.secret();
  copy = again.secret();
  CHECK(copy.poly() == keygen.secret().poly());
}

TEST_CASE("collective public key from shares over one common random polynomial", "[ckks][keys]") {
  const ckks::parameters p(1024, {50, 40, 50}, 30, insecure);
  const auto& ctx = p.context();
  seeded_random crs_a(99), crs_b(99); // the shared seed of the common random polynomial
  const auto a1 = ckks::sample_common_random_polynomial(p, crs_a);
  const auto a2 = ckks::sample_common_random_polynomial(p, crs_b);
  REQUIRE(a1 == a2);
  seeded_random r1(10), r2(11);
  ckks::key_generator party1(p, r1), party2(p, r2);
  const auto pk1 = party1.create_public_key(a1), pk2 = party2.create_public_key(a2);
  CHECK(pk1.a() == pk2.a());

  // b1 + b2 = -a (s1 + s2) + (e1 + e2): the collective key for the summed secret.
  detail::rns_poly b = pk1.b();
  detail::add_inplace(b, pk2.b(), ctx);
  detail::rns_poly s = party1.secret().poly();
  detail::add_inplace(s, party2.secret().poly(), ctx);
  const ckks::secret_key joint(p, s);
  const ckks::public_key collective(p, b, a1);

  const ckks::encoder enc(1024);
  seeded_random rng(12);
  ckks::encryptor encryptor(p, collective, rng);
  const auto values = random_values(512, 5);
  const auto ct = encryptor.encrypt(ckks::encode(p, enc, values));
  const ckks::decryptor decryptor(p, joint);
  CHECK(max_error(decryptor.decrypt_decode(ct, enc), values) < 1e-5);
  // One party alone cannot decrypt.
  const ckks::decryptor alone(p, party1.secret());
  CHECK(max_error(alone.decrypt_decode(ct, enc), values) > 1.0);

  CHECK_THROWS_AS(party1.create_public_key(detail::rns_poly(1024, 0, true, true)), hefl::invalid_argument);
  detail::rns_poly coefficient_form = a1;
  coefficient_form.set_ntt_form(false);
  CHECK_THROWS_AS(party1.create_public_key(coefficient_form), hefl::invalid_argument);
}

TEST_CASE("encrypt then decrypt at scale 2^40 is accurate to 2^-25 at every level", "[ckks][keys][encrypt]") {
  const auto& p = params8192();
  seeded_random rng(4);
  ckks::key_generator keygen(p, rng);
  const auto pk = keygen.create_public_key();
  ckks::encryptor encryptor(p, pk, rng);
  const ckks::decryptor decryptor(p, keygen.secret());
  const ckks::encoder enc(8192);
  const auto values = random_values(4096, 6);
  for (std::size_t level = 0; level <= p.max_level(); ++level) {
    CAPTURE(level);
    const auto pt = ckks::encode(p, enc, values, p.scale(), level);
    const auto ct = encryptor.encrypt(pt);
    CHECK(ct.level() == level);
    CHECK(ct.size() == 2);
    CHECK(ct.scale() == p.scale());
    const auto back = decryptor.decrypt_decode(ct, enc);
    REQUIRE(back.size() == 4096);
    const double err = max_error(back, values);
    CHECK(err < 0x1p-25);
    CHECK(err > 0); // it is encrypted: some noise must show
    // The ciphertext does not reveal the message: c0 differs from the plaintext polynomial.
    CHECK_FALSE(ct.poly(0) == pt.poly());
  }

  // Complex slots and a short vector (the rest of the slots decrypt to ~0).
  std::vector<std::complex<double>> z{{0.5, -0.25}, {-1, 1}, {3, 0}};
  const auto ctz = encryptor.encrypt(ckks::encode(p, enc, std::span<const std::complex<double>>(z), 0x1p40, 2));
  const auto backz = ckks::decode_complex(p, enc, decryptor.decrypt(ctz));
  for (std::size_t i = 0; i < 3; ++i) CHECK(std::abs(backz[i] - z[i]) < 0x1p-25);
  CHECK(std::abs(backz[100]) < 0x1p-25);
}

TEST_CASE("encryption is randomized, and reproducible with a seeded source", "[ckks][keys][encrypt]") {
  const ckks::parameters p(1024, {50, 40, 50}, 30, insecure);
  const ckks::encoder enc(1024);
  seeded_random key_rng(7);
  ckks::key_generator keygen(p, key_rng);
  const auto pk = keygen.create_public_key();
  const auto pt = ckks::encode(p, enc, random_values(512, 8));
  seeded_random r1(20), r2(20);
  ckks::encryptor e1(p, pk, r1), e2(p, pk, r2);
  const auto c1 = e1.encrypt(pt), c2 = e2.encrypt(pt), c3 = e1.encrypt(pt);
  CHECK(c1.poly(0) == c2.poly(0));
  CHECK(c1.poly(1) == c2.poly(1));
  CHECK_FALSE(c1.poly(0) == c3.poly(0));
  CHECK_FALSE(c1.poly(1) == c3.poly(1));
}

TEST_CASE("a three-part ciphertext decrypts with s^2 (tensor product of two encryptions)", "[ckks][keys][encrypt]") {
  const auto& p = params8192();
  const auto& ctx = p.context();
  seeded_random rng(30);
  ckks::key_generator keygen(p, rng);
  ckks::encryptor encryptor(p, keygen.create_public_key(), rng);
  const ckks::decryptor decryptor(p, keygen.secret());
  const ckks::encoder enc(8192);
  const auto x = random_values(4096, 31), y = random_values(4096, 32);
  const auto cx = encryptor.encrypt(ckks::encode(p, enc, x)), cy = encryptor.encrypt(ckks::encode(p, enc, y));
  detail::rns_poly d0 = cx.poly(0), d1 = cx.poly(0), d2 = cx.poly(1);
  detail::multiply_inplace(d0, cy.poly(0), ctx);
  detail::multiply_inplace(d1, cy.poly(1), ctx);
  detail::multiply_accumulate(d1, cx.poly(1), cy.poly(0), ctx);
  detail::multiply_inplace(d2, cy.poly(1), ctx);
  const ckks::ciphertext prod(p, {d0, d1, d2}, cx.scale() * cy.scale());
  const auto back = decryptor.decrypt_decode(prod, enc);
  std::vector<double> want(4096);
  for (std::size_t i = 0; i < 4096; ++i) want[i] = x[i] * y[i];
  CHECK(max_error(back, want) < 0x1p-20);
}

TEST_CASE("keys, encryptor and decryptor refuse objects of other parameters and bad shapes", "[ckks][keys]") {
  const auto& p = params8192();
  const ckks::parameters other(8192, {60, 40, 60}, 40);
  seeded_random rng(40);
  ckks::key_generator keygen(p, rng);
  const auto pk = keygen.create_public_key();
  ckks::key_generator other_keygen(other, rng);
  const ckks::encoder enc(8192), small_enc(4096);
  const auto values = random_values(10, 41);

  CHECK_THROWS_AS(ckks::encryptor(other, pk, rng), hefl::invalid_argument);
  CHECK_THROWS_AS(ckks::decryptor(other, keygen.secret()), hefl::invalid_argument);
  CHECK_THROWS_AS(ckks::key_generator(other, keygen.secret(), rng), hefl::invalid_argument);
  CHECK_THROWS_WITH(ckks::encode(p, small_enc, values), Catch::Contains("4096"));
  CHECK_THROWS_WITH(ckks::encode(p, enc, values, 0x1p40, 3), Catch::Contains("level 3"));
  // A constant 2^15 in every slot encodes to the constant coefficient 2^15 * 2^45 = 2^60, which does
  // not fit q_0 (60 bits) at level 0, but fits at level 2.
  const std::vector<double> big(4096, 0x1p15);
  CHECK_THROWS_WITH(ckks::encode(p, enc, big, 0x1p45, 0), Catch::Contains("does not fit"));
  CHECK_NOTHROW(ckks::encode(p, enc, big, 0x1p45, 2));

  ckks::encryptor encryptor(p, pk, rng);
  ckks::encryptor other_encryptor(other, other_keygen.create_public_key(), rng);
  const auto foreign_pt = ckks::encode(other, enc, values);
  CHECK_THROWS_AS(encryptor.encrypt(foreign_pt), hefl::invalid_argument);
  const auto foreign_ct = other_encryptor.encrypt(foreign_pt);
  const ckks::decryptor decryptor(p, keygen.secret());
  CHECK_THROWS_AS(decryptor.decrypt(foreign_ct), hefl::invalid_argument);
  CHECK_THROWS_AS(ckks::decode(p, enc, foreign_pt), hefl::invalid_argument);
  CHECK_THROWS_AS(encryptor.encrypt_zero(3, 1.0), hefl::invalid_argument);

  detail::rns_poly wrong(8192, 1, false, false);
  CHECK_THROWS_AS(ckks::plaintext(p, wrong, 1.0), hefl::invalid_argument); // not NTT form
  wrong.set_ntt_form(true);
  CHECK_THROWS_AS(ckks::plaintext(p, wrong, 0.0), hefl::invalid_argument);
  CHECK_THROWS_AS(ckks::ciphertext(p, {wrong}, 1.0), hefl::invalid_argument);
  CHECK_THROWS_AS(ckks::ciphertext(p, {wrong, detail::rns_poly(8192, 0, false, true)}, 1.0), hefl::invalid_argument);
  CHECK_THROWS_AS(ckks::secret_key(p, wrong), hefl::invalid_argument);
  CHECK_THROWS_AS(ckks::public_key(p, wrong, wrong), hefl::invalid_argument);
  CHECK_THROWS_AS(ckks::ciphertext(p, {detail::rns_poly(8192, 0, false, true), detail::rns_poly(8192, 0, false, true)},
                                   -1.0),
                  hefl::invalid_argument);
}

namespace {

// (c0, c1, c2) -> (c0 + u0, c1 + u1) with (u0, u1) the key switch of c2 from s^2 to s.
ckks::ciphertext relinearize(const ckks::parameters& p, const ckks::ciphertext& ct, const ckks::relin_keys& rk) {
  const auto& ctx = p.context();
  detail::rns_poly u0, u1;
  detail::key_switch(ct.poly(2), rk.key(), ctx, u0, u1);
  detail::rns_poly c0 = ct.poly(0), c1 = ct.poly(1);
  detail::add_inplace(c0, u0, ctx);
  detail::add_inplace(c1, u1, ctx);
  return ckks::ciphertext(p, {c0, c1}, ct.scale());
}

// (c0(X^g), c1(X^g)) switched back from s(X^g) to s.
ckks::ciphertext apply(const ckks::parameters& p, const ckks::ciphertext& ct, std::uint64_t g, const ckks::galois_keys& gk) {
  const auto& ctx = p.context();
  detail::rns_poly c0, c1, u0, u1;
  detail::apply_galois(ct.poly(0), g, c0, ctx);
  detail::apply_galois(ct.poly(1), g, c1, ctx);
  detail::key_switch(c1, gk.key(g), ctx, u0, u1);
  detail::add_inplace(c0, u0, ctx);
  return ckks::ciphertext(p, {c0, u1}, ct.scale());
}

ckks::ciphertext tensor(const ckks::parameters& p, const ckks::ciphertext& cx, const ckks::ciphertext& cy) {
  const auto& ctx = p.context();
  detail::rns_poly d0 = cx.poly(0), d1 = cx.poly(0), d2 = cx.poly(1);
  detail::multiply_inplace(d0, cy.poly(0), ctx);
  detail::multiply_inplace(d1, cy.poly(1), ctx);
  detail::multiply_accumulate(d1, cx.poly(1), cy.poly(0), ctx);
  detail::multiply_inplace(d2, cy.poly(1), ctx);
  return ckks::ciphertext(p, {d0, d1, d2}, cx.scale() * cy.scale());
}

} // namespace

TEST_CASE("Galois elements follow the encoder's slot order; automorphisms agree in both forms", "[ckks][keys][galois]") {
  const ckks::encoder enc(8192);
  for (long long step : {1LL, -1LL, 2LL, 5LL, -7LL, 4095LL, 4096LL, 10000LL, -10000LL})
    CHECK(ckks::galois_element_for_step(step, 8192) == enc.rotation_galois_element(step));
  CHECK(ckks::conjugation_galois_element(8192) == enc.conjugation_galois_element());
  CHECK_THROWS_AS(ckks::galois_element_for_step(1, 1000), hefl::invalid_argument);

  const ckks::parameters p(64, {40, 40, 50}, 20, insecure);
  const auto& ctx = p.context();
  std::mt19937_64 rng(50);
  detail::rns_poly a(64, 1, true);
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = 0; j < 64; ++j) a.limb(i)[j] = rng() % ctx.primes()[i];
  for (std::uint64_t g : {1ULL, 3ULL, 5ULL, 25ULL, 127ULL}) {
    CAPTURE(g);
    detail::rns_poly coeff_then_ntt, ntt_in = a, ntt_out;
    detail::apply_galois(a, g, coeff_then_ntt, ctx);
    detail::to_ntt(coeff_then_ntt, ctx);
    detail::to_ntt(ntt_in, ctx);
    detail::apply_galois(ntt_in, g, ntt_out, ctx);
    CHECK(ntt_out == coeff_then_ntt);
  }
  detail::rns_poly once, twice, direct;
  detail::apply_galois(a, 5, once, ctx);
  detail::apply_galois(once, 25, twice, ctx);
  detail::apply_galois(a, 125, direct, ctx);
  CHECK(twice == direct);
  detail::apply_galois(a, 1, once, ctx);
  CHECK(once == a);
  // X -> X^3 maps the monomial X^50 to X^150 = X^(128+22) = X^22 * X^128 = X^22 (X^64 = -1 twice).
  detail::rns_poly mono(64, 0, false);
  mono.limb(0)[50] = 1;
  detail::apply_galois(mono, 3, once, ctx);
  CHECK(once.limb(0)[22] == 1);
  detail::apply_galois(mono, 5, once, ctx); // 250 = 3*64 + 58: odd number of wraps
  CHECK(once.limb(0)[58] == ctx.primes()[0] - 1);
  CHECK_THROWS_AS(detail::apply_galois(a, 4, once, ctx), hefl::invalid_argument);
  CHECK_THROWS_AS(detail::apply_galois(a, 129, once, ctx), hefl::invalid_argument);
  CHECK_THROWS_AS(detail::apply_galois(a, 3, a, ctx), hefl::invalid_argument);
}

TEST_CASE("relinearization key turns a 3-part product into 2 parts at every level", "[ckks][keys][relin]") {
  const auto& p = params8192();
  seeded_random rng(60);
  ckks::key_generator keygen(p, rng);
  ckks::encryptor encryptor(p, keygen.create_public_key(), rng);
  const ckks::decryptor decryptor(p, keygen.secret());
  const auto rk = keygen.create_relin_keys();
  CHECK(rk.key().digit_count() == 3);
  const ckks::encoder enc(8192);
  const auto x = random_values(4096, 61), y = random_values(4096, 62);
  std::vector<double> want(4096);
  for (std::size_t i = 0; i < 4096; ++i) want[i] = x[i] * y[i];
  for (std::size_t level : {2u, 1u}) {
    CAPTURE(level);
    const auto cx = encryptor.encrypt(ckks::encode(p, enc, x, p.scale(), level));
    const auto cy = encryptor.encrypt(ckks::encode(p, enc, y, p.scale(), level));
    const auto relin = relinearize(p, tensor(p, cx, cy), rk);
    CHECK(relin.size() == 2);
    CHECK(relin.level() == level);
    CHECK(max_error(decryptor.decrypt_decode(relin, enc), want) < 0x1p-20);
  }
  // Rescaling the relinearized product brings the scale back near 2^40 and keeps the values.
  const auto cx = encryptor.encrypt(ckks::encode(p, enc, x)), cy = encryptor.encrypt(ckks::encode(p, enc, y));
  auto relin = relinearize(p, tensor(p, cx, cy), rk);
  detail::rns_poly r0 = relin.poly(0), r1 = relin.poly(1);
  detail::divide_round_last_inplace(r0, p.context());
  detail::divide_round_last_inplace(r1, p.context());
  const double new_scale = relin.scale() / static_cast<double>(p.primes()[2]);
  const ckks::ciphertext rescaled(p, {r0, r1}, new_scale);
  CHECK(rescaled.level() == 1);
  CHECK(max_error(decryptor.decrypt_decode(rescaled, enc), want) < 0x1p-20);
}

TEST_CASE("Galois keys rotate and conjugate slots; only requested keys exist", "[ckks][keys][galois]") {
  const auto& p = params8192();
  seeded_random rng(70);
  ckks::key_generator keygen(p, rng);
  ckks::encryptor encryptor(p, keygen.create_public_key(), rng);
  const ckks::decryptor decryptor(p, keygen.secret());
  const std::vector<long long> steps{1, -1, 3, 1000};
  const auto gk = keygen.create_galois_keys(steps, true);
  CHECK(gk.elements().size() == 5);
  const ckks::encoder enc(8192);
  const auto x = random_values(4096, 71);
  const auto ct = encryptor.encrypt(ckks::encode(p, enc, x));
  for (long long step : steps) {
    CAPTURE(step);
    const auto rotated = apply(p, ct, ckks::galois_element_for_step(step, 8192), gk);
    const auto back = decryptor.decrypt_decode(rotated, enc);
    std::vector<double> want(4096);
    for (std::size_t i = 0; i < 4096; ++i) want[i] = x[static_cast<std::size_t>(((static_cast<long long>(i) + step) % 4096 + 4096) % 4096)];
    // Key switching adds about sqrt(N)·q_0/sqrt(12)·σ/P ~ 2^6.4 per coefficient (P ~ q_0): a
    // slot error near 2^-25 at scale 2^40; 2^-23 leaves room for the maximum over 4096 slots.
    CHECK(max_error(back, want) < 0x1p-23);
  }
  std::vector<std::complex<double>> z(4096);
  for (std::size_t i = 0; i < 4096; ++i) z[i] = {x[i], x[(i + 1) % 4096]};
  const auto cz = encryptor.encrypt(ckks::encode(p, enc, std::span<const std::complex<double>>(z), p.scale(), 2));
  const auto conj = apply(p, cz, ckks::conjugation_galois_element(8192), gk);
  const auto backz = ckks::decode_complex(p, enc, decryptor.decrypt(conj));
  double err = 0;
  for (std::size_t i = 0; i < 4096; ++i) err = std::max(err, std::abs(backz[i] - std::conj(z[i])));
  CHECK(err < 0x1p-23);

  CHECK_FALSE(gk.has(ckks::galois_element_for_step(2, 8192)));
  CHECK_THROWS_WITH(gk.key(ckks::galois_element_for_step(2, 8192)), Catch::Contains("no key for Galois element"));
  const std::vector<long long> zero{4096};
  CHECK_THROWS_AS(keygen.create_galois_keys(zero), hefl::invalid_argument);
  const std::vector<std::uint64_t> even{4};
  CHECK_THROWS_AS(keygen.create_galois_keys_for_elements(even), hefl::invalid_argument);
}

TEST_CASE("default Galois keys cover the powers of two in both directions", "[ckks][keys][galois]") {
  const ckks::parameters p(256, {40, 40, 50}, 20, insecure);
  seeded_random rng(80);
  ckks::key_generator keygen(p, rng);
  const auto gk = keygen.create_galois_keys();
  // steps +-1, ..., +-32 and 64 (= -64) for 128 slots, and the conjugation key
  CHECK(gk.elements().size() == 2 * 7 - 1 + 1);
  for (long long s = 1; s < 128; s *= 2) {
    CHECK(gk.has(ckks::galois_element_for_step(s, 256)));
    CHECK(gk.has(ckks::galois_element_for_step(-s, 256)));
  }
  CHECK(gk.has(ckks::conjugation_galois_element(256)));
  CHECK_FALSE(gk.has(ckks::galois_element_for_step(3, 256)));
  CHECK_THROWS_AS(keygen.create_kswitch_key(detail::rns_poly(256, 0, true, true)), hefl::invalid_argument);
  CHECK_THROWS_AS(ckks::kswitch_key(p, {}, {}), hefl::invalid_argument);
}

TEST_CASE("symmetric encryption decrypts, and draws a fresh uniform part every time", "[ckks][keys][encrypt]") {
  const auto& p = params8192();
  seeded_random rng(90);
  ckks::key_generator keygen(p, rng);
  ckks::symmetric_encryptor encryptor(p, keygen.secret(), rng);
  const ckks::decryptor decryptor(p, keygen.secret());
  const ckks::encoder enc(8192);
  const auto x = random_values(4096, 91);
  for (std::size_t level : {0u, 2u}) {
    const auto ct = encryptor.encrypt(ckks::encode(p, enc, x, p.scale(), level));
    CHECK(ct.level() == level);
    const double err = max_error(decryptor.decrypt_decode(ct, enc), x);
    CHECK(err < 0x1p-25);
    CHECK(err > 0);
  }
  const auto pt = ckks::encode(p, enc, x);
  const auto c1 = encryptor.encrypt(pt), c2 = encryptor.encrypt(pt);
  CHECK_FALSE(c1.poly(1) == c2.poly(1)); // a fresh a each time (a caller cannot supply it)
  CHECK_FALSE(c1.poly(0) == c2.poly(0));
  CHECK(max_error(decryptor.decrypt_decode(c2, enc), x) < 0x1p-25);
  const ckks::parameters other(8192, {60, 40, 60}, 40);
  CHECK_THROWS_AS(ckks::symmetric_encryptor(other, keygen.secret(), rng), hefl::invalid_argument);
  CHECK_THROWS_AS(encryptor.encrypt(ckks::encode(other, enc, x)), hefl::invalid_argument);
}
