// ExecGate: what makes MULTI/EXEC atomic on top of a Store that has no global transaction.
//
// It is a reader/writer lock split into one slot per I/O thread (a "big reader" lock).
// Each I/O thread holds its own slot while it runs a batch of commands (everything one
// read delivered), so ordinary commands pay one uncontended lock per batch, never a
// shared cache line. EXEC gives up its own slot and then takes every slot in index
// order: once it holds them all, no other command is running anywhere, and none starts
// until EXEC has run its whole queue. Taking slots in one order (and never holding a
// slot while waiting for a lower one) keeps two concurrent EXECs from deadlocking.
//
// The Store's own background work (active expiry) does not take the gate, so a key can
// still expire between two commands of a transaction, as its deadline says.
//
// Thread-safe.
#pragma once

#include <cstddef>
#include <memory>

#include "engine/base/mutex.h"

namespace mirrorkv::server {

class ExecGate {
 public:
  explicit ExecGate(size_t slots) : slots_(new Slot[slots == 0 ? 1 : slots]), count_(slots) {}

  // Held by I/O thread `slot` around each batch of commands.
  void LockShared(size_t slot) ABSL_NO_THREAD_SAFETY_ANALYSIS { slots_[slot].mu.Lock(); }
  void UnlockShared(size_t slot) ABSL_NO_THREAD_SAFETY_ANALYSIS { slots_[slot].mu.Unlock(); }

  // Excludes every I/O thread. The caller must not hold a slot.
  void LockAll() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    for (size_t i = 0; i < count_; ++i) slots_[i].mu.Lock();
  }
  void UnlockAll() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    for (size_t i = count_; i-- > 0;) slots_[i].mu.Unlock();
  }

  size_t slots() const { return count_; }

 private:
  struct alignas(64) Slot {  // a cache line per slot: threads never share one
    Mutex mu;
  };
  std::unique_ptr<Slot[]> slots_;
  size_t count_;
};

// Holds an I/O thread's slot for a scope.
class ExecGateShare {
 public:
  ExecGateShare(ExecGate& gate, size_t slot) : gate_(gate), slot_(slot) { gate_.LockShared(slot_); }
  ~ExecGateShare() { gate_.UnlockShared(slot_); }
  ExecGateShare(const ExecGateShare&) = delete;
  ExecGateShare& operator=(const ExecGateShare&) = delete;

 private:
  ExecGate& gate_;
  size_t slot_;
};

}  // namespace mirrorkv::server
