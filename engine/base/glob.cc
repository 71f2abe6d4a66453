// Glob matching with a single backtrack point.
//
// The classic recursive matcher is exponential on patterns like "a*a*a*a*b". This one
// keeps only the position of the last '*' and where in the text it started matching:
// on a mismatch it retries from there with the star taking one more byte. That is
// enough because a later '*' can absorb anything an earlier one would, so O(|p|*|t|).
#include "engine/base/glob.h"

#include <cstddef>
#include <utility>

namespace mirrorkv::internal {
namespace {

// Matches one byte against the class starting after '[' at pattern[*i]; advances *i
// past the closing ']' (or to the end of the pattern when there is none).
bool MatchClass(std::string_view pattern, size_t* i, unsigned char c) {
  bool negate = *i < pattern.size() && pattern[*i] == '^';
  if (negate) ++*i;
  bool matched = false;
  while (*i < pattern.size() && pattern[*i] != ']') {
    if (pattern[*i] == '\\' && *i + 1 < pattern.size()) {
      ++*i;
      if (static_cast<unsigned char>(pattern[*i]) == c) matched = true;
      ++*i;
    } else if (*i + 2 < pattern.size() && pattern[*i + 1] == '-' && pattern[*i + 2] != ']') {
      auto lo = static_cast<unsigned char>(pattern[*i]);
      auto hi = static_cast<unsigned char>(pattern[*i + 2]);
      if (lo > hi) std::swap(lo, hi);
      if (c >= lo && c <= hi) matched = true;
      *i += 3;
    } else {
      if (static_cast<unsigned char>(pattern[*i]) == c) matched = true;
      ++*i;
    }
  }
  if (*i < pattern.size()) ++*i;  // the ']'
  return matched != negate;
}

}  // namespace

bool GlobMatch(std::string_view pattern, std::string_view text) {
  size_t p = 0, t = 0;
  size_t star = std::string_view::npos;  // pattern index just after the last '*'
  size_t star_text = 0;                  // text index that star is matched up to
  while (t < text.size()) {
    if (p < pattern.size()) {
      char pc = pattern[p];
      if (pc == '*') {
        while (p < pattern.size() && pattern[p] == '*') ++p;
        if (p == pattern.size()) return true;
        star = p;
        star_text = t;
        continue;
      }
      auto c = static_cast<unsigned char>(text[t]);
      size_t next = p + 1;
      bool ok;
      if (pc == '?') {
        ok = true;
      } else if (pc == '[') {
        ok = MatchClass(pattern, &next, c);
      } else if (pc == '\\' && p + 1 < pattern.size()) {
        ok = static_cast<unsigned char>(pattern[p + 1]) == c;
        next = p + 2;
      } else {
        ok = static_cast<unsigned char>(pc) == c;
      }
      if (ok) {
        p = next;
        ++t;
        continue;
      }
    }
    if (star == std::string_view::npos) return false;
    p = star;
    t = ++star_text;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace mirrorkv::internal
