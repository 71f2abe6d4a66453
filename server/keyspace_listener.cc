// KeyspaceListener: see keyspace_listener.h.
#include "server/keyspace_listener.h"

#include <algorithm>
#include <memory>

#include "server/client.h"
#include "server/io_thread.h"

namespace mirrorkv::server {
namespace {

// Each thread adds to one counter slot, picked once per thread, so that writers on
// different threads rarely share a cache line.
size_t ThreadSlot(size_t slots) {
  static std::atomic<size_t> next{0};
  thread_local size_t slot = next.fetch_add(1, std::memory_order_relaxed) % slots;
  return slot;
}

}  // namespace

// Called under the Store's stripe locks: the watch lookup takes only this listener's own
// lock, which is never held while calling into the Store, so no lock cycle can form.
void KeyspaceListener::OnMutations(std::span<const Mutation> batch) {
  counters_[ThreadSlot(kCounterSlots)].value.fetch_add(batch.size(), std::memory_order_relaxed);
  const bool watched = watches_.load(std::memory_order_relaxed) > 0;
  const bool blocked = blocked_clients_.load(std::memory_order_relaxed) > 0;
  if (!watched && !blocked) return;
  MutexLock lock(&mu_);
  if (blocked) {
    // Only a change that may leave data under the key can serve a waiter: a collection
    // effect (a push, a ZADD ...) or a whole value written (RENAME, COPY, RESTORE of a
    // list). The retry checks the type and the contents itself.
    for (const Mutation& mutation : batch) {
      if (mutation.kind == MutationKind::kCollection || mutation.kind == MutationKind::kSet) {
        WakeFirstWaiterLocked(mutation.key);
      }
    }
  }
  if (!watched) return;
  for (const Mutation& mutation : batch) {
    if (mutation.kind == MutationKind::kFlushAll) {
      for (auto& [key, clients] : watchers_) {
        for (Client* client : clients) client->MarkWatchedKeyModified();
      }
      continue;
    }
    auto it = watchers_.find(mutation.key);
    if (it == watchers_.end()) continue;
    for (Client* client : it->second) client->MarkWatchedKeyModified();
  }
}

uint64_t KeyspaceListener::changes() const {
  uint64_t total = 0;
  for (const Counter& counter : counters_) total += counter.value.load(std::memory_order_relaxed);
  return total;
}

void KeyspaceListener::Watch(Client* client, std::string_view key) {
  MutexLock lock(&mu_);
  std::vector<Client*>& clients = watchers_[key];
  if (std::find(clients.begin(), clients.end(), client) != clients.end()) return;
  clients.push_back(client);
  watches_.fetch_add(1, std::memory_order_relaxed);
}

void KeyspaceListener::Unwatch(Client* client, std::string_view key) {
  MutexLock lock(&mu_);
  auto it = watchers_.find(key);
  if (it == watchers_.end()) return;
  std::vector<Client*>& clients = it->second;
  auto found = std::find(clients.begin(), clients.end(), client);
  if (found == clients.end()) return;
  clients.erase(found);
  watches_.fetch_sub(1, std::memory_order_relaxed);
  if (clients.empty()) watchers_.erase(it);
}

void KeyspaceListener::WakeFirstWaiterLocked(std::string_view key) {
  auto it = key_waiters_.find(key);
  if (it == key_waiters_.end()) return;
  // Registered clients are alive (they unregister in OnClosed, on their own thread,
  // before they can be destroyed), so taking a reference here is safe.
  std::shared_ptr<Client> waiter = it->second.front()->shared_from_this();
  waiter->thread().Post([waiter] { waiter->RetryBlocked(); });
}

void KeyspaceListener::AddKeyWaiter(Client* client, std::span<const std::string> keys) {
  MutexLock lock(&mu_);
  for (const std::string& key : keys) key_waiters_[key].push_back(client);
  blocked_clients_.fetch_add(1, std::memory_order_relaxed);
}

void KeyspaceListener::RemoveKeyWaiter(Client* client, std::span<const std::string> keys) {
  MutexLock lock(&mu_);
  for (const std::string& key : keys) {
    auto it = key_waiters_.find(key);
    if (it == key_waiters_.end()) continue;
    std::vector<Client*>& clients = it->second;
    auto found = std::find(clients.begin(), clients.end(), client);
    if (found == clients.end()) continue;
    clients.erase(found);
    if (clients.empty()) {
      key_waiters_.erase(it);
    } else {
      WakeFirstWaiterLocked(key);
    }
  }
  blocked_clients_.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace mirrorkv::server
