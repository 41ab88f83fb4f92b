#pragma once
/// @file
/// The application-layer re-check against a compromised collector (seed 003, "Sinkhole attack": a
/// compromised collector attracts traffic and forwards forged data). The storage node trusts no
/// collector: before a record reaches the store it re-validates the collector's certificate chain and
/// signature, that the device is registered to this patient and this collector, that the device's
/// certificate is still valid (not revoked), that the device signed exactly this measurement under
/// the key the storage node enrolled from the device's certificate, the patient signature under the
/// patient's own registered key, a timestamp window on both sides, that the device's nonce was not
/// stored before, and the rule contract of the device's group. A refused record is never stored and
/// its refusal is a ledger transaction.
///
/// Retries are idempotent: a record whose device nonce was seen before is an exact retry if a stored
/// record of the same device under that nonce has the same hash (the hash covers the device's signed
/// request bytes, signature included); it is answered as stored, with the stored record's id and
/// storage_verdict::already_stored, and nothing is written. A stored record under that nonce with
/// another hash (a different payload, or a malleated signature) is refused as duplicate_nonce. A
/// nonce seen but carried by no stored record (its attempt crashed before COMMIT, or was refused by
/// the rules) is judged again like a fresh record; while a copy under the nonce is being stored, a
/// copy with another hash is refused as duplicate_nonce and one with the same hash is stored once
/// (the store's duplicate-hash check answers it with the stored id). So the store holds at most one
/// record per (device, nonce), and a device that retries its same signed bytes learns the outcome.
///
/// What this does not stop: a compromised collector can still drop or delay honest traffic (a
/// sinkhole in the routing sense); resubmitting a device's signed request stores nothing new (the nonce).
///
/// Where the device's group comes from: the storage node's identity_directory, filled at enrolment
/// from the device's certificate (identity_directory::enrol_device). Never from the record or from the
/// collector: a compromised collector writes the record and would name the laxest group's contract.
///
/// Why the rule check matters although the patient signs: in the paper's flow the collector hashes
/// and the patient's card signs the hash it is given, so a compromised collector can obtain a valid
/// patient signature over values the device never sent. Only the contract stops those values.

#include <hefl/core/error.hpp>
#include <hefl/crypto/botan_random.hpp>
#include <hefl/iot/ledger/ledger.hpp>
#include <hefl/iot/pki/pki.hpp>
#include <hefl/iot/storage/record.hpp>
#include <hefl/iot/storage/record_store.hpp>
#include <hefl/iot/hospital/registry.hpp>
#include <hefl/iot/collection/replay_guard.hpp>
#include <hefl/iot/collection/request.hpp>
#include <hefl/iot/collection/rules.hpp>

#include <botan/x509cert.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hefl::iot {

/// Why the storage node refused a record. Checks run in this order; the first failure wins.
enum class storage_refusal : std::uint8_t {
  malformed,                ///< a field breaks the record format
  untrusted_collector,      ///< the collector's chain does not validate as a collector's (unknown CA, revoked, expired, other role)
  collector_mismatch,       ///< the record names another collector than the certificate, or the collector is not registered
  hash_mismatch,            ///< the hash is not SHA-256 of the record's content
  bad_collector_signature,  ///< the collector signature is missing or does not verify under the certificate's key
  unknown_device,           ///< the device is not registered (or was deregistered)
  device_not_assigned,      ///< the device is registered to another patient or reports to another collector
  unknown_device_key,       ///< the device was never enrolled, so the storage node has no key to verify it
  untrusted_device,         ///< the device's enrolled certificate no longer validates (revoked, expired)
  unattested,               ///< the record does not carry the device's signed request
  bad_device_signature,     ///< the device's signature does not verify under its enrolled key
  unknown_patient_key,      ///< no key is registered for the patient
  bad_patient_signature,    ///< the patient signature is missing or not made by the patient's registered key
  stale_timestamp,          ///< measured longer ago than the storage window allows (a back-dated record)
  future_timestamp,         ///< measured further in the future than the allowed clock skew
  duplicate_nonce,          ///< a record with this device nonce was already accepted (a re-signed replay)
  rule_violation,           ///< the payload breaks the contract of the device's group (or the device has no group)
  duplicate,                ///< the same record is already stored (a replay)
  unavailable,              ///< the nonce memory could not record the nonce (full or not persisted)
};

