#pragma once
/// @file
/// Access control for patient records (seed 003: only the doctors and nurses of a patient may read
/// the patient's data). A reader is identified twice: by the role in a certificate that validates
/// against the hospital trust store, and by the registry, where the same id must be registered with
/// the same role and assigned to the patient. A certificate is public, so the reader must also prove
/// possession of its private key: the controller hands out a fresh single-use challenge, and the
/// reader signs it together with the patient id and its certificate (a challenge-response proof of
/// possession in the manner of ISO/IEC 9798-3). Every attempt, allowed or refused, is a
/// transaction::access on the ledger, written before any record is handed out.

#include <hefl/core/error.hpp>
#include <hefl/crypto/botan_random.hpp>
#include <hefl/iot/ledger/ledger.hpp>
#include <hefl/iot/pki/pki.hpp>
#include <hefl/iot/storage/record.hpp>
#include <hefl/iot/storage/record_store.hpp>
#include <hefl/iot/hospital/registry.hpp>

#include <botan/x509cert.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hefl::iot {

/// Why a read was refused.
enum class access_refusal : std::uint8_t {
  untrusted_certificate,  ///< the chain does not validate (unknown CA, revoked, expired, no identity, ...)
  no_proof_of_possession, ///< the challenge is unknown, expired or used, or its signature is not by the certificate's key
  wrong_role,             ///< a valid certificate, but not a doctor's or a nurse's (patient, device, admin, ...)
  unknown_patient,        ///< no such patient is registered
  not_assigned,           ///< not registered as this role, or not assigned to this patient
};

/// The spelling of @p r in messages and ledger entries, e.g. "not_assigned".
[[nodiscard]] constexpr std::string_view to_string(access_refusal r) noexcept {
  switch (r) {
    case access_refusal::untrusted_certificate: return "untrusted_certificate";
    case access_refusal::no_proof_of_possession: return "no_proof_of_possession";
    case access_refusal::wrong_role: return "wrong_role";
    case access_refusal::unknown_patient: return "unknown_patient";
    case access_refusal::not_assigned: return "not_assigned";
  }
  return "unknown";
}

/// What a reader asks for: the records with from <= timestamp <= to (each bound optional), after a
/// cursor (the previous page's access_result::next), at most limit of them (0 = all; a page).
struct read_query {
  std::optional<record_time> from;     ///< earliest timestamp, inclusive
  std::optional<record_time> to;       ///< latest timestamp, inclusive
  std::optional<record_cursor> after;  ///< start after this (timestamp, id); empty = from the first
  std::size_t limit = 0;               ///< most records in the answer; 0 = no limit
};

/// The outcome of a read: the records, or why the reader was refused.
struct access_result {
  std::optional<access_refusal> refusal;    ///< empty when allowed
  std::string reader;                       ///< as logged: the certificate's subject id, or "cert:<SHA-256 fingerprint>" when untrusted
  std::optional<role> reader_role;          ///< the certificate's role, when the chain validated
  chain_status certificate = chain_status::untrusted;  ///< the chain verdict
  std::string message;                      ///< why, for logs; empty when allowed
  std::vector<record> records;              ///< the patient's verified records when allowed
  sha256_digest ledger_entry{};             ///< id of the access transaction
  /// With a paged read (read_query::limit > 0): where the next page starts, when more records
  /// follow this page; empty on the last page and for unpaged reads.
  std::optional<record_cursor> next;

  /// True when the read was allowed.
  [[nodiscard]] bool ok() const noexcept { return !refusal.has_value(); }
  /// Same as ok().
  explicit operator bool() const noexcept { return ok(); }
};

/// A fresh challenge from access_controller::challenge(): 32 random bytes, valid once until expires.
struct access_challenge {
  std::array<std::uint8_t, 32> nonce{};  ///< the random challenge
  clock_time expires{};                  ///< after this the controller refuses it
};

/// A reader's answer to a challenge: the challenge and the reader's signature over
/// access_proof_message(challenge, patient id, reader certificate).
struct access_proof {
  std::array<std::uint8_t, 32> challenge{};  ///< the challenge answered
  std::vector<std::uint8_t> signature;       ///< by the reader certificate's private key
};

/// Domain tag of access proofs.
inline constexpr std::string_view access_proof_domain = "hefl/access-proof/v1";

/// The bytes a reader signs: the domain tag, a zero byte, the challenge, the patient id (u32 length +
/// bytes) and SHA-256 of the reader certificate's DER encoding. Binding the patient and the
/// certificate stops a proof from being reused for another patient or with another certificate.
[[nodiscard]] inline std::vector<std::uint8_t> access_proof_message(std::span<const std::uint8_t> challenge,
                                                                    std::string_view patient_id,
                                                                    const Botan::X509_Certificate& reader) {
  std::vector<std::uint8_t> m(access_proof_domain.begin(), access_proof_domain.end());
  m.push_back(0);
  m.insert(m.end(), challenge.begin(), challenge.end());
  const auto n = static_cast<std::uint32_t>(patient_id.size());
  for (int i = 0; i < 4; ++i) m.push_back(static_cast<std::uint8_t>(n >> (8 * i)));
  m.insert(m.end(), patient_id.begin(), patient_id.end());
  const auto der = reader.BER_encode();
  const auto h = sha256(der);
  m.insert(m.end(), h.begin(), h.end());
  return m;
}

