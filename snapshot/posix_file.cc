// POSIX and in-memory implementations of WritableFile and ReadableFile.
//
// The POSIX files keep no buffer of their own: the snapshot writer already hands them
// whole blocks (hundreds of KiB), so one write(2) per block is as good as it gets, and
// there is no buffer whose flush could fail silently at close. Every call retries on
// EINTR and on short writes, and turns errno into kIOError naming the path.
#include "snapshot/posix_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>

#include "absl/strings/str_cat.h"
#include "mirrorkv/file.h"

namespace mirrorkv {
namespace {

std::string ErrnoText(int error) {
  char buffer[256];
  // The GNU strerror_r returns the message (possibly not in `buffer`).
  return strerror_r(error, buffer, sizeof(buffer));
}

Status IoError(const char* what, const std::string& path, int error) {
  return Status::IOError(absl::StrCat(what, " ", path, ": ", ErrnoText(error)));
}

// Every method of a closed file fails the same way; the descriptor is gone, and reusing
// the number could write into some other file opened since.
Status ClosedError() { return Status::FailedPrecondition("file already closed"); }

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  // write(2) may write less than asked (a signal, a full pipe, a nearly full disk): loop
  // until all is written or a real error comes back.
  Status Append(std::string_view data) override {
    if (fd_ < 0) return ClosedError();
    while (!data.empty()) {
      const ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return IoError("writing", path_, errno);
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return Status::Ok();
  }

  Status Flush() override { return fd_ < 0 ? ClosedError() : Status::Ok(); }

  Status Sync() override {
    if (fd_ < 0) return ClosedError();
    // fdatasync also writes the metadata needed to read the data back (the size).
    if (::fdatasync(fd_) != 0) return IoError("syncing", path_, errno);
    return Status::Ok();
  }

  Status Close() override {
    if (fd_ < 0) return ClosedError();
    const int fd = fd_;
    fd_ = -1;
    // Not retried on EINTR: on Linux the descriptor is released whatever close returns.
    if (::close(fd) != 0 && errno != EINTR) return IoError("closing", path_, errno);
    return Status::Ok();
  }

 private:
  int fd_;
  const std::string path_;
};

class PosixReadableFile final : public ReadableFile {
 public:
  PosixReadableFile(int fd, std::string path, std::optional<uint64_t> size)
      : fd_(fd), path_(std::move(path)), size_(size) {}
  ~PosixReadableFile() override { ::close(fd_); }

  Result<size_t> Read(char* buffer, size_t n) override {
    while (true) {
      const ssize_t got = ::read(fd_, buffer, n);
      if (got >= 0) return static_cast<size_t>(got);
      if (errno != EINTR) return IoError("reading", path_, errno);
    }
  }

  std::optional<uint64_t> size() const override { return size_; }

 private:
  const int fd_;
  const std::string path_;
  const std::optional<uint64_t> size_;
};

}  // namespace

namespace internal {

// O_EXCL for temporary files: two saves never share one, and a stale file of the same
// name (from a crashed process whose pid was reused) is an error, not overwritten.
Result<std::unique_ptr<WritableFile>> NewPosixWritableFile(const std::string& path,
                                                           bool exclusive) {
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (exclusive ? O_EXCL : O_TRUNC);
  int fd;
  do {
    fd = ::open(path.c_str(), flags, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return IoError("creating", path, errno);
  return std::unique_ptr<WritableFile>(new PosixWritableFile(fd, path));
}

// A rename is an update of the directory, durable only once the directory is synced;
// without this a power loss after SaveSnapshotFile returned could bring the old file back.
Status SyncParentDirectory(const std::string& path) {
  const std::string parent = std::filesystem::path(path).parent_path().string();
  const std::string dir = parent.empty() ? std::string(".") : parent;
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return IoError("opening directory", dir, errno);
  Status status;
  if (::fsync(fd) != 0) status = IoError("syncing directory", dir, errno);
  ::close(fd);
  return status;
}

}  // namespace internal

Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) {
  return internal::NewPosixWritableFile(path, /*exclusive=*/false);
}

Result<std::unique_ptr<ReadableFile>> NewReadableFile(const std::string& path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound(absl::StrCat("no file ", path));
    return IoError("opening", path, errno);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    return IoError("inspecting", path, error);
  }
  // open(2) succeeds on a directory with O_RDONLY; the first read would fail with a
  // less helpful EISDIR, so say it now.
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return IoError("opening", path, EISDIR);
  }
  // Regular files know their size; pipes and devices report none.
  std::optional<uint64_t> size;
  if (S_ISREG(st.st_mode)) size = static_cast<uint64_t>(st.st_size);
  return std::unique_ptr<ReadableFile>(new PosixReadableFile(fd, path, size));
}

// --- In memory ---

Status StringWritableFile::Append(std::string_view data) {
  if (closed_) return ClosedError();
  out_->append(data);
  return Status::Ok();
}
Status StringWritableFile::Flush() { return closed_ ? ClosedError() : Status::Ok(); }
Status StringWritableFile::Sync() { return closed_ ? ClosedError() : Status::Ok(); }
Status StringWritableFile::Close() {
  if (closed_) return ClosedError();
  closed_ = true;
  return Status::Ok();
}

// Hands out whatever is asked for at once: a short read happens only at the end, and
// then returns 0 (the end) on the next call.
Result<size_t> StringReadableFile::Read(char* buffer, size_t n) {
  const size_t count = std::min(n, data_.size() - offset_);
  if (count > 0) std::memcpy(buffer, data_.data() + offset_, count);
  offset_ += count;
  return count;
}

}  // namespace mirrorkv
