// Snapshots: a Store's whole content as one checksummed, lz4-compressed byte stream, for
// a restart (a file) and for a replica's full resync (a socket or memory).
//
//   // Save: atomic (temporary file, fsync, rename, fsync of the directory).
//   auto saved = mirrorkv::SaveSnapshotFile(*store, "dump.mkv", {replid, offset});
//   // Restart: a missing file gives an empty store; a corrupt one an error.
//   auto reopened = mirrorkv::OpenStoreFromSnapshot("dump.mkv", options);
//
// The format is documented byte by byte in docs/snapshot-format.md (version 1): a header
// with the replication position the snapshot starts from, blocks of entries (key, value,
// absolute deadline), each lz4-compressed with its lengths and an xxh3 checksum, and a
// footer with the entry count and a checksum of the whole stream.
//
// A snapshot of a Store is taken without fork and without copying the data set: the
// writer walks the lock stripes in small batches, holding one stripe lock only while it
// copies a few entries into a block buffer, and compresses and writes outside every
// lock. Writes go on meanwhile, so the snapshot is fuzzy: each key is captured at some
// moment between the start and the end of the walk. Replaying the command log from the
// snapshot's starting position (captured before the walk starts) makes it exact, since
// log records are idempotent effects (see mutation.h).
//
// Reading validates everything: every malformed input (bad magic, unknown version,
// truncation at any byte, a flipped bit anywhere, impossible lengths, counts that
// disagree) gives kCorruption naming what is wrong and at which byte, an OS failure
// kIOError. The loaders build the new content aside and publish it in one step, so a
// failed load leaves the target Store exactly as it was.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mirrorkv/collections.h"
#include "mirrorkv/file.h"
#include "mirrorkv/options.h"
#include "mirrorkv/status.h"
#include "mirrorkv/store.h"

namespace mirrorkv {

// Where in the replication stream a snapshot starts: the log records from this position
// on, applied to the snapshot's content, reproduce the primary's data exactly.
struct SnapshotPosition {
  // 40 lowercase hex characters ([0-9a-f]), or empty for a store that has no
  // replication history (stored as forty '0's, read back as empty).
  std::string replication_id;
  // Byte offset in the replication stream, as Redis counts it.
  uint64_t offset = 0;

  friend bool operator==(const SnapshotPosition&, const SnapshotPosition&) = default;
};

// How far a save or a load has come. Reported after each block, from the thread doing
// the work.
struct SnapshotProgress {
  uint64_t entries_done = 0;
  // Writer: the store's entry count when the walk started, an estimate since writes go
  // on. Reader: 0 (the count is known only at the footer).
  uint64_t entries_expected = 0;
  // Bytes written to the sink, or read from the source.
  uint64_t bytes_done = 0;
  // Reader: the source's size() when known. Writer: 0 (unknown until compressed).
  uint64_t bytes_expected = 0;
};

// Called with progress; must not call into the Store being saved or loaded (a save calls
// it with no lock held, but a store method could wait on the writer's thread).
using SnapshotProgressCallback = std::function<void(const SnapshotProgress&)>;

// How a snapshot is written. Plain struct; every field has a default.
struct SnapshotOptions {
  // Uncompressed bytes per block, clamped to [4 KiB, 16 MiB]. A block holds at least one
  // entry, so one larger entry makes a larger block. Bigger blocks compress a little
  // better; the writer's memory is about twice this (plus the largest entry).
  size_t block_bytes = 256 << 10;
  // Entry bytes copied per stripe-lock hold, clamped to [1 KiB, block_bytes]: what
  // bounds how long the writer can stall a writer of that stripe. Approximate: the
  // writer turns it into an entry count from the sizes of the entries it saw last, and a
  // single larger entry is still copied whole. Smaller means shorter stalls and more
  // lock round trips.
  size_t batch_bytes = 32 << 10;
  // Compress blocks with lz4. Blocks that do not shrink are stored raw either way.
  bool compress = true;
  // Optional; see SnapshotProgressCallback.
  SnapshotProgressCallback progress;
  // Optional; polled between batches, on the saving thread. Once it returns true the
  // save stops with kFailedPrecondition (a file save then leaves the old file in place).
  std::function<bool()> cancelled;
};

// How a snapshot is read. Plain struct; every field has a default.
struct SnapshotReadOptions {
  // Larger keys or values are rejected with kCorruption before anything is allocated
  // for them. LoadSnapshot and the file loaders use the smaller of these and the target
  // store's StoreOptions limits.
  size_t max_key_bytes = 512u << 20;
  size_t max_value_bytes = 512u << 20;
  // Optional; see SnapshotProgressCallback.
  SnapshotProgressCallback progress;
};

// What a save or a load did.
struct SnapshotInfo {
  // The position from the header.
  SnapshotPosition position;
  // Entries in the stream. A key may occur more than once in a fuzzy snapshot (the walk
  // can see it twice across a stripe resize); the last occurrence wins on load.
  uint64_t entries = 0;
  // Save: entries skipped because their deadline had passed (not in `entries`). Load:
  // entries of the stream dropped for the same reason (counted in `entries`). Always 0
  // for replica-mode stores, which keep expired keys until their primary deletes them.
  uint64_t expired = 0;
  uint64_t blocks = 0;
  // Size of the whole stream, header to footer.
  uint64_t bytes = 0;
  // Uncompressed size of all blocks.
  uint64_t raw_bytes = 0;
  // Whether the stream carries the replication history from `position` to the end of
  // the save (a primary's save, Primary::SaveSnapshotFile), and its size. LoadSnapshot
  // ignores it; LoadSnapshotFileToResume (replication.h) applies it.
  bool has_history = false;
  uint64_t history_bytes = 0;
  // WriteSnapshot and SaveSnapshotFile only: the longest time the writer held stripe
  // locks for one batch, from its first entry to the end of the batch. What a writer
  // of that stripe could have waited for, beyond its turn; it includes any preemption
  // of the snapshot thread meanwhile.
  std::chrono::nanoseconds longest_lock_hold{0};
  // Wall time of the whole call.
  std::chrono::nanoseconds elapsed{0};
};

// Writes a snapshot stream entry by entry, for callers that produce entries themselves
// (tests, tools, other data sources); WriteSnapshot does this for a Store.
// Thread-compatible.
//
//   auto writer = SnapshotWriter::Create(sink, position);
//   MIRRORKV_RETURN_IF_ERROR((*writer)->Add("k", "v", 0));
//   MIRRORKV_ASSIGN_OR_RETURN(SnapshotInfo info, (*writer)->Finish());
class SnapshotWriter {
 public:
  // Writes the header to `sink` and returns a writer. `sink` is borrowed and must
  // outlive the writer. kInvalidArgument for a replication id that is neither empty nor
  // 40 lowercase hex characters; the sink's error (kIOError) if the header could not be
  // written.
  static Result<std::unique_ptr<SnapshotWriter>> Create(WritableFile& sink,
                                                        const SnapshotPosition& position,
                                                        const SnapshotOptions& options = {});

