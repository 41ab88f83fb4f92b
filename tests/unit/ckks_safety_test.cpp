// The safety and correctness items of the CKKS second pass (issue 12): each test names its item.

#include <hefl/core/prng.hpp>
#include <hefl/core/serialization.hpp>
#include <hefl/he/ckks/decryptor.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/evaluator.hpp>
#include <hefl/he/ckks/keys.hpp>
#include <hefl/he/ckks/serialization.hpp>

#include <catch2/catch.hpp>

#include "ckks_test_support.hpp"

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace ckks = hefl::he::ckks;
using bytes_t = std::vector<std::uint8_t>;

namespace {

using hefl_test::max_error;
using hefl_test::random_values;
using hefl_test::test_source;

constexpr auto insecure = ckks::security::none_i_know_this_is_insecure;

// N = 1024, chain {60, 40, 40} and a 60-bit special prime: levels 0..2, scale 2^40.
const ckks::parameters& small() {
  static const ckks::parameters p(1024, {60, 40, 40, 60}, 40, insecure);
  return p;
}

struct kit {
  explicit kit(const ckks::parameters& params, std::uint64_t seed = 5)
      : p(params), rng(seed), keygen(p, rng), pk(keygen.create_public_key()), rk(keygen.create_relin_keys()),
        encryptor(p, pk, rng), decryptor(p, keygen.secret()), eval(p) {}

  [[nodiscard]] const ckks::encoder& enc() const { return eval.slot_encoder(); }
  ckks::ciphertext encrypt(const std::vector<double>& v, std::size_t level, double scale) {
    return encryptor.encrypt(ckks::encode(p, enc(), v, scale, level));
  }
  ckks::ciphertext encrypt(const std::vector<double>& v) { return encrypt(v, p.max_level(), p.scale()); }
  std::vector<double> decrypt(const ckks::ciphertext& c) const { return decryptor.decrypt_decode(c, enc()); }

  ckks::parameters p;
  test_source rng;
  ckks::key_generator keygen;
  ckks::public_key pk;
  ckks::relin_keys rk;
  ckks::encryptor encryptor;
  ckks::decryptor decryptor;
  ckks::evaluator eval;
};

// Bit-identical: parameters, size, level, scale and every residue.
bool identical(const ckks::ciphertext& a, const ckks::ciphertext& b) {
  if (a.parameters_id() != b.parameters_id() || a.size() != b.size() || a.level() != b.level() ||
      std::bit_cast<std::uint64_t>(a.scale()) != std::bit_cast<std::uint64_t>(b.scale()))
    return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!(a.poly(i) == b.poly(i))) return false;
  return true;
}

std::string g17(double x) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

} // namespace

TEST_CASE("item 2: a special prime smaller than the largest chain prime is refused", "[ckks][safety]") {
  CHECK_THROWS_AS(ckks::parameters(1024, {60, 40, 40, 30}, 40, insecure), hefl::invalid_argument);
  CHECK_THROWS_AS(ckks::parameters(1024, {50, 40, 45}, 40, insecure), hefl::invalid_argument);
  CHECK_NOTHROW(ckks::parameters(1024, {50, 40, 50}, 40, insecure));
}

TEST_CASE("item 3: add_plain works on an unrescaled product (coefficients bounded by Q_l/2, not 2^62)",
          "[ckks][safety]") {
  kit k(small());
  const auto x = random_values(k.p.slot_count(), 1), y = random_values(k.p.slot_count(), 2),
             z = random_values(k.p.slot_count(), 3);
  const auto prod = k.eval.relinearize(k.eval.multiply(k.encrypt(x), k.encrypt(y)), k.rk); // scale 2^80
  REQUIRE(std::log2(prod.scale()) > 79);
  const auto sum = k.eval.add_plain(prod, z); // encoded at scale 2^80: coefficients far above 2^62
  const auto got = k.decrypt(sum);
  std::vector<double> want(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) want[i] = x[i] * y[i] + z[i];
  CHECK(max_error(got, want) < 1e-6);
  // Above Q_l/2 it is still refused.
  CHECK_THROWS_AS(ckks::encode(k.p, k.enc(), z, 0x1p150, 2), hefl::invalid_argument);
}

