#include <hefl/he/ckks/params.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>
#include <vector>

using hefl::he::ckks::parameters;
using hefl::he::ckks::security;
namespace detail = hefl::he::ckks::detail;

namespace {
std::vector<int> repeat(int bits, int count, std::vector<int> tail = {}) {
  std::vector<int> v(static_cast<std::size_t>(count), bits);
  v.insert(v.end(), tail.begin(), tail.end());
  return v;
}
} // namespace

TEST_CASE("parameters expose the chain, the special prime and the scale", "[ckks][params]") {
  const parameters p(8192, {60, 40, 40, 60}, 40);
  CHECK(p.poly_degree() == 8192);
  CHECK(p.slot_count() == 4096);
  CHECK(p.max_level() == 2);
  REQUIRE(p.primes().size() == 4);
  CHECK(p.ciphertext_primes().size() == 3);
  CHECK(p.special_prime() == p.primes()[3]);
  CHECK(p.modulus_bits() == 200);
  CHECK(p.scale() == 0x1p40);
  // log2 Q_l: the chain primes up to level l, never the special prime.
  CHECK(p.log2_modulus(0) == Approx(std::log2(static_cast<double>(p.primes()[0]))));
  CHECK(p.log2_modulus(2) == Approx(std::log2(static_cast<double>(p.primes()[0])) +
                                    std::log2(static_cast<double>(p.primes()[1])) +
                                    std::log2(static_cast<double>(p.primes()[2]))));
  CHECK(p.log2_modulus(2) == Approx(140).margin(0.01));
  CHECK_THROWS_AS(p.log2_modulus(3), hefl::invalid_argument);
  CHECK(p.security_level() == security::classical_128);
  std::set<std::uint64_t> distinct(p.primes().begin(), p.primes().end());
  CHECK(distinct.size() == 4);
  const auto& ctx = p.context();
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(ctx.ntt(i).prime() == p.primes()[i]);
    CHECK(ctx.ntt(i).degree() == 8192);
    CHECK(p.primes()[i] % 16384 == 1);
    for (std::size_t j = 0; j < 4; ++j) {
      if (i == j) continue;
      const detail::modulus qi(p.primes()[i]);
      CHECK(detail::mul_mod(p.primes()[j] % p.primes()[i], ctx.inverse(j, i), qi) == 1);
      CHECK(detail::mul_shoup(p.primes()[j] % p.primes()[i], ctx.inverse(j, i), ctx.inverse_shoup(j, i),
                              p.primes()[i]) == 1);
    }
  }
  // Copies share the precomputation.
  const parameters copy = p;
  CHECK(&copy.context() == &p.context());
  CHECK(copy == p);
}

TEST_CASE("the HomomorphicEncryption.org 128-bit table: accept at the limit, refuse above", "[ckks][params]") {
  struct row {
    std::size_t n;
    std::vector<int> at_limit, above;
    int bound;
  };
  const std::vector<row> rows{
      {4096, {36, 36, 37}, {36, 36, 38}, 109},
      {8192, {60, 49, 49, 60}, {60, 50, 49, 60}, 218},
      {16384, repeat(60, 6, {39, 39}), repeat(60, 6, {39, 40}), 438},
      {32768, repeat(60, 14, {41}), repeat(60, 14, {42}), 881},
      {65536, repeat(60, 28, {40, 41}), repeat(60, 28, {41, 41}), 1761},
  };
  for (const auto& r : rows) {
    CAPTURE(r.n);
    CHECK(hefl::he::ckks::max_secure_modulus_bits(r.n) == r.bound);
    // The table rows put small primes last; the special-prime size rule is not what this test checks.
    constexpr auto loose = hefl::he::ckks::special_prime_size::allow_smaller_i_know_key_switching_loses_precision;
    const parameters ok(r.n, r.at_limit, 30, security::classical_128, loose);
    CHECK(ok.modulus_bits() == r.bound);
    CHECK_THROWS_AS(parameters(r.n, r.above, 30, security::classical_128, loose), hefl::security_error);
    CHECK_THROWS_WITH(parameters(r.n, r.above, 30, security::classical_128, loose),
                      Catch::Contains(std::to_string(r.bound + 1)) && Catch::Contains(std::to_string(r.bound)) &&
                          Catch::Contains("N = " + std::to_string(r.n)));
    const parameters opted_out(r.n, r.above, 30, security::none_i_know_this_is_insecure, loose);
    CHECK(opted_out.modulus_bits() == r.bound + 1);
    CHECK(opted_out.security_level() == security::none_i_know_this_is_insecure);
  }
}

