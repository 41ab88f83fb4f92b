#pragma once
/// @file
/// The message of every multiparty protocol: a share (one party's contribution to one protocol
/// round) or an aggregated share (the sum of all parties' shares of a round), with its binary format
/// and the accumulator that sums shares after checking each against the session, protocol, round and
/// subject it must belong to (Mouchet, Troncoso-Pastoriza, Bossuat, Hubaux, PETS 2021, §4: every
/// protocol is "each party sends a share, the aggregator sums them").
///
/// Format (version 1, little endian): magic "hefl:MPS", version (u32), parameter id (u64), total
/// length (u64), session tag (16 bytes), protocol (u8), round (u8), reserved (u16, zero), party
/// index (u32; all_parties for an aggregated share), subject (u64: the Galois element for RTG, the
/// ciphertext fingerprint for CKS and PCKS, 0 otherwise), ring degree, level, special-limb count and
/// polynomial count (u32 each), the bit-packed polynomials (NTT values, as ckks::save packs them),
/// and a CRC-64/XZ of everything before it. Loading treats the bytes as untrusted: each field is
/// checked before anything is allocated, and each failure throws hefl::parse_error (share_mismatch
/// when the share is well formed but belongs elsewhere).

#include <hefl/core/crc64.hpp>
#include <hefl/core/error.hpp>
#include <hefl/he/ckks/detail/rns_poly.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/multiparty/session.hpp>
#include <hefl/he/ckks/params.hpp>
#include <hefl/he/ckks/serialization.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace hefl::he::ckks::multiparty {

/// The party index of an aggregated share.
inline constexpr std::uint32_t all_parties = 0xffffffffu;

/// One protocol message: who sent it for which round of what, and its polynomials (NTT form, one
/// shape: level l, with 0 or α special limbs).
class share {
public:
  share(const session& s, protocol p, unsigned round, std::uint32_t party, std::uint64_t subject,
        std::vector<ckks::detail::rns_poly> polys)
      : m_params_id(s.params().id()), m_tag(s.tag()), m_protocol(p), m_round(round), m_party(party),
        m_subject(subject), m_polys(std::move(polys)) {}

  [[nodiscard]] std::uint64_t parameters_id() const noexcept { return m_params_id; }
  [[nodiscard]] const session_tag& tag() const noexcept { return m_tag; }
  [[nodiscard]] protocol which() const noexcept { return m_protocol; }
  [[nodiscard]] unsigned round() const noexcept { return m_round; }
  /// The sender's index in [0, party count), or all_parties for an aggregated share.
  [[nodiscard]] std::uint32_t party() const noexcept { return m_party; }
  /// The Galois element (RTG), the ciphertext fingerprint (CKS, PCKS) or 0.
  [[nodiscard]] std::uint64_t subject() const noexcept { return m_subject; }
  [[nodiscard]] const std::vector<ckks::detail::rns_poly>& polys() const noexcept { return m_polys; }

private:
  std::uint64_t m_params_id;
  session_tag m_tag;
  protocol m_protocol;
  unsigned m_round;
  std::uint32_t m_party;
  std::uint64_t m_subject;
  std::vector<ckks::detail::rns_poly> m_polys;
};

/// The fingerprint of a ciphertext that CKS and PCKS shares carry as their subject: CRC-64 of its
/// level, scale and residues, so that shares computed for one ciphertext are not summed into the
/// decryption of another (a check against mistakes, not against an attacker).
[[nodiscard]] inline std::uint64_t fingerprint(const ciphertext& ct) {
  std::vector<std::uint8_t> bytes;
  const double scale = ct.scale();
  const auto level = static_cast<std::uint64_t>(ct.level());
  bytes.resize(16);
  std::memcpy(bytes.data(), &level, 8);
  std::memcpy(bytes.data() + 8, &scale, 8);
  std::uint64_t crc = serial::checksum(bytes);
  for (const auto& p : ct.polys()) {
    const auto data = p.data();
    const std::uint64_t part = serial::checksum(
        std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(data.data()), data.size_bytes()));
    std::memcpy(bytes.data(), &crc, 8);
    std::memcpy(bytes.data() + 8, &part, 8);
    crc = serial::checksum(bytes);
  }
  return crc;
}

