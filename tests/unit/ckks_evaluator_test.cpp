#include <hefl/core/prng.hpp>
#include <hefl/core/random.hpp>
#include <hefl/he/ckks/decryptor.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/evaluator.hpp>
#include <hefl/he/ckks/keys.hpp>

#include <catch2/catch.hpp>

#include "ckks_test_support.hpp"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

namespace ckks = hefl::he::ckks;

namespace {

using hefl_test::max_error;
using hefl_test::random_values;
using hefl_test::test_source;

constexpr auto insecure = ckks::security::none_i_know_this_is_insecure;

// Deterministic bytes for keys and noise without Botan (xoshiro256**: fine for tests, never for keys
// that protect data).



template <class F>
std::vector<double> map(std::size_t n, F f) {
  std::vector<double> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = f(i);
  return out;
}

// Keys, encryptor and decryptor for one parameter set.
struct fixture {
  explicit fixture(const ckks::parameters& p, std::uint64_t seed = 1)
      : params(p), rng(seed), keygen(p, rng), pk(keygen.create_public_key()), rk(keygen.create_relin_keys()),
        encryptor(p, pk, rng), decryptor(p, keygen.secret()), eval(p) {}

  ckks::ciphertext encrypt(const std::vector<double>& v) {
    return encryptor.encrypt(ckks::encode(params, eval.slot_encoder(), v));
  }
  ckks::ciphertext encrypt_at(const std::vector<double>& v, std::size_t level) {
    return encryptor.encrypt(ckks::encode(params, eval.slot_encoder(), v, params.scale(), level));
  }
  std::vector<double> decrypt(const ckks::ciphertext& c) const { return decryptor.decrypt_decode(c, eval.slot_encoder()); }

  ckks::parameters params;
  test_source rng;
  ckks::key_generator keygen;
  ckks::public_key pk;
  ckks::relin_keys rk;
  ckks::encryptor encryptor;
  ckks::decryptor decryptor;
  ckks::evaluator eval;
};

// N = 2048, three levels of 40 bits at scale 2^40 (insecure: small ring, for speed).
const ckks::parameters& small_params() {
  static const ckks::parameters p(2048, {60, 40, 40, 40, 60}, 40, insecure);
  return p;
}

fixture& small() {
  static fixture f(small_params());
  return f;
}

// Fresh encryption at 2^40 has an error near 2^-28 per slot here (N = 2048); products, key
// switching and sums multiply it by small factors. The bounds below leave about 8x room.
constexpr double fresh_bound = 0x1p-25;
constexpr double product_bound = 0x1p-23;

} // namespace

