#include <hefl/data/csv.hpp>
#include <hefl/data/partition.hpp>
#include <hefl/data/synthetic.hpp>

#include <catch2/catch.hpp>

#include <climits>
#include <cstdint>
#include <limits>
#include <numeric>
#include <set>
#include <sstream>

using namespace hefl;

TEST_CASE("paper_random follows the tutorial's label rule and sizes", "[data]") {
  for (std::size_t n : {2u, 3u, 5u}) {
    const auto d = data::paper_random(1000, n, 7);
    REQUIRE(d.train.size() == 1000);
    REQUIRE(d.test.size() == 500);
    REQUIRE(d.train.features() == n);
    for (const auto* set : {&d.train, &d.test})
      for (Eigen::Index i = 0; i < set->x.rows(); ++i)
        REQUIRE(set->y(i) == (set->x(i, 0) >= set->x(i, 1) ? 1.0 : 0.0));
    // Standard normal features: mean near 0, variance near 1 (loose bounds for 1000 samples).
    CHECK(std::abs(d.train.x.col(0).mean()) < 0.15);
    const double var = (d.train.x.col(n - 1).array() - d.train.x.col(n - 1).mean()).square().mean();
    CHECK(var == Approx(1.0).margin(0.15));
    // Balanced classes, as the rule is symmetric.
    CHECK(d.train.y.mean() == Approx(0.5).margin(0.06));
  }
}

TEST_CASE("paper_random is deterministic per seed and differs between seeds", "[data]") {
  const auto a = data::paper_random(100, 3, 42), b = data::paper_random(100, 3, 42), c = data::paper_random(100, 3, 43);
  CHECK(a.train.x == b.train.x);
  CHECK(a.test.y == b.test.y);
  CHECK(a.train.x != c.train.x);
  CHECK(a.train.x.row(0) != a.test.x.row(0));  // test set is a fresh draw
}

TEST_CASE("paper_random rejects impossible shapes", "[data]") {
  CHECK_THROWS_AS(data::paper_random(0, 2, 1), hefl::invalid_argument);
  CHECK_THROWS_WITH(data::paper_random(10, 1, 1), Catch::Contains("n >= 2"));
  CHECK(data::paper_random(1, 2, 1).test.size() == 1);
}

namespace {
std::size_t total(const std::vector<data::dataset>& parts) {
  std::size_t n = 0;
  for (const auto& p : parts) n += p.size();
  return n;
}
// Every original row appears exactly once across the parts (rows are distinct with probability 1).
bool is_permutation_of(const std::vector<data::dataset>& parts, const data::dataset& d) {
  std::multiset<std::pair<double, double>> a, b;
  for (Eigen::Index i = 0; i < d.x.rows(); ++i) a.insert({d.x(i, 0), d.y(i)});
  for (const auto& p : parts)
    for (Eigen::Index i = 0; i < p.x.rows(); ++i) b.insert({p.x(i, 0), p.y(i)});
  return a == b;
}
} // namespace

TEST_CASE("IID partition deals equal shares of every sample", "[data][partition]") {
  const auto d = data::paper_random(1003, 2, 5).train;
  const auto parts = data::partition_iid(d, 10, 11);
  REQUIRE(parts.size() == 10);
  for (std::size_t k = 0; k < 10; ++k) CHECK(parts[k].size() == (k < 3 ? 101u : 100u));
  CHECK(is_permutation_of(parts, d));
  CHECK(data::partition_iid(d, 10, 11)[4].x == parts[4].x);
  CHECK(data::partition_iid(d, 10, 12)[4].x != parts[4].x);
  CHECK(data::concatenate(parts).size() == d.size());
}

