#pragma once
/// @file
/// The collector's gatekeeper (seed 003, "Collector" and "Rule Verification"): every device request
/// is checked against the hospital PKI, the device's identity, its signature, the replay guard and
/// its group's rule contract, and every verdict, accepted or rejected, is logged on the ledger.
///
/// Authentication comes first: nothing about the registry, the replay memory or the rules is looked
/// at until the request is proven to come from the device it names. Order of checks; the first
/// failure decides the verdict:
///   0. peer limit   a peer (the end-entity certificate's fingerprint, "anonymous" without one) whose
///                   unauthenticated refusals exceed options.peer_refusals_per_minute -> rate_limited,
///                   before any parsing or path validation
///   1. size         raw bytes (or the object's encoded size) above request_limits::max_bytes -> oversized
///   2. parse        request::decode / request::problem()                  -> malformed
///   3. certificate  CertificatePolicy on the peer chain (end-entity first) -> untrusted_certificate,
///                   revoked, expired, not_yet_valid, wrong_usage, revocation_unavailable,
///                   missing_identity, malformed_identity
///   4. identity     holder role must be device -> wrong_role; the certificate's EPC must equal the
///                   request's device id -> identity_mismatch
///   5. signature    SigningPolicy over request::signing_bytes() with the end-entity certificate's key
///                   (a key the policy does not accept is a bad_signature too)  -> bad_signature
///   --- authenticated from here on ---
///   6. address      the signed collector id must be this collector's -> misaddressed
///   7. registry     optional hook (options.devices): unknown_device, patient_mismatch, wrong_collector
///   8. replay       ReplayPolicy (only after the signature, so a forger cannot burn a device's nonces
///                   or fill the guard's memory) -> replay, stale, future, overloaded, malformed
///   9. rule         RulePolicy for the certificate's group id (after replay, so a replayed message
///                   does not use up the device's rate) -> rule_violation with the violation
/// Before authentication a forger learns nothing about the registry (which patient a device serves):
/// every registry verdict needs the device's key. collector_verdict::peer_code() is the one generic
/// reply for every unauthenticated refusal.
///
/// Unauthenticated refusals (steps 0-5) are not written to the replicated ledger one by one: junk
/// would fill it and crowd out honest entries. They are counted per reason, and a summary entry
/// (custom, type "unauthenticated_refusals": counts per reason, total, the first refusal's reason and
/// payload hash as a sample, collector, since) is submitted by the first refusal that comes at least
/// options.refusal_summary_interval after the previous summary (or after the first refusal not yet
/// summarised), or by flush_refusal_summary().
///
/// Ledger entry (transaction::rule_check plus extra fields) for every authenticated verdict:
///   device         the certificate's EPC (24 hex digits), whose key signed the request
///   device_source  "certificate"
///   group          std::to_string of the certificate's group id
///   verdict        to_string(verdict_reason), e.g. "accepted", "replay", "rule_violation"
///   payload_hash   SHA-256 of payload::canonical_bytes() when the request parsed; SHA-256 of the bytes
///                  received when they did not parse; SHA-256 of nothing for an unencodable object
///   collector      options.collector_id;  seq  a per-validator counter, so that identical events in
///                  the same millisecond stay separate entries (the ledger deduplicates equal transactions)
///   rule, field    for rule_violation: the violation kind and the field (only if it is an identifier)
///   time           the validation time, in milliseconds
/// Patient ids and measured values never go on the ledger (it is replicated to every sealer).
/// If the ledger refuses the entry, an accepted request becomes ledger_unavailable (fail closed: what
/// cannot be logged is not acted on) and a rejection keeps its reason with ledger_tx empty.

#include <hefl/core/error.hpp>
#include <hefl/iot/pki/identity.hpp>
#include <hefl/iot/ledger/ledger.hpp>
#include <hefl/iot/pki/pki.hpp>
#include <hefl/iot/hospital/registry.hpp>
#include <hefl/iot/collection/replay_guard.hpp>
#include <hefl/iot/collection/request.hpp>
#include <hefl/iot/collection/rules.hpp>
#include <hefl/iot/pki/signing.hpp>

#include <botan/x509cert.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hefl::iot {

/// A peer certificate chain as the TLS layer hands it over: end-entity first, then intermediates.
using certificate_chain = std::vector<Botan::X509_Certificate>;