  // Adds one entry; expire_at_ms is its absolute deadline in Unix ms, 0 for none.
  // kInvalidArgument (nothing added, the writer still usable) for a deadline outside
  // [0, 2^56), a key or value of 2 GiB or more, or an entry of 4 GiB or more; the
  // sink's error when a full block could not be written, after which every call
  // returns that error.
  Status Add(std::string_view key, std::string_view value, int64_t expire_at_ms = 0);

  // Writes the last block and the footer and flushes the sink (it does not Sync or
  // Close it). Returns what was written. After Finish, Add and Finish return
  // kFailedPrecondition. A writer destroyed without Finish leaves a stream that every
  // reader rejects as truncated.
  Result<SnapshotInfo> Finish();

  ~SnapshotWriter();
  SnapshotWriter(const SnapshotWriter&) = delete;
  SnapshotWriter& operator=(const SnapshotWriter&) = delete;

  // Internal; for the snapshot module only.
  class Impl;

 private:
  explicit SnapshotWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// One entry as the reader returns it. The views point into the reader's buffer and are
// valid until the next call to Next.
struct SnapshotEntry {
  std::string_view key;
  // A string's value; for a collection, its payload in the encoding of
  // docs/snapshot-format.md ("collection payload").
  std::string_view value;
  int64_t expire_at_ms = 0;  // absolute Unix ms; 0 means no deadline
  KeyType type = KeyType::kString;
  // Collections only: the replication stream's offset when the writer copied the
  // collection (its stripe locked); a replica skips the collection effects before it.
  uint64_t copy_offset = 0;
};

// Reads a snapshot stream entry by entry, pulling bytes from a source as it goes (a
// file, or a socket that a replica is receiving a full resync on). Thread-compatible.
//
//   auto reader = SnapshotReader::Open(source);
//   if (!reader.ok()) return reader.status();
//   SnapshotEntry entry;
//   while ((*reader)->Next(&entry)) Use(entry);
//   if (!(*reader)->status().ok()) return (*reader)->status();   // discard what was used
//
// Each block is verified against its checksum before any of its entries is returned,
// but the whole stream is verified only at the footer: a caller must not act on the
// entries for good until Next returned false with an OK status (the loaders build a
// fresh store and publish it only then). The reader never reads past the footer, so the
// bytes that follow a snapshot in a stream stay with the caller.
class SnapshotReader {
 public:
  // Reads and verifies the header. `source` is borrowed and must outlive the reader.
  // kCorruption for a source that is not a mirrorkv snapshot (bad magic), an unknown
  // version, a corrupt or truncated header; the source's error (kIOError ...) otherwise.
  static Result<std::unique_ptr<SnapshotReader>> Open(ReadableFile& source,
                                                      const SnapshotReadOptions& options = {});

