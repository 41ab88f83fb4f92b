// The main job (issue 11): a hospital network end to end, in one process, every message over real
// mutual TLS on 127.0.0.1.
//   1. One network CA, three hospitals, each with a collector, a storage node (SQLite record store)
//      and a ledger replica (the three storage nodes are the sealers of one chain and gossip its
//      blocks over mTLS); the admin deploys the rule contract; patients, devices and staff are
//      registered.
//   2. Every patient's bedside monitor streams vital-sign panels (heart rate, SpO2, temperature,
//      blood pressure, respiration rate, glucose) to its hospital's collector, which validates and
//      forwards them to storage. Half-way, the paper's attacks are injected and each refusal is
//      printed as it happens: a device certificate from a foreign CA, a replayed request, false
//      (out-of-range) data, a compromised collector storing a forged record, a captured device
//      revoked mid-run, readers who are not assigned to the patient.
//   3. The ledger replicas are brought to one head and verified; counts per outcome are printed.
//   4. Each hospital reads its own store and the three train a deterioration-risk classifier by
//      federated logistic regression: plaintext FL and FL + FHE (CKKS-encrypted data and updates,
//      128-bit secure) side by side, accuracy per round. The label is NEWS2 >= 5 (Royal College of
//      Physicians, 2017) scored on an independent re-measurement of the same moment (the simulator's
//      measurement noise drawn again), so the label is noisy with respect to the stored features.
//   5. CSV files, the ledger export and a gnuplot figure go to --out DIR (default ./hefl-demo-out).
//
//   healthcare_pipeline [--quick] [--out DIR] [--patients N] [--observations K] [--rounds R] [--seed S]
// Exits 1 and prints UNEXPECTED when an attack is not refused, a record is lost, or the ledgers differ.
#include <hefl/crypto/botan_random.hpp>
#include <hefl/fl/ckks_model_parameters.hpp>
#include <hefl/fl/default_sigmoid.hpp>
#include <hefl/hefl.hpp>
#include <hefl/iot/collection/collector_validator.hpp>
#include <hefl/iot/hospital/access.hpp>
#include <hefl/iot/storage/storage_guard.hpp>
#include <hefl/services.hpp>

#include <botan/auto_rng.h>
#include <botan/ecdsa.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace hefl;
using namespace hefl::services;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------------------------------------
// Options and output

struct options {
  bool quick = false;
  fs::path out = "hefl-demo-out";
  int patients = 10;       // per hospital, one bedside monitor each
  int observations = 60;   // panels per monitor
  int rounds = 10;         // FL rounds
  std::uint64_t seed = 7;
};

[[noreturn]] void usage(const std::string& problem) {
  std::fprintf(stderr,
               "healthcare_pipeline: %s\n"
               "usage: healthcare_pipeline [--quick] [--out DIR] [--patients N] [--observations K] [--rounds R] "
               "[--seed S]\n"
               "  --quick          a short run (3 patients x 24 panels per hospital, 4 rounds), used by ctest\n"
               "  --out DIR        where CSV files, the ledger export and the figure go (default ./hefl-demo-out)\n"
               "  --patients N     patients (and monitors) per hospital, 1..200 (default 10)\n"
               "  --observations K vital-sign panels per monitor, 4..2000 (default 60)\n"
               "  --rounds R       federated rounds, 1..100 (default 10)\n"
               "  --seed S         simulation seed (keys and nonces always come from Botan's CSPRNG)\n",
               problem.c_str());
  std::exit(2);
}

options parse(int argc, char** argv) {
  options o;
  auto number = [&](int& i, const char* flag, long lo, long hi) {
    if (i + 1 >= argc) usage(std::string(flag) + " needs a value");
    char* end = nullptr;
    const long v = std::strtol(argv[++i], &end, 10);
    if (*end != '\0' || v < lo || v > hi)
      usage(std::string(flag) + " expects an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got '" +
            argv[i] + "'");
    return v;
  };
  bool sized = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      o.quick = true;
    } else if (a == "--out") {
      if (i + 1 >= argc) usage("--out needs a directory");
      o.out = argv[++i];
    } else if (a == "--patients") {
      o.patients = static_cast<int>(number(i, "--patients", 1, 200));
      sized = true;
    } else if (a == "--observations") {
      o.observations = static_cast<int>(number(i, "--observations", 4, 2000));
      sized = true;
    } else if (a == "--rounds") {
      o.rounds = static_cast<int>(number(i, "--rounds", 1, 100));
    } else if (a == "--seed") {
      o.seed = static_cast<std::uint64_t>(number(i, "--seed", 0, 1L << 40));
    } else if (a == "--help" || a == "-h") {
      usage("help");
    } else {
      usage("unknown argument '" + a + "'");
    }
  }
  if (o.quick && !sized) {
    o.patients = 3;
    o.observations = 24;
    o.rounds = 4;
  }
  return o;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

bool g_failed = false;
void expect(bool ok, const std::string& what) {
  if (!ok) {
    std::printf("UNEXPECTED: %s\n", what.c_str());
    g_failed = true;
  }
}

// ---------------------------------------------------------------------------------------------
// The contract and the simulated vitals

