// RunQueueProbe: how much of a benchmark's time its thread spent runnable but waiting for
// a CPU, because other processes had the cores.
//
// The machine the published figures come from is a shared 2-core VM whose load average
// is often above 2: a run can get half a core or less, and its wall-time throughput then
// says more about the neighbours than about the code. The kernel counts a thread's
// run-queue delay in /proc/thread-self/schedstat ("<cpu ns> <run-queue wait ns>
// <timeslices>"); time a thread sleeps on a lock is not counted, so the share is the
// same for a spinning and a blocking contender. Benchmarks report it as the `rq_wait`
// counter, and bench/run_peers.py and bench/plot_scaling.py can drop the repetitions
// where it was high.
#pragma once

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstdio>

namespace mirrorkv::bench {

class RunQueueProbe {
 public:
  // Starts measuring the calling thread.
  RunQueueProbe() : start_wait_ns_(WaitNanos()), start_(std::chrono::steady_clock::now()) {}

  // Records in state.counters["rq_wait"] the share of the time since construction that
  // the calling thread waited in the run queue, averaged over the benchmark's threads.
  // Records nothing where the kernel does not expose schedstat.
  void Report(benchmark::State& state) const {
    const int64_t end_wait_ns = WaitNanos();
    const double elapsed_ns =
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start_).count();
    if (start_wait_ns_ < 0 || end_wait_ns < 0 || elapsed_ns <= 0) return;
    state.counters["rq_wait"] =
        benchmark::Counter(static_cast<double>(end_wait_ns - start_wait_ns_) / elapsed_ns,
                           benchmark::Counter::kAvgThreads);
  }

 private:
  // The calling thread's cumulated run-queue wait in ns, or -1 if unavailable.
  static int64_t WaitNanos() {
    std::FILE* file = std::fopen("/proc/thread-self/schedstat", "r");
    if (file == nullptr) return -1;
    unsigned long long cpu_ns = 0;
    unsigned long long wait_ns = 0;
    const bool parsed = std::fscanf(file, "%llu %llu", &cpu_ns, &wait_ns) == 2;
    std::fclose(file);
    return parsed ? static_cast<int64_t>(wait_ns) : -1;
  }

  int64_t start_wait_ns_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace mirrorkv::bench
