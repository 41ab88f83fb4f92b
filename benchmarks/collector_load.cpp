// collector_load: the paper's load test (seed 003: 10 / 100 / 1000 simultaneous devices) against the
// collector and storage services over real mutual TLS on 127.0.0.1, in one process.
//   fresh      N devices start together; each opens a fresh mTLS connection to the collector and sends
//              one signed record; the time runs until every record is acknowledged, i.e. validated,
//              forwarded over mTLS and durably stored (SQLite, one fsync per batch) with its ledger
//              entry. Latency: connect + handshake + submit + acknowledgement, per device.
//   keepalive  D devices on persistent connections send records back to back for a fixed count each;
//              records per second over the whole run, latency per record.
// Prints a Markdown table and writes CSV `mode,devices,seconds,p50_ms,p99_ms,records_per_s`.
//
//   collector_load [--devices 10,100,1000] [--keepalive-devices 32] [--keepalive-records 50]
//                  [--repetitions 1] [--csv FILE]
// Runs beside whatever else the machine runs: the load average is printed with the table.
#include <hefl/iot/collection/collector_validator.hpp>
#include <hefl/iot/hospital/access.hpp>
#include <hefl/iot/storage/storage_guard.hpp>
#include <hefl/services.hpp>

#include <botan/auto_rng.h>
#include <botan/ecdsa.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <latch>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace hefl;
using namespace hefl::services;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using guard_type = iot::storage_guard<iot::rule_manager<>, iot::local_ledger>;
using access_type = iot::access_controller<iot::local_ledger>;
using storage_type = storage_service<guard_type, access_type>;
using collector_type = collector_service<iot::collector_validator<>, iot::patient_smart_card<>>;

// The vitals contract with a rate limit that a benchmark device does not reach.
std::string load_contract() {
  std::string c(vitals_contract);
  const std::string from = "\"max_messages_per_minute\": 600", to = "\"max_messages_per_minute\": 60000";
  const auto at = c.find(from);
  if (at == std::string::npos) throw std::runtime_error("collector_load: vitals_contract changed its rate field");
  c.replace(at, from.size(), to);
  return c;
}

std::shared_ptr<Botan::ECDSA_PrivateKey> new_key() {
  return std::make_shared<Botan::ECDSA_PrivateKey>(Botan::system_rng(), Botan::EC_Group("secp256r1"));
}

/// One hospital with @p devices monitors: a collector forwarding to a storage node (record store in a
/// fresh SQLite file), both on ephemeral ports.
struct hospital {
  Botan::AutoSeeded_RNG rng;
  iot::clock_time t0 = std::chrono::system_clock::now() - 1min;
  iot::certificate_authority ca{"Load Test Hospital", t0 - 1h};
  std::shared_ptr<iot::trust_store> trust = [&] {
    auto s = std::make_shared<iot::trust_store>(iot::trust_store::in_memory());
    s->add_root(ca.root());
    s->add_crl(ca.crl());
    return s;
  }();
  iot::registry reg;
  std::shared_ptr<Botan::ECDSA_PrivateKey> admin_key = new_key();
  Botan::X509_Certificate admin_cert = ca.issue(*admin_key, id_of(iot::role::admin, "admin"), t0 - 1h, 24h);
  iot::patient_smart_card<> card{"p-1", rng};
  fs::path dir;
  iot::identity_directory keys;
  iot::local_ledger storage_ledger, collector_ledger;
  iot::rule_manager<> storage_rules{admin_check(), [](const iot::deployment_event&) {}};
  iot::rule_manager<> collector_rules{admin_check(), [](const iot::deployment_event&) {}};
  std::unique_ptr<iot::record_store<>> store;
  std::unique_ptr<guard_type> guard;
  std::unique_ptr<access_type> access;
  iot::replay_guard replay;
  std::unique_ptr<iot::collector_validator<>> validator;
  std::vector<net::tls_credentials> devices;
  std::unique_ptr<net::tls_credentials> collector_creds;
  std::unique_ptr<storage_type> storage;
  std::unique_ptr<collector_type> collector;

  static iot::identity id_of(iot::role r, const std::string& s) {
    iot::identity id;
    id.role = r;
    id.subject_id = s;
    return id;
  }
  std::function<bool(const Botan::X509_Certificate&)> admin_check() {
    return [this](const Botan::X509_Certificate& c) {
      return iot::validate_chain(c, *trust, iot::cert_usage::any, std::chrono::system_clock::now(), {iot::role::admin})
          .ok();
    };
  }
  net::tls_credentials issue(iot::role r, const std::string& s) {
    auto key = new_key();
    return net::tls_credentials({ca.issue(*key, id_of(r, s), t0 - 1h, 24h)}, key, trust);
  }

