// LoadRdb and LoadRdbFile: read an RDB (versions 1 to 10, docs/rdb-format.md), verify
// it whole, and publish its strings, lists, sets, hashes and sorted sets through a
// StagedLoad. Collections arrive in every encoding Redis has written: plain element
// sequences, and the packed ones (listpack, ziplist, intset, zipmap: rdb_encodings.h),
// which are decoded element by element into the engine's own structures.
//
// The reader trusts nothing, as the snapshot reader does: every length is checked
// against the configured limits and, when the source knows its size, against what
// remains, before anything is allocated for it; strings arrive in pieces of at most
// kReadChunkBytes, so a lying length costs memory only in proportion to the bytes that
// actually arrived. Every byte read goes into the running CRC-64, compared with the
// trailer before anything is published.
//
// What mirrorkv does not hold (streams, module values, databases other than 0, function
// libraries) is parsed all the same, to the byte, so that the checksum can be verified
// and the refusal can say how many such items there are; module data in the old,
// opaque format (type 6) cannot be skipped and ends the load.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/base/numbers.h"
#include "engine/base/strings.h"
#include "engine/collection.h"
#include "engine/entry.h"
#include "engine/store_impl.h"
#include "mirrorkv/rdb.h"
#include "snapshot/crc64.h"
#include "snapshot/lzf.h"
#include "snapshot/rdb_encodings.h"
#include "snapshot/rdb_format.h"
#include "snapshot/snapshot_file.h"
#include "snapshot/snapshot_format.h"
#include "snapshot/staged_load.h"

namespace mirrorkv {
namespace internal {
namespace {

using rdb::Opcode;
using rdb::ValueType;

// Strings are read in pieces of this size at most (see the top of the file).
constexpr size_t kReadChunkBytes = 1 << 20;
// Keys and values are handed to the staging store in batches of about this many bytes.
constexpr size_t kApplyBatchBytes = 4 << 20;
// Progress is reported about this often.
constexpr uint64_t kProgressBytes = 16 << 20;
// LZF cannot expand its input by more than about 264/2 times (a three-byte item
// produces at most 264 bytes); a larger claimed ratio is corruption, and rejecting it
// stops a tiny crafted string from making the reader allocate gigabytes.
constexpr uint64_t kMaxLzfRatio = 132;
// A stream ID, raw: two big-endian u64s.
constexpr size_t kStreamIdBytes = 16;

// Reads a file ahead in large pieces. The RDB reader asks its source for a few bytes at
// a time (a type, a length, a key); straight from a file that is a system call each,
// which made a 2M-key load take minutes. Only for a file: ahead of a stream it would
// consume the bytes that follow the RDB.
class ReadAheadFile final : public ReadableFile {
 public:
  explicit ReadAheadFile(ReadableFile& file) : file_(file), buffer_(new char[kReadChunkBytes]) {}

  Result<size_t> Read(char* out, size_t n) override {
    if (pos_ == end_) {
      if (n >= kReadChunkBytes) return file_.Read(out, n);
      MIRRORKV_ASSIGN_OR_RETURN(size_t got, file_.Read(buffer_.get(), kReadChunkBytes));
      if (got > kReadChunkBytes) {
        return Status::IOError("RDB source returned more bytes than were asked for");
      }
      pos_ = 0;
      end_ = got;
      if (got == 0) return size_t{0};
    }
    const size_t take = std::min(n, end_ - pos_);
    std::memcpy(out, buffer_.get() + pos_, take);
    pos_ += take;
    return take;
  }
  std::optional<uint64_t> size() const override { return file_.size(); }

 private:
  ReadableFile& file_;
  std::unique_ptr<char[]> buffer_;
  size_t pos_ = 0;
  size_t end_ = 0;
};

// Quicklist node containers (RDB_TYPE_LIST_QUICKLIST_2): one item, or a listpack.
constexpr uint64_t kQuicklistPlain = 1;
constexpr uint64_t kQuicklistPacked = 2;

// The engine type an RDB value type decodes to; kNone for strings, streams and modules.
KeyType CollectionTypeOf(uint8_t type) {
  switch (static_cast<ValueType>(type)) {
    case ValueType::kList:
    case ValueType::kListZiplist:
    case ValueType::kListQuicklist:
    case ValueType::kListQuicklist2:
      return KeyType::kList;
    case ValueType::kSet:
    case ValueType::kSetIntset:
      return KeyType::kSet;
    case ValueType::kHash:
    case ValueType::kHashZipmap:
    case ValueType::kHashZiplist:
    case ValueType::kHashListpack:
      return KeyType::kHash;
    case ValueType::kZset:
    case ValueType::kZset2:
    case ValueType::kZsetZiplist:
    case ValueType::kZsetListpack:
      return KeyType::kSortedSet;
    default:
      return KeyType::kNone;
  }
}

// Builds one collection from the elements of its RDB value, in order: list items, set
// members, hash fields each followed by its value, sorted-set members each followed by
// its score (as text, from the packed encodings) or given with it (AddScored). The
// first problem (an element over the size limit, a duplicate member or field, a NaN or
// non-numeric score, a pair left half) is kept and ends the building.
class CollectionBuilder {
 public:
  CollectionBuilder(KeyType type, uint64_t max_element_bytes)
      : collection_(Collection::Create(type), &Collection::Destroy),
        max_element_bytes_(max_element_bytes) {}

  bool ok() const { return error_.empty(); }

