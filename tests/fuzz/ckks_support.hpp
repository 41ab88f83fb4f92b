#pragma once
// The fixed CKKS parameter set of the ckks harness and its corpus (make_corpus.cpp).
#include <hefl/he/ckks/serialization.hpp>

namespace hefl_fuzz {

inline const hefl::he::ckks::parameters& tiny_parameters() {
  static const hefl::he::ckks::parameters p(16, {30, 25, 25, 30}, 20,
                                            hefl::he::ckks::security::none_i_know_this_is_insecure);
  return p;
}

} // namespace hefl_fuzz
