// PubSub: the channel and pattern subscriptions of every client, and PUBLISH.
//
// Subscribers may live on any I/O thread. PUBLISH finds them under one lock, encodes
// the message once per RESP version, and hands it to each subscriber's own thread
// (directly when it is the publisher's thread), so a connection's output is only ever
// written by its owner. The SUBSCRIBE family's handlers are in pubsub.cc too.
//
// Thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/mutex.h"
#include "server/string_hash.h"

namespace mirrorkv::server {

class Client;

// A message ready to append to a subscriber's output, in both encodings.
struct OutOfBandMessage {
  std::string resp2;  // an array
  std::string resp3;  // a push
};

class PubSub {
 public:
  // Registers `client` for `channel` / `pattern`; false if it already was. The caller
  // keeps the client's own set in step (Client::channels()).
  bool Subscribe(Client* client, std::string_view channel) ABSL_LOCKS_EXCLUDED(mu_);
  bool Unsubscribe(Client* client, std::string_view channel) ABSL_LOCKS_EXCLUDED(mu_);
  bool PSubscribe(Client* client, std::string_view pattern) ABSL_LOCKS_EXCLUDED(mu_);
  bool PUnsubscribe(Client* client, std::string_view pattern) ABSL_LOCKS_EXCLUDED(mu_);

  // Sends `message` to the subscribers of `channel` and of every matching pattern;
  // returns how many deliveries that made (a client subscribed both ways counts twice,
  // as in Redis).
  size_t Publish(std::string_view channel, std::string_view message) ABSL_LOCKS_EXCLUDED(mu_);

  // PUBSUB CHANNELS [pattern], NUMSUB, NUMPAT; INFO's pubsub_channels / pubsub_patterns.
  std::vector<std::string> Channels(std::string_view pattern) const ABSL_LOCKS_EXCLUDED(mu_);
  size_t Subscribers(std::string_view channel) const ABSL_LOCKS_EXCLUDED(mu_);
  size_t channel_count() const ABSL_LOCKS_EXCLUDED(mu_);
  size_t pattern_count() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable Mutex mu_;
  StringMap<std::vector<Client*>> channels_ ABSL_GUARDED_BY(mu_);
  StringMap<std::vector<Client*>> patterns_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mirrorkv::server
