#pragma once
/// @file
/// fl::federated_trainer: rounds of local training on each client, upload of the local models,
/// aggregation by the server, and (for encrypted uploads) decryption of the aggregate by the key
/// holder. Six policies (ensmallen's habit): the backend, the model, the aggregation rule, the
/// sigmoid, how a client computes (fl/policies.hpp: plaintext_training, encrypted_data_training,
/// encrypted_model_training) and how updates travel (clear_updates, encrypted_updates). The simple
/// spelling federated_trainer<Backend, Model, Aggregator, Sigmoid> trains in the clear and sends
/// encrypted updates when the backend encrypts.
///
/// The parties are the backend's roles (he::client_of, he::server_of, he::key_holder_of; one object
/// plays all three for a backend without roles), and everything that passes between two of them is
/// serialized to bytes and loaded back, so a message the receiving role cannot parse fails here as
/// it would over a network. Wrong pairings are refused at compile time with one sentence each.

#include <hefl/aggregate/fedavg.hpp>
#include <hefl/aggregate/rule.hpp>
#include <hefl/approx/sigmoid.hpp>
#include <hefl/core/error.hpp>
#include <hefl/core/serialization.hpp>
#include <hefl/data/dataset.hpp>
#include <hefl/data/partition.hpp>
#include <hefl/fl/encrypted_gradient.hpp>
#include <hefl/fl/packed_model_epoch.hpp>
#include <hefl/fl/metrics.hpp>
#include <hefl/fl/policies.hpp>
#include <hefl/fl/rotation_steps.hpp>
#include <hefl/he/backend.hpp>
#include <hefl/model/logistic_regression.hpp>

#include <Eigen/Dense>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace hefl::fl {

using model::train_options;

/// What the trainer needs of a model: flat parameters, local training with a sigmoid policy, and
/// evaluation on a test set.
template <class M, class Sigmoid>
concept federated_model = std::copy_constructible<M> &&
    requires(M& m, const M& cm, const data::dataset& d, const model::train_options& o, const Sigmoid& s,
             const Eigen::VectorXd& p) {
      { cm.parameters() } -> std::same_as<Eigen::VectorXd>;
      m.set_parameters(p);
      m.train(d, o, s);
      { cm.accuracy(d) } -> std::convertible_to<double>;
      { cm.log_loss(d) } -> std::convertible_to<double>;
    };

/// Settings of a federated run.
struct trainer_config {
  int rounds = 5;            ///< the paper's 5 steps
  std::size_t clients = 10;  ///< the paper's 10 IoT users (used when fit() partitions the data)
  std::uint64_t seed = 73;   ///< partitioning seed (the tutorial's torch seed, for the record)
  /// Local training of every client in every round (1 epoch, lr 1, L2 0.05: the TenSEAL tutorial's).
  train_options local{};

  /// @throws hefl::invalid_argument for rounds < 1, clients == 0, local.epochs < 1, or local options
  ///         train_options::validate refuses.
  void validate() const {
    if (rounds < 1) throw invalid_argument("trainer_config: rounds must be >= 1, got " + std::to_string(rounds));
    if (clients == 0) throw invalid_argument("trainer_config: clients must be >= 1");
    if (local.epochs < 1)
      throw invalid_argument("trainer_config: local.epochs must be >= 1, got " + std::to_string(local.epochs));
    local.validate();
  }
};

/// How many computed values the key holder decrypts for sharing in one fit() of @p config on data
/// with @p features features under the Compute policy @p C: encrypted_data_training publishes the
/// n + 1 gradient sums of every client's every local epoch, encrypted_model_training the n + 1
/// last-epoch weights of every client, in every round; plaintext training none. This is the τ to size
/// he::ckks_flooding_options::computed_published_values with: the Gaussian flooding's σ grows with
/// sqrt(τ), so a key sized to its run floods no more than it must (by that formula the default
/// τ = 16384 costs 3.7 bits of room more than τ = 96) and refuses to publish beyond it.
/// @throws hefl::invalid_argument as trainer_config::validate, or for 0 features.
template <compute_policy C>
[[nodiscard]] double published_computed_values(const trainer_config& config, std::size_t features) {
  config.validate();
  if (features == 0) throw invalid_argument("fl::published_computed_values: features must be >= 1");
  if constexpr (!C::encrypts_data) return 0;
  const double per_client = static_cast<double>(features + 1) * (C::encrypts_model ? 1 : config.local.epochs);
  return static_cast<double>(config.rounds) * static_cast<double>(config.clients) * per_client;
}

namespace detail {

template <class B>
using server_type = std::remove_cvref_t<decltype(he::server_of(std::declval<B&>()))>;

template <class B>
inline constexpr bool can_train_encrypted =
    he::arithmetic_evaluator<server_type<B>> &&
    (he::has_native_sum_slots<server_type<B>> || he::has_rotate<server_type<B>>);

using clock = std::chrono::steady_clock;
inline double seconds_since(clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); }

