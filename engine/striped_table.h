// StripedTable: the lock-striped, separately chained hash table under a Store.
//
// A key's 64-bit xxh3 hash picks its stripe (the top bits) and its bucket within the
// stripe (the low bits). Each stripe owns its lock, its bucket array, its entry count,
// its TTL wheel and its eviction state, and grows or shrinks its bucket array on its own,
// under its own lock: there is no table-wide rehash pause, only one stripe at a time
// (a stripe of n entries rehashes in O(n) while its lock is held).
//
// Lock order: a thread holds at most one stripe lock, except whole-table or multi-key
// work (MultiSet, FlushAll, stats), which takes the stripes it needs in ascending index
// order. The TTL wheel, the SIEVE queue and the statistics of a stripe are guarded by
// that stripe's lock; the table has no other lock. Memory accounting is one relaxed
// atomic counter, updated by every function here that allocates or frees.
//
// Thread-safe in the sense that each function documents the lock it requires.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "engine/base/mutex.h"
#include "engine/entry.h"
#include "engine/ttl_wheel.h"

namespace mirrorkv::internal {

// One stripe: a lock and everything it guards, on cache lines of its own so that
// threads working on neighbouring stripes do not share a line.
struct alignas(64) Stripe {
  // What every lookup touches comes first: the lock, the buckets and the counters a
  // read updates share the first two cache lines; the rest is for writes and upkeep.
  Mutex mu;
  // 2^k chain heads, k >= kMinBucketBits.
  std::unique_ptr<Entry*[]> buckets ABSL_GUARDED_BY(mu);
  uint64_t bucket_mask ABSL_GUARDED_BY(mu) = 0;
  // Advances on every access; entries keep its low 24 bits as their LRU stamp. Per
  // stripe, so that reads need no shared counter and no clock.
  uint32_t access_clock ABSL_GUARDED_BY(mu) = 0;
  // Tags wheel items so that a re-armed deadline makes older items stale (store_impl.cc).
  uint8_t next_epoch ABSL_GUARDED_BY(mu) = 0;
  // Statistics, summed by Store::stats().
  uint64_t hits ABSL_GUARDED_BY(mu) = 0;
  uint64_t misses ABSL_GUARDED_BY(mu) = 0;
  uint64_t expired ABSL_GUARDED_BY(mu) = 0;
  uint64_t evicted ABSL_GUARDED_BY(mu) = 0;
  size_t count ABSL_GUARDED_BY(mu) = 0;        // entries, expired ones included
  size_t with_expiry ABSL_GUARDED_BY(mu) = 0;  // entries that have a deadline
  EntryArena arena ABSL_GUARDED_BY(mu);
  TtlWheel wheel ABSL_GUARDED_BY(mu){0};  // restarted at the table's start time
  // SIEVE's FIFO of key hashes (oldest first) and its hand; empty for other policies.
  std::vector<uint64_t> sieve_queue ABSL_GUARDED_BY(mu);
  size_t sieve_hand ABSL_GUARDED_BY(mu) = 0;
};

class StripedTable {
 public:
  // A stripe starts with 2^kMinBucketBits buckets and never shrinks below.
  static constexpr int kMinBucketBits = 2;

  // `stripe_count` must be a power of two. `now_ms` starts the TTL wheels.
  StripedTable(size_t stripe_count, int64_t now_ms);
  // Frees every entry. No other thread may use the table.
  ~StripedTable();
  StripedTable(const StripedTable&) = delete;
  StripedTable& operator=(const StripedTable&) = delete;

  static uint64_t Hash(std::string_view key);

  size_t stripe_count() const { return stripe_count_; }
  size_t StripeIndex(uint64_t hash) const {
    return stripe_shift_ == 64 ? 0 : static_cast<size_t>(hash >> stripe_shift_);
  }
  Stripe& StripeFor(uint64_t hash) const { return stripes_[StripeIndex(hash)]; }
  Stripe& stripe(size_t index) const { return stripes_[index]; }

