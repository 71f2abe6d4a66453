// Replica: the link thread (connect, handshake, full or partial resync, stream), the
// replica's own backlog, and promotion.
//
// The link thread owns the connection. Everything it applies goes through a
// StreamApplier, which validates each command whole before changing the Store, and the
// applied offset counts a command's bytes only once its effect is in the Store (for a
// MULTI block, at its EXEC). So a link that breaks anywhere, or a stream that turns out
// to be malformed, leaves the Store and the offset consistent, and the next connection
// asks for exactly the bytes not yet applied.
#include <algorithm>
#include <system_error>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/base/monotonic.h"
#include "engine/base/strings.h"
#include "engine/store_impl.h"
#include "mirrorkv/rdb.h"
#include "replication/command_log.h"
#include "replication/primary_impl.h"
#include "replication/resp.h"
#include "replication/stream_applier.h"
#include "replication/sync_payload.h"
#include "replication/transport_io.h"

namespace mirrorkv {
namespace {

using SteadyClock = std::chrono::steady_clock;
using internal::AsAbsl;

using internal::MonotonicMillis;

std::string AckCommand(uint64_t offset) {
  std::string out;
  internal::AppendArrayHeader(&out, 3);
  internal::AppendBulk(&out, "REPLCONF");
  internal::AppendBulk(&out, "ACK");
  internal::AppendBulkInt(&out, static_cast<int64_t>(offset));
  return out;
}

}  // namespace

class Replica::Impl {
 public:
  Impl(Store& store, Connector connector, const ReplicaOptions& options)
      : store_(store), options_(options), connector_(std::move(connector)) {
    store_.impl().SetReplicaMode(true);
    MutexLock lock(&mu_);
    replication_id_ = options_.resume_from.replication_id;
    offset_ = options_.resume_from.offset;
    log_ = std::make_unique<internal::CommandLog>(options_.backlog_bytes, offset_);
  }

  // The Store stays in replica mode, with its data (Store::LeaveReplicaMode), and free
  // for another Primary or Replica; unless promoted, when the Primary holds it now.
  ~Impl() {
    Stop();
    if (!promoted_) store_.impl().ReleaseReplicationRole();
  }

  void Start() ABSL_LOCKS_EXCLUDED(mu_) {
    std::string failure;
    {
      MutexLock lock(&mu_);
      if (running_) return;
      stop_ = false;
      // std::thread reports a thread it cannot create (EAGAIN at the task limit) by
      // throwing: the replica then stays stopped and says why, and Start may be retried.
      try {
        thread_ = std::thread([this] { Run(); });
        running_ = true;
        link_ = LinkState::kConnecting;
        return;
      } catch (const std::system_error& error) {
        failure = absl::StrCat("cannot start the replica's link thread: ", error.what());
        link_ = LinkState::kStopped;
        last_error_ = Status::ResourceExhausted(failure);
      }
    }
    Event(/*warning=*/true, failure);  // outside mu_: the callback may read status()
  }

  void Stop() ABSL_LOCKS_EXCLUDED(mu_) {
    std::thread thread;
    {
      MutexLock lock(&mu_);
      stop_ = true;
      if (transport_ != nullptr) transport_->Close();
      thread = std::move(thread_);
    }
    wake_.SignalAll();
    applied_.SignalAll();
    if (thread.joinable()) thread.join();
    MutexLock lock(&mu_);
    running_ = false;
    link_ = LinkState::kStopped;
  }

  void SetConnector(Connector connector) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    connector_ = std::move(connector);
    if (transport_ != nullptr) transport_->Close();  // reconnect through the new one
  }

