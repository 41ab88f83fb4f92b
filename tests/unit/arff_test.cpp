#include <hefl/data/arff.hpp>
#include <hefl/data/pima.hpp>
#include <hefl/data/split.hpp>
#include <hefl/data/partition.hpp>
#include <hefl/data/standardize.hpp>
#include <hefl/fl/federated_trainer.hpp>
#include <hefl/he/plain_backend.hpp>

#include <catch2/catch.hpp>

#include <sstream>

using namespace hefl;

namespace {
data::arff_options positive(std::string value) {
  data::arff_options o;
  o.positive_class = std::move(value);
  return o;
}
data::arff_dataset parse(const std::string& text, const data::arff_options& o) {
  std::istringstream in(text);
  return data::read_arff(in, o);
}
const std::string small_arff =
    "% a comment\n"
    "@RELATION 'tiny set'\n"
    "\n"
    "@attribute 'heart rate' numeric\n"
    "@Attribute \"spo2\" REAL\n"
    "   % an indented comment\n"
    "@attribute age integer\n"
    "@attribute outcome { sick, 'well' , unknown}\n"
    "@data\n"
    "72, 97.5, 40, sick\n"
    "80,99,31,well\n"
    "% comment inside data\n"
    "65,98,55,'unknown'\n";
} // namespace

TEST_CASE("ARFF loader reads numeric attributes and a nominal class", "[data][arff]") {
  const auto a = parse(small_arff, positive("sick"));
  REQUIRE(a.data.size() == 3);
  REQUIRE(a.data.features() == 3);
  CHECK(a.info.relation == "tiny set");
  CHECK(a.info.feature_names == std::vector<std::string>{"heart rate", "spo2", "age"});
  CHECK(a.info.class_attribute == "outcome");
  CHECK(a.info.class_values == std::vector<std::string>{"sick", "well", "unknown"});
  CHECK(a.data.x(0, 1) == 97.5);
  CHECK(a.data.x(2, 2) == 55);
  // The chosen value is 1, every other value 0.
  CHECK(a.data.y(0) == 1);
  CHECK(a.data.y(1) == 0);
  CHECK(a.data.y(2) == 0);
  const auto b = parse(small_arff, positive("well"));
  CHECK(b.data.y(1) == 1);
  CHECK(b.data.y(0) == 0);
}

TEST_CASE("ARFF loader: the class attribute can be chosen by name", "[data][arff]") {
  auto o = positive("yes");
  o.class_attribute = "c";
  const auto a = parse("@relation r\n@attribute c {no,yes}\n@attribute x numeric\n@data\nyes,1.5\nno,2\n", o);
  CHECK(a.data.x(0, 0) == 1.5);
  CHECK(a.data.y(0) == 1);
  CHECK(a.info.feature_names == std::vector<std::string>{"x"});
}

TEST_CASE("ARFF loader: missing values are refused with the line, or rows dropped by policy", "[data][arff]") {
  const std::string text = "@relation r\n@attribute x numeric\n@attribute c {a,b}\n@data\n1,a\n?,b\n3,b\n";
  CHECK_THROWS_WITH(parse(text, positive("b")), Catch::Contains("arff line 6: missing value '?' for 'x'"));
  auto o = positive("b");
  o.missing = data::arff_missing::drop_row;
  const auto a = parse(text, o);
  CHECK(a.data.size() == 2);
  CHECK(a.info.dropped_rows == 1);
  CHECK(a.data.x(1, 0) == 3);
  CHECK_THROWS_WITH(parse("@relation r\n@attribute x numeric\n@attribute c {a,b}\n@data\n?,a\n", o),
                    Catch::Contains("every one of 1 rows has a missing value"));
}

