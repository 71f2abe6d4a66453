// The sorted-set commands: ZADD (NX XX GT LT CH INCR) ZINCRBY ZREM ZSCORE ZMSCORE ZCARD
// ZRANGE (by rank, REV, WITHSCORES) ZRANK ZREVRANK ZPOPMIN ZPOPMAX, over
// mirrorkv::SortedSets, with Redis 7.0's option grammar, error texts and replies
// (scores as doubles in RESP3, member/score pairs nested in RESP3 where Redis nests).
#include <optional>
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

bool ParseScoreArg(CommandContext& ctx, std::string_view text, double* score) {
  if (internal::ParseScore(text, score)) return true;
  ctx.reply.Error("ERR value is not a valid float");
  return false;
}

// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]; ZINCRBY is
// ZADD INCR with one pair.
void ZAddGeneric(CommandContext& ctx, bool incr_command) {
  SortedSetAddOptions options;
  options.incr = incr_command;
  bool ch = false;
  size_t first = 2;
  for (; !incr_command && first < ctx.argc(); ++first) {
    std::string_view option = ctx.args[first];
    if (EqualsIgnoreCase(option, "nx")) {
      options.only_if_absent = true;
    } else if (EqualsIgnoreCase(option, "xx")) {
      options.only_if_present = true;
    } else if (EqualsIgnoreCase(option, "ch")) {
      ch = true;
    } else if (EqualsIgnoreCase(option, "incr")) {
      options.incr = true;
    } else if (EqualsIgnoreCase(option, "gt")) {
      options.only_if_greater = true;
    } else if (EqualsIgnoreCase(option, "lt")) {
      options.only_if_less = true;
    } else {
      break;
    }
  }
  const size_t elements = ctx.argc() - first;
  if (elements % 2 != 0 || elements == 0) return ReplySyntaxError(ctx);
  if (options.only_if_absent && options.only_if_present) {
    return ctx.reply.Error("ERR XX and NX options at the same time are not compatible");
  }
  if ((options.only_if_greater && options.only_if_absent) ||
      (options.only_if_less && options.only_if_absent) ||
      (options.only_if_greater && options.only_if_less)) {
    return ctx.reply.Error("ERR GT, LT, and/or NX options at the same time are not compatible");
  }
  if (options.incr && elements > 2) {
    return ctx.reply.Error("ERR INCR option supports a single increment-element pair");
  }
  std::vector<std::pair<double, std::string_view>> pairs;
  pairs.reserve(elements / 2);
  for (size_t i = first; i < ctx.argc(); i += 2) {
    double score;
    if (!ParseScoreArg(ctx, ctx.args[i], &score)) return;
    pairs.emplace_back(score, ctx.args[i + 1]);
  }
  Result<SortedSetAddResult> result =
      SortedSets(ctx.server.store()).Add(ctx.args[1], pairs, options);
  if (!result.ok()) return ReplyStatusError(ctx, result.status());
  if (options.incr) {
    if (result->score.has_value()) return ctx.reply.Double(*result->score);
    return ctx.reply.Null();
  }
  ctx.reply.Integer(static_cast<int64_t>(ch ? result->changed : result->added));
}

void ZAddCommand(CommandContext& ctx) { ZAddGeneric(ctx, false); }
void ZIncrByCommand(CommandContext& ctx) { ZAddGeneric(ctx, true); }

void ZRemCommand(CommandContext& ctx) {
  Result<size_t> removed = SortedSets(ctx.server.store()).Remove(ctx.args[1], ctx.args.subspan(2));
  if (!removed.ok()) return ReplyStatusError(ctx, removed.status());
  ctx.reply.Integer(static_cast<int64_t>(*removed));
}

void ZScoreCommand(CommandContext& ctx) {
  Result<double> score = SortedSets(ctx.server.store()).Score(ctx.args[1], ctx.args[2]);
  if (score.ok()) return ctx.reply.Double(*score);
  if (score.status().IsNotFound()) return ctx.reply.Null();
  ReplyStatusError(ctx, score.status());
}

void ZMScoreCommand(CommandContext& ctx) {
  SortedSets zsets(ctx.server.store());
  Result<size_t> size = zsets.Size(ctx.args[1]);  // the type check, before any reply
  if (!size.ok()) return ReplyStatusError(ctx, size.status());
  ctx.reply.ArrayHeader(ctx.argc() - 2);
  for (size_t i = 2; i < ctx.argc(); ++i) {
    Result<double> score = zsets.Score(ctx.args[1], ctx.args[i]);
    if (score.ok()) {
      ctx.reply.Double(*score);
    } else {
      ctx.reply.Null();
    }
  }
}

void ZCardCommand(CommandContext& ctx) {
  Result<size_t> size = SortedSets(ctx.server.store()).Size(ctx.args[1]);
  if (!size.ok()) return ReplyStatusError(ctx, size.status());
  ctx.reply.Integer(static_cast<int64_t>(*size));
}

