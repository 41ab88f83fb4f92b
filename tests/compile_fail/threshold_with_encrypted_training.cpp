// expect: with threshold keys the encrypted compute modes publish their updates through
// Training on encrypted data with threshold keys publishes updates through the quorum
// (fl::threshold_updates); fl::encrypted_updates would name a single key holder that does not exist.
#include <hefl/fl/federated_trainer.hpp>
#include <hefl/he/ckks_threshold_backend.hpp>

using trainer = hefl::fl::federated_trainer<hefl::he::ckks_threshold_backend, hefl::model::logistic_regression,
                                            hefl::aggregate::fedavg, hefl::approx::polynomial_sigmoid,
                                            hefl::fl::encrypted_data_training, hefl::fl::encrypted_updates>;

int main() { return sizeof(trainer) > 0 ? 0 : 1; }
