// Ledger conformance (issue 14): one set of checks that the built-in PoA ledger (local_ledger) and
// iot::ethereum_ledger (AuditLog on a ganache this test starts) both pass: submit, wait for inclusion,
// read the entries back from the ledger itself in submission order, verify the whole ledger, refuse a
// forged entry with a typed error, detect a tampered copy, and read everything back after a reload.
// Where the two differ by design the difference is a named capability of the subject, not a skip.
#include <hefl/iot/ledger/ethereum/ethereum_ledger.hpp>
#include <hefl/iot/ledger/ledger.hpp>

#include "eth_support.hpp"

#include <array>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace hefl::iot;
namespace eth = hefl::iot::ethereum;

namespace {


/// The built-in Proof-of-Authority ledger, one sealer, blocks cut on flush().
struct builtin_subject {
  static constexpr const char* name = "built-in PoA ledger";
  /// What a refused forged entry is refused on: the author's Ed25519 signature over the entry.
  static constexpr const char* refusal_basis = "author_signature";
  /// Whether the ledger keeps each whole transaction (the built-in one does; AuditLog keeps its id).
  static constexpr bool stores_whole_entry = true;

  local_ledger l{[] {
    ledger_config c;
    c.max_block_transactions = 1000;
    c.max_block_delay = std::chrono::hours(1);  // blocks are cut by wait_included(), not by time
    return c;
  }()};

  bool available() const { return true; }
  sha256_digest submit(transaction tx) { return l.submit(std::move(tx)); }
  void wait_included() { l.flush(); }
  bool included(const sha256_digest& id) const { return l.contains(id); }

  /// Entry ids in ledger order, read from the sealed blocks (genesis excluded).
  std::vector<sha256_digest> read_back() const { return ids_of(l.blocks()); }
  static std::vector<sha256_digest> ids_of(const std::vector<block>& chain) {
    std::vector<sha256_digest> out;
    for (std::size_t h = 1; h < chain.size(); ++h)
      for (const auto& tx : chain[h].transactions) out.push_back(tx.id());
    return out;
  }
  std::optional<std::string> verify() const {
    const auto r = l.verify();
    return r.ok() ? std::nullopt : std::optional<std::string>(r.message);
  }

  /// A forged entry (signed in this node's name with a wrong signature) must be refused, typed.
  void submit_forged(const transaction& tx) {
    l.submit(tx.with_author(*l.self_id(), std::vector<std::uint8_t>(64, 0x5a)));
  }
  using refused_error = ledger_entry_refused;

  /// A copy of the ledger with one stored entry replaced: its verification must name the fault.
  std::optional<std::string> verify_tampered_copy() const {
    auto chain = l.blocks();
    REQUIRE(chain.size() >= 2);
    const auto& orig = chain[1].transactions.at(0);
    chain[1].transactions[0] = transaction::rule_check("3074257bf7194e4000001a99", "icu", "accepted",
                                                       std::array<std::uint8_t, 32>{0xee}, orig.time());
    const auto r = l.verify_chain(chain);
    return r.ok() ? std::nullopt : std::optional<std::string>(r.message);
  }

  /// A fresh replica restored from the stored blocks reads back the same entries.
  std::vector<sha256_digest> reload_and_read_back() const {
    const auto chain = l.blocks();
    ledger replica(chain.at(0));
    replica.restore(chain);
    return ids_of(replica.blocks());
  }
};

/// iot::ethereum_ledger over AuditLog on a ganache started here (instant mining).
struct ethereum_subject {
  static constexpr const char* name = "ethereum_ledger (AuditLog on ganache)";
  /// ethereum_ledger does not check hefl author signatures; the chain authenticates the writer account.
  static constexpr const char* refusal_basis = "writer_account";
  static constexpr bool stores_whole_entry = false;  // only the SHA-256 id and a summary go on chain

  std::filesystem::path tools = hefl::testing::eth_tools_dir(HEFL_ETH_TOOLS_DEFAULT);
  std::unique_ptr<hefl::testing::ganache_chain> chain;
  const eth::json_rpc_client* rpc = nullptr;
  eth::transaction_sender* sender = nullptr;
  std::unique_ptr<ethereum_ledger> l;
  eth::address contract{};

  ethereum_subject() {
    if (hefl::testing::ganache_cli(tools).empty()) return;
    chain = std::make_unique<hefl::testing::ganache_chain>(tools);
    rpc = &chain->rpc;
    sender = &chain->sender;
    contract = chain->audit_log;
    l = std::make_unique<ethereum_ledger>(*rpc, *sender, contract);
  }

  bool available() const { return chain != nullptr; }
  sha256_digest submit(transaction tx) { return l->submit(std::move(tx)); }
  void wait_included() {}  // submit() returns once the receipt is in (bounded by receipt_timeout)
  bool included(const sha256_digest& id) const {
    for (const auto& h : read_back())
      if (h == id) return true;
    return false;
  }

  /// The records as the chain's Appended events hold them, by index.
  std::map<std::uint64_t, eth::audit_record> records() const {
    eth::log_filter f;
    f.emitter = contract;
    f.topics = {eth::audit_log_abi::appended_topic()};
    std::map<std::uint64_t, eth::audit_record> out;
    for (const auto& lg : rpc->logs(f))
      if (!lg.removed) {
        const auto r = eth::audit_log_abi::decode_appended(lg);
        out.emplace(r.index, r);
      }
    return out;
  }
  std::vector<sha256_digest> read_back() const {
    std::vector<sha256_digest> out;
    for (const auto& [i, r] : records()) {
      sha256_digest d{};
      std::copy(r.entry.request_hash.begin(), r.entry.request_hash.end(), d.begin());
      out.push_back(d);
    }
    return out;
  }
  std::optional<std::string> verify() const { return l->verify_against_chain(); }

