// Glob matching for SCAN's MATCH and KEYS, with Redis's pattern language.
#pragma once

#include <string_view>

namespace mirrorkv::internal {

// Whether `text` matches `pattern`: '*' any run of bytes, '?' one byte, '[abc]' '[a-z]'
// '[^a]' a byte class, '\x' the byte x literally. Byte-wise and case-sensitive. A '['
// without its ']' matches up to the end of the pattern, as in Redis. The work is
// bounded by O(|pattern| * |text|): the matcher never backtracks exponentially.
bool GlobMatch(std::string_view pattern, std::string_view text);

}  // namespace mirrorkv::internal
