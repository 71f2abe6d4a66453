// StreamApplier: command translation and the MULTI/EXEC queue.
#include "replication/stream_applier.h"

#include "absl/strings/str_cat.h"
#include "engine/base/numbers.h"
#include "engine/base/strings.h"
#include "engine/collection.h"
#include "engine/store_impl.h"

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
  MIRRORKV_ASSIGN_OR_RETURN(KeyType type, ValidateEffect(args));
  if (type == KeyType::kNone) return Unsupported(args, "a command mirrorkv does not apply");
  Mutation effect{MutationKind::kCollection, MutationCause::kWrite, args[1], {}, 0};
  effect.effect = args;
  out->push_back(effect);
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
    for (const auto& command : queued_) {
      views.emplace_back(command.begin(), command.end());
      MIRRORKV_RETURN_IF_ERROR(Translate(views.back(), &batch));
    }
    in_transaction_ = false;
    Status applied = store_.impl().ApplyBatch(batch, transaction_offset_);
    queued_.clear();
    return applied;
  }
  single_.clear();
  // A data command for another database: never applied here.
  if (selected_db_ != 0) return SkipOrFail(name, Unsupported(args, "only database 0 exists"));
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
