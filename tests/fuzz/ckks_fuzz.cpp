// libFuzzer harness: CKKS loads (hefl/he/ckks/serialization.hpp) for the fixed tiny parameter set
// N = 16, primes {30, 25, 25, 30} bits, scale 2^20 (insecure on purpose: small and fast). The first
// byte picks the loader (mod 6): parameters, ciphertext, public key, relinearisation keys, Galois
// keys, plaintext; the rest is the serialized object.
#include "ckks_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace ckks = hefl::he::ckks;
  if (size == 0) return 0;
  const auto& p = hefl_fuzz::tiny_parameters();
  const std::span<const std::uint8_t> in(data + 1, size - 1);
  try {
    switch (data[0] % 6) {
      case 0: (void)ckks::load_parameters(in, ckks::security::none_i_know_this_is_insecure); break;
      case 1: (void)ckks::load_ciphertext(p, in); break;
      case 2: (void)ckks::load_public_key(p, in); break;
      case 3: (void)ckks::load_relin_keys(p, in); break;
      case 4: (void)ckks::load_galois_keys(p, in); break;
      default: (void)ckks::load_plaintext(p, in); break;
    }
  } catch (const hefl::error&) {
  }
  return 0;
}
