#pragma once
/// @file
/// EPC SGTIN-96, the 96-bit device identifier carried in hefl's device certificates.
/// Layout and partition table from GS1 EPC Tag Data Standard (TDS 1.13, §14.5.1 / Table 14-2).

#include <hefl/core/error.hpp>

#include <array>
#include <compare>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace hefl::iot {

namespace detail {

/// One row of the SGTIN partition table (GS1 TDS Table 14-2).
struct sgtin_partition_row {
  unsigned company_prefix_bits;
  unsigned company_prefix_digits;
  unsigned item_reference_bits;
  unsigned item_reference_digits;
};

/// Indexed by the partition value 0..6; company prefix + item reference always total 44 bits, 13 digits.
inline constexpr std::array<sgtin_partition_row, 7> sgtin_partition_table{{
    {40, 12, 4, 1},
    {37, 11, 7, 2},
    {34, 10, 10, 3},
    {30, 9, 14, 4},
    {27, 8, 17, 5},
    {24, 7, 20, 6},
    {20, 6, 24, 7},
}};

inline constexpr std::uint64_t pow10(unsigned n) noexcept {
  std::uint64_t r = 1;
  for (unsigned i = 0; i < n; ++i) r *= 10;
  return r;
}

/// Parses exactly the characters of @p text as an unsigned decimal of at most @p max_digits digits.
inline std::uint64_t parse_decimal(std::string_view text, unsigned max_digits, const char* what) {
  if (text.empty()) throw parse_error(std::string("EPC ") + what + ": expected digits, got an empty field");
  if (text.size() > max_digits)
    throw parse_error(std::string("EPC ") + what + ": expected at most " + std::to_string(max_digits) +
                      " digits, got " + std::to_string(text.size()));
  std::uint64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9')
      throw parse_error(std::string("EPC ") + what + ": expected decimal digits, got '" + std::string(text) + "'");
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return value;
}

inline std::string zero_padded(std::uint64_t value, unsigned digits) {
  std::string s = std::to_string(value);
  if (s.size() < digits) s.insert(0, digits - s.size(), '0');
  return s;
}

} // namespace detail

/// A GS1 Serialised Global Trade Item Number in its 96-bit binary encoding (SGTIN-96).
/// The company prefix keeps its digit count because leading zeros are significant in GS1 keys;
/// the partition value is derived from it.
struct sgtin96 {
  /// The SGTIN-96 header byte (GS1 TDS Table 14-1).
  static constexpr std::uint8_t header = 0x30;
  /// Largest serial number a 38-bit field can carry.
  static constexpr std::uint64_t max_serial = (std::uint64_t{1} << 38) - 1;

  std::uint8_t filter = 0;                   ///< filter value 0..7 (GS1 TDS Table 14-3); not part of the pure-identity URN
  std::uint64_t company_prefix = 0;          ///< GS1 company prefix, at most company_prefix_digits digits
  std::uint8_t company_prefix_digits = 7;    ///< 6..12; fixes the partition and the item reference width
  std::uint32_t item_reference = 0;          ///< indicator digit + item reference, 13 - company_prefix_digits digits
  std::uint64_t serial = 0;                  ///< 0..2^38-1

  friend auto operator<=>(const sgtin96&, const sgtin96&) = default;

  /// The partition value (GS1 TDS Table 14-2) implied by the company prefix length.
  /// @throws hefl::invalid_argument if company_prefix_digits is outside 6..12.
  [[nodiscard]] unsigned partition() const {
    if (company_prefix_digits < 6 || company_prefix_digits > 12)
      throw invalid_argument("SGTIN-96 company prefix: expected 6..12 digits, got " +
                             std::to_string(company_prefix_digits));
    return 12u - company_prefix_digits;
  }

  /// Number of digits of the item reference (indicator digit included).
  /// @throws hefl::invalid_argument if company_prefix_digits is outside 6..12.
  [[nodiscard]] unsigned item_reference_digits() const { return detail::sgtin_partition_table[partition()].item_reference_digits; }

