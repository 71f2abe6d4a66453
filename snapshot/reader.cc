// SnapshotReader and LoadSnapshot: pull a snapshot stream from a ReadableFile, verify
// it and fill a fresh store that replaces the target's content only once all of it was
// verified.
//
// The reader trusts nothing: every length is checked against the configured limits and,
// when the source knows its size, against what remains, before anything is allocated
// for it; payloads are read in pieces of at most kReadChunkBytes, so a lying length
// costs memory only in proportion to the bytes that actually arrived. A block's entries
// are handed out only after its checksum matched, and the footer's checksum covers every
// byte before it, so a flipped bit anywhere is caught at the latest at the footer.
#include <lz4.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/base/strings.h"
#include "engine/store_impl.h"
#include "engine/striped_table.h"
#include "mirrorkv/mutation.h"
#include "mirrorkv/snapshot.h"
#include "snapshot/buffer.h"
#include "snapshot/snapshot_file.h"
#include "snapshot/snapshot_format.h"

namespace mirrorkv {

namespace fmt = internal::snapshot;

namespace {

// Payloads are read in pieces of this size at most (see the top of the file).
constexpr size_t kReadChunkBytes = 1 << 20;
// The raw size of a block is bounded by the writer's largest block size or by one
// entry of the largest allowed key and value, whichever is larger.
constexpr size_t kMaxBlockTargetBytes = 16 << 20;
// LZ4 cannot expand a block by more than about 255 times (a byte of match length per
// 255 bytes of output); a larger claimed ratio is corruption, and rejecting it stops a
// tiny crafted payload from making the reader allocate gigabytes.
constexpr uint64_t kMaxLz4Ratio = 256;

Status Corrupt(uint64_t at, const std::string& what) {
  return Status::Corruption(absl::StrCat("snapshot corrupt at byte ", at, ": ", what));
}

}  // namespace

// The reader is a small state machine driven by Next: between blocks it reads one frame
// (a block or the footer); within a block it decodes one entry per call, straight from
// the decoded block buffer, so an entry costs no copy and no allocation.
class SnapshotReader::Impl {
 public:
  Impl(ReadableFile& source, const SnapshotReadOptions& options)
      : source_(source),
        max_key_bytes_(std::min<uint64_t>(options.max_key_bytes, fmt::kMaxPartBytes)),
        max_value_bytes_(std::min<uint64_t>(options.max_value_bytes, fmt::kMaxPartBytes)),
        max_block_bytes_(std::min<uint64_t>(
            UINT32_MAX, std::max<uint64_t>(kMaxBlockTargetBytes, max_key_bytes_ + max_value_bytes_ +
                                                                     fmt::kMaxEntryOverheadBytes))),
        progress_(options.progress),
        size_(source.size()) {
    XXH3_INITSTATE(&stream_hash_);
    XXH3_64bits_reset(&stream_hash_);
  }

  // Checks the header in the order that gives the most useful message: a stream that is
  // not a snapshot at all says so (magic) before a truncation or checksum message could,
  // and a snapshot from a newer writer says "unsupported version" rather than "corrupt",
  // since a later version may lay the rest of the header out differently.
  Status ReadHeader() {
    char header[fmt::kHeaderBytes];
    MIRRORKV_ASSIGN_OR_RETURN(size_t got, ReadUpTo(header, sizeof(header)));
    offset_ = got;
    if (got == 0) return Status::Corruption("not a mirrorkv snapshot: the stream is empty");
    if (std::memcmp(header, fmt::kMagic, std::min(got, fmt::kMagicBytes)) != 0) {
      return Corrupt(0, "bad magic: not a mirrorkv snapshot");
    }
    if (got < sizeof(header)) return Truncated("the header", sizeof(header), got);
    const uint32_t version = fmt::GetU32(header + 8);
    if (version < fmt::kMinVersion || version > fmt::kVersion) {
      return Corrupt(
          8, absl::StrCat("unsupported snapshot version ", version, " (this build reads versions ",
                          fmt::kMinVersion, " to ", fmt::kVersion, ")"));
    }
    version_ = version;
    if (fmt::Hash64({header, fmt::kHeaderHashedBytes}) != fmt::GetU64(header + 72)) {
      return Corrupt(72, "header checksum mismatch");
    }
    if (const uint32_t flags = fmt::GetU32(header + 12); flags != 0) {
      return Corrupt(12, absl::StrFormat("unknown header flags 0x%08x", flags));
    }
    // The checksum matched, so a bad id means a broken writer, still reported as corrupt
    // input rather than trusted.
    std::string_view id(header + 16, fmt::kReplicationIdBytes);
    if (!fmt::ValidateReplicationId(id).ok()) {
      return Corrupt(16, "the replication id is not 40 lowercase hex characters");
    }
    if (id.find_first_not_of('0') != std::string_view::npos) info_.position.replication_id = id;
    info_.position.offset = fmt::GetU64(header + 56);
    XXH3_64bits_update(&stream_hash_, header, sizeof(header));
    return Status::Ok();
  }

