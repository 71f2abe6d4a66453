// ServerReplication: the server's primary or replica role. See replication_role.h.
#include "server/replication_role.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/base/check.h"
#include "engine/base/strings.h"
#include "server/logger.h"

namespace mirrorkv::server {
namespace {

// How long a replica waits for the TCP connection to its primary before retrying.
constexpr std::chrono::milliseconds kConnectTimeout{5000};

// A transport that first returns bytes the server had already read from the socket (what
// a replica sent after PSYNC before the handover, normally nothing), then reads the
// socket. Only Receive differs from the wrapped transport.
class PrefixedTransport final : public Transport {
 public:
  PrefixedTransport(std::string prefix, std::unique_ptr<Transport> inner)
      : prefix_(std::move(prefix)), inner_(std::move(inner)) {}

  Status Send(std::string_view bytes) override { return inner_->Send(bytes); }

  // The prefix is read by the session's one receiving thread only (Transport's contract:
  // one thread receives), so it needs no lock.
  Result<size_t> Receive(char* buffer, size_t capacity,
                         std::chrono::milliseconds timeout) override {
    if (consumed_ < prefix_.size()) {
      size_t n = std::min(capacity, prefix_.size() - consumed_);
      std::memcpy(buffer, prefix_.data() + consumed_, n);
      consumed_ += n;
      return n;
    }
    return inner_->Receive(buffer, capacity, timeout);
  }

  void Close() override { inner_->Close(); }
  std::string peer() const override { return inner_->peer(); }

