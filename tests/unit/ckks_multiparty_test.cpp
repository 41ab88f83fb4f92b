// Multiparty (N-out-of-N threshold) CKKS (issue 13): collective key generation, relinearization and
// Galois keys, collective decryption with smudging and public-key switching (Mouchet,
// Troncoso-Pastoriza, Bossuat, Hubaux, PETS 2021), every share through its binary format.
#include <hefl/he/ckks/decryptor.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/evaluator.hpp>
#include <hefl/he/ckks/keys.hpp>
#include <hefl/he/ckks/multiparty.hpp>
#include <hefl/he/ckks/serialization.hpp>

#include <catch2/catch.hpp>

#include "ckks_test_support.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <vector>

namespace ckks = hefl::he::ckks;
namespace mp = hefl::he::ckks::multiparty;
namespace detail = hefl::he::ckks::detail;
using bytes_t = std::vector<std::uint8_t>;
using Catch::Contains;
using hefl_test::max_error;
using hefl_test::random_values;

namespace {

constexpr auto insecure = ckks::security::none_i_know_this_is_insecure;

mp::session_seed seed_of(std::uint8_t tag) {
  mp::session_seed s{};
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<std::uint8_t>(tag * 31 + i);
  return s;
}

// Every share travels as bytes: save, then load under the receiver's session.
mp::share wire(const mp::session& s, const mp::share& sh) { return mp::load_share(s, mp::save(s, sh)); }

// The parties of one session and the keys they build together.
struct committee {
  committee(const ckks::parameters& p, std::size_t parties, std::uint8_t tag, std::span<const long long> steps,
            bool conjugation)
      : params(p), session(p, seed_of(tag), parties), rng(1000 + tag) {
    for (std::size_t i = 0; i < parties; ++i) shares.push_back(ckks::key_generator(params, rng).secret());
    auto ckg = mp::ckg_aggregator(session);
    for (std::uint32_t i = 0; i < parties; ++i) ckg.add(wire(session, mp::ckg_share(session, i, shares[i], rng)));
    pk = std::make_unique<ckks::public_key>(mp::collective_public_key(session, wire(session, ckg.result())));

    std::vector<std::unique_ptr<mp::rkg_party>> rkg;
    auto r1 = mp::rkg_aggregator(session, 1), r2 = mp::rkg_aggregator(session, 2);
    for (std::uint32_t i = 0; i < parties; ++i) {
      rkg.push_back(std::make_unique<mp::rkg_party>(session, i, shares[i], rng));
      r1.add(wire(session, rkg.back()->round1()));
    }
    const mp::share agg1 = wire(session, r1.result());
    for (std::uint32_t i = 0; i < parties; ++i) r2.add(wire(session, rkg[i]->round2(agg1)));
    rlk = std::make_unique<ckks::relin_keys>(mp::collective_relin_keys(session, agg1, wire(session, r2.result())));

    std::vector<mp::share> rtg;
    for (const auto g : mp::galois_elements(session, steps, conjugation)) {
      auto sum = mp::rtg_aggregator(session, g);
      for (std::uint32_t i = 0; i < parties; ++i) sum.add(wire(session, mp::rtg_share(session, i, shares[i], g, rng)));
      rtg.push_back(wire(session, sum.result()));
    }
    gk = std::make_unique<ckks::galois_keys>(mp::collective_galois_keys(session, rtg));
  }

  // s = Σ s_i, which no party holds: the test's oracle for the noise of collective ciphertexts.
  [[nodiscard]] ckks::secret_key ideal_secret() const {
    detail::rns_poly s = shares[0].poly();
    for (std::size_t i = 1; i < shares.size(); ++i) detail::add_inplace(s, shares[i].poly(), params.context());
    return ckks::secret_key(params, std::move(s));
  }

