// Primary: handshake, resync decisions, snapshot and stream sessions, WAIT, monitor.
#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "engine/base/monotonic.h"
#include "engine/base/numbers.h"
#include "engine/base/strings.h"
#include "engine/store_impl.h"
#include "replication/primary_impl.h"
#include "replication/resp.h"

namespace mirrorkv {
namespace {

using SteadyClock = std::chrono::steady_clock;
using internal::AsAbsl;

using internal::MonotonicMillis;

// An RDB holding nothing, for a redis-server replica's full resync: the magic with
// version 9 (every Redis since 5 loads it), the EOF opcode, and a zero checksum, which
// Redis reads as "checksum not computed". The data set follows as commands.
constexpr std::string_view kEmptyRdb("REDIS0009\xff\0\0\0\0\0\0\0\0", 18);

constexpr std::string_view kPing = "*1\r\n$4\r\nPING\r\n";
constexpr std::string_view kGetAck = "*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n";
constexpr std::string_view kNoReplicas = "NOREPLICAS Not enough good replicas to write.";

}  // namespace

namespace internal {

// Copies the log aside from a full resync's start offset while the snapshot is being
// sent, so that a long sync cannot lose its start to the backlog wrapping around (the
// role of Redis's replica output buffer). Drain then sends what was copied until the
// copy has caught up with the log, from where the session streams the log directly.
class CatchUp {
 public:
  CatchUp(const internal::CommandLog& log, size_t limit) : log_(log), limit_(limit) {}
  ~CatchUp() { StopAndJoin(); }

  void Start(uint64_t from) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      MutexLock lock(&mu_);
      pos_ = from;
    }
    thread_ = std::thread([this, from] { Run(from); });
  }