TEST_CASE("ckks evaluator: add, sub, negate and plaintext additions match double arithmetic", "[ckks][evaluator]") {
  auto& f = small();
  const std::size_t slots = f.eval.slot_count();
  const auto x = random_values(slots, 1), y = random_values(slots, 2);
  const auto cx = f.encrypt(x), cy = f.encrypt(y);

  CHECK(max_error(f.decrypt(f.eval.add(cx, cy)), map(slots, [&](std::size_t i) { return x[i] + y[i]; })) < fresh_bound);
  CHECK(max_error(f.decrypt(f.eval.sub(cx, cy)), map(slots, [&](std::size_t i) { return x[i] - y[i]; })) < fresh_bound);
  CHECK(max_error(f.decrypt(f.eval.negate(cx)), map(slots, [&](std::size_t i) { return -x[i]; })) < fresh_bound);
  auto acc = cx;
  f.eval.add_inplace(acc, cy);
  f.eval.sub_inplace(acc, cx);
  f.eval.negate_inplace(acc);
  CHECK(max_error(f.decrypt(acc), map(slots, [&](std::size_t i) { return -y[i]; })) < fresh_bound);
  CHECK(acc.level() == cx.level());
  CHECK(acc.scale() == cx.scale());

  const auto py = ckks::encode(f.params, f.eval.slot_encoder(), y);
  CHECK(max_error(f.decrypt(f.eval.add_plain(cx, py)), map(slots, [&](std::size_t i) { return x[i] + y[i]; })) <
        fresh_bound);
  CHECK(max_error(f.decrypt(f.eval.sub_plain(cx, py)), map(slots, [&](std::size_t i) { return x[i] - y[i]; })) <
        fresh_bound);
  CHECK(max_error(f.decrypt(f.eval.add_plain(cx, y)), map(slots, [&](std::size_t i) { return x[i] + y[i]; })) <
        fresh_bound);
  // A plaintext above the ciphertext's level is used at the ciphertext's level.
  const auto low = f.eval.mod_switch_to(cx, 1);
  CHECK(max_error(f.decrypt(f.eval.add_plain(low, py)), map(slots, [&](std::size_t i) { return x[i] + y[i]; })) <
        fresh_bound);

  // Constants: exact additions of round(c·scale), any magnitude the modulus holds.
  for (const double c : {0.0, 0.25, -3.75, 1234.5}) {
    CAPTURE(c);
    const auto r = f.eval.add_scalar(cx, c);
    CHECK(r.level() == cx.level());
    CHECK(max_error(f.decrypt(r), map(slots, [&](std::size_t i) { return x[i] + c; })) < fresh_bound);
  }
  CHECK_THROWS_WITH(f.eval.add_scalar(cx, 0x1p200), Catch::Contains("does not fit"));
  CHECK_THROWS_AS(f.eval.add_scalar(cx, std::nan("")), hefl::invalid_argument);
}

