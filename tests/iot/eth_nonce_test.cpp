// Nonces and bounded waits under a node that answers late (issue 14, the hang of collector_load
// --ledger ethereum-batched under load), on a ganache this test starts. A proxy in front of ganache
// loses the reply to one eth_sendRawTransaction (ganache took the transaction, the client timed out)
// or refuses one before ganache sees it: transaction_sender must count the first as sent and resend
// the second with the same bytes, never a second transaction for one nonce. batched_audit_ledger must
// end every batch behind an unmined one within one receipt_timeout of its submission, not one
// receipt_timeout apiece. The nonce manager: a refused transaction leaves its nonce to the next one,
// a nonce another sender of the account holds (pooled or mined) is moved past and never back, and an
// uncertain send is settled by the next submit from the node's view of its hash. resubmit_pending()
// sends every stalled batch first and awaits their receipts together.
#include <hefl/iot/ledger/ethereum/batched_audit_ledger.hpp>

#include "eth_support.hpp"

#include <httplib.h>

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace hefl::iot;
using namespace std::chrono_literals;
namespace eth = hefl::iot::ethereum;

namespace {
// Forwards JSON-RPC to ganache; the first eth_sendRawTransaction is either forwarded with its reply
// held past the client's timeout (lose_reply) or answered 502 without forwarding (refuse).
class flaky_proxy {
public:
  enum class mode { lose_reply, refuse };
  flaky_proxy(std::uint16_t upstream, mode m, std::chrono::milliseconds hold) : m_upstream(upstream), m_mode(m), m_hold(hold) {
    m_server.Post("/", [this](const httplib::Request& req, httplib::Response& res) {
      const bool raw = req.body.find("eth_sendRawTransaction") != std::string::npos;
      if (raw) ++m_raw_sends;
      const bool first = raw && !m_tripped.exchange(true);
      if (first && m_mode == mode::refuse) {
        res.status = 502;
        return;
      }
      httplib::Client up("127.0.0.1", m_upstream);
      up.set_read_timeout(20, 0);
      const auto r = up.Post("/", req.body, "application/json");
      if (!r) {
        res.status = 502;
        return;
      }
      if (first) std::this_thread::sleep_for(m_hold);  // the node has it; the client gives up first
      res.set_content(r->body, "application/json");
    });
    m_port = static_cast<std::uint16_t>(m_server.bind_to_any_port("127.0.0.1"));
    m_thread = std::thread([this] { m_server.listen_after_bind(); });
    for (int i = 0; i < 10000 && !m_server.is_running(); ++i) std::this_thread::sleep_for(1ms);
    if (!m_server.is_running()) throw hefl::io_error("flaky_proxy: the proxy did not start");
  }
  flaky_proxy(const flaky_proxy&) = delete;
  flaky_proxy& operator=(const flaky_proxy&) = delete;
  ~flaky_proxy() {
    m_server.stop();
    m_thread.join();
  }
  [[nodiscard]] std::uint16_t port() const noexcept { return m_port; }
  [[nodiscard]] int raw_sends() const noexcept { return m_raw_sends; }

private:
  std::uint16_t m_upstream;
  mode m_mode;
  std::chrono::milliseconds m_hold;
  httplib::Server m_server;
  std::uint16_t m_port = 0;
  std::thread m_thread;
  std::atomic<bool> m_tripped{false};
  std::atomic<int> m_raw_sends{0};
};

// Forwards JSON-RPC to ganache and does to each request what the current rule says for its method:
// forward it; answer 502 without forwarding (refuse); forward it and hold the reply past the client's
// timeout (lose_reply); or, for eth_sendRawTransaction, answer with the transaction's hash without
// forwarding (swallow: a node that accepts and then drops it).
class scripted_proxy {
public:
  enum class action { forward, refuse, lose_reply, swallow };
  using rule = std::function<action(const std::string& method)>;
  scripted_proxy(std::uint16_t upstream, std::chrono::milliseconds hold) : m_upstream(upstream), m_hold(hold) {
    m_server.Post("/", [this](const httplib::Request& req, httplib::Response& res) {
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(req.body);
      } catch (const nlohmann::json::exception&) {
        res.status = 400;
        return;
      }
      const std::string method = j.value("method", "");
      action a = action::forward;
      {
        std::lock_guard lock(m_mutex);
        ++m_calls[method];
        if (m_rule) a = m_rule(method);
      }
      if (a == action::refuse) {
        res.status = 502;
        return;
      }
      if (a == action::swallow && method == "eth_sendRawTransaction") {
        const auto raw = eth::from_hex(j["params"][0].get<std::string>());
        const nlohmann::json reply = {{"jsonrpc", "2.0"}, {"id", j["id"]}, {"result", eth::to_hex(eth::keccak256(raw))}};
        res.set_content(reply.dump(), "application/json");
        return;
      }
      httplib::Client up("127.0.0.1", m_upstream);
      up.set_read_timeout(20, 0);
      const auto r = up.Post("/", req.body, "application/json");
      if (!r) {
        res.status = 502;
        return;
      }
      if (a == action::lose_reply) std::this_thread::sleep_for(m_hold);  // the node has it; the client gives up first
      res.set_content(r->body, "application/json");
    });
    m_port = static_cast<std::uint16_t>(m_server.bind_to_any_port("127.0.0.1"));
    m_thread = std::thread([this] { m_server.listen_after_bind(); });
    for (int i = 0; i < 10000 && !m_server.is_running(); ++i) std::this_thread::sleep_for(1ms);
    if (!m_server.is_running()) throw hefl::io_error("scripted_proxy: the proxy did not start");
  }
  scripted_proxy(const scripted_proxy&) = delete;
  scripted_proxy& operator=(const scripted_proxy&) = delete;
  ~scripted_proxy() {
    m_server.stop();
    m_thread.join();
  }
  [[nodiscard]] std::uint16_t port() const noexcept { return m_port; }
  void set_rule(rule r) {
    std::lock_guard lock(m_mutex);
    m_rule = std::move(r);
  }
  [[nodiscard]] int calls(const std::string& method) const {
    std::lock_guard lock(m_mutex);
    const auto it = m_calls.find(method);
    return it == m_calls.end() ? 0 : it->second;
  }

private:
  std::uint16_t m_upstream;
  std::chrono::milliseconds m_hold;
  httplib::Server m_server;
  std::uint16_t m_port = 0;
  std::thread m_thread;
  mutable std::mutex m_mutex;
  rule m_rule;
  std::map<std::string, int> m_calls;
};

