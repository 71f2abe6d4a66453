// Store: an in-memory map from byte-string keys to byte-string values, with per-key
// deadlines, a memory limit with eviction, and a report of every change.
//
//   mirrorkv::StoreOptions options;
//   options.max_memory = 256 << 20;
//   options.eviction_policy = mirrorkv::EvictionPolicy::kAllKeysLru;
//   auto store = mirrorkv::Store::Open(options);
//   if (!store.ok()) return store.status();
//   (*store)->Set("session:42", "alice", {.expiry = mirrorkv::Expiry::After(30min)});
//   mirrorkv::Result<std::string> user = (*store)->Get("session:42");
//
// Semantics follow Redis's string commands; each method names its Redis counterpart.
// Keys and values are arbitrary bytes (NUL included); the empty key is a valid key.
//
// Thread-safe: every method may be called concurrently from any number of threads. The
// table is split into lock stripes (StoreOptions::stripe_count); a single-key call holds
// one stripe lock for a short time, a multi-key call (MultiSet, FlushAll) holds the locks
// of the stripes it touches at once, so it is atomic: no reader sees part of it.
//
// Errors common to every write: kFailedPrecondition on a replica-mode Store,
// kInvalidArgument for a key or value over the configured size limits,
// kResourceExhausted when the memory limit refuses the write (noeviction, or nothing
// left to evict); in every error case the data is unchanged.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "mirrorkv/collections.h"
#include "mirrorkv/options.h"
#include "mirrorkv/status.h"

namespace mirrorkv {

// What a write does to the key's deadline.
class Expiry {
 public:
  enum class Kind : uint8_t { kClear, kKeep, kAfter, kAt };

  // Removes any deadline (the default of Set; PERSIST).
  static constexpr Expiry Clear() { return Expiry(Kind::kClear, 0); }
  // Leaves the deadline as it was (KEEPTTL; GETEX without options).
  static constexpr Expiry Keep() { return Expiry(Kind::kKeep, 0); }
  // Now plus `ttl` (EX, PX). Set rejects ttl <= 0 with kInvalidArgument, as Redis
  // does; Expire with ttl <= 0 deletes the key.
  static constexpr Expiry After(std::chrono::milliseconds ttl) {
    return Expiry(Kind::kAfter, ttl.count());
  }
  // An absolute Unix time in milliseconds (EXAT, PXAT). A time already past makes the
  // write delete the key, as Redis does.
  static constexpr Expiry At(int64_t unix_ms) { return Expiry(Kind::kAt, unix_ms); }

  constexpr Kind kind() const { return kind_; }
  // The ttl of After or the time of At; 0 otherwise.
  constexpr int64_t millis() const { return millis_; }

 private:
  constexpr Expiry(Kind kind, int64_t millis) : kind_(kind), millis_(millis) {}
  Kind kind_;
  int64_t millis_;
};

enum class SetCondition : uint8_t {
  kAlways,
  kIfAbsent,   // NX: only when no live value exists
  kIfPresent,  // XX: only when a live value exists
};

struct SetOptions {
  SetCondition condition = SetCondition::kAlways;
  Expiry expiry = Expiry::Clear();
  // If non-null, receives the value the key held before the call, or nullopt if it held
  // none (Redis's SET ... GET), whether or not the write happened. Borrowed for the call.
  std::optional<std::string>* previous_value = nullptr;
};

// When Expire applies (Redis 7's EXPIRE options). A key without a deadline counts as
// having an infinite one for kIfGreater and kIfLess.
enum class ExpireCondition : uint8_t {
  kAlways,
  kIfNoExpiry,   // NX
  kIfHasExpiry,  // XX
  kIfGreater,    // GT
  kIfLess,       // LT
};

// Ttl() and ExpireTime() return these, as Redis's PTTL and PEXPIRETIME do.
inline constexpr int64_t kTtlMissingKey = -2;
inline constexpr int64_t kTtlNoExpiry = -1;

struct ScanOptions {
  // About how many keys to return per call (Redis's COUNT): a hint, not a limit.
  size_t count = 10;
  // Returns only keys matching this glob (Redis's MATCH: * ? [a-z] [^a] \x). Empty
  // matches everything. Borrowed for the call.
  std::string_view match;
  // Returns only keys of this type (Redis's TYPE); kNone returns every type.
  KeyType type = KeyType::kNone;
};

struct ScanPage {
  // Pass to the next Scan call; 0 when the iteration is complete.
  uint64_t cursor = 0;
  std::vector<std::string> keys;
};

// What an Update callback decided.
enum class UpdateAction : uint8_t {
  kWrite,  // store the replacement (keeping the key's deadline)
  kKeep,   // change nothing
};

struct StoreStats {
  uint64_t keys = 0;  // entries held, including expired ones not yet reclaimed
  uint64_t keys_with_expiry = 0;
  uint64_t hits = 0;         // reads that found a live key
  uint64_t misses = 0;       // reads that did not
  uint64_t expired = 0;      // keys deleted because their deadline passed
  uint64_t evicted = 0;      // keys deleted by the memory limit
  uint64_t memory_used = 0;  // bytes counted against max_memory
  uint64_t max_memory = 0;
  std::vector<uint64_t> stripe_keys;  // entries per stripe, to judge the spread
};

class Store {
 public:
  // Creates an empty Store and starts its expiry thread (unless
  // options.active_expiry_interval is zero). kInvalidArgument for inconsistent options.
  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options);

