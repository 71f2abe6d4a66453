// Persistence: SAVE, BGSAVE, LASTSAVE, the `save` policy and loading at start, on top of
// the snapshot API (include/mirrorkv/snapshot.h).
//
// A snapshot is taken by walking the live Store (no fork, no copy of the data set; see
// snapshot.h), so BGSAVE is a thread, and SAVE is the same walk on the calling I/O thread
// (only that thread's clients wait, unlike Redis where SAVE blocks everything). Files are
// written atomically (temporary file, fsync, rename): a crash leaves the old snapshot or
// the new one, whole. One save runs at a time.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "engine/base/mutex.h"
#include "mirrorkv/replication.h"
#include "mirrorkv/status.h"
#include "mirrorkv/store.h"
#include "server/config.h"

namespace mirrorkv::server {

class Server;

class Persistence {
 public:
  explicit Persistence(Server& server);
  // Waits for a background save still running.
  ~Persistence();
  Persistence(const Persistence&) = delete;
  Persistence& operator=(const Persistence&) = delete;

  // Fills `store` from the file at `path`, logging progress: a mirrorkv snapshot, or an
  // RDB (a Redis dump.rdb) when the file starts with RDB's magic or `rdb` is set (the
  // load-rdb parameter). A missing file leaves the store empty and is not an error,
  // except with `rdb`; a corrupt or unreadable one is (kCorruption, kIOError), and so
  // is an RDB holding data mirrorkv does not hold unless `skip_unsupported`
  // (skip-unsupported-data) is set (kInvalidArgument); the store is then unchanged.
  // Returns the replication position the loaded data is exactly at, for a snapshot a
  // primary saved (LoadSnapshotFileToResume); an empty one otherwise.
  Result<ReplicationPosition> Load(Store& store, const std::string& path, bool rdb = false,
                                   bool skip_unsupported = false);

  // SAVE: writes the snapshot now, on the calling thread. kFailedPrecondition ("ERR
  // Background save already in progress") while a BGSAVE runs; kIOError if writing
  // failed.
  Status Save() ABSL_LOCKS_EXCLUDED(mu_);
  // BGSAVE: starts a save on a background thread. kFailedPrecondition if one runs.
  Status BackgroundSave() ABSL_LOCKS_EXCLUDED(mu_);
  // BGSAVE SCHEDULE: starts one now, or once the running one ends. Returns true if it
  // started now.
  bool ScheduleBackgroundSave() ABSL_LOCKS_EXCLUDED(mu_);
  // For SHUTDOWN: waits for a running BGSAVE, then saves synchronously.
  Status SaveForShutdown() ABSL_LOCKS_EXCLUDED(mu_);
  // Called by the server's cron: starts a BGSAVE when a save point is due or one was
  // scheduled, and reaps a finished background thread.
  void Cron(int64_t now_ms, const std::vector<SavePoint>& points) ABSL_LOCKS_EXCLUDED(mu_);
  void WaitForBackgroundSave() ABSL_LOCKS_EXCLUDED(mu_);
  // For the server's teardown: stops a running background save at its next batch (the
  // old file stays) and waits for it; later saves are refused.
  void CancelBackgroundSave() ABSL_LOCKS_EXCLUDED(mu_);

  // For INFO and LASTSAVE.
  struct Stats {
    bool bgsave_in_progress = false;
    int64_t last_save_unix = 0;  // seconds; the start time before any save
    bool last_bgsave_ok = true;
    int64_t last_bgsave_seconds = -1;  // duration of the last background save
    int64_t current_bgsave_seconds = -1;
    uint64_t saves = 0;
    uint64_t changes_since_last_save = 0;
    uint64_t last_load_keys_loaded = 0;
    uint64_t last_load_keys_expired = 0;
    uint64_t last_load_keys_skipped = 0;  // an RDB's keys left out (skip-unsupported-data)
  };
  Stats stats() const ABSL_LOCKS_EXCLUDED(mu_);
  int64_t last_save_unix() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // Writes the snapshot to the configured path; updates the counters on success.
  Status SaveNow(bool background) ABSL_LOCKS_EXCLUDED(mu_);
  Status StartBackgroundLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string SnapshotPath() const;
  // Load's RDB branch.
  Status LoadRdb(Store& store, const std::string& path, bool skip_unsupported);

  Server& server_;
  // Serializes the writers: at most one snapshot is being written at any time.
  Mutex save_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable Mutex mu_;
  std::atomic<bool> cancelled_{false};  // CancelBackgroundSave
  std::thread background_ ABSL_GUARDED_BY(mu_);
  bool bgsave_running_ ABSL_GUARDED_BY(mu_) = false;
  bool bgsave_scheduled_ ABSL_GUARDED_BY(mu_) = false;
  int64_t bgsave_started_ms_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t last_bgsave_try_ms_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t last_save_unix_ ABSL_GUARDED_BY(mu_) = 0;
  bool last_bgsave_ok_ ABSL_GUARDED_BY(mu_) = true;
  int64_t last_bgsave_seconds_ ABSL_GUARDED_BY(mu_) = -1;
  uint64_t saves_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t changes_at_last_save_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t last_load_loaded_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t last_load_expired_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t last_load_skipped_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace mirrorkv::server
