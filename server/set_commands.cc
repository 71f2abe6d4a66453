// The set commands: SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP SRANDMEMBER SMOVE
// SINTER SUNION SDIFF (and their STORE forms) SINTERCARD, over mirrorkv::Sets, with
// Redis 7.0's checks and replies (set-typed in RESP3).
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "engine/base/check.h"
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

// SRANDMEMBER key [count]: without a count a bulk (null when missing); with one an
// array (repeats possible for a negative count), empty when missing.
void SRandMemberCommand(CommandContext& ctx) {
  RandomCountArgs args;
  if (!ParseRandomCountArgs(ctx, /*pair_option=*/"", &args)) return;
  const bool has_count = args.has_count;
  const int64_t count = args.count;
  ArrayWriter writer(ctx.reply, has_count);
  Result<bool> found =
      Sets(ctx.server.store()).RandomMembers(ctx.args[1], count, [&](const Element& e) {
        writer.Item(e, e.member);
      });
  if (!found.ok()) return ReplyStatusError(ctx, found.status());
  writer.Finish();
}

// SMOVE source destination member, exclusively (RunExclusive): the member is added to
// the destination before it is removed from the source, so a refused add changes
// nothing; the stream carries the SADD and the SREM.
void SMoveCommand(CommandContext& ctx) {
  RunExclusive(ctx, [&] {
    Store& store = ctx.server.store();
    Sets sets(store);
    Result<size_t> size = sets.Size(ctx.args[1]);
    if (!size.ok()) return ReplyStatusError(ctx, size.status());
    if (*size == 0) return ctx.reply.Integer(0);
    const KeyType destination = TypeOf(store, ctx.args[2]);
    if (destination != KeyType::kNone && destination != KeyType::kSet) {
      return ctx.reply.Error(kWrongTypeMessage);
    }
    Result<bool> present = sets.Contains(ctx.args[1], ctx.args[3]);
    if (!present.ok()) return ReplyStatusError(ctx, present.status());
    if (!*present || ctx.args[1] == ctx.args[2]) return ctx.reply.Integer(*present ? 1 : 0);
    const std::string_view member = ctx.args[3];
    Result<size_t> added = sets.Add(ctx.args[2], {&member, 1});
    if (!added.ok()) return ReplyStatusError(ctx, added.status());
    Result<size_t> removed = sets.Remove(ctx.args[1], {&member, 1});
    if (!removed.ok()) return ReplyStatusError(ctx, removed.status());
    ctx.reply.Integer(1);
  });
}

enum class SetOp : uint8_t { kInter, kUnion, kDiff };

using MemberSet = absl::flat_hash_set<std::string>;

// Reads the sets at `keys` and combines them by `op`, stopping early (Redis's
// shortcuts) at an empty intersection and at `limit` members of an intersection (0: no
// limit). A missing key is an empty set; any other type replies WRONGTYPE and returns
// false, before any set is combined, as Redis checks every key first.
bool CombineSets(CommandContext& ctx, std::span<const std::string_view> keys, SetOp op,
                 size_t limit, MemberSet* out) {
  Sets sets(ctx.server.store());
  std::vector<size_t> sizes;
  for (std::string_view key : keys) {
    Result<size_t> size = sets.Size(key);
    if (!size.ok()) {
      ReplyStatusError(ctx, size.status());
      return false;
    }
    sizes.push_back(*size);
  }
  // Reads a set whose type was checked above: under the same gate it cannot fail.
  auto read = [&](std::string_view key, auto&& each) {
    Result<bool> found = sets.Members(key, [&](const Element& e) { each(e.member); });
    MIRRORKV_DCHECK(found.ok());
  };
  switch (op) {
    case SetOp::kUnion:
      for (std::string_view key : keys) read(key, [&](std::string_view m) { out->emplace(m); });
      return true;
    case SetOp::kDiff:
      read(keys[0], [&](std::string_view m) { out->emplace(m); });
      for (size_t i = 1; i < keys.size() && !out->empty(); ++i) {
        read(keys[i], [&](std::string_view m) { out->erase(std::string(m)); });
      }
      return true;
    case SetOp::kInter: {
      // From the smallest set, keeping what every other set holds.
      const size_t smallest = std::min_element(sizes.begin(), sizes.end()) - sizes.begin();
      if (sizes[smallest] == 0) return true;
      std::vector<std::string> candidates;
      read(keys[smallest], [&](std::string_view m) { candidates.emplace_back(m); });
      for (const std::string& member : candidates) {
        bool everywhere = true;
        for (size_t i = 0; i < keys.size() && everywhere; ++i) {
          everywhere = i == smallest || *sets.Contains(keys[i], member);
        }
        if (!everywhere) continue;
        out->insert(member);
        if (limit != 0 && out->size() == limit) break;
      }
      return true;
    }
  }
  return true;
}

// SINTER SUNION SDIFF key [key ...]: a set reply, under the whole gate so that the keys
// are read at one point.
void SetAlgebraGeneric(CommandContext& ctx, SetOp op) {
  RunExclusive(ctx, [&] {
    MemberSet members;
    if (!CombineSets(ctx, ctx.args.subspan(1), op, 0, &members)) return;
    ctx.reply.SetHeader(members.size());
    for (const std::string& member : members) ctx.reply.Bulk(member);
  });
}

