// RequestParser: splits a client's byte stream into commands, as Redis's networking.c
// does: RESP multibulk requests (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) and inline ones
// (`PING\r\n`, what telnet and redis-benchmark's PING_INLINE send), pipelined, binary-safe.
//
// The parser owns the connection's query buffer. The transport reads straight into
// ReadSpace(); Next() then hands out each complete command as views into that buffer, so a
// GET or SET is parsed without copying or allocating. Parsing is incremental: a command
// that arrives in pieces is resumed where it stopped (no rescanning), and a large bulk
// argument gets a buffer of exactly its size, filled by the reads directly.
//
// Limits and their errors are Redis 7.0's, byte for byte, so clients that parse them keep
// working: a bulk longer than proto-max-bulk-len, a multibulk count over INT_MAX, a header
// or inline line over 64 KB, the stricter limits for clients that still have to AUTH, and
// a query buffer over client-query-buffer-limit. Like Redis, the parser does not verify
// the CRLF after a bulk's payload (it skips two bytes).
//
// Used by server/client.cc (one parser per connection) and tests/server. Not thread-safe:
// a connection is served by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace mirrorkv::server {

// The longest inline request or multibulk header line (Redis's PROTO_INLINE_MAX_SIZE).
inline constexpr size_t kMaxInlineBytes = 64 * 1024;
// Limits for a client that must still authenticate (Redis 7): at most this many
// arguments and bulk bytes, so that an unauthenticated peer cannot make us allocate.
inline constexpr int64_t kUnauthenticatedMaxArgs = 10;
inline constexpr int64_t kUnauthenticatedMaxBulk = 16 * 1024;

struct ParserLimits {
  // proto-max-bulk-len: the longest bulk argument.
  int64_t max_bulk_len = 512ll << 20;
  // client-query-buffer-limit: the most bytes one unfinished command may occupy.
  size_t max_query_buffer = size_t{1} << 30;
};

// Splits an inline request line into arguments in place, with Redis's sdssplitargs
// rules: arguments separated by spaces; "double quotes" with \n \r \t \b \a \\ \" and
// \xHH escapes; 'single quotes' with only \' escaped; a closing quote must be followed
// by a space or the end. Unescaped arguments are written back over `line` (never longer
// than the source), and `args` receives views into it (appended, not cleared). Returns
// false for unbalanced quotes. Also used for redis.conf lines (server/config.cc).
bool SplitArgsInPlace(std::span<char> line, std::vector<std::string_view>* args);

class RequestParser {
 public:
  enum class Outcome : uint8_t {
    kCommand,   // `args` holds the next command (at least one argument)
    kNeedMore,  // everything complete was returned; read more bytes
    kError,     // a protocol error: reply error() and close; later calls return kError
  };

  RequestParser() = default;
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // Where the next read should write: a non-empty span at the end of the buffer, sized
  // for what the command in progress still needs (at least 16 KB, or the rest of a big
  // bulk argument). May move buffered bytes, invalidating the views of earlier commands.
  std::span<char> ReadSpace();
  // Records that `n` bytes were written at the start of the last ReadSpace().
  void CommitRead(size_t n);

  // Parses the next complete command. The views stay valid until the next ReadSpace()
  // (so a whole batch of pipelined commands is handed out without copying). `limits`
  // apply to this call; `authenticated` false applies Redis's limits for clients that
  // must still AUTH.
  Outcome Next(const ParserLimits& limits, bool authenticated, std::vector<std::string_view>* args);

  // The error of the last kError, without the leading '-' ("ERR Protocol error: ...").
  std::string_view error() const { return error_; }
  // Whether the error was the query buffer limit (which Redis logs differently).
  bool query_buffer_overflow() const { return query_buffer_overflow_; }

  // Bytes received but not parsed yet (CLIENT LIST's qbuf).
  size_t pending_bytes() const { return end_ - command_start_; }
  // Those bytes themselves (valid until the next ReadSpace()).
  std::string_view unparsed() const {
    return {data_.get() + command_start_, end_ - command_start_};
  }
  // Bytes of buffer allocated (for memory accounting and CLIENT LIST's qbuf-free).
  size_t capacity() const { return capacity_; }
  // Frees a large buffer once it holds nothing, so that an idle client that once sent a
  // big value does not keep its memory. Call between batches.
  void ShrinkIfIdle();

 private:
  enum class State : uint8_t { kStart, kMultibulk };

  Outcome Fail(std::string_view message);
  Outcome ParseInline(std::vector<std::string_view>* args);
  // Finds '\r' in [from, end_) and checks that one more byte follows it; returns the
  // offset of the '\r', or kNoLineEnd / kLineEndIncomplete (see the .cc).
  size_t FindLineEnd(size_t from) const;
  void Grow(size_t needed_free);

  std::unique_ptr<char[]> data_;
  size_t capacity_ = 0;
  // [command_start_, end_) holds unparsed bytes; parse_pos_ is where parsing resumes.
  size_t command_start_ = 0;
  size_t parse_pos_ = 0;
  size_t end_ = 0;

  State state_ = State::kStart;
  int64_t args_remaining_ = 0;
  int64_t bulk_len_ = -1;  // -1: the next "$<len>" header has not been read yet
  // Bulk arguments of the command in progress, as (offset from command_start_, length):
  // offsets survive the buffer being moved or grown.
  std::vector<std::pair<size_t, size_t>> arg_offsets_;

  bool failed_ = false;
  bool query_buffer_overflow_ = false;
  std::string_view error_;
  // Storage for an error message that needs formatting ("expected '$', got 'x'").
  char error_buffer_[64];
};

}  // namespace mirrorkv::server
