// Replication: a Primary streams every change of its Store to Replicas, which keep
// read-only copies; a Replica can be promoted to a Primary that the others follow.
//
// The protocol is Redis's PSYNC2 (docs/replication_protocol.md): a replica sends PING,
// REPLCONF and `PSYNC <replication id> <offset + 1>`. The primary answers `+CONTINUE`
// and the missing bytes when the replica's position is still in its backlog (a partial
// resync), or `+FULLRESYNC <id> <offset>`, a snapshot and the stream from that offset.
// The same protocol runs over an in-process transport pair or TCP (transport.h).
//
// Example: a replica in the same process, and WAIT. This is compiled as it stands by
// tests/replication (header_example_test.cc), so it stays correct.
//
//   mirrorkv::Status FollowInProcess(mirrorkv::Store& primary_store,
//                                    mirrorkv::Store& replica_store) {
//     MIRRORKV_ASSIGN_OR_RETURN(std::unique_ptr<mirrorkv::Primary> primary,
//                               mirrorkv::Primary::Create(primary_store, {}));
//     // Each (re)connection attempt of the replica gets a new in-process link.
//     mirrorkv::Primary* serving = primary.get();
//     auto connector = [serving]() -> mirrorkv::Result<std::unique_ptr<mirrorkv::Transport>> {
//       auto [near, far] = mirrorkv::CreateInProcessTransportPair();
//       serving->Serve(std::move(far));
//       return std::move(near);
//     };
//     MIRRORKV_ASSIGN_OR_RETURN(std::unique_ptr<mirrorkv::Replica> replica,
//                               mirrorkv::Replica::Create(replica_store, connector, {}));
//     replica->Start();
//     MIRRORKV_RETURN_IF_ERROR(primary_store.Set("session:42", "alice"));
//     if (primary->WaitForReplicas(1, std::chrono::seconds(5)) < 1) {
//       return mirrorkv::Status::DeadlineExceeded("no replica acknowledged the write");
//     }
//     // replica_store.Get("session:42") returns "alice" from here on.
//     return mirrorkv::Status::Ok();  // the replica is destroyed first, then the primary
//   }
//
// Ownership. A Store is held by at most one Primary or one Replica at a time: creating a
// second one fails with kFailedPrecondition and a message naming the holder. Promotion
// hands the Store from the Replica to the new Primary. A destroyed Primary leaves its
// Store writable; a destroyed Replica leaves it in replica mode with the data applied so
// far (read-only, so that nothing diverges from the primary by accident), free for a new
// Replica, or writable again after Store::LeaveReplicaMode.
//
// Positions. A position is (replication id, offset): the id names a history of
// changes, the offset counts the bytes of its stream, exactly as Redis counts them.
// After a promotion the new primary has a new id and keeps the old one as a secondary
// id, valid up to the offset where the histories part; the other replicas and the old
// primary then continue with a partial resync.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mirrorkv/snapshot.h"
#include "mirrorkv/status.h"
#include "mirrorkv/store.h"
#include "mirrorkv/transport.h"

