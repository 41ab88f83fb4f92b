#include <hefl/iot/storage/record_store.hpp>

#include <catch2/catch.hpp>

#include <botan/auto_rng.h>
#include <botan/ecdsa.h>
#include <botan/hex.h>
#include <botan/sqlite3.h>
#include <botan/system_rng.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace hefl::iot;
using namespace std::chrono_literals;

namespace {

// A fresh directory under the temp directory, removed with everything in it when the test ends.
struct store_temp_dir {
  std::filesystem::path path;
  store_temp_dir() {
    std::vector<std::uint8_t> r(8);
    Botan::system_rng().randomize(r.data(), r.size());
    path = std::filesystem::temp_directory_path() / ("hefl_records_" + Botan::hex_encode(r, false));
    std::filesystem::create_directories(path);
  }
  ~store_temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  store_temp_dir(const store_temp_dir&) = delete;
  store_temp_dir& operator=(const store_temp_dir&) = delete;
  [[nodiscard]] std::string file(const std::string& name) const { return (path / name).string(); }
};

// Runs SQL on the file through a second connection, as someone with write access to the disk would.
void raw_store_sql(const std::string& path, const std::string& sql) {
  Botan::Sqlite3_Database db(path);
  db.new_statement(sql)->spin();
  const auto q = db.new_statement("SELECT changes()");
  REQUIRE(q->step());
  REQUIRE(q->get_size_t(0) >= 1);
}

payload heart_rate(std::int64_t bpm) {
  payload p;
  p.type = "heart_rate";
  p.fields.emplace("bpm", bpm);
  return p;
}

record_time at_ms(std::int64_t ms) { return record_time(std::chrono::milliseconds(ms)); }

// A hospital with real certificates: a CA, a collector certificate, two patients' smart cards.
struct store_fixture {
  Botan::AutoSeeded_RNG rng;
  clock_time t0 = std::chrono::system_clock::now();
  certificate_authority ca{"St Mary Hospital", t0};
  trust_store trust = trust_store::in_memory();
  Botan::ECDSA_PrivateKey collector_key{rng, Botan::EC_Group("secp256r1")};
  Botan::X509_Certificate collector_cert;
  patient_smart_card<> alice{"p-1001", rng};
  patient_smart_card<> bob{"p-1002", rng};
  sgtin96 monitor = sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345.6789", 1);
  identity_directory keys;

  store_fixture() {
    trust.add_root(ca.root());
    trust.add_crl(ca.crl());  // revocation information is required by default
    identity id;
    id.role = role::collector;
    id.subject_id = "collector-icu";
    collector_cert = ca.issue(collector_key, id, t0 - 1h, 24h * 30);
    REQUIRE(keys.enrol_collector({collector_cert}, trust, t0));
    keys.add_patient_key("p-1001", alice.public_key());
    keys.add_patient_key_der("p-1002", bob.public_key_der());
  }

  record make(patient_smart_card<>& card, std::int64_t bpm, std::int64_t ms) {
    return make_record(card.patient_id(), monitor, "heart_rate", heart_rate(bpm), at_ms(ms), card, "collector-icu",
                       collector_key, rng);
  }
};

std::size_t stored_tx_count(ledger& l) {
  l.flush();
  return l.find(tx_kind::record_stored).size();
}

} // namespace