  explicit hospital(std::size_t n, const fs::path& where) : dir(where) {
    fs::create_directories(dir);
    reg.register_patient({"p-1", "icu", "1", "Load"});
    reg.register_collector("collector-1");
    if (!keys.enrol_patient({ca.issue(card.public_key(), id_of(iot::role::patient, "p-1"), t0 - 1h, 24h)}, *trust, t0))
      throw std::runtime_error("patient enrolment refused");
    const auto contract = iot::sign_deployment(load_contract(), *admin_key, admin_cert, rng);
    if (!storage_rules.deploy(contract).accepted() || !collector_rules.deploy(contract).accepted())
      throw std::runtime_error("contract refused");
    for (std::size_t i = 1; i <= n; ++i) {
      auto key = new_key();
      auto id = id_of(iot::role::device, "dev-" + std::to_string(i));
      id.device_epc = iot::sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345." + std::to_string(i), 1);
      id.group_id = 1;
      net::tls_credentials creds({ca.issue(*key, id, t0 - 1h, 24h)}, key, trust);
      reg.register_device(*id.device_epc, "p-1", "collector-1");
      if (!keys.enrol_device(creds.chain(), *trust, t0)) throw std::runtime_error("device enrolment refused");
      devices.push_back(std::move(creds));
    }
    store = std::make_unique<iot::record_store<>>((dir / "records.sqlite").string(), keys, storage_ledger);
    guard = std::make_unique<guard_type>(*trust, reg, keys, storage_rules, *store, storage_ledger);
    access = std::make_unique<access_type>(*trust, reg, *store, storage_ledger);
    iot::collector_validator_options vo;
    vo.collector_id = "collector-1";
    vo.devices = &reg;
    validator = std::make_unique<iot::collector_validator<>>(iot::trust_store_certificates(*trust), collector_rules,
                                                            replay, collector_ledger, vo);
    storage = std::make_unique<storage_type>(issue(iot::role::storage, "storage-1"), *guard, *access);
    collector_creds = std::make_unique<net::tls_credentials>(issue(iot::role::collector, "collector-1"));
    collector_service_options co;
    co.storage_port = storage->port();
    co.limits.max_connections = std::max<std::size_t>(1024, n + 16);
    co.limits.max_in_flight_per_peer = 8;
    collector = std::make_unique<collector_type>(
        *collector_creds, *validator, &replay,
        [this](const std::string& p) -> iot::patient_smart_card<>* { return p == "p-1" ? &card : nullptr; }, co);
  }
  ~hospital() {
    collector.reset();
    storage.reset();
    store.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

struct row {
  std::string mode;
  std::size_t devices = 0;
  double seconds = 0, p50 = 0, p99 = 0, per_second = 0;
  std::size_t stored = 0, sent = 0;
  std::uint64_t commits = 0;      // SQLite COMMITs that stored records (one fsync each)
  std::size_t largest_batch = 0;  // most records in one commit
};

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

row run_fresh(std::size_t n, const fs::path& dir) {
  hospital h(n, dir);
  std::vector<double> latency(n, 0.0);
  std::vector<char> ok(n, 0);
  std::latch go(static_cast<std::ptrdiff_t>(n) + 1);
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      device_client_options o;
      o.port = h.collector->port();
      o.max_attempts = 3;
      device_client dev(h.devices[i], "collector-1", o);
      vitals_generator g(i);
      const auto data = g.next(all_vitals[i % all_vitals.size()]);
      go.arrive_and_wait();
      const auto t = std::chrono::steady_clock::now();
      try {
        const auto r = dev.submit("p-1", data);
        ok[i] = r.stored ? 1 : 0;
      } catch (const std::exception&) {
        ok[i] = 0;
      }
      latency[i] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
    });
  const auto start = std::chrono::steady_clock::now();
  go.arrive_and_wait();
  for (auto& t : threads) t.join();
  row r;
  r.mode = "fresh";
  r.devices = n;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.p50 = percentile(latency, 0.50);
  r.p99 = percentile(latency, 0.99);
  r.sent = n;
  r.stored = static_cast<std::size_t>(std::count(ok.begin(), ok.end(), 1));
  r.per_second = static_cast<double>(r.stored) / r.seconds;
  r.commits = h.store->commit_count();
  r.largest_batch = h.storage->largest_batch();
  if (h.store->size() != r.stored)
    throw std::runtime_error("collector_load: " + std::to_string(r.stored) + " acknowledged but " +
                             std::to_string(h.store->size()) + " stored");
  return r;
}