  // The collective decryption through the wire by parties @p who (all of them: a decryption).
  template <class Smudging>
  [[nodiscard]] ckks::plaintext decrypt(const ckks::ciphertext& ct, const Smudging& f, std::span<const std::uint32_t> who) {
    auto sum = mp::cks_aggregator(session, ct);
    for (const auto i : who) sum.add(wire(session, mp::cks_share(session, i, shares[i], ct, f, rng)));
    return mp::collective_decrypt(session, ct, wire(session, sum.complete() ? sum.result() : sum.partial_result()));
  }

  [[nodiscard]] std::vector<std::uint32_t> everyone() const {
    std::vector<std::uint32_t> v(shares.size());
    for (std::uint32_t i = 0; i < v.size(); ++i) v[i] = i;
    return v;
  }

  ckks::parameters params;
  mp::session session;
  hefl_test::test_source rng;
  std::vector<ckks::secret_key> shares;
  std::unique_ptr<ckks::public_key> pk;
  std::unique_ptr<ckks::relin_keys> rlk;
  std::unique_ptr<ckks::galois_keys> gk;
};

// Small and insecure (named): N = 1024, three 60-bit chain primes at scale 2^50, so that a product at
// scale 2^100 keeps room for the smudging noise.
const ckks::parameters& small() {
  static const ckks::parameters p(1024, {60, 60, 60, 60}, 50, insecure);
  return p;
}

std::vector<double> rotate_left(const std::vector<double>& v, long long k) {
  std::vector<double> out(v.size());
  const auto n = static_cast<long long>(v.size());
  for (long long i = 0; i < n; ++i) out[static_cast<std::size_t>(i)] = v[static_cast<std::size_t>(((i + k) % n + n) % n)];
  return out;
}

// The per-slot standard deviation of the real part of the sum of K parties' smudging: σ·sqrt(K·N/2)/Δ
// for a per-coefficient deviation σ (U/sqrt(3) for the uniform kind): a slot's real part is the sum
// of N coefficients times cosines, whose squares average 1/2.
double slot_deviation(const ckks::parameters& p, double sigma, std::size_t parties, double scale) {
  return sigma * std::sqrt(static_cast<double>(parties * p.poly_degree()) / 2) / scale;
}
double smudging_slot_deviation(const ckks::parameters& p, const ckks::flooding_parameters& f, std::size_t parties,
                               double scale) {
  return slot_deviation(p, ckks::flooding_amplitude(p.poly_degree(), f) / std::sqrt(3.0), parties, scale);
}
double smudging_slot_deviation(const ckks::parameters& p, const mp::gaussian_smudging& g, std::size_t parties,
                               double scale) {
  return slot_deviation(p, mp::detail::smudging_deviation(g), parties, scale);
}

} // namespace

TEST_CASE("multiparty: CRPs and the session tag come from the session seed and a label", "[ckks][multiparty]") {
  const mp::session a(small(), seed_of(1), 3), b(small(), seed_of(1), 3), c(small(), seed_of(2), 3);
  CHECK(a.tag() == b.tag());
  CHECK(a.tag() != c.tag());
  CHECK(a.crp(mp::protocol::ckg, 0, 0) == b.crp(mp::protocol::ckg, 0, 0));
  CHECK(!(a.crp(mp::protocol::ckg, 0, 0) == c.crp(mp::protocol::ckg, 0, 0)));
  CHECK(!(a.crp(mp::protocol::rkg, 0, 0) == a.crp(mp::protocol::ckg, 0, 0)));
  CHECK(!(a.crp(mp::protocol::rkg, 0, 0) == a.crp(mp::protocol::rkg, 0, 1)));
  CHECK(!(a.crp(mp::protocol::rtg, 5, 0) == a.crp(mp::protocol::rtg, 25, 0)));
  CHECK_THROWS_AS(a.crp(mp::protocol::rkg, 0, small().digit_count()), hefl::invalid_argument);
  CHECK_THROWS_AS(mp::session(small(), seed_of(1), 1), hefl::invalid_argument);
}