TEST_CASE("ckks evaluator: products, relinearization, rescale and scalar products", "[ckks][evaluator]") {
  auto& f = small();
  const std::size_t slots = f.eval.slot_count();
  const auto x = random_values(slots, 3), y = random_values(slots, 4);
  const auto cx = f.encrypt(x), cy = f.encrypt(y);
  const auto xy = map(slots, [&](std::size_t i) { return x[i] * y[i]; });
  const std::size_t top = f.params.max_level();
  const double q_top = static_cast<double>(f.params.primes()[top]);

  const auto prod = f.eval.multiply(cx, cy);
  CHECK(prod.size() == 3);
  CHECK(prod.level() == top);
  CHECK(prod.scale() == cx.scale() * cy.scale());
  CHECK(max_error(f.decrypt(prod), xy) < product_bound); // decrypts with s^2 before relinearization

  const auto relin = f.eval.relinearize(prod, f.rk);
  CHECK(relin.size() == 2);
  CHECK(max_error(f.decrypt(relin), xy) < product_bound);
  CHECK(f.eval.relinearize(relin, f.rk).poly(0) == relin.poly(0)); // 2 parts: unchanged

  const auto rescaled = f.eval.rescale(relin);
  CHECK(rescaled.level() == top - 1);
  CHECK(rescaled.scale() == relin.scale() / q_top);
  CHECK(max_error(f.decrypt(rescaled), xy) < product_bound);

  const auto auto_prod = f.eval.multiply_relin_rescale(cx, cy, f.rk);
  CHECK(auto_prod.poly(0) == rescaled.poly(0));
  CHECK(auto_prod.poly(1) == rescaled.poly(1));

  const auto sq = f.eval.square_relin_rescale(cx, f.rk);
  CHECK(max_error(f.decrypt(sq), map(slots, [&](std::size_t i) { return x[i] * x[i]; })) < product_bound);
  CHECK(f.eval.square(cx).size() == 3);
  CHECK(max_error(f.decrypt(f.eval.square(cx)), map(slots, [&](std::size_t i) { return x[i] * x[i]; })) <
        product_bound);

  // Plaintext products: low level keeps the level and multiplies the scales; the convenience form rescales.
  const auto py = ckks::encode(f.params, f.eval.slot_encoder(), y);
  const auto pp = f.eval.multiply_plain(cx, py);
  CHECK(pp.level() == top);
  CHECK(pp.scale() == cx.scale() * py.scale());
  CHECK(max_error(f.decrypt(pp), xy) < product_bound);
  const auto pr = f.eval.multiply_plain_rescale(cx, y);
  CHECK(pr.level() == top - 1);
  CHECK(max_error(f.decrypt(pr), xy) < product_bound);

  // Integer scalars are exact and free; other scalars cost one level and land on the scale of a
  // product of two ciphertexts at that scale, so c·x + x·x needs no adjustment.
  const auto tripled = f.eval.multiply_scalar(cx, -3.0);
  CHECK(tripled.level() == top);
  CHECK(tripled.scale() == cx.scale());
  CHECK(max_error(f.decrypt(tripled), map(slots, [&](std::size_t i) { return -3 * x[i]; })) < 4 * fresh_bound);
  CHECK(f.eval.multiply_integer(cx, 7).poly(1) == f.eval.multiply_scalar(cx, 7.0).poly(1));
  const auto scaled = f.eval.multiply_scalar(cx, 0.37);
  CHECK(scaled.level() == top - 1);
  CHECK(scaled.scale() == sq.scale());
  CHECK(max_error(f.decrypt(scaled), map(slots, [&](std::size_t i) { return 0.37 * x[i]; })) < product_bound);
  const auto poly = f.eval.add(scaled, sq);
  CHECK(poly.scale() == sq.scale());
  CHECK(max_error(f.decrypt(poly), map(slots, [&](std::size_t i) { return 0.37 * x[i] + x[i] * x[i]; })) <
        product_bound);

  // multiply_constant: round(value · constant_scale), scale multiplied, no rescale.
  const auto mc = f.eval.multiply_constant(cx, -1.5, 0x1p20);
  CHECK(mc.level() == top);
  CHECK(mc.scale() == cx.scale() * 0x1p20);
  CHECK(max_error(f.decrypt(mc), map(slots, [&](std::size_t i) { return -1.5 * x[i]; })) < 4 * fresh_bound);
  CHECK_THROWS_AS(f.eval.multiply_constant(cx, 1.0, 0.0), hefl::invalid_argument);
  CHECK_THROWS_AS(f.eval.multiply_scalar(cx, 1.0 / 0.0), hefl::invalid_argument);

  // In-place forms agree with the value-returning ones.
  auto in = cx;
  f.eval.multiply_inplace(in, cy);
  f.eval.relinearize_inplace(in, f.rk);
  f.eval.rescale_inplace(in);
  CHECK(in.poly(0) == rescaled.poly(0));
  auto sq_in = cx;
  f.eval.square_inplace(sq_in);
  CHECK(sq_in.poly(2) == f.eval.square(cx).poly(2));
  auto ms = cx;
  f.eval.multiply_scalar_inplace(ms, 0.37);
  CHECK(ms.poly(0) == scaled.poly(0));
}

TEST_CASE("ckks evaluator: a multiplication chain exhausts the levels, then depth_exhausted names the op",
          "[ckks][evaluator][depth]") {
  auto& f = small();
  const std::size_t slots = f.eval.slot_count();
  const auto x = random_values(slots, 5, 1.2);
  auto c = f.encrypt(x);
  std::vector<double> want = x;
  for (std::size_t step = 0; step < f.params.max_level(); ++step) {
    c = f.eval.square_relin_rescale(c, f.rk);
    for (auto& w : want) w *= w;
    CAPTURE(step);
    // Squaring doubles relative errors: the error grows with the values (|x|^8 reaches 4.3 here).
    CHECK(max_error(f.decrypt(c), want) < 0x1p-20);
  }
  REQUIRE(c.level() == 0);
  CHECK_THROWS_WITH(f.eval.square_relin_rescale(c, f.rk), Catch::Contains("square_relin_rescale") &&
                                                              Catch::Contains("level 0"));
  CHECK_THROWS_AS(f.eval.multiply_relin_rescale(c, c, f.rk), hefl::depth_exhausted);
  CHECK_THROWS_WITH(f.eval.multiply_relin_rescale(c, f.encrypt(x), f.rk), Catch::Contains("multiply_relin_rescale"));
  CHECK_THROWS_WITH(f.eval.multiply_scalar(c, 0.5), Catch::Contains("multiply_scalar"));
  CHECK_NOTHROW(f.eval.multiply_scalar(c, 2.0)); // integers cost no level
  CHECK_THROWS_AS(f.eval.multiply_plain_rescale(c, x), hefl::depth_exhausted);
  CHECK_THROWS_WITH(f.eval.rescale(c), Catch::Contains("level 0"));
  CHECK_THROWS_AS(f.eval.rescale(c), hefl::depth_exhausted);
  // The low-level product needs no rescale now, but its scale 2^80 cannot fit q_0 (60 bits).
  CHECK_THROWS_WITH(f.eval.multiply(c, c), Catch::Contains("multiply") && Catch::Contains("does not fit"));
  CHECK_THROWS_AS(f.eval.square(c), hefl::depth_exhausted);
}

