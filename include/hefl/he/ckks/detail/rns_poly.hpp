#pragma once
/// @file
/// Polynomials of Z_Q[X]/(X^N + 1) in residue-number-system form: one limb of N residues per prime,
/// limb-major in one contiguous buffer. Rescaling and CRT composition follow the full-RNS CKKS of
/// J. H. Cheon, K. Han, A. Kim, M. Kim, Y. Song, "A Full RNS Variant of Approximate Homomorphic
/// Encryption", SAC 2018 (§3, RNS.Rescale); composition uses Garner's mixed-radix algorithm
/// (H. Garner, "The residue number system", IRE Trans. Electronic Computers, 1959).

#include <hefl/core/error.hpp>
#include <hefl/core/parallel.hpp>
#include <hefl/he/ckks/detail/eltwise.hpp>
#include <hefl/he/ckks/detail/modarith.hpp>
#include <hefl/he/ckks/detail/ntt.hpp>
#include <hefl/he/ckks/params.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hefl::he::ckks::detail {

/// Freed limb buffers kept for reuse. Homomorphic operations allocate and free buffers of a few
/// sizes (N words times a limb count) at a high rate; handing them back to the system makes the
/// next allocation fault every page in again, which on a virtual machine costs more than the
/// arithmetic (measured here: a product with relinearization at N = 8192 took 6.0 ms instead of
/// 1.9 ms). Microsoft SEAL keeps a memory pool for the same reason. Buffers are cached by exact size
/// up to max_cached_bytes in total; the rest go back to the system. Thread-safe.
class buffer_pool {
public:
  /// Buffers smaller than this go straight to operator new.
  static constexpr std::size_t min_pooled_bytes = std::size_t{1} << 14;
  /// Largest total size of cached buffers.
  static constexpr std::size_t max_cached_bytes = std::size_t{512} << 20;

  /// The process-wide pool. Never destroyed, so buffers released during static destruction are safe.
  [[nodiscard]] static buffer_pool& instance() {
    static buffer_pool* const pool = new buffer_pool();
    return *pool;
  }

  /// A buffer of @p bytes (uninitialized), from the cache when one of that size is there.
  /// @throws std::bad_alloc if the system has no memory left.
  [[nodiscard]] void* acquire(std::size_t bytes) {
    {
      const std::lock_guard<std::mutex> lock(m_mutex);
      const auto it = m_free.find(bytes);
      if (it != m_free.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        m_cached -= bytes;
        return p;
      }
    }
    return ::operator new(bytes);
  }

  /// Returns a buffer from acquire(@p bytes) to the cache, or to the system when the cache is full.
  void release(void* p, std::size_t bytes) noexcept {
    if (p == nullptr) return;
    {
      const std::lock_guard<std::mutex> lock(m_mutex);
      if (m_cached + bytes <= max_cached_bytes) {
        try {
          m_free[bytes].push_back(p);
          m_cached += bytes;
          return;
        } catch (...) { // no room to remember it: give it back instead
        }
      }
    }
    ::operator delete(p);
  }

  /// Total size of the cached buffers.
  [[nodiscard]] std::size_t cached_bytes() {
    const std::lock_guard<std::mutex> lock(m_mutex);
    return m_cached;
  }

  /// Gives every cached buffer back to the system.
  void trim() noexcept {
    std::unordered_map<std::size_t, std::vector<void*>> cached;
    {
      const std::lock_guard<std::mutex> lock(m_mutex);
      cached.swap(m_free);
      m_cached = 0;
    }
    for (auto& [bytes, buffers] : cached)
      for (void* p : buffers) ::operator delete(p);
  }

private:
  buffer_pool() = default;
  std::mutex m_mutex;
  std::unordered_map<std::size_t, std::vector<void*>> m_free;
  std::size_t m_cached = 0;
};

/// Allocator of rns_poly storage: large buffers come from buffer_pool, and elements are
/// default-initialized (left uninitialized for u64) unless a value is given, so buffers that are
/// about to be overwritten are not zeroed first.
template <class T>
class pool_allocator {
public:
  using value_type = T;
  pool_allocator() noexcept = default;
  template <class U>
  pool_allocator(const pool_allocator<U>&) noexcept {}

  [[nodiscard]] T* allocate(std::size_t count) {
    if (count > std::numeric_limits<std::size_t>::max() / sizeof(T)) throw std::bad_array_new_length();
    const std::size_t bytes = count * sizeof(T);
    return static_cast<T*>(bytes >= buffer_pool::min_pooled_bytes ? buffer_pool::instance().acquire(bytes)
                                                                   : ::operator new(bytes));
  }
  void deallocate(T* p, std::size_t count) noexcept {
    const std::size_t bytes = count * sizeof(T);
    if (bytes >= buffer_pool::min_pooled_bytes) buffer_pool::instance().release(p, bytes);
    else ::operator delete(p);
  }
  template <class U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }

  friend bool operator==(const pool_allocator&, const pool_allocator&) noexcept { return true; }
};

