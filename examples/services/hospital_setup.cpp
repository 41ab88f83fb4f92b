// hospital_setup DIR [--base-port N] [--devices N]: creates one hospital for the service programs in
// DIR: its CA (ECDSA P-256, state in ca/ca.sqlite), the certificates and keys of the storage node,
// the collector, the devices, a doctor, a nurse and an admin, the patients' cards, each node's
// registry (SQLite), the admin-signed vitals rule contract and one JSON config per program.
// Keys are written with mode 0600. Ports: storage N (default 47100), collector N + 1, on 127.0.0.1.
#include "service_config.hpp"

#include <hefl/iot/pki/signing.hpp>
#include <hefl/services/vitals.hpp>

#include <botan/ed25519.h>
#include <botan/system_rng.h>

using namespace hefl;
using namespace hefl_examples;
using namespace std::chrono_literals;

namespace {

struct patient_spec {
  std::string id, department, room, bed;
};
const std::vector<patient_spec> patients{{"p-1001", "icu", "1", "A"}, {"p-1002", "icu", "1", "B"}};
const std::string collector_id = "collector-icu";
const std::string storage_id = "storage-1";
const std::string doctor_id = "dr-house";   // assigned to p-1001
const std::string nurse_id = "nurse-joy";   // assigned to p-1002

iot::sgtin96 epc(int serial) {
  return iot::sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345." + std::to_string(serial), 1);
}

int usage(const std::string& why) {
  std::cerr << "hospital_setup: " << why << "\nusage: hospital_setup DIR [--base-port N] [--devices N]\n";
  return 2;
}

} // namespace