  ReplicaStatus status() const ABSL_LOCKS_EXCLUDED(mu_) {
    int64_t now = MonotonicMillis();
    MutexLock lock(&mu_);
    ReplicaStatus status;
    status.link = link_;
    status.position = {replication_id_, offset_};
    status.full_resyncs = full_resyncs_;
    status.partial_resyncs = partial_resyncs_;
    status.pending_bytes = pending_bytes_.load(std::memory_order_relaxed);
    int64_t pending_since = pending_since_ms_.load(std::memory_order_relaxed);
    status.apply_lag = std::chrono::milliseconds(pending_since == 0 ? 0 : now - pending_since);
    int64_t last_io = last_io_ms_.load(std::memory_order_relaxed);
    status.since_last_io = std::chrono::milliseconds(last_io == 0 ? 0 : now - last_io);
    status.down_for = std::chrono::milliseconds(down_since_ms_ == 0 ? 0 : now - down_since_ms_);
    status.last_error = last_error_;
    status.skipped_keys = skipped_keys_;
    status.skipped_commands = skipped_commands_.load(std::memory_order_relaxed);
    status.backlog_first_offset = log_ != nullptr ? log_->first_offset() : offset_;
    return status;
  }

  ReplicationPosition position() const ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    return {replication_id_, offset_};
  }

  bool WaitForPosition(const ReplicationPosition& position, std::chrono::milliseconds timeout) const
      ABSL_LOCKS_EXCLUDED(mu_) {
    return WaitLinkedUntil(timeout, [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return replication_id_ == position.replication_id && offset_ >= position.offset;
    });
  }

  bool WaitForFullResync(uint64_t full_resyncs_before, std::chrono::milliseconds timeout) const
      ABSL_LOCKS_EXCLUDED(mu_) {
    return WaitLinkedUntil(timeout, [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return full_resyncs_ > full_resyncs_before;
    });
  }

  Result<std::unique_ptr<Primary>> Promote(const PrimaryOptions& options) ABSL_LOCKS_EXCLUDED(mu_) {
    Stop();
    std::unique_ptr<internal::CommandLog> log;
    ReplicationPosition previous;
    {
      MutexLock lock(&mu_);
      log = std::move(log_);
      previous = {replication_id_, offset_};
    }
    promoted_ = true;
    store_.impl().TransferReplicationRole(kPrimaryHolder);
    store_.impl().SetReplicaMode(false);
    // The replica's backlog already holds the stream up to `previous.offset`; the new
    // history continues it, and the old id stays valid up to that offset.
    auto impl = std::make_unique<Primary::Impl>(store_, options, std::move(log), NewReplicationId(),
                                                std::move(previous));
    if (!impl->start_status().ok()) return impl->start_status();
    return std::unique_ptr<Primary>(new Primary(std::move(impl)));
  }

 private:
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  // The link's phases, for the words of the log line when it fails.
  enum class Phase { kHandshake, kSync, kStream };
  Status RunLink(Transport& transport, Phase* phase);
  Status Handshake(Transport& transport, internal::TransportReader& reader, Phase* phase);
  Status ReceiveSnapshot(internal::TransportReader& reader, const std::string& id, uint64_t offset);
  // Tells the options' on_event, if any.
  void Event(bool warning, const std::string& message) const {
    if (options_.on_event) options_.on_event(warning, message);
  }
  Status StreamLoop(Transport& transport, internal::TransportReader& reader);
  // Records that `bytes` of stream were applied: appends them to the backlog and
  // advances the offset.
  void Commit(std::string_view bytes) ABSL_LOCKS_EXCLUDED(mu_);
  void SetLink(LinkState state) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    link_ = state;
  }
  // Waits until the link is up (a sync on the current connection finished: the position
  // is then in the primary's history) and `reached` holds, up to `timeout`; false at
  // once when the Replica stops (Promote stops it too).
  template <typename Predicate>
  bool WaitLinkedUntil(std::chrono::milliseconds timeout, Predicate reached) const
      ABSL_LOCKS_EXCLUDED(mu_) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    MutexLock lock(&mu_);
    while (link_ != LinkState::kConnected || !reached()) {
      auto now = std::chrono::steady_clock::now();
      if (stop_ || now >= deadline) return false;
      applied_.WaitWithTimeout(&mu_, deadline - now);
    }
    return true;
  }
  bool stopping() const ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    return stop_;
  }

  Store& store_;
  const ReplicaOptions options_;
  // Set by Promote, which hands the Store to the new Primary.
  bool promoted_ = false;

  mutable Mutex mu_;
  CondVar wake_;
  // offset_ moved, the link came up, or the Replica stopped (WaitLinkedUntil).
  mutable CondVar applied_;
  Connector connector_ ABSL_GUARDED_BY(mu_);
  std::string replication_id_ ABSL_GUARDED_BY(mu_);
  uint64_t offset_ ABSL_GUARDED_BY(mu_) = 0;
  // The stream received, for partial resyncs of others after a promotion. Replaced
  // only by the link thread (on a full resync), under mu_.
  std::unique_ptr<internal::CommandLog> log_ ABSL_GUARDED_BY(mu_);
  LinkState link_ ABSL_GUARDED_BY(mu_) = LinkState::kStopped;
  uint64_t full_resyncs_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t partial_resyncs_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t down_since_ms_ ABSL_GUARDED_BY(mu_) = 0;
  Status last_error_ ABSL_GUARDED_BY(mu_);
  uint64_t skipped_keys_ ABSL_GUARDED_BY(mu_) = 0;
  // Relaxed: a figure for status().
  std::atomic<uint64_t> skipped_commands_{0};
  Transport* transport_ ABSL_GUARDED_BY(mu_) = nullptr;  // the live link, for Stop
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_ ABSL_GUARDED_BY(mu_);
  // Relaxed: figures for status(), ordering nothing. The stream bytes received and not
  // yet applied, and when the oldest of them arrived (0: none pending).
  std::atomic<int64_t> last_io_ms_{0};
  std::atomic<uint64_t> pending_bytes_{0};
  std::atomic<int64_t> pending_since_ms_{0};
};

