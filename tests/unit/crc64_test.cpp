// CRC-64/XZ (hefl/core/crc64.hpp): the published check value, the PCLMULQDQ folding kernel against
// the slicing-by-8 tables and against a bit-at-a-time definition, and CKKS save/load on both paths.
#include <hefl/core/crc64.hpp>
#include <hefl/he/ckks/decryptor.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/keys.hpp>
#include <hefl/he/ckks/serialization.hpp>

#include <catch2/catch.hpp>

#include "ckks_test_support.hpp"

#include <array>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ckks = hefl::he::ckks;
namespace serial = hefl::serial;
using bytes_t = std::vector<std::uint8_t>;

namespace {

// Restores the process-wide checksum switch when a test ends.
struct checksum_switch_guard {
  bool before = serial::detail::simd_checksum_requested().load();
  ~checksum_switch_guard() { serial::set_simd_checksum(before); }
};

// CRC-64/XZ from its definition, one bit at a time (reflected ECMA-182, init and xorout all ones).
std::uint64_t crc64_xz_bitwise(std::span<const std::uint8_t> bytes) {
  std::uint64_t crc = ~std::uint64_t{0};
  for (const std::uint8_t b : bytes) {
    crc ^= b;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ ((crc & 1) ? 0xC96C5795D7870F42ULL : 0);
  }
  return ~crc;
}

std::uint64_t checksum_on(bool simd, std::span<const std::uint8_t> bytes) {
  serial::set_simd_checksum(simd);
  return serial::checksum(bytes);
}

std::span<const std::uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

} // namespace

TEST_CASE("crc64: the published CRC-64/XZ check value on both kernels", "[crc64][serialization]") {
  const checksum_switch_guard guard;
  CHECK(checksum_on(false, as_bytes("123456789")) == 0x995DC9BBDF1939FAULL);
  CHECK(checksum_on(true, as_bytes("123456789")) == 0x995DC9BBDF1939FAULL);
  CHECK(crc64_xz_bitwise(as_bytes("123456789")) == 0x995DC9BBDF1939FAULL);
  // 200 bytes reach the folding loop (128 bytes and up); the reference is the bitwise definition.
  const std::string long_input(200, 'a');
  CHECK(checksum_on(true, as_bytes(long_input)) == crc64_xz_bitwise(as_bytes(long_input)));
  CHECK(checksum_on(false, as_bytes(long_input)) == crc64_xz_bitwise(as_bytes(long_input)));
}

TEST_CASE("crc64: the folding constants are x^n mod P for the folding distances", "[crc64][serialization]") {
  // x^64 mod P is P without its x^64 term, i.e. the reflected polynomial itself.
  CHECK(serial::detail::crc64_x_pow(64) == serial::detail::crc64_poly);
  CHECK(serial::detail::crc64_x_pow(0) == std::uint64_t{1} << 63);
  CHECK(serial::detail::crc64_x_pow(63) == 1);
  // x^(a+b) = x^a · x^b, and x^(8·bytes) is the shift the portable kernel joins lanes with.
  CHECK(serial::detail::crc64_multiply(serial::detail::crc64_x_pow(100), serial::detail::crc64_x_pow(91)) ==
        serial::detail::crc64_x_pow(191));
  CHECK(serial::detail::crc64_shift(3) == serial::detail::crc64_x_pow(24));
}

