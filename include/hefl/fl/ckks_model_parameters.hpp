#pragma once
/// @file
/// CKKS parameters for the FL modes, 128-bit secure, with hybrid key switching (several special
/// primes, he::ckks::special_primes; K. Han, D. Ki, CT-RSA 2020) chosen so that the evaluation keys
/// of a training epoch are as small as the 128-bit bound allows at the chain's ring degree.
///
/// fl::ckks_packed_model_parameters is the chain of fl::encrypted_model_training in the packed layout
/// (fl/packed_model_epoch.hpp), with room to flood the last-epoch models the key holder publishes:
/// the packed epoch sums over a block of the client's samples instead of all N/2 slots, so its result
/// carries less noise than the unpacked epoch's, and a 55-bit scale at N = 16384 leaves the Gaussian
/// flooding (he::unbounded_noise::estimate_and_flood, defaults unchanged) well inside its 2^-6
/// precision rule: paper_tables' demo configuration reports σ = 1.1e-4 (docs/results.md), where
/// he::ckks_encrypted_model_parameters (N = 32768, scale 2^60) was needed for the unpacked epoch.
/// fl::ckks_encrypted_data_parameters is he::ckks_encrypted_data_parameters (FL-FHE, scale 2^50) with
/// the number of special primes chosen the same way.

#include <hefl/core/error.hpp>
#include <hefl/he/ckks/params.hpp>
#include <hefl/he/ckks_backend.hpp>

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

