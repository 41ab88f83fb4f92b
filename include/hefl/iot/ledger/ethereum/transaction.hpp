#pragma once
/// @file
/// Legacy Ethereum transactions with EIP-155 replay protection: the signing payload
/// rlp([nonce, gasPrice, gas, to, value, data, chainId, 0, 0]), its Keccak-256, and the signed form
/// rlp([nonce, gasPrice, gas, to, value, data, v, r, s]) with v = recovery_id + 2·chainId + 35
/// (EIP-155, https://eips.ethereum.org/EIPS/eip-155).

#include <hefl/core/error.hpp>
#include <hefl/iot/ledger/ethereum/keccak.hpp>
#include <hefl/iot/ledger/ethereum/rlp.hpp>
#include <hefl/iot/ledger/ethereum/secp256k1.hpp>

#include <botan/bigint.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

namespace hefl::iot::ethereum {

/// An unsigned legacy transaction. No `to` means contract creation.
struct legacy_transaction {
  std::uint64_t nonce = 0;
  Botan::BigInt gas_price;  ///< wei per gas
  std::uint64_t gas_limit = 0;
  std::optional<address> to;
  Botan::BigInt value;      ///< wei
  bytes data;
};

/// A signed transaction as it travels (eth_sendRawTransaction) and its hash.
struct signed_transaction {
  bytes raw;
  hash32 hash{};  ///< keccak256(raw), the id nodes report
};

namespace transaction_detail {
inline bytes scalar(const Botan::BigInt& v) {
  bytes out(v.bytes());
  if (!out.empty()) v.binary_encode(out.data(), out.size());
  return out;
}
inline bytes trimmed(const hash32& v) {
  auto first = std::find_if(v.begin(), v.end(), [](std::uint8_t b) { return b != 0; });
  return {first, v.end()};
}
/// A 256-bit RLP scalar: at most 32 bytes, no leading zero.
inline Botan::BigInt read_scalar(const rlp_item& item) {
  const bytes& b = item.str();
  if (b.size() > 32) throw rlp_error(rlp_fault::oversized, "scalar of " + std::to_string(b.size()) + " bytes > 32");
  if (!b.empty() && b[0] == 0) throw rlp_error(rlp_fault::non_canonical, "scalar with a leading zero byte");
  return Botan::BigInt(b.data(), b.size());
}
inline std::vector<bytes> fields(const legacy_transaction& tx) {
  return {rlp::encode_uint(tx.nonce),
          rlp::encode_bytes(scalar(tx.gas_price)),
          rlp::encode_uint(tx.gas_limit),
          tx.to ? rlp::encode_bytes(*tx.to) : rlp::encode_bytes({}),
          rlp::encode_bytes(scalar(tx.value)),
          rlp::encode_bytes(tx.data)};
}
} // namespace transaction_detail

/// The EIP-155 signing payload (RLP of the nine fields).
/// @throws invalid_argument if chain_id is 0
inline bytes signing_payload(const legacy_transaction& tx, std::uint64_t chain_id) {
  if (chain_id == 0) throw invalid_argument("EIP-155: chain id 0 gives no replay protection");
  auto f = transaction_detail::fields(tx);
  f.push_back(rlp::encode_uint(chain_id));
  f.push_back(rlp::encode_uint(0));
  f.push_back(rlp::encode_uint(0));
  return rlp::encode_list(f);
}

/// The hash the sender signs: keccak256(signing_payload).
inline hash32 signing_hash(const legacy_transaction& tx, std::uint64_t chain_id) {
  return keccak256(signing_payload(tx, chain_id));
}

/// Signs a transaction for one chain (EIP-155).
/// @throws invalid_argument if chain_id is 0 or so large that v overflows 64 bits
inline signed_transaction sign(const legacy_transaction& tx, const secp256k1_key& key, std::uint64_t chain_id) {
  if (chain_id > (UINT64_MAX - 36) / 2) throw invalid_argument("EIP-155: chain id too large for a 64-bit v");
  const recoverable_signature sig = key.sign_hash(signing_hash(tx, chain_id));
  auto f = transaction_detail::fields(tx);
  f.push_back(rlp::encode_uint(sig.recovery_id + 2 * chain_id + 35));
  f.push_back(rlp::encode_bytes(transaction_detail::trimmed(sig.r)));
  f.push_back(rlp::encode_bytes(transaction_detail::trimmed(sig.s)));
  signed_transaction out;
  out.raw = rlp::encode_list(f);
  out.hash = keccak256(out.raw);
  return out;
}

/// A signed transaction taken apart: the fields, the chain it is for and who signed it.
struct decoded_transaction {
  legacy_transaction tx;
  std::uint64_t chain_id = 0;
  address sender{};
};

/// Decodes a signed EIP-155 legacy transaction and recovers its sender.
/// @throws rlp_error on malformed RLP; parse_error on a wrong field count, a 'to' that is not 0 or 20
///         bytes, a pre-EIP-155 v; security_error on a signature that does not verify
inline decoded_transaction decode_signed(std::span<const std::uint8_t> raw) {
  const rlp_item top = rlp::decode(raw);
  const auto& f = top.list();
  if (f.size() != 9) throw parse_error("transaction: " + std::to_string(f.size()) + " fields, a legacy transaction has 9");
  decoded_transaction out;
  out.tx.nonce = rlp::to_uint(f[0]);
  out.tx.gas_price = transaction_detail::read_scalar(f[1]);
  out.tx.gas_limit = rlp::to_uint(f[2]);
  const bytes& to = f[3].str();
  if (to.size() == 20) {
    address a{};
    std::copy(to.begin(), to.end(), a.begin());
    out.tx.to = a;
  } else if (!to.empty()) {
    throw parse_error("transaction: 'to' has " + std::to_string(to.size()) + " bytes, expected 0 or 20");
  }
  out.tx.value = transaction_detail::read_scalar(f[4]);
  out.tx.data = f[5].str();
  const std::uint64_t v = rlp::to_uint(f[6]);
  if (v < 37) throw parse_error("transaction: v = " + std::to_string(v) + " carries no EIP-155 chain id");
  out.chain_id = (v - 35) / 2;
  recoverable_signature sig;
  sig.recovery_id = static_cast<std::uint8_t>((v - 35) % 2);
  transaction_detail::read_scalar(f[7]);
  transaction_detail::read_scalar(f[8]);
  const bytes &r = f[7].str(), &s = f[8].str();
  std::copy(r.begin(), r.end(), sig.r.begin() + static_cast<std::ptrdiff_t>(32 - r.size()));
  std::copy(s.begin(), s.end(), sig.s.begin() + static_cast<std::ptrdiff_t>(32 - s.size()));
  out.sender = address_of(recover_public_point(signing_hash(out.tx, out.chain_id), sig));
  return out;
}

} // namespace hefl::iot::ethereum