inline std::vector<std::uint8_t> save_parameters(const Eigen::VectorXd& p) {
  serial::writer w;
  w.put_bytes("HEFLPAR1");
  w.put<std::uint64_t>(static_cast<std::uint64_t>(p.size()));
  w.put_span<double>(std::span<const double>(p.data(), static_cast<std::size_t>(p.size())));
  return std::move(w).take();
}

inline Eigen::VectorXd load_parameters(std::span<const std::uint8_t> bytes, std::size_t expected) {
  serial::reader r(bytes);
  r.expect_magic("HEFLPAR1", "parameter update");
  const auto n = r.get<std::uint64_t>("parameter count");
  if (n != expected)
    throw parse_error("parameter update: " + std::to_string(n) + " parameters, expected " + std::to_string(expected));
  const std::vector<double> v = r.get_vector<double>(n, "parameters");
  r.expect_end("parameter update");
  return Eigen::Map<const Eigen::VectorXd>(v.data(), static_cast<Eigen::Index>(n));
}

// Counts the scores z = w·x + b of a model on a data set outside [lo, hi] (NaN counts as outside)
// and keeps the largest |z|.
template <class Model>
void count_outside(const Model& m, const data::dataset& d, const std::optional<std::pair<double, double>>& interval,
                   std::uint64_t& outside, std::uint64_t& total, double& largest) {
  if constexpr (requires { { m.decision_function(d.x) } -> std::convertible_to<Eigen::VectorXd>; }) {
    if (!interval) return;
    const Eigen::VectorXd z = m.decision_function(d.x);
    for (Eigen::Index i = 0; i < z.size(); ++i) {
      outside += (z(i) >= interval->first && z(i) <= interval->second) ? 0 : 1;
      if (std::isfinite(z(i))) largest = std::max(largest, std::fabs(z(i)));
    }
    total += static_cast<std::uint64_t>(z.size());
  }
}


// Refuses parameters that stopped being finite at local epoch @p epoch (a too large learning rate).
inline void require_finite(const Eigen::VectorXd& p, int epoch) {
  if (!p.allFinite())
    throw invalid_argument("federated_trainer: parameters diverged at local epoch " + std::to_string(epoch) +
                           "; lower the learning rate");
}

} // namespace detail

/// Federated training loop.
/// @tparam Backend an he::additive_backend (or a bundle of roles, like he::ckks_backend, whose
///         server computes and whose key holder decrypts).
/// @tparam Model a federated_model (default model::logistic_regression; encrypted training needs it).
/// @tparam Aggregator an aggregate::aggregation_rule; linear when updates travel encrypted.
/// @tparam Sigmoid an approx::sigmoid_policy; a polynomial one when training on encrypted data.
/// @tparam Compute how a client computes its update: fl::plaintext_training (default),
///         fl::encrypted_data_training or fl::encrypted_model_training.
/// @tparam Transport how updates travel: fl::encrypted_updates (default for an encrypting backend),
///         fl::clear_updates (default for he::plain_backend) or fl::threshold_updates (a quorum of
///         key holders, he::ckks_threshold_backend).
template <class Backend, class Model = model::logistic_regression, class Aggregator = aggregate::fedavg,
          class Sigmoid = approx::exact_sigmoid, class Compute = plaintext_training,
          class Transport = default_transport<Backend>>
