// expect: ReplayPolicy must provide check\(device_id, nonce, timestamp, now\) -> replay_verdict
// A collector_validator whose replay policy has no check() must be refused at compile time with a
// sentence naming the missing member, not a template dump (needs hefl::iot: Botan 2, nlohmann-json).
#include <hefl/iot/collection/collector_validator.hpp>

#include <chrono>
#include <string_view>

namespace {

// Remembers nonces, but answers with a bool instead of a replay_verdict and takes no "now".
struct nonce_set {
  bool seen(std::string_view, std::chrono::system_clock::time_point) { return false; }
};

} // namespace

int main() {
  using namespace hefl::iot;
  using validator = collector_validator<trust_store_certificates, ecdsa_p256_signing, rule_manager<>, nonce_set>;
  return sizeof(validator) > 0 ? 0 : 1;
}
