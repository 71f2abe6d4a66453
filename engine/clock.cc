#include "mirrorkv/clock.h"

#include <chrono>

namespace mirrorkv {

int64_t SystemClock::NowMillis() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

SystemClock* SystemClock::Default() {
  static SystemClock* const clock = new SystemClock();  // never destroyed: no exit-order issue
  return clock;
}

}  // namespace mirrorkv
