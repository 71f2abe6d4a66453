// The packed encodings Redis stores collections in inside an RDB string: listpack
// (Redis 7), ziplist (RDB 9 and before), intset and zipmap (Redis 2.4 and before). The
// RDB reader decodes them; their layouts are described in docs/rdb-format.md.
//
// Every decoder trusts nothing: each header field, length and offset is checked against
// the blob's size before it is used, so a malformed blob is kCorruption naming what is
// wrong (and where in the blob), never a read out of bounds. Elements are passed to a
// callback as views into the blob (integers as their canonical decimal text, in a
// buffer valid for the call only), in the blob's order.
#pragma once

#include <string_view>

#include "absl/functional/function_ref.h"
#include "mirrorkv/status.h"

namespace mirrorkv::internal::rdb {

using ElementCallback = absl::FunctionRef<void(std::string_view element)>;

// A listpack: total bytes (u32), element count (u16, 65535 when unknown), the entries
// each followed by its back length, then 0xFF. The total and, when known, the count
// must match.
Status DecodeListpack(std::string_view blob, ElementCallback element);

// A ziplist: total bytes (u32), offset of the last entry (u32), element count (u16,
// 65535 when unknown), the entries each preceded by the previous one's length, then
// 0xFF. The total, the last offset, the previous lengths and a known count must match.
Status DecodeZiplist(std::string_view blob, ElementCallback element);

// An intset: the integer width (u32: 2, 4 or 8), the count (u32), then the integers,
// little-endian, strictly increasing.
Status DecodeIntset(std::string_view blob, ElementCallback element);

// A zipmap: a count byte, then for each pair a field and a value (each a length of one
// byte, or 254 and a u32; the value followed by a count of free bytes), then 0xFF.
// Passes field, value, field, value ...
Status DecodeZipmap(std::string_view blob, ElementCallback element);

}  // namespace mirrorkv::internal::rdb
