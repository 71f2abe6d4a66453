// SnapshotWriter and WriteSnapshot: encode entries into blocks, compress them with lz4,
// checksum them and stream them to a WritableFile.
//
// WriteSnapshot walks the store with Store::Impl::Walk, which visits whole buckets of
// one stripe under that stripe's lock. The visitor only copies the entry into the
// uncompressed block buffer (a memcpy, at most one buffer growth), so a stripe lock is
// held for about `batch_bytes` of copying; compression, checksums and the sink's I/O
// happen after Walk returned, with no lock held. Nothing else is retained: memory is the
// block buffer and the compressed buffer, whatever the size of the store.
#include <lz4.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "engine/base/check.h"
#include "engine/store_impl.h"
#include "mirrorkv/clock.h"
#include "mirrorkv/snapshot.h"
#include "snapshot/buffer.h"
#include "snapshot/snapshot_file.h"
#include "snapshot/snapshot_format.h"

namespace mirrorkv {

namespace fmt = internal::snapshot;

namespace {

using internal::snapshot::Buffer;

constexpr size_t kMinBlockBytes = 4 << 10;
constexpr size_t kMaxBlockBytes = 16 << 20;
constexpr size_t kMinBatchBytes = 1 << 10;
// A block's raw length is a u32.
constexpr uint64_t kMaxRawBytes = UINT32_MAX;
// A Walk batch asks for at most this many entries, so that a run of tiny entries cannot
// make one lock hold long either.
constexpr size_t kMaxBatchEntries = 4096;

}  // namespace

class SnapshotWriter::Impl {
 public:
  Impl(WritableFile& sink, const SnapshotOptions& options)
      : sink_(sink),
        block_bytes_(std::clamp(options.block_bytes, kMinBlockBytes, kMaxBlockBytes)),
        batch_bytes_(std::clamp(options.batch_bytes, kMinBatchBytes, block_bytes_)),
        compress_(options.compress),
        progress_(options.progress),
        start_(std::chrono::steady_clock::now()) {
    XXH3_INITSTATE(&stream_hash_);
    XXH3_64bits_reset(&stream_hash_);
    // Room for a full block plus one batch of overshoot, so the buffer rarely grows
    // while a stripe lock is held; touched now so that its first use under a lock
    // takes no page faults either.
    std::memset(raw_.Reserve(block_bytes_ + batch_bytes_), 0, block_bytes_ + batch_bytes_);
  }

  // Writes the header. The position must have been validated. `with_history`: the
  // stream will carry a history frame (AddHistory), which needs version 3.
  Status Start(const SnapshotPosition& position, int64_t created_ms, bool with_history = false) {
    info_.position = position;
    char header[fmt::kHeaderBytes];
    fmt::EncodeHeader(position, with_history ? fmt::kVersion : fmt::kVersionWithoutHistory,
                      created_ms, header);
    return Write({header, sizeof(header)}, /*hash=*/true);
  }

  // Writes the history frame, after the last block (Finish writes no more blocks).
  Status AddHistory(std::string_view stream) {
    MIRRORKV_RETURN_IF_ERROR(CheckUsable());
    MIRRORKV_RETURN_IF_ERROR(FlushBlock());
    char head[fmt::kHistoryHeadBytes];
    head[0] = static_cast<char>(fmt::FrameTag::kHistory);
    fmt::PutU64(head + 1, stream.size());
    MIRRORKV_RETURN_IF_ERROR(Write({head, sizeof(head)}, /*hash=*/true));
    MIRRORKV_RETURN_IF_ERROR(Write(stream, /*hash=*/true));
    info_.has_history = true;
    info_.history_bytes = stream.size();
    return Status::Ok();
  }

  // Checks that an entry can be encoded: kInvalidArgument otherwise.
  static Status CheckEntry(std::string_view key, std::string_view value, int64_t deadline_ms) {
    if (deadline_ms < 0 || deadline_ms > fmt::kMaxDeadlineMs) {
      return Status::InvalidArgument("snapshot entry deadline outside [0, 2^56)");
    }
    if (key.size() > fmt::kMaxPartBytes || value.size() > fmt::kMaxPartBytes) {
      return Status::InvalidArgument("snapshot entry key or value of 2 GiB or more");
    }
    if (key.size() + value.size() > kMaxRawBytes - fmt::kMaxEntryOverheadBytes) {
      return Status::InvalidArgument("snapshot entry of 4 GiB or more");
    }
    return Status::Ok();
  }

