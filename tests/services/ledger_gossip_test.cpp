// Ledger replicas gossiping over real mutual TLS on 127.0.0.1 (issue 11, "ledger replicas gossiping
// blocks over mTLS"): three sealers converge on one chain; a forged block, malformed data, a peer
// that is not a member of the chain and an entry signed in another node's name are refused.
#include <hefl/iot/ledger/block_wire.hpp>
#include <hefl/iot/pki/pki.hpp>
#include <hefl/services/ledger_replica_service.hpp>

#include <botan/auto_rng.h>
#include <botan/ecdsa.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace hefl;
using namespace hefl::services;
using namespace std::chrono_literals;

namespace {

iot::ledger_time at(std::int64_t ms) { return iot::ledger_time(std::chrono::milliseconds(ms)); }

struct manual_clock {
  std::shared_ptr<std::atomic<std::int64_t>> now = std::make_shared<std::atomic<std::int64_t>>(
      std::chrono::duration_cast<std::chrono::milliseconds>(iot::ledger_now().time_since_epoch()).count());
  [[nodiscard]] std::function<iot::ledger_time()> fn() const {
    return [n = now] { return at(n->load()); };
  }
  [[nodiscard]] iot::ledger_time get() const { return at(now->load()); }
};

iot::transaction entry(int i, iot::ledger_time t) {
  const std::string p = "reading-" + std::to_string(i);
  return iot::transaction::rule_check("dev-" + std::to_string(i), "group-1", "accepted",
                                      std::vector<std::uint8_t>(p.begin(), p.end()), t);
}

/// A CA, a trust store, and three sealers "replica-a/b/c" (storage certificates with the same subject
/// ids), each with a ledger and a replica service peering with the other two.
struct chain_of_three {
  Botan::AutoSeeded_RNG rng;
  iot::clock_time t0 = std::chrono::system_clock::now() - 1min;
  iot::certificate_authority ca{"St Mary Hospital", t0 - 1h};
  std::shared_ptr<iot::trust_store> trust = [&] {
    auto s = std::make_shared<iot::trust_store>(iot::trust_store::in_memory());
    s->add_root(ca.root());
    s->add_crl(ca.crl());
    return s;
  }();
  manual_clock clock;
  std::vector<std::string> ids{"replica-a", "replica-b", "replica-c"};
  std::vector<iot::sealer_key> keys;
  iot::block genesis;
  std::vector<std::unique_ptr<iot::ledger>> ledgers;
  std::vector<std::unique_ptr<ledger_replica_service>> services;

  explicit chain_of_three(bool start_services = true) {
    std::vector<iot::sealer_identity> sealers;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      keys.push_back(iot::sealer_key::from_seed(ids[i], std::vector<std::uint8_t>(32, static_cast<std::uint8_t>(i + 1))));
      sealers.push_back(keys.back().identity());
    }
    genesis = iot::make_genesis(sealers, "gossip-test", clock.get());
    for (std::size_t i = 0; i < ids.size(); ++i) ledgers.push_back(std::make_unique<iot::ledger>(genesis, config(), keys[i]));
    if (!start_services) return;
    for (std::size_t i = 0; i < ids.size(); ++i)
      services.push_back(std::make_unique<ledger_replica_service>(creds(iot::role::storage, ids[i]), *ledgers[i],
                                                                 std::vector<ledger_peer>{}, options()));
    // Peers are known once every port is bound.
    for (std::size_t i = 0; i < ids.size(); ++i) {
      std::vector<ledger_peer> peers;
      for (std::size_t j = 0; j < ids.size(); ++j)
        if (j != i) peers.push_back({"127.0.0.1", services[j]->port()});
      services[i]->set_peers(std::move(peers));
    }
  }

  iot::ledger_config config() const {
    iot::ledger_config c;
    c.max_block_transactions = 3;
    c.max_block_delay = 1h;  // blocks are cut by count in these tests
    c.clock = clock.fn();
    return c;
  }
  ledger_replica_options options() const {
    ledger_replica_options o;
    o.clock = clock.fn();
    o.interval = 20ms;
    return o;
  }
  static std::shared_ptr<Botan::ECDSA_PrivateKey> new_key() {
    Botan::AutoSeeded_RNG r;
    return std::make_shared<Botan::ECDSA_PrivateKey>(r, Botan::EC_Group("secp256r1"));
  }
  net::tls_credentials creds(iot::role r, const std::string& subject) {
    auto key = new_key();
    iot::identity id;
    id.role = r;
    id.subject_id = subject;
    return net::tls_credentials({ca.issue(*key, id, t0 - 1h, 24h)}, key, trust);
  }
  void sync_all(int rounds = 2) {
    for (int r = 0; r < rounds; ++r)
      for (auto& s : services) {
        const auto report = s->sync_once();
        for (const auto& x : report.refusals) INFO(x.peer + " " + x.reason + ": " + x.message);
        CHECK(report.ok());
      }
  }
};

std::string reasons(const sync_report& r) {
  std::string out;
  for (const auto& x : r.refusals) out += x.reason + " (" + x.message + "); ";
  return out;
}

} // namespace

