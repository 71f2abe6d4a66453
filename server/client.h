// Client: one connection's protocol state, independent of the event loop that moves its
// bytes. The event loop (asio_event_loop.cc) subclasses it to own the
// socket: it reads into ReadSpace(), calls OnRead(), and writes output() when Flush() is
// called. Everything between — parsing, dispatch, MULTI, subscriptions, authentication —
// is here and in the command handlers.
//
// Threading: a Client is served by the one IoThread that accepted it (its "owner"). The
// protocol state is touched only there, without locks. Other threads (CLIENT KILL,
// PUBLISH, CLIENT LIST, shutdown) use only the methods marked "any thread": Kill() and
// Post() hand work to the owner, and the fields CLIENT LIST shows are relaxed atomics or
// guarded by a small lock.
//
// Lifetime: shared_ptr; the transport's pending operations, the client registry and
// pub/sub deliveries in flight each hold a reference. OnClosed() unregisters the client
// everywhere; memory goes when the last reference does.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/mutex.h"
#include "server/commands.h"
#include "server/io_thread.h"
#include "server/pubsub.h"
#include "server/replication_role.h"
#include "server/reply_builder.h"
#include "server/resp_parser.h"
#include "server/string_hash.h"

namespace mirrorkv::server {

class Server;

// Who is on the other end, fixed at accept time.
struct ClientAddress {
  std::string peer;   // "127.0.0.1:52314"
  std::string local;  // "127.0.0.1:6379"
  bool loopback = true;
  int fd = -1;
};

class Client : public std::enable_shared_from_this<Client> {
 public:
  Client(Server& server, IoThread& thread, ClientAddress address);
  virtual ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // --- Event-loop side (owner thread) ---

  // Where the next read goes; empty if no buffer could be allocated (close then).
  std::span<char> ReadSpace() { return parser_.ReadSpace(); }
  // Parses and runs every complete command among the bytes read so far (`n` new ones);
  // the replies are appended to output(). Call Flush() afterwards.
  void OnRead(size_t n);
  // Replies waiting to be written. The transport takes them (swap) when it writes.
  std::string& output() { return output_; }
  // Whether the connection must be closed once output() has been written (QUIT, a
  // protocol error, CLIENT KILL of itself).
  bool close_after_reply() const { return close_after_reply_; }
  // Records `n` bytes written to the socket (INFO's total_net_output_bytes).
  void OnWritten(size_t n);
  // Unregisters the client from the server (registry, pub/sub, watches, its thread);
  // the transport calls it once, when the connection is gone for whatever reason.
  void OnClosed();
  // Whether the connection is a replica that sent PSYNC or SYNC: nothing more is parsed,
  // and once output() is written the transport takes the socket out of its loop (no read
  // pending, so no byte is lost) and calls HandOver.
  bool handover_pending() const { return handover_pending_; }
  // Gives the socket `fd`, with the bytes read but not parsed, to the server's replication
  // primary, and unregisters the client (OnClosed). The transport no longer owns `fd`.
  void HandOver(int fd);

  // Writes output() (owner thread). Implemented by the transport.
  virtual void Flush() = 0;
  // Bytes the transport took from output() and has not written yet (owner thread).
  virtual size_t bytes_in_flight() const = 0;
  // Closes the connection now, dropping unwritten output (owner thread).
  virtual void Close() = 0;

  // --- Any thread ---

  // Closes the connection on its owner thread, after the reply being built (if it is
  // the calling client itself, after its current reply).
  void Kill();
  // Appends an out-of-band message (a pub/sub message encoded for this client's RESP
  // version) and writes it; runs on the owner thread (posted there if needed).
  void Deliver(std::shared_ptr<const OutOfBandMessage> message);
  uint64_t id() const { return id_; }
  // Whether the connection is gone (closed or handed over). Relaxed: a hint for work
  // done on the client's behalf elsewhere (a WAIT), which may notice a little late.
  bool closed() const { return closed_.load(std::memory_order_relaxed); }
  IoThread& thread() const { return thread_; }
  const ClientAddress& address() const { return address_; }
  std::string name() const ABSL_LOCKS_EXCLUDED(info_mu_);
  // One CLIENT LIST line (without the newline).
  std::string Describe(int64_t now_ms) const;
  bool is_pubsub() const {
    return subscriptions_.load(std::memory_order_relaxed) +
               pattern_subscriptions_.load(std::memory_order_relaxed) >
           0;
  }
  int64_t last_interaction_ms() const {
    return last_interaction_ms_.load(std::memory_order_relaxed);
  }

  // --- Command side (owner thread) ---

