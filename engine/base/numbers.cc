#include "engine/base/numbers.h"

#include <charconv>

namespace mirrorkv::internal {

bool ParseInt64(std::string_view text, int64_t* out) {
  if (text.empty() || text.size() > kMaxInt64Digits) return false;
  if (text == "0") {
    *out = 0;
    return true;
  }
  size_t first_digit = text[0] == '-' ? 1 : 0;
  // Redis rejects "-0", "007" and "-": the text must be the canonical form.
  if (first_digit >= text.size() || text[first_digit] < '1' || text[first_digit] > '9') {
    return false;
  }
  int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return false;
  *out = value;
  return true;
}

std::string_view FormatInt64(int64_t value, char* buffer) {
  auto [end, error] = std::to_chars(buffer, buffer + kMaxInt64Digits, value);
  (void)error;  // 20 bytes always suffice
  return {buffer, static_cast<size_t>(end - buffer)};
}

}  // namespace mirrorkv::internal