/// A certificate policy for the collector validator: validates a peer chain at a time and returns a
/// chain_verdict whose holder is the end-entity certificate's identity when ok. Requirements:
/// `validate(chain, now)` -> chain_verdict on an lvalue; the validator uses chain.front()'s public key
/// to verify request signatures, so the policy must validate chain.front() as the end-entity.
template <class C>
concept certificate_policy = requires(C& c, const certificate_chain& chain, clock_time now) {
  { c.validate(chain, now) } -> std::same_as<chain_verdict>;
};

/// The default certificate policy: path validation against a hospital trust_store (with its CRLs)
/// for TLS client authentication, through validate_chain(). Holds a reference: the store must outlive
/// the policy, and CRLs added to it later apply at once.
class trust_store_certificates {
public:
  /// Validates against @p store (implicit, so a validator can be built from a trust_store directly).
  trust_store_certificates(const trust_store& store) noexcept : m_store(&store) {}  // NOLINT(google-explicit-constructor)

  /// validate_chain(chain, store, cert_usage::tls_client, now) with every role; the validator checks the role.
  [[nodiscard]] chain_verdict validate(const certificate_chain& chain, clock_time now) const noexcept {
    return validate_chain(chain, *m_store, cert_usage::tls_client, now, role_set::any());
  }

private:
  const trust_store* m_store;
};

static_assert(certificate_policy<trust_store_certificates>);

/// The outcome of a validation: accepted, or why not.
enum class verdict_reason : std::uint8_t {
  accepted,                ///< every check passed; the request may be stored
  oversized,               ///< the request is larger than request_limits::max_bytes
  malformed,               ///< the bytes or fields do not form a valid request
  untrusted_certificate,   ///< no path to a trusted root (unknown issuer, rogue CA with the same name, no chain)
  revoked,                 ///< the certificate is on its CA's CRL
  expired,                 ///< the certificate's notAfter has passed
  not_yet_valid,           ///< the certificate's notBefore has not come
  wrong_usage,             ///< key usage / extended key usage does not allow TLS client authentication
  revocation_unavailable,  ///< the trust store requires a CRL and has no current one
  missing_identity,        ///< a trusted certificate without the hospital identity extension
  malformed_identity,      ///< a trusted certificate whose identity extension does not decode
  invalid_key,             ///< a trusted certificate whose public key fails validation (degenerate group, small-order point)
  chain_too_long,          ///< more certificates presented than the trust store's cap; refused before path building
  wrong_role,              ///< the certificate is valid but not a device's
  identity_mismatch,       ///< the request's device id is not the certificate's EPC
  unknown_device,          ///< registry hook: the device is not registered
  patient_mismatch,        ///< registry hook: the device is not assigned to the request's patient
  wrong_collector,         ///< registry hook: the device reports to another collector
  misaddressed,            ///< the device signed the request for another collector
  rate_limited,            ///< the peer sent too many unauthenticated requests; refused unread
  bad_signature,           ///< unsigned, not verifiable, or a certificate key the signing policy does not take
  replay,                  ///< the device already used this nonce inside the replay window
  stale,                   ///< the timestamp is older than the replay window
  future,                  ///< the timestamp is further ahead than the allowed clock skew
  overloaded,              ///< the replay memory is full; refused rather than forgetting a nonce
  rule_violation,          ///< the payload breaks the group's rule contract (see collector_verdict::violation)
  ledger_unavailable,      ///< the request passed every check but the ledger refused its entry
  policy_error,            ///< a policy threw instead of answering; refused (fail closed)
};

/// The spelling of @p r used in messages and ledger entries, e.g. "untrusted_certificate".
[[nodiscard]] constexpr std::string_view to_string(verdict_reason r) noexcept {
  switch (r) {
    case verdict_reason::accepted: return "accepted";
    case verdict_reason::oversized: return "oversized";
    case verdict_reason::malformed: return "malformed";
    case verdict_reason::untrusted_certificate: return "untrusted_certificate";
    case verdict_reason::revoked: return "revoked";
    case verdict_reason::expired: return "expired";
    case verdict_reason::not_yet_valid: return "not_yet_valid";
    case verdict_reason::wrong_usage: return "wrong_usage";
    case verdict_reason::revocation_unavailable: return "revocation_unavailable";
    case verdict_reason::missing_identity: return "missing_identity";
    case verdict_reason::malformed_identity: return "malformed_identity";
    case verdict_reason::invalid_key: return "invalid_key";
    case verdict_reason::chain_too_long: return "chain_too_long";
    case verdict_reason::wrong_role: return "wrong_role";
    case verdict_reason::identity_mismatch: return "identity_mismatch";
    case verdict_reason::unknown_device: return "unknown_device";
    case verdict_reason::patient_mismatch: return "patient_mismatch";
    case verdict_reason::wrong_collector: return "wrong_collector";
    case verdict_reason::misaddressed: return "misaddressed";
    case verdict_reason::rate_limited: return "rate_limited";
    case verdict_reason::bad_signature: return "bad_signature";
    case verdict_reason::replay: return "replay";
    case verdict_reason::stale: return "stale";
    case verdict_reason::future: return "future";
    case verdict_reason::overloaded: return "overloaded";
    case verdict_reason::rule_violation: return "rule_violation";
    case verdict_reason::ledger_unavailable: return "ledger_unavailable";
    case verdict_reason::policy_error: return "policy_error";
  }
  return "?";
}