  // The first error sticks: a stream that failed once is never read further, so no
  // entry can be returned from beyond a damaged frame.
  bool Next(SnapshotEntry* entry) {
    if (!status_.ok() || done_) return false;
    while (entries_left_ == 0) {
      status_ = ReadFrame();
      if (!status_.ok() || done_) return false;
    }
    status_ = ParseEntry(entry);
    return status_.ok();
  }

  // After a complete stream: whether the source has no byte left. Reads one byte.
  Result<bool> AtEnd() {
    char byte;
    MIRRORKV_ASSIGN_OR_RETURN(size_t got, ReadUpTo(&byte, 1));
    return got == 0;
  }

  const Status& status() const { return status_; }
  // Whether the entries Next returned so far complete their block: the views into it
  // stay valid until the next call to Next, which may read the next block.
  bool block_done() const { return entries_left_ == 0; }
  const SnapshotPosition& position() const { return info_.position; }
  uint64_t offset() const { return offset_; }
  // The history frame's stream (empty without one); verified once Next returned false
  // with an OK status.
  std::string_view history() const { return history_; }
  SnapshotInfo info() const {
    SnapshotInfo info = info_;
    info.bytes = offset_;
    return info;
  }

 private:
  // Reads until `n` bytes or the end of the stream; returns how many arrived.
  Result<size_t> ReadUpTo(char* out, size_t n) {
    size_t got = 0;
    while (got < n) {
      Result<size_t> read = source_.Read(out + got, n - got);
      if (!read.ok()) {
        return read.status().WithContext(absl::StrCat("reading snapshot at byte ", offset_ + got));
      }
      if (*read == 0) break;  // the end: the caller decides whether that is a truncation
      // A source that claims more than it was given room for is broken; trusting the
      // count would read past `out`.
      if (*read > n - got) {
        return Status::IOError("snapshot source returned more bytes than were asked for");
      }
      got += *read;
    }
    return got;
  }

  // Reads exactly `n` bytes of `what`, adding them to the stream checksum if `hash`.
  Status ReadExact(char* out, size_t n, const std::string& what, bool hash = true) {
    MIRRORKV_ASSIGN_OR_RETURN(size_t got, ReadUpTo(out, n));
    if (hash) XXH3_64bits_update(&stream_hash_, out, got);
    offset_ += got;
    if (got < n) return Truncated(what, n, got);
    return Status::Ok();
  }

  Status Truncated(const std::string& what, size_t wanted, size_t got) const {
    return Status::Corruption(absl::StrCat("snapshot truncated at byte ", offset_,
                                           ": the stream ended ", got, " bytes into ", what, " of ",
                                           wanted, " bytes"));
  }

  // The bytes left in the source, when its size is known.
  std::optional<uint64_t> remaining() const {
    if (!size_.has_value()) return std::nullopt;
    return *size_ > offset_ ? *size_ - offset_ : 0;
  }

