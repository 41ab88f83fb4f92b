#pragma once
/// @file
/// The hospital PKI of seed paper 003 ("Certificate Distribution", "Digital Certificate"): one
/// ECDSA P-256 root CA that decides every extension it signs, certificates for devices, collectors,
/// storage nodes and people carrying the hospital identity extension, revocation with a signed CRL,
/// trust stores in memory or in SQLite, and chain validation (RFC 5280 §6 through Botan's
/// x509_path_validate) that returns a typed verdict instead of throwing.

#include <hefl/core/error.hpp>
#include <hefl/iot/pki/identity.hpp>
#include <hefl/iot/pki/key_validation.hpp>

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

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
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

namespace detail {

/// Number of rows the last INSERT/UPDATE/DELETE on @p db changed. Botan's Sqlite3 statement ignores
/// sqlite3_step errors, so a refused write shows only as "no change": every write checks this.
inline std::size_t sql_changes(Botan::Sqlite3_Database& db) {
  auto stmt = db.new_statement("SELECT changes()");
  return stmt->step() ? stmt->get_size_t(0) : 0;
}

/// Runs a statement without parameters.
inline void sql_exec(Botan::Sqlite3_Database& db, const std::string& sql) { db.new_statement(sql)->spin(); }

/// Reads column @p col of a row as bytes.
inline std::vector<std::uint8_t> sql_blob(Botan::SQL_Database::Statement& stmt, int col) {
  const auto b = stmt.get_blob(col);
  return std::vector<std::uint8_t>(b.first, b.first + b.second);
}

} // namespace detail

/// Lifetimes a certificate_authority uses.
struct ca_options {
  std::chrono::seconds root_lifetime{std::chrono::hours(24 * 365 * 10)};  ///< root certificate validity
  std::chrono::seconds crl_lifetime{std::chrono::hours(24 * 7)};          ///< CRL nextUpdate - thisUpdate
};

/// An ECDSA P-256 certificate authority for one hospital. It builds every extension itself through
/// X509_CA::make_cert (so a requester cannot smuggle extensions in through a CSR), validates every
/// subject key before certifying it (check_public_key at full depth), gives each certificate a random
/// 128-bit serial recorded in its database (never handed out twice), and keeps an up-to-date signed CRL.
///
/// State (root, every serial issued, the current CRL with its revocations and CRL number) lives in
/// SQLite: in a file with open_sqlite(), so a restarted CA keeps its revocations and serials; in an
/// in-memory SQLite database with the plain constructors, whose state ends with the object.
/// Thread-safe: issuing and revoking are serialised by an internal mutex.
class certificate_authority {
public:
  /// Lifetimes the CA uses.
  using options = ca_options;

  /// An in-memory CA: creates a fresh P-256 key and a self-signed root "CN=<hospital> Root CA,
  /// O=<hospital>" valid from @p now. Its revocations and serials are lost with the object.
  /// @throws hefl::invalid_argument if @p hospital_name is empty, longer than 64 characters or has control characters.
  explicit certificate_authority(std::string_view hospital_name, clock_time now = std::chrono::system_clock::now(),
                                 options opts = {})
      : certificate_authority(nullptr, hospital_name, now, opts) {}

  /// An in-memory CA with a caller-supplied P-256 key (e.g. loaded from protected storage).
  /// @throws hefl::invalid_argument if the key is not on P-256, or on a bad hospital name.
  certificate_authority(std::unique_ptr<Botan::ECDSA_PrivateKey> key, std::string_view hospital_name, clock_time now,
                        options opts = {})
      : certificate_authority(std::make_shared<Botan::Sqlite3_Database>(":memory:"), std::move(key), hospital_name, now,
                              opts, false) {}

