// reader CONFIG --patient ID: a doctor or nurse (the config's certificate and key) reads a patient's
// records from the storage node over mutual TLS. Prints one line per record, or the refusal.
// Exit status: 0 when the read was allowed, 3 when storage refused it, 1 on an error, 2 on usage.
#include "service_config.hpp"

#include <hefl/iot/storage/storage_guard.hpp>  // services.hpp needs storage_verdict declared first
#include <hefl/services.hpp>

using namespace hefl;
using namespace hefl_examples;

int main(int argc, char** argv) try {
  if (argc != 4 || std::string(argv[2]) != "--patient") {
    std::cerr << "usage: reader CONFIG --patient ID\n";
    return 2;
  }
  const auto cfg = config::load(argv[1]);
  const std::string patient = argv[3];
  event_log log("reader " + cfg.text("id"));
  services::reader_client client(load_credentials(cfg, load_trust(cfg)),
                                 cfg.json.at("storage").value("host", "127.0.0.1"), cfg.port("storage"));
  const auto result = client.read(patient);
  if (!result.ok()) {
    log("refused patient=" + patient + " stage=" + result.refused->stage + " reason=" + result.refused->reason +
        " message=\"" + result.refused->message + "\"");
    return 3;
  }
  for (const auto& r : result.records) {
    const auto req = r.device_request();
    nlohmann::json fields(req.data.fields);
    log("record id=" + std::to_string(r.id) + " patient=" + r.patient_id + " device=" + r.device.to_urn() +
        " collector=" + r.collector_id + " time_ms=" + std::to_string(r.timestamp.time_since_epoch().count()) +
        " type=" + r.data_type + " nonce=" + Botan::hex_encode(req.nonce.data(), req.nonce.size(), false) +
        " data=" + fields.dump());
  }
  log("read patient=" + patient + " records=" + std::to_string(result.records.size()));
  return 0;
} catch (const std::exception& e) {
  std::cerr << "reader: " << e.what() << "\n";
  return 1;
}
