// The hospital PKI the storage guard, access controller and Ethereum attack tests share: a CA and a
// rogue CA with the same name, a trust store holding the CA's root and CRL, a registry, the identity
// directory, certificates issued by either CA, and per-device ECDSA P-256 keys with their certificates.
#pragma once

#include <hefl/iot/hospital/access.hpp>
#include <hefl/iot/storage/storage_guard.hpp>

#include <catch2/catch.hpp>

#include <botan/auto_rng.h>
#include <botan/ec_group.h>
#include <botan/ecdsa.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace hefl_test {

/// The other valid ECDSA P-256 signature (r, n - s) of a 64-byte (r, s): other bytes, same message
/// (how a replay under a used nonce gets past a byte-for-byte duplicate check).
inline std::vector<std::uint8_t> malleated(const std::vector<std::uint8_t>& rs) {
  REQUIRE(rs.size() == 64);
  const Botan::EC_Group p256("secp256r1");
  const auto flipped = Botan::BigInt::encode_1363(p256.get_order() - Botan::BigInt(rs.data() + 32, 32), 32);
  std::vector<std::uint8_t> out(rs.begin(), rs.begin() + 32);
  out.insert(out.end(), flipped.begin(), flipped.end());
  return out;
}

/// A hospital's CA (and a rogue CA with the same name), its trust store with root and CRL (revocation
/// information is required by default), registry and identity directory.
struct hospital_pki {
  Botan::AutoSeeded_RNG rng;
  hefl::iot::clock_time t0 = std::chrono::system_clock::now();
  hefl::iot::certificate_authority ca{"St Mary Hospital", t0 - std::chrono::hours(2)};
  hefl::iot::certificate_authority rogue{"St Mary Hospital", t0 - std::chrono::hours(2)};
  hefl::iot::trust_store trust = hefl::iot::trust_store::in_memory();
  hefl::iot::registry reg;
  hefl::iot::identity_directory keys;
  std::map<hefl::iot::sgtin96, std::unique_ptr<Botan::ECDSA_PrivateKey>> device_keys;  // what each device signs with

  hospital_pki() {
    trust.add_root(ca.root());
    trust.add_crl(ca.crl());
  }

  /// A certificate for @p key with role @p r and subject @p subject, valid from t0 - 1 h for 30 days,
  /// issued by the hospital's CA or @p by.
  Botan::X509_Certificate issue(const Botan::Public_Key& key, hefl::iot::role r, const std::string& subject,
                                hefl::iot::certificate_authority* by = nullptr) {
    hefl::iot::identity id;
    id.role = r;
    id.subject_id = subject;
    return (by ? *by : ca).issue(key, id, t0 - std::chrono::hours(1), std::chrono::hours(24 * 30));
  }

  /// The key device @p epc signs with (made on first use).
  Botan::ECDSA_PrivateKey& key_of(const hefl::iot::sgtin96& epc) {
    auto& k = device_keys[epc];
    if (!k) k = std::make_unique<Botan::ECDSA_PrivateKey>(rng, Botan::EC_Group("secp256r1"));
    return *k;
  }

  /// Device @p epc's certificate (group 1, the vital-signs group) for key_of(epc).
  Botan::X509_Certificate issue_device(const hefl::iot::sgtin96& epc, const std::string& subject) {
    hefl::iot::identity id;
    id.role = hefl::iot::role::device;
    id.subject_id = subject;
    id.device_epc = epc;
    id.group_id = 1;
    return ca.issue(key_of(epc), id, t0 - std::chrono::hours(1), std::chrono::hours(24 * 30));
  }
};

} // namespace hefl_test
