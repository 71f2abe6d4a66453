// CommandLog: the append-only replication stream of a primary, and its bounded backlog.
//
// The stream is byte-compatible with Redis's replication stream: each effective mutation
// of the Store becomes one RESP command (SET k v [PXAT ms], DEL k, PEXPIREAT k ms,
// PERSIST k, FLUSHALL); a multi-key change (MSET, RENAME) is wrapped in MULTI ... EXEC so
// that it applies atomically on the replica. docs/command_log_format.md has the grammar.
// An offset counts bytes of the stream, exactly as Redis's master_repl_offset does.
//
// Concurrency. Appends come from every writer thread (the Store reports mutations with
// the key's stripe lock held) and must not serialize on one mutex, nor wait for each
// other. An append takes a writer slot, reserves its byte range with one atomic add,
// records the range's start in its slot, copies its bytes into the ring and frees the
// slot. Because the reservation is made while the key's stripe lock is held, the order
// of the stream equals the order of the changes for every key. Readers compute the
// published end: the reserved end, lowered to the start of any append still in a slot.
// A slot is taken before the reservation, so a reader never misses an append in flight
// (one taken but not yet reserved holds the end where it is). An earlier design
// published in reservation order, each append waiting for the one before it; two
// writers then spent their time handing one cache line back and forth.
//
// The backlog is a ring of fixed-size chunks. A chunk records which stream range it
// holds; the first append to reach a chunk re-claims it for the new range, after the
// readers copying out of it have finished (each reader pins the chunk while it copies).
// A reader that asks for bytes no longer in the ring, or finds its chunk re-claimed
// under it, gets kNotFound ("fell out of the backlog") and never torn data.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "engine/base/mutex.h"
#include "mirrorkv/mutation.h"
#include "mirrorkv/status.h"

namespace mirrorkv::internal {

// Appends the stream encoding of `batch` to `out` (see the file comment).
void EncodeMutations(std::span<const Mutation> batch, std::string* out);

class CommandLog final : public MutationListener {
 public:
  // `backlog_bytes` is rounded up to whole chunks (at least two). `start_offset` is the
  // offset of the first byte this log will hold: 0 for a new primary, the offset reached
  // so far for a replica that keeps its own backlog or a promoted one.
  CommandLog(size_t backlog_bytes, uint64_t start_offset);
  ~CommandLog() override;
  CommandLog(const CommandLog&) = delete;
  CommandLog& operator=(const CommandLog&) = delete;

  // Appends the encoding of `batch` (MutationListener). Called under the Store's locks.
  void OnMutations(std::span<const Mutation> batch) override;
  // Appends bytes that are already stream-encoded (a PING, or a replica copying the
  // stream it applies). Returns the end offset of the appended bytes.
  uint64_t Append(std::string_view bytes);

  // Effect groups: the changes the calling thread makes from BeginGroup() until the
  // matching EndGroup() are logged between MULTI and EXEC, so a replica applies them all
  // at once (a script's or a transaction's effects, as Redis propagates them). Nothing is
  // logged for a group that changed nothing. Changes other threads make meanwhile keep
  // their place in the stream, which may be inside the group (a replica then applies
  // them at the group's EXEC). Groups nest; the outermost one counts. A thread has at
  // most one log's group open. The log may be destroyed inside a group only by the
  // thread that opened it (the group then ends with it).
  void BeginGroup();
  void EndGroup() ABSL_LOCKS_EXCLUDED(group_mu_);
  // An offset at which a reader can start the stream without landing inside a group:
  // waits until no started group is open, then returns the reserved end once published.
  // A full resync starts its snapshot there.
  uint64_t OffsetOutsideGroups() ABSL_LOCKS_EXCLUDED(group_mu_);
  // The same, giving up (nullopt) once `cancelled` returns true; it is asked every 10 ms
  // while a group stays open. For a waiter that the group's own thread may wait for.
  std::optional<uint64_t> OffsetOutsideGroupsUnless(const std::function<bool()>& cancelled)
      ABSL_LOCKS_EXCLUDED(group_mu_);

  // The offset just past the last published byte: Redis's master_repl_offset. Every byte
  // before it is written, and it never decreases.
  uint64_t end_offset() const;
  // The end of every append begun so far, published or not: what a writer's own
  // append is known to be inside of once it returned (end_offset() may still be lower
  // while another writer's earlier append is copying).
  uint64_t reserved_end() const { return reserved_.load(std::memory_order_seq_cst); }
  // The end of every append begun before the call, once all of them are published:
  // waits (spinning, microseconds) for appends of other threads still copying.
  uint64_t SettledEnd() const {
    const uint64_t end = reserved_end();
    WaitPublished(end);
    return end;
  }
  // The oldest offset a reader can still start from. Advisory: a Read may still find
  // its chunk re-claimed if writers move on meanwhile.
  uint64_t first_offset() const;
  size_t capacity() const { return chunk_count_ * kChunkBytes; }

