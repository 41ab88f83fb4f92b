// Tutorial 6: a real medical data set through the trainer with FL + FHE. The Pima Indians diabetes
// data (768 patients, 8 clinical measurements; data/pima/) are split 75/25 (stratified), spread over
// 10 hospitals twice (IID, and with label skew: Dirichlet(0.5) per class, at least 20 patients each),
// standardised federatedly (each sends only n, Σx, Σx²), and trained three ways with the same schedule:
//   FL exact   plaintext FedAvg with the exact sigmoid;
//   FL poly    plaintext FedAvg with the library's default encrypted sigmoid
//              (fl::default_encrypted_sigmoid: minimax degree 7 on [-8, 8], not tuned for Pima);
//   FL + FHE   each hospital's data CKKS-encrypted (128-bit secure), the gradient computed by the
//              server role on ciphertexts with that sigmoid in the Chebyshev basis, the gradient sums
//              decrypted by the key holder, updates encrypted and combined on ciphertexts.
// Prints the accuracies, the share of test samples where FL poly and FL + FHE predict the same label,
// the trainer's report of the scores z = w·x + b against the sigmoid's interval, and what the key
// holder published (every gradient sum Gaussian-flooded, every aggregate uniformly), per partition.
// Exits 1 if, in either partition, FL + FHE is more than 1 point below FL exact, the labels agree on
// fewer than 99.9% (issue 9), or a value left the key holder unflooded.
//
//   07_pima_ckks_training [path/to/diabetes.arff] [rounds]
#include <hefl/crypto/botan_random.hpp>
#include <hefl/fl/default_sigmoid.hpp>
#include <hefl/fl/ckks_model_parameters.hpp>
#include <hefl/hefl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#ifndef HEFL_DATA_DIR
#define HEFL_DATA_DIR "data"
#endif

namespace {

namespace fl = hefl::fl;

// The schedule of the plaintext Pima test (tests/unit/arff_test.cpp), for every method alike.
fl::trainer_config pima_config(int rounds) {
  fl::trainer_config cfg;
  cfg.rounds = rounds;
  cfg.local.learning_rate = 0.5;
  cfg.local.l2 = 0.01;
  return cfg;
}

// Trains one partition three ways (the raw clients are standardised federatedly first), prints its
// block, and returns whether the targets hold.
bool run_partition(const char* name, const std::vector<hefl::data::dataset>& raw, const hefl::data::dataset& raw_test,
                   std::size_t train_size, int rounds, hefl::he::ckks_backend& ckks_backend) {
  const auto st = hefl::data::standardizer::fit_federated(raw);
  std::vector<hefl::data::dataset> clients;
  std::string sizes;
  for (const auto& c : raw) {
    clients.push_back(st.transform(c));
    sizes += (sizes.empty() ? "" : " ") + std::to_string(c.size());
  }
  const auto test = st.transform(raw_test);

  const fl::trainer_config cfg = pima_config(rounds);

  hefl::he::plain_backend plain(16);
  hefl::model::logistic_regression exact(8), poly(8), fhe(8);
  const auto h_exact = fl::federated_trainer<hefl::he::plain_backend>(plain, cfg).fit(exact, clients, test);
  const auto sigma = fl::default_encrypted_sigmoid();
  const auto h_poly = fl::federated_trainer<hefl::he::plain_backend, hefl::model::logistic_regression,
                                            hefl::aggregate::fedavg, hefl::approx::polynomial_sigmoid,
                                            fl::plaintext_training, fl::clear_updates>(plain, cfg, sigma)
                          .fit(poly, clients, test);
  const auto& kh = ckks_backend.key_holder();
  const auto before_estimated = kh.estimated_floodings(), before_values = kh.published_computed_values(),
             before_flooded = kh.flooded_decryptions(), before_unflooded = kh.unflooded_decryptions();
  const auto t = std::chrono::steady_clock::now();
  const auto h_fhe = fl::encrypted_data_trainer<hefl::he::ckks_backend>(ckks_backend, cfg, sigma)
                         .fit(fhe, clients, test, [&](const fl::round_metrics& m) {
                           std::fprintf(stderr, "\r%s: FL + FHE round %d: accuracy %.4f", name, m.round, m.accuracy);
                         });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  std::fprintf(stderr, "\n");

  const Eigen::VectorXd a = poly.predict(test.x), b = fhe.predict(test.x);
  long agree = 0;
  for (Eigen::Index i = 0; i < a.size(); ++i) agree += a(i) == b(i) ? 1 : 0;
  const double agreement = static_cast<double>(agree) / static_cast<double>(a.size());
  double outside = 0.0, largest = 0.0;
  for (const auto& m : h_fhe) {
    outside = std::max(outside, m.outside_interval);
    largest = std::max(largest, m.largest_score);
  }
  const auto& params = ckks_backend.params();
  std::printf("\n## %s: Pima, %zu train / %zu test, 10 clients (%s samples), %d rounds (lr %.2f, L2 %.2f)\n", name,
              train_size, test.size(), sizes.c_str(), rounds, cfg.local.learning_rate, cfg.local.l2);
  std::printf("| method | accuracy |\n|---|---|\n");
  std::printf("| FL exact sigmoid | %.4f |\n", h_exact.back().accuracy);
  std::printf("| FL %s | %.4f |\n", sigma.name().c_str(), h_poly.back().accuracy);
  std::printf("| FL + FHE %s (N = %zu, %d levels, scale 2^%.0f) | %.4f |\n", sigma.name().c_str(),
              params.poly_degree(), fl::encrypted_gradient_depth(sigma), params.log2_scale(), h_fhe.back().accuracy);
  std::printf("same label, FL poly vs FL + FHE: %ld / %ld test samples (%.2f%%)\n", agree, static_cast<long>(a.size()),
              100.0 * agreement);
  std::printf("max |theta_FHE - theta_poly| = %.3g\n", (fhe.parameters() - poly.parameters()).cwiseAbs().maxCoeff());
  std::printf("scores z outside [%g, %g]: largest share in a round %.4f, largest |z| %.3f\n", sigma.lo(), sigma.hi(),
              outside, largest);
  const auto estimated = kh.estimated_floodings() - before_estimated;
  std::printf("key holder: %llu gradient decryptions published with Gaussian flooding (%llu values, largest sigma so "
              "far %.2e), %llu aggregates with uniform flooding, %llu published unflooded\n",
              static_cast<unsigned long long>(estimated),
              static_cast<unsigned long long>(kh.published_computed_values() - before_values),
              kh.largest_flooding_deviation(),
              static_cast<unsigned long long>(kh.flooded_decryptions() - before_flooded - estimated),
              static_cast<unsigned long long>(kh.unflooded_decryptions() - before_unflooded));
  std::printf("FL + FHE wall time %.1f s\n", seconds);
  const bool ok = h_fhe.back().accuracy >= h_exact.back().accuracy - 0.01 && agreement >= 0.999 &&
                  kh.unflooded_decryptions() == before_unflooded;
  std::printf("%s: %s\n", name, ok ? "targets met" : "UNEXPECTED: a target of issue 9 is missed");
  return ok;
}

} // namespace

