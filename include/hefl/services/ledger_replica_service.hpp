#pragma once
/// @file
/// A ledger replica as a mutual-TLS service: it serves its blocks to peer replicas and takes the
/// signed entries they relay, and it gossips with its peers by pulling their blocks beyond its own
/// height and pushing its pending signed entries (so the sealer whose turn it is can seal them).
/// Every block pulled goes through ledger::accept_block() (links, turn, sealer and author
/// signatures, equivocation, fork choice), every entry through ledger::submit() (author signature);
/// the TLS layer only decides who may talk: peers whose verified certificate has the storage role
/// and whose subject id is an author (or sealer) of the chain. See docs/services.md.

#include <hefl/iot/ledger/block_wire.hpp>
#include <hefl/net/client.hpp>
#include <hefl/net/server.hpp>
#include <hefl/services/wire.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hefl::services {

namespace msg {
inline constexpr std::uint8_t ledger_blocks = 0x10;         ///< replica -> replica: {"from", "max"}
inline constexpr std::uint8_t ledger_entries = 0x11;        ///< replica -> replica: {"entries": [signed entry, ...]}
inline constexpr std::uint8_t ledger_blocks_reply = 0x90;   ///< {"height", "blocks": [block, ...]}
inline constexpr std::uint8_t ledger_entries_reply = 0x91;  ///< {"accepted", "refused", "first_refusal"}
} // namespace msg

/// Where a peer replica listens.
struct ledger_peer {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
};

/// Tunables of a ledger_replica_service.
struct ledger_replica_options {
  net::server_limits limits = [] {
    net::server_limits l;
    l.accepted_client_roles = iot::role_set{iot::role::storage};
    l.max_connections = 64;
    return l;
  }();
  std::uint16_t port = 0;              ///< 0 = ephemeral (see port())
  std::string address = "127.0.0.1";
  net::client_options client = [] {
    net::client_options o;
    o.accepted_server_roles = iot::role_set{iot::role::storage};
    o.connect_timeout = std::chrono::milliseconds(3000);
    o.request_timeout = std::chrono::milliseconds(5000);
    return o;
  }();
  std::chrono::milliseconds interval{250};  ///< pause between gossip rounds of start()
  std::size_t max_blocks_per_reply = 64;    ///< blocks served per request
  std::size_t max_reply_bytes = 512 * 1024; ///< ... and bytes (must stay below the client's max_frame_size)
  std::size_t max_entries_per_push = 256;   ///< signed entries accepted per request
  std::size_t max_pull_requests = 64;       ///< requests per peer per round (bounds one round's work)
  /// Time given to ledger::tick() before each background round; ledger_now() when empty.
  std::function<iot::ledger_time()> clock;
  /// Called (on the gossip thread) after a round that appended or sealed blocks, e.g. to save the
  /// chain with ledger_store::save(); empty = nothing.
  std::function<void()> on_change;
  /// One line per event; empty = silent. Never given keys.
  std::function<void(const std::string&)> log;
};

/// One thing a peer did that this replica refused, or could not do.
struct gossip_refusal {
  std::string peer;     ///< host:port
  std::string reason;   ///< a block_fault name ("bad_signature", "equivocation", ...), "malformed",
                        ///< "unreachable", "refused" (the peer refused us) or "peer_entries_refused"
  std::string message;  ///< for logs
};

/// What one gossip round did.
struct sync_report {
  std::size_t blocks_accepted = 0;       ///< blocks appended (or preferred heads adopted) from peers
  std::size_t entries_pushed = 0;        ///< pending entries peers accepted from us
  std::vector<gossip_refusal> refusals;  ///< what went wrong, per peer
  /// True when no peer was refused or unreachable.
  [[nodiscard]] bool ok() const noexcept { return refusals.empty(); }
};

