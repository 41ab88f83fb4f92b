// The trainer's two axes (how a client computes × how updates travel) on the plain backend, where
// every mode must reproduce plaintext FL-poly, and on toy CKKS through the three roles.
#include <hefl/crypto/botan_random.hpp>
#include <hefl/hefl.hpp>

#include <catch2/catch.hpp>

#include "fhe_test_support.hpp"

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

using namespace hefl;
namespace ckks = hefl::he::ckks;

namespace {

template <class Backend, class Compute, class Transport, class Rule = aggregate::fedavg>
using trainer = fl::federated_trainer<Backend, model::logistic_regression, Rule, approx::polynomial_sigmoid, Compute,
                                      Transport>;

fl::trainer_config config(std::size_t clients, int rounds, int epochs) {
  fl::trainer_config cfg;
  cfg.clients = clients;
  cfg.rounds = rounds;
  cfg.local = {.epochs = epochs, .learning_rate = 1.0, .l2 = 0.05};
  return cfg;
}

// The reference: plaintext local training with the same polynomial sigmoid, FedAvg in the clear.
Eigen::VectorXd fl_poly(const std::vector<data::dataset>& parts, const data::dataset& test, const fl::trainer_config& cfg) {
  he::plain_backend backend(16);
  model::logistic_regression m(static_cast<std::size_t>(parts[0].features()));
  trainer<he::plain_backend, fl::plaintext_training, fl::clear_updates>(backend, cfg, approx::paper_sigmoid3())
      .fit(m, parts, test);
  return m.parameters();
}

// Counts calls to check_clients and aggregate, and refuses fewer than `minimum` clients.
struct picky_rule {
  static constexpr bool is_linear = false;
  std::size_t minimum = 0;
  int* aggregations = nullptr;
  void check_clients(std::size_t k) const {
    if (k < minimum) throw invalid_argument("picky_rule: " + std::to_string(k) + " clients, need " + std::to_string(minimum));
  }
  [[nodiscard]] Eigen::VectorXd aggregate(std::span<const Eigen::VectorXd> u, std::span<const double> w) const {
    ++*aggregations;
    return aggregate::fedavg{}.aggregate(u, w);
  }
  [[nodiscard]] std::string name() const { return "picky"; }
};

} // namespace

static_assert(he::check_arithmetic_backend<he::plain_backend>() && he::check_arithmetic_backend<he::ckks_backend>());
static_assert(he::backend_traits<he::ckks_server>::free_integer_scalars && he::backend_traits<he::plain_backend>::mixed_levels);

TEST_CASE("every compute mode and transport reproduces plaintext FL-poly on the plain backend", "[fl][modes]") {
  const auto d = data::paper_random(600, 3, 21);
  const auto parts = data::partition_quantity_skew(d.train, 4, 1.0, 5);  // unequal shares: weights matter
  const auto cfg = config(4, 3, 2);
  const Eigen::VectorXd reference = fl_poly(parts, d.test, cfg);
  he::plain_backend b(512, 4);  // exactly the depth one encrypted epoch needs
  const auto run = [&](auto&& t) {
    model::logistic_regression m(3);
    t.fit(m, parts, d.test);
    return Eigen::VectorXd(m.parameters());
  };
  const auto sigma = approx::paper_sigmoid3();
  using namespace fl;
  CHECK((run(trainer<he::plain_backend, plaintext_training, encrypted_updates>(b, cfg, sigma)) - reference).norm() < 1e-12);
  CHECK((run(trainer<he::plain_backend, encrypted_data_training, clear_updates>(b, cfg, sigma)) - reference).norm() < 1e-9);
  CHECK((run(trainer<he::plain_backend, encrypted_data_training, encrypted_updates>(b, cfg, sigma)) - reference).norm() < 1e-9);
  CHECK((run(trainer<he::plain_backend, encrypted_model_training, clear_updates>(b, cfg, sigma)) - reference).norm() < 1e-9);
  CHECK((run(encrypted_model_trainer<he::plain_backend>(b, cfg, sigma)) - reference).norm() < 1e-9);
}

