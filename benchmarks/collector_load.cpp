// collector_load: the paper's load test (seed 003: 10 / 100 / 1000 simultaneous devices) against the
// collector and storage services over real mutual TLS on 127.0.0.1. The services run in this process,
// the devices in a forked child process, so that the CPU time of each side is measured apart.
//   fresh      N devices start together; each opens a fresh mTLS connection to the collector and sends
//              one signed record; the time runs until every record is acknowledged, i.e. validated,
//              forwarded over mTLS and durably stored (SQLite, one fsync per batch) with its ledger
//              entry. Latency: connect + handshake + submit + acknowledgement, per device.
//   keepalive  D devices on persistent connections send records back to back for a fixed count each;
//              records per second over the whole run, latency per record.
//   fresh-sealS  as fresh, but storage acknowledges a record only once the ledger block holding its
//              entry is sealed, one block every S seconds (the paper's Proof-of-Authority chain: 5 s);
//              built-in ledger only, run for each --transport (resumed-sealS, connected-sealS)
//   --ledger ethereum | ethereum-batched  (built with hefl::ethereum): the collector's rule-check log
//              goes to AuditLog on a ganache this program starts (127.0.0.1, a free port, a block every
//              --block-time S seconds, stopped at exit), either one transaction per request
//              (iot::ethereum_ledger, submitted by a pool of --eth-submitters threads) or Merkle-batched
//              (iot::batched_audit_ledger, pipelined). The fresh bursts then also report "on chain s":
//              from the start until every device is acknowledged AND every entry's transaction is mined.
//   --ledger builtin,ethereum,ethereum-batched  (a comma list, each ledger at most once): the bursts of
//              each listed ledger one after another in this process (one ganache, one AuditLog per
//              Ethereum ledger), each ledger's tables as for a single --ledger, then one combined table:
//              a row per (transport, requests), a column per ledger with its end-to-end seconds (built-in:
//              all acknowledged, and with --seal-interval also acknowledged after the block holding each
//              record's entry is sealed; Ethereum: on chain), and the paper's figure. With a list, the CSV
//              gains a leading `ledger` column and a trailing `end_to_end_s` (the combined table's figure).
//   --transport fresh,resumed,connected  how the devices of a burst reach the collector (default: fresh):
//              fresh      a full mutual-TLS handshake per device (no remembered session);
//              resumed    each device connected once before the clock starts and closed; in the burst it
//                         reconnects and resumes its TLS session (abbreviated handshake, RFC 5246 section
//                         7.3; the collector validates the remembered chain again);
//              connected  each device's connection is open before the clock starts (a monitor that stays
//                         connected): no handshake in the burst.
//              Every mode prints the collector's handshakes during the timed burst (full / resumed).
//   --direct   with an Ethereum ledger: the ledger alone, no services or TLS: N rule-check entries
//              submitted at once, timed until every entry's transaction is mined.
// Prints a Markdown table (with the CPU seconds of the services and of the devices) and writes CSV
// `mode,devices,seconds,p50_ms,p99_ms,records_per_s`; with --plot DIR, also DIR/collector_load.csv,
// DIR/collector_load.gp and the plot DIR/collector_load.svg made by gnuplot (the command is printed).
//
//   collector_load [--devices 10,100,1000] [--keepalive-devices 64] [--keepalive-records 50]
//                  [--seal-interval 5] [--repetitions 1] [--csv FILE] [--plot DIR] [--no-cache]
//                  [--ledger builtin|ethereum|ethereum-batched[,...]] [--block-time 5] [--eth-submitters 128] [--direct]
//                  [--transport fresh,resumed,connected]
// --no-cache validates every peer chain from scratch (no net::validation_cache), for comparison.
// Exit code 2 on a bad argument (std::invalid_argument, e.g. an unknown or repeated ledger, --direct with
// builtin) or a failed run, with the reason on stderr.
// Runs beside whatever else the machine runs: the load average is printed with the table.
#include <hefl/iot/collection/collector_validator.hpp>
#include <hefl/iot/hospital/access.hpp>
#include <hefl/iot/storage/storage_guard.hpp>
#include <hefl/services.hpp>

#ifdef HEFL_HAVE_ETHEREUM
#include <hefl/iot/ledger/ethereum/batched_audit_ledger.hpp>
#include <hefl/iot/ledger/ethereum/ethereum_ledger.hpp>
#include <hefl/testing/ganache.hpp>
#endif

#include <botan/auto_rng.h>
#include <botan/ecdsa.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <csignal>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <functional>
#include <fstream>
#include <latch>
#include <semaphore>
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
// The collector's ledger behind one indirection, so that the built-in and the Ethereum ledgers share a type.
struct chain_ledger {
  std::function<iot::sha256_digest(iot::transaction)> fn;
  iot::sha256_digest submit(iot::transaction tx) { return fn(std::move(tx)); }
};
using validator_type = iot::collector_validator<net::cached_certificates, iot::ecdsa_p256_signing, iot::rule_manager<>,
                                                iot::replay_guard, chain_ledger>;
using collector_type = collector_service<validator_type, iot::patient_smart_card<>>;

// --no-cache: every chain validated from scratch, as before the validation cache (for the comparison).
bool g_cache = true;
// --block-time, --eth-submitters: the same for every Ethereum ledger of an invocation.
unsigned g_block_time = 5;
std::size_t g_submitters = 128;

/// --ledger: where the collector's rule-check log goes. Each run is given its ledger (no global), so
/// that one invocation can measure several.
enum class ledger_kind { builtin, ethereum, ethereum_batched };
const char* name_of(ledger_kind k) {
  return k == ledger_kind::builtin ? "builtin" : k == ledger_kind::ethereum ? "ethereum" : "ethereum-batched";
}
bool on_ethereum(ledger_kind k) { return k != ledger_kind::builtin; }