TEST_CASE("ckks evaluator: operands at different levels and scales are matched or refused", "[ckks][evaluator]") {
  auto& f = small();
  const std::size_t slots = f.eval.slot_count();
  const auto x = random_values(slots, 6), y = random_values(slots, 7);
  const auto cx = f.encrypt(x), cy = f.encrypt(y);
  const std::size_t top = f.params.max_level();

  // x·y at level top-1 (scale 2^80/q) plus x at level top (scale 2^40): x is brought to the product's
  // level and scale by one integer product and a rescale.
  const auto xy = f.eval.multiply_relin_rescale(cx, cy, f.rk);
  for (const bool swap : {false, true}) {
    CAPTURE(swap);
    const auto sum = swap ? f.eval.add(cx, xy) : f.eval.add(xy, cx);
    CHECK(sum.level() == top - 1);
    CHECK(sum.scale() == Approx(xy.scale()).epsilon(0x1p-35));
    CHECK(max_error(f.decrypt(sum), map(slots, [&](std::size_t i) { return x[i] * y[i] + x[i]; })) < product_bound);
    const auto diff = swap ? f.eval.sub(cx, xy) : f.eval.sub(xy, cx);
    const double sign = swap ? -1 : 1;
    CHECK(max_error(f.decrypt(diff), map(slots, [&](std::size_t i) { return sign * (x[i] * y[i] - x[i]); })) <
          product_bound);
  }
  // Products across levels: x³ = (x·x)·x, then added to (x·x)·(x·x)/x-free terms at the same level.
  const auto xx = f.eval.square_relin_rescale(cx, f.rk);
  const auto x3 = f.eval.multiply_relin_rescale(xx, cx, f.rk);
  const auto x4 = f.eval.square_relin_rescale(xx, f.rk);
  CHECK(x3.level() == top - 2);
  CHECK(x3.scale() == Approx(x4.scale()).epsilon(0x1p-35));
  const auto p = f.eval.add(f.eval.add(x4, x3), cx);
  CHECK(p.level() == top - 2);
  CHECK(max_error(f.decrypt(p), map(slots, [&](std::size_t i) {
          return x[i] * x[i] * x[i] * x[i] + x[i] * x[i] * x[i] + x[i];
        })) < product_bound);

  // adjust_to and mod_switch_to on their own.
  const auto adjusted = f.eval.adjust_to(cx, 0, 0x1p33);
  CHECK(adjusted.level() == 0);
  CHECK(adjusted.scale() == Approx(0x1p33).epsilon(0x1p-30));
  CHECK(max_error(f.decrypt(adjusted), x) < 0x1p-18); // 2^33 scale: rounding error ~2^-28
  const auto switched = f.eval.mod_switch_to(cx, 1);
  CHECK(switched.level() == 1);
  CHECK(switched.scale() == cx.scale());
  CHECK(max_error(f.decrypt(switched), x) < fresh_bound);
  CHECK(f.eval.mod_switch_to(switched, 1).poly(0) == switched.poly(0));
  CHECK_THROWS_WITH(f.eval.mod_switch_to(switched, 2), Catch::Contains("cannot raise"));
  CHECK_THROWS_AS(f.eval.adjust_to(switched, 2, 1.0), hefl::invalid_argument);
  const auto pt = f.eval.mod_switch_to(ckks::encode(f.params, f.eval.slot_encoder(), y), 0);
  CHECK(pt.level() == 0);
  CHECK(max_error(ckks::decode(f.params, f.eval.slot_encoder(), pt), y) < 0x1p-30);

  // A ciphertext above a plaintext's level is matched to it; products only drop limbs.
  const auto ct_pt = f.eval.add_plain(cx, ckks::encode(f.params, f.eval.slot_encoder(), y, f.params.scale(), 1));
  CHECK(ct_pt.level() == 1);
  CHECK(max_error(f.decrypt(ct_pt), map(slots, [&](std::size_t i) { return x[i] + y[i]; })) < fresh_bound);
  const auto mp = f.eval.multiply_plain(cx, ckks::encode(f.params, f.eval.slot_encoder(), y, f.params.scale(), 1));
  CHECK(mp.level() == 1);
  CHECK(max_error(f.decrypt(mp), map(slots, [&](std::size_t i) { return x[i] * y[i]; })) < product_bound);

  // Same level, scales far apart: a forgotten rescale is an error that names both scales.
  const auto unrescaled = f.eval.relinearize(f.eval.multiply(cx, cy), f.rk);
  CHECK_THROWS_WITH(f.eval.add(unrescaled, cx), Catch::Contains("scales differ") && Catch::Contains("2^80") &&
                                                    Catch::Contains("2^40"));
  CHECK_THROWS_AS(f.eval.sub_plain(unrescaled, ckks::encode(f.params, f.eval.slot_encoder(), y)), hefl::invalid_argument);
  // By default any difference is refused; within an explicit tolerance the scales count as equal.
  const ckks::evaluator tolerant(f.params, ckks::relative_scale_tolerance{0x1p-20});
  const auto drifted = f.eval.adjust_to(cx, top - 1, xy.scale() * (1 + 0x1p-30));
  CHECK_NOTHROW(tolerant.add(drifted, xy));
  CHECK_THROWS_AS(f.eval.add(drifted, xy), hefl::invalid_argument);
  CHECK_THROWS_AS(ckks::evaluator(f.params, ckks::relative_scale_tolerance{-1.0}), hefl::invalid_argument);
}

