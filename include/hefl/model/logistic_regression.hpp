#pragma once
/// @file
/// Binary logistic regression: weights and a bias in Eigen, trained by full-batch gradient descent
/// with L2 regularisation on the weights (the update of the seed paper's TenSEAL tutorial:
/// θ ← θ − lr·[(1/m)·Σ(ŷ−y)x + λθ]).

#include <hefl/approx/sigmoid.hpp>
#include <hefl/core/error.hpp>
#include <hefl/data/dataset.hpp>

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <string>

namespace hefl::model {

/// Hyper-parameters of local training, for plaintext training (logistic_regression::train) and
/// training on encrypted data (fl::train_encrypted, fl::encrypted_model_epoch, the trainer) alike.
/// Spell them by name: `{.epochs = 3, .learning_rate = 1.0, .l2 = 0.05}`.
struct train_options {
  int epochs = 1;              ///< full-batch gradient steps
  double learning_rate = 1.0;  ///< the paper's tutorial uses 1
  double l2 = 0.05;            ///< keeps w·x+b inside the sigmoid polynomial's interval

  /// @throws hefl::invalid_argument for epochs < 0, a learning rate that is not positive and finite,
  ///         or an l2 that is negative or not finite.
  void validate() const {
    if (epochs < 0) throw invalid_argument("train_options: epochs must be >= 0, got " + std::to_string(epochs));
    if (!(learning_rate > 0.0) || !std::isfinite(learning_rate))
      throw invalid_argument("train_options: learning_rate must be positive and finite");
    if (!(l2 >= 0.0) || !std::isfinite(l2)) throw invalid_argument("train_options: l2 must be >= 0 and finite");
  }
};

/// Logistic regression p(y=1|x) = σ(w·x + b). Parameters are laid out as [w_0..w_{n-1}, b].
class logistic_regression {
public:
  /// A model with @p features zero weights and zero bias.
  explicit logistic_regression(std::size_t features = 0)
      : m_weights(Eigen::VectorXd::Zero(static_cast<Eigen::Index>(features))) {}

  [[nodiscard]] std::size_t features() const noexcept { return static_cast<std::size_t>(m_weights.size()); }
  [[nodiscard]] const Eigen::VectorXd& weights() const noexcept { return m_weights; }
  [[nodiscard]] double bias() const noexcept { return m_bias; }

  /// The flat parameter vector [w, b] (what clients send and servers aggregate).
  [[nodiscard]] Eigen::VectorXd parameters() const {
    Eigen::VectorXd p(m_weights.size() + 1);
    p.head(m_weights.size()) = m_weights;
    p(m_weights.size()) = m_bias;
    return p;
  }

  /// @throws hefl::invalid_argument if p does not have features()+1 entries or holds a non-finite value.
  void set_parameters(const Eigen::VectorXd& p) {
    if (p.size() != m_weights.size() + 1)
      throw invalid_argument("logistic_regression::set_parameters: expected " + std::to_string(m_weights.size() + 1) +
                             " parameters, got " + std::to_string(p.size()));
    if (!p.allFinite()) throw invalid_argument("logistic_regression::set_parameters: non-finite parameter");
    m_weights = p.head(m_weights.size());
    m_bias = p(m_weights.size());
  }

  /// Linear scores w·x + b for every row of @p x.
  /// @throws hefl::invalid_argument on a feature-count mismatch.
  [[nodiscard]] Eigen::VectorXd decision_function(const Eigen::MatrixXd& x) const {
    check_features(x, "decision_function");
    Eigen::VectorXd z = x * m_weights;
    z.array() += m_bias;
    return z;
  }

  /// σ(w·x + b) with the chosen sigmoid policy.
  template <approx::sigmoid_policy Sigmoid = approx::exact_sigmoid>
  [[nodiscard]] Eigen::VectorXd predict_proba(const Eigen::MatrixXd& x, const Sigmoid& sigmoid = {}) const {
    Eigen::VectorXd z = decision_function(x);
    for (Eigen::Index i = 0; i < z.size(); ++i) z(i) = sigmoid(z(i));
    return z;
  }

