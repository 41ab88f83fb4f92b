// Threshold CKKS costs (issue 13, docs/threshold.md):
// 1. for 3, 10 and 30 parties at N = 16384 (he::ckks_encrypted_data_parameters(4): {60, 50 x 4 | 60}):
//    key generation (CKG, two-round RKG, RTG for rotations by 1, 2, 4, 8) per party and in total,
//    the bytes one party sends in each protocol round, and the time of one partial decryption (CKS
//    of a top-level ciphertext); with t-out-of-N (t = N/2 + 1) the dealing too;
// 2. one FL round of 10 hospitals (plaintext training, 1000 samples, 3 features) at the FL-CKKS preset
//    he::ckks_aggregation_parameters() (N = 8192): threshold_updates (10-of-10 and 6-of-10) against
//    single-key encrypted_updates, time of fit() and bytes (uploads + partial decryptions).
// Wall-clock on whatever machine runs it: the load average is printed before and after; figures from
// a loaded machine are upper bounds. Usage: threshold_bench [--quick] (--quick: 3 parties only).
#include <hefl/crypto/botan_random.hpp>
#include <hefl/hefl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

using namespace hefl;
namespace mp = hefl::he::ckks::multiparty;
using clock_type = std::chrono::steady_clock;

namespace {
double seconds_since(clock_type::time_point t) { return std::chrono::duration<double>(clock_type::now() - t).count(); }

std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

template <class Backend, class Transport>
using trainer = fl::federated_trainer<Backend, model::logistic_regression, aggregate::fedavg, approx::exact_sigmoid,
                                      fl::plaintext_training, Transport>;

double mb(std::uint64_t b) { return static_cast<double>(b) / 1e6; }
} // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  std::printf("load average before: %s\n", load_average().c_str());
  crypto::system_random rng;

  const he::ckks::parameters params = he::ckks_encrypted_data_parameters(4);
  std::printf("\n## Key generation, N = %zu, %zu primes, dnum = %zu; RKG and RTG for steps 1, 2, 4, 8\n\n",
              params.poly_degree(), params.primes().size(), params.digit_count());
  std::printf("| parties | t | setup total s | per party s | aggregation s | CKG B | RKG r1 B | RKG r2 B | RTG B (all) | "
              "dealing B | CKS share B | partial decryption ms |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  std::vector<std::size_t> counts{3, 10, 30};
  if (quick) counts = {3};
  for (const std::size_t k : counts) {
    for (const std::size_t t : {std::size_t{0}, k / 2 + 1}) {
      mp::session_seed seed{};
      rng.fill(seed);
      const auto t0 = clock_type::now();
      he::ckks_threshold_backend b(params, seed, k, rng,
                                   {.threshold = t, .relinearization = true, .rotation_steps = {1, 2, 4, 8}});
      const double total = seconds_since(t0);
      const auto& r = b.setup_report();
      // One partial decryption of a fresh top-level update, as in an FL round.
      const std::vector<double> x{0.5, -0.25, 1.0};
      const auto c = b.client().encrypt_update(x);
      std::vector<std::uint32_t> quorum;
      for (std::uint32_t i = 0; i < r.threshold; ++i) quorum.push_back(i);
      const he::ckks::flooding_parameters f{b.quorum().fresh_noise_bound(), 40};
      const int reps = 5;
      const auto t1 = clock_type::now();
      std::uint64_t share_bytes = 0;
      for (int i = 0; i < reps; ++i) share_bytes = mp::save(b.session(), b.party(0).partial_decryption(c, quorum, f)).size();
      const double partial_ms = seconds_since(t1) * 1000 / reps;
      std::printf("| %zu | %zu | %.2f | %.3f | %.3f | %llu | %llu | %llu | %llu | %llu | %llu | %.1f |\n", k, r.threshold,
                  total, r.seconds_per_party, r.seconds_aggregation, static_cast<unsigned long long>(r.ckg_bytes),
                  static_cast<unsigned long long>(r.rkg_round1_bytes), static_cast<unsigned long long>(r.rkg_round2_bytes),
                  static_cast<unsigned long long>(r.rtg_bytes), static_cast<unsigned long long>(r.dealing_bytes),
                  static_cast<unsigned long long>(share_bytes), partial_ms);
      std::fflush(stdout);
    }
  }

  const he::ckks::parameters agg = he::ckks_aggregation_parameters();
  const std::size_t hospitals = quick ? 3 : 10;
  std::printf("\n## One FL round, %zu hospitals, N = %zu (ckks_aggregation_parameters), 1000 samples, 3 features\n\n",
              hospitals, agg.poly_degree());
  const auto d = data::paper_random(1000, 3, 73);
  const auto parts = data::partition_iid(d.train, hospitals, 73);
  fl::trainer_config cfg;
  cfg.clients = hospitals;
  cfg.rounds = 1;
  std::printf("| mode | fit s | uploads B | partial decryptions B | accuracy |\n|---|---|---|---|---|\n");
  double single_seconds = 0;
  std::uint64_t single_bytes = 0;
  {
    he::ckks_backend single(agg, rng, {.relinearization = false, .rotations = false});
    model::logistic_regression m(3);
    const auto t0 = clock_type::now();
    const auto h = trainer<he::ckks_backend, fl::encrypted_updates>(single, cfg).fit(m, parts, d.test);
    single_seconds = seconds_since(t0);
    for (const auto b : h[0].bytes_uploaded) single_bytes += b;
    std::printf("| single key | %.3f | %llu | 0 | %.3f |\n", single_seconds, static_cast<unsigned long long>(single_bytes),
                h[0].accuracy);
  }
  for (const std::size_t t : {std::size_t{0}, hospitals / 2 + 1}) {
    mp::session_seed seed{};
    rng.fill(seed);
    he::ckks_threshold_backend b(agg, seed, hospitals, rng, {.threshold = t});
    model::logistic_regression m(3);
    const auto t0 = clock_type::now();
    const auto h = trainer<he::ckks_threshold_backend, fl::threshold_updates>(b, cfg).fit(m, parts, d.test);
    const double s = seconds_since(t0);
    std::uint64_t up = 0;
    for (const auto x : h[0].bytes_uploaded) up += x;
    const std::uint64_t cks = b.quorum().share_bytes_total();
    std::printf("| threshold %zu-of-%zu | %.3f | %llu | %llu | %.3f |\n", b.quorum().threshold(), hospitals, s,
                static_cast<unsigned long long>(up), static_cast<unsigned long long>(cks), h[0].accuracy);
    std::printf("  ratio to single key: time %.2fx, bytes %.2fx (%.2f MB vs %.2f MB)\n", s / single_seconds,
                static_cast<double>(up + cks) / static_cast<double>(single_bytes), mb(up + cks), mb(single_bytes));
  }
  // 3. One round of encrypted training (FL-FHE: encrypted data, public weights), 10 hospitals.
  {
    const he::ckks::parameters enc = he::ckks_encrypted_data_parameters(5);  // one level for the quorum's mask
    const auto sigma = approx::paper_sigmoid3();
    std::printf("\n## One round of encrypted-data training (FL-FHE), %zu hospitals, N = %zu "
                "(ckks_encrypted_data_parameters(5)), 1000 samples, 3 features, 1 local epoch, paper_sigmoid3\n\n",
                hospitals, enc.poly_degree());
    std::printf("load average: %s\n\n", load_average().c_str());
    fl::trainer_config ecfg = cfg;
    ecfg.local.epochs = 1;
    std::printf("| mode | setup s | fit s | uploads B | decryption shares B | accuracy |\n|---|---|---|---|---|---|\n");
    double single_fit = 0;
    std::uint64_t single_up = 0;
    {
      auto t0 = clock_type::now();
      he::ckks_backend single(enc, rng);
      const double setup = seconds_since(t0);
      model::logistic_regression m(3);
      t0 = clock_type::now();
      const auto h = fl::encrypted_data_trainer<he::ckks_backend>(single, ecfg, sigma).fit(m, parts, d.test);
      single_fit = seconds_since(t0);
      for (const auto b : h[0].bytes_uploaded) single_up += b;
      std::printf("| single key | %.2f | %.2f | %llu | 0 | %.3f |\n", setup, single_fit,
                  static_cast<unsigned long long>(single_up), h[0].accuracy);
      std::fflush(stdout);
    }
    std::vector<long long> steps = he::ckks::evaluator::sum_slots_steps(enc.slot_count());
    for (long long st = 1; st < static_cast<long long>(enc.slot_count()); st *= 2)
      for (const long long v : {st, -st})
        if (std::find(steps.begin(), steps.end(), v) == steps.end()) steps.push_back(v);
    mp::session_seed seed{};
    rng.fill(seed);
    auto t0 = clock_type::now();
    he::ckks_threshold_backend b(enc, seed, hospitals, rng,
                                 {.relinearization = true, .rotation_steps = steps,
                                  .computed_noise_bound = 0x1p20,  // a stated bound for the smudging, not measured
                                  .computed_statistical_security = 30, .computed_published_values = 4096});
    const double setup = seconds_since(t0);
    using data_trainer = fl::federated_trainer<he::ckks_threshold_backend, model::logistic_regression, aggregate::fedavg,
                                               approx::polynomial_sigmoid, fl::encrypted_data_training,
                                               fl::threshold_updates>;
    model::logistic_regression m(3);
    t0 = clock_type::now();
    const auto h = data_trainer(b, ecfg, sigma).fit(m, parts, d.test);
    const double fit = seconds_since(t0);
    std::uint64_t up = 0;
    for (const auto x : h[0].bytes_uploaded) up += x;
    const std::uint64_t cks = b.quorum().share_bytes_total();
    std::printf("| threshold %zu-of-%zu | %.2f | %.2f | %llu | %llu | %.3f |\n", b.quorum().threshold(), hospitals, setup,
                fit, static_cast<unsigned long long>(up), static_cast<unsigned long long>(cks), h[0].accuracy);
    std::printf("  ratio to single key (fit): time %.2fx, bytes %.2fx (%.2f MB vs %.2f MB)\n", fit / single_fit,
                static_cast<double>(up + cks) / static_cast<double>(single_up), mb(up + cks), mb(single_up));
  }
  std::printf("\nload average after: %s\n", load_average().c_str());
  return 0;
}
