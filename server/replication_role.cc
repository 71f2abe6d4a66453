// ServerReplication: the server's primary or replica role. See replication_role.h.
#include "server/replication_role.h"

#include <algorithm>
#include <cstring>
#include <thread>
#include <utility>

#include "engine/base/check.h"
#include "server/logger.h"

namespace mirrorkv::server {
namespace {

// How long a replica waits for the TCP connection to its primary before retrying.
constexpr std::chrono::milliseconds kConnectTimeout{5000};
// WAIT waits in slices this long, so that a role change (which waits for the Primary's
// other users to let go) and shutdown are never held up for longer.
constexpr std::chrono::milliseconds kWaitSlice{100};

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
    Store& store, const ReplicationSettings& settings) {
  std::unique_ptr<ServerReplication> replication(new ServerReplication(store, settings));
  // min-replicas-to-write must refuse writes from the start, which the Primary does.
  if (settings.min_replicas_to_write > 0) {
    MutexLock lock(&replication->mu_);
    MIRRORKV_RETURN_IF_ERROR(replication->EnsurePrimaryLocked());
  }
  return replication;
}

ServerReplication::ServerReplication(Store& store, const ReplicationSettings& settings)
    : store_(store), settings_(settings), standalone_id_(NewReplicationId()) {}

Status ServerReplication::EnsurePrimaryLocked() {
  if (primary_ != nullptr) return Status::Ok();
  Result<std::unique_ptr<Primary>> primary = Primary::Create(store_, ToPrimaryOptions(settings_));
  if (!primary.ok()) return primary.status();
  primary_ = std::move(*primary);
  Log(LogLevel::kNotice, "Replication backlog created, my new replication IDs are '%s' and '%s'",
      primary_->position().replication_id, std::string(40, '0'));
  return Status::Ok();
}

ServerReplication::~ServerReplication() {
  stopping_.store(true, std::memory_order_relaxed);
  {
    MutexLock lock(&waiters_mu_);
    for (Waiter& waiter : waiters_) waiter.thread.join();
    waiters_.clear();
  }
  MutexLock lock(&mu_);
  replica_.reset();  // stops the link thread
  primary_.reset();  // disconnects the replicas
}

bool ServerReplication::ReplicaOf(const std::string& host, uint16_t port,
                                  const ReplicationSettings& settings) {
  MutexLock lock(&mu_);
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
  if (primary_ != nullptr) {
    Log(LogLevel::kNotice,
        "Before turning into a replica, using my own master parameters "
        "to synthesize a cached master: I may be able to synchronize with the new master "
        "with just a partial transfer.");
    options.resume_from = primary_->position();
    // The Primary goes before the Store switches to replica mode, so that nothing applied
    // from the new primary is logged into it. A WAIT may still hold it for one slice.
    while (primary_.use_count() > 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    primary_.reset();
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

Result<size_t> ServerReplication::WaitSlice(size_t count, std::chrono::milliseconds slice) {
  std::shared_ptr<Primary> primary;
  {
    MutexLock lock(&mu_);
    if (replica_ == nullptr && primary_ == nullptr) return size_t{0};  // no replica ever
    primary = primary_;
  }
  if (primary == nullptr) {
    return Status::FailedPrecondition(
        "ERR WAIT cannot be used with replica instances. Please also note that since Redis "
        "4.0 if a replica is configured to be writable (which is not the default) writes to "
        "replicas are just local and are not propagated.");
  }
  return primary->WaitForReplicas(count, slice);
}

// Each slice counts against the log's end at its own start, which only grows: a replica
// counted in any slice has acknowledged everything logged before the WAIT, so the best
// count of all slices is the answer. A slice that returns early without enough replicas
// (none connected: the Primary answers at once) sleeps out its time instead of spinning.
Result<size_t> ServerReplication::WaitLoop(size_t count, std::chrono::milliseconds timeout,
                                           const std::function<bool()>& abandoned) {
  using Clock = std::chrono::steady_clock;
  Clock::time_point deadline = Clock::now() + timeout;
  size_t best = 0;
  while (true) {
    std::chrono::milliseconds slice = kWaitSlice;
    if (timeout.count() > 0) {
      slice =
          std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()),
                     std::chrono::milliseconds(0), kWaitSlice);
    }
    Clock::time_point slice_end = Clock::now() + slice;
    Result<size_t> acked = WaitSlice(count, slice);
    if (!acked.ok()) return acked;
    best = std::max(best, *acked);
    if (best >= count || stopping_.load(std::memory_order_relaxed) || abandoned()) return best;
    if (timeout.count() > 0 && Clock::now() >= deadline) return best;
    std::this_thread::sleep_until(slice_end);
  }
}

void ServerReplication::WaitForReplicas(size_t count, std::chrono::milliseconds timeout, bool block,
                                        std::function<bool()> abandoned,
                                        std::function<void(Result<size_t>)> done) {
  if (!block) {
    done(WaitSlice(count, std::chrono::milliseconds(0)));
    return;
  }
  MutexLock lock(&waiters_mu_);
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (it->finished.load(std::memory_order_acquire)) {
      it->thread.join();
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
  Waiter& waiter = waiters_.emplace_back();
  waiter.thread = std::thread(
      [this, &waiter, count, timeout, abandoned = std::move(abandoned), done = std::move(done)] {
        done(WaitLoop(count, timeout, abandoned));
        waiter.finished.store(true, std::memory_order_release);
      });
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

bool ServerReplication::is_replica() const {
  MutexLock lock(&mu_);
  return replica_ != nullptr;
}

ReplicationReport ServerReplication::Report() const {
  MutexLock lock(&mu_);
  ReplicationReport report;
  report.backlog_bytes = settings_.backlog_bytes;
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
  } else {
    report.position = {standalone_id_, 0};
  }
  return report;
}

}  // namespace mirrorkv::server
