// expect: threshold keys carry updates of fl::plaintext_training only
// Training on encrypted data needs one key holder every epoch; a threshold backend refuses it.
#include <hefl/fl/federated_trainer.hpp>
#include <hefl/he/ckks_threshold_backend.hpp>

using trainer = hefl::fl::federated_trainer<hefl::he::ckks_threshold_backend, hefl::model::logistic_regression,
                                            hefl::aggregate::fedavg, hefl::approx::polynomial_sigmoid,
                                            hefl::fl::encrypted_data_training, hefl::fl::threshold_updates>;

int main() { return sizeof(trainer) > 0 ? 0 : 1; }
