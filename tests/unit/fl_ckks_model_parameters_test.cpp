// fl::ckks_encrypted_data_parameters and fl::ckks_packed_model_parameters: the number of special
// primes they choose, that it keeps 128-bit security, and the explicit α (docs/ckks.md, "The FL
// side's chains choose α").

#include <hefl/fl/ckks_model_parameters.hpp>

#include <catch2/catch.hpp>

#include <algorithm>

namespace ckks = hefl::he::ckks;
using ckks::special_primes;

TEST_CASE("fl chains choose the largest alpha (at most 3) within the 128-bit bound", "[fl][ckks][params]") {
  for (int levels = 1; levels <= 6; ++levels) {
    CAPTURE(levels);
    const ckks::parameters d = hefl::fl::ckks_encrypted_data_parameters(levels);
    const ckks::parameters m = hefl::fl::ckks_packed_model_parameters(levels);
    for (const ckks::parameters* p : {&d, &m}) {
      CHECK(p->security_level() == ckks::security::classical_128);
      CHECK(p->modulus_bits() <= ckks::max_secure_modulus_bits(p->poly_degree()));
      CHECK(p->max_level() == static_cast<std::size_t>(levels));
    }
    // The chains themselves are the presets' (same N, same chain primes, same scale).
    const ckks::parameters preset = hefl::he::ckks_encrypted_data_parameters(levels);
    CHECK(d.poly_degree() == preset.poly_degree());
    CHECK(d.log2_scale() == preset.log2_scale());
    CHECK(std::equal(d.ciphertext_primes().begin(), d.ciphertext_primes().end(), preset.ciphertext_primes().begin(),
                     preset.ciphertext_primes().end()));
    // One more special prime would not fit (or α is already 3, or one digit).
    const std::size_t a = d.special_prime_count();
    if (a < 3 && a < static_cast<std::size_t>(levels) + 1)
      CHECK_THROWS_AS(hefl::he::ckks_encrypted_data_parameters(levels, special_primes{a + 1}), hefl::invalid_argument);
  }
  CHECK(hefl::fl::ckks_encrypted_data_parameters(4).special_prime_count() == 3);
  CHECK(hefl::fl::ckks_encrypted_data_parameters(4) == hefl::he::ckks_encrypted_data_parameters(4, special_primes{3}));
  CHECK(hefl::fl::ckks_encrypted_data_parameters(5).special_prime_count() == 2);
  CHECK(hefl::fl::ckks_encrypted_data_parameters(6).special_prime_count() == 1);
  CHECK(hefl::fl::ckks_packed_model_parameters(4) ==
        ckks::parameters(16384, {60, 55, 55, 55, 55, 58, 58}, 55, special_primes{2}));
  CHECK(hefl::fl::ckks_packed_model_parameters(5).special_prime_count() == 1);
}

TEST_CASE("fl chains take an explicit alpha; special_primes{1} is the layout of earlier releases", "[fl][ckks][params]") {
  CHECK(hefl::fl::ckks_encrypted_data_parameters(4, special_primes{1}) == hefl::he::ckks_encrypted_data_parameters(4));
  CHECK(hefl::fl::ckks_packed_model_parameters(4, special_primes{1}) ==
        ckks::parameters(16384, {60, 55, 55, 55, 55, 60}, 55));
  CHECK(hefl::fl::ckks_encrypted_data_parameters(4, special_primes{2}).special_prime_count() == 2);
  // An explicit α that does not fit the bound, or that is 0 after the automatic marker, is refused.
  CHECK_THROWS_WITH(hefl::fl::ckks_packed_model_parameters(4, special_primes{3}), Catch::Contains("438 bits allowed"));
  CHECK_THROWS_AS(hefl::fl::ckks_encrypted_data_parameters(6, special_primes{2}), hefl::invalid_argument);
  CHECK_THROWS_AS(hefl::fl::ckks_packed_model_parameters(0), hefl::invalid_argument);
  CHECK_THROWS_AS(hefl::fl::ckks_packed_model_parameters(12), hefl::invalid_argument);
  CHECK_THROWS_AS(hefl::fl::ckks_encrypted_data_parameters(16), hefl::invalid_argument);
}
