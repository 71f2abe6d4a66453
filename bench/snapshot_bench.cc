// mirrorkv_snapshot_bench: saving a store to a snapshot file and loading it back, at 1M
// and 2M keys of 16 bytes with 100-byte values; and a save while a writer keeps
// overwriting keys, for the writer's longest stall and the peak memory against the
// store's steady state. bench/snapshot_vs_redis.py runs the same data set through
// redis-server's SAVE and restart and prints the ratios (docs/benchmarks.md).
//
// Keys are "key:000000001234" (bench/workload.h). Values are 100 bytes of one of two
// kinds, chosen with --mirrorkv_values:
//   session  (default) a session record: {"user":<8 digits>,"since":<10 digits>,
//            "role":"reader","token":"<base64 of a 64-bit hash, repeated to fill>"}; the
//            field names repeat across values, the numbers and the token do not.
//   random   100 base64 characters from a 64-bit hash stream: nothing repeats across
//            values, so no compressor gains much (6 bits of entropy per byte).
//
// Counters: file_MB (snapshot size), rss_MB (process RSS before the timed region),
// peak_rss_MB (VmHWM during it; reset through /proc/self/clear_refs), and for saves the
// longest stripe-lock hold of the writer (lock_hold_us).
//
//   mirrorkv_snapshot_bench                                   # 1M and 2M keys
//   mirrorkv_snapshot_bench --mirrorkv_max_keys=1000000 --mirrorkv_values=random
//   mirrorkv_snapshot_bench --mirrorkv_dir=/var/tmp           # where snapshot files go
//   mirrorkv_snapshot_bench --mirrorkv_dump_resp=data.resp --mirrorkv_keys=1000000
//       # writes the data set as RESP SET commands (for redis-cli --pipe) and exits
//   mirrorkv_snapshot_bench --mirrorkv_write_file=dump.mkv --mirrorkv_keys=1000000
//       # builds the store, saves it to dump.mkv and exits
//   mirrorkv_snapshot_bench --mirrorkv_restart=dump.mkv
//       # a restart: opens a store from dump.mkv in this fresh process, prints
//       # "load_s=<seconds> keys=<n> peak_rss_bytes=<n>" and exits without freeing it
//
// BM_SnapshotLoadFile loads repeatedly in one process, into memory that earlier
// iterations freed; a restart loads into a fresh process, as redis-server does when it
// restarts, and is the figure bench/snapshot_vs_redis.py compares.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench/workload.h"
#include "mirrorkv/snapshot.h"
#include "mirrorkv/store.h"

