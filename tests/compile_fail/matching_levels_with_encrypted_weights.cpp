// expect: training with encrypted weights combines ciphertexts at different levels, and this backend
// A backend that says it needs operands at matching levels cannot train with encrypted weights.
#include <hefl/fl/federated_trainer.hpp>
#include <hefl/he/plain_backend.hpp>

struct strict_levels : hefl::he::plain_backend {
  static constexpr bool mixed_levels = false;
};

int main() {
  strict_levels backend;
  hefl::fl::encrypted_model_trainer<strict_levels> trainer(backend, hefl::fl::trainer_config{},
                                                           hefl::approx::paper_sigmoid3());
  (void)trainer;
}
