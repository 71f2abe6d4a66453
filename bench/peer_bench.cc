// mirrorkv_peer_bench: mirrorkv::Store against the concurrent maps an embedder would
// otherwise reach for, on one cache-like workload: 90% GET / 10% SET of uniformly random
// present keys, 16-byte keys and values, 100K and 1M keys, 1 and 2 threads.
// bench/run_peers.py runs it with repetitions and prints medians and ratios.
//
// Fairness rules every contender follows:
// - the same pre-generated operation stream (fixed seed) and the same preloaded keys;
// - a GET copies the value into a caller-owned std::string reused across calls, and a
//   SET of a present key overwrites the value in place: no allocation in steady state
//   for any contender (mirrorkv's Get(key, &buf), the peers' find + assign);
// - lookups take the 16-byte key as a std::string_view through a transparent hash, so
//   no peer builds a temporary std::string per lookup; each peer keeps its own default
//   hash function (std::hash for the std, TBB and libcuckoo maps, absl::Hash for absl);
// - each container is built outside the timed region and reused for 1 and 2 threads
//   and for every repetition.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/synchronization/mutex.h"
#include "bench/run_queue_probe.h"
#include "bench/workload.h"
#include "libcuckoo/cuckoohash_map.hh"
#include "mirrorkv/options.h"
#include "mirrorkv/status.h"
#include "mirrorkv/store.h"
#include "tbb/concurrent_hash_map.h"

namespace mirrorkv::bench {
namespace {

constexpr uint64_t kSeed = 20240611;
// 4M operations: several passes over a 1M-key table without repeating a short pattern
// that the caches could learn; a power of two for the mask.
constexpr size_t kOpsLength = size_t{1} << 22;
constexpr size_t kOpsMask = kOpsLength - 1;
constexpr uint32_t kSetPercent = 10;
constexpr size_t kValueCount = 1024;  // distinct values written by SETs; a power of two

// The keys, the values and the operation stream of one table size, shared by every
// contender. An operation is (key index << 1) | is_set.
struct Workload {
  explicit Workload(size_t key_count) : keys(key_count, "key:"), values(kValueCount, "val:") {
    const std::vector<uint32_t> indices = UniformIndices(kOpsLength, key_count, kSeed);
    const std::vector<uint32_t> dice = UniformIndices(kOpsLength, 100, kSeed + 1);
    ops.resize(kOpsLength);
    for (size_t i = 0; i < kOpsLength; ++i) {
      ops[i] = indices[i] << 1 | (dice[i] < kSetPercent ? 1u : 0u);
    }
  }

  KeySet keys;
  KeySet values;  // 16-byte values, "val:000000000042"
  std::vector<uint32_t> ops;
};

const Workload& WorkloadFor(size_t key_count) {
  static std::mutex mu;
  static auto* const workloads = new std::map<size_t, std::unique_ptr<Workload>>();
  std::lock_guard<std::mutex> lock(mu);
  std::unique_ptr<Workload>& workload = (*workloads)[key_count];
  if (workload == nullptr) workload = std::make_unique<Workload>(key_count);
  return *workload;
}

// A transparent hash over std::string_view, used with std::equal_to<> by the maps keyed
// by std::string (absl::string_view is not std::string_view in Debian's absl, so absl's
// own heterogeneous lookup does not apply). `Hash` is the contender's default hash.
template <typename Hash>
struct TransparentHash {
  using is_transparent = void;
  size_t operator()(std::string_view key) const { return Hash()(key); }
};
using StdHash = TransparentHash<std::hash<std::string_view>>;
using AbslHash = TransparentHash<absl::Hash<std::string_view>>;

// Get and Set on a map of std::string with heterogeneous lookup, for the contenders
// that wrap one (under a lock or not).
template <typename Map>
bool MapGet(const Map& map, std::string_view key, std::string* value) {
  const auto it = map.find(key);
  if (it == map.end()) return false;
  value->assign(it->second);
  return true;
}

template <typename Map>
void MapSet(Map& map, std::string_view key, std::string_view value) {
  const auto it = map.find(key);
  if (it != map.end()) {
    it->second.assign(value);
  } else {
    map.emplace(std::string(key), std::string(value));
  }
}

// --- Contenders. Each offers Get and Set; ContainerFor fills it with every key. ---

class MirrorkvContender {
 public:
  MirrorkvContender() {
    // Default options: 64 stripes, active expiry thread on, no listener.
    Result<std::unique_ptr<Store>> store = Store::Open(StoreOptions{});
    if (!store.ok()) Die(store.status());
    store_ = std::move(store).value();
  }
  bool Get(std::string_view key, std::string* value) { return store_->Get(key, value).ok(); }
  void Set(std::string_view key, std::string_view value) {
    const Status status = store_->Set(key, value);
    if (!status.ok()) Die(status);
  }

 private:
  [[noreturn]] static void Die(const Status& status) {
    std::fprintf(stderr, "mirrorkv: %s\n", status.ToString().c_str());
    std::exit(1);
  }

  std::unique_ptr<Store> store_;
};

class LibcuckooContender {
 public:
  bool Get(std::string_view key, std::string* value) {
    return map_.find_fn(key, [value](const std::string& found) { value->assign(found); });
  }
  void Set(std::string_view key, std::string_view value) {
    if (!map_.update_fn(key, [value](std::string& found) { found.assign(value); })) {
      map_.insert(std::string(key), std::string(value));
    }
  }

