// Primary::Impl: the command log of a primary Store and one session per replica.
//
// Each session runs on its own thread: it answers the handshake (handshake.h), decides between a
// partial and a full resync, sends the snapshot if needed, then copies the log to the
// replica. A second thread per session reads the replica's REPLCONF ACKs. A monitor
// thread sends PINGs down the stream, disconnects replicas that stopped acknowledging,
// and keeps min_replicas_to_write enforced.
//
// Lock order: ack_mu_ before mu_ (WaitForReplicas counts acknowledgements, under mu_,
// while holding ack_mu_ so that no acknowledgement signal is missed); refusal_mu_
// before mu_ (a write-refusal update counts the good replicas). Neither is held
// while calling into the Store or the log, which take their own locks.
#pragma once

#include <atomic>
#include <chrono>
#include <list>
#include <memory>
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
namespace internal {
class CatchUp;
}  // namespace internal

// How a Primary names itself when it holds a Store (Store::Impl::ClaimReplicationRole).
inline constexpr std::string_view kPrimaryHolder = "a Primary";

class Primary::Impl {
 public:
  // Takes over `log`, which must hold the stream up to the store's current state
  // (empty for a new history), and installs it as the store's replication sink. The
  // caller has made this Primary the store's holder; the destructor releases it.
  // `secondary` is the previous history's id and the offset up to which it is valid
  // (empty id: none).
  Impl(Store& store, const PrimaryOptions& options, std::unique_ptr<internal::CommandLog> log,
       std::string replication_id, ReplicationPosition secondary);
  ~Impl();

  void Serve(std::unique_ptr<Transport> transport);
  // internal::ServeHandshaken: a replica whose handshake the caller read.
  void ServeHandshaken(std::unique_ptr<Transport> transport,
                       const internal::ReplicaHandshake& handshake);
  Result<uint16_t> ListenTcp(const std::string& address, uint16_t port) ABSL_LOCKS_EXCLUDED(mu_);
  ReplicationPosition position() const;
  ReplicationPosition secondary_position() const;
  size_t WaitForReplicas(size_t count, std::chrono::milliseconds timeout);
  std::vector<ReplicaInfo> replicas() const;
  uint64_t backlog_first_offset() const { return log_->first_offset(); }
  void SetMinReplicas(size_t count, std::chrono::milliseconds max_lag);

 private:
  struct Session;
  using Handshake = internal::ReplicaHandshake;

  void StartSession(std::unique_ptr<Transport> transport, std::optional<Handshake> handshake)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The session thread: handshake (unless given), resync, stream.
  void RunSession(Session& session, std::optional<Handshake> handshake);
  Status ReadHandshake(Session& session, internal::TransportReader& reader, Handshake* handshake);
  // Where streaming starts for a partial resync, or nullopt when a full one is needed.
  std::optional<uint64_t> PartialResyncStart(const Handshake& handshake) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Sends the +FULLRESYNC reply and the data set, and returns the offset the snapshot
  // starts from; `catch_up` copies what is logged from there on, meanwhile.
  Result<uint64_t> FullResync(Session& session, const Handshake& handshake,
                              internal::CatchUp* catch_up);
  Status Stream(Session& session, uint64_t from);
  void ReadAcks(Session& session, internal::TransportReader* reader);
  void MonitorMain();
  // Online replicas that acknowledged within `max_lag_ms` of `now_ms`.
  size_t GoodReplicas(int64_t now_ms, int64_t max_lag_ms) const ABSL_LOCKS_EXCLUDED(mu_);
  // Refuses writes, or accepts them again, for the min-replicas settings of the moment.
  void UpdateWriteRefusal() ABSL_LOCKS_EXCLUDED(refusal_mu_, mu_);
  // Joins and drops sessions whose threads have finished.
  void ReapSessions() ABSL_LOCKS_EXCLUDED(mu_);

  Store& store_;
  const PrimaryOptions options_;
  std::unique_ptr<internal::CommandLog> log_;
  const std::string replication_id_;
  const ReplicationPosition secondary_;

  mutable Mutex mu_;
  // Accepting replicas (ListenTcp); stopped first when the Primary goes.
  std::vector<std::unique_ptr<internal::TcpListener>> listeners_ ABSL_GUARDED_BY(mu_);
  std::list<std::unique_ptr<Session>> sessions_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  CondVar stop_cv_;

  // Signalled on every acknowledgement, for WaitForReplicas.
  mutable Mutex ack_mu_;
  CondVar ack_cv_;

  // min_replicas_to_write and min_replicas_max_lag: the options' values until changed
  // by SetMinReplicas. refusal_mu_ orders the write-refusal updates, so that the last
  // one made reflects the last settings.
  std::atomic<size_t> min_replicas_to_write_;
  std::atomic<int64_t> min_replicas_max_lag_ms_;
  Mutex refusal_mu_;
  bool refusing_ ABSL_GUARDED_BY(refusal_mu_) = false;  // what the store was last told

  std::thread monitor_;
};

}  // namespace mirrorkv
