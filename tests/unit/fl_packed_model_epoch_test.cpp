// fl/packed_model_epoch.hpp: the encrypted-weights epoch with data and parameters in one ciphertext
// each computes the same epoch as plaintext training, refuses a wrong packing or a too-shallow budget
// before any work, and follows it under toy CKKS.
#include <hefl/approx/sigmoid.hpp>
#include <hefl/crypto/botan_random.hpp>
#include <hefl/data/synthetic.hpp>
#include <hefl/fl/packed_model_epoch.hpp>
#include <hefl/he/ckks_backend.hpp>
#include <hefl/he/plain_backend.hpp>
#include <hefl/model/logistic_regression.hpp>

#include <catch2/catch.hpp>

#include "fhe_test_support.hpp"

#include <cmath>
#include <vector>

using namespace hefl;

namespace {

Eigen::VectorXd read(const fl::model_packing& p, const std::vector<double>& slots) {
  const auto at = p.parameter_slots();
  Eigen::VectorXd v(static_cast<Eigen::Index>(at.size()));
  for (std::size_t j = 0; j < at.size(); ++j) v(static_cast<Eigen::Index>(j)) = slots[at[j]];
  return v;
}

} // namespace

TEST_CASE("packed_model_epoch computes plaintext training's epochs, with the key holder's refresh between them",
          "[fl][packed_model]") {
  // 37 samples (block 64) and 3 features (4 blocks): period 256, repeated 4 times over 1024 slots.
  const auto d = data::paper_random(37, 3, 9);
  REQUIRE(d.train.size() == 37);
  const approx::polynomial_sigmoid skew({0.5, 0.2, 0.0, -0.003}, -2.0, 6.0, "skew");  // a shifted interval
  const model::train_options o{.epochs = 1, .learning_rate = 1.0, .l2 = 0.05};
  he::plain_backend backend(1024, fl::packed_model_epoch_depth(skew));
  const auto packing = fl::pack_model(backend, d.train.size(), d.train.features());
  REQUIRE(packing);
  CHECK(packing->block == 64);
  CHECK(packing->groups == 4);
  CHECK(packing->parameter_slots() == std::vector<std::size_t>{0, 64, 128, 192});
  const auto data = fl::encrypt_packed_dataset(backend, d.train, *packing);
  Eigen::VectorXd theta(4);
  theta << 0.4, -0.3, 0.1, 0.2;
  model::logistic_regression m(3);
  m.set_parameters(theta);
  for (int epoch = 0; epoch < 3; ++epoch) {
    const auto params = fl::encrypt_packed_parameters(backend, *packing, fl::to_unit_parameters(theta, skew));
    const auto next = fl::packed_model_epoch(backend, data, params, o, skew);
    CHECK(backend.level(next) == 0);  // exactly packed_model_epoch_depth levels
    theta = fl::from_unit_parameters(read(*packing, backend.decrypt(next)), skew);
    m.train(d.train, o, skew);
    CHECK((theta - m.parameters()).cwiseAbs().maxCoeff() < 1e-12);
  }
}

TEST_CASE("pack_model refuses what does not fit, and the packed epoch checks its inputs before any work",
          "[fl][packed_model]") {
  const auto sigma = approx::paper_sigmoid3();
  he::plain_backend small(256);
  CHECK_FALSE(fl::pack_model(small, 100, 2));  // 128 slots × 4 blocks > 256
  CHECK(fl::pack_model(small, 64, 3));         // 64 × 4 = 256
  CHECK_FALSE(fl::pack_model(small, 0, 3));
  he::plain_backend odd(1000);
  CHECK_FALSE(fl::pack_model(odd, 10, 2));  // not a power of two
  const auto d = data::paper_random(40, 2, 3);
  he::plain_backend backend(512, fl::packed_model_epoch_depth(sigma) - 1);
  const auto wrong = fl::pack_model(backend, d.train.size() + 40, 2);
  REQUIRE(wrong);
  CHECK_THROWS_AS(fl::encrypt_packed_dataset(backend, d.train, *wrong), invalid_argument);
  const auto packing = *fl::pack_model(backend, d.train.size(), 2);
  CHECK_THROWS_AS(packing.spread(Eigen::VectorXd::Zero(2)), invalid_argument);
  const auto data = fl::encrypt_packed_dataset(backend, d.train, packing);
  const auto params = fl::encrypt_packed_parameters(backend, packing, Eigen::VectorXd::Zero(3));
  const model::train_options o{.epochs = 1, .learning_rate = 1.0, .l2 = 0.05};
  CHECK_THROWS_WITH(fl::packed_model_epoch(backend, data, params, o, sigma), Catch::Contains("required"));
  CHECK_THROWS_AS(fl::packed_model_epoch(backend, data, params, o, sigma), depth_exhausted);
  model::train_options bad = o;
  bad.learning_rate = -1;
  CHECK_THROWS_AS(fl::packed_model_epoch(backend, data, params, bad, sigma), invalid_argument);
}

