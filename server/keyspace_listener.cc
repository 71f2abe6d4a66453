// KeyspaceListener: see keyspace_listener.h.
#include "server/keyspace_listener.h"

#include <algorithm>

#include "server/client.h"

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
  if (watches_.load(std::memory_order_relaxed) == 0) return;
  MutexLock lock(&mu_);
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

}  // namespace mirrorkv::server