TEST_CASE("ckks evaluator: every rotation step at a small ring, both directions, and conjugation",
          "[ckks][evaluator][rotate]") {
  const ckks::parameters p(256, {50, 40, 50}, 30, insecure);
  fixture f(p, 11);
  const auto slots = static_cast<long long>(f.eval.slot_count()); // 128
  std::vector<long long> steps;
  for (long long s = 1; s < slots; ++s) steps.push_back(s);
  const auto gk = f.keygen.create_galois_keys(steps, true);
  const auto x = random_values(static_cast<std::size_t>(slots), 12);
  const auto cx = f.encrypt(x);
  for (long long s = -(slots - 1); s <= slots; ++s) {
    CAPTURE(s);
    const auto r = f.eval.rotate(cx, s, gk);
    CHECK(r.level() == cx.level());
    CHECK(r.scale() == cx.scale());
    const auto want = map(static_cast<std::size_t>(slots), [&](std::size_t i) {
      return x[static_cast<std::size_t>(((static_cast<long long>(i) + s) % slots + slots) % slots)];
    });
    REQUIRE(max_error(f.decrypt(r), want) < 0x1p-16); // scale 2^30: fresh error ~2^-23
  }
  auto in = cx;
  f.eval.rotate_inplace(in, 5, gk);
  f.eval.rotate_inplace(in, -5, gk);
  CHECK(max_error(f.decrypt(in), x) < 0x1p-16);

  std::vector<std::complex<double>> z(static_cast<std::size_t>(slots));
  for (std::size_t i = 0; i < z.size(); ++i) z[i] = {x[i], x[(i + 3) % z.size()]};
  const auto cz = f.encryptor.encrypt(
      ckks::encode(p, f.eval.slot_encoder(), std::span<const std::complex<double>>(z), p.scale(), p.max_level()));
  auto conj = f.eval.conjugate(cz, gk);
  const auto back = ckks::decode_complex(p, f.eval.slot_encoder(), f.decryptor.decrypt(conj));
  double err = 0;
  for (std::size_t i = 0; i < z.size(); ++i) err = std::max(err, std::abs(back[i] - std::conj(z[i])));
  CHECK(err < 0x1p-16);
  f.eval.conjugate_inplace(conj, gk);
  CHECK(max_error(f.decrypt(conj), x) < 0x1p-16);
}

