#include <hefl/core/parallel.hpp>
#include <hefl/core/prng.hpp>
#include <hefl/core/random.hpp>
#include <hefl/he/ckks/decryptor.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/evaluator.hpp>
#include <hefl/he/ckks/keys.hpp>

#include <catch2/catch.hpp>

#include "ckks_test_support.hpp"

#include <cstdint>
#include <cstring>
#include <span>
#include <thread>
#include <vector>

namespace ckks = hefl::he::ckks;

namespace {

// Deterministic bytes without Botan (xoshiro256**; for tests only).

// Everything a seeded run produces, to compare between thread counts.
struct run_result {
  std::vector<ckks::ciphertext> ciphertexts;
  std::vector<std::vector<double>> decrypted;
};

run_result seeded_run(const ckks::parameters& p) {
  hefl_test::test_source rng(2024);
  ckks::key_generator keygen(p, rng);
  const auto pk = keygen.create_public_key();
  const auto rk = keygen.create_relin_keys();
  const auto gk = keygen.create_galois_keys(ckks::evaluator::sum_slots_steps(p.slot_count()));
  ckks::encryptor encryptor(p, pk, rng);
  ckks::symmetric_encryptor sym(p, keygen.secret(), rng);
  const ckks::decryptor decryptor(p, keygen.secret());
  const ckks::evaluator eval(p);
  const auto& enc = eval.slot_encoder();
  std::vector<double> x(p.slot_count()), y(p.slot_count());
  hefl::deterministic_rng values(7);
  for (auto& v : x) v = values.uniform() - 0.5;
  for (auto& v : y) v = values.uniform() - 0.5;

  run_result r;
  const auto cx = encryptor.encrypt(ckks::encode(p, enc, x));
  const auto cy = sym.encrypt(ckks::encode(p, enc, y));
  r.ciphertexts.push_back(cx);
  r.ciphertexts.push_back(cy);
  const auto prod = eval.relinearize(eval.multiply(cx, cy), rk);
  r.ciphertexts.push_back(prod);
  const auto rescaled = eval.rescale(prod);
  r.ciphertexts.push_back(rescaled);
  r.ciphertexts.push_back(eval.rotate(rescaled, 1, gk));
  r.ciphertexts.push_back(eval.rotate(cx, 5, gk)); // composed from ±2^i keys
  for (auto& c : eval.rotate_many(cx, std::vector<long long>{1, 2, -1}, gk)) r.ciphertexts.push_back(std::move(c));
  r.ciphertexts.push_back(eval.sum_slots(cx, gk));
  r.ciphertexts.push_back(eval.add(rescaled, cx)); // level and scale matching
  r.ciphertexts.push_back(eval.multiply_scalar(cx, 0.3));
  for (const auto& c : r.ciphertexts) r.decrypted.push_back(decryptor.decrypt_decode(c, enc));
  return r;
}

} // namespace

TEST_CASE("ckks results are bit-identical with 1 and 2 threads", "[ckks][parallel]") {
  // N = 8192 with 4 primes: 32768 residues per polynomial, enough for every limb-parallel path.
  const ckks::parameters p(8192, {60, 40, 40, 60}, 40);
  run_result serial, parallel;
  {
    const hefl::scoped_thread_count one(1);
    REQUIRE(hefl::thread_count() == 1);
    serial = seeded_run(p);
  }
  {
    const hefl::scoped_thread_count two(2);
    REQUIRE(hefl::thread_count() == 2);
    parallel = seeded_run(p);
  }
  REQUIRE(serial.ciphertexts.size() == parallel.ciphertexts.size());
  for (std::size_t k = 0; k < serial.ciphertexts.size(); ++k) {
    CAPTURE(k);
    const auto& a = serial.ciphertexts[k];
    const auto& b = parallel.ciphertexts[k];
    REQUIRE(a.size() == b.size());
    CHECK(a.level() == b.level());
    CHECK(a.scale() == b.scale());
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(a.poly(i) == b.poly(i));
    CHECK(serial.decrypted[k] == parallel.decrypted[k]);
  }
  // The run computed something: the sum of all slots is the same in slots 0 and 100.
  const auto& sum = serial.decrypted[serial.decrypted.size() - 3];
  CHECK(std::fabs(sum[0] - sum[100]) < 1e-4);
}

TEST_CASE("one ckks evaluator shared by two threads gives the sequential results", "[ckks][parallel]") {
  const ckks::parameters p(2048, {60, 40, 40, 60}, 40, ckks::security::none_i_know_this_is_insecure);
  hefl_test::test_source rng(99);
  ckks::key_generator keygen(p, rng);
  const auto rk = keygen.create_relin_keys();
  const auto gk = keygen.create_galois_keys();
  ckks::encryptor encryptor(p, keygen.create_public_key(), rng);
  const ckks::evaluator eval(p);
  std::vector<double> x(p.slot_count());
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.001 * static_cast<double>(i % 100);
  const auto cx = encryptor.encrypt(ckks::encode(p, eval.slot_encoder(), x));
  const auto work = [&] {
    auto c = eval.multiply_relin_rescale(cx, cx, rk);
    c = eval.add(c, eval.rotate(cx, 3, gk));
    return eval.sum_slots(c, gk);
  };
  const auto expected = work();
  std::vector<ckks::ciphertext> got(4, cx);
  {
    const hefl::scoped_thread_count two(2);
    std::thread t1([&] { got[0] = work(); got[1] = work(); });
    std::thread t2([&] { got[2] = work(); got[3] = work(); });
    t1.join();
    t2.join();
  }
  for (const auto& g : got) {
    CHECK(g.poly(0) == expected.poly(0));
    CHECK(g.poly(1) == expected.poly(1));
  }
}
