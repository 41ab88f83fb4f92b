// libFuzzer harness: rule contracts as JSON text (rule_contract::parse, hefl/iot/collection/rules.hpp) and the
// canonical payload encoding (payload::decode) the rule check reads.
#include "fuzz_support.hpp"

#include <hefl/iot/collection/rules.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    (void)hefl::iot::rule_contract::parse(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const hefl::error&) {
  }
  try {
    const auto p = hefl::iot::payload::decode(std::span<const std::uint8_t>(data, size));
    const auto again = p.canonical_bytes();
    if (!std::equal(again.begin(), again.end(), data, data + size))
      hefl_fuzz::finding("payload::decode accepted bytes that are not canonical");
  } catch (const hefl::error&) {
  }
  return 0;
}
