// The sorted-set commands: ZADD (NX XX GT LT CH INCR) ZINCRBY ZREM ZSCORE ZMSCORE ZCARD
// ZRANGE (BYSCORE BYLEX REV LIMIT WITHSCORES) ZRANGESTORE ZREVRANGE ZRANGEBYSCORE
// ZREVRANGEBYSCORE ZRANGEBYLEX ZREVRANGEBYLEX ZCOUNT ZLEXCOUNT ZREMRANGEBYRANK
// ZREMRANGEBYSCORE ZREMRANGEBYLEX ZRANK ZREVRANK ZPOPMIN ZPOPMAX ZMPOP ZRANDMEMBER ZUNION
// ZINTER ZDIFF (and their STORE forms), over mirrorkv::SortedSets, with Redis 7.0's option
// grammar, error texts and replies (scores as doubles in RESP3, member/score pairs nested
// in RESP3 where Redis nests).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "engine/base/check.h"
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

// ZRANDMEMBER key [count [WITHSCORES]]: without a count a bulk (null when missing); with
// one an array (repeats possible for a negative count), empty when missing, of members
// or, WITHSCORES, of member/score pairs (flat in RESP2, nested pairs in RESP3).
void ZRandMemberCommand(CommandContext& ctx) {
  RandomCountArgs args;
  if (!ParseRandomCountArgs(ctx, "withscores", &args)) return;
  const bool has_count = args.has_count;
  const int64_t count = args.count;
  const bool with_scores = args.with_pairs;
  PairWriter writer(ctx.reply, with_scores, true);
  bool started = false;
  Result<bool> found =
      SortedSets(ctx.server.store()).RandomMembers(ctx.args[1], count, [&](const Element& e) {
        started = true;
        if (has_count) return writer.Item(e);
        ctx.reply.Bulk(e.member);
      });
  if (!found.ok()) return ReplyStatusError(ctx, found.status());
  if (started) return;
  if (has_count) return writer.Finish();
  ctx.reply.Null();
}

// BZPOPMIN/BZPOPMAX key [key ...] timeout: the lowest (highest) member of the first
// non-empty sorted set of the keys, in their order, as [key, member, score]; blocks when
// every one is empty (BlockOrReplyNull).
void BlockingPopGeneric(CommandContext& ctx, bool max) {
  if (!CheckBlockingWriteAllowed(ctx)) return;
  int64_t timeout_ms;
  if (!ParseBlockTimeout(ctx, ctx.args.back(), &timeout_ms)) return;
  const std::span<const std::string_view> keys = ctx.args.subspan(1, ctx.argc() - 2);
  SortedSets zsets(ctx.server.store());
  const bool replied = PopFromFirstNonEmpty(ctx, keys, [&](std::string_view key) {
    return zsets.Pop(key, 1, max, [&](const Element& e) {
      ctx.reply.ArrayHeader(3);
      ctx.reply.Bulk(key);
      ctx.reply.Bulk(e.member);
      ctx.reply.Double(e.score);
    });
  });
  if (!replied) BlockOrReplyNull(ctx, keys, timeout_ms, &ReplyNullArray);
}

void BZPopMinCommand(CommandContext& ctx) { BlockingPopGeneric(ctx, false); }
void BZPopMaxCommand(CommandContext& ctx) { BlockingPopGeneric(ctx, true); }

// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count] and BZMPOP timeout numkeys ...: pops
// from the first non-empty key (alone, RunExclusive, so the keys are seen at one point)
// and replies its name and the member/score pairs (nested in RESP2 too), or a null array
// when every key is empty (BZMPOP then blocks).
void MultiPopGeneric(CommandContext& ctx, bool blocking) {
  if (blocking && !CheckBlockingWriteAllowed(ctx)) return;
  bool max = false;
  size_t where_at;
  int64_t count;
  auto parse_where = [&](std::string_view word) {
    max = EqualsIgnoreCase(word, "max");
    return max || EqualsIgnoreCase(word, "min");
  };
  const size_t numkeys_at = blocking ? 2 : 1;
  if (!ParseMultiPopArgs(ctx, parse_where, &where_at, &count, numkeys_at)) return;
  int64_t timeout_ms = 0;
  if (blocking && !ParseBlockTimeout(ctx, ctx.args[1], &timeout_ms)) return;
  const std::span<const std::string_view> keys =
      ctx.args.subspan(numkeys_at + 1, where_at - numkeys_at - 1);
  RunExclusive(ctx, [&] {
    SortedSets zsets(ctx.server.store());
    const bool replied = PopFromFirstNonEmpty(ctx, keys, [&](std::string_view key) {
      return zsets.Pop(key, static_cast<size_t>(count), max, [&](const Element& e) {
        if (e.index == 0) {
          ctx.reply.ArrayHeader(2);
          ctx.reply.Bulk(key);
          ctx.reply.ArrayHeader(e.count);
        }
        ctx.reply.ArrayHeader(2);
        ctx.reply.Bulk(e.member);
        ctx.reply.Double(e.score);
      });
    });
    if (replied) return;
    if (blocking) return BlockOrReplyNull(ctx, keys, timeout_ms, &ReplyNullArray);
    ctx.reply.NullArray();
  });
}

void ZMPopCommand(CommandContext& ctx) { MultiPopGeneric(ctx, false); }
void BZMPopCommand(CommandContext& ctx) { MultiPopGeneric(ctx, true); }

enum class ZSetOp : uint8_t { kUnion, kInter, kDiff };
enum class Aggregate : uint8_t { kSum, kMin, kMax };

using ScoreMap = absl::flat_hash_map<std::string, double>;

// Folds `value` into `*target` as AGGREGATE does; a sum of opposite infinities is 0, as
// in Redis.
void AggregateInto(Aggregate aggregate, double value, double* target) {
  switch (aggregate) {
    case Aggregate::kSum:
      *target += value;
      if (std::isnan(*target)) *target = 0;
      break;
    case Aggregate::kMin:
      *target = std::min(*target, value);
      break;
    case Aggregate::kMax:
      *target = std::max(*target, value);
      break;
  }
}

// A weighted score: 0 where the product is NaN (a zero weight times an infinity).
double Weighted(double weight, double score) {
  const double product = weight * score;
  return std::isnan(product) ? 0 : product;
}

// Reads the set or sorted set at `key` (type checked by the caller, under the gate) into
// `out`; a set's members score 1.
void ReadScored(Store& store, std::string_view key, KeyType type, ScoreMap* out) {
  if (type == KeyType::kSet) {
    Result<bool> found =
        Sets(store).Members(key, [&](const Element& e) { (*out)[std::string(e.member)] = 1; });
    MIRRORKV_DCHECK(found.ok());
  } else if (type == KeyType::kSortedSet) {
    Result<bool> found = SortedSets(store).RangeByRank(
        key, 0, -1, false, [&](const Element& e) { (*out)[std::string(e.member)] = e.score; });
    MIRRORKV_DCHECK(found.ok());
  }
}

// Combines the inputs by `op`: union and intersection visit the inputs from the smallest
// (as Redis does, which fixes the order of a sum's additions) and weigh every score; a
// difference keeps the first input's scores.
ScoreMap CombineScored(std::vector<ScoreMap>& inputs, std::span<const double> weights, ZSetOp op,
                       Aggregate aggregate) {
  ScoreMap result;
  if (op == ZSetOp::kDiff) {
    result = std::move(inputs[0]);
    for (size_t i = 1; i < inputs.size() && !result.empty(); ++i) {
      for (const auto& [member, score] : inputs[i]) result.erase(member);
    }
    return result;
  }
  std::vector<size_t> order(inputs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return inputs[a].size() < inputs[b].size(); });
  if (op == ZSetOp::kUnion) {
    for (size_t i : order) {
      for (const auto& [member, score] : inputs[i]) {
        const double value = Weighted(weights[i], score);
        auto [it, inserted] = result.try_emplace(member, value);
        if (!inserted) AggregateInto(aggregate, value, &it->second);
      }
    }
    return result;
  }
  for (const auto& [member, score] : inputs[order[0]]) {
    double value = Weighted(weights[order[0]], score);
    bool everywhere = true;
    for (size_t k = 1; k < order.size() && everywhere; ++k) {
      auto it = inputs[order[k]].find(member);
      everywhere = it != inputs[order[k]].end();
      if (everywhere) AggregateInto(aggregate, Weighted(weights[order[k]], it->second), &value);
    }
    if (everywhere) result.emplace(member, value);
  }
  return result;
}