/// The replica service: a tls_server answering ledger_blocks / ledger_entries requests, plus a gossip
/// client towards each peer (sync_once(), or a background loop with start()). The ledger must
/// outlive the service. Thread-safe.
class ledger_replica_service {
public:
  /// Starts serving @p ledger to peers.
  /// @throws hefl::invalid_argument for zero limits, a reply limit above the client's frame limit, or a peer without a port
  /// @throws hefl::io_error if the port cannot be bound
  ledger_replica_service(net::tls_credentials creds, iot::ledger& ledger, std::vector<ledger_peer> peers,
                         ledger_replica_options options = {})
      : m_ledger(ledger), m_creds(creds), m_options(std::move(options)) {
    if (m_options.max_blocks_per_reply == 0 || m_options.max_entries_per_push == 0 ||
        m_options.max_pull_requests == 0 || m_options.max_reply_bytes == 0)
      throw invalid_argument("ledger_replica_service: max_blocks_per_reply, max_entries_per_push, "
                             "max_pull_requests and max_reply_bytes must be positive");
    if (m_options.max_reply_bytes + 4096 > m_options.client.max_frame_size ||
        m_options.max_reply_bytes + 4096 > m_options.limits.max_frame_size)
      throw invalid_argument("ledger_replica_service: max_reply_bytes (" + std::to_string(m_options.max_reply_bytes) +
                             ") must stay 4 KiB below the client's and server's max_frame_size");
    set_peers(std::move(peers));
    m_server = std::make_unique<net::tls_server>(
        std::move(creds), [this](const net::peer_identity& peer, net::frame f) { return handle(peer, std::move(f)); },
        m_options.limits, m_options.port, m_options.address);
  }

  ledger_replica_service(const ledger_replica_service&) = delete;
  ledger_replica_service& operator=(const ledger_replica_service&) = delete;
  ~ledger_replica_service() {
    stop();
    m_server.reset();
  }

  /// The port the replica serves on.
  [[nodiscard]] std::uint16_t port() const noexcept { return m_server->port(); }

  /// Replaces the peer list (closing the connections to the previous peers); for example once every
  /// replica's ephemeral port is known. Waits for a running round to finish.
  /// @throws hefl::invalid_argument for a peer without a port (the list is then unchanged)
  void set_peers(std::vector<ledger_peer> peers) {
    std::vector<link> links;
    for (auto& p : peers) {
      if (p.port == 0) throw invalid_argument("ledger_replica_service: peer " + p.host + " has no port");
      links.push_back({std::move(p), nullptr});
    }
    const std::lock_guard round(m_round_mutex);
    for (auto& l : m_links)
      if (l.client) l.client->close();
    m_links = std::move(links);
  }

  /// One gossip round: towards each peer, push this replica's pending signed entries, then pull and
  /// accept the peer's blocks beyond this replica's height (at most max_pull_requests requests). A
  /// peer that is unreachable, answers malformed data or offers a block accept_block() refuses is
  /// recorded and skipped for the rest of the round; nothing it sent after the refused block is used.
  /// @throws nothing beyond std::bad_alloc
  sync_report sync_once() {
    const std::lock_guard round(m_round_mutex);
    sync_report report;
    for (auto& link : m_links) sync_with(link, report);
    {
      const std::lock_guard lock(m_stats_mutex);
      ++m_rounds;
      for (const auto& r : report.refusals) {
        ++m_refusal_counts[r.reason];
        if (m_recent.size() == recent_refusals_kept) m_recent.pop_front();
        m_recent.push_back(r);
      }
    }
    if (report.blocks_accepted > 0 && m_options.on_change) m_options.on_change();
    return report;
  }

  /// Runs gossip rounds in the background every interval (after ledger::tick(), so a due block is
  /// sealed when it is this node's turn) until stop(). Calling start() twice does nothing.
  void start() {
    const std::lock_guard lock(m_loop_mutex);
    if (m_thread.joinable()) return;
    m_stopping = false;
    m_thread = std::thread([this] { loop(); });
  }

  /// Ends the background rounds (the running one finishes) and closes the peer connections. Idempotent.
  void stop() {
    {
      const std::lock_guard lock(m_loop_mutex);
      m_stopping = true;
    }
    m_wake.notify_all();
    if (m_thread.joinable()) m_thread.join();
    const std::lock_guard round(m_round_mutex);
    for (auto& link : m_links) {
      if (link.client) link.client->close();
      link.client.reset();
    }
  }

  /// Rounds completed (sync_once() calls and background rounds).
  [[nodiscard]] std::size_t rounds() const {
    const std::lock_guard lock(m_stats_mutex);
    return m_rounds;
  }
  /// Refusals so far, by reason (the set of reasons is fixed, so this map stays small).
  [[nodiscard]] std::map<std::string, std::size_t> refusal_counts() const {
    const std::lock_guard lock(m_stats_mutex);
    return m_refusal_counts;
  }
  /// The newest refusals (at most recent_refusals_kept).
  [[nodiscard]] std::vector<gossip_refusal> recent_refusals() const {
    const std::lock_guard lock(m_stats_mutex);
    return {m_recent.begin(), m_recent.end()};
  }
  /// How many refusals recent_refusals() keeps.
  static constexpr std::size_t recent_refusals_kept = 64;