TEST_CASE("records hash a canonical encoding and verify under the right keys only", "[iot][record]") {
  store_fixture f;
  const auto r = f.make(f.alice, 72, 1'700'000'000'000);
  CHECK(r.hash == r.compute_hash());
  CHECK(r.decode_payload() == heart_rate(72));
  CHECK(verify_record(r, f.alice.public_key(), f.collector_key));
  CHECK(verify_record(r, f.keys));
  CHECK(verify_record(r, f.bob.public_key(), f.collector_key).fault == record_fault::bad_patient_signature);

  // Every hashed field changes the hash.
  auto other = r;
  other.timestamp += 1ms;
  CHECK(other.compute_hash() != r.hash);
  other = r;
  other.device.serial += 1;
  CHECK(other.compute_hash() != r.hash);
  other = r;
  other.patient_id = "p-1002";
  CHECK(other.compute_hash() != r.hash);
  CHECK(verify_record(other, f.keys).fault == record_fault::hash_mismatch);

  // The collector signature binds the collector id.
  other = r;
  other.collector_id = "collector-er";
  CHECK(verify_record(other, f.bob.public_key(), f.collector_key).fault == record_fault::bad_patient_signature);
  CHECK(verify_record(other, f.alice.public_key(), f.collector_key).fault == record_fault::bad_collector_signature);

  CHECK_THROWS_WITH(draft_record("p-1001", f.monitor, "spo2", heart_rate(72), at_ms(1)),
                    Catch::Contains("differs from the payload's type"));
  CHECK_THROWS_WITH(draft_record("p 1001", f.monitor, "heart_rate", heart_rate(72), at_ms(1)),
                    Catch::Contains("patient id"));
  CHECK_THROWS_WITH(f.make(f.alice, 72, -5), Catch::Contains("before 1970"));
  auto draft = draft_record("p-1001", f.monitor, "heart_rate", heart_rate(72), at_ms(1));
  CHECK_THROWS_WITH(sign_as_patient(draft, f.bob), Catch::Contains("cannot sign a record of"));
}

TEST_CASE("record_store stores, reads back by patient and time, and logs each insert", "[iot][record_store]") {
  store_fixture f;
  store_temp_dir dir;
  local_ledger chain;
  record_store store(dir.file("records.db"), f.keys, chain);
  CHECK(store.logs_to_ledger());

  const auto r1 = f.make(f.alice, 70, 1'700'000'000'300);
  const auto r2 = f.make(f.alice, 71, 1'700'000'000'100);
  const auto r3 = f.make(f.bob, 90, 1'700'000'000'200);
  const auto r4 = f.make(f.alice, 72, 1'700'000'000'200);
  CHECK(store.insert(r1) == 1);
  CHECK(store.insert(r2) == 2);
  CHECK(store.insert(r3) == 3);
  CHECK(store.insert(r4) == 4);
  CHECK(store.size() == 4);

  const auto alice = store.records_of("p-1001");
  REQUIRE(alice.size() == 3);
  CHECK(alice[0].id == 2);  // timestamp order
  CHECK(alice[1].id == 4);
  CHECK(alice[2].id == 1);
  auto expected = r2;
  expected.id = 2;
  CHECK(alice[0] == expected);
  CHECK(alice[0].decode_payload() == heart_rate(71));

  const auto window = store.records_of("p-1001", at_ms(1'700'000'000'150), at_ms(1'700'000'000'300));
  REQUIRE(window.size() == 2);
  CHECK(window[0].id == 4);
  CHECK(window[1].id == 1);
  CHECK(store.records_of("p-1001", at_ms(1'700'000'000'301)).empty());
  CHECK(store.records_of("p-1001", {}, at_ms(1'700'000'000'100)).size() == 1);
  CHECK(store.records_of("p-404").empty());
  REQUIRE(store.get(3));
  CHECK(store.get(3)->patient_id == "p-1002");
  CHECK_FALSE(store.get(99));

  chain.flush();
  const auto logged = chain.find(tx_kind::record_stored);
  REQUIRE(logged.size() == 4);
  CHECK(logged[0].tx.field_string("record") == "1");
  CHECK(logged[2].tx.field_string("patient") == "p-1002");
  CHECK(logged[3].tx.field_string("hash") == Botan::hex_encode(r4.hash.data(), r4.hash.size(), false));
  CHECK(chain.verify().ok());
  CHECK(store.integrity_scan().ok());
}

