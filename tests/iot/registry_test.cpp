#include <hefl/iot/hospital/registry.hpp>
#include "test_support.hpp"

#include <botan/sqlite3.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <random>

using namespace hefl::iot;

namespace {

sgtin96 epc(std::uint64_t serial) { return sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345." + std::to_string(serial), 1); }

/// Two patients, two collectors, three devices, a doctor and a nurse.
void populate(registry& r) {
  r.register_patient({"p-1001", "cardiology", "12", "A"});
  r.register_patient({"p-1002", "cardiology", "12", "B"});
  r.register_collector("collector-card");
  r.register_collector("collector-icu");
  r.register_device(epc(1), "p-1001", "collector-card");
  r.register_device(epc(2), "p-1001", "collector-card");
  r.register_device(epc(3), "p-1002", "collector-icu");
  r.register_staff("dr.house", role::doctor);
  r.register_staff("nurse.joy", role::nurse);
  r.assign("dr.house", "p-1001");
  r.assign("dr.house", "p-1002");
  r.assign("nurse.joy", "p-1002");
}

using hefl_test::temp_dir;

identity person(role r, const std::string& id) {
  identity i;
  i.role = r;
  i.subject_id = id;
  return i;
}

} // namespace

TEST_CASE("registry answers assignment queries", "[iot][registry]") {
  registry r;
  populate(r);
  CHECK_FALSE(r.persistent());
  CHECK(r.patient_count() == 2);
  CHECK(r.device_count() == 3);
  CHECK(r.staff_count() == 2);
  CHECK(r.collector_count() == 2);
  CHECK(r.is_assigned("dr.house", "p-1001"));
  CHECK(r.is_assigned("nurse.joy", "p-1002"));
  CHECK_FALSE(r.is_assigned("nurse.joy", "p-1001"));
  CHECK_FALSE(r.is_assigned("nobody", "p-1001"));
  CHECK(r.patient_of(epc(2)) == "p-1001");
  CHECK(r.collector_of(epc(3)) == "collector-icu");
  CHECK_FALSE(r.patient_of(epc(99)));
  CHECK(r.device_serves(epc(1), "p-1001", "collector-card"));
  CHECK_FALSE(r.device_serves(epc(1), "p-1002", "collector-card"));   // wrong patient
  CHECK_FALSE(r.device_serves(epc(1), "p-1001", "collector-icu"));    // wrong collector
  CHECK_FALSE(r.device_serves(epc(42), "p-1001", "collector-card"));  // unknown device
  CHECK(r.devices_of("p-1001") == std::vector{epc(1), epc(2)});
  CHECK(r.patients_of("dr.house") == std::vector<std::string>{"p-1001", "p-1002"});
  CHECK(r.staff_of("p-1002") == std::vector<std::string>{"dr.house", "nurse.joy"});
  CHECK(r.staff_role("nurse.joy") == role::nurse);
  CHECK(r.patient("p-1002")->bed == "B");
  CHECK_FALSE(r.patient("p-9"));
  CHECK(r.has_collector("collector-icu"));

  CHECK(r.may_read(person(role::nurse, "nurse.joy"), "p-1002"));
  CHECK_FALSE(r.may_read(person(role::nurse, "nurse.joy"), "p-1001"));
  CHECK_FALSE(r.may_read(person(role::doctor, "nurse.joy"), "p-1002"));  // certificate role must match registration
  CHECK_FALSE(r.may_read(person(role::patient, "p-1002"), "p-1002"));
  CHECK_FALSE(r.may_read(person(role::admin, "dr.house"), "p-1001"));

  CHECK(r.unassign("dr.house", "p-1001"));
  CHECK_FALSE(r.unassign("dr.house", "p-1001"));
  CHECK_FALSE(r.is_assigned("dr.house", "p-1001"));
  r.reassign_device(epc(2), "p-1002");
  CHECK(r.patient_of(epc(2)) == "p-1002");
  CHECK(r.collector_of(epc(2)) == "collector-card");
}

TEST_CASE("registry refuses duplicates and unknown references", "[iot][registry]") {
  registry r;
  populate(r);
  CHECK_THROWS_WITH(r.register_patient({"p-1001", "oncology", "1", "A"}), Catch::Contains("\"p-1001\" is already registered"));
  CHECK_THROWS_WITH(r.register_patient({"p-2000", "cardiology", "12", "A"}), Catch::Contains("already taken by \"p-1001\""));
  CHECK_THROWS_AS(r.register_collector("collector-icu"), hefl::invalid_argument);
  CHECK_THROWS_WITH(r.register_device(epc(1), "p-1002", "collector-icu"), Catch::Contains("already registered"));
  CHECK_THROWS_WITH(r.register_device(epc(9), "p-404", "collector-icu"), Catch::Contains("unknown patient \"p-404\""));
  CHECK_THROWS_WITH(r.register_device(epc(9), "p-1001", "collector-x"), Catch::Contains("unknown collector"));
  CHECK_THROWS_AS(r.register_staff("dr.house", role::doctor), hefl::invalid_argument);
  CHECK_THROWS_WITH(r.register_staff("admin-1", role::admin), Catch::Contains("doctor or nurse, got admin"));
  CHECK_THROWS_WITH(r.assign("dr.who", "p-1001"), Catch::Contains("unknown staff member"));
  CHECK_THROWS_WITH(r.assign("nurse.joy", "p-404"), Catch::Contains("unknown patient"));
  CHECK_THROWS_WITH(r.assign("nurse.joy", "p-1002"), Catch::Contains("already assigned"));
  CHECK_THROWS_AS(r.unassign("dr.who", "p-1001"), hefl::invalid_argument);
  CHECK_THROWS_AS(r.reassign_device(epc(77), "p-1001"), hefl::invalid_argument);
  CHECK_THROWS_AS(r.reassign_device(epc(1), "p-404"), hefl::invalid_argument);
  // Malformed fields.
  CHECK_THROWS_AS(r.register_patient({"", "d", "r", "b"}), hefl::invalid_argument);
  CHECK_THROWS_AS(r.register_patient({"p x", "d", "r", "b"}), hefl::invalid_argument);
  CHECK_THROWS_WITH(r.register_patient({"p-3", "", "r", "b"}), Catch::Contains("department: expected 1..64"));
  CHECK_THROWS_AS(r.register_patient({"p-3", "d", "r\n", "b"}), hefl::invalid_argument);
  CHECK_THROWS_AS(r.register_collector(std::string(65, 'c')), hefl::invalid_argument);
  sgtin96 bad = epc(5);
  bad.serial = sgtin96::max_serial + 1;
  CHECK_THROWS_AS(r.register_device(bad, "p-1001", "collector-icu"), hefl::invalid_argument);
  // Nothing refused left a trace.
  CHECK(r.patient_count() == 2);
  CHECK(r.device_count() == 3);
  CHECK(r.staff_count() == 2);
  CHECK(r.patients_of("nurse.joy") == std::vector<std::string>{"p-1002"});
}

TEST_CASE("registry persists through SQLite and refuses tampered rows", "[iot][registry]") {
  temp_dir dir;
  const auto file = dir.path / "registry.sqlite";
  {
    auto r = registry::open_sqlite(file);
    CHECK(r.persistent());
    populate(r);
    r.unassign("dr.house", "p-1002");
    r.reassign_device(epc(2), "p-1002");
    CHECK_THROWS_AS(r.register_collector("collector-icu"), hefl::invalid_argument);
  }
  {
    auto r = registry::open_sqlite(file);
    CHECK(r.patient_count() == 2);
    CHECK(r.device_count() == 3);
    CHECK(r.is_assigned("dr.house", "p-1001"));
    CHECK_FALSE(r.is_assigned("dr.house", "p-1002"));
    CHECK(r.is_assigned("nurse.joy", "p-1002"));
    CHECK(r.patient_of(epc(2)) == "p-1002");
    CHECK(r.staff_role("dr.house") == role::doctor);
    CHECK(r.patient("p-1001") == patient_record{"p-1001", "cardiology", "12", "A"});
    r.register_patient({"p-1003", "icu", "1", "A"});
  }
  CHECK(registry::open_sqlite(file).patient_count() == 3);
  {
    // A device row pointing at a patient nobody registered.
    Botan::Sqlite3_Database db(file.string());
    auto s = db.new_statement("INSERT INTO hefl_devices (epc, patient, collector) VALUES (?1, ?2, ?3)");
    s->bind(1, epc(50).to_hex());
    s->bind(2, std::string("ghost"));
    s->bind(3, std::string("collector-icu"));
    s->spin();
  }
  CHECK_THROWS_WITH(registry::open_sqlite(file), Catch::Contains("unknown patient \"ghost\""));
  {
    Botan::Sqlite3_Database db(file.string());
    db.new_statement("DELETE FROM hefl_devices WHERE patient = 'ghost'")->spin();
    auto s = db.new_statement("UPDATE hefl_devices SET epc = 'ZZZ' WHERE epc = ?1");
    s->bind(1, epc(3).to_hex());
    s->spin();
  }
  CHECK_THROWS_AS(registry::open_sqlite(file), hefl::parse_error);
  {
    Botan::Sqlite3_Database db(file.string());
    db.new_statement("UPDATE hefl_devices SET epc = '" + epc(3).to_hex() + "' WHERE epc = 'ZZZ'")->spin();
    // A database that refuses writes (here a trigger) must not be mistaken for success.
    db.new_statement("CREATE TRIGGER refuse BEFORE INSERT ON hefl_collectors BEGIN SELECT RAISE(IGNORE); END")->spin();
  }
  auto r = registry::open_sqlite(file);
  CHECK_THROWS_AS(r.register_collector("collector-new"), hefl::io_error);
  CHECK_FALSE(r.has_collector("collector-new"));
  CHECK_THROWS_AS(registry::open_sqlite(dir.path / "missing-dir" / "r.sqlite"), hefl::io_error);
}
