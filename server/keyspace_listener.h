// KeyspaceListener: the server's MutationListener on its Store. It counts effective
// changes (INFO's rdb_changes_since_last_save and the `save` policy) and implements WATCH:
// a change to a watched key — a write, an expiry, an eviction, FLUSHALL — marks every
// client watching it, so that its EXEC fails as in Redis.
//
// The Store calls OnMutations with stripe locks held, from any writing thread, so the
// common path is cheap: one relaxed add on a counter slot of the calling thread's own and,
// while no key is watched anywhere, one relaxed load.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/mutex.h"
#include "mirrorkv/mutation.h"
#include "server/string_hash.h"

namespace mirrorkv::server {

class Client;

class KeyspaceListener final : public MutationListener {
 public:
  KeyspaceListener() = default;

  void OnMutations(std::span<const Mutation> batch) override ABSL_LOCKS_EXCLUDED(mu_);

  // Effective changes since the server started (a multi-key change counts each key).
  uint64_t changes() const;

  // WATCH key: `client` is marked when `key` changes, until Unwatch. The client must
  // call UnwatchAll before it is destroyed.
  void Watch(Client* client, std::string_view key) ABSL_LOCKS_EXCLUDED(mu_);
  void Unwatch(Client* client, std::string_view key) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  static constexpr size_t kCounterSlots = 16;
  struct alignas(64) Counter {
    // Relaxed: a statistic, summed by readers without ordering needs.
    std::atomic<uint64_t> value{0};
  };
  Counter counters_[kCounterSlots];

  // How many (key, client) watches exist; relaxed, read on every mutation to skip the
  // lock when nothing is watched. A watch registered concurrently with a write may miss
  // that write, which is indistinguishable from the write happening just before WATCH.
  std::atomic<size_t> watches_{0};
  Mutex mu_;
  StringMap<std::vector<Client*>> watchers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mirrorkv::server