  Server& server() { return server_; }
  ReplyBuilder& reply() { return reply_; }
  int resp() const { return reply_.resp(); }
  void set_resp(int resp);
  bool authenticated() const { return authenticated_; }
  void set_authenticated(bool authenticated) { authenticated_ = authenticated; }
  // Whether a password is configured and this client has not given it yet.
  bool AuthRequired() const;
  void set_name(std::string name) ABSL_LOCKS_EXCLUDED(info_mu_);
  // Close the connection once the current replies are written.
  void RequestClose() { close_after_reply_ = true; }
  // Back to a fresh connection's state (RESET).
  void Reset();

  // A blocking command (WAIT): no further command of this connection runs until Unblock;
  // what arrives meanwhile waits in the query buffer.
  void Block() { blocked_ = true; }
  // Any thread. On the owner thread, `reply` writes the blocked command's reply, and the
  // commands that arrived meanwhile run. Dropped if the connection closed.
  void Unblock(std::function<void(ReplyBuilder&)> reply);

  // --- Commands blocked on keys (BLPOP, BLMOVE, BZPOPMIN ...) ---
  //
  // Such a command first runs as its non-blocking form. Finding nothing, it calls
  // BlockOnKeys: the client keeps a copy of the command, registers as a waiter of its
  // keys (KeyspaceListener) and, when the timeout is not 0, starts a timer on its thread.
  // No thread waits: the client is state in its I/O thread's event loop. When a key gets
  // data the command runs again (RetryBlocked) on this thread, under the thread's share
  // of the EXEC gate like any command; if it pops, its reply and its effects (the LPOP,
  // the LMOVE ... it made, replicated as such) are those of the non-blocking form, and
  // the client goes on with the commands that arrived meanwhile. If it finds nothing
  // again (another client was quicker) it calls BlockOnKeys again, which keeps it
  // blocked. The timer, CLIENT UNBLOCK and a disconnect end the wait too.

  // Blocks the running command (args in `ctx`) on `keys` for `timeout_ms` (0: no limit);
  // `timeout_null` writes the reply given when the time runs out. During a retry: stay
  // blocked.
  void BlockOnKeys(CommandContext& ctx, std::span<const std::string_view> keys, int64_t timeout_ms,
                   void (*timeout_null)(ReplyBuilder&));
  // Whether the running command is a retry of a blocked one (a key's type or contents
  // changed since it blocked): Redis 7.0 keeps such a client blocked on a key that now
  // holds another type, where the first run replies WRONGTYPE.
  bool retrying_blocked() const { return retrying_; }
  // Owner thread. Runs the blocked command again, if the client is still blocked on keys.
  void RetryBlocked();
  // How a wait on keys is ended from outside.
  enum class UnblockReason : uint8_t {
    kTimeout,     // CLIENT UNBLOCK [TIMEOUT]: the timeout's reply
    kError,       // CLIENT UNBLOCK ERROR: -UNBLOCKED client unblocked via CLIENT UNBLOCK
    kRoleChange,  // the server became a replica: Redis's -UNBLOCKED error, then close
  };
  // Any thread. Ends a wait on keys for `reason`. Returns whether the client was blocked
  // on keys when asked (the wait may still end otherwise first).
  bool RequestUnblock(UnblockReason reason);
  // Whether the client waits on keys (relaxed: a hint for CLIENT UNBLOCK).
  bool blocked_on_keys() const { return blocked_on_keys_.load(std::memory_order_relaxed); }
  // Whether the client waits for anything (WAIT, keys, a script): the idle timeout spares
  // it, as in Redis.
  bool blocked() const { return blocked_; }

  // What the connection announced with REPLCONF, kept until its PSYNC.
  ReplicaHandshake& replica_handshake() { return replica_handshake_; }
  // PSYNC or SYNC was accepted: see handover_pending().
  void RequestHandover() { handover_pending_ = true; }

  // Pub/sub subscriptions (the registry holds the other direction).
  StringSet& channels() { return channels_; }
  StringSet& patterns() { return patterns_; }
  // Republishes the subscription counts for CLIENT LIST and the RESP2 context check.
  void UpdateSubscriptionCounts();
  size_t subscription_count() const { return channels_.size() + patterns_.size(); }

  // MULTI / EXEC / DISCARD / WATCH (handlers in client.cc).
  bool in_multi() const { return multi_active_; }
  void BeginMulti();
  // Runs the queued commands atomically and replies their results as one array.
  void ExecMulti(CommandContext& ctx);
  void DiscardMulti();
  // Keys watched by this client; the server's watch registry marks it dirty.
  StringSet& watched_keys() { return watched_keys_; }
  void MarkWatchedKeyModified() { watch_dirty_.store(true, std::memory_order_relaxed); }
  void Unwatch();