int main(int argc, char** argv) try {
  if (argc < 2) return usage("expected a directory");
  const fs::path dir = fs::absolute(argv[1]);
  long base_port = 47100;
  long devices = 2;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--base-port" || a == "--devices") && i + 1 < argc) {
      const long v = positive(a, argv[++i]);
      (a == "--base-port" ? base_port : devices) = v;
    } else {
      return usage("unknown argument '" + a + "'");
    }
  }
  if (base_port < 1024 || base_port > 65534) return usage("--base-port: expected 1024..65534");
  if (devices > 1000) return usage("--devices: expected at most 1000");
  if (fs::exists(dir) && !fs::is_empty(dir)) return usage(dir.string() + " exists and is not empty (keys are never overwritten)");
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);

  auto& rng = Botan::system_rng();
  const auto t0 = std::chrono::system_clock::now() - 1h;
  const auto lifetime = std::chrono::duration_cast<std::chrono::seconds>(24h * 30);
  const auto new_key = [&] { return std::make_unique<Botan::ECDSA_PrivateKey>(rng, Botan::EC_Group("secp256r1")); };
  const auto write_key = [&](const fs::path& rel, const Botan::Private_Key& k) {
    write_text(dir / rel, Botan::PKCS8::PEM_encode(k), true);
  };
  const auto write_cert = [&](const fs::path& rel, const Botan::X509_Certificate& c) { write_text(dir / rel, c.PEM_encode()); };

  // The CA: its key in ca/ca.key.pem (0600), its state (serials, CRL) in ca/ca.sqlite.
  auto ca_key = new_key();
  write_key("ca/ca.key.pem", *ca_key);
  auto ca = iot::certificate_authority::open_sqlite(dir / "ca/ca.sqlite", std::move(ca_key), "St Mary Hospital", t0);
  write_cert("ca/root.pem", ca.root());
  write_text(dir / "ca/crl.pem", ca.crl().PEM_encode());

  // A node or person: a P-256 key and a certificate carrying its identity.
  const auto issue = [&](const std::string& name, iot::identity id) {
    auto key = new_key();
    write_key(name + "/key.pem", *key);
    write_cert(name + "/cert.pem", ca.issue(*key, id, t0, lifetime));
    return key;
  };
  const auto id_of = [](iot::role r, const std::string& subject) {
    iot::identity id;
    id.role = r;
    id.subject_id = subject;
    return id;
  };
  issue("storage", id_of(iot::role::storage, storage_id));
  issue("collector", id_of(iot::role::collector, collector_id));
  issue("staff/" + doctor_id, id_of(iot::role::doctor, doctor_id));
  issue("staff/" + nurse_id, id_of(iot::role::nurse, nurse_id));
  auto admin_key = issue("admin", id_of(iot::role::admin, "admin.root"));

  // Patients' cards: an Ed25519 key (the card's, given to the collector that signs with it) and the
  // patient's certificate (given to storage, which verifies the card's signatures with it).
  for (const auto& p : patients) {
    const Botan::Ed25519_PrivateKey card(rng);
    write_key("patients/" + p.id + ".card.pem", card);
    write_cert("patients/" + p.id + ".cert.pem", ca.issue(card, id_of(iot::role::patient, p.id), t0, lifetime));
  }

  // Devices, alternating between the patients.
  nlohmann::json device_list = nlohmann::json::array();
  for (long i = 1; i <= devices; ++i) {
    const std::string name = "dev-" + std::to_string(i);
    auto id = id_of(iot::role::device, name);
    id.device_epc = epc(static_cast<int>(i));
    id.group_id = 1;
    issue("devices/" + name, id);
    device_list.push_back({{"name", name},
                           {"epc", epc(static_cast<int>(i)).to_hex()},
                           {"patient", patients[static_cast<std::size_t>(i - 1) % patients.size()].id}});
  }

  // Each node's registry replica (SQLite), with the same registrations.
  for (const char* node : {"storage", "collector"}) {
    auto reg = iot::registry::open_sqlite(dir / node / "registry.sqlite");
    for (const auto& p : patients) reg.register_patient({p.id, p.department, p.room, p.bed});
    reg.register_collector(collector_id);
    reg.register_staff(doctor_id, iot::role::doctor);
    reg.register_staff(nurse_id, iot::role::nurse);
    reg.assign(doctor_id, "p-1001");
    reg.assign(nurse_id, "p-1002");
    for (const auto& d : device_list)
      reg.register_device(iot::sgtin96::from_hex(d.at("epc").get<std::string>()), d.at("patient").get<std::string>(),
                          collector_id);
  }

  // The vitals rule contract, signed by the admin.
  const auto admin_cert = load_cert(dir / "admin/cert.pem");
  const auto deployment = iot::sign_deployment(services::vitals_contract, *admin_key, admin_cert, rng);
  write_text(dir / "contracts/vitals.json", deployment_to_json(deployment).dump(2) + "\n");

  // One config per program.
  const nlohmann::json storage_at{{"host", "127.0.0.1"}, {"port", base_port}};
  const nlohmann::json collector_at{{"host", "127.0.0.1"}, {"port", base_port + 1}};
  nlohmann::json patient_certs = nlohmann::json::array(), cards = nlohmann::json::array();
  for (const auto& p : patients) {
    patient_certs.push_back({{"id", p.id}, {"cert", "patients/" + p.id + ".cert.pem"}});
    cards.push_back({{"id", p.id}, {"key", "patients/" + p.id + ".card.pem"}});
  }
  nlohmann::json device_certs = nlohmann::json::array();
  for (const auto& d : device_list) device_certs.push_back("devices/" + d.at("name").get<std::string>() + "/cert.pem");
  const nlohmann::json common{{"ca_root", "ca/root.pem"}, {"crl", "ca/crl.pem"}};
  auto with_common = [&](nlohmann::json j) {
    j.update(common);
    return j;
  };
  write_text(dir / "storage.json",
             with_common({{"program", "storage_server"},
                          {"id", storage_id},
                          {"listen", {{"address", "127.0.0.1"}, {"port", base_port}}},
                          {"cert", "storage/cert.pem"},
                          {"key", "storage/key.pem"},
                          {"registry", "storage/registry.sqlite"},
                          {"database", "storage/records.sqlite"},
                          {"nonce_database", "storage/nonces.sqlite"},
                          {"ledger_key", "storage/ledger-key.json"},
                          {"ledger_database", "storage/ledger.sqlite"},
                          {"rule_contracts", {"contracts/vitals.json"}},
                          {"patient_certificates", patient_certs},
                          {"collector_certificates", {"collector/cert.pem"}},
                          {"device_certificates", device_certs}})
                     .dump(2) + "\n");
  write_text(dir / "collector.json",
             with_common({{"program", "collector_server"},
                          {"id", collector_id},
                          {"listen", {{"address", "127.0.0.1"}, {"port", base_port + 1}}},
                          {"storage", storage_at},
                          {"cert", "collector/cert.pem"},
                          {"key", "collector/key.pem"},
                          {"registry", "collector/registry.sqlite"},
                          {"nonce_database", "collector/nonces.sqlite"},
                          {"ledger_key", "collector/ledger-key.json"},
                          {"ledger_database", "collector/ledger.sqlite"},
                          {"rule_contracts", {"contracts/vitals.json"}},
                          {"patient_cards", cards}})
                     .dump(2) + "\n");
  for (const auto& d : device_list) {
    const auto name = d.at("name").get<std::string>();
    write_text(dir / ("device-" + name + ".json"),
               with_common({{"program", "device_sim"},
                            {"id", name},
                            {"collector_id", collector_id},
                            {"collector", collector_at},
                            {"patient", d.at("patient")},
                            {"cert", "devices/" + name + "/cert.pem"},
                            {"key", "devices/" + name + "/key.pem"},
                            {"last_request", "devices/" + name + "/last-request.bin"}})
                       .dump(2) + "\n");
  }
  for (const auto& [name, r] : {std::pair{doctor_id, "doctor"}, std::pair{nurse_id, "nurse"}})
    write_text(dir / ("reader-" + name + ".json"), with_common({{"program", "reader"},
                                                                {"id", name},
                                                                {"role", r},
                                                                {"storage", storage_at},
                                                                {"cert", "staff/" + name + "/cert.pem"},
                                                                {"key", "staff/" + name + "/key.pem"}})
                                                       .dump(2) + "\n");

  std::cout << "hospital_setup: hospital in " << dir.string() << ": storage on 127.0.0.1:" << base_port
            << ", collector on 127.0.0.1:" << base_port + 1 << ", " << devices << " device(s), patients p-1001 (doctor "
            << doctor_id << ") and p-1002 (nurse " << nurse_id << "), " << ca.issued_count() << " serials issued\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "hospital_setup: " << e.what() << "\n";
  return 1;
}
