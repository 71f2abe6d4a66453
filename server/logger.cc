// Logger: see logger.h.
#include "server/logger.h"

#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "absl/strings/ascii.h"

namespace mirrorkv::server {

Result<LogLevel> ParseLogLevel(std::string_view name) {
  std::string lower = absl::AsciiStrToLower(std::string(name));
  if (lower == "debug") return LogLevel::kDebug;
  if (lower == "verbose") return LogLevel::kVerbose;
  if (lower == "notice") return LogLevel::kNotice;
  if (lower == "warning") return LogLevel::kWarning;
  return Status::InvalidArgument(
      "argument(s) must be one of the following: debug, verbose, notice, warning");
}

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kVerbose:
      return "verbose";
    case LogLevel::kNotice:
      return "notice";
    case LogLevel::kWarning:
      return "warning";
  }
  return "notice";
}

Logger& Logger::Get() {
  static Logger* logger = new Logger();  // never destroyed: threads may log during exit
  return *logger;
}

Status Logger::SetFile(const std::string& path) {
  FILE* file = nullptr;
  if (!path.empty()) {
    file = std::fopen(path.c_str(), "a");
    if (file == nullptr) {
      return Status::IOError(
          absl::StrFormat("can't open the log file '%s': %s", path, std::strerror(errno)));
    }
  }
  MutexLock lock(&mu_);
  if (file_ != nullptr) std::fclose(file_);
  file_ = file;
  return Status::Ok();
}

// The line is formatted before taking the lock; the lock only orders whole lines. It is
// flushed at once so that a crash or a kill never loses the lines before it.
void Logger::Write(LogLevel level, std::string_view message) {
  static constexpr char kMarks[] = {'.', '-', '*', '#'};
  struct timeval now;
  gettimeofday(&now, nullptr);
  struct tm local;
  time_t seconds = now.tv_sec;
  localtime_r(&seconds, &local);
  char when[64];
  size_t length = std::strftime(when, sizeof(when), "%d %b %Y %H:%M:%S", &local);
  std::string line = absl::StrFormat(
      "%d:M %s.%03d %c %s\n", getpid(), std::string_view(when, length),
      static_cast<int>(now.tv_usec / 1000), kMarks[static_cast<int>(level) & 3], message);
  MutexLock lock(&mu_);
  FILE* out = file_ != nullptr ? file_ : stdout;
  std::fwrite(line.data(), 1, line.size(), out);
  std::fflush(out);
}

}  // namespace mirrorkv::server