  /// Checks every field against its bit width and digit count.
  /// @throws hefl::invalid_argument naming the field, the limit and the value.
  void validate() const {
    const auto& row = detail::sgtin_partition_table[partition()];
    if (filter > 7) throw invalid_argument("SGTIN-96 filter: expected 0..7, got " + std::to_string(filter));
    if (company_prefix >= detail::pow10(row.company_prefix_digits))
      throw invalid_argument("SGTIN-96 company prefix: " + std::to_string(company_prefix) + " has more than " +
                             std::to_string(row.company_prefix_digits) + " digits");
    if (item_reference >= detail::pow10(row.item_reference_digits))
      throw invalid_argument("SGTIN-96 item reference: " + std::to_string(item_reference) + " has more than " +
                             std::to_string(row.item_reference_digits) + " digits (partition " +
                             std::to_string(partition()) + ")");
    if (serial > max_serial)
      throw invalid_argument("SGTIN-96 serial: expected at most 2^38-1 = " + std::to_string(max_serial) + ", got " +
                             std::to_string(serial));
  }

  /// The 12-byte binary encoding, most significant bit first.
  /// @throws hefl::invalid_argument if a field is out of range (see validate()).
  [[nodiscard]] std::array<std::uint8_t, 12> encode() const {
    validate();
    const auto& row = detail::sgtin_partition_table[partition()];
    // 96 bits = hi (32 bits: header, filter, partition, top of the 44-bit GS1 key) + lo (64 bits).
    const std::uint64_t key = (company_prefix << row.item_reference_bits) | item_reference;  // 44 bits
    const std::uint64_t hi = (std::uint64_t{header} << 24) | (std::uint64_t{filter} << 21) |
                             (std::uint64_t{partition()} << 18) | (key >> 26);
    const std::uint64_t lo = ((key & ((std::uint64_t{1} << 26) - 1)) << 38) | serial;
    std::array<std::uint8_t, 12> out{};
    for (int i = 0; i < 4; ++i) out[i] = static_cast<std::uint8_t>(hi >> (8 * (3 - i)));
    for (int i = 0; i < 8; ++i) out[4 + i] = static_cast<std::uint8_t>(lo >> (8 * (7 - i)));
    return out;
  }

  /// Decodes 12 untrusted bytes.
  /// @throws hefl::parse_error on a wrong length, a header other than 0x30, partition 7, or a company
  ///         prefix / item reference whose value exceeds its digit count.
  [[nodiscard]] static sgtin96 decode(std::span<const std::uint8_t> bytes) {
    if (bytes.size() != 12)
      throw parse_error("SGTIN-96: expected 12 bytes, got " + std::to_string(bytes.size()));
    if (bytes[0] != header) {
      static constexpr char hex[] = "0123456789ABCDEF";
      throw parse_error(std::string("SGTIN-96: expected header 0x30, got 0x") + hex[bytes[0] >> 4] +
                        hex[bytes[0] & 15]);
    }
    std::uint64_t hi = 0, lo = 0;
    for (int i = 0; i < 4; ++i) hi = (hi << 8) | bytes[i];
    for (int i = 0; i < 8; ++i) lo = (lo << 8) | bytes[4 + i];
    const unsigned part = static_cast<unsigned>((hi >> 18) & 7);
    if (part == 7) throw parse_error("SGTIN-96: partition 7 is reserved (expected 0..6)");
    const auto& row = detail::sgtin_partition_table[part];
    const std::uint64_t key = ((hi & ((std::uint64_t{1} << 18) - 1)) << 26) | (lo >> 38);
    sgtin96 e;
    e.filter = static_cast<std::uint8_t>((hi >> 21) & 7);
    e.company_prefix_digits = static_cast<std::uint8_t>(row.company_prefix_digits);
    e.company_prefix = key >> row.item_reference_bits;
    e.item_reference = static_cast<std::uint32_t>(key & ((std::uint64_t{1} << row.item_reference_bits) - 1));
    e.serial = lo & max_serial;
    if (e.company_prefix >= detail::pow10(row.company_prefix_digits))
      throw parse_error("SGTIN-96: company prefix " + std::to_string(e.company_prefix) + " exceeds " +
                        std::to_string(row.company_prefix_digits) + " digits (partition " + std::to_string(part) + ")");
    if (e.item_reference >= detail::pow10(row.item_reference_digits))
      throw parse_error("SGTIN-96: item reference " + std::to_string(e.item_reference) + " exceeds " +
                        std::to_string(row.item_reference_digits) + " digits (partition " + std::to_string(part) + ")");
    return e;
  }

