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
  STATIC_REQUIRE_FALSE(aggregate::linear_aggregation_rule<aggregate::multi_krum>);
}

TEMPLATE_TEST_CASE("robust rules resist a poisoned client that drags fedavg", "[aggregate]", aggregate::median,
                   aggregate::trimmed_mean, aggregate::krum, aggregate::multi_krum) {
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
  // β = 0 trims nothing: refused, with a pointer to fedavg, instead of silently averaging.
  CHECK_THROWS_WITH(aggregate::trimmed_mean(0.0), Catch::Contains("trims nothing"));
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
  CHECK_THROWS_WITH(aggregate::krum(1).aggregate(four, w4), Catch::Contains("need more than 2f + 2 = 4"));
}

TEST_CASE("robust rules check their preconditions on the client count, K = 9", "[aggregate]") {
  // Nine honest-looking updates: 1..9 in one coordinate.
  std::vector<Eigen::VectorXd> nine;
  for (int k = 1; k <= 9; ++k) nine.push_back(Eigen::VectorXd::Constant(1, k));
  const std::vector<double> w9(9, 1.0);

  // Trimmed mean: β = 0.1 with K = 9 trims floor(0.9) = 0 values, i.e. it would be a plain mean.
  const aggregate::trimmed_mean tm10(0.1);
  CHECK_THROWS_WITH(tm10.check_clients(9), Catch::Contains("trims floor(beta*K) = 0") && Catch::Contains("need K >= 10"));
  CHECK_THROWS_WITH(tm10.aggregate(nine, w9), Catch::Contains("would be a plain mean"));
  CHECK_NOTHROW(tm10.check_clients(10));
  CHECK(tm10.trimmed(30) == 3);  // 0.1·30 is 3.0000000000000004 or 2.9999...: either way 3
  // β = 0.12 with K = 9 trims one per side: mean of 2..8 = 5.
  const aggregate::trimmed_mean tm12(0.12);
  CHECK_NOTHROW(tm12.check_clients(9));
  nine[8](0) = 1e9;  // an outlier is trimmed away
  CHECK(tm12.aggregate(nine, w9)(0) == Approx(5.0));
  nine[8](0) = 9;

  // Krum with K = 9: f = 3 works (9 > 8), f = 4 does not (9 <= 10).
  CHECK_NOTHROW(aggregate::krum(3).check_clients(9));
  CHECK_THROWS_WITH(aggregate::krum(4).check_clients(9),
                    Catch::Contains("9 clients cannot tolerate 4") && Catch::Contains("2f + 2 = 10"));
  CHECK_THROWS_AS(aggregate::krum(4).aggregate(nine, w9), hefl::invalid_argument);
  // 3 to 7 tie for the closest 4 neighbours (score 1+1+4+4); Krum takes the first of them.
  CHECK(aggregate::krum(3).aggregate(nine, w9)(0) == Approx(3.0));

  // Multi-Krum with K = 9, f = 2: averages the K − f = 7 best-scored updates by default.
  const aggregate::multi_krum mk(2);
  CHECK_NOTHROW(mk.check_clients(9));
  CHECK(mk.selected(9) == 7);
  CHECK_THROWS_WITH(aggregate::multi_krum(2, 8).check_clients(9), Catch::Contains("need m <= K - f = 7"));
  CHECK_THROWS_WITH(aggregate::multi_krum(4).check_clients(9), Catch::Contains("need more than 2f + 2 = 10"));
  CHECK_NOTHROW(aggregate::median{}.check_clients(9));
}

TEST_CASE("multi-krum averages the m best-scored updates and drops the outliers", "[aggregate]") {
  std::vector<Eigen::VectorXd> u;
  for (double v : {1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0}) u.push_back(Eigen::VectorXd::Constant(2, v));
  u.push_back(Eigen::VectorXd::Constant(2, 500.0));
  u.push_back(Eigen::VectorXd::Constant(2, -500.0));
  const std::vector<double> w(9, 1.0);
  // f = 2: each update's score sums its 5 nearest squared distances; the two attackers score worst,
  // so m = 7 averages exactly the honest 1..7.
  CHECK(aggregate::multi_krum(2).aggregate(u, w)(0) == Approx(4.0));
  // m = 1 is Krum.
  CHECK(aggregate::multi_krum(2, 1).aggregate(u, w) == aggregate::krum(2).aggregate(u, w));
  // m = 3 keeps the three most central honest updates: 3, 4, 5.
  CHECK(aggregate::multi_krum(2, 3).aggregate(u, w)(1) == Approx(4.0));
}

TEST_CASE("every rule refuses a round in which no client has data", "[aggregate]") {
  // The trainer skips clients without samples, so a round of 10 clients with 10 empty ones is K = 0.
  const std::vector<Eigen::VectorXd> none;
  const std::vector<double> no_w;
  CHECK_THROWS_WITH(aggregate::check_clients(aggregate::fedavg{}, 0), Catch::Contains("no client has data"));
  CHECK_THROWS_WITH(aggregate::check_clients(aggregate::median{}, 0), Catch::Contains("no client has data"));
  CHECK_THROWS_AS(aggregate::check_clients(aggregate::trimmed_mean{}, 0), hefl::invalid_argument);
  CHECK_THROWS_AS(aggregate::check_clients(aggregate::krum{}, 0), hefl::invalid_argument);
  CHECK_THROWS_AS(aggregate::check_clients(aggregate::multi_krum{}, 0), hefl::invalid_argument);
  CHECK_THROWS_WITH(aggregate::median{}.aggregate(none, no_w), Catch::Contains("no updates"));
  CHECK_THROWS_WITH(aggregate::multi_krum{}.aggregate(none, no_w), Catch::Contains("no updates"));
  // One of ten clients without data leaves K = 9: trimmed_mean(0.1) is now refused, though it
  // worked with all ten.
  CHECK_NOTHROW(aggregate::check_clients(aggregate::trimmed_mean(0.1), 10));
  CHECK_THROWS_AS(aggregate::check_clients(aggregate::trimmed_mean(0.1), 9), hefl::invalid_argument);
  STATIC_REQUIRE(aggregate::checks_client_count<aggregate::fedavg>);
  STATIC_REQUIRE(aggregate::checks_client_count<aggregate::multi_krum>);
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
