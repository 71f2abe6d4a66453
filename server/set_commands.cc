// The set commands: SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP, over
// mirrorkv::Sets, with Redis 7.0's checks and replies (set-typed in RESP3).
#include <string>

#include "mirrorkv/collections.h"
#include "mirrorkv/store.h"
#include "server/collection_replies.h"
#include "server/commands.h"
#include "server/server.h"

namespace mirrorkv::server {
namespace {

void SAddCommand(CommandContext& ctx) {
  Result<size_t> added = Sets(ctx.server.store()).Add(ctx.args[1], ctx.args.subspan(2));
  if (!added.ok()) return ReplyStatusError(ctx, added.status());
  ctx.reply.Integer(static_cast<int64_t>(*added));
}

void SRemCommand(CommandContext& ctx) {
  Result<size_t> removed = Sets(ctx.server.store()).Remove(ctx.args[1], ctx.args.subspan(2));
  if (!removed.ok()) return ReplyStatusError(ctx, removed.status());
  ctx.reply.Integer(static_cast<int64_t>(*removed));
}

void SMembersCommand(CommandContext& ctx) {
  ArrayWriter writer(ctx.reply, ArrayWriter::Shape::kSet);
  Result<bool> found = Sets(ctx.server.store()).Members(ctx.args[1], [&](const Element& e) {
    writer.Item(e, e.member);
  });
  if (!found.ok()) return ReplyStatusError(ctx, found.status());
  writer.Finish();
}

void SIsMemberCommand(CommandContext& ctx) {
  Result<bool> present = Sets(ctx.server.store()).Contains(ctx.args[1], ctx.args[2]);
  if (!present.ok()) return ReplyStatusError(ctx, present.status());
  ctx.reply.Integer(*present ? 1 : 0);
}

void SMIsMemberCommand(CommandContext& ctx) {
  Sets sets(ctx.server.store());
  // The type is checked once, before any reply is written.
  Result<size_t> size = sets.Size(ctx.args[1]);
  if (!size.ok()) return ReplyStatusError(ctx, size.status());
  ctx.reply.ArrayHeader(ctx.argc() - 2);
  for (size_t i = 2; i < ctx.argc(); ++i) {
    Result<bool> present = sets.Contains(ctx.args[1], ctx.args[i]);
    ctx.reply.Integer(present.ok() && *present ? 1 : 0);
  }
}

void SCardCommand(CommandContext& ctx) {
  Result<size_t> size = Sets(ctx.server.store()).Size(ctx.args[1]);
  if (!size.ok()) return ReplyStatusError(ctx, size.status());
  ctx.reply.Integer(static_cast<int64_t>(*size));
}

// SPOP key [count]: without a count a bulk (null when missing); with one a set reply,
// empty when missing.
void SPopCommand(CommandContext& ctx) {
  if (ctx.argc() > 3) return ReplySyntaxError(ctx);
  const bool has_count = ctx.argc() == 3;
  int64_t count = 1;
  if (has_count && !ParsePositiveArg(ctx, ctx.args[2], &count)) return;
  ArrayWriter writer(ctx.reply, has_count ? ArrayWriter::Shape::kSet : ArrayWriter::Shape::kSingle);
  Result<bool> found =
      Sets(ctx.server.store()).Pop(ctx.args[1], static_cast<size_t>(count), [&](const Element& e) {
        writer.Item(e, e.member);
      });
  if (!found.ok()) return ReplyStatusError(ctx, found.status());
  writer.Finish();
}

const CommandSpec kCommands[] = {
    {"sadd", -3, kCmdWrite | kCmdDenyOom | kCmdFast, SAddCommand, 1, 1, 1, "@write @set @fast"},
    {"srem", -3, kCmdWrite | kCmdFast, SRemCommand, 1, 1, 1, "@write @set @fast"},
    {"smembers", 2, kCmdReadOnly, SMembersCommand, 1, 1, 1, "@read @set @slow"},
    {"sismember", 3, kCmdReadOnly | kCmdFast, SIsMemberCommand, 1, 1, 1, "@read @set @fast"},
    {"smismember", -3, kCmdReadOnly | kCmdFast, SMIsMemberCommand, 1, 1, 1, "@read @set @fast"},
    {"scard", 2, kCmdReadOnly | kCmdFast, SCardCommand, 1, 1, 1, "@read @set @fast"},
    {"spop", -2, kCmdWrite | kCmdFast, SPopCommand, 1, 1, 1, "@write @set @fast"},
};

}  // namespace

std::span<const CommandSpec> SetCommands() { return kCommands; }

}  // namespace mirrorkv::server