// The nonce the node recorded for a transaction it holds. The tests start past nonce 0: ganache 7
// takes a raw transaction whose nonce is 0 (RLP: empty) as one without a nonce and gives it the
// account's next free nonce itself, so a resend of such bytes becomes another transaction.
std::uint64_t nonce_of(const eth::json_rpc_client& rpc, const eth::hash32& tx) {
  const auto r = rpc.call("eth_getTransactionByHash", {eth::to_hex(tx)});
  REQUIRE(r.is_object());
  return eth::from_quantity(r["nonce"].get<std::string>());
}

eth::legacy_transaction transfer(const eth::json_rpc_client& rpc, std::uint8_t value) {
  eth::legacy_transaction tx;
  tx.gas_price = Botan::BigInt(rpc.gas_price());
  tx.gas_limit = 21000;
  tx.to = hefl::testing::account_key(hefl::testing::ganache_key1).account();
  tx.value = Botan::BigInt(value);
  return tx;
}

transaction check_of(std::size_t i) {
  const std::array<std::uint8_t, 32> payload_hash{static_cast<std::uint8_t>(i), 0x6e, 0x0c};
  return transaction::rule_check("3074257bf7194e4000001a85", "icu", "accepted", payload_hash,
                                 ledger_time(std::chrono::milliseconds(7000 + i)));
}
} // namespace

TEST_CASE("transaction_sender: a send whose reply is lost counts once the node holds it, the next "
          "submit takes the next nonce, and both are mined",
          "[eth][eth_nonce][ganache]") {
  HEFL_GANACHE_OR_SKIP(tools);
  hefl::testing::ganache_chain chain(tools);
  flaky_proxy proxy(chain.node.port(), flaky_proxy::mode::lose_reply, 5s);
  const eth::json_rpc_client via("127.0.0.1", proxy.port(), 2s);
  eth::transaction_sender sender(via, hefl::testing::account_key(hefl::testing::ganache_key0), chain.rpc.chain_id());
  const std::uint64_t n0 = chain.rpc.transaction_count(sender.account(), "latest");
  chain.rpc.call("miner_stop");  // both stay in the pool: ganache's "pending" count then still says n0

  const eth::signed_transaction first = sender.submit(transfer(via, 1));  // the reply is lost on the way
  CHECK(proxy.raw_sends() == 1);                                          // known by hash: not sent again
  const eth::signed_transaction second = sender.submit(transfer(via, 2));
  CHECK(first.hash != second.hash);

  chain.rpc.call("miner_start");
  chain.rpc.call("evm_mine");
  CHECK(chain.rpc.await_receipt(first.hash, 30s).success);
  CHECK(chain.rpc.await_receipt(second.hash, 30s).success);
  CHECK(chain.rpc.transaction_count(sender.account(), "latest") == n0 + 2);  // one nonce each, no gap
}

