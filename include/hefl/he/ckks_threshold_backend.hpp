#pragma once
/// @file
/// Threshold CKKS as backend roles (issue 13): N parties (hospitals) hold the key together, t of them
/// (a quorum) decrypt. The protocols are those of ckks/multiparty/ (Mouchet, Troncoso-Pastoriza,
/// Bossuat, Hubaux, PETS 2021; the t-out-of-N thresholdizer of Mouchet, Bertrand, Hubaux, ePrint
/// 2022), run once when the backend is built:
///
/// - he::ckks_threshold_party: one hospital. Holds its own secret only (its additive share s_i, and
///   with t < N its Shamir point t_i = P(α_i) instead); sends CKG, RKG and RTG shares and partial
///   decryptions (CKS with smudging) as serialized multiparty::share bytes.
/// - he::ckks_quorum: the key-holder role of the trainer. Holds no secret: it asks every online
///   party for a partial decryption, aggregates the bytes and decodes. Fewer than t online parties
///   decrypt nothing (hefl::security_error).
/// - he::ckks_threshold_backend: the parties, the quorum, and a ckks_client and ckks_server built
///   from the collective public key and evaluation keys as bytes (the same classes as single-key CKKS).
///
/// No object in this header holds the collective secret key s = Σ s_i. Randomness comes from the
/// caller's hefl::random_source (crypto::system_random outside tests); no Botan include.
/// docs/threshold.md ("In the trainer") describes the smudging parameters; docs/threat-model.md what
/// each party sees.

#include <hefl/core/error.hpp>
#include <hefl/core/random.hpp>
#include <hefl/he/backend.hpp>
#include <hefl/he/ckks/multiparty.hpp>
#include <hefl/he/ckks_backend.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace hefl::he {

/// How a threshold backend is set up and how its quorum smudges.
struct ckks_threshold_options {
  /// t: how many online parties a decryption needs; 0 means all N (N-out-of-N, no Shamir sharing).
  std::size_t threshold = 0;
  /// t <= N/2 is refused (hefl::security_error) unless this names the opt-out.
  ckks::multiparty::threshold_policy policy = ckks::multiparty::threshold_policy::majority;
  /// Generate the collective relinearization key (RKG, two rounds). Aggregation does not need it.
  bool relinearization = false;
  /// Rotation steps to generate collective Galois keys for (RTG, one round per element).
  std::vector<long long> rotation_steps;
  /// λ_s of the uniform smudging of linear results (Σ a_k·Enc(x_k) over fresh encryptions): each
  /// party's coefficients uniform on [-U, U], U = N·B·2^(λ_s-1), B = Σ|a_k|·fresh_noise_bound().
  /// In [40, 100]. One honest party's smudging alone keeps the published values within statistical
  /// distance 2^-λ_s of values independent of the ciphertext noise (docs/threshold.md).
  int statistical_security = 40;
  /// Refuse (hefl::security_error) when the smudging's standard deviation per slot, divided by
  /// Σ|a_k|, exceeds 2^-min_precision_bits. In [0, 52].
  int min_precision_bits = 20;
  /// B for results that went through products (published_noise::computed): Gaussian smudging
  /// (multiparty::gaussian_smudging) with this bound; 0 = such decryptions are refused.
  double computed_noise_bound = 0;
  int computed_statistical_security = 40;    ///< s of that Gaussian smudging, in [30, 100]
  double computed_published_values = 16384;  ///< τ of that Gaussian smudging, in [1, 2^40]
  /// Collective refresh (ckks_quorum::refresh): V, the bound on the slot values the masks are sized
  /// for, and λ_m (multiparty::refresh_parameters). The decrypt part is smudged with the Gaussian
  /// smudging of computed results above.
  double refresh_value_bound = 4;
  int refresh_mask_security = 40;
};

