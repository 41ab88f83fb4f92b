// expect: has no member named .*decrypt
// The Paillier server (aggregator) is built from the public key only: its type has no decrypt (nor a
// secret key to use), so an aggregator cannot read the updates it sums.
#include <hefl/he/paillier_backend.hpp>

#include <vector>

void peek(const hefl::he::paillier_server& server, const hefl::he::paillier_ciphertext& c) {
  const std::vector<double> leaked = server.decrypt(c);
  (void)leaked;
}

int main() {}
