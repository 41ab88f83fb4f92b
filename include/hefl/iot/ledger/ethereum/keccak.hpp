#pragma once
/// @file
/// Keccak-256, Ethereum's hash: the original Keccak submission with capacity 512 (Bertoni et al.,
/// "The Keccak reference" 3.0), which differs from FIPS 202 SHA3-256 in its padding byte. Botan calls
/// it "Keccak-1600(256)".

#include <botan/hash.h>

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

namespace hefl::iot::ethereum {

using hash32 = std::array<std::uint8_t, 32>;

/// Keccak-256 of a byte string (not SHA3-256).
inline hash32 keccak256(std::span<const std::uint8_t> in) {
  const auto h = Botan::HashFunction::create_or_throw("Keccak-1600(256)");
  h->update(in.data(), in.size());
  hash32 out{};
  h->final(out.data());
  return out;
}

/// Keccak-256 of the bytes of a text (an event or function signature, say).
inline hash32 keccak256(std::string_view text) {
  return keccak256({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
}

} // namespace hefl::iot::ethereum
