// Integer text as Redis reads and writes it (INCR, SET ... PX, the RESP protocol).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mirrorkv::internal {

// Parses `text` as a base-10 int64 in Redis's strict form: an optional '-', then
// digits, no leading zeros (except "0" itself), no '+', no spaces, at most 20 bytes, no
// overflow. Returns false, leaving *out unchanged, otherwise.
bool ParseInt64(std::string_view text, int64_t* out);

// The longest int64 in base 10: "-9223372036854775808".
inline constexpr size_t kMaxInt64Digits = 20;

// Writes `value` in base 10 into `buffer` (at least kMaxInt64Digits bytes) and returns
// the view of what it wrote.
std::string_view FormatInt64(int64_t value, char* buffer);

// Formats a sorted-set score as Redis's replies and replication stream do ("%.17g",
// "inf", "-inf").
std::string FormatScore(double score);
// Parses a score as Redis's ZADD does: a finite or infinite double (strtod's syntax, no
// leading space), not NaN, not a finite literal that overflows.
bool ParseScore(std::string_view text, double* score);

// Parses a long double as Redis's string2ld does (INCRBYFLOAT, HINCRBYFLOAT): strtold's
// syntax over the whole text, no leading space, not NaN, no overflow, under 5 KiB.
bool ParseLongDouble(std::string_view text, long double* out);
// Formats a long double as Redis's ld2string in "human" mode: "%.17Lf" without trailing
// zeros (so "10.5" and "3000", never an exponent), "-0" as "0".
std::string FormatLongDouble(long double value);

}  // namespace mirrorkv::internal
