// StagedLoad: builds a Store's new content aside, from a snapshot or an RDB being read,
// and publishes it in one step only once the whole input was verified, so that a failed
// load leaves the target exactly as it was.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "engine/collection.h"
#include "engine/store_impl.h"
#include "mirrorkv/mutation.h"
#include "mirrorkv/status.h"
#include "mirrorkv/store.h"

namespace mirrorkv::internal {

// Not thread-safe: one loading thread uses it.
class StagedLoad {
 public:
  // A private staging store with the target's layout and clock, but no listener, no
  // expiry thread and no eviction: nobody sees it until Publish. `target` is borrowed
  // and must outlive this. Store::Open's error for the target's options.
  static Result<std::unique_ptr<StagedLoad>> Create(Store::Impl& target);

  // Queues one entry; `key` and `value` must stay valid until the next Apply. On a
  // primary-mode target an entry whose deadline passed is queued as a delete (an
  // earlier occurrence of the key in a fuzzy snapshot is older and must not survive
  // it) and counted in expired(); a replica-mode target keeps it for its primary's
  // delete, as the engine's replica rule requires.
  void Add(std::string_view key, std::string_view value, int64_t deadline_ms);

  // Inserts a collection into the staging store at once, taking ownership. Entries
  // queued by Add are not applied first: the caller gives each key once (an RDB holds
  // every key once). A primary-mode target drops an expired one, as Add does.
  void AddCollection(std::string_view key, Collection* collection, int64_t deadline_ms);

  // Applies the queued entries to the staging store, one ApplyBatch per stripe, so a
  // stripe is locked once for many entries; per key, the order of the input is kept.
  // The store's error (kInvalidArgument for a key or value over its limits) otherwise.
  Status Apply();

  // Apply, then exchanges the staging content with the target's, atomically for
  // readers. The old content is freed when this StagedLoad is destroyed.
  Status Publish();

  uint64_t expired() const { return expired_; }

 private:
  StagedLoad(Store::Impl& target, std::unique_ptr<Store> staging);

  Store::Impl& target_;
  std::unique_ptr<Store> staging_;
  const bool drop_expired_;
  const int stripe_shift_;
  // The time, read again at each Apply: a key expiring meanwhile is loaded, then
  // expires in the store.
  int64_t now_;
  uint64_t expired_ = 0;
  std::vector<std::vector<Mutation>> groups_;  // queued mutations, by stripe
};

}  // namespace mirrorkv::internal
