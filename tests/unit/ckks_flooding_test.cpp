// Noise-flooded decryption by the CKKS key holder (uniform: Li, Micciancio, EUROCRYPT 2021; Gaussian
// for computed results: Li, Micciancio, Schultz, Sorrell, CRYPTO 2022) and its use by the trainer for
// every decryption that leaves the key holder.
#include <hefl/approx/sigmoid.hpp>
#include <hefl/crypto/botan_random.hpp>
#include <hefl/data/synthetic.hpp>
#include <hefl/fl/federated_trainer.hpp>
#include <hefl/he/ckks/decryptor.hpp>
#include <hefl/he/ckks_backend.hpp>
#include <hefl/he/plain_backend.hpp>

#include <catch2/catch.hpp>

#include "fhe_test_support.hpp"

#include <cmath>
#include <cstdint>
#include <vector>

using namespace hefl;
using hefl::crypto::seeded_random;
namespace ckks = hefl::he::ckks;

namespace {

// Small ring degrees keep these tests fast; they are insecure and say so by name. Three 60-bit
// primes under the special one give updates the scale 2^100 (he::ckks_update_log2_scale).
ckks::parameters roomy() {
  return ckks::parameters(2048, {60, 60, 60, 60}, 40, ckks::security::none_i_know_this_is_insecure);
}
he::ckks_backend_options aggregation_only() {
  he::ckks_backend_options o;
  o.relinearization = false;
  o.rotations = false;
  return o;
}
// The per-slot standard deviation of the flooding: U·sqrt(N/6)/Δ, U = N·B·2^(λ_s-1).
double flooding_deviation(const he::ckks_key_holder& kh, double noise_bound, double scale) {
  const double n = static_cast<double>(kh.params().poly_degree());
  return ckks::flooding_amplitude(kh.params().poly_degree(), {noise_bound, kh.flooding().statistical_security}) *
         std::sqrt(n / 6) / scale;
}

} // namespace

TEST_CASE("flooded decryption stays within the stated bound of the raw one, and its noise is there",
          "[ckks][flooding]") {
  seeded_random rng(31);
  he::ckks_backend b(roomy(), rng, aggregation_only());
  auto& kh = b.key_holder();
  REQUIRE(kh.flooding().statistical_security == 40);
  REQUIRE(he::ckks_update_log2_scale(b.params()) == 100);
  std::vector<double> x(b.slot_count());
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.01 * static_cast<double>(i)) * 50.0;
  // A weighted sum with integer weights 3 and 5 of two fresh updates: B = 8 · fresh_noise_bound().
  const auto c = b.add(b.multiply_scalar(b.encrypt_update(x), 3.0), b.multiply_scalar(b.encrypt_update(x), 5.0));
  const auto noise = he::published_noise::linear(8);
  const auto raw = kh.decrypt(c);
  const auto f1 = kh.decrypt_for_sharing(c, noise);
  const auto f2 = kh.decrypt_for_sharing(c, noise);
  REQUIRE(f1.size() == b.slot_count());
  const double sigma = flooding_deviation(kh, 8 * kh.fresh_noise_bound(), c.scale());
  const double n = static_cast<double>(b.params().poly_degree());
  const double hard = n * ckks::flooding_amplitude(b.params().poly_degree(), {8 * kh.fresh_noise_bound(), 40}) / c.scale();
  double worst = 0, sum_sq = 0, moved = 0;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const double d = f1[i] - raw[i];
    worst = std::max(worst, std::abs(d));
    sum_sq += d * d;
    moved = std::max(moved, std::abs(f1[i] - f2[i]));
    CHECK(std::abs(raw[i] - 8 * x[i]) < 1e-9);
  }
  const double measured = std::sqrt(sum_sq / static_cast<double>(raw.size()));
  CHECK(worst <= hard);            // the hard bound N·U/Δ
  CHECK(worst <= 8 * sigma);       // and, in practice, within a few deviations
  CHECK(moved > 0);                // two flooded decryptions differ: fresh noise each time
  CHECK(measured > 0.5 * sigma);   // the flooding is as large as λ_s = 40 asks ...
  CHECK(measured < 2.0 * sigma);   // ... and not larger
  CHECK(sigma < 1e-9);             // while 2^100 keeps the sum far more precise than a model needs
  CHECK(kh.flooded_decryptions() == 2);
  CHECK(kh.raw_decryptions() == 1);
}

