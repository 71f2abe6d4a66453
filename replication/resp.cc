// RESP encoding and the in-place command parser.
#include "replication/resp.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/base/numbers.h"
#include "engine/base/strings.h"

namespace mirrorkv::internal {
namespace {

// Grows `out` by `n` bytes and returns where they start.
char* Extend(std::string* out, size_t n) {
  size_t at = out->size();
  out->resize(at + n);
  return out->data() + at;
}

// Parses "<tag><integer>\r\n" at input[*pos]. Returns 1 on success (advancing *pos), 0
// when the line is incomplete, -1 when malformed.
int ParseHeader(std::string_view input, size_t* pos, char tag, int64_t* value) {
  const size_t start = *pos;
  if (start >= input.size()) return 0;
  if (input[start] != tag) return -1;
  // The integer runs to the first '\r'; a longer run than any integer is malformed,
  // not merely incomplete. Its digits are accumulated on the way: this runs four times
  // per streamed SET, and its lengths are short and never negative.
  const size_t limit = std::min(input.size(), start + 1 + kMaxInt64Digits + 1);
  size_t cr = start + 1;
  uint64_t digits_value = 0;
  for (; cr < limit; ++cr) {
    unsigned digit = static_cast<unsigned char>(input[cr]) - '0';
    if (digit > 9) break;
    digits_value = digits_value * 10 + digit;
  }
  const size_t digits_end = cr;
  while (cr < limit && input[cr] != '\r') ++cr;
  if (cr == limit) return cr - start - 1 > kMaxInt64Digits ? -1 : 0;
  if (cr + 1 == input.size()) return 0;
  if (input[cr + 1] != '\n') return -1;
  std::string_view text = input.substr(start + 1, cr - start - 1);
  // Plain digits short enough not to overflow, in canonical form, are taken as read;
  // anything else (a sign, 19+ digits, a leading zero) gets the strict parse.
  constexpr size_t kSafeDigits = 18;
  bool plain = digits_end == cr && !text.empty() && text.size() <= kSafeDigits &&
               (text[0] != '0' || text.size() == 1);
  if (plain) {
    *value = static_cast<int64_t>(digits_value);
  } else if (!ParseInt64(text, value)) {
    return -1;
  }
  *pos = cr + 2;
  return 1;
}

}  // namespace

void AppendArrayHeader(std::string* out, size_t n) {
  WriteHeader(Extend(out, HeaderSize(n)), '*', n);
}

void AppendBulk(std::string* out, std::string_view bytes) {
  WriteBulk(Extend(out, BulkSize(bytes)), bytes);
}

void AppendBulkInt(std::string* out, int64_t value) {
  char digits[kMaxInt64Digits];
  AppendBulk(out, FormatInt64(value, digits));
}

void AppendCommand(std::string* out, std::initializer_list<std::string_view> args) {
  std::span<const std::string_view> span(args.begin(), args.size());
  WriteCommand(Extend(out, CommandSize(span)), span);
}

Status ParseCommand(std::string_view input, const RespLimits& limits,
                    std::vector<std::string_view>* args, size_t* consumed, size_t* needed) {
  args->clear();
  *consumed = 0;
  size_t pos = 0;
  auto malformed = [&](std::string_view what) {
    return Status::Corruption(absl::StrCat("RESP: ", AsAbsl(what), " at byte ", pos));
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
      return Status::InvalidArgument(
          absl::StrCat("RESP: bulk of ", length, " bytes exceeds the limit"));
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
