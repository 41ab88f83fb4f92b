#include <hefl/approx/evaluate.hpp>
#include <hefl/approx/sigmoid.hpp>
#include <hefl/crypto/botan_random.hpp>
#include <hefl/data/synthetic.hpp>
#include <hefl/fl/federated_trainer.hpp>
#include <hefl/he/ckks_backend.hpp>
#include <hefl/he/plain_backend.hpp>
#include <hefl/model/logistic_regression.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

using namespace hefl;
using hefl::crypto::seeded_random;
namespace ckks = hefl::he::ckks;

namespace {

// Small ring degrees keep these tests fast; they are insecure and say so by name.
ckks::parameters toy_params(std::vector<int> bits) {
  return ckks::parameters(2048, std::move(bits), 40, ckks::security::none_i_know_this_is_insecure);
}

} // namespace

static_assert(he::arithmetic_backend<he::ckks_backend>);
static_assert(he::backend_traits<he::ckks_backend>::is_encrypted);

TEST_CASE("ckks_backend encrypts, computes and decrypts through the backend concept", "[ckks][backend]") {
  seeded_random rng(11);
  he::ckks_backend b(toy_params({60, 40, 40, 60}), rng);
  REQUIRE(b.slot_count() == 1024);
  REQUIRE(b.max_depth() == 2);

  std::vector<double> x(b.slot_count()), y(b.slot_count());
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = std::sin(0.01 * static_cast<double>(i));
    y[i] = std::cos(0.02 * static_cast<double>(i));
  }
  const auto cx = b.encrypt(x), cy = b.encrypt(y);
  REQUIRE(b.level(cx) == 2);

  const auto sum = b.decrypt(b.add(cx, cy));
  const auto diff = b.decrypt(b.sub(cx, cy));
  const auto prod_ct = b.multiply(cx, cy);
  CHECK(b.level(prod_ct) == 1);
  const auto prod = b.decrypt(prod_ct);
  const auto scaled = b.decrypt(b.multiply_scalar(cx, 0.3));
  const auto plain_prod = b.decrypt(b.multiply_plain(cx, y));
  const auto plain_sum = b.decrypt(b.add_plain(cx, y));
  const auto rotated = b.decrypt(b.rotate(cx, 3));
  double total = 0;
  for (double v : x) total += v;
  const auto summed = b.decrypt(b.sum_slots(cx));
  for (std::size_t i = 0; i < x.size(); ++i) {
    CHECK(std::abs(sum[i] - (x[i] + y[i])) < 1e-6);
    CHECK(std::abs(diff[i] - (x[i] - y[i])) < 1e-6);
    CHECK(std::abs(prod[i] - x[i] * y[i]) < 1e-6);
    CHECK(std::abs(scaled[i] - 0.3 * x[i]) < 1e-6);
    CHECK(std::abs(plain_prod[i] - x[i] * y[i]) < 1e-6);
    CHECK(std::abs(plain_sum[i] - (x[i] + y[i])) < 1e-6);
    CHECK(std::abs(rotated[i] - x[(i + 3) % x.size()]) < 1e-6);
    CHECK(std::abs(summed[i] - total) < 1e-4);
  }

  // A product of a fresh and a once-multiplied ciphertext: the backend matches levels itself.
  const auto mixed = b.decrypt(b.add(prod_ct, b.multiply_scalar(cx, 0.5)));
  for (std::size_t i = 0; i < x.size(); ++i) CHECK(std::abs(mixed[i] - (x[i] * y[i] + 0.5 * x[i])) < 1e-6);
}

TEST_CASE("ckks_backend refuses what it cannot do, with the reason", "[ckks][backend]") {
  seeded_random rng(12);
  he::ckks_backend_options only_aggregation;
  only_aggregation.relinearization = false;
  only_aggregation.rotations = false;
  he::ckks_backend b(toy_params({60, 40, 60}), rng, only_aggregation);
  const std::vector<double> too_many(b.slot_count() + 1, 1.0);
  CHECK_THROWS_AS(b.encrypt(too_many), invalid_argument);
  const auto c = b.encrypt(std::vector<double>{1.0, 2.0});
  CHECK_THROWS_WITH(b.multiply(c, c), Catch::Contains("relinearization"));
  CHECK_THROWS_WITH(b.rotate(c, 1), Catch::Contains("rotation keys"));
  CHECK_THROWS_WITH(b.sum_slots(c), Catch::Contains("rotation keys"));
  const auto once = b.multiply_scalar(c, 0.5);
  CHECK(b.level(once) == 0);
  CHECK_THROWS_AS(b.multiply_scalar(once, 0.5), depth_exhausted);
  CHECK(std::abs(b.decrypt(b.multiply_scalar(once, 3.0))[1] - 3.0) < 1e-6);  // integers stay free
}

