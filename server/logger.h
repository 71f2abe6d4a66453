// Logger: the server's log, one line per notable event, in Redis's format so that the
// tools and habits built around Redis logs keep working:
//
//   12345:M 26 Nov 2024 08:52:01.123 * Ready to accept connections tcp
//
// (pid, role, time with milliseconds, a level mark: '.' debug, '-' verbose, '*' notice,
// '#' warning). Lines below the configured level cost one relaxed load.
//
// Thread-safe: any thread may log; lines are written whole, one write per line.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "absl/strings/str_format.h"
#include "engine/base/mutex.h"
#include "mirrorkv/status.h"

namespace mirrorkv::server {

enum class LogLevel : uint8_t { kDebug = 0, kVerbose = 1, kNotice = 2, kWarning = 3 };

// "debug", "verbose", "notice", "warning" (case-insensitive); kInvalidArgument otherwise.
Result<LogLevel> ParseLogLevel(std::string_view name);
std::string_view LogLevelName(LogLevel level);

class Logger {
 public:
  // The process-wide logger; writes to stdout until SetFile is called.
  static Logger& Get();

  bool Enabled(LogLevel level) const {
    // Relaxed: the level is a standalone setting; a racing change may let one line through.
    return static_cast<uint8_t>(level) >= level_.load(std::memory_order_relaxed);
  }
  void set_level(LogLevel level) {
    level_.store(static_cast<uint8_t>(level), std::memory_order_relaxed);
  }
  LogLevel level() const { return static_cast<LogLevel>(level_.load(std::memory_order_relaxed)); }

  // Appends to the file at `path`; empty means stdout. kIOError if it cannot be opened
  // (the previous destination stays).
  Status SetFile(const std::string& path) ABSL_LOCKS_EXCLUDED(mu_);

  // Writes one line (a trailing newline is added).
  void Write(LogLevel level, std::string_view message) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  Logger() = default;

  std::atomic<uint8_t> level_{static_cast<uint8_t>(LogLevel::kNotice)};
  Mutex mu_;
  FILE* file_ ABSL_GUARDED_BY(mu_) = nullptr;  // null: stdout
};

// Formats and writes a line if `level` is enabled: Log(LogLevel::kNotice, "port %d", p).
template <typename... Args>
void Log(LogLevel level, const absl::FormatSpec<Args...>& format, const Args&... args) {
  Logger& logger = Logger::Get();
  if (!logger.Enabled(level)) return;
  logger.Write(level, absl::StrFormat(format, args...));
}

}  // namespace mirrorkv::server
