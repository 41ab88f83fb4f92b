// Known-answer tests against Microsoft SEAL 4.4: the vectors in ckks_seal_kat_vectors.hpp were written by
// tests/kat/seal/make_seal_kat.cpp (fixed PRNG seed; build and run commands in that file). SEAL is
// not needed to build or run this test. Everything is compared in coefficient form, limb i modulo
// prime i, so neither library's NTT roots or ordering enter the comparison.

#include <hefl/he/ckks/decryptor.hpp>
#include <hefl/he/ckks/encoder.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/evaluator.hpp>
#include <hefl/he/ckks/keys.hpp>

#include <catch2/catch.hpp>

#include "ckks_seal_kat_vectors.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <vector>

namespace ckks = hefl::he::ckks;
namespace detail = hefl::he::ckks::detail;
namespace kat = hefl_test::seal_kat;

namespace {

constexpr std::size_t n = kat::poly_degree;

const ckks::parameters& seal_params() {
  static const ckks::parameters p(n, std::vector<int>(std::begin(kat::prime_bits), std::end(kat::prime_bits)),
                                  kat::log2_scale, ckks::security::none_i_know_this_is_insecure);
  return p;
}

// Polynomial @p part of a SEAL ciphertext with @p limbs limbs (coefficient form, limb-major), in
// hefl's NTT form.
detail::rns_poly ntt_poly(const std::uint64_t* data, std::size_t part, std::size_t limbs) {
  detail::rns_poly p(n, limbs - 1, 0, false);
  for (std::size_t i = 0; i < limbs; ++i)
    for (std::size_t j = 0; j < n; ++j) p.limb(i)[j] = data[(part * limbs + i) * n + j];
  detail::to_ntt(p, seal_params().context());
  return p;
}

ckks::ciphertext load(const std::uint64_t* data, std::size_t parts, std::size_t limbs, double scale) {
  std::vector<detail::rns_poly> polys;
  for (std::size_t k = 0; k < parts; ++k) polys.push_back(ntt_poly(data, k, limbs));
  return ckks::ciphertext(seal_params(), std::move(polys), scale);
}

#define HEFL_SEAL_CT(name) load(kat::name##_data, kat::name##_parts, kat::name##_limbs, kat::name##_scale)

// SEAL's secret key, as hefl holds one: NTT form over every prime, the special one included.
ckks::secret_key seal_secret() {
  const auto& p = seal_params();
  detail::rns_poly s(n, p.max_level(), p.special_prime_count(), false);
  for (std::size_t i = 0; i < p.primes().size(); ++i)
    for (std::size_t j = 0; j < n; ++j)
      s.limb(i)[j] = kat::secret[j] >= 0 ? static_cast<std::uint64_t>(kat::secret[j]) : p.primes()[i] - 1;
  detail::to_ntt(s, p.context());
  return ckks::secret_key(p, std::move(s));
}

// The polynomial of @p ct's part @p k (or of a plaintext) back in coefficient form, limb-major.
std::vector<std::uint64_t> coefficients(detail::rns_poly p) {
  detail::from_ntt(p, seal_params().context());
  return {p.data().begin(), p.data().end()};
}

std::vector<std::uint64_t> ciphertext_words(const ckks::ciphertext& ct) {
  std::vector<std::uint64_t> all;
  for (std::size_t k = 0; k < ct.size(); ++k) {
    const auto part = coefficients(ct.poly(k));
    all.insert(all.end(), part.begin(), part.end());
  }
  return all;
}

// The slot orders differ. hefl's slot j is m(ζ^(5^j)) (encoder.hpp); SEAL 4.4's slot i is m(ζ^(3^i))
// (CKKSEncoder's matrix_reps_index_map and GaloisTool use the generator 3). With 3^k = −5 mod 2N,
// 5^j = (−1)^j·3^(k·j), so hefl's slot j holds SEAL's slot k·j mod N/2, conjugated when j is odd (for
// real values: the same value). seal_slot(j) is that index; at N = 64, k = 11.
std::size_t seal_slot(std::size_t j) {
  const std::uint64_t m = 2 * n;
  std::uint64_t power = 1;
  std::size_t k = 0;
  while (power != m - 5) power = power * 3 % m, ++k;
  return k * j % (n / 2);
}

template <std::size_t Size>
std::vector<std::uint64_t> words(const std::uint64_t (&a)[Size]) {
  return {std::begin(a), std::end(a)};
}

// hefl decrypts the SEAL ciphertext with SEAL's key to SEAL's decryption, coefficient for
// coefficient, and decodes it to SEAL's values up to floating-point rounding of the two FFTs.
void check_decryption(const ckks::ciphertext& ct, const std::vector<std::uint64_t>& seal_decrypted,
                      const std::vector<double>& seal_decoded) {
  const auto& p = seal_params();
  const ckks::decryptor dec(p, seal_secret());
  const ckks::plaintext pt = dec.decrypt(ct);
  CHECK(coefficients(pt.poly()) == seal_decrypted);
  const ckks::encoder enc(n);
  const std::vector<double> values = dec.decrypt_decode(ct, enc);
  REQUIRE(values.size() == seal_decoded.size());
  for (std::size_t j = 0; j < values.size(); ++j) {
    CAPTURE(j);
    CHECK(values[j] == Approx(seal_decoded[seal_slot(j)]).margin(1e-9));
  }
}

} // namespace

