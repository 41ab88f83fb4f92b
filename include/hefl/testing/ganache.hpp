#pragma once
/// @file
/// Starts a local Ethereum node (ganache, installed by scripts/eth/install.sh) for tests and
/// benchmarks: 127.0.0.1, a free port, --wallet.deterministic, a chosen block time; waits until it
/// answers eth_chainId and stops it by its PID. POSIX only. Every wait is bounded.

#include <hefl/core/error.hpp>
#include <hefl/iot/ledger/ethereum/audit_log.hpp>
#include <hefl/iot/ledger/ethereum/hex.hpp>
#include <hefl/iot/ledger/ethereum/json_rpc.hpp>
#include <hefl/iot/ledger/ethereum/secp256k1.hpp>
#include <hefl/iot/ledger/ethereum/sender.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <cstdlib>
#include <fstream>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace hefl::testing {

/// Where scripts/eth/install.sh put the tools: $HEFL_ETH_TOOLS_DIR, else @p fallback.
inline std::filesystem::path eth_tools_dir(const std::filesystem::path& fallback) {
  if (const char* env = std::getenv("HEFL_ETH_TOOLS_DIR"); env && *env) return env;
  return fallback;
}

/// The ganache CLI script under a tools folder (empty path when it is not installed).
inline std::filesystem::path ganache_cli(const std::filesystem::path& tools_dir) {
  const auto cli = tools_dir / "node_modules" / "ganache" / "dist" / "node" / "cli.js";
  return std::filesystem::exists(cli) ? cli : std::filesystem::path();
}

/// ganache's --wallet.deterministic accounts 0 and 1 (their keys are public: test chains only).
inline constexpr const char* ganache_key0 = "4f3edf983ac636a65a842ce7c78d9aa706d3b113bce9c46f30d7d21715b23b1d";
inline constexpr const char* ganache_key1 = "6cbed15c793ce57650b9877cf6fa156fbef513c4e6134f022a85b1ffdd59b2a1";

/// An account key from its 64 hex digits (e.g. ganache_key0), for tests.
/// @throws hefl::invalid_argument when @p hex does not hold exactly 32 bytes
inline iot::ethereum::secp256k1_key account_key(std::string_view hex) {
  const auto bytes = iot::ethereum::from_hex(hex);
  if (bytes.size() != 32) throw invalid_argument("account_key: a secp256k1 key has 32 bytes, got " + std::to_string(bytes.size()));
  return iot::ethereum::secp256k1_key(std::span<const std::uint8_t, 32>(bytes.data(), 32));
}

/// One running ganache process; stopped (SIGTERM, then SIGKILL) by stop() or the destructor.
class ganache_process {
public:
  /// How to start ganache.
  struct options {
    unsigned block_time_s = 0;      ///< 0 mines each transaction at once; n > 0 mines a block every n seconds
    std::uint64_t chain_id = 1337;
    std::uint16_t port = 0;         ///< 0: a free port
    std::filesystem::path db_path;  ///< empty: in memory; otherwise the chain persists there across restarts
    std::chrono::milliseconds startup_timeout{std::chrono::seconds(90)};
  };

  /// Starts ganache and waits until it answers.
  /// @param block_time_s 0 mines each transaction at once; n > 0 mines a block every n seconds
  /// @throws io_error if node or ganache is missing, or it does not answer within @p startup_timeout
  ganache_process(const std::filesystem::path& tools_dir, unsigned block_time_s = 0, std::uint64_t chain_id = 1337,
                  std::chrono::milliseconds startup_timeout = std::chrono::seconds(90))
      : ganache_process(tools_dir, options{block_time_s, chain_id, 0, {}, startup_timeout}) {}

  /// Starts ganache with @p o and waits until it answers.
  /// @throws io_error if node or ganache is missing, or it does not answer within o.startup_timeout
  ganache_process(const std::filesystem::path& tools_dir, const options& o) {
    const auto cli = ganache_cli(tools_dir);
    if (cli.empty()) throw io_error("ganache is not installed under " + tools_dir.string() + ": run scripts/eth/install.sh");
    std::string last_failure;
    for (int attempt = 0; attempt < 3; ++attempt) {  // another process may take the free port first
      m_port = o.port != 0 ? o.port : free_port();
      m_log = std::filesystem::temp_directory_path() /
              ("hefl-ganache-" + std::to_string(::getpid()) + "-" + std::to_string(m_port) + ".log");
      spawn(cli, o);
      if (wait_ready(o.startup_timeout, last_failure)) return;
      stop();
    }
    throw io_error("ganache did not start: " + last_failure);
  }
  ganache_process(const ganache_process&) = delete;
  ganache_process& operator=(const ganache_process&) = delete;
  ~ganache_process() { stop(); }