/// The verdict reason for a refused certificate chain: each chain status has its own reason, so an
/// operator can tell a forged chain (untrusted) from a degenerate key (invalid_key) or a path-building
/// attack (chain_too_long). chain_status::ok maps to accepted; an unknown value to untrusted_certificate.
/// @throws nothing
[[nodiscard]] constexpr verdict_reason verdict_reason_of(chain_status s) noexcept {
  switch (s) {
    case chain_status::ok: return verdict_reason::accepted;
    case chain_status::untrusted: return verdict_reason::untrusted_certificate;
    case chain_status::revoked: return verdict_reason::revoked;
    case chain_status::expired: return verdict_reason::expired;
    case chain_status::not_yet_valid: return verdict_reason::not_yet_valid;
    case chain_status::wrong_usage: return verdict_reason::wrong_usage;
    case chain_status::wrong_role: return verdict_reason::wrong_role;
    case chain_status::revocation_unavailable: return verdict_reason::revocation_unavailable;
    case chain_status::missing_identity: return verdict_reason::missing_identity;
    case chain_status::malformed_identity: return verdict_reason::malformed_identity;
    case chain_status::invalid_key: return verdict_reason::invalid_key;
    case chain_status::chain_too_long: return verdict_reason::chain_too_long;
  }
  return verdict_reason::untrusted_certificate;
}

/// The collector's verdict on one request (Botan Path_Validation_Result style: untrusted input gives a
/// verdict, never an exception).
struct collector_verdict {
  verdict_reason reason = verdict_reason::malformed;  ///< accepted, or why not
  std::string message;                     ///< for logs: what was expected and what was found; empty when accepted
  std::optional<iot::rule_violation> violation;  ///< the broken rule, when reason == rule_violation
  std::optional<identity> holder;          ///< the certificate holder, once the chain validated
  std::optional<iot::request> parsed;      ///< the request, once it parsed (e.g. to store it when accepted)
  std::optional<sha256_digest> ledger_tx;  ///< id of the rule_check transaction; empty if the ledger refused
                                           ///< it or the request was not authenticated (counted, not logged)
  bool authenticated = false;              ///< the request's signature verified under the device certificate's key

  /// The reply every unauthenticated refusal gets, whatever its reason.
  static constexpr std::string_view unauthenticated_code = "unauthenticated";

  /// True when the request was accepted (and logged).
  [[nodiscard]] bool accepted() const noexcept { return reason == verdict_reason::accepted; }
  /// What to tell the peer: code() once the request is authenticated, else the one generic
  /// unauthenticated_code (the precise reason stays in reason and message, for the operator).
  [[nodiscard]] std::string_view peer_code() const noexcept {
    return authenticated ? to_string(reason) : unauthenticated_code;
  }
  /// Same as accepted().
  explicit operator bool() const noexcept { return accepted(); }
  /// to_string(reason): the verdict recorded on the ledger.
  [[nodiscard]] std::string_view code() const noexcept { return to_string(reason); }
};

