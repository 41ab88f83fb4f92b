// Reproduces the accuracy tables of the seed paper (Saputra, Alfian & Octava: federated learning with
// homomorphic encryption for IoT devices): 10 clients with equal shares, 1000/5000/10000 samples,
// 2/3/5 features, 5 rounds. Prints one markdown table per sample count (rows = methods, columns =
// feature counts, accuracy after the last round), progress on stderr, and writes every round to a
// CSV. Each client runs 3 full-batch gradient steps per round by default (lr 1, L2 0.05, as in the
// TenSEAL tutorial); "central" trains on all the data with the same number of steps. Every method is
// one instantiation of fl::federated_trainer:
//   FL            plaintext training, exact sigmoid, FedAvg in the clear
//   FL-poly       the same with the paper's polynomial sigmoid 0.5 + 0.197x - 0.004x^3
//   FL-CKKS       plaintext training, uploads CKKS-encrypted (N = 8192, primes {60,40,60}); the server
//                 forms Σ n_k·Enc(θ_k) and only the key holder decrypts the sum
//   FL-FHE        each client's data CKKS-encrypted (N = 16384, primes {60,40,40,40,40,60}, one
//                 ciphertext per feature column); the compute party computes the gradient with public
//                 weights, the key holder decrypts the gradient sums; uploads encrypted as in FL-CKKS
//   FL-FHE-model  data AND weights encrypted (the TenSEAL tutorial's protocol): the compute party sees
//                 neither; the key holder refreshes the weights between local epochs; uploads encrypted
// All CKKS parameter sets are 128-bit secure (scale 2^40).
//
//   paper_tables [--methods central,FL,FL-poly,FL-CKKS,FL-FHE,FL-FHE-model] [--samples 1000,5000,10000]
//                [--features 2,3,5] [--rounds 5] [--local-epochs 3] [--clients 10] [--seed 73] [--csv PATH]
#include <hefl/crypto/botan_random.hpp>
#include <hefl/he/ckks_backend.hpp>
#include <hefl/hefl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct options {
  std::vector<std::string> methods{"central", "FL", "FL-poly", "FL-CKKS", "FL-FHE", "FL-FHE-model"};
  std::vector<std::size_t> samples{1000, 5000, 10000};
  std::vector<std::size_t> features{2, 3, 5};
  int rounds = 5;
  int local_epochs = 3;
  std::size_t clients = 10;
  std::uint64_t seed = 73;
  std::string csv;
};

const std::vector<std::string> known_methods{"central", "FL", "FL-poly", "FL-CKKS", "FL-FHE", "FL-FHE-model"};

[[noreturn]] void usage(const std::string& problem, int code = 2) {
  auto& out = code == 0 ? std::cout : std::cerr;
  if (!problem.empty()) out << "paper_tables: " << problem << "\n";
  out << "usage: paper_tables [--methods central,FL,FL-poly,FL-CKKS,FL-FHE,FL-FHE-model] [--samples 1000,5000,10000]\n"
            << "                    [--features 2,3,5] [--rounds 5] [--local-epochs 3] [--clients 10] [--seed 73]\n"
            << "                    [--csv PATH]\n"
            << "methods: central = all data in one place; FL = federated, exact sigmoid;\n"
            << "         FL-poly = federated with the paper's polynomial sigmoid 0.5 + 0.197x - 0.004x^3;\n"
            << "         FL-CKKS = federated, uploads encrypted with CKKS and averaged on ciphertexts;\n"
            << "         FL-FHE = federated, each client trains on its CKKS-encrypted data (paper sigmoid, public\n"
            << "                  weights), uploads encrypted;\n"
            << "         FL-FHE-model = federated, data and weights encrypted, uploads encrypted\n";
  std::exit(code);
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(item);
  return out;
}

