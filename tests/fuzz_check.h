// FUZZ_CHECK: the assertion of the libFuzzer targets. Prints the failed condition and
// aborts, which libFuzzer reports as a crash with the input that caused it (GoogleTest's
// macros need a test runner; the library's MIRRORKV_CHECK may be compiled out).
#pragma once

#include <cstdlib>

#define FUZZ_CHECK(condition)                                                      \
  do {                                                                             \
    if (!(condition)) {                                                            \
      __builtin_printf("fuzz check failed: %s (line %d)\n", #condition, __LINE__); \
      std::abort();                                                                \
    }                                                                              \
  } while (0)
