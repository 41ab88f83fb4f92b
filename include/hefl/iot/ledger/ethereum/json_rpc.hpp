#pragma once
/// @file
/// A JSON-RPC 2.0 client for an Ethereum node over HTTP (the Ethereum JSON-RPC API,
/// https://ethereum.org/en/developers/docs/apis/json-rpc/), on cpp-httplib and nlohmann-json. Every
/// failure is typed: the node cannot be reached (node_unreachable), it answered with a JSON-RPC error
/// object (json_rpc_error), or its reply is not what the API specifies (malformed_reply). Every wait
/// is bounded. Needs the cpp-httplib library (Debian libcpp-httplib-dev, pkg-config cpp-httplib).

#include <hefl/core/error.hpp>
#include <hefl/iot/ledger/ethereum/hex.hpp>
#include <hefl/iot/ledger/ethereum/keccak.hpp>
#include <hefl/iot/ledger/ethereum/secp256k1.hpp>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace hefl::iot::ethereum {

/// The node did not answer: connection refused, timed out, or not HTTP 200.
class node_unreachable : public io_error {
public:
  using io_error::io_error;
};

/// The node answered with a JSON-RPC error object (a revert on eth_call, a bad nonce, ...).
class json_rpc_error : public error {
public:
  json_rpc_error(std::string method, std::int64_t code, const std::string& message, nlohmann::json data)
      : error("json-rpc " + method + ": error " + std::to_string(code) + ": " + message),
        m_method(std::move(method)), m_code(code), m_message(message), m_data(std::move(data)) {}
  [[nodiscard]] std::int64_t code() const noexcept { return m_code; }
  /// The error object's "message", as the node sent it.
  [[nodiscard]] const std::string& message_text() const noexcept { return m_message; }
  [[nodiscard]] const std::string& method() const noexcept { return m_method; }
  [[nodiscard]] const nlohmann::json& data() const noexcept { return m_data; }

private:
  std::string m_method;
  std::int64_t m_code;
  std::string m_message;
  nlohmann::json m_data;
};

/// The node's reply is not valid JSON-RPC, or a field has the wrong shape.
class malformed_reply : public parse_error {
public:
  using parse_error::parse_error;
};

/// No receipt arrived within the bound given to await_receipt (dropped, or the chain is stalled).
class receipt_timeout : public io_error {
public:
  using io_error::io_error;
};

/// One event log as eth_getLogs and receipts report it.
struct log_entry {
  address emitter{};              ///< the contract that emitted it
  std::vector<hash32> topics;     ///< topic 0 is the event signature's Keccak-256
  bytes data;
  std::uint64_t block_number = 0;
  hash32 block_hash{};
  hash32 transaction_hash{};
  std::uint64_t log_index = 0;
  bool removed = false;           ///< true when a reorganisation dropped it
};

/// A transaction receipt.
struct receipt {
  hash32 transaction_hash{};
  std::uint64_t block_number = 0;
  hash32 block_hash{};
  bool success = false;           ///< status 0x1; a revert is a receipt with status 0x0, not an error
  std::uint64_t gas_used = 0;
  std::optional<address> contract_address;
  std::vector<log_entry> logs;
};

/// Which logs eth_getLogs returns.
struct log_filter {
  std::optional<address> emitter;
  std::vector<std::optional<hash32>> topics;  ///< by position; nullopt matches anything
  std::uint64_t from_block = 0;
  std::optional<std::uint64_t> to_block;      ///< nullopt: "latest"
};