TEST_CASE("multiparty: collective keys compute as single keys; collective decryption is smudged; N-1 parties get "
          "garbage", "[ckks][multiparty]") {
  const std::vector<long long> steps = ckks::evaluator::sum_slots_steps(small().slot_count());
  std::vector<long long> all_steps = steps;
  all_steps.push_back(3);
  committee c(small(), 3, 7, all_steps, true);
  const auto& p = c.params;
  const ckks::encoder enc(p.poly_degree());
  ckks::encryptor encryptor(p, *c.pk, c.rng);
  const ckks::evaluator ev(p);
  const ckks::decryptor oracle(p, c.ideal_secret());

  const auto x = random_values(p.slot_count(), 11), y = random_values(p.slot_count(), 12);
  const auto cx = encryptor.encrypt(ckks::encode(p, enc, x)), cy = encryptor.encrypt(ckks::encode(p, enc, y));
  CHECK(max_error(oracle.decrypt_decode(cx, enc), x) < 1e-7);
  // One share alone does not decrypt the collective key's ciphertexts.
  CHECK(max_error(ckks::decryptor(p, c.shares[0]).decrypt_decode(cx, enc), x) > 1e3);

  // Multiply + relinearize (scale 2^100, no rescale: the room the smudging needs), rotate by 3.
  const auto prod = ev.relinearize(ev.multiply(cx, cy), *c.rlk);
  const auto rot = ev.rotate(prod, 3, *c.gk);
  std::vector<double> xy(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) xy[i] = x[i] * y[i];
  const auto want = rotate_left(xy, 3);
  CHECK(max_error(oracle.decrypt_decode(rot, enc), want) < 1e-6);
  // sum_slots and conjugation with the collective Galois keys.
  const auto total = ev.sum_slots(cx, *c.gk);
  double sx = 0;
  for (const double v : x) sx += v;
  CHECK(std::abs(oracle.decrypt_decode(total, enc)[0] - sx) < 1e-5);
  const auto conj = oracle.decrypt_decode_complex(ev.conjugate(cx, *c.gk), enc);
  CHECK(std::abs(conj[1].real() - x[1]) < 1e-7);

  // Collective decryption of the product with Gaussian smudging: B measured by the oracle (the key
  // holders' analysis in practice), s = 40 bits, τ = N/2 published values.
  const double b = std::max(1.0, 2 * oracle.noise_bound(rot, want, enc));
  const mp::gaussian_smudging f{b, 40, static_cast<double>(p.slot_count())};
  const auto everyone = c.everyone();
  const auto d1 = ckks::decode(p, enc, c.decrypt(rot, f, everyone));
  const auto d2 = ckks::decode(p, enc, c.decrypt(rot, f, everyone));
  const double sigma = smudging_slot_deviation(p, f, 3, rot.scale());
  INFO("B = " << b << ", smudging per slot " << sigma);
  const auto exact = oracle.decrypt_decode(rot, enc);
  double worst = 0, sum_sq = 0;
  for (std::size_t i = 0; i < exact.size(); ++i) {
    worst = std::max(worst, std::abs(d1[i] - exact[i]));
    sum_sq += (d1[i] - exact[i]) * (d1[i] - exact[i]);
  }
  const double rms = std::sqrt(sum_sq / static_cast<double>(exact.size()));
  CHECK(max_error(d1, want) < 1e-6 + 8 * sigma); // the double-precision result, within the smudging
  CHECK(worst <= 8 * sigma);
  CHECK(rms > 0.5 * sigma); // the smudging is there, as large as λ_s asks ...
  CHECK(rms < 2.0 * sigma); // ... and not larger
  CHECK(max_error(d1, d2) > 0);
  CHECK(sigma < 1e-3);

  // A fresh ciphertext at scale 2^100 takes the uniform smudging with its statistical bound (λ_s = 40).
  const auto fresh = encryptor.encrypt(ckks::encode(p, enc, x, 0x1p100, p.max_level()));
  const ckks::flooding_parameters uf{std::max(1.0, 2 * oracle.noise_bound(fresh, x, enc)), 40};
  const double usigma = smudging_slot_deviation(p, uf, 3, fresh.scale());
  INFO("uniform smudging per slot " << usigma);
  CHECK(max_error(ckks::decode(p, enc, c.decrypt(fresh, uf, everyone)), x) < 1e-9 + 8 * usigma);
  CHECK(usigma < 1e-9);
  // The uniform kind with its statistical bound is far too coarse for the product: it fits the
  // modulus, but the slots move by more than the values themselves.
  const ckks::flooding_parameters statistical{b, 40};
  CHECK(max_error(ckks::decode(p, enc, c.decrypt(rot, statistical, everyone)), want) > 1.0);
  // Smudging that cannot fit the modulus at the ciphertext's level is refused, not wrapped.
  const ckks::flooding_parameters too_big{b * 0x1p60, 60};
  CHECK_THROWS_AS(mp::cks_share(c.session, 0, c.shares[0], rot, too_big, c.rng), hefl::invalid_argument);

  // N - 1 parties: every pair of the three, the missing s_i·c_1 leaves garbage.
  for (std::uint32_t missing = 0; missing < 3; ++missing) {
    std::vector<std::uint32_t> who;
    for (std::uint32_t i = 0; i < 3; ++i)
      if (i != missing) who.push_back(i);
    const auto garbage = ckks::decode(p, enc, c.decrypt(rot, f, who));
    CHECK(max_error(garbage, want) > 1e6);
  }
}

