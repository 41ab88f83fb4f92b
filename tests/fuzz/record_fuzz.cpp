// libFuzzer harness: signed records as a storage node receives them (verify_record and the record's
// format checks, hefl/iot/storage/record.hpp), under the fixed patient (Ed25519) and collector (P-256) keys.
// The input is the record's fields in the format of fuzz_support.hpp: patient id, 12-byte EPC,
// data type, payload bytes, timestamp (8 bytes), hash (32 bytes), patient signature, collector id,
// collector signature.
#include "fuzz_support.hpp"

#include <hefl/iot/storage/record.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto patient_key = hefl_fuzz::ed25519_key(0x50);
  static const auto collector_key = hefl_fuzz::p256_key(0xC011EC7);
  hefl_fuzz::field_reader in({data, size});
  hefl::iot::record r;
  r.patient_id = in.text();
  try {
    r.device = hefl::iot::sgtin96::decode(in.field());
  } catch (const hefl::error&) {
    return 0;  // an EPC the parser refuses: the record cannot be built
  }
  r.data_type = in.text();
  const auto payload = in.field();
  r.payload_bytes.assign(payload.begin(), payload.end());
  r.timestamp = hefl::iot::record_time(std::chrono::milliseconds(in.i64()));
  const auto hash = in.take(r.hash.size());
  std::copy(hash.begin(), hash.end(), r.hash.begin());
  const auto ps = in.field();
  r.patient_signature.assign(ps.begin(), ps.end());
  r.collector_id = in.text();
  const auto cs = in.field();
  r.collector_signature.assign(cs.begin(), cs.end());

  // "Never throws for any record": a throw here terminates the run, and libFuzzer reports it.
  const auto check = hefl::iot::verify_record(r, *patient_key, *collector_key);
  if (check && r.format_problem()) hefl_fuzz::finding("verify_record accepted a record with a format problem");
  if (check && r.compute_hash() != r.hash) hefl_fuzz::finding("verify_record accepted a record whose hash differs");
  return 0;
}
