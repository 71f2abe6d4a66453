// The snapshot format, version 3 (reads versions 1 and 2 too): its frozen constants and tags and
// the byte-level encoding shared by the writer, the reader and the tests that craft malformed
// streams. docs/snapshot-format.md is the authoritative description, with the grammar; change the
// two together, and never renumber a tag (retired values stay reserved).
//
//   snapshot := header block* [history] footer
//   header   := magic[8] version:u32 flags:u32 replid[40] offset:u64 created_ms:u64
//               header_hash:u64                                           (80 bytes)
//   block    := 0x01 codec:u8 entry_count:u32 raw_len:u32 stored_len:u32
//               block_hash:u64 stored[stored_len]                    (22 + stored_len)
//   history  := 0x03 length:u64 stream[length]            (version 3 only, at most one)
//   footer   := 0x02 entry_count:u64 block_count:u64 stream_hash:u64       (25 bytes)
//   entry    := tag key_len:varint value_len:varint [deadline:u64 if 0x02 or 0x04]
//               key[key_len] value[value_len]                 (inside a decoded block)
//   tag      := 0x01 | 0x02 (string) | 0x03 | 0x04 (collection, version 2 only)
//   collection value := type:u8 copy_offset:u64 payload       (engine/collection.h)
//
// Integers are little-endian; varints are LEB128 (7 bits per byte, low group first).
// Every checksum is XXH3-64 with seed 0.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "mirrorkv/snapshot.h"
#include "mirrorkv/status.h"

