// Federated-learning costs, one row per mode of fl::federated_trainer:
// - plaintext: a local gradient step; one federated run on the plain backend; each aggregation rule
//   on 10 updates;
// - encrypted data, public weights (FL-FHE): one local epoch of one client (1000 samples x 5
//   features, N = 16384, 128-bit secure): the compute party's gradient on the packed layout
//   (fl::packed_gradient) and the key holder's decryption of the one ciphertext holding the 6
//   gradient sums;
// - encrypted data and weights (FL-FHE-model): one local epoch of the same client: the compute
//   party's epoch on encrypted data and weights and the key holder's refresh (decrypt and re-encrypt
//   the parameters), packed as the trainer runs it (data and parameters one ciphertext each,
//   fl/packed_model_epoch.hpp) and, for comparison, unpacked (one ciphertext per parameter); and the
//   packed epoch's phases one by one;
// - encrypted updates (FL-CKKS): one round of 10 clients through the trainer (N = 8192).
// The encrypted rows run on one thread (hefl::set_thread_count(1)); the args give the thread count.
#include <hefl/crypto/botan_random.hpp>
#include <hefl/fl/ckks_model_parameters.hpp>
#include <hefl/hefl.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>

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

// One client's encrypted data (depth 4: w·x, cubic, e·x) at N = 16384: fl::ckks_encrypted_data_parameters(4)
// {60, 50 x 4 | 54, 54, 54} (scale 2^50, the FL-FHE chain: room to flood the gradient sums; 3 special
// primes chosen by the helper), or
// {60, 40 x 4, 60} at scale 2^40 (the chain the target names, for the encrypted-weights epoch
// without its final flooded publication); N = 32768 he::ckks_encrypted_model_parameters(4), the
// FL-FHE-model chain of the unpacked epoch; and fl::ckks_packed_model_parameters(4) (N = 16384,
// {60, 55 x 4 | 58, 58}, scale 2^55), the FL-FHE-model chain of the packed epoch; 4 and 5: the
// same two chains with one special prime (special_primes{1}, the layout before hybrid key switching),
// for comparison. Every epoch benchmark reports the bytes of the key holder's evaluation_keys()
// (relinearization and the Galois keys of fhe_options) as the counter eval_key_bytes. Made once and never destroyed: Botan's allocator must outlive the RNG, and a
// leak at exit is harmless here. The key holder keeps its default budget of flooded values (16384),
// so the data epoch runs a fixed 40 iterations per repetition (6 values each).
hefl::he::ckks::parameters fhe_parameters(int which) {
  if (which == 0) return hefl::fl::ckks_encrypted_data_parameters(4);
  if (which == 1) return hefl::he::ckks::parameters(16384, {60, 40, 40, 40, 40, 60}, 40);
  if (which == 2) return hefl::he::ckks_encrypted_model_parameters(4);
  if (which == 3) return hefl::fl::ckks_packed_model_parameters(4);
  if (which == 4) return hefl::fl::ckks_encrypted_data_parameters(4, hefl::he::ckks::special_primes{1});
  return hefl::fl::ckks_packed_model_parameters(4, hefl::he::ckks::special_primes{1});
}
// The Galois keys of parameter set `which`, exactly those its benchmarks rotate by
// (fl::rotation_steps_for_layout for 1000 samples x 5 features): the packed layout's (every power of
// two below its period, 8192 slots here) for the packed epochs, sum_slots' for the unpacked one
// (sets 1 and 2). Relinearization as by default. With HEFL_FL_BENCH_ALL_ROTATIONS=1 in the
// environment, the default key set instead (sum_slots' steps and every ±2^i), for comparison.
hefl::he::ckks_backend_options fhe_options(int which, std::size_t slots) {
  using hefl::fl::encrypted_layout;
  if (const char* all = std::getenv("HEFL_FL_BENCH_ALL_ROTATIONS"); all != nullptr && std::string(all) == "1") return {};
  hefl::he::rotation_key_set keys;
  if (which != 2) keys.merge(hefl::fl::rotation_steps_for_layout(encrypted_layout::packed, slots, 1000, 5));
  if (which == 1 || which == 2) keys.merge(hefl::fl::rotation_steps_for_layout(encrypted_layout::columns, slots, 1000, 5));
  hefl::he::ckks_backend_options o;
  o.exact_rotations = std::move(keys);
  return o;
}
struct fhe_env {
  explicit fhe_env(int which) : fhe_env(fhe_parameters(which), which) {}
  fhe_env(const hefl::he::ckks::parameters& params, int which)
      : backend(params, rng, fhe_options(which, params.slot_count())) {}
  hefl::crypto::system_random rng;
  hefl::he::ckks_backend backend;
  hefl::data::train_test data = hefl::data::paper_random(1000, 5, 7);
  hefl::fl::encrypted_dataset<hefl::he::ckks_server> encrypted = load(backend, data.train);
  hefl::fl::model_packing packing = *hefl::fl::pack_model(backend.server(), data.train.size(), 5);
  hefl::fl::packed_model_dataset<hefl::he::ckks_server> packed = load_packed(backend, data.train, packing);
  hefl::model::logistic_regression model = start();

