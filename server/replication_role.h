// ServerReplication: mirrorkv-server's replication role, on the public replication API
// (include/mirrorkv/replication.h). The server is either a primary — it owns a `Primary`
// for its Store, and a client connection that completes the replica handshake (REPLCONF
// ... then PSYNC or SYNC) is taken out of the I/O loop and its socket handed to
// the Primary (internal::ServeHandshaken) — or a replica, following another server through a
// `Replica` and `ConnectTcp`. REPLICAOF host port turns a primary into a replica (its
// position is kept, so that it continues with a partial resync when the new primary
// shares its history, as after a failover); REPLICAOF NO ONE promotes a replica
// (`Replica::Promote`), keeping its old id as the secondary one so that the others
// continue with a partial resync too.
//
// Thread-safe. One lock guards the role. A blocked WAIT holds no thread: it is state in
// the Primary, completed by the replica ACK that satisfies it (Primary::
// WaitForReplicasAsync).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/mutex.h"
#include "mirrorkv/replication.h"
#include "mirrorkv/status.h"
#include "mirrorkv/store.h"
#include "replication/handshake.h"

namespace mirrorkv::server {

// What a replica announced on its connection before PSYNC (REPLCONF), and what PSYNC
// asked: the replication library's handshake state, fed by the REPLCONF and PSYNC
// commands of the command table.
using ReplicaHandshake = internal::ReplicaHandshake;

// Settings fixed when a role starts (from the server configuration).
struct ReplicationSettings {
  size_t backlog_bytes = 1 << 20;  // repl-backlog-size
  // client-output-buffer-limit replica <hard> <soft> <seconds>: when a replica's
  // output buffer gets it disconnected (PrimaryOptions::sync_buffer_*). Taken when the
  // Primary is created.
  size_t replica_buffer_hard = 256u << 20;
  size_t replica_buffer_soft = 64u << 20;
  std::chrono::seconds replica_buffer_soft_period{60};
  size_t min_replicas_to_write = 0;                        // min-replicas-to-write
  std::chrono::milliseconds min_replicas_max_lag{10'000};  // min-replicas-max-lag
  std::string masterauth;                                  // sent by this server as a replica
  uint16_t listening_port = 0;         // announced to a primary (this server's port)
  bool skip_unsupported_data = false;  // skip-unsupported-data, for a Redis primary's data
};

// A consistent picture of the role, for INFO replication and ROLE.
struct ReplicationReport {
  bool replica = false;
  // Replica only: the primary followed and the link's state.
  std::string master_host;
  uint16_t master_port = 0;
  ReplicaStatus link;
  // The replication id and offset this server is at (a replica: its primary's id and the
  // offset applied), and the secondary id with the offset it is valid up to (empty id:
  // none).
  ReplicationPosition position;
  ReplicationPosition secondary;
  // Primary only: the attached replicas.
  std::vector<ReplicaInfo> replicas;
  // Resyncs answered as a primary since the start (or CONFIG RESETSTAT).
  ResyncCounters resyncs;
  size_t backlog_bytes = 0;
  // Whether a stream is being kept (false on a primary that never had a replica), and
  // the oldest offset it still holds.
  bool backlog_active = false;
  uint64_t backlog_first_offset = 0;
};

// The address part of a transport peer ("127.0.0.1:50412" -> "127.0.0.1"), for INFO's
// slaveN:ip= and ROLE.
std::string_view ReplicaHost(std::string_view peer);

class ServerReplication {
 public:
  // Makes `store` a primary with `settings`. `store` is borrowed and must outlive the
  // returned object. Like Redis, which creates its backlog when the first replica
  // attaches, the Primary (and the logging of every write it implies, ~10% of the CPU of
  // a pipelined SET) is created only when a replica sends PSYNC, or here already when
  // min_replicas_to_write is set (writes must be refused until replicas come), or when
  // `resume_from` is set: the Store's data is exactly at that position of an earlier
  // history (a primary's snapshot loaded at start, LoadSnapshotFileToResume), which the
  // Primary continues, so that a replica at it, or the new primary this server is turned
  // into a replica of after a failover, needs only a partial resync. Fails as
  // Primary::Create does.
  static Result<std::unique_ptr<ServerReplication>> Create(
      Store& store, const ReplicationSettings& settings,
      const ReplicationPosition& resume_from = {});
  ~ServerReplication();
  ServerReplication(const ServerReplication&) = delete;
  ServerReplication& operator=(const ServerReplication&) = delete;

