#pragma once
/// @file
/// The hospital PKI of seed paper 003 ("Certificate Distribution", "Digital Certificate"): one
/// ECDSA P-256 root CA that decides every extension it signs, certificates for devices, collectors,
/// storage nodes and people carrying the hospital identity extension, revocation with a signed CRL,
/// trust stores in memory or in SQLite, and chain validation (RFC 5280 §6 through Botan's
/// x509_path_validate) that returns a typed verdict instead of throwing.

#include <hefl/core/error.hpp>
#include <hefl/iot/identity.hpp>

#include <botan/auto_rng.h>
#include <botan/certstor.h>
#include <botan/certstor_sql.h>
#include <botan/ec_group.h>
#include <botan/ecdsa.h>
#include <botan/pk_keys.h>
#include <botan/pubkey.h>
#include <botan/sqlite3.h>
#include <botan/x509_ca.h>
#include <botan/x509_crl.h>
#include <botan/x509_ext.h>
#include <botan/x509cert.h>
#include <botan/x509path.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hefl::iot {

/// Wall-clock time as X.509 sees it.
using clock_time = std::chrono::system_clock::time_point;

namespace detail {

inline void check_printable_name(std::string_view name, const char* what) {
  if (name.empty() || name.size() > 64)
    throw invalid_argument(std::string(what) + ": expected 1..64 characters, got " + std::to_string(name.size()));
  for (const char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F)
      throw invalid_argument(std::string(what) + ": control characters are not allowed");
  }
}

/// True if @p cert carries an Authority Key Identifier equal to @p issuer's Subject Key Identifier,
/// names @p issuer as its issuer and verifies under its key.
inline bool issued_by(const Botan::X509_Object& obj, const Botan::X509_DN& issuer_dn,
                      const std::vector<std::uint8_t>& authority_key_id, const Botan::X509_Certificate& issuer) {
  if (issuer_dn != issuer.subject_dn()) return false;
  if (authority_key_id != issuer.subject_key_id()) return false;
  // load_subject_public_key() owns the key; subject_public_key() hands out a raw pointer to free.
  const std::unique_ptr<Botan::Public_Key> key = issuer.load_subject_public_key();
  return obj.check_signature(*key);
}

} // namespace detail

/// Lifetimes a certificate_authority uses.
struct ca_options {
  std::chrono::seconds root_lifetime{std::chrono::hours(24 * 365 * 10)};  ///< root certificate validity
  std::chrono::seconds crl_lifetime{std::chrono::hours(24 * 7)};          ///< CRL nextUpdate - thisUpdate
};

/// An ECDSA P-256 certificate authority for one hospital. It builds every extension itself through
/// X509_CA::make_cert (so a requester cannot smuggle extensions in through a CSR), hands out
/// monotonically increasing serial numbers and keeps an up-to-date signed CRL.
/// Thread-safe: issuing and revoking are serialised by an internal mutex.
class certificate_authority {
public:
  /// Lifetimes the CA uses.
  using options = ca_options;

  /// Creates a fresh P-256 key and a self-signed root "CN=<hospital> Root CA, O=<hospital>" valid from @p now.
  /// @throws hefl::invalid_argument if @p hospital_name is empty, longer than 64 characters or has control characters.
  explicit certificate_authority(std::string_view hospital_name, clock_time now = std::chrono::system_clock::now(),
                                 options opts = {})
      : certificate_authority(nullptr, hospital_name, now, opts) {}

