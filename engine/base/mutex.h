// mirrorkv::Mutex, MutexLock and CondVar: std::mutex and std::condition_variable with
// clang's thread-safety annotations.
//
// Not absl::Mutex, although the annotations are absl's: Debian's libabsl is compiled
// without NDEBUG, so every absl::Mutex Lock and Unlock runs the deadlock detector,
// which takes one process-wide spinlock. Measured on the Store (docs/benchmarks.md):
// a GET on a small table cost 64 CPU ns with it and 37 without, and two threads on
// different stripes serialized on that spinlock. Turning detection off is a
// process-wide setting that a library must not impose on its embedder. std::mutex is a
// futex with a one-CAS uncontended path, and ThreadSanitizer understands it (absl's
// prebuilt Mutex is invisible to TSan).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"

namespace mirrorkv {

class ABSL_LOCKABLE Mutex {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  // Tells the static analysis that the caller holds the lock (std::mutex cannot check).
  void AssertHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK() {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds `mu` for the scope.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

class CondVar {
 public:
  // Atomically releases `mu` and waits; holds `mu` again on return.
  void Wait(Mutex* mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();  // the caller keeps owning the mutex
  }
  // As Wait, for at most `timeout`. Returns true if the timeout elapsed.
  bool WaitWithTimeout(Mutex* mu, std::chrono::nanoseconds timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    bool timed_out = cv_.wait_for(lock, timeout) == std::cv_status::timeout;
    lock.release();
    return timed_out;
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace mirrorkv