namespace mirrorkv::bench {
namespace {

constexpr size_t kSnapshotValueBytes = 100;
constexpr size_t kSizes[] = {1'000'000, 2'000'000};

std::string g_dir;
bool g_random_values = false;

// SplitMix64: a fixed, portable hash stream, so that the values are the same in every
// run and in the RESP dump.
uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9;
  x = (x ^ (x >> 27)) * 0x94d049bb133111eb;
  return x ^ (x >> 31);
}

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Fills out[0..n) with base64 characters drawn from the hash stream of `seed`.
void FillBase64(uint64_t seed, char* out, size_t n) {
  uint64_t word = 0;
  int left = 0;
  for (size_t i = 0; i < n; ++i) {
    if (left == 0) {
      word = SplitMix64(seed++);
      left = 10;
    }
    out[i] = kBase64[word & 63];
    word >>= 6;
    --left;
  }
}

// The value of key `index` (see the top of the file); `version` varies it for
// overwrites.
void FormatValue(uint64_t index, uint64_t version, char* out) {
  const uint64_t seed = SplitMix64(index * 1'000'003 + version);
  if (g_random_values) {
    FillBase64(seed, out, kSnapshotValueBytes);
    return;
  }
  char head[80];
  const int n = std::snprintf(head, sizeof(head),
                              "{\"user\":%08llu,\"since\":%010llu,"
                              "\"role\":\"reader\",\"token\":\"",
                              static_cast<unsigned long long>(index % 100'000'000),
                              static_cast<unsigned long long>(1'700'000'000 + seed % 10'000'000));
  std::memcpy(out, head, static_cast<size_t>(n));
  FillBase64(seed, out + n, kSnapshotValueBytes - static_cast<size_t>(n) - 2);
  std::memcpy(out + kSnapshotValueBytes - 2, "\"}", 2);
}

uint64_t ProcStatusBytes(const char* field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  const size_t len = std::strlen(field);
  while (std::getline(status, line)) {
    if (line.compare(0, len, field) == 0)
      return std::strtoull(line.c_str() + len, nullptr, 10) * 1024;
  }
  return 0;
}
uint64_t RssBytes() { return ProcStatusBytes("VmRSS:"); }
uint64_t PeakRssBytes() { return ProcStatusBytes("VmHWM:"); }
// Resets VmHWM to the current RSS (Linux >= 4.0).
void ResetPeakRss() { std::ofstream("/proc/self/clear_refs") << "5"; }

std::unique_ptr<Store> BuildStore(size_t keys) {
  auto store = Store::Open(StoreOptions{});
  if (!store.ok()) std::abort();
  char key[kKeyBytes];
  char value[kSnapshotValueBytes];
  for (size_t i = 0; i < keys; ++i) {
    FormatKey("key:", i, key);
    FormatValue(i, 0, value);
    if (!(*store)->Set({key, kKeyBytes}, {value, kSnapshotValueBytes}).ok()) std::abort();
  }
  return std::move(store).value();
}

// One store per size, built on first use; dropped before the load benchmarks so that
// their memory figures show the loaded store alone.
std::map<size_t, std::unique_ptr<Store>>& Stores() {
  static auto* stores = new std::map<size_t, std::unique_ptr<Store>>();
  return *stores;
}
Store& StoreFor(size_t keys) {
  auto& slot = Stores()[keys];
  if (slot == nullptr) slot = BuildStore(keys);
  return *slot;
}

std::string PathFor(size_t keys) {
  return g_dir + "/mirrorkv_bench_" + std::to_string(keys) + ".mkv";
}

void SetMemoryCounters(benchmark::State& state, uint64_t rss_before, uint64_t peak) {
  state.counters["rss_MB"] = static_cast<double>(rss_before) / 1e6;
  state.counters["peak_rss_MB"] = static_cast<double>(peak) / 1e6;
}

// SAVE: the whole atomic file save (write, fdatasync, rename, directory fsync).
void BM_SnapshotSaveFile(benchmark::State& state) {
  const size_t keys = static_cast<size_t>(state.range(0));
  Store& store = StoreFor(keys);
  const std::string path = PathFor(keys);
  uint64_t bytes = 0;
  std::chrono::nanoseconds hold{0};
  const uint64_t rss_before = RssBytes();
  ResetPeakRss();
  for (auto _ : state) {
    Result<SnapshotInfo> info = SaveSnapshotFile(store, path, {});
    if (!info.ok()) {
      state.SkipWithError(info.status().ToString().c_str());
      return;
    }
    bytes = info->bytes;
    hold = std::max(hold, info->longest_lock_hold);
  }
  SetMemoryCounters(state, rss_before, PeakRssBytes());
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * keys));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.counters["file_MB"] = static_cast<double>(bytes) / 1e6;
  state.counters["lock_hold_us"] = static_cast<double>(hold.count()) / 1e3;
}

// Restart: open a store from the file (read, verify, decompress, insert, publish).
void BM_SnapshotLoadFile(benchmark::State& state) {
  const size_t keys = static_cast<size_t>(state.range(0));
  const std::string path = PathFor(keys);
  if (!std::filesystem::exists(path)) {
    if (!SaveSnapshotFile(StoreFor(keys), path, {}).ok()) std::abort();
  }
  Stores().clear();
  const uint64_t bytes = std::filesystem::file_size(path);
  const uint64_t rss_before = RssBytes();
  uint64_t peak = 0;
  uint64_t loaded_rss = 0;
  for (auto _ : state) {
    ResetPeakRss();
    Result<std::unique_ptr<Store>> store = OpenStoreFromSnapshot(path, StoreOptions{});
    state.PauseTiming();
    if (!store.ok() || (*store)->size() != keys) {
      state.SkipWithError(store.ok() ? "wrong key count" : store.status().ToString().c_str());
      return;
    }
    peak = std::max(peak, PeakRssBytes());
    loaded_rss = RssBytes();
    store->reset();
    state.ResumeTiming();
  }
  SetMemoryCounters(state, rss_before, peak);
  state.counters["loaded_rss_MB"] = static_cast<double>(loaded_rss) / 1e6;
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * keys));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.counters["file_MB"] = static_cast<double>(bytes) / 1e6;
}

