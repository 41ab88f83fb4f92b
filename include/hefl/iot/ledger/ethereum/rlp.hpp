#pragma once
/// @file
/// Recursive Length Prefix encoding, Ethereum's serialisation of transactions (Ethereum yellow paper,
/// appendix B). Decoding is strict: it accepts only the one canonical encoding of each value and
/// reports truncated, oversized and non-canonical input as a typed rlp_error.

#include <hefl/core/error.hpp>
#include <hefl/iot/ledger/ethereum/hex.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hefl::iot::ethereum {

/// Why an RLP input was refused.
enum class rlp_fault {
  truncated,      ///< a length points past the end of the input
  oversized,      ///< a length or integer too large for this decoder, or nesting deeper than allowed
  non_canonical,  ///< a value has a shorter encoding (a single byte wrapped, a long form for < 56 bytes, a leading zero)
  trailing,       ///< bytes left over after the top-level item
  wrong_type,     ///< a list where a string was expected, or the reverse
};

/// An RLP input could not be decoded; fault() says why.
class rlp_error : public parse_error {
public:
  rlp_error(rlp_fault fault, const std::string& what) : parse_error("rlp: " + what), m_fault(fault) {}
  [[nodiscard]] rlp_fault fault() const noexcept { return m_fault; }

private:
  rlp_fault m_fault;
};

/// A decoded RLP item: a byte string or a list of items.
struct rlp_item {
  bool is_list = false;
  bytes data;                   ///< the string's bytes (empty for a list)
  std::vector<rlp_item> items;  ///< the list's items (empty for a string)

  /// @throws rlp_error (wrong_type) if this item is a list
  [[nodiscard]] const bytes& str() const {
    if (is_list) throw rlp_error(rlp_fault::wrong_type, "expected a string, found a list");
    return data;
  }
  /// @throws rlp_error (wrong_type) if this item is a string
  [[nodiscard]] const std::vector<rlp_item>& list() const {
    if (!is_list) throw rlp_error(rlp_fault::wrong_type, "expected a list, found a string");
    return items;
  }
};

