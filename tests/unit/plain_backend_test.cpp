#include <hefl/he/plain_backend.hpp>

#include <catch2/catch.hpp>

#include <vector>

using hefl::he::plain_backend;

TEST_CASE("plain_backend satisfies both backend concepts", "[he][plain]") {
  STATIC_REQUIRE(hefl::he::additive_backend<plain_backend>);
  STATIC_REQUIRE(hefl::he::arithmetic_backend<plain_backend>);
  STATIC_REQUIRE_FALSE(hefl::he::backend_traits<plain_backend>::is_encrypted);
  STATIC_REQUIRE(hefl::he::check_additive_backend<plain_backend>());
}

TEST_CASE("plain_backend computes slot-wise like CKKS would", "[he][plain]") {
  plain_backend b(8);
  const std::vector<double> x{1, 2, 3, 4, 5, 6, 7, 8}, y{0.5, -1, 2, 0, 1, 1, 1, 1};
  const auto cx = b.encrypt(x), cy = b.encrypt(y);
  CHECK(b.decrypt(b.add(cx, cy))[2] == Approx(5.0));
  CHECK(b.decrypt(b.sub(cx, cy))[1] == Approx(3.0));
  CHECK(b.decrypt(b.multiply(cx, cy))[0] == Approx(0.5));
  CHECK(b.decrypt(b.multiply_plain(cx, y))[2] == Approx(6.0));
  CHECK(b.decrypt(b.add_plain(cx, y))[0] == Approx(1.5));
  CHECK(b.decrypt(b.multiply_scalar(cx, -2.0))[7] == Approx(-16.0));
  CHECK(b.decrypt(b.rotate(cx, 1))[0] == Approx(2.0));
  CHECK(b.decrypt(b.rotate(cx, -1))[0] == Approx(8.0));
  CHECK(b.decrypt(b.rotate(cx, 9))[0] == Approx(2.0));
  CHECK(b.decrypt(b.sum_slots(cx))[5] == Approx(36.0));
}

TEST_CASE("plain_backend tracks depth and refuses to go below level 0", "[he][plain]") {
  plain_backend b(4, 2);
  const std::vector<double> x{1, 2};
  auto c = b.encrypt(x);
  CHECK(b.level(c) == 2);
  c = b.multiply(c, c);
  CHECK(b.level(c) == 1);
  const auto fresh = b.encrypt(x);
  CHECK(b.level(b.add(c, fresh)) == 1);
  c = b.multiply_scalar(c, 0.5);
  CHECK(b.level(c) == 0);
  CHECK_THROWS_AS(b.multiply(c, c), hefl::depth_exhausted);
  CHECK_THROWS_WITH(b.multiply_plain(c, x), Catch::Contains("level 0 < 1 required"));
  CHECK(b.level(b.rotate(c, 1)) == 0);
}

TEST_CASE("plain_backend rejects bad arguments", "[he][plain]") {
  CHECK_THROWS_AS(plain_backend(0), hefl::invalid_argument);
  CHECK_THROWS_AS(plain_backend(4, -1), hefl::invalid_argument);
  plain_backend b(2);
  const std::vector<double> too_long{1, 2, 3};
  CHECK_THROWS_AS(b.encrypt(too_long), hefl::invalid_argument);
  CHECK_THROWS_AS(b.multiply_plain(b.encrypt(std::vector<double>{1}), too_long), hefl::invalid_argument);
  plain_backend other(3);
  CHECK_THROWS_AS(b.add(b.encrypt(std::vector<double>{1}), other.encrypt(std::vector<double>{1})),
                  hefl::invalid_argument);
}

TEST_CASE("plain_backend serialization round-trips and rejects corrupt input", "[he][plain][serialization]") {
  plain_backend b(4, 3);
  const auto c = b.multiply_scalar(b.encrypt(std::vector<double>{1.5, -2.0, 3.25}), 2.5);
  const auto bytes = b.serialize(c);
  const auto back = b.deserialize(bytes);
  CHECK(back.slots == c.slots);
  CHECK(back.level == 2);

  SECTION("truncated") {
    for (std::size_t n : {0ul, 4ul, 11ul, bytes.size() - 1}) {
      const std::vector<std::uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<long>(n));
      CHECK_THROWS_AS(b.deserialize(cut), hefl::parse_error);
    }
  }
  SECTION("trailing bytes") {
    auto longer = bytes;
    longer.push_back(0);
    CHECK_THROWS_WITH(b.deserialize(longer), Catch::Contains("trailing"));
  }
  SECTION("wrong magic") {
    auto bad = bytes;
    bad[0] = 'X';
    CHECK_THROWS_WITH(b.deserialize(bad), Catch::Contains("bad magic"));
  }
  SECTION("absurd slot count does not allocate") {
    auto bad = bytes;
    bad[12] = 0xff; bad[19] = 0x7f;  // count field follows the 8-byte magic and 4-byte level
    CHECK_THROWS_AS(b.deserialize(bad), hefl::parse_error);
  }
  SECTION("level out of range") {
    auto bad = bytes;
    bad[8] = 9;
    CHECK_THROWS_WITH(b.deserialize(bad), Catch::Contains("outside [0, 3]"));
  }
  SECTION("slot count of another backend") {
    plain_backend other(5, 3);
    CHECK_THROWS_WITH(other.deserialize(bytes), Catch::Contains("4 slots, this backend has 5"));
  }
}
