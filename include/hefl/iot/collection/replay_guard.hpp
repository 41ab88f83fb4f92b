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
///
/// The guard keeps its own clock (wall time read once at construction, advanced by the monotonic
/// steady_clock): a caller's "now" is used only within max_clock_offset of it, so one stray future
/// "now" cannot ratchet the window forward (which would forget nonces and refuse every honest message
/// as stale), nor can a wall clock stepped later. Optionally the nonces and the guard's clock are
/// persisted in SQLite, so a restarted collector still refuses a request captured before the restart.

#include <hefl/core/error.hpp>
#include <hefl/iot/pki/signing.hpp>

#include <botan/hex.h>
#include <botan/sqlite3.h>

#include <array>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
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
  unavailable, ///< the nonce could not be persisted; refused rather than remembered in memory only
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
    case replay_status::unavailable: return "unavailable";
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
  /// How far a caller's now may lie from the guard's own clock; beyond it the guard's clock is used.
  std::chrono::nanoseconds max_clock_offset = std::chrono::seconds(5);
  /// The guard's own clock; empty = wall time at construction advanced by std::chrono::steady_clock.
  std::function<iot_clock::time_point()> clock;
};

/// Refuses replayed, stale and future-dated messages per device, with bounded memory.
///
/// A nonce is remembered until its message's timestamp is older than max_age; after that any replay is
/// stale anyway. Each entry costs a fixed amount of memory whatever the nonce's length (a 16-byte
/// digest of the nonce in two tree nodes), so max_entries bounds memory. When max_entries or max_entries_per_device
/// would be exceeded the new message is refused as overloaded; one flooding device therefore cannot
/// push out other devices' nonces, nor its own. The guard's notion of now never runs backwards: a
/// clock stepped back cannot revive forgotten nonces; and it never runs ahead of its own clock by more
/// than max_clock_offset, whatever now a caller passes. Thread-safe.
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
  explicit replay_guard(replay_guard_options options = {}) : m_options(std::move(options)) {
    validate_options(m_options);
    if (!m_options.clock) {
      const auto wall = iot_clock::now();
      const auto mono = std::chrono::steady_clock::now();
      m_options.clock = [wall, mono] {
        return wall + std::chrono::duration_cast<iot_clock::duration>(std::chrono::steady_clock::now() - mono);
      };
    }
  }

  /// A guard whose nonces and clock persist in the SQLite file @p sqlite_path (created if needed):
  /// the nonces still inside the window and the guard's latest now are restored, so a request
  /// captured before a restart is still a replay after it. Each accepted nonce is written (and
  /// committed) before check() returns ok.
  /// @throws hefl::invalid_argument as the other constructor; hefl::io_error if the file cannot be
  ///         opened or written; hefl::parse_error if a stored row is not a nonce entry
  explicit replay_guard(const std::string& sqlite_path, replay_guard_options options = {})
      : replay_guard(std::move(options)) {
    try {
      m_db = std::make_unique<Botan::Sqlite3_Database>(sqlite_path);
      m_db->create_table(
          "CREATE TABLE IF NOT EXISTS hefl_replay_nonces (device TEXT NOT NULL, nonce TEXT NOT NULL, "
          "expiry TEXT NOT NULL, PRIMARY KEY (device, nonce))");
      m_db->create_table("CREATE TABLE IF NOT EXISTS hefl_replay_clock (id INTEGER PRIMARY KEY, now TEXT NOT NULL)");
      auto c = m_db->new_statement("SELECT now FROM hefl_replay_clock WHERE id = 0");
      if (c->step()) m_now = iot_clock::time_point(iot_clock::duration(parse_count(c->get_str(0), "clock")));
      const auto own = m_options.clock();
      if (own > m_now) m_now = own;
      auto q = m_db->new_statement("SELECT device, nonce, expiry FROM hefl_replay_nonces");
      while (q->step()) {
        const auto device_id = q->get_str(0);
        const auto hex = q->get_str(1);
        const auto expiry = iot_clock::time_point(iot_clock::duration(parse_count(q->get_str(2), "expiry")));
        nonce_key key{};
        try {
          const auto bytes = Botan::hex_decode(hex);
          if (bytes.size() != key.size()) throw parse_error("replay_guard: stored nonce is not 16 bytes");
          std::copy(bytes.begin(), bytes.end(), key.begin());
        } catch (const Botan::Exception& e) {
          throw parse_error(std::string("replay_guard: stored nonce is not hex: ") + e.what());
        }
        if (device_id.empty()) throw parse_error("replay_guard: stored nonce without a device");
        if (expiry < m_now) continue;  // a replay of it is stale anyway
        auto device = m_devices.try_emplace(device_id).first;
        if (device->second.insert(key).second) {
          m_expiry.emplace(expiry, &device->first, key);
          ++m_size;
        }
      }
      persist_clock();
    } catch (const Botan::Exception& e) {
      throw io_error("replay_guard " + sqlite_path + ": " + e.what());
    }
  }