  /// A persistent CA whose state lives in the SQLite file @p file: the first call creates the root
  /// (valid from @p now) and stores it; later calls restore root, issued serials and the current CRL,
  /// checking that @p key is the key the root was made with and that the stored CRL verifies under it.
  /// @throws hefl::invalid_argument if @p key is null or not on P-256, or @p hospital_name differs from the stored one.
  /// @throws hefl::security_error if the database's root belongs to another key, or its CRL is missing,
  ///         does not parse or does not verify (the revocation state is gone: the CA refuses to start
  ///         rather than start with an empty revocation list).
  /// @throws hefl::io_error if the database cannot be opened or written.
  [[nodiscard]] static certificate_authority open_sqlite(const std::filesystem::path& file,
                                                         std::unique_ptr<Botan::ECDSA_PrivateKey> key,
                                                         std::string_view hospital_name,
                                                         clock_time now = std::chrono::system_clock::now(),
                                                         options opts = {}) {
    if (!key) throw invalid_argument("certificate authority " + file.string() + ": expected the CA's stored key, got null");
    std::shared_ptr<Botan::Sqlite3_Database> db;
    try {
      db = std::make_shared<Botan::Sqlite3_Database>(file.string());
    } catch (const Botan::Exception& e) {
      throw io_error("certificate authority " + file.string() + ": " + e.what());
    }
    return certificate_authority(std::move(db), std::move(key), hospital_name, now, opts, true);
  }

  certificate_authority(certificate_authority&&) noexcept = default;
  certificate_authority& operator=(certificate_authority&&) noexcept = default;

  /// The self-signed root certificate to install in trust stores.
  [[nodiscard]] const Botan::X509_Certificate& root() const noexcept { return m_root; }
  /// The hospital name the root was created with.
  [[nodiscard]] const std::string& hospital_name() const noexcept { return m_hospital; }
  /// Whether the CA's state lives in a file (open_sqlite) rather than in memory.
  [[nodiscard]] bool persistent() const noexcept { return m_persistent; }

  /// Number of serial numbers handed out so far, the root's included.
  /// @throws hefl::io_error if the database cannot be read.
  [[nodiscard]] std::size_t issued_count() const {
    std::lock_guard lock(*m_mutex);
    try {
      auto stmt = m_db->new_statement("SELECT COUNT(*) FROM hefl_ca_issued");
      return stmt->step() ? stmt->get_size_t(0) : 0;
    } catch (const Botan::Exception& e) {
      throw io_error(std::string("certificate authority: reading issued serials failed: ") + e.what());
    }
  }