TEST_CASE("multiparty: PCKS re-encrypts to one party's own key, which alone decrypts", "[ckks][multiparty]") {
  committee c(small(), 3, 9, {}, false);
  const auto& p = c.params;
  const ckks::encoder enc(p.poly_degree());
  ckks::encryptor encryptor(p, *c.pk, c.rng);
  const ckks::evaluator ev(p);
  const ckks::decryptor oracle(p, c.ideal_secret());
  const auto x = random_values(p.slot_count(), 21), y = random_values(p.slot_count(), 22);
  const auto ct = ev.relinearize(ev.multiply(encryptor.encrypt(ckks::encode(p, enc, x)),
                                             encryptor.encrypt(ckks::encode(p, enc, y))), *c.rlk);
  std::vector<double> xy(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) xy[i] = x[i] * y[i];

  ckks::key_generator own(p, c.rng); // party 0's own key pair, apart from its share
  const ckks::public_key target = own.create_public_key();
  const mp::gaussian_smudging f{std::max(1.0, 2 * oracle.noise_bound(ct, xy, enc)), 40, 512};
  auto sum = mp::pcks_aggregator(c.session, ct);
  for (std::uint32_t i = 0; i < 3; ++i) sum.add(wire(c.session, mp::pcks_share(c.session, i, c.shares[i], ct, target, f, c.rng)));
  const auto switched = mp::collective_key_switch(c.session, ct, wire(c.session, sum.result()));
  const double sigma = smudging_slot_deviation(p, f, 3, ct.scale());
  CHECK(max_error(ckks::decryptor(p, own.secret()).decrypt_decode(switched, enc), xy) < 1e-6 + 8 * sigma);
  CHECK(max_error(oracle.decrypt_decode(switched, enc), xy) > 1e3);                           // not the collective key
  CHECK(max_error(ckks::decryptor(p, c.shares[1]).decrypt_decode(switched, enc), xy) > 1e3); // nor a share
  // A PCKS share for another ciphertext is refused.
  const auto other = ev.add(ct, ct);
  CHECK_THROWS_AS(sum.add(mp::pcks_share(c.session, 0, c.shares[0], other, target, f, c.rng)), mp::share_mismatch);
}

