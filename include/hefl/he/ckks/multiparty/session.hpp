#pragma once
/// @file
/// The public frame of a multiparty CKKS session (Mouchet, Troncoso-Pastoriza, Bossuat, Hubaux,
/// "Multiparty Homomorphic Encryption from Ring-Learning-with-Errors", PETS 2021, §4): the parameter
/// set, the number of parties and a public 32-byte seed from which every common random polynomial
/// (CRP) of every protocol is derived. A CRP is never taken from a caller: it is the ChaCha20 (RFC
/// 8439) expansion of the session seed under a nonce that names the protocol, the Galois element and
/// the digit, so two parties that agree on the seed agree on every CRP, and distinct labels give
/// independent streams. Header-only, no Botan: secrets come from the caller's hefl::random_source.

#include <hefl/core/error.hpp>
#include <hefl/core/random.hpp>
#include <hefl/he/ckks/detail/chacha20.hpp>
#include <hefl/he/ckks/detail/rns_poly.hpp>
#include <hefl/he/ckks/keys.hpp>
#include <hefl/he/ckks/params.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace hefl::he::ckks::multiparty {

/// A share (or aggregated share) that does not belong where it was offered: another parameter set,
/// another session, protocol, round, ciphertext or Galois element, a party index out of range, or a
/// party that already contributed. A parse_error, because a share is untrusted input.
class share_mismatch : public hefl::parse_error {
public:
  using hefl::parse_error::parse_error;
};

/// The protocols of the session; each names the CRPs and messages it uses.
enum class protocol : std::uint8_t {
  ckg = 1,  ///< collective public-key generation (one round)
  rkg = 2,  ///< collective relinearization-key generation (two rounds)
  rtg = 3,  ///< collective Galois-key generation (one round per Galois element)
  cks = 4,  ///< collective key switching to the zero key: decryption (one round)
  pcks = 5, ///< collective public-key switching to one party's key (one round)
  refresh_decrypt = 6, ///< collective refresh, the masked decryption at the ciphertext's level (refresh.hpp)
  refresh_encrypt = 7, ///< collective refresh, the re-encryption of the masks at the top level (refresh.hpp)
  shamir_dealing = 8,  ///< t-out-of-N setup: one Shamir point P_i(α_j) from dealer i to party j (threshold.hpp; secret)
};

/// The largest protocol number a share may carry.
inline constexpr std::uint8_t last_protocol = 8;

/// The name of @p p for messages ("CKG", ...).
[[nodiscard]] inline std::string_view protocol_name(protocol p) noexcept {
  switch (p) {
    case protocol::ckg: return "CKG";
    case protocol::rkg: return "RKG";
    case protocol::rtg: return "RTG";
    case protocol::cks: return "CKS";
    case protocol::pcks: return "PCKS";
    case protocol::refresh_decrypt: return "refresh (masked decryption)";
    case protocol::refresh_encrypt: return "refresh (re-encryption)";
    case protocol::shamir_dealing: return "Shamir dealing";
  }
  return "unknown protocol";
}

/// The number of rounds of @p p (RKG: 2, the others: 1).
[[nodiscard]] constexpr unsigned round_count(protocol p) noexcept { return p == protocol::rkg ? 2u : 1u; }

/// The public 256-bit seed of a session. Public, but it must be fresh for each session (drawn by one
/// party from a CSPRNG, or agreed by coin tossing) so that no party chose the CRPs.
using session_seed = std::array<std::uint8_t, ckks::detail::chacha20_seed_size>;

/// A 128-bit tag of (session seed, parameter id) that every message carries: a PRF value of the
/// seed (ChaCha20 key stream under a dedicated nonce). It detects a share from another session or
/// parameter set; it does not authenticate anyone (sign or MAC messages for that).
using session_tag = std::array<std::uint8_t, 16>;

/// The session: parameters, party count and seed, and the CRPs derived from them.
class session {
public:
  /// @throws hefl::invalid_argument if @p party_count is below 2 or above 1024.
  session(const parameters& params, const session_seed& seed, std::size_t party_count)
      : m_params(params), m_seed(seed), m_party_count(party_count) {
    if (party_count < 2 || party_count > max_parties)
      throw invalid_argument("ckks::multiparty::session: the party count must be in [2, " +
                             std::to_string(max_parties) + "], got " + std::to_string(party_count));
    const std::uint64_t id = params.id();
    ckks::detail::chacha20_source tag_stream(seed, {label_word | 0xffu, static_cast<std::uint32_t>(id),
                                              static_cast<std::uint32_t>(id >> 32)});
    tag_stream.fill(m_tag);
  }

  /// Largest party count a session accepts.
  static constexpr std::size_t max_parties = 1024;

  [[nodiscard]] const parameters& params() const noexcept { return m_params; }
  [[nodiscard]] const session_seed& seed() const noexcept { return m_seed; }
  [[nodiscard]] std::size_t party_count() const noexcept { return m_party_count; }
  [[nodiscard]] const session_tag& tag() const noexcept { return m_tag; }

  /// The CRP of protocol @p p for Galois element @p element (0 unless RTG) and digit @p digit (0 for
  /// CKG): uniform, NTT form, over all primes (chain and special), the same for every party.
  /// @throws hefl::invalid_argument if digit is not below the parameters' digit count or element
  ///         does not fit 32 bits.
  [[nodiscard]] ckks::detail::rns_poly crp(protocol p, std::uint64_t element, std::size_t digit) const {
    if (digit >= m_params.digit_count())
      throw invalid_argument("ckks::multiparty::session::crp: digit " + std::to_string(digit) + " of " +
                             std::to_string(m_params.digit_count()));
    if (element > 0xffffffffu) throw invalid_argument("ckks::multiparty::session::crp: Galois element too large");
    ckks::detail::chacha20_source stream(m_seed, {label_word | static_cast<std::uint32_t>(p),
                                            static_cast<std::uint32_t>(element), static_cast<std::uint32_t>(digit)});
    ckks::detail::rns_poly a(m_params.poly_degree(), m_params.max_level(), m_params.special_prime_count());
    ckks::detail::random_stream rs(stream);
    ckks::detail::sample_uniform(a, rs, m_params.context());
    return a;
  }

private:
  /// "mhe" in the top bytes of the first nonce word; the low byte names the protocol (0xff: the tag).
  static constexpr std::uint32_t label_word = 0x6d686500u;

  parameters m_params;
  session_seed m_seed;
  std::size_t m_party_count;
  session_tag m_tag{};
};

} // namespace hefl::he::ckks::multiparty
