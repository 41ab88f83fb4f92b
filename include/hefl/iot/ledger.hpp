#pragma once
/// @file
/// An in-process, append-only, tamper-evident ledger sealed by Proof-of-Authority.
///
/// Seed 003 logs every rule check on an Ethereum Proof-of-Authority (Clique) chain whose sealers are
/// the collector and the storage node. hefl keeps what that log guarantees without Ethereum:
/// transactions (rule deployments, rule checks, stored records, accesses) are hashed into blocks
/// with a Merkle root (RFC 6962 style, see merkle.hpp), blocks are hash-chained, and each block is
/// signed with Ed25519 by the sealer whose turn it is (round-robin by height, as in Clique, EIP-225).
/// The sealer set is fixed in the genesis block, which every replica pins.
/// Needs Botan 2 and nlohmann-json (target hefl::iot).

#include <hefl/core/error.hpp>
#include <hefl/core/serialization.hpp>
#include <hefl/iot/merkle.hpp>

#include <botan/ed25519.h>
#include <botan/hex.h>
#include <botan/pubkey.h>
#include <botan/rng.h>
#include <botan/system_rng.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hefl::iot {

/// Wall-clock time with millisecond resolution, as logged in transactions and block headers.
using ledger_time = std::chrono::sys_time<std::chrono::milliseconds>;

