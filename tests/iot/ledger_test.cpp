#include <hefl/iot/ledger/ledger.hpp>

#include <catch2/catch.hpp>

#include <botan/hash.h>
#include <botan/system_rng.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace hefl::iot;
using namespace std::chrono_literals;

namespace {

ledger_time at_ms(std::int64_t ms) { return ledger_time(std::chrono::milliseconds(ms)); }

std::vector<std::uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }

sealer_key seeded_key(const std::string& id, std::uint8_t seed) {
  std::vector<std::uint8_t> s(32, seed);
  return sealer_key::from_seed(id, s);
}

// A settable clock shared by the ledgers of one test, so that time-based cutting is deterministic.
struct fake_clock {
  std::shared_ptr<std::atomic<std::int64_t>> now = std::make_shared<std::atomic<std::int64_t>>(1'000'000);
  [[nodiscard]] std::function<ledger_time()> fn() const {
    return [n = now] { return at_ms(n->load()); };
  }
  void set(std::int64_t ms) const { now->store(ms); }
};

ledger_config config_with(const fake_clock& c, std::size_t per_block = 100, std::chrono::milliseconds delay = 60s) {
  ledger_config cfg;
  cfg.max_block_transactions = per_block;
  cfg.max_block_delay = delay;
  cfg.clock = c.fn();
  return cfg;
}

transaction check_tx(int i, std::string_view device = "dev-1") {
  const auto h = bytes("payload-" + std::to_string(i));
  return transaction::rule_check(device, "group-7", "accepted", h, at_ms(1'000'000 + i));
}

// Two sealers (collector "a", storage "b") and a genesis listing them in that turn order.
struct two_sealers {
  sealer_key a = seeded_key("a", 1), b = seeded_key("b", 2);
  block genesis = make_genesis({a.identity(), b.identity()}, "test-chain", at_ms(1'000'000));
};

// A block sealed by hand, to play a misbehaving or foreign peer.
block forge(std::uint64_t height, const sha256_digest& previous, std::vector<transaction> txs, const sealer_key& key,
            ledger_time time) {
  block b;
  b.transactions = std::move(txs);
  b.header.height = height;
  b.header.previous = previous;
  b.header.merkle_root = b.tree().root();
  b.header.time = time;
  b.header.sealer = key.id();
  b.signature = key.sign(b.hash());
  return b;
}

} // namespace

TEST_CASE("transactions have a canonical JSON form and a SHA-256 id", "[iot][ledger]") {
  const std::vector<std::uint8_t> h{0x01, 0x02, 0xab};
  const auto tx = transaction::rule_check("dev-1", "group-7", "accepted", h, at_ms(1000));
  CHECK(tx.canonical() ==
        R"({"fields":{"device":"dev-1","group":"group-7","payload_hash":"0102ab","verdict":"accepted"},)"
        R"("kind":"rule_check","time":1000})");
  const auto sha = Botan::HashFunction::create_or_throw("SHA-256");
  sha->update(tx.canonical());
  const auto expected = sha->final_stdvec();
  CHECK(std::equal(expected.begin(), expected.end(), tx.id().begin(), tx.id().end()));

  const auto back = transaction::parse(tx.canonical());
  CHECK(back == tx);
  CHECK(back.id() == tx.id());
  CHECK(back.kind() == tx_kind::rule_check);
  CHECK(back.time() == at_ms(1000));
  CHECK(back.field_string("device") == "dev-1");
  CHECK(back.field_string("missing").empty());

  // Key order of the input does not matter: the canonical form sorts them.
  const transaction a(tx_kind::custom, {{"z", 1}, {"a", "x"}}, at_ms(5));
  const transaction b(tx_kind::custom, {{"a", "x"}, {"z", 1}}, at_ms(5));
  CHECK(a.id() == b.id());
  CHECK(a.canonical() == R"({"fields":{"a":"x","z":1},"kind":"custom","time":5})");
  const transaction later(tx_kind::custom, {{"a", "x"}, {"z", 1}}, at_ms(6));
  CHECK(later.id() != a.id());
}

