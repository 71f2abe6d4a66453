// LuaEngine: the sandboxed interpreter, the redis.* API and the conversions between Lua
// values and RESP replies. See lua_engine.h.
#include "server/scripting/lua_engine.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/base/strings.h"
#include "server/logger.h"
#include "server/version.h"

extern "C" {
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "lua-bitop.h"
#include "lua-cjson.h"
}

namespace mirrorkv::server {

// What the C callbacks need while a script runs; reachable from the registry.
struct LuaEngine::RunState {
  ScriptHost* host = nullptr;
  int resp = 2;       // redis.setresp
  std::string reply;  // reused buffer for redis.call replies
  std::vector<std::string> args;
  std::vector<std::string_view> arg_views;
  uint64_t* rand_state = nullptr;  // math.random's generator (rand48), kept across scripts
};

namespace {

// Registry keys (addresses of these bytes are unique light userdata).
char kRunStateKey;
char kErrorHandlerKey;
char kRealGlobalsKey;
char kProxiesKey;

// Instructions between two calls of the count hook, as in Redis.
constexpr int kHookInstructions = 100000;
// A collection step every this many scripts, as Redis does, instead of letting Lua run a
// full cycle at an unpredictable moment.
constexpr int kGcPeriod = 50;

LuaEngine::RunState* GetRunState(lua_State* lua) {
  lua_pushlightuserdata(lua, &kRunStateKey);
  lua_rawget(lua, LUA_REGISTRYINDEX);
  auto* state = static_cast<LuaEngine::RunState*>(lua_touserdata(lua, -1));
  lua_pop(lua, 1);
  return state;
}

void SetRunState(lua_State* lua, LuaEngine::RunState* state) {
  lua_pushlightuserdata(lua, &kRunStateKey);
  lua_pushlightuserdata(lua, state);
  lua_rawset(lua, LUA_REGISTRYINDEX);
}

// Pushes Redis's error table {err="CODE message"}. `error` is either "-CODE message"
// (a reply's text) or a bare message, which gets the ERR code.
void PushError(lua_State* lua, std::string_view error) {
  std::string code = "ERR";
  std::string_view message = error;
  if (!error.empty() && error[0] == '-') {
    size_t space = error.find(' ');
    if (space == std::string_view::npos) {
      message = error.substr(1);
    } else {
      code = std::string(error.substr(1, space - 1));
      message = error.substr(space + 1);
    }
  }
  while (!message.empty() && (message.back() == '\r' || message.back() == '\n')) {
    message.remove_suffix(1);
  }
  while (!message.empty() && (message.front() == '\r' || message.front() == '\n')) {
    message.remove_prefix(1);
  }
  std::string text = absl::StrCat(code, " ", internal::AsAbsl(message));
  lua_newtable(lua);
  lua_pushstring(lua, "err");
  lua_pushlstring(lua, text.data(), text.size());
  lua_settable(lua, -3);
}

[[noreturn]] void RaiseError(lua_State* lua, std::string_view error) {
  PushError(lua, error);
  lua_error(lua);
  __builtin_unreachable();
}

// --- RESP reply -> Lua value (Redis's redisProtocolToLuaType) ---

class ReplyReader {
 public:
  ReplyReader(lua_State* lua, std::string_view reply) : lua_(lua), rest_(reply) {}

  // Pushes one value (or, with `lua_` null, skips it). False if the reply is malformed,
  // which a reply from our own handlers never is.
  bool Read(bool push = true) {
    if (rest_.empty()) return false;
    if (push && !lua_checkstack(lua_, 5)) return false;
    char type = rest_[0];
    std::string_view line;
    if (!Line(&line)) return false;
    switch (type) {
      case ':': {
        if (push)
          lua_pushnumber(lua_, static_cast<lua_Number>(std::strtoll(line.data(), nullptr, 10)));
        return true;
      }
      case '$':
      case '=': {
        long long length = std::strtoll(line.data(), nullptr, 10);
        if (length < 0) {
          if (push) lua_pushboolean(lua_, 0);
          return true;
        }
        if (rest_.size() < static_cast<size_t>(length) + 2) return false;
        std::string_view body = rest_.substr(0, static_cast<size_t>(length));
        rest_.remove_prefix(static_cast<size_t>(length) + 2);
        if (!push) return true;
        if (type == '$') {
          lua_pushlstring(lua_, body.data(), body.size());
        } else {
          // Verbatim: "txt:<text>" -> {verbatim_string={format="txt", string=<text>}}.
          if (body.size() < 4) return false;
          lua_newtable(lua_);
          lua_pushstring(lua_, "verbatim_string");
          lua_newtable(lua_);
          lua_pushstring(lua_, "string");
          lua_pushlstring(lua_, body.data() + 4, body.size() - 4);
          lua_settable(lua_, -3);
          lua_pushstring(lua_, "format");
          lua_pushlstring(lua_, body.data(), 3);
          lua_settable(lua_, -3);
          lua_settable(lua_, -3);
        }
        return true;
      }
      case '+':
        if (push) SingleField("ok", line);
        return true;
      case '-':
        if (push) {
          PushError(lua_, absl::StrCat("-", std::string(line)));
        }
        return true;
      case '(':
        if (push) SingleField("big_number", line);
        return true;
      case '_':
        if (push) lua_pushnil(lua_);
        return true;
      case '#':
        if (push) lua_pushboolean(lua_, line == "t");
        return true;
      case ',': {
        if (push) {
          lua_newtable(lua_);
          lua_pushstring(lua_, "double");
          lua_pushnumber(lua_, std::strtod(std::string(line).c_str(), nullptr));
          lua_settable(lua_, -3);
        }
        return true;
      }
      case '*':
      case '>':
      case '~':
      case '%':
      case '|':
        return Aggregate(type, std::strtoll(line.data(), nullptr, 10), push);
      default:
        return false;
    }
  }

