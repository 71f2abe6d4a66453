// Primary: handshakes and ACKs (the receiver), resyncs (the sync workers), the shared
// replication buffer (the sender), WAIT.
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "engine/base/check.h"
#include "engine/base/monotonic.h"
#include "engine/base/numbers.h"
#include "engine/base/strings.h"
#include "engine/store_impl.h"
#include "mirrorkv/rdb.h"
#include "replication/primary_impl.h"
#include "replication/resp.h"
#include "replication/sync_payload.h"
#include "snapshot/snapshot_file.h"

namespace mirrorkv {
namespace {

using SteadyClock = std::chrono::steady_clock;
using internal::AsAbsl;

using internal::MonotonicMillis;

constexpr std::string_view kPing = "*1\r\n$4\r\nPING\r\n";
constexpr std::string_view kGetAck = "*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n";
constexpr std::string_view kNoReplicas = "NOREPLICAS Not enough good replicas to write.";

}  // namespace

std::string NewReplicationId() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device device;
  std::mt19937_64 rng((uint64_t{device()} << 32) ^ device() ^
                      static_cast<uint64_t>(SteadyClock::now().time_since_epoch().count()));
  std::string id(40, '0');
  for (char& c : id) c = kHex[rng() & 15];
  return id;
}

namespace {

// The receiver's and the sender's longest sleep, and the period of Tick.
constexpr auto kTick = std::chrono::milliseconds(100);
// How often transports that cannot be polled (in-process) are asked for data, and how
// long the sender waits for a socket to take more.
constexpr auto kTryInterval = std::chrono::milliseconds(5);
// The replication buffer grows by blocks of this size; the sender copies at most
// kPullBudget from the log per round, so that sending is never held up for long.
constexpr size_t kBlockBytes = 64 << 10;
constexpr size_t kPullBudget = 4 << 20;
// An unfinished command from a replica may hold at most this much.
constexpr size_t kMaxInbound = 1 << 20;
// A resync's sends are timed in pieces of this size (see TimedSends).
constexpr size_t kTimedSendBytes = 64 << 10;

// The blocking sends of a resync (its reply, the snapshot, the backlog), in timed
// pieces: while a piece waits for the replica to read, `blocked_since_ms` says since
// when, so that Tick can drop a replica that stopped reading mid-sync. Without it such a
// replica would hold one of the kSyncWorkers until it disconnects, and with two of them
// no other replica could sync. Only Send is timed; the rest is the wrapped transport's.
class TimedSends final : public Transport {
 public:
  TimedSends(Transport& inner, std::atomic<int64_t>* blocked_since_ms)
      : inner_(inner), blocked_since_ms_(blocked_since_ms) {}

  Status Send(std::string_view bytes) override {
    while (!bytes.empty()) {
      const std::string_view piece = bytes.substr(0, kTimedSendBytes);
      blocked_since_ms_->store(MonotonicMillis(), std::memory_order_relaxed);
      Status sent = inner_.Send(piece);
      blocked_since_ms_->store(0, std::memory_order_relaxed);
      MIRRORKV_RETURN_IF_ERROR(sent);
      bytes.remove_prefix(piece.size());
    }
    return Status::Ok();
  }
  Result<size_t> Receive(char* buffer, size_t capacity,
                         std::chrono::milliseconds timeout) override {
    return inner_.Receive(buffer, capacity, timeout);
  }
  void Close() override { inner_.Close(); }
  std::string peer() const override { return inner_.peer(); }

 private:
  Transport& inner_;
  std::atomic<int64_t>* const blocked_since_ms_;
};

}  // namespace

struct Primary::Impl::Session {
  std::unique_ptr<Transport> transport;
  int descriptor = -1;  // for poll(2); -1: the receiver asks with a zero timeout
  std::string peer;

  explicit Session(Handshake given) : handshake(std::move(given)) {}

  // The receiver's: bytes received and not yet parsed, and the handshake so far.
  std::string inbound;
  bool handshaking = true;
  Handshake handshake;

  // The sender's (under stream_mu_): the next stream offset to send, and since when
  // (monotonic ms) the output buffer has been over the soft limit, 0 if it is not.
  uint64_t stream_pos = 0;
  int64_t over_soft_since_ms = 0;

