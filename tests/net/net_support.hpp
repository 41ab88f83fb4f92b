// Helpers shared by the transport tests under tests/net: the identity a test certificate carries,
// bounded polling, and reading refusal lists and text payloads.
#pragma once

#include <hefl/net.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace hefl::net::test {

/// The identity of a test certificate: @p r, @p subject, group @p group, rule 70, and for a device
/// an SGTIN-96 EPC with serial @p serial.
inline iot::identity make_identity(iot::role r, const std::string& subject, std::uint64_t serial, std::uint32_t group) {
  iot::identity id;
  id.role = r;
  id.subject_id = subject;
  id.group_id = group;
  id.rule_id = 70;
  if (r == iot::role::device)
    id.device_epc = iot::sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345." + std::to_string(serial), 1);
  return id;
}

/// Polls @p cond every 10 ms for at most @p limit; the last answer of cond.
template <class F>
bool eventually(F cond, std::chrono::milliseconds limit = std::chrono::milliseconds(3000)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

/// Whether some string of @p v contains @p needle.
inline bool any_contains(const std::vector<std::string>& v, const std::string& needle) {
  for (const auto& s : v)
    if (s.find(needle) != std::string::npos) return true;
  return false;
}

/// The payload of @p f as text.
inline std::string text_of(const frame& f) { return std::string(f.payload.begin(), f.payload.end()); }

} // namespace hefl::net::test
