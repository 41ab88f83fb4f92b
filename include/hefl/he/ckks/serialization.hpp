#pragma once
/// @file
/// A versioned binary format for CKKS parameters, keys, plaintexts and ciphertexts.
///
/// Every object is self-delimiting: an 8-byte magic naming its type, the format version, the id of
/// its parameter set, its total length, an object header (ring degree, level, limb count,
/// polynomial count, flags, scale, Galois elements, ...), the payload, and a 64-bit checksum of
/// everything before it: CRC-64/XZ (serial::checksum) since format version 2, which detects every
/// error of 1, 2 or 3 bits (and every odd number of bits, and every burst of up to 64 bits) in an
/// object below 32 MiB; version 1's word-wise FNV sum missed paired top-bit flips and is refused with
/// a message saying so. The checksum detects accidental corruption; it is NOT cryptographic and does
/// not stop an attacker, who can recompute it: sign or MAC the bytes when authenticity matters. Residues are bit-packed: limb i stores each of its N
/// residues in bit_width(q_i) bits, so a fresh ciphertext at N = 8192, {60, 40, 40, 60} takes
/// 2·8192·140/8 bytes plus 68 bytes of framing (286 788 bytes) instead of 2·8192·3·8 = 393 216.
///
/// Loading treats the bytes as untrusted: every field is checked against the parameters before any
/// allocation (whose size is then bounded by the input length), the checksum is verified before the
/// payload is decoded, and every residue is checked against its prime. Each failure throws
/// hefl::parse_error naming the object, the field, and the expected and actual values.
///
/// The secret key is written only by save(params, sk, ckks::expose_secret); save(params, sk) does
/// not compile.
///
/// A fresh symmetric ciphertext made by encrypt_seeded() stores the 32-byte seed of its uniform
/// part instead of the polynomial (the seed expands through ChaCha20, RFC 8439), which halves its
/// size; the same idea as Microsoft SEAL's seeded ciphertexts. The seed is drawn by the encryptor
/// from its own source for every ciphertext (see symmetric_encryptor). Likewise a relinearization key
/// or Galois key set made by key_generator stores one 32-byte seed per key-switching key instead of
/// its a_j (format version 3 for these two object types; version 2, always in full, is still read).
///
/// Parameters with α > 1 special primes (hybrid key switching, special_primes) are written as
/// format version 4: the parameter set records α, and relinearization and Galois keys record their
/// digit structure (dnum digits, α special primes) after the version-3 words; their polynomials
/// carry α special limbs. Objects of parameters with α = 1 keep versions 2 and 3, byte for byte.

#include <hefl/core/error.hpp>
#include <hefl/core/random.hpp>
#include <hefl/core/serialization.hpp>
#include <hefl/he/ckks/detail/chacha20.hpp>
#include <hefl/he/ckks/detail/rns_poly.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/keys.hpp>
#include <hefl/he/ckks/params.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <istream>
#include <limits>
#include <map>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace hefl::he::ckks {

/// The tag that must be passed to write a secret key: save(params, sk, ckks::expose_secret). Its
/// only purpose is to make every place that turns the secret into bytes visible (and greppable).
struct expose_secret_t {
  explicit expose_secret_t() = default;
};
/// See expose_secret_t.
inline constexpr expose_secret_t expose_secret{};

namespace detail::wire {

/// The object types of the format; the index into the tables below.
enum class kind : std::uint8_t { parameters, secret_key, public_key, relin_keys, galois_keys, plaintext, ciphertext };

inline constexpr std::size_t kind_count = 7;
inline constexpr std::array<std::string_view, kind_count> magics{"hefl:PAR", "hefl:SEC", "hefl:PUB", "hefl:RLK",
                                                                 "hefl:GLK", "hefl:PTX", "hefl:CTX"};
inline constexpr std::array<std::string_view, kind_count> names{
    "parameter set", "secret key", "public key", "relinearization key", "Galois key set", "plaintext", "ciphertext"};
inline constexpr std::array<std::string_view, kind_count> loaders{
    "ckks::load_parameters", "ckks::load_secret_key", "ckks::load_public_key", "ckks::load_relin_keys",
    "ckks::load_galois_keys", "ckks::load_plaintext", "ckks::load_ciphertext"};

inline constexpr std::size_t magic_size = 8;
/// magic, version (u32), parameter id (u64), total length (u64).
inline constexpr std::size_t prefix_size = magic_size + 4 + 8 + 8;
/// N, level, limbs, polynomials (u32 each), flags (u8), 7 reserved bytes.
inline constexpr std::size_t shape_size = 24;
inline constexpr std::size_t checksum_size = 8;
inline constexpr std::size_t seed_size = chacha20_seed_size;
using detail::chacha20_block;
using detail::chacha20_source;
/// N (u32), prime count (u16), security (u8), reserved (u8), log2 scale (f64).
inline constexpr std::size_t parameters_header_size = 16;

inline constexpr std::uint8_t flag_ntt = 1;     ///< residues are NTT values
inline constexpr std::uint8_t flag_special = 2; ///< each polynomial has a limb for the special prime
inline constexpr std::uint8_t flag_seeded = 4;  ///< a seed replaces c_1 (ciphertexts) or every a_j (keys)
inline constexpr std::uint8_t known_flags = flag_ntt | flag_special | flag_seeded;

/// Format version of relinearization keys and Galois key sets since they may be seeded (a seed-length
/// word, then the seed and the b_j only); version 2 (no such word, always in full) is still read.
inline constexpr std::uint32_t key_switching_version = 3;

/// Format version of parameter sets with several special primes and of their key-switching keys
/// (version 3 plus the digit structure: digit count and special-prime count as two u32 words).
inline constexpr std::uint32_t hybrid_version = 4;

/// The version save() writes for the key-switching keys of @p params.
[[nodiscard]] inline std::uint32_t key_version(const parameters& params) noexcept {
  return params.special_prime_count() > 1 ? hybrid_version : key_switching_version;
}

[[nodiscard]] inline std::size_t index(kind k) noexcept { return static_cast<std::size_t>(k); }

[[nodiscard]] constexpr bool is_key_switching(kind k) noexcept { return k == kind::relin_keys || k == kind::galois_keys; }

/// The version save() writes for objects of kind @p k.
[[nodiscard]] constexpr std::uint32_t version_of(kind k) noexcept {
  return is_key_switching(k) ? key_switching_version : format_version;
}

[[nodiscard]] inline std::string hex(std::uint64_t v) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s = "0x";
  for (int shift = 60; shift >= 0; shift -= 4) s += digits[(v >> shift) & 0xf];
  return s;
}

/// Bytes of one limb: N residues of bit_width(q) bits (N is a multiple of 8, so no padding).
[[nodiscard]] inline std::uint64_t limb_bytes(std::size_t degree, std::uint64_t q) noexcept {
  return static_cast<std::uint64_t>(degree) * static_cast<std::uint64_t>(std::bit_width(q)) / 8;
}

/// Bytes of one polynomial with limbs q_0..q_level (and the special primes if @p special).
[[nodiscard]] inline std::uint64_t poly_bytes(const parameters& params, std::size_t level, bool special) noexcept {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= level; ++i) total += limb_bytes(params.poly_degree(), params.primes()[i]);
  if (special)
    for (const u64 p : params.key_switch_primes()) total += limb_bytes(params.poly_degree(), p);
  return total;
}

/// Writes @p n residues of @p bits bits each, least significant bit first, into n·bits/8 bytes.
/// @returns false (after writing) if a residue is not below @p q, i.e. the polynomial was not reduced.
[[nodiscard]] inline bool pack_limb(const u64* values, std::size_t n, u64 q, int bits, std::uint8_t* out) noexcept {
  u128 acc = 0;
  int filled = 0;
  bool reduced = true;
  for (std::size_t j = 0; j < n; ++j) {
    const u64 v = values[j];
    reduced &= v < q;
    acc |= static_cast<u128>(v & ((u64{1} << bits) - 1)) << filled;
    filled += bits;
    if (filled >= 64) {
      const u64 word = static_cast<u64>(acc);
      std::memcpy(out, &word, 8);
      out += 8;
      acc >>= 64;
      filled -= 64;
    }
  }
  for (; filled > 0; filled -= 8, acc >>= 8) *out++ = static_cast<std::uint8_t>(acc);
  return reduced;
}

/// Reads @p n residues of @p bits bits from n·bits/8 bytes at @p in into @p values.
/// @returns the index of the first residue not below @p q, or n if all are.
[[nodiscard]] inline std::size_t unpack_limb(const std::uint8_t* in, std::size_t n, u64 q, int bits,
                                             u64* values) noexcept {
  const std::uint8_t* const end = in + n * static_cast<std::size_t>(bits) / 8;
  const u64 mask = (u64{1} << bits) - 1;
  u128 acc = 0;
  int filled = 0;
  std::size_t bad = n;
  for (std::size_t j = 0; j < n; ++j) {
    while (filled < bits) {
      if (end - in >= 8) {
        u64 word = 0;
        std::memcpy(&word, in, 8);
        acc |= static_cast<u128>(word) << filled;
        in += 8;
        filled += 64;
      } else {
        acc |= static_cast<u128>(*in++) << filled;
        filled += 8;
      }
    }
    const u64 v = static_cast<u64>(acc) & mask;
    acc >>= bits;
    filled -= bits;
    values[j] = v;
    if (v >= q && bad == n) bad = j;
  }
  return bad;
}