  std::atomic<bool> closed{false};
  std::atomic<bool> online{false};  // past the sync: the sender writes to it
  // A redis-server sent an RDB framed by an EOF mark finds the mark only at the end of
  // what it has read, so the stream must not follow the payload before the replica's
  // first ACK (as Redis's own primaries wait): set from the sync's end to that ACK.
  std::atomic<bool> stream_on_ack{false};
  std::atomic<uint16_t> listening_port{0};
  // Relaxed: statistics and thresholds, read without ordering other data.
  std::atomic<uint64_t> acked_offset{0};
  std::atomic<int64_t> last_ack_ms{0};
  // While a resync's send waits for the replica to read: since when (TimedSends); 0
  // otherwise.
  std::atomic<int64_t> send_blocked_since_ms{0};
  // The offset up to which the stream was handed to the transport (the snapshot of a
  // full resync counts as its offset). An acknowledgement counts only up to here: a
  // replica (buggy, or of another history) that acknowledges bytes this session never
  // sent must not make WAIT confirm them.
  std::atomic<uint64_t> sent_offset{0};
  // Whether the replica holds what its sync sent: at once after a partial resync, after
  // its first acknowledgement (sent once loaded) after a full one. WAIT counts no replica
  // before, even for an offset of 0 (a Primary that has logged nothing yet).
  std::atomic<bool> holds_sync{false};

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
  {
    MutexLock lock(&stream_mu_);
    buffer_end_ = log_->end_offset();
  }
  last_ping_ms_ = MonotonicMillis();  // the first PING one ping_interval from now
  store_.impl().SetReplicationSink(log_.get());
  UpdateWriteRefusal();
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    start_status_ = Status::ResourceExhausted(
        absl::StrCat("cannot create the replication primary's eventfd: ", std::strerror(errno)));
    return;
  }
  // std::thread reports a thread that cannot be created (EAGAIN at the task limit) by
  // throwing: that is an error of this call, not a reason to end the process.
  try {
    receiver_ = std::thread([this] { ReceiverMain(); });
    sender_ = std::thread([this] { SenderMain(); });
    for (size_t i = 0; i < kSyncWorkers; ++i)
      sync_workers_.emplace_back([this] { SyncWorkerMain(); });
  } catch (const std::system_error& error) {
    start_status_ = Status::ResourceExhausted(
        absl::StrCat("cannot start the replication primary's threads: ", error.what()));
  }
}

Primary::Impl::~Impl() {
  // No new replicas from here on: each listener's accepting thread is joined.
  std::vector<std::unique_ptr<internal::TcpListener>> listeners;
  {
    MutexLock lock(&mu_);
    listeners.swap(listeners_);
  }
  listeners.clear();
  // Stop logging first, so nothing appends to a log that is going away.
  store_.impl().SetReplicationSink(nullptr);
  // The WAITs still pending get the count of the moment.
  CompleteWaiters(/*all=*/true);
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    for (auto& session : sessions_) session->transport->Close();
  }
  sync_cv_.SignalAll();
  {
    MutexLock lock(&stream_mu_);
    sender_stopping_ = true;
  }
  stream_cv_.SignalAll();
  receiver_stopping_.store(true, std::memory_order_release);
  Wake();
  log_->Close();
  if (receiver_.joinable()) receiver_.join();
  if (sender_.joinable()) sender_.join();
  for (std::thread& worker : sync_workers_) worker.join();
  {
    // After the receiver, which could otherwise refuse writes again.
    MutexLock lock(&refusal_mu_);
    if (refusing_) store_.impl().SetWriteRefusal(Status::Ok());
  }
  if (wake_fd_ >= 0) ::close(wake_fd_);
  store_.impl().ReleaseReplicationRole();
}

void Primary::Impl::Log(std::string_view line) const {
  if (options_.event_logger) options_.event_logger(line);
}

void Primary::Impl::Wake() const {
  if (wake_fd_ < 0) return;
  uint64_t one = 1;
  // A full counter (EAGAIN) already wakes the receiver: nothing is lost.
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
}

void Primary::Impl::Serve(std::unique_ptr<Transport> transport) {
  auto session = std::make_shared<Session>(Handshake(options_.password));
  session->transport = std::move(transport);
  StartSession(std::move(session));
}

void Primary::Impl::ServeHandshaken(std::unique_ptr<Transport> transport,
                                    const Handshake& handshake) {
  auto session = std::make_shared<Session>(handshake);
  session->transport = std::move(transport);
  session->handshaking = false;
  StartSession(std::move(session));
}

Result<uint16_t> Primary::Impl::ListenTcp(const std::string& address, uint16_t port) {
  MIRRORKV_ASSIGN_OR_RETURN(
      std::unique_ptr<internal::TcpListener> listener,
      internal::TcpListener::Open(
          address, port,
          [this](std::unique_ptr<Transport> transport) { Serve(std::move(transport)); },
          [this](std::string_view line) { Log(line); }));
  uint16_t bound = listener->port();
  MutexLock lock(&mu_);
  if (stopping_) return Status::FailedPrecondition("the Primary is shutting down");
  listeners_.push_back(std::move(listener));
  return bound;
}

void Primary::Impl::StartSession(SessionPtr session) {
  session->descriptor = internal::PollDescriptor(*session->transport);
  session->peer = session->transport->peer();
  session->listening_port.store(session->handshake.listening_port(), std::memory_order_relaxed);
  session->last_ack_ms.store(MonotonicMillis(), std::memory_order_relaxed);
  {
    MutexLock lock(&mu_);
    if (stopping_) return;  // the transport is closed as it goes out of scope
    sessions_.push_back(session);
    if (!session->handshaking) sync_queue_.push_back(session);
  }
  if (!session->handshaking) sync_cv_.Signal();
  Wake();  // the receiver polls the new connection from now on
}