/// Bytes one party sends in each setup round, and the counts of the protocol objects.
struct ckks_threshold_setup_report {
  std::size_t parties = 0, threshold = 0;
  std::uint64_t ckg_bytes = 0;        ///< the CKG share
  std::uint64_t rkg_round1_bytes = 0; ///< 0 without relinearization
  std::uint64_t rkg_round2_bytes = 0;
  std::uint64_t rtg_bytes = 0;        ///< all RTG shares (one per Galois element)
  std::size_t galois_elements = 0;
  /// With t < N: the bytes of the shamir_dealing messages a party sends to the N - 1 others (secrets:
  /// they must travel over confidential authenticated channels, which this library does not
  /// provide). 0 for N-out-of-N.
  std::uint64_t dealing_bytes = 0;
  double seconds_per_party = 0;  ///< party-side time (shares and dealing), averaged over the parties
  double seconds_aggregation = 0; ///< aggregating every share and building the keys
};

/// One party (hospital) of a threshold session. Holds only its own secret. Not copyable.
class ckks_threshold_party {
public:
  /// Draws the party's additive share s_i from @p rng (kept by reference; it must outlive the party).
  /// @throws hefl::invalid_argument if index is not below the session's party count.
  ckks_threshold_party(const ckks::multiparty::session& s, std::uint32_t index, random_source& rng)
      : m_session(s), m_index(index), m_rng(&rng), m_secret(ckks::key_generator(s.params(), rng).secret()) {
    if (index >= s.party_count())
      throw invalid_argument("ckks_threshold_party: index " + std::to_string(index) + " out of range");
  }
  ckks_threshold_party(const ckks_threshold_party&) = delete;
  ckks_threshold_party& operator=(const ckks_threshold_party&) = delete;

  [[nodiscard]] std::uint32_t index() const noexcept { return m_index; }
  [[nodiscard]] bool online() const noexcept { return m_online; }
  /// A party that goes offline sends nothing until it comes back.
  void set_online(bool on) noexcept { m_online = on; }

  /// CKG share bytes.
  [[nodiscard]] std::vector<std::uint8_t> ckg() const {
    return save(m_session, ckks::multiparty::ckg_share(m_session, m_index, m_secret, *m_rng));
  }
  /// RKG round 1 bytes (starts the party's ephemeral state).
  [[nodiscard]] std::vector<std::uint8_t> rkg_round1() {
    m_rkg = std::make_unique<ckks::multiparty::rkg_party>(m_session, m_index, m_secret, *m_rng);
    return save(m_session, m_rkg->round1());
  }
  /// RKG round 2 bytes from the aggregated round-1 bytes (ends the ephemeral state).
  /// @throws hefl::invalid_argument if round 1 was not run; hefl::parse_error for bad bytes.
  [[nodiscard]] std::vector<std::uint8_t> rkg_round2(std::span<const std::uint8_t> aggregate1) {
    if (!m_rkg) throw invalid_argument("ckks_threshold_party::rkg_round2: round 1 has not run");
    auto out = save(m_session, m_rkg->round2(ckks::multiparty::load_share(m_session, aggregate1)));
    m_rkg.reset();
    return out;
  }
  /// RTG share bytes for @p galois_element.
  [[nodiscard]] std::vector<std::uint8_t> rtg(std::uint64_t galois_element) const {
    return save(m_session, ckks::multiparty::rtg_share(m_session, m_index, m_secret, galois_element, *m_rng));
  }
  /// t-out-of-N, step 1: the Shamir points of s_i, element j for party j (secret: a confidential
  /// channel must carry them).
  [[nodiscard]] std::vector<ckks::secret_key> deal(std::size_t t, ckks::multiparty::threshold_policy policy) const {
    return ckks::multiparty::deal_threshold_shares(m_session, m_secret, t, *m_rng, policy);
  }
  /// t-out-of-N, step 2: replaces s_i by the threshold secret t_i = Σ_k P_k(α_i) (s_i is dropped).
  void receive_points(std::span<const ckks::secret_key> received) {
    m_secret = ckks::multiparty::combine_threshold_shares(m_session, received);
    m_thresholdized = true;
  }

