// The Shamir dealing of t-out-of-N threshold CKKS as hefl:MPS messages (issue 13): a point travels
// as a protocol::shamir_dealing share whose subject names the threshold and the recipient; the
// recipient refuses a message of another session, parameter set, dealer, recipient, threshold,
// protocol or round, and truncated, oversized or corrupted bytes, each with a typed exception.
#include <hefl/crypto/botan_random.hpp>
#include <hefl/he/ckks/keys.hpp>
#include <hefl/he/ckks/multiparty.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

namespace ckks = hefl::he::ckks;
namespace mp = hefl::he::ckks::multiparty;

namespace {
ckks::parameters toy(int second = 40) {
  return ckks::parameters(1024, {60, second, 60}, 40, ckks::security::none_i_know_this_is_insecure);
}
mp::session_seed seed_of(std::uint8_t tag) {
  mp::session_seed s{};
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<std::uint8_t>(tag + i);
  return s;
}
bool same(const ckks::secret_key& a, const ckks::secret_key& b) {
  const auto x = a.poly().data(), y = b.poly().data();
  return std::equal(x.begin(), x.end(), y.begin(), y.end());
}
} // namespace

TEST_CASE("Shamir dealing messages round-trip and are checked by their recipient", "[ckks][multiparty][threshold]") {
  const auto params = toy();
  const mp::session s(params, seed_of(1), 3);
  hefl::crypto::seeded_random rng(5);
  const auto sk = ckks::key_generator(params, rng).secret();
  const auto points = mp::deal_threshold_shares(s, sk, 2, rng);
  const auto bytes = mp::save(s, mp::dealing_message(s, 0, 2, 2, points[2]));
  const mp::share loaded = mp::load_share(s, bytes);
  CHECK(loaded.which() == mp::protocol::shamir_dealing);
  CHECK(same(mp::receive_dealing(s, loaded, 0, 2, 2), points[2]));

  SECTION("wrong recipient, dealer, threshold, protocol") {
    CHECK_THROWS_AS(mp::receive_dealing(s, loaded, 0, 1, 2), mp::share_mismatch);  // meant for party 2
    CHECK_THROWS_AS(mp::receive_dealing(s, loaded, 1, 2, 2), mp::share_mismatch);  // from dealer 0
    CHECK_THROWS_AS(mp::receive_dealing(s, loaded, 0, 2, 3), mp::share_mismatch);  // dealt for t = 2
    const auto ckg = mp::load_share(s, mp::save(s, mp::ckg_share(s, 0, sk, rng)));
    CHECK_THROWS_AS(mp::receive_dealing(s, ckg, 0, 2, 2), mp::share_mismatch);     // another protocol
  }
  SECTION("another session or parameter set") {
    const mp::session other(params, seed_of(2), 3);
    CHECK_THROWS_AS(mp::load_share(other, bytes), mp::share_mismatch);
    const auto params2 = toy(50);  // another chain: another parameter id
    const mp::session third(params2, seed_of(1), 3);
    CHECK_THROWS_AS(mp::load_share(third, bytes), mp::share_mismatch);
  }
  SECTION("truncated, oversized and corrupted bytes") {
    for (const std::size_t cut : {std::size_t{0}, std::size_t{10}, std::size_t{83}, bytes.size() - 1}) {
      const std::vector<std::uint8_t> shorter(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut));
      CHECK_THROWS_AS(mp::load_share(s, shorter), hefl::parse_error);
    }
    auto longer = bytes;
    longer.push_back(0);
    CHECK_THROWS_AS(mp::load_share(s, longer), hefl::parse_error);
    // The round byte (offset 8 + 4 + 8 + 8 + 16 + 1 = 45) set to 2: dealing has one round.
    auto round2 = bytes;
    round2[45] = 2;
    CHECK_THROWS_WITH(mp::load_share(s, round2), Catch::Contains("does not exist"));
    // The protocol byte (offset 44) set to 9: no such protocol.
    auto unknown = bytes;
    unknown[44] = 9;
    CHECK_THROWS_WITH(mp::load_share(s, unknown), Catch::Contains("unknown protocol"));
    for (std::size_t at = 0; at < bytes.size(); at += 97) {
      auto flipped = bytes;
      flipped[at] ^= 0x10;
      CHECK_THROWS_AS(mp::load_share(s, flipped), hefl::parse_error);
    }
  }
  SECTION("bad arguments") {
    CHECK_THROWS_AS(mp::dealing_message(s, 3, 0, 2, points[0]), hefl::invalid_argument);
    CHECK_THROWS_AS(mp::dealing_message(s, 0, 0, 4, points[0]), hefl::invalid_argument);
  }
}
