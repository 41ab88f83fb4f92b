// Writes tests/unit/ckks_seal_kat_vectors.hpp: known-answer vectors for hefl's CKKS produced by
// Microsoft SEAL 4.4 (a tool used once to make the vectors; hefl never builds or links against it).
//
// Build and run (SEAL 4.4.3 built outside the hefl tree, nothing downloaded):
//   mkdir -p /work/seal-src && git --git-dir=/work/.mirror/microsoft+SEAL/repo archive HEAD | tar -x -C /work/seal-src
//   cmake -S /work/seal-src -B /work/seal-build -DSEAL_BUILD_DEPS=OFF -DSEAL_USE_ZLIB=OFF -DSEAL_USE_ZSTD=OFF \
//         -DSEAL_USE_MSGSL=OFF -DSEAL_USE_INTEL_HEXL=OFF -DCMAKE_BUILD_TYPE=Release
//   nice cmake --build /work/seal-build -j2
//   g++ -std=c++17 -O2 -I/work/seal-src/native/src -I/work/seal-build/native/src tests/kat/seal/make_seal_kat.cpp \
//       /work/seal-build/lib/libseal-4.4.a -o /tmp/make_seal_kat
//   /tmp/make_seal_kat > tests/unit/ckks_seal_kat_vectors.hpp
//
// Parameters: N = 64, primes of 50, 30 and 31 bits (the chain q_0, q_1, q_2) and a 51-bit special
// prime, scale 2^30, sec_level_type::none (a KAT, not a security setting). The sizes are distinct, so
// SEAL's CoeffModulus::Create and hefl's generate_ntt_primes both give the largest prime of each size
// that is 1 mod 2N, in this order. Every random choice comes from a Blake2xbPRNGFactory with a fixed
// seed set on the EncryptionParameters, so the output is the same on every run. SEAL keeps keys,
// plaintexts and CKKS ciphertexts in NTT form with SEAL's own NTT tables; the vectors are written in
// coefficient form (SEAL's inverse NTT applied here), residue by residue, limb i modulo prime i, which
// hefl can bring into its own NTT form without depending on either library's root or ordering.
#include <seal/seal.h>
#include <seal/util/ntt.h>

#include <cinttypes>
#include <cstdio>
#include <string>
#include <vector>

using namespace seal;

namespace {

constexpr std::size_t n = 64;

std::vector<std::uint64_t> coefficients(const std::uint64_t* ntt_data, std::size_t limbs,
                                        const util::NTTTables* tables) {
  std::vector<std::uint64_t> out(ntt_data, ntt_data + limbs * n);
  for (std::size_t i = 0; i < limbs; ++i) util::inverse_ntt_negacyclic_harvey(out.data() + i * n, tables[i]);
  return out;
}

void print_array(const char* name, const std::vector<std::uint64_t>& v) {
  std::printf("inline constexpr std::uint64_t %s[%zu] = {", name, v.size());
  for (std::size_t i = 0; i < v.size(); ++i) std::printf("%s%" PRIu64 "u,", i % 4 == 0 ? "\n    " : " ", v[i]);
  std::printf("};\n");
}

void print_doubles(const char* name, const std::vector<double>& v) {
  std::printf("inline constexpr double %s[%zu] = {", name, v.size());
  for (std::size_t i = 0; i < v.size(); ++i) std::printf("%s%a,", i % 4 == 0 ? "\n    " : " ", v[i]);
  std::printf("};\n");
}

// One ciphertext: its parts in coefficient form (part k, limb i, coefficient j at [(k·limbs + i)·N + j]),
// its limb count and its scale; then SEAL's decryption (coefficient form) and decoding.
void print_ciphertext(const SEALContext& context, const std::string& name, const Ciphertext& ct, Decryptor& dec,
                      CKKSEncoder& enc) {
  const auto data = context.get_context_data(ct.parms_id());
  const std::size_t limbs = ct.coeff_modulus_size();
  std::vector<std::uint64_t> all;
  for (std::size_t k = 0; k < ct.size(); ++k) {
    const auto part = coefficients(ct.data(k), limbs, data->small_ntt_tables());
    all.insert(all.end(), part.begin(), part.end());
  }
  std::printf("\n// %s: %zu parts, %zu limbs, scale %a\n", name.c_str(), ct.size(), limbs, ct.scale());
  std::printf("inline constexpr std::size_t %s_parts = %zu;\n", name.c_str(), ct.size());
  std::printf("inline constexpr std::size_t %s_limbs = %zu;\n", name.c_str(), limbs);
  std::printf("inline constexpr double %s_scale = %a;\n", name.c_str(), ct.scale());
  print_array((name + "_data").c_str(), all);
  Plaintext pt;
  dec.decrypt(ct, pt);
  print_array((name + "_decrypted").c_str(), coefficients(pt.data(), limbs, data->small_ntt_tables()));
  std::vector<double> values;
  enc.decode(pt, values);
  print_doubles((name + "_decoded").c_str(), values);
}

} // namespace

