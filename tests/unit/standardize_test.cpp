#include <hefl/data/partition.hpp>
#include <hefl/data/split.hpp>
#include <hefl/data/standardize.hpp>
#include <hefl/data/synthetic.hpp>

#include <catch2/catch.hpp>

#include <set>

using namespace hefl;

namespace {
// Features with very different scales and offsets, like clinical measurements.
data::dataset clinical(std::size_t n, std::uint64_t seed) {
  deterministic_rng rng(seed);
  data::dataset d{Eigen::MatrixXd(static_cast<Eigen::Index>(n), 3), Eigen::VectorXd(static_cast<Eigen::Index>(n))};
  for (Eigen::Index i = 0; i < d.x.rows(); ++i) {
    d.x(i, 0) = 120 + 30 * rng.normal();   // glucose
    d.x(i, 1) = 0.5 + 0.3 * rng.normal();  // pedigree
    d.x(i, 2) = 7.0;                       // a constant column
    d.y(i) = rng.uniform() < 0.35 ? 1.0 : 0.0;
  }
  return d;
}
} // namespace

TEST_CASE("train_test_split is seeded, complete, and keeps the class ratio when stratified", "[data][split]") {
  const auto d = clinical(1000, 1);
  const auto s = data::train_test_split(d, 7);
  CHECK(s.train.size() + s.test.size() == 1000);
  CHECK(s.test.size() == Approx(250).margin(1));
  // Stratified: each side's positive share equals the whole's up to rounding of one sample per class.
  CHECK(s.test.y.mean() == Approx(d.y.mean()).margin(1.0 / 250));
  CHECK(s.train.y.mean() == Approx(d.y.mean()).margin(1.0 / 750));
  // Every sample in exactly one set.
  std::multiset<double> all, parts;
  for (Eigen::Index i = 0; i < d.x.rows(); ++i) all.insert(d.x(i, 0));
  for (const auto* p : {&s.train, &s.test})
    for (Eigen::Index i = 0; i < p->x.rows(); ++i) parts.insert(p->x(i, 0));
  CHECK(all == parts);
  CHECK(data::train_test_split(d, 7).test.x == s.test.x);
  CHECK(data::train_test_split(d, 8).test.x != s.test.x);
  data::split_options plain;
  plain.stratify = false;
  plain.test_fraction = 0.1;
  CHECK(data::train_test_split(d, 7, plain).test.size() == 100);
}

TEST_CASE("train_test_split refuses fractions and sizes that leave a side empty", "[data][split]") {
  const auto d = clinical(10, 1);
  for (double f : {0.0, 1.0, -0.5, 1.5, std::nan("")}) {
    data::split_options o;
    o.test_fraction = f;
    CHECK_THROWS_AS(data::train_test_split(d, 1, o), hefl::invalid_argument);
  }
  data::split_options tiny;
  tiny.test_fraction = 0.01;
  CHECK_THROWS_WITH(data::train_test_split(d, 1, tiny), Catch::Contains("leave the test set empty"));
}

TEST_CASE("standardizer is fitted on training data and applied unchanged to test data", "[data][standardize]") {
  const auto s = data::train_test_split(clinical(2000, 2), 3);
  const auto st = data::standardizer::fit(s.train);
  const auto train = st.transform(s.train);
  CHECK(train.x.col(0).mean() == Approx(0.0).margin(1e-12));
  CHECK(train.x.col(1).mean() == Approx(0.0).margin(1e-12));
  CHECK((train.x.col(0).array().square().mean()) == Approx(1.0).epsilon(1e-9));
  CHECK(st.mean()(0) == Approx(120).margin(2.5));
  CHECK(st.scale()(0) == Approx(30).margin(2.0));
  // A constant column is centred, not divided by zero.
  CHECK(st.scale()(2) == 1.0);
  CHECK(train.x.col(2).cwiseAbs().maxCoeff() == 0.0);
  // The test set goes through the training statistics: its own mean is NOT exactly zero.
  const auto test = st.transform(s.test);
  CHECK(test.x(5, 0) == Approx((s.test.x(5, 0) - st.mean()(0)) / st.scale()(0)));
  CHECK(test.x.col(0).mean() != 0.0);
  CHECK(test.y == s.test.y);
  data::dataset wrong{Eigen::MatrixXd::Zero(2, 2), Eigen::VectorXd::Zero(2)};
  CHECK_THROWS_WITH(st.transform(wrong), Catch::Contains("data has 2 features, fitted on 3"));
  CHECK_THROWS_AS(data::standardizer::fit(data::dataset{}), hefl::invalid_argument);
}

TEST_CASE("federated standardisation from (n, sum, sum of squares) equals the pooled fit", "[data][standardize]") {
  const auto d = clinical(3000, 4);
  const auto clients = data::partition_quantity_skew(d, 10, 0.5, 1);
  const auto pooled = data::standardizer::fit(d);
  const auto federated = data::standardizer::fit_federated(clients);
  CHECK((federated.mean() - pooled.mean()).cwiseAbs().maxCoeff() < 1e-9);
  CHECK((federated.scale() - pooled.scale()).cwiseAbs().maxCoeff() < 1e-9);
  // Spelled out: what each client sends, and the server's combination.
  data::feature_moments total;
  for (const auto& c : clients) {
    const auto m = data::feature_moments::of(c);
    CHECK(m.count == c.size());
    CHECK(m.sum.size() == 3);
    total.merge(m);
  }
  CHECK(total.count == 3000);
  CHECK((data::standardizer::from_moments(total).mean() - pooled.mean()).norm() < 1e-9);
  // Empty clients are neutral; bad moments are refused.
  std::vector<data::dataset> with_empty = clients;
  with_empty.push_back(data::dataset{Eigen::MatrixXd(0, 3), Eigen::VectorXd(0)});
  CHECK((data::standardizer::fit_federated(with_empty).mean() - pooled.mean()).norm() < 1e-9);
  CHECK_THROWS_WITH(data::standardizer::fit_federated({}), Catch::Contains("zero samples"));
  data::feature_moments liar = data::feature_moments::of(clients[0]);
  liar.sum_of_squares(0) = -1;
  CHECK_THROWS_AS(total.merge(liar), hefl::invalid_argument);
  data::feature_moments narrow = data::feature_moments::of(data::dataset{Eigen::MatrixXd::Ones(2, 2), Eigen::VectorXd::Zero(2)});
  CHECK_THROWS_WITH(total.merge(narrow), Catch::Contains("3 and 2 features"));
}
