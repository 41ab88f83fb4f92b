// Collective refresh of CKKS ciphertexts (issue 13; Mouchet, Troncoso-Pastoriza, Bossuat, Hubaux,
// PETS 2021, collective bootstrapping): a low-level ciphertext under the collective key becomes a
// top-level ciphertext of the same values, as single-key decrypt-and-re-encrypt would give; fewer
// than all parties (N-out-of-N) or fewer than t (t-out-of-N) get garbage; the two parts travel as
// hefl:MPS shares, checked against the ciphertext, the refresh index and the party.
#include <hefl/crypto/botan_random.hpp>
#include <hefl/he/ckks/decryptor.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/evaluator.hpp>
#include <hefl/he/ckks/keys.hpp>
#include <hefl/he/ckks/multiparty.hpp>
#include <hefl/he/ckks_threshold_backend.hpp>

#include <catch2/catch.hpp>

#include "ckks_test_support.hpp"

#include <cmath>
#include <cstdint>
#include <vector>

namespace ckks = hefl::he::ckks;
namespace mp = hefl::he::ckks::multiparty;
namespace detail = hefl::he::ckks::detail;
using hefl_test::max_error;
using hefl_test::random_values;

namespace {

// N = 2048, chain {60, 50, 50, 50 | 60}, scale 2^50: level 1 (110 bits) has room for the masks of
// three parties (b = 40 + 11 + 51 + 1 = 103 bits, 107 with the headroom).
ckks::parameters toy() {
  return ckks::parameters(2048, {60, 50, 50, 50, 60}, 50, ckks::security::none_i_know_this_is_insecure);
}

mp::session_seed seed_of(std::uint8_t tag) {
  mp::session_seed s{};
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<std::uint8_t>(tag * 17 + i);
  return s;
}

mp::share wire(const mp::session& s, const mp::share& sh) { return mp::load_share(s, mp::save(s, sh)); }

struct group {
  group(std::size_t parties, std::uint8_t tag) : params(toy()), session(params, seed_of(tag), parties), rng(500 + tag) {
    for (std::size_t i = 0; i < parties; ++i) shares.push_back(ckks::key_generator(params, rng).secret());
    auto ckg = mp::ckg_aggregator(session);
    for (std::uint32_t i = 0; i < parties; ++i) ckg.add(wire(session, mp::ckg_share(session, i, shares[i], rng)));
    pk.emplace(mp::collective_public_key(session, ckg.result()));
  }
  [[nodiscard]] ckks::secret_key ideal_secret() const {  // s = Σ s_i: the test's oracle, held by no party
    detail::rns_poly s = shares[0].poly();
    for (std::size_t i = 1; i < shares.size(); ++i) detail::add_inplace(s, shares[i].poly(), params.context());
    return ckks::secret_key(params, std::move(s));
  }
  // x·y·y at level 1: two plaintext products from a fresh encryption at level 3.
  [[nodiscard]] ckks::ciphertext low_level(const std::vector<double>& x, const std::vector<double>& y) {
    const ckks::encoder enc(params.poly_degree());
    ckks::encryptor e(params, *pk, rng);
    const ckks::evaluator ev(params);
    auto c = e.encrypt(ckks::encode(params, enc, x));
    c = ev.multiply_plain_rescale(c, y);
    return ev.multiply_plain_rescale(c, y);
  }
  ckks::parameters params;
  mp::session session;
  hefl::crypto::seeded_random rng;
  std::vector<ckks::secret_key> shares;
  std::optional<ckks::public_key> pk;
};

} // namespace

TEST_CASE("refresh: three parties lift a level-1 ciphertext to the top level with the same values as single-key "
          "decrypt-and-re-encrypt",
          "[ckks][multiparty][refresh]") {
  group g(3, 1);
  const auto x = random_values(1024, 11), y = random_values(1024, 12);
  std::vector<double> want(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) want[i] = x[i] * y[i] * y[i];
  const ckks::ciphertext ct = g.low_level(x, y);
  REQUIRE(ct.level() == 1);
  const ckks::encoder enc(g.params.poly_degree());
  const ckks::decryptor oracle(g.params, g.ideal_secret());
  const double bound = oracle.noise_bound(ct, want, enc);  // B of the smudging, measured with the oracle
  const mp::gaussian_smudging f{std::max(1.0, 2 * bound), 30, 1024};
  const mp::refresh_parameters r{1.0, 40};

  mp::refresh_aggregator agg(g.session, ct, 7);
  for (std::uint32_t i = 0; i < 3; ++i) {
    const auto sh = mp::make_refresh_share(g.session, i, g.shares[i], ct, 7, r, f, g.rng);
    agg.add(wire(g.session, sh.decrypt), wire(g.session, sh.encrypt));
  }
  const auto total = agg.result();
  const ckks::ciphertext fresh =
      mp::collective_refresh(g.session, ct, 7, {wire(g.session, total.decrypt), wire(g.session, total.encrypt)});
  CHECK(fresh.level() == g.params.max_level());
  CHECK(fresh.scale() == ct.scale());

  // Single key: decrypt with s, encrypt the values afresh under the collective public key.
  const auto before = oracle.decrypt_decode(ct, enc);
  ckks::encryptor e(g.params, *g.pk, g.rng);
  const auto reencrypted = oracle.decrypt_decode(e.encrypt(ckks::encode(g.params, enc, before, ct.scale(),
                                                                      g.params.max_level())), enc);
  const auto after = oracle.decrypt_decode(fresh, enc);
  // Each slot moves by the smudging, about σ·sqrt(K·N/2)/Δ; allow 8 times that.
  const double predicted = mp::detail::smudging_deviation(f) * std::sqrt(3.0 * 1024) / ct.scale();
  INFO("noise bound " << bound << ", predicted per-slot smudging " << predicted << ", refresh error "
                      << max_error(after, before) << ", single-key re-encryption error " << max_error(reencrypted, before));
  CHECK(max_error(after, before) < 8 * predicted + 1e-9);
  CHECK(max_error(after, want) < 8 * predicted + 1e-6);
  CHECK(max_error(after, reencrypted) < 8 * predicted + 1e-9);
  // The refreshed ciphertext takes products again: two more levels.
  const ckks::evaluator ev(g.params);
  const auto again = oracle.decrypt_decode(ev.multiply_plain_rescale(ev.multiply_plain_rescale(fresh, y), y), enc);
  std::vector<double> want4(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) want4[i] = want[i] * y[i] * y[i];
  CHECK(max_error(again, want4) < 8 * predicted + 1e-6);
}

