// libFuzzer harness: certificate chains handed to the validator's certificate policy
// (trust_store_certificates -> validate_chain, hefl/iot/pki/pki.hpp and collector_validator.hpp) and the
// identity extension read from each certificate (identity_of). The input is one or more DER
// certificates back to back; the trust store holds the fixed test CA's root and CRL.
#include "fuzz_support.hpp"

#include <hefl/iot/collection/collector_validator.hpp>

#include <botan/data_src.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& pki = hefl_fuzz::pki();
  hefl::iot::certificate_chain chain;
  // Botan's DER decoder turns the bytes into certificates; its refusals (Botan::Exception) mean the
  // input never reaches hefl, so they are not findings here. At most 4 certificates are read.
  try {
    Botan::DataSource_Memory src(data, size);
    while (!src.end_of_data() && chain.size() < 4) chain.emplace_back(src);
  } catch (const Botan::Exception&) {
    if (chain.empty()) return 0;
  }
  if (chain.empty()) return 0;
  for (const auto& cert : chain) (void)hefl::iot::identity_of(cert);  // noexcept: a throw terminates
  const hefl::iot::trust_store_certificates policy(pki.store);
  const auto verdict = policy.validate(chain, hefl_fuzz::validation_time());  // noexcept
  if (verdict.ok() && !verdict.holder) hefl_fuzz::finding("an accepted chain has no holder identity");
  return 0;
}
