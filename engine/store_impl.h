// Store::Impl: the engine behind the public Store, and the internal entry points that
// the snapshot and replication modules use (applying a primary's mutations, walking
// every entry, installing the replication sink).
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "engine/base/mutex.h"
#include "engine/collection.h"
#include "engine/striped_table.h"
#include "mirrorkv/clock.h"
#include "mirrorkv/collections.h"
#include "mirrorkv/mutation.h"
#include "mirrorkv/options.h"
#include "mirrorkv/store.h"

namespace mirrorkv {

// The message of kResourceExhausted when the memory limit refuses a write; the server
// sends it to clients as Redis does ("-OOM ...").
inline constexpr std::string_view kOutOfMemoryMessage =
    "OOM command not allowed when used memory > 'maxmemory'.";
// The message of kFailedPrecondition for a write to a replica-mode Store.
inline constexpr std::string_view kReadOnlyMessage =
    "READONLY You can't write against a read only replica.";

class Store::Impl {
 public:
  explicit Impl(const StoreOptions& options);
  ~Impl();

  // The operations of the public Store; see store.h for their contracts.
  Result<bool> Set(std::string_view key, std::string_view value, const SetOptions& options);
  Result<std::string> GetDel(std::string_view key);
  Result<std::string> GetEx(std::string_view key, Expiry expiry);
  Result<bool> Del(std::string_view key);
  Result<int64_t> IncrBy(std::string_view key, int64_t delta);
  Result<bool> Expire(std::string_view key, Expiry expiry, ExpireCondition condition);
  Result<bool> Persist(std::string_view key);
  Status MultiSet(std::span<const std::pair<std::string_view, std::string_view>> pairs,
                  bool only_if_none_exists, bool* written);
  Status FlushAll();
  Result<UpdateAction> Update(std::string_view key, Store::UpdateCallback callback, void* context);
  Result<bool> Rename(std::string_view source, std::string_view destination, bool only_if_absent);
  Result<std::string> RandomKey();
  bool Read(std::string_view key, Store::ValueCallback callback, void* context);
  // Reads every key with all their stripes locked at once (Store::MultiGet): calls
  // found(i, value) for each live string key i, in order.
  void MultiRead(std::span<const std::string_view> keys,
                 const std::function<void(size_t, std::string_view)>& found);
  int64_t ExpireTime(std::string_view key);
  ScanPage Scan(uint64_t cursor, const ScanOptions& options);
  size_t size() const;
  StoreStats stats() const;
  size_t ExpireDue();
  void SetMaxMemory(size_t bytes) { max_memory_.store(bytes, std::memory_order_relaxed); }
  void SetEvictionPolicy(EvictionPolicy policy);

  // --- Collections (engine/typed_ops.cc) ---

  // The type of the live key; kNone when missing.
  KeyType TypeOf(std::string_view key);

  enum class AccessMode : uint8_t {
    kRead,         // no change; a missing key passes null
    kWrite,        // may change an existing collection; a missing key passes null
    kWriteCreate,  // may change it; a missing key passes a new empty collection
  };
  // Runs `op` on the collection of `type` at `key` with its stripe locked: the core of
  // every collection operation. kFailedPrecondition (kWrongTypeMessage) when the key
  // holds another type. For the write modes: refuses like any write (replica, refusal,
  // sizes), first makes `incoming` bytes of room under max_memory, then after `op`
  // accounts the collection's change in bytes, deletes the key if `op` emptied it
  // (reporting a delete), inserts a created collection unless it stayed empty, and
  // reports the effects `op` recorded. `op` must change nothing when it returns an
  // error (its error is returned as is).
  // Checks elements (items, members, fields, values) against max_value_bytes and adds
  // their estimated bytes to `*incoming`, for Access's room.
  Status CheckElements(std::span<const std::string_view> elements, size_t* incoming) const;

  using CollectionOp =
      absl::FunctionRef<Status(internal::Collection* collection, internal::EffectBuffer& effects)>;
  Status Access(std::string_view key, KeyType type, AccessMode mode, size_t incoming,
                CollectionOp op);

  // --- For the snapshot and replication modules ---

  // Applies mutations received from a primary (or read from a snapshot) as one atomic
  // change: the stripes of every key are locked together (all of them if the batch holds
  // a kFlushAll), in order. No replica check, no eviction; deadlines are stored as given
  // even if past (the primary's delete will follow). The effective mutations are
  // reported onward as one batch. kInvalidArgument, with nothing changed, if any key or
  // value is over the limits or any deadline is out of range.
  //
  // `stream_offset` is the offset in the primary's stream where the batch's command (or
  // its MULTI) starts: a kCollection mutation of a key whose replay floor (see
  // AddReplayFloor) is above it is skipped, being already in the loaded snapshot.
  // kCollection effects are checked whole (kCorruption for a malformed one).
  Status ApplyBatch(std::span<const Mutation> batch, uint64_t stream_offset = 0);
  Status Apply(const Mutation& mutation) { return ApplyBatch({&mutation, 1}); }

