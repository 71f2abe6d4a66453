// Client: parsing and dispatch for one connection, MULTI/EXEC/WATCH, and the CLIENT LIST
// view of it. See client.h.
#include "server/client.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "mirrorkv/clock.h"
#include "server/exec_gate.h"
#include "server/io_thread.h"
#include "server/keyspace_listener.h"
#include "server/logger.h"
#include "server/scripting/scripting.h"
#include "server/server.h"

namespace mirrorkv::server {
namespace {

int64_t NowMs() { return SystemClock::Default()->NowMillis(); }

// A batch of pipelined commands stops once its replies pass this, and goes on in a task
// posted behind the other connections' work: a client whose replies are large (GETs of
// big values) cannot hold its I/O thread for longer than one such slice at a time.
constexpr size_t kBatchOutputBytes = 1u << 20;

// Redis prints arguments with %s: a NUL byte ends them.
std::string_view UpToNul(std::string_view text) {
  size_t nul = text.find('\0');
  return nul == std::string_view::npos ? text : text.substr(0, nul);
}

// While a slow script holds the server busy, a blocked command waits this long before it
// tries again (it must not run beside the script).
constexpr std::chrono::milliseconds kBusyRetryDelay{10};

void ReplyUnblockedError(ReplyBuilder& reply) {
  reply.Error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
}

void ReplyRoleChangeError(ReplyBuilder& reply) {
  reply.Error(
      "UNBLOCKED force unblock from blocking operation, instance state changed (master -> "
      "replica?)");
}

bool ArityAllows(const CommandSpec& spec, size_t argc) {
  int n = static_cast<int>(argc);
  return spec.arity > 0 ? spec.arity == n : n >= -spec.arity;
}

}  // namespace

Client::Client(Server& server, IoThread& thread, ClientAddress address)
    : server_(server),
      thread_(thread),
      id_(server.clients().NextId()),
      address_(std::move(address)),
      created_ms_(NowMs()),
      reply_(&output_),
      authenticated_(!server.password_required()),
      last_interaction_ms_(created_ms_) {}

Client::~Client() = default;

void Client::OnRead(size_t n) {
  parser_.CommitRead(n);
  ThreadStats& stats = thread_.stats();
  ThreadStats::Add(stats.net_input_bytes, n);
  last_interaction_ms_.store(NowMs(), std::memory_order_relaxed);
  ProcessInput();
}

void Client::ProcessInput() {
  if (server_.shutting_down()) return;
  ThreadStats& stats = thread_.stats();

  uint64_t errors_before = reply_.errors();
  uint64_t commands = 0;
  bool yielded = false;
  processing_ = true;
  {
    // The whole batch runs under this thread's share of the EXEC gate: one uncontended
    // lock per read, however many pipelined commands it carried.
    ExecGateShare share(server_.gate(), thread_.index());
    ParserLimits limits = server_.parser_limits();
    while (!close_after_reply_ && !handover_pending_ && !blocked_ &&
           !closed_.load(std::memory_order_relaxed)) {
      RequestParser::Outcome outcome = parser_.Next(limits, !AuthRequired(), &args_);
      if (outcome == RequestParser::Outcome::kNeedMore) break;
      if (outcome == RequestParser::Outcome::kError) {
        OnProtocolError();
        break;
      }
      Dispatch(args_);
      ++commands;
      if (EnforceOutputLimit()) break;
      if (output_.size() >= kBatchOutputBytes) {
        yielded = true;
        break;
      }
    }
  }
  processing_ = false;
  if (yielded && !closed_.load(std::memory_order_relaxed)) {
    thread_.Post([self = shared_from_this()] {
      self->ProcessInput();
      self->Flush();
    });
  }
  parser_.ShrinkIfIdle();
  ThreadStats::Add(stats.commands, commands);
  ThreadStats::Add(stats.error_replies, reply_.errors() - errors_before);
  query_buffer_bytes_.store(parser_.pending_bytes(), std::memory_order_relaxed);
  output_bytes_.store(output_.size(), std::memory_order_relaxed);
}

void Client::OnWritten(size_t n) {
  ThreadStats::Add(thread_.stats().net_output_bytes, n);
  output_bytes_.store(output_.size(), std::memory_order_relaxed);
}

// Redis answers a protocol error and closes the connection once that reply (and the
// replies to the commands before it in the same read) are written; nothing after the bad
// bytes is parsed, since the stream can no longer be trusted to be in step.
void Client::OnProtocolError() {
  reply_.Error(parser_.error());
  close_after_reply_ = true;
  if (parser_.query_buffer_overflow()) {
    Log(LogLevel::kWarning, "Closing client that reached max query buffer length: id=%d addr=%s",
        id_, address_.peer);
  } else {
    Log(LogLevel::kVerbose, "Protocol error (%s) from client: id=%d addr=%s", parser_.error(), id_,
        address_.peer);
  }
}

bool Client::EnforceOutputLimit() {
  const OutputBufferLimit limit = server_.output_limit(is_pubsub());
  if (limit.hard == 0 && limit.soft == 0) return false;
  const size_t pending = output_.size() + bytes_in_flight();
  bool over = limit.hard > 0 && pending > limit.hard;
  if (limit.soft > 0 && pending > limit.soft) {
    int64_t now = NowMs();
    if (over_soft_limit_since_ms_ == 0) over_soft_limit_since_ms_ = now;
    over = over || now - over_soft_limit_since_ms_ > limit.soft_seconds * 1000;
  } else {
    over_soft_limit_since_ms_ = 0;
  }
  if (!over) return false;
  Log(LogLevel::kWarning,
      "Client %s scheduled to be closed ASAP for overcoming of output buffer limits.",
      Describe(NowMs()));
  output_.clear();
  Close();
  return true;
}

// A client that connected while no password was set stays authenticated when one is set
// later (Redis behaves the same: authentication is decided per connection).
bool Client::AuthRequired() const { return !authenticated_ && server_.password_required(); }

// A command refused before it ran. Inside MULTI this dooms the transaction: EXEC then
// answers EXECABORT instead of running a queue the client did not intend.
void Client::Reject(std::string_view message) {
  reply_.Error(message);
  if (multi_active_) multi_aborted_ = true;
}

void Client::RejectUnknownCommand(std::span<const std::string_view> args) {
  // Redis quotes the first arguments, up to 128 characters in all.
  std::string quoted;
  for (size_t i = 1; i < args.size() && quoted.size() < 128; ++i) {
    std::string_view arg = UpToNul(args[i]);
    arg = arg.substr(0, 128 - quoted.size());
    absl::StrAppend(&quoted, "'", internal::AsAbsl(arg), "' ");
  }
  std::string_view name = UpToNul(args[0]).substr(0, 128);
  Reject(absl::StrCat("ERR unknown command '", internal::AsAbsl(name),
                      "', with args beginning with: ", quoted));
}

// The checks run in the order of Redis 7.0's processCommand, because clients can observe
// the order: an unknown command is reported as unknown even before AUTH, a wrong arity
// before NOAUTH, NOAUTH before the pub/sub context error, and every one of them inside
// MULTI instead of a +QUEUED.
void Client::Dispatch(std::span<const std::string_view> args) {
  // Redis 7.0 answers QUIT before anything else, in any state.
  if (args[0].size() == 4 && EqualsIgnoreCase(args[0], "quit")) {
    reply_.Ok();
    close_after_reply_ = true;
    return;
  }
  const CommandSpec* spec = LookupCommand(args[0]);
  if (spec == nullptr) {
    RejectUnknownCommand(args);
    return;
  }
  const CommandSpec* container = nullptr;
  if (!spec->subcommands.empty() && args.size() >= 2) {
    const CommandSpec* sub = LookupSubcommand(*spec, args[1]);
    if (sub == nullptr) {
      std::string upper = absl::AsciiStrToUpper(internal::AsAbsl(spec->name));
      Reject(absl::StrCat("ERR unknown subcommand '",
                          internal::AsAbsl(UpToNul(args[1]).substr(0, 128)), "'. Try ", upper,
                          " HELP."));
      return;
    }
    container = spec;
    spec = sub;
  }
  if (!ArityAllows(*spec, args.size())) {
    Reject(absl::StrCat("ERR wrong number of arguments for '", CommandFullName(*spec, container),
                        "' command"));
    return;
  }
  if (AuthRequired() && (spec->flags & kCmdNoAuth) == 0) {
    Reject("NOAUTH Authentication required.");
    return;
  }
  if (resp() == 2 && subscription_count() > 0 && (spec->flags & kCmdSubscribeContext) == 0) {
    Reject(absl::StrCat("ERR Can't execute '", CommandFullName(*spec, container),
                        "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are "
                        "allowed in this context"));
    return;
  }
  // A script past busy-reply-threshold has let go of the gate (scripting.h): only
  // commands that touch no data may run beside it.
  if ((spec->flags & kCmdAllowBusy) == 0 && server_.scripting().busy()) {
    if (multi_active_ && spec->name == "exec") {
      // Redis's answer to a refused EXEC: the transaction goes, with the reason.
      DiscardMulti();
      Unwatch();
      reply_.Error(absl::StrCat("EXECABORT Transaction discarded because of: ",
                                internal::AsAbsl(Scripting::kBusyError)));
      return;
    }
    Reject(Scripting::kBusyError);
    return;
  }
  if (multi_active_ && (spec->flags & kCmdNoQueue) == 0) {
    if (spec->flags & kCmdNoMulti) {
      Reject("ERR Command not allowed inside a transaction");
      return;
    }
    multi_queue_.push_back({spec, container, std::vector<std::string>(args.begin(), args.end())});
    multi_count_.store(static_cast<int>(multi_queue_.size()), std::memory_order_relaxed);
    reply_.SimpleString("QUEUED");
    return;
  }
  Execute(*spec, container, args, /*in_exec=*/false);
}

void Client::Execute(const CommandSpec& spec, const CommandSpec* container,
                     std::span<const std::string_view> args, bool in_exec) {
  last_command_.store(&spec, std::memory_order_relaxed);
  last_container_.store(container, std::memory_order_relaxed);
  CommandContext ctx{server_, *this, args, reply_, spec, container, in_exec};
  spec.handler(ctx);
}

void Client::set_resp(int resp) {
  reply_.set_resp(resp);
  resp_shown_.store(resp, std::memory_order_relaxed);
}

void Client::set_name(std::string name) {
  MutexLock lock(&info_mu_);
  name_ = std::move(name);
}

std::string Client::name() const {
  MutexLock lock(&info_mu_);
  return name_;
}

void Client::UpdateSubscriptionCounts() {
  subscriptions_.store(static_cast<int>(channels_.size()), std::memory_order_relaxed);
  pattern_subscriptions_.store(static_cast<int>(patterns_.size()), std::memory_order_relaxed);
}

// RESET: everything a connection accumulated goes (transaction, watches, subscriptions,
// name, RESP version, authentication when a password is set), as if it just connected.
void Client::Reset() {
  DiscardMulti();
  Unwatch();
  for (const std::string& channel : channels_) server_.pubsub().Unsubscribe(this, channel);
  for (const std::string& pattern : patterns_) server_.pubsub().PUnsubscribe(this, pattern);
  channels_.clear();
  patterns_.clear();
  UpdateSubscriptionCounts();
  set_name("");
  set_resp(2);
  authenticated_ = !server_.password_required();
}

void Client::Kill() {
  if (IoThread::Current() != &thread_) {
    thread_.Post([self = shared_from_this()] { self->Kill(); });
    return;
  }
  if (processing_) {
    // The client is killing itself: finish the reply being built, then close.
    close_after_reply_ = true;
    return;
  }
  Close();
}

void Client::Unblock(std::function<void(ReplyBuilder&)> reply) {
  if (IoThread::Current() != &thread_) {
    thread_.Post([self = shared_from_this(), reply = std::move(reply)]() mutable {
      self->Unblock(std::move(reply));
    });
    return;
  }
  if (closed_.load(std::memory_order_relaxed)) return;
  blocked_ = false;
  reply(reply_);
  ProcessInput();
  Flush();
}

void Client::BlockOnKeys(CommandContext& ctx, std::span<const std::string_view> keys,
                         int64_t timeout_ms, void (*timeout_null)(ReplyBuilder&)) {
  if (retrying_) {
    retry_kept_blocked_ = true;
    return;
  }
  auto wait = std::make_unique<KeyWait>();
  wait->spec = &ctx.spec;
  wait->container = ctx.container;
  wait->args.assign(ctx.args.begin(), ctx.args.end());
  for (std::string_view key : keys) {
    if (std::find(wait->keys.begin(), wait->keys.end(), key) == wait->keys.end()) {
      wait->keys.emplace_back(key);
    }
  }
  wait->timeout_null = timeout_null;
  const uint64_t generation = ++key_wait_generation_;
  if (timeout_ms > 0) {
    wait->timer = thread_.StartTimer(std::chrono::milliseconds(timeout_ms),
                                     [weak = weak_from_this(), generation] {
                                       std::shared_ptr<Client> self = weak.lock();
                                       if (self == nullptr || !self->WaitingOnKeys(generation))
                                         return;
                                       self->EndKeyWait(self->key_wait_->timeout_null);
                                     });
  }
  key_wait_ = std::move(wait);
  blocked_ = true;
  blocked_on_keys_.store(true, std::memory_order_relaxed);
  server_.keyspace().AddKeyWaiter(this, key_wait_->keys);
  // One retry now: a write that came between the first run and the registration saw no
  // waiter to wake (see KeyspaceListener::blocked_clients_).
  thread_.Post([self = shared_from_this()] { self->RetryBlocked(); });
}

void Client::RetryBlocked() {
  if (key_wait_ == nullptr || closed_.load(std::memory_order_relaxed) || server_.shutting_down()) {
    return;
  }
  if (server_.scripting().busy()) {
    // The script has let go of the gate; the wake-ups it causes meanwhile would run
    // beside it. Try again shortly, until it ends.
    key_wait_->busy_retry = thread_.StartTimer(
        kBusyRetryDelay, [weak = weak_from_this(), generation = key_wait_generation_] {
          std::shared_ptr<Client> self = weak.lock();
          if (self != nullptr && self->WaitingOnKeys(generation)) self->RetryBlocked();
        });
    return;
  }
  retrying_ = true;
  retry_kept_blocked_ = false;
  {
    ExecGateShare share(server_.gate(), thread_.index());
    std::vector<std::string_view> views(key_wait_->args.begin(), key_wait_->args.end());
    Execute(*key_wait_->spec, key_wait_->container, views, /*in_exec=*/false);
  }
  retrying_ = false;
  if (!retry_kept_blocked_) EndKeyWait(nullptr);
}

bool Client::RequestUnblock(UnblockReason reason) {
  if (!blocked_on_keys()) return false;
  thread_.Post([self = shared_from_this(), reason] {
    if (self->key_wait_ == nullptr || self->closed()) return;
    switch (reason) {
      case UnblockReason::kTimeout:
        return self->EndKeyWait(self->key_wait_->timeout_null);
      case UnblockReason::kError:
        return self->EndKeyWait(&ReplyUnblockedError);
      case UnblockReason::kRoleChange:
        // As Redis: the command cannot go on on a replica, and neither can the
        // connection's pipeline, which was sent to a primary.
        self->close_after_reply_ = true;
        return self->EndKeyWait(&ReplyRoleChangeError);
    }
  });
  return true;
}

void Client::EndKeyWait(void (*reply)(ReplyBuilder&)) {
  std::unique_ptr<KeyWait> wait = std::move(key_wait_);  // its timers go with it
  server_.keyspace().RemoveKeyWaiter(this, wait->keys);
  blocked_on_keys_.store(false, std::memory_order_relaxed);
  blocked_ = false;
  if (reply != nullptr) reply(reply_);
  ProcessInput();
  Flush();
}

// Only the owner thread appends to output_, so a delivery from another thread is posted;
// the message is shared, not copied, between subscribers.
void Client::Deliver(std::shared_ptr<const OutOfBandMessage> message) {
  if (IoThread::Current() != &thread_) {
    thread_.Post([self = shared_from_this(), message = std::move(message)]() mutable {
      self->Deliver(std::move(message));
    });
    return;
  }
  if (closed_.load(std::memory_order_relaxed)) return;
  output_.append(resp() >= 3 ? message->resp3 : message->resp2);
  if (EnforceOutputLimit()) return;
  // During a batch the flush at its end sends the message along with the replies.
  if (!processing_) Flush();
}

// Unregistration happens while the client is alive and on its own thread, so the pub/sub
// and watch registries never hold a pointer to a destroyed client.
void Client::OnClosed() {
  if (closed_.exchange(true)) return;
  for (const std::string& channel : channels_) server_.pubsub().Unsubscribe(this, channel);
  for (const std::string& pattern : patterns_) server_.pubsub().PUnsubscribe(this, pattern);
  channels_.clear();
  patterns_.clear();
  UpdateSubscriptionCounts();
  Unwatch();
  if (key_wait_ != nullptr) {
    server_.keyspace().RemoveKeyWaiter(this, key_wait_->keys);
    key_wait_.reset();
    blocked_on_keys_.store(false, std::memory_order_relaxed);
  }
  thread_.RemoveClient(this);
  server_.clients().Remove(id_);
  Log(LogLevel::kVerbose, "Client closed connection id=%d addr=%s", id_, address_.peer);
}

// The replica's session reads from the same stream; whatever followed PSYNC in the last
// read is passed along rather than dropped.
void Client::HandOver(int fd) {
  server_.replication().ServeReplica(fd, address_.peer, std::string(parser_.unparsed()),
                                     std::move(replica_handshake_));
  OnClosed();
}

// CLIENT LIST's line, with Redis's field names and order so that tools splitting on
// spaces and '=' keep working. Buffers Redis reports that do not exist here (argv-mem,
// rbs, oll ...) are reported as 0. Runs on any thread: it reads only atomics.
std::string Client::Describe(int64_t now_ms) const {
  const CommandSpec* command = last_command_.load(std::memory_order_relaxed);
  const CommandSpec* container = last_container_.load(std::memory_order_relaxed);
  std::string command_name = command != nullptr ? CommandFullName(*command, container) : "NULL";
  int multi = multi_count_.load(std::memory_order_relaxed);
  int subs = subscriptions_.load(std::memory_order_relaxed);
  int psubs = pattern_subscriptions_.load(std::memory_order_relaxed);
  // Redis's flag letters, in its order: P subscriber, x in MULTI, b blocked on keys, N
  // none.
  std::string flags;
  if (subs + psubs > 0) flags += 'P';
  if (multi >= 0) flags += 'x';
  if (blocked_on_keys()) flags += 'b';
  if (flags.empty()) flags = "N";
  size_t qbuf = query_buffer_bytes_.load(std::memory_order_relaxed);
  size_t obl = output_bytes_.load(std::memory_order_relaxed);
  return absl::StrFormat(
      "id=%d addr=%s laddr=%s fd=%d name=%s age=%d idle=%d flags=%s db=0 sub=%d psub=%d "
      "ssub=0 multi=%d qbuf=%d qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=%d oll=0 "
      "omem=0 tot-mem=%d events=r cmd=%s user=default redir=-1 resp=%d",
      id_, address_.peer, address_.local, address_.fd, name(), (now_ms - created_ms_) / 1000,
      (now_ms - last_interaction_ms()) / 1000, flags, subs, psubs, multi, qbuf, obl, qbuf + obl,
      command_name, resp_shown_.load(std::memory_order_relaxed));
}

// --- MULTI / EXEC / DISCARD / WATCH ---

void Client::BeginMulti() {
  multi_active_ = true;
  multi_aborted_ = false;
  multi_queue_.clear();
  multi_count_.store(0, std::memory_order_relaxed);
}

void Client::DiscardMulti() {
  multi_active_ = false;
  multi_aborted_ = false;
  multi_queue_.clear();
  multi_count_.store(-1, std::memory_order_relaxed);
}

void Client::Unwatch() {
  for (const std::string& key : watched_keys_) server_.keyspace().Unwatch(this, key);
  watched_keys_.clear();
  watch_dirty_.store(false, std::memory_order_relaxed);
}

// EXEC: the queue runs with every I/O thread excluded (see exec_gate.h). The queued
// commands' arguments were copied when queued (the query buffer has moved on since), and
// they run through Execute like any command, replying into one array. A WATCHed key
// changed since WATCH makes EXEC reply a null array and run nothing.
void Client::ExecMulti(CommandContext& ctx) {
  if (!multi_active_) {
    ctx.reply.Error("ERR EXEC without MULTI");
    return;
  }
  if (multi_aborted_) {
    DiscardMulti();
    Unwatch();
    ctx.reply.Error("EXECABORT Transaction discarded because of previous errors.");
    return;
  }
  std::vector<QueuedCommand> queue = std::move(multi_queue_);
  DiscardMulti();
  // Exclusive use of the whole server: give up this thread's share (held for the batch)
  // and take every share, in order. See exec_gate.h.
  ExecGate& gate = server_.gate();
  gate.UnlockShared(thread_.index());
  gate.LockAll();
  if (server_.scripting().busy()) {
    // A slow script let go of the gate after this EXEC passed the busy check; its
    // transaction must not run beside the script.
    ctx.reply.Error(Scripting::kBusyError);
  } else if (watch_dirty_.load(std::memory_order_relaxed)) {
    ctx.reply.NullArray();
  } else {
    ctx.reply.ArrayHeader(queue.size());
    // The transaction's changes reach replicas as one MULTI ... EXEC.
    ServerReplication::EffectGroup group(server_.replication());
    std::vector<std::string_view> views;
    for (const QueuedCommand& command : queue) {
      views.assign(command.args.begin(), command.args.end());
      Execute(*command.spec, command.container, views, /*in_exec=*/true);
    }
  }
  gate.UnlockAll();
  gate.LockShared(thread_.index());
  Unwatch();
}

namespace {

void MultiCommand(CommandContext& ctx) {
  if (ctx.client.in_multi()) {
    ctx.reply.Error("ERR MULTI calls can not be nested");
    return;
  }
  ctx.client.BeginMulti();
  ctx.reply.Ok();
}

void ExecCommand(CommandContext& ctx) { ctx.client.ExecMulti(ctx); }

void DiscardCommand(CommandContext& ctx) {
  if (!ctx.client.in_multi()) {
    ctx.reply.Error("ERR DISCARD without MULTI");
    return;
  }
  ctx.client.DiscardMulti();
  ctx.client.Unwatch();
  ctx.reply.Ok();
}

void WatchCommand(CommandContext& ctx) {
  if (ctx.client.in_multi()) {
    ctx.reply.Error("ERR WATCH inside MULTI is not allowed");
    return;
  }
  for (size_t i = 1; i < ctx.argc(); ++i) {
    if (ctx.client.watched_keys().emplace(ctx.args[i]).second) {
      ctx.server.keyspace().Watch(&ctx.client, ctx.args[i]);
    }
  }
  ctx.reply.Ok();
}

void UnwatchCommand(CommandContext& ctx) {
  ctx.client.Unwatch();
  ctx.reply.Ok();
}

constexpr uint32_t kTxFlags = kCmdNoScript | kCmdLoading | kCmdStale | kCmdAllowBusy;

const CommandSpec kCommands[] = {
    {"multi", 1, kTxFlags | kCmdNoQueue | kCmdFast, MultiCommand, 0, 0, 0, "@fast @transaction"},
    // Not allow-busy, as in Redis: a transaction does not run beside a slow script.
    {"exec", 1, (kTxFlags & ~kCmdAllowBusy) | kCmdNoQueue, ExecCommand, 0, 0, 0,
     "@slow @transaction"},
    {"discard", 1, kTxFlags | kCmdNoQueue | kCmdFast, DiscardCommand, 0, 0, 0,
     "@fast @transaction"},
    {"watch", -2, kTxFlags | kCmdNoQueue | kCmdFast, WatchCommand, 1, -1, 1, "@fast @transaction"},
    {"unwatch", 1, kTxFlags | kCmdFast, UnwatchCommand, 0, 0, 0, "@fast @transaction"},
};

}  // namespace

std::span<const CommandSpec> TransactionCommands() { return kCommands; }

}  // namespace mirrorkv::server