TEST_CASE("Dirichlet label skew keeps every sample and skews labels more for small alpha", "[data][partition]") {
  const auto d = data::paper_random(2000, 2, 5).train;
  const auto spread = [](const std::vector<data::dataset>& parts) {
    double worst = 0;
    for (const auto& p : parts)
      if (!p.empty()) worst = std::max(worst, std::abs(p.y.mean() - 0.5));
    return worst;
  };
  const auto skewed = data::partition_dirichlet_labels(d, 10, 0.1, 3);
  const auto mild = data::partition_dirichlet_labels(d, 10, 1000.0, 3);
  CHECK(total(skewed) == d.size());
  CHECK(is_permutation_of(skewed, d));
  CHECK(spread(skewed) > 0.3);
  CHECK(spread(mild) < 0.1);
  CHECK_THROWS_AS(data::partition_dirichlet_labels(d, 10, 0.0, 3), hefl::invalid_argument);
}

TEST_CASE("quantity skew gives unequal sizes, at least one sample each", "[data][partition]") {
  const auto d = data::paper_random(1000, 2, 5).train;
  const auto parts = data::partition_quantity_skew(d, 10, 0.3, 9);
  REQUIRE(parts.size() == 10);
  CHECK(total(parts) == 1000);
  std::size_t lo = 1000, hi = 0;
  for (const auto& p : parts) {
    lo = std::min(lo, p.size());
    hi = std::max(hi, p.size());
  }
  CHECK(lo >= 1);
  CHECK(hi > 3 * lo);
  CHECK(is_permutation_of(parts, d));
}

TEST_CASE("partitions refuse impossible client counts", "[data][partition]") {
  const auto d = data::paper_random(5, 2, 5).train;
  CHECK_THROWS_AS(data::partition_iid(d, 0, 1), hefl::invalid_argument);
  CHECK_THROWS_WITH(data::partition_iid(d, 6, 1), Catch::Contains("6 clients but only 5 samples"));
  CHECK_THROWS_AS(data::partition_quantity_skew(d, 6, 1.0, 1), hefl::invalid_argument);
}

TEST_CASE("CSV loader reads features and the named label column", "[data][csv]") {
  std::istringstream in("age,label,bp\n 61, 1 ,120.5\n45,0,-3e1\n\n");
  const auto d = data::read_csv(in, "label");
  REQUIRE(d.size() == 2);
  REQUIRE(d.features() == 2);
  CHECK(d.x(0, 0) == 61);
  CHECK(d.x(0, 1) == 120.5);
  CHECK(d.x(1, 1) == -30);
  CHECK(d.y(0) == 1);
  CHECK(d.y(1) == 0);
}

TEST_CASE("CSV loader rejects malformed input with the line number", "[data][csv]") {
  const auto fails_with = [](const std::string& text, const std::string& message) {
    std::istringstream in(text);
    CHECK_THROWS_WITH(data::read_csv(in, "y"), Catch::Contains(message));
  };
  fails_with("", "empty input");
  fails_with("a,b\n1,2\n", "no label column named 'y'");
  fails_with("a,y,a\n1,0,2\n", "duplicate column name 'a'");
  fails_with("a,,y\n1,2,0\n", "column 2 has no name");
  fails_with("y\n1\n", "at least one feature column besides the label; found 1 column: 'y'");
  fails_with("a,y\n1,0\n2\n", "csv line 3: 1 fields, the header has 2");
  fails_with("a,y\n", "csv line 1: the header is not followed by any data row");
  fails_with("a,y\n\n\n", "not followed by any data row");
  fails_with("a,y\n1,0\n2,1,3\n", "csv line 3: 3 fields");
  fails_with("a,y\n1,0\nx,1\n", "csv line 3, column 'a': 'x' is not a finite number");
  fails_with("a,y\n1,0\n2.5abc,1\n", "'2.5abc' is not a finite number");
  fails_with("a,y\nnan,0\n", "csv line 2, column 'a': 'nan'");
  fails_with("a,y\ninf,0\n", "not a finite number");
  fails_with("a,y\n1,\n", "'' is not a finite number");
  fails_with("a,y\n1,2\n", "csv line 2: label 2 is not 0 or 1");

  std::istringstream many("a,y\n1,0\n1,1\n1,0\n");
  data::csv_options small;
  small.max_rows = 2;
  CHECK_THROWS_WITH(data::read_csv(many, "y", small), Catch::Contains("more than 2 rows"));
  CHECK_THROWS_AS(data::load_csv("/nonexistent/file.csv", "y"), hefl::io_error);
}

