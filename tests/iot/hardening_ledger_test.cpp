// Issue 10, items 9 and 10: the audit trail cannot be forged in another node's name, survives a
// sealer going down, catches a sealer that signs twice, changes its sealers only by a vote on the
// chain, and cannot be truncated or reconciled away behind the store's back.
#include <hefl/iot/ledger/ledger_store.hpp>
#include <hefl/iot/storage/record_store.hpp>

#include <catch2/catch.hpp>

#include <botan/auto_rng.h>
#include <botan/ecdsa.h>
#include <botan/hex.h>
#include <botan/sqlite3.h>
#include <botan/system_rng.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

using namespace hefl::iot;
using namespace std::chrono_literals;

namespace {

ledger_time at(std::int64_t ms) { return ledger_time(std::chrono::milliseconds(ms)); }

sealer_key seeded(const std::string& id, std::uint8_t seed) {
  return sealer_key::from_seed(id, std::vector<std::uint8_t>(32, seed));
}

transaction entry(int i) {
  const std::string p = "payload-" + std::to_string(i);
  return transaction::rule_check("dev-" + std::to_string(i % 3), "group-7", "accepted",
                                 std::vector<std::uint8_t>(p.begin(), p.end()), at(1'000'000 + i));
}

struct manual_clock {
  std::shared_ptr<std::atomic<std::int64_t>> now = std::make_shared<std::atomic<std::int64_t>>(1'000'000);
  [[nodiscard]] std::function<ledger_time()> fn() const {
    return [n = now] { return at(n->load()); };
  }
  void set(std::int64_t ms) const { now->store(ms); }
  [[nodiscard]] ledger_time get() const { return at(now->load()); }
};

ledger_config cfg(const manual_clock& c, std::size_t per_block = 10) {
  ledger_config out;
  out.max_block_transactions = per_block;
  out.max_block_delay = 1s;
  out.out_of_turn_delay = 5s;
  out.clock = c.fn();
  return out;
}

// A block sealed by hand, to play a misbehaving sealer.
block seal_by_hand(std::uint64_t height, const sha256_digest& previous, std::vector<transaction> txs,
                   const sealer_key& key, ledger_time time) {
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

struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::vector<std::uint8_t> r(8);
    Botan::system_rng().randomize(r.data(), r.size());
    path = std::filesystem::temp_directory_path() / ("hefl_hardening_" + Botan::hex_encode(r, false));
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  [[nodiscard]] std::string file(const std::string& name) const { return (path / name).string(); }
};

// SQL run on the file directly, as someone with write access to the disk would.
void attacker_sql(const std::string& path, const std::string& sql) {
  Botan::Sqlite3_Database db(path);
  db.new_statement(sql)->spin();
}

verify_report reload_failure(ledger& target, const std::string& path,
                             const std::optional<head_checkpoint>& newest_known = std::nullopt) {
  try {
    ledger_store(path).load_into(target, newest_known);
  } catch (const ledger_integrity_error& e) {
    CHECK(target.height() == 0);  // nothing adopted
    return e.report();
  }
  FAIL("reload accepted a truncated or tampered database");
  return {};
}

} // namespace

// ---- item 9: entries signed by their author, checked by every replica ---------------------------

