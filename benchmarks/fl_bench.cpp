// Federated-learning costs, one row per mode of fl::federated_trainer:
// - plaintext: a local gradient step; one federated run on the plain backend; each aggregation rule
//   on 10 updates;
// - encrypted data, public weights (FL-FHE): one local epoch of one client (1000 samples x 5
//   features, N = 16384, 128-bit secure): the compute party's packed gradient on the encrypted
//   columns and the key holder's decryption of the one ciphertext holding the 6 gradient sums;
// - encrypted data and weights (FL-FHE-model): one local epoch of the same client: the compute
//   party's epoch on encrypted data and weights and the key holder's refresh (decrypt and re-encrypt
//   the 6 parameters);
// - encrypted updates (FL-CKKS): one round of 10 clients through the trainer (N = 8192).
// The encrypted rows run on one thread (hefl::set_thread_count(1)); the args give the thread count.
#include <hefl/crypto/botan_random.hpp>
#include <hefl/hefl.hpp>

#include <benchmark/benchmark.h>

#include <memory>

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

// One client's encrypted data (depth 4: w·x, cubic, e·x) at N = 16384: he::ckks_encrypted_data_parameters(4)
// {60, 50 x 4, 60} (scale 2^50, the trainer's FL-FHE default: room to flood the gradient sums), or
// {60, 40 x 4, 60} at scale 2^40 (the chain the target names, for the encrypted-weights epoch
// without its final flooded publication); and N = 32768 he::ckks_encrypted_model_parameters(4), the
// FL-FHE-model default. Made once and never destroyed: Botan's allocator must outlive the RNG, and a
// leak at exit is harmless here. The key holder keeps its default budget of flooded values (16384),
// so the data epoch runs a fixed 40 iterations per repetition (6 values each).
hefl::he::ckks::parameters fhe_parameters(int which) {
  if (which == 0) return hefl::he::ckks_encrypted_data_parameters(4);
  if (which == 1) return hefl::he::ckks::parameters(16384, {60, 40, 40, 40, 40, 60}, 40);
  return hefl::he::ckks_encrypted_model_parameters(4);
}
struct fhe_env {
  explicit fhe_env(int which) : backend(fhe_parameters(which), rng) {}
  hefl::crypto::system_random rng;
  hefl::he::ckks_backend backend;
  hefl::data::train_test data = hefl::data::paper_random(1000, 5, 7);
  hefl::fl::encrypted_dataset<hefl::he::ckks_server> encrypted = load(backend, data.train);
  hefl::model::logistic_regression model = start();

  static hefl::fl::encrypted_dataset<hefl::he::ckks_server> load(hefl::he::ckks_backend& b, const hefl::data::dataset& d) {
    const auto mine = hefl::fl::encrypt_dataset(b.client(), d);
    std::vector<hefl::he::ckks::ciphertext> columns;
    for (const auto& c : mine.columns) columns.push_back(b.server().deserialize(b.client().serialize(c)));
    return {std::move(columns), b.server().deserialize(b.client().serialize(mine.labels)), mine.samples};
  }
  static hefl::model::logistic_regression start() {
    hefl::model::logistic_regression m(5);
    Eigen::VectorXd p(6);
    p << 0.4, -0.3, 0.05, -0.02, 0.01, 0.1;
    m.set_parameters(p);
    return m;
  }
};
fhe_env& fhe(int which) {
  static fhe_env* env[3] = {};
  if (env[which] == nullptr) env[which] = new fhe_env(which);
  return *env[which];
}