// One bedside monitor sends a whole panel per observation (group 1).
constexpr std::string_view panel_contract = R"({
  "group_id": 1,
  "name": "bedside-panel",
  "version": 1,
  "max_payload_bytes": 256,
  "max_messages_per_minute": 6000,
  "data_types": {
    "panel": { "fields": {
      "hr":      { "type": "integer", "unit": "bpm",    "min": 20, "max": 250, "required": true },
      "spo2":    { "type": "number",  "unit": "%",      "min": 50, "max": 100, "required": true },
      "temp":    { "type": "number",  "unit": "°C",     "min": 30, "max": 45,  "required": true },
      "sys":     { "type": "integer", "unit": "mmHg",   "min": 50, "max": 260, "required": true },
      "dia":     { "type": "integer", "unit": "mmHg",   "min": 20, "max": 160, "required": true },
      "rr":      { "type": "integer", "unit": "/min",   "min": 4,  "max": 60,  "required": true },
      "glucose": { "type": "number",  "unit": "mmol/L", "min": 1,  "max": 35,  "required": true } } }
  }
})";

// A panel from the six single-vital measurements of vitals_generator.
iot::payload next_panel(vitals_generator& g) {
  iot::payload p;
  p.type = "panel";
  p.fields.emplace("hr", g.next(vital::heart_rate).fields.at("bpm"));
  p.fields.emplace("spo2", g.next(vital::spo2).fields.at("saturation"));
  p.fields.emplace("temp", g.next(vital::temperature).fields.at("celsius"));
  const auto bp = g.next(vital::blood_pressure);
  p.fields.emplace("sys", bp.fields.at("systolic"));
  p.fields.emplace("dia", bp.fields.at("diastolic"));
  p.fields.emplace("rr", g.next(vital::respiration_rate).fields.at("breaths_per_min"));
  p.fields.emplace("glucose", g.next(vital::glucose).fields.at("mmol_per_l"));
  return p;
}

constexpr std::array<const char*, 7> feature_names{"hr", "spo2", "temp", "sys", "dia", "rr", "glucose"};

// NEWS2 (Royal College of Physicians, National Early Warning Score 2, 2017): respiration rate,
// SpO2 (scale 1), systolic blood pressure, pulse and temperature; consciousness and supplemental
// oxygen are not simulated (scored 0).
int news2(double hr, double spo2, double temp, double sys, double rr) {
  int s = 0;
  s += rr <= 8 ? 3 : rr <= 11 ? 1 : rr <= 20 ? 0 : rr <= 24 ? 2 : 3;
  s += spo2 <= 91 ? 3 : spo2 <= 93 ? 2 : spo2 <= 95 ? 1 : 0;
  s += sys <= 90 ? 3 : sys <= 100 ? 2 : sys <= 110 ? 1 : sys <= 219 ? 0 : 3;
  s += hr <= 40 ? 3 : hr <= 50 ? 1 : hr <= 90 ? 0 : hr <= 110 ? 1 : hr <= 130 ? 2 : 3;
  s += temp <= 35.0 ? 3 : temp <= 36.0 ? 1 : temp <= 38.0 ? 0 : temp <= 39.0 ? 1 : 2;
  return s;
}

// ---------------------------------------------------------------------------------------------
// The network

using guard_type = iot::storage_guard<iot::rule_manager<>, iot::ledger>;
using access_type = iot::access_controller<iot::ledger>;
using storage_type = storage_service<guard_type, access_type>;
using validator_type = iot::collector_validator<>;
using collector_type = collector_service<validator_type, iot::patient_smart_card<>>;

std::shared_ptr<Botan::ECDSA_PrivateKey> new_key() {
  return std::make_shared<Botan::ECDSA_PrivateKey>(Botan::system_rng(), Botan::EC_Group("secp256r1"));
}

iot::identity id_of(iot::role r, const std::string& subject) {
  iot::identity id;
  id.role = r;
  id.subject_id = subject;
  return id;
}

struct network;

/// One hospital: registry, directory, ledger replica, storage node, collector, patients and devices.
struct hospital {
  int index = 0;
  std::string name, storage_id, collector_id;
  iot::registry reg;
  iot::identity_directory keys;
  std::unique_ptr<iot::ledger> ledger;
  std::unique_ptr<iot::rule_manager<>> storage_rules, collector_rules;
  std::unique_ptr<iot::record_store<>> store;
  std::unique_ptr<guard_type> guard;
  std::unique_ptr<access_type> access;
  iot::replay_guard replay;
  std::unique_ptr<validator_type> validator;
  std::unique_ptr<net::tls_credentials> storage_creds, collector_creds;
  std::unique_ptr<storage_type> storage;
  std::unique_ptr<collector_type> collector;
  std::unique_ptr<ledger_replica_service> replica;
  std::vector<std::unique_ptr<iot::patient_smart_card<>>> cards;
  std::vector<std::string> patients;
  std::vector<net::tls_credentials> device_creds;  // one monitor per patient
  std::vector<Botan::X509_Certificate> device_certs;
};