TEST_CASE("dataset::validate checks shapes, finite features and binary labels", "[data]") {
  data::dataset d{Eigen::MatrixXd::Zero(3, 2), Eigen::VectorXd::Zero(3)};
  CHECK_NOTHROW(d.validate());
  d.x(1, 1) = std::nan("");
  CHECK_THROWS_WITH(d.validate(), Catch::Contains("feature 1 of sample 1 is not finite"));
  d.x(1, 1) = std::numeric_limits<double>::infinity();
  CHECK_THROWS_AS(d.validate(), hefl::invalid_argument);
  d.x(1, 1) = 0;
  d.y(2) = 2;
  CHECK_THROWS_WITH(d.validate(), Catch::Contains("label of sample 2 is 2.0") && Catch::Contains("expected 0 or 1"));
  d.y(2) = 0.5;
  CHECK_THROWS_AS(d.validate(), hefl::invalid_argument);
  CHECK_NOTHROW(d.validate_shape());
  d.y.resize(2);
  CHECK_THROWS_WITH(d.validate_shape(), Catch::Contains("3 samples but 2 labels"));
}

TEST_CASE("CSV loader: BOM, quoted fields, chosen feature columns", "[data][csv]") {
  SECTION("a UTF-8 byte-order mark before the header is skipped") {
    std::istringstream in("\xEF\xBB\xBFy,a\r\n1,2\r\n0,3\r\n");
    const auto d = data::read_csv(in, "y");
    REQUIRE(d.size() == 2);
    CHECK(d.x(1, 0) == 3);
    std::istringstream quoted("\xEF\xBB\xBF\"y\",a\n1,2\n");
    CHECK(data::read_csv(quoted, "y").x(0, 0) == 2);
  }
  SECTION("RFC 4180 quoting: delimiters, doubled quotes and line breaks inside quotes") {
    std::istringstream in("\"blood pressure, systolic\",\"say \"\"hi\"\"\",\"y\"\n"
                          "\"120\", 7 ,\"1\"\n"
                          "\"13\n0\",8,0\n"
                          "140,9,1\n");
    data::csv_options opt;
    opt.feature_columns = {"blood pressure, systolic"};
    // Line 3 holds a quoted line break; the value "13\n0" is not a number and is reported at line 3.
    CHECK_THROWS_WITH(data::read_csv(in, "y", opt), Catch::Contains("csv line 3, column 'blood pressure, systolic'"));
    std::istringstream ok("\"blood pressure, systolic\",\"say \"\"hi\"\"\",\"y\"\n\"120\", 7 ,\"1\"\n140,9,0\n");
    opt.feature_columns = {"say \"hi\"", "blood pressure, systolic"};
    const auto d = data::read_csv(ok, "y", opt);
    REQUIRE(d.features() == 2);
    CHECK(d.x(0, 0) == 7);  // the order asked for, not file order
    CHECK(d.x(0, 1) == 120);
    CHECK(d.x(1, 1) == 140);
    CHECK(d.y(0) == 1);
  }
  SECTION("only the chosen columns are parsed; the others may hold text") {
    std::istringstream in("id,age,y,bp\npatient-1,61,1,120\npatient-2,45,0,130\n");
    data::csv_options opt;
    opt.feature_columns = {"bp", "age"};
    const auto d = data::read_csv(in, "y", opt);
    REQUIRE(d.features() == 2);
    CHECK(d.x(1, 0) == 130);
    CHECK(d.x(1, 1) == 45);
  }
  SECTION("bad choices of columns") {
    data::csv_options opt;
    opt.feature_columns = {"age", "age"};
    std::istringstream a("age,y\n1,0\n");
    CHECK_THROWS_WITH(data::read_csv(a, "y", opt), Catch::Contains("listed twice"));
    opt.feature_columns = {"y"};
    std::istringstream b("age,y\n1,0\n");
    CHECK_THROWS_WITH(data::read_csv(b, "y", opt), Catch::Contains("is the label column"));
    opt.feature_columns = {"weight"};
    std::istringstream c("age,y\n1,0\n");
    CHECK_THROWS_WITH(data::read_csv(c, "y", opt),
                      Catch::Contains("no feature column named 'weight'; found 2 columns: 'age', 'y'"));
  }
}

