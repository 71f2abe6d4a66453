// mirrorkv_engine_bench: the cost of single-key Store operations as the table grows from
// 1K to 10M keys, the evidence for the "O(1) per operation" claim (docs/benchmarks.md,
// plotted by bench/plot_scaling.py).
//
// Every benchmark picks keys uniformly at random from a pre-generated stream (fixed
// seed) over a table of N 16-byte keys holding 16-byte values, and leaves the table as
// it found it (overwrites write same-sized values, a delete is followed by its
// reinsert), so one table per size serves every benchmark and the 10M table is built
// once, not per benchmark. Sizes are registered in ascending order and only one size's
// tables are kept in memory at a time (so --benchmark_enable_random_interleaving, which
// alternates sizes, would rebuild them over and over).
//
//   mirrorkv_engine_bench                              # 1K, 100K, 1M
//   mirrorkv_engine_bench --mirrorkv_max_keys=10000000 # adds 10M (about 2 GB to build)
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "bench/run_queue_probe.h"
#include "bench/workload.h"
#include "mirrorkv/options.h"
#include "mirrorkv/status.h"
#include "mirrorkv/store.h"

namespace mirrorkv::bench {
namespace {

constexpr size_t kSizes[] = {1'000, 100'000, 1'000'000, 10'000'000};
constexpr uint64_t kSeed = 20240611;
// 1M indices (4 MB), walked in a loop: the keys one pass reaches span about 60 MB of
// entries at 1M keys and more, far beyond the caches, so repeating the pattern teaches
// the caches nothing; a power of two for the mask.
constexpr size_t kStreamLength = size_t{1} << 20;
constexpr size_t kStreamMask = kStreamLength - 1;
// Far enough ahead that no key expires during a run, so the TTL benchmarks measure the
// bookkeeping (wheel insert and move), not expiry.
constexpr auto kTtl = std::chrono::hours(1);

// 16-byte decimal integers ("1000000000000000" ...): values must parse as integers for
// BM_StoreIncr, which runs on the same table, and stay 16 bytes after increments.
class ValuePool {
 public:
  static constexpr size_t kCount = 1024;  // a power of two, indexed with a mask

  ValuePool() : bytes_(kCount * kValueBytes) {
    for (size_t i = 0; i < kCount; ++i) {
      char text[kValueBytes + 1];
      std::snprintf(text, sizeof(text), "%llu", 1'000'000'000'000'000ULL + i * 7919ULL);
      std::memcpy(&bytes_[i * kValueBytes], text, kValueBytes);
    }
  }
  std::string_view operator[](size_t i) const {
    return {&bytes_[(i & (kCount - 1)) * kValueBytes], kValueBytes};
  }

 private:
  std::vector<char> bytes_;
};

const ValuePool& Values() {
  static const ValuePool* const pool = new ValuePool();
  return *pool;
}

enum class Deadlines { kNone, kAll };

// The tables of one size: present keys, absent keys for misses, the random index stream,
// and two Stores built on first use: one without deadlines and one where every key has
// a deadline (for the benchmarks that rewrite deadlines, so that they keep the
// no-deadline table free of deadlines).
struct SizedTables {
  explicit SizedTables(size_t keys)
      : present(keys, "key:"),
        absent(keys, "mis:"),
        stream(UniformIndices(kStreamLength, keys, kSeed)) {}

  KeySet present;
  KeySet absent;
  std::vector<uint32_t> stream;
  std::unique_ptr<Store> plain;
  std::unique_ptr<Store> with_ttl;
};

// The static cache that stands in for a per-size fixture: Google Benchmark calls a
// benchmark function several times (and from every thread) while it sizes the run, and
// rebuilding a 10M table each time would dominate the wall time.
class TableCache {
 public:
  // Returns the tables of `keys` keys with the Store for `deadlines` built. Thread-safe;
  // frees the tables of any other size first, so memory holds one size at a time.
  static SizedTables& Get(size_t keys, Deadlines deadlines) {
    static std::mutex mu;
    // Never destroyed: exit does not wait for the last size's millions of frees.
    static auto* const current = new std::unique_ptr<SizedTables>();
    std::lock_guard<std::mutex> lock(mu);
    if (*current == nullptr || (*current)->present.size() != keys) {
      current->reset();
      *current = std::make_unique<SizedTables>(keys);
    }
    SizedTables& tables = **current;
    std::unique_ptr<Store>& store = deadlines == Deadlines::kAll ? tables.with_ttl : tables.plain;
    if (store == nullptr) store = Build(tables.present, deadlines);
    return tables;
  }

 private:
  static std::unique_ptr<Store> Build(const KeySet& keys, Deadlines deadlines) {
    // Default options: 64 stripes, active expiry thread on, no listener, no limit.
    Result<std::unique_ptr<Store>> store = Store::Open(StoreOptions{});
    if (!store.ok()) Die("Store::Open", store.status());
    const SetOptions options{.expiry = deadlines == Deadlines::kAll ? Expiry::After(kTtl)
                                                                    : Expiry::Clear()};
    for (size_t i = 0; i < keys.size(); ++i) {
      Result<bool> written = (*store)->Set(keys[i], Values()[i], options);
      if (!written.ok()) Die("Store::Set while loading", written.status());
    }
    return std::move(store).value();
  }