  // Copies a checked entry into the block buffer. No I/O, so callers may hold a stripe
  // lock; allocates only when the entry does not fit the buffer's capacity.
  void AddToBlock(std::string_view key, std::string_view value, int64_t deadline_ms,
                  bool collection = false) {
    const size_t n = fmt::EntryBytes(key.size(), value.size(), deadline_ms > 0);
    char* end = fmt::EncodeEntry(raw_.Reserve(n), key, value, deadline_ms, collection);
    MIRRORKV_DCHECK(end == raw_.data() + raw_.size() + n);
    (void)end;
    raw_.Commit(n);
    ++block_entries_;
  }

  Status Add(std::string_view key, std::string_view value, int64_t deadline_ms) {
    MIRRORKV_RETURN_IF_ERROR(CheckUsable());
    MIRRORKV_RETURN_IF_ERROR(CheckEntry(key, value, deadline_ms));
    // Keep a block within the 4 GiB its u32 length can describe.
    if (!fits(key, value, deadline_ms)) MIRRORKV_RETURN_IF_ERROR(FlushBlock());
    AddToBlock(key, value, deadline_ms);
    if (block_full()) return FlushBlock();
    return Status::Ok();
  }

  bool block_full() const { return raw_.size() >= block_bytes_; }
  // Whether an entry of these sizes still fits the current block's u32 length.
  bool fits(std::string_view key, std::string_view value, int64_t deadline_ms) const {
    return raw_.size() + fmt::EntryBytes(key.size(), value.size(), deadline_ms > 0) <= kMaxRawBytes;
  }
  size_t block_room() const { return raw_.size() >= block_bytes_ ? 0 : block_bytes_ - raw_.size(); }
  size_t batch_bytes() const { return batch_bytes_; }
  void set_entries_expected(uint64_t n) { entries_expected_ = n; }
  void add_expired(uint64_t n) { info_.expired += n; }
  void note_lock_hold(std::chrono::nanoseconds hold) {
    info_.longest_lock_hold = std::max(info_.longest_lock_hold, hold);
  }

  // Compresses, checksums and writes the buffered entries as one block, if any.
  Status FlushBlock() {
    MIRRORKV_RETURN_IF_ERROR(CheckUsable());
    if (block_entries_ == 0) return Status::Ok();
    const size_t raw_len = raw_.size();
    std::string_view raw(raw_.data(), raw_len);
    char head[fmt::kBlockHeadBytes];
    fmt::Codec codec = fmt::Codec::kNone;
    std::string_view stored = raw;
    if (compress_ && raw_len <= LZ4_MAX_INPUT_SIZE) {
      const int bound = LZ4_compressBound(static_cast<int>(raw_len));
      char* out = compressed_.Reserve(static_cast<size_t>(bound));
      if (lz4_state_ == nullptr) lz4_state_.reset(new char[LZ4_sizeofState()]);
      const int n = LZ4_compress_fast_extState(lz4_state_.get(), raw.data(), out,
                                               static_cast<int>(raw_len), bound, 1);
      // Incompressible data (random tokens, already compressed values) is stored raw:
      // same size on disk, and the reader skips the decompression.
      if (n > 0 && static_cast<size_t>(n) < raw_len) {
        codec = fmt::Codec::kLz4;
        stored = {out, static_cast<size_t>(n)};
      }
    }
    fmt::EncodeBlockHead(codec, static_cast<uint32_t>(block_entries_),
                         static_cast<uint32_t>(raw_len), stored, head);
    MIRRORKV_RETURN_IF_ERROR(Write({head, sizeof(head)}, /*hash=*/true));
    MIRRORKV_RETURN_IF_ERROR(Write(stored, /*hash=*/true));
    info_.entries += block_entries_;
    info_.raw_bytes += raw_len;
    ++info_.blocks;
    block_entries_ = 0;
    raw_.clear();
    raw_.Trim(block_bytes_ + batch_bytes_);
    compressed_.Trim(static_cast<size_t>(LZ4_compressBound(static_cast<int>(block_bytes_))));
    if (progress_) {
      progress_(SnapshotProgress{.entries_done = info_.entries,
                                 .entries_expected = entries_expected_,
                                 .bytes_done = info_.bytes,
                                 .bytes_expected = 0});
    }
    return Status::Ok();
  }

