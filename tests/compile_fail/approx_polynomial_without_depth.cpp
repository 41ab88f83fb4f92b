// expect: the polynomial sigmoid has no .depth\(\) const., so its levels cannot be planned
// A home-made polynomial sigmoid that forgets to say how many levels it needs is refused by name.
#include <hefl/approx/sigmoid.hpp>

#include <cstddef>
#include <string>
#include <vector>

struct cubic_without_depth {
  static constexpr bool is_polynomial = true;
  double operator()(double x) const { return 0.5 + 0.197 * x - 0.004 * x * x * x; }
  std::string name() const { return "cubic"; }
  std::size_t degree() const { return 3; }
  std::vector<double> coefficients() const { return {0.5, 0.197, 0.0, -0.004}; }
  double lo() const { return -5.0; }
  double hi() const { return 5.0; }
};

static_assert(hefl::approx::check_polynomial_sigmoid_policy<cubic_without_depth>());

int main() {}
