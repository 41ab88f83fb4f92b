#pragma once
/// @file
/// Hospital registration (seed paper 003, "Scenario" and "Certificate Distribution"): patients with
/// their bed, collectors, devices assigned to a patient and a collector, doctors and nurses assigned
/// to patients. Registration refuses duplicates and unknown references, so the collector validator
/// and the record store can ask "does this device serve this patient through me?" and "may this
/// nurse read this patient?". In memory, optionally written through to SQLite (Botan::Sqlite3_Database).

#include <hefl/core/error.hpp>
#include <hefl/iot/epc.hpp>
#include <hefl/iot/identity.hpp>

#include <botan/sqlite3.h>

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace hefl::iot {

/// A hospitalised patient and where they lie; no two patients share a department/room/bed.
struct patient_record {
  std::string id;          ///< patient id, as in the patient's certificate subject id
  std::string department;
  std::string room;
  std::string bed;
  friend bool operator==(const patient_record&, const patient_record&) = default;
};

/// A device, the patient it measures and the collector it reports to.
struct device_record {
  sgtin96 epc;
  std::string patient_id;
  std::string collector_id;
  friend bool operator==(const device_record&, const device_record&) = default;
};

/// In-memory registry with optional SQLite write-through. Thread-safe (shared reads, exclusive writes).
class registry {
public:
  /// An empty registry that lives in memory only.
  registry() = default;

  /// Opens (creating if needed) a registry persisted in the SQLite file @p file and loads it.
  /// @throws hefl::io_error if the database cannot be opened or read.
  /// @throws hefl::parse_error if a stored row violates the registration rules.
  [[nodiscard]] static registry open_sqlite(const std::filesystem::path& file) {
    registry r;
    try {
      r.m_db = std::make_shared<Botan::Sqlite3_Database>(file.string());
      r.m_db->create_table(
          "CREATE TABLE IF NOT EXISTS hefl_patients (id TEXT PRIMARY KEY, department TEXT, room TEXT, bed TEXT)");
      r.m_db->create_table("CREATE TABLE IF NOT EXISTS hefl_collectors (id TEXT PRIMARY KEY)");
      r.m_db->create_table("CREATE TABLE IF NOT EXISTS hefl_devices (epc TEXT PRIMARY KEY, patient TEXT, collector TEXT)");
      r.m_db->create_table("CREATE TABLE IF NOT EXISTS hefl_staff (id TEXT PRIMARY KEY, role INTEGER)");
      r.m_db->create_table(
          "CREATE TABLE IF NOT EXISTS hefl_assignments (staff TEXT, patient TEXT, PRIMARY KEY (staff, patient))");
      // Replaying the rows through the same checks refuses a database edited into an inconsistent state.
      const auto db = std::move(r.m_db);
      try {
        auto s = db->new_statement("SELECT id, department, room, bed FROM hefl_patients ORDER BY rowid");
        while (s->step()) r.register_patient({s->get_str(0), s->get_str(1), s->get_str(2), s->get_str(3)});
        s = db->new_statement("SELECT id FROM hefl_collectors ORDER BY rowid");
        while (s->step()) r.register_collector(s->get_str(0));
        s = db->new_statement("SELECT epc, patient, collector FROM hefl_devices ORDER BY rowid");
        while (s->step()) r.register_device(sgtin96::from_hex(s->get_str(0)), s->get_str(1), s->get_str(2));
        s = db->new_statement("SELECT id, role FROM hefl_staff ORDER BY rowid");
        while (s->step()) {
          const auto role_value = s->get_size_t(1);
          if (role_value > static_cast<std::size_t>(role::patient))
            throw parse_error("registry: stored staff role " + std::to_string(role_value) + " is not a role");
          r.register_staff(s->get_str(0), static_cast<role>(role_value));
        }
        s = db->new_statement("SELECT staff, patient FROM hefl_assignments ORDER BY rowid");
        while (s->step()) r.assign(s->get_str(0), s->get_str(1));
      } catch (const invalid_argument& e) {
        throw parse_error(std::string("registry ") + file.string() + ": stored row refused: " + e.what());
      }
      r.m_db = db;
    } catch (const Botan::Exception& e) {
      throw io_error("registry " + file.string() + ": " + e.what());
    }
    return r;
  }

  registry(registry&&) noexcept = default;
  registry& operator=(registry&&) noexcept = default;

  /// Registers a patient.
  /// @throws hefl::invalid_argument on a bad id or location field, a duplicate id or an occupied bed.
  /// @throws hefl::io_error if the SQLite write fails.
  void register_patient(const patient_record& p) {
    check_id(p.id, "patient id");
    check_text(p.department, "department");
    check_text(p.room, "room");
    check_text(p.bed, "bed");
    std::unique_lock lock(*m_mutex);
    if (m_patients.contains(p.id)) throw invalid_argument("registry: patient \"" + p.id + "\" is already registered");
    for (const auto& [id, other] : m_patients) {
      if (other.department == p.department && other.room == p.room && other.bed == p.bed)
        throw invalid_argument("registry: bed " + p.department + "/" + p.room + "/" + p.bed + " is already taken by \"" +
                               id + "\"");
    }
    write("INSERT INTO hefl_patients (id, department, room, bed) VALUES (?1, ?2, ?3, ?4)", {p.id, p.department, p.room, p.bed});
    m_patients.emplace(p.id, p);
  }

  /// Registers a collector.
  /// @throws hefl::invalid_argument on a bad or duplicate id. @throws hefl::io_error on a failed write.
  void register_collector(const std::string& id) {
    check_id(id, "collector id");
    std::unique_lock lock(*m_mutex);
    if (m_collectors.contains(id)) throw invalid_argument("registry: collector \"" + id + "\" is already registered");
    write("INSERT INTO hefl_collectors (id) VALUES (?1)", {id});
    m_collectors.insert(id);
  }

  /// Registers a device assigned to a registered patient and collector.
  /// @throws hefl::invalid_argument on an invalid EPC, a duplicate EPC, or an unknown patient or collector.
  /// @throws hefl::io_error on a failed write.
  void register_device(const sgtin96& epc, const std::string& patient_id, const std::string& collector_id) {
    epc.validate();
    std::unique_lock lock(*m_mutex);
    if (m_devices.contains(epc)) throw invalid_argument("registry: device " + epc.to_urn() + " is already registered");
    require_patient(patient_id);
    require_collector(collector_id);
    write("INSERT INTO hefl_devices (epc, patient, collector) VALUES (?1, ?2, ?3)", {epc.to_hex(), patient_id, collector_id});
    m_devices.emplace(epc, device_record{epc, patient_id, collector_id});
  }

  /// Moves a registered device to another registered patient (e.g. after a discharge).
  /// @throws hefl::invalid_argument on an unknown device or patient. @throws hefl::io_error on a failed write.
  void reassign_device(const sgtin96& epc, const std::string& patient_id) {
    std::unique_lock lock(*m_mutex);
    const auto it = m_devices.find(epc);
    if (it == m_devices.end()) throw invalid_argument("registry: unknown device " + epc.to_hex());
    require_patient(patient_id);
    write("UPDATE hefl_devices SET patient = ?2 WHERE epc = ?1", {epc.to_hex(), patient_id});
    it->second.patient_id = patient_id;
  }

  /// Registers a doctor or nurse.
  /// @throws hefl::invalid_argument on a bad or duplicate id or a role other than doctor/nurse.
  /// @throws hefl::io_error on a failed write.
  void register_staff(const std::string& id, role r) {
    check_id(id, "staff id");
    if (r != role::doctor && r != role::nurse)
      throw invalid_argument("registry: staff role must be doctor or nurse, got " + std::string(to_string(r)));
    std::unique_lock lock(*m_mutex);
    if (m_staff.contains(id)) throw invalid_argument("registry: staff \"" + id + "\" is already registered");
    write("INSERT INTO hefl_staff (id, role) VALUES (?1, ?2)", {id}, static_cast<std::size_t>(r));
    m_staff.emplace(id, staff_entry{r, {}});
  }

  /// Assigns a registered doctor or nurse to a registered patient.
  /// @throws hefl::invalid_argument on an unknown staff member or patient, or an existing assignment.
  /// @throws hefl::io_error on a failed write.
  void assign(const std::string& staff_id, const std::string& patient_id) {
    std::unique_lock lock(*m_mutex);
    auto& s = require_staff(staff_id);
    require_patient(patient_id);
    if (s.patients.contains(patient_id))
      throw invalid_argument("registry: \"" + staff_id + "\" is already assigned to \"" + patient_id + "\"");
    write("INSERT INTO hefl_assignments (staff, patient) VALUES (?1, ?2)", {staff_id, patient_id});
    s.patients.insert(patient_id);
  }

  /// Ends an assignment.
  /// @return false if there was none. @throws hefl::invalid_argument on an unknown staff member.
  /// @throws hefl::io_error on a failed write.
  bool unassign(const std::string& staff_id, const std::string& patient_id) {
    std::unique_lock lock(*m_mutex);
    auto& s = require_staff(staff_id);
    if (!s.patients.contains(patient_id)) return false;
    write("DELETE FROM hefl_assignments WHERE staff = ?1 AND patient = ?2", {staff_id, patient_id});
    s.patients.erase(patient_id);
    return true;
  }

  /// Whether @p staff_id is a registered doctor or nurse assigned to @p patient_id (false for unknown ids).
  [[nodiscard]] bool is_assigned(std::string_view staff_id, std::string_view patient_id) const {
    std::shared_lock lock(*m_mutex);
    const auto it = m_staff.find(staff_id);
    return it != m_staff.end() && it->second.patients.contains(patient_id);
  }

  /// Whether the holder of @p reader (a certificate identity) may read @p patient_id's records:
  /// a doctor or nurse, registered with the same role, and assigned to the patient.
  [[nodiscard]] bool may_read(const identity& reader, std::string_view patient_id) const {
    if (reader.role != role::doctor && reader.role != role::nurse) return false;
    std::shared_lock lock(*m_mutex);
    const auto it = m_staff.find(reader.subject_id);
    return it != m_staff.end() && it->second.role == reader.role && it->second.patients.contains(patient_id);
  }

  /// Whether @p epc is registered to measure @p patient_id and report to @p collector_id.
  [[nodiscard]] bool device_serves(const sgtin96& epc, std::string_view patient_id, std::string_view collector_id) const {
    std::shared_lock lock(*m_mutex);
    const auto it = m_devices.find(epc);
    return it != m_devices.end() && it->second.patient_id == patient_id && it->second.collector_id == collector_id;
  }

  /// The registration of a device, if any.
  [[nodiscard]] std::optional<device_record> device(const sgtin96& epc) const {
    std::shared_lock lock(*m_mutex);
    const auto it = m_devices.find(epc);
    if (it == m_devices.end()) return std::nullopt;
    return it->second;
  }

  /// The patient a device is assigned to, if the device is registered.
  [[nodiscard]] std::optional<std::string> patient_of(const sgtin96& epc) const {
    auto d = device(epc);
    if (!d) return std::nullopt;
    return std::move(d->patient_id);
  }

  /// The collector a device reports to, if the device is registered.
  [[nodiscard]] std::optional<std::string> collector_of(const sgtin96& epc) const {
    auto d = device(epc);
    if (!d) return std::nullopt;
    return std::move(d->collector_id);
  }

  /// A patient's registration, if any.
  [[nodiscard]] std::optional<patient_record> patient(std::string_view id) const {
    std::shared_lock lock(*m_mutex);
    const auto it = m_patients.find(id);
    if (it == m_patients.end()) return std::nullopt;
    return it->second;
  }

  /// The devices assigned to a patient, in EPC order.
  [[nodiscard]] std::vector<sgtin96> devices_of(std::string_view patient_id) const {
    std::shared_lock lock(*m_mutex);
    std::vector<sgtin96> out;
    for (const auto& [epc, d] : m_devices) {
      if (d.patient_id == patient_id) out.push_back(epc);
    }
    return out;
  }

  /// The patients a staff member is assigned to, sorted; empty for an unknown id.
  [[nodiscard]] std::vector<std::string> patients_of(std::string_view staff_id) const {
    std::shared_lock lock(*m_mutex);
    const auto it = m_staff.find(staff_id);
    if (it == m_staff.end()) return {};
    return {it->second.patients.begin(), it->second.patients.end()};
  }

  /// The staff assigned to a patient, sorted.
  [[nodiscard]] std::vector<std::string> staff_of(std::string_view patient_id) const {
    std::shared_lock lock(*m_mutex);
    std::vector<std::string> out;
    for (const auto& [id, s] : m_staff) {
      if (s.patients.contains(patient_id)) out.push_back(id);
    }
    return out;
  }

  /// The role of a registered staff member.
  [[nodiscard]] std::optional<role> staff_role(std::string_view staff_id) const {
    std::shared_lock lock(*m_mutex);
    const auto it = m_staff.find(staff_id);
    if (it == m_staff.end()) return std::nullopt;
    return it->second.role;
  }

  /// Whether a collector is registered.
  [[nodiscard]] bool has_collector(std::string_view id) const {
    std::shared_lock lock(*m_mutex);
    return m_collectors.contains(id);
  }

  /// Counts, for reports and tests.
  [[nodiscard]] std::size_t patient_count() const { std::shared_lock lock(*m_mutex); return m_patients.size(); }
  [[nodiscard]] std::size_t device_count() const { std::shared_lock lock(*m_mutex); return m_devices.size(); }
  [[nodiscard]] std::size_t staff_count() const { std::shared_lock lock(*m_mutex); return m_staff.size(); }
  [[nodiscard]] std::size_t collector_count() const { std::shared_lock lock(*m_mutex); return m_collectors.size(); }

  /// Whether writes go to SQLite.
  [[nodiscard]] bool persistent() const noexcept { return m_db != nullptr; }

private:
  struct staff_entry {
    iot::role role;
    std::set<std::string, std::less<>> patients;
  };

  // Ids are matched against certificate subject ids, so they follow the same character rules.
  static void check_id(const std::string& id, const char* what) {
    if (id.empty() || id.size() > identity::max_subject_id)
      throw invalid_argument(std::string("registry ") + what + ": expected 1..64 characters, got " + std::to_string(id.size()));
    for (const char c : id) {
      if (!identity::valid_subject_char(c))
        throw invalid_argument(std::string("registry ") + what + ": expected letters, digits or -._:@, got \"" + id + "\"");
    }
  }

  static void check_text(const std::string& text, const char* what) {
    if (text.empty() || text.size() > 64)
      throw invalid_argument(std::string("registry ") + what + ": expected 1..64 characters, got " + std::to_string(text.size()));
    for (const char c : text) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F)
        throw invalid_argument(std::string("registry ") + what + ": control characters are not allowed");
    }
  }

  void require_patient(const std::string& id) const {
    if (!m_patients.contains(id)) throw invalid_argument("registry: unknown patient \"" + id + "\"");
  }
  void require_collector(const std::string& id) const {
    if (!m_collectors.contains(id)) throw invalid_argument("registry: unknown collector \"" + id + "\"");
  }
  staff_entry& require_staff(const std::string& id) {
    const auto it = m_staff.find(id);
    if (it == m_staff.end()) throw invalid_argument("registry: unknown staff member \"" + id + "\"");
    return it->second;
  }

  // Writes before the in-memory change, so memory never holds what the database refused.
  void write(const std::string& sql, const std::vector<std::string>& text, std::optional<std::size_t> number = {}) {
    if (!m_db) return;
    try {
      auto stmt = m_db->new_statement(sql);
      int column = 1;
      for (const auto& t : text) stmt->bind(column++, t);
      if (number) stmt->bind(column, *number);
      stmt->spin();
      // Botan's Sqlite3 statement ignores sqlite3_step errors, so a refused write shows only as no change.
      auto changes = m_db->new_statement("SELECT changes()");
      if (!changes->step() || changes->get_size_t(0) == 0)
        throw io_error("registry: database write was not applied: " + sql);
    } catch (const Botan::Exception& e) {
      throw io_error(std::string("registry: database write failed: ") + e.what());
    }
  }

  std::unique_ptr<std::shared_mutex> m_mutex = std::make_unique<std::shared_mutex>();
  std::map<std::string, patient_record, std::less<>> m_patients;
  std::set<std::string, std::less<>> m_collectors;
  std::map<sgtin96, device_record> m_devices;
  std::map<std::string, staff_entry, std::less<>> m_staff;
  std::shared_ptr<Botan::Sqlite3_Database> m_db;
};

} // namespace hefl::iot
