// expect: this aggregation rule is not linear .* so it cannot combine encrypted updates
// Choosing encrypted updates explicitly with the coordinate-wise median is refused where the pair
// is written, even on the plain backend.
#include <hefl/aggregate/robust.hpp>
#include <hefl/fl/federated_trainer.hpp>
#include <hefl/he/plain_backend.hpp>

int main() {
  hefl::he::plain_backend backend;
  hefl::fl::federated_trainer<hefl::he::plain_backend, hefl::model::logistic_regression, hefl::aggregate::median,
                              hefl::approx::exact_sigmoid, hefl::fl::plaintext_training, hefl::fl::encrypted_updates>
      trainer(backend, hefl::fl::trainer_config{});
  (void)trainer;
}
