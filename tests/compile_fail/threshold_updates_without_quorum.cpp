// expect: fl::threshold_updates needs a backend whose key holder is a quorum of parties
// Threshold transport with a single-key backend is refused where the pair is written: one key holder
// would decrypt what the policy promises only a quorum can.
#include <hefl/fl/federated_trainer.hpp>
#include <hefl/he/ckks_backend.hpp>

using trainer = hefl::fl::federated_trainer<hefl::he::ckks_backend, hefl::model::logistic_regression,
                                            hefl::aggregate::fedavg, hefl::approx::exact_sigmoid,
                                            hefl::fl::plaintext_training, hefl::fl::threshold_updates>;

int main() { return sizeof(trainer) > 0 ? 0 : 1; }