/// The --ledger value: one ledger or a comma list, each at most once, in the order given.
/// @throws std::invalid_argument for an empty item, an unknown ledger or one listed twice
std::vector<ledger_kind> parse_ledgers(const std::string& s) {
  std::vector<ledger_kind> out;
  std::size_t from = 0;
  for (;;) {
    const auto comma = s.find(',', from);
    const std::string item = s.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
    ledger_kind k{};
    if (item == "builtin") k = ledger_kind::builtin;
    else if (item == "ethereum") k = ledger_kind::ethereum;
    else if (item == "ethereum-batched") k = ledger_kind::ethereum_batched;
    else
      throw std::invalid_argument("--ledger must be builtin, ethereum or ethereum-batched, or a comma list of them, got '" +
                                  item + "'" + (item == s ? std::string() : " in '" + s + "'"));
    if (std::find(out.begin(), out.end(), k) != out.end())
      throw std::invalid_argument("--ledger lists " + item + " twice in '" + s +
                                  "': each ledger runs once per invocation (--repetitions repeats them)");
    out.push_back(k);
    if (comma == std::string::npos) return out;
    from = comma + 1;
  }
}
// --transport: how the devices of a fresh burst connect.
enum class transport { fresh, resumed, connected };
const char* name_of(transport t) { return t == transport::fresh ? "fresh" : t == transport::resumed ? "resumed" : "connected"; }

/// The collector's log on Ethereum for one run: submit() must not block a collector thread for a block.
struct eth_run {
  virtual ~eth_run() = default;
  virtual iot::sha256_digest submit(iot::transaction tx) = 0;
  /// Returns once every entry submitted so far is mined. @throws what the ledger threw
  virtual void drain() = 0;
  /// Ethereum transactions sent for the entries.
  virtual std::uint64_t transactions() = 0;
  /// When the newest entry was handed to the ledger (steady_clock ticks; 0 = none yet).
  std::atomic<std::int64_t> last_entry{0};
  void note_entry() { last_entry = std::chrono::steady_clock::now().time_since_epoch().count(); }
};

#ifdef HEFL_HAVE_ETHEREUM
namespace eth = iot::ethereum;
/// ganache, its JSON-RPC client, ganache's first account, and one AuditLog per Ethereum ledger of the
/// invocation (so each ledger's log holds only its own entries): one per program. The ledgers run one
/// after another, so they share the account and its nonces without racing.
struct eth_chain {
  std::unique_ptr<testing::ganache_process> node;
  std::unique_ptr<eth::json_rpc_client> rpc;
  std::unique_ptr<eth::transaction_sender> sender;
  std::vector<std::pair<ledger_kind, eth::address>> audit_logs;
  /// @throws std::logic_error if no AuditLog was deployed for @p k
  [[nodiscard]] eth::address audit_log(ledger_kind k) const {
    for (const auto& [kind, at] : audit_logs)
      if (kind == k) return at;
    throw std::logic_error(std::string("collector_load: no AuditLog deployed for ") + name_of(k));
  }
};
// Owned by main (not a static: Botan's allocator must outlive its keys).
eth_chain* g_chain = nullptr;

/// Starts ganache and deploys an AuditLog for each Ethereum ledger in @p ledgers.
/// @throws hefl::io_error if ganache is not installed or does not start; std::runtime_error if a deployment fails
void start_chain(const std::vector<ledger_kind>& ledgers) {
  const auto tools = testing::eth_tools_dir(HEFL_ETH_TOOLS_DEFAULT);
  g_chain->node = std::make_unique<testing::ganache_process>(tools, g_block_time);
  g_chain->rpc = std::make_unique<eth::json_rpc_client>("127.0.0.1", g_chain->node->port(), std::chrono::seconds(30));
  const auto secret = eth::from_hex(testing::ganache_key0);
  std::array<std::uint8_t, 32> k{};
  std::copy(secret.begin(), secret.end(), k.begin());
  g_chain->sender = std::make_unique<eth::transaction_sender>(*g_chain->rpc, eth::secp256k1_key(k), g_chain->rpc->chain_id());
  std::vector<std::pair<ledger_kind, eth::hash32>> deployments;  // all sent first: they share a block
  for (const auto l : ledgers) {
    if (!on_ethereum(l)) continue;
    eth::legacy_transaction deploy;
    deploy.gas_price = Botan::BigInt(g_chain->rpc->gas_price());
    deploy.gas_limit = 1500000;
    deploy.data = eth::audit_log_abi::creation_code();
    deployments.emplace_back(l, g_chain->sender->submit(deploy).hash);
  }
  for (const auto& [l, hash] : deployments) {
    const auto r = g_chain->rpc->await_receipt(hash, std::chrono::seconds(120));
    if (!r.success || !r.contract_address)
      throw std::runtime_error(std::string("collector_load: AuditLog deployment for ") + name_of(l) + " failed");
    g_chain->audit_logs.emplace_back(l, *r.contract_address);
    std::printf("collector_load: ganache on 127.0.0.1:%u (pid %d), a block every %u s, AuditLog%s%s at %s\n",
                static_cast<unsigned>(g_chain->node->port()), static_cast<int>(g_chain->node->pid()), g_block_time,
                deployments.size() > 1 ? " for " : "", deployments.size() > 1 ? name_of(l) : "",
                eth::to_hex(*r.contract_address).c_str());
  }
}