/// Answers @p challenge for reading @p patient_id with the private key of @p reader_certificate.
/// @tparam ReaderPolicy the policy of the reader's key (ECDSA P-256, as staff certificates carry for TLS)
/// @throws hefl::invalid_argument if @p reader_key does not belong to ReaderPolicy
template <signing_policy ReaderPolicy = ecdsa_p256_signing>
[[nodiscard]] access_proof prove_access(const access_challenge& challenge, std::string_view patient_id,
                                        const Botan::X509_Certificate& reader_certificate,
                                        const Botan::Private_Key& reader_key, Botan::RandomNumberGenerator& rng) {
  access_proof p;
  p.challenge = challenge.nonce;
  p.signature = ReaderPolicy::sign(reader_key, access_proof_message(challenge.nonce, patient_id, reader_certificate), rng);
  return p;
}

/// Decides who may read which patient's records, logs every attempt and returns the records.
/// All referenced objects must outlive the controller. Thread-safe if the ledger is.
/// @tparam Ledger a hefl::iot::ledger_policy (the hospital ledger)
/// @tparam PatientPolicy, CollectorPolicy as in the record store
/// @tparam ReaderPolicy the signing policy of readers' certificate keys (for the proof of possession)
template <ledger_policy Ledger, signing_policy PatientPolicy = ed25519_signing,
          signing_policy CollectorPolicy = ecdsa_p256_signing, signing_policy ReaderPolicy = ecdsa_p256_signing>
class access_controller {
public:
  /// How long a challenge stays valid.
  static constexpr std::chrono::seconds challenge_lifetime{60};
  /// Most challenges outstanding at once; beyond it the oldest is dropped (its reader asks again).
  static constexpr std::size_t max_outstanding_challenges = 65536;

  /// The store type read from.
  using store_type = record_store<PatientPolicy, CollectorPolicy>;

  /// A controller over @p store, trusting @p trust for reader certificates and @p reg for assignments.
  access_controller(const trust_store& trust, const registry& reg,
                    const record_store<PatientPolicy, CollectorPolicy>& store, Ledger& ledger)
      : m_trust(&trust), m_registry(&reg), m_store(&store), m_ledger(&ledger),
        m_random(std::make_unique<crypto::system_random>()), m_random_mutex(std::make_unique<std::mutex>()) {}

  /// A fresh single-use challenge, valid for challenge_lifetime from @p now.
  [[nodiscard]] access_challenge challenge(clock_time now = std::chrono::system_clock::now()) {
    access_challenge c;
    c.expires = now + challenge_lifetime;
    const std::lock_guard lock(*m_random_mutex);
    m_random->fill(c.nonce);
    while (!m_challenges.empty() && (m_challenges.size() >= max_outstanding_challenges ||
                                     m_challenges.begin()->first.first < now)) {
      m_outstanding.erase(m_challenges.begin()->second);
      m_challenges.erase(m_challenges.begin());
    }
    m_outstanding.emplace(c.nonce, c.expires);
    m_challenges.emplace(std::make_pair(c.expires, m_sequence++), c.nonce);
    return c;
  }

  /// Reads @p patient_id's records (optionally only from <= timestamp <= to) for the holder of
  /// @p reader_chain (end-entity first), who answered a challenge with @p proof. Checks, in order: the
  /// chain validates at @p now (usage TLS client, as readers authenticate over mutual TLS), the proof
  /// answers an outstanding unexpired challenge (consumed here, used or not) with a signature by the
  /// certificate's key over access_proof_message(), the role is doctor or nurse, the patient is
  /// registered, the reader is registered with that role and assigned to the patient. The attempt is
  /// logged before the records are read.
  /// @returns the records, or the refusal; never throws for hostile certificates or ids
  /// @throws whatever the ledger's submit() throws (e.g. hefl::security_error when its backlog is
  ///         full: an attempt that cannot be logged is not served); hefl::iot::record_integrity_error
  ///         if a stored row of the patient fails verification; hefl::io_error if the store cannot be read
  [[nodiscard]] access_result read(const std::vector<Botan::X509_Certificate>& reader_chain, const access_proof& proof,
                                   std::string_view patient_id, std::optional<record_time> from = {},
                                   std::optional<record_time> to = {},
                                   clock_time now = std::chrono::system_clock::now()) {
    return read(reader_chain, proof, patient_id, read_query{from, to, {}, 0}, now);
  }

