#include <hefl/data/synthetic.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <limits>

using hefl::data::synthetic_classification;
using hefl::data::synthetic_options;

namespace {

std::size_t positives(const Eigen::VectorXd& y) {
  std::size_t n = 0;
  for (Eigen::Index i = 0; i < y.size(); ++i) n += y(i) == 1.0 ? 1 : 0;
  return n;
}

// Labels that disagree with the side of the true hyperplane the sample lies on.
std::size_t disagreements(const hefl::data::dataset& d, const Eigen::VectorXd& u) {
  std::size_t n = 0;
  for (Eigen::Index i = 0; i < d.x.rows(); ++i) n += ((d.x.row(i).dot(u) > 0.0) != (d.y(i) == 1.0)) ? 1 : 0;
  return n;
}

} // namespace

TEST_CASE("synthetic: shapes, labels and seeding", "[data][synthetic]") {
  synthetic_options o;
  o.samples = 700;
  o.test_samples = 300;
  o.features = 7;
  const auto a = synthetic_classification(o);
  CHECK(a.data.train.size() == 700);
  CHECK(a.data.test.size() == 300);
  CHECK(a.data.train.features() == 7);
  CHECK(a.direction.size() == 7);
  CHECK(a.direction.norm() == Approx(1.0));
  for (Eigen::Index i = 0; i < a.data.train.y.size(); ++i) CHECK((a.data.train.y(i) == 0.0 || a.data.train.y(i) == 1.0));
  const auto b = synthetic_classification(o);
  CHECK(a.data.train.x == b.data.train.x);
  CHECK(a.data.test.y == b.data.test.y);
  o.seed = 2;
  CHECK(synthetic_classification(o).data.train.x != a.data.train.x);
  // Without noise, the labels are the side of the hyperplane.
  CHECK(disagreements(a.data.train, a.direction) == 0);
  CHECK(disagreements(a.data.test, a.direction) == 0);
}

TEST_CASE("synthetic: class balance is the requested share", "[data][synthetic]") {
  for (const double p : {0.1, 0.3, 0.5, 0.8}) {
    synthetic_options o;
    o.samples = 1001;
    o.test_samples = 400;
    o.positive_fraction = p;
    const auto s = synthetic_classification(o);
    INFO("positive_fraction " << p);
    CHECK(positives(s.data.train.y) == static_cast<std::size_t>(std::llround(p * 1001)));
    CHECK(positives(s.data.test.y) == static_cast<std::size_t>(std::llround(p * 400)));
  }
  // With label noise η the share moves to p(1 − η) + (1 − p)η, within sampling tolerance.
  synthetic_options o;
  o.samples = 20000;
  o.positive_fraction = 0.2;
  o.label_noise = 0.1;
  const auto s = synthetic_classification(o);
  CHECK(static_cast<double>(positives(s.data.train.y)) / 20000.0 == Approx(0.2 * 0.9 + 0.8 * 0.1).margin(0.01));
}

TEST_CASE("synthetic: label noise flips exactly the requested share", "[data][synthetic]") {
  for (const double eta : {0.0, 0.05, 0.2, 0.5}) {
    synthetic_options o;
    o.samples = 2000;
    o.test_samples = 1000;
    o.label_noise = eta;
    o.margin = 0.1;
    const auto s = synthetic_classification(o);
    INFO("label_noise " << eta);
    CHECK(disagreements(s.data.train, s.direction) == static_cast<std::size_t>(std::llround(eta * 2000)));
    CHECK(disagreements(s.data.test, s.direction) == static_cast<std::size_t>(std::llround(eta * 1000)));
  }
}

TEST_CASE("synthetic: the margin separates the clean classes and a negative margin overlaps them",
          "[data][synthetic]") {
  for (const double margin : {0.0, 0.5, 2.0}) {
    synthetic_options o;
    o.samples = 3000;
    o.margin = margin;
    o.feature_scale = 3.0;
    const auto s = synthetic_classification(o);
    double closest = std::numeric_limits<double>::infinity();
    for (Eigen::Index i = 0; i < s.data.train.x.rows(); ++i)
      closest = std::min(closest, std::fabs(s.data.train.x.row(i).dot(s.direction)));
    INFO("margin " << margin << ", closest " << closest);
    CHECK(closest >= margin * 3.0 * (1.0 - 1e-12));
    CHECK(closest < margin * 3.0 + 0.05);  // the gap is the margin, not more (|g| gets near 0 in 3000 draws)
  }
  synthetic_options o;
  o.samples = 5000;
  o.margin = -0.5;
  const auto s = synthetic_classification(o);
  // Overlap: a share of clean labels sits on the wrong side (P(|g| < 0.5) ≈ 0.38).
  CHECK(static_cast<double>(disagreements(s.data.train, s.direction)) / 5000.0 == Approx(0.383).margin(0.03));
}

TEST_CASE("synthetic: feature scale multiplies every feature and nothing else", "[data][synthetic]") {
  synthetic_options o;
  o.samples = 500;
  const auto unit = synthetic_classification(o);
  o.feature_scale = 4.0;
  const auto wide = synthetic_classification(o);
  CHECK(wide.data.train.x.isApprox(4.0 * unit.data.train.x, 1e-14));
  CHECK(wide.data.train.y == unit.data.train.y);
  CHECK(wide.direction == unit.direction);
  // Per-feature spread of the unscaled data is about 1.
  const Eigen::VectorXd mean = unit.data.train.x.colwise().mean();
  for (Eigen::Index j = 0; j < unit.data.train.x.cols(); ++j) {
    const double var = (unit.data.train.x.col(j).array() - mean(j)).square().mean();
    CHECK(std::sqrt(var) == Approx(1.0).margin(0.15));
  }
}

TEST_CASE("synthetic: bad options are refused", "[data][synthetic]") {
  const auto refused = [](auto change) {
    synthetic_options o;
    change(o);
    CHECK_THROWS_AS(synthetic_classification(o), hefl::invalid_argument);
  };
  refused([](synthetic_options& o) { o.samples = 0; });
  refused([](synthetic_options& o) { o.test_samples = 0; });
  refused([](synthetic_options& o) { o.features = 0; });
  refused([](synthetic_options& o) { o.samples = 200000000; });
  refused([](synthetic_options& o) { o.margin = std::numeric_limits<double>::quiet_NaN(); });
  refused([](synthetic_options& o) { o.label_noise = -0.1; });
  refused([](synthetic_options& o) { o.label_noise = 0.6; });
  refused([](synthetic_options& o) { o.feature_scale = 0.0; });
  refused([](synthetic_options& o) { o.feature_scale = std::numeric_limits<double>::infinity(); });
  refused([](synthetic_options& o) { o.positive_fraction = 0.0; });
  refused([](synthetic_options& o) { o.positive_fraction = 1.0; });
  // paper_random is unchanged.
  const auto p = hefl::data::paper_random(10, 3, 73);
  CHECK(p.train.size() == 10);
  CHECK(p.test.size() == 5);
}