row run_keepalive(std::size_t n, std::size_t per_device, const fs::path& dir) {
  hospital h(n, dir);
  std::vector<std::vector<double>> latency(n);
  std::vector<std::size_t> stored(n, 0);
  std::latch go(static_cast<std::ptrdiff_t>(n) + 1);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      device_client_options o;
      o.port = h.collector->port();
      device_client dev(h.devices[i], "collector-1", o);
      vitals_generator g(i);
      try {
        (void)dev.submit("p-1", g.next(vital::heart_rate));  // connect before the clock starts
      } catch (const std::exception&) {
      }
      go.arrive_and_wait();
      for (std::size_t k = 0; k < per_device; ++k) {
        const auto t = std::chrono::steady_clock::now();
        try {
          if (dev.submit("p-1", g.next(all_vitals[k % all_vitals.size()])).stored) ++stored[i];
        } catch (const std::exception&) {
        }
        latency[i].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count());
      }
    });
  const auto start = std::chrono::steady_clock::now();
  go.arrive_and_wait();
  for (auto& t : threads) t.join();
  row r;
  r.mode = "keepalive";
  r.devices = n;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<double> all;
  for (const auto& v : latency) all.insert(all.end(), v.begin(), v.end());
  r.p50 = percentile(all, 0.50);
  r.p99 = percentile(all, 0.99);
  r.sent = n * per_device;
  for (const auto s : stored) r.stored += s;
  r.per_second = static_cast<double>(r.stored) / r.seconds;
  r.commits = h.store->commit_count();  // includes the n warm-up records
  r.largest_batch = h.storage->largest_batch();
  return r;
}

std::vector<std::size_t> parse_list(const std::string& s) {
  std::vector<std::size_t> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    const auto v = std::strtoul(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 1 || v > 5000)
      throw std::invalid_argument("expected device counts in [1, 5000] separated by commas, got '" + s + "'");
    out.push_back(v);
  }
  return out;
}

} // namespace

int main(int argc, char** argv) try {
  std::vector<std::size_t> fresh{10, 100, 1000};
  std::size_t keep_devices = 32, keep_records = 50;
  int repetitions = 1;
  std::string csv;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--devices") fresh = parse_list(value());
    else if (a == "--keepalive-devices") keep_devices = parse_list(value()).at(0);
    else if (a == "--keepalive-records") keep_records = parse_list(value()).at(0);
    else if (a == "--repetitions") repetitions = static_cast<int>(parse_list(value()).at(0));
    else if (a == "--csv") csv = value();
    else throw std::invalid_argument("unknown argument '" + a + "'");
  }
  const auto dir = fs::temp_directory_path() / ("hefl-collector-load-" + std::to_string(::getpid()));
  std::printf("collector_load: load average before %s\n", load_average().c_str());
  std::vector<row> rows;
  for (int rep = 0; rep < repetitions; ++rep) {
    for (const auto n : fresh) {
      std::fprintf(stderr, "fresh, %zu devices ...\n", n);
      rows.push_back(run_fresh(n, dir / ("fresh-" + std::to_string(n))));
    }
    std::fprintf(stderr, "keepalive, %zu devices x %zu records ...\n", keep_devices, keep_records);
    rows.push_back(run_keepalive(keep_devices, keep_records, dir / "keepalive"));
  }
  std::printf("\n| mode | devices | acknowledged / sent | seconds | p50 ms | p99 ms | records/s | commits | largest batch |\n"
              "|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& r : rows)
    std::printf("| %s | %zu | %zu / %zu | %.3f | %.1f | %.1f | %.0f | %llu | %zu |\n", r.mode.c_str(), r.devices, r.stored,
                r.sent, r.seconds, r.p50, r.p99, r.per_second, static_cast<unsigned long long>(r.commits),
                r.largest_batch);
  std::printf("load average after: %s\n", load_average().c_str());
  if (!csv.empty()) {
    std::ofstream out(csv);
    out << "mode,devices,seconds,p50_ms,p99_ms,records_per_s\n";
    for (const auto& r : rows)
      out << r.mode << "," << r.devices << "," << r.seconds << "," << r.p50 << "," << r.p99 << "," << r.per_second << "\n";
    std::printf("CSV written to %s\n", csv.c_str());
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "collector_load: %s\n", e.what());
  return 2;
}
