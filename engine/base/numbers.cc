#include "engine/base/numbers.h"

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

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

std::string FormatScore(double score) {
  if (std::isinf(score)) return score > 0 ? "inf" : "-inf";
  char buffer[32];
  int n = std::snprintf(buffer, sizeof(buffer), "%.17g", score);
  return std::string(buffer, static_cast<size_t>(n));
}

bool ParseScore(std::string_view text, double* score) {
  if (text.empty() || text.size() > 256) return false;
  std::string copy(text);
  if (std::isspace(static_cast<unsigned char>(copy[0]))) return false;
  char* end = nullptr;
  errno = 0;
  double value = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size() || std::isnan(value)) return false;
  // strtod reports overflow as ERANGE with HUGE_VAL; Redis accepts "inf" spelled out
  // but not a finite literal that overflows.
  if (errno == ERANGE && std::isinf(value)) return false;
  *score = value;
  return true;
}

constexpr size_t kMaxLongDoubleChars = 5 * 1024;

bool ParseLongDouble(std::string_view text, long double* out) {
  if (text.empty() || text.size() >= kMaxLongDoubleChars) return false;
  char buffer[kMaxLongDoubleChars];
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  errno = 0;
  char* end;
  long double value = std::strtold(buffer, &end);
  if (std::isspace(static_cast<unsigned char>(buffer[0])) || *end != '\0' ||
      static_cast<size_t>(end - buffer) != text.size() ||
      (errno == ERANGE &&
       (value == HUGE_VALL || value == -HUGE_VALL || std::fpclassify(value) == FP_ZERO)) ||
      errno == EINVAL || std::isnan(value)) {
    return false;
  }
  *out = value;
  return true;
}

std::string FormatLongDouble(long double value) {
  char buffer[kMaxLongDoubleChars];
  int length = std::snprintf(buffer, sizeof(buffer), "%.17Lf", value);
  if (length <= 0 || static_cast<size_t>(length) >= sizeof(buffer)) return "0";
  if (std::memchr(buffer, '.', static_cast<size_t>(length)) != nullptr) {
    while (buffer[length - 1] == '0') --length;
    if (buffer[length - 1] == '.') --length;
  }
  if (length == 2 && buffer[0] == '-' && buffer[1] == '0') return "0";
  return std::string(buffer, static_cast<size_t>(length));
}

}  // namespace mirrorkv::internal