class federated_trainer {
  static_assert(he::check_additive_backend<Backend>());
  static_assert(aggregate::aggregation_rule<Aggregator>,
                "hefl: the Aggregator is not an aggregation rule (needs static is_linear, aggregate(updates, weights) "
                "and name()): see docs/aggregation.md");
  static_assert(approx::sigmoid_policy<Sigmoid>,
                "hefl: the Sigmoid is not a sigmoid policy (needs operator()(double), name() and static "
                "is_polynomial): see include/hefl/approx/sigmoid.hpp");
  static_assert(federated_model<Model, Sigmoid>,
                "hefl: the Model lacks parameters(), set_parameters(), train(data, options, sigmoid), accuracy() or "
                "log_loss(): see model::logistic_regression");
  static_assert(compute_policy<Compute>,
                "hefl: the Compute policy must say encrypts_data and encrypts_model (fl::plaintext_training, "
                "fl::encrypted_data_training, fl::encrypted_model_training): see include/hefl/fl/policies.hpp");
  static_assert(transport_policy<Transport>,
                "hefl: the Transport policy must say is_encrypted (fl::clear_updates, fl::encrypted_updates, "
                "fl::threshold_updates): see "
                "include/hefl/fl/policies.hpp");
  static_assert(!Transport::is_encrypted || aggregate::linear_aggregation_rule<Aggregator>,
                "hefl: this aggregation rule is not linear (an order statistic such as median, trimmed mean or "
                "Krum), so it cannot combine encrypted updates: use aggregate::fedavg with an encrypting backend, or "
                "fl::clear_updates (he::plain_backend) with a robust rule: see docs/aggregation.md");
  static_assert(!is_threshold_transport<Transport> || he::threshold_backend<Backend>,
                "hefl: fl::threshold_updates needs a backend whose key holder is a quorum of parties "
                "(he::ckks_threshold_backend); with a single key holder use fl::encrypted_updates: see docs/threshold.md");
  static_assert(!(he::threshold_backend<Backend> && Compute::encrypts_data) || is_threshold_transport<Transport>,
                "hefl: with threshold keys the encrypted compute modes publish their updates through "
                "fl::threshold_updates (the quorum decrypts the aggregate): see docs/threshold.md");
  static_assert(!Compute::encrypts_data || Sigmoid::is_polynomial,
                "hefl: the exact sigmoid cannot be evaluated on ciphertexts, so it cannot train on encrypted data: "
                "use a polynomial sigmoid such as approx::paper_sigmoid3(): see docs/threat-model.md");
  static_assert(!Compute::encrypts_data || he::arithmetic_evaluator<detail::server_type<Backend>>,
                "hefl: this backend is additive only (it cannot multiply ciphertexts), so it cannot train on "
                "encrypted data: use fl::plaintext_training with fl::encrypted_updates: see docs/backends.md");
  static_assert(!Compute::encrypts_data || !he::arithmetic_evaluator<detail::server_type<Backend>> ||
                    detail::can_train_encrypted<Backend>,
                "hefl: the backend can neither sum slots nor rotate them, so it cannot add up a gradient over "
                "encrypted samples: see docs/backends.md");
  static_assert(!Compute::encrypts_model || he::backend_traits<detail::server_type<Backend>>::mixed_levels,
                "hefl: training with encrypted weights combines ciphertexts at different levels, and this backend "
                "needs matching levels (backend_traits::mixed_levels is false): see docs/backends.md");
  static_assert(!Compute::encrypts_data || std::same_as<Model, model::logistic_regression>,
                "hefl: training on encrypted data is implemented for model::logistic_regression only: see "
                "include/hefl/fl/encrypted_gradient.hpp");

  static constexpr bool encrypted_compute =
      Compute::encrypts_data && Sigmoid::is_polynomial && detail::can_train_encrypted<Backend> &&
      std::same_as<Model, model::logistic_regression>;
  using server_t = detail::server_type<Backend>;
  using ciphertext = typename Backend::ciphertext_type;
  using encrypted_data_t = std::conditional_t<encrypted_compute, encrypted_dataset<server_t>, int>;
  // The encrypted modes pack a client's data (and, with encrypted weights, the parameters) into one
  // ciphertext each when the backend rotates and the layout fits (fl/packed_model_epoch.hpp).
  // With threshold keys the encrypted-weights mode stays unpacked: a collective refresh keeps every
  // slot, and the unpacked layout has each parameter in every slot (the packed one would need the
  // parameters spread again after each refresh).
  static constexpr bool threshold_keys = he::threshold_backend<Backend>;
  static constexpr bool can_pack_model =
      encrypted_compute && he::has_rotate<server_t> && !(threshold_keys && Compute::encrypts_model);
  using packed_data_t = std::conditional_t<can_pack_model, packed_model_dataset<server_t>, int>;

public:
  /// @throws hefl::invalid_argument if the config is invalid.
  federated_trainer(Backend& backend, trainer_config config, Sigmoid sigmoid = {}, Aggregator aggregator = {})
      : m_backend(backend), m_config(config), m_sigmoid(std::move(sigmoid)), m_aggregator(std::move(aggregator)) {
    m_config.validate();
    if constexpr (encrypted_compute) m_plan.emplace(m_sigmoid);
  }

  [[nodiscard]] const trainer_config& config() const noexcept { return m_config; }