TEST_CASE("convenience constructors fill the documented fields", "[iot][ledger]") {
  const std::vector<std::uint8_t> h(32, 0xee);
  const auto rec = transaction::record_stored("rec-9", "patient-3", h, at_ms(7));
  CHECK(rec.kind() == tx_kind::record_stored);
  CHECK(rec.fields()["record"] == "rec-9");
  CHECK(rec.fields()["patient"] == "patient-3");
  CHECK(rec.fields()["hash"] == std::string(64, 'e'));
  const auto dep = transaction::rule_deployment("group-7", 3, h, "admin-1", at_ms(8));
  CHECK(dep.kind() == tx_kind::rule_deployment);
  CHECK(dep.fields()["version"] == 3);
  CHECK(dep.fields()["signer"] == "admin-1");
  CHECK(dep.fields()["contract_hash"].get<std::string>().size() == 64);
  const auto acc = transaction::access("nurse-2", "patient-3", false, at_ms(9));
  CHECK(acc.kind() == tx_kind::access);
  CHECK(acc.fields()["allowed"] == false);
  CHECK(acc.fields()["reader"] == "nurse-2");
  CHECK(to_string(tx_kind::record_stored) == "record_stored");
  CHECK(tx_kind_from_string("access") == tx_kind::access);
  CHECK_FALSE(tx_kind_from_string("transfer").has_value());
}

TEST_CASE("transaction construction refuses fields without a canonical form", "[iot][ledger]") {
  CHECK_THROWS_AS(transaction(tx_kind::custom, {{"x", 1.5}}, at_ms(1)), hefl::invalid_argument);
  CHECK_THROWS_WITH(transaction(tx_kind::custom, {{"x", {{"y", 0.5}}}}, at_ms(1)), Catch::Contains("floating-point"));
  CHECK_THROWS_AS(transaction(tx_kind::custom, nlohmann::json::array({1, 2}), at_ms(1)), hefl::invalid_argument);
  CHECK_THROWS_WITH(transaction(tx_kind::custom, nlohmann::json::array({1, 2}), at_ms(1)), Catch::Contains("got array"));
  CHECK_THROWS_AS(transaction(tx_kind::custom, {{"x", "\xff\xfe"}}, at_ms(1)), hefl::invalid_argument);
  CHECK_THROWS_AS(transaction(tx_kind::custom, {{"x", 1}}, at_ms(-1)), hefl::invalid_argument);
  nlohmann::json deep = 1;
  for (int i = 0; i < transaction::max_depth + 2; ++i) deep = nlohmann::json::array({deep});
  CHECK_THROWS_WITH(transaction(tx_kind::custom, {{"x", deep}}, at_ms(1)), Catch::Contains("deeper than"));
  CHECK_THROWS_WITH(transaction(tx_kind::custom, {{"x", std::string(transaction::max_bytes, 'a')}}, at_ms(1)),
                    Catch::Contains("bytes, at most"));
  const std::vector<std::uint8_t> none, huge(65, 1);
  CHECK_THROWS_WITH(transaction::rule_check("d", "g", "ok", none, at_ms(1)), Catch::Contains("got 0"));
  CHECK_THROWS_AS(transaction::record_stored("r", "p", huge, at_ms(1)), hefl::invalid_argument);
  CHECK_THROWS_AS(transaction(static_cast<tx_kind>(42), {{"x", 1}}, at_ms(1)), hefl::invalid_argument);
}

