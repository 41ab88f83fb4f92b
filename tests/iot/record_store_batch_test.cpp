// record_store::try_insert_batch: many records, one SQLite transaction, one COMMIT.
#include <hefl/iot/storage/record_store.hpp>

#include <catch2/catch.hpp>

#include <botan/auto_rng.h>
#include <botan/ecdsa.h>
#include <botan/hex.h>
#include <botan/system_rng.h>

#include <filesystem>
#include <string>
#include <vector>

using namespace hefl::iot;
using namespace std::chrono_literals;

namespace {

struct batch_fixture {
  Botan::AutoSeeded_RNG rng;
  clock_time t0 = std::chrono::system_clock::now();
  certificate_authority ca{"St Mary Hospital", t0};
  trust_store trust = trust_store::in_memory();
  Botan::ECDSA_PrivateKey collector_key{rng, Botan::EC_Group("secp256r1")};
  patient_smart_card<> alice{"p-1001", rng};
  patient_smart_card<> mallory{"p-1001", rng};  // a card for alice's id that is not alice's
  sgtin96 monitor = sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345.6789", 1);
  identity_directory keys;
  std::filesystem::path dir;

  batch_fixture() {
    trust.add_root(ca.root());
    trust.add_crl(ca.crl());
    identity id;
    id.role = role::collector;
    id.subject_id = "collector-icu";
    REQUIRE(keys.enrol_collector({ca.issue(collector_key, id, t0 - 1h, 24h)}, trust, t0));
    keys.add_patient_key("p-1001", alice.public_key());
    std::vector<std::uint8_t> r(8);
    Botan::system_rng().randomize(r.data(), r.size());
    dir = std::filesystem::temp_directory_path() / ("hefl_batch_" + Botan::hex_encode(r, false));
    std::filesystem::create_directories(dir);
  }
  ~batch_fixture() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  record make(patient_smart_card<>& card, std::int64_t bpm, std::int64_t ms) {
    payload p;
    p.type = "heart_rate";
    p.fields.emplace("bpm", bpm);
    return make_record("p-1001", monitor, "heart_rate", p, record_time(std::chrono::milliseconds(ms)), card,
                       "collector-icu", collector_key, rng);
  }
};

} // namespace

TEST_CASE("record_store stores a batch in one commit, judging each record on its own", "[iot][record_store][batch]") {
  batch_fixture f;
  local_ledger chain;
  const auto path = (f.dir / "records.sqlite").string();
  std::vector<record> batch;
  {
    record_store<> store(path, f.keys, chain);
    const auto first = f.make(f.alice, 70, 1'700'000'000'000);
    REQUIRE(store.try_insert(first));
    CHECK(store.commit_count() == 1);

    const auto a = f.make(f.alice, 71, 1'700'000'000'001);
    const auto b = f.make(f.alice, 72, 1'700'000'000'002);
    batch = {a, first, b, a, f.make(f.mallory, 73, 1'700'000'000'003), f.make(f.alice, 74, 1'700'000'000'004)};
    const auto results = store.try_insert_batch(batch);
    REQUIRE(results.size() == batch.size());
    CHECK(results[0].ok());
    CHECK(results[1].check.fault == record_fault::duplicate);  // stored before
    CHECK(results[1].id == 1);
    CHECK(results[2].ok());
    CHECK(results[3].check.fault == record_fault::duplicate);  // same record earlier in this batch
    CHECK(results[3].id == results[0].id);
    CHECK(results[4].check.fault == record_fault::bad_patient_signature);
    CHECK(results[5].ok());
    CHECK(store.commit_count() == 2);  // one COMMIT for the three stored records
    CHECK(store.size() == 4);
    CHECK(store.journal_size() == 4);

    // A batch in which nothing is stored commits nothing.
    const std::vector<record> refused{first, f.make(f.mallory, 75, 1'700'000'000'005)};
    const auto none = store.try_insert_batch(refused);
    CHECK_FALSE(none[0].ok());
    CHECK_FALSE(none[1].ok());
    CHECK(store.commit_count() == 2);
    CHECK(store.try_insert_batch({}).empty());
  }
  // The batch is durable: a reopened store has every row, each verifying, and its ledger entries.
  record_store<> reopened(path, f.keys, chain);
  CHECK(reopened.size() == 4);
  CHECK(reopened.get(2) == std::optional<record>([&] {
          auto r = batch[0];
          r.id = 2;
          return r;
        }()));
  chain.flush();
  CHECK(chain.find(tx_kind::record_stored).size() == 4);
  CHECK(reopened.integrity_scan().ok());
}