TEST_CASE("refresh: fewer than all parties (N-out-of-N) or than t (t-out-of-N) refresh to garbage",
          "[ckks][multiparty][refresh]") {
  const auto x = random_values(1024, 21), y = random_values(1024, 22);
  std::vector<double> want(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) want[i] = x[i] * y[i] * y[i];
  const mp::gaussian_smudging f{1 << 12, 30, 1024};
  const mp::refresh_parameters r{};
  SECTION("3 of 3: any two") {
    group g(3, 2);
    const auto ct = g.low_level(x, y);
    const ckks::encoder enc(g.params.poly_degree());
    const ckks::decryptor oracle(g.params, g.ideal_secret());
    std::uint32_t index = 0;
    for (const auto& pair : {std::vector<std::uint32_t>{0, 1}, {1, 2}, {0, 2}}) {
      mp::refresh_aggregator agg(g.session, ct, index);
      for (const auto i : pair) agg.add(mp::make_refresh_share(g.session, i, g.shares[i], ct, index, r, f, g.rng));
      CHECK_FALSE(agg.complete());
      CHECK_THROWS_AS(agg.result(), hefl::invalid_argument);
      const auto got = oracle.decrypt_decode(mp::collective_refresh(g.session, ct, index, agg.partial_result()), enc);
      INFO("error with two of three parties: " << max_error(got, want));
      CHECK(max_error(got, want) > 1e3);
      ++index;
    }
  }
  SECTION("2 of 3: any pair refreshes, one party alone cannot") {
    group g(3, 3);
    // Shamir points of every party's share (threshold.hpp), then the Lagrange-weighted active shares.
    std::vector<std::vector<ckks::secret_key>> dealt;
    for (std::uint32_t i = 0; i < 3; ++i) dealt.push_back(mp::deal_threshold_shares(g.session, g.shares[i], 2, g.rng));
    std::vector<ckks::secret_key> points;
    for (std::uint32_t j = 0; j < 3; ++j) {
      std::vector<ckks::secret_key> received;
      for (std::uint32_t i = 0; i < 3; ++i) received.push_back(dealt[i][j]);
      points.push_back(mp::combine_threshold_shares(g.session, received));
    }
    const auto ct = g.low_level(x, y);
    const ckks::encoder enc(g.params.poly_degree());
    const ckks::decryptor oracle(g.params, g.ideal_secret());
    std::uint32_t index = 100;
    for (const auto& quorum : {std::vector<std::uint32_t>{0, 1}, {1, 2}, {0, 2}}) {
      mp::refresh_aggregator agg(g.session, ct, index, quorum);
      for (const auto i : quorum)
        agg.add(mp::make_refresh_share(g.session, i, mp::active_share(g.session, i, points[i], quorum), ct, index, r, f,
                                       g.rng));
      const auto got = oracle.decrypt_decode(mp::collective_refresh(g.session, ct, index, agg.result()), enc);
      // The smudging of two parties moves each slot by about σ·sqrt(2·N/2)/Δ; allow 8 times that.
      const double predicted = mp::detail::smudging_deviation(f) * std::sqrt(2.0 * 1024) / ct.scale();
      INFO("quorum refresh error " << max_error(got, want) << ", predicted per-slot smudging " << predicted);
      CHECK(max_error(got, want) < 8 * predicted);
      ++index;
    }
    for (const std::uint32_t alone : {0u, 2u}) {
      const std::vector<std::uint32_t> one{alone};
      mp::refresh_aggregator agg(g.session, ct, index, one);
      agg.add(mp::make_refresh_share(g.session, alone, mp::active_share(g.session, alone, points[alone], one), ct,
                                     index, r, f, g.rng));
      const auto got = oracle.decrypt_decode(mp::collective_refresh(g.session, ct, index, agg.result()), enc);
      INFO("error with party " << alone << " alone: " << max_error(got, want));
      CHECK(max_error(got, want) > 1e3);
      ++index;
    }
  }
}

