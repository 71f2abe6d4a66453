// Server: mirrorkv-server's process-wide state and life cycle, built only on the public
// mirrorkv API (include/mirrorkv/). It owns the Store, the live configuration, the client
// registry, pub/sub, persistence and the EXEC gate, and runs the control loop (signals,
// the once-every-100-ms "cron": automatic snapshots, idle-client timeouts, ops/sec
// sampling) on the thread that calls Run(). Connections are served by an EventLoop's I/O
// threads (server/asio_event_loop.cc; server/io_thread.h).
//
//   auto server = Server::Create(std::move(config));
//   if (!server.ok()) ...;
//   return (*server)->Run();   // until SHUTDOWN or SIGTERM
//
// Thread-safe: every method may be called from any I/O thread unless noted.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/mutex.h"
#include "mirrorkv/status.h"
#include "mirrorkv/store.h"
#include "server/config.h"
#include "server/exec_gate.h"
#include "server/resp_parser.h"

namespace mirrorkv::server {

class Client;
class IoThread;
class KeyspaceListener;
class Persistence;
class PubSub;
class Server;
class ServerReplication;
class Scripting;
struct ReplicationSettings;

// The server's event loop: listening sockets and the I/O threads that move bytes between
// sockets and Clients (server/asio_event_loop.cc). Not mirrorkv::Transport, which is a
// replication link.
class EventLoop {
 public:
  virtual ~EventLoop() = default;
  // Opens a listening socket on every address (IPv4 or IPv6 literal) at `*port`. A port
  // of 0 binds a free port (the first address's, for all of them) and sets `*port` to
  // it. kIOError naming the address on failure.
  virtual Status Listen(const std::vector<std::string>& addresses, int* port, int backlog) = 0;
  // Starts the I/O threads and accepting.
  virtual void Start() = 0;
  // Stops accepting, closes every connection and joins the I/O threads. Idempotent.
  virtual void Stop() = 0;
  // The I/O threads; fixed once the transport is created.
  virtual std::span<IoThread* const> threads() const = 0;
};

// One address of the `bind` setting, in Redis's syntax: "-addr" may fail quietly (an
// IPv6 address on a host without IPv6); "*" is every IPv4 address, "::*" every IPv6 one.
struct BindAddress {
  std::string literal;  // an IPv4 or IPv6 literal, not yet validated
  bool optional = false;
};
BindAddress ParseBindAddress(std::string_view text);

std::unique_ptr<EventLoop> NewAsioEventLoop(Server& server, size_t threads);

// Every connected client by id, for CLIENT LIST/KILL, maxclients and shutdown.
class ClientRegistry {
 public:
  uint64_t NextId() { return next_id_.fetch_add(1, std::memory_order_relaxed); }
  void Add(std::shared_ptr<Client> client) ABSL_LOCKS_EXCLUDED(mu_);
  void Remove(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);
  // Relaxed: an estimate for maxclients and INFO, exact once connections settle.
  size_t size() const { return size_.load(std::memory_order_relaxed); }
  // The clients at this moment, ordered by id.
  std::vector<std::shared_ptr<Client>> Snapshot() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable Mutex mu_;
  std::map<uint64_t, std::shared_ptr<Client>> clients_ ABSL_GUARDED_BY(mu_);
  std::atomic<size_t> size_{0};
  std::atomic<uint64_t> next_id_{1};
};

// Process-wide counters that are not per thread (rare events). Relaxed.
struct ServerCounters {
  std::atomic<uint64_t> connections_received{0};
  std::atomic<uint64_t> rejected_connections{0};
};

// The admission rule for a new connection, as Redis applies it: over maxclients, or from
// a non-loopback address while protected mode is on and no password is set, the
// connection gets the returned protocol bytes and is closed. Empty: admit it.
std::string_view AdmissionRefusal(size_t clients, int64_t maxclients, bool protected_mode,
                                  bool password_required, bool loopback);

enum class ShutdownMode : uint8_t {
  kDefault,  // save if save points are configured
  kSave,     // always save
  kNoSave,   // never save
};

class Server {
 public:
  // Checks the configuration, opens the Store (loading the snapshot file if there is
  // one) and prepares the transport, without listening yet. kInvalidArgument for a bad
  // configuration; the snapshot's error (kCorruption, kIOError) if it cannot be loaded.
  static Result<std::unique_ptr<Server>> Create(ServerConfig config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Listens, serves until SHUTDOWN or SIGINT/SIGTERM, and returns the process exit
  // code: 0 after a clean shutdown, 1 if listening failed. Call once, from main.
  int Run();
  // Run in two steps, for a server embedded in an application (include/mirrorkv/server.h):
  // Listen opens the sockets and starts the I/O threads (the listening error, if any);
  // Serve then runs the control loop on the calling thread until SHUTDOWN or
  // StopServing, taking SIGINT/SIGTERM only if `handle_signals`. Each is called once.
  Status Listen();
  int Serve(bool handle_signals);
  // Stops serving without saving: Serve returns. Thread-safe; idempotent.
  void StopServing();

  // --- State the commands use ---
  Store& store() { return *store_; }
  ExecGate& gate() { return *gate_; }
  ClientRegistry& clients() { return clients_; }
  PubSub& pubsub() { return *pubsub_; }
  Persistence& persistence() { return *persistence_; }
  KeyspaceListener& keyspace() { return *keyspace_; }
  ServerReplication& replication() { return *replication_; }
  Scripting& scripting() { return *scripting_; }
  ServerCounters& counters() { return counters_; }
  std::span<IoThread* const> threads() const;

  // A copy of the live configuration.
  ServerConfig config() const ABSL_LOCKS_EXCLUDED(config_mu_);
  // CONFIG SET: applies every pair or none, then pushes the new values to the Store,
  // the log and the limits. On error the status message is the whole reply text.
  Status SetConfig(const std::vector<std::string_view>& args, bool loopback_client)
      ABSL_LOCKS_EXCLUDED(config_mu_);
  Status RewriteConfig() ABSL_LOCKS_EXCLUDED(config_mu_);
  // REPLICAOF host port / REPLICAOF NO ONE (empty host): switches the replication role
  // and records the primary in the configuration (for CONFIG REWRITE). ReplicaOf returns
  // false if this server already follows host:port.
  bool ReplicaOf(const std::string& host, uint16_t port) ABSL_LOCKS_EXCLUDED(config_mu_);
  Status PromoteToPrimary() ABSL_LOCKS_EXCLUDED(config_mu_);
  // Called after each role change made by ReplicaOf (the new primary's host and port) or
  // PromoteToPrimary (empty host, 0), on the thread that made it, with no lock held. Set
  // before Listen; null: none.
  using RoleListener = std::function<void(const std::string& primary_host, uint16_t primary_port)>;
  void set_role_listener(RoleListener listener) { role_listener_ = std::move(listener); }

  // Values read on every request, mirrored out of the configuration into atomics.
  ParserLimits parser_limits() const {
    return {max_bulk_len_.load(std::memory_order_relaxed),
            static_cast<size_t>(max_query_buffer_.load(std::memory_order_relaxed))};
  }
  bool password_required() const { return password_required_.load(std::memory_order_relaxed); }
  // Compares `password` with requirepass in constant time.
  bool CheckPassword(std::string_view password) const ABSL_LOCKS_EXCLUDED(config_mu_);
  bool protected_mode() const { return protected_mode_.load(std::memory_order_relaxed); }
  int64_t timeout_seconds() const { return timeout_.load(std::memory_order_relaxed); }
  int64_t maxclients() const { return maxclients_.load(std::memory_order_relaxed); }
  int64_t proto_max_bulk_len() const { return max_bulk_len_.load(std::memory_order_relaxed); }
  int64_t busy_reply_threshold_ms() const {
    return busy_reply_threshold_ms_.load(std::memory_order_relaxed);
  }
  // client-output-buffer-limit of the moment for normal or pub/sub clients.
  OutputBufferLimit output_limit(bool pubsub) const {
    const LiveOutputLimit& live = pubsub ? pubsub_output_limit_ : normal_output_limit_;
    return {live.hard.load(std::memory_order_relaxed), live.soft.load(std::memory_order_relaxed),
            live.soft_seconds.load(std::memory_order_relaxed)};
  }

  // Identity, for INFO and HELLO.
  const std::string& run_id() const { return run_id_; }
  int64_t start_time_ms() const { return start_time_ms_; }
  int port() const { return static_cast<int>(port_.load(std::memory_order_relaxed)); }
  const std::string& executable() const { return executable_; }
  void set_executable(std::string path) { executable_ = std::move(path); }
  // Operations per second over the last second, sampled by the cron.
  int64_t instantaneous_ops() const { return instantaneous_ops_.load(std::memory_order_relaxed); }

  // --- Connections (called by transports) ---

  // Decides whether a new connection may stay. Returns an empty string to admit it, or
  // the protocol bytes to write before closing it ("-ERR max number of clients
  // reached\r\n", protected mode's "-DENIED ...").
  std::string_view AdmitConnection(bool loopback);
  // Registers an accepted client (registry, counters, its thread's list).
  void OnClientConnected(const std::shared_ptr<Client>& client);
  bool shutting_down() const { return shutting_down_.load(std::memory_order_acquire); }

  // SHUTDOWN: saves as `mode` says and then stops the server. Returns the error if the
  // save failed; the server then keeps running, as Redis does.
  Status Shutdown(ShutdownMode mode);

 private:
  explicit Server(ServerConfig config);
  Status Init();
  void ApplyLiveConfig(const ServerConfig& config) ABSL_EXCLUSIVE_LOCKS_REQUIRED(config_mu_);
  ReplicationSettings ReplicationSettingsLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(config_mu_);
  void Cron();
  void CloseIdleClients(int64_t now_ms);

  mutable Mutex config_mu_;
  ServerConfig config_ ABSL_GUARDED_BY(config_mu_);

  std::unique_ptr<KeyspaceListener> keyspace_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ExecGate> gate_;
  std::unique_ptr<PubSub> pubsub_;
  std::unique_ptr<Persistence> persistence_;
  std::unique_ptr<ServerReplication> replication_;
  std::unique_ptr<EventLoop> event_loop_;
  std::unique_ptr<Scripting> scripting_;
  ClientRegistry clients_;
  ServerCounters counters_;

  std::atomic<int64_t> max_bulk_len_{0};
  std::atomic<int64_t> max_query_buffer_{0};
  std::atomic<bool> password_required_{false};
  std::atomic<bool> protected_mode_{true};
  std::atomic<int64_t> timeout_{0};
  std::atomic<int64_t> maxclients_{10000};
  std::atomic<int64_t> busy_reply_threshold_ms_{5000};
  // Read after every reply: relaxed atomics, not the configuration lock.
  struct LiveOutputLimit {
    std::atomic<uint64_t> hard{0};
    std::atomic<uint64_t> soft{0};
    std::atomic<int64_t> soft_seconds{0};
    void Set(const OutputBufferLimit& limit) {
      hard.store(limit.hard, std::memory_order_relaxed);
      soft.store(limit.soft, std::memory_order_relaxed);
      soft_seconds.store(limit.soft_seconds, std::memory_order_relaxed);
    }
  };
  LiveOutputLimit normal_output_limit_;
  LiveOutputLimit pubsub_output_limit_;
  std::atomic<bool> shutting_down_{false};
  std::atomic<int64_t> instantaneous_ops_{0};

  std::string run_id_;
  int64_t start_time_ms_ = 0;
  std::atomic<int64_t> port_{0};  // relaxed: set once before any client connects
  std::string executable_;
  RoleListener role_listener_;

  // The control loop (Run's thread): signals, cron, and the stop request.
  struct ControlLoop;
  std::unique_ptr<ControlLoop> control_;
};

// INFO: the report for `sections` (empty: the default sections), in Redis's format.
std::string BuildInfo(Server& server, const std::vector<std::string>& sections);

}  // namespace mirrorkv::server