  /// Trains @p global on the clients' data for config().rounds rounds, or until @p on_round returns
  /// round_decision::stop. Clients with no samples sit the round out. The aggregation rule's
  /// `check_clients(k)`, if it has one, is called with the number of participating clients before
  /// any client trains. Returns the metrics of every round run.
  /// @param on_round optional; called after every round with its round_metrics; may return void or
  ///        round_decision.
  /// @throws hefl::invalid_argument if clients.size() != config().clients, every client is empty,
  ///         the test set is empty, the parameters do not fit in the backend's slots, a client's
  ///         data do not fit (encrypted training), or the server's keys (he::has_rotation_key_query)
  ///         miss a rotation some client's encrypted epochs perform (the message names the step and
  ///         the client; checked before any work: fl::rotation_steps_for lists them); whatever the rule's check_clients, the backend
  ///         and local training throw (hefl::depth_exhausted before any work if the backend's levels
  ///         are too few for encrypted training).
  template <class Callback = std::nullptr_t>
  std::vector<round_metrics> fit(Model& global, const std::vector<data::dataset>& clients, const data::dataset& test,
                                 Callback&& on_round = nullptr) {
    if (clients.size() != m_config.clients)
      throw invalid_argument("federated_trainer::fit: " + std::to_string(clients.size()) +
                             " client datasets but config.clients = " + std::to_string(m_config.clients));
    std::size_t participating = 0;
    for (const auto& c : clients) participating += c.empty() ? 0 : 1;
    if (participating == 0) throw invalid_argument("federated_trainer::fit: every client dataset is empty");
    if (test.empty()) throw invalid_argument("federated_trainer::fit: empty test set");
    if constexpr (requires(const Aggregator& a, std::size_t k) { a.check_clients(k); })
      m_aggregator.check_clients(participating);

    auto& client = he::client_of(m_backend);
    const auto& server = he::server_of(m_backend);
    auto& key_holder = he::key_holder_of(m_backend);
    const std::size_t parameter_count = static_cast<std::size_t>(global.parameters().size());
    if constexpr (Transport::is_encrypted && !Compute::encrypts_model) {
      if (parameter_count > static_cast<std::size_t>(client.slot_count()))
        throw invalid_argument("federated_trainer::fit: " + std::to_string(parameter_count) +
                               " parameters do not fit in " + std::to_string(client.slot_count()) + " slots");
    }
    const auto interval = sigmoid_interval(m_sigmoid);

    if constexpr (encrypted_compute && he::has_rotate<server_t> && he::has_rotation_key_query<server_t>)
      check_rotation_keys(server, clients);

    std::vector<std::optional<encrypted_data_t>> encrypted(clients.size());
    std::vector<std::optional<packed_data_t>> packed(clients.size());
    round_metrics setup;
    setup.bytes_uploaded.assign(clients.size(), 0);
    if constexpr (encrypted_compute) {
      // Each client encrypts its data once and sends the ciphertexts to the compute party.
      for (std::size_t k = 0; k < clients.size(); ++k) {
        if (clients[k].empty()) continue;
        const auto t = detail::clock::now();
        if constexpr (can_pack_model) {
          if (const auto packing = pack_model(server, clients[k].size(), clients[k].features())) {
            const auto mine = encrypt_packed_dataset(client, clients[k], *packing);
            ciphertext data = send(client, server, mine.data, setup.bytes_uploaded[k]);
            ciphertext labels = send(client, server, mine.labels, setup.bytes_uploaded[k]);
            packed[k].emplace(packed_model_dataset<server_t>{std::move(data), std::move(labels), *packing});
            setup.seconds_encryption += detail::seconds_since(t);
            continue;
          }
        }
        const auto mine = encrypt_dataset(client, clients[k]);
        std::vector<ciphertext> columns;
        for (const auto& c : mine.columns) columns.push_back(send(client, server, c, setup.bytes_uploaded[k]));
        ciphertext labels = send(client, server, mine.labels, setup.bytes_uploaded[k]);
        encrypted[k].emplace(encrypted_dataset<server_t>{std::move(columns), std::move(labels), mine.samples});
        setup.seconds_encryption += detail::seconds_since(t);
      }
    }

    std::vector<round_metrics> history;
    for (int round = 1; round <= m_config.rounds; ++round) {
      round_metrics m = round == 1 ? setup : round_metrics{};
      m.round = round;
      m.bytes_uploaded.resize(clients.size(), 0);
      std::uint64_t outside = 0, scores = 0;
      m.largest_score = 0.0;
      std::vector<Eigen::VectorXd> clear;
      std::vector<std::vector<ciphertext>> sealed;
      std::vector<double> weights;
      for (std::size_t k = 0; k < clients.size(); ++k) {
        if (clients[k].empty()) continue;
        weights.push_back(static_cast<double>(clients[k].size()));
        if constexpr (encrypted_compute && Compute::encrypts_model) {
          // The last epoch's weights, decrypted by the key holder for publication (flooded: they
          // reach the aggregate, or the client in the clear).
          std::vector<double> p;
          bool done_packed = false;
          if constexpr (can_pack_model) {
            if (packed[k]) {
              p = train_packed_model(global, clients[k], *packed[k], m, outside, scores);
              done_packed = true;
            }
          }
          if (!done_packed) {
            std::vector<ciphertext> update = train_encrypted_model(global, clients[k], *encrypted[k], m, outside, scores);
            const auto t = detail::clock::now();
            p.resize(update.size());
            for (std::size_t j = 0; j < update.size(); ++j)
              p[j] = he::decrypt_first_for_sharing(key_holder, send(server, key_holder, update[j]),
                                                   he::published_noise::computed());
            m.seconds_decryption += detail::seconds_since(t);
          }
          if constexpr (Transport::is_encrypted) {
            // The client's upload is the published weights encrypted afresh, packed, so the aggregate
            // is a sum of fresh encryptions whose noise the key holder can bound when it floods
            // (published_noise::linear): a computed ciphertext never reaches the aggregate.
            const auto t = detail::clock::now();
            const ciphertext fresh = he::encrypt_update(client, std::span<const double>(p));
            sealed.push_back({send(client, server, fresh, m.bytes_uploaded[k])});
            m.seconds_encryption += detail::seconds_since(t);
          } else {
            // The key holder publishes the local model to its client, which uploads it in the clear.
            const Eigen::VectorXd v = Eigen::Map<const Eigen::VectorXd>(p.data(), static_cast<Eigen::Index>(p.size()));
            clear.push_back(upload_clear(natural(v), parameter_count, m.bytes_uploaded[k]));
          }
        } else {
          Eigen::VectorXd p;
          if constexpr (encrypted_compute) {
            bool done_packed = false;
            if constexpr (can_pack_model) {
              if (packed[k]) {
                p = train_packed_data(global, clients[k], *packed[k], m, outside, scores);
                done_packed = true;
              }
            }
            if (!done_packed) p = train_encrypted_data(global, clients[k], *encrypted[k], m, outside, scores);
          } else {
            p = train_plaintext(global, clients[k], m, outside, scores);
          }
          if constexpr (Transport::is_encrypted) {
            const auto t = detail::clock::now();
            const ciphertext c = he::encrypt_update(client, std::span<const double>(p.data(), static_cast<std::size_t>(p.size())));
            sealed.push_back({send(client, server, c, m.bytes_uploaded[k])});
            m.seconds_encryption += detail::seconds_since(t);
          } else {
            clear.push_back(upload_clear(p, parameter_count, m.bytes_uploaded[k]));
          }
        }
      }
      if constexpr (Transport::is_encrypted) {
        if constexpr (aggregate::linear_aggregation_rule<Aggregator>)
          global.set_parameters(natural(combine_encrypted(sealed, weights, parameter_count, m)));
      } else {
        const auto t = detail::clock::now();
        global.set_parameters(m_aggregator.aggregate(clear, weights));
        m.seconds_aggregation += detail::seconds_since(t);
      }
      m.accuracy = global.accuracy(test);
      m.loss = global.log_loss(test);
      if (scores > 0) m.outside_interval = static_cast<double>(outside) / static_cast<double>(scores);
      else m.largest_score = std::numeric_limits<double>::quiet_NaN();
      history.push_back(m);
      if constexpr (!std::is_same_v<std::remove_cvref_t<Callback>, std::nullptr_t>) {
        if constexpr (std::is_void_v<std::invoke_result_t<Callback&, const round_metrics&>>) {
          on_round(history.back());
        } else {
          if (on_round(history.back()) == round_decision::stop) break;
        }
      }
    }
    return history;
  }

