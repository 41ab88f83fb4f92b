#pragma once
/// @file
/// Little-endian byte writer and bounds-checked reader shared by every binary format in hefl.
/// The reader never trusts a length: each read checks the remaining size first and throws
/// hefl::parse_error naming what was being read, so truncated or oversized input cannot crash.

#include <hefl/core/error.hpp>

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace hefl::serial {

static_assert(std::endian::native == std::endian::little, "hefl's binary formats assume a little-endian host");

/// Appends fixed-width little-endian values to a byte vector.
class writer {
public:
  /// Appends the raw bytes of a trivially copyable value.
  template <class T>
    requires std::is_trivially_copyable_v<T>
  void put(const T& value) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(&value);
    m_bytes.insert(m_bytes.end(), p, p + sizeof(T));
  }

  /// Appends a span of trivially copyable values (no length prefix).
  template <class T>
    requires std::is_trivially_copyable_v<T>
  void put_span(std::span<const T> values) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(values.data());
    m_bytes.insert(m_bytes.end(), p, p + values.size_bytes());
  }

  /// Appends raw bytes, e.g. a magic tag.
  void put_bytes(std::string_view bytes) { m_bytes.insert(m_bytes.end(), bytes.begin(), bytes.end()); }

  /// The bytes written so far.
  [[nodiscard]] const std::vector<std::uint8_t>& bytes() const& noexcept { return m_bytes; }
  /// Moves the bytes out.
  [[nodiscard]] std::vector<std::uint8_t> take() && noexcept { return std::move(m_bytes); }

private:
  std::vector<std::uint8_t> m_bytes;
};

/// Reads fixed-width little-endian values from untrusted bytes.
class reader {
public:
  explicit reader(std::span<const std::uint8_t> bytes) noexcept : m_bytes(bytes) {}

  /// Reads one trivially copyable value.
  /// @throws hefl::parse_error if fewer than sizeof(T) bytes remain; @p what names the field.
  template <class T>
    requires std::is_trivially_copyable_v<T>
  T get(std::string_view what) {
    require(sizeof(T), what);
    T value;
    std::memcpy(&value, m_bytes.data() + m_pos, sizeof(T));
    m_pos += sizeof(T);
    return value;
  }

  /// Reads @p count values into a new vector, checking the size before allocating.
  /// @throws hefl::parse_error if the input holds fewer than count values.
  template <class T>
    requires std::is_trivially_copyable_v<T>
  std::vector<T> get_vector(std::uint64_t count, std::string_view what) {
    if (count > remaining() / sizeof(T))
      throw parse_error(std::string(what) + ": " + std::to_string(count) + " elements declared but only " +
                        std::to_string(remaining()) + " bytes remain");
    std::vector<T> out(static_cast<std::size_t>(count));
    // An empty vector's data() may be null, and memcpy from or to null is undefined even for 0 bytes.
    if (count != 0) std::memcpy(out.data(), m_bytes.data() + m_pos, count * sizeof(T));
    m_pos += count * sizeof(T);
    return out;
  }

  /// Checks that the next bytes equal @p magic and consumes them.
  /// @throws hefl::parse_error on a mismatch or truncation.
  void expect_magic(std::string_view magic, std::string_view what) {
    require(magic.size(), what);
    if (std::memcmp(m_bytes.data() + m_pos, magic.data(), magic.size()) != 0)
      throw parse_error(std::string(what) + ": bad magic, this is not a " + std::string(what));
    m_pos += magic.size();
  }

  /// @throws hefl::parse_error if bytes are left over after a complete object.
  void expect_end(std::string_view what) const {
    if (remaining() != 0)
      throw parse_error(std::string(what) + ": " + std::to_string(remaining()) + " trailing bytes after the object");
  }

  [[nodiscard]] std::size_t remaining() const noexcept { return m_bytes.size() - m_pos; }
  [[nodiscard]] std::size_t position() const noexcept { return m_pos; }

private:
  void require(std::size_t n, std::string_view what) const {
    if (remaining() < n)
      throw parse_error(std::string(what) + ": truncated input, needed " + std::to_string(n) + " more bytes, " +
                        std::to_string(remaining()) + " remain");
  }

  std::span<const std::uint8_t> m_bytes;
  std::size_t m_pos = 0;
};

/// FNV-1a 64-bit hash of @p bytes, byte by byte (Fowler–Noll–Vo, IETF draft-eastlake-fnv). Used where
/// a value must stay stable across versions (CKKS parameter ids); checksum() is the error-detecting
/// choice for bulk data.
[[nodiscard]] inline std::uint64_t fnv1a(std::span<const std::uint8_t> bytes) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::uint8_t b : bytes) {
    h ^= b;
    h *= 0x100000001b3ULL;
  }
  return h;
}

namespace detail {

/// The eight 256-entry tables of slicing-by-8 CRC-64 (M. E. Kounavis, F. L. Berry, "Novel Table
/// Lookup-Based Algorithms for High-Performance CRC Generation", IEEE Trans. Computers 57(11), 2008)
/// for the reflected ECMA-182 polynomial 0xC96C5795D7870F42.
[[nodiscard]] inline const std::array<std::array<std::uint64_t, 256>, 8>& crc64_tables() noexcept {
  static constexpr auto tables = [] {
    std::array<std::array<std::uint64_t, 256>, 8> t{};
    for (std::uint64_t b = 0; b < 256; ++b) {
      std::uint64_t c = b;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ ((c & 1) ? 0xC96C5795D7870F42ULL : 0);
      t[0][b] = c;
    }
    for (std::size_t b = 0; b < 256; ++b)
      for (std::size_t j = 1; j < 8; ++j) t[j][b] = (t[j - 1][b] >> 8) ^ t[0][t[j - 1][b] & 0xff];
    return t;
  }();
  return tables;
}

} // namespace detail

