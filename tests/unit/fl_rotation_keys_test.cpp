// fl/rotation_steps.hpp: fl::rotation_steps_for lists exactly the rotations the trainer's encrypted
// epochs perform. Training with only those keys gives the model the full key set gives (plain
// backend restricted to them, and toy CKKS with he::ckks_backend_options::exact_rotations), and a
// set missing any one of them is refused before any work, naming the step.
#include <hefl/crypto/botan_random.hpp>
#include <hefl/hefl.hpp>

#include <catch2/catch.hpp>

#include "fhe_test_support.hpp"

#include <string>
#include <vector>

using namespace hefl;

namespace {

fl::trainer_config config(std::size_t clients, int rounds, int epochs) {
  fl::trainer_config cfg;
  cfg.clients = clients;
  cfg.rounds = rounds;
  cfg.local = {.epochs = epochs, .learning_rate = 1.0, .l2 = 0.05};
  return cfg;
}

// Consecutive slices of d with the given sizes (clients of different sizes get different layouts).
std::vector<data::dataset> slices(const data::dataset& d, const std::vector<Eigen::Index>& sizes) {
  std::vector<data::dataset> out;
  Eigen::Index at = 0;
  for (const Eigen::Index m : sizes) {
    out.push_back({d.x.middleRows(at, m), d.y.segment(at, m)});
    at += m;
  }
  return out;
}

template <class Trainer, class Backend>
Eigen::VectorXd train(Backend& backend, const std::vector<data::dataset>& parts, const data::dataset& test,
                      const fl::trainer_config& cfg) {
  model::logistic_regression m(parts[0].features());
  Trainer(backend, cfg, approx::paper_sigmoid3()).fit(m, parts, test);
  return m.parameters();
}

std::vector<long long> powers_below(long long period) {
  std::vector<long long> v;
  for (long long s = 1; s < period; s *= 2) v.push_back(s);
  return v;
}

} // namespace

TEST_CASE("rotation_steps_for lists each layout's rotations", "[fl][rotation_keys]") {
  using data_mode = fl::encrypted_data_training;
  using model_mode = fl::encrypted_model_training;
  // 37 samples, 3 features in 1024 slots: blocks of 64, 4 blocks, period 256.
  CHECK(fl::encrypted_layout_for<model_mode>(1024, 37, 3) == fl::encrypted_layout::packed);
  CHECK(fl::encrypted_layout_for<data_mode>(1024, 37, 3) == fl::encrypted_layout::packed);
  const std::vector<std::size_t> one{37};
  const he::rotation_key_set packed = fl::rotation_steps_for<model_mode>(1024, 3, one);
  CHECK(packed.steps == powers_below(256));
  CHECK_FALSE(packed.sum_slots);
  CHECK(fl::rotation_steps_for<data_mode>(1024, 3, one) == packed);
  // 20 samples, 3 features in 64 slots: 4 blocks of 32 do not fit, nor 4 sums in blocks of 32.
  CHECK(fl::encrypted_layout_for<data_mode>(64, 20, 3) == fl::encrypted_layout::columns);
  const std::vector<std::size_t> big{20};
  CHECK(fl::rotation_steps_for<data_mode>(64, 3, big) == he::rotation_key_set{{}, true});
  // encrypted_gradient_packed's steps: each product into its block, then the window sum.
  CHECK(fl::rotation_steps_for_layout(fl::encrypted_layout::packed_sums, 64, 5, 3).steps ==
        std::vector<long long>{-24, -16, -8, 1, 2, 4});
  CHECK_THROWS_AS(fl::rotation_steps_for_layout(fl::encrypted_layout::packed, 64, 20, 3), invalid_argument);
  // Threshold keys keep the encrypted-weights mode in columns; plaintext training rotates nothing.
  CHECK(fl::encrypted_layout_for<model_mode>(1024, 37, 3, true) == fl::encrypted_layout::columns);
  CHECK(fl::rotation_steps_for<fl::plaintext_training>(1024, 3, one) == he::rotation_key_set{});
  // Several clients: the union; an empty client sits out.
  const std::vector<std::size_t> mixed{10, 0, 20};
  const he::rotation_key_set both = fl::rotation_steps_for<data_mode>(64, 3, mixed);
  CHECK(both.steps == powers_below(64));  // 10 samples: blocks of 16, period 64
  CHECK(both.sum_slots);
  CHECK_THROWS_AS(fl::rotation_steps_for<data_mode>(64, 0, mixed), invalid_argument);
}