  void Add(std::string_view element) {
    if (!ok() || !CheckSize(element)) return;
    switch (collection_->type()) {
      case KeyType::kList:
        static_cast<ListValue&>(*collection_).Push(ListEnd::kRight, element);
        return;
      case KeyType::kSet:
        if (!static_cast<SetValue&>(*collection_).Add(element)) Fail("a duplicate set member");
        return;
      case KeyType::kHash:
        if (!half_) {
          first_.assign(element);
          half_ = true;
          return;
        }
        half_ = false;
        if (!static_cast<HashValue&>(*collection_).Set(first_, element)) {
          Fail("a duplicate hash field");
        }
        return;
      case KeyType::kSortedSet: {
        if (!half_) {
          first_.assign(element);
          half_ = true;
          return;
        }
        half_ = false;
        double score;
        if (!ParseScore(element, &score)) return Fail("a sorted set score is not a number");
        AddScored(first_, score);
        return;
      }
      case KeyType::kNone:
      case KeyType::kString:
        return;
    }
  }

  void AddScored(std::string_view member, double score) {
    if (!ok() || !CheckSize(member)) return;
    if (std::isnan(score)) return Fail("a NaN sorted set score");
    if (!static_cast<SortedSetValue&>(*collection_).Set(member, score)) {
      Fail("a duplicate sorted set member");
    }
  }

  // The first problem, or a pair left half at the end.
  Status Finish() const {
    if (!ok()) return Status::Corruption(error_);
    if (half_) return Status::Corruption("an odd number of elements where pairs are stored");
    return Status::Ok();
  }

  // The collection, or null when it is empty; the caller owns it.
  Collection* Release() {
    if (collection_->empty()) return nullptr;
    return collection_.release();
  }

 private:
  bool CheckSize(std::string_view element) {
    if (element.size() <= max_element_bytes_) return true;
    Fail(absl::StrCat("an element of ", element.size(), " bytes, over the limit of ",
                      max_element_bytes_));
    return false;
  }
  void Fail(std::string why) {
    if (ok()) error_ = std::move(why);
  }

  std::unique_ptr<Collection, void (*)(Collection*)> collection_;
  const uint64_t max_element_bytes_;
  std::string first_;  // a field or member waiting for its value or score
  bool half_ = false;
  std::string error_;
};

class RdbReader {
 public:
  RdbReader(ReadableFile& source, const RdbReadOptions& options, uint64_t max_key_bytes,
            uint64_t max_value_bytes)
      : source_(source),
        options_(options),
        max_key_bytes_(max_key_bytes),
        max_value_bytes_(max_value_bytes),
        size_(source.size()) {}

  // Reads the whole RDB into `staged`, leaving the source just after the checksum.
  Status Read(StagedLoad& staged, RdbLoadInfo* info) {
    staged_ = &staged;
    info_ = info;
    MIRRORKV_RETURN_IF_ERROR(ReadHeader());
    uint64_t db = 0;
    int64_t deadline = 0;  // of the next key; 0 for none
    while (true) {
      const uint64_t at = offset_;
      MIRRORKV_ASSIGN_OR_RETURN(uint8_t type, ReadByte("an opcode or value type"));
      switch (static_cast<Opcode>(type)) {
        case Opcode::kEof:
          MIRRORKV_RETURN_IF_ERROR(Flush());
          return ReadChecksum();
        case Opcode::kExpireTimeMs: {
          char bytes[8];
          MIRRORKV_RETURN_IF_ERROR(ReadExact(bytes, 8, "a millisecond deadline"));
          MIRRORKV_ASSIGN_OR_RETURN(
              deadline, CheckDeadline(at, static_cast<int64_t>(snapshot::GetU64(bytes))));
          continue;
        }
        case Opcode::kExpireTime: {
          char bytes[4];
          MIRRORKV_RETURN_IF_ERROR(ReadExact(bytes, 4, "a deadline in seconds"));
          const auto seconds = static_cast<int32_t>(snapshot::GetU32(bytes));
          MIRRORKV_ASSIGN_OR_RETURN(deadline, CheckDeadline(at, int64_t{seconds} * 1000));
          continue;
        }
        case Opcode::kFreq:
          MIRRORKV_RETURN_IF_ERROR(ReadByte("an LFU counter").status());
          continue;
        case Opcode::kIdle:
          MIRRORKV_RETURN_IF_ERROR(ReadLength("an LRU idle time").status());
          continue;
        case Opcode::kSelectDb: {
          MIRRORKV_ASSIGN_OR_RETURN(db, ReadLength("a database number"));
          continue;
        }
        case Opcode::kResizeDb:
          MIRRORKV_RETURN_IF_ERROR(ReadLength("a key count hint").status());
          MIRRORKV_RETURN_IF_ERROR(ReadLength("an expiry count hint").status());
          continue;
        case Opcode::kAux:
          MIRRORKV_RETURN_IF_ERROR(ReadAux());
          continue;
        case Opcode::kModuleAux:
          MIRRORKV_RETURN_IF_ERROR(SkipModuleAux());
          continue;
        case Opcode::kFunction2:
          MIRRORKV_RETURN_IF_ERROR(SkipString("a function library"));
          ++info_->skipped_functions;
          continue;
        case Opcode::kFunction:
          return Corrupt(at,
                         "function libraries in the format of Redis 7.0's release candidates "
                         "(opcode 246) are not supported");
      }
      MIRRORKV_RETURN_IF_ERROR(ReadKey(at, type, db, deadline));
      deadline = 0;
    }
  }