/// The CA, the trust store, the admin, the ledger's genesis and the three hospitals.
struct network {
  Botan::AutoSeeded_RNG rng;
  iot::clock_time t0 = std::chrono::system_clock::now() - 1min;
  iot::certificate_authority ca{"Hospital Network CA", t0 - 1h};
  std::shared_ptr<iot::trust_store> trust = [&] {
    auto s = std::make_shared<iot::trust_store>(iot::trust_store::in_memory());
    s->add_root(ca.root());
    s->add_crl(ca.crl());
    return s;
  }();
  std::shared_ptr<Botan::ECDSA_PrivateKey> admin_key = new_key();
  Botan::X509_Certificate admin_cert = ca.issue(*admin_key, id_of(iot::role::admin, "admin.network"), t0 - 1h, 24h);
  std::vector<std::unique_ptr<hospital>> hospitals;
  int next_serial = 1;

  net::tls_credentials issue(iot::role r, const std::string& subject) {
    auto key = new_key();
    return net::tls_credentials({ca.issue(*key, id_of(r, subject), t0 - 1h, 24h)}, key, trust);
  }
  static iot::sgtin96 epc(int serial) {
    return iot::sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345." + std::to_string(serial), 1);
  }
  net::tls_credentials device(int serial, iot::certificate_authority& by) {
    auto key = new_key();
    auto id = id_of(iot::role::device, "monitor-" + std::to_string(serial));
    id.device_epc = epc(serial);
    id.group_id = 1;
    return net::tls_credentials({by.issue(*key, id, t0 - 1h, 24h)}, key, trust);
  }
  std::function<bool(const Botan::X509_Certificate&)> admin_check() {
    return [this](const Botan::X509_Certificate& c) {
      return iot::validate_chain(c, *trust, iot::cert_usage::any, std::chrono::system_clock::now(), {iot::role::admin})
          .ok();
    };
  }
  static std::function<void(const iot::deployment_event&)> deploy_log(iot::ledger& l) {
    return [&l](const iot::deployment_event& e) {
      if (e.accepted())
        l.submit(iot::transaction::rule_deployment(e.group_name, e.version, e.contract_hash, e.signer, iot::ledger_now()));
    };
  }

  network(const options& opt, const fs::path& dir) {
    // The ledger: the three storage nodes seal in turn; a block every 300 ms or 200 entries.
    std::vector<iot::sealer_key> sealers;
    std::vector<iot::sealer_identity> ids;
    for (int h = 1; h <= 3; ++h) {
      sealers.push_back(iot::sealer_key::generate("storage-" + std::to_string(h), Botan::system_rng()));
      ids.push_back(sealers.back().identity());
    }
    const auto genesis = iot::make_genesis(ids, "hospital-network", iot::ledger_now());
    iot::ledger_config lc;
    lc.max_block_transactions = 200;
    lc.max_block_delay = 300ms;
    lc.out_of_turn_delay = 3s;
    const auto contract = iot::sign_deployment(panel_contract, *admin_key, admin_cert, rng);

    for (int h = 1; h <= 3; ++h) {
      auto node = std::make_unique<hospital>();
      auto& H = *node;
      H.index = h;
      H.name = "hospital-" + std::to_string(h);
      H.storage_id = "storage-" + std::to_string(h);
      H.collector_id = "collector-" + std::to_string(h);
      H.ledger = std::make_unique<iot::ledger>(genesis, lc, sealers[static_cast<std::size_t>(h - 1)]);
      H.storage_rules = std::make_unique<iot::rule_manager<>>(admin_check(), deploy_log(*H.ledger));
      H.collector_rules = std::make_unique<iot::rule_manager<>>(admin_check(), deploy_log(*H.ledger));
      if (!H.storage_rules->deploy(contract).accepted() || !H.collector_rules->deploy(contract).accepted())
        throw std::runtime_error("the admin's contract was not accepted");
      H.reg.register_collector(H.collector_id);
      for (int p = 1; p <= opt.patients; ++p) {
        const auto pid = "p-" + std::to_string(h) + std::string(p < 10 ? "00" : p < 100 ? "0" : "") + std::to_string(p);
        H.patients.push_back(pid);
        H.reg.register_patient({pid, "ward-" + std::to_string(h), std::to_string(p), "Patient " + pid});
        H.cards.push_back(std::make_unique<iot::patient_smart_card<>>(pid, rng));
        if (!H.keys.enrol_patient({ca.issue(H.cards.back()->public_key(), id_of(iot::role::patient, pid), t0 - 1h, 24h)},
                                  *trust, t0))
          throw std::runtime_error("patient enrolment refused");
        const int serial = next_serial++;
        auto creds = device(serial, ca);
        H.reg.register_device(epc(serial), pid, H.collector_id);
        if (!H.keys.enrol_device(creds.chain(), *trust, t0)) throw std::runtime_error("device enrolment refused");
        H.device_certs.push_back(creds.chain().front());
        H.device_creds.push_back(std::move(creds));
      }
      // Staff: a doctor for every patient, a nurse for the first half of them.
      const auto doctor = "dr-" + std::to_string(h), nurse = "nurse-" + std::to_string(h);
      H.reg.register_staff(doctor, iot::role::doctor);
      H.reg.register_staff(nurse, iot::role::nurse);
      for (std::size_t p = 0; p < H.patients.size(); ++p) {
        H.reg.assign(doctor, H.patients[p]);
        if (p < (H.patients.size() + 1) / 2) H.reg.assign(nurse, H.patients[p]);
      }

      H.store = std::make_unique<iot::record_store<>>((dir / (H.name + "-records.sqlite")).string(), H.keys, *H.ledger);
      H.guard = std::make_unique<guard_type>(*trust, H.reg, H.keys, *H.storage_rules, *H.store, *H.ledger);
      H.access = std::make_unique<access_type>(*trust, H.reg, *H.store, *H.ledger);
      iot::collector_validator_options vo;
      vo.collector_id = H.collector_id;
      vo.devices = &H.reg;
      H.validator = std::make_unique<validator_type>(iot::trust_store_certificates(*trust), *H.collector_rules, H.replay,
                                                     *H.ledger, vo);
      H.storage_creds = std::make_unique<net::tls_credentials>(issue(iot::role::storage, H.storage_id));
      H.collector_creds = std::make_unique<net::tls_credentials>(issue(iot::role::collector, H.collector_id));
      H.storage = std::make_unique<storage_type>(*H.storage_creds, *H.guard, *H.access);
      collector_service_options co;
      co.storage_port = H.storage->port();
      auto* Hp = &H;
      H.collector = std::make_unique<collector_type>(
          *H.collector_creds, *H.validator, &H.replay,
          [Hp](const std::string& pid) -> iot::patient_smart_card<>* {
            for (std::size_t i = 0; i < Hp->patients.size(); ++i)
              if (Hp->patients[i] == pid) return Hp->cards[i].get();
            return nullptr;
          },
          co);
      ledger_replica_options ro;
      ro.interval = 100ms;
      H.replica = std::make_unique<ledger_replica_service>(*H.storage_creds, *H.ledger, std::vector<ledger_peer>{}, ro);
      hospitals.push_back(std::move(node));
    }
    for (auto& H : hospitals) {
      std::vector<ledger_peer> peers;
      for (auto& other : hospitals)
        if (other != H) peers.push_back({"127.0.0.1", other->replica->port()});
      H->replica->set_peers(std::move(peers));
      H->replica->start();
    }
  }