  [[noreturn]] static void Die(const char* what, const Status& status) {
    std::fprintf(stderr, "%s: %s\n", what, status.ToString().c_str());
    std::exit(1);
  }
};

// Runs op(index, position) once per iteration, where `index` is the next key index of
// the random stream (each thread starts at its own offset) and `position` advances by
// one per call (to pick values). `op` returns false on an outcome the benchmark does not
// expect (a miss in a hit benchmark, an error), which fails the run instead of quietly
// timing the wrong path.
template <typename Op>
void RunStream(benchmark::State& state, const SizedTables& tables, size_t bytes_per_op, Op op) {
  const uint32_t* const stream = tables.stream.data();
  size_t position = kStreamLength / static_cast<size_t>(state.threads()) *
                    static_cast<size_t>(state.thread_index());
  uint64_t failures = 0;
  const RunQueueProbe run_queue;
  for (auto _ : state) {
    const uint32_t index = stream[position & kStreamMask];
    failures += op(index, position) ? 0 : 1;
    ++position;
  }
  run_queue.Report(state);
  if (failures != 0) state.SkipWithError("an operation had an unexpected outcome");
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes_per_op));
}

size_t Keys(const benchmark::State& state) { return static_cast<size_t>(state.range(0)); }

// GET of a present key through the caller-owned buffer form: no allocation once `value`
// has grown to 16 bytes.
void BM_StoreGetHit(benchmark::State& state) {
  const SizedTables& tables = TableCache::Get(Keys(state), Deadlines::kNone);
  std::string value;
  RunStream(state, tables, kKeyBytes + kValueBytes, [&](uint32_t index, size_t) {
    const bool hit = tables.plain->Get(tables.present[index], &value).ok();
    benchmark::DoNotOptimize(value.data());
    return hit;
  });
}

void BM_StoreGetMiss(benchmark::State& state) {
  const SizedTables& tables = TableCache::Get(Keys(state), Deadlines::kNone);
  std::string value;
  RunStream(state, tables, kKeyBytes, [&](uint32_t index, size_t) {
    return tables.plain->Get(tables.absent[index], &value).IsNotFound();
  });
}

void BM_StoreSetOverwrite(benchmark::State& state) {
  const SizedTables& tables = TableCache::Get(Keys(state), Deadlines::kNone);
  RunStream(state, tables, kKeyBytes + kValueBytes, [&](uint32_t index, size_t position) {
    return tables.plain->Set(tables.present[index], Values()[position]).ok();
  });
}

// SET k v PX 3600000 over keys that already have a deadline: the value write plus moving
// the key in the TTL wheel.
void BM_StoreSetWithTtl(benchmark::State& state) {
  const SizedTables& tables = TableCache::Get(Keys(state), Deadlines::kAll);
  const SetOptions options{.expiry = Expiry::After(kTtl)};
  RunStream(state, tables, kKeyBytes + kValueBytes, [&](uint32_t index, size_t position) {
    const Result<bool> written =
        tables.with_ttl->Set(tables.present[index], Values()[position], options);
    return written.ok() && *written;
  });
}

void BM_StoreIncr(benchmark::State& state) {
  const SizedTables& tables = TableCache::Get(Keys(state), Deadlines::kNone);
  RunStream(state, tables, kKeyBytes + kValueBytes, [&](uint32_t index, size_t) {
    return tables.plain->IncrBy(tables.present[index], 1).ok();
  });
}

// One item is a DEL of a present key and the SET that puts it back, so the table keeps
// its size; compare with BM_StoreSetOverwrite to isolate the delete and the insert.
void BM_StoreDel(benchmark::State& state) {
  const SizedTables& tables = TableCache::Get(Keys(state), Deadlines::kNone);
  RunStream(state, tables, kKeyBytes + kValueBytes, [&](uint32_t index, size_t position) {
    const std::string_view key = tables.present[index];
    const Result<bool> deleted = tables.plain->Del(key);
    return deleted.ok() && *deleted && tables.plain->Set(key, Values()[position]).ok();
  });
}

// PEXPIRE k 3600000 over keys that already have a deadline: the wheel move alone.
void BM_StoreExpire(benchmark::State& state) {
  const SizedTables& tables = TableCache::Get(Keys(state), Deadlines::kAll);
  RunStream(state, tables, kKeyBytes, [&](uint32_t index, size_t) {
    const Result<bool> applied =
        tables.with_ttl->Expire(tables.present[index], Expiry::After(kTtl));
    return applied.ok() && *applied;
  });
}

struct Family {
  const char* name;
  void (*function)(benchmark::State&);
  bool threaded;  // also run with two threads
};

constexpr Family kFamilies[] = {
    {"BM_StoreGetHit", BM_StoreGetHit, true},
    {"BM_StoreGetMiss", BM_StoreGetMiss, false},
    {"BM_StoreSetOverwrite", BM_StoreSetOverwrite, true},
    {"BM_StoreSetWithTtl", BM_StoreSetWithTtl, false},
    {"BM_StoreIncr", BM_StoreIncr, false},
    {"BM_StoreDel", BM_StoreDel, false},
    {"BM_StoreExpire", BM_StoreExpire, false},
};

// Size is the outer loop so that the runs of one size are consecutive and TableCache
// builds each size once. Real time, because items/s of a threaded run must count wall
// time, not the sum of the threads' CPU times.
void RegisterAll(size_t max_keys) {
  for (const size_t keys : kSizes) {
    if (keys > max_keys) continue;
    for (const Family& family : kFamilies) {
      benchmark::internal::Benchmark* bench =
          benchmark::RegisterBenchmark(family.name, family.function);
      bench->ArgName("keys")->Arg(static_cast<int64_t>(keys))->UseRealTime();
      if (family.threaded) bench->ThreadRange(1, 2);
    }
  }
}

}  // namespace
}  // namespace mirrorkv::bench

int main(int argc, char** argv) {
  const size_t max_keys =
      mirrorkv::bench::TakeSizeFlag("mirrorkv_max_keys", 1'000'000, &argc, argv);
  mirrorkv::bench::RegisterAll(max_keys);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
