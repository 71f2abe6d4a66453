// Decoders of Redis's packed collection encodings; see rdb_encodings.h.
#include "snapshot/rdb_encodings.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "engine/base/numbers.h"
#include "engine/base/strings.h"

namespace mirrorkv::internal::rdb {
namespace {

// Little-endian unsigned integer of `n` bytes at `p`.
uint64_t GetLe(const char* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = n; i-- > 0;) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// Sign-extends the low `bits` bits of `v`.
int64_t SignExtend(uint64_t v, int bits) {
  const uint64_t sign = uint64_t{1} << (bits - 1);
  v &= (sign << 1) - 1;
  // In unsigned arithmetic, then converted (modular since C++20): for 64 bits the
  // signed subtraction would overflow.
  return static_cast<int64_t>((v ^ sign) - sign);
}

Status Bad(std::string_view encoding, size_t at, std::string_view what) {
  return Status::Corruption(absl::StrCat(AsAbsl(encoding), " at byte ", at, ": ", AsAbsl(what)));
}

// The checks a listpack and a ziplist start with: room for the header of `header` bytes
// and the end marker, and a leading u32 total that is the blob's size.
Status CheckTotalBytes(std::string_view encoding, std::string_view blob, size_t header) {
  if (blob.size() < header + 1) return Bad(encoding, 0, "shorter than its header and end");
  if (GetLe(blob.data(), 4) != blob.size()) {
    return Bad(
        encoding, 0,
        absl::StrCat("total of ", GetLe(blob.data(), 4), " bytes, but it holds ", blob.size()));
  }
  return Status::Ok();
}

// A listpack's or ziplist's u16 entry count at byte `at` against the entries it holds;
// 65535 means "too many to count here", as Redis writes it.
Status CheckDeclaredCount(std::string_view encoding, size_t at, uint64_t declared, uint64_t count) {
  if (declared == 65535 || declared == count) return Status::Ok();
  return Bad(encoding, at,
             absl::StrCat("header counts ", declared, " entries, but it holds ", count));
}

void PassInteger(int64_t v, ElementCallback element) {
  char digits[kMaxInt64Digits];
  element(FormatInt64(v, digits));
}

// The bytes of a listpack entry's back length, which encodes `entry` (the length of the
// entry's encoding and data) in 7-bit groups.
size_t ListpackBacklenBytes(uint64_t entry) {
  if (entry <= 127) return 1;
  if (entry < 16383) return 2;
  if (entry < 2097151) return 3;
  if (entry < 268435455) return 4;
  return 5;
}

// Whether the back length at `p` (`n` bytes) encodes `entry`: the first byte holds the
// highest group, each later one has its top bit set.
bool ListpackBacklenMatches(const char* p, size_t n, uint64_t entry) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) {
    const auto byte = static_cast<uint8_t>(p[i]);
    if ((i > 0) != ((byte & 0x80) != 0)) return false;
    v = (v << 7) | (byte & 0x7f);
  }
  return v == entry;
}

}  // namespace