 private:
  libcuckoo::cuckoohash_map<std::string, std::string, StdHash, std::equal_to<>> map_;
};

class TbbContender {
 public:
  bool Get(std::string_view key, std::string* value) {
    Map::const_accessor found;
    if (!map_.find(found, key)) return false;
    value->assign(found->second);
    return true;
  }
  void Set(std::string_view key, std::string_view value) {
    Map::accessor found;
    if (!map_.find(found, key)) map_.insert(found, std::string(key));
    found->second.assign(value);
  }

 private:
  // TBB's HashCompare bundles hash and equality; is_transparent enables find(string_view).
  struct HashCompare {
    using is_transparent = void;
    size_t hash(std::string_view key) const { return std::hash<std::string_view>()(key); }
    bool equal(std::string_view a, std::string_view b) const { return a == b; }
  };
  using Map = tbb::concurrent_hash_map<std::string, std::string, HashCompare>;
  Map map_;
};

// absl::flat_hash_map behind one absl::Mutex; readers share it.
class AbslMutexContender {
 public:
  bool Get(std::string_view key, std::string* value) {
    absl::ReaderMutexLock lock(&mu_);
    return MapGet(map_, key, value);
  }
  void Set(std::string_view key, std::string_view value) {
    absl::MutexLock lock(&mu_);
    MapSet(map_, key, value);
  }

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::string, AbslHash, std::equal_to<>> map_
      ABSL_GUARDED_BY(mu_);
};

// std::unordered_map behind one std::mutex, as the simplest embedding would do it.
class StdMutexContender {
 public:
  bool Get(std::string_view key, std::string* value) {
    std::lock_guard<std::mutex> lock(mu_);
    return MapGet(map_, key, value);
  }
  void Set(std::string_view key, std::string_view value) {
    std::lock_guard<std::mutex> lock(mu_);
    MapSet(map_, key, value);
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::string, StdHash, std::equal_to<>> map_;
};

// absl::flat_hash_map with no lock at all: the single-thread ceiling. Not thread-safe,
// registered for one thread only.
class AbslNoLockContender {
 public:
  bool Get(std::string_view key, std::string* value) { return MapGet(map_, key, value); }
  void Set(std::string_view key, std::string_view value) { MapSet(map_, key, value); }

 private:
  absl::flat_hash_map<std::string, std::string, AbslHash, std::equal_to<>> map_;
};

// The container of each (contender, size), built on first use and kept for the whole
// process: Google Benchmark calls a benchmark function several times, from every thread,
// while it sizes a run, and with --benchmark_enable_random_interleaving (which
// run_peers.py uses, so that every contender sees the same phases of a noisy machine)
// the runs of different contenders alternate. All of them fit in memory together
// (about 1 GB at 1M keys). Never destroyed, so exit does not wait for 1M frees.
template <typename Contender>
Contender& ContainerFor(size_t key_count) {
  static std::mutex mu;
  static auto* const containers = new std::map<size_t, std::unique_ptr<Contender>>();
  std::lock_guard<std::mutex> lock(mu);
  std::unique_ptr<Contender>& container = (*containers)[key_count];
  if (container == nullptr) {
    container = std::make_unique<Contender>();
    const Workload& workload = WorkloadFor(key_count);
    for (size_t i = 0; i < workload.keys.size(); ++i) {
      container->Set(workload.keys[i], workload.values[i % kValueCount]);
    }
  }
  return *container;
}

template <typename Contender>
void BM_Peer(benchmark::State& state) {
  const size_t key_count = static_cast<size_t>(state.range(0));
  const Workload& workload = WorkloadFor(key_count);
  Contender& contender = ContainerFor<Contender>(key_count);
  const uint32_t* const ops = workload.ops.data();
  size_t position =
      kOpsLength / static_cast<size_t>(state.threads()) * static_cast<size_t>(state.thread_index());
  std::string value;
  uint64_t misses = 0;
  const RunQueueProbe run_queue;
  for (auto _ : state) {
    const uint32_t op = ops[position & kOpsMask];
    const std::string_view key = workload.keys[op >> 1];
    if (op & 1) {
      contender.Set(key, workload.values[position & (kValueCount - 1)]);
    } else {
      misses += contender.Get(key, &value) ? 0 : 1;
      benchmark::DoNotOptimize(value.data());
    }
    ++position;
  }
  run_queue.Report(state);
  // Every key is present: a miss means the contender is broken, not slow.
  if (misses != 0) state.SkipWithError("a GET of a present key missed");
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(kKeyBytes + kValueBytes));
}

// Real time: items/s of a two-thread run must count wall time, not summed CPU time.
void Register(const char* name, void (*function)(benchmark::State&), int max_threads) {
  benchmark::RegisterBenchmark(name, function)
      ->ArgName("keys")
      ->Arg(100'000)
      ->Arg(1'000'000)
      ->ThreadRange(1, max_threads)
      ->UseRealTime();
}

void RegisterAll() {
  Register("BM_PeerMirrorkv", BM_Peer<MirrorkvContender>, 2);
  Register("BM_PeerLibcuckoo", BM_Peer<LibcuckooContender>, 2);
  Register("BM_PeerTbb", BM_Peer<TbbContender>, 2);
  Register("BM_PeerAbslMutex", BM_Peer<AbslMutexContender>, 2);
  Register("BM_PeerStdMutex", BM_Peer<StdMutexContender>, 2);
  Register("BM_PeerAbslNoLock", BM_Peer<AbslNoLockContender>, 1);
}

}  // namespace
}  // namespace mirrorkv::bench

int main(int argc, char** argv) {
  mirrorkv::bench::RegisterAll();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
