// expect: an additive-only backend cannot evaluate a polynomial sigmoid
// A Paillier-style backend (add and multiply by scalars only) may carry FedAvg but cannot evaluate
// the sigmoid polynomial on encrypted data; the refusal must be a sentence at compile time.
#include <hefl/approx/evaluate.hpp>

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
static_assert(hefl::he::additive_backend<additive_only>);

int main() {
  additive_only backend;
  const std::vector<double> x{0.5};
  const auto c = backend.encrypt(x);
  (void)hefl::approx::evaluate(backend, c, hefl::approx::paper_sigmoid3());
}
