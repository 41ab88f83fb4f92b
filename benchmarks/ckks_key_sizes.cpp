// Prints the serialized sizes of the CKKS evaluation keys: the bytes of
// he::ckks_key_holder::evaluation_keys() (parameters, relinearization key, Galois keys for sum_slots
// and every ±2^i) at the FL-FHE preset he::ckks_encrypted_data_parameters(6), N = 16384; and the
// relinearization key and the ±2^i Galois keys (create_galois_keys()) at ckks_bench's two parameter
// sets. Sizes only: no timing. Used for the key sizes in docs/ckks.md.
#include <hefl/crypto/botan_random.hpp>
#include <hefl/he/ckks/serialization.hpp>
#include <hefl/he/ckks_backend.hpp>

#include <cstdio>
#include <vector>

int main() {
  using namespace hefl;
  namespace ckks = he::ckks;
  crypto::system_random rng;
  {
    he::ckks_key_holder holder(he::ckks_encrypted_data_parameters(6), rng);
    const auto& p = holder.params();
    std::printf("key holder, ckks_encrypted_data_parameters(6): N = %zu, %zu primes, evaluation_keys() = %zu bytes\n",
                p.poly_degree(), p.primes().size(), holder.evaluation_keys().size());
  }
  const std::vector<std::vector<int>> sets{{50, 40, 40, 50}, {50, 40, 40, 40, 40, 40, 40, 40, 50}};
  for (const auto& bits : sets) {
    const ckks::parameters p(bits.size() == 4 ? 8192 : 16384, bits, 40);
    ckks::key_generator keygen(p, rng);
    const auto rk = keygen.create_relin_keys();
    const auto gk = keygen.create_galois_keys();
    std::printf("N = %zu, %zu primes: relinearization key %llu bytes, Galois keys for every +-2^i %llu bytes "
                "(%zu keys)\n",
                p.poly_degree(), p.primes().size(), static_cast<unsigned long long>(ckks::save(p, rk).size()),
                static_cast<unsigned long long>(ckks::save(p, gk).size()), gk.elements().size());
  }
}