TEST_CASE("CSV errors list the columns found and hint at the delimiter", "[data][csv]") {
  const auto message = [](const std::string& text, const data::csv_options& opt = {}) {
    std::istringstream in(text);
    try {
      (void)data::read_csv(in, "y", opt);
    } catch (const hefl::parse_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(message("age;bp;y\n1;2;0\n"),
             Catch::Contains("no label column named 'y'; found 1 column: 'age;bp;y'") &&
                 Catch::Contains("is the delimiter ';'?"));
  CHECK_THAT(message("age\tbp\ty\n1\t2\t0\n"), Catch::Contains("is the delimiter '\\t'?"));
  CHECK_THAT(message("age,bp,label\n1,2,0\n"), Catch::Contains("found 3 columns: 'age', 'bp', 'label'"));
  data::csv_options semi;
  semi.delimiter = ';';
  CHECK(message("age;y\n1;0\n2,5;1\n", semi).find("is the delimiter ','?") != std::string::npos);
  CHECK_THAT(message("a,y\n\"1,0\n"), Catch::Contains("not closed before the end of the input"));
  CHECK_THAT(message("a,y\n\"1\"x,0\n"), Catch::Contains("csv line 2: text after the closing quote"));
  CHECK_THAT(message("a,y\n1\"2,0\n"), Catch::Contains("a quote inside an unquoted field"));
  data::csv_options small;
  small.max_record_bytes = 16;
  CHECK_THAT(message("a,y\n\"1\n2\n3\n4\n5\n6\n7\n8\n9\n", small), Catch::Contains("record longer than 16 bytes"));
}

TEST_CASE("Dirichlet partitions can require a minimum client size", "[data][partition]") {
  const auto d = data::paper_random(1000, 2, 5).train;
  const auto smallest = [](const std::vector<data::dataset>& parts) {
    std::size_t lo = SIZE_MAX;
    for (const auto& p : parts) lo = std::min(lo, p.size());
    return lo;
  };
  // alpha = 0.1 without a minimum leaves some of 10 clients with (almost) nothing...
  const auto free = data::partition_dirichlet_labels(d, 10, 0.1, 3);
  CHECK(smallest(free) < 20);
  // ...the default (no minimum) draws exactly what it drew before the option existed...
  CHECK(data::partition_dirichlet_labels(d, 10, 0.1, 3, 0)[0].x == free[0].x);
  // ...and a minimum of 20 redraws until every client has 20, still a permutation of the data.
  const auto floored = data::partition_dirichlet_labels(d, 10, 0.5, 3, 20);
  CHECK(smallest(floored) >= 20);
  CHECK(is_permutation_of(floored, d));
  CHECK(data::partition_dirichlet_labels(d, 10, 0.5, 3, 20)[7].x == floored[7].x);
  CHECK_THROWS_WITH(data::partition_dirichlet_labels(d, 10, 0.5, 3, 101), Catch::Contains("need 1010, the dataset has 1000"));
  // 10 clients each holding 99% of a label is impossible with alpha = 0.01: the draw limit is reported.
  CHECK_THROWS_WITH(data::partition_dirichlet_labels(d, 10, 0.01, 3, 95), Catch::Contains("use a larger alpha"));

  const auto q = data::partition_quantity_skew(d, 10, 0.3, 9, 50);
  CHECK(smallest(q) >= 50);
  CHECK(total(q) == 1000);
  CHECK(is_permutation_of(q, d));
  CHECK(data::partition_quantity_skew(d, 10, 0.3, 9, 1)[2].x == data::partition_quantity_skew(d, 10, 0.3, 9)[2].x);
  CHECK_THROWS_AS(data::partition_quantity_skew(d, 10, 0.3, 9, 101), hefl::invalid_argument);
}