TEST_CASE("multiparty: shares from another round, session, protocol or party are refused", "[ckks][multiparty]") {
  const auto& p = small();
  const mp::session s(p, seed_of(3), 3), other(p, seed_of(4), 3);
  hefl_test::test_source rng(5);
  const ckks::secret_key s0 = ckks::key_generator(p, rng).secret(), s1 = ckks::key_generator(p, rng).secret();

  auto ckg = mp::ckg_aggregator(s);
  const auto mine = mp::ckg_share(s, 0, s0, rng);
  ckg.add(mine);
  CHECK_THROWS_AS(ckg.add(mine), mp::share_mismatch);                            // party 0 again
  CHECK_THROWS_AS(ckg.add(mp::ckg_share(other, 1, s1, rng)), mp::share_mismatch); // another session
  CHECK_THROWS_WITH(ckg.add(mp::ckg_share(other, 1, s1, rng)), Contains("session"));
  CHECK_THROWS_AS(mp::load_share(s, mp::save(other, mp::ckg_share(other, 1, s1, rng))), mp::share_mismatch);
  CHECK_THROWS_AS(ckg.result(), hefl::invalid_argument); // parties 1 and 2 missing
  CHECK_THROWS_WITH(ckg.result(), Contains("1, 2"));

  mp::rkg_party r0(s, 0, s0, rng), r1(s, 1, s1, rng);
  const auto round1 = r0.round1();
  auto agg2 = mp::rkg_aggregator(s, 2);
  CHECK_THROWS_AS(agg2.add(round1), mp::share_mismatch); // a round-1 share in round 2
  CHECK_THROWS_WITH(agg2.add(round1), Contains("round 1"));
  CHECK_THROWS_AS(ckg.add(round1), mp::share_mismatch);   // an RKG share in CKG
  CHECK_THROWS_AS(r1.round2(round1), mp::share_mismatch); // one party's share is not the aggregate
  // A party index beyond the session, and an RTG share offered for another Galois element.
  CHECK_THROWS_AS(mp::ckg_share(s, 3, s0, rng), hefl::invalid_argument);
  const auto g = ckks::galois_element_for_step(1, p.poly_degree());
  auto rtg = mp::rtg_aggregator(s, g);
  CHECK_THROWS_AS(rtg.add(mp::rtg_share(s, 0, s0, ckks::galois_element_for_step(2, p.poly_degree()), rng)),
                  mp::share_mismatch);
  CHECK_NOTHROW(rtg.add(mp::rtg_share(s, 0, s0, g, rng)));
}

TEST_CASE("multiparty: shares round-trip through bytes, and corrupted bytes are refused", "[ckks][multiparty]") {
  const auto& p = small();
  const mp::session s(p, seed_of(6), 3);
  hefl_test::test_source rng(8);
  const ckks::secret_key s0 = ckks::key_generator(p, rng).secret();
  mp::rkg_party r0(s, 0, s0, rng);
  const auto sh = r0.round1();
  const bytes_t bytes = mp::save(s, sh);
  CHECK(bytes.size() == mp::serialized_size(s, sh));
  const auto back = mp::load_share(s, bytes);
  CHECK(back.which() == mp::protocol::rkg);
  CHECK(back.round() == 1);
  CHECK(back.party() == 0);
  REQUIRE(back.polys().size() == sh.polys().size());
  for (std::size_t k = 0; k < sh.polys().size(); ++k) CHECK(back.polys()[k] == sh.polys()[k]);
  CHECK(mp::save(s, back) == bytes);

  // Every single-bit flip in the header and a sample of the payload is refused with a parse_error.
  std::size_t refused = 0, tried = 0;
  for (std::size_t pos = 0; pos < bytes.size(); pos += (pos < 100 ? 1 : 997)) {
    for (int bit = 0; bit < 8; bit += (pos < 100 ? 1 : 3)) {
      bytes_t bad = bytes;
      bad[pos] ^= static_cast<std::uint8_t>(1u << bit);
      ++tried;
      try {
        (void)mp::load_share(s, bad);
      } catch (const hefl::parse_error&) {
        ++refused;
      }
    }
  }
  CHECK(refused == tried);
  bytes_t truncated(bytes.begin(), bytes.end() - 1);
  CHECK_THROWS_AS(mp::load_share(s, truncated), hefl::parse_error);
  CHECK_THROWS_AS(mp::load_share(s, bytes_t(10, 0)), hefl::parse_error);
  bytes_t longer = bytes;
  longer.push_back(0);
  CHECK_THROWS_AS(mp::load_share(s, longer), hefl::parse_error);
  // A well-formed share of another parameter set is refused by id.
  const ckks::parameters q(1024, {60, 60, 60}, 40, insecure);
  const mp::session sq(q, seed_of(6), 3);
  const ckks::secret_key t0 = ckks::key_generator(q, rng).secret();
  CHECK_THROWS_AS(mp::load_share(s, mp::save(sq, mp::ckg_share(sq, 0, t0, rng))), mp::share_mismatch);
}