void Primary::Impl::Drop(Session& session, std::string_view reason) {
  if (session.closed.exchange(true, std::memory_order_acq_rel)) return;
  session.online.store(false, std::memory_order_release);
  session.transport->Close();
  if (!reason.empty()) Log(reason);
  Wake();
}

ReplicationPosition Primary::Impl::position() const {
  return {replication_id_, log_->SettledEnd()};
}

ReplicationPosition Primary::Impl::secondary_position() const { return secondary_; }

// --- The receiver: handshakes, ACKs, WAIT, the periodic duties ---

void Primary::Impl::ReceiverMain() {
  std::vector<pollfd> polled;
  std::vector<SessionPtr> sessions;
  std::vector<SessionPtr> ready;
  int64_t last_tick = MonotonicMillis();
  while (!receiver_stopping_.load(std::memory_order_acquire)) {
    {
      MutexLock lock(&mu_);
      sessions = sessions_;
    }
    polled.clear();
    polled.push_back({wake_fd_, POLLIN, 0});
    bool unpollable = false;
    for (const SessionPtr& s : sessions) {
      if (s->closed.load(std::memory_order_acquire)) continue;
      if (s->descriptor >= 0) {
        polled.push_back({s->descriptor, POLLIN, 0});
      } else {
        unpollable = true;
      }
    }
    auto timeout = unpollable ? kTryInterval : kTick;
    {
      MutexLock lock(&waiters_mu_);
      auto now = SteadyClock::now();
      for (const Waiter& w : waiters_) {
        if (w.deadline <= now) {
          timeout = std::chrono::milliseconds(0);
        } else if (w.deadline - now < timeout) {
          timeout = std::chrono::ceil<std::chrono::milliseconds>(w.deadline - now);
        }
      }
    }
    int n = ::poll(polled.data(), polled.size(), static_cast<int>(timeout.count()));
    if (n < 0 && errno != EINTR) {
      Log(absl::StrCat("Replication receiver: poll failed: ", std::strerror(errno)));
      std::this_thread::sleep_for(kTryInterval);
    }
    if (polled[0].revents != 0) {
      uint64_t count;
      [[maybe_unused]] ssize_t r = ::read(wake_fd_, &count, sizeof(count));
    }
    size_t next = 1;
    for (const SessionPtr& s : sessions) {
      if (s->closed.load(std::memory_order_acquire)) continue;
      if (s->descriptor >= 0) {
        // polled[] lists the pollable open sessions in this same order.
        while (next < polled.size() && polled[next].fd != s->descriptor) ++next;
        if (next == polled.size() || polled[next].revents == 0) continue;
      }
      ReceiveFrom(*s);
    }
    // Handshake commands are handled after the loop: a PSYNC queues the session.
    for (const SessionPtr& s : sessions) {
      if (!s->handshaking || s->closed.load(std::memory_order_acquire)) continue;
      std::vector<std::string_view> args;
      // Erased once at the end: a peer pipelining many small commands costs linear time.
      size_t parsed_total = 0;
      while (s->handshaking && !s->closed.load(std::memory_order_acquire)) {
        size_t consumed = 0;
        Status parsed = internal::ParseCommand(std::string_view(s->inbound).substr(parsed_total),
                                               {}, &args, &consumed);
        if (!parsed.ok()) {
          Drop(*s, absl::StrCat("Replica ", s->peer,
                                " sent a malformed command during the "
                                "replication handshake: ",
                                AsAbsl(parsed.message())));
          break;
        }
        if (consumed == 0) break;
        parsed_total += consumed;
        HandleHandshakeCommand(s, args);
      }
      s->inbound.erase(0, parsed_total);
      if (s->handshaking && s->inbound.size() >= kMaxInbound) {
        Drop(*s, absl::StrCat("Replica ", s->peer, " sent a handshake command of ", kMaxInbound,
                              " bytes or more"));
      }
    }
    CompleteWaiters(/*all=*/false);
    int64_t now = MonotonicMillis();
    if (now - last_tick >= kTick.count()) {
      last_tick = now;
      Tick(now);
    }
  }
}

