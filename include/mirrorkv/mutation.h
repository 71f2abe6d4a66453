// Mutation: one effective change to a Store, reported to a MutationListener.
//
// A Store reports every change that took effect, and only those, as an idempotent
// *effect*: applying the same sequence of mutations to a copy of the data yields the
// same data, whatever state the copy started in for the keys involved. So an INCR is
// reported as the Set of its result (with the key's absolute deadline), a relative TTL
// as an absolute deadline, and an expiry or eviction as a Delete. This is the form the
// replication log records (see docs/command_log_format.md) and the form an embedder's
// listener sees (to invalidate a near cache, audit, count evictions ...).
//
// A change to a list, set, hash or sorted set is a kCollection mutation carrying the
// effect as a Redis command (RPUSH k v, LPOP k 2, SREM k m, HSET k f v, ZADD k 2.5 m
// ...): increments are reported as their results (HINCRBY as HSET, ZINCRBY as ZADD) and
// random choices as what they chose (SPOP as SREM), so applying the effect to a copy
// that holds the same collection yields the same collection. List effects (pushes and
// pops) are not idempotent: docs/design.md explains how a replica loading a snapshot
// taken while writes went on applies each exactly once. An effect that empties a
// collection is reported as a kDelete of the key instead.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace mirrorkv {

enum class MutationKind : uint8_t {
  kSet,         // key now holds value, with deadline expire_at_ms (0: no expiry)
  kDelete,      // key no longer exists
  kExpireAt,    // key's deadline is now expire_at_ms (value unchanged)
  kPersist,     // key's deadline was removed (value unchanged)
  kFlushAll,    // every key was removed; key and value are empty
  kCollection,  // the collection at key changed as `effect` says
};

// Why the change happened.
enum class MutationCause : uint8_t {
  kWrite,    // a write call on this Store (or, on a replica, the primary's stream)
  kExpired,  // the key's deadline passed (lazy or active expiry); kind is kDelete
  kEvicted,  // the memory limit evicted the key; kind is kDelete
};

// The views point into the Store's memory and are valid only during the listener call.
struct Mutation {
  MutationKind kind = MutationKind::kSet;
  MutationCause cause = MutationCause::kWrite;
  std::string_view key;
  std::string_view value;    // kSet only
  int64_t expire_at_ms = 0;  // kSet and kExpireAt: absolute Unix ms; 0 means none
  // kCollection only: the effect command, name first and key second.
  std::span<const std::string_view> effect = {};
};

// Receives a Store's mutations. A Store calls OnMutations with the locks of the keys
// involved held, so for any one key the calls arrive in the order the changes took
// effect, and a multi-key change (MultiSet, FlushAll) arrives as one batch at one point
// in that order. Consequently an implementation must be fast, must not block for long,
// and must not call back into the Store (that would deadlock). It may be called from
// any thread, concurrently for different keys: implementations must be thread-safe.
class MutationListener {
 public:
  virtual ~MutationListener() = default;
  virtual void OnMutations(std::span<const Mutation> batch) = 0;
};

}  // namespace mirrorkv
