// Hybrid key switching with α special primes and dnum = ceil((L + 1)/α) digits (Han, Ki, CT-RSA
// 2020): parameters that state α, the refusals of bad combinations, relinearization, rotations
// (single, hoisted, sum of slots) against double precision at α = 1, 2, 3 on the IFMA and the
// portable kernels (bit-identical), α = 1 stated explicitly giving today's keys byte for byte, and
// the serialized digit structure (format version 4) with its refusals.
#include <hefl/core/serialization.hpp>
#include <hefl/he/ckks/decryptor.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/evaluator.hpp>
#include <hefl/he/ckks/keys.hpp>
#include <hefl/he/ckks/serialization.hpp>
#include <hefl/he/ckks_backend.hpp>

#include <catch2/catch.hpp>

#include "ckks_test_support.hpp"

#include <cstdint>
#include <cstring>
#include <sstream>
#include <vector>

namespace ckks = hefl::he::ckks;
namespace wire = hefl::he::ckks::detail::wire;
using Catch::Contains;

namespace {

constexpr auto insecure = ckks::security::none_i_know_this_is_insecure;

class kernel_switch_guard {
public:
  kernel_switch_guard() : m_saved(ckks::detail::simd_kernels_requested().load()) {}
  ~kernel_switch_guard() { ckks::detail::simd_kernels_requested().store(m_saved); }
  kernel_switch_guard(const kernel_switch_guard&) = delete;
  kernel_switch_guard& operator=(const kernel_switch_guard&) = delete;

private:
  bool m_saved;
};

// N = 1024 (insecure: small ring), chain {50, 40, 40, 40, 40} (L = 4) and α special primes of 50
// bits: every digit product (at most 50 + 40·(α - 1) bits) is below P (50·α bits). Primes below
// 2^50, so every limb takes the IFMA kernels when the CPU has them.
ckks::parameters hybrid_parameters(std::size_t alpha) {
  std::vector<int> bits{50, 40, 40, 40, 40};
  bits.insert(bits.end(), alpha, 50);
  return ckks::parameters(1024, bits, 40, ckks::special_primes{alpha}, insecure);
}

std::vector<double> decrypt(const ckks::parameters& p, const ckks::decryptor& dec, const ckks::ciphertext& ct) {
  const ckks::encoder enc(p.poly_degree());
  return dec.decrypt_decode(ct, enc);
}

std::vector<double> rotated(const std::vector<double>& x, long long step) {
  const auto n = static_cast<long long>(x.size());
  std::vector<double> out(x.size());
  for (long long i = 0; i < n; ++i) out[static_cast<std::size_t>(i)] = x[static_cast<std::size_t>((((i + step) % n) + n) % n)];
  return out;
}

template <class T>
void poke(std::vector<std::uint8_t>& b, std::size_t at, T v) {
  std::memcpy(b.data() + at, &v, sizeof v);
}

void reseal(std::vector<std::uint8_t>& b) {
  const std::uint64_t sum = hefl::serial::checksum(std::span<const std::uint8_t>(b.data(), b.size() - 8));
  std::memcpy(b.data() + b.size() - 8, &sum, 8);
}

template <class F>
std::string parse_message(F&& f) {
  try {
    f();
  } catch (const hefl::parse_error& e) {
    return e.what();
  }
  return "(no parse_error)";
}

} // namespace

