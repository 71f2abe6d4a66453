// The sorted-set commands: ZADD (NX XX GT LT CH INCR) ZINCRBY ZREM ZSCORE ZMSCORE ZCARD
// ZRANGE (BYSCORE BYLEX REV LIMIT WITHSCORES) ZRANGESTORE ZREVRANGE ZRANGEBYSCORE
// ZREVRANGEBYSCORE ZRANGEBYLEX ZREVRANGEBYLEX ZCOUNT ZLEXCOUNT ZREMRANGEBYRANK
// ZREMRANGEBYSCORE ZREMRANGEBYLEX ZRANK ZREVRANK ZPOPMIN ZPOPMAX, over
// mirrorkv::SortedSets, with Redis 7.0's option grammar, error texts and replies
// (scores as doubles in RESP3, member/score pairs nested in RESP3 where Redis nests).
#include <cmath>
#include <cstdlib>
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

// A score bound as Redis parses it: an optional "(" for exclusive, then strtod's syntax
// to the end (so "(" alone and "" read as 0), not NaN.
bool ParseScoreBound(std::string_view text, double* value, bool* exclusive) {
  *exclusive = !text.empty() && text[0] == '(';
  if (*exclusive) text.remove_prefix(1);
  std::string copy(text);  // strtod needs the terminator
  char* end = nullptr;
  *value = std::strtod(copy.c_str(), &end);
  return *end == '\0' && !std::isnan(*value);
}

bool ParseScoreRange(std::string_view min, std::string_view max, ScoreRange* range) {
  return ParseScoreBound(min, &range->min, &range->min_exclusive) &&
         ParseScoreBound(max, &range->max, &range->max_exclusive);
}

// A lex bound: "-", "+", or "[" / "(" before the bytes.
bool ParseLexBound(std::string_view text, LexBound* bound) {
  if (text.empty()) return false;
  switch (text[0]) {
    case '-':
    case '+':
      bound->kind = text[0] == '-' ? LexBound::Kind::kMinusInfinity : LexBound::Kind::kPlusInfinity;
      return text.size() == 1;
    case '[':
    case '(':
      bound->kind = text[0] == '[' ? LexBound::Kind::kInclusive : LexBound::Kind::kExclusive;
      bound->value = text.substr(1);
      return true;
    default:
      return false;
  }
}

bool ParseLexRange(std::string_view min, std::string_view max, LexRange* range) {
  return ParseLexBound(min, &range->min) && ParseLexBound(max, &range->max);
}

constexpr std::string_view kNotFloatRange = "ERR min or max is not a float";
constexpr std::string_view kNotLexRange = "ERR min or max not valid string range item";

enum class RangeBy : uint8_t { kAuto, kRank, kScore, kLex };

// The ZRANGE family: ZRANGE, ZRANGESTORE, ZREVRANGE, ZRANGEBYSCORE, ZREVRANGEBYSCORE,
// ZRANGEBYLEX and ZREVRANGEBYLEX differ in the range type and direction they fix, and
// in where the source key is.
struct RangeCommand {
  RangeBy by = RangeBy::kAuto;
  std::optional<bool> reverse;  // fixed by the command, or chosen by REV
  bool store = false;           // ZRANGESTORE: args[1] is the destination
};

