// COPY source destination [DB index] [REPLACE], as Redis 7.0 answers it. The Store has no
// two-key atomic copy, so the command takes the whole EXEC gate (as EXEC does) for the
// read of the source and the write of the destination; inside EXEC or a script it holds
// the gate already (RunExclusive). The write is an ordinary Set with the source's absolute
// deadline, so a replica receives it as SET ... PXAT (an effect).
#include "server/client.h"
#include "server/commands.h"
#include "server/exec_gate.h"
#include "server/io_thread.h"
#include "server/replication_role.h"
#include "server/server.h"

namespace mirrorkv::server {
namespace {

// Copies under the gate already held (or taken by CopyCommand); replies 1 or 0.
void CopyLocked(CommandContext& ctx, bool replace) {
  Store& store = ctx.server.store();
  std::string value;
  Status read = store.Get(ctx.args[1], &value);
  if (!read.ok() && store.Exists(ctx.args[1])) {
    // A list, set, hash or sorted set (Get reads strings only): copying collections is
    // not implemented yet, and a silent 0 would read as "no such key".
    ctx.reply.Error("ERR COPY of a list, set, hash or sorted set is not supported");
    return;
  }
  if (!read.ok()) {
    ctx.reply.Integer(0);
    return;
  }
  int64_t deadline = store.ExpireTime(ctx.args[1]);
  SetOptions options;
  options.condition = replace ? SetCondition::kAlways : SetCondition::kIfAbsent;
  options.expiry = deadline > 0 ? Expiry::At(deadline) : Expiry::Clear();
  Result<bool> written = store.Set(ctx.args[2], value, options);
  if (!written.ok()) {
    ReplyStatusError(ctx, written.status());
  } else {
    ctx.reply.Integer(*written ? 1 : 0);
  }
}

void CopyCommand(CommandContext& ctx) {
  bool replace = false;
  for (size_t i = 3; i < ctx.argc(); ++i) {
    if (EqualsIgnoreCase(ctx.args[i], "replace")) {
      replace = true;
    } else if (EqualsIgnoreCase(ctx.args[i], "db") && i + 1 < ctx.argc()) {
      int64_t db = 0;
      if (!ParseIntegerArg(ctx, ctx.args[++i], &db)) return;
      // One keyspace: only database 0 exists (see SELECT).
      if (db != 0) {
        ctx.reply.Error("ERR DB index is out of range");
        return;
      }
    } else {
      ReplySyntaxError(ctx);
      return;
    }
  }
  if (ctx.args[1] == ctx.args[2]) {
    ctx.reply.Error("ERR source and destination objects are the same");
    return;
  }
  RunExclusive(ctx, [&] { CopyLocked(ctx, replace); });
}

}  // namespace

void RunExclusive(CommandContext& ctx, absl::FunctionRef<void()> body) {
  if (ctx.in_exec) {
    body();  // EXEC and scripts hold the gate and group their effects already
    return;
  }
  // Exclusive, as in ExecMulti: give up this thread's share, take every slot.
  ExecGate& gate = ctx.server.gate();
  const size_t slot = ctx.client.thread().index();
  gate.UnlockShared(slot);
  gate.LockAll();
  {
    ServerReplication::EffectGroup group(ctx.server.replication());
    body();
  }
  gate.UnlockAll();
  gate.LockShared(slot);
}

namespace {

const CommandSpec kCommands[] = {
    {"copy", -3, kCmdWrite | kCmdDenyOom, CopyCommand, 1, 2, 1, "@keyspace @write @slow"},
};

}  // namespace

std::span<const CommandSpec> CopyCommands() { return kCommands; }

}  // namespace mirrorkv::server
