// The list commands: LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LRANGE LINDEX LSET LREM
// LTRIM LINSERT LPOS LMOVE RPOPLPUSH LMPOP and the blocking BLPOP BRPOP BLMOVE BRPOPLPUSH
// BLMPOP, over mirrorkv::Lists, with Redis 7.0's argument checks (in its order) and
// replies. Reads copy items from the Store straight into the output buffer. A blocking
// command runs as its non-blocking form and, finding nothing, blocks (BlockOrReplyNull in
// collection_replies.h); what it pops replicates as the pop or the move it made.
#include <cstdint>
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

// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]: an index or null, or
// with COUNT an array of indexes (empty for a missing key).
void LPosCommand(CommandContext& ctx) {
  int64_t rank = 1;
  int64_t count = -1;  // no COUNT
  int64_t max_len = 0;
  for (size_t i = 3; i < ctx.argc(); ++i) {
    const bool has_value = i + 1 < ctx.argc();
    std::string_view option = ctx.args[i];
    if (EqualsIgnoreCase(option, "rank") && has_value) {
      if (!ParseIntegerArg(ctx, ctx.args[++i], &rank)) return;
      // Redis negates a negative rank in a long, and the lowest one stays negative: it
      // then acts as -1 (the first match from the right).
      if (rank == INT64_MIN) rank = -1;
      if (rank == 0) {
        return ctx.reply.Error(
            "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second "
            "... or use negative to start from the end of the list");
      }
    } else if (EqualsIgnoreCase(option, "count") && has_value) {
      if (!ParseIntegerArg(ctx, ctx.args[++i], &count, "ERR COUNT can't be negative")) return;
      if (count < 0) return ctx.reply.Error("ERR COUNT can't be negative");
    } else if (EqualsIgnoreCase(option, "maxlen") && has_value) {
      if (!ParseIntegerArg(ctx, ctx.args[++i], &max_len, "ERR MAXLEN can't be negative")) return;
      if (max_len < 0) return ctx.reply.Error("ERR MAXLEN can't be negative");
    } else {
      return ReplySyntaxError(ctx);
    }
  }
  Result<std::vector<size_t>> positions =
      Lists(ctx.server.store())
          .Positions(ctx.args[1], ctx.args[2], rank, count < 0 ? 1 : static_cast<size_t>(count),
                     static_cast<size_t>(max_len));
  if (!positions.ok()) return ReplyStatusError(ctx, positions.status());
  if (count < 0) {
    if (positions->empty()) return ctx.reply.Null();
    return ctx.reply.Integer(static_cast<int64_t>(positions->front()));
  }
  ctx.reply.ArrayHeader(positions->size());
  for (size_t at : *positions) ctx.reply.Integer(static_cast<int64_t>(at));
}

bool ParseListEnd(std::string_view text, ListEnd* end) {
  if (EqualsIgnoreCase(text, "left")) {
    *end = ListEnd::kLeft;
  } else if (EqualsIgnoreCase(text, "right")) {
    *end = ListEnd::kRight;
  } else {
    return false;
  }
  return true;
}

// Moves one item from the `from` end of args[1] to the `to` end of args[2]; replies it,
// or null when the source is missing. Runs exclusively (RunExclusive): it reads the
// item, pushes it onto the destination and only then pops it from the source, so a
// refused push (WRONGTYPE, OOM) changes nothing, and a rotation of one list comes out
// right. The stream carries the push and the pop as their own effects. BLMOVE and
// BRPOPLPUSH pass their timeout: a missing source then blocks the client on it.
void MoveGeneric(CommandContext& ctx, ListEnd from, ListEnd to,
                 const int64_t* block_timeout_ms = nullptr) {
  RunExclusive(ctx, [&] {
    Lists lists(ctx.server.store());
    Result<std::string> item = lists.Index(ctx.args[1], from == ListEnd::kLeft ? 0 : -1);
    if (!item.ok()) {
      const bool empty = item.status().IsNotFound() || SkipOnRetry(ctx, item.status());
      if (empty && block_timeout_ms != nullptr) {
        return BlockOrReplyNull(ctx, ctx.args.subspan(1, 1), *block_timeout_ms,
                                [](ReplyBuilder& reply) { reply.Null(); });
      }
      if (empty) return ctx.reply.Null();
      return ReplyStatusError(ctx, item.status());
    }
    const std::string_view value = *item;
    Result<size_t> pushed = lists.Push(ctx.args[2], to, {&value, 1});
    if (!pushed.ok()) return ReplyStatusError(ctx, pushed.status());
    Result<bool> popped = lists.Pop(ctx.args[1], from, 1, [](const Element&) {});
    if (!popped.ok()) return ReplyStatusError(ctx, popped.status());
    ctx.reply.Bulk(value);
  });
}

// LMOVE source destination LEFT|RIGHT LEFT|RIGHT.
void LMoveCommand(CommandContext& ctx) {
  ListEnd from;
  ListEnd to;
  if (!ParseListEnd(ctx.args[3], &from) || !ParseListEnd(ctx.args[4], &to)) {
    return ReplySyntaxError(ctx);
  }
  MoveGeneric(ctx, from, to);
}

void RPopLPushCommand(CommandContext& ctx) { MoveGeneric(ctx, ListEnd::kRight, ListEnd::kLeft); }

// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout.
void BLMoveCommand(CommandContext& ctx) {
  if (!CheckBlockingWriteAllowed(ctx)) return;
  ListEnd from;
  ListEnd to;
  if (!ParseListEnd(ctx.args[3], &from) || !ParseListEnd(ctx.args[4], &to)) {
    return ReplySyntaxError(ctx);
  }
  int64_t timeout_ms;
  if (!ParseBlockTimeout(ctx, ctx.args[5], &timeout_ms)) return;
  MoveGeneric(ctx, from, to, &timeout_ms);
}

// BRPOPLPUSH source destination timeout.
void BRPopLPushCommand(CommandContext& ctx) {
  if (!CheckBlockingWriteAllowed(ctx)) return;
  int64_t timeout_ms;
  if (!ParseBlockTimeout(ctx, ctx.args[3], &timeout_ms)) return;
  MoveGeneric(ctx, ListEnd::kRight, ListEnd::kLeft, &timeout_ms);
}

// BLPOP/BRPOP key [key ...] timeout: the first item of the first non-empty list of the
// keys, in their order, as [key, item].
void BlockingPopGeneric(CommandContext& ctx, ListEnd end) {
  if (!CheckBlockingWriteAllowed(ctx)) return;
  int64_t timeout_ms;
  if (!ParseBlockTimeout(ctx, ctx.args.back(), &timeout_ms)) return;
  const std::span<const std::string_view> keys = ctx.args.subspan(1, ctx.argc() - 2);
  Lists lists(ctx.server.store());
  const bool replied = PopFromFirstNonEmpty(ctx, keys, [&](std::string_view key) {
    return lists.Pop(key, end, 1, [&](const Element& e) {
      ctx.reply.ArrayHeader(2);
      ctx.reply.Bulk(key);
      ctx.reply.Bulk(e.member);
    });
  });
  if (!replied) BlockOrReplyNull(ctx, keys, timeout_ms, &ReplyNullArray);
}

void BLPopCommand(CommandContext& ctx) { BlockingPopGeneric(ctx, ListEnd::kLeft); }
void BRPopCommand(CommandContext& ctx) { BlockingPopGeneric(ctx, ListEnd::kRight); }

// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count] and BLMPOP timeout numkeys ...:
// pops from the first non-empty list of the keys (exclusively, so that the choice and the
// pop are one step); replies [key, [items]], or a null array when every list is empty
// (BLMPOP then blocks).
void MultiPopGeneric(CommandContext& ctx, bool blocking) {
  if (blocking && !CheckBlockingWriteAllowed(ctx)) return;
  ListEnd end;
  size_t end_at;
  int64_t count;
  auto parse_end = [&](std::string_view word) { return ParseListEnd(word, &end); };
  const size_t numkeys_at = blocking ? 2 : 1;
  if (!ParseMultiPopArgs(ctx, parse_end, &end_at, &count, numkeys_at)) return;
  int64_t timeout_ms = 0;
  if (blocking && !ParseBlockTimeout(ctx, ctx.args[1], &timeout_ms)) return;
  const std::span<const std::string_view> keys =
      ctx.args.subspan(numkeys_at + 1, end_at - numkeys_at - 1);
  RunExclusive(ctx, [&] {
    Lists lists(ctx.server.store());
    const bool replied = PopFromFirstNonEmpty(ctx, keys, [&](std::string_view key) {
      ArrayWriter writer(ctx.reply, true);
      return lists.Pop(key, end, static_cast<size_t>(count), [&](const Element& e) {
        if (e.index == 0) {
          ctx.reply.ArrayHeader(2);
          ctx.reply.Bulk(key);
        }
        writer.Item(e, e.member);
      });
    });
    if (replied) return;
    if (blocking) return BlockOrReplyNull(ctx, keys, timeout_ms, &ReplyNullArray);
    ctx.reply.NullArray();
  });
}

void LMPopCommand(CommandContext& ctx) { MultiPopGeneric(ctx, false); }
void BLMPopCommand(CommandContext& ctx) { MultiPopGeneric(ctx, true); }

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
    {"lpos", -3, kCmdReadOnly, LPosCommand, 1, 1, 1, "@read @list @slow"},
    {"lmove", 5, kCmdWrite | kCmdDenyOom, LMoveCommand, 1, 2, 1, "@write @list @slow"},
    {"rpoplpush", 3, kCmdWrite | kCmdDenyOom, RPopLPushCommand, 1, 2, 1, "@write @list @slow"},
    {"lmpop", -4, kCmdWrite, LMPopCommand, 0, 0, 0, "@write @list @slow"},
    // Blocking: no-script as in Redis 7.0; inside MULTI they do not block.
    {"blpop", -3, kCmdWrite | kCmdNoScript | kCmdBlocking, BLPopCommand, 1, -2, 1,
     "@write @list @slow @blocking"},
    {"brpop", -3, kCmdWrite | kCmdNoScript | kCmdBlocking, BRPopCommand, 1, -2, 1,
     "@write @list @slow @blocking"},
    {"blmove", 6, kCmdWrite | kCmdDenyOom | kCmdNoScript | kCmdBlocking, BLMoveCommand, 1, 2, 1,
     "@write @list @slow @blocking"},
    {"brpoplpush", 4, kCmdWrite | kCmdDenyOom | kCmdNoScript | kCmdBlocking, BRPopLPushCommand, 1,
     2, 1, "@write @list @slow @blocking"},
    {"blmpop", -5, kCmdWrite | kCmdNoScript | kCmdBlocking, BLMPopCommand, 0, 0, 0,
     "@write @list @slow @blocking"},
};

}  // namespace

std::span<const CommandSpec> ListCommands() { return kCommands; }

}  // namespace mirrorkv::server