  /// Partitions @p train IID into config().clients equal shares (seeded by config().seed), then fit().
  /// @throws hefl::invalid_argument as fit() and data::partition_iid.
  template <class Callback = std::nullptr_t>
  std::vector<round_metrics> fit(Model& global, const data::dataset& train, const data::dataset& test,
                                 Callback&& on_round = nullptr) {
    return fit(global, data::partition_iid(train, m_config.clients, m_config.seed), test,
               std::forward<Callback>(on_round));
  }

private:
  // One hop between two parties: serialized by the sender, loaded (and validated) by the receiver.
  template <class From, class To>
  static ciphertext send(const From& from, const To& to, const ciphertext& c, std::uint64_t& counted) {
    const std::vector<std::uint8_t> wire = from.serialize(c);
    counted += wire.size();
    return to.deserialize(wire);
  }
  template <class From, class To>
  static ciphertext send(const From& from, const To& to, const ciphertext& c) {
    std::uint64_t ignored = 0;
    return send(from, to, c, ignored);
  }

  static Eigen::VectorXd upload_clear(const Eigen::VectorXd& p, std::size_t count, std::uint64_t& counted) {
    const std::vector<std::uint8_t> wire = detail::save_parameters(p);
    counted += wire.size();
    return detail::load_parameters(wire, count);
  }

  Eigen::VectorXd train_plaintext(const Model& global, const data::dataset& d, round_metrics& m, std::uint64_t& outside,
                                  std::uint64_t& scores) const {
    const auto t = detail::clock::now();
    Model local = global;
    train_options one = m_config.local;
    one.epochs = 1;
    for (int e = 0; e < m_config.local.epochs; ++e) {
      detail::count_outside(local, d, sigmoid_interval(m_sigmoid), outside, scores, m.largest_score);
      local.train(d, one, m_sigmoid);
    }
    m.seconds_local_training += detail::seconds_since(t);
    return local.parameters();
  }

  // Refuses, before any work, a server whose keys miss a rotation some client's epochs perform
  // (fl::rotation_steps_for lists them; the layouts are the ones fit() picks).
  void check_rotation_keys(const server_t& server, const std::vector<data::dataset>& clients) const {
    const auto slots = static_cast<std::size_t>(server.slot_count());
    for (std::size_t k = 0; k < clients.size(); ++k) {
      if (clients[k].empty()) continue;
      const std::size_t m = clients[k].size(), n = clients[k].features();
      const encrypted_layout layout = encrypted_layout_for<Compute>(slots, m, n, threshold_keys);
      const he::rotation_key_set keys = rotation_steps_for_layout(layout, slots, m, n);
      const auto where = [&] {
        return "client " + std::to_string(k) + "'s epochs (" + layout_name(layout) + " layout, " + std::to_string(m) +
               " samples, " + std::to_string(n) + " features) use; generate the keys of fl::rotation_steps_for "
               "(he::ckks_backend_options::exact_rotations) or the default set";
      };
      for (const long long step : keys.steps)
        if (!server.can_rotate(step))
          throw invalid_argument("federated_trainer::fit: the server has no rotation key for step " +
                                 std::to_string(step) + ", which " + where());
      if (keys.sum_slots && !server.can_sum_slots())
        throw invalid_argument("federated_trainer::fit: the server has no keys for sum_slots, which " + where());
    }
  }