void Replica::Impl::Run() {
  while (!stopping()) {
    Connector connector;
    {
      MutexLock lock(&mu_);
      connector = connector_;
      link_ = LinkState::kConnecting;
    }
    Status status;
    std::string reason;
    Result<std::unique_ptr<Transport>> transport = connector();
    if (transport.ok()) {
      {
        MutexLock lock(&mu_);
        transport_ = transport->get();
        if (stop_) transport_->Close();
      }
      Phase phase = Phase::kHandshake;
      status = RunLink(**transport, &phase);
      // What the link received and did not apply is gone with it.
      pending_bytes_.store(0, std::memory_order_relaxed);
      pending_since_ms_.store(0, std::memory_order_relaxed);
      {
        MutexLock lock(&mu_);
        transport_ = nullptr;
      }
      switch (phase) {
        case Phase::kHandshake:
          reason = "Failed to start the replication handshake with MASTER: ";
          break;
        case Phase::kSync:
          reason = "Failed trying to load the MASTER synchronization DB from socket: ";
          break;
        case Phase::kStream:
          reason = absl::StrCat("Connection with master lost at offset ", position().offset, ": ");
          break;
      }
    } else {
      status = transport.status();
      reason = "Error condition on socket for SYNC: ";
    }
    if (stopping()) break;
    // Every failed attempt is logged: a replica that retries silently is a replica an
    // operator cannot diagnose.
    if (status.ok()) status = Status::Unavailable("the link was closed");
    Event(/*warning=*/true, reason + std::string(status.message()));
    MutexLock lock(&mu_);
    if (stop_) break;
    link_ = LinkState::kDown;
    last_error_ = Status(status.code(), reason + std::string(status.message()));
    if (down_since_ms_ == 0) down_since_ms_ = MonotonicMillis();
    wake_.WaitWithTimeout(&mu_, options_.reconnect_delay);
  }
}

Status Replica::Impl::RunLink(Transport& transport, Phase* phase) {
  internal::TransportReader reader(transport, options_.timeout);
  MIRRORKV_RETURN_IF_ERROR(Handshake(transport, reader, phase));
  {
    MutexLock lock(&mu_);
    link_ = LinkState::kConnected;
    applied_.SignalAll();
    down_since_ms_ = 0;
    last_error_ = Status::Ok();  // a good reconnect: the old reason no longer applies
  }
  *phase = Phase::kStream;
  return StreamLoop(transport, reader);
}