TEST_CASE("record_store pages a patient's records in (timestamp, id) order after a cursor", "[iot][record_store][paging]") {
  store_fixture f;
  store_temp_dir dir;
  local_ledger chain;
  record_store store(dir.file("records.db"), f.keys, chain);
  // Two records share a timestamp, so the id breaks the tie; bob's record is never on alice's pages.
  const std::int64_t ms[] = {1'700'000'000'500, 1'700'000'000'100, 1'700'000'000'300, 1'700'000'000'300,
                             1'700'000'000'200};
  for (std::size_t i = 0; i < 5; ++i) REQUIRE(store.insert(f.make(f.alice, 60 + static_cast<std::int64_t>(i), ms[i])) == i + 1);
  REQUIRE(store.insert(f.make(f.bob, 90, 1'700'000'000'250)) == 6);
  const auto all = store.records_of("p-1001");
  REQUIRE(all.size() == 5);
  std::vector<std::uint64_t> order;
  for (const auto& r : all) order.push_back(r.id);
  CHECK(order == std::vector<std::uint64_t>{2, 5, 3, 4, 1});

  std::vector<std::uint64_t> paged;
  std::optional<record_cursor> after;
  for (int pages = 0; pages < 10; ++pages) {  // bounded: 3 pages are expected
    const auto page = store.records_of("p-1001", {}, {}, after, 2);
    CHECK(page.size() <= 2);
    for (const auto& r : page) paged.push_back(r.id);
    if (page.size() < 2) break;
    after = record_cursor::of(page.back());
  }
  CHECK(paged == order);
  // After the cursor of the first of the two tied records comes the second one.
  const auto tie = store.records_of("p-1001", {}, {}, record_cursor{at_ms(1'700'000'000'300), 3}, 1);
  REQUIRE(tie.size() == 1);
  CHECK(tie[0].id == 4);
  // Paging within a time window; a cursor past the end gives nothing.
  const auto window = store.records_of("p-1001", at_ms(1'700'000'000'200), at_ms(1'700'000'000'300),
                                       record_cursor{at_ms(1'700'000'000'200), 5}, 0);
  REQUIRE(window.size() == 2);
  CHECK(window[0].id == 3);
  CHECK(store.records_of("p-1001", {}, {}, record_cursor::of(all.back()), 0).empty());
  CHECK((record_cursor{at_ms(1), 9} < record_cursor{at_ms(2), 1}));
}

TEST_CASE("record_store refuses missing and invalid signatures, wrong hashes and duplicates",
          "[iot][record_store][refuse]") {
  store_fixture f;
  local_ledger chain;
  record_store store(":memory:", f.keys, chain);
  const auto good = f.make(f.alice, 72, 1'700'000'000'000);

  const auto refused = [&](const record& r, record_fault fault) {
    const auto result = store.try_insert(r);
    CHECK_FALSE(result.ok());
    CHECK(result.check.fault == fault);
    CHECK_FALSE(result.check.message.empty());
    try {
      store.insert(r);
      FAIL("insert accepted a record with fault " << to_string(fault));
    } catch (const record_refused& e) {
      CHECK(e.fault() == fault);
      CHECK_THAT(e.what(), Catch::Contains(std::string(to_string(fault))));
    }
  };

  auto r = good;
  r.patient_signature.clear();
  refused(r, record_fault::missing_patient_signature);
  r = good;
  r.patient_signature = f.bob.sign_digest(r.hash);  // someone else's card
  refused(r, record_fault::bad_patient_signature);
  r = good;
  r.patient_signature[5] ^= 1;
  refused(r, record_fault::bad_patient_signature);
  r = good;
  r.collector_signature.clear();
  refused(r, record_fault::missing_collector_signature);
  r = good;
  Botan::ECDSA_PrivateKey impostor(f.rng, Botan::EC_Group("secp256r1"));
  sign_as_collector(r, "collector-icu", impostor, f.rng);
  refused(r, record_fault::bad_collector_signature);
  r = good;
  sign_as_collector(r, "collector-er", f.collector_key, f.rng);  // no key registered for that id
  refused(r, record_fault::unknown_collector_key);
  r = good;
  r.payload_bytes = heart_rate(180).canonical_bytes();  // content changed after signing
  refused(r, record_fault::hash_mismatch);
  r = good;
  r.data_type = "heart rate";
  refused(r, record_fault::malformed);
  patient_smart_card<> stranger{"p-9999", f.rng};
  refused(f.make(stranger, 72, 1'700'000'000'000), record_fault::unknown_patient_key);

  CHECK(store.size() == 0);
  CHECK(stored_tx_count(chain) == 0);

  CHECK(store.insert(good) == 1);
  const auto again = store.try_insert(good);
  CHECK(again.check.fault == record_fault::duplicate);
  CHECK(again.id == 1);
  CHECK(store.size() == 1);
  CHECK(stored_tx_count(chain) == 1);
}