  Result<SnapshotInfo> Finish() {
    MIRRORKV_RETURN_IF_ERROR(CheckUsable());
    MIRRORKV_RETURN_IF_ERROR(FlushBlock());
    char counts[fmt::kFooterHashedBytes];
    fmt::EncodeFooterCounts(info_.entries, info_.blocks, counts);
    MIRRORKV_RETURN_IF_ERROR(Write({counts, sizeof(counts)}, /*hash=*/true));
    char checksum[8];
    fmt::PutU64(checksum, XXH3_64bits_digest(&stream_hash_));
    MIRRORKV_RETURN_IF_ERROR(Write({checksum, sizeof(checksum)}, /*hash=*/false));
    MIRRORKV_RETURN_IF_ERROR(Fail(sink_.Flush()));
    finished_ = true;
    info_.elapsed = std::chrono::steady_clock::now() - start_;
    return info_;
  }

 private:
  Status CheckUsable() const {
    if (finished_) return Status::FailedPrecondition("snapshot writer already finished");
    return status_;
  }

  // Records the first sink error: every later call returns it.
  Status Fail(Status status) {
    if (!status.ok() && status_.ok()) status_ = status;
    return status;
  }

  Status Write(std::string_view bytes, bool hash) {
    if (bytes.empty()) return Status::Ok();
    if (hash) XXH3_64bits_update(&stream_hash_, bytes.data(), bytes.size());
    MIRRORKV_RETURN_IF_ERROR(Fail(sink_.Append(bytes)));
    info_.bytes += bytes.size();
    return Status::Ok();
  }

  WritableFile& sink_;
  const size_t block_bytes_;
  const size_t batch_bytes_;
  const bool compress_;
  const SnapshotProgressCallback progress_;
  const std::chrono::steady_clock::time_point start_;

