// Tests of ckks::linear_transform (hefl/he/ckks/linear_transform.hpp): y = M·x by baby-step
// giant-step diagonals, against double-precision matrix-vector products, for both layouts, real and
// complex matrices, sparse diagonals, the number of key switches, and the refusals.

#include <hefl/he/ckks/decryptor.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/evaluator.hpp>
#include <hefl/he/ckks/keys.hpp>
#include <hefl/he/ckks/linear_transform.hpp>

#include <catch2/catch.hpp>

#include "ckks_test_support.hpp"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <set>
#include <vector>

namespace ckks = hefl::he::ckks;

namespace {

using cplx = std::complex<double>;
using hefl_test::max_error;
using hefl_test::random_values;
using hefl_test::test_source;

constexpr auto insecure = ckks::security::none_i_know_this_is_insecure;

struct kit {
  explicit kit(const ckks::parameters& params, std::uint64_t seed = 31)
      : p(params), rng(seed), keygen(p, rng), encryptor(p, keygen.create_public_key(), rng),
        decryptor(p, keygen.secret()), eval(p) {}
  ckks::ciphertext encrypt(const std::vector<double>& v) { return encryptor.encrypt(ckks::encode(p, eval.slot_encoder(), v)); }
  ckks::ciphertext encrypt(const std::vector<cplx>& v) {
    return encryptor.encrypt(
        ckks::encode(p, eval.slot_encoder(), std::span<const cplx>(v), p.scale(), p.max_level()));
  }
  std::vector<double> decrypt(const ckks::ciphertext& c) const { return decryptor.decrypt_decode(c, eval.slot_encoder()); }
  std::vector<cplx> decrypt_complex(const ckks::ciphertext& c) const {
    return decryptor.decrypt_decode_complex(c, eval.slot_encoder());
  }
  ckks::parameters p;
  test_source rng;
  ckks::key_generator keygen;
  ckks::encryptor encryptor;
  ckks::decryptor decryptor;
  ckks::evaluator eval;
};

// N = 2048 (1024 slots), two levels of 40 bits at scale 2^40; insecure (small ring) for speed.
kit& small() {
  static const ckks::parameters p(2048, {60, 40, 40, 60}, 40, insecure);
  static kit k(p);
  return k;
}

// y = M·x in double precision for the slot layouts (slots: the n slot values of the input).
template <class T>
std::vector<T> reference(const std::vector<T>& m, std::size_t d, const std::vector<T>& slots, ckks::slot_layout layout) {
  const std::size_t n = slots.size();
  std::vector<T> y(n, T{});
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t r = i % d, start = i - r;
    for (std::size_t c = 0; c < d; ++c)
      y[i] += m[r * d + c] * (layout == ckks::slot_layout::replicated ? slots[c] : slots[start + c]);
  }
  return y;
}

// x of length d repeated over n slots.
template <class T>
std::vector<T> replicate(const std::vector<T>& x, std::size_t n) {
  std::vector<T> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = x[i % x.size()];
  return out;
}

double worst(const std::vector<cplx>& got, const std::vector<cplx>& want) {
  double e = 0;
  for (std::size_t j = 0; j < want.size(); ++j) e = std::max(e, std::abs(got[j] - want[j]));
  return e;
}

std::size_t distinct_modulo(const std::vector<long long>& steps, long long n) {
  std::set<long long> s;
  for (const long long k : steps) s.insert(((k % n) + n) % n);
  return s.size();
}

} // namespace

TEST_CASE("ckks linear_transform: random real matrices match double precision, both layouts",
          "[ckks][linear_transform]") {
  auto& k = small();
  const std::size_t n = k.eval.slot_count();
  std::uint64_t seed = 100;
  for (const auto layout : {ckks::slot_layout::replicated, ckks::slot_layout::blocks}) {
    for (const std::size_t d : {std::size_t{1}, std::size_t{4}, std::size_t{16}, std::size_t{64}}) {
      CAPTURE(static_cast<int>(layout), d);
      const auto m = random_values(d * d, ++seed);
      const ckks::linear_transform lt(n, d, m, layout);
      const auto slots = layout == ckks::slot_layout::replicated ? replicate(random_values(d, ++seed), n)
                                                                 : random_values(n, ++seed);
      const auto gk = k.keygen.create_galois_keys(ckks::linear_transform::rotation_steps(n, d, layout));
      const auto cx = k.encrypt(slots);
      ckks::linear_transform_stats st;
      const auto cy = lt.apply(k.eval, cx, gk, &st);
      CHECK(cy.level() == cx.level() - 1);
      CHECK(cy.scale() == k.eval.multiply_plain_rescale(cx, slots).scale());
      const double err = max_error(k.decrypt(cy), reference(m, d, slots, layout));
      CHECK(err < 1e-6 * static_cast<double>(d) + 1e-6);
      CHECK(st.plaintext_products == lt.diagonal_indices().size());
      CHECK(lt.diagonal_indices().size() == (layout == ckks::slot_layout::replicated ? d : 2 * d - 1));
    }
  }
}