  /// Issues a certificate binding @p subject_key to @p id, valid over [not_before, not_after].
  /// Key usage follows the role: devices get TLS client auth; collectors and storage nodes TLS server
  /// and client auth; people digital signature + non-repudiation (record signing) and TLS client auth.
  /// @throws hefl::invalid_argument if the identity is invalid, the period is empty or outlives the
  ///         root, or a device/collector/storage key is not ECDSA (Botan 2.19 TLS needs ECDSA for nodes).
  /// @throws hefl::security_error if the subject key is weaker than 110 bits or fails public-key
  ///         validation (degenerate DSA group, small-order Ed25519 point, ...; the message names the key_defect).
  /// @throws hefl::io_error if the serial cannot be recorded (no certificate is returned then).
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
    if (const auto check = check_public_key(subject_key, key_check_depth::full); !check)
      throw security_error("subject key refused (" + std::string(to_string(check.defect)) + "): " + check.reason);
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
    const Botan::BigInt serial = reserve_serial(id.subject_id);
    Botan::AlgorithmIdentifier alg;
    std::unique_ptr<Botan::PK_Signer> signer(Botan::choose_sig_format(*m_key, *m_rng, "SHA-256", alg));
    return Botan::X509_CA::make_cert(signer.get(), *m_rng, serial, alg, subject_key.subject_public_key(),
                                     Botan::X509_Time(not_before), Botan::X509_Time(not_after), m_root.subject_dn(), dn,
                                     ext);
  }

  /// Convenience: issues a certificate valid from @p now for @p lifetime.
  /// @throws as issue(subject_key, id, not_before, not_after).
  [[nodiscard]] Botan::X509_Certificate issue(const Botan::Public_Key& subject_key, const identity& id, clock_time now,
                                              std::chrono::seconds lifetime) {
    return issue(subject_key, id, now, now + lifetime);
  }

  /// Revokes @p cert (e.g. a captured device) and re-signs the CRL at @p now; the new CRL is stored
  /// before this returns.
  /// @return false if it was already revoked (the CRL is left as it was).
  /// @throws hefl::invalid_argument if this CA did not issue @p cert.
  /// @throws hefl::io_error if the new CRL cannot be stored (the revocation is then not in effect).
  bool revoke(const Botan::X509_Certificate& cert, Botan::CRL_Code reason = Botan::CRL_Code::KEY_COMPROMISE,
              clock_time now = std::chrono::system_clock::now()) {
    if (!detail::issued_by(cert, cert.issuer_dn(), cert.authority_key_id(), m_root))
      throw invalid_argument("revoke: certificate \"" + cert.subject_dn().to_string() + "\" was not issued by " +
                             m_root.subject_dn().to_string());
    std::lock_guard lock(*m_mutex);
    if (m_crl.is_revoked(cert)) return false;
    store_crl(m_ca->update_crl(m_crl, {Botan::CRL_Entry(cert, reason)}, *m_rng, now, m_options.crl_lifetime));
    return true;
  }

  /// Re-signs the current CRL with thisUpdate = @p now and the next CRL number, as a CA does before
  /// nextUpdate passes; the new CRL is stored before this returns.
  /// @return the new CRL.
  /// @throws hefl::io_error if the new CRL cannot be stored.
  const Botan::X509_CRL& refresh_crl(clock_time now = std::chrono::system_clock::now()) {
    std::lock_guard lock(*m_mutex);
    store_crl(m_ca->update_crl(m_crl, {}, *m_rng, now, m_options.crl_lifetime));
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
  certificate_authority(std::shared_ptr<Botan::Sqlite3_Database> db, std::unique_ptr<Botan::ECDSA_PrivateKey> key,
                        std::string_view hospital_name, clock_time now, options opts, bool persistent)
      : m_rng(std::make_unique<Botan::AutoSeeded_RNG>()), m_mutex(std::make_unique<std::mutex>()),
        m_hospital(hospital_name), m_options(opts), m_db(std::move(db)), m_persistent(persistent) {
    detail::check_printable_name(hospital_name, "hospital name");
    if (opts.root_lifetime.count() <= 0 || opts.crl_lifetime.count() <= 0)
      throw invalid_argument("certificate authority: lifetimes must be positive");
    if (!key) key = std::make_unique<Botan::ECDSA_PrivateKey>(*m_rng, Botan::EC_Group("secp256r1"));
    if (key->domain() != Botan::EC_Group("secp256r1"))
      throw invalid_argument("certificate authority key: expected ECDSA on P-256, got another curve");
    m_key = std::move(key);
    try {
      m_db->create_table("CREATE TABLE IF NOT EXISTS hefl_ca_root (id INTEGER PRIMARY KEY CHECK (id = 1), "
                         "hospital TEXT NOT NULL, der BLOB NOT NULL)");
      m_db->create_table("CREATE TABLE IF NOT EXISTS hefl_ca_issued (serial BLOB PRIMARY KEY, subject TEXT NOT NULL)");
      m_db->create_table("CREATE TABLE IF NOT EXISTS hefl_ca_crl (id INTEGER PRIMARY KEY CHECK (id = 1), "
                         "crl_number INTEGER NOT NULL, der BLOB NOT NULL)");
      auto stmt = m_db->new_statement("SELECT hospital, der FROM hefl_ca_root WHERE id = 1");
      if (stmt->step()) restore(stmt->get_str(0), detail::sql_blob(*stmt, 1));
      else create(now);
    } catch (const Botan::Exception& e) {
      throw io_error(std::string("certificate authority database: ") + e.what());
    }
  }

  void create(clock_time now) {
    Botan::X509_DN dn;
    dn.add_attribute("X520.CommonName", m_hospital + " Root CA");
    dn.add_attribute("X520.Organization", m_hospital);
    Botan::Extensions ext;
    ext.add(new Botan::Cert_Extension::Basic_Constraints(true, 0), true);
    ext.add(new Botan::Cert_Extension::Key_Usage(
                static_cast<Botan::Key_Constraints>(Botan::KEY_CERT_SIGN | Botan::CRL_SIGN)),
            true);
    ext.add(new Botan::Cert_Extension::Subject_Key_ID(m_key->subject_public_key(), "SHA-256"));
    Botan::AlgorithmIdentifier alg;
    std::unique_ptr<Botan::PK_Signer> signer(Botan::choose_sig_format(*m_key, *m_rng, "SHA-256", alg));
    const Botan::BigInt serial = reserve_serial(m_hospital + " Root CA");
    m_root = Botan::X509_CA::make_cert(signer.get(), *m_rng, serial, alg, m_key->subject_public_key(),
                                       Botan::X509_Time(now), Botan::X509_Time(now + m_options.root_lifetime), dn, dn, ext);
    auto stmt = m_db->new_statement("INSERT INTO hefl_ca_root (id, hospital, der) VALUES (1, ?1, ?2)");
    stmt->bind(1, m_hospital);
    stmt->bind(2, m_root.BER_encode());
    stmt->spin();
    if (detail::sql_changes(*m_db) != 1) throw io_error("certificate authority: the root was not written to the database");
    m_ca = std::make_unique<Botan::X509_CA>(m_root, *m_key, "SHA-256", *m_rng);
    store_crl(m_ca->new_crl(*m_rng, now, m_options.crl_lifetime));
  }

  void restore(const std::string& stored_hospital, const std::vector<std::uint8_t>& root_der) {
    if (stored_hospital != m_hospital)
      throw invalid_argument("certificate authority database: it belongs to \"" + stored_hospital + "\", not \"" +
                             m_hospital + "\"");
    try {
      m_root = Botan::X509_Certificate(root_der);
    } catch (const Botan::Exception& e) {
      throw security_error(std::string("certificate authority database: the stored root does not parse: ") + e.what());
    }
    if (m_root.subject_public_key_info() != m_key->subject_public_key() || !m_root.check_signature(*m_key))
      throw security_error("certificate authority database: the stored root was made with another key");
    m_ca = std::make_unique<Botan::X509_CA>(m_root, *m_key, "SHA-256", *m_rng);
    auto stmt = m_db->new_statement("SELECT der FROM hefl_ca_crl WHERE id = 1");
    if (!stmt->step())
      throw security_error("certificate authority database: the CRL is missing, so the revocations are lost; "
                           "refusing to start with an empty revocation list");
    try {
      Botan::X509_CRL crl(detail::sql_blob(*stmt, 0));
      if (crl.issuer_dn() != m_root.subject_dn() || !crl.check_signature(*m_key))
        throw security_error("certificate authority database: the stored CRL does not verify under the CA key");
      m_crl = std::move(crl);
    } catch (const Botan::Exception& e) {
      throw security_error(std::string("certificate authority database: the stored CRL does not parse: ") + e.what());
    }
  }

  /// A random 128-bit serial (RFC 5280 §4.1.2.2: positive, at most 20 octets; 127 random bits with the
  /// top bit set), recorded in the database before use so it can never be handed out twice.
  Botan::BigInt reserve_serial(const std::string& subject) {
    for (int attempt = 0; attempt < 8; ++attempt) {
      const Botan::BigInt serial(*m_rng, 128);
      auto stmt = m_db->new_statement("INSERT OR IGNORE INTO hefl_ca_issued (serial, subject) VALUES (?1, ?2)");
      stmt->bind(1, Botan::BigInt::encode(serial));
      stmt->bind(2, subject);
      stmt->spin();
      if (detail::sql_changes(*m_db) == 1) return serial;
    }
    throw io_error("certificate authority: could not record a fresh serial number in the database");
  }

  void store_crl(Botan::X509_CRL crl) {
    try {
      auto stmt = m_db->new_statement("INSERT OR REPLACE INTO hefl_ca_crl (id, crl_number, der) VALUES (1, ?1, ?2)");
      stmt->bind(1, static_cast<std::size_t>(crl.crl_number()));
      stmt->bind(2, crl.BER_encode());
      stmt->spin();
      if (detail::sql_changes(*m_db) != 1) throw io_error("certificate authority: the CRL was not written to the database");
    } catch (const Botan::Exception& e) {
      throw io_error(std::string("certificate authority: storing the CRL failed: ") + e.what());
    }
    m_crl = std::move(crl);
  }

  std::unique_ptr<Botan::RandomNumberGenerator> m_rng;
  std::unique_ptr<std::mutex> m_mutex;
  std::string m_hospital;
  options m_options;
  std::shared_ptr<Botan::Sqlite3_Database> m_db;
  bool m_persistent = false;
  std::unique_ptr<Botan::ECDSA_PrivateKey> m_key;
  Botan::X509_Certificate m_root;
  std::unique_ptr<Botan::X509_CA> m_ca;  // Botan's CRL builder; certificates go through make_cert
  Botan::X509_CRL m_crl;
};

