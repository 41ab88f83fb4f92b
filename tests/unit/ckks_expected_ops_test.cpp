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