int main(int argc, char** argv) try {
  const std::string path = argc > 1 ? argv[1] : std::string(HEFL_DATA_DIR) + "/pima/diabetes.arff";
  const int rounds = argc > 2 ? std::stoi(argv[2]) : 20;
  const auto d = hefl::data::pima_diabetes(path);
  const auto split = hefl::data::train_test_split(d, 1);

  // Levels: 1 (w·x) + 3 (the degree-7 plan) + 1 (e·x) at scale 2^50, N = 16384, 128-bit secure: room
  // for the key holder to flood the gradient sums it publishes (docs/threat-model.md). One special
  // prime, not the two fl::ckks_encrypted_data_parameters would choose at 5 levels: with two, the
  // sums' estimated noise came out 4 to 8 times larger and the Gaussian flooding for the smallest
  // (20-patient) non-IID clients exceeded the 2^-6 bound (refused, "2^-5.944 of a unit"); with one,
  // σ stayed at 5.07e-2 in both partitions. One key set for both partitions: its flooding is sized for
  // the values both runs publish (τ = 2 × fl::published_computed_values), not the library's default.
  hefl::crypto::system_random rng;
  hefl::he::ckks_backend_options key_options;
  key_options.flooding.computed_published_values =
      2 * fl::published_computed_values<fl::encrypted_data_training>(pima_config(rounds), 8);
  hefl::he::ckks_backend ckks_backend(
      fl::ckks_encrypted_data_parameters(fl::encrypted_gradient_depth(fl::default_encrypted_sigmoid()), hefl::he::ckks::special_primes{1}), rng,
      key_options);
  // IID, and label skew: each class spread over the clients by Dirichlet(0.5), every client with at
  // least 20 patients (data::partition_dirichlet_labels).
  const bool iid = run_partition("IID", hefl::data::partition_iid(split.train, 10, 2), split.test, split.train.size(),
                                 rounds, ckks_backend);
  const bool skew = run_partition("non-IID (Dirichlet 0.5 label skew)",
                                  hefl::data::partition_dirichlet_labels(split.train, 10, 0.5, 3, 20), split.test,
                                  split.train.size(), rounds, ckks_backend);
  std::printf("\n%s\n", iid && skew ? "targets met" : "UNEXPECTED: a target of issue 9 is missed");
  return iid && skew ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "07_pima_ckks_training: %s\n", e.what());
  return 2;
}
