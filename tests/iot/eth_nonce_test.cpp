// Nonces and bounded waits under a node that answers late (issue 14, the hang of collector_load
// --ledger ethereum-batched under load), on a ganache this test starts. A proxy in front of ganache
// loses the reply to one eth_sendRawTransaction (ganache took the transaction, the client timed out)
// or refuses one before ganache sees it: transaction_sender must count the first as sent and resend
// the second with the same bytes, never a second transaction for one nonce. batched_audit_ledger must
// end every batch behind an unmined one within one receipt_timeout of its submission, not one
// receipt_timeout apiece.
#include <hefl/iot/ledger/ethereum/batched_audit_ledger.hpp>

#include "eth_support.hpp"

#include <httplib.h>

#include <array>
#include <atomic>
#include <chrono>
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