Status DecodeListpack(std::string_view blob, ElementCallback element) {
  constexpr std::string_view kName = "listpack";
  constexpr size_t kHeader = 6;
  MIRRORKV_RETURN_IF_ERROR(CheckTotalBytes(kName, blob, kHeader));
  const uint64_t declared = GetLe(blob.data() + 4, 2);
  const size_t end = blob.size() - 1;  // the 0xFF terminator
  if (static_cast<uint8_t>(blob[end]) != 0xff) return Bad(kName, end, "no end marker");
  uint64_t count = 0;
  size_t p = kHeader;
  while (p < end) {
    const char* e = blob.data() + p;
    const size_t left = end - p;
    const auto b = static_cast<uint8_t>(e[0]);
    uint64_t head = 1;  // encoding bytes
    uint64_t data = 0;  // string bytes after them
    bool is_int = true;
    int64_t v = 0;
    if ((b & 0x80) == 0) {
      v = b;
    } else if ((b & 0xc0) == 0x80) {
      is_int = false;
      data = b & 0x3f;
    } else if ((b & 0xe0) == 0xc0) {
      head = 2;
      if (left >= 2) v = SignExtend((uint64_t{b & 0x1fu} << 8) | static_cast<uint8_t>(e[1]), 13);
    } else if ((b & 0xf0) == 0xe0) {
      head = 2;
      is_int = false;
      if (left >= 2) data = (uint64_t{b & 0x0fu} << 8) | static_cast<uint8_t>(e[1]);
    } else if (b == 0xf0) {
      head = 5;
      is_int = false;
      if (left >= 5) data = GetLe(e + 1, 4);
    } else if (b >= 0xf1 && b <= 0xf4) {
      const int width[] = {2, 3, 4, 8};
      const int bytes = width[b - 0xf1];
      head = 1 + bytes;
      if (left >= head) v = SignExtend(GetLe(e + 1, bytes), 8 * bytes);
    } else {
      return Bad(kName, p, absl::StrCat("unknown entry encoding 0x", absl::Hex(b)));
    }
    if (head > left || data > left - head) return Bad(kName, p, "an entry runs past the end");
    const uint64_t entry = head + data;
    const size_t backlen = ListpackBacklenBytes(entry);
    if (backlen > left - entry || !ListpackBacklenMatches(e + entry, backlen, entry)) {
      return Bad(kName, p, "an entry's back length does not match it");
    }
    if (is_int) {
      PassInteger(v, element);
    } else {
      element(std::string_view(e + head, data));
    }
    ++count;
    p += entry + backlen;
  }
  return CheckDeclaredCount(kName, 4, declared, count);
}

Status DecodeZiplist(std::string_view blob, ElementCallback element) {
  constexpr std::string_view kName = "ziplist";
  constexpr size_t kHeader = 10;
  MIRRORKV_RETURN_IF_ERROR(CheckTotalBytes(kName, blob, kHeader));
  const uint64_t tail = GetLe(blob.data() + 4, 4);
  const uint64_t declared = GetLe(blob.data() + 8, 2);
  const size_t end = blob.size() - 1;
  if (static_cast<uint8_t>(blob[end]) != 0xff) return Bad(kName, end, "no end marker");
  uint64_t count = 0;
  uint64_t previous = 0;  // the length of the entry before, as the next one records it
  size_t last = kHeader;  // where the last entry starts (the header's end if none)
  size_t p = kHeader;
  while (p < end) {
    const char* e = blob.data() + p;
    const size_t left = end - p;
    uint64_t prevlen_bytes = 1;
    uint64_t prevlen = static_cast<uint8_t>(e[0]);
    if (prevlen == 254) {
      prevlen_bytes = 5;
      if (left < 5) return Bad(kName, p, "an entry runs past the end");
      prevlen = GetLe(e + 1, 4);
    } else if (prevlen == 255) {
      return Bad(kName, p, "an end marker before the end");
    }
    if (prevlen != previous) return Bad(kName, p, "an entry's previous length does not match");
    if (prevlen_bytes >= left) return Bad(kName, p, "an entry runs past the end");
    const char* enc = e + prevlen_bytes;
    const size_t room = left - prevlen_bytes;
    const auto b = static_cast<uint8_t>(enc[0]);
    uint64_t head = 1;
    uint64_t data = 0;
    bool is_int = true;
    int64_t v = 0;
    switch (b >> 6) {
      case 0:
        is_int = false;
        data = b & 0x3f;
        break;
      case 1:
        is_int = false;
        head = 2;
        if (room >= 2) data = (uint64_t{b & 0x3fu} << 8) | static_cast<uint8_t>(enc[1]);
        break;
      case 2:
        if (b != 0x80)
          return Bad(kName, p, absl::StrCat("unknown entry encoding 0x", absl::Hex(b)));
        is_int = false;
        head = 5;
        if (room >= 5) {  // big-endian, unlike everything else here
          for (int i = 1; i <= 4; ++i) data = (data << 8) | static_cast<uint8_t>(enc[i]);
        }
        break;
      default: {
        int bytes = 0;
        if (b == 0xc0) bytes = 2;
        if (b == 0xd0) bytes = 4;
        if (b == 0xe0) bytes = 8;
        if (b == 0xf0) bytes = 3;
        if (b == 0xfe) bytes = 1;
        if (bytes > 0) {
          head = 1 + bytes;
          if (room >= head) v = SignExtend(GetLe(enc + 1, bytes), 8 * bytes);
        } else if (b >= 0xf1 && b <= 0xfd) {
          v = (b & 0x0f) - 1;  // an immediate 0 to 12
        } else {
          return Bad(kName, p, absl::StrCat("unknown entry encoding 0x", absl::Hex(b)));
        }
      }
    }
    if (head > room || data > room - head) return Bad(kName, p, "an entry runs past the end");
    if (is_int) {
      PassInteger(v, element);
    } else {
      element(std::string_view(enc + head, data));
    }
    ++count;
    last = p;
    previous = prevlen_bytes + head + data;
    p += previous;
  }
  if (tail != last) {
    return Bad(kName, 4, absl::StrCat("header places the last entry at ", tail, ", not ", last));
  }
  return CheckDeclaredCount(kName, 8, declared, count);
}