  /// The party's partial decryption of @p ct for the quorum @p active (which must contain it):
  /// s_i·c_1 (or λ_i^T·t_i·c_1 after thresholdizing) plus smudging @p f.
  /// @throws hefl::invalid_argument as multiparty::cks_share and multiparty::active_share;
  ///         hefl::security_error if the party is offline.
  template <class Smudging>
  [[nodiscard]] ckks::multiparty::share partial_decryption(const ckks::ciphertext& ct,
                                                           std::span<const std::uint32_t> active,
                                                           const Smudging& f) const {
    if (!m_online) throw security_error("ckks_threshold_party: party " + std::to_string(m_index) + " is offline");
    if (!m_thresholdized) {
      if (std::find(active.begin(), active.end(), m_index) == active.end())
        throw invalid_argument("ckks_threshold_party: party " + std::to_string(m_index) + " is not in the quorum");
      return ckks::multiparty::cks_share(m_session, m_index, m_secret, ct, f, *m_rng);
    }
    const ckks::secret_key additive = ckks::multiparty::active_share(m_session, m_index, m_secret, active);
    return ckks::multiparty::cks_share(m_session, m_index, additive, ct, f, *m_rng);
  }

  /// The party's collective-refresh message for @p ct (refresh number @p index of the session, for
  /// the quorum @p active, which must contain it): multiparty::make_refresh_share with its additive
  /// share (λ_i^T·t_i after thresholdizing) and smudging @p f on the decrypt part.
  /// @throws hefl::security_error if the party is offline or already answered refresh @p index (a
  ///         repeated index would give two ciphertexts the same CRP: docs/threshold.md);
  ///         hefl::invalid_argument as multiparty::make_refresh_share and multiparty::active_share.
  template <class Smudging>
  [[nodiscard]] ckks::multiparty::refresh_share refresh(const ckks::ciphertext& ct, std::uint32_t index,
                                                        std::span<const std::uint32_t> active,
                                                        const ckks::multiparty::refresh_parameters& r,
                                                        const Smudging& f) {
    if (!m_online) throw security_error("ckks_threshold_party: party " + std::to_string(m_index) + " is offline");
    if (std::find(m_refresh_indices.begin(), m_refresh_indices.end(), index) != m_refresh_indices.end())
      throw security_error("ckks_threshold_party: party " + std::to_string(m_index) + " already answered refresh " +
                           std::to_string(index) + "; a refresh index is used once per session");
    if (std::find(active.begin(), active.end(), m_index) == active.end())
      throw invalid_argument("ckks_threshold_party: party " + std::to_string(m_index) + " is not in the quorum");
    auto out = m_thresholdized
                   ? ckks::multiparty::make_refresh_share(
                         m_session, m_index, ckks::multiparty::active_share(m_session, m_index, m_secret, active), ct,
                         index, r, f, *m_rng)
                   : ckks::multiparty::make_refresh_share(m_session, m_index, m_secret, ct, index, r, f, *m_rng);
    m_refresh_indices.push_back(index);
    return out;
  }

private:
  std::vector<std::uint32_t> m_refresh_indices;
  ckks::multiparty::session m_session;
  std::uint32_t m_index;
  random_source* m_rng;
  ckks::secret_key m_secret;
  bool m_thresholdized = false;
  bool m_online = true;
  std::unique_ptr<ckks::multiparty::rkg_party> m_rkg;
};

/// The key-holder role of a threshold backend: collective decryption by the online parties. Holds
/// no secret; the parties must outlive it.
class ckks_quorum {
public:
  using ciphertext_type = ckks::ciphertext;
  static constexpr bool is_encrypted = true;

  ckks_quorum(const ckks::multiparty::session& s, std::vector<ckks_threshold_party*> parties, std::size_t threshold,
              const ckks_threshold_options& options)
      : m_session(s), m_encoder(s.params().poly_degree()), m_evaluator(s.params()), m_parties(std::move(parties)),
        m_threshold(threshold), m_options(options) {}

  [[nodiscard]] const ckks::parameters& params() const noexcept { return m_session.params(); }
  [[nodiscard]] std::size_t slot_count() const noexcept { return params().slot_count(); }
  [[nodiscard]] std::size_t threshold() const noexcept { return m_threshold; }