TEST_CASE("ledger gossip: three sealers converge on one chain over mutual TLS", "[services][ledger][gossip]") {
  chain_of_three net;
  auto& a = *net.ledgers[0];
  auto& b = *net.ledgers[1];
  auto& c = *net.ledgers[2];

  // Entries logged at B; block 1 is A's turn, so only gossip gets them sealed.
  for (int i = 0; i < 3; ++i) b.submit(entry(i, net.clock.get()));
  CHECK(b.height() == 0);
  const auto pushed = net.services[1]->sync_once();
  INFO(reasons(pushed));
  CHECK(pushed.entries_pushed == 3);  // to A, which sealed them on receipt (3 pending = a full block);
  CHECK(pushed.blocks_accepted == 1);  // B pulled that block before it turned to C, so nothing was left for C
  CHECK(a.height() == 1);
  net.sync_all();
  for (auto* l : {&a, &b, &c}) {
    CHECK(l->height() == 1);
    CHECK(l->head_hash() == a.head_hash());
    CHECK(l->pending_count() == 0);
  }

  // Entries logged at C; block 2 is B's turn.
  for (int i = 3; i < 6; ++i) c.submit(entry(i, net.clock.get()));
  net.sync_all();
  for (auto* l : {&a, &b, &c}) {
    CHECK(l->height() == 2);
    CHECK(l->head_hash() == b.head_hash());
    CHECK(l->verify().ok());
    CHECK(l->transaction_count() == 6 + 1);  // six entries and genesis
  }
  CHECK(c.block_at(2).header.sealer == "replica-b");
  CHECK(net.services[0]->refusal_counts().empty());
}

