// Server: the RESP server of mirrorkv-server, embedded in an application's process. It
// serves the same commands as the binary (GET/SET and the rest, ROLE, INFO replication,
// REPLICAOF/SLAVEOF, WAIT, PSYNC, and what redis-sentinel sends), so redis-cli, client
// libraries, other nodes' replicas and redis-sentinel reach the node over the network,
// while the application reads and writes the node's Store directly, with no network hop.
//
//   mirrorkv::ServerOptions options;
//   options.port = 0;  // any free port
//   options.on_role_change = [](const mirrorkv::RoleChange& change) { ... };
//   auto node = mirrorkv::Server::Start(options);
//   if (!node.ok()) return node.status();
//   (*node)->store().Set("session:42", "alice");   // in process; replicated as usual
//   ... (*node)->port() ...                         // where replicas and Sentinel connect
//
// Replication follows the server's commands: a node starts as a primary (or as a replica
// of ServerOptions::replicaof); REPLICAOF host port makes it a replica, REPLICAOF NO ONE
// promotes it (redis-sentinel sends both during a failover), and each change is reported
// to on_role_change. While a replica, the Store refuses the application's writes with
// kFailedPrecondition ("READONLY ..."), as it refuses clients'.
//
// Thread-safe. Errors are Status; nothing throws.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mirrorkv/status.h"
#include "mirrorkv/store.h"

namespace mirrorkv {

// A node's replication role after a change.
struct RoleChange {
  bool replica = false;      // false: now a primary
  std::string primary_host;  // the primary followed (replica only)
  uint16_t primary_port = 0;
};

// A RESP reply to a command run with Server::Write. Error replies are not replies here
// but the call's Status.
struct ServerReply {
  enum class Type {
    kStatus,   // +OK and the like: `text`
    kInteger,  // `integer`
    kBulk,     // `text`, binary-safe
    kNil,      // a null bulk or array (SET ... NX that did not set, GETDEL of nothing)
    kArray,    // `elements`
  };
  Type type = Type::kNil;
  std::string text;
  int64_t integer = 0;
  std::vector<ServerReply> elements;
};

struct ServerOptions {
  // Addresses to listen on, in the `bind` setting's syntax ("127.0.0.1", "::1", "*").
  std::vector<std::string> bind = {"127.0.0.1"};
  // The TCP port; 0 binds a free one (Server::port() says which).
  uint16_t port = 6379;
  // Clients must AUTH with this first (requirepass); empty: no password.
  std::string requirepass;
  // Sent to the primary when this node is a replica (masterauth).
  std::string masterauth;
  // Refuse clients from other hosts while no password is set (protected-mode).
  bool protected_mode = true;
  // Connections served at once (maxclients) and I/O threads (0: half the CPUs).
  int64_t maxclients = 10000;
  int io_threads = 0;
  // The Store's memory limit in bytes (maxmemory; 0: none).
  size_t max_memory = 0;
  // Follow this primary from the start ("host port"; empty: start as a primary).
  std::string replicaof;
  // Any other setting, as mirrorkv-server takes it on its command line:
  // {"--save", "", "--loglevel", "warning", "--min-replicas-to-write", "1"}.
  std::vector<std::string> settings;
  // Called after every role change made by REPLICAOF, on a server thread; it must not
  // block for long. Null: none.
  std::function<void(const RoleChange&)> on_role_change;
};

class Server {
 public:
  // Opens the node's Store, listens and serves on threads of its own. kInvalidArgument
  // for a bad setting (the message names it); kIOError if the port cannot be bound.
  static Result<std::unique_ptr<Server>> Start(const ServerOptions& options);
  // Stop(), then frees the Store.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Closes every connection (clients, replicas, the link to a primary), ends WAITs in
  // progress and joins every thread. Saves nothing. Idempotent.
  void Stop();

  // The port listened on (the bound one when ServerOptions::port was 0).
  uint16_t port() const;
  // The node's Store, to read and write in process. Valid until the Server is destroyed.
  Store& store();
  // Whether the node is a replica now.
  bool is_replica() const;
  // WAIT: how many replicas acknowledged every write made before the call, waiting up to
  // `timeout` for `count` of them (0: counts without waiting). kFailedPrecondition on a
  // replica.
  Result<size_t> WaitForReplicas(size_t count, std::chrono::milliseconds timeout);

  // Runs a write command ({"SET", key, value, "PX", "60000"}, {"GETDEL", code}, ...) on
  // the node's current primary, with read-your-writes: when this returns OK, this node's
  // Store shows the write (and everything the primary had applied before it). On a
  // primary node the command runs on this server; on a replica node it is forwarded to
  // the primary over one pooled connection (authenticated with masterauth), then this
  // call waits until the local replica has applied the primary's offset read on that
  // connection right after the write. All within `timeout`.
  //
  // Never a false OK: if the primary dies or stops being the primary before both the
  // reply and its offset arrive, the call fails, and the write may or may not have been
  // applied (kUnavailable, or kDeadlineExceeded when `timeout` passed; the message says
  // which). Errors the primary replies with come back as a Status: kUnavailable for the
  // retryable ones (READONLY during a failover, LOADING, BUSY, MASTERDOWN),
  // kResourceExhausted for OOM, kInvalidArgument for the rest (WRONGTYPE, syntax).
  // Thread-safe; forwarded calls are serialized on the one connection.
  Result<ServerReply> Write(std::span<const std::string_view> command,
                            std::chrono::milliseconds timeout);
  Result<ServerReply> Write(std::initializer_list<std::string_view> command,
                            std::chrono::milliseconds timeout) {
    return Write(std::span<const std::string_view>(command.begin(), command.size()), timeout);
  }

  class Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mirrorkv