 private:
  bool Line(std::string_view* line) {
    size_t end = rest_.find("\r\n");
    if (end == std::string_view::npos) return false;
    *line = rest_.substr(1, end - 1);
    rest_.remove_prefix(end + 2);
    return true;
  }

  void SingleField(const char* field, std::string_view value) {
    lua_newtable(lua_);
    lua_pushstring(lua_, field);
    lua_pushlstring(lua_, value.data(), value.size());
    lua_settable(lua_, -3);
  }

  bool Aggregate(char type, long long count, bool push) {
    if (count < 0) {
      if (push) lua_pushboolean(lua_, 0);
      return true;
    }
    if (type == '|') {
      // Attributes are not shown to scripts: skip them, then read the value they describe.
      for (long long i = 0; i < 2 * count; ++i) {
        if (!Read(false)) return false;
      }
      return Read(push);
    }
    if (push) {
      lua_newtable(lua_);
      if (type == '%' || type == '~') {
        lua_pushstring(lua_, type == '%' ? "map" : "set");
        lua_newtable(lua_);
      }
    }
    for (long long i = 0; i < count; ++i) {
      if (type == '%') {
        if (!Read(push) || !Read(push)) return false;
      } else if (type == '~') {
        if (!Read(push)) return false;
        if (push) lua_pushboolean(lua_, 1);
      } else {
        if (push) lua_pushnumber(lua_, static_cast<lua_Number>(i + 1));
        if (!Read(push)) return false;
      }
      if (push) lua_settable(lua_, -3);
    }
    if (push && (type == '%' || type == '~')) lua_settable(lua_, -3);
    return true;
  }