/// A vector of words in pooled storage; resize() leaves new words uninitialized.
using word_vector = std::vector<u64, pool_allocator<u64>>;

/// Gives the CKKS buffers cached for reuse back to the system (e.g. after a large computation).
inline void release_cached_memory() noexcept { buffer_pool::instance().trim(); }

/// Tag for the rns_poly constructor that leaves the residues uninitialized.
struct uninitialized_t {
  explicit uninitialized_t() = default;
};
/// Selects the rns_poly constructor that leaves the residues uninitialized.
inline constexpr uninitialized_t uninitialized{};

/// An RNS polynomial at a level l: limbs for q_0..q_l, optionally followed by s special limbs
/// (during key switching) for the last s primes of the context: s = α for key material and the
/// key-switching sums, s = 1 for the one-prime extension of public-key encryption. Knows whether its limbs hold coefficients or NTT values; the
/// primes themselves come from the detail::context passed to each operation.
class rns_poly {
public:
  /// An empty polynomial (no limbs).
  rns_poly() = default;

  /// A zero polynomial of degree @p degree with limbs q_0..q_level and @p special_limbs special limbs
  /// (true: one, the layout of α = 1).
  /// @throws hefl::invalid_argument if degree is 0 or the size would overflow.
  rns_poly(std::size_t degree, std::size_t level, std::size_t special_limbs, bool ntt_form = false)
      : m_degree(degree), m_level(level), m_special(special_limbs), m_ntt_form(ntt_form) {
    const std::size_t limbs = level + 1 + special_limbs;
    if (degree == 0 || degree > (std::size_t{1} << 17) || level > 1024 || special_limbs > 256)
      throw invalid_argument("ckks::rns_poly: degree must be in [1, 2^17] and level at most 1024, got degree " +
                             std::to_string(degree) + ", level " + std::to_string(level));
    m_data.assign(limbs * degree, 0);
  }

  /// As the zero polynomial's constructor, but the residues are left uninitialized: for results
  /// that the caller overwrites completely.
  /// @throws hefl::invalid_argument as the zero polynomial's constructor.
  rns_poly(std::size_t degree, std::size_t level, std::size_t special_limbs, bool ntt_form, uninitialized_t)
      : m_degree(degree), m_level(level), m_special(special_limbs), m_ntt_form(ntt_form) {
    const std::size_t limbs = level + 1 + special_limbs;
    if (degree == 0 || degree > (std::size_t{1} << 17) || level > 1024 || special_limbs > 256)
      throw invalid_argument("ckks::rns_poly: degree must be in [1, 2^17] and level at most 1024, got degree " +
                             std::to_string(degree) + ", level " + std::to_string(level));
    m_data.resize(limbs * degree);
  }

  /// The ring degree N.
  [[nodiscard]] std::size_t degree() const noexcept { return m_degree; }
  /// The level l: the polynomial has limbs for q_0..q_l.
  [[nodiscard]] std::size_t level() const noexcept { return m_level; }
  /// Whether special limbs follow the chain limbs.
  [[nodiscard]] bool has_special() const noexcept { return m_special != 0; }
  /// Number of special limbs (the last special_count() primes of the context).
  [[nodiscard]] std::size_t special_count() const noexcept { return m_special; }
  /// Number of limbs, l + 1 + special_count().
  [[nodiscard]] std::size_t limb_count() const noexcept { return m_degree == 0 ? 0 : m_data.size() / m_degree; }
  /// Whether the limbs hold NTT values (true) or coefficients (false).
  [[nodiscard]] bool is_ntt_form() const noexcept { return m_ntt_form; }
  /// Marks the representation without transforming: for code that fills limbs directly.
  void set_ntt_form(bool ntt_form) noexcept { m_ntt_form = ntt_form; }

  /// Index into context::primes() of limb @p i.
  [[nodiscard]] std::size_t prime_index(std::size_t i, const context& ctx) const noexcept {
    return i <= m_level ? i : ctx.prime_count() - m_special + (i - m_level - 1);
  }

  /// The N residues of limb @p i (no bounds check on i).
  [[nodiscard]] u64* limb(std::size_t i) noexcept { return m_data.data() + i * m_degree; }
  /// The N residues of limb @p i (no bounds check on i).
  [[nodiscard]] const u64* limb(std::size_t i) const noexcept { return m_data.data() + i * m_degree; }
  /// All residues, limb after limb.
  [[nodiscard]] std::span<u64> data() noexcept { return m_data; }
  /// All residues, limb after limb.
  [[nodiscard]] std::span<const u64> data() const noexcept { return m_data; }