  // Records that the snapshot being loaded copied `key`'s collection when the stream
  // had reached `offset`: collection effects for that key from before it are already in
  // the copy (docs/design.md, "Exact replay of collections"). A later whole-key write
  // (SET, DEL, FLUSHALL) of the stream forgets the floor. Called on the staging Store of
  // a load; SwapContents moves the floors with the data.
  void AddReplayFloor(std::string_view key, uint64_t offset) ABSL_LOCKS_EXCLUDED(floors_mu_);
  // Drops every floor: for a load that replayed the stream past all of them itself.
  void ClearReplayFloors() ABSL_LOCKS_EXCLUDED(floors_mu_) { ForgetReplayFloor({}, /*all=*/true); }
  // Inserts a loaded collection (from a snapshot) as ApplyBatch inserts a kSet: no
  // checks, no eviction, replacing any entry of the key. Takes ownership.
  void InsertCollection(std::string_view key, internal::Collection* collection,
                        int64_t deadline_ms);

  // Makes every public write fail with `refusal` (a non-OK status) until called with OK.
  // The replication primary uses it for min_replicas_to_write.
  void SetWriteRefusal(Status refusal) ABSL_LOCKS_EXCLUDED(refusal_mu_);

  // Walks entries with the SCAN cursor scheme: calls visit(const Entry&) for the
  // entries of whole buckets, with the bucket's stripe locked, until about
  // `max_entries` were visited, and returns the next cursor (0 when done). Expired
  // entries are included; the caller decides (a snapshot drops them). A collection is
  // read through Entry::collection() while the lock is held.
  template <typename Visit>
  uint64_t WalkEntries(uint64_t cursor, size_t max_entries, Visit&& visit);
  // WalkEntries for string entries only: visit(key, value, deadline_ms).
  template <typename Visit>
  uint64_t Walk(uint64_t cursor, size_t max_entries, Visit&& visit) {
    return WalkEntries(cursor, max_entries, [&](const internal::Entry& e) {
      if (e.is_string()) visit(e.key(), e.value(), e.deadline());
    });
  }

  // Replaces this Store's whole content with `source`'s, atomically for readers (every
  // stripe lock is held across the exchange), and leaves `source` with the old content.
  // Used to load a snapshot into a fresh Store and publish it only once it is complete.
  // Both must have the same stripe count (kInvalidArgument otherwise). Statistics
  // (hits, misses ...) stay with their Store. Reports nothing to listeners: a caller
  // that needs the change replicated does so itself (a full resync does).
  Status SwapContents(Impl& source) ABSL_NO_THREAD_SAFETY_ANALYSIS;

  // Installs (or, with null, removes) the replication log's sink. It sees every
  // mutation, in the same order and under the same locks as the options' listener.
  // Takes every stripe lock, so no mutation is half reported across the switch.
  void SetReplicationSink(MutationListener* sink) ABSL_NO_THREAD_SAFETY_ANALYSIS;
  // Switches replica mode (see StoreOptions::replica); used by promotion.
  void SetReplicaMode(bool replica);
  bool replica() const { return replica_.load(std::memory_order_relaxed); }

  // The replication role that holds this Store: at most one Primary or Replica at a time
  // (replication.h). `holder` names it for error messages ("a Primary"). Claim fails
  // with kFailedPrecondition, naming the current holder, if another holds the Store.
  // Transfer hands the Store to a new holder without a moment in between where a third
  // could claim it (a Replica promoted to a Primary). Release ends the hold.
  Status ClaimReplicationRole(std::string_view holder) ABSL_LOCKS_EXCLUDED(holder_mu_);
  void TransferReplicationRole(std::string_view holder) ABSL_LOCKS_EXCLUDED(holder_mu_);
  void ReleaseReplicationRole() ABSL_LOCKS_EXCLUDED(holder_mu_);
  // Store::LeaveReplicaMode: see store.h.
  Status LeaveReplicaMode() ABSL_LOCKS_EXCLUDED(holder_mu_);
  // Store::GetWithDeadline: see store.h.
  bool ReadWithDeadline(std::string_view key, std::string* value, int64_t* deadline);
  const Clock& clock() const { return *clock_; }
  const StoreOptions& options() const { return options_; }

 private:
  // The time, read from the clock at most once per operation and only if needed.
  class LazyNow {
   public:
    explicit LazyNow(const Clock* clock) : clock_(clock) {}
    int64_t get() {
      if (now_ < 0) now_ = clock_->NowMillis();
      return now_;
    }

