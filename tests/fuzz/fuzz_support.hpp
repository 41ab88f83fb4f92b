#pragma once
// Shared by the libFuzzer harnesses (tests/fuzz/*_fuzz.cpp) and the seed-corpus generator
// (tests/fuzz/make_corpus.cpp): fixed keys, a fixed test CA and trust store, a fixed small CKKS
// parameter set, and a length-prefixed field format for inputs made of several fields.
//
// Fixed, not random: the corpus generator and the harnesses must agree on keys and the CA, so that
// valid seeds stay valid in every fuzzing run. These keys protect nothing.

#include <hefl/core/error.hpp>
#include <hefl/iot/pki/identity.hpp>
#include <hefl/iot/pki/pki.hpp>
#include <hefl/iot/pki/epc.hpp>

#include <botan/chacha_rng.h>
#include <botan/ecdsa.h>
#include <botan/ed25519.h>

#include <chrono>
#include <cstdint>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace hefl_fuzz {

using bytes = std::vector<std::uint8_t>;

/// A deterministic Botan RNG (ChaCha20 keyed by @p tag): fixed keys and signatures, fuzzing only.
inline Botan::ChaCha_RNG& fixed_rng() {
  static Botan::ChaCha_RNG rng(Botan::secure_vector<std::uint8_t>(32, 0x42));
  return rng;
}

/// A P-256 key whose private scalar is @p scalar (fixed, fuzzing only).
inline std::unique_ptr<Botan::ECDSA_PrivateKey> p256_key(std::uint64_t scalar) {
  return std::make_unique<Botan::ECDSA_PrivateKey>(fixed_rng(), Botan::EC_Group("secp256r1"), Botan::BigInt(scalar));
}

/// An Ed25519 key from the 32-byte seed @p tag repeated (fixed, fuzzing only).
inline std::unique_ptr<Botan::Ed25519_PrivateKey> ed25519_key(std::uint8_t tag) {
  return std::make_unique<Botan::Ed25519_PrivateKey>(Botan::secure_vector<std::uint8_t>(32, tag));
}

/// 2026-01-01T00:00:00Z: the CA's start; the harnesses validate at one day later.
inline hefl::iot::clock_time ca_start() { return hefl::iot::clock_time(std::chrono::seconds(1767225600)); }
inline hefl::iot::clock_time validation_time() { return ca_start() + std::chrono::hours(24); }

inline hefl::iot::identity device_identity(std::uint64_t serial = 1) {
  hefl::iot::identity id;
  id.role = hefl::iot::role::device;
  id.subject_id = "icu-monitor-" + std::to_string(serial);
  id.group_id = 7;
  id.rule_id = 70;
  id.device_epc = hefl::iot::sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345." + std::to_string(serial), 1);
  return id;
}

/// The fixed test CA ("Fuzz Hospital", P-256 scalar 0x1234567) and a trust store holding its root and CRL.
struct test_pki {
  hefl::iot::certificate_authority ca{p256_key(0x1234567), "Fuzz Hospital", ca_start()};
  hefl::iot::trust_store store = [this] {
    auto s = hefl::iot::trust_store::in_memory();
    s.add_root(ca.root());
    s.add_crl(ca.crl());
    return s;
  }();
};

inline test_pki& pki() {
  static test_pki p;
  return p;
}

/// Reads fields of the harness input format: u16 little-endian length, then that many bytes. A
/// field cut short by the end of the input is returned as far as it goes; after the end, empty.
class field_reader {
public:
  explicit field_reader(std::span<const std::uint8_t> in) : m_in(in) {}
  std::span<const std::uint8_t> take(std::size_t n) {
    n = std::min(n, m_in.size());
    const auto out = m_in.first(n);
    m_in = m_in.subspan(n);
    return out;
  }
  std::span<const std::uint8_t> field() {
    const auto len = take(2);
    std::size_t n = 0;
    if (len.size() == 2) n = len[0] | (std::size_t{len[1]} << 8);
    return take(n);
  }
  std::string text() {
    const auto f = field();
    return std::string(f.begin(), f.end());
  }
  std::int64_t i64() {
    const auto f = take(8);
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < f.size(); ++i) v |= std::uint64_t{f[i]} << (8 * i);
    return static_cast<std::int64_t>(v);
  }
  [[nodiscard]] std::span<const std::uint8_t> rest() const { return m_in; }

private:
  std::span<const std::uint8_t> m_in;
};

/// Writes the format field_reader reads (corpus generator side).
class field_writer {
public:
  void field(std::span<const std::uint8_t> f) {
    const auto n = std::min<std::size_t>(f.size(), 0xFFFF);
    m_out.push_back(static_cast<std::uint8_t>(n & 0xFF));
    m_out.push_back(static_cast<std::uint8_t>(n >> 8));
    m_out.insert(m_out.end(), f.begin(), f.begin() + static_cast<std::ptrdiff_t>(n));
  }
  void text(std::string_view s) { field(std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size())); }
  void raw(std::span<const std::uint8_t> f) { m_out.insert(m_out.end(), f.begin(), f.end()); }
  void i64(std::int64_t v) {
    for (int i = 0; i < 8; ++i) m_out.push_back(static_cast<std::uint8_t>(static_cast<std::uint64_t>(v) >> (8 * i)));
  }
  [[nodiscard]] bytes take() && { return std::move(m_out); }

private:
  bytes m_out;
};

/// A finding: the harness found a property broken on an input the parser accepted.
[[noreturn]] inline void finding(const char* what) {
  std::fprintf(stderr, "hefl fuzz finding: %s\n", what);
  std::abort();
}

} // namespace hefl_fuzz