namespace detail {

inline constexpr std::string_view share_magic = "hefl:MPS";
inline constexpr std::uint32_t share_version = 1;
inline constexpr std::size_t share_header_size = 8 + 4 + 8 + 8 + 16 + 1 + 1 + 2 + 4 + 8 + 4 * 4;

[[nodiscard]] inline std::uint64_t share_poly_bytes(const parameters& params, std::size_t level, std::size_t special) {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= level; ++i)
    total += ckks::detail::wire::limb_bytes(params.poly_degree(), params.primes()[i]);
  for (std::size_t k = 0; k < special; ++k)
    total += ckks::detail::wire::limb_bytes(params.poly_degree(), params.key_switch_primes()[k]);
  return total;
}

[[nodiscard]] inline std::string hex_tag(const session_tag& t) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  for (const auto b : t) {
    s += digits[b >> 4];
    s += digits[b & 15];
  }
  return s;
}

template <class T>
void put(std::vector<std::uint8_t>& out, std::size_t& pos, const T& v) {
  std::memcpy(out.data() + pos, &v, sizeof(T));
  pos += sizeof(T);
}

} // namespace detail

/// The serialized size of @p sh in bytes.
[[nodiscard]] inline std::uint64_t serialized_size(const session& s, const share& sh) {
  if (sh.polys().empty()) return detail::share_header_size + 8;
  const auto& p0 = sh.polys()[0];
  return detail::share_header_size + sh.polys().size() * detail::share_poly_bytes(s.params(), p0.level(), p0.special_count()) + 8;
}

/// Serializes a share.
/// @throws hefl::invalid_argument if it belongs to another session or its polynomials differ in shape
///         or are not reduced.
[[nodiscard]] inline std::vector<std::uint8_t> save(const session& s, const share& sh) {
  if (sh.parameters_id() != s.params().id() || sh.tag() != s.tag())
    throw invalid_argument("ckks::multiparty::save: the share belongs to another session");
  if (sh.polys().empty()) throw invalid_argument("ckks::multiparty::save: the share has no polynomial");
  const auto& p0 = sh.polys()[0];
  for (const auto& p : sh.polys())
    if (p.level() != p0.level() || p.special_count() != p0.special_count() || !p.is_ntt_form() ||
        p.degree() != s.params().poly_degree())
      throw invalid_argument("ckks::multiparty::save: the share's polynomials differ in shape");
  std::vector<std::uint8_t> out(static_cast<std::size_t>(serialized_size(s, sh)));
  std::size_t pos = 0;
  std::memcpy(out.data(), detail::share_magic.data(), 8);
  pos = 8;
  detail::put(out, pos, detail::share_version);
  detail::put(out, pos, s.params().id());
  detail::put(out, pos, static_cast<std::uint64_t>(out.size()));
  std::memcpy(out.data() + pos, sh.tag().data(), 16);
  pos += 16;
  detail::put(out, pos, static_cast<std::uint8_t>(sh.which()));
  detail::put(out, pos, static_cast<std::uint8_t>(sh.round()));
  detail::put(out, pos, std::uint16_t{0});
  detail::put(out, pos, sh.party());
  detail::put(out, pos, sh.subject());
  detail::put(out, pos, static_cast<std::uint32_t>(p0.degree()));
  detail::put(out, pos, static_cast<std::uint32_t>(p0.level()));
  detail::put(out, pos, static_cast<std::uint32_t>(p0.special_count()));
  detail::put(out, pos, static_cast<std::uint32_t>(sh.polys().size()));
  const auto& ctx = s.params().context();
  for (const auto& p : sh.polys())
    for (std::size_t i = 0; i < p.limb_count(); ++i) {
      const std::uint64_t q = ctx.primes()[p.prime_index(i, ctx)];
      if (!ckks::detail::wire::pack_limb(p.limb(i), p.degree(), q, static_cast<int>(std::bit_width(q)), out.data() + pos))
        throw invalid_argument("ckks::multiparty::save: a residue is not reduced below its prime");
      pos += static_cast<std::size_t>(ckks::detail::wire::limb_bytes(p.degree(), q));
    }
  const std::uint64_t crc = serial::checksum(std::span<const std::uint8_t>(out.data(), pos));
  detail::put(out, pos, crc);
  return out;
}

