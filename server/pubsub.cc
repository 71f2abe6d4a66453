// PubSub and the SUBSCRIBE / UNSUBSCRIBE / PSUBSCRIBE / PUNSUBSCRIBE / PUBLISH / PUBSUB
// commands. Replies and messages are Redis's: in RESP2 arrays, in RESP3 pushes.
#include "server/pubsub.h"

#include <algorithm>
#include <utility>

#include "engine/base/glob.h"
#include "server/client.h"
#include "server/commands.h"
#include "server/server.h"

namespace mirrorkv::server {
namespace {

bool AddTo(StringMap<std::vector<Client*>>& map, std::string_view name, Client* client) {
  std::vector<Client*>& clients = map[name];
  if (std::find(clients.begin(), clients.end(), client) != clients.end()) return false;
  clients.push_back(client);
  return true;
}

bool RemoveFrom(StringMap<std::vector<Client*>>& map, std::string_view name, Client* client) {
  auto it = map.find(name);
  if (it == map.end()) return false;
  auto found = std::find(it->second.begin(), it->second.end(), client);
  if (found == it->second.end()) return false;
  it->second.erase(found);
  if (it->second.empty()) map.erase(it);
  return true;
}

// Encodes one message in both RESP versions: [kind, (pattern,) channel, payload].
std::shared_ptr<const OutOfBandMessage> Encode(std::string_view kind, const std::string* pattern,
                                               std::string_view channel, std::string_view payload) {
  auto message = std::make_shared<OutOfBandMessage>();
  for (int resp : {2, 3}) {
    std::string& out = resp == 2 ? message->resp2 : message->resp3;
    ReplyBuilder builder(&out, resp);
    builder.PushHeader(pattern != nullptr ? 4 : 3);
    builder.Bulk(kind);
    if (pattern != nullptr) builder.Bulk(*pattern);
    builder.Bulk(channel);
    builder.Bulk(payload);
  }
  return message;
}

}  // namespace

bool PubSub::Subscribe(Client* client, std::string_view channel) {
  MutexLock lock(&mu_);
  return AddTo(channels_, channel, client);
}

bool PubSub::Unsubscribe(Client* client, std::string_view channel) {
  MutexLock lock(&mu_);
  return RemoveFrom(channels_, channel, client);
}

bool PubSub::PSubscribe(Client* client, std::string_view pattern) {
  MutexLock lock(&mu_);
  return AddTo(patterns_, pattern, client);
}

bool PubSub::PUnsubscribe(Client* client, std::string_view pattern) {
  MutexLock lock(&mu_);
  return RemoveFrom(patterns_, pattern, client);
}

// Subscribers are collected (as owning references) under the lock and served after it is
// released, so a slow delivery never blocks SUBSCRIBE or PUBLISH on other threads.
size_t PubSub::Publish(std::string_view channel, std::string_view payload) {
  std::vector<std::pair<std::shared_ptr<Client>, std::shared_ptr<const OutOfBandMessage>>> targets;
  {
    MutexLock lock(&mu_);
    auto it = channels_.find(channel);
    if (it != channels_.end()) {
      auto message = Encode("message", nullptr, channel, payload);
      for (Client* client : it->second) {
        // A client being destroyed has no owner left: skip it (it unsubscribes itself).
        if (auto alive = client->weak_from_this().lock()) targets.emplace_back(alive, message);
      }
    }
    for (const auto& [pattern, clients] : patterns_) {
      if (!internal::GlobMatch(pattern, channel)) continue;
      auto message = Encode("pmessage", &pattern, channel, payload);
      for (Client* client : clients) {
        if (auto alive = client->weak_from_this().lock()) targets.emplace_back(alive, message);
      }
    }
  }
  for (auto& [client, message] : targets) client->Deliver(std::move(message));
  return targets.size();
}

std::vector<std::string> PubSub::Channels(std::string_view pattern) const {
  MutexLock lock(&mu_);
  std::vector<std::string> names;
  for (const auto& [name, clients] : channels_) {
    if (pattern.empty() || internal::GlobMatch(pattern, name)) names.push_back(name);
  }
  return names;
}

size_t PubSub::Subscribers(std::string_view channel) const {
  MutexLock lock(&mu_);
  auto it = channels_.find(channel);
  return it == channels_.end() ? 0 : it->second.size();
}

size_t PubSub::channel_count() const {
  MutexLock lock(&mu_);
  return channels_.size();
}

size_t PubSub::pattern_count() const {
  MutexLock lock(&mu_);
  return patterns_.size();
}

namespace {

void ReplySubscription(CommandContext& ctx, std::string_view kind, const std::string_view* name) {
  ctx.reply.PushHeader(3);
  ctx.reply.Bulk(kind);
  if (name != nullptr) {
    ctx.reply.Bulk(*name);
  } else {
    ctx.reply.Null();
  }
  ctx.reply.Integer(static_cast<int64_t>(ctx.client.subscription_count()));
}

void SubscribeCommand(CommandContext& ctx) {
  for (size_t i = 1; i < ctx.argc(); ++i) {
    std::string_view channel = ctx.args[i];
    if (ctx.client.channels().emplace(channel).second) {
      ctx.server.pubsub().Subscribe(&ctx.client, channel);
    }
    ctx.client.UpdateSubscriptionCounts();
    ReplySubscription(ctx, "subscribe", &channel);
  }
}

void PSubscribeCommand(CommandContext& ctx) {
  for (size_t i = 1; i < ctx.argc(); ++i) {
    std::string_view pattern = ctx.args[i];
    if (ctx.client.patterns().emplace(pattern).second) {
      ctx.server.pubsub().PSubscribe(&ctx.client, pattern);
    }
    ctx.client.UpdateSubscriptionCounts();
    ReplySubscription(ctx, "psubscribe", &pattern);
  }
}

// UNSUBSCRIBE and PUNSUBSCRIBE: the named ones, or all when none is named.
// Each name gets its own reply, even one the client was not subscribed to; with no names
// and no subscriptions Redis still answers once, with a null name and a count of 0.
void UnsubscribeGeneric(CommandContext& ctx, bool patterns) {
  StringSet& mine = patterns ? ctx.client.patterns() : ctx.client.channels();
  std::string_view kind = patterns ? "punsubscribe" : "unsubscribe";
  auto remove = [&](std::string_view name) {
    auto it = mine.find(name);
    if (it != mine.end()) {
      mine.erase(it);
      if (patterns) {
        ctx.server.pubsub().PUnsubscribe(&ctx.client, name);
      } else {
        ctx.server.pubsub().Unsubscribe(&ctx.client, name);
      }
    }
    ctx.client.UpdateSubscriptionCounts();
  };
  if (ctx.argc() == 1) {
    if (mine.empty()) {
      ReplySubscription(ctx, kind, nullptr);
      return;
    }
    std::vector<std::string> all(mine.begin(), mine.end());
    for (const std::string& name : all) {
      std::string_view view = name;
      remove(view);
      ReplySubscription(ctx, kind, &view);
    }
    return;
  }
  for (size_t i = 1; i < ctx.argc(); ++i) {
    std::string_view name = ctx.args[i];
    remove(name);
    ReplySubscription(ctx, kind, &name);
  }
}

void UnsubscribeCommand(CommandContext& ctx) { UnsubscribeGeneric(ctx, false); }
void PUnsubscribeCommand(CommandContext& ctx) { UnsubscribeGeneric(ctx, true); }

void PublishCommand(CommandContext& ctx) {
  size_t receivers = ctx.server.pubsub().Publish(ctx.args[1], ctx.args[2]);
  ctx.reply.Integer(static_cast<int64_t>(receivers));
}

void PubSubChannelsCommand(CommandContext& ctx) {
  if (ctx.argc() > 3) {
    ctx.reply.Error("ERR wrong number of arguments for 'pubsub|channels' command");
    return;
  }
  std::vector<std::string> names =
      ctx.server.pubsub().Channels(ctx.argc() == 3 ? ctx.args[2] : std::string_view());
  ctx.reply.ArrayHeader(names.size());
  for (const std::string& name : names) ctx.reply.Bulk(name);
}

void PubSubNumSubCommand(CommandContext& ctx) {
  ctx.reply.MapHeader(ctx.argc() - 2);
  for (size_t i = 2; i < ctx.argc(); ++i) {
    ctx.reply.Bulk(ctx.args[i]);
    ctx.reply.Integer(static_cast<int64_t>(ctx.server.pubsub().Subscribers(ctx.args[i])));
  }
}

void PubSubNumPatCommand(CommandContext& ctx) {
  ctx.reply.Integer(static_cast<int64_t>(ctx.server.pubsub().pattern_count()));
}

void PubSubHelpCommand(CommandContext& ctx) {
  static constexpr std::string_view kLines[] = {
      "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "CHANNELS [<pattern>]",
      "    Return the currently active channels matching a <pattern> (default: '*').",
      "NUMPAT",
      "    Return number of subscriptions to patterns.",
      "NUMSUB [<channel> ...]",
      "    Return the number of subscribers for the specified channels, excluding",
      "    pattern subscriptions(default: no channels).",
      "HELP",
      "    Prints this help."};
  ReplyHelp(ctx, kLines);
}

constexpr uint32_t kPubSubFlags = kCmdPubSub | kCmdNoScript | kCmdLoading | kCmdStale;

const CommandSpec kPubSubSubcommands[] = {
    {"channels", -2, kPubSubFlags, PubSubChannelsCommand, 0, 0, 0, "@pubsub @slow"},
    {"numsub", -2, kPubSubFlags, PubSubNumSubCommand, 0, 0, 0, "@pubsub @slow"},
    {"numpat", 2, kPubSubFlags, PubSubNumPatCommand, 0, 0, 0, "@pubsub @slow"},
    {"help", 2, kCmdLoading | kCmdStale, PubSubHelpCommand, 0, 0, 0, "@slow"},
};

const CommandSpec kCommands[] = {
    {"subscribe", -2, kPubSubFlags | kCmdSubscribeContext, SubscribeCommand, 0, 0, 0,
     "@pubsub @slow"},
    {"unsubscribe", -1, kPubSubFlags | kCmdSubscribeContext, UnsubscribeCommand, 0, 0, 0,
     "@pubsub @slow"},
    {"psubscribe", -2, kPubSubFlags | kCmdSubscribeContext, PSubscribeCommand, 0, 0, 0,
     "@pubsub @slow"},
    {"punsubscribe", -1, kPubSubFlags | kCmdSubscribeContext, PUnsubscribeCommand, 0, 0, 0,
     "@pubsub @slow"},
    {"publish", 3, kPubSubFlags | kCmdFast, PublishCommand, 0, 0, 0, "@pubsub @fast"},
    {"pubsub", -2, 0, nullptr, 0, 0, 0, "@slow", kPubSubSubcommands},
};

}  // namespace

std::span<const CommandSpec> PubSubCommands() { return kCommands; }

}  // namespace mirrorkv::server