  /// As above with a caller-supplied P-256 key (e.g. loaded from protected storage).
  /// @throws hefl::invalid_argument if the key is not on P-256, or on a bad hospital name.
  certificate_authority(std::unique_ptr<Botan::ECDSA_PrivateKey> key, std::string_view hospital_name, clock_time now,
                        options opts = {})
      : m_rng(std::make_unique<Botan::AutoSeeded_RNG>()), m_mutex(std::make_unique<std::mutex>()),
        m_hospital(hospital_name), m_options(opts) {
    detail::check_printable_name(hospital_name, "hospital name");
    if (opts.root_lifetime.count() <= 0 || opts.crl_lifetime.count() <= 0)
      throw invalid_argument("certificate authority: lifetimes must be positive");
    if (!key) key = std::make_unique<Botan::ECDSA_PrivateKey>(*m_rng, Botan::EC_Group("secp256r1"));
    if (key->domain() != Botan::EC_Group("secp256r1"))
      throw invalid_argument("certificate authority key: expected ECDSA on P-256, got another curve");
    m_key = std::move(key);
    Botan::X509_DN dn;
    dn.add_attribute("X520.CommonName", std::string(hospital_name) + " Root CA");
    dn.add_attribute("X520.Organization", std::string(hospital_name));
    Botan::Extensions ext;
    ext.add(new Botan::Cert_Extension::Basic_Constraints(true, 0), true);
    ext.add(new Botan::Cert_Extension::Key_Usage(
                static_cast<Botan::Key_Constraints>(Botan::KEY_CERT_SIGN | Botan::CRL_SIGN)),
            true);
    ext.add(new Botan::Cert_Extension::Subject_Key_ID(m_key->subject_public_key(), "SHA-256"));
    Botan::AlgorithmIdentifier alg;
    std::unique_ptr<Botan::PK_Signer> signer(Botan::choose_sig_format(*m_key, *m_rng, "SHA-256", alg));
    m_root = Botan::X509_CA::make_cert(signer.get(), *m_rng, Botan::BigInt(1), alg, m_key->subject_public_key(),
                                       Botan::X509_Time(now), Botan::X509_Time(now + opts.root_lifetime), dn, dn, ext);
    m_ca = std::make_unique<Botan::X509_CA>(m_root, *m_key, "SHA-256", *m_rng);
    m_crl = m_ca->new_crl(*m_rng, now, m_options.crl_lifetime);
  }

  certificate_authority(certificate_authority&&) noexcept = default;
  certificate_authority& operator=(certificate_authority&&) noexcept = default;

  /// The self-signed root certificate to install in trust stores.
  [[nodiscard]] const Botan::X509_Certificate& root() const noexcept { return m_root; }
  /// The hospital name the root was created with.
  [[nodiscard]] const std::string& hospital_name() const noexcept { return m_hospital; }
  /// The serial number the next certificate will get.
  [[nodiscard]] std::uint64_t next_serial() const {
    std::lock_guard lock(*m_mutex);
    return m_next_serial;
  }

  /// Issues a certificate binding @p subject_key to @p id, valid over [not_before, not_after].
  /// Key usage follows the role: devices get TLS client auth; collectors and storage nodes TLS server
  /// and client auth; people digital signature + non-repudiation (record signing) and TLS client auth.
  /// @throws hefl::invalid_argument if the identity is invalid, the period is empty or outlives the
  ///         root, or a device/collector/storage key is not ECDSA (Botan 2.19 TLS needs ECDSA for nodes).
  /// @throws hefl::security_error if the subject key is weaker than 110 bits.
  [[nodiscard]] Botan::X509_Certificate issue(const Botan::Public_Key& subject_key, const identity& id,
                                              clock_time not_before, clock_time not_after) {
    id.validate();
    if (!(not_before < not_after)) throw invalid_argument("certificate validity: not_before must precede not_after");
    if (Botan::X509_Time(not_after).cmp(m_root.not_after()) > 0)
      throw invalid_argument("certificate validity: not_after " + Botan::X509_Time(not_after).readable_string() +
                             " is after the root's " + m_root.not_after().readable_string());
    if (subject_key.estimated_strength() < 110)
      throw security_error("subject key: expected at least 110-bit strength, got " +
                           std::to_string(subject_key.estimated_strength()) + " (" + subject_key.algo_name() + ")");
    if (is_node(id.role) && subject_key.algo_name() != "ECDSA")
      throw invalid_argument("subject key of a " + std::string(to_string(id.role)) + ": expected ECDSA (TLS), got " +
                             subject_key.algo_name());

    Botan::X509_DN dn;
    dn.add_attribute("X520.CommonName", id.subject_id);
    dn.add_attribute("X520.OrganizationalUnit", std::string(to_string(id.role)));
    dn.add_attribute("X520.Organization", m_hospital);

    Botan::Extensions ext;
    ext.add(new Botan::Cert_Extension::Basic_Constraints(false), true);
    ext.add(new Botan::Cert_Extension::Key_Usage(usage_for(id.role)), true);
    ext.add(new Botan::Cert_Extension::Extended_Key_Usage(extended_usage_for(id.role)));
    ext.add(new Botan::Cert_Extension::Subject_Key_ID(subject_key.subject_public_key(), "SHA-256"));
    ext.add(new Botan::Cert_Extension::Authority_Key_ID(m_root.subject_key_id()));
    ext.add(new identity_extension(id), false);  // non-critical, or validators that do not know it would refuse it

    std::lock_guard lock(*m_mutex);
    Botan::AlgorithmIdentifier alg;
    std::unique_ptr<Botan::PK_Signer> signer(Botan::choose_sig_format(*m_key, *m_rng, "SHA-256", alg));
    auto cert = Botan::X509_CA::make_cert(signer.get(), *m_rng, Botan::BigInt(m_next_serial), alg,
                                          subject_key.subject_public_key(), Botan::X509_Time(not_before),
                                          Botan::X509_Time(not_after), m_root.subject_dn(), dn, ext);
    ++m_next_serial;
    return cert;
  }

