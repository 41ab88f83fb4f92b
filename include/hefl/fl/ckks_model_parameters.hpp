#pragma once
/// @file
/// CKKS parameters for fl::encrypted_model_training in the packed layout (fl/packed_model_epoch.hpp),
/// 128-bit secure, with room to flood the last-epoch models the key holder publishes.
///
/// The packed epoch sums over a block of the client's samples instead of all N/2 slots, so its
/// result carries less noise than the unpacked epoch's, and a 55-bit scale at N = 16384 leaves the
/// Gaussian flooding (he::unbounded_noise::estimate_and_flood, defaults unchanged) well inside its
/// 2^-6 precision rule: paper_tables' demo configuration reports σ = 1.1e-4 (docs/results.md), where
/// he::ckks_encrypted_model_parameters (N = 32768, scale 2^60) was needed for the unpacked epoch.

#include <hefl/he/ckks/params.hpp>
#include <hefl/he/ckks_backend.hpp>

#include <algorithm>
#include <cstddef>
#include <vector>

namespace hefl::fl {

/// For @p levels levels (fl::encrypted_gradient_depth of the sigmoid): N = 16384 with the chain
/// {60, b × levels | 60} at scale 2^b, b = min(55, (438 − 120) / levels) (the 128-bit bound of
/// HomomorphicEncryption.org at N = 16384 is 438 bits), when b >= 53; otherwise (levels >= 7)
/// he::ckks_encrypted_model_parameters(levels) (N = 32768, scale 2^60). The 60-bit first prime keeps
/// 2^(60 − b) above the scale for the published values.
/// @throws hefl::invalid_argument if levels is outside [1, 11]; as ckks::parameters.
[[nodiscard]] inline he::ckks::parameters ckks_packed_model_parameters(int levels) {
  if (levels < 1 || levels > 11)
    throw invalid_argument("fl::ckks_packed_model_parameters: levels must be in [1, 11], got " +
                           std::to_string(levels));
  constexpr std::size_t n = 16384;
  const int bits = std::min(55, (he::ckks::max_secure_modulus_bits(n) - 120) / levels);
  if (bits < 53) return he::ckks_encrypted_model_parameters(levels);
  std::vector<int> primes{60};
  primes.insert(primes.end(), static_cast<std::size_t>(levels), bits);
  primes.push_back(60);
  return he::ckks::parameters(n, primes, bits);
}

} // namespace hefl::fl
