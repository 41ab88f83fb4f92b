#pragma once
/// @file
/// Replay protection for device messages: a timestamp window plus a bounded memory of the nonces seen
/// inside it (seed 003, "Replay Attack": requests carry a timestamp that is checked; the nonce memory
/// closes the gap of a replay inside the window, the classic timestamp + nonce scheme of
/// ISO/IEC 9798-2 / Needham–Schroeder–Denning–Sacco).
///
/// Only nonces whose message could still pass the timestamp check need remembering, so entries are
/// forgotten exactly when a replay of them would be refused as stale. Memory is capped twice, in total
/// and per device; when a cap is reached the guard refuses new messages ("overloaded") instead of
/// forgetting a nonce that is still inside the window, so a flood can never open a replay hole.

#include <hefl/core/error.hpp>
#include <hefl/iot/signing.hpp>

#include <array>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>

namespace hefl::iot {

/// The clock of rule checks and replay checks: wall time, because message timestamps come from devices.
using iot_clock = std::chrono::system_clock;

/// Outcome of a replay check.
enum class replay_status {
  ok,          ///< fresh: inside the window and the nonce not seen before (now remembered)
  replay,      ///< this device already used this nonce inside the window
  stale,       ///< the timestamp is older than max_age
  future,      ///< the timestamp is further ahead than max_future_skew
  overloaded,  ///< a memory cap is reached and every remembered nonce is still inside the window
  malformed,   ///< the nonce is empty or longer than replay_guard::max_nonce_bytes
};

/// The spelling of @p s used in messages and ledger entries, e.g. "replay".
[[nodiscard]] inline std::string_view to_string(replay_status s) noexcept {
  switch (s) {
    case replay_status::ok: return "ok";
    case replay_status::replay: return "replay";
    case replay_status::stale: return "stale";
    case replay_status::future: return "future";
    case replay_status::overloaded: return "overloaded";
    case replay_status::malformed: return "malformed";
  }
  return "?";
}

/// The result of replay_guard::check.
struct replay_verdict {
  replay_status status = replay_status::ok;  ///< outcome
  std::string message;                       ///< empty when ok, else a sentence naming expected vs actual

  /// True when the message is fresh.
  [[nodiscard]] bool ok() const noexcept { return status == replay_status::ok; }
  /// Same as ok().
  explicit operator bool() const noexcept { return ok(); }
};

/// A replay policy for the collector validator. Requirements: `check(device_id, nonce, timestamp, now)`
/// -> replay_verdict on an lvalue, recording the nonce when the verdict is ok.
template <class G>
concept replay_policy = requires(G& guard, std::string_view device_id, std::span<const std::uint8_t> nonce,
                                 iot_clock::time_point timestamp, iot_clock::time_point now) {
  { guard.check(device_id, nonce, timestamp, now) } -> std::same_as<replay_verdict>;
};

/// Configuration of a replay_guard.
struct replay_guard_options {
  std::chrono::nanoseconds max_age = std::chrono::minutes(2);          ///< oldest accepted timestamp, now - max_age
  std::chrono::nanoseconds max_future_skew = std::chrono::seconds(30);  ///< newest accepted timestamp, now + skew
  std::size_t max_entries = std::size_t{1} << 20;                      ///< remembered nonces, all devices together
  std::size_t max_entries_per_device = 4096;                           ///< remembered nonces of one device
};

/// Refuses replayed, stale and future-dated messages per device, with bounded memory.
///
/// A nonce is remembered until its message's timestamp is older than max_age; after that any replay is
/// stale anyway. Each entry costs a fixed amount of memory whatever the nonce's length (a 16-byte
/// digest of the nonce in two tree nodes), so max_entries bounds memory. When max_entries or max_entries_per_device
/// would be exceeded the new message is refused as overloaded; one flooding device therefore cannot
/// push out other devices' nonces, nor its own. The guard's notion of now never runs backwards: a
/// clock stepped back cannot revive forgotten nonces. Thread-safe.
///
/// The guard records a nonce when it returns ok, so call it after the message's signature (which must
/// cover the timestamp and nonce) has been verified: then only authentic messages use up memory.
class replay_guard {
public:
  /// Longest accepted nonce in bytes.
  static constexpr std::size_t max_nonce_bytes = 256;