/// The uniform polynomial a at @p level (NTT form, no special limb) drawn from the key stream of
/// @p seed exactly as encrypt_seeded draws it.
[[nodiscard]] inline rns_poly expand_uniform(const parameters& params, std::size_t level,
                                             std::span<const std::uint8_t, seed_size> seed) {
  chacha20_source source(seed);
  rns_poly a(params.poly_degree(), level, false);
  random_stream rs(source);
  sample_uniform(a, rs, params.context());
  return a;
}

/// Overwrites bytes that held secret material (volatile stores, as detail::secure_wipe).
inline void wipe_bytes(std::span<std::uint8_t> bytes) noexcept {
  volatile std::uint8_t* p = bytes.data();
  for (std::size_t i = 0; i < bytes.size(); ++i) p[i] = 0;
}

/// Fills a buffer of known final size; no reallocation, so secret bytes are never left in freed memory.
class output {
public:
  explicit output(std::uint64_t size) : m_bytes(static_cast<std::size_t>(size)) {}

  template <class T>
    requires std::is_trivially_copyable_v<T>
  void put(const T& value) {
    require(sizeof(T));
    std::memcpy(m_bytes.data() + m_pos, &value, sizeof(T));
    m_pos += sizeof(T);
  }
  void put_bytes(std::span<const std::uint8_t> bytes) {
    require(bytes.size());
    std::memcpy(m_bytes.data() + m_pos, bytes.data(), bytes.size());
    m_pos += bytes.size();
  }
  void put_magic(kind k) {
    const std::string_view m = magics[index(k)];
    put_bytes(std::span(reinterpret_cast<const std::uint8_t*>(m.data()), m.size()));
  }
  /// Common prefix: magic, version, parameter id, total length.
  void put_prefix(kind k, std::uint64_t params_id) { put_prefix(k, params_id, version_of(k)); }
  /// Common prefix with an explicit @p version.
  void put_prefix(kind k, std::uint64_t params_id, std::uint32_t version) {
    put_magic(k);
    put(version);
    put(params_id);
    put(static_cast<std::uint64_t>(m_bytes.size()));
  }
  void put_shape(std::size_t degree, std::size_t level, std::size_t limbs, std::size_t polys, std::uint8_t flags) {
    put(static_cast<std::uint32_t>(degree));
    put(static_cast<std::uint32_t>(level));
    put(static_cast<std::uint32_t>(limbs));
    put(static_cast<std::uint32_t>(polys));
    put(flags);
    const std::array<std::uint8_t, 7> reserved{};
    put_bytes(reserved);
  }
  /// Bit-packs every limb of @p p.
  /// @throws hefl::invalid_argument if a residue is not reduced below its prime (a bug upstream).
  void put_poly(const rns_poly& p, const parameters& params, std::string_view what) {
    const auto& ctx = params.context();
    for (std::size_t i = 0; i < p.limb_count(); ++i) {
      const u64 q = ctx.primes()[p.prime_index(i, ctx)];
      const std::uint64_t size = limb_bytes(p.degree(), q);
      require(size);
      if (!pack_limb(p.limb(i), p.degree(), q, std::bit_width(q), m_bytes.data() + m_pos))
        throw invalid_argument(std::string(what) + ": limb " + std::to_string(i) +
                               " holds a residue not reduced below its prime " + std::to_string(q));
      m_pos += static_cast<std::size_t>(size);
    }
  }
  /// Appends the checksum and returns the bytes.
  /// @throws hefl::error if the computed size was wrong (a bug in this file).
  [[nodiscard]] std::vector<std::uint8_t> finish() && {
    const std::uint64_t sum = serial::checksum(std::span<const std::uint8_t>(m_bytes.data(), m_pos));
    put(sum);
    if (m_pos != m_bytes.size()) throw error("ckks serialization: internal size mismatch");
    return std::move(m_bytes);
  }
  /// Wipes the buffer (used when it held the secret key and saving failed).
  void wipe() noexcept { wipe_bytes(m_bytes); }

private:
  void require(std::size_t n) const {
    if (m_bytes.size() - m_pos < n) throw error("ckks serialization: internal size mismatch");
  }

  std::vector<std::uint8_t> m_bytes;
  std::size_t m_pos = 0;
};


/// A bounds-checked cursor over untrusted bytes: every read checks the remaining size first and
/// throws hefl::parse_error naming the loader and the field.
class input {
public:
  input(std::span<const std::uint8_t> bytes, kind k) noexcept : m_bytes(bytes), m_kind(k) {}

  template <class T>
    requires std::is_trivially_copyable_v<T>
  [[nodiscard]] T get(std::string_view field) {
    T value;
    std::memcpy(&value, take(sizeof(T), field).data(), sizeof(T));
    return value;
  }
  /// The next @p n bytes.
  [[nodiscard]] std::span<const std::uint8_t> take(std::size_t n, std::string_view field) {
    if (remaining() < n)
      throw parse_error(std::string(loaders[index(m_kind)]) + ": truncated input while reading the " +
                        std::string(field) + ": needs " + std::to_string(n) + " bytes, " +
                        std::to_string(remaining()) + " remain");
    const auto out = m_bytes.subspan(m_pos, n);
    m_pos += n;
    return out;
  }
  [[nodiscard]] std::size_t remaining() const noexcept { return m_bytes.size() - m_pos; }
  [[nodiscard]] std::span<const std::uint8_t> bytes() const noexcept { return m_bytes; }
  [[nodiscard]] kind object() const noexcept { return m_kind; }
  [[nodiscard]] std::string loader() const { return std::string(loaders[index(m_kind)]); }
  [[nodiscard]] std::string name() const { return std::string(names[index(m_kind)]); }

private:
  std::span<const std::uint8_t> m_bytes;
  kind m_kind;
  std::size_t m_pos = 0;
};

/// @throws hefl::invalid_argument if @p object_id is not the id of @p params.
inline void check_owner(const parameters& params, std::uint64_t object_id, kind k) {
  if (object_id != params.id())
    throw invalid_argument("ckks::save: the " + std::string(names[index(k)]) + " belongs to parameters " +
                           hex(object_id) + ", not to the given parameters " + hex(params.id()));
}

/// What the common prefix says.
struct prefix {
  std::uint32_t version = 0;
  std::uint64_t params_id = 0;
  std::uint64_t length = 0;
};

/// Reads and checks magic and version; returns the parameter id and the declared length. Key-switching
/// keys of parameters with @p special_count > 1 must have version 4, others 2 or 3; a parameter set
/// may have version 2 or 4 (@p special_count 0: not known yet).
/// @throws hefl::parse_error on truncation, a wrong magic (naming the type found when it is another
/// hefl object) or an unsupported version.
[[nodiscard]] inline prefix read_prefix(input& in, std::size_t special_count = 1) {
  const auto magic = in.take(magic_size, "magic");
  const std::string_view found(reinterpret_cast<const char*>(magic.data()), magic.size());
  if (found != magics[index(in.object())]) {
    for (std::size_t other = 0; other < kind_count; ++other)
      if (found == magics[other])
        throw parse_error(in.loader() + ": wrong magic: this is a serialized " + std::string(names[other]) +
                          ", not a " + in.name());
    throw parse_error(in.loader() + ": wrong magic: not a serialized " + in.name() + " (expected \"" +
                      std::string(magics[index(in.object())]) + "\")");
  }
  const auto version = in.get<std::uint32_t>("format version");
  if (version == 1)
    throw parse_error(in.loader() + ": format version 1 is no longer read: its checksum missed paired bit flips "
                      "(this build reads version " + std::to_string(format_version) +
                      ", with a CRC-64); load it with the release that wrote it and save it again");
  const bool key_switching = is_key_switching(in.object());
  const bool hybrid_kind = key_switching || in.object() == kind::parameters;
  if (hybrid_kind && special_count > 1) {
    if (version != hybrid_version)
      throw parse_error(in.loader() + ": unsupported format version " + std::to_string(version) + " (this build reads "
                        "version " + std::to_string(hybrid_version) + " of a " + in.name() + " for parameters with " +
                        std::to_string(special_count) + " special primes: earlier versions have one)");
  } else if (!(hybrid_kind && special_count == 0 && version == hybrid_version) &&
             version != version_of(in.object()) && !(key_switching && version == format_version)) {
    throw parse_error(in.loader() + ": unsupported format version " + std::to_string(version) + " (this build reads " +
                      (key_switching ? "versions " + std::to_string(format_version) + " and " +
                                           std::to_string(key_switching_version) + " of a "
                                     : "version " + std::to_string(format_version) + " of a ") +
                      in.name() + (hybrid_kind ? "; version " + std::to_string(hybrid_version) +
                                                     " is for parameters with several special primes)"
                                               : ")"));
  }
  prefix p;
  p.version = version;
  p.params_id = in.get<std::uint64_t>("parameter id");
  p.length = in.get<std::uint64_t>("total length");
  return p;
}