TEST_CASE("record_store integrity scan finds rows edited behind its back", "[iot][record_store][tamper]") {
  store_fixture f;
  store_temp_dir dir;
  const auto file = dir.file("records.db");
  record_store store(file, f.keys);
  std::vector<record> rows;
  for (int i = 0; i < 6; ++i) {
    rows.push_back(f.make(i % 2 == 0 ? f.alice : f.bob, 70 + i, 1'700'000'000'000 + i));
    REQUIRE(store.insert(rows.back()) == static_cast<std::uint64_t>(i + 1));
  }
  REQUIRE(store.integrity_scan().ok());

  const auto hex = [](const std::vector<std::uint8_t>& b) { return Botan::hex_encode(b, false); };
  // Row 1 (alice): a value changed in place; the stored hash no longer matches.
  raw_store_sql(file, "UPDATE hefl_records SET payload = '" + hex(heart_rate(180).canonical_bytes()) + "' WHERE id = 1");
  // Row 3 (alice): a value changed and the hash recomputed; only the patient signature tells.
  auto forged = rows[2];
  forged.payload_bytes = heart_rate(30).canonical_bytes();
  forged.hash = forged.compute_hash();
  raw_store_sql(file, "UPDATE hefl_records SET payload = '" + hex(forged.payload_bytes) + "', hash = '" +
                          Botan::hex_encode(forged.hash.data(), forged.hash.size(), false) + "' WHERE id = 3");
  // Row 4 (bob): a column of the wrong type (a BLOB keeps its type in a TEXT column).
  raw_store_sql(file, "UPDATE hefl_records SET patient_signature = X'0102' WHERE id = 4");
  // Row 6 (bob): deleted.
  raw_store_sql(file, "DELETE FROM hefl_records WHERE id = 6");

  const auto report = store.integrity_scan();
  CHECK_FALSE(report.ok());
  CHECK(report.rows_checked == 5);
  CHECK(report.tampered_ids() == std::vector<std::uint64_t>{1, 3, 4});
  REQUIRE(report.findings.size() == 3);
  CHECK(report.findings[0].fault == record_fault::hash_mismatch);
  CHECK(report.findings[1].fault == record_fault::bad_patient_signature);
  CHECK(report.findings[2].fault == record_fault::malformed);
  CHECK_THAT(report.findings[2].message, Catch::Contains("patient signature"));
  CHECK(report.missing_ids == std::vector<std::uint64_t>{6});
  CHECK(report.missing_count == 1);

  // Reads refuse to hand out tampered rows and name them; untouched rows still read.
  try {
    (void)store.records_of("p-1001");
    FAIL("records_of returned tampered rows");
  } catch (const record_integrity_error& e) {
    CHECK(e.ids() == std::vector<std::uint64_t>{1, 3});
  }
  CHECK_THROWS_AS(store.get(4), record_integrity_error);
  REQUIRE(store.get(2));
  CHECK(store.get(2)->decode_payload() == heart_rate(71));
  CHECK(store.get(5));
}

TEST_CASE("record_store keeps every record across a reopen", "[iot][record_store][durability]") {
  store_fixture f;
  store_temp_dir dir;
  const auto file = dir.file("durable.db");
  std::vector<record> written;
  {
    record_store store(file, f.keys);
    for (int i = 0; i < 3; ++i) {
      written.push_back(f.make(f.alice, 60 + i, 1'700'000'000'000 + 10 * i));
      written.back().id = store.insert(written.back());
    }
  }
  record_store reopened(file, f.keys);
  CHECK(reopened.size() == 3);
  CHECK(reopened.records_of("p-1001") == written);
  CHECK(reopened.integrity_scan().ok());
  CHECK(reopened.try_insert(written[1]).check.fault == record_fault::duplicate);
  CHECK(reopened.insert(f.make(f.alice, 99, 1'700'000'000'999)) == 4);
}

