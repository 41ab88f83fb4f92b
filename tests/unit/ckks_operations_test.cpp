// Operations users expect from SEAL / OpenFHE, each checked against double precision:
// multiply_by_i, rescale_to, add_many, multiply_many, and the parameters helper's chains in use.

#include <hefl/he/ckks/decryptor.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/evaluator.hpp>
#include <hefl/he/ckks/keys.hpp>

#include <catch2/catch.hpp>

#include "ckks_test_support.hpp"

#include <algorithm>
#include <complex>
#include <cstdint>
#include <vector>

namespace ckks = hefl::he::ckks;

namespace {

using hefl_test::max_error;
using hefl_test::random_values;
using hefl_test::test_source;

struct ops_kit {
  explicit ops_kit(const ckks::parameters& params)
      : p(params), rng(21), keygen(p, rng), rk(keygen.create_relin_keys()), encryptor(p, keygen.create_public_key(), rng),
        decryptor(p, keygen.secret()), eval(p) {}
  ckks::ciphertext encrypt(const std::vector<double>& v) { return encryptor.encrypt(ckks::encode(p, eval.slot_encoder(), v)); }
  std::vector<double> decrypt(const ckks::ciphertext& c) const { return decryptor.decrypt_decode(c, eval.slot_encoder()); }
  ckks::parameters p;
  test_source rng;
  ckks::key_generator keygen;
  ckks::relin_keys rk;
  ckks::encryptor encryptor;
  ckks::decryptor decryptor;
  ckks::evaluator eval;
};

const ckks::parameters& ops_params() {
  static const ckks::parameters p(1024, {60, 40, 40, 40, 60}, 40, ckks::security::none_i_know_this_is_insecure);
  return p;
}

} // namespace

TEST_CASE("ckks multiply_by_i multiplies every complex slot by i, exactly and without a level", "[ckks][operations]") {
  ops_kit k(ops_params());
  const auto re = random_values(k.p.slot_count(), 31), im = random_values(k.p.slot_count(), 32);
  std::vector<std::complex<double>> z(re.size());
  for (std::size_t j = 0; j < z.size(); ++j) z[j] = {re[j], im[j]};
  const auto ct = k.encryptor.encrypt(ckks::encode(k.p, k.eval.slot_encoder(), std::span<const std::complex<double>>(z),
                                                   k.p.scale(), k.p.max_level()));
  const auto r = k.eval.multiply_by_i(ct);
  CHECK(r.level() == ct.level());
  CHECK(r.scale() == ct.scale());
  const auto got = ckks::decode_complex(k.p, k.eval.slot_encoder(), k.decryptor.decrypt(r));
  double err = 0;
  for (std::size_t j = 0; j < z.size(); ++j) err = std::max(err, std::abs(got[j] - std::complex<double>(0, 1) * z[j]));
  CHECK(err < 1e-6);
  // Four times is the identity up to sign: i^4 = 1, and the residues return exactly (X^(2N) = 1).
  ckks::ciphertext four = ct;
  for (int t = 0; t < 4; ++t) k.eval.multiply_by_i_inplace(four);
  for (std::size_t c = 0; c < ct.size(); ++c) CHECK(four.poly(c) == ct.poly(c));
}

