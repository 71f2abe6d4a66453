// Internal entry points behind the public snapshot file functions, with the seams the
// tests need: a wrapper around the temporary file a save writes (to fail its k-th
// write), and a load that insists on the end of the source after the footer.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "mirrorkv/file.h"
#include "mirrorkv/rdb.h"
#include "mirrorkv/snapshot.h"
#include "mirrorkv/store.h"

namespace mirrorkv::internal {

// Receives the temporary file a save writes to and returns the sink the snapshot goes
// through (the same file, or a wrapper around it).
using WritableFileWrapper =
    std::function<std::unique_ptr<WritableFile>(std::unique_ptr<WritableFile>)>;

// Writes a file atomically: `write` fills a temporary file beside `path` (through
// `wrap(temporary file)` when `wrap` is non-empty), which is then synced and renamed over
// `path`, and the directory synced. Any failure before the rename removes the temporary
// file and leaves `path` as it was. Errors say "saving <what> to <path>".
Result<SnapshotInfo> WriteFileAtomically(
    const std::string& path, std::string_view what, const WritableFileWrapper& wrap,
    const std::function<Result<SnapshotInfo>(WritableFile&)>& write);

// SaveSnapshotFile, writing through `wrap(temporary file)` when `wrap` is non-empty.
Result<SnapshotInfo> SaveSnapshotFileVia(Store& store, const std::string& path,
                                         const SnapshotPosition& position,
                                         const SnapshotOptions& options,
                                         const WritableFileWrapper& wrap);

// Called once the walk is done: the replication stream from the snapshot's offset to an
// offset past every change the walk may have seen, or nullopt when it is no longer
// available (the snapshot then carries no history).
using HistorySource = std::function<std::optional<std::string>()>;

// WriteSnapshot, recording with each collection the replication stream's position at
// the moment it was copied, read by calling `stream_position` with its stripe locked
// (the command log's reserved end, for a primary). WriteSnapshot records the snapshot's
// start offset instead. With a `history` source the stream is version 3 and ends with
// the history frame it returns: a loader that applies it gets the data exactly as it
// was at the history's end (docs/snapshot-format.md).
Result<SnapshotInfo> WriteSnapshotAt(Store& store, const SnapshotPosition& position,
                                     WritableFile& sink, const SnapshotOptions& options,
                                     const std::function<uint64_t()>& stream_position,
                                     const HistorySource& history);

// The error of a save stopped by SnapshotOptions::cancelled.
Status CancelledStatus();

// Applies a snapshot's history to the staging store of its load, before the load is
// published: `stream` starts at offset `from` of the replication stream. An error fails
// the load, which leaves the target unchanged.
using HistoryApplier =
    std::function<Status(Store& staging, std::string_view stream, uint64_t from)>;

// LoadSnapshot; with `require_end`, a source holding bytes after the footer is
// kCorruption (a file must hold exactly one snapshot).
Result<SnapshotInfo> LoadSnapshotChecked(Store& store, ReadableFile& source,
                                         const SnapshotReadOptions& options, bool require_end,
                                         const HistoryApplier& apply_history = nullptr);

// LoadSnapshotFile, applying the file's history with `apply_history` (see above).
Result<SnapshotInfo> LoadSnapshotFileWithHistory(Store& store, const std::string& path,
                                                 const SnapshotReadOptions& options,
                                                 const HistoryApplier& apply_history);

// LoadRdb; with `require_end`, a source holding bytes after the checksum is kCorruption.
Result<RdbLoadInfo> LoadRdbChecked(Store& store, ReadableFile& source,
                                   const RdbReadOptions& options, bool require_end);

// Reads from `source` until `n` bytes or the end of the stream and returns how many
// arrived (the caller decides whether fewer is a truncation). `format` ("snapshot",
// "RDB") and `offset` (where `out` starts in the stream) name the place in errors: the
// source's error with that context, or kIOError for a source that returned more bytes
// than were asked for (trusting its count would read past `out`).
Result<size_t> ReadUpTo(ReadableFile& source, char* out, size_t n, std::string_view format,
                        uint64_t offset);

}  // namespace mirrorkv::internal