// The q-quantile of `ns`, in microseconds (sorts `ns`).
double QuantileUs(std::vector<int64_t>& ns, double q) {
  if (ns.empty()) return 0;
  const size_t k = std::min(ns.size() - 1, static_cast<size_t>(q * static_cast<double>(ns.size())));
  std::nth_element(ns.begin(), ns.begin() + static_cast<std::ptrdiff_t>(k), ns.end());
  return static_cast<double>(ns[k]) / 1e3;
}

// A save while one thread overwrites random keys with same-sized values as fast as it
// can (the store's size stays steady). Reports the writer's Set latency (p99, p99.9,
// max) during an equally long window before the save (..._before_us) and during it
// (..._during_us), its throughput in both, and the peak RSS during the save against the
// steady RSS just before it (peak_over_steady). On a shared machine the maximum includes
// preemptions of either thread; the quantiles show what a writer usually sees.
void BM_SnapshotSaveUnderWrites(benchmark::State& state) {
  const size_t keys = static_cast<size_t>(state.range(0));
  Store& store = StoreFor(keys);
  const std::string path = PathFor(keys) + ".busy";
  std::atomic<int> phase{0};  // 0 warm-up, 1 before, 2 during, 3 stop
  // Written by the writer thread only, read after join().
  std::vector<int64_t> latencies[3];
  for (auto& v : latencies) v.reserve(8 << 20);
  std::thread writer([&] {
    std::mt19937_64 rng(7);
    char key[kKeyBytes];
    char value[kSnapshotValueBytes];
    uint64_t version = 1;
    int p;
    // Relaxed: the phase only labels measurements; join() publishes the results.
    while ((p = phase.load(std::memory_order_relaxed)) != 3) {
      const uint64_t index = rng() % keys;
      FormatKey("key:", index, key);
      FormatValue(index, version++, value);
      const auto start = std::chrono::steady_clock::now();
      (void)store.Set({key, kKeyBytes}, {value, kSnapshotValueBytes});
      latencies[p].push_back((std::chrono::steady_clock::now() - start).count());
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  for (auto _ : state) {
    state.PauseTiming();
    const auto before_start = std::chrono::steady_clock::now();
    phase = 1;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const uint64_t steady_rss = RssBytes();
    ResetPeakRss();
    const auto before_elapsed = std::chrono::steady_clock::now() - before_start;
    phase = 2;
    state.ResumeTiming();
    const auto save_start = std::chrono::steady_clock::now();
    Result<SnapshotInfo> info = SaveSnapshotFile(store, path, {});
    const auto save_elapsed = std::chrono::steady_clock::now() - save_start;
    state.PauseTiming();
    const uint64_t peak = PeakRssBytes();
    phase = 3;
    writer.join();
    if (!info.ok()) {
      state.SkipWithError(info.status().ToString().c_str());
      break;
    }
    using Seconds = std::chrono::duration<double>;
    const char* names[3] = {"", "before", "during"};
    const double seconds[3] = {0, Seconds(before_elapsed).count(), Seconds(save_elapsed).count()};
    for (int p = 1; p <= 2; ++p) {
      const std::string suffix = std::string("_") + names[p];
      state.counters["writes_per_s" + suffix] =
          static_cast<double>(latencies[p].size()) / seconds[p];
      state.counters["p99" + suffix + "_us"] = QuantileUs(latencies[p], 0.99);
      state.counters["p999" + suffix + "_us"] = QuantileUs(latencies[p], 0.999);
      state.counters["max" + suffix + "_us"] = QuantileUs(latencies[p], 1.0);
    }
    state.counters["lock_hold_us"] = static_cast<double>(info->longest_lock_hold.count()) / 1e3;
    state.counters["file_MB"] = static_cast<double>(info->bytes) / 1e6;
    SetMemoryCounters(state, steady_rss, peak);
    state.counters["peak_over_steady"] =
        static_cast<double>(peak) / static_cast<double>(steady_rss);
    state.ResumeTiming();
  }
  if (writer.joinable()) {
    phase = 3;
    writer.join();
  }
  std::filesystem::remove(path);
}

// Removes `--<name>=<text>` from argv and returns the text, or `fallback`.
std::string TakeStringFlag(std::string_view name, std::string fallback, int* argc, char** argv) {
  int kept = 1;
  for (int i = 1; i < *argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.size() > name.size() + 3 && arg.substr(0, 2) == "--" &&
        arg.substr(2, name.size()) == name && arg[name.size() + 2] == '=') {
      fallback = std::string(arg.substr(name.size() + 3));
      continue;
    }
    argv[kept++] = argv[i];
  }
  *argc = kept;
  return fallback;
}

// Writes `keys` SET commands in RESP, as redis-cli --pipe reads them.
int DumpResp(const std::string& path, size_t keys) {
  std::FILE* out = std::fopen(path.c_str(), "wb");
  if (out == nullptr) {
    std::perror(path.c_str());
    return 1;
  }
  char key[kKeyBytes];
  char value[kSnapshotValueBytes];
  for (size_t i = 0; i < keys; ++i) {
    FormatKey("key:", i, key);
    FormatValue(i, 0, value);
    std::fprintf(out, "*3\r\n$3\r\nSET\r\n$%zu\r\n", kKeyBytes);
    std::fwrite(key, 1, kKeyBytes, out);
    std::fprintf(out, "\r\n$%zu\r\n", kSnapshotValueBytes);
    std::fwrite(value, 1, kSnapshotValueBytes, out);
    std::fputs("\r\n", out);
  }
  return std::fclose(out) == 0 ? 0 : 1;
}

// The restart mode (see the top of the file).
int Restart(const std::string& path) {
  const auto start = std::chrono::steady_clock::now();
  Result<std::unique_ptr<Store>> store = OpenStoreFromSnapshot(path, StoreOptions{});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  std::printf("load_s=%.6f keys=%zu peak_rss_bytes=%llu\n", seconds, (*store)->size(),
              static_cast<unsigned long long>(PeakRssBytes()));
  std::fflush(stdout);
  // A restarted server goes on serving: its exit is not part of the load.
  std::_Exit(0);
}

}  // namespace
}  // namespace mirrorkv::bench