TEST_CASE("ledger gossip: the background rounds seal and spread entries without manual calls",
          "[services][ledger][gossip]") {
  chain_of_three net;
  for (auto& s : net.services) s->start();
  for (int i = 0; i < 3; ++i) net.ledgers[2]->submit(entry(i, net.clock.get()));
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  auto converged = [&] {
    return net.ledgers[0]->height() == 1 && net.ledgers[1]->height() == 1 && net.ledgers[2]->height() == 1;
  };
  while (!converged() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  for (auto& s : net.services) s->stop();
  REQUIRE(converged());
  CHECK(net.ledgers[2]->head_hash() == net.ledgers[0]->head_hash());
  CHECK(net.services[0]->rounds() > 0);
}

TEST_CASE("ledger gossip: a forged or malformed block from a peer is refused and nothing after it is used",
          "[services][ledger][gossip][attack]") {
  chain_of_three net(false);
  auto& a = *net.ledgers[0];
  for (int i = 0; i < 3; ++i) a.submit(entry(i, net.clock.get()));
  REQUIRE(a.height() == 1);
  const auto honest = a.block_at(1);

  // A peer holding replica-a's certificate (a member) that serves a doctored block 1: one entry
  // replaced by another that replica-a also signed, so only the Merkle root and sealer signature catch it.
  auto doctored = honest;
  doctored.transactions[0] = a.sign_entry(entry(99, net.clock.get()));
  nlohmann::json served = nlohmann::json::array({iot::block_to_json(doctored), iot::block_to_json(honest)});
  std::atomic<bool> malformed_mode{false};
  net::tls_server fake(net.creds(iot::role::storage, "replica-a"),
                       [&](const net::peer_identity&, net::frame) -> net::frame {
                         if (malformed_mode) {
                           auto bad = iot::block_to_json(honest);
                           bad["previous"] = "ZZ";
                           return json_frame(msg::ledger_blocks_reply, {{"height", 1}, {"blocks", {bad}}});
                         }
                         return json_frame(msg::ledger_blocks_reply, {{"height", 1}, {"blocks", served}});
                       });
  auto& b = *net.ledgers[1];
  ledger_replica_service svc(net.creds(iot::role::storage, "replica-b"), b, {{"127.0.0.1", fake.port()}},
                             net.options());
  auto report = svc.sync_once();
  REQUIRE(report.refusals.size() == 1);
  CHECK(report.refusals[0].reason == "tampered_transaction");
  CHECK(report.blocks_accepted == 0);
  CHECK(b.height() == 0);  // the honest block after the forged one was not used either

  malformed_mode = true;
  report = svc.sync_once();
  REQUIRE(report.refusals.size() == 1);
  CHECK(report.refusals[0].reason == "malformed");
  CHECK_THAT(report.refusals[0].message, Catch::Contains("previous"));
  CHECK(b.height() == 0);
  CHECK(svc.refusal_counts().at("tampered_transaction") == 1);
  CHECK(svc.refusal_counts().at("malformed") == 1);
  CHECK(svc.recent_refusals().size() == 2);
}

TEST_CASE("ledger gossip: peers that are not members of the chain, and entries in another node's name, are refused",
          "[services][ledger][gossip][attack]") {
  chain_of_three net;
  auto& a = *net.ledgers[0];

  SECTION("a storage certificate whose subject is not a sealer or author gets not_a_member") {
    iot::ledger outsider_ledger(net.genesis, net.config());
    ledger_replica_service outsider(net.creds(iot::role::storage, "replica-x"), outsider_ledger,
                                    {{"127.0.0.1", net.services[0]->port()}}, net.options());
    const auto report = outsider.sync_once();
    REQUIRE(report.refusals.size() == 1);
    CHECK(report.refusals[0].reason == "refused");
    CHECK_THAT(report.refusals[0].message, Catch::Contains("not_a_member"));
    CHECK(net.services[0]->requests_refused() >= 1);
  }

  SECTION("a collector certificate (another role) cannot even connect") {
    iot::ledger other(net.genesis, net.config());
    ledger_replica_service collector(net.creds(iot::role::collector, "replica-b"), other,
                                  {{"127.0.0.1", net.services[0]->port()}}, net.options());
    const auto report = collector.sync_once();
    REQUIRE(report.refusals.size() == 1);
    INFO(report.refusals[0].message);
    CHECK(report.refusals[0].reason == "refused");  // the handshake fails: the server refuses the role
    CHECK(other.height() == 0);
    CHECK(net.services[0]->requests_refused() == 0);  // it never got as far as a request
  }

  SECTION("an entry whose author signature does not verify is refused, the others are taken") {
    net::tls_client client(net.creds(iot::role::storage, "replica-b"), [] {
      net::client_options o;
      o.accepted_server_roles = iot::role_set{iot::role::storage};
      return o;
    }());
    client.connect("127.0.0.1", net.services[0]->port());
    auto honest = net.ledgers[1]->sign_entry(entry(1, net.clock.get()));
    auto forged = honest.with_author("replica-c", honest.author_signature());  // B's signature in C's name
    auto unsigned_entry = entry(2, net.clock.get());
    nlohmann::json list = nlohmann::json::array(
        {iot::entry_to_json(forged), iot::entry_to_json(unsigned_entry), iot::entry_to_json(honest)});
    const auto reply = client.request(json_frame(msg::ledger_entries, {{"entries", list}}));
    REQUIRE(reply.type == msg::ledger_entries_reply);
    const auto j = read_json(reply);
    CHECK(j.at("accepted") == 1);
    CHECK(j.at("refused") == 2);
    CHECK(a.pending_count() == 1);
    CHECK(a.pending()[0].author() == "replica-b");

    // A request beyond the per-request limit is refused whole.
    nlohmann::json many = nlohmann::json::array();
    for (int i = 0; i < 257; ++i) many.push_back(iot::entry_to_json(honest));
    const auto big = client.request(json_frame(msg::ledger_entries, {{"entries", many}}));
    REQUIRE(big.type == msg::refused);
    CHECK(read_refusal(big).reason == "malformed");
    const auto unknown = client.request(json_frame(0x42, {{"x", 1}}));
    REQUIRE(unknown.type == msg::refused);
    CHECK(read_refusal(unknown).reason == "unknown_request");
  }
}

TEST_CASE("block_wire: blocks round-trip, and malformed JSON is refused by name", "[services][ledger][wire]") {
  chain_of_three net(false);
  auto& a = *net.ledgers[0];
  for (int i = 0; i < 3; ++i) a.submit(entry(i, net.clock.get()));
  const auto b = a.block_at(1);
  const auto j = iot::block_to_json(b);
  const auto back = iot::block_from_json(nlohmann::json::parse(j.dump()));
  CHECK(back.hash() == b.hash());
  CHECK(back.signature == b.signature);
  REQUIRE(back.transactions.size() == 3);
  CHECK(back.transactions[1] == b.transactions[1]);
  CHECK(back.transactions[1].author_signature() == b.transactions[1].author_signature());
  CHECK(a.verify_chain(std::vector<iot::block>{a.block_at(0), back}).ok());

  auto refused = [&](auto edit, const std::string& needle) {
    auto bad = j;
    edit(bad);
    try {
      (void)iot::block_from_json(bad);
      FAIL("accepted: " + needle);
    } catch (const parse_error& e) {
      CHECK_THAT(std::string(e.what()), Catch::Contains(needle));
    }
  };
  refused([](auto& x) { x["previous"] = std::string(64, 'A'); }, "lower-case");
  refused([](auto& x) { x["merkle_root"] = std::string(66, '0'); }, "merkle_root");
  refused([](auto& x) { x["height"] = -1; }, "negative");
  refused([](auto& x) { x["height"] = "1"; }, "integer");
  refused([](auto& x) { x["extra"] = 1; }, "exactly 7 fields");
  refused([](auto& x) { x.erase("sealer"); x["sealer2"] = ""; }, "missing field 'sealer'");
  refused([](auto& x) { x["signature"] = std::string(130, '0'); }, "longer than 64");
  refused([](auto& x) { x["entries"][0]["body"] = "{}"; }, "transaction");
  refused([](auto& x) { x["entries"][0]["signature"] = ""; }, "author needs a signature");
  refused(
      [](nlohmann::json& x) {
        nlohmann::json::array_t many(iot::max_block_entries + 1);
        x["entries"] = std::move(many);
      },
      "at most");
  refused([](auto& x) { x = nlohmann::json::array(); }, "object");
}
