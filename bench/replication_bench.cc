// Replication costs, measured in one process.
//
//   BM_ReplicatedSet/<mode>/threads:N   SET throughput with 16-byte keys and values over
//       100K keys: mode 0 no log, 1 command log only, 2 log + one in-process replica,
//       3 log + two. The replicas apply on their own threads, competing for the cores.
//   BM_ReplicationLag                   at a paced 200K writes/s, the time from a write
//       on the primary to its application on an in-process replica (p50, p99 counters).
//   BM_FullResync/<keys>                a replica's first sync of a 1M-key store:
//       time, and the process's peak RSS growth (counter peak_rss_mb).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/run_queue_probe.h"
#include "mirrorkv/mutation.h"
#include "mirrorkv/replication.h"
#include "mirrorkv/store.h"

namespace mirrorkv {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

constexpr int kKeys = 100'000;

std::vector<std::string> MakeKeys(int n) {
  std::vector<std::string> keys(n);
  char buffer[32];
  for (int i = 0; i < n; ++i) {
    std::snprintf(buffer, sizeof(buffer), "key:%012d", i);
    keys[i] = buffer;
  }
  return keys;
}

Replica::Connector ConnectTo(Primary* primary) {
  return [primary]() -> Result<std::unique_ptr<Transport>> {
    auto [near, far] = CreateInProcessTransportPair(4 << 20);
    primary->Serve(std::move(far));
    return std::move(near);
  };
}

bool WaitCaughtUp(const Replica& replica, const Primary& primary, std::chrono::seconds limit) {
  auto deadline = SteadyClock::now() + limit;
  while (SteadyClock::now() < deadline) {
    // The id too: before its first sync a replica has none, at offset 0 like a new primary.
    if (replica.position() == primary.position()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

// A primary store with 0..2 replicas, built once per mode and shared by the threads.
struct Setup {
  std::unique_ptr<Store> primary_store;
  std::unique_ptr<Primary> primary;
  std::vector<std::unique_ptr<Store>> replica_stores;
  std::vector<std::unique_ptr<Replica>> replicas;
};

Setup* SetupFor(int mode) {
  static std::mutex mu;
  static std::unique_ptr<Setup> setups[4];
  std::lock_guard<std::mutex> lock(mu);
  if (!setups[mode]) {
    auto s = std::make_unique<Setup>();
    s->primary_store = std::move(*Store::Open({}));
    if (mode >= 1) {
      PrimaryOptions options;
      options.backlog_bytes = 8 << 20;  // holds a run's worth of lag without polluting the cache
      s->primary = std::move(*Primary::Create(*s->primary_store, options));
    }
    for (int r = 0; r < mode - 1; ++r) {
      s->replica_stores.push_back(std::move(*Store::Open({})));
      s->replicas.push_back(
          std::move(*Replica::Create(*s->replica_stores.back(), ConnectTo(s->primary.get()), {})));
      s->replicas.back()->Start();
    }
    setups[mode] = std::move(s);
  }
  return setups[mode].get();
}

void BM_ReplicatedSet(benchmark::State& state) {
  static const std::vector<std::string> keys = MakeKeys(kKeys);
  Setup* setup = SetupFor(static_cast<int>(state.range(0)));
  Store& store = *setup->primary_store;
  uint64_t i = static_cast<uint64_t>(state.thread_index()) * 7919;
  const std::string value(16, 'v');
  const bench::RunQueueProbe run_queue;
  for (auto _ : state) {
    benchmark::DoNotOptimize(store.Set(keys[i % kKeys], value));
    i += 104729;  // a prime stride: a uniform walk over the keys without an RNG
  }
  run_queue.Report(state);
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0 && setup->primary != nullptr) {
    for (auto& replica : setup->replicas) WaitCaughtUp(*replica, *setup->primary, 30s);
  }
}
BENCHMARK(BM_ReplicatedSet)->DenseRange(0, 3)->ThreadRange(1, 2)->UseRealTime();

// Records the delay between the timestamp a write carries and its application.
class LagRecorder : public MutationListener {
 public:
  // Room for every sample of a run up front: growing the vector copies it on the
  // replica's apply thread, a stall of milliseconds that would show up as lag.
  LagRecorder() { lags_ns_.reserve(kCapacity); }

  void OnMutations(std::span<const Mutation> batch) override {
    int64_t now = SteadyClock::now().time_since_epoch().count();
    for (const Mutation& m : batch) {
      if (m.kind != MutationKind::kSet || m.value.size() != sizeof(int64_t)) continue;
      int64_t sent;
      std::memcpy(&sent, m.value.data(), sizeof(sent));
      std::lock_guard<std::mutex> lock(mu_);
      lags_ns_.push_back(now - sent);
    }
  }
  std::vector<int64_t> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<int64_t> taken = std::exchange(lags_ns_, {});
    lags_ns_.reserve(kCapacity);
    return taken;
  }

 private:
  static constexpr size_t kCapacity = 4 << 20;
  std::mutex mu_;
  std::vector<int64_t> lags_ns_;
};

void BM_ReplicationLag(benchmark::State& state) {
  static const std::vector<std::string> keys = MakeKeys(kKeys);
  const int64_t rate = state.range(0);  // writes per second
  LagRecorder recorder;
  StoreOptions replica_options;
  replica_options.listener = &recorder;
  auto primary_store = std::move(*Store::Open({}));
  auto replica_store = std::move(*Store::Open(replica_options));
  auto primary = std::move(*Primary::Create(*primary_store, {}));
  auto replica = std::move(*Replica::Create(*replica_store, ConnectTo(primary.get()), {}));
  replica->Start();
  WaitCaughtUp(*replica, *primary, 10s);
  recorder.Take();
  uint64_t written = 0;
  for (auto _ : state) {
    // One iteration: 10 ms of writes at the paced rate, issued in bursts every 100 us
    // with a sleep in between, as a server's writes arrive: a writer spinning through
    // the gaps would take a core from the replica that a real primary leaves free.
    constexpr auto kBurstEvery = std::chrono::microseconds(100);
    const int64_t per_burst = rate / 10'000;
    auto next = SteadyClock::now();
    for (int burst = 0; burst < 100; ++burst) {
      std::this_thread::sleep_until(next);
      for (int64_t n = 0; n < per_burst; ++n) {
        int64_t stamp = SteadyClock::now().time_since_epoch().count();
        (void)primary_store->Set(
            keys[written++ % kKeys],
            std::string_view(reinterpret_cast<const char*>(&stamp), sizeof(stamp)));
      }
      next += kBurstEvery;
    }
  }
  WaitCaughtUp(*replica, *primary, 30s);
  std::vector<int64_t> lags = recorder.Take();
  std::sort(lags.begin(), lags.end());
  auto percentile = [&](double p) {
    return lags.empty() ? 0.0 : lags[static_cast<size_t>(p * (lags.size() - 1))] / 1e3;
  };
  state.counters["p50_us"] = percentile(0.50);
  state.counters["p99_us"] = percentile(0.99);
  state.counters["p999_us"] = percentile(0.999);
  state.SetItemsProcessed(static_cast<int64_t>(written));
}
BENCHMARK(BM_ReplicationLag)->Arg(200'000)->Unit(benchmark::kMillisecond)->UseRealTime();

int64_t RssBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  }
  return 0;
}

// Peak RSS over the sync, sampled every millisecond.
void BM_FullResync(benchmark::State& state) {
  const int keys = static_cast<int>(state.range(0));
  auto primary_store = std::move(*Store::Open({}));
  {
    std::vector<std::string> names = MakeKeys(keys);
    for (const auto& k : names) (void)primary_store->Set(k, std::string(16, 'v'));
  }
  auto primary = std::move(*Primary::Create(*primary_store, {}));
  double seconds = 0, peak_growth = 0;
  for (auto _ : state) {
    auto replica_store = std::move(*Store::Open({}));
    int64_t before = RssBytes();
    std::atomic<bool> done{false};
    std::atomic<int64_t> peak{before};
    std::thread sampler([&] {
      while (!done.load()) {
        peak.store(std::max(peak.load(), RssBytes()));
        std::this_thread::sleep_for(1ms);
      }
    });
    auto start = SteadyClock::now();
    auto replica = std::move(*Replica::Create(*replica_store, ConnectTo(primary.get()), {}));
    replica->Start();
    WaitCaughtUp(*replica, *primary, 120s);
    seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
    done = true;
    sampler.join();
    peak_growth = static_cast<double>(peak.load() - before) / (1 << 20);
    state.SetIterationTime(seconds);
  }
  state.counters["peak_rss_growth_mb"] = peak_growth;
  state.counters["keys_per_s"] = keys / seconds;
  state.SetItemsProcessed(keys * state.iterations());
}
BENCHMARK(BM_FullResync)
    ->Arg(1'000'000)
    ->Unit(benchmark::kMillisecond)
    ->UseManualTime()
    ->Iterations(1);

}  // namespace
}  // namespace mirrorkv

BENCHMARK_MAIN();
