#pragma once
/// @file
/// Frames of hefl's mutual-TLS transport: a 9-byte header (payload length as a 4-byte big-endian
/// integer, a type byte, a 4-byte big-endian request id) followed by the payload. Type 0xFF is
/// reserved for typed error replies, whose payload is one error_code byte and a UTF-8 message.

#include <hefl/core/error.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hefl::net {

/// One application message.
struct frame {
  std::uint8_t type = 0;               ///< 0x00..0xFE for the application; 0xFF is error_frame_type
  std::vector<std::uint8_t> payload;

  friend bool operator==(const frame&, const frame&) = default;
};

/// The reserved type byte of a typed error reply.
inline constexpr std::uint8_t error_frame_type = 0xFF;
/// Bytes in a frame header.
inline constexpr std::size_t frame_header_size = 9;

/// Why the other side refused a request or closed the connection.
enum class error_code : std::uint8_t {
  frame_too_large = 1,  ///< the announced payload exceeds the receiver's max_frame_size; the connection is closed
  busy = 2,             ///< the peer already has max_in_flight_per_peer requests running
  handler_failed = 3,   ///< the server's handler threw
  shutting_down = 4,    ///< the server is draining and accepts no new requests
  malformed = 5,        ///< the frame used the reserved type or could not be read
  idle_timeout = 6,     ///< no complete frame within the idle or read deadline; the connection is closed
};

/// Lower-case name of an error code; "unknown" outside the enum.
[[nodiscard]] constexpr std::string_view to_string(error_code c) noexcept {
  switch (c) {
    case error_code::frame_too_large: return "frame_too_large";
    case error_code::busy: return "busy";
    case error_code::handler_failed: return "handler_failed";
    case error_code::shutting_down: return "shutting_down";
    case error_code::malformed: return "malformed";
    case error_code::idle_timeout: return "idle_timeout";
  }
  return "unknown";
}

/// A typed error reply received from the peer.
class remote_error : public error {
public:
  remote_error(error_code code, const std::string& message)
      : error("peer refused (" + std::string(to_string(code)) + "): " + message), m_code(code) {}
  /// The typed reason.
  [[nodiscard]] error_code code() const noexcept { return m_code; }

private:
  error_code m_code;
};

/// A deadline (connect, handshake, request) passed.
class timeout_error : public io_error {
public:
  using io_error::io_error;
};

/// Builds a typed error reply.
[[nodiscard]] inline frame make_error_frame(error_code code, std::string_view message) {
  frame f{error_frame_type, {}};
  f.payload.reserve(1 + message.size());
  f.payload.push_back(static_cast<std::uint8_t>(code));
  f.payload.insert(f.payload.end(), message.begin(), message.end());
  return f;
}

/// Reads a typed error reply.
/// @throws hefl::parse_error if @p f is not an error frame or has no code byte.
[[nodiscard]] inline remote_error read_error_frame(const frame& f) {
  if (f.type != error_frame_type || f.payload.empty())
    throw parse_error("error frame: expected type 0xFF with a code byte, got type " + std::to_string(f.type) +
                      " and " + std::to_string(f.payload.size()) + " payload bytes");
  return remote_error(static_cast<error_code>(f.payload[0]),
                      std::string(f.payload.begin() + 1, f.payload.end()));
}

/// Header + payload of @p f for request @p id.
/// @throws hefl::invalid_argument if the payload does not fit a 32-bit length.
[[nodiscard]] inline std::vector<std::uint8_t> encode_frame(const frame& f, std::uint32_t id) {
  if (f.payload.size() > 0xFFFFFFFFull) throw invalid_argument("frame payload: longer than 2^32 - 1 bytes");
  const auto n = static_cast<std::uint32_t>(f.payload.size());
  std::vector<std::uint8_t> out{static_cast<std::uint8_t>(n >> 24), static_cast<std::uint8_t>(n >> 16),
                                static_cast<std::uint8_t>(n >> 8),  static_cast<std::uint8_t>(n),
                                f.type,
                                static_cast<std::uint8_t>(id >> 24), static_cast<std::uint8_t>(id >> 16),
                                static_cast<std::uint8_t>(id >> 8),  static_cast<std::uint8_t>(id)};
  out.insert(out.end(), f.payload.begin(), f.payload.end());
  return out;
}

/// A parsed frame header.
struct frame_header {
  std::uint32_t length = 0;
  std::uint8_t type = 0;
  std::uint32_t id = 0;
};

/// Reads the header at the start of @p bytes (which must hold at least frame_header_size bytes).
[[nodiscard]] inline frame_header decode_header(std::span<const std::uint8_t> bytes) noexcept {
  const auto be32 = [&](std::size_t at) {
    return (std::uint32_t{bytes[at]} << 24) | (std::uint32_t{bytes[at + 1]} << 16) |
           (std::uint32_t{bytes[at + 2]} << 8) | std::uint32_t{bytes[at + 3]};
  };
  return {be32(0), bytes[4], be32(5)};
}

} // namespace hefl::net
