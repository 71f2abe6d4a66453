// Primary::Impl: the command log of a primary Store and the sessions of its replicas.
//
// A fixed set of threads serves every replica, however many connect and whatever they do
// (kSyncWorkers + 2 per Primary, and one accepting thread per ListenTcp address):
//
//  - the receiver waits (poll(2)) on every replica's connection at once: it reads the
//    handshake (handshake.h) of a replica that connected through Serve or the TCP
//    listener, then REPLCONF ACKs; it completes
//    the WAITs that the ACKs satisfy (WaitForReplicasAsync), and every 100 ms sends PINGs
//    down the stream, disconnects replicas that stopped acknowledging, and keeps
//    min_replicas_to_write enforced;
//  - kSyncWorkers sync workers answer PSYNC (+CONTINUE or +FULLRESYNC) and send the
//    snapshot of a full resync or the backlog of a partial one, one replica at a time
//    each, with blocking sends;
//  - the sender copies the log into the replication buffer, shared by every replica, and
//    from there writes to each replica what its socket takes without blocking.
//
// The replication buffer. Redis 7 keeps one buffer of stream bytes that every replica
// reads from at its own position; so does the sender (StreamBuffer): blocks of the
// stream from the oldest position any replica still needs up to the log's end. A
// replica's output buffer is what lies between its position and the end: past the hard
// limit, or past the soft limit for longer than the soft period, it is disconnected
// (Redis's client-output-buffer-limit for replicas). So a replica being bulk-loaded, or
// one receiving its snapshot, keeps its place whatever the backlog size; the backlog
// (the log's ring) only bounds where a reconnecting replica can resume from.
//
// Lock order: ack_mu_ before mu_ (WaitForReplicas counts acknowledgements, under mu_,
// while holding ack_mu_ so that no acknowledgement signal is missed); refusal_mu_
// before mu_ (a write-refusal update counts the good replicas); waiters_mu_ before mu_
// (completing WAITs counts the acknowledgements); stream_mu_ is taken alone. None is held while
// calling into the Store or the log, which take their own locks, or while calling a WAIT's
// callback.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "engine/base/mutex.h"
#include "mirrorkv/replication.h"
#include "replication/command_log.h"
#include "replication/handshake.h"
#include "replication/tcp_listener.h"
#include "replication/transport_io.h"

namespace mirrorkv {

// How a Primary names itself when it holds a Store (Store::Impl::ClaimReplicationRole).
inline constexpr std::string_view kPrimaryHolder = "a Primary";

class Primary::Impl {
 public:
  // Resyncs answered at the same time at most (each sends one snapshot or backlog).
  static constexpr size_t kSyncWorkers = 2;

  // Takes over `log`, which must hold the stream up to the store's current state
  // (empty for a new history), and installs it as the store's replication sink. The
  // caller has made this Primary the store's holder; the destructor releases it.
  // `secondary` is the previous history's id and the offset up to which it is valid
  // (empty id: none). Check start_status() before using the object.
  Impl(Store& store, const PrimaryOptions& options, std::unique_ptr<internal::CommandLog> log,
       std::string replication_id, ReplicationPosition secondary);
  ~Impl();

  // OK, or kResourceExhausted if a thread could not be created (the object then serves
  // nothing and must only be destroyed).
  const Status& start_status() const { return start_status_; }

  void Serve(std::unique_ptr<Transport> transport);
  // internal::ServeHandshaken: a replica whose handshake the caller read.
  void ServeHandshaken(std::unique_ptr<Transport> transport,
                       const internal::ReplicaHandshake& handshake);
  Result<uint16_t> ListenTcp(const std::string& address, uint16_t port) ABSL_LOCKS_EXCLUDED(mu_);
  ReplicationPosition position() const;
  ReplicationPosition secondary_position() const;
  size_t WaitForReplicas(size_t count, std::chrono::milliseconds timeout);
  void WaitForReplicasAsync(size_t count, std::chrono::steady_clock::time_point deadline,
                            std::function<bool()> abandoned, std::function<void(size_t)> done)
      ABSL_LOCKS_EXCLUDED(waiters_mu_);
  std::vector<ReplicaInfo> replicas() const;
  size_t replica_count() const;
  ResyncCounters resync_counters() const;
  uint64_t backlog_first_offset() const { return log_->first_offset(); }
  Result<SnapshotInfo> SaveSnapshotFile(const std::string& path, const SnapshotOptions& options);
  internal::CommandLog& log() { return *log_; }
  void SetMinReplicas(size_t count, std::chrono::milliseconds max_lag);

 private:
  struct Session;
  using SessionPtr = std::shared_ptr<Session>;

  using Handshake = internal::ReplicaHandshake;

  // A WAIT in progress (WaitForReplicasAsync).
  struct Waiter {
    size_t count = 0;
    uint64_t target = 0;  // the offset replicas must have acknowledged
    std::chrono::steady_clock::time_point deadline;
    std::function<bool()> abandoned;
    std::function<void(size_t)> done;
  };

  // One block of the replication buffer: the stream bytes from `start`.
  struct Block {
    uint64_t start = 0;
    std::string bytes;
  };

  void StartSession(SessionPtr session) ABSL_LOCKS_EXCLUDED(mu_);
  // Disconnects `session`, logging `reason` (the first reason only).
  void Drop(Session& session, std::string_view reason);
  void Log(std::string_view line) const;