  /// A forged entry here is one from an account that is not an AuditLog writer: the append reverts.
  void submit_forged(const transaction& tx) {
    auto outsider = chain->sender_for(hefl::testing::ganache_key1);
    ethereum_ledger foreign(*rpc, outsider, contract);
    foreign.submit(tx);
  }
  using refused_error = ethereum_entry_refused;

  /// A copy of the events with one entry changed no longer chains to the contract's head().
  std::optional<std::string> verify_tampered_copy() const {
    auto recs = records();
    REQUIRE(recs.size() >= 2);
    recs.begin()->second.entry.accepted = !recs.begin()->second.entry.accepted;
    eth::hash32 head{};
    for (const auto& [i, r] : recs) head = eth::audit_log_abi::chain_head(head, r);
    const eth::hash32 sel = eth::keccak256(std::string_view("head()"));
    const eth::bytes on_chain = rpc->eth_call(contract, eth::bytes(sel.begin(), sel.begin() + 4));
    if (on_chain == eth::bytes(head.begin(), head.end())) return std::nullopt;
    return std::string("the recomputed hash chain differs from AuditLog.head()");
  }

  /// A new ethereum_ledger on the same contract (a restarted process) reads back the same entries
  /// and finds the chain consistent with its (empty) local view.
  std::vector<sha256_digest> reload_and_read_back() const {
    ethereum_ledger fresh(*rpc, *sender, contract);
    CHECK(fresh.entries().empty());
    CHECK_FALSE(fresh.verify_against_chain().has_value());
    return read_back();
  }
};

ledger_time at(std::int64_t ms) { return ledger_now() + std::chrono::milliseconds(ms); }

} // namespace

TEMPLATE_TEST_CASE("ledger conformance: both ledgers record, read back, verify and refuse alike",
                   "[eth][ledger][conformance][ganache]", builtin_subject, ethereum_subject) {
  TestType s;
  if (!s.available()) {
    WARN("SKIPPED: " << TestType::name << ": ganache is not installed (scripts/eth/install.sh installs it)");
    return;
  }
  INFO(TestType::name);
  const std::array<std::uint8_t, 32> h{7};
  const std::vector<transaction> txs = {
      transaction::rule_check("3074257bf7194e4000001a85", "icu", "accepted", h, at(0)),
      transaction::rule_check("3074257bf7194e4000001a86", "icu", "out_of_range", h, at(1)),
      transaction::record_stored("rec-1", "patient-7", h, at(2)),
      transaction::access("dr-who", "patient-7", false, at(3)),
      transaction::access("dr-house", "patient-7", true, at(4))};

  // Submit: each returns the entry's id.
  for (const auto& tx : txs) CHECK(s.submit(tx) == tx.id());
  // Wait for inclusion: every entry is then in the ledger.
  s.wait_included();
  for (const auto& tx : txs) CHECK(s.included(tx.id()));
  CHECK_FALSE(s.included(transaction::access("nobody", "patient-0", false, at(9)).id()));

  // Read back from the ledger itself, in submission order.
  const auto back = s.read_back();
  REQUIRE(back.size() == txs.size());
  for (std::size_t i = 0; i < txs.size(); ++i) CHECK(back[i] == txs[i].id());
  CHECK_FALSE(s.verify().has_value());

  // A forged entry is refused with the subject's typed error and changes nothing.
  const auto extra = transaction::rule_check("3074257bf7194e4000001a87", "icu", "accepted", h, at(5));
  INFO("refusal basis: " << TestType::refusal_basis);
  CHECK_THROWS_AS(s.submit_forged(extra), typename TestType::refused_error);
  CHECK(s.read_back().size() == txs.size());
  CHECK_FALSE(s.included(extra.id()));
  CHECK_FALSE(s.verify().has_value());

  // A tampered copy of what the ledger stores fails verification.
  const auto tampered = s.verify_tampered_copy();
  REQUIRE(tampered.has_value());
  CHECK_FALSE(tampered->empty());

  // Ordering continues after more entries.
  CHECK(s.submit(extra) == extra.id());
  s.wait_included();
  const auto back2 = s.read_back();
  REQUIRE(back2.size() == txs.size() + 1);
  CHECK(back2.back() == extra.id());

  // Reload (a new replica / a new client process) reads back the same entries.
  CHECK(s.reload_and_read_back() == back2);
  CHECK_FALSE(s.verify().has_value());
}

TEST_CASE("ledger conformance: the differences are named capabilities", "[eth][ledger][conformance]") {
  STATIC_REQUIRE(ledger_policy<ledger>);
  STATIC_REQUIRE(ledger_policy<ethereum_ledger>);
  CHECK(std::string(builtin_subject::refusal_basis) == "author_signature");
  CHECK(std::string(ethereum_subject::refusal_basis) == "writer_account");
  CHECK(builtin_subject::stores_whole_entry);
  CHECK_FALSE(ethereum_subject::stores_whole_entry);
  // Kinds AuditLog does not record are refused by ethereum_ledger before anything is sent; the
  // built-in ledger records any non-genesis kind.
  const auto note = transaction(tx_kind::custom, {{"type", "note"}}, ledger_now());
  CHECK_THROWS_AS(ethereum_ledger::entry_of(note), ethereum_entry_refused);
  local_ledger l;
  CHECK(l.submit(note) == note.id());
}