namespace json_rpc_detail {
template <std::size_t N>
std::array<std::uint8_t, N> fixed(const nlohmann::json& j, const char* what) {
  if (!j.is_string()) throw malformed_reply(std::string("json-rpc: ") + what + " is not a string");
  bytes b;
  try {
    b = from_hex(j.get<std::string>());
  } catch (const parse_error& e) {
    throw malformed_reply(std::string("json-rpc: ") + what + ": " + e.what());
  }
  if (b.size() != N)
    throw malformed_reply(std::string("json-rpc: ") + what + " has " + std::to_string(b.size()) + " bytes, expected " + std::to_string(N));
  std::array<std::uint8_t, N> out{};
  std::copy(b.begin(), b.end(), out.begin());
  return out;
}
inline bytes data(const nlohmann::json& j, const char* what) {
  if (!j.is_string()) throw malformed_reply(std::string("json-rpc: ") + what + " is not a string");
  try {
    return from_hex(j.get<std::string>());
  } catch (const parse_error& e) {
    throw malformed_reply(std::string("json-rpc: ") + what + ": " + e.what());
  }
}
inline std::uint64_t quantity(const nlohmann::json& j, const char* what) {
  if (!j.is_string()) throw malformed_reply(std::string("json-rpc: ") + what + " is not a quantity string");
  try {
    return from_quantity(j.get<std::string>());
  } catch (const parse_error& e) {
    throw malformed_reply(std::string("json-rpc: ") + what + ": " + e.what());
  }
}
inline const nlohmann::json& member(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object() || !obj.contains(key)) throw malformed_reply(std::string("json-rpc: missing field ") + key);
  return obj.at(key);
}
inline log_entry parse_log(const nlohmann::json& j) {
  log_entry l;
  l.emitter = fixed<20>(member(j, "address"), "log address");
  const auto& topics = member(j, "topics");
  if (!topics.is_array() || topics.size() > 4) throw malformed_reply("json-rpc: log topics is not an array of at most 4");
  for (const auto& t : topics) l.topics.push_back(fixed<32>(t, "log topic"));
  l.data = data(member(j, "data"), "log data");
  l.block_number = quantity(member(j, "blockNumber"), "log blockNumber");
  l.block_hash = fixed<32>(member(j, "blockHash"), "log blockHash");
  l.transaction_hash = fixed<32>(member(j, "transactionHash"), "log transactionHash");
  l.log_index = quantity(member(j, "logIndex"), "log logIndex");
  if (j.contains("removed")) {
    if (!j["removed"].is_boolean()) throw malformed_reply("json-rpc: log removed is not a boolean");
    l.removed = j["removed"].get<bool>();
  }
  return l;
}
} // namespace json_rpc_detail

