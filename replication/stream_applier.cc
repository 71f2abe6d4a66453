// StreamApplier: command translation and the MULTI/EXEC queue.
#include "replication/stream_applier.h"

#include <cmath>
#include <cstdint>
#include <optional>

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
       {"HINCRBY", "ZINCRBY", "ZPOPMIN", "ZPOPMAX", "LMOVE", "RPOPLPUSH", "ZREMRANGEBYRANK"}) {
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
  // The store refused the read (the key holds another type): the primary's command did
  // something mirrorkv's copy cannot reproduce.
  const auto diverged = [&](const Status& s) { return Unsupported(args, s.message()); };
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
      return diverged(current.status());
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
      return diverged(current.status());
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
    if (!found.ok()) return diverged(found.status());
    if (removal.size() > 2) AddEffect(removal, out);
    return Status::Ok();
  }
  if (EqualsIgnoreCase(name, "ZADD")) return TranslateZaddOptions(args, out);
  if (EqualsIgnoreCase(name, "LSET")) {
    // A negative index counts from the end, as the list's length here says.
    int64_t index;
    if (n != 4 || !ParseInt64(args[2], &index)) return Malformed(args, "bad index");
    Result<size_t> length = Lists(store_).Length(args[1]);
    if (!length.ok()) return diverged(length.status());
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
    if (!item.ok()) return diverged(item.status());
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
    // Its translation depends on the block's earlier commands: done at the EXEC.
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
