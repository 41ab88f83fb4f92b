#pragma once
/// @file
/// Shared by the service programs of examples/services/: reading a program's JSON configuration
/// (paths relative to the file), loading PEM certificates and keys, the trust store, the registry
/// and the signed rule contract, one-line event logging, and waiting for SIGINT/SIGTERM or a deadline.

#include <hefl/iot/collection/rules.hpp>
#include <hefl/iot/hospital/registry.hpp>
#include <hefl/iot/ledger/ledger.hpp>
#include <hefl/iot/ledger/ledger_store.hpp>
#include <hefl/iot/pki/pki.hpp>
#include <hefl/net/credentials.hpp>

#include <botan/data_src.h>
#include <botan/ecdsa.h>
#include <botan/hex.h>
#include <botan/pkcs8.h>
#include <botan/system_rng.h>
#include <botan/x509_crl.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <functional>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace hefl_examples {

namespace fs = std::filesystem;

/// A program's JSON configuration; relative paths in it are resolved against its directory.
struct config {
  nlohmann::json json;
  fs::path dir;

  /// @throws hefl::io_error if the file cannot be read; hefl::parse_error if it is not JSON
  static config load(const fs::path& file) {
    std::ifstream in(file);
    if (!in) throw hefl::io_error("config " + file.string() + ": cannot be read");
    config c;
    try {
      c.json = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw hefl::parse_error("config " + file.string() + ": " + e.what());
    }
    c.dir = fs::absolute(file).parent_path();
    return c;
  }
  /// The string at @p key. @throws hefl::parse_error if missing or not a string
  [[nodiscard]] std::string text(const nlohmann::json& j, const char* key) const {
    if (!j.contains(key) || !j.at(key).is_string())
      throw hefl::parse_error(std::string("config: missing string \"") + key + "\"");
    return j.at(key).get<std::string>();
  }
  [[nodiscard]] std::string text(const char* key) const { return text(json, key); }
  /// The path at @p key, resolved against the config's directory.
  [[nodiscard]] fs::path path(const nlohmann::json& j, const char* key) const {
    const fs::path p = text(j, key);
    return p.is_absolute() ? p : dir / p;
  }
  [[nodiscard]] fs::path path(const char* key) const { return path(json, key); }
  /// The port at @p key inside the object @p obj ("listen", "storage", "collector").
  /// @throws hefl::parse_error if missing or outside 1..65535
  [[nodiscard]] std::uint16_t port(const char* obj) const {
    const auto& j = json.at(obj);
    if (!j.contains("port") || !j.at("port").is_number_unsigned() || j.at("port").get<unsigned>() == 0 ||
        j.at("port").get<unsigned>() > 65535)
      throw hefl::parse_error(std::string("config: \"") + obj + ".port\" must be 1..65535");
    return static_cast<std::uint16_t>(j.at("port").get<unsigned>());
  }
};

inline std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw hefl::io_error(file.string() + ": cannot be read");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Writes @p text to @p file; with @p secret the file is created with mode 0600 before anything is written.
inline void write_text(const fs::path& file, const std::string& text, bool secret = false) {
  fs::create_directories(file.parent_path());
  if (secret) {
    std::ofstream(file).close();
    fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
  }
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) throw hefl::io_error(file.string() + ": write failed");
}

inline Botan::X509_Certificate load_cert(const fs::path& file) {
  try {
    return Botan::X509_Certificate(file.string());
  } catch (const std::exception& e) {
    throw hefl::parse_error(file.string() + ": not a certificate: " + e.what());
  }
}

/// A PKCS#8 PEM private key (unencrypted; the file's 0600 mode protects it).
inline std::unique_ptr<Botan::Private_Key> load_key(const fs::path& file) {
  try {
    Botan::DataSource_Stream src(file.string());
    return Botan::PKCS8::load_key(src);
  } catch (const std::exception& e) {
    throw hefl::parse_error(file.string() + ": not a private key: " + e.what());
  }
}

/// The trust store of a program: the hospital root ("ca_root") and its CRL ("crl").
inline std::shared_ptr<hefl::iot::trust_store> load_trust(const config& c) {
  auto s = std::make_shared<hefl::iot::trust_store>(hefl::iot::trust_store::in_memory());
  s->add_root(load_cert(c.path("ca_root")));
  s->add_crl(Botan::X509_CRL(c.path("crl").string()));
  return s;
}

/// The program's own certificate ("cert") and ECDSA P-256 key ("key") for mutual TLS.
inline hefl::net::tls_credentials load_credentials(const config& c, std::shared_ptr<hefl::iot::trust_store> trust) {
  std::shared_ptr<const Botan::Private_Key> key = load_key(c.path("key"));
  return hefl::net::tls_credentials({load_cert(c.path("cert"))}, std::move(key), std::move(trust));
}