/// The spelling of @p r in messages and ledger entries, e.g. "device_not_assigned".
[[nodiscard]] constexpr std::string_view to_string(storage_refusal r) noexcept {
  switch (r) {
    case storage_refusal::malformed: return "malformed";
    case storage_refusal::untrusted_collector: return "untrusted_collector";
    case storage_refusal::collector_mismatch: return "collector_mismatch";
    case storage_refusal::hash_mismatch: return "hash_mismatch";
    case storage_refusal::bad_collector_signature: return "bad_collector_signature";
    case storage_refusal::unknown_device: return "unknown_device";
    case storage_refusal::device_not_assigned: return "device_not_assigned";
    case storage_refusal::unknown_device_key: return "unknown_device_key";
    case storage_refusal::untrusted_device: return "untrusted_device";
    case storage_refusal::unattested: return "unattested";
    case storage_refusal::bad_device_signature: return "bad_device_signature";
    case storage_refusal::unknown_patient_key: return "unknown_patient_key";
    case storage_refusal::bad_patient_signature: return "bad_patient_signature";
    case storage_refusal::stale_timestamp: return "stale_timestamp";
    case storage_refusal::future_timestamp: return "future_timestamp";
    case storage_refusal::duplicate_nonce: return "duplicate_nonce";
    case storage_refusal::rule_violation: return "rule_violation";
    case storage_refusal::duplicate: return "duplicate";
    case storage_refusal::unavailable: return "unavailable";
  }
  return "unknown";
}

/// The storage node's decision on one record.
struct storage_verdict {
  std::optional<storage_refusal> refusal;       ///< empty when stored
  std::string message;                          ///< why, for logs; empty when stored
  std::optional<rule_violation> violation;      ///< the broken rule, for rule_violation
  chain_status collector_certificate = chain_status::untrusted;  ///< the collector chain's verdict
  std::uint64_t record_id = 0;                  ///< the new id when stored; the stored copy's id for a retry or a duplicate
  bool already_stored = false;                  ///< ok() because this exact record was stored before (a retry): nothing was written
  sha256_digest ledger_entry{};                 ///< id of the refusal transaction (stored records are logged by the store)

  /// True when the record was stored.
  [[nodiscard]] bool ok() const noexcept { return !refusal.has_value(); }
  /// Same as ok().
  explicit operator bool() const noexcept { return ok(); }
};

/// Tunables of the storage guard.
struct storage_guard_options {
  /// How far a record's timestamp may lie ahead of the storage node's clock (device clocks drift).
  std::chrono::milliseconds max_future_skew{std::chrono::minutes(5)};
  /// How old a record's timestamp may be when it reaches the storage node (the collector's replay
  /// window plus forwarding delay); older records are refused as stale_timestamp.
  std::chrono::milliseconds max_age{std::chrono::minutes(10)};
  /// SQLite file where the device nonces of stored records persist (empty = memory only), so a
  /// restarted storage node still refuses a second record for the same device nonce.
  std::string nonce_sqlite_path;
  /// Memory caps and clock of the nonce memory (its max_age and max_future_skew are set from above).
  replay_guard_options nonces{};
  /// Chain validation (default: validate_chain), e.g. through a memo such as net::validation_cache.
  std::function<chain_verdict(const std::vector<Botan::X509_Certificate>&, const trust_store&, cert_usage, clock_time,
                              role_set)> validate;
};

/// Re-checks every record a collector forwards before the record store accepts it, and logs each
/// refusal on the ledger. All referenced objects must outlive the guard. Thread-safe if the rule
/// policy and the ledger are.
/// @tparam RulePolicy a hefl::iot::rule_policy: the storage node's own rule manager (a separate
///         instance from any collector's, since check() also counts each device's message rate)
/// @tparam Ledger a hefl::iot::ledger_policy
/// @tparam PatientPolicy, CollectorPolicy as in the record store
/// @tparam DevicePolicy the signing policy of device keys (ECDSA P-256, as the hospital CA certifies)
template <rule_policy RulePolicy, ledger_policy Ledger, signing_policy PatientPolicy = ed25519_signing,
          signing_policy CollectorPolicy = ecdsa_p256_signing, signing_policy DevicePolicy = ecdsa_p256_signing>
