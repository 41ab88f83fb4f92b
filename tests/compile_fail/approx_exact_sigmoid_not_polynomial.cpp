// expect: exact_sigmoid is for plaintext training; use e\.g\. approx::fit_chebyshev
// The exact sigmoid cannot be evaluated on ciphertexts; the policy check says so in one sentence.
#include <hefl/approx/sigmoid.hpp>

static_assert(hefl::approx::check_polynomial_sigmoid_policy<hefl::approx::exact_sigmoid>());

int main() {}