TEST_CASE("SEAL KAT: hefl generates SEAL's primes from the same bit sizes", "[ckks][kat][seal]") {
  const auto& p = seal_params();
  REQUIRE(p.primes().size() == std::size(kat::primes));
  for (std::size_t i = 0; i < p.primes().size(); ++i) CHECK(p.primes()[i] == kat::primes[i]);
  CHECK(p.max_level() + 1 == kat::chain_primes);
}

TEST_CASE("SEAL KAT: the slot orders are related by the permutation seal_slot", "[ckks][kat][seal]") {
  CHECK(seal_slot(0) == 0);
  CHECK(seal_slot(1) == 11);
  std::vector<bool> seen(n / 2, false);
  for (std::size_t j = 0; j < n / 2; ++j) seen[seal_slot(j)] = true;
  CHECK(std::find(seen.begin(), seen.end(), false) == seen.end());
}

TEST_CASE("SEAL KAT: hefl encodes the inputs to SEAL's plaintext coefficients", "[ckks][kat][seal]") {
  // hefl encodes the inputs in its slot order (seal_slot above): the same polynomial then comes out.
  // Both round scale·σ^{-1}(z) to the nearest integer after a floating-point inverse FFT; the two
  // FFTs round differently in the last bits, so a coefficient within about 1e-6 of a half-integer
  // could round the other way. Measured on these inputs: no coefficient differs, and the test asserts that.
  const auto& p = seal_params();
  const ckks::encoder enc(n);
  std::vector<double> x(n / 2), y(n / 2);
  for (std::size_t j = 0; j < n / 2; ++j) x[j] = kat::input_x[seal_slot(j)], y[j] = kat::input_y[seal_slot(j)];
  CHECK(coefficients(ckks::encode(p, enc, x, p.scale(), p.max_level()).poly()) == words(kat::encoded_x));
  CHECK(coefficients(ckks::encode(p, enc, y, p.scale(), p.max_level()).poly()) == words(kat::encoded_y));
}

TEST_CASE("SEAL KAT: hefl decrypts SEAL's ciphertexts with SEAL's key to SEAL's decryptions", "[ckks][kat][seal]") {
  const auto decoded = [](const double* v, std::size_t size) { return std::vector<double>(v, v + size); };
  SECTION("fresh (public-key encryption)") {
    check_decryption(HEFL_SEAL_CT(fresh_x), words(kat::fresh_x_decrypted), decoded(kat::fresh_x_decoded, n / 2));
    check_decryption(HEFL_SEAL_CT(fresh_y), words(kat::fresh_y_decrypted), decoded(kat::fresh_y_decoded, n / 2));
  }
  SECTION("the 3-part product before relinearization") {
    check_decryption(HEFL_SEAL_CT(product), words(kat::product_decrypted), decoded(kat::product_decoded, n / 2));
  }
  SECTION("relinearized, then rescaled") {
    check_decryption(HEFL_SEAL_CT(relinearized), words(kat::relinearized_decrypted),
                     decoded(kat::relinearized_decoded, n / 2));
    check_decryption(HEFL_SEAL_CT(rescaled), words(kat::rescaled_decrypted), decoded(kat::rescaled_decoded, n / 2));
  }
  SECTION("rotated by one slot (SEAL's rotate_vector(ct, 1))") {
    check_decryption(HEFL_SEAL_CT(rotated), words(kat::rotated_decrypted), decoded(kat::rotated_decoded, n / 2));
    // SEAL's rotate_vector(ct, 1) applies X -> X^3 (its generator), moving SEAL's slot i+1 to slot i.
    // hefl's rotate(ct, 1) applies X -> X^5 instead (hefl's generator): the same operation in each
    // library's own slot order, a different automorphism. What hefl must reproduce is the decryption.
    const hefl::he::ckks::encoder enc(n);
    CHECK(enc.rotation_galois_element(1) == 5);
    for (std::size_t j = 0; j < n / 2; ++j) {
      CAPTURE(j);
      CHECK(kat::rotated_decoded[j] == Approx(kat::input_x[(j + 1) % (n / 2)]).margin(1e-3));
    }
  }
}

// (c0·d0, c0·d1 + c1·d0, c1·d1) modulo each prime: exact in both libraries.
TEST_CASE("SEAL KAT: hefl's tensor product of SEAL's ciphertexts is SEAL's, bit for bit", "[ckks][kat][seal]") {
  const ckks::evaluator ev(seal_params());
  const ckks::ciphertext product = ev.multiply(HEFL_SEAL_CT(fresh_x), HEFL_SEAL_CT(fresh_y));
  REQUIRE(product.size() == kat::product_parts);
  CHECK(product.scale() == kat::product_scale);
  CHECK(ciphertext_words(product) == words(kat::product_data));
}

// Both round the division by the last prime: hefl's detail::divide_round_last adds ⌊q_L/2⌋ before
// subtracting the last limb, as SEAL's divide_and_round_q_last_ntt_inplace adds q_L >> 1 (the same
// integer), so the results agree exactly.
TEST_CASE("SEAL KAT: hefl's rescale of SEAL's relinearized product is SEAL's, bit for bit", "[ckks][kat][seal]") {
  const ckks::evaluator ev(seal_params());
  const ckks::ciphertext rescaled = ev.rescale(HEFL_SEAL_CT(relinearized));
  REQUIRE(rescaled.size() == kat::rescaled_parts);
  CHECK(rescaled.level() + 1 == kat::rescaled_limbs);
  CHECK(rescaled.scale() == kat::rescaled_scale);
  CHECK(ciphertext_words(rescaled) == words(kat::rescaled_data));
}