  uint64_t offset() const { return offset_; }

  // After the checksum: whether the source has no byte left.
  Result<bool> AtEnd() {
    char byte;
    MIRRORKV_ASSIGN_OR_RETURN(size_t got, ReadUpTo(&byte, 1));
    return got == 0;
  }

 private:
  Status Corrupt(uint64_t at, std::string_view what) const {
    return Status::Corruption(absl::StrCat("RDB corrupt at byte ", at, ": ", AsAbsl(what)));
  }

  Status ReadHeader() {
    char header[rdb::kHeaderBytes];
    MIRRORKV_ASSIGN_OR_RETURN(size_t got, ReadUpTo(header, sizeof(header)));
    if (got == 0) return Status::Corruption("not an RDB file: the stream is empty");
    if (std::memcmp(header, rdb::kMagic.data(), std::min(got, rdb::kMagic.size())) != 0) {
      return Corrupt(0, "bad magic: not an RDB file");
    }
    if (got < sizeof(header)) return Truncated("the header");
    int version = 0;
    for (size_t i = 5; i < rdb::kHeaderBytes; ++i) {
      if (header[i] < '0' || header[i] > '9') return Corrupt(i, "the version is not 4 digits");
      version = version * 10 + (header[i] - '0');
    }
    if (version < rdb::kOldestVersion || version > rdb::kVersion) {
      return Corrupt(5,
                     absl::StrCat("unsupported RDB version ", version, " (this build reads 1 to ",
                                  rdb::kVersion, ", as Redis 7.0 does)"));
    }
    info_->version = version;
    crc_ = Crc64(0, {header, sizeof(header)});
    offset_ = sizeof(header);
    return Status::Ok();
  }

  // Reads until `n` bytes or the end of the stream; returns how many arrived.
  Result<size_t> ReadUpTo(char* out, size_t n) {
    return internal::ReadUpTo(source_, out, n, "RDB", offset_);
  }

  Status Truncated(std::string_view what) const {
    return Status::Corruption(
        absl::StrCat("RDB truncated at byte ", offset_, ": the stream ended in ", AsAbsl(what)));
  }

  // Reads exactly `n` bytes of `what` into the checksum.
  Status ReadExact(char* out, size_t n, std::string_view what) {
    MIRRORKV_ASSIGN_OR_RETURN(size_t got, ReadUpTo(out, n));
    crc_ = Crc64(crc_, {out, got});
    offset_ += got;
    if (got < n) return Truncated(what);
    if (options_.progress && offset_ >= next_progress_) {
      next_progress_ = offset_ + kProgressBytes;
      options_.progress(SnapshotProgress{.entries_done = info_->keys,
                                         .entries_expected = 0,
                                         .bytes_done = offset_,
                                         .bytes_expected = size_.value_or(0)});
    }
    return Status::Ok();
  }

  Result<uint8_t> ReadByte(std::string_view what) {
    char byte;
    MIRRORKV_RETURN_IF_ERROR(ReadExact(&byte, 1, what));
    return static_cast<uint8_t>(byte);
  }

  // A length, or (with `encoding` non-null) a string's special encoding: then
  // *encoding is set to the encoding number, or to -1 for a plain length.
  Result<uint64_t> ReadLengthOrEncoding(std::string_view what, int* encoding) {
    const uint64_t at = offset_;
    MIRRORKV_ASSIGN_OR_RETURN(uint8_t first, ReadByte(what));
    if (encoding != nullptr) *encoding = -1;
    switch (first >> 6) {
      case rdb::k6BitLength:
        return first & 0x3f;
      case rdb::k14BitLength: {
        MIRRORKV_ASSIGN_OR_RETURN(uint8_t second, ReadByte(what));
        return (uint64_t{first & 0x3fu} << 8) | second;
      }
      case rdb::kSpecialEncoding:
        if (encoding == nullptr)
          return Corrupt(at, absl::StrCat("a string encoding in place of ", AsAbsl(what)));
        *encoding = first & 0x3f;
        return 0;
    }
    size_t bytes = 0;
    if (first == rdb::k32BitLength) bytes = 4;
    if (first == rdb::k64BitLength) bytes = 8;
    if (bytes == 0) {
      return Corrupt(at,
                     absl::StrFormat("unknown length marker 0x%02x in %s", first, AsAbsl(what)));
    }
    char big_endian[8];
    MIRRORKV_RETURN_IF_ERROR(ReadExact(big_endian, bytes, what));
    uint64_t length = 0;
    for (size_t i = 0; i < bytes; ++i) length = (length << 8) | static_cast<uint8_t>(big_endian[i]);
    return length;
  }

  Result<uint64_t> ReadLength(std::string_view what) { return ReadLengthOrEncoding(what, nullptr); }

  // The bytes left in the source, when its size is known.
  std::optional<uint64_t> remaining() const {
    if (!size_.has_value()) return std::nullopt;
    return *size_ > offset_ ? *size_ - offset_ : 0;
  }

  // Checks a claimed length of stored bytes against the limit and what remains.
  Status CheckStored(uint64_t at, uint64_t length, uint64_t limit, std::string_view what) const {
    if (length > limit) {
      return Corrupt(
          at, absl::StrCat(AsAbsl(what), " of ", length, " bytes, over the limit of ", limit));
    }
    if (std::optional<uint64_t> left = remaining(); left.has_value() && length > *left) {
      return Corrupt(
          at, absl::StrCat(AsAbsl(what), " of ", length, " bytes, but only ", *left, " remain"));
    }
    return Status::Ok();
  }

