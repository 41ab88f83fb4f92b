#pragma once
/// @file
/// An in-process, append-only, tamper-evident ledger sealed by Proof-of-Authority.
///
/// Seed 003 logs every rule check on an Ethereum Proof-of-Authority (Clique) chain whose sealers are
/// the collector and the storage node. hefl keeps what that log guarantees without Ethereum:
/// transactions (rule deployments, rule checks, stored records, accesses) are hashed into blocks
/// with a Merkle root (RFC 6962 style, see merkle.hpp), blocks are hash-chained, and each block is
/// signed with Ed25519 by the sealer whose turn it is (round-robin by height, as in Clique, EIP-225),
/// or out of turn after a delay when that sealer is down. Every entry is signed by its author
/// (RFC 8032 Ed25519), and every replica checks those signatures. The genesis block, which every
/// replica pins, lists the first sealers and authors; sealer_vote entries on the chain change the
/// sealer set. A sealer signing two blocks at one height is caught and the evidence kept, and a
/// signed checkpoint of the head lets a reload notice removed blocks (ledger_store.hpp).
/// Needs Botan 2 and nlohmann-json (target hefl::iot).

#include <hefl/core/error.hpp>
#include <hefl/core/serialization.hpp>
#include <hefl/iot/ledger/merkle.hpp>

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
  sealer_vote,      ///< a sealer votes to add or remove a sealer (Clique-style, EIP-225)
};

namespace ledger_detail {
inline constexpr std::array<std::string_view, 9> tx_kind_names{
    "genesis", "rule_deployment", "rule_check", "record_stored", "access", "registration", "revocation", "custom",
    "sealer_vote"};
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

  /// Two transactions are equal when their canonical forms are (the author's signature is not compared).
  [[nodiscard]] bool operator==(const transaction& other) const noexcept { return m_canonical == other.m_canonical; }

  /// Id of the node that signed this entry; empty while unsigned. Not part of canonical() or id():
  /// the ledger signs an entry for its author when it is submitted (see ledger::submit()).
  [[nodiscard]] const std::string& author() const noexcept { return m_author; }
  /// The author's Ed25519 signature over author_message(); empty while unsigned.
  [[nodiscard]] const std::vector<std::uint8_t>& author_signature() const noexcept { return m_author_signature; }
  /// Whether an author and signature are attached (not whether they verify: ledgers check that).
  [[nodiscard]] bool is_signed() const noexcept { return !m_author.empty(); }
  /// A copy of this entry carrying @p author's @p signature (checked by the ledger, not here).
  /// @throws nothing beyond std::bad_alloc
  [[nodiscard]] transaction with_author(std::string author, std::vector<std::uint8_t> signature) const {
    transaction out = *this;
    out.m_author = std::move(author);
    out.m_author_signature = std::move(signature);
    return out;
  }
  /// What an author signs: SHA-256 over a version tag, the chain's genesis hash (no replay onto
  /// another chain), the author id and the entry id.
  /// @throws nothing beyond std::bad_alloc
  [[nodiscard]] static sha256_digest author_message(const sha256_digest& genesis, std::string_view author,
                                                    const sha256_digest& id) {
    serial::writer w;
    w.put_bytes("hefl.ledger.entry.v1");
    w.put_span<std::uint8_t>(genesis);
    w.put<std::uint32_t>(static_cast<std::uint32_t>(author.size()));
    w.put_bytes(author);
    w.put_span<std::uint8_t>(id);
    return ledger_detail::sha256_parts({w.bytes()});
  }

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
  std::string m_author;
  std::vector<std::uint8_t> m_author_signature;
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

/// Builds the genesis block that fixes the sealer set (listed in turn order) for a chain, and the
/// other nodes whose entries count (@p authors: nodes that sign entries but do not seal). Every
/// sealer is an author too.
/// @throws hefl::invalid_argument if there are no sealers or more than 64 sealers or authors, an id
///         is invalid or repeated, a key is not 32 bytes or repeated
[[nodiscard]] inline block make_genesis(const std::vector<sealer_identity>& sealers, std::string_view chain_id,
                                        ledger_time time, const std::vector<sealer_identity>& authors = {}) {
  if (sealers.empty() || sealers.size() > 64)
    throw invalid_argument("make_genesis: 1..64 sealers required, got " + std::to_string(sealers.size()));
  if (authors.size() > 64)
    throw invalid_argument("make_genesis: at most 64 further authors, got " + std::to_string(authors.size()));
  std::set<std::string> ids;
  std::set<std::vector<std::uint8_t>> keys;
  const auto listed = [&](const std::vector<sealer_identity>& who, std::string_view role) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& s : who) {
      sealer_key::check_id(s.id);
      if (s.public_key.size() != 32)
        throw invalid_argument("make_genesis: " + std::string(role) + " '" + s.id + "' has a " +
                               std::to_string(s.public_key.size()) + "-byte key, Ed25519 keys are 32 bytes");
      if (!ids.insert(s.id).second)
        throw invalid_argument("make_genesis: " + std::string(role) + " id '" + s.id + "' listed twice");
      if (!keys.insert(s.public_key).second)
        throw invalid_argument("make_genesis: " + std::string(role) + " '" + s.id + "' reuses another sealer's key");
      list.push_back({{"id", s.id}, {"key", ledger_detail::to_hex(s.public_key)}});
    }
    return list;
  };
  nlohmann::json fields{{"chain", chain_id}, {"sealers", listed(sealers, "sealer")}};
  if (!authors.empty()) fields["authors"] = listed(authors, "author");
  block g;
  g.transactions.emplace_back(tx_kind::genesis, std::move(fields), time);
  g.header.time = time;
  g.header.merkle_root = g.tree().root();
  return g;
}

/// What a sealer vote asks for.
enum class vote_action : std::uint8_t {
  add,     ///< make the candidate a sealer (and an author) with the key given in the vote
  remove,  ///< take the candidate out of the sealer set; its key stops counting for blocks and entries
};