  // REPLICAOF host port: follows host:port from now on. From the primary role the Primary
  // is destroyed first (its replicas are disconnected) and the Store switches to replica
  // mode; a replica just reconnects to the new primary. Returns false if this server
  // already follows exactly host:port (nothing changes: Redis's "Already connected").
  // `settings` replaces the settings given so far (masterauth may have changed).
  bool ReplicaOf(const std::string& host, uint16_t port, const ReplicationSettings& settings)
      ABSL_LOCKS_EXCLUDED(mu_);
  // REPLICAOF NO ONE: promotes a replica to primary (see the file comment). OK and nothing
  // changes when already a primary; the promotion's error otherwise.
  Status PromoteToPrimary(const ReplicationSettings& settings) ABSL_LOCKS_EXCLUDED(mu_);

  // Whether PSYNC may proceed: OK on a primary; kFailedPrecondition with the error reply
  // text on a replica (mirrorkv does not chain replicas: a replica has no Primary).
  Status CheckCanServeReplicas() const ABSL_LOCKS_EXCLUDED(mu_);
  // Serves a replica whose handshake the server read: `fd` is the connected socket (taken
  // over: closed when the session ends, or at once if this server became a replica
  // meanwhile), `peer` its address, `already_read` the bytes it sent after PSYNC that the
  // server had read already (the session receives them first). Returns at once; the
  // Primary's threads do the rest.
  void ServeReplica(int fd, std::string peer, std::string already_read, ReplicaHandshake handshake)
      ABSL_LOCKS_EXCLUDED(mu_);

  // WAIT: counts the replicas that acknowledged everything logged before the call,
  // waiting until there are `count` of them or `timeout` passes (0: no limit; the wait
  // still ends when the role changes or this object is destroyed). kFailedPrecondition
  // (Redis's text) on a replica. `block` false only counts, without waiting (WAIT inside
  // EXEC).
  //
  // No thread waits: the Primary keeps the WAIT and calls `done` with the result from
  // its receiver thread when an ACK satisfies it, at the deadline, or once `abandoned`
  // (asked at every ACK and every 100 ms) says the client is gone. Without blocking, or
  // when the count is reached already, `done` runs before the return. A blocking WAIT
  // on a primary without replicas creates the Primary (as a replica's PSYNC would),
  // since it is what keeps the wait.
  void WaitForReplicas(size_t count, std::chrono::milliseconds timeout, bool block,
                       std::function<bool()> abandoned, std::function<void(Result<size_t>)> done)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Connections served as replicas right now (they count toward maxclients).
  size_t replica_count() const ABSL_LOCKS_EXCLUDED(mu_);
  // CONFIG RESETSTAT: the resync counters start again from 0.
  void ResetStats() ABSL_LOCKS_EXCLUDED(mu_);

  // CONFIG SET min-replicas-to-write / min-replicas-max-lag: takes effect at once on a
  // primary (creating its Primary if writes must now be refused), and when a replica is
  // promoted. Fails as Primary::Create does.
  Status SetMinReplicas(size_t count, std::chrono::milliseconds max_lag) ABSL_LOCKS_EXCLUDED(mu_);

  // The primary a replica forwards writes to (Server::Write): its host, port and the
  // password to give it (masterauth), and how many full resyncs this replica had
  // finished when it was asked (WriteFence); nullopt on a primary.
  struct WriteTarget {
    std::string host;
    uint16_t port = 0;
    std::string password;
    uint64_t full_resyncs = 0;
  };
  std::optional<WriteTarget> ForwardTarget() const ABSL_LOCKS_EXCLUDED(mu_);
  // What a replica must have applied to hold a write forwarded to its primary: the
  // primary's position read after the write, and whether the primary kept a stream then
  // (INFO replication's repl_backlog_active). A primary without one hands the write over
  // only in the full resync of a replica that attaches later.
  struct WriteFence {
    ReplicationPosition position;
    bool streamed = true;
    uint64_t full_resyncs_before = 0;  // WriteTarget::full_resyncs
  };
  // Waits until this server's Store holds the forwarded write (Replica::WaitForPosition,
  // or Replica::WaitForFullResync when the primary kept no stream). OK at once on a
  // primary that holds `fence` (this node was promoted after reaching it); kUnavailable
  // on one that does not, or when the replica stops or is promoted meanwhile;
  // kDeadlineExceeded after `timeout`.
  Status WaitForApplied(const WriteFence& fence, std::chrono::milliseconds timeout) const
      ABSL_LOCKS_EXCLUDED(mu_);
  bool is_replica() const ABSL_LOCKS_EXCLUDED(mu_);
  ReplicationReport Report() const ABSL_LOCKS_EXCLUDED(mu_);

