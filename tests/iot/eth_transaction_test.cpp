// Keccak-256, secp256k1 account keys and EIP-155 signing against the example printed in EIP-155
// itself (https://eips.ethereum.org/EIPS/eip-155) and a published address.
#include <hefl/crypto/botan_random.hpp>
#include <hefl/iot/ledger/ethereum/hex.hpp>
#include <hefl/iot/ledger/ethereum/transaction.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <cstdint>

using namespace hefl::iot::ethereum;

namespace {
std::array<std::uint8_t, 32> secret_of(const std::string& hex) {
  const auto b = from_hex(hex);
  std::array<std::uint8_t, 32> out{};
  std::copy(b.begin(), b.end(), out.begin());
  return out;
}
legacy_transaction eip155_example() {
  legacy_transaction tx;
  tx.nonce = 9;
  tx.gas_price = Botan::BigInt(20000000000ULL);
  tx.gas_limit = 21000;
  address to{};
  to.fill(0x35);
  tx.to = to;
  tx.value = Botan::BigInt(1000000000000000000ULL);
  return tx;
}
} // namespace

TEST_CASE("keccak256 is Keccak, not SHA3-256", "[eth][keccak]") {
  CHECK(to_hex(keccak256(std::string_view(""))) ==
        "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
  // The ERC-20 Transfer event topic, as every explorer prints it.
  CHECK(to_hex(keccak256(std::string_view("Transfer(address,address,uint256)"))) ==
        "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");
}

TEST_CASE("EIP-155's example: signing data, signing hash, signature and signed transaction", "[eth][tx]") {
  const secp256k1_key key(secret_of("0x4646464646464646464646464646464646464646464646464646464646464646"));
  const legacy_transaction tx = eip155_example();
  CHECK(to_hex(signing_payload(tx, 1)) ==
        "0xec098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a764000080018080");
  CHECK(to_hex(signing_hash(tx, 1)) == "0xdaf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53");

  const recoverable_signature sig = key.sign_hash(signing_hash(tx, 1));
  CHECK(Botan::BigInt(sig.r.data(), 32) ==
        Botan::BigInt("18515461264373351373200002665853028612451056578545711640558177340181847433846"));
  CHECK(Botan::BigInt(sig.s.data(), 32) ==
        Botan::BigInt("46948507304638947509940763649030358759909902576025900602547168820602576006531"));
  CHECK(sig.recovery_id == 0);  // v = 37 on chain 1

  const signed_transaction st = sign(tx, key, 1);
  CHECK(to_hex(st.raw) ==
        "0xf86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008025a028ef6134"
        "0bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761aecb703304b3800ccf555c9f3dc"
        "64214b297fb1966a3b6d83");
  CHECK(st.hash == keccak256(st.raw));
  // Deterministic (RFC 6979): signing again gives the same bytes.
  CHECK(sign(tx, key, 1).raw == st.raw);

  const decoded_transaction d = decode_signed(st.raw);
  CHECK(d.chain_id == 1);
  CHECK(d.tx.nonce == 9);
  CHECK(d.tx.gas_price == tx.gas_price);
  CHECK(d.tx.value == tx.value);
  CHECK(d.tx.to == tx.to);
  CHECK(d.sender == key.account());
}

TEST_CASE("account addresses from private keys", "[eth][tx]") {
  // The EIP-155 example key, and ganache's first --wallet.deterministic account.
  CHECK(to_hex(secp256k1_key(secret_of("0x4646464646464646464646464646464646464646464646464646464646464646")).account()) ==
        "0x9d8a62f656a8d1615c1294fd71e9cfb3e4855a4f");
  CHECK(to_hex(secp256k1_key(secret_of("0x4f3edf983ac636a65a842ce7c78d9aa706d3b113bce9c46f30d7d21715b23b1d")).account()) ==
        "0x90f8bf6a479f320ead074411a4b0e7944ea8c9c1");
}

TEST_CASE("signatures are low-s, recover to the signer, and bad ones are refused", "[eth][tx]") {
  hefl::crypto::seeded_random rng(14);
  const secp256k1_key key = secp256k1_key::generate(rng);
  const auto half_n = Botan::EC_Group("secp256k1").get_order() >> 1;
  int ones = 0;
  for (std::uint8_t i = 0; i < 16; ++i) {
    const hash32 h = keccak256(std::span<const std::uint8_t>(&i, 1));
    const recoverable_signature sig = key.sign_hash(h);
    CHECK(Botan::BigInt(sig.s.data(), 32) <= half_n);
    CHECK(recover_public_point(h, sig) == key.public_key());
    ones += sig.recovery_id;
    recoverable_signature flipped = sig;
    flipped.recovery_id ^= 1;
    CHECK(recover_public_point(h, flipped) != key.public_key());
  }
  CHECK(ones > 0);  // both parities occur in 16 signatures (fails with probability 2^-16)
  CHECK(ones < 16);

  const hash32 h = keccak256(std::string_view("x"));
  recoverable_signature sig = key.sign_hash(h);
  // The high-s twin of a valid signature (EIP-2 malleability) is refused.
  const auto& n = Botan::EC_Group("secp256k1").get_order();
  recoverable_signature high = sig;
  (n - Botan::BigInt(sig.s.data(), 32)).binary_encode(high.s.data(), 32);
  CHECK_THROWS_AS(recover_public_point(h, high), hefl::security_error);
  recoverable_signature zero = sig;
  zero.r.fill(0);
  CHECK_THROWS_AS(recover_public_point(h, zero), hefl::security_error);
  sig.recovery_id = 2;
  CHECK_THROWS_AS(recover_public_point(h, sig), hefl::security_error);
  CHECK_THROWS_AS(secp256k1_key(std::array<std::uint8_t, 32>{}), hefl::invalid_argument);
  std::array<std::uint8_t, 32> too_big{};
  n.binary_encode(too_big.data(), 32);
  CHECK_THROWS_AS(secp256k1_key(too_big), hefl::invalid_argument);
}

TEST_CASE("signed transactions: chain id, contract creation, tampering", "[eth][tx]") {
  const secp256k1_key key(secret_of("0x4646464646464646464646464646464646464646464646464646464646464646"));
  legacy_transaction create;
  create.nonce = 0;
  create.gas_price = Botan::BigInt(1);
  create.gas_limit = 100000;
  create.data = {0x60, 0x80, 0x60, 0x40};
  const signed_transaction st = sign(create, key, 1337);
  const decoded_transaction d = decode_signed(st.raw);
  CHECK(d.chain_id == 1337);
  CHECK_FALSE(d.tx.to.has_value());
  CHECK(d.tx.data == create.data);
  CHECK(d.sender == key.account());
  CHECK_THROWS_AS(signing_payload(create, 0), hefl::invalid_argument);

  // Change one byte of the data: the signature now recovers some other account (or none).
  bytes tampered = st.raw;
  tampered[tampered.size() - 70] ^= 0x01;
  bool other_sender = false;
  try {
    other_sender = decode_signed(tampered).sender != key.account();
  } catch (const hefl::error&) {
    other_sender = true;
  }
  CHECK(other_sender);
  // Wrong shapes.
  CHECK_THROWS_AS(decode_signed(rlp::encode_list({rlp::encode_uint(1)})), hefl::parse_error);
  CHECK_THROWS_AS(decode_signed(bytes{0xc0, 0x00}), rlp_error);
  CHECK_THROWS_AS(from_hex("0x123"), hefl::parse_error);
  CHECK_THROWS_AS(from_hex("0xzz"), hefl::parse_error);
  CHECK(from_quantity("0x1a") == 26);
  CHECK(to_quantity(0) == "0x0");
  CHECK(to_quantity(1024) == "0x400");
  CHECK_THROWS_AS(from_quantity("12"), hefl::parse_error);
  CHECK_THROWS_AS(from_quantity("0x10000000000000000"), hefl::parse_error);
}
