// Tutorial 5: bring your own encryption backend.
//
// hefl's trainer is written against a concept, he::additive_backend: a type with ciphertext_type,
// slot_count(), encrypt(), decrypt(), add(), add_inplace(), multiply_scalar(), serialize() and
// deserialize(). examples/05_custom_backend.hpp writes one from scratch — an INSECURE masking toy, to
// keep it short — and tests/unit/backend_conformance_test.cpp runs hefl's conformance suite
// (hefl/testing/backend_conformance.hpp) on it, as a downstream project would on its real backend.
// Here it carries encrypted FedAvg through fl::federated_trainer, and we compare with the plain
// backend: the same model comes out.
#include "05_custom_backend.hpp"

#include <hefl/hefl.hpp>

#include <cstdio>

int main() {
  using namespace hefl;
  // The concept check explains, one sentence per missing piece, what a backend lacks.
  static_assert(he::check_additive_backend<example::toy_masking_backend>());

  const auto d = data::paper_random(1000, 3, 42);
  fl::trainer_config cfg;  // the paper's setting: 10 clients, 5 rounds
  example::toy_masking_backend toy(0x5eed);
  he::plain_backend plain(16);

  model::logistic_regression with_toy(3), without(3);
  std::printf("round  accuracy (toy backend)\n");
  fl::federated_trainer<example::toy_masking_backend> trainer(toy, cfg);  // fedavg by default
  trainer.fit(with_toy, d.train, d.test, [](const fl::round_metrics& m) {
    std::printf("%5d  %.1f%%\n", m.round, 100.0 * m.accuracy);
  });
  fl::federated_trainer<he::plain_backend>(plain, cfg).fit(without, d.train, d.test);

  const double gap = (with_toy.parameters() - without.parameters()).cwiseAbs().maxCoeff();
  std::printf("largest parameter difference vs the plain backend: %.3g\n", gap);
  // Masks of magnitude 1000 cancel up to double rounding; anything larger means the backend is wrong.
  if (!(gap < 1e-6)) {
    std::printf("UNEXPECTED: the toy backend changed the model\n");
    return 1;
  }
  std::printf("OK: a user-written backend ran encrypted FedAvg through the trainer (the toy is NOT secure)\n");
  return 0;
}