Status Replica::Impl::Handshake(Transport& transport, internal::TransportReader& reader,
                                Phase* phase) {
  auto expect = [&](std::string_view command, std::string_view what) -> Result<std::string> {
    MIRRORKV_RETURN_IF_ERROR(transport.Send(command));
    // A Redis primary may send newlines while it prepares a full resync.
    MIRRORKV_RETURN_IF_ERROR(internal::SkipKeepAliveNewlines(reader));
    Result<std::string> reply = reader.ReadLine();
    if (reply.ok() && reply->rfind('-', 0) == 0) {
      return Status::Unavailable(
          absl::StrCat("Error reply to ", AsAbsl(what), " from master: '", reply->substr(1), "'"));
    }
    return reply;
  };
  std::string command;
  internal::AppendCommand(&command, {"PING"});
  MIRRORKV_RETURN_IF_ERROR(transport.Send(command));
  MIRRORKV_ASSIGN_OR_RETURN(std::string pong, reader.ReadLine());
  // A primary that wants AUTH first answers NOAUTH; the AUTH below settles it.
  if (pong != "+PONG" && pong.rfind("-NOAUTH", 0) != 0) {
    return Status::Unavailable(
        absl::StrCat("Error reply to PING from master: '", pong.substr(0, 100), "'"));
  }
  Event(false, "Master replied to PING, replication can continue...");
  if (!options_.password.empty()) {
    command.clear();
    internal::AppendCommand(&command, {"AUTH", options_.password});
    MIRRORKV_RETURN_IF_ERROR(expect(command, "AUTH").status());
  }
  if (options_.listening_port != 0) {
    command.clear();
    internal::AppendCommand(
        &command, {"REPLCONF", "listening-port", std::to_string(options_.listening_port)});
    MIRRORKV_RETURN_IF_ERROR(expect(command, "REPLCONF listening-port").status());
  }
  command.clear();
  internal::AppendCommand(
      &command, {"REPLCONF", "capa", "eof", "capa", "psync2", "capa", "mirrorkv-snapshot"});
  MIRRORKV_RETURN_IF_ERROR(expect(command, "REPLCONF capa").status());

  ReplicationPosition asked = position();
  command.clear();
  if (asked.replication_id.empty()) {
    Event(false, "Partial resynchronization not possible (no cached master)");
    internal::AppendCommand(&command, {"PSYNC", "?", "-1"});
  } else {
    Event(false, absl::StrCat("Trying a partial resynchronization (request ", asked.replication_id,
                              ":", asked.offset + 1, ")."));
    internal::AppendCommand(&command,
                            {"PSYNC", asked.replication_id, std::to_string(asked.offset + 1)});
  }
  MIRRORKV_ASSIGN_OR_RETURN(std::string reply, expect(command, "PSYNC"));
  last_io_ms_.store(MonotonicMillis(), std::memory_order_relaxed);
  std::vector<std::string> words = absl::StrSplit(reply, ' ', absl::SkipEmpty());
  if (words.size() == 3 && words[0] == "+FULLRESYNC" && words[1].size() == 40) {
    uint64_t offset = 0;
    if (!absl::SimpleAtoi(words[2], &offset)) {
      return Status::Corruption(absl::StrCat("bad offset in ", reply));
    }
    Event(false, absl::StrCat("Full resync from master: ", words[1], ":", offset));
    *phase = Phase::kSync;
    return ReceiveSnapshot(reader, words[1], offset);
  }
  if (!words.empty() && words[0] == "+CONTINUE" && words.size() <= 2) {
    Event(false, "Successful partial resynchronization with master.");
    MutexLock lock(&mu_);
    // A new id means the primary was promoted: the same history continues under it.
    if (words.size() == 2) replication_id_ = words[1];
    ++partial_resyncs_;
    return Status::Ok();
  }
  return Status::Corruption(
      absl::StrCat("Unexpected reply to PSYNC from master: ", reply.substr(0, 100)));
}

