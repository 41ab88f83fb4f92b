#pragma once
/// @file
/// Little-endian byte writer and bounds-checked reader shared by every binary format in hefl.
/// The reader never trusts a length: each read checks the remaining size first and throws
/// hefl::parse_error naming what was being read, so truncated or oversized input cannot crash.
/// The checksum that ends each format (serial::checksum, CRC-64/XZ) is in crc64.hpp.

#include <hefl/core/crc64.hpp>
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

} // namespace hefl::serial