namespace mirrorkv::internal::snapshot {

// "\x89MKVSNAP": the high first byte catches transfers that strip the eighth bit, the
// letters make the file recognisable in a hex dump.
inline constexpr char kMagic[8] = {'\x89', 'M', 'K', 'V', 'S', 'N', 'A', 'P'};
inline constexpr uint32_t kVersion = 3;
// The oldest version this build reads: version 1 files hold strings only. Writers write
// version 2 unless the snapshot carries a history frame, so that a replica of an older
// build still reads the snapshot of its full resync.
inline constexpr uint32_t kMinVersion = 1;
inline constexpr uint32_t kVersionWithoutHistory = 2;

// What starts each frame after the header.
enum class FrameTag : uint8_t {
  // 0x00 is reserved: a run of zero bytes must not read as a frame.
  kBlock = 0x01,
  kFooter = 0x02,
  // Version 3: the replication stream from the header's offset to the end of the walk,
  // as the primary logged it (a primary's save to disk: see snapshot.h).
  kHistory = 0x03,
};

// How a block's stored bytes encode its raw bytes.
enum class Codec : uint8_t {
  kNone = 0x00,  // stored as is (used when lz4 would not shrink the block)
  kLz4 = 0x01,   // one LZ4 block (LZ4_compress_*; not the LZ4 frame format)
};

// What starts each entry inside a decoded block.
enum class EntryTag : uint8_t {
  // 0x00 is reserved.
  kString = 0x01,              // key, value, no deadline
  kStringWithDeadline = 0x02,  // key, value, absolute deadline in Unix ms
  // Version 2: a list, set, hash or sorted set; the value is a collection value.
  kCollection = 0x03,
  kCollectionWithDeadline = 0x04,
};

// A collection value's type byte.
enum class CollectionTag : uint8_t {
  // 0x00 is reserved.
  kList = 0x01,
  kSet = 0x02,
  kHash = 0x03,
  kSortedSet = 0x04,
};
// A collection value's bytes before its payload: the type and the copy offset.
inline constexpr size_t kCollectionHeadBytes = 9;

inline constexpr size_t kMagicBytes = 8;
inline constexpr size_t kReplicationIdBytes = 40;
inline constexpr size_t kHeaderBytes = 80;
// The header bytes that header_hash covers: everything before it.
inline constexpr size_t kHeaderHashedBytes = 72;
// A block's fixed part; its first kBlockHashedHeadBytes are covered by block_hash,
// which follows them.
inline constexpr size_t kBlockHeadBytes = 22;
inline constexpr size_t kBlockHashedHeadBytes = 14;
inline constexpr size_t kFooterBytes = 25;
// A history frame's fixed part: the tag and the stream's length.
inline constexpr size_t kHistoryHeadBytes = 9;
// The footer bytes before stream_hash (the tag and the two counts).
inline constexpr size_t kFooterHashedBytes = 17;

// Bounds the reader enforces and the writer respects.
// Deadlines are positive and below 2^56, the engine's limit (engine/entry.h).
inline constexpr int64_t kMaxDeadlineMs = (int64_t{1} << 56) - 1;
// A key or a value is shorter than 2 GiB: its length varint has at most 5 bytes.
inline constexpr uint64_t kMaxPartBytes = (uint64_t{1} << 31) - 1;
inline constexpr size_t kMaxVarintBytes = 5;
// The smallest entry: a tag and two one-byte lengths (empty key, empty value).
inline constexpr size_t kMinEntryBytes = 3;
// Tag, two 5-byte lengths and a deadline.
inline constexpr size_t kMaxEntryOverheadBytes = 1 + 2 * kMaxVarintBytes + 8;

// --- Little-endian fixed-width integers ---

inline void PutU32(char* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(v >> (8 * i));
}
inline void PutU64(char* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(v >> (8 * i));
}
inline uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
inline uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// Writes `v` as a varint at `out` (room for kMaxVarintBytes) and returns the end.
inline char* PutVarint32(char* out, uint32_t v) {
  while (v >= 0x80) {
    *out++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *out++ = static_cast<char>(v);
  return out;
}

// Reads a canonical varint of at most kMaxVarintBytes from [*p, end) into *v and
// advances *p. Returns false, leaving *p unchanged, when the input ends inside the
// varint, the varint is longer than 5 bytes, or it is not in its shortest form (a final
// zero group): such bytes are never written, so they can only be corruption.
inline bool GetVarint32(const char** p, const char* end, uint64_t* v) {
  uint64_t result = 0;
  const char* q = *p;
  for (size_t i = 0; i < kMaxVarintBytes && q < end; ++i) {
    uint8_t byte = static_cast<uint8_t>(*q++);
    result |= uint64_t{byte & 0x7fu} << (7 * i);
    if (byte < 0x80) {
      if (byte == 0 && i > 0) return false;
      *v = result;
      *p = q;
      return true;
    }
  }
  return false;
}

// The encoded size of an entry.
inline size_t EntryBytes(size_t key_size, size_t value_size, bool has_deadline) {
  auto varint_bytes = [](uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) v >>= 7, ++n;
    return n;
  };
  return 1 + varint_bytes(key_size) + varint_bytes(value_size) + (has_deadline ? 8 : 0) + key_size +
         value_size;
}

// Encodes an entry at `out`, which must have room for EntryBytes(...); returns the end.
// The caller has checked the sizes (< 2 GiB) and the deadline (0, or in
// [1, kMaxDeadlineMs]).
inline char* EncodeEntry(char* out, std::string_view key, std::string_view value,
                         int64_t deadline_ms, bool collection = false) {
  if (collection) {
    *out++ = static_cast<char>(deadline_ms > 0 ? EntryTag::kCollectionWithDeadline
                                               : EntryTag::kCollection);
  } else {
    *out++ = static_cast<char>(deadline_ms > 0 ? EntryTag::kStringWithDeadline : EntryTag::kString);
  }
  out = PutVarint32(out, static_cast<uint32_t>(key.size()));
  out = PutVarint32(out, static_cast<uint32_t>(value.size()));
  if (deadline_ms > 0) {
    PutU64(out, static_cast<uint64_t>(deadline_ms));
    out += 8;
  }
  if (!key.empty()) std::memcpy(out, key.data(), key.size());
  out += key.size();
  if (!value.empty()) std::memcpy(out, value.data(), value.size());
  return out + value.size();
}

// --- Header, block head, footer ---

// OK for an empty id or 40 lowercase hex characters; kInvalidArgument otherwise.
Status ValidateReplicationId(std::string_view id);

// Encodes the whole header, header_hash included. `position` must be valid.
void EncodeHeader(const SnapshotPosition& position, uint32_t version, int64_t created_ms,
                  char out[kHeaderBytes]);

// Encodes a block's fixed part for the given stored bytes, block_hash included.
void EncodeBlockHead(Codec codec, uint32_t entry_count, uint32_t raw_len, std::string_view stored,
                     char out[kBlockHeadBytes]);

// XXH3-64 of the block head's first kBlockHashedHeadBytes followed by `stored`.
uint64_t BlockHash(const char* head, std::string_view stored);

// Encodes the footer's tag and counts (kFooterHashedBytes); the stream hash, computed
// over every byte before it, follows as a u64.
void EncodeFooterCounts(uint64_t entry_count, uint64_t block_count, char out[kFooterHashedBytes]);

// XXH3-64 of `bytes`, for the header and whole-stream checksums (tests use it to craft
// streams whose checksums are right but whose content is not).
uint64_t Hash64(std::string_view bytes);

}  // namespace mirrorkv::internal::snapshot