  // Stops the expiry thread and frees everything. No call may be running.
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // --- Writes ---

  // SET key value: stores the value and clears any deadline.
  Status Set(std::string_view key, std::string_view value);

  // SET key value [NX|XX] [GET] [EX|PX|EXAT|PXAT|KEEPTTL]. Returns whether the value
  // was written (false when the condition did not hold). kInvalidArgument for
  // Expiry::After with ttl <= 0. An Expiry::At already past deletes the key and counts
  // as written.
  Result<bool> Set(std::string_view key, std::string_view value, const SetOptions& options);

  // GETDEL: removes the key and returns its value; kNotFound if there was none.
  Result<std::string> GetDel(std::string_view key);

  // GETEX: returns the value and applies `expiry` (Keep: none; Clear: PERSIST; After or
  // At: a new deadline, deleting the key if it is not in the future). kNotFound if the
  // key is absent.
  Result<std::string> GetEx(std::string_view key, Expiry expiry);

  // DEL: returns whether a live key was removed.
  Result<bool> Del(std::string_view key);
  // DEL k1 k2 ...: returns how many live keys were removed (each key at most once).
  Result<size_t> Del(std::span<const std::string_view> keys);

  // INCRBY / DECRBY: adds `delta` to the integer the key holds (a missing key counts as
  // 0) and returns the result. The deadline is kept. kInvalidArgument, with the data
  // unchanged, when the value is not a base-10 int64 in Redis's strict form or the
  // result would overflow.
  Result<int64_t> IncrBy(std::string_view key, int64_t delta);

  // EXPIRE / PEXPIRE / EXPIREAT / PEXPIREAT [NX|XX|GT|LT]. `expiry` must be After or At
  // (kInvalidArgument otherwise). Returns true if the deadline was set, or if the key
  // was deleted because the deadline was not in the future; false if the key is absent
  // or the condition did not hold.
  Result<bool> Expire(std::string_view key, Expiry expiry,
                      ExpireCondition condition = ExpireCondition::kAlways);

  // PERSIST: removes the deadline. Returns true if the key had one.
  Result<bool> Persist(std::string_view key);

  // MSET: stores every pair atomically (all stripes involved are locked together);
  // deadlines are cleared. A key given twice takes its last value.
  Status MultiSet(std::span<const std::pair<std::string_view, std::string_view>> pairs);
  // MSETNX: stores every pair atomically only if none of the keys exists. Returns
  // whether it did.
  Result<bool> MultiSetIfAbsent(
      std::span<const std::pair<std::string_view, std::string_view>> pairs);

  // FLUSHALL: removes every key atomically.
  Status FlushAll();

  // Read-modify-write of one key, atomic with respect to every other call (APPEND,
  // SETRANGE, INCRBYFLOAT and the like). Calls
  //   Result<UpdateAction> updater(const std::string_view* current, std::string& replacement)
  // with the key's stripe locked: `current` is null when the key is absent (or expired),
  // `replacement` starts empty. On kWrite the replacement is stored, keeping the key's
  // deadline (none for a new key), and reported as a Set. An error from the updater is
  // returned with nothing changed. The updater may be called more than once (when the
  // memory limit needs eviction, which cannot run under the lock), so it must be a pure
  // function of `current`; it must not call into this Store.
  template <typename Updater>
  Result<UpdateAction> Update(std::string_view key, Updater&& updater);

  // RENAME / RENAMENX: moves the value and deadline of `source` to `destination`,
  // replacing what it held (or, with only_if_absent, doing nothing if it holds a live
  // value). Atomic: both stripes are locked together; reported as one batch (a Delete of
  // the source, a Set of the destination). Returns whether it moved. kNotFound if the
  // source does not exist. Renaming a key to itself succeeds and changes nothing.
  Result<bool> Rename(std::string_view source, std::string_view destination,
                      bool only_if_absent = false);

  // --- Reads (never fail except kNotFound) ---

  // GET: a copy of the value; kNotFound if absent or expired.
  Result<std::string> Get(std::string_view key) const;
  // GET into a caller-owned string, reusing its capacity: no allocation when the value
  // fits. kNotFound (bare, no allocation) if absent; `*value` is then unchanged.
  Status Get(std::string_view key, std::string* value) const;
  // GET without any copy: calls visitor(std::string_view value) with the stripe lock
  // held, if the key is live and holds a string, and returns whether it did (false for
  // a list, set, hash or sorted set: TypeOf tells them apart from a missing key). The
  // view is valid only during the call; the visitor must not call into this Store.
  template <typename Visitor>
  bool Read(std::string_view key, Visitor&& visitor) const;

