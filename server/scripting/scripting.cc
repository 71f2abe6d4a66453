// Scripting: the script thread, the busy state, SCRIPT KILL, and the EVAL/SCRIPT
// handlers. See scripting.h.
#include "server/scripting/scripting.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "engine/base/numbers.h"
#include "mirrorkv/clock.h"
#include "server/client.h"
#include "server/io_thread.h"
#include "server/logger.h"
#include "server/replication_role.h"
#include "server/scripting/lua_engine.h"
#include "server/server.h"

namespace mirrorkv::server {
namespace {

int64_t NowMs() { return SystemClock::Default()->NowMillis(); }

// The script's own connection has no event loop: nothing is posted to it, because the
// commands that post to a client (CLIENT KILL, SUBSCRIBE, WAIT) may not run in a script.
// Its slot index is never used for the same reason (only MULTI/EXEC takes a slot by
// index, and MULTI is not allowed in scripts either).
class ScriptThreadHandle final : public IoThread {
 public:
  ScriptThreadHandle() : IoThread(0) {}
  void Post(std::function<void()>) override {}
};

// The connection redis.call runs its commands on, as Redis's Lua client: authenticated,
// never written to a socket.
class ScriptClient final : public Client {
 public:
  ScriptClient(Server& server, IoThread& thread) : Client(server, thread, ClientAddress{}) {
    set_authenticated(true);
  }
  void Flush() override {}
  size_t bytes_in_flight() const override { return 0; }
  void Close() override {}
};

}  // namespace

// What redis.call reaches: the command table, with the checks Redis's scriptCall makes
// (in its order) before a command runs from a script.
class Scripting::Host final : public ScriptHost {
 public:
  Host(Scripting& owner, Client& client, bool read_only, bool on_script_thread)
      : owner_(owner),
        client_(client),
        read_only_(read_only),
        on_script_thread_(on_script_thread) {}

  void Call(std::span<const std::string_view> args, int resp, std::string* reply) override {
    ReplyBuilder builder(reply, resp);
    const CommandSpec* spec = LookupCommand(args[0]);
    const CommandSpec* container = nullptr;
    if (spec != nullptr && !spec->subcommands.empty() && args.size() >= 2) {
      container = spec;
      spec = LookupSubcommand(*spec, args[1]);
    }
    if (spec == nullptr) {
      builder.Error("ERR Unknown Redis command called from script");
      return;
    }
    int argc = static_cast<int>(args.size());
    if (spec->arity > 0 ? spec->arity != argc : argc < -spec->arity) {
      builder.Error("ERR Wrong number of args calling Redis command from script");
      return;
    }
    if (spec->flags & kCmdNoScript) {
      builder.Error("ERR This Redis command is not allowed from script");
      return;
    }
    if (spec->flags & kCmdWrite) {
      if (read_only_) {
        builder.Error("ERR Write commands are not allowed from read-only scripts.");
        return;
      }
      owner_.wrote_.store(true, std::memory_order_relaxed);
    }
    client_.set_resp(resp);
    CommandContext ctx{owner_.server_, client_, args, builder, *spec, container, /*in_exec=*/true};
    spec->handler(ctx);
  }

  bool Interrupted() override { return owner_.CheckInterrupt(on_script_thread_); }

