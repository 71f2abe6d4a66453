// Snapshot files: the atomic save, the load that replaces a store's content, and the
// open-from-file used at restart.
//
// The save follows the classic protocol, the only one POSIX makes crash-safe: write the
// whole snapshot to a new file beside the target, fdatasync it, rename it over the
// target (atomic within a file system), then fsync the directory so that the rename
// itself survives a power loss. Before the rename the target is untouched; after it the
// target is the new, complete and synced file. A crash leaves at worst a stray
// temporary file under a name no reader opens.
#include "snapshot/snapshot_file.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/base/numbers.h"
#include "engine/base/strings.h"
#include "mirrorkv/snapshot.h"
#include "snapshot/posix_file.h"
#include "snapshot/snapshot_format.h"

namespace mirrorkv {
namespace internal {

namespace {

// A temporary file is named `<path>.tmp.<pid>.<token>.<n>`. The pid says which process
// wrote it (RemoveStaleSnapshotTemporaries reads it back); the token, random per process,
// keeps a restarted process that got the same pid (PID 1 in a container, every time)
// from ever meeting a file its predecessor left; the counter tells this process's
// concurrent saves apart.
constexpr char kTempMarker[] = ".tmp.";

const std::string& ProcessToken() {
  static const std::string token = [] {
    std::random_device device;
    return absl::StrFormat("%08x%08x", device(), device());
  }();
  return token;
}

std::atomic<uint64_t> temp_counter{0};

// The pid in a temporary file's name (the part after `<path>.tmp.`); 0 if unreadable.
pid_t PidOfTemporary(std::string_view suffix) {
  size_t dot = suffix.find('.');
  int64_t pid = 0;
  if (dot == std::string_view::npos || !internal::ParseInt64(suffix.substr(0, dot), &pid) ||
      pid <= 0 || pid > std::numeric_limits<pid_t>::max()) {
    return 0;
  }
  return static_cast<pid_t>(pid);
}

}  // namespace

Result<size_t> ReadUpTo(ReadableFile& source, char* out, size_t n, std::string_view format,
                        uint64_t offset) {
  size_t got = 0;
  while (got < n) {
    Result<size_t> read = source.Read(out + got, n - got);
    if (!read.ok()) {
      return read.status().WithContext(
          absl::StrCat("reading ", AsAbsl(format), " at byte ", offset + got));
    }
    if (*read == 0) break;
    if (*read > n - got) {
      return Status::IOError(
          absl::StrCat(AsAbsl(format), " source returned more bytes than were asked for"));
    }
    got += *read;
  }
  return got;
}

Result<SnapshotInfo> WriteFileAtomically(
    const std::string& path, std::string_view what, const WritableFileWrapper& wrap,
    const std::function<Result<SnapshotInfo>(WritableFile&)>& write) {
  const auto started = std::chrono::steady_clock::now();
  // Relaxed: only uniqueness matters.
  const std::string temp = absl::StrCat(path, kTempMarker, ::getpid(), ".", ProcessToken(), ".",
                                        temp_counter.fetch_add(1, std::memory_order_relaxed));
  MIRRORKV_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                            NewPosixWritableFile(temp, /*exclusive=*/true));
  if (wrap) file = wrap(std::move(file));

  // Until the rename, any failure removes the temporary file and leaves `path` alone.
  auto abandon = [&](const Status& status) {
    file.reset();  // closes it
    std::remove(temp.c_str());
    return status.WithContext(absl::StrCat("saving ", AsAbsl(what), " to ", path));
  };
  Result<SnapshotInfo> written = write(*file);
  if (!written.ok()) return abandon(written.status());
  if (Status synced = file->Sync(); !synced.ok()) return abandon(synced);
  if (Status closed = file->Close(); !closed.ok()) return abandon(closed);
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    return abandon(Status::IOError(absl::StrCat("renaming ", temp, ": ", std::strerror(errno))));
  }
  file.reset();
  // The new file is in place; this makes the rename durable.
  MIRRORKV_RETURN_IF_ERROR(
      SyncParentDirectory(path).WithContext(absl::StrCat("saving ", AsAbsl(what), " to ", path)));
  SnapshotInfo info = std::move(written).value();
  info.elapsed = std::chrono::steady_clock::now() - started;
  return info;
}

