// The struct library Redis bundles with its Lua (pack, unpack and size of binary records,
// after Roberto Ierusalimschy's design), written for mirrorkv because Debian ships no
// Lua 5.1 build of it. Formats, as in Redis:
//   >  big endian          <  little endian          !n  align to n (default 8)
//   b/B  signed/unsigned char     h/H  short (2)      l/L  long (8)     T  size_t (8)
//   i/In signed/unsigned int of n bytes (default 4, at most 32)
//   f  float    d  double    x  one zero byte of padding
//   cn a string of n bytes (c0: as long as the string; when unpacking, the length is the
//      number read just before)    s  a zero-terminated string
// Numbers are Lua numbers (doubles), so integers past 2^53 lose precision, as in Redis.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "server/scripting/lua_engine.h"

extern "C" {
#include <lauxlib.h>
#include <lua.h>
}

namespace mirrorkv::server {
namespace {

constexpr int kMaxIntBytes = 32;
constexpr size_t kDefaultAlign = 8;

struct Layout {
  bool little = true;  // the machine's order (x86-64, aarch64)
  size_t align = 1;
};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads an optional decimal count after an option; `fallback` when there is none.
size_t ReadCount(lua_State* lua, const char** format, size_t fallback) {
  if (!IsDigit(**format)) return fallback;
  size_t count = 0;
  while (IsDigit(**format)) {
    if (count > (SIZE_MAX - 9) / 10) luaL_error(lua, "integral size overflow");
    count = count * 10 + static_cast<size_t>(*(*format)++ - '0');
  }
  return count;
}

// The size in bytes of option `option` (reading its count), 0 for 's'.
size_t OptionSize(lua_State* lua, char option, const char** format) {
  switch (option) {
    case 'b':
    case 'B':
    case 'x':
      return 1;
    case 'h':
    case 'H':
      return 2;
    case 'f':
      return 4;
    case 'l':
    case 'L':
    case 'T':
    case 'd':
      return 8;
    case 'c':
      return ReadCount(lua, format, 1);
    case 'i':
    case 'I': {
      size_t size = ReadCount(lua, format, 4);
      if (size > kMaxIntBytes) {
        luaL_error(lua, "integral size %d is larger than limit of %d", static_cast<int>(size),
                   kMaxIntBytes);
      }
      return size;
    }
    default:
      return 0;
  }
}

// Padding needed before an item of `size` bytes at offset `offset`.
size_t Padding(lua_State* lua, size_t offset, const Layout& layout, char option, size_t size) {
  if (size <= 1 || option == 'c') return 0;
  size_t align = size < layout.align ? size : layout.align;
  if ((align & (align - 1)) != 0) {
    luaL_error(lua, "alignment %d is not a power of 2", static_cast<int>(align));
  }
  return (align - (offset & (align - 1))) & (align - 1);
}

// Handles the options that change the layout; false for any other option.
bool LayoutOption(lua_State* lua, char option, const char** format, Layout* layout) {
  switch (option) {
    case ' ':
      return true;
    case '>':
      layout->little = false;
      return true;
    case '<':
      layout->little = true;
      return true;
    case '!': {
      size_t align = ReadCount(lua, format, kDefaultAlign);
      if (align == 0 || (align & (align - 1)) != 0) {
        luaL_error(lua, "alignment %d is not a power of 2", static_cast<int>(align));
      }
      layout->align = align;
      return true;
    }
    default:
      return false;
  }
}

// Lua raises errors with longjmp: no C++ object with a destructor may be alive then, so
// messages and output are built in plain arrays and Lua buffers here.
void InvalidOption(lua_State* lua, char option) {
  char message[32];
  std::snprintf(message, sizeof(message), "invalid format option '%c'", option);
  luaL_argerror(lua, 1, message);
}

bool IsInteger(char option) { return std::strchr("bBhHlLTiI", option) != nullptr; }

void AppendInteger(luaL_Buffer* out, lua_Number number, bool is_signed, size_t size,
                   const Layout& layout) {
  uint64_t value = is_signed ? static_cast<uint64_t>(static_cast<int64_t>(number))
                             : static_cast<uint64_t>(number);
  char fill = is_signed && static_cast<int64_t>(value) < 0 ? static_cast<char>(0xff) : 0;
  char bytes[kMaxIntBytes];
  std::fill(bytes, bytes + size, fill);
  for (size_t i = 0; i < size && i < 8; ++i) {
    bytes[i] = static_cast<char>((value >> (8 * i)) & 0xff);  // little endian first
  }
  if (!layout.little) std::reverse(bytes, bytes + size);
  luaL_addlstring(out, bytes, size);
}

lua_Number ReadInteger(const char* data, bool is_signed, size_t size, const Layout& layout) {
  uint64_t value = 0;
  for (size_t i = 0; i < size; ++i) {
    size_t index = layout.little ? size - 1 - i : i;  // most significant byte first
    value = (value << 8) | static_cast<uint8_t>(data[index]);
  }
  if (is_signed && size < 8) {
    uint64_t sign = uint64_t{1} << (size * 8 - 1);
    value = (value ^ sign) - sign;  // sign extension
  }
  return is_signed ? static_cast<lua_Number>(static_cast<int64_t>(value))
                   : static_cast<lua_Number>(value);
}

template <typename Float>
void AppendFloat(luaL_Buffer* out, Float value, const Layout& layout) {
  char bytes[sizeof(Float)];
  std::memcpy(bytes, &value, sizeof(Float));
  if (!layout.little) std::reverse(bytes, bytes + sizeof(Float));
  luaL_addlstring(out, bytes, sizeof(Float));
}

template <typename Float>
Float ReadFloat(const char* data, const Layout& layout) {
  char bytes[sizeof(Float)];
  std::memcpy(bytes, data, sizeof(Float));
  if (!layout.little) std::reverse(bytes, bytes + sizeof(Float));
  Float value;
  std::memcpy(&value, bytes, sizeof(Float));
  return value;
}

int StructPack(lua_State* lua) {
  const char* format = luaL_checkstring(lua, 1);
  Layout layout;
  int arg = 2;
  size_t written = 0;
  luaL_Buffer out;
  luaL_buffinit(lua, &out);
  while (*format != '\0') {
    char option = *format++;
    if (LayoutOption(lua, option, &format, &layout)) continue;
    size_t size = OptionSize(lua, option, &format);
    for (size_t pad = Padding(lua, written, layout, option, size); pad > 0; --pad) {
      luaL_addchar(&out, '\0');
      ++written;
    }
    if (IsInteger(option)) {
      lua_Number number = luaL_checknumber(lua, arg++);
      bool is_signed = option == 'b' || option == 'h' || option == 'l' || option == 'i';
      AppendInteger(&out, number, is_signed, size, layout);
    } else if (option == 'x') {
      luaL_addchar(&out, '\0');
    } else if (option == 'f') {
      AppendFloat<float>(&out, static_cast<float>(luaL_checknumber(lua, arg++)), layout);
    } else if (option == 'd') {
      AppendFloat<double>(&out, luaL_checknumber(lua, arg++), layout);
    } else if (option == 'c' || option == 's') {
      size_t length = 0;
      const char* text = luaL_checklstring(lua, arg, &length);
      if (size == 0) size = length;
      luaL_argcheck(lua, length >= size, arg, "string too short");
      luaL_addlstring(&out, text, size);
      if (option == 's') {
        luaL_addchar(&out, '\0');
        ++written;
      }
      ++arg;
    } else {
      InvalidOption(lua, option);
    }
    written += size;
  }
  luaL_pushresult(&out);
  return 1;
}

int StructUnpack(lua_State* lua) {
  const char* format = luaL_checkstring(lua, 1);
  size_t length = 0;
  const char* data = luaL_checklstring(lua, 2, &length);
  size_t pos = static_cast<size_t>(luaL_optinteger(lua, 3, 1)) - 1;
  luaL_argcheck(lua, pos <= length, 3, "offset must be 1 or greater");
  Layout layout;
  int pushed = 0;
  while (*format != '\0') {
    char option = *format++;
    if (LayoutOption(lua, option, &format, &layout)) continue;
    size_t size = OptionSize(lua, option, &format);
    pos += Padding(lua, pos, layout, option, size);
    luaL_argcheck(lua, pos + size <= length, 2, "data string too short");
    luaL_checkstack(lua, 2, "too many results");
    if (IsInteger(option)) {
      bool is_signed = option == 'b' || option == 'h' || option == 'l' || option == 'i';
      lua_pushnumber(lua, ReadInteger(data + pos, is_signed, size, layout));
      ++pushed;
    } else if (option == 'x') {
    } else if (option == 'f') {
      lua_pushnumber(lua, ReadFloat<float>(data + pos, layout));
      ++pushed;
    } else if (option == 'd') {
      lua_pushnumber(lua, ReadFloat<double>(data + pos, layout));
      ++pushed;
    } else if (option == 'c') {
      if (size == 0) {
        if (pushed == 0 || !lua_isnumber(lua, -1)) {
          luaL_error(lua, "format 'c0' needs a previous size");
        }
        size = static_cast<size_t>(lua_tonumber(lua, -1));
        lua_pop(lua, 1);
        --pushed;
        luaL_argcheck(lua, pos + size <= length, 2, "data string too short");
      }
      lua_pushlstring(lua, data + pos, size);
      ++pushed;
    } else if (option == 's') {
      const void* end = std::memchr(data + pos, '\0', length - pos);
      if (end == nullptr) luaL_error(lua, "unfinished string in data");
      size = static_cast<size_t>(static_cast<const char*>(end) - (data + pos)) + 1;
      lua_pushlstring(lua, data + pos, size - 1);
      ++pushed;
    } else {
      InvalidOption(lua, option);
    }
    pos += size;
  }
  lua_pushinteger(lua, static_cast<lua_Integer>(pos + 1));
  return pushed + 1;
}

int StructSize(lua_State* lua) {
  const char* format = luaL_checkstring(lua, 1);
  Layout layout;
  size_t total = 0;
  while (*format != '\0') {
    char option = *format++;
    if (LayoutOption(lua, option, &format, &layout)) continue;
    size_t size = OptionSize(lua, option, &format);
    if (option == 's') luaL_argerror(lua, 1, "option 's' has no fixed size");
    if (option == 'c' && size == 0) luaL_argerror(lua, 1, "option 'c0' has no fixed size");
    if (!IsInteger(option) && std::strchr("xfdc", option) == nullptr) InvalidOption(lua, option);
    total += Padding(lua, total, layout, option, size) + size;
  }
  lua_pushinteger(lua, static_cast<lua_Integer>(total));
  return 1;
}

}  // namespace

void OpenStructLibrary(lua_State* lua) {
  lua_newtable(lua);
  lua_pushcfunction(lua, StructPack);
  lua_setfield(lua, -2, "pack");
  lua_pushcfunction(lua, StructUnpack);
  lua_setfield(lua, -2, "unpack");
  lua_pushcfunction(lua, StructSize);
  lua_setfield(lua, -2, "size");
  lua_setglobal(lua, "struct");
}

}  // namespace mirrorkv::server
