// StoreOptions: how a Store is configured. Plain struct; every field has a default.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mirrorkv/status.h"

namespace mirrorkv {

class Clock;
class MutationListener;

// What a Store does when a write would take memory past StoreOptions::max_memory.
// The names follow Redis's maxmemory-policy values (see ParseEvictionPolicy).
enum class EvictionPolicy : uint8_t {
  // Refuse the write with kResourceExhausted; reads and deletes still work.
  kNoEviction,
  // Evict the least recently used key, approximated by sampling a few keys.
  kAllKeysLru,
  // The same among keys that have a deadline; refuses writes when none has one.
  kVolatileLru,
  // Evict a random key.
  kAllKeysRandom,
  // Evict, among sampled keys with a deadline, the one that expires soonest.
  kVolatileTtl,
  // SIEVE (Zhang et al., NSDI '24): a FIFO queue with a "visited" bit and a moving
  // hand; keeps popular keys without moving them on every hit.
  kAllKeysSieve,
};

// "noeviction", "allkeys-lru", "volatile-lru", "allkeys-random", "volatile-ttl",
// "allkeys-sieve". Case-insensitive. kInvalidArgument for anything else.
Result<EvictionPolicy> ParseEvictionPolicy(std::string_view name);
// The inverse of ParseEvictionPolicy, lower case.
std::string_view EvictionPolicyName(EvictionPolicy policy);

struct StoreOptions {
  // Number of lock stripes, rounded up to a power of two in [1, 65536]. Each stripe has
  // its own lock, buckets, TTL wheel and resizes on its own. More stripes mean less
  // contention between threads and smaller resize pauses, at ~100 bytes each.
  size_t stripe_count = 64;

  // Upper bound on memory used by entries, buckets and TTL bookkeeping, in bytes
  // (as reported by StoreStats::memory_used). 0 means no limit. Concurrent writers can
  // overshoot the limit by at most one entry each before eviction catches up.
  size_t max_memory = 0;
  EvictionPolicy eviction_policy = EvictionPolicy::kNoEviction;
  // Keys examined per eviction by the sampling policies (Redis's maxmemory-samples).
  // Larger is closer to exact LRU and slower.
  uint32_t eviction_samples = 5;

  // Limits on sizes, checked on every write: kInvalidArgument beyond them. The
  // defaults are Redis's 512 MB bulk limit.
  size_t max_key_bytes = 512u << 20;
  size_t max_value_bytes = 512u << 20;

  // How often the Store's background thread expires keys whose deadline passed, and how
  // many keys one pass over all stripes may expire: the bound on the work one pass does
  // while holding locks. Keys past their deadline read as missing either way (lazy
  // expiry); this only decides when their memory is reclaimed. A zero interval starts no
  // thread: the embedder calls Store::ExpireDue() from its own loop, or relies on
  // lazy expiry alone.
  std::chrono::milliseconds active_expiry_interval{10};
  size_t active_expiry_budget = 20'000;

  // Replica mode: the Store accepts changes only through the replication apply path;
  // every public write returns kFailedPrecondition. Keys past their deadline read as
  // missing but are not deleted (the primary's delete will arrive), and nothing is
  // evicted. Replication flips this on promotion.
  bool replica = false;

  // The time source. Borrowed; must outlive the Store. Null means SystemClock::Default().
  const Clock* clock = nullptr;

  // Receives every effective mutation (see mutation.h). Borrowed; must outlive the
  // Store. Null means none.
  MutationListener* listener = nullptr;
};

}  // namespace mirrorkv
