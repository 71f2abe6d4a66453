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

// LoadSnapshot; with `require_end`, a source holding bytes after the footer is
// kCorruption (a file must hold exactly one snapshot).
Result<SnapshotInfo> LoadSnapshotChecked(Store& store, ReadableFile& source,
                                         const SnapshotReadOptions& options, bool require_end);

}  // namespace mirrorkv::internal
