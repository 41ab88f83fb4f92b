#pragma once
/// @file
/// A memo of successful certificate-chain validations (iot::validate_chain, RFC 5280 path validation
/// with CRLs), so that one service does not validate the same peer chain again for every request of a
/// kept-alive connection, or for the request that follows a handshake. Profiled in docs/services.md:
/// each validation costs about 0.8 ms (two ECDSA P-256 verifications and a subgroup check).
///
/// A remembered verdict is used only while nothing it depends on changed: the same trust snapshot
/// (a new root or CRL publishes a new snapshot, so a revocation takes effect at the next lookup),
/// the time inside every presented certificate's and every root's validity and before every CRL's
/// nextUpdate, and at most max_age after the validation. Refusals are never remembered. Roles are
/// checked on every lookup (the memo holds the verdict for every role). Tests: "net: the validation
/// cache ..." in tests/services/collector_pipeline_test.cpp.

#include <hefl/iot/pki/pki.hpp>

#include <botan/hash.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace hefl::net {

/// Tunables of a validation_cache.
struct validation_cache_options {
  std::size_t max_entries = 4096;     ///< when full, the memo is emptied (bounded memory)
  std::chrono::seconds max_age{60};   ///< a verdict is recomputed at least this often
};

/// Thread-safe memo of successful iot::validate_chain verdicts. Share one per service process, never
/// between services that would, deployed, run on different machines (that would hide their cost).
class validation_cache {
public:
  /// @throws hefl::invalid_argument if max_entries is 0 or max_age is not positive
  explicit validation_cache(validation_cache_options o = {}) : m_options(o) {
    if (o.max_entries == 0 || o.max_age.count() <= 0)
      throw invalid_argument("validation_cache: max_entries and max_age must be positive");
  }

  /// iot::validate_chain(chain, store, usage, now, roles), or the remembered verdict (see the file comment).
  /// @throws nothing (as validate_chain)
  [[nodiscard]] iot::chain_verdict validate(const std::vector<Botan::X509_Certificate>& chain,
                                            const iot::trust_store& store, iot::cert_usage usage, iot::clock_time now,
                                            iot::role_set roles = iot::role_set::any()) noexcept {
    try {
      if (chain.empty()) return iot::validate_chain(chain, store, usage, now, roles);
      const auto key = key_of(chain, usage);
      // The snapshot is read before validating: a verdict is filed under the snapshot it may be older
      // than, never under a newer one (a CRL published meanwhile makes the next lookup miss).
      const auto snap = store.snapshot();
      {
        const std::lock_guard lock(m_mutex);
        const auto it = m_entries.find(key);
        if (it != m_entries.end() && it->second.snapshot == snap && now >= it->second.from && now < it->second.until) {
          ++m_hits;
          return with_roles(it->second.verdict, roles);
        }
      }
      auto v = iot::validate_chain(chain, store, usage, now, iot::role_set::any());
      {
        const std::lock_guard lock(m_mutex);
        ++m_misses;
        if (v.ok()) {
          if (m_entries.size() >= m_options.max_entries) m_entries.clear();
          m_entries[key] = entry{snap, window_from(chain), window_until(chain, *snap, now), v};
        }
      }
      return with_roles(std::move(v), roles);
    } catch (...) {
      return iot::validate_chain(chain, store, usage, now, roles);
    }
  }

  /// Lookups answered from the memo.
  [[nodiscard]] std::uint64_t hits() const {
    const std::lock_guard lock(m_mutex);
    return m_hits;
  }
  /// Lookups that validated.
  [[nodiscard]] std::uint64_t misses() const {
    const std::lock_guard lock(m_mutex);
    return m_misses;
  }

private:
  struct entry {
    std::shared_ptr<const iot::trust_snapshot> snapshot;
    iot::clock_time from, until;
    iot::chain_verdict verdict;
  };

  static std::string key_of(const std::vector<Botan::X509_Certificate>& chain, iot::cert_usage usage) {
    auto h = Botan::HashFunction::create_or_throw("SHA-256");
    h->update(static_cast<std::uint8_t>(usage));
    for (const auto& c : chain) {
      const auto der = c.BER_encode();
      h->update_be(static_cast<std::uint32_t>(der.size()));
      h->update(der);
    }
    const auto d = h->final();
    return std::string(d.begin(), d.end());
  }

  static iot::clock_time when(const Botan::X509_Time& t) {
    return std::chrono::time_point_cast<iot::clock_time::duration>(t.to_std_timepoint());
  }

  static iot::clock_time window_from(const std::vector<Botan::X509_Certificate>& chain) {
    auto from = iot::clock_time::min();
    for (const auto& c : chain) from = std::max(from, when(c.not_before()));
    return from;
  }

  iot::clock_time window_until(const std::vector<Botan::X509_Certificate>& chain, const iot::trust_snapshot& snap,
                               iot::clock_time now) const {
    auto until = now + m_options.max_age;
    for (const auto& c : chain) until = std::min(until, when(c.not_after()));
    for (const auto& r : snap.roots) until = std::min(until, when(r.not_after()));
    for (const auto& crl : snap.crls) until = std::min(until, when(crl->next_update()));
    return until;
  }

  // The role check of validate_chain, on a verdict computed for every role.
  static iot::chain_verdict with_roles(iot::chain_verdict v, iot::role_set roles) {
    if (v.ok() && v.holder && !roles.contains(v.holder->role)) {
      v.status = iot::chain_status::wrong_role;
      v.reason = "wrong_role: holder \"" + v.holder->subject_id + "\" is a " + std::string(iot::to_string(v.holder->role));
      v.holder.reset();
    }
    return v;
  }

  validation_cache_options m_options;
  mutable std::mutex m_mutex;
  std::map<std::string, entry> m_entries;
  std::uint64_t m_hits = 0, m_misses = 0;
};

/// A certificate policy for iot::collector_validator that validates through a validation_cache (TLS
/// client usage, every role: the validator checks the role). Both referenced objects must outlive it.
class cached_certificates {
public:
  /// @param cache the memo; null validates every chain from scratch (as iot::trust_store_certificates)
  cached_certificates(validation_cache* cache, const iot::trust_store& store) noexcept : m_cache(cache), m_store(&store) {}
  /// As iot::trust_store_certificates::validate, through the cache.
  [[nodiscard]] iot::chain_verdict validate(const std::vector<Botan::X509_Certificate>& chain, iot::clock_time now) const noexcept {
    return m_cache ? m_cache->validate(chain, *m_store, iot::cert_usage::tls_client, now, iot::role_set::any())
                   : iot::validate_chain(chain, *m_store, iot::cert_usage::tls_client, now, iot::role_set::any());
  }

private:
  validation_cache* m_cache;
  const iot::trust_store* m_store;
};

} // namespace hefl::net
