// The POSIX side of include/mirrorkv/file.h that the atomic snapshot save needs beyond
// the public factories: exclusive creation of its temporary file and the directory sync
// that makes its rename durable.
#pragma once

#include <memory>
#include <string>

#include "mirrorkv/file.h"
#include "mirrorkv/status.h"

namespace mirrorkv::internal {

// Creates `path` for writing; with `exclusive`, fails if it exists (O_EXCL).
Result<std::unique_ptr<WritableFile>> NewPosixWritableFile(const std::string& path, bool exclusive);

// Syncs the directory that holds `path`, so that a rename into it is durable.
Status SyncParentDirectory(const std::string& path);

}  // namespace mirrorkv::internal