Status Replica::Impl::ReceiveSnapshot(internal::TransportReader& reader, const std::string& id,
                                      uint64_t offset) {
  SetLink(LinkState::kSyncing);
  MIRRORKV_ASSIGN_OR_RETURN(std::unique_ptr<internal::PayloadReader> payload,
                            internal::PayloadReader::Open(reader));
  const bool rdb = payload->format() == internal::PayloadReader::Format::kRdb;
  Event(false, absl::StrCat("MASTER <-> REPLICA sync: receiving ", payload->framing(), " ",
                            rdb ? "RDB" : "mirrorkv snapshot",
                            " from master, loading it in memory (the data set is replaced only "
                            "once all of it is verified)"));
  // Loaded whole and verified before it replaces the data: a broken transfer leaves the
  // store as it was.
  uint64_t keys = 0;
  uint64_t skipped = 0;
  if (rdb) {
    RdbReadOptions read_options;
    read_options.skip_unsupported = options_.skip_unsupported;
    MIRRORKV_ASSIGN_OR_RETURN(RdbLoadInfo info, LoadRdb(store_, *payload, read_options));
    keys = info.keys;
    skipped = info.skipped_keys;
    if (skipped > 0 || info.skipped_functions > 0) {
      Event(true, absl::StrCat("MASTER <-> REPLICA sync: skipped ", skipped,
                               " keys mirrorkv does not hold (the first: ", info.first_skipped,
                               ") and ", info.skipped_functions, " function libraries"));
    }
  } else {
    MIRRORKV_ASSIGN_OR_RETURN(SnapshotInfo info, LoadSnapshot(store_, *payload));
    if (info.position.replication_id != id || info.position.offset != offset) {
      return Status::Corruption("snapshot position differs from the FULLRESYNC reply");
    }
    keys = info.entries;
  }
  MIRRORKV_RETURN_IF_ERROR(payload->Finish());
  Event(false, absl::StrCat("MASTER <-> REPLICA sync: Finished with success (", keys, " keys)"));
  MutexLock lock(&mu_);
  replication_id_ = id;
  offset_ = offset;
  applied_.SignalAll();
  log_ = std::make_unique<internal::CommandLog>(options_.backlog_bytes, offset);
  ++full_resyncs_;
  skipped_keys_ = skipped;
  return Status::Ok();
}

void Replica::Impl::Commit(std::string_view bytes) {
  MutexLock lock(&mu_);
  log_->Append(bytes);
  offset_ += bytes.size();
  applied_.SignalAll();
}