/// @throws hefl::parse_error if the declared length differs from the input size.
inline void check_length(const prefix& p, const input& in) {
  const std::size_t size = in.bytes().size();
  if (p.length > size)
    throw parse_error(in.loader() + ": truncated input: the " + in.name() + " declares " + std::to_string(p.length) +
                      " bytes but only " + std::to_string(size) + " are present");
  if (p.length < size)
    throw parse_error(in.loader() + ": " + std::to_string(size - p.length) + " trailing bytes after the " +
                      std::to_string(p.length) + "-byte " + in.name());
}

/// @throws hefl::parse_error if the id is not that of @p params (the message shows both ids).
inline void check_params_id(const prefix& p, const parameters& params, const input& in) {
  if (p.params_id != params.id())
    throw parse_error(in.loader() + ": wrong parameter id: the " + in.name() + " belongs to parameters " +
                      hex(p.params_id) + ", but the given parameters have id " + hex(params.id()));
}

/// @throws hefl::parse_error if the declared length is not the one the header implies.
inline void check_implied_length(const prefix& p, std::uint64_t implied, const input& in) {
  if (p.length != implied)
    throw parse_error(in.loader() + ": declared length " + std::to_string(p.length) + " does not match the " +
                      std::to_string(implied) + " bytes its header implies");
}

/// @throws hefl::parse_error if the trailing checksum does not match the bytes before it.
inline void check_checksum(const input& in) {
  const auto bytes = in.bytes();
  const auto body = bytes.first(bytes.size() - checksum_size);
  std::uint64_t stored = 0;
  std::memcpy(&stored, bytes.data() + body.size(), checksum_size);
  const std::uint64_t computed = serial::checksum(body);
  if (stored != computed)
    throw parse_error(in.loader() + ": checksum mismatch (stored " + hex(stored) + ", computed " + hex(computed) +
                      "): the " + in.name() + " is corrupted");
}

/// The shape header of a polynomial object.
struct shape {
  std::uint32_t degree = 0, level = 0, limbs = 0, polys = 0;
  std::uint8_t flags = 0;
  [[nodiscard]] bool seeded() const noexcept { return (flags & flag_seeded) != 0; }
};

/// What an object type requires of its shape header.
struct shape_rule {
  bool top_level_only;     ///< level must be L (keys) rather than anything in 0..L
  bool special;            ///< polynomials carry the special limb
  bool seed_allowed;       ///< the seeded flag may be set (ciphertexts, key-switching keys of version 3)
  std::uint32_t min_polys; ///< polynomial count range
  std::uint32_t max_polys;
};

/// Reads the shape header and checks every field against @p params and @p rule (nothing is allocated).
/// @throws hefl::parse_error naming the first inconsistent field with its expected and actual value.
[[nodiscard]] inline shape read_shape(input& in, const parameters& params, const shape_rule& rule) {
  const std::string loader = in.loader();
  shape s;
  s.degree = in.get<std::uint32_t>("ring degree");
  s.level = in.get<std::uint32_t>("level");
  s.limbs = in.get<std::uint32_t>("limb count");
  s.polys = in.get<std::uint32_t>("polynomial count");
  s.flags = in.get<std::uint8_t>("flags");
  const auto reserved = in.take(7, "reserved header bytes");

  if (s.degree != params.poly_degree())
    throw parse_error(loader + ": ring degree " + std::to_string(s.degree) + " differs from the parameters' " +
                      std::to_string(params.poly_degree()));
  const std::size_t top = params.max_level();
  if (s.level > top)
    throw parse_error(loader + ": level " + std::to_string(s.level) + " exceeds the top level " +
                      std::to_string(top) + " of the parameters");
  if (rule.top_level_only && s.level != top)
    throw parse_error(loader + ": level " + std::to_string(s.level) + ", but a " + in.name() +
                      " is always at the top level " + std::to_string(top));
  if ((s.flags & ~known_flags) != 0)
    throw parse_error(loader + ": unknown flag bits " + std::to_string(s.flags & ~known_flags));
  if ((s.flags & flag_ntt) == 0)
    throw parse_error(loader + ": the NTT-form flag is clear, but this format version stores NTT values");
  const bool special = (s.flags & flag_special) != 0;
  if (special != rule.special)
    throw parse_error(loader + ": the special-limb flag is " + (special ? "set" : "clear") + ", but a " + in.name() +
                      (rule.special ? " has" : " has no") + " limb for the special prime");
  if (s.seeded() && !rule.seed_allowed)
    throw parse_error(loader + ": the seeded flag is set, but " +
                      (is_key_switching(in.object()) ? std::string("format version 2 has no seeded keys")
                                                     : "only a ciphertext or a key-switching key can be stored with a seed"));
  const std::uint64_t limbs = std::uint64_t{s.level} + 1 + (rule.special ? params.special_prime_count() : 0);
  if (s.limbs != limbs)
    throw parse_error(loader + ": limb count " + std::to_string(s.limbs) + " is inconsistent with level " +
                      std::to_string(s.level) + " (expected " + std::to_string(limbs) + ")");
  if (s.polys < rule.min_polys || s.polys > rule.max_polys)
    throw parse_error(loader + ": polynomial count " + std::to_string(s.polys) + ", expected " +
                      (rule.min_polys == rule.max_polys
                           ? std::to_string(rule.min_polys)
                           : std::to_string(rule.min_polys) + " to " + std::to_string(rule.max_polys)));
  if (s.seeded() && in.object() == kind::ciphertext && s.polys != 2)
    throw parse_error(loader + ": a seeded ciphertext has 2 polynomials, the header says " + std::to_string(s.polys));
  for (const std::uint8_t b : reserved)
    if (b != 0) throw parse_error(loader + ": reserved header bytes are not zero");
  return s;
}

/// Reads the scale of a plaintext or ciphertext at @p level.
/// @throws hefl::parse_error unless it is a finite double in [1, Q_level): a subnormal scale would
/// decode to infinities and NaNs, and a scale at or above the modulus leaves no room for any value.
[[nodiscard]] inline double read_scale(input& in, const parameters& params, std::size_t level) {
  const auto scale = in.get<double>("scale");
  const double log2_q = params.log2_modulus(level);
  if (!std::isfinite(scale) || !(scale >= 1) || !(std::log2(scale) < log2_q)) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", scale);
    throw parse_error(in.loader() + ": scale must be positive and finite, and in [1, 2^" + std::to_string(log2_q) +
                      ") (the modulus at level " + std::to_string(level) + "), got " + buf);
  }
  return scale;
}

/// Decodes one polynomial (NTT form) at the cursor; its size was checked with the total length.
/// @throws hefl::parse_error naming polynomial, limb and coefficient if a residue is not below its
/// prime (the partly decoded polynomial is wiped first: it may be the secret key).
[[nodiscard]] inline rns_poly read_poly(input& in, const parameters& params, std::size_t level, bool special,
                                        std::string_view which) {
  const auto& ctx = params.context();
  rns_poly p(params.poly_degree(), level, special ? params.special_prime_count() : 0, true);
  for (std::size_t i = 0; i < p.limb_count(); ++i) {
    const u64 q = ctx.primes()[p.prime_index(i, ctx)];
    const auto packed = in.take(static_cast<std::size_t>(limb_bytes(p.degree(), q)), which);
    const std::size_t bad = unpack_limb(packed.data(), p.degree(), q, std::bit_width(q), p.limb(i));
    if (bad != p.degree()) {
      const u64 value = p.limb(i)[bad];
      secure_wipe(p.data());
      throw parse_error(in.loader() + ": " + std::string(which) + ", limb " + std::to_string(i) + ": coefficient " +
                        std::to_string(bad) + " is " + std::to_string(value) + ", not below its prime " +
                        std::to_string(q));
    }
  }
  return p;
}

/// Saturating a * b + c, for upper bounds on stream lengths.
[[nodiscard]] constexpr std::uint64_t saturating_mul_add(std::uint64_t a, std::uint64_t b, std::uint64_t c) noexcept {
  std::uint64_t product = 0, sum = 0;
  if (__builtin_mul_overflow(a, b, &product) || __builtin_add_overflow(product, c, &sum))
    return std::numeric_limits<std::uint64_t>::max();
  return sum;
}

/// Payload bytes of one key-switching key: the seed and dnum polynomials b_j if @p seeded, else the
/// dnum pairs (b_j, a_j) (dnum = L + 1 for one special prime).
[[nodiscard]] inline std::uint64_t kswitch_bytes(const parameters& params, bool seeded) noexcept {
  const std::uint64_t polys = params.digit_count() * poly_bytes(params, params.max_level(), true);
  return seeded ? seed_size + polys : 2 * polys;
}

