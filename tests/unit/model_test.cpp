#include <hefl/approx/sigmoid.hpp>
#include <hefl/data/synthetic.hpp>
#include <hefl/model/logistic_regression.hpp>

#include <catch2/catch.hpp>

using namespace hefl;

TEST_CASE("sigmoid policies", "[approx]") {
  const approx::exact_sigmoid s;
  CHECK(s(0.0) == 0.5);
  CHECK(s(800.0) == 1.0);
  CHECK(s(-800.0) == Approx(0.0).margin(1e-300));
  CHECK(s(2.0) + s(-2.0) == Approx(1.0));
  const auto p = approx::paper_sigmoid3();
  CHECK(p.degree() == 3);
  CHECK(p(2.0) == Approx(0.5 + 0.394 - 0.032));
  for (double x = -5; x <= 5; x += 0.25) CHECK(std::abs(p(x) - s(x)) < 0.055);  // worst at the ends: 0.0508
  for (double x = -8; x <= 8; x += 0.25) CHECK(std::abs(approx::idash_sigmoid7()(x) - s(x)) < 0.04);
  CHECK_THROWS_AS(approx::polynomial_sigmoid({}, -1, 1), hefl::invalid_argument);
  CHECK_THROWS_AS(approx::polynomial_sigmoid({0.5}, 1, 1), hefl::invalid_argument);
  CHECK_THROWS_AS(approx::polynomial_sigmoid({0.5, std::nan("")}, -1, 1), hefl::invalid_argument);
  CHECK(approx::polynomial_sigmoid({0.5, 0.2, 0.0, 0.0}, -1, 1).degree() == 1);
}

TEST_CASE("logistic regression gradient matches finite differences", "[model]") {
  const auto d = data::paper_random(200, 3, 1).train;
  model::logistic_regression m(3);
  Eigen::VectorXd p(4);
  p << 0.3, -0.2, 0.1, 0.05;
  m.set_parameters(p);
  const Eigen::VectorXd g = m.gradient(d, 0.0);
  const double h = 1e-6;
  for (Eigen::Index i = 0; i < 4; ++i) {
    Eigen::VectorXd up = p, down = p;
    up(i) += h;
    down(i) -= h;
    model::logistic_regression a(3), b(3);
    a.set_parameters(up);
    b.set_parameters(down);
    CHECK(g(i) == Approx((a.log_loss(d) - b.log_loss(d)) / (2 * h)).margin(1e-6));
  }
  // L2 applies to the weights, not the bias.
  const Eigen::VectorXd g2 = m.gradient(d, 0.5);
  CHECK(g2(0) - g(0) == Approx(0.5 * 0.3));
  CHECK(g2(3) == Approx(g(3)));
}

TEST_CASE("logistic regression learns the paper's rule", "[model]") {
  const auto d = data::paper_random(2000, 2, 3);
  model::logistic_regression m(2);
  CHECK(m.accuracy(d.test) < 0.6);  // all zeros predicts class 1 everywhere
  const double before = m.log_loss(d.test);
  m.train(d.train, {.epochs = 20, .learning_rate = 1.0, .l2 = 0.05});
  CHECK(m.accuracy(d.test) > 0.97);
  CHECK(m.log_loss(d.test) < before);
  CHECK(m.weights()(0) > 0);
  CHECK(m.weights()(1) < 0);
  model::logistic_regression poly(2);
  poly.train(d.train, {.epochs = 20, .learning_rate = 1.0, .l2 = 0.05}, approx::paper_sigmoid3());
  CHECK(poly.accuracy(d.test) > 0.97);
}

TEST_CASE("logistic regression rejects bad input", "[model]") {
  model::logistic_regression m(2);
  CHECK_THROWS_WITH(m.set_parameters(Eigen::VectorXd::Zero(2)), Catch::Contains("expected 3 parameters, got 2"));
  Eigen::VectorXd bad = Eigen::VectorXd::Zero(3);
  bad(1) = std::numeric_limits<double>::infinity();
  CHECK_THROWS_AS(m.set_parameters(bad), hefl::invalid_argument);
  const auto d3 = data::paper_random(10, 3, 1).train;
  CHECK_THROWS_WITH(m.accuracy(d3), Catch::Contains("data has 3 features, the model 2"));
  CHECK_THROWS_AS(m.accuracy(data::dataset{}), hefl::invalid_argument);
  const auto d2 = data::paper_random(10, 2, 1).train;
  CHECK_THROWS_AS(m.train(d2, {.epochs = 1, .learning_rate = 0.0, .l2 = 0.0}), hefl::invalid_argument);
  CHECK_THROWS_AS(m.train(d2, {.epochs = 1, .learning_rate = 1.0, .l2 = -1.0}), hefl::invalid_argument);
  data::dataset ragged{d2.x, Eigen::VectorXd::Zero(3)};
  CHECK_THROWS_WITH(m.accuracy(ragged), Catch::Contains("10 samples but 3 labels"));
}