TEST_CASE("small ring degrees need the named opt-out", "[ckks][params]") {
  CHECK_THROWS_AS(parameters(2048, {30, 30}, 20), hefl::security_error);
  CHECK_THROWS_WITH(parameters(1024, {30, 30}, 20), Catch::Contains("none_i_know_this_is_insecure"));
  const parameters toy(16, {30, 30, 30}, 20, security::none_i_know_this_is_insecure);
  CHECK(toy.poly_degree() == 16);
  CHECK(toy.max_level() == 1);
}

TEST_CASE("parameters reject bad inputs with typed errors", "[ckks][params]") {
  using hefl::invalid_argument;
  constexpr auto insecure = security::none_i_know_this_is_insecure;
  CHECK_THROWS_AS(parameters(8191, {60, 60}, 40), invalid_argument);
  CHECK_THROWS_AS(parameters(0, {60, 60}, 40), invalid_argument);
  CHECK_THROWS_AS(parameters(4, {30, 30}, 20, insecure), invalid_argument);
  CHECK_THROWS_AS(parameters(131072, {60, 60}, 40, insecure), invalid_argument);
  CHECK_THROWS_WITH(parameters(8192, {60}, 40), Catch::Contains("at least 2 primes") && Catch::Contains("got 1"));
  CHECK_THROWS_AS(parameters(8192, {}, 40), invalid_argument);
  CHECK_THROWS_WITH(parameters(8192, {60, 19, 60}, 40), Catch::Contains("prime 1") && Catch::Contains("got 19"));
  CHECK_THROWS_AS(parameters(8192, {62, 40}, 40), invalid_argument);
  CHECK_THROWS_AS(parameters(8192, {60, 40, 60}, 0), invalid_argument);
  CHECK_THROWS_AS(parameters(8192, {60, 40, 60}, -3), invalid_argument);
  CHECK_THROWS_AS(parameters(8192, {60, 40, 60}, 100), invalid_argument);
  CHECK_THROWS_AS(parameters(8192, {60, 40, 60}, std::nan("")), invalid_argument);
  CHECK_THROWS_AS(parameters(8192, {60, 40, 60}, 1.0 / 0.0), invalid_argument);
  // Few 20-bit primes are 1 mod 2N = 16384; asking for many of them fails and says how many exist.
  CHECK_THROWS_WITH(parameters(8192, std::vector<int>(12, 20), 10, insecure), Catch::Contains("were requested"));
  // At N = 65536, 2N = 2^17 leaves room for only a few 20-bit candidates of the form k*2N + 1.
  CHECK_THROWS_AS(parameters(65536, std::vector<int>(30, 20), 10, insecure), invalid_argument);
  CHECK_THROWS_AS(parameters(8192, std::vector<int>(300, 30), 10, insecure), invalid_argument);
}

