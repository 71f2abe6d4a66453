// Reply helpers shared by the list, set, hash and sorted-set commands.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "engine/base/numbers.h"
#include "mirrorkv/collections.h"
#include "mirrorkv/store.h"
#include "server/client.h"
#include "server/commands.h"
#include "server/reply_builder.h"
#include "server/server.h"

namespace mirrorkv::server {

// Writes the elements a collection read passes, as Redis replies them: the aggregate
// header before the first (its size is Element::count), then one bulk per element; a
// read that passed nothing leaves an empty aggregate at Finish. Single mode (POP without
// a count) writes the one element as a bare bulk.
class ArrayWriter {
 public:
  enum class Shape : uint8_t { kSingle, kArray, kSet, kMap };

  ArrayWriter(ReplyBuilder& reply, bool array)
      : ArrayWriter(reply, array ? Shape::kArray : Shape::kSingle) {}
  ArrayWriter(ReplyBuilder& reply, Shape shape) : reply_(reply), shape_(shape) {}

  // Writes the header when `e` is the first element, then `bulk`.
  void Item(const Element& e, std::string_view bulk) {
    Begin(e);
    reply_.Bulk(bulk);
  }
  // Writes the header when `e` is the first element (for callers writing their own).
  void Begin(const Element& e) {
    if (e.index != 0) return;
    started_ = true;
    switch (shape_) {
      case Shape::kSingle:
        break;
      case Shape::kArray:
        reply_.ArrayHeader(e.count);
        break;
      case Shape::kSet:
        reply_.SetHeader(e.count);
        break;
      case Shape::kMap:
        reply_.MapHeader(e.count);
        break;
    }
  }
  // The empty aggregate, when no element came.
  void Finish() {
    if (started_) return;
    switch (shape_) {
      case Shape::kSingle:
        reply_.Null();
        break;
      case Shape::kArray:
        reply_.ArrayHeader(0);
        break;
      case Shape::kSet:
        reply_.SetHeader(0);
        break;
      case Shape::kMap:
        reply_.MapHeader(0);
        break;
    }
  }