  // Reads one frame tag and dispatches. Every byte read is added to the stream checksum
  // as it arrives, so the footer can be checked without keeping anything.
  Status ReadFrame() {
    const uint64_t at = offset_;
    char tag;
    MIRRORKV_ASSIGN_OR_RETURN(size_t got, ReadUpTo(&tag, 1));
    if (got == 0) {
      return Status::Corruption(
          absl::StrCat("snapshot truncated at byte ", at, ": the stream ended before the footer"));
    }
    XXH3_64bits_update(&stream_hash_, &tag, 1);
    ++offset_;
    switch (static_cast<fmt::FrameTag>(tag)) {
      case fmt::FrameTag::kBlock:
        return ReadBlock(at);
      case fmt::FrameTag::kFooter:
        return ReadFooter(at);
      case fmt::FrameTag::kHistory:
        return ReadHistory(at);
    }
    return Corrupt(at, absl::StrFormat("unknown frame tag 0x%02x", static_cast<uint8_t>(tag)));
  }

  Status ReadBlock(uint64_t at) {
    if (info_.has_history) return Corrupt(at, "a block after the history frame");
    const std::string block_name = absl::StrCat("block ", info_.blocks);
    char head[fmt::kBlockHeadBytes];
    head[0] = static_cast<char>(fmt::FrameTag::kBlock);
    MIRRORKV_RETURN_IF_ERROR(
        ReadExact(head + 1, sizeof(head) - 1, absl::StrCat("the head of ", block_name)));
    const auto codec = static_cast<fmt::Codec>(head[1]);
    const uint32_t entries = fmt::GetU32(head + 2);
    const uint32_t raw_len = fmt::GetU32(head + 6);
    const uint32_t stored_len = fmt::GetU32(head + 10);
    const uint64_t checksum = fmt::GetU64(head + 14);
    // Every length is checked before anything is read or allocated for it.
    if (codec != fmt::Codec::kNone && codec != fmt::Codec::kLz4) {
      return Corrupt(at + 1, absl::StrFormat("%s has unknown codec 0x%02x", block_name,
                                             static_cast<uint8_t>(head[1])));
    }
    if (entries == 0) return Corrupt(at + 2, absl::StrCat(block_name, " has no entries"));
    if (raw_len > max_block_bytes_) {
      return Corrupt(at + 6, absl::StrCat(block_name, " claims ", raw_len,
                                          " raw bytes, over the limit of ", max_block_bytes_));
    }
    if (entries > raw_len / fmt::kMinEntryBytes) {
      return Corrupt(at + 2, absl::StrCat(block_name, " claims ", entries,
                                          " entries, more than fit in ", raw_len, " bytes"));
    }
    if (codec == fmt::Codec::kNone && stored_len != raw_len) {
      return Corrupt(at + 10, absl::StrCat(block_name, " is stored raw but its lengths differ (",
                                           stored_len, " stored, ", raw_len, " raw)"));
    }
    if (codec == fmt::Codec::kLz4 &&
        (raw_len > LZ4_MAX_INPUT_SIZE || stored_len == 0 ||
         stored_len > static_cast<uint32_t>(LZ4_compressBound(static_cast<int>(raw_len))) ||
         raw_len > uint64_t{stored_len} * kMaxLz4Ratio)) {
      return Corrupt(at + 10, absl::StrCat(block_name, " has impossible lz4 lengths (", stored_len,
                                           " stored, ", raw_len, " raw)"));
    }
    if (std::optional<uint64_t> left = remaining(); left.has_value() && stored_len > *left) {
      return Corrupt(at + 10, absl::StrCat(block_name, " claims ", stored_len,
                                           " stored bytes but only ", *left, " remain"));
    }

    // The payload, in pieces (see kReadChunkBytes).
    stored_.clear();
    while (stored_.size() < stored_len) {
      const size_t piece =
          std::min<size_t>(stored_len - stored_.size(),
                           std::max(kReadChunkBytes, stored_.capacity() - stored_.size()));
      MIRRORKV_RETURN_IF_ERROR(
          ReadExact(stored_.Reserve(piece), piece, absl::StrCat("the payload of ", block_name)));
      stored_.Commit(piece);
    }
    const std::string_view stored(stored_.data(), stored_len);
    if (fmt::BlockHash(head, stored) != checksum) {
      return Corrupt(at + 14, absl::StrCat(block_name, " checksum mismatch"));
    }

    // A raw block is parsed where it was read; an lz4 block is decoded into raw_, sized
    // from raw_len, which the checks above bounded. LZ4_decompress_safe never writes past
    // that capacity whatever the input, and must produce exactly raw_len bytes.
    const char* raw = stored_.data();
    if (codec == fmt::Codec::kLz4) {
      raw_.clear();
      char* out = raw_.Reserve(raw_len);
      const int n = LZ4_decompress_safe(stored.data(), out, static_cast<int>(stored_len),
                                        static_cast<int>(raw_len));
      if (n < 0 || static_cast<uint32_t>(n) != raw_len) {
        return Corrupt(at + fmt::kBlockHeadBytes,
                       absl::StrCat(block_name, " does not decode to its ", raw_len, " bytes"));
      }
      raw = out;
    }
    block_at_ = at;
    block_begin_ = raw;
    pos_ = raw;
    end_ = raw + raw_len;
    entries_left_ = entries;
    block_entries_ = entries;
    ++info_.blocks;
    info_.entries += entries;
    info_.raw_bytes += raw_len;
    if (progress_) {
      progress_(SnapshotProgress{.entries_done = info_.entries - entries,
                                 .entries_expected = 0,
                                 .bytes_done = offset_,
                                 .bytes_expected = size_.value_or(0)});
    }
    return Status::Ok();
  }