namespace mirrorkv {
namespace internal {
class PrimaryAccess;
}  // namespace internal

// (replication id, offset): the same pair a snapshot records.
using ReplicationPosition = SnapshotPosition;

// A new random replication id: 40 lower-case hex characters.
std::string NewReplicationId();

struct PrimaryOptions {
  // Bytes of stream kept for partial resyncs (Redis's repl-backlog-size). A replica
  // disconnected for longer than the backlog lasts needs a full resync.
  size_t backlog_bytes = 1 << 20;
  // How often the primary sends PING down the stream (repl-ping-replica-period), so
  // that idle replicas can tell a live link from a dead one.
  std::chrono::milliseconds ping_interval{10'000};
  // A replica that has acknowledged nothing for this long is disconnected (repl-timeout).
  std::chrono::milliseconds replica_timeout{60'000};
  // Writes are refused (kFailedPrecondition, "NOREPLICAS ...") while fewer than this many
  // replicas acknowledged within min_replicas_max_lag (min-replicas-to-write and
  // min-replicas-max-lag). 0 disables the check.
  size_t min_replicas_to_write = 0;
  std::chrono::milliseconds min_replicas_max_lag{10'000};
  // If not empty, replicas must AUTH with it first (requirepass).
  std::string password;
  // The position this store's data corresponds to, when it continues an earlier
  // history (a primary restarted from its snapshot): replicas at that position then
  // resume with a partial resync. Empty id: a new random id, starting at offset 0.
  ReplicationPosition resume_from;
  // A replica's output buffer: the stream logged and not yet sent to it (while it
  // receives its snapshot, or reads slower than the primary writes). It is disconnected
  // when that passes `sync_buffer_limit`, or stays above `sync_buffer_soft_limit` for
  // longer than `sync_buffer_soft_period` (Redis's client-output-buffer-limit replica
  // 256mb 64mb 60). 0 disables a limit. Replicas share the buffered bytes: each costs
  // only its position in them.
  size_t sync_buffer_limit = 256u << 20;
  size_t sync_buffer_soft_limit = 64u << 20;
  std::chrono::milliseconds sync_buffer_soft_period{60'000};
  // Called with a line for the operator when a replica resyncs or is dropped (with the
  // reason), on the Primary's threads. Must be thread-safe and must not call the
  // Primary. Empty: nothing is reported.
  std::function<void(std::string_view line)> event_logger;
};

// Resyncs a primary answered since it was created (INFO's sync_full,
// sync_partial_ok, sync_partial_err).
struct ResyncCounters {
  uint64_t full = 0;             // full resyncs started
  uint64_t partial_ok = 0;       // partial resyncs accepted
  uint64_t partial_refused = 0;  // PSYNC with a position that could not be continued
};

// What a primary knows about one connected replica.
struct ReplicaInfo {
  std::string peer;                        // the transport's peer
  uint16_t listening_port = 0;             // as the replica announced (REPLCONF listening-port)
  bool online = false;                     // past the initial sync, streaming
  uint64_t acked_offset = 0;               // the last offset it acknowledged (as it said:
                                           // WAIT counts only what was also sent to it)
  uint64_t lag_bytes = 0;                  // the primary's offset minus acked_offset
  std::chrono::milliseconds since_ack{0};  // time since its last acknowledgement
};

// A primary: the Store, its command log, and a session per replica. Thread-safe.
class Primary {
 public:
  // Makes `store` a replication primary: its changes are logged from now on. `store`
  // is borrowed and must outlive the Primary. kFailedPrecondition if another Primary or
  // a Replica holds the Store (the message says which), or if it is in replica mode;
  // kInvalidArgument for a resume_from id that is not 40 characters.
  static Result<std::unique_ptr<Primary>> Create(Store& store, const PrimaryOptions& options);
  // Disconnects every replica and stops logging. The Store keeps its data, stays
  // writable, and is free for another Primary or a Replica.
  ~Primary();
  Primary(const Primary&) = delete;
  Primary& operator=(const Primary&) = delete;

  // Serves one replica over `transport` until the link breaks or the Primary is
  // destroyed. Every replica is served by the same few threads the Primary owns
  // (kSyncWorkers + 2 in replication/primary_impl.h: 4), however many connect.
  void Serve(std::unique_ptr<Transport> transport);

  // Accepts replicas over TCP on `address` (a numeric IPv4 or IPv6 address, or a name;
  // "0.0.0.0" or "::" for every interface) and `port` (0: any free port), each served as
  // by Serve, on a thread owned by the Primary, with PrimaryOptions::password required
  // (AUTH) when it is set. Returns the bound port. May be called again for more
  // addresses. Accepting stops before the destructor disconnects the replicas, so no
  // connection arrives at a Primary going away. kInvalidArgument for an address that
  // does not resolve; kIOError if it cannot be bound (in use, not permitted);
  // kResourceExhausted if its thread cannot be started.
  Result<uint16_t> ListenTcp(const std::string& address, uint16_t port);

  // The current position: the replication id and the offset just past every change made
  // before the call (waiting, for a few microseconds at most, for changes of other
  // threads that are still being copied into the log).
  ReplicationPosition position() const;
  // The secondary id and the offset up to which it is valid; empty after Create.
  ReplicationPosition secondary_position() const;

  // WAIT: blocks until `count` replicas have acknowledged everything logged before the
  // call, or `timeout` passes, and returns how many have (possibly fewer than `count`;
  // 0 replicas connected returns 0 at once). Asks replicas for an acknowledgement
  // right away (REPLCONF GETACK) rather than waiting for their periodic one.
  size_t WaitForReplicas(size_t count, std::chrono::milliseconds timeout);
  // WAIT without a thread: calls `done` with the number of replicas that acknowledged
  // everything logged before this call, once there are `count` of them, `deadline`
  // passes (time_point::max(): never), `abandoned` returns true (asked after each
  // acknowledgement and at least every 100 ms), or the Primary is destroyed. `done` runs
  // on a thread of the Primary (or on the caller's, before the return, if the count is
  // already reached) and must not call the Primary. O(log replicas) per acknowledgement
  // and waiter.
  void WaitForReplicasAsync(size_t count, std::chrono::steady_clock::time_point deadline,
                            std::function<bool()> abandoned, std::function<void(size_t)> done);

  std::vector<ReplicaInfo> replicas() const;
  // The replicas connected right now (in the handshake, syncing or streaming). O(1).
  size_t replica_count() const;
  ResyncCounters resync_counters() const;

  // Saves the Store to a snapshot file at `path`, atomically, as SaveSnapshotFile does,
  // with this Primary's position and the history the save needs to be exact: a node
  // restarted from the file with LoadSnapshotFileToResume holds the data exactly as it
  // was at a position of this history, and continues it (PrimaryOptions::resume_from,
  // or ReplicaOptions::resume_from when it comes back as a replica, e.g. after a
  // failover: a partial resync from the promoted replica). The walk is fuzzy, so the
  // file also carries the stream logged during it; when the backlog no longer holds
  // all of it (a save that outlasted backlog_bytes of writes), the file is written
  // without it and with no position to resume from, and the event logger says so.
  // Waits for effect groups in progress at the start and at the end of the walk.
  // Errors as SaveSnapshotFile's. Must not race with the Primary's destruction.
  Result<SnapshotInfo> SaveSnapshotFile(const std::string& path,
                                        const SnapshotOptions& options = {});

  // The oldest offset a replica can still resume from with a partial resync (Redis's
  // repl_backlog_first_byte_offset minus one); position().offset when the backlog is
  // empty.
  uint64_t backlog_first_offset() const;

  // Changes PrimaryOptions::min_replicas_to_write and min_replicas_max_lag (CONFIG SET
  // min-replicas-*). Takes effect at once: writes are refused, or accepted again, before
  // this returns.
  void SetMinReplicas(size_t count, std::chrono::milliseconds max_lag);

  // Makes the changes the calling thread makes to the Store, from BeginEffectGroup()
  // until the matching EndEffectGroup(), one atomic unit of the stream: they are logged
  // between MULTI and EXEC, so a replica applies all of them or none (Redis propagates a
  // transaction's or a script's effects the same way). A group that changes nothing logs
  // nothing. Changes other threads make meanwhile keep their place in the stream. Groups
  // nest (the outermost counts); a thread has one Primary's group open at a time, and
  // only that thread may destroy the Primary while the group is open (which ends it). A
  // full resync waits for the groups in progress to end, so keep groups short. O(1).
  void BeginEffectGroup();
  void EndEffectGroup();

  class Impl;

 private:
  friend class Replica;                  // Promote builds a Primary around the replica's log
  friend class internal::PrimaryAccess;  // the RESP server hands over replicas it accepted
  explicit Primary(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct ReplicaOptions {
  // Bytes of received stream this replica keeps, so that after a promotion the other
  // replicas can continue from it with a partial resync.
  size_t backlog_bytes = 1 << 20;
  // How often the replica acknowledges its offset (REPLCONF ACK).
  std::chrono::milliseconds ack_interval{1000};
  // The link is considered down when nothing arrives for this long (repl-timeout).
  std::chrono::milliseconds timeout{60'000};
  // Pause between attempts to (re)connect.
  std::chrono::milliseconds reconnect_delay{100};
  // Announced to the primary (REPLCONF listening-port); 0 for none.
  uint16_t listening_port = 0;
  // Sent with AUTH if not empty (masterauth).
  std::string password;
  // Where to resume from, for a store that already holds the data up to a position
  // (an old primary rejoining as a replica, a store loaded from a snapshot). Empty:
  // the first sync is a full resync.
  ReplicationPosition resume_from;
  // What to do with what a Redis primary may send and mirrorkv does not hold: streams,
  // modules or other databases in its RDB (see RdbReadOptions::skip_unsupported), and
  // commands in its stream that mirrorkv cannot apply (INCR, ZRANGESTORE ...). false: the
  // sync fails, or the link drops before the command, with the reason logged; the data
  // stays as it was, and the replica keeps retrying from the same position. true: they
  // are skipped, counted in ReplicaStatus and logged, and the rest is applied; the
  // skipped keys are then missing or stale on this replica.
  bool skip_unsupported = false;
  // Called on the link thread for what an operator should know about the link:
  // connection, full and partial resyncs, and every reason the link went down or a sync
  // failed, in Redis's words where Redis has them. `warning` marks failures. Must
  // return quickly and must not call into the Replica. Optional.
  std::function<void(bool warning, const std::string& message)> on_event;
};

enum class LinkState : uint8_t {
  kStopped,     // not started, or stopped
  kConnecting,  // connecting or in the handshake
  kSyncing,     // receiving a snapshot
  kConnected,   // streaming
  kDown,        // the last attempt failed; retrying after reconnect_delay
};

struct ReplicaStatus {
  LinkState link = LinkState::kStopped;
  // The primary's replication id and the offset applied so far.
  ReplicationPosition position;
  uint64_t full_resyncs = 0;
  uint64_t partial_resyncs = 0;
  // The part of the lag the replica itself can see: bytes received from the primary and
  // not yet applied (an incomplete record, or a MULTI block waiting for its EXEC), and
  // how long the oldest of them has waited (0 when nothing is pending). What the
  // primary has logged and not yet sent is its ReplicaInfo::lag_bytes.
  uint64_t pending_bytes = 0;
  std::chrono::milliseconds apply_lag{0};
  // Time since the last byte from the primary, and since the link went down (0 while up).
  std::chrono::milliseconds since_last_io{0};
  std::chrono::milliseconds down_for{0};
  // Why the link last went down or the last sync failed, with what it was doing then
  // ("Connection with master lost at offset 1234: ..."); OK if it never did, and OK
  // again once a reconnection has completed its handshake.
  Status last_error;
  // With ReplicaOptions::skip_unsupported: keys the last full resync left out, and
  // commands of the stream skipped since the Replica was created.
  uint64_t skipped_keys = 0;
  uint64_t skipped_commands = 0;
  // The oldest offset of the stream this replica keeps for the replicas that follow it
  // after a promotion (its backlog), and position.offset when that is empty.
  uint64_t backlog_first_offset = 0;
};

// A replica: keeps `store` equal to the primary's, applying the stream. Thread-safe.
class Replica {
 public:
  // Returns a transport to the primary, for each (re)connection attempt.
  using Connector = std::function<Result<std::unique_ptr<Transport>>()>;

  // `store` is borrowed, must outlive the Replica, and is switched to replica mode
  // (public writes fail with kFailedPrecondition; reads still work). kFailedPrecondition
  // if a Primary or another Replica holds the Store (the message says which);
  // kInvalidArgument for an empty connector or a resume_from id not 40 characters long.
  static Result<std::unique_ptr<Replica>> Create(Store& store, Connector connector,
                                                 const ReplicaOptions& options);
  // Stops the link. The Store keeps the data applied so far and stays in replica mode
  // (Store::LeaveReplicaMode makes it writable); read position() first to resume from
  // it later (ReplicaOptions::resume_from). After Promote, the Store belongs to the new
  // Primary and this changes nothing.
  ~Replica();
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  // Starts (or restarts) following the primary on a thread owned by the Replica. If the
  // thread cannot be created (the process's task limit), the Replica stays stopped,
  // status().last_error says why, and Start may be called again.
  void Start();
  // Stops following and closes the link; the data stays. Blocks until the thread ends.
  void Stop();
  // Follows another primary from now on (REPLICAOF): reconnects through `connector`,
  // asking for a partial resync from the current position.
  void SetConnector(Connector connector);

  ReplicaStatus status() const;
  // The position applied so far: what a promotion would continue from.
  ReplicationPosition position() const;
  // Read-your-writes for a write made on the primary. Waits until this replica is linked
  // to its primary (a sync on the current connection finished) and has applied
  // `position` of the same history: position().replication_id equals
  // position.replication_id and position().offset >= position.offset. Pass the
  // primary's position read after the write (Primary::position() there, or INFO
  // replication's master_replid and master_repl_offset); this Store's reads then see the
  // write. A promoted primary continues the history under a new id, which a replica takes
  // over when it resyncs, so a position read on the new primary is reached too. Returns
  // whether it was reached within `timeout`; false at once after Stop or Promote.
  // Thread-safe.
  bool WaitForPosition(const ReplicationPosition& position,
                       std::chrono::milliseconds timeout) const;
  // A primary that keeps no stream (a server that has had no replica yet: Redis and
  // mirrorkv-server start their backlog with the first replica) hands its writes to
  // replicas only through the full resync of the first one to come. Waits until this
  // replica is linked and has finished more full resyncs than `full_resyncs_before`
  // (status().full_resyncs read before the write was sent). Thread-safe.
  bool WaitForFullResync(uint64_t full_resyncs_before, std::chrono::milliseconds timeout) const;

  // Stops following and turns this replica's store into a primary's (promotion). The
  // new primary has a new replication id; the current id stays valid as its secondary
  // id up to the current offset, and the backlog received so far is kept, so that the
  // other replicas continue with a partial resync. The Replica must not be used
  // afterwards except to be destroyed.
  Result<std::unique_ptr<Primary>> Promote(const PrimaryOptions& options);

  class Impl;

 private:
  explicit Replica(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Loads the snapshot file at `path` into `store` as LoadSnapshotFile does, and, for a
// file a Primary saved (Primary::SaveSnapshotFile), applies the history it carries
// before the new content is published, so that the Store holds the data exactly as it
// was at the returned position: pass it as PrimaryOptions::resume_from or
// ReplicaOptions::resume_from. The position is empty for a file with no history (any
// other snapshot, or a save whose history the backlog had lost): its data is fuzzy and
// needs a full resync. Errors as LoadSnapshotFile's; a history that does not apply is
// kCorruption. On any error the Store is unchanged.
Result<ReplicationPosition> LoadSnapshotFileToResume(Store& store, const std::string& path,
                                                     const SnapshotReadOptions& options = {},
                                                     SnapshotInfo* info = nullptr);

}  // namespace mirrorkv
