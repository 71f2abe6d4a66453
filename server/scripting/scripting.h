// Scripting: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT, on the script thread.
//
// Threading. Every script runs on one thread of its own, the script thread, holding the
// whole EXEC gate (exec_gate.h), so a script is atomic exactly as a MULTI/EXEC is: no
// other command runs anywhere until it ends. The I/O thread that received EVAL blocks the
// client (Client::Block), hands the call over and goes on serving its other connections;
// the script thread runs every call queued meanwhile under one hold of the gate and
// hands each reply back (Client::Unblock). Keeping the I/O threads free is what lets a
// slow script be answered the way Redis answers it:
//
//   busy-reply-threshold (alias lua-time-limit, 5000 ms by default). When a script has
//   run that long the script thread logs it, marks the server busy and lets go of the
//   gate. While busy, every command but the allow-busy ones (SCRIPT KILL, SHUTDOWN,
//   AUTH, HELLO ...) is refused with "-BUSY ...", so nothing runs beside the script and
//   it stays atomic. SCRIPT KILL stops a script that has not written yet; one that has
//   answers "-UNKILLABLE ...", since stopping it would leave half its effects.
//
// A script inside MULTI runs on the I/O thread while EXEC holds the gate.
//
// Replication. A script's writes reach the command log as their effects (SET, DEL,
// PEXPIREAT ...), never as the script: a replica never runs Lua. When a script makes
// more than one change, its effects are wrapped in MULTI ... EXEC (see
// ServerReplication::BeginEffectGroup), so a replica applies all of them or none.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/base/mutex.h"
#include "server/commands.h"

namespace mirrorkv::server {

class Client;
class IoThread;
class LuaEngine;
class Server;

class Scripting {
 public:
  explicit Scripting(Server& server);
  ~Scripting();
  Scripting(const Scripting&) = delete;
  Scripting& operator=(const Scripting&) = delete;

  // Whether a script has run past busy-reply-threshold and is still running: commands
  // without the allow-busy flag must then be refused with BusyError(). Acquire: a command
  // that sees false also sees every change of the script that just ended.
  bool busy() const { return busy_.load(std::memory_order_acquire); }
  static constexpr std::string_view kBusyError =
      "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";

  // Interrupts the running script (as SCRIPT KILL would, even after writes), refuses
  // new work and joins the script thread. For shutdown; idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(queue_mu_);

  // The command handlers (scripting.cc) reach the rest through these. Submit hands the
  // command to the script thread and blocks the client until its reply; RunInline runs it
  // on the calling thread, which must hold the whole gate (EXEC).
  void Submit(CommandContext& ctx) ABSL_LOCKS_EXCLUDED(queue_mu_);
  void RunInline(CommandContext& ctx) ABSL_LOCKS_EXCLUDED(lua_mu_);
  void Kill(CommandContext& ctx);

 private:
  struct Job {
    std::shared_ptr<Client> client;
    std::vector<std::string> args;
    int resp = 2;
    std::string reply;
  };
  class Host;

  void ThreadMain() ABSL_LOCKS_EXCLUDED(queue_mu_);
  // Runs one command of the family (EVAL..., SCRIPT LOAD/EXISTS/FLUSH) into `reply`.
  void Execute(std::span<const std::string_view> args, ReplyBuilder& reply, bool on_script_thread)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lua_mu_);
  void Eval(std::span<const std::string_view> args, bool by_sha, bool read_only,
            ReplyBuilder& reply, bool on_script_thread) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lua_mu_);
  // Called from the Lua hook: whether to stop the script; on the script thread, enters
  // the busy state once the threshold has passed.
  bool CheckInterrupt(bool on_script_thread);
  // Leaves the busy state after a slow script (see the .cc file for the order).
  void RetakeGate() ABSL_NO_THREAD_SAFETY_ANALYSIS;

  Server& server_;

  Mutex queue_mu_;
  CondVar queue_cv_;
  std::vector<Job> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool stopping_ ABSL_GUARDED_BY(queue_mu_) = false;
  std::thread thread_;

  // The interpreter. Held by whoever runs Lua: the script thread (inside the gate, or
  // busy) or an EXEC (holding the gate); never waited for while holding the gate
  // exclusively and busy() is true, which keeps the two from deadlocking.
  mutable Mutex lua_mu_;
  std::unique_ptr<LuaEngine> engine_ ABSL_GUARDED_BY(lua_mu_);
  // The connection redis.call runs commands on, and the thread handle it needs.
  std::unique_ptr<IoThread> script_thread_;
  std::shared_ptr<Client> script_client_;

  // The script running now (on the script thread). Written by that thread, read by
  // SCRIPT KILL from any I/O thread; relaxed except busy_ (see busy()).
  std::atomic<bool> running_{false};
  std::atomic<bool> busy_{false};
  std::atomic<bool> wrote_{false};
  std::atomic<bool> kill_requested_{false};
  std::atomic<bool> stop_requested_{false};
  int64_t started_ms_ = 0;            // script thread only
  int64_t busy_threshold_ms_ = 5000;  // script thread only, read at each script's start
  bool released_gate_ = false;        // script thread only: busy, the gate let go
  std::string current_sha_;           // script thread only
};

// The EVAL/SCRIPT family's command table rows.
std::span<const CommandSpec> ScriptingCommands();

}  // namespace mirrorkv::server