  // Decodes the next entry of the current block, which has at least one left. Every
  // length is compared with the bytes left in the block before it is used, so no entry
  // can reach past the block, and the last entry must end exactly at the block's end.
  Status ParseEntry(SnapshotEntry* entry) {
    const char* p = pos_;
    const char* const end = end_;
    const size_t index = block_entries_ - entries_left_;
    auto fail = [&](const std::string& what) {
      return Corrupt(block_at_, absl::StrCat("block ", info_.blocks - 1, ", entry ", index,
                                             " at raw offset ", pos_ - block_begin_, ": ", what));
    };
    if (p == end) {
      return fail(
          absl::StrCat("the block ends after ", index, " of its ", block_entries_, " entries"));
    }
    const uint8_t tag = static_cast<uint8_t>(*p++);
    const bool collection = tag == static_cast<uint8_t>(fmt::EntryTag::kCollection) ||
                            tag == static_cast<uint8_t>(fmt::EntryTag::kCollectionWithDeadline);
    const bool has_deadline = tag == static_cast<uint8_t>(fmt::EntryTag::kStringWithDeadline) ||
                              tag == static_cast<uint8_t>(fmt::EntryTag::kCollectionWithDeadline);
    // Collections came with version 2: in a version 1 stream their tags are corruption.
    if ((tag != static_cast<uint8_t>(fmt::EntryTag::kString) &&
         tag != static_cast<uint8_t>(fmt::EntryTag::kStringWithDeadline) && !collection) ||
        (collection && version_ < 2)) {
      return fail(absl::StrFormat("unknown entry tag 0x%02x", tag));
    }
    uint64_t key_len;
    uint64_t value_len;
    if (!fmt::GetVarint32(&p, end, &key_len)) return fail("malformed key length");
    if (!fmt::GetVarint32(&p, end, &value_len)) return fail("malformed value length");
    if (key_len > max_key_bytes_) {
      return fail(absl::StrCat("key of ", key_len, " bytes, over the limit of ", max_key_bytes_));
    }
    if (value_len > max_value_bytes_) {
      return fail(
          absl::StrCat("value of ", value_len, " bytes, over the limit of ", max_value_bytes_));
    }
    int64_t deadline = 0;
    if (has_deadline) {
      if (end - p < 8) return fail("the deadline runs past the end of the block");
      const uint64_t value = fmt::GetU64(p);
      p += 8;
      if (value == 0 || value > static_cast<uint64_t>(fmt::kMaxDeadlineMs)) {
        return fail(absl::StrCat("deadline ", value, " outside [1, 2^56)"));
      }
      deadline = static_cast<int64_t>(value);
    }
    // Both lengths are below 2^31 here, so the sum cannot overflow.
    if (key_len + value_len > static_cast<uint64_t>(end - p)) {
      return fail(absl::StrCat("key and value of ", key_len + value_len, " bytes run past the ",
                               end - p, " bytes left in the block"));
    }
    entry->key = {p, static_cast<size_t>(key_len)};
    p += key_len;
    entry->value = {p, static_cast<size_t>(value_len)};
    p += value_len;
    entry->expire_at_ms = deadline;
    entry->type = KeyType::kString;
    entry->copy_offset = 0;
    if (collection) {
      std::string_view value = entry->value;
      if (value.size() < fmt::kCollectionHeadBytes) return fail("collection value too short");
      switch (static_cast<fmt::CollectionTag>(value[0])) {
        case fmt::CollectionTag::kList:
          entry->type = KeyType::kList;
          break;
        case fmt::CollectionTag::kSet:
          entry->type = KeyType::kSet;
          break;
        case fmt::CollectionTag::kHash:
          entry->type = KeyType::kHash;
          break;
        case fmt::CollectionTag::kSortedSet:
          entry->type = KeyType::kSortedSet;
          break;
        default:
          return fail(
              absl::StrFormat("unknown collection type 0x%02x", static_cast<uint8_t>(value[0])));
      }
      entry->copy_offset = fmt::GetU64(value.data() + 1);
      entry->value = value.substr(fmt::kCollectionHeadBytes);
    }
    pos_ = p;
    if (--entries_left_ == 0 && p != end) {
      return fail(absl::StrCat(end - p, " bytes follow the block's last entry"));
    }
    return Status::Ok();
  }