  // Encrypted data, public weights: the compute party computes the gradient sums, the key holder
  // decrypts them (for sharing: they determine the next public weights), the weights move in clear.
  Eigen::VectorXd train_encrypted_data(const Model& global, const data::dataset& d,
                                       const encrypted_dataset<server_t>& data, round_metrics& m,
                                       std::uint64_t& outside, std::uint64_t& scores) {
    const auto& server = he::server_of(m_backend);
    auto& key_holder = he::key_holder_of(m_backend);
    const train_options& o = m_config.local;
    Model local = global;
    for (int e = 1; e <= o.epochs; ++e) {
      detail::count_outside(local, d, sigmoid_interval(m_sigmoid), outside, scores, m.largest_score);
      std::vector<double> first(data.features() + 1);
      std::size_t block = 0;
      if constexpr (he::has_rotate<server_t>) block = packed_gradient_block(server, data.samples, data.features());
      auto t = detail::clock::now();
      if (block != 0) {  // the n+1 sums in one ciphertext, sum j in slot j·block
        const ciphertext packed =
            encrypted_gradient_packed(server, data, local.weights(), local.bias(), *m_plan, block);
        m.seconds_local_training += detail::seconds_since(t);
        t = detail::clock::now();
        std::vector<std::size_t> slots(first.size());  // only the n + 1 sums leave the key holder
        for (std::size_t j = 0; j < slots.size(); ++j) slots[j] = j * block;
        first = he::decrypt_slots_for_sharing(key_holder, send(server, key_holder, packed), slots,
                                              he::published_noise::computed(static_cast<double>(data.samples)));
      } else {
        const auto sums = encrypted_gradient(server, data, local.weights(), local.bias(), *m_plan);
        m.seconds_local_training += detail::seconds_since(t);
        t = detail::clock::now();
        for (std::size_t j = 0; j < sums.size(); ++j)
          first[j] = he::decrypt_first_for_sharing(key_holder, send(server, key_holder, sums[j]),
                                                   he::published_noise::computed(static_cast<double>(data.samples)));
      }
      m.seconds_decryption += detail::seconds_since(t);
      const Eigen::VectorXd next =
          local.parameters() - o.learning_rate * gradient_from_sums(first, data.samples, local.weights(), o.l2);
      detail::require_finite(next, e);
      local.set_parameters(next);
    }
    return local.parameters();
  }

  // Encrypted data and weights: the key holder encrypts the global model in the sigmoid's unit
  // coordinates (φ = a·θ, so the mapping into [−1, 1] costs no level), the compute party runs the
  // epochs on ciphertexts, the key holder refreshes the weights between epochs (raw decryption: the
  // values stay with it). The last epoch's ciphertexts are the client's encrypted update, in unit
  // coordinates: natural() turns it back into θ after decryption.
  std::vector<ciphertext> train_encrypted_model(const Model& global, const data::dataset& d,
                                                const encrypted_dataset<server_t>& data, round_metrics& m,
                                                std::uint64_t& outside, std::uint64_t& scores) {
    const auto& server = he::server_of(m_backend);
    auto& key_holder = he::key_holder_of(m_backend);
    const train_options& o = m_config.local;
    Model known = global;  // the weights the current epoch starts from (public at epoch 1, then the key holder's)
    auto t = detail::clock::now();
    std::vector<ciphertext> params;
    if constexpr (threshold_keys) {  // no key holder: the client encrypts the public global model
      auto& client = he::client_of(m_backend);
      params = encrypt_parameters(client, to_unit_parameters(global.parameters(), *m_plan));
      for (auto& c : params) c = send(client, server, c);
    } else {
      params = encrypt_parameters(key_holder, to_unit_parameters(global.parameters(), *m_plan));
      for (auto& c : params) c = send(key_holder, server, c);
    }
    m.seconds_encryption += detail::seconds_since(t);
    for (int e = 1; e <= o.epochs; ++e) {
      detail::count_outside(known, d, sigmoid_interval(m_sigmoid), outside, scores, m.largest_score);
      t = detail::clock::now();
      std::vector<ciphertext> next = encrypted_model_epoch_unit(server, data, params, o, *m_plan);
      m.seconds_local_training += detail::seconds_since(t);
      if (e == o.epochs) return next;
      if constexpr (threshold_keys) {
        // The quorum refreshes each weight collectively (multiparty/refresh.hpp): nobody learns it, so
        // the scores counted outside the sigmoid's interval use the round's starting weights.
        t = detail::clock::now();
        for (auto& c : next) c = send(key_holder, server, key_holder.refresh(send(server, key_holder, c)));
        m.seconds_decryption += detail::seconds_since(t);
        params = std::move(next);
      } else {
        t = detail::clock::now();
        Eigen::VectorXd p(static_cast<Eigen::Index>(next.size()));
        for (std::size_t j = 0; j < next.size(); ++j) p(static_cast<Eigen::Index>(j)) = refreshed_value(send(server, key_holder, next[j]));
        m.seconds_decryption += detail::seconds_since(t);
        detail::require_finite(p, e);
        known.set_parameters(from_unit_parameters(p, *m_plan));
        t = detail::clock::now();
        params = encrypt_parameters(key_holder, p);
        for (auto& c : params) c = send(key_holder, server, c);
        m.seconds_encryption += detail::seconds_since(t);
      }
    }
    return params;  // not reached: epochs >= 1
  }

