// libFuzzer harness: what the hospital services read from a peer (hefl/services/wire.hpp,
// hefl/net/frame.hpp). The input is one frame as it arrives on the connection: the 9-byte header
// (decode_header) and the payload. The frame type picks the decoder the receiving side uses:
//   store (0x02): record_from_json(read_json(f))            (storage_service)
//   accepted (0x81): read_accepted(f)                       (device_client)
//   refused (0x82): read_refusal(f)                         (every client)
//   records (0x83): read_records_page(f)                    (reader_client)
//   0xFF: read_error_frame(f)                               (net::tls_client)
//   any other type: read_json(f)
// Properties: the header and payload re-encode to the input (encode_frame); an accepted record
// survives record_to_json/record_from_json unchanged; an error frame rebuilds to itself
// (make_error_frame). Every refusal is a hefl::error.
#include "fuzz_support.hpp"

#include <hefl/net/frame.hpp>
#include <hefl/services/wire.hpp>

namespace {

void check_record(const hefl::iot::record& r) {
  if (hefl::services::record_from_json(hefl::services::record_to_json(r)) != r)
    hefl_fuzz::finding("record_from_json accepted a record that record_to_json does not carry unchanged");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace net = hefl::net;
  namespace msg = hefl::services::msg;
  const std::span<const std::uint8_t> in(data, size);
  if (in.size() < net::frame_header_size) return 0;
  const auto h = net::decode_header(in);
  // The connection reads exactly h.length payload bytes; a shorter input is a frame still arriving.
  if (h.length > in.size() - net::frame_header_size) return 0;
  const auto payload = in.subspan(net::frame_header_size, h.length);
  const net::frame f{h.type, std::vector<std::uint8_t>(payload.begin(), payload.end())};
  const auto again = net::encode_frame(f, h.id);
  if (!std::equal(again.begin(), again.end(), in.begin(), in.begin() + static_cast<std::ptrdiff_t>(again.size())))
    hefl_fuzz::finding("encode_frame does not rebuild the frame decode_header read");
  try {
    switch (f.type) {
      case msg::store: check_record(hefl::services::record_from_json(hefl::services::read_json(f))); break;
      case msg::accepted: (void)hefl::services::read_accepted(f); break;
      case msg::refused: (void)hefl::services::read_refusal(f); break;
      case msg::records:
        for (const auto& r : hefl::services::read_records_page(f).records) check_record(r);
        break;
      case net::error_frame_type: {
        const auto e = net::read_error_frame(f);
        const std::string_view what = e.what();
        const auto message = f.payload.size() > 1 ? std::string(f.payload.begin() + 1, f.payload.end()) : std::string();
        if (net::make_error_frame(static_cast<net::error_code>(f.payload[0]), message) != f ||
            what.find(net::to_string(e.code())) == std::string_view::npos)
          hefl_fuzz::finding("read_error_frame lost the code or the message");
        break;
      }
      default: (void)hefl::services::read_json(f); break;
    }
  } catch (const hefl::error&) {
  }
  return 0;
}