/// Whether validation requires revocation information.
enum class revocation_policy {
  required,     ///< the default: no valid, fresh, root-signed CRL for the leaf's issuer means refusal
  not_checked,  ///< insecure opt-out: CRLs present are still honoured, missing ones are not an error
};

/// Configuration of a trust_store.
struct trust_options {
  revocation_policy revocation = revocation_policy::required;  ///< fail closed by default
  /// Longest chain validate_chain() will look at, leaf included. The hospital PKI has one level
  /// (leaf + root), so anything longer is refused before Botan builds paths: its path builder tries
  /// every ordering of same-named certificates (FIELD_NOTES: 20 s for a leaf and 10 fakes).
  std::size_t max_chain_length = 2;
};

/// What validation reads from a trust store: an immutable snapshot, swapped as a whole on every change,
/// so path building runs without any lock held.
struct trust_snapshot {
  std::shared_ptr<Botan::Certificate_Store_In_Memory> store;  ///< roots and their verified CRLs; never modified once published
  std::vector<Botan::X509_Certificate> roots;
  std::vector<std::shared_ptr<const Botan::X509_CRL>> crls;  ///< the newest CRL per issuer
  std::vector<std::string> load_problems;                    ///< stored CRLs refused when the store was opened
};

/// The certificates and CRLs a node trusts: in memory, or persistent in SQLite (roots in Botan's
/// Certificate_Store_In_SQL over Botan::Sqlite3_Database, CRLs in a table next to it, because Botan's
/// SQL store only keeps revocation entries and rebuilds unsigned CRLs from them).
///
/// Revocation fails closed: by default validation needs a fresh CRL signed by a trusted root; a CRL
/// older than the newest one seen for its issuer (CRL number, RFC 5280 §5.2.3) is refused; CRLs read
/// back from SQLite are re-verified against the roots and against a table of the newest CRL number
/// seen per issuer, so a deleted, tampered or rolled-back CRL row leaves the issuer without revocation
/// information (refusal) instead of un-revoking a device. An attacker who rewrites the whole database
/// consistently (roots, CRLs and the seen-numbers table) is not detected: that needs state outside it.
/// Thread-safe: readers copy a shared_ptr to an immutable snapshot under a short lock; writers
/// serialise on the same lock and publish a new snapshot.
class trust_store {
public:
  /// An empty store in memory.
  /// @throws hefl::invalid_argument if @p opts.max_chain_length is 0.
  [[nodiscard]] static trust_store in_memory(trust_options opts = {}) { return trust_store(opts); }

