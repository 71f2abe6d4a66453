// The string commands: GET SET (NX XX GET EX PX EXAT PXAT KEEPTTL) SETNX SETEX PSETEX
// GETSET GETDEL GETEX MGET MSET MSETNX APPEND STRLEN GETRANGE SETRANGE INCR DECR INCRBY
// DECRBY INCRBYFLOAT, with Redis 7.0's option grammar and error texts.
//
// GET and SET are the hot path: GET copies the value straight from the Store into the
// connection's output buffer (Store::Read), a plain SET calls Store::Set with the views
// the parser produced. Neither allocates beyond the Store's own entry.
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "engine/base/numbers.h"
#include "mirrorkv/collections.h"
#include "mirrorkv/store.h"
#include "server/client.h"
#include "server/commands.h"
#include "server/server.h"

namespace mirrorkv::server {
namespace {

// --- Option grammar shared by SET and GETEX (Redis's parseExtendedStringArguments) ---

enum ExtendedFlag : uint32_t {
  kNx = 1u << 0,
  kXx = 1u << 1,
  kGet = 1u << 2,
  kKeepTtl = 1u << 3,
  kPersist = 1u << 4,
  kEx = 1u << 5,
  kPx = 1u << 6,
  kExAt = 1u << 7,
  kPxAt = 1u << 8,
};
constexpr uint32_t kAnyExpire = kEx | kPx | kExAt | kPxAt;

struct ExtendedArgs {
  uint32_t flags = 0;
  std::string_view expire;  // the number after EX/PX/EXAT/PXAT
};

// Parses the options from args[first] on, with Redis's rules for which combinations
// are allowed (the same option twice is fine; EX with PX is not). Replies "ERR syntax
// error" and returns false otherwise.
bool ParseExtendedArgs(CommandContext& ctx, size_t first, bool is_set, ExtendedArgs* out) {
  for (size_t j = first; j < ctx.argc(); ++j) {
    std::string_view option = ctx.args[j];
    bool has_next = j + 1 < ctx.argc();
    uint32_t& flags = out->flags;
    if (is_set && EqualsIgnoreCase(option, "nx") && !(flags & kXx)) {
      flags |= kNx;
    } else if (is_set && EqualsIgnoreCase(option, "xx") && !(flags & kNx)) {
      flags |= kXx;
    } else if (is_set && EqualsIgnoreCase(option, "get")) {
      flags |= kGet;
    } else if (is_set && EqualsIgnoreCase(option, "keepttl") && !(flags & kPersist) &&
               !(flags & kAnyExpire)) {
      flags |= kKeepTtl;
    } else if (!is_set && EqualsIgnoreCase(option, "persist") && !(flags & kAnyExpire) &&
               !(flags & kKeepTtl)) {
      flags |= kPersist;
    } else if (has_next && !(flags & (kKeepTtl | kPersist)) &&
               ((EqualsIgnoreCase(option, "ex") && !(flags & (kExAt | kPx | kPxAt))) ||
                (EqualsIgnoreCase(option, "px") && !(flags & (kEx | kExAt | kPxAt))) ||
                (EqualsIgnoreCase(option, "exat") && !(flags & (kEx | kPx | kPxAt))) ||
                (EqualsIgnoreCase(option, "pxat") && !(flags & (kEx | kExAt | kPx))))) {
      flags &= ~kAnyExpire;
      if (EqualsIgnoreCase(option, "ex")) flags |= kEx;
      if (EqualsIgnoreCase(option, "px")) flags |= kPx;
      if (EqualsIgnoreCase(option, "exat")) flags |= kExAt;
      if (EqualsIgnoreCase(option, "pxat")) flags |= kPxAt;
      out->expire = ctx.args[++j];
    } else {
      ReplySyntaxError(ctx);
      return false;
    }
  }
  return true;
}

void ReplyInvalidExpire(CommandContext& ctx) {
  ReplyStatusError(ctx, Status::InvalidArgument("invalid expire time"));
}

// Turns `text` (seconds or milliseconds, relative or absolute) into an Expiry, with
// Redis's checks: an integer, positive, and not overflowing when made milliseconds.
bool ParseExpiry(CommandContext& ctx, std::string_view text, bool seconds, bool absolute,
                 Expiry* expiry) {
  int64_t value;
  if (!ParseIntegerArg(ctx, text, &value)) return false;
  if (value <= 0 || (seconds && value > LLONG_MAX / 1000)) {
    ReplyInvalidExpire(ctx);
    return false;
  }
  int64_t millis = seconds ? value * 1000 : value;
  *expiry = absolute ? Expiry::At(millis) : Expiry::After(std::chrono::milliseconds(millis));
  return true;
}

bool ExpiryFromArgs(CommandContext& ctx, const ExtendedArgs& args, Expiry* expiry) {
  if (args.flags & kEx) return ParseExpiry(ctx, args.expire, true, false, expiry);
  if (args.flags & kPx) return ParseExpiry(ctx, args.expire, false, false, expiry);
  if (args.flags & kExAt) return ParseExpiry(ctx, args.expire, true, true, expiry);
  if (args.flags & kPxAt) return ParseExpiry(ctx, args.expire, false, true, expiry);
  return true;
}

// --- GET / SET family ---

// The reply of a string read that found no string: WRONGTYPE for a key of another type
// (looked up only on this miss path, keeping hits at one look-up), else `missing`.
bool IsOtherType(CommandContext& ctx) {
  if (TypeOf(ctx.server.store(), ctx.args[1]) == KeyType::kNone) return false;
  ctx.reply.Error(kWrongTypeMessage);
  return true;
}

void ReplyMissingString(CommandContext& ctx) {
  if (!IsOtherType(ctx)) ctx.reply.Null();
}

// GET: the value is copied from the entry straight into the output buffer while the
// stripe is locked (Store::Read), with no intermediate string.
void GetCommand(CommandContext& ctx) {
  ReplyBuilder& reply = ctx.reply;
  bool found =
      ctx.server.store().Read(ctx.args[1], [&](std::string_view value) { reply.Bulk(value); });
  if (!found) ReplyMissingString(ctx);
}

// SET with options, or GETSET (which is SET key value GET).
void SetGeneric(CommandContext& ctx, SetCondition condition, Expiry expiry, bool get) {
  std::optional<std::string> previous;
  SetOptions options{.condition = condition, .expiry = expiry};
  if (get) options.previous_value = &previous;
  Result<bool> written = ctx.server.store().Set(ctx.args[1], ctx.args[2], options);
  if (!written.ok()) {
    ReplyStatusError(ctx, written.status());
  } else if (get) {
    if (previous.has_value()) {
      ctx.reply.Bulk(*previous);
    } else {
      ctx.reply.Null();
    }
  } else if (*written) {
    ctx.reply.Ok();
  } else {
    ctx.reply.Null();
  }
}

void SetCommand(CommandContext& ctx) {
  if (ctx.argc() == 3) {
    // The plain SET: no options to parse.
    Status status = ctx.server.store().Set(ctx.args[1], ctx.args[2]);
    if (status.ok()) {
      ctx.reply.Ok();
    } else {
      ReplyStatusError(ctx, status);
    }
    return;
  }
  ExtendedArgs args;
  if (!ParseExtendedArgs(ctx, 3, /*is_set=*/true, &args)) return;
  Expiry expiry = (args.flags & kKeepTtl) ? Expiry::Keep() : Expiry::Clear();
  if (!ExpiryFromArgs(ctx, args, &expiry)) return;
  SetCondition condition = (args.flags & kNx)   ? SetCondition::kIfAbsent
                           : (args.flags & kXx) ? SetCondition::kIfPresent
                                                : SetCondition::kAlways;
  SetGeneric(ctx, condition, expiry, (args.flags & kGet) != 0);
}

void SetNxCommand(CommandContext& ctx) {
  Result<bool> written =
      ctx.server.store().Set(ctx.args[1], ctx.args[2], {.condition = SetCondition::kIfAbsent});
  if (!written.ok()) {
    ReplyStatusError(ctx, written.status());
  } else {
    ctx.reply.Integer(*written ? 1 : 0);
  }
}

// SETEX key seconds value / PSETEX key milliseconds value.
void SetExGeneric(CommandContext& ctx, bool seconds) {
  Expiry expiry = Expiry::Clear();
  if (!ParseExpiry(ctx, ctx.args[2], seconds, /*absolute=*/false, &expiry)) return;
  Result<bool> written = ctx.server.store().Set(ctx.args[1], ctx.args[3], {.expiry = expiry});
  if (!written.ok()) {
    ReplyStatusError(ctx, written.status());
  } else {
    ctx.reply.Ok();
  }
}

void SetExCommand(CommandContext& ctx) { SetExGeneric(ctx, true); }
void PSetExCommand(CommandContext& ctx) { SetExGeneric(ctx, false); }

void GetSetCommand(CommandContext& ctx) {
  SetGeneric(ctx, SetCondition::kAlways, Expiry::Clear(), /*get=*/true);
}

void ReplyValueOrNull(CommandContext& ctx, const Result<std::string>& value) {
  if (value.ok()) {
    ctx.reply.Bulk(*value);
  } else if (value.status().IsNotFound()) {
    ctx.reply.Null();
  } else {
    ReplyStatusError(ctx, value.status());
  }
}

void GetDelCommand(CommandContext& ctx) {
  ReplyValueOrNull(ctx, ctx.server.store().GetDel(ctx.args[1]));
}

void GetExCommand(CommandContext& ctx) {
  ExtendedArgs args;
  if (!ParseExtendedArgs(ctx, 2, /*is_set=*/false, &args)) return;
  Expiry expiry = (args.flags & kPersist) ? Expiry::Clear() : Expiry::Keep();
  if (!ExpiryFromArgs(ctx, args, &expiry)) return;
  ReplyValueOrNull(ctx, ctx.server.store().GetEx(ctx.args[1], expiry));
}

void MGetCommand(CommandContext& ctx) {
  ReplyBuilder& reply = ctx.reply;
  reply.ArrayHeader(ctx.argc() - 1);
  Store& store = ctx.server.store();
  if (ctx.argc() == 2) {
    if (!store.Read(ctx.args[1], [&](std::string_view value) { reply.Bulk(value); })) {
      reply.Null();
    }
    return;
  }
  // Several keys: one atomic read, as Redis's MGET is (never half of an MSET, a
  // transaction or a script, on a primary or a replica).
  for (const std::optional<std::string>& value : store.MultiGet(ctx.args.subspan(1))) {
    if (value) {
      reply.Bulk(*value);
    } else {
      reply.Null();
    }
  }
}

// MSET / MSETNX: pairs built in the client's scratch vector (no allocation once warm).
bool CollectPairs(CommandContext& ctx,
                  std::vector<std::pair<std::string_view, std::string_view>>** pairs) {
  if (ctx.argc() % 2 != 1) {
    ctx.reply.Error(absl::StrCat("ERR wrong number of arguments for '",
                                 CommandFullName(ctx.spec, ctx.container), "' command"));
    return false;
  }
  auto& scratch = ctx.client.pair_scratch();
  scratch.clear();
  for (size_t i = 1; i + 1 < ctx.argc(); i += 2) scratch.emplace_back(ctx.args[i], ctx.args[i + 1]);
  *pairs = &scratch;
  return true;
}

void MSetCommand(CommandContext& ctx) {
  std::vector<std::pair<std::string_view, std::string_view>>* pairs;
  if (!CollectPairs(ctx, &pairs)) return;
  Status status = ctx.server.store().MultiSet(*pairs);
  if (status.ok()) {
    ctx.reply.Ok();
  } else {
    ReplyStatusError(ctx, status);
  }
}

void MSetNxCommand(CommandContext& ctx) {
  std::vector<std::pair<std::string_view, std::string_view>>* pairs;
  if (!CollectPairs(ctx, &pairs)) return;
  Result<bool> written = ctx.server.store().MultiSetIfAbsent(*pairs);
  if (!written.ok()) {
    ReplyStatusError(ctx, written.status());
  } else {
    ctx.reply.Integer(*written ? 1 : 0);
  }
}

// --- Read-modify-write commands, on Store::Update ---

Status TooBig() {
  return Status::InvalidArgument("string exceeds maximum allowed size (proto-max-bulk-len)");
}

// Rewrites the value at args[1] through Store::Update (the public API has no in-place
// edit) and replies with the resulting length, as APPEND and SETRANGE do. `edit` gets
// the current value ("" when the key is missing) and proto-max-bulk-len, against which
// Redis checks the result; it fills `replacement`, or returns kKeep to change nothing.
template <typename Edit>
void RewriteValue(CommandContext& ctx, Edit edit) {
  const uint64_t limit = static_cast<uint64_t>(ctx.server.proto_max_bulk_len());
  size_t length = 0;
  Result<UpdateAction> result = ctx.server.store().Update(
      ctx.args[1],
      [&](const std::string_view* current, std::string& replacement) -> Result<UpdateAction> {
        const std::string_view existing = current != nullptr ? *current : std::string_view();
        Result<UpdateAction> action = edit(existing, limit, replacement);
        if (action.ok()) {
          length = *action == UpdateAction::kWrite ? replacement.size() : existing.size();
        }
        return action;
      });
  if (!result.ok()) {
    ReplyStatusError(ctx, result.status());
  } else {
    ctx.reply.Integer(static_cast<int64_t>(length));
  }
}

void AppendCommand(CommandContext& ctx) {
  const std::string_view value = ctx.args[2];
  RewriteValue(ctx,
               [&](std::string_view existing, uint64_t limit,
                   std::string& replacement) -> Result<UpdateAction> {
                 if (existing.size() + value.size() > limit) return TooBig();
                 replacement.reserve(existing.size() + value.size());
                 replacement.assign(existing);
                 replacement.append(value);
                 return UpdateAction::kWrite;
               });
}

void StrLenCommand(CommandContext& ctx) {
  size_t length = 0;
  bool found =
      ctx.server.store().Read(ctx.args[1], [&](std::string_view value) { length = value.size(); });
  if (!found && IsOtherType(ctx)) return;
  ctx.reply.Integer(static_cast<int64_t>(length));
}

void GetRangeCommand(CommandContext& ctx) {
  int64_t start, end;
  if (!ParseIntegerArg(ctx, ctx.args[2], &start) || !ParseIntegerArg(ctx, ctx.args[3], &end)) {
    return;
  }
  ReplyBuilder& reply = ctx.reply;
  bool found = ctx.server.store().Read(ctx.args[1], [&](std::string_view value) {
    // Redis's index arithmetic: negative indexes count from the end, then clamp.
    int64_t length = static_cast<int64_t>(value.size());
    int64_t from = start, to = end;
    if (from < 0 && to < 0 && from > to) {
      reply.Bulk("");
      return;
    }
    if (from < 0) from = length + from;
    if (to < 0) to = length + to;
    if (from < 0) from = 0;
    if (to < 0) to = 0;
    if (to >= length) to = length - 1;
    if (from > to || length == 0) {
      reply.Bulk("");
    } else {
      reply.Bulk(value.substr(static_cast<size_t>(from), static_cast<size_t>(to - from + 1)));
    }
  });
  if (!found && !IsOtherType(ctx)) reply.Bulk("");
}

void SetRangeCommand(CommandContext& ctx) {
  int64_t offset;
  if (!ParseIntegerArg(ctx, ctx.args[2], &offset)) return;
  if (offset < 0) {
    ctx.reply.Error("ERR offset is out of range");
    return;
  }
  const std::string_view value = ctx.args[3];
  RewriteValue(ctx,
               [&](std::string_view existing, uint64_t limit,
                   std::string& replacement) -> Result<UpdateAction> {
                 // Nothing to write: a missing key stays missing, as in Redis.
                 if (value.empty()) return UpdateAction::kKeep;
                 if (static_cast<uint64_t>(offset) + value.size() > limit) return TooBig();
                 const size_t position = static_cast<size_t>(offset);
                 const size_t needed = std::max(existing.size(), position + value.size());
                 replacement.reserve(needed);
                 replacement.assign(existing);
                 replacement.resize(needed, '\0');
                 replacement.replace(position, value.size(), value);
                 return UpdateAction::kWrite;
               });
}

void IncrByGeneric(CommandContext& ctx, int64_t delta) {
  Result<int64_t> value = ctx.server.store().IncrBy(ctx.args[1], delta);
  if (!value.ok()) {
    ReplyStatusError(ctx, value.status());
  } else {
    ctx.reply.Integer(*value);
  }
}

void IncrCommand(CommandContext& ctx) { IncrByGeneric(ctx, 1); }
void DecrCommand(CommandContext& ctx) { IncrByGeneric(ctx, -1); }

void IncrByCommand(CommandContext& ctx) {
  int64_t delta;
  if (ParseIntegerArg(ctx, ctx.args[2], &delta)) IncrByGeneric(ctx, delta);
}

void DecrByCommand(CommandContext& ctx) {
  int64_t delta;
  if (!ParseIntegerArg(ctx, ctx.args[2], &delta)) return;
  if (delta == LLONG_MIN) {
    ctx.reply.Error("ERR decrement would overflow");
    return;
  }
  IncrByGeneric(ctx, -delta);
}

// INCRBYFLOAT computes in long double and formats as Redis does, so the stored text is
// the same byte for byte ("10.5", "3000", not "3.0e3"); the key's deadline is kept.
void IncrByFloatCommand(CommandContext& ctx) {
  long double increment;
  if (!internal::ParseLongDouble(ctx.args[2], &increment)) {
    ctx.reply.Error("ERR value is not a valid float");
    return;
  }
  std::string formatted;
  Result<UpdateAction> result = ctx.server.store().Update(
      ctx.args[1],
      [&](const std::string_view* current, std::string& replacement) -> Result<UpdateAction> {
        long double value = 0;
        if (current != nullptr && !internal::ParseLongDouble(*current, &value)) {
          return Status::InvalidArgument("value is not a valid float");
        }
        value += increment;
        if (std::isnan(value) || std::isinf(value)) {
          return Status::InvalidArgument("increment would produce NaN or Infinity");
        }
        formatted = internal::FormatLongDouble(value);
        replacement = formatted;
        return UpdateAction::kWrite;
      });
  if (!result.ok()) {
    ReplyStatusError(ctx, result.status());
  } else {
    ctx.reply.Bulk(formatted);
  }
}

constexpr uint32_t kWriteOom = kCmdWrite | kCmdDenyOom;

const CommandSpec kCommands[] = {
    {"get", 2, kCmdReadOnly | kCmdFast, GetCommand, 1, 1, 1, "@read @string @fast"},
    {"set", -3, kWriteOom, SetCommand, 1, 1, 1, "@write @string @slow"},
    {"setnx", 3, kWriteOom | kCmdFast, SetNxCommand, 1, 1, 1, "@write @string @fast"},
    {"setex", 4, kWriteOom, SetExCommand, 1, 1, 1, "@write @string @slow"},
    {"psetex", 4, kWriteOom, PSetExCommand, 1, 1, 1, "@write @string @slow"},
    {"getset", 3, kWriteOom | kCmdFast, GetSetCommand, 1, 1, 1, "@write @string @fast"},
    {"getdel", 2, kCmdWrite | kCmdFast, GetDelCommand, 1, 1, 1, "@write @string @fast"},
    {"getex", -2, kCmdWrite | kCmdFast, GetExCommand, 1, 1, 1, "@write @string @fast"},
    {"mget", -2, kCmdReadOnly | kCmdFast, MGetCommand, 1, -1, 1, "@read @string @fast"},
    {"mset", -3, kWriteOom, MSetCommand, 1, -1, 2, "@write @string @slow"},
    {"msetnx", -3, kWriteOom, MSetNxCommand, 1, -1, 2, "@write @string @slow"},
    {"append", 3, kWriteOom | kCmdFast, AppendCommand, 1, 1, 1, "@write @string @fast"},
    {"strlen", 2, kCmdReadOnly | kCmdFast, StrLenCommand, 1, 1, 1, "@read @string @fast"},
    {"getrange", 4, kCmdReadOnly, GetRangeCommand, 1, 1, 1, "@read @string @slow"},
    {"substr", 4, kCmdReadOnly, GetRangeCommand, 1, 1, 1, "@read @string @slow"},
    {"setrange", 4, kWriteOom, SetRangeCommand, 1, 1, 1, "@write @string @slow"},
    {"incr", 2, kWriteOom | kCmdFast, IncrCommand, 1, 1, 1, "@write @string @fast"},
    {"decr", 2, kWriteOom | kCmdFast, DecrCommand, 1, 1, 1, "@write @string @fast"},
    {"incrby", 3, kWriteOom | kCmdFast, IncrByCommand, 1, 1, 1, "@write @string @fast"},
    {"decrby", 3, kWriteOom | kCmdFast, DecrByCommand, 1, 1, 1, "@write @string @fast"},
    {"incrbyfloat", 3, kWriteOom | kCmdFast, IncrByFloatCommand, 1, 1, 1, "@write @string @fast"},
};

}  // namespace

std::span<const CommandSpec> StringCommands() { return kCommands; }

}  // namespace mirrorkv::server
