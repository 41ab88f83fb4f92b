#pragma once
/// @file
/// Ethereum account keys: secp256k1 ECDSA (SEC 2 v2 §2.4.1; SEC 1 v2 §4.1) with low-s signatures and
/// a recovery id (SEC 1 §4.1.6), and the account address, the last 20 bytes of the Keccak-256 of the
/// 64-byte public point (Ethereum yellow paper, eq. 284). Nonces are deterministic (RFC 6979 with
/// HMAC-SHA-256, Botan's ECDSA when the EMSA names SHA-256), so signatures match libsecp256k1's.

#include <hefl/core/error.hpp>
#include <hefl/core/random.hpp>
#include <hefl/iot/ledger/ethereum/keccak.hpp>

#include <botan/auto_rng.h>
#include <botan/bigint.h>
#include <botan/ec_group.h>
#include <botan/ecdsa.h>
#include <botan/kdf.h>
#include <botan/pubkey.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace hefl::iot::ethereum {

using address = std::array<std::uint8_t, 20>;
using public_point = std::array<std::uint8_t, 64>;  ///< x || y, big-endian, without SEC 1's 0x04 prefix

/// A signature (r, s) with s ≤ n/2 (EIP-2) and the parity bit of R's y coordinate.
struct recoverable_signature {
  hash32 r{};
  hash32 s{};
  std::uint8_t recovery_id = 0;  ///< 0 or 1
};

namespace secp256k1_detail {
inline const Botan::EC_Group& group() {
  static const Botan::EC_Group g("secp256k1");
  return g;
}
inline hash32 to32(const Botan::BigInt& v) {
  hash32 out{};
  v.binary_encode(out.data(), out.size());
  return out;
}
inline public_point point_bytes(const Botan::PointGFp& p) {
  const auto enc = p.encode(Botan::PointGFp::UNCOMPRESSED);  // 0x04 || x || y
  public_point out{};
  std::copy(enc.begin() + 1, enc.end(), out.begin());
  return out;
}
} // namespace secp256k1_detail

/// The Ethereum address of a public point.
inline address address_of(const public_point& pub) {
  const hash32 h = keccak256(pub);
  address out{};
  std::copy(h.begin() + 12, h.end(), out.begin());
  return out;
}

/// Recovers the public point that made a signature over a 32-byte hash (SEC 1 §4.1.6).
/// @throws security_error if r or s is 0 or ≥ n, s is high (> n/2), or no point matches
inline public_point recover_public_point(const hash32& hash, const recoverable_signature& sig) {
  const auto& g = secp256k1_detail::group();
  const Botan::BigInt r(sig.r.data(), sig.r.size()), s(sig.s.data(), sig.s.size());
  const Botan::BigInt& n = g.get_order();
  if (r.is_zero() || s.is_zero() || r >= n || s >= n) throw security_error("secp256k1: r or s outside [1, n-1]");
  if (s > (n >> 1)) throw security_error("secp256k1: high s refused (EIP-2 allows only s <= n/2)");
  if (sig.recovery_id > 1) throw security_error("secp256k1: recovery id " + std::to_string(sig.recovery_id) + " is not 0 or 1");
  try {
    const Botan::ECDSA_PublicKey pub(g, std::vector<std::uint8_t>(hash.begin(), hash.end()), r, s, sig.recovery_id);
    return secp256k1_detail::point_bytes(pub.public_point());
  } catch (const Botan::Exception& e) {
    throw security_error(std::string("secp256k1: no public key recovers from this signature: ") + e.what());
  }
}

/// A secp256k1 private key of an Ethereum account. Never printed or logged.
class secp256k1_key {
public:
  /// Loads a 32-byte big-endian secret.
  /// @throws invalid_argument if the secret is 0 or ≥ the group order n
  explicit secp256k1_key(std::span<const std::uint8_t, 32> secret) {
    const Botan::BigInt x(secret.data(), secret.size());
    if (x.is_zero() || x >= secp256k1_detail::group().get_order())
      throw invalid_argument("secp256k1: a private key must lie in [1, n-1]");
    Botan::AutoSeeded_RNG rng;  // only for blinding while computing the public point
    m_key = std::make_shared<const Botan::ECDSA_PrivateKey>(rng, secp256k1_detail::group(), x);
    m_public = secp256k1_detail::point_bytes(m_key->public_point());
  }

  /// A fresh key: 32 bytes from @p rng, drawn again while outside [1, n-1].
  static secp256k1_key generate(random_source& rng) {
    std::array<std::uint8_t, 32> secret{};
    for (;;) {
      rng.fill(secret);
      const Botan::BigInt x(secret.data(), secret.size());
      if (!x.is_zero() && x < secp256k1_detail::group().get_order()) break;
    }
    secp256k1_key key(secret);
    std::fill(secret.begin(), secret.end(), std::uint8_t{0});
    return key;
  }

  [[nodiscard]] const public_point& public_key() const noexcept { return m_public; }
  [[nodiscard]] address account() const { return address_of(m_public); }

  /// Signs a 32-byte hash: deterministic (RFC 6979, HMAC-SHA-256), s normalised to ≤ n/2 (EIP-2).
  [[nodiscard]] recoverable_signature sign_hash(const hash32& hash) const {
    Botan::AutoSeeded_RNG rng;  // Botan blinds the scalar multiplications with it; k comes from RFC 6979
    // "Raw(SHA-256)": the hash is signed as is, and RFC 6979 runs its HMAC_DRBG over SHA-256.
    Botan::PK_Signer signer(*m_key, rng, "Raw(SHA-256)", Botan::IEEE_1363);
    const auto rs = signer.sign_message(hash.data(), hash.size(), rng);
    const auto& n = secp256k1_detail::group().get_order();
    const Botan::BigInt r(rs.data(), 32);
    Botan::BigInt s(rs.data() + 32, 32);
    if (s > (n >> 1)) s = n - s;
    recoverable_signature out{secp256k1_detail::to32(r), secp256k1_detail::to32(s), 0};
    out.recovery_id = m_key->recovery_param(std::vector<std::uint8_t>(hash.begin(), hash.end()), r, s);
    // Ids 2 and 3 (R's x coordinate ≥ n) have probability about 2^-128 and no legacy-v encoding.
    if (out.recovery_id > 1) throw security_error("secp256k1: recovery id > 1, sign again with another message");
    return out;
  }

  /// A 32-byte secret for another purpose (a MAC key, say), derived from this account key with
  /// HKDF-SHA-256 (RFC 5869), @p purpose as its info: one key for the account holder to keep, none to
  /// store beside it, and no way back from the derived secret to the account key.
  /// @throws invalid_argument if @p purpose is empty
  [[nodiscard]] Botan::secure_vector<std::uint8_t> derive_secret(std::string_view purpose) const {
    if (purpose.empty()) throw invalid_argument("secp256k1: derive_secret needs a purpose");
    const auto secret = Botan::BigInt::encode_1363(m_key->private_value(), 32);
    const auto kdf = Botan::KDF::create_or_throw("HKDF(SHA-256)");
    static constexpr std::string_view salt = "hefl secp256k1 derive_secret v1";
    return kdf->derive_key(32, secret.data(), secret.size(), reinterpret_cast<const std::uint8_t*>(salt.data()),
                           salt.size(), reinterpret_cast<const std::uint8_t*>(purpose.data()), purpose.size());
  }

private:
  std::shared_ptr<const Botan::ECDSA_PrivateKey> m_key;
  public_point m_public{};
};

} // namespace hefl::iot::ethereum