int main(int argc, char** argv) {
  using namespace mirrorkv::bench;
  const size_t max_keys = TakeSizeFlag("mirrorkv_max_keys", 2'000'000, &argc, argv);
  const size_t dump_keys = TakeSizeFlag("mirrorkv_keys", 1'000'000, &argc, argv);
  const std::string dump = TakeStringFlag("mirrorkv_dump_resp", "", &argc, argv);
  const char* tmp = std::getenv("TMPDIR");
  g_dir = TakeStringFlag("mirrorkv_dir", tmp != nullptr ? tmp : "/tmp", &argc, argv);
  const std::string values = TakeStringFlag("mirrorkv_values", "session", &argc, argv);
  if (values != "session" && values != "random") {
    std::fprintf(stderr, "--mirrorkv_values must be session or random\n");
    return 2;
  }
  g_random_values = values == "random";
  const std::string write_file = TakeStringFlag("mirrorkv_write_file", "", &argc, argv);
  const std::string restart = TakeStringFlag("mirrorkv_restart", "", &argc, argv);
  if (!dump.empty()) return DumpResp(dump, dump_keys);
  if (!restart.empty()) return Restart(restart);
  if (!write_file.empty()) {
    mirrorkv::Result<mirrorkv::SnapshotInfo> saved =
        mirrorkv::SaveSnapshotFile(*BuildStore(dump_keys), write_file, {});
    if (!saved.ok()) std::fprintf(stderr, "%s\n", saved.status().ToString().c_str());
    std::fflush(stdout);
    std::_Exit(saved.ok() ? 0 : 1);  // skips freeing the store
  }

  std::vector<size_t> sizes;
  for (size_t n : kSizes) {
    if (n <= max_keys) sizes.push_back(n);
  }
  if (sizes.empty()) sizes.push_back(max_keys);  // e.g. a quick run at 10000 keys
  for (size_t n : sizes) {
    benchmark::RegisterBenchmark("BM_SnapshotSaveFile", BM_SnapshotSaveFile)
        ->Arg(static_cast<int64_t>(n))
        ->ArgName("keys")
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  benchmark::RegisterBenchmark("BM_SnapshotSaveUnderWrites", BM_SnapshotSaveUnderWrites)
      ->Arg(static_cast<int64_t>(sizes.front()))
      ->ArgName("keys")
      ->Iterations(1)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  for (size_t n : sizes) {
    benchmark::RegisterBenchmark("BM_SnapshotLoadFile", BM_SnapshotLoadFile)
        ->Arg(static_cast<int64_t>(n))
        ->ArgName("keys")
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  for (size_t n : sizes) std::filesystem::remove(PathFor(n));
  return 0;
}
