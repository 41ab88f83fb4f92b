// RLP against the examples of the Ethereum wiki's RLP page and the yellow paper, appendix B, and
// the strict decoder against truncated, oversized and non-canonical input.
#include <hefl/iot/ledger/ethereum/rlp.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

using namespace hefl::iot::ethereum;

namespace {
bytes str_bytes(const std::string& s) { return {s.begin(), s.end()}; }
bytes cat(bytes a, const bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
rlp_fault fault_of(const bytes& in) {
  try {
    (void)rlp::decode(in);
  } catch (const rlp_error& e) {
    return e.fault();
  }
  FAIL("decoding did not throw");
  return rlp_fault::trailing;
}
} // namespace

TEST_CASE("rlp encodes the published examples", "[eth][rlp]") {
  CHECK(rlp::encode_string("dog") == bytes{0x83, 'd', 'o', 'g'});
  CHECK(rlp::encode_list({rlp::encode_string("cat"), rlp::encode_string("dog")}) ==
        bytes{0xc8, 0x83, 'c', 'a', 't', 0x83, 'd', 'o', 'g'});
  CHECK(rlp::encode_string("") == bytes{0x80});
  CHECK(rlp::encode_list({}) == bytes{0xc0});
  CHECK(rlp::encode_uint(0) == bytes{0x80});
  CHECK(rlp::encode_bytes(bytes{0x00}) == bytes{0x00});
  CHECK(rlp::encode_uint(15) == bytes{0x0f});
  CHECK(rlp::encode_uint(1024) == bytes{0x82, 0x04, 0x00});
  // The set-theoretic three: [ [], [[]], [ [], [[]] ] ].
  const bytes empty = rlp::encode_list({});
  const bytes one = rlp::encode_list({empty});
  CHECK(rlp::encode_list({empty, one, rlp::encode_list({empty, one})}) ==
        bytes{0xc7, 0xc0, 0xc1, 0xc0, 0xc3, 0xc0, 0xc1, 0xc0});
  // 56 bytes: the first string that needs the long form.
  const std::string lorem = "Lorem ipsum dolor sit amet, consectetur adipisicing elit";
  REQUIRE(lorem.size() == 56);
  CHECK(rlp::encode_string(lorem) == cat({0xb8, 0x38}, str_bytes(lorem)));
  const std::string s55(55, 'a');
  CHECK(rlp::encode_string(s55) == cat({0xb7}, str_bytes(s55)));
  // A list whose payload is 56 bytes takes the long list form.
  const std::vector<bytes> items(14, rlp::encode_string("abc"));  // 14 × 4 bytes = 56
  const bytes long_list = rlp::encode_list(items);
  CHECK(long_list[0] == 0xf8);
  CHECK(long_list[1] == 56);
  CHECK(long_list.size() == 58);
}

TEST_CASE("rlp decodes what it encodes, byte for byte", "[eth][rlp]") {
  const bytes three{0xc7, 0xc0, 0xc1, 0xc0, 0xc3, 0xc0, 0xc1, 0xc0};
  const rlp_item t = rlp::decode(three);
  REQUIRE(t.is_list);
  REQUIRE(t.items.size() == 3);
  CHECK(t.items[2].items[1].items[0].is_list);
  CHECK(rlp::encode(t) == three);

  const rlp_item cd = rlp::decode(bytes{0xc8, 0x83, 'c', 'a', 't', 0x83, 'd', 'o', 'g'});
  CHECK(cd.list().at(1).str() == str_bytes("dog"));
  CHECK(rlp::to_uint(rlp::decode(bytes{0x82, 0x04, 0x00})) == 1024);
  CHECK(rlp::to_uint(rlp::decode(bytes{0x80})) == 0);
  CHECK(rlp::to_uint(rlp::decode(bytes{0x0f})) == 15);
  const bytes big(1000, 0x42);
  CHECK(rlp::decode(rlp::encode_bytes(big)).str() == big);
  CHECK_THROWS_AS(rlp::decode(three).str(), rlp_error);
  CHECK_THROWS_AS(rlp::decode(bytes{0x83, 'd', 'o', 'g'}).list(), rlp_error);
}

TEST_CASE("rlp refuses truncated, oversized, non-canonical and trailing input", "[eth][rlp]") {
  CHECK(fault_of({}) == rlp_fault::truncated);
  CHECK(fault_of({0x83, 'd', 'o'}) == rlp_fault::truncated);
  CHECK(fault_of({0xb8}) == rlp_fault::truncated);
  CHECK(fault_of({0xb9, 0x01}) == rlp_fault::truncated);
  CHECK(fault_of({0xc8, 0x83, 'c', 'a', 't', 0x83, 'd', 'o'}) == rlp_fault::truncated);
  // An item inside a list that runs past the list's end.
  CHECK(fault_of({0xc2, 0x83, 'c', 'a', 't'}) == rlp_fault::truncated);
  // A length of 2^64 - 1 bytes must not wrap around.
  CHECK(fault_of({0xbf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00}) == rlp_fault::truncated);
  // Non-canonical: a single byte < 0x80 wrapped, the long form for 1 byte, a zero-padded length.
  CHECK(fault_of({0x81, 0x05}) == rlp_fault::non_canonical);
  CHECK(fault_of({0xb8, 0x01, 0x80}) == rlp_fault::non_canonical);
  CHECK(fault_of({0xf8, 0x00}) == rlp_fault::non_canonical);
  bytes padded{0xb9, 0x00, 0x38};
  padded.resize(padded.size() + 56, 'x');
  CHECK(fault_of(padded) == rlp_fault::non_canonical);
  CHECK_NOTHROW(rlp::decode(bytes{0x81, 0x80}));
  CHECK(fault_of({0x83, 'd', 'o', 'g', 0x00}) == rlp_fault::trailing);
  // Integers: leading zero, more than 64 bits.
  CHECK_THROWS_MATCHES(rlp::to_uint(rlp::decode(bytes{0x82, 0x00, 0x01})), rlp_error,
                       Catch::Predicate<rlp_error>([](const rlp_error& e) { return e.fault() == rlp_fault::non_canonical; }));
  CHECK_THROWS_MATCHES(rlp::to_uint(rlp::decode(rlp::encode_bytes(bytes(9, 1)))), rlp_error,
                       Catch::Predicate<rlp_error>([](const rlp_error& e) { return e.fault() == rlp_fault::oversized; }));
  // Nesting deeper than max_depth is refused instead of exhausting the stack.
  const auto nested = [](std::size_t depth) {
    bytes b = rlp::encode_list({});
    for (std::size_t i = 1; i < depth; ++i) b = rlp::encode_list({b});
    return b;
  };
  CHECK_NOTHROW(rlp::decode(nested(rlp::max_depth)));
  CHECK(fault_of(nested(rlp::max_depth + 1)) == rlp_fault::oversized);
  CHECK(fault_of(nested(5000)) == rlp_fault::oversized);
}

TEST_CASE("rlp: random and mutated input either round-trips or is refused with rlp_error", "[eth][rlp]") {
  // Random bytes and one-byte mutations of a valid encoding: decode() must never crash or accept a
  // non-canonical form, so whatever it accepts re-encodes to the same bytes.
  std::uint64_t state = 0x9e3779b97f4a7c15ULL;
  const auto next = [&state] {  // splitmix64: reproducible test input, not key material
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  const bytes valid = rlp::encode_list({rlp::encode_string("cat"), rlp::encode_list({rlp::encode_uint(1024), rlp::encode_string("")}),
                                        rlp::encode_string(std::string(60, 'z'))});
  std::size_t accepted = 0, refused = 0;
  for (int round = 0; round < 20000; ++round) {
    bytes in;
    if (round % 2 == 0) {
      in.resize(next() % 40);
      for (auto& b : in) b = static_cast<std::uint8_t>(next());
    } else {
      in = valid;
      in[next() % in.size()] = static_cast<std::uint8_t>(next());
      if (next() % 4 == 0) in.resize(next() % in.size());
    }
    try {
      const rlp_item item = rlp::decode(in);
      REQUIRE(rlp::encode(item) == in);
      ++accepted;
    } catch (const rlp_error&) {
      ++refused;
    }
  }
  CHECK(accepted > 100);
  CHECK(refused > 100);
}
