// libFuzzer harness: ledger blocks and signed entries as JSON on the wire (block_from_json,
// entry_from_json, hefl/iot/ledger/block_wire.hpp), as a replica reads them from a peer
// (hefl/services/ledger_replica_service.hpp: read_json, then the block or entry decoder, then the
// ledger's own verdict).
// First byte even: the rest is a frame payload holding one block; odd: one signed entry.
// Properties: an accepted block or entry re-encodes to the same JSON value (block_to_json,
// entry_to_json); a block is then handed to accept_block of a fresh replica of the fixed two-sealer
// chain (ledger_support.hpp) and, if accepted, is its block 1; a signed entry is submitted to a fresh
// replica, which checks its author's signature. Every refusal is a hefl::error or a failed check.
#include "fuzz_support.hpp"
#include "ledger_support.hpp"

#include <hefl/iot/ledger/block_wire.hpp>
#include <hefl/services/wire.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const hefl_fuzz::ledger_fixture fixture;
  const hefl::net::frame f{0x10, std::vector<std::uint8_t>(data + 1, data + size)};
  try {
    const auto j = hefl::services::read_json(f);
    if (data[0] % 2 == 0) {
      const auto b = hefl::iot::block_from_json(j);
      if (hefl::iot::block_to_json(b) != j) hefl_fuzz::finding("block_from_json accepted JSON that does not re-encode to itself");
      hefl::iot::ledger replica(fixture.genesis, fixture.cfg);
      if (const auto check = replica.accept_block(b)) {
        if (replica.height() != 1 || replica.block_at(1).hash() != b.hash())
          hefl_fuzz::finding("accept_block passed a block that is not the replica's block 1");
      } else if (replica.height() != 0) {
        hefl_fuzz::finding("accept_block refused a block and still grew the chain");
      }
    } else {
      auto tx = hefl::iot::entry_from_json(j);
      if (hefl::iot::entry_to_json(tx) != j) hefl_fuzz::finding("entry_from_json accepted JSON that does not re-encode to itself");
      if (tx.is_signed()) {
        hefl::iot::ledger replica(fixture.genesis, fixture.cfg);
        (void)replica.submit(std::move(tx));
        if (replica.pending_count() != 1) hefl_fuzz::finding("a submitted signed entry is not pending");
      }
    }
  } catch (const hefl::error&) {
  }
  return 0;
}