  /// Requests from peers that were refused as not members of the chain, malformed or unknown.
  [[nodiscard]] std::size_t requests_refused() const noexcept { return m_requests_refused.load(); }

private:
  struct link {
    ledger_peer where;
    std::unique_ptr<net::tls_client> client;
  };

  void loop() {
    std::unique_lock lock(m_loop_mutex);
    while (!m_stopping) {
      lock.unlock();
      const auto now = m_options.clock ? m_options.clock() : iot::ledger_now();
      if (m_ledger.tick(now) > 0 && m_options.on_change) m_options.on_change();
      (void)sync_once();
      lock.lock();
      m_wake.wait_for(lock, m_options.interval, [this] { return m_stopping; });
    }
  }

  void log(const std::string& line) const {
    if (m_options.log) m_options.log(line);
  }

  static std::string name(const ledger_peer& p) { return p.host + ":" + std::to_string(p.port); }

  void refuse(sync_report& report, link& l, std::string reason, std::string message) {
    log("ledger gossip: " + name(l.where) + " " + reason + ": " + message);
    report.refusals.push_back({name(l.where), std::move(reason), std::move(message)});
  }

  // Sends @p f to the peer and returns the reply; a typed refusal from the peer is thrown as a
  // security_error with its reason.
  net::frame ask(link& l, const net::frame& f) {
    if (!l.client || !l.client->connected()) {
      l.client = std::make_unique<net::tls_client>(m_creds, m_options.client);
      l.client->connect(l.where.host, l.where.port);
    }
    auto reply = l.client->request(f);
    if (reply.type == msg::refused) {
      const auto r = read_refusal(reply);
      throw security_error("peer refused: " + r.reason + ": " + r.message);
    }
    return reply;
  }

  void sync_with(link& l, sync_report& report) {
    try {
      push_entries(l, report);
      pull_blocks(l, report);
    } catch (const security_error& e) {
      refuse(report, l, "refused", e.what());
      l.client.reset();
    } catch (const parse_error& e) {
      refuse(report, l, "malformed", e.what());
      l.client.reset();
    } catch (const error& e) {  // io_error, timeout_error, remote_error
      refuse(report, l, "unreachable", e.what());
      l.client.reset();
    } catch (const nlohmann::json::exception& e) {
      refuse(report, l, "malformed", e.what());
      l.client.reset();
    }
  }

  void push_entries(link& l, sync_report& report) {
    std::vector<iot::transaction> pending;
    for (auto& tx : m_ledger.pending())
      if (tx.is_signed()) pending.push_back(std::move(tx));
    for (std::size_t at = 0; at < pending.size(); at += m_options.max_entries_per_push) {
      nlohmann::json entries = nlohmann::json::array();
      const auto end = std::min(pending.size(), at + m_options.max_entries_per_push);
      for (auto i = at; i < end; ++i) entries.push_back(iot::entry_to_json(pending[i]));
      const auto reply = ask(l, json_frame(msg::ledger_entries, {{"entries", std::move(entries)}}));
      if (reply.type != msg::ledger_entries_reply)
        throw parse_error("unexpected reply type " + std::to_string(reply.type) + " to ledger_entries");
      const auto j = read_json(reply);
      const auto accepted = j.at("accepted").get<std::size_t>();
      report.entries_pushed += accepted;
      if (j.at("refused").get<std::size_t>() > 0)
        refuse(report, l, "peer_entries_refused", j.at("first_refusal").get<std::string>());
    }
  }

  void pull_blocks(link& l, sync_report& report) {
    for (std::size_t request = 0; request < m_options.max_pull_requests; ++request) {
      const auto mine = m_ledger.height();
      const auto reply = ask(l, json_frame(msg::ledger_blocks, {{"from", mine == 0 ? 1 : mine},
                                                                {"max", m_options.max_blocks_per_reply}}));
      if (reply.type != msg::ledger_blocks_reply)
        throw parse_error("unexpected reply type " + std::to_string(reply.type) + " to ledger_blocks");
      const auto j = read_json(reply);
      const auto& list = j.at("blocks");
      if (!list.is_array()) throw parse_error("'blocks' must be an array");
      if (list.size() > m_options.max_blocks_per_reply)
        throw parse_error("peer sent " + std::to_string(list.size()) + " blocks, asked for at most " +
                          std::to_string(m_options.max_blocks_per_reply));
      const auto peer_height = j.at("height").get<std::uint64_t>();
      bool progressed = false;
      for (const auto& item : list) {
        const auto b = iot::block_from_json(item);
        const auto h = b.header.height;
        const auto now_height = m_ledger.height();
        if (h <= now_height && b.hash() == m_ledger.block_at(h).hash()) continue;
        const bool competing = h <= now_height;
        const auto check = m_ledger.accept_block(b);
        if (!check) {
          // A competing head that is not preferred is normal (the peer adopts ours when it pulls).
          if (competing && check.fault != iot::block_fault::equivocation) return;
          refuse(report, l, std::string(iot::to_string(check.fault)), check.message);
          return;
        }
        ++report.blocks_accepted;
        progressed = true;
        log("ledger gossip: accepted block " + std::to_string(h) + " from " + name(l.where));
      }
      if (!progressed || peer_height <= m_ledger.height()) return;
    }
  }