TEST_CASE("ledger: a sealer cannot log an entry in another node's name", "[iot][ledger][hardening][author]") {
  const manual_clock clock;
  const auto a = seeded("collector", 1), b = seeded("storage", 2);
  const auto genesis = make_genesis({a.identity(), b.identity()}, "hardening", clock.get());
  ledger node_a(genesis, cfg(clock, 1), a), node_b(genesis, cfg(clock, 1), b), replica(genesis, cfg(clock, 1));

  // The honest path: submit() signs as the node's author; replicas check it.
  node_a.submit(entry(1));
  REQUIRE(node_a.height() == 1);
  const auto sealed = node_a.block_at(1).transactions.at(0);
  CHECK(sealed.author() == "collector");
  CHECK(sealed.author_signature().size() == 64);
  REQUIRE(replica.sync_from(node_a));
  REQUIRE(node_b.sync_from(node_a));

  // Height 2 is b's turn. b logs an entry claiming the collector wrote it.
  const auto parent = node_a.head_hash();
  const auto now = clock.get();
  SECTION("an entry with the collector's name and b's signature") {
    const auto forged = entry(2).with_author(
        "collector", b.sign(transaction::author_message(genesis.hash(), "collector", entry(2).id())));
    const auto c = replica.accept_block(seal_by_hand(2, parent, {forged}, b, now));
    CHECK(c.fault == block_fault::bad_author_signature);
    CHECK_THAT(c.message, Catch::Contains("'collector'"));
  }
  SECTION("the collector's signature from another entry pasted onto a new one") {
    const auto forged = entry(2).with_author("collector", sealed.author_signature());
    CHECK(replica.accept_block(seal_by_hand(2, parent, {forged}, b, now)).fault == block_fault::bad_author_signature);
  }
  SECTION("an unsigned entry") {
    CHECK(replica.accept_block(seal_by_hand(2, parent, {entry(2)}, b, now)).fault == block_fault::unknown_author);
  }
  SECTION("an entry signed by a node that is no author") {
    const auto mallory = seeded("mallory", 9);
    const auto forged = entry(2).with_author(
        "mallory", mallory.sign(transaction::author_message(genesis.hash(), "mallory", entry(2).id())));
    CHECK(replica.accept_block(seal_by_hand(2, parent, {forged}, b, now)).fault == block_fault::unknown_author);
  }
  SECTION("an entry signed for another chain") {
    const auto other_chain = make_genesis({a.identity(), b.identity()}, "elsewhere", clock.get());
    const auto replayed = entry(2).with_author(
        "collector", a.sign(transaction::author_message(other_chain.hash(), "collector", entry(2).id())));
    CHECK(replica.accept_block(seal_by_hand(2, parent, {replayed}, b, now)).fault ==
          block_fault::bad_author_signature);
  }
  SECTION("a forged entry relayed to a node's pool is refused there too") {
    const auto forged = entry(2).with_author("collector", std::vector<std::uint8_t>(64, 7));
    try {
      node_b.submit(forged);
      FAIL("a forged relay was accepted");
    } catch (const ledger_entry_refused& e) {
      CHECK(e.fault() == block_fault::bad_author_signature);
    }
    CHECK_THROWS_AS(node_b.submit(entry(3).with_author("nobody", {})), hefl::security_error);
    CHECK(node_b.pending_count() == 0);
  }
  SECTION("the honest entry, relayed with its signature, is accepted") {
    const auto relayed = node_a.sign_entry(entry(2));
    node_b.submit(relayed);  // b's turn: sealed at once, the collector still its author
    REQUIRE(node_b.height() == 2);
    CHECK(node_b.block_at(2).transactions.at(0).author() == "collector");
    CHECK(replica.sync_from(node_b));
    CHECK(replica.height() == 2);
  }
  CHECK(replica.verify().ok());
}

