// RESP: the Redis serialization protocol, as the replication stream and the PSYNC
// handshake use it (https://redis.io/docs/reference/protocol-spec/).
//
// Encoding helpers append to a caller's buffer. CommandParser parses commands (arrays of
// bulk strings) out of a byte buffer in place, with limits, for the stream a replica
// receives; ReadLine splits the single-line replies of the handshake (+OK, +FULLRESYNC).
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
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
