// The JSON-RPC client's typed errors against a scripted HTTP server (no Ethereum node needed): node
// down, JSON-RPC error objects, malformed replies, and a bounded wait for a receipt that never comes.
#include <hefl/iot/ledger/ethereum/json_rpc.hpp>

#include <catch2/catch.hpp>

#include <httplib.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

using namespace hefl::iot::ethereum;
using nlohmann::json;

namespace {
// An HTTP server on 127.0.0.1 whose reply to each request body is computed by @p reply.
class scripted_node {
public:
  explicit scripted_node(std::function<std::string(const json&)> reply) : m_reply(std::move(reply)) {
    m_server.Post("/", [this](const httplib::Request& req, httplib::Response& res) {
      res.set_content(m_reply(json::parse(req.body)), "application/json");
    });
    m_port = m_server.bind_to_any_port("127.0.0.1");
    m_thread = std::thread([this] { m_server.listen_after_bind(); });
    for (int i = 0; i < 500 && !m_server.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ~scripted_node() {
    m_server.stop();
    m_thread.join();
  }
  [[nodiscard]] std::uint16_t port() const { return static_cast<std::uint16_t>(m_port); }

private:
  std::function<std::string(const json&)> m_reply;
  httplib::Server m_server;
  int m_port = 0;
  std::thread m_thread;
};

std::string result(const json& req, const json& r) { return json{{"jsonrpc", "2.0"}, {"id", req["id"]}, {"result", r}}.dump(); }
} // namespace

TEST_CASE("json-rpc: a node that is down is node_unreachable", "[eth][rpc]") {
  std::uint16_t port = 0;
  {
    scripted_node n([](const json& req) { return result(req, "0x1"); });
    port = n.port();
  }  // the server is gone: nothing listens on the port now
  const json_rpc_client rpc("127.0.0.1", port, std::chrono::seconds(2));
  CHECK_THROWS_AS(rpc.chain_id(), node_unreachable);
  CHECK_THROWS_AS(rpc.block_number(), hefl::io_error);
}

TEST_CASE("json-rpc: results are parsed and error objects become json_rpc_error", "[eth][rpc]") {
  scripted_node n([](const json& req) -> std::string {
    const std::string m = req["method"];
    if (m == "eth_chainId") return result(req, "0x539");
    if (m == "eth_blockNumber") return result(req, "0x10");
    if (m == "eth_sendRawTransaction")
      return json{{"jsonrpc", "2.0"}, {"id", req["id"]}, {"error", {{"code", -32000}, {"message", "nonce too low"}}}}.dump();
    return json{{"jsonrpc", "2.0"}, {"id", req["id"]}, {"error", {{"code", -32601}, {"message", "method not found"}}}}.dump();
  });
  const json_rpc_client rpc("127.0.0.1", n.port());
  CHECK(rpc.chain_id() == 1337);
  CHECK(rpc.block_number() == 16);
  try {
    rpc.send_raw_transaction(bytes{0xc0});
    FAIL("no error");
  } catch (const json_rpc_error& e) {
    CHECK(e.code() == -32000);
    CHECK(e.method() == "eth_sendRawTransaction");
    CHECK(std::string(e.what()).find("nonce too low") != std::string::npos);
  }
  CHECK_THROWS_AS(rpc.call("no_such_method"), json_rpc_error);
}

TEST_CASE("json-rpc: malformed replies are malformed_reply", "[eth][rpc]") {
  std::string mode;
  scripted_node n([&mode](const json& req) -> std::string {
    if (mode == "not json") return "{\"jsonrpc\": ";
    if (mode == "array") return "[1,2]";
    if (mode == "wrong id") return json{{"jsonrpc", "2.0"}, {"id", 999999}, {"result", "0x1"}}.dump();
    if (mode == "no result") return json{{"jsonrpc", "2.0"}, {"id", req["id"]}}.dump();
    if (mode == "bad error") return json{{"jsonrpc", "2.0"}, {"id", req["id"]}, {"error", "boom"}}.dump();
    if (mode == "number") return result(req, 5);
    if (mode == "huge") return result(req, "0x1ffffffffffffffff");
    if (mode == "short hash") return result(req, "0x1234");
    if (mode == "odd hex") return result(req, "0x123");
    if (mode == "bad receipt") return result(req, json{{"transactionHash", "0x00"}});
    return result(req, "0x1");
  });
  const json_rpc_client rpc("127.0.0.1", n.port());
  for (const char* m : {"not json", "array", "wrong id", "no result", "bad error", "number", "huge"}) {
    mode = m;
    INFO(m);
    CHECK_THROWS_AS(rpc.chain_id(), malformed_reply);
  }
  mode = "short hash";
  CHECK_THROWS_AS(rpc.send_raw_transaction(bytes{0xc0}), malformed_reply);
  mode = "odd hex";
  CHECK_THROWS_AS(rpc.eth_call(address{}, bytes{}), malformed_reply);
  mode = "bad receipt";
  CHECK_THROWS_AS(rpc.transaction_receipt(hash32{}), malformed_reply);
  mode = "number";
  CHECK_THROWS_AS(rpc.logs(log_filter{}), malformed_reply);
}

TEST_CASE("json-rpc: awaiting a receipt that never comes ends in receipt_timeout", "[eth][rpc]") {
  scripted_node n([](const json& req) { return result(req, nullptr); });
  const json_rpc_client rpc("127.0.0.1", n.port());
  CHECK_FALSE(rpc.transaction_receipt(hash32{}).has_value());
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(rpc.await_receipt(hash32{}, std::chrono::milliseconds(300), std::chrono::milliseconds(20)), receipt_timeout);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));
}
