// RESP: the Redis serialization protocol, as the replication stream and the PSYNC
// handshake use it (https://redis.io/docs/reference/protocol-spec/).
//
// Encoding helpers append to a caller's buffer. CommandParser parses commands (arrays of
// bulk strings) out of a byte buffer in place, with limits, for the stream a replica
// receives; ReadLine splits the single-line replies of the handshake (+OK, +FULLRESYNC).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mirrorkv/status.h"

namespace mirrorkv::internal {

// Appends "*<n>\r\n".
void AppendArrayHeader(std::string* out, size_t n);
// Appends "$<len>\r\n<bytes>\r\n".
void AppendBulk(std::string* out, std::string_view bytes);
// Appends the bulk of an integer's decimal text.
void AppendBulkInt(std::string* out, int64_t value);
// Appends a command: an array of bulk strings.
void AppendCommand(std::string* out, std::initializer_list<std::string_view> args);

// The encoded size of a command, and writing it into memory of that size (returning the
// end of what was written): the command log sizes a whole batch of commands first and
// writes them with no allocation and no intermediate copy. Inline, because that runs
// for every write on a primary and the command names are constants worth folding.
inline size_t DecimalLength(size_t n) {
  size_t length = 1;
  for (; n >= 10; n /= 10) ++length;
  return length;
}

// The size of "<tag><n>\r\n", and writing it.
inline size_t HeaderSize(size_t n) { return 1 + DecimalLength(n) + 2; }
inline char* WriteHeader(char* out, char tag, size_t n) {
  *out++ = tag;
  if (n < 10) {  // command names and argument counts
    *out++ = static_cast<char>('0' + n);
  } else if (n < 100) {  // typical keys and values
    *out++ = static_cast<char>('0' + n / 10);
    *out++ = static_cast<char>('0' + n % 10);
  } else {
    char* digits_end = out + DecimalLength(n);
    for (char* p = digits_end; p != out; n /= 10) *--p = static_cast<char>('0' + n % 10);
    out = digits_end;
  }
  *out++ = '\r';
  *out++ = '\n';
  return out;
}

// The size of "$<len>\r\n<bytes>\r\n", and writing it.
inline size_t BulkSize(std::string_view bytes) {
  return HeaderSize(bytes.size()) + bytes.size() + 2;
}
inline char* WriteBulk(char* out, std::string_view bytes) {
  out = WriteHeader(out, '$', bytes.size());
  if (!bytes.empty()) std::memcpy(out, bytes.data(), bytes.size());
  out += bytes.size();
  *out++ = '\r';
  *out++ = '\n';
  return out;
}

// With a fixed number of arguments (a span of static extent) the loops unroll and a
// constant command name is written as constants.
template <size_t Extent>
size_t CommandSize(std::span<const std::string_view, Extent> args) {
  size_t size = HeaderSize(args.size());
  for (std::string_view arg : args) size += BulkSize(arg);
  return size;
}
template <size_t Extent>
char* WriteCommand(char* out, std::span<const std::string_view, Extent> args) {
  out = WriteHeader(out, '*', args.size());
  for (std::string_view arg : args) out = WriteBulk(out, arg);
  return out;
}

// Limits on what a parser accepts; beyond them it fails with kInvalidArgument instead of
// buffering without bound. The defaults are Redis's (proto-max-bulk-len, and the
// 1024*1024 arguments of a multibulk request).
struct RespLimits {
  size_t max_bulk_bytes = 512u << 20;
  size_t max_arguments = 1024 * 1024;
};

// Parses one command at the start of `input`: a RESP array of bulk strings. Returns:
//   - OK with *consumed > 0 and `args` holding views into `input`: a whole command;
//   - OK with *consumed == 0: the input is a valid prefix, more bytes are needed
//     (*needed, when not null, receives a lower bound on the total bytes required);
//   - kCorruption naming what is malformed and at which byte, or kInvalidArgument for
//     a length beyond `limits`. The input is then unusable: the connection must close.
Status ParseCommand(std::string_view input, const RespLimits& limits,
                    std::vector<std::string_view>* args, size_t* consumed,
                    size_t* needed = nullptr);

// Splits one "\r\n"-terminated line off the start of `input` (the terminator excluded).
// Returns false when no complete line is there yet.
bool ReadLine(std::string_view input, std::string_view* line, size_t* consumed);

}  // namespace mirrorkv::internal
