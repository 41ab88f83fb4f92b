// Reproduces the accuracy tables of the seed paper (Saputra, Alfian & Octava: federated learning with
// homomorphic encryption for IoT devices): 10 clients with equal shares, 1000/5000/10000 samples,
// 2/3/5 features, 5 rounds. Prints one markdown table per sample count (rows = methods, columns =
// feature counts, accuracy after the last round), progress on stderr, and writes every round to a
// CSV. Each client runs 3 full-batch gradient steps per round by default (lr 1, L2 0.05, as in the
// TenSEAL tutorial); "central" trains on all the data with the same number of steps. Every method is
// one instantiation of fl::federated_trainer:
//   FL            plaintext training, exact sigmoid, FedAvg in the clear
//   FL-poly       the same with a polynomial sigmoid (--approx, default default_approx below)
//   FL-CKKS       plaintext training, uploads CKKS-encrypted (N = 8192, primes {60,40,60}); the server
//                 forms Σ n_k·Enc(θ_k) and only the key holder decrypts the sum
//   FL-FHE        each client's data CKKS-encrypted (fl::ckks_encrypted_data_parameters: N = 16384, scale
//                 2^50, special primes chosen for small keys, one ciphertext per feature column); the compute party computes the gradient
//                 with public weights, the key holder decrypts the gradient sums (Gaussian-flooded);
//                 uploads encrypted as in FL-CKKS
//   FL-FHE-model  data AND weights encrypted (the TenSEAL tutorial's protocol): the compute party sees
//                 neither; each client's data and the weights are one ciphertext each
//                 (fl/packed_model_epoch.hpp; fl::ckks_packed_model_parameters: N = 16384, scale 2^55);
//                 the key holder refreshes the weights after every local epoch and encrypts the last
//                 ones afresh as the upload
// All CKKS parameter sets are 128-bit secure; the FL-FHE chain has as many 50-bit levels as the
// chosen approximation needs (fl::encrypted_gradient_depth). The last table counts what the key
// holders decrypted and how each published result was flooded.
// --approx NAME picks the polynomial sigmoid of FL-poly, FL-FHE and FL-FHE-model (--help lists the
// names); --plot DIR writes the accuracy-per-round figures (the paper's Figures 2 and 3) with gnuplot.
//
//   paper_tables [--methods central,FL,FL-poly,FL-CKKS,FL-FHE,FL-FHE-model] [--samples 1000,5000,10000]
//                [--features 2,3,5] [--rounds 5] [--local-epochs 3] [--clients 10] [--seed 73] [--csv PATH]
//                [--approx NAME] [--plot DIR]
#include <hefl/crypto/botan_random.hpp>
#include <hefl/fl/ckks_model_parameters.hpp>
#include <hefl/he/ckks_backend.hpp>
#include <hefl/hefl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

