// Persistence: see persistence.h.
#include "server/persistence.h"

#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "mirrorkv/rdb.h"
#include "mirrorkv/snapshot.h"
#include "server/keyspace_listener.h"
#include "server/logger.h"
#include "server/replication_role.h"
#include "server/server.h"

namespace mirrorkv::server {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Redis retries a failed automatic BGSAVE after this long (CONFIG_BGSAVE_RETRY_DELAY).
constexpr int64_t kRetryDelayMs = 5000;
// Progress lines while loading or saving, at most this often.
constexpr int64_t kProgressIntervalMs = 1000;

double Megabytes(uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

// Whether the file at `path` begins with RDB's magic; false if it cannot be read (the
// snapshot loader then reports why).
bool StartsLikeRdb(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return false;
  char prefix[6];
  const size_t n = std::fread(prefix, 1, sizeof(prefix), file);
  std::fclose(file);
  return LooksLikeRdb({prefix, n});
}

}  // namespace

Persistence::Persistence(Server& server) : server_(server) {
  MutexLock lock(&mu_);
  last_save_unix_ = NowMs() / 1000;
}

Persistence::~Persistence() { WaitForBackgroundSave(); }

std::string Persistence::SnapshotPath() const {
  ServerConfig config = server_.config();
  return absl::StrCat(config.dir, "/", config.dbfilename);
}

// The existence check comes first so that a missing file is a notice ("starting empty")
// and every other failure is an error the caller turns into exit code 1.
Result<ReplicationPosition> Persistence::Load(Store& store, const std::string& path, bool rdb,
                                              bool skip_unsupported) {
  // Temporary files of saves that a crash interrupted: never read, but they fill the disk.
  Result<std::vector<std::string>> removed = RemoveStaleSnapshotTemporaries(path);
  if (!removed.ok()) return removed.status();
  for (const std::string& file : *removed) {
    Log(LogLevel::kNotice, "Removed '%s', left by a save that did not finish", file);
  }
  struct stat info;
  if (!rdb && stat(path.c_str(), &info) != 0 && errno == ENOENT) {
    Log(LogLevel::kNotice, "No snapshot at '%s': starting with an empty data set", path);
    return ReplicationPosition{};
  }
  if (rdb || StartsLikeRdb(path)) {
    MIRRORKV_RETURN_IF_ERROR(LoadRdb(store, path, skip_unsupported));
    return ReplicationPosition{};
  }
  Log(LogLevel::kNotice, "Loading snapshot '%s' (%.1f MB)", path, Megabytes(info.st_size));
  int64_t started = NowMs();
  int64_t last_report = started;
  SnapshotReadOptions options;
  options.progress = [&](const SnapshotProgress& progress) {
    int64_t now = NowMs();
    if (now - last_report < kProgressIntervalMs) return;
    last_report = now;
    int percent = progress.bytes_expected > 0
                      ? static_cast<int>(progress.bytes_done * 100 / progress.bytes_expected)
                      : 0;
    Log(LogLevel::kNotice, "Loading: %d keys, %.1f MB of %.1f MB (%d%%)", progress.entries_done,
        Megabytes(progress.bytes_done), Megabytes(progress.bytes_expected), percent);
  };
  SnapshotInfo loaded;
  Result<ReplicationPosition> position = LoadSnapshotFileToResume(store, path, options, &loaded);
  if (!position.ok()) {
    if (position.status().IsNotFound()) return ReplicationPosition{};  // removed meanwhile
    return position.status();
  }
  Log(LogLevel::kNotice, "DB loaded from disk: %.3f seconds", (NowMs() - started) / 1000.0);
  Log(LogLevel::kNotice, "Done loading snapshot, keys loaded: %d, keys expired: %d.",
      loaded.entries, loaded.expired);
  if (!position->replication_id.empty()) {
    Log(LogLevel::kNotice,
        "The snapshot continues replication history %s at offset %d (its save's %d bytes of "
        "stream replayed): replicas and a new primary that share it can resume with a partial "
        "resync",
        position->replication_id, position->offset, loaded.history_bytes);
  } else if (!loaded.position.replication_id.empty()) {
    Log(LogLevel::kNotice,
        "The snapshot carries no replication history to continue: the next sync with a "
        "primary or a replica is a full resync");
  }
  MutexLock lock(&mu_);
  last_load_loaded_ = loaded.entries;
  last_load_expired_ = loaded.expired;
  return position;
}

Status Persistence::LoadRdb(Store& store, const std::string& path, bool skip_unsupported) {
  Log(LogLevel::kNotice, "Loading RDB '%s'", path);
  const int64_t started = NowMs();
  int64_t last_report = started;
  RdbReadOptions options;
  options.skip_unsupported = skip_unsupported;
  options.progress = [&](const SnapshotProgress& progress) {
    const int64_t now = NowMs();
    if (now - last_report < kProgressIntervalMs) return;
    last_report = now;
    Log(LogLevel::kNotice, "Loading: %d keys, %.1f MB of %.1f MB", progress.entries_done,
        Megabytes(progress.bytes_done), Megabytes(progress.bytes_expected));
  };
  Result<RdbLoadInfo> loaded = LoadRdbFile(store, path, options);
  if (!loaded.ok()) return loaded.status();
  if (!loaded->redis_version.empty()) {
    Log(LogLevel::kNotice, "Loading RDB produced by version %s", loaded->redis_version);
  }
  if (loaded->skipped_keys > 0 || loaded->skipped_functions > 0) {
    Log(LogLevel::kWarning,
        "skip-unsupported-data: left out %d keys mirrorkv does not hold (the first: %s) and %d "
        "function libraries",
        loaded->skipped_keys, loaded->first_skipped, loaded->skipped_functions);
  }
  Log(LogLevel::kNotice, "DB loaded from disk: %.3f seconds", (NowMs() - started) / 1000.0);
  Log(LogLevel::kNotice, "Done loading RDB, keys loaded: %d, keys expired: %d.", loaded->keys,
      loaded->expired);
  MutexLock lock(&mu_);
  last_load_loaded_ = loaded->keys;
  last_load_expired_ = loaded->expired;
  last_load_skipped_ = loaded->skipped_keys;
  return Status::Ok();
}

// Every save path ends here, one at a time (save_mu_). The change counter is read before
// the walk starts: changes made during a fuzzy snapshot may or may not be in it, so they
// still count as unsaved afterwards, and the next save point will pick them up.
Status Persistence::SaveNow(bool background) {
  MutexLock save_lock(&save_mu_);
  uint64_t changes_before = server_.keyspace().changes();
  std::string path = SnapshotPath();
  int64_t started = NowMs();
  int64_t last_report = started;
  SnapshotOptions options;
  options.progress = [&](const SnapshotProgress& progress) {
    int64_t now = NowMs();
    if (now - last_report < kProgressIntervalMs) return;
    last_report = now;
    Log(LogLevel::kVerbose, "Saving: %d of about %d keys written", progress.entries_done,
        progress.entries_expected);
  };
  options.cancelled = [this] { return cancelled_.load(std::memory_order_relaxed); };
  // With a primary's history when there is one, so that a restart continues it.
  Result<SnapshotInfo> saved = server_.replication().SaveSnapshotFile(path, options);
  if (!saved.ok()) {
    Log(LogLevel::kWarning, "%s: %s", background ? "Background saving error" : "Error saving DB",
        saved.status().ToString());
    return saved.status();
  }
  {
    MutexLock lock(&mu_);
    changes_at_last_save_ = changes_before;
    last_save_unix_ = NowMs() / 1000;
    ++saves_;
  }
  Log(LogLevel::kNotice, "%s: %d keys, %.1f MB in %.3f seconds ('%s')",
      background ? "Background saving terminated with success" : "DB saved on disk", saved->entries,
      Megabytes(saved->bytes), (NowMs() - started) / 1000.0, path);
  return Status::Ok();
}

Status Persistence::Save() {
  {
    MutexLock lock(&mu_);
    if (bgsave_running_) {
      return Status::FailedPrecondition("ERR Background save already in progress");
    }
  }
  return SaveNow(/*background=*/false);
}

Status Persistence::StartBackgroundLocked() {
  if (background_.joinable()) background_.join();  // finished: it cleared bgsave_running_
  bgsave_running_ = true;
  bgsave_started_ms_ = NowMs();
  last_bgsave_try_ms_ = bgsave_started_ms_;
  // std::thread throws when no thread can be created (the task limit): a failed
  // BGSAVE, not a reason to end the process.
  try {
    background_ = std::thread([this] {
      Status status = SaveNow(/*background=*/true);
      MutexLock lock(&mu_);
      bgsave_running_ = false;
      last_bgsave_ok_ = status.ok();
      last_bgsave_seconds_ = (NowMs() - bgsave_started_ms_) / 1000;
    });
  } catch (const std::system_error& error) {
    bgsave_running_ = false;
    last_bgsave_ok_ = false;
    Log(LogLevel::kWarning, "Can't save in background: %s", error.what());
    return Status::ResourceExhausted(absl::StrCat("ERR Can't save in background: ", error.what()));
  }
  Log(LogLevel::kNotice, "Background saving started");
  return Status::Ok();
}

Status Persistence::BackgroundSave() {
  MutexLock lock(&mu_);
  if (bgsave_running_) {
    return Status::FailedPrecondition("ERR Background save already in progress");
  }
  return StartBackgroundLocked();
}

bool Persistence::ScheduleBackgroundSave() {
  MutexLock lock(&mu_);
  if (bgsave_running_) {
    bgsave_scheduled_ = true;
    return false;
  }
  (void)StartBackgroundLocked();
  return true;
}

Status Persistence::SaveForShutdown() {
  WaitForBackgroundSave();
  return SaveNow(/*background=*/false);
}

void Persistence::WaitForBackgroundSave() {
  std::thread finishing;
  {
    MutexLock lock(&mu_);
    finishing = std::move(background_);
  }
  // Joined without the lock: the thread takes it to publish its result.
  if (finishing.joinable()) finishing.join();
}

void Persistence::CancelBackgroundSave() {
  cancelled_.store(true, std::memory_order_relaxed);
  WaitForBackgroundSave();
}

// Redis's serverCron rule: a save point fires when enough changes happened and enough
// time passed since the last successful save; after a failure, retries wait 5 seconds.
void Persistence::Cron(int64_t now_ms, const std::vector<SavePoint>& points) {
  MutexLock lock(&mu_);
  if (bgsave_running_) return;
  if (bgsave_scheduled_) {
    bgsave_scheduled_ = false;
    (void)StartBackgroundLocked();
    return;
  }
  uint64_t changes = server_.keyspace().changes() - changes_at_last_save_;
  int64_t now_s = now_ms / 1000;
  for (const SavePoint& point : points) {
    if (changes >= static_cast<uint64_t>(point.changes) &&
        now_s - last_save_unix_ > point.seconds &&
        (last_bgsave_ok_ || now_ms - last_bgsave_try_ms_ > kRetryDelayMs)) {
      Log(LogLevel::kNotice, "%d changes in %d seconds. Saving...", point.changes, point.seconds);
      (void)StartBackgroundLocked();
      return;
    }
  }
}

Persistence::Stats Persistence::stats() const {
  MutexLock lock(&mu_);
  // Read under the lock: changes_at_last_save_ is never ahead of this reading.
  uint64_t changes = server_.keyspace().changes();
  Stats stats;
  stats.bgsave_in_progress = bgsave_running_;
  stats.last_save_unix = last_save_unix_;
  stats.last_bgsave_ok = last_bgsave_ok_;
  stats.last_bgsave_seconds = last_bgsave_seconds_;
  stats.current_bgsave_seconds = bgsave_running_ ? (NowMs() - bgsave_started_ms_) / 1000 : -1;
  stats.saves = saves_;
  stats.changes_since_last_save = changes - changes_at_last_save_;
  stats.last_load_keys_loaded = last_load_loaded_;
  stats.last_load_keys_expired = last_load_expired_;
  stats.last_load_keys_skipped = last_load_skipped_;
  return stats;
}

int64_t Persistence::last_save_unix() const {
  MutexLock lock(&mu_);
  return last_save_unix_;
}

}  // namespace mirrorkv::server