  /// The indices of the online parties.
  [[nodiscard]] std::vector<std::uint32_t> online() const {
    std::vector<std::uint32_t> out;
    for (const auto* p : m_parties)
      if (p->online()) out.push_back(p->index());
    return out;
  }

  /// A bound on every coefficient of the noise of a fresh encryption under the collective key:
  /// ckks::encryptor computes v·pk + (m + e0, e1) over Q·P and divides by P, and the collective key's
  /// error and secret are sums of N parties' (|e| <= N·error_bound, |s| <= N per coefficient), so
  /// |v·e + e0 + e1·s| <= (2·N_ring·N + 1)·error_bound before the division, plus 1 + N_ring·N rounding.
  [[nodiscard]] double fresh_noise_bound() const noexcept {
    const double n = static_cast<double>(params().poly_degree());
    const double k = static_cast<double>(m_session.party_count());
    double p = 1;
    for (const auto q : params().key_switch_primes()) p *= static_cast<double>(q);
    return std::ceil((2 * n * k + 1) * ckks::error_bound / p) + n * k + 1;
  }

  /// Collective decryption of @p c for publication, the values in @p slots only: every online
  /// party sends a partial decryption with smudging (uniform, λ_s = statistical_security, for a
  /// linear result; Gaussian with computed_noise_bound for a computed one), the quorum sums them.
  /// @throws hefl::security_error if fewer than threshold() parties are online, if the smudging
  ///         leaves less than min_precision_bits, or for a computed result without computed_noise_bound;
  ///         hefl::invalid_argument if a slot is out of range or as multiparty::cks_share.
  [[nodiscard]] std::vector<double> decrypt_for_sharing(const ciphertext_type& c, const published_noise& noise,
                                                        std::span<const std::size_t> slots) const {
    for (const std::size_t j : slots)
      if (j >= slot_count())
        throw invalid_argument("ckks_quorum::decrypt_for_sharing: slot " + std::to_string(j) + " out of range");
    const std::vector<std::uint32_t> active = online();
    if (active.size() < m_threshold)
      throw security_error("ckks_quorum: " + std::to_string(active.size()) + " parties online, the threshold is " +
                           std::to_string(m_threshold) + "; no decryption without a quorum");
    ckks::plaintext pt = [&] {
      if (noise.is_linear()) {
        const ckks::flooding_parameters f{noise.fresh_l1 * fresh_noise_bound(), m_options.statistical_security};
        const double u = ckks::flooding_amplitude(params().poly_degree(), f);
        const double sd = u / std::sqrt(3.0) *
                          std::sqrt(static_cast<double>(active.size()) * static_cast<double>(params().poly_degree()) / 2) /
                          c.scale() / noise.fresh_l1;
        if (sd > std::exp2(-m_options.min_precision_bits))
          throw security_error("ckks_quorum: the smudging leaves a per-slot deviation of " + std::to_string(sd) +
                               " per unit weight, above 2^-" + std::to_string(m_options.min_precision_bits) +
                               "; encrypt at a larger scale (he::encrypt_update) or lower statistical_security");
        return run(c, active, f);
      }
      if (!(m_options.computed_noise_bound > 0))
        throw security_error("ckks_quorum: a computed result needs ckks_threshold_options::computed_noise_bound for "
                             "its smudging; none is set");
      // The distinct slots asked for: a list that repeats a slot (as long as slot_count() or longer)
      // still leaves the others unpublished.
      std::vector<double> mask(slot_count(), 0.0);
      std::size_t distinct = 0;
      for (const std::size_t j : slots)
        if (mask[j] == 0.0) mask[j] = 1.0, ++distinct;
      if (distinct < slot_count()) {
        // The combiner would see every slot: zero the unpublished ones first (one plaintext product),
        // as the single key holder publishes only the slots asked for.
        if (c.level() == 0)
          throw security_error("ckks_quorum: no level left to mask the " + std::to_string(slot_count() - distinct) +
                               " unpublished slots of a computed result before its collective decryption; keep one "
                               "level for the mask");
        return run(m_evaluator.multiply_plain_rescale(c, mask), active,
                   ckks::multiparty::gaussian_smudging{m_options.computed_noise_bound,
                                                       m_options.computed_statistical_security,
                                                       m_options.computed_published_values});
      }
      return run(c, active,
                 ckks::multiparty::gaussian_smudging{m_options.computed_noise_bound,
                                                     m_options.computed_statistical_security,
                                                     m_options.computed_published_values});
    }();
    const std::vector<double> all = ckks::decode(params(), m_encoder, pt);
    std::vector<double> out;
    out.reserve(slots.size());
    for (const std::size_t j : slots) out.push_back(all[j]);
    return out;
  }

