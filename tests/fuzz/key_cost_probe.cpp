// Measures what one hostile chain costs: a leaf plus a fake intermediate in the root's name whose RSA
// key has a <bits>-bit modulus and an <exponent bits>-bit public exponent (docs/fuzzing.md, "Findings
// and fixes"). Prints the time of Botan's x509_path_validate on it (what validate_chain ran before
// check_key_cost) and of validate_chain now. An ordinary main, built with the harnesses:
//   build-fuzz/tests/fuzz/hefl_fuzz_key_cost_probe [bits = 16384] [exponent bits = bits - 1]
#include <hefl/iot/pki/pki.hpp>

#include <botan/auto_rng.h>
#include <botan/ecdsa.h>
#include <botan/pubkey.h>
#include <botan/rsa.h>
#include <botan/x509_ca.h>
#include <botan/x509path.h>

#include <chrono>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  using namespace hefl::iot;
  const std::size_t bits = argc > 1 ? std::stoul(argv[1]) : 16384;
  const std::size_t ebits = argc > 2 ? std::stoul(argv[2]) : bits - 1;
  Botan::AutoSeeded_RNG rng;
  const auto start = clock_time(std::chrono::seconds(1767225600));
  const auto now = start + std::chrono::hours(24);
  certificate_authority ca(std::make_unique<Botan::ECDSA_PrivateKey>(rng, Botan::EC_Group("secp256r1")), "Probe Hospital", start);
  auto store = trust_store::in_memory();
  store.add_root(ca.root());
  store.add_crl(ca.crl());
  // The fake key: any odd n and e (no private key exists); the certificate is signed by an unrelated key.
  Botan::BigInt n(rng, bits);
  n.set_bit(0);
  n.set_bit(bits - 1);
  Botan::BigInt e(rng, ebits);
  e.set_bit(0);
  e.set_bit(ebits - 1);
  const Botan::RSA_PublicKey fake(n, e);
  const Botan::ECDSA_PrivateKey other(rng, Botan::EC_Group("secp256r1"));
  Botan::X509_DN evil;
  evil.add_attribute("X520.CommonName", "Evil CA");
  Botan::Extensions ext;
  ext.add(new Botan::Cert_Extension::Basic_Constraints(true, 0), true);
  Botan::AlgorithmIdentifier alg;
  std::unique_ptr<Botan::PK_Signer> s1(Botan::choose_sig_format(other, rng, "SHA-256", alg));
  const auto inter = Botan::X509_CA::make_cert(s1.get(), rng, Botan::BigInt(7), alg, fake.subject_public_key(),
                                               Botan::X509_Time(start), Botan::X509_Time(start + std::chrono::hours(24 * 365)),
                                               ca.root().subject_dn(), evil, ext);
  // The leaf names the fake intermediate as issuer and carries an RSA signature, so Botan verifies it under the fake key.
  const Botan::RSA_PrivateKey leaf_signer(rng, 2048);
  const Botan::ECDSA_PrivateKey device(rng, Botan::EC_Group("secp256r1"));
  Botan::X509_DN dn;
  dn.add_attribute("X520.CommonName", "icu-monitor-1");
  Botan::AlgorithmIdentifier alg2;
  std::unique_ptr<Botan::PK_Signer> s2(Botan::choose_sig_format(leaf_signer, rng, "SHA-256", alg2));
  const auto leaf = Botan::X509_CA::make_cert(s2.get(), rng, Botan::BigInt(8), alg2, device.subject_public_key(),
                                              Botan::X509_Time(start), Botan::X509_Time(start + std::chrono::hours(24 * 365)),
                                              evil, dn, Botan::Extensions());
  const std::vector<Botan::X509_Certificate> chain{leaf, inter};
  std::cout << "leaf " << leaf.BER_encode().size() << " bytes, intermediate " << inter.BER_encode().size()
            << " bytes (RSA modulus " << bits << " bits, exponent " << ebits << " bits)\n";
  const auto snap = store.snapshot();
  const std::vector<Botan::Certificate_Store*> stores{snap->store.get()};
  const auto t0 = std::chrono::steady_clock::now();
  const auto botan = Botan::x509_path_validate(chain, Botan::Path_Validation_Restrictions(true, 110), stores, "",
                                               Botan::Usage_Type::TLS_CLIENT_AUTH, now);
  const auto t1 = std::chrono::steady_clock::now();
  const auto v = validate_chain(chain, store, cert_usage::tls_client, now);
  const auto t2 = std::chrono::steady_clock::now();
  std::cout << "Botan x509_path_validate: " << botan.result_string() << " in "
            << std::chrono::duration<double>(t1 - t0).count() << " s\n";
  std::cout << "validate_chain: " << to_string(v.status) << " in " << std::chrono::duration<double>(t2 - t1).count()
            << " s (" << v.reason << ")\n";
  return v.status == chain_status::invalid_key ? 0 : 1;
}
