// The list commands: LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LRANGE LINDEX LSET LREM
// LTRIM LINSERT, over mirrorkv::Lists, with Redis 7.0's argument checks (in its order)
// and replies. Reads copy items from the Store straight into the output buffer.
#include <string>
#include <vector>

#include "mirrorkv/collections.h"
#include "mirrorkv/store.h"
#include "server/collection_replies.h"
#include "server/commands.h"
#include "server/server.h"

namespace mirrorkv::server {
namespace {

void PushGeneric(CommandContext& ctx, ListEnd end, bool only_if_exists) {
  Lists lists(ctx.server.store());
  Result<size_t> length = lists.Push(ctx.args[1], end, ctx.args.subspan(2), only_if_exists);
  if (!length.ok()) return ReplyStatusError(ctx, length.status());
  ctx.reply.Integer(static_cast<int64_t>(*length));
}

void LPushCommand(CommandContext& ctx) { PushGeneric(ctx, ListEnd::kLeft, false); }
void RPushCommand(CommandContext& ctx) { PushGeneric(ctx, ListEnd::kRight, false); }
void LPushXCommand(CommandContext& ctx) { PushGeneric(ctx, ListEnd::kLeft, true); }
void RPushXCommand(CommandContext& ctx) { PushGeneric(ctx, ListEnd::kRight, true); }

// LPOP/RPOP key [count]: without a count a bulk (or null); with one an array, null for a
// missing key and empty for a count of 0.
void PopGeneric(CommandContext& ctx, ListEnd end) {
  if (ctx.argc() > 3) {
    ctx.reply.Error("ERR wrong number of arguments for '" + CommandFullName(ctx.spec, nullptr) +
                    "' command");
    return;
  }
  const bool has_count = ctx.argc() == 3;
  int64_t count = 1;
  if (has_count && !ParsePositiveArg(ctx, ctx.args[2], &count)) return;
  Lists lists(ctx.server.store());
  ArrayWriter writer(ctx.reply, has_count);
  Result<bool> found = lists.Pop(ctx.args[1], end, static_cast<size_t>(count),
                                 [&](const Element& e) { writer.Item(e, e.member); });
  if (!found.ok()) return ReplyStatusError(ctx, found.status());
  if (!*found) return has_count ? ctx.reply.NullArray() : ctx.reply.Null();
  writer.Finish();
}

void LPopCommand(CommandContext& ctx) { PopGeneric(ctx, ListEnd::kLeft); }
void RPopCommand(CommandContext& ctx) { PopGeneric(ctx, ListEnd::kRight); }

void LLenCommand(CommandContext& ctx) {
  Result<size_t> length = Lists(ctx.server.store()).Length(ctx.args[1]);
  if (!length.ok()) return ReplyStatusError(ctx, length.status());
  ctx.reply.Integer(static_cast<int64_t>(*length));
}

void LRangeCommand(CommandContext& ctx) {
  int64_t start;
  int64_t stop;
  if (!ParseIntegerArg(ctx, ctx.args[2], &start) || !ParseIntegerArg(ctx, ctx.args[3], &stop)) {
    return;
  }
  ArrayWriter writer(ctx.reply, true);
  Result<bool> found =
      Lists(ctx.server.store()).Range(ctx.args[1], start, stop, [&](const Element& e) {
        writer.Item(e, e.member);
      });
  if (!found.ok()) return ReplyStatusError(ctx, found.status());
  writer.Finish();
}

void LIndexCommand(CommandContext& ctx) {
  int64_t index;
  if (!ParseIntegerArg(ctx, ctx.args[2], &index)) return;
  Result<std::string> item = Lists(ctx.server.store()).Index(ctx.args[1], index);
  if (item.ok()) return ctx.reply.Bulk(*item);
  if (item.status().IsNotFound()) return ctx.reply.Null();
  ReplyStatusError(ctx, item.status());
}

void LSetCommand(CommandContext& ctx) {
  int64_t index;
  if (!ParseIntegerArg(ctx, ctx.args[2], &index)) return;
  Status status = Lists(ctx.server.store()).SetAt(ctx.args[1], index, ctx.args[3]);
  if (!status.ok()) return ReplyStatusError(ctx, status);
  ctx.reply.Ok();
}

void LRemCommand(CommandContext& ctx) {
  int64_t count;
  if (!ParseIntegerArg(ctx, ctx.args[2], &count)) return;
  Result<size_t> removed = Lists(ctx.server.store()).Remove(ctx.args[1], count, ctx.args[3]);
  if (!removed.ok()) return ReplyStatusError(ctx, removed.status());
  ctx.reply.Integer(static_cast<int64_t>(*removed));
}

void LTrimCommand(CommandContext& ctx) {
  int64_t start;
  int64_t stop;
  if (!ParseIntegerArg(ctx, ctx.args[2], &start) || !ParseIntegerArg(ctx, ctx.args[3], &stop)) {
    return;
  }
  Status status = Lists(ctx.server.store()).Trim(ctx.args[1], start, stop);
  if (!status.ok()) return ReplyStatusError(ctx, status);
  ctx.reply.Ok();
}

void LInsertCommand(CommandContext& ctx) {
  bool after;
  if (EqualsIgnoreCase(ctx.args[2], "after")) {
    after = true;
  } else if (EqualsIgnoreCase(ctx.args[2], "before")) {
    after = false;
  } else {
    return ReplySyntaxError(ctx);
  }
  Result<int64_t> length =
      Lists(ctx.server.store()).Insert(ctx.args[1], after, ctx.args[3], ctx.args[4]);
  if (!length.ok()) return ReplyStatusError(ctx, length.status());
  ctx.reply.Integer(*length);
}

constexpr uint32_t kWriteOom = kCmdWrite | kCmdDenyOom | kCmdFast;

const CommandSpec kCommands[] = {
    {"lpush", -3, kWriteOom, LPushCommand, 1, 1, 1, "@write @list @fast"},
    {"rpush", -3, kWriteOom, RPushCommand, 1, 1, 1, "@write @list @fast"},
    {"lpushx", -3, kWriteOom, LPushXCommand, 1, 1, 1, "@write @list @fast"},
    {"rpushx", -3, kWriteOom, RPushXCommand, 1, 1, 1, "@write @list @fast"},
    {"lpop", -2, kCmdWrite | kCmdFast, LPopCommand, 1, 1, 1, "@write @list @fast"},
    {"rpop", -2, kCmdWrite | kCmdFast, RPopCommand, 1, 1, 1, "@write @list @fast"},
    {"llen", 2, kCmdReadOnly | kCmdFast, LLenCommand, 1, 1, 1, "@read @list @fast"},
    {"lrange", 4, kCmdReadOnly, LRangeCommand, 1, 1, 1, "@read @list @slow"},
    {"lindex", 3, kCmdReadOnly, LIndexCommand, 1, 1, 1, "@read @list @slow"},
    {"lset", 4, kCmdWrite | kCmdDenyOom, LSetCommand, 1, 1, 1, "@write @list @slow"},
    {"lrem", 4, kCmdWrite, LRemCommand, 1, 1, 1, "@write @list @slow"},
    {"ltrim", 4, kCmdWrite, LTrimCommand, 1, 1, 1, "@write @list @slow"},
    {"linsert", 5, kCmdWrite | kCmdDenyOom, LInsertCommand, 1, 1, 1, "@write @list @slow"},
};

}  // namespace

std::span<const CommandSpec> ListCommands() { return kCommands; }

}  // namespace mirrorkv::server
