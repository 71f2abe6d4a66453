// Server: start-up, the control loop, live configuration, admission of connections and
// shutdown. See server.h.
#include "server/server.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "mirrorkv/clock.h"
#include "server/client.h"
#include "server/io_thread.h"
#include "server/keyspace_listener.h"
#include "server/logger.h"
#include "server/persistence.h"
#include "server/pubsub.h"
#include "server/replication_role.h"
#include "server/scripting/scripting.h"
#include "server/version.h"

#define ASIO_NO_DEPRECATED
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

namespace mirrorkv::server {
namespace {

int64_t NowMs() { return SystemClock::Default()->NowMillis(); }

// Protected mode's refusal, byte for byte as Redis 7.0 writes it.
constexpr std::string_view kDeniedReply =
    "-DENIED Redis is running in protected mode because protected mode is enabled and no "
    "password is set for the default user. In this mode connections are only accepted from "
    "the loopback interface. If you want to connect from external computers to Redis you may "
    "adopt one of the following solutions: 1) Just disable protected mode sending the command "
    "'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from "
    "the same host the server is running, however MAKE SURE Redis is not publicly accessible "
    "from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) "
    "Alternatively you can just disable the protected mode by editing the Redis "
    "configuration file, and setting the protected mode option to 'no', and then restarting "
    "the server. 3) If you started the server manually just for testing, restart it with "
    "the '--protected-mode no' option. 4) Setup a an authentication password for the default "
    "user. NOTE: You only need to do one of the above things in order for the server to "
    "start accepting connections from the outside.\r\n";
constexpr std::string_view kMaxClientsReply = "-ERR max number of clients reached\r\n";

// File descriptors the server needs besides its clients (Redis's CONFIG_MIN_RESERVED_FDS).
constexpr int64_t kReservedFds = 32;
// The instantaneous ops/sec is the average over this many cron samples, as in Redis.
constexpr size_t kOpsSamples = 16;

std::string RandomHex(size_t length) {
  std::random_device device;
  std::string text;
  static constexpr char kDigits[] = "0123456789abcdef";
  while (text.size() < length) text.push_back(kDigits[device() & 15]);
  return text;
}

// Raises the open-files limit to fit `maxclients` if it can; returns the number of
// clients the limit then allows (`maxclients` itself when it fits), as Redis's
// adjustOpenFilesLimit does.
int64_t FitOpenFilesLimit(int64_t maxclients) {
  rlim_t needed = static_cast<rlim_t>(maxclients + kReservedFds);
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return maxclients;
  if (limit.rlim_cur >= needed) return maxclients;
  struct rlimit raised = limit;
  raised.rlim_cur = std::min(needed, limit.rlim_max);
  if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  if (limit.rlim_cur >= needed) return maxclients;
  return std::max<int64_t>(1, static_cast<int64_t>(limit.rlim_cur) - kReservedFds);
}

// At start a maxclients above what the open-files limit allows is lowered, with a
// warning (Redis does the same); at run time CONFIG SET refuses it instead.
int64_t AdjustOpenFilesLimit(int64_t maxclients) {
  int64_t possible = FitOpenFilesLimit(maxclients);
  if (possible < maxclients) {
    Log(LogLevel::kWarning,
        "You requested maxclients of %d requiring at least %d max file descriptors. maxclients "
        "has been reduced to %d to compensate for low ulimit. If you need higher maxclients "
        "increase 'ulimit -n'.",
        maxclients, maxclients + kReservedFds, possible);
  }
  return possible;
}

}  // namespace

thread_local IoThread* IoThread::current_ = nullptr;

// --- ClientRegistry ---

void ClientRegistry::Add(std::shared_ptr<Client> client) {
  MutexLock lock(&mu_);
  uint64_t id = client->id();
  if (clients_.emplace(id, std::move(client)).second) {
    size_.fetch_add(1, std::memory_order_relaxed);
  }
}

void ClientRegistry::Remove(uint64_t id) {
  std::shared_ptr<Client> removed;  // released outside the lock
  MutexLock lock(&mu_);
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  removed = std::move(it->second);
  clients_.erase(it);
  size_.fetch_sub(1, std::memory_order_relaxed);
}

std::vector<std::shared_ptr<Client>> ClientRegistry::Snapshot() const {
  MutexLock lock(&mu_);
  std::vector<std::shared_ptr<Client>> clients;
  clients.reserve(clients_.size());
  for (const auto& [id, client] : clients_) clients.push_back(client);
  return clients;
}

// --- Server ---

struct Server::ControlLoop {
  asio::io_context io{1};
  asio::steady_timer cron{io};
  asio::signal_set signals{io};
  // The last kOpsSamples (time, commands) readings for instantaneous_ops_per_sec.
  std::vector<std::pair<int64_t, uint64_t>> samples;
  int64_t last_idle_check_ms = 0;
};

Server::Server(ServerConfig config) : config_(std::move(config)) {}

Server::~Server() {
  // A script still running is stopped first: it holds the gate that I/O threads wait on.
  if (scripting_ != nullptr) scripting_->Stop();
  // Connections first: they reference everything else.
  if (event_loop_ != nullptr) event_loop_->Stop();
  // A background save goes first: it saves through the replication role.
  if (persistence_ != nullptr) persistence_->CancelBackgroundSave();
  // Replica sessions, the link to a primary and WAITs in progress go before the Store, and
  // before the I/O threads that a finishing WAIT posts its reply to.
  replication_.reset();
  event_loop_.reset();
  persistence_.reset();
}

Result<std::unique_ptr<Server>> Server::Create(ServerConfig config) {
  std::unique_ptr<Server> server(new Server(std::move(config)));
  MIRRORKV_RETURN_IF_ERROR(server->Init());
  return server;
}

// Everything that can fail runs before the first socket opens: logging, the Store, the
// snapshot load. The transport is created last, with the number of I/O threads fixed
// (the EXEC gate has one slot per thread).
BindAddress ParseBindAddress(std::string_view text) {
  BindAddress address;
  address.optional = !text.empty() && text[0] == '-';
  if (address.optional) text.remove_prefix(1);
  address.literal = text == "*" ? "0.0.0.0" : text == "::*" ? "::" : std::string(text);
  return address;
}

Status Server::Init() {
  MutexLock lock(&config_mu_);
  Logger::Get().set_level(config_.loglevel);
  if (!config_.logfile.empty()) MIRRORKV_RETURN_IF_ERROR(Logger::Get().SetFile(config_.logfile));
  start_time_ms_ = NowMs();
  run_id_ = RandomHex(40);
  port_.store(config_.port, std::memory_order_relaxed);
  config_.maxclients = AdjustOpenFilesLimit(config_.maxclients);

  // By default half the CPUs: the kernel's network processing and the clients (often on
  // the same machine) need the rest. On the 2-core benchmark machine one I/O thread beat
  // two by 10-25% in every workload (docs/server.md).
  size_t threads = config_.io_threads > 0
                       ? static_cast<size_t>(config_.io_threads)
                       : std::max<size_t>(1, std::thread::hardware_concurrency() / 2);
  Log(LogLevel::kNotice, "mirrorkv-server %s (Redis %s protocol) starting, pid=%d", kServerVersion,
      kRedisVersion, getpid());
  if (config_.config_file.empty()) {
    Log(LogLevel::kNotice,
        "No config file specified, using the default config (in memory, 127.0.0.1:%d). To "
        "specify a config file use mirrorkv-server /path/to/redis.conf",
        config_.port);
  }
  if (config_.databases != 1) {
    Log(LogLevel::kWarning, "databases %d: mirrorkv has one keyspace, only SELECT 0 works",
        config_.databases);
  }

  keyspace_ = std::make_unique<KeyspaceListener>();
  StoreOptions options;
  options.max_memory = config_.maxmemory;
  options.eviction_policy = config_.maxmemory_policy;
  options.eviction_samples = static_cast<uint32_t>(config_.maxmemory_samples);
  options.listener = keyspace_.get();
  // The Store's per-value limit is the protocol's, so a value that can arrive can be kept.
  options.max_value_bytes =
      std::max<size_t>(options.max_value_bytes, static_cast<size_t>(config_.proto_max_bulk_len));
  Result<std::unique_ptr<Store>> store = Store::Open(options);
  if (!store.ok()) return store.status();
  store_ = std::move(*store);
  gate_ = std::make_unique<ExecGate>(threads);
  pubsub_ = std::make_unique<PubSub>();
  persistence_ = std::make_unique<Persistence>(*this);
  ApplyLiveConfig(config_);

  // load-rdb names a Redis dump.rdb to start from; otherwise dbfilename, a snapshot or
  // an RDB by its magic.
  const bool rdb = !config_.load_rdb.empty();
  std::string path = rdb ? config_.load_rdb : absl::StrCat(config_.dir, "/", config_.dbfilename);
  Result<ReplicationPosition> loaded =
      persistence_->Load(*store_, path, rdb, config_.skip_unsupported_data);
  if (!loaded.ok()) {
    return loaded.status().WithContext(
        absl::StrCat("can't load ", rdb ? "the RDB '" : "the snapshot '", path, "'"));
  }
  // The Primary starts logging once the snapshot is loaded: a replica's full resync sends
  // the loaded data from the snapshot of the Store, not from the log.
  Result<std::unique_ptr<ServerReplication>> replication =
      ServerReplication::Create(*store_, ReplicationSettingsLocked(), *loaded);
  if (!replication.ok()) return replication.status();
  replication_ = std::move(*replication);
  scripting_ = std::make_unique<Scripting>(*this);
  event_loop_ = NewAsioEventLoop(*this, threads);
  return Status::Ok();
}

void Server::ApplyLiveConfig(const ServerConfig& config) {
  max_bulk_len_.store(config.proto_max_bulk_len, std::memory_order_relaxed);
  max_query_buffer_.store(config.client_query_buffer_limit, std::memory_order_relaxed);
  password_required_.store(!config.requirepass.empty(), std::memory_order_relaxed);
  protected_mode_.store(config.protected_mode, std::memory_order_relaxed);
  timeout_.store(config.timeout, std::memory_order_relaxed);
  maxclients_.store(config.maxclients, std::memory_order_relaxed);
  busy_reply_threshold_ms_.store(config.busy_reply_threshold_ms, std::memory_order_relaxed);
  normal_output_limit_.Set(config.output_buffer_limits.normal);
  pubsub_output_limit_.Set(config.output_buffer_limits.pubsub);
  Logger::Get().set_level(config.loglevel);
  if (store_ != nullptr) {
    store_->SetMaxMemory(config.maxmemory);
    store_->SetEvictionPolicy(config.maxmemory_policy);
  }
}

ReplicationSettings Server::ReplicationSettingsLocked() const {
  ReplicationSettings settings;
  settings.backlog_bytes = static_cast<size_t>(config_.repl_backlog_size);
  settings.min_replicas_to_write = static_cast<size_t>(config_.min_replicas_to_write);
  settings.min_replicas_max_lag = std::chrono::seconds(config_.min_replicas_max_lag);
  settings.masterauth = config_.masterauth;
  settings.listening_port = static_cast<uint16_t>(config_.port);
  const OutputBufferLimit& replica_limit = config_.output_buffer_limits.replica;
  settings.replica_buffer_hard = static_cast<size_t>(replica_limit.hard);
  settings.replica_buffer_soft = static_cast<size_t>(replica_limit.soft);
  settings.replica_buffer_soft_period = std::chrono::seconds(replica_limit.soft_seconds);
  settings.skip_unsupported_data = config_.skip_unsupported_data;
  return settings;
}

// The configuration lock is held across the switch so that CONFIG REWRITE (which Sentinel
// sends right after SLAVEOF) records the role that is in effect.
bool Server::ReplicaOf(const std::string& host, uint16_t port) {
  {
    MutexLock lock(&config_mu_);
    if (!replication_->ReplicaOf(host, port, ReplicationSettingsLocked())) return false;
    config_.replicaof_host = host;
    config_.replicaof_port = port;
  }
  if (role_listener_) role_listener_(host, port);
  return true;
}

Status Server::PromoteToPrimary() {
  bool was_replica;
  {
    MutexLock lock(&config_mu_);
    was_replica = replication_->is_replica();
    MIRRORKV_RETURN_IF_ERROR(replication_->PromoteToPrimary(ReplicationSettingsLocked()));
    config_.replicaof_host.clear();
    config_.replicaof_port = 0;
  }
  if (was_replica && role_listener_) role_listener_("", 0);
  return Status::Ok();
}

ServerConfig Server::config() const {
  MutexLock lock(&config_mu_);
  return config_;
}

// CONFIG SET validates on a copy, then publishes the values read on hot paths to their
// atomics and pushes maxmemory and the policy into the Store.
Status Server::SetConfig(const std::vector<std::string_view>& args, bool loopback_client) {
  MutexLock lock(&config_mu_);
  ServerConfig updated = config_;
  MIRRORKV_RETURN_IF_ERROR(ConfigSet(updated, args, loopback_client));
  if (updated.maxclients > config_.maxclients) {
    int64_t possible = FitOpenFilesLimit(updated.maxclients);
    if (possible < updated.maxclients) {
      return Status::InvalidArgument(absl::StrFormat(
          "ERR CONFIG SET failed (possibly related to argument 'maxclients') - The operating "
          "system is not able to handle the specified number of clients, try with %d",
          possible));
    }
  }
  ApplyLiveConfig(updated);
  if (updated.min_replicas_to_write != config_.min_replicas_to_write ||
      updated.min_replicas_max_lag != config_.min_replicas_max_lag) {
    MIRRORKV_RETURN_IF_ERROR(
        replication_->SetMinReplicas(static_cast<size_t>(updated.min_replicas_to_write),
                                     std::chrono::seconds(updated.min_replicas_max_lag)));
  }
  config_ = std::move(updated);
  return Status::Ok();
}

Status Server::RewriteConfig() {
  MutexLock lock(&config_mu_);
  return ConfigRewrite(config_);
}

bool Server::CheckPassword(std::string_view password) const {
  MutexLock lock(&config_mu_);
  const std::string& expected = config_.requirepass;
  // Constant time in the password's content (the length still shows, as in Redis).
  unsigned char difference = expected.size() != password.size();
  for (size_t i = 0; i < password.size(); ++i) {
    difference |= static_cast<unsigned char>(password[i]) ^
                  static_cast<unsigned char>(i < expected.size() ? expected[i] : 0);
  }
  return difference == 0;
}

std::span<IoThread* const> Server::threads() const {
  return event_loop_ != nullptr ? event_loop_->threads() : std::span<IoThread* const>();
}

std::string_view AdmissionRefusal(size_t clients, int64_t maxclients, bool protected_mode,
                                  bool password_required, bool loopback) {
  if (static_cast<int64_t>(clients) >= maxclients) return kMaxClientsReply;
  if (protected_mode && !password_required && !loopback) return kDeniedReply;
  return {};
}

std::string_view Server::AdmitConnection(bool loopback) {
  // Replicas are connections too (Redis counts them as clients), though they left the
  // client registry when they were handed to the Primary.
  size_t connections = clients_.size() + replication_->replica_count();
  std::string_view refusal =
      AdmissionRefusal(connections, maxclients(), protected_mode(), password_required(), loopback);
  if (!refusal.empty()) {
    counters_.rejected_connections.fetch_add(1, std::memory_order_relaxed);
    Log(LogLevel::kVerbose, "Rejected a connection: %s",
        refusal == kMaxClientsReply ? "max number of clients reached" : "protected mode");
  }
  return refusal;
}

void Server::OnClientConnected(const std::shared_ptr<Client>& client) {
  clients_.Add(client);
  client->thread().AddClient(client.get());
  counters_.connections_received.fetch_add(1, std::memory_order_relaxed);
  Log(LogLevel::kVerbose, "Accepted %s (id=%d)", client->address().peer, client->id());
}

// The final save runs on the caller's thread before anything stops, so that a failed
// save can still be reported to the client (and the server keeps serving, as Redis does).
Status Server::Shutdown(ShutdownMode mode) {
  if (shutting_down()) return Status::Ok();
  ServerConfig current = config();
  bool save =
      mode == ShutdownMode::kSave || (mode == ShutdownMode::kDefault && !current.save.empty());
  Log(LogLevel::kWarning, "User requested shutdown...");
  if (save) {
    Log(LogLevel::kNotice, "Saving the final snapshot before exiting.");
    Status status = persistence_->SaveForShutdown();
    if (!status.ok()) {
      Log(LogLevel::kWarning, "Error trying to save the DB, can't exit.");
      return status;
    }
  }
  StopServing();
  return Status::Ok();
}

void Server::StopServing() {
  shutting_down_.store(true, std::memory_order_release);
  // io_context::stop is thread-safe; Run() returns and tears the transport down.
  if (control_ != nullptr) control_->io.stop();
}

void Server::CloseIdleClients(int64_t now_ms) {
  int64_t timeout_ms = timeout_seconds() * 1000;
  if (timeout_ms <= 0) return;
  for (IoThread* thread : threads()) {
    thread->Post([thread, now_ms, timeout_ms] {
      std::vector<Client*> idle;
      for (Client* client : thread->clients()) {
        // Subscribers wait for messages by design, so they never time out (as in Redis).
        if (!client->is_pubsub() && now_ms - client->last_interaction_ms() > timeout_ms) {
          idle.push_back(client);
        }
      }
      for (Client* client : idle) {
        Log(LogLevel::kVerbose, "Closing idle client id=%d", client->id());
        client->Close();
      }
    });
  }
}

// Runs every 1000/hz ms on the control thread; nothing here touches a connection
// directly (idle checks are posted to the owning I/O threads).
void Server::Cron() {
  int64_t now = NowMs();
  std::vector<SavePoint> save_points;
  {
    MutexLock lock(&config_mu_);
    save_points = config_.save;
  }
  persistence_->Cron(now, save_points);

  uint64_t commands = 0;
  for (const IoThread* thread : threads()) {
    commands += thread->stats().commands.load(std::memory_order_relaxed);
  }
  auto& samples = control_->samples;
  samples.emplace_back(now, commands);
  if (samples.size() > kOpsSamples + 1) samples.erase(samples.begin());
  if (samples.size() >= 2 && samples.back().first > samples.front().first) {
    uint64_t done = samples.back().second - samples.front().second;
    int64_t elapsed = samples.back().first - samples.front().first;
    instantaneous_ops_.store(static_cast<int64_t>(done * 1000 / elapsed),
                             std::memory_order_relaxed);
  }
  if (now - control_->last_idle_check_ms >= 1000) {
    control_->last_idle_check_ms = now;
    CloseIdleClients(now);
  }
}

int Server::Run() {
  if (!Listen().ok()) return 1;
  return Serve(/*handle_signals=*/true);
}

Status Server::Listen() {
  control_ = std::make_unique<ControlLoop>();
  ServerConfig current = config();
  int port = static_cast<int>(current.port);
  Status listening =
      event_loop_->Listen(current.bind, &port, static_cast<int>(current.tcp_backlog));
  if (!listening.ok()) {
    Log(LogLevel::kWarning, "%s", listening.message());
    Log(LogLevel::kWarning, "Failed listening on port %d (tcp), aborting.", current.port);
    return listening;
  }
  {
    // Port 0 asked for a free port: from here on the bound one is this server's port (INFO,
    // CONFIG GET, and what it announces to a primary as a replica).
    MutexLock lock(&config_mu_);
    config_.port = port;
    port_.store(port, std::memory_order_relaxed);
    // replicaof from the configuration: started once the port that the replica announces
    // to its primary (REPLCONF listening-port) is known.
    if (!config_.replicaof_host.empty()) {
      replication_->ReplicaOf(config_.replicaof_host, static_cast<uint16_t>(config_.replicaof_port),
                              ReplicationSettingsLocked());
    }
  }
  if (!current.pidfile.empty()) {
    std::ofstream pidfile(current.pidfile);
    pidfile << getpid() << "\n";
  }
  event_loop_->Start();
  Log(LogLevel::kNotice, "Listening on %s port %d with %d I/O threads",
      absl::StrJoin(current.bind, " "), port, threads().size());
  Log(LogLevel::kNotice, "Ready to accept connections");
  return Status::Ok();
}

// The control thread: handles signals (if asked) and the cron until SHUTDOWN, a signal or
// StopServing stops it; then the transport closes every connection and joins its threads
// before Serve returns.
int Server::Serve(bool handle_signals) {
  ServerConfig current = config();
  ControlLoop& control = *control_;
  if (handle_signals) {
    control.signals.add(SIGINT);
    control.signals.add(SIGTERM);
  }
  std::function<void(const asio::error_code&, int)> on_signal =
      [this, &control, &on_signal](const asio::error_code& error, int signal) {
        if (error) return;
        Log(LogLevel::kWarning, "Received %s scheduling shutdown...",
            signal == SIGINT ? "SIGINT" : "SIGTERM");
        if (!Shutdown(ShutdownMode::kDefault).ok()) {
          control.signals.async_wait(on_signal);  // keep running, as Redis does
        }
      };
  if (handle_signals) control.signals.async_wait(on_signal);

  int64_t period_ms = std::max<int64_t>(1, 1000 / std::max<int64_t>(1, current.hz));
  std::function<void(const asio::error_code&)> on_tick = [&](const asio::error_code& error) {
    if (error) return;
    Cron();
    control.cron.expires_after(std::chrono::milliseconds(period_ms));
    control.cron.async_wait(on_tick);
  };
  control.cron.expires_after(std::chrono::milliseconds(period_ms));
  control.cron.async_wait(on_tick);

  if (!shutting_down()) control.io.run();
  shutting_down_.store(true, std::memory_order_release);

  event_loop_->Stop();
  persistence_->WaitForBackgroundSave();
  if (!current.pidfile.empty()) unlink(current.pidfile.c_str());
  Log(LogLevel::kWarning, "mirrorkv is now ready to exit, bye bye...");
  return 0;
}

}  // namespace mirrorkv::server