// ZUNION ZINTER ZDIFF numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX]
// [WITHSCORES], and the STORE forms with a destination before numkeys and no WITHSCORES
// (ZDIFF takes neither WEIGHTS nor AGGREGATE). Sets count as sorted sets of score 1. Redis's
// order of checks: numkeys, then every key's type, then the options. The keys are read and
// the destination replaced alone (RunExclusive); the stream carries the destination's DEL
// and a ZADD of the result.
void CombineGeneric(CommandContext& ctx, ZSetOp op, bool store) {
  const size_t numkeys_at = store ? 2 : 1;
  int64_t numkeys;
  if (!ParseIntegerArg(ctx, ctx.args[numkeys_at], &numkeys)) return;
  if (numkeys < 1) {
    return ctx.reply.Error(absl::StrCat("ERR at least 1 input key is needed for '",
                                        CommandFullName(ctx.spec, ctx.container), "' command"));
  }
  if (static_cast<uint64_t>(numkeys) > ctx.argc() - numkeys_at - 1) {
    return ReplySyntaxError(ctx);
  }
  const std::span<const std::string_view> keys =
      ctx.args.subspan(numkeys_at + 1, static_cast<size_t>(numkeys));
  RunExclusive(ctx, [&] {
    Store& db = ctx.server.store();
    std::vector<KeyType> types;
    types.reserve(keys.size());
    for (std::string_view key : keys) {
      types.push_back(TypeOf(db, key));
      if (types.back() != KeyType::kNone && types.back() != KeyType::kSet &&
          types.back() != KeyType::kSortedSet) {
        return ctx.reply.Error(kWrongTypeMessage);
      }
    }
    std::vector<double> weights(keys.size(), 1.0);
    Aggregate aggregate = Aggregate::kSum;
    bool with_scores = false;
    for (size_t i = numkeys_at + 1 + keys.size(); i < ctx.argc(); ++i) {
      const size_t remaining = ctx.argc() - i;
      if (op != ZSetOp::kDiff && remaining > keys.size() &&
          EqualsIgnoreCase(ctx.args[i], "weights")) {
        for (double& weight : weights) {
          if (!internal::ParseScore(ctx.args[++i], &weight)) {
            return ctx.reply.Error("ERR weight value is not a float");
          }
        }
      } else if (op != ZSetOp::kDiff && remaining >= 2 &&
                 EqualsIgnoreCase(ctx.args[i], "aggregate")) {
        std::string_view name = ctx.args[++i];
        if (EqualsIgnoreCase(name, "sum")) {
          aggregate = Aggregate::kSum;
        } else if (EqualsIgnoreCase(name, "min")) {
          aggregate = Aggregate::kMin;
        } else if (EqualsIgnoreCase(name, "max")) {
          aggregate = Aggregate::kMax;
        } else {
          return ReplySyntaxError(ctx);
        }
      } else if (!store && EqualsIgnoreCase(ctx.args[i], "withscores")) {
        with_scores = true;
      } else {
        return ReplySyntaxError(ctx);
      }
    }
    std::vector<ScoreMap> inputs(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) ReadScored(db, keys[i], types[i], &inputs[i]);
    const ScoreMap combined = CombineScored(inputs, weights, op, aggregate);
    // Sorted-set order: by score, then by member's bytes.
    std::vector<std::pair<double, std::string_view>> pairs;
    pairs.reserve(combined.size());
    for (const auto& [member, score] : combined) pairs.emplace_back(score, member);
    std::sort(pairs.begin(), pairs.end());
    if (!store) {
      PairWriter writer(ctx.reply, with_scores, true);
      for (size_t i = 0; i < pairs.size(); ++i) {
        writer.Item({.index = i,
                     .count = pairs.size(),
                     .member = pairs[i].second,
                     .score = pairs[i].first});
      }
      return writer.Finish();
    }
    Result<bool> deleted = db.Del(ctx.args[1]);
    if (!deleted.ok()) return ReplyStatusError(ctx, deleted.status());
    if (!pairs.empty()) {
      Result<SortedSetAddResult> added = SortedSets(db).Add(ctx.args[1], pairs);
      if (!added.ok()) return ReplyStatusError(ctx, added.status());
    }
    ctx.reply.Integer(static_cast<int64_t>(pairs.size()));
  });
}

