#pragma once
/// @file
/// Public-key validation before a key is certified, trusted or used to verify: degenerate DSA groups
/// (g = 1, y = 1, elements outside the order-q subgroup), small-order and non-canonical Ed25519
/// points, EC points off the curve or on unnamed curves. A key that passes none of this can make one
/// fixed signature verify every message (DSA with g = y = 1: r = 1 always matches; Ed25519 with the
/// identity point: R = identity, S = 0 always matches), so every trust decision checks keys first.
///
/// Three depths, so each caller pays only for what it needs:
///  - encoding: no exponentiation (a few comparisons); used on every signature verification;
///  - subgroup: adds membership of the prime-order subgroup (two modular exponentiations for DSA,
///    an on-curve check for Ed25519); used when a presented certificate is validated;
///  - full: adds Botan's strong self-check (primality of p and q, ...); used when the CA certifies.

#include <botan/asn1_obj.h>
#include <botan/auto_rng.h>
#include <botan/ber_dec.h>
#include <botan/bigint.h>
#include <botan/dl_algo.h>
#include <botan/ec_group.h>
#include <botan/ecc_key.h>
#include <botan/ed25519.h>
#include <botan/numthry.h>
#include <botan/pk_keys.h>
#include <botan/x509cert.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hefl::iot {

/// How much a public key check costs and proves (see the file comment).
enum class key_check_depth { encoding, subgroup, full };

/// Why a public key was refused.
enum class key_defect {
  none,                 ///< the key passed
  unsupported,          ///< not a key object this library can inspect
  bad_encoding,         ///< non-canonical or wrong-length encoding
  insecure_parameters,  ///< group or curve too small, unnamed, or not a valid DSA group (q does not divide p - 1)
  degenerate_element,   ///< g or y is 0, 1, p - 1 or out of range, or the EC point is the identity
  small_order,          ///< an Ed25519 point of order 1, 2, 4 or 8
  not_on_curve,         ///< the point does not satisfy the curve equation
  not_in_subgroup,      ///< g or y outside the order-q subgroup (g^q != 1 or y^q != 1 mod p)
  self_check_failed,    ///< Botan's strong check_key refused the key
};

/// Lower-case name of a key defect ("small_order", ...).
[[nodiscard]] constexpr std::string_view to_string(key_defect d) noexcept {
  switch (d) {
    case key_defect::none: return "none";
    case key_defect::unsupported: return "unsupported";
    case key_defect::bad_encoding: return "bad_encoding";
    case key_defect::insecure_parameters: return "insecure_parameters";
    case key_defect::degenerate_element: return "degenerate_element";
    case key_defect::small_order: return "small_order";
    case key_defect::not_on_curve: return "not_on_curve";
    case key_defect::not_in_subgroup: return "not_in_subgroup";
    case key_defect::self_check_failed: return "self_check_failed";
  }
  return "unknown";
}

/// Outcome of check_public_key(): a typed defect and a message for logs (never contains secrets).
struct key_check_result {
  key_defect defect = key_defect::none;
  std::string reason;  ///< empty when ok

  [[nodiscard]] bool ok() const noexcept { return defect == key_defect::none; }
  explicit operator bool() const noexcept { return ok(); }
};

/// Smallest DSA modulus and subgroup order accepted (FIPS 186-4 §4.2: L = 2048 with N >= 224).
inline constexpr std::size_t min_dsa_p_bits = 2048;
inline constexpr std::size_t min_dsa_q_bits = 224;

namespace detail {

inline key_check_result key_refused(key_defect d, std::string reason) { return {d, std::move(reason)}; }

/// Edwards25519 constants (RFC 8032 §5.1): p = 2^255 - 19, d = -121665/121666 mod p.
struct ed25519_field {
  Botan::BigInt p;
  Botan::BigInt d;
  std::vector<Botan::BigInt> small_order_y;  ///< y of the 8 points of order 1, 2, 4, 8 (5 distinct values)