 private:
  const std::string prefix_;
  size_t consumed_ = 0;
  std::unique_ptr<Transport> inner_;
};

PrimaryOptions ToPrimaryOptions(const ReplicationSettings& settings) {
  PrimaryOptions options;
  options.backlog_bytes = settings.backlog_bytes;
  options.min_replicas_to_write = settings.min_replicas_to_write;
  options.min_replicas_max_lag = settings.min_replicas_max_lag;
  options.sync_buffer_limit = settings.replica_buffer_hard;
  options.sync_buffer_soft_limit = settings.replica_buffer_soft;
  options.sync_buffer_soft_period = settings.replica_buffer_soft_period;
  options.event_logger = [](std::string_view line) { Log(LogLevel::kNotice, "%s", line); };
  // No password here: the server authenticated the connection (AUTH) before PSYNC.
  return options;
}

Replica::Connector ConnectorTo(std::string host, uint16_t port) {
  return [host = std::move(host), port]() { return ConnectTcp(host, port, kConnectTimeout); };
}

}  // namespace

std::string_view ReplicaHost(std::string_view peer) {
  size_t colon = peer.rfind(':');
  return colon == std::string_view::npos ? peer : peer.substr(0, colon);
}

Result<std::unique_ptr<ServerReplication>> ServerReplication::Create(
    Store& store, const ReplicationSettings& settings, const ReplicationPosition& resume_from) {
  std::unique_ptr<ServerReplication> replication(new ServerReplication(store, settings));
  // min-replicas-to-write must refuse writes from the start, which the Primary does; a
  // resumed history must be logged from the first write on, or its offsets would lie.
  if (settings.min_replicas_to_write > 0 || !resume_from.replication_id.empty()) {
    MutexLock lock(&replication->mu_);
    MIRRORKV_RETURN_IF_ERROR(replication->EnsurePrimaryLocked(resume_from));
  }
  return replication;
}

ServerReplication::ServerReplication(Store& store, const ReplicationSettings& settings)
    : store_(store), settings_(settings), standalone_id_(NewReplicationId()) {}

Status ServerReplication::EnsurePrimaryLocked(const ReplicationPosition& resume_from) {
  if (primary_ != nullptr) return Status::Ok();
  PrimaryOptions options = ToPrimaryOptions(settings_);
  options.resume_from = resume_from;
  Result<std::unique_ptr<Primary>> primary = Primary::Create(store_, options);
  if (!primary.ok()) return primary.status();
  primary_ = std::move(*primary);
  if (resume_from.replication_id.empty()) {
    Log(LogLevel::kNotice, "Replication backlog created, my new replication IDs are '%s' and '%s'",
        primary_->position().replication_id, std::string(40, '0'));
  } else {
    Log(LogLevel::kNotice,
        "Replication backlog created, continuing replication ID '%s' from offset %d (the "
        "snapshot's)",
        resume_from.replication_id, resume_from.offset);
  }
  return Status::Ok();
}

void ServerReplication::EndPrimarySavesLocked() {
  cancel_primary_saves_.store(true, std::memory_order_relaxed);
  while (primary_saves_ > 0) primary_saves_done_.Wait(&mu_);
  cancel_primary_saves_.store(false, std::memory_order_relaxed);
}

Result<SnapshotInfo> ServerReplication::SaveSnapshotFile(const std::string& path,
                                                         SnapshotOptions options) {
  std::shared_ptr<Primary> primary;
  {
    MutexLock lock(&mu_);
    if (replica_ == nullptr) primary = primary_;
    if (primary != nullptr) ++primary_saves_;
  }
  if (primary == nullptr) return mirrorkv::SaveSnapshotFile(store_, path, {}, options);
  options.cancelled = [this, cancelled = std::move(options.cancelled)] {
    return cancel_primary_saves_.load(std::memory_order_relaxed) ||
           (cancelled != nullptr && cancelled());
  };
  Result<SnapshotInfo> saved = primary->SaveSnapshotFile(path, options);
  if (!saved.ok() && cancel_primary_saves_.load(std::memory_order_relaxed)) {
    saved = saved.status().WithContext("the server stopped being a primary (REPLICAOF)");
  }
  MutexLock lock(&mu_);
  primary.reset();  // before the count: the last owner must be primary_
  if (--primary_saves_ == 0) primary_saves_done_.SignalAll();
  return saved;
}

ServerReplication::~ServerReplication() {
  MutexLock lock(&mu_);
  EndPrimarySavesLocked();
  if (replica_ != nullptr) replica_->Stop();  // also ends the WaitForApplied in progress
  replica_.reset();
  primary_.reset();  // disconnects the replicas, answers the WAITs
}

void ServerReplication::ResetPrimaryLocked() {
  if (primary_ == nullptr) return;
  ResyncCounters counters = primary_->resync_counters();
  past_resyncs_.full += counters.full - resyncs_at_reset_.full;
  past_resyncs_.partial_ok += counters.partial_ok - resyncs_at_reset_.partial_ok;
  past_resyncs_.partial_refused += counters.partial_refused - resyncs_at_reset_.partial_refused;
  resyncs_at_reset_ = {};
  primary_.reset();
}

bool ServerReplication::ReplicaOf(const std::string& host, uint16_t port,
                                  const ReplicationSettings& settings) {
  MutexLock lock(&mu_);
  // First, so that the role is decided with mu_ held from here on.
  EndPrimarySavesLocked();
  settings_ = settings;
  if (replica_ != nullptr) {
    if (host == master_host_ && port == master_port_) return false;
    master_host_ = host;
    master_port_ = port;
    replica_->SetConnector(ConnectorTo(host, port));
    Log(LogLevel::kNotice, "Connecting to MASTER %s:%d", host, port);
    return true;
  }
  // Continue from the primary's own position: a new primary that shares this history (a
  // replica of ours that was promoted) then needs only a partial resync. A server that
  // never had a replica has no history to continue: a full resync.
  ReplicaOptions options;
  options.backlog_bytes = settings.backlog_bytes;
  options.listening_port = settings.listening_port;
  options.password = settings.masterauth;
  options.skip_unsupported = settings.skip_unsupported_data;
  options.on_event = [](bool warning, const std::string& message) {
    Log(warning ? LogLevel::kWarning : LogLevel::kNotice, "%s", message);
  };
  if (primary_ != nullptr) {
    Log(LogLevel::kNotice,
        "Before turning into a replica, using my own master parameters "
        "to synthesize a cached master: I may be able to synchronize with the new master "
        "with just a partial transfer.");
    options.resume_from = primary_->position();
    // The Primary goes before the Store switches to replica mode, so that nothing applied
    // from the new primary is logged into it.
    ResetPrimaryLocked();
  }
  Result<std::unique_ptr<Replica>> replica =
      Replica::Create(store_, ConnectorTo(host, port), options);
  // Create fails only for a malformed resume position, which a Primary never reports.
  MIRRORKV_CHECK(replica.ok());
  replica_ = std::move(*replica);
  master_host_ = host;
  master_port_ = port;
  replica_->Start();
  Log(LogLevel::kNotice, "Connecting to MASTER %s:%d", host, port);
  return true;
}

Status ServerReplication::PromoteToPrimary(const ReplicationSettings& settings) {
  MutexLock lock(&mu_);
  settings_ = settings;
  if (replica_ == nullptr) return Status::Ok();
  Result<std::unique_ptr<Primary>> primary = replica_->Promote(ToPrimaryOptions(settings));
  if (!primary.ok()) return primary.status();
  replica_.reset();
  primary_ = std::move(*primary);
  master_host_.clear();
  master_port_ = 0;
  Log(LogLevel::kNotice, "MASTER MODE enabled (user request from the REPLICAOF NO ONE command)");
  return Status::Ok();
}

Status ServerReplication::CheckCanServeReplicas() const {
  MutexLock lock(&mu_);
  if (replica_ == nullptr) return Status::Ok();
  return Status::FailedPrecondition(
      "ERR mirrorkv-server does not serve replicas while it is a replica itself");
}

void ServerReplication::ServeReplica(int fd, std::string peer, std::string already_read,
                                     ReplicaHandshake handshake) {
  std::unique_ptr<Transport> transport = TcpTransportFromSocket(fd, peer);
  if (!already_read.empty()) {
    transport = std::make_unique<PrefixedTransport>(std::move(already_read), std::move(transport));
  }
  MutexLock lock(&mu_);
  if (replica_ != nullptr) return;  // became a replica meanwhile: the socket closes
  Status created = EnsurePrimaryLocked();
  if (!created.ok()) {
    Log(LogLevel::kWarning, "Can't serve replica %s: %s", peer, created.message());
    return;
  }
  Log(LogLevel::kNotice, "Replica %s asks for synchronization", peer);
  internal::ServeHandshaken(*primary_, std::move(transport), handshake);
}

void ServerReplication::WaitForReplicas(size_t count, std::chrono::milliseconds timeout, bool block,
                                        std::function<bool()> abandoned,
                                        std::function<void(Result<size_t>)> done) {
  MutexLock lock(&mu_);
  if (replica_ != nullptr) {
    done(Status::FailedPrecondition(
        "ERR WAIT cannot be used with replica instances. Please also note that since Redis "
        "4.0 if a replica is configured to be writable (which is not the default) writes to "
        "replicas are just local and are not propagated."));
    return;
  }
  if (!block || count == 0) {
    done(primary_ != nullptr ? primary_->WaitForReplicas(count, std::chrono::milliseconds(0))
                             : size_t{0});
    return;
  }
  Status created = EnsurePrimaryLocked();
  if (!created.ok()) {
    done(Status::ResourceExhausted(absl::StrCat("ERR ", internal::AsAbsl(created.message()))));
    return;
  }
  auto deadline = timeout.count() > 0 ? std::chrono::steady_clock::now() + timeout
                                      : std::chrono::steady_clock::time_point::max();
  // `done` may run on the Primary's thread, or right here when the count is reached.
  primary_->WaitForReplicasAsync(count, deadline, std::move(abandoned),
                                 [done = std::move(done)](size_t acked) { done(acked); });
}

size_t ServerReplication::replica_count() const {
  MutexLock lock(&mu_);
  return primary_ != nullptr ? primary_->replica_count() : 0;
}

void ServerReplication::ResetStats() {
  MutexLock lock(&mu_);
  past_resyncs_ = {};
  resyncs_at_reset_ = primary_ != nullptr ? primary_->resync_counters() : ResyncCounters{};
}

Status ServerReplication::SetMinReplicas(size_t count, std::chrono::milliseconds max_lag) {
  MutexLock lock(&mu_);
  settings_.min_replicas_to_write = count;
  settings_.min_replicas_max_lag = max_lag;
  if (replica_ != nullptr) return Status::Ok();  // applied by a promotion
  if (primary_ == nullptr && count > 0) return EnsurePrimaryLocked();
  if (primary_ != nullptr) primary_->SetMinReplicas(count, max_lag);
  return Status::Ok();
}

std::optional<ServerReplication::WriteTarget> ServerReplication::ForwardTarget() const {
  MutexLock lock(&mu_);
  if (replica_ == nullptr) return std::nullopt;
  return WriteTarget{master_host_, master_port_, settings_.masterauth,
                     replica_->status().full_resyncs};
}

Status ServerReplication::WaitForApplied(const WriteFence& fence,
                                         std::chrono::milliseconds timeout) const {
  const ReplicationPosition& wanted = fence.position;
  std::shared_ptr<Replica> replica;
  bool held_as_primary = false;
  {
    MutexLock lock(&mu_);
    replica = replica_;
    if (replica == nullptr && primary_ != nullptr && fence.streamed) {
      // Promoted meanwhile: the history followed so far is the secondary id's.
      for (const ReplicationPosition& reached :
           {primary_->position(), primary_->secondary_position()}) {
        if (reached.replication_id == wanted.replication_id && reached.offset >= wanted.offset) {
          held_as_primary = true;
        }
      }
    }
  }
  if (replica == nullptr) {
    if (held_as_primary) return Status::Ok();
    return Status::Unavailable(
        absl::StrCat("this node became the primary before it applied the write (",
                     wanted.replication_id, " offset ", wanted.offset, "); the write may be lost"));
  }
  const auto start = std::chrono::steady_clock::now();
  if (fence.streamed ? replica->WaitForPosition(wanted, timeout)
                     : replica->WaitForFullResync(fence.full_resyncs_before, timeout)) {
    return Status::Ok();
  }
  const ReplicationPosition applied = replica->position();
  std::string why = fence.streamed
                        ? absl::StrCat("the write is on the primary (", wanted.replication_id,
                                       " offset ", wanted.offset, ") but this node holds only ",
                                       applied.replication_id, " offset ", applied.offset)
                        : std::string(
                              "the write is on a primary that keeps no replication stream yet, and "
                              "this node has not finished the full resync that would bring it");
  if (std::chrono::steady_clock::now() - start >= timeout) return Status::DeadlineExceeded(why);
  return Status::Unavailable(absl::StrCat(why, " when it stopped following"));
}

bool ServerReplication::is_replica() const {
  MutexLock lock(&mu_);
  return replica_ != nullptr;
}

ReplicationReport ServerReplication::Report() const {
  MutexLock lock(&mu_);
  ReplicationReport report;
  report.backlog_bytes = settings_.backlog_bytes;
  report.resyncs = past_resyncs_;
  if (replica_ != nullptr) {
    report.replica = true;
    report.backlog_active = true;
    report.master_host = master_host_;
    report.master_port = master_port_;
    report.link = replica_->status();
    report.position = report.link.position;
    report.backlog_first_offset = report.link.backlog_first_offset;
  } else if (primary_ != nullptr) {
    report.backlog_active = true;
    report.position = primary_->position();
    report.backlog_first_offset = primary_->backlog_first_offset();
    report.secondary = primary_->secondary_position();
    report.replicas = primary_->replicas();
    ResyncCounters counters = primary_->resync_counters();
    report.resyncs.full += counters.full - resyncs_at_reset_.full;
    report.resyncs.partial_ok += counters.partial_ok - resyncs_at_reset_.partial_ok;
    report.resyncs.partial_refused += counters.partial_refused - resyncs_at_reset_.partial_refused;
  } else {
    report.position = {standalone_id_, 0};
  }
  return report;
}

ServerReplication::EffectGroup::EffectGroup(ServerReplication& replication) {
  std::shared_ptr<Primary> primary;
  {
    MutexLock lock(&replication.mu_);
    primary = replication.primary_;
  }
  if (primary != nullptr) primary->BeginEffectGroup();
  primary_ = primary;
}

ServerReplication::EffectGroup::~EffectGroup() {
  if (std::shared_ptr<Primary> primary = primary_.lock()) primary->EndEffectGroup();
}

}  // namespace mirrorkv::server