  // Appends to `out` the published bytes from offset `from`, at most `max_bytes`, and
  // returns how many. 0 when `from` is the end. kNotFound when `from` fell out of the
  // backlog (its chunk re-claimed, before or during the copy; first_offset() is a
  // conservative bound of that); kInvalidArgument when `from` is beyond the end.
  Result<size_t> Read(uint64_t from, size_t max_bytes, std::string* out) const;

  // Keeps the bytes from `offset` on in the ring until it is raised: an append that
  // would overwrite them waits (spinning, then yielding) for the reader that called
  // this to copy them out and move `offset` on. One such reader (a primary's sender,
  // which copies the stream into its replication buffer) makes the backlog size a limit
  // on resuming only, never on a replica being streamed to. kNoRetention (the default)
  // lets the ring wrap freely. The reader must keep copying while it retains: appends,
  // and with them the writers' stripe locks, wait for it.
  void Retain(uint64_t offset) { retained_from_.store(offset, std::memory_order_release); }
  static constexpr uint64_t kNoRetention = ~uint64_t{0};

  // Blocks until end_offset() > `from`, `timeout` passes, or Close() is called. Returns
  // whether data is available.
  bool WaitForData(uint64_t from, std::chrono::milliseconds timeout) const
      ABSL_LOCKS_EXCLUDED(wait_mu_);
  // Wakes every waiter for good; later waits return immediately.
  void Close() ABSL_LOCKS_EXCLUDED(wait_mu_);

  static constexpr size_t kChunkBytes = 16 << 10;

 private:
  struct Chunk;

  Chunk& ChunkFor(uint64_t base) const;
  // Makes the chunk for `base` hold that range, once no reader is copying out of it.
  void Claim(uint64_t base);
  // Where the reserved byte at `pos` goes, once its chunk holds the range (re-claiming
  // the chunk if `pos` is its first byte). Writable up to the chunk's end.
  char* WritableAt(uint64_t pos);
  // Writes bytes of the reserved range [start, start + bytes.size()) into the ring.
  void CopyIn(uint64_t start, std::string_view bytes);
  // Counts the range [start, end), possibly longer than the ring, without keeping its
  // bytes: readers of it fall out of the backlog.
  void AppendOversized(uint64_t start, uint64_t end);
  // Takes a free writer slot (marking it kSlotReserving), and frees it.
  size_t AcquireSlot();
  void ReleaseSlot(size_t slot);
  // Spins until end_offset() >= `offset`.
  void WaitPublished(uint64_t offset) const;
  void WakeWaiters() ABSL_LOCKS_EXCLUDED(wait_mu_);
  // Logs the calling thread's group's MULTI, before its first change.
  void StartGroup() ABSL_LOCKS_EXCLUDED(group_mu_);

  // Appends in flight: each slot holds the start of one append's range, kSlotReserving
  // while that append reserves, or kSlotIdle. More threads than slots take turns.
  static constexpr size_t kWriterSlots = 64;
  static constexpr uint64_t kSlotIdle = ~uint64_t{0};
  static constexpr uint64_t kSlotReserving = kSlotIdle - 1;
  struct alignas(64) WriterSlot {  // a line each: a slot stays in its writer's cache
    std::atomic<uint64_t> start{kSlotIdle};
  };

  const size_t chunk_count_;
  const uint64_t start_offset_;
  std::unique_ptr<Chunk[]> chunks_;
  // Lowest offset whose bytes can be served; raised past an oversized append.
  std::atomic<uint64_t> min_valid_;
  // See Retain.
  std::atomic<uint64_t> retained_from_{kNoRetention};
  // The next offset to hand out.
  alignas(64) std::atomic<uint64_t> reserved_;
  // The highest published end computed so far, which keeps end_offset() from going
  // back (see end_offset() in the .cc file). Written by readers only.
  alignas(64) mutable std::atomic<uint64_t> published_;
  std::unique_ptr<WriterSlot[]> slots_;

  // Set by a reader about to sleep in WaitForData; the first append to see it clears it
  // and wakes the sleepers. So appends take wait_mu_ once per sleep, not once each.
  alignas(64) mutable std::atomic<bool> reader_asleep_{false};
  mutable Mutex wait_mu_;
  mutable CondVar wait_cv_;
  bool closed_ ABSL_GUARDED_BY(wait_mu_) = false;

  // Groups whose MULTI is logged and whose EXEC is not yet.
  Mutex group_mu_;
  CondVar group_cv_;
  int started_groups_ ABSL_GUARDED_BY(group_mu_) = 0;
};

}  // namespace mirrorkv::internal
