// WalkInBatches: the fork-less walk of a whole Store in small batches under stripe locks,
// for the RDB writer.
//
// Store::Impl::Walk visits whole buckets of one stripe under that stripe's lock. The
// visitor given here must only copy the entry (a string's value, or a collection's
// elements) into a buffer (no I/O, no allocation
// beyond a rare buffer growth), so a stripe lock is held for about `budget()` bytes of
// copying; the work on the copied bytes (compression, checksums, the sink's I/O) happens
// in `after_batch`, with no lock held.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "engine/store_impl.h"
#include "mirrorkv/status.h"

namespace mirrorkv::internal {

struct WalkStats {
  // Entries left out because their deadline had passed.
  uint64_t expired = 0;
  // The longest time stripe locks were held for one batch, from its first entry to the
  // end of the batch (what a writer of that stripe could have waited for).
  std::chrono::nanoseconds longest_lock_hold{0};
};

// Walks every entry of `engine`: `budget()` gives the bytes the next batch may copy (at
// least 1 is used), `visit(entry, deadline_ms)` returns the bytes it copied and is called
// under a stripe lock for each live entry, `after_batch()` (returning Status) after each batch with
// no lock held; the first error it returns ends the walk and is returned. Expired entries are left
// out (and counted), except on a replica-mode store, which keeps keys past their deadline until its
// primary deletes them. A batch asks Walk for at most 4096 entries, so a run of tiny entries cannot
// make one lock hold long either.
template <typename Budget, typename Visit, typename AfterBatch>
Status WalkInBatches(Store::Impl& engine, Budget&& budget, Visit&& visit, AfterBatch&& after_batch,
                     WalkStats* stats) {
  constexpr size_t kMaxBatchEntries = 4096;
  const bool keep_expired = engine.replica();
  // Bytes per visited entry, to turn the byte budget of a batch into the entry count
  // Walk takes. Walk has no byte budget of its own, so a batch of entries much larger
  // than the recent ones copies more than the budget: the estimate starts at 4 KiB (the
  // first batch asks for a few entries only) and follows the mean of the last batches.
  size_t average_entry = 4096;
  uint64_t cursor = 0;
  do {
    const size_t bytes = std::max<size_t>(budget(), 1);
    const size_t max_entries = std::clamp<size_t>(bytes / average_entry, 1, kMaxBatchEntries);
    const int64_t now = engine.clock().NowMillis();
    size_t visited = 0;
    size_t visited_bytes = 0;
    // The hold is timed from the first visit (the lock is held by then) to Walk's
    // return (just after the last unlock): waiting for the lock is not holding it.
    std::chrono::steady_clock::time_point locked_at;
    cursor = engine.WalkEntries(cursor, max_entries, [&](const Entry& entry) {
      if (visited++ == 0) locked_at = std::chrono::steady_clock::now();
      const int64_t deadline = entry.deadline();
      if (!keep_expired && deadline != 0 && deadline <= now) {
        ++stats->expired;
        return;
      }
      visited_bytes += visit(entry, deadline);
    });
    if (visited > 0) {
      stats->longest_lock_hold = std::max<std::chrono::nanoseconds>(
          stats->longest_lock_hold, std::chrono::steady_clock::now() - locked_at);
      // An even mix of the old estimate and this batch: adapts within a few batches.
      average_entry = std::max<size_t>((average_entry + visited_bytes / visited) / 2, 1);
    }
    MIRRORKV_RETURN_IF_ERROR(after_batch());
  } while (cursor != 0);
  return Status::Ok();
}

}  // namespace mirrorkv::internal