/// Tunables of a collector_validator.
struct collector_validator_options {
  /// This collector's id: logged in every entry, and compared with the registry's assignment. Give each
  /// validator sharing a ledger its own id: (collector, seq, time) is what keeps their entries distinct.
  std::string collector_id = "collector";
  /// Size limit of requests.
  request_limits limits{};
  /// Optional registry hook: when set, the device must be registered, assigned to the request's
  /// patient and (if require_assigned_collector) to this collector. It must outlive the validator.
  /// A hook rather than a policy parameter: there is one registry type, and a collector without one
  /// (e.g. a test rig) simply leaves it null.
  const registry* devices = nullptr;
  /// With a registry: refuse devices assigned to another collector (a redirected device, a sinkhole).
  bool require_assigned_collector = true;
  /// Unauthenticated refusals a peer may cause per minute (GCRA, bursts of as many) before its
  /// requests are refused unread as rate_limited.
  std::uint32_t peer_refusals_per_minute = 120;
  /// Peers whose refusals are tracked at once; when full, new peers are not limited (fail open for
  /// the limit only: their refusals are still counted and never logged one by one).
  std::size_t max_tracked_peers = 65536;
  /// Least time between two summary entries of unauthenticated refusals.
  std::chrono::milliseconds refusal_summary_interval{std::chrono::seconds(10)};
  /// The clock of the per-peer limit and of the summaries (never a caller's now, which a stray
  /// value could push a year ahead); empty = wall time at construction advanced by steady_clock.
  std::function<clock_time()> clock;
};

/// Validates device requests at a collector and logs every verdict on the ledger.
///
/// @tparam CertificatePolicy a hefl::iot::certificate_policy (path validation + identity)
/// @tparam SigningPolicy a hefl::iot::signing_policy for device keys; the hospital CA certifies ECDSA
///         P-256 keys for devices, so ecdsa_p256_signing is the default
/// @tparam RulePolicy a hefl::iot::rule_policy (rule_manager<> by default)
/// @tparam ReplayPolicy a hefl::iot::replay_policy (replay_guard by default)
/// @tparam LedgerPolicy a hefl::iot::ledger_policy (ledger by default; local_ledger binds to it)
///
/// The certificate policy is held by value (trust_store_certificates is a reference to a store); the
/// rule, replay and ledger policies are shared objects held by reference and must outlive the
/// validator. validate() may run concurrently from several threads when the policies allow it
/// (all default policies do); the validator's own state is an atomic counter.
template <class CertificatePolicy = trust_store_certificates, class SigningPolicy = ecdsa_p256_signing,
          class RulePolicy = rule_manager<>, class ReplayPolicy = replay_guard, class LedgerPolicy = ledger>
class collector_validator {
  static_assert(certificate_policy<CertificatePolicy>,
                "CertificatePolicy must provide validate(const certificate_chain&, clock_time) -> chain_verdict "
                "(see hefl::iot::certificate_policy in hefl/iot/collection/collector_validator.hpp)");
  static_assert(signing_policy<SigningPolicy>,
                "SigningPolicy must provide static generate/sign/verify/accepts_key and algorithm_name "
                "(see hefl::iot::signing_policy in hefl/iot/pki/signing.hpp)");
  static_assert(rule_policy<RulePolicy>,
                "RulePolicy must provide check(group_id, device_id, payload, now) -> rule_verdict "
                "(see hefl::iot::rule_policy in hefl/iot/collection/rules.hpp)");
  static_assert(replay_policy<ReplayPolicy>,
                "ReplayPolicy must provide check(device_id, nonce, timestamp, now) -> replay_verdict "
                "(see hefl::iot::replay_policy in hefl/iot/collection/replay_guard.hpp)");
  static_assert(ledger_policy<LedgerPolicy>,
                "LedgerPolicy must provide submit(transaction) -> sha256_digest; logging every rule check is "
                "mandatory, there is no null ledger (see hefl::iot::ledger_policy in hefl/iot/ledger/ledger.hpp)");

public:
  using certificate_policy_type = CertificatePolicy;  ///< the certificate policy
  using signing_policy_type = SigningPolicy;          ///< the signing policy of device keys
  using rule_policy_type = RulePolicy;                ///< the rule policy
  using replay_policy_type = ReplayPolicy;            ///< the replay policy
  using ledger_policy_type = LedgerPolicy;            ///< the ledger policy

