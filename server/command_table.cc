// The command table: lookup by name, the helpers every handler shares, and the COMMAND
// command that describes the table to clients (redis-cli asks for COMMAND DOCS,
// cluster-aware clients for COMMAND INFO).
#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/base/numbers.h"
#include "engine/base/strings.h"
#include "server/commands.h"
#include "server/scripting/scripting.h"
#include "server/string_hash.h"

namespace mirrorkv::server {
namespace {

// Command names are short; a longer name cannot be one of ours.
constexpr size_t kMaxNameBytes = 32;

struct Table {
  std::vector<CommandSpec> all;
  StringMap<const CommandSpec*> by_name;
};

// Built once, on first use (after main started), from the families' constant tables; the
// map's keys view the names in those tables, so lookups need no string of their own.
const Table& GetTable() {
  static const Table* table = [] {
    auto* built = new Table();
    for (auto family : {StringCommands(), KeyCommands(), ConnectionCommands(), ServerCommands(),
                        PubSubCommands(), TransactionCommands(), ReplicationCommands(),
                        IntrospectionCommands(), ScriptingCommands(), BitCommands(), CopyCommands(),
                        ListCommands(), SetCommands(), HashCommands(), SortedSetCommands()}) {
      built->all.insert(built->all.end(), family.begin(), family.end());
    }
    for (const CommandSpec& spec : built->all) built->by_name.emplace(spec.name, &spec);
    return built;
  }();
  return *table;
}

// Lower-cases `name` into `buffer`; false if it is too long to be a command.
bool Lowercase(std::string_view name, std::array<char, kMaxNameBytes>& buffer,
               std::string_view* lower) {
  if (name.size() > buffer.size()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    buffer[i] = absl::ascii_tolower(static_cast<unsigned char>(name[i]));
  }
  *lower = std::string_view(buffer.data(), name.size());
  return true;
}

}  // namespace

const CommandSpec* LookupCommand(std::string_view name) {
  std::array<char, kMaxNameBytes> buffer;
  std::string_view lower;
  if (!Lowercase(name, buffer, &lower)) return nullptr;
  const Table& table = GetTable();
  auto it = table.by_name.find(lower);
  return it == table.by_name.end() ? nullptr : it->second;
}

const CommandSpec* LookupSubcommand(const CommandSpec& container, std::string_view name) {
  std::array<char, kMaxNameBytes> buffer;
  std::string_view lower;
  if (!Lowercase(name, buffer, &lower)) return nullptr;
  for (const CommandSpec& sub : container.subcommands) {
    if (sub.name == lower) return &sub;
  }
  return nullptr;
}

std::span<const CommandSpec> AllCommands() { return GetTable().all; }

std::string CommandFullName(const CommandSpec& spec, const CommandSpec* container) {
  if (container == nullptr) return std::string(spec.name);
  return absl::StrCat(internal::AsAbsl(container->name), "|", internal::AsAbsl(spec.name));
}

bool ParseIntegerArg(CommandContext& ctx, std::string_view text, int64_t* out,
                     std::string_view error) {
  if (internal::ParseInt64(text, out)) return true;
  ctx.reply.Error(error.empty() ? "ERR value is not an integer or out of range" : error);
  return false;
}

// The engine reports errors as Status codes with messages; Redis clients match on the
// reply text, so the few texts that must be exact are translated here, in one place.
void ReplyStatusError(CommandContext& ctx, const Status& status) {
  std::string_view message = status.message();
  if (message == "invalid expire time") {
    ctx.reply.Error(absl::StrCat("ERR invalid expire time in '",
                                 CommandFullName(ctx.spec, ctx.container), "' command"));
    return;
  }
  if (message.find("exceeds the configured max_") != std::string_view::npos) {
    ctx.reply.Error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    return;
  }
  // The engine's OOM and READONLY texts carry their Redis error code already; anything
  // else gets the generic ERR.
  size_t space = message.find(' ');
  bool has_code = space != std::string_view::npos && space > 0;
  for (size_t i = 0; has_code && i < space; ++i) {
    has_code = message[i] >= 'A' && message[i] <= 'Z';
  }
  if (has_code) {
    ctx.reply.Error(message);
  } else if (message.empty()) {
    ctx.reply.Error(absl::StrCat("ERR ", internal::AsAbsl(StatusCodeName(status.code()))));
  } else {
    ctx.reply.Error(absl::StrCat("ERR ", internal::AsAbsl(message)));
  }
}

namespace {

// --- COMMAND ---

void ReplyFlags(ReplyBuilder& reply, uint32_t flags) {
  static constexpr std::pair<uint32_t, std::string_view> kNames[] = {
      {kCmdWrite, "write"},          {kCmdReadOnly, "readonly"},
      {kCmdDenyOom, "denyoom"},      {kCmdAdmin, "admin"},
      {kCmdPubSub, "pubsub"},        {kCmdNoScript, "noscript"},
      {kCmdBlocking, "blocking"},    {kCmdLoading, "loading"},
      {kCmdStale, "stale"},          {kCmdFast, "fast"},
      {kCmdNoAuth, "no_auth"},       {kCmdNoMulti, "no_multi"},
      {kCmdAllowBusy, "allow_busy"},
  };
  size_t count = 0;
  for (const auto& [bit, name] : kNames) count += (flags & bit) != 0;
  reply.SetHeader(count);
  for (const auto& [bit, name] : kNames) {
    if (flags & bit) reply.SimpleString(name);
  }
}

// Redis 7's ten-element COMMAND INFO entry: name, arity, flags, first/last key, step,
// ACL categories, tips, key specifications, subcommands. Tips and key specifications are
// empty: cluster-aware clients fall back to first/last/step, which are accurate.
void ReplyCommandInfo(ReplyBuilder& reply, const CommandSpec& spec, const CommandSpec* container) {
  reply.ArrayHeader(10);
  reply.Bulk(CommandFullName(spec, container));
  reply.Integer(spec.arity);
  ReplyFlags(reply, spec.flags);
  reply.Integer(spec.first_key);
  reply.Integer(spec.last_key);
  reply.Integer(spec.key_step);
  std::vector<absl::string_view> categories =
      absl::StrSplit(internal::AsAbsl(spec.categories), ' ', absl::SkipEmpty());
  reply.SetHeader(categories.size());
  for (absl::string_view category : categories) {
    reply.SimpleString(std::string_view(category.data(), category.size()));
  }
  reply.ArrayHeader(0);  // tips
  reply.ArrayHeader(0);  // key specifications
  reply.ArrayHeader(spec.subcommands.size());
  for (const CommandSpec& sub : spec.subcommands) ReplyCommandInfo(reply, sub, &spec);
}

void CommandCommand(CommandContext& ctx) {
  std::span<const CommandSpec> all = AllCommands();
  ctx.reply.ArrayHeader(all.size());
  for (const CommandSpec& spec : all) ReplyCommandInfo(ctx.reply, spec, nullptr);
}

void CommandCountCommand(CommandContext& ctx) {
  ctx.reply.Integer(static_cast<int64_t>(AllCommands().size()));
}

void CommandInfoCommand(CommandContext& ctx) {
  if (ctx.argc() == 2) {
    CommandCommand(ctx);
    return;
  }
  ctx.reply.ArrayHeader(ctx.argc() - 2);
  for (size_t i = 2; i < ctx.argc(); ++i) {
    const CommandSpec* spec = LookupCommand(ctx.args[i]);
    if (spec == nullptr) {
      ctx.reply.NullArray();
    } else {
      ReplyCommandInfo(ctx.reply, *spec, nullptr);
    }
  }
}

// COMMAND DOCS: a short document per command (redis-cli uses them for hints and falls
// back to its built-in help for anything missing).
void CommandDocsCommand(CommandContext& ctx) {
  std::vector<const CommandSpec*> specs;
  if (ctx.argc() == 2) {
    for (const CommandSpec& spec : AllCommands()) specs.push_back(&spec);
  } else {
    for (size_t i = 2; i < ctx.argc(); ++i) {
      if (const CommandSpec* spec = LookupCommand(ctx.args[i])) specs.push_back(spec);
    }
  }
  ctx.reply.MapHeader(specs.size());
  for (const CommandSpec* spec : specs) {
    ctx.reply.Bulk(spec->name);
    ctx.reply.MapHeader(2);
    ctx.reply.Bulk("summary");
    ctx.reply.Bulk(absl::StrCat("The Redis ", absl::AsciiStrToUpper(internal::AsAbsl(spec->name)),
                                " command"));
    ctx.reply.Bulk("group");
    std::string_view categories = spec->categories;
    std::string_view group = "generic";
    if (categories.find("@string") != std::string_view::npos) group = "string";
    if (categories.find("@pubsub") != std::string_view::npos) group = "pubsub";
    if (categories.find("@transaction") != std::string_view::npos) group = "transactions";
    if (categories.find("@connection") != std::string_view::npos) group = "connection";
    if (categories.find("@admin") != std::string_view::npos) group = "server";
    if (categories.find("@scripting") != std::string_view::npos) group = "scripting";
    ctx.reply.Bulk(group);
  }
}

void CommandListCommand(CommandContext& ctx) {
  std::span<const CommandSpec> all = AllCommands();
  ctx.reply.ArrayHeader(all.size());
  for (const CommandSpec& spec : all) ctx.reply.Bulk(spec.name);
}

// COMMAND GETKEYS from the table's key positions (first, last, step; a negative last
// counts from the end, as in Redis).
void CommandGetKeysCommand(CommandContext& ctx) {
  const CommandSpec* spec = LookupCommand(ctx.args[2]);
  if (spec == nullptr) {
    ctx.reply.Error("ERR Invalid command specified");
    return;
  }
  std::span<const std::string_view> args = ctx.args.subspan(2);
  int argc = static_cast<int>(args.size());
  if ((spec->arity > 0 && spec->arity != argc) || argc < -spec->arity) {
    ctx.reply.Error("ERR Invalid number of arguments specified for command");
    return;
  }
  std::vector<std::string_view> keys;
  if (spec->first_key > 0) {
    int last = spec->last_key < 0 ? argc + spec->last_key : spec->last_key;
    for (int i = spec->first_key; i <= last && i < argc; i += std::max(spec->key_step, 1)) {
      keys.push_back(args[i]);
    }
  }
  if (keys.empty()) {
    ctx.reply.Error("ERR The command has no key arguments");
    return;
  }
  ctx.reply.ArrayHeader(keys.size());
  for (std::string_view key : keys) ctx.reply.Bulk(key);
}

void CommandHelpCommand(CommandContext& ctx) {
  static constexpr std::string_view kLines[] = {
      "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "(no subcommand)",
      "    Return details about all commands.",
      "COUNT",
      "    Return the total number of commands in this server.",
      "LIST",
      "    Return a list of all commands in this server.",
      "INFO [<command-name> ...]",
      "    Return details about multiple commands.",
      "DOCS [<command-name> ...]",
      "    Return documentation details about multiple commands.",
      "GETKEYS <full-command>",
      "    Return the keys from a full command.",
      "HELP",
      "    Print this help."};
  ReplyHelp(ctx, kLines);
}

constexpr uint32_t kCommandFlags = kCmdLoading | kCmdStale;

const CommandSpec kCommandSubcommands[] = {
    {"count", 2, kCommandFlags, CommandCountCommand, 0, 0, 0, "@slow @connection"},
    {"info", -2, kCommandFlags, CommandInfoCommand, 0, 0, 0, "@slow @connection"},
    {"docs", -2, kCommandFlags, CommandDocsCommand, 0, 0, 0, "@slow @connection"},
    {"list", -2, kCommandFlags, CommandListCommand, 0, 0, 0, "@slow @connection"},
    {"getkeys", -3, kCommandFlags, CommandGetKeysCommand, 0, 0, 0, "@slow @connection"},
    {"help", 2, kCommandFlags, CommandHelpCommand, 0, 0, 0, "@slow @connection"},
};

const CommandSpec kIntrospectionCommands[] = {
    {"command", -1, kCommandFlags, CommandCommand, 0, 0, 0, "@slow @connection",
     kCommandSubcommands},
};

}  // namespace

std::span<const CommandSpec> IntrospectionCommands() { return kIntrospectionCommands; }

}  // namespace mirrorkv::server