/// A signed rule-contract deployment as JSON: the contract text, the admin's signature (hex) and
/// the admin's certificate (PEM). The library has no file format for it; this is the minimum.
inline nlohmann::json deployment_to_json(const hefl::iot::signed_deployment& d) {
  return {{"contract", std::string(d.contract.begin(), d.contract.end())},
          {"signature", Botan::hex_encode(d.signature)},
          {"signer", d.signer.PEM_encode()}};
}
inline hefl::iot::signed_deployment deployment_from_json(const nlohmann::json& j) {
  hefl::iot::signed_deployment d;
  const auto contract = j.at("contract").get<std::string>();
  d.contract.assign(contract.begin(), contract.end());
  d.signature = Botan::hex_decode(j.at("signature").get<std::string>());
  const auto pem = j.at("signer").get<std::string>();
  Botan::DataSource_Memory src(pem);
  d.signer = Botan::X509_Certificate(src);
  return d;
}

/// One line per event on stdout, "<UTC time> <program> <event>", flushed, safe from any thread.
class event_log {
public:
  explicit event_log(std::string program) : m_program(std::move(program)) {}
  void operator()(const std::string& line) const {
    const auto now = std::chrono::system_clock::now();
    const auto t = std::chrono::system_clock::to_time_t(now);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    const std::lock_guard lock(m_mutex);
    std::cout << buf << ' ' << m_program << ' ' << line << std::endl;
  }

private:
  std::string m_program;
  mutable std::mutex m_mutex;
};

/// Blocks SIGINT and SIGTERM in this thread (call before starting any thread, so every thread
/// inherits the mask and the signals wait for wait_for_stop()).
inline void block_stop_signals() {
  // A shell starts background jobs with SIGINT ignored, and an ignored signal is discarded even
  // while blocked: restore the default action so sigtimedwait() receives it.
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

/// Waits for SIGINT/SIGTERM, or until @p max_seconds passed (0 = no limit), calling @p tick about
/// every 200 ms. Returns what ended it.
inline std::string wait_for_stop(long max_seconds, const std::function<void()>& tick = {}) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(max_seconds);
  for (;;) {
    timespec ts{0, 200'000'000};
    const int sig = sigtimedwait(&set, nullptr, &ts);
    if (tick) tick();
    if (sig == SIGINT) return "SIGINT";
    if (sig == SIGTERM) return "SIGTERM";
    if (max_seconds > 0 && std::chrono::steady_clock::now() >= deadline) return "max-seconds";
  }
}

/// Parses a positive integer command-line value. @throws hefl::invalid_argument otherwise
inline long positive(const std::string& flag, const std::string& value, bool allow_zero = false) {
  std::size_t used = 0;
  long v = -1;
  try {
    v = std::stol(value, &used);
  } catch (const std::exception&) {
  }
  if (used != value.size() || v < (allow_zero ? 0 : 1))
    throw hefl::invalid_argument(flag + ": expected a " + (allow_zero ? "non-negative" : "positive") +
                                 " integer, got '" + value + "'");
  return v;
}

/// The command line of a server program, `PROGRAM CONFIG [--max-seconds N]`: the seconds to run (0:
/// until SIGINT/SIGTERM), or -1 after printing the usage to stderr (the caller exits 2).
/// @throws hefl::invalid_argument for a value that is not a positive integer.
inline long server_arguments(const char* program, int argc, char** argv) {
  const std::string usage = std::string("usage: ") + program + " CONFIG [--max-seconds N]\n";
  if (argc < 2) {
    std::cerr << usage;
    return -1;
  }
  long max_seconds = 0;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--max-seconds" && i + 1 < argc) {
      max_seconds = positive(a, argv[++i]);
    } else {
      std::cerr << program << ": unknown argument '" << a << "'\n" << usage;
      return -1;
    }
  }
  return max_seconds;
}

/// The rule manager of a server program: admins are certificates of the hospital CA with role admin,
/// and every accepted deployment goes on @p ledger. Fill it with deploy_rule_contracts.
inline std::unique_ptr<hefl::iot::rule_manager<>> make_rule_manager(std::shared_ptr<hefl::iot::trust_store> trust,
                                                                    hefl::iot::ledger& ledger) {
  namespace iot = hefl::iot;
  return std::make_unique<iot::rule_manager<>>(
      [trust](const Botan::X509_Certificate& c) {
        return iot::validate_chain(c, *trust, iot::cert_usage::any, std::chrono::system_clock::now(), {iot::role::admin})
            .ok();
      },
      [&ledger](const iot::deployment_event& e) {
        if (e.accepted())
          ledger.submit(iot::transaction::rule_deployment(e.group_name, e.version, e.contract_hash, e.signer,
                                                          iot::ledger_now()));
      });
}

/// A server's ledger replica and, when the config names a "ledger_database", the SQLite file
/// (iot::ledger_store) that keeps its blocks across restarts.
struct server_ledger {
  std::unique_ptr<hefl::iot::ledger> ledger;
  std::unique_ptr<hefl::iot::ledger_store> store;  ///< null without "ledger_database"
  std::uint64_t loaded_height = 0;                 ///< height of the chain reloaded from the file at start (0: genesis only)