  /// Opens (creating if needed) a store in the SQLite file @p file and loads its roots and CRLs.
  /// Stored CRLs that do not parse, are not signed by a stored root, or are older than the newest seen
  /// for their issuer are not loaded; each is listed in load_problems() and named in the reason of
  /// every refusal it causes.
  /// @throws hefl::io_error if the database cannot be opened or read.
  /// @throws hefl::invalid_argument if @p opts.max_chain_length is 0.
  [[nodiscard]] static trust_store open_sqlite(const std::filesystem::path& file, trust_options opts = {}) {
    trust_store s(opts);
    trust_snapshot snap;
    try {
      s.m_db = std::make_shared<Botan::Sqlite3_Database>(file.string());
      // Botan's store encrypts private keys with this passphrase; this store never holds private keys.
      s.m_sql = std::make_unique<Botan::Certificate_Store_In_SQL>(s.m_db, "hefl-trust-store-holds-no-private-keys",
                                                                  *s.m_rng, "hefl_");
      s.m_db->create_table("CREATE TABLE IF NOT EXISTS hefl_crls (issuer BLOB PRIMARY KEY, der BLOB NOT NULL)");
      s.m_db->create_table("CREATE TABLE IF NOT EXISTS hefl_crl_seen (issuer BLOB PRIMARY KEY, "
                           "crl_number INTEGER NOT NULL, issuer_name TEXT NOT NULL)");
      for (const auto& dn : s.m_sql->all_subjects()) {
        for (const auto& c : s.m_sql->find_all_certs(dn, {})) {
          if (c->is_CA_cert() && c->is_self_signed() && c->check_signature(*c->load_subject_public_key()))
            snap.roots.push_back(*c);
          else
            snap.load_problems.push_back("stored root \"" + c->subject_dn().to_string() + "\" is not a self-signed CA certificate");
        }
      }
      auto seen = s.m_db->new_statement("SELECT issuer, crl_number, issuer_name FROM hefl_crl_seen");
      std::vector<std::pair<std::vector<std::uint8_t>, std::string>> seen_names;
      while (seen->step()) {
        auto key = detail::sql_blob(*seen, 0);
        s.m_seen[key] = static_cast<std::uint32_t>(seen->get_size_t(1));
        seen_names.emplace_back(std::move(key), seen->get_str(2));
      }
      std::set<std::vector<std::uint8_t>> rows_present;
      auto rows = s.m_db->new_statement("SELECT issuer, der FROM hefl_crls");
      while (rows->step()) {
        const auto row_key = detail::sql_blob(*rows, 0);
        rows_present.insert(row_key);
        const auto der = detail::sql_blob(*rows, 1);
        std::shared_ptr<const Botan::X509_CRL> crl;
        try {
          crl = std::make_shared<const Botan::X509_CRL>(der);
        } catch (const Botan::Exception& e) {
          std::string name = "an unknown issuer";
          for (const auto& [key, n] : seen_names) {
            if (key == row_key) name = "\"" + n + "\"";
          }
          snap.load_problems.push_back("stored CRL from " + name + " does not parse: " + e.what());
          continue;
        }
        const auto problem = s.refusal(*crl, snap.roots);
        if (!problem.empty()) {
          snap.load_problems.push_back("stored CRL from \"" + crl->issuer_dn().to_string() + "\": " + problem);
          continue;
        }
        s.m_seen[issuer_key(*crl)] = crl->crl_number();
        replace_crl(snap.crls, crl);
      }
      for (const auto& [key, name] : seen_names) {
        if (!rows_present.contains(key))
          snap.load_problems.push_back("the CRL from \"" + name + "\" is missing from the database (last seen CRL number " +
                                       std::to_string(s.m_seen[key]) + ")");
      }
    } catch (const Botan::Exception& e) {
      throw io_error("trust store " + file.string() + ": " + e.what());
    }
    s.publish(std::move(snap));
    return s;
  }