TEST_CASE("parameter ids are stable and tell sets apart", "[ckks][params]") {
  const parameters a(8192, {60, 40, 40, 60}, 40);
  CHECK(a.id() == parameters(8192, {60, 40, 40, 60}, 40).id());
  // Pinned: a change here means serialized objects from earlier builds no longer load.
  CHECK(a.id() == 0x303112d57d498460ULL); // format version 2 (CRC-64 checksums)
  CHECK(parameters(8192, {60, 40, 40, 60}, 40, security::none_i_know_this_is_insecure).id() == a.id());
  std::set<std::uint64_t> ids{a.id()};
  ids.insert(parameters(8192, {60, 40, 60}, 40).id());
  ids.insert(parameters(8192, {60, 40, 40, 50}, 40, security::classical_128,
                        hefl::he::ckks::special_prime_size::allow_smaller_i_know_key_switching_loses_precision)
                 .id());
  ids.insert(parameters(8192, {60, 40, 40, 60}, 41).id());
  ids.insert(parameters(8192, {60, 40, 40, 60}, 40.5).id());
  ids.insert(parameters(16384, {60, 40, 40, 60}, 40).id());
  ids.insert(parameters(4096, {35, 30, 40}, 30).id());
  CHECK(ids.size() == 7);
  CHECK_FALSE(parameters(8192, {60, 40, 60}, 40) == a);
}

TEST_CASE("secure_parameters picks the smallest secure ring degree for a depth and scale", "[ckks][params]") {
  using hefl::he::ckks::secure_parameters;
  using hefl::he::ckks::max_secure_modulus_bits;
  const auto d2 = secure_parameters(2, 40);
  CHECK(d2.poly_degree() == 8192);
  CHECK(std::vector<int>(d2.prime_bits().begin(), d2.prime_bits().end()) == std::vector<int>{50, 40, 40, 50});
  CHECK(d2.special_prime_count() == 1); // 180 bits: no room for two special primes under 218
  // Depth 7: N = 16384, and the 438-bit bound has room for two special primes (420 bits), so the
  // default takes them: 4 key-switching digits instead of 8.
  const auto d7 = secure_parameters(7, 40);
  CHECK(d7.poly_degree() == 16384);
  CHECK(d7.max_level() == 7);
  CHECK(d7.special_prime_count() == 2);
  CHECK(d7.digit_count() == 4);
  CHECK(d7 == parameters(16384, {50, 40, 40, 40, 40, 40, 40, 40, 45, 45}, 40, hefl::he::ckks::special_primes{2}));
  // The default chains take the IFMA fast path: every prime, P included, below 2^50.
  for (const auto* p : {&d2, &d7})
    for (const std::uint64_t q : p->primes()) CHECK(q < (std::uint64_t{1} << 50));
  // Depth 8 still fits N = 16384 with 50-bit ends (420 bits); 60-bit ends need N = 32768.
  CHECK(secure_parameters(8, 40).poly_degree() == 16384);
  CHECK(secure_parameters(8, 40, 20).poly_degree() == 32768);
  CHECK(secure_parameters(7, 40, 20) == parameters(16384, {60, 40, 40, 40, 40, 40, 40, 40, 60}, 40));
  CHECK(secure_parameters(0, 30, 10).poly_degree() == 4096); // {40, 40}: 80 bits
  // Every result satisfies the table; the next smaller degree would not have admitted the chain.
  for (const std::size_t depth : {0u, 1u, 3u, 5u, 10u})
    for (const int scale : {25, 30, 40, 50}) {
      CAPTURE(depth, scale);
      const auto p = secure_parameters(depth, scale, 10);
      CHECK(p.security_level() == security::classical_128);
      CHECK(p.max_level() == depth);
      CHECK(p.log2_scale() == scale);
      CHECK(p.modulus_bits() <= max_secure_modulus_bits(p.poly_degree()));
      int sum = 0;
      for (const int b : p.prime_bits()) sum += b;
      if (p.poly_degree() > 4096) CHECK(sum > max_secure_modulus_bits(p.poly_degree() / 2));
      // The special primes cover every key-switching digit (for α = 1: the largest chain prime).
      const std::size_t alpha = p.special_prime_count();
      CHECK(alpha >= 1);
      CHECK(alpha <= hefl::he::ckks::max_automatic_special_primes);
      const auto bits = p.prime_bits();
      int special = 0;
      for (std::size_t i = bits.size() - alpha; i < bits.size(); ++i) special += bits[i];
      for (std::size_t first = 0; first < depth + 1; first += alpha) {
        int digit = 0;
        for (std::size_t i = first; i < std::min(depth + 1, first + alpha); ++i) digit += bits[i];
        CHECK(special >= digit);
      }
      // Automatic α is the largest that fits this N: one more special prime would not.
      if (alpha < std::min<std::size_t>(depth + 1, hefl::he::ckks::max_automatic_special_primes))
        CHECK_THROWS(parameters(p.poly_degree(), hefl::he::ckks::detail::secure_chain_bits(depth, scale, scale + 10, alpha + 1),
                                scale, hefl::he::ckks::special_primes{alpha + 1}));
    }
  CHECK(secure_parameters(20, 40, 10).poly_degree() == 65536); // 100 + 800 = 900 bits > 881
  CHECK_THROWS_WITH(secure_parameters(60, 40), Catch::Contains("1761"));
  CHECK_THROWS_AS(secure_parameters(2, 61), hefl::invalid_argument);
  CHECK_THROWS_AS(secure_parameters(2, 19), hefl::invalid_argument);
  CHECK_THROWS_AS(secure_parameters(2, 45, 16), hefl::invalid_argument);
  CHECK_THROWS_AS(secure_parameters(2, 40, 0), hefl::invalid_argument);
}