TEST_CASE("refresh: shares of another ciphertext, index or party are refused; too low a level is refused",
          "[ckks][multiparty][refresh]") {
  group g(3, 4);
  const auto x = random_values(16, 31), y = random_values(16, 32);
  const auto ct = g.low_level(x, y);
  const auto other = g.low_level(y, x);
  const mp::gaussian_smudging f{1 << 12, 30, 1024};
  const mp::refresh_parameters r{};
  const auto s0 = mp::make_refresh_share(g.session, 0, g.shares[0], ct, 5, r, f, g.rng);
  const auto s1 = mp::make_refresh_share(g.session, 1, g.shares[1], ct, 5, r, f, g.rng);
  // Bytes round-trip with their protocol, subject and party.
  const auto back = wire(g.session, s0.encrypt);
  CHECK(back.which() == mp::protocol::refresh_encrypt);
  CHECK(back.subject() == 5);
  CHECK(wire(g.session, s0.decrypt).subject() == mp::fingerprint(ct));
  mp::refresh_aggregator agg(g.session, ct, 5);
  CHECK_THROWS_AS(agg.add(s0.decrypt, s1.encrypt), mp::share_mismatch);  // parts of two parties
  CHECK_THROWS_AS(agg.add(s0.encrypt, s0.decrypt), mp::share_mismatch);  // parts swapped
  mp::refresh_aggregator wrong_ct(g.session, other, 5), wrong_index(g.session, ct, 6);
  CHECK_THROWS_AS(wrong_ct.add(s0), mp::share_mismatch);
  CHECK_THROWS_AS(wrong_index.add(s0), mp::share_mismatch);
  agg.add(s0);
  CHECK_THROWS_AS(agg.add(s0), mp::share_mismatch);  // the same party twice
  // A ciphertext at level 0 (60 bits) has no room for 2^103 masks.
  const ckks::evaluator ev(g.params);
  const auto bottom = ev.multiply_plain_rescale(ct, y);
  CHECK_THROWS_WITH(mp::make_refresh_share(g.session, 0, g.shares[0], bottom, 9, r, f, g.rng),
                    Catch::Contains("refresh at a higher level"));
  CHECK_THROWS_AS(mp::make_refresh_share(g.session, 0, g.shares[0], ct, 9, {1.0, 20}, f, g.rng), hefl::invalid_argument);
  CHECK_THROWS_AS(mp::make_refresh_share(g.session, 0, g.shares[0], ct, 9, {0.0, 40}, f, g.rng), hefl::invalid_argument);
}

TEST_CASE("refresh: the hospitals of a 2-of-3 threshold backend refresh with one of them offline, and never reuse an "
          "index",
          "[ckks][multiparty][refresh][threshold]") {
  hefl::crypto::seeded_random rng(77);
  mp::session_seed seed{};
  rng.fill(seed);
  hefl::he::ckks_threshold_backend b(toy(), seed, 3, rng, {.threshold = 2, .computed_noise_bound = 1 << 12, .computed_statistical_security = 30, .computed_published_values = 1024});
  b.party(2).set_online(false);
  const std::vector<std::uint32_t> quorum{0, 1};
  const auto x = random_values(64, 41), y = random_values(64, 42);
  std::vector<double> want(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) want[i] = x[i] * y[i] * y[i];
  const ckks::evaluator ev(b.params());
  const auto ct = ev.multiply_plain_rescale(ev.multiply_plain_rescale(b.client().encrypt(x), y), y);
  const mp::gaussian_smudging f{1 << 12, 30, 1024};
  mp::refresh_aggregator agg(b.session(), ct, 1, quorum);
  for (const auto i : quorum) {
    const auto sh = b.party(i).refresh(ct, 1, quorum, {}, f);
    agg.add(wire(b.session(), sh.decrypt), wire(b.session(), sh.encrypt));
  }
  const auto fresh = mp::collective_refresh(b.session(), ct, 1, agg.result());
  CHECK(fresh.level() == b.params().max_level());
  // The quorum's collective decryption (Gaussian smudging with computed_noise_bound) reads the values.
  const auto got = b.quorum().decrypt(fresh);
  INFO("refresh then quorum decryption, max error " << max_error(std::vector<double>(got.begin(), got.begin() + 64), want));
  CHECK(max_error(std::vector<double>(got.begin(), got.begin() + 64), want) < 1e-2);
  CHECK_THROWS_WITH(b.party(0).refresh(ct, 1, quorum, {}, f), Catch::Contains("used once per session"));
  CHECK_THROWS_AS(b.party(2).refresh(ct, 2, std::vector<std::uint32_t>{1, 2}, {}, f), hefl::security_error);
}
