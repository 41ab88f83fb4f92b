// Plaintext federated-learning costs: a local gradient step, one federated round on the plain
// backend, and each aggregation rule on 10 updates.
#include <hefl/hefl.hpp>

#include <benchmark/benchmark.h>

namespace {

void bm_local_step(benchmark::State& state) {
  const auto samples = static_cast<std::size_t>(state.range(0));
  const auto d = hefl::data::paper_random(samples, 5, 1);
  hefl::model::logistic_regression m(5);
  for (auto _ : state) {
    m.train(d.train, {.epochs = 1, .learning_rate = 1.0, .l2 = 0.05}, hefl::approx::paper_sigmoid3());
    benchmark::DoNotOptimize(m.bias());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * samples));
}
BENCHMARK(bm_local_step)->Arg(1000)->Arg(10000);

void bm_federated_run(benchmark::State& state) {
  const auto samples = static_cast<std::size_t>(state.range(0));
  const auto d = hefl::data::paper_random(samples, 5, 1);
  const auto parts = hefl::data::partition_iid(d.train, 10, 1);
  hefl::he::plain_backend backend(4096);
  hefl::fl::trainer_config cfg;
  for (auto _ : state) {
    hefl::model::logistic_regression m(5);
    hefl::fl::federated_trainer<hefl::he::plain_backend> trainer(backend, cfg);
    benchmark::DoNotOptimize(trainer.fit(m, parts, d.test));
  }
}
BENCHMARK(bm_federated_run)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

template <class Rule>
void bm_aggregate(benchmark::State& state) {
  hefl::deterministic_rng rng(3);
  std::vector<Eigen::VectorXd> updates;
  for (int k = 0; k < 10; ++k) {
    Eigen::VectorXd u(state.range(0));
    for (auto& v : u) v = rng.normal();
    updates.push_back(u);
  }
  const std::vector<double> weights(10, 100.0);
  const Rule rule{};
  for (auto _ : state) benchmark::DoNotOptimize(rule.aggregate(updates, weights));
}
BENCHMARK_TEMPLATE(bm_aggregate, hefl::aggregate::fedavg)->Arg(6)->Arg(10000);
BENCHMARK_TEMPLATE(bm_aggregate, hefl::aggregate::median)->Arg(6)->Arg(10000);
BENCHMARK_TEMPLATE(bm_aggregate, hefl::aggregate::trimmed_mean)->Arg(6)->Arg(10000);
BENCHMARK_TEMPLATE(bm_aggregate, hefl::aggregate::krum)->Arg(6)->Arg(10000);

} // namespace

BENCHMARK_MAIN();
