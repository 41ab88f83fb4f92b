// Tutorial 3: logistic regression trained on ENCRYPTED data, the seed paper's FL+FHE mode for one
// client (the TenSEAL encrypted-LR tutorial's protocol, SIMD-packed: one ciphertext per feature
// column, samples in the slots). The compute party sees only ciphertexts of the data and the public
// weights; the key holder decrypts each epoch's gradient and updates the weights in plaintext.
#include <hefl/approx/sigmoid.hpp>
#include <hefl/crypto/botan_random.hpp>
#include <hefl/data/synthetic.hpp>
#include <hefl/fl/ckks_model_parameters.hpp>
#include <hefl/fl/encrypted_gradient.hpp>
#include <hefl/fl/rotation_steps.hpp>
#include <hefl/he/ckks_backend.hpp>
#include <hefl/model/logistic_regression.hpp>

#include <chrono>
#include <cstdio>

namespace ckks = hefl::he::ckks;
using clock_type = std::chrono::steady_clock;

namespace {
double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}
} // namespace

int main() {
  // 128-bit secure parameters for 4 levels at scale 2^50: N = 16384, {60, 50, 50, 50, 50} and three
  // 54-bit special primes (fl::ckks_encrypted_data_parameters: room for the key holder to flood the
  // gradient sums it publishes, gradient sums of 1000 samples stay inside ±2^9; hybrid key switching
  // with 2 digits keeps the evaluation keys near 45 MB instead of 85 MB with one special prime).
  // One gradient needs 1 (w·x) + 2 (degree-3 sigmoid) + 1 (e·x) = 4 levels.
  const ckks::parameters params = hefl::fl::ckks_encrypted_data_parameters(4);
  const auto sigma = hefl::approx::paper_sigmoid3();
  const hefl::model::train_options options{.epochs = 5, .learning_rate = 1.0, .l2 = 0.05};  // the tutorial's values
  std::printf("N = %zu, %zu slots, %d levels; sigmoid %s needs %d\n", params.poly_degree(), params.slot_count(),
              static_cast<int>(params.max_level()), sigma.name().c_str(), hefl::fl::encrypted_gradient_depth(sigma));

  // One client with the paper's random data: 1000 training samples, 3 features, 500 test samples.
  const auto data = hefl::data::paper_random(1000, 3, 73);

  // train_encrypted keeps one ciphertext per feature and sums each gradient with sum_slots, so the
  // key holder generates only sum_slots' Galois keys (fl::rotation_steps_for_layout), not every ±2^i.
  hefl::he::ckks_backend_options keys;
  keys.exact_rotations = hefl::fl::rotation_steps_for_layout(hefl::fl::encrypted_layout::columns, params.slot_count(),
                                                             data.train.size(), data.train.features());
  auto t = clock_type::now();
  hefl::crypto::system_random rng;
  hefl::he::ckks_backend backend(params, rng, keys);
  std::printf("keys generated in %.2f s (%.1f MB of evaluation keys)\n", seconds_since(t),
              static_cast<double>(backend.key_holder().evaluation_keys().size()) / 1e6);
  t = clock_type::now();
  const auto encrypted = hefl::fl::encrypt_dataset(backend, data.train);
  std::printf("%zu samples x %zu features encrypted into %zu ciphertexts in %.2f s\n", encrypted.samples,
              encrypted.features(), encrypted.features() + 1, seconds_since(t));

  // The FL-poly reference: the same updates in plaintext with the same polynomial sigmoid.
  hefl::model::logistic_regression reference(3), model(3);
  double worst = 0.0;
  std::printf("epoch | test acc (encrypted) | test acc (plaintext) | max |param diff| | time\n");
  t = clock_type::now();
  hefl::fl::train_encrypted(backend, model, encrypted, options, sigma,
                            [&](int epoch, const hefl::model::logistic_regression& m) {
                              const double took = seconds_since(t);
                              reference.train(data.train, hefl::model::train_options{.epochs = 1, .learning_rate = options.learning_rate, .l2 = options.l2}, sigma);
                              const double diff = (m.parameters() - reference.parameters()).cwiseAbs().maxCoeff();
                              worst = std::max(worst, diff);
                              std::printf("%5d | %18.2f%% | %19.2f%% | %17.2e | %.2f s\n", epoch,
                                          100.0 * m.accuracy(data.test), 100.0 * reference.accuracy(data.test), diff,
                                          took);
                              t = clock_type::now();
                            });
  std::printf("weights %+.5f %+.5f %+.5f, bias %+.5f; largest difference to plaintext %.2e (%s 1e-3)\n",
              model.weights()(0), model.weights()(1), model.weights()(2), model.bias(), worst,
              worst <= 1e-3 ? "within" : "EXCEEDS");
  return worst <= 1e-3 ? 0 : 1;
}