TEST_CASE("ckks evaluator: rotations compose power-of-two keys; missing keys are named", "[ckks][evaluator][rotate]") {
  auto& f = small();
  const auto gk = f.keygen.create_galois_keys(); // every ±2^i
  const std::size_t slots = f.eval.slot_count();
  const auto x = random_values(slots, 13);
  const auto cx = f.encrypt(x);
  for (const long long s : {3LL, -5LL, 7LL, 100LL, -333LL, 1023LL, 1024LL, 2048LL + 9}) {
    CAPTURE(s);
    const auto want = map(slots, [&](std::size_t i) {
      const auto n = static_cast<long long>(slots);
      return x[static_cast<std::size_t>(((static_cast<long long>(i) + s) % n + n) % n)];
    });
    CHECK(max_error(f.decrypt(f.eval.rotate(cx, s, gk)), want) < product_bound);
  }
  const std::vector<long long> only_one{1};
  const auto gk1 = f.keygen.create_galois_keys(only_one);
  CHECK_THROWS_WITH(f.eval.rotate(cx, 3, gk1), Catch::Contains("rotation step 3"));
  CHECK_THROWS_WITH(f.eval.conjugate(cx, gk1), Catch::Contains("conjugation"));
  CHECK_THROWS_WITH(f.eval.rotate(f.eval.multiply(cx, cx), 1, gk1), Catch::Contains("relinearize"));
}

TEST_CASE("ckks evaluator: hoisted rotations equal sequential ones", "[ckks][evaluator][rotate]") {
  auto& f = small();
  const std::vector<long long> steps{1, 2, 5, -3, 0, 512, 100};
  const std::vector<long long> keyed{1, 2, 5, -3, 512, 4, -32, 128};
  const auto gk = f.keygen.create_galois_keys(keyed);
  const auto x = random_values(f.eval.slot_count(), 14);
  const auto cx = f.eval.multiply_relin_rescale(f.encrypt(x), f.encrypt(x), f.rk); // any level works
  const auto many = f.eval.rotate_many(cx, steps, gk);
  REQUIRE(many.size() == steps.size());
  for (std::size_t t = 0; t < steps.size(); ++t) {
    CAPTURE(steps[t]);
    const auto one = f.eval.rotate(cx, steps[t], gk); // 100 = 128 - 32 + 4 is composed in both
    CHECK(many[t].level() == one.level());
    CHECK(many[t].poly(0) == one.poly(0));
    CHECK(many[t].poly(1) == one.poly(1));
  }
  CHECK(many[4].poly(0) == cx.poly(0)); // step 0
}