  // The stream checksum is compared before the counts: a count that disagrees in a
  // stream whose checksum matches is a writer's bug, not damage, and deserves its own
  // message.
  // The history frame: kept whole (it is at most a primary's backlog), handed to the
  // loader once the footer verified it.
  Status ReadHistory(uint64_t at) {
    if (version_ < 3) {
      return Corrupt(at, absl::StrCat("a history frame in a version ", version_, " snapshot"));
    }
    if (info_.has_history) return Corrupt(at, "a second history frame");
    char head[fmt::kHistoryHeadBytes];
    MIRRORKV_RETURN_IF_ERROR(ReadExact(head + 1, sizeof(head) - 1, "the history's length"));
    const uint64_t length = fmt::GetU64(head + 1);
    if (std::optional<uint64_t> left = remaining(); left.has_value() && length > *left) {
      return Corrupt(at + 1, absl::StrCat("the history claims ", length, " bytes but only ", *left,
                                          " remain"));
    }
    // The same piecewise read as a block's payload: a lying length costs memory only in
    // proportion to the bytes that arrived.
    history_.clear();
    while (history_.size() < length) {
      const size_t before = history_.size();
      const size_t piece = std::min<uint64_t>(length - before, kReadChunkBytes);
      history_.resize(before + piece);
      MIRRORKV_RETURN_IF_ERROR(ReadExact(history_.data() + before, piece, "the history"));
    }
    info_.has_history = true;
    info_.history_bytes = length;
    return Status::Ok();
  }

  Status ReadFooter(uint64_t at) {
    char footer[fmt::kFooterBytes];
    footer[0] = static_cast<char>(fmt::FrameTag::kFooter);
    MIRRORKV_RETURN_IF_ERROR(ReadExact(footer + 1, fmt::kFooterHashedBytes - 1, "the footer"));
    MIRRORKV_RETURN_IF_ERROR(
        ReadExact(footer + fmt::kFooterHashedBytes, 8, "the footer's checksum", /*hash=*/false));
    if (XXH3_64bits_digest(&stream_hash_) != fmt::GetU64(footer + fmt::kFooterHashedBytes)) {
      return Corrupt(at + fmt::kFooterHashedBytes, "stream checksum mismatch");
    }
    if (const uint64_t n = fmt::GetU64(footer + 1); n != info_.entries) {
      return Corrupt(at + 1, absl::StrCat("the footer counts ", n, " entries, the blocks hold ",
                                          info_.entries));
    }
    if (const uint64_t n = fmt::GetU64(footer + 9); n != info_.blocks) {
      return Corrupt(at + 9, absl::StrCat("the footer counts ", n, " blocks, the stream holds ",
                                          info_.blocks));
    }
    done_ = true;
    // A stream that held one huge entry should not keep its buffer alive.
    stored_.Trim(kMaxBlockTargetBytes);
    raw_.Trim(kMaxBlockTargetBytes);
    return Status::Ok();
  }