  [[nodiscard]] std::uint16_t port() const noexcept { return m_port; }
  [[nodiscard]] pid_t pid() const noexcept { return m_pid; }
  [[nodiscard]] const std::filesystem::path& log_path() const noexcept { return m_log; }

  /// Stops the node: SIGTERM, up to @p grace for it to exit, then SIGKILL; removes its log. Idempotent.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(10)) noexcept {
    if (m_pid <= 0) return;
    ::kill(m_pid, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + grace;
    int status = 0;
    while (::waitpid(m_pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(m_pid, SIGKILL);
        ::waitpid(m_pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    m_pid = -1;
    std::error_code ignored;
    std::filesystem::remove(m_log, ignored);
  }

private:
  static std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw io_error("ganache_process: socket() failed");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ::close(fd);
      throw io_error("ganache_process: cannot find a free port");
    }
    ::close(fd);
    return ntohs(a.sin_port);
  }

  void spawn(const std::filesystem::path& cli, const options& o) {
    std::vector<std::string> args = {"node", cli.string(), "--server.host", "127.0.0.1", "--server.port",
                                     std::to_string(m_port), "--wallet.deterministic", "--chain.chainId",
                                     std::to_string(o.chain_id), "--miner.blockTime", std::to_string(o.block_time_s)};
    if (!o.db_path.empty()) {
      args.push_back("--database.dbPath");
      args.push_back(o.db_path.string());
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, m_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
    const int rc = ::posix_spawnp(&m_pid, "node", &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
      m_pid = -1;
      throw io_error("ganache_process: cannot run node (Debian package nodejs): error " + std::to_string(rc));
    }
  }

  bool wait_ready(std::chrono::milliseconds timeout, std::string& failure) {
    const iot::ethereum::json_rpc_client rpc("127.0.0.1", m_port, std::chrono::seconds(2));
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
        m_pid = -1;
        failure = "it exited early; log " + m_log.string() + ": " + log_tail();
        return false;
      }
      try {
        (void)rpc.chain_id();
        return true;
      } catch (const error&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    failure = "no answer on port " + std::to_string(m_port) + " within " + std::to_string(timeout.count()) +
              " ms; log " + m_log.string() + ": " + log_tail();
    return false;
  }

  [[nodiscard]] std::string log_tail() const {
    std::ifstream in(m_log);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string s = ss.str();
    return s.size() > 600 ? s.substr(s.size() - 600) : s;
  }

  std::uint16_t m_port = 0;
  pid_t m_pid = -1;
  std::filesystem::path m_log;
};

/// The usual start of an Ethereum test: a ganache of its own, a JSON-RPC client, a sender for
/// ganache's account 0 (the admin and first writer) and, unless told otherwise, AuditLog deployed by it.
struct ganache_chain {
  ganache_process node;
  iot::ethereum::json_rpc_client rpc;
  iot::ethereum::transaction_sender sender;  ///< ganache account 0
  iot::ethereum::address audit_log{};        ///< the deployed AuditLog (zero when not deployed)

  /// Starts ganache with @p o and deploys AuditLog when @p deploy_audit_log.
  /// @throws io_error if ganache does not start or the deployment reverts; as json_rpc_client
  explicit ganache_chain(const std::filesystem::path& tools_dir, const ganache_process::options& o = {},
                         bool deploy_audit_log = true)
      : node(tools_dir, o), rpc("127.0.0.1", node.port(), std::chrono::seconds(20)),
        sender(rpc, account_key(ganache_key0), rpc.chain_id()) {
    if (deploy_audit_log) audit_log = deploy(iot::ethereum::audit_log_abi::creation_code(), 1500000);
  }

  /// Deploys @p creation_code from account 0.
  /// @returns the contract's address
  /// @throws io_error if the deployment reverts; as json_rpc_client
  iot::ethereum::address deploy(const iot::ethereum::bytes& creation_code, std::uint64_t gas_limit = 3000000) {
    iot::ethereum::legacy_transaction tx;
    tx.gas_price = Botan::BigInt(rpc.gas_price());
    tx.gas_limit = gas_limit;
    tx.data = creation_code;
    const iot::ethereum::receipt r = rpc.await_receipt(sender.submit(std::move(tx)).hash, std::chrono::seconds(30));
    if (!r.success || !r.contract_address) throw io_error("ganache_chain: the contract deployment reverted");
    return *r.contract_address;
  }

  /// A sender for another of ganache's accounts (e.g. ganache_key1: not an AuditLog writer).
  [[nodiscard]] iot::ethereum::transaction_sender sender_for(std::string_view key_hex) const {
    return iot::ethereum::transaction_sender(rpc, account_key(key_hex), rpc.chain_id());
  }
};

} // namespace hefl::testing
