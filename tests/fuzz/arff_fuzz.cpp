// libFuzzer harness: the ARFF loader (read_arff, hefl/data/arff.hpp), positive class
// "tested_positive", class attribute the last one, at most 10,000 rows.
#include <hefl/core/error.hpp>
#include <hefl/data/arff.hpp>

#include <sstream>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  hefl::data::arff_options opt;
  opt.positive_class = "tested_positive";
  opt.max_rows = 10'000;
  try {
    (void)hefl::data::read_arff(in, opt);
  } catch (const hefl::error&) {
  }
  return 0;
}