  /// Collective decryption of all slots of a computed result (see decrypt_for_sharing).
  [[nodiscard]] std::vector<double> decrypt(const ciphertext_type& c) const {
    std::vector<std::size_t> all(slot_count());
    for (std::size_t j = 0; j < all.size(); ++j) all[j] = j;
    return decrypt_for_sharing(c, published_noise::computed(), all);
  }

  /// The versioned binary form of @p c (the quorum receives the aggregate as bytes).
  [[nodiscard]] std::vector<std::uint8_t> serialize(const ciphertext_type& c) const { return ckks::save(params(), c); }
  /// @throws hefl::parse_error naming what is wrong.
  [[nodiscard]] ciphertext_type deserialize(std::span<const std::uint8_t> bytes) const {
    return ckks::load_ciphertext(params(), bytes);
  }

  /// Collective refresh of @p c (multiparty::collective_refresh): every online party sends its
  /// refresh message pair for the next refresh index, the quorum combines them into a ciphertext of
  /// the same values at the top level. No party and not the quorum learns the values; the refreshed
  /// ciphertext carries the Gaussian smudging of computed results (computed_noise_bound).
  /// @throws hefl::security_error if fewer than threshold() parties are online or no
  ///         computed_noise_bound is set; hefl::invalid_argument as multiparty::make_refresh_share
  ///         (e.g. a level without room for the masks).
  [[nodiscard]] ciphertext_type refresh(const ciphertext_type& c) {
    namespace mp = ckks::multiparty;
    const std::vector<std::uint32_t> active = online();
    if (active.size() < m_threshold)
      throw security_error("ckks_quorum: " + std::to_string(active.size()) + " parties online, the threshold is " +
                           std::to_string(m_threshold) + "; no refresh without a quorum");
    if (!(m_options.computed_noise_bound > 0))
      throw security_error("ckks_quorum::refresh: the smudging needs ckks_threshold_options::computed_noise_bound");
    const mp::gaussian_smudging f{m_options.computed_noise_bound, m_options.computed_statistical_security,
                                  m_options.computed_published_values};
    const mp::refresh_parameters r{m_options.refresh_value_bound, m_options.refresh_mask_security};
    const auto index = static_cast<std::uint32_t>(m_refreshes);
    mp::refresh_aggregator agg(m_session, c, index, active);
    for (auto* p : m_parties) {
      if (!p->online()) continue;
      const mp::refresh_share sh = p->refresh(c, index, active, r, f);
      const std::vector<std::uint8_t> b0 = save(m_session, sh.decrypt), b1 = save(m_session, sh.encrypt);
      m_refresh_bytes += b0.size() + b1.size();
      agg.add(mp::load_share(m_session, b0), mp::load_share(m_session, b1));  // as the bytes would arrive
    }
    ++m_refreshes;
    return mp::collective_refresh(m_session, c, index, agg.result());
  }
  /// Collective refreshes run, and all refresh bytes the parties sent.
  [[nodiscard]] std::uint64_t refreshes() const noexcept { return m_refreshes; }
  [[nodiscard]] std::uint64_t refresh_bytes_total() const noexcept { return m_refresh_bytes; }

