#include <hefl/hefl.hpp>

#include <catch2/catch.hpp>

using namespace hefl;

TEST_CASE("federated trainer reaches the paper's FL accuracy and reports every round", "[fl]") {
  const auto d = data::paper_random(1000, 3, 73);
  he::plain_backend backend(64);
  fl::trainer_config cfg;
  fl::federated_trainer<he::plain_backend> trainer(backend, cfg);
  model::logistic_regression m(3);
  std::vector<int> seen;
  const auto history = trainer.fit(m, d.train, d.test, [&](const fl::round_metrics& r) { seen.push_back(r.round); });
  REQUIRE(history.size() == 5);
  CHECK(seen == std::vector<int>{1, 2, 3, 4, 5});
  CHECK(history.back().accuracy >= 0.97);
  CHECK(history.back().loss < history.front().loss);
}

TEST_CASE("with one local step, FedAvg over equal shares equals centralised gradient descent", "[fl]") {
  const auto d = data::paper_random(1000, 2, 4);
  he::plain_backend backend(16);
  fl::trainer_config cfg;
  cfg.local.epochs = 1;
  model::logistic_regression federated(2), central(2);
  fl::federated_trainer<he::plain_backend>(backend, cfg).fit(federated, d.train, d.test);
  central.train(d.train, {.epochs = cfg.rounds, .learning_rate = cfg.local.learning_rate, .l2 = cfg.local.l2});
  CHECK((federated.parameters() - central.parameters()).norm() < 1e-12);
}

TEST_CASE("federated training is deterministic for a seed", "[fl]") {
  const auto d = data::paper_random(500, 5, 9);
  he::plain_backend backend(16);
  fl::trainer_config cfg;
  cfg.local.epochs = 3;
  const auto run = [&](std::uint64_t seed) {
    cfg.seed = seed;
    model::logistic_regression m(5);
    const auto parts = data::partition_quantity_skew(d.train, cfg.clients, 0.5, seed);
    fl::federated_trainer<he::plain_backend, model::logistic_regression, aggregate::fedavg,
                          approx::polynomial_sigmoid>(backend, cfg, approx::paper_sigmoid3())
        .fit(m, parts, d.test);
    return m.parameters();
  };
  const Eigen::VectorXd a = run(1), b = run(1), c = run(2);
  CHECK(a == b);  // bit-for-bit
  CHECK(a != c);
}

TEST_CASE("robust rules train through a poisoning client on the plain backend", "[fl]") {
  const auto d = data::paper_random(1000, 2, 12);
  auto parts = data::partition_iid(d.train, 10, 1);
  parts[0].y = Eigen::VectorXd::Ones(parts[0].y.size()) - parts[0].y;  // label-flipping attacker
  parts[0].x *= 50.0;                                                   // with a large gradient
  he::plain_backend backend(16);
  fl::trainer_config cfg;
  model::logistic_regression robust(2), naive(2);
  fl::federated_trainer<he::plain_backend, model::logistic_regression, aggregate::median>(backend, cfg)
      .fit(robust, parts, d.test);
  fl::federated_trainer<he::plain_backend>(backend, cfg).fit(naive, parts, d.test);
  CHECK(robust.accuracy(d.test) > 0.95);
  CHECK(naive.accuracy(d.test) < robust.accuracy(d.test));
}

TEST_CASE("federated trainer skips empty clients and rejects bad setups", "[fl]") {
  const auto d = data::paper_random(600, 2, 1);
  he::plain_backend backend(16);
  fl::trainer_config cfg;
  cfg.clients = 3;
  auto parts = data::partition_iid(d.train, 3, 1);
  parts[1] = data::dataset{Eigen::MatrixXd(0, 2), Eigen::VectorXd(0)};
  model::logistic_regression m(2);
  fl::federated_trainer<he::plain_backend> trainer(backend, cfg);
  CHECK(trainer.fit(m, parts, d.test).back().accuracy > 0.9);

  const std::vector<data::dataset> two(parts.begin(), parts.begin() + 2);
  CHECK_THROWS_WITH(trainer.fit(m, two, d.test), Catch::Contains("2 client datasets but config.clients = 3"));
  CHECK_THROWS_WITH(trainer.fit(m, parts, data::dataset{}), Catch::Contains("empty test set"));

  he::plain_backend tiny(2);
  fl::federated_trainer<he::plain_backend, model::logistic_regression, aggregate::fedavg, approx::exact_sigmoid,
                        fl::plaintext_training, fl::encrypted_updates>
      cramped(tiny, cfg);
  CHECK_THROWS_WITH(cramped.fit(m, parts, d.test), Catch::Contains("3 parameters do not fit in 2 slots"));

  fl::trainer_config bad = cfg;
  bad.rounds = 0;
  CHECK_THROWS_AS(fl::federated_trainer<he::plain_backend>(backend, bad), hefl::invalid_argument);
  bad = cfg;
  bad.local.learning_rate = -1;
  CHECK_THROWS_AS(fl::federated_trainer<he::plain_backend>(backend, bad), hefl::invalid_argument);
}

TEST_CASE("encrypted FedAvg weights by integer sample counts and spends no level", "[fl][he]") {
  const auto d = data::paper_random(100, 2, 1);
  fl::trainer_config cfg;
  cfg.clients = 2;
  using encrypted_fedavg = fl::federated_trainer<he::plain_backend, model::logistic_regression, aggregate::fedavg,
                                                 approx::exact_sigmoid, fl::plaintext_training, fl::encrypted_updates>;
  // A backend with no level at all still aggregates: Σ n_k·Enc(θ_k) multiplies by integers only, and
  // the division by Σ n_k happens after decryption.
  he::plain_backend no_depth(8, 0);
  model::logistic_regression enc(2), clear(2);
  const auto parts = data::partition_quantity_skew(d.train, 2, 0.5, 3);
  REQUIRE(parts[0].size() != parts[1].size());
  encrypted_fedavg(no_depth, cfg).fit(enc, parts, d.test);
  fl::federated_trainer<he::plain_backend>(no_depth, cfg).fit(clear, parts, d.test);
  CHECK((enc.parameters() - clear.parameters()).cwiseAbs().maxCoeff() < 1e-12);
}