  Buffer raw_;         // the current block's encoded entries
  Buffer compressed_;  // lz4's output for it
  size_t block_entries_ = 0;
  std::unique_ptr<char[]> lz4_state_;  // LZ4_compress_fast_extState's tables, reused
  XXH3_state_t stream_hash_;           // every byte written before the footer checksum
  uint64_t entries_expected_ = 0;
  SnapshotInfo info_;
  Status status_;
  bool finished_ = false;
};

SnapshotWriter::SnapshotWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SnapshotWriter::~SnapshotWriter() = default;

Result<std::unique_ptr<SnapshotWriter>> SnapshotWriter::Create(WritableFile& sink,
                                                               const SnapshotPosition& position,
                                                               const SnapshotOptions& options) {
  MIRRORKV_RETURN_IF_ERROR(fmt::ValidateReplicationId(position.replication_id));
  auto impl = std::make_unique<Impl>(sink, options);
  MIRRORKV_RETURN_IF_ERROR(impl->Start(position, SystemClock::Default()->NowMillis()));
  return std::unique_ptr<SnapshotWriter>(new SnapshotWriter(std::move(impl)));
}

Status SnapshotWriter::Add(std::string_view key, std::string_view value, int64_t expire_at_ms) {
  return impl_->Add(key, value, expire_at_ms);
}

Result<SnapshotInfo> SnapshotWriter::Finish() { return impl_->Finish(); }

namespace {

bool Cancelled(const SnapshotOptions& options) {
  return options.cancelled != nullptr && options.cancelled();
}

}  // namespace

namespace internal {

Status CancelledStatus() { return Status::FailedPrecondition("the save was cancelled"); }

}  // namespace internal

namespace {

fmt::CollectionTag CollectionTagOf(KeyType type) {
  switch (type) {
    case KeyType::kList:
      return fmt::CollectionTag::kList;
    case KeyType::kSet:
      return fmt::CollectionTag::kSet;
    case KeyType::kHash:
      return fmt::CollectionTag::kHash;
    case KeyType::kSortedSet:
    case KeyType::kNone:
    case KeyType::kString:
      break;
  }
  return fmt::CollectionTag::kSortedSet;
}

}  // namespace

Result<SnapshotInfo> WriteSnapshot(Store& store, const SnapshotPosition& position,
                                   WritableFile& sink, const SnapshotOptions& options) {
  return internal::WriteSnapshotAt(
      store, position, sink, options, [&position] { return position.offset; }, nullptr);
}

namespace internal {

Result<SnapshotInfo> WriteSnapshotAt(Store& store, const SnapshotPosition& position,
                                     WritableFile& sink, const SnapshotOptions& options,
                                     const std::function<uint64_t()>& stream_position,
                                     const HistorySource& history) {
  MIRRORKV_RETURN_IF_ERROR(fmt::ValidateReplicationId(position.replication_id));
  Store::Impl& engine = store.impl();
  SnapshotWriter::Impl writer(sink, options);
  MIRRORKV_RETURN_IF_ERROR(
      writer.Start(position, engine.clock().NowMillis(), /*with_history=*/history != nullptr));
  writer.set_entries_expected(store.size());

  // A replica keeps keys past their deadline until its primary deletes them, and so
  // does its snapshot; a primary's snapshot leaves them out (its log will delete them).
  const bool keep_expired = engine.replica();
  Status entry_error;
  uint64_t expired = 0;
  // Bytes per visited entry, to turn the byte budget of a batch into the entry count
  // Walk takes. Walk has no byte budget of its own, so a batch of entries much larger
  // than the recent ones copies more than batch_bytes: the estimate starts at 4 KiB (the
  // first batch asks for a few entries only) and follows the mean of the last batches.
  size_t average_entry = 4096;
  std::string collection_value;  // one collection's value, reused
  uint64_t cursor = 0;
  do {
    const size_t budget = std::max<size_t>(std::min(writer.batch_bytes(), writer.block_room()), 1);
    const size_t max_entries = std::clamp<size_t>(budget / average_entry, 1, kMaxBatchEntries);
    const int64_t now = engine.clock().NowMillis();
    size_t visited = 0;
    size_t visited_bytes = 0;
    // The hold is timed from the first visit (the lock is held by then) to Walk's
    // return (just after the last unlock): waiting for the lock is not holding it.
    std::chrono::steady_clock::time_point locked_at;
    cursor = engine.WalkEntries(cursor, max_entries, [&](const internal::Entry& e) {
      std::string_view key = e.key();
      std::string_view value = e.value();
      const int64_t deadline = e.deadline();
      const bool collection = !e.is_string();
      if (visited++ == 0) locked_at = std::chrono::steady_clock::now();
      if (collection && !(!keep_expired && deadline != 0 && deadline <= now)) {
        // Copied while the stripe is locked, with the stream position of that moment
        // (docs/design.md, "Exact replay of collections").
        collection_value.clear();
        collection_value.push_back(static_cast<char>(CollectionTagOf(e.type())));
        collection_value.append(8, '\0');
        fmt::PutU64(collection_value.data() + 1, stream_position());
        internal::EncodeCollection(*e.collection(), &collection_value);
        value = collection_value;
      }
      visited_bytes += key.size() + value.size() + 4;
      if (!keep_expired && deadline != 0 && deadline <= now) {
        ++expired;
        return;
      }
      Status checked = SnapshotWriter::Impl::CheckEntry(key, value, deadline);
      if (checked.ok() && !writer.fits(key, value, deadline)) {
        // Only a batch of several entries of hundreds of MiB each
        // gets here; the block cannot be flushed under the lock.
        checked = Status::ResourceExhausted("snapshot batch of huge entries exceeds a 4 GiB block");
      }
      if (!checked.ok()) {
        if (entry_error.ok()) entry_error = checked;
        return;
      }
      writer.AddToBlock(key, value, deadline, collection);
    });
    if (visited > 0) writer.note_lock_hold(std::chrono::steady_clock::now() - locked_at);
    if (!entry_error.ok()) return entry_error;
    if (visited > 0) {
      // An even mix of the old estimate and this batch: adapts within a few batches.
      average_entry = std::max<size_t>((average_entry + visited_bytes / visited) / 2, 1);
    }
    if (writer.block_full()) MIRRORKV_RETURN_IF_ERROR(writer.FlushBlock());
    if (Cancelled(options)) return internal::CancelledStatus();
  } while (cursor != 0);
  writer.add_expired(expired);
  if (history != nullptr) {
    std::optional<std::string> stream = history();
    if (Cancelled(options)) return internal::CancelledStatus();
    if (stream.has_value()) MIRRORKV_RETURN_IF_ERROR(writer.AddHistory(*stream));
  }
  return writer.Finish();
}

}  // namespace internal

}  // namespace mirrorkv