  /// Removes the last limb (the last special one if present, else q_level) without rounding.
  /// @throws hefl::depth_exhausted if only the limb of q_0 is left.
  void drop_last_limb() {
    if (m_special != 0) {
      --m_special;
    } else {
      if (m_level == 0) throw depth_exhausted("ckks::rns_poly: cannot drop a limb at level 0");
      --m_level;
    }
    m_data.resize(m_data.size() - m_degree);
  }

  /// Exact equality of shape, representation and residues (not constant-time: never compare secrets).
  friend bool operator==(const rns_poly& a, const rns_poly& b) noexcept {
    return a.m_degree == b.m_degree && a.m_level == b.m_level && a.m_special == b.m_special &&
           a.m_ntt_form == b.m_ntt_form && a.m_data == b.m_data;
  }

private:
  std::size_t m_degree = 0;
  std::size_t m_level = 0;
  std::size_t m_special = 0;
  bool m_ntt_form = false;
  word_vector m_data;
};

/// @throws hefl::invalid_argument unless @p p has the ring degree of @p ctx and a level the chain has.
inline void check_poly(const rns_poly& p, const context& ctx, const char* op) {
  if (p.degree() != ctx.poly_degree() || p.level() + 1 + ctx.special_count() > ctx.prime_count() ||
      p.special_count() > ctx.special_count() || p.limb_count() == 0)
    throw invalid_argument(std::string("ckks::") + op + ": polynomial of degree " + std::to_string(p.degree()) +
                           " at level " + std::to_string(p.level()) + " does not fit parameters of degree " +
                           std::to_string(ctx.poly_degree()) + " with levels 0.." +
                           std::to_string(ctx.prime_count() - 1 - ctx.special_count()) + " and " +
                           std::to_string(ctx.special_count()) + " special primes");
}

/// @throws hefl::invalid_argument unless @p a and @p b have the same shape and representation.
inline void check_same_shape(const rns_poly& a, const rns_poly& b, const context& ctx, const char* op) {
  check_poly(a, ctx, op);
  if (a.degree() != b.degree() || a.level() != b.level() || a.special_count() != b.special_count())
    throw invalid_argument(std::string("ckks::") + op + ": operands differ in shape (level " +
                           std::to_string(a.level()) + " vs " + std::to_string(b.level()) + ", special limbs " +
                           std::to_string(a.special_count()) + " vs " + std::to_string(b.special_count()) + ")");
  if (a.is_ntt_form() != b.is_ntt_form())
    throw invalid_argument(std::string("ckks::") + op + ": one operand is in NTT form and the other is not");
}

/// Below this many residues a limb-wise loop runs on the calling thread: waking a second thread
/// costs more than the few microseconds of work it would take over.
inline constexpr std::size_t parallel_min_residues = std::size_t{1} << 15;

/// Calls @p f(i) for every limb i of @p p, spread over hefl::thread_count() threads when the
/// polynomial is large enough. Each call must touch only limb i, so results do not depend on the
/// thread count.
template <class F>
void for_each_limb(const rns_poly& p, F&& f) {
  if (p.data().size() >= parallel_min_residues) {
    hefl::parallel_for(p.limb_count(), f);
  } else {
    for (std::size_t i = 0; i < p.limb_count(); ++i) f(i);
  }
}

/// A scratch buffer of @p count words, uninitialized, from the buffer pool.
[[nodiscard]] inline word_vector uninitialized_words(std::size_t count) {
  word_vector v;
  v.resize(count);
  return v;
}

/// Transforms every limb to NTT form (no-op if already there).
/// @throws hefl::invalid_argument if p does not fit ctx.
inline void to_ntt(rns_poly& p, const context& ctx) {
  check_poly(p, ctx, "to_ntt");
  if (p.is_ntt_form()) return;
  // One transform per limb is tens of microseconds: always worth a second thread.
  hefl::parallel_for(p.limb_count(), [&](std::size_t i) { ctx.ntt(p.prime_index(i, ctx)).forward(p.limb(i)); });
  p.set_ntt_form(true);
}

/// Transforms every limb back to coefficients (no-op if already there).
/// @throws hefl::invalid_argument if p does not fit ctx.
inline void from_ntt(rns_poly& p, const context& ctx) {
  check_poly(p, ctx, "from_ntt");
  if (!p.is_ntt_form()) return;
  hefl::parallel_for(p.limb_count(), [&](std::size_t i) { ctx.ntt(p.prime_index(i, ctx)).inverse(p.limb(i)); });
  p.set_ntt_form(false);
}

/// a += b limb-wise. @throws hefl::invalid_argument on a shape or representation mismatch.
inline void add_inplace(rns_poly& a, const rns_poly& b, const context& ctx) {
  check_same_shape(a, b, ctx, "add");
  const std::size_t n = a.degree();
  for_each_limb(a, [&](std::size_t i) {
    const u64 q = ctx.primes()[a.prime_index(i, ctx)];
    u64* x = a.limb(i);
    eltwise_add(x, x, b.limb(i), n, q);
  });
}