  /// Convenience: issues a certificate valid from @p now for @p lifetime.
  /// @throws as issue(subject_key, id, not_before, not_after).
  [[nodiscard]] Botan::X509_Certificate issue(const Botan::Public_Key& subject_key, const identity& id, clock_time now,
                                              std::chrono::seconds lifetime) {
    return issue(subject_key, id, now, now + lifetime);
  }

  /// Revokes @p cert (e.g. a captured device) and re-signs the CRL at @p now.
  /// @return false if it was already revoked (the CRL is left as it was).
  /// @throws hefl::invalid_argument if this CA did not issue @p cert.
  bool revoke(const Botan::X509_Certificate& cert, Botan::CRL_Code reason = Botan::CRL_Code::KEY_COMPROMISE,
              clock_time now = std::chrono::system_clock::now()) {
    if (!detail::issued_by(cert, cert.issuer_dn(), cert.authority_key_id(), m_root))
      throw invalid_argument("revoke: certificate \"" + cert.subject_dn().to_string() + "\" was not issued by " +
                             m_root.subject_dn().to_string());
    std::lock_guard lock(*m_mutex);
    if (m_crl.is_revoked(cert)) return false;
    m_crl = m_ca->update_crl(m_crl, {Botan::CRL_Entry(cert, reason)}, *m_rng, now, m_options.crl_lifetime);
    return true;
  }

  /// Re-signs the current CRL with thisUpdate = @p now, as a CA does before nextUpdate passes.
  /// @return the new CRL.
  const Botan::X509_CRL& refresh_crl(clock_time now = std::chrono::system_clock::now()) {
    std::lock_guard lock(*m_mutex);
    m_crl = m_ca->update_crl(m_crl, {}, *m_rng, now, m_options.crl_lifetime);
    return m_crl;
  }

  /// The current CRL (a copy, so it stays valid while another thread revokes).
  [[nodiscard]] Botan::X509_CRL crl() const {
    std::lock_guard lock(*m_mutex);
    return m_crl;
  }

  /// Whether @p cert is on the current CRL.
  [[nodiscard]] bool is_revoked(const Botan::X509_Certificate& cert) const {
    std::lock_guard lock(*m_mutex);
    return m_crl.is_revoked(cert);
  }

  /// Key usage bits for a role.
  [[nodiscard]] static Botan::Key_Constraints usage_for(role r) noexcept {
    if (is_node(r)) return Botan::DIGITAL_SIGNATURE;
    return static_cast<Botan::Key_Constraints>(Botan::DIGITAL_SIGNATURE | Botan::NON_REPUDIATION);
  }

  /// Extended key usages for a role (RFC 5280 §4.2.1.12).
  [[nodiscard]] static std::vector<Botan::OID> extended_usage_for(role r) {
    const Botan::OID client("1.3.6.1.5.5.7.3.2"), server("1.3.6.1.5.5.7.3.1");
    if (r == role::collector || r == role::storage) return {server, client};
    return {client};
  }

private:
  std::unique_ptr<Botan::RandomNumberGenerator> m_rng;
  std::unique_ptr<std::mutex> m_mutex;
  std::string m_hospital;
  options m_options;
  std::unique_ptr<Botan::ECDSA_PrivateKey> m_key;
  Botan::X509_Certificate m_root;
  std::unique_ptr<Botan::X509_CA> m_ca;  // Botan's CRL builder; certificates go through make_cert
  Botan::X509_CRL m_crl;
  std::uint64_t m_next_serial = 2;  // 1 is the root
};