  // EXISTS: whether the key is live.
  bool Exists(std::string_view key) const;
  // EXISTS k1 k2 ...: how many of the keys are live, counting repeats.
  size_t Exists(std::span<const std::string_view> keys) const;

  // MGET: one entry per key, nullopt for absent ones (or not strings). Atomic: every
  // key's stripe is locked for the whole read, so the values are those of one instant and
  // never half of a change of several keys (MSET, a transaction, a script, or a replicated
  // MULTI/EXEC on a replica). O(keys); holds up to that many stripe locks at once.
  std::vector<std::optional<std::string>> MultiGet(std::span<const std::string_view> keys) const;

  // GET and PEXPIRETIME in one atomic read: the value and the deadline (absolute Unix
  // ms, or kTtlNoExpiry) of the same moment, where Get then ExpireTime could see the key
  // expire or change in between. kNotFound if absent or expired. The second form fills
  // caller-owned storage (no allocation when the value fits; unchanged on kNotFound).
  struct TimedValue {
    std::string value;
    int64_t deadline_ms = kTtlNoExpiry;
  };
  Result<TimedValue> GetWithDeadline(std::string_view key) const;
  Status GetWithDeadline(std::string_view key, std::string* value, int64_t* deadline_ms) const;

  // PTTL: milliseconds until the deadline, kTtlNoExpiry or kTtlMissingKey.
  int64_t Ttl(std::string_view key) const;
  // PEXPIRETIME: the absolute deadline in Unix ms, kTtlNoExpiry or kTtlMissingKey.
  int64_t ExpireTime(std::string_view key) const;

  // SCAN cursor [MATCH pattern] [COUNT count]. Start with cursor 0; iteration is over
  // when the returned cursor is 0. Every key present for the whole iteration is
  // returned at least once, even while stripes resize and other threads write; a key
  // may be returned more than once, and keys added or removed meanwhile may or may
  // not be. An unknown cursor value is treated as a position (never an error).
  ScanPage Scan(uint64_t cursor, const ScanOptions& options = {}) const;

  // RANDOMKEY: some live key, chosen at random (roughly uniformly: a random stripe, then
  // a random bucket). kNotFound if the Store is empty.
  Result<std::string> RandomKey() const;

  // DBSIZE: entries held, including expired ones not yet reclaimed (as Redis counts).
  size_t size() const;
  StoreStats stats() const;

  // --- Maintenance ---

  // One pass of active expiry over every stripe: deletes keys whose deadline has
  // passed, at most StoreOptions::active_expiry_budget of them, and returns how many.
  // The background thread calls this; embedders that disabled it call it themselves.
  // Does nothing on a replica-mode Store.
  size_t ExpireDue();

  // CONFIG SET maxmemory / maxmemory-policy at run time. Lowering the limit evicts on
  // the next write, not immediately.
  void SetMaxMemory(size_t bytes);
  void SetEvictionPolicy(EvictionPolicy policy);

  // --- Replica mode (StoreOptions::replica) ---

  // Whether public writes are refused because the Store is (or was) a replica's.
  bool replica_mode() const;
  // Makes a replica-mode Store writable again. A Store stays in replica mode, with its
  // data, after its Replica is destroyed (or stopped following), so that nothing writes
  // to a copy by accident: the application decides. Writing to it starts a history of
  // its own; to serve replicas from that history, create a Primary afterwards (a Primary
  // on a replica-mode Store is refused). kFailedPrecondition while a Replica holds the
  // Store (replication.h: promote it with Replica::Promote instead). OK and nothing
  // changes when the Store is writable already. Thread-safe; O(1).
  Status LeaveReplicaMode();

  // Internal; for the engine and replication modules only.
  class Impl;
  Impl& impl() { return *impl_; }

 private:
  explicit Store(std::unique_ptr<Impl> impl);

  using ValueCallback = void (*)(void* context, std::string_view value);
  bool ReadWithCallback(std::string_view key, ValueCallback callback, void* context) const;
  using UpdateCallback = Result<UpdateAction> (*)(void* context, const std::string_view* current,
                                                  std::string& replacement);
  Result<UpdateAction> UpdateWithCallback(std::string_view key, UpdateCallback callback,
                                          void* context);

  std::unique_ptr<Impl> impl_;
};

template <typename Visitor>
bool Store::Read(std::string_view key, Visitor&& visitor) const {
  using V = std::remove_reference_t<Visitor>;
  return ReadWithCallback(
      key, [](void* context, std::string_view value) { (*static_cast<V*>(context))(value); },
      const_cast<void*>(static_cast<const void*>(std::addressof(visitor))));
}

template <typename Updater>
Result<UpdateAction> Store::Update(std::string_view key, Updater&& updater) {
  using U = std::remove_reference_t<Updater>;
  return UpdateWithCallback(
      key,
      [](void* context, const std::string_view* current, std::string& replacement) {
        return Result<UpdateAction>((*static_cast<U*>(context))(current, replacement));
      },
      const_cast<void*>(static_cast<const void*>(std::addressof(updater))));
}

}  // namespace mirrorkv
