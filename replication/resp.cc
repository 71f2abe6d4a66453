// RESP encoding and the in-place command parser.
#include "replication/resp.h"

#include <charconv>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/base/numbers.h"
#include "engine/base/strings.h"

namespace mirrorkv::internal {
namespace {

// Appends "<tag><n>\r\n<payload>" (and "\r\n" after the payload if `terminate`) with
// one resize and plain copies: this encodes every command of the replication stream.
void AppendFramed(std::string* out, char tag, size_t n, std::string_view payload,
                  bool terminate) {
  char digits[kMaxInt64Digits];
  std::string_view number = FormatInt64(static_cast<int64_t>(n), digits);
  size_t at = out->size();
  out->resize(at + 1 + number.size() + 2 + payload.size() + (terminate ? 2 : 0));
  char* p = out->data() + at;
  *p++ = tag;
  std::memcpy(p, number.data(), number.size());
  p += number.size();
  *p++ = '\r';
  *p++ = '\n';
  if (!payload.empty()) std::memcpy(p, payload.data(), payload.size());
  p += payload.size();
  if (terminate) {
    *p++ = '\r';
    *p = '\n';
  }
}

// Parses "<tag><integer>\r\n" at input[*pos]. Returns 1 on success (advancing *pos), 0
// when the line is incomplete, -1 when malformed.
int ParseHeader(std::string_view input, size_t* pos, char tag, int64_t* value) {
  if (*pos >= input.size()) return 0;
  if (input[*pos] != tag) return -1;
  size_t end = input.find("\r\n", *pos + 1);
  if (end == std::string_view::npos) {
    // A header line longer than any integer is malformed, not merely incomplete.
    return input.size() - *pos > kMaxInt64Digits + 3 ? -1 : 0;
  }
  if (!ParseInt64(input.substr(*pos + 1, end - *pos - 1), value)) return -1;
  *pos = end + 2;
  return 1;
}

}  // namespace

void AppendArrayHeader(std::string* out, size_t n) { AppendFramed(out, '*', n, {}, false); }

void AppendBulk(std::string* out, std::string_view bytes) {
  AppendFramed(out, '$', bytes.size(), bytes, true);
}

void AppendBulkInt(std::string* out, int64_t value) {
  char digits[kMaxInt64Digits];
  AppendBulk(out, FormatInt64(value, digits));
}

void AppendCommand(std::string* out, std::initializer_list<std::string_view> args) {
  AppendArrayHeader(out, args.size());
  for (std::string_view arg : args) AppendBulk(out, arg);
}

Status ParseCommand(std::string_view input, const RespLimits& limits,
                    std::vector<std::string_view>* args, size_t* consumed, size_t* needed) {
  args->clear();
  *consumed = 0;
  size_t pos = 0;
  auto malformed = [&](std::string_view what) {
    return Status::Corruption(absl::StrCat("RESP: ", AsAbsl(what),
                                           " at byte ", pos));
  };
  int64_t count = 0;
  int header = ParseHeader(input, &pos, '*', &count);
  if (header == 0) {
    if (needed) *needed = input.size() + 1;
    return Status::Ok();
  }
  if (header < 0) return malformed("expected '*<count>\\r\\n'");
  if (count < 1) return malformed("empty or negative command array");
  if (static_cast<uint64_t>(count) > limits.max_arguments) {
    return Status::InvalidArgument(absl::StrCat("RESP: ", count, " arguments exceed the limit"));
  }
  for (int64_t i = 0; i < count; ++i) {
    int64_t length = 0;
    header = ParseHeader(input, &pos, '$', &length);
    if (header == 0) {
      args->clear();
      if (needed) *needed = input.size() + 1;
      return Status::Ok();
    }
    if (header < 0) return malformed("expected '$<length>\\r\\n'");
    if (length < 0) return malformed("negative bulk length");
    if (static_cast<uint64_t>(length) > limits.max_bulk_bytes) {
      return Status::InvalidArgument(absl::StrCat("RESP: bulk of ", length, " bytes exceeds the limit"));
    }
    size_t size = static_cast<size_t>(length);
    if (input.size() - pos < size + 2) {
      args->clear();
      if (needed) *needed = pos + size + 2;
      return Status::Ok();
    }
    if (input[pos + size] != '\r' || input[pos + size + 1] != '\n') {
      pos += size;
      return malformed("bulk not terminated by \\r\\n");
    }
    args->push_back(input.substr(pos, size));
    pos += size + 2;
  }
  *consumed = pos;
  return Status::Ok();
}

bool ReadLine(std::string_view input, std::string_view* line, size_t* consumed) {
  size_t end = input.find("\r\n");
  if (end == std::string_view::npos) return false;
  *line = input.substr(0, end);
  *consumed = end + 2;
  return true;
}

}  // namespace mirrorkv::internal