Status DecodeIntset(std::string_view blob, ElementCallback element) {
  constexpr std::string_view kName = "intset";
  constexpr size_t kHeader = 8;
  if (blob.size() < kHeader) return Bad(kName, 0, "shorter than its header");
  const uint64_t width = GetLe(blob.data(), 4);
  if (width != 2 && width != 4 && width != 8) {
    return Bad(kName, 0, absl::StrCat("unknown integer width ", width));
  }
  const uint64_t count = GetLe(blob.data() + 4, 4);
  if (count * width != blob.size() - kHeader) {
    return Bad(kName, 4,
               absl::StrCat(count, " integers of ", width, " bytes, but it holds ",
                            blob.size() - kHeader, " bytes of them"));
  }
  int64_t previous = 0;
  for (uint64_t i = 0; i < count; ++i) {
    const size_t at = kHeader + i * width;
    const int64_t v = SignExtend(GetLe(blob.data() + at, width), static_cast<int>(8 * width));
    if (i > 0 && v <= previous) return Bad(kName, at, "integers not strictly increasing");
    previous = v;
    PassInteger(v, element);
  }
  return Status::Ok();
}

Status DecodeZipmap(std::string_view blob, ElementCallback element) {
  constexpr std::string_view kName = "zipmap";
  if (blob.size() < 2) return Bad(kName, 0, "shorter than its count and end");
  const size_t end = blob.size() - 1;
  if (static_cast<uint8_t>(blob[end]) != 0xff) return Bad(kName, end, "no end marker");
  size_t p = 1;  // after the count byte, which only hints (254 and up: count unknown)
  // Reads a length at p: one byte, or 254 then a u32 (255 is the end marker).
  const auto length = [&](uint64_t* out) {
    if (p >= end) return false;
    const auto b = static_cast<uint8_t>(blob[p]);
    if (b == 255) return false;
    if (b < 254) {
      *out = b;
      p += 1;
      return true;
    }
    if (end - p < 5) return false;
    *out = GetLe(blob.data() + p + 1, 4);
    p += 5;
    return true;
  };
  while (p < end) {
    const size_t at = p;
    uint64_t field;
    uint64_t value;
    if (!length(&field) || field > end - p) return Bad(kName, at, "a field runs past the end");
    const std::string_view field_bytes = blob.substr(p, field);
    p += field;
    if (!length(&value) || p >= end) return Bad(kName, at, "a value runs past the end");
    const uint64_t free = static_cast<uint8_t>(blob[p++]);
    if (value > end - p || free > end - p - value)
      return Bad(kName, at, "a value runs past the end");
    element(field_bytes);
    element(blob.substr(p, value));
    p += value + free;
  }
  return Status::Ok();
}

}  // namespace mirrorkv::internal::rdb