TEST_CASE("ckks linear_transform: the full slots x slots matrix takes about 2 sqrt(n) key switches, not n",
          "[ckks][linear_transform]") {
  auto& k = small();
  const std::size_t n = k.eval.slot_count(); // 1024
  const auto m = random_values(n * n, 7);
  const ckks::linear_transform lt(n, n, m, ckks::slot_layout::replicated);
  REQUIRE(lt.diagonal_indices().size() == n);
  const auto steps = lt.rotation_steps();
  CHECK(steps == ckks::linear_transform::rotation_steps(n, n, ckks::slot_layout::replicated));
  // n1·n2 covers the n diagonals; the keys are about n1 + n2 = 2·sqrt(1024) = 64, not 1023.
  CHECK(lt.baby_steps() * lt.giant_steps() >= n);
  CHECK(steps.size() == lt.baby_steps() - 1 + lt.giant_steps() - 1);
  CHECK(steps.size() <= 64);
  CHECK(distinct_modulo(steps, static_cast<long long>(n)) == steps.size());

  const auto gk = k.keygen.create_galois_keys(steps);
  const auto x = random_values(n, 8);
  ckks::linear_transform_stats st;
  const auto cy = lt.apply(k.eval, k.encrypt(x), gk, &st);
  CHECK(st.key_switches() == steps.size());
  CHECK(st.baby_rotations == lt.baby_steps() - 1);
  CHECK(st.giant_rotations == lt.giant_steps() - 1);
  CHECK(st.plaintext_products == n);
  CHECK(max_error(k.decrypt(cy), reference(m, n, x, ckks::slot_layout::replicated)) < 1e-4);

  // d = n in the blocks layout is the same full matrix.
  const ckks::linear_transform as_blocks(n, n, m, ckks::slot_layout::blocks);
  CHECK(as_blocks.diagonal_indices() == lt.diagonal_indices());
  CHECK(as_blocks.rotation_steps() == steps);
}

TEST_CASE("ckks linear_transform: zero diagonals are skipped, with their rotations",
          "[ckks][linear_transform]") {
  auto& k = small();
  const std::size_t n = k.eval.slot_count(), d = 64;
  // Non-zero diagonals 0, 1, 5 and 40 of a replicated 64x64 matrix.
  std::vector<double> m(d * d, 0.0);
  const auto vals = random_values(4 * d, 9);
  std::size_t v = 0;
  for (const std::size_t diag : {0, 1, 5, 40})
    for (std::size_t r = 0; r < d; ++r) m[r * d + (r + diag) % d] = vals[v++];
  const ckks::linear_transform lt(n, d, m, ckks::slot_layout::replicated);
  CHECK(lt.diagonal_indices() == std::vector<long long>{0, 1, 5, 40});
  const auto dense_steps = ckks::linear_transform::rotation_steps(n, d, ckks::slot_layout::replicated);
  const auto steps = lt.rotation_steps();
  CHECK(steps.size() < dense_steps.size());
  for (const long long s : steps) CHECK(std::find(dense_steps.begin(), dense_steps.end(), s) != dense_steps.end());
  CHECK(lt.baby_steps() * lt.giant_steps() >= 4);

  // Keys of the sparse matrix alone are enough.
  const auto gk = k.keygen.create_galois_keys(steps);
  const auto x = random_values(d, 10);
  ckks::linear_transform_stats st;
  const auto cy = lt.apply(k.eval, k.encrypt(replicate(x, n)), gk, &st);
  CHECK(st.plaintext_products == 4);
  CHECK(st.key_switches() == steps.size());
  CHECK(max_error(k.decrypt(cy), reference(m, d, replicate(x, n), ckks::slot_layout::replicated)) < 1e-6);

  // A chosen baby-step count: n1 = 1 is the diagonal method (one rotation per non-zero diagonal).
  const ckks::linear_transform naive(n, d, m, ckks::slot_layout::replicated, 1);
  CHECK(naive.rotation_steps() == std::vector<long long>{1, 5, 40});
  const auto gk_naive = k.keygen.create_galois_keys(naive.rotation_steps());
  const auto cy_naive = naive.apply(k.eval, k.encrypt(replicate(x, n)), gk_naive, &st);
  CHECK(st.giant_rotations == 3);
  CHECK(st.baby_rotations == 0);
  CHECK(max_error(k.decrypt(cy_naive), reference(m, d, replicate(x, n), ckks::slot_layout::replicated)) < 1e-6);

  // n1 = n in the blocks layout: diagonal -k is the baby step n - k, no giant step at all.
  const std::size_t e = 16;
  const auto m16 = random_values(e * e, 14);
  const ckks::linear_transform wide(n, e, m16, ckks::slot_layout::blocks, n);
  CHECK(wide.giant_steps() == 2); // g = -1 (the negative diagonals) and g = 0
  const auto wide_steps = wide.rotation_steps();
  CHECK(wide_steps.size() == 2 * e - 2);
  for (const long long s : wide_steps) CHECK((s > 0 && s < static_cast<long long>(n)));
  const auto gk_wide = k.keygen.create_galois_keys(wide_steps);
  const auto xb = random_values(n, 15);
  const auto cy_wide = wide.apply(k.eval, k.encrypt(xb), gk_wide, &st);
  CHECK(st.giant_rotations == 0);
  CHECK(st.baby_rotations == 2 * e - 2);
  CHECK(max_error(k.decrypt(cy_wide), reference(m16, e, xb, ckks::slot_layout::blocks)) < 1e-6);

  // A zero matrix: an encryption of zeros, one level down, no rotation.
  const ckks::linear_transform zero(n, d, std::vector<double>(d * d, 0.0), ckks::slot_layout::blocks);
  CHECK(zero.diagonal_indices().empty());
  CHECK(zero.rotation_steps().empty());
  const auto cz = zero.apply(k.eval, k.encrypt(random_values(n, 11)), gk, &st);
  CHECK(st.key_switches() == 0);
  CHECK(cz.level() == k.p.max_level() - 1);
  CHECK(max_error(k.decrypt(cz), std::vector<double>(n, 0.0)) < 1e-6);
}