  // Reads `n` stored bytes and appends them to `out`, in pieces.
  Status AppendStored(uint64_t n, std::string* out, std::string_view what) {
    const size_t base = out->size();
    size_t done = 0;
    while (done < n) {
      const size_t piece = std::min<uint64_t>(n - done, kReadChunkBytes);
      out->resize(base + done + piece);
      MIRRORKV_RETURN_IF_ERROR(ReadExact(out->data() + base + done, piece, what));
      done += piece;
    }
    return Status::Ok();
  }

  // Reads one string in any encoding and appends its bytes to `out`. Strings longer
  // than `limit` are kCorruption (before anything is allocated for them).
  Status ReadString(std::string* out, uint64_t limit, std::string_view what) {
    const uint64_t at = offset_;
    int encoding;
    MIRRORKV_ASSIGN_OR_RETURN(uint64_t length, ReadLengthOrEncoding(what, &encoding));
    if (encoding < 0) {
      MIRRORKV_RETURN_IF_ERROR(CheckStored(at, length, limit, what));
      return AppendStored(length, out, what);
    }
    if (encoding <= rdb::kEncodingInt32) {
      const size_t bytes = size_t{1} << encoding;  // 1, 2 or 4, little-endian
      char raw[4];
      MIRRORKV_RETURN_IF_ERROR(ReadExact(raw, bytes, what));
      uint32_t bits = 0;
      for (size_t i = bytes; i-- > 0;) bits = (bits << 8) | static_cast<uint8_t>(raw[i]);
      // Sign-extended from the width read.
      int64_t v = static_cast<int32_t>(bits);
      if (bytes == 1) v = static_cast<int8_t>(bits);
      if (bytes == 2) v = static_cast<int16_t>(bits);
      char digits[kMaxInt64Digits];
      const std::string_view text = FormatInt64(v, digits);
      if (text.size() > limit) {
        return Corrupt(at, absl::StrCat(AsAbsl(what), " over the limit of ", limit, " bytes"));
      }
      out->append(text);
      return Status::Ok();
    }
    if (encoding != rdb::kEncodingLzf) {
      return Corrupt(at, absl::StrCat("unknown string encoding ", encoding, " in ", AsAbsl(what)));
    }
    MIRRORKV_ASSIGN_OR_RETURN(uint64_t stored, ReadLength(what));
    MIRRORKV_ASSIGN_OR_RETURN(uint64_t plain, ReadLength(what));
    MIRRORKV_RETURN_IF_ERROR(CheckStored(at, stored, limit, what));
    if (plain > limit) {
      return Corrupt(
          at, absl::StrCat(AsAbsl(what), " of ", plain, " bytes, over the limit of ", limit));
    }
    if (stored == 0 || plain == 0 || plain > stored * kMaxLzfRatio) {
      return Corrupt(at, absl::StrCat(AsAbsl(what), " has impossible LZF lengths (", stored,
                                      " stored, ", plain, " decompressed)"));
    }
    lzf_.clear();
    MIRRORKV_RETURN_IF_ERROR(AppendStored(stored, &lzf_, what));
    const size_t base = out->size();
    out->resize(base + plain);
    if (!LzfDecompress(lzf_, out->data() + base, plain)) {
      return Corrupt(at,
                     absl::StrCat(AsAbsl(what), " does not decompress to its ", plain, " bytes"));
    }
    return Status::Ok();
  }

  // Reads a string whose content is not needed, keeping only `scratch_`'s last piece.
  Status SkipString(std::string_view what) {
    const uint64_t at = offset_;
    int encoding;
    MIRRORKV_ASSIGN_OR_RETURN(uint64_t length, ReadLengthOrEncoding(what, &encoding));
    if (encoding >= 0 && encoding <= rdb::kEncodingInt32) {
      char raw[4];
      return ReadExact(raw, size_t{1} << encoding, what);
    }
    if (encoding == rdb::kEncodingLzf) {
      MIRRORKV_ASSIGN_OR_RETURN(length, ReadLength(what));
      MIRRORKV_RETURN_IF_ERROR(ReadLength(what).status());
    } else if (encoding >= 0) {
      return Corrupt(at, absl::StrCat("unknown string encoding ", encoding, " in ", AsAbsl(what)));
    }
    MIRRORKV_RETURN_IF_ERROR(CheckStored(at, length, UINT64_MAX, what));
    while (length > 0) {
      const size_t piece = std::min<uint64_t>(length, kReadChunkBytes);
      scratch_.resize(piece);
      MIRRORKV_RETURN_IF_ERROR(ReadExact(scratch_.data(), piece, what));
      length -= piece;
    }
    return Status::Ok();
  }

  Status Skip(size_t n, std::string_view what) {
    char bytes[kStreamIdBytes];
    return ReadExact(bytes, n, what);
  }

  Result<int64_t> CheckDeadline(uint64_t at, int64_t deadline) const {
    // A deadline at or before the epoch has long passed: the earliest one mirrorkv
    // stores says the same.
    if (deadline <= 0) return 1;
    if (deadline > Entry::kMaxDeadline) {
      return Corrupt(at, absl::StrCat("deadline ", deadline, " ms is beyond 2^56 ms"));
    }
    return deadline;
  }

