#pragma once
/// @file
/// fl::federated_trainer: rounds of local training on each client, encrypted upload of the local
/// models through the backend, aggregation by the server, decryption of the aggregate by the key
/// holder. The backend, model, aggregation rule and sigmoid are policies (ensmallen's habit), so the
/// same code runs plaintext FL and FL with homomorphically encrypted aggregation.

#include <hefl/aggregate/fedavg.hpp>
#include <hefl/aggregate/rule.hpp>
#include <hefl/approx/sigmoid.hpp>
#include <hefl/core/error.hpp>
#include <hefl/data/dataset.hpp>
#include <hefl/data/partition.hpp>
#include <hefl/he/backend.hpp>
#include <hefl/model/logistic_regression.hpp>

#include <Eigen/Dense>

#include <concepts>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace hefl::fl {

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
  int rounds = 5;              ///< the paper's 5 steps
  int local_epochs = 1;        ///< full-batch gradient steps per client per round
  double learning_rate = 1.0;  ///< the TenSEAL tutorial's lr
  double l2 = 0.05;            ///< the TenSEAL tutorial's regularisation
  std::size_t clients = 10;    ///< the paper's 10 IoT users (used when fit() partitions the data)
  std::uint64_t seed = 73;     ///< partitioning seed (the tutorial's torch seed, for the record)

  /// @throws hefl::invalid_argument for rounds < 1, local_epochs < 1, lr <= 0, l2 < 0 or clients == 0.
  void validate() const {
    if (rounds < 1) throw invalid_argument("trainer_config: rounds must be >= 1, got " + std::to_string(rounds));
    if (local_epochs < 1)
      throw invalid_argument("trainer_config: local_epochs must be >= 1, got " + std::to_string(local_epochs));
    if (!(learning_rate > 0.0)) throw invalid_argument("trainer_config: learning_rate must be positive");
    if (!(l2 >= 0.0)) throw invalid_argument("trainer_config: l2 must be >= 0");
    if (clients == 0) throw invalid_argument("trainer_config: clients must be >= 1");
  }
};

/// Test-set metrics after one round.
struct round_metrics {
  int round = 0;          ///< 1-based
  double accuracy = 0.0;  ///< fraction in [0, 1]
  double loss = 0.0;      ///< mean binary cross-entropy
};

/// Federated training loop.
/// @tparam Backend an he::additive_backend that carries the clients' updates to the server.
/// @tparam Model a federated_model (default model::logistic_regression).
/// @tparam Aggregator an aggregate::aggregation_rule; must be linear when Backend encrypts.
/// @tparam Sigmoid an approx::sigmoid_policy used in local training.
template <class Backend, class Model = model::logistic_regression, class Aggregator = aggregate::fedavg,
          class Sigmoid = approx::exact_sigmoid>
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
  static_assert(!he::backend_traits<Backend>::is_encrypted || aggregate::linear_aggregation_rule<Aggregator>,
                "hefl: this aggregation rule is not linear (an order statistic such as median, trimmed mean or "
                "Krum), so it cannot combine encrypted updates: use aggregate::fedavg with an encrypting backend, or "
                "he::plain_backend with a robust rule: see docs/aggregation.md");

