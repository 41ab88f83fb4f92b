// The operations users expect from SEAL / OpenFHE, used together against double precision:
// complex slots at the default scale and level, the conjugation key from create_galois_keys,
// multiply_by_i (real and imaginary parts of complex slots), and a chain from secure_parameters
// carrying exactly its depth.

#include <hefl/he/ckks/decryptor.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/evaluator.hpp>
#include <hefl/he/ckks/evaluator_ops.hpp>
#include <hefl/he/ckks/keys.hpp>

#include <catch2/catch.hpp>

#include "ckks_test_support.hpp"

#include <algorithm>
#include <cmath>
#include <complex>
#include <span>
#include <cstdint>
#include <vector>

namespace ckks = hefl::he::ckks;

namespace {

using cplx = std::complex<double>;
using hefl_test::max_error;
using hefl_test::random_values;
using hefl_test::test_source;

double worst(const std::vector<cplx>& got, const std::vector<cplx>& want) {
  double e = 0;
  for (std::size_t j = 0; j < want.size(); ++j) e = std::max(e, std::abs(got[j] - want[j]));
  return e;
}

} // namespace

TEST_CASE("ckks complex slots at the default scale; Re and Im through conjugate and multiply_by_i",
          "[ckks][operations][complex]") {
  const ckks::parameters p(2048, {60, 40, 40, 60}, 40, ckks::security::none_i_know_this_is_insecure);
  test_source rng(77);
  ckks::key_generator keygen(p, rng);
  ckks::encryptor encryptor(p, keygen.create_public_key(), rng);
  const ckks::decryptor decryptor(p, keygen.secret());
  const ckks::evaluator ev(p);
  const std::size_t n = p.slot_count();
  const auto re = random_values(n, 1), im = random_values(n, 2);
  std::vector<cplx> z(n);
  for (std::size_t j = 0; j < n; ++j) z[j] = {re[j], im[j]};

  // Encoded without naming scale or level: the default scale, the top level.
  const ckks::plaintext pt = ckks::encode(p, ev.slot_encoder(), std::span<const cplx>(z));
  CHECK(pt.scale() == p.scale());
  CHECK(pt.level() == p.max_level());
  const auto cz = encryptor.encrypt(pt);
  CHECK(worst(decryptor.decrypt_decode_complex(cz, ev.slot_encoder()), z) < 1e-6);

  // The conjugation key alone: no rotation step, conjugation = true.
  const auto gk = keygen.create_galois_keys(std::vector<long long>{}, true);
  CHECK(gk.elements() == std::vector<std::uint64_t>{ckks::conjugation_galois_element(p.poly_degree())});
  const auto conj = ev.conjugate(cz, gk);
  // Re z = (z + conj z) / 2 and Im z = -i (z - conj z) / 2, each as real slots.
  const auto real_part = ev.multiply_scalar(ev.add(cz, conj), 0.5);
  const auto imag_part = ev.multiply_scalar(ev.negate(ev.multiply_by_i(ev.sub(cz, conj))), 0.5);
  CHECK(real_part.level() == p.max_level() - 1);
  std::vector<cplx> want_re(n), want_im(n);
  for (std::size_t j = 0; j < n; ++j) want_re[j] = re[j], want_im[j] = im[j];
  CHECK(worst(decryptor.decrypt_decode_complex(real_part, ev.slot_encoder()), want_re) < 1e-6);
  CHECK(worst(decryptor.decrypt_decode_complex(imag_part, ev.slot_encoder()), want_im) < 1e-6);
  // Without the conjugation key: refused, naming it.
  const auto no_conj = keygen.create_galois_keys(std::vector<long long>{1});
  CHECK_THROWS_WITH(ev.conjugate(cz, no_conj), Catch::Contains("conjugation key"));
}