TEST_CASE("ckks_backend ciphertexts survive serialization and refuse corruption", "[ckks][backend]") {
  seeded_random rng(13);
  he::ckks_backend_options opts;
  opts.rotations = false;
  he::ckks_backend b(toy_params({60, 40, 60}), rng, opts);
  const std::vector<double> v{0.25, -1.5, 3.0};
  auto bytes = b.serialize(b.encrypt(v));
  const auto back = b.decrypt(b.deserialize(bytes));
  for (std::size_t i = 0; i < v.size(); ++i) CHECK(std::abs(back[i] - v[i]) < 1e-6);
  CHECK_THROWS_AS(b.deserialize(std::span<const std::uint8_t>(bytes).first(bytes.size() / 2)), parse_error);
  bytes[bytes.size() / 2] ^= 0x5a;
  CHECK_THROWS_AS(b.deserialize(bytes), parse_error);

  // A ciphertext of another backend (other keys, same parameters) still loads: parameters, not keys,
  // are what the format pins. Another parameter set is refused.
  he::ckks_backend other(toy_params({60, 40, 40, 60}), rng, opts);
  CHECK_THROWS_AS(b.deserialize(other.serialize(other.encrypt(v))), parse_error);
}

TEST_CASE("the paper sigmoid evaluates under CKKS as on the plain backend, and depth is checked first",
          "[ckks][backend][approx]") {
  seeded_random rng(14);
  he::ckks_backend_options opts;
  opts.rotations = false;
  he::ckks_backend b(toy_params({60, 40, 40, 60}), rng, opts);
  const auto sigma = approx::paper_sigmoid3();
  REQUIRE(approx::multiplicative_depth(sigma.degree()) <= b.max_depth());
  std::vector<double> x(b.slot_count());
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = -5.0 + 10.0 * static_cast<double>(i) / static_cast<double>(x.size());
  const auto out = b.decrypt(approx::evaluate(b, b.encrypt(x), sigma));
  he::plain_backend plain(b.slot_count(), b.max_depth());
  const auto expected = plain.decrypt(approx::evaluate(plain, plain.encrypt(x), sigma));
  for (std::size_t i = 0; i < x.size(); ++i) CHECK(std::abs(out[i] - expected[i]) < 1e-5);

  const auto low = b.multiply_scalar(b.encrypt(x), 0.5);  // one level spent: not enough left
  CHECK_THROWS_AS(approx::evaluate(b, low, sigma), depth_exhausted);
}

TEST_CASE("federated training with CKKS-encrypted aggregation matches plaintext federated training",
          "[ckks][backend][fl]") {
  const auto d = data::paper_random(1000, 3, 73);
  fl::trainer_config cfg;
  seeded_random rng(15);
  he::ckks_backend_options opts;
  opts.relinearization = false;
  opts.rotations = false;
  // Room for flooding the published aggregate: updates go out at 2^100 (he::ckks_update_log2_scale).
  he::ckks_backend encrypted(toy_params({60, 60, 60, 60}), rng, opts);
  he::plain_backend plain(encrypted.slot_count());

  model::logistic_regression m_enc(3), m_plain(3);
  const auto h_enc = fl::federated_trainer<he::ckks_backend>(encrypted, cfg).fit(m_enc, d.train, d.test);
  const auto h_plain = fl::federated_trainer<he::plain_backend>(plain, cfg).fit(m_plain, d.train, d.test);
  REQUIRE(h_enc.size() == h_plain.size());
  CHECK((m_enc.parameters() - m_plain.parameters()).cwiseAbs().maxCoeff() < 1e-5);
  CHECK(h_enc.back().accuracy >= 0.97);
  CHECK(std::abs(h_enc.back().accuracy - h_plain.back().accuracy) <= 0.002);
  // Every aggregate the clients received was flooded; nothing was decrypted raw.
  CHECK(encrypted.key_holder().flooded_decryptions() == static_cast<std::uint64_t>(cfg.rounds));
  CHECK(encrypted.key_holder().raw_decryptions() == 0);
  CHECK(encrypted.key_holder().unflooded_decryptions() == 0);
}