TEST_CASE("secure_parameters with an explicit number of special primes", "[ckks][params][hybrid]") {
  using hefl::he::ckks::secure_parameters;
  using hefl::he::ckks::special_primes;
  using hefl::he::ckks::max_secure_modulus_bits;
  // α = 1 asked for by name: the SEAL-style chain, one digit per chain prime.
  const auto one = secure_parameters(7, 40, 10, special_primes{1});
  CHECK(one == parameters(16384, {50, 40, 40, 40, 40, 40, 40, 40, 50}, 40));
  CHECK(one.digit_count() == 8);
  // α = 2 at depth 7: the default's choice.
  CHECK(secure_parameters(7, 40, 10, special_primes{2}) == secure_parameters(7, 40));
  // α = 3 at depth 7 needs 50 + 280 + 3·44 = 462 bits: no room at N = 16384, so the next ring.
  const auto three = secure_parameters(7, 40, 10, special_primes{3});
  CHECK(three.poly_degree() == 32768);
  CHECK(three.special_prime_count() == 3);
  CHECK(three.digit_count() == 3);
  CHECK(std::vector<int>(three.prime_bits().begin(), three.prime_bits().end()) ==
        std::vector<int>{50, 40, 40, 40, 40, 40, 40, 40, 44, 44, 44});
  CHECK(three.modulus_bits() <= max_secure_modulus_bits(32768));
  // α = 3 at depth 4, 2^50 and 10 integer bits: {60, 50×4 | 54, 54, 54}, 2 digits, at N = 16384.
  const auto data = secure_parameters(4, 50, 10, special_primes{3});
  CHECK(data.poly_degree() == 16384);
  CHECK(data.digit_count() == 2);
  CHECK(data.modulus_bits() <= 438);
  // Refused: more special primes than chain primes, and a chain that no ring admits.
  CHECK_THROWS_AS(secure_parameters(7, 40, 10, special_primes{9}), hefl::invalid_argument);
  CHECK_THROWS_WITH(secure_parameters(7, 40, 10, special_primes{9}), Catch::Contains("9 special primes for a chain of 8"));
  CHECK_THROWS_AS(secure_parameters(50, 40, 10, special_primes{2}), hefl::invalid_argument);
  CHECK_THROWS_WITH(secure_parameters(50, 40, 10, special_primes{2}), Catch::Contains("with 2 special primes"));
  // special_primes{0} is automatic_special_primes: the default's choice.
  CHECK(secure_parameters(7, 40, 10, special_primes{0}) == secure_parameters(7, 40));
}
