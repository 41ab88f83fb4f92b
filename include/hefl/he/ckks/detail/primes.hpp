#pragma once
/// @file
/// NTT-friendly primes for the RNS modulus chain and their primitive 2N-th roots of unity.
/// Primality: deterministic Miller–Rabin (G. Miller 1976, M. Rabin 1980) with the first twelve prime
/// bases, which is exact for every n < 3.3 * 10^24 (J. Sorenson, J. Webster, "Strong pseudoprimes to
/// twelve prime bases", Math. Comp. 2017), so for every 64-bit n.

#include <hefl/he/ckks/detail/modarith.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace hefl::he::ckks::detail {

/// Whether @p n is prime; exact for every 64-bit value.
[[nodiscard]] constexpr bool is_prime(u64 n) noexcept {
  constexpr std::array<u64, 12> bases{2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37};
  if (n < 2) return false;
  for (const u64 p : bases) {
    if (n == p) return true;
    if (n % p == 0) return false;
  }
  u64 d = n - 1;
  unsigned s = 0;
  while ((d & 1) == 0) {
    d >>= 1;
    ++s;
  }
  auto mulmod = [n](u64 a, u64 b) { return static_cast<u64>((static_cast<u128>(a) * b) % n); };
  for (const u64 a : bases) {
    u64 x = 1, base = a, e = d;
    while (e != 0) {
      if (e & 1) x = mulmod(x, base);
      base = mulmod(base, base);
      e >>= 1;
    }
    if (x == 1 || x == n - 1) continue;
    bool composite = true;
    for (unsigned r = 1; r < s && composite; ++r) {
      x = mulmod(x, x);
      if (x == n - 1) composite = false;
    }
    if (composite) return false;
  }
  return true;
}

/// Smallest prime size the RNS limbs accept.
inline constexpr int min_prime_bits = 20;
/// Largest prime size: keeps 4q < 2^63 for the lazy NTT.
inline constexpr int max_prime_bits = 61;

/// The @p count largest primes q with exactly @p bits bits (2^(bits-1) < q < 2^bits) and q = 1 mod
/// 2N, in descending order, skipping any value in @p exclude.
/// @throws hefl::invalid_argument if bits is outside [20, 61], N is not a power of two >= 2, or
/// fewer than count such primes exist.
[[nodiscard]] inline std::vector<u64> ntt_primes(int bits, std::size_t count, std::size_t poly_degree,
                                                 std::span<const u64> exclude = {}) {
  if (bits < min_prime_bits || bits > max_prime_bits)
    throw invalid_argument("ckks: prime size must be in [20, 61] bits, got " + std::to_string(bits));
  if (poly_degree < 2 || (poly_degree & (poly_degree - 1)) != 0 || poly_degree > (std::size_t{1} << 20))
    throw invalid_argument("ckks: ring degree must be a power of two in [2, 2^20], got " + std::to_string(poly_degree));
  const u64 step = 2 * static_cast<u64>(poly_degree);
  const u64 upper = u64{1} << bits, lower = u64{1} << (bits - 1);
  if (step >= upper)
    throw invalid_argument("ckks: 2N = " + std::to_string(step) + " leaves no " + std::to_string(bits) +
                           "-bit value that is 1 mod 2N");
  std::vector<u64> found;
  found.reserve(std::min<std::size_t>(count, 4096));
  // Largest candidate below 2^bits that is 1 mod 2N: 2^bits - 2N + 1 (2N divides 2^bits). Since
  // 2N <= 2^(bits-1), q - 2N never wraps while q > 2^(bits-1).
  for (u64 q = upper - step + 1; q > lower && found.size() < count; q -= step) {
    if (std::find(exclude.begin(), exclude.end(), q) != exclude.end()) continue;
    if (is_prime(q)) found.push_back(q);
  }
  if (found.size() < count)
    throw invalid_argument("ckks: only " + std::to_string(found.size()) + " primes of " + std::to_string(bits) +
                           " bits are 1 mod 2N = " + std::to_string(step) + ", but " + std::to_string(count) +
                           " were requested");
  return found;
}

/// One prime per entry of @p bit_sizes, all distinct and 1 mod 2N. Equal sizes receive descending
/// primes in the order they appear, so the result depends only on (bit_sizes, N).
/// @throws hefl::invalid_argument as ntt_primes does.
[[nodiscard]] inline std::vector<u64> generate_ntt_primes(std::span<const int> bit_sizes, std::size_t poly_degree) {
  std::map<int, std::size_t> count_by_bits;
  for (const int b : bit_sizes) ++count_by_bits[b];
  std::map<int, std::vector<u64>> by_bits;
  for (const auto& [bits, count] : count_by_bits) by_bits[bits] = ntt_primes(bits, count, poly_degree);
  std::map<int, std::size_t> used;
  std::vector<u64> primes;
  primes.reserve(bit_sizes.size());
  for (const int b : bit_sizes) primes.push_back(by_bits[b][used[b]++]);
  return primes;
}

/// The smallest primitive 2N-th root of unity modulo the prime @p q (q = 1 mod 2N), so the NTT
/// tables depend only on (q, N).
/// @throws hefl::invalid_argument if q is not prime or not 1 mod 2N, or N is not a power of two.
[[nodiscard]] inline u64 minimal_primitive_root(u64 q, std::size_t poly_degree) {
  const u64 order = 2 * static_cast<u64>(poly_degree);
  if (poly_degree < 1 || (poly_degree & (poly_degree - 1)) != 0)
    throw invalid_argument("ckks: ring degree must be a power of two, got " + std::to_string(poly_degree));
  if (q < 3 || q > max_modulus || !is_prime(q) || (q - 1) % order != 0)
    throw invalid_argument("ckks: " + std::to_string(q) + " is not a prime below 2^61 that is 1 mod 2N = " +
                           std::to_string(order));
  const modulus m(q);
  // x^((q-1)/2N) has order dividing 2N, a power of two; the order is exactly 2N iff its N-th power
  // is -1. Half of all x qualify, so the search ends after a few tries.
  u64 root = 0;
  for (u64 x = 2; root == 0; ++x) {
    const u64 candidate = pow_mod(x, (q - 1) / order, m);
    if (pow_mod(candidate, poly_degree, m) == q - 1) root = candidate;
  }
  // The primitive 2N-th roots are the odd powers of any one of them; take the smallest.
  const u64 square = mul_mod(root, root, m);
  u64 power = root, smallest = root;
  for (u64 k = 1; k < poly_degree; ++k) {
    power = mul_mod(power, square, m);
    smallest = std::min(smallest, power);
  }
  return smallest;
}

} // namespace hefl::he::ckks::detail
