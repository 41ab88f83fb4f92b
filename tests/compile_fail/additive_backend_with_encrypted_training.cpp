// expect: this backend is additive only \(it cannot multiply ciphertexts\), so it cannot train on encrypted data
// A Paillier-style backend carries encrypted FedAvg but cannot train on encrypted data (with public
// or with encrypted weights); pairing it with encrypted training is refused in one sentence.
#include <hefl/fl/federated_trainer.hpp>

#include <cstdint>
#include <span>
#include <vector>

struct additive_only {
  using ciphertext_type = std::vector<double>;
  std::size_t slot_count() const { return 8; }
  ciphertext_type encrypt(std::span<const double> v) { return {v.begin(), v.end()}; }
  std::vector<double> decrypt(const ciphertext_type& c) const { return c; }
  ciphertext_type add(const ciphertext_type& a, const ciphertext_type&) const { return a; }
  void add_inplace(ciphertext_type&, const ciphertext_type&) const {}
  ciphertext_type multiply_scalar(const ciphertext_type& a, double) const { return a; }
  std::vector<std::uint8_t> serialize(const ciphertext_type&) const { return {}; }
  ciphertext_type deserialize(std::span<const std::uint8_t>) const { return {}; }
};

int main() {
  additive_only backend;
  // Encrypted FedAvg with plaintext training compiles ...
  hefl::fl::federated_trainer<additive_only> fedavg(backend, hefl::fl::trainer_config{});
  (void)fedavg;
  // ... training on the encrypted data does not.
  hefl::fl::encrypted_model_trainer<additive_only> trainer(backend, hefl::fl::trainer_config{},
                                                           hefl::approx::paper_sigmoid3());
  (void)trainer;
}