/// Size of a relinearization key (version 3: an 8-byte seed-length word after the shape; version 4
/// also the 8-byte digit structure).
[[nodiscard]] inline std::uint64_t relin_size(const parameters& params, bool seeded, std::uint32_t version) noexcept {
  return prefix_size + shape_size + (version >= key_switching_version ? 8 : 0) +
         (version >= hybrid_version ? 8 : 0) + kswitch_bytes(params, seeded) + checksum_size;
}

/// Size of a relinearization key in the version save() writes for @p params.
[[nodiscard]] inline std::uint64_t relin_size(const parameters& params, bool seeded) noexcept {
  return relin_size(params, seeded, key_version(params));
}

/// Size of a Galois key set with @p count keys (count <= N, so no overflow).
[[nodiscard]] inline std::uint64_t galois_size(const parameters& params, std::uint64_t count, bool seeded) noexcept {
  const std::uint64_t structure = params.special_prime_count() > 1 ? 8 : 0;
  return saturating_mul_add(count, 8 + kswitch_bytes(params, seeded),
                            prefix_size + shape_size + 8 + structure + checksum_size);
}

/// The largest length a well-formed object of kind @p k can declare for @p params (nullptr: a
/// parameter set, whose size is bounded by 256 primes).
[[nodiscard]] inline std::uint64_t max_length(kind k, const parameters* params) noexcept {
  if (k == kind::parameters) return prefix_size + parameters_header_size + 8 + 9 * 256 + checksum_size;
  const std::size_t top = params->max_level();
  const std::uint64_t full = poly_bytes(*params, top, true), chain = poly_bytes(*params, top, false);
  const std::uint64_t frame = prefix_size + shape_size + checksum_size;
  switch (k) {
  case kind::secret_key: return frame + full;
  case kind::public_key: return frame + 2 * full;
  case kind::relin_keys: return relin_size(*params, false);
  case kind::galois_keys: return galois_size(*params, params->poly_degree(), false);
  case kind::plaintext: return frame + 8 + chain;
  case kind::ciphertext: return frame + 8 + seed_size + 3 * chain;
  default: return 0;
  }
}

/// Reads one object's bytes from a stream: the prefix first, then exactly the declared length,
/// after checking it against max_length. The buffer grows in chunks of at most 1 MiB as bytes
/// arrive, so a lying length cannot make it allocate more than the stream delivers.
/// @throws hefl::parse_error on a bad prefix, an impossible length or a stream that ends early.
[[nodiscard]] inline std::vector<std::uint8_t> read_stream(std::istream& is, kind k, const parameters* params) {
  std::vector<std::uint8_t> buffer(prefix_size);
  is.read(reinterpret_cast<char*>(buffer.data()), static_cast<std::streamsize>(prefix_size));
  buffer.resize(static_cast<std::size_t>(is.gcount()));
  prefix p;
  {
    input in(buffer, k); // only the prefix: buffer grows below
    p = read_prefix(in, params != nullptr ? params->special_prime_count() : 0);
    if (params != nullptr) check_params_id(p, *params, in);
  }
  const std::string loader(loaders[index(k)]), name(names[index(k)]);
  const std::uint64_t limit = max_length(k, params);
  if (p.length < prefix_size + checksum_size || p.length > limit)
    throw parse_error(loader + ": declared length " + std::to_string(p.length) + " is impossible for a " + name +
                      (params != nullptr ? " of these parameters" : "") + " (at most " + std::to_string(limit) +
                      " bytes)");
  if (k == kind::secret_key) {
    // Exactly one allocation of the exact size: growing the buffer would copy the secret and free
    // the old block unwiped.
    const std::uint64_t exact = prefix_size + shape_size + poly_bytes(*params, params->max_level(), true) + checksum_size;
    if (p.length != exact)
      throw parse_error(loader + ": declared length " + std::to_string(p.length) + ", but a secret key of these "
                        "parameters takes exactly " + std::to_string(exact) + " bytes");
    std::vector<std::uint8_t> exact_buffer(static_cast<std::size_t>(exact));
    std::copy(buffer.begin(), buffer.end(), exact_buffer.begin());
    const std::size_t rest = exact_buffer.size() - buffer.size();
    is.read(reinterpret_cast<char*>(exact_buffer.data() + buffer.size()), static_cast<std::streamsize>(rest));
    if (static_cast<std::size_t>(is.gcount()) != rest) {
      wipe_bytes(exact_buffer);
      throw parse_error(loader + ": truncated stream: the " + name + " declares " + std::to_string(p.length) +
                        " bytes but the stream ended early");
    }
    return exact_buffer;
  }
  constexpr std::size_t chunk = std::size_t{1} << 20;
  try {
    while (buffer.size() < p.length) {
      const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, p.length - buffer.size()));
      const std::size_t old = buffer.size();
      buffer.resize(old + want);
      is.read(reinterpret_cast<char*>(buffer.data() + old), static_cast<std::streamsize>(want));
      if (static_cast<std::size_t>(is.gcount()) != want)
        throw parse_error(loader + ": truncated stream: the " + name + " declares " +
                          std::to_string(p.length) + " bytes but the stream ended after " +
                          std::to_string(old + static_cast<std::size_t>(is.gcount())));
    }
  } catch (...) {
    if (k == kind::secret_key) wipe_bytes(buffer);
    throw;
  }
  return buffer;
}

/// Writes @p bytes to @p os.
/// @throws hefl::io_error if the stream fails.
inline void write_stream(std::ostream& os, std::span<const std::uint8_t> bytes, kind k) {
  os.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!os) throw io_error("ckks::save: writing the " + std::string(names[index(k)]) + " to the stream failed");
}

/// Wipes a byte buffer when it goes out of scope (buffers that held the secret key).
struct byte_wiper {
  std::vector<std::uint8_t>& bytes;
  ~byte_wiper() { wipe_bytes(bytes); }
};

} // namespace detail::wire

// ---------------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------------

/// Number of bytes save(params) produces.
[[nodiscard]] inline std::uint64_t serialized_size(const parameters& params) noexcept {
  using namespace detail::wire;
  return prefix_size + parameters_header_size + (params.special_prime_count() > 1 ? 8 : 0) +
         9 * params.primes().size() + checksum_size;
}

/// Serializes a parameter set: ring degree, prime bit sizes, the primes themselves, log2 of the
/// default scale and the security level it was checked against; with α > 1 special primes (format
/// version 4) also α and a reserved zero word after the scale.
[[nodiscard]] inline std::vector<std::uint8_t> save(const parameters& params) {
  using namespace detail::wire;
  output out(serialized_size(params));
  const bool hybrid = params.special_prime_count() > 1;
  out.put_prefix(kind::parameters, params.id(), hybrid ? hybrid_version : format_version);
  out.put(static_cast<std::uint32_t>(params.poly_degree()));
  out.put(static_cast<std::uint16_t>(params.primes().size()));
  out.put(static_cast<std::uint8_t>(params.security_level() == security::classical_128 ? 0 : 1));
  out.put(static_cast<std::uint8_t>(
      params.special_prime_rule() == special_prime_size::at_least_largest_chain_prime ? 0 : 1));
  out.put(params.log2_scale());
  if (hybrid) {
    out.put(static_cast<std::uint32_t>(params.special_prime_count()));
    out.put(std::uint32_t{0});
  }
  for (const int bits : params.prime_bits()) out.put(static_cast<std::uint8_t>(bits));
  for (const std::uint64_t q : params.primes()) out.put(q);
  return std::move(out).finish();
}

