#pragma once
// Test support: an X.509 extension with arbitrary bytes under any OID. It is the only way to forge a
// malformed hospital identity, as an attacker holding a CA key (or a buggy CA) would.

#include <botan/asn1_obj.h>
#include <botan/x509_ext.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace hefl_test {

class raw_extension final : public Botan::Certificate_Extension {
public:
  raw_extension(Botan::OID oid, std::vector<std::uint8_t> bytes) : m_oid(std::move(oid)), m_bytes(std::move(bytes)) {}
  Botan::OID oid_of() const override { return m_oid; }
  std::string oid_name() const override { return "test.raw"; }
  raw_extension* copy() const override { return new raw_extension(*this); }
  void contents_to(Botan::Data_Store&, Botan::Data_Store&) const override {}
  std::vector<std::uint8_t> encode_inner() const override { return m_bytes; }
  void decode_inner(const std::vector<std::uint8_t>& in) override { m_bytes = in; }

private:
  Botan::OID m_oid;
  std::vector<std::uint8_t> m_bytes;
};

} // namespace hefl_test