TEST_CASE("ckks evaluator: sum_slots and inner products", "[ckks][evaluator][sum]") {
  auto& f = small();
  const std::size_t slots = f.eval.slot_count();
  const auto steps = ckks::evaluator::sum_slots_steps(slots);
  CHECK(steps.size() == 15); // 1024 = 4^5: five radix-4 rounds of three steps
  const auto gk = f.keygen.create_galois_keys(steps);
  const auto x = random_values(slots, 15), y = random_values(slots, 16);
  const auto cx = f.encrypt(x), cy = f.encrypt(y);
  double total = 0, dot = 0, weighted = 0;
  for (std::size_t i = 0; i < slots; ++i) {
    total += x[i];
    dot += x[i] * y[i];
    weighted += x[i] * (0.5 + 0.001 * static_cast<double>(i));
  }
  // A sum over 1024 slots adds up 1024 errors of ~2^-28 plus the key-switching noise of 15 rotations.
  const double sum_bound = 0x1p-19;
  const auto s = f.eval.sum_slots(cx, gk);
  CHECK(s.level() == cx.level());
  CHECK(s.scale() == cx.scale());
  CHECK(max_error(f.decrypt(s), std::vector<double>(slots, total)) < sum_bound);
  CHECK(max_error(f.decrypt(f.eval.inner_product(cx, cy, f.rk, gk)), std::vector<double>(slots, dot)) < sum_bound);
  const auto w = map(slots, [](std::size_t i) { return 0.5 + 0.001 * static_cast<double>(i); });
  const auto ip = f.eval.inner_product(cx, w, gk);
  CHECK(ip.level() == cx.level() - 1);
  CHECK(max_error(f.decrypt(ip), std::vector<double>(slots, weighted)) < sum_bound);

  // With only positive powers of two every round falls back to radix 2: same sum, more rotations.
  std::vector<long long> positive;
  for (long long t = 1; t < static_cast<long long>(slots); t *= 2) positive.push_back(t);
  const auto gk_pos = f.keygen.create_galois_keys(positive);
  CHECK(max_error(f.decrypt(f.eval.sum_slots(cx, gk_pos)), std::vector<double>(slots, total)) < sum_bound);
  const std::vector<long long> no_one{2, 4};
  CHECK_THROWS_WITH(f.eval.sum_slots(cx, f.keygen.create_galois_keys(no_one)), Catch::Contains("rotation step 1"));
}

TEST_CASE("ckks evaluator: sum_slots with an odd number of halvings ends with a radix-2 round",
          "[ckks][evaluator][sum]") {
  const ckks::parameters p(1024, {50, 40, 50}, 30, insecure); // 512 slots = 2 * 4^4
  fixture f(p, 21);
  const auto steps = ckks::evaluator::sum_slots_steps(f.eval.slot_count());
  CHECK(steps.size() == 13);
  CHECK(steps.back() == 256);
  const auto gk = f.keygen.create_galois_keys(); // the default keys cover sum_slots_steps
  for (const long long t : steps) CHECK(gk.has(ckks::galois_element_for_step(t, 1024)));
  const auto x = random_values(512, 22);
  double total = 0;
  for (const double v : x) total += v;
  CHECK(max_error(f.decrypt(f.eval.sum_slots(f.encrypt(x), gk)), std::vector<double>(512, total)) < 0x1p-12);
}

TEST_CASE("ckks evaluator: foreign parameters, 3-part operands and foreign keys are refused", "[ckks][evaluator]") {
  auto& f = small();
  const ckks::parameters other(2048, {60, 40, 40, 60}, 40, insecure);
  fixture g(other, 31);
  const auto x = random_values(16, 32);
  const auto cx = f.encrypt(x), foreign = g.encrypt(x);
  CHECK_THROWS_WITH(f.eval.add(cx, foreign), Catch::Contains("add") && Catch::Contains("other parameters"));
  CHECK_THROWS_AS(f.eval.multiply(foreign, cx), hefl::invalid_argument);
  CHECK_THROWS_AS(f.eval.negate(foreign), hefl::invalid_argument);
  CHECK_THROWS_AS(f.eval.rescale(foreign), hefl::invalid_argument);
  CHECK_THROWS_AS(f.eval.add_plain(cx, ckks::encode(other, g.eval.slot_encoder(), x)), hefl::invalid_argument);
  CHECK_THROWS_AS(f.eval.relinearize(f.eval.multiply(cx, cx), g.rk), hefl::invalid_argument);
  const auto foreign_gk = g.keygen.create_galois_keys();
  CHECK_THROWS_WITH(f.eval.rotate(cx, 1, foreign_gk), Catch::Contains("Galois keys belong to other parameters"));
  CHECK_THROWS_AS(f.eval.sum_slots(cx, foreign_gk), hefl::invalid_argument);

  const auto three = f.eval.multiply(cx, cx);
  CHECK_THROWS_WITH(f.eval.multiply(three, cx), Catch::Contains("3 parts") && Catch::Contains("relinearize"));
  CHECK_THROWS_AS(f.eval.square(three), hefl::invalid_argument);
  // Additions and rescaling accept 3-part ciphertexts, also mixed with 2-part ones.
  const auto sum = f.eval.add(f.eval.relinearize(three, f.rk), three);
  CHECK(sum.size() == 3);
  const auto twice = map(16, [&](std::size_t i) { return 2 * x[i] * x[i]; });
  CHECK(max_error(f.decrypt(f.eval.rescale(sum)), twice) < product_bound); // compares the first 16 slots
  const auto diff = f.eval.sub(f.eval.relinearize(three, f.rk), three);
  CHECK(diff.size() == 3);
  CHECK(max_error(f.decrypt(f.eval.rescale(diff)), std::vector<double>(16, 0.0)) < product_bound);
}