/// Loads a parameter set: validates every field, regenerates the primes from the bit sizes and
/// checks them and the parameter id against the stored ones. Parameters saved with
/// security::none_i_know_this_is_insecure load only if @p accept is that same flag.
/// @throws hefl::parse_error on truncation, trailing bytes, a wrong magic, an unsupported version,
/// a field out of range, a checksum mismatch, parameters the constructor rejects, or primes or an id
/// that differ from the regenerated ones (the message shows both ids).
/// @throws hefl::security_error if the set is marked insecure and @p accept is security::classical_128.
[[nodiscard]] inline parameters load_parameters(std::span<const std::uint8_t> bytes,
                                                security accept = security::classical_128) {
  using namespace detail::wire;
  input in(bytes, kind::parameters);
  const std::string loader = in.loader();
  const prefix p = read_prefix(in, 0);
  check_length(p, in);
  const auto degree = in.get<std::uint32_t>("ring degree");
  if (degree < min_poly_degree || degree > max_poly_degree || (degree & (degree - 1)) != 0)
    throw parse_error(loader + ": ring degree " + std::to_string(degree) + " is not a power of two in [" +
                      std::to_string(min_poly_degree) + ", " + std::to_string(max_poly_degree) + "]");
  const auto count = in.get<std::uint16_t>("prime count");
  if (count < 2 || count > 256)
    throw parse_error(loader + ": prime count " + std::to_string(count) + " is outside [2, 256]");
  const auto level_code = in.get<std::uint8_t>("security level");
  if (level_code > 1)
    throw parse_error(loader + ": unknown security level " + std::to_string(level_code) +
                      " (0 = classical_128, 1 = none_i_know_this_is_insecure)");
  const auto special_code = in.get<std::uint8_t>("special-prime rule");
  if (special_code > 1)
    throw parse_error(loader + ": unknown special-prime rule " + std::to_string(special_code) +
                      " (0 = at_least_largest_chain_prime, 1 = allow_smaller_i_know_key_switching_loses_precision)");
  const auto log2_scale = in.get<double>("log2 scale");
  if (!std::isfinite(log2_scale) || !(log2_scale >= 1))
    throw parse_error(loader + ": log2 scale must be finite and at least 1, got " + std::to_string(log2_scale));
  std::size_t special_count = 1;
  if (p.version == hybrid_version) {
    const auto stored = in.get<std::uint32_t>("special prime count");
    if (stored < 2 || stored >= count)
      throw parse_error(loader + ": special prime count " + std::to_string(stored) + " is outside [2, " +
                        std::to_string(count - 1) + "] (version 4 is for several special primes and at least one "
                        "chain prime)");
    if (in.get<std::uint32_t>("reserved word") != 0) throw parse_error(loader + ": the reserved word is not zero");
    special_count = stored;
  }
  check_implied_length(p, prefix_size + parameters_header_size + (special_count > 1 ? 8 : 0) +
                              9 * std::uint64_t{count} + checksum_size, in);
  std::vector<int> bits(count);
  for (std::size_t i = 0; i < count; ++i) {
    bits[i] = in.get<std::uint8_t>("prime bit sizes");
    if (bits[i] < detail::min_prime_bits || bits[i] > detail::max_prime_bits)
      throw parse_error(loader + ": prime " + std::to_string(i) + " has " + std::to_string(bits[i]) +
                        " bits, outside [" + std::to_string(detail::min_prime_bits) + ", " +
                        std::to_string(detail::max_prime_bits) + "]");
  }
  std::vector<std::uint64_t> primes(count);
  for (auto& q : primes) q = in.get<std::uint64_t>("primes");
  check_checksum(in);

  const security level = level_code == 0 ? security::classical_128 : security::none_i_know_this_is_insecure;
  if (level == security::none_i_know_this_is_insecure && accept != security::none_i_know_this_is_insecure)
    throw security_error(loader + ": the parameter set is marked security::none_i_know_this_is_insecure; pass "
                                  "that flag to load_parameters to accept it");
  int chain_bits = 0;
  for (std::size_t i = 0; i + special_count < count; ++i) chain_bits += bits[i];
  if (!(log2_scale < chain_bits))
    throw parse_error(loader + ": the stored parameters are invalid: log2 scale " + std::to_string(log2_scale) +
                      " is not below the " + std::to_string(chain_bits) + " bits of the ciphertext modulus");
  const special_prime_size special =
      special_code == 0 ? special_prime_size::at_least_largest_chain_prime
                        : special_prime_size::allow_smaller_i_know_key_switching_loses_precision;
  // Regenerate and compare the primes and the id before the constructor builds the NTT tables, so
  // forged input costs no more than the prime search.
  std::vector<std::uint64_t> generated;
  try {
    generated = detail::generate_ntt_primes(bits, degree);
  } catch (const error& e) {
    throw parse_error(loader + ": the stored parameters are invalid: " + e.what());
  }
  for (std::size_t i = 0; i < count; ++i)
    if (generated[i] != primes[i])
      throw parse_error(loader + ": stored prime " + std::to_string(i) + " is " + std::to_string(primes[i]) +
                        " but its bit size generates " + std::to_string(generated[i]));
  const std::uint64_t id = detail::parameters_id(degree, generated, log2_scale, special_count);
  if (id != p.params_id)
    throw parse_error(loader + ": wrong parameter id: stored " + hex(p.params_id) + ", recomputed " + hex(id));
  std::optional<parameters> params;
  try {
    params.emplace(degree, bits, log2_scale, special_primes{special_count}, level, special);
  } catch (const error& e) {
    throw parse_error(loader + ": the stored parameters are invalid: " + e.what());
  }
  return std::move(*params);
}

// ---------------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------------

/// Number of bytes save(params, sk, expose_secret) produces.
[[nodiscard]] inline std::uint64_t serialized_size(const parameters& params, const secret_key&) noexcept {
  using namespace detail::wire;
  return prefix_size + shape_size + poly_bytes(params, params.max_level(), true) + checksum_size;
}

/// Number of bytes save(params, pk) produces.
[[nodiscard]] inline std::uint64_t serialized_size(const parameters& params, const public_key&) noexcept {
  using namespace detail::wire;
  return prefix_size + shape_size + 2 * poly_bytes(params, params.max_level(), true) + checksum_size;
}

/// Number of bytes save(params, rk) produces: about half for a seeded key (see save).
[[nodiscard]] inline std::uint64_t serialized_size(const parameters& params, const relin_keys& rk) noexcept {
  return detail::wire::relin_size(params, rk.key().seed().has_value());
}

namespace detail::wire {

/// Whether save() writes @p gk seeded: only if it is not empty and every key has a seed.
[[nodiscard]] inline bool all_seeded(const galois_keys& gk) {
  const auto elements = gk.elements();
  return !elements.empty() &&
         std::all_of(elements.begin(), elements.end(), [&](std::uint64_t g) { return gk.key(g).seed().has_value(); });
}

} // namespace detail::wire

/// Number of bytes save(params, gk) produces: about half for a seeded set (see save).
[[nodiscard]] inline std::uint64_t serialized_size(const parameters& params, const galois_keys& gk) {
  return detail::wire::galois_size(params, gk.elements().size(), detail::wire::all_seeded(gk));
}

/// Serializes the secret key. The returned bytes ARE the secret: wipe them when done (the buffer is
/// allocated once at its final size, so no copy is left behind in freed memory).
/// @throws hefl::invalid_argument if the key belongs to other parameters.
[[nodiscard]] inline std::vector<std::uint8_t> save(const parameters& params, const secret_key& sk, expose_secret_t) {
  using namespace detail::wire;
  check_owner(params, sk.parameters_id(), kind::secret_key);
  output out(serialized_size(params, sk));
  try {
    out.put_prefix(kind::secret_key, params.id());
    out.put_shape(params.poly_degree(), params.max_level(), params.max_level() + 1 + params.special_prime_count(), 1,
                  flag_ntt | flag_special);
    out.put_poly(sk.poly(), params, "ckks::save: secret key");
    return std::move(out).finish();
  } catch (...) {
    out.wipe();
    throw;
  }
}

/// Refuses, at compile time, to serialize a secret key without saying so.
template <class Key>
  requires std::same_as<Key, secret_key>
std::vector<std::uint8_t> save(const parameters&, const Key&) {
  static_assert(!std::same_as<Key, secret_key>,
                "ckks::save refuses a secret_key so that the secret never becomes bytes by accident: write "
                "ckks::save(params, sk, ckks::expose_secret) if you really mean to export it");
  return {};
}

/// Serializes the public key (b, a).
/// @throws hefl::invalid_argument if the key belongs to other parameters.
[[nodiscard]] inline std::vector<std::uint8_t> save(const parameters& params, const public_key& pk) {
  using namespace detail::wire;
  check_owner(params, pk.parameters_id(), kind::public_key);
  output out(serialized_size(params, pk));
  out.put_prefix(kind::public_key, params.id());
  out.put_shape(params.poly_degree(), params.max_level(), params.max_level() + 1 + params.special_prime_count(), 2,
                flag_ntt | flag_special);
  out.put_poly(pk.b(), params, "ckks::save: public key b");
  out.put_poly(pk.a(), params, "ckks::save: public key a");
  return std::move(out).finish();
}

