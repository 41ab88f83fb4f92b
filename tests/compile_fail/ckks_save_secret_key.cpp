// expect: ckks::save refuses a secret_key so that the secret never becomes bytes by accident
// The secret key is written only when the caller names it (ckks::expose_secret); the ordinary
// save overload must refuse it at compile time with a sentence.
#include <hefl/he/ckks/serialization.hpp>

#include <array>
#include <cstdint>

int main() {
  namespace ckks = hefl::he::ckks;
  const ckks::parameters p(16, {30, 30}, 20, ckks::security::none_i_know_this_is_insecure);
  std::array<std::uint8_t, 32> seed{};
  ckks::detail::wire::chacha20_source rng(seed);
  ckks::key_generator keygen(p, rng);
  const auto bytes = ckks::save(p, keygen.secret());
  return static_cast<int>(bytes.size());
}