TEST_CASE("ckks linear_transform: complex matrices on complex slots, a zero-padded vector in blocks",
          "[ckks][linear_transform]") {
  auto& k = small();
  const std::size_t n = k.eval.slot_count();
  for (const std::size_t d : {std::size_t{8}, std::size_t{32}}) {
    CAPTURE(d);
    const auto re = random_values(d * d, 40 + d), im = random_values(d * d, 41 + d);
    std::vector<cplx> m(d * d);
    for (std::size_t i = 0; i < m.size(); ++i) m[i] = {re[i], im[i]};
    const ckks::linear_transform lt(n, d, m, ckks::slot_layout::blocks);
    CHECK(lt.is_complex());
    // One vector in slots 0..d-1, zeros elsewhere: y = M·x there, zeros elsewhere.
    const auto xr = random_values(d, 42 + d), xi = random_values(d, 43 + d);
    std::vector<cplx> slots(n, cplx{0, 0});
    for (std::size_t i = 0; i < d; ++i) slots[i] = {xr[i], xi[i]};
    const auto gk = k.keygen.create_galois_keys(lt.rotation_steps());
    const auto cy = lt.apply(k.eval, k.encrypt(slots), gk);
    const auto want = reference(m, d, slots, ckks::slot_layout::blocks);
    for (std::size_t i = d; i < n; ++i) REQUIRE(want[i] == cplx{0, 0});
    CHECK(worst(k.decrypt_complex(cy), want) < 1e-6 * static_cast<double>(d));
  }
}

