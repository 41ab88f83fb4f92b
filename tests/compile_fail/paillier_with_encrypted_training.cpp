// expect: this backend is additive only \(it cannot multiply ciphertexts\), so it cannot train on encrypted data
// The real Paillier backend carries encrypted FedAvg through the trainer (tests/unit/paillier_backend_test.cpp)
// and is refused, in one sentence, when paired with training on encrypted data.
#include <hefl/crypto/botan_random.hpp>
#include <hefl/fl/federated_trainer.hpp>
#include <hefl/he/paillier_backend.hpp>

int main() {
  hefl::crypto::system_random rng;
  hefl::he::paillier_backend backend(hefl::he::paillier_params{}, rng);
  hefl::fl::encrypted_data_trainer<hefl::he::paillier_backend> trainer(backend, hefl::fl::trainer_config{},
                                                                      hefl::approx::paper_sigmoid3());
  (void)trainer;
}
