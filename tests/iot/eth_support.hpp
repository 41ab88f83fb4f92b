// Shared by the tests/iot/eth_*_test.cpp files: where the Ethereum tools are, and the one-line skip
// when ganache is not installed. The chain itself is hefl::testing::ganache_chain (ganache.hpp).
#pragma once

#include <hefl/testing/ganache.hpp>

#include <catch2/catch.hpp>

#include <filesystem>

#ifndef HEFL_ETH_TOOLS_DEFAULT
#define HEFL_ETH_TOOLS_DEFAULT ".eth-tools"
#endif

/// Declares `const std::filesystem::path tools` (where scripts/eth/install.sh put ganache) and ends the
/// test with a warning when ganache is not there.
#define HEFL_GANACHE_OR_SKIP(tools)                                                                           \
  const std::filesystem::path tools = hefl::testing::eth_tools_dir(HEFL_ETH_TOOLS_DEFAULT);                   \
  if (hefl::testing::ganache_cli(tools).empty()) {                                                            \
    WARN("SKIPPED: ganache is not installed under " << tools << " (scripts/eth/install.sh installs it)");     \
    return;                                                                                                   \
  }