   private:
    const Clock* clock_;
    int64_t now_ = -1;
  };

  template <typename Visit>
  bool ReadEntry(std::string_view key, Visit&& visit);
  Status CheckWritable() const;
  Status CheckSizes(std::string_view key, std::string_view value) const;
  // Evicts until `incoming` more bytes fit under max_memory, or refuses. Called before
  // taking the write's own stripe lock (eviction takes stripe locks itself).
  Status MakeRoom(size_t incoming);
  // Evicts one key chosen by the policy. Returns false if nothing could be evicted.
  bool EvictOne(EvictionPolicy policy);
  // Chooses the victim within one stripe; null if the stripe has no candidate.
  internal::Entry** PickVictim(internal::Stripe& stripe, EvictionPolicy policy)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu);
  internal::Entry** PickSampled(internal::Stripe& stripe, EvictionPolicy policy)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu);
  internal::Entry** PickSieve(internal::Stripe& stripe) ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu);
  void RebuildSieveQueue(internal::Stripe& stripe) ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu);
  void CompactSieveQueue(internal::Stripe& stripe) ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu);
  // The link of the entry whose hash is `hash` (and epoch `epoch` when >= 0), or null.
  static internal::Entry** FindByHash(internal::Stripe& stripe, uint64_t hash, uint64_t hash_mask,
                                      int epoch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu);

  // The link of the live entry for `key`, or null. On a primary an expired entry found
  // on the way is deleted (reported as kExpired); on a replica it is only hidden.
  internal::Entry** FindLive(internal::Stripe& stripe, uint64_t hash, std::string_view key,
                             LazyNow& now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu);
  // Records an access for LRU and SIEVE.
  void Touch(internal::Stripe& stripe, internal::Entry* entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu);
  // Inserts or replaces the key's entry with `value` and `deadline_ms` (0: none), arming
  // the TTL wheel when the deadline is new or earlier. `link` is FindLive's result.
  internal::Entry* Upsert(internal::Stripe& stripe, internal::Entry** link, uint64_t hash,
                          std::string_view key, std::string_view value, int64_t deadline_ms)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu);
  // Gives the live entry at `link` a new deadline (0 removes it).
  internal::Entry* ChangeDeadline(internal::Stripe& stripe, internal::Entry** link, uint64_t hash,
                                  int64_t deadline_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu);
  // Reports and erases the entry at `link`.
  void Remove(internal::Stripe& stripe, internal::Entry** link, MutationCause cause)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu);
  // The epoch for an entry going from `old` (may be null) to `deadline_ms`, scheduling a
  // wheel item when the existing one would fire too late.
  uint8_t ArmDeadline(internal::Stripe& stripe, const internal::Entry* old, uint64_t hash,
                      int64_t deadline_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu);
  // Replaces the stripe's wheel with one holding exactly an item per entry with a
  // deadline, dropping the stale items.
  void RebuildWheel(internal::Stripe& stripe) ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu);
  // Expires due keys of one stripe; returns how many, at most `budget`.
  size_t ExpireStripe(internal::Stripe& stripe, int64_t now, size_t budget)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu);
  // Locks every stripe, in order, and unlocks them.
  void LockAllStripes() ABSL_NO_THREAD_SAFETY_ANALYSIS;
  void UnlockAllStripes() ABSL_NO_THREAD_SAFETY_ANALYSIS;
  // Empties every stripe; requires every stripe lock. Reports nothing.
  void ClearAllLocked() ABSL_NO_THREAD_SAFETY_ANALYSIS;
  // Applies one validated mutation with its stripe (or, for kFlushAll, every stripe)
  // locked. Returns whether it changed anything.
  bool ApplyLocked(const Mutation& m) ABSL_NO_THREAD_SAFETY_ANALYSIS;

  // Sends one batch to the listener and the replication sink. Requires the locks of the
  // stripes of every key in the batch.
  void Report(std::span<const Mutation> batch) {
    if (listener_ != nullptr) listener_->OnMutations(batch);
    if (sink_ != nullptr) sink_->OnMutations(batch);
  }
  bool reporting() const { return listener_ != nullptr || sink_ != nullptr; }
  void ReportOne(MutationKind kind, MutationCause cause, std::string_view key,
                 std::string_view value = {}, int64_t expire_at_ms = 0) {
    if (!reporting()) return;
    Mutation m{kind, cause, key, value, expire_at_ms};
    Report({&m, 1});
  }

  // Moves the collection at `source_link` to `destination` (replacing what it held),
  // reporting the source's delete and the destination's rebuild. Requires both locks.
  void RenameCollectionLocked(internal::Stripe& from, internal::Entry** source_link,
                              internal::Stripe& to, uint64_t destination_hash,
                              std::string_view destination) ABSL_NO_THREAD_SAFETY_ANALYSIS;
  // Records a new entry for LRU and SIEVE.
  void NoteInserted(internal::Stripe& stripe, uint64_t hash, internal::Entry* entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu);
  // Applies a validated kCollection mutation with the key's stripe locked; returns
  // whether it changed anything.
  bool ApplyEffectLocked(internal::Stripe& stripe, const Mutation& m)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu);
  // Whether a collection effect at `stream_offset` for `key` is already in the loaded
  // snapshot (see AddReplayFloor); forgets floors the stream has passed.
  bool BelowReplayFloor(std::string_view key, uint64_t stream_offset)
      ABSL_LOCKS_EXCLUDED(floors_mu_);
  void ForgetReplayFloor(std::string_view key, bool all) ABSL_LOCKS_EXCLUDED(floors_mu_);

  // Locks the given stripe indices (sorted, unique) in ascending order, and unlocks them.
  void LockStripes(std::span<const size_t> indices) ABSL_NO_THREAD_SAFETY_ANALYSIS;
  void UnlockStripes(std::span<const size_t> indices) ABSL_NO_THREAD_SAFETY_ANALYSIS;

  void ExpiryThreadMain();

  const StoreOptions options_;
  const Clock* const clock_;
  internal::StripedTable table_;
  MutationListener* const listener_;
  // Written with every stripe lock held and read with at least one held.
  MutationListener* sink_ = nullptr;
  // Relaxed: configuration values read on each write; no data depends on their order.
  std::atomic<size_t> max_memory_;
  std::atomic<EvictionPolicy> policy_;
  std::atomic<bool> replica_;
  // Who holds the Store for replication (empty: nobody). Taken only by the role
  // changes above, never on a data path.
  mutable Mutex holder_mu_;
  std::string holder_ ABSL_GUARDED_BY(holder_mu_);
  // Set while writes are refused; refusal_ holds the status to return.
  std::atomic<bool> writes_refused_{false};
  mutable Mutex refusal_mu_;
  Status refusal_ ABSL_GUARDED_BY(refusal_mu_);
  // Which stripe ExpireDue starts from, so that a budget cut does not always favour the
  // low stripes. Relaxed: any value is correct.
  std::atomic<size_t> expiry_cursor_{0};

  // Replay floors of a snapshot load (AddReplayFloor); empty outside the catch-up after
  // a full resync. has_floors_ lets the apply path skip the lock when there are none.
  // Relaxed: set before the replica applies its first command, on the applying thread.
  std::atomic<bool> has_floors_{false};
  Mutex floors_mu_;
  absl::flat_hash_map<std::string, uint64_t, internal::ViewHash, internal::ViewEq> floors_
      ABSL_GUARDED_BY(floors_mu_);
  uint64_t max_floor_ ABSL_GUARDED_BY(floors_mu_) = 0;

  Mutex thread_mu_;
  CondVar thread_cv_;
  bool stopping_ ABSL_GUARDED_BY(thread_mu_) = false;
  std::thread expiry_thread_;
};