  ~network() {
    for (auto& H : hospitals) H->replica->stop();
    for (auto& H : hospitals) {
      H->collector.reset();
      H->storage.reset();
    }
  }
};

// ---------------------------------------------------------------------------------------------
// Outcomes

struct tally {
  std::mutex mutex;
  std::map<std::string, std::size_t> counts;  // "stored", or "stage/reason"
  std::map<std::pair<int, std::size_t>, std::vector<std::uint64_t>> acknowledged;  // (hospital, patient) -> record ids
  void add(const std::string& outcome) {
    const std::lock_guard lock(mutex);
    ++counts[outcome];
  }
};

std::string outcome_of(const submit_result& r) {
  if (r.stored) return r.already_stored ? "already_stored" : "stored";
  return r.refused ? r.refused->stage + "/" + r.refused->reason : "no answer";
}

std::unique_ptr<device_client> monitor(network&, hospital& H, std::size_t p) {
  device_client_options o;
  o.port = H.collector->port();
  return std::make_unique<device_client>(H.device_creds[p], H.collector_id, o);
}

// Streams observations [from, to) of every monitor of @p H.
void stream(network& net, hospital& H, int from, int to, std::uint64_t seed, tally& t, std::atomic<int>& done,
            const std::vector<std::size_t>& revoked) {
  std::vector<std::unique_ptr<device_client>> monitors;
  std::vector<vitals_generator> gens;
  for (std::size_t p = 0; p < H.patients.size(); ++p) {
    monitors.push_back(monitor(net, H, p));
    // Deterioration risk differs per patient: most are stable, some unwell.
    std::mt19937_64 r(seed * 1000003u + static_cast<std::uint64_t>(H.index) * 1009u + p);
    const double u = std::uniform_real_distribution<double>(0.0, 1.0)(r);
    gens.emplace_back(seed * 7919u + static_cast<std::uint64_t>(H.index) * 131u + p, u * u);
    for (int k = 0; k < from; ++k) (void)next_panel(gens.back());  // same sequence as an unbroken run
  }
  for (int k = from; k < to; ++k) {
    for (std::size_t p = 0; p < H.patients.size(); ++p) {
      const auto panel = next_panel(gens[p]);
      std::string outcome;
      try {
        const auto r = monitors[p]->submit(H.patients[p], panel);
        outcome = outcome_of(r);
        if (r.stored) {
          const std::lock_guard lock(t.mutex);
          t.acknowledged[{H.index, p}].push_back(r.record_id);
        }
      } catch (const security_error&) {
        outcome = "handshake/refused";
        monitors[p]->close();
      } catch (const error&) {
        outcome = "transport/failed";
      }
      const bool is_revoked = std::find(revoked.begin(), revoked.end(), p) != revoked.end() && H.index == 1;
      if (is_revoked && outcome != "stored" && k == from)
        std::printf("  [%s] the revoked monitor of %s is refused: %s\n", H.name.c_str(), H.patients[p].c_str(),
                    outcome.c_str());
      t.add(outcome);
      ++done;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The attacks (each prints its refusal as it happens)

void attack(const std::string& what, const std::string& result, bool refused) {
  std::printf("  attack: %-58s -> %s\n", what.c_str(), result.c_str());
  expect(refused, what + " was not refused (" + result + ")");
}

void run_attacks(network& net, tally& t, std::size_t revoked_patient) {
  auto& H1 = *net.hospitals[0];
  auto& H2 = *net.hospitals[1];

  // 1. Spoofing: a monitor certificate with a real device's EPC from a foreign CA of the same name.
  {
    iot::certificate_authority rogue{"Hospital Network CA", net.t0 - 1h};
    auto fake = net.device(1, rogue);
    device_client_options o;
    o.port = H1.collector->port();
    o.max_attempts = 1;
    device_client spoof(fake, H1.collector_id, o);
    vitals_generator g(1);
    try {
      const auto r = spoof.submit(H1.patients[0], next_panel(g));
      attack("spoofed monitor (certificate from a foreign CA)", outcome_of(r), !r.stored);
    } catch (const security_error& e) {
      attack("spoofed monitor (certificate from a foreign CA)", std::string("TLS handshake refused: ") + e.what(), true);
    }
    t.add("attack/foreign_ca");
  }

  // 2. Replay: a captured request sent again.
  {
    auto dev = monitor(net, H1, 1 % H1.patients.size());
    vitals_generator g(2);
    const auto req = dev->sign(H1.patients[1 % H1.patients.size()], next_panel(g));
    const auto first = dev->send(req);
    if (first.stored) {
      const std::lock_guard lock(t.mutex);
      t.acknowledged[{1, 1 % H1.patients.size()}].push_back(first.record_id);
    }
    const auto before = H1.store->size();
    const auto again = dev->send(req);
    const bool not_stored_twice = H1.store->size() == before;
    // An exact retry is answered with the stored record's id (retries are idempotent); what matters is
    // that the captured bytes are never stored a second time.
    attack("replay of a captured request",
           outcome_of(again) + (again.stored ? " (record " + std::to_string(again.record_id) + ")" : "") +
               (not_stored_twice ? ", not stored again" : ", STORED TWICE"),
           not_stored_twice && (!again.stored || again.record_id == first.record_id));
    t.add("attack/replay");
  }

  // 3. False data: a heart rate of 300 bpm, outside the group's contract.
  {
    auto dev = monitor(net, H1, 0);
    vitals_generator g(3);
    auto panel = next_panel(g);
    panel.fields["hr"] = std::int64_t{300};
    const auto r = dev->submit(H1.patients[0], panel);
    attack("false data (heart rate 300 bpm)", outcome_of(r), !r.stored);
    t.add("attack/false_data");
  }

  // 4. A compromised collector: its own certificate used directly against storage with a back-dated
  //    record that no device signed, and with a device request it signed with a key of its own.
  {
    net::client_options o;
    o.accepted_server_roles = iot::role_set{iot::role::storage};
    net::tls_client rogue(*H2.collector_creds, o);
    rogue.connect("127.0.0.1", H2.storage->port());
    vitals_generator g(4);
    const auto past = std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now() - 30min);
    auto forged = iot::make_record(H2.patients[0], *iot::identity_of(H2.device_certs[0]).value().device_epc,
                                   "panel", next_panel(g), past, *H2.cards[0], H2.collector_id, H2.collector_creds->key(),
                                   net.rng);
    auto reply = rogue.request(json_frame(msg::store, record_to_json(forged)));
    attack("compromised collector stores a back-dated unsigned record",
           reply.type == msg::refused ? "storage/" + read_refusal(reply).reason : "accepted", reply.type == msg::refused);
    auto fake_key = new_key();
    auto req = iot::make_signed_request(*iot::identity_of(H2.device_certs[0]).value().device_epc, H2.collector_id,
                                        H2.patients[0], next_panel(g), iot::request_now(), *fake_key, net.rng);
    auto attested = iot::make_attested_record(req, *H2.cards[0], H2.collector_id, H2.collector_creds->key(), net.rng);
    reply = rogue.request(json_frame(msg::store, record_to_json(attested)));
    attack("compromised collector forges a device's signature",
           reply.type == msg::refused ? "storage/" + read_refusal(reply).reason : "accepted", reply.type == msg::refused);
    t.add("attack/compromised_collector");
  }

  // 5. A captured monitor is revoked: the CA's new CRL reaches the shared trust store.
  {
    net.ca.revoke(H1.device_certs[revoked_patient]);
    net.trust->add_crl(net.ca.crl());
    auto dev = monitor(net, H1, revoked_patient);
    vitals_generator g(5);
    try {
      const auto r = dev->submit(H1.patients[revoked_patient], next_panel(g));
      attack("captured monitor after its revocation", outcome_of(r), !r.stored);
    } catch (const security_error& e) {
      attack("captured monitor after its revocation", std::string("TLS handshake refused: ") + e.what(), true);
    }
    t.add("attack/revoked_device");
  }

  // 6. Readers: a nurse not assigned to the patient, and a doctor of another hospital.
  {
    const auto& unassigned = H1.patients.back();  // the nurse has the first half only
    reader_client nurse(net.issue(iot::role::nurse, "nurse-1"), "127.0.0.1", H1.storage->port());
    if (H1.patients.size() > 1) {
      const auto r = nurse.read(unassigned);
      attack("nurse reads a patient she is not assigned to", r.ok() ? "allowed" : r.refused->stage + "/" + r.refused->reason,
             !r.ok());
    }
    reader_client outsider(net.issue(iot::role::doctor, "dr-2"), "127.0.0.1", H1.storage->port());
    const auto r = outsider.read(H1.patients[0]);
    attack("doctor of another hospital reads a patient here", r.ok() ? "allowed" : r.refused->stage + "/" + r.refused->reason,
           !r.ok());
    reader_client doctor(net.issue(iot::role::doctor, "dr-1"), "127.0.0.1", H1.storage->port());
    const auto own = doctor.read(H1.patients[0]);
    std::printf("  the patient's own doctor reads %s: %s, %zu records\n", H1.patients[0].c_str(),
                own.ok() ? "allowed" : "REFUSED", own.records.size());
    expect(own.ok() && !own.records.empty(), "the patient's doctor could not read the records");
    t.add("attack/unauthorised_reader");
  }
}

// ---------------------------------------------------------------------------------------------
// Federated learning over the stored records

struct hospital_data {
  data::dataset all;
  std::size_t positives = 0;
};

hospital_data read_own_store(hospital& H, std::uint64_t seed) {
  std::vector<std::array<double, 7>> rows;
  std::vector<double> labels;
  std::mt19937_64 chart(seed * 31u + static_cast<std::uint64_t>(H.index));
  std::normal_distribution<double> z(0.0, 1.0);
  for (const auto& pid : H.patients) {
    for (const auto& rec : H.store->records_of(pid)) {
      const auto data = rec.device_request().data;
      if (data.type != "panel") continue;
      std::array<double, 7> x{};
      for (std::size_t i = 0; i < feature_names.size(); ++i) x[i] = data.fields.at(feature_names[i]).get<double>();
      // The label: NEWS2 >= 5 on a nurse's re-measurement of the same moment (the simulator's
      // measurement noise drawn again: hr 2, SpO2 0.5, temperature 0.1, BP 4, RR 1).
      const int score = news2(x[0] + 2.0 * z(chart), std::min(100.0, x[1] + 0.5 * z(chart)), x[2] + 0.1 * z(chart),
                              x[3] + 4.0 * z(chart), std::round(x[5] + 1.0 * z(chart)));
      rows.push_back(x);
      labels.push_back(score >= 5 ? 1.0 : 0.0);
    }
  }
  hospital_data out;
  out.all.x.resize(static_cast<Eigen::Index>(rows.size()), 7);
  out.all.y.resize(static_cast<Eigen::Index>(rows.size()));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (std::size_t j = 0; j < 7; ++j) out.all.x(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = rows[i][j];
    out.all.y(static_cast<Eigen::Index>(i)) = labels[i];
    out.positives += labels[i] > 0.5 ? 1 : 0;
  }
  return out;
}

data::dataset concat(const std::vector<data::dataset>& parts) {
  Eigen::Index n = 0;
  for (const auto& p : parts) n += p.x.rows();
  data::dataset out;
  out.x.resize(n, parts.front().x.cols());
  out.y.resize(n);
  Eigen::Index at = 0;
  for (const auto& p : parts) {
    out.x.middleRows(at, p.x.rows()) = p.x;
    out.y.segment(at, p.y.size()) = p.y;
    at += p.x.rows();
  }
  return out;
}

} // namespace

int main(int argc, char** argv) try {
  const auto opt = parse(argc, argv);
  const auto start = std::chrono::steady_clock::now();
  fs::create_directories(opt.out);
  const auto db_dir = opt.out / "databases";
  fs::remove_all(db_dir);
  fs::create_directories(db_dir);

  std::printf("# hefl healthcare pipeline%s\n\n", opt.quick ? " (--quick)" : "");
  std::printf("## 1. The hospital network\n");
  network net(opt, db_dir);
  for (auto& H : net.hospitals)
    std::printf("  %s: collector on 127.0.0.1:%u, storage on :%u, ledger replica on :%u, %zu patients with a "
                "monitor each, a doctor and a nurse\n",
                H->name.c_str(), H->collector->port(), H->storage->port(), H->replica->port(), H->patients.size());
  std::printf("  one network CA; rule contract \"bedside-panel\" v1 deployed by admin.network at every collector and "
              "storage node; the ledger's sealers: storage-1, storage-2, storage-3 (%.1f s)\n\n",
              seconds_since(start));

  std::printf("## 2. Monitors stream vital-sign panels over mutual TLS (%d panels per monitor)\n", opt.observations);
  tally t;
  std::atomic<int> done{0};
  const int total = 3 * opt.patients * opt.observations;
  const std::size_t revoked_patient = 0;
  auto phase = [&](int from, int to, const std::vector<std::size_t>& revoked) {
    std::vector<std::thread> threads;
    for (auto& H : net.hospitals)
      threads.emplace_back([&, Hp = H.get()] { stream(net, *Hp, from, to, opt.seed, t, done, revoked); });
    std::atomic<bool> finished{false};
    std::thread progress([&] {
      while (!finished) {
        std::fprintf(stderr, "\r  streaming: %d / %d panels answered", done.load(), total);
        std::this_thread::sleep_for(500ms);
      }
    });
    for (auto& th : threads) th.join();
    finished = true;
    progress.join();
    std::fprintf(stderr, "\r  streaming: %d / %d panels answered\n", done.load(), total);
  };
  const auto stream_start = std::chrono::steady_clock::now();
  const int half = opt.observations / 2;
  phase(0, half, {});
  std::printf("  first half: %d panels answered in %.1f s\n", done.load(), seconds_since(stream_start));
  std::printf("  injecting the attacks:\n");
  run_attacks(net, t, revoked_patient);
  phase(half, opt.observations, {revoked_patient});
  const double stream_seconds = seconds_since(stream_start);
  std::printf("  all %d panels answered in %.1f s (attacks included)\n\n", total, stream_seconds);

  std::printf("## 3. Outcomes and the ledger\n");
  std::printf("| outcome | count |\n|---|---|\n");
  for (const auto& [k, v] : t.counts) std::printf("| %s | %zu |\n", k.c_str(), v);
  // Every acknowledged record is in its hospital's store exactly once.
  std::size_t acked = 0, found = 0;
  for (const auto& [key, ids] : t.acknowledged) {
    auto& H = *net.hospitals[static_cast<std::size_t>(key.first - 1)];
    for (const auto id : ids) {
      ++acked;
      const auto r = H.store->get(id);
      if (r && r->patient_id == H.patients[key.second]) ++found;
    }
  }
  std::printf("acknowledged records found in storage: %zu / %zu\n", found, acked);
  expect(found == acked, "an acknowledged record is missing from storage");

  // Bring the replicas to one head (bounded), then verify each.
  const auto ledger_start = std::chrono::steady_clock::now();
  bool same = false;
  while (!same && seconds_since(ledger_start) < 30.0) {
    std::this_thread::sleep_for(200ms);
    for (auto& H : net.hospitals) (void)H->ledger->tick(iot::ledger_now());
    same = true;
    for (auto& H : net.hospitals)
      same = same && H->ledger->pending_count() == 0 && H->ledger->head_hash() == net.hospitals[0]->ledger->head_hash();
  }
  for (auto& H : net.hospitals) H->replica->stop();
  std::printf("| replica | height | entries | head | verify | integrity scan |\n|---|---|---|---|---|---|\n");
  for (auto& H : net.hospitals) {
    const auto report = H->ledger->verify();
    const auto scan = H->store->integrity_scan();
    std::printf("| %s | %llu | %zu | %s | %s | %s |\n", H->storage_id.c_str(),
                static_cast<unsigned long long>(H->ledger->height()), H->ledger->transaction_count(),
                iot::ledger_detail::to_hex(H->ledger->head_hash()).substr(0, 16).c_str(), report.ok() ? "ok" : "FAILED",
                scan.ok() ? "clean" : "FINDINGS");
    expect(report.ok(), H->storage_id + "'s chain does not verify");
    expect(scan.ok(), H->name + "'s integrity scan has findings");
  }
  expect(same, "the ledger replicas did not reach one head within 30 s");
  std::printf("replicas agree on one head: %s (%.1f s after streaming)\n", same ? "yes" : "NO", seconds_since(ledger_start));
  for (auto& H : net.hospitals) {
    const auto refused = H->replica->refusal_counts();
    std::size_t n = 0;
    for (const auto& [k, v] : refused) n += v;
    if (n > 0) std::printf("  %s gossip refusals: %zu\n", H->storage_id.c_str(), n);
  }
  {
    std::ofstream out(opt.out / "ledger.json");
    nlohmann::json blocks = nlohmann::json::array();
    for (const auto& b : net.hospitals[0]->ledger->blocks()) blocks.push_back(iot::block_to_json(b));
    out << blocks.dump(1) << "\n";
  }
  {
    std::ofstream out(opt.out / "outcomes.csv");
    out << "outcome,count\n";
    for (const auto& [k, v] : t.counts) out << k << "," << v << "\n";
  }
  std::printf("\n");

  std::printf("## 4. Federated deterioration-risk model over the stored records (3 hospitals)\n");
  std::vector<data::dataset> raw_train, raw_test;
  for (auto& H : net.hospitals) {
    auto d = read_own_store(*H, opt.seed);
    std::printf("  %s reads %zu panels from its store, %zu with NEWS2 >= 5\n", H->name.c_str(), d.all.size(), d.positives);
    auto split = data::train_test_split(d.all, opt.seed + static_cast<std::uint64_t>(H->index));
    raw_train.push_back(std::move(split.train));
    raw_test.push_back(std::move(split.test));
  }
  const auto st = data::standardizer::fit_federated(raw_train);  // each hospital sends only n, Σx, Σx²
  std::vector<data::dataset> clients;
  for (const auto& c : raw_train) clients.push_back(st.transform(c));
  const auto test = st.transform(concat(raw_test));
  fl::trainer_config cfg;
  cfg.rounds = opt.rounds;
  cfg.clients = clients.size();
  cfg.local.learning_rate = 0.5;
  cfg.local.l2 = 0.01;
  he::plain_backend plain(16);
  model::logistic_regression m_fl(7), m_fhe(7);
  const auto h_fl = fl::federated_trainer<he::plain_backend>(plain, cfg).fit(m_fl, clients, test);
  const auto sigma = fl::default_encrypted_sigmoid();
  const auto key_start = std::chrono::steady_clock::now();
  crypto::system_random csprng;
  // The key's flooding sized to this run (τ: the gradient sums it will publish): σ grows with sqrt(τ),
  // and the library's default τ = 16384 left too little room on some runs' data (CI, session 8).
  he::ckks_backend_options key_options;
  key_options.flooding.computed_published_values =
      fl::published_computed_values<fl::encrypted_data_training>(cfg, clients.front().features());
  const auto params = fl::ckks_encrypted_data_parameters(fl::encrypted_gradient_depth(sigma));
  // Only the Galois keys the clients' epochs use (their layouts' rotations), not every ±2^i.
  key_options.exact_rotations = fl::rotation_steps_for<fl::encrypted_data_training>(params.slot_count(), clients);
  he::ckks_backend ckks(params, csprng, key_options);
  std::printf("  CKKS keys (N = %zu, 128-bit secure) made in %.1f s\n", ckks.params().poly_degree(), seconds_since(key_start));
  const auto fhe_start = std::chrono::steady_clock::now();
  const auto h_fhe = fl::encrypted_data_trainer<he::ckks_backend>(ckks, cfg, sigma)
                         .fit(m_fhe, clients, test, [&](const fl::round_metrics& m) {
                           std::fprintf(stderr, "\r  FL + FHE round %d / %d", m.round, opt.rounds);
                         });
  std::fprintf(stderr, "\n");
  std::printf("| round | FL (exact sigmoid) | FL + FHE (%s, encrypted data and updates) |\n|---|---|---|\n",
              sigma.name().c_str());
  std::ofstream acc(opt.out / "accuracy.csv");
  acc << "round,fl,fl_fhe\n";
  for (std::size_t r = 0; r < h_fl.size(); ++r) {
    std::printf("| %d | %.4f | %.4f |\n", h_fl[r].round, h_fl[r].accuracy, h_fhe[r].accuracy);
    acc << h_fl[r].round << "," << h_fl[r].accuracy << "," << h_fhe[r].accuracy << "\n";
  }
  acc.close();
  const auto& kh = ckks.key_holder();
  std::printf("test set: %zu panels held out (25%% of each hospital's); FL + FHE took %.1f s; key holder published "
              "%llu values, %llu unflooded\n",
              test.size(), seconds_since(fhe_start), static_cast<unsigned long long>(kh.published_computed_values()),
              static_cast<unsigned long long>(kh.unflooded_decryptions()));
  expect(kh.unflooded_decryptions() == 0, "a decryption left the key holder unflooded");
  expect(std::abs(h_fhe.back().accuracy - h_fl.back().accuracy) <= 0.05,
         "FL + FHE is more than 5 points from plaintext FL");

  // A figure with gnuplot when it is installed (scripts/common.sh installs gnuplot-nox).
  {
    std::ofstream gp(opt.out / "accuracy.gp");
    gp << "set terminal pngcairo size 800,500\nset output 'accuracy.png'\nset datafile separator ','\n"
          "set key bottom right\nset xlabel 'round'\nset ylabel 'test accuracy'\n"
          "set title 'Deterioration risk (NEWS2 >= 5), 3 hospitals'\n"
          "plot 'accuracy.csv' every ::1 using 1:2 with linespoints title 'FL', "
          "'' every ::1 using 1:3 with linespoints title 'FL + FHE'\n";
  }
  const auto cmd = "cd '" + opt.out.string() + "' && gnuplot accuracy.gp 2>/dev/null";
  const bool plotted = std::system(cmd.c_str()) == 0;

  std::printf("\n## 5. Files in %s\n", opt.out.string().c_str());
  std::printf("  outcomes.csv, accuracy.csv, ledger.json (%llu blocks), accuracy.gp%s, databases/\n",
              static_cast<unsigned long long>(net.hospitals[0]->ledger->height() + 1),
              plotted ? ", accuracy.png" : " (gnuplot not found: no figure)");
  std::printf("\nTotal %.1f s. %s\n", seconds_since(start),
              g_failed ? "UNEXPECTED results above." : "OK: every attack refused, every acknowledged record stored, "
                                                       "the ledgers agree and verify.");
  return g_failed ? 1 : 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "healthcare_pipeline: %s\n", e.what());
  return 2;
}
