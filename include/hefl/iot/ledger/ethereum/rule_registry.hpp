#pragma once
/// @file
/// The rule manager reading from the RuleRegistry contract (issue 14). A group's rule document on
/// chain is an admin-signed deployment (the rule contract JSON, the admin's signature and X.509
/// certificate, as sign_deployment() makes it), so two checks apply: the chain lets only its admin
/// account call setRule and only with a higher version, and the rule manager verifies the hospital
/// admin's signature before installing. rule_registry_reader refuses a version lower than one it has
/// already seen on chain (rollback), and feeds rule_manager::deploy(), whose contract the collector
/// validator checks payloads against.

#include <hefl/iot/collection/rules.hpp>
#include <hefl/iot/ledger/ethereum/contract_artifacts.hpp>
#include <hefl/iot/ledger/ethereum/json_rpc.hpp>
#include <hefl/iot/ledger/ethereum/keccak.hpp>
#include <hefl/iot/ledger/ethereum/revert_reason.hpp>
#include <hefl/iot/ledger/ethereum/sender.hpp>

#include <botan/data_src.h>
#include <botan/hex.h>
#include <botan/x509cert.h>

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace hefl::iot {

/// RuleRegistry.setRule reverted. reason() says which of the contract's errors applies (decoded from
/// the revert data of the transaction replayed with eth_call, ethereum::explain_revert); the message
/// names the error with its arguments.
class rule_registry_refused : public security_error {
public:
  /// The contract's custom errors this client tells apart.
  enum class reason_kind { not_admin, stale_version, other };
  rule_registry_refused(reason_kind r, const std::string& message) : security_error(message), m_reason(r) {}
  [[nodiscard]] reason_kind reason() const noexcept { return m_reason; }

private:
  reason_kind m_reason;
};

/// The registry reports a version below one this reader already installed: a rollback.
class rule_rollback : public security_error {
public:
  using security_error::security_error;
};

namespace ethereum::rule_registry_abi {

namespace detail {
inline bytes selector(std::string_view signature) {
  const hash32 h = keccak256(signature);
  return bytes(h.begin(), h.begin() + 4);
}
inline void put_word(bytes& out, std::uint64_t v) {
  std::uint8_t w[32] = {};
  for (int i = 0; i < 8; ++i) w[31 - i] = static_cast<std::uint8_t>(v >> (8 * i));
  out.insert(out.end(), w, w + 32);
}
inline void put_dynamic(bytes& out, std::span<const std::uint8_t> s) {
  put_word(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
  out.insert(out.end(), (32 - s.size() % 32) % 32, 0);
}
inline std::uint64_t get_word(const bytes& in, std::size_t offset, const char* what) {
  if (in.size() < offset + 32) throw malformed_reply(std::string("RuleRegistry reply: ") + what + " missing");
  for (std::size_t i = offset; i < offset + 24; ++i)
    if (in[i] != 0) throw malformed_reply(std::string("RuleRegistry reply: ") + what + " out of range");
  std::uint64_t v = 0;
  for (std::size_t i = offset + 24; i < offset + 32; ++i) v = v << 8 | in[i];
  return v;
}
inline std::span<const std::uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
} // namespace detail

/// Calldata of setRule(string group, uint64 version, bytes document) (Solidity ABI).
inline bytes encode_set_rule(std::string_view group, std::uint64_t version, std::span<const std::uint8_t> document) {
  bytes out = detail::selector("setRule(string,uint64,bytes)");
  detail::put_word(out, 3 * 32);
  detail::put_word(out, version);
  detail::put_word(out, 3 * 32 + 32 + (group.size() + 31) / 32 * 32);
  detail::put_dynamic(out, detail::as_bytes(group));
  detail::put_dynamic(out, document);
  return out;
}

/// Calldata of ruleOf(string group).
inline bytes encode_rule_of(std::string_view group) {
  bytes out = detail::selector("ruleOf(string)");
  detail::put_word(out, 32);
  detail::put_dynamic(out, detail::as_bytes(group));
  return out;
}

/// What ruleOf returns.
struct installed_rule {
  std::uint64_t version = 0;
  hash32 document_hash{};
  std::uint64_t updated_at = 0;
  bytes document;
};

/// Decodes ruleOf's return data and checks the document against its hash.
/// @throws ethereum::malformed_reply if truncated, out of range or the hash does not match
inline installed_rule decode_rule_of(const bytes& out) {
  installed_rule r;
  r.version = detail::get_word(out, 0, "version");
  if (out.size() < 64) throw malformed_reply("RuleRegistry reply: hash missing");
  std::copy(out.begin() + 32, out.begin() + 64, r.document_hash.begin());
  r.updated_at = detail::get_word(out, 64, "updatedAt");
  const std::uint64_t offset = detail::get_word(out, 96, "document offset");
  if (offset != 128) throw malformed_reply("RuleRegistry reply: unexpected document offset");
  const std::uint64_t len = detail::get_word(out, 128, "document length");
  if (len > out.size() - 160) throw malformed_reply("RuleRegistry reply: document truncated");
  r.document.assign(out.begin() + 160, out.begin() + 160 + static_cast<std::ptrdiff_t>(len));
  if (r.version != 0 && keccak256(std::span<const std::uint8_t>(r.document)) != r.document_hash)
    throw malformed_reply("RuleRegistry reply: document does not match its hash");
  return r;
}

/// The on-chain document of a signed deployment: {"contract": JSON text, "signature": hex, "signer": PEM}.
inline bytes document_of(const signed_deployment& d) {
  const nlohmann::json j{{"contract", std::string(d.contract.begin(), d.contract.end())},
                         {"signature", Botan::hex_encode(d.signature, false)},
                         {"signer", d.signer.PEM_encode()}};
  const std::string s = j.dump();
  return bytes(s.begin(), s.end());
}

/// Parses document_of()'s output.
/// @throws hefl::parse_error if it is not such a document
inline signed_deployment deployment_of(std::span<const std::uint8_t> document) {
  try {
    const auto j = nlohmann::json::parse(document.begin(), document.end());
    signed_deployment d;
    const auto contract = j.at("contract").get<std::string>();
    d.contract.assign(contract.begin(), contract.end());
    d.signature = Botan::hex_decode(j.at("signature").get<std::string>());
    Botan::DataSource_Memory pem(j.at("signer").get<std::string>());
    d.signer = Botan::X509_Certificate(pem);
    return d;
  } catch (const hefl::error&) {
    throw;
  } catch (const std::exception& e) {
    throw parse_error(std::string("RuleRegistry document is not a signed deployment: ") + e.what());
  }
}

} // namespace ethereum::rule_registry_abi

/// The admin side: installs a signed deployment under a group with RuleRegistry.setRule.
/// @throws rule_registry_refused (not_admin, stale_version or other) when the call reverts;
///         ethereum::node_unreachable, ethereum::receipt_timeout, ethereum::json_rpc_error
inline ethereum::receipt set_rule(const ethereum::json_rpc_client& rpc, ethereum::transaction_sender& admin,
                                  const ethereum::address& registry, std::string_view group, std::uint64_t version,
                                  const signed_deployment& d,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  namespace abi = ethereum::rule_registry_abi;
  ethereum::legacy_transaction call;
  call.gas_price = Botan::BigInt(rpc.gas_price());
  call.gas_limit = 3000000;
  call.to = registry;
  call.data = abi::encode_set_rule(group, version, abi::document_of(d));
  const ethereum::legacy_transaction sent = call;
  const ethereum::receipt r = rpc.await_receipt(admin.submit(std::move(call)).hash, timeout);
  if (r.success) return r;
  const ethereum::revert_reason why = ethereum::explain_revert(rpc, admin.account(), sent, r);
  const auto kind = why.name == "NotAdmin"       ? rule_registry_refused::reason_kind::not_admin
                    : why.name == "StaleVersion" ? rule_registry_refused::reason_kind::stale_version
                                                 : rule_registry_refused::reason_kind::other;
  throw rule_registry_refused(kind, "RuleRegistry.setRule reverted: " + why.text);
}

/// Reads groups' rules from a deployed RuleRegistry and installs them in a rule_manager. Thread-safe.
class rule_registry_reader {
public:
  rule_registry_reader(const ethereum::json_rpc_client& rpc, ethereum::address registry)
      : m_rpc(rpc), m_registry(registry) {}

  /// Reads @p group's rule and, if its version is new, hands the deployment to @p manager.
  /// @returns nullopt when the registry has no rule for the group or the version was already synced;
  ///          otherwise the manager's deployment_event (not accepted when the admin signature,
  ///          the contract or its version does not pass the manager's checks)
  /// @throws rule_rollback if the registry's version is below one this reader synced;
  ///         hefl::parse_error if the document is not a signed deployment or its contract's version
  ///         differs from the registry's; ethereum::malformed_reply, node_unreachable, json_rpc_error
  template <class Manager>
  std::optional<deployment_event> sync(std::string_view group, Manager& manager) {
    namespace abi = ethereum::rule_registry_abi;
    const auto r = abi::decode_rule_of(m_rpc.eth_call(m_registry, abi::encode_rule_of(group)));
    const std::lock_guard lock(m_mutex);
    const auto it = m_synced.find(std::string(group));
    const std::uint64_t seen = it == m_synced.end() ? 0 : it->second;
    if (r.version < seen)
      throw rule_rollback("RuleRegistry: group '" + std::string(group) + "' went back from version " +
                          std::to_string(seen) + " to " + std::to_string(r.version));
    if (r.version == 0 || r.version == seen) return std::nullopt;
    const signed_deployment d = abi::deployment_of(r.document);
    const auto inner = rule_contract::parse(std::string_view(reinterpret_cast<const char*>(d.contract.data()),
                                                             d.contract.size()));
    if (inner.version != r.version)
      throw parse_error("RuleRegistry: group '" + std::string(group) + "' is at version " + std::to_string(r.version) +
                        " but its contract says " + std::to_string(inner.version));
    deployment_event e = manager.deploy(d);
    if (e.accepted()) m_synced[std::string(group)] = r.version;
    return e;
  }

  /// The version last installed from the registry for @p group (0 if none).
  [[nodiscard]] std::uint64_t synced_version(std::string_view group) const {
    const std::lock_guard lock(m_mutex);
    const auto it = m_synced.find(std::string(group));
    return it == m_synced.end() ? 0 : it->second;
  }

private:
  const ethereum::json_rpc_client& m_rpc;
  ethereum::address m_registry;
  mutable std::mutex m_mutex;
  std::map<std::string, std::uint64_t> m_synced;
};

} // namespace hefl::iot