  trust_store(trust_store&&) noexcept = default;
  trust_store& operator=(trust_store&&) noexcept = default;

  /// Whether the store lives in SQLite.
  [[nodiscard]] bool persistent() const noexcept { return m_sql != nullptr; }
  /// The store's configuration.
  [[nodiscard]] const trust_options& options() const noexcept { return m_options; }

  /// Trusts a root CA certificate (idempotent).
  /// @throws hefl::invalid_argument if @p root is not a self-signed CA certificate that verifies under its own key.
  /// @throws hefl::io_error if the SQLite write fails.
  void add_root(const Botan::X509_Certificate& root) {
    if (!root.is_CA_cert()) throw invalid_argument("trust store: \"" + root.subject_dn().to_string() + "\" is not a CA certificate");
    if (!root.is_self_signed() || !root.check_signature(*root.load_subject_public_key()))
      throw invalid_argument("trust store: \"" + root.subject_dn().to_string() + "\" is not a self-signed root");
    std::lock_guard lock(*m_mutex);
    for (const auto& r : m_snapshot->roots) {
      if (r == root) return;
    }
    try {
      if (m_sql) m_sql->insert_cert(root);
    } catch (const Botan::Exception& e) {
      throw io_error(std::string("trust store: storing a root failed: ") + e.what());
    }
    trust_snapshot next = *m_snapshot;
    next.roots.push_back(root);
    publish(std::move(next));
  }

