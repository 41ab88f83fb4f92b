// The CKKS roles: the key holder's public material reaches the client and the server as bytes; the
// server's and the client's types cannot decrypt; malformed or insecure material is refused.
#include <hefl/crypto/botan_random.hpp>
#include <hefl/he/ckks_backend.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

using namespace hefl;
namespace ckks = hefl::he::ckks;

namespace {
template <class S>
concept can_decrypt = requires(const S& s, const ckks::ciphertext& c) { s.decrypt(c); };
template <class S>
concept can_encrypt = requires(S& s, std::span<const double> v) { s.encrypt(v); };

ckks::parameters toy() {
  return ckks::parameters(2048, {60, 40, 40, 60}, 40, ckks::security::none_i_know_this_is_insecure);
}
} // namespace

static_assert(!can_decrypt<he::ckks_server> && !can_encrypt<he::ckks_server>);
static_assert(!can_decrypt<he::ckks_client> && can_encrypt<he::ckks_client>);
static_assert(can_decrypt<he::ckks_key_holder>);
static_assert(he::arithmetic_evaluator<he::ckks_server> && he::has_native_sum_slots<he::ckks_server>);

TEST_CASE("CKKS roles talk through bytes: client encrypts, server computes, key holder decrypts", "[ckks][roles]") {
  crypto::seeded_random rng(3);
  he::ckks_key_holder holder(toy(), rng);
  const std::vector<std::uint8_t> context = holder.public_context();
  const std::vector<std::uint8_t> evaluation = holder.evaluation_keys();
  he::ckks_client client(context, rng, ckks::security::none_i_know_this_is_insecure);
  const he::ckks_server server(evaluation, ckks::security::none_i_know_this_is_insecure);

  const std::vector<double> x{1.5, -2.0, 0.25}, y{0.5, 4.0, -1.0};
  const auto cx = server.deserialize(client.serialize(client.encrypt(x)));
  const auto cy = server.deserialize(client.serialize(client.encrypt(y)));
  const auto product = server.multiply(cx, cy);
  const auto total = server.sum_slots(server.add(server.multiply_scalar(cx, 3.0), cy));
  const auto p = holder.decrypt(holder.deserialize(server.serialize(product)));  // the key holder's own use
  const auto s = holder.decrypt(holder.deserialize(server.serialize(total)));
  REQUIRE(p.size() >= holder.slot_count());
  for (std::size_t i = 0; i < x.size(); ++i) CHECK(std::fabs(p[i] - x[i] * y[i]) < 1e-6);
  CHECK(std::fabs(p[5]) < 1e-6);  // unused slots stay zero
  CHECK(std::fabs(s[0] - (3 * (1.5 - 2.0 + 0.25) + (0.5 + 4.0 - 1.0))) < 1e-5);
  CHECK(server.level(product) == server.max_depth() - 1);
  CHECK(server.level(server.multiply_scalar(cx, 3.0)) == server.max_depth());  // integer scalars are free
}

TEST_CASE("CKKS roles refuse malformed or insecure public material", "[ckks][roles]") {
  crypto::seeded_random rng(4);
  he::ckks_key_holder holder(toy(), rng, he::ckks_backend_options{false, false, {}});
  auto context = holder.public_context();
  // Insecure parameters load only when the receiver opts out by name.
  CHECK_THROWS_AS(he::ckks_client(context, rng), security_error);
  auto cut = context;
  cut.resize(cut.size() / 2);
  CHECK_THROWS_AS(he::ckks_client(cut, rng, ckks::security::none_i_know_this_is_insecure), parse_error);
  auto flipped = context;
  flipped[flipped.size() - 100] ^= 1;
  CHECK_THROWS_AS(he::ckks_client(flipped, rng, ckks::security::none_i_know_this_is_insecure), parse_error);
  // The evaluation keys are not a public context, and vice versa.
  CHECK_THROWS_AS(he::ckks_client(holder.evaluation_keys(), rng, ckks::security::none_i_know_this_is_insecure),
                  parse_error);
  CHECK_THROWS_AS(he::ckks_server(context, ckks::security::none_i_know_this_is_insecure), parse_error);
  // A server without relinearization or rotation keys says which it lacks.
  const he::ckks_server bare(holder.evaluation_keys(), ckks::security::none_i_know_this_is_insecure);
  he::ckks_client client(context, rng, ckks::security::none_i_know_this_is_insecure);
  const auto c = bare.deserialize(client.serialize(client.encrypt(std::vector<double>{1.0})));
  CHECK_THROWS_WITH(bare.multiply(c, c), Catch::Contains("no relinearization key"));
  CHECK_THROWS_WITH(bare.sum_slots(c), Catch::Contains("no rotation keys"));
}