/// The current system time, truncated to milliseconds.
/// @throws nothing
[[nodiscard]] inline ledger_time ledger_now() noexcept {
  return std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

/// What a transaction records. New kinds are appended at the end so stored names stay valid.
enum class tx_kind : std::uint8_t {
  genesis,          ///< the sealer set, only in block 0
  rule_deployment,  ///< an admin installed or changed a rule contract
  rule_check,       ///< a collector checked a device's payload against its group's contract
  record_stored,    ///< the storage node stored a signed record
  access,           ///< someone read (or was refused) a patient's records
  registration,     ///< a patient, device or staff member was registered
  revocation,       ///< a certificate was revoked
  custom,           ///< anything else; put a "type" field in it
};

namespace ledger_detail {
inline constexpr std::array<std::string_view, 8> tx_kind_names{
    "genesis", "rule_deployment", "rule_check", "record_stored", "access", "registration", "revocation", "custom"};
} // namespace ledger_detail

/// The name a kind has in canonical JSON.
/// @throws nothing
[[nodiscard]] inline std::string_view to_string(tx_kind kind) noexcept {
  const auto i = static_cast<std::size_t>(kind);
  return i < ledger_detail::tx_kind_names.size() ? ledger_detail::tx_kind_names[i] : std::string_view("unknown");
}

/// Parses a kind name; std::nullopt for an unknown name.
/// @throws nothing
[[nodiscard]] inline std::optional<tx_kind> tx_kind_from_string(std::string_view name) noexcept {
  for (std::size_t i = 0; i < ledger_detail::tx_kind_names.size(); ++i)
    if (ledger_detail::tx_kind_names[i] == name) return static_cast<tx_kind>(i);
  return std::nullopt;
}

/// One ledger entry: a kind, typed fields and a time, immutable once built.
///
/// Its canonical form is compact JSON with sorted keys, `{"fields":{...},"kind":"...","time":ms}`,
/// and its id is SHA-256 of those bytes. Fields may hold strings, integers, booleans, null, arrays
/// and objects; floating-point numbers are refused because their text form is not canonical.
class transaction {
public:
  /// Largest canonical form accepted, in bytes.
  static constexpr std::size_t max_bytes = 64 * 1024;
  /// Deepest nesting of arrays/objects accepted inside the fields.
  static constexpr int max_depth = 8;

  /// Builds a transaction from its parts.
  /// @throws hefl::invalid_argument if fields is not an object, holds a float, nests deeper than
  ///         max_depth, holds invalid UTF-8, the time is before 1970, or the canonical form exceeds max_bytes
  transaction(tx_kind kind, nlohmann::json fields, ledger_time time) : m_kind(kind), m_time(time) {
    if (static_cast<std::size_t>(kind) >= ledger_detail::tx_kind_names.size())
      throw invalid_argument("transaction: unknown kind " + std::to_string(static_cast<int>(kind)));
    if (!fields.is_object())
      throw invalid_argument(std::string("transaction: fields must be a JSON object, got ") + fields.type_name());
    check_value(fields, 0);
    if (time.time_since_epoch().count() < 0)
      throw invalid_argument("transaction: time " + std::to_string(time.time_since_epoch().count()) +
                             " ms is before 1970");
    nlohmann::json doc = nlohmann::json::object();
    doc["fields"] = std::move(fields);
    doc["kind"] = std::string(to_string(kind));
    doc["time"] = time.time_since_epoch().count();
    try {
      m_canonical = doc.dump();
    } catch (const nlohmann::json::exception& e) {
      throw invalid_argument(std::string("transaction: fields cannot be serialized: ") + e.what());
    }
    if (m_canonical.size() > max_bytes)
      throw invalid_argument("transaction: canonical form is " + std::to_string(m_canonical.size()) +
                             " bytes, at most " + std::to_string(max_bytes) + " allowed");
    m_fields = std::move(doc["fields"]);
    m_id = ledger_detail::sha256_parts({std::span(reinterpret_cast<const std::uint8_t*>(m_canonical.data()),
                                                  m_canonical.size())});
  }

  /// Parses untrusted canonical bytes (e.g. a database row) back into a transaction.
  /// @throws hefl::parse_error if the text is too large, not JSON, nested too deeply, not of the
  ///         transaction shape, or not byte-for-byte canonical (so each transaction has one id)
  [[nodiscard]] static transaction parse(std::string_view canonical) {
    if (canonical.size() > max_bytes)
      throw parse_error("transaction: " + std::to_string(canonical.size()) + " bytes, at most " +
                        std::to_string(max_bytes) + " allowed");
    nlohmann::json doc;
    try {
      // Depth is bounded while parsing, before anything recursive (dump, validation) sees the value.
      doc = nlohmann::json::parse(canonical.begin(), canonical.end(),
                                  [](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
                                    if (depth > max_depth + 1)
                                      throw parse_error("transaction: nesting deeper than " +
                                                        std::to_string(max_depth) + " levels");
                                    return true;
                                  });
    } catch (const nlohmann::json::exception& e) {
      throw parse_error(std::string("transaction: not JSON: ") + e.what());
    }
    if (!doc.is_object() || doc.size() != 3 || !doc.contains("fields") || !doc.contains("kind") ||
        !doc.contains("time"))
      throw parse_error("transaction: expected an object with exactly fields, kind and time");
    const auto& kind_name = doc["kind"];
    if (!kind_name.is_string()) throw parse_error("transaction: kind must be a string");
    const auto kind = tx_kind_from_string(kind_name.get_ref<const std::string&>());
    if (!kind) throw parse_error("transaction: unknown kind '" + kind_name.get<std::string>() + "'");
    const auto& t = doc["time"];
    if (!t.is_number_integer()) throw parse_error("transaction: time must be an integer");
    const auto ms = t.is_number_unsigned() ? static_cast<std::int64_t>(std::min<std::uint64_t>(
                                                 t.get<std::uint64_t>(), std::uint64_t{INT64_MAX}))
                                           : t.get<std::int64_t>();
    try {
      transaction tx(*kind, std::move(doc["fields"]), ledger_time(std::chrono::milliseconds(ms)));
      if (tx.canonical() != canonical)
        throw parse_error("transaction: not in canonical form (sorted keys, no spaces), id would be ambiguous");
      return tx;
    } catch (const invalid_argument& e) {
      throw parse_error(e.what());
    }
  }

  /// A collector's rule check: which device of which group sent what, and the verdict.
  /// @throws hefl::invalid_argument if payload_hash is empty or longer than 64 bytes, or an id is invalid UTF-8
  [[nodiscard]] static transaction rule_check(std::string_view device_id, std::string_view group_id,
                                              std::string_view verdict, std::span<const std::uint8_t> payload_hash,
                                              ledger_time time) {
    return transaction(tx_kind::rule_check,
                       {{"device", device_id},
                        {"group", group_id},
                        {"verdict", verdict},
                        {"payload_hash", hash_hex(payload_hash, "payload_hash")}},
                       time);
  }

  /// The storage node stored record @p record_id of @p patient_id whose content hashes to @p record_hash.
  /// @throws hefl::invalid_argument if record_hash is empty or longer than 64 bytes, or an id is invalid UTF-8
  [[nodiscard]] static transaction record_stored(std::string_view record_id, std::string_view patient_id,
                                                 std::span<const std::uint8_t> record_hash, ledger_time time) {
    return transaction(tx_kind::record_stored,
                       {{"record", record_id}, {"patient", patient_id}, {"hash", hash_hex(record_hash, "record_hash")}},
                       time);
  }

  /// An admin (@p signer) deployed version @p version of the contract of @p group_id.
  /// @throws hefl::invalid_argument if contract_hash is empty or longer than 64 bytes, or an id is invalid UTF-8
  [[nodiscard]] static transaction rule_deployment(std::string_view group_id, std::uint64_t version,
                                                   std::span<const std::uint8_t> contract_hash,
                                                   std::string_view signer, ledger_time time) {
    return transaction(tx_kind::rule_deployment,
                       {{"group", group_id},
                        {"version", version},
                        {"contract_hash", hash_hex(contract_hash, "contract_hash")},
                        {"signer", signer}},
                       time);
  }

  /// @p reader asked for the records of @p patient_id and was allowed or refused.
  /// @throws hefl::invalid_argument if an id is invalid UTF-8
  [[nodiscard]] static transaction access(std::string_view reader, std::string_view patient_id, bool allowed,
                                          ledger_time time) {
    return transaction(tx_kind::access, {{"reader", reader}, {"patient", patient_id}, {"allowed", allowed}}, time);
  }

  /// What this transaction records.
  [[nodiscard]] tx_kind kind() const noexcept { return m_kind; }
  /// Its fields (a JSON object).
  [[nodiscard]] const nlohmann::json& fields() const noexcept { return m_fields; }
  /// When it happened, as given by its author.
  [[nodiscard]] ledger_time time() const noexcept { return m_time; }
  /// The canonical JSON text that the id hashes.
  [[nodiscard]] const std::string& canonical() const noexcept { return m_canonical; }
  /// SHA-256 of canonical().
  [[nodiscard]] const sha256_digest& id() const noexcept { return m_id; }
  /// The value of string field @p key, or an empty view when absent or not a string.
  [[nodiscard]] std::string_view field_string(std::string_view key) const noexcept {
    const auto it = m_fields.find(key);
    return it != m_fields.end() && it->is_string() ? std::string_view(it->get_ref<const std::string&>())
                                                   : std::string_view();
  }

  /// Two transactions are equal when their canonical forms are.
  [[nodiscard]] bool operator==(const transaction& other) const noexcept { return m_canonical == other.m_canonical; }

private:
  static void check_value(const nlohmann::json& v, int depth) {
    if (depth > max_depth)
      throw invalid_argument("transaction: fields nest deeper than " + std::to_string(max_depth) + " levels");
    if (v.is_number_float()) throw invalid_argument("transaction: floating-point fields have no canonical form");
    if (v.is_binary()) throw invalid_argument("transaction: binary fields are not JSON; hex-encode them");
    if (v.is_structured())
      for (const auto& child : v) check_value(child, depth + 1);
  }

  static std::string hash_hex(std::span<const std::uint8_t> hash, std::string_view what) {
    if (hash.empty() || hash.size() > 64)
      throw invalid_argument("transaction: " + std::string(what) + " must be 1..64 bytes, got " +
                             std::to_string(hash.size()));
    return ledger_detail::to_hex(hash);
  }

  tx_kind m_kind;
  ledger_time m_time;
  nlohmann::json m_fields;
  std::string m_canonical;
  sha256_digest m_id{};
};

/// A sealer as the genesis block lists it: a node id and its Ed25519 public key (32 raw bytes).
struct sealer_identity {
  std::string id;                          ///< collector or storage node id, 1..128 bytes, no control characters
  std::vector<std::uint8_t> public_key;    ///< Ed25519 public key, 32 bytes
  /// Identities are equal when id and key are.
  bool operator==(const sealer_identity&) const = default;
};

/// A sealer's own signing key (Ed25519). Copies share the key; the key is never printed.
class sealer_key {
public:
  /// A fresh key from @p rng (use a CSPRNG such as Botan::system_rng()).
  /// @throws hefl::invalid_argument if the id is invalid (see check_id())
  [[nodiscard]] static sealer_key generate(std::string id, Botan::RandomNumberGenerator& rng) {
    check_id(id);
    return sealer_key(std::move(id), std::make_shared<const Botan::Ed25519_PrivateKey>(rng));
  }

  /// A key derived from a 32-byte Ed25519 seed, for keys kept elsewhere and for reproducible tests.
  /// @throws hefl::invalid_argument if the seed is not 32 bytes or the id is invalid
  [[nodiscard]] static sealer_key from_seed(std::string id, std::span<const std::uint8_t> seed) {
    check_id(id);
    if (seed.size() != 32)
      throw invalid_argument("sealer_key: Ed25519 seed must be 32 bytes, got " + std::to_string(seed.size()));
    const Botan::secure_vector<std::uint8_t> s(seed.begin(), seed.end());
    return sealer_key(std::move(id), std::make_shared<const Botan::Ed25519_PrivateKey>(s));
  }

  /// The sealer's id.
  [[nodiscard]] const std::string& id() const noexcept { return m_id; }
  /// The public half, as listed in a genesis block.
  [[nodiscard]] sealer_identity identity() const { return {m_id, m_key->get_public_key()}; }

  /// Ed25519 signature (RFC 8032, pure) over a block header hash.
  /// @throws Botan::Exception only if Botan fails internally
  [[nodiscard]] std::vector<std::uint8_t> sign(const sha256_digest& header_hash) const {
    Botan::PK_Signer signer(*m_key, Botan::system_rng(), "Pure");
    return signer.sign_message(header_hash.data(), header_hash.size(), Botan::system_rng());
  }

  /// Validates a sealer id.
  /// @throws hefl::invalid_argument if id is empty, longer than 128 bytes or holds control characters
  static void check_id(std::string_view id) {
    if (id.empty() || id.size() > 128)
      throw invalid_argument("sealer id must be 1..128 bytes, got " + std::to_string(id.size()));
    // Ids are stored as text columns and printed in messages: keep them free of NUL and escapes.
    if (std::any_of(id.begin(), id.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
      throw invalid_argument("sealer id must not contain control characters");
  }

private:
  sealer_key(std::string id, std::shared_ptr<const Botan::Ed25519_PrivateKey> key)
      : m_id(std::move(id)), m_key(std::move(key)) {}
  std::string m_id;
  std::shared_ptr<const Botan::Ed25519_PrivateKey> m_key;
};

/// The signed part of a block.
struct block_header {
  std::uint64_t height = 0;       ///< 0 for genesis
  sha256_digest previous{};       ///< hash() of the block before; zeros for genesis
  sha256_digest merkle_root{};    ///< Merkle root of the block's transaction ids
  ledger_time time{};             ///< when the block was sealed
  std::string sealer;             ///< id of the sealer that signed it; empty for genesis

  /// SHA-256 over a fixed binary layout with a version tag; this is what the sealer signs.
  /// @throws nothing beyond std::bad_alloc
  [[nodiscard]] sha256_digest hash() const {
    serial::writer w;
    w.put_bytes("hefl.ledger.block.v1");
    w.put<std::uint64_t>(height);
    w.put_span<std::uint8_t>(previous);
    w.put_span<std::uint8_t>(merkle_root);
    w.put<std::int64_t>(time.time_since_epoch().count());
    w.put<std::uint32_t>(static_cast<std::uint32_t>(sealer.size()));
    w.put_bytes(sealer);
    return ledger_detail::sha256_parts({w.bytes()});
  }
};

/// A sealed block: header, transactions, and the sealer's signature over header.hash().
struct block {
  block_header header;                    ///< signed header
  std::vector<transaction> transactions;  ///< in Merkle-leaf order
  std::vector<std::uint8_t> signature;    ///< Ed25519, 64 bytes; empty for genesis

  /// The block's identity: the hash of its header.
  [[nodiscard]] sha256_digest hash() const { return header.hash(); }

  /// The Merkle tree over leaf_hash(transaction id) of each transaction, in order.
  /// @throws nothing beyond std::bad_alloc
  [[nodiscard]] merkle_tree tree() const {
    std::vector<sha256_digest> leaves;
    leaves.reserve(transactions.size());
    for (const auto& tx : transactions) leaves.push_back(merkle_tree::leaf_hash(tx.id()));
    return merkle_tree(std::move(leaves));
  }
};

/// Builds the genesis block that fixes the sealer set (listed in turn order) for a chain.
/// @throws hefl::invalid_argument if there are no sealers or more than 64, an id is invalid or repeated,
///         a key is not 32 bytes or repeated
[[nodiscard]] inline block make_genesis(const std::vector<sealer_identity>& sealers, std::string_view chain_id,
                                        ledger_time time) {
  if (sealers.empty() || sealers.size() > 64)
    throw invalid_argument("make_genesis: 1..64 sealers required, got " + std::to_string(sealers.size()));
  std::set<std::string> ids;
  std::set<std::vector<std::uint8_t>> keys;
  nlohmann::json list = nlohmann::json::array();
  for (const auto& s : sealers) {
    sealer_key::check_id(s.id);
    if (s.public_key.size() != 32)
      throw invalid_argument("make_genesis: sealer '" + s.id + "' has a " + std::to_string(s.public_key.size()) +
                             "-byte key, Ed25519 keys are 32 bytes");
    if (!ids.insert(s.id).second) throw invalid_argument("make_genesis: sealer id '" + s.id + "' listed twice");
    if (!keys.insert(s.public_key).second)
      throw invalid_argument("make_genesis: sealer '" + s.id + "' reuses another sealer's key");
    list.push_back({{"id", s.id}, {"key", ledger_detail::to_hex(s.public_key)}});
  }
  block g;
  g.transactions.emplace_back(tx_kind::genesis, nlohmann::json{{"chain", chain_id}, {"sealers", std::move(list)}},
                              time);
  g.header.time = time;
  g.header.merkle_root = g.tree().root();
  return g;
}

/// Why a block was refused. The first fault found wins.
enum class block_fault : std::uint8_t {
  none,                   ///< the block is valid
  malformed,              ///< wrong shape: empty block, genesis entry outside block 0, unreadable row
  out_of_order,           ///< its height is not the next one (blocks reordered, skipped or repeated)
  broken_link,            ///< properly signed, but its previous hash is not the parent's hash
  tampered_transaction,   ///< the transactions do not hash to the signed Merkle root
  tampered_header,        ///< the header changed after sealing (the next block links to another hash;
                          ///< on the newest block, which nothing links to yet, this shows as bad_signature)
  unknown_sealer,         ///< sealed by an id that is not in the genesis block
  wrong_sealer,           ///< sealed by a genesis sealer whose turn it was not
  bad_signature,          ///< the signature does not verify under the named sealer's key
  bad_timestamp,          ///< older than its parent, or too far in the future
  duplicate_transaction,  ///< a transaction id already in the chain (or twice in the block)
  oversized,              ///< more transactions than the ledger's block limit
  genesis_mismatch,       ///< block 0 is not the genesis this ledger was built from
};

/// The name of a fault, for messages and logs.
/// @throws nothing
[[nodiscard]] inline std::string_view to_string(block_fault f) noexcept {
  constexpr std::array<std::string_view, 13> names{"none",
                                                   "malformed",
                                                   "out_of_order",
                                                   "broken_link",
                                                   "tampered_transaction",
                                                   "tampered_header",
                                                   "unknown_sealer",
                                                   "wrong_sealer",
                                                   "bad_signature",
                                                   "bad_timestamp",
                                                   "duplicate_transaction",
                                                   "oversized",
                                                   "genesis_mismatch"};
  const auto i = static_cast<std::size_t>(f);
  return i < names.size() ? names[i] : std::string_view("unknown");
}

/// The verdict on one block offered by a peer (Botan Path_Validation_Result style: no throw for
/// untrusted input).
struct block_check {
  block_fault fault = block_fault::none;  ///< none when accepted
  std::string message;                    ///< what was expected and what was found
  /// True when the block was accepted.
  explicit operator bool() const noexcept { return fault == block_fault::none; }
};

/// The result of walking a whole chain.
struct verify_report {
  std::uint64_t blocks_checked = 0;         ///< blocks found valid before the first bad one
  std::optional<std::uint64_t> bad_block;   ///< position (= expected height) of the first bad block
  block_fault fault = block_fault::none;    ///< why it is bad
  std::string message;                      ///< details, naming the block
  /// True when every block is valid.
  [[nodiscard]] bool ok() const noexcept { return !bad_block.has_value(); }
};

/// A stored or received chain failed verification; report() names the first bad block and why.
class ledger_integrity_error : public parse_error {
public:
  /// Wraps a failed report.
  explicit ledger_integrity_error(verify_report report)
      : parse_error("ledger integrity: " + report.message), m_report(std::move(report)) {}
  /// The failed verification.
  [[nodiscard]] const verify_report& report() const noexcept { return m_report; }

private:
  verify_report m_report;
};

/// Block cutting and safety limits of a ledger.
struct ledger_config {
  std::size_t max_block_transactions = 100;            ///< cut a block at this many pending transactions
  std::chrono::milliseconds max_block_delay{5000};     ///< ...or when the oldest pending one is this old
  std::size_t max_pending = 100000;                    ///< refuse submissions beyond this backlog
  std::chrono::milliseconds max_clock_skew{30000};     ///< refuse peer blocks dated further in the future
  std::function<ledger_time()> clock;                  ///< time source; system clock when empty
};

/// Where a transaction sits in the chain.
struct tx_location {
  std::uint64_t height = 0;  ///< block height
  std::size_t index = 0;     ///< position in the block (Merkle leaf index)
  transaction tx;            ///< the transaction itself
};

/// Evidence that a transaction is in a block: check with
/// `merkle_tree::verify_proof(merkle_tree::leaf_hash(tx.id()), proof, root)` and compare root with the
/// block header (whose hash the chain links to).
struct tx_inclusion {
  tx_location location;   ///< where it is
  merkle_proof proof;     ///< the audit path
  sha256_digest root{};   ///< the block's Merkle root
};

/// What a collector validator needs from a ledger: record a transaction (returns its id).
/// Logging is mandatory in seed 003, so there is deliberately no null implementation.
template <class L>
concept ledger_policy = requires(L& l, transaction tx) {
  { l.submit(std::move(tx)) } -> std::convertible_to<sha256_digest>;
};

/// An append-only Proof-of-Authority ledger node (one replica).
///
/// Transactions are buffered by submit(); a block is cut when max_block_transactions are pending or
/// the oldest pending one is max_block_delay old (checked on submit() and tick()), but only by the
/// node whose turn it is: sealer (h - 1) mod n of the genesis list seals height h. Other nodes keep
/// their pending transactions until a block containing them arrives through accept_block(); forward
/// pending() to the sealer in turn (submit is idempotent). All members are thread-safe.
class ledger {
public:
  /// A replica of the chain that starts with @p genesis; @p self is this node's key when it is a sealer.
  /// @throws hefl::invalid_argument if genesis is not a well-formed genesis block, the config is out
  ///         of range, or self is not a genesis sealer with the same public key
  explicit ledger(block genesis, ledger_config config = {}, std::optional<sealer_key> self = std::nullopt)
      : m_config(std::move(config)), m_self(std::move(self)) {
    if (m_config.max_block_transactions == 0 || m_config.max_block_transactions > 100000)
      throw invalid_argument("ledger: max_block_transactions must be 1..100000, got " +
                             std::to_string(m_config.max_block_transactions));
    if (m_config.max_block_delay.count() < 0 || m_config.max_clock_skew.count() < 0)
      throw invalid_argument("ledger: max_block_delay and max_clock_skew must not be negative");
    if (m_config.max_pending < m_config.max_block_transactions)
      throw invalid_argument("ledger: max_pending " + std::to_string(m_config.max_pending) +
                             " is below max_block_transactions " + std::to_string(m_config.max_block_transactions));
    if (!m_config.clock) m_config.clock = ledger_now;
    load_sealers(genesis);
    if (m_self) {
      const auto it = std::find_if(m_sealers.begin(), m_sealers.end(),
                                   [&](const sealer_identity& s) { return s.id == m_self->id(); });
      if (it == m_sealers.end())
        throw invalid_argument("ledger: this node's key '" + m_self->id() + "' is not a sealer of the genesis block");
      if (it->public_key != m_self->identity().public_key)
        throw invalid_argument("ledger: key of '" + m_self->id() + "' differs from the one in the genesis block");
    }
    m_genesis_hash = genesis.hash();
    index_block(genesis, 0);
    m_hashes.push_back(m_genesis_hash);
    m_blocks.push_back(std::move(genesis));
  }

  ledger(const ledger&) = delete;
  ledger& operator=(const ledger&) = delete;

  /// Buffers a transaction for the next block and seals if a block is due and it is this node's turn.
  /// Submitting a transaction that is already pending or in the chain changes nothing.
  /// @returns the transaction id
  /// @throws hefl::invalid_argument for a genesis transaction;
  ///         hefl::security_error when max_pending transactions are already waiting (fail closed:
  ///         an event that cannot be logged must not be acted on)
  sha256_digest submit(transaction tx) {
    if (tx.kind() == tx_kind::genesis)
      throw invalid_argument("ledger::submit: genesis transactions belong only in block 0");
    const std::lock_guard lock(m_mutex);
    const auto id = tx.id();
    if (m_index.contains(id) || m_pending_ids.contains(id)) return id;
    if (m_pending.size() >= m_config.max_pending)
      throw security_error("ledger::submit: " + std::to_string(m_pending.size()) +
                           " transactions already pending (max_pending); sealer in turn is '" +
                           expected_sealer_locked(m_blocks.size()) + "'");
    const auto now = m_config.clock();
    m_pending.push_back({std::move(tx), now});
    m_pending_ids.insert(id);
    seal_due_locked(now, false);
    return id;
  }

  /// Seals the blocks that are due at @p now (by count or by age) if it is this node's turn.
  /// @returns the number of blocks sealed
  /// @throws nothing beyond std::bad_alloc
  std::size_t tick(ledger_time now) {
    const std::lock_guard lock(m_mutex);
    return seal_due_locked(now, false);
  }

  /// Seals every pending transaction now, whatever the thresholds, if it is this node's turn.
  /// @returns the number of blocks sealed
  /// @throws nothing beyond std::bad_alloc
  std::size_t flush() {
    const std::lock_guard lock(m_mutex);
    return seal_due_locked(m_config.clock(), true);
  }

  /// Verifies a block from a peer as the next block (height, previous hash, sealer turn, signature,
  /// Merkle root, time, duplicates) and appends it only if all hold; included transactions leave the
  /// pending pool.
  /// @throws nothing beyond std::bad_alloc
  block_check accept_block(const block& b) {
    const std::lock_guard lock(m_mutex);
    const auto h = m_blocks.size();
    auto check = check_block(b, h, m_hashes.back(), m_blocks.back().header.time, nullptr,
                             [&](const sha256_digest& id) { return m_index.contains(id); });
    if (check && b.header.time > m_config.clock() + m_config.max_clock_skew)
      check = {block_fault::bad_timestamp,
               "block " + std::to_string(h) + " is dated " + std::to_string(b.header.time.time_since_epoch().count()) +
                   " ms, more than max_clock_skew ahead of now"};
    if (!check) return check;
    index_block(b, h);
    for (const auto& tx : b.transactions) m_pending_ids.erase(tx.id());
    std::erase_if(m_pending, [&](const pending_tx& p) { return !m_pending_ids.contains(p.tx.id()); });
    m_hashes.push_back(b.hash());
    m_blocks.push_back(b);
    return check;
  }

  /// Pulls and accepts every block @p peer has beyond this replica's height.
  /// @returns the first refusal, or a passing check when all were accepted
  /// @throws nothing beyond std::bad_alloc
  block_check sync_from(const ledger& peer) {
    for (const auto& b : peer.blocks_from(height() + 1))
      if (auto c = accept_block(b); !c) return c;
    return {};
  }

  /// Adopts a stored chain (block 0 first) after verifying all of it; only on a fresh replica.
  /// @throws hefl::invalid_argument if this replica already has blocks beyond genesis;
  ///         hefl::ledger_integrity_error naming the first bad block if verification fails
  void restore(std::vector<block> chain) {
    const std::lock_guard lock(m_mutex);
    if (m_blocks.size() != 1)
      throw invalid_argument("ledger::restore: replica already holds " + std::to_string(m_blocks.size()) + " blocks");
    auto report = verify_chain_locked(chain);
    if (!report.ok()) throw ledger_integrity_error(std::move(report));
    m_index.clear();
    m_blocks.clear();
    m_hashes.clear();
    for (auto& b : chain) {
      index_block(b, m_blocks.size());
      m_hashes.push_back(b.hash());
      m_blocks.push_back(std::move(b));
    }
    for (const auto& [id, loc] : m_index) m_pending_ids.erase(id);
    std::erase_if(m_pending, [&](const pending_tx& p) { return !m_pending_ids.contains(p.tx.id()); });
  }

  /// Walks this replica's whole chain and reports the first bad block.
  /// @throws nothing beyond std::bad_alloc
  [[nodiscard]] verify_report verify() const {
    const std::lock_guard lock(m_mutex);
    return verify_chain_locked(m_blocks);
  }

  /// Verifies any chain (block 0 first) against this replica's genesis and sealers, e.g. a copy read
  /// from disk or received from a peer.
  /// @throws nothing beyond std::bad_alloc
  [[nodiscard]] verify_report verify_chain(std::span<const block> chain) const {
    const std::lock_guard lock(m_mutex);
    return verify_chain_locked(chain);
  }

  /// Height of the newest block (0 when only genesis exists).
  [[nodiscard]] std::uint64_t height() const {
    const std::lock_guard lock(m_mutex);
    return m_blocks.size() - 1;
  }
  /// Hash of the newest block; equal on replicas that hold the same chain.
  [[nodiscard]] sha256_digest head_hash() const {
    const std::lock_guard lock(m_mutex);
    return m_hashes.back();
  }
  /// Hash of the genesis block this replica was built from.
  [[nodiscard]] const sha256_digest& genesis_hash() const noexcept { return m_genesis_hash; }
  /// The sealers in turn order.
  [[nodiscard]] const std::vector<sealer_identity>& sealers() const noexcept { return m_sealers; }
  /// Id of the sealer that must seal block @p height (>= 1).
  /// @throws hefl::invalid_argument for height 0 (genesis has no sealer)
  [[nodiscard]] std::string expected_sealer(std::uint64_t height) const {
    if (height == 0) throw invalid_argument("ledger::expected_sealer: the genesis block is not sealed");
    return expected_sealer_locked(height);
  }
  /// This node's sealer id, if it seals.
  [[nodiscard]] std::optional<std::string> self_id() const {
    return m_self ? std::optional<std::string>(m_self->id()) : std::nullopt;
  }

  /// A copy of block @p height.
  /// @throws hefl::invalid_argument if height > height()
  [[nodiscard]] block block_at(std::uint64_t height) const {
    const std::lock_guard lock(m_mutex);
    if (height >= m_blocks.size())
      throw invalid_argument("ledger::block_at: height " + std::to_string(height) + " beyond head " +
                             std::to_string(m_blocks.size() - 1));
    return m_blocks[height];
  }
  /// Copies of blocks from @p height to the head (empty when height > height()).
  [[nodiscard]] std::vector<block> blocks_from(std::uint64_t height) const {
    const std::lock_guard lock(m_mutex);
    if (height >= m_blocks.size()) return {};
    return {m_blocks.begin() + static_cast<std::ptrdiff_t>(height), m_blocks.end()};
  }
  /// Copies of all blocks, genesis first.
  [[nodiscard]] std::vector<block> blocks() const { return blocks_from(0); }

  /// Number of transactions waiting for a block.
  [[nodiscard]] std::size_t pending_count() const {
    const std::lock_guard lock(m_mutex);
    return m_pending.size();
  }
  /// Copies of the pending transactions, oldest first (to forward to the sealer in turn).
  [[nodiscard]] std::vector<transaction> pending() const {
    const std::lock_guard lock(m_mutex);
    std::vector<transaction> out;
    out.reserve(m_pending.size());
    for (const auto& p : m_pending) out.push_back(p.tx);
    return out;
  }
  /// Number of transactions in the chain, genesis included.
  [[nodiscard]] std::size_t transaction_count() const {
    const std::lock_guard lock(m_mutex);
    return m_index.size();
  }

  /// Sealed transactions matching @p pred, in chain order; @p pred runs under the ledger's lock and
  /// must not call back into this ledger.
  [[nodiscard]] std::vector<tx_location> find(const std::function<bool(const transaction&)>& pred) const {
    const std::lock_guard lock(m_mutex);
    std::vector<tx_location> out;
    for (std::size_t h = 0; h < m_blocks.size(); ++h)
      for (std::size_t i = 0; i < m_blocks[h].transactions.size(); ++i)
        if (pred(m_blocks[h].transactions[i])) out.push_back({h, i, m_blocks[h].transactions[i]});
    return out;
  }
  /// Sealed transactions of one kind.
  [[nodiscard]] std::vector<tx_location> find(tx_kind kind) const {
    return find([kind](const transaction& tx) { return tx.kind() == kind; });
  }
  /// Sealed transactions whose "device" field is @p device_id (rule checks of one device).
  [[nodiscard]] std::vector<tx_location> find_device(std::string_view device_id) const {
    return find([device_id](const transaction& tx) { return tx.field_string("device") == device_id; });
  }

  /// Where the sealed transaction @p id is, with its Merkle inclusion proof; nullopt if not sealed.
  [[nodiscard]] std::optional<tx_inclusion> prove(const sha256_digest& id) const {
    const std::lock_guard lock(m_mutex);
    const auto it = m_index.find(id);
    if (it == m_index.end()) return std::nullopt;
    const auto& b = m_blocks[it->second.first];
    return tx_inclusion{{it->second.first, it->second.second, b.transactions[it->second.second]},
                        b.tree().proof(it->second.second),
                        b.header.merkle_root};
  }

private:
  struct pending_tx {
    transaction tx;
    ledger_time arrived;
  };

  void load_sealers(const block& g) {
    const auto bad = [](const std::string& why) { return invalid_argument("ledger: not a genesis block: " + why); };
    if (g.header.height != 0) throw bad("height is " + std::to_string(g.header.height) + ", expected 0");
    if (g.header.previous != sha256_digest{}) throw bad("previous hash is not zero");
    if (!g.header.sealer.empty() || !g.signature.empty()) throw bad("genesis is not sealed, but names a sealer");
    if (g.transactions.size() != 1 || g.transactions[0].kind() != tx_kind::genesis)
      throw bad("expected exactly one genesis transaction");
    if (g.tree().root() != g.header.merkle_root) throw bad("Merkle root does not match its transaction");
    const auto& list = g.transactions[0].fields().value("sealers", nlohmann::json());
    if (!list.is_array() || list.empty() || list.size() > 64) throw bad("sealers must be a list of 1..64 entries");
    std::set<std::string> ids;
    for (const auto& s : list) {
      if (!s.is_object() || !s.contains("id") || !s.contains("key") || !s["id"].is_string() || !s["key"].is_string())
        throw bad("each sealer needs string id and key");
      sealer_identity who{s["id"].get<std::string>(), {}};
      sealer_key::check_id(who.id);
      try {
        who.public_key = Botan::unlock(Botan::hex_decode_locked(s["key"].get<std::string>()));
      } catch (const Botan::Exception&) {
        throw bad("key of sealer '" + who.id + "' is not hex");
      }
      if (who.public_key.size() != 32)
        throw bad("key of sealer '" + who.id + "' is " + std::to_string(who.public_key.size()) + " bytes, expected 32");
      if (!ids.insert(who.id).second) throw bad("sealer '" + who.id + "' listed twice");
      m_keys.push_back(std::make_shared<const Botan::Ed25519_PublicKey>(who.public_key));
      m_sealers.push_back(std::move(who));
    }
  }

  std::string expected_sealer_locked(std::uint64_t height) const {
    return m_sealers[static_cast<std::size_t>((height - 1) % m_sealers.size())].id;
  }

  void index_block(const block& b, std::uint64_t height) {
    for (std::size_t i = 0; i < b.transactions.size(); ++i) m_index.emplace(b.transactions[i].id(), std::pair{height, i});
  }

  std::size_t seal_due_locked(ledger_time now, bool force) {
    std::size_t sealed = 0;
    while (!m_pending.empty() && m_self && expected_sealer_locked(m_blocks.size()) == m_self->id()) {
      const bool full = m_pending.size() >= m_config.max_block_transactions;
      const bool old = now - m_pending.front().arrived >= m_config.max_block_delay;
      if (!force && !full && !old) break;
      block b;
      const auto take = std::min(m_pending.size(), m_config.max_block_transactions);
      b.transactions.reserve(take);
      for (std::size_t i = 0; i < take; ++i) {
        m_pending_ids.erase(m_pending.front().tx.id());
        b.transactions.push_back(std::move(m_pending.front().tx));
        m_pending.pop_front();
      }
      b.header.height = m_blocks.size();
      b.header.previous = m_hashes.back();
      b.header.merkle_root = b.tree().root();
      // Never older than the parent, even if the wall clock stepped back: peers refuse that.
      b.header.time = std::max(now, m_blocks.back().header.time);
      b.header.sealer = m_self->id();
      const auto hash = b.hash();
      b.signature = m_self->sign(hash);
      index_block(b, b.header.height);
      m_hashes.push_back(hash);
      m_blocks.push_back(std::move(b));
      ++sealed;
    }
    return sealed;
  }

  bool signature_ok(std::size_t sealer_index, const sha256_digest& hash, const std::vector<std::uint8_t>& sig) const {
    if (sig.size() != 64) return false;
    Botan::PK_Verifier verifier(*m_keys[sealer_index], "Pure");
    return verifier.verify_message(hash.data(), hash.size(), sig.data(), sig.size());
  }

  // Checks @p b as block @p h on top of a parent. @p successor_previous, when the next block is
  // known, tells a header edited after sealing (the next block links to the old hash) apart from a
  // signature that was swapped or forged (the next block still links to this header).
  template <class Seen>
  block_check check_block(const block& b, std::uint64_t h, const sha256_digest& parent_hash, ledger_time parent_time,
                          const sha256_digest* successor_previous, Seen&& seen) const {
    const auto name = "block " + std::to_string(h);
    if (b.header.height != h)
      return {block_fault::out_of_order,
              name + ": expected height " + std::to_string(h) + ", header says " + std::to_string(b.header.height)};
    if (b.transactions.size() > m_config.max_block_transactions)
      return {block_fault::oversized, name + ": " + std::to_string(b.transactions.size()) +
                                          " transactions, at most " +
                                          std::to_string(m_config.max_block_transactions) + " allowed"};
    const auto hash = b.hash();
    const auto who = std::find_if(m_sealers.begin(), m_sealers.end(),
                                  [&](const sealer_identity& s) { return s.id == b.header.sealer; });
    const bool known = who != m_sealers.end();
    if (!known || !signature_ok(static_cast<std::size_t>(who - m_sealers.begin()), hash, b.signature)) {
      if (successor_previous && *successor_previous != hash)
        return {block_fault::tampered_header,
                name + ": header hash " + ledger_detail::to_hex(hash).substr(0, 16) +
                    "... is not the one block " + std::to_string(h + 1) + " links to, and its signature fails"};
      if (!known)
        return {block_fault::unknown_sealer, name + ": sealed by '" + b.header.sealer + "', not a genesis sealer"};
      return {block_fault::bad_signature, name + ": signature of '" + b.header.sealer + "' does not verify"};
    }
    if (const auto expected = expected_sealer_locked(h); b.header.sealer != expected)
      return {block_fault::wrong_sealer, name + ": sealed by '" + b.header.sealer + "', but it is '" + expected +
                                             "''s turn (round-robin by height)"};
    if (b.header.previous != parent_hash)
      return {block_fault::broken_link, name + ": previous hash " + ledger_detail::to_hex(b.header.previous).substr(0, 16) +
                                            "... is not block " + std::to_string(h - 1) + "'s hash " +
                                            ledger_detail::to_hex(parent_hash).substr(0, 16) + "..."};
    if (b.header.time < parent_time)
      return {block_fault::bad_timestamp, name + ": dated " + std::to_string(b.header.time.time_since_epoch().count()) +
                                              " ms, before its parent's " +
                                              std::to_string(parent_time.time_since_epoch().count()) + " ms"};
    if (b.tree().root() != b.header.merkle_root)
      return {block_fault::tampered_transaction,
              name + ": its " + std::to_string(b.transactions.size()) +
                  " transactions do not hash to the signed Merkle root"};
    if (b.transactions.empty()) return {block_fault::malformed, name + ": a sealed block must hold transactions"};
    std::set<sha256_digest> local;
    for (std::size_t i = 0; i < b.transactions.size(); ++i) {
      const auto& tx = b.transactions[i];
      if (tx.kind() == tx_kind::genesis)
        return {block_fault::malformed, name + ": transaction " + std::to_string(i) + " is a genesis entry"};
      if (seen(tx.id()) || !local.insert(tx.id()).second)
        return {block_fault::duplicate_transaction,
                name + ": transaction " + std::to_string(i) + " (" + ledger_detail::to_hex(tx.id()).substr(0, 16) +
                    "...) is already in the chain"};
    }
    return {};
  }

  verify_report verify_chain_locked(std::span<const block> chain) const {
    verify_report r;
    const auto fail = [&](std::uint64_t h, block_check c) {
      r.bad_block = h;
      r.fault = c.fault;
      r.message = std::move(c.message);
      return r;
    };
    if (chain.empty()) return fail(0, {block_fault::malformed, "block 0: the chain is empty"});
    const auto& g = chain[0];
    if (g.header.height != 0)
      return fail(0, {block_fault::out_of_order, "block 0: header says height " + std::to_string(g.header.height)});
    const auto g_hash = g.hash();
    if (g_hash != m_genesis_hash)
      return fail(0, {block_fault::genesis_mismatch, "block 0: header differs from this replica's genesis"});
    if (g.tree().root() != g.header.merkle_root)
      return fail(0, {block_fault::tampered_transaction, "block 0: genesis transaction does not hash to its root"});
    std::set<sha256_digest> seen;
    for (const auto& tx : g.transactions) seen.insert(tx.id());
    r.blocks_checked = 1;
    auto parent_hash = g_hash;
    for (std::size_t h = 1; h < chain.size(); ++h) {
      const sha256_digest* next = h + 1 < chain.size() ? &chain[h + 1].header.previous : nullptr;
      auto c = check_block(chain[h], h, parent_hash, chain[h - 1].header.time, next,
                           [&](const sha256_digest& id) { return seen.contains(id); });
      if (!c) return fail(h, std::move(c));
      for (const auto& tx : chain[h].transactions) seen.insert(tx.id());
      parent_hash = chain[h].hash();
      ++r.blocks_checked;
    }
    return r;
  }

  ledger_config m_config;
  std::optional<sealer_key> m_self;
  std::vector<sealer_identity> m_sealers;
  std::vector<std::shared_ptr<const Botan::Ed25519_PublicKey>> m_keys;
  sha256_digest m_genesis_hash{};
  mutable std::mutex m_mutex;
  std::vector<block> m_blocks;
  std::vector<sha256_digest> m_hashes;
  // std::map, not a hash map: ids come from untrusted peers, and ordered lookups cannot be flooded.
  std::map<sha256_digest, std::pair<std::uint64_t, std::size_t>> m_index;
  std::deque<pending_tx> m_pending;
  std::set<sha256_digest> m_pending_ids;
};

/// A single-sealer in-memory ledger with a freshly generated key, for tests and single-process
/// deployments (it logs for real: every submitted transaction ends up sealed and verifiable).
class local_ledger : public ledger {
public:
  /// @throws hefl::invalid_argument if the config or sealer id is invalid
  explicit local_ledger(ledger_config config = {}, std::string sealer_id = "local")
      : local_ledger(sealer_key::generate(std::move(sealer_id), Botan::system_rng()),
                     config.clock ? config.clock() : ledger_now(), std::move(config)) {}

private:
  // The config is taken by reference so that reading its clock above happens before any move.
  local_ledger(sealer_key key, ledger_time start, ledger_config&& config)
      : ledger(make_genesis({key.identity()}, "hefl-local", start), std::move(config), key) {}
};

static_assert(ledger_policy<ledger>, "hefl::iot::ledger must satisfy ledger_policy");

} // namespace hefl::iot