private:
  static void validate_options(const replay_guard_options& options) {
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
    if (options.max_clock_offset < std::chrono::nanoseconds::zero())
      throw invalid_argument("replay_guard: expected max_clock_offset >= 0, got " +
                             std::to_string(options.max_clock_offset.count()) + " ns");
  }

public:

  replay_guard(const replay_guard&) = delete;
  replay_guard& operator=(const replay_guard&) = delete;

  /// Checks the message of @p device_id with @p nonce and @p timestamp, received at @p now, and
  /// remembers the nonce when the verdict is ok. @p now counts only within max_clock_offset of the
  /// guard's own clock (else the guard's clock is used). Checks in this order: malformed, stale,
  /// future, replay, overloaded (then unavailable, if persisting fails). Never throws for any input
  /// except std::bad_alloc.
  [[nodiscard]] replay_verdict check(std::string_view device_id, std::span<const std::uint8_t> nonce,
                                     iot_clock::time_point timestamp, iot_clock::time_point now) {
    if (nonce.empty() || nonce.size() > max_nonce_bytes)
      return {replay_status::malformed, "nonce of " + std::to_string(nonce.size()) + " bytes, expected 1.." +
                                            std::to_string(max_nonce_bytes)};
    const nonce_key key = digest(nonce);
    const std::lock_guard lock(m_mutex);
    const auto own = m_options.clock();
    const auto lo = saturating_sub(own, m_options.max_clock_offset), hi = saturating_add(own, m_options.max_clock_offset);
    const auto bounded = now < lo ? lo : now > hi ? hi : now;
    if (bounded > m_now) m_now = bounded;
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
    const auto expiry = saturating_add(timestamp, m_options.max_age);
    if (m_db) {
      if (auto problem = persist_nonce(device_id, key, expiry))
        return {replay_status::unavailable, "the nonce could not be persisted, refused: " + *problem};
    }
    if (device == m_devices.end()) device = m_devices.emplace(std::string(device_id), std::set<nonce_key>{}).first;
    device->second.insert(key);
    m_expiry.emplace(expiry, &device->first, key);
    ++m_size;
    return {replay_status::ok, {}};
  }

  /// Forgets a nonce recorded by check() (e.g. when the action it guarded failed and may be retried).
  /// @return whether it was remembered
  bool forget(std::string_view device_id, std::span<const std::uint8_t> nonce) {
    const nonce_key key = digest(nonce);
    const std::lock_guard lock(m_mutex);
    const auto device = m_devices.find(device_id);
    if (device == m_devices.end() || !device->second.contains(key)) return false;
    for (auto it = m_expiry.begin(); it != m_expiry.end(); ++it) {
      if (*std::get<1>(*it) == device_id && std::get<2>(*it) == key) {
        m_expiry.erase(it);
        break;
      }
    }
    if (m_db) {
      try {
        auto del = m_db->new_statement("DELETE FROM hefl_replay_nonces WHERE device = ?1 AND nonce = ?2");
        del->bind(1, std::string(device_id));
        del->bind(2, Botan::hex_encode(key.data(), key.size()));
        del->spin();
      } catch (const Botan::Exception&) {  // a row left behind only refuses more (conservative)
      }
    }
    device->second.erase(key);
    --m_size;
    if (device->second.empty()) m_devices.erase(device);
    return true;
  }

  /// The guard's latest now (bounded by its own clock), e.g. for tests and monitoring.
  [[nodiscard]] iot_clock::time_point current_time() const {
    const std::lock_guard lock(m_mutex);
    return m_now;
  }

  /// Whether nonces persist in SQLite.
  [[nodiscard]] bool persistent() const noexcept { return m_db != nullptr; }

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
    bool forgot = false;
    while (!m_expiry.empty() && std::get<0>(*m_expiry.begin()) < m_now) {
      const auto [expiry, device_key, key] = *m_expiry.begin();
      m_expiry.erase(m_expiry.begin());
      const auto device = m_devices.find(*device_key);
      device->second.erase(key);
      --m_size;
      if (device->second.empty()) m_devices.erase(device);
      forgot = true;
    }
    // The stored clock goes forward before stored nonces are dropped, so a restart with the wall
    // clock stepped back cannot revive a forgotten nonce. At most once a second: rows left behind
    // only refuse more.
    if (forgot && m_db && m_now - m_last_cleanup >= std::chrono::seconds(1)) {
      try {
        persist_clock();
        auto del = m_db->new_statement("DELETE FROM hefl_replay_nonces WHERE CAST(expiry AS INTEGER) < CAST(?1 AS INTEGER)");
        del->bind(1, std::to_string(m_now.time_since_epoch().count()));
        del->spin();
        m_last_cleanup = m_now;
      } catch (const Botan::Exception&) {
      }
    }
  }

  static std::int64_t parse_count(const std::string& text, const char* what) {
    std::size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != text.size())
      throw parse_error(std::string("replay_guard: stored ") + what + " \"" + text.substr(0, 32) + "\" is not an integer");
    return v;
  }

  void persist_clock() {
    auto up = m_db->new_statement("INSERT OR REPLACE INTO hefl_replay_clock (id, now) VALUES (0, ?1)");
    up->bind(1, std::to_string(m_now.time_since_epoch().count()));
    up->spin();
  }

  // Writes the nonce; the reason on failure. Botan's wrapper swallows step errors: count the changes.
  std::optional<std::string> persist_nonce(std::string_view device_id, const nonce_key& key,
                                           iot_clock::time_point expiry) {
    try {
      auto ins = m_db->new_statement("INSERT OR REPLACE INTO hefl_replay_nonces (device, nonce, expiry) VALUES (?1, ?2, ?3)");
      ins->bind(1, std::string(device_id));
      ins->bind(2, Botan::hex_encode(key.data(), key.size()));
      ins->bind(3, std::to_string(expiry.time_since_epoch().count()));
      ins->spin();
      auto changes = m_db->new_statement("SELECT changes()");
      if (!changes->step() || changes->get_size_t(0) == 0) return std::string("the database did not take the row");
      return std::nullopt;
    } catch (const Botan::Exception& e) {
      return std::string(e.what());
    }
  }

  replay_guard_options m_options;
  mutable std::mutex m_mutex;
  iot_clock::time_point m_now = iot_clock::time_point::min();  // the latest now seen
  std::map<std::string, std::set<nonce_key>, std::less<>> m_devices;
  std::set<std::tuple<iot_clock::time_point, const std::string*, nonce_key>> m_expiry;  // device keys live in m_devices
  std::size_t m_size = 0;
  std::unique_ptr<Botan::Sqlite3_Database> m_db;
  iot_clock::time_point m_last_cleanup{};
};

static_assert(replay_policy<replay_guard>);

} // namespace hefl::iot