  /// Seals what is due and writes the new blocks (with a signed checkpoint of the head) in one
  /// SQLite transaction. @returns the number of blocks written
  /// @throws hefl::io_error if the file cannot be written
  std::size_t tick() {
    (void)ledger->tick(hefl::iot::ledger_now());
    return save();
  }
  /// At a graceful stop: seals every pending entry and writes it. @throws as tick()
  std::size_t flush() {
    (void)ledger->flush();
    return save();
  }

private:
  std::optional<hefl::iot::sha256_digest> m_saved_head;
  std::size_t save() {
    // Submissions on the service threads seal blocks too; a save (which copies the chain) is due
    // whenever the head changed since the last one.
    if (!store) return 0;
    const auto head = ledger->head_hash();
    if (m_saved_head && *m_saved_head == head) return 0;
    const auto written = store->save(*ledger);
    m_saved_head = head;
    return written;
  }
};

/// The server's ledger replica: with "ledger_key" (a JSON file, created 0600 at the first start) a
/// sealing replica whose key and genesis time persist, else an in-memory local ledger. With
/// "ledger_database" too, its chain is reloaded from that SQLite file (every block, author signature
/// and the signed checkpoint of the head verified: iot::ledger_store::load_into) and saved by tick().
/// @throws hefl::parse_error if the key file is not one; hefl::ledger_integrity_error if the stored
///         chain does not verify (an edited, truncated or foreign file); hefl::io_error on file errors
inline server_ledger make_server_ledger(const config& c, const std::string& sealer_id) {
  namespace iot = hefl::iot;
  server_ledger out;
  if (!c.json.contains("ledger_key")) {
    if (c.json.contains("ledger_database"))
      throw hefl::invalid_argument("config: \"ledger_database\" needs a \"ledger_key\" (the checkpoint is signed)");
    out.ledger = std::make_unique<iot::local_ledger>(iot::ledger_config{}, sealer_id);
    return out;
  }
  const auto file = c.path("ledger_key");
  if (!fs::exists(file)) {
    std::vector<std::uint8_t> seed(32);
    Botan::system_rng().randomize(seed.data(), seed.size());
    const nlohmann::json j{{"sealer", sealer_id},
                           {"seed", Botan::hex_encode(seed)},
                           {"genesis_ms", iot::ledger_now().time_since_epoch().count()}};
    write_text(file, j.dump() + "\n", true);
  }
  try {
    const auto j = nlohmann::json::parse(read_text(file));
    const auto seed = Botan::hex_decode(j.at("seed").get<std::string>());
    auto key = iot::sealer_key::from_seed(j.at("sealer").get<std::string>(), std::span<const std::uint8_t>(seed));
    const iot::ledger_time genesis{std::chrono::milliseconds(j.at("genesis_ms").get<std::int64_t>())};
    out.ledger = std::make_unique<iot::ledger>(iot::make_genesis({key.identity()}, "hefl-" + key.id(), genesis),
                                               iot::ledger_config{}, key);
  } catch (const hefl::error&) {
    throw;
  } catch (const std::exception& e) {
    throw hefl::parse_error(file.string() + ": not a ledger key file: " + e.what());
  }
  if (c.json.contains("ledger_database")) {
    out.store = std::make_unique<iot::ledger_store>(c.path("ledger_database").string());
    if (out.store->block_count() > 0) out.store->load_into(*out.ledger);
    out.loaded_height = out.ledger->height();
  }
  return out;
}

/// Deploys the signed rule contracts the config lists ("rule_contracts").
/// @throws hefl::security_error naming the file of a contract the manager refuses.
inline void deploy_rule_contracts(hefl::iot::rule_manager<>& rules, const config& cfg) {
  for (const auto& c : cfg.json.at("rule_contracts")) {
    const auto file = cfg.dir / c.get<std::string>();
    const auto outcome = rules.deploy(deployment_from_json(nlohmann::json::parse(read_text(file))));
    if (!outcome.accepted())
      throw hefl::security_error("rule contract " + file.string() + " refused: " + outcome.message);
  }
}

/// Logs the TLS server's handshake refusals (refused certificate, no client certificate, ...) that
/// are new since the last call, one line each; refusals the server no longer keeps (it keeps the
/// newest server_limits::max_refusals_kept) are logged as one count.
template <class Server>
std::function<void()> handshake_refusal_logger(const Server& server, const event_log& log) {
  return [&server, &log, seen = std::uint64_t{0}]() mutable {
    const auto snap = server.refusals_snapshot();
    if (snap.total <= seen) return;
    const std::uint64_t fresh = snap.total - seen;
    const std::uint64_t shown = std::min<std::uint64_t>(fresh, snap.newest.size());
    if (fresh > shown) log("refused stage=handshake count=" + std::to_string(fresh - shown) + " (reasons not kept)");
    for (std::size_t i = snap.newest.size() - shown; i < snap.newest.size(); ++i)
      log("refused stage=handshake reason=\"" + snap.newest[i] + "\"");
    seen = snap.total;
  };
}

} // namespace hefl_examples
