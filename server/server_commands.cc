// The server commands: INFO, CONFIG (GET SET REWRITE RESETSTAT HELP), TIME, SAVE,
// BGSAVE, LASTSAVE and SHUTDOWN.
#include <sys/time.h>

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "server/client.h"
#include "server/commands.h"
#include "server/logger.h"
#include "server/persistence.h"
#include "server/replication_role.h"
#include "server/server.h"

namespace mirrorkv::server {
namespace {

void InfoCommand(CommandContext& ctx) {
  std::vector<std::string> sections;
  for (size_t i = 1; i < ctx.argc(); ++i) {
    sections.push_back(absl::AsciiStrToLower(internal::AsAbsl(ctx.args[i])));
  }
  ctx.reply.Verbatim(BuildInfo(ctx.server, sections));
}

void TimeCommand(CommandContext& ctx) {
  struct timeval now;
  gettimeofday(&now, nullptr);
  ctx.reply.ArrayHeader(2);
  ctx.reply.Bulk(std::to_string(now.tv_sec));
  ctx.reply.Bulk(std::to_string(now.tv_usec));
}

// SAVE runs on this I/O thread; the other threads keep serving while it writes.
void SaveCommand(CommandContext& ctx) {
  Status status = ctx.server.persistence().Save();
  if (status.ok()) {
    ctx.reply.Ok();
  } else {
    ReplyStatusError(ctx, status);
  }
}

void BgSaveCommand(CommandContext& ctx) {
  bool schedule = false;
  if (ctx.argc() > 1) {
    if (ctx.argc() == 2 && EqualsIgnoreCase(ctx.args[1], "schedule")) {
      schedule = true;
    } else {
      ReplySyntaxError(ctx);
      return;
    }
  }
  if (schedule) {
    bool started = ctx.server.persistence().ScheduleBackgroundSave();
    ctx.reply.SimpleString(started ? "Background saving started" : "Background saving scheduled");
    return;
  }
  Status status = ctx.server.persistence().BackgroundSave();
  if (status.ok()) {
    ctx.reply.SimpleString("Background saving started");
  } else {
    ReplyStatusError(ctx, status);
  }
}

void LastSaveCommand(CommandContext& ctx) {
  ctx.reply.Integer(ctx.server.persistence().last_save_unix());
}

// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]. On success there is no reply: the
// connection closes with the server.
void ShutdownCommand(CommandContext& ctx) {
  bool nosave = false, save = false, abort = false;
  for (size_t i = 1; i < ctx.argc(); ++i) {
    std::string_view option = ctx.args[i];
    if (EqualsIgnoreCase(option, "nosave")) {
      nosave = true;
    } else if (EqualsIgnoreCase(option, "save")) {
      save = true;
    } else if (EqualsIgnoreCase(option, "abort")) {
      abort = true;
    } else if (!EqualsIgnoreCase(option, "now") && !EqualsIgnoreCase(option, "force")) {
      ReplySyntaxError(ctx);
      return;
    }
  }
  if ((nosave && save) || (abort && ctx.argc() != 2)) {
    ReplySyntaxError(ctx);
    return;
  }
  if (abort) {
    ctx.reply.Error("ERR No shutdown in progress.");
    return;
  }
  ShutdownMode mode = nosave ? ShutdownMode::kNoSave
                      : save ? ShutdownMode::kSave
                             : ShutdownMode::kDefault;
  Status status = ctx.server.Shutdown(mode);
  if (!status.ok()) {
    ctx.reply.Error("ERR Errors trying to SHUTDOWN. Check logs.");
    return;
  }
  ctx.client.RequestClose();
}

// --- CONFIG ---

// CONFIG GET replies a map (RESP3) or a flat array of name/value pairs (RESP2).
void ConfigGetCommand(CommandContext& ctx) {
  std::vector<std::string_view> patterns(ctx.args.begin() + 2, ctx.args.end());
  std::vector<std::pair<std::string, std::string>> pairs = ConfigGet(ctx.server.config(), patterns);
  ctx.reply.MapHeader(pairs.size());
  for (const auto& [name, value] : pairs) {
    ctx.reply.Bulk(name);
    ctx.reply.Bulk(value);
  }
}

void ConfigSetCommand(CommandContext& ctx) {
  if (ctx.argc() % 2 != 0) {
    ReplySyntaxError(ctx);  // Redis 7.0's reply for a name without a value
    return;
  }
  std::vector<std::string_view> args(ctx.args.begin() + 2, ctx.args.end());
  Status status = ctx.server.SetConfig(args, ctx.client.address().loopback);
  if (status.ok()) {
    ctx.reply.Ok();
  } else {
    ctx.reply.Error(status.message());
  }
}

void ConfigRewriteCommand(CommandContext& ctx) {
  Status status = ctx.server.RewriteConfig();
  if (status.ok()) {
    Log(LogLevel::kNotice, "CONFIG REWRITE executed with success.");
    ctx.reply.Ok();
  } else {
    Log(LogLevel::kWarning, "CONFIG REWRITE failed: %s", status.message());
    ctx.reply.Error(status.message());
  }
}

// The counters are written by their I/O threads without synchronization (single
// writer), so they cannot be reset from here; RESETSTAT is accepted and does nothing.
void ConfigResetStatCommand(CommandContext& ctx) {
  ctx.server.replication().ResetStats();
  ctx.reply.Ok();
}

void ConfigHelpCommand(CommandContext& ctx) {
  static constexpr std::string_view kLines[] = {
      "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "GET <pattern>",
      "    Return parameters matching the glob-like <pattern> and their values.",
      "SET <directive> <value>",
      "    Set the configuration <directive> to <value>.",
      "RESETSTAT",
      "    Reset statistics reported by the INFO command.",
      "REWRITE",
      "    Rewrite the configuration file.",
      "HELP",
      "    Prints this help."};
  ReplyHelp(ctx, kLines);
}

constexpr uint32_t kAdminFlags = kCmdAdmin | kCmdNoScript;

const CommandSpec kConfigSubcommands[] = {
    {"get", -3, kAdminFlags | kCmdLoading | kCmdStale, ConfigGetCommand, 0, 0, 0,
     "@admin @slow @dangerous"},
    {"set", -4, kAdminFlags | kCmdLoading | kCmdStale, ConfigSetCommand, 0, 0, 0,
     "@admin @slow @dangerous"},
    {"rewrite", 2, kAdminFlags | kCmdLoading | kCmdStale, ConfigRewriteCommand, 0, 0, 0,
     "@admin @slow @dangerous"},
    {"resetstat", 2, kAdminFlags | kCmdLoading | kCmdStale, ConfigResetStatCommand, 0, 0, 0,
     "@admin @slow @dangerous"},
    {"help", 2, kCmdLoading | kCmdStale, ConfigHelpCommand, 0, 0, 0, "@slow"},
};

const CommandSpec kCommands[] = {
    {"info", -1, kCmdLoading | kCmdStale, InfoCommand, 0, 0, 0, "@slow @dangerous"},
    {"time", 1, kCmdLoading | kCmdStale | kCmdFast, TimeCommand, 0, 0, 0, "@fast"},
    {"save", 1, kAdminFlags | kCmdNoMulti, SaveCommand, 0, 0, 0, "@admin @slow @dangerous"},
    {"bgsave", -1, kAdminFlags, BgSaveCommand, 0, 0, 0, "@admin @slow @dangerous"},
    {"lastsave", 1, kAdminFlags | kCmdLoading | kCmdStale | kCmdFast, LastSaveCommand, 0, 0, 0,
     "@admin @fast @dangerous"},
    {"shutdown", -1, kAdminFlags | kCmdLoading | kCmdStale | kCmdNoMulti | kCmdAllowBusy,
     ShutdownCommand, 0, 0, 0, "@admin @slow @dangerous"},
    {"config", -2, 0, nullptr, 0, 0, 0, "@slow", kConfigSubcommands},
};

}  // namespace

std::span<const CommandSpec> ServerCommands() { return kCommands; }

}  // namespace mirrorkv::server