  /// Installs a CRL signed by one of the trusted roots, replacing the previous one from the same
  /// issuer. Re-adding the newest CRL is harmless.
  /// @throws hefl::security_error if no trusted root signed @p crl, or if it is older than the newest
  ///         CRL seen from its issuer ("rollback"), or carries the newest CRL number with other content.
  /// @throws hefl::io_error if the SQLite write fails.
  void add_crl(const Botan::X509_CRL& crl) {
    std::lock_guard lock(*m_mutex);
    const auto problem = refusal(crl, m_snapshot->roots);
    if (!problem.empty()) throw security_error("trust store: CRL from \"" + crl.issuer_dn().to_string() + "\": " + problem);
    const auto key = issuer_key(crl);
    for (const auto& c : m_snapshot->crls) {
      if (issuer_key(*c) == key && c->crl_number() == crl.crl_number()) {
        if (c->BER_encode() == crl.BER_encode()) return;
        throw security_error("trust store: CRL from \"" + crl.issuer_dn().to_string() + "\" reuses CRL number " +
                             std::to_string(crl.crl_number()) + " with different content");
      }
    }
    if (m_db) {
      try {
        detail::sql_exec(*m_db, "BEGIN IMMEDIATE");
        auto stmt = m_db->new_statement("INSERT OR REPLACE INTO hefl_crls (issuer, der) VALUES (?1, ?2)");
        stmt->bind(1, key);
        stmt->bind(2, crl.BER_encode());
        stmt->spin();
        const bool crl_written = detail::sql_changes(*m_db) == 1;
        auto seen = m_db->new_statement("INSERT OR REPLACE INTO hefl_crl_seen (issuer, crl_number, issuer_name) VALUES (?1, ?2, ?3)");
        seen->bind(1, key);
        seen->bind(2, static_cast<std::size_t>(crl.crl_number()));
        seen->bind(3, crl.issuer_dn().to_string());
        seen->spin();
        const bool seen_written = detail::sql_changes(*m_db) == 1;
        if (!crl_written || !seen_written) {
          detail::sql_exec(*m_db, "ROLLBACK");
          throw io_error("trust store: the CRL was not written to the database");
        }
        detail::sql_exec(*m_db, "COMMIT");
      } catch (const Botan::Exception& e) {
        try {
          detail::sql_exec(*m_db, "ROLLBACK");
        } catch (...) {  // already reporting the first failure
        }
        throw io_error(std::string("trust store: storing a CRL failed: ") + e.what());
      }
    }
    m_seen[key] = crl.crl_number();
    trust_snapshot next = *m_snapshot;
    replace_crl(next.crls, std::make_shared<const Botan::X509_CRL>(crl));
    // A newer CRL from this issuer settles what was refused at load for it.
    std::erase_if(next.load_problems, [&](const std::string& p) {
      return p.find("\"" + crl.issuer_dn().to_string() + "\"") != std::string::npos;
    });
    publish(std::move(next));
  }

  /// The trusted roots.
  [[nodiscard]] std::vector<Botan::X509_Certificate> roots() const { return snapshot()->roots; }

  /// Number of CRLs held (one per issuer).
  [[nodiscard]] std::size_t crl_count() const { return snapshot()->crls.size(); }

  /// Stored CRLs refused when the store was opened (empty for a healthy store).
  [[nodiscard]] std::vector<std::string> load_problems() const { return snapshot()->load_problems; }

  /// The current contents, for path validation; holding it keeps it alive and unchanged.
  [[nodiscard]] std::shared_ptr<const trust_snapshot> snapshot() const {
    std::lock_guard lock(*m_mutex);
    return m_snapshot;
  }

private:
  explicit trust_store(trust_options opts)
      : m_rng(std::make_unique<Botan::AutoSeeded_RNG>()), m_mutex(std::make_unique<std::mutex>()), m_options(opts) {
    if (opts.max_chain_length == 0) throw invalid_argument("trust store: max_chain_length must be at least 1 (the leaf)");
    publish(trust_snapshot{});
  }

  /// Issuer DN and authority key id: one CRL sequence per (name, key), so a rogue CA with the same
  /// name never shares a sequence with the real one.
  static std::vector<std::uint8_t> issuer_key(const Botan::X509_CRL& crl) {
    auto key = crl.issuer_dn().BER_encode();
    const auto& akid = crl.authority_key_id();
    key.insert(key.end(), akid.begin(), akid.end());
    return key;
  }

  /// Why @p crl cannot be installed (empty if it can): not signed by one of @p roots, or older than
  /// the newest seen from its issuer.
  std::string refusal(const Botan::X509_CRL& crl, const std::vector<Botan::X509_Certificate>& roots) const {
    bool signed_by_root = false;
    for (const auto& root : roots) {
      if (detail::issued_by(crl, crl.issuer_dn(), crl.authority_key_id(), root)) signed_by_root = true;
    }
    if (!signed_by_root) return "not signed by a trusted root";
    const auto it = m_seen.find(issuer_key(crl));
    if (it != m_seen.end() && crl.crl_number() < it->second)
      return "rollback refused: CRL number " + std::to_string(crl.crl_number()) + " is older than number " +
             std::to_string(it->second) + " already seen";
    return {};
  }