TEST_CASE("ledger: a sealer that signs two blocks at one height is caught, the evidence kept",
          "[iot][ledger][hardening][equivocation]") {
  const manual_clock clock;
  const auto a = seeded("collector", 1), b = seeded("storage", 2);
  const auto genesis = make_genesis({a.identity(), b.identity()}, "hardening", clock.get());
  ledger node_a(genesis, cfg(clock, 1), a), node_b(genesis, cfg(clock, 1), b), replica(genesis, cfg(clock, 1));
  node_a.submit(entry(1));
  REQUIRE(node_b.sync_from(node_a));
  REQUIRE(replica.sync_from(node_a));

  // The collector signs a second, different block 1 and shows it to the others.
  const auto second = seal_by_hand(1, genesis.hash(), {node_a.sign_entry(entry(99))}, a, clock.get());
  for (auto* l : {&replica, &node_b}) {
    const auto c = l->accept_block(second);
    CHECK(c.fault == block_fault::equivocation);
    CHECK(l->block_at(1).hash() == node_a.head_hash());  // the first block stays
    const auto ev = l->evidence();
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].sealer == "collector");
    CHECK(ev[0].height == 1);
    CHECK(ev[0].first.hash() == node_a.head_hash());
    CHECK(ev[0].second.hash() == second.hash());
    // Self-contained: both headers verify under the collector's key.
    const Botan::Ed25519_PublicKey key(a.identity().public_key);
    for (const auto& [h, sig] : {std::pair{ev[0].first, ev[0].first_signature}, {ev[0].second, ev[0].second_signature}}) {
      Botan::PK_Verifier v(key, "Pure");
      CHECK(v.verify_message(h.hash().data(), 32, sig.data(), sig.size()));
    }
  }
  CHECK(replica.accept_block(second).fault == block_fault::equivocation);
  CHECK(replica.evidence().size() == 1);  // kept once

  // The storage node (a keyed replica) put the evidence on the ledger, in block 2 (its turn).
  node_b.flush();
  REQUIRE(node_b.height() == 2);
  const auto logged = node_b.find([](const transaction& tx) { return tx.field_string("type") == "equivocation"; });
  REQUIRE(logged.size() == 1);
  CHECK(logged[0].tx.field_string("sealer") == "collector");
  CHECK(logged[0].tx.author() == "storage");
  CHECK(replica.sync_from(node_b));
  CHECK(replica.verify().ok());

  // A block by another sealer at a held height is no equivocation (a fork, refused as out of order).
  CHECK(replica.accept_block(seal_by_hand(1, genesis.hash(), {node_b.sign_entry(entry(50))}, b, clock.get())).fault !=
        block_fault::equivocation);
}