/// A vote by sealer @p voter to add or remove @p candidate (Clique's signer votes, EIP-225). It counts
/// once sealed in a block with @p voter as the entry's author (a ledger signs it so on submit(); see
/// ledger::vote()); the change applies when more than half of the sealers of that moment voted for it.
/// @throws hefl::invalid_argument if an id is invalid, or an added candidate's key is not 32 bytes
[[nodiscard]] inline transaction sealer_vote(std::string_view voter, vote_action action,
                                             const sealer_identity& candidate, ledger_time time) {
  sealer_key::check_id(voter);
  sealer_key::check_id(candidate.id);
  nlohmann::json f{{"voter", voter}, {"action", action == vote_action::add ? "add" : "remove"},
                   {"sealer", candidate.id}};
  if (action == vote_action::add) {
    if (candidate.public_key.size() != 32)
      throw invalid_argument("sealer_vote: candidate '" + candidate.id + "' has a " +
                             std::to_string(candidate.public_key.size()) + "-byte key, Ed25519 keys are 32 bytes");
    f["key"] = ledger_detail::to_hex(candidate.public_key);
  }
  return transaction(tx_kind::sealer_vote, std::move(f), time);
}

/// Proof that a sealer signed two different blocks at one height: both signed headers, each of which
/// verifies under the sealer's key. Anyone holding the key list can re-check it.
struct equivocation_evidence {
  std::string sealer;                          ///< who signed both
  std::uint64_t height = 0;                    ///< where
  block_header first;                          ///< the block this replica held
  std::vector<std::uint8_t> first_signature;   ///< its signature
  block_header second;                         ///< the other block offered at the same height
  std::vector<std::uint8_t> second_signature;  ///< its signature
};

/// A node's signed statement of the head it held: height and head hash. A store keeps the newest one
/// next to the blocks, and reloading compares against it, so deleting the newest blocks (which the
/// signer's key would be needed to re-sign) shows as a truncated chain.
struct head_checkpoint {
  std::uint64_t height = 0;                ///< height of the head
  sha256_digest head{};                    ///< hash of the head block
  std::string signer;                      ///< author id whose key signed
  std::vector<std::uint8_t> signature;     ///< Ed25519 over message()

  /// What is signed: a version tag, the genesis hash, the height, the head hash and the signer id.
  /// @throws nothing beyond std::bad_alloc
  [[nodiscard]] sha256_digest message(const sha256_digest& genesis) const {
    serial::writer w;
    w.put_bytes("hefl.ledger.checkpoint.v1");
    w.put_span<std::uint8_t>(genesis);
    w.put<std::uint64_t>(height);
    w.put_span<std::uint8_t>(head);
    w.put<std::uint32_t>(static_cast<std::uint32_t>(signer.size()));
    w.put_bytes(signer);
    return ledger_detail::sha256_parts({w.bytes()});
  }
};

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
  unknown_author,         ///< an entry is unsigned, or signed by an id that is not an author at that height
  bad_author_signature,   ///< an entry's author signature does not verify (sealed in another node's name)
  bad_vote,               ///< a sealer vote that is malformed, cast by a non-sealer, or would leave no sealer
  equivocation,           ///< the sealer already signed another block at this height (evidence kept)
  truncated,              ///< the chain ends below a signed checkpoint of its head (rows deleted)
  bad_checkpoint,         ///< a head checkpoint that does not verify or names another block
};