TEST_CASE("multiparty: three parties at N = 16384 (128-bit secure): multiply, relinearize, rotate, decrypt "
          "collectively or to party 0", "[ckks][multiparty][realistic]") {
  // log2(PQ) = 300 <= 438: 128-bit secure. Scale 2^60: the smudging's cost relative to the values
  // falls with the scale (the product's noise B grows as Δ, its scale as Δ^2).
  const ckks::parameters p(16384, {60, 60, 60, 60, 60}, 60);
  const std::vector<long long> steps{1, -4};
  committee c(p, 3, 13, steps, false);
  const ckks::encoder enc(p.poly_degree());
  ckks::encryptor encryptor(p, *c.pk, c.rng);
  const ckks::evaluator ev(p);
  const auto x = random_values(p.slot_count(), 31), y = random_values(p.slot_count(), 32);
  const auto prod = ev.relinearize(ev.multiply(encryptor.encrypt(ckks::encode(p, enc, x)),
                                               encryptor.encrypt(ckks::encode(p, enc, y))), *c.rlk);
  const auto rot = ev.rotate(prod, -4, *c.gk);
  std::vector<double> xy(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) xy[i] = x[i] * y[i];
  const auto want = rotate_left(xy, -4);
  const ckks::decryptor oracle(p, c.ideal_secret());
  const double b = std::max(1.0, 2 * oracle.noise_bound(rot, want, enc));
  const mp::gaussian_smudging f{b, 40, static_cast<double>(p.slot_count())};
  const double sigma = smudging_slot_deviation(p, f, 3, rot.scale());
  const auto got = ckks::decode(p, enc, c.decrypt(rot, f, c.everyone()));
  const double err = max_error(got, want);
  std::printf("multiparty N=16384, 3 parties: ciphertext noise bound B = %.3g, Gaussian smudging sigma = 2^%.1f per "
              "coefficient and party, per-slot smudging sd %.3g, collective decryption max error %.3g\n",
              b, std::log2(mp::detail::smudging_deviation(f)), sigma, err);
  CHECK(err < 1e-6 + 8 * sigma);
  CHECK(sigma < 1e-4);
  const std::vector<std::uint32_t> two{0, 2};
  CHECK(max_error(ckks::decode(p, enc, c.decrypt(rot, f, two)), want) > 1e6);

  ckks::key_generator own(p, c.rng);
  const auto target = own.create_public_key();
  auto sum = mp::pcks_aggregator(c.session, rot);
  for (std::uint32_t i = 0; i < 3; ++i) sum.add(wire(c.session, mp::pcks_share(c.session, i, c.shares[i], rot, target, f, c.rng)));
  const auto switched = mp::collective_key_switch(c.session, rot, wire(c.session, sum.result()));
  CHECK(max_error(ckks::decryptor(p, own.secret()).decrypt_decode(switched, enc), want) < 1e-6 + 8 * sigma);
  CHECK(max_error(ckks::decryptor(p, c.shares[0]).decrypt_decode(switched, enc), want) > 1e3);

  // Bytes one party sends per protocol round (docs/threshold.md), checked against the format's
  // definition: 76 bytes of header, polynomials of N residues of bit_width(q) bits per prime, 8 of CRC.
  std::uint64_t chain_bits = 0, special_bits = 0;
  for (std::size_t i = 0; i <= p.max_level(); ++i) chain_bits += static_cast<std::uint64_t>(std::bit_width(p.primes()[i]));
  for (const auto q : p.key_switch_primes()) special_bits += static_cast<std::uint64_t>(std::bit_width(q));
  const std::uint64_t full = p.poly_degree() * (chain_bits + special_bits) / 8, chain = p.poly_degree() * chain_bits / 8;
  const std::size_t dnum = p.digit_count();
  mp::rkg_party r0(c.session, 0, c.shares[0], c.rng);
  const auto rk1 = r0.round1();
  auto agg1 = mp::rkg_aggregator(c.session, 1);
  agg1.add(rk1);
  const auto rk2 = r0.round2(agg1.partial_result()); // sizes only: an incomplete aggregate will do
  const struct {
    const char* name;
    std::uint64_t size, expected;
  } rows[] = {
      {"CKG", mp::serialized_size(c.session, mp::ckg_share(c.session, 0, c.shares[0], c.rng)), 84 + full},
      {"RKG round 1", mp::serialized_size(c.session, rk1), 84 + 2 * dnum * full},
      {"RKG round 2", mp::serialized_size(c.session, rk2), 84 + 2 * dnum * full},
      {"RTG (per Galois element)",
       mp::serialized_size(c.session, mp::rtg_share(c.session, 0, c.shares[0], ckks::galois_element_for_step(1, p.poly_degree()), c.rng)),
       84 + dnum * full},
      {"CKS (ciphertext at the top level)",
       mp::serialized_size(c.session, mp::cks_share(c.session, 0, c.shares[0], switched, f, c.rng)), 84 + chain},
      {"PCKS (ciphertext at the top level)",
       mp::serialized_size(c.session, mp::pcks_share(c.session, 0, c.shares[0], switched, target, f, c.rng)), 84 + 2 * chain},
  };
  for (const auto& r : rows) {
    std::printf("multiparty N=16384, {60 x 5}, dnum %zu: %-36s %10llu bytes per party\n", dnum, r.name,
                static_cast<unsigned long long>(r.size));
    CHECK(r.size == r.expected);
  }
}

