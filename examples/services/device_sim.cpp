// device_sim CONFIG [--records K] [--seed S] [--replay]: a bedside device. Sends K vital-signs
// records (services::vitals_generator, cycling through the six vitals), each signed with the device's
// key, over mutual TLS to the collector, and prints one line per reply. The last signed request is
// kept in the config's "last_request" file; --replay then sends that request once more, as a device
// retrying after a lost acknowledgement would: retries are idempotent (docs/services.md), so it is
// acknowledged with the stored record's id and already_stored=1, and nothing is stored twice.
// It stops at the first record that gets no reply (the collector unreachable after the client's
// retries, or a certificate refused in the handshake).
// Exit status: 0 if every record was acknowledged and a replay (if asked) was answered as already
// stored; 1 otherwise; 2 on usage.
//
// device_sim --burst DIR --devices N [--concurrency C] [--seed S] [--acked FILE] [--max-seconds T]:
// N devices of the hospital in DIR (its device-dev-1.json .. device-dev-N.json) each send one signed
// record, C at a time, each on a fresh mutual-TLS connection. A device that gets no definite answer
// (connection refused or dropped, "storage_unavailable", "unavailable") sends the same signed bytes
// (same nonce) again after a short pause, until it gets one, for at most T seconds (default 120) in
// all. Each acknowledgement is appended to FILE at once as "name device_hex nonce_hex record_id
// already_stored". Prints a summary line; exit 0 if every device was acknowledged, 1 otherwise.
#include "service_config.hpp"

#include <hefl/iot/storage/storage_guard.hpp>  // services.hpp needs storage_verdict declared first
#include <hefl/services.hpp>

#include <atomic>
#include <fstream>
#include <thread>
#include <vector>

using namespace hefl;
using namespace hefl_examples;

namespace {

std::string describe(const services::submit_result& r) {
  if (r.stored)
    return "stored record_id=" + std::to_string(r.record_id) + " attempts=" + std::to_string(r.attempts) +
           (r.already_stored ? " already_stored=1" : "");
  return "refused stage=" + r.refused->stage + " reason=" + r.refused->reason + " message=\"" + r.refused->message + "\"";
}

int usage(const std::string& why) {
  std::cerr << "device_sim: " << why
            << "\nusage: device_sim CONFIG [--records K] [--seed S] [--replay]\n"
               "       device_sim --burst DIR --devices N [--concurrency C] [--seed S] [--acked FILE] [--max-seconds T]\n";
  return 2;
}

struct burst_options {
  fs::path dir;
  long devices = 0;
  long concurrency = 16;
  long seed = 1;
  long max_seconds = 120;
  fs::path acked;
};

int burst(const burst_options& b) {
  event_log log("device_sim burst");
  const auto started = std::chrono::steady_clock::now();
  const auto deadline = started + std::chrono::seconds(b.max_seconds);
  std::mutex out_mutex;
  std::ofstream acked_out;
  if (!b.acked.empty()) {
    acked_out.open(b.acked, std::ios::app);
    if (!acked_out) throw io_error(b.acked.string() + ": cannot be written");
  }
  std::atomic<long> next{1}, acknowledged{0}, already{0}, refused{0}, unanswered{0}, resends{0};
  const auto one = [&](long k) {
    const auto cfg = config::load(b.dir / ("device-dev-" + std::to_string(k) + ".json"));
    services::device_client_options o;
    o.host = cfg.json.at("collector").value("host", "127.0.0.1");
    o.port = cfg.port("collector");
    o.max_attempts = 1;  // the loop below resends
    services::device_client device(load_credentials(cfg, load_trust(cfg)), cfg.text("collector_id"), o);
    services::vitals_generator vitals(static_cast<std::uint64_t>(b.seed) * 100003u + static_cast<std::uint64_t>(k));
    const auto req = device.sign(cfg.text("patient"), vitals.next(services::all_vitals[static_cast<std::size_t>(k) % 6]));
    auto pause = std::chrono::milliseconds(50);
    std::string last_problem = "no attempt";
    for (int attempt = 1; std::chrono::steady_clock::now() < deadline; ++attempt) {
      if (attempt > 1) ++resends;
      try {
        const auto r = device.send(req);
        if (r.stored) {
          ++acknowledged;
          if (r.already_stored) ++already;
          const std::lock_guard lock(out_mutex);
          if (acked_out.is_open()) {
            acked_out << cfg.text("id") << ' ' << req.device.to_hex() << ' '
                      << Botan::hex_encode(req.nonce.data(), req.nonce.size(), false) << ' ' << r.record_id << ' '
                      << (r.already_stored ? 1 : 0) << std::endl;  // flushed: the set survives whatever follows
          }
          return;
        }
        if (!services::retryable(*r.refused)) {
          ++refused;
          log(cfg.text("id") + " " + describe(r));
          return;
        }
        last_problem = r.refused->stage + "/" + r.refused->reason;
      } catch (const security_error& e) {
        last_problem = e.what();  // e.g. a handshake cut by a server being killed: try again
      } catch (const std::exception& e) {
        last_problem = e.what();
      }
      device.close();
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(400));
    }
    ++unanswered;
    log(cfg.text("id") + " unanswered after " + std::to_string(b.max_seconds) + " s: " + last_problem);
  };
  std::vector<std::thread> workers;
  for (long t = 0; t < std::min(b.concurrency, b.devices); ++t)
    workers.emplace_back([&] {
      for (long k = next++; k <= b.devices; k = next++) {
        try {
          one(k);
        } catch (const std::exception& e) {  // a config or key that does not load
          ++unanswered;
          log("dev-" + std::to_string(k) + " error=\"" + e.what() + "\"");
        }
      }
    });
  for (auto& w : workers) w.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.2f", seconds);
  log("burst devices=" + std::to_string(b.devices) + " acknowledged=" + std::to_string(acknowledged.load()) +
      " already_stored=" + std::to_string(already.load()) + " refused=" + std::to_string(refused.load()) +
      " unanswered=" + std::to_string(unanswered.load()) + " resends=" + std::to_string(resends.load()) +
      " seconds=" + secs);
  return acknowledged.load() == b.devices ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) try {
  if (argc < 2) return usage("expected a config file or --burst DIR");
  if (std::string(argv[1]) == "--burst") {
    if (argc < 3) return usage("--burst: expected the hospital directory");
    burst_options b;
    b.dir = argv[2];
    for (int i = 3; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--devices" && i + 1 < argc) b.devices = positive(a, argv[++i]);
      else if (a == "--concurrency" && i + 1 < argc) b.concurrency = positive(a, argv[++i]);
      else if (a == "--seed" && i + 1 < argc) b.seed = positive(a, argv[++i], true);
      else if (a == "--max-seconds" && i + 1 < argc) b.max_seconds = positive(a, argv[++i]);
      else if (a == "--acked" && i + 1 < argc) b.acked = argv[++i];
      else return usage("unknown argument '" + a + "'");
    }
    if (b.devices == 0) return usage("--burst: give --devices N");
    if (b.concurrency > 512) return usage("--concurrency: expected at most 512");
    return burst(b);
  }
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
    device.close();  // a fresh connection, as after a lost acknowledgement
    const auto r = device.send(req);
    log("replay type=" + req.data.type + " " + describe(r));
    ok = ok && r.stored && r.already_stored;
  }
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "device_sim: " << e.what() << "\n";
  return 1;
}