  // train_encrypted_data in the packed layout (fl::packed_gradient): the n + 1 gradient sums of an
  // epoch in one ciphertext, of which the key holder publishes only those n + 1 slots, flooded.
  Eigen::VectorXd train_packed_data(const Model& global, const data::dataset& d, const packed_data_t& data,
                                    round_metrics& m, std::uint64_t& outside, std::uint64_t& scores) {
    const auto& server = he::server_of(m_backend);
    auto& key_holder = he::key_holder_of(m_backend);
    const train_options& o = m_config.local;
    const std::vector<std::size_t> slots = data.packing.parameter_slots();
    const auto unit = he::published_noise::computed(static_cast<double>(data.packing.samples));
    Model local = global;
    for (int e = 1; e <= o.epochs; ++e) {
      detail::count_outside(local, d, sigmoid_interval(m_sigmoid), outside, scores, m.largest_score);
      auto t = detail::clock::now();
      const ciphertext sums = packed_gradient(server, data, local.weights(), local.bias(), *m_plan);
      m.seconds_local_training += detail::seconds_since(t);
      t = detail::clock::now();
      const std::vector<double> first = he::decrypt_slots_for_sharing(key_holder, send(server, key_holder, sums), slots, unit);
      m.seconds_decryption += detail::seconds_since(t);
      const Eigen::VectorXd next =
          local.parameters() - o.learning_rate * gradient_from_sums(first, data.packing.samples, local.weights(), o.l2);
      detail::require_finite(next, e);
      local.set_parameters(next);
    }
    return local.parameters();
  }

  // train_encrypted_model in the packed layout (fl/packed_model_epoch.hpp): one ciphertext of data,
  // one of parameters; the key holder refreshes it by reading the n + 1 parameter slots (raw: the
  // values stay with it) and encrypting the next parameters in the layout. Returns the last epoch's
  // parameters (unit coordinates) as the key holder publishes them: only those n + 1 slots, flooded.
  std::vector<double> train_packed_model(const Model& global, const data::dataset& d,
                                         const packed_data_t& data, round_metrics& m, std::uint64_t& outside,
                                         std::uint64_t& scores) {
    const auto& server = he::server_of(m_backend);
    auto& key_holder = he::key_holder_of(m_backend);
    const train_options& o = m_config.local;
    const std::vector<std::size_t> slots = data.packing.parameter_slots();
    Model known = global;
    auto t = detail::clock::now();
    ciphertext params = send(key_holder, server,
                             encrypt_packed_parameters(key_holder, data.packing,
                                                       to_unit_parameters(global.parameters(), *m_plan)));
    m.seconds_encryption += detail::seconds_since(t);
    for (int e = 1; e <= o.epochs; ++e) {
      detail::count_outside(known, d, sigmoid_interval(m_sigmoid), outside, scores, m.largest_score);
      t = detail::clock::now();
      const ciphertext next = send(server, key_holder, packed_model_epoch(server, data, params, o, *m_plan));
      m.seconds_local_training += detail::seconds_since(t);
      t = detail::clock::now();
      if (e == o.epochs) {
        std::vector<double> p = he::decrypt_slots_for_sharing(key_holder, next, slots, he::published_noise::computed());
        m.seconds_decryption += detail::seconds_since(t);
        return p;
      }
      const std::vector<double> all = key_holder.decrypt(next);
      if (all.size() < data.packing.slots)
        throw invalid_argument("federated_trainer: the backend's decrypt returned " + std::to_string(all.size()) +
                               " values, " + std::to_string(data.packing.slots) + " needed");
      Eigen::VectorXd p(static_cast<Eigen::Index>(slots.size()));
      for (std::size_t j = 0; j < slots.size(); ++j) p(static_cast<Eigen::Index>(j)) = all[slots[j]];
      m.seconds_decryption += detail::seconds_since(t);
      detail::require_finite(p, e);
      known.set_parameters(from_unit_parameters(p, *m_plan));
      t = detail::clock::now();
      params = send(key_holder, server, encrypt_packed_parameters(key_holder, data.packing, p));
      m.seconds_encryption += detail::seconds_since(t);
    }
    return {};  // not reached: epochs >= 1
  }