TEST_CASE("ckks linear_transform: diagonals encoded once give the same product", "[ckks][linear_transform]") {
  auto& k = small();
  const std::size_t n = k.eval.slot_count(), d = 32;
  const auto m = random_values(d * d, 60);
  const ckks::linear_transform lt(n, d, m, ckks::slot_layout::blocks);
  const auto gk = k.keygen.create_galois_keys(lt.rotation_steps());
  const auto x = random_values(n, 61);
  const auto cx = k.encrypt(x);
  const auto encoded = lt.encode_diagonals(k.eval, cx.scale(), cx.level());
  REQUIRE(encoded.size() == lt.diagonal_indices().size());
  ckks::linear_transform_stats st;
  const auto cy = lt.apply(k.eval, cx, gk, encoded, &st);
  // The same plaintexts as apply encodes on the fly: the same ciphertext, bit for bit.
  const auto direct = lt.apply(k.eval, cx, gk);
  CHECK(cy.poly(0) == direct.poly(0));
  CHECK(cy.poly(1) == direct.poly(1));
  CHECK(cy.scale() == direct.scale());
  CHECK(st.key_switches() == lt.rotation_steps().size());
  CHECK(max_error(k.decrypt(cy), reference(m, d, x, ckks::slot_layout::blocks)) < 1e-5);
  // Reused on a ciphertext one level down (plaintexts above its level are used at its level).
  const auto x2 = random_values(n, 62);
  const auto low = k.eval.mod_switch_to(k.encrypt(x2), cx.level() - 1);
  const auto cy2 = lt.apply(k.eval, low, gk, encoded);
  CHECK(cy2.level() == low.level() - 1);
  CHECK(max_error(k.decrypt(cy2), reference(m, d, x2, ckks::slot_layout::blocks)) < 1e-5);
  // Refusals: wrong count, plaintexts below the ciphertext's level.
  CHECK_THROWS_WITH(lt.apply(k.eval, cx, gk, std::span<const ckks::plaintext>(encoded.data(), encoded.size() - 1)),
                    Catch::Contains("encoded diagonals"));
  const auto encoded_low = lt.encode_diagonals(k.eval, cx.scale(), cx.level() - 1);
  CHECK_THROWS_WITH(lt.apply(k.eval, cx, gk, encoded_low), Catch::Contains("below the ciphertext's level"));
}

TEST_CASE("ckks linear_transform: refusals name the problem", "[ckks][linear_transform]") {
  auto& k = small();
  const std::size_t n = k.eval.slot_count();
  const std::vector<double> m16(16 * 16, 0.5);
  // Shapes.
  CHECK_THROWS_AS(ckks::linear_transform(n, 16, std::vector<double>(15 * 16), ckks::slot_layout::blocks),
                  hefl::invalid_argument);
  CHECK_THROWS_WITH(ckks::linear_transform(n, 12, std::vector<double>(144), ckks::slot_layout::blocks),
                    Catch::Contains("power of two dividing the slot count"));
  CHECK_THROWS_AS(ckks::linear_transform(n, 2 * n, std::vector<double>(4 * n * n), ckks::slot_layout::blocks),
                  hefl::invalid_argument);
  CHECK_THROWS_AS(ckks::linear_transform(1000, 8, std::vector<double>(64), ckks::slot_layout::blocks),
                  hefl::invalid_argument);
  CHECK_THROWS_AS(ckks::linear_transform::rotation_steps(n, 0, ckks::slot_layout::blocks), hefl::invalid_argument);
  std::vector<double> bad = m16;
  bad[17] = std::nan("");
  CHECK_THROWS_WITH(ckks::linear_transform(n, 16, bad, ckks::slot_layout::blocks), Catch::Contains("(1, 1)"));
  CHECK_THROWS_AS(ckks::linear_transform(n, 16, m16, ckks::slot_layout::blocks, n + 1), hefl::invalid_argument);

  const ckks::linear_transform lt(n, 16, m16, ckks::slot_layout::blocks);
  const auto steps = lt.rotation_steps();
  REQUIRE(steps.size() >= 2);
  const auto gk = k.keygen.create_galois_keys(steps);
  const auto cx = k.encrypt(random_values(n, 12));
  // A missing key is named.
  const std::vector<long long> most(steps.begin(), steps.end() - 1);
  const auto gk_most = k.keygen.create_galois_keys(most);
  CHECK_THROWS_WITH(lt.apply(k.eval, cx, gk_most),
                    Catch::Contains("rotation step " + std::to_string(steps.back())));
  // Depth: level 0 cannot take the rescale.
  CHECK_THROWS_AS(lt.apply(k.eval, k.eval.mod_switch_to(cx, 0), gk), hefl::depth_exhausted);
  // A 3-part ciphertext.
  CHECK_THROWS_WITH(lt.apply(k.eval, k.eval.multiply(cx, cx), gk), Catch::Contains("relinearize"));
  // A transform for another slot count.
  const ckks::linear_transform half(n / 2, 16, m16, ckks::slot_layout::blocks);
  CHECK_THROWS_WITH(half.apply(k.eval, cx, gk), Catch::Contains("slots"));
  // Operands of other parameters.
  static const ckks::parameters other_p(2048, {60, 40, 40, 40, 60}, 40, insecure);
  static kit other(other_p, 5);
  const auto foreign_gk = other.keygen.create_galois_keys(steps);
  CHECK_THROWS_WITH(lt.apply(k.eval, cx, foreign_gk), Catch::Contains("other parameters"));
  CHECK_THROWS_WITH(lt.apply(k.eval, other.encrypt(random_values(n, 13)), gk), Catch::Contains("other parameters"));
}
