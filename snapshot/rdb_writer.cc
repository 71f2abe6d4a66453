// WriteRdb and SaveRdbFile: a Store as an RDB file (version 10, docs/rdb-format.md).
//
// The walk is WalkInBatches (batched_walk.h), shared with the mirrorkv snapshot writer:
// under a stripe lock the visitor only copies each entry into a staging buffer; the RDB
// encoding (integer and LZF string encodings), the CRC-64 and the sink's I/O happen
// between batches, with no lock held. Memory: the staging buffer, the output buffer and
// LZF's scratch space, whatever the size of the store.
//
// Value types: strings are RDB_TYPE_STRING; collections are written in the plain
// encodings every Redis since 2.0 loads (RDB_TYPE_LIST, RDB_TYPE_SET, RDB_TYPE_HASH,
// RDB_TYPE_ZSET_2 with binary scores): an element count, then each element as an RDB
// string. Redis 7 converts them on load to its compact encodings (listpack, intset)
// wherever its size thresholds allow, exactly as if it had written the packed forms
// itself, so a redis-server replica or restart ends with the memory layout of its own.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>

#include "engine/base/numbers.h"
#include "engine/collection.h"
#include "engine/entry.h"
#include "engine/store_impl.h"
#include "mirrorkv/clock.h"
#include "mirrorkv/rdb.h"
#include "snapshot/batched_walk.h"
#include "snapshot/buffer.h"
#include "snapshot/crc64.h"
#include "snapshot/lzf.h"
#include "snapshot/rdb_format.h"
#include "snapshot/snapshot_file.h"
#include "snapshot/snapshot_format.h"

namespace mirrorkv {
namespace internal {
namespace {

using snapshot::Buffer;

constexpr size_t kMinBufferBytes = 4 << 10;
constexpr size_t kMaxBufferBytes = 16 << 20;
constexpr size_t kMinBatchBytes = 1 << 10;
// Redis compresses strings longer than this, and keeps the compressed form only when it
// saves more than 4 bytes (rdbSaveRawString); the same rule gives the same files.
constexpr size_t kMinCompressBytes = 21;
constexpr size_t kMinCompressSaving = 5;
// The Redis release whose RDB format this writer produces, for the redis-ver AUX field
// that Redis logs when it loads the file.
constexpr std::string_view kFormatRedisVersion = "7.0.0";
// A staged entry: key length (u32), value length (u64), deadline (u64), KeyType (u8),
// then the key and the value. A collection's staged value is its element count (u64),
// then each element as a u32 length and its bytes, a sorted-set member followed by its
// score's 8 bytes.
constexpr size_t kStagedHeadBytes = 21;

// Encodes RDB items into an output buffer and hands it to the sink whenever it holds
// `buffer_bytes`, keeping the running CRC-64 of everything handed over.
class RdbEncoder {
 public:
  RdbEncoder(WritableFile& sink, size_t buffer_bytes, bool compress)
      : sink_(sink), buffer_bytes_(buffer_bytes), compress_(compress) {}

  void PutByte(uint8_t byte) {
    *Reserve(1) = static_cast<char>(byte);
    out_.Commit(1);
  }

  void PutLength(uint64_t length) {
    char* begin = Reserve(rdb::kMaxLengthBytes);
    out_.Commit(static_cast<size_t>(rdb::PutLength(begin, length) - begin));
  }

  // A string in the most compact encoding Redis would use for it: an integer encoding
  // for a canonical number that fits 32 bits, LZF when enabled and worth it, else raw.
  void PutString(std::string_view s) {
    int32_t number;
    if (s.size() <= 11 && rdb::AsEncodableInteger(s, &number)) {
      char* begin = Reserve(5);
      out_.Commit(static_cast<size_t>(rdb::PutEncodedInteger(begin, number) - begin));
      return;
    }
    if (compress_ && s.size() >= kMinCompressBytes) {
      const size_t room = s.size() - kMinCompressSaving;
      const size_t n = LzfCompress(s, lzf_.Reserve(room), room);
      if (n > 0) {
        PutByte((rdb::kSpecialEncoding << 6) | rdb::kEncodingLzf);
        PutLength(n);
        PutLength(s.size());
        PutBytes({lzf_.data(), n});
        return;
      }
    }
    PutLength(s.size());
    PutBytes(s);
  }