Result<SnapshotInfo> SaveSnapshotFileVia(Store& store, const std::string& path,
                                         const SnapshotPosition& position,
                                         const SnapshotOptions& options,
                                         const WritableFileWrapper& wrap) {
  // Checked here too so that a bad id creates no file at all.
  MIRRORKV_RETURN_IF_ERROR(snapshot::ValidateReplicationId(position.replication_id));
  return WriteFileAtomically(path, "snapshot", wrap, [&](WritableFile& file) {
    return WriteSnapshot(store, position, file, options);
  });
}

}  // namespace internal

Result<SnapshotInfo> SaveSnapshotFile(Store& store, const std::string& path,
                                      const SnapshotPosition& position,
                                      const SnapshotOptions& options) {
  return internal::SaveSnapshotFileVia(store, path, position, options, {});
}

// A file whose writer is gone is stale. So is one that names this process: the caller
// has not saved yet (the contract), so it was left by an earlier process that had the
// same pid.
Result<std::vector<std::string>> RemoveStaleSnapshotTemporaries(const std::string& path) {
  const std::filesystem::path target(path);
  const std::filesystem::path dir =
      target.parent_path().empty() ? std::filesystem::path(".") : target.parent_path();
  const std::string prefix = absl::StrCat(target.filename().string(), internal::kTempMarker);
  std::vector<std::string> removed;
  std::error_code error;
  for (std::filesystem::directory_iterator it(dir, error), end; !error && it != end;
       it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const pid_t pid = internal::PidOfTemporary(std::string_view(name).substr(prefix.size()));
    if (pid == 0) continue;  // not a name this module writes
    const bool writer_alive = pid != ::getpid() && (::kill(pid, 0) == 0 || errno == EPERM);
    if (writer_alive) continue;
    if (std::remove(it->path().c_str()) != 0) {
      return Status::IOError(absl::StrCat("removing stale temporary file ", it->path().string(),
                                          ": ", std::strerror(errno)));
    }
    removed.push_back(it->path().string());
  }
  if (error && error != std::errc::no_such_file_or_directory) {
    return Status::IOError(
        absl::StrCat("listing ", dir.string(), " for stale temporary files: ", error.message()));
  }
  return removed;
}

namespace internal {

Result<SnapshotInfo> LoadSnapshotFileWithHistory(Store& store, const std::string& path,
                                                 const SnapshotReadOptions& options,
                                                 const HistoryApplier& apply_history) {
  MIRRORKV_ASSIGN_OR_RETURN(std::unique_ptr<ReadableFile> file, NewReadableFile(path));
  Result<SnapshotInfo> loaded =
      LoadSnapshotChecked(store, *file, options, /*require_end=*/true, apply_history);
  if (!loaded.ok()) return loaded.status().WithContext(absl::StrCat("loading ", path));
  return loaded;
}

}  // namespace internal

Result<SnapshotInfo> LoadSnapshotFile(Store& store, const std::string& path,
                                      const SnapshotReadOptions& options) {
  return internal::LoadSnapshotFileWithHistory(store, path, options, nullptr);
}

Result<std::unique_ptr<Store>> OpenStoreFromSnapshot(const std::string& path,
                                                     const StoreOptions& options,
                                                     SnapshotInfo* info) {
  MIRRORKV_ASSIGN_OR_RETURN(std::unique_ptr<Store> store, Store::Open(options));
  Result<SnapshotInfo> loaded = LoadSnapshotFile(*store, path);
  if (loaded.ok()) {
    if (info != nullptr) *info = std::move(loaded).value();
    return store;
  }
  // Only a missing file means "start empty"; anything else must not be mistaken for it.
  if (!loaded.status().IsNotFound()) return loaded.status();
  if (info != nullptr) *info = SnapshotInfo{};
  return store;
}

}  // namespace mirrorkv