TEST_CASE("multiparty: collective keys follow hybrid key switching (α = 2 special primes) and save like single keys",
          "[ckks][multiparty]") {
  // Four 50-bit chain primes in two digits, two 50-bit special primes (P >= every digit product);
  // scale 2^50, and the product (scale 2^100) decrypted before any rescale, for the smudging's room.
  const ckks::parameters p(1024, {50, 50, 50, 50, 50, 50}, 50, ckks::special_primes{2}, insecure);
  REQUIRE(p.digit_count() == 2);
  const std::vector<long long> steps{1, 5};
  committee c(p, 4, 17, steps, false);
  REQUIRE(c.rlk->key().digit_count() == 2);
  REQUIRE(c.rlk->key().special_count() == 2);
  const ckks::encoder enc(p.poly_degree());
  ckks::encryptor encryptor(p, *c.pk, c.rng);
  const ckks::evaluator ev(p);
  const ckks::decryptor oracle(p, c.ideal_secret());
  const auto x = random_values(p.slot_count(), 41), y = random_values(p.slot_count(), 42);
  // The collective keys survive ckks::save / load (in full: their a_j are CRPs, not a key's own seed).
  const auto rlk = ckks::load_relin_keys(p, ckks::save(p, *c.rlk));
  const auto gk = ckks::load_galois_keys(p, ckks::save(p, *c.gk));
  const auto ct = ev.rotate(ev.relinearize(ev.multiply(encryptor.encrypt(ckks::encode(p, enc, x)),
                                                       encryptor.encrypt(ckks::encode(p, enc, y))), rlk),
                            5, gk);
  std::vector<double> xy(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) xy[i] = x[i] * y[i];
  const auto want = rotate_left(xy, 5);
  CHECK(max_error(oracle.decrypt_decode(ct, enc), want) < 1e-6);
  const mp::gaussian_smudging f{std::max(1.0, 2 * oracle.noise_bound(ct, want, enc)), 40, 512};
  const double sigma = smudging_slot_deviation(p, f, 4, ct.scale());
  INFO("per-slot smudging " << sigma);
  CHECK(max_error(ckks::decode(p, enc, c.decrypt(ct, f, c.everyone())), want) < 1e-6 + 8 * sigma);
  CHECK(sigma < 0.01);
}