// Parses the options and then the bounds, in Redis's order of checks (an error replies
// at the first failure), reads the range and replies it, or stores it for ZRANGESTORE.
void RangeGeneric(CommandContext& ctx, RangeCommand command) {
  const size_t key_at = command.store ? 2 : 1;
  bool with_scores = false;
  bool has_limit = false;
  RangeLimit limit;
  for (size_t i = key_at + 3; i < ctx.argc(); ++i) {
    std::string_view option = ctx.args[i];
    if (!command.store && EqualsIgnoreCase(option, "withscores")) {
      with_scores = true;
    } else if (EqualsIgnoreCase(option, "limit") && i + 2 < ctx.argc()) {
      if (!ParseIntegerArg(ctx, ctx.args[i + 1], &limit.offset) ||
          !ParseIntegerArg(ctx, ctx.args[i + 2], &limit.count)) {
        return;
      }
      has_limit = true;
      i += 2;
    } else if (!command.reverse.has_value() && EqualsIgnoreCase(option, "rev")) {
      command.reverse = true;
    } else if (command.by == RangeBy::kAuto && EqualsIgnoreCase(option, "bylex")) {
      command.by = RangeBy::kLex;
    } else if (command.by == RangeBy::kAuto && EqualsIgnoreCase(option, "byscore")) {
      command.by = RangeBy::kScore;
    } else {
      return ReplySyntaxError(ctx);
    }
  }
  if (command.by == RangeBy::kAuto) command.by = RangeBy::kRank;
  const bool reverse = command.reverse.value_or(false);
  if (has_limit && command.by == RangeBy::kRank) {
    return ctx.reply.Error(
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
  }
  if (with_scores && command.by == RangeBy::kLex) {
    return ctx.reply.Error("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
  }
  // Reversed score and lex ranges are written max first.
  std::string_view min = ctx.args[key_at + 1];
  std::string_view max = ctx.args[key_at + 2];
  if (reverse && command.by != RangeBy::kRank) std::swap(min, max);
  int64_t start = 0;
  int64_t stop = 0;
  ScoreRange scores;
  LexRange lex;
  switch (command.by) {
    case RangeBy::kRank:
      if (!ParseIntegerArg(ctx, min, &start) || !ParseIntegerArg(ctx, max, &stop)) return;
      break;
    case RangeBy::kScore:
      if (!ParseScoreRange(min, max, &scores)) return ctx.reply.Error(kNotFloatRange);
      break;
    case RangeBy::kLex:
      if (!ParseLexRange(min, max, &lex)) return ctx.reply.Error(kNotLexRange);
      break;
    case RangeBy::kAuto:
      break;
  }
  auto read = [&](auto&& visitor) {
    SortedSets zsets(ctx.server.store());
    std::string_view key = ctx.args[key_at];
    switch (command.by) {
      case RangeBy::kScore:
        return zsets.RangeByScore(key, scores, reverse, limit, visitor);
      case RangeBy::kLex:
        return zsets.RangeByLex(key, lex, reverse, limit, visitor);
      default:
        return zsets.RangeByRank(key, start, stop, reverse, visitor);
    }
  };
  if (!command.store) {
    PairWriter writer(ctx.reply, with_scores, true);
    Result<bool> found = read([&](const Element& e) { writer.Item(e); });
    if (!found.ok()) return ReplyStatusError(ctx, found.status());
    return writer.Finish();
  }
  // ZRANGESTORE: the read and the destination's replacement run alone (RunExclusive), so
  // no command sees or changes either key in between, and a replica applies the
  // destination's DEL and ZADD together.
  RunExclusive(ctx, [&] {
    std::vector<std::string> members;
    std::vector<double> scores_read;
    Result<bool> found = read([&](const Element& e) {
      members.emplace_back(e.member);
      scores_read.push_back(e.score);
    });
    if (!found.ok()) return ReplyStatusError(ctx, found.status());
    std::vector<std::pair<double, std::string_view>> pairs;
    pairs.reserve(members.size());
    for (size_t i = 0; i < members.size(); ++i) pairs.emplace_back(scores_read[i], members[i]);
    Store& store = ctx.server.store();
    Result<bool> deleted = store.Del(ctx.args[1]);
    if (!deleted.ok()) return ReplyStatusError(ctx, deleted.status());
    if (!pairs.empty()) {
      Result<SortedSetAddResult> added = SortedSets(store).Add(ctx.args[1], pairs);
      if (!added.ok()) return ReplyStatusError(ctx, added.status());
    }
    ctx.reply.Integer(static_cast<int64_t>(pairs.size()));
  });
}

void ZRangeCommand(CommandContext& ctx) { RangeGeneric(ctx, {}); }
void ZRangeStoreCommand(CommandContext& ctx) { RangeGeneric(ctx, {.store = true}); }
void ZRevRangeCommand(CommandContext& ctx) {
  RangeGeneric(ctx, {.by = RangeBy::kRank, .reverse = true});
}
void ZRangeByScoreCommand(CommandContext& ctx) {
  RangeGeneric(ctx, {.by = RangeBy::kScore, .reverse = false});
}
void ZRevRangeByScoreCommand(CommandContext& ctx) {
  RangeGeneric(ctx, {.by = RangeBy::kScore, .reverse = true});
}
void ZRangeByLexCommand(CommandContext& ctx) {
  RangeGeneric(ctx, {.by = RangeBy::kLex, .reverse = false});
}
void ZRevRangeByLexCommand(CommandContext& ctx) {
  RangeGeneric(ctx, {.by = RangeBy::kLex, .reverse = true});
}

void ZCountCommand(CommandContext& ctx) {
  ScoreRange range;
  if (!ParseScoreRange(ctx.args[2], ctx.args[3], &range)) return ctx.reply.Error(kNotFloatRange);
  Result<size_t> count = SortedSets(ctx.server.store()).CountByScore(ctx.args[1], range);
  if (!count.ok()) return ReplyStatusError(ctx, count.status());
  ctx.reply.Integer(static_cast<int64_t>(*count));
}

void ZLexCountCommand(CommandContext& ctx) {
  LexRange range;
  if (!ParseLexRange(ctx.args[2], ctx.args[3], &range)) return ctx.reply.Error(kNotLexRange);
  Result<size_t> count = SortedSets(ctx.server.store()).CountByLex(ctx.args[1], range);
  if (!count.ok()) return ReplyStatusError(ctx, count.status());
  ctx.reply.Integer(static_cast<int64_t>(*count));
}

void ReplyRemoved(CommandContext& ctx, const Result<size_t>& removed) {
  if (!removed.ok()) return ReplyStatusError(ctx, removed.status());
  ctx.reply.Integer(static_cast<int64_t>(*removed));
}

void ZRemRangeByRankCommand(CommandContext& ctx) {
  int64_t start;
  int64_t stop;
  if (!ParseIntegerArg(ctx, ctx.args[2], &start) || !ParseIntegerArg(ctx, ctx.args[3], &stop)) {
    return;
  }
  ReplyRemoved(ctx, SortedSets(ctx.server.store()).RemoveRangeByRank(ctx.args[1], start, stop));
}

void ZRemRangeByScoreCommand(CommandContext& ctx) {
  ScoreRange range;
  if (!ParseScoreRange(ctx.args[2], ctx.args[3], &range)) return ctx.reply.Error(kNotFloatRange);
  ReplyRemoved(ctx, SortedSets(ctx.server.store()).RemoveRangeByScore(ctx.args[1], range));
}

void ZRemRangeByLexCommand(CommandContext& ctx) {
  LexRange range;
  if (!ParseLexRange(ctx.args[2], ctx.args[3], &range)) return ctx.reply.Error(kNotLexRange);
  ReplyRemoved(ctx, SortedSets(ctx.server.store()).RemoveRangeByLex(ctx.args[1], range));
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
    {"zrangestore", -5, kCmdWrite | kCmdDenyOom, ZRangeStoreCommand, 1, 2, 1,
     "@write @sortedset @slow"},
    {"zrevrange", -4, kCmdReadOnly, ZRevRangeCommand, 1, 1, 1, "@read @sortedset @slow"},
    {"zrangebyscore", -4, kCmdReadOnly, ZRangeByScoreCommand, 1, 1, 1, "@read @sortedset @slow"},
    {"zrevrangebyscore", -4, kCmdReadOnly, ZRevRangeByScoreCommand, 1, 1, 1,
     "@read @sortedset @slow"},
    {"zrangebylex", -4, kCmdReadOnly, ZRangeByLexCommand, 1, 1, 1, "@read @sortedset @slow"},
    {"zrevrangebylex", -4, kCmdReadOnly, ZRevRangeByLexCommand, 1, 1, 1, "@read @sortedset @slow"},
    {"zcount", 4, kCmdReadOnly | kCmdFast, ZCountCommand, 1, 1, 1, "@read @sortedset @fast"},
    {"zlexcount", 4, kCmdReadOnly | kCmdFast, ZLexCountCommand, 1, 1, 1, "@read @sortedset @fast"},
    {"zremrangebyrank", 4, kCmdWrite, ZRemRangeByRankCommand, 1, 1, 1, "@write @sortedset @slow"},
    {"zremrangebyscore", 4, kCmdWrite, ZRemRangeByScoreCommand, 1, 1, 1, "@write @sortedset @slow"},
    {"zremrangebylex", 4, kCmdWrite, ZRemRangeByLexCommand, 1, 1, 1, "@write @sortedset @slow"},
    {"zrank", 3, kCmdReadOnly | kCmdFast, ZRankCommand, 1, 1, 1, "@read @sortedset @fast"},
    {"zrevrank", 3, kCmdReadOnly | kCmdFast, ZRevRankCommand, 1, 1, 1, "@read @sortedset @fast"},
    {"zpopmin", -2, kCmdWrite | kCmdFast, ZPopMinCommand, 1, 1, 1, "@write @sortedset @fast"},
    {"zpopmax", -2, kCmdWrite | kCmdFast, ZPopMaxCommand, 1, 1, 1, "@write @sortedset @fast"},
};

}  // namespace

std::span<const CommandSpec> SortedSetCommands() { return kCommands; }

}  // namespace mirrorkv::server
