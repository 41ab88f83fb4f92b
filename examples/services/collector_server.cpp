// collector_server CONFIG [--max-seconds N]: the hospital's collector (services::collector_service)
// on 127.0.0.1: validates each device's signed request against the device's verified TLS certificate
// and the rule contract, has the patient's card sign the record, countersigns it and forwards it over
// mutual TLS to the storage node; the device is answered after storage committed. One line per event
// on stdout; stops on SIGINT/SIGTERM or after N seconds, answering the requests already received first.
#include "service_config.hpp"

#include <hefl/iot/collection/collector_validator.hpp>
#include <hefl/iot/storage/storage_guard.hpp>  // services.hpp needs storage_verdict declared first
#include <hefl/services.hpp>

#include <map>

using namespace hefl;
using namespace hefl_examples;

using validator_type = iot::collector_validator<>;
using collector_type = services::collector_service<validator_type, iot::patient_smart_card<>>;

int main(int argc, char** argv) try {
  const long max_seconds = server_arguments("collector_server", argc, argv);
  if (max_seconds < 0) return 2;
  block_stop_signals();  // before any thread starts
  const auto cfg = config::load(argv[1]);
  event_log log("collector_server");

  auto trust = load_trust(cfg);
  auto reg = iot::registry::open_sqlite(cfg.path("registry"));
  auto chain = make_server_ledger(cfg, cfg.json.value("id", std::string("collector")));
  auto& ledger = *chain.ledger;
  const auto rules_owner = make_rule_manager(trust, ledger);
  auto& rules = *rules_owner;
  deploy_rule_contracts(rules, cfg);
  std::map<std::string, iot::patient_smart_card<>> cards;
  for (const auto& p : cfg.json.at("patient_cards")) {
    const auto id = cfg.text(p, "id");
    cards.emplace(id, iot::patient_smart_card<>(id, load_key(cfg.path(p, "key"))));
  }

  // With "nonce_database", the replay memory persists (a restarted collector still knows the nonces it
  // saw; a device's retry of one is forwarded to storage, which decides: docs/services.md).
  auto replay_owner = cfg.json.contains("nonce_database")
                          ? std::make_unique<iot::replay_guard>(cfg.path("nonce_database").string())
                          : std::make_unique<iot::replay_guard>();
  auto& replay = *replay_owner;
  iot::collector_validator_options vo;
  vo.collector_id = cfg.text("id");
  vo.devices = &reg;
  validator_type validator(iot::trust_store_certificates(*trust), rules, replay, ledger, vo);

  services::collector_service_options o;
  o.address = cfg.json.at("listen").value("address", "127.0.0.1");
  o.port = cfg.port("listen");
  o.storage_host = cfg.json.at("storage").value("host", "127.0.0.1");
  o.storage_port = cfg.port("storage");
  o.log = [&log](const std::string& line) { log(line); };
  collector_type service(
      load_credentials(cfg, trust), validator, &replay,
      [&cards](const std::string& patient) -> iot::patient_smart_card<>* {
        const auto it = cards.find(patient);
        return it == cards.end() ? nullptr : &it->second;
      },
      o);
  log("listening address=" + o.address + " port=" + std::to_string(service.port()) + " storage=" + o.storage_host +
      ":" + std::to_string(o.storage_port) + " ledger_loaded_height=" + std::to_string(chain.loaded_height));

  const auto log_refusals = handshake_refusal_logger(service.server(), log);
  const auto why = wait_for_stop(max_seconds, [&] {
    log_refusals();
    (void)chain.tick();  // seals the blocks that are due (and writes them with "ledger_database")
  });
  log("stopping reason=" + why);
  service.stop();
  (void)chain.flush();
  const bool chain_ok = ledger.verify().ok();
  log("stopped acknowledged=" + std::to_string(service.acknowledged()) +
      " retries_forwarded=" + std::to_string(service.retries_forwarded()) + " ledger=" +
      (chain_ok ? "verified" : "FAILED") + " ledger_height=" + std::to_string(ledger.height()));
  return chain_ok ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "collector_server: " << e.what() << "\n";
  return 1;
}