TEST_CASE("flooding with a larger statistical parameter adds proportionally more noise", "[ckks][flooding]") {
  seeded_random rng(32);
  he::ckks_backend_options o = aggregation_only();
  o.flooding.statistical_security = 50;
  he::ckks_backend b(roomy(), rng, o);
  std::vector<double> x(b.slot_count(), 1.25);
  const auto c = b.encrypt_update(x);
  const auto raw = b.key_holder().decrypt(c);
  const auto f = b.key_holder().decrypt_for_sharing(c, he::published_noise::linear(1));
  double sum_sq = 0;
  for (std::size_t i = 0; i < raw.size(); ++i) sum_sq += (f[i] - raw[i]) * (f[i] - raw[i]);
  const double sigma = flooding_deviation(b.key_holder(), b.key_holder().fresh_noise_bound(), c.scale());
  const double measured = std::sqrt(sum_sq / static_cast<double>(raw.size()));
  CHECK(measured > 0.5 * sigma);
  CHECK(measured < 2.0 * sigma);
}

TEST_CASE("parameters that leave no room for flooding are refused with the reason", "[ckks][flooding]") {
  seeded_random rng(33);
  // {60, 40 | 60}: the top level has 100 bits, so updates go out at 2^59 (Q_L / 2^40), where the
  // flooding noise N·B·2^39 would swamp the values.
  he::ckks_backend tight(ckks::parameters(2048, {60, 40, 60}, 40, ckks::security::none_i_know_this_is_insecure), rng,
                         aggregation_only());
  CHECK(he::ckks_update_log2_scale(tight.params()) == 59);
  const std::vector<double> x{1.0, 2.0};
  const auto c = tight.encrypt_update(x);
  CHECK_THROWS_AS(tight.key_holder().decrypt_for_sharing(c, he::published_noise::linear(1)), security_error);
  CHECK_THROWS_WITH(tight.key_holder().decrypt_for_sharing(c, he::published_noise::linear(1)),
                    Catch::Contains("no room for flooding") && Catch::Contains("scale 2^59"));
  CHECK(tight.key_holder().flooded_decryptions() == 0);
  // The raw decryption still works for the key holder's own use.
  CHECK(std::abs(tight.key_holder().decrypt(c)[1] - 2.0) < 1e-6);
  // A noise bound so large that U no longer fits the modulus is refused too.
  he::ckks_backend roomy_backend(roomy(), rng, aggregation_only());
  const auto d = roomy_backend.encrypt_update(x);
  CHECK_THROWS_AS(roomy_backend.key_holder().decrypt_for_sharing(d, 0x1p70), security_error);
  // λ_s outside [40, 100] is refused when the key holder is made.
  he::ckks_backend_options weak = aggregation_only();
  weak.flooding.statistical_security = 20;
  CHECK_THROWS_WITH(he::ckks_backend(roomy(), rng, weak), Catch::Contains("statistical_security"));
}

TEST_CASE("a computed ciphertext without a noise bound is flooded with an estimate, refused, or left raw, as configured",
          "[ckks][flooding]") {
  seeded_random rng(34);
  const std::vector<double> x{0.5, -0.25};
  const std::size_t first[1] = {0};
  SECTION("default: Gaussian flooding with the noise estimated from the imaginary parts") {
    he::ckks_backend b(test::toy_training_parameters(1), rng, aggregation_only());
    const auto c = b.multiply_scalar(b.encrypt(x), 3.0);
    const auto v = b.key_holder().decrypt_for_sharing(c, he::published_noise::computed(), first);
    REQUIRE(v.size() == 1);
    CHECK(std::abs(v[0] - 1.5) < 1e-6);
    CHECK(b.key_holder().estimated_floodings() == 1);
    CHECK(b.key_holder().published_computed_values() == 1);
    CHECK(b.key_holder().unflooded_decryptions() == 0);
  }
  SECTION("unbounded_noise::refuse") {
    he::ckks_backend_options o = aggregation_only();
    o.flooding.unknown = he::unbounded_noise::refuse;
    he::ckks_backend strict(roomy(), rng, o);
    const auto c = strict.multiply_scalar(strict.encrypt(x), 3.0);
    CHECK_THROWS_AS(strict.key_holder().decrypt_for_sharing(c, he::published_noise::computed()), security_error);
    CHECK_THROWS_WITH(strict.key_holder().decrypt_for_sharing(c, he::published_noise::computed(), first),
                      Catch::Contains("computed_noise_bound"));
  }
  SECTION("unbounded_noise::raw_decryption_leaks: an opt-out by name, counted") {
    he::ckks_backend_options o = aggregation_only();
    o.flooding.unknown = he::unbounded_noise::raw_decryption_leaks;
    he::ckks_backend lenient(roomy(), rng, o);
    const auto v = lenient.key_holder().decrypt_for_sharing(lenient.multiply_scalar(lenient.encrypt(x), 3.0),
                                                            he::published_noise::computed());
    CHECK(std::abs(v[0] - 1.5) < 1e-6);
    CHECK(lenient.key_holder().unflooded_decryptions() == 1);
    CHECK(lenient.key_holder().flooded_decryptions() == 0);
  }
}