/// a -= b limb-wise. @throws hefl::invalid_argument on a shape or representation mismatch.
inline void sub_inplace(rns_poly& a, const rns_poly& b, const context& ctx) {
  check_same_shape(a, b, ctx, "sub");
  const std::size_t n = a.degree();
  for_each_limb(a, [&](std::size_t i) {
    const u64 q = ctx.primes()[a.prime_index(i, ctx)];
    u64* x = a.limb(i);
    eltwise_subtract(x, x, b.limb(i), n, q);
  });
}

/// a = -a limb-wise. @throws hefl::invalid_argument if a does not fit ctx.
inline void negate_inplace(rns_poly& a, const context& ctx) {
  check_poly(a, ctx, "negate");
  const std::size_t n = a.degree();
  for_each_limb(a, [&](std::size_t i) {
    const u64 q = ctx.primes()[a.prime_index(i, ctx)];
    u64* x = a.limb(i);
    for (std::size_t j = 0; j < n; ++j) x[j] = neg_mod(x[j], q);
  });
}

/// a *= b, pointwise in NTT form (the negacyclic product).
/// @throws hefl::invalid_argument on a shape mismatch or if the operands are not in NTT form.
inline void multiply_inplace(rns_poly& a, const rns_poly& b, const context& ctx) {
  check_same_shape(a, b, ctx, "multiply");
  if (!a.is_ntt_form()) throw invalid_argument("ckks::multiply: operands must be in NTT form");
  const std::size_t n = a.degree();
  for_each_limb(a, [&](std::size_t i) {
    const modulus& q = ctx.ntt(a.prime_index(i, ctx)).mod();
    eltwise_multiply(a.limb(i), a.limb(i), b.limb(i), n, q);
  });
}

/// acc += a * b, pointwise in NTT form.
/// @throws hefl::invalid_argument on a shape mismatch or if the operands are not in NTT form.
inline void multiply_accumulate(rns_poly& acc, const rns_poly& a, const rns_poly& b, const context& ctx) {
  check_same_shape(acc, a, ctx, "multiply_accumulate");
  check_same_shape(a, b, ctx, "multiply_accumulate");
  if (!a.is_ntt_form()) throw invalid_argument("ckks::multiply_accumulate: operands must be in NTT form");
  const std::size_t n = a.degree();
  for_each_limb(a, [&](std::size_t i) {
    const modulus& q = ctx.ntt(a.prime_index(i, ctx)).mod();
    eltwise_multiply_add(acc.limb(i), a.limb(i), b.limb(i), n, q);
  });
}

/// The residue of a signed 64-bit integer modulo q.
[[nodiscard]] inline u64 signed_residue(std::int64_t v, const modulus& q) noexcept {
  const u64 magnitude = v < 0 ? u64{0} - static_cast<u64>(v) : static_cast<u64>(v);
  const u64 r = q.reduce(magnitude);
  return v < 0 ? neg_mod(r, q.value()) : r;
}

/// [round(value)]_q for a finite double of any magnitude; exact, since a double is m·2^e with a
/// 53-bit integer m.
[[nodiscard]] inline u64 rounded_residue(double value, const modulus& q) noexcept {
  const double r = std::nearbyint(value);
  if (std::fabs(r) < 0x1p63) return signed_residue(static_cast<std::int64_t>(r), q);
  int e = 0;
  const double frac = std::frexp(std::fabs(r), &e);
  const auto m = static_cast<u64>(std::ldexp(frac, 53));
  const u64 x = mul_mod(q.reduce(m), pow_mod(2, static_cast<u64>(e - 53), q), q);
  return r < 0 ? neg_mod(x, q.value()) : x;
}

/// a *= s for a signed integer scalar (either representation: scaling commutes with the NTT).
/// @throws hefl::invalid_argument if a does not fit ctx.
inline void multiply_scalar_inplace(rns_poly& a, std::int64_t s, const context& ctx) {
  check_poly(a, ctx, "multiply_scalar");
  const std::size_t n = a.degree();
  for_each_limb(a, [&](std::size_t i) {
    const modulus& q = ctx.ntt(a.prime_index(i, ctx)).mod();
    const u64 w = signed_residue(s, q), w_shoup = shoup_precompute(w, q.value());
    eltwise_multiply_constant(a.limb(i), a.limb(i), w, w_shoup, n, q.value());
  });
}