/// The certificates and CRLs a node trusts: in memory, or persistent in SQLite (roots in Botan's
/// Certificate_Store_In_SQL over Botan::Sqlite3_Database, CRLs in a table next to it, because Botan's
/// SQL store only keeps revocation entries and rebuilds unsigned CRLs from them).
/// Thread-safe: validation takes a shared lock, adding roots and CRLs an exclusive one.
class trust_store {
public:
  /// An empty store in memory.
  [[nodiscard]] static trust_store in_memory() { return trust_store(); }

  /// Opens (creating if needed) a store in the SQLite file @p file and loads its CRLs.
  /// @throws hefl::io_error if the database cannot be opened or read.
  /// @throws hefl::parse_error if a stored CRL does not parse.
  [[nodiscard]] static trust_store open_sqlite(const std::filesystem::path& file) {
    trust_store s;
    try {
      s.m_db = std::make_shared<Botan::Sqlite3_Database>(file.string());
      // Botan's store encrypts private keys with this passphrase; this store never holds private keys.
      s.m_sql = std::make_unique<Botan::Certificate_Store_In_SQL>(s.m_db, "hefl-trust-store-holds-no-private-keys",
                                                                  *s.m_rng, "hefl_");
      s.m_db->create_table("CREATE TABLE IF NOT EXISTS hefl_crls (issuer BLOB PRIMARY KEY, der BLOB NOT NULL)");
      auto stmt = s.m_db->new_statement("SELECT der FROM hefl_crls");
      while (stmt->step()) {
        const auto blob = stmt->get_blob(0);
        try {
          s.remember_crl(Botan::X509_CRL(std::vector<std::uint8_t>(blob.first, blob.first + blob.second)));
        } catch (const Botan::Exception& e) {
          throw parse_error(std::string("trust store: stored CRL does not parse: ") + e.what());
        }
      }
    } catch (const Botan::Exception& e) {
      throw io_error("trust store " + file.string() + ": " + e.what());
    }
    s.m_stores = {s.m_crls.get(), s.m_sql.get()};
    return s;
  }

  trust_store(trust_store&&) noexcept = default;
  trust_store& operator=(trust_store&&) noexcept = default;

  /// Whether the store lives in SQLite.
  [[nodiscard]] bool persistent() const noexcept { return m_sql != nullptr; }

  /// Trusts a root CA certificate (idempotent).
  /// @throws hefl::invalid_argument if @p root is not a self-signed CA certificate that verifies under its own key.
  /// @throws hefl::io_error if the SQLite write fails.
  void add_root(const Botan::X509_Certificate& root) {
    if (!root.is_CA_cert()) throw invalid_argument("trust store: \"" + root.subject_dn().to_string() + "\" is not a CA certificate");
    if (!root.is_self_signed() || !root.check_signature(*root.load_subject_public_key()))
      throw invalid_argument("trust store: \"" + root.subject_dn().to_string() + "\" is not a self-signed root");
    std::unique_lock lock(*m_mutex);
    try {
      if (m_sql) m_sql->insert_cert(root);
      else m_memory->add_certificate(root);
    } catch (const Botan::Exception& e) {
      throw io_error(std::string("trust store: storing a root failed: ") + e.what());
    }
  }

