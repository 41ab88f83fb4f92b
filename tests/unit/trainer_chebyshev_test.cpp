// The trainer's encrypted modes evaluate the sigmoid with the Chebyshev baby-step giant-step plan on
// t = a·z + s in [−1, 1] (fl/sigmoid_plan.hpp), the mapping folded into the parameters: depth
// accounting on the plain backend, unit-coordinate parameters, and a degree-15 sigmoid on [−8, 8]
// under CKKS, which the power basis could not evaluate (issue 9: error 3.5e3).
#include <hefl/approx/families.hpp>
#include <hefl/crypto/botan_random.hpp>
#include <hefl/fl/default_sigmoid.hpp>
#include <hefl/hefl.hpp>

#include <catch2/catch.hpp>

#include "fhe_test_support.hpp"

#include <cmath>
#include <cstddef>
#include <vector>

using namespace hefl;
namespace ckks = hefl::he::ckks;

namespace {

template <class Backend, class Sigmoid, class Compute, class Transport>
using trainer = fl::federated_trainer<Backend, model::logistic_regression, aggregate::fedavg, Sigmoid, Compute, Transport>;

fl::trainer_config config(std::size_t clients, int rounds, int epochs) {
  fl::trainer_config cfg;
  cfg.clients = clients;
  cfg.rounds = rounds;
  cfg.local = {.epochs = epochs, .learning_rate = 1.0, .l2 = 0.05};
  return cfg;
}

// Plaintext FL with the same polynomial, FedAvg in the clear: what every encrypted mode must follow.
template <class Sigmoid>
Eigen::VectorXd fl_poly(const std::vector<data::dataset>& parts, const data::dataset& test, const fl::trainer_config& cfg,
                        const Sigmoid& sigma) {
  he::plain_backend backend(16);
  model::logistic_regression m(static_cast<std::size_t>(parts[0].features()));
  trainer<he::plain_backend, Sigmoid, fl::plaintext_training, fl::clear_updates>(backend, cfg, sigma).fit(m, parts, test);
  return m.parameters();
}

} // namespace

TEST_CASE("sigmoid_plan: the Chebyshev form of a polynomial sigmoid, at the power basis's depth", "[fl][chebyshev]") {
  const auto paper = approx::paper_sigmoid3();
  const fl::sigmoid_plan p(paper);
  CHECK(p.scale() == Approx(0.2));  // [−5, 5]
  CHECK(p.shift() == 0.0);
  CHECK(p.depth() == paper.depth());       // 2: a chain sized for the power basis still fits
  CHECK(p.degree() == 3);
  for (double x = -7.0; x <= 7.0; x += 0.25) CHECK(p(x) == Approx(paper(x)).margin(1e-14));
  // An approx::sigmoid_approximation keeps its own plan (its depth budget, its mapped depth).
  const auto s = approx::fit_chebyshev(15, 8.0);
  CHECK(fl::sigmoid_plan(s).depth() == s.mapped_depth());
  CHECK(fl::encrypted_gradient_depth(s) == 2 + s.mapped_depth());
  CHECK(fl::encrypted_gradient_depth(paper) == 4);
  CHECK(fl::encrypted_model_epoch_depth(paper) == 5);  // one scalar product maps θ-parameters
  // An asymmetric interval has a shift, added as a plaintext constant.
  const approx::polynomial_sigmoid skew({0.5, 0.2, 0.0, -0.003}, -2.0, 6.0, "skew");
  const fl::sigmoid_plan q(skew);
  CHECK(q.scale() == Approx(0.25));
  CHECK(q.shift() == Approx(-0.5));
  for (double x = -2.0; x <= 6.0; x += 0.5) CHECK(q(x) == Approx(skew(x)).margin(1e-13));
  // Unit coordinates are a linear map.
  Eigen::VectorXd theta(3);
  theta << 1.5, -2.0, 0.25;
  CHECK((fl::to_unit_parameters(theta, paper) - 0.2 * theta).norm() < 1e-15);
  CHECK((fl::from_unit_parameters(fl::to_unit_parameters(theta, skew), skew) - theta).norm() < 1e-15);
}

