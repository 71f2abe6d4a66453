// PrimaryForwarder: runs commands on a (possibly remote) RESP server over one pooled
// connection, for Server::Write (include/mirrorkv/server.h): the write of a replica node
// goes to its primary, and the reply comes back with the primary's replication position
// read on the same connection right after the write (the fence that read-your-writes
// waits for: ServerReplication::WriteFence).
//
// Why a connection of our own rather than a client library: the forwarder needs four
// things (connect, AUTH, send a pipelined command, read RESP2 replies), all of which the
// replication module's transport and buffered reader already do; hiredis would add a
// dependency and a second socket layer for ~150 lines.
//
// Thread-safe: callers are serialized on the one connection (a forwarded write is a
// round trip on loopback or a LAN; a pool of one keeps the primary's view of the
// application's writes in the order they were made).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "engine/base/mutex.h"
#include "mirrorkv/replication.h"
#include "mirrorkv/server.h"
#include "mirrorkv/status.h"
#include "mirrorkv/transport.h"

namespace mirrorkv::server {

class PrimaryForwarder {
 public:
  // What a forwarded command returned, and the position the primary had reached once it
  // ran (INFO replication on the same connection: it covers the command's effects).
  struct Outcome {
    ServerReply reply;
    ReplicationPosition position;  // master_replid, master_repl_offset
    bool streamed = true;          // repl_backlog_active: the primary keeps a stream
  };

  // Runs `command` on host:port, authenticating with `password` when it is set (on a
  // new connection). Errors: the server's error reply as a Status (kUnavailable for the
  // retryable ones: READONLY, MASTERDOWN, LOADING, BUSY, TRYAGAIN; kResourceExhausted for
  // OOM; kFailedPrecondition for NOAUTH/WRONGPASS/NOPERM; kInvalidArgument otherwise);
  // kUnavailable when the connection breaks, saying whether the command may have run;
  // kDeadlineExceeded when `timeout` passes first. After any error but an error reply
  // the connection is dropped and the next call opens a new one.
  Result<Outcome> Run(const std::string& host, uint16_t port, const std::string& password,
                      std::span<const std::string_view> command, std::chrono::milliseconds timeout)
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  Status ConnectLocked(const std::string& host, uint16_t port, const std::string& password,
                       std::chrono::milliseconds timeout) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Mutex mu_;
  std::unique_ptr<Transport> connection_ ABSL_GUARDED_BY(mu_);
  std::string connected_host_ ABSL_GUARDED_BY(mu_);
  uint16_t connected_port_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace mirrorkv::server
