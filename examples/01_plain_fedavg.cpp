// Tutorial 1: federated logistic regression with hefl, in plaintext.
//
// Ten hospitals hold private data (here: the seed paper's synthetic vitals, label = feature 0 >= feature 1).
// Each round every hospital trains locally, uploads its model through the backend, and the server
// averages the uploads weighted by sample counts (FedAvg). The backend is the policy that later
// becomes CKKS encryption; he::plain_backend runs the same code with no encryption, while counting
// multiplicative depth the way CKKS will.
#include <hefl/hefl.hpp>

#include <cstdio>

int main() {
  using namespace hefl;

  // 1. Data: 2000 training samples with 3 features, split IID into 10 clients, and a test set.
  const data::train_test d = data::paper_random(2000, 3, /*seed=*/2024);
  const std::vector<data::dataset> clients = data::partition_iid(d.train, 10, /*seed=*/1);

  // 2. Policies: plain backend, logistic regression, FedAvg, and the paper's polynomial sigmoid.
  he::plain_backend backend(/*slot_count=*/16);
  fl::trainer_config cfg;  // 5 rounds, 1 local step, lr 1, L2 0.05, 10 clients
  fl::federated_trainer<he::plain_backend, model::logistic_regression, aggregate::fedavg, approx::polynomial_sigmoid>
      trainer(backend, cfg, approx::paper_sigmoid3());

  // 3. Train, printing the test metrics after every round.
  model::logistic_regression global(d.train.features());
  trainer.fit(global, clients, d.test, [](const fl::round_metrics& m) {
    std::printf("round %d: accuracy %.1f%%, loss %.4f\n", m.round, 100.0 * m.accuracy, m.loss);
  });

  // 4. The learnt rule: a positive weight on feature 0, a negative one on feature 1, noise near 0.
  std::printf("weights: %.3f %.3f %.3f, bias %.3f\n", global.weights()(0), global.weights()(1), global.weights()(2),
              global.bias());
  return 0;
}