TEST_CASE("item 4: multiply_integer and multiply_scalar refuse integers whose product does not fit", "[ckks][safety]") {
  kit k(small());
  const auto x = random_values(k.p.slot_count(), 4);
  const auto c0 = k.eval.mod_switch_to(k.encrypt(x), 0); // q_0 = 60 bits, scale 2^40
  CHECK_THROWS_AS(k.eval.multiply_integer(c0, 1000000000), hefl::invalid_argument);
  CHECK_THROWS_AS(k.eval.multiply_scalar(c0, 1e9), hefl::invalid_argument);
  CHECK_THROWS_AS(k.eval.multiply_integer(c0, -(std::int64_t{1} << 62)), hefl::invalid_argument);
  // Small integers still multiply exactly.
  const auto got = k.decrypt(k.eval.multiply_integer(c0, 3));
  std::vector<double> want(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) want[i] = 3 * x[i];
  CHECK(max_error(got, want) < 1e-6);
}

TEST_CASE("item 5: every failed _inplace operation leaves its operand bit-identical", "[ckks][safety]") {
  kit k(small());
  const auto x = random_values(k.p.slot_count(), 6);
  const auto top = k.encrypt(x);                                             // level 2, 2^40
  const auto low = k.eval.multiply_plain(k.eval.mod_switch_to(top, 1),       // level 1, 2^80:
                                         ckks::encode(k.p, k.enc(), x, k.p.scale(), 1)); // no adjust_to fits
  const auto pt_low = ckks::encode(k.p, k.enc(), x, 0x1p30, 0); // 2^40 · 2^30 > q_0 / 2
  const auto expect_unchanged = [&](const char* what, const ckks::ciphertext& original, auto&& op) {
    CAPTURE(what);
    ckks::ciphertext a = original;
    CHECK_THROWS(op(a));
    CHECK(identical(a, original));
  };
  expect_unchanged("add_inplace", top, [&](ckks::ciphertext& a) { k.eval.add_inplace(a, low); });
  expect_unchanged("sub_inplace", top, [&](ckks::ciphertext& a) { k.eval.sub_inplace(a, low); });
  expect_unchanged("add_plain_inplace", top, [&](ckks::ciphertext& a) {
    k.eval.add_plain_inplace(a, ckks::encode(k.p, k.enc(), x, 0x1p20, 1));
  });
  expect_unchanged("sub_plain_inplace", top, [&](ckks::ciphertext& a) {
    k.eval.sub_plain_inplace(a, ckks::encode(k.p, k.enc(), x, 0x1p20, 1));
  });
  expect_unchanged("multiply_plain_inplace", top, [&](ckks::ciphertext& a) { k.eval.multiply_plain_inplace(a, pt_low); });
  const auto small_scale = k.encrypt(x, 1, 0x1p10); // level 1: multiply by 2^10 and rescale by q_1 < 1
  expect_unchanged("multiply_scalar_inplace", small_scale,
                   [&](ckks::ciphertext& a) { k.eval.multiply_scalar_inplace(a, 0.5); });
  expect_unchanged("multiply_integer_inplace", k.eval.mod_switch_to(top, 0),
                   [&](ckks::ciphertext& a) { k.eval.multiply_integer_inplace(a, std::int64_t{1} << 40); });
  expect_unchanged("multiply_constant_inplace", low,
                   [&](ckks::ciphertext& a) { k.eval.multiply_constant_inplace(a, 0.5, 0x1p40); });
  expect_unchanged("add_scalar_inplace", top, [&](ckks::ciphertext& a) { k.eval.add_scalar_inplace(a, 1e300); });
  expect_unchanged("multiply_inplace", low, [&](ckks::ciphertext& a) { k.eval.multiply_inplace(a, low); });
  expect_unchanged("square_inplace", low, [&](ckks::ciphertext& a) { k.eval.square_inplace(a); });
  expect_unchanged("rescale_inplace", k.eval.mod_switch_to(top, 0), [&](ckks::ciphertext& a) { k.eval.rescale_inplace(a); });
  expect_unchanged("mod_switch_to_inplace", low, [&](ckks::ciphertext& a) { k.eval.mod_switch_to_inplace(a, 2); });
  const auto gk = k.keygen.create_galois_keys(std::vector<long long>{1}, false);
  expect_unchanged("rotate_inplace", top, [&](ckks::ciphertext& a) { k.eval.rotate_inplace(a, 3, gk); });
  expect_unchanged("conjugate_inplace", top, [&](ckks::ciphertext& a) { k.eval.conjugate_inplace(a, gk); });
  const auto three = k.eval.multiply(top, top);
  expect_unchanged("square_inplace (3 parts)", three, [&](ckks::ciphertext& a) { k.eval.square_inplace(a); });
  kit other(ckks::parameters(1024, {60, 40, 40, 60}, 30, insecure));
  expect_unchanged("relinearize_inplace (foreign key)", three,
                   [&](ckks::ciphertext& a) { k.eval.relinearize_inplace(a, other.rk); });
  expect_unchanged("negate_inplace (foreign)", other.encrypt(x), [&](ckks::ciphertext& a) { k.eval.negate_inplace(a); });
}