TEST_CASE("hybrid key switching: parameters state the special-prime count and the digit structure",
          "[ckks][hybrid]") {
  const ckks::parameters one(1024, {50, 40, 40, 40, 40, 50}, 40, insecure);
  const ckks::parameters one_explicit(1024, {50, 40, 40, 40, 40, 50}, 40, ckks::special_primes{1}, insecure);
  CHECK(one.special_prime_count() == 1);
  CHECK(one.digit_count() == 5);
  CHECK(one.id() == one_explicit.id());
  for (const std::size_t alpha : {2, 3}) {
    CAPTURE(alpha);
    const auto p = hybrid_parameters(alpha);
    CHECK(p.special_prime_count() == alpha);
    CHECK(p.max_level() == 4);
    CHECK(p.ciphertext_primes().size() == 5);
    CHECK(p.key_switch_primes().size() == alpha);
    CHECK(p.key_switch_primes().back() == p.special_prime());
    CHECK(p.digit_count() == (5 + alpha - 1) / alpha);
    CHECK(p.context().special_count() == alpha);
  }
  // The same primes split differently are other parameters.
  const ckks::parameters two_of_six(1024, {50, 40, 40, 40, 50, 50}, 40, ckks::special_primes{2}, insecure);
  const ckks::parameters one_of_six(1024, {50, 40, 40, 40, 50, 50}, 40, insecure);
  CHECK(two_of_six.id() != one_of_six.id());
  CHECK(std::ranges::equal(two_of_six.primes(), one_of_six.primes()));
}

TEST_CASE("hybrid key switching: bad special-prime counts and sizes are refused by name", "[ckks][hybrid]") {
  const std::vector<int> bits{50, 40, 40, 50, 50};
  CHECK_THROWS_WITH(ckks::parameters(1024, bits, 40, ckks::special_primes{0}, insecure),
                    Contains("special prime count must be in [1, 4]") && Contains("got 0"));
  CHECK_THROWS_AS(ckks::parameters(1024, bits, 40, ckks::special_primes{5}, insecure), hefl::invalid_argument);
  CHECK_THROWS_AS(ckks::parameters(1024, std::vector<int>(40, 40), 40, ckks::special_primes{33}, insecure),
                  hefl::invalid_argument);
  // P below a digit product: refused, naming the digit and both sizes, unless opted out. Digits
  // {50, 40} and {40}; P = 30 + 50 bits < 90.
  CHECK_THROWS_WITH(ckks::parameters(1024, {50, 40, 40, 30, 50}, 40, ckks::special_primes{2}, insecure),
                    Contains("multiply to 80 bits") && Contains("90 bits of key-switching digit 0"));
  CHECK_NOTHROW(ckks::parameters(1024, {50, 40, 40, 30, 50}, 40, ckks::special_primes{2}, insecure,
                                 ckks::special_prime_size::allow_smaller_i_know_key_switching_loses_precision));
  // Special primes smaller than the chain primes are fine when their product covers every digit.
  CHECK_NOTHROW(ckks::parameters(1024, {50, 40, 40, 46, 46}, 40, ckks::special_primes{2}, insecure));
  // The security bound counts every special prime: 4 primes of 28 bits are 112 > 109 bits at N = 4096.
  CHECK_THROWS_AS(ckks::parameters(4096, {28, 28, 28, 28}, 20, ckks::special_primes{2}), hefl::security_error);
  CHECK_THROWS_WITH(ckks::parameters(4096, {28, 28, 28, 28}, 20, ckks::special_primes{3}), Contains("112"));
  CHECK_NOTHROW(ckks::parameters(4096, {27, 27, 27, 27}, 20, ckks::special_primes{2}));
  // The log2_scale bound uses the chain only (q_0·q_1 = 54 bits with α = 2).
  CHECK_THROWS_AS(ckks::parameters(4096, {27, 27, 27, 27}, 60, ckks::special_primes{2}), hefl::invalid_argument);
}