void ZUnionCommand(CommandContext& ctx) { CombineGeneric(ctx, ZSetOp::kUnion, false); }
void ZInterCommand(CommandContext& ctx) { CombineGeneric(ctx, ZSetOp::kInter, false); }
void ZDiffCommand(CommandContext& ctx) { CombineGeneric(ctx, ZSetOp::kDiff, false); }
void ZUnionStoreCommand(CommandContext& ctx) { CombineGeneric(ctx, ZSetOp::kUnion, true); }
void ZInterStoreCommand(CommandContext& ctx) { CombineGeneric(ctx, ZSetOp::kInter, true); }
void ZDiffStoreCommand(CommandContext& ctx) { CombineGeneric(ctx, ZSetOp::kDiff, true); }

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
    {"zrandmember", -2, kCmdReadOnly, ZRandMemberCommand, 1, 1, 1, "@read @sortedset @slow"},
    {"zmpop", -4, kCmdWrite, ZMPopCommand, 0, 0, 0, "@write @sortedset @slow"},
    // Blocking: no-script as in Redis 7.0; inside MULTI they do not block.
    {"bzpopmin", -3, kCmdWrite | kCmdNoScript | kCmdBlocking | kCmdFast, BZPopMinCommand, 1, -2, 1,
     "@write @sortedset @fast @blocking"},
    {"bzpopmax", -3, kCmdWrite | kCmdNoScript | kCmdBlocking | kCmdFast, BZPopMaxCommand, 1, -2, 1,
     "@write @sortedset @fast @blocking"},
    {"bzmpop", -5, kCmdWrite | kCmdNoScript | kCmdBlocking, BZMPopCommand, 0, 0, 0,
     "@write @sortedset @slow @blocking"},
    {"zunion", -3, kCmdReadOnly, ZUnionCommand, 0, 0, 0, "@read @sortedset @slow"},
    {"zinter", -3, kCmdReadOnly, ZInterCommand, 0, 0, 0, "@read @sortedset @slow"},
    {"zdiff", -3, kCmdReadOnly, ZDiffCommand, 0, 0, 0, "@read @sortedset @slow"},
    {"zunionstore", -4, kCmdWrite | kCmdDenyOom, ZUnionStoreCommand, 1, 1, 1,
     "@write @sortedset @slow"},
    {"zinterstore", -4, kCmdWrite | kCmdDenyOom, ZInterStoreCommand, 1, 1, 1,
     "@write @sortedset @slow"},
    {"zdiffstore", -4, kCmdWrite | kCmdDenyOom, ZDiffStoreCommand, 1, 1, 1,
     "@write @sortedset @slow"},
};

}  // namespace

std::span<const CommandSpec> SortedSetCommands() { return kCommands; }

}  // namespace mirrorkv::server