// Args: threads; parameter set (0: FL-FHE default N = 16384 scale 2^50).
void bm_encrypted_data_epoch(benchmark::State& state) {
  hefl::set_thread_count(static_cast<int>(state.range(0)));
  auto& f = fhe(static_cast<int>(state.range(1)));
  const auto& server = f.backend.server();
  auto& holder = f.backend.key_holder();
  const hefl::model::train_options o{.epochs = 1, .learning_rate = 1.0, .l2 = 0.05};
  const auto sigma = hefl::approx::paper_sigmoid3();
  // What the trainer runs: the packed gradient (6 sums in one ciphertext) and one decryption that
  // publishes the 6 sums, Gaussian-flooded (unbounded_noise::estimate_and_flood).
  const std::size_t block = hefl::fl::packed_gradient_block(server, f.encrypted.samples, f.encrypted.features());
  std::vector<std::size_t> slots(6);
  for (std::size_t j = 0; j < slots.size(); ++j) slots[j] = j * block;
  const auto unit = hefl::he::published_noise::computed(static_cast<double>(f.encrypted.samples));
  for (auto _ : state) {
    const auto packed =
        hefl::fl::encrypted_gradient_packed(server, f.encrypted, f.model.weights(), f.model.bias(), sigma, block);
    const std::vector<double> sums = holder.decrypt_for_sharing(packed, unit, slots);
    const Eigen::VectorXd g = hefl::fl::gradient_from_sums(sums, f.encrypted.samples, f.model.weights(), o.l2);
    benchmark::DoNotOptimize(g.data());
  }
  hefl::set_thread_count(0);
}
BENCHMARK(bm_encrypted_data_epoch)
    ->Args({1, 0})
    ->Args({2, 0})
    ->Iterations(40)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Args: threads; parameter set (1: N = 16384 scale 2^40, the configuration; 2: the FL-FHE-model
// default N = 32768 scale 2^60). The loop is one epoch and the key holder's refresh (raw: the values
// stay with it); the trainer floods only the last epoch's model, once per round.
void bm_encrypted_model_epoch(benchmark::State& state) {
  hefl::set_thread_count(static_cast<int>(state.range(0)));
  auto& f = fhe(static_cast<int>(state.range(1)));
  const auto& server = f.backend.server();
  auto& holder = f.backend.key_holder();
  const hefl::model::train_options o{.epochs = 1, .learning_rate = 1.0, .l2 = 0.05};
  const auto sigma = hefl::approx::paper_sigmoid3();
  // What the trainer runs: the parameters in the sigmoid's unit coordinates (a·θ), so mapping
  // w·x + b into [-1, 1] for the Chebyshev plan costs no level.
  auto params = hefl::fl::encrypt_parameters(holder, hefl::fl::to_unit_parameters(f.model.parameters(), sigma));
  for (auto _ : state) {
    const auto next = hefl::fl::encrypted_model_epoch_unit(server, f.encrypted, params, o, sigma);
    // The key holder's refresh: decrypt each parameter (slot 0) and re-encrypt it in every slot.
    Eigen::VectorXd p(static_cast<Eigen::Index>(next.size()));
    for (std::size_t j = 0; j < next.size(); ++j) p(static_cast<Eigen::Index>(j)) = holder.decrypt(next[j])[0];
    params = hefl::fl::encrypt_parameters(holder, p);
    benchmark::DoNotOptimize(params.data());
  }
  hefl::set_thread_count(0);
}
BENCHMARK(bm_encrypted_model_epoch)
    ->Args({1, 1})
    ->Args({2, 1})
    ->Args({1, 2})
    ->Args({2, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// FL-CKKS: one round of 10 clients with 100 samples x 5 features; uploads encrypted at N = 8192.
void bm_encrypted_updates_round(benchmark::State& state) {
  hefl::set_thread_count(static_cast<int>(state.range(0)));
  static auto* rng = new hefl::crypto::system_random;
  static auto* backend = new hefl::he::ckks_backend(hefl::he::ckks_aggregation_parameters(), *rng,
                                                    hefl::he::ckks_backend_options{false, false, {}});
  const auto d = hefl::data::paper_random(1000, 5, 1);
  const auto parts = hefl::data::partition_iid(d.train, 10, 1);
  hefl::fl::trainer_config cfg;
  cfg.rounds = 1;
  for (auto _ : state) {
    hefl::model::logistic_regression m(5);
    hefl::fl::federated_trainer<hefl::he::ckks_backend> trainer(*backend, cfg);
    benchmark::DoNotOptimize(trainer.fit(m, parts, d.test));
  }
  hefl::set_thread_count(0);
}
BENCHMARK(bm_encrypted_updates_round)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

} // namespace

BENCHMARK_MAIN();