TEMPLATE_TEST_CASE("training with exactly the listed rotations gives the full key set's model (plain backend)",
                   "[fl][rotation_keys]", fl::encrypted_data_training, fl::encrypted_model_training) {
  using trainer = fl::federated_trainer<he::plain_backend, model::logistic_regression, aggregate::fedavg,
                                        approx::polynomial_sigmoid, TestType, fl::encrypted_updates>;
  const auto d = data::paper_random(120, 3, 21);
  // 12 samples pack into blocks of 16 (period 64); 20 do not (columns, sum_slots); 6 pack into blocks of 8.
  const auto parts = slices(d.train, {12, 20, 6});
  const auto cfg = config(3, 2, 2);
  he::plain_backend full(64);
  const Eigen::VectorXd reference = train<trainer>(full, parts, d.test, cfg);

  const he::rotation_key_set keys = fl::rotation_steps_for<TestType>(64, parts);
  CHECK(keys.steps == powers_below(64));
  CHECK(keys.sum_slots);
  he::plain_backend exact(64);
  exact.set_rotation_keys(keys);
  CHECK(train<trainer>(exact, parts, d.test, cfg) == reference);  // bit for bit

  // Each key is needed: without it the trainer refuses before any work, naming the step.
  for (std::size_t i = 0; i < keys.steps.size(); ++i) {
    he::rotation_key_set missing = keys;
    missing.steps.erase(missing.steps.begin() + static_cast<std::ptrdiff_t>(i));
    he::plain_backend short_of_one(64);
    short_of_one.set_rotation_keys(missing);
    CHECK_THROWS_WITH(train<trainer>(short_of_one, parts, d.test, cfg),
                      Catch::Contains("federated_trainer::fit: the server has no rotation key for step " +
                                      std::to_string(keys.steps[i]) + ", which client 0"));
  }
  he::rotation_key_set no_sum = keys;
  no_sum.sum_slots = false;
  he::plain_backend without_sum(64);
  without_sum.set_rotation_keys(no_sum);
  CHECK_THROWS_WITH(train<trainer>(without_sum, parts, d.test, cfg),
                    Catch::Contains("no keys for sum_slots, which client 1's epochs (columns with sum_slots layout"));
}

TEST_CASE("an epoch called directly refuses a missing rotation key at run time, naming it", "[fl][rotation_keys]") {
  const auto d = data::paper_random(40, 3, 9);
  const auto sigma = approx::paper_sigmoid3();
  he::plain_backend backend(1024, fl::packed_model_epoch_depth(sigma));
  const auto packing = fl::pack_model(backend, d.train.size(), 3);
  REQUIRE(packing);
  he::rotation_key_set keys{fl::packed_epoch_rotation_steps(*packing), false};
  keys.steps.erase(keys.steps.begin() + 2);  // step 4
  backend.set_rotation_keys(keys);
  const auto data = fl::encrypt_packed_dataset(backend, d.train, *packing);
  const auto params = fl::encrypt_packed_parameters(backend, *packing, Eigen::VectorXd::Zero(4));
  CHECK_THROWS_WITH(fl::packed_model_epoch(backend, data, params, {.epochs = 1, .learning_rate = 1.0, .l2 = 0.0}, sigma),
                    Catch::Contains("plain_backend::rotate: no rotation key for step 4"));
  CHECK_THROWS_WITH(he::sum_slots(backend, params), Catch::Contains("do not include sum_slots"));
}