  Status ReadAux() {
    std::string key;
    std::string value;
    MIRRORKV_RETURN_IF_ERROR(ReadString(&key, max_key_bytes_, "an AUX field name"));
    MIRRORKV_RETURN_IF_ERROR(ReadString(&value, max_value_bytes_, "an AUX field value"));
    // Unknown fields are ignored, as the format requires.
    if (key == "redis-ver") info_->redis_version = value;
    if (key == "repl-id" && snapshot::ValidateReplicationId(value).ok()) {
      info_->position.replication_id = value;
    }
    int64_t offset;
    if (key == "repl-offset" && ParseInt64(value, &offset) && offset >= 0) {
      info_->position.offset = static_cast<uint64_t>(offset);
    }
    return Status::Ok();
  }

  // Self-describing module data: typed items up to an end opcode.
  Status SkipModuleValue() {
    while (true) {
      const uint64_t at = offset_;
      MIRRORKV_ASSIGN_OR_RETURN(uint64_t opcode, ReadLength("a module data opcode"));
      switch (static_cast<rdb::ModuleOpcode>(opcode)) {
        case rdb::ModuleOpcode::kEof:
          return Status::Ok();
        case rdb::ModuleOpcode::kSignedInt:
        case rdb::ModuleOpcode::kUnsignedInt:
          MIRRORKV_RETURN_IF_ERROR(ReadLength("a module integer").status());
          continue;
        case rdb::ModuleOpcode::kFloat:
          MIRRORKV_RETURN_IF_ERROR(Skip(4, "a module float"));
          continue;
        case rdb::ModuleOpcode::kDouble:
          MIRRORKV_RETURN_IF_ERROR(Skip(8, "a module double"));
          continue;
        case rdb::ModuleOpcode::kString:
          MIRRORKV_RETURN_IF_ERROR(SkipString("a module string"));
          continue;
      }
      return Corrupt(at, absl::StrCat("unknown module data opcode ", opcode));
    }
  }

  // Module data outside the key space: the module id, a "when" field, then the data.
  // It belongs to a module mirrorkv does not run; skipped like an unknown AUX field.
  Status SkipModuleAux() {
    const uint64_t at = offset_;
    MIRRORKV_RETURN_IF_ERROR(ReadLength("a module id").status());
    MIRRORKV_ASSIGN_OR_RETURN(uint64_t when_opcode, ReadLength("a module AUX 'when' opcode"));
    if (when_opcode != static_cast<uint64_t>(rdb::ModuleOpcode::kUnsignedInt)) {
      return Corrupt(at, "module AUX data with a bad 'when' opcode");
    }
    MIRRORKV_RETURN_IF_ERROR(ReadLength("a module AUX 'when'").status());
    return SkipModuleValue();
  }

  // Skips `count` items of `per_item` strings each.
  Status SkipStrings(uint64_t count, int per_item, std::string_view what) {
    for (uint64_t i = 0; i < count; ++i) {
      for (int j = 0; j < per_item; ++j) MIRRORKV_RETURN_IF_ERROR(SkipString(what));
    }
    return Status::Ok();
  }

  // Skips a value of a type mirrorkv does not hold, to the byte.
  Status SkipValue(uint64_t at, uint8_t type) {
    switch (static_cast<ValueType>(type)) {
      case ValueType::kString:
      case ValueType::kHashZipmap:
      case ValueType::kListZiplist:
      case ValueType::kSetIntset:
      case ValueType::kZsetZiplist:
      case ValueType::kHashZiplist:
      case ValueType::kHashListpack:
      case ValueType::kZsetListpack:
        return SkipString("an encoded collection");
      case ValueType::kList:
      case ValueType::kSet:
      case ValueType::kListQuicklist: {
        MIRRORKV_ASSIGN_OR_RETURN(uint64_t n, ReadLength("a collection size"));
        return SkipStrings(n, 1, "a collection element");
      }
      case ValueType::kHash: {
        MIRRORKV_ASSIGN_OR_RETURN(uint64_t n, ReadLength("a hash size"));
        return SkipStrings(n, 2, "a hash field");
      }
      case ValueType::kZset: {
        MIRRORKV_ASSIGN_OR_RETURN(uint64_t n, ReadLength("a sorted set size"));
        for (uint64_t i = 0; i < n; ++i) {
          MIRRORKV_RETURN_IF_ERROR(SkipString("a sorted set member"));
          // A score as text: its length in one byte; 253 to 255 are NaN and infinities.
          MIRRORKV_ASSIGN_OR_RETURN(uint8_t len, ReadByte("a sorted set score"));
          if (len < 253) {
            char text[256];
            MIRRORKV_RETURN_IF_ERROR(ReadExact(text, len, "a sorted set score"));
          }
        }
        return Status::Ok();
      }
      case ValueType::kZset2: {
        MIRRORKV_ASSIGN_OR_RETURN(uint64_t n, ReadLength("a sorted set size"));
        for (uint64_t i = 0; i < n; ++i) {
          MIRRORKV_RETURN_IF_ERROR(SkipString("a sorted set member"));
          MIRRORKV_RETURN_IF_ERROR(Skip(8, "a sorted set score"));
        }
        return Status::Ok();
      }
      case ValueType::kListQuicklist2: {
        MIRRORKV_ASSIGN_OR_RETURN(uint64_t n, ReadLength("a quicklist size"));
        for (uint64_t i = 0; i < n; ++i) {
          MIRRORKV_RETURN_IF_ERROR(ReadLength("a quicklist container").status());
          MIRRORKV_RETURN_IF_ERROR(SkipString("a quicklist node"));
        }
        return Status::Ok();
      }
      case ValueType::kModule2:
        MIRRORKV_RETURN_IF_ERROR(ReadLength("a module id").status());
        return SkipModuleValue();
      case ValueType::kStreamListpacks:
      case ValueType::kStreamListpacks2:
        return SkipStream(type == static_cast<uint8_t>(ValueType::kStreamListpacks2));
      case ValueType::kModule:
        return Corrupt(at,
                       "a module value in the opaque format of Redis before 4.0 (type 6) "
                       "cannot be read or skipped");
    }
    return Corrupt(at, absl::StrCat("unknown value type ", type));
  }