  // SAVE, BGSAVE and the save points: writes the Store to `path` atomically. On a primary
  // with a Primary, with its position and history (Primary::SaveSnapshotFile), so that a
  // restart continues the history; otherwise with no position (a replica's restart, or a
  // primary's that never had a replica, starts with a full resync). A REPLICAOF or the
  // destructor cancels a save in progress (options.cancelled) rather than wait for it.
  Result<SnapshotInfo> SaveSnapshotFile(const std::string& path, SnapshotOptions options)
      ABSL_LOCKS_EXCLUDED(mu_);

  // For a scope, makes the calling thread's changes one atomic unit of the stream
  // (Primary::BeginEffectGroup): MULTI/EXEC and scripts use it so that a replica applies
  // their effects all at once. Nothing to do while no Primary logs (no replica ever
  // attached, or a replica, which refuses writes anyway).
  class EffectGroup {
   public:
    explicit EffectGroup(ServerReplication& replication) ABSL_LOCKS_EXCLUDED(replication.mu_);
    ~EffectGroup();
    EffectGroup(const EffectGroup&) = delete;
    EffectGroup& operator=(const EffectGroup&) = delete;

   private:
    // Not a shared_ptr: REPLICAOF inside the EXEC being grouped destroys the Primary
    // (waiting until nobody else holds it), which ends the group with it.
    std::weak_ptr<Primary> primary_;
  };

 private:
  ServerReplication(Store& store, const ReplicationSettings& settings);

  // Creates the Primary if there is none yet (a primary that never had a replica), with
  // a new history or continuing `resume_from`.
  Status EnsurePrimaryLocked(const ReplicationPosition& resume_from = {})
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Drops the Primary (its replicas are disconnected, its WAITs answered), keeping its
  // resync counters.
  void ResetPrimaryLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Cancels the saves that use the Primary and waits until they have let it go, so that
  // the caller, holding mu_ from here on, may destroy it. Releases mu_ while waiting.
  void EndPrimarySavesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Store& store_;
  mutable Mutex mu_;
  ReplicationSettings settings_ ABSL_GUARDED_BY(mu_);
  // At most one of the two is set; neither on a primary that never had a replica.
  std::shared_ptr<Primary> primary_ ABSL_GUARDED_BY(mu_);
  // The replication id INFO reports while there is no Primary (Redis's replid of a
  // server without a backlog); the Primary starts a new one, as Redis does then.
  const std::string standalone_id_;
  // Shared so that WaitForApplied can wait on it without holding mu_ (a promotion
  // stops it, which ends such a wait, before it is let go here).
  std::shared_ptr<Replica> replica_ ABSL_GUARDED_BY(mu_);
  std::string master_host_ ABSL_GUARDED_BY(mu_);
  uint16_t master_port_ ABSL_GUARDED_BY(mu_) = 0;

  // The counters of the Primaries destroyed since the start or the last ResetStats.
  ResyncCounters past_resyncs_ ABSL_GUARDED_BY(mu_);
  // Subtracted from the current Primary's counters (ResetStats while it exists).
  ResyncCounters resyncs_at_reset_ ABSL_GUARDED_BY(mu_);
  // Saves running on the Primary (SaveSnapshotFile), which EndPrimarySavesLocked cancels
  // and waits for.
  int primary_saves_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<bool> cancel_primary_saves_{false};
  CondVar primary_saves_done_;
};

}  // namespace mirrorkv::server
