#include <hefl/aggregate/fedavg.hpp>
#include <hefl/aggregate/robust.hpp>
#include <hefl/core/prng.hpp>

#include <catch2/catch.hpp>

#include <vector>

using namespace hefl;

namespace {
// Nine honest clients near (1, -1, 0.5) and one attacker far away.
struct poisoned_round {
  std::vector<Eigen::VectorXd> updates;
  std::vector<double> weights;
  Eigen::VectorXd honest_mean;
  poisoned_round() {
    deterministic_rng rng(5);
    honest_mean = Eigen::VectorXd::Zero(3);
    for (int k = 0; k < 9; ++k) {
      Eigen::VectorXd u(3);
      u << 1 + 0.05 * rng.normal(), -1 + 0.05 * rng.normal(), 0.5 + 0.05 * rng.normal();
      honest_mean += u / 9.0;
      updates.push_back(u);
      weights.push_back(100);
    }
    updates.push_back(Eigen::VectorXd::Constant(3, 1e6));
    weights.push_back(100);
  }
};
} // namespace

TEST_CASE("fedavg weighs clients by sample count", "[aggregate]") {
  const std::vector<Eigen::VectorXd> u{Eigen::VectorXd::Constant(2, 1.0), Eigen::VectorXd::Constant(2, 4.0)};
  const std::vector<double> w{300, 100};
  const Eigen::VectorXd r = aggregate::fedavg{}.aggregate(u, w);
  CHECK(r(0) == Approx(1.75));
  const auto c = aggregate::fedavg{}.coefficients(w);
  CHECK(c[0] == Approx(0.75));
  CHECK(c[1] == Approx(0.25));
  STATIC_REQUIRE(aggregate::linear_aggregation_rule<aggregate::fedavg>);
  STATIC_REQUIRE_FALSE(aggregate::linear_aggregation_rule<aggregate::median>);
  STATIC_REQUIRE_FALSE(aggregate::linear_aggregation_rule<aggregate::trimmed_mean>);
  STATIC_REQUIRE_FALSE(aggregate::linear_aggregation_rule<aggregate::krum>);
}

TEMPLATE_TEST_CASE("robust rules resist a poisoned client that drags fedavg", "[aggregate]", aggregate::median,
                   aggregate::trimmed_mean, aggregate::krum) {
  const poisoned_round r;
  const Eigen::VectorXd avg = aggregate::fedavg{}.aggregate(r.updates, r.weights);
  CHECK((avg - r.honest_mean).norm() > 1e4);  // FedAvg is dragged
  const Eigen::VectorXd robust = TestType{}.aggregate(r.updates, r.weights);
  CHECK((robust - r.honest_mean).norm() < 0.2);
}

TEST_CASE("median and trimmed mean compute their order statistics", "[aggregate]") {
  std::vector<Eigen::VectorXd> u;
  for (double v : {5.0, 1.0, 3.0, 100.0}) u.push_back(Eigen::VectorXd::Constant(1, v));
  const std::vector<double> w(4, 1.0);
  CHECK(aggregate::median{}.aggregate(u, w)(0) == Approx(4.0));
  CHECK(aggregate::trimmed_mean(0.25).aggregate(u, w)(0) == Approx(4.0));
  CHECK(aggregate::trimmed_mean(0.0).aggregate(u, w)(0) == Approx(27.25));
  CHECK_THROWS_AS(aggregate::trimmed_mean(0.5), hefl::invalid_argument);
  CHECK_THROWS_AS(aggregate::trimmed_mean(-0.1), hefl::invalid_argument);
}

TEST_CASE("krum picks the update closest to its neighbours and needs K > 2f+2", "[aggregate]") {
  const poisoned_round r;
  const Eigen::VectorXd chosen = aggregate::krum(2).aggregate(r.updates, r.weights);
  bool is_one_of_honest = false;
  for (int k = 0; k < 9; ++k) is_one_of_honest = is_one_of_honest || chosen == r.updates[static_cast<std::size_t>(k)];
  CHECK(is_one_of_honest);
  const std::vector<Eigen::VectorXd> four(r.updates.begin(), r.updates.begin() + 4);
  const std::vector<double> w4(4, 1.0);
  CHECK_THROWS_WITH(aggregate::krum(1).aggregate(four, w4), Catch::Contains("need more than 4"));
}

TEST_CASE("aggregation rules reject malformed rounds", "[aggregate]") {
  const std::vector<Eigen::VectorXd> none;
  const std::vector<double> no_w;
  CHECK_THROWS_WITH(aggregate::fedavg{}.aggregate(none, no_w), Catch::Contains("no updates"));
  const std::vector<Eigen::VectorXd> ragged{Eigen::VectorXd::Zero(2), Eigen::VectorXd::Zero(3)};
  const std::vector<double> w2{1, 1};
  CHECK_THROWS_WITH(aggregate::median{}.aggregate(ragged, w2), Catch::Contains("different lengths"));
  const std::vector<Eigen::VectorXd> two{Eigen::VectorXd::Zero(2), Eigen::VectorXd::Zero(2)};
  const std::vector<double> w1{1};
  CHECK_THROWS_WITH(aggregate::fedavg{}.aggregate(two, w1), Catch::Contains("2 updates but 1 weights"));
  const std::vector<double> zero{0, 0}, negative{1, -1};
  CHECK_THROWS_WITH(aggregate::fedavg{}.aggregate(two, zero), Catch::Contains("sum to zero"));
  CHECK_THROWS_AS(aggregate::fedavg{}.aggregate(two, negative), hefl::invalid_argument);
  std::vector<Eigen::VectorXd> nan_update = two;
  nan_update[1](0) = std::nan("");
  CHECK_THROWS_WITH(aggregate::trimmed_mean{}.aggregate(nan_update, w2), Catch::Contains("non-finite"));
}
