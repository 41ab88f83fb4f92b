// The presets of he/ckks_backend.hpp with a number of special primes α (hybrid key switching,
// ckks::special_primes): the chains that fit the 128-bit bound at the preset's ring degree, the
// refusals of those that do not (naming both bit counts), and a backend built on one.

#include <hefl/he/ckks_backend.hpp>

#include <catch2/catch.hpp>

#include "ckks_test_support.hpp"

#include <cstddef>
#include <vector>

namespace ckks = hefl::he::ckks;
namespace he = hefl::he;
using ckks::special_primes;

namespace {

std::vector<int> bits_of(const ckks::parameters& p) { return {p.prime_bits().begin(), p.prime_bits().end()}; }

} // namespace

TEST_CASE("ckks presets take a number of special primes and keep their ring degree", "[ckks][presets][hybrid]") {
  // α = 1 stated by name is the preset of every earlier release, id for id.
  CHECK(he::ckks_encrypted_data_parameters(4, special_primes{1}) == he::ckks_encrypted_data_parameters(4));
  CHECK(he::ckks_aggregation_parameters(special_primes{1}) == he::ckks_aggregation_parameters());
  CHECK(he::ckks_encrypted_model_parameters(3, special_primes{1}) == he::ckks_encrypted_model_parameters(3));
  CHECK(he::ckks_encrypted_data_parameters(4) == ckks::parameters(16384, {60, 50, 50, 50, 50, 60}, 50));
  CHECK(he::ckks_encrypted_data_parameters(7) == ckks::parameters(32768, {60, 50, 50, 50, 50, 50, 50, 50, 60}, 50));
  CHECK(he::ckks_encrypted_model_parameters(2) == ckks::parameters(32768, {60, 60, 60, 60, 60}, 60));
  CHECK(he::ckks_aggregation_parameters() == ckks::parameters(8192, {50, 50, 50, 60}, 40));
  // The presets can still be passed as callables taking the number of levels alone (paper_tables does).
  const auto call = [](auto preset) { return preset(3); };
  CHECK(call(he::ckks_encrypted_data_parameters) == he::ckks_encrypted_data_parameters(3));

  // Depth 4 at 2^50 with α = 3: {60, 50×4 | 54, 54, 54}, 2 digits instead of 5, N = 16384.
  const ckks::parameters d4 = he::ckks_encrypted_data_parameters(4, special_primes{3});
  CHECK(d4.poly_degree() == 16384);
  CHECK(d4.max_level() == 4);
  CHECK(d4.special_prime_count() == 3);
  CHECK(d4.digit_count() == 2);
  CHECK(bits_of(d4) == std::vector<int>{60, 50, 50, 50, 50, 54, 54, 54});
  CHECK(d4.modulus_bits() <= ckks::max_secure_modulus_bits(16384));
  CHECK(d4.log2_scale() == 50);
  // Depth 5 with α = 2: {60, 50×5 | 55, 55}, 420 bits.
  const ckks::parameters d5 = he::ckks_encrypted_data_parameters(5, special_primes{2});
  CHECK(bits_of(d5) == std::vector<int>{60, 50, 50, 50, 50, 50, 55, 55});
  CHECK(d5.digit_count() == 3);
  // Depth 10 at N = 32768 with α = 3.
  const ckks::parameters d10 = he::ckks_encrypted_data_parameters(10, special_primes{3});
  CHECK(d10.poly_degree() == 32768);
  CHECK(d10.digit_count() == 4);
  // The model preset: α special primes of 60 bits, levels + α <= 12.
  const ckks::parameters m = he::ckks_encrypted_model_parameters(9, special_primes{3});
  CHECK(m.poly_degree() == 32768);
  CHECK(m.special_prime_count() == 3);
  CHECK(m.modulus_bits() <= ckks::max_secure_modulus_bits(32768));
}

TEST_CASE("ckks presets refuse special primes that do not fit the 128-bit bound, by name", "[ckks][presets][hybrid]") {
  // Depth 6 at N = 16384 already takes 420 of the 438 bits: a second special prime needs 470.
  CHECK_THROWS_AS(he::ckks_encrypted_data_parameters(6, special_primes{2}), hefl::invalid_argument);
  CHECK_THROWS_WITH(he::ckks_encrypted_data_parameters(6, special_primes{2}),
                    Catch::Contains("6 levels with 2 special primes need 470 bits") &&
                        Catch::Contains("438 bits allowed for 128-bit security at N = 16384"));
  CHECK_THROWS_WITH(he::ckks_encrypted_data_parameters(5, special_primes{3}), Catch::Contains("need 472 bits"));
  CHECK_THROWS_WITH(he::ckks_encrypted_data_parameters(15, special_primes{2}), Catch::Contains("881 bits allowed"));
  CHECK_THROWS_AS(he::ckks_encrypted_model_parameters(11, special_primes{2}), hefl::invalid_argument);
  CHECK_THROWS_AS(he::ckks_aggregation_parameters(special_primes{2}), hefl::invalid_argument);
  CHECK_THROWS_WITH(he::ckks_aggregation_parameters(special_primes{2}), Catch::Contains("218 bits allowed"));
  // α = 0, and more special primes than chain primes.
  CHECK_THROWS_WITH(he::ckks_encrypted_data_parameters(4, special_primes{0}), Catch::Contains("must be in [1, 5]"));
  CHECK_THROWS_WITH(he::ckks_encrypted_data_parameters(1, special_primes{3}), Catch::Contains("got 3"));
  // The levels check still comes first.
  CHECK_THROWS_WITH(he::ckks_encrypted_data_parameters(0, special_primes{2}), Catch::Contains("levels must be in"));
}

TEST_CASE("a ckks backend on a preset with three special primes multiplies and relinearizes correctly",
          "[ckks][presets][hybrid]") {
  hefl_test::test_source rng(2024);
  he::ckks_backend_options options;
  options.rotations = false; // the relinearization key only: keep the test fast at N = 16384
  he::ckks_backend backend(he::ckks_encrypted_data_parameters(2, special_primes{3}), rng, options);
  REQUIRE(backend.params().digit_count() == 1);
  const std::size_t n = backend.params().slot_count();
  const auto x = hefl_test::random_values(n, 5), y = hefl_test::random_values(n, 6);
  const auto product = backend.multiply(backend.encrypt(x), backend.encrypt(y));
  std::vector<double> want(n);
  for (std::size_t j = 0; j < n; ++j) want[j] = x[j] * y[j];
  CHECK(hefl_test::max_error(backend.decrypt(product), want) < 1e-6);
}