namespace {

// The approximation benchmarks/sigmoid_degrees found best in its full run (FL + FHE on every row and
// data set; docs/results.md has the run and the ranking).
constexpr const char* default_approx = "chebyshev-deg5[-8,8]";

struct options {
  std::vector<std::string> methods{"central", "FL", "FL-poly", "FL-CKKS", "FL-FHE", "FL-FHE-model"};
  std::vector<std::size_t> samples{1000, 5000, 10000};
  std::vector<std::size_t> features{2, 3, 5};
  int rounds = 5;
  int local_epochs = 3;
  std::size_t clients = 10;
  std::uint64_t seed = 73;
  std::string csv;
  std::string approx = default_approx;
  std::string plot;
};

const std::vector<std::string> known_methods{"central", "FL", "FL-poly", "FL-CKKS", "FL-FHE", "FL-FHE-model"};

[[noreturn]] void usage(const std::string& problem, int code = 2) {
  auto& out = code == 0 ? std::cout : std::cerr;
  if (!problem.empty()) out << "paper_tables: " << problem << "\n";
  out << "usage: paper_tables [--methods central,FL,FL-poly,FL-CKKS,FL-FHE,FL-FHE-model] [--samples 1000,5000,10000]\n"
            << "                    [--features 2,3,5] [--rounds 5] [--local-epochs 3] [--clients 10] [--seed 73]\n"
            << "                    [--csv PATH] [--approx NAME] [--plot DIR]\n"
            << "methods: central = all data in one place; FL = federated, exact sigmoid;\n"
            << "         FL-poly = federated with the polynomial sigmoid --approx;\n"
            << "         FL-CKKS = federated, uploads encrypted with CKKS and averaged on ciphertexts;\n"
            << "         FL-FHE = federated, each client trains on its CKKS-encrypted data (--approx, public\n"
            << "                  weights), uploads encrypted;\n"
            << "         FL-FHE-model = federated, data and weights encrypted, uploads encrypted\n"
            << "--approx NAME: the polynomial sigmoid of FL-poly, FL-FHE and FL-FHE-model (default " << default_approx
            << ",\n         the best of benchmarks/sigmoid_degrees, see docs/results.md). NAME is one of\n"
            << "         paper-deg3[-5,5] (the seed paper's cubic), idash-deg3[-8,8], idash-deg5[-8,8], idash-deg7[-8,8],\n"
            << "         or FAMILY-degD[-R,R] with FAMILY taylor, least-squares, chebyshev or minimax, D in 1..31,\n"
            << "         R > 0 (e.g. chebyshev-deg7[-8,8]; quote the brackets in a shell)\n"
            << "--plot DIR: write the accuracy-per-round figures (fig2_samples.svg, fig3_features.svg), their data\n"
            << "         and the gnuplot script into DIR and run gnuplot (package gnuplot-nox)\n";
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
    } else if (flag == "--approx") {
      o.approx = value;
    } else if (flag == "--plot") {
      if (value.empty()) usage("--plot needs a directory");
      o.plot = value;
    } else {
      usage("unknown flag '" + flag + "'");
    }
  }
  for (std::size_t m : o.samples)
    if (o.clients > m) usage("--clients " + std::to_string(o.clients) + " exceeds --samples " + std::to_string(m));
  return o;
}

// --approx NAME: a literature fit by its exact name, or FAMILY-degD[-R,R] fitted on the spot.
hefl::approx::sigmoid_approximation pick_approximation(const std::string& name) {
  namespace approx = hefl::approx;
  for (auto& s : approx::literature_fits())
    if (s.name() == name) return s;
  static const std::regex pattern(R"(^(taylor|least-squares|chebyshev|minimax)-deg([0-9]+)\[-([0-9.]+),([0-9.]+)\]$)");
  std::smatch m;
  if (std::regex_match(name, m, pattern) && m[3].str() == m[4].str()) {
    approx::fit_family family = approx::fit_family::taylor;
    for (const auto f : {approx::fit_family::taylor, approx::fit_family::least_squares, approx::fit_family::chebyshev,
                         approx::fit_family::minimax})
      if (m[1].str() == approx::family_name(f)) family = f;
    try {
      return approx::fit(family, std::stoi(m[2].str()), std::stod(m[3].str()));
    } catch (const std::exception& e) {
      usage("--approx " + name + ": " + e.what());
    }
  }
  usage("unknown approximation '" + name + "' (see --help for the names)");
}

// The CKKS roles of the FL-CKKS rows, made once in main (aggregation needs neither relinearization
// nor rotation keys). Not a static: Botan's secure allocator must outlive its RNGs.
struct ckks_holder {
  hefl::crypto::system_random rng;
  hefl::he::ckks_backend backend{hefl::he::ckks_aggregation_parameters(), rng,
                                 hefl::he::ckks_backend_options{false, false, {}}};
};