TEST_CASE("transaction parsing refuses malformed and non-canonical text", "[iot][ledger]") {
  const std::string good = R"({"fields":{"a":"x"},"kind":"custom","time":5})";
  REQUIRE_NOTHROW(transaction::parse(good));
  const std::vector<std::string> bad{
      "",
      "not json",
      R"({"fields":{"a":"x"},"kind":"custom","time":5)",
      R"({"fields": {"a":"x"},"kind":"custom","time":5})",           // a space
      R"({"kind":"custom","fields":{"a":"x"},"time":5})",            // keys out of order
      R"({"fields":{"a":"x"},"kind":"custom","time":5,"extra":1})",  // extra key
      R"({"fields":{"a":"x"},"kind":"custom"})",                     // missing time
      R"({"fields":{"a":"x"},"kind":"transfer","time":5})",          // unknown kind
      R"({"fields":{"a":"x"},"kind":7,"time":5})",
      R"({"fields":{"a":1.5},"kind":"custom","time":5})",            // float
      R"({"fields":{"a":"x"},"kind":"custom","time":5.0})",
      R"({"fields":{"a":"x"},"kind":"custom","time":-5})",
      R"({"fields":[1],"kind":"custom","time":5})",
      R"({"fields":{"a":"x","a":"y"},"kind":"custom","time":5})",    // duplicate key
      R"({"fields":{"a":"x"},"kind":"custom","time":18446744073709551615})",
      "[" + good + "]",
      std::string(2000, '[') + std::string(2000, ']'),
      std::string(transaction::max_bytes + 1, ' '),
  };
  for (const auto& text : bad) {
    INFO(text.substr(0, 80));
    CHECK_THROWS_AS(transaction::parse(text), hefl::parse_error);
  }
  CHECK_THROWS_WITH(transaction::parse(bad[4]), Catch::Contains("canonical"));
  CHECK_THROWS_WITH(transaction::parse(bad[16]), Catch::Contains("deeper than"));
}

TEST_CASE("genesis blocks and ledger construction are validated", "[iot][ledger]") {
  const two_sealers s;
  CHECK_THROWS_AS(make_genesis({}, "c", at_ms(1)), hefl::invalid_argument);
  CHECK_THROWS_WITH(make_genesis({s.a.identity(), s.a.identity()}, "c", at_ms(1)), Catch::Contains("listed twice"));
  auto short_key = s.b.identity();
  short_key.public_key.resize(31);
  CHECK_THROWS_WITH(make_genesis({s.a.identity(), short_key}, "c", at_ms(1)), Catch::Contains("31-byte key"));
  auto same_key = s.a.identity();
  same_key.id = "a2";
  CHECK_THROWS_WITH(make_genesis({s.a.identity(), same_key}, "c", at_ms(1)), Catch::Contains("reuses"));
  CHECK_THROWS_AS(make_genesis({{"", s.a.identity().public_key}}, "c", at_ms(1)), hefl::invalid_argument);
  CHECK_THROWS_AS(seeded_key(std::string(129, 'x'), 1), hefl::invalid_argument);
  CHECK_THROWS_AS(sealer_key::from_seed("x", std::vector<std::uint8_t>(16)), hefl::invalid_argument);

  const ledger l(s.genesis, {}, s.a);
  CHECK(l.height() == 0);
  CHECK(l.head_hash() == s.genesis.hash());
  CHECK(l.genesis_hash() == s.genesis.hash());
  REQUIRE(l.sealers().size() == 2);
  CHECK(l.sealers()[0] == s.a.identity());
  CHECK(l.expected_sealer(1) == "a");
  CHECK(l.expected_sealer(2) == "b");
  CHECK(l.expected_sealer(3) == "a");
  CHECK_THROWS_AS(l.expected_sealer(0), hefl::invalid_argument);
  CHECK(l.verify().ok());

  CHECK_THROWS_WITH(ledger(s.genesis, {}, seeded_key("mallory", 9)), Catch::Contains("not a sealer"));
  CHECK_THROWS_WITH(ledger(s.genesis, {}, seeded_key("a", 9)), Catch::Contains("differs"));
  auto signed_genesis = s.genesis;
  signed_genesis.header.sealer = "a";
  CHECK_THROWS_AS(ledger(signed_genesis), hefl::invalid_argument);
  auto later = s.genesis;
  later.header.height = 1;
  CHECK_THROWS_WITH(ledger(later), Catch::Contains("expected 0"));
  auto swapped = s.genesis;
  swapped.transactions[0] = check_tx(1);
  CHECK_THROWS_AS(ledger(swapped), hefl::invalid_argument);
  ledger_config zero;
  zero.max_block_transactions = 0;
  CHECK_THROWS_AS(ledger(s.genesis, zero), hefl::invalid_argument);
  ledger_config small_pool;
  small_pool.max_pending = 10;
  CHECK_THROWS_WITH(ledger(s.genesis, small_pool), Catch::Contains("below max_block_transactions"));
}