TEST_CASE("hybrid key switching: relinearization and rotations agree with double precision at alpha = 1, 2, 3",
          "[ckks][hybrid]") {
  const kernel_switch_guard guard;
  for (const std::size_t alpha : {1, 2, 3}) {
    const auto p = hybrid_parameters(alpha);
    std::vector<std::vector<std::uint64_t>> residues[2];
    for (const bool simd : {true, false}) {
      ckks::set_simd_kernels(simd);
      CAPTURE(alpha, simd);
      hefl_test::test_source rng(40 + alpha);
      ckks::key_generator keygen(p, rng);
      const auto pk = keygen.create_public_key();
      const auto rk = keygen.create_relin_keys();
      const std::vector<long long> steps{1, 5, -3};
      auto gk_steps = ckks::evaluator::sum_slots_steps(p.slot_count());
      gk_steps.insert(gk_steps.end(), steps.begin(), steps.end());
      const auto gk = keygen.create_galois_keys(gk_steps);
      CHECK(rk.key().digit_count() == p.digit_count());
      CHECK(rk.key().special_count() == alpha);
      ckks::encryptor enc(p, pk, rng);
      const ckks::decryptor dec(p, keygen.secret());
      const ckks::evaluator eval(p);
      const auto x = hefl_test::random_values(eval.slot_count(), 7);
      const auto y = hefl_test::random_values(eval.slot_count(), 8);
      const auto cx = enc.encrypt(ckks::encode(p, eval.slot_encoder(), x));
      const auto cy = enc.encrypt(ckks::encode(p, eval.slot_encoder(), y));

      // Products at every level: the digits at level l < L are partial (e.g. α = 3, l = 3: {3, 1}).
      auto a = cx;
      std::vector<double> want = x;
      for (std::size_t level = p.max_level(); level > 0; --level) {
        CAPTURE(level);
        const auto b = eval.mod_switch_to(cy, a.level());
        a = eval.multiply_relin_rescale(a, b, rk);
        for (std::size_t i = 0; i < want.size(); ++i) want[i] *= y[i];
        CHECK(hefl_test::max_error(decrypt(p, dec, a), want) < 1e-5);
        // A rotation at this level too.
        const auto r = eval.rotate(a, 5, gk);
        CHECK(hefl_test::max_error(decrypt(p, dec, r), rotated(want, 5)) < 1e-5);
        const auto words = r.poly(0).data();
      residues[simd ? 0 : 1].push_back(std::vector<std::uint64_t>(words.begin(), words.end()));
      }
      // Rotations at the top level: single, composed (no key for 7: 8 - 1), hoisted, sum of slots.
      for (const long long s : {1LL, 5LL, -3LL, 7LL}) {
        CAPTURE(s);
        CHECK(hefl_test::max_error(decrypt(p, dec, eval.rotate(cx, s, gk)), rotated(x, s)) < 1e-5);
      }
      const auto many = eval.rotate_many(cx, steps, gk);
      for (std::size_t k = 0; k < steps.size(); ++k) {
        CHECK(hefl_test::max_error(decrypt(p, dec, many[k]), rotated(x, steps[k])) < 1e-5);
        // With α = 1 the centered digits commute with the automorphism's signs, so hoisting gives the
        // residues of a single rotation; the fast basis conversion of α > 1 does not (a negated
        // coefficient converts to α·D - d instead of -d), so there only the values agree.
        if (alpha == 1) CHECK(many[k].poly(0) == eval.rotate(cx, steps[k], gk).poly(0));
      }
      double sum = 0;
      for (const double v : x) sum += v;
      const auto summed_ct = eval.sum_slots(cx, gk);
      const auto summed = decrypt(p, dec, summed_ct);
      CHECK(hefl_test::max_error(summed, std::vector<double>(eval.slot_count(), sum)) < 1e-4);
      const auto words = summed_ct.poly(1).data();
      residues[simd ? 0 : 1].push_back(std::vector<std::uint64_t>(words.begin(), words.end()));
    }
    CAPTURE(alpha);
    CHECK(residues[0] == residues[1]); // the IFMA and the portable kernels: the same residues
  }
}

TEST_CASE("hybrid key switching: alpha = 1 stated explicitly gives the default keys byte for byte", "[ckks][hybrid]") {
  const ckks::parameters implicit(1024, {50, 40, 40, 50}, 40, insecure);
  const ckks::parameters stated(1024, {50, 40, 40, 50}, 40, ckks::special_primes{1}, insecure);
  hefl_test::test_source r1(9), r2(9);
  ckks::key_generator k1(implicit, r1), k2(stated, r2);
  CHECK(ckks::save(implicit, k1.create_relin_keys()) == ckks::save(stated, k2.create_relin_keys()));
  const std::vector<long long> steps{1, -2};
  CHECK(ckks::save(implicit, k1.create_galois_keys(steps)) == ckks::save(stated, k2.create_galois_keys(steps)));
  CHECK(ckks::save(implicit) == ckks::save(stated));
  CHECK(ckks::save(implicit)[8] == 2); // format version 2, as before
}