TEST_CASE("transaction_sender: a send the node never saw is sent again with the same bytes",
          "[eth][eth_nonce][ganache]") {
  HEFL_GANACHE_OR_SKIP(tools);
  hefl::testing::ganache_chain chain(tools);
  flaky_proxy proxy(chain.node.port(), flaky_proxy::mode::refuse, 0ms);
  const eth::json_rpc_client via("127.0.0.1", proxy.port(), 5s);
  eth::transaction_sender sender(via, hefl::testing::account_key(hefl::testing::ganache_key0), chain.rpc.chain_id());
  const std::uint64_t n0 = chain.rpc.transaction_count(sender.account(), "latest");

  const eth::signed_transaction st = sender.submit(transfer(via, 3));
  CHECK(proxy.raw_sends() == 2);  // refused once, then the same bytes again
  CHECK(chain.rpc.await_receipt(st.hash, 30s).success);
  CHECK(chain.rpc.transaction_count(sender.account(), "latest") == n0 + 1);
}

TEST_CASE("batched_audit_ledger: batches behind an unmined one time out within one receipt_timeout "
          "of their submission, and resubmit_pending lands them all",
          "[eth][eth_nonce][eth_batch][ganache]") {
  HEFL_GANACHE_OR_SKIP(tools);
  hefl::testing::ganache_chain chain(tools);
  batched_audit_config c;
  c.max_batch = 1;  // one batch, one transaction, one nonce per entry
  c.max_delay = 10ms;
  c.pipelined = true;
  c.receipt_timeout = 2s;
  constexpr std::size_t batches = 6;
  {
    batched_audit_ledger ledger(chain.rpc, chain.sender, chain.audit_log, c);
    chain.rpc.call("miner_stop");  // nothing is mined: every batch waits behind the first
    std::vector<sha256_digest> ids;
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < batches; ++i) ids.push_back(ledger.submit(check_of(i)));
    CHECK_THROWS_AS(ledger.wait(ids.back(), 60s), eth::receipt_timeout);
    const auto took = std::chrono::steady_clock::now() - start;
    INFO("the last batch failed after " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
    // one receipt_timeout apiece would be >= 12 s; from submission, about 2 s plus the submissions
    CHECK(took < 7s);
    CHECK(ledger.pending_count() == batches);

    chain.rpc.call("miner_start");
    chain.rpc.call("evm_mine");
    CHECK(ledger.resubmit_pending() == batches);
    CHECK(ledger.entries().size() == batches);
    CHECK_FALSE(ledger.verify_against_chain().has_value());
  }
}

TEST_CASE("transaction_sender: a transaction the node refuses leaves its nonce to the next one, even while "
          "earlier ones wait in the pool",
          "[eth][eth_nonce][ganache]") {
  HEFL_GANACHE_OR_SKIP(tools);
  hefl::testing::ganache_chain chain(tools);  // deploys AuditLog: nonce 0 is used (see nonce_of)
  eth::transaction_sender& sender = chain.sender;
  const std::uint64_t n0 = chain.rpc.transaction_count(sender.account(), "latest");
  chain.rpc.call("miner_stop");  // a stays in the pool: ganache 7's "pending" count then still says n0

  const eth::signed_transaction a = sender.submit(transfer(chain.rpc, 1));
  eth::legacy_transaction bad = transfer(chain.rpc, 2);
  bad.gas_limit = 1000;  // below the 21000 intrinsic gas: refused before the pool, the nonce stays free
  CHECK_THROWS_AS(sender.submit(bad), eth::json_rpc_error);
  // Before: the refusal made the sender re-read "pending" (n0, a left out) and c collided with a
  // ("transaction underpriced").
  const eth::signed_transaction c = sender.submit(transfer(chain.rpc, 3));
  CHECK(nonce_of(chain.rpc, a.hash) == n0);
  CHECK(nonce_of(chain.rpc, c.hash) == n0 + 1);

  chain.rpc.call("miner_start");
  chain.rpc.call("evm_mine");
  CHECK(chain.rpc.await_receipt(a.hash, 30s).success);
  CHECK(chain.rpc.await_receipt(c.hash, 30s).success);
  CHECK(chain.rpc.transaction_count(sender.account(), "latest") == n0 + 2);  // no gap, no nonce twice
}

