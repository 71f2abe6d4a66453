// Bitmap commands on string values: SETBIT GETBIT BITCOUNT BITPOS, with Redis 7.0's
// argument checks, index arithmetic (negative indexes, BYTE|BIT units) and replies.
// Bit 0 is the most significant bit of the first byte, as in Redis. SETBIT goes through
// Store::Update, so a replica receives the resulting value as a SET (an effect).
#include <bit>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/base/numbers.h"
#include "server/commands.h"
#include "server/server.h"

namespace mirrorkv::server {
namespace {

constexpr std::string_view kBitOffsetError = "ERR bit offset is not an integer or out of range";

// A bit offset: 0 .. 8 * proto-max-bulk-len - 1.
bool ParseBitOffset(CommandContext& ctx, std::string_view text, uint64_t* offset) {
  int64_t value = 0;
  if (!internal::ParseInt64(text, &value) || value < 0 ||
      (value >> 3) >= ctx.server.proto_max_bulk_len()) {
    ctx.reply.Error(kBitOffsetError);
    return false;
  }
  *offset = static_cast<uint64_t>(value);
  return true;
}

bool BitAt(std::string_view value, uint64_t offset) {
  uint64_t byte = offset >> 3;
  if (byte >= value.size()) return false;
  return (static_cast<uint8_t>(value[byte]) >> (7 - (offset & 7))) & 1;
}

void SetBitCommand(CommandContext& ctx) {
  uint64_t offset;
  if (!ParseBitOffset(ctx, ctx.args[2], &offset)) return;
  int64_t bit = 0;
  if (!ParseIntegerArg(ctx, ctx.args[3], &bit, "ERR bit is not an integer or out of range")) {
    return;
  }
  if (bit & ~1) {
    ctx.reply.Error("ERR bit is not an integer or out of range");
    return;
  }
  bool old = false;
  Result<UpdateAction> result = ctx.server.store().Update(
      ctx.args[1],
      [&](const std::string_view* current, std::string& replacement) -> Result<UpdateAction> {
        std::string_view existing = current != nullptr ? *current : std::string_view();
        old = BitAt(existing, offset);
        // Redis creates (or grows) the string even when the bit is already as asked.
        if (current != nullptr && (offset >> 3) < existing.size() && old == (bit == 1)) {
          return UpdateAction::kKeep;
        }
        replacement.assign(existing);
        if (replacement.size() <= (offset >> 3)) replacement.resize((offset >> 3) + 1, '\0');
        uint8_t mask = static_cast<uint8_t>(1u << (7 - (offset & 7)));
        char& byte = replacement[offset >> 3];
        byte = static_cast<char>(bit ? (static_cast<uint8_t>(byte) | mask)
                                     : (static_cast<uint8_t>(byte) & ~mask));
        return UpdateAction::kWrite;
      });
  if (!result.ok()) {
    ReplyStatusError(ctx, result.status());
    return;
  }
  ctx.reply.Integer(old ? 1 : 0);
}

void GetBitCommand(CommandContext& ctx) {
  uint64_t offset;
  if (!ParseBitOffset(ctx, ctx.args[2], &offset)) return;
  bool bit = false;
  ctx.server.store().Read(ctx.args[1], [&](std::string_view value) { bit = BitAt(value, offset); });
  ctx.reply.Integer(bit ? 1 : 0);
}

// A range of a value in bytes, after Redis's conversion of start/end (negative indexes
// from the end, clamped, BIT units turned into bytes plus masks of the bits of the first
// and last byte that fall outside the range).
struct ByteRange {
  int64_t start = 0;
  int64_t end = -1;
  uint8_t first_outside = 0;  // bits of byte `start` before the range
  uint8_t last_outside = 0;   // bits of byte `end` after the range
};

ByteRange ConvertRange(int64_t start, int64_t end, int64_t length, bool bits) {
  int64_t total = bits ? length << 3 : length;
  if (start < 0) start = total + start;
  if (end < 0) end = total + end;
  if (start < 0) start = 0;
  if (end < 0) end = 0;
  if (end >= total) end = total - 1;
  ByteRange range{start, end, 0, 0};
  if (bits && start <= end) {
    range.first_outside = static_cast<uint8_t>(~((1u << (8 - (start & 7))) - 1) & 0xFF);
    range.last_outside = static_cast<uint8_t>((1u << (7 - (end & 7))) - 1);
    range.start = start >> 3;
    range.end = end >> 3;
  }
  return range;
}

// Parses an optional BYTE|BIT unit; false (with the syntax error replied) otherwise.
bool ParseUnit(CommandContext& ctx, std::string_view text, bool* bits) {
  if (EqualsIgnoreCase(text, "bit")) {
    *bits = true;
  } else if (EqualsIgnoreCase(text, "byte")) {
    *bits = false;
  } else {
    ReplySyntaxError(ctx);
    return false;
  }
  return true;
}

int64_t PopCount(std::string_view bytes) {
  int64_t count = 0;
  for (char c : bytes) count += std::popcount(static_cast<uint8_t>(c));
  return count;
}

void BitCountCommand(CommandContext& ctx) {
  std::string value;
  // A missing key counts 0 whatever the arguments, as in Redis (it looks the key up first).
  if (!ctx.server.store().Get(ctx.args[1], &value).ok()) {
    ctx.reply.Integer(0);
    return;
  }
  const int64_t length = static_cast<int64_t>(value.size());
  ByteRange range{0, length - 1, 0, 0};
  if (ctx.argc() == 4 || ctx.argc() == 5) {
    int64_t start, end;
    if (!ParseIntegerArg(ctx, ctx.args[2], &start) || !ParseIntegerArg(ctx, ctx.args[3], &end)) {
      return;
    }
    if (start < 0 && end < 0 && start > end) {
      ctx.reply.Integer(0);
      return;
    }
    bool bits = false;
    if (ctx.argc() == 5 && !ParseUnit(ctx, ctx.args[4], &bits)) return;
    range = ConvertRange(start, end, length, bits);
  } else if (ctx.argc() != 2) {
    ReplySyntaxError(ctx);
    return;
  }
  if (range.start > range.end) {
    ctx.reply.Integer(0);
    return;
  }
  std::string_view bytes(value);
  int64_t count = PopCount(bytes.substr(static_cast<size_t>(range.start),
                                        static_cast<size_t>(range.end - range.start + 1)));
  // The edge bytes' bits outside the range were counted: take them off.
  count -= std::popcount(
      static_cast<uint8_t>(bytes[static_cast<size_t>(range.start)] & range.first_outside));
  count -= std::popcount(
      static_cast<uint8_t>(bytes[static_cast<size_t>(range.end)] & range.last_outside));
  ctx.reply.Integer(count);
}

// The position of the first `bit` in `bytes`; for 0 not found, the position just past
// them (a string reads as followed by zeros); for 1 not found, -1.
int64_t FirstBit(std::string_view bytes, bool bit) {
  for (size_t i = 0; i < bytes.size(); ++i) {
    uint8_t byte = static_cast<uint8_t>(bytes[i]);
    if (!bit) byte = static_cast<uint8_t>(~byte);
    if (byte != 0) return static_cast<int64_t>(i * 8) + std::countl_zero(byte);
  }
  return bit ? -1 : static_cast<int64_t>(bytes.size() * 8);
}

void BitPosCommand(CommandContext& ctx) {
  int64_t bit = 0;
  if (!ParseIntegerArg(ctx, ctx.args[2], &bit)) return;
  if (bit != 0 && bit != 1) {
    ctx.reply.Error("ERR The bit argument must be 1 or 0.");
    return;
  }
  std::string value;
  if (!ctx.server.store().Get(ctx.args[1], &value).ok()) {
    ctx.reply.Integer(bit ? -1 : 0);
    return;
  }
  const int64_t length = static_cast<int64_t>(value.size());
  ByteRange range{0, length - 1, 0, 0};
  bool end_given = false;
  if (ctx.argc() >= 4 && ctx.argc() <= 6) {
    int64_t start, end;
    if (!ParseIntegerArg(ctx, ctx.args[3], &start)) return;
    bool bits = false;
    if (ctx.argc() == 6 && !ParseUnit(ctx, ctx.args[5], &bits)) return;
    if (ctx.argc() >= 5) {
      if (!ParseIntegerArg(ctx, ctx.args[4], &end)) return;
      end_given = true;
    } else {
      end = bits ? (length << 3) + 7 : length - 1;
    }
    range = ConvertRange(start, end, length, bits);
  } else if (ctx.argc() != 3) {
    ReplySyntaxError(ctx);
    return;
  }
  if (range.start > range.end) {
    ctx.reply.Integer(-1);
    return;
  }
  // The range's bytes, with the bits outside it forced to the value not searched for.
  std::string bytes = value.substr(static_cast<size_t>(range.start),
                                   static_cast<size_t>(range.end - range.start + 1));
  auto exclude = [&](char& byte, uint8_t outside) {
    byte = static_cast<char>(bit ? (static_cast<uint8_t>(byte) & ~outside)
                                 : (static_cast<uint8_t>(byte) | outside));
  };
  exclude(bytes.front(), range.first_outside);
  exclude(bytes.back(), range.last_outside);
  int64_t position = FirstBit(bytes, bit == 1);
  // With an explicit end, the bits past the range are not zeros to be found.
  if (end_given && bit == 0 && position == static_cast<int64_t>(bytes.size() * 8)) {
    ctx.reply.Integer(-1);
    return;
  }
  if (position != -1) position += range.start << 3;
  ctx.reply.Integer(position);
}

const CommandSpec kCommands[] = {
    {"setbit", 4, kCmdWrite | kCmdDenyOom, SetBitCommand, 1, 1, 1, "@write @bitmap @slow"},
    {"getbit", 3, kCmdReadOnly | kCmdFast, GetBitCommand, 1, 1, 1, "@read @bitmap @fast"},
    {"bitcount", -2, kCmdReadOnly, BitCountCommand, 1, 1, 1, "@read @bitmap @slow"},
    {"bitpos", -3, kCmdReadOnly, BitPosCommand, 1, 1, 1, "@read @bitmap @slow"},
};

}  // namespace

std::span<const CommandSpec> BitCommands() { return kCommands; }

}  // namespace mirrorkv::server