TEST_CASE("Gaussian flooding of computed results: the noise is there at the stated size, and covers the real error",
          "[ckks][flooding]") {
  seeded_random rng(38);
  he::ckks_backend b(test::toy_training_parameters(2), rng);
  auto& kh = b.key_holder();
  REQUIRE(kh.flooding().computed_statistical_security == 30);
  std::vector<double> x(b.slot_count()), y(b.slot_count()), xy(b.slot_count());
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = std::sin(0.01 * static_cast<double>(i)) * 3;
    y[i] = std::cos(0.02 * static_cast<double>(i)) * 2;
    xy[i] = x[i] * y[i];
  }
  const auto c = b.multiply(b.encrypt(x), b.encrypt(y));  // a computed result: one product, relinearized, rescaled
  std::vector<std::size_t> slots(500);
  for (std::size_t j = 0; j < slots.size(); ++j) slots[j] = 2 * j;
  const auto f1 = kh.decrypt_for_sharing(c, he::published_noise::computed(), slots);
  const auto f2 = kh.decrypt_for_sharing(c, he::published_noise::computed(), slots);
  const auto raw = kh.decrypt(c);
  const double sigma = kh.largest_flooding_deviation();
  REQUIRE(sigma > 0);
  // σ = sqrt(12·τ)·2^(s/2)·B: recover the bound B the key holder used and check it covers the real
  // error of every slot (the imaginary-part estimate, doubled and rounded up to a power of two).
  const double bound = sigma / (std::sqrt(12 * kh.flooding().computed_published_values) * std::exp2(15.0));
  double real_error = 0, sum_sq = 0;
  for (std::size_t i = 0; i < x.size(); ++i) real_error = std::max(real_error, std::abs(raw[i] - xy[i]));
  for (std::size_t j = 0; j < slots.size(); ++j) {
    CHECK(std::abs(f1[j] - raw[slots[j]]) < 7 * sigma);
    sum_sq += (f1[j] - f2[j]) * (f1[j] - f2[j]);
  }
  CAPTURE(real_error, bound, sigma);
  CHECK(real_error > 0);
  CHECK(real_error <= bound);
  CHECK(bound <= 16 * real_error);  // an estimate, not a blanket worst case
  // The two floodings are independent: their difference has deviation sqrt(2)·σ.
  const double measured = std::sqrt(sum_sq / static_cast<double>(slots.size()));
  CHECK(measured > 0.8 * std::sqrt(2.0) * sigma);
  CHECK(measured < 1.2 * std::sqrt(2.0) * sigma);
  CHECK(kh.published_computed_values() == 1000);
  CHECK_THROWS_AS(kh.decrypt_for_sharing(c, he::published_noise::computed(), std::vector<std::size_t>{b.slot_count()}),
                  invalid_argument);
}