  // Bytes held by entries, bucket arrays and per-stripe bookkeeping.
  int64_t memory_bytes() const { return memory_bytes_.load(std::memory_order_relaxed); }
  // Records `delta` bytes held elsewhere on the table's behalf (wheels, SIEVE queues).
  void AddMemory(int64_t delta) { memory_bytes_.fetch_add(delta, std::memory_order_relaxed); }

  // Returns the link (the bucket head or a `next` field) that points at the entry
  // holding `key`, or null if there is none.
  static Entry** FindLink(Stripe& stripe, uint64_t hash, std::string_view key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu);
  // Returns the entry holding `key`, or null.
  static Entry* Find(Stripe& stripe, uint64_t hash, std::string_view key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu) {
    Entry** link = FindLink(stripe, hash, key);
    return link ? *link : nullptr;
  }

  // Creates an entry and links it into its bucket; the key must not be present.
  // Grows the stripe when its load passes one entry per bucket.
  Entry* Insert(Stripe& stripe, uint64_t hash, std::string_view key, std::string_view value,
                int64_t deadline_ms, uint8_t epoch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu);
  // Links an entry made by the caller (Entry::CreateCollection) as Insert links its
  // own: the key must not be present. The caller accounts its bytes.
  void InsertCreated(Stripe& stripe, uint64_t hash, Entry* entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu);
  // Gives the entry at `*link` a new value and deadline, in place when it fits or by
  // reallocating (the entry pointer may change; the new one is returned). To change
  // only the deadline, pass the entry's own value().
  Entry* Replace(Stripe& stripe, Entry** link, std::string_view value, int64_t deadline_ms,
                 uint8_t epoch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu);
  // Unlinks and frees the entry at `*link`. Shrinks the stripe when it becomes sparse.
  void Erase(Stripe& stripe, Entry** link) ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu);
  // Frees every entry of the stripe and returns it to its initial size.
  void Clear(Stripe& stripe) ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu);

  // Visits the chain at `cursor` (a reverse-binary bucket cursor, Redis's dictScan
  // scheme) and returns the next cursor, 0 after the last bucket. Iterating from 0 until
  // 0 visits every entry present throughout at least once, however the stripe is resized
  // between calls. `visit` is called as visit(const Entry&).
  template <typename Visit>
  static uint64_t VisitBucket(Stripe& stripe, uint64_t cursor, Visit&& visit)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu) {
    for (Entry* e = stripe.buckets[cursor & stripe.bucket_mask]; e != nullptr; e = e->next()) {
      visit(static_cast<const Entry&>(*e));
    }
    return NextCursor(cursor, stripe.bucket_mask);
  }
  static uint64_t NextCursor(uint64_t cursor, uint64_t mask);

  // Exchanges every entry, bucket array and wheel with `other`, which must have the same
  // stripe count. Requires every stripe lock of both tables (the caller's whole-table
  // lock order: this table's stripes, then the other's).
  void SwapContents(StripedTable& other) ABSL_NO_THREAD_SAFETY_ANALYSIS;

  // Bytes of one stripe's bucket array, for tests.
  static size_t BucketArrayBytes(const Stripe& stripe) ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu) {
    return (stripe.bucket_mask + 1) * sizeof(Entry*);
  }

 private:
  // Rehashes the stripe into 2^bits buckets.
  void Resize(Stripe& stripe, int bits) ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu);
  void Link(Stripe& stripe, uint64_t hash, Entry* entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu);

  const size_t stripe_count_;
  const int stripe_shift_;  // 64 - log2(stripe_count); 64 when there is one stripe
  std::unique_ptr<Stripe[]> stripes_;
  // Relaxed: a running total read for limits and statistics; it orders nothing.
  // On a cache line of its own: writes update it, while every lookup reads the fields
  // above; sharing a line would make each write invalidate them on the other cores.
  alignas(64) std::atomic<int64_t> memory_bytes_{0};
};

}  // namespace mirrorkv::internal