/// A JSON-RPC client for one node. Thread-safe: every call opens its own HTTP connection.
class json_rpc_client {
public:
  /// @param timeout bound on connecting and on reading each reply
  json_rpc_client(std::string host, std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10))
      : m_host(std::move(host)), m_port(port), m_timeout(timeout) {}

  /// Calls @p method with @p params and returns its "result".
  /// @throws node_unreachable, json_rpc_error, malformed_reply
  nlohmann::json call(const std::string& method, nlohmann::json params = nlohmann::json::array()) const {
    const std::uint64_t id = ++m_next_id;
    const nlohmann::json request = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}};
    httplib::Client client(m_host, m_port);
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(m_timeout);
    const auto usecs = std::chrono::duration_cast<std::chrono::microseconds>(m_timeout - secs);
    client.set_connection_timeout(secs.count(), usecs.count());
    client.set_read_timeout(secs.count(), usecs.count());
    client.set_write_timeout(secs.count(), usecs.count());
    const auto res = client.Post("/", request.dump(), "application/json");
    if (!res)
      throw node_unreachable("json-rpc " + method + ": node at " + m_host + ":" + std::to_string(m_port) +
                             " unreachable (" + httplib::to_string(res.error()) + ")");
    if (res->status != 200)
      throw node_unreachable("json-rpc " + method + ": HTTP status " + std::to_string(res->status));
    nlohmann::json reply;
    try {
      reply = nlohmann::json::parse(res->body);
    } catch (const nlohmann::json::exception& e) {
      throw malformed_reply("json-rpc " + method + ": reply is not JSON: " + e.what());
    }
    if (!reply.is_object()) throw malformed_reply("json-rpc " + method + ": reply is not a JSON object");
    if (!reply.contains("id") || reply["id"] != id)
      throw malformed_reply("json-rpc " + method + ": reply id does not match request id " + std::to_string(id));
    if (reply.contains("error")) {
      const auto& e = reply["error"];
      if (!e.is_object() || !e.contains("code") || !e["code"].is_number_integer() || !e.contains("message") ||
          !e["message"].is_string())
        throw malformed_reply("json-rpc " + method + ": error object without integer code and string message");
      throw json_rpc_error(method, e["code"].get<std::int64_t>(), e["message"].get<std::string>(),
                           e.contains("data") ? e["data"] : nlohmann::json());
    }
    if (!reply.contains("result")) throw malformed_reply("json-rpc " + method + ": reply has neither result nor error");
    return reply["result"];
  }

  /// @throws as call()
  [[nodiscard]] std::uint64_t chain_id() const { return json_rpc_detail::quantity(call("eth_chainId"), "eth_chainId"); }
  /// @throws as call()
  [[nodiscard]] std::uint64_t block_number() const {
    return json_rpc_detail::quantity(call("eth_blockNumber"), "eth_blockNumber");
  }
  /// The node's suggested gas price in wei (fits 64 bits on test chains; larger prices are refused).
  /// @throws as call()
  [[nodiscard]] std::uint64_t gas_price() const { return json_rpc_detail::quantity(call("eth_gasPrice"), "eth_gasPrice"); }
  /// The account's nonce counting pending transactions (block "pending") or only mined ones ("latest").
  /// @throws as call()
  [[nodiscard]] std::uint64_t transaction_count(const address& account, const std::string& block = "pending") const {
    return json_rpc_detail::quantity(call("eth_getTransactionCount", {to_hex(account), block}), "eth_getTransactionCount");
  }
  /// Submits a signed transaction; returns its hash as the node reports it.
  /// @throws as call(); json_rpc_error when the node refuses it (bad nonce, too little gas, ...)
  hash32 send_raw_transaction(std::span<const std::uint8_t> raw) const {
    return json_rpc_detail::fixed<32>(call("eth_sendRawTransaction", {to_hex(raw)}), "transaction hash");
  }
  /// Whether the node holds the transaction (in its pool or mined): eth_getTransactionByHash is not null.
  /// @throws as call()
  [[nodiscard]] bool knows_transaction(const hash32& tx_hash) const {
    const nlohmann::json r = call("eth_getTransactionByHash", {to_hex(tx_hash)});
    if (!r.is_null() && !r.is_object()) throw malformed_reply("json-rpc: eth_getTransactionByHash result is neither null nor an object");
    return !r.is_null();
  }
  /// The receipt, or nullopt while the transaction is not mined.
  /// @throws as call()
  [[nodiscard]] std::optional<receipt> transaction_receipt(const hash32& tx_hash) const {
    const nlohmann::json r = call("eth_getTransactionReceipt", {to_hex(tx_hash)});
    if (r.is_null()) return std::nullopt;
    using namespace json_rpc_detail;
    receipt out;
    out.transaction_hash = fixed<32>(member(r, "transactionHash"), "receipt transactionHash");
    out.block_number = quantity(member(r, "blockNumber"), "receipt blockNumber");
    out.block_hash = fixed<32>(member(r, "blockHash"), "receipt blockHash");
    const std::uint64_t status = quantity(member(r, "status"), "receipt status");
    if (status > 1) throw malformed_reply("json-rpc: receipt status " + std::to_string(status) + " is not 0 or 1");
    out.success = status == 1;
    out.gas_used = quantity(member(r, "gasUsed"), "receipt gasUsed");
    if (r.contains("contractAddress") && !r["contractAddress"].is_null())
      out.contract_address = fixed<20>(r["contractAddress"], "receipt contractAddress");
    const auto& logs = member(r, "logs");
    if (!logs.is_array()) throw malformed_reply("json-rpc: receipt logs is not an array");
    for (const auto& l : logs) out.logs.push_back(parse_log(l));
    if (out.transaction_hash != tx_hash) throw malformed_reply("json-rpc: receipt is for another transaction");
    return out;
  }
  /// Polls for a receipt every @p interval until @p timeout has passed.
  /// @throws receipt_timeout when none arrives in time; otherwise as call()
  receipt await_receipt(const hash32& tx_hash, std::chrono::milliseconds timeout = std::chrono::seconds(60),
                        std::chrono::milliseconds interval = std::chrono::milliseconds(50)) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto r = transaction_receipt(tx_hash)) return *r;
      if (std::chrono::steady_clock::now() + interval > deadline)
        throw receipt_timeout("json-rpc: no receipt for " + to_hex(tx_hash) + " within " +
                              std::to_string(timeout.count()) + " ms");
      std::this_thread::sleep_for(interval);
    }
  }
  /// Runs a read-only call against a contract at "latest".
  /// @throws as call(); json_rpc_error when the call reverts
  [[nodiscard]] bytes eth_call(const address& to, std::span<const std::uint8_t> calldata) const {
    return json_rpc_detail::data(call("eth_call", {{{"to", to_hex(to)}, {"data", to_hex(calldata)}}, "latest"}), "eth_call result");
  }
  /// The logs that match @p filter.
  /// @throws as call()
  [[nodiscard]] std::vector<log_entry> logs(const log_filter& filter) const {
    nlohmann::json f = {{"fromBlock", to_quantity(filter.from_block)},
                        {"toBlock", filter.to_block ? to_quantity(*filter.to_block) : std::string("latest")}};
    if (filter.emitter) f["address"] = to_hex(*filter.emitter);
    nlohmann::json topics = nlohmann::json::array();
    for (const auto& t : filter.topics) topics.push_back(t ? nlohmann::json(to_hex(*t)) : nlohmann::json());
    f["topics"] = topics;
    const nlohmann::json r = call("eth_getLogs", {f});
    if (!r.is_array()) throw malformed_reply("json-rpc: eth_getLogs result is not an array");
    std::vector<log_entry> out;
    out.reserve(r.size());
    for (const auto& l : r) out.push_back(json_rpc_detail::parse_log(l));
    return out;
  }

private:
  std::string m_host;
  std::uint16_t m_port;
  std::chrono::milliseconds m_timeout;
  mutable std::atomic<std::uint64_t> m_next_id{0};
};

} // namespace hefl::iot::ethereum
