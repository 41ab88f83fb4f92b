#pragma once
/// @file
/// The strict TLS policy of hefl's transport. Botan 2.19 (Debian 12) implements TLS up to 1.2 only, so
/// this is TLS 1.2 (RFC 5246) with ECDHE-ECDSA and AEAD suites: AES-GCM (RFC 5288/5289) and
/// ChaCha20-Poly1305 (RFC 7905). No TLS 1.3 is offered because the platform's Botan has none.

#include <botan/tls_policy.h>

#include <string>
#include <vector>

namespace hefl::net {

/// TLS 1.2 only, ECDHE key exchange, ECDSA signatures with SHA-2, AEAD ciphers only, client
/// certificate required, no renegotiation, no session tickets. Peer chains are verified by hefl's
/// trust store (iot::validate_chain) in the connection callbacks, not by Botan's default verifier.
class strict_policy final : public Botan::TLS::Policy {
public:
  std::vector<std::string> allowed_ciphers() const override {
    return {"ChaCha20Poly1305", "AES-256/GCM", "AES-128/GCM"};
  }
  std::vector<std::string> allowed_macs() const override { return {"AEAD"}; }
  std::vector<std::string> allowed_key_exchange_methods() const override { return {"ECDH"}; }
  std::vector<std::string> allowed_signature_methods() const override { return {"ECDSA"}; }
  std::vector<std::string> allowed_signature_hashes() const override { return {"SHA-512", "SHA-384", "SHA-256"}; }
  std::vector<Botan::TLS::Group_Params> key_exchange_groups() const override {
    return {Botan::TLS::Group_Params::X25519, Botan::TLS::Group_Params::SECP256R1,
            Botan::TLS::Group_Params::SECP384R1};
  }
  bool allow_tls10() const override { return false; }
  bool allow_tls11() const override { return false; }
  bool allow_tls12() const override { return true; }
  bool allow_dtls10() const override { return false; }
  bool allow_dtls12() const override { return false; }
  bool require_client_certificate_authentication() const override { return true; }
  bool request_client_certificate_authentication() const override { return true; }
  bool require_cert_revocation_info() const override { return true; }
  bool allow_insecure_renegotiation() const override { return false; }
  bool allow_client_initiated_renegotiation() const override { return false; }
  bool allow_server_initiated_renegotiation() const override { return false; }
  bool server_uses_own_ciphersuite_preferences() const override { return true; }
  bool include_time_in_hello_random() const override { return false; }
  bool hide_unknown_users() const override { return true; }
  std::uint32_t session_ticket_lifetime() const override { return 0; }
  std::size_t minimum_signature_strength() const override { return 110; }
  std::size_t minimum_ecdsa_group_size() const override { return 256; }
  std::size_t minimum_ecdh_group_size() const override { return 255; }
  /// Botan's own cap on the Certificate message; hefl's trust store caps the chain again (max_chain_length).
  std::size_t maximum_certificate_chain_size() const override { return 16 * 1024; }
};

} // namespace hefl::net
