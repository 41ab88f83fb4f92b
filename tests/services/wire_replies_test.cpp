// Replies a device and a reader decode from their peer (hefl/services/wire.hpp: read_accepted,
// read_records). Before these decoders, device_client read "record_id" with nlohmann's at()/get(),
// so a missing or mistyped field escaped as nlohmann::json::exception (not a hefl::error) and a
// negative id was silently wrapped to 2^64 - 1.
#include <hefl/services/wire.hpp>

#include <catch2/catch.hpp>

#include <string>

namespace {

using namespace hefl::services;

hefl::net::frame raw(std::uint8_t type, const std::string& text) {
  return {type, std::vector<std::uint8_t>(text.begin(), text.end())};
}

} // namespace

TEST_CASE("read_accepted reads the acknowledgement accepted_frame() writes", "[services][wire]") {
  const auto plain = read_accepted(accepted_frame(42));
  CHECK(plain.record_id == 42);
  CHECK_FALSE(plain.already_stored);
  const auto retry = read_accepted(accepted_frame(7, true));
  CHECK(retry.record_id == 7);
  CHECK(retry.already_stored);
}

TEST_CASE("read_accepted refuses malformed acknowledgements with hefl::parse_error", "[services][wire]") {
  CHECK_THROWS_AS(read_accepted(raw(msg::accepted, "{}")), hefl::parse_error);
  CHECK_THROWS_AS(read_accepted(raw(msg::accepted, R"({"record_id":"42"})")), hefl::parse_error);
  CHECK_THROWS_AS(read_accepted(raw(msg::accepted, R"({"record_id":-1})")), hefl::parse_error);
  CHECK_THROWS_AS(read_accepted(raw(msg::accepted, R"({"record_id":1.5})")), hefl::parse_error);
  CHECK_THROWS_AS(read_accepted(raw(msg::accepted, R"({"record_id":1,"already_stored":"yes"})")), hefl::parse_error);
  CHECK_THROWS_AS(read_accepted(raw(msg::accepted, "[1]")), hefl::parse_error);
  CHECK_THROWS_AS(read_accepted(raw(msg::refused, R"({"record_id":1})")), hefl::parse_error);
}

TEST_CASE("read_records refuses malformed record lists with hefl::parse_error", "[services][wire]") {
  CHECK(read_records(raw(msg::records, R"({"records":[]})")).empty());
  CHECK_THROWS_AS(read_records(raw(msg::records, "{}")), hefl::parse_error);
  CHECK_THROWS_AS(read_records(raw(msg::records, R"({"records":{"a":1}})")), hefl::parse_error);
  CHECK_THROWS_AS(read_records(raw(msg::records, R"({"records":[1]})")), hefl::parse_error);
  CHECK_THROWS_AS(read_records(raw(msg::records, R"({"records":[{"patient":"p"}]})")), hefl::parse_error);
  CHECK_THROWS_AS(read_records(raw(msg::accepted, R"({"records":[]})")), hefl::parse_error);
  CHECK_FALSE(read_records_page(raw(msg::records, R"({"records":[]})")).next);
  const auto page = read_records_page(raw(msg::records, R"({"records":[],"next":{"time_ms":5,"id":7}})"));
  REQUIRE(page.next);
  CHECK(page.next->id == 7);
  CHECK_THROWS_AS(read_records_page(raw(msg::records, R"({"records":[],"next":{"time_ms":5}})")), hefl::parse_error);
  CHECK_THROWS_AS(read_records_page(raw(msg::records, R"({"records":[],"next":"x"})")), hefl::parse_error);
  // A negative id is refused, not wrapped to 2^64 - 1.
  CHECK_THROWS_AS(read_records_page(raw(msg::records, R"({"records":[],"next":{"time_ms":5,"id":-1}})")),
                  hefl::parse_error);
}