class storage_guard {
public:
  /// A guard in front of @p store. Collector keys of chains that pass are added to @p keys, which must
  /// be the store's directory, so that later integrity scans verify those records too.
  /// @throws hefl::invalid_argument if @p store does not log to a ledger (every stored record must be
  ///         logged) or does not verify against @p keys, or a window is not positive;
  ///         hefl::io_error if options.nonce_sqlite_path cannot be opened
  storage_guard(const trust_store& trust, const registry& reg, identity_directory& keys, RulePolicy& rules,
                record_store<PatientPolicy, CollectorPolicy>& store, Ledger& ledger,
                storage_guard_options options = {})
      : m_trust(&trust), m_registry(&reg), m_keys(&keys), m_rules(&rules), m_store(&store), m_ledger(&ledger),
        m_options(options), m_random(std::make_unique<crypto::system_random>()),
        m_random_mutex(std::make_unique<std::mutex>()), m_nonces(make_nonce_guard(options)),
        m_inflight(std::make_unique<inflight_table>()) {
    if (!store.logs_to_ledger())
      throw invalid_argument("storage_guard: the record store must log to a ledger (construct it with one)");
    if (&store.directory() != &keys)
      throw invalid_argument("storage_guard: the record store verifies against another identity_directory");
    if (options.max_future_skew.count() < 0)
      throw invalid_argument("storage_guard: max_future_skew must not be negative, got " +
                             std::to_string(options.max_future_skew.count()) + " ms");
  }

  /// The memory of device nonces of stored records.
  [[nodiscard]] const replay_guard& nonces() const noexcept { return *m_nonces; }

  /// Re-checks @p r, forwarded by the holder of @p collector_chain (end-entity first), at @p now, and
  /// stores it if every check passes (see storage_refusal for the order).
  /// @returns the stored id (with already_stored for an exact retry of a stored record), or the
  ///         refusal (logged as a custom "record_refused" transaction)
  /// @throws whatever the ledger's submit() throws (nothing is stored then); hefl::io_error if the
  ///         store cannot write
  [[nodiscard]] storage_verdict submit(const record& r, const std::vector<Botan::X509_Certificate>& collector_chain,
                                       clock_time now = std::chrono::system_clock::now()) {
    storage_verdict v;
    prepared p;
    if (!prepare(r, collector_chain, now, v, p)) return v;
    typename record_store<PatientPolicy, CollectorPolicy>::insert_result stored;
    try {
      stored = m_store->try_insert(r);
    } catch (...) {
      forget(p);
      throw;
    }
    return settle(v, r, p, stored, now);
  }

  /// One record of a batch and the chain of the collector that forwarded it.
  struct batch_item {
    record rec;                                             ///< the forwarded record
    std::vector<Botan::X509_Certificate> collector_chain;   ///< the forwarder's chain, end-entity first
  };

  /// Re-checks every item as submit() does, then stores those that pass in one record-store
  /// transaction (record_store::try_insert_batch: one COMMIT, one fsync, for the whole batch).
  /// @returns one verdict per item, in order
  /// @throws as submit(); if the batch's transaction fails, nothing of it is stored and the nonces
  ///         of its records are released, so the devices may retry
  [[nodiscard]] std::vector<storage_verdict> submit_batch(std::span<const batch_item> items,
                                                          clock_time now = std::chrono::system_clock::now()) {
    std::vector<storage_verdict> verdicts(items.size());
    std::vector<prepared> preps(items.size());
    std::vector<record> ready;
    std::vector<std::size_t> where;
    try {
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (prepare(items[i].rec, items[i].collector_chain, now, verdicts[i], preps[i])) {
          ready.push_back(items[i].rec);
          where.push_back(i);
        }
      }
    } catch (...) {
      for (auto& p : preps) forget(p);
      throw;
    }
    if (ready.empty()) return verdicts;
    std::vector<typename record_store<PatientPolicy, CollectorPolicy>::insert_result> stored;
    try {
      stored = m_store->try_insert_batch(std::span<const record>(ready));
    } catch (...) {
      for (auto& p : preps) forget(p);
      throw;
    }
    for (std::size_t k = 0; k < where.size(); ++k) {
      const auto i = where[k];
      (void)settle(verdicts[i], items[i].rec, preps[i], stored[k], now);
    }
    return verdicts;
  }