// Member/score pairs: flat in RESP2, each pair an array of two in RESP3 when `nested`.
class PairWriter {
 public:
  PairWriter(ReplyBuilder& reply, bool with_scores, bool nested)
      : reply_(reply), with_scores_(with_scores), nested_(nested && reply.resp() >= 3) {}
  void Item(const Element& e) {
    if (e.index == 0) {
      started_ = true;
      reply_.ArrayHeader(with_scores_ && !nested_ ? e.count * 2 : e.count);
    }
    if (with_scores_ && nested_) reply_.ArrayHeader(2);
    reply_.Bulk(e.member);
    if (with_scores_) reply_.Double(e.score);
  }
  void Finish() {
    if (!started_) reply_.ArrayHeader(0);
  }

 private:
  ReplyBuilder& reply_;
  const bool with_scores_;
  const bool nested_;
  bool started_ = false;
};

// ZRANGE key start stop [REV] [WITHSCORES] (ranks only).
void ZRangeCommand(CommandContext& ctx) {
  bool reverse = false;
  bool with_scores = false;
  for (size_t i = 4; i < ctx.argc(); ++i) {
    if (EqualsIgnoreCase(ctx.args[i], "withscores")) {
      with_scores = true;
    } else if (EqualsIgnoreCase(ctx.args[i], "rev")) {
      reverse = true;
    } else {
      return ReplySyntaxError(ctx);
    }
  }
  int64_t start;
  int64_t stop;
  if (!ParseIntegerArg(ctx, ctx.args[2], &start) || !ParseIntegerArg(ctx, ctx.args[3], &stop)) {
    return;
  }
  PairWriter writer(ctx.reply, with_scores, true);
  Result<bool> found = SortedSets(ctx.server.store())
                           .RangeByRank(ctx.args[1], start, stop, reverse,
                                        [&](const Element& e) { writer.Item(e); });
  if (!found.ok()) return ReplyStatusError(ctx, found.status());
  writer.Finish();
}

void RankGeneric(CommandContext& ctx, bool reverse) {
  Result<size_t> rank = SortedSets(ctx.server.store()).Rank(ctx.args[1], ctx.args[2], reverse);
  if (rank.ok()) return ctx.reply.Integer(static_cast<int64_t>(*rank));
  if (rank.status().IsNotFound()) return ctx.reply.Null();
  ReplyStatusError(ctx, rank.status());
}

void ZRankCommand(CommandContext& ctx) { RankGeneric(ctx, false); }
void ZRevRankCommand(CommandContext& ctx) { RankGeneric(ctx, true); }

// ZPOPMIN/ZPOPMAX key [count]: a flat member/score array, nested pairs in RESP3 when a
// count was given; empty when the key is missing.
void PopGeneric(CommandContext& ctx, bool max) {
  if (ctx.argc() > 3) return ReplySyntaxError(ctx);
  int64_t count = 1;
  const bool has_count = ctx.argc() == 3;
  if (has_count && !ParsePositiveArg(ctx, ctx.args[2], &count)) return;
  PairWriter writer(ctx.reply, true, has_count);
  Result<bool> found = SortedSets(ctx.server.store())
                           .Pop(ctx.args[1], static_cast<size_t>(count), max,
                                [&](const Element& e) { writer.Item(e); });
  if (!found.ok()) return ReplyStatusError(ctx, found.status());
  writer.Finish();
}

void ZPopMinCommand(CommandContext& ctx) { PopGeneric(ctx, false); }
void ZPopMaxCommand(CommandContext& ctx) { PopGeneric(ctx, true); }

constexpr uint32_t kWriteOom = kCmdWrite | kCmdDenyOom | kCmdFast;

const CommandSpec kCommands[] = {
    {"zadd", -4, kWriteOom, ZAddCommand, 1, 1, 1, "@write @sortedset @fast"},
    {"zincrby", 4, kWriteOom, ZIncrByCommand, 1, 1, 1, "@write @sortedset @fast"},
    {"zrem", -3, kCmdWrite | kCmdFast, ZRemCommand, 1, 1, 1, "@write @sortedset @fast"},
    {"zscore", 3, kCmdReadOnly | kCmdFast, ZScoreCommand, 1, 1, 1, "@read @sortedset @fast"},
    {"zmscore", -3, kCmdReadOnly | kCmdFast, ZMScoreCommand, 1, 1, 1, "@read @sortedset @fast"},
    {"zcard", 2, kCmdReadOnly | kCmdFast, ZCardCommand, 1, 1, 1, "@read @sortedset @fast"},
    {"zrange", -4, kCmdReadOnly, ZRangeCommand, 1, 1, 1, "@read @sortedset @slow"},
    {"zrank", 3, kCmdReadOnly | kCmdFast, ZRankCommand, 1, 1, 1, "@read @sortedset @fast"},
    {"zrevrank", 3, kCmdReadOnly | kCmdFast, ZRevRankCommand, 1, 1, 1, "@read @sortedset @fast"},
    {"zpopmin", -2, kCmdWrite | kCmdFast, ZPopMinCommand, 1, 1, 1, "@write @sortedset @fast"},
    {"zpopmax", -2, kCmdWrite | kCmdFast, ZPopMaxCommand, 1, 1, 1, "@write @sortedset @fast"},
};

}  // namespace

std::span<const CommandSpec> SortedSetCommands() { return kCommands; }

}  // namespace mirrorkv::server