  static void replace_crl(std::vector<std::shared_ptr<const Botan::X509_CRL>>& crls,
                          std::shared_ptr<const Botan::X509_CRL> crl) {
    for (auto& c : crls) {
      if (issuer_key(*c) == issuer_key(*crl)) {
        if (c->crl_number() <= crl->crl_number()) c = std::move(crl);
        return;
      }
    }
    crls.push_back(std::move(crl));
  }

  /// Builds the Botan store for @p next and makes it current. Caller holds m_mutex (or is constructing).
  void publish(trust_snapshot next) {
    next.store = std::make_shared<Botan::Certificate_Store_In_Memory>();
    for (const auto& r : next.roots) next.store->add_certificate(r);
    for (const auto& c : next.crls) next.store->add_crl(c);
    m_snapshot = std::make_shared<const trust_snapshot>(std::move(next));
  }

  std::unique_ptr<Botan::RandomNumberGenerator> m_rng;  // Botan's SQL store keeps a reference to it
  std::unique_ptr<std::mutex> m_mutex;                  // guards m_snapshot, m_seen and the database
  trust_options m_options;
  std::shared_ptr<const trust_snapshot> m_snapshot;
  std::map<std::vector<std::uint8_t>, std::uint32_t> m_seen;  // newest CRL number per issuer_key
  std::shared_ptr<Botan::Sqlite3_Database> m_db;
  std::unique_ptr<Botan::Certificate_Store_In_SQL> m_sql;
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
  invalid_key,             ///< trusted certificate whose public key fails validation (degenerate DSA group, small-order point, ...), or a presented key too large or of an unaccepted kind (check_key_cost), refused before path building
  chain_too_long,          ///< more certificates presented than the store's max_chain_length; refused before path building
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
    case chain_status::invalid_key: return "invalid_key";
    case chain_status::chain_too_long: return "chain_too_long";
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
/// then checks the leaf's public key (check_public_key, subgroup depth), reads the holder's identity
/// and checks its role. A chain longer than the store's max_chain_length, or one presenting a key too
/// large to verify under cheaply (check_key_cost), is refused before any path is built; revocation information is required unless the store opted out (trust_options).
/// Path building runs on a snapshot of the store, with no lock held.
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
    const auto& opts = store.options();
    if (chain.size() > opts.max_chain_length) {
      v.status = chain_status::chain_too_long;
      v.reason = "chain_too_long: " + std::to_string(chain.size()) + " certificates presented, at most " +
                 std::to_string(opts.max_chain_length) + " accepted";
      return v;
    }
    // Before Botan loads a key or verifies a signature: a presented key too large to verify cheaply.
    for (std::size_t i = 0; i < chain.size(); ++i) {
      if (const auto cost = check_key_cost(chain[i]); !cost) {
        v.status = chain_status::invalid_key;
        v.reason = "invalid_key: presented certificate " + std::to_string(i) + ": " + cost.reason;
        return v;
      }
    }
    Botan::Usage_Type botan_usage = Botan::Usage_Type::UNSPECIFIED;
    if (usage == cert_usage::tls_client) botan_usage = Botan::Usage_Type::TLS_CLIENT_AUTH;
    if (usage == cert_usage::tls_server) botan_usage = Botan::Usage_Type::TLS_SERVER_AUTH;
    const auto snap = store.snapshot();
    const std::vector<Botan::Certificate_Store*> stores{snap->store.get()};
    const bool require_revocation = opts.revocation == revocation_policy::required;
    const auto result = Botan::x509_path_validate(chain, Botan::Path_Validation_Restrictions(require_revocation, 110),
                                                  stores, "", botan_usage, now);
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
      if (worst == chain_status::revocation_unavailable) {
        for (const auto& p : snap->load_problems) v.reason += "; " + p;
      }
      return v;
    }
    const auto& leaf = chain.front();
    const std::unique_ptr<Botan::Public_Key> leaf_key = leaf.load_subject_public_key();
    if (const auto check = check_public_key(*leaf_key, key_check_depth::subgroup); !check) {
      v.status = chain_status::invalid_key;
      v.reason = "invalid_key: " + std::string(to_string(check.defect)) + ": " + check.reason;
      return v;
    }
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