  Status SkipLengths(int n, std::string_view what) {
    for (int i = 0; i < n; ++i) MIRRORKV_RETURN_IF_ERROR(ReadLength(what).status());
    return Status::Ok();
  }

  Status SkipStream(bool v2) {
    MIRRORKV_ASSIGN_OR_RETURN(uint64_t listpacks, ReadLength("a stream's listpack count"));
    MIRRORKV_RETURN_IF_ERROR(SkipStrings(listpacks, 2, "a stream listpack"));
    // Length and last ID; version 2 adds the first ID, the largest deleted ID and the
    // count of entries ever added.
    MIRRORKV_RETURN_IF_ERROR(SkipLengths(v2 ? 8 : 3, "a stream's metadata"));
    MIRRORKV_ASSIGN_OR_RETURN(uint64_t groups, ReadLength("a stream's group count"));
    for (uint64_t g = 0; g < groups; ++g) {
      MIRRORKV_RETURN_IF_ERROR(SkipString("a consumer group name"));
      MIRRORKV_RETURN_IF_ERROR(SkipLengths(v2 ? 3 : 2, "a consumer group's position"));
      MIRRORKV_ASSIGN_OR_RETURN(uint64_t pending, ReadLength("a group's pending count"));
      for (uint64_t p = 0; p < pending; ++p) {
        MIRRORKV_RETURN_IF_ERROR(Skip(kStreamIdBytes, "a pending entry ID"));
        MIRRORKV_RETURN_IF_ERROR(Skip(8, "a delivery time"));
        MIRRORKV_RETURN_IF_ERROR(ReadLength("a delivery count").status());
      }
      MIRRORKV_ASSIGN_OR_RETURN(uint64_t consumers, ReadLength("a group's consumer count"));
      for (uint64_t c = 0; c < consumers; ++c) {
        MIRRORKV_RETURN_IF_ERROR(SkipString("a consumer name"));
        MIRRORKV_RETURN_IF_ERROR(Skip(8, "a consumer's seen time"));
        MIRRORKV_ASSIGN_OR_RETURN(uint64_t owned, ReadLength("a consumer's pending count"));
        for (uint64_t p = 0; p < owned; ++p) {
          MIRRORKV_RETURN_IF_ERROR(Skip(kStreamIdBytes, "a pending entry ID"));
        }
      }
    }
    return Status::Ok();
  }

  // `problem` (a collection builder's or a packed decoder's, which know no position in
  // the RDB) as the corruption of the value being read, placed at `at`.
  Status InValue(uint64_t at, const Status& problem) const {
    if (problem.ok()) return problem;
    return Corrupt(at, absl::StrCat("the value of key '", AsAbsl(value_key_), "' (",
                                    AsAbsl(rdb::ValueTypeName(value_type_)),
                                    "): ", AsAbsl(problem.message())));
  }

  // Reads a blob (a packed encoding) into blob_ and decodes it with `decode`.
  template <typename Decode>
  Status ReadBlob(std::string_view what, Decode&& decode, CollectionBuilder& built) {
    const uint64_t at = offset_;
    blob_.clear();
    MIRRORKV_RETURN_IF_ERROR(ReadString(&blob_, max_value_bytes_, what));
    return InValue(at, decode(blob_, [&built](std::string_view element) { built.Add(element); }));
  }