  void PutAux(std::string_view key, std::string_view value) {
    PutByte(static_cast<uint8_t>(rdb::Opcode::kAux));
    PutString(key);
    PutString(value);
  }

  void PutAux(std::string_view key, int64_t value) {
    char digits[kMaxInt64Digits];
    PutAux(key, FormatInt64(value, digits));
  }

  // One key of database 0: its deadline if any, its type, its name and its value (for a
  // collection, in the staged form described at kStagedHeadBytes).
  void EncodeEntry(KeyType type, std::string_view key, std::string_view value,
                   int64_t deadline_ms) {
    if (deadline_ms != 0) {
      PutByte(static_cast<uint8_t>(rdb::Opcode::kExpireTimeMs));
      char* at = Reserve(8);
      snapshot::PutU64(at, static_cast<uint64_t>(deadline_ms));
      out_.Commit(8);
    }
    if (type == KeyType::kString) {
      PutByte(static_cast<uint8_t>(rdb::ValueType::kString));
      PutString(key);
      PutString(value);
      return;
    }
    rdb::ValueType rdb_type = rdb::ValueType::kList;
    if (type == KeyType::kSet) rdb_type = rdb::ValueType::kSet;
    if (type == KeyType::kHash) rdb_type = rdb::ValueType::kHash;
    if (type == KeyType::kSortedSet) rdb_type = rdb::ValueType::kZset2;
    PutByte(static_cast<uint8_t>(rdb_type));
    PutString(key);
    const char* p = value.data();
    uint64_t count = snapshot::GetU64(p);
    p += 8;
    // A hash's count is of fields; each is staged with its value.
    PutLength(type == KeyType::kHash ? count / 2 : count);
    for (uint64_t i = 0; i < count; ++i) {
      const size_t n = snapshot::GetU32(p);
      PutString({p + 4, n});
      p += 4 + n;
      if (type == KeyType::kSortedSet) {
        PutBytes({p, 8});  // little-endian IEEE 754, as RDB_TYPE_ZSET_2 stores it
        p += 8;
      }
    }
  }

  bool full() const { return out_.size() >= buffer_bytes_; }
  uint64_t bytes() const { return bytes_ + out_.size(); }

  // Hands the buffered bytes to the sink.
  Status Flush() {
    if (out_.size() == 0) return Status::Ok();
    const std::string_view bytes(out_.data(), out_.size());
    crc_ = Crc64(crc_, bytes);
    MIRRORKV_RETURN_IF_ERROR(sink_.Append(bytes));
    bytes_ += bytes.size();
    out_.clear();
    out_.Trim(buffer_bytes_ * 2);
    return Status::Ok();
  }

  // The end marker and the checksum of every byte before it; flushes the sink.
  Status Finish() {
    PutByte(static_cast<uint8_t>(rdb::Opcode::kEof));
    MIRRORKV_RETURN_IF_ERROR(Flush());
    char checksum[rdb::kChecksumBytes];
    snapshot::PutU64(checksum, crc_);
    MIRRORKV_RETURN_IF_ERROR(sink_.Append({checksum, sizeof(checksum)}));
    bytes_ += sizeof(checksum);
    return sink_.Flush();
  }

 private:
  char* Reserve(size_t n) { return out_.Reserve(n); }
  void PutBytes(std::string_view bytes) {
    std::memcpy(Reserve(bytes.size()), bytes.data(), bytes.size());
    out_.Commit(bytes.size());
  }

