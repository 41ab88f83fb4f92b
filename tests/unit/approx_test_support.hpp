// A plain backend that counts the operations that cost time or levels under CKKS, shared by the
// approximation tests (approx_evaluate_test.cpp, approx_chebyshev_eval_test.cpp).
#pragma once

#include <hefl/he/plain_backend.hpp>

#include <cstddef>
#include <span>
#include <vector>

namespace hefl_test {

// The plain backend, counting ciphertext products, products by constants and by plaintexts.
class counting_backend {
public:
  using ciphertext_type = hefl::he::plain_ciphertext;
  static constexpr bool is_encrypted = false;

  counting_backend(std::size_t slots, int depth) : m_inner(slots, depth) {}

  std::size_t slot_count() const { return m_inner.slot_count(); }
  int max_depth() const { return m_inner.max_depth(); }
  int level(const ciphertext_type& c) const { return m_inner.level(c); }
  ciphertext_type encrypt(std::span<const double> v) { return m_inner.encrypt(v); }
  std::vector<double> decrypt(const ciphertext_type& c) const { return m_inner.decrypt(c); }
  ciphertext_type add(const ciphertext_type& a, const ciphertext_type& b) const { return ++ops, m_inner.add(a, b); }
  void add_inplace(ciphertext_type& a, const ciphertext_type& b) const { ++ops, m_inner.add_inplace(a, b); }
  ciphertext_type sub(const ciphertext_type& a, const ciphertext_type& b) const { return ++ops, m_inner.sub(a, b); }
  ciphertext_type add_plain(const ciphertext_type& a, std::span<const double> v) const {
    return ++ops, m_inner.add_plain(a, v);
  }
  ciphertext_type multiply_plain(const ciphertext_type& a, std::span<const double> v) const {
    return ++ops, ++plain_multiplies, m_inner.multiply_plain(a, v);
  }
  ciphertext_type multiply_scalar(const ciphertext_type& a, double s) const {
    return ++ops, ++scalar_multiplies, m_inner.multiply_scalar(a, s);
  }
  ciphertext_type multiply(const ciphertext_type& a, const ciphertext_type& b) const {
    return ++ops, ++multiplies, m_inner.multiply(a, b);
  }
  ciphertext_type rotate(const ciphertext_type& a, int steps) const { return ++ops, m_inner.rotate(a, steps); }
  ciphertext_type sum_slots(const ciphertext_type& a) const { return ++ops, m_inner.sum_slots(a); }
  std::vector<std::uint8_t> serialize(const ciphertext_type& c) const { return m_inner.serialize(c); }
  ciphertext_type deserialize(std::span<const std::uint8_t> b) const { return m_inner.deserialize(b); }

  mutable int ops = 0, multiplies = 0, scalar_multiplies = 0, plain_multiplies = 0;

private:
  hefl::he::plain_backend m_inner;
};

} // namespace hefl_test