/// Writes to each @p out[c] the rounded quotient of @p in[c] by one prime p: without special limbs
/// the last chain prime q_l, with s special limbs the first of them (so that the s - 1 left are
/// still the last s - 1 primes). Limb i becomes (a_i - [a]_p mod q_i)·p^{-1} mod q_i, after adding
/// floor(p/2) so the result is round(a / p) rather than floor. Without a special limb this is the
/// CKKS rescale (level drops by one); with one it divides by P (the mod-down of key switching).
/// Works in either representation; out[c] gets in[c]'s representation and the shape without p's
/// limb (it may be in[c] itself when s <= 1). The inputs must share one shape and representation; they are processed
/// together so that a ciphertext's parts (or a key switch's two outputs) keep both threads busy.
/// @throws hefl::depth_exhausted if the inputs are at level 0 without a special limb.
/// @throws hefl::invalid_argument if a polynomial does not fit ctx, the shapes differ, or the
///         spans differ in length.
inline void divide_round_last(std::span<const rns_poly* const> in, std::span<rns_poly* const> out,
                              const context& ctx) {
  if (in.size() != out.size()) throw invalid_argument("ckks::rescale: as many outputs as inputs are needed");
  if (in.empty()) return;
  const rns_poly& first = *in[0];
  for (const rns_poly* a : in) check_same_shape(first, *a, ctx, "rescale");
  if (!first.has_special() && first.level() == 0)
    throw depth_exhausted("ckks::rescale: level 0 has no prime left to divide by (one more level required)");
  const std::size_t n = first.degree();
  const std::size_t last = first.limb_count() - 1; // number of output limbs
  const bool special = first.has_special();
  const std::size_t div = special ? first.level() + 1 : first.level(); // the limb divided by
  const std::size_t last_index = first.prime_index(div, ctx);
  const bool ntt = first.is_ntt_form();
  const std::size_t out_level = special ? first.level() : first.level() - 1;
  const std::size_t out_special = special ? first.special_count() - 1 : 0;
  if (div != last)
    for (std::size_t c = 0; c < in.size(); ++c)
      if (out[c] == in[c]) throw invalid_argument("ckks::rescale: in-place division by a special prime that is not last");
  const u64 p = ctx.primes()[last_index];
  const u64 half = p >> 1;
  const std::size_t count = in.size();

  // [a_last + half]_p in coefficient form, one row per polynomial (the lazy inverse leaves [0, 2p),
  // so [a_last]_p + half < 3p needs at most two subtractions).
  word_vector top = uninitialized_words(count * n);
  hefl::parallel_for(count, [&](std::size_t c) {
    u64* t = top.data() + c * n;
    if (ntt) {
      std::copy_n(in[c]->limb(div), n, t);
      ctx.ntt(last_index).inverse_lazy(t);
      for (std::size_t j = 0; j < n; ++j) {
        u64 v = t[j] + half;
        v = v >= 2 * p ? v - 2 * p : v;
        t[j] = v >= p ? v - p : v;
      }
    } else {
      const u64* x = in[c]->limb(div);
      for (std::size_t j = 0; j < n; ++j) t[j] = add_mod(x[j], half, p);
    }
  });
  for (std::size_t c = 0; c < count; ++c)
    if (out[c] != in[c]) *out[c] = rns_poly(n, out_level, out_special, ntt, uninitialized);

  hefl::parallel_for(count * last, [&](std::size_t item) {
    const std::size_t c = item / last, o = item % last, i = o < div ? o : o + 1;
    const u64* t_top = top.data() + c * n;
    const std::size_t index = first.prime_index(i, ctx);
    const ntt_tables& tables = ctx.ntt(index);
    const modulus& q = tables.mod();
    const u64 qv = q.value();
    const u64 half_mod = q.reduce(half);
    const u64 inv = ctx.inverse(last_index, index), inv_shoup = ctx.inverse_shoup(last_index, index);
    const u64* x = in[c]->limb(i);
    u64* y = out[c]->limb(o);
    if (ntt) {
      // [a_last + half]_{q_i} - half: the small remainder, moved to NTT form modulo q_i.
      word_vector work = uninitialized_words(n);
      u64* t = work.data();
      if (p <= qv) {
        eltwise_subtract_constant(t, t_top, half_mod, n, qv);
      } else {
        for (std::size_t j = 0; j < n; ++j) t[j] = sub_mod(q.reduce(t_top[j]), half_mod, qv);
      }
      tables.forward_lazy(t); // [0, 4q)
      eltwise_subtract_lazy_multiply_constant(y, x, t, inv, inv_shoup, n, qv);
    } else {
      for (std::size_t j = 0; j < n; ++j) {
        const u64 r = sub_mod(p <= qv ? t_top[j] : q.reduce(t_top[j]), half_mod, qv);
        y[j] = mul_shoup(sub_mod(x[j], r, qv), inv, inv_shoup, qv);
      }
    }
  });
  for (std::size_t c = 0; c < count; ++c)
    if (out[c] == in[c]) out[c]->drop_last_limb();
}

/// divide_round_last with every polynomial of @p polys as its own output.
/// @throws as divide_round_last.
inline void divide_round_last_inplace(std::span<rns_poly* const> polys, const context& ctx) {
  std::vector<const rns_poly*> in(polys.begin(), polys.end());
  if (!polys.empty() && polys[0]->special_count() > 1) {
    // The divided limb is not the last one: write to fresh polynomials, then move them in.
    std::vector<rns_poly> fresh(polys.size());
    std::vector<rns_poly*> out;
    for (auto& f : fresh) out.push_back(&f);
    divide_round_last(in, out, ctx);
    for (std::size_t c = 0; c < polys.size(); ++c) *polys[c] = std::move(fresh[c]);
    return;
  }
  divide_round_last(in, polys, ctx);
}