TEST_CASE("item 7: ciphertexts and plaintexts with subnormal, infinite or absurd scales are refused on load",
          "[ckks][safety][serialization]") {
  kit k(small());
  const auto x = random_values(k.p.slot_count(), 7);
  const bytes_t good = ckks::save(k.p, k.encrypt(x));
  REQUIRE_NOTHROW(ckks::load_ciphertext(k.p, good));
  constexpr std::size_t scale_offset = 8 + 4 + 8 + 8 + 24; // prefix, shape
  for (const double bad : {5e-324, 1e-310, 0.25, 0x1p200, 1e300}) {
    CAPTURE(bad);
    bytes_t b = good;
    std::memcpy(b.data() + scale_offset, &bad, sizeof bad);
    const std::uint64_t sum = hefl::serial::checksum(std::span<const std::uint8_t>(b.data(), b.size() - 8));
    std::memcpy(b.data() + b.size() - 8, &sum, 8);
    CHECK_THROWS_AS(ckks::load_ciphertext(k.p, b), hefl::parse_error);
  }
}

TEST_CASE("item 8: additions require exactly equal scales by default", "[ckks][safety]") {
  kit k(small());
  const auto x = random_values(k.p.slot_count(), 8);
  const auto a = k.encrypt(x);
  const auto b = k.encrypt(x, k.p.max_level(), k.p.scale() * (1 + 1e-7));
  CHECK_THROWS_AS(k.eval.add(a, b), hefl::invalid_argument);
  CHECK_THROWS_AS(k.eval.sub(a, b), hefl::invalid_argument);
  CHECK_THROWS_AS(k.eval.add_plain(a, ckks::encode(k.p, k.enc(), x, k.p.scale() * (1 + 1e-12), 2)),
                  hefl::invalid_argument);
  CHECK_NOTHROW(k.eval.add(a, k.encrypt(x)));
}

TEST_CASE("item 10: multiply_plain and multiply_constant throw depth_exhausted when the scale cannot fit",
          "[ckks][safety]") {
  kit k(small());
  const auto x = random_values(k.p.slot_count(), 10);
  const auto c0 = k.eval.mod_switch_to(k.encrypt(x), 0); // 2^40 at q_0 = 2^60
  const auto pt0 = ckks::encode(k.p, k.enc(), x, k.p.scale(), 0);
  CHECK_THROWS_AS(k.eval.multiply_plain(c0, pt0), hefl::depth_exhausted);
  CHECK_THROWS_AS(k.eval.multiply_constant(c0, 0.5, 0x1p40), hefl::depth_exhausted);
  CHECK_THROWS_AS(k.eval.multiply_plain_rescale(c0, x), hefl::depth_exhausted);
}