  ed25519_field() {
    p = (Botan::BigInt(1) << 255) - 19;
    d = (p - Botan::BigInt(121665)) * Botan::inverse_mod(Botan::BigInt(121666), p) % p;
    // Order 1: y = 1; order 2: y = -1; order 4: y = 0. An order-8 point P doubles to y(2P) = 0, i.e.
    // x^2 = -y^2; with the curve equation -x^2 + y^2 = 1 + d x^2 y^2 that is d y^4 + 2 y^2 - 1 = 0.
    small_order_y = {Botan::BigInt(0), Botan::BigInt(1), p - 1};
    const Botan::BigInt root = Botan::ressol((Botan::BigInt(1) + d) % p, p);
    const Botan::BigInt d_inv = Botan::inverse_mod(d, p);
    for (const auto& s : {root, p - root}) {
      const Botan::BigInt y2 = ((p - 1 + s) % p) * d_inv % p;  // (-1 + s) / d
      const Botan::BigInt y = Botan::ressol(y2, p);
      if (y < 0) continue;  // not a square: no point with this y^2
      small_order_y.push_back(y);
      small_order_y.push_back(p - y);
    }
  }
};

inline const ed25519_field& ed25519_constants() {
  static const ed25519_field f;
  return f;
}

/// RFC 8032 §5.1.3 decoding checks plus the small-order test of the libsodium/ZIP-215 discussions:
/// canonical y < p, x = 0 only with sign bit 0, and (subgroup depth) a point that is on the curve.
inline key_check_result check_ed25519(const std::vector<std::uint8_t>& a, key_check_depth depth) {
  if (a.size() != 32) return key_refused(key_defect::bad_encoding, "Ed25519 key: expected 32 bytes, got " + std::to_string(a.size()));
  const auto& c = ed25519_constants();
  std::array<std::uint8_t, 32> be{};
  for (std::size_t i = 0; i < 32; ++i) be[i] = a[31 - i];
  const bool sign = (be[0] & 0x80) != 0;
  be[0] &= 0x7F;
  const Botan::BigInt y(be.data(), be.size());
  if (y >= c.p) return key_refused(key_defect::bad_encoding, "Ed25519 key: non-canonical encoding (y >= 2^255 - 19)");
  for (const auto& bad : c.small_order_y) {
    if (y == bad) return key_refused(key_defect::small_order, "Ed25519 key: a point of small order (order divides 8)");
  }
  if (depth == key_check_depth::encoding) return {};
  const Botan::BigInt y2 = y * y % c.p;
  const Botan::BigInt u = (y2 + c.p - 1) % c.p;
  const Botan::BigInt v = (c.d * y2 + 1) % c.p;
  const Botan::BigInt x2 = u * Botan::inverse_mod(v, c.p) % c.p;
  if (x2.is_zero()) {
    if (sign) return key_refused(key_defect::bad_encoding, "Ed25519 key: x = 0 with the sign bit set");
    return {};
  }
  if (Botan::power_mod(x2, (c.p - 1) >> 1, c.p) != 1)
    return key_refused(key_defect::not_on_curve, "Ed25519 key: no point on the curve has this y");
  return {};
}

/// FIPS 186-4 §4.2 sizes plus the group checks of SP 800-89 §5.3.1 / §5.3.3 (public key validation).
inline key_check_result check_dl(const Botan::DL_Scheme_PublicKey& k, key_check_depth depth) {
  const auto& grp = k.get_group();
  const Botan::BigInt& p = grp.get_p();
  const Botan::BigInt& q = grp.get_q();
  const Botan::BigInt& g = grp.get_g();
  const Botan::BigInt& y = k.get_y();
  const std::string name = k.algo_name();
  if (p.bits() < min_dsa_p_bits || q.bits() < min_dsa_q_bits)
    return key_refused(key_defect::insecure_parameters, name + " key: expected p >= " + std::to_string(min_dsa_p_bits) +
                                                            " and q >= " + std::to_string(min_dsa_q_bits) + " bits, got " +
                                                            std::to_string(p.bits()) + " and " + std::to_string(q.bits()));
  if (p.is_even() || q.is_even() || (p - 1) % q != 0)
    return key_refused(key_defect::insecure_parameters, name + " key: q does not divide p - 1");
  const Botan::BigInt p_minus_1 = p - 1;
  if (g <= 1 || g >= p_minus_1)
    return key_refused(key_defect::degenerate_element, name + " key: generator g must satisfy 1 < g < p - 1 (g = 1 or g = p - 1 makes every signature check trivial)");
  if (y <= 1 || y >= p_minus_1)
    return key_refused(key_defect::degenerate_element, name + " key: public value y must satisfy 1 < y < p - 1");
  if (depth == key_check_depth::encoding) return {};
  if (Botan::power_mod(g, q, p) != 1)
    return key_refused(key_defect::not_in_subgroup, name + " key: g^q != 1 mod p (g outside the order-q subgroup)");
  if (Botan::power_mod(y, q, p) != 1)
    return key_refused(key_defect::not_in_subgroup, name + " key: y^q != 1 mod p (y outside the order-q subgroup)");
  return {};
}

/// SEC 1 v2 §3.2.2.1 (EC public key validation) on a named curve.
inline key_check_result check_ec(const Botan::EC_PublicKey& k, key_check_depth depth) {
  const auto& group = k.domain();
  const std::string name = k.algo_name();
  if (group.get_curve_oid().empty())
    return key_refused(key_defect::insecure_parameters, name + " key: explicit curve parameters are not accepted, only named curves");
  if (group.get_order().bits() < 224)
    return key_refused(key_defect::insecure_parameters, name + " key: curve order below 224 bits");
  const auto& point = k.public_point();
  if (point.is_zero()) return key_refused(key_defect::degenerate_element, name + " key: the point at infinity");
  if (!point.on_the_curve()) return key_refused(key_defect::not_on_curve, name + " key: the point is not on the curve");
  if (depth != key_check_depth::encoding && group.get_cofactor() != 1 && !(point * group.get_order()).is_zero())
    return key_refused(key_defect::not_in_subgroup, name + " key: the point is outside the prime-order subgroup");
  return {};
}

} // namespace detail