TEST_CASE("ckks secure_parameters(2, 40): a 128-bit chain that carries exactly two products",
          "[ckks][operations][params]") {
  const ckks::parameters p = ckks::secure_parameters(2, 40);
  REQUIRE(p.security_level() == ckks::security::classical_128);
  REQUIRE(p.max_level() == 2);
  test_source rng(78);
  ckks::key_generator keygen(p, rng);
  const auto rk = keygen.create_relin_keys();
  ckks::encryptor encryptor(p, keygen.create_public_key(), rng);
  const ckks::decryptor decryptor(p, keygen.secret());
  const ckks::evaluator ev(p);
  const std::size_t n = p.slot_count();
  std::vector<std::vector<double>> xs;
  std::vector<ckks::ciphertext> cts;
  for (std::uint64_t s = 0; s < 4; ++s) {
    xs.push_back(random_values(n, 10 + s));
    cts.push_back(encryptor.encrypt(ckks::encode(p, ev.slot_encoder(), xs.back())));
  }
  std::vector<double> want(n);
  // x^4 and x0·x1·x2·x3: two levels each, down to level 0.
  const auto fourth = ckks::exponentiate(ev, cts[0], 4, rk);
  CHECK(fourth.level() == 0);
  for (std::size_t j = 0; j < n; ++j) want[j] = std::pow(xs[0][j], 4);
  CHECK(max_error(decryptor.decrypt_decode(fourth, ev.slot_encoder()), want) < 1e-5);
  const auto product = ev.multiply_many(cts, rk);
  CHECK(product.level() == 0);
  for (std::size_t j = 0; j < n; ++j) want[j] = xs[0][j] * xs[1][j] * xs[2][j] * xs[3][j];
  CHECK(max_error(decryptor.decrypt_decode(product, ev.slot_encoder()), want) < 1e-5);
  // A third product does not fit.
  CHECK_THROWS_AS(ckks::exponentiate(ev, cts[0], 5, rk), hefl::depth_exhausted);
  CHECK_THROWS_AS(ev.multiply_relin_rescale(product, fourth, rk), hefl::depth_exhausted);
}

TEST_CASE("ckks create_galois_keys() includes the conjugation key", "[ckks][operations][complex][keys]") {
  const ckks::parameters p(2048, {60, 40, 40, 60}, 40, ckks::security::none_i_know_this_is_insecure);
  test_source rng(79);
  ckks::key_generator keygen(p, rng);
  ckks::encryptor encryptor(p, keygen.create_public_key(), rng);
  const ckks::decryptor decryptor(p, keygen.secret());
  const ckks::evaluator ev(p);
  const std::size_t n = p.slot_count();
  const auto gk = keygen.create_galois_keys();
  // ±1, ..., ±256 and 512 (= -512) for 1024 slots, and the conjugation key: 2·log2(1024) keys.
  CHECK(gk.elements().size() == 20);
  CHECK(gk.has(ckks::conjugation_galois_element(p.poly_degree())));
  const auto re = random_values(n, 3), im = random_values(n, 4);
  std::vector<cplx> z(n), want(n);
  for (std::size_t j = 0; j < n; ++j) z[j] = {re[j], im[j]}, want[j] = std::conj(z[j]);
  const auto cz = encryptor.encrypt(ckks::encode(p, ev.slot_encoder(), std::span<const cplx>(z)));
  CHECK(worst(decryptor.decrypt_decode_complex(ev.conjugate(cz, gk), ev.slot_encoder()), want) < 1e-6);
  // The same keys still rotate and sum.
  const auto sum = decryptor.decrypt_decode_complex(ev.sum_slots(cz, gk), ev.slot_encoder());
  cplx total = 0;
  for (const cplx v : z) total += v;
  CHECK(std::abs(sum[17] - total) < 1e-4);
}