  // Reads the value of a collection encoding into `built`. Positions in the messages of
  // the packed decoders are relative to the blob.
  Status ReadCollection(uint8_t type, CollectionBuilder& built) {
    switch (static_cast<ValueType>(type)) {
      case ValueType::kList:
      case ValueType::kSet: {
        MIRRORKV_ASSIGN_OR_RETURN(uint64_t n, ReadLength("a collection size"));
        for (uint64_t i = 0; i < n && built.ok(); ++i) {
          element_.clear();
          MIRRORKV_RETURN_IF_ERROR(ReadString(&element_, max_value_bytes_, "an element"));
          built.Add(element_);
        }
        return Status::Ok();
      }
      case ValueType::kHash: {
        MIRRORKV_ASSIGN_OR_RETURN(uint64_t n, ReadLength("a hash size"));
        for (uint64_t i = 0; i < n && built.ok(); ++i) {
          element_.clear();
          MIRRORKV_RETURN_IF_ERROR(ReadString(&element_, max_value_bytes_, "a hash field"));
          built.Add(element_);
          element_.clear();
          MIRRORKV_RETURN_IF_ERROR(ReadString(&element_, max_value_bytes_, "a hash value"));
          built.Add(element_);
        }
        return Status::Ok();
      }
      case ValueType::kZset:
      case ValueType::kZset2: {
        const bool binary = type == static_cast<uint8_t>(ValueType::kZset2);
        MIRRORKV_ASSIGN_OR_RETURN(uint64_t n, ReadLength("a sorted set size"));
        for (uint64_t i = 0; i < n && built.ok(); ++i) {
          element_.clear();
          MIRRORKV_RETURN_IF_ERROR(ReadString(&element_, max_value_bytes_, "a sorted set member"));
          MIRRORKV_ASSIGN_OR_RETURN(double score, binary ? ReadBinaryScore() : ReadTextScore());
          built.AddScored(element_, score);
        }
        return Status::Ok();
      }
      case ValueType::kListQuicklist:
      case ValueType::kListQuicklist2: {
        const bool v2 = type == static_cast<uint8_t>(ValueType::kListQuicklist2);
        MIRRORKV_ASSIGN_OR_RETURN(uint64_t nodes, ReadLength("a quicklist size"));
        for (uint64_t i = 0; i < nodes && built.ok(); ++i) {
          uint64_t container = kQuicklistPacked;
          const uint64_t at = offset_;
          if (v2) {
            MIRRORKV_ASSIGN_OR_RETURN(container, ReadLength("a quicklist node's container"));
          }
          if (container == kQuicklistPlain) {
            element_.clear();
            MIRRORKV_RETURN_IF_ERROR(ReadString(&element_, max_value_bytes_, "a list item"));
            built.Add(element_);
            continue;
          }
          if (container != kQuicklistPacked) {
            return Corrupt(at, absl::StrCat("unknown quicklist node container ", container));
          }
          MIRRORKV_RETURN_IF_ERROR(
              ReadBlob("a quicklist node", v2 ? rdb::DecodeListpack : rdb::DecodeZiplist, built));
        }
        return Status::Ok();
      }
      case ValueType::kHashZipmap:
        return ReadBlob("a zipmap", rdb::DecodeZipmap, built);
      case ValueType::kSetIntset:
        return ReadBlob("an intset", rdb::DecodeIntset, built);
      case ValueType::kListZiplist:
      case ValueType::kZsetZiplist:
      case ValueType::kHashZiplist:
        return ReadBlob("a ziplist", rdb::DecodeZiplist, built);
      case ValueType::kHashListpack:
      case ValueType::kZsetListpack:
        return ReadBlob("a listpack", rdb::DecodeListpack, built);
      default:
        return Status::Ok();  // not a collection encoding: CollectionTypeOf excludes it
    }
  }

  // A sorted set score as 8 bytes of IEEE 754, little-endian (RDB_TYPE_ZSET_2).
  Result<double> ReadBinaryScore() {
    char bytes[8];
    MIRRORKV_RETURN_IF_ERROR(ReadExact(bytes, 8, "a sorted set score"));
    const uint64_t bits = snapshot::GetU64(bytes);
    double score;
    std::memcpy(&score, &bits, sizeof(score));
    return score;
  }

  // A sorted set score as text (RDB_TYPE_ZSET): a length byte, 253 to 255 standing for
  // NaN, +inf and -inf.
  Result<double> ReadTextScore() {
    const uint64_t at = offset_;
    MIRRORKV_ASSIGN_OR_RETURN(uint8_t len, ReadByte("a sorted set score"));
    if (len == 253) return std::numeric_limits<double>::quiet_NaN();
    if (len == 254) return std::numeric_limits<double>::infinity();
    if (len == 255) return -std::numeric_limits<double>::infinity();
    char text[256];
    MIRRORKV_RETURN_IF_ERROR(ReadExact(text, len, "a sorted set score"));
    double score;
    if (!ParseScore({text, len}, &score)) return Corrupt(at, "a sorted set score is not a number");
    return score;
  }

  // One key: a string or collection of database 0 is staged; anything else is skipped
  // and counted.
  Status ReadKey(uint64_t at, uint8_t type, uint64_t db, int64_t deadline) {
    if (db == 0 && CollectionTypeOf(type) != KeyType::kNone) {
      std::string key;
      MIRRORKV_RETURN_IF_ERROR(ReadString(&key, max_key_bytes_, "a key"));
      CollectionBuilder built(CollectionTypeOf(type), max_value_bytes_);
      value_key_ = std::string_view(key).substr(0, 64);
      value_type_ = type;
      MIRRORKV_RETURN_IF_ERROR(ReadCollection(type, built));
      MIRRORKV_RETURN_IF_ERROR(InValue(at, built.Finish()));
      ++info_->keys;
      // An empty collection is left out, as Redis does (it once wrote some by mistake).
      if (Collection* collection = built.Release(); collection != nullptr) {
        staged_->AddCollection(key, collection, deadline);
      }
      return Status::Ok();
    }
    if (type == static_cast<uint8_t>(ValueType::kString) && db == 0) {
      Pending entry;
      entry.key_at = arena_.size();
      MIRRORKV_RETURN_IF_ERROR(ReadString(&arena_, max_key_bytes_, "a key"));
      entry.value_at = arena_.size();
      MIRRORKV_RETURN_IF_ERROR(ReadString(&arena_, max_value_bytes_, "a string value"));
      entry.end = arena_.size();
      entry.deadline = deadline;
      pending_.push_back(entry);
      ++info_->keys;
      if (arena_.size() >= kApplyBatchBytes) return Flush();
      return Status::Ok();
    }
    std::string key;
    MIRRORKV_RETURN_IF_ERROR(ReadString(&key, max_key_bytes_, "a key"));
    if (info_->skipped_keys++ == 0) {
      info_->first_skipped = absl::StrCat("'", AsAbsl(std::string_view(key).substr(0, 200)), "' (",
                                          AsAbsl(rdb::ValueTypeName(type)), ", db ", db, ")");
    }
    return SkipValue(at, type);
  }

