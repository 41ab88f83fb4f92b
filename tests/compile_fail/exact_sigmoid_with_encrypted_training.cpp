// expect: the exact sigmoid cannot be evaluated on ciphertexts, so it cannot train on encrypted data
// Training on encrypted data needs a polynomial sigmoid; the exact one is refused at compile time.
#include <hefl/fl/federated_trainer.hpp>
#include <hefl/he/plain_backend.hpp>

int main() {
  hefl::he::plain_backend backend;
  hefl::fl::federated_trainer<hefl::he::plain_backend, hefl::model::logistic_regression, hefl::aggregate::fedavg,
                              hefl::approx::exact_sigmoid, hefl::fl::encrypted_data_training>
      trainer(backend, hefl::fl::trainer_config{});
  (void)trainer;
}
