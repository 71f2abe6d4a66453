#include "engine/base/check.h"

#include <cstdio>
#include <cstdlib>

namespace mirrorkv::internal {

void CheckFailed(const char* file, int line, const char* condition) {
  std::fprintf(stderr, "mirrorkv: check failed at %s:%d: %s\n", file, line, condition);
  std::abort();
}

}  // namespace mirrorkv::internal