TEST_CASE("encrypted training checks the depth budget before any work", "[fl][modes]") {
  const auto d = data::paper_random(200, 2, 3);
  const auto cfg = config(2, 1, 1);
  he::plain_backend shallow(256, 3);  // w·x (1) + cubic (2) + e·x (1) = 4 needed
  model::logistic_regression m(2);
  CHECK_THROWS_WITH(fl::encrypted_model_trainer<he::plain_backend>(shallow, cfg, approx::paper_sigmoid3()).fit(m, d.train, d.test),
                    Catch::Contains("level 3 < 4 required"));
  CHECK_THROWS_AS(fl::encrypted_data_trainer<he::plain_backend>(shallow, cfg, approx::paper_sigmoid3()).fit(m, d.train, d.test),
                  depth_exhausted);
  CHECK(m.parameters().isZero());
  he::plain_backend cramped(64, 4);  // 100 samples per client do not fit in 64 slots
  CHECK_THROWS_WITH(fl::encrypted_data_trainer<he::plain_backend>(cramped, cfg, approx::paper_sigmoid3()).fit(m, d.train, d.test),
                    Catch::Contains("exceed the backend's 64 slots"));
}

TEST_CASE("round metrics report bytes, seconds and the share of scores outside the sigmoid's interval", "[fl][modes]") {
  const auto d = data::paper_random(400, 2, 8);
  auto parts = data::partition_iid(d.train, 3, 1);
  parts[2] = data::dataset{Eigen::MatrixXd(0, 2), Eigen::VectorXd(0)};
  const auto cfg = config(3, 2, 1);
  he::plain_backend b(512, 4);
  model::logistic_regression m(2);
  const auto h = fl::encrypted_data_trainer<he::plain_backend>(b, cfg, approx::paper_sigmoid3()).fit(m, parts, d.test);
  REQUIRE(h.size() == 2);
  for (const auto& r : h) {
    REQUIRE(r.bytes_uploaded.size() == 3);
    CHECK(r.bytes_uploaded[0] > 0);
    CHECK(r.bytes_uploaded[2] == 0);  // the empty client sends nothing
    CHECK(r.seconds_local_training > 0.0);
    CHECK(r.seconds_encryption > 0.0);
    CHECK(r.seconds_decryption > 0.0);
    CHECK(r.seconds_aggregation >= 0.0);
    CHECK(r.outside_interval >= 0.0);
    CHECK(r.outside_interval <= 1.0);
    CHECK(r.largest_score >= 0.0);  // the largest |w·x + b| of the round's local training
  }
  CHECK(h[1].largest_score > 0.0);  // round 1 starts from w = 0, b = 0
  // Round 1 carries the encrypted data (3 columns of 512 slots) besides the update.
  CHECK(h[0].bytes_uploaded[0] > h[1].bytes_uploaded[0] + 3 * 512 * sizeof(double));

  // A narrow interval: scores fall outside it; the exact sigmoid states none (NaN).
  const approx::polynomial_sigmoid narrow({0.5, 0.25}, -0.01, 0.01, "narrow");
  model::logistic_regression n(2);
  fl::trainer_config three = config(3, 2, 1);
  const auto hn = trainer<he::plain_backend, fl::plaintext_training, fl::clear_updates>(b, three, narrow).fit(n, parts, d.test);
  CHECK(hn[1].outside_interval > 0.5);
  CHECK(hn[1].largest_score > 0.01);
  model::logistic_regression e(2);
  const auto he_ = fl::federated_trainer<he::plain_backend>(b, three).fit(e, parts, d.test);
  CHECK(std::isnan(he_[0].outside_interval));
  CHECK(std::isnan(he_[0].largest_score));
}

TEST_CASE("a round callback can stop training early", "[fl][modes]") {
  const auto d = data::paper_random(300, 2, 4);
  he::plain_backend b(16);
  fl::trainer_config cfg = config(3, 5, 1);
  model::logistic_regression m(2);
  int seen = 0;
  const auto h = fl::federated_trainer<he::plain_backend>(b, cfg).fit(m, d.train, d.test, [&](const fl::round_metrics& r) {
    ++seen;
    return r.round == 2 ? fl::round_decision::stop : fl::round_decision::proceed;
  });
  CHECK(h.size() == 2);
  CHECK(seen == 2);
}

