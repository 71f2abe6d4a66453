// CRC-64/Jones, the checksum that ends every RDB file (docs/rdb-format.md).
//
// Parameters: polynomial 0xad93d23594c935a9, processed reflected (least significant bit
// first), initial value 0, no final xor. The check value of "123456789" is
// 0xe9c6d914c4b8d9ca. Computed eight bytes at a time from eight 256-entry tables
// (slice-by-8), about 2 GB/s, so that checksumming is not what limits an RDB transfer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mirrorkv::internal {

// The CRC of `bytes` continued from `crc` (0 to start). Thread-safe.
uint64_t Crc64(uint64_t crc, std::string_view bytes);

}  // namespace mirrorkv::internal