 private:
  Scripting& owner_;
  Client& client_;
  const bool read_only_;
  const bool on_script_thread_;
};

Scripting::Scripting(Server& server)
    : server_(server),
      engine_(std::make_unique<LuaEngine>()),
      script_thread_(std::make_unique<ScriptThreadHandle>()) {
  script_client_ = std::make_shared<ScriptClient>(server_, *script_thread_);
  thread_ = std::thread([this] { ThreadMain(); });
}

Scripting::~Scripting() { Stop(); }

void Scripting::Stop() {
  {
    MutexLock lock(&queue_mu_);
    stopping_ = true;
  }
  stop_requested_.store(true, std::memory_order_relaxed);
  queue_cv_.SignalAll();
  if (thread_.joinable()) thread_.join();
}

void Scripting::Submit(CommandContext& ctx) {
  MutexLock lock(&queue_mu_);
  if (stopping_) {
    ctx.reply.Error("ERR the server is shutting down");
    return;
  }
  ctx.client.Block();
  queue_.push_back({ctx.client.shared_from_this(),
                    std::vector<std::string>(ctx.args.begin(), ctx.args.end()),
                    ctx.reply.resp(),
                    {}});
  if (queue_.size() == 1) queue_cv_.Signal();
}

void Scripting::RunInline(CommandContext& ctx) {
  MutexLock lock(&lua_mu_);
  Execute(ctx.args, ctx.reply, /*on_script_thread=*/false);
}

// One hold of the gate runs every call queued so far: under load, many EVALSHAs share
// one exclusion of the I/O threads, and their replies go back together.
void Scripting::ThreadMain() {
  std::vector<Job> jobs;
  std::vector<std::string_view> views;
  while (true) {
    {
      MutexLock lock(&queue_mu_);
      while (queue_.empty() && !stopping_) queue_cv_.Wait(&queue_mu_);
      if (stopping_) return;
      jobs.swap(queue_);
    }
    ExecGate& gate = server_.gate();
    gate.LockAll();
    {
      MutexLock lock(&lua_mu_);
      for (Job& job : jobs) {
        views.assign(job.args.begin(), job.args.end());
        ReplyBuilder reply(&job.reply, job.resp);
        Execute(views, reply, /*on_script_thread=*/true);
      }
    }
    gate.UnlockAll();
    for (Job& job : jobs) {
      job.client->Unblock([reply = std::move(job.reply)](ReplyBuilder& out) { out.Raw(reply); });
    }
    jobs.clear();
  }
}

void Scripting::Execute(std::span<const std::string_view> args, ReplyBuilder& reply,
                        bool on_script_thread) {
  std::string name = absl::AsciiStrToLower(internal::AsAbsl(args[0]));
  if (name == "script") {
    std::string sub = absl::AsciiStrToLower(internal::AsAbsl(args[1]));
    if (sub == "load") {
      Result<std::string> sha = engine_->Load(args[2]);
      if (sha.ok()) {
        reply.Bulk(*sha);
      } else {
        reply.Error(absl::StrCat("ERR ", internal::AsAbsl(sha.status().message())));
      }
    } else if (sub == "exists") {
      reply.ArrayHeader(args.size() - 2);
      for (size_t i = 2; i < args.size(); ++i) {
        std::string sha = absl::AsciiStrToLower(internal::AsAbsl(args[i]));
        reply.Integer(sha.size() == 40 && engine_->Exists(sha) ? 1 : 0);
      }
    } else {  // flush
      if (args.size() > 3 || (args.size() == 3 && !EqualsIgnoreCase(args[2], "sync") &&
                              !EqualsIgnoreCase(args[2], "async"))) {
        reply.Error("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
        return;
      }
      engine_->Reset();
      reply.Ok();
    }
    return;
  }
  bool by_sha = name == "evalsha" || name == "evalsha_ro";
  bool read_only = name == "eval_ro" || name == "evalsha_ro";
  Eval(args, by_sha, read_only, reply, on_script_thread);
}

void Scripting::Eval(std::span<const std::string_view> args, bool by_sha, bool read_only,
                     ReplyBuilder& reply, bool on_script_thread) {
  int64_t key_count = 0;
  if (!internal::ParseInt64(args[2], &key_count)) {
    reply.Error("ERR value is not an integer or out of range");
    return;
  }
  if (key_count > static_cast<int64_t>(args.size()) - 3) {
    reply.Error("ERR Number of keys can't be greater than number of args");
    return;
  }
  if (key_count < 0) {
    reply.Error("ERR Number of keys can't be negative");
    return;
  }
  std::string sha;
  if (by_sha) {
    sha = absl::AsciiStrToLower(internal::AsAbsl(args[1]));
    if (sha.size() != 40 || !engine_->Exists(sha)) {
      reply.Error("NOSCRIPT No matching script. Please use EVAL.");
      return;
    }
  } else {
    Result<std::string> loaded = engine_->Load(args[1]);
    if (!loaded.ok()) {
      reply.Error(absl::StrCat("ERR ", internal::AsAbsl(loaded.status().message())));
      return;
    }
    sha = std::move(*loaded);
  }
  std::span<const std::string_view> keys = args.subspan(3, static_cast<size_t>(key_count));
  std::span<const std::string_view> argv = args.subspan(3 + static_cast<size_t>(key_count));

  started_ms_ = NowMs();
  busy_threshold_ms_ = server_.busy_reply_threshold_ms();
  current_sha_ = sha;
  wrote_.store(false, std::memory_order_relaxed);
  kill_requested_.store(false, std::memory_order_relaxed);
  running_.store(on_script_thread, std::memory_order_relaxed);
  Host host(*this, *script_client_, read_only, on_script_thread);
  {
    // The script's changes reach the log as one group (MULTI ... EXEC when there are
    // several), so a replica applies them atomically.
    ServerReplication::EffectGroup group(server_.replication());
    engine_->Run(sha, keys, argv, host, reply);
  }
  running_.store(false, std::memory_order_relaxed);
  if (released_gate_) RetakeGate();
}

// The script ran past the threshold and let go of the gate (CheckInterrupt). The order
// matters: the interpreter is released before busy() turns false, since from then on an
// EXEC may hold the gate and want the interpreter; then the gate is taken back for the
// rest of the batch, and the interpreter after it (always gate, then interpreter).
void Scripting::RetakeGate() {
  released_gate_ = false;
  lua_mu_.Unlock();
  Log(LogLevel::kWarning, "Slow script finished after %d milliseconds: %s", NowMs() - started_ms_,
      current_sha_);
  busy_.store(false, std::memory_order_release);
  server_.gate().LockAll();
  lua_mu_.Lock();
}

bool Scripting::CheckInterrupt(bool on_script_thread) {
  if (stop_requested_.load(std::memory_order_relaxed) || server_.shutting_down()) return true;
  if (kill_requested_.load(std::memory_order_relaxed)) return true;
  if (on_script_thread && !released_gate_ && busy_threshold_ms_ > 0 &&
      NowMs() - started_ms_ >= busy_threshold_ms_) {
    Log(LogLevel::kWarning,
        "Slow script detected: still in execution after %d milliseconds. You can try killing "
        "the script using the SCRIPT KILL command. Script name is: %s.",
        NowMs() - started_ms_, current_sha_);
    busy_.store(true, std::memory_order_release);
    released_gate_ = true;
    server_.gate().UnlockAll();
  }
  return false;
}

void Scripting::Kill(CommandContext& ctx) {
  if (!busy() || !running_.load(std::memory_order_relaxed)) {
    ctx.reply.Error("NOTBUSY No scripts in execution right now.");
    return;
  }
  if (wrote_.load(std::memory_order_relaxed)) {
    ctx.reply.Error(
        "UNKILLABLE Sorry the script already executed write commands against the dataset. You "
        "can either wait the script termination or kill the server in a hard way using the "
        "SHUTDOWN NOSAVE command.");
    return;
  }
  kill_requested_.store(true, std::memory_order_relaxed);
  ctx.reply.Ok();
}

namespace {

// EVAL and SCRIPT LOAD/EXISTS/FLUSH go to the script thread; inside EXEC (the gate held
// already) they run where they are.
void ScriptFamilyCommand(CommandContext& ctx) {
  if (ctx.in_exec) {
    ctx.server.scripting().RunInline(ctx);
  } else {
    ctx.server.scripting().Submit(ctx);
  }
}

void ScriptKillCommand(CommandContext& ctx) { ctx.server.scripting().Kill(ctx); }

void ScriptHelpCommand(CommandContext& ctx) {
  static constexpr std::string_view kLines[] = {
      "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "DEBUG (YES|SYNC|NO)",
      "    Set the debug mode for subsequent scripts executed.",
      "EXISTS <sha1> [<sha1> ...]",
      "    Return information about the existence of the scripts in the script cache.",
      "FLUSH [ASYNC|SYNC]",
      "    Flush the Lua scripts cache. Very dangerous on replicas.",
      "    When called without the optional mode argument, the behavior is determined by the",
      "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
      "    * ASYNC: Asynchronously flush the scripts cache.",
      "    * SYNC: Synchronously flush the scripts cache.",
      "KILL",
      "    Kill the currently executing Lua script.",
      "LOAD <script>",
      "    Load a script into the scripts cache without executing it.",
      "HELP",
      "    Prints this help."};
  ReplyHelp(ctx, kLines);
}

constexpr uint32_t kEvalFlags = kCmdNoScript | kCmdStale;

const CommandSpec kScriptSubcommands[] = {
    {"load", 3, kCmdNoScript | kCmdStale, ScriptFamilyCommand, 0, 0, 0, "@slow @scripting"},
    {"exists", -3, kCmdNoScript, ScriptFamilyCommand, 0, 0, 0, "@slow @scripting"},
    {"flush", -2, kCmdNoScript, ScriptFamilyCommand, 0, 0, 0, "@slow @scripting"},
    {"kill", 2, kCmdNoScript | kCmdAllowBusy, ScriptKillCommand, 0, 0, 0, "@slow @scripting"},
    {"help", 2, kCmdNoScript | kCmdLoading | kCmdStale, ScriptHelpCommand, 0, 0, 0,
     "@slow @scripting"},
};

// Key positions as COMMAND reports them for EVAL (the keys follow numkeys; clients that
// need them exactly use COMMAND GETKEYS).
const CommandSpec kCommands[] = {
    {"eval", -3, kEvalFlags, ScriptFamilyCommand, 0, 0, 0, "@slow @scripting"},
    {"evalsha", -3, kEvalFlags, ScriptFamilyCommand, 0, 0, 0, "@slow @scripting"},
    {"eval_ro", -3, kEvalFlags | kCmdReadOnly, ScriptFamilyCommand, 0, 0, 0, "@slow @scripting"},
    {"evalsha_ro", -3, kEvalFlags | kCmdReadOnly, ScriptFamilyCommand, 0, 0, 0, "@slow @scripting"},
    {"script", -2, kCmdNoScript, nullptr, 0, 0, 0, "@slow", kScriptSubcommands},
};

}  // namespace

std::span<const CommandSpec> ScriptingCommands() { return kCommands; }

}  // namespace mirrorkv::server
