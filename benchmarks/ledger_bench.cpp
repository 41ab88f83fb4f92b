// Ledger costs: building and submitting transactions (append rate, each entry signed by its
// author), sealing one block, a replica accepting one block (every author signature checked),
// verifying a 1000-block chain, Merkle roots and proofs, and the SQLite store (with its checkpoint).
#include <hefl/iot/ledger/ledger_store.hpp>

#include <benchmark/benchmark.h>

#include <botan/hex.h>
#include <botan/system_rng.h>

#include <filesystem>
#include <string>
#include <vector>

namespace {

using namespace hefl::iot;

ledger_time at_ms(std::int64_t ms) { return ledger_time(std::chrono::milliseconds(ms)); }

transaction check_tx(std::int64_t i) {
  const std::array<std::uint8_t, 8> payload{static_cast<std::uint8_t>(i), static_cast<std::uint8_t>(i >> 8),
                                            static_cast<std::uint8_t>(i >> 16), static_cast<std::uint8_t>(i >> 24),
                                            static_cast<std::uint8_t>(i >> 32), 1, 2, 3};
  return transaction::rule_check("urn:epc:id:sgtin:0614141.812345." + std::to_string(i % 50), "group-7", "accepted",
                                 payload, at_ms(1'700'000'000'000 + i));
}

std::vector<transaction> make_txs(std::int64_t first, std::int64_t n) {
  std::vector<transaction> out;
  out.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) out.push_back(check_tx(first + i));
  return out;
}

ledger_config bench_config(std::size_t per_block) {
  ledger_config c;
  c.max_block_transactions = per_block;
  c.max_block_delay = std::chrono::hours(1);
  c.max_pending = 1'000'000;
  return c;
}

// One sealer and a chain of `blocks` blocks of `per_block` rule checks, built once per shape.
struct chain_env {
  sealer_key key = sealer_key::generate("collector-1", Botan::system_rng());
  block genesis = make_genesis({key.identity()}, "bench", at_ms(1'700'000'000'000));
  std::vector<block> chain;

  chain_env(std::int64_t blocks, std::size_t per_block) {
    ledger l(genesis, bench_config(per_block), key);
    for (const auto& tx : make_txs(0, blocks * static_cast<std::int64_t>(per_block))) l.submit(tx);
    chain = l.blocks();
  }
};

const chain_env& env_1000x10() {
  static const chain_env env(1000, 10);
  return env;
}

void bm_build_transaction(benchmark::State& state) {
  std::int64_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(check_tx(i++));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_build_transaction);

// Append rate: submit() of ready transactions, including the block sealed every `range(0)` of them.
void bm_submit(benchmark::State& state) {
  const auto per_block = static_cast<std::size_t>(state.range(0));
  local_ledger l(bench_config(per_block));
  static const auto txs = make_txs(0, 300'000);
  std::size_t next = 0;
  for (auto _ : state) {
    if (next == txs.size()) {
      state.SkipWithError("ran out of prepared transactions");
      break;
    }
    benchmark::DoNotOptimize(l.submit(txs[next++]));
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["blocks"] = static_cast<double>(l.height());
}
// A fixed count: the prepared transactions must not run out on a fast machine.
BENCHMARK(bm_submit)->Arg(10)->Arg(100)->Arg(1000)->Iterations(250000);

// Sealing one block of `range(0)` pending transactions: Merkle root, header hash, Ed25519 signature.
void bm_seal_block(benchmark::State& state) {
  const auto n = state.range(0);
  local_ledger l(bench_config(static_cast<std::size_t>(n) + 1));
  std::int64_t next = 0;
  for (auto _ : state) {
    state.PauseTiming();
    for (const auto& tx : make_txs(next, n)) l.submit(tx);
    next += n;
    state.ResumeTiming();
    benchmark::DoNotOptimize(l.flush());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_seal_block)->Arg(10)->Arg(100)->Arg(1000);

// A replica checking and appending one peer block of 10 transactions (signature, Merkle root, links).
void bm_accept_block(benchmark::State& state) {
  const auto& env = env_1000x10();
  auto replica = std::make_unique<ledger>(env.genesis, bench_config(10));
  std::size_t next = 1;
  for (auto _ : state) {
    if (next == env.chain.size()) {
      state.PauseTiming();
      replica = std::make_unique<ledger>(env.genesis, bench_config(10));
      next = 1;
      state.ResumeTiming();
    }
    if (!replica->accept_block(env.chain[next++])) state.SkipWithError("block refused");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_accept_block);

// verify() over 1000 blocks of 10 transactions; items are blocks.
void bm_verify_chain(benchmark::State& state) {
  const auto& env = env_1000x10();
  const ledger l(env.genesis, bench_config(10));
  for (auto _ : state) {
    const auto r = l.verify_chain(env.chain);
    if (!r.ok()) state.SkipWithError("chain did not verify");
    benchmark::DoNotOptimize(r.blocks_checked);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(env.chain.size()));
}
BENCHMARK(bm_verify_chain)->Unit(benchmark::kMillisecond);

void bm_merkle_root(benchmark::State& state) {
  std::vector<sha256_digest> leaves;
  for (const auto& tx : make_txs(0, state.range(0))) leaves.push_back(merkle_tree::leaf_hash(tx.id()));
  for (auto _ : state) benchmark::DoNotOptimize(merkle_tree(leaves).root());
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(bm_merkle_root)->Arg(100)->Arg(1000);

void bm_merkle_verify_proof(benchmark::State& state) {
  std::vector<sha256_digest> leaves;
  for (const auto& tx : make_txs(0, state.range(0))) leaves.push_back(merkle_tree::leaf_hash(tx.id()));
  const merkle_tree tree(leaves);
  const auto proof = tree.proof(leaves.size() / 3);
  const auto root = tree.root();
  for (auto _ : state) benchmark::DoNotOptimize(merkle_tree::verify_proof(leaves[leaves.size() / 3], proof, root));
}
BENCHMARK(bm_merkle_verify_proof)->Arg(1000);

std::string temp_path() {
  std::vector<std::uint8_t> r(8);
  Botan::system_rng().randomize(r.data(), r.size());
  return (std::filesystem::temp_directory_path() / ("hefl_ledger_bench_" + Botan::hex_encode(r, false) + ".db"))
      .string();
}

void remove_db(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove(path, ec);
  std::filesystem::remove(path + "-journal", ec);
}

// Saving 100 blocks of 10 transactions to a new SQLite file in one durable transaction.
void bm_store_save(benchmark::State& state) {
  const auto& env = env_1000x10();
  ledger l(env.genesis, bench_config(10), env.key);  // the key signs the head checkpoint
  l.restore({env.chain.begin(), env.chain.begin() + 101});
  for (auto _ : state) {
    const auto path = temp_path();
    {
      hefl::iot::ledger_store store(path);
      benchmark::DoNotOptimize(store.save(l));
    }
    state.PauseTiming();
    remove_db(path);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * 100);
}
BENCHMARK(bm_store_save)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();  // fsync dominates

// Reloading 1000 blocks of 10 transactions from SQLite with full verification.
void bm_store_load(benchmark::State& state) {
  const auto& env = env_1000x10();
  ledger l(env.genesis, bench_config(10), env.key);
  l.restore(env.chain);
  const auto path = temp_path();
  hefl::iot::ledger_store(path).save(l);
  for (auto _ : state) {
    ledger fresh(env.genesis, bench_config(10));
    hefl::iot::ledger_store(path).load_into(fresh);
    benchmark::DoNotOptimize(fresh.height());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(env.chain.size()));
  remove_db(path);
}
BENCHMARK(bm_store_load)->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