TEST_CASE("record_store keeps nothing of a failed insert", "[iot][record_store][transaction]") {
  store_fixture f;
  store_temp_dir dir;
  const auto file = dir.file("tx.db");
  const auto first = f.make(f.alice, 70, 1'700'000'000'000);
  const auto second = f.make(f.alice, 71, 1'700'000'000'001);

  SECTION("the ledger cannot log it") {
    // A replica that does not seal, with room for one pending transaction: the second submit throws.
    const auto sealer = sealer_key::generate("storage", Botan::system_rng());
    ledger_config cfg;
    cfg.max_block_transactions = 1;
    cfg.max_pending = 1;
    ledger full(make_genesis({sealer.identity()}, "full-chain", ledger_now()), cfg);
    {
      record_store store(file, f.keys, full);
      CHECK(store.insert(first) == 1);
      CHECK_THROWS_AS(store.insert(second), hefl::security_error);
      CHECK(store.size() == 1);
      CHECK(store.records_of("p-1001").size() == 1);
      CHECK(full.pending_count() == 1);
      const auto report = store.integrity_scan();
      CHECK(report.ok());  // the rolled-back insert did not even consume an id
    }
    local_ledger working;
    record_store store(file, f.keys, working);
    CHECK(store.insert(second) == 2);
  }

  SECTION("another connection holds the write lock") {
    record_store_options quick;
    quick.busy_timeout = 50ms;
    record_store store(file, f.keys, quick);
    CHECK(store.insert(first) == 1);
    Botan::Sqlite3_Database rival(file);
    rival.new_statement("BEGIN IMMEDIATE")->spin();
    CHECK_THROWS_AS(store.insert(second), hefl::io_error);
    rival.new_statement("ROLLBACK")->spin();
    CHECK(store.size() == 1);
    CHECK(store.integrity_scan().ok());
    CHECK(store.insert(second) == 2);
  }
}

TEST_CASE("record_store: two connections inserting at once lose nothing", "[iot][record_store][concurrency]") {
  store_fixture f;
  store_temp_dir dir;
  const auto file = dir.file("shared.db");
  local_ledger chain;
  std::vector<std::vector<record>> batches(2);
  for (int t = 0; t < 2; ++t)
    for (int i = 0; i < 8; ++i) batches[t].push_back(f.make(t == 0 ? f.alice : f.bob, 60 + i, 1'700'000'000'000 + i));
  record_store first(file, f.keys, chain);  // creates the table before the threads start
  std::vector<std::vector<std::uint64_t>> ids(2);
  std::vector<std::thread> writers;
  for (int t = 0; t < 2; ++t)
    writers.emplace_back([&, t] {
      record_store own(file, f.keys, chain);  // a separate SQLite connection per thread
      for (const auto& r : batches[t]) ids[t].push_back(own.insert(r));
    });
  for (auto& w : writers) w.join();
  std::set<std::uint64_t> all(ids[0].begin(), ids[0].end());
  all.insert(ids[1].begin(), ids[1].end());
  CHECK(all.size() == 16);
  CHECK(*all.rbegin() == 16);
  CHECK(first.size() == 16);
  CHECK(first.records_of("p-1002").size() == 8);
  CHECK(first.integrity_scan().ok());
  CHECK(stored_tx_count(chain) == 16);
}

TEST_CASE("record_store reports unusable files as io_error", "[iot][record_store]") {
  store_fixture f;
  store_temp_dir dir;
  const auto junk = dir.file("junk.db");
  {
    std::ofstream out(junk, std::ios::binary);
    out << std::string(4096, 'x');
  }
  CHECK_THROWS_AS(record_store(junk, f.keys), hefl::io_error);
  CHECK_THROWS_AS(record_store(dir.file("missing-dir/records.db"), f.keys), hefl::io_error);
}
