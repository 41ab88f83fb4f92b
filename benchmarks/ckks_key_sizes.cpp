// Prints the serialized sizes of the CKKS evaluation keys: the bytes of
// he::ckks_key_holder::evaluation_keys() (parameters, relinearization key, Galois keys for sum_slots
// and every ±2^i) at the FL-FHE preset he::ckks_encrypted_data_parameters(6), N = 16384; the
// relinearization key and the default Galois keys (create_galois_keys(): ±2^i and conjugation) at
// ckks_bench's parameter sets; then the same evaluation_keys() (a packed encrypted-training epoch's
// keys: relinearization, sum_slots and ±2^i) for the presets and chains at N = 16384 with α = 1, 2, 3
// special primes (hybrid key switching, ckks::special_primes), with the formula's prediction beside.
// Sizes only: no timing. Used for the key sizes in docs/ckks.md.
#include <hefl/crypto/botan_random.hpp>
#include <hefl/he/ckks/serialization.hpp>
#include <hefl/he/ckks_backend.hpp>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <string>
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
  // ckks_bench's default sets: secure_parameters(2, 40) and secure_parameters(7, 40) (α chosen
  // automatically: 1 and 2), and the depth-7 chain with one special prime.
  const std::vector<ckks::parameters> sets{ckks::secure_parameters(2, 40), ckks::secure_parameters(7, 40),
                                           ckks::secure_parameters(7, 40, ckks::default_integer_bits,
                                                                   ckks::special_primes{1})};
  for (const auto& p : sets) {
    ckks::key_generator keygen(p, rng);
    const auto rk = keygen.create_relin_keys();
    const auto gk = keygen.create_galois_keys();
    std::printf("N = %zu, %zu primes, %zu special: relinearization key %llu bytes, Galois keys for every +-2^i and "
                "conjugation %llu bytes (%zu keys)\n",
                p.poly_degree(), p.primes().size(), p.special_prime_count(),
                static_cast<unsigned long long>(ckks::save(p, rk).size()),
                static_cast<unsigned long long>(ckks::save(p, gk).size()), gk.elements().size());
  }

  // Hybrid key switching: a seeded key-switching key stores dnum polynomials b_j over all primes,
  // dnum · N · (bits of Q_L·P) / 8 bytes (plus 32 bytes of seed), with dnum = ceil((L + 1)/α).
  struct hybrid_set {
    ckks::parameters params;
    const char* name;
  };
  const auto chain = [](std::vector<int> bits, std::size_t alpha, int log2_scale) {
    return ckks::parameters(16384, std::move(bits), log2_scale, ckks::special_primes{alpha});
  };
  const std::vector<hybrid_set> hybrid{
      {he::ckks_encrypted_data_parameters(6), "ckks_encrypted_data_parameters(6)"},
      {he::ckks_encrypted_data_parameters(5), "ckks_encrypted_data_parameters(5)"},
      {he::ckks_encrypted_data_parameters(5, ckks::special_primes{2}), "ckks_encrypted_data_parameters(5, {2})"},
      {he::ckks_encrypted_data_parameters(4), "ckks_encrypted_data_parameters(4)"},
      {he::ckks_encrypted_data_parameters(4, ckks::special_primes{2}), "ckks_encrypted_data_parameters(4, {2})"},
      {he::ckks_encrypted_data_parameters(4, ckks::special_primes{3}), "ckks_encrypted_data_parameters(4, {3})"},
      {ckks::secure_parameters(7, 40, ckks::default_integer_bits, ckks::special_primes{1}), "secure_parameters(7, 40, 10, {1})"},
      {ckks::secure_parameters(7, 40), "secure_parameters(7, 40)"},
      {chain({50, 40, 40, 40, 40, 40, 40, 50}, 1, 40), "depth 6, alpha 1"},
      {chain({50, 40, 40, 40, 40, 40, 40, 45, 45}, 2, 40), "depth 6, alpha 2"},
      {chain({50, 40, 40, 40, 40, 40, 40, 44, 44, 44}, 3, 40), "depth 6, alpha 3"}};
  std::printf("\nEvaluation keys of a packed encrypted-training epoch (ckks_key_holder::evaluation_keys(), "
              "default options) at N = 16384\n");
  std::printf("| parameters | chain (scale) | special primes | L | digits | log2(QP) | one Galois key (formula) | evaluation_keys() | Galois keys |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& set : hybrid) {
    const ckks::parameters& p = set.params;
    he::ckks_key_holder holder(p, rng);
    const auto bits_of = p.prime_bits();
    const std::size_t alpha = p.special_prime_count();
    std::string chain_text = "{", special = "{";
    for (std::size_t i = 0; i < bits_of.size(); ++i) {
      std::string& s = i + alpha < bits_of.size() ? chain_text : special;
      s += (s.size() > 1 ? ", " : "") + std::to_string(bits_of[i]);
    }
    chain_text += "} (2^" + std::to_string(static_cast<int>(p.log2_scale())) + ")";
    special += "}";
    int bits = 0;
    for (const std::uint64_t q : p.primes()) bits += std::bit_width(q);
    const unsigned long long formula =
        static_cast<unsigned long long>(p.digit_count()) * p.poly_degree() * static_cast<unsigned long long>(bits) / 8 + 32;
    const std::uint64_t g1 = ckks::galois_element_for_step(1, p.poly_degree());
    ckks::key_generator keygen(p, rng);
    const auto one = keygen.create_galois_keys_for_elements(std::vector<std::uint64_t>{g1});
    // The Galois keys the holder makes with its default options: sum_slots' steps and every ±2^i.
    std::vector<std::uint64_t> elements;
    const auto add = [&](long long step) {
      const std::uint64_t g = ckks::galois_element_for_step(step, p.poly_degree());
      if (std::find(elements.begin(), elements.end(), g) == elements.end()) elements.push_back(g);
    };
    for (const long long step : ckks::evaluator::sum_slots_steps(p.slot_count())) add(step);
    for (long long step = 1; step < static_cast<long long>(p.slot_count()); step *= 2) {
      add(step);
      add(-step);
    }
    const std::size_t keys = elements.size();
    std::printf("| %s | %s | %s | %zu | %zu | %d | %llu (%llu) | %zu | %zu |\n", set.name, chain_text.c_str(), special.c_str(), p.max_level(),
                p.digit_count(), p.modulus_bits(), static_cast<unsigned long long>(ckks::save(p, one).size()), formula,
                holder.evaluation_keys().size(), keys);
  }
}
