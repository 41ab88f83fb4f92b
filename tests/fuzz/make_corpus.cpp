// Writes the seed corpora of the fuzz harnesses: small valid inputs made by the library itself, and
// near-valid ones (truncated, one byte changed). Run from the fuzz build:
//   build-fuzz/tests/fuzz/hefl_fuzz_make_corpus tests/fuzz/corpus
// Certificates, signatures and keys use the fixed keys of fuzz_support.hpp; a rerun may change bytes
// (certificate serials are random), never what the seeds exercise.
#include "ckks_support.hpp"
#include "fuzz_support.hpp"
#include "ledger_support.hpp"

#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/keys.hpp>
#include <hefl/iot/ledger/block_wire.hpp>
#include <hefl/iot/ledger/ledger_store.hpp>
#include <hefl/iot/storage/record.hpp>
#include <hefl/iot/collection/request.hpp>
#include <hefl/iot/collection/rules.hpp>
#include <hefl/iot/pki/signing.hpp>
#include <hefl/net/frame.hpp>
#include <hefl/services/wire.hpp>

#include <botan/sqlite3.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>

namespace fs = std::filesystem;
using hefl_fuzz::bytes;

namespace {

fs::path root;

void write(const std::string& harness, const std::string& name, std::span<const std::uint8_t> b) {
  fs::create_directories(root / harness);
  std::ofstream out(root / harness / name, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}
void write_text(const std::string& harness, const std::string& name, std::string_view s) {
  write(harness, name, std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
}
// The valid input, its first half, and a copy with the middle byte flipped.
void write_variants(const std::string& harness, const std::string& name, const bytes& b) {
  write(harness, name, b);
  write(harness, name + "-truncated", std::span(b).first(b.size() / 2));
  auto flipped = b;
  if (!flipped.empty()) flipped[flipped.size() / 2] ^= 0x01;
  write(harness, name + "-flipped", flipped);
}
bytes with_prefix(std::uint8_t first, const bytes& b) {
  bytes out{first};
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

hefl::iot::payload heart_rate(double bpm) {
  return hefl::iot::payload{"heart_rate", {{"bpm", bpm}}};
}

void identity_corpus() {
  using namespace hefl::iot;
  write_variants("identity", "device", encode_identity(hefl_fuzz::device_identity(1)));
  identity doctor;
  doctor.role = role::doctor;
  doctor.subject_id = "dr.house";
  doctor.group_id = 7;
  write_variants("identity", "doctor", encode_identity(doctor));
}

void cert_chain_corpus() {
  auto& pki = hefl_fuzz::pki();
  const auto device_key = hefl_fuzz::p256_key(0xD3F1CE);
  const auto leaf = pki.ca.issue(*device_key, hefl_fuzz::device_identity(1), hefl_fuzz::ca_start(), std::chrono::hours(24 * 365));
  const auto verdict = hefl::iot::validate_chain(leaf, pki.store, hefl::iot::cert_usage::tls_client,
                                                hefl_fuzz::validation_time());
  if (!verdict.ok()) throw std::runtime_error("seed certificate does not validate: " + verdict.reason);
  const auto leaf_der = leaf.BER_encode();
  auto chain = leaf_der;
  const auto root_der = pki.ca.root().BER_encode();
  chain.insert(chain.end(), root_der.begin(), root_der.end());
  write_variants("cert_chain", "device-leaf", leaf_der);
  write("cert_chain", "device-and-root", chain);
  write("cert_chain", "root", root_der);
}

void request_corpus() {
  const auto device_key = hefl_fuzz::p256_key(0xD3F1CE);
  const auto r = hefl::iot::make_signed_request(*hefl_fuzz::device_identity(1).device_epc, "collector-1", "patient-7", heart_rate(72),
                                                hefl::iot::request_time(std::chrono::milliseconds(1767229200000)),
                                                *device_key, hefl_fuzz::fixed_rng());
  if (!hefl::iot::verify_request(r, *device_key)) throw std::runtime_error("seed request does not verify");
  write_variants("request", "heart-rate", r.encode());
}

void rules_corpus() {
  write_text("rules", "vital-signs-contract", hefl::iot::vital_signs_example_contract);
  const std::string s(hefl::iot::vital_signs_example_contract);
  write_text("rules", "vital-signs-contract-truncated", s.substr(0, s.size() / 2));
  write("rules", "payload-heart-rate", heart_rate(72).canonical_bytes());
  hefl::iot::payload bp{"blood_pressure", {{"systolic", 120}, {"diastolic", 80}, {"note", "ok"}}};
  write_variants("rules", "payload-blood-pressure", bp.canonical_bytes());
}

hefl::iot::record seed_record;

void record_corpus() {
  using namespace hefl::iot;
  patient_smart_card<ed25519_signing> card("patient-7", hefl_fuzz::ed25519_key(0x50));
  const auto collector_key = hefl_fuzz::p256_key(0xC011EC7);
  const auto r = make_record("patient-7", *hefl_fuzz::device_identity(1).device_epc, "heart_rate", heart_rate(72),
                             record_time(std::chrono::milliseconds(1767229200000)), card, "collector-icu",
                             *collector_key, hefl_fuzz::fixed_rng());
  if (!verify_record(r, *hefl_fuzz::ed25519_key(0x50), *collector_key)) throw std::runtime_error("seed record does not verify");
  seed_record = r;
  hefl_fuzz::field_writer w;
  w.text(r.patient_id);
  w.field(r.device.encode());
  w.text(r.data_type);
  w.field(r.payload_bytes);
  w.i64(r.timestamp.time_since_epoch().count());
  w.raw(r.hash);
  w.field(r.patient_signature);
  w.text(r.collector_id);
  w.field(r.collector_signature);
  write_variants("record", "heart-rate", std::move(w).take());
}

void ledger_corpus() {
  using namespace hefl::iot;
  hefl_fuzz::ledger_fixture f;
  ledger node_a(f.genesis, f.cfg, f.a), node_b(f.genesis, f.cfg, f.b);
  for (int k = 0; k < 3; ++k) {
    auto& sealer = node_a.expected_sealer(node_a.height() + 1) == "collector" ? node_a : node_b;
    auto& other = &sealer == &node_a ? node_b : node_a;
    for (int i = 0; i < 2; ++i) {
      const std::string body = "payload-" + std::to_string(k * 2 + i);
      sealer.submit(transaction::rule_check("dev-" + std::to_string(i), "group-7", "accepted",
                                            bytes(body.begin(), body.end()), hefl_fuzz::ledger_ms(1'000'000 + k * 2 + i)));
    }
    if (!other.sync_from(sealer)) throw std::runtime_error("seed chain does not sync");
  }
  const auto path = (fs::temp_directory_path() / "hefl_fuzz_corpus_ledger.db").string();
  fs::remove(path);
  {
    ledger_store store(path);
    store.save(node_a);
    // One entry submitted through the store and not sealed yet: a ledger_pending row.
    const std::string body = "payload-pending";
    store.submit(node_a, transaction::rule_check("dev-9", "group-7", "accepted", bytes(body.begin(), body.end()),
                                                 hefl_fuzz::ledger_ms(1'000'100)));
  }
  std::string rows;
  std::string first_body;
  {
    Botan::Sqlite3_Database db(path);
    auto b = db.new_statement("SELECT CAST(height AS TEXT), previous, merkle_root, time, sealer, signature FROM ledger_blocks ORDER BY height");
    while (b->step()) {
      rows += "B";
      for (int i = 0; i < 6; ++i) rows += "\t" + b->get_str(i);
      rows += "\n";
    }
    auto t = db.new_statement("SELECT CAST(height AS TEXT), CAST(idx AS TEXT), body, author, author_signature FROM ledger_transactions ORDER BY height, idx");
    while (t->step()) {
      rows += "T";
      for (int i = 0; i < 5; ++i) rows += "\t" + t->get_str(i);
      rows += "\n";
      if (first_body.empty()) first_body = t->get_str(2);
    }
    auto c = db.new_statement("SELECT height, head, signer, signature FROM ledger_checkpoint WHERE id = 1");
    while (c->step()) rows += "C\t" + c->get_str(0) + "\t" + c->get_str(1) + "\t" + c->get_str(2) + "\t" + c->get_str(3) + "\n";
    auto p = db.new_statement("SELECT id, body, author, signature FROM ledger_pending");
    while (p->step()) rows += "P\t" + p->get_str(0) + "\t" + p->get_str(1) + "\t" + p->get_str(2) + "\t" + p->get_str(3) + "\n";
  }
  fs::remove(path);
  {
    // The text form reloads as the harness writes it: chain, checkpoint and the pending entry.
    ledger_store store(path);
    Botan::Sqlite3_Database writer(path);
    hefl_fuzz::write_ledger_rows(writer, rows);
    ledger fresh(f.genesis, f.cfg);
    store.load_into(fresh);
    if (fresh.height() != node_a.height() || fresh.pending_count() != 1)
      throw std::runtime_error("seed ledger rows do not reload to the seed chain and its pending entry");
  }
  fs::remove(path);
  write_text("ledger", "rows-chain", "\x01" + rows);
  // Without the newest block row: a truncated chain (its checkpoint names a missing head).
  auto truncated = rows;
  if (const auto cut = truncated.rfind("\nB"); cut != std::string::npos)
    truncated.erase(cut + 1, truncated.find('\n', cut + 1) - cut);
  write_text("ledger", "rows-chain-truncated", "\x01" + truncated);
  write_text("ledger", "transaction", std::string(1, '\0') + first_body);
  write_text("ledger", "transaction-truncated", std::string(1, '\0') + first_body.substr(0, first_body.size() / 2));
}

// Blocks and entries as a replica reads them from a peer: block 1 of the fixed chain, one of its
// signed entries, and near-valid ones (a block at the wrong height, an entry without its author).
void block_wire_corpus() {
  using namespace hefl::iot;
  hefl_fuzz::ledger_fixture f;
  ledger node_a(f.genesis, f.cfg, f.a), node_b(f.genesis, f.cfg, f.b);
  auto& sealer = node_a.expected_sealer(1) == "collector" ? node_a : node_b;
  for (int i = 0; i < 2; ++i) {
    const std::string body = "wire-" + std::to_string(i);
    sealer.submit(transaction::rule_check("dev-" + std::to_string(i), "group-7", "accepted",
                                          bytes(body.begin(), body.end()), hefl_fuzz::ledger_ms(1'000'000 + i)));
  }
  if (sealer.height() != 1) throw std::runtime_error("seed block was not sealed");
  const auto b1 = sealer.block_at(1);
  {
    ledger fresh(f.genesis, f.cfg);
    if (const auto c = fresh.accept_block(b1); !c) throw std::runtime_error("seed block is refused: " + c.message);
    ledger other(f.genesis, f.cfg);
    other.submit(b1.transactions.at(0));
    if (other.pending_count() != 1) throw std::runtime_error("seed entry is not accepted");
  }
  const auto as_input = [](std::uint8_t first, const nlohmann::json& j) {
    const auto text = j.dump();
    return with_prefix(first, bytes(text.begin(), text.end()));
  };
  write_variants("block_wire", "block", as_input(0, block_to_json(b1)));
  auto wrong_height = block_to_json(b1);
  wrong_height["height"] = 2;
  write("block_wire", "block-wrong-height", as_input(0, wrong_height));
  write_variants("block_wire", "entry", as_input(1, entry_to_json(b1.transactions.at(0))));
  auto unsigned_entry = entry_to_json(b1.transactions.at(0));
  unsigned_entry["author"] = "";
  unsigned_entry["signature"] = "";
  write("block_wire", "entry-unsigned", as_input(1, unsigned_entry));
}

// Frames as the services read them from a peer (header and payload): a record forwarded to storage,
// the replies a device and a reader get, a typed error reply, and a read request.
void wire_corpus() {
  namespace net = hefl::net;
  namespace svc = hefl::services;
  const auto frame_bytes = [](const net::frame& f, std::uint32_t id) { return net::encode_frame(f, id); };
  if (svc::record_from_json(svc::read_json(svc::json_frame(svc::msg::store, svc::record_to_json(seed_record)))) != seed_record)
    throw std::runtime_error("seed record does not survive its JSON form");
  write_variants("wire", "store", frame_bytes(svc::json_frame(svc::msg::store, svc::record_to_json(seed_record)), 1));
  write_variants("wire", "accepted", frame_bytes(svc::accepted_frame(42, true), 2));
  write_variants("wire", "refused", frame_bytes(svc::refusal_frame("storage", "duplicate_nonce", "seen before"), 3));
  write_variants("wire", "records",
                 frame_bytes(svc::json_frame(svc::msg::records, {{"records", {svc::record_to_json(seed_record)}}}), 4));
  write_variants("wire", "error", frame_bytes(net::make_error_frame(net::error_code::busy, "too many requests"), 5));
  write("wire", "read", frame_bytes(svc::json_frame(svc::msg::read, {{"patient", "patient-7"}, {"from", 0}}), 6));
}

void ckks_corpus() {
  namespace ckks = hefl::he::ckks;
  const auto& p = hefl_fuzz::tiny_parameters();
  std::array<std::uint8_t, 32> seed{};
  seed[0] = 7;
  ckks::detail::wire::chacha20_source rng(seed);
  ckks::key_generator keygen(p, rng);
  const auto pk = keygen.create_public_key();
  const auto rk = keygen.create_relin_keys();
  const auto gk = keygen.create_galois_keys(std::vector<long long>{1, -1}, false);
  const ckks::encoder enc(p.poly_degree());
  const std::vector<double> x{0.5, -0.25, 1.0, 0.125};
  const auto pt = ckks::encode(p, enc, x);
  ckks::encryptor encryptor(p, pk, rng);
  const auto ct = encryptor.encrypt(pt);
  write_variants("ckks", "parameters", with_prefix(0, ckks::save(p)));
  write_variants("ckks", "ciphertext", with_prefix(1, ckks::save(p, ct)));
  write_variants("ckks", "public-key", with_prefix(2, ckks::save(p, pk)));
  write_variants("ckks", "relin-keys", with_prefix(3, ckks::save(p, rk)));
  write_variants("ckks", "galois-keys", with_prefix(4, ckks::save(p, gk)));
  write_variants("ckks", "plaintext", with_prefix(5, ckks::save(p, pt)));
}

void text_corpora() {
  write_text("csv", "simple", "age,glucose,label\n50,148,1\n31,85,0\n");
  write_text("csv", "quoted-bom", "\xEF\xBB\xBF\"age\",\"note, free\",label\n50,\"a \"\"b\"\"\",1\n");
  write_text("csv", "ragged", "a,b,label\n1,2\n3,4,1,5\n");
  write_text("arff", "pima-like",
             "% a comment\n@RELATION 'diabetes'\n@attribute preg numeric\n@attribute 'plas' REAL\n"
             "@attribute class {tested_negative,tested_positive}\n@data\n6,148,tested_positive\n1,85,tested_negative\n");
  write_text("arff", "missing-value",
             "@relation r\n@attribute a numeric\n@attribute class {tested_negative,tested_positive}\n@data\n?,tested_positive\n");
  write_text("arff", "no-data", "@relation r\n@attribute a string\n");
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " <corpus root, e.g. tests/fuzz/corpus>\n";
    return 2;
  }
  root = argv[1];
  identity_corpus();
  cert_chain_corpus();
  request_corpus();
  rules_corpus();
  record_corpus();
  ledger_corpus();
  block_wire_corpus();
  wire_corpus();
  ckks_corpus();
  text_corpora();
  std::cout << "seed corpora written under " << root << "\n";
  return 0;
}
