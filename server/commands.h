// The command table and what a command handler sees.
//
// Every command is a CommandSpec row: its name, Redis's arity and flags, the key
// positions COMMAND reports, and a handler. Client::Dispatch (server/client.cc) looks the
// name up, checks arity, authentication, the pub/sub context and MULTI queueing exactly in
// Redis's order, and only then calls the handler, so handlers validate just their own
// options. Handlers live by family: string_commands.cc, key_commands.cc,
// connection_commands.cc, server_commands.cc, replication_commands.cc, pubsub.cc and
// client.cc (MULTI/EXEC).
//
// Handlers run on the connection's I/O thread, holding that thread's share of the EXEC
// gate (see exec_gate.h). A handler must never wait for another I/O thread: work for a
// client on another thread is posted to that thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "engine/base/strings.h"
#include "mirrorkv/status.h"
#include "server/reply_builder.h"

namespace mirrorkv::server {

class Client;
class Server;
struct CommandSpec;

struct CommandContext {
  Server& server;
  Client& client;
  // The whole command line, name first; views into the query buffer (or into the MULTI
  // queue while EXEC runs), valid for the call only.
  std::span<const std::string_view> args;
  ReplyBuilder& reply;
  const CommandSpec& spec;
  // The container when `spec` is a subcommand (CONFIG for CONFIG GET); null otherwise.
  const CommandSpec* container = nullptr;
  // True while EXEC runs the command: the gate is held exclusively.
  bool in_exec = false;

  size_t argc() const { return args.size(); }
};

using CommandHandler = void (*)(CommandContext& ctx);

// Redis's command flags, as far as the dispatcher and COMMAND need them.
enum CommandFlag : uint32_t {
  kCmdWrite = 1u << 0,
  kCmdReadOnly = 1u << 1,
  kCmdDenyOom = 1u << 2,
  kCmdAdmin = 1u << 3,
  kCmdPubSub = 1u << 4,
  kCmdNoScript = 1u << 5,
  kCmdFast = 1u << 6,
  kCmdLoading = 1u << 7,
  kCmdStale = 1u << 8,
  // Allowed before AUTH (AUTH, HELLO, QUIT, RESET).
  kCmdNoAuth = 1u << 9,
  // Runs immediately inside MULTI instead of being queued (EXEC, DISCARD, MULTI, WATCH,
  // QUIT, RESET).
  kCmdNoQueue = 1u << 10,
  // Allowed in a RESP2 connection that has subscriptions.
  kCmdSubscribeContext = 1u << 11,
  kCmdNoMulti = 1u << 12,  // "no-multi": rejected inside MULTI
  kCmdAllowBusy = 1u << 13,
  kCmdBlocking = 1u << 14,  // may block the client (BLPOP ...): COMMAND INFO's "blocking"
};

struct CommandSpec {
  std::string_view name;  // lower case; "get", or "get" under its container "config"
  // Redis's arity: n > 0 exactly n words (name included), n < 0 at least -n.
  int arity;
  uint32_t flags;
  CommandHandler handler;
  // Key positions for COMMAND INFO (0 when the command takes no key).
  int first_key = 0;
  int last_key = 0;
  int key_step = 0;
  // ACL categories for COMMAND INFO, space separated ("@write @string @fast").
  std::string_view categories = "";
  // Subcommands of a container command (CONFIG, CLIENT ...); empty otherwise.
  std::span<const CommandSpec> subcommands = {};
};

// Finds a command by name, case-insensitively, without allocating. Null if unknown.
const CommandSpec* LookupCommand(std::string_view name);
// Finds a subcommand of `container`; null if unknown.
const CommandSpec* LookupSubcommand(const CommandSpec& container, std::string_view name);
// Every top-level command, for COMMAND and COMMAND COUNT.
std::span<const CommandSpec> AllCommands();

// The tables of each family (defined beside their handlers).
std::span<const CommandSpec> StringCommands();
std::span<const CommandSpec> KeyCommands();
std::span<const CommandSpec> ConnectionCommands();
std::span<const CommandSpec> ServerCommands();
std::span<const CommandSpec> PubSubCommands();
std::span<const CommandSpec> TransactionCommands();
std::span<const CommandSpec> ReplicationCommands();
std::span<const CommandSpec> IntrospectionCommands();  // COMMAND
std::span<const CommandSpec> BitCommands();            // SETBIT GETBIT BITCOUNT BITPOS
std::span<const CommandSpec> ListCommands();
std::span<const CommandSpec> SetCommands();
std::span<const CommandSpec> HashCommands();
std::span<const CommandSpec> SortedSetCommands();
std::span<const CommandSpec> CopyCommands();  // COPY

// --- Helpers shared by handlers ---

// Replies the error `status` carries, mapped to Redis's texts: the engine's OOM and
// READONLY messages as they are, "invalid expire time" as "ERR invalid expire time in
// '<command>' command", size limits as proto-max-bulk-len errors, anything else with an
// "ERR " prefix unless it already starts with an error code.
void ReplyStatusError(CommandContext& ctx, const Status& status);

// Parses a Redis integer argument; on failure replies "ERR value is not an integer or out
// of range" (or `error` if given) and returns false.
bool ParseIntegerArg(CommandContext& ctx, std::string_view text, int64_t* out,
                     std::string_view error = {});

// The command's full name as Redis prints it in errors: "get", "config|get".
std::string CommandFullName(const CommandSpec& spec, const CommandSpec* container);

// Replies "ERR syntax error".
inline void ReplySyntaxError(CommandContext& ctx) { ctx.reply.Error("ERR syntax error"); }

// Replies a HELP subcommand's text: an array of status lines, as Redis does.
inline void ReplyHelp(CommandContext& ctx, std::span<const std::string_view> lines) {
  ctx.reply.ArrayHeader(lines.size());
  for (std::string_view line : lines) ctx.reply.SimpleString(line);
}

// Runs `body` holding the whole EXEC gate, so that no other command runs meanwhile, and
// as one effect group, so that a replica applies its changes all at once (as EXEC
// does): for commands that read and write several keys, which the Store cannot make
// atomic. Inside EXEC or a script both are held already and `body` just runs.
void RunExclusive(CommandContext& ctx, absl::FunctionRef<void()> body);

// Case-insensitive ASCII comparison of a command argument with a keyword (shared with
// the engine: engine/base/strings.h).
using internal::EqualsIgnoreCase;

}  // namespace mirrorkv::server