  /// A guard with @p options.
  /// @throws hefl::invalid_argument if max_age <= 0, max_future_skew < 0, either cap is 0, or
  ///         max_entries_per_device > max_entries
  explicit replay_guard(replay_guard_options options = {}) : m_options(options) {
    if (options.max_age <= std::chrono::nanoseconds::zero())
      throw invalid_argument("replay_guard: expected max_age > 0, got " + std::to_string(options.max_age.count()) + " ns");
    if (options.max_future_skew < std::chrono::nanoseconds::zero())
      throw invalid_argument("replay_guard: expected max_future_skew >= 0, got " +
                             std::to_string(options.max_future_skew.count()) + " ns");
    if (options.max_entries == 0 || options.max_entries_per_device == 0)
      throw invalid_argument("replay_guard: expected max_entries and max_entries_per_device >= 1, got " +
                             std::to_string(options.max_entries) + " and " +
                             std::to_string(options.max_entries_per_device));
    if (options.max_entries_per_device > options.max_entries)
      throw invalid_argument("replay_guard: max_entries_per_device " + std::to_string(options.max_entries_per_device) +
                             " > max_entries " + std::to_string(options.max_entries));
  }

  replay_guard(const replay_guard&) = delete;
  replay_guard& operator=(const replay_guard&) = delete;

  /// Checks the message of @p device_id with @p nonce and @p timestamp, received at @p now, and
  /// remembers the nonce when the verdict is ok. Checks in this order: malformed, stale, future,
  /// replay, overloaded. Never throws for any input except std::bad_alloc.
  [[nodiscard]] replay_verdict check(std::string_view device_id, std::span<const std::uint8_t> nonce,
                                     iot_clock::time_point timestamp, iot_clock::time_point now) {
    if (nonce.empty() || nonce.size() > max_nonce_bytes)
      return {replay_status::malformed, "nonce of " + std::to_string(nonce.size()) + " bytes, expected 1.." +
                                            std::to_string(max_nonce_bytes)};
    const nonce_key key = digest(nonce);
    const std::lock_guard lock(m_mutex);
    if (now > m_now) m_now = now;
    forget_expired();
    const auto oldest = saturating_sub(m_now, m_options.max_age);
    const auto newest = saturating_add(m_now, m_options.max_future_skew);
    if (timestamp < oldest)
      return {replay_status::stale, "timestamp is " + describe(distance(m_now, timestamp)) + " old, the limit is " +
                                        describe(m_options.max_age)};
    if (timestamp > newest)
      return {replay_status::future, "timestamp is " + describe(distance(timestamp, m_now)) +
                                         " in the future, the limit is " + describe(m_options.max_future_skew)};
    auto device = m_devices.find(device_id);
    if (device != m_devices.end() && device->second.contains(key))
      return {replay_status::replay,
              "device '" + std::string(device_id) + "' already used this nonce inside the replay window"};
    if (m_size >= m_options.max_entries)
      return {replay_status::overloaded, "replay memory full (" + std::to_string(m_size) +
                                             " nonces inside the window); refusing rather than forgetting one"};
    if (device != m_devices.end() && device->second.size() >= m_options.max_entries_per_device)
      return {replay_status::overloaded, "device '" + std::string(device_id) + "' has " +
                                             std::to_string(device->second.size()) +
                                             " nonces inside the window, the limit is " +
                                             std::to_string(m_options.max_entries_per_device)};
    if (device == m_devices.end()) device = m_devices.emplace(std::string(device_id), std::set<nonce_key>{}).first;
    device->second.insert(key);
    m_expiry.emplace(saturating_add(timestamp, m_options.max_age), &device->first, key);
    ++m_size;
    return {replay_status::ok, {}};
  }

