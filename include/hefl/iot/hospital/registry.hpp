#pragma once
/// @file
/// Hospital registration (seed paper 003, "Scenario" and "Certificate Distribution"): patients with
/// their bed, collectors, devices assigned to a patient and a collector, doctors and nurses assigned
/// to patients. Registration refuses duplicates and unknown references, so the collector validator
/// and the record store can ask "does this device serve this patient through me?" and "may this
/// nurse read this patient?". In memory, optionally written through to SQLite (Botan::Sqlite3_Database).
///
/// Changes requested by administrators go through registration_desk: each change is a JSON object
/// signed by an admin's key, carries the registry's next change number (so a captured change cannot
/// be replayed or reordered, also across restarts when the registry persists), and is written to the
/// ledger as a "registration" entry before it is applied. The mutators of registry itself are for
/// the node's own set-up and loading.

#include <hefl/core/error.hpp>
#include <hefl/iot/pki/epc.hpp>
#include <hefl/iot/pki/identity.hpp>
#include <hefl/iot/ledger/ledger.hpp>
#include <hefl/iot/pki/pki.hpp>
#include <hefl/iot/collection/rules.hpp>
#include <hefl/iot/pki/signing.hpp>

#include <botan/sqlite3.h>
#include <botan/x509cert.h>
#include <nlohmann/json.hpp>

