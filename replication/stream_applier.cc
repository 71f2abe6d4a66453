// StreamApplier: command translation and the MULTI/EXEC queue.
#include "replication/stream_applier.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "engine/base/numbers.h"
#include "engine/base/strings.h"
#include "engine/collection.h"
#include "engine/store_impl.h"
#include "mirrorkv/collections.h"

namespace mirrorkv::internal {
namespace {

Status Malformed(std::span<const std::string_view> args, std::string_view why) {
  std::string name(args.empty() ? "" : args[0].substr(0, 32));
  return Status::Corruption(absl::StrCat("replication stream: ", AsAbsl(why), " in '", name, "'"));
}

// A well-formed command mirrorkv cannot apply.
Status Unsupported(std::span<const std::string_view> args, std::string_view why) {
  std::string name(args.empty() ? "" : args[0].substr(0, 32));
  return Status::InvalidArgument(
      absl::StrCat("replication stream: cannot apply '", name, "' (", AsAbsl(why), ")"));
}

// The store refused a read (the key holds another type): the primary's command did
// something mirrorkv's copy cannot reproduce.
Status DivergedRead(std::span<const std::string_view> args, const Status& refused) {
  return Unsupported(args, refused.message());
}

Status ParseDeadline(std::span<const std::string_view> args, std::string_view text,
                     int64_t* deadline) {
  if (!ParseInt64(text, deadline) || *deadline <= 0) {
    return Malformed(args, "bad millisecond deadline");
  }
  return Status::Ok();
}

}  // namespace

Status StreamApplier::Translate(std::span<const std::string_view> args,
                                std::vector<Mutation>* out) {
  std::string_view name = args[0];
  if (EqualsIgnoreCase(name, "SET")) {
    if (args.size() < 3) return Malformed(args, "wrong number of arguments");
    if (args.size() == 3) {
      out->push_back({MutationKind::kSet, MutationCause::kWrite, args[1], args[2], 0});
      return Status::Ok();
    }
    if (args.size() == 5 && EqualsIgnoreCase(args[3], "PXAT")) {
      int64_t deadline;
      MIRRORKV_RETURN_IF_ERROR(ParseDeadline(args, args[4], &deadline));
      out->push_back({MutationKind::kSet, MutationCause::kWrite, args[1], args[2], deadline});
      return Status::Ok();
    }
    return Unsupported(args, "options mirrorkv does not apply");
  }
  if (EqualsIgnoreCase(name, "DEL") || EqualsIgnoreCase(name, "UNLINK")) {
    if (args.size() < 2) return Malformed(args, "wrong number of arguments");
    for (size_t i = 1; i < args.size(); ++i) {
      out->push_back({MutationKind::kDelete, MutationCause::kWrite, args[i], {}, 0});
    }
    return Status::Ok();
  }
  if (EqualsIgnoreCase(name, "PEXPIREAT")) {
    if (args.size() != 3) return Malformed(args, "wrong number of arguments");
    int64_t deadline;
    MIRRORKV_RETURN_IF_ERROR(ParseDeadline(args, args[2], &deadline));
    out->push_back({MutationKind::kExpireAt, MutationCause::kWrite, args[1], {}, deadline});
    return Status::Ok();
  }
  if (EqualsIgnoreCase(name, "PERSIST")) {
    if (args.size() != 2) return Malformed(args, "wrong number of arguments");
    out->push_back({MutationKind::kPersist, MutationCause::kWrite, args[1], {}, 0});
    return Status::Ok();
  }
  if (EqualsIgnoreCase(name, "FLUSHALL") || EqualsIgnoreCase(name, "FLUSHDB")) {
    if (args.size() > 2 || (args.size() == 2 && !EqualsIgnoreCase(args[1], "ASYNC") &&
                            !EqualsIgnoreCase(args[1], "SYNC"))) {
      return Unsupported(args, "options mirrorkv does not apply");
    }
    out->push_back({MutationKind::kFlushAll, MutationCause::kWrite, {}, {}, 0});
    return Status::Ok();
  }
  if (IsRedisForm(args)) return TranslateRedisForm(args, out);
  MIRRORKV_ASSIGN_OR_RETURN(KeyType type, ValidateEffect(args));
  if (type == KeyType::kNone) return TranslateRedisForm(args, out);
  AddEffect(args, out);
  return Status::Ok();
}

void StreamApplier::AddEffect(std::span<const std::string_view> effect,
                              std::vector<Mutation>* out) {
  Mutation m{MutationKind::kCollection, MutationCause::kWrite, effect[1], {}, 0};
  m.effect = effect;
  out->push_back(m);
}

std::span<const std::string_view> StreamApplier::Rewritten(
    std::initializer_list<std::string_view> head, std::span<const std::string_view> tail) {
  std::vector<std::string_view>& args = rewritten_.emplace_back(head);
  args.insert(args.end(), tail.begin(), tail.end());
  return args;
}

std::string_view StreamApplier::Owned(std::string s) { return owned_.emplace_back(std::move(s)); }

bool StreamApplier::ReadsStore(std::span<const std::string_view> args) {
  const std::string_view name = args[0];
  // mirrorkv's own LSET effect has a non-negative index; Redis passes LSET's as given.
  if (EqualsIgnoreCase(name, "LSET")) return args.size() > 2 && args[2].starts_with('-');
  // mirrorkv's own ZADD has no options (NX XX GT LT CH INCR), which depend on the scores.
  double score;
  if (EqualsIgnoreCase(name, "ZADD")) return args.size() > 2 && !ParseScore(args[2], &score);
  for (std::string_view computed :
       {"HINCRBY", "ZINCRBY", "ZPOPMIN", "ZPOPMAX", "LMOVE", "RPOPLPUSH", "ZREMRANGEBYRANK",
        "ZREMRANGEBYSCORE", "ZREMRANGEBYLEX", "RENAME", "RENAMENX", "COPY", "SUNIONSTORE",
        "SINTERSTORE", "SDIFFSTORE", "ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"}) {
    if (EqualsIgnoreCase(name, computed)) return true;
  }
  return false;
}

bool StreamApplier::IsRedisForm(std::span<const std::string_view> args) {
  // The ones whose names mirrorkv's effects share, with other arguments.
  const std::string_view name = args[0];
  if (EqualsIgnoreCase(name, "LPOP") || EqualsIgnoreCase(name, "RPOP")) return args.size() == 2;
  return (EqualsIgnoreCase(name, "LSET") || EqualsIgnoreCase(name, "ZADD")) && ReadsStore(args);
}

Status StreamApplier::TranslateRedisForm(std::span<const std::string_view> args,
                                         std::vector<Mutation>* out) {
  const std::string_view name = args[0];
  const size_t n = args.size();
  const auto wrong_count = [&] { return Malformed(args, "wrong number of arguments"); };
  // Renamed forms: the same effect under mirrorkv's name.
  if (EqualsIgnoreCase(name, "LPUSHX") || EqualsIgnoreCase(name, "RPUSHX")) {
    // Propagated only when the list existed, where a push is the same.
    if (n < 3) return wrong_count();
    AddEffect(Rewritten({EqualsIgnoreCase(name, "LPUSHX") ? "LPUSH" : "RPUSH"}, args.subspan(1)),
              out);
    return Status::Ok();
  }
  if ((EqualsIgnoreCase(name, "LPOP") || EqualsIgnoreCase(name, "RPOP")) && n == 2) {
    AddEffect(Rewritten({EqualsIgnoreCase(name, "LPOP") ? "LPOP" : "RPOP", args[1], "1"}, {}), out);
    return Status::Ok();
  }
  if (EqualsIgnoreCase(name, "HMSET") || EqualsIgnoreCase(name, "HSETNX")) {
    // HSETNX is propagated only when it set the field.
    if (n < 4 || n % 2 != 0 || (EqualsIgnoreCase(name, "HSETNX") && n != 4)) {
      return wrong_count();
    }
    AddEffect(Rewritten({"HSET"}, args.subspan(1)), out);
    return Status::Ok();
  }
  if (EqualsIgnoreCase(name, "SMOVE")) {
    // Propagated only when the member moved between two different sets.
    if (n != 4) return wrong_count();
    AddEffect(Rewritten({"SREM", args[1], args[3]}, {}), out);
    AddEffect(Rewritten({"SADD", args[2], args[3]}, {}), out);
    return Status::Ok();
  }
  // Relative forms: made absolute from the store's state, which is the primary's at this
  // point of the stream (ApplyCommand applies a MULTI holding one command by command).
  if (EqualsIgnoreCase(name, "HINCRBY")) {
    int64_t delta;
    if (n != 4 || !ParseInt64(args[3], &delta)) return Malformed(args, "bad increment");
    int64_t value = 0;
    Result<std::string> current = Hashes(store_).Get(args[1], args[2]);
    if (current.ok() && !ParseInt64(*current, &value)) {
      return Unsupported(args, "the field does not hold an integer here");
    }
    if (!current.ok() && current.status().code() != StatusCode::kNotFound) {
      return DivergedRead(args, current.status());
    }
    if ((delta > 0 && value > INT64_MAX - delta) || (delta < 0 && value < INT64_MIN - delta)) {
      return Unsupported(args, "the increment overflows here");
    }
    char digits[kMaxInt64Digits];
    AddEffect(
        Rewritten(
            {"HSET", args[1], args[2], Owned(std::string(FormatInt64(value + delta, digits)))}, {}),
        out);
    return Status::Ok();
  }
  if (EqualsIgnoreCase(name, "ZINCRBY")) {
    double delta;
    if (n != 4 || !ParseScore(args[2], &delta)) return Malformed(args, "bad increment");
    double score = 0;
    Result<double> current = SortedSets(store_).Score(args[1], args[3]);
    if (current.ok()) score = *current;
    if (!current.ok() && current.status().code() != StatusCode::kNotFound) {
      return DivergedRead(args, current.status());
    }
    score += delta;
    if (std::isnan(score)) return Unsupported(args, "the increment gives NaN here");
    AddEffect(Rewritten({"ZADD", args[1], Owned(FormatScore(score)), args[3]}, {}), out);
    return Status::Ok();
  }
  if (EqualsIgnoreCase(name, "ZPOPMIN") || EqualsIgnoreCase(name, "ZPOPMAX") ||
      EqualsIgnoreCase(name, "ZREMRANGEBYRANK")) {
    const bool by_rank = EqualsIgnoreCase(name, "ZREMRANGEBYRANK");
    int64_t start = 0;
    int64_t stop = 0;  // ZPOPMIN's default count is 1
    if (by_rank) {
      if (n != 4 || !ParseInt64(args[2], &start) || !ParseInt64(args[3], &stop)) {
        return Malformed(args, "bad range");
      }
    } else {
      int64_t count = 1;
      if (n > 3 || (n == 3 && (!ParseInt64(args[2], &count) || count < 0))) {
        return Malformed(args, "bad count");
      }
      if (n < 2) return wrong_count();
      if (count == 0) return Status::Ok();
      stop = count - 1;
    }
    std::vector<std::string_view>& removal = rewritten_.emplace_back();
    removal = {"ZREM", args[1]};
    Result<bool> found = SortedSets(store_).RangeByRank(
        args[1], start, stop, EqualsIgnoreCase(name, "ZPOPMAX"),
        [&](const Element& e) { removal.push_back(Owned(std::string(e.member))); });
    if (!found.ok()) return DivergedRead(args, found.status());
    if (removal.size() > 2) AddEffect(removal, out);
    return Status::Ok();
  }
  if (EqualsIgnoreCase(name, "ZADD")) return TranslateZaddOptions(args, out);
  if (EqualsIgnoreCase(name, "ZREMRANGEBYSCORE") || EqualsIgnoreCase(name, "ZREMRANGEBYLEX")) {
    if (n != 4) return wrong_count();
    std::vector<std::string_view>& removal = rewritten_.emplace_back();
    removal = {"ZREM", args[1]};
    auto remove = [&](const Element& e) { removal.push_back(Owned(std::string(e.member))); };
    Result<bool> found = false;
    if (EqualsIgnoreCase(name, "ZREMRANGEBYSCORE")) {
      ScoreRange range;
      if (!ParseScoreBound(args[2], &range.min, &range.min_exclusive) ||
          !ParseScoreBound(args[3], &range.max, &range.max_exclusive)) {
        return Malformed(args, "bad score range");
      }
      found = SortedSets(store_).RangeByScore(args[1], range, false, {}, remove);
    } else {
      LexRange range;
      if (!ParseLexBound(args[2], &range.min) || !ParseLexBound(args[3], &range.max)) {
        return Malformed(args, "bad lex range");
      }
      found = SortedSets(store_).RangeByLex(args[1], range, false, {}, remove);
    }
    if (!found.ok()) return DivergedRead(args, found.status());
    if (removal.size() > 2) AddEffect(removal, out);
    return Status::Ok();
  }
  if (EqualsIgnoreCase(name, "RENAME") || EqualsIgnoreCase(name, "RENAMENX") ||
      EqualsIgnoreCase(name, "COPY")) {
    const bool copy = EqualsIgnoreCase(name, "COPY");
    if (n < 3 || (!copy && n != 3)) return wrong_count();
    for (size_t i = 3; i < n; ++i) {
      // COPY's REPLACE changes nothing here: Redis propagates a COPY that copied only.
      if (!EqualsIgnoreCase(args[i], "REPLACE")) {
        return Unsupported(args, "COPY to another database");
      }
    }
    // Propagated only when the source existed (and, for RENAMENX and COPY without
    // REPLACE, the destination did not). A key renamed to itself stays.
    if (args[1] == args[2]) return Status::Ok();
    MIRRORKV_RETURN_IF_ERROR(AppendCopy(args, args[1], args[2], out));
    if (!copy) out->push_back({MutationKind::kDelete, MutationCause::kWrite, args[1], {}, 0});
    return Status::Ok();
  }
  if (EqualsIgnoreCase(name, "SUNIONSTORE") || EqualsIgnoreCase(name, "SINTERSTORE") ||
      EqualsIgnoreCase(name, "SDIFFSTORE")) {
    if (n < 3) return wrong_count();
    return TranslateSetStore(args, out);
  }
  if (EqualsIgnoreCase(name, "ZUNIONSTORE") || EqualsIgnoreCase(name, "ZINTERSTORE") ||
      EqualsIgnoreCase(name, "ZDIFFSTORE")) {
    return TranslateSortedSetStore(args, out);
  }
  if (EqualsIgnoreCase(name, "LSET")) {
    // A negative index counts from the end, as the list's length here says.
    int64_t index;
    if (n != 4 || !ParseInt64(args[2], &index)) return Malformed(args, "bad index");
    Result<size_t> length = Lists(store_).Length(args[1]);
    if (!length.ok()) return DivergedRead(args, length.status());
    if (index < 0) index += static_cast<int64_t>(*length);
    if (index < 0 || index >= static_cast<int64_t>(*length)) {
      return Unsupported(args, "the index is out of range here");
    }
    char digits[kMaxInt64Digits];
    AddEffect(
        Rewritten({"LSET", args[1], Owned(std::string(FormatInt64(index, digits))), args[3]}, {}),
        out);
    return Status::Ok();
  }
  if (EqualsIgnoreCase(name, "LMOVE") || EqualsIgnoreCase(name, "RPOPLPUSH")) {
    bool from_left = false;
    bool to_left = true;
    if (EqualsIgnoreCase(name, "LMOVE")) {
      const auto side = [](std::string_view s, bool* left) {
        *left = EqualsIgnoreCase(s, "LEFT");
        return *left || EqualsIgnoreCase(s, "RIGHT");
      };
      if (n != 5 || !side(args[3], &from_left) || !side(args[4], &to_left)) {
        return Malformed(args, "bad arguments");
      }
    } else if (n != 3) {
      return wrong_count();
    }
    Result<std::string> item = Lists(store_).Index(args[1], from_left ? 0 : -1);
    if (item.status().code() == StatusCode::kNotFound) return Status::Ok();  // nothing moved
    if (!item.ok()) return DivergedRead(args, item.status());
    const std::string_view moved = Owned(std::move(*item));
    AddEffect(Rewritten({from_left ? "LPOP" : "RPOP", args[1], "1"}, {}), out);
    AddEffect(Rewritten({to_left ? "LPUSH" : "RPUSH", args[2], moved}, {}), out);
    return Status::Ok();
  }
  return Unsupported(args, "a command mirrorkv does not apply");
}

Status StreamApplier::TranslateZaddOptions(std::span<const std::string_view> args,
                                           std::vector<Mutation>* out) {
  SortedSetAddOptions options;
  size_t i = 2;
  for (; i < args.size(); ++i) {
    const std::string_view flag = args[i];
    if (EqualsIgnoreCase(flag, "NX")) {
      options.only_if_absent = true;
    } else if (EqualsIgnoreCase(flag, "XX")) {
      options.only_if_present = true;
    } else if (EqualsIgnoreCase(flag, "GT")) {
      options.only_if_greater = true;
    } else if (EqualsIgnoreCase(flag, "LT")) {
      options.only_if_less = true;
    } else if (EqualsIgnoreCase(flag, "INCR")) {
      options.incr = true;
    } else if (!EqualsIgnoreCase(flag, "CH")) {
      break;  // the first score
    }
  }
  const size_t pairs = (args.size() - i) / 2;
  if (i == args.size() || (args.size() - i) % 2 != 0 || (options.incr && pairs != 1)) {
    return Malformed(args, "wrong number of arguments");
  }
  // The scores the command leaves, member by member, in the order Redis applies them (a
  // member given twice sees its first update).
  std::vector<std::pair<std::string_view, double>> result;
  const auto find = [&](std::string_view member) -> std::optional<double> {
    for (auto it = result.rbegin(); it != result.rend(); ++it) {
      if (it->first == member) return it->second;
    }
    Result<double> score = SortedSets(store_).Score(args[1], member);
    if (score.ok()) return *score;
    return std::nullopt;
  };
  for (; i < args.size(); i += 2) {
    double score;
    if (!ParseScore(args[i], &score)) return Malformed(args, "bad score");
    const std::string_view member = args[i + 1];
    const std::optional<double> current = find(member);
    if (current.has_value() ? options.only_if_absent : options.only_if_present) continue;
    if (options.incr && current.has_value()) score += *current;
    if (std::isnan(score)) return Unsupported(args, "the increment gives NaN here");
    if (current.has_value() && ((options.only_if_greater && !(score > *current)) ||
                                (options.only_if_less && !(score < *current)))) {
      continue;
    }
    result.emplace_back(member, score);
  }
  if (result.empty()) return Status::Ok();
  std::vector<std::string_view>& effect = rewritten_.emplace_back();
  effect = {"ZADD", args[1]};
  for (const auto& [member, score] : result) {
    effect.push_back(Owned(FormatScore(score)));
    effect.push_back(member);
  }
  AddEffect(effect, out);
  return Status::Ok();
}

bool StreamApplier::ParseScoreBound(std::string_view text, double* score, bool* exclusive) {
  *exclusive = text.starts_with('(');
  if (*exclusive) text.remove_prefix(1);
  return ParseScore(text, score);
}

bool StreamApplier::ParseLexBound(std::string_view text, LexBound* bound) {
  if (text == "-" || text == "+") {
    bound->kind = text == "-" ? LexBound::Kind::kMinusInfinity : LexBound::Kind::kPlusInfinity;
    return true;
  }
  if (text.empty() || (text[0] != '[' && text[0] != '(')) return false;
  bound->kind = text[0] == '[' ? LexBound::Kind::kInclusive : LexBound::Kind::kExclusive;
  bound->value = text.substr(1);
  return true;
}

Status StreamApplier::AppendCopy(std::span<const std::string_view> args, std::string_view from,
                                 std::string_view to, std::vector<Mutation>* out) {
  const KeyType type = TypeOf(store_, from);
  if (type == KeyType::kNone) return Unsupported(args, "the source does not exist here");
  const int64_t deadline = store_.ExpireTime(from);
  if (type == KeyType::kString) {
    Result<std::string> value = store_.Get(from);
    if (!value.ok()) return DivergedRead(args, value.status());
    out->push_back({MutationKind::kSet, MutationCause::kWrite, to, Owned(std::move(*value)),
                    deadline > 0 ? deadline : 0});
    return Status::Ok();
  }
  // A collection: the destination deleted, then rebuilt element by element.
  out->push_back({MutationKind::kDelete, MutationCause::kWrite, to, {}, 0});
  std::vector<std::string_view>& rebuild = rewritten_.emplace_back();
  Result<bool> read = false;
  switch (type) {
    case KeyType::kList:
      rebuild = {"RPUSH", to};
      read = Lists(store_).Range(
          from, 0, -1, [&](const Element& e) { rebuild.push_back(Owned(std::string(e.member))); });
      break;
    case KeyType::kSet:
      rebuild = {"SADD", to};
      read = Sets(store_).Members(
          from, [&](const Element& e) { rebuild.push_back(Owned(std::string(e.member))); });
      break;
    case KeyType::kHash:
      rebuild = {"HSET", to};
      read = Hashes(store_).GetAll(from, [&](const Element& e) {
        rebuild.push_back(Owned(std::string(e.member)));
        rebuild.push_back(Owned(std::string(e.value)));
      });
      break;
    case KeyType::kSortedSet:
      rebuild = {"ZADD", to};
      read = SortedSets(store_).RangeByRank(from, 0, -1, false, [&](const Element& e) {
        rebuild.push_back(Owned(FormatScore(e.score)));
        rebuild.push_back(Owned(std::string(e.member)));
      });
      break;
    case KeyType::kNone:
    case KeyType::kString:
      break;
  }
  if (!read.ok()) return DivergedRead(args, read.status());
  AddEffect(rebuild, out);
  if (deadline > 0)
    out->push_back({MutationKind::kExpireAt, MutationCause::kWrite, to, {}, deadline});
  return Status::Ok();
}

Status StreamApplier::TranslateSetStore(std::span<const std::string_view> args,
                                        std::vector<Mutation>* out) {
  const std::string_view name = args[0];
  // The members of each source, a missing one empty.
  std::vector<absl::flat_hash_set<std::string>> sources(args.size() - 2);
  for (size_t i = 2; i < args.size(); ++i) {
    Result<bool> read =
        Sets(store_).Members(args[i], [&](const Element& e) { sources[i - 2].emplace(e.member); });
    if (!read.ok()) return DivergedRead(args, read.status());
  }
  absl::flat_hash_set<std::string> result = std::move(sources[0]);
  for (size_t i = 1; i < sources.size(); ++i) {
    if (EqualsIgnoreCase(name, "SUNIONSTORE")) {
      result.insert(sources[i].begin(), sources[i].end());
    } else if (EqualsIgnoreCase(name, "SINTERSTORE")) {
      absl::erase_if(result, [&](const std::string& m) { return !sources[i].contains(m); });
    } else {
      for (const std::string& m : sources[i]) result.erase(m);
    }
  }
  out->push_back({MutationKind::kDelete, MutationCause::kWrite, args[1], {}, 0});
  if (result.empty()) return Status::Ok();
  std::vector<std::string_view>& add = rewritten_.emplace_back();
  add = {"SADD", args[1]};
  for (auto it = result.begin(); it != result.end();) {
    auto node = result.extract(it++);
    add.push_back(Owned(std::move(node.value())));
  }
  AddEffect(add, out);
  return Status::Ok();
}

Status StreamApplier::TranslateSortedSetStore(std::span<const std::string_view> args,
                                              std::vector<Mutation>* out) {
  const std::string_view name = args[0];
  const bool diff = EqualsIgnoreCase(name, "ZDIFFSTORE");
  int64_t numkeys;
  if (args.size() < 4 || !ParseInt64(args[2], &numkeys) || numkeys < 1 ||
      static_cast<uint64_t>(numkeys) > args.size() - 3) {
    return Malformed(args, "bad number of keys");
  }
  const size_t keys = static_cast<size_t>(numkeys);
  std::vector<double> weights(keys, 1.0);
  enum class Aggregate { kSum, kMin, kMax } aggregate = Aggregate::kSum;
  for (size_t i = 3 + keys; i < args.size();) {
    if (!diff && EqualsIgnoreCase(args[i], "WEIGHTS") && args.size() - i > keys) {
      for (size_t k = 0; k < keys; ++k) {
        if (!ParseScore(args[i + 1 + k], &weights[k])) return Malformed(args, "bad weight");
      }
      i += 1 + keys;
    } else if (!diff && EqualsIgnoreCase(args[i], "AGGREGATE") && i + 1 < args.size()) {
      if (EqualsIgnoreCase(args[i + 1], "SUM")) {
        aggregate = Aggregate::kSum;
      } else if (EqualsIgnoreCase(args[i + 1], "MIN")) {
        aggregate = Aggregate::kMin;
      } else if (EqualsIgnoreCase(args[i + 1], "MAX")) {
        aggregate = Aggregate::kMax;
      } else {
        return Malformed(args, "bad aggregate");
      }
      i += 2;
    } else {
      return Malformed(args, "bad option");
    }
  }
  // Each source's members with their weighted scores; a set's members score 1 and a
  // missing key is empty, as in Redis. An infinite score times a zero weight, or the sum
  // of opposite infinities, is 0 there too.
  const auto nan_to_zero = [](double v) { return std::isnan(v) ? 0.0 : v; };
  std::vector<absl::flat_hash_map<std::string, double>> sources(keys);
  for (size_t k = 0; k < keys; ++k) {
    const std::string_view key = args[3 + k];
    const KeyType type = TypeOf(store_, key);
    auto add = [&](const Element& e) {
      const double score = type == KeyType::kSet ? 1.0 : e.score;
      sources[k].emplace(e.member, nan_to_zero(score * weights[k]));
    };
    Result<bool> read = false;
    switch (type) {
      case KeyType::kSet:
        read = Sets(store_).Members(key, add);
        break;
      case KeyType::kSortedSet:
        read = SortedSets(store_).RangeByRank(key, 0, -1, false, add);
        break;
      case KeyType::kNone:
        break;
      default:
        return Unsupported(args, "a source holds another type here");
    }
    if (!read.ok()) return DivergedRead(args, read.status());
  }
  absl::flat_hash_map<std::string, double> result = std::move(sources[0]);
  for (size_t k = 1; k < keys; ++k) {
    if (diff) {
      for (const auto& [member, score] : sources[k]) result.erase(member);
      continue;
    }
    if (EqualsIgnoreCase(name, "ZINTERSTORE")) {
      absl::erase_if(result, [&](const auto& kv) { return !sources[k].contains(kv.first); });
    }
    for (auto& [member, score] : sources[k]) {
      auto [it, fresh] = result.try_emplace(member, score);
      if (fresh) {
        if (EqualsIgnoreCase(name, "ZINTERSTORE")) result.erase(it);  // not in every source
        continue;
      }
      switch (aggregate) {
        case Aggregate::kSum:
          it->second = nan_to_zero(it->second + score);
          break;
        case Aggregate::kMin:
          it->second = std::min(it->second, score);
          break;
        case Aggregate::kMax:
          it->second = std::max(it->second, score);
          break;
      }
    }
  }
  out->push_back({MutationKind::kDelete, MutationCause::kWrite, args[1], {}, 0});
  if (result.empty()) return Status::Ok();
  std::vector<std::string_view>& add = rewritten_.emplace_back();
  add = {"ZADD", args[1]};
  for (auto& [member, score] : result) {
    add.push_back(Owned(FormatScore(score)));
    add.push_back(Owned(member));
  }
  AddEffect(add, out);
  return Status::Ok();
}

Status StreamApplier::SkipOrFail(std::string_view name, Status unsupported) {
  if (!skip_unsupported_) return unsupported;
  ++skipped_;
  last_skipped_ = std::string(name.substr(0, 32));
  return Status::Ok();
}

Status StreamApplier::ApplyCommand(std::span<const std::string_view> args, uint64_t offset) {
  if (args.empty()) return Status::Corruption("replication stream: empty command");
  std::string_view name = args[0];
  // Control commands: they change no data.
  if (EqualsIgnoreCase(name, "PING")) return Status::Ok();
  if (EqualsIgnoreCase(name, "SELECT")) {
    int64_t db;
    if (args.size() != 2 || !ParseInt64(args[1], &db) || db < 0) {
      return Malformed(args, "bad database number");
    }
    if (db != 0) {
      MIRRORKV_RETURN_IF_ERROR(SkipOrFail(name, Unsupported(args, "only database 0 exists")));
    }
    selected_db_ = db;
    return Status::Ok();
  }
  if (EqualsIgnoreCase(name, "REPLCONF")) {
    if (args.size() == 3 && EqualsIgnoreCase(args[1], "GETACK")) return on_getack_();
    return Malformed(args, "unsupported REPLCONF");
  }
  if (EqualsIgnoreCase(name, "MULTI")) {
    if (in_transaction_) return Malformed(args, "nested MULTI");
    in_transaction_ = true;
    transaction_offset_ = offset;
    queued_.clear();
    return Status::Ok();
  }
  if (EqualsIgnoreCase(name, "EXEC")) {
    if (!in_transaction_) return Malformed(args, "EXEC without MULTI");
    std::vector<Mutation> batch;
    std::vector<std::vector<std::string_view>> views;
    views.reserve(queued_.size());
    bool reads_store = false;
    for (const auto& command : queued_) {
      views.emplace_back(command.begin(), command.end());
      reads_store = reads_store || ReadsStore(views.back());
    }
    in_transaction_ = false;
    ClearRewrites();
    if (reads_store) {
      // A relative command is made absolute from the state the commands before it in
      // the block leave: each is translated once those are applied. Readers may see the
      // block's first changes before its last; the result is the same.
      Status applied;
      for (const auto& command : views) {
        batch.clear();
        applied = Translate(command, &batch);
        if (applied.code() == StatusCode::kInvalidArgument) {
          applied = SkipOrFail(command[0], std::move(applied));
          batch.clear();
        }
        if (applied.ok()) applied = store_.impl().ApplyBatch(batch, transaction_offset_);
        if (!applied.ok()) break;
      }
      queued_.clear();
      return applied;
    }
    for (const auto& command : views) MIRRORKV_RETURN_IF_ERROR(Translate(command, &batch));
    Status applied = store_.impl().ApplyBatch(batch, transaction_offset_);
    queued_.clear();
    return applied;
  }
  single_.clear();
  ClearRewrites();
  // A data command for another database: never applied here.
  if (selected_db_ != 0) return SkipOrFail(name, Unsupported(args, "only database 0 exists"));
  if (in_transaction_ && ReadsStore(args)) {
    // Its translation depends on the block's earlier commands: done again at the EXEC.
    // Only a malformed command is refused now; what the state decides waits for then.
    Status checked = Translate(args, &single_);
    if (checked.code() == StatusCode::kCorruption) return checked;
    queued_.emplace_back(args.begin(), args.end());
    return Status::Ok();
  }
  // Validated now, even inside MULTI, so that the error names the bad command itself.
  Status translated = Translate(args, &single_);
  if (translated.code() == StatusCode::kInvalidArgument) {
    return SkipOrFail(name, std::move(translated));
  }
  MIRRORKV_RETURN_IF_ERROR(translated);
  if (in_transaction_) {
    queued_.emplace_back(args.begin(), args.end());
    return Status::Ok();
  }
  return store_.impl().ApplyBatch(single_, offset);
}

}  // namespace mirrorkv::internal