  static hefl::fl::encrypted_dataset<hefl::he::ckks_server> load(hefl::he::ckks_backend& b, const hefl::data::dataset& d) {
    const auto mine = hefl::fl::encrypt_dataset(b.client(), d);
    std::vector<hefl::he::ckks::ciphertext> columns;
    for (const auto& c : mine.columns) columns.push_back(b.server().deserialize(b.client().serialize(c)));
    return {std::move(columns), b.server().deserialize(b.client().serialize(mine.labels)), mine.samples};
  }
  static hefl::fl::packed_model_dataset<hefl::he::ckks_server> load_packed(hefl::he::ckks_backend& b,
                                                                           const hefl::data::dataset& d,
                                                                           const hefl::fl::model_packing& p) {
    const auto mine = hefl::fl::encrypt_packed_dataset(b.client(), d, p);
    return {b.server().deserialize(b.client().serialize(mine.data)),
            b.server().deserialize(b.client().serialize(mine.labels)), p};
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
  static fhe_env* env[6] = {};
  if (env[which] == nullptr) env[which] = new fhe_env(which);
  return *env[which];
}

// Args: threads; parameter set (0: FL-FHE default N = 16384 scale 2^50; 4: the same chain, one special prime).
void bm_encrypted_data_epoch(benchmark::State& state) {
  hefl::set_thread_count(static_cast<int>(state.range(0)));
  auto& f = fhe(static_cast<int>(state.range(1)));
  const auto& server = f.backend.server();
  auto& holder = f.backend.key_holder();
  const hefl::model::train_options o{.epochs = 1, .learning_rate = 1.0, .l2 = 0.05};
  const auto sigma = hefl::approx::paper_sigmoid3();
  // What the trainer runs: the gradient on the packed layout (fl::packed_gradient: data one
  // ciphertext, weights one plaintext, the 6 sums in one ciphertext) and one decryption that publishes
  // the 6 sums, Gaussian-flooded (unbounded_noise::estimate_and_flood).
  const std::vector<std::size_t> slots = f.packing.parameter_slots();
  const auto unit = hefl::he::published_noise::computed(static_cast<double>(f.packing.samples));
  for (auto _ : state) {
    const auto packed = hefl::fl::packed_gradient(server, f.packed, f.model.weights(), f.model.bias(), sigma);
    const std::vector<double> sums = holder.decrypt_for_sharing(packed, unit, slots);
    const Eigen::VectorXd g = hefl::fl::gradient_from_sums(sums, f.packing.samples, f.model.weights(), o.l2);
    benchmark::DoNotOptimize(g.data());
  }
  state.counters["eval_key_bytes"] = static_cast<double>(holder.evaluation_keys().size());
  hefl::set_thread_count(0);
}
BENCHMARK(bm_encrypted_data_epoch)
    ->Args({1, 0})
    ->Args({2, 0})
    ->Args({1, 4})
    ->Iterations(40)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Args: threads; parameter set (1: N = 16384 scale 2^40, the configuration; 3: the FL-FHE-model
// chain of the packed epoch, N = 16384 scale 2^55; 5: the same chain, one special prime). One epoch as the trainer runs it: the packed
// epoch (fl::packed_model_epoch) and the key holder's refresh (raw decryption of the one result,
// the 6 parameter slots read, the next parameters encrypted in the layout; the trainer floods only
// the last epoch's model, once per round).
void bm_encrypted_model_epoch(benchmark::State& state) {
  hefl::set_thread_count(static_cast<int>(state.range(0)));
  auto& f = fhe(static_cast<int>(state.range(1)));
  const auto& server = f.backend.server();
  auto& holder = f.backend.key_holder();
  const hefl::model::train_options o{.epochs = 1, .learning_rate = 1.0, .l2 = 0.05};
  const auto sigma = hefl::approx::paper_sigmoid3();
  const auto slots = f.packing.parameter_slots();
  // The parameters in the sigmoid's unit coordinates (a·θ), so mapping w·x + b into [-1, 1] for the
  // Chebyshev plan costs no level.
  auto params = hefl::fl::encrypt_packed_parameters(holder, f.packing,
                                                    hefl::fl::to_unit_parameters(f.model.parameters(), sigma));
  for (auto _ : state) {
    const auto next = hefl::fl::packed_model_epoch(server, f.packed, params, o, sigma);
    const std::vector<double> all = holder.decrypt(next);
    Eigen::VectorXd p(static_cast<Eigen::Index>(slots.size()));
    for (std::size_t j = 0; j < slots.size(); ++j) p(static_cast<Eigen::Index>(j)) = all[slots[j]];
    params = hefl::fl::encrypt_packed_parameters(holder, f.packing, p);
    benchmark::DoNotOptimize(params);
  }
  state.counters["eval_key_bytes"] = static_cast<double>(holder.evaluation_keys().size());
  hefl::set_thread_count(0);
}
BENCHMARK(bm_encrypted_model_epoch)
    ->Args({1, 1})
    ->Args({2, 1})
    ->Args({1, 3})
    ->Args({2, 3})
    ->Args({1, 5})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The packed epoch of bm_encrypted_model_epoch phase by phase (one thread, parameter set as there),
// reported as counters in ms per epoch: z (the product θ·x and the sum over the blocks), sigmoid
// (the Chebyshev plan and c·y), sums (the product e·x and the sum within the blocks), update (the
// decayed parameters minus the sums), decrypt and encrypt (the key holder's refresh).
void bm_encrypted_model_phases(benchmark::State& state) {
  hefl::set_thread_count(1);
  auto& f = fhe(static_cast<int>(state.range(0)));
  const auto& server = f.backend.server();
  auto& holder = f.backend.key_holder();
  const auto sigma = hefl::fl::make_sigmoid_plan(hefl::approx::paper_sigmoid3());
  const auto& pk = f.packing;
  const double c = sigma.scale() / static_cast<double>(pk.samples);
  const auto params = hefl::fl::encrypt_packed_parameters(holder, pk, hefl::fl::to_unit_parameters(f.model.parameters(), sigma));
  Eigen::VectorXd factors = Eigen::VectorXd::Constant(6, 0.95);
  factors(5) = 1.0;
  const std::vector<double> spread = pk.spread(factors);
  double ms[6] = {};
  using clock = std::chrono::steady_clock;
  const auto lap = [](clock::time_point& t) {
    const auto now = clock::now();
    const double d = std::chrono::duration<double, std::milli>(now - t).count();
    t = now;
    return d;
  };
  for (auto _ : state) {
    auto t = clock::now();
    auto z = server.multiply(params, f.packed.data);
    for (std::size_t step = pk.block; step < pk.period(); step *= 2) server.add_inplace(z, server.rotate(z, static_cast<int>(step)));
    ms[0] += lap(t);
    const auto error = server.sub(sigma.scaled_plan(c).evaluate(server, z), server.multiply_scalar(f.packed.labels, c));
    ms[1] += lap(t);
    auto sums = server.multiply(error, f.packed.data);
    for (std::size_t step = 1; step < pk.block; step *= 2) server.add_inplace(sums, server.rotate(sums, static_cast<int>(step)));
    ms[2] += lap(t);
    const auto next = server.sub(server.multiply_plain(params, spread), sums);
    ms[3] += lap(t);
    const std::vector<double> all = holder.decrypt(next);
    ms[4] += lap(t);
    Eigen::VectorXd p(6);
    for (std::size_t j = 0; j < 6; ++j) p(static_cast<Eigen::Index>(j)) = all[j * pk.block];
    benchmark::DoNotOptimize(hefl::fl::encrypt_packed_parameters(holder, pk, p));
    ms[5] += lap(t);
  }
  const char* names[6] = {"z_ms", "sigmoid_ms", "sums_ms", "update_ms", "decrypt_ms", "encrypt_ms"};
  for (int i = 0; i < 6; ++i) state.counters[names[i]] = ms[i] / static_cast<double>(state.iterations());
  hefl::set_thread_count(0);
}
BENCHMARK(bm_encrypted_model_phases)->Arg(3)->Unit(benchmark::kMillisecond)->UseRealTime();

// For comparison, the unpacked epoch (fl::encrypted_model_epoch_unit: one ciphertext per parameter,
// each summed over all N/2 slots, and 6 decryptions and encryptions in the refresh) on the same
// parameter sets (1; 2: N = 32768 scale 2^60, the chain it needs for flooding).
void bm_encrypted_model_epoch_unpacked(benchmark::State& state) {
  hefl::set_thread_count(static_cast<int>(state.range(0)));
  auto& f = fhe(static_cast<int>(state.range(1)));
  const auto& server = f.backend.server();
  auto& holder = f.backend.key_holder();
  const hefl::model::train_options o{.epochs = 1, .learning_rate = 1.0, .l2 = 0.05};
  const auto sigma = hefl::approx::paper_sigmoid3();
  auto params = hefl::fl::encrypt_parameters(holder, hefl::fl::to_unit_parameters(f.model.parameters(), sigma));
  for (auto _ : state) {
    const auto next = hefl::fl::encrypted_model_epoch_unit(server, f.encrypted, params, o, sigma);
    Eigen::VectorXd p(static_cast<Eigen::Index>(next.size()));
    for (std::size_t j = 0; j < next.size(); ++j) p(static_cast<Eigen::Index>(j)) = holder.decrypt(next[j])[0];
    params = hefl::fl::encrypt_parameters(holder, p);
    benchmark::DoNotOptimize(params.data());
  }
  hefl::set_thread_count(0);
}
BENCHMARK(bm_encrypted_model_epoch_unpacked)->Args({1, 1})->Args({1, 2})->Unit(benchmark::kMillisecond)->UseRealTime();

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