TEST_CASE("item 11: the checksum catches every 2- and 3-bit corruption, including paired word-top bits",
          "[ckks][safety][serialization]") {
  kit k(small());
  const auto x = random_values(k.p.slot_count(), 11);
  const bytes_t good = ckks::save(k.p, k.encrypt(x));
  REQUIRE_NOTHROW(ckks::load_ciphertext(k.p, good));
  const std::size_t words = good.size() / 8;
  const auto flip = [](bytes_t& b, std::size_t bit) { b[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8)); };
  hefl::deterministic_rng rng(11);
  const auto below = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  int loaded = 0;
  // Bit 63 of two different 8-byte words: invisible to the word-wise FNV checksum.
  for (int t = 0; t < 200; ++t) {
    bytes_t b = good;
    const std::size_t w1 = below(words), w2 = (w1 + 1 + below(words - 1)) % words;
    flip(b, 64 * w1 + 63);
    flip(b, 64 * w2 + 63);
    try {
      (void)ckks::load_ciphertext(k.p, b);
      ++loaded;
    } catch (const hefl::parse_error&) {
    }
  }
  CHECK(loaded == 0);
  // Random 2- and 3-bit errors anywhere (hefl::serial::checksum alone, so every position is tried
  // without the header checks catching it first).
  const auto sum = [](const bytes_t& b) { return hefl::serial::checksum(b); };
  const std::uint64_t reference = sum(good);
  int missed = 0;
  for (int t = 0; t < 3000; ++t) {
    bytes_t b = good;
    const std::size_t bits = good.size() * 8;
    const std::size_t count = 2 + static_cast<std::size_t>(t % 2);
    std::vector<std::size_t> at;
    while (at.size() < count) {
      const std::size_t p = below(bits);
      if (std::find(at.begin(), at.end(), p) == at.end()) at.push_back(p);
    }
    for (const std::size_t p : at) flip(b, p);
    if (sum(b) == reference) ++missed;
  }
  CHECK(missed == 0);
  // Word-top pairs and triples in the checksum alone as well.
  for (int t = 0; t < 500; ++t) {
    bytes_t b = good;
    const std::size_t w1 = below(words), w2 = (w1 + 1 + below(words - 1)) % words;
    flip(b, 64 * w1 + 63);
    flip(b, 64 * w2 + 63);
    if (t % 2) flip(b, 64 * ((w2 + 1) % words == w1 ? (w2 + 2) % words : (w2 + 1) % words) + 63);
    if (sum(b) == reference) ++missed;
  }
  CHECK(missed == 0);
}

TEST_CASE("item 12: a scale mismatch message prints the scales to 17 significant digits", "[ckks][safety]") {
  kit k(small());
  const auto x = random_values(k.p.slot_count(), 12);
  const auto prod = k.eval.multiply_relin_rescale(k.encrypt(x), k.encrypt(x), k.rk); // drifted from 2^40
  REQUIRE(prod.scale() != k.p.scale());
  try {
    (void)k.eval.add_plain(prod, ckks::encode(k.p, k.enc(), x, k.p.scale(), prod.level()));
    FAIL("the mismatch was accepted");
  } catch (const hefl::invalid_argument& e) {
    const std::string msg = e.what();
    CAPTURE(msg);
    CHECK(msg.find(g17(prod.scale())) != std::string::npos);
    CHECK(msg.find(g17(k.p.scale())) != std::string::npos);
  }
}

// ---------------------------------------------------------------------------------------------------
// Items whose fix changes the API (these did not compile against the old headers).

namespace {

template <class E>
concept accepts_a_source = requires(E& e, const ckks::plaintext& p, hefl::random_source& r) { e.encrypt(p, r); };
template <class E>
concept seeded_accepts_a_source =
    requires(E& e, const ckks::plaintext& p, hefl::random_source& r) { ckks::encrypt_seeded(e, p, r); };
template <class C>
concept scale_settable = requires(C& c) { c.set_scale(1.0); };
template <class C>
concept poly_writable = requires(C& c) { c.mutable_poly(0); };

// Freed-memory scanner for item 7: while armed, every block handed to operator delete is searched
// for the needle before it is freed.
std::atomic<const bytes_t*> g_needle{nullptr};
std::atomic<int> g_needle_found{0};

void scan_freed(const void* p, std::size_t n) noexcept {
  const bytes_t* needle = g_needle.load(std::memory_order_acquire);
  if (needle == nullptr || p == nullptr || n < needle->size()) return;
  const auto* b = static_cast<const std::uint8_t*>(p);
  if (std::search(b, b + n, needle->begin(), needle->end()) != b + n) g_needle_found.fetch_add(1);
}

} // namespace

// Every non-aligned form of new and delete is replaced, so that a block allocated by one form and
// released by another always pairs malloc with free (AddressSanitizer reports a replaced delete that
// frees a block its own, unreplaced nothrow new made as an alloc-dealloc mismatch). The aligned forms
// stay the library's on both sides.
namespace {
void* scanned_alloc(std::size_t n) noexcept { return std::malloc(n == 0 ? 1 : n); }
void scanned_free(void* p) noexcept {
  if (p != nullptr) scan_freed(p, malloc_usable_size(p));
  std::free(p);
}
} // namespace

