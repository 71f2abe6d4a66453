// RecordingListener: the test double for MutationListener (include/mirrorkv/mutation.h).
// It copies every mutation a Store reports, in the order of the reports, so that a test
// can assert what a listener (the command log, an application's cache invalidation)
// would have seen. A test that must check each batch as it arrives (its grouping, or a
// model replayed in step) passes an observer, run under the listener's lock: batches
// reach it one at a time, in report order.
//
// Thread-safe: a Store reports from any writer thread.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "mirrorkv/mutation.h"

namespace mirrorkv::testutil {

// One reported Mutation, with its views copied.
struct RecordedMutation {
  MutationKind kind = MutationKind::kSet;
  MutationCause cause = MutationCause::kWrite;
  std::string key;
  std::string value;
  int64_t expire_at_ms = 0;
  std::vector<std::string> effect;  // kCollection only
};

// A mutation as one line: "set k v @0" (value and deadline), "del k", "del k expired",
// "del k evicted", "expireat k 1500", "persist k", "flushall", or a collection's effect
// command ("HSET h f v").
inline std::string Describe(const RecordedMutation& m) {
  switch (m.kind) {
    case MutationKind::kSet:
      return "set " + m.key + " " + m.value + " @" + std::to_string(m.expire_at_ms);
    case MutationKind::kDelete:
      return "del " + m.key +
             (m.cause == MutationCause::kExpired   ? " expired"
              : m.cause == MutationCause::kEvicted ? " evicted"
                                                   : "");
    case MutationKind::kExpireAt:
      return "expireat " + m.key + " " + std::to_string(m.expire_at_ms);
    case MutationKind::kPersist:
      return "persist " + m.key;
    case MutationKind::kFlushAll:
      return "flushall";
    case MutationKind::kCollection: {
      std::string line;
      for (const std::string& word : m.effect) line += (line.empty() ? "" : " ") + word;
      return line;
    }
  }
  return "unknown";
}

class RecordingListener final : public MutationListener {
 public:
  using BatchObserver = std::function<void(std::span<const Mutation> batch)>;

  RecordingListener() = default;
  explicit RecordingListener(BatchObserver observer) : observer_(std::move(observer)) {}

  void OnMutations(std::span<const Mutation> batch) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (observer_) observer_(batch);
    batch_sizes_.push_back(batch.size());
    for (const Mutation& m : batch) {
      RecordedMutation copy{m.kind,         m.cause, std::string(m.key), std::string(m.value),
                            m.expire_at_ms, {}};
      copy.effect.assign(m.effect.begin(), m.effect.end());
      recorded_.push_back(std::move(copy));
    }
  }

  // How many mutations were reported so far: the position of the next one.
  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return recorded_.size();
  }
  // The mutations reported from position `start` on.
  std::vector<RecordedMutation> From(size_t start = 0) const {
    std::lock_guard<std::mutex> lock(mu_);
    if (start >= recorded_.size()) return {};
    return {recorded_.begin() + static_cast<std::ptrdiff_t>(start), recorded_.end()};
  }
  // The mutations reported so far as Describe lines; forgets them.
  std::vector<std::string> TakeDescribed() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> lines;
    for (const RecordedMutation& m : recorded_) lines.push_back(Describe(m));
    recorded_.clear();
    return lines;
  }
  // How many mutations with this cause were reported.
  size_t Count(MutationCause cause) const {
    std::lock_guard<std::mutex> lock(mu_);
    size_t count = 0;
    for (const RecordedMutation& m : recorded_) count += m.cause == cause;
    return count;
  }
  // The size of each batch, in report order.
  std::vector<size_t> batch_sizes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return batch_sizes_;
  }

 private:
  const BatchObserver observer_;
  mutable std::mutex mu_;
  std::vector<RecordedMutation> recorded_;
  std::vector<size_t> batch_sizes_;
};

}  // namespace mirrorkv::testutil