  // A reusable vector for MSET's pairs, so the hot path does not allocate.
  std::vector<std::pair<std::string_view, std::string_view>>& pair_scratch() {
    return pair_scratch_;
  }

 private:
  struct QueuedCommand {
    const CommandSpec* spec;
    const CommandSpec* container;
    std::vector<std::string> args;
  };

  // Runs every complete command in the query buffer (until a close, a handover or a
  // block stops it).
  void ProcessInput();
  // Runs the checks Redis runs before a command (arity, auth, pub/sub context, MULTI
  // queueing) and then the command.
  void Dispatch(std::span<const std::string_view> args);
  void Execute(const CommandSpec& spec, const CommandSpec* container,
               std::span<const std::string_view> args, bool in_exec);
  // Replies an error for a command that was not run, and dooms an open MULTI.
  void Reject(std::string_view message);
  void RejectUnknownCommand(std::span<const std::string_view> args);
  void OnProtocolError();
  // Ends a wait on keys: unregisters it and drops its timer; `reply` (if set) writes the
  // command's reply. Then the client goes on with its input.
  void EndKeyWait(void (*reply)(ReplyBuilder&));
  // Redis's checkClientOutputBufferLimits: if the unsent output passed the limit of this
  // client's class (client-output-buffer-limit normal or pubsub), logs Redis's line and
  // closes the connection. Returns whether it did.
  bool EnforceOutputLimit();

  Server& server_;
  IoThread& thread_;
  const uint64_t id_;
  const ClientAddress address_;
  const int64_t created_ms_;

  RequestParser parser_;
  std::vector<std::string_view> args_;  // reused for every command
  std::string output_;
  ReplyBuilder reply_;
  bool close_after_reply_ = false;
  bool handover_pending_ = false;
  bool blocked_ = false;
  ReplicaHandshake replica_handshake_;
  bool authenticated_ = false;

  // The command blocked on keys (BlockOnKeys), null when there is none.
  struct KeyWait {
    const CommandSpec* spec;
    const CommandSpec* container;
    std::vector<std::string> args;
    std::vector<std::string> keys;  // distinct
    void (*timeout_null)(ReplyBuilder&);
    std::unique_ptr<IoTimer> timer;
    std::unique_ptr<IoTimer> busy_retry;  // see RetryBlocked
  };
  // Whether the wait numbered `generation` is still on: a timer whose task was already
  // queued when its wait ended must not end the next one.
  bool WaitingOnKeys(uint64_t generation) const {
    return key_wait_ != nullptr && key_wait_generation_ == generation &&
           !closed_.load(std::memory_order_relaxed);
  }
  std::unique_ptr<KeyWait> key_wait_;
  uint64_t key_wait_generation_ = 0;
  bool retrying_ = false;
  bool retry_kept_blocked_ = false;  // set by BlockOnKeys during a retry
  std::atomic<bool> blocked_on_keys_{false};
  // True while OnRead runs: deliveries then wait for the batch's flush.
  bool processing_ = false;
  // Since when (ms) the unsent output has been over the soft limit; 0 if it is not.
  int64_t over_soft_limit_since_ms_ = 0;

  bool multi_active_ = false;
  bool multi_aborted_ = false;  // a command was rejected while queueing: EXECABORT
  std::vector<QueuedCommand> multi_queue_;
  StringSet watched_keys_;
  // Set by the watch registry from any writing thread; read by EXEC. Relaxed is
  // enough: EXEC holds the whole gate, so every write that could set it has finished
  // and its lock release ordered the store before EXEC's acquisition.
  std::atomic<bool> watch_dirty_{false};

  StringSet channels_;
  StringSet patterns_;
  std::vector<std::pair<std::string_view, std::string_view>> pair_scratch_;

  // What CLIENT LIST shows, readable from any thread.
  mutable Mutex info_mu_;
  std::string name_ ABSL_GUARDED_BY(info_mu_);
  std::atomic<int64_t> last_interaction_ms_;
  std::atomic<const CommandSpec*> last_command_{nullptr};
  std::atomic<const CommandSpec*> last_container_{nullptr};
  std::atomic<int> subscriptions_{0};
  std::atomic<int> pattern_subscriptions_{0};
  std::atomic<int> multi_count_{-1};
  std::atomic<int> resp_shown_{2};
  std::atomic<size_t> query_buffer_bytes_{0};
  std::atomic<size_t> output_bytes_{0};
  std::atomic<bool> closed_{false};
};

}  // namespace mirrorkv::server