void Primary::Impl::ReceiveFrom(Session& session) {
  char buffer[16 << 10];
  // At most about kMaxInbound is taken in per round: a peer sending faster than its
  // commands are handled leaves the rest in its socket, not in our memory.
  while (session.inbound.size() < kMaxInbound) {
    Result<size_t> n =
        session.transport->Receive(buffer, sizeof(buffer), std::chrono::milliseconds(0));
    if (!n.ok()) {
      if (n.status().code() == StatusCode::kDeadlineExceeded) break;
      Drop(session, absl::StrCat("Connection with replica ", session.peer,
                                 " lost: ", AsAbsl(n.status().message())));
      return;
    }
    session.inbound.append(buffer, *n);
    if (*n < sizeof(buffer)) break;
  }
  if (session.handshaking) return;  // parsed by the caller
  // After the handshake a replica sends REPLCONF ACK <offset> (and nothing else that
  // matters); an ACK is taken into account once the replica is online.
  std::vector<std::string_view> args;
  size_t parsed_total = 0;
  bool acked = false;
  while (true) {
    size_t consumed = 0;
    // A redis-server sends bare newlines while it loads its sync, to show it is alive.
    while (parsed_total < session.inbound.size() &&
           (session.inbound[parsed_total] == '\n' || session.inbound[parsed_total] == '\r')) {
      ++parsed_total;
    }
    std::string_view rest = std::string_view(session.inbound).substr(parsed_total);
    if (!internal::ParseCommand(rest, {}, &args, &consumed).ok()) {
      Drop(session, absl::StrCat("Replica ", session.peer, " sent a malformed command"));
      return;
    }
    if (consumed == 0) break;
    parsed_total += consumed;
    int64_t offset = 0;
    if (args.size() >= 3 && internal::EqualsIgnoreCase(args[0], "REPLCONF") &&
        internal::EqualsIgnoreCase(args[1], "ACK") && internal::ParseInt64(args[2], &offset) &&
        offset >= 0 &&
        (session.online.load(std::memory_order_acquire) ||
         session.stream_on_ack.exchange(false, std::memory_order_acq_rel))) {
      if (!session.online.exchange(true, std::memory_order_acq_rel)) stream_cv_.Signal();
      uint64_t previous = session.acked_offset.load(std::memory_order_relaxed);
      session.acked_offset.store(std::max(previous, static_cast<uint64_t>(offset)),
                                 std::memory_order_relaxed);
      session.last_ack_ms.store(MonotonicMillis(), std::memory_order_relaxed);
      session.holds_sync.store(true, std::memory_order_relaxed);
      acked = true;
    }
  }
  session.inbound.erase(0, parsed_total);
  if (session.inbound.size() >= kMaxInbound) {
    Drop(session, absl::StrCat("Replica ", session.peer, " sent a command of ", kMaxInbound,
                               " bytes or more"));
    return;
  }
  if (acked) {
    MutexLock lock(&ack_mu_);
    ack_cv_.SignalAll();
  }
}

void Primary::Impl::HandleHandshakeCommand(const SessionPtr& session,
                                           const std::vector<std::string_view>& args) {
  Session& s = *session;
  std::string reply;
  if (s.handshake.Handle(args, &reply)) {  // PSYNC or SYNC: a sync worker answers it
    s.handshaking = false;
    s.listening_port.store(s.handshake.listening_port(), std::memory_order_relaxed);
    {
      MutexLock lock(&mu_);
      sync_queue_.push_back(session);
    }
    sync_cv_.Signal();
    return;
  }
  s.listening_port.store(s.handshake.listening_port(), std::memory_order_relaxed);
  if (reply.empty()) return;  // REPLCONF ACK or GETACK before PSYNC: no reply
  // A few bytes, which the socket takes at once unless the peer pipelines handshake
  // commands without reading the replies: it is dropped rather than allowed to block
  // this thread, which serves every replica.
  Result<size_t> sent = s.transport->TrySend(reply);
  if (!sent.ok()) {
    Drop(s, absl::StrCat("Connection with replica ", s.peer,
                         " lost: ", AsAbsl(sent.status().message())));
  } else if (*sent < reply.size()) {
    Drop(s, absl::StrCat("Disconnecting replica ", s.peer,
                         ": it does not read the replies to its handshake"));
  }
}