  // Hands the pending entries to the staging store.
  Status Flush() {
    for (const Pending& p : pending_) {
      staged_->Add({arena_.data() + p.key_at, p.value_at - p.key_at},
                   {arena_.data() + p.value_at, p.end - p.value_at}, p.deadline);
    }
    Status applied = staged_->Apply();
    pending_.clear();
    arena_.clear();
    if (arena_.capacity() > 2 * kApplyBatchBytes) arena_.shrink_to_fit();
    if (!applied.ok()) {
      return Status::Corruption(absl::StrCat("RDB key rejected by the store near byte ", offset_,
                                             ": ", AsAbsl(applied.message())));
    }
    return Status::Ok();
  }

  Status ReadChecksum() {
    const uint64_t at = offset_;
    const uint64_t computed = crc_;
    // Versions before 5 have no checksum: the file ends at the EOF opcode.
    if (info_->version < 5) return Status::Ok();
    char trailer[rdb::kChecksumBytes];
    MIRRORKV_ASSIGN_OR_RETURN(size_t got, ReadUpTo(trailer, sizeof(trailer)));
    offset_ += got;
    if (got < sizeof(trailer)) return Truncated("the checksum");
    const uint64_t stored = snapshot::GetU64(trailer);
    // Zero: the writer computed no checksum (Redis with rdbchecksum no).
    if (stored != 0 && stored != computed) {
      return Corrupt(at, absl::StrFormat("checksum mismatch (stored %016x, computed %016x)", stored,
                                         computed));
    }
    return Status::Ok();
  }

  struct Pending {
    size_t key_at = 0;
    size_t value_at = 0;
    size_t end = 0;
    int64_t deadline = 0;
  };

  ReadableFile& source_;
  const RdbReadOptions& options_;
  const uint64_t max_key_bytes_;
  const uint64_t max_value_bytes_;
  const std::optional<uint64_t> size_;
  StagedLoad* staged_ = nullptr;
  RdbLoadInfo* info_ = nullptr;
  uint64_t offset_ = 0;
  uint64_t crc_ = 0;
  uint64_t next_progress_ = kProgressBytes;
  std::string arena_;  // the pending entries' keys and values
  std::vector<Pending> pending_;
  std::string lzf_;      // a compressed string as stored
  std::string blob_;     // a packed collection encoding
  std::string element_;  // a collection element
  // The key and type of the collection being read, for the messages of InValue.
  std::string_view value_key_;
  uint8_t value_type_ = 0;
  std::string scratch_;  // a piece of a skipped string
};

}  // namespace

Result<RdbLoadInfo> LoadRdbChecked(Store& store, ReadableFile& source,
                                   const RdbReadOptions& options, bool require_end) {
  const auto started = std::chrono::steady_clock::now();
  Store::Impl& target = store.impl();
  RdbReader reader(source, options, std::min(options.max_key_bytes, target.options().max_key_bytes),
                   std::min(options.max_value_bytes, target.options().max_value_bytes));
  MIRRORKV_ASSIGN_OR_RETURN(std::unique_ptr<StagedLoad> staged, StagedLoad::Create(target));
  RdbLoadInfo info;
  MIRRORKV_RETURN_IF_ERROR(reader.Read(*staged, &info));
  if (require_end) {
    MIRRORKV_ASSIGN_OR_RETURN(bool at_end, reader.AtEnd());
    if (!at_end) {
      return Status::Corruption(absl::StrCat("RDB corrupt at byte ", reader.offset(),
                                             ": unexpected bytes after the end"));
    }
  }
  if (!options.skip_unsupported && (info.skipped_keys > 0 || info.skipped_functions > 0)) {
    std::string what;
    if (info.skipped_keys > 0) {
      what = absl::StrCat(info.skipped_keys,
                          " keys of a type mirrorkv does not hold (stream, module) or in a "
                          "database other than 0 (the first: ",
                          info.first_skipped, ")");
    }
    if (info.skipped_functions > 0) {
      absl::StrAppend(&what, what.empty() ? "" : " and ", info.skipped_functions,
                      " function libraries");
    }
    return Status::InvalidArgument(absl::StrCat("the RDB holds ", what,
                                                ", which mirrorkv does not hold; nothing was "
                                                "loaded (skipping them is an explicit option)"));
  }
  MIRRORKV_RETURN_IF_ERROR(staged->Publish());
  info.expired = staged->expired();
  info.bytes = reader.offset();
  info.elapsed = std::chrono::steady_clock::now() - started;
  return info;
}

}  // namespace internal

Result<RdbLoadInfo> LoadRdb(Store& store, ReadableFile& source, const RdbReadOptions& options) {
  return internal::LoadRdbChecked(store, source, options, /*require_end=*/false);
}

Result<RdbLoadInfo> LoadRdbFile(Store& store, const std::string& path,
                                const RdbReadOptions& options) {
  MIRRORKV_ASSIGN_OR_RETURN(std::unique_ptr<ReadableFile> file, NewReadableFile(path));
  internal::ReadAheadFile buffered(*file);
  Result<RdbLoadInfo> loaded = internal::LoadRdbChecked(store, buffered, options, true);
  if (!loaded.ok()) return loaded.status().WithContext(absl::StrCat("loading ", path));
  return loaded;
}

bool LooksLikeRdb(std::string_view prefix) {
  return prefix.size() >= 6 && prefix.substr(0, 5) == internal::rdb::kMagic && prefix[5] >= '0' &&
         prefix[5] <= '9';
}

}  // namespace mirrorkv
