// RDB: Redis's snapshot format, for interoperating with Redis: exporting a Store as a
// dump.rdb that redis-server loads, loading a dump.rdb that Redis wrote, and the full
// resyncs between mirrorkv and redis-server (a Redis replica of a mirrorkv primary, a
// mirrorkv replica of a Redis primary).
//
//   // Export: atomic, like SaveSnapshotFile.
//   auto saved = mirrorkv::SaveRdbFile(*store, "dump.rdb");
//   // Import: validated whole before the store's content is replaced.
//   auto loaded = mirrorkv::LoadRdbFile(*store, "dump.rdb");
//
// The format (docs/rdb-format.md) is RDB version 10, as Redis 7.0 writes and reads it:
// the magic "REDIS0010", auxiliary fields, the keys of database 0 with their deadlines,
// an end marker and a CRC-64 of everything before it.
//
// Writing walks the Store exactly as WriteSnapshot does (no fork, no copy of the data
// set, stripe locks held only while a small batch is copied; see snapshot.h), so the
// result is fuzzy in the same way and is made exact by the command log's stream from
// the position captured before the walk.
//
// Reading validates everything before anything is published: every malformed input
// (bad magic, an unsupported version, truncation at any byte, a wrong checksum,
// impossible lengths, an undecodable compressed string) is kCorruption naming what is
// wrong and at which byte, and the target Store keeps its content. Strings, lists, sets,
// hashes and sorted sets are read in every encoding Redis has written (the packed ones
// included: listpack, ziplist, intset, zipmap) and written in plain encodings that every
// Redis loads. An RDB with streams or module values, or keys in a database other than
// 0, is refused (kInvalidArgument naming the first such key, its type and how many
// there are), unless RdbReadOptions::skip_unsupported asks to load database 0's other
// keys and count the rest.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "mirrorkv/file.h"
#include "mirrorkv/snapshot.h"
#include "mirrorkv/status.h"
#include "mirrorkv/store.h"

namespace mirrorkv {

// How an RDB is written. Plain struct; every field has a default.
struct RdbWriteOptions {
  // Recorded as the AUX fields repl-id and repl-offset (as Redis records its own
  // replication position), so that a Redis restarted from the file knows where it
  // stood. An empty id writes neither field.
  SnapshotPosition position;
  // Compress string values longer than 20 bytes with LZF when that saves space, as
  // Redis does with `rdbcompression yes`. Costs CPU for data that does not compress.
  bool compress = true;
  // Entry bytes copied per stripe-lock hold; see SnapshotOptions::batch_bytes.
  size_t batch_bytes = 32 << 10;
  // Encoded bytes gathered before each write to the sink, clamped to [4 KiB, 16 MiB].
  size_t buffer_bytes = 256 << 10;
  // Optional; called after each write to the sink (SnapshotProgress::bytes_done).
  SnapshotProgressCallback progress;
};

// How an RDB is read. Plain struct; every field has a default.
struct RdbReadOptions {
  // Larger keys or values are kCorruption before anything is allocated for them;
  // LoadRdb uses the smaller of these and the target store's limits.
  size_t max_key_bytes = 512u << 20;
  size_t max_value_bytes = 512u << 20;
  // Off: a stream or module key, a key in a database other than 0, or a function
  // library makes the load fail with kInvalidArgument (the store unchanged). On: they
  // are skipped and counted in RdbLoadInfo, and the other keys of database 0 load.
  bool skip_unsupported = false;
  // Optional; called every few MiB read (bytes_done, and bytes_expected when the
  // source's size is known).
  SnapshotProgressCallback progress;
};

// What an RDB load found.
struct RdbLoadInfo {
  // The RDB version from the header (1 to 10) and the AUX field redis-ver, if any.
  int version = 0;
  std::string redis_version;
  // The AUX fields repl-id and repl-offset, if the writer recorded them (empty id
  // otherwise). A Redis primary records its replication position there.
  SnapshotPosition position;
  // Keys of database 0 read (including expired ones; an empty collection, which Redis
  // also leaves out, counts but is not loaded), and of those, the ones dropped because
  // their deadline had passed (never on a replica-mode store).
  uint64_t keys = 0;
  uint64_t expired = 0;
  // With skip_unsupported: keys left out (other types, other databases), function
  // libraries left out, and a description of the first key left out, such as
  // "'events' (stream, db 0)". Without it these are all zero or empty on success.
  uint64_t skipped_keys = 0;
  uint64_t skipped_functions = 0;
  std::string first_skipped;
  // Bytes read, the header to the checksum.
  uint64_t bytes = 0;
  std::chrono::nanoseconds elapsed{0};
};

// Writes every key of `store` (strings and collections) with its deadline as an RDB to
// `sink`. Safe while other threads use the store (fuzzy, as WriteSnapshot: each key is
// copied whole, under its stripe lock, at its own moment). Replaying the command log from
// options.position over the result is exact for strings, sets, hashes and sorted sets,
// whose logged effects are idempotent; a list changed while the walk runs can receive the
// effects of that time twice (see docs/rdb-format.md). Keys already expired are left
// out, except on a replica-mode store. Memory: about buffer_bytes plus the largest
// entry, whatever the store's size. Flushes but does not Sync or Close the sink.
// kInvalidArgument for a replication id that is neither empty nor 40 lowercase hex
// characters (nothing written); otherwise the sink's error, after which the output is
// incomplete and every reader rejects it.
Result<SnapshotInfo> WriteRdb(Store& store, WritableFile& sink,
                              const RdbWriteOptions& options = {});

// WriteRdb to `path`, atomically as SaveSnapshotFile does (temporary file, fsync,
// rename, directory fsync): a crash leaves the old file or the new one, whole. kIOError
// naming the path and the OS error; the old file is then intact.
Result<SnapshotInfo> SaveRdbFile(Store& store, const std::string& path,
                                 const RdbWriteOptions& options = {});

// Replaces the content of `store` with the keys of database 0 of the RDB read
// from `source`, atomically for readers, once all of it was read and its checksum
// verified (a checksum of zero means the writer computed none, as Redis reads it).
// Reads exactly up to the end of the checksum, so bytes that follow in a stream stay
// with the caller. Expired keys are dropped, except on a replica-mode store. The
// store's listener and replication sink see nothing. On any error the store is
// unchanged: kCorruption (what and at which byte), kInvalidArgument for content
// mirrorkv does not hold (see skip_unsupported), or the source's error.
Result<RdbLoadInfo> LoadRdb(Store& store, ReadableFile& source, const RdbReadOptions& options = {});

// LoadRdb from the file at `path`; bytes after the checksum are kCorruption. kNotFound
// when the file does not exist; kIOError for other OS failures.
Result<RdbLoadInfo> LoadRdbFile(Store& store, const std::string& path,
                                const RdbReadOptions& options = {});

// Whether `prefix` (the first bytes of a file) starts like an RDB: "REDIS" then a
// digit. Cheap; the load still validates everything.
bool LooksLikeRdb(std::string_view prefix);

}  // namespace mirrorkv
