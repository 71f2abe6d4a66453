// CRC-64/Jones with slice-by-8 tables; see crc64.h.
#include "snapshot/crc64.h"

#include <array>
#include <bit>
#include <cstring>

namespace mirrorkv::internal {
namespace {

static_assert(std::endian::native == std::endian::little, "Crc64 reads words little-endian");

// The Jones polynomial 0xad93d23594c935a9 with its bits reversed, for the reflected form.
constexpr uint64_t kReflectedPolynomial = 0x95ac9329ac4bc9b5;

using Tables = std::array<std::array<uint64_t, 256>, 8>;

// tables[0][b] is the CRC of the single byte b; tables[k][b] that of b followed by k zero
// bytes, which lets eight input bytes be folded in with eight lookups.
constexpr Tables MakeTables() {
  Tables tables{};
  for (uint64_t b = 0; b < 256; ++b) {
    uint64_t crc = b;
    for (int bit = 0; bit < 8; ++bit)
      crc = (crc & 1) ? (crc >> 1) ^ kReflectedPolynomial : crc >> 1;
    tables[0][b] = crc;
  }
  for (size_t k = 1; k < 8; ++k) {
    for (size_t b = 0; b < 256; ++b) {
      const uint64_t prev = tables[k - 1][b];
      tables[k][b] = (prev >> 8) ^ tables[0][prev & 0xff];
    }
  }
  return tables;
}

constexpr Tables kTables = MakeTables();

}  // namespace

uint64_t Crc64(uint64_t crc, std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t n = bytes.size();
  // The word loop reads the input as a little-endian u64, which is what the reflected
  // form consumes first; mirrorkv builds for little-endian hosts only.
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    crc ^= word;
    crc = kTables[7][crc & 0xff] ^ kTables[6][(crc >> 8) & 0xff] ^ kTables[5][(crc >> 16) & 0xff] ^
          kTables[4][(crc >> 24) & 0xff] ^ kTables[3][(crc >> 32) & 0xff] ^
          kTables[2][(crc >> 40) & 0xff] ^ kTables[1][(crc >> 48) & 0xff] ^ kTables[0][crc >> 56];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) crc = kTables[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return crc;
}

}  // namespace mirrorkv::internal
