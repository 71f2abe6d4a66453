// LZF compression and decompression; the item format is described in lzf.h.
//
// The compressor is the usual greedy one: a hash of the next three bytes finds the last
// position that started with the same hash, and a match of at least three bytes within
// the 8 KiB window becomes a back reference; everything else is gathered into literal
// runs of up to 32 bytes.
#include "snapshot/lzf.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

namespace mirrorkv::internal {
namespace {

constexpr size_t kMaxLiteral = 32;
constexpr size_t kMaxOffset = 1 << 13;      // distances 1 .. 8192
constexpr size_t kMaxMatch = (1 << 8) + 8;  // 2 + 7 + 255
constexpr int kHashBits = 14;

inline uint32_t HashAt(const unsigned char* p) {
  const uint32_t v = (uint32_t{p[0]} << 16) | (uint32_t{p[1]} << 8) | p[2];
  return (v * 2654435761u) >> (32 - kHashBits);
}

}  // namespace

size_t LzfCompress(std::string_view in, char* out_chars, size_t capacity) {
  const auto* ip = reinterpret_cast<const unsigned char*>(in.data());
  const unsigned char* const in_end = ip + in.size();
  auto* op = reinterpret_cast<unsigned char*>(out_chars);
  unsigned char* const out_end = op + capacity;
  // Positions + 1 of the last occurrence of each hash; 0 means none.
  std::array<uint32_t, 1 << kHashBits> last{};
  const auto* const base = ip;

  // The open literal run: its control byte's place and its length so far.
  unsigned char* literal_ctrl = nullptr;
  size_t literal_len = 0;
  auto emit_literal = [&](unsigned char byte) -> bool {
    if (literal_ctrl == nullptr || literal_len == kMaxLiteral) {
      if (op >= out_end) return false;
      literal_ctrl = op++;
      literal_len = 0;
    }
    if (op >= out_end) return false;
    *op++ = byte;
    *literal_ctrl = static_cast<unsigned char>(literal_len++);
    return true;
  };

  while (ip < in_end) {
    if (in_end - ip >= 3) {
      const uint32_t h = HashAt(ip);
      const size_t here = static_cast<size_t>(ip - base);
      const size_t candidate = last[h];
      last[h] = static_cast<uint32_t>(here + 1);
      if (candidate != 0 && here - (candidate - 1) <= kMaxOffset) {
        const unsigned char* ref = base + candidate - 1;
        size_t len = 0;
        const size_t most = std::min<size_t>(kMaxMatch, static_cast<size_t>(in_end - ip));
        while (len < most && ref[len] == ip[len]) ++len;
        if (len >= 3) {
          const size_t offset = static_cast<size_t>(ip - ref) - 1;
          const size_t code = len - 2;
          if (out_end - op < 3) return 0;
          if (code < 7) {
            *op++ = static_cast<unsigned char>((code << 5) | (offset >> 8));
          } else {
            *op++ = static_cast<unsigned char>((7 << 5) | (offset >> 8));
            *op++ = static_cast<unsigned char>(code - 7);
          }
          *op++ = static_cast<unsigned char>(offset & 0xff);
          literal_ctrl = nullptr;
          // Index the positions inside the match, so that later data can refer to them.
          for (size_t i = 1; i < len && in_end - (ip + i) >= 3; ++i) {
            last[HashAt(ip + i)] = static_cast<uint32_t>(here + i + 1);
          }
          ip += len;
          continue;
        }
      }
    }
    if (!emit_literal(*ip++)) return 0;
  }
  return static_cast<size_t>(op - reinterpret_cast<unsigned char*>(out_chars));
}

bool LzfDecompress(std::string_view in, char* out_chars, size_t out_len) {
  const auto* ip = reinterpret_cast<const unsigned char*>(in.data());
  const unsigned char* const in_end = ip + in.size();
  auto* op = reinterpret_cast<unsigned char*>(out_chars);
  unsigned char* const out_begin = op;
  unsigned char* const out_end = op + out_len;
  while (ip < in_end) {
    const unsigned ctrl = *ip++;
    if (ctrl < 32) {
      const size_t len = ctrl + 1;
      if (static_cast<size_t>(in_end - ip) < len || static_cast<size_t>(out_end - op) < len) {
        return false;
      }
      std::memcpy(op, ip, len);
      ip += len;
      op += len;
      continue;
    }
    size_t len = ctrl >> 5;
    if (len == 7) {
      if (ip >= in_end) return false;
      len += *ip++;
    }
    len += 2;
    if (ip >= in_end) return false;
    const size_t distance = (((ctrl & 0x1f) << 8) | *ip++) + 1;
    if (static_cast<size_t>(op - out_begin) < distance) return false;
    if (static_cast<size_t>(out_end - op) < len) return false;
    // Byte by byte: a reference may overlap the bytes it produces (a run).
    const unsigned char* ref = op - distance;
    for (size_t i = 0; i < len; ++i) op[i] = ref[i];
    op += len;
  }
  return op == out_end;
}

}  // namespace mirrorkv::internal
