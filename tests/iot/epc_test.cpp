#include <hefl/iot/pki/epc.hpp>

#include <catch2/catch.hpp>

using hefl::iot::sgtin96;

TEST_CASE("SGTIN-96 matches the GS1 TDS example", "[iot][epc]") {
  const auto e = sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345.6789", 3);
  CHECK(e.company_prefix == 614141);
  CHECK(e.company_prefix_digits == 7);
  CHECK(e.partition() == 5);
  CHECK(e.item_reference == 812345);
  CHECK(e.serial == 6789);
  CHECK(e.to_hex() == "3074257BF7194E4000001A85");
  const auto bytes = e.encode();
  CHECK(bytes[0] == 0x30);
  CHECK(bytes[11] == 0x85);
  CHECK(sgtin96::decode(bytes) == e);
  CHECK(sgtin96::from_hex("3074257bf7194e4000001a85") == e);
  CHECK(sgtin96::from_hex("3074257BF7194E4000001A85").to_urn() == "urn:epc:id:sgtin:0614141.812345.6789");
}

TEST_CASE("SGTIN-96 round-trips every partition and the field limits", "[iot][epc]") {
  for (unsigned digits = 6; digits <= 12; ++digits) {
    sgtin96 e;
    e.filter = static_cast<std::uint8_t>(digits % 8);
    e.company_prefix_digits = static_cast<std::uint8_t>(digits);
    e.company_prefix = hefl::iot::detail::pow10(digits) - 1;  // all nines: the widest value
    e.item_reference = static_cast<std::uint32_t>(hefl::iot::detail::pow10(13 - digits) - 1);
    e.serial = sgtin96::max_serial;
    INFO("company prefix digits " << digits);
    CHECK(e.partition() == 12 - digits);
    CHECK(sgtin96::decode(e.encode()) == e);
    CHECK(sgtin96::from_urn(e.to_urn(), e.filter) == e);
    CHECK(sgtin96::from_hex(e.to_hex()) == e);
    e.company_prefix = 0;
    e.item_reference = 0;
    e.serial = 0;
    CHECK(sgtin96::decode(e.encode()) == e);
    CHECK(sgtin96::from_urn(e.to_urn(), e.filter) == e);  // leading zeros survive
  }
}

TEST_CASE("SGTIN-96 refuses out-of-range fields on encode", "[iot][epc]") {
  auto e = sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345.6789", 3);
  auto bad = e;
  bad.filter = 8;
  CHECK_THROWS_WITH(bad.encode(), Catch::Contains("expected 0..7, got 8"));
  bad = e;
  bad.company_prefix = 10000000;  // 8 digits in a 7-digit prefix
  CHECK_THROWS_AS(bad.encode(), hefl::invalid_argument);
  bad = e;
  bad.item_reference = 1000000;
  CHECK_THROWS_WITH(bad.to_urn(), Catch::Contains("more than 6 digits"));
  bad = e;
  bad.serial = sgtin96::max_serial + 1;
  CHECK_THROWS_WITH(bad.to_hex(), Catch::Contains("2^38-1"));
  bad = e;
  bad.company_prefix_digits = 13;
  CHECK_THROWS_WITH(bad.encode(), Catch::Contains("expected 6..12 digits, got 13"));
  bad.company_prefix_digits = 5;
  CHECK_THROWS_AS(bad.partition(), hefl::invalid_argument);
  CHECK_THROWS_AS(sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345.6789", 8), hefl::invalid_argument);
}

TEST_CASE("SGTIN-96 decoding refuses malformed binary", "[iot][epc]") {
  auto bytes = sgtin96::from_hex("3074257BF7194E4000001A85").encode();
  CHECK_THROWS_WITH(sgtin96::decode(std::span(bytes).first(11)), Catch::Contains("expected 12 bytes, got 11"));
  std::vector<std::uint8_t> longer(bytes.begin(), bytes.end());
  longer.push_back(0);
  CHECK_THROWS_AS(sgtin96::decode(longer), hefl::parse_error);
  CHECK_THROWS_AS(sgtin96::decode(std::span<const std::uint8_t>{}), hefl::parse_error);
  auto wrong_header = bytes;
  wrong_header[0] = 0x31;
  CHECK_THROWS_WITH(sgtin96::decode(wrong_header), Catch::Contains("expected header 0x30, got 0x31"));
  auto p7 = bytes;
  p7[1] = static_cast<std::uint8_t>(p7[1] | 0x1C);  // partition bits 111
  CHECK_THROWS_WITH(sgtin96::decode(p7), Catch::Contains("partition 7"));
  // Partition 5: 24-bit company prefix all ones = 16777215 (8 digits) in a 7-digit field.
  auto wide = bytes;
  wide[1] = static_cast<std::uint8_t>(wide[1] | 0x03);
  wide[2] = 0xFF;
  wide[3] = 0xFF;
  wide[4] = static_cast<std::uint8_t>(wide[4] | 0xFC);
  CHECK_THROWS_WITH(sgtin96::decode(wide), Catch::Contains("company prefix 16777215 exceeds 7 digits"));
  // Partition 0: a 4-bit item reference above 9 does not fit its single digit.
  sgtin96 p0;
  p0.company_prefix_digits = 12;
  p0.company_prefix = 1;
  p0.item_reference = 9;
  auto b0 = p0.encode();
  b0[6] = static_cast<std::uint8_t>(b0[6] | 0x03);  // item reference occupies bits 54..57: all ones = 15
  b0[7] = static_cast<std::uint8_t>(b0[7] | 0xC0);
  CHECK_THROWS_WITH(sgtin96::decode(b0), Catch::Contains("item reference 15 exceeds 1 digits"));
}

TEST_CASE("SGTIN text forms refuse malformed input", "[iot][epc]") {
  CHECK_THROWS_AS(sgtin96::from_hex("3074257BF7194E4000001A8"), hefl::parse_error);
  CHECK_THROWS_WITH(sgtin96::from_hex("3074257BF7194E4000001A8G"), Catch::Contains("position 23"));
  CHECK_THROWS_WITH(sgtin96::from_urn("urn:epc:id:sscc:0614141.1234567890"), Catch::Contains("expected prefix"));
  CHECK_THROWS_AS(sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345"), hefl::parse_error);
  CHECK_THROWS_AS(sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345.6789.1"), hefl::parse_error);
  CHECK_THROWS_WITH(sgtin96::from_urn("urn:epc:id:sgtin:0614141.81234.6789"), Catch::Contains("total 13 digits, got 7 + 5"));
  CHECK_THROWS_WITH(sgtin96::from_urn("urn:epc:id:sgtin:06141.81234567.6789"), Catch::Contains("expected 6..12 digits, got 5"));
  CHECK_THROWS_WITH(sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345.06789"), Catch::Contains("leading zeros"));
  CHECK_THROWS_WITH(sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345.274877906944"), Catch::Contains("at most 274877906943"));
  CHECK_THROWS_WITH(sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345.1234567890123"), Catch::Contains("at most 12 digits"));
  CHECK_THROWS_WITH(sgtin96::from_urn("urn:epc:id:sgtin:06141a1.812345.6789"), Catch::Contains("decimal digits"));
  CHECK_THROWS_AS(sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345."), hefl::parse_error);
  CHECK_THROWS_AS(sgtin96::from_urn("urn:epc:id:sgtin:0614141.+12345.6789"), hefl::parse_error);
  CHECK(sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345.0").serial == 0);
}
