#pragma once
/// @file
/// The one place where hefl uses more than one core: hefl::parallel_for over independent work items
/// (RNS limbs, key-switching digits). Each item writes only its own output, so results are
/// bit-identical for every thread count. Built on OpenMP when the compiler enables it (hefl::hefl
/// links OpenMP::OpenMP_CXX when CMake finds it); otherwise every loop runs on the calling thread.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <string>
#include <thread>

#include "hefl/core/error.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace hefl {

namespace detail {
inline std::atomic<int>& thread_count_setting() noexcept {
  static std::atomic<int> n{0};
  return n;
}
} // namespace detail

/// The number of threads hefl::parallel_for may use: what set_thread_count() chose, or by default
/// every hardware thread. Always 1 when hefl was compiled without OpenMP.
[[nodiscard]] inline int thread_count() noexcept {
#if defined(_OPENMP)
  const int chosen = detail::thread_count_setting().load(std::memory_order_relaxed);
  if (chosen > 0) return chosen;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
#else
  return 1;
#endif
}

/// Sets the number of threads for hefl's parallel loops (0 = every hardware thread, 1 = serial).
/// Results do not depend on it. @throws hefl::invalid_argument when @p n is negative or above 1024.
inline void set_thread_count(int n) {
  if (n < 0 || n > 1024)
    throw invalid_argument("hefl::set_thread_count: thread count must be in [0, 1024], got " + std::to_string(n));
  detail::thread_count_setting().store(n, std::memory_order_relaxed);
}

/// Restores the previous thread count when it goes out of scope.
class scoped_thread_count {
public:
  /// @throws hefl::invalid_argument as set_thread_count().
  explicit scoped_thread_count(int n) : m_previous(detail::thread_count_setting().load()) { set_thread_count(n); }
  ~scoped_thread_count() { detail::thread_count_setting().store(m_previous); }
  scoped_thread_count(const scoped_thread_count&) = delete;
  scoped_thread_count& operator=(const scoped_thread_count&) = delete;

private:
  int m_previous;
};

/// Calls @p f(i) for every i in [0, count), spread over thread_count() threads with a static
/// schedule. Items must be independent. The first exception thrown by an item is rethrown on the
/// calling thread after the loop (the other items still run).
template <class F>
void parallel_for(std::size_t count, F&& f) {
#if defined(_OPENMP)
  const int threads = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(thread_count()), count));
  if (threads > 1 && !omp_in_parallel()) {
    std::exception_ptr first;
    std::mutex guard;
    const auto n = static_cast<std::ptrdiff_t>(count);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (std::ptrdiff_t i = 0; i < n; ++i) {
      try {
        f(static_cast<std::size_t>(i));
      } catch (...) {
        const std::lock_guard<std::mutex> lock(guard);
        if (!first) first = std::current_exception();
      }
    }
    if (first) std::rethrow_exception(first);
    return;
  }
#endif
  for (std::size_t i = 0; i < count; ++i) f(i);
}

} // namespace hefl
