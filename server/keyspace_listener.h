// KeyspaceListener: the server's MutationListener on its Store. It counts effective
// changes (INFO's rdb_changes_since_last_save and the `save` policy) and implements WATCH:
// a change to a watched key — a write, an expiry, an eviction, FLUSHALL — marks every
// client watching it, so that its EXEC fails as in Redis.
//
// It also wakes the clients blocked on keys (BLPOP, BZPOPMIN ...): a write to a key with
// waiters asks the one that blocked first on it (FIFO per key) to retry its command, on
// that client's own I/O thread (Client::RetryBlocked). Because every write reaches the
// Store's listener — any client's command, MULTI/EXEC, a script (and a replica's
// stream, though a replica refuses blocking commands) — this one hook covers them all. A retry that
// finds nothing leaves the client blocked; a retry that pops makes a mutation of its own, which
// wakes the next waiter of the key if data is left.
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

  // Blocked clients: `client` waits for data on `keys` (distinct), behind the clients
  // already waiting on each, until RemoveKeyWaiter, which the client must call before it
  // is destroyed. Its retries are posted to its thread.
  void AddKeyWaiter(Client* client, std::span<const std::string> keys) ABSL_LOCKS_EXCLUDED(mu_);
  // Removes `client` from the waiters of `keys`, and asks the next waiter of each to
  // retry: a wake-up addressed to `client` may have come too late for it to use (it was
  // served from another key, timed out, disconnected, or was unblocked). A retry that
  // finds nothing costs one lookup.
  void RemoveKeyWaiter(Client* client, std::span<const std::string> keys) ABSL_LOCKS_EXCLUDED(mu_);
  // Clients blocked on keys now (INFO's blocked_clients).
  size_t blocked_clients() const { return blocked_clients_.load(std::memory_order_relaxed); }

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

  // Asks the first waiter of `key`, if any, to retry its command.
  void WakeFirstWaiterLocked(std::string_view key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // How many clients are blocked on keys; relaxed, read on every mutation to skip the
  // lock when none is. A client blocks by registering here and only then retrying its
  // command once (Client::BlockOnKeys). The key's stripe lock, held by the write while
  // it calls this listener and taken by the retry's read, orders the two: either the
  // write comes first and the retry sees its data, or the retry comes first and the
  // write's load sees the registration.
  std::atomic<size_t> blocked_clients_{0};
  // Per key, its blocked clients, the longest-waiting first.
  StringMap<std::vector<Client*>> key_waiters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mirrorkv::server