TEST_CASE("packed_model_epoch under toy CKKS follows the plaintext epoch", "[fl][packed_model][ckks]") {
  const auto d = data::paper_random(200, 5, 4);  // block 256, 8 blocks: the 2048 slots of N = 4096
  const auto sigma = approx::paper_sigmoid3();
  const model::train_options o{.epochs = 1, .learning_rate = 1.0, .l2 = 0.05};
  crypto::seeded_random rng(11);
  he::ckks_backend ckks(he::ckks::parameters(4096, {60, 60, 60, 60, 60, 60, 60}, 60,
                                             he::ckks::security::none_i_know_this_is_insecure),
                        rng);
  const auto packing = fl::pack_model(ckks.server(), d.train.size(), 5);
  REQUIRE(packing);
  CHECK(packing->period() == 2048);
  const auto data = fl::encrypt_packed_dataset(ckks.client(), d.train, *packing);
  const fl::packed_model_dataset<he::ckks_server> on_server{data.data, data.labels, data.packing};
  Eigen::VectorXd theta(6);
  theta << 0.4, -0.3, 0.05, -0.02, 0.01, 0.1;
  const auto next = fl::packed_model_epoch(
      ckks.server(), on_server, fl::encrypt_packed_parameters(ckks.key_holder(), *packing, fl::to_unit_parameters(theta, sigma)), o,
      sigma);
  const Eigen::VectorXd got = fl::from_unit_parameters(read(*packing, ckks.key_holder().decrypt(next)), sigma);
  model::logistic_regression m(5);
  m.set_parameters(theta);
  m.train(d.train, o, sigma);
  CHECK((got - m.parameters()).cwiseAbs().maxCoeff() < 1e-6);
}

TEST_CASE("packed_gradient puts encrypted_gradient's sums in the parameter slots", "[fl][packed_model]") {
  const auto d = data::paper_random(37, 3, 5);
  const approx::polynomial_sigmoid skew({0.5, 0.2, 0.0, -0.003}, -2.0, 6.0, "skew");
  he::plain_backend backend(1024, fl::encrypted_gradient_depth(skew));
  const auto packing = *fl::pack_model(backend, d.train.size(), 3);
  const auto packed = fl::encrypt_packed_dataset(backend, d.train, packing);
  const auto columns = fl::encrypt_dataset(backend, d.train);
  Eigen::VectorXd w(3);
  w << 0.4, -0.3, 0.1;
  const auto sums = fl::encrypted_gradient(backend, columns, w, 0.2, skew);
  const auto got = read(packing, backend.decrypt(fl::packed_gradient(backend, packed, w, 0.2, skew)));
  for (std::size_t j = 0; j < sums.size(); ++j)
    CHECK(std::fabs(got(static_cast<Eigen::Index>(j)) - backend.decrypt(sums[j])[0]) < 1e-12);
  CHECK_THROWS_AS(fl::packed_gradient(backend, packed, Eigen::VectorXd::Zero(2), 0.0, skew), invalid_argument);
  he::plain_backend shallow(1024, fl::encrypted_gradient_depth(skew) - 1);
  const auto low = fl::encrypt_packed_dataset(shallow, d.train, *fl::pack_model(shallow, d.train.size(), 3));
  CHECK_THROWS_AS(fl::packed_gradient(shallow, low, w, 0.2, skew), depth_exhausted);
}
