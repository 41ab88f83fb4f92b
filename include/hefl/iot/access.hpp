#pragma once
/// @file
/// Access control for patient records (seed 003: only the doctors and nurses of a patient may read
/// the patient's data). A reader is identified twice: by the role in a certificate that validates
/// against the hospital trust store, and by the registry, where the same id must be registered with
/// the same role and assigned to the patient. Every attempt, allowed or refused, is a
/// transaction::access on the ledger, written before any record is handed out.

#include <hefl/core/error.hpp>
#include <hefl/crypto/botan_random.hpp>
#include <hefl/iot/ledger.hpp>
#include <hefl/iot/pki.hpp>
#include <hefl/iot/record.hpp>
#include <hefl/iot/record_store.hpp>
#include <hefl/iot/registry.hpp>

#include <botan/x509cert.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hefl::iot {

/// Why a read was refused.
enum class access_refusal : std::uint8_t {
  untrusted_certificate,  ///< the chain does not validate (unknown CA, revoked, expired, no identity, ...)
  wrong_role,             ///< a valid certificate, but not a doctor's or a nurse's (patient, device, admin, ...)
  unknown_patient,        ///< no such patient is registered
  not_assigned,           ///< not registered as this role, or not assigned to this patient
};

/// The spelling of @p r in messages and ledger entries, e.g. "not_assigned".
[[nodiscard]] constexpr std::string_view to_string(access_refusal r) noexcept {
  switch (r) {
    case access_refusal::untrusted_certificate: return "untrusted_certificate";
    case access_refusal::wrong_role: return "wrong_role";
    case access_refusal::unknown_patient: return "unknown_patient";
    case access_refusal::not_assigned: return "not_assigned";
  }
  return "unknown";
}

/// The outcome of a read: the records, or why the reader was refused.
struct access_result {
  std::optional<access_refusal> refusal;    ///< empty when allowed
  std::string reader;                       ///< as logged: the certificate's subject id, or "cert:<SHA-256 fingerprint>" when untrusted
  std::optional<role> reader_role;          ///< the certificate's role, when the chain validated
  chain_status certificate = chain_status::untrusted;  ///< the chain verdict
  std::string message;                      ///< why, for logs; empty when allowed
  std::vector<record> records;              ///< the patient's verified records when allowed
  sha256_digest ledger_entry{};             ///< id of the access transaction

  /// True when the read was allowed.
  [[nodiscard]] bool ok() const noexcept { return !refusal.has_value(); }
  /// Same as ok().
  explicit operator bool() const noexcept { return ok(); }
};

/// Decides who may read which patient's records, logs every attempt and returns the records.
/// All referenced objects must outlive the controller. Thread-safe if the ledger is.
/// @tparam Ledger a hefl::iot::ledger_policy (the hospital ledger)
/// @tparam PatientPolicy, CollectorPolicy as in the record store
template <ledger_policy Ledger, signing_policy PatientPolicy = ed25519_signing,
          signing_policy CollectorPolicy = ecdsa_p256_signing>
class access_controller {
public:
  /// The store type read from.
  using store_type = record_store<PatientPolicy, CollectorPolicy>;

  /// A controller over @p store, trusting @p trust for reader certificates and @p reg for assignments.
  access_controller(const trust_store& trust, const registry& reg,
                    const record_store<PatientPolicy, CollectorPolicy>& store, Ledger& ledger)
      : m_trust(&trust), m_registry(&reg), m_store(&store), m_ledger(&ledger),
        m_random(std::make_unique<crypto::system_random>()), m_random_mutex(std::make_unique<std::mutex>()) {}

