// Tests of the operations in hefl/he/ckks/evaluator_ops.hpp (exponentiate, sum_segments, the
// segment inner_product, sum_segments_steps) against double arithmetic.

#include <hefl/he/ckks/decryptor.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/evaluator.hpp>
#include <hefl/he/ckks/evaluator_ops.hpp>
#include <hefl/he/ckks/keys.hpp>

#include <catch2/catch.hpp>

#include "ckks_test_support.hpp"

#include <cmath>
#include <cstdint>
#include <vector>

namespace ckks = hefl::he::ckks;

namespace {

using hefl_test::max_error;
using hefl_test::random_values;
using hefl_test::test_source;

constexpr auto insecure = ckks::security::none_i_know_this_is_insecure;

struct fixture {
  explicit fixture(const ckks::parameters& p, std::uint64_t seed = 7)
      : params(p), rng(seed), keygen(p, rng), pk(keygen.create_public_key()), rk(keygen.create_relin_keys()),
        encryptor(p, pk, rng), decryptor(p, keygen.secret()), eval(p) {}

  ckks::ciphertext encrypt(const std::vector<double>& v) {
    return encryptor.encrypt(ckks::encode(params, eval.slot_encoder(), v));
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

// The small preset of the evaluator tests: N = 2048, three levels of 40 bits at scale 2^40
// (insecure: small ring, for speed).
fixture& small() {
  static const ckks::parameters p(2048, {60, 40, 40, 40, 60}, 40, insecure);
  static fixture f(p);
  return f;
}

// The plain segment sums of x for segments of k slots, in every slot of each segment.
std::vector<double> segment_sums(const std::vector<double>& x, std::size_t k) {
  std::vector<double> out(x.size());
  for (std::size_t j = 0; j < x.size(); j += k) {
    double s = 0;
    for (std::size_t i = j; i < j + k; ++i) s += x[i];
    for (std::size_t i = j; i < j + k; ++i) out[i] = s;
  }
  return out;
}

} // namespace

TEST_CASE("ckks ops: exponentiate matches std::pow with ceil(log2 k) levels", "[ckks][ops]") {
  auto& f = small();
  const std::size_t slots = f.eval.slot_count(), top = f.params.max_level();
  const auto x = random_values(slots, 21);
  const auto cx = f.encrypt(x);
  for (std::uint64_t k = 1; k <= 8; ++k) {
    CAPTURE(k);
    const auto r = ckks::exponentiate(f.eval, cx, k, f.rk);
    std::size_t depth = 0;
    while ((std::uint64_t{1} << depth) < k) ++depth;
    CHECK(r.level() == top - depth);
    CHECK(r.size() == 2);
    std::vector<double> want(slots);
    for (std::size_t i = 0; i < slots; ++i) want[i] = std::pow(x[i], static_cast<double>(k));
    CHECK(max_error(f.decrypt(r), want) < 0x1p-20);
  }
  // k = 1 returns the operand itself.
  CHECK(ckks::exponentiate(f.eval, cx, 1, f.rk).poly(0) == cx.poly(0));
}

TEST_CASE("ckks ops: exponentiate rejects k = 0, a short chain and foreign operands", "[ckks][ops]") {
  auto& f = small();
  const auto cx = f.encrypt(random_values(f.eval.slot_count(), 22));
  CHECK_THROWS_AS(ckks::exponentiate(f.eval, cx, 0, f.rk), hefl::invalid_argument);
  CHECK_THROWS_WITH(ckks::exponentiate(f.eval, cx, 0, f.rk), Catch::Contains("at least 1"));
  // x^9 needs 4 levels, the chain has 3.
  CHECK_THROWS_AS(ckks::exponentiate(f.eval, cx, 9, f.rk), hefl::depth_exhausted);
  CHECK_THROWS_WITH(ckks::exponentiate(f.eval, cx, 9, f.rk), Catch::Contains("needs 4 levels, the ciphertext has 3"));
  const auto low = f.eval.mod_switch_to(cx, 1);
  CHECK_THROWS_WITH(ckks::exponentiate(f.eval, low, 3, f.rk), Catch::Contains("needs 2 levels, the ciphertext has 1"));
  CHECK_THROWS_AS(ckks::exponentiate(f.eval, f.eval.multiply(cx, cx), 2, f.rk), hefl::invalid_argument);

  static const ckks::parameters other_p(2048, {60, 40, 40, 60}, 40, insecure);
  fixture g(other_p, 3);
  CHECK_THROWS_WITH(ckks::exponentiate(f.eval, g.encrypt({0.5}), 2, f.rk), Catch::Contains("other parameters"));
  CHECK_THROWS_WITH(ckks::exponentiate(f.eval, cx, 2, g.rk), Catch::Contains("relinearization key"));
}

TEST_CASE("ckks ops: sum_segments_steps lists the rotations and rejects bad sizes", "[ckks][ops]") {
  CHECK(ckks::sum_segments_steps(1, 1024).empty());
  CHECK(ckks::sum_segments_steps(8, 1024) == std::vector<long long>{1, 2, 4, -1, -2, -4});
  CHECK(ckks::sum_segments_steps(1024, 1024) == ckks::evaluator::sum_slots_steps(1024));
  CHECK_THROWS_AS(ckks::sum_segments_steps(0, 1024), hefl::invalid_argument);
  CHECK_THROWS_AS(ckks::sum_segments_steps(12, 1024), hefl::invalid_argument);
  CHECK_THROWS_AS(ckks::sum_segments_steps(2048, 1024), hefl::invalid_argument);
  CHECK_THROWS_AS(ckks::sum_segments_steps(4, 1000), hefl::invalid_argument);
}

TEST_CASE("ckks ops: sum_segments and the segment inner product match double sums", "[ckks][ops]") {
  auto& f = small();
  const std::size_t slots = f.eval.slot_count(), top = f.params.max_level();
  const auto x = random_values(slots, 23), y = random_values(slots, 24);
  const auto cx = f.encrypt(x), cy = f.encrypt(y);
  std::vector<double> xy(slots);
  for (std::size_t i = 0; i < slots; ++i) xy[i] = x[i] * y[i];
  // A segment sum adds up to 1024 fresh errors of ~2^-28 plus the noise of the rotations.
  const double bound = 0x1p-19;
  for (const std::size_t k : {std::size_t{1}, std::size_t{2}, std::size_t{16}, std::size_t{128}, slots}) {
    CAPTURE(k);
    const auto gk = f.keygen.create_galois_keys(ckks::sum_segments_steps(k, slots));
    const auto s = ckks::sum_segments(f.eval, cx, k, gk);
    const std::size_t mask_levels = (k == 1 || k == slots) ? 0 : 1;
    CHECK(s.level() == top - mask_levels);
    CHECK(max_error(f.decrypt(s), segment_sums(x, k)) < bound);
    const auto ip = ckks::inner_product(f.eval, cx, cy, k, f.rk, gk);
    CHECK(ip.level() == top - 1 - mask_levels);
    CHECK(max_error(f.decrypt(ip), segment_sums(xy, k)) < bound);
  }
}

TEST_CASE("ckks ops: sum_segments and inner_product reject bad sizes, missing keys and short chains", "[ckks][ops]") {
  auto& f = small();
  const std::size_t slots = f.eval.slot_count();
  const auto cx = f.encrypt(random_values(slots, 25)), cy = f.encrypt(random_values(slots, 26));
  const auto gk8 = f.keygen.create_galois_keys(ckks::sum_segments_steps(8, slots));
  for (const std::size_t bad : {std::size_t{0}, std::size_t{3}, std::size_t{24}, 2 * slots}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(ckks::sum_segments(f.eval, cx, bad, gk8), hefl::invalid_argument);
    CHECK_THROWS_AS(ckks::inner_product(f.eval, cx, cy, bad, f.rk, gk8), hefl::invalid_argument);
  }
  // Segments of 16 need the steps 8 and -8 too.
  CHECK_THROWS_WITH(ckks::sum_segments(f.eval, cx, 16, gk8), Catch::Contains("rotation step 8"));
  CHECK_THROWS_WITH(ckks::inner_product(f.eval, cx, cy, 16, f.rk, gk8), Catch::Contains("rotation step 8"));
  const std::vector<long long> positive_only{1, 2, 4};
  const auto gk_pos = f.keygen.create_galois_keys(positive_only);
  CHECK_THROWS_WITH(ckks::sum_segments(f.eval, cx, 8, gk_pos), Catch::Contains("rotation step -1"));
  CHECK_THROWS_AS(ckks::sum_segments(f.eval, f.eval.multiply(cx, cy), 8, gk8), hefl::invalid_argument);

  // The mask needs a level; the inner product needs two.
  const auto level0 = f.eval.mod_switch_to(cx, 0), level1 = f.eval.mod_switch_to(cx, 1);
  CHECK_THROWS_AS(ckks::sum_segments(f.eval, level0, 8, gk8), hefl::depth_exhausted);
  CHECK_THROWS_WITH(ckks::inner_product(f.eval, level1, cy, 8, f.rk, gk8),
                    Catch::Contains("need 2 levels, the lower operand has 1"));
  CHECK_NOTHROW(ckks::inner_product(f.eval, level1, cy, 1, f.rk, gk8)); // k = 1: the product only

  static const ckks::parameters other_p(2048, {60, 40, 40, 60}, 40, insecure);
  fixture g(other_p, 3);
  const auto foreign_gk = g.keygen.create_galois_keys(ckks::sum_segments_steps(8, slots));
  CHECK_THROWS_WITH(ckks::sum_segments(f.eval, cx, 8, foreign_gk), Catch::Contains("other parameters"));
  CHECK_THROWS_WITH(ckks::inner_product(f.eval, cx, cy, 8, g.rk, gk8), Catch::Contains("other parameters"));
}