TEST_CASE("multiparty: t-out-of-N by Shamir sharing of the shares: t parties decrypt, t - 1 cannot",
          "[ckks][multiparty][threshold]") {
  committee c(small(), 3, 23, {}, false);
  const auto& p = c.params;
  const std::size_t t = 2;
  // Setup (all three online): each party deals its share, each keeps the sum of what it received.
  std::vector<std::vector<ckks::secret_key>> dealt;
  for (std::uint32_t i = 0; i < 3; ++i) dealt.push_back(mp::deal_threshold_shares(c.session, c.shares[i], t, c.rng));
  std::vector<ckks::secret_key> points;
  for (std::uint32_t j = 0; j < 3; ++j) {
    std::vector<ckks::secret_key> received;
    for (std::uint32_t i = 0; i < 3; ++i) received.push_back(dealt[i][j]);
    points.push_back(mp::combine_threshold_shares(c.session, received));
  }
  const ckks::encoder enc(p.poly_degree());
  ckks::encryptor encryptor(p, *c.pk, c.rng);
  const ckks::decryptor oracle(p, c.ideal_secret());
  const auto x = random_values(p.slot_count(), 51);
  const auto ct = encryptor.encrypt(ckks::encode(p, enc, x, 0x1p100, p.max_level()));
  const ckks::flooding_parameters f{std::max(1.0, 2 * oracle.noise_bound(ct, x, enc)), 40};
  const double sigma = smudging_slot_deviation(p, f, 3, ct.scale());
  const auto quorum_decrypt = [&](std::span<const std::uint32_t> active) {
    auto sum = mp::cks_aggregator(c.session, ct, active);
    for (const auto j : active) {
      const auto additive = mp::active_share(c.session, j, points[j], active);
      sum.add(wire(c.session, mp::cks_share(c.session, j, additive, ct, f, c.rng)));
    }
    return ckks::decode(p, enc, mp::collective_decrypt(c.session, ct, wire(c.session, sum.result())));
  };
  // Every quorum of two decrypts (party 1, then 0, then 2 offline).
  const std::vector<std::vector<std::uint32_t>> quorums{{0, 2}, {1, 2}, {0, 1}, {0, 1, 2}};
  for (const auto& q : quorums) CHECK(max_error(quorum_decrypt(q), x) < 1e-9 + 8 * sigma);
  // One party alone (t - 1) gets garbage.
  for (std::uint32_t j = 0; j < 3; ++j) {
    const std::vector<std::uint32_t> alone{j};
    CHECK(max_error(quorum_decrypt(alone), x) > 1e6);
  }
  // The quorum's aggregator refuses a share from a party outside it.
  const std::vector<std::uint32_t> pair{0, 2};
  auto sum = mp::cks_aggregator(c.session, ct, pair);
  CHECK_THROWS_AS(sum.add(mp::cks_share(c.session, 1, mp::active_share(c.session, 1, points[1], quorums[1]), ct, f, c.rng)),
                  mp::share_mismatch);
  CHECK_THROWS_AS(mp::active_share(c.session, 1, points[1], pair), hefl::invalid_argument);

  // Below a majority only by name.
  CHECK_THROWS_AS(mp::deal_threshold_shares(c.session, c.shares[0], 1, c.rng), hefl::security_error);
  CHECK_NOTHROW(mp::deal_threshold_shares(c.session, c.shares[0], 1, c.rng,
                                          mp::threshold_policy::allow_minority_i_know_fewer_parties_can_decrypt));
  CHECK_THROWS_AS(mp::deal_threshold_shares(c.session, c.shares[0], 4, c.rng), hefl::invalid_argument);
  const mp::session four(p, seed_of(24), 4);
  CHECK_THROWS_WITH(mp::check_threshold(four, 2), Contains("at least 3"));
  CHECK_NOTHROW(mp::check_threshold(four, 3));
}