  /// Installs a CRL signed by one of the trusted roots, replacing an older one from the same issuer.
  /// Once a store holds a CRL, validation requires revocation information.
  /// @throws hefl::security_error if no trusted root signed @p crl.
  /// @throws hefl::io_error if the SQLite write fails.
  void add_crl(const Botan::X509_CRL& crl) {
    std::unique_lock lock(*m_mutex);
    bool signed_by_root = false;
    for (const auto* store : m_stores) {
      for (const auto& root : store->find_all_certs(crl.issuer_dn(), crl.authority_key_id())) {
        if (detail::issued_by(crl, crl.issuer_dn(), crl.authority_key_id(), *root)) signed_by_root = true;
      }
    }
    if (!signed_by_root)
      throw security_error("trust store: CRL from \"" + crl.issuer_dn().to_string() + "\" is not signed by a trusted root");
    const auto previous = find_crl_for_issuer(crl.issuer_dn());
    if (previous && previous->this_update().cmp(crl.this_update()) > 0) return;  // never roll back to an older CRL
    try {
      if (m_sql) {
        auto stmt = m_db->new_statement("INSERT OR REPLACE INTO hefl_crls (issuer, der) VALUES (?1, ?2)");
        stmt->bind(1, crl.issuer_dn().BER_encode());
        stmt->bind(2, crl.BER_encode());
        stmt->spin();
        // Botan's Sqlite3 statement ignores sqlite3_step errors, so a refused write shows only as no change.
        auto changes = m_db->new_statement("SELECT changes()");
        if (!changes->step() || changes->get_size_t(0) == 0)
          throw io_error("trust store: the CRL was not written to the database");
      }
    } catch (const Botan::Exception& e) {
      throw io_error(std::string("trust store: storing a CRL failed: ") + e.what());
    }
    remember_crl(crl);
  }

  /// The trusted roots.
  [[nodiscard]] std::vector<Botan::X509_Certificate> roots() const {
    std::shared_lock lock(*m_mutex);
    std::vector<Botan::X509_Certificate> out;
    for (const auto* store : m_stores) {
      for (const auto& dn : store->all_subjects()) {
        for (const auto& c : store->find_all_certs(dn, {})) out.push_back(*c);
      }
    }
    return out;
  }

  /// Number of CRLs held (one per issuer).
  [[nodiscard]] std::size_t crl_count() const {
    std::shared_lock lock(*m_mutex);
    return m_crl_list.size();
  }

  /// Runs @p fn with the Botan stores under a shared lock (for path validation).
  template <class F>
  decltype(auto) with_stores(F&& fn) const {
    std::shared_lock lock(*m_mutex);
    return std::forward<F>(fn)(m_stores, !m_crl_list.empty());
  }

private:
  /// The newest CRL per issuer, alongside the Botan store path validation reads them from.
  std::shared_ptr<const Botan::X509_CRL> find_crl_for_issuer(const Botan::X509_DN& issuer) const {
    for (const auto& c : m_crl_list) {
      if (c->issuer_dn() == issuer) return c;
    }
    return nullptr;
  }
  void remember_crl(const Botan::X509_CRL& crl) {
    auto p = std::make_shared<const Botan::X509_CRL>(crl);
    m_crls->add_crl(p);
    for (auto& c : m_crl_list) {
      if (c->issuer_dn() == crl.issuer_dn()) {
        c = p;
        return;
      }
    }
    m_crl_list.push_back(p);
  }

  trust_store()
      : m_rng(std::make_unique<Botan::AutoSeeded_RNG>()), m_mutex(std::make_unique<std::shared_mutex>()),
        m_memory(std::make_unique<Botan::Certificate_Store_In_Memory>()), m_crls(std::make_unique<Botan::Certificate_Store_In_Memory>()) {
    m_stores = {m_crls.get(), m_memory.get()};
  }

  std::unique_ptr<Botan::RandomNumberGenerator> m_rng;  // Botan's SQL store keeps a reference to it
  std::unique_ptr<std::shared_mutex> m_mutex;
  std::unique_ptr<Botan::Certificate_Store_In_Memory> m_memory;
  std::unique_ptr<Botan::Certificate_Store_In_Memory> m_crls;  // signed CRLs only, no certificates
  std::vector<std::shared_ptr<const Botan::X509_CRL>> m_crl_list;
  std::shared_ptr<Botan::Sqlite3_Database> m_db;
  std::unique_ptr<Botan::Certificate_Store_In_SQL> m_sql;
  std::vector<Botan::Certificate_Store*> m_stores;  // CRL store first: its CRLs are the signed ones
};