 private:
  ReplyBuilder& reply_;
  const Shape shape_;
  bool started_ = false;
};

// Parses a count that must be >= 0 with Redis's one error for a non-integer and a
// negative count alike: "ERR value is out of range, must be positive". Replies and
// returns false on failure.
inline bool ParsePositiveArg(CommandContext& ctx, std::string_view text, int64_t* out) {
  if (!ParseIntegerArg(ctx, text, out, "ERR value is out of range, must be positive")) {
    return false;
  }
  if (*out < 0) {
    ctx.reply.Error("ERR value is out of range, must be positive");
    return false;
  }
  return true;
}

// The "key [count [<pair option>]]" of SRANDMEMBER (no pair option), HRANDFIELD
// (WITHVALUES) and ZRANDMEMBER (WITHSCORES), checked in Redis's order with its errors.
// Replies and returns false on failure.
struct RandomCountArgs {
  bool has_count = false;   // without one: a single bulk reply, null when missing
  int64_t count = 1;        // negative: that many, repeats allowed
  bool with_pairs = false;  // the pair option was given
};
inline bool ParseRandomCountArgs(CommandContext& ctx, std::string_view pair_option,
                                 RandomCountArgs* out) {
  if (pair_option.empty() && ctx.argc() > 3) {
    ReplySyntaxError(ctx);
    return false;
  }
  out->has_count = ctx.argc() >= 3;
  if (!out->has_count) return true;
  if (!ParseIntegerArg(ctx, ctx.args[2], &out->count)) return false;
  if (out->count == INT64_MIN) {
    ctx.reply.Error(
        "ERR value is out of range, value must between -9223372036854775807 and "
        "9223372036854775807");
    return false;
  }
  if (ctx.argc() > 4 || (ctx.argc() == 4 && !EqualsIgnoreCase(ctx.args[3], pair_option))) {
    ReplySyntaxError(ctx);
    return false;
  }
  out->with_pairs = ctx.argc() == 4;
  if (out->with_pairs && (out->count < -INT64_MAX / 2 || out->count > INT64_MAX / 2)) {
    ctx.reply.Error("ERR value is out of range");
    return false;
  }
  return true;
}

// The "numkeys key [key ...] <where> [COUNT count]" of LMPOP and ZMPOP, checked in
// Redis's order with its errors; `parse_where` reads the <where> word (LEFT|RIGHT,
// MIN|MAX) and says whether it is one. Sets the position of the <where> word (the keys
// are args[2, where_at)) and the count (1 when not given). Replies and returns false on
// failure.
// `numkeys_at` is where numkeys is: 1, or 2 in BLMPOP/BZMPOP (after the timeout).
inline bool ParseMultiPopArgs(CommandContext& ctx,
                              absl::FunctionRef<bool(std::string_view)> parse_where,
                              size_t* where_at, int64_t* count, size_t numkeys_at = 1) {
  int64_t keys;
  if (!ParseIntegerArg(ctx, ctx.args[numkeys_at], &keys, "ERR numkeys should be greater than 0")) {
    return false;
  }
  if (keys <= 0) {
    ctx.reply.Error("ERR numkeys should be greater than 0");
    return false;
  }
  const size_t first_key = numkeys_at + 1;
  if (static_cast<uint64_t>(keys) > ctx.argc() - first_key - 1 ||
      !parse_where(ctx.args[first_key + keys])) {
    ReplySyntaxError(ctx);
    return false;
  }
  *where_at = first_key + static_cast<size_t>(keys);
  *count = -1;
  for (size_t i = *where_at + 1; i < ctx.argc(); ++i) {
    if (*count != -1 || !EqualsIgnoreCase(ctx.args[i], "count") || i + 1 == ctx.argc()) {
      ReplySyntaxError(ctx);
      return false;
    }
    if (!ParseIntegerArg(ctx, ctx.args[++i], count, "ERR count should be greater than 0")) {
      return false;
    }
    if (*count <= 0) {
      ctx.reply.Error("ERR count should be greater than 0");
      return false;
    }
  }
  if (*count == -1) *count = 1;
  return true;
}

// --- Blocking commands (BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP BZPOPMIN BZPOPMAX BZMPOP) ---

// Parses a blocking command's timeout as Redis 7.0 does: seconds as a long double
// (string2ld), turned into milliseconds rounded up; 0 waits forever. A value whose
// milliseconds do not fit a long long (inf, 1e300) converts as Redis's cast does on x86,
// to a negative number. Replies and returns false on failure.
inline bool ParseBlockTimeout(CommandContext& ctx, std::string_view text, int64_t* timeout_ms) {
  long double seconds;
  if (!internal::ParseLongDouble(text, &seconds)) {
    ctx.reply.Error("ERR timeout is not a float or out of range");
    return false;
  }
  const long double ms = std::ceil(seconds * 1000.0L);
  if (!(ms >= 0) || ms >= 9223372036854775808.0L) {
    ctx.reply.Error("ERR timeout is negative");
    return false;
  }
  *timeout_ms = static_cast<int64_t>(ms);
  return true;
}

// A blocking command is a write (it pops): a replica refuses it before it looks at its
// keys, as Redis refuses write commands from its clients, even on an empty key where the
// Store would refuse nothing. Replies and returns false on a replica.
inline bool CheckBlockingWriteAllowed(CommandContext& ctx) {
  if (!ctx.server.store().replica_mode()) return true;
  ctx.reply.Error("READONLY You can't write against a read only replica.");
  return false;
}

// Whether a blocking command should pass over a key whose read failed with `status`: on
// a retry, a key that now holds another type is skipped (Redis 7.0 serves a blocked
// client only from a key of its type and leaves it blocked otherwise); on the first run
// the error is the reply.
inline bool SkipOnRetry(CommandContext& ctx, const Status& status) {
  return ctx.client.retrying_blocked() && status.message() == kWrongTypeMessage;
}

// The loop of the pops over several keys (BLPOP, LMPOP, BZPOPMIN, ZMPOP ...): calls
// pop(key), which pops from `key` and replies when it holds something (Result<bool>:
// whether it did), for each key in order until one did. An error is the reply, except
// what SkipOnRetry passes over. Returns whether a reply was made; false when every key
// was empty, for the caller's empty reply or block.
template <typename Pop>
bool PopFromFirstNonEmpty(CommandContext& ctx, std::span<const std::string_view> keys, Pop&& pop) {
  for (std::string_view key : keys) {
    Result<bool> found = pop(key);
    if (!found.ok()) {
      if (SkipOnRetry(ctx, found.status())) continue;
      ReplyStatusError(ctx, found.status());
      return true;
    }
    if (*found) return true;
  }
  return false;
}

inline void ReplyNullArray(ReplyBuilder& reply) { reply.NullArray(); }

// What a blocking command does when none of its keys had anything: inside MULTI/EXEC it
// may not block and replies `null` at once (the non-blocking form's empty reply: a null
// array, or a null bulk for BLMOVE/BRPOPLPUSH); otherwise the client blocks on `keys`
// (see Client::BlockOnKeys) and a timeout replies a null array, as Redis 7.0's
// replyToBlockedClientTimedOut does for every list and sorted-set command. Scripts never
// get here: the blocking commands are no-script, as in Redis 7.0.
inline void BlockOrReplyNull(CommandContext& ctx, std::span<const std::string_view> keys,
                             int64_t timeout_ms, void (*null)(ReplyBuilder&)) {
  if (ctx.in_exec) return null(ctx.reply);
  ctx.client.BlockOnKeys(ctx, keys, timeout_ms, &ReplyNullArray);
}

}  // namespace mirrorkv::server