TEST_CASE("the rule's check_clients runs before any client trains", "[fl][modes]") {
  const auto d = data::paper_random(300, 2, 4);
  auto parts = data::partition_iid(d.train, 3, 2);
  parts[0] = data::dataset{Eigen::MatrixXd(0, 2), Eigen::VectorXd(0)};
  he::plain_backend b(16);
  int aggregations = 0;
  model::logistic_regression m(2);
  fl::federated_trainer<he::plain_backend, model::logistic_regression, picky_rule> refusing(b, config(3, 2, 1), {},
                                                                                          picky_rule{3, &aggregations});
  CHECK_THROWS_WITH(refusing.fit(m, parts, d.test), Catch::Contains("2 clients, need 3"));  // the empty one does not count
  CHECK(aggregations == 0);
  CHECK(m.parameters().isZero());
  fl::federated_trainer<he::plain_backend, model::logistic_regression, picky_rule> accepting(b, config(3, 2, 1), {},
                                                                                           picky_rule{2, &aggregations});
  CHECK(accepting.fit(m, parts, d.test).size() == 2);
  CHECK(aggregations == 2);
}

TEST_CASE("train_options are validated wherever they are used", "[fl][modes]") {
  fl::trainer_config cfg = config(2, 1, 1);
  he::plain_backend b(16);
  cfg.local.l2 = std::nan("");
  CHECK_THROWS_AS(fl::federated_trainer<he::plain_backend>(b, cfg), invalid_argument);
  cfg = config(2, 1, 0);
  CHECK_THROWS_WITH(fl::federated_trainer<he::plain_backend>(b, cfg), Catch::Contains("local.epochs must be >= 1"));
}

TEST_CASE("encrypted FL-FHE modes under toy CKKS follow plaintext FL-poly", "[fl][modes][ckks]") {
  const auto d = data::paper_random(800, 3, 13);
  // 4 clients of 200 samples: the 4 gradient sums fit in blocks of 256 of the 1024 slots, so the
  // packed gradient (rotations) runs; the plain-backend test above covers the unpacked one too.
  const auto parts = data::partition_iid(d.train, 4, 7);
  const auto cfg = config(4, 2, 2);
  const Eigen::VectorXd reference = fl_poly(parts, d.test, cfg);
  crypto::seeded_random rng(5);
  he::ckks_backend ckks(test::toy_training_parameters(4), rng);
  const auto sigma = approx::paper_sigmoid3();
  model::logistic_regression a(3), b(3);
  const auto ha = fl::encrypted_data_trainer<he::ckks_backend>(ckks, cfg, sigma).fit(a, parts, d.test);
  const auto hb = fl::encrypted_model_trainer<he::ckks_backend>(ckks, cfg, sigma).fit(b, parts, d.test);
  CHECK((a.parameters() - reference).cwiseAbs().maxCoeff() < 1e-3);
  CHECK((b.parameters() - reference).cwiseAbs().maxCoeff() < 1e-3);
  CHECK(ha.back().accuracy > 0.9);
  CHECK(hb.back().accuracy > 0.9);
  // Both modes upload one fresh packed ciphertext (the encrypted-weights mode's last epoch is refreshed
  // and re-encrypted by the key holder), so both send the same bytes.
  CHECK(hb[1].bytes_uploaded[0] == ha[1].bytes_uploaded[0]);
  CHECK(ha[1].bytes_uploaded[0] > 0);
  // Every gradient sum and every last-epoch model left the key holder flooded; nothing raw was published.
  const auto& kh = ckks.key_holder();
  CHECK(kh.unflooded_decryptions() == 0);
  // FL-FHE: rounds·clients·epochs; FL-FHE-model: rounds·clients (its n + 1 weights in one packed ciphertext)
  CHECK(kh.estimated_floodings() == 2 * 4 * 2 + 2 * 4);
  CHECK(kh.published_computed_values() == 2 * 4 * 2 * 4 + 2 * 4 * 4);  // n + 1 = 4 values each time
  CHECK(static_cast<double>(kh.published_computed_values()) ==
        fl::published_computed_values<fl::encrypted_data_training>(cfg, 3) +
            fl::published_computed_values<fl::encrypted_model_training>(cfg, 3));
  CHECK(fl::published_computed_values<fl::plaintext_training>(cfg, 3) == 0);
  CHECK_THROWS_AS(fl::published_computed_values<fl::encrypted_data_training>(cfg, 0), invalid_argument);
  CHECK(kh.flooded_decryptions() == kh.estimated_floodings() + 2 + 2);  // plus one aggregate per round and mode
}