/// divide_round_last_inplace for one polynomial.
/// @throws hefl::depth_exhausted if a is at level 0 without a special limb.
/// @throws hefl::invalid_argument if a does not fit ctx.
inline void divide_round_last_inplace(rns_poly& a, const context& ctx) {
  rns_poly* one[1] = {&a};
  divide_round_last_inplace(std::span<rns_poly* const>(one), ctx);
}

/// The CKKS rescale: divides by q_level with rounding and drops that limb (level - 1).
/// @throws hefl::invalid_argument if a has the special limb or does not fit ctx.
/// @throws hefl::depth_exhausted if a is at level 0.
inline void rescale_inplace(rns_poly& a, const context& ctx) {
  if (a.has_special()) throw invalid_argument("ckks::rescale: the polynomial still has the special limb");
  divide_round_last_inplace(a, ctx);
}

/// The mod-down of key switching: divides by the special prime P with rounding and drops its limb
/// (with s special limbs, by the first of them; see mod_down_all_inplace for all of P).
/// @throws hefl::invalid_argument if a has no special limb or does not fit ctx.
inline void mod_down_inplace(rns_poly& a, const context& ctx) {
  if (!a.has_special()) throw invalid_argument("ckks::mod_down: the polynomial has no special limb");
  divide_round_last_inplace(a, ctx);
}

/// The bit-reversal permutation of log2(@p n) bits as a table (n a power of two, at most 2^31).
[[nodiscard]] inline std::vector<std::uint32_t> bit_reverse_table(std::size_t n) {
  std::vector<std::uint32_t> rev(n, 0);
  int log_n = 0;
  while ((std::size_t{1} << log_n) < n) ++log_n;
  for (std::size_t k = 1; k < n; ++k)
    rev[k] = static_cast<std::uint32_t>((rev[k >> 1] >> 1) | ((k & 1) << (log_n - 1)));
  return rev;
}

/// The permutation by which the automorphism X -> X^g acts on NTT values: slot k of a(X^g) is slot
/// @p source[k] of a, where 2·rev(source[k]) + 1 = g·(2·rev(k) + 1) mod 2N (see apply_galois).
/// @p bit_reverse is bit_reverse_table(N); @p source receives N entries. g must be odd.
inline void galois_ntt_permutation(std::uint64_t galois_elt, std::span<const std::uint32_t> bit_reverse,
                                   std::span<std::uint32_t> source) noexcept {
  const std::size_t n = bit_reverse.size();
  const u64 mask = 2 * static_cast<u64>(n) - 1;
  for (std::size_t k = 0; k < n; ++k) {
    const u64 e = (galois_elt * (2 * static_cast<u64>(bit_reverse[k]) + 1)) & mask;
    source[k] = bit_reverse[static_cast<std::size_t>((e - 1) >> 1)];
  }
}

/// out = a(X^g) for a polynomial in NTT form, given the permutation of galois_ntt_permutation.
/// Every limb moves the same way. @p out takes a's shape.
/// @throws hefl::invalid_argument if a is not in NTT form, does not fit ctx, or out aliases a.
inline void apply_galois_ntt(const rns_poly& a, std::span<const std::uint32_t> source, rns_poly& out,
                             const context& ctx) {
  check_poly(a, ctx, "apply_galois");
  if (!a.is_ntt_form() || source.size() != a.degree())
    throw invalid_argument("ckks::apply_galois_ntt: needs NTT form and one permutation entry per coefficient");
  if (&a == &out) throw invalid_argument("ckks::apply_galois: output must not alias the input");
  if (out.degree() != a.degree() || out.level() != a.level() || out.special_count() != a.special_count())
    out = rns_poly(a.degree(), a.level(), a.special_count(), true, uninitialized);
  out.set_ntt_form(true);
  const std::size_t n = a.degree();
  for_each_limb(a, [&](std::size_t i) {
    const u64* x = a.limb(i);
    u64* y = out.limb(i);
    for (std::size_t k = 0; k < n; ++k) y[k] = x[source[k]];
  });
}

