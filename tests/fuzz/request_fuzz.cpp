// libFuzzer harness: device requests on the wire (request::decode, hefl/iot/collection/request.hpp).
// Properties: an accepted request re-encodes to the same bytes; verify_request never throws.
#include "fuzz_support.hpp"

#include <hefl/iot/collection/request.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto device_key = hefl_fuzz::p256_key(0xD3F1CE);
  const std::span<const std::uint8_t> in(data, size);
  try {
    const auto r = hefl::iot::request::decode(in);
    (void)hefl::iot::verify_request(r, *device_key);  // noexcept
    const auto again = r.encode();
    if (!std::equal(again.begin(), again.end(), in.begin(), in.end()))
      hefl_fuzz::finding("request::decode accepted bytes that do not re-encode to themselves");
  } catch (const hefl::error&) {
  }
  return 0;
}
