#pragma once
/// @file
/// Run-time choice between the portable CKKS limb kernels and the AVX-512 IFMA ones. The CPU is asked
/// once (cpuid leaf 7 for AVX-512 F/DQ/VL/IFMA, xgetbv for the operating system saving the opmask and
/// zmm registers: Intel SDM vol. 1, §15.2 "Detection of AVX-512 Foundation Instructions"). Both paths
/// return the same residues, so the choice changes speed only. HEFL_CKKS_PORTABLE=1 in the
/// environment, or set_simd_kernels(false), forces the portable path (so a CPU with IFMA tests both).

#include <atomic>
#include <cstdlib>

// HEFL_CKKS_NO_IFMA leaves the IFMA kernels out of the build (as on other architectures).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(HEFL_CKKS_NO_IFMA)
#include <cpuid.h>
#define HEFL_CKKS_HAVE_IFMA_KERNELS 1
#else
#define HEFL_CKKS_HAVE_IFMA_KERNELS 0
#endif

namespace hefl::he::ckks {

namespace detail {

/// Whether this CPU and operating system can run the AVX-512 IFMA kernels (asked once).
[[nodiscard]] inline bool cpu_supports_ifma() noexcept {
#if HEFL_CKKS_HAVE_IFMA_KERNELS
  static const bool supported = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return false;
    if ((ecx & (1u << 27)) == 0) return false; // OSXSAVE: xgetbv is usable
    unsigned xcr0_lo = 0, xcr0_hi = 0;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    // XCR0 bits 1, 2 (SSE, AVX state), 5, 6, 7 (opmask, upper halves of zmm0-15, zmm16-31).
    if ((xcr0_lo & 0xE6u) != 0xE6u) return false;
    if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
    const unsigned avx512f = 1u << 16, avx512dq = 1u << 17, avx512ifma = 1u << 21, avx512vl = 1u << 31;
    const unsigned needed = avx512f | avx512dq | avx512ifma | avx512vl;
    return (ebx & needed) == needed;
  }();
  return supported;
#else
  return false;
#endif
}

/// The switch behind set_simd_kernels: starts on unless HEFL_CKKS_PORTABLE is set to a value other
/// than "0" or empty.
[[nodiscard]] inline std::atomic<bool>& simd_kernels_requested() noexcept {
  static std::atomic<bool> requested = [] {
    const char* v = std::getenv("HEFL_CKKS_PORTABLE");
    return v == nullptr || v[0] == '\0' || (v[0] == '0' && v[1] == '\0');
  }();
  return requested;
}

/// Whether limb kernels for primes below 2^50 take the IFMA path now.
[[nodiscard]] inline bool use_ifma() noexcept {
  return cpu_supports_ifma() && simd_kernels_requested().load(std::memory_order_relaxed);
}

} // namespace detail

/// Turns the AVX-512 IFMA kernels (NTT and element-wise arithmetic for primes below 2^50) on or off
/// for the whole process; off forces the portable code, as HEFL_CKKS_PORTABLE=1 does. Results are
/// the same residues either way. Safe to call from any thread; operations already running may use
/// either path.
/// @return whether the IFMA kernels are now in use (false when the CPU lacks them, whatever is asked).
inline bool set_simd_kernels(bool enabled) noexcept {
  detail::simd_kernels_requested().store(enabled, std::memory_order_relaxed);
  return detail::use_ifma();
}

/// Whether the AVX-512 IFMA kernels are in use (CPU support and not switched off).
[[nodiscard]] inline bool simd_kernels_enabled() noexcept { return detail::use_ifma(); }

} // namespace hefl::he::ckks