/// The name of a fault, for messages and logs.
/// @throws nothing
[[nodiscard]] inline std::string_view to_string(block_fault f) noexcept {
  constexpr std::array<std::string_view, 19> names{"none",
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
                                                   "genesis_mismatch",
                                                   "unknown_author",
                                                   "bad_author_signature",
                                                   "bad_vote",
                                                   "equivocation",
                                                   "truncated",
                                                   "bad_checkpoint"};
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

/// A ledger refused an entry offered to submit(): its author signature does not verify, its author is
/// not (or no longer) an author, or this node's own key stopped counting. fault() says which.
class ledger_entry_refused : public security_error {
public:
  /// Wraps a fault (unknown_author or bad_author_signature) and its details.
  ledger_entry_refused(block_fault fault, const std::string& message)
      : security_error("ledger entry refused (" + std::string(to_string(fault)) + "): " + message), m_fault(fault) {}
  /// Why.
  [[nodiscard]] block_fault fault() const noexcept { return m_fault; }

private:
  block_fault m_fault;
};

/// Block cutting and safety limits of a ledger.
struct ledger_config {
  std::size_t max_block_transactions = 100;            ///< cut a block at this many pending transactions
  std::chrono::milliseconds max_block_delay{5000};     ///< ...or when the oldest pending one is this old
  std::size_t max_pending = 100000;                    ///< refuse submissions beyond this backlog
  std::chrono::milliseconds max_clock_skew{30000};     ///< refuse peer blocks dated further in the future
  /// How long after its parent a sealer whose turn it is not may seal (Clique's out-of-turn sealing,
  /// EIP-225): one sealer down does not halt the chain, and the in-turn block, sealed without waiting,
  /// is preferred. Replicas refuse out-of-turn blocks dated earlier than parent + this delay.
  std::chrono::milliseconds out_of_turn_delay{15000};
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

namespace ledger_detail {
/// One author's key, raw and loaded.
struct member_key {
  std::vector<std::uint8_t> raw;
  std::shared_ptr<const Botan::Ed25519_PublicKey> key;
};

/// Who counts at one height: the sealers in turn order, every author's key (sealers included) and
/// the open votes. Replayed from genesis by every replica, so all agree on it at every height.
struct membership {
  std::vector<std::string> sealers;
  std::map<std::string, member_key, std::less<>> authors;
  std::map<std::string, std::set<std::string>, std::less<>> tallies;  // "add|id|key" or "remove|id" -> voters

  [[nodiscard]] bool is_sealer(std::string_view id) const {
    return std::find(sealers.begin(), sealers.end(), id) != sealers.end();
  }
  [[nodiscard]] const std::string& in_turn(std::uint64_t height) const {
    return sealers[static_cast<std::size_t>((height - 1) % sealers.size())];
  }
  [[nodiscard]] const member_key* key_of(std::string_view id) const {
    const auto it = authors.find(id);
    return it == authors.end() ? nullptr : &it->second;
  }
};

inline bool ed25519_verifies(const Botan::Ed25519_PublicKey& key, const sha256_digest& message,
                             const std::vector<std::uint8_t>& signature) {
  if (signature.size() != 64) return false;
  Botan::PK_Verifier verifier(key, "Pure");
  return verifier.verify_message(message.data(), message.size(), signature.data(), signature.size());
}

inline member_key load_key(const std::vector<std::uint8_t>& raw) {
  return {raw, std::make_shared<const Botan::Ed25519_PublicKey>(raw)};
}
} // namespace ledger_detail

/// An append-only Proof-of-Authority ledger node (one replica).
///
/// Transactions are buffered by submit(), which signs each one as this node (its author) or, for an
/// entry another node already signed, checks that signature; every replica checks every entry's
/// author signature again before accepting a block, so no sealer can log an entry in another node's
/// name. A block is cut when max_block_transactions are pending or the oldest pending one is
/// max_block_delay old (checked on submit() and tick()) by the node whose turn it is: sealer
/// (h - 1) mod n seals height h. Another sealer may seal out of turn once out_of_turn_delay has passed
/// since the parent and the oldest entry has waited that long beyond max_block_delay, so one sealer
/// down does not halt the chain; when both an in-turn and an out-of-turn block for the newest height
/// arrive, the in-turn one wins (Clique, EIP-225, depth-1 forks only). A sealer that signs two
/// different blocks at one height is caught (evidence()), and the evidence goes on the ledger. The
/// sealer set changes by sealer_vote entries sealed on the chain; a removed sealer's key stops
/// counting for blocks and entries. All members are thread-safe.
class ledger {
public:
  /// A replica of the chain that starts with @p genesis; @p self is this node's key when it is a sealer
  /// or an author listed in the genesis block (it signs this node's entries and, for a sealer, blocks).
  /// @throws hefl::invalid_argument if genesis is not a well-formed genesis block, the config is out
  ///         of range, or self is neither a genesis sealer nor a genesis author with the same public key
  explicit ledger(block genesis, ledger_config config = {}, std::optional<sealer_key> self = std::nullopt)
      : m_config(std::move(config)), m_self(std::move(self)) {
    if (m_config.max_block_transactions == 0 || m_config.max_block_transactions > 100000)
      throw invalid_argument("ledger: max_block_transactions must be 1..100000, got " +
                             std::to_string(m_config.max_block_transactions));
    if (m_config.max_block_delay.count() < 0 || m_config.max_clock_skew.count() < 0 ||
        m_config.out_of_turn_delay.count() < 0)
      throw invalid_argument("ledger: max_block_delay, max_clock_skew and out_of_turn_delay must not be negative");
    if (m_config.max_pending < m_config.max_block_transactions)
      throw invalid_argument("ledger: max_pending " + std::to_string(m_config.max_pending) +
                             " is below max_block_transactions " + std::to_string(m_config.max_block_transactions));
    if (!m_config.clock) m_config.clock = ledger_now;
    m_genesis_members = load_members(genesis);
    if (m_self) {
      const auto* k = m_genesis_members.key_of(m_self->id());
      if (!k)
        throw invalid_argument("ledger: this node's key '" + m_self->id() +
                               "' is not a sealer (nor an author) of the genesis block");
      if (k->raw != m_self->identity().public_key)
        throw invalid_argument("ledger: key of '" + m_self->id() + "' differs from the one in the genesis block");
    }
    m_genesis_hash = genesis.hash();
    m_members = m_genesis_members;
    m_members_before_head = m_genesis_members;
    index_block(genesis, 0);
    m_hashes.push_back(m_genesis_hash);
    m_blocks.push_back(std::move(genesis));
  }

  ledger(const ledger&) = delete;
  ledger& operator=(const ledger&) = delete;

  /// Buffers a transaction for the next block and seals if a block is due and this node may seal.
  /// An unsigned entry is signed as this node (its author); an entry that carries an author's
  /// signature (relayed from pending() of another node) keeps it, after the signature is checked. A
  /// replica without a key keeps unsigned entries in its pool for a keyed node to take over.
  /// Submitting a transaction that is already pending or in the chain changes nothing.
  /// @returns the transaction id
  /// @throws hefl::invalid_argument for a genesis transaction;
  ///         hefl::iot::ledger_entry_refused (a hefl::security_error) for a signed entry whose author
  ///         is unknown or whose signature does not verify, or when this node's key no longer counts;
  ///         hefl::security_error when max_pending transactions are already waiting (fail closed:
  ///         an event that cannot be logged must not be acted on)
  sha256_digest submit(transaction tx) {
    if (tx.kind() == tx_kind::genesis)
      throw invalid_argument("ledger::submit: genesis transactions belong only in block 0");
    const std::lock_guard lock(m_mutex);
    return submit_locked(std::move(tx));
  }

  /// @p tx signed by this node as its author (what submit() does to an unsigned entry), for callers
  /// that must persist the exact entry before submitting it (record_store's pending journal).
  /// @throws hefl::invalid_argument if this replica has no key
  [[nodiscard]] transaction sign_entry(const transaction& tx) const {
    if (!m_self) throw invalid_argument("ledger::sign_entry: this replica has no key to sign with");
    auto signature = m_self->sign(transaction::author_message(m_genesis_hash, m_self->id(), tx.id()));
    {
      const std::lock_guard lock(m_memo_mutex);
      if (m_signed_memo.size() >= signed_memo_size) m_signed_memo.pop_front();
      m_signed_memo.emplace_back(tx.id(), signature);
    }
    return tx.with_author(m_self->id(), std::move(signature));
  }

  /// Submits this node's vote to add or remove @p candidate (see sealer_vote()).
  /// @returns the vote's transaction id
  /// @throws hefl::invalid_argument if this replica has no key; as submit() otherwise
  sha256_digest vote(vote_action action, const sealer_identity& candidate) {
    if (!m_self) throw invalid_argument("ledger::vote: this replica has no key to vote with");
    return submit(sealer_vote(m_self->id(), action, candidate, m_config.clock()));
  }

  /// Seals the blocks that are due at @p now (by count or by age) if this node may seal.
  /// @returns the number of blocks sealed
  /// @throws nothing beyond std::bad_alloc
  std::size_t tick(ledger_time now) {
    const std::lock_guard lock(m_mutex);
    return seal_due_locked(now, false);
  }

  /// Seals every pending transaction now, whatever the thresholds, if it is this node's turn (or,
  /// out of turn, once the out-of-turn delay has passed).
  /// @returns the number of blocks sealed
  /// @throws nothing beyond std::bad_alloc
  std::size_t flush() {
    const std::lock_guard lock(m_mutex);
    return seal_due_locked(m_config.clock(), true);
  }

  /// Verifies a block from a peer as the next block (height, previous hash, sealer and turn,
  /// signature, Merkle root, time, duplicates, each entry's author signature, votes) and appends it
  /// only if all hold; included transactions leave the pending pool. A block for the newest height
  /// that is in turn replaces an out-of-turn head (its other entries go back to the pool). A block
  /// signed by the sealer of the block this replica holds at that height, but different from it, is
  /// refused as equivocation and the evidence kept (and, on a keyed node, logged).
  /// @throws nothing beyond std::bad_alloc
  block_check accept_block(const block& b) {
    const std::lock_guard lock(m_mutex);
    const auto h = m_blocks.size();
    if (b.header.height >= 1 && b.header.height < h) {
      if (auto c = check_equivocation_locked(b); !c) return c;
      if (b.header.height == h - 1 && b.hash() != m_hashes.back()) {
        if (auto c = try_replace_head_locked(b)) return *c;
      }
    }
    std::optional<ledger_detail::membership> changed;
    auto check = check_block(m_members, b, h, m_hashes.back(), m_blocks.back().header.time, nullptr,
                             [&](const sha256_digest& id) { return m_index.contains(id); }, &changed, true);
    if (check && b.header.time > m_config.clock() + m_config.max_clock_skew)
      check = {block_fault::bad_timestamp,
               "block " + std::to_string(h) + " is dated " + std::to_string(b.header.time.time_since_epoch().count()) +
                   " ms, more than max_clock_skew ahead of now"};
    if (!check) return check;
    append_locked(b, std::move(changed));
    return check;
  }

  /// Pulls and accepts every block @p peer has beyond this replica's height, and its newest block
  /// when that one is preferred to this replica's head (see accept_block()). A competing head that
  /// is not preferred ends the pull without error: the peer adopts this replica's head when it pulls.
  /// @returns the first refusal, or a passing check when all were accepted
  /// @throws nothing beyond std::bad_alloc
  block_check sync_from(const ledger& peer) {
    const auto mine = height();
    for (const auto& b : peer.blocks_from(mine == 0 ? 1 : mine)) {
      const auto h = b.header.height;
      if (h <= height() && b.hash() == hash_at(h)) continue;
      const bool competing = h <= height();
      if (auto c = accept_block(b); !c) {
        if (competing && c.fault != block_fault::equivocation) return {};
        return c;
      }
    }
    return {};
  }

  /// Adopts a stored chain (block 0 first) after verifying all of it; only on a fresh replica. The
  /// chain must reach each of @p checkpoints: a head below a checkpoint's height is refused as
  /// truncated, another block at that height or a bad signature as bad_checkpoint.
  /// @throws hefl::invalid_argument if this replica already has blocks beyond genesis;
  ///         hefl::ledger_integrity_error naming the first bad block (or the checkpoint's fault)
  void restore(std::vector<block> chain, std::span<const head_checkpoint> checkpoints = {}) {
    const std::lock_guard lock(m_mutex);
    if (m_blocks.size() != 1)
      throw invalid_argument("ledger::restore: replica already holds " + std::to_string(m_blocks.size()) + " blocks");
    ledger_detail::membership members, before_head;
    auto report = verify_chain_locked(chain, &members, &before_head);
    if (!report.ok()) throw ledger_integrity_error(std::move(report));
    if (!checkpoints.empty()) {
      std::vector<sha256_digest> hashes;
      hashes.reserve(chain.size());
      for (const auto& b : chain) hashes.push_back(b.hash());
      for (const auto& cp : checkpoints) {
        auto c = check_checkpoint_locked(cp, hashes, members);
        if (c) continue;
        verify_report r;
        r.blocks_checked = chain.size();
        r.bad_block = std::min<std::uint64_t>(cp.height, chain.size());
        r.fault = c.fault;
        r.message = std::move(c.message);
        throw ledger_integrity_error(std::move(r));
      }
    }
    m_index.clear();
    m_blocks.clear();
    m_hashes.clear();
    for (auto& b : chain) {
      index_block(b, m_blocks.size());
      m_hashes.push_back(b.hash());
      m_blocks.push_back(std::move(b));
    }
    m_members = std::move(members);
    m_members_before_head = std::move(before_head);
    for (const auto& [id, loc] : m_index) m_pending_ids.erase(id);
    std::erase_if(m_pending, [&](const pending_tx& p) { return !m_pending_ids.contains(p.tx.id()); });
  }

  /// A checkpoint of this replica's head signed with its key, to store next to the chain or hand to
  /// peers; nullopt on a replica without a key.
  /// @throws nothing beyond std::bad_alloc
  [[nodiscard]] std::optional<head_checkpoint> checkpoint() const {
    if (!m_self) return std::nullopt;
    const std::lock_guard lock(m_mutex);
    head_checkpoint cp;
    cp.height = m_blocks.size() - 1;
    cp.head = m_hashes.back();
    cp.signer = m_self->id();
    cp.signature = m_self->sign(cp.message(m_genesis_hash));
    return cp;
  }

  /// Checks @p cp against this replica: signed by an author (or this node), and this chain holds the
  /// block it names. A checkpoint above the head means this chain lost blocks (fault truncated).
  /// @throws nothing beyond std::bad_alloc
  [[nodiscard]] block_check check_checkpoint(const head_checkpoint& cp) const {
    const std::lock_guard lock(m_mutex);
    return check_checkpoint_locked(cp, m_hashes, m_members);
  }

  /// Every equivocation seen (two different blocks signed by one sealer at one height), oldest first.
  [[nodiscard]] std::vector<equivocation_evidence> evidence() const {
    const std::lock_guard lock(m_mutex);
    return m_evidence;
  }

  /// Walks this replica's whole chain and reports the first bad block.
  /// @throws nothing beyond std::bad_alloc
  [[nodiscard]] verify_report verify() const {
    const std::lock_guard lock(m_mutex);
    return verify_chain_locked(m_blocks, nullptr, nullptr);
  }

  /// Verifies any chain (block 0 first) against this replica's genesis, e.g. a copy read from disk
  /// or received from a peer (sealer set and authors replayed from genesis, votes included).
  /// @throws nothing beyond std::bad_alloc
  [[nodiscard]] verify_report verify_chain(std::span<const block> chain) const {
    const std::lock_guard lock(m_mutex);
    return verify_chain_locked(chain, nullptr, nullptr);
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
  /// The sealers at the head, in turn order.
  [[nodiscard]] std::vector<sealer_identity> sealers() const {
    const std::lock_guard lock(m_mutex);
    std::vector<sealer_identity> out;
    for (const auto& id : m_members.sealers) out.push_back({id, m_members.authors.at(id).raw});
    return out;
  }
  /// Whether @p id's key counts for entries at the head (sealers and genesis authors, minus removed ones).
  [[nodiscard]] bool is_author(std::string_view id) const {
    const std::lock_guard lock(m_mutex);
    return m_members.key_of(id) != nullptr;
  }
  /// Id of the sealer in turn for block @p height (>= 1) under the head's sealer set.
  /// @throws hefl::invalid_argument for height 0 (genesis has no sealer)
  [[nodiscard]] std::string expected_sealer(std::uint64_t height) const {
    if (height == 0) throw invalid_argument("ledger::expected_sealer: the genesis block is not sealed");
    const std::lock_guard lock(m_mutex);
    return m_members.in_turn(height);
  }
  /// This node's id, if it has a key.
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
  /// Copies of the pending transactions with their author signatures, oldest first (to forward to
  /// the sealer in turn, whose submit() keeps the signatures).
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
  /// Whether transaction @p id is sealed in the chain.
  [[nodiscard]] bool contains(const sha256_digest& id) const {
    const std::lock_guard lock(m_mutex);
    return m_index.contains(id);
  }
  /// Height of the block holding transaction @p id, if sealed.
  [[nodiscard]] std::optional<std::uint64_t> height_of(const sha256_digest& id) const {
    const std::lock_guard lock(m_mutex);
    const auto it = m_index.find(id);
    return it == m_index.end() ? std::nullopt : std::optional<std::uint64_t>(it->second.first);
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

  using membership = ledger_detail::membership;

  static membership load_members(const block& g) {
    const auto bad = [](const std::string& why) { return invalid_argument("ledger: not a genesis block: " + why); };
    if (g.header.height != 0) throw bad("height is " + std::to_string(g.header.height) + ", expected 0");
    if (g.header.previous != sha256_digest{}) throw bad("previous hash is not zero");
    if (!g.header.sealer.empty() || !g.signature.empty()) throw bad("genesis is not sealed, but names a sealer");
    if (g.transactions.size() != 1 || g.transactions[0].kind() != tx_kind::genesis)
      throw bad("expected exactly one genesis transaction");
    if (g.tree().root() != g.header.merkle_root) throw bad("Merkle root does not match its transaction");
    membership m;
    const auto read = [&](const nlohmann::json& list, bool sealers) {
      for (const auto& s : list) {
        if (!s.is_object() || !s.contains("id") || !s.contains("key") || !s["id"].is_string() || !s["key"].is_string())
          throw bad("each sealer and author needs string id and key");
        const auto id = s["id"].get<std::string>();
        sealer_key::check_id(id);
        std::vector<std::uint8_t> raw;
        try {
          raw = Botan::unlock(Botan::hex_decode_locked(s["key"].get<std::string>()));
        } catch (const Botan::Exception&) {
          throw bad("key of '" + id + "' is not hex");
        }
        if (raw.size() != 32) throw bad("key of '" + id + "' is " + std::to_string(raw.size()) + " bytes, expected 32");
        if (m.authors.contains(id)) throw bad("'" + id + "' listed twice");
        m.authors.emplace(id, ledger_detail::load_key(raw));
        if (sealers) m.sealers.push_back(id);
      }
    };
    const auto& fields = g.transactions[0].fields();
    const auto& list = fields.value("sealers", nlohmann::json());
    if (!list.is_array() || list.empty() || list.size() > 64) throw bad("sealers must be a list of 1..64 entries");
    read(list, true);
    if (fields.contains("authors")) {
      const auto& authors = fields["authors"];
      if (!authors.is_array() || authors.size() > 64) throw bad("authors must be a list of at most 64 entries");
      read(authors, false);
    }
    return m;
  }

  void index_block(const block& b, std::uint64_t height) {
    for (std::size_t i = 0; i < b.transactions.size(); ++i) m_index.emplace(b.transactions[i].id(), std::pair{height, i});
  }

  sha256_digest hash_at(std::uint64_t h) const {
    const std::lock_guard lock(m_mutex);
    return h < m_hashes.size() ? m_hashes[h] : sha256_digest{};
  }

  sha256_digest submit_locked(transaction tx) {
    const auto id = tx.id();
    if (m_index.contains(id) || m_pending_ids.contains(id)) return id;
    if (m_pending.size() >= m_config.max_pending)
      throw security_error("ledger::submit: " + std::to_string(m_pending.size()) +
                           " transactions already pending (max_pending); sealer in turn is '" +
                           m_members.in_turn(m_blocks.size()) + "'");
    if (tx.is_signed()) {
      const auto msg = transaction::author_message(m_genesis_hash, tx.author(), id);
      const auto* k = m_members.key_of(tx.author());
      if (!k)
        throw ledger_entry_refused(block_fault::unknown_author,
                                   "'" + tx.author() + "' is not an author of this chain (or was removed)");
      // Ed25519 is deterministic (RFC 8032): our own entry carries the one signature our key gives
      // it, so comparing with what sign_entry() just produced, or else re-signing, is the whole check.
      const bool ok = m_self && tx.author() == m_self->id()
                          ? signed_here(id, tx.author_signature()) || m_self->sign(msg) == tx.author_signature()
                          : ledger_detail::ed25519_verifies(*k->key, msg, tx.author_signature());
      if (!ok)
        throw ledger_entry_refused(block_fault::bad_author_signature,
                                   "the signature of '" + tx.author() + "' does not verify for entry " +
                                       ledger_detail::to_hex(id).substr(0, 16) + "...");
      m_pending_ids.emplace(id, std::pair{tx.author(), tx.author_signature()});
    } else if (m_self) {
      if (!m_members.key_of(m_self->id()))
        throw ledger_entry_refused(block_fault::unknown_author,
                                   "this node's key '" + m_self->id() + "' no longer counts (removed by vote)");
      tx = tx.with_author(m_self->id(), m_self->sign(transaction::author_message(m_genesis_hash, m_self->id(), id)));
      m_pending_ids.emplace(id, std::pair{tx.author(), tx.author_signature()});
    } else {
      m_pending_ids.emplace(id, pool_signature{});  // unsigned: a keyed node takes it over
    }
    const auto now = m_config.clock();
    m_pending.push_back({std::move(tx), now});
    seal_due_locked(now, false);
    return id;
  }

  // Whether sign_entry() produced @p signature for entry @p id (consumed on a hit).
  bool signed_here(const sha256_digest& id, const std::vector<std::uint8_t>& signature) const {
    const std::lock_guard lock(m_memo_mutex);
    const auto it = std::find_if(m_signed_memo.rbegin(), m_signed_memo.rend(),
                                 [&](const auto& e) { return e.first == id; });
    if (it == m_signed_memo.rend() || it->second != signature) return false;
    m_signed_memo.erase(std::next(it).base());
    return true;
  }

  // Votes change who counts: applies one (already checked) vote entry to @p m.
  static void apply_vote(membership& m, const transaction& tx) {
    const auto& f = tx.fields();
    const auto action = f["action"].get<std::string>();
    const auto target = f["sealer"].get<std::string>();
    const auto key = action == "add" ? "add|" + target + "|" + f["key"].get<std::string>() : "remove|" + target;
    auto& voters = m.tallies[key];
    voters.insert(tx.author());
    if (voters.size() * 2 <= m.sealers.size()) return;
    if (action == "add") {
      if (!m.is_sealer(target)) {
        m.sealers.push_back(target);
        m.authors[target] = ledger_detail::load_key(Botan::hex_decode(f["key"].get<std::string>(), false));
      }
    } else if (m.is_sealer(target) && m.sealers.size() > 1) {
      std::erase(m.sealers, target);
      m.authors.erase(target);
      for (auto& [k, v] : m.tallies) v.erase(target);  // a removed sealer's votes stop counting
    }
    std::erase_if(m.tallies, [&](const auto& t) {
      return t.second.empty() || t.first == "remove|" + target || t.first.starts_with("add|" + target + "|");
    });
  }

  // The shape of a vote, and that its voter is its author and a sealer of that moment.
  static std::optional<std::string> vote_problem(const membership& m, const transaction& tx) {
    const auto& f = tx.fields();
    const auto str = [&](const char* k) { return f.contains(k) && f[k].is_string(); };
    if (!str("voter") || !str("action") || !str("sealer")) return "a vote needs string voter, action and sealer";
    const auto action = f["action"].get<std::string>();
    if (action != "add" && action != "remove") return "vote action '" + action + "' is neither add nor remove";
    const auto target = f["sealer"].get<std::string>();
    if (target.empty() || target.size() > 128) return std::string("vote names an invalid sealer id");
    if (action == "add") {
      if (!str("key")) return std::string("an add vote needs the candidate's key");
      const auto k = f["key"].get<std::string>();
      if (k.size() != 64 || !std::all_of(k.begin(), k.end(), [](char c) {
            return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
          }))
        return std::string("an add vote's key must be 32 bytes of lower-case hex");
    }
    if (f["voter"].get<std::string>() != tx.author())
      return "vote names voter '" + f["voter"].get<std::string>() + "' but is signed by '" + tx.author() + "'";
    if (!m.is_sealer(tx.author())) return "'" + tx.author() + "' votes but is not a sealer";
    return std::nullopt;
  }

  // The author signature of one entry under @p m. @p trusted skips the signature check for an entry
  // this replica already verified in its pool (same author, same signature).
  block_check check_author(const membership& m, const transaction& tx, const std::string& where, bool trusted) const {
    if (!tx.is_signed()) return {block_fault::unknown_author, where + " has no author signature"};
    const auto* k = m.key_of(tx.author());
    if (!k) return {block_fault::unknown_author, where + " is signed by '" + tx.author() + "', not an author here"};
    if (!trusted &&
        !ledger_detail::ed25519_verifies(*k->key, transaction::author_message(m_genesis_hash, tx.author(), tx.id()),
                                         tx.author_signature()))
      return {block_fault::bad_author_signature,
              where + ": the signature of '" + tx.author() + "' does not verify (sealed in another node's name?)"};
    return {};
  }

  // The pool's copy was checked; the block's copy must be that same signature by that same author.
  bool verified_in_pool(const transaction& tx) const {
    const auto it = m_pending_ids.find(tx.id());
    return it != m_pending_ids.end() && !it->second.second.empty() && it->second.first == tx.author() &&
           it->second.second == tx.author_signature();
  }

  std::size_t seal_due_locked(ledger_time now, bool force) {
    std::size_t sealed = 0;
    while (!m_pending.empty() && m_self && m_members.is_sealer(m_self->id())) {
      const auto h = m_blocks.size();
      const auto parent_time = m_blocks.back().header.time;
      const bool in_turn = m_members.in_turn(h) == m_self->id();
      const bool full = m_pending.size() >= m_config.max_block_transactions;
      const bool old = now - m_pending.front().arrived >= m_config.max_block_delay;
      if (in_turn ? !force && !full && !old
                  : now - m_pending.front().arrived < m_config.max_block_delay + m_config.out_of_turn_delay ||
                        now - parent_time < m_config.out_of_turn_delay)
        break;
      block b;
      std::optional<membership> changed;
      const auto take = std::min(m_pending.size(), m_config.max_block_transactions);
      b.transactions.reserve(take);
      while (!m_pending.empty() && b.transactions.size() < take) {
        auto tx = std::move(m_pending.front().tx);
        m_pending.pop_front();
        m_pending_ids.erase(tx.id());
        const auto& m = changed ? *changed : m_members;
        // Entries that can never be sealed (unsigned, author removed, vote by a non-sealer) are dropped.
        if (!tx.is_signed() || !m.key_of(tx.author())) continue;
        if (tx.kind() == tx_kind::sealer_vote) {
          if (vote_problem(m, tx)) continue;
          if (!changed) changed = m_members;
          apply_vote(*changed, tx);
        }
        b.transactions.push_back(std::move(tx));
      }
      if (b.transactions.empty()) continue;
      b.header.height = h;
      b.header.previous = m_hashes.back();
      b.header.merkle_root = b.tree().root();
      // Never older than the parent, even if the wall clock stepped back: peers refuse that.
      b.header.time = std::max(now, parent_time);
      b.header.sealer = m_self->id();
      b.signature = m_self->sign(b.hash());
      append_locked(std::move(b), std::move(changed));
      ++sealed;
    }
    return sealed;
  }

  // Appends a checked block; @p changed is the sealer set after it when its votes changed anything.
  template <class Block>
  void append_locked(Block&& b, std::optional<membership> changed) {
    const auto h = m_blocks.size();
    index_block(b, h);
    for (const auto& tx : b.transactions) m_pending_ids.erase(tx.id());
    std::erase_if(m_pending, [&](const pending_tx& p) { return !m_pending_ids.contains(p.tx.id()); });
    m_members_before_head = m_members;
    if (changed) m_members = std::move(*changed);
    m_hashes.push_back(b.hash());
    m_blocks.push_back(std::forward<Block>(b));
  }

  // Two different blocks at one height, both signed by the sealer of the one this replica holds.
  block_check check_equivocation_locked(const block& b) {
    const auto h = b.header.height;
    const auto& mine = m_blocks[h];
    const auto hash = b.hash();
    if (mine.header.sealer != b.header.sealer || hash == m_hashes[h]) return {};
    const auto* k = m_members.key_of(b.header.sealer);
    if (!k) k = m_members_before_head.key_of(b.header.sealer);
    if (!k || !ledger_detail::ed25519_verifies(*k->key, hash, b.signature)) return {};
    const auto already = std::any_of(m_evidence.begin(), m_evidence.end(), [&](const equivocation_evidence& e) {
      return e.height == h && e.sealer == b.header.sealer && e.second.hash() == hash;
    });
    if (!already) {
      m_evidence.push_back({b.header.sealer, h, mine.header, mine.signature, b.header, b.signature});
      if (m_self && m_members.key_of(m_self->id())) {
        const auto header_json = [](const block_header& hd, const std::vector<std::uint8_t>& sig) {
          return nlohmann::json{{"previous", ledger_detail::to_hex(hd.previous)},
                                {"merkle_root", ledger_detail::to_hex(hd.merkle_root)},
                                {"time", hd.time.time_since_epoch().count()},
                                {"signature", ledger_detail::to_hex(sig)}};
        };
        try {
          submit_locked(transaction(tx_kind::custom,
                                    {{"type", "equivocation"},
                                     {"sealer", b.header.sealer},
                                     {"height", h},
                                     {"first", header_json(mine.header, mine.signature)},
                                     {"second", header_json(b.header, b.signature)}},
                                    m_config.clock()));
        } catch (const hefl::error&) {  // a full pool: the evidence is still kept in memory
        }
      }
    }
    return {block_fault::equivocation, "block " + std::to_string(h) + ": '" + b.header.sealer +
                                           "' already signed another block at this height (evidence kept)"};
  }

  // Fork choice for the newest height: an in-turn block replaces an out-of-turn head; between two
  // out-of-turn blocks the lower hash wins, so replicas converge. nullopt: not a replacement case.
  std::optional<block_check> try_replace_head_locked(const block& b) {
    const auto h = m_blocks.size() - 1;
    const auto& head = m_blocks[h];
    const auto& before = m_members_before_head;
    const bool head_in_turn = before.in_turn(h) == head.header.sealer;
    const bool new_in_turn = before.in_turn(h) == b.header.sealer;
    const auto hash = b.hash();
    if (head_in_turn || (!new_in_turn && !(hash < m_hashes[h]))) return std::nullopt;
    std::optional<membership> changed;
    auto check = check_block(before, b, h, m_hashes[h - 1], m_blocks[h - 1].header.time, nullptr,
                             [&](const sha256_digest& id) {
                               const auto it = m_index.find(id);
                               return it != m_index.end() && it->second.first < h;
                             },
                             &changed, true);
    if (check && b.header.time > m_config.clock() + m_config.max_clock_skew)
      check = {block_fault::bad_timestamp, "block " + std::to_string(h) + " is dated too far ahead of now"};
    if (!check) return check;
    // The replaced head's entries that the new block lacks go back to the pool, oldest first.
    std::set<sha256_digest> kept;
    for (const auto& tx : b.transactions) kept.insert(tx.id());
    auto old = std::move(m_blocks.back());
    for (const auto& tx : old.transactions) m_index.erase(tx.id());
    m_blocks.pop_back();
    m_hashes.pop_back();
    m_members = m_members_before_head;
    const auto now = m_config.clock();
    for (auto it = old.transactions.rbegin(); it != old.transactions.rend(); ++it)
      if (!kept.contains(it->id()) && !m_pending_ids.contains(it->id())) {
        m_pending_ids.emplace(it->id(), std::pair{it->author(), it->author_signature()});
        m_pending.push_front({*it, now});
      }
    // append_locked sets "before head" from m_members, which is the state before height h again.
    append_locked(b, std::move(changed));
    return check;
  }

  // Checks @p b as block @p h on top of a parent under sealer set @p m. @p successor_previous, when
  // the next block is known, tells a header edited after sealing (the next block links to the old
  // hash) apart from a signature that was swapped or forged (the next block still links to this
  // header). @p changed receives the sealer set after the block when its votes changed it.
  template <class Seen>
  block_check check_block(const membership& m, const block& b, std::uint64_t h, const sha256_digest& parent_hash,
                          ledger_time parent_time, const sha256_digest* successor_previous, Seen&& seen,
                          std::optional<membership>* changed, bool use_pool) const {
    const auto name = "block " + std::to_string(h);
    if (b.header.height != h)
      return {block_fault::out_of_order,
              name + ": expected height " + std::to_string(h) + ", header says " + std::to_string(b.header.height)};
    if (b.transactions.size() > m_config.max_block_transactions)
      return {block_fault::oversized, name + ": " + std::to_string(b.transactions.size()) +
                                          " transactions, at most " +
                                          std::to_string(m_config.max_block_transactions) + " allowed"};
    const auto hash = b.hash();
    const bool known = m.is_sealer(b.header.sealer);
    const auto* k = known ? m.key_of(b.header.sealer) : nullptr;
    if (!known || !ledger_detail::ed25519_verifies(*k->key, hash, b.signature)) {
      if (successor_previous && *successor_previous != hash)
        return {block_fault::tampered_header,
                name + ": header hash " + ledger_detail::to_hex(hash).substr(0, 16) +
                    "... is not the one block " + std::to_string(h + 1) + " links to, and its signature fails"};
      if (!known)
        return {block_fault::unknown_sealer,
                name + ": sealed by '" + b.header.sealer + "', not a sealer at this height"};
      return {block_fault::bad_signature, name + ": signature of '" + b.header.sealer + "' does not verify"};
    }
    if (const auto& expected = m.in_turn(h);
        b.header.sealer != expected && b.header.time < parent_time + m_config.out_of_turn_delay)
      return {block_fault::wrong_sealer,
              name + ": sealed by '" + b.header.sealer + "', but it is '" + expected +
                  "''s turn (round-robin by height) and out-of-turn blocks must wait " +
                  std::to_string(m_config.out_of_turn_delay.count()) + " ms after their parent"};
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
      const auto where = name + ": transaction " + std::to_string(i);
      if (tx.kind() == tx_kind::genesis) return {block_fault::malformed, where + " is a genesis entry"};
      if (seen(tx.id()) || !local.insert(tx.id()).second)
        return {block_fault::duplicate_transaction,
                where + " (" + ledger_detail::to_hex(tx.id()).substr(0, 16) + "...) is already in the chain"};
    }
    // Authors last: the cheap structural faults above are named first, and signatures cost most.
    std::optional<membership> after;
    for (std::size_t i = 0; i < b.transactions.size(); ++i) {
      const auto& tx = b.transactions[i];
      const auto where = name + ": transaction " + std::to_string(i);
      const auto& now = after ? *after : m;
      if (auto c = check_author(now, tx, where, use_pool && verified_in_pool(tx)); !c) return c;
      if (tx.kind() == tx_kind::sealer_vote) {
        if (auto problem = vote_problem(now, tx)) return {block_fault::bad_vote, where + ": " + *problem};
        if (!after) after = m;
        apply_vote(*after, tx);
      }
    }
    if (changed) *changed = std::move(after);
    return {};
  }

  verify_report verify_chain_locked(std::span<const block> chain, membership* final_members,
                                    membership* before_head) const {
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
    membership members = m_genesis_members;
    membership previous = members;
    auto parent_hash = g_hash;
    for (std::size_t h = 1; h < chain.size(); ++h) {
      const sha256_digest* next = h + 1 < chain.size() ? &chain[h + 1].header.previous : nullptr;
      std::optional<membership> changed;
      auto c = check_block(members, chain[h], h, parent_hash, chain[h - 1].header.time, next,
                           [&](const sha256_digest& id) { return seen.contains(id); }, &changed, false);
      if (!c) return fail(h, std::move(c));
      for (const auto& tx : chain[h].transactions) seen.insert(tx.id());
      if (before_head) previous = members;
      if (changed) members = std::move(*changed);
      parent_hash = chain[h].hash();
      ++r.blocks_checked;
    }
    if (final_members) *final_members = std::move(members);
    if (before_head) *before_head = std::move(previous);
    return r;
  }

  block_check check_checkpoint_locked(const head_checkpoint& cp, const std::vector<sha256_digest>& hashes,
                                      const membership& m) const {
    const auto* k = m.key_of(cp.signer);
    const bool self_signed = m_self && m_self->id() == cp.signer;
    const auto msg = cp.message(m_genesis_hash);
    const bool ok = self_signed ? m_self->sign(msg) == cp.signature
                                : k && ledger_detail::ed25519_verifies(*k->key, msg, cp.signature);
    if (!ok)
      return {block_fault::bad_checkpoint,
              "checkpoint of height " + std::to_string(cp.height) + ": signature of '" + cp.signer + "' does not verify"};
    const auto head = hashes.size() - 1;
    if (cp.height > head)
      return {block_fault::truncated, "the chain ends at height " + std::to_string(head) + ", but '" + cp.signer +
                                          "' signed a checkpoint of height " + std::to_string(cp.height) +
                                          ": newer blocks were removed"};
    if (hashes[cp.height] != cp.head)
      return {block_fault::bad_checkpoint, "block " + std::to_string(cp.height) +
                                               " is not the block the checkpoint of '" + cp.signer + "' names"};
    return {};
  }

  ledger_config m_config;
  std::optional<sealer_key> m_self;
  membership m_genesis_members;
  sha256_digest m_genesis_hash{};
  mutable std::mutex m_mutex;
  membership m_members;              // after the head
  membership m_members_before_head;  // after the head's parent (fork choice replaces the head)
  std::vector<block> m_blocks;
  std::vector<sha256_digest> m_hashes;
  // std::map, not a hash map: ids come from untrusted peers, and ordered lookups cannot be flooded.
  std::map<sha256_digest, std::pair<std::uint64_t, std::size_t>> m_index;
  std::deque<pending_tx> m_pending;
  // id -> the author and signature checked on entry to the pool (empty for an unsigned entry).
  using pool_signature = std::pair<std::string, std::vector<std::uint8_t>>;
  std::map<sha256_digest, pool_signature> m_pending_ids;
  std::vector<equivocation_evidence> m_evidence;
  // Signatures sign_entry() made, newest last, so submit() of the same entry need not sign it again
  // (record_store signs an entry to journal it, then submits it). Bounded: a miss re-signs.
  static constexpr std::size_t signed_memo_size = 64;
  mutable std::mutex m_memo_mutex;
  mutable std::deque<std::pair<sha256_digest, std::vector<std::uint8_t>>> m_signed_memo;
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
