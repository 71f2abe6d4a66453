// WritableFile and ReadableFile: the byte sinks and sources that snapshots stream
// through, so that one writer and one reader serve a file, a socket and memory alike.
//
//   auto file = mirrorkv::NewWritableFile("/var/lib/app/dump.mkv");
//   if (!file.ok()) return file.status();
//   MIRRORKV_RETURN_IF_ERROR((*file)->Append(bytes));
//   MIRRORKV_RETURN_IF_ERROR((*file)->Sync());
//   MIRRORKV_RETURN_IF_ERROR((*file)->Close());
//
// Both are abstract so that tests and transports can supply their own: the replication
// module wraps a socket in them, tests wrap a file in one that fails its k-th write or
// returns one byte per read. Implementations here: POSIX files and in-memory strings.
//
// A sink or source is used by one thread at a time (thread-compatible).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "mirrorkv/status.h"

namespace mirrorkv {

// A sequential byte sink. Thread-compatible.
class WritableFile {
 public:
  virtual ~WritableFile() = default;

  // Appends all of `data`, blocking for as long as the destination needs: a slow
  // consumer (a full socket buffer, a throttled pipe) simply blocks the caller, which is
  // how a snapshot writer honours back-pressure. kIOError when the destination failed;
  // after an error, which of the bytes arrived is unspecified and the sink should only
  // be closed.
  virtual Status Append(std::string_view data) = 0;

  // Hands buffered bytes to the destination (the OS, the peer). OK for sinks that keep
  // no buffer. kIOError on failure.
  virtual Status Flush() = 0;

  // Makes every appended byte durable (fdatasync for a file) and returns only once it
  // is. OK for sinks with nothing to make durable (memory, sockets). kIOError on
  // failure, after which the durable content is unknown.
  virtual Status Sync() = 0;

  // Flushes and releases the destination. Calling Close twice, or any other method
  // after Close, returns kFailedPrecondition. kIOError if the final flush failed. The
  // destructor closes a sink that was not closed, ignoring errors.
  virtual Status Close() = 0;
};

// A sequential byte source. Thread-compatible.
class ReadableFile {
 public:
  virtual ~ReadableFile() = default;

  // Reads up to `n` bytes (n > 0) into `buffer` and returns how many it read: at least
  // 1, fewer than `n` whenever fewer are available now (a short read is normal), and 0
  // only at the end of the stream. Blocks until at least one byte or the end arrives;
  // a source that can stall forever (a socket) should carry its own timeout and report
  // it as kDeadlineExceeded or kIOError. kIOError when the OS reports a failure.
  virtual Result<size_t> Read(char* buffer, size_t n) = 0;

  // The total length of the stream in bytes, counted from its start, when known in
  // advance (a regular file); nullopt for a stream of unknown length (a socket). Used to
  // reject impossible lengths early and to report progress.
  virtual std::optional<uint64_t> size() const { return std::nullopt; }
};

// Creates (or truncates) the file at `path` for writing, with mode 0644 before the
// umask. Appends go straight to the OS: the sink keeps no buffer of its own, so Flush
// is a no-op and Sync is fdatasync. kIOError naming the path and the OS error.
Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path);

// Opens the file at `path` for sequential reading; size() is its length at opening.
// kNotFound when the file does not exist; kIOError for any other OS failure (naming
// the path and the OS error).
Result<std::unique_ptr<ReadableFile>> NewReadableFile(const std::string& path);

// A sink that appends to a caller-owned string, e.g. to stream a snapshot to an
// in-process replica. `out` is borrowed and must outlive the sink; it is not cleared.
// Never fails, except kFailedPrecondition after Close.
class StringWritableFile final : public WritableFile {
 public:
  explicit StringWritableFile(std::string* out) : out_(out) {}
  Status Append(std::string_view data) override;
  Status Flush() override;
  Status Sync() override;
  Status Close() override;

 private:
  std::string* out_;
  bool closed_ = false;
};

// A source that reads from caller-owned bytes. `data` is borrowed and must outlive the
// source. size() is data.size(). Never fails.
class StringReadableFile final : public ReadableFile {
 public:
  explicit StringReadableFile(std::string_view data) : data_(data) {}
  Result<size_t> Read(char* buffer, size_t n) override;
  std::optional<uint64_t> size() const override { return data_.size(); }

 private:
  std::string_view data_;
  size_t offset_ = 0;
};

}  // namespace mirrorkv