  lua_State* lua_;
  std::string_view rest_;
};

// --- Lua value -> reply (Redis's luaReplyToRedisReply) ---

// Reads t[field] (raw) and leaves it on the stack.
int RawField(lua_State* lua, const char* field) {
  lua_pushstring(lua, field);
  lua_rawget(lua, -2);
  return lua_type(lua, -1);
}

// Replaces CR and LF with spaces, as Redis does for status and big number replies.
std::string OneLine(std::string_view text) {
  std::string line(text);
  for (char& c : line) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  return line;
}

// The error text of an error table at the top: its err field, else "ERR <string>".
std::string ErrorText(lua_State* lua) {
  std::string text;
  if (lua_isstring(lua, -1)) text = absl::StrCat("ERR ", lua_tostring(lua, -1));
  if (lua_istable(lua, -1)) {
    lua_getfield(lua, -1, "err");
    if (lua_isstring(lua, -1)) {
      size_t length = 0;
      const char* err = lua_tolstring(lua, -1, &length);
      text.assign(err, length);
    }
    lua_pop(lua, 1);
  }
  return text;
}

// Writes the value at the top of the stack as a reply and pops it. `script_resp` is the
// script's redis.setresp version, which decides how booleans are written.
void WriteReply(lua_State* lua, int script_resp, ReplyBuilder& reply) {
  if (!lua_checkstack(lua, 4)) {
    reply.Error("ERR reached lua stack limit");
    lua_pop(lua, 1);
    return;
  }
  switch (lua_type(lua, -1)) {
    case LUA_TSTRING: {
      size_t length = 0;
      const char* text = lua_tolstring(lua, -1, &length);
      reply.Bulk(std::string_view(text, length));
      break;
    }
    case LUA_TBOOLEAN:
      if (script_resp == 2) {
        if (lua_toboolean(lua, -1)) {
          reply.Integer(1);
        } else {
          reply.Null();
        }
      } else if (reply.resp() >= 3) {
        reply.Raw(lua_toboolean(lua, -1) ? "#t\r\n" : "#f\r\n");
      } else {
        // Redis's addReplyBool in RESP2: 1 or 0.
        reply.Integer(lua_toboolean(lua, -1) ? 1 : 0);
      }
      break;
    case LUA_TNUMBER:
      reply.Integer(static_cast<int64_t>(static_cast<long long>(lua_tonumber(lua, -1))));
      break;
    case LUA_TTABLE: {
      if (RawField(lua, "err") == LUA_TSTRING) {
        lua_pop(lua, 1);
        reply.Error(ErrorText(lua));
        break;
      }
      lua_pop(lua, 1);
      if (RawField(lua, "ok") == LUA_TSTRING) {
        reply.SimpleString(OneLine(lua_tostring(lua, -1)));
        lua_pop(lua, 1);
        break;
      }
      lua_pop(lua, 1);
      if (RawField(lua, "double") == LUA_TNUMBER) {
        reply.Double(lua_tonumber(lua, -1));
        lua_pop(lua, 1);
        break;
      }
      lua_pop(lua, 1);
      if (RawField(lua, "big_number") == LUA_TSTRING) {
        size_t length = 0;
        const char* text = lua_tolstring(lua, -1, &length);
        std::string number = OneLine(std::string_view(text, length));
        if (reply.resp() >= 3) {
          reply.Raw(absl::StrCat("(", number, "\r\n"));
        } else {
          reply.Bulk(number);
        }
        lua_pop(lua, 1);
        break;
      }
      lua_pop(lua, 1);
      if (RawField(lua, "verbatim_string") == LUA_TTABLE) {
        if (RawField(lua, "format") == LUA_TSTRING) {
          std::string format = lua_tostring(lua, -1);
          lua_pushstring(lua, "string");
          lua_rawget(lua, -3);
          if (lua_type(lua, -1) == LUA_TSTRING) {
            size_t length = 0;
            const char* text = lua_tolstring(lua, -1, &length);
            if (reply.resp() >= 3) {
              format.resize(3, ' ');
              reply.Raw(absl::StrCat("=", length + 4, "\r\n", format, ":",
                                     internal::AsAbsl(std::string_view(text, length)), "\r\n"));
            } else {
              reply.Bulk(std::string_view(text, length));
            }
            lua_pop(lua, 3);
            break;
          }
          lua_pop(lua, 1);
        }
        lua_pop(lua, 1);
      }
      lua_pop(lua, 1);
      int kind = RawField(lua, "map");
      if (kind != LUA_TTABLE) {
        lua_pop(lua, 1);
        kind = RawField(lua, "set") == LUA_TTABLE ? 's' : 0;
      } else {
        kind = 'm';
      }
      if (kind != 0) {
        size_t count = 0;
        lua_pushnil(lua);
        while (lua_next(lua, -2)) {
          lua_pop(lua, 1);
          ++count;
        }
        if (kind == 'm') {
          reply.MapHeader(count);
        } else {
          reply.SetHeader(count);
        }
        lua_pushnil(lua);
        while (lua_next(lua, -2)) {
          if (kind == 'm') {
            lua_pushvalue(lua, -2);
            WriteReply(lua, script_resp, reply);  // the key
            WriteReply(lua, script_resp, reply);  // the value
          } else {
            lua_pop(lua, 1);
            lua_pushvalue(lua, -1);
            WriteReply(lua, script_resp, reply);
          }
        }
        lua_pop(lua, 1);
        break;
      }
      lua_pop(lua, 1);
      // An array, up to the first nil.
      size_t count = 0;
      while (true) {
        lua_rawgeti(lua, -1, static_cast<int>(count + 1));
        bool present = !lua_isnil(lua, -1);
        lua_pop(lua, 1);
        if (!present) break;
        ++count;
      }
      reply.ArrayHeader(count);
      for (size_t i = 1; i <= count; ++i) {
        lua_rawgeti(lua, -1, static_cast<int>(i));
        WriteReply(lua, script_resp, reply);
      }
      break;
    }
    default:
      reply.Null();
  }
  lua_pop(lua, 1);
}

// --- redis.* ---

// redis.call / redis.pcall.
int GenericCall(lua_State* lua, bool raise) {
  LuaEngine::RunState* state = GetRunState(lua);
  if (state == nullptr) {
    RaiseError(lua, "redis.call/pcall can only be called inside a script invocation");
  }
  int argc = lua_gettop(lua);
  if (argc == 0) {
    PushError(lua, "Please specify at least one argument for this redis lib call");
    return raise ? lua_error(lua) : 1;
  }
  state->args.resize(static_cast<size_t>(argc));
  state->arg_views.resize(static_cast<size_t>(argc));
  for (int i = 1; i <= argc; ++i) {
    std::string& arg = state->args[static_cast<size_t>(i - 1)];
    if (lua_type(lua, i) == LUA_TNUMBER) {
      // Not lua_tostring: Lua's "%.14g" would lose precision.
      char buffer[64];
      int length = std::snprintf(buffer, sizeof(buffer), "%.17g", lua_tonumber(lua, i));
      arg.assign(buffer, static_cast<size_t>(length));
    } else if (lua_type(lua, i) == LUA_TSTRING) {
      size_t length = 0;
      const char* text = lua_tolstring(lua, i, &length);
      arg.assign(text, length);
    } else {
      lua_pop(lua, argc);
      PushError(lua, "Lua redis lib command arguments must be strings or integers");
      return raise ? lua_error(lua) : 1;
    }
    state->arg_views[static_cast<size_t>(i - 1)] = arg;
  }
  lua_pop(lua, argc);
  state->reply.clear();
  state->host->Call(state->arg_views, state->resp, &state->reply);
  ReplyReader reader(lua, state->reply);
  if (!reader.Read()) {
    PushError(lua, "Malformed reply from a command called from the script");
  }
  if (raise && !state->reply.empty() && state->reply[0] == '-') return lua_error(lua);
  return 1;
}

int RedisCall(lua_State* lua) { return GenericCall(lua, true); }
int RedisPcall(lua_State* lua) { return GenericCall(lua, false); }

int RedisSha1Hex(lua_State* lua) {
  if (lua_gettop(lua) != 1) RaiseError(lua, "wrong number of arguments");
  size_t length = 0;
  const char* text = lua_tolstring(lua, 1, &length);
  std::string digest = Sha1Hex(std::string_view(text == nullptr ? "" : text, length));
  lua_pushlstring(lua, digest.data(), digest.size());
  return 1;
}

int RedisErrorReply(lua_State* lua) {
  if (lua_gettop(lua) != 1 || lua_type(lua, -1) != LUA_TSTRING) {
    PushError(lua, "wrong number or type of arguments");
    return 1;
  }
  std::string error = lua_tostring(lua, -1);
  if (error.empty() || error[0] != '-') error.insert(0, "-");
  PushError(lua, error);
  return 1;
}

int RedisStatusReply(lua_State* lua) {
  if (lua_gettop(lua) != 1 || lua_type(lua, -1) != LUA_TSTRING) {
    PushError(lua, "wrong number or type of arguments");
    return 1;
  }
  lua_newtable(lua);
  lua_pushstring(lua, "ok");
  lua_pushvalue(lua, -3);
  lua_settable(lua, -3);
  return 1;
}

// Redis's log levels (LL_DEBUG .. LL_WARNING), as redis.LOG_*.
constexpr LogLevel kLuaLogLevels[] = {LogLevel::kDebug, LogLevel::kVerbose, LogLevel::kNotice,
                                      LogLevel::kWarning};

int RedisLog(lua_State* lua) {
  int argc = lua_gettop(lua);
  if (argc < 2) RaiseError(lua, "redis.log() requires two arguments or more.");
  if (!lua_isnumber(lua, 1)) RaiseError(lua, "First argument must be a number (log level).");
  int level = static_cast<int>(lua_tonumber(lua, 1));
  if (level < 0 || level > 3) RaiseError(lua, "Invalid debug level.");
  std::string line;
  for (int i = 2; i <= argc; ++i) {
    size_t length = 0;
    const char* text = lua_tolstring(lua, i, &length);
    if (text == nullptr) continue;
    if (i != 2) line.push_back(' ');
    line.append(text, length);
  }
  Log(kLuaLogLevels[level], "%s", line);
  return 0;
}

int RedisSetResp(lua_State* lua) {
  LuaEngine::RunState* state = GetRunState(lua);
  if (state == nullptr)
    RaiseError(lua, "redis.setresp can only be called inside a script invocation");
  if (lua_gettop(lua) != 1) RaiseError(lua, "redis.setresp() requires one argument.");
  int resp = static_cast<int>(lua_tonumber(lua, 1));
  if (resp != 2 && resp != 3) RaiseError(lua, "RESP version must be 2 or 3.");
  state->resp = resp;
  return 0;
}

// redis.set_repl: effects are always replicated whole (the log is the only stream), so
// the flags are checked and otherwise ignored.
int RedisSetRepl(lua_State* lua) {
  if (GetRunState(lua) == nullptr) {
    RaiseError(lua, "redis.set_repl can only be called inside a script invocation");
  }
  if (lua_gettop(lua) != 1) RaiseError(lua, "redis.set_repl() requires two arguments.");
  int flags = static_cast<int>(lua_tonumber(lua, -1));
  if ((flags & ~3) != 0) {
    RaiseError(lua,
               "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.");
  }
  return 0;
}

int ReturnTrue(lua_State* lua) {
  lua_pushboolean(lua, 1);
  return 1;
}

int ReturnFalse(lua_State* lua) {
  lua_pushboolean(lua, 0);
  return 1;
}

int ReturnNothing(lua_State*) { return 0; }

// Redis's pcall: a Redis error table caught by pcall comes back as its err string, as
// scripts written for Redis 6 expect.
int ScriptPcall(lua_State* lua) {
  int argc = lua_gettop(lua);
  luaL_checkany(lua, 1);
  lua_pushboolean(lua, 1);
  lua_insert(lua, 1);
  if (lua_pcall(lua, argc - 1, LUA_MULTRET, 0) != 0) {
    lua_remove(lua, 1);
    if (lua_istable(lua, -1)) {
      lua_getfield(lua, -1, "err");
      if (lua_isstring(lua, -1)) {
        lua_replace(lua, -2);
      } else {
        lua_pop(lua, 1);
      }
    }
    lua_pushboolean(lua, 0);
    lua_insert(lua, 1);
  }
  return lua_gettop(lua);
}

// --- math.random with Redis's rand48 (the same numbers as Redis for the same calls) ---

constexpr uint64_t kRand48Multiplier = 0x5DEECE66DULL;
constexpr uint64_t kRand48Mask = (1ULL << 48) - 1;
constexpr int32_t kRand48Max = INT32_MAX;

void Rand48Seed(LuaEngine::RunState* state, int32_t seed) {
  *state->rand_state =
      ((static_cast<uint64_t>(static_cast<uint32_t>(seed)) << 16) | 0x330E) & kRand48Mask;
}

int32_t Rand48Next(LuaEngine::RunState* state) {
  uint64_t& x = *state->rand_state;
  x = (x * kRand48Multiplier + 0xB) & kRand48Mask;
  return static_cast<int32_t>(x >> 17);
}

int MathRandom(lua_State* lua) {
  LuaEngine::RunState* state = GetRunState(lua);
  if (state == nullptr) {
    return luaL_error(lua, "math.random can only be called inside a script invocation");
  }
  lua_Number r =
      static_cast<lua_Number>(Rand48Next(state) % kRand48Max) / static_cast<lua_Number>(kRand48Max);
  switch (lua_gettop(lua)) {
    case 0:
      lua_pushnumber(lua, r);
      break;
    case 1: {
      int upper = luaL_checkint(lua, 1);
      luaL_argcheck(lua, 1 <= upper, 1, "interval is empty");
      lua_pushnumber(lua, std::floor(r * upper) + 1);
      break;
    }
    case 2: {
      int lower = luaL_checkint(lua, 1);
      int upper = luaL_checkint(lua, 2);
      luaL_argcheck(lua, lower <= upper, 2, "interval is empty");
      lua_pushnumber(lua, std::floor(r * (upper - lower + 1)) + lower);
      break;
    }
    default:
      return luaL_error(lua, "wrong number of arguments");
  }
  return 1;
}

int MathRandomSeed(lua_State* lua) {
  LuaEngine::RunState* state = GetRunState(lua);
  if (state == nullptr) {
    return luaL_error(lua, "math.randomseed can only be called inside a script invocation");
  }
  Rand48Seed(state, luaL_checkint(lua, 1));
  return 0;
}

// --- Refusing binary chunks ---

// Lua's "[string \"...\"]" name of a chunk loaded from a string.
std::string ChunkId(const char* source) {
  size_t length = std::strcspn(source, "\n\r");
  constexpr size_t kMax = LUA_IDSIZE - 15;
  bool truncated = source[length] != '\0';
  if (length > kMax) {
    length = kMax;
    truncated = true;
  }
  return absl::StrCat("[string \"", internal::AsAbsl(std::string_view(source, length)),
                      truncated ? "..." : "", "\"]");
}

// loadstring(s [, name]) and load(f [, name]) without Lua bytecode: a binary chunk gets
// the error the parser gives any text starting with that byte, as in Redis.
int LoadChunk(lua_State* lua, std::string_view chunk, const char* name) {
  if (!chunk.empty() && chunk[0] == LUA_SIGNATURE[0]) {
    lua_pushnil(lua);
    std::string id = name[0] == '=' || name[0] == '@' ? std::string(name + 1) : ChunkId(name);
    std::string message = absl::StrCat(id, ":1: unexpected symbol near 'char(27)'");
    lua_pushlstring(lua, message.data(), message.size());
    return 2;
  }
  if (luaL_loadbuffer(lua, chunk.data(), chunk.size(), name) == 0) return 1;
  lua_pushnil(lua);
  lua_insert(lua, -2);
  return 2;
}

int SafeLoadString(lua_State* lua) {
  size_t length = 0;
  const char* text = luaL_checklstring(lua, 1, &length);
  const char* name = luaL_optstring(lua, 2, text);
  return LoadChunk(lua, std::string_view(text, length), name);
}

int SafeLoad(lua_State* lua) {
  luaL_checktype(lua, 1, LUA_TFUNCTION);
  const char* name = luaL_optstring(lua, 2, "=(load)");
  // The pieces gather in a Lua buffer: the reader may raise an error (a longjmp), which
  // must not skip a C++ destructor.
  lua_settop(lua, 2);
  luaL_Buffer chunk;
  luaL_buffinit(lua, &chunk);
  while (true) {
    lua_pushvalue(lua, 1);
    lua_call(lua, 0, 1);
    if (lua_isnil(lua, -1) || (lua_isstring(lua, -1) && lua_objlen(lua, -1) == 0)) {
      lua_pop(lua, 1);
      break;
    }
    if (!lua_isstring(lua, -1)) return luaL_error(lua, "reader function must return a string");
    luaL_addvalue(&chunk);
  }
  luaL_pushresult(&chunk);
  size_t length = 0;
  const char* text = lua_tolstring(lua, -1, &length);
  return LoadChunk(lua, std::string_view(text, length), name);
}

// --- Guards around the bundled libraries' known weak points ---

// Calls the guarded function (upvalue 1) with the guard's arguments. An error it raises
// gets the script's position in front ("user_script:1: "), as it would have had if the
// script had called it directly rather than through the guard.
int CallGuarded(lua_State* lua) {
  int argc = lua_gettop(lua);
  lua_pushvalue(lua, lua_upvalueindex(1));
  lua_insert(lua, 1);
  if (lua_pcall(lua, argc, LUA_MULTRET, 0) != 0) {
    if (lua_isstring(lua, -1)) {
      luaL_where(lua, 1);
      lua_insert(lua, -2);
      lua_concat(lua, 2);
    }
    return lua_error(lua);
  }
  return lua_gettop(lua);
}

// bit.tohex(x, n) with n = INT_MIN overflows LuaBitOp 1.0.2's buffer (CVE-2024-31449):
// the count is clamped to what it can mean (at most 8 digits) before the call.
int SafeBitToHex(lua_State* lua) {
  if (lua_gettop(lua) >= 2 && lua_isnumber(lua, 2)) {
    lua_Number digits = lua_tonumber(lua, 2);
    if (digits > 8) digits = 8;
    if (digits < -8) digits = -8;
    lua_pushnumber(lua, digits);
    lua_replace(lua, 2);
  }
  return CallGuarded(lua);
}

// lua-cjson 2.1.0 sizes its output buffer with an int: a string near 2^31/6 bytes
// overflows it (CVE-2022-24834, fixed in Redis's own copy). Strings past this are refused
// before the encoder sees them; so are nesting depths past the encoder's own limit.
constexpr size_t kMaxJsonStringBytes = 256u << 20;
constexpr int kMaxJsonDepth = 1000;

bool JsonEncodable(lua_State* lua, int depth) {
  if (depth > kMaxJsonDepth || !lua_checkstack(lua, 3)) return false;
  switch (lua_type(lua, -1)) {
    case LUA_TSTRING:
      return lua_objlen(lua, -1) <= kMaxJsonStringBytes;
    case LUA_TTABLE:
      lua_pushnil(lua);
      while (lua_next(lua, -2)) {
        bool ok = JsonEncodable(lua, depth + 1);
        lua_pop(lua, 1);
        lua_pushvalue(lua, -1);
        ok = ok && JsonEncodable(lua, depth + 1);
        lua_pop(lua, 1);
        if (!ok) {
          lua_pop(lua, 1);
          return false;
        }
      }
      return true;
    default:
      return true;
  }
}

int SafeJsonEncode(lua_State* lua) {
  if (lua_gettop(lua) != 1)
    return luaL_error(lua, "bad argument #1 to 'encode' (expected 1 argument)");
  lua_pushvalue(lua, 1);
  bool ok = JsonEncodable(lua, 0);
  lua_pop(lua, 1);
  if (!ok) return luaL_error(lua, "Cannot serialise: value too large or too deeply nested");
  return CallGuarded(lua);
}

// Replaces table[name] (table at the top) with `guard`, which gets the original as its
// upvalue.
void Guard(lua_State* lua, const char* name, lua_CFunction guard) {
  lua_getfield(lua, -1, name);
  lua_pushcclosure(lua, guard, 1);
  lua_setfield(lua, -2, name);
}

// --- Read-only globals and libraries ---

int ReadonlyError(lua_State* lua) { return luaL_error(lua, "Attempt to modify a readonly table"); }

int MissingGlobal(lua_State* lua) {
  // Upvalue 1: the real globals.
  lua_pushvalue(lua, 2);
  lua_rawget(lua, lua_upvalueindex(1));
  if (!lua_isnil(lua, -1)) return 1;
  const char* name = lua_tostring(lua, 2);
  return luaL_error(lua, "Script attempted to access nonexistent global variable '%s'",
                    name == nullptr ? "?" : name);
}

// setmetatable, refusing the read-only tables (the globals, the libraries) with Redis's
// error, which carries no position.
int SafeSetMetatable(lua_State* lua) {
  luaL_checktype(lua, 1, LUA_TTABLE);
  int type = lua_type(lua, 2);
  luaL_argcheck(lua, type == LUA_TNIL || type == LUA_TTABLE, 2, "nil or table expected");
  if (luaL_getmetafield(lua, 1, "__metatable")) {
    lua_pushstring(lua, "Attempt to modify a readonly table");
    return lua_error(lua);
  }
  lua_settop(lua, 2);
  lua_setmetatable(lua, 1);
  return 1;
}

// Pushes an empty table that reads through to the table at `real` and refuses writes.
void PushProxy(lua_State* lua, int real, lua_CFunction index) {
  real = real < 0 ? lua_gettop(lua) + real + 1 : real;
  lua_newtable(lua);
  lua_newtable(lua);
  if (index != nullptr) {
    lua_pushvalue(lua, real);
    lua_pushcclosure(lua, index, 1);
  } else {
    lua_pushvalue(lua, real);
  }
  lua_setfield(lua, -2, "__index");
  lua_pushcfunction(lua, ReadonlyError);
  lua_setfield(lua, -2, "__newindex");
  lua_pushboolean(lua, 0);
  lua_setfield(lua, -2, "__metatable");
  lua_setmetatable(lua, -2);
}

// The message handler of every script: turns the error into Redis's table {err=...,
// source=..., line=...}, naming the script line that raised it (or that called the C
// function that did).
int ErrorHandler(lua_State* lua) {
  lua_Debug info;
  bool found = lua_getstack(lua, 1, &info) && lua_getinfo(lua, "nSl", &info);
  if (found && std::strcmp(info.what, "C") == 0) {
    found = lua_getstack(lua, 2, &info) && lua_getinfo(lua, "nSl", &info);
  }
  if (!lua_istable(lua, 1)) {
    std::string text;
    if (lua_isstring(lua, 1)) {
      text = lua_tostring(lua, 1);
    } else if (lua_isnil(lua, 1)) {
      text = "nil";
    } else if (lua_isboolean(lua, 1)) {
      text = lua_toboolean(lua, 1) ? "true" : "false";
    } else {
      char buffer[64];
      std::snprintf(buffer, sizeof(buffer), "%s: %p", luaL_typename(lua, 1), lua_topointer(lua, 1));
      text = buffer;
    }
    lua_newtable(lua);
    std::string err = absl::StrCat("ERR ", text);
    lua_pushlstring(lua, err.data(), err.size());
    lua_setfield(lua, -2, "err");
    lua_replace(lua, 1);
  }
  if (found) {
    lua_pushstring(lua, info.source);
    lua_setfield(lua, 1, "source");
    lua_pushnumber(lua, info.currentline);
    lua_setfield(lua, 1, "line");
  }
  lua_settop(lua, 1);
  return 1;
}

void CountHook(lua_State* lua, lua_Debug*) {
  LuaEngine::RunState* state = GetRunState(lua);
  if (state == nullptr || !state->host->Interrupted()) return;
  Log(LogLevel::kWarning, "Lua script killed by user with SCRIPT KILL.");
  // From now on at every line, so that a pcall in the script cannot swallow the kill.
  lua_sethook(lua, CountHook, LUA_MASKLINE, 0);
  RaiseError(lua, "Script killed by user with SCRIPT KILL...");
}

void SetField(lua_State* lua, const char* name, lua_CFunction function) {
  lua_pushcfunction(lua, function);
  lua_setfield(lua, -2, name);
}

void SetField(lua_State* lua, const char* name, lua_Number value) {
  lua_pushnumber(lua, value);
  lua_setfield(lua, -2, name);
}

void OpenLibrary(lua_State* lua, lua_CFunction open, const char* name) {
  lua_pushcfunction(lua, open);
  lua_pushstring(lua, name);
  lua_call(lua, 1, 0);
}

// Redis's version as a number: 7.0.15 -> 0x07000f.
lua_Number VersionNumber(std::string_view version) {
  int major = 0, minor = 0, patch = 0;
  std::sscanf(std::string(version).c_str(), "%d.%d.%d", &major, &minor, &patch);
  return (major << 16) | (minor << 8) | patch;
}

void RegisterRedisApi(lua_State* lua) {
  lua_newtable(lua);
  SetField(lua, "call", RedisCall);
  SetField(lua, "pcall", RedisPcall);
  SetField(lua, "sha1hex", RedisSha1Hex);
  SetField(lua, "error_reply", RedisErrorReply);
  SetField(lua, "status_reply", RedisStatusReply);
  SetField(lua, "log", RedisLog);
  SetField(lua, "setresp", RedisSetResp);
  SetField(lua, "set_repl", RedisSetRepl);
  SetField(lua, "replicate_commands", ReturnTrue);
  SetField(lua, "breakpoint", ReturnFalse);
  SetField(lua, "debug", ReturnNothing);
  SetField(lua, "LOG_DEBUG", 0.0);
  SetField(lua, "LOG_VERBOSE", 1.0);
  SetField(lua, "LOG_NOTICE", 2.0);
  SetField(lua, "LOG_WARNING", 3.0);
  SetField(lua, "REPL_NONE", 0.0);
  SetField(lua, "REPL_AOF", 1.0);
  SetField(lua, "REPL_SLAVE", 2.0);
  SetField(lua, "REPL_REPLICA", 2.0);
  SetField(lua, "REPL_ALL", 3.0);
  lua_pushstring(lua, std::string(kRedisVersion).c_str());
  lua_setfield(lua, -2, "REDIS_VERSION");
  SetField(lua, "REDIS_VERSION_NUM", VersionNumber(kRedisVersion));
  lua_setglobal(lua, "redis");
}

// The library tables a script sees through read-only proxies.
constexpr const char* kLibraries[] = {"string", "table", "math",   "coroutine",
                                      "cjson",  "bit",   "struct", "redis"};

// Globals a script must not reach: the filesystem, the environment of other functions,
// modules, and print (Redis 7 has none of them).
constexpr const char* kRemovedGlobals[] = {"loadfile", "dofile", "print",   "setfenv",
                                           "getfenv",  "module", "require", "newproxy"};

}  // namespace

LuaEngine::LuaEngine() { Open(); }

LuaEngine::~LuaEngine() { Close(); }

void LuaEngine::Open() {
  lua_ = luaL_newstate();
  lua_State* lua = lua_;
  OpenLibrary(lua, luaopen_base, "");
  OpenLibrary(lua, luaopen_table, LUA_TABLIBNAME);
  OpenLibrary(lua, luaopen_string, LUA_STRLIBNAME);
  OpenLibrary(lua, luaopen_math, LUA_MATHLIBNAME);
  OpenLibrary(lua, luaopen_bit, "bit");
  lua_pushcfunction(lua, luaopen_cjson);
  lua_call(lua, 0, 1);
  lua_setglobal(lua, "cjson");
  OpenStructLibrary(lua);
  for (const char* name : kRemovedGlobals) {
    lua_pushnil(lua);
    lua_setglobal(lua, name);
  }
  lua_pushcfunction(lua, SafeLoadString);
  lua_setglobal(lua, "loadstring");
  lua_pushcfunction(lua, SafeLoad);
  lua_setglobal(lua, "load");
  lua_pushcfunction(lua, ScriptPcall);
  lua_setglobal(lua, "pcall");
  lua_pushcfunction(lua, SafeSetMetatable);
  lua_setglobal(lua, "setmetatable");
  lua_getglobal(lua, "math");
  SetField(lua, "random", MathRandom);
  SetField(lua, "randomseed", MathRandomSeed);
  lua_pop(lua, 1);
  lua_getglobal(lua, "bit");
  Guard(lua, "tohex", SafeBitToHex);
  lua_pop(lua, 1);
  lua_getglobal(lua, "cjson");
  Guard(lua, "encode", SafeJsonEncode);
  // The depth limits stay at their safe defaults: a script raising them could make the
  // C encoder or decoder recurse until the stack overflows.
  lua_pushnil(lua);
  lua_setfield(lua, -2, "encode_max_depth");
  lua_pushnil(lua);
  lua_setfield(lua, -2, "decode_max_depth");
  lua_pop(lua, 1);
  RegisterRedisApi(lua);

  lua_pushlightuserdata(lua, &kErrorHandlerKey);
  lua_pushcfunction(lua, ErrorHandler);
  lua_rawset(lua, LUA_REGISTRYINDEX);

  // The read-only proxies. The real globals stay reachable only from the registry.
  lua_pushvalue(lua, LUA_GLOBALSINDEX);
  int real = lua_gettop(lua);
  lua_pushlightuserdata(lua, &kProxiesKey);
  lua_newtable(lua);
  int proxies = lua_gettop(lua);
  for (const char* name : kLibraries) {
    lua_getfield(lua, real, name);
    PushProxy(lua, -1, nullptr);
    lua_pushvalue(lua, -1);
    lua_rawseti(lua, proxies, static_cast<int>(lua_objlen(lua, proxies) + 1));
    lua_setfield(lua, real, name);
    lua_pop(lua, 1);
  }
  // Strings index the string library through their metatable: it reads through the
  // proxy, and getmetatable("") shows a read-only view of it.
  lua_pushstring(lua, "");
  lua_getmetatable(lua, -1);
  lua_getfield(lua, real, "string");
  lua_setfield(lua, -2, "__index");
  PushProxy(lua, -1, nullptr);
  lua_setfield(lua, -2, "__metatable");
  lua_pop(lua, 2);
  PushProxy(lua, real, MissingGlobal);
  lua_pushvalue(lua, -1);
  lua_rawseti(lua, proxies, static_cast<int>(lua_objlen(lua, proxies) + 1));
  lua_pushvalue(lua, -1);
  lua_setfield(lua, real, "_G");
  lua_replace(lua, LUA_GLOBALSINDEX);
  lua_rawset(lua, LUA_REGISTRYINDEX);  // registry[kProxiesKey] = proxies
  lua_pushlightuserdata(lua, &kRealGlobalsKey);
  lua_pushvalue(lua, real);
  lua_rawset(lua, LUA_REGISTRYINDEX);
  lua_settop(lua, 0);
}

void LuaEngine::Close() {
  if (lua_ != nullptr) lua_close(lua_);
  lua_ = nullptr;
}

void LuaEngine::Reset() {
  Close();
  Open();
}

bool LuaEngine::Exists(std::string_view sha) const {
  std::string name = absl::StrCat("f_", std::string(sha));
  lua_getfield(lua_, LUA_REGISTRYINDEX, name.c_str());
  bool exists = lua_isfunction(lua_, -1);
  lua_pop(lua_, 1);
  return exists;
}

Result<std::string> LuaEngine::Load(std::string_view body) {
  std::string sha = Sha1Hex(body);
  if (Exists(sha)) return sha;
  if (!body.empty() && body[0] == LUA_SIGNATURE[0]) {
    return Status::InvalidArgument(
        "Error compiling script (new function): user_script:1: unexpected symbol near "
        "'char(27)'");
  }
  if (luaL_loadbuffer(lua_, body.data(), body.size(), "@user_script") != 0) {
    std::string error = lua_tostring(lua_, -1);
    lua_pop(lua_, 1);
    return Status::InvalidArgument(absl::StrCat("Error compiling script (new function): ", error));
  }
  std::string name = absl::StrCat("f_", sha);
  lua_setfield(lua_, LUA_REGISTRYINDEX, name.c_str());
  return sha;
}

void LuaEngine::Run(std::string_view sha, std::span<const std::string_view> keys,
                    std::span<const std::string_view> argv, ScriptHost& host, ReplyBuilder& reply) {
  lua_State* lua = lua_;
  RunState state;
  state.host = &host;
  state.rand_state = &rand_state_;
  SetRunState(lua, &state);

  lua_pushlightuserdata(lua, &kErrorHandlerKey);
  lua_rawget(lua, LUA_REGISTRYINDEX);
  int handler = lua_gettop(lua);
  std::string name = absl::StrCat("f_", std::string(sha));
  lua_getfield(lua, LUA_REGISTRYINDEX, name.c_str());

  // KEYS and ARGV are globals of the script, written behind the read-only proxy.
  lua_pushlightuserdata(lua, &kRealGlobalsKey);
  lua_rawget(lua, LUA_REGISTRYINDEX);
  for (auto [global, values] : {std::pair{"KEYS", keys}, std::pair{"ARGV", argv}}) {
    lua_createtable(lua, static_cast<int>(values.size()), 0);
    for (size_t i = 0; i < values.size(); ++i) {
      lua_pushlstring(lua, values[i].data(), values[i].size());
      lua_rawseti(lua, -2, static_cast<int>(i + 1));
    }
    lua_setfield(lua, -2, global);
  }
  lua_pop(lua, 1);

  lua_sethook(lua, CountHook, LUA_MASKCOUNT, kHookInstructions);
  int failed = lua_pcall(lua, 0, 1, handler);
  lua_sethook(lua, nullptr, 0, 0);

  if (++gc_countdown_ == kGcPeriod) {
    lua_gc(lua, LUA_GCSTEP, kGcPeriod);
    gc_countdown_ = 0;
  }

  if (failed) {
    if (!lua_istable(lua, -1)) {
      const char* message = lua_isstring(lua, -1) ? lua_tostring(lua, -1) : "execution failure";
      reply.Error(absl::StrCat("ERR Error running script ", std::string(sha), ", ",
                               internal::AsAbsl(std::string_view(message).substr(0, 100))));
    } else {
      std::string error = ErrorText(lua);
      lua_getfield(lua, -1, "source");
      lua_getfield(lua, -2, "line");
      if (lua_isstring(lua, -2) && lua_isstring(lua, -1)) {
        absl::StrAppend(&error, " script: ", std::string(sha), ", on ", lua_tostring(lua, -2), ":",
                        lua_tostring(lua, -1), ".");
      }
      lua_pop(lua, 2);
      reply.Error(error);
    }
    lua_pop(lua, 1);
  } else {
    WriteReply(lua, state.resp, reply);
  }
  lua_pop(lua, 1);  // the handler

  // Undo what a script may have stored with rawset in the proxies.
  lua_pushlightuserdata(lua, &kProxiesKey);
  lua_rawget(lua, LUA_REGISTRYINDEX);
  size_t proxies = lua_objlen(lua, -1);
  for (size_t i = 1; i <= proxies; ++i) {
    lua_rawgeti(lua, -1, static_cast<int>(i));
    lua_pushnil(lua);
    while (lua_next(lua, -2)) {
      lua_pop(lua, 1);
      lua_pushvalue(lua, -1);
      lua_pushnil(lua);
      lua_rawset(lua, -4);
      lua_pop(lua, 1);
      lua_pushnil(lua);
    }
    lua_pop(lua, 1);
  }
  lua_pop(lua, 1);
  SetRunState(lua, nullptr);
}

}  // namespace mirrorkv::server