  WritableFile& sink_;
  const size_t buffer_bytes_;
  const bool compress_;
  Buffer out_;
  Buffer lzf_;
  uint64_t crc_ = 0;
  uint64_t bytes_ = 0;  // handed to the sink
};

// The entries one batch copied under a stripe lock, encoded after the lock is released.
class StagedEntries {
 public:
  // Copies a live entry (called under its stripe lock) and returns the bytes copied.
  size_t Add(const Entry& entry, int64_t deadline_ms) {
    const std::string_view key = entry.key();
    const size_t head = buffer_.size();
    char* at = buffer_.Reserve(kStagedHeadBytes + key.size());
    snapshot::PutU32(at, static_cast<uint32_t>(key.size()));
    snapshot::PutU64(at + 12, static_cast<uint64_t>(deadline_ms));
    at[20] = static_cast<char>(entry.type());
    std::memcpy(at + kStagedHeadBytes, key.data(), key.size());
    buffer_.Commit(kStagedHeadBytes + key.size());
    const size_t value_at = buffer_.size();
    if (entry.is_string()) {
      PutBytes(entry.value());
    } else {
      AddCollection(*entry.collection());
    }
    const size_t value_bytes = buffer_.size() - value_at;
    snapshot::PutU64(buffer_.data() + head + 4, value_bytes);
    ++count_;
    return kStagedHeadBytes + key.size() + value_bytes;
  }

  // Calls encode(type, key, value, deadline) for each staged entry, then empties the
  // stage.
  template <typename Encode>
  void Drain(Encode&& encode) {
    const char* p = buffer_.data();
    for (size_t i = 0; i < count_; ++i) {
      const size_t key_len = snapshot::GetU32(p);
      const size_t value_len = snapshot::GetU64(p + 4);
      const auto deadline = static_cast<int64_t>(snapshot::GetU64(p + 12));
      const auto type = static_cast<KeyType>(p[20]);
      p += kStagedHeadBytes;
      encode(type, std::string_view(p, key_len), std::string_view(p + key_len, value_len),
             deadline);
      p += key_len + value_len;
    }
    count_ = 0;
    buffer_.clear();
  }

  void Reserve(size_t n) { std::memset(buffer_.Reserve(n), 0, n); }
  void Trim(size_t normal) { buffer_.Trim(normal); }
  uint64_t count() const { return count_; }

 private:
  void PutBytes(std::string_view bytes) {
    std::memcpy(buffer_.Reserve(bytes.size()), bytes.data(), bytes.size());
    buffer_.Commit(bytes.size());
  }
  void PutU64(uint64_t v) {
    snapshot::PutU64(buffer_.Reserve(8), v);
    buffer_.Commit(8);
  }
  void PutElement(std::string_view element) {
    snapshot::PutU32(buffer_.Reserve(4), static_cast<uint32_t>(element.size()));
    buffer_.Commit(4);
    PutBytes(element);
  }

  void AddCollection(const Collection& collection) {
    switch (collection.type()) {
      case KeyType::kList: {
        const auto& items = static_cast<const ListValue&>(collection).items();
        PutU64(items.size());
        for (const std::string& item : items) PutElement(item);
        return;
      }
      case KeyType::kSet: {
        const auto& members = static_cast<const SetValue&>(collection).members();
        PutU64(members.size());
        for (const std::string& member : members) PutElement(member);
        return;
      }
      case KeyType::kHash: {
        const auto& fields = static_cast<const HashValue&>(collection).fields();
        PutU64(fields.size() * 2);
        for (const auto& [field, value] : fields) {
          PutElement(field);
          PutElement(value);
        }
        return;
      }
      case KeyType::kSortedSet: {
        const auto& order = static_cast<const SortedSetValue&>(collection).order();
        PutU64(order.size());
        for (const ScoredMember& e : order) {
          PutElement(e.member);
          uint64_t bits;
          std::memcpy(&bits, &e.score, sizeof(bits));
          PutU64(bits);
        }
        return;
      }
      case KeyType::kNone:
      case KeyType::kString:
        PutU64(0);
        return;
    }
  }

