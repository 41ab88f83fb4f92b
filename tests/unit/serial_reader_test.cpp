// The binary reader and checksum of hefl/core/serialization.hpp on empty inputs. Found by the fuzz
// harnesses under UBSan (memcpy with a null pointer for zero bytes); scripts/test.sh --sanitize runs
// these tests under UBSan, where the old code fails.
#include <hefl/core/error.hpp>
#include <hefl/core/serialization.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <span>
#include <vector>

TEST_CASE("serial::reader reads zero-element vectors from empty and non-empty input", "[serialization]") {
  const std::vector<std::uint8_t> none;
  hefl::serial::reader empty{std::span<const std::uint8_t>(none)};
  CHECK(empty.get_vector<std::uint8_t>(0, "nothing").empty());
  CHECK(empty.get_vector<std::uint64_t>(0, "nothing").empty());
  CHECK_THROWS_AS(empty.get_vector<std::uint8_t>(1, "one byte"), hefl::parse_error);

  const std::vector<std::uint8_t> two{7, 9};
  hefl::serial::reader r{std::span<const std::uint8_t>(two)};
  CHECK(r.get_vector<std::uint8_t>(0, "nothing").empty());
  CHECK(r.get_vector<std::uint8_t>(2, "both") == two);
  CHECK(r.get_vector<std::uint8_t>(0, "nothing after the end").empty());
}

TEST_CASE("serial::checksum of empty input is defined and differs from one zero byte", "[serialization]") {
  const std::vector<std::uint8_t> none, zero{0};
  CHECK(hefl::serial::checksum(std::span<const std::uint8_t>(none)) ==
        hefl::serial::checksum(std::span<const std::uint8_t>(none)));
  CHECK(hefl::serial::checksum(std::span<const std::uint8_t>(none)) !=
        hefl::serial::checksum(std::span<const std::uint8_t>(zero)));
}