/// One AuditLog transaction per request: iot::ethereum_ledger::submit (which waits for its receipt)
/// on a pool of g_submitters threads, so the collector's threads do not wait for blocks.
struct per_request_run final : eth_run {
  iot::ethereum_ledger ledger{*g_chain->rpc, *g_chain->sender, g_chain->audit_log(ledger_kind::ethereum)};
  std::mutex m;
  std::condition_variable cv;
  std::deque<iot::transaction> queue;
  std::size_t busy = 0;
  std::uint64_t sent = 0;
  bool stop = false;
  std::exception_ptr failure;
  std::vector<std::thread> pool;
  per_request_run() {
    for (std::size_t i = 0; i < g_submitters; ++i)
      pool.emplace_back([this] {
        std::unique_lock lock(m);
        for (;;) {
          cv.wait(lock, [&] { return stop || !queue.empty(); });
          if (queue.empty()) return;
          iot::transaction tx = std::move(queue.front());
          queue.pop_front();
          ++busy;
          lock.unlock();
          std::exception_ptr err;
          try {
            (void)ledger.submit(std::move(tx));
          } catch (...) {
            err = std::current_exception();
          }
          lock.lock();
          --busy;
          ++sent;
          if (err && !failure) failure = err;
          cv.notify_all();
        }
      });
  }
  ~per_request_run() override {
    {
      std::lock_guard lock(m);
      stop = true;
    }
    cv.notify_all();
    for (auto& t : pool) t.join();
  }
  iot::sha256_digest submit(iot::transaction tx) override {
    note_entry();
    const auto id = tx.id();
    {
      std::lock_guard lock(m);
      queue.push_back(std::move(tx));
    }
    cv.notify_all();
    return id;
  }
  void drain() override {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return queue.empty() && busy == 0; });
    if (failure) std::rethrow_exception(failure);
  }
  std::uint64_t transactions() override {
    std::lock_guard lock(m);
    return sent;
  }
};

/// Merkle-batched: iot::batched_audit_ledger, pipelined (a batch closes at 1000 entries or after 100 ms).
struct batched_run final : eth_run {
  iot::batched_audit_ledger ledger{*g_chain->rpc, *g_chain->sender, g_chain->audit_log(ledger_kind::ethereum_batched), [] {
                                     iot::batched_audit_config c;
                                     c.max_batch = 1000;
                                     c.max_delay = std::chrono::milliseconds(100);
                                     c.pipelined = true;
                                     return c;
                                   }()};
  iot::sha256_digest submit(iot::transaction tx) override {
    note_entry();
    return ledger.submit(std::move(tx));
  }
  void drain() override { ledger.wait_all(std::chrono::seconds(300)); }
  std::uint64_t transactions() override { return ledger.batches().size(); }
};
#endif

/// The collector's log for one run on @p k (nullptr for the built-in ledger).
std::unique_ptr<eth_run> make_eth_run(ledger_kind k) {
#ifdef HEFL_HAVE_ETHEREUM
  if (k == ledger_kind::ethereum) return std::make_unique<per_request_run>();
  if (k == ledger_kind::ethereum_batched) return std::make_unique<batched_run>();
#endif
  (void)k;
  return nullptr;
}

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
  std::chrono::milliseconds seal_interval{0};
  iot::local_ledger storage_ledger{[this] {
    iot::ledger_config c;
    if (seal_interval.count() > 0) {  // blocks only from the sealer, every seal_interval (PoA-like)
      c.max_block_transactions = 100000;
      c.max_block_delay = std::chrono::hours(24);
    }
    return c;
  }()};
  iot::local_ledger collector_ledger;
  chain_ledger collector_chain{[this](iot::transaction tx) { return collector_ledger.submit(std::move(tx)); }};
  iot::rule_manager<> storage_rules{admin_check(), [](const iot::deployment_event&) {}};
  iot::rule_manager<> collector_rules{admin_check(), [](const iot::deployment_event&) {}};
  std::unique_ptr<iot::record_store<>> store;
  std::unique_ptr<guard_type> guard;
  std::unique_ptr<access_type> access;
  iot::replay_guard replay;
  // One memo per service (deployed, they run on different machines): see net::validation_cache.
  std::shared_ptr<net::validation_cache> collector_cache = std::make_shared<net::validation_cache>(),
                                         storage_cache = std::make_shared<net::validation_cache>();
  std::unique_ptr<validator_type> validator;
  std::vector<net::tls_credentials> devices;
  std::unique_ptr<net::tls_credentials> collector_creds, storage_creds;
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

  hospital(std::size_t n, const fs::path& where, std::chrono::milliseconds seal = {}) : dir(where), seal_interval(seal) {
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
    iot::storage_guard_options go;
    if (g_cache)
      go.validate = [c = storage_cache](const std::vector<Botan::X509_Certificate>& chain, const iot::trust_store& s,
                                        iot::cert_usage u, iot::clock_time now, iot::role_set roles) {
        return c->validate(chain, s, u, now, roles);
      };
    guard = std::make_unique<guard_type>(*trust, reg, keys, storage_rules, *store, storage_ledger, go);
    access = std::make_unique<access_type>(*trust, reg, *store, storage_ledger);
    iot::collector_validator_options vo;
    vo.collector_id = "collector-1";
    vo.devices = &reg;
    validator = std::make_unique<validator_type>(net::cached_certificates(g_cache ? collector_cache.get() : nullptr, *trust),
                                                 collector_rules, replay, collector_chain, vo);
    storage_creds = std::make_unique<net::tls_credentials>(issue(iot::role::storage, "storage-1"));
    collector_creds = std::make_unique<net::tls_credentials>(issue(iot::role::collector, "collector-1"));
    if (g_cache) {
      storage_creds->use_validation_cache(storage_cache);
      collector_creds->use_validation_cache(collector_cache);
    }
  }
  std::function<void()> before_start;  // e.g. the Ethereum ledger's threads (after fork())
  std::function<void()> on_ready;      // the devices are about to start: the timed span begins
  std::chrono::steady_clock::time_point run_start;  // when the devices were told to start (run_split)
  /// Starts storage and collector (threads: call after fork()).
  void start() {
    if (before_start) before_start();
    storage_service_options so;
    so.committers = 2;  // the guard's checks of two batches on two cores
    if (seal_interval.count() > 0) {
      so.seal_interval = seal_interval;
      so.seal = [this] { (void)storage_ledger.flush(); };
    }
    storage = std::make_unique<storage_type>(*storage_creds, *guard, *access, so);
    collector_service_options co;
    co.storage_port = storage->port();
    co.limits.max_connections = std::max<std::size_t>(1024, devices.size() + 16);
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
  ledger_kind ledger = ledger_kind::builtin;
  transport how = transport::fresh;  // the burst modes (burst or direct true)
  bool burst = false;                // a fresh/resumed/connected burst (not keepalive, not --direct)
  bool direct = false;               // --direct: the Ethereum ledger alone
  bool sealed = false;               // built-in: acknowledged after the block holding the entry was sealed
  std::size_t devices = 0;
  double seconds = 0, p50 = 0, p99 = 0, per_second = 0;
  std::size_t stored = 0, sent = 0;
  std::uint64_t commits = 0;      // SQLite COMMITs that stored records (one fsync each)
  std::size_t largest_batch = 0;  // most records in one commit
  double cpu_services = 0;        // user + sys seconds of this process (collector + storage) during the run
  double cpu_devices = 0;         // user + sys seconds of the device process during the run
  double chain_seconds = 0;       // --ledger ethereum*: until every device acknowledged and every entry mined
  std::uint64_t chain_txs = 0;    // --ledger ethereum*: Ethereum transactions for the entries
  double last_entry_seconds = 0;  // --ledger ethereum*: from the start until the last entry reached the ledger
  std::uint64_t hs_full = 0, hs_resumed = 0;  // the collector's TLS handshakes during the timed span
  bool counted_handshakes = false;             // hs_* were counted (the burst modes)
  [[nodiscard]] std::string handshakes() const {
    return counted_handshakes ? std::to_string(hs_full) + " / " + std::to_string(hs_resumed) : std::string("-");
  }
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

double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  const auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
  return tv(u.ru_utime) + tv(u.ru_stime);
}