/// out = a(X^g) for an odd Galois element @p galois_elt in [1, 2N): the automorphism behind slot
/// rotations and conjugation (Gentry, Halevi, Smart, "Fully Homomorphic Encryption with Polylog
/// Overhead", EUROCRYPT 2012, §5). In coefficient form X^i moves to +-X^(i·g mod N); in NTT form the
/// automorphism permutes the evaluation points psi^(2·rev(k)+1), so slot k takes slot k' with
/// 2·rev(k')+1 = g·(2·rev(k)+1) mod 2N. @p out takes a's shape and representation.
/// @throws hefl::invalid_argument if galois_elt is even or not below 2N, a does not fit ctx, or out aliases a.
inline void apply_galois(const rns_poly& a, std::uint64_t galois_elt, rns_poly& out, const context& ctx) {
  check_poly(a, ctx, "apply_galois");
  const std::size_t n = a.degree();
  const u64 two_n = 2 * static_cast<u64>(n);
  if (galois_elt % 2 == 0 || galois_elt >= two_n)
    throw invalid_argument("ckks::apply_galois: Galois element must be odd and below 2N = " + std::to_string(two_n) +
                           ", got " + std::to_string(galois_elt));
  if (&a == &out) throw invalid_argument("ckks::apply_galois: output must not alias the input");
  if (a.is_ntt_form()) {
    const std::vector<std::uint32_t> rev = bit_reverse_table(n);
    std::vector<std::uint32_t> source(n);
    galois_ntt_permutation(galois_elt, rev, source);
    apply_galois_ntt(a, source, out, ctx);
    return;
  }
  if (out.degree() != n || out.level() != a.level() || out.special_count() != a.special_count())
    out = rns_poly(n, a.level(), a.special_count());
  out.set_ntt_form(false);
  for_each_limb(a, [&](std::size_t i) {
    const u64 q = ctx.primes()[a.prime_index(i, ctx)];
    const u64* x = a.limb(i);
    u64* y = out.limb(i);
    for (std::size_t k = 0; k < n; ++k) {
      const u64 e = (galois_elt * k) & (two_n - 1);
      if (e < n) y[e] = x[k];
      else y[e - n] = neg_mod(x[k], q);
    }
  });
}

/// The residues modulo each prime of @p a's limbs of the integer nearest to @p value.
/// @throws hefl::invalid_argument if value is not finite.
inline void set_coefficient(rns_poly& a, std::size_t j, double value, const context& ctx) {
  if (!std::isfinite(value))
    throw invalid_argument("ckks: coefficient " + std::to_string(j) + " is not finite (" + std::to_string(value) + ")");
  const double r = std::nearbyint(value);
  if (std::fabs(r) < 0x1p63) {
    const auto v = static_cast<std::int64_t>(r);
    for (std::size_t i = 0; i < a.limb_count(); ++i) a.limb(i)[j] = signed_residue(v, ctx.ntt(a.prime_index(i, ctx)).mod());
    return;
  }
  // |r| >= 2^63: r = m * 2^e exactly, with m a 53-bit integer.
  int e = 0;
  const double frac = std::frexp(std::fabs(r), &e);
  const auto m = static_cast<u64>(std::ldexp(frac, 53));
  const u64 shift = static_cast<u64>(e - 53);
  for (std::size_t i = 0; i < a.limb_count(); ++i) {
    const modulus& q = ctx.ntt(a.prime_index(i, ctx)).mod();
    u64 x = mul_mod(q.reduce(m), pow_mod(2, shift, q), q);
    a.limb(i)[j] = r < 0 ? neg_mod(x, q.value()) : x;
  }
}

/// A polynomial in coefficient form at @p level (with the α special limbs if @p with_special) whose
/// coefficients are the integers nearest to @p coeffs (e.g. the encoder's output).
/// @throws hefl::invalid_argument if coeffs.size() != N, the level is not in the chain, or a value
/// is not finite.
[[nodiscard]] inline rns_poly from_signed(std::span<const double> coeffs, std::size_t level, bool with_special,
                                          const context& ctx) {
  if (coeffs.size() != ctx.poly_degree())
    throw invalid_argument("ckks::from_signed: expected " + std::to_string(ctx.poly_degree()) +
                           " coefficients, got " + std::to_string(coeffs.size()));
  if (level + 1 + ctx.special_count() > ctx.prime_count())
    throw invalid_argument("ckks::from_signed: level " + std::to_string(level) + " exceeds the top level " +
                           std::to_string(ctx.prime_count() - 1 - ctx.special_count()));
  rns_poly a(ctx.poly_degree(), level, with_special ? ctx.special_count() : 0);
  for (std::size_t j = 0; j < coeffs.size(); ++j) set_coefficient(a, j, coeffs[j], ctx);
  return a;
}

/// A polynomial in coefficient form with the given signed integer coefficients.
/// @throws hefl::invalid_argument if coeffs.size() != N or the level is not in the chain.
[[nodiscard]] inline rns_poly from_signed(std::span<const std::int64_t> coeffs, std::size_t level, bool with_special,
                                          const context& ctx) {
  if (coeffs.size() != ctx.poly_degree())
    throw invalid_argument("ckks::from_signed: expected " + std::to_string(ctx.poly_degree()) +
                           " coefficients, got " + std::to_string(coeffs.size()));
  if (level + 1 + ctx.special_count() > ctx.prime_count())
    throw invalid_argument("ckks::from_signed: level " + std::to_string(level) + " exceeds the top level " +
                           std::to_string(ctx.prime_count() - 1 - ctx.special_count()));
  rns_poly a(ctx.poly_degree(), level, with_special ? ctx.special_count() : 0);
  for (std::size_t i = 0; i < a.limb_count(); ++i) {
    const modulus& q = ctx.ntt(a.prime_index(i, ctx)).mod();
    u64* x = a.limb(i);
    for (std::size_t j = 0; j < coeffs.size(); ++j) x[j] = signed_residue(coeffs[j], q);
  }
  return a;
}