  /// A validator over the given policies.
  /// @throws hefl::invalid_argument if options.collector_id is empty, longer than 128 bytes or holds
  ///         control characters, or options.limits.max_bytes is 0
  collector_validator(CertificatePolicy certificates, RulePolicy& rules, ReplayPolicy& replay, LedgerPolicy& ledger,
                      collector_validator_options options = {})
      : m_certificates(std::move(certificates)), m_rules(&rules), m_replay(&replay), m_ledger(&ledger),
        m_options(std::move(options)) {
    const auto& id = m_options.collector_id;
    if (id.empty() || id.size() > 128)
      throw invalid_argument("collector_validator: collector id must be 1..128 bytes, got " + std::to_string(id.size()));
    for (const char c : id) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F || static_cast<unsigned char>(c) >= 0x80)
        throw invalid_argument("collector_validator: collector id must be printable ASCII");
    }
    if (m_options.limits.max_bytes == 0)
      throw invalid_argument("collector_validator: limits.max_bytes must be at least 1, got 0");
    if (m_options.peer_refusals_per_minute == 0 || m_options.max_tracked_peers == 0)
      throw invalid_argument("collector_validator: peer_refusals_per_minute and max_tracked_peers must be at least 1");
    if (m_options.refusal_summary_interval.count() < 0)
      throw invalid_argument("collector_validator: refusal_summary_interval must not be negative");
    m_refusals = std::make_unique<refusal_state>(m_options.max_tracked_peers);
    if (!m_options.clock) {
      const auto wall = std::chrono::system_clock::now();
      const auto mono = std::chrono::steady_clock::now();
      m_options.clock = [wall, mono] {
        return wall + std::chrono::duration_cast<clock_time::duration>(std::chrono::steady_clock::now() - mono);
      };
    }
  }

  collector_validator(const collector_validator&) = delete;
  collector_validator& operator=(const collector_validator&) = delete;

  /// Validates a request received as bytes from the peer that presented @p chain, at @p now.
  /// Never throws for any input (only std::bad_alloc propagates).
  [[nodiscard]] collector_verdict validate(const certificate_chain& chain, std::span<const std::uint8_t> bytes,
                                           clock_time now = std::chrono::system_clock::now()) {
    attempt a;
    a.chain = &chain;
    if (auto limited = peer_limited(chain, a, now)) return std::move(*limited);
    if (bytes.size() > m_options.limits.max_bytes) {
      a.payload_hash = sha256(bytes);
      return finish(a, verdict_reason::oversized,
                    "request of " + std::to_string(bytes.size()) + " bytes exceeds the limit of " +
                        std::to_string(m_options.limits.max_bytes),
                    now);
    }
    try {
      a.req = request::decode(bytes, m_options.limits);
    } catch (const request_error& e) {
      a.payload_hash = sha256(bytes);
      return finish(a,
                    e.problem() == request_problem::oversized ? verdict_reason::oversized : verdict_reason::malformed,
                    e.what(), now);
    } catch (const std::exception& e) {  // decode throws request_error only; stay total anyway
      a.payload_hash = sha256(bytes);
      return finish(a, verdict_reason::malformed, e.what(), now);
    }
    a.payload_hash = sha256(a.req->data.canonical_bytes());
    return check(chain, std::move(a), now);
  }

  /// Validates a request object (e.g. decoded by a transport) from the peer that presented @p chain.
  /// Its encoded size counts against the limit as if it had arrived as bytes.
  /// Never throws for any input (only std::bad_alloc propagates).
  [[nodiscard]] collector_verdict validate(const certificate_chain& chain, const request& r,
                                           clock_time now = std::chrono::system_clock::now()) {
    attempt a;
    a.chain = &chain;
    if (auto limited = peer_limited(chain, a, now)) return std::move(*limited);
    a.req = r;
    if (const auto problem = r.problem()) {
      a.payload_hash = r.data.canonical_size() ? sha256(r.data.canonical_bytes()) : sha256({});
      return finish(a, verdict_reason::malformed, "request: " + *problem, now);
    }
    a.payload_hash = sha256(r.data.canonical_bytes());
    const auto size = *r.encoded_size();
    if (size > m_options.limits.max_bytes)
      return finish(a, verdict_reason::oversized,
                    "request of " + std::to_string(size) + " bytes exceeds the limit of " +
                        std::to_string(m_options.limits.max_bytes),
                    now);
    return check(chain, std::move(a), now);
  }

  /// The options in force.
  [[nodiscard]] const collector_validator_options& options() const noexcept { return m_options; }

  /// Number of authenticated verdicts given so far (each one was submitted to the ledger).
  [[nodiscard]] std::uint64_t verdict_count() const noexcept { return m_seq.load(std::memory_order_relaxed); }

  /// Unauthenticated refusals since construction, per reason (to_string spelling).
  [[nodiscard]] std::map<std::string, std::uint64_t, std::less<>> refusal_counts() const {
    const std::lock_guard lock(m_refusals->mutex);
    return m_refusals->total;
  }

  /// Submits the summary entry of the unauthenticated refusals not yet summarised, if any.
  /// @return its transaction id, or nullopt if there was nothing to summarise
  /// @throws whatever the ledger's submit() throws (the counts are kept for the next summary)
  std::optional<sha256_digest> flush_refusal_summary() {
    const std::lock_guard lock(m_refusals->mutex);
    return submit_summary(m_options.clock());
  }

  /// The ledger key of a device: its EPC as 24 upper-case hex digits (sgtin96::to_hex), also the
  /// device id given to the rule and replay policies.
  /// @throws hefl::invalid_argument if the EPC is invalid
  [[nodiscard]] static std::string device_key(const sgtin96& epc) { return epc.to_hex(); }