void* operator new(std::size_t n) {
  if (void* p = scanned_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = scanned_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return scanned_alloc(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return scanned_alloc(n); }
void operator delete(void* p) noexcept { scanned_free(p); }
void operator delete[](void* p) noexcept { scanned_free(p); }
void operator delete(void* p, std::size_t) noexcept { scanned_free(p); }
void operator delete[](void* p, std::size_t) noexcept { scanned_free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { scanned_free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { scanned_free(p); }

TEST_CASE("item 1: the uniform part and the seed of a symmetric ciphertext come from the encryptor only",
          "[ckks][safety]") {
  static_assert(!accepts_a_source<ckks::symmetric_encryptor>, "a caller-supplied source for a must not compile");
  static_assert(!seeded_accepts_a_source<ckks::symmetric_encryptor>, "a caller-supplied seed source must not compile");
  kit k(small());
  ckks::symmetric_encryptor sym(k.p, k.keygen.secret(), k.rng);
  const auto x = random_values(k.p.slot_count(), 13);
  const auto pt = ckks::encode(k.p, k.enc(), x);
  const auto s1 = ckks::encrypt_seeded(sym, pt), s2 = ckks::encrypt_seeded(sym, pt);
  CHECK_FALSE(std::equal(s1.seed().begin(), s1.seed().end(), s2.seed().begin()));
  CHECK_FALSE(s1.get().poly(1) == s2.get().poly(1));
  CHECK(max_error(k.decrypt(s2.get()), x) < 1e-6);
  // Deterministic when seeded: the same encryptor source gives the same seed.
  test_source r1(77), r2(77);
  ckks::symmetric_encryptor e1(k.p, k.keygen.secret(), r1), e2(k.p, k.keygen.secret(), r2);
  const auto d1 = ckks::encrypt_seeded(e1, pt), d2 = ckks::encrypt_seeded(e2, pt);
  CHECK(std::equal(d1.seed().begin(), d1.seed().end(), d2.seed().begin()));
}

TEST_CASE("item 2: a smaller special prime needs the opt-out by name, which survives serialization",
          "[ckks][safety]") {
  const ckks::parameters p(1024, {60, 40, 40, 30}, 40, insecure,
                           ckks::special_prime_size::allow_smaller_i_know_key_switching_loses_precision);
  const auto back = ckks::load_parameters(ckks::save(p), insecure);
  CHECK(back == p);
  CHECK(back.special_prime_rule() == ckks::special_prime_size::allow_smaller_i_know_key_switching_loses_precision);
  CHECK(ckks::load_parameters(ckks::save(small()), insecure).special_prime_rule() ==
        ckks::special_prime_size::at_least_largest_chain_prime);
}

TEST_CASE("item 6: a ciphertext's polynomials and scale cannot be changed from outside", "[ckks][safety]") {
  static_assert(!scale_settable<ckks::ciphertext>, "set_scale must not be public");
  static_assert(!poly_writable<ckks::ciphertext>, "mutable_poly must not be public");
  static_assert(std::is_const_v<std::remove_reference_t<decltype(std::declval<ckks::ciphertext&>().poly(0))>>,
                "poly(i) must return a const reference even on a non-const ciphertext");
  // The constructor refuses every broken shape, so the decryptor never meets one; its own check is
  // a second line.
  const auto& p = small();
  ckks::detail::rns_poly a(p.poly_degree(), 1, false, true), b(p.poly_degree(), 0, false, true);
  CHECK_THROWS_AS(ckks::ciphertext(p, {a, b}, 0x1p40), hefl::invalid_argument);
  CHECK_THROWS_AS(ckks::ciphertext(p, {a, a}, 1e-310), hefl::invalid_argument);
}

TEST_CASE("item 7: a secret key above 1 MiB loads from a stream without leaving unwiped copies",
          "[ckks][safety][serialization]") {
  // N = 32768 and 270 bits of primes: 1.1 MB of packed secret.
  const ckks::parameters p(32768, {60, 50, 50, 50, 60}, 40);
  test_source rng(14);
  const ckks::key_generator keygen(p, rng);
  bytes_t bytes = ckks::save(p, keygen.secret(), ckks::expose_secret);
  REQUIRE(bytes.size() > (std::size_t{1} << 20));
  const bytes_t needle(bytes.begin() + 4096, bytes.begin() + 4096 + 64); // part of the packed secret
  std::istringstream is(std::string(bytes.begin(), bytes.end()));
  std::fill(bytes.begin(), bytes.end(), 0);
  g_needle_found = 0;
  g_needle.store(&needle, std::memory_order_release);
  std::optional<ckks::secret_key> sk;
  try {
    sk.emplace(ckks::load_secret_key(p, is));
  } catch (...) {
    g_needle.store(nullptr);
    throw;
  }
  g_needle.store(nullptr, std::memory_order_release);
  CHECK(g_needle_found.load() == 0);
  CHECK(sk->poly() == keygen.secret().poly());
}

TEST_CASE("item 7: forged parameters are refused before any NTT table is built", "[ckks][safety][serialization]") {
  const ckks::parameters p(16384, {60, 40, 40, 40, 60}, 40);
  const bytes_t good = ckks::save(p);
  const auto reseal = [](bytes_t& b) {
    const std::uint64_t sum = hefl::serial::checksum(std::span<const std::uint8_t>(b.data(), b.size() - 8));
    std::memcpy(b.data() + b.size() - 8, &sum, 8);
  };
  const std::size_t primes_at = 8 + 4 + 8 + 8 + 16 + 5; // prefix, header, 5 bit sizes
  bytes_t wrong_prime = good;
  wrong_prime[primes_at] ^= 2; // prime 0, still odd
  reseal(wrong_prime);
  bytes_t wrong_id = good;
  wrong_id[8 + 4] ^= 1;
  reseal(wrong_id);
  const auto before = ckks::detail::context_build_count().load();
  CHECK_THROWS_WITH(ckks::load_parameters(wrong_prime), Catch::Contains("stored prime 0"));
  CHECK_THROWS_WITH(ckks::load_parameters(wrong_id), Catch::Contains("wrong parameter id"));
  CHECK(ckks::detail::context_build_count().load() == before);
  CHECK(ckks::load_parameters(good) == p);
  CHECK(ckks::detail::context_build_count().load() == before + 1);
}

TEST_CASE("item 8: a scale tolerance is an explicit evaluator option", "[ckks][safety]") {
  kit k(small());
  const auto x = random_values(k.p.slot_count(), 15);
  const auto a = k.encrypt(x);
  const auto b = k.encrypt(x, k.p.max_level(), k.p.scale() * (1 + 1e-7));
  const ckks::evaluator tolerant(k.p, ckks::relative_scale_tolerance{1e-6});
  const auto sum = tolerant.add(a, b);
  CHECK(sum.scale() == a.scale());
  std::vector<double> want(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) want[i] = 2 * x[i];
  CHECK(max_error(k.decrypt(sum), want) < 1e-5);
  CHECK(tolerant.scale_tolerance() == 1e-6);
  CHECK(k.eval.scale_tolerance() == 0);
  CHECK_THROWS_AS(ckks::evaluator(k.p, ckks::relative_scale_tolerance{-1}), hefl::invalid_argument);
  CHECK_THROWS_AS(ckks::evaluator(k.p, ckks::relative_scale_tolerance{std::nan("")}), hefl::invalid_argument);
  CHECK_THROWS_AS(ckks::evaluator(k.p, ckks::relative_scale_tolerance{0.01}), hefl::invalid_argument);
  // Levels matched by the evaluator itself still add (the adjustment's own rounding is <= 2^-32).
  const auto prod = k.eval.multiply_relin_rescale(a, a, k.rk);
  for (std::size_t i = 0; i < x.size(); ++i) want[i] = x[i] * x[i] + x[i];
  CHECK(max_error(k.decrypt(k.eval.add(prod, a)), want) < 1e-5);
  CHECK(max_error(k.decrypt(k.eval.add(a, prod)), want) < 1e-5);
}

TEST_CASE("item 9: decrypt_for_sharing floods with uniform noise of the documented amplitude",
          "[ckks][safety][flooding]") {
  // Scale 2^70 over a 120-bit chain leaves room for 2^55 of flooding noise.
  const ckks::parameters p(1024, {60, 60, 60}, 70, insecure);
  kit k(p, 16);
  const auto x = random_values(p.slot_count(), 16);
  const auto ct = k.encrypt(x);
  const double measured = k.decryptor.noise_bound(ct, x, k.enc());
  CAPTURE(measured);
  REQUIRE(measured < 64);
  const ckks::flooding_parameters f{64, 40};
  const double u = ckks::flooding_amplitude(p.poly_degree(), f);
  CHECK(u == 0x1p55); // N·B·2^(λ-1) = 2^10·2^6·2^39
  test_source flood_rng(17);
  const ckks::plaintext raw = k.decryptor.decrypt(ct);
  const ckks::plaintext flooded = k.decryptor.decrypt_for_sharing(ct, f, flood_rng);
  CHECK(flooded.scale() == raw.scale());
  CHECK(flooded.level() == raw.level());
  // The coefficient difference is uniform on [-U, U]: bounded by U, reaching past U/2, standard
  // deviation U/sqrt(3).
  ckks::detail::rns_poly d = flooded.poly();
  ckks::detail::sub_inplace(d, raw.poly(), p.context());
  ckks::detail::from_ntt(d, p.context());
  std::vector<double> coeffs(p.poly_degree());
  ckks::detail::to_centered_doubles(d, coeffs, p.context());
  double largest = 0, sq = 0;
  for (const double c : coeffs) largest = std::max(largest, std::fabs(c)), sq += c * c;
  const double sd = std::sqrt(sq / static_cast<double>(coeffs.size()));
  CHECK(largest <= u);
  CHECK(largest > u / 2);
  CHECK(std::fabs(sd / (u / std::sqrt(3.0)) - 1) < 0.08);
  // In the slots: the documented per-slot standard deviation U·sqrt(N/6)/Δ, and the precision the
  // result keeps (docs/ckks.md).
  const auto raw_slots = ckks::decode(p, k.enc(), raw), flooded_slots = ckks::decode(p, k.enc(), flooded);
  const double slot_sd = u * std::sqrt(static_cast<double>(p.poly_degree()) / 6) / p.scale();
  double slot_sq = 0, slot_max = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double e = flooded_slots[i] - raw_slots[i];
    slot_sq += e * e;
    slot_max = std::max(slot_max, std::fabs(e));
  }
  const double got_sd = std::sqrt(slot_sq / static_cast<double>(x.size()));
  CAPTURE(slot_sd, got_sd, slot_max);
  CHECK(std::fabs(got_sd / slot_sd - 1) < 0.15);
  CHECK(slot_max < 6 * slot_sd);
  CHECK(max_error(flooded_slots, x) < 6 * slot_sd + 1e-9);
  CHECK(max_error(k.decryptor.decrypt_decode_for_sharing(ct, k.enc(), f, flood_rng), x) < 6 * slot_sd + 1e-9);
  // Two flooded decryptions differ; bad parameters and noise that cannot fit are refused.
  CHECK_FALSE(k.decryptor.decrypt_for_sharing(ct, f, flood_rng).poly() == flooded.poly());
  CHECK_THROWS_AS(k.decryptor.decrypt_for_sharing(ct, {0.5, 40}, flood_rng), hefl::invalid_argument);
  CHECK_THROWS_AS(k.decryptor.decrypt_for_sharing(ct, {64, 39}, flood_rng), hefl::invalid_argument);
  CHECK_THROWS_AS(k.decryptor.decrypt_for_sharing(ct, {64, 101}, flood_rng), hefl::invalid_argument);
  CHECK_NOTHROW(k.decryptor.decrypt_for_sharing(ct, {64, 100}, flood_rng)); // 2^115 + message < 2^119
  CHECK_THROWS_WITH(k.decryptor.decrypt_for_sharing(ct, {1024, 100}, flood_rng), Catch::Contains("does not fit"));
}

TEST_CASE("item 12: encode(params, enc, values, ct) takes the ciphertext's exact scale and level", "[ckks][safety]") {
  kit k(small());
  const auto x = random_values(k.p.slot_count(), 18), z = random_values(k.p.slot_count(), 19);
  const auto prod = k.eval.multiply_relin_rescale(k.encrypt(x), k.encrypt(x), k.rk);
  const auto pt = ckks::encode(k.p, k.enc(), z, prod);
  CHECK(pt.scale() == prod.scale());
  CHECK(pt.level() == prod.level());
  std::vector<double> want(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) want[i] = x[i] * x[i] + z[i];
  CHECK(max_error(k.decrypt(k.eval.add_plain(prod, pt)), want) < 1e-5);
  kit other(ckks::parameters(1024, {60, 40, 40, 60}, 30, insecure));
  CHECK_THROWS_AS(ckks::encode(k.p, k.enc(), z, other.encrypt(z)), hefl::invalid_argument);
}