std::uint64_t parse_count(const std::string& flag, const std::string& text, std::uint64_t min, std::uint64_t max) {
  std::size_t used = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(text, &used);
  } catch (const std::exception&) {
    usage(flag + " expects a number, got '" + text + "'");
  }
  if (used != text.size() || text.empty() || text[0] == '-') usage(flag + " expects a number, got '" + text + "'");
  if (v < min || v > max)
    usage(flag + " " + text + " is outside [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  return v;
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") usage("", 0);
    if (i + 1 >= argc) usage("missing value after " + flag);
    const std::string value = argv[++i];
    if (flag == "--methods") {
      o.methods = split(value);
      if (o.methods.empty()) usage("--methods is empty");
      for (const auto& m : o.methods)
        if (std::find(known_methods.begin(), known_methods.end(), m) == known_methods.end())
          usage("unknown method '" + m + "'");
    } else if (flag == "--samples") {
      o.samples.clear();
      for (const auto& s : split(value)) o.samples.push_back(parse_count(flag, s, 2, 10'000'000));
      if (o.samples.empty()) usage("--samples is empty");
    } else if (flag == "--features") {
      o.features.clear();
      for (const auto& s : split(value)) o.features.push_back(parse_count(flag, s, 2, 10'000));
      if (o.features.empty()) usage("--features is empty");
    } else if (flag == "--rounds") {
      o.rounds = static_cast<int>(parse_count(flag, value, 1, 10'000));
    } else if (flag == "--local-epochs") {
      o.local_epochs = static_cast<int>(parse_count(flag, value, 1, 10'000));
    } else if (flag == "--clients") {
      o.clients = parse_count(flag, value, 1, 100'000);
    } else if (flag == "--seed") {
      o.seed = parse_count(flag, value, 0, ~std::uint64_t{0});
    } else if (flag == "--csv") {
      o.csv = value;
    } else {
      usage("unknown flag '" + flag + "'");
    }
  }
  for (std::size_t m : o.samples)
    if (o.clients > m) usage("--clients " + std::to_string(o.clients) + " exceeds --samples " + std::to_string(m));
  return o;
}

// The CKKS roles of the FL-CKKS rows, made once in main (aggregation needs neither relinearization
// nor rotation keys). Not a static: Botan's secure allocator must outlive its RNGs.
struct ckks_holder {
  hefl::crypto::system_random rng;
  hefl::he::ckks_backend backend{hefl::he::ckks_aggregation_parameters(), rng,
                                 hefl::he::ckks_backend_options{false, false, {}}};
};

// The roles of the FL-FHE rows: depth 4 (w·x, the degree-3 sigmoid, e·x) needs N = 16384.
struct fhe_holder {
  hefl::crypto::system_random rng;
  hefl::he::ckks_backend backend{hefl::he::ckks::parameters(16384, {60, 40, 40, 40, 40, 60}, 40), rng};
};

template <class Trainer, class Data>
std::vector<double> fit(Trainer&& trainer, const Data& data, const std::function<void(int)>& progress) {
  hefl::model::logistic_regression model(data.train.features());
  std::vector<double> acc;
  trainer.fit(model, data.train, data.test, [&](const hefl::fl::round_metrics& m) {
    acc.push_back(m.accuracy);
    progress(m.round);
  });
  return acc;
}

// Runs one method on one configuration and returns the test accuracy after every round.
std::vector<double> run(const std::string& method, const hefl::data::train_test& data, const options& o,
                        ckks_holder* ckks, fhe_holder* fhe, const std::function<void(int)>& progress) {
  namespace fl = hefl::fl;
  using hefl::he::ckks_backend;
  using hefl::he::plain_backend;
  using hefl::model::logistic_regression;
  using poly = hefl::approx::polynomial_sigmoid;
  fl::trainer_config cfg;
  cfg.rounds = o.rounds;
  cfg.local.epochs = o.local_epochs;
  cfg.seed = o.seed;
  cfg.clients = method == "central" ? 1 : o.clients;
  const auto sigma = hefl::approx::paper_sigmoid3();
  plain_backend plain(4096);
  if (method == "FL-CKKS") return fit(fl::federated_trainer<ckks_backend>(ckks->backend, cfg), data, progress);
  if (method == "FL-FHE") return fit(fl::encrypted_data_trainer<ckks_backend>(fhe->backend, cfg, sigma), data, progress);
  if (method == "FL-FHE-model")
    return fit(fl::encrypted_model_trainer<ckks_backend>(fhe->backend, cfg, sigma), data, progress);
  if (method == "FL-poly")
    return fit(fl::federated_trainer<plain_backend, logistic_regression, hefl::aggregate::fedavg, poly>(plain, cfg, sigma),
               data, progress);
  return fit(fl::federated_trainer<plain_backend>(plain, cfg), data, progress);
}

} // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  std::optional<std::ofstream> csv;
  if (!o.csv.empty()) {
    csv.emplace(o.csv);
    if (!*csv) {
      std::cerr << "paper_tables: cannot write " << o.csv << "\n";
      return 1;
    }
    *csv << "samples,features,method,round,accuracy\n";
  }
  std::cout << "# Accuracy after " << o.rounds << " rounds, " << o.clients << " clients with equal shares, seed "
            << o.seed << "\n";
  std::unique_ptr<ckks_holder> ckks;
  if (std::find(o.methods.begin(), o.methods.end(), "FL-CKKS") != o.methods.end()) ckks = std::make_unique<ckks_holder>();
  const auto wants = [&](const char* m) { return std::find(o.methods.begin(), o.methods.end(), m) != o.methods.end(); };
  std::unique_ptr<fhe_holder> fhe;
  if (wants("FL-FHE") || wants("FL-FHE-model")) {
    std::cerr << "generating the N = 16384 CKKS keys for FL-FHE ..." << std::flush;
    fhe = std::make_unique<fhe_holder>();
    std::cerr << " done\n";
  }
  const auto start = std::chrono::steady_clock::now();
  const std::size_t runs = o.samples.size() * o.features.size() * o.methods.size();
  std::size_t done = 0;
  double largest_gap = 0.0;
  std::string gap_where;
  for (std::size_t m : o.samples) {
    std::map<std::pair<std::string, std::size_t>, double> final_acc;
    for (std::size_t n : o.features) {
      const auto data = hefl::data::paper_random(m, n, o.seed + 1000003 * m + n);
      double lo = 1.0, hi = 0.0;
      for (const auto& method : o.methods) {
        ++done;
        const auto progress = [&](int round) {
          const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          std::fprintf(stderr, "\r[%zu/%zu] %zu samples, %zu features, %-12s round %d/%d  (%.0f s)   ", done, runs, m, n,
                       method.c_str(), round, o.rounds, t);
          std::fflush(stderr);
        };
        const auto acc = run(method, data, o, ckks.get(), fhe.get(), progress);
        for (std::size_t r = 0; r < acc.size(); ++r)
          if (csv) *csv << m << ',' << n << ',' << method << ',' << r + 1 << ',' << acc[r] << '\n';
        final_acc[{method, n}] = acc.back();
        lo = std::min(lo, acc.back());
        hi = std::max(hi, acc.back());
      }
      if (hi - lo > largest_gap || gap_where.empty()) {
        largest_gap = hi - lo;
        gap_where = std::to_string(m) + " samples, " + std::to_string(n) + " features";
      }
    }
    std::fprintf(stderr, "\n");
    std::cout << "\n## " << m << " samples\n\n| Method |";
    for (std::size_t n : o.features) std::cout << ' ' << n << " features |";
    std::cout << "\n|---|";
    for (std::size_t i = 0; i < o.features.size(); ++i) std::cout << "---|";
    std::cout << '\n';
    for (const auto& method : o.methods) {
      std::cout << "| " << method << " |";
      for (std::size_t n : o.features) {
        char cell[32];
        std::snprintf(cell, sizeof cell, " %.1f%% |", 100.0 * final_acc[{method, n}]);
        std::cout << cell;
      }
      std::cout << '\n';
    }
  }
  if (o.methods.size() > 1) {
    char line[160];
    std::snprintf(line, sizeof line, "\nLargest gap between methods: %.2f percentage points (%s)\n", 100.0 * largest_gap,
                  gap_where.c_str());
    std::cout << line;
  }
  return 0;
}