TEST_CASE("Gaussian flooding refuses what it cannot hide: a spent budget, too little precision, a bad unit",
          "[ckks][flooding]") {
  seeded_random rng(39);
  const std::vector<double> x{0.5, -0.25};
  const std::vector<std::size_t> ten{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  SECTION("the key publishes at most computed_published_values values") {
    he::ckks_backend_options o;
    o.flooding.computed_published_values = 20;
    he::ckks_backend b(test::toy_training_parameters(1), rng, o);
    const auto c = b.multiply(b.encrypt(x), b.encrypt(x));
    (void)b.key_holder().decrypt_for_sharing(c, he::published_noise::computed(), ten);
    (void)b.key_holder().decrypt_for_sharing(c, he::published_noise::computed(), ten);
    CHECK_THROWS_WITH(b.key_holder().decrypt_for_sharing(c, he::published_noise::computed(), ten),
                      Catch::Contains("exceed the 20"));
    // Publishing every slot counts every slot against the budget.
    he::ckks_backend wide(test::toy_training_parameters(1), rng);
    CHECK_NOTHROW(wide.key_holder().decrypt_for_sharing(wide.multiply(wide.encrypt(x), wide.encrypt(x)),
                                                        he::published_noise::computed()));
    CHECK(wide.key_holder().published_computed_values() == wide.slot_count());
  }
  SECTION("a scale-2^40 product has no room for s = 30 at a unit of 1, but has at a unit of 10^6") {
    he::ckks_backend b(ckks::parameters(2048, {60, 40, 60}, 40, ckks::security::none_i_know_this_is_insecure), rng);
    const auto c = b.multiply(b.encrypt(x), b.encrypt(x));
    CHECK_THROWS_WITH(b.key_holder().decrypt_for_sharing(c, he::published_noise::computed(), ten),
                      Catch::Contains("no room for flooding a computed result"));
    CHECK_NOTHROW(b.key_holder().decrypt_for_sharing(c, he::published_noise::computed(1e6), ten));
    CHECK_THROWS_AS(b.key_holder().decrypt_for_sharing(c, he::published_noise::computed(0), ten), invalid_argument);
  }
  SECTION("the options are checked when the key holder is made") {
    he::ckks_backend_options o;
    o.flooding.computed_statistical_security = 29;
    CHECK_THROWS_WITH(he::ckks_backend(test::toy_training_parameters(1), rng, o), Catch::Contains("[30, 100]"));
    o = {};
    o.flooding.computed_published_values = 0;
    CHECK_THROWS_AS(he::ckks_backend(test::toy_training_parameters(1), rng, o), invalid_argument);
    o = {};
    o.flooding.computed_min_precision_bits = 53;
    CHECK_THROWS_AS(he::ckks_backend(test::toy_training_parameters(1), rng, o), invalid_argument);
  }
}

TEST_CASE("the trainer floods every aggregate it publishes and says which decryptions it could not flood",
          "[ckks][flooding][fl]") {
  const auto d = data::paper_random(400, 2, 11);
  fl::trainer_config cfg;
  cfg.rounds = 2;
  cfg.clients = 4;
  cfg.local.epochs = 1;
  seeded_random rng(35);
  SECTION("encrypted updates of plaintext training: every publication flooded") {
    he::ckks_backend b(roomy(), rng, aggregation_only());
    he::plain_backend plain(b.slot_count());
    model::logistic_regression m_enc(2), m_plain(2);
    fl::federated_trainer<he::ckks_backend>(b, cfg).fit(m_enc, d.train, d.test);
    fl::federated_trainer<he::plain_backend>(plain, cfg).fit(m_plain, d.train, d.test);
    CHECK(b.key_holder().flooded_decryptions() == 2);
    CHECK(b.key_holder().raw_decryptions() == 0);
    CHECK(b.key_holder().unflooded_decryptions() == 0);
    CHECK((m_enc.parameters() - m_plain.parameters()).cwiseAbs().maxCoeff() < 1e-8);
  }
  SECTION("encrypted data: uploads flooded with their bound, gradient sums with an estimate, nothing raw") {
    he::ckks_backend b(test::toy_training_parameters(4), rng);
    model::logistic_regression m(2);
    fl::encrypted_data_trainer<he::ckks_backend>(b, cfg, approx::paper_sigmoid3()).fit(m, d.train, d.test);
    CHECK(b.key_holder().estimated_floodings() == 2 * 4 * 1);  // one packed gradient per round, client, epoch
    CHECK(b.key_holder().published_computed_values() == 2 * 4 * 1 * 3);  // n + 1 sums each, nothing else
    CHECK(static_cast<double>(b.key_holder().published_computed_values()) ==
          fl::published_computed_values<fl::encrypted_data_training>(cfg, 2));
    CHECK(b.key_holder().flooded_decryptions() == 2 + 8);  // plus one aggregate per round
    CHECK(b.key_holder().unflooded_decryptions() == 0);
    CHECK(b.key_holder().raw_decryptions() == 0);
  }
  SECTION("unbounded_noise::refuse makes the encrypted-data mode refuse instead of estimating") {
    he::ckks_backend_options o;
    o.flooding.unknown = he::unbounded_noise::refuse;
    he::ckks_backend b(test::toy_training_parameters(4), rng, o);
    model::logistic_regression m(2);
    fl::encrypted_data_trainer<he::ckks_backend> trainer(b, cfg, approx::paper_sigmoid3());
    CHECK_THROWS_AS(trainer.fit(m, d.train, d.test), security_error);
  }
  SECTION("a scale-2^40 chain has no room to flood the gradient sums: refused, not leaked") {
    he::ckks_backend b(ckks::parameters(2048, {60, 40, 40, 40, 40, 60}, 40, ckks::security::none_i_know_this_is_insecure),
                       rng);
    model::logistic_regression m(2);
    fl::encrypted_data_trainer<he::ckks_backend> trainer(b, cfg, approx::paper_sigmoid3());
    CHECK_THROWS_WITH(trainer.fit(m, d.train, d.test), Catch::Contains("no room for flooding"));
    CHECK(b.key_holder().unflooded_decryptions() == 0);
  }
}

TEST_CASE("the FL-FHE presets are 128-bit secure and give the flooding room", "[ckks][flooding]") {
  for (int levels = 1; levels <= 15; ++levels) {
    const ckks::parameters p = he::ckks_encrypted_data_parameters(levels);
    CHECK(p.poly_degree() == (levels <= 6 ? 16384u : 32768u));
    CHECK(p.modulus_bits() <= ckks::max_secure_modulus_bits(p.poly_degree()));
    CHECK(p.security_level() == ckks::security::classical_128);
    CHECK(p.log2_scale() == 50);
  }
  for (int levels = 1; levels <= 11; ++levels) {
    const ckks::parameters p = he::ckks_encrypted_model_parameters(levels);
    CHECK(p.poly_degree() == 32768u);
    CHECK(p.modulus_bits() <= ckks::max_secure_modulus_bits(p.poly_degree()));
    CHECK(p.log2_scale() == 60);
  }
  CHECK_THROWS_AS(he::ckks_encrypted_data_parameters(0), invalid_argument);
  CHECK_THROWS_AS(he::ckks_encrypted_data_parameters(16), invalid_argument);
  CHECK_THROWS_AS(he::ckks_encrypted_model_parameters(12), invalid_argument);
}

TEST_CASE("fresh_noise_bound bounds the measured noise of fresh encryptions and of their integer sums",
          "[ckks][flooding]") {
  seeded_random rng(36);
  const ckks::parameters p = roomy();
  he::ckks_key_holder kh(p, rng, aggregation_only());  // only for its (key-independent) bound
  ckks::key_generator keygen(p, rng);
  const ckks::public_key pk = keygen.create_public_key();
  ckks::encryptor encryptor(p, pk, rng);
  const ckks::decryptor decryptor(p, keygen.secret());
  const ckks::encoder enc(p.poly_degree());
  const ckks::evaluator eval(p);
  std::vector<double> x(p.slot_count());
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::cos(0.3 * static_cast<double>(i)) * 100.0;
  const double scale = std::exp2(he::ckks_update_log2_scale(p));
  double worst = 0;
  for (int t = 0; t < 4; ++t) {
    const auto c = encryptor.encrypt(ckks::encode(p, enc, x, scale, p.max_level()));
    worst = std::max(worst, decryptor.noise_bound(c, x, enc));
  }
  CAPTURE(worst, kh.fresh_noise_bound());
  CHECK(worst > 0);
  CHECK(worst <= kh.fresh_noise_bound());
  // Σ a_k·c_k with integer a_k: the noise stays within Σ|a_k| times the fresh bound. Measured at
  // 2^40, where doubles encode 5·x as exactly as x (at 2^100 their rounding would swamp the noise).
  const auto c1 = encryptor.encrypt(ckks::encode(p, enc, x, p.scale(), p.max_level()));
  const auto c2 = encryptor.encrypt(ckks::encode(p, enc, x, p.scale(), p.max_level()));
  const auto sum = eval.add(eval.multiply_scalar(c1, 7.0), eval.multiply_scalar(c2, -2.0));
  std::vector<double> five(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) five[i] = 5 * x[i];
  CHECK(decryptor.noise_bound(sum, five, enc) <= 9 * kh.fresh_noise_bound());
}

TEST_CASE("ckks_aggregation_parameters: 128-bit secure, and its updates have room for flooding", "[ckks][flooding]") {
  const ckks::parameters p = he::ckks_aggregation_parameters();
  CHECK(p.poly_degree() == 8192);
  CHECK(p.modulus_bits() <= ckks::max_secure_modulus_bits(8192));
  CHECK(p.security_level() == ckks::security::classical_128);
  CHECK(he::ckks_update_log2_scale(p) == 100);
  seeded_random rng(37);
  he::ckks_backend b(p, rng, aggregation_only());
  std::vector<double> x(6, 0.75);
  // Ten clients with 1000 samples each: Σ n_k = 10^4, the paper's largest configuration.
  auto acc = b.multiply_scalar(b.encrypt_update(x), 1000.0);
  for (int k = 1; k < 10; ++k) b.add_inplace(acc, b.multiply_scalar(b.encrypt_update(x), 1000.0));
  const auto v = b.key_holder().decrypt_for_sharing(acc, he::published_noise::linear(10000));
  for (std::size_t i = 0; i < x.size(); ++i) CHECK(std::abs(v[i] / 10000 - 0.75) < 1e-8);
  CHECK(b.key_holder().flooded_decryptions() == 1);
}
