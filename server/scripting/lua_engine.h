// LuaEngine: the Lua 5.1 interpreter that runs EVAL scripts, as Redis 7.0 sets it up.
//
// One lua_State holds every loaded script, as a function in the registry named after the
// SHA1 of its body ("f_<sha>"). The state is a sandbox:
//   - libraries: base (without loadfile, dofile, print, setfenv, getfenv, module,
//     require, newproxy), table, string, math (random and randomseed replaced by Redis's
//     deterministic rand48), cjson, bit, struct and the redis API. No io, os, package or
//     debug: a script reaches neither the filesystem nor the OS.
//   - binary chunks are refused (loadstring/load of Lua bytecode can break the VM).
//   - the globals are read-only: reading a missing global and writing any global raise
//     Redis's errors ("Script attempted to access nonexistent global variable 'x'",
//     "Attempt to modify a readonly table"), and the library tables refuse writes, so a
//     script cannot leave state behind for the next one. Stock Lua 5.1 has no read-only
//     tables (Redis patches its Lua), so each of these tables is an empty proxy whose
//     metatable forwards reads to the real table and refuses writes; a global that a
//     script puts there with rawset is removed when the script ends.
//
// Values cross the boundary as Redis converts them (see script_lua.c in Redis 7.0):
// a command reply becomes a Lua value (integer -> number, bulk -> string, null -> false,
// status -> {ok=...}, error -> {err=...}, array -> table, and the RESP3 types after
// redis.setresp(3)); a script's result becomes a reply (number -> integer, truncated;
// false -> null; true -> 1; a table with err/ok -> error/status; other tables -> arrays
// up to the first nil).
//
// Thread-compatible: one thread at a time (the script runner serialises every use).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "mirrorkv/status.h"
#include "server/reply_builder.h"

struct lua_State;

namespace mirrorkv::server {

// What redis.call and the instruction-count hook reach while a script runs.
class ScriptHost {
 public:
  virtual ~ScriptHost() = default;
  // Runs one command from the script (args[0] is its name) and appends its reply, encoded
  // in RESP `resp`, to `*reply`. A command the script may not run is answered with an
  // error reply like any other ("-ERR Unknown Redis command called from script").
  virtual void Call(std::span<const std::string_view> args, int resp, std::string* reply) = 0;
  // Called every few hundred thousand instructions; true stops the script with
  // "Script killed by user with SCRIPT KILL...".
  virtual bool Interrupted() = 0;
};

class LuaEngine {
 public:
  LuaEngine();
  ~LuaEngine();
  LuaEngine(const LuaEngine&) = delete;
  LuaEngine& operator=(const LuaEngine&) = delete;

  // Compiles `body` (unless a script with its SHA1 is loaded) and returns the SHA1 (40
  // lower-case hex characters). kInvalidArgument with Redis's reply text ("Error
  // compiling script (new function): ...") if it does not compile.
  Result<std::string> Load(std::string_view body);
  bool Exists(std::string_view sha) const;
  // Drops every script and starts over with a fresh interpreter (SCRIPT FLUSH).
  void Reset();

  // Runs the loaded script `sha` (which must exist) with KEYS and ARGV, and writes its
  // result, or the error that stopped it, to `reply`. `host` serves redis.call meanwhile.
  void Run(std::string_view sha, std::span<const std::string_view> keys,
           std::span<const std::string_view> argv, ScriptHost& host, ReplyBuilder& reply);

  // Implementation details shared with the C callbacks in lua_engine.cc.
  struct RunState;

 private:
  void Open();
  void Close();

  lua_State* lua_ = nullptr;
  int gc_countdown_ = 0;
  // math.random's rand48 state. As in Redis 7, one generator for the process, from
  // rand48's standard initial state, not reseeded per script: a script's effects are
  // replicated, not the script, so its random numbers need not repeat on a replica.
  uint64_t rand_state_ = 0x1234ABCD330EULL;
};

// SHA1 of `data` as 40 lower-case hex characters (script names, redis.sha1hex).
std::string Sha1Hex(std::string_view data);

// Registers the struct library (pack, unpack, size) in `lua` as Redis bundles it.
void OpenStructLibrary(lua_State* lua);

}  // namespace mirrorkv::server
