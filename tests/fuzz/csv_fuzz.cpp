// libFuzzer harness: the CSV loader (read_csv, hefl/data/csv.hpp) with label column "label".
#include <hefl/core/error.hpp>
#include <hefl/data/csv.hpp>

#include <sstream>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  try {
    (void)hefl::data::read_csv(in, "label");
  } catch (const hefl::error&) {
  }
  return 0;
}