namespace detail::wire {

/// Writes a key-switching key: if @p seeded, its 32-byte seed and b_0..b_{dnum-1} (the a_j are the
/// seed's expansion); otherwise the dnum pairs (b_j, a_j).
inline void put_kswitch(output& out, const kswitch_key& key, const parameters& params, bool seeded) {
  if (seeded) out.put_bytes(*key.seed());
  for (std::size_t j = 0; j < key.digit_count(); ++j) {
    out.put_poly(key.b(j), params, "ckks::save: key-switching key b");
    if (!seeded) out.put_poly(key.a(j), params, "ckks::save: key-switching key a");
  }
}

/// Reads a key-switching key as put_kswitch wrote it; a seeded one is rebuilt by expanding its seed.
[[nodiscard]] inline kswitch_key read_kswitch(input& in, const parameters& params, const std::string& which,
                                              bool seeded) {
  const std::size_t digits = params.digit_count();
  kswitch_seed seed{};
  if (seeded) {
    const auto stored = in.take(seed_size, which + " seed");
    std::copy(stored.begin(), stored.end(), seed.begin());
  }
  std::vector<rns_poly> bs, as;
  bs.reserve(digits);
  as.reserve(seeded ? 0 : digits);
  for (std::size_t j = 0; j < digits; ++j) {
    bs.push_back(read_poly(in, params, params.max_level(), true, which + " b_" + std::to_string(j)));
    if (!seeded) as.push_back(read_poly(in, params, params.max_level(), true, which + " a_" + std::to_string(j)));
  }
  return seeded ? kswitch_key::from_seed(params, std::move(bs), seed) : kswitch_key(params, std::move(bs), std::move(as));
}

/// Shape rule of the keys: top level, special limb, @p polys polynomials, seeded only if @p seed_allowed.
[[nodiscard]] constexpr shape_rule key_rule(std::uint32_t polys, bool seed_allowed = false) noexcept {
  return shape_rule{true, true, seed_allowed, polys, polys};
}

/// Reads the seed-length word of a version-3 key-switching object: 32 if it is seeded, 0 if it is in
/// full, and it must agree with the seeded flag of @p s.
/// @throws hefl::parse_error naming the length (and the flag) when they are wrong.
[[nodiscard]] inline bool read_seed_length(input& in, const shape& s) {
  const auto length = in.get<std::uint32_t>("seed length");
  if (length != 0 && length != seed_size)
    throw parse_error(in.loader() + ": seed length " + std::to_string(length) + " bytes, expected " +
                      std::to_string(seed_size) + " (seeded keys) or 0 (keys in full)");
  if ((length != 0) != s.seeded())
    throw parse_error(in.loader() + ": seed length " + std::to_string(length) + " contradicts the seeded flag, which is " +
                      (s.seeded() ? "set" : "clear"));
  return length != 0;
}

/// Writes the digit structure of version 4 (digit count, special-prime count).
inline void put_structure(output& out, const parameters& params) {
  out.put(static_cast<std::uint32_t>(params.digit_count()));
  out.put(static_cast<std::uint32_t>(params.special_prime_count()));
}

/// Reads the digit structure of a version-4 key-switching object.
/// @throws hefl::parse_error naming both structures if it is not that of @p params.
inline void read_structure(input& in, const parameters& params) {
  const auto digits = in.get<std::uint32_t>("digit count");
  const auto special = in.get<std::uint32_t>("special prime count");
  if (digits != params.digit_count() || special != params.special_prime_count())
    throw parse_error(in.loader() + ": the " + in.name() + " has " + std::to_string(digits) + " digits over " +
                      std::to_string(special) + " special primes, but the parameters' keys have " +
                      std::to_string(params.digit_count()) + " digits over " +
                      std::to_string(params.special_prime_count()) + " special primes");
}

/// @throws hefl::invalid_argument if @p key does not have the digit structure of @p params.
inline void check_structure(const kswitch_key& key, const parameters& params, const std::string& what) {
  if (key.digit_count() != params.digit_count() || key.special_count() != params.special_prime_count())
    throw invalid_argument("ckks::save: the " + what + " has " + std::to_string(key.digit_count()) + " digits over " +
                           std::to_string(key.special_count()) + " special primes, the parameters need " +
                           std::to_string(params.digit_count()) + " over " +
                           std::to_string(params.special_prime_count()));
}

} // namespace detail::wire

/// Serializes the relinearization key (format version 3): a seeded key (every key from
/// key_generator) as its 32-byte seed and b_0..b_L, about half the bytes; a key assembled from
/// explicit a_j as the L + 1 pairs (b_j, a_j). The seeded flag and a seed-length word say which.
/// @throws hefl::invalid_argument if the key belongs to other parameters.
[[nodiscard]] inline std::vector<std::uint8_t> save(const parameters& params, const relin_keys& rk) {
  using namespace detail::wire;
  check_owner(params, rk.parameters_id(), kind::relin_keys);
  if (params.special_prime_count() == 1 && rk.key().digit_count() != params.max_level() + 1)
    throw invalid_argument("ckks::save: the relinearization key has " + std::to_string(rk.key().digit_count()) +
                           " digits, the parameters need " + std::to_string(params.max_level() + 1));
  check_structure(rk.key(), params, "relinearization key");
  const bool seeded = rk.key().seed().has_value();
  output out(serialized_size(params, rk));
  out.put_prefix(kind::relin_keys, params.id(), key_version(params));
  out.put_shape(params.poly_degree(), params.max_level(), params.max_level() + 1 + params.special_prime_count(),
                static_cast<std::uint32_t>(2 * params.digit_count()),
                flag_ntt | flag_special | (seeded ? flag_seeded : 0));
  out.put(static_cast<std::uint32_t>(seeded ? seed_size : 0));
  out.put(std::uint32_t{0});
  if (key_version(params) == hybrid_version) put_structure(out, params);
  put_kswitch(out, rk.key(), params, seeded);
  return std::move(out).finish();
}

/// Serializes a Galois key set (format version 3): the Galois elements (ascending), then for each key
/// its seed and b_0..b_L if every key of the set is seeded (all keys from key_generator are), else
/// its L + 1 pairs (b_j, a_j).
/// @throws hefl::invalid_argument if the keys belong to other parameters.
[[nodiscard]] inline std::vector<std::uint8_t> save(const parameters& params, const galois_keys& gk) {
  using namespace detail::wire;
  check_owner(params, gk.parameters_id(), kind::galois_keys);
  const auto elements = gk.elements();
  const bool seeded = all_seeded(gk);
  for (const std::uint64_t g : elements) {
    if (params.special_prime_count() == 1 && gk.key(g).digit_count() != params.max_level() + 1)
      throw invalid_argument("ckks::save: the Galois key for element " + std::to_string(g) + " has the wrong digit count");
    check_structure(gk.key(g), params, "Galois key for element " + std::to_string(g));
  }
  output out(serialized_size(params, gk));
  out.put_prefix(kind::galois_keys, params.id(), key_version(params));
  out.put_shape(params.poly_degree(), params.max_level(), params.max_level() + 1 + params.special_prime_count(),
                static_cast<std::uint32_t>(2 * params.digit_count()),
                flag_ntt | flag_special | (seeded ? flag_seeded : 0));
  out.put(static_cast<std::uint32_t>(elements.size()));
  out.put(static_cast<std::uint32_t>(seeded ? seed_size : 0));
  if (key_version(params) == hybrid_version) put_structure(out, params);
  for (const std::uint64_t g : elements) out.put(g);
  for (const std::uint64_t g : elements) {
    put_kswitch(out, gk.key(g), params, seeded);
  }
  return std::move(out).finish();
}

/// Loads a secret key. Intermediate buffers that held the secret are wiped.
/// @throws hefl::parse_error on truncation, trailing bytes, a wrong magic, an unsupported version, a
/// wrong parameter id, a header inconsistent with @p params, a checksum mismatch or a residue not
/// below its prime; each message names the field.
[[nodiscard]] inline secret_key load_secret_key(const parameters& params, std::span<const std::uint8_t> bytes) {
  using namespace detail::wire;
  input in(bytes, kind::secret_key);
  const prefix p = read_prefix(in);
  check_params_id(p, params, in);
  check_length(p, in);
  (void)read_shape(in, params, key_rule(1));
  check_implied_length(p, prefix_size + shape_size + poly_bytes(params, params.max_level(), true) + checksum_size, in);
  check_checksum(in);
  return secret_key(params, read_poly(in, params, params.max_level(), true, "secret key"));
}

/// Loads a public key.
/// @throws hefl::parse_error as load_secret_key.
[[nodiscard]] inline public_key load_public_key(const parameters& params, std::span<const std::uint8_t> bytes) {
  using namespace detail::wire;
  input in(bytes, kind::public_key);
  const prefix p = read_prefix(in);
  check_params_id(p, params, in);
  check_length(p, in);
  (void)read_shape(in, params, key_rule(2));
  check_implied_length(p, prefix_size + shape_size + 2 * poly_bytes(params, params.max_level(), true) + checksum_size,
                       in);
  check_checksum(in);
  detail::rns_poly b = read_poly(in, params, params.max_level(), true, "public key b");
  detail::rns_poly a = read_poly(in, params, params.max_level(), true, "public key a");
  return public_key(params, std::move(b), std::move(a));
}

