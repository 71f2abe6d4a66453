// The RDB format's constants and its length and string encodings, shared by the RDB
// writer and reader. The format is described in docs/rdb-format.md; the numbers are
// frozen by Redis (its rdb.h), and are written here as Redis 7.0 writes them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mirrorkv::internal::rdb {

// "REDIS" and four ASCII digits of the version.
inline constexpr std::string_view kMagic = "REDIS";
inline constexpr size_t kHeaderBytes = 9;
// The version Redis 7.0 writes, and the newest this reader accepts: a newer one may
// hold encodings it does not know.
inline constexpr int kVersion = 10;
// Version 3 introduced millisecond deadlines, the only kind this reader needs to know
// apart; every version from 1 on is read (see docs/rdb-format.md for what changed).
inline constexpr int kOldestVersion = 1;
inline constexpr size_t kChecksumBytes = 8;

// Opcodes: a byte in the place of a value type.
enum class Opcode : uint8_t {
  kFunction2 = 245,     // a function library (its source code as a string)
  kFunction = 246,      // the same, as 7.0's release candidates wrote it
  kModuleAux = 247,     // a module's data outside the key space
  kIdle = 248,          // LRU idle seconds of the next key (a length)
  kFreq = 249,          // LFU counter of the next key (one byte)
  kAux = 250,           // an auxiliary field: two strings
  kResizeDb = 251,      // two lengths: the database's key count and expiring key count
  kExpireTimeMs = 252,  // the next key's deadline: u64 ms, little-endian
  kExpireTime = 253,    // the next key's deadline: u32 s, little-endian
  kSelectDb = 254,      // a length: the database of the keys that follow
  kEof = 255,           // then the 8-byte checksum
};

// Value types (the byte before a key).
enum class ValueType : uint8_t {
  kString = 0,
  kList = 1,
  kSet = 2,
  kZset = 3,
  kHash = 4,
  kZset2 = 5,
  kModule = 6,
  kModule2 = 7,
  kHashZipmap = 9,
  kListZiplist = 10,
  kSetIntset = 11,
  kZsetZiplist = 12,
  kHashZiplist = 13,
  kListQuicklist = 14,
  kStreamListpacks = 15,
  kHashListpack = 16,
  kZsetListpack = 17,
  kListQuicklist2 = 18,
  kStreamListpacks2 = 19,
};

// The Redis type name of an RDB value type ("list", "zset" ...), or "unknown".
std::string_view ValueTypeName(uint8_t type);

// The two top bits of a length's first byte.
inline constexpr uint8_t k6BitLength = 0;
inline constexpr uint8_t k14BitLength = 1;
inline constexpr uint8_t k32BitLength = 0x80;
inline constexpr uint8_t k64BitLength = 0x81;
inline constexpr uint8_t kSpecialEncoding = 3;  // 11xxxxxx: an encoded string follows
// The low six bits of a special encoding.
inline constexpr uint8_t kEncodingInt8 = 0;
inline constexpr uint8_t kEncodingInt16 = 1;
inline constexpr uint8_t kEncodingInt32 = 2;
inline constexpr uint8_t kEncodingLzf = 3;

// Module value sub-opcodes (self-describing module data, RDB_TYPE_MODULE_2 and
// module AUX), each a length followed by its value.
enum class ModuleOpcode : uint8_t {
  kEof = 0,
  kSignedInt = 1,    // a length
  kUnsignedInt = 2,  // a length
  kFloat = 3,        // 4 bytes
  kDouble = 4,       // 8 bytes
  kString = 5,       // a string
};

// The longest encoded length: a marker byte and a u64.
inline constexpr size_t kMaxLengthBytes = 9;

// Writes `length` in its shortest form at `out` (room for kMaxLengthBytes) and
// returns the end.
char* PutLength(char* out, uint64_t length);

// The bytes PutLength writes for `length`.
inline size_t LengthBytes(uint64_t length) {
  if (length < (1u << 6)) return 1;
  if (length < (1u << 14)) return 2;
  if (length <= UINT32_MAX) return 5;
  return 9;
}

// Whether Redis would store `value` as an integer encoding, and the integer: the
// canonical decimal form of a number in [-2^31, 2^31) (no '+', no leading zero, at most
// 11 bytes), as Redis's rdbTryIntegerEncoding decides.
bool AsEncodableInteger(std::string_view value, int32_t* out);

// Writes the integer encoding of `v` at `out` (room for 5 bytes); returns the end.
char* PutEncodedInteger(char* out, int32_t v);

}  // namespace mirrorkv::internal::rdb
