#pragma once
/// @file
/// Little-endian byte writer and bounds-checked reader shared by every binary format in hefl.
/// The reader never trusts a length: each read checks the remaining size first and throws
/// hefl::parse_error naming what was being read, so truncated or oversized input cannot crash.

#include <hefl/core/error.hpp>

#include <bit>
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
/// a value must stay stable across versions (CKKS parameter ids); checksum() is the faster choice for
/// bulk data.
[[nodiscard]] inline std::uint64_t fnv1a(std::span<const std::uint8_t> bytes) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::uint8_t b : bytes) {
    h ^= b;
    h *= 0x100000001b3ULL;
  }
  return h;
}

/// 64-bit checksum that detects accidental corruption of serialized objects (not an attacker;
/// authenticity is the job of signatures). FNV-1a's xor-then-multiply step (Fowler–Noll–Vo, IETF
/// draft-eastlake-fnv) applied to 64-bit little-endian words in four interleaved lanes, so it runs
/// at memory speed; the lanes and the length are folded with the same step, then mixed with
/// splitmix64's finalizer. Every step is a bijection of the running value, so any change confined to
/// one 8-byte word (in particular any single-byte change) always changes the result.
[[nodiscard]] inline std::uint64_t checksum(std::span<const std::uint8_t> bytes) noexcept {
  constexpr std::uint64_t prime = 0x100000001b3ULL;
  const auto load = [](const std::uint8_t* p, std::size_t n) {
    std::uint64_t w = 0;
    if constexpr (std::endian::native == std::endian::little) {
      if (n != 0) std::memcpy(&w, p, n);  // p is null for empty input; memcpy from null is undefined
    } else {
      for (std::size_t i = 0; i < n; ++i) w |= static_cast<std::uint64_t>(p[i]) << (8 * i);
    }
    return w;
  };
  std::uint64_t lane[4] = {0xcbf29ce484222325ULL, 0x84222325cbf29ce4ULL, 0x9ce484222325cbf2ULL, 0x2325cbf29ce48422ULL};
  const std::uint8_t* p = bytes.data();
  const std::size_t words = bytes.size() / 8;
  std::size_t w = 0;
  for (; w + 4 <= words; w += 4)
    for (std::size_t j = 0; j < 4; ++j) lane[j] = (lane[j] ^ load(p + 8 * (w + j), 8)) * prime;
  for (std::size_t j = 0; w < words; ++w, ++j) lane[j] = (lane[j] ^ load(p + 8 * w, 8)) * prime;
  const std::size_t tail = bytes.size() % 8;
  std::uint64_t h = (lane[0] ^ load(p + 8 * words, tail)) * prime;
  for (std::size_t j = 1; j < 4; ++j) h = (h ^ lane[j]) * prime;
  h = (h ^ static_cast<std::uint64_t>(bytes.size())) * prime;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

} // namespace hefl::serial
