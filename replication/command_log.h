// CommandLog: the append-only replication stream of a primary, and its bounded backlog.
//
// The stream is byte-compatible with Redis's replication stream: each effective mutation
// of the Store becomes one RESP command (SET k v [PXAT ms], DEL k, PEXPIREAT k ms,
// PERSIST k, FLUSHALL); a multi-key change (MSET, RENAME) is wrapped in MULTI ... EXEC so
// that it applies atomically on the replica. docs/command_log_format.md has the grammar.
// An offset counts bytes of the stream, exactly as Redis's master_repl_offset does.
//
// Concurrency. Appends come from every writer thread (the Store reports mutations with
// the key's stripe lock held) and must not serialize on one mutex. An append reserves
// its byte range with one atomic add, copies its bytes into the ring, then publishes in
// reservation order: it waits until every earlier append has published, and advances
// the published end. Because the reservation is made while the key's stripe lock is
// held, the order of the stream equals the order of the changes for every key. The wait
// for earlier appends is a few copies long; copying itself runs in parallel.
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
#include <memory>
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

  // The offset just past the last published byte: Redis's master_repl_offset.
  uint64_t end_offset() const { return published_.load(std::memory_order_acquire); }
  // The oldest offset a reader can still start from. Advisory: a Read may still find
  // its chunk re-claimed if writers move on meanwhile.
  uint64_t first_offset() const;
  size_t capacity() const { return chunk_count_ * kChunkBytes; }

  // Appends to `out` the published bytes from offset `from`, at most `max_bytes`, and
  // returns how many. 0 when `from` is the end. kNotFound when `from` fell out of the
  // backlog (before first_offset(), or overwritten during the copy); kInvalidArgument
  // when `from` is beyond the end.
  Result<size_t> Read(uint64_t from, size_t max_bytes, std::string* out) const;

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
  // Waits until every append before `start` has published, then publishes up to `end`.
  void Publish(uint64_t start, uint64_t end);
  // Copies `bytes`, possibly longer than the ring, as a range whose data is not kept:
  // readers of it fall out of the backlog.
  void AppendOversized(uint64_t start, uint64_t end);
  void WakeWaiters() ABSL_LOCKS_EXCLUDED(wait_mu_);

  const size_t chunk_count_;
  const uint64_t start_offset_;
  std::unique_ptr<Chunk[]> chunks_;
  // Lowest offset whose bytes can be served; raised past an oversized append.
  std::atomic<uint64_t> min_valid_;
  // Next offset to hand out (one relaxed add per append: only uniqueness matters), and
  // the end of what is published: released by the publishing append and acquired by
  // readers and by the next append, which makes the copied bytes visible to both.
  alignas(64) std::atomic<uint64_t> reserved_;
  alignas(64) std::atomic<uint64_t> published_;

  // Set by a reader about to sleep in WaitForData; the first append to see it clears it
  // and wakes the sleepers. So appends take wait_mu_ once per sleep, not once each.
  alignas(64) mutable std::atomic<bool> reader_asleep_{false};
  mutable Mutex wait_mu_;
  mutable CondVar wait_cv_;
  bool closed_ ABSL_GUARDED_BY(wait_mu_) = false;
};

}  // namespace mirrorkv::internal