  // --- The receiver thread ---
  void ReceiverMain();
  // Reads what `session` sent and handles every complete command in it.
  void ReceiveFrom(Session& session) ABSL_LOCKS_EXCLUDED(mu_);
  // One command of a replica still in its handshake (AUTH, PING, REPLCONF, PSYNC).
  void HandleHandshakeCommand(const SessionPtr& session, const std::vector<std::string_view>& args);
  // Completes the WAITs that are satisfied, timed out or abandoned.
  void CompleteWaiters(bool all) ABSL_LOCKS_EXCLUDED(waiters_mu_, mu_);
  // The 100 ms duties: timeouts, PINGs, min-replicas, dropping closed sessions.
  void Tick(int64_t now_ms) ABSL_LOCKS_EXCLUDED(mu_);
  void Wake() const;

  // --- Sync workers ---
  void SyncWorkerMain() ABSL_LOCKS_EXCLUDED(mu_);
  void Resync(const SessionPtr& session);
  // Where streaming starts for a partial resync, or nullopt when a full one is needed.
  std::optional<uint64_t> PartialResyncStart(const Handshake& handshake) const;
  // Sends the +FULLRESYNC reply and the data set through `sends` (the session's
  // transport, timed); the session is already streaming (into its output buffer) from
  // `offset`.
  Status FullResync(Session& session, Transport& sends, uint64_t offset);
  // Sends the backlog from `from` up to where the replication buffer starts through
  // `sends`, then attaches the session to the buffer.
  Status SendBacklogAndAttach(const SessionPtr& session, Transport& sends, uint64_t from)
      ABSL_LOCKS_EXCLUDED(stream_mu_);
  // Attaches `session` to the replication buffer at the buffer's end (for a full resync:
  // returns that offset, where the snapshot starts).
  uint64_t AttachAtEnd(const SessionPtr& session) ABSL_LOCKS_EXCLUDED(stream_mu_);

  // --- The sender thread ---
  void SenderMain() ABSL_LOCKS_EXCLUDED(stream_mu_);
  // Copies new log bytes into the buffer (at most `budget`); returns how many.
  size_t PullLog(size_t budget) ABSL_EXCLUSIVE_LOCKS_REQUIRED(stream_mu_);
  // Writes what `session`'s socket takes; returns the bytes written.
  size_t SendTo(Session& session) ABSL_EXCLUSIVE_LOCKS_REQUIRED(stream_mu_);
  // Drops the replicas whose output buffer passed a limit.
  void EnforceLimits(int64_t now_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(stream_mu_);
  // Frees the blocks every replica has passed.
  void Trim() ABSL_EXCLUSIVE_LOCKS_REQUIRED(stream_mu_);
  uint64_t buffer_start() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(stream_mu_) {
    return blocks_.empty() ? buffer_end_ : blocks_.front().start;
  }

  // Online replicas that acknowledged within `max_lag_ms` of `now_ms`.
  size_t GoodReplicas(int64_t now_ms, int64_t max_lag_ms) const ABSL_LOCKS_EXCLUDED(mu_);
  // Replicas online and at or past `target` both in what they acknowledged and in what
  // they were sent: WAIT never counts bytes that were not sent (Session::confirmed_offset).
  size_t CountAcked(uint64_t target) const ABSL_LOCKS_EXCLUDED(mu_);
  // Refuses writes, or accepts them again, for the min-replicas settings of the moment.
  void UpdateWriteRefusal() ABSL_LOCKS_EXCLUDED(refusal_mu_, mu_);

  Store& store_;
  const PrimaryOptions options_;
  std::unique_ptr<internal::CommandLog> log_;
  const std::string replication_id_;
  const ReplicationPosition secondary_;
  Status start_status_;

  mutable Mutex mu_;
  // Accepting replicas (ListenTcp); stopped first when the Primary goes.
  std::vector<std::unique_ptr<internal::TcpListener>> listeners_ ABSL_GUARDED_BY(mu_);
  std::vector<SessionPtr> sessions_ ABSL_GUARDED_BY(mu_);
  std::deque<SessionPtr> sync_queue_ ABSL_GUARDED_BY(mu_);  // PSYNC read, not answered
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  CondVar sync_cv_;  // a session queued, or stopping

  // Signalled on every acknowledgement, for WaitForReplicas.
  mutable Mutex ack_mu_;
  CondVar ack_cv_;

  Mutex waiters_mu_;
  std::vector<Waiter> waiters_ ABSL_GUARDED_BY(waiters_mu_);

  // The replication buffer (see the file comment): blocks_ holds the stream from
  // buffer_start() to buffer_end_; streams_ the sessions reading from it.
  Mutex stream_mu_;
  CondVar stream_cv_;  // a session attached, or stopping
  std::deque<Block> blocks_ ABSL_GUARDED_BY(stream_mu_);
  uint64_t buffer_end_ ABSL_GUARDED_BY(stream_mu_) = 0;
  std::vector<SessionPtr> streams_ ABSL_GUARDED_BY(stream_mu_);
  bool sender_stopping_ ABSL_GUARDED_BY(stream_mu_) = false;

  std::atomic<uint64_t> full_syncs_{0};
  std::atomic<uint64_t> partial_syncs_ok_{0};
  std::atomic<uint64_t> partial_syncs_refused_{0};

  // min_replicas_to_write and min_replicas_max_lag: the options' values until changed
  // by SetMinReplicas. refusal_mu_ orders the write-refusal updates, so that the last
  // one made reflects the last settings.
  std::atomic<size_t> min_replicas_to_write_;
  std::atomic<int64_t> min_replicas_max_lag_ms_;
  Mutex refusal_mu_;
  bool refusing_ ABSL_GUARDED_BY(refusal_mu_) = false;  // what the store was last told

  int64_t last_ping_ms_ = 0;  // the receiver's: when it last sent a PING
  int wake_fd_ = -1;          // an eventfd that interrupts the receiver's poll
  std::atomic<bool> receiver_stopping_{false};
  std::thread receiver_;
  std::thread sender_;
  std::vector<std::thread> sync_workers_;
};

}  // namespace mirrorkv
