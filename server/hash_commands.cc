// The hash commands: HSET HMSET HSETNX HGET HMGET HGETALL HKEYS HVALS HDEL HLEN HEXISTS
// HSTRLEN HINCRBY HINCRBYFLOAT HRANDFIELD, over mirrorkv::Hashes, with Redis 7.0's checks and
// replies (a map in RESP3 for HGETALL).
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/base/numbers.h"
#include "mirrorkv/collections.h"
#include "mirrorkv/store.h"
#include "server/collection_replies.h"
#include "server/commands.h"
#include "server/server.h"

namespace mirrorkv::server {
namespace {

void ReplyArity(CommandContext& ctx) {
  ctx.reply.Error("ERR wrong number of arguments for '" + CommandFullName(ctx.spec, ctx.container) +
                  "' command");
}

// HSET key field value [field value ...]; HMSET replies OK instead of the count.
void HSetGeneric(CommandContext& ctx, bool count_reply) {
  if (ctx.argc() % 2 == 1) return ReplyArity(ctx);
  std::vector<std::pair<std::string_view, std::string_view>> pairs;
  pairs.reserve((ctx.argc() - 2) / 2);
  for (size_t i = 2; i < ctx.argc(); i += 2) pairs.emplace_back(ctx.args[i], ctx.args[i + 1]);
  Result<size_t> added = Hashes(ctx.server.store()).Set(ctx.args[1], pairs);
  if (!added.ok()) return ReplyStatusError(ctx, added.status());
  if (count_reply) return ctx.reply.Integer(static_cast<int64_t>(*added));
  ctx.reply.Ok();
}

void HSetCommand(CommandContext& ctx) { HSetGeneric(ctx, true); }
void HMSetCommand(CommandContext& ctx) { HSetGeneric(ctx, false); }

void HSetNxCommand(CommandContext& ctx) {
  const std::pair<std::string_view, std::string_view> pair{ctx.args[2], ctx.args[3]};
  Result<size_t> added = Hashes(ctx.server.store()).Set(ctx.args[1], {&pair, 1}, true);
  if (!added.ok()) return ReplyStatusError(ctx, added.status());
  ctx.reply.Integer(static_cast<int64_t>(*added));
}

void HGetCommand(CommandContext& ctx) {
  Result<std::string> value = Hashes(ctx.server.store()).Get(ctx.args[1], ctx.args[2]);
  if (value.ok()) return ctx.reply.Bulk(*value);
  if (value.status().IsNotFound()) return ctx.reply.Null();
  ReplyStatusError(ctx, value.status());
}

void HMGetCommand(CommandContext& ctx) {
  Hashes hashes(ctx.server.store());
  Result<size_t> length = hashes.Length(ctx.args[1]);  // the type check, before any reply
  if (!length.ok()) return ReplyStatusError(ctx, length.status());
  ctx.reply.ArrayHeader(ctx.argc() - 2);
  for (size_t i = 2; i < ctx.argc(); ++i) {
    Result<std::string> value = hashes.Get(ctx.args[1], ctx.args[i]);
    if (value.ok()) {
      ctx.reply.Bulk(*value);
    } else {
      ctx.reply.Null();
    }
  }
}

enum class Part : uint8_t { kFields, kValues, kBoth };

void GetAllGeneric(CommandContext& ctx, Part part) {
  ArrayWriter writer(ctx.reply,
                     part == Part::kBoth ? ArrayWriter::Shape::kMap : ArrayWriter::Shape::kArray);
  Result<bool> found = Hashes(ctx.server.store()).GetAll(ctx.args[1], [&](const Element& e) {
    writer.Begin(e);
    if (part != Part::kValues) ctx.reply.Bulk(e.member);
    if (part != Part::kFields) ctx.reply.Bulk(e.value);
  });
  if (!found.ok()) return ReplyStatusError(ctx, found.status());
  writer.Finish();
}

void HGetAllCommand(CommandContext& ctx) { GetAllGeneric(ctx, Part::kBoth); }
void HKeysCommand(CommandContext& ctx) { GetAllGeneric(ctx, Part::kFields); }
void HValsCommand(CommandContext& ctx) { GetAllGeneric(ctx, Part::kValues); }

void HDelCommand(CommandContext& ctx) {
  Result<size_t> removed = Hashes(ctx.server.store()).Remove(ctx.args[1], ctx.args.subspan(2));
  if (!removed.ok()) return ReplyStatusError(ctx, removed.status());
  ctx.reply.Integer(static_cast<int64_t>(*removed));
}

void HLenCommand(CommandContext& ctx) {
  Result<size_t> length = Hashes(ctx.server.store()).Length(ctx.args[1]);
  if (!length.ok()) return ReplyStatusError(ctx, length.status());
  ctx.reply.Integer(static_cast<int64_t>(*length));
}

void HExistsCommand(CommandContext& ctx) {
  Result<std::string> value = Hashes(ctx.server.store()).Get(ctx.args[1], ctx.args[2]);
  if (!value.ok() && !value.status().IsNotFound()) return ReplyStatusError(ctx, value.status());
  ctx.reply.Integer(value.ok() ? 1 : 0);
}

void HStrLenCommand(CommandContext& ctx) {
  Result<std::string> value = Hashes(ctx.server.store()).Get(ctx.args[1], ctx.args[2]);
  if (!value.ok() && !value.status().IsNotFound()) return ReplyStatusError(ctx, value.status());
  ctx.reply.Integer(value.ok() ? static_cast<int64_t>(value->size()) : 0);
}

void HIncrByCommand(CommandContext& ctx) {
  int64_t delta;
  if (!ParseIntegerArg(ctx, ctx.args[3], &delta)) return;
  Result<int64_t> value = Hashes(ctx.server.store()).IncrBy(ctx.args[1], ctx.args[2], delta);
  if (!value.ok()) return ReplyStatusError(ctx, value.status());
  ctx.reply.Integer(*value);
}

constexpr uint32_t kWriteOom = kCmdWrite | kCmdDenyOom | kCmdFast;

// HINCRBYFLOAT key field increment: the increment is a finite long double; the reply,
// the stored value and the logged HSET carry the same text.
void HIncrByFloatCommand(CommandContext& ctx) {
  long double delta;
  if (!internal::ParseLongDouble(ctx.args[3], &delta)) {
    return ctx.reply.Error("ERR value is not a valid float");
  }
  if (std::isinf(delta)) return ctx.reply.Error("ERR value is NaN or Infinity");
  Result<std::string> value =
      Hashes(ctx.server.store()).IncrByFloat(ctx.args[1], ctx.args[2], delta);
  if (!value.ok()) return ReplyStatusError(ctx, value.status());
  ctx.reply.Bulk(*value);
}

// HRANDFIELD key [count [WITHVALUES]]: without a count a bulk (null when missing); with
// one an array (repeats possible for a negative count), empty when missing, of fields
// or, WITHVALUES, of field/value pairs (flat in RESP2, nested pairs in RESP3).
void HRandFieldCommand(CommandContext& ctx) {
  RandomCountArgs args;
  if (!ParseRandomCountArgs(ctx, "withvalues", &args)) return;
  const bool has_count = args.has_count;
  const int64_t count = args.count;
  const bool with_values = args.with_pairs;
  const bool nested = with_values && ctx.reply.resp() >= 3;
  bool started = false;
  Result<bool> found =
      Hashes(ctx.server.store()).RandomFields(ctx.args[1], count, [&](const Element& e) {
        if (e.index == 0 && has_count) {
          ctx.reply.ArrayHeader(with_values && !nested ? 2 * e.count : e.count);
        }
        started = true;
        if (nested) ctx.reply.ArrayHeader(2);
        ctx.reply.Bulk(e.member);
        if (with_values) ctx.reply.Bulk(e.value);
      });
  if (!found.ok()) return ReplyStatusError(ctx, found.status());
  if (started) return;
  if (has_count) return ctx.reply.ArrayHeader(0);
  ctx.reply.Null();
}

const CommandSpec kCommands[] = {
    {"hset", -4, kWriteOom, HSetCommand, 1, 1, 1, "@write @hash @fast"},
    {"hmset", -4, kWriteOom, HMSetCommand, 1, 1, 1, "@write @hash @fast"},
    {"hsetnx", 4, kWriteOom, HSetNxCommand, 1, 1, 1, "@write @hash @fast"},
    {"hget", 3, kCmdReadOnly | kCmdFast, HGetCommand, 1, 1, 1, "@read @hash @fast"},
    {"hmget", -3, kCmdReadOnly | kCmdFast, HMGetCommand, 1, 1, 1, "@read @hash @fast"},
    {"hgetall", 2, kCmdReadOnly, HGetAllCommand, 1, 1, 1, "@read @hash @slow"},
    {"hkeys", 2, kCmdReadOnly, HKeysCommand, 1, 1, 1, "@read @hash @slow"},
    {"hvals", 2, kCmdReadOnly, HValsCommand, 1, 1, 1, "@read @hash @slow"},
    {"hdel", -3, kCmdWrite | kCmdFast, HDelCommand, 1, 1, 1, "@write @hash @fast"},
    {"hlen", 2, kCmdReadOnly | kCmdFast, HLenCommand, 1, 1, 1, "@read @hash @fast"},
    {"hexists", 3, kCmdReadOnly | kCmdFast, HExistsCommand, 1, 1, 1, "@read @hash @fast"},
    {"hstrlen", 3, kCmdReadOnly | kCmdFast, HStrLenCommand, 1, 1, 1, "@read @hash @fast"},
    {"hincrby", 4, kWriteOom, HIncrByCommand, 1, 1, 1, "@write @hash @fast"},
    {"hincrbyfloat", 4, kWriteOom, HIncrByFloatCommand, 1, 1, 1, "@write @hash @fast"},
    {"hrandfield", -2, kCmdReadOnly, HRandFieldCommand, 1, 1, 1, "@read @hash @slow"},
};

}  // namespace

std::span<const CommandSpec> HashCommands() { return kCommands; }

}  // namespace mirrorkv::server
