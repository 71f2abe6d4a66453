// LZF, the compression RDB files use for string values (docs/rdb-format.md).
//
// An LZF stream is a sequence of items, each starting with a control byte c:
//   c < 32:  a literal run: the next c + 1 bytes are copied to the output;
//   c >= 32: a back reference: length (c >> 5) + 2, where a top value of 7 means a
//            further byte adds to it; then a byte that, with the low five bits of c,
//            gives the distance back from the output's end minus one (up to 8191).
// There is no header and no terminator: the caller knows both lengths.
#pragma once

#include <cstddef>
#include <string_view>

namespace mirrorkv::internal {

// Compresses `in` into `out` (room for `capacity` bytes) and returns the compressed
// length, or 0 when the output would not fit in `capacity` (the caller then stores the
// input as it is). Deterministic; thread-safe.
size_t LzfCompress(std::string_view in, char* out, size_t capacity);

// Decompresses `in` into exactly `out_len` bytes at `out`. Returns false, with `out`
// holding unspecified bytes, when the input is malformed: a reference before the
// output's start, an item running past the input or the output, or a decoded length
// other than `out_len`. Never reads or writes outside the given ranges.
bool LzfDecompress(std::string_view in, char* out, size_t out_len);

}  // namespace mirrorkv::internal
