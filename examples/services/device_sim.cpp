// device_sim CONFIG [--records K] [--seed S] [--replay]: a bedside device. Sends K vital-signs
// records (services::vitals_generator, cycling through the six vitals), each signed with the device's
// key, over mutual TLS to the collector, and prints one line per reply. The last signed request is
// kept in the config's "last_request" file; --replay then sends that request once more, as an
// eavesdropper would (the collector refuses it with reason "replay").
// It stops at the first record that gets no reply (the collector unreachable after the client's
// retries, or a certificate refused in the handshake).
// Exit status: 0 if every record was acknowledged and a replay (if asked) was not; 1 otherwise; 2 on usage.
#include "service_config.hpp"

#include <hefl/iot/storage/storage_guard.hpp>  // services.hpp needs storage_verdict declared first
#include <hefl/services.hpp>

using namespace hefl;
using namespace hefl_examples;

namespace {

std::string describe(const services::submit_result& r) {
  if (r.stored) return "stored record_id=" + std::to_string(r.record_id) + " attempts=" + std::to_string(r.attempts);
  return "refused stage=" + r.refused->stage + " reason=" + r.refused->reason + " message=\"" + r.refused->message + "\"";
}

int usage(const std::string& why) {
  std::cerr << "device_sim: " << why << "\nusage: device_sim CONFIG [--records K] [--seed S] [--replay]\n";
  return 2;
}

} // namespace

int main(int argc, char** argv) try {
  if (argc < 2) return usage("expected a config file");
  long records = 0;
  long seed = 1;
  bool replay = false;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--records" && i + 1 < argc) records = positive(a, argv[++i], true);
    else if (a == "--seed" && i + 1 < argc) seed = positive(a, argv[++i], true);
    else if (a == "--replay") replay = true;
    else return usage("unknown argument '" + a + "'");
  }
  if (records == 0 && !replay) return usage("nothing to do: give --records K and/or --replay");
  const auto cfg = config::load(argv[1]);
  const auto name = cfg.text("id");
  const auto patient = cfg.text("patient");
  const auto last_file = cfg.path("last_request");
  event_log log("device_sim " + name);

  services::device_client_options o;
  o.host = cfg.json.at("collector").value("host", "127.0.0.1");
  o.port = cfg.port("collector");
  services::device_client device(load_credentials(cfg, load_trust(cfg)), cfg.text("collector_id"), o);

  bool ok = true;
  services::vitals_generator vitals(static_cast<std::uint64_t>(seed));
  for (long i = 0; i < records; ++i) {
    const auto v = services::all_vitals[static_cast<std::size_t>(i) % services::all_vitals.size()];
    const auto req = device.sign(patient, vitals.next(v));
    const auto encoded = req.encode();
    write_text(last_file, std::string(encoded.begin(), encoded.end()), true);  // patient data: 0600
    services::submit_result r;
    try {
      r = device.send(req);
    } catch (const std::exception& e) {
      // Every attempt failed (or a certificate was refused): the records after it would fare no better.
      log("record " + std::to_string(i + 1) + " type=" + req.data.type + " error=\"" + e.what() + "\"");
      log("stopped: " + std::to_string(records - i - 1) + " record(s) not sent");
      ok = false;
      break;
    }
    log("record " + std::to_string(i + 1) + " type=" + req.data.type + " " + describe(r));
    ok = ok && r.stored;
  }
  if (replay) {
    const auto text = read_text(last_file);
    const auto req = iot::request::decode(std::span<const std::uint8_t>(
        reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
    device.close();  // a fresh connection, as an eavesdropper's would be
    const auto r = device.send(req);
    log("replay type=" + req.data.type + " " + describe(r));
    ok = ok && !r.stored;
  }
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "device_sim: " << e.what() << "\n";
  return 1;
}