  /// check() for a nonce given as text.
  [[nodiscard]] replay_verdict check(std::string_view device_id, std::string_view nonce,
                                     iot_clock::time_point timestamp, iot_clock::time_point now) {
    return check(device_id,
                 std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(nonce.data()), nonce.size()),
                 timestamp, now);
  }

  /// Nonces remembered, all devices together (never more than max_entries).
  [[nodiscard]] std::size_t size() const {
    const std::lock_guard lock(m_mutex);
    return m_size;
  }

  /// Devices with at least one remembered nonce.
  [[nodiscard]] std::size_t device_count() const {
    const std::lock_guard lock(m_mutex);
    return m_devices.size();
  }

  /// Nonces remembered for @p device_id.
  [[nodiscard]] std::size_t size(std::string_view device_id) const {
    const std::lock_guard lock(m_mutex);
    const auto it = m_devices.find(device_id);
    return it == m_devices.end() ? 0 : it->second.size();
  }

  /// The options in force.
  [[nodiscard]] const replay_guard_options& options() const noexcept { return m_options; }

private:
  // 128 bits of SHA-256 of the nonce: fixed-size entries whatever the nonce length, and no two
  // nonces an attacker could find that share an entry.
  using nonce_key = std::array<std::uint8_t, 16>;

  static nonce_key digest(std::span<const std::uint8_t> nonce) {
    const auto full = sha256(nonce);
    nonce_key k{};
    std::copy_n(full.begin(), k.size(), k.begin());
    return k;
  }

  // Time arithmetic on untrusted timestamps saturates instead of overflowing; d is never negative.
  using rep = iot_clock::duration::rep;
  static iot_clock::time_point saturating_add(iot_clock::time_point t, std::chrono::nanoseconds d) {
    const rep dd = std::chrono::duration_cast<iot_clock::duration>(d).count();
    const rep tc = t.time_since_epoch().count();
    if (tc > std::numeric_limits<rep>::max() - dd) return iot_clock::time_point::max();
    return iot_clock::time_point(iot_clock::duration(tc + dd));
  }
  static iot_clock::time_point saturating_sub(iot_clock::time_point t, std::chrono::nanoseconds d) {
    const rep dd = std::chrono::duration_cast<iot_clock::duration>(d).count();
    const rep tc = t.time_since_epoch().count();
    if (tc < std::numeric_limits<rep>::min() + dd) return iot_clock::time_point::min();
    return iot_clock::time_point(iot_clock::duration(tc - dd));
  }
  // later - earlier for later >= earlier, saturated.
  static iot_clock::duration distance(iot_clock::time_point later, iot_clock::time_point earlier) {
    const rep a = later.time_since_epoch().count();
    const rep b = earlier.time_since_epoch().count();
    if (b < 0 && a > std::numeric_limits<rep>::max() + b) return iot_clock::duration::max();
    return iot_clock::duration(a - b);
  }

  static std::string describe(iot_clock::duration d) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
    return std::to_string(ms) + " ms";
  }

  // A nonce whose message timestamp is older than now - max_age can only come back as stale.
  void forget_expired() {
    while (!m_expiry.empty() && std::get<0>(*m_expiry.begin()) < m_now) {
      const auto [expiry, device_key, key] = *m_expiry.begin();
      m_expiry.erase(m_expiry.begin());
      const auto device = m_devices.find(*device_key);
      device->second.erase(key);
      --m_size;
      if (device->second.empty()) m_devices.erase(device);
    }
  }

  replay_guard_options m_options;
  mutable std::mutex m_mutex;
  iot_clock::time_point m_now = iot_clock::time_point::min();  // the latest now seen
  std::map<std::string, std::set<nonce_key>, std::less<>> m_devices;
  std::set<std::tuple<iot_clock::time_point, const std::string*, nonce_key>> m_expiry;  // device keys live in m_devices
  std::size_t m_size = 0;
};

static_assert(replay_policy<replay_guard>);

} // namespace hefl::iot
