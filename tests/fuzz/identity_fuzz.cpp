// libFuzzer harness: the hospital identity certificate extension (hefl/iot/pki/identity.hpp).
// Property: decode_identity accepts strict DER only, so an accepted input re-encodes to itself.
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> in(data, size);
  try {
    const auto id = hefl::iot::decode_identity(in);
    const auto again = hefl::iot::encode_identity(id);
    if (!std::equal(again.begin(), again.end(), in.begin(), in.end()))
      hefl_fuzz::finding("decode_identity accepted an encoding that does not re-encode to itself");
  } catch (const hefl::error&) {
    // an expected refusal
  }
  return 0;
}
