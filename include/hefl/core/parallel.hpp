#pragma once
/// @file
/// The one place where hefl uses more than one core: hefl::parallel_for over independent work items
/// (RNS limbs, key-switching digits). Each item writes only its own output, so results are
/// bit-identical for every thread count.
///
/// A small process-wide pool of std::threads serves the loops. The calling thread works too, and
/// items are handed out one at a time from a shared counter, so a helper thread that the operating
/// system has descheduled (another process holds the core) never holds the loop up: the caller
/// takes the remaining items itself. Idle helpers spin briefly, then sleep on a condition variable
/// (OpenMP's default spinning barrier made two threads up to 34x slower than one on a busy machine).

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "hefl/core/error.hpp"

namespace hefl {

namespace detail {

inline std::atomic<int>& thread_count_setting() noexcept {
  static std::atomic<int> n{0};
  return n;
}

/// True on a pool thread, so that a parallel_for inside an item runs sequentially.
inline bool& inside_pool_item() noexcept {
  thread_local bool inside = false;
  return inside;
}

/// Helper threads for parallel_for. One loop runs at a time; a caller that finds the pool busy runs
/// its loop alone.
class thread_pool {
public:
  static thread_pool& instance() {
    static thread_pool pool;
    return pool;
  }

  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  ~thread_pool() {
    {
      const std::lock_guard<std::mutex> lock(m_mutex);
      m_stop = true;
      m_generation.fetch_add(1, std::memory_order_release);
    }
    m_wake.notify_all();
    for (auto& t : m_threads) t.join();
  }

  /// Runs call(ctx, i) for i in [0, count) on the caller and up to @p helpers pool threads.
  /// Returns false, having run nothing, if another loop holds the pool.
  bool try_run(std::size_t count, int helpers, void (*call)(void*, std::size_t), void* ctx) {
    std::unique_lock<std::mutex> owner(m_owner, std::try_to_lock);
    if (!owner.owns_lock()) return false;
    ensure_threads(helpers);
    // The caller works on items too; a loop started inside one of them must not wait for the pool.
    struct flag_guard {
      bool previous = inside_pool_item();
      flag_guard() { inside_pool_item() = true; }
      ~flag_guard() { inside_pool_item() = previous; }
    } guard;
    job j;
    j.count = count;
    j.call = call;
    j.ctx = ctx;
    {
      const std::lock_guard<std::mutex> lock(m_mutex);
      m_job = &j;
      m_wanted = helpers;
      m_generation.fetch_add(1, std::memory_order_release);
    }
    m_wake.notify_all();
    work(j);
    std::unique_lock<std::mutex> lock(m_mutex);
    m_wanted = 0;  // helpers that wake up from now on stay out of this loop
    m_done.wait(lock, [&] { return j.active == 0; });
    m_job = nullptr;
    lock.unlock();
    if (j.error) std::rethrow_exception(j.error);
    return true;
  }

private:
  struct job {
    std::atomic<std::size_t> next{0};
    std::size_t count = 0;
    void (*call)(void*, std::size_t) = nullptr;
    void* ctx = nullptr;
    int active = 0;  // helpers inside work(); guarded by m_mutex
    std::mutex error_mutex;
    std::exception_ptr error;
  };

  thread_pool() = default;

  static void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    std::this_thread::yield();
#endif
  }

  void ensure_threads(int helpers) {
    // A new thread starts from the current generation, so it joins the loop about to be published
    // even if it first runs after the publication.
    const std::uint64_t now = m_generation.load(std::memory_order_acquire);
    while (static_cast<int>(m_threads.size()) < helpers) m_threads.emplace_back([this, now] { loop(now); });
  }

  static void work(job& j) noexcept {
    for (;;) {
      const std::size_t i = j.next.fetch_add(1, std::memory_order_relaxed);
      if (i >= j.count) return;
      try {
        j.call(j.ctx, i);
      } catch (...) {
        const std::lock_guard<std::mutex> lock(j.error_mutex);
        if (!j.error) j.error = std::current_exception();
      }
    }
  }

  void loop(std::uint64_t seen) {
    inside_pool_item() = true;
    for (;;) {
      // A short spin catches the next loop of a tight sequence without a sleep/wake round trip.
      for (int spin = 0; spin < 2000 && m_generation.load(std::memory_order_acquire) == seen; ++spin) cpu_relax();
      job* j = nullptr;
      {
        std::unique_lock<std::mutex> lock(m_mutex);
        m_wake.wait(lock, [&] { return m_stop || m_generation.load(std::memory_order_relaxed) != seen; });
        seen = m_generation.load(std::memory_order_relaxed);
        if (m_stop) return;
        if (m_job == nullptr || m_wanted == 0) continue;
        --m_wanted;
        ++m_job->active;
        j = m_job;
      }
      work(*j);
      {
        const std::lock_guard<std::mutex> lock(m_mutex);
        --j->active;
      }
      m_done.notify_all();
    }
  }

  std::mutex m_owner;  // held by the caller for the whole loop
  std::mutex m_mutex;  // guards m_job, m_wanted, m_stop and job::active
  std::condition_variable m_wake, m_done;
  std::atomic<std::uint64_t> m_generation{0};
  job* m_job = nullptr;
  int m_wanted = 0;
  bool m_stop = false;
  std::vector<std::thread> m_threads;
};

} // namespace detail

/// The number of threads hefl::parallel_for may use: what set_thread_count() chose, or by default
/// every hardware thread.
[[nodiscard]] inline int thread_count() noexcept {
  const int chosen = detail::thread_count_setting().load(std::memory_order_relaxed);
  if (chosen > 0) return chosen;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(std::min(hw, 64u));
}

/// Sets the number of threads for hefl's parallel loops (0 = every hardware thread, 1 = serial).
/// Results do not depend on it. @throws hefl::invalid_argument when @p n is negative or above 64.
inline void set_thread_count(int n) {
  if (n < 0 || n > 64)
    throw invalid_argument("hefl::set_thread_count: thread count must be in [0, 64], got " + std::to_string(n));
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

/// Calls @p f(i) for every i in [0, count) on up to thread_count() threads, the caller included.
/// Items must be independent. The first exception thrown by an item is rethrown on the calling
/// thread after the loop (the other items still run). A loop started inside an item, or while
/// another thread's loop holds the pool, runs on its caller alone.
/// @throws whatever an item throws (the first one).
template <class F>
void parallel_for(std::size_t count, F&& f) {
  const int threads = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(thread_count()), count));
  if (threads > 1 && !detail::inside_pool_item()) {
    using callable = std::remove_reference_t<F>;
    auto call = [](void* ctx, std::size_t i) { (*static_cast<callable*>(ctx))(i); };
    void* ctx = const_cast<void*>(static_cast<const void*>(std::addressof(f)));
    if (detail::thread_pool::instance().try_run(count, threads - 1, call, ctx)) return;
  }
  for (std::size_t i = 0; i < count; ++i) f(i);
}

} // namespace hefl