  ReadableFile& source_;
  const uint64_t max_key_bytes_;
  const uint64_t max_value_bytes_;
  const uint64_t max_block_bytes_;
  const SnapshotProgressCallback progress_;
  const std::optional<uint64_t> size_;

  uint64_t offset_ = 0;               // bytes consumed from the source
  XXH3_state_t stream_hash_;          // of every byte consumed, except the footer's checksum
  fmt::Buffer stored_;                // the current block's payload as stored
  fmt::Buffer raw_;                   // ... decompressed (unused for raw blocks)
  uint32_t version_ = fmt::kVersion;  // the stream's, once the header is read
  // The current block: its offset in the stream, its decoded bytes and the next entry.
  uint64_t block_at_ = 0;
  const char* block_begin_ = nullptr;
  const char* pos_ = nullptr;
  const char* end_ = nullptr;
  uint32_t block_entries_ = 0;
  uint32_t entries_left_ = 0;
  std::string history_;
  SnapshotInfo info_;
  Status status_;
  bool done_ = false;
};

SnapshotReader::SnapshotReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SnapshotReader::~SnapshotReader() = default;

Result<std::unique_ptr<SnapshotReader>> SnapshotReader::Open(ReadableFile& source,
                                                             const SnapshotReadOptions& options) {
  auto impl = std::make_unique<Impl>(source, options);
  MIRRORKV_RETURN_IF_ERROR(impl->ReadHeader());
  return std::unique_ptr<SnapshotReader>(new SnapshotReader(std::move(impl)));
}

const SnapshotPosition& SnapshotReader::position() const { return impl_->position(); }
bool SnapshotReader::Next(SnapshotEntry* entry) { return impl_->Next(entry); }
const Status& SnapshotReader::status() const { return impl_->status(); }
SnapshotInfo SnapshotReader::info() const { return impl_->info(); }

namespace internal {

Result<SnapshotInfo> LoadSnapshotChecked(Store& store, ReadableFile& source,
                                         const SnapshotReadOptions& options, bool require_end,
                                         const HistoryApplier& apply_history) {
  const auto started = std::chrono::steady_clock::now();
  Store::Impl& target = store.impl();
  SnapshotReadOptions limited = options;
  limited.max_key_bytes = std::min(options.max_key_bytes, target.options().max_key_bytes);
  limited.max_value_bytes = std::min(options.max_value_bytes, target.options().max_value_bytes);
  SnapshotReader::Impl reader(source, limited);
  MIRRORKV_RETURN_IF_ERROR(reader.ReadHeader());

  // The new content is built in a private store with the target's layout and clock, but
  // no listener, no expiry thread and no eviction: nobody sees it until the swap.
  StoreOptions staging_options = target.options();
  staging_options.listener = nullptr;
  staging_options.active_expiry_interval = std::chrono::milliseconds(0);
  staging_options.max_memory = 0;
  staging_options.eviction_policy = EvictionPolicy::kNoEviction;
  MIRRORKV_ASSIGN_OR_RETURN(std::unique_ptr<Store> staging_store, Store::Open(staging_options));
  Store::Impl& staging = staging_store->impl();

  // A primary drops keys whose deadline passed; a replica keeps them for its primary's
  // delete, as the engine's replica rule requires.
  const bool drop_expired = !target.replica();
  const Clock& clock = target.clock();
  int64_t now = clock.NowMillis();
  uint64_t dropped = 0;

  // Entries are applied a block at a time, grouped by stripe: one ApplyBatch per stripe
  // and block locks that stripe once for dozens of entries instead of once per entry.
  // The grouping mirrors the table's choice of stripe (the top bits of the key's hash);
  // it only affects speed, never the result: per key, the order of the stream is kept.
  const size_t stripes = staging_options.stripe_count;
  const int shift = 64 - std::countr_zero(stripes);
  std::vector<std::vector<Mutation>> groups(stripes);
  auto apply_groups = [&]() -> Status {
    for (std::vector<Mutation>& group : groups) {
      if (group.empty()) continue;
      Status applied = staging.ApplyBatch(group);
      group.clear();
      if (!applied.ok()) {
        return Status::Corruption(absl::StrCat("snapshot entry rejected by the store near byte ",
                                               reader.offset(), ": ",
                                               std::string(applied.message())));
      }
    }
    return Status::Ok();
  };
  const uint64_t start_offset = reader.position().offset;
  SnapshotEntry entry;
  while (reader.Next(&entry)) {
    if (entry.type != KeyType::kString) {
      // Inserted at once, after the strings grouped so far: per key, the order of the
      // stream is kept.
      MIRRORKV_RETURN_IF_ERROR(apply_groups());
      if (drop_expired && entry.expire_at_ms != 0 && entry.expire_at_ms <= now) {
        ++dropped;
        Mutation gone{.kind = MutationKind::kDelete, .key = entry.key};
        MIRRORKV_RETURN_IF_ERROR(staging.Apply(gone));
        continue;
      }
      Result<internal::Collection*> decoded = internal::DecodeCollection(entry.type, entry.value);
      if (!decoded.ok()) {
        return Corrupt(reader.offset(),
                       absl::StrCat("key '", internal::AsAbsl(entry.key.substr(0, 64)),
                                    "': ", std::string(decoded.status().message())));
      }
      staging.InsertCollection(entry.key, *decoded, entry.expire_at_ms);
      // A copy made after the snapshot started holds the collection effects logged
      // before its copy offset: the replica's replay skips those (docs/design.md).
      if (entry.copy_offset > start_offset) staging.AddReplayFloor(entry.key, entry.copy_offset);
      continue;
    }
    Mutation m{.kind = MutationKind::kSet,
               .key = entry.key,
               .value = entry.value,
               .expire_at_ms = entry.expire_at_ms};
    if (drop_expired && entry.expire_at_ms != 0 && entry.expire_at_ms <= now) {
      ++dropped;
      // An earlier occurrence of the key in a fuzzy snapshot is older: it must not
      // survive its newer, expired state.
      m = Mutation{.kind = MutationKind::kDelete, .key = entry.key};
    }
    const uint64_t hash = internal::StripedTable::Hash(entry.key);
    groups[shift == 64 ? 0 : hash >> shift].push_back(m);
    if (reader.block_done()) {
      MIRRORKV_RETURN_IF_ERROR(apply_groups());
      // Once per block: a key expiring meanwhile is loaded, then expires in the store.
      now = clock.NowMillis();
    }
  }
  MIRRORKV_RETURN_IF_ERROR(reader.status());
  if (require_end) {
    MIRRORKV_ASSIGN_OR_RETURN(bool at_end, reader.AtEnd());
    if (!at_end) return Corrupt(reader.offset(), "unexpected bytes after the footer");
  }
  if (apply_history != nullptr && reader.info().has_history) {
    MIRRORKV_RETURN_IF_ERROR(apply_history(*staging_store, reader.history(), start_offset));
    // Every copy offset is within the history, and nothing before its end will be
    // applied again: the floors have done their work.
    staging.ClearReplayFloors();
  }
  MIRRORKV_RETURN_IF_ERROR(target.SwapContents(staging));
  SnapshotInfo info = reader.info();
  info.expired = dropped;
  info.elapsed = std::chrono::steady_clock::now() - started;
  // staging_store now holds the old content and frees it here, after the publication.
  return info;
}

}  // namespace internal

Result<SnapshotInfo> LoadSnapshot(Store& store, ReadableFile& source,
                                  const SnapshotReadOptions& options) {
  return internal::LoadSnapshotChecked(store, source, options, /*require_end=*/false);
}

}  // namespace mirrorkv
