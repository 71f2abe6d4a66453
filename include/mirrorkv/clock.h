// Clock: where a Store reads the time, so that tests can control it.
//
// Deadlines in mirrorkv are absolute Unix times in milliseconds, as in Redis's PXAT:
// they mean the same on a primary and its replicas and survive a snapshot.
#pragma once

#include <atomic>
#include <cstdint>

namespace mirrorkv {

// A source of the current Unix time in milliseconds. Implementations must be
// thread-safe: a Store calls Now() from every thread that uses it.
class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch. Need not be monotonic: a step backwards only
  // delays expiry, it never expires a key early.
  virtual int64_t NowMillis() const = 0;
};

// The system's real-time clock. Thread-safe; has no state.
class SystemClock final : public Clock {
 public:
  int64_t NowMillis() const override;
  // A process-wide instance that lives forever; the default for StoreOptions.
  static SystemClock* Default();
};

// A clock that moves only when told to, for tests and simulations. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t now_ms = 1'700'000'000'000) : now_ms_(now_ms) {}
  int64_t NowMillis() const override { return now_ms_.load(std::memory_order_relaxed); }
  void Set(int64_t now_ms) { now_ms_.store(now_ms, std::memory_order_relaxed); }
  void Advance(int64_t delta_ms) { now_ms_.fetch_add(delta_ms, std::memory_order_relaxed); }

 private:
  // Relaxed: the value is a standalone reading, it publishes no other data.
  std::atomic<int64_t> now_ms_;
};

}  // namespace mirrorkv