  // The position from the header.
  const SnapshotPosition& position() const;

  // Fills `*entry` with the next entry and returns true; returns false at the end of
  // the stream (a verified footer: status() is OK) or on the first error (status() says
  // which; every later call returns false). Blocks while the source blocks.
  bool Next(SnapshotEntry* entry);

  // OK while reading and after a complete, verified stream; otherwise the first error:
  // kCorruption with the byte offset and what was wrong there, or the source's error.
  const Status& status() const;

  // Counts so far; complete once Next returned false with an OK status.
  SnapshotInfo info() const;

  ~SnapshotReader();
  SnapshotReader(const SnapshotReader&) = delete;
  SnapshotReader& operator=(const SnapshotReader&) = delete;

  // Internal; for the snapshot module only.
  class Impl;

 private:
  explicit SnapshotReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Writes a snapshot of `store` to `sink`, starting from `position` (the caller captures
// it before calling, e.g. the command log's current position). Safe while other threads
// use the store: the result is fuzzy as described at the top of this file. Entries
// already expired are skipped, except on a replica-mode store. The writer's memory is
// about 2 * block_bytes plus the largest entry, whatever the store's size. Blocks while
// the sink blocks (back-pressure); flushes but does not Sync or Close the sink.
// kInvalidArgument for a bad replication id (nothing written) or an entry of 4 GiB or
// more (a key or value of 2 GiB or more); kResourceExhausted if one batch of entries of
// hundreds of MiB each would overflow a 4 GiB block; otherwise the sink's error. After
// any error the stream is incomplete and every reader rejects it.
Result<SnapshotInfo> WriteSnapshot(Store& store, const SnapshotPosition& position,
                                   WritableFile& sink, const SnapshotOptions& options = {});

// Replaces the content of `store` with the snapshot read from `source`, atomically:
// readers see the old content until the whole stream was read and verified, then the
// new one. Entries already expired are dropped, but kept on a replica-mode store: a
// store that will replay the command log after the load must be in replica mode, or a
// key that expired here but not yet on the primary would miss the log's later changes
// to it. The store's listener and replication sink see nothing (a full resync
// replicates the result itself). Peak memory is the old content plus the new. On any error the
// store is unchanged: kCorruption (what and at which byte) or the source's error. Concurrent writes
// to `store` during the load are lost when the new content is published.
Result<SnapshotInfo> LoadSnapshot(Store& store, ReadableFile& source,
                                  const SnapshotReadOptions& options = {});

// Saves a snapshot of `store` to `path` atomically: writes a temporary file beside it
// (`<path>.tmp.<pid>.<random token>.<n>`, created exclusively), syncs it, renames it over `path`
// and syncs the directory. A crash at any moment leaves either the old file or the new one, whole
// (and possibly a stray temporary file, which is never read and can be deleted). kIOError naming
// the path and the OS error if any step fails; the old file is then intact and the temporary file
// removed, except when only the final directory sync failed (the new file is in place but its
// rename may not be durable yet). kInvalidArgument for a bad replication id. Concurrent saves to
// the same path are safe; the last rename wins.
Result<SnapshotInfo> SaveSnapshotFile(Store& store, const std::string& path,
                                      const SnapshotPosition& position,
                                      const SnapshotOptions& options = {});

// Removes the temporary files that saves to `path` left behind when their process died
// (killed mid-save): those whose writer's pid is no longer running, or is this process's
// own pid, which a restarted process can inherit (PID 1 in a container). Call it before
// this process saves to `path`, typically at start. Files of a live writer and files
// under other names are left alone. Returns the paths removed; kIOError if the directory
// cannot be listed or a file cannot be removed.
Result<std::vector<std::string>> RemoveStaleSnapshotTemporaries(const std::string& path);

// LoadSnapshot from the file at `path`. kNotFound when the file does not exist;
// kCorruption also for bytes after the footer; kIOError for other OS failures. On any
// error the store is unchanged.
Result<SnapshotInfo> LoadSnapshotFile(Store& store, const std::string& path,
                                      const SnapshotReadOptions& options = {});

// Opens a Store with `options` and fills it from the snapshot file at `path`: the way a
// process restarts. A missing file gives an empty store (and, if `info` is non-null, a
// default SnapshotInfo with bytes == 0); a corrupt or unreadable file is an error
// (kCorruption, kIOError), never an empty store. kInvalidArgument for bad options. The
// listener in `options` sees nothing of the load. `info` (optional, borrowed for the
// call) receives what was loaded, including the position to resume replication from.
Result<std::unique_ptr<Store>> OpenStoreFromSnapshot(const std::string& path,
                                                     const StoreOptions& options,
                                                     SnapshotInfo* info = nullptr);

}  // namespace mirrorkv
