// expect: the backend cannot multiply two ciphertexts .* so it cannot train on encrypted data
// check_arithmetic_backend names the first missing arithmetic operation in one sentence.
#include <hefl/he/backend.hpp>

#include <cstdint>
#include <span>
#include <vector>

struct no_multiply {
  using ciphertext_type = std::vector<double>;
  std::size_t slot_count() const { return 8; }
  ciphertext_type encrypt(std::span<const double> v) { return {v.begin(), v.end()}; }
  std::vector<double> decrypt(const ciphertext_type& c) const { return c; }
  ciphertext_type add(const ciphertext_type& a, const ciphertext_type&) const { return a; }
  void add_inplace(ciphertext_type&, const ciphertext_type&) const {}
  ciphertext_type multiply_scalar(const ciphertext_type& a, double) const { return a; }
  std::vector<std::uint8_t> serialize(const ciphertext_type&) const { return {}; }
  ciphertext_type deserialize(std::span<const std::uint8_t>) const { return {}; }
  ciphertext_type sub(const ciphertext_type& a, const ciphertext_type&) const { return a; }
  ciphertext_type add_plain(const ciphertext_type& a, std::span<const double>) const { return a; }
  ciphertext_type multiply_plain(const ciphertext_type& a, std::span<const double>) const { return a; }
  int level(const ciphertext_type&) const { return 0; }
  int max_depth() const { return 0; }
};

static_assert(hefl::he::check_arithmetic_backend<no_multiply>());

int main() {}