  /// Pure-identity URN "urn:epc:id:sgtin:CompanyPrefix.ItemRef.Serial" (the filter is not part of it).
  /// @throws hefl::invalid_argument if a field is out of range.
  [[nodiscard]] std::string to_urn() const {
    validate();
    return "urn:epc:id:sgtin:" + detail::zero_padded(company_prefix, company_prefix_digits) + "." +
           detail::zero_padded(item_reference, item_reference_digits()) + "." + std::to_string(serial);
  }

  /// Parses a pure-identity URN; the filter, which the URN does not carry, is given separately.
  /// The serial must be all digits without leading zeros, as SGTIN-96 requires (TDS §14.5.1.1).
  /// @throws hefl::parse_error on a wrong prefix, field count, digit counts or a serial above 2^38-1.
  /// @throws hefl::invalid_argument if @p filter is above 7.
  [[nodiscard]] static sgtin96 from_urn(std::string_view urn, std::uint8_t filter = 0) {
    if (filter > 7) throw invalid_argument("SGTIN-96 filter: expected 0..7, got " + std::to_string(filter));
    constexpr std::string_view prefix = "urn:epc:id:sgtin:";
    if (urn.size() > 64) throw parse_error("SGTIN URN: expected at most 64 characters, got " + std::to_string(urn.size()));
    if (urn.substr(0, prefix.size()) != prefix)
      throw parse_error("SGTIN URN: expected prefix \"urn:epc:id:sgtin:\", got \"" + std::string(urn) + "\"");
    const std::string_view body = urn.substr(prefix.size());
    const auto dot1 = body.find('.');
    const auto dot2 = dot1 == std::string_view::npos ? dot1 : body.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || body.find('.', dot2 + 1) != std::string_view::npos)
      throw parse_error("SGTIN URN: expected CompanyPrefix.ItemRef.Serial, got \"" + std::string(body) + "\"");
    const auto cp = body.substr(0, dot1);
    const auto ir = body.substr(dot1 + 1, dot2 - dot1 - 1);
    const auto sn = body.substr(dot2 + 1);
    if (cp.size() < 6 || cp.size() > 12)
      throw parse_error("SGTIN URN company prefix: expected 6..12 digits, got " + std::to_string(cp.size()));
    if (cp.size() + ir.size() != 13)
      throw parse_error("SGTIN URN: company prefix and item reference must total 13 digits, got " +
                        std::to_string(cp.size()) + " + " + std::to_string(ir.size()));
    if (sn.size() > 1 && sn[0] == '0')
      throw parse_error("SGTIN URN serial: SGTIN-96 forbids leading zeros, got \"" + std::string(sn) + "\"");
    sgtin96 e;
    e.filter = filter;
    e.company_prefix_digits = static_cast<std::uint8_t>(cp.size());
    e.company_prefix = detail::parse_decimal(cp, 12, "company prefix");
    e.item_reference = static_cast<std::uint32_t>(detail::parse_decimal(ir, 7, "item reference"));
    e.serial = detail::parse_decimal(sn, 12, "serial");
    if (e.serial > max_serial)
      throw parse_error("SGTIN URN serial: expected at most " + std::to_string(max_serial) + ", got " +
                        std::string(sn));
    return e;
  }

  /// The 24 upper-case hex digits of the binary encoding.
  /// @throws hefl::invalid_argument if a field is out of range.
  [[nodiscard]] std::string to_hex() const {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string s;
    s.reserve(24);
    for (const auto b : encode()) {
      s.push_back(hex[b >> 4]);
      s.push_back(hex[b & 15]);
    }
    return s;
  }

  /// Parses 24 hex digits (either case) and decodes them.
  /// @throws hefl::parse_error on a wrong length, a non-hex character or an invalid encoding.
  [[nodiscard]] static sgtin96 from_hex(std::string_view hex) {
    if (hex.size() != 24) throw parse_error("SGTIN-96 hex: expected 24 hex digits, got " + std::to_string(hex.size()));
    std::array<std::uint8_t, 12> bytes{};
    for (std::size_t i = 0; i < 24; ++i) {
      const char c = hex[i];
      unsigned v;
      if (c >= '0' && c <= '9') v = static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') v = static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v = static_cast<unsigned>(c - 'A' + 10);
      else throw parse_error("SGTIN-96 hex: expected a hex digit at position " + std::to_string(i) + ", got '" + c + "'");
      bytes[i / 2] = static_cast<std::uint8_t>((bytes[i / 2] << 4) | v);
    }
    return decode(bytes);
  }
};

} // namespace hefl::iot