/// What a certificate is being validated for.
enum class cert_usage {
  tls_client,      ///< a device or node authenticating to a collector/storage (EKU clientAuth)
  tls_server,      ///< a collector or storage node serving TLS (EKU serverAuth)
  record_signing,  ///< a person's key signing records (key usage nonRepudiation)
  any,             ///< no usage restriction
};

/// A set of roles, for restricting which holders a validation accepts.
class role_set {
public:
  /// Every role.
  [[nodiscard]] static constexpr role_set any() noexcept { return role_set(0x7F); }
  /// The given roles.
  constexpr role_set(std::initializer_list<role> roles) noexcept {
    for (const auto r : roles) m_bits = static_cast<std::uint8_t>(m_bits | (1u << static_cast<unsigned>(r)));
  }
  /// Whether @p r is in the set.
  [[nodiscard]] constexpr bool contains(role r) const noexcept {
    return static_cast<unsigned>(r) < 7 && (m_bits >> static_cast<unsigned>(r)) & 1u;
  }

private:
  explicit constexpr role_set(std::uint8_t bits) noexcept : m_bits(bits) {}
  std::uint8_t m_bits = 0;
};

/// Outcome of validate_chain().
enum class chain_status {
  ok,
  untrusted,               ///< no path to a trusted root (unknown issuer, rogue CA with the same name, bad signature)
  revoked,                 ///< on the issuer's CRL
  expired,                 ///< validation time after notAfter
  not_yet_valid,           ///< validation time before notBefore
  wrong_usage,             ///< key usage / extended key usage does not allow the requested use
  wrong_role,              ///< valid certificate, but its holder's role is not among those accepted
  revocation_unavailable,  ///< CRL required but missing, stale, not yet valid or badly signed
  missing_identity,        ///< trusted certificate without the hospital identity extension
  malformed_identity,      ///< trusted certificate whose identity extension does not decode
};

/// Lower-case name of a chain status ("ok", "untrusted", ...).
[[nodiscard]] constexpr std::string_view to_string(chain_status s) noexcept {
  switch (s) {
    case chain_status::ok: return "ok";
    case chain_status::untrusted: return "untrusted";
    case chain_status::revoked: return "revoked";
    case chain_status::expired: return "expired";
    case chain_status::not_yet_valid: return "not_yet_valid";
    case chain_status::wrong_usage: return "wrong_usage";
    case chain_status::wrong_role: return "wrong_role";
    case chain_status::revocation_unavailable: return "revocation_unavailable";
    case chain_status::missing_identity: return "missing_identity";
    case chain_status::malformed_identity: return "malformed_identity";
  }
  return "unknown";
}

/// A typed validation verdict; on success it carries the holder's identity.
struct chain_verdict {
  chain_status status = chain_status::untrusted;
  std::string reason;                       ///< for logs: ours plus Botan's status text; empty when ok
  Botan::Certificate_Status_Code botan_code = Botan::Certificate_Status_Code::OK;  ///< Botan's deciding code
  std::optional<identity> holder;           ///< set when status == ok

  [[nodiscard]] bool ok() const noexcept { return status == chain_status::ok; }
  explicit operator bool() const noexcept { return ok(); }
};

namespace detail {

inline chain_status classify(Botan::Certificate_Status_Code c) noexcept {
  using C = Botan::Certificate_Status_Code;
  switch (c) {
    case C::CERT_IS_REVOKED: return chain_status::revoked;
    case C::CERT_HAS_EXPIRED: return chain_status::expired;
    case C::CERT_NOT_YET_VALID: return chain_status::not_yet_valid;
    case C::INVALID_USAGE: return chain_status::wrong_usage;
    case C::NO_REVOCATION_DATA:
    case C::CRL_HAS_EXPIRED:
    case C::CRL_NOT_YET_VALID:
    case C::CRL_BAD_SIGNATURE:
    case C::CA_CERT_NOT_FOR_CRL_ISSUER:
    case C::NO_MATCHING_CRLDP: return chain_status::revocation_unavailable;
    default: return chain_status::untrusted;
  }
}

/// Severity order when several problems are reported: a broken chain says nothing about the rest.
inline int severity(chain_status s) noexcept {
  switch (s) {
    case chain_status::untrusted: return 6;
    case chain_status::revoked: return 5;
    case chain_status::expired: return 4;
    case chain_status::not_yet_valid: return 4;
    case chain_status::wrong_usage: return 3;
    case chain_status::revocation_unavailable: return 2;
    default: return 0;
  }
}

} // namespace detail