namespace rlp {

namespace detail {
inline bytes big_endian(std::uint64_t v) {
  bytes out;
  for (; v != 0; v >>= 8) out.insert(out.begin(), static_cast<std::uint8_t>(v & 0xff));
  return out;
}
inline bytes header(std::size_t length, std::uint8_t short_base, std::uint8_t long_base) {
  if (length < 56) return {static_cast<std::uint8_t>(short_base + length)};
  const bytes len = big_endian(length);
  bytes out{static_cast<std::uint8_t>(long_base + len.size())};
  out.insert(out.end(), len.begin(), len.end());
  return out;
}
} // namespace detail

/// The minimal big-endian bytes of an unsigned integer (0 is the empty string), as RLP scalars are.
inline bytes scalar(std::uint64_t v) { return detail::big_endian(v); }

/// Encodes a byte string.
inline bytes encode_bytes(std::span<const std::uint8_t> s) {
  if (s.size() == 1 && s[0] < 0x80) return {s[0]};
  bytes out = detail::header(s.size(), 0x80, 0xb7);
  out.insert(out.end(), s.begin(), s.end());
  return out;
}
/// Encodes the bytes of a text string.
inline bytes encode_string(std::string_view s) {
  return encode_bytes({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
}
/// Encodes an unsigned integer as the RLP string of its minimal big-endian bytes.
inline bytes encode_uint(std::uint64_t v) { return encode_bytes(scalar(v)); }

/// Wraps already-encoded items into a list.
inline bytes encode_list(const std::vector<bytes>& encoded_items) {
  std::size_t payload = 0;
  for (const auto& e : encoded_items) payload += e.size();
  bytes out = detail::header(payload, 0xc0, 0xf7);
  out.reserve(out.size() + payload);
  for (const auto& e : encoded_items) out.insert(out.end(), e.begin(), e.end());
  return out;
}

/// Re-encodes a decoded item (decode then encode gives back canonical input byte for byte).
inline bytes encode(const rlp_item& item) {
  if (!item.is_list) return encode_bytes(item.data);
  std::vector<bytes> parts;
  parts.reserve(item.items.size());
  for (const auto& i : item.items) parts.push_back(encode(i));
  return encode_list(parts);
}

/// Deepest list nesting decode() accepts, so hostile input cannot exhaust the stack.
inline constexpr std::size_t max_depth = 64;

namespace detail {
struct reader {
  std::span<const std::uint8_t> in;
  std::size_t pos = 0;

  std::size_t long_length(std::size_t length_of_length) {
    if (length_of_length > 8) throw rlp_error(rlp_fault::oversized, "length of " + std::to_string(length_of_length) + " bytes");
    if (in.size() - pos < length_of_length) throw rlp_error(rlp_fault::truncated, "length field cut short");
    if (in[pos] == 0) throw rlp_error(rlp_fault::non_canonical, "length with a leading zero byte");
    std::uint64_t len = 0;
    for (std::size_t i = 0; i < length_of_length; ++i) len = (len << 8) | in[pos + i];
    pos += length_of_length;
    if (len < 56) throw rlp_error(rlp_fault::non_canonical, "long form used for a length of " + std::to_string(len) + " < 56");
    return static_cast<std::size_t>(len);
  }
  void need(std::size_t len) const {
    if (in.size() - pos < len)
      throw rlp_error(rlp_fault::truncated, "item of " + std::to_string(len) + " bytes, only " +
                                                std::to_string(in.size() - pos) + " left");
  }
  rlp_item item(std::size_t depth) {
    if (pos >= in.size()) throw rlp_error(rlp_fault::truncated, "input ends where an item should start");
    const std::uint8_t b = in[pos++];
    rlp_item out;
    if (b < 0x80) {
      out.data = {b};
      return out;
    }
    if (b < 0xc0) {
      std::size_t len = 0;
      if (b <= 0xb7) {
        len = b - 0x80u;
        if (len == 1) {
          need(1);
          if (in[pos] < 0x80) throw rlp_error(rlp_fault::non_canonical, "single byte < 0x80 wrapped in a string header");
        }
      } else {
        len = long_length(b - 0xb7u);
      }
      need(len);
      out.data.assign(in.begin() + static_cast<std::ptrdiff_t>(pos), in.begin() + static_cast<std::ptrdiff_t>(pos + len));
      pos += len;
      return out;
    }
    if (depth >= max_depth) throw rlp_error(rlp_fault::oversized, "lists nested deeper than " + std::to_string(max_depth));
    const std::size_t len = b <= 0xf7 ? b - 0xc0u : long_length(b - 0xf7u);
    need(len);
    out.is_list = true;
    const std::size_t end = pos + len;
    while (pos < end) {
      reader sub{in.first(end), pos};
      out.items.push_back(sub.item(depth + 1));
      pos = sub.pos;
    }
    return out;
  }
};
} // namespace detail

/// Decodes exactly one item that spans the whole input.
/// @throws rlp_error with fault truncated, oversized, non_canonical or trailing
inline rlp_item decode(std::span<const std::uint8_t> in) {
  detail::reader r{in};
  rlp_item out = r.item(0);
  if (r.pos != in.size())
    throw rlp_error(rlp_fault::trailing, std::to_string(in.size() - r.pos) + " bytes after the item");
  return out;
}

/// Reads an RLP scalar (minimal big-endian bytes) as an unsigned 64-bit integer.
/// @throws rlp_error (wrong_type) for a list, (oversized) beyond 8 bytes, (non_canonical) with a leading zero
inline std::uint64_t to_uint(const rlp_item& item) {
  const bytes& b = item.str();
  if (b.size() > 8) throw rlp_error(rlp_fault::oversized, "integer of " + std::to_string(b.size()) + " bytes > 8");
  if (!b.empty() && b[0] == 0) throw rlp_error(rlp_fault::non_canonical, "integer with a leading zero byte");
  std::uint64_t v = 0;
  for (auto x : b) v = (v << 8) | x;
  return v;
}

} // namespace rlp
} // namespace hefl::iot::ethereum