  /// Reads @p patient_id's records (optionally only from <= timestamp <= to) for the holder of
  /// @p reader_chain (end-entity first). Checks, in order: the chain validates at @p now (usage TLS
  /// client, as readers authenticate over mutual TLS), its role is doctor or nurse, the patient is
  /// registered, the reader is registered with that role and assigned to the patient. The attempt is
  /// logged before the records are read.
  /// @returns the records, or the refusal; never throws for hostile certificates or ids
  /// @throws whatever the ledger's submit() throws (e.g. hefl::security_error when its backlog is
  ///         full: an attempt that cannot be logged is not served); hefl::iot::record_integrity_error
  ///         if a stored row of the patient fails verification; hefl::io_error if the store cannot be read
  [[nodiscard]] access_result read(const std::vector<Botan::X509_Certificate>& reader_chain, std::string_view patient_id,
                                   std::optional<record_time> from = {}, std::optional<record_time> to = {},
                                   clock_time now = std::chrono::system_clock::now()) {
    access_result out;
    const auto verdict = validate_chain(reader_chain, *m_trust, cert_usage::tls_client, now);
    out.certificate = verdict.status;
    if (!verdict) {
      out.reader = fingerprint_of(reader_chain);
      return refuse(out, access_refusal::untrusted_certificate, verdict.reason, patient_id, now);
    }
    const identity& holder = *verdict.holder;
    out.reader = holder.subject_id;
    out.reader_role = holder.role;
    if (holder.role != role::doctor && holder.role != role::nurse)
      return refuse(out, access_refusal::wrong_role,
                    "\"" + holder.subject_id + "\" has role " + std::string(to_string(holder.role)) +
                        "; only doctors and nurses read records",
                    patient_id, now);
    if (!m_registry->patient(patient_id))
      return refuse(out, access_refusal::unknown_patient,
                    "no patient \"" + record_detail::loggable(patient_id) + "\" is registered", patient_id, now);
    if (!m_registry->may_read(holder, patient_id)) {
      const auto registered = m_registry->staff_role(holder.subject_id);
      std::string why = !registered ? "is not registered as staff"
                        : *registered != holder.role
                            ? "is registered as a " + std::string(to_string(*registered)) + ", not a " +
                                  std::string(to_string(holder.role))
                            : "is not assigned to patient \"" + std::string(patient_id) + "\"";
      return refuse(out, access_refusal::not_assigned, "\"" + holder.subject_id + "\" " + why, patient_id, now);
    }
    out.ledger_entry = log(out.reader, patient_id, true, "ok", now);
    out.records = m_store->records_of(patient_id, from, to);
    return out;
  }

private:
  access_result& refuse(access_result& out, access_refusal why, std::string message, std::string_view patient_id,
                        clock_time now) {
    out.refusal = why;
    out.message = std::string(to_string(why)) + ": " + message;
    out.ledger_entry = log(out.reader, patient_id, false, to_string(why), now);
    return out;
  }

  // transaction::access plus the reason and a random attempt id: two identical attempts in the same
  // millisecond are two ledger entries, not one deduplicated transaction.
  sha256_digest log(const std::string& reader, std::string_view patient_id, bool allowed, std::string_view reason,
                    clock_time now) {
    std::array<std::uint8_t, 16> nonce{};
    {
      const std::lock_guard lock(*m_random_mutex);
      m_random->fill(nonce);
    }
    return m_ledger->submit(transaction(tx_kind::access,
                                        {{"reader", reader},
                                         {"patient", record_detail::loggable(patient_id)},
                                         {"allowed", allowed},
                                         {"reason", reason},
                                         {"attempt", record_detail::to_hex(nonce)}},
                                        std::chrono::floor<std::chrono::milliseconds>(now)));
  }

  // An untrusted certificate's names are the claimant's words: log only what identifies the bytes.
  static std::string fingerprint_of(const std::vector<Botan::X509_Certificate>& chain) {
    if (chain.empty()) return "cert:none";
    try {
      const auto fp = chain.front().fingerprint("SHA-256");  // "AB:CD:..."
      std::string out = "cert:";
      for (const char c : fp)
        if (c != ':') out += static_cast<char>(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
      return out;
    } catch (...) {
      return "cert:unreadable";
    }
  }

  const trust_store* m_trust;
  const registry* m_registry;
  const store_type* m_store;
  Ledger* m_ledger;
  std::unique_ptr<random_source> m_random;
  std::unique_ptr<std::mutex> m_random_mutex;
};

} // namespace hefl::iot