  // The key holder's raw decryption of one encrypted weight (the value in slot 0), for its own use.
  double refreshed_value(const ciphertext& c) const {
    const std::vector<double> slots = he::key_holder_of(m_backend).decrypt(c);
    if (slots.empty()) throw invalid_argument("federated_trainer: the backend's decrypt returned no values");
    return slots[0];
  }

  // Σ n_k·Enc(θ_k) with the integer sample counts (free in CKKS and exact in integer schemes), one
  // decryption by the key holder, division by Σ n_k in the clear. A linear rule whose coefficients are
  // not proportional to the sample counts gets its fractional coefficients instead (one level).
  Eigen::VectorXd combine_encrypted(const std::vector<std::vector<ciphertext>>& sealed,
                                    const std::vector<double>& weights, std::size_t parameter_count,
                                    round_metrics& m) const {
    const auto& server = he::server_of(m_backend);
    auto& key_holder = he::key_holder_of(m_backend);
    auto t = detail::clock::now();
    const std::vector<double> coefficients = m_aggregator.coefficients(weights);
    double total = 0.0;
    for (double w : weights) total += w;
    bool proportional = coefficients.size() == weights.size();
    for (std::size_t k = 0; proportional && k < weights.size(); ++k)
      proportional = std::fabs(coefficients[k] * total - weights[k]) <= 1e-9 * std::max(1.0, weights[k]);
    const std::size_t parts = sealed[0].size();
    std::vector<ciphertext> sums;
    for (std::size_t j = 0; j < parts; ++j) {
      const auto factor = [&](std::size_t k) { return proportional ? weights[k] : coefficients[k]; };
      ciphertext acc = server.multiply_scalar(sealed[0][j], factor(0));
      for (std::size_t k = 1; k < sealed.size(); ++k) server.add_inplace(acc, server.multiply_scalar(sealed[k][j], factor(k)));
      sums.push_back(std::move(acc));
    }
    m.seconds_aggregation += detail::seconds_since(t);
    t = detail::clock::now();
    const double divisor = proportional ? total : 1.0;
    // Flooding needs a noise bound (Li–Micciancio, EUROCRYPT 2021): Σ n_k·Enc(θ_k) over fresh uploads
    // with integer n_k has noise <= Σ n_k times a fresh encryption's; anything else is "computed".
    bool integral = proportional;  // every upload is a fresh encryption (refreshed in the encrypted-weights mode)
    for (std::size_t k = 0; integral && k < weights.size(); ++k) integral = weights[k] == std::floor(weights[k]);
    const he::published_noise noise = integral ? he::published_noise::linear(total) : he::published_noise::computed();
    Eigen::VectorXd p(static_cast<Eigen::Index>(parameter_count));
    if (parts == 1) {  // packed: parameter i in slot i
      std::vector<std::size_t> slots(parameter_count);
      for (std::size_t i = 0; i < parameter_count; ++i) slots[i] = i;
      const std::vector<double> v = he::decrypt_slots_for_sharing(key_holder, send(server, key_holder, sums[0]), slots, noise);
      for (std::size_t i = 0; i < parameter_count; ++i) p(static_cast<Eigen::Index>(i)) = v[i] / divisor;
    } else {  // one ciphertext per parameter, the value in every slot
      for (std::size_t i = 0; i < parts; ++i)
        p(static_cast<Eigen::Index>(i)) = he::decrypt_first_for_sharing(key_holder, send(server, key_holder, sums[i]), noise) / divisor;
    }
    m.seconds_decryption += detail::seconds_since(t);
    return p;
  }

  // Parameters decrypted from the encrypted-weights mode are in unit coordinates (φ = a·θ); θ = φ/a
  // is linear, so it applies to an aggregate as well as to one client's update.
  [[nodiscard]] Eigen::VectorXd natural(const Eigen::VectorXd& p) const {
    if constexpr (encrypted_compute && Compute::encrypts_model) return from_unit_parameters(p, *m_plan);
    else return p;
  }

  Backend& m_backend;
  trainer_config m_config;
  Sigmoid m_sigmoid;
  Aggregator m_aggregator;
  std::optional<sigmoid_plan> m_plan;  // the sigmoid as the encrypted modes evaluate it
};

/// The seed paper's FL + FHE: clients' data encrypted, updates encrypted (Backend's roles).
template <class Backend, class Sigmoid = approx::polynomial_sigmoid>
using encrypted_data_trainer =
    federated_trainer<Backend, model::logistic_regression, aggregate::fedavg, Sigmoid, encrypted_data_training,
                      encrypted_updates>;

/// Encrypted data and encrypted weights (the TenSEAL tutorial's protocol), updates encrypted.
template <class Backend, class Sigmoid = approx::polynomial_sigmoid>
using encrypted_model_trainer =
    federated_trainer<Backend, model::logistic_regression, aggregate::fedavg, Sigmoid, encrypted_model_training,
                      encrypted_updates>;

} // namespace hefl::fl
