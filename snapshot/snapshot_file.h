// Internal entry points behind the public snapshot file functions, with the seams the
// tests need: a wrapper around the temporary file a save writes (to fail its k-th
// write), and a load that insists on the end of the source after the footer.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "mirrorkv/file.h"
#include "mirrorkv/snapshot.h"
#include "mirrorkv/store.h"

namespace mirrorkv::internal {

// Receives the temporary file a save writes to and returns the sink the snapshot goes
// through (the same file, or a wrapper around it).
using WritableFileWrapper =
    std::function<std::unique_ptr<WritableFile>(std::unique_ptr<WritableFile>)>;

// SaveSnapshotFile, writing through `wrap(temporary file)` when `wrap` is non-empty.
Result<SnapshotInfo> SaveSnapshotFileVia(Store& store, const std::string& path,
                                         const SnapshotPosition& position,
                                         const SnapshotOptions& options,
                                         const WritableFileWrapper& wrap);

// WriteSnapshot, recording with each collection the replication stream's position at
// the moment it was copied, read by calling `stream_position` with its stripe locked
// (the command log's reserved end, for a primary serving a replica). WriteSnapshot
// records the snapshot's start offset instead.
Result<SnapshotInfo> WriteSnapshotAt(Store& store, const SnapshotPosition& position,
                                     WritableFile& sink, const SnapshotOptions& options,
                                     const std::function<uint64_t()>& stream_position);

// LoadSnapshot; with `require_end`, a source holding bytes after the footer is
// kCorruption (a file must hold exactly one snapshot).
Result<SnapshotInfo> LoadSnapshotChecked(Store& store, ReadableFile& source,
                                         const SnapshotReadOptions& options, bool require_end);

// Creates `path` for writing; with `exclusive`, fails if it exists (O_EXCL).
Result<std::unique_ptr<WritableFile>> NewPosixWritableFile(const std::string& path, bool exclusive);

// Syncs the directory that holds `path`, so that a rename into it is durable.
Status SyncParentDirectory(const std::string& path);

}  // namespace mirrorkv::internal
