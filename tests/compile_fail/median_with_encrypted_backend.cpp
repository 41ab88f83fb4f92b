// expect: this aggregation rule is not linear .* so it cannot combine encrypted updates
// An encrypting backend (is_encrypted defaults to true for unknown backends) paired with the
// coordinate-wise median must be refused at compile time with a sentence, not a template dump.
#include <hefl/fl/federated_trainer.hpp>
#include <hefl/aggregate/robust.hpp>
#include <hefl/he/plain_backend.hpp>

struct sealed_backend : hefl::he::plain_backend {
  static constexpr bool is_encrypted = true;
};

int main() {
  sealed_backend backend;
  hefl::fl::federated_trainer<sealed_backend, hefl::model::logistic_regression, hefl::aggregate::median> trainer(
      backend, hefl::fl::trainer_config{});
  (void)trainer;
}
