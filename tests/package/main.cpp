// A consumer of the installed (or add_subdirectory'd) hefl: encrypts two updates with the plain
// backend and averages them, the smallest thing that proves headers, include paths and Eigen work.
#include <hefl/he/plain_backend.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
  hefl::he::plain_backend backend(8, 2);
  const std::vector<double> a{1.0, 2.0}, b{3.0, 6.0};
  auto sum = backend.add(backend.encrypt(a), backend.encrypt(b));
  const auto mean = backend.decrypt(backend.multiply_scalar(sum, 0.5));
  const bool ok = std::abs(mean[0] - 2.0) < 1e-12 && std::abs(mean[1] - 4.0) < 1e-12;
  std::printf("hefl consumer: mean = (%g, %g) %s\n", mean[0], mean[1], ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
