// The fast routes through key switching and sampling give the same residues as the plain ones:
// the fused key switch (digits made per limb and consumed at once) against decomposition + inner
// product + mod-down; a single rotation (c1 permuted before decomposing) against the hoisted one
// (digits permuted); the hoisted sum of slots against rotations added one by one (decrypted); the
// samplers against their per-coefficient definitions. Each on the IFMA and the portable kernels.
#include <hefl/he/ckks/decryptor.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/evaluator.hpp>
#include <hefl/he/ckks/keys.hpp>

#include <catch2/catch.hpp>

#include "ckks_test_support.hpp"

#include <cstdint>
#include <vector>

namespace ckks = hefl::he::ckks;
using namespace hefl::he::ckks::detail;

namespace {

class kernel_switch_guard {
public:
  kernel_switch_guard() : m_saved(simd_kernels_requested().load()) {}
  ~kernel_switch_guard() { simd_kernels_requested().store(m_saved); }
  kernel_switch_guard(const kernel_switch_guard&) = delete;
  kernel_switch_guard& operator=(const kernel_switch_guard&) = delete;

private:
  bool m_saved;
};

// N = 2048 (insecure: small ring): {50, 40, 40, 50} runs every limb on the fast path when the CPU has
// IFMA, {60, 40, 40, 60} mixes fast and portable limbs.
std::vector<ckks::parameters> small_parameters() {
  return {ckks::parameters(2048, {50, 40, 40, 50}, 40, ckks::security::none_i_know_this_is_insecure),
          ckks::parameters(2048, {60, 40, 40, 60}, 40, ckks::security::none_i_know_this_is_insecure)};
}

} // namespace

TEST_CASE("key switching: the fused key switch gives the residues of decomposition, inner product and mod-down",
          "[ckks][keyswitch]") {
  const kernel_switch_guard guard;
  for (const auto& params : small_parameters()) {
    for (const bool simd : {true, false}) {
      ckks::set_simd_kernels(simd);
      CAPTURE(params.primes().size(), simd);
      hefl_test::test_source rng(21);
      ckks::key_generator keygen(params, rng);
      const auto pk = keygen.create_public_key();
      const auto rk = keygen.create_relin_keys();
      ckks::encryptor enc(params, pk, rng);
      const ckks::evaluator eval(params);
      const auto x = hefl_test::random_values(eval.slot_count(), 3);
      auto ct = enc.encrypt(ckks::encode(params, eval.slot_encoder(), x));
      for (std::size_t level = params.max_level() + 1; level-- > 0;) {
        CAPTURE(level);
        const rns_poly& c = ct.poly(1);
        rns_poly f0, f1;
        key_switch(c, rk.key(), params.context(), f0, f1);
        const key_switch_digits d = decompose_for_key_switch(c, params.context());
        const key_switch_term term{&rk.key(), nullptr};
        rns_poly h0, h1;
        key_switch_inner_product(d, std::span<const key_switch_term>(&term, 1), params.context(), h0, h1);
        key_switch_mod_down(h0, h1, params.context());
        REQUIRE(f0.level() == level);
        CHECK(f0 == h0);
        CHECK(f1 == h1);
        if (level > 0) eval.mod_switch_to_inplace(ct, level - 1);
      }
    }
  }
}

TEST_CASE("key switching: a single rotation equals the hoisted one, and the hoisted sum of slots the plain sum",
          "[ckks][keyswitch]") {
  const kernel_switch_guard guard;
  for (const auto& params : small_parameters()) {
    for (const bool simd : {true, false}) {
      ckks::set_simd_kernels(simd);
      CAPTURE(params.primes().size(), simd);
      hefl_test::test_source rng(22);
      ckks::key_generator keygen(params, rng);
      const auto pk = keygen.create_public_key();
      const ckks::evaluator eval(params);
      std::vector<long long> steps{1, 5, -7};
      for (const long long s : ckks::evaluator::sum_slots_steps(eval.slot_count())) steps.push_back(s);
      const auto gk = keygen.create_galois_keys(steps, true);
      ckks::encryptor enc(params, pk, rng);
      const ckks::decryptor dec(params, keygen.secret());
      const auto x = hefl_test::random_values(eval.slot_count(), 4);
      const auto ct = enc.encrypt(ckks::encode(params, eval.slot_encoder(), x));
      const std::vector<long long> hoisted_steps{1, 5, -7};
      const auto hoisted = eval.rotate_many(ct, hoisted_steps, gk);
      for (std::size_t k = 0; k < hoisted_steps.size(); ++k) {
        CAPTURE(hoisted_steps[k]);
        const auto single = eval.rotate(ct, hoisted_steps[k], gk);
        CHECK(single.poly(0) == hoisted[k].poly(0));
        CHECK(single.poly(1) == hoisted[k].poly(1));
      }
      // The sum of all slots against its definition.
      double total = 0;
      for (const double v : x) total += v;
      const auto sum = dec.decrypt_decode(eval.sum_slots(ct, gk), eval.slot_encoder());
      const std::vector<double> want(x.size(), total);
      CHECK(hefl_test::max_error(sum, want) < 1e-5);
    }
  }
}

TEST_CASE("sampling: ternary and Gaussian polynomials have the residues of the per-coefficient definitions",
          "[ckks][keyswitch]") {
  const auto params = small_parameters()[1];
  const context& ctx = params.context();
  const std::size_t n = params.poly_degree();
  hefl_test::test_source a(9), b(9);
  rns_poly got(n, params.max_level(), true);
  {
    random_stream rs(a);
    sample_ternary(got, rs, ctx);
    add_gaussian_error(got, rs, ctx);
  }
  // The definitions, coefficient by coefficient, drawing from an identical source in the same order.
  std::vector<int> ternary(n), gaussian(n);
  {
    random_stream rs(b);
    u64 word = 0;
    int bytes_left = 0;
    for (std::size_t j = 0; j < n; ++j) {
      unsigned byte = 255;
      while (byte == 255) {
        if (bytes_left == 0) {
          word = rs.next_u64();
          bytes_left = 8;
        }
        byte = static_cast<unsigned>(word & 0xff);
        word >>= 8;
        --bytes_left;
      }
      ternary[j] = byte % 3 == 2 ? -1 : static_cast<int>(byte % 3);
    }
    for (std::size_t j = 0; j < n; ++j) gaussian[j] = sample_gaussian(rs);
  }
  int seen_min = 0, seen_max = 0;
  for (std::size_t i = 0; i < got.limb_count(); ++i) {
    const u64 q = ctx.primes()[got.prime_index(i, ctx)];
    for (std::size_t j = 0; j < n; ++j) {
      const long long v = ternary[j] + gaussian[j];
      const u64 want = v >= 0 ? static_cast<u64>(v) : q - static_cast<u64>(-v);
      REQUIRE(got.limb(i)[j] == want);
      seen_min = std::min(seen_min, gaussian[j]);
      seen_max = std::max(seen_max, gaussian[j]);
    }
  }
  // Both signs of the error occurred, so both branches of the addition were compared.
  CHECK(seen_min < -2);
  CHECK(seen_max > 2);
}
