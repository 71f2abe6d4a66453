// The keyspace commands: DEL UNLINK EXISTS TOUCH TYPE RENAME RENAMENX KEYS SCAN RANDOMKEY
// DBSIZE FLUSHALL FLUSHDB, the collection scans SSCAN HSCAN ZSCAN, and the expiry commands
// EXPIRE PEXPIRE EXPIREAT PEXPIREAT (NX XX GT LT) TTL PTTL EXPIRETIME PEXPIRETIME PERSIST.
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "engine/base/glob.h"
#include "engine/base/numbers.h"
#include "mirrorkv/collections.h"
#include "mirrorkv/store.h"
#include "server/client.h"
#include "server/commands.h"
#include "server/server.h"
#include "server/string_hash.h"

namespace mirrorkv::server {
namespace {

std::span<const std::string_view> Keys(CommandContext& ctx) { return ctx.args.subspan(1); }

void DelCommand(CommandContext& ctx) {
  Result<size_t> removed = ctx.server.store().Del(Keys(ctx));
  if (!removed.ok()) {
    ReplyStatusError(ctx, removed.status());
  } else {
    ctx.reply.Integer(static_cast<int64_t>(*removed));
  }
}

void ExistsCommand(CommandContext& ctx) {
  ctx.reply.Integer(static_cast<int64_t>(ctx.server.store().Exists(Keys(ctx))));
}

void TypeCommand(CommandContext& ctx) {
  ctx.reply.SimpleString(KeyTypeName(TypeOf(ctx.server.store(), ctx.args[1])));
}

void RenameGeneric(CommandContext& ctx, bool only_if_absent) {
  Result<bool> moved = ctx.server.store().Rename(ctx.args[1], ctx.args[2], only_if_absent);
  if (!moved.ok()) {
    if (moved.status().IsNotFound()) {
      ctx.reply.Error("ERR no such key");
    } else {
      ReplyStatusError(ctx, moved.status());
    }
  } else if (only_if_absent) {
    ctx.reply.Integer(*moved ? 1 : 0);
  } else {
    ctx.reply.Ok();
  }
}

void RenameCommand(CommandContext& ctx) { RenameGeneric(ctx, false); }
void RenameNxCommand(CommandContext& ctx) { RenameGeneric(ctx, true); }

// KEYS walks the whole keyspace with the SCAN cursor; a key may come back twice across a
// stripe resize, so the result is deduplicated.
void KeysCommand(CommandContext& ctx) {
  std::string_view pattern = ctx.args[1];
  ScanOptions options;
  options.count = 1000;
  if (pattern != "*") options.match = pattern;
  StringSet seen;
  std::vector<std::string> keys;
  uint64_t cursor = 0;
  do {
    ScanPage page = ctx.server.store().Scan(cursor, options);
    for (std::string& key : page.keys) {
      if (seen.insert(key).second) keys.push_back(std::move(key));
    }
    cursor = page.cursor;
  } while (cursor != 0);
  ctx.reply.ArrayHeader(keys.size());
  for (const std::string& key : keys) ctx.reply.Bulk(key);
}

// Redis reads the cursor with strtoull: decimal, no leading space, no overflow.
bool ParseCursor(std::string_view text, uint64_t* cursor) {
  if (text.empty() || text.size() > 32 ||
      absl::ascii_isspace(static_cast<unsigned char>(text[0]))) {
    return false;
  }
  std::string copy(text);
  errno = 0;
  char* end;
  unsigned long long value = std::strtoull(copy.c_str(), &end, 10);
  if (*end != '\0' || errno == ERANGE) return false;
  *cursor = value;
  return true;
}

// SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]: the options are parsed in Redis's
// loop (a known option without its value is a syntax error); the cursor is the Store's
// (see Store::Scan), returned as a decimal string.
void ScanCommand(CommandContext& ctx) {
  uint64_t cursor;
  if (!ParseCursor(ctx.args[1], &cursor)) {
    ctx.reply.Error("ERR invalid cursor");
    return;
  }
  ScanOptions options;
  bool other_type = false;
  for (size_t i = 2; i < ctx.argc();) {
    size_t left = ctx.argc() - i;
    std::string_view option = ctx.args[i];
    if (EqualsIgnoreCase(option, "count") && left >= 2) {
      int64_t count;
      if (!ParseIntegerArg(ctx, ctx.args[i + 1], &count)) return;
      if (count < 1) {
        ReplySyntaxError(ctx);
        return;
      }
      options.count = static_cast<size_t>(count);
      i += 2;
    } else if (EqualsIgnoreCase(option, "match") && left >= 2) {
      options.match = ctx.args[i + 1] == "*" ? std::string_view() : ctx.args[i + 1];
      i += 2;
    } else if (EqualsIgnoreCase(option, "type") && left >= 2) {
      // Redis filters by the type's name; an unknown name matches no key.
      other_type = true;
      for (KeyType type :
           {KeyType::kString, KeyType::kList, KeyType::kSet, KeyType::kHash, KeyType::kSortedSet}) {
        if (EqualsIgnoreCase(ctx.args[i + 1], KeyTypeName(type))) {
          options.type = type;
          other_type = false;
        }
      }
      i += 2;
    } else {
      ReplySyntaxError(ctx);
      return;
    }
  }
  ScanPage page = ctx.server.store().Scan(cursor, options);
  ctx.reply.ArrayHeader(2);
  ctx.reply.Bulk(std::to_string(page.cursor));
  if (other_type) page.keys.clear();
  ctx.reply.ArrayHeader(page.keys.size());
  for (const std::string& key : page.keys) ctx.reply.Bulk(key);
}

// SSCAN HSCAN ZSCAN key cursor [MATCH pattern] [COUNT count]: the whole collection's
// members that match (with HSCAN's values and ZSCAN's scores) in one page, cursor 0,
// whatever the cursor, as Redis does for its compact encodings. One page read under
// the key's lock is a full iteration that holds every member present throughout; COUNT
// is a hint and unused, so a large collection costs O(N) in one reply. Redis's order of
// checks: the cursor, the key (a missing key is an empty page, before any option
// error), then the options.
void ScanCollection(CommandContext& ctx, KeyType type) {
  uint64_t cursor;
  if (!ParseCursor(ctx.args[2], &cursor)) return ctx.reply.Error("ERR invalid cursor");
  Store& store = ctx.server.store();
  const KeyType found = TypeOf(store, ctx.args[1]);
  if (found != KeyType::kNone && found != type) return ctx.reply.Error(kWrongTypeMessage);
  if (found == KeyType::kNone) {
    ctx.reply.ArrayHeader(2);
    ctx.reply.Bulk("0");
    return ctx.reply.ArrayHeader(0);
  }
  std::string_view pattern;
  for (size_t i = 3; i < ctx.argc(); i += 2) {
    const bool has_value = i + 1 < ctx.argc();
    if (has_value && EqualsIgnoreCase(ctx.args[i], "count")) {
      int64_t count;
      if (!ParseIntegerArg(ctx, ctx.args[i + 1], &count)) return;
      if (count < 1) return ReplySyntaxError(ctx);
    } else if (has_value && EqualsIgnoreCase(ctx.args[i], "match")) {
      pattern = ctx.args[i + 1] == "*" ? std::string_view() : ctx.args[i + 1];
    } else {
      return ReplySyntaxError(ctx);
    }
  }
  std::vector<std::string> items;  // members, each followed by its value or score
  auto keep = [&](std::string_view member) {
    if (!pattern.empty() && !internal::GlobMatch(pattern, member)) return false;
    items.emplace_back(member);
    return true;
  };
  Result<bool> read = true;
  switch (type) {
    case KeyType::kSet:
      read = Sets(store).Members(ctx.args[1], [&](const Element& e) { keep(e.member); });
      break;
    case KeyType::kHash:
      read = Hashes(store).GetAll(ctx.args[1], [&](const Element& e) {
        if (keep(e.member)) items.emplace_back(e.value);
      });
      break;
    default:
      read = SortedSets(store).RangeByRank(ctx.args[1], 0, -1, false, [&](const Element& e) {
        if (keep(e.member)) items.push_back(internal::FormatScore(e.score));
      });
      break;
  }
  if (!read.ok()) return ReplyStatusError(ctx, read.status());
  ctx.reply.ArrayHeader(2);
  ctx.reply.Bulk("0");
  ctx.reply.ArrayHeader(items.size());
  for (const std::string& item : items) ctx.reply.Bulk(item);
}

void SScanCommand(CommandContext& ctx) { ScanCollection(ctx, KeyType::kSet); }
void HScanCommand(CommandContext& ctx) { ScanCollection(ctx, KeyType::kHash); }
void ZScanCommand(CommandContext& ctx) { ScanCollection(ctx, KeyType::kSortedSet); }

void RandomKeyCommand(CommandContext& ctx) {
  Result<std::string> key = ctx.server.store().RandomKey();
  if (key.ok()) {
    ctx.reply.Bulk(*key);
  } else {
    ctx.reply.Null();
  }
}

void DbSizeCommand(CommandContext& ctx) {
  ctx.reply.Integer(static_cast<int64_t>(ctx.server.store().size()));
}

// FLUSHALL / FLUSHDB [ASYNC|SYNC]: one keyspace, so both flush everything; ASYNC is
// accepted and done synchronously (the Store frees entries without blocking readers long).
void FlushCommand(CommandContext& ctx) {
  if (ctx.argc() > 2 || (ctx.argc() == 2 && !EqualsIgnoreCase(ctx.args[1], "async") &&
                         !EqualsIgnoreCase(ctx.args[1], "sync"))) {
    ReplySyntaxError(ctx);
    return;
  }
  Status status = ctx.server.store().FlushAll();
  if (status.ok()) {
    ctx.reply.Ok();
  } else {
    ReplyStatusError(ctx, status);
  }
}

// --- Expiry ---

// EXPIRE key time [NX|XX|GT|LT] and its three siblings. Options are checked before the
// time, as Redis does.
void ExpireGeneric(CommandContext& ctx, bool seconds, bool absolute) {
  bool nx = false, xx = false, gt = false, lt = false;
  for (size_t i = 3; i < ctx.argc(); ++i) {
    std::string_view option = ctx.args[i];
    if (EqualsIgnoreCase(option, "nx")) {
      nx = true;
    } else if (EqualsIgnoreCase(option, "xx")) {
      xx = true;
    } else if (EqualsIgnoreCase(option, "gt")) {
      gt = true;
    } else if (EqualsIgnoreCase(option, "lt")) {
      lt = true;
    } else {
      ctx.reply.Error(absl::StrCat("ERR Unsupported option ", internal::AsAbsl(option)));
      return;
    }
  }
  if (nx && (xx || gt || lt)) {
    ctx.reply.Error("ERR NX and XX, GT or LT options at the same time are not compatible");
    return;
  }
  if (gt && lt) {
    ctx.reply.Error("ERR GT and LT options at the same time are not compatible");
    return;
  }
  int64_t when;
  if (!ParseIntegerArg(ctx, ctx.args[2], &when)) return;
  if (seconds) {
    if (when > LLONG_MAX / 1000 || when < LLONG_MIN / 1000) {
      ReplyStatusError(ctx, Status::InvalidArgument("invalid expire time"));
      return;
    }
    when *= 1000;
  }
  ExpireCondition condition = nx   ? ExpireCondition::kIfNoExpiry
                              : xx ? ExpireCondition::kIfHasExpiry
                              : gt ? ExpireCondition::kIfGreater
                              : lt ? ExpireCondition::kIfLess
                                   : ExpireCondition::kAlways;
  Expiry expiry = absolute ? Expiry::At(when) : Expiry::After(std::chrono::milliseconds(when));
  Result<bool> applied = ctx.server.store().Expire(ctx.args[1], expiry, condition);
  if (!applied.ok()) {
    ReplyStatusError(ctx, applied.status());
  } else {
    ctx.reply.Integer(*applied ? 1 : 0);
  }
}

void ExpireCommand(CommandContext& ctx) { ExpireGeneric(ctx, true, false); }
void PExpireCommand(CommandContext& ctx) { ExpireGeneric(ctx, false, false); }
void ExpireAtCommand(CommandContext& ctx) { ExpireGeneric(ctx, true, true); }
void PExpireAtCommand(CommandContext& ctx) { ExpireGeneric(ctx, false, true); }

// TTL and EXPIRETIME derive from the millisecond forms; -1 (no deadline) and -2 (no key)
// pass through unchanged.
void TtlCommand(CommandContext& ctx) {
  int64_t ttl = ctx.server.store().Ttl(ctx.args[1]);
  // Redis rounds the remaining time to the nearest second.
  ctx.reply.Integer(ttl < 0 ? ttl : (ttl + 500) / 1000);
}

void PTtlCommand(CommandContext& ctx) { ctx.reply.Integer(ctx.server.store().Ttl(ctx.args[1])); }

void ExpireTimeCommand(CommandContext& ctx) {
  int64_t when = ctx.server.store().ExpireTime(ctx.args[1]);
  ctx.reply.Integer(when < 0 ? when : when / 1000);
}

void PExpireTimeCommand(CommandContext& ctx) {
  ctx.reply.Integer(ctx.server.store().ExpireTime(ctx.args[1]));
}

void PersistCommand(CommandContext& ctx) {
  Result<bool> removed = ctx.server.store().Persist(ctx.args[1]);
  if (!removed.ok()) {
    ReplyStatusError(ctx, removed.status());
  } else {
    ctx.reply.Integer(*removed ? 1 : 0);
  }
}

const CommandSpec kCommands[] = {
    {"del", -2, kCmdWrite, DelCommand, 1, -1, 1, "@keyspace @write @slow"},
    {"unlink", -2, kCmdWrite | kCmdFast, DelCommand, 1, -1, 1, "@keyspace @write @fast"},
    {"exists", -2, kCmdReadOnly | kCmdFast, ExistsCommand, 1, -1, 1, "@keyspace @read @fast"},
    {"touch", -2, kCmdReadOnly | kCmdFast, ExistsCommand, 1, -1, 1, "@keyspace @read @fast"},
    {"type", 2, kCmdReadOnly | kCmdFast, TypeCommand, 1, 1, 1, "@keyspace @read @fast"},
    {"rename", 3, kCmdWrite, RenameCommand, 1, 2, 1, "@keyspace @write @slow"},
    {"renamenx", 3, kCmdWrite | kCmdFast, RenameNxCommand, 1, 2, 1, "@keyspace @write @fast"},
    {"keys", 2, kCmdReadOnly, KeysCommand, 0, 0, 0, "@keyspace @read @slow @dangerous"},
    {"scan", -2, kCmdReadOnly, ScanCommand, 0, 0, 0, "@keyspace @read @slow"},
    {"sscan", -3, kCmdReadOnly, SScanCommand, 1, 1, 1, "@read @set @slow"},
    {"hscan", -3, kCmdReadOnly, HScanCommand, 1, 1, 1, "@read @hash @slow"},
    {"zscan", -3, kCmdReadOnly, ZScanCommand, 1, 1, 1, "@read @sortedset @slow"},
    {"randomkey", 1, kCmdReadOnly, RandomKeyCommand, 0, 0, 0, "@keyspace @read @slow"},
    {"dbsize", 1, kCmdReadOnly | kCmdFast, DbSizeCommand, 0, 0, 0, "@keyspace @read @fast"},
    {"flushall", -1, kCmdWrite, FlushCommand, 0, 0, 0, "@keyspace @write @slow @dangerous"},
    {"flushdb", -1, kCmdWrite, FlushCommand, 0, 0, 0, "@keyspace @write @slow @dangerous"},
    {"expire", -3, kCmdWrite | kCmdFast, ExpireCommand, 1, 1, 1, "@keyspace @write @fast"},
    {"pexpire", -3, kCmdWrite | kCmdFast, PExpireCommand, 1, 1, 1, "@keyspace @write @fast"},
    {"expireat", -3, kCmdWrite | kCmdFast, ExpireAtCommand, 1, 1, 1, "@keyspace @write @fast"},
    {"pexpireat", -3, kCmdWrite | kCmdFast, PExpireAtCommand, 1, 1, 1, "@keyspace @write @fast"},
    {"ttl", 2, kCmdReadOnly | kCmdFast, TtlCommand, 1, 1, 1, "@keyspace @read @fast"},
    {"pttl", 2, kCmdReadOnly | kCmdFast, PTtlCommand, 1, 1, 1, "@keyspace @read @fast"},
    {"expiretime", 2, kCmdReadOnly | kCmdFast, ExpireTimeCommand, 1, 1, 1, "@keyspace @read @fast"},
    {"pexpiretime", 2, kCmdReadOnly | kCmdFast, PExpireTimeCommand, 1, 1, 1,
     "@keyspace @read @fast"},
    {"persist", 2, kCmdWrite | kCmdFast, PersistCommand, 1, 1, 1, "@keyspace @write @fast"},
};

}  // namespace

std::span<const CommandSpec> KeyCommands() { return kCommands; }

}  // namespace mirrorkv::server