  /// Collective decryptions run, and the partial-decryption bytes one party sent in the last one.
  [[nodiscard]] std::uint64_t decryptions() const noexcept { return m_decryptions; }
  [[nodiscard]] std::uint64_t last_share_bytes() const noexcept { return m_last_share_bytes; }
  /// All partial-decryption bytes sent to the quorum so far.
  [[nodiscard]] std::uint64_t share_bytes_total() const noexcept { return m_share_bytes; }
  /// Parties in the last collective decryption.
  [[nodiscard]] std::size_t last_quorum_size() const noexcept { return m_last_quorum; }

private:
  template <class Smudging>
  ckks::plaintext run(const ciphertext_type& c, const std::vector<std::uint32_t>& active, const Smudging& f) const {
    namespace mp = ckks::multiparty;
    mp::share_sum sum = mp::cks_aggregator(m_session, c, active);
    for (const auto* p : m_parties) {
      if (!p->online()) continue;
      const std::vector<std::uint8_t> bytes = save(m_session, p->partial_decryption(c, active, f));
      m_share_bytes += bytes.size();
      m_last_share_bytes = bytes.size();
      sum.add(mp::load_share(m_session, bytes));  // as the bytes would arrive over a network
    }
    ++m_decryptions;
    m_last_quorum = active.size();
    return mp::collective_decrypt(m_session, c, sum.result());
  }

  ckks::multiparty::session m_session;
  ckks::encoder m_encoder;
  ckks::evaluator m_evaluator;  // plaintext masks only: no key
  std::vector<ckks_threshold_party*> m_parties;
  std::size_t m_threshold;
  ckks_threshold_options m_options;
  mutable std::uint64_t m_decryptions = 0, m_share_bytes = 0, m_last_share_bytes = 0;
  mutable std::size_t m_last_quorum = 0;
  std::uint64_t m_refreshes = 0, m_refresh_bytes = 0;
};

/// N parties, their quorum, and the client and server of single-key CKKS built from the collective
/// keys as bytes. The key-generation protocols run in the constructor (all N parties online);
/// afterwards parties may go offline (party(i).set_online(false)) and any t online decrypt. The
/// random source must outlive the object. Satisfies he::additive_backend by delegating.
class ckks_threshold_backend {
public:
  using ciphertext_type = ckks::ciphertext;
  static constexpr bool is_encrypted = true;
  static constexpr bool free_integer_scalars = true;
  static constexpr bool mixed_levels = true;
  /// Marks the backend for fl::threshold_updates.
  static constexpr bool is_threshold = true;

