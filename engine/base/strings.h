// Small string helpers shared by every module.
//
// Debian's absl has its own absl::string_view, distinct from std::string_view: AsAbsl
// converts for absl::StrCat and friends without a copy.
#pragma once

#include <cstddef>
#include <string_view>

#include "absl/strings/string_view.h"

namespace mirrorkv::internal {

inline absl::string_view AsAbsl(std::string_view s) { return {s.data(), s.size()}; }

// ASCII case-insensitive equality, as Redis compares command names and options.
inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace mirrorkv::internal