private:
  // What prepare() reserved for a record that passed every check: its nonce in the nonce memory,
  // and its (device, nonce) in the table of records being stored.
  struct prepared {
    bool ready = false;
    std::string device_id;
    std::vector<std::uint8_t> nonce;
    std::string inflight_key;  // non-empty while registered in m_inflight
  };

  // Records between their nonce check and the end of their insert, by "device:nonce": the hash of
  // the copy being stored and how many copies with that hash are on their way.
  struct inflight_table {
    std::mutex mutex;
    std::map<std::string, std::pair<record_digest, std::size_t>> copies;
  };

  static std::string inflight_key_of(const std::string& device_id, std::span<const std::uint8_t> nonce) {
    return device_id + ":" + record_detail::to_hex(nonce);
  }

  void leave_inflight(prepared& p) {
    if (p.inflight_key.empty()) return;
    const std::lock_guard lock(m_inflight->mutex);
    const auto it = m_inflight->copies.find(p.inflight_key);
    if (it != m_inflight->copies.end() && --it->second.second == 0) m_inflight->copies.erase(it);
    p.inflight_key.clear();
  }

  void forget(prepared& p) {
    leave_inflight(p);
    if (!p.ready) return;
    m_nonces->forget(p.device_id, std::span<const std::uint8_t>(p.nonce));
    p.ready = false;
  }

  storage_verdict& settle(storage_verdict& v, const record& r, prepared& p,
                          const typename record_store<PatientPolicy, CollectorPolicy>::insert_result& stored,
                          clock_time now) {
    v.record_id = stored.id;
    if (!stored && stored.check.fault == record_fault::duplicate) {
      // The same hash, so the same device request, is already stored: a retry (a copy that raced
      // the first through the nonce check, or a nonce memory that forgot): answered as stored.
      leave_inflight(p);
      p.ready = false;
      v.already_stored = true;
      return v;
    }
    if (!stored) {
      forget(p);
      p.ready = false;
      return refuse(v, r, from_store(stored.check.fault), stored.check.message, now);
    }
    leave_inflight(p);
    p.ready = false;
    return v;
  }

  // Every check before the store; true (nonce reserved in @p p) if the record may be inserted,
  // false with @p v the logged refusal.
  bool prepare(const record& r, const std::vector<Botan::X509_Certificate>& collector_chain, clock_time now,
               storage_verdict& v, prepared& p) {
    if (auto problem = r.format_problem()) return refused(v, r, storage_refusal::malformed, *problem, now);

    const auto check = [&](const std::vector<Botan::X509_Certificate>& c, role r) {
      return m_options.validate ? m_options.validate(c, *m_trust, cert_usage::tls_client, now, {r})
                                : validate_chain(c, *m_trust, cert_usage::tls_client, now, {r});
    };
    const auto chain = check(collector_chain, role::collector);
    v.collector_certificate = chain.status;
    if (!chain) return refused(v, r, storage_refusal::untrusted_collector, chain.reason, now);
    const std::string& collector = chain.holder->subject_id;
    if (collector != r.collector_id)
      return refused(v, r, storage_refusal::collector_mismatch,
                    "record names collector \"" + r.collector_id + "\", certificate belongs to \"" + collector + "\"",
                    now);
    if (!m_registry->has_collector(collector))
      return refused(v, r, storage_refusal::collector_mismatch, "collector \"" + collector + "\" is not registered",
                    now);

    if (r.compute_hash() != r.hash)
      return refused(v, r, storage_refusal::hash_mismatch, "hash is not SHA-256 of the record's content", now);
    std::unique_ptr<Botan::Public_Key> collector_key;
    try {
      collector_key = collector_chain.front().load_subject_public_key();
    } catch (const std::exception&) {
      collector_key.reset();
    }
    if (r.collector_signature.empty() || !collector_key ||
        !CollectorPolicy::verify(*collector_key, r.collector_message(), r.collector_signature))
      return refused(v, r, storage_refusal::bad_collector_signature,
                    r.collector_signature.empty()
                        ? "record has no collector signature"
                        : "collector signature does not verify as " + std::string(CollectorPolicy::algorithm_name) +
                              " under the key of \"" + collector + "\"'s certificate",
                    now);

    const auto device = m_registry->device(r.device);
    if (!device)
      return refused(v, r, storage_refusal::unknown_device, "device " + r.device.to_urn() + " is not registered", now);
    if (device->patient_id != r.patient_id || device->collector_id != collector)
      return refused(v, r, storage_refusal::device_not_assigned,
                    "device " + r.device.to_urn() + " is registered to patient \"" + device->patient_id +
                        "\" through \"" + device->collector_id + "\", not to \"" + r.patient_id + "\" through \"" +
                        collector + "\"",
                    now);

    const auto enrolment = m_keys->device_enrolment(r.device);
    if (!enrolment || !enrolment->key)
      return refused(v, r, storage_refusal::unknown_device_key,
                    "device " + r.device.to_urn() + " was never enrolled: no key to verify its signature", now);
    const auto device_chain = check({enrolment->certificate}, role::device);
    if (!device_chain)
      return refused(v, r, storage_refusal::untrusted_device,
                    "the enrolled certificate of device " + r.device.to_urn() + " does not validate: " + device_chain.reason,
                    now);
    if (!r.attested())
      return refused(v, r, storage_refusal::unattested,
                    "record carries no signed request of device " + r.device.to_urn(), now);
    const request signed_request = r.device_request();  // format_problem() already decoded it
    if (!verify_request<DevicePolicy>(signed_request, *enrolment->key))
      return refused(v, r, storage_refusal::bad_device_signature,
                    "the " + std::string(DevicePolicy::algorithm_name) + " signature of device " + r.device.to_urn() +
                        " does not verify under its enrolled key over this measurement",
                    now);

    const auto patient_keys = m_keys->patient_keys(r.patient_id);
    if (patient_keys.empty())
      return refused(v, r, storage_refusal::unknown_patient_key,
                    "no key is registered for patient \"" + r.patient_id + "\"", now);
    if (r.patient_signature.empty())
      return refused(v, r, storage_refusal::bad_patient_signature, "record has no patient signature", now);
    const bool patient_signed = std::any_of(patient_keys.begin(), patient_keys.end(), [&](const auto& k) {
      return k && PatientPolicy::verify(*k, r.hash, r.patient_signature);
    });
    if (!patient_signed)
      return refused(v, r, storage_refusal::bad_patient_signature,
                    "patient signature is not made by the registered key of \"" + r.patient_id + "\"", now);

    const std::string device_id = r.device.to_hex();
    const auto nonce = std::span<const std::uint8_t>(signed_request.nonce);
    // The nonce check, the retry decision and the in-flight registration happen under one lock, so
    // two copies under one nonce cannot both pass as "nothing stored yet" with different hashes.
    std::unique_lock inflight_lock(m_inflight->mutex);
    const auto fresh = m_nonces->check(device_id, nonce, r.timestamp, now);
    if (!fresh && fresh.status != replay_status::replay) {
      const auto why = fresh.status == replay_status::stale    ? storage_refusal::stale_timestamp
                       : fresh.status == replay_status::future ? storage_refusal::future_timestamp
                                                               : storage_refusal::unavailable;
      inflight_lock.unlock();
      return refused(v, r, why, "device " + r.device.to_urn() + ": " + fresh.message, now);
    }
    const auto key = inflight_key_of(device_id, nonce);
    if (!fresh) {
      // A nonce seen before: an exact retry of a stored record, another record under a used nonce,
      // or a nonce whose attempt stored nothing (see the file comment).
      const auto window_from = r.timestamp - m_options.max_age - m_options.max_future_skew;
      const auto window_to = r.timestamp + m_options.max_age + m_options.max_future_skew;
      // The lookup verifies the stored row, also its countersignature by this (validated) collector.
      m_keys->add_collector_key(collector, *collector_key);
      const auto stored = m_store->find_by_device_nonce(r.device, nonce, window_from, window_to);
      if (stored) {
        inflight_lock.unlock();
        if (stored->hash == r.hash) {
          v.record_id = stored->id;
          v.already_stored = true;
          return false;  // ok(): nothing to insert
        }
        return refused(v, r, storage_refusal::duplicate_nonce,
                       "device " + r.device.to_urn() + ": another record under this nonce is stored as id " +
                           std::to_string(stored->id),
                       now);
      }
      const auto it = m_inflight->copies.find(key);
      if (it != m_inflight->copies.end() && it->second.first != r.hash) {
        inflight_lock.unlock();
        return refused(v, r, storage_refusal::duplicate_nonce,
                       "device " + r.device.to_urn() + ": another record under this nonce is being stored", now);
      }
    }
    {
      auto& entry = m_inflight->copies[key];
      if (entry.second == 0) entry.first = r.hash;
      ++entry.second;
      p.inflight_key = key;
    }
    inflight_lock.unlock();
    struct inflight_release {
      storage_guard* self;
      prepared& p;
      bool keep = false;
      ~inflight_release() {
        if (!keep) self->leave_inflight(p);
      }
    } inflight{this, p};
    // From here on a refusal or failure gives the nonce back only where the record may be retried.
    struct nonce_release {
      replay_guard* guard;
      const std::string& device;
      const std::vector<std::uint8_t>& nonce;
      bool keep = false;
      ~nonce_release() {
        if (!keep) guard->forget(device, std::span<const std::uint8_t>(nonce));
      }
    } release{m_nonces.get(), device_id, signed_request.nonce};

    const auto group = m_keys->device_group(r.device);
    if (!group) {
      rule_violation none;
      none.kind = rule_violation_kind::unknown_group;
      none.message = "device " + r.device.to_urn() + " was never enrolled with a group";
      v.violation = none;
      release.keep = true;
      return refused(v, r, storage_refusal::rule_violation, none.message, now);
    }
    const auto rule = m_rules->check(*group, r.device.to_urn(), signed_request.data, now);
    if (!rule) {
      v.violation = rule.violation();
      release.keep = true;  // the nonce stays seen; a retry of these bytes is judged again (same contract)
      return refused(v, r, storage_refusal::rule_violation,
                    std::string(rule.code()) + ": " + rule.violation().message, now);
    }

    m_keys->add_collector_key(collector, *collector_key);
    release.keep = true;  // the caller releases it if the insert fails
    inflight.keep = true;  // settle() or forget() leaves the table
    p.ready = true;
    p.device_id = device_id;
    p.nonce = signed_request.nonce;
    return true;
  }

  static std::unique_ptr<replay_guard> make_nonce_guard(const storage_guard_options& o) {
    if (o.max_age.count() <= 0)
      throw invalid_argument("storage_guard: max_age must be positive, got " + std::to_string(o.max_age.count()) + " ms");
    replay_guard_options g = o.nonces;
    g.max_age = o.max_age;
    g.max_future_skew = std::max(o.max_future_skew, std::chrono::milliseconds(0));
    if (o.nonce_sqlite_path.empty()) return std::make_unique<replay_guard>(std::move(g));
    return std::make_unique<replay_guard>(o.nonce_sqlite_path, std::move(g));
  }

  static storage_refusal from_store(record_fault f) noexcept {
    switch (f) {
      case record_fault::duplicate: return storage_refusal::duplicate;
      case record_fault::hash_mismatch: return storage_refusal::hash_mismatch;
      case record_fault::unknown_patient_key: return storage_refusal::unknown_patient_key;
      case record_fault::missing_patient_signature:
      case record_fault::bad_patient_signature: return storage_refusal::bad_patient_signature;
      case record_fault::missing_collector_signature:
      case record_fault::unknown_collector_key:
      case record_fault::bad_collector_signature: return storage_refusal::bad_collector_signature;
      default: return storage_refusal::malformed;
    }
  }

  bool refused(storage_verdict& v, const record& r, storage_refusal why, const std::string& message, clock_time now) {
    (void)refuse(v, r, why, message, now);
    return false;
  }

  storage_verdict& refuse(storage_verdict& v, const record& r, storage_refusal why, const std::string& message,
                          clock_time now) {
    v.refusal = why;
    v.message = std::string(to_string(why)) + ": " + message;
    std::array<std::uint8_t, 16> nonce{};
    {
      const std::lock_guard lock(*m_random_mutex);
      m_random->fill(nonce);
    }
    std::string device = "invalid";
    try {
      device = r.device.to_hex();
    } catch (const hefl::error&) {
    }
    nlohmann::json fields{{"type", "record_refused"},
                          {"reason", to_string(why)},
                          {"patient", record_detail::loggable(r.patient_id)},
                          {"device", device},
                          {"collector", record_detail::loggable(r.collector_id)},
                          {"hash", record_detail::to_hex(r.hash)},
                          {"attempt", record_detail::to_hex(nonce)}};
    if (v.violation) {
      fields["violation"] = std::string(to_string(v.violation->kind));
      if (!v.violation->field.empty()) fields["field"] = record_detail::loggable(v.violation->field);
    }
    v.ledger_entry =
        m_ledger->submit(transaction(tx_kind::custom, std::move(fields), std::chrono::floor<std::chrono::milliseconds>(now)));
    return v;
  }

  const trust_store* m_trust;
  const registry* m_registry;
  identity_directory* m_keys;
  RulePolicy* m_rules;
  record_store<PatientPolicy, CollectorPolicy>* m_store;
  Ledger* m_ledger;
  storage_guard_options m_options;
  std::unique_ptr<random_source> m_random;
  std::unique_ptr<std::mutex> m_random_mutex;
  std::unique_ptr<replay_guard> m_nonces;
  std::unique_ptr<inflight_table> m_inflight;
};

} // namespace hefl::iot