  /// Runs CKG, RKG (if asked), RTG (for the steps asked) among @p parties parties from the public
  /// @p seed, then (t < N) Shamir-shares every party's secret.
  /// @throws hefl::invalid_argument as multiparty::session (parties in [2, 1024]) or for t > N;
  ///         hefl::security_error for t <= N/2 without the opt-out; as the protocols.
  ckks_threshold_backend(ckks::parameters params, const ckks::multiparty::session_seed& seed, std::size_t parties,
                         random_source& rng, ckks_threshold_options options = {})
      : m_session(params, seed, parties), m_options(std::move(options)) {
    namespace mp = ckks::multiparty;
    const std::size_t t = m_options.threshold == 0 ? parties : m_options.threshold;
    if (t != parties) mp::check_threshold(m_session, t, m_options.policy);
    (void)ckks::flooding_amplitude(params.poly_degree(), {1, m_options.statistical_security});  // validates λ_s
    if (m_options.min_precision_bits < 0 || m_options.min_precision_bits > 52)
      throw invalid_argument("ckks_threshold_backend: min_precision_bits must be in [0, 52]");
    if (m_options.computed_noise_bound > 0)
      (void)mp::detail::smudging_deviation({m_options.computed_noise_bound, m_options.computed_statistical_security,
                                    m_options.computed_published_values});
    m_report.parties = parties;
    m_report.threshold = t;
    using clock = std::chrono::steady_clock;
    const auto since = [](clock::time_point a) { return std::chrono::duration<double>(clock::now() - a).count(); };
    double party_seconds = 0, agg_seconds = 0;
    auto t0 = clock::now();
    for (std::uint32_t i = 0; i < parties; ++i) m_parties.push_back(std::make_unique<ckks_threshold_party>(m_session, i, rng));
    party_seconds += since(t0);

    // CKG
    mp::share_sum ckg = mp::ckg_aggregator(m_session);
    for (auto& p : m_parties) {
      t0 = clock::now();
      const auto bytes = p->ckg();
      party_seconds += since(t0);
      m_report.ckg_bytes = bytes.size();
      t0 = clock::now();
      ckg.add(mp::load_share(m_session, bytes));
      agg_seconds += since(t0);
    }
    t0 = clock::now();
    const ckks::public_key pk = mp::collective_public_key(m_session, ckg.result());
    std::vector<std::vector<std::uint8_t>> evaluation{ckks::save(params)};
    agg_seconds += since(t0);

    // RKG, two rounds
    if (m_options.relinearization) {
      mp::share_sum r1 = mp::rkg_aggregator(m_session, 1), r2 = mp::rkg_aggregator(m_session, 2);
      for (auto& p : m_parties) {
        t0 = clock::now();
        const auto bytes = p->rkg_round1();
        party_seconds += since(t0);
        m_report.rkg_round1_bytes = bytes.size();
        t0 = clock::now();
        r1.add(mp::load_share(m_session, bytes));
        agg_seconds += since(t0);
      }
      const mp::share a1 = r1.result();
      const std::vector<std::uint8_t> a1_bytes = save(m_session, a1);
      for (auto& p : m_parties) {
        t0 = clock::now();
        const auto bytes = p->rkg_round2(a1_bytes);
        party_seconds += since(t0);
        m_report.rkg_round2_bytes = bytes.size();
        t0 = clock::now();
        r2.add(mp::load_share(m_session, bytes));
        agg_seconds += since(t0);
      }
      t0 = clock::now();
      evaluation.push_back(ckks::save(params, mp::collective_relin_keys(m_session, a1, r2.result())));
      agg_seconds += since(t0);
    } else {
      evaluation.emplace_back();
    }

    // RTG, one round per Galois element
    if (!m_options.rotation_steps.empty()) {
      const auto elements = mp::galois_elements(m_session, m_options.rotation_steps);
      std::vector<mp::share> aggregates;
      for (const auto g : elements) {
        mp::share_sum sum = mp::rtg_aggregator(m_session, g);
        for (auto& p : m_parties) {
          t0 = clock::now();
          const auto bytes = p->rtg(g);
          party_seconds += since(t0);
          if (p->index() == 0) m_report.rtg_bytes += bytes.size();
          t0 = clock::now();
          sum.add(mp::load_share(m_session, bytes));
          agg_seconds += since(t0);
        }
        aggregates.push_back(sum.result());
      }
      m_report.galois_elements = elements.size();
      t0 = clock::now();
      evaluation.push_back(ckks::save(params, mp::collective_galois_keys(m_session, aggregates)));
      agg_seconds += since(t0);
    } else {
      evaluation.emplace_back();
    }

    // t-out-of-N: every party deals Shamir points of its share; each keeps the sum of those it got.
    if (t != parties) {
      t0 = clock::now();
      std::vector<std::vector<ckks::secret_key>> dealt;
      for (auto& p : m_parties) dealt.push_back(p->deal(t, m_options.policy));
      // Each point travels as a shamir_dealing message (over a confidential channel in a deployment),
      // checked by its recipient for session, dealer, recipient and threshold, and wiped after use.
      for (std::uint32_t j = 0; j < parties; ++j) {
        std::vector<ckks::secret_key> received;
        for (std::uint32_t i = 0; i < parties; ++i) {
          std::vector<std::uint8_t> bytes = save(m_session, mp::dealing_message(m_session, i, j, t, dealt[i][j]));
          if (i == 0 && j != 0) m_report.dealing_bytes += bytes.size();
          received.push_back(mp::receive_dealing(m_session, mp::load_share(m_session, bytes), i, j, t));
          volatile std::uint8_t* wipe = bytes.data();
          for (std::size_t k = 0; k < bytes.size(); ++k) wipe[k] = 0;
        }
        m_parties[j]->receive_points(received);
      }
      party_seconds += since(t0);
    }
    m_report.seconds_per_party = party_seconds / static_cast<double>(parties);
    m_report.seconds_aggregation = agg_seconds;

    std::vector<ckks_threshold_party*> raw;
    for (auto& p : m_parties) raw.push_back(p.get());
    m_quorum.emplace(m_session, std::move(raw), t, m_options);
    m_client.emplace(detail::frame(ckks_key_holder::public_magic, {ckks::save(params), ckks::save(params, pk)}), rng,
                     params.security_level());
    m_server.emplace(detail::frame(ckks_key_holder::evaluation_magic, evaluation), params.security_level());
  }