TEST_CASE("ledger: one sealer down does not halt the chain, and in-turn blocks are preferred",
          "[iot][ledger][hardening][liveness]") {
  const manual_clock clock;
  const auto a = seeded("collector", 1), b = seeded("storage", 2);
  const auto genesis = make_genesis({a.identity(), b.identity()}, "hardening", clock.get());
  ledger node_a(genesis, cfg(clock), a), node_b(genesis, cfg(clock), b), observer(genesis, cfg(clock));

  // The collector (in turn for height 1) is down. The storage node's entries wait...
  clock.set(1'001'000);
  node_b.submit(entry(1));
  node_b.submit(entry(2));
  CHECK(node_b.tick(at(1'001'000 + 1'000)) == 0);      // due, but not b's turn
  CHECK(node_b.tick(at(1'001'000 + 5'999)) == 0);      // out-of-turn delay not over yet
  clock.set(1'001'000 + 6'000);
  CHECK(node_b.tick(clock.get()) == 1);                 // ...then b seals out of turn
  CHECK(node_b.block_at(1).header.sealer == "storage");
  REQUIRE(observer.sync_from(node_b));
  CHECK(observer.height() == 1);

  // Height 2 is b's own turn: the chain goes on without the collector.
  node_b.submit(entry(3));
  CHECK(node_b.flush() == 1);
  REQUIRE(observer.sync_from(node_b));
  CHECK(observer.height() == 2);

  // Out-of-turn blocks dated too soon after their parent are refused by replicas.
  const auto early = seal_by_hand(3, node_b.head_hash(), {node_b.sign_entry(entry(4))}, b,
                                  node_b.block_at(2).header.time + 1s);
  CHECK(observer.accept_block(early).fault == block_fault::wrong_sealer);

  // The collector is back. At height 3 (its turn) b seals out of turn once more, but the collector's
  // in-turn block for the same height wins on every replica.
  REQUIRE(node_a.sync_from(node_b));
  clock.set(1'100'000);
  node_b.submit(entry(5));
  clock.set(1'100'000 + 6'000);
  CHECK(node_b.tick(clock.get()) == 1);
  const auto out_of_turn = node_b.block_at(3);
  CHECK(out_of_turn.header.sealer == "storage");
  REQUIRE(observer.sync_from(node_b));
  REQUIRE(observer.head_hash() == out_of_turn.hash());
  node_a.submit(entry(6));
  CHECK(node_a.flush() == 1);
  CHECK(node_a.block_at(3).header.sealer == "collector");
  REQUIRE(observer.sync_from(node_a));
  CHECK(observer.head_hash() == node_a.head_hash());
  REQUIRE(node_b.sync_from(node_a));
  CHECK(node_b.head_hash() == node_a.head_hash());
  // b's replaced entry went back to its pool, and is sealed at b's next turn.
  CHECK(node_b.pending_count() == 1);
  CHECK(node_b.flush() == 1);
  REQUIRE(node_a.sync_from(node_b));
  REQUIRE(observer.sync_from(node_b));
  CHECK(observer.head_hash() == node_a.head_hash());
  CHECK(observer.find([](const transaction& tx) { return tx == entry(5); }).size() == 1);
  // An in-turn head is never replaced by an out-of-turn block.
  CHECK_FALSE(node_a.accept_block(out_of_turn));
  CHECK(node_a.verify().ok());
  CHECK(observer.verify().ok());
  CHECK(observer.transaction_count() == 6);
}

TEST_CASE("ledger: the sealer set changes by a vote on the ledger, and a removed sealer's key stops counting",
          "[iot][ledger][hardening][votes]") {
  const manual_clock clock;
  const auto a = seeded("a", 1), b = seeded("b", 2), c = seeded("c", 3), d = seeded("d", 4);
  const auto genesis = make_genesis({a.identity(), b.identity(), c.identity()}, "hardening", clock.get());
  ledger na(genesis, cfg(clock, 2), a), nb(genesis, cfg(clock, 2), b), nc(genesis, cfg(clock, 2), c);
  ledger observer(genesis, cfg(clock, 2));
  std::vector<ledger*> sealers{&na, &nb, &nc};
  // Plays the network: every pool goes to every sealer, the one in turn seals, all sync.
  const auto settle = [&] {
    for (int round = 0; round < 8; ++round) {
      for (auto* from : sealers)
        for (const auto& tx : from->pending())
          for (auto* to : sealers)
            if (to != from && to->is_author(tx.author())) to->submit(tx);
      for (auto* s : sealers) s->flush();
      for (auto* n : {&na, &nb, &nc, &observer})
        for (auto* s : sealers)
          if (n != s) REQUIRE(n->sync_from(*s));
    }
  };

  // One vote out of three changes nothing.
  na.vote(vote_action::remove, c.identity());
  settle();
  CHECK(observer.sealers().size() == 3);
  // A second vote is a majority: c is out, for blocks and for entries.
  nb.vote(vote_action::remove, c.identity());
  settle();
  REQUIRE(observer.sealers().size() == 2);
  CHECK_FALSE(observer.is_author("c"));
  sealers = {&na, &nb};
  const auto h = observer.height();
  const auto late = seal_by_hand(h + 1, observer.head_hash(), {nc.sign_entry(entry(1))}, c, clock.get() + 1h);
  CHECK(observer.accept_block(late).fault == block_fault::unknown_sealer);
  try {
    na.submit(nc.sign_entry(entry(2)));
    FAIL("an entry by a removed sealer was accepted");
  } catch (const ledger_entry_refused& e) {
    CHECK(e.fault() == block_fault::unknown_author);
  }
  const auto in_turn = observer.expected_sealer(h + 1) == "a" ? &a : &b;
  CHECK(observer.accept_block(seal_by_hand(h + 1, observer.head_hash(), {nc.sign_entry(entry(3))}, *in_turn,
                                           clock.get())).fault == block_fault::unknown_author);

  // Both remaining sealers vote d in; d then seals its turn.
  na.vote(vote_action::add, d.identity());
  nb.vote(vote_action::add, d.identity());
  settle();
  REQUIRE(observer.sealers().size() == 3);
  CHECK(observer.sealers().back() == d.identity());
  ledger late_joiner(genesis, cfg(clock, 2));
  REQUIRE(late_joiner.sync_from(observer));
  CHECK(late_joiner.is_author("d"));

  // A vote cast by a non-sealer, or in another sealer's name, is refused.
  const auto voted = [&](const transaction& vote_tx) {
    const auto hh = observer.height() + 1;
    const auto* k = observer.expected_sealer(hh) == "a" ? &a : observer.expected_sealer(hh) == "b" ? &b : &d;
    return observer.accept_block(seal_by_hand(hh, observer.head_hash(), {vote_tx}, *k, clock.get()));
  };
  CHECK(voted(na.sign_entry(sealer_vote("b", vote_action::remove, d.identity(), clock.get()))).fault ==
        block_fault::bad_vote);

  // Every replica that replays the chain from genesis agrees, and the chain survives a reload.
  CHECK(observer.verify().ok());
  CHECK(observer.verify_chain(na.blocks()).ok());
  temp_dir dir;
  ledger_store(dir.file("votes.db")).save(na);
  ledger reloaded(genesis, cfg(clock, 2));
  ledger_store(dir.file("votes.db")).load_into(reloaded);
  CHECK(reloaded.sealers() == observer.sealers());
  CHECK(reloaded.head_hash() == na.head_hash());
}

// ---- item 10: truncation, crash, deletion -------------------------------------------------------

TEST_CASE("ledger_store: deleting the newest blocks is reported as a truncated chain", "[iot][ledger][hardening][truncation]") {
  const manual_clock clock;
  const auto a = seeded("collector", 1), b = seeded("storage", 2);
  const auto genesis = make_genesis({a.identity(), b.identity()}, "hardening", clock.get());
  ledger na(genesis, cfg(clock, 2), a), nb(genesis, cfg(clock, 2), b);
  int next = 0;
  const auto grow = [&](int blocks) {
    for (int k = 0; k < blocks; ++k) {
      auto& s = na.expected_sealer(na.height() + 1) == "collector" ? na : nb;
      auto& o = &s == &na ? nb : na;
      s.submit(entry(next++));
      s.submit(entry(next++));
      REQUIRE(o.sync_from(s));
    }
  };
  grow(2);
  temp_dir dir;
  const auto file = dir.file("ledger.db");
  const auto backup = dir.file("backup.db");
  ledger_store(file).save(nb);
  std::filesystem::copy_file(file, backup);
  const auto older = nb.checkpoint();
  grow(3);
  ledger_store(file).save(nb);
  const auto newest = nb.checkpoint();  // what the storage node hands to its peers after saving
  REQUIRE(newest->height == 5);
  {
    ledger intact(genesis, cfg(clock, 2));
    ledger_store(file).load_into(intact, newest);
    CHECK(intact.head_hash() == nb.head_hash());
  }
  ledger fresh(genesis, cfg(clock, 2));

  SECTION("the newest block rows deleted") {
    attacker_sql(file, "DELETE FROM ledger_transactions WHERE height >= 4");
    attacker_sql(file, "DELETE FROM ledger_blocks WHERE height >= 4");
    const auto r = reload_failure(fresh, file);
    CHECK(r.fault == block_fault::truncated);
    CHECK_THAT(r.message, Catch::Contains("ends at height 3"));
  }
  SECTION("the checkpoint deleted too") {
    attacker_sql(file, "DELETE FROM ledger_transactions WHERE height >= 4");
    attacker_sql(file, "DELETE FROM ledger_blocks WHERE height >= 4");
    attacker_sql(file, "DELETE FROM ledger_checkpoint");
    CHECK(reload_failure(fresh, file).fault == block_fault::truncated);
  }
  SECTION("the checkpoint rewritten to the shorter head without the key") {
    attacker_sql(file, "DELETE FROM ledger_transactions WHERE height >= 4");
    attacker_sql(file, "DELETE FROM ledger_blocks WHERE height >= 4");
    attacker_sql(file, "UPDATE ledger_checkpoint SET height = '3', head = '" +
                           Botan::hex_encode(na.block_at(3).hash().data(), 32, false) + "'");
    CHECK(reload_failure(fresh, file).fault == block_fault::bad_checkpoint);
  }
  SECTION("an older checkpoint of the storage node pasted in") {
    attacker_sql(file, "DELETE FROM ledger_transactions WHERE height >= 3");
    attacker_sql(file, "DELETE FROM ledger_blocks WHERE height >= 3");
    attacker_sql(file, "UPDATE ledger_checkpoint SET height = '2', head = '" +
                           Botan::hex_encode(older->head.data(), 32, false) + "', signature = '" +
                           Botan::hex_encode(older->signature, false) + "'");
    // Consistent on its own; the checkpoint a peer kept shows what was lost.
    ledger alone(genesis, cfg(clock, 2));
    ledger_store(file).load_into(alone);
    CHECK(alone.height() == 2);
    CHECK(reload_failure(fresh, file, newest).fault == block_fault::truncated);
  }
  SECTION("the whole file rolled back to an older copy: only a peer's checkpoint tells") {
    std::filesystem::copy_file(backup, file, std::filesystem::copy_options::overwrite_existing);
    CHECK(reload_failure(fresh, file, newest).fault == block_fault::truncated);
  }
  SECTION("a checkpoint that names another block") {
    auto wrong = *newest;
    wrong.head = na.block_at(4).hash();
    wrong.signature = b.sign(wrong.message(genesis.hash()));
    CHECK(reload_failure(fresh, file, wrong).fault == block_fault::bad_checkpoint);
  }
  SECTION("a replica without a key cannot save a chain it could not reload") {
    ledger keyless(genesis, cfg(clock, 2));
    REQUIRE(keyless.sync_from(nb));
    CHECK_THROWS_AS(ledger_store(dir.file("keyless.db")).save(keyless), hefl::invalid_argument);
  }
}

namespace {

payload heart_rate(std::int64_t bpm) {
  payload p;
  p.type = "heart_rate";
  p.fields.emplace("bpm", bpm);
  return p;
}

// Real certificates and a patient card, as in record_store_test.
struct records_fixture {
  Botan::AutoSeeded_RNG rng;
  clock_time t0 = std::chrono::system_clock::now();
  certificate_authority ca{"St Mary Hospital", t0};
  trust_store trust = trust_store::in_memory();
  Botan::ECDSA_PrivateKey collector_key{rng, Botan::EC_Group("secp256r1")};
  patient_smart_card<> alice{"p-1001", rng};
  sgtin96 monitor = sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345.6789", 1);
  identity_directory keys;
  sealer_key storage = seeded("storage-main", 5);
  block genesis = make_genesis({storage.identity()}, "records", ledger_now());
  ledger_config lazy = [] {
    ledger_config c;
    c.max_block_delay = std::chrono::hours(1);  // nothing is sealed unless flushed
    return c;
  }();

  records_fixture() {
    trust.add_root(ca.root());
    trust.add_crl(ca.crl());  // revocation information is required by default
    identity id;
    id.role = role::collector;
    id.subject_id = "collector-icu";
    const auto cert = ca.issue(collector_key, id, t0 - 1h, 24h * 30);
    REQUIRE(keys.enrol_collector({cert}, trust, t0));
    keys.add_patient_key("p-1001", alice.public_key());
  }
  record make(std::int64_t bpm, std::int64_t ms) {
    return make_record(alice.patient_id(), monitor, "heart_rate", heart_rate(bpm),
                       record_time(std::chrono::milliseconds(ms)), alice, "collector-icu", collector_key, rng);
  }
};

} // namespace

TEST_CASE("record_store: a crash between a row's COMMIT and the ledger's save loses no ledger entry",
          "[iot][record_store][hardening][crash]") {
  records_fixture f;
  temp_dir dir;
  const auto records = dir.file("records.db");
  const auto chain_file = dir.file("ledger.db");
  {
    ledger node(f.genesis, f.lazy, f.storage);
    record_store store(records, f.keys, node);
    CHECK(store.journals_ledger_entries());
    ledger_store(chain_file).save(node);  // genesis and its checkpoint
    store.insert(f.make(70, 1'700'000'000'000));
    store.insert(f.make(71, 1'700'000'000'001));
    CHECK(node.pending_count() == 2);
    CHECK(store.journal_size() == 2);
    // Crash: the process dies before the ledger is saved; its pending entries were only in memory.
  }
  ledger node(f.genesis, f.lazy, f.storage);
  ledger_store(chain_file).load_into(node);
  record_store store(records, f.keys, node);
  // Without the journal the rows would now stand with no ledger entry:
  const auto before = store.integrity_scan();
  CHECK(before.reconciled);
  REQUIRE(before.ledger_findings.size() == 2);
  CHECK(before.ledger_findings[0].fault == ledger_reconcile_fault::not_logged);
  CHECK_FALSE(before.ok());

  CHECK(store.resubmit_journal() == 2);
  CHECK(store.integrity_scan().ok());
  node.flush();
  CHECK(node.find(tx_kind::record_stored).size() == 2);
  CHECK(node.find(tx_kind::record_stored)[0].tx.author() == "storage-main");
  CHECK(store.prune_journal(0) == 0);  // sealed, but not yet saved: kept
  ledger_store(chain_file).save(node);
  CHECK(store.prune_journal(ledger_store(chain_file).block_count() - 1) == 2);
  CHECK(store.journal_size() == 0);
  CHECK(store.resubmit_journal() == 0);
  CHECK(store.integrity_scan().ok());

  SECTION("a journal entry edited on disk is refused, not logged") {
    store.insert(f.make(72, 1'700'000'000'002));
    attacker_sql(records, "UPDATE hefl_ledger_journal SET signature = '" + std::string(128, '0') + "'");
    ledger restarted(f.genesis, f.lazy, f.storage);
    ledger_store(chain_file).load_into(restarted);
    record_store again(records, f.keys, restarted);
    CHECK_THROWS_AS(again.resubmit_journal(), ledger_entry_refused);
    CHECK(again.integrity_scan().ledger_findings.size() == 1);
  }
}

TEST_CASE("record_store: deleting a row and renumbering the ids fails integrity_scan",
          "[iot][record_store][hardening][reconcile]") {
  records_fixture f;
  temp_dir dir;
  const auto records = dir.file("records.db");
  ledger node(f.genesis, f.lazy, f.storage);
  record_store store(records, f.keys, node);
  std::vector<record> rows;
  for (int i = 0; i < 3; ++i) {
    rows.push_back(f.make(70 + i, 1'700'000'000'000 + i));
    REQUIRE(store.insert(rows.back()) == static_cast<std::uint64_t>(i + 1));
  }
  node.flush();
  REQUIRE(store.integrity_scan().ok());

  SECTION("row 2 deleted, row 3 renumbered to 2, the sequence rewound") {
    attacker_sql(records, "DELETE FROM hefl_records WHERE id = 2");
    attacker_sql(records, "UPDATE hefl_records SET id = 2 WHERE id = 3");
    attacker_sql(records, "UPDATE sqlite_sequence SET seq = 2 WHERE name = 'hefl_records'");
    const auto r = store.integrity_scan();
    // Every remaining row verifies and no id is missing: only the ledger tells.
    CHECK(r.findings.empty());
    CHECK(r.missing_count == 0);
    CHECK_FALSE(r.ok());
    REQUIRE(r.ledger_findings.size() == 2);
    CHECK(r.ledger_findings[0].id == 2);
    CHECK(r.ledger_findings[0].fault == ledger_reconcile_fault::differs_from_ledger);
    CHECK(r.ledger_findings[1].id == 3);
    CHECK(r.ledger_findings[1].fault == ledger_reconcile_fault::missing_row);
    CHECK(to_string(r.ledger_findings[1].fault) == "missing_row");
  }
  SECTION("the newest row deleted and the sequence rewound") {
    attacker_sql(records, "DELETE FROM hefl_records WHERE id = 3");
    attacker_sql(records, "UPDATE sqlite_sequence SET seq = 2 WHERE name = 'hefl_records'");
    const auto r = store.integrity_scan();
    CHECK(r.missing_count == 0);
    REQUIRE(r.ledger_findings.size() == 1);
    CHECK(r.ledger_findings[0].fault == ledger_reconcile_fault::missing_row);
  }
  SECTION("a validly signed record planted without a ledger entry") {
    record_store side_door(records, f.keys);  // no ledger
    side_door.insert(f.make(99, 1'700'000'000'099));
    const auto r = store.integrity_scan();
    CHECK(r.findings.empty());
    REQUIRE(r.ledger_findings.size() == 1);
    CHECK(r.ledger_findings[0].id == 4);
    CHECK(r.ledger_findings[0].fault == ledger_reconcile_fault::not_logged);
  }
}
