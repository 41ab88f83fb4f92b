#include <hefl/approx/sigmoid.hpp>
#include <hefl/crypto/botan_random.hpp>
#include <hefl/data/synthetic.hpp>
#include <hefl/fl/encrypted_gradient.hpp>
#include <hefl/he/ckks_backend.hpp>
#include <hefl/he/plain_backend.hpp>
#include <hefl/model/logistic_regression.hpp>

#include <catch2/catch.hpp>

#include "fhe_test_support.hpp"

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

using namespace hefl;
namespace ckks = hefl::he::ckks;

namespace {

// he::plain_backend that counts homomorphic operations, to show a refusal happens before any work.
class counting_backend {
public:
  using ciphertext_type = he::plain_ciphertext;
  explicit counting_backend(std::size_t slots, int depth) : m_inner(slots, depth) {}
  mutable int operations = 0;

  std::size_t slot_count() const { return m_inner.slot_count(); }
  int max_depth() const { return m_inner.max_depth(); }
  int level(const ciphertext_type& c) const { return m_inner.level(c); }
  ciphertext_type encrypt(std::span<const double> v) { return m_inner.encrypt(v); }
  std::vector<double> decrypt(const ciphertext_type& c) const { return m_inner.decrypt(c); }
  ciphertext_type add(const ciphertext_type& a, const ciphertext_type& b) const { return count(), m_inner.add(a, b); }
  void add_inplace(ciphertext_type& a, const ciphertext_type& b) const { count(), m_inner.add_inplace(a, b); }
  ciphertext_type sub(const ciphertext_type& a, const ciphertext_type& b) const { return count(), m_inner.sub(a, b); }
  ciphertext_type add_plain(const ciphertext_type& a, std::span<const double> v) const {
    return count(), m_inner.add_plain(a, v);
  }
  ciphertext_type multiply_plain(const ciphertext_type& a, std::span<const double> v) const {
    return count(), m_inner.multiply_plain(a, v);
  }
  ciphertext_type multiply(const ciphertext_type& a, const ciphertext_type& b) const {
    return count(), m_inner.multiply(a, b);
  }
  ciphertext_type multiply_scalar(const ciphertext_type& a, double s) const { return count(), m_inner.multiply_scalar(a, s); }
  ciphertext_type rotate(const ciphertext_type& a, int s) const { return count(), m_inner.rotate(a, s); }
  ciphertext_type sum_slots(const ciphertext_type& a) const { return count(), m_inner.sum_slots(a); }
  std::vector<std::uint8_t> serialize(const ciphertext_type& c) const { return m_inner.serialize(c); }
  ciphertext_type deserialize(std::span<const std::uint8_t> b) const { return m_inner.deserialize(b); }

private:
  void count() const { ++operations; }
  he::plain_backend m_inner;
};
static_assert(he::arithmetic_backend<counting_backend>);

model::logistic_regression some_model(std::size_t features) {
  model::logistic_regression m(features);
  Eigen::VectorXd p(static_cast<Eigen::Index>(features) + 1);
  for (Eigen::Index k = 0; k < p.size(); ++k) p(k) = 0.3 - 0.2 * static_cast<double>(k);
  m.set_parameters(p);
  return m;
}

ckks::parameters toy_params() {
  return test::toy_training_parameters(4);  // scale 2^60: room to flood the published gradient sums
}

} // namespace

TEST_CASE("encrypted_gradient on the plain backend equals the plaintext gradient", "[fl][encrypted_gradient]") {
  const auto data = data::paper_random(300, 3, 5);
  const auto sigma = approx::paper_sigmoid3();
  he::plain_backend b(512, 4);
  const auto enc = fl::encrypt_dataset(b, data.train);
  REQUIRE(enc.features() == 3);
  REQUIRE(enc.samples == 300);
  REQUIRE(fl::encrypted_gradient_depth(sigma) == 4);
  for (const double l2 : {0.0, 0.05}) {
    const auto m = some_model(3);
    const auto sums = fl::encrypted_gradient(b, enc, m.weights(), m.bias(), sigma);
    REQUIRE(sums.size() == 4);
    CHECK(b.level(sums[0]) == 0);  // every level of the budget was needed
    const Eigen::VectorXd got = fl::decrypt_gradient(b, sums, enc.samples, m.weights(), l2);
    const Eigen::VectorXd want = m.gradient(data.train, l2, sigma);
    REQUIRE(got.size() == want.size());
    CHECK((got - want).cwiseAbs().maxCoeff() < 1e-12);
    // 212 padded slots have z = b != 0: the equality above shows they do not leak into the bias term.
    CHECK(m.bias() != 0.0);
  }
  // Zero weights and bias (the first epoch) go through the same path.
  const model::logistic_regression zero(3);
  const Eigen::VectorXd got0 =
      fl::decrypt_gradient(b, fl::encrypted_gradient(b, enc, zero.weights(), zero.bias(), sigma), 300, zero.weights(), 0.05);
  CHECK((got0 - zero.gradient(data.train, 0.05, sigma)).cwiseAbs().maxCoeff() < 1e-12);

  // train_encrypted follows logistic_regression::train step for step.
  model::logistic_regression enc_model(3), plain_model(3);
  int calls = 0;
  fl::train_encrypted(b, enc_model, enc, {.epochs = 4, .learning_rate = 1.0, .l2 = 0.05}, sigma, [&](int e, const model::logistic_regression&) { calls = e; });
  plain_model.train(data.train, model::train_options{.epochs = 4, .learning_rate = 1.0, .l2 = 0.05}, sigma);
  CHECK(calls == 4);
  CHECK((enc_model.parameters() - plain_model.parameters()).cwiseAbs().maxCoeff() < 1e-12);
}