public:
  /// Called after every round with the test-set metrics.
  using round_callback = std::function<void(const round_metrics&)>;

  /// @throws hefl::invalid_argument if the config is invalid.
  federated_trainer(Backend& backend, trainer_config config, Sigmoid sigmoid = {}, Aggregator aggregator = {})
      : m_backend(backend), m_config(config), m_sigmoid(std::move(sigmoid)), m_aggregator(std::move(aggregator)) {
    m_config.validate();
  }

  [[nodiscard]] const trainer_config& config() const noexcept { return m_config; }

  /// Trains @p global on the clients' data for config().rounds rounds. Clients with no samples
  /// sit the round out. Returns the metrics of every round.
  /// @throws hefl::invalid_argument if clients.size() != config().clients, every client is empty,
  ///         the test set is empty, or the parameters do not fit in the backend's slots.
  std::vector<round_metrics> fit(Model& global, const std::vector<data::dataset>& clients, const data::dataset& test,
                                 const round_callback& on_round = {}) {
    if (clients.size() != m_config.clients)
      throw invalid_argument("federated_trainer::fit: " + std::to_string(clients.size()) +
                             " client datasets but config.clients = " + std::to_string(m_config.clients));
    std::vector<double> sample_counts;
    for (const auto& c : clients) sample_counts.push_back(static_cast<double>(c.size()));
    bool any = false;
    for (double n : sample_counts) any = any || n > 0;
    if (!any) throw invalid_argument("federated_trainer::fit: every client dataset is empty");
    if (test.empty()) throw invalid_argument("federated_trainer::fit: empty test set");

    const model::train_options local{m_config.local_epochs, m_config.learning_rate, m_config.l2};
    std::vector<round_metrics> history;
    for (int round = 1; round <= m_config.rounds; ++round) {
      std::vector<typename Backend::ciphertext_type> uploads;
      std::vector<double> weights;
      std::size_t parameter_count = 0;
      for (std::size_t k = 0; k < clients.size(); ++k) {
        if (clients[k].empty()) continue;
        Model local_model = global;
        local_model.train(clients[k], local, m_sigmoid);
        const Eigen::VectorXd p = local_model.parameters();
        parameter_count = static_cast<std::size_t>(p.size());
        if (parameter_count > m_backend.slot_count())
          throw invalid_argument("federated_trainer::fit: " + std::to_string(parameter_count) +
                                 " parameters do not fit in " + std::to_string(m_backend.slot_count()) + " slots");
        // What travels is bytes: serialize on the client, deserialize on the server.
        const auto wire = m_backend.serialize(m_backend.encrypt(std::span<const double>(p.data(), p.size())));
        uploads.push_back(m_backend.deserialize(wire));
        weights.push_back(sample_counts[k]);
      }
      global.set_parameters(combine(uploads, weights, parameter_count));
      const round_metrics m{round, global.accuracy(test), global.log_loss(test)};
      history.push_back(m);
      if (on_round) on_round(m);
    }
    return history;
  }

  /// Partitions @p train IID into config().clients equal shares (seeded by config().seed), then fit().
  /// @throws hefl::invalid_argument as fit() and data::partition_iid.
  std::vector<round_metrics> fit(Model& global, const data::dataset& train, const data::dataset& test,
                                 const round_callback& on_round = {}) {
    return fit(global, data::partition_iid(train, m_config.clients, m_config.seed), test, on_round);
  }

private:
  Eigen::VectorXd combine(const std::vector<typename Backend::ciphertext_type>& uploads,
                          const std::vector<double>& weights, std::size_t parameter_count) const {
    if constexpr (aggregate::linear_aggregation_rule<Aggregator>) {
      // The server only ever sees ciphertexts: Σ c_k · Enc(θ_k), decrypted once by the key holder.
      const auto c = m_aggregator.coefficients(weights);
      auto sum = m_backend.multiply_scalar(uploads[0], c[0]);
      for (std::size_t k = 1; k < uploads.size(); ++k) m_backend.add_inplace(sum, m_backend.multiply_scalar(uploads[k], c[k]));
      return first(m_backend.decrypt(sum), parameter_count);
    } else {
      std::vector<Eigen::VectorXd> clear;
      for (const auto& u : uploads) clear.push_back(first(m_backend.decrypt(u), parameter_count));
      return m_aggregator.aggregate(clear, weights);
    }
  }

  static Eigen::VectorXd first(const std::vector<double>& slots, std::size_t n) {
    return Eigen::Map<const Eigen::VectorXd>(slots.data(), static_cast<Eigen::Index>(n));
  }

  Backend& m_backend;
  trainer_config m_config;
  Sigmoid m_sigmoid;
  Aggregator m_aggregator;
};

} // namespace hefl::fl
