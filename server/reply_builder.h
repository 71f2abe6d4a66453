// ReplyBuilder: encodes replies in RESP2 or RESP3 into a connection's output buffer.
//
// The connection keeps one output string for its whole life and the builder appends to
// it, so steady-state replies cost no allocation (the string keeps its capacity). The
// RESP version decides how the aggregate and null types are written: in RESP2 a map is an
// array of 2n elements, a set or push an array, and null is "$-1" (or "*-1" for a null
// array); in RESP3 they are %n, ~n, >n and "_".
//
// Used by the command handlers (server/*_commands.cc), pub/sub delivery and tests.
// Thread-compatible: each connection's builder is used by its own thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mirrorkv::server {

class ReplyBuilder {
 public:
  // `out` is borrowed and must outlive the builder; replies are appended to it.
  explicit ReplyBuilder(std::string* out, int resp = 2) : out_(out), resp_(resp) {}

  int resp() const { return resp_; }
  void set_resp(int resp) { resp_ = resp; }
  // Error replies written so far (INFO's total_error_replies).
  uint64_t errors() const { return errors_; }
  std::string* buffer() { return out_; }

  // "+<text>\r\n". `text` must not contain CR or LF.
  void SimpleString(std::string_view text);
  void Ok() { out_->append("+OK\r\n", 5); }
  // "-<message>\r\n". `message` starts with the error code ("ERR syntax error",
  // "WRONGTYPE ..."); CR and LF in it become spaces, as Redis does, so that a message
  // quoting client input cannot break the protocol.
  void Error(std::string_view message);
  void Integer(int64_t value);
  void Bulk(std::string_view value);
  // A missing value: "$-1" in RESP2, "_" in RESP3.
  void Null();
  // A missing aggregate: "*-1" in RESP2, "_" in RESP3.
  void NullArray();
  void ArrayHeader(size_t count);
  // A map of `pairs` key/value pairs: "%n" in RESP3, an array of 2n in RESP2.
  void MapHeader(size_t pairs);
  void SetHeader(size_t count);
  // An out-of-band message (pub/sub): ">n" in RESP3, an array in RESP2.
  void PushHeader(size_t count);
  // A verbatim text ("=len\r\ntxt:..." in RESP3; a bulk string in RESP2), as INFO and
  // CLIENT LIST reply.
  void Verbatim(std::string_view text);
  // A double: "," in RESP3, a bulk string in RESP2, formatted as Redis does (%.17g).
  void Double(double value);
  // Bytes already encoded (a pub/sub message prepared once for many subscribers).
  void Raw(std::string_view bytes) { out_->append(bytes); }

 private:
  void Header(char type, size_t count);

  std::string* out_;
  int resp_;
  uint64_t errors_ = 0;
};

}  // namespace mirrorkv::server
