// MIRRORKV_CHECK and MIRRORKV_DCHECK: abort on a broken internal invariant.
//
// These are for bugs, never for bad input: input from outside the process gets a
// Status. Debian's absl 20220623 has no ABSL_CHECK, hence this small header.
#pragma once

namespace mirrorkv::internal {
[[noreturn]] void CheckFailed(const char* file, int line, const char* condition);
}  // namespace mirrorkv::internal

#define MIRRORKV_CHECK(condition)                                        \
  do {                                                                   \
    if (__builtin_expect(!(condition), 0))                               \
      ::mirrorkv::internal::CheckFailed(__FILE__, __LINE__, #condition); \
  } while (0)

#ifdef NDEBUG
// Compiled out, but still type-checked.
#define MIRRORKV_DCHECK(condition) \
  do {                             \
    if (false) (void)(condition);  \
  } while (0)
#else
#define MIRRORKV_DCHECK(condition) MIRRORKV_CHECK(condition)
#endif
