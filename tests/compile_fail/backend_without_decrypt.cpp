// expect: has no `std::vector<double> decrypt\(const ciphertext_type&\) const`
// A backend that cannot decrypt cannot serve the trainer; the message names the missing member.
#include <hefl/fl/federated_trainer.hpp>

#include <cstdint>
#include <span>
#include <vector>

struct write_only_backend {
  using ciphertext_type = std::vector<double>;
  std::size_t slot_count() const { return 8; }
  ciphertext_type encrypt(std::span<const double> v) { return {v.begin(), v.end()}; }
  ciphertext_type add(const ciphertext_type& a, const ciphertext_type&) const { return a; }
  void add_inplace(ciphertext_type&, const ciphertext_type&) const {}
  ciphertext_type multiply_scalar(const ciphertext_type& a, double) const { return a; }
  std::vector<std::uint8_t> serialize(const ciphertext_type&) const { return {}; }
  ciphertext_type deserialize(std::span<const std::uint8_t>) const { return {}; }
};

int main() {
  write_only_backend backend;
  hefl::fl::federated_trainer<write_only_backend> trainer(backend, hefl::fl::trainer_config{});
  (void)trainer;
}