/// Validates @p chain (end-entity first, then any intermediates) against @p store at time @p now,
/// then reads the holder's identity and checks its role. Revocation information is required as soon
/// as the store holds a CRL (FIELD_NOTES: requiring it without one fails everything).
/// Never throws on hostile input: every failure is a verdict.
[[nodiscard]] inline chain_verdict validate_chain(const std::vector<Botan::X509_Certificate>& chain,
                                                  const trust_store& store, cert_usage usage,
                                                  clock_time now = std::chrono::system_clock::now(),
                                                  role_set accepted_roles = role_set::any()) noexcept {
  chain_verdict v;
  try {
    if (chain.empty()) {
      v.reason = "no certificate presented";
      return v;
    }
    Botan::Usage_Type botan_usage = Botan::Usage_Type::UNSPECIFIED;
    if (usage == cert_usage::tls_client) botan_usage = Botan::Usage_Type::TLS_CLIENT_AUTH;
    if (usage == cert_usage::tls_server) botan_usage = Botan::Usage_Type::TLS_SERVER_AUTH;
    const auto result = store.with_stores([&](const std::vector<Botan::Certificate_Store*>& stores, bool have_crl) {
      return Botan::x509_path_validate(chain, Botan::Path_Validation_Restrictions(have_crl, 110), stores, "",
                                       botan_usage, now);
    });
    if (!result.successful_validation()) {
      auto worst = detail::classify(result.result());
      auto worst_code = result.result();
      for (const auto& per_cert : result.all_statuses()) {
        for (const auto code : per_cert) {
          if (code < Botan::Certificate_Status_Code::FIRST_ERROR_STATUS) continue;
          const auto s = detail::classify(code);
          if (detail::severity(s) > detail::severity(worst)) {
            worst = s;
            worst_code = code;
          }
        }
      }
      v.status = worst;
      v.botan_code = worst_code;
      const char* botan_text = Botan::Path_Validation_Result::status_string(worst_code);
      v.reason = std::string(to_string(worst)) + ": " + (botan_text ? botan_text : "unknown status") + " (" +
                 result.result_string() + ")";
      return v;
    }
    const auto& leaf = chain.front();
    if (usage == cert_usage::record_signing && !leaf.allowed_usage(Botan::NON_REPUDIATION)) {
      v.status = chain_status::wrong_usage;
      v.reason = "wrong_usage: key usage of \"" + leaf.subject_dn().to_string() + "\" lacks nonRepudiation";
      return v;
    }
    const auto id = identity_of(leaf);
    if (!id) {
      v.status = id.status() == identity_status::missing_identity ? chain_status::missing_identity
                                                                 : chain_status::malformed_identity;
      v.reason = std::string(to_string(v.status)) + ": " + id.reason();
      return v;
    }
    if (!accepted_roles.contains(id.value().role)) {
      v.status = chain_status::wrong_role;
      v.reason = "wrong_role: holder \"" + id.value().subject_id + "\" is a " + std::string(to_string(id.value().role));
      return v;
    }
    v.status = chain_status::ok;
    v.holder = id.value();
    return v;
  } catch (const std::exception& e) {
    v.status = chain_status::untrusted;
    v.reason = std::string("untrusted: validation failed: ") + e.what();
    return v;
  } catch (...) {
    v.status = chain_status::untrusted;
    v.reason = "untrusted: validation failed";
    return v;
  }
}

/// Single-certificate form of validate_chain().
[[nodiscard]] inline chain_verdict validate_chain(const Botan::X509_Certificate& cert, const trust_store& store,
                                                  cert_usage usage, clock_time now = std::chrono::system_clock::now(),
                                                  role_set accepted_roles = role_set::any()) noexcept {
  try {
    return validate_chain(std::vector<Botan::X509_Certificate>{cert}, store, usage, now, accepted_roles);
  } catch (...) {
    chain_verdict v;
    v.reason = "untrusted: out of memory";
    return v;
  }
}

} // namespace hefl::iot