/// Writes to @p out the centered value (in (-Q/2, Q/2], Q = q_0 ... q_l) of each coefficient, as a
/// double. Garner's mixed-radix digits are balanced into (-q_i/2, q_i/2] from the bottom up, which
/// makes the digit expansion the centered value itself; evaluating it from the top digit down in
/// double keeps the relative error near 2^-52 at any level.
/// @throws hefl::invalid_argument if a is in NTT form, has the special limb, does not fit ctx, or
/// out.size() != N.
inline void to_centered_doubles(const rns_poly& a, std::span<double> out, const context& ctx) {
  check_poly(a, ctx, "to_centered_doubles");
  if (a.is_ntt_form() || a.has_special())
    throw invalid_argument("ckks::to_centered_doubles: needs coefficient form without the special limb");
  if (out.size() != a.degree())
    throw invalid_argument("ckks::to_centered_doubles: output has " + std::to_string(out.size()) +
                           " entries, expected " + std::to_string(a.degree()));
  const std::size_t limbs = a.level() + 1;
  const auto primes = ctx.primes();
  // Coefficients are independent: chunks of them go to different threads, each with its own scratch.
  constexpr std::size_t chunk = 1024;
  const std::size_t chunks = (a.degree() + chunk - 1) / chunk;
  const auto compose = [&](std::size_t c) {
    const std::size_t begin = c * chunk, end = std::min(a.degree(), (c + 1) * chunk), width = end - begin;
    // Garner's digits of the whole chunk, limb by limb (digits[i·width + t] for coefficient begin + t):
    // the coefficients' dependency chains are independent, so the inner loop over them pipelines
    // where a loop over one coefficient's digits waits on each product (about 1.6 times faster at
    // 8 limbs, N = 16384, portable). Exact residue arithmetic, so the same digits and doubles.
    std::vector<u64> digits(limbs * width);
    for (std::size_t i = 0; i < limbs; ++i) {
      const modulus& q = ctx.ntt(i).mod();
      const u64 qv = q.value();
      u64* di = digits.data() + i * width;
      std::copy_n(a.limb(i) + begin, width, di);
      for (std::size_t k = 0; k < i; ++k) {
        // digit_i ← (digit_i − digit_k)·q_k^-1 mod q_i. digit_k < q_k is brought below q_i by the
        // cheapest exact means (none, one subtraction, Barrett), and Shoup's product takes the
        // difference in [0, 2q_i) unreduced (any 64-bit input, Harvey 2014): the same residue.
        const u64* dk = digits.data() + k * width;
        const u64 w = ctx.inverse(k, i), w_shoup = ctx.inverse_shoup(k, i), qk = primes[k];
        if (qk <= qv) {
          for (std::size_t t = 0; t < width; ++t) di[t] = mul_shoup(di[t] + qv - dk[t], w, w_shoup, qv);
        } else if (qk <= 2 * qv) {
          for (std::size_t t = 0; t < width; ++t) {
            const u64 d = dk[t] >= qv ? dk[t] - qv : dk[t];
            di[t] = mul_shoup(di[t] + qv - d, w, w_shoup, qv);
          }
        } else {
          for (std::size_t t = 0; t < width; ++t) di[t] = mul_shoup(di[t] + qv - q.reduce(dk[t]), w, w_shoup, qv);
        }
      }
    }
    std::vector<double> balanced(limbs);
    for (std::size_t j = begin; j < end; ++j) {
      u64 carry = 0;
      for (std::size_t i = 0; i < limbs; ++i) {
        const u64 d = digits[i * width + (j - begin)] + carry; // <= q_i
        if (d > (primes[i] - 1) / 2) {
          balanced[i] = -static_cast<double>(primes[i] - d);
          carry = 1;
        } else {
          balanced[i] = static_cast<double>(d);
          carry = 0;
        }
      }
      double value = balanced[limbs - 1];
      for (std::size_t i = limbs - 1; i-- > 0;) value = value * static_cast<double>(primes[i]) + balanced[i];
      out[j] = value;
    }
  };
  if (limbs > 1 && a.degree() >= 4096) {
    hefl::parallel_for(chunks, compose);
  } else {
    for (std::size_t c = 0; c < chunks; ++c) compose(c);
  }
}

} // namespace hefl::he::ckks::detail