/// Loads a relinearization key, seeded (the a_j are re-expanded from the seed, so the key computes
/// exactly as the one saved) or in full; format versions 3 and 2 (always in full).
/// @throws hefl::parse_error as load_secret_key, or if the seed length is not 32 (seeded) or 0 (in
/// full) or contradicts the seeded flag.
[[nodiscard]] inline relin_keys load_relin_keys(const parameters& params, std::span<const std::uint8_t> bytes) {
  using namespace detail::wire;
  input in(bytes, kind::relin_keys);
  const prefix p = read_prefix(in, params.special_prime_count());
  check_params_id(p, params, in);
  check_length(p, in);
  const bool v3 = p.version >= key_switching_version;
  const shape s = read_shape(in, params, key_rule(static_cast<std::uint32_t>(2 * params.digit_count()), v3));
  bool seeded = false;
  if (v3) {
    seeded = read_seed_length(in, s);
    if (in.get<std::uint32_t>("reserved word") != 0) throw parse_error(in.loader() + ": the reserved word is not zero");
  }
  if (p.version == hybrid_version) read_structure(in, params);
  check_implied_length(p, relin_size(params, seeded, p.version), in);
  check_checksum(in);
  return relin_keys(read_kswitch(in, params, "relinearization key", seeded));
}

/// Loads a Galois key set, seeded or in full (as load_relin_keys). Besides the checks of
/// load_secret_key, the key count must not exceed N and the Galois elements must be odd, below 2N and
/// strictly ascending.
/// @throws hefl::parse_error as load_relin_keys, or naming the offending Galois element.
[[nodiscard]] inline galois_keys load_galois_keys(const parameters& params, std::span<const std::uint8_t> bytes) {
  using namespace detail::wire;
  input in(bytes, kind::galois_keys);
  const std::string loader = in.loader();
  const prefix p = read_prefix(in, params.special_prime_count());
  check_params_id(p, params, in);
  check_length(p, in);
  const bool v3 = p.version >= key_switching_version;
  const shape s = read_shape(in, params, key_rule(static_cast<std::uint32_t>(2 * params.digit_count()), v3));
  const auto count = in.get<std::uint32_t>("key count");
  if (count > params.poly_degree())
    throw parse_error(loader + ": key count " + std::to_string(count) + " exceeds N = " +
                      std::to_string(params.poly_degree()) + ", the number of distinct Galois elements");
  bool seeded = false;
  if (v3)
    seeded = read_seed_length(in, s);
  else if (in.get<std::uint32_t>("reserved word") != 0)
    throw parse_error(loader + ": the reserved word is not zero");
  if (p.version == hybrid_version) read_structure(in, params);
  check_implied_length(p, galois_size(params, count, seeded), in);
  const std::uint64_t two_n = 2 * static_cast<std::uint64_t>(params.poly_degree());
  std::vector<std::uint64_t> elements(count);
  for (std::size_t i = 0; i < count; ++i) {
    const auto g = in.get<std::uint64_t>("Galois elements");
    if (g % 2 == 0 || g >= two_n)
      throw parse_error(loader + ": Galois element " + std::to_string(i) + " is " + std::to_string(g) +
                        ", not odd and below 2N = " + std::to_string(two_n));
    if (i > 0 && g <= elements[i - 1])
      throw parse_error(loader + ": Galois elements are not strictly ascending (" + std::to_string(elements[i - 1]) +
                        " then " + std::to_string(g) + ")");
    elements[i] = g;
  }
  check_checksum(in);
  std::map<std::uint64_t, kswitch_key> keys;
  for (const std::uint64_t g : elements)
    keys.emplace(g, read_kswitch(in, params, "Galois key " + std::to_string(g), seeded));
  return galois_keys(params.id(), std::move(keys));
}

// ---------------------------------------------------------------------------------------------------
// Plaintexts and ciphertexts
// ---------------------------------------------------------------------------------------------------

class seeded_ciphertext;

namespace detail {

/// The one door into symmetric_encryptor's seeded path: used by encrypt_seeded (a fresh seed from
/// the encryptor's own source) and by the test-only testing::encrypt_seeded_with_chosen_seed.
struct symmetric_encryptor_access {
  static seeded_ciphertext encrypt(symmetric_encryptor& enc, const plaintext& pt,
                                   const std::array<std::uint8_t, wire::seed_size>& seed);
  static void draw_seed(symmetric_encryptor& enc, std::array<std::uint8_t, wire::seed_size>& seed) {
    enc.m_rng.fill(seed);
  }
};

} // namespace detail

/// A fresh symmetric ciphertext whose uniform part c_1 is the ChaCha20 key stream (RFC 8439) of a
/// public 32-byte seed, so that save() can store the seed instead of c_1 (half the size). Made only
/// by encrypt_seeded() and immutable: copy ciphertext() out to compute with it.
class seeded_ciphertext {
public:
  /// The ciphertext (c_0, c_1).
  [[nodiscard]] const ciphertext& get() const noexcept { return m_ct; }
  /// The seed c_1 was expanded from.
  [[nodiscard]] std::span<const std::uint8_t, detail::wire::seed_size> seed() const noexcept { return m_seed; }

private:
  seeded_ciphertext(ciphertext ct, const std::array<std::uint8_t, detail::wire::seed_size>& seed)
      : m_ct(std::move(ct)), m_seed(seed) {}
  friend struct detail::symmetric_encryptor_access;

  ciphertext m_ct;
  std::array<std::uint8_t, detail::wire::seed_size> m_seed;
};

inline seeded_ciphertext detail::symmetric_encryptor_access::encrypt(
    symmetric_encryptor& enc, const plaintext& pt, const std::array<std::uint8_t, wire::seed_size>& seed) {
  wire::chacha20_source a_source(seed);
  return seeded_ciphertext(enc.encrypt_with_uniform(pt, a_source), seed);
}

/// Encrypts @p pt with the secret key of @p enc, drawing a fresh 32-byte seed from the encryptor's
/// own source (a CSPRNG outside tests) and the uniform part from the seed's key stream. Every call
/// draws a new seed: a caller cannot make two ciphertexts share c_1. The seed becomes public when
/// the ciphertext is saved, as c_1 would.
/// @throws hefl::invalid_argument as symmetric_encryptor::encrypt; whatever the source throws.
[[nodiscard]] inline seeded_ciphertext encrypt_seeded(symmetric_encryptor& enc, const plaintext& pt) {
  std::array<std::uint8_t, detail::wire::seed_size> seed{};
  detail::symmetric_encryptor_access::draw_seed(enc, seed);
  return detail::symmetric_encryptor_access::encrypt(enc, pt, seed);
}

#if defined(HEFL_CKKS_TESTING_CHOSEN_SEEDS)
namespace testing {

/// INSECURE, for known-answer tests only: encrypt_seeded with a seed the caller chooses. Two
/// ciphertexts with one seed share c_1 and reveal the difference of their messages. It exists only
/// in translation units that define HEFL_CKKS_TESTING_CHOSEN_SEEDS before including this header.
/// @throws as encrypt_seeded.
[[nodiscard]] inline seeded_ciphertext encrypt_seeded_with_chosen_seed(
    symmetric_encryptor& enc, const plaintext& pt, const std::array<std::uint8_t, detail::wire::seed_size>& seed) {
  return detail::symmetric_encryptor_access::encrypt(enc, pt, seed);
}

} // namespace testing
#endif

/// Number of bytes save(params, pt) produces.
[[nodiscard]] inline std::uint64_t serialized_size(const parameters& params, const plaintext& pt) noexcept {
  using namespace detail::wire;
  return prefix_size + shape_size + 8 + poly_bytes(params, pt.level(), false) + checksum_size;
}

/// Number of bytes save(params, ct) produces.
[[nodiscard]] inline std::uint64_t serialized_size(const parameters& params, const ciphertext& ct) noexcept {
  using namespace detail::wire;
  return prefix_size + shape_size + 8 + ct.size() * poly_bytes(params, ct.level(), false) + checksum_size;
}

/// Number of bytes save(params, sct) produces: one polynomial and a 32-byte seed.
[[nodiscard]] inline std::uint64_t serialized_size(const parameters& params, const seeded_ciphertext& sct) noexcept {
  using namespace detail::wire;
  return prefix_size + shape_size + 8 + seed_size + poly_bytes(params, sct.get().level(), false) + checksum_size;
}

/// Serializes a plaintext (level, scale, polynomial).
/// @throws hefl::invalid_argument if the plaintext belongs to other parameters.
[[nodiscard]] inline std::vector<std::uint8_t> save(const parameters& params, const plaintext& pt) {
  using namespace detail::wire;
  check_owner(params, pt.parameters_id(), kind::plaintext);
  output out(serialized_size(params, pt));
  out.put_prefix(kind::plaintext, params.id());
  out.put_shape(params.poly_degree(), pt.level(), pt.level() + 1, 1, flag_ntt);
  out.put(pt.scale());
  out.put_poly(pt.poly(), params, "ckks::save: plaintext");
  return std::move(out).finish();
}

/// Serializes a ciphertext of 2 or 3 polynomials (level, scale, polynomials).
/// @throws hefl::invalid_argument if the ciphertext belongs to other parameters or a residue is not
/// reduced (a bug in whatever produced it).
[[nodiscard]] inline std::vector<std::uint8_t> save(const parameters& params, const ciphertext& ct) {
  using namespace detail::wire;
  check_owner(params, ct.parameters_id(), kind::ciphertext);
  output out(serialized_size(params, ct));
  out.put_prefix(kind::ciphertext, params.id());
  out.put_shape(params.poly_degree(), ct.level(), ct.level() + 1, ct.size(), flag_ntt);
  out.put(ct.scale());
  for (const auto& p : ct.polys()) out.put_poly(p, params, "ckks::save: ciphertext");
  return std::move(out).finish();
}

