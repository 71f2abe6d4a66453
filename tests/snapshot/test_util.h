// Helpers shared by the snapshot tests: seeds, random data sets, store contents, the
// deterministic file doubles (a sink that fails its k-th write, one that blocks, a source
// that returns one byte at a time or fails at byte k) and a builder for hand-made
// streams whose checksums are right but whose content is not.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mirrorkv/file.h"
#include "mirrorkv/snapshot.h"
#include "mirrorkv/store.h"
#include "snapshot/snapshot_format.h"
#include "tests/store_util.h"

namespace mirrorkv::testutil {

// The seed of a randomized test: MIRRORKV_TEST_SEED when set, else `fallback`. Printed,
// and recorded as a test property, so that a failure can be replayed.
uint64_t SeedFromEnv(uint64_t fallback);

// A key's value and deadline (0: none).
struct Item {
  std::string value;
  int64_t deadline = 0;
  friend bool operator==(const Item&, const Item&) = default;
};
using Contents = std::map<std::string, Item>;

// Every entry of `store` (expired ones included), read with Store::Impl::Walk.
Contents AllEntries(Store& store);
// The entries whose deadline is after `now_ms`.
Contents LiveEntries(Store& store, int64_t now_ms);

// A random data set: binary keys (NUL and high bytes included, the empty key once),
// values from empty to `max_value` bytes, and about a third with a deadline in
// [now + 1 s, now + 1 day).
Contents RandomContents(std::mt19937_64& rng, size_t count, size_t max_value, int64_t now_ms);
// `n` random bytes; `compressible` makes runs of repeated text instead.
std::string RandomBytes(std::mt19937_64& rng, size_t n, bool compressible = false);

// Stores every item of `contents` in `store` (through Apply, deadlines as given).
void Fill(Store& store, const Contents& contents);

// A snapshot of `store` in memory; aborts the test on error.
std::string SnapshotToString(Store& store, const SnapshotPosition& position = {},
                             const SnapshotOptions& options = {});

// Fails the `fail_at`-th Append (1-based), and every later call, with kIOError; with
// `fail_sync`, Sync fails instead. Counts appends in appends(). Wraps `inner` (which
// may be null: the bytes then go nowhere).
class FaultyWritableFile final : public WritableFile {
 public:
  FaultyWritableFile(std::unique_ptr<WritableFile> inner, int fail_at, bool fail_sync = false)
      : inner_(std::move(inner)), fail_at_(fail_at), fail_sync_(fail_sync) {}
  Status Append(std::string_view data) override;
  Status Flush() override;
  Status Sync() override;
  Status Close() override;
  int appends() const { return appends_; }

 private:
  std::unique_ptr<WritableFile> inner_;
  const int fail_at_;
  const bool fail_sync_;
  int appends_ = 0;
  bool failed_ = false;
};

// Returns at most `max_read` bytes per Read, hides its size() if `sized` is false, and
// fails with kIOError once `fail_at` bytes were read (if set).
class TrickleReadableFile final : public ReadableFile {
 public:
  TrickleReadableFile(std::string_view data, size_t max_read, bool sized = true,
                      std::optional<size_t> fail_at = std::nullopt)
      : data_(data), max_read_(max_read), sized_(sized), fail_at_(fail_at) {}
  Result<size_t> Read(char* buffer, size_t n) override;
  std::optional<uint64_t> size() const override;

 private:
  std::string_view data_;
  const size_t max_read_;
  const bool sized_;
  const std::optional<size_t> fail_at_;
  size_t offset_ = 0;
};

// Builds a stream piece by piece with correct checksums, so that tests can produce
// well-checksummed streams that break one rule of the grammar.
class StreamBuilder {
 public:
  explicit StreamBuilder(const SnapshotPosition& position = {},
                         uint32_t version = internal::snapshot::kVersionWithoutHistory);
  // Appends a block holding `raw` (encoded entries) that declares `entries` entries.
  StreamBuilder& Block(std::string_view raw, uint32_t entries,
                       internal::snapshot::Codec codec = internal::snapshot::Codec::kNone);
  // Appends a block whose head fields are given as is (lengths may lie); `stored` is
  // the payload written after it.
  StreamBuilder& RawBlock(internal::snapshot::Codec codec, uint32_t entries, uint32_t raw_len,
                          std::string_view stored);
  // Appends the footer with the given counts (default: the true ones) and a correct
  // stream checksum, and returns the stream.
  std::string Finish(std::optional<uint64_t> entries = std::nullopt,
                     std::optional<uint64_t> blocks = std::nullopt);
  // Appends raw bytes (counted in no total).
  StreamBuilder& Bytes(std::string_view bytes);
  // Appends a history frame holding `stream`, declaring `length` bytes (default: its
  // size).
  StreamBuilder& History(std::string_view stream, std::optional<uint64_t> length = std::nullopt);

  // One encoded entry.
  static std::string Entry(std::string_view key, std::string_view value, int64_t deadline = 0);

 private:
  std::string out_;
  uint64_t entries_ = 0;
  uint64_t blocks_ = 0;
};

}  // namespace mirrorkv::testutil