  Buffer buffer_;
  uint64_t count_ = 0;
};

}  // namespace

}  // namespace internal

Result<SnapshotInfo> WriteRdb(Store& store, WritableFile& sink, const RdbWriteOptions& options) {
  using namespace internal;  // NOLINT: the module's own helpers
  const auto started = std::chrono::steady_clock::now();
  MIRRORKV_RETURN_IF_ERROR(snapshot::ValidateReplicationId(options.position.replication_id));
  Store::Impl& engine = store.impl();
  const size_t buffer_bytes = std::clamp(options.buffer_bytes, kMinBufferBytes, kMaxBufferBytes);
  const size_t batch_bytes = std::clamp(options.batch_bytes, kMinBatchBytes, buffer_bytes);
  RdbEncoder encoder(sink, buffer_bytes, options.compress);

  char header[rdb::kHeaderBytes + 1];
  std::snprintf(header, sizeof(header), "REDIS%04d", rdb::kVersion);
  for (size_t i = 0; i < rdb::kHeaderBytes; ++i) encoder.PutByte(static_cast<uint8_t>(header[i]));
  const StoreStats stats = store.stats();
  encoder.PutAux("redis-ver", kFormatRedisVersion);
  encoder.PutAux("redis-bits", 64);
  encoder.PutAux("ctime", engine.clock().NowMillis() / 1000);
  encoder.PutAux("used-mem", static_cast<int64_t>(stats.memory_used));
  if (!options.position.replication_id.empty()) {
    encoder.PutAux("repl-stream-db", 0);
    encoder.PutAux("repl-id", options.position.replication_id);
    encoder.PutAux("repl-offset", static_cast<int64_t>(options.position.offset));
  }
  encoder.PutAux("aof-base", 0);
  encoder.PutByte(static_cast<uint8_t>(rdb::Opcode::kSelectDb));
  encoder.PutLength(0);
  // A sizing hint for the loader's hash tables, taken before the walk: only a hint.
  encoder.PutByte(static_cast<uint8_t>(rdb::Opcode::kResizeDb));
  encoder.PutLength(stats.keys);
  encoder.PutLength(stats.keys_with_expiry);

  SnapshotInfo info;
  info.position = options.position;
  StagedEntries staged;
  // Touched now, so that its first use under a lock takes no page faults.
  staged.Reserve(batch_bytes * 2);
  WalkStats walked;
  MIRRORKV_RETURN_IF_ERROR(WalkInBatches(
      engine, [&] { return batch_bytes; },
      [&](const Entry& entry, int64_t deadline) { return staged.Add(entry, deadline); },
      [&]() -> Status {
        info.entries += staged.count();
        staged.Drain(
            [&](KeyType type, std::string_view key, std::string_view value, int64_t deadline) {
              encoder.EncodeEntry(type, key, value, deadline);
              info.raw_bytes += key.size() + value.size();
            });
        staged.Trim(batch_bytes * 2);
        if (!encoder.full()) return Status::Ok();
        MIRRORKV_RETURN_IF_ERROR(encoder.Flush());
        if (options.progress) {
          options.progress(SnapshotProgress{.entries_done = info.entries,
                                            .entries_expected = stats.keys,
                                            .bytes_done = encoder.bytes(),
                                            .bytes_expected = 0});
        }
        return Status::Ok();
      },
      &walked));
  MIRRORKV_RETURN_IF_ERROR(encoder.Finish());
  info.expired = walked.expired;
  info.longest_lock_hold = walked.longest_lock_hold;
  info.bytes = encoder.bytes();
  info.elapsed = std::chrono::steady_clock::now() - started;
  return info;
}

Result<SnapshotInfo> SaveRdbFile(Store& store, const std::string& path,
                                 const RdbWriteOptions& options) {
  MIRRORKV_RETURN_IF_ERROR(
      internal::snapshot::ValidateReplicationId(options.position.replication_id));
  return internal::WriteFileAtomically(
      path, "RDB", {}, [&](WritableFile& file) { return WriteRdb(store, file, options); });
}

}  // namespace mirrorkv