Status Replica::Impl::StreamLoop(Transport& transport, internal::TransportReader& reader) {
  uint64_t offset = position().offset;
  // The bytes of an open MULTI block: committed together at its EXEC.
  std::string block;
  uint64_t command_end = offset;  // the offset a GETACK inside the current command acks
  internal::StreamApplier applier(
      store_, [&]() { return transport.Send(AckCommand(command_end)); }, options_.skip_unsupported);
  // Skipped commands are counted as they happen and logged at the 1st, 2nd, 4th, 8th
  // ... on this link, so that a flood of them costs few lines.
  uint64_t counted = 0;
  uint64_t next_skip_log = 1;
  auto note_skipped = [&] {
    if (applier.skipped() == counted) return;
    skipped_commands_.fetch_add(applier.skipped() - counted, std::memory_order_relaxed);
    counted = applier.skipped();
    if (counted < next_skip_log) return;
    Event(true,
          absl::StrCat("Skipped ", counted, " commands of the master's stream that mirrorkv ",
                       "cannot apply, on this link (the last: ", applier.last_skipped(), ")"));
    while (next_skip_log <= counted) next_skip_log *= 2;
  };
  int64_t last_ack = 0;
  // The size and time of the last receive, for the pending figures of status(); the
  // handshake may have received the first stream bytes already.
  size_t last_received = reader.buffered().size();
  int64_t last_received_ms = MonotonicMillis();
  std::vector<std::string_view> args;
  while (!stopping()) {
    // Applied commands outside MULTI are contiguous at the front of the buffer: they
    // are committed (backlog and offset) in one go after the loop.
    size_t run = 0;
    auto commit_run = [&] {
      if (run == 0) return;
      Commit(reader.buffered().substr(0, run));
      offset += run;
      reader.Consume(run);
      run = 0;
    };
    while (true) {
      size_t consumed = 0;
      std::string_view rest = reader.buffered().substr(run);
      Status parsed = internal::ParseCommand(rest, {}, &args, &consumed);
      if (!parsed.ok()) {
        commit_run();
        return parsed;
      }
      if (consumed == 0) break;
      bool was_in_transaction = applier.in_transaction();
      command_end = offset + run + block.size() + consumed;
      Status applied = applier.ApplyCommand(args, command_end - consumed);
      if (!applied.ok()) {
        commit_run();
        return applied;
      }
      if (applier.in_transaction() || was_in_transaction) {
        // Inside (or just closing) a MULTI block: held back until its EXEC.
        commit_run();
        block.append(reader.buffered().substr(0, consumed));
        reader.Consume(consumed);
        if (!applier.in_transaction()) {
          Commit(block);
          offset += block.size();
          block.clear();
        }
      } else {
        run += consumed;
      }
    }
    note_skipped();
    // Recorded before the commit, so that a caller who sees the new offset sees these
    // too. Everything still pending arrived in the last receive, or it includes older
    // bytes whose arrival time is already recorded.
    size_t pending = reader.buffered().size() - run + block.size();
    pending_bytes_.store(pending, std::memory_order_relaxed);
    if (pending == 0) {
      pending_since_ms_.store(0, std::memory_order_relaxed);
    } else if (pending <= last_received) {
      pending_since_ms_.store(last_received_ms, std::memory_order_relaxed);
    }
    commit_run();
    int64_t now = MonotonicMillis();
    if (now - last_ack >= options_.ack_interval.count()) {
      MIRRORKV_RETURN_IF_ERROR(transport.Send(AckCommand(offset)));
      last_ack = now;
    }
    size_t buffered_before = reader.buffered().size();
    Status filled = reader.Fill(std::min(options_.ack_interval, options_.timeout));
    if (filled.ok()) {
      last_received = reader.buffered().size() - buffered_before;
      last_received_ms = MonotonicMillis();
      last_io_ms_.store(last_received_ms, std::memory_order_relaxed);
    } else if (filled.code() != StatusCode::kDeadlineExceeded) {
      return filled;
    } else if (MonotonicMillis() - last_io_ms_.load(std::memory_order_relaxed) >
               options_.timeout.count()) {
      return Status::DeadlineExceeded("MASTER timeout: no data nor PING received...");
    }
  }
  return Status::Ok();
}

// --- Public wrappers ---

Result<std::unique_ptr<Replica>> Replica::Create(Store& store, Connector connector,
                                                 const ReplicaOptions& options) {
  if (!connector) return Status::InvalidArgument("a replica needs a connector");
  if (!options.resume_from.replication_id.empty() &&
      options.resume_from.replication_id.size() != 40) {
    return Status::InvalidArgument("a replication id has 40 characters");
  }
  MIRRORKV_RETURN_IF_ERROR(store.impl().ClaimReplicationRole("a Replica"));
  return std::unique_ptr<Replica>(
      new Replica(std::make_unique<Impl>(store, std::move(connector), options)));
}

Replica::Replica(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Replica::~Replica() = default;
void Replica::Start() { impl_->Start(); }
void Replica::Stop() { impl_->Stop(); }
void Replica::SetConnector(Connector connector) { impl_->SetConnector(std::move(connector)); }
ReplicaStatus Replica::status() const { return impl_->status(); }
ReplicationPosition Replica::position() const { return impl_->position(); }
bool Replica::WaitForPosition(const ReplicationPosition& position,
                              std::chrono::milliseconds timeout) const {
  return impl_->WaitForPosition(position, timeout);
}
bool Replica::WaitForFullResync(uint64_t full_resyncs_before,
                                std::chrono::milliseconds timeout) const {
  return impl_->WaitForFullResync(full_resyncs_before, timeout);
}

Result<std::unique_ptr<Primary>> Replica::Promote(const PrimaryOptions& options) {
  return impl_->Promote(options);
}

}  // namespace mirrorkv
