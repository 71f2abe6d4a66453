// IoThread: what every I/O thread has whatever the transport: its
// index (its slot in the EXEC gate), counters only it writes, the clients it serves, and
// a way for other threads to hand it work.
//
// A connection belongs to one IoThread for its whole life, so its state needs no lock;
// other threads reach it only through Post().
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "absl/container/flat_hash_set.h"

namespace mirrorkv::server {

class Client;

// A one-shot timer of an IoThread (StartTimer). Destroying it cancels the task, unless
// the task is already on its way to run: the task must check that it is still wanted.
class IoTimer {
 public:
  virtual ~IoTimer() = default;
};

// Counters written by one thread and read by INFO from any thread. Relaxed: each is an
// independent statistic; INFO may see them a little out of date.
struct ThreadStats {
  std::atomic<uint64_t> commands{0};
  std::atomic<uint64_t> net_input_bytes{0};
  std::atomic<uint64_t> net_output_bytes{0};
  std::atomic<uint64_t> error_replies{0};
  std::atomic<uint64_t> connections{0};  // clients served now

  // Single-writer increment: a load and a store, no locked instruction.
  static void Add(std::atomic<uint64_t>& counter, uint64_t n) {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
};

class IoThread {
 public:
  explicit IoThread(size_t index) : index_(index) {}
  virtual ~IoThread() = default;
  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;

  size_t index() const { return index_; }
  ThreadStats& stats() { return stats_; }
  const ThreadStats& stats() const { return stats_; }

  // Runs `task` on this thread, soon. Callable from any thread, including this one
  // (the task then runs after the current handler returns).
  virtual void Post(std::function<void()> task) = 0;

  // This thread only. Runs `task` on this thread once `delay` has passed, unless the
  // returned timer was destroyed first. A pending timer keeps no connection alive and
  // holds no thread: it is an entry in the event loop. Threads without an event loop
  // (the script thread, whose commands never wait) return null.
  virtual std::unique_ptr<IoTimer> StartTimer(std::chrono::milliseconds /*delay*/,
                                              std::function<void()> /*task*/) {
    return nullptr;
  }

  // The IoThread running the calling code; null outside I/O threads.
  static IoThread* Current() { return current_; }

  // --- This thread only ---

  void AddClient(Client* client) {
    clients_.insert(client);
    ThreadStats::Add(stats_.connections, 1);
  }
  void RemoveClient(Client* client) {
    if (clients_.erase(client) > 0) {
      stats_.connections.store(stats_.connections.load(std::memory_order_relaxed) - 1,
                               std::memory_order_relaxed);
    }
  }
  const absl::flat_hash_set<Client*>& clients() const { return clients_; }

 protected:
  // Called by the event loop once, on the thread itself, before serving.
  void BindToCurrentThread() { current_ = this; }

 private:
  static thread_local IoThread* current_;

  const size_t index_;
  ThreadStats stats_;
  absl::flat_hash_set<Client*> clients_;
};

}  // namespace mirrorkv::server
