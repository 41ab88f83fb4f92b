#pragma once
/// @file
/// What one end of a mutual-TLS connection presents and trusts: its certificate chain from the
/// hospital CA, its ECDSA P-256 key, and the trust store (roots + CRLs) its peer is checked against.

#include <hefl/core/error.hpp>
#include <hefl/iot/pki/pki.hpp>
#include <hefl/net/validation_cache.hpp>

#include <botan/credentials_manager.h>
#include <botan/ecdsa.h>
#include <botan/x509cert.h>

#include <memory>
#include <string>
#include <vector>

namespace hefl::net {

/// Certificate chain + key + trust store of one TLS endpoint. The trust store is shared, so a CRL
/// added to it later (a device revoked mid-run) applies to the next handshake.
class tls_credentials {
public:
  /// @param chain end-entity certificate first (a hospital leaf is enough)
  /// @param key the leaf's private key; must be ECDSA on P-256 (Botan 2.19 cannot do TLS with Ed25519)
  /// @param trust the roots and CRLs the peer's chain is validated against
  /// @throws hefl::invalid_argument if the chain is empty, the key is not ECDSA P-256, the key does
  ///         not match the leaf, or @p trust is null.
  tls_credentials(std::vector<Botan::X509_Certificate> chain, std::shared_ptr<const Botan::Private_Key> key,
                  std::shared_ptr<const iot::trust_store> trust)
      : m_chain(std::move(chain)), m_key(std::move(key)), m_trust(std::move(trust)) {
    if (m_chain.empty()) throw invalid_argument("tls credentials: expected a certificate chain, got none");
    if (!m_key) throw invalid_argument("tls credentials: expected a private key, got null");
    if (!m_trust) throw invalid_argument("tls credentials: expected a trust store, got null");
    const auto* ec = dynamic_cast<const Botan::ECDSA_PrivateKey*>(m_key.get());
    if (!ec || ec->domain() != Botan::EC_Group("secp256r1"))
      throw invalid_argument("tls credentials: expected an ECDSA P-256 key, got " + m_key->algo_name());
    if (m_chain.front().subject_public_key_info() != m_key->subject_public_key())
      throw invalid_argument("tls credentials: the key does not match the certificate \"" +
                             m_chain.front().subject_dn().to_string() + "\"");
  }

  [[nodiscard]] const std::vector<Botan::X509_Certificate>& chain() const noexcept { return m_chain; }
  [[nodiscard]] const Botan::Private_Key& key() const noexcept { return *m_key; }
  [[nodiscard]] const iot::trust_store& trust() const noexcept { return *m_trust; }

  /// Validates peer chains through @p cache (shared by the copies made after this call; null = none).
  tls_credentials& use_validation_cache(std::shared_ptr<validation_cache> cache) noexcept {
    m_cache = std::move(cache);
    return *this;
  }
  /// iot::validate_chain against trust(), through the validation cache if one is set.
  [[nodiscard]] iot::chain_verdict validate_peer(const std::vector<Botan::X509_Certificate>& chain,
                                                 iot::cert_usage usage, iot::clock_time now,
                                                 iot::role_set roles) const noexcept {
    return m_cache ? m_cache->validate(chain, *m_trust, usage, now, roles)
                   : iot::validate_chain(chain, *m_trust, usage, now, roles);
  }

private:
  std::vector<Botan::X509_Certificate> m_chain;
  std::shared_ptr<const Botan::Private_Key> m_key;
  std::shared_ptr<const iot::trust_store> m_trust;
  std::shared_ptr<validation_cache> m_cache;
};

namespace detail {

/// Botan's view of tls_credentials for one connection. Returning the trusted roots for "tls-server"
/// is what makes Botan's server send a CertificateRequest; the snapshot is kept alive for the
/// connection's lifetime because Botan holds raw pointers to its store.
class credentials_adapter final : public Botan::Credentials_Manager {
public:
  explicit credentials_adapter(const tls_credentials& creds) : m_creds(creds) {}

  std::vector<Botan::Certificate_Store*> trusted_certificate_authorities(const std::string&,
                                                                         const std::string&) override {
    if (!m_snapshot) m_snapshot = m_creds.trust().snapshot();
    return {m_snapshot->store.get()};
  }
  std::vector<Botan::X509_Certificate> cert_chain(const std::vector<std::string>& key_types, const std::string&,
                                                  const std::string&) override {
    for (const auto& t : key_types) {
      if (t == "ECDSA") return m_creds.chain();
    }
    return {};
  }
  Botan::Private_Key* private_key_for(const Botan::X509_Certificate& cert, const std::string&,
                                      const std::string&) override {
    if (cert == m_creds.chain().front()) return const_cast<Botan::Private_Key*>(&m_creds.key());
    return nullptr;
  }

private:
  const tls_credentials& m_creds;
  std::shared_ptr<const iot::trust_snapshot> m_snapshot;
};

} // namespace detail

} // namespace hefl::net