  ckks_threshold_backend(const ckks_threshold_backend&) = delete;
  ckks_threshold_backend& operator=(const ckks_threshold_backend&) = delete;

  [[nodiscard]] ckks_client& client() noexcept { return *m_client; }
  [[nodiscard]] const ckks_server& server() const noexcept { return *m_server; }
  [[nodiscard]] ckks_quorum& key_holder() noexcept { return *m_quorum; }
  [[nodiscard]] const ckks_quorum& quorum() const noexcept { return *m_quorum; }

  [[nodiscard]] const ckks::multiparty::session& session() const noexcept { return m_session; }
  [[nodiscard]] const ckks::parameters& params() const noexcept { return m_session.params(); }
  [[nodiscard]] std::size_t party_count() const noexcept { return m_parties.size(); }
  /// @throws hefl::invalid_argument if i is out of range.
  [[nodiscard]] ckks_threshold_party& party(std::size_t i) {
    if (i >= m_parties.size()) throw invalid_argument("ckks_threshold_backend::party: index out of range");
    return *m_parties[i];
  }
  [[nodiscard]] const ckks_threshold_setup_report& setup_report() const noexcept { return m_report; }
  [[nodiscard]] const ckks_threshold_options& options() const noexcept { return m_options; }

  [[nodiscard]] std::size_t slot_count() const noexcept { return m_server->slot_count(); }
  [[nodiscard]] ciphertext_type encrypt(std::span<const double> values) { return m_client->encrypt(values); }
  [[nodiscard]] ciphertext_type encrypt_update(std::span<const double> values) { return m_client->encrypt_update(values); }
  /// The quorum's collective decryption (ckks_quorum::decrypt).
  [[nodiscard]] std::vector<double> decrypt(const ciphertext_type& c) const { return m_quorum->decrypt(c); }
  [[nodiscard]] std::vector<double> decrypt_for_sharing(const ciphertext_type& c, const published_noise& noise,
                                                        std::span<const std::size_t> slots) const {
    return m_quorum->decrypt_for_sharing(c, noise, slots);
  }
  [[nodiscard]] ciphertext_type add(const ciphertext_type& a, const ciphertext_type& b) const { return m_server->add(a, b); }
  void add_inplace(ciphertext_type& a, const ciphertext_type& b) const { m_server->add_inplace(a, b); }
  [[nodiscard]] ciphertext_type multiply_scalar(const ciphertext_type& a, double s) const {
    return m_server->multiply_scalar(a, s);
  }
  [[nodiscard]] std::vector<std::uint8_t> serialize(const ciphertext_type& c) const { return m_server->serialize(c); }
  [[nodiscard]] ciphertext_type deserialize(std::span<const std::uint8_t> bytes) const {
    return m_server->deserialize(bytes);
  }

private:
  ckks::multiparty::session m_session;
  ckks_threshold_options m_options;
  std::vector<std::unique_ptr<ckks_threshold_party>> m_parties;
  std::optional<ckks_quorum> m_quorum;
  std::optional<ckks_client> m_client;
  std::optional<ckks_server> m_server;
  ckks_threshold_setup_report m_report;
};

static_assert(additive_backend<ckks_threshold_backend> && has_roles<ckks_threshold_backend> &&
              threshold_backend<ckks_threshold_backend>);

} // namespace hefl::he