TEST_CASE("ARFF loader refuses malformed files with line numbers", "[data][arff]") {
  const std::string head = "@relation r\n@attribute x numeric\n@attribute c {a,b}\n@data\n";
  const auto fails = [](const std::string& text, const std::string& message, const std::string& pos = "b") {
    CHECK_THROWS_WITH(parse(text, positive(pos)), Catch::Contains(message));
  };
  fails("", "no @relation line");
  fails("@relation r\n@attribute x numeric\n@attribute c {a,b}\n", "no @data section");
  fails(head, "arff line 4: @data is not followed by any data row");
  fails(head + "1,a\n2\n", "arff line 6: 1 values, 2 attributes declared");
  fails(head + "1,a,3\n", "arff line 5: 3 values");
  fails(head + "x1,a\n", "arff line 5, attribute 'x': 'x1' is not a finite number");
  fails(head + "nan,a\n", "is not a finite number");
  fails(head + "1,c\n", "arff line 5: class value 'c' is not one of {a, b}");
  fails(head + "1,\n", "arff line 5: the row ends with ','");
  fails(head + "{0 1, 1 a}\n", "arff line 5: sparse rows are not supported");
  fails(head + "1,a,{2}\n", "instance weights are not supported");
  fails(head + "1,a\n@attribute y numeric\n", "arff line 6: '@attribute y' after @data");
  fails(head + "'1,a\n", "unterminated quote");
  fails(head, "choose the positive class (arff_options::positive_class) among {a, b}", "");
  fails(head + "1,a\n", "arff line 3: positive class 'z' is not one of {a, b}", "z");
  fails("@relation r\n@attribute s string\n@attribute c {a,b}\n@data\n", "arff line 2: attribute 's' has type 'string'");
  fails("@relation r\n@attribute d date\n@attribute c {a,b}\n@data\n", "type 'date'");
  fails("@relation r\n@attribute n {u,v}\n@attribute c {a,b}\n@data\n", "arff line 2: nominal attribute 'n' is not the class");
  fails("@relation r\n@attribute x numeric\n@attribute c numeric\n@data\n", "arff line 3: class attribute 'c' is numeric");
  fails("@relation r\n@attribute x numeric\n@attribute x {a,b}\n@data\n", "arff line 3: duplicate attribute name 'x'");
  fails("@relation r\n@attribute x numeric\n@attribute c {a,b\n@data\n", "arff line 3: nominal attribute 'c' has no closing '}'");
  fails("@relation r\n@attribute x numeric\n@attribute c {a,a}\n@data\n", "declares 'a' twice");
  fails("@relation r\n@attribute x numeric\n@attribute c {a,b}\n@data\n", "@data is not followed", "a");
  fails("@relation r\n@attribute c {a,b}\n@data\na\n", "no feature attribute besides the class");
  fails("@relation r\n@attrib x numeric\n", "arff line 2: unknown keyword '@attrib'");
  fails("@attribute x numeric\n", "arff line 1: @attribute before @relation");
  fails("@relation r\nhello\n", "arff line 2: expected @relation, @attribute or @data");
  fails("@relation r\n@attribute x\n", "arff line 2: attribute 'x' has no type");
  auto o = positive("b");
  o.class_attribute = "label";
  CHECK_THROWS_WITH(parse(head + "1,a\n", o), Catch::Contains("no class attribute named 'label'; attributes: 'x', 'c'"));
  o = positive("b");
  o.max_rows = 1;
  CHECK_THROWS_WITH(parse(head + "1,a\n2,b\n", o), Catch::Contains("arff line 6: more than 1 rows"));
  CHECK_THROWS_AS(data::load_arff("/nonexistent/file.arff", positive("b")), hefl::io_error);
}

TEST_CASE("the Pima Indians diabetes data shipped in data/pima loads: 768 x 8, 500 negative, 268 positive",
          "[data][arff][pima]") {
  const auto d = data::pima_diabetes(std::string(HEFL_DATA_DIR) + "/pima/diabetes.arff");
  REQUIRE(d.size() == 768);
  REQUIRE(d.features() == 8);
  CHECK(d.y.sum() == 268);
  CHECK(static_cast<double>(d.size()) - d.y.sum() == 500);
  CHECK_NOTHROW(d.validate());
  // First row of the file: 6,148,72,35,0,33.6,0.627,50,tested_positive
  CHECK(d.x(0, 1) == 148);
  CHECK(d.x(0, 6) == 0.627);
  CHECK(d.y(0) == 1);
  // The file's header gives these means: glucose 120.9, BMI 32.0, age 33.2.
  CHECK(d.x.col(1).mean() == Approx(120.9).margin(0.05));
  CHECK(d.x.col(5).mean() == Approx(32.0).margin(0.05));
  CHECK(d.x.col(7).mean() == Approx(33.2).margin(0.05));
  // Split and standardise as a user would.
  const auto s = data::train_test_split(d, 1);
  const auto st = data::standardizer::fit(s.train);
  CHECK(st.transform(s.train).x.colwise().mean().cwiseAbs().maxCoeff() < 1e-12);
  CHECK_THROWS_AS(data::pima_diabetes("/nonexistent/diabetes.arff"), hefl::io_error);
}

TEST_CASE("Pima through the pipeline: split, federated standardisation, 10-client plaintext FedAvg", "[data][pima][fl]") {
  const auto d = data::pima_diabetes(std::string(HEFL_DATA_DIR) + "/pima/diabetes.arff");
  const auto s = data::train_test_split(d, 1);  // stratified, 25% test
  const auto raw_clients = data::partition_iid(s.train, 10, 2);
  // Each hospital sends (n, Σx, Σx²); nobody pools the raw records.
  const auto st = data::standardizer::fit_federated(raw_clients);
  std::vector<data::dataset> clients;
  for (const auto& c : raw_clients) clients.push_back(st.transform(c));
  const auto test = st.transform(s.test);

  he::plain_backend backend(16);
  fl::trainer_config cfg;
  cfg.rounds = 20;
  cfg.local.learning_rate = 0.5;
  cfg.local.l2 = 0.01;
  model::logistic_regression m(8);
  const auto h = fl::federated_trainer<he::plain_backend>(backend, cfg).fit(m, clients, test);
  // Always predicting "negative" scores 500/768 = 65%; a linear model must do clearly better.
  CHECK(h.back().accuracy > 0.72);
  // Without standardisation, raw clinical units (insulin up to 846) make the same run much worse.
  model::logistic_regression raw(8);
  const auto hr = fl::federated_trainer<he::plain_backend>(backend, cfg).fit(raw, raw_clients, s.test);
  CHECK(hr.back().accuracy < h.back().accuracy);
}
