// storage_server CONFIG [--max-seconds N]: the hospital's storage node (services::storage_service)
// on 127.0.0.1: collectors forward attested records (storage guard, SQLite store with group commits),
// doctors and nurses read their patients' records. One line per event on stdout; stops on
// SIGINT/SIGTERM or after N seconds, answering the requests already received first.
#include "service_config.hpp"

#include <hefl/iot/hospital/access.hpp>
#include <hefl/iot/storage/storage_guard.hpp>
#include <hefl/services.hpp>

using namespace hefl;
using namespace hefl_examples;

using guard_type = iot::storage_guard<iot::rule_manager<>, iot::ledger>;
using access_type = iot::access_controller<iot::ledger>;

int main(int argc, char** argv) try {
  const long max_seconds = server_arguments("storage_server", argc, argv);
  if (max_seconds < 0) return 2;
  block_stop_signals();  // before any thread starts
  const auto cfg = config::load(argv[1]);
  event_log log("storage_server");
  const auto now = std::chrono::system_clock::now();

  auto trust = load_trust(cfg);
  auto reg = iot::registry::open_sqlite(cfg.path("registry"));
  iot::identity_directory keys;
  for (const auto& p : cfg.json.at("patient_certificates")) {
    const auto v = keys.enrol_patient({load_cert(cfg.path(p, "cert"))}, *trust, now);
    if (!v.ok()) throw security_error("patient certificate " + cfg.text(p, "cert") + " refused: " + v.reason);
  }
  // The collectors' keys verify the stored rows' countersignatures (reads, integrity scan) from the
  // start; without them a restarted node would know a collector's key only after its next record.
  for (const auto& c : cfg.json.value("collector_certificates", nlohmann::json::array())) {
    const auto file = cfg.dir / c.get<std::string>();
    const auto v = keys.enrol_collector({load_cert(file)}, *trust, now);
    if (!v.ok()) throw security_error("collector certificate " + file.string() + " refused: " + v.reason);
  }
  for (const auto& d : cfg.json.at("device_certificates")) {
    const auto file = cfg.dir / d.get<std::string>();
    const auto v = keys.enrol_device({load_cert(file)}, *trust, now);
    if (!v.ok()) throw security_error("device certificate " + file.string() + " refused: " + v.reason);
  }
  auto chain = make_server_ledger(cfg, cfg.json.value("id", std::string("storage")));
  auto& ledger = *chain.ledger;
  const auto rules_owner = make_rule_manager(trust, ledger);
  auto& rules = *rules_owner;
  deploy_rule_contracts(rules, cfg);
  iot::record_store<> store(cfg.path("database").string(), keys, ledger);
  // After a restart (kill -9 included), the record_stored entries of the rows already stored go back
  // to the ledger from the journal written in each row's own transaction.
  const auto resubmitted = store.resubmit_journal();
  iot::storage_guard_options go;
  if (cfg.json.contains("nonce_database")) go.nonce_sqlite_path = cfg.path("nonce_database").string();
  guard_type guard(*trust, reg, keys, rules, store, ledger, go);
  access_type access(*trust, reg, store, ledger);

  services::storage_service_options o;
  o.address = cfg.json.at("listen").value("address", "127.0.0.1");
  o.port = cfg.port("listen");
  o.log = [&log](const std::string& line) { log(line); };
  services::storage_service<guard_type, access_type> service(load_credentials(cfg, trust), guard, access, o);
  log("listening address=" + o.address + " port=" + std::to_string(service.port()) + " records=" +
      std::to_string(store.size()) + " journal_resubmitted=" + std::to_string(resubmitted) +
      " ledger_loaded_height=" + std::to_string(chain.loaded_height));

  const auto log_refusals = handshake_refusal_logger(service.server(), log);
  std::size_t journal_pruned = 0;
  const auto why = wait_for_stop(max_seconds, [&] {
    log_refusals();
    // Seals the blocks that are due; with "ledger_database" writes them, after which the journal rows
    // of the entries they hold are no longer needed (the ledger's own file keeps those entries).
    if (chain.tick() > 0) journal_pruned += store.prune_journal(chain.store->block_count() - 1);
  });
  log("stopping reason=" + why);
  service.stop();
  (void)chain.flush();  // every pending entry sealed (and written) before the scan
  const auto scan = store.integrity_scan();  // rows re-verified and reconciled with the ledger's entries
  const bool clean = scan.ok();
  const bool chain_ok = ledger.verify().ok();
  log("stopped stored=" + std::to_string(service.stored()) + " retries_answered=" +
      std::to_string(service.retries_answered()) + " batches=" + std::to_string(service.batches()) +
      " largest_batch=" + std::to_string(service.largest_batch()) + " journal_pruned=" +
      std::to_string(journal_pruned) + " records=" + std::to_string(store.size()) +
      " integrity=" + (clean ? "clean" : "FAILED") + " findings=" + std::to_string(scan.findings.size()) +
      " missing=" + std::to_string(scan.missing_count) + " ledger_findings=" +
      std::to_string(scan.ledger_findings.size()) + " ledger=" + (chain_ok ? "verified" : "FAILED") +
      " ledger_height=" + std::to_string(ledger.height()));
  return clean && chain_ok ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "storage_server: " << e.what() << "\n";
  return 1;
}