template <typename Visit>
uint64_t Store::Impl::WalkEntries(uint64_t cursor, size_t max_entries, Visit&& visit) {
  // The cursor holds the stripe index in its low bits and that stripe's bucket cursor
  // above them, so that any bucket count fits.
  const size_t stripes = table_.stripe_count();
  const int stripe_bits = std::countr_zero(stripes);
  size_t stripe_index = cursor & (stripes - 1);
  uint64_t bucket_cursor = cursor >> stripe_bits;
  size_t visited = 0;
  // Bounds the work on a sparse table, where most buckets are empty.
  size_t buckets_left = std::max<size_t>(max_entries, 1) * 10;
  while (true) {
    internal::Stripe& stripe = table_.stripe(stripe_index);
    {
      MutexLock lock(&stripe.mu);
      // An empty stripe holds no key that could be missed: skip its buckets.
      if (stripe.count == 0) bucket_cursor = 0;
      while (bucket_cursor != 0 || stripe.count != 0) {
        bucket_cursor = internal::StripedTable::VisitBucket(stripe, bucket_cursor,
                                                            [&](const internal::Entry& e) {
                                                              visit(e);
                                                              ++visited;
                                                            });
        --buckets_left;
        if (bucket_cursor == 0 || visited >= max_entries || buckets_left == 0) break;
      }
    }
    if (bucket_cursor == 0) {
      if (++stripe_index == stripes) return 0;
    }
    if (visited >= max_entries || buckets_left == 0) {
      return (bucket_cursor << stripe_bits) | stripe_index;
    }
  }
}

}  // namespace mirrorkv
