// Tutorial 2: CKKS (Cheon-Kim-Kim-Song 2017, full-RNS variant) with hefl — parameters, keys,
// encryption, arithmetic, rotations, serialization. See docs/ckks.md for levels, scales and the format.
#include <hefl/crypto/botan_random.hpp>
#include <hefl/he/ckks/decryptor.hpp>
#include <hefl/he/ckks/evaluator.hpp>
#include <hefl/he/ckks/serialization.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <vector>

namespace ckks = hefl::he::ckks;

int main() {
  // 1. Parameters for 2 products at scale 2^40: secure_parameters picks N = 8192 and the chain
  //    {50, 40, 40} plus a 50-bit special prime (every prime below 2^50, so the AVX-512 IFMA kernels
  //    run where the CPU has them; results up to about ±2^9 decrypt exactly: see docs/ckks.md).
  //    Checked against the 128-bit security table.
  const ckks::parameters params = ckks::secure_parameters(2, 40);
  std::printf("N = %zu, %zu slots, log2(PQ) = %d, max level %zu, id %016llx\n", params.poly_degree(),
              params.slot_count(), params.modulus_bits(), params.max_level(),
              static_cast<unsigned long long>(params.id()));

  // 2. Keys from Botan's CSPRNG: secret, public, relinearization, Galois keys only for sum_slots' steps.
  hefl::crypto::system_random rng;
  ckks::key_generator keygen(params, rng);
  const ckks::public_key pk = keygen.create_public_key();
  const ckks::relin_keys rk = keygen.create_relin_keys();
  const ckks::galois_keys gk = keygen.create_galois_keys(ckks::evaluator::sum_slots_steps(params.slot_count()));
  ckks::encryptor encryptor(params, pk, rng);
  const ckks::decryptor decryptor(params, keygen.secret());
  const ckks::evaluator eval(params);
  const ckks::encoder& encoder = eval.slot_encoder();

  // 3. Encode and encrypt two vectors that fill every slot.
  const std::size_t slots = params.slot_count();
  std::vector<double> x(slots), y(slots);
  for (std::size_t i = 0; i < slots; ++i) {
    x[i] = std::sin(0.001 * static_cast<double>(i));
    y[i] = 0.5 - static_cast<double>(i % 7) / 7.0;
  }
  const ckks::ciphertext cx = encryptor.encrypt(ckks::encode(params, encoder, x));
  const ckks::ciphertext cy = encryptor.encrypt(ckks::encode(params, encoder, y));

  // 4. Compute. Additions keep level and scale; a product consumes one level (relinearize + rescale).
  const ckks::ciphertext sum = eval.add(cx, cy);
  const ckks::ciphertext product = eval.multiply_relin_rescale(cx, cy, rk); // level 2 -> 1
  const ckks::ciphertext rotated = eval.rotate(cx, 1, gk);                  // slot i <- slot i+1
  const ckks::ciphertext total = eval.sum_slots(product, gk);               // every slot: sum of x*y

  // 5. Serialize a ciphertext (versioned, checksummed) and load it back.
  const std::vector<std::uint8_t> bytes = ckks::save(params, product);
  const ckks::ciphertext loaded = ckks::load_ciphertext(params, bytes);

  // 6. Decrypt, decode and compare with the same computation in double precision.
  double dot = 0;
  for (std::size_t i = 0; i < slots; ++i) dot += x[i] * y[i];
  double worst = 0;
  const auto report = [&](const char* what, const ckks::ciphertext& c, const std::function<double(std::size_t)>& want) {
    const std::vector<double> got = decryptor.decrypt_decode(c, encoder);
    double err = 0;
    for (std::size_t i = 0; i < slots; ++i) err = std::max(err, std::fabs(got[i] - want(i)));
    worst = std::max(worst, err / std::max(1.0, std::fabs(want(0))));
    std::printf("%-13s level %zu, scale 2^%.2f: slot 1 = %+.8f (want %+.8f), max error %.2e\n", what, c.level(),
                std::log2(c.scale()), got[1], want(1), err);
  };
  report("x + y", sum, [&](std::size_t i) { return x[i] + y[i]; });
  report("x * y", product, [&](std::size_t i) { return x[i] * y[i]; });
  report("rotate(x, 1)", rotated, [&](std::size_t i) { return x[(i + 1) % slots]; });
  report("sum(x * y)", total, [&](std::size_t) { return dot; });
  report("loaded x * y", loaded, [&](std::size_t i) { return x[i] * y[i]; });
  std::printf("serialized ciphertext: %zu bytes at level %zu; worst error / max(1, |value|): %.2e\n", bytes.size(),
              product.level(), worst);
  return worst < 1e-4 ? 0 : 1;
}