TEST_CASE("ckks rescale_to, add_many and multiply_many agree with double precision", "[ckks][operations]") {
  ops_kit k(ops_params());
  const std::size_t n = k.p.slot_count();
  std::vector<std::vector<double>> xs;
  std::vector<ckks::ciphertext> cts;
  for (std::uint64_t s = 0; s < 4; ++s) {
    xs.push_back(random_values(n, 40 + s));
    cts.push_back(k.encrypt(xs.back()));
  }
  // add_many: the sum of four, one of them at a lower level.
  cts[3] = k.eval.mod_switch_to(cts[3], 1);
  const auto sum = k.eval.add_many(cts);
  std::vector<double> want(n, 0.0);
  for (const auto& x : xs)
    for (std::size_t j = 0; j < n; ++j) want[j] += x[j];
  CHECK(sum.level() == 1);
  CHECK(max_error(k.decrypt(sum), want) < 1e-6);
  // multiply_many: four factors in two levels.
  cts[3] = k.encrypt(xs[3]);
  const auto prod = k.eval.multiply_many(cts, k.rk);
  CHECK(prod.level() == k.p.max_level() - 2);
  for (std::size_t j = 0; j < n; ++j) want[j] = xs[0][j] * xs[1][j] * xs[2][j] * xs[3][j];
  CHECK(max_error(k.decrypt(prod), want) < 1e-5);
  // Three factors: two levels as well; one factor is returned as is.
  const auto three = k.eval.multiply_many(std::span<const ckks::ciphertext>(cts.data(), 3), k.rk);
  for (std::size_t j = 0; j < n; ++j) want[j] = xs[0][j] * xs[1][j] * xs[2][j];
  CHECK(max_error(k.decrypt(three), want) < 1e-5);
  CHECK(k.eval.multiply_many(std::span<const ckks::ciphertext>(cts.data(), 1), k.rk).poly(0) == cts[0].poly(0));
  // rescale_to: an unrescaled product brought down one level is the rescaled product.
  const auto raw = k.eval.relinearize(k.eval.multiply(cts[0], cts[1]), k.rk);
  const auto down = k.eval.rescale_to(raw, raw.level() - 1);
  CHECK(down.poly(0) == k.eval.rescale(raw).poly(0));
  for (std::size_t j = 0; j < n; ++j) want[j] = xs[0][j] * xs[1][j];
  CHECK(max_error(k.decrypt(down), want) < 1e-5);
  // Refusals: no terms, too deep, raising, a rescale below scale 1 (operand unchanged).
  CHECK_THROWS_AS(k.eval.add_many({}), hefl::invalid_argument);
  CHECK_THROWS_AS(k.eval.multiply_many({}, k.rk), hefl::invalid_argument);
  std::vector<ckks::ciphertext> many(9, cts[0]); // 4 levels needed, 3 available
  CHECK_THROWS_AS(k.eval.multiply_many(many, k.rk), hefl::depth_exhausted);
  CHECK_THROWS_AS(k.eval.rescale_to(cts[0], k.p.max_level() + 1), hefl::invalid_argument);
  ckks::ciphertext fresh = cts[0];
  CHECK_THROWS_AS(k.eval.rescale_to_inplace(fresh, 0), hefl::invalid_argument); // 2^40 / 2^40 / 2^40 < 1
  CHECK(fresh.poly(0) == cts[0].poly(0));
  CHECK(fresh.level() == cts[0].level());
}

TEST_CASE("ckks complex slots: encode, add, multiply and decrypt without spelling out scale and level",
          "[ckks][operations]") {
  ops_kit k(ops_params());
  const std::size_t n = k.p.slot_count();
  const auto a_re = random_values(n, 51), a_im = random_values(n, 52), b_re = random_values(n, 53),
             b_im = random_values(n, 54);
  std::vector<std::complex<double>> a(n), b(n);
  for (std::size_t j = 0; j < n; ++j) a[j] = {a_re[j], a_im[j]}, b[j] = {b_re[j], b_im[j]};
  const auto ct = k.encryptor.encrypt(
      ckks::encode(k.p, k.eval.slot_encoder(), std::span<const std::complex<double>>(a), k.p.scale(), k.p.max_level()));
  const auto worst = [](const std::vector<std::complex<double>>& got, const std::vector<std::complex<double>>& want) {
    double e = 0;
    for (std::size_t j = 0; j < want.size(); ++j) e = std::max(e, std::abs(got[j] - want[j]));
    return e;
  };
  CHECK(worst(k.decryptor.decrypt_decode_complex(ct, k.eval.slot_encoder()), a) < 1e-6);
  std::vector<std::complex<double>> want(n);
  for (std::size_t j = 0; j < n; ++j) want[j] = a[j] + b[j];
  CHECK(worst(k.decryptor.decrypt_decode_complex(k.eval.add_plain(ct, std::span<const std::complex<double>>(b)),
                                                 k.eval.slot_encoder()),
              want) < 1e-6);
  const auto prod = k.eval.multiply_plain_rescale(ct, std::span<const std::complex<double>>(b));
  CHECK(prod.level() == ct.level() - 1);
  for (std::size_t j = 0; j < n; ++j) want[j] = a[j] * b[j];
  CHECK(worst(k.decryptor.decrypt_decode_complex(prod, k.eval.slot_encoder()), want) < 1e-5);
  // A plaintext for the product, at its exact (drifted) scale and level.
  const auto pt = ckks::encode(k.p, k.eval.slot_encoder(), std::span<const std::complex<double>>(b), prod);
  for (std::size_t j = 0; j < n; ++j) want[j] = a[j] * b[j] + b[j];
  CHECK(worst(k.decryptor.decrypt_decode_complex(k.eval.add_plain(prod, pt), k.eval.slot_encoder()), want) < 1e-5);
}