TEST_CASE("transaction_sender: a nonce another sender of the account holds (pooled, then mined) is moved "
          "past, never back",
          "[eth][eth_nonce][ganache]") {
  HEFL_GANACHE_OR_SKIP(tools);
  hefl::testing::ganache_chain chain(tools);  // deploys AuditLog: nonce 0 is used (see nonce_of)
  eth::transaction_sender& s1 = chain.sender;
  eth::transaction_sender s2 = chain.sender_for(hefl::testing::ganache_key0);  // as another process of the account
  const std::uint64_t n0 = chain.rpc.transaction_count(s1.account(), "latest");
  chain.rpc.call("miner_stop");

  const eth::signed_transaction a = s1.submit(transfer(chain.rpc, 1));  // n0, pooled
  // s2 reads "pending" = n0 (ganache 7 leaves a out): refused "transaction underpriced", moves to n0 + 1.
  const eth::signed_transaction b = s2.submit(transfer(chain.rpc, 2));
  CHECK(nonce_of(chain.rpc, b.hash) == n0 + 1);
  const eth::signed_transaction c = s1.submit(transfer(chain.rpc, 3));  // s1's n0 + 1 is b's: moves to n0 + 2
  CHECK(nonce_of(chain.rpc, c.hash) == n0 + 2);

  chain.rpc.call("miner_start");
  chain.rpc.call("evm_mine");
  for (const auto* st : {&a, &b, &c}) CHECK(chain.rpc.await_receipt(st->hash, 30s).success);
  REQUIRE(chain.rpc.transaction_count(s1.account(), "latest") == n0 + 3);

  // s2's local n0 + 2 is now mined (c): "nonce too low" (ganache 7: "the tx doesn't have the correct
  // nonce"), and the node's count n0 + 3 is above it.
  const eth::signed_transaction d = s2.submit(transfer(chain.rpc, 4));
  CHECK(chain.rpc.await_receipt(d.hash, 30s).success);
  CHECK(nonce_of(chain.rpc, d.hash) == n0 + 3);
  CHECK(chain.rpc.transaction_count(s1.account(), "latest") == n0 + 4);
}

