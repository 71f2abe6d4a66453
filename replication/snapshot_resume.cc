// LoadSnapshotFileToResume: a snapshot a Primary saved, loaded with its history, so that
// a restarted node continues the replication history it left (see replication.h).
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/base/strings.h"
#include "mirrorkv/replication.h"
#include "replication/resp.h"
#include "replication/stream_applier.h"
#include "snapshot/snapshot_file.h"

namespace mirrorkv {
namespace {

// Replays a snapshot's history over its fuzzy copy, as a replica replays the stream after
// a full resync: each command with its offset, so that the collection effects the copy
// already holds are skipped (docs/design.md, "Exact replay of collections"). The writer
// cut the history outside effect groups; one that is not whole, or a command the
// staging store refuses, fails the load.
Status ApplyHistory(Store& staging, std::string_view stream, uint64_t from) {
  internal::StreamApplier applier(staging, [] { return Status::Ok(); });
  std::vector<std::string_view> args;
  for (size_t at = 0; at < stream.size();) {
    size_t consumed = 0;
    Status parsed = internal::ParseCommand(stream.substr(at), {}, &args, &consumed);
    if (parsed.ok() && consumed == 0) parsed = Status::Corruption("it ends inside a command");
    if (parsed.ok()) parsed = applier.ApplyCommand(args, from + at);
    if (!parsed.ok()) {
      return Status::Corruption(absl::StrCat("the snapshot's history does not apply at offset ",
                                             from + at, ": ", internal::AsAbsl(parsed.message())));
    }
    at += consumed;
  }
  if (applier.in_transaction()) {
    return Status::Corruption("the snapshot's history ends inside a MULTI block");
  }
  return Status::Ok();
}

}  // namespace

Result<ReplicationPosition> LoadSnapshotFileToResume(Store& store, const std::string& path,
                                                     const SnapshotReadOptions& options,
                                                     SnapshotInfo* info) {
  Result<SnapshotInfo> loaded =
      internal::LoadSnapshotFileWithHistory(store, path, options, ApplyHistory);
  if (!loaded.ok()) return loaded.status();
  ReplicationPosition position;
  if (loaded->has_history && !loaded->position.replication_id.empty()) {
    position = {loaded->position.replication_id, loaded->position.offset + loaded->history_bytes};
  }
  if (info != nullptr) *info = std::move(loaded).value();
  return position;
}

}  // namespace mirrorkv
