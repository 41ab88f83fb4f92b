// Known-answer tests: hefl's CKKS against values computed by an independent pure-Python program
// (tests/kat/make_ckks_kat.py, exact integer arithmetic and RFC 8439 ChaCha20; see docs/ckks.md).

// The chosen-seed encryption exists only where this macro is defined (known-answer tests).
#define HEFL_CKKS_TESTING_CHOSEN_SEEDS 1

#include <hefl/he/ckks/decryptor.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/keys.hpp>
#include <hefl/he/ckks/serialization.hpp>

#include <catch2/catch.hpp>

#include "ckks_kat_vectors.hpp"
#include "ckks_test_support.hpp"

#include <array>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

namespace ckks = hefl::he::ckks;
namespace detail = hefl::he::ckks::detail;

namespace {

const ckks::parameters& kat_params() {
  static const ckks::parameters p(ckks_kat::n, std::vector<int>(std::begin(ckks_kat::bits), std::end(ckks_kat::bits)),
                                  ckks_kat::log2_scale, ckks::security::none_i_know_this_is_insecure);
  return p;
}

// A polynomial at the KAT level from per-limb residues, in coefficient form.
template <class Rows>
detail::rns_poly from_rows(const Rows& rows) {
  detail::rns_poly p(ckks_kat::n, ckks_kat::level, false);
  for (std::size_t i = 0; i <= ckks_kat::level; ++i)
    for (std::size_t k = 0; k < ckks_kat::n; ++k) p.limb(i)[k] = rows[i][k];
  return p;
}

} // namespace

TEST_CASE("ckks KAT: primes generated from the bit sizes", "[ckks][kat]") {
  const auto& p = kat_params();
  REQUIRE(p.primes().size() == std::size(ckks_kat::primes));
  for (std::size_t i = 0; i < p.primes().size(); ++i) CHECK(p.primes()[i] == ckks_kat::primes[i]);
}

TEST_CASE("ckks KAT: encoding gives the independently computed integer coefficients", "[ckks][kat]") {
  const auto& p = kat_params();
  const ckks::encoder enc(ckks_kat::n);
  const std::vector<double> values(std::begin(ckks_kat::values), std::end(ckks_kat::values));
  detail::rns_poly m = ckks::encode(p, enc, values, p.scale(), ckks_kat::level).poly();
  detail::from_ntt(m, p.context());
  for (std::size_t i = 0; i <= ckks_kat::level; ++i) {
    const std::uint64_t q = ckks_kat::primes[i];
    for (std::size_t k = 0; k < ckks_kat::n; ++k) {
      CAPTURE(i, k);
      const std::int64_t want = ckks_kat::encoded[k];
      CHECK(m.limb(i)[k] == (want < 0 ? q - static_cast<std::uint64_t>(-want) % q : static_cast<std::uint64_t>(want) % q));
    }
  }
}

TEST_CASE("ckks KAT: the NTT multiplies negacyclically (schoolbook product in Python)", "[ckks][kat]") {
  const auto& p = kat_params();
  detail::rns_poly a = from_rows(ckks_kat::a), b = from_rows(ckks_kat::b);
  detail::to_ntt(a, p.context());
  detail::to_ntt(b, p.context());
  detail::multiply_inplace(a, b, p.context());
  detail::from_ntt(a, p.context());
  for (std::size_t i = 0; i <= ckks_kat::level; ++i)
    for (std::size_t k = 0; k < ckks_kat::n; ++k) {
      CAPTURE(i, k);
      CHECK(a.limb(i)[k] == ckks_kat::a_times_b[i][k]);
    }
}

TEST_CASE("ckks KAT: decryption and decoding of a fixed ciphertext under a fixed secret", "[ckks][kat]") {
  const auto& p = kat_params();
  detail::rns_poly s = detail::from_signed(std::span<const std::int64_t>(ckks_kat::secret), p.max_level(), true,
                                           p.context());
  detail::to_ntt(s, p.context());
  const ckks::secret_key sk(p, std::move(s));
  detail::rns_poly c0 = from_rows(ckks_kat::c0), c1 = from_rows(ckks_kat::c1);
  detail::to_ntt(c0, p.context());
  detail::to_ntt(c1, p.context());
  const ckks::ciphertext ct(p, {c0, c1}, p.scale());
  const ckks::encoder enc(ckks_kat::n);
  const auto got = ckks::decryptor(p, sk).decrypt_decode(ct, enc);
  REQUIRE(got.size() == std::size(ckks_kat::decrypted_slots));
  for (std::size_t j = 0; j < got.size(); ++j) {
    CAPTURE(j);
    CHECK(std::fabs(got[j] - ckks_kat::decrypted_slots[j]) < 1e-9);
  }
}

TEST_CASE("ckks KAT: a seeded ciphertext's uniform part is the ChaCha20 expansion of its seed", "[ckks][kat]") {
  const auto& p = kat_params();
  hefl_test::test_source rng(3);
  const ckks::key_generator keygen(p, rng);
  ckks::symmetric_encryptor sym(p, keygen.secret(), rng);
  std::array<std::uint8_t, 32> seed{};
  std::copy(std::begin(ckks_kat::seed), std::end(ckks_kat::seed), seed.begin());
  const ckks::encoder enc(ckks_kat::n);
  const auto pt = ckks::encode(p, enc, std::vector<double>{0.5}, p.scale(), ckks_kat::level);
  const auto sct = ckks::testing::encrypt_seeded_with_chosen_seed(sym, pt, seed);
  const detail::rns_poly& a = sct.get().poly(1);
  for (std::size_t i = 0; i <= ckks_kat::level; ++i)
    for (std::size_t k = 0; k < ckks_kat::n; ++k) {
      CAPTURE(i, k);
      CHECK(a.limb(i)[k] == ckks_kat::expanded_uniform[i][k]);
    }
  CHECK(std::fabs(ckks::decryptor(p, keygen.secret()).decrypt_decode(sct.get(), enc)[0] - 0.5) < 1e-3);
}