TEST_CASE("blocks are cut every N transactions", "[iot][ledger]") {
  const fake_clock clock;
  local_ledger l(config_with(clock, 3));
  for (int i = 0; i < 7; ++i) l.submit(check_tx(i));
  CHECK(l.height() == 2);
  CHECK(l.pending_count() == 1);
  CHECK(l.block_at(1).transactions.size() == 3);
  CHECK(l.block_at(2).transactions.size() == 3);
  CHECK(l.block_at(1).transactions[0] == check_tx(0));
  CHECK(l.block_at(1).header.sealer == "local");
  CHECK(l.tick(clock.fn()()) == 0);  // neither full nor old
  CHECK(l.flush() == 1);
  CHECK(l.height() == 3);
  CHECK(l.pending_count() == 0);
  CHECK(l.block_at(3).transactions.size() == 1);
  CHECK(l.flush() == 0);  // no empty blocks
  CHECK(l.verify().ok());
  CHECK(l.verify().blocks_checked == 4);
  CHECK_THROWS_AS(l.block_at(4), hefl::invalid_argument);
}

TEST_CASE("blocks are cut when the oldest pending transaction is T old", "[iot][ledger]") {
  const fake_clock clock;
  clock.set(10'000);
  local_ledger l(config_with(clock, 100, 50ms));
  l.submit(check_tx(1));
  clock.set(10'030);
  l.submit(check_tx(2));
  CHECK(l.tick(at_ms(10'049)) == 0);
  CHECK(l.height() == 0);
  CHECK(l.tick(at_ms(10'050)) == 1);
  CHECK(l.height() == 1);
  CHECK(l.block_at(1).transactions.size() == 2);
  CHECK(l.block_at(1).header.time == at_ms(10'050));

  // The age is also checked on submit: the second submission finds the first one overdue.
  clock.set(20'000);
  l.submit(check_tx(3));
  clock.set(20'049);
  l.submit(check_tx(4));
  CHECK(l.height() == 1);
  clock.set(20'050);
  l.submit(check_tx(5));
  CHECK(l.height() == 2);
  CHECK(l.block_at(2).transactions.size() == 3);
  CHECK(l.pending_count() == 0);
  // A clock that stepped back never dates a block before its parent.
  l.submit(check_tx(6));
  CHECK(l.flush() == 1);
  l.submit(check_tx(7));
  CHECK(l.tick(at_ms(5'000'000)) == 1);
  clock.set(100);
  l.submit(check_tx(8));
  l.flush();
  CHECK(l.block_at(l.height()).header.time >= l.block_at(l.height() - 1).header.time);
  CHECK(l.verify().ok());
}

TEST_CASE("Proof-of-Authority sealers take turns by height", "[iot][ledger][poa]") {
  const two_sealers s;
  const fake_clock clock;
  ledger a(s.genesis, config_with(clock, 2), s.a), b(s.genesis, config_with(clock, 2), s.b);
  CHECK(a.self_id() == "a");

  // Height 1 is a's turn: b keeps its transactions pending even when a block is due.
  b.submit(check_tx(1));
  b.submit(check_tx(2));
  CHECK(b.height() == 0);
  CHECK(b.flush() == 0);
  CHECK(b.pending_count() == 2);
  for (const auto& tx : b.pending()) a.submit(tx);  // gossip to the sealer in turn
  CHECK(a.height() == 1);
  CHECK(a.block_at(1).header.sealer == "a");

  REQUIRE(b.accept_block(a.block_at(1)));
  CHECK(b.pending_count() == 0);  // included transactions leave the pool
  CHECK(b.head_hash() == a.head_hash());

  // Height 2 is b's turn: a cannot seal it.
  a.submit(check_tx(3));
  CHECK(a.flush() == 0);
  CHECK(a.height() == 1);
  b.submit(check_tx(3));
  CHECK(b.flush() == 1);
  CHECK(b.block_at(2).header.sealer == "b");
  REQUIRE(a.accept_block(b.block_at(2)));
  CHECK(a.pending_count() == 0);
  CHECK(a.head_hash() == b.head_hash());
  CHECK(a.verify().ok());
  CHECK(b.verify().ok());
}

TEST_CASE("peer blocks are refused unless every check passes", "[iot][ledger][poa]") {
  const two_sealers s;
  const fake_clock clock;
  ledger a(s.genesis, config_with(clock, 2), s.a);
  a.submit(check_tx(1));
  a.flush();
  ledger b(s.genesis, config_with(clock, 2), s.b);
  REQUIRE(b.sync_from(a));
  const auto head = b.head_hash();
  const auto now = clock.fn()();
  // Entries signed by their author (b), as a sealer's pool holds them.
  const std::vector<transaction> txs{b.sign_entry(check_tx(10)), b.sign_entry(check_tx(11))};
  const auto mallory = seeded_key("mallory", 7);
  const auto fake_b = seeded_key("b", 8);

  // The honest next block, for contrast.
  const auto good = forge(2, head, txs, s.b, now);

  const auto refused = [&](const block& blk, block_fault why) {
    const auto c = b.accept_block(blk);
    CHECK_FALSE(c);
    CHECK(c.fault == why);
    CHECK_FALSE(c.message.empty());
    CHECK(b.height() == 1);
  };
  SECTION("wrong sealer (a sealer out of turn)") { refused(forge(2, head, txs, s.a, now), block_fault::wrong_sealer); }
  SECTION("a non-sealer") { refused(forge(2, head, txs, mallory, now), block_fault::unknown_sealer); }
  SECTION("a non-sealer using a sealer's id") { refused(forge(2, head, txs, fake_b, now), block_fault::bad_signature); }
  SECTION("a truncated signature") {
    auto bad = good;
    bad.signature.resize(63);
    refused(bad, block_fault::bad_signature);
  }
  SECTION("a header changed after signing") {
    auto bad = good;
    bad.header.time += 1ms;
    refused(bad, block_fault::bad_signature);
  }
  SECTION("a transaction changed after signing") {
    auto bad = good;
    bad.transactions[1] = check_tx(12);
    refused(bad, block_fault::tampered_transaction);
  }
  SECTION("a skipped height") { refused(forge(3, head, txs, s.a, now), block_fault::out_of_order); }
  SECTION("a block already in the chain") { refused(a.block_at(1), block_fault::out_of_order); }
  SECTION("a wrong previous hash") { refused(forge(2, s.genesis.hash(), txs, s.b, now), block_fault::broken_link); }
  SECTION("older than its parent") {
    refused(forge(2, head, txs, s.b, a.block_at(1).header.time - 1ms), block_fault::bad_timestamp);
  }
  SECTION("dated in the future") { refused(forge(2, head, txs, s.b, now + 1h), block_fault::bad_timestamp); }
  SECTION("a transaction already in the chain") {
    refused(forge(2, head, {check_tx(1)}, s.b, now), block_fault::duplicate_transaction);
  }
  SECTION("the same transaction twice") {
    refused(forge(2, head, {check_tx(5), check_tx(5)}, s.b, now), block_fault::duplicate_transaction);
  }
  SECTION("an empty block") { refused(forge(2, head, {}, s.b, now), block_fault::malformed); }
  SECTION("a genesis entry") {
    refused(forge(2, head, {s.genesis.transactions[0]}, s.b, now), block_fault::malformed);
  }
  SECTION("too many transactions") {
    refused(forge(2, head, {check_tx(20), check_tx(21), check_tx(22)}, s.b, now), block_fault::oversized);
  }
  SECTION("the honest block is accepted") {
    CHECK(b.accept_block(good));
    CHECK(b.height() == 2);
    CHECK(b.head_hash() == good.hash());
  }
}

TEST_CASE("replicas built from the same genesis reach the same head", "[iot][ledger][replica]") {
  const two_sealers s;
  const fake_clock clock;
  ledger a(s.genesis, config_with(clock, 4, 100ms), s.a), b(s.genesis, config_with(clock, 4, 100ms), s.b);
  ledger observer(s.genesis, config_with(clock, 4, 100ms));
  std::vector<ledger*> nodes{&a, &b, &observer};
  int next_tx = 0;
  for (int round = 0; round < 12; ++round) {
    clock.set(1'000'000 + 40 * round);
    // Collectors submit at different nodes; every node gossips its pool to the sealers.
    for (int k = 0; k < 3; ++k) nodes[static_cast<std::size_t>((round + k) % 3)]->submit(check_tx(next_tx++));
    for (auto* from : nodes)
      for (const auto& tx : from->pending()) {
        a.submit(tx);
        b.submit(tx);
      }
    a.tick(clock.fn()());
    b.tick(clock.fn()());
    for (auto* n : nodes)
      for (auto* peer : {&a, &b})
        if (n != peer) REQUIRE(n->sync_from(*peer));
  }
  // Whoever is in turn drains the rest.
  for (int i = 0; i < 4 && (a.pending_count() > 0 || b.pending_count() > 0); ++i) {
    a.flush();
    b.flush();
    for (auto* n : nodes)
      for (auto* peer : {&a, &b})
        if (n != peer) REQUIRE(n->sync_from(*peer));
  }
  CHECK(a.height() >= 2);
  CHECK(a.pending_count() == 0);
  CHECK(a.head_hash() == b.head_hash());
  CHECK(a.head_hash() == observer.head_hash());
  CHECK(observer.transaction_count() == static_cast<std::size_t>(next_tx) + 1);
  CHECK(observer.verify().ok());
  bool saw_a = false, saw_b = false;
  for (const auto& blk : observer.blocks_from(1)) {
    saw_a = saw_a || blk.header.sealer == "a";
    saw_b = saw_b || blk.header.sealer == "b";
  }
  CHECK((saw_a && saw_b));

  // A replica of a different chain (another genesis) refuses these blocks.
  const auto c = seeded_key("a", 3);
  ledger stranger(make_genesis({c.identity()}, "other-chain", at_ms(1'000'000)));
  const auto refused = stranger.sync_from(a);
  CHECK_FALSE(refused);
  CHECK(stranger.height() == 0);
  CHECK(stranger.verify_chain(a.blocks()).fault == block_fault::genesis_mismatch);
}

TEST_CASE("verify() names the first tampered block and why", "[iot][ledger][tamper]") {
  const fake_clock clock;
  const auto key = seeded_key("solo", 4);
  const auto genesis = make_genesis({key.identity()}, "solo-chain", at_ms(1'000'000));
  ledger l(genesis, config_with(clock, 2), key), other(genesis, config_with(clock, 2), key);
  for (int i = 0; i < 10; ++i) {
    clock.set(1'000'000 + 10 * i);
    l.submit(check_tx(i));
    other.submit(check_tx(100 + i));
  }
  REQUIRE(l.height() == 5);
  const auto chain = l.blocks();
  const auto intact = l.verify();
  CHECK(intact.ok());
  CHECK(intact.blocks_checked == 6);
  CHECK(intact.fault == block_fault::none);
  CHECK(to_string(block_fault::none) == "none");
  CHECK(to_string(block_fault::tampered_header) == "tampered_header");
  CHECK(to_string(block_fault::genesis_mismatch) == "genesis_mismatch");

  const auto expect = [&](const std::vector<block>& c, std::uint64_t height, block_fault why) {
    const auto r = l.verify_chain(c);
    CHECK_FALSE(r.ok());
    CHECK(r.bad_block == height);
    CHECK(r.fault == why);
    CHECK(r.blocks_checked == height);
    CHECK_THAT(r.message, Catch::StartsWith("block " + std::to_string(height)));
  };
  SECTION("modified transaction") {
    auto c = chain;
    c[2].transactions[1] = transaction::rule_check("dev-1", "group-7", "rejected", bytes("payload-3"), at_ms(1'000'003));
    expect(c, 2, block_fault::tampered_transaction);
  }
  SECTION("modified header") {
    auto c = chain;
    c[3].header.time += 1ms;
    expect(c, 3, block_fault::tampered_header);
  }
  SECTION("modified Merkle root in a header") {
    auto c = chain;
    c[3].header.merkle_root[0] ^= 1;
    expect(c, 3, block_fault::tampered_header);
  }
  SECTION("modified header of the newest block") {
    auto c = chain;
    c[5].header.time += 1ms;
    expect(c, 5, block_fault::bad_signature);
  }
  SECTION("swapped signatures") {
    auto c = chain;
    std::swap(c[2].signature, c[3].signature);
    expect(c, 2, block_fault::bad_signature);
  }
  SECTION("reordered blocks") {
    auto c = chain;
    std::swap(c[2], c[3]);
    expect(c, 2, block_fault::out_of_order);
  }
  SECTION("a removed block") {
    auto c = chain;
    c.erase(c.begin() + 4);
    expect(c, 4, block_fault::out_of_order);
  }
  SECTION("a validly sealed block from another chain spliced in") {
    auto c = chain;
    c[2] = other.block_at(2);
    expect(c, 2, block_fault::broken_link);
  }
  SECTION("a replaced genesis") {
    auto c = chain;
    c[0] = make_genesis({key.identity()}, "solo-chain", at_ms(1'000'001));
    expect(c, 0, block_fault::genesis_mismatch);
  }
  SECTION("an empty chain") {
    const auto r = l.verify_chain({});
    CHECK(r.bad_block == 0u);
    CHECK(r.fault == block_fault::malformed);
  }
  CHECK(l.verify().ok());  // copies were tampered, never the ledger itself
}

TEST_CASE("restore() adopts a verified chain and refuses a tampered one", "[iot][ledger]") {
  const fake_clock clock;
  const two_sealers s;
  ledger a(s.genesis, config_with(clock, 1), s.a), b(s.genesis, config_with(clock, 1), s.b);
  for (int i = 0; i < 4; ++i) {
    auto& sealer = (i % 2 == 0) ? a : b;
    auto& follower = (i % 2 == 0) ? b : a;
    sealer.submit(check_tx(i));
    REQUIRE(follower.sync_from(sealer));
  }
  REQUIRE(a.height() == 4);
  ledger copy(s.genesis, {}, s.a);
  copy.restore(a.blocks());
  CHECK(copy.head_hash() == a.head_hash());
  CHECK(copy.transaction_count() == 5);
  CHECK_THROWS_AS(copy.restore(a.blocks()), hefl::invalid_argument);

  auto tampered = a.blocks();
  tampered[3].transactions[0] = check_tx(99);
  ledger victim(s.genesis);
  try {
    victim.restore(tampered);
    FAIL("restore accepted a tampered chain");
  } catch (const ledger_integrity_error& e) {
    CHECK(e.report().bad_block == 3u);
    CHECK(e.report().fault == block_fault::tampered_transaction);
    CHECK_THAT(std::string(e.what()), Catch::Contains("block 3"));
  }
  CHECK(victim.height() == 0);
}

TEST_CASE("transactions are found by kind and device and proven included", "[iot][ledger]") {
  const fake_clock clock;
  local_ledger l(config_with(clock, 4));
  const std::vector<std::uint8_t> h(32, 7);
  l.submit(check_tx(1, "dev-1"));
  l.submit(check_tx(2, "dev-2"));
  l.submit(check_tx(3, "dev-1"));
  const auto rec = l.submit(transaction::record_stored("rec-1", "patient-1", h, at_ms(5)));
  l.submit(transaction::rule_deployment("group-7", 1, h, "admin", at_ms(6)));
  l.submit(transaction::access("doctor-1", "patient-1", true, at_ms(7)));
  l.flush();
  CHECK(l.find(tx_kind::rule_check).size() == 3);
  CHECK(l.find(tx_kind::record_stored).size() == 1);
  CHECK(l.find(tx_kind::genesis).size() == 1);
  CHECK(l.find(tx_kind::revocation).empty());
  const auto dev1 = l.find_device("dev-1");
  REQUIRE(dev1.size() == 2);
  CHECK(dev1[0].tx == check_tx(1, "dev-1"));
  CHECK(dev1[1].tx == check_tx(3, "dev-1"));
  CHECK(dev1[0].height == 1);
  CHECK(dev1[1].index == 2);
  CHECK(l.find_device("dev-3").empty());

  const auto proof = l.prove(rec);
  REQUIRE(proof.has_value());
  CHECK(proof->location.height == 1);
  CHECK(proof->location.index == 3);
  CHECK(proof->location.tx.id() == rec);
  CHECK(proof->root == l.block_at(1).header.merkle_root);
  CHECK(merkle_tree::verify_proof(merkle_tree::leaf_hash(rec), proof->proof, proof->root));
  CHECK_FALSE(merkle_tree::verify_proof(merkle_tree::leaf_hash(check_tx(1).id()), proof->proof, proof->root));
  CHECK_FALSE(merkle_tree::verify_proof(merkle_tree::leaf_hash(rec), proof->proof, l.block_at(2).header.merkle_root));
  CHECK_FALSE(l.prove(check_tx(77).id()).has_value());
}

TEST_CASE("submit is idempotent and refuses genesis entries and an unbounded backlog", "[iot][ledger]") {
  const fake_clock clock;
  local_ledger l(config_with(clock, 10));
  const auto id = l.submit(check_tx(1));
  CHECK(l.submit(check_tx(1)) == id);
  CHECK(l.pending_count() == 1);
  l.flush();
  l.submit(check_tx(1));
  CHECK(l.pending_count() == 0);
  CHECK(l.transaction_count() == 2);
  const two_sealers s;
  CHECK_THROWS_AS(l.submit(s.genesis.transactions[0]), hefl::invalid_argument);

  // b is not in turn for height 1, so its pool only grows, up to max_pending.
  auto cfg = config_with(clock, 5);
  cfg.max_pending = 5;
  ledger b(s.genesis, cfg, s.b);
  for (int i = 0; i < 5; ++i) b.submit(check_tx(i));
  CHECK_THROWS_AS(b.submit(check_tx(5)), hefl::security_error);
  CHECK_THROWS_WITH(b.submit(check_tx(5)), Catch::Contains("sealer in turn is 'a'"));
  CHECK(b.pending_count() == 5);
}

TEST_CASE("concurrent collectors lose no transaction", "[iot][ledger][concurrency]") {
  const fake_clock clock;
  local_ledger l(config_with(clock, 16));
  constexpr int threads = 4, per_thread = 200;
  std::vector<std::thread> pool;
  std::atomic<bool> done{false};
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&l, t] {
      for (int i = 0; i < per_thread; ++i) l.submit(check_tx(t * per_thread + i, "dev-" + std::to_string(t)));
    });
  std::thread reader([&] {
    for (int i = 0; i < 200 && !done.load(); ++i) {
      (void)l.tick(at_ms(0));
      (void)l.height();
      (void)l.pending_count();
    }
  });
  for (auto& th : pool) th.join();
  done = true;
  reader.join();
  l.flush();
  CHECK(l.pending_count() == 0);
  CHECK(l.transaction_count() == threads * per_thread + 1);
  for (int t = 0; t < threads; ++t) CHECK(l.find_device("dev-" + std::to_string(t)).size() == per_thread);
  for (int i = 0; i < threads * per_thread; i += 37)
    CHECK(l.prove(check_tx(i, "dev-" + std::to_string(i / per_thread)).id()).has_value());
  CHECK(l.verify().ok());
}

TEST_CASE("the ledger satisfies ledger_policy", "[iot][ledger]") {
  STATIC_REQUIRE(ledger_policy<ledger>);
  STATIC_REQUIRE(ledger_policy<local_ledger>);
  STATIC_REQUIRE_FALSE(ledger_policy<int>);
  STATIC_REQUIRE_FALSE(ledger_policy<const ledger>);
}
