// expect: has no member named .*decrypt
// The server role holds evaluation keys only: its type has no decrypt (nor a secret key to use).
#include <hefl/he/ckks_backend.hpp>

#include <span>
#include <vector>

void peek(const hefl::he::ckks_server& server, const hefl::he::ckks::ciphertext& c) {
  const std::vector<double> leaked = server.decrypt(c);
  (void)leaked;
}

int main() {}