#include <charconv>
#include <chrono>
#include <functional>
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
      r.m_db->create_table("CREATE TABLE IF NOT EXISTS hefl_registry_changes (id INTEGER PRIMARY KEY, next TEXT NOT NULL)");
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
        s = db->new_statement("SELECT next FROM hefl_registry_changes WHERE id = 0");
        if (s->step()) {
          const auto text = s->get_str(0);
          std::uint64_t next = 0;
          const auto res = std::from_chars(text.data(), text.data() + text.size(), next);
          if (res.ec != std::errc{} || res.ptr != text.data() + text.size() || next == 0)
            throw parse_error("registry " + file.string() + ": stored change number is not a positive integer");
          r.m_next_change = next;
        }
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

  /// Removes a device: from now on the collector validator and the storage guard refuse it as unknown.
  /// @return false if it was not registered. @throws hefl::io_error on a failed write.
  bool deregister_device(const sgtin96& epc) {
    std::unique_lock lock(*m_mutex);
    if (!m_devices.contains(epc)) return false;
    write("DELETE FROM hefl_devices WHERE epc = ?1", {epc.to_hex()});
    m_devices.erase(epc);
    return true;
  }

  /// The number the next administrator change must carry (1 for a new registry).
  [[nodiscard]] std::uint64_t next_change() const {
    std::shared_lock lock(*m_mutex);
    return m_next_change;
  }

  /// Applies one administrator change (see registration_desk for who may ask): @p change is a JSON
  /// object with "op" and its arguments, and "change" equal to next_change(). Ops: register_patient
  /// (patient, department, room, bed), register_collector (collector), register_device (epc as 24 hex
  /// digits, patient, collector), reassign_device (epc, patient), deregister_device (epc),
  /// register_staff (staff, role "doctor"/"nurse"), assign and unassign (staff, patient).
  /// @throws hefl::invalid_argument naming the problem (wrong number, unknown op, missing or bad
  ///         argument, or what the op itself refuses); hefl::io_error on a failed write
  void apply_change(const nlohmann::json& change) {
    if (!change.is_object()) throw invalid_argument("registry change: expected a JSON object");
    const auto text = [&](const char* key) -> std::string {
      const auto it = change.find(key);
      if (it == change.end() || !it->is_string())
        throw invalid_argument(std::string("registry change: missing string \"") + key + "\"");
      return it->get<std::string>();
    };
    const auto number = change.find("change");
    if (number == change.end() || !number->is_number_unsigned())
      throw invalid_argument("registry change: missing change number");
    const auto seq = number->get<std::uint64_t>();
    if (seq != next_change())
      throw invalid_argument("registry change: number " + std::to_string(seq) + ", expected " +
                             std::to_string(next_change()) + " (a replayed or reordered change)");
    const std::string op = text("op");
    if (op == "register_patient") register_patient({text("patient"), text("department"), text("room"), text("bed")});
    else if (op == "register_collector") register_collector(text("collector"));
    else if (op == "register_device") register_device(sgtin96::from_hex(text("epc")), text("patient"), text("collector"));
    else if (op == "reassign_device") reassign_device(sgtin96::from_hex(text("epc")), text("patient"));
    else if (op == "deregister_device") {
      if (!deregister_device(sgtin96::from_hex(text("epc")))) throw invalid_argument("registry change: unknown device");
    } else if (op == "register_staff") {
      const auto r = text("role");
      if (r != "doctor" && r != "nurse") throw invalid_argument("registry change: role must be doctor or nurse");
      register_staff(text("staff"), r == "doctor" ? role::doctor : role::nurse);
    } else if (op == "assign") assign(text("staff"), text("patient"));
    else if (op == "unassign") {
      if (!unassign(text("staff"), text("patient"))) throw invalid_argument("registry change: no such assignment");
    } else throw invalid_argument("registry change: unknown op \"" + record_safe(op) + "\"");
    std::unique_lock lock(*m_mutex);
    if (m_db) {
      try {
        auto up = m_db->new_statement("INSERT OR REPLACE INTO hefl_registry_changes (id, next) VALUES (0, ?1)");
        up->bind(1, std::to_string(seq + 1));
        up->spin();
      } catch (const Botan::Exception& e) {
        throw io_error(std::string("registry: storing the change number failed: ") + e.what());
      }
    }
    m_next_change = seq + 1;
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

  static std::string record_safe(const std::string& s) {
    std::string out;
    for (const char c : s.substr(0, 32)) out += (c >= 0x20 && c < 0x7F) ? c : '?';
    return out;
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
  std::uint64_t m_next_change = 1;
};

/// Domain tag of registration changes.
inline constexpr std::string_view registration_domain = "hefl/registration/v1";

/// A registry change as an administrator signed it: the change's JSON text exactly as signed, the
/// signature over registration_message(change), and the administrator's certificate.
struct signed_registration {
  std::string change;                   ///< compact JSON object, see registry::apply_change
  std::vector<std::uint8_t> signature;  ///< over registration_message(change)
  Botan::X509_Certificate signer;       ///< the administrator's certificate
};

/// The bytes an administrator signs: the domain tag, a zero byte, then the change text.
[[nodiscard]] inline std::vector<std::uint8_t> registration_message(std::string_view change) {
  std::vector<std::uint8_t> m(registration_domain.begin(), registration_domain.end());
  m.push_back(0);
  m.insert(m.end(), change.begin(), change.end());
  return m;
}

/// Signs @p change (a JSON object with "op", its arguments and "change") with an administrator's key.
/// @throws hefl::invalid_argument if @p admin_key does not belong to AdminPolicy
template <signing_policy AdminPolicy = ecdsa_p256_signing>
[[nodiscard]] signed_registration sign_registration(const nlohmann::json& change, const Botan::Private_Key& admin_key,
                                                    const Botan::X509_Certificate& admin_certificate,
                                                    Botan::RandomNumberGenerator& rng) {
  signed_registration s;
  s.change = change.dump();
  s.signature = AdminPolicy::sign(admin_key, registration_message(s.change), rng);
  s.signer = admin_certificate;
  return s;
}

/// How a registration ended.
enum class registration_status : std::uint8_t {
  applied,        ///< logged and applied
  not_admin,      ///< the signer is not an administrator (not logged: unauthenticated)
  bad_signature,  ///< the signature does not verify under the signer's key (not logged: unauthenticated)
  malformed,      ///< the signed text is not a JSON object (not logged: nothing to attribute)
  refused,        ///< authenticated, but the registry refused it (wrong number, unknown id, ...); logged
};

/// The spelling of @p s in messages and ledger entries.
[[nodiscard]] constexpr std::string_view to_string(registration_status s) noexcept {
  switch (s) {
    case registration_status::applied: return "applied";
    case registration_status::not_admin: return "not_admin";
    case registration_status::bad_signature: return "bad_signature";
    case registration_status::malformed: return "malformed";
    case registration_status::refused: return "refused";
  }
  return "?";
}

/// The outcome of registration_desk::apply.
struct registration_result {
  registration_status status = registration_status::malformed;  ///< outcome
  std::string message;                                           ///< why, for logs; empty when applied
  std::optional<sha256_digest> ledger_entry;                     ///< the registration entry (authenticated changes)
  /// True when applied.
  [[nodiscard]] bool ok() const noexcept { return status == registration_status::applied; }
};

/// Applies administrator-signed changes to a registry and logs each authenticated one on the ledger
/// as a custom "registration" entry (op, change number, SHA-256 of the signed text, signer, status),
/// written before the change is applied; a change the registry then refuses gets a second entry with
/// status "refused". All referenced objects must outlive the desk.
/// @tparam Ledger a hefl::iot::ledger_policy
/// @tparam AdminPolicy the signing policy of administrators' keys
template <ledger_policy Ledger, signing_policy AdminPolicy = ecdsa_p256_signing>
class registration_desk {
public:
  /// Decides whether a certificate belongs to an administrator (valid chain and role admin).
  using admin_predicate = std::function<bool(const Botan::X509_Certificate&)>;

  /// A desk in front of @p reg. @throws hefl::invalid_argument if @p is_admin is empty
  registration_desk(registry& reg, admin_predicate is_admin, Ledger& ledger)
      : m_registry(&reg), m_is_admin(std::move(is_admin)), m_ledger(&ledger) {
    if (!m_is_admin) throw invalid_argument("registration_desk: expected an is_admin predicate");
  }

  /// Verifies and applies @p s at @p now. Order: admin, signature, JSON, then the registry's own checks.
  /// @throws whatever the ledger's submit() throws (the change is then not applied); hefl::io_error
  [[nodiscard]] registration_result apply(const signed_registration& s,
                                          clock_time now = std::chrono::system_clock::now()) {
    const std::lock_guard lock(*m_mutex);
    registration_result out;
    bool admin = false;
    try {
      admin = m_is_admin(s.signer);
    } catch (const std::exception&) {
      admin = false;
    }
    if (!admin) return fail(out, registration_status::not_admin, "the signer is not an administrator");
    bool signature_ok = false;
    try {
      const std::unique_ptr<Botan::Public_Key> key(s.signer.load_subject_public_key());
      signature_ok = key && AdminPolicy::verify(*key, registration_message(s.change), s.signature);
    } catch (const std::exception&) {
      signature_ok = false;
    }
    if (!signature_ok)
      return fail(out, registration_status::bad_signature, "the signature does not verify under the signer's key");
    nlohmann::json change;
    try {
      change = detail::parse_json_strict(s.change, "registry change", 4);
    } catch (const parse_error& e) {
      return fail(out, registration_status::malformed, e.what());
    }
    if (!change.is_object() || !change.contains("op") || !change["op"].is_string())
      return fail(out, registration_status::malformed, "registry change: expected an object with a string \"op\"");
    std::string signer;
    try {
      signer = s.signer.subject_dn().to_string();
    } catch (const std::exception&) {
      signer = "(unreadable)";
    }
    const auto op = change["op"].get<std::string>();
    const std::int64_t number =
        change.contains("change") && change["change"].is_number_unsigned() &&
                change["change"].get<std::uint64_t>() <= static_cast<std::uint64_t>(INT64_MAX)
            ? static_cast<std::int64_t>(change["change"].get<std::uint64_t>())
            : -1;
    const auto hash = sha256(std::span(reinterpret_cast<const std::uint8_t*>(s.change.data()), s.change.size()));
    out.ledger_entry = log(op, number, hash, signer, "requested", "", now);
    try {
      m_registry->apply_change(change);
    } catch (const hefl::error& e) {
      if (dynamic_cast<const io_error*>(&e)) throw;
      out.status = registration_status::refused;
      out.message = e.what();
      out.ledger_entry = log(op, number, hash, signer, "refused", e.what(), now);
      return out;
    }
    out.status = registration_status::applied;
    return out;
  }

private:
  static registration_result& fail(registration_result& out, registration_status s, std::string message) {
    out.status = s;
    out.message = std::move(message);
    return out;
  }

  sha256_digest log(const std::string& op, std::int64_t number, const sha256_digest& hash, const std::string& signer,
                    std::string_view status, std::string_view reason, clock_time now) {
    nlohmann::json fields{{"type", "registration"},
                          {"op", detail::is_identifier(op) ? op : std::string("(invalid)")},
                          {"change", number},
                          {"change_hash", ledger_detail::to_hex(hash)},
                          {"admin", signer},
                          {"status", status}};
    if (!reason.empty()) fields["reason"] = std::string(reason.substr(0, 200));
    return m_ledger->submit(transaction(tx_kind::custom, std::move(fields), std::chrono::floor<std::chrono::milliseconds>(now)));
  }

  registry* m_registry;
  admin_predicate m_is_admin;
  Ledger* m_ledger;
  std::unique_ptr<std::mutex> m_mutex = std::make_unique<std::mutex>();  // one change at a time
};

} // namespace hefl::iot