TEST_CASE("encrypted_model_epoch in θ and in unit coordinates compute the same epoch, one level apart",
          "[fl][chebyshev]") {
  const auto d = data::paper_random(300, 3, 9);
  const approx::polynomial_sigmoid skew({0.5, 0.2, 0.0, -0.003}, -2.0, 6.0, "skew");  // scale and shift
  const model::train_options o{.epochs = 1, .learning_rate = 1.0, .l2 = 0.05};
  Eigen::VectorXd theta(4);
  theta << 0.4, -0.3, 0.1, 0.2;
  he::plain_backend exact(512, fl::encrypted_gradient_depth(skew));
  const auto enc = fl::encrypt_dataset(exact, d.train);
  const auto unit = fl::encrypted_model_epoch_unit(exact, enc, fl::encrypt_parameters(exact, fl::to_unit_parameters(theta, skew)), o, skew);
  Eigen::VectorXd from_unit(4);
  for (Eigen::Index j = 0; j < 4; ++j) from_unit(j) = exact.decrypt(unit[static_cast<std::size_t>(j)])[0];
  from_unit = fl::from_unit_parameters(from_unit, skew);
  // The same epoch in the clear.
  model::logistic_regression m(3);
  m.set_parameters(theta);
  m.train(d.train, o, skew);
  CHECK((from_unit - m.parameters()).cwiseAbs().maxCoeff() < 1e-12);
  // θ-parameters need the mapping level.
  CHECK_THROWS_WITH(fl::encrypted_model_epoch(exact, enc, fl::encrypt_parameters(exact, theta), o, skew),
                    Catch::Contains("level 4 < 5 required") && Catch::Contains("1 for mapping into [-1, 1]"));
  he::plain_backend deeper(512, fl::encrypted_model_epoch_depth(skew));
  const auto enc5 = fl::encrypt_dataset(deeper, d.train);
  const auto natural = fl::encrypted_model_epoch(deeper, enc5, fl::encrypt_parameters(deeper, theta), o, skew);
  for (Eigen::Index j = 0; j < 4; ++j) {
    CHECK(std::fabs(deeper.decrypt(natural[static_cast<std::size_t>(j)])[0] - m.parameters()(j)) < 1e-12);
    CHECK(deeper.level(natural[static_cast<std::size_t>(j)]) == 0);
  }
}

TEST_CASE("the trainer's encrypted modes fit the plan's depth exactly on the plain backend", "[fl][chebyshev]") {
  const auto d = data::paper_random(600, 3, 21);
  const auto parts = data::partition_quantity_skew(d.train, 4, 1.0, 5);
  const auto cfg = config(4, 2, 2);
  const auto sigma = approx::fit_minimax(7, 8.0);
  const Eigen::VectorXd reference = fl_poly(parts, d.test, cfg, sigma);
  const int depth = fl::encrypted_gradient_depth(sigma);
  REQUIRE(depth == 2 + sigma.mapped_depth());
  he::plain_backend b(512, depth);
  using S = approx::sigmoid_approximation;
  const auto run = [&](auto&& t) {
    model::logistic_regression m(3);
    t.fit(m, parts, d.test);
    return Eigen::VectorXd(m.parameters());
  };
  CHECK((run(trainer<he::plain_backend, S, fl::encrypted_data_training, fl::encrypted_updates>(b, cfg, sigma)) - reference)
            .norm() < 1e-9);
  CHECK((run(trainer<he::plain_backend, S, fl::encrypted_model_training, fl::encrypted_updates>(b, cfg, sigma)) - reference)
            .norm() < 1e-9);
  CHECK((run(trainer<he::plain_backend, S, fl::encrypted_model_training, fl::clear_updates>(b, cfg, sigma)) - reference)
            .norm() < 1e-9);
  he::plain_backend shallow(512, depth - 1);
  model::logistic_regression m(3);
  CHECK_THROWS_AS((trainer<he::plain_backend, S, fl::encrypted_model_training, fl::encrypted_updates>(shallow, cfg, sigma)
                       .fit(m, parts, d.test)),
                  depth_exhausted);
  CHECK(m.parameters().isZero());
}

TEST_CASE("a degree-15 sigmoid on [-8, 8] trains under CKKS in both encrypted modes", "[fl][chebyshev][ckks]") {
  const auto sigma = approx::fit_least_squares(15, 8.0);
  const int depth = fl::encrypted_gradient_depth(sigma);
  REQUIRE(depth <= 7);
  const auto d = data::paper_random(400, 3, 13);
  const auto parts = data::partition_iid(d.train, 2, 7);
  const auto cfg = config(2, 2, 2);
  const Eigen::VectorXd reference = fl_poly(parts, d.test, cfg, sigma);
  crypto::seeded_random rng(17);
  he::ckks_backend ckks(test::toy_training_parameters(depth), rng);
  using S = approx::sigmoid_approximation;
  model::logistic_regression a(3), b(3);
  (void)fl::encrypted_data_trainer<he::ckks_backend, S>(ckks, cfg, sigma).fit(a, parts, d.test);
  (void)fl::encrypted_model_trainer<he::ckks_backend, S>(ckks, cfg, sigma).fit(b, parts, d.test);
  INFO("reference " << reference.transpose() << "\nencrypted data " << a.parameters().transpose()
                    << "\nencrypted model " << b.parameters().transpose());
  CHECK((a.parameters() - reference).cwiseAbs().maxCoeff() < 1e-3);
  CHECK((b.parameters() - reference).cwiseAbs().maxCoeff() < 1e-3);
  CHECK(a.accuracy(d.test) > 0.9);
}

TEST_CASE("the default encrypted sigmoid: minimax degree 7 on [-8, 8], five levels per epoch", "[fl][chebyshev]") {
  const auto s = fl::default_encrypted_sigmoid();
  CHECK(s.degree() == 7);
  CHECK(s.lo() == -8.0);
  CHECK(s.hi() == 8.0);
  CHECK(fl::encrypted_gradient_depth(s) == 5);
  const approx::exact_sigmoid exact;
  double err = 0.0;
  for (double x = -8.0; x <= 8.0; x += 1.0 / 64) err = std::max(err, std::fabs(s(x) - exact(x)));
  CHECK(err < 0.02);  // the minimax error of degree 7 on [−8, 8] is 0.0189 (approx_families_test)
}