TEST_CASE("encrypted_gradient refuses a too-shallow budget before any work, and bad inputs",
          "[fl][encrypted_gradient]") {
  const auto data = data::paper_random(50, 2, 6);
  const auto sigma = approx::paper_sigmoid3();
  counting_backend shallow(64, 3);
  const auto enc = fl::encrypt_dataset(shallow, data.train);
  const model::logistic_regression m(2);
  CHECK_THROWS_AS(fl::encrypted_gradient(shallow, enc, m.weights(), 0.1, sigma), depth_exhausted);
  CHECK_THROWS_WITH(fl::encrypted_gradient(shallow, enc, m.weights(), 0.1, sigma),
                    Catch::Contains("level 3 < 4 required"));
  CHECK(shallow.operations == 0);
  model::logistic_regression trained(2);
  CHECK_THROWS_AS(fl::train_encrypted(shallow, trained, enc, {.epochs = 1, .learning_rate = 1.0, .l2 = 0.05}, sigma), depth_exhausted);
  CHECK(shallow.operations == 0);
  CHECK(trained.parameters().isZero());

  counting_backend deep(64, 4);
  const auto enc4 = fl::encrypt_dataset(deep, data.train);
  (void)fl::encrypted_gradient(deep, enc4, m.weights(), 0.1, sigma);
  CHECK(deep.operations > 0);

  he::plain_backend small(40, 4);
  CHECK_THROWS_AS(fl::encrypt_dataset(small, data.train), invalid_argument);
  CHECK_THROWS_WITH(fl::encrypt_dataset(small, data.train), Catch::Contains("50 samples exceed") && Catch::Contains("40 slots"));
  CHECK_THROWS_AS(fl::encrypt_dataset(small, data::dataset{}), invalid_argument);

  he::plain_backend b(64, 4);
  const auto enc_b = fl::encrypt_dataset(b, data.train);
  CHECK_THROWS_AS(fl::encrypted_gradient(b, enc_b, Eigen::VectorXd::Zero(3), 0.0, sigma), invalid_argument);
  CHECK_THROWS_AS(fl::decrypt_gradient(b, fl::encrypted_gradient(b, enc_b, m.weights(), 0.0, sigma), 50,
                                       Eigen::VectorXd::Zero(1), 0.0),
                  invalid_argument);
  model::logistic_regression wrong(3);
  CHECK_THROWS_AS(fl::train_encrypted(b, wrong, enc_b, {.epochs = 1, .learning_rate = 1.0, .l2 = 0.05}, sigma), invalid_argument);
}

TEST_CASE("encrypted_gradient under CKKS matches plaintext training", "[fl][encrypted_gradient][ckks]") {
  crypto::seeded_random rng(21);
  he::ckks_backend b(toy_params(), rng);
  REQUIRE(b.max_depth() == 5);  // 4 for the gradient, one spare level keeping 2^60 above the scale
  const auto data = data::paper_random(200, 3, 7);
  const auto sigma = approx::paper_sigmoid3();
  const auto enc = fl::encrypt_dataset(b, data.train);

  const auto m = some_model(3);
  const Eigen::VectorXd got =
      fl::decrypt_gradient(b, fl::encrypted_gradient(b, enc, m.weights(), m.bias(), sigma), enc.samples, m.weights(), 0.05);
  const Eigen::VectorXd want = m.gradient(data.train, 0.05, sigma);
  CHECK((got - want).cwiseAbs().maxCoeff() < 1e-4);

  model::logistic_regression enc_model(3), plain_model(3);
  fl::train_encrypted(b, enc_model, enc, {.epochs = 5, .learning_rate = 1.0, .l2 = 0.05}, sigma);
  plain_model.train(data.train, model::train_options{.epochs = 5, .learning_rate = 1.0, .l2 = 0.05}, sigma);
  CHECK((enc_model.parameters() - plain_model.parameters()).cwiseAbs().maxCoeff() < 1e-3);
  CHECK(enc_model.accuracy(data.test) >= 0.95);

  // 1025 samples do not fit 1024 slots.
  CHECK_THROWS_AS(fl::encrypt_dataset(b, data::paper_random(1025, 3, 8).train), invalid_argument);
}

TEST_CASE("the packed gradient puts every sum in a block of its own and matches encrypted_gradient", "[fl][encrypted_gradient]") {
  const auto data = data::paper_random(300, 3, 5);
  const auto sigma = approx::paper_sigmoid3();
  he::plain_backend b(2048, 4);
  const auto enc = fl::encrypt_dataset(b, data.train);
  const auto m = some_model(3);
  const std::size_t block = fl::packed_gradient_block(b, enc.samples, enc.features());
  REQUIRE(block == 512);
  const auto sums = fl::encrypted_gradient(b, enc, m.weights(), m.bias(), sigma);
  const auto packed = b.decrypt(fl::encrypted_gradient_packed(b, enc, m.weights(), m.bias(), sigma, block));
  for (std::size_t j = 0; j < sums.size(); ++j) CHECK(std::fabs(packed[j * block] - b.decrypt(sums[j])[0]) < 1e-9);
  CHECK(fl::packed_gradient_block(b, 600, 3) == 0);  // 4 blocks of 1024 do not fit in 2048 slots
  CHECK_THROWS_AS(fl::encrypted_gradient_packed(b, enc, m.weights(), m.bias(), sigma, 256), invalid_argument);
}
