#pragma once
/// @file
/// "0x"-prefixed hex, as Ethereum's JSON-RPC writes byte strings and quantities.

#include <hefl/core/error.hpp>

#include <botan/hex.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hefl::iot::ethereum {

using bytes = std::vector<std::uint8_t>;

/// Lower-case hex with a "0x" prefix (JSON-RPC DATA).
inline std::string to_hex(std::span<const std::uint8_t> b) { return "0x" + Botan::hex_encode(b.data(), b.size(), false); }

/// A quantity in JSON-RPC form: "0x" and no leading zeros ("0x0" for zero).
inline std::string to_quantity(std::uint64_t v) {
  static constexpr char digits[] = "0123456789abcdef";
  if (v == 0) return "0x0";
  std::string out;
  for (; v != 0; v >>= 4) out.insert(out.begin(), digits[v & 15]);
  return "0x" + out;
}

namespace hex_detail {
inline int nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
inline std::string_view strip(std::string_view s) {
  if (s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2);
  return s;
}
} // namespace hex_detail

/// Parses hex bytes, with or without "0x".
/// @throws parse_error on an odd length or a non-hex character
inline std::vector<std::uint8_t> from_hex(std::string_view s) {
  s = hex_detail::strip(s);
  if (s.size() % 2 != 0) throw parse_error("hex: odd number of digits (" + std::to_string(s.size()) + ")");
  std::vector<std::uint8_t> out(s.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = hex_detail::nibble(s[2 * i]), lo = hex_detail::nibble(s[2 * i + 1]);
    if (hi < 0 || lo < 0) throw parse_error("hex: not a hex digit near position " + std::to_string(2 * i));
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return out;
}

/// Parses a JSON-RPC quantity ("0x1a") into 64 bits.
/// @throws parse_error if it is empty, not hex, or larger than 64 bits
inline std::uint64_t from_quantity(std::string_view s) {
  if (s.size() < 3 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
    throw parse_error("quantity: expected 0x followed by hex digits, got \"" + std::string(s.substr(0, 40)) + "\"");
  s.remove_prefix(2);
  while (s.size() > 1 && s[0] == '0') s.remove_prefix(1);
  if (s.size() > 16) throw parse_error("quantity: more than 64 bits");
  std::uint64_t v = 0;
  for (char c : s) {
    const int n = hex_detail::nibble(c);
    if (n < 0) throw parse_error("quantity: not a hex digit");
    v = v << 4 | static_cast<std::uint64_t>(n);
  }
  return v;
}

} // namespace hefl::iot::ethereum