/// Largest keys a presented certificate may carry. Botan 2 puts no upper bound on them, and verifying
/// a signature under a 16384-bit RSA key with a 16384-bit public exponent took about 5 s here (a 4.4 KB
/// certificate), under a huge DSA group as long; explicit EC parameters cost primality tests when the
/// key is loaded. The RSA limits are OpenSSL's (OPENSSL_RSA_MAX_MODULUS_BITS, OPENSSL_RSA_MAX_PUBEXP_BITS),
/// the DSA ones the largest (L, N) of FIPS 186-4 §4.2.
inline constexpr std::size_t max_rsa_modulus_bits = 16384;
inline constexpr std::size_t max_rsa_exponent_bits = 64;
inline constexpr std::size_t max_dsa_p_bits = 3072;
inline constexpr std::size_t max_dsa_q_bits = 256;

/// Refuses, from the encoding alone (no key is loaded, no signature verified), a certificate whose
/// key would make validation expensive: RSA above max_rsa_modulus_bits or with an exponent above
/// max_rsa_exponent_bits, DSA above max_dsa_p_bits / max_dsa_q_bits, EC keys without a named curve
/// (RFC 5480 §2.1.1: specifiedCurve and implicitCurve are not used in PKIX), and key algorithms other than
/// RSA, DSA, EC and Ed25519. validate_chain() runs it on every presented certificate before path building.
/// Never throws: an encoding that does not decode is refused.
[[nodiscard]] inline key_check_result check_key_cost(const Botan::X509_Certificate& cert) noexcept {
  try {
    static const Botan::OID rsa{1, 2, 840, 113549, 1, 1, 1};
    static const Botan::OID dsa{1, 2, 840, 10040, 4, 1};
    static const Botan::OID ec{1, 2, 840, 10045, 2, 1};
    static const Botan::OID ed25519{1, 3, 101, 112};
    const auto& alg = cert.subject_public_key_algo();
    const auto& oid = alg.get_oid();
    if (oid == rsa) {
      Botan::BigInt n;
      Botan::BigInt e;
      Botan::BER_Decoder(cert.subject_public_key_bitstring()).start_cons(Botan::SEQUENCE).decode(n).decode(e);
      if (n.bits() > max_rsa_modulus_bits || e.bits() > max_rsa_exponent_bits)
        return detail::key_refused(key_defect::insecure_parameters,
                                   "RSA key: expected a modulus of at most " + std::to_string(max_rsa_modulus_bits) +
                                       " bits and an exponent of at most " + std::to_string(max_rsa_exponent_bits) +
                                       " bits, got " + std::to_string(n.bits()) + " and " + std::to_string(e.bits()));
      return {};
    }
    if (oid == dsa) {
      Botan::BigInt p;
      Botan::BigInt q;
      Botan::BER_Decoder(alg.get_parameters()).start_cons(Botan::SEQUENCE).decode(p).decode(q);
      if (p.bits() > max_dsa_p_bits || q.bits() > max_dsa_q_bits)
        return detail::key_refused(key_defect::insecure_parameters,
                                   "DSA key: expected p of at most " + std::to_string(max_dsa_p_bits) + " and q of at most " +
                                       std::to_string(max_dsa_q_bits) + " bits, got " + std::to_string(p.bits()) +
                                       " and " + std::to_string(q.bits()));
      return {};
    }
    if (oid == ec) {
      const auto& params = alg.get_parameters();
      if (params.empty() || params[0] != Botan::OBJECT_ID)
        return detail::key_refused(key_defect::insecure_parameters, "EC key: only named curves are accepted (no explicit or implicit parameters)");
      return {};
    }
    if (oid == ed25519) return {};
    return detail::key_refused(key_defect::unsupported, "key algorithm " + oid.to_string() + " is not accepted (RSA, DSA, EC, Ed25519)");
  } catch (const std::exception& e) {
    return detail::key_refused(key_defect::bad_encoding, std::string("public key encoding does not decode: ") + e.what());
  }
}