  /// As read() above for the records @p query selects (a page when query.limit > 0; see
  /// access_result::next). Each page is a logged access.
  /// @throws as read() above
  [[nodiscard]] access_result read(const std::vector<Botan::X509_Certificate>& reader_chain, const access_proof& proof,
                                   std::string_view patient_id, const read_query& query,
                                   clock_time now = std::chrono::system_clock::now()) {
    access_result out;
    const auto verdict = validate_reader(reader_chain, out, patient_id, now);
    if (!verdict) return out;
    const bool fresh = take_challenge(proof.challenge, now);
    bool possessed = false;
    if (fresh) {
      try {
        const std::unique_ptr<Botan::Public_Key> key(reader_chain.front().load_subject_public_key());
        possessed = key && ReaderPolicy::accepts_key(*key) &&
                    ReaderPolicy::verify(*key, access_proof_message(proof.challenge, patient_id, reader_chain.front()),
                                         proof.signature);
      } catch (const std::exception&) {
        possessed = false;
      }
    }
    if (!possessed) {
      out.reader = fingerprint_of(reader_chain);  // not proven: log the certificate, not the name it claims
      return refuse(out, access_refusal::no_proof_of_possession,
                    fresh ? "the proof is not signed by the certificate's key over this challenge and patient"
                          : "the challenge is unknown, expired or already used",
                    patient_id, now);
    }
    return authorize_and_read(out, *verdict.holder, patient_id, query, now);
  }

  /// Reads @p patient_id's records for the holder of @p reader_chain whose possession of the
  /// certificate's key the caller already established: the verified peer of a mutual-TLS session
  /// (the client's CertificateVerify signs the handshake transcript with that key, RFC 5246 §7.4.8),
  /// so no challenge is needed. Same checks and logging as read() otherwise.
  /// @throws as read()
  [[nodiscard]] access_result read_authenticated(const std::vector<Botan::X509_Certificate>& reader_chain,
                                                 std::string_view patient_id, std::optional<record_time> from = {},
                                                 std::optional<record_time> to = {},
                                                 clock_time now = std::chrono::system_clock::now()) {
    return read_authenticated(reader_chain, patient_id, read_query{from, to, {}, 0}, now);
  }

  /// As read_authenticated() above for the records @p query selects (a page when query.limit > 0;
  /// see access_result::next). Each page is a logged access.
  /// @throws as read()
  [[nodiscard]] access_result read_authenticated(const std::vector<Botan::X509_Certificate>& reader_chain,
                                                 std::string_view patient_id, const read_query& query,
                                                 clock_time now = std::chrono::system_clock::now()) {
    access_result out;
    const auto verdict = validate_reader(reader_chain, out, patient_id, now);
    if (!verdict) return out;
    return authorize_and_read(out, *verdict.holder, patient_id, query, now);
  }

private:
  // The reader's chain for TLS-client use at @p now; on failure @p out is the logged refusal.
  chain_verdict validate_reader(const std::vector<Botan::X509_Certificate>& reader_chain, access_result& out,
                                std::string_view patient_id, clock_time now) {
    auto verdict = validate_chain(reader_chain, *m_trust, cert_usage::tls_client, now);
    out.certificate = verdict.status;
    if (!verdict) {
      out.reader = fingerprint_of(reader_chain);
      refuse(out, access_refusal::untrusted_certificate, verdict.reason, patient_id, now);
    }
    return verdict;
  }

  access_result& authorize_and_read(access_result& out, const identity& holder, std::string_view patient_id,
                                    const read_query& query, clock_time now) {
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
    if (query.limit == 0) {
      out.records = m_store->records_of(patient_id, query.from, query.to, query.after, 0);
      return out;
    }
    // One more than asked says whether another page follows (the clamp keeps limit + 1 finite).
    const auto limit = std::min<std::size_t>(query.limit, std::numeric_limits<std::size_t>::max() - 1);
    out.records = m_store->records_of(patient_id, query.from, query.to, query.after, limit + 1);
    if (out.records.size() > limit) {
      out.records.resize(limit);
      out.next = record_cursor::of(out.records.back());
    }
    return out;
  }

  // Consumes the challenge; true if it was outstanding and unexpired.
  bool take_challenge(const std::array<std::uint8_t, 32>& nonce, clock_time now) {
    const std::lock_guard lock(*m_random_mutex);
    const auto it = m_outstanding.find(nonce);
    if (it == m_outstanding.end()) return false;
    const auto expires = it->second;
    m_outstanding.erase(it);
    for (auto c = m_challenges.lower_bound({expires, 0}); c != m_challenges.end() && c->first.first == expires; ++c) {
      if (c->second == nonce) {
        m_challenges.erase(c);
        break;
      }
    }
    return now <= expires;
  }

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
  std::unique_ptr<std::mutex> m_random_mutex;  // also guards the challenges
  std::map<std::array<std::uint8_t, 32>, clock_time> m_outstanding;
  std::map<std::pair<clock_time, std::uint64_t>, std::array<std::uint8_t, 32>> m_challenges;  // by expiry
  std::uint64_t m_sequence = 0;
};

} // namespace hefl::iot
