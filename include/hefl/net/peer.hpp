#pragma once
/// @file
/// Who is on the other end of a mutual-TLS connection, as the verified certificate says.

#include <hefl/iot/pki/identity.hpp>

#include <botan/x509cert.h>

#include <cstdint>
#include <string>

namespace hefl::net {

/// The identity read from the peer's certificate after iot::validate_chain accepted it during the
/// handshake. Request handlers get it next to each frame; nothing in a payload can change it.
struct peer_identity {
  iot::identity holder;                 ///< role, subject id, device EPC, group and rule ids
  Botan::X509_Certificate certificate;  ///< the verified end-entity certificate

  /// The peer's registry key (for a device, its device id).
  [[nodiscard]] const std::string& device_id() const noexcept { return holder.subject_id; }
  /// The device group whose rule contract applies.
  [[nodiscard]] std::uint32_t group_id() const noexcept { return holder.group_id; }
  /// The peer's role in the hospital.
  [[nodiscard]] iot::role role() const noexcept { return holder.role; }
};

} // namespace hefl::net