TEST_CASE("ckks plaintext operations from raw values at the ciphertext's exact scale and level",
          "[ckks][operations][plain]") {
  const ckks::parameters p(2048, {60, 40, 40, 60}, 40, ckks::security::none_i_know_this_is_insecure);
  test_source rng(81);
  ckks::key_generator keygen(p, rng);
  const auto rk = keygen.create_relin_keys();
  ckks::encryptor encryptor(p, keygen.create_public_key(), rng);
  const ckks::decryptor decryptor(p, keygen.secret());
  const ckks::evaluator ev(p); // exact scale matching (the default)
  const std::size_t n = p.slot_count();
  const auto x = random_values(n, 20), y = random_values(n, 21);
  const auto cx = encryptor.encrypt(ckks::encode(p, ev.slot_encoder(), x));
  std::vector<double> want(n);

  // After a rescale the product's scale has drifted from 2^40; values encoded at its exact scale
  // and level add and subtract without naming either.
  const auto square = ev.multiply_relin_rescale(cx, cx, rk);
  REQUIRE(square.scale() != p.scale());
  CHECK_THROWS_AS(ev.add_plain(square, ckks::encode(p, ev.slot_encoder(), y)), hefl::invalid_argument);
  const auto plus = ev.add_plain(square, y);
  const auto minus = ev.sub_plain(square, std::span<const double>(y));
  CHECK(plus.level() == square.level());
  CHECK(minus.scale() == square.scale());
  for (std::size_t j = 0; j < n; ++j) want[j] = x[j] * x[j] + y[j];
  CHECK(max_error(decryptor.decrypt_decode(plus, ev.slot_encoder()), want) < 1e-6);
  for (std::size_t j = 0; j < n; ++j) want[j] = x[j] * x[j] - y[j];
  CHECK(max_error(decryptor.decrypt_decode(minus, ev.slot_encoder()), want) < 1e-6);

  // multiply_plain from values does not rescale: same level, scale s²; rescaling it gives the
  // residues of multiply_plain_rescale.
  const auto times = ev.multiply_plain(cx, std::span<const double>(y));
  CHECK(times.level() == cx.level());
  CHECK(times.scale() == cx.scale() * cx.scale());
  for (std::size_t j = 0; j < n; ++j) want[j] = x[j] * y[j];
  CHECK(max_error(decryptor.decrypt_decode(times, ev.slot_encoder()), want) < 1e-6);
  const auto rescaled = ev.rescale(times);
  const auto direct = ev.multiply_plain_rescale(cx, y);
  CHECK(rescaled.scale() == direct.scale());
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t l = 0; l <= direct.level(); ++l)
      CHECK(std::equal(rescaled.poly(i).limb(l), rescaled.poly(i).limb(l) + p.poly_degree(), direct.poly(i).limb(l)));
  // On the drifted product too (scale s² of a drifted s), still without naming the scale.
  const auto cubic = ev.rescale(ev.multiply_plain(square, std::span<const double>(x)));
  for (std::size_t j = 0; j < n; ++j) want[j] = x[j] * x[j] * x[j];
  CHECK(max_error(decryptor.decrypt_decode(cubic, ev.slot_encoder()), want) < 1e-5);

  // Complex values: subtract and multiply, against std::complex arithmetic.
  std::vector<cplx> z(n), w(n), want_c(n);
  for (std::size_t j = 0; j < n; ++j) z[j] = {x[j], y[j]}, w[j] = {y[j], -0.5 * x[j]};
  const auto cz = encryptor.encrypt(ckks::encode(p, ev.slot_encoder(), std::span<const cplx>(z)));
  for (std::size_t j = 0; j < n; ++j) want_c[j] = z[j] - w[j];
  CHECK(worst(decryptor.decrypt_decode_complex(ev.sub_plain(cz, std::span<const cplx>(w)), ev.slot_encoder()), want_c) <
        1e-6);
  const auto zw = ev.multiply_plain(cz, std::span<const cplx>(w));
  CHECK(zw.scale() == cz.scale() * cz.scale());
  for (std::size_t j = 0; j < n; ++j) want_c[j] = z[j] * w[j];
  CHECK(worst(decryptor.decrypt_decode_complex(ev.rescale(zw), ev.slot_encoder()), want_c) < 1e-6);

  // Refusals: too many values, a non-finite or too large value, and no room for the product's scale.
  const std::vector<double> too_many(n + 1, 0.5);
  CHECK_THROWS_AS(ev.sub_plain(cx, std::span<const double>(too_many)), hefl::invalid_argument);
  CHECK_THROWS_AS(ev.multiply_plain(cx, std::span<const double>(too_many)), hefl::invalid_argument);
  std::vector<double> bad(n, 0.5);
  bad[3] = std::nan("");
  CHECK_THROWS_AS(ev.sub_plain(cx, std::span<const double>(bad)), hefl::invalid_argument);
  CHECK_THROWS_AS(ev.multiply_plain(cx, std::span<const double>(bad)), hefl::invalid_argument);
  bad[3] = 1e45; // its coefficients (about 1e45·2^40/1024) are far above Q_2 / 2 (2^139)
  CHECK_THROWS_AS(ev.sub_plain(cx, std::span<const double>(bad)), hefl::invalid_argument);
  const auto bottom = ev.multiply_relin_rescale(square, square, rk); // level 0, scale about 2^40
  CHECK_THROWS_AS(ev.multiply_plain(bottom, std::span<const double>(y)), hefl::depth_exhausted);
  CHECK_THROWS_AS(ev.multiply_plain(bottom, std::span<const cplx>(w)), hefl::depth_exhausted);
}