private:
  // What is known about a request so far.
  struct attempt {
    std::optional<request> req;
    std::optional<identity> holder;
    sha256_digest payload_hash{};
    std::optional<rule_violation> violation;
    const certificate_chain* chain = nullptr;  // the peer's chain, for the peer id
    std::string peer;                          // the peer id, once computed
    bool limited = false;                      // refused by the peer limit (not charged again)
  };

  collector_verdict check(const certificate_chain& chain, attempt a, clock_time now) {
    const request& r = *a.req;

    chain_verdict cv;
    try {
      cv = m_certificates.validate(chain, now);
    } catch (const std::exception& e) {
      return finish(a, verdict_reason::policy_error, std::string("certificate policy threw: ") + e.what(), now);
    }
    if (!cv.ok()) return finish(a, reason_of(cv.status), cv.reason, now);
    if (!cv.holder || chain.empty())
      return finish(a, verdict_reason::policy_error, "certificate policy accepted a chain without a holder", now);
    const identity holder = *cv.holder;

    if (holder.role != role::device)
      return finish(a, verdict_reason::wrong_role,
                    "certificate of \"" + holder.subject_id + "\" is a " + std::string(to_string(holder.role)) +
                        "'s, expected a device's",
                    now);
    if (!holder.device_epc || *holder.device_epc != r.device)
      return finish(a, verdict_reason::identity_mismatch,
                    "request claims device " + describe(r.device) + ", the certificate of \"" + holder.subject_id +
                        "\" is for " + (holder.device_epc ? describe(*holder.device_epc) : std::string("no EPC")),
                    now);
    if (auto problem = signature_problem(chain.front(), r))
      return finish(a, verdict_reason::bad_signature, std::move(*problem), now);

    // Authenticated: the device named in the request signed it.
    a.holder = holder;
    const std::string device = device_key(r.device);

    if (r.collector_id != m_options.collector_id)
      return finish(a, verdict_reason::misaddressed,
                    "device " + describe(r.device) + " addressed the request to collector \"" + r.collector_id +
                        "\", not \"" + m_options.collector_id + "\"",
                    now);

    if (m_options.devices) {
      const auto registered = m_options.devices->device(r.device);
      if (!registered)
        return finish(a, verdict_reason::unknown_device,
                      "device " + describe(r.device) + " is not registered", now);
      if (registered->patient_id != r.patient_id)
        return finish(a, verdict_reason::patient_mismatch,
                      "device " + describe(r.device) + " is not assigned to the request's patient", now);
      if (m_options.require_assigned_collector && registered->collector_id != m_options.collector_id)
        return finish(a, verdict_reason::wrong_collector,
                      "device " + describe(r.device) + " reports to collector \"" + registered->collector_id +
                          "\", not \"" + m_options.collector_id + "\"",
                      now);
    }

    replay_verdict rv;
    try {
      rv = m_replay->check(device, std::span<const std::uint8_t>(r.nonce), r.timestamp, now);
    } catch (const std::exception& e) {
      return finish(a, verdict_reason::policy_error, std::string("replay policy threw: ") + e.what(), now);
    }
    if (!rv.ok()) return finish(a, reason_of(rv.status), rv.message, now);

    std::optional<rule_verdict> rule;
    try {
      rule.emplace(m_rules->check(a.holder->group_id, device, r.data, now));
    } catch (const std::exception& e) {
      return finish(a, verdict_reason::policy_error, std::string("rule policy threw: ") + e.what(), now);
    }
    if (!rule->ok()) {
      a.violation = rule->violation();
      auto message = std::string(to_string(a.violation->kind)) + ": " + a.violation->message;
      return finish(a, verdict_reason::rule_violation, std::move(message), now);
    }
    return finish(a, verdict_reason::accepted, {}, now);
  }

  // Why the request's signature does not verify under the end-entity key, or nullopt if it does.
  static std::optional<std::string> signature_problem(const Botan::X509_Certificate& leaf, const request& r) {
    if (r.signature.empty()) return std::string("the request is unsigned");
    std::unique_ptr<Botan::Public_Key> key;
    try {
      key = leaf.load_subject_public_key();
    } catch (const std::exception& e) {
      return std::string("the certificate's public key does not load: ") + e.what();
    }
    if (!key) return std::string("the certificate has no public key");
    if (!SigningPolicy::accepts_key(*key))
      return "the certificate's key is " + key->algo_name() + " (" + std::to_string(key->key_length()) +
             " bits); this collector verifies " + std::string(SigningPolicy::algorithm_name) + " signatures";
    if (!verify_request<SigningPolicy>(r, *key))
      return "the " + std::string(SigningPolicy::algorithm_name) +
             " signature does not verify under the certificate's key";
    return std::nullopt;
  }

  static verdict_reason reason_of(chain_status s) noexcept { return verdict_reason_of(s); }

  static verdict_reason reason_of(replay_status s) noexcept {
    switch (s) {
      case replay_status::ok: return verdict_reason::accepted;  // not reached
      case replay_status::replay: return verdict_reason::replay;
      case replay_status::stale: return verdict_reason::stale;
      case replay_status::future: return verdict_reason::future;
      case replay_status::overloaded: return verdict_reason::overloaded;
      case replay_status::malformed: return verdict_reason::malformed;
      case replay_status::unavailable: return verdict_reason::policy_error;
    }
    return verdict_reason::policy_error;
  }

  static std::string describe(const sgtin96& epc) {
    try {
      return epc.to_urn();
    } catch (const std::exception&) {
      return "(invalid EPC)";
    }
  }

  // Logs the verdict on the ledger and builds it, moving what is known out of @p a. Taking @p a by
  // reference keeps references into it (the request, the holder) valid while the message is built.
  collector_verdict finish(attempt& a, verdict_reason reason, std::string message, clock_time now) {
    collector_verdict v;
    v.reason = reason;
    v.message = std::move(message);
    v.violation = std::move(a.violation);
    if (!a.holder) {  // not authenticated: counted (and sampled), not logged one by one
      count_refusal(a, reason, now);
      v.parsed = std::move(a.req);
      return v;
    }
    v.authenticated = true;
    const std::uint64_t seq = m_seq.fetch_add(1, std::memory_order_relaxed);
    try {
      auto tx = entry(a, reason, v.violation, seq, now);
      v.ledger_tx = m_ledger->submit(std::move(tx));
    } catch (const std::exception& e) {
      if (reason == verdict_reason::accepted) {
        v.reason = verdict_reason::ledger_unavailable;
        v.message = std::string("accepted, but the ledger refused the entry, so the request is refused: ") + e.what();
      } else {
        v.message += std::string(" (the ledger refused the entry: ") + e.what() + ")";
      }
    }
    v.holder = std::move(a.holder);
    v.parsed = std::move(a.req);
    return v;
  }

  // Only for authenticated attempts: the device is the certificate's, whose key signed the request.
  transaction entry(const attempt& a, verdict_reason reason, const std::optional<rule_violation>& violation,
                    std::uint64_t seq, clock_time now) const {
    const std::string device = device_key(*a.holder->device_epc), source = "certificate",
                      group = std::to_string(a.holder->group_id);
    const auto time = std::chrono::floor<std::chrono::milliseconds>(now);
    const auto base = transaction::rule_check(device, group, to_string(reason), a.payload_hash, time);
    nlohmann::json fields = base.fields();
    fields["device_source"] = source;
    fields["collector"] = m_options.collector_id;
    fields["seq"] = seq;
    if (violation) {
      fields["rule"] = std::string(to_string(violation->kind));
      if (detail::is_identifier(violation->field)) fields["field"] = violation->field;
    }
    return transaction(tx_kind::rule_check, std::move(fields), time);
  }

  // Unauthenticated refusals: per-peer limiter, counts since the last summary and since construction.
  struct refusal_state {
    explicit refusal_state(std::size_t max_peers) : peers(max_peers) {}
    std::mutex mutex;
    device_rate_limiter peers;
    std::map<std::string, std::uint64_t, std::less<>> pending, total;
    std::uint64_t pending_count = 0;
    std::optional<clock_time> since;       // time of the first refusal not yet summarised
    std::optional<clock_time> last_summary;
    std::string sample_reason;
    sha256_digest sample_hash{};
    std::uint64_t summaries = 0;
  };

  // The peer's id for the refusal limit: SHA-256 of the end-entity certificate's encoding.
  static std::string peer_id(const certificate_chain& chain) {
    if (chain.empty()) return "anonymous";
    try {
      const auto der = chain.front().BER_encode();
      const auto h = sha256(der);
      return ledger_detail::to_hex(h);
    } catch (const std::exception&) {
      return "unreadable";
    }
  }

  // A rate_limited verdict if the peer used up its refusals; nullopt otherwise. Cheap when no peer is limited.
  std::optional<collector_verdict> peer_limited(const certificate_chain& chain, attempt& a, clock_time now) {
    {
      const std::lock_guard lock(m_refusals->mutex);
      if (m_refusals->peers.size() == 0) return std::nullopt;
    }
    a.peer = peer_id(chain);
    bool admitted = true;
    {
      const std::lock_guard lock(m_refusals->mutex);
      admitted = m_refusals->peers.would_admit(a.peer, m_options.peer_refusals_per_minute, m_options.clock());
    }
    if (admitted) return std::nullopt;
    a.limited = true;
    return finish(a, verdict_reason::rate_limited,
                  "peer exceeded " + std::to_string(m_options.peer_refusals_per_minute) +
                      " unauthenticated refusals per minute; request refused unread",
                  now);
  }

  void count_refusal(attempt& a, verdict_reason reason, clock_time) {
    if (a.peer.empty()) a.peer = peer_id(chain_of_attempt(a));
    const std::lock_guard lock(m_refusals->mutex);
    const auto now = m_options.clock();
    if (!a.limited) (void)m_refusals->peers.admit(a.peer, m_options.peer_refusals_per_minute, now);
    const auto code = std::string(to_string(reason));
    ++m_refusals->pending[code];
    ++m_refusals->total[code];
    if (m_refusals->pending_count++ == 0) {
      m_refusals->since = now;
      m_refusals->sample_reason = code;
      m_refusals->sample_hash = a.payload_hash;
    }
    const auto due = m_refusals->last_summary ? *m_refusals->last_summary : *m_refusals->since;
    if (now - due >= m_options.refusal_summary_interval) {
      try {
        (void)submit_summary(now);
      } catch (const std::exception&) {  // the ledger is busy: the counts wait for the next summary
      }
    }
  }

  // The chain is not kept in the attempt; the peer id is computed where the chain is at hand.
  static const certificate_chain& chain_of_attempt(const attempt& a) { return *a.chain; }

  // Caller holds m_refusals->mutex.
  std::optional<sha256_digest> submit_summary(clock_time now) {
    auto& st = *m_refusals;
    if (st.pending_count == 0) return std::nullopt;
    const auto time = std::chrono::floor<std::chrono::milliseconds>(now);
    nlohmann::json counts = nlohmann::json::object();
    for (const auto& [code, n] : st.pending) counts[code] = n;
    nlohmann::json fields{{"type", "unauthenticated_refusals"},
                          {"collector", m_options.collector_id},
                          {"counts", std::move(counts)},
                          {"total", st.pending_count},
                          {"since", std::chrono::floor<std::chrono::milliseconds>(*st.since).time_since_epoch().count()},
                          {"sample_reason", st.sample_reason},
                          {"sample_payload_hash", ledger_detail::to_hex(st.sample_hash)},
                          {"summary", st.summaries}};
    const auto id = m_ledger->submit(transaction(tx_kind::custom, std::move(fields), time));
    ++st.summaries;
    st.pending.clear();
    st.pending_count = 0;
    st.since.reset();
    st.last_summary = now;
    return id;
  }

  CertificatePolicy m_certificates;
  RulePolicy* m_rules;
  ReplayPolicy* m_replay;
  LedgerPolicy* m_ledger;
  collector_validator_options m_options;
  std::atomic<std::uint64_t> m_seq{0};
  std::unique_ptr<refusal_state> m_refusals;
};

/// The common case: hospital trust store, ECDSA P-256 device keys, rule_manager, replay_guard, ledger.
using hospital_collector_validator = collector_validator<>;

} // namespace hefl::iot