/// Validates @p key to @p depth (see the file comment). Ed25519, DSA (and other discrete-log keys) and
/// EC keys get the specific checks above; at full depth every key also runs Botan's strong check_key.
/// Keys of other algorithms pass the lower depths untouched (their policies decide whether to accept them).
/// Never throws: a key whose inspection fails is refused.
[[nodiscard]] inline key_check_result check_public_key(const Botan::Public_Key& key,
                                                       key_check_depth depth = key_check_depth::subgroup) noexcept {
  try {
    key_check_result r;
    if (const auto* ed = dynamic_cast<const Botan::Ed25519_PublicKey*>(&key)) {
      r = detail::check_ed25519(ed->get_public_key(), depth);
    } else if (const auto* dl = dynamic_cast<const Botan::DL_Scheme_PublicKey*>(&key)) {
      r = detail::check_dl(*dl, depth);
    } else if (const auto* ec = dynamic_cast<const Botan::EC_PublicKey*>(&key)) {
      r = detail::check_ec(*ec, depth);
    }
    if (!r.ok() || depth != key_check_depth::full) return r;
    thread_local Botan::AutoSeeded_RNG rng;
    if (!key.check_key(rng, true))
      return detail::key_refused(key_defect::self_check_failed, key.algo_name() + " key: Botan's strong key check failed");
    return r;
  } catch (const std::exception& e) {
    return detail::key_refused(key_defect::unsupported, std::string("public key could not be inspected: ") + e.what());
  } catch (...) {
    return detail::key_refused(key_defect::unsupported, "public key could not be inspected");
  }
}

} // namespace hefl::iot