/// Loads a share of session @p s from untrusted bytes.
/// @throws hefl::parse_error on truncation, trailing bytes, a wrong magic or version, a field
///         inconsistent with the parameters (degree, level, special-limb count, polynomial count at
///         most twice the digit count, protocol, round), a length that differs from what the header
///         implies, a checksum mismatch or a residue not below its prime;
///         share_mismatch if it belongs to other parameters or another session (the message names
///         both values).
[[nodiscard]] inline share load_share(const session& s, std::span<const std::uint8_t> bytes) {
  const auto& params = s.params();
  const std::string who = "ckks::multiparty::load_share: ";
  if (bytes.size() < detail::share_header_size + 8)
    throw parse_error(who + "truncated input: " + std::to_string(bytes.size()) + " bytes, a share has at least " +
                      std::to_string(detail::share_header_size + 8));
  std::size_t pos = 0;
  const auto get = [&]<class T>(T) {
    T v;
    std::memcpy(&v, bytes.data() + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  };
  if (std::memcmp(bytes.data(), detail::share_magic.data(), 8) != 0)
    throw parse_error(who + "wrong magic: not a serialized multiparty share (expected \"hefl:MPS\")");
  pos = 8;
  const auto version = get(std::uint32_t{});
  if (version != detail::share_version)
    throw parse_error(who + "unsupported format version " + std::to_string(version) + " (this build reads version " +
                      std::to_string(detail::share_version) + ")");
  const auto params_id = get(std::uint64_t{});
  const auto length = get(std::uint64_t{});
  if (length != bytes.size())
    throw parse_error(who + "the share declares " + std::to_string(length) + " bytes but " +
                      std::to_string(bytes.size()) + " are present");
  if (params_id != params.id())
    throw share_mismatch(who + "the share belongs to parameters " + ckks::detail::wire::hex(params_id) +
                         ", the session's are " + ckks::detail::wire::hex(params.id()));
  session_tag tag{};
  std::memcpy(tag.data(), bytes.data() + pos, 16);
  pos += 16;
  if (tag != s.tag())
    throw share_mismatch(who + "the share belongs to session " + detail::hex_tag(tag) + ", not to this session " +
                         detail::hex_tag(s.tag()));
  const auto proto = get(std::uint8_t{});
  const auto round = get(std::uint8_t{});
  const auto reserved = get(std::uint16_t{});
  const auto party = get(std::uint32_t{});
  const auto subject = get(std::uint64_t{});
  const auto degree = get(std::uint32_t{});
  const auto level = get(std::uint32_t{});
  const auto special = get(std::uint32_t{});
  const auto count = get(std::uint32_t{});
  if (proto < 1 || proto > last_protocol) throw parse_error(who + "unknown protocol " + std::to_string(proto));
  if (round < 1 || round > round_count(static_cast<protocol>(proto)))
    throw parse_error(who + "round " + std::to_string(round) + " does not exist in " +
                      std::string(protocol_name(static_cast<protocol>(proto))));
  if (reserved != 0) throw parse_error(who + "reserved bytes are not zero");
  if (party != all_parties && party >= s.party_count())
    throw share_mismatch(who + "party index " + std::to_string(party) + " is not below the session's " +
                         std::to_string(s.party_count()) + " parties");
  if (degree != params.poly_degree())
    throw parse_error(who + "ring degree " + std::to_string(degree) + " differs from the parameters' " +
                      std::to_string(params.poly_degree()));
  if (level > params.max_level())
    throw parse_error(who + "level " + std::to_string(level) + " exceeds the top level " +
                      std::to_string(params.max_level()));
  if (special != 0 && special != params.special_prime_count())
    throw parse_error(who + "special-limb count " + std::to_string(special) + ", expected 0 or " +
                      std::to_string(params.special_prime_count()));
  if (count < 1 || count > 2 * params.digit_count())
    throw parse_error(who + "polynomial count " + std::to_string(count) + " outside [1, " +
                      std::to_string(2 * params.digit_count()) + "]");
  const std::uint64_t implied = detail::share_header_size + count * detail::share_poly_bytes(params, level, special) + 8;
  if (implied != bytes.size())
    throw parse_error(who + "the header implies " + std::to_string(implied) + " bytes, the share has " +
                      std::to_string(bytes.size()));
  std::uint64_t stored = 0;
  std::memcpy(&stored, bytes.data() + bytes.size() - 8, 8);
  const std::uint64_t computed = serial::checksum(bytes.first(bytes.size() - 8));
  if (stored != computed)
    throw parse_error(who + "checksum mismatch (stored " + ckks::detail::wire::hex(stored) + ", computed " +
                      ckks::detail::wire::hex(computed) + "): the share is corrupted");
  const auto& ctx = params.context();
  std::vector<ckks::detail::rns_poly> polys;
  polys.reserve(count);
  for (std::uint32_t c = 0; c < count; ++c) {
    ckks::detail::rns_poly p(params.poly_degree(), level, special, true);
    for (std::size_t i = 0; i < p.limb_count(); ++i) {
      const std::uint64_t q = ctx.primes()[p.prime_index(i, ctx)];
      const std::size_t bad = ckks::detail::wire::unpack_limb(bytes.data() + pos, p.degree(), q, static_cast<int>(std::bit_width(q)), p.limb(i));
      if (bad != p.degree())
        throw parse_error(who + "polynomial " + std::to_string(c) + ", limb " + std::to_string(i) + ": coefficient " +
                          std::to_string(bad) + " is not below its prime " + std::to_string(q));
      pos += static_cast<std::size_t>(ckks::detail::wire::limb_bytes(p.degree(), q));
    }
    polys.push_back(std::move(p));
  }
  return share(s, static_cast<protocol>(proto), round, party, subject, std::move(polys));
}

/// What a round's shares must look like.
struct share_shape {
  std::size_t polys = 1;   ///< polynomial count
  std::size_t level = 0;   ///< level of every polynomial
  std::size_t special = 0; ///< special limbs (0 or α)
};

/// @throws share_mismatch unless @p sh is a share of session @p s for protocol @p p, round @p round,
///         subject @p subject and (if @p party is not all_parties) from that party, with shape @p shape.
inline void check_share(const session& s, const share& sh, protocol p, unsigned round, std::uint64_t subject,
                        const share_shape& shape, std::uint32_t party) {
  const std::string who = "ckks::multiparty: refused a " + std::string(protocol_name(p)) + " round " +
                          std::to_string(round) + " share: ";
  if (sh.parameters_id() != s.params().id())
    throw share_mismatch(who + "it belongs to parameters " + ckks::detail::wire::hex(sh.parameters_id()));
  if (sh.tag() != s.tag()) throw share_mismatch(who + "it belongs to session " + detail::hex_tag(sh.tag()));
  if (sh.which() != p) throw share_mismatch(who + "it is a " + std::string(protocol_name(sh.which())) + " share");
  if (sh.round() != round) throw share_mismatch(who + "it is from round " + std::to_string(sh.round()));
  if (sh.subject() != subject)
    throw share_mismatch(who + "its subject (Galois element or ciphertext fingerprint) is " +
                         ckks::detail::wire::hex(sh.subject()) + ", expected " + ckks::detail::wire::hex(subject));
  if (party == all_parties ? sh.party() != all_parties : sh.party() != party)
    throw share_mismatch(who + "it comes from party " + std::to_string(sh.party()) + ", expected " +
                         (party == all_parties ? std::string("the aggregate of all parties") : std::to_string(party)));
  if (sh.party() != all_parties && sh.party() >= s.party_count())
    throw share_mismatch(who + "party index " + std::to_string(sh.party()) + " out of range");
  bool ok = sh.polys().size() == shape.polys;
  for (const auto& q : sh.polys())
    ok = ok && q.degree() == s.params().poly_degree() && q.level() == shape.level &&
         q.special_count() == shape.special && q.is_ntt_form();
  if (!ok)
    throw share_mismatch(who + "it has " + std::to_string(sh.polys().size()) + " polynomials of another shape (expected " +
                         std::to_string(shape.polys) + " at level " + std::to_string(shape.level) + " with " +
                         std::to_string(shape.special) + " special limbs)");
}

/// Sums the shares of one protocol round, one per party, refusing any share that belongs elsewhere.
class share_sum {
public:
  /// Expects one share from every party of the session.
  share_sum(const session& s, protocol p, unsigned round, std::uint64_t subject, share_shape shape)
      : m_session(s), m_protocol(p), m_round(round), m_subject(subject), m_shape(shape),
        m_seen(s.party_count(), false), m_expected(s.party_count(), true), m_expected_count(s.party_count()) {}

  /// Expects one share from each party in @p active only (a threshold decryption by a quorum).
  /// @throws hefl::invalid_argument if active is empty, lists a party twice or one out of range.
  share_sum(const session& s, protocol p, unsigned round, std::uint64_t subject, share_shape shape,
            std::span<const std::uint32_t> active)
      : m_session(s), m_protocol(p), m_round(round), m_subject(subject), m_shape(shape),
        m_seen(s.party_count(), false), m_expected(s.party_count(), false), m_expected_count(active.size()) {
    if (active.empty()) throw invalid_argument("ckks::multiparty::share_sum: the active set is empty");
    for (const auto i : active) {
      if (i >= s.party_count() || m_expected[i])
        throw invalid_argument("ckks::multiparty::share_sum: party " + std::to_string(i) +
                               " is out of range or listed twice in the active set");
      m_expected[i] = true;
    }
  }

  /// Adds one party's share.
  /// @throws share_mismatch if it belongs to other parameters, another session, protocol, round or
  ///         subject, has another shape, is an aggregate, or its party already contributed.
  void add(const share& sh) {
    if (sh.party() == all_parties)
      throw share_mismatch("ckks::multiparty: refused an aggregated share where one party's share was expected");
    check_share(m_session, sh, m_protocol, m_round, m_subject, m_shape, sh.party());
    if (!m_expected[sh.party()])
      throw share_mismatch("ckks::multiparty: party " + std::to_string(sh.party()) + " is not in the active set of this " +
                           std::string(protocol_name(m_protocol)) + " round");
    if (m_seen[sh.party()])
      throw share_mismatch("ckks::multiparty: party " + std::to_string(sh.party()) + " already contributed to " +
                           std::string(protocol_name(m_protocol)) + " round " + std::to_string(m_round));
    if (m_sum.empty()) {
      m_sum = sh.polys();
    } else {
      for (std::size_t k = 0; k < m_sum.size(); ++k)
        ckks::detail::add_inplace(m_sum[k], sh.polys()[k], m_session.params().context());
    }
    m_seen[sh.party()] = true;
    ++m_count;
  }

  /// Number of shares added.
  [[nodiscard]] std::size_t count() const noexcept { return m_count; }
  /// Whether every expected party contributed.
  [[nodiscard]] bool complete() const noexcept { return m_count == m_expected_count; }

  /// The aggregated share (party all_parties).
  /// @throws hefl::invalid_argument unless every party contributed (the message names the missing ones).
  [[nodiscard]] share result() const {
    if (!complete()) {
      std::string missing;
      for (std::size_t i = 0; i < m_seen.size(); ++i)
        if (m_expected[i] && !m_seen[i]) missing += (missing.empty() ? "" : ", ") + std::to_string(i);
      throw invalid_argument("ckks::multiparty: " + std::string(protocol_name(m_protocol)) + " round " +
                             std::to_string(m_round) + " is missing the shares of parties " + missing);
    }
    return share(m_session, m_protocol, m_round, all_parties, m_subject, m_sum);
  }

  /// The sum of the shares added so far, whether or not every party contributed (an aggregated
  /// share in form, for tests of what an incomplete set of parties can compute).
  [[nodiscard]] share partial_result() const {
    if (m_count == 0) throw invalid_argument("ckks::multiparty: no share was added");
    return share(m_session, m_protocol, m_round, all_parties, m_subject, m_sum);
  }

private:
  session m_session;
  protocol m_protocol;
  unsigned m_round;
  std::uint64_t m_subject;
  share_shape m_shape;
  std::vector<bool> m_seen, m_expected;
  std::size_t m_expected_count;
  std::size_t m_count = 0;
  std::vector<ckks::detail::rns_poly> m_sum;
};

} // namespace hefl::he::ckks::multiparty
