// ethereum::decode_revert without a node: Solidity's Error(string) and Panic(uint256), the custom
// errors of AuditLog and RuleRegistry by their selectors, and data it cannot read described, not trusted.
#include <hefl/iot/ledger/ethereum/revert_reason.hpp>

#include <catch2/catch.hpp>

#include <string>

namespace eth = hefl::iot::ethereum;

namespace {
eth::bytes selector(std::string_view signature) {
  const auto h = eth::keccak256(signature);
  return eth::bytes(h.begin(), h.begin() + 4);
}
void word(eth::bytes& out, std::uint64_t v) {
  for (int i = 0; i < 24; ++i) out.push_back(0);
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
} // namespace

TEST_CASE("decode_revert: Error(string), Panic(uint256) and the contracts' custom errors", "[eth][eth_revert]") {
  // Error("not allowed"), as solc encodes require(false, "not allowed").
  eth::bytes err = eth::from_hex("0x08c379a0");
  word(err, 32);
  word(err, 11);
  const std::string msg = "not allowed";
  err.insert(err.end(), msg.begin(), msg.end());
  err.resize(err.size() + 21, 0);
  auto r = eth::decode_revert(err);
  CHECK(r.name == "Error");
  CHECK(r.text == "Error(\"not allowed\")");

  eth::bytes panic = eth::from_hex("0x4e487b71");
  word(panic, 0x11);
  CHECK(eth::decode_revert(panic).text == "Panic(0x0000000000000011)");

  // NotWriter(address): the address from the word's low 20 bytes.
  eth::bytes nw = selector("NotWriter(address)");
  eth::bytes addr(32, 0);
  for (int i = 12; i < 32; ++i) addr[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(i);
  nw.insert(nw.end(), addr.begin(), addr.end());
  r = eth::decode_revert(nw);
  CHECK(r.name == "NotWriter");
  CHECK(r.text == "NotWriter(0x0c0d0e0f101112131415161718191a1b1c1d1e1f)");

  eth::bytes stale = selector("StaleVersion(uint64,uint64)");
  word(stale, 3);
  word(stale, 2);
  CHECK(eth::decode_revert(stale).text == "StaleVersion(3, 2)");
  CHECK(eth::decode_revert(selector("EmptyBatch()")).text == "EmptyBatch()");
  CHECK(eth::decode_revert(selector("NotAdmin(address)")).text.find("malformed") != std::string::npos);

  // What it cannot read is described, never guessed.
  CHECK(eth::decode_revert({}).text == "no revert data");
  CHECK(eth::decode_revert(eth::from_hex("0x0102")).name.empty());
  r = eth::decode_revert(eth::from_hex("0xdeadbeef00"));
  CHECK(r.name.empty());
  CHECK(r.text.find("unknown error 0xdeadbeef") != std::string::npos);
  eth::bytes bad_err = eth::from_hex("0x08c379a0");
  word(bad_err, 32);
  word(bad_err, 1000);  // longer than the data
  CHECK(eth::decode_revert(bad_err).text.find("malformed") != std::string::npos);

  // Revert data inside a node's JSON-RPC error: a hex string or an object member.
  const eth::json_rpc_error as_string("eth_call", -32000, "reverted", nlohmann::json(eth::to_hex(nw)));
  CHECK(eth::revert_data_of(as_string) == nw);
  const eth::json_rpc_error as_object("eth_call", -32000, "reverted", nlohmann::json{{"result", eth::to_hex(stale)}});
  CHECK(eth::revert_data_of(as_object) == stale);
  CHECK_FALSE(eth::revert_data_of(eth::json_rpc_error("eth_call", -32000, "x", nlohmann::json())).has_value());
}
