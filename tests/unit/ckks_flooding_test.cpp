// Noise-flooded decryption by the CKKS key holder (Li, Micciancio, EUROCRYPT 2021) and its use by the
// trainer for every decryption that leaves the key holder.
#include <hefl/approx/sigmoid.hpp>
#include <hefl/crypto/botan_random.hpp>
#include <hefl/data/synthetic.hpp>
#include <hefl/fl/federated_trainer.hpp>
#include <hefl/he/ckks/decryptor.hpp>
#include <hefl/he/ckks_backend.hpp>
#include <hefl/he/plain_backend.hpp>

#include <catch2/catch.hpp>

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

TEST_CASE("a computed ciphertext without a noise bound is refused or counted as unflooded, as configured",
          "[ckks][flooding]") {
  seeded_random rng(34);
  he::ckks_backend_options o = aggregation_only();
  o.flooding.unknown = he::unbounded_noise::refuse;
  he::ckks_backend strict(roomy(), rng, o);
  const std::vector<double> x{0.5, -0.25};
  const auto c = strict.multiply_scalar(strict.encrypt(x), 3.0);
  CHECK_THROWS_AS(strict.key_holder().decrypt_for_sharing(c, he::published_noise::computed()), security_error);
  CHECK_THROWS_WITH(strict.key_holder().decrypt_for_sharing(c, he::published_noise::computed()),
                    Catch::Contains("computed_noise_bound"));
  he::ckks_backend lenient(roomy(), rng, aggregation_only());
  const auto v = lenient.key_holder().decrypt_for_sharing(lenient.multiply_scalar(lenient.encrypt(x), 3.0),
                                                          he::published_noise::computed());
  CHECK(std::abs(v[0] - 1.5) < 1e-6);
  CHECK(lenient.key_holder().unflooded_decryptions() == 1);
  CHECK(lenient.key_holder().flooded_decryptions() == 0);
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
  SECTION("encrypted data: the uploads are flooded, the gradients computed under encryption are not") {
    he::ckks_backend b(ckks::parameters(2048, {60, 40, 40, 40, 40, 60}, 40, ckks::security::none_i_know_this_is_insecure),
                       rng);
    model::logistic_regression m(2);
    fl::encrypted_data_trainer<he::ckks_backend>(b, cfg, approx::paper_sigmoid3()).fit(m, d.train, d.test);
    CHECK(b.key_holder().flooded_decryptions() == 2);  // one aggregate per round
    CHECK(b.key_holder().unflooded_decryptions() > 0);  // the gradient sums (documented leak)
    CHECK(b.key_holder().raw_decryptions() == 0);
  }
  SECTION("unbounded_noise::refuse makes the encrypted-data mode refuse instead of leaking") {
    he::ckks_backend_options o;
    o.flooding.unknown = he::unbounded_noise::refuse;
    he::ckks_backend b(ckks::parameters(2048, {60, 40, 40, 40, 40, 60}, 40, ckks::security::none_i_know_this_is_insecure),
                       rng, o);
    model::logistic_regression m(2);
    fl::encrypted_data_trainer<he::ckks_backend> trainer(b, cfg, approx::paper_sigmoid3());
    CHECK_THROWS_AS(trainer.fit(m, d.train, d.test), security_error);
  }
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