// Whole reads and writes on a pipe.
void write_all(int fd, const void* data, std::size_t n) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const auto w = ::write(fd, p, n);
    if (w <= 0) throw std::runtime_error("collector_load: pipe write failed");
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}
void read_all(int fd, void* data, std::size_t n) {
  auto* p = static_cast<char*>(data);
  while (n > 0) {
    const auto r = ::read(fd, p, n);
    if (r <= 0) throw std::runtime_error("collector_load: the device process ended early");
    p += r;
    n -= static_cast<std::size_t>(r);
  }
}

/// What the device process measured.
struct device_report {
  double seconds = 0;           // from the start signal to the last answer
  double cpu = 0;               // its user + sys seconds over the same span
  std::size_t stored = 0;
  std::vector<double> latency;  // ms, one per request
};

/// Forks the device process (before any thread exists in this one), starts the services here, hands
/// the collector's port to the child, which runs @p devices (given the port, returning its report),
/// and collects the report. The services' CPU time is this process's over the same span.
template <class Devices>
device_report run_split(hospital& h, double& cpu_services, Devices devices) {
  int to_child[2], to_parent[2];
  if (::pipe(to_child) != 0 || ::pipe(to_parent) != 0) throw std::runtime_error("collector_load: pipe failed");
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("collector_load: fork failed");
  if (pid == 0) {  // the devices: never return into main (no destructors of the parent's objects here)
    int code = 0;
    try {
      ::close(to_child[1]);
      ::close(to_parent[0]);
      std::uint16_t port = 0;
      read_all(to_child[0], &port, sizeof port);
      const auto r = devices(port, [&] {
        const char ready = 'R';
        write_all(to_parent[1], &ready, 1);
      });
      const std::uint64_t n = r.latency.size(), stored = r.stored;
      write_all(to_parent[1], &r.seconds, sizeof r.seconds);
      write_all(to_parent[1], &r.cpu, sizeof r.cpu);
      write_all(to_parent[1], &stored, sizeof stored);
      write_all(to_parent[1], &n, sizeof n);
      write_all(to_parent[1], r.latency.data(), n * sizeof(double));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "collector_load (devices): %s\n", e.what());
      code = 2;
    }
    std::fflush(nullptr);
    ::_exit(code);
  }
  ::close(to_child[0]);
  ::close(to_parent[1]);
  device_report r;
  try {
    h.start();
    const std::uint16_t port = h.collector->port();
    write_all(to_child[1], &port, sizeof port);
    char ready = 0;
    read_all(to_parent[0], &ready, 1);  // the devices are about to start (after any warm-up)
    h.run_start = std::chrono::steady_clock::now();
    if (h.on_ready) h.on_ready();
    const double cpu0 = cpu_seconds();
    std::uint64_t stored = 0, n = 0;
    read_all(to_parent[0], &r.seconds, sizeof r.seconds);
    cpu_services = cpu_seconds() - cpu0;
    read_all(to_parent[0], &r.cpu, sizeof r.cpu);
    read_all(to_parent[0], &stored, sizeof stored);
    read_all(to_parent[0], &n, sizeof n);
    r.latency.resize(n);
    read_all(to_parent[0], r.latency.data(), n * sizeof(double));
    r.stored = stored;
  } catch (...) {
    ::close(to_child[1]);
    ::close(to_parent[0]);
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    throw;
  }
  ::close(to_child[1]);
  ::close(to_parent[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error("collector_load: the device process failed");
  return r;
}

double seconds_since_start(std::int64_t ticks, std::chrono::steady_clock::time_point start) {
  if (ticks == 0) return 0.0;
  const std::chrono::steady_clock::time_point t{std::chrono::steady_clock::duration(ticks)};
  return std::chrono::duration<double>(t - start).count();
}

row run_fresh(ledger_kind ledger, std::size_t n, const fs::path& dir, std::chrono::milliseconds seal,
              transport how = transport::fresh) {
  hospital h(n, dir, seal);
  row r;
  net::handshake_counts hs0;
  h.on_ready = [&] { hs0 = h.collector->server().handshakes(); };
  std::unique_ptr<eth_run> chain;
  if (on_ethereum(ledger))
    h.before_start = [&] {
      chain = make_eth_run(ledger);
      h.collector_chain.fn = [&chain](iot::transaction tx) { return chain->submit(std::move(tx)); };
    };
  const auto rep = run_split(h, r.cpu_services, [&](std::uint16_t port, const std::function<void()>& ready) {
    device_report out;
    out.latency.assign(n, 0.0);
    std::vector<char> ok(n, 0);
    std::latch prepared(static_cast<std::ptrdiff_t>(n) + 1), go(static_cast<std::ptrdiff_t>(n) + 1);
    std::counting_semaphore<> priming(32);  // connections made before the clock: 32 at a time, not a burst
    std::vector<std::thread> threads;
    threads.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
      threads.emplace_back([&, i] {
        device_client_options o;
        o.port = port;
        o.max_attempts = 3;
        o.tls.resume_sessions = how == transport::resumed;
        // Each device remembers the collector chains it validated (its own memo, as on its own hardware):
        // a resumed handshake then validates the remembered chain from it; a fresh device has none.
        auto creds = h.devices[i];
        creds.use_validation_cache(std::make_shared<net::validation_cache>());
        device_client dev(std::move(creds), "collector-1", o);
        vitals_generator g(i);
        const auto data = g.next(all_vitals[i % all_vitals.size()]);
        if (how != transport::fresh) {  // before the clock: a full handshake that the burst resumes, or a connection it uses
          priming.acquire();
          for (int attempt = 1;; ++attempt) {
            try {
              dev.connect();
              break;
            } catch (const std::exception& e) {
              if (attempt == 3) {  // the burst then makes a full handshake, counted in the table
                std::fprintf(stderr, "collector_load (devices): device %zu could not connect before the burst: %s\n", i, e.what());
                break;
              }
            }
          }
          priming.release();
          if (how == transport::resumed) dev.close();
        }
        prepared.arrive_and_wait();
        go.arrive_and_wait();
        const auto t = std::chrono::steady_clock::now();
        try {
          const auto res = dev.submit("p-1", data);
          ok[i] = res.stored ? 1 : 0;
        } catch (const std::exception&) {
          ok[i] = 0;
        }
        out.latency[i] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
      });
    prepared.arrive_and_wait();
    ready();
    const double cpu0 = cpu_seconds();
    const auto start = std::chrono::steady_clock::now();
    go.arrive_and_wait();
    for (auto& t : threads) t.join();
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    out.cpu = cpu_seconds() - cpu0;
    out.stored = static_cast<std::size_t>(std::count(ok.begin(), ok.end(), 1));
    return out;
  });
  const auto hs1 = h.collector->server().handshakes();
  r.hs_full = hs1.full - hs0.full;
  r.hs_resumed = hs1.resumed - hs0.resumed;
  r.counted_handshakes = true;
  r.mode = std::string(name_of(how)) + (seal.count() > 0 ? "-seal" + std::to_string(seal.count() / 1000) : "");
  r.ledger = ledger;
  r.how = how;
  r.burst = true;
  r.sealed = seal.count() > 0;
  if (chain) {
    chain->drain();
    r.chain_seconds = std::max(rep.seconds, std::chrono::duration<double>(std::chrono::steady_clock::now() - h.run_start).count());
    r.chain_txs = chain->transactions();
    r.last_entry_seconds = seconds_since_start(chain->last_entry, h.run_start);
    r.mode += std::string("-") + name_of(ledger);
  }
  r.devices = n;
  r.seconds = rep.seconds;
  r.cpu_devices = rep.cpu;
  r.p50 = percentile(rep.latency, 0.50);
  r.p99 = percentile(rep.latency, 0.99);
  r.sent = n;
  r.stored = rep.stored;
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
  row r;
  const auto rep = run_split(h, r.cpu_services, [&](std::uint16_t port, const std::function<void()>& ready) {
    device_report out;
    std::vector<std::vector<double>> latency(n);
    std::vector<std::size_t> stored(n, 0);
    std::latch connected(static_cast<std::ptrdiff_t>(n) + 1), go(static_cast<std::ptrdiff_t>(n) + 1);
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < n; ++i)
      threads.emplace_back([&, i] {
        device_client_options o;
        o.port = port;
        device_client dev(h.devices[i], "collector-1", o);
        vitals_generator g(i);
        try {
          (void)dev.submit("p-1", g.next(vital::heart_rate));  // connect before the clock starts
        } catch (const std::exception&) {
        }
        connected.arrive_and_wait();
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
    connected.arrive_and_wait();
    ready();
    const double cpu0 = cpu_seconds();
    const auto start = std::chrono::steady_clock::now();
    go.arrive_and_wait();
    for (auto& t : threads) t.join();
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    out.cpu = cpu_seconds() - cpu0;
    for (const auto& v : latency) out.latency.insert(out.latency.end(), v.begin(), v.end());
    for (const auto s : stored) out.stored += s;
    return out;
  });
  r.mode = "keepalive";
  r.devices = n;
  r.seconds = rep.seconds;
  r.cpu_devices = rep.cpu;
  r.p50 = percentile(rep.latency, 0.50);
  r.p99 = percentile(rep.latency, 0.99);
  r.sent = n * per_device;
  r.stored = rep.stored;
  r.per_second = static_cast<double>(r.stored) / r.seconds;
  r.commits = h.store->commit_count();  // includes the n warm-up records
  r.largest_batch = h.storage->largest_batch();
  return r;
}

// --direct: N rule-check entries straight into the Ethereum ledger, timed until all are mined.
row run_direct(ledger_kind ledger, std::size_t n) {
  auto chain = make_eth_run(ledger);
  std::vector<iot::transaction> txs;
  for (std::size_t i = 0; i < n; ++i) {
    const std::array<std::uint8_t, 32> h{static_cast<std::uint8_t>(i), static_cast<std::uint8_t>(i >> 8)};
    txs.push_back(iot::transaction::rule_check("3074257bf7194e4000001a85", "icu", "accepted", h,
                                               iot::ledger_time(std::chrono::milliseconds(static_cast<std::int64_t>(i)))));
  }
  const auto start = std::chrono::steady_clock::now();
  for (auto& tx : txs) (void)chain->submit(std::move(tx));
  const double submitted = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  chain->drain();
  row r;
  r.mode = std::string("direct-") + name_of(ledger);
  r.ledger = ledger;
  r.direct = true;
  r.devices = r.sent = r.stored = n;
  r.seconds = submitted;
  r.chain_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.chain_txs = chain->transactions();
  r.last_entry_seconds = seconds_since_start(chain->last_entry, start);
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

/// The figure comparable to the paper's "all requests answered with the log entry on the chain": on
/// Ethereum, until every entry's transaction is mined; built-in, until all are acknowledged (after the
/// block holding each entry is sealed when the row is sealed).
double end_to_end(const row& r) { return on_ethereum(r.ledger) ? r.chain_seconds : r.seconds; }

/// @p with_ledger (a --ledger list): a leading `ledger` column and a trailing `end_to_end_s`.
/// @throws std::runtime_error if @p path cannot be written
void write_csv(const std::string& path, const std::vector<row>& rows, bool with_ledger) {
  std::ofstream out(path);
  if (!out) throw std::runtime_error("cannot write " + path);
  out << (with_ledger ? "ledger," : "") << "mode,devices,seconds,p50_ms,p99_ms,records_per_s"
      << (with_ledger ? ",end_to_end_s" : "") << "\n";
  for (const auto& r : rows) {
    if (with_ledger) out << name_of(r.ledger) << ",";
    out << r.mode << "," << r.devices << "," << r.seconds << "," << r.p50 << "," << r.p99 << "," << r.per_second;
    if (with_ledger) out << "," << end_to_end(r);
    out << "\n";
  }
}

const char* paper_seconds(std::size_t n) { return n == 10 ? "5.72" : n == 100 ? "10.81" : n == 1000 ? "30.25" : "-"; }

/// One ledger's tables, as a single --ledger prints them: every row, then (Ethereum) the chain's view.
void print_detail(const std::vector<row>& rows, ledger_kind ledger) {
  std::printf("\n| mode | devices | acknowledged / sent | seconds | p50 ms | p99 ms | records/s | commits | largest batch "
              "| CPU s services | CPU ms / record services | CPU s devices | TLS handshakes full / resumed |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& r : rows)
    if (r.ledger == ledger)
      std::printf("| %s | %zu | %zu / %zu | %.3f | %.1f | %.1f | %.0f | %llu | %zu | %.2f | %.2f | %.2f | %s |\n",
                  r.mode.c_str(), r.devices, r.stored, r.sent, r.seconds, r.p50, r.p99, r.per_second,
                  static_cast<unsigned long long>(r.commits), r.largest_batch, r.cpu_services,
                  r.stored ? 1000.0 * r.cpu_services / static_cast<double>(r.stored) : 0.0, r.cpu_devices,
                  r.handshakes().c_str());
  if (!on_ethereum(ledger)) return;
  std::printf("\nThe collector's log on Ethereum (ganache, a block every %u s); the paper (seed 003: geth PoA, 5 s "
              "blocks) for the same burst (--direct: 'all acknowledged' = all submitted; TLS handshakes: the collector's "
              "during the burst, full / resumed; last entry: when the last rule-check entry reached the ledger, after which "
              "only ganache's block clock is waited for):\n\n| mode | requests | TLS handshakes full / resumed | acknowledged / sent "
              "| all acknowledged s | last entry s | on chain s | Ethereum transactions | paper s |\n"
              "|---|---|---|---|---|---|---|---|---|\n",
              g_block_time);
  for (const auto& r : rows)
    if (r.ledger == ledger)
      std::printf("| %s | %zu | %s | %zu / %zu | %.3f | %.3f | %.3f | %llu | %s |\n", r.mode.c_str(), r.devices,
                  r.handshakes().c_str(), r.stored, r.sent, r.seconds, r.last_entry_seconds, r.chain_seconds,
                  static_cast<unsigned long long>(r.chain_txs), paper_seconds(r.devices));
}

/// The --ledger list's combined table: a row per (transport, requests), a column per ledger (two for the
/// built-in one with --seal-interval) with its end-to-end seconds, and the paper's. With repetitions,
/// the median and the range.
void print_combined(const std::vector<row>& rows, const std::vector<ledger_kind>& ledgers,
                    const std::vector<transport>& transports, const std::vector<std::size_t>& counts,
                    std::chrono::milliseconds seal, bool direct, int repetitions) {
  struct column {
    std::string title;
    std::function<bool(const row&)> takes;
  };
  std::vector<column> columns;
  const auto seal_s = std::to_string(seal.count() / 1000);
  for (const auto l : ledgers) {
    const std::string name = name_of(l);
    if (direct) {
      columns.push_back({"`" + name + "` --direct: on chain s", [l](const row& r) { return r.direct && r.ledger == l; }});
    } else if (!on_ethereum(l)) {
      columns.push_back({"`builtin`: all acknowledged s", [](const row& r) { return r.burst && !on_ethereum(r.ledger) && !r.sealed; }});
      if (seal.count() > 0)
        columns.push_back({"`builtin`, a block sealed every " + seal_s + " s: all acknowledged s",
                           [](const row& r) { return r.burst && !on_ethereum(r.ledger) && r.sealed; }});
    } else {
      columns.push_back({"`" + name + "`: on chain s", [l](const row& r) { return r.burst && r.ledger == l; }});
    }
  }
  const char* repeated = repetitions > 1 ? " Median of the repetitions, their range in brackets." : "";
  if (direct) {
    std::printf("\nAll ledgers of this invocation, one after another (ganache: a block every %u s), --direct: seconds "
                "from the first submission until every entry's transaction is mined (the ledger alone, no services). "
                "Paper: seed 003, geth PoA with 5 s blocks, all requests answered through its whole system.%s\n\n"
                "| transport | requests |",
                g_block_time, repeated);
  } else {
    const bool builtin = std::find(ledgers.begin(), ledgers.end(), ledger_kind::builtin) != ledgers.end();
    std::printf("\nAll ledgers of this invocation, one after another (ganache: a block every %u s). Seconds from the "
                "devices' start until every request is answered with its log entry in the ledger:%s%s%s "
                "Paper: seed 003, geth PoA with 5 s blocks, all requests answered.%s\n\n| transport | requests |",
                g_block_time,
                builtin ? " `builtin`: all acknowledged, the entries handed to the built-in ledger without waiting for "
                          "their block;"
                        : "",
                builtin && seal.count() > 0
                    ? " `builtin`, sealed: acknowledged only after storage's block holding the record's entry is sealed;"
                    : "",
                std::any_of(ledgers.begin(), ledgers.end(), on_ethereum)
                    ? " Ethereum: all acknowledged and every rule-check entry's AuditLog transaction mined (`on chain s`)."
                    : "",
                repeated);
  }
  for (const auto& c : columns) std::printf(" %s |", c.title.c_str());
  std::printf(" paper s |\n|---|---|");
  for (std::size_t i = 0; i < columns.size(); ++i) std::printf("---|");
  std::printf("---|\n");
  const std::vector<transport> routes = direct ? std::vector<transport>{transport::fresh} : transports;
  for (const auto how : routes)
    for (const auto n : counts) {
      std::printf("| %s | %zu |", direct ? "none (--direct)" : name_of(how), n);
      for (const auto& c : columns) {
        std::vector<double> v;
        std::size_t short_runs = 0;  // runs where not every request was acknowledged: not "all answered"
        for (const auto& r : rows)
          if (c.takes(r) && r.devices == n && (direct || r.how == how)) {
            v.push_back(end_to_end(r));
            if (r.stored < r.sent) ++short_runs;
          }
        std::sort(v.begin(), v.end());
        if (v.empty()) std::printf(" – |");
        else {
          if (v.size() == 1) std::printf(" %.3f", v[0]);
          else std::printf(" %.3f (%.3f-%.3f)", percentile(v, 0.5), v.front(), v.back());
          if (short_runs > 0) std::printf(", not all acknowledged in %zu of %zu runs", short_runs, v.size());
          std::printf(" |");
        }
      }
      std::printf(" %s |\n", paper_seconds(n));
    }
}

// One gnuplot data block per fresh mode (devices, seconds, p50 s, p99 s), and the paper's figures.
void write_plot(const fs::path& dir, const std::vector<row>& rows, const std::string& load_before, bool with_ledger) {
  fs::create_directories(dir);
  write_csv((dir / "collector_load.csv").string(), rows, with_ledger);
  std::vector<std::string> modes;
  for (const auto& r : rows)
    if (r.mode != "keepalive" && std::find(modes.begin(), modes.end(), r.mode) == modes.end()) modes.push_back(r.mode);
  std::ofstream gp(dir / "collector_load.gp");
  gp << "# Written by benchmarks/collector_load (load average before the run: " << load_before << ").\n"
     << "# Time until every device's record is acknowledged (validated and durably stored), and p50 / p99\n"
     << "# latency per device, against simultaneous devices; the paper's figures (seed 003) for reference.\n"
     << "set terminal svg size 760,480 font 'sans,12'\n"
     << "set output '" << (dir / "collector_load.svg").string() << "'\n"
     << "set logscale xy\nset xlabel 'simultaneous devices (fresh mTLS connection each)'\n"
     << "set ylabel 'seconds'\nset key left top\nset grid\nset xrange [5:2000]\n";
  for (std::size_t m = 0; m < modes.size(); ++m) {
    gp << "$m" << m << " << EOD\n";
    for (const auto& r : rows)
      if (r.mode == modes[m]) gp << r.devices << " " << r.seconds << " " << r.p50 / 1000.0 << " " << r.p99 / 1000.0 << "\n";
    gp << "EOD\n";
  }
  gp << "$paper << EOD\n10 5.72\n100 10.81\n1000 30.25\nEOD\n";
  gp << "plot $paper using 1:2 with linespoints lw 2 dt 2 title 'paper (Ethereum PoA, 5 s blocks): all answered'";
  for (std::size_t m = 0; m < modes.size(); ++m) {
    gp << ", \\\n  $m" << m << " using 1:2 with linespoints lw 2 title '" << modes[m] << ": all acknowledged'"
       << ", \\\n  $m" << m << " using 1:3 with points pt 7 title '" << modes[m] << ": p50 latency'"
       << ", \\\n  $m" << m << " using 1:4 with points pt 5 title '" << modes[m] << ": p99 latency'";
  }
  gp << "\n";
  gp.close();
  const std::string cmd = "gnuplot " + (dir / "collector_load.gp").string();
  std::printf("plot: %s -> %s (exit %d)\n", cmd.c_str(), (dir / "collector_load.svg").string().c_str(),
              std::system(cmd.c_str()));
}

} // namespace

int main(int argc, char** argv) try {
  std::vector<std::size_t> fresh{10, 100, 1000};
  std::size_t keep_devices = 64, keep_records = 50;
  int repetitions = 1;
  std::chrono::milliseconds seal{0};
  std::string csv, plot;
  bool direct = false;
  std::vector<transport> transports{transport::fresh};
  std::vector<ledger_kind> ledgers{ledger_kind::builtin};
  std::string ledger_arg = "builtin";
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
    else if (a == "--seal-interval") seal = std::chrono::seconds(parse_list(value()).at(0));
    else if (a == "--csv") csv = value();
    else if (a == "--plot") plot = value();
    else if (a == "--no-cache") g_cache = false;
    else if (a == "--ledger") ledgers = parse_ledgers(ledger_arg = value());
    else if (a == "--block-time") g_block_time = static_cast<unsigned>(parse_list(value()).at(0));
    else if (a == "--eth-submitters") g_submitters = parse_list(value()).at(0);
    else if (a == "--direct") direct = true;
    else if (a == "--transport") {
      transports.clear();
      std::stringstream ss(value());
      std::string t;
      while (std::getline(ss, t, ','))
        if (t == "fresh") transports.push_back(transport::fresh);
        else if (t == "resumed") transports.push_back(transport::resumed);
        else if (t == "connected") transports.push_back(transport::connected);
        else throw std::invalid_argument("--transport takes fresh, resumed or connected separated by commas, got '" + t + "'");
      if (transports.empty()) throw std::invalid_argument("--transport needs at least one of fresh, resumed, connected");
    }
    else throw std::invalid_argument("unknown argument '" + a + "'");
  }
  const bool any_ethereum = std::any_of(ledgers.begin(), ledgers.end(), on_ethereum);
  if (direct && !std::all_of(ledgers.begin(), ledgers.end(), on_ethereum))
    throw std::invalid_argument(ledgers.size() == 1 ? std::string("--direct needs --ledger ethereum or ethereum-batched")
                                                    : "--direct measures Ethereum ledgers alone, without services: "
                                                      "--ledger '" + ledger_arg + "' lists builtin");
#ifdef HEFL_HAVE_ETHEREUM
  eth_chain chain_owner;
  g_chain = &chain_owner;
  if (any_ethereum) start_chain(ledgers);  // once, whatever the number of Ethereum ledgers
#else
  if (any_ethereum) throw std::invalid_argument("--ledger " + ledger_arg + ": built without hefl::ethereum (cpp-httplib)");
#endif
  const bool several = ledgers.size() > 1;
  const auto dir = fs::temp_directory_path() / ("hefl-collector-load-" + std::to_string(::getpid()));
  const auto load_before = load_average();
  std::printf("collector_load: load average before %s\n", load_before.c_str());
  std::vector<row> rows;
  for (int rep = 0; rep < repetitions; ++rep)
    for (const auto ledger : ledgers) {
      const std::string lname = name_of(ledger);
      const auto where = [&](const std::string& run) { return dir / (several ? lname + "-" + run : run); };
      if (direct) {
        for (const auto n : fresh) {
          std::fprintf(stderr, "%sdirect, %zu entries ...\n", several ? (lname + ": ").c_str() : "", n);
          rows.push_back(run_direct(ledger, n));
        }
        continue;
      }
      const auto bursts = [&](std::chrono::milliseconds s) {
        for (const auto how : transports)
          for (const auto n : fresh) {
            std::fprintf(stderr, "%s%s, %zu devices%s ...\n", several ? (lname + ": ").c_str() : "", name_of(how), n,
                         s.count() > 0 ? (", a block sealed every " + std::to_string(s.count() / 1000) + " s").c_str() : "");
            const std::string run = std::string(s.count() > 0 ? "seal-" : "") + name_of(how) + "-" + std::to_string(n);
            rows.push_back(run_fresh(ledger, n, where(run), s, how));
            const auto& r = rows.back();
            std::fprintf(stderr, "  %s %zu: %zu / %zu acknowledged in %.3f s, handshakes full / resumed %s, last entry %.3f s, "
                         "on chain %.3f s, load %s\n", r.mode.c_str(), r.devices, r.stored, r.sent, r.seconds,
                         r.handshakes().c_str(), r.last_entry_seconds, r.chain_seconds, load_average().c_str());
          }
      };
      bursts({});
      if (on_ethereum(ledger)) continue;  // the Ethereum ledgers: the fresh bursts only
      std::fprintf(stderr, "%skeepalive, %zu devices x %zu records ...\n", several ? (lname + ": ").c_str() : "",
                   keep_devices, keep_records);
      rows.push_back(run_keepalive(keep_devices, keep_records, where("keepalive")));
      if (seal.count() > 0) bursts(seal);
    }
  for (const auto ledger : ledgers) {
    if (several) std::printf("\n%s:\n", name_of(ledger));
    print_detail(rows, ledger);
  }
  if (several) print_combined(rows, ledgers, transports, fresh, seal, direct, repetitions);
  std::printf("%sload average after: %s\n", several ? "\n" : "", load_average().c_str());
  if (!csv.empty()) {
    write_csv(csv, rows, several);
    std::printf("CSV written to %s\n", csv.c_str());
  }
  if (!plot.empty()) write_plot(plot, rows, load_before, several);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "collector_load: %s\n", e.what());
  return 2;
}