void Primary::Impl::CompleteWaiters(bool all) {
  std::vector<Waiter> finished;
  {
    MutexLock lock(&waiters_mu_);
    if (waiters_.empty()) return;
    auto now = SteadyClock::now();
    // The offsets the replicas confirmed, ascending: counted as CountAcked counts them.
    std::vector<uint64_t> acked;
    {
      MutexLock sessions_lock(&mu_);
      for (const SessionPtr& s : sessions_) {
        if (s->online.load(std::memory_order_acquire) &&
            s->holds_sync.load(std::memory_order_relaxed)) {
          acked.push_back(s->confirmed_offset());
        }
      }
    }
    std::sort(acked.begin(), acked.end());
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      size_t count = acked.end() - std::lower_bound(acked.begin(), acked.end(), it->target);
      if (all || count >= it->count || it->deadline <= now || it->abandoned()) {
        finished.push_back(std::move(*it));
        finished.back().count = count;
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (Waiter& w : finished) w.done(w.count);
}

void Primary::Impl::Tick(int64_t now) {
  std::vector<SessionPtr> live;
  std::vector<SessionPtr> gone;  // released outside the lock
  {
    MutexLock lock(&mu_);
    for (SessionPtr& s : sessions_) {
      (s->closed.load(std::memory_order_acquire) ? gone : live).push_back(std::move(s));
    }
    sessions_ = live;
  }
  for (const SessionPtr& s : live) {
    if (!s->online.load(std::memory_order_acquire)) {
      const int64_t loading_for = now - s->last_ack_ms.load(std::memory_order_relaxed);
      if (s->stream_on_ack.load(std::memory_order_acquire) &&
          loading_for > options_.replica_timeout.count()) {
        Drop(*s, absl::StrCat("Disconnecting timedout replica (loading its sync): ", s->peer,
                              ", no acknowledgement for ", loading_for / 1000, " s"));
        continue;
      }
      const int64_t blocked_since = s->send_blocked_since_ms.load(std::memory_order_relaxed);
      if (blocked_since != 0 && now - blocked_since > options_.replica_timeout.count()) {
        Drop(*s, absl::StrCat("Disconnecting timedout replica (full sync): ", s->peer,
                              ", it has read nothing of its sync for ",
                              (now - blocked_since) / 1000, " s"));
      }
      continue;
    }
    int64_t since_ack = now - s->last_ack_ms.load(std::memory_order_relaxed);
    if (since_ack > options_.replica_timeout.count()) {
      Drop(*s, absl::StrCat("Disconnecting timedout replica (streaming sync): ", s->peer,
                            ", no acknowledgement for ", since_ack / 1000, " s"));
    }
  }
  if (!live.empty() && now - last_ping_ms_ >= options_.ping_interval.count()) {
    log_->Append(kPing);
    last_ping_ms_ = now;
  }
  UpdateWriteRefusal();
}

// --- Sync workers: PSYNC's answer, the snapshot or the backlog ---

void Primary::Impl::SyncWorkerMain() {
  while (true) {
    SessionPtr session;
    {
      MutexLock lock(&mu_);
      while (!stopping_ && sync_queue_.empty()) sync_cv_.Wait(&mu_);
      if (stopping_) return;
      session = std::move(sync_queue_.front());
      sync_queue_.pop_front();
    }
    if (!session->closed.load(std::memory_order_acquire)) Resync(session);
  }
}

void Primary::Impl::Resync(const SessionPtr& session) {
  Session& s = *session;
  const Handshake& handshake = s.handshake;
  TimedSends sends(*s.transport, &s.send_blocked_since_ms);
  std::optional<uint64_t> start = PartialResyncStart(handshake);
  Status status;
  if (start.has_value()) {
    partial_syncs_ok_.fetch_add(1, std::memory_order_relaxed);
    Log(absl::StrCat("Partial resynchronization request from ", s.peer, " accepted. Sending ",
                     log_->end_offset() - *start, " bytes of backlog starting from offset ",
                     *start + 1, "."));
    status = sends.Send(absl::StrCat("+CONTINUE ", replication_id_, "\r\n"));
    if (status.ok()) {
      // The replica holds everything before `start`.
      s.acked_offset.store(*start, std::memory_order_relaxed);
      s.holds_sync.store(true, std::memory_order_relaxed);
      status = SendBacklogAndAttach(session, sends, *start);
    }
  } else {
    if (handshake.replication_id() != "?") {
      partial_syncs_refused_.fetch_add(1, std::memory_order_relaxed);
      Log(absl::StrCat("Partial resynchronization not accepted for ", s.peer, ": it asked for '",
                       AsAbsl(handshake.replication_id()), "' offset ", handshake.offset(),
                       ", my replication IDs are '", replication_id_, "' and '",
                       secondary_.replication_id, "', my backlog holds ", log_->first_offset() + 1,
                       " to ", log_->end_offset()));
    }
    full_syncs_.fetch_add(1, std::memory_order_relaxed);
    Log(absl::StrCat("Full resync requested by replica ", s.peer));
    // Attached before the snapshot starts, so that everything logged from `offset` on
    // stays in the replication buffer (up to the replica's limits) while it is sent.
    uint64_t offset = AttachAtEnd(session);
    status = FullResync(s, sends, offset);
    if (status.ok()) {
      // It holds nothing until it has loaded the snapshot and says so in an ACK: WAIT
      // must not count it before that.
      s.acked_offset.store(0, std::memory_order_relaxed);
      Log(absl::StrCat("Synchronization with replica ", s.peer, " succeeded"));
    }
  }
  if (!status.ok()) {
    Drop(s, absl::StrCat("Synchronization with replica ", s.peer,
                         " failed: ", AsAbsl(status.message())));
    return;
  }
  s.last_ack_ms.store(MonotonicMillis(), std::memory_order_relaxed);
  if (s.handshake.eof() && !s.handshake.mirrorkv_snapshot()) {
    s.stream_on_ack.store(true, std::memory_order_release);
    return;
  }
  s.online.store(true, std::memory_order_release);
  stream_cv_.Signal();
}

uint64_t Primary::Impl::AttachAtEnd(const SessionPtr& session) {
  // A replica must not start inside an effect group (it would get an EXEC without its
  // MULTI). OffsetOutsideGroups is such a boundary. The sender may since have pulled the
  // log past it, into a group begun later, so the stream starts at the boundary itself:
  // behind the buffer's end if the buffer still holds it, or ahead of it, where the
  // sender will get to (SendTo waits for it). Only if the other replicas' sends let the
  // buffer drop it meanwhile (microseconds) is a newer boundary taken.
  uint64_t offset;
  while (true) {
    const uint64_t outside_groups = log_->OffsetOutsideGroups();
    MutexLock lock(&stream_mu_);
    if (streams_.empty()) {
      // The sender may not have looked at the log for a while: start at its end.
      blocks_.clear();
      buffer_end_ = outside_groups;
      log_->Retain(buffer_end_);
    }
    if (outside_groups < buffer_start()) continue;
    offset = outside_groups;
    session->stream_pos = offset;
    session->sent_offset.store(offset, std::memory_order_relaxed);
    streams_.push_back(session);
    break;
  }
  stream_cv_.Signal();
  return offset;
}

Status Primary::Impl::SendBacklogAndAttach(const SessionPtr& session, Transport& sends,
                                           uint64_t from) {
  std::string chunk;
  while (true) {
    uint64_t until;
    {
      MutexLock lock(&stream_mu_);
      if (streams_.empty() && blocks_.empty() && from <= buffer_end_) {
        buffer_end_ = from;  // nothing buffered: the buffer restarts where this one is
        log_->Retain(from);
      }
      if (from >= buffer_start()) {
        session->stream_pos = from;
        session->sent_offset.store(from, std::memory_order_relaxed);
        streams_.push_back(session);
        break;
      }
      until = buffer_start();
    }
    chunk.clear();
    Result<size_t> n = log_->Read(from, std::min<uint64_t>(until - from, 1 << 20), &chunk);
    if (!n.ok()) return n.status();
    MIRRORKV_RETURN_IF_ERROR(sends.Send(chunk));
    from += *n;
  }
  stream_cv_.Signal();
  return Status::Ok();
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

Status Primary::Impl::FullResync(Session& session, Transport& sends, uint64_t offset) {
  // The snapshot starts at `offset`: every change logged from here on is in the stream
  // after it, so the fuzzy snapshot plus that stream gives the exact data set.
  if (!session.handshake.legacy_sync()) {
    MIRRORKV_RETURN_IF_ERROR(
        sends.Send(absl::StrCat("+FULLRESYNC ", replication_id_, " ", offset, "\r\n")));
  }
  const SnapshotPosition position{replication_id_, offset};
  if (session.handshake.mirrorkv_snapshot()) {
    // Each collection records the log's reserved end while its stripe is locked: the
    // replica skips the collection effects its copy already holds (docs/design.md).
    return internal::SendFramed(sends, session.handshake.eof(), [&](WritableFile& out) {
      return internal::WriteSnapshotAt(
                 store_, position, out, {}, [this] { return log_->reserved_end(); }, nullptr)
          .status();
    });
  }
  // A redis-server replica: an RDB of the same walk, so that nothing is appended to the
  // shared log for one replica's sync (see docs/replication_protocol.md).
  RdbWriteOptions rdb;
  rdb.position = position;
  return internal::SendFramed(sends, session.handshake.eof(), [&](WritableFile& out) {
    return WriteRdb(store_, out, rdb).status();
  });
}

// A save to disk is a full resync whose stream is kept in the file: the fuzzy walk
// starts at S, and the history [S, E) covers every change the walk may have seen, so a
// loader that replays it over the copy (with the copy offsets, as a replica does) holds
// the data exactly as it was at E. Both ends are outside effect groups, so the history
// never opens a MULTI it does not close.
Result<SnapshotInfo> Primary::Impl::SaveSnapshotFile(const std::string& path,
                                                     const SnapshotOptions& options) {
  // Cancellable waits: the thread that holds a group open may be the one cancelling
  // this save (REPLICAOF inside MULTI/EXEC destroys the Primary).
  const std::function<bool()> cancelled =
      options.cancelled != nullptr ? options.cancelled : [] { return false; };
  const std::optional<uint64_t> start = log_->OffsetOutsideGroupsUnless(cancelled);
  if (!start.has_value()) return internal::CancelledStatus();
  const SnapshotPosition position{replication_id_, *start};
  auto history = [this, from = *start, &cancelled]() -> std::optional<std::string> {
    const std::optional<uint64_t> end_outside_groups = log_->OffsetOutsideGroupsUnless(cancelled);
    if (!end_outside_groups.has_value()) return std::nullopt;  // the writer reports it
    const uint64_t end = *end_outside_groups;
    std::string stream;
    for (uint64_t at = from; at < end;) {
      Result<size_t> n = log_->Read(at, end - at, &stream);
      if (!n.ok() || *n == 0) {
        Log(
            absl::StrCat("Snapshot saved without its replication history: the backlog no "
                         "longer holds offsets ",
                         from, " to ", end,
                         " written during the save, so a node restarted from it will need a full "
                         "resync (a larger repl-backlog-size keeps it)"));
        return std::nullopt;
      }
      at += *n;
    }
    return stream;
  };
  return internal::WriteFileAtomically(path, "snapshot", {}, [&](WritableFile& out) {
    return internal::WriteSnapshotAt(
        store_, position, out, options, [this] { return log_->reserved_end(); }, history);
  });
}

// --- The sender: the replication buffer and non-blocking writes ---

void Primary::Impl::SenderMain() {
  std::vector<pollfd> blocked;
  while (true) {
    uint64_t end;
    bool unpollable_blocked = false;
    {
      MutexLock lock(&stream_mu_);
      if (sender_stopping_) break;
      if (streams_.empty()) {
        // Nobody reads: nothing is buffered, and the buffer starts at the log's end.
        log_->Retain(internal::CommandLog::kNoRetention);
        blocks_.clear();
        buffer_end_ = log_->end_offset();
        stream_cv_.WaitWithTimeout(&stream_mu_, kTick);
        continue;
      }
      size_t pulled = PullLog(kPullBudget);
      log_->Retain(streams_.empty() ? internal::CommandLog::kNoRetention : buffer_end_);
      size_t sent = 0;
      blocked.clear();
      for (const SessionPtr& s : streams_) {
        if (!s->online.load(std::memory_order_acquire) ||
            s->closed.load(std::memory_order_acquire)) {
          continue;
        }
        sent += SendTo(*s);
        if (s->stream_pos < buffer_end_ && !s->closed.load(std::memory_order_acquire)) {
          if (s->descriptor >= 0) {
            blocked.push_back({s->descriptor, POLLOUT, 0});
          } else {
            unpollable_blocked = true;
          }
        }
      }
      EnforceLimits(MonotonicMillis());
      std::erase_if(streams_,
                    [](const SessionPtr& s) { return s->closed.load(std::memory_order_acquire); });
      Trim();
      if (pulled > 0 || sent > 0) continue;
      end = buffer_end_;
    }
    // Nothing moved: wait for a socket to take more, or for the log to grow. Not long
    // while a socket is full: writers may be waiting for this thread (Retain).
    if (!blocked.empty() || unpollable_blocked) {
      ::poll(blocked.data(), blocked.size(), 1);
    } else {
      log_->WaitForData(end, kTryInterval);
    }
  }
  log_->Retain(internal::CommandLog::kNoRetention);  // appends must never wait for nobody
}

size_t Primary::Impl::PullLog(size_t budget) {
  size_t pulled = 0;
  while (pulled < budget) {
    if (blocks_.empty() || blocks_.back().bytes.size() >= kBlockBytes) {
      blocks_.push_back({buffer_end_, {}});
      blocks_.back().bytes.reserve(kBlockBytes);
    }
    Block& block = blocks_.back();
    Result<size_t> n = log_->Read(buffer_end_, kBlockBytes - block.bytes.size(), &block.bytes);
    if (!n.ok()) {
      // The log wrapped past bytes not yet copied (this thread was starved of CPU for
      // longer than the backlog lasts): every replica still needing them resyncs.
      for (const SessionPtr& s : streams_) {
        Drop(*s, absl::StrCat("Disconnecting replica ", s->peer,
                              ": the replication stream outran the backlog before it could be "
                              "buffered (",
                              AsAbsl(n.status().message()), ")"));
      }
      streams_.clear();
      blocks_.clear();
      buffer_end_ = log_->end_offset();
      return pulled;
    }
    if (*n == 0) break;
    buffer_end_ += *n;
    pulled += *n;
  }
  return pulled;
}

size_t Primary::Impl::SendTo(Session& s) {
  size_t sent = 0;
  while (s.stream_pos < buffer_end_) {
    // The block holding stream_pos: the last one starting at or before it.
    auto it = std::upper_bound(blocks_.begin(), blocks_.end(), s.stream_pos,
                               [](uint64_t pos, const Block& b) { return pos < b.start; });
    MIRRORKV_DCHECK(it != blocks_.begin());
    const Block& block = *(it - 1);
    std::string_view bytes(block.bytes);
    bytes.remove_prefix(s.stream_pos - block.start);
    Result<size_t> n = s.transport->TrySend(bytes);
    if (!n.ok()) {
      Drop(s, absl::StrCat("Connection with replica ", s.peer,
                           " lost: ", AsAbsl(n.status().message())));
      break;
    }
    if (*n == 0) break;
    s.stream_pos += *n;
    s.sent_offset.store(s.stream_pos, std::memory_order_relaxed);
    sent += *n;
  }
  return sent;
}

void Primary::Impl::EnforceLimits(int64_t now_ms) {
  const size_t hard = options_.sync_buffer_limit;
  const size_t soft = options_.sync_buffer_soft_limit;
  for (const SessionPtr& s : streams_) {
    if (s->closed.load(std::memory_order_acquire)) continue;
    // A session that starts ahead of the buffer (AttachAtEnd) has nothing pending yet.
    uint64_t pending = buffer_end_ - std::min(buffer_end_, s->stream_pos);
    bool over = hard > 0 && pending > hard;
    if (soft > 0 && pending > soft) {
      if (s->over_soft_since_ms == 0) s->over_soft_since_ms = now_ms;
      over = over || now_ms - s->over_soft_since_ms > options_.sync_buffer_soft_period.count();
    } else {
      s->over_soft_since_ms = 0;
    }
    if (over) {
      Drop(*s, absl::StrCat("Client ", s->peer,
                            " (replica) scheduled to be closed ASAP for overcoming of output "
                            "buffer limits: ",
                            pending, " bytes pending"));
    }
  }
}

void Primary::Impl::Trim() {
  uint64_t oldest = buffer_end_;
  for (const SessionPtr& s : streams_) oldest = std::min(oldest, s->stream_pos);
  while (!blocks_.empty() && blocks_.front().start + blocks_.front().bytes.size() <= oldest &&
         (blocks_.size() > 1 || oldest == buffer_end_)) {
    blocks_.pop_front();
  }
}

// --- WAIT, status ---

size_t Primary::Impl::CountAcked(uint64_t target) const {
  MutexLock lock(&mu_);
  size_t acked = 0;
  for (const auto& s : sessions_) {
    acked += s->online.load(std::memory_order_acquire) &&
             s->holds_sync.load(std::memory_order_relaxed) && s->confirmed_offset() >= target;
  }
  return acked;
}

size_t Primary::Impl::WaitForReplicas(size_t count, std::chrono::milliseconds timeout) {
  // Everything logged before the call, including the caller's last write even while an
  // earlier append of another thread is still being copied.
  const uint64_t target = log_->reserved_end();
  size_t acked = CountAcked(target);
  if (acked >= count) return acked;
  // Ask now rather than wait up to ack_interval for the periodic acknowledgement.
  log_->Append(kGetAck);
  auto deadline = SteadyClock::now() + timeout;
  while (true) {
    MutexLock lock(&ack_mu_);
    acked = CountAcked(target);
    if (acked >= count || SteadyClock::now() >= deadline) return acked;
    // An ack between CountAcked and this wait signals under ack_mu_, which this
    // thread holds until it waits: no wakeup is lost.
    ack_cv_.WaitWithTimeout(&ack_mu_,
                            std::min<SteadyClock::duration>(deadline - SteadyClock::now(),
                                                            std::chrono::milliseconds(50)));
  }
}

void Primary::Impl::WaitForReplicasAsync(size_t count, SteadyClock::time_point deadline,
                                         std::function<bool()> abandoned,
                                         std::function<void(size_t)> done) {
  const uint64_t target = log_->reserved_end();
  size_t acked = CountAcked(target);
  if (acked >= count) {
    done(acked);
    return;
  }
  {
    MutexLock lock(&waiters_mu_);
    waiters_.push_back({count, target, deadline, std::move(abandoned), std::move(done)});
  }
  log_->Append(kGetAck);
  Wake();  // the receiver's poll timeout now covers this deadline
}

std::vector<ReplicaInfo> Primary::Impl::replicas() const {
  uint64_t end = log_->end_offset();
  int64_t now = MonotonicMillis();
  std::vector<ReplicaInfo> out;
  MutexLock lock(&mu_);
  for (const auto& s : sessions_) {
    if (s->closed.load(std::memory_order_acquire)) continue;
    ReplicaInfo info;
    info.peer = s->peer;
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

size_t Primary::Impl::replica_count() const {
  MutexLock lock(&mu_);
  return sessions_.size();
}

ResyncCounters Primary::Impl::resync_counters() const {
  ResyncCounters counters;
  counters.full = full_syncs_.load(std::memory_order_relaxed);
  counters.partial_ok = partial_syncs_ok_.load(std::memory_order_relaxed);
  counters.partial_refused = partial_syncs_refused_.load(std::memory_order_relaxed);
  return counters;
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
  auto impl =
      std::make_unique<Impl>(store, options, std::move(log), std::move(id), ReplicationPosition{});
  if (!impl->start_status().ok()) return impl->start_status();
  return std::unique_ptr<Primary>(new Primary(std::move(impl)));
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

void Primary::WaitForReplicasAsync(size_t count, std::chrono::steady_clock::time_point deadline,
                                   std::function<bool()> abandoned,
                                   std::function<void(size_t)> done) {
  impl_->WaitForReplicasAsync(count, deadline, std::move(abandoned), std::move(done));
}

std::vector<ReplicaInfo> Primary::replicas() const { return impl_->replicas(); }
size_t Primary::replica_count() const { return impl_->replica_count(); }
ResyncCounters Primary::resync_counters() const { return impl_->resync_counters(); }

uint64_t Primary::backlog_first_offset() const { return impl_->backlog_first_offset(); }

Result<SnapshotInfo> Primary::SaveSnapshotFile(const std::string& path,
                                               const SnapshotOptions& options) {
  return impl_->SaveSnapshotFile(path, options);
}

void Primary::SetMinReplicas(size_t count, std::chrono::milliseconds max_lag) {
  impl_->SetMinReplicas(count, max_lag);
}

void Primary::BeginEffectGroup() { impl_->log().BeginGroup(); }

void Primary::EndEffectGroup() { impl_->log().EndGroup(); }

}  // namespace mirrorkv
