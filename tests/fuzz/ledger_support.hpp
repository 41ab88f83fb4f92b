#pragma once
// The fixed two-sealer chain the ledger harness reloads against, shared with make_corpus.cpp, and the
// text form of SQLite rows the harness writes: one row per line, fields separated by tabs,
//   B <height> <previous> <merkle_root> <time> <sealer> <signature>   (table ledger_blocks)
//   T <height> <idx> <body>                                            (table ledger_transactions)
#include <hefl/iot/ledger/ledger.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace hefl_fuzz {

inline hefl::iot::ledger_time ledger_ms(std::int64_t ms) { return hefl::iot::ledger_time(std::chrono::milliseconds(ms)); }

struct ledger_fixture {
  hefl::iot::sealer_key a = hefl::iot::sealer_key::from_seed("collector", std::vector<std::uint8_t>(32, 1));
  hefl::iot::sealer_key b = hefl::iot::sealer_key::from_seed("storage", std::vector<std::uint8_t>(32, 2));
  hefl::iot::block genesis = hefl::iot::make_genesis({a.identity(), b.identity()}, "fuzz-chain", ledger_ms(1'000'000));
  hefl::iot::ledger_config cfg = [] {
    hefl::iot::ledger_config c;
    c.max_block_transactions = 2;
    c.clock = [] { return ledger_ms(2'000'000); };
    return c;
  }();
};

inline std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i)
    if (i == s.size() || s[i] == sep) {
      out.emplace_back(s.substr(start, i - start));
      start = i + 1;
    }
  return out;
}

} // namespace hefl_fuzz