  // Sends the copied bytes until the copy is level with the log; returns the offset
  // after the last byte sent.
  Result<uint64_t> Drain(Transport& transport) ABSL_LOCKS_EXCLUDED(mu_) {
    std::string sending;
    while (true) {
      uint64_t pos;
      {
        MutexLock lock(&mu_);
        MIRRORKV_RETURN_IF_ERROR(status_);
        sending.swap(buffer_);
        buffer_.clear();
        pos = pos_;
        if (sending.empty() && pos == log_.end_offset()) {
          stop_ = true;  // bytes the copier appends from here on are ignored
          break;
        }
      }
      if (sending.empty()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      MIRRORKV_RETURN_IF_ERROR(transport.Send(sending));
    }
    StopAndJoin();
    MutexLock lock(&mu_);
    return pos_ - buffer_.size();
  }

 private:
  void Run(uint64_t pos) ABSL_LOCKS_EXCLUDED(mu_) {
    std::string chunk;
    while (true) {
      {
        MutexLock lock(&mu_);
        if (stop_) return;
      }
      if (!log_.WaitForData(pos, std::chrono::milliseconds(20))) continue;
      chunk.clear();
      Result<size_t> n = log_.Read(pos, 1 << 20, &chunk);
      MutexLock lock(&mu_);
      if (stop_) return;
      if (!n.ok()) {
        status_ = n.status();
        return;
      }
      pos += *n;
      pos_ = pos;
      buffer_ += chunk;
      if (buffer_.size() > limit_) {
        status_ = Status::ResourceExhausted(
            "the replica fell further behind during its sync than sync_buffer_limit allows");
        return;
      }
    }
  }

  void StopAndJoin() ABSL_LOCKS_EXCLUDED(mu_) {
    {
      MutexLock lock(&mu_);
      stop_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }

  const internal::CommandLog& log_;
  const size_t limit_;
  Mutex mu_;
  std::string buffer_ ABSL_GUARDED_BY(mu_);
  uint64_t pos_ ABSL_GUARDED_BY(mu_) = 0;  // the offset just after buffer_
  Status status_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace internal

std::string NewReplicationId() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device device;
  std::mt19937_64 rng((uint64_t{device()} << 32) ^ device() ^
                      static_cast<uint64_t>(SteadyClock::now().time_since_epoch().count()));
  std::string id(40, '0');
  for (char& c : id) c = kHex[rng() & 15];
  return id;
}

struct Primary::Impl::Session {
  std::unique_ptr<Transport> transport;
  std::thread thread;
  std::atomic<bool> done{false};    // RunSession returned; the thread can be joined
  std::atomic<bool> closed{false};  // the link broke (set by either thread)
  std::atomic<bool> online{false};  // past the sync, streaming
  std::atomic<uint16_t> listening_port{0};
  // Relaxed: statistics and thresholds, read without ordering other data.
  std::atomic<uint64_t> acked_offset{0};
  std::atomic<int64_t> last_ack_ms{0};
  // The offset up to which the stream was handed to the transport. An acknowledgement
  // counts only up to here: a replica (buggy, or of another history) that acknowledges
  // bytes this session never sent must not make WAIT confirm them.
  std::atomic<uint64_t> sent_offset{0};

  uint64_t confirmed_offset() const {
    return std::min(acked_offset.load(std::memory_order_relaxed),
                    sent_offset.load(std::memory_order_relaxed));
  }
};

Primary::Impl::Impl(Store& store, const PrimaryOptions& options,
                    std::unique_ptr<internal::CommandLog> log, std::string replication_id,
                    ReplicationPosition secondary)
    : store_(store),
      options_(options),
      log_(std::move(log)),
      replication_id_(std::move(replication_id)),
      secondary_(std::move(secondary)),
      min_replicas_to_write_(options.min_replicas_to_write),
      min_replicas_max_lag_ms_(options.min_replicas_max_lag.count()) {
  store_.impl().SetReplicationSink(log_.get());
  UpdateWriteRefusal();
  monitor_ = std::thread([this] { MonitorMain(); });
}

Primary::Impl::~Impl() {
  // No new replicas from here on: each listener's accept thread is joined.
  std::vector<std::unique_ptr<internal::TcpListener>> listeners;
  {
    MutexLock lock(&mu_);
    listeners.swap(listeners_);
  }
  listeners.clear();
  // Stop logging first, so nothing appends to a log that is going away.
  store_.impl().SetReplicationSink(nullptr);
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    for (auto& session : sessions_) session->transport->Close();
  }
  stop_cv_.SignalAll();
  log_->Close();
  monitor_.join();
  {
    // After the monitor, which could otherwise refuse writes again.
    MutexLock lock(&refusal_mu_);
    if (refusing_) store_.impl().SetWriteRefusal(Status::Ok());
  }
  std::list<std::unique_ptr<Session>> sessions;
  {
    MutexLock lock(&mu_);
    sessions.swap(sessions_);
  }
  for (auto& session : sessions) session->thread.join();
  store_.impl().ReleaseReplicationRole();
}

void Primary::Impl::Serve(std::unique_ptr<Transport> transport) {
  StartSession(std::move(transport), std::nullopt);
}

void Primary::Impl::ServeHandshaken(std::unique_ptr<Transport> transport,
                                    const internal::ReplicaHandshake& handshake) {
  StartSession(std::move(transport), handshake);
}

Result<uint16_t> Primary::Impl::ListenTcp(const std::string& address, uint16_t port) {
  MIRRORKV_ASSIGN_OR_RETURN(
      std::unique_ptr<internal::TcpListener> listener,
      internal::TcpListener::Open(address, port, [this](std::unique_ptr<Transport> transport) {
        Serve(std::move(transport));
      }));
  uint16_t bound = listener->port();
  MutexLock lock(&mu_);
  listeners_.push_back(std::move(listener));
  return bound;
}

void Primary::Impl::StartSession(std::unique_ptr<Transport> transport,
                                 std::optional<Handshake> handshake) {
  MutexLock lock(&mu_);
  if (stopping_) return;  // the transport is closed as it goes out of scope
  auto session = std::make_unique<Session>();
  session->transport = std::move(transport);
  Session* raw = session.get();
  sessions_.push_back(std::move(session));
  raw->thread = std::thread([this, raw, handshake] { RunSession(*raw, handshake); });
}

ReplicationPosition Primary::Impl::position() const {
  return {replication_id_, log_->end_offset()};
}

ReplicationPosition Primary::Impl::secondary_position() const { return secondary_; }

// --- Sessions ---

void Primary::Impl::RunSession(Session& session, std::optional<Handshake> given) {
  internal::TransportReader reader(*session.transport, options_.replica_timeout);
  Status status;
  if (!given.has_value()) {
    given.emplace(options_.password);
    status = ReadHandshake(session, reader, &*given);
  }
  const Handshake& handshake = *given;
  std::optional<uint64_t> start;
  bool partial = false;
  internal::CatchUp catch_up(*log_, options_.sync_buffer_limit);
  std::thread acks;
  if (status.ok()) {
    session.listening_port.store(handshake.listening_port(), std::memory_order_relaxed);
    start = PartialResyncStart(handshake);
    partial = start.has_value();
    if (partial) {
      status = session.transport->Send(absl::StrCat("+CONTINUE ", replication_id_, "\r\n"));
    } else {
      Result<uint64_t> resumed = FullResync(session, handshake, &catch_up);
      status = resumed.status();
      if (resumed.ok()) start = *resumed;
    }
  }
  if (status.ok()) {
    // After a partial resync the replica holds everything before `start`; after a full
    // one it holds nothing until it has loaded the snapshot and says so in an ACK. WAIT
    // must not count it before that.
    session.acked_offset.store(partial ? *start : 0, std::memory_order_relaxed);
    session.sent_offset.store(*start, std::memory_order_relaxed);
    session.last_ack_ms.store(MonotonicMillis(), std::memory_order_relaxed);
    session.online.store(true, std::memory_order_release);
    acks = std::thread([this, &session, &reader] { ReadAcks(session, &reader); });
    // After a full resync, the bytes logged while the snapshot was sent; then the log.
    if (!partial) {
      Result<uint64_t> drained = catch_up.Drain(*session.transport);
      status = drained.status();
      if (drained.ok()) {
        start = *drained;
        session.sent_offset.store(*start, std::memory_order_relaxed);
      }
    }
    if (status.ok()) status = Stream(session, *start);
  }
  session.closed.store(true, std::memory_order_release);
  session.transport->Close();
  if (acks.joinable()) acks.join();
  session.online.store(false, std::memory_order_release);
  session.done.store(true, std::memory_order_release);
}

Status Primary::Impl::ReadHandshake(Session& session, internal::TransportReader& reader,
                                    Handshake* handshake) {
  std::vector<std::string_view> args;
  std::string reply;
  while (true) {
    size_t consumed = 0;
    MIRRORKV_RETURN_IF_ERROR(internal::ParseCommand(reader.buffered(), {}, &args, &consumed));
    if (consumed == 0) {
      MIRRORKV_RETURN_IF_ERROR(reader.Fill());
      continue;
    }
    reply.clear();
    bool psync = handshake->Handle(args, &reply);
    reader.Consume(consumed);
    if (psync) return Status::Ok();
    if (!reply.empty()) MIRRORKV_RETURN_IF_ERROR(session.transport->Send(reply));
  }
}

std::optional<uint64_t> Primary::Impl::PartialResyncStart(const Handshake& handshake) const {
  // PSYNC's offset is the replica's offset plus one, as in Redis.
  if (handshake.offset() < 1) return std::nullopt;
  uint64_t start = static_cast<uint64_t>(handshake.offset() - 1);
  if (start < log_->first_offset() || start > log_->end_offset()) return std::nullopt;
  if (handshake.replication_id() == replication_id_) return start;
  // The previous history is shared up to the promotion offset, not after it.
  if (!secondary_.replication_id.empty() &&
      handshake.replication_id() == secondary_.replication_id && start <= secondary_.offset) {
    return start;
  }
  return std::nullopt;
}

Result<uint64_t> Primary::Impl::FullResync(Session& session, const Handshake& handshake,
                                           internal::CatchUp* catch_up) {
  // The snapshot starts at `offset`: every change logged from here on is in the stream
  // after it, so the fuzzy snapshot plus that stream gives the exact data set.
  const uint64_t offset = log_->end_offset();
  MIRRORKV_RETURN_IF_ERROR(
      session.transport->Send(absl::StrCat("+FULLRESYNC ", replication_id_, " ", offset, "\r\n")));
  catch_up->Start(offset);

  Status sent;
  if (handshake.mirrorkv_snapshot()) {
    // "$EOF:<mark>" framing: the snapshot is streamed without knowing its length; the
    // replica's reader consumes exactly the snapshot, then checks the mark.
    std::string mark = NewReplicationId();
    sent = session.transport->Send(absl::StrCat("$EOF:", mark, "\r\n"));
    if (sent.ok()) {
      internal::TransportWritableFile sink(*session.transport);
      sent = WriteSnapshot(store_, {replication_id_, offset}, sink).status();
    }
    if (sent.ok()) sent = session.transport->Send(mark);
  } else {
    // A redis-server replica: an empty RDB, then every key as a SET in the stream. Each
    // SET is logged with its stripe locked, so it takes its place among the writes to
    // that key in the same order as they happened.
    sent = session.transport->Send(absl::StrCat("$", kEmptyRdb.size(), "\r\n", AsAbsl(kEmptyRdb)));
    if (sent.ok()) {
      int64_t now = store_.impl().clock().NowMillis();
      std::string command;
      uint64_t cursor = 0;
      do {
        cursor = store_.impl().Walk(
            cursor, 1024, [&](std::string_view key, std::string_view value, int64_t deadline) {
              if (deadline > 0 && deadline <= now) return;
              command.clear();
              Mutation set{MutationKind::kSet, MutationCause::kWrite, key, value, deadline};
              internal::EncodeMutations({&set, 1}, &command);
              log_->Append(command);
            });
      } while (cursor != 0);
    }
  }
  MIRRORKV_RETURN_IF_ERROR(sent);
  return offset;
}

Status Primary::Impl::Stream(Session& session, uint64_t from) {
  uint64_t pos = from;
  std::string out;
  while (!session.closed.load(std::memory_order_acquire)) {
    if (!log_->WaitForData(pos, std::chrono::milliseconds(100))) continue;
    out.clear();
    Result<size_t> n = log_->Read(pos, 1 << 20, &out);
    if (!n.ok()) return n.status();  // fell out of the backlog: the replica resyncs
    MIRRORKV_RETURN_IF_ERROR(session.transport->Send(out));
    pos += *n;
    session.sent_offset.store(pos, std::memory_order_relaxed);
  }
  return Status::Ok();
}

void Primary::Impl::ReadAcks(Session& session, internal::TransportReader* reader) {
  std::vector<std::string_view> args;
  while (!session.closed.load(std::memory_order_acquire)) {
    size_t consumed = 0;
    if (!internal::ParseCommand(reader->buffered(), {}, &args, &consumed).ok()) break;
    if (consumed == 0) {
      Status filled = reader->Fill(std::chrono::milliseconds(200));
      if (filled.ok() || filled.code() == StatusCode::kDeadlineExceeded) continue;
      break;  // closed or failed
    }
    int64_t offset = 0;
    if (args.size() >= 3 && internal::EqualsIgnoreCase(args[0], "REPLCONF") &&
        internal::EqualsIgnoreCase(args[1], "ACK") && internal::ParseInt64(args[2], &offset) &&
        offset >= 0) {
      uint64_t previous = session.acked_offset.load(std::memory_order_relaxed);
      session.acked_offset.store(std::max(previous, static_cast<uint64_t>(offset)),
                                 std::memory_order_relaxed);
      session.last_ack_ms.store(MonotonicMillis(), std::memory_order_relaxed);
      MutexLock lock(&ack_mu_);
      ack_cv_.SignalAll();
    }
    reader->Consume(consumed);
  }
  session.closed.store(true, std::memory_order_release);
  session.transport->Close();
}

// --- WAIT, status, monitor ---

size_t Primary::Impl::WaitForReplicas(size_t count, std::chrono::milliseconds timeout) {
  // Everything logged before the call, including the caller's last write even while an
  // earlier append of another thread is still being copied.
  const uint64_t target = log_->reserved_end();
  auto count_acked = [&] {
    MutexLock lock(&mu_);
    size_t acked = 0;
    for (const auto& s : sessions_) {
      acked += s->online.load(std::memory_order_acquire) && s->confirmed_offset() >= target;
    }
    return acked;
  };
  size_t acked = count_acked();
  if (acked >= count) return acked;
  // Ask now rather than wait up to ack_interval for the periodic acknowledgement.
  log_->Append(kGetAck);
  auto deadline = SteadyClock::now() + timeout;
  while (true) {
    {
      MutexLock lock(&ack_mu_);
      acked = count_acked();
      if (acked >= count || SteadyClock::now() >= deadline) return acked;
      // An ack between count_acked and this wait signals under ack_mu_, which this
      // thread holds until it waits: no wakeup is lost.
      ack_cv_.WaitWithTimeout(&ack_mu_,
                              std::min<SteadyClock::duration>(deadline - SteadyClock::now(),
                                                              std::chrono::milliseconds(50)));
    }
  }
}

std::vector<ReplicaInfo> Primary::Impl::replicas() const {
  uint64_t end = log_->end_offset();
  int64_t now = MonotonicMillis();
  std::vector<ReplicaInfo> out;
  MutexLock lock(&mu_);
  for (const auto& s : sessions_) {
    if (s->done.load(std::memory_order_acquire)) continue;
    ReplicaInfo info;
    info.peer = s->transport->peer();
    info.listening_port = s->listening_port.load(std::memory_order_relaxed);
    info.online = s->online.load(std::memory_order_acquire);
    info.acked_offset = s->acked_offset.load(std::memory_order_relaxed);
    info.lag_bytes = end > info.acked_offset ? end - info.acked_offset : 0;
    info.since_ack =
        std::chrono::milliseconds(now - s->last_ack_ms.load(std::memory_order_relaxed));
    out.push_back(std::move(info));
  }
  return out;
}

void Primary::Impl::ReapSessions() {
  std::list<std::unique_ptr<Session>> finished;
  {
    MutexLock lock(&mu_);
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      if ((*it)->done.load(std::memory_order_acquire)) {
        finished.push_back(std::move(*it));
        it = sessions_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& session : finished) session->thread.join();
}

void Primary::Impl::MonitorMain() {
  // 100 ms: the resolution of ping scheduling, timeouts and min-replicas checks.
  constexpr auto kTick = std::chrono::milliseconds(100);
  int64_t last_ping = MonotonicMillis();
  while (true) {
    {
      MutexLock lock(&mu_);
      if (stopping_) return;
      stop_cv_.WaitWithTimeout(&mu_, kTick);
      if (stopping_) return;
    }
    ReapSessions();
    int64_t now = MonotonicMillis();
    size_t connected = 0;
    {
      MutexLock lock(&mu_);
      for (const auto& s : sessions_) {
        ++connected;
        if (!s->online.load(std::memory_order_acquire)) continue;
        int64_t since_ack = now - s->last_ack_ms.load(std::memory_order_relaxed);
        if (since_ack > options_.replica_timeout.count()) {
          s->closed.store(true, std::memory_order_release);
          s->transport->Close();
        }
      }
    }
    if (connected > 0 && now - last_ping >= options_.ping_interval.count()) {
      log_->Append(kPing);
      last_ping = now;
    }
    UpdateWriteRefusal();
  }
}

size_t Primary::Impl::GoodReplicas(int64_t now_ms, int64_t max_lag_ms) const {
  MutexLock lock(&mu_);
  size_t good = 0;
  for (const auto& s : sessions_) {
    good += s->online.load(std::memory_order_acquire) &&
            !s->closed.load(std::memory_order_acquire) &&
            now_ms - s->last_ack_ms.load(std::memory_order_relaxed) <= max_lag_ms;
  }
  return good;
}

void Primary::Impl::UpdateWriteRefusal() {
  MutexLock lock(&refusal_mu_);
  const size_t needed = min_replicas_to_write_.load(std::memory_order_relaxed);
  const int64_t max_lag_ms = min_replicas_max_lag_ms_.load(std::memory_order_relaxed);
  bool refuse = needed > 0 && GoodReplicas(MonotonicMillis(), max_lag_ms) < needed;
  if (refuse == refusing_) return;
  refusing_ = refuse;
  store_.impl().SetWriteRefusal(refuse ? Status::FailedPrecondition(kNoReplicas) : Status::Ok());
}

void Primary::Impl::SetMinReplicas(size_t count, std::chrono::milliseconds max_lag) {
  min_replicas_to_write_.store(count, std::memory_order_relaxed);
  min_replicas_max_lag_ms_.store(max_lag.count(), std::memory_order_relaxed);
  UpdateWriteRefusal();
}

// --- Public wrappers ---

Result<std::unique_ptr<Primary>> Primary::Create(Store& store, const PrimaryOptions& options) {
  if (!options.resume_from.replication_id.empty() &&
      options.resume_from.replication_id.size() != 40) {
    return Status::InvalidArgument("a replication id has 40 characters");
  }
  MIRRORKV_RETURN_IF_ERROR(store.impl().ClaimReplicationRole(kPrimaryHolder));
  if (store.impl().replica()) {
    store.impl().ReleaseReplicationRole();
    return Status::FailedPrecondition(
        "a replica-mode Store cannot become a primary; call Store::LeaveReplicaMode first, "
        "or promote its Replica");
  }
  std::string id = options.resume_from.replication_id.empty() ? NewReplicationId()
                                                              : options.resume_from.replication_id;
  uint64_t start = options.resume_from.replication_id.empty() ? 0 : options.resume_from.offset;
  auto log = std::make_unique<internal::CommandLog>(options.backlog_bytes, start);
  return std::unique_ptr<Primary>(new Primary(std::make_unique<Impl>(
      store, options, std::move(log), std::move(id), ReplicationPosition{})));
}

Primary::Primary(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Primary::~Primary() = default;

void Primary::Serve(std::unique_ptr<Transport> transport) { impl_->Serve(std::move(transport)); }

Result<uint16_t> Primary::ListenTcp(const std::string& address, uint16_t port) {
  return impl_->ListenTcp(address, port);
}

ReplicationPosition Primary::position() const { return impl_->position(); }
ReplicationPosition Primary::secondary_position() const { return impl_->secondary_position(); }

size_t Primary::WaitForReplicas(size_t count, std::chrono::milliseconds timeout) {
  return impl_->WaitForReplicas(count, timeout);
}

std::vector<ReplicaInfo> Primary::replicas() const { return impl_->replicas(); }

uint64_t Primary::backlog_first_offset() const { return impl_->backlog_first_offset(); }

void Primary::SetMinReplicas(size_t count, std::chrono::milliseconds max_lag) {
  impl_->SetMinReplicas(count, max_lag);
}

}  // namespace mirrorkv