// The roles of the FL-FHE rows: `levels` (w·x, the sigmoid, e·x: fl::encrypted_gradient_depth; 4 for
// a cubic) 50-bit primes between two 60-bit ones, N = 16384 up to 6 levels, N = 32768 beyond.
struct fhe_holder {
  hefl::crypto::system_random rng;
  hefl::he::ckks_backend backend;
  // `published`: how many computed values the key holder will publish in this run, its flooding's τ
  // (ckks_flooding_options::computed_published_values): σ grows with sqrt(τ), so a key sized to its
  // run floods no more than it must, and refuses anything beyond.
  // `rotations`: exactly the Galois keys the runs use (fl::rotation_steps_for), not every ±2^i.
  fhe_holder(hefl::he::ckks::parameters params, hefl::he::rotation_key_set rotations, double published)
      : backend(std::move(params), rng, options(std::move(rotations), published)) {}
  static hefl::he::ckks_backend_options options(hefl::he::rotation_key_set rotations, double published) {
    hefl::he::ckks_backend_options o;
    o.exact_rotations = std::move(rotations);
    o.flooding.computed_published_values = std::max(1.0, published);
    return o;
  }
};

// The rotations the runs of one encrypted mode perform over every configuration, on `slots` slots:
// fl::rotation_steps_for of each configuration's clients, partitioned as the trainer partitions them.
template <class Compute>
hefl::he::rotation_key_set rotations_used(std::size_t slots, const options& o) {
  hefl::he::rotation_key_set keys;
  for (std::size_t m : o.samples)
    for (std::size_t n : o.features) {
      const auto data = hefl::data::paper_random(m, n, o.seed + 1000003 * m + n);
      keys.merge(hefl::fl::rotation_steps_for<Compute>(slots, hefl::data::partition_iid(data.train, o.clients, o.seed)));
    }
  return keys;
}

// The computed values a run of `method` publishes over every configuration (fl::published_computed_values:
// FL-FHE the n + 1 gradient sums of every client's every local epoch, FL-FHE-model the n + 1
// last-epoch weights of every client, per round).
double published_values(const std::string& method, const options& o) {
  namespace fl = hefl::fl;
  fl::trainer_config cfg;
  cfg.rounds = o.rounds;
  cfg.local.epochs = o.local_epochs;
  cfg.clients = o.clients;
  double total = 0;
  for (std::size_t n : o.features)
    total += static_cast<double>(o.samples.size()) *
             (method == "FL-FHE" ? fl::published_computed_values<fl::encrypted_data_training>(cfg, n)
                                 : fl::published_computed_values<fl::encrypted_model_training>(cfg, n));
  return total;
}

// What one run cost, summed over its rounds (fl::round_metrics).
struct run_cost {
  double seconds = 0, local = 0, encryption = 0, aggregation = 0, decryption = 0;
  run_cost& operator+=(const run_cost& o) {
    seconds += o.seconds, local += o.local, encryption += o.encryption, aggregation += o.aggregation,
        decryption += o.decryption;
    return *this;
  }
};

template <class Trainer, class Data>
std::vector<double> fit(Trainer&& trainer, const Data& data, run_cost& cost, const std::function<void(int)>& progress) {
  hefl::model::logistic_regression model(data.train.features());
  std::vector<double> acc;
  trainer.fit(model, data.train, data.test, [&](const hefl::fl::round_metrics& m) {
    acc.push_back(m.accuracy);
    cost.local += m.seconds_local_training;
    cost.encryption += m.seconds_encryption;
    cost.aggregation += m.seconds_aggregation;
    cost.decryption += m.seconds_decryption;
    progress(m.round);
  });
  return acc;
}