namespace hefl::fl {

/// The largest number of special primes fl's parameter helpers choose by themselves (as
/// he::ckks::max_automatic_special_primes).
inline constexpr std::size_t max_automatic_special_primes = he::ckks::max_automatic_special_primes;

namespace detail {

/// log2(QP) up to rounding of the chain @p chain (q_0..q_L, bit sizes) with @p alpha special primes
/// laid out as he::detail::preset_with_special_primes does: one of @p single_bits bits for α = 1,
/// otherwise α primes of ceil(D/α) bits, D the largest key-switching digit (α consecutive chain primes).
[[nodiscard]] inline int hybrid_modulus_bits(const std::vector<int>& chain, std::size_t alpha, int single_bits) {
  int total = 0;
  for (const int b : chain) total += b;
  if (alpha == 1) return total + single_bits;
  int digit_bits = 0;
  for (std::size_t first = 0; first < chain.size(); first += alpha) {
    int sum = 0;
    for (std::size_t i = first; i < std::min(chain.size(), first + alpha); ++i) sum += chain[i];
    digit_bits = std::max(digit_bits, sum);
  }
  const int each = (digit_bits + static_cast<int>(alpha) - 1) / static_cast<int>(alpha);
  return total + static_cast<int>(alpha) * each;
}

/// @p alpha if it is explicit (count > 0); otherwise the largest α in [1, max_automatic_special_primes]
/// (and at most one per chain prime) whose chain fits the 128-bit bound at ring degree @p n.
[[nodiscard]] inline he::ckks::special_primes choose_special_primes(std::size_t n, const std::vector<int>& chain,
                                                                    int single_bits, he::ckks::special_primes alpha) {
  if (alpha.count != 0) return alpha;
  const int bound = he::ckks::max_secure_modulus_bits(n);
  for (std::size_t a = std::min(max_automatic_special_primes, chain.size()); a > 1; --a)
    if (hybrid_modulus_bits(chain, a, single_bits) <= bound) return he::ckks::special_primes{a};
  return he::ckks::special_primes{1};
}

} // namespace detail

/// For @p levels levels (fl::encrypted_gradient_depth of the sigmoid): N = 16384 with the chain
/// {60, b × levels} at scale 2^b, b = min(55, (438 − 120) / levels) (the 128-bit bound of
/// HomomorphicEncryption.org at N = 16384 is 438 bits), when b >= 53; otherwise (levels >= 7)
/// he::ckks_encrypted_model_parameters(levels) (N = 32768, scale 2^60). The 60-bit first prime keeps
/// 2^(60 − b) above the scale for the published values.
///
/// Special primes: @p alpha = he::ckks::automatic_special_primes (the default) takes the largest α
/// (at most 3) whose chain still fits the bound at that N, with α special primes of ceil(D/α) bits, D
/// the largest key-switching digit (α = 1: one 60-bit special prime, the layout of earlier releases):
/// levels 4 gives {60, 55×4 | 58, 58} (α = 2, 396 bits, 3 digits instead of 5); levels 5 and 6 have
/// no room for a second special prime. An explicit he::ckks::special_primes{α} is taken as given.
/// @throws hefl::invalid_argument if levels is outside [1, 11]; if an explicit α is 0, above
///         levels + 1 or does not fit the bound (the message names both bit counts); as ckks::parameters.
/// (A function object, so that callers passing it as a callable, e.g. paper_tables, compile with
/// the optional argument.)
struct ckks_packed_model_parameters_fn {
  [[nodiscard]] he::ckks::parameters operator()(int levels,
                                                he::ckks::special_primes alpha = he::ckks::automatic_special_primes) const {
  if (levels < 1 || levels > 11)
    throw invalid_argument("fl::ckks_packed_model_parameters: levels must be in [1, 11], got " +
                           std::to_string(levels));
  constexpr std::size_t n = 16384;
  const int bits = std::min(55, (he::ckks::max_secure_modulus_bits(n) - 120) / levels);
  if (bits < 53) {
    std::vector<int> chain(static_cast<std::size_t>(levels) + 2, 60);
    return he::ckks_encrypted_model_parameters(levels, detail::choose_special_primes(32768, chain, 60, alpha));
  }
  std::vector<int> chain{60};
  chain.insert(chain.end(), static_cast<std::size_t>(levels), bits);
  const he::ckks::special_primes chosen = detail::choose_special_primes(n, chain, 60, alpha);
  return he::detail::preset_with_special_primes("fl::ckks_packed_model_parameters", n, std::move(chain), 60, bits,
                                                chosen);
  }
};
inline constexpr ckks_packed_model_parameters_fn ckks_packed_model_parameters{};

/// he::ckks_encrypted_data_parameters(@p levels, α) (FL-FHE: scale 2^50, chain {60, 50 × levels},
/// N = 16384 up to 6 levels, N = 32768 from 7 to 15) with @p alpha = he::ckks::automatic_special_primes
/// (the default) the largest α (at most 3) that fits the 128-bit bound at that N: levels 1 to 4 get
/// α = 3 ({60, 50×4 | 54, 54, 54} at levels 4, 2 digits instead of 5), levels 5 α = 2 ({55, 55}),
/// levels 6 α = 1 (420 bits leave no room); at N = 32768 α = 3 up to 13 levels. An explicit
/// he::ckks::special_primes{α} is passed through (special_primes{1}: the preset of earlier releases).
/// @throws hefl::invalid_argument as he::ckks_encrypted_data_parameters.
/// (A function object, as ckks_packed_model_parameters.)
struct ckks_encrypted_data_parameters_fn {
  [[nodiscard]] he::ckks::parameters operator()(int levels,
                                                he::ckks::special_primes alpha = he::ckks::automatic_special_primes) const {
  if (levels < 1 || levels > 15) return he::ckks_encrypted_data_parameters(levels, he::ckks::special_primes{1});
  std::vector<int> chain{60};
  chain.insert(chain.end(), static_cast<std::size_t>(levels), 50);
  return he::ckks_encrypted_data_parameters(
      levels, detail::choose_special_primes(levels <= 6 ? 16384 : 32768, chain, 60, alpha));
  }
};
inline constexpr ckks_encrypted_data_parameters_fn ckks_encrypted_data_parameters{};

} // namespace hefl::fl
