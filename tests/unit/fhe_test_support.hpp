#pragma once
// Toy parameters for the encrypted-training tests: small ring, insecure and named so, but with the
// precision of the trainer's defaults (scale 2^60, he::ckks_encrypted_model_parameters' shape) so
// that the key holder has room to flood every gradient sum and model it publishes.
#include <hefl/he/ckks/params.hpp>

#include <cstddef>
#include <vector>

namespace hefl::test {

/// N = 2048 {60, 60, 60 × levels, 60} at scale 2^60, insecure by name.
inline he::ckks::parameters toy_training_parameters(int levels) {
  return he::ckks::parameters(2048, std::vector<int>(static_cast<std::size_t>(levels) + 3, 60), 60,
                              he::ckks::security::none_i_know_this_is_insecure);
}

} // namespace hefl::test