// Runs one method on one configuration and returns the test accuracy after every round.
std::vector<double> run(const std::string& method, const hefl::data::train_test& data, const options& o,
                        const hefl::approx::sigmoid_approximation& sigma, ckks_holder* ckks, fhe_holder* fhe,
                        fhe_holder* fhe_model,
                        run_cost& cost, const std::function<void(int)>& progress) {
  namespace fl = hefl::fl;
  using hefl::he::ckks_backend;
  using hefl::he::plain_backend;
  using hefl::model::logistic_regression;
  using poly = hefl::approx::sigmoid_approximation;
  fl::trainer_config cfg;
  cfg.rounds = o.rounds;
  cfg.local.epochs = o.local_epochs;
  cfg.seed = o.seed;
  cfg.clients = method == "central" ? 1 : o.clients;
  plain_backend plain(4096);
  if (method == "FL-CKKS") return fit(fl::federated_trainer<ckks_backend>(ckks->backend, cfg), data, cost, progress);
  if (method == "FL-FHE")
    return fit(fl::encrypted_data_trainer<ckks_backend, poly>(fhe->backend, cfg, sigma), data, cost, progress);
  if (method == "FL-FHE-model")
    return fit(fl::encrypted_model_trainer<ckks_backend, poly>(fhe_model->backend, cfg, sigma), data, cost, progress);
  if (method == "FL-poly")
    return fit(fl::federated_trainer<plain_backend, logistic_regression, hefl::aggregate::fedavg, poly>(plain, cfg, sigma),
               data, cost, progress);
  return fit(fl::federated_trainer<plain_backend>(plain, cfg), data, cost, progress);
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The paper's Figures 2 and 3: accuracy per round of every method run, one panel per sample count
// (at the largest feature count) and one per feature count (at the largest sample count).
// @return false (with a message) if gnuplot is missing or fails.
bool plot(const options& o, const std::map<std::tuple<std::size_t, std::size_t, std::string>, std::vector<double>>& acc,
          const std::string& approx_name) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(o.plot, ec);
  if (ec) {
    std::cerr << "paper_tables: cannot create " << o.plot << ": " << ec.message() << "\n";
    return false;
  }
  const std::size_t n_max = *std::max_element(o.features.begin(), o.features.end());
  const std::size_t m_max = *std::max_element(o.samples.begin(), o.samples.end());
  const auto write_panel = [&](std::size_t m, std::size_t n) {
    const std::string file = "paper_m" + std::to_string(m) + "_n" + std::to_string(n) + ".dat";
    std::ofstream out(fs::path(o.plot) / file);
    out << "# round";
    for (const auto& method : o.methods) out << ' ' << method;
    out << "\n";
    for (int r = 0; r < o.rounds; ++r) {
      out << r + 1;
      for (const auto& method : o.methods) {
        const auto& a = acc.at({m, n, method});
        out << ' ' << (static_cast<std::size_t>(r) < a.size() ? 100.0 * a[static_cast<std::size_t>(r)] : 0.0);
      }
      out << "\n";
    }
    return file;
  };
  std::ofstream gp(fs::path(o.plot) / "paper_figures.gp");
  gp << "# Written by paper_tables --plot; run in this directory: gnuplot paper_figures.gp\n"
     << "set terminal svg size 1200,420 dynamic font 'sans,12'\nset datafile commentschars '#'\n"
     << "set xlabel 'round'\nset ylabel 'test accuracy (%)'\nset key bottom right\nset grid\n"
     << "set xtics 1\n";
  const auto panels = [&](const std::string& out, const std::string& title,
                          const std::vector<std::pair<std::string, std::string>>& files) {
    gp << "set output '" << out << "'\nset multiplot layout 1," << files.size() << " title '" << title << "'\n";
    for (const auto& [file, label] : files) {
      gp << "set title '" << label << "'\nplot ";
      for (std::size_t i = 0; i < o.methods.size(); ++i)
        gp << (i ? ", " : "") << "'" << file << "' using 1:" << i + 2 << " with linespoints title '" << o.methods[i]
           << "'";
      gp << "\n";
    }
    gp << "unset multiplot\n";
  };
  std::vector<std::pair<std::string, std::string>> by_samples, by_features;
  for (std::size_t m : o.samples) by_samples.push_back({write_panel(m, n_max), std::to_string(m) + " samples, " + std::to_string(n_max) + " features"});
  for (std::size_t n : o.features) by_features.push_back({write_panel(m_max, n), std::to_string(m_max) + " samples, " + std::to_string(n) + " features"});
  const std::string sub = "seed " + std::to_string(o.seed) + ", " + std::to_string(o.clients) + " clients, " +
                          std::to_string(o.local_epochs) + " local epochs, sigmoid " + approx_name;
  panels("fig2_samples.svg", "Accuracy per round by sample count (" + sub + ")", by_samples);
  panels("fig3_features.svg", "Accuracy per round by feature count (" + sub + ")", by_features);
  gp.close();
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    std::cerr << "paper_tables: gnuplot not found: install the Debian package gnuplot-nox (scripts/common.sh does); "
                 "the data and paper_figures.gp are in " << o.plot << "\n";
    return false;
  }
  if (std::system(("cd " + shell_quote(o.plot) + " && gnuplot paper_figures.gp").c_str()) != 0) {
    std::cerr << "paper_tables: gnuplot failed on " << o.plot << "/paper_figures.gp\n";
    return false;
  }
  std::cerr << "figures written: " << o.plot << "/fig2_samples.svg, " << o.plot << "/fig3_features.svg\n";
  return true;
}

} // namespace

