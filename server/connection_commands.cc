// The connection commands: PING ECHO QUIT HELLO AUTH SELECT RESET and CLIENT (ID
// SETNAME GETNAME LIST INFO KILL SETINFO NO-EVICT UNBLOCK HELP), with Redis 7.0's replies.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "mirrorkv/clock.h"
#include "server/client.h"
#include "server/commands.h"
#include "server/replication_role.h"
#include "server/server.h"
#include "server/version.h"

namespace mirrorkv::server {
namespace {

// PING takes at most one argument (checked here, as Redis does, because the table's
// arity is -1); in a RESP2 subscribed connection it answers the two-element "pong" array
// that subscribers expect.
void PingCommand(CommandContext& ctx) {
  if (ctx.argc() > 2) {
    ctx.reply.Error("ERR wrong number of arguments for 'ping' command");
    return;
  }
  if (ctx.client.subscription_count() > 0 && ctx.client.resp() == 2) {
    ctx.reply.ArrayHeader(2);
    ctx.reply.Bulk("pong");
    ctx.reply.Bulk(ctx.argc() == 1 ? std::string_view() : ctx.args[1]);
  } else if (ctx.argc() == 1) {
    ctx.reply.SimpleString("PONG");
  } else {
    ctx.reply.Bulk(ctx.args[1]);
  }
}

void EchoCommand(CommandContext& ctx) { ctx.reply.Bulk(ctx.args[1]); }

// Reached only from EXEC's queue (Dispatch answers QUIT itself).
void QuitCommand(CommandContext& ctx) {
  ctx.reply.Ok();
  ctx.client.RequestClose();
}

// AUTH [username] password: only the "default" user exists; its password is requirepass.
// Returns whether the credentials are good; replies only on failure.
bool Authenticate(CommandContext& ctx, std::string_view user, std::string_view password) {
  bool ok =
      user == "default" && (!ctx.server.password_required() || ctx.server.CheckPassword(password));
  if (!ok) {
    ctx.reply.Error("WRONGPASS invalid username-password pair or user is disabled.");
    return false;
  }
  ctx.client.set_authenticated(true);
  return true;
}

void AuthCommand(CommandContext& ctx) {
  if (ctx.argc() > 3) {
    ReplySyntaxError(ctx);
    return;
  }
  if (ctx.argc() == 2) {
    if (!ctx.server.password_required()) {
      ctx.reply.Error(
          "ERR AUTH <password> called without any password configured for the default user. "
          "Are you sure your configuration is correct?");
      return;
    }
    if (Authenticate(ctx, "default", ctx.args[1])) ctx.reply.Ok();
    return;
  }
  if (Authenticate(ctx, ctx.args[1], ctx.args[2])) ctx.reply.Ok();
}

// CLIENT SETNAME's rule: printable ASCII without spaces, so CLIENT LIST stays parsable.
bool ValidClientName(std::string_view name) {
  return std::all_of(name.begin(), name.end(), [](char c) { return c >= '!' && c <= '~'; });
}

bool SetNameOrReply(CommandContext& ctx, std::string_view name) {
  if (!ValidClientName(name)) {
    ctx.reply.Error("ERR Client names cannot contain spaces, newlines or special characters.");
    return false;
  }
  ctx.client.set_name(std::string(name));
  return true;
}

// HELLO [protover [AUTH user pass] [SETNAME name]]: authentication happens before the
// protocol switch, so a failed AUTH leaves the connection as it was; the reply is a map
// (an array of pairs in RESP2) with Redis's seven fields.
void HelloCommand(CommandContext& ctx) {
  int64_t version = 0;
  size_t next = 1;
  if (ctx.argc() >= 2) {
    if (!ParseIntegerArg(ctx, ctx.args[next++], &version,
                         "ERR Protocol version is not an integer or out of range")) {
      return;
    }
    if (version < 2 || version > 3) {
      ctx.reply.Error("NOPROTO unsupported protocol version");
      return;
    }
  }
  std::string_view user, password, name;
  bool auth = false, setname = false;
  for (size_t j = next; j < ctx.argc(); ++j) {
    size_t more = ctx.argc() - 1 - j;
    std::string_view option = ctx.args[j];
    if (EqualsIgnoreCase(option, "auth") && more >= 2) {
      auth = true;
      user = ctx.args[j + 1];
      password = ctx.args[j + 2];
      j += 2;
    } else if (EqualsIgnoreCase(option, "setname") && more >= 1) {
      setname = true;
      name = ctx.args[++j];
    } else {
      ctx.reply.Error(
          absl::StrCat("ERR Syntax error in HELLO option '", internal::AsAbsl(option), "'"));
      return;
    }
  }
  if (auth && !Authenticate(ctx, user, password)) return;
  if (ctx.client.AuthRequired()) {
    ctx.reply.Error(
        "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
        "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
        "select the RESP protocol version at the same time");
    return;
  }
  if (setname && !SetNameOrReply(ctx, name)) return;
  if (version != 0) ctx.client.set_resp(static_cast<int>(version));
  ReplyBuilder& reply = ctx.reply;
  reply.MapHeader(7);
  reply.Bulk("server");
  reply.Bulk("redis");
  reply.Bulk("version");
  reply.Bulk(kRedisVersion);
  reply.Bulk("proto");
  reply.Integer(ctx.client.resp());
  reply.Bulk("id");
  reply.Integer(static_cast<int64_t>(ctx.client.id()));
  reply.Bulk("mode");
  reply.Bulk("standalone");
  reply.Bulk("role");
  reply.Bulk(ctx.server.replication().is_replica() ? "replica" : "master");
  reply.Bulk("modules");
  reply.ArrayHeader(0);
}

void SelectCommand(CommandContext& ctx) {
  int64_t index;
  if (!ParseIntegerArg(ctx, ctx.args[1], &index)) return;
  // One keyspace: database 0.
  if (index != 0) {
    ctx.reply.Error("ERR DB index is out of range");
    return;
  }
  ctx.reply.Ok();
}

void ResetCommand(CommandContext& ctx) {
  ctx.client.Reset();
  ctx.reply.SimpleString("RESET");
}

// --- CLIENT ---

void ClientIdCommand(CommandContext& ctx) {
  ctx.reply.Integer(static_cast<int64_t>(ctx.client.id()));
}

void ClientSetNameCommand(CommandContext& ctx) {
  if (SetNameOrReply(ctx, ctx.args[2])) ctx.reply.Ok();
}

void ClientGetNameCommand(CommandContext& ctx) {
  std::string name = ctx.client.name();
  if (name.empty()) {
    ctx.reply.Null();
  } else {
    ctx.reply.Bulk(name);
  }
}

enum class ClientType { kAny, kNormal, kPubSub, kReplica, kMaster, kUnknown };

ClientType ParseClientType(std::string_view name) {
  if (EqualsIgnoreCase(name, "normal")) return ClientType::kNormal;
  if (EqualsIgnoreCase(name, "pubsub")) return ClientType::kPubSub;
  if (EqualsIgnoreCase(name, "replica") || EqualsIgnoreCase(name, "slave")) {
    return ClientType::kReplica;
  }
  if (EqualsIgnoreCase(name, "master")) return ClientType::kMaster;
  return ClientType::kUnknown;
}

bool HasType(const Client& client, ClientType type) {
  switch (type) {
    case ClientType::kAny:
      return true;
    case ClientType::kNormal:
      return !client.is_pubsub();
    case ClientType::kPubSub:
      return client.is_pubsub();
    default:
      return false;  // no replica or master links on this server yet
  }
}

// CLIENT LIST [TYPE type] [ID id ...]: a snapshot of the registry; each line is built
// from the client's atomics, without stopping the threads that serve them.
void ClientListCommand(CommandContext& ctx) {
  ClientType type = ClientType::kAny;
  std::vector<uint64_t> ids;
  for (size_t i = 2; i < ctx.argc(); ++i) {
    if (EqualsIgnoreCase(ctx.args[i], "type") && i + 1 < ctx.argc()) {
      type = ParseClientType(ctx.args[++i]);
      if (type == ClientType::kUnknown) {
        ctx.reply.Error(
            absl::StrCat("ERR Unknown client type '", internal::AsAbsl(ctx.args[i]), "'"));
        return;
      }
    } else if (EqualsIgnoreCase(ctx.args[i], "id") && i + 1 < ctx.argc()) {
      for (++i; i < ctx.argc(); ++i) {
        int64_t id;
        if (!ParseIntegerArg(ctx, ctx.args[i], &id, "ERR Invalid client ID")) return;
        if (id <= 0) {
          ctx.reply.Error("ERR Invalid client ID");
          return;
        }
        ids.push_back(static_cast<uint64_t>(id));
      }
    } else {
      ReplySyntaxError(ctx);
      return;
    }
  }
  int64_t now = SystemClock::Default()->NowMillis();
  std::string text;
  for (const std::shared_ptr<Client>& client : ctx.server.clients().Snapshot()) {
    if (!HasType(*client, type)) continue;
    if (!ids.empty() && std::find(ids.begin(), ids.end(), client->id()) == ids.end()) continue;
    absl::StrAppend(&text, client->Describe(now), "\n");
  }
  ctx.reply.Verbatim(text);
}

void ClientInfoCommand(CommandContext& ctx) {
  ctx.reply.Verbatim(absl::StrCat(ctx.client.Describe(SystemClock::Default()->NowMillis()), "\n"));
}

// CLIENT KILL ip:port, or CLIENT KILL <filter> <value> ... (ID, ADDR, LADDR, TYPE, USER,
// SKIPME, MAXAGE). The old form replies OK or an error; the new one the number killed.
void ClientKillCommand(CommandContext& ctx) {
  bool old_form = ctx.argc() == 3;
  uint64_t id = 0;
  std::string_view addr, laddr, user;
  ClientType type = ClientType::kAny;
  bool skip_me = true;
  int64_t max_age = 0;
  if (old_form) {
    addr = ctx.args[2];
    skip_me = false;
  } else {
    if (ctx.argc() % 2 != 0) {
      ReplySyntaxError(ctx);
      return;
    }
    for (size_t i = 2; i + 1 < ctx.argc(); i += 2) {
      std::string_view option = ctx.args[i];
      std::string_view value = ctx.args[i + 1];
      if (EqualsIgnoreCase(option, "id")) {
        int64_t parsed;
        if (!ParseIntegerArg(ctx, value, &parsed, "ERR client-id should be greater than 0")) {
          return;
        }
        if (parsed <= 0) {
          ctx.reply.Error("ERR client-id should be greater than 0");
          return;
        }
        id = static_cast<uint64_t>(parsed);
      } else if (EqualsIgnoreCase(option, "type")) {
        type = ParseClientType(value);
        if (type == ClientType::kUnknown) {
          ctx.reply.Error(absl::StrCat("ERR Unknown client type '", internal::AsAbsl(value), "'"));
          return;
        }
      } else if (EqualsIgnoreCase(option, "addr")) {
        addr = value;
      } else if (EqualsIgnoreCase(option, "laddr")) {
        laddr = value;
      } else if (EqualsIgnoreCase(option, "user")) {
        user = value;
      } else if (EqualsIgnoreCase(option, "skipme")) {
        if (EqualsIgnoreCase(value, "yes")) {
          skip_me = true;
        } else if (EqualsIgnoreCase(value, "no")) {
          skip_me = false;
        } else {
          ReplySyntaxError(ctx);
          return;
        }
      } else if (EqualsIgnoreCase(option, "maxage")) {
        if (!ParseIntegerArg(ctx, value, &max_age)) return;
      } else {
        ReplySyntaxError(ctx);
        return;
      }
    }
  }
  int64_t now = SystemClock::Default()->NowMillis();
  int64_t killed = 0;
  for (const std::shared_ptr<Client>& client : ctx.server.clients().Snapshot()) {
    if (id != 0 && client->id() != id) continue;
    if (!addr.empty() && client->address().peer != addr) continue;
    if (!laddr.empty() && client->address().local != laddr) continue;
    if (!user.empty() && user != "default") continue;
    if (!HasType(*client, type)) continue;
    if (skip_me && client.get() == &ctx.client) continue;
    if (max_age > 0 && (now - client->last_interaction_ms()) / 1000 < max_age) continue;
    client->Kill();
    ++killed;
  }
  if (!old_form) {
    ctx.reply.Integer(killed);
  } else if (killed == 0) {
    ctx.reply.Error("ERR No such client");
  } else {
    ctx.reply.Ok();
  }
}

void ClientOkCommand(CommandContext& ctx) { ctx.reply.Ok(); }

// CLIENT UNBLOCK id [TIMEOUT|ERROR]: ends the wait of a client blocked on keys (BLPOP
// ...) as its timeout would, or with an UNBLOCKED error; 1 if it was blocked. Clients
// waiting in WAIT are not unblocked here (0).
void ClientUnblockCommand(CommandContext& ctx) {
  if (ctx.argc() > 4) {
    return ctx.reply.Error(absl::StrCat("ERR unknown subcommand or wrong number of arguments for '",
                                        internal::AsAbsl(ctx.args[1].substr(0, 128)),
                                        "'. Try CLIENT HELP."));
  }
  bool error = false;
  if (ctx.argc() == 4) {
    error = EqualsIgnoreCase(ctx.args[3], "error");
    if (!error && !EqualsIgnoreCase(ctx.args[3], "timeout")) {
      return ctx.reply.Error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
    }
  }
  int64_t id;
  if (!ParseIntegerArg(ctx, ctx.args[2], &id)) return;
  for (const std::shared_ptr<Client>& client : ctx.server.clients().Snapshot()) {
    if (static_cast<int64_t>(client->id()) != id) continue;
    const auto reason = error ? Client::UnblockReason::kError : Client::UnblockReason::kTimeout;
    return ctx.reply.Integer(client->RequestUnblock(reason) ? 1 : 0);
  }
  ctx.reply.Integer(0);
}

void ClientHelpCommand(CommandContext& ctx) {
  static constexpr std::string_view kLines[] = {
      "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "GETNAME",
      "    Return the name of the current connection.",
      "ID",
      "    Return the ID of the current connection.",
      "INFO",
      "    Return information about the current client connection.",
      "KILL <ip:port>",
      "    Kill connection made from <ip:port>.",
      "KILL <option> <value> [<option> <value> [...]]",
      "    Kill connections. Options are: ID, TYPE, USER, ADDR, LADDR, SKIPME, MAXAGE.",
      "LIST [options ...]",
      "    Return information about client connections. Options: TYPE, ID.",
      "SETNAME <name>",
      "    Assign the name <name> to the current connection.",
      "HELP",
      "    Print this help."};
  ReplyHelp(ctx, kLines);
}

constexpr uint32_t kConnFlags = kCmdNoScript | kCmdLoading | kCmdStale;

const CommandSpec kClientSubcommands[] = {
    {"id", 2, kConnFlags, ClientIdCommand, 0, 0, 0, "@slow @connection"},
    {"setname", 3, kConnFlags, ClientSetNameCommand, 0, 0, 0, "@slow @connection"},
    {"getname", 2, kConnFlags, ClientGetNameCommand, 0, 0, 0, "@slow @connection"},
    {"list", -2, kConnFlags | kCmdAdmin, ClientListCommand, 0, 0, 0,
     "@admin @slow @dangerous @connection"},
    {"info", 2, kConnFlags, ClientInfoCommand, 0, 0, 0, "@slow @connection"},
    {"kill", -3, kConnFlags | kCmdAdmin, ClientKillCommand, 0, 0, 0,
     "@admin @slow @dangerous @connection"},
    {"setinfo", 4, kConnFlags, ClientOkCommand, 0, 0, 0, "@slow @connection"},
    {"no-evict", 3, kConnFlags | kCmdAdmin, ClientOkCommand, 0, 0, 0,
     "@admin @slow @dangerous @connection"},
    {"unblock", -3, kConnFlags | kCmdAdmin, ClientUnblockCommand, 0, 0, 0,
     "@admin @slow @dangerous @connection"},
    {"help", 2, kCmdLoading | kCmdStale, ClientHelpCommand, 0, 0, 0, "@slow @connection"},
};

const CommandSpec kCommands[] = {
    {"ping", -1, kCmdFast | kCmdSubscribeContext, PingCommand, 0, 0, 0, "@fast @connection"},
    {"echo", 2, kCmdFast, EchoCommand, 0, 0, 0, "@fast @connection"},
    {"quit", -1, kConnFlags | kCmdNoAuth | kCmdFast | kCmdAllowBusy | kCmdSubscribeContext,
     QuitCommand, 0, 0, 0, "@fast @connection"},
    {"hello", -1, kConnFlags | kCmdNoAuth | kCmdFast | kCmdAllowBusy, HelloCommand, 0, 0, 0,
     "@fast @connection"},
    {"auth", -2, kConnFlags | kCmdNoAuth | kCmdFast | kCmdAllowBusy, AuthCommand, 0, 0, 0,
     "@fast @connection"},
    {"select", 2, kConnFlags | kCmdFast, SelectCommand, 0, 0, 0, "@fast @connection"},
    {"reset", 1,
     kConnFlags | kCmdNoAuth | kCmdFast | kCmdAllowBusy | kCmdNoQueue | kCmdSubscribeContext,
     ResetCommand, 0, 0, 0, "@fast @connection"},
    {"client", -2, 0, nullptr, 0, 0, 0, "@slow", kClientSubcommands},
};

}  // namespace

std::span<const CommandSpec> ConnectionCommands() { return kCommands; }

}  // namespace mirrorkv::server