// SINTERSTORE SUNIONSTORE SDIFFSTORE destination key [key ...]: replaces the destination
// (deleted when the result is empty) and replies the result's size. Logged as the
// destination's DEL and an SADD of the result.
void SetAlgebraStoreGeneric(CommandContext& ctx, SetOp op) {
  RunExclusive(ctx, [&] {
    MemberSet members;
    if (!CombineSets(ctx, ctx.args.subspan(2), op, 0, &members)) return;
    Store& store = ctx.server.store();
    Result<bool> deleted = store.Del(ctx.args[1]);
    if (!deleted.ok()) return ReplyStatusError(ctx, deleted.status());
    if (!members.empty()) {
      std::vector<std::string_view> views(members.begin(), members.end());
      Result<size_t> added = Sets(store).Add(ctx.args[1], views);
      if (!added.ok()) return ReplyStatusError(ctx, added.status());
    }
    ctx.reply.Integer(static_cast<int64_t>(members.size()));
  });
}

void SInterCommand(CommandContext& ctx) { SetAlgebraGeneric(ctx, SetOp::kInter); }
void SUnionCommand(CommandContext& ctx) { SetAlgebraGeneric(ctx, SetOp::kUnion); }
void SDiffCommand(CommandContext& ctx) { SetAlgebraGeneric(ctx, SetOp::kDiff); }
void SInterStoreCommand(CommandContext& ctx) { SetAlgebraStoreGeneric(ctx, SetOp::kInter); }
void SUnionStoreCommand(CommandContext& ctx) { SetAlgebraStoreGeneric(ctx, SetOp::kUnion); }
void SDiffStoreCommand(CommandContext& ctx) { SetAlgebraStoreGeneric(ctx, SetOp::kDiff); }

// SINTERCARD numkeys key [key ...] [LIMIT limit].
void SInterCardCommand(CommandContext& ctx) {
  int64_t keys;
  if (!ParseIntegerArg(ctx, ctx.args[1], &keys, "ERR numkeys should be greater than 0")) return;
  if (keys <= 0) return ctx.reply.Error("ERR numkeys should be greater than 0");
  if (static_cast<uint64_t>(keys) > ctx.argc() - 2) {
    return ctx.reply.Error("ERR Number of keys can't be greater than number of args");
  }
  int64_t limit = 0;
  for (size_t i = 2 + static_cast<size_t>(keys); i < ctx.argc(); ++i) {
    if (EqualsIgnoreCase(ctx.args[i], "limit") && i + 1 < ctx.argc()) {
      if (!ParseIntegerArg(ctx, ctx.args[++i], &limit, "ERR LIMIT can't be negative")) return;
      if (limit < 0) return ctx.reply.Error("ERR LIMIT can't be negative");
    } else {
      return ReplySyntaxError(ctx);
    }
  }
  RunExclusive(ctx, [&] {
    MemberSet members;
    if (!CombineSets(ctx, ctx.args.subspan(2, static_cast<size_t>(keys)), SetOp::kInter,
                     static_cast<size_t>(limit), &members)) {
      return;
    }
    ctx.reply.Integer(static_cast<int64_t>(members.size()));
  });
}

const CommandSpec kCommands[] = {
    {"sadd", -3, kCmdWrite | kCmdDenyOom | kCmdFast, SAddCommand, 1, 1, 1, "@write @set @fast"},
    {"srem", -3, kCmdWrite | kCmdFast, SRemCommand, 1, 1, 1, "@write @set @fast"},
    {"smembers", 2, kCmdReadOnly, SMembersCommand, 1, 1, 1, "@read @set @slow"},
    {"sismember", 3, kCmdReadOnly | kCmdFast, SIsMemberCommand, 1, 1, 1, "@read @set @fast"},
    {"smismember", -3, kCmdReadOnly | kCmdFast, SMIsMemberCommand, 1, 1, 1, "@read @set @fast"},
    {"scard", 2, kCmdReadOnly | kCmdFast, SCardCommand, 1, 1, 1, "@read @set @fast"},
    {"spop", -2, kCmdWrite | kCmdFast, SPopCommand, 1, 1, 1, "@write @set @fast"},
    {"srandmember", -2, kCmdReadOnly, SRandMemberCommand, 1, 1, 1, "@read @set @slow"},
    {"smove", 4, kCmdWrite | kCmdFast, SMoveCommand, 1, 2, 1, "@write @set @fast"},
    {"sinter", -2, kCmdReadOnly, SInterCommand, 1, -1, 1, "@read @set @slow"},
    {"sunion", -2, kCmdReadOnly, SUnionCommand, 1, -1, 1, "@read @set @slow"},
    {"sdiff", -2, kCmdReadOnly, SDiffCommand, 1, -1, 1, "@read @set @slow"},
    {"sinterstore", -3, kCmdWrite | kCmdDenyOom, SInterStoreCommand, 1, -1, 1, "@write @set @slow"},
    {"sunionstore", -3, kCmdWrite | kCmdDenyOom, SUnionStoreCommand, 1, -1, 1, "@write @set @slow"},
    {"sdiffstore", -3, kCmdWrite | kCmdDenyOom, SDiffStoreCommand, 1, -1, 1, "@write @set @slow"},
    {"sintercard", -3, kCmdReadOnly, SInterCardCommand, 0, 0, 0, "@read @set @slow"},
};

}  // namespace

std::span<const CommandSpec> SetCommands() { return kCommands; }

}  // namespace mirrorkv::server