int main(int argc, char** argv) try {
  const options o = parse(argc, argv);
  const auto sigma = pick_approximation(o.approx);
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
            << o.seed << ", polynomial sigmoid " << sigma.name() << "\n";
  const auto wants = [&](const char* m) { return std::find(o.methods.begin(), o.methods.end(), m) != o.methods.end(); };
  const auto start = std::chrono::steady_clock::now();
  const auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  std::unique_ptr<ckks_holder> ckks;
  if (wants("FL-CKKS")) ckks = std::make_unique<ckks_holder>();
  // Two key sets: FL-FHE publishes gradient sums (N = 16384, scale 2^50 leaves room to flood them),
  // FL-FHE-model publishes models (N = 16384, scale 2^55 for the packed epoch's smaller noise):
  // docs/threat-model.md, docs/results.md.
  std::unique_ptr<fhe_holder> fhe, fhe_model;
  const int levels = hefl::fl::encrypted_gradient_depth(sigma);
  const auto make = [&](const char* method, auto parameters, auto compute, std::unique_ptr<fhe_holder>& into) {
    if (!wants(method)) return true;
    std::cerr << "generating the CKKS keys for " << method << " (" << levels << " levels for " << sigma.name()
              << ") ..." << std::flush;
    try {
      auto params = parameters(levels);
      auto rotations = rotations_used<decltype(compute)>(params.slot_count(), o);
      into = std::make_unique<fhe_holder>(std::move(params), std::move(rotations), published_values(method, o));
    } catch (const hefl::error& e) {
      std::cerr << "\npaper_tables: no 128-bit secure chain for " << sigma.name() << " (" << levels
                << " levels): " << e.what() << "\n";
      return false;
    }
    std::cerr << " done (" << static_cast<int>(elapsed()) << " s)\n";
    return true;
  };
  // Each key set holds only the rotations its mode's runs perform (fl::rotation_steps_for): the packed
  // layout's powers of two below its period, and sum_slots' keys where a client does not pack.
  if (!make("FL-FHE", hefl::fl::ckks_encrypted_data_parameters, hefl::fl::encrypted_data_training{}, fhe) ||
      !make("FL-FHE-model", hefl::fl::ckks_packed_model_parameters, hefl::fl::encrypted_model_training{}, fhe_model))
    return 1;
  const double setup_seconds = elapsed();
  const std::size_t runs = o.samples.size() * o.features.size() * o.methods.size();
  std::size_t done = 0;
  double largest_gap = 0.0;
  std::string gap_where;
  std::map<std::tuple<std::size_t, std::size_t, std::string>, std::vector<double>> all_acc;
  std::map<std::string, run_cost> per_method;
  std::map<std::pair<std::string, std::size_t>, double> seconds;  // (method, features) -> s, per sample count
  for (std::size_t m : o.samples) {
    std::map<std::pair<std::string, std::size_t>, double> final_acc;
    for (std::size_t n : o.features) {
      const auto data = hefl::data::paper_random(m, n, o.seed + 1000003 * m + n);
      double lo = 1.0, hi = 0.0;
      for (const auto& method : o.methods) {
        ++done;
        const auto progress = [&](int round) {
          std::fprintf(stderr, "\r[%zu/%zu] %zu samples, %zu features, %-12s round %d/%d  (%.0f s)   ", done, runs, m, n,
                       method.c_str(), round, o.rounds, elapsed());
          std::fflush(stderr);
        };
        run_cost cost;
        const double t0 = elapsed();
        const auto acc = run(method, data, o, sigma, ckks.get(), fhe.get(), fhe_model.get(), cost, progress);
        cost.seconds = elapsed() - t0;
        per_method[method] += cost;
        seconds[{method, n}] = cost.seconds;
        all_acc[{m, n, method}] = acc;
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
    std::cout << " seconds |\n|---|";
    for (std::size_t i = 0; i < o.features.size(); ++i) std::cout << "---|";
    std::cout << "---|\n";
    for (const auto& method : o.methods) {
      std::cout << "| " << method << " |";
      double s = 0.0;
      for (std::size_t n : o.features) {
        char cell[32];
        std::snprintf(cell, sizeof cell, " %.1f%% |", 100.0 * final_acc[{method, n}]);
        std::cout << cell;
        s += seconds[{method, n}];
      }
      char cell[32];
      std::snprintf(cell, sizeof cell, " %.1f |", s);
      std::cout << cell << '\n';
    }
  }
  if (o.methods.size() > 1) {
    char line[160];
    std::snprintf(line, sizeof line, "\nLargest gap between methods: %.2f percentage points (%s)\n", 100.0 * largest_gap,
                  gap_where.c_str());
    std::cout << line;
  }
  // Where the time went: every run of a method summed (the trainer's round_metrics split it).
  std::cout << "\n## Seconds per method (all configurations; key generation " << std::fixed << std::setprecision(1)
            << setup_seconds << " s)\n\n| Method | total | local training | encryption | aggregation | decryption |\n"
            << "|---|---|---|---|---|---|\n";
  for (const auto& method : o.methods) {
    const auto& c = per_method[method];
    std::cout << "| " << method << " | " << c.seconds << " | " << c.local << " | " << c.encryption << " | "
              << c.aggregation << " | " << c.decryption << " |\n";
  }
  // What the key holders published: every decryption that left them, flooded or not (docs/threat-model.md).
  const auto report = [](const char* who, const hefl::he::ckks_key_holder& k) {
    std::cout << "| " << who << " | " << k.flooded_decryptions() - k.estimated_floodings() << " | "
              << k.estimated_floodings() << " (" << k.published_computed_values() << " values) | " << std::scientific
              << std::setprecision(2) << k.largest_flooding_deviation() << std::fixed << std::setprecision(1) << " | "
              << k.unflooded_decryptions() << " | " << k.raw_decryptions() << " |\n";
  };
  if (ckks || fhe || fhe_model) {
    std::cout << "\n## Decryptions by the key holders\n\n| key holder | published, flooded with a bound (uniform) | "
                 "published, flooded with an estimate (Gaussian) | largest Gaussian σ | published unflooded | "
                 "raw, kept by the key holder |\n|---|---|---|---|---|---|\n";
    if (ckks) report("FL-CKKS", hefl::he::key_holder_of(ckks->backend));
    if (fhe) report("FL-FHE", hefl::he::key_holder_of(fhe->backend));
    if (fhe_model) report("FL-FHE-model", hefl::he::key_holder_of(fhe_model->backend));
  }
  std::cout << "\nTotal: " << elapsed() << " s\n" << std::defaultfloat;
  if (!o.plot.empty() && !plot(o, all_acc, sigma.name())) return 1;
  return 0;
} catch (const hefl::error& e) {  // e.g. a key holder refusing to publish what it cannot flood
  std::cerr << "\npaper_tables: " << e.what() << "\n";
  return 1;
}