/// Serializes a seeded ciphertext as c_0 and the seed of c_1. Checks first that the seed still
/// expands to c_1, so a change in how the encryptor draws c_1 cannot produce undecryptable files.
/// @throws hefl::invalid_argument if the ciphertext belongs to other parameters or c_1 is not the
/// expansion of the seed.
[[nodiscard]] inline std::vector<std::uint8_t> save(const parameters& params, const seeded_ciphertext& sct) {
  using namespace detail::wire;
  const ciphertext& ct = sct.get();
  check_owner(params, ct.parameters_id(), kind::ciphertext);
  if (ct.size() != 2 || !(expand_uniform(params, ct.level(), sct.seed()) == ct.poly(1)))
    throw invalid_argument("ckks::save: the seeded ciphertext's c_1 is not the expansion of its seed "
                           "(has symmetric_encryptor changed how it draws the uniform part?)");
  output out(serialized_size(params, sct));
  out.put_prefix(kind::ciphertext, params.id());
  out.put_shape(params.poly_degree(), ct.level(), ct.level() + 1, 2, flag_ntt | flag_seeded);
  out.put(ct.scale());
  out.put_bytes(sct.seed());
  out.put_poly(ct.poly(0), params, "ckks::save: ciphertext");
  return std::move(out).finish();
}

/// Loads a plaintext.
/// @throws hefl::parse_error on truncation, trailing bytes, a wrong magic, an unsupported version, a
/// wrong parameter id, a ring degree, level or limb count inconsistent with @p params, a scale that
/// is not positive and finite, a checksum mismatch or a residue not below its prime.
[[nodiscard]] inline plaintext load_plaintext(const parameters& params, std::span<const std::uint8_t> bytes) {
  using namespace detail::wire;
  input in(bytes, kind::plaintext);
  const prefix p = read_prefix(in);
  check_params_id(p, params, in);
  check_length(p, in);
  const shape s = read_shape(in, params, shape_rule{false, false, false, 1, 1});
  const double scale = read_scale(in, params, s.level);
  check_implied_length(p, prefix_size + shape_size + 8 + poly_bytes(params, s.level, false) + checksum_size, in);
  check_checksum(in);
  return plaintext(params, read_poly(in, params, s.level, false, "plaintext"), scale);
}

/// Loads a ciphertext (2 or 3 polynomials, or a seeded one, whose c_1 is re-expanded from the seed).
/// @throws hefl::parse_error as load_plaintext, or if the polynomial count is not 2 or 3.
[[nodiscard]] inline ciphertext load_ciphertext(const parameters& params, std::span<const std::uint8_t> bytes) {
  using namespace detail::wire;
  input in(bytes, kind::ciphertext);
  const prefix p = read_prefix(in);
  check_params_id(p, params, in);
  check_length(p, in);
  const shape s = read_shape(in, params, shape_rule{false, false, true, 2, 3});
  const double scale = read_scale(in, params, s.level);
  std::array<std::uint8_t, seed_size> seed{};
  if (s.seeded()) {
    const auto stored = in.take(seed_size, "seed");
    std::copy(stored.begin(), stored.end(), seed.begin());
  }
  const std::uint64_t stored_polys = s.seeded() ? 1 : s.polys;
  check_implied_length(p,
                       prefix_size + shape_size + 8 + (s.seeded() ? seed_size : 0) +
                           stored_polys * poly_bytes(params, s.level, false) + checksum_size,
                       in);
  check_checksum(in);
  std::vector<detail::rns_poly> polys;
  polys.reserve(s.polys);
  for (std::size_t i = 0; i < stored_polys; ++i)
    polys.push_back(read_poly(in, params, s.level, false, "ciphertext polynomial " + std::to_string(i)));
  if (s.seeded()) polys.push_back(expand_uniform(params, s.level, seed));
  return ciphertext(params, std::move(polys), scale);
}

// ---------------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------------

/// The objects save(params, obj) and save(params, obj, os) accept (every CKKS object but the secret key).
template <class T>
concept saveable = std::same_as<T, public_key> || std::same_as<T, relin_keys> || std::same_as<T, galois_keys> ||
                   std::same_as<T, plaintext> || std::same_as<T, ciphertext> || std::same_as<T, seeded_ciphertext>;

/// Writes save(params) to @p os. @throws hefl::io_error if the stream fails.
inline void save(const parameters& params, std::ostream& os) {
  detail::wire::write_stream(os, save(params), detail::wire::kind::parameters);
}

/// Writes save(params, obj) to @p os.
/// @throws hefl::invalid_argument as save(params, obj); hefl::io_error if the stream fails.
template <saveable T>
void save(const parameters& params, const T& obj, std::ostream& os) {
  detail::wire::write_stream(os, save(params, obj),
                             std::same_as<T, public_key>    ? detail::wire::kind::public_key
                             : std::same_as<T, relin_keys>  ? detail::wire::kind::relin_keys
                             : std::same_as<T, galois_keys> ? detail::wire::kind::galois_keys
                             : std::same_as<T, plaintext>   ? detail::wire::kind::plaintext
                                                            : detail::wire::kind::ciphertext);
}

/// Refuses, at compile time, to write a secret key to a stream without saying so.
template <class Key>
  requires std::same_as<Key, secret_key>
void save(const parameters&, const Key&, std::ostream&) {
  static_assert(!std::same_as<Key, secret_key>,
                "ckks::save refuses a secret_key so that the secret never becomes bytes by accident: write "
                "ckks::save(params, sk, ckks::expose_secret, os) if you really mean to export it");
}

/// Writes the secret key to @p os; the intermediate buffer is wiped.
/// @throws hefl::invalid_argument as save(params, sk, expose_secret); hefl::io_error if the stream fails.
inline void save(const parameters& params, const secret_key& sk, expose_secret_t tag, std::ostream& os) {
  auto bytes = save(params, sk, tag);
  const detail::wire::byte_wiper wiper{bytes};
  detail::wire::write_stream(os, bytes, detail::wire::kind::secret_key);
}

/// Reads one parameter set from @p is (exactly its bytes, so objects can follow in the same stream).
/// @throws hefl::parse_error and hefl::security_error as load_parameters(bytes), or if the stream ends early.
[[nodiscard]] inline parameters load_parameters(std::istream& is, security accept = security::classical_128) {
  return load_parameters(detail::wire::read_stream(is, detail::wire::kind::parameters, nullptr), accept);
}

/// Reads one secret key from @p is; the intermediate buffer is wiped.
/// @throws hefl::parse_error as load_secret_key(params, bytes), or if the stream ends early.
[[nodiscard]] inline secret_key load_secret_key(const parameters& params, std::istream& is) {
  auto bytes = detail::wire::read_stream(is, detail::wire::kind::secret_key, &params);
  const detail::wire::byte_wiper wiper{bytes};
  return load_secret_key(params, std::span<const std::uint8_t>(bytes));
}

/// Reads one public key from @p is.
/// @throws hefl::parse_error as load_public_key(params, bytes), or if the stream ends early.
[[nodiscard]] inline public_key load_public_key(const parameters& params, std::istream& is) {
  return load_public_key(params, detail::wire::read_stream(is, detail::wire::kind::public_key, &params));
}

/// Reads one relinearization key from @p is.
/// @throws hefl::parse_error as load_relin_keys(params, bytes), or if the stream ends early.
[[nodiscard]] inline relin_keys load_relin_keys(const parameters& params, std::istream& is) {
  return load_relin_keys(params, detail::wire::read_stream(is, detail::wire::kind::relin_keys, &params));
}

/// Reads one Galois key set from @p is.
/// @throws hefl::parse_error as load_galois_keys(params, bytes), or if the stream ends early.
[[nodiscard]] inline galois_keys load_galois_keys(const parameters& params, std::istream& is) {
  return load_galois_keys(params, detail::wire::read_stream(is, detail::wire::kind::galois_keys, &params));
}

/// Reads one plaintext from @p is.
/// @throws hefl::parse_error as load_plaintext(params, bytes), or if the stream ends early.
[[nodiscard]] inline plaintext load_plaintext(const parameters& params, std::istream& is) {
  return load_plaintext(params, detail::wire::read_stream(is, detail::wire::kind::plaintext, &params));
}

/// Reads one ciphertext from @p is.
/// @throws hefl::parse_error as load_ciphertext(params, bytes), or if the stream ends early.
[[nodiscard]] inline ciphertext load_ciphertext(const parameters& params, std::istream& is) {
  return load_ciphertext(params, detail::wire::read_stream(is, detail::wire::kind::ciphertext, &params));
}

} // namespace hefl::he::ckks