TEST_CASE("transaction_sender: an uncertain send is settled by the next submit from the node's view of its "
          "hash, and a submit holds the lock for a bounded number of round trips",
          "[eth][eth_nonce][ganache]") {
  HEFL_GANACHE_OR_SKIP(tools);
  hefl::testing::ganache_chain chain(tools);  // deploys AuditLog: nonce 0 is used (see nonce_of)
  scripted_proxy proxy(chain.node.port(), 2500ms);
  const eth::json_rpc_client via("127.0.0.1", proxy.port(), 1s);
  eth::transaction_sender sender(via, hefl::testing::account_key(hefl::testing::ganache_key0), chain.rpc.chain_id());
  const std::uint64_t n0 = chain.rpc.transaction_count(sender.account(), "latest");
  chain.rpc.call("miner_stop");
  using action = scripted_proxy::action;

  // Every reply to a send is lost and the node cannot be asked for the hash: ganache holds the first
  // send, the sender cannot know it.
  proxy.set_rule([](const std::string& m) {
    return m == "eth_sendRawTransaction" ? action::lose_reply
           : m == "eth_getTransactionByHash" ? action::refuse
                                             : action::forward;
  });
  const auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(sender.submit(transfer(chain.rpc, 1)), eth::node_unreachable);
  const auto took = std::chrono::steady_clock::now() - start;
  INFO("the uncertain submit took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  CHECK(took < 14s);  // at most max_round_trips (12) calls, each bounded by the client's 1 s
  CHECK(proxy.calls("eth_sendRawTransaction") == 1 + eth::transaction_sender::uncertain_resends);

  // The node answers again: it holds the first transaction, so the next takes the nonce after it.
  // Before: the sender re-read "pending" (n0: ganache leaves pooled transactions out) and the second
  // transaction collided with the first ("transaction underpriced").
  proxy.set_rule([](const std::string&) { return action::forward; });
  const eth::signed_transaction b = sender.submit(transfer(chain.rpc, 2));
  CHECK(nonce_of(chain.rpc, b.hash) == n0 + 1);

  // A send the node never saw: every send refused, the hash cannot be asked for. The next submit
  // finds the node does not hold it and gives its nonce to the next transaction: no gap.
  proxy.set_rule([](const std::string& m) {
    return m == "eth_sendRawTransaction" || m == "eth_getTransactionByHash" ? action::refuse : action::forward;
  });
  CHECK_THROWS_AS(sender.submit(transfer(chain.rpc, 3)), eth::node_unreachable);
  proxy.set_rule([](const std::string&) { return action::forward; });
  const eth::signed_transaction d = sender.submit(transfer(chain.rpc, 4));
  CHECK(nonce_of(chain.rpc, d.hash) == n0 + 2);

  chain.rpc.call("miner_start");
  chain.rpc.call("evm_mine");
  CHECK(chain.rpc.await_receipt(b.hash, 30s).success);
  CHECK(chain.rpc.await_receipt(d.hash, 30s).success);
  CHECK(chain.rpc.transaction_count(sender.account(), "latest") == n0 + 3);  // the first, b and d
}

TEST_CASE("batched_audit_ledger: resubmit_pending sends every stalled batch and waits for their receipts "
          "together, not one after another",
          "[eth][eth_nonce][eth_batch][ganache]") {
  HEFL_GANACHE_OR_SKIP(tools);
  hefl::testing::ganache_process::options o;
  o.block_time_s = 2;  // one block every 2 s: receipts awaited one after another cost a block each
  hefl::testing::ganache_chain chain(tools, o);
  scripted_proxy proxy(chain.node.port(), 0ms);
  const eth::json_rpc_client via("127.0.0.1", proxy.port(), 5s);
  eth::transaction_sender sender(via, hefl::testing::account_key(hefl::testing::ganache_key0), chain.rpc.chain_id());
  using action = scripted_proxy::action;
  batched_audit_config c;
  c.max_batch = 1;
  c.max_delay = 10ms;
  c.pipelined = true;
  c.receipt_timeout = 3s;
  constexpr std::size_t batches = 5;
  batched_audit_ledger ledger(via, sender, chain.audit_log, c);
  // The node answers each batch's send with its hash and drops it: no receipt comes.
  proxy.set_rule([](const std::string& m) { return m == "eth_sendRawTransaction" ? action::swallow : action::forward; });
  std::vector<sha256_digest> ids;
  for (std::size_t i = 0; i < batches; ++i) ids.push_back(ledger.submit(check_of(100 + i)));
  CHECK_THROWS_AS(ledger.wait(ids.back(), 60s), eth::receipt_timeout);
  REQUIRE(ledger.pending_count() == batches);

  proxy.set_rule([](const std::string&) { return action::forward; });
  const auto start = std::chrono::steady_clock::now();
  CHECK(ledger.resubmit_pending() == batches);
  const auto took = std::chrono::steady_clock::now() - start;
  INFO("resubmit_pending took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  // All sent, then all awaited: one block (2 s) and polling; one after another would be about a block per batch.
  CHECK(took < 6s);
  CHECK(ledger.pending_count() == 0);
  CHECK(ledger.entries().size() == batches);
  CHECK_FALSE(ledger.verify_against_chain().has_value());
}

TEST_CASE("batched_audit_ledger: resubmit_pending bounds each wait from its batch's resubmission and "
          "keeps the batches that time out again",
          "[eth][eth_nonce][eth_batch][ganache]") {
  HEFL_GANACHE_OR_SKIP(tools);
  hefl::testing::ganache_chain chain(tools);
  batched_audit_config c;
  c.max_batch = 1;
  c.max_delay = 10ms;
  c.pipelined = true;
  c.receipt_timeout = 2s;
  constexpr std::size_t batches = 4;
  batched_audit_ledger ledger(chain.rpc, chain.sender, chain.audit_log, c);
  chain.rpc.call("miner_stop");
  std::vector<sha256_digest> ids;
  for (std::size_t i = 0; i < batches; ++i) ids.push_back(ledger.submit(check_of(200 + i)));
  CHECK_THROWS_AS(ledger.wait(ids.back(), 60s), eth::receipt_timeout);
  REQUIRE(ledger.pending_count() == batches);

  const auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(ledger.resubmit_pending(), eth::receipt_timeout);  // still nothing mined
  const auto took = std::chrono::steady_clock::now() - start;
  INFO("resubmit_pending failed after " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  CHECK(took < 5s);  // one receipt_timeout (2 s) for all, not 2 s apiece
  CHECK(ledger.pending_count() == batches);

  chain.rpc.call("miner_start");
  chain.rpc.call("evm_mine");
  CHECK(ledger.resubmit_pending() == batches);
  CHECK(ledger.entries().size() == batches);
  CHECK_FALSE(ledger.verify_against_chain().has_value());
}

TEST_CASE("ethereum_ledger: resubmit_pending sends every timed-out entry and waits for their receipts "
          "together, not one after another",
          "[eth][eth_nonce][ganache]") {
  HEFL_GANACHE_OR_SKIP(tools);
  hefl::testing::ganache_process::options o;
  o.block_time_s = 2;  // one block every 2 s: receipts awaited one after another cost a block each
  hefl::testing::ganache_chain chain(tools, o);
  scripted_proxy proxy(chain.node.port(), 0ms);
  const eth::json_rpc_client via("127.0.0.1", proxy.port(), 5s);
  eth::transaction_sender sender(via, hefl::testing::account_key(hefl::testing::ganache_key0), chain.rpc.chain_id());
  using action = scripted_proxy::action;
  ethereum_ledger_config c;
  c.receipt_timeout = 3s;
  constexpr std::size_t entries = 5;
  ethereum_ledger ledger(via, sender, chain.audit_log, c);
  // The node answers each send with its hash and drops it: every submit ends in receipt_timeout.
  proxy.set_rule([](const std::string& m) { return m == "eth_sendRawTransaction" ? action::swallow : action::forward; });
  {
    std::vector<std::thread> submitters;
    std::atomic<int> timed_out{0};
    for (std::size_t i = 0; i < entries; ++i)
      submitters.emplace_back([&, i] {
        try {
          (void)ledger.submit(check_of(300 + i));
        } catch (const eth::receipt_timeout&) {
          ++timed_out;
        } catch (...) {  // any other failure leaves timed_out short, which the REQUIRE reports
        }
      });
    for (auto& t : submitters) t.join();
    REQUIRE(timed_out == static_cast<int>(entries));
  }
  REQUIRE(ledger.pending_count() == entries);

  proxy.set_rule([](const std::string&) { return action::forward; });
  const auto start = std::chrono::steady_clock::now();
  CHECK(ledger.resubmit_pending() == entries);
  const auto took = std::chrono::steady_clock::now() - start;
  INFO("resubmit_pending took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  // All sent, then all awaited: about one block (2 s); one after another would be about a block per entry.
  CHECK(took < 6s);
  CHECK(ledger.pending_count() == 0);
  CHECK(ledger.entries().size() == entries);
  CHECK_FALSE(ledger.verify_against_chain().has_value());
}

TEST_CASE("ethereum_ledger: resubmit_pending bounds each wait from its entry's resend and keeps the "
          "entries that time out again",
          "[eth][eth_nonce][ganache]") {
  HEFL_GANACHE_OR_SKIP(tools);
  hefl::testing::ganache_chain chain(tools);
  ethereum_ledger_config c;
  c.receipt_timeout = 2s;
  constexpr std::size_t entries = 4;
  ethereum_ledger ledger(chain.rpc, chain.sender, chain.audit_log, c);
  chain.rpc.call("miner_stop");
  {
    std::vector<std::thread> submitters;
    std::atomic<int> timed_out{0};  // counted here: Catch's assertions are not thread-safe
    for (std::size_t i = 0; i < entries; ++i)
      submitters.emplace_back([&, i] {
        try {
          (void)ledger.submit(check_of(400 + i));
        } catch (const eth::receipt_timeout&) {
          ++timed_out;
        } catch (...) {  // any other failure leaves timed_out short, which the REQUIRE reports
        }
      });
    for (auto& t : submitters) t.join();
    REQUIRE(timed_out == static_cast<int>(entries));
  }
  REQUIRE(ledger.pending_count() == entries);

  const auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(ledger.resubmit_pending(), eth::receipt_timeout);  // still nothing mined
  const auto took = std::chrono::steady_clock::now() - start;
  INFO("resubmit_pending failed after " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  CHECK(took < 5s);  // one receipt_timeout (2 s) for all, not 2 s apiece
  CHECK(ledger.pending_count() == entries);

  chain.rpc.call("miner_start");
  chain.rpc.call("evm_mine");
  CHECK(ledger.resubmit_pending() == entries);
  CHECK(ledger.entries().size() == entries);
  CHECK_FALSE(ledger.verify_against_chain().has_value());
}