namespace detail {

/// One slicing-by-8 step per 8-byte word over @p words words of @p p, continuing @p crc (the running
/// register, before the final xor).
[[nodiscard]] inline std::uint64_t crc64_words(std::uint64_t crc, const std::uint8_t* p, std::size_t words) noexcept {
  const auto& t = crc64_tables();
  for (std::size_t i = 0; i < words; ++i, p += 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8); // little-endian host (static_assert above)
    w ^= crc;
    crc = t[7][w & 0xff] ^ t[6][(w >> 8) & 0xff] ^ t[5][(w >> 16) & 0xff] ^ t[4][(w >> 24) & 0xff] ^
          t[3][(w >> 32) & 0xff] ^ t[2][(w >> 40) & 0xff] ^ t[1][(w >> 48) & 0xff] ^ t[0][w >> 56];
  }
  return crc;
}

/// a·b modulo the CRC polynomial, both in the reflected representation (bit 63 is x^0): the
/// carry-less product zlib's crc32_combine uses (M. Adler), for the 64-bit polynomial.
[[nodiscard]] constexpr std::uint64_t crc64_multiply(std::uint64_t a, std::uint64_t b) noexcept {
  std::uint64_t product = 0;
  for (std::uint64_t m = std::uint64_t{1} << 63; m != 0; m >>= 1) {
    if (a & m) product ^= b;
    b = (b & 1) ? (b >> 1) ^ 0xC96C5795D7870F42ULL : b >> 1;
  }
  return product;
}

/// x^(8·bytes) modulo the CRC polynomial (reflected), by square and multiply.
[[nodiscard]] constexpr std::uint64_t crc64_shift(std::uint64_t bytes) noexcept {
  std::uint64_t result = std::uint64_t{1} << 63, base = std::uint64_t{1} << (63 - 8);
  for (; bytes != 0; bytes >>= 1) {
    if (bytes & 1) result = crc64_multiply(result, base);
    base = crc64_multiply(base, base);
  }
  return result;
}

} // namespace detail

/// CRC-64/XZ of @p bytes: the ECMA-182 polynomial (ECMA-182, 1992, Annex B; reflected, initial value
/// and final xor all ones, check value 0x995DC9BBDF1939FA for "123456789"), computed by slicing-by-8
/// over eight contiguous parts of the input at once, joined as zlib's crc32_combine joins CRCs
/// (the result is the CRC of the whole input). It detects accidental corruption of serialized
/// objects (not an attacker: authenticity is the job of signatures). The polynomial has an even
/// number of terms, so x + 1 divides it and every error of an odd number of bits is detected;
/// x^d != 1 modulo it for every d <= 2^28 (checked by a program, see docs/ckks.md), so every error of
/// two bits less than 2^28 bits apart is detected; every burst of at most 64 bits is detected, as for
/// any 64-bit CRC.
[[nodiscard]] inline std::uint64_t checksum(std::span<const std::uint8_t> bytes) noexcept {
  const auto& t = detail::crc64_tables();
  const std::uint8_t* p = bytes.data();
  std::size_t n = bytes.size();
  std::uint64_t crc = ~std::uint64_t{0};
  constexpr std::size_t lanes = 8;
  if (n >= 4096) {
    // Eight contiguous lanes of `lane` words each, stepped together so that their dependency chains
    // overlap in the CPU; each lane after the first starts from a zero register and is joined below.
    const std::size_t lane = n / (8 * lanes);
    std::uint64_t c[lanes] = {crc};
    for (std::size_t i = 0; i < lane; ++i)
      for (std::size_t j = 0; j < lanes; ++j) {
        std::uint64_t w;
        std::memcpy(&w, p + 8 * (j * lane + i), 8);
        w ^= c[j];
        c[j] = t[7][w & 0xff] ^ t[6][(w >> 8) & 0xff] ^ t[5][(w >> 16) & 0xff] ^ t[4][(w >> 24) & 0xff] ^
               t[3][(w >> 32) & 0xff] ^ t[2][(w >> 40) & 0xff] ^ t[1][(w >> 48) & 0xff] ^ t[0][w >> 56];
      }
    // CRC registers are linear: register(A || B) = register(A)·x^(8|B|) + register_from_zero(B).
    const std::uint64_t shift = detail::crc64_shift(8 * lane);
    crc = c[0];
    for (std::size_t j = 1; j < lanes; ++j) crc = detail::crc64_multiply(crc, shift) ^ c[j];
    p += 8 * lanes * lane;
    n -= 8 * lanes * lane;
  }
  crc = detail::crc64_words(crc, p, n / 8);
  p += 8 * (n / 8);
  for (n %= 8; n > 0; --n, ++p) crc = (crc >> 8) ^ t[0][(crc ^ *p) & 0xff];
  return ~crc;
}

} // namespace hefl::serial