TEST_CASE("ckks evaluator at N = 8192 {60, 40, 40, 60}: product and rotation accuracy", "[ckks][evaluator][slow]") {
  const ckks::parameters p(8192, {60, 40, 40, 60}, 40);
  fixture f(p, 41);
  const std::vector<long long> steps{1, -7};
  const auto gk = f.keygen.create_galois_keys(steps);
  const auto x = random_values(4096, 42), y = random_values(4096, 43);
  const auto cx = f.encrypt(x), cy = f.encrypt(y);
  const auto prod = f.eval.multiply_relin_rescale(cx, cy, f.rk);
  CHECK(prod.level() == 1);
  CHECK(max_error(f.decrypt(prod), map(4096, [&](std::size_t i) { return x[i] * y[i]; })) < 0x1p-20);
  const auto prod2 = f.eval.multiply_relin_rescale(prod, cx, f.rk);
  CHECK(prod2.level() == 0);
  CHECK(max_error(f.decrypt(prod2), map(4096, [&](std::size_t i) { return x[i] * x[i] * y[i]; })) < 0x1p-20);
  for (const long long s : steps) {
    const auto r = f.eval.rotate(prod, s, gk);
    CHECK(max_error(f.decrypt(r), map(4096, [&](std::size_t i) {
            return x[(i + 4096 + static_cast<std::size_t>(s + 4096)) % 4096] *
                   y[(i + 4096 + static_cast<std::size_t>(s + 4096)) % 4096];
          })) < 0x1p-20);
  }
}

TEST_CASE("ckks buffer pool: freed limb buffers are reused, and released on request", "[ckks][evaluator][memory]") {
  namespace detail = ckks::detail;
  auto& pool = detail::buffer_pool::instance();
  ckks::release_cached_memory();
  CHECK(pool.cached_bytes() == 0);
  const std::size_t bytes = 4096 * 3 * sizeof(detail::u64);
  const detail::u64* first = nullptr;
  {
    const detail::rns_poly p(4096, 2, false);
    first = p.limb(0);
    CHECK(std::all_of(p.data().begin(), p.data().end(), [](detail::u64 v) { return v == 0; }));
  }
  CHECK(pool.cached_bytes() == bytes);
  {
    detail::rns_poly again(4096, 2, false, false, detail::uninitialized);
    CHECK(again.limb(0) == first); // the cached buffer came back
    CHECK(pool.cached_bytes() == 0);
    std::fill(again.data().begin(), again.data().end(), detail::u64{7});
    const detail::rns_poly zero(4096, 2, false); // the zero constructor clears whatever it gets
    CHECK(std::all_of(zero.data().begin(), zero.data().end(), [](detail::u64 v) { return v == 0; }));
  }
  CHECK(pool.cached_bytes() == 2 * bytes);
  ckks::release_cached_memory();
  CHECK(pool.cached_bytes() == 0);
  // Small buffers bypass the pool.
  { const detail::rns_poly tiny(64, 0, false); }
  CHECK(pool.cached_bytes() == 0);
}