  /// Class labels: 1 where w·x + b >= 0 (σ ≥ 1/2), else 0.
  [[nodiscard]] Eigen::VectorXd predict(const Eigen::MatrixXd& x) const {
    return (decision_function(x).array() >= 0.0).cast<double>().matrix();
  }

  /// Fraction of correctly classified samples. @throws hefl::invalid_argument on an empty or inconsistent set.
  [[nodiscard]] double accuracy(const data::dataset& d) const {
    check_set(d, "accuracy");
    return (predict(d.x).array() == d.y.array()).cast<double>().mean();
  }

  /// Mean binary cross-entropy with the exact sigmoid (probabilities clipped to [1e-15, 1-1e-15]).
  /// @throws hefl::invalid_argument on an empty or inconsistent set.
  [[nodiscard]] double log_loss(const data::dataset& d) const {
    check_set(d, "log_loss");
    const Eigen::VectorXd p = predict_proba(d.x);
    double total = 0.0;
    for (Eigen::Index i = 0; i < p.size(); ++i) {
      const double q = std::clamp(p(i), 1e-15, 1.0 - 1e-15);
      total -= d.y(i) * std::log(q) + (1.0 - d.y(i)) * std::log(1.0 - q);
    }
    return total / static_cast<double>(p.size());
  }

  /// Gradient of the regularised loss, laid out like parameters(): (1/m)Σ(ŷ−y)[x,1] + λ[w,0].
  template <approx::sigmoid_policy Sigmoid = approx::exact_sigmoid>
  [[nodiscard]] Eigen::VectorXd gradient(const data::dataset& d, double l2, const Sigmoid& sigmoid = {}) const {
    check_set(d, "gradient");
    const Eigen::VectorXd err = predict_proba(d.x, sigmoid) - d.y;
    const double inv_m = 1.0 / static_cast<double>(d.size());
    Eigen::VectorXd g(m_weights.size() + 1);
    g.head(m_weights.size()) = inv_m * (d.x.transpose() * err) + l2 * m_weights;
    g(m_weights.size()) = inv_m * err.sum();
    return g;
  }

  /// Local training: @c opt.epochs full-batch gradient steps.
  /// @throws hefl::invalid_argument on an empty set, mismatched features, negative epochs/l2,
  ///         a non-positive learning rate, or parameters that become non-finite (divergence).
  template <approx::sigmoid_policy Sigmoid = approx::exact_sigmoid>
  void train(const data::dataset& d, const train_options& opt, const Sigmoid& sigmoid = {}) {
    if (opt.epochs < 0) throw invalid_argument("logistic_regression::train: epochs must be >= 0");
    if (!(opt.learning_rate > 0.0)) throw invalid_argument("logistic_regression::train: learning rate must be positive");
    if (!(opt.l2 >= 0.0)) throw invalid_argument("logistic_regression::train: l2 must be >= 0");
    for (int e = 0; e < opt.epochs; ++e) {
      const Eigen::VectorXd g = gradient(d, opt.l2, sigmoid);
      m_weights -= opt.learning_rate * g.head(m_weights.size());
      m_bias -= opt.learning_rate * g(m_weights.size());
      if (!m_weights.allFinite() || !std::isfinite(m_bias))
        throw invalid_argument("logistic_regression::train: parameters diverged at epoch " + std::to_string(e + 1) +
                               "; lower the learning rate");
    }
  }

private:
  void check_features(const Eigen::MatrixXd& x, const char* op) const {
    if (x.cols() != m_weights.size())
      throw invalid_argument(std::string("logistic_regression::") + op + ": data has " + std::to_string(x.cols()) +
                             " features, the model " + std::to_string(m_weights.size()));
  }
  void check_set(const data::dataset& d, const char* op) const {
    d.validate();
    if (d.empty()) throw invalid_argument(std::string("logistic_regression::") + op + ": empty dataset");
    check_features(d.x, op);
  }

  Eigen::VectorXd m_weights;
  double m_bias = 0.0;
};

} // namespace hefl::model
