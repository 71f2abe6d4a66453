// The replication commands: REPLCONF, PSYNC and SYNC (a replica's handshake, after which
// the connection is handed to the replication primary), REPLICAOF / SLAVEOF, ROLE and
// WAIT, with Redis 7.0's replies. The role itself is server/replication_role.h.
#include <algorithm>
#include <chrono>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/base/numbers.h"
#include "server/client.h"
#include "server/commands.h"
#include "server/io_thread.h"
#include "server/replication_role.h"
#include "server/server.h"

namespace mirrorkv::server {
namespace {

// REPLCONF <option> <value> ...: what a replica announces before PSYNC, kept on the
// connection until its PSYNC. ACK and GETACK get no reply, as in Redis (they only matter
// on an established replication link, which is no longer a client here).
void ReplconfCommand(CommandContext& ctx) {
  Result<bool> replied = ctx.client.replica_handshake().Replconf(ctx.args);
  if (!replied.ok()) {
    ctx.reply.Error(replied.status().message());
  } else if (*replied) {
    ctx.reply.Ok();
  }
}

// PSYNC <replication id> <offset> and SYNC: the connection becomes a replica. Nothing is
// replied here: the Primary's session answers (+FULLRESYNC / +CONTINUE) once the client
// has handed the socket over (Client::handover_pending).
void PsyncCommand(CommandContext& ctx) {
  Status allowed = ctx.server.replication().CheckCanServeReplicas();
  if (!allowed.ok()) {
    ctx.reply.Error(allowed.message());
    return;
  }
  Status accepted = ctx.client.replica_handshake().Psync(ctx.args);
  if (!accepted.ok()) {
    ctx.reply.Error(accepted.message());
    return;
  }
  ctx.client.RequestHandover();
}

// REPLICAOF host port | REPLICAOF NO ONE (and its old name SLAVEOF).
void ReplicaOfCommand(CommandContext& ctx) {
  if (EqualsIgnoreCase(ctx.args[1], "no") && EqualsIgnoreCase(ctx.args[2], "one")) {
    Status status = ctx.server.PromoteToPrimary();
    if (status.ok()) {
      ctx.reply.Ok();
    } else {
      ReplyStatusError(ctx, status);
    }
    return;
  }
  int64_t port;
  if (!internal::ParseInt64(ctx.args[2], &port) || port < 0 || port > 65535) {
    ctx.reply.Error("ERR Invalid master port");
    return;
  }
  if (!ctx.server.ReplicaOf(std::string(ctx.args[1]), static_cast<uint16_t>(port))) {
    ctx.reply.SimpleString("OK Already connected to specified master");
    return;
  }
  ctx.reply.Ok();
}

void ReplyWaitResult(ReplyBuilder& reply, const Result<size_t>& acked) {
  if (acked.ok()) {
    reply.Integer(static_cast<int64_t>(*acked));
  } else {
    reply.Error(acked.status().message());
  }
}

std::string_view LinkStateName(LinkState state) {
  switch (state) {
    case LinkState::kConnecting:
      return "connecting";
    case LinkState::kSyncing:
      return "sync";
    case LinkState::kConnected:
      return "connected";
    case LinkState::kStopped:
    case LinkState::kDown:
      break;
  }
  return "connect";
}

// ROLE: ["master", offset, [[ip, port, acked offset], ...]] or
// ["slave", host, port, state, offset] (offset -1 while the link is not up).
void RoleCommand(CommandContext& ctx) {
  ReplicationReport report = ctx.server.replication().Report();
  if (report.replica) {
    bool up = report.link.link == LinkState::kConnected;
    ctx.reply.ArrayHeader(5);
    ctx.reply.Bulk("slave");
    ctx.reply.Bulk(report.master_host);
    ctx.reply.Integer(report.master_port);
    ctx.reply.Bulk(LinkStateName(report.link.link));
    ctx.reply.Integer(up ? static_cast<int64_t>(report.position.offset) : -1);
    return;
  }
  ctx.reply.ArrayHeader(3);
  ctx.reply.Bulk("master");
  ctx.reply.Integer(static_cast<int64_t>(report.position.offset));
  ctx.reply.ArrayHeader(report.replicas.size());
  for (const ReplicaInfo& replica : report.replicas) {
    ctx.reply.ArrayHeader(3);
    ctx.reply.Bulk(ReplicaHost(replica.peer));
    ctx.reply.Bulk(std::to_string(replica.listening_port));
    ctx.reply.Bulk(std::to_string(replica.acked_offset));
  }
}

// WAIT numreplicas timeout: Redis's semantics (timeout in milliseconds, 0 = no limit).
// The client is blocked, not its I/O thread, and no thread waits: the Primary completes
// the WAIT when an ACK satisfies it, and the reply comes back through Client::Unblock,
// always posted to the client's thread (never run inside this command, even when the
// count is reached at once). Inside EXEC it only counts (as Redis does for a client that
// cannot block).
void WaitCommand(CommandContext& ctx) {
  int64_t count;
  int64_t timeout;
  if (!ParseIntegerArg(ctx, ctx.args[1], &count)) return;
  if (!ParseIntegerArg(ctx, ctx.args[2], &timeout,
                       "ERR timeout is not an integer or out of range")) {
    return;
  }
  if (timeout < 0) {
    ctx.reply.Error("ERR timeout is negative");
    return;
  }
  size_t wanted = static_cast<size_t>(std::max<int64_t>(count, 0));
  if (ctx.in_exec) {
    ctx.server.replication().WaitForReplicas(
        wanted, std::chrono::milliseconds(0), /*block=*/false, [] { return false; },
        [&ctx](Result<size_t> acked) { ReplyWaitResult(ctx.reply, acked); });
    return;
  }
  ctx.client.Block();
  std::shared_ptr<Client> client = ctx.client.shared_from_this();
  ctx.server.replication().WaitForReplicas(
      wanted, std::chrono::milliseconds(timeout), /*block=*/true,
      [client] { return client->closed(); },
      [client](Result<size_t> acked) {
        client->thread().Post([client, acked = std::move(acked)] {
          client->Unblock([acked](ReplyBuilder& reply) { ReplyWaitResult(reply, acked); });
        });
      });
}

// Only REPLCONF may run beside a slow script (allow-busy), as in Redis 7.0: a PSYNC or
// REPLICAOF then would change the role under the script's feet.
constexpr uint32_t kReplFlags = kCmdAdmin | kCmdNoScript;

const CommandSpec kCommands[] = {
    {"replconf", -1, kReplFlags | kCmdLoading | kCmdStale | kCmdAllowBusy, ReplconfCommand, 0, 0, 0,
     "@admin @slow @dangerous"},
    {"psync", -3, kReplFlags | kCmdNoMulti, PsyncCommand, 0, 0, 0, "@admin @slow @dangerous"},
    {"sync", 1, kReplFlags | kCmdNoMulti, PsyncCommand, 0, 0, 0, "@admin @slow @dangerous"},
    {"replicaof", 3, kReplFlags | kCmdStale, ReplicaOfCommand, 0, 0, 0, "@admin @slow @dangerous"},
    {"slaveof", 3, kReplFlags | kCmdStale, ReplicaOfCommand, 0, 0, 0, "@admin @slow @dangerous"},
    {"role", 1, kCmdNoScript | kCmdLoading | kCmdStale | kCmdFast, RoleCommand, 0, 0, 0,
     "@admin @fast @dangerous"},
    {"wait", 3, kCmdNoScript, WaitCommand, 0, 0, 0, "@slow @connection"},
};

}  // namespace

std::span<const CommandSpec> ReplicationCommands() { return kCommands; }

}  // namespace mirrorkv::server