TEST_CASE("hybrid key switching: keys serialize with their digit structure and a mismatch is refused by name",
          "[ckks][hybrid]") {
  const auto p = hybrid_parameters(2);
  hefl_test::test_source rng(77);
  ckks::key_generator keygen(p, rng);
  const auto rk = keygen.create_relin_keys();
  const std::vector<long long> steps{1, 3};
  const auto gk = keygen.create_galois_keys(steps);
  const auto pk = keygen.create_public_key();

  // Parameters: version 4 with α, loading back the same set.
  const auto pb = ckks::save(p);
  std::uint32_t version = 0;
  std::memcpy(&version, pb.data() + 8, 4);
  CHECK(version == 4);
  const auto p2 = ckks::load_parameters(pb, insecure);
  CHECK(p2.id() == p.id());
  CHECK(p2.special_prime_count() == 2);
  CHECK(ckks::serialized_size(p) == pb.size());

  // Keys: round trips that compute exactly as the originals.
  const auto rkb = ckks::save(p, rk);
  const auto gkb = ckks::save(p, gk);
  CHECK(ckks::serialized_size(p, rk) == rkb.size());
  CHECK(ckks::serialized_size(p, gk) == gkb.size());
  std::memcpy(&version, rkb.data() + 8, 4);
  CHECK(version == 4);
  const auto rk2 = ckks::load_relin_keys(p2, rkb);
  const auto gk2 = ckks::load_galois_keys(p2, gkb);
  const auto pk2 = ckks::load_public_key(p2, ckks::save(p, pk));
  const auto sk2 = ckks::load_secret_key(p2, ckks::save(p, keygen.secret(), ckks::expose_secret));
  CHECK(sk2.poly() == keygen.secret().poly());
  CHECK(pk2.b() == pk.b());
  for (std::size_t j = 0; j < p.digit_count(); ++j) {
    CHECK(rk2.key().b(j) == rk.key().b(j));
    CHECK(rk2.key().a(j) == rk.key().a(j));
    CHECK(gk2.key(gk.elements()[0]).a(j) == gk.key(gk.elements()[0]).a(j));
  }
  ckks::encryptor enc(p, pk, rng);
  const ckks::evaluator eval(p);
  const auto x = hefl_test::random_values(eval.slot_count(), 3);
  const auto c = enc.encrypt(ckks::encode(p, eval.slot_encoder(), x));
  CHECK(eval.rotate(c, 3, gk2).poly(0) == eval.rotate(c, 3, gk).poly(0));
  CHECK(eval.relinearize(eval.square(c), rk2).poly(1) == eval.relinearize(eval.square(c), rk).poly(1));
  // Streams too.
  std::stringstream ss;
  ckks::save(p, gk, ss);
  CHECK(ckks::load_galois_keys(p, ss).elements() == gk.elements());

  // The same primes with α = 1 are other parameters: refused (the version says why).
  const ckks::parameters one(1024, {50, 40, 40, 40, 40, 50, 50}, 40, insecure);
  CHECK_THAT(parse_message([&] { (void)ckks::load_relin_keys(one, rkb); }),
             Contains("unsupported format version 4") && Contains("several special primes"));
  // A forged digit structure (checksum recomputed) is refused, naming both structures.
  constexpr std::size_t after_shape = 52;
  auto b = rkb;
  poke<std::uint32_t>(b, after_shape + 8, 5);
  reseal(b);
  CHECK_THAT(parse_message([&] { (void)ckks::load_relin_keys(p, b); }),
             Contains("5 digits over 2 special primes") && Contains("3 digits over 2 special primes"));
  b = gkb;
  poke<std::uint32_t>(b, after_shape + 12, 3);
  reseal(b);
  CHECK_THAT(parse_message([&] { (void)ckks::load_galois_keys(p, b); }), Contains("3 special primes"));
  // Version 3 (one special prime) is refused for these parameters, and version 4 for α = 1.
  b = rkb;
  poke<std::uint32_t>(b, 8, 3);
  CHECK_THAT(parse_message([&] { (void)ckks::load_relin_keys(p, b); }),
             Contains("unsupported format version 3") && Contains("2 special primes"));
  const ckks::parameters small(1024, {50, 40, 40, 50}, 40, insecure);
  hefl_test::test_source rng1(5);
  ckks::key_generator keygen1(small, rng1);
  b = ckks::save(small, keygen1.create_relin_keys());
  poke<std::uint32_t>(b, 8, 4);
  CHECK_THAT(parse_message([&] { (void)ckks::load_relin_keys(small, b); }),
             Contains("unsupported format version 4") && Contains("several special primes"));
  // A parameter set whose stored α is impossible.
  b = pb;
  poke<std::uint32_t>(b, 28 + 16, 9);
  reseal(b);
  CHECK_THAT(parse_message([&] { (void)ckks::load_parameters(b, insecure); }), Contains("special prime count 9"));
  // A key of other parameters cannot be saved with these.
  CHECK_THROWS_AS(ckks::save(small, rk), hefl::invalid_argument);
}

