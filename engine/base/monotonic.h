// Monotonic milliseconds, for timeouts and intervals (never for deadlines, which are
// Unix times read from a Clock).
#pragma once

#include <chrono>
#include <cstdint>

namespace mirrorkv::internal {

inline int64_t MonotonicMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace mirrorkv::internal