  net::frame handle(const net::peer_identity& peer, net::frame f) {
    if (!m_ledger.is_author(peer.device_id())) {
      ++m_requests_refused;
      return refusal_frame("ledger", "not_a_member",
                           "'" + peer.device_id() + "' is not an author or sealer of this chain");
    }
    try {
      if (f.type == msg::ledger_blocks) return serve_blocks(read_json(f));
      if (f.type == msg::ledger_entries) return take_entries(read_json(f));
    } catch (const parse_error& e) {
      ++m_requests_refused;
      return refusal_frame("ledger", "malformed", e.what());
    } catch (const nlohmann::json::exception& e) {
      ++m_requests_refused;
      return refusal_frame("ledger", "malformed", e.what());
    }
    ++m_requests_refused;
    return refusal_frame("ledger", "unknown_request", "frame type " + std::to_string(f.type) + " is not a ledger request");
  }

  net::frame serve_blocks(const nlohmann::json& j) {
    const auto& from_v = j.at("from");
    const auto& max_v = j.at("max");
    if (!from_v.is_number_unsigned() || !max_v.is_number_unsigned())
      throw parse_error("ledger_blocks: 'from' and 'max' must be non-negative integers");
    const auto from = from_v.get<std::uint64_t>();
    const auto max = std::min<std::uint64_t>(max_v.get<std::uint64_t>(), m_options.max_blocks_per_reply);
    const auto height = m_ledger.height();
    nlohmann::json blocks = nlohmann::json::array();
    std::size_t bytes = 0;
    for (auto h = from; h <= height && blocks.size() < max; ++h) {
      auto b = iot::block_to_json(m_ledger.block_at(h));
      const auto size = b.dump().size();
      if (bytes + size > m_options.max_reply_bytes) {
        if (blocks.empty())
          return refusal_frame("ledger", "block_too_large",
                               "block " + std::to_string(h) + " is " + std::to_string(size) +
                                   " bytes as JSON, more than max_reply_bytes");
        break;
      }
      bytes += size;
      blocks.push_back(std::move(b));
    }
    return json_frame(msg::ledger_blocks_reply, {{"height", height}, {"blocks", std::move(blocks)}});
  }

  net::frame take_entries(const nlohmann::json& j) {
    const auto& list = j.at("entries");
    if (!list.is_array()) throw parse_error("ledger_entries: 'entries' must be an array");
    if (list.size() > m_options.max_entries_per_push)
      throw parse_error("ledger_entries: " + std::to_string(list.size()) + " entries, at most " +
                        std::to_string(m_options.max_entries_per_push) + " per request");
    std::size_t accepted = 0, refused = 0;
    std::string first;
    for (const auto& item : list) {
      try {
        auto tx = iot::entry_from_json(item);
        // Unsigned entries would be signed by this node as their author: never take them from a peer.
        if (!tx.is_signed()) throw security_error("ledger_entries: an entry without its author's signature");
        (void)m_ledger.submit(std::move(tx));
        ++accepted;
      } catch (const error& e) {  // parse_error, ledger_entry_refused, pool full
        if (refused++ == 0) first = e.what();
      }
    }
    return json_frame(msg::ledger_entries_reply, {{"accepted", accepted}, {"refused", refused}, {"first_refusal", first}});
  }

  iot::ledger& m_ledger;
  net::tls_credentials m_creds;
  ledger_replica_options m_options;
  std::vector<link> m_links;
  std::unique_ptr<net::tls_server> m_server;

  std::mutex m_round_mutex;  // one round at a time (sync_once and the loop)
  std::mutex m_loop_mutex;
  std::condition_variable m_wake;
  bool m_stopping = false;
  std::thread m_thread;

  mutable std::mutex m_stats_mutex;
  std::size_t m_rounds = 0;
  std::map<std::string, std::size_t> m_refusal_counts;
  std::deque<gossip_refusal> m_recent;
  std::atomic<std::size_t> m_requests_refused{0};
};

} // namespace hefl::services