TEST_CASE("toy CKKS with exactly the listed Galois keys trains the model the full key set trains",
          "[fl][rotation_keys][ckks]") {
  const auto d = data::paper_random(700, 3, 13);
  // N = 2048 (1024 slots): 200 samples pack (blocks of 256, period 1024); 300 do not (columns, sum_slots).
  const auto parts = slices(d.train, {200, 300});
  const auto cfg = config(2, 1, 2);
  const auto sigma = approx::paper_sigmoid3();
  const he::rotation_key_set keys = fl::rotation_steps_for<fl::encrypted_model_training>(1024, parts);
  CHECK(keys.steps == powers_below(1024));
  CHECK(keys.sum_slots);
  CHECK(fl::rotation_steps_for<fl::encrypted_data_training>(1024, parts) == keys);

  crypto::seeded_random rng_full(5), rng_exact(5);
  he::ckks_backend full(test::toy_training_parameters(4), rng_full);
  he::ckks_backend_options options;
  options.exact_rotations = keys;
  he::ckks_backend exact(test::toy_training_parameters(4), rng_exact, options);
  // The exact set leaves out the negative powers of two that sum_slots does not use.
  CHECK(exact.key_holder().evaluation_keys().size() < full.key_holder().evaluation_keys().size());

  const Eigen::VectorXd a = train<fl::encrypted_model_trainer<he::ckks_backend>>(full, parts, d.test, cfg);
  const Eigen::VectorXd b = train<fl::encrypted_model_trainer<he::ckks_backend>>(exact, parts, d.test, cfg);
  CHECK((a - b).cwiseAbs().maxCoeff() < 1e-3);  // CKKS noise and flooding differ, the computation does not
  const Eigen::VectorXd c = train<fl::encrypted_data_trainer<he::ckks_backend>>(full, parts, d.test, cfg);
  const Eigen::VectorXd e = train<fl::encrypted_data_trainer<he::ckks_backend>>(exact, parts, d.test, cfg);
  CHECK((c - e).cwiseAbs().maxCoeff() < 1e-3);

  // Without step 64 (and without sum_slots' keys): refused before any work, then by the evaluator at run time.
  he::ckks_backend_options short_options;
  short_options.exact_rotations = keys;
  short_options.exact_rotations->steps.erase(short_options.exact_rotations->steps.begin() + 6);  // 64
  short_options.exact_rotations->sum_slots = false;
  crypto::seeded_random rng_short(5);
  he::ckks_backend short_of_one(test::toy_training_parameters(4), rng_short, short_options);
  CHECK_FALSE(short_of_one.server().can_rotate(64));
  CHECK(short_of_one.server().can_rotate(32));
  CHECK_FALSE(short_of_one.server().can_sum_slots());
  CHECK(full.server().can_rotate(-96));  // composed from signed powers of two
  CHECK_THROWS_WITH(train<fl::encrypted_model_trainer<he::ckks_backend>>(short_of_one, parts, d.test, cfg),
                    Catch::Contains("the server has no rotation key for step 64, which client 0"));
  const auto packing = fl::pack_model(short_of_one.server(), 200, 3);
  REQUIRE(packing);
  const auto data = fl::encrypt_packed_dataset(short_of_one, parts[0], *packing);
  const auto params = fl::encrypt_packed_parameters(short_of_one, *packing, Eigen::VectorXd::Zero(4));
  CHECK_THROWS_WITH(fl::packed_model_epoch(short_of_one, data, params, cfg.local, sigma),
                    Catch::Contains("no Galois key for rotation step 64"));
  CHECK_THROWS_WITH(short_of_one.sum_slots(params), Catch::Contains("no Galois key for rotation step"));

  he::ckks_backend_options contradiction;
  contradiction.rotations = false;
  contradiction.exact_rotations = keys;
  crypto::seeded_random rng_bad(5);
  CHECK_THROWS_WITH([&] { he::ckks_backend bad(test::toy_training_parameters(4), rng_bad, contradiction); }(),
                    Catch::Contains("exact_rotations is set but rotations is false"));
}