TEST_CASE("hybrid key switching: the fast mod-down is within alpha of the exact rounded division by P",
          "[ckks][hybrid]") {
  using namespace hefl::he::ckks::detail;
  const kernel_switch_guard guard;
  for (const std::size_t alpha : {2, 3}) {
    const auto p = hybrid_parameters(alpha);
    const auto& ctx = p.context();
    std::vector<std::uint64_t> fast_words[2];
    for (const bool simd : {true, false}) {
      ckks::set_simd_kernels(simd);
      CAPTURE(alpha, simd);
      hefl_test::test_source rng(3);
      for (const std::size_t level : {p.max_level(), std::size_t{1}}) {
        CAPTURE(level);
        rns_poly x(p.poly_degree(), level, alpha);
        {
          random_stream rs(rng);
          sample_uniform(x, rs, ctx); // NTT form, uniform modulo Q_l·P
        }
        rns_poly fast = x, exact = x;
        rns_poly* one[1] = {&fast};
        mod_down_special_inplace(std::span<rns_poly* const>(one), ctx);
        while (exact.has_special()) divide_round_last_inplace(exact, ctx);
        CHECK(fast.level() == level);
        CHECK_FALSE(fast.has_special());
        from_ntt(fast, ctx);
        from_ntt(exact, ctx);
        // exact - fast = u in [0, α) in every coefficient, the same integer modulo every q_i.
        bool small = true;
        for (std::size_t i = 0; i <= level; ++i) {
          const std::uint64_t q = p.primes()[i];
          for (std::size_t k = 0; k < p.poly_degree(); ++k) {
            const std::uint64_t d = (exact.limb(i)[k] + q - fast.limb(i)[k]) % q;
            small = small && d < alpha && d == (exact.limb(0)[k] + p.primes()[0] - fast.limb(0)[k]) % p.primes()[0];
          }
        }
        CHECK(small);
        const auto words = fast.data();
        fast_words[simd ? 0 : 1].insert(fast_words[simd ? 0 : 1].end(), words.begin(), words.end());
      }
    }
    CHECK(fast_words[0] == fast_words[1]);
  }
}

TEST_CASE("hybrid key switching: the key holder's evaluation keys reach the server and compute there",
          "[ckks][hybrid]") {
  hefl_test::test_source rng(12);
  hefl::he::ckks_key_holder holder(hybrid_parameters(3), rng);
  const hefl::he::ckks_server server(holder.evaluation_keys(), insecure);
  const auto x = hefl_test::random_values(holder.params().slot_count(), 4);
  const auto c = holder.encrypt(x);
  double want = 0;
  for (const double v : x) want += v * v;
  const auto got = holder.decrypt(server.sum_slots(server.multiply(c, c)));
  CHECK(std::fabs(got[0] - want) < 1e-3);
  CHECK(std::fabs(got[17] - want) < 1e-3);
}