TEST_CASE("crc64: both kernels are bit-identical on random lengths 0..5000 and unaligned starts",
          "[crc64][serialization]") {
  const checksum_switch_guard guard;
  std::mt19937_64 gen(20261130);
  bytes_t data(5000 + 64);
  for (auto& b : data) b = static_cast<std::uint8_t>(gen());
  std::size_t compared = 0;
  for (std::size_t n = 0; n <= 5000; n += (n < 300 ? 1 : 1 + gen() % 37)) {
    const std::size_t offset = gen() % 64; // unaligned starts for the 16-byte loads
    const std::span<const std::uint8_t> part(data.data() + offset, n);
    const std::uint64_t portable = checksum_on(false, part);
    const std::uint64_t fast = checksum_on(true, part);
    CAPTURE(n, offset);
    REQUIRE(fast == portable);
    if (n % 7 == 0) REQUIRE(portable == crc64_xz_bitwise(part));
    ++compared;
  }
  CHECK(compared > 400);
  // Every start offset within a 16-byte block, at lengths around the 128-byte and 4096-byte switches.
  for (std::size_t offset = 0; offset < 16; ++offset)
    for (const std::size_t n : {127, 128, 129, 143, 144, 255, 256, 257, 4095, 4096, 4097}) {
      const std::span<const std::uint8_t> part(data.data() + offset, n);
      CAPTURE(n, offset);
      REQUIRE(checksum_on(true, part) == checksum_on(false, part));
    }
  // A single flipped bit anywhere changes the value on the fast path too.
  bytes_t copy(data.begin(), data.begin() + 1000);
  const std::uint64_t clean = checksum_on(true, copy);
  for (std::size_t bit = 0; bit < 8 * copy.size(); bit += 13) {
    copy[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    CHECK(checksum_on(true, copy) != clean);
    copy[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
  }
  WARN("PCLMULQDQ checksum kernel " << (serial::detail::cpu_supports_pclmul()
                                            ? "available: both kernels are compared"
                                            : "not available: only the portable kernel runs"));
}

TEST_CASE("crc64: set_simd_checksum switches the kernel; HEFL_CKKS_PORTABLE=1 forces the portable one",
          "[crc64][serialization][ckks]") {
  const checksum_switch_guard guard;
  // ctest runs the [ckks] tests a second time with HEFL_CKKS_PORTABLE=1 (tests/CMakeLists.txt); this
  // case is tagged [ckks] so that run checks the environment switch.
  const char* env = std::getenv("HEFL_CKKS_PORTABLE");
  if (env != nullptr && std::string(env) == "1") CHECK_FALSE(serial::simd_checksum_enabled());
  CHECK_FALSE(serial::set_simd_checksum(false));
  CHECK_FALSE(serial::simd_checksum_enabled());
  CHECK(serial::set_simd_checksum(true) == serial::detail::cpu_supports_pclmul());
  CHECK(serial::simd_checksum_enabled() == serial::detail::cpu_supports_pclmul());
}

TEST_CASE("crc64: a CKKS ciphertext saved on one kernel loads on the other, bytes unchanged",
          "[crc64][serialization][ckks]") {
  const checksum_switch_guard guard;
  constexpr auto insecure = ckks::security::none_i_know_this_is_insecure;
  const ckks::parameters p(1024, {30, 25, 25, 30}, 20, insecure);
  std::array<std::uint8_t, 32> seed{};
  seed[0] = 0x3c;
  ckks::detail::wire::chacha20_source rng(seed);
  ckks::key_generator keygen(p, rng);
  const ckks::public_key pk = keygen.create_public_key();
  const ckks::encoder enc(p.poly_degree());
  ckks::encryptor encryptor(p, pk, rng);
  const ckks::decryptor decryptor(p, keygen.secret());
  const auto x = hefl_test::random_values(512, 7);
  const ckks::ciphertext c = encryptor.encrypt(ckks::encode(p, enc, x, p.scale(), 2));

  serial::set_simd_checksum(true);
  const bytes_t fast = ckks::save(p, c);
  serial::set_simd_checksum(false);
  const bytes_t portable = ckks::save(p, c);
  REQUIRE(fast.size() > 4096);
  CHECK(fast == portable);
  CHECK(crc64_xz_bitwise(std::span<const std::uint8_t>(fast.data(), fast.size() - 8)) ==
        serial::checksum(std::span<const std::uint8_t>(fast.data(), fast.size() - 8)));

  for (const bool simd : {false, true}) {
    CAPTURE(simd);
    serial::set_simd_checksum(simd);
    const ckks::ciphertext back = ckks::load_ciphertext(p, fast);
    CHECK(back.polys() == c.polys());
    CHECK(back.scale() == c.scale());
    CHECK(hefl_test::max_error(decryptor.decrypt_decode(back, enc), x) < 1e-2);
    bytes_t damaged = fast;
    damaged[damaged.size() / 2] ^= 0x80;
    damaged[damaged.size() / 3] ^= 0x01;
    CHECK_THROWS_AS(ckks::load_ciphertext(p, damaged), hefl::parse_error);
  }
}
