#pragma once
/// @file
/// Why a contract call reverted, in words: decodes the revert data the EVM returns (Solidity's
/// `Error(string)` (selector 0x08c379a0), `Panic(uint256)` (0x4e487b71) and the custom errors of
/// contracts/AuditLog.sol and contracts/RuleRegistry.sol by their 4-byte selectors, Solidity ABI
/// https://docs.soliditylang.org/en/v0.8.24/abi-spec.html#errors), and finds that data for a mined
/// transaction whose receipt says status 0 by replaying it with eth_call at the block before its block
/// (a receipt carries no revert data).

#include <hefl/iot/ledger/ethereum/json_rpc.hpp>
#include <hefl/iot/ledger/ethereum/keccak.hpp>
#include <hefl/iot/ledger/ethereum/transaction.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace hefl::iot::ethereum {

/// A revert decoded: the error's name ("NotWriter", "Error", "Panic", "" when unknown or absent) and
/// a readable text with its arguments, e.g. `NotWriter(0x1df6...)` or `Error("not allowed")`.
struct revert_reason {
  std::string name;
  std::string text;
};

namespace revert_detail {
enum class arg { address, uint };
struct known_error {
  std::string_view signature;  ///< canonical signature, hashed for the selector
  std::string_view name;
  std::array<arg, 2> args;
  std::size_t arity;
};
// The custom errors of contracts/*.sol (their ABIs in contracts/build/*.json).
inline constexpr std::array<known_error, 8> known = {{
    {"NotAdmin(address)", "NotAdmin", {arg::address, arg::address}, 1},
    {"NotWriter(address)", "NotWriter", {arg::address, arg::address}, 1},
    {"UnknownKind(uint8)", "UnknownKind", {arg::uint, arg::uint}, 1},
    {"EmptyBatch()", "EmptyBatch", {arg::uint, arg::uint}, 0},
    {"StaleVersion(uint64,uint64)", "StaleVersion", {arg::uint, arg::uint}, 2},
    {"EmptyDocument()", "EmptyDocument", {arg::uint, arg::uint}, 0},
    {"EmptyGroup()", "EmptyGroup", {arg::uint, arg::uint}, 0},
    {"ZeroAdmin()", "ZeroAdmin", {arg::uint, arg::uint}, 0},
}};
inline std::uint32_t selector_of(std::string_view signature) {
  const hash32 h = keccak256(signature);
  return static_cast<std::uint32_t>(h[0]) << 24 | static_cast<std::uint32_t>(h[1]) << 16 |
         static_cast<std::uint32_t>(h[2]) << 8 | h[3];
}
// A word as an unsigned number: decimal when it fits 64 bits, else hex.
inline std::string uint_text(std::span<const std::uint8_t> w) {
  for (std::size_t i = 0; i < 24; ++i)
    if (w[i] != 0) return to_hex(w);
  std::uint64_t v = 0;
  for (std::size_t i = 24; i < 32; ++i) v = v << 8 | w[i];
  return std::to_string(v);
}
} // namespace revert_detail

/// Decodes revert data. Never throws: data it cannot read is described, not trusted.
inline revert_reason decode_revert(std::span<const std::uint8_t> data) {
  using namespace revert_detail;
  if (data.empty()) return {"", "no revert data"};
  if (data.size() < 4) return {"", "revert data of " + std::to_string(data.size()) + " bytes: " + to_hex(data)};
  const std::uint32_t sel = static_cast<std::uint32_t>(data[0]) << 24 | static_cast<std::uint32_t>(data[1]) << 16 |
                            static_cast<std::uint32_t>(data[2]) << 8 | data[3];
  const auto body = data.subspan(4);
  if (sel == 0x08c379a0U) {  // Error(string): offset, length, bytes
    if (body.size() >= 64) {
      std::uint64_t off = 0, len = 0;
      bool small = true;
      for (std::size_t i = 0; i < 24; ++i) small = small && body[i] == 0 && body[32 + i] == 0;
      for (std::size_t i = 24; i < 32; ++i) off = off << 8 | body[i];
      if (small && off == 32) {
        for (std::size_t i = 56; i < 64; ++i) len = len << 8 | body[i];
        if (len <= body.size() - 64) {
          std::string s(body.begin() + 64, body.begin() + 64 + static_cast<std::ptrdiff_t>(len));
          for (char& c : s)
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
          return {"Error", "Error(\"" + s + "\")"};
        }
      }
    }
    return {"Error", "Error(string) with malformed data " + to_hex(data)};
  }
  if (sel == 0x4e487b71U) {  // Panic(uint256)
    if (body.size() == 32) return {"Panic", "Panic(" + to_hex(body.subspan(24)) + ")"};
    return {"Panic", "Panic(uint256) with malformed data " + to_hex(data)};
  }
  for (const auto& k : known) {
    if (selector_of(k.signature) != sel) continue;
    if (body.size() != 32 * k.arity) return {std::string(k.name), std::string(k.name) + " with malformed data " + to_hex(data)};
    std::string text = std::string(k.name) + "(";
    for (std::size_t i = 0; i < k.arity; ++i) {
      const auto w = body.subspan(32 * i, 32);
      if (i) text += ", ";
      text += k.args[i] == arg::address ? to_hex(w.subspan(12)) : uint_text(w);
    }
    return {std::string(k.name), text + ")"};
  }
  return {"", "unknown error " + to_hex(data.first(4)) + " (" + std::to_string(body.size()) + " bytes of arguments)"};
}

/// The revert data inside a node's JSON-RPC error, where ganache and geth put it: `data` as a hex
/// string, or an object with a hex `data` or `result` member. nullopt when there is none.
inline std::optional<bytes> revert_data_of(const json_rpc_error& e) {
  const auto hex_of = [](const nlohmann::json& j) -> std::optional<bytes> {
    if (!j.is_string()) return std::nullopt;
    try {
      return from_hex(j.get<std::string>());
    } catch (const parse_error&) {
      return std::nullopt;
    }
  };
  const auto& d = e.data();
  if (auto b = hex_of(d)) return b;
  if (d.is_object()) {
    for (const char* key : {"data", "result"})
      if (d.contains(key))
        if (auto b = hex_of(d[key])) return b;
  }
  return std::nullopt;
}

/// Why the mined transaction @p call (sent from @p from, receipt @p r with status 0) reverted: @p call
/// replayed with eth_call from @p from on the state before block r.block_number, and the revert data
/// the node returns decoded. A replay that does not revert (the state changed within the block) or a
/// node that gives no data says so in the text. Never throws: a node that cannot be asked is described.
inline revert_reason explain_revert(const json_rpc_client& rpc, const address& from, const legacy_transaction& call,
                                    const receipt& r) {
  nlohmann::json req = {{"from", to_hex(from)}, {"data", to_hex(call.data)}, {"gas", to_quantity(call.gas_limit)}};
  if (call.to) req["to"] = to_hex(*call.to);
  const std::uint64_t at = r.block_number == 0 ? 0 : r.block_number - 1;
  try {
    (void)rpc.call("eth_call", {req, to_quantity(at)});
    return {"", "the replay at block " + std::to_string(at) + " did not revert"};
  } catch (const json_rpc_error& e) {
    if (const auto data = revert_data_of(e)) return decode_revert(*data);
    return {"", std::string("the node gave no revert data (") + e.what() + ")"};
  } catch (const error& e) {
    return {"", std::string("the replay failed: ") + e.what()};
  }
}

} // namespace hefl::iot::ethereum