int main() {
  EncryptionParameters parms(scheme_type::ckks);
  parms.set_poly_modulus_degree(n);
  parms.set_coeff_modulus(CoeffModulus::Create(n, {50, 30, 31, 51}));
  const prng_seed_type seed{0x68656600000001, 2, 3, 4, 5, 6, 7, 8};
  parms.set_random_generator(std::make_shared<Blake2xbPRNGFactory>(seed));
  const SEALContext context(parms, true, sec_level_type::none);
  if (!context.parameters_set()) {
    std::fprintf(stderr, "SEAL refused the parameters: %s\n", context.parameter_error_message());
    return 1;
  }
  KeyGenerator keygen(context);
  const SecretKey& sk = keygen.secret_key();
  PublicKey pk;
  keygen.create_public_key(pk);
  RelinKeys rlk;
  keygen.create_relin_keys(rlk);
  GaloisKeys gk;
  keygen.create_galois_keys(std::vector<int>{1}, gk);
  CKKSEncoder encoder(context);
  Encryptor encryptor(context, pk);
  Evaluator evaluator(context);
  Decryptor decryptor(context, sk);

  const double scale = 0x1p30;
  std::vector<double> x(n / 2), y(n / 2);
  for (std::size_t j = 0; j < n / 2; ++j) {
    x[j] = (static_cast<double>(j) - 15.5) / 8.0 + 0.1234567;
    y[j] = 0.75 - static_cast<double>(j % 7) * 0.3125 + static_cast<double>(j) / 64.0;
  }
  Plaintext px, py;
  encoder.encode(x, scale, px);
  encoder.encode(y, scale, py);
  Ciphertext cx, cy;
  encryptor.encrypt(px, cx);
  encryptor.encrypt(py, cy);
  Ciphertext product;
  evaluator.multiply(cx, cy, product);
  Ciphertext relinearized;
  evaluator.relinearize(product, rlk, relinearized);
  Ciphertext rescaled;
  evaluator.rescale_to_next(relinearized, rescaled);
  Ciphertext rotated;
  evaluator.rotate_vector(cx, 1, gk, rotated);

  const auto top = context.first_context_data();
  const auto key = context.key_context_data();
  const std::size_t chain = top->parms().coeff_modulus().size();
  const std::size_t all_primes = key->parms().coeff_modulus().size();

  std::printf("// Generated by tests/kat/seal/make_seal_kat.cpp with Microsoft SEAL %d.%d (see that file for the\n"
              "// build and run commands). Do not edit: tests/unit/ckks_seal_kat_test.cpp checks hefl against it.\n",
              SEAL_VERSION_MAJOR, SEAL_VERSION_MINOR);
  std::printf("#pragma once\n#include <cstddef>\n#include <cstdint>\n\nnamespace hefl_test::seal_kat {\n\n");
  std::printf("inline constexpr std::size_t poly_degree = %zu;\n", n);
  std::printf("inline constexpr int prime_bits[%zu] = {50, 30, 31, 51};\n", all_primes);
  std::printf("inline constexpr double log2_scale = 30;\n");
  std::vector<std::uint64_t> primes;
  for (const auto& q : key->parms().coeff_modulus()) primes.push_back(q.value());
  print_array("primes", primes);
  std::printf("inline constexpr std::size_t chain_primes = %zu;\n", chain);

  // The secret key: SEAL keeps it in NTT form over all primes; its coefficients are -1, 0, 1.
  const auto s = coefficients(sk.data().data(), all_primes, key->small_ntt_tables());
  std::printf("// The secret key's coefficients (ternary).\ninline constexpr int secret[%zu] = {", n);
  for (std::size_t j = 0; j < n; ++j) {
    const std::uint64_t q0 = primes[0], c = s[j];
    std::printf("%s%d,", j % 16 == 0 ? "\n    " : " ", c == 0 ? 0 : c == 1 ? 1 : c == q0 - 1 ? -1 : 99);
  }
  std::printf("};\n\n");
  print_doubles("input_x", x);
  print_doubles("input_y", y);
  std::printf("// SEAL's encodings of input_x and input_y at scale 2^30, top level, coefficient form.\n");
  print_array("encoded_x", coefficients(px.data(), chain, top->small_ntt_tables()));
  print_array("encoded_y", coefficients(py.data(), chain, top->small_ntt_tables()));
  print_ciphertext(context, "fresh_x", cx, decryptor, encoder);
  print_ciphertext(context, "fresh_y", cy, decryptor, encoder);
  print_ciphertext(context, "product", product, decryptor, encoder);
  print_ciphertext(context, "relinearized", relinearized, decryptor, encoder);
  print_ciphertext(context, "rescaled", rescaled, decryptor, encoder);
  print_ciphertext(context, "rotated", rotated, decryptor, encoder);
  std::printf("\n} // namespace hefl_test::seal_kat\n");
  return 0;
}
