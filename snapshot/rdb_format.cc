// RDB length and integer encodings; see rdb_format.h.
#include "snapshot/rdb_format.h"

#include "engine/base/numbers.h"

namespace mirrorkv::internal::rdb {

std::string_view ValueTypeName(uint8_t type) {
  switch (static_cast<ValueType>(type)) {
    case ValueType::kString:
      return "string";
    case ValueType::kList:
    case ValueType::kListZiplist:
    case ValueType::kListQuicklist:
    case ValueType::kListQuicklist2:
      return "list";
    case ValueType::kSet:
    case ValueType::kSetIntset:
      return "set";
    case ValueType::kZset:
    case ValueType::kZset2:
    case ValueType::kZsetZiplist:
    case ValueType::kZsetListpack:
      return "zset";
    case ValueType::kHash:
    case ValueType::kHashZipmap:
    case ValueType::kHashZiplist:
    case ValueType::kHashListpack:
      return "hash";
    case ValueType::kModule:
    case ValueType::kModule2:
      return "module";
    case ValueType::kStreamListpacks:
    case ValueType::kStreamListpacks2:
      return "stream";
  }
  return "unknown";
}

char* PutLength(char* out, uint64_t length) {
  if (length < (1u << 6)) {
    *out++ = static_cast<char>(length);
  } else if (length < (1u << 14)) {
    *out++ = static_cast<char>((k14BitLength << 6) | (length >> 8));
    *out++ = static_cast<char>(length & 0xff);
  } else if (length <= UINT32_MAX) {
    *out++ = static_cast<char>(k32BitLength);
    for (int i = 3; i >= 0; --i) *out++ = static_cast<char>(length >> (8 * i));  // big-endian
  } else {
    *out++ = static_cast<char>(k64BitLength);
    for (int i = 7; i >= 0; --i) *out++ = static_cast<char>(length >> (8 * i));
  }
  return out;
}

bool AsEncodableInteger(std::string_view value, int32_t* out) {
  // ParseInt64 accepts exactly the canonical forms (the ones that print back the same),
  // which is Redis's condition too: anything else would not round-trip byte for byte.
  int64_t v;
  if (value.empty() || value.size() > 11 || !ParseInt64(value, &v)) return false;
  if (v < INT32_MIN || v > INT32_MAX) return false;
  *out = static_cast<int32_t>(v);
  return true;
}

char* PutEncodedInteger(char* out, int32_t v) {
  // Little-endian, in the narrowest of 1, 2 or 4 bytes.
  const auto special = [](uint8_t encoding) {
    return static_cast<char>((kSpecialEncoding << 6) | encoding);
  };
  if (v >= INT8_MIN && v <= INT8_MAX) {
    *out++ = special(kEncodingInt8);
    *out++ = static_cast<char>(v);
  } else if (v >= INT16_MIN && v <= INT16_MAX) {
    *out++ = special(kEncodingInt16);
    for (int i = 0; i < 2; ++i) *out++ = static_cast<char>(static_cast<uint32_t>(v) >> (8 * i));
  } else {
    *out++ = special(kEncodingInt32);
    for (int i = 0; i < 4; ++i) *out++ = static_cast<char>(static_cast<uint32_t>(v) >> (8 * i));
  }
  return out;
}

}  // namespace mirrorkv::internal::rdb
