// What the snapshot module's libFuzzer targets share: a check that aborts (libFuzzer
// reports the input), and the store the loads go into.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdlib>

#include "mirrorkv/store.h"
#include "tests/fuzz_check.h"

namespace mirrorkv::testutil {

// One small store for the whole run (4 stripes, no expiry thread), with these limits;
// the first call's limits stay.
inline Store& FuzzTargetStore(size_t max_key_bytes, size_t max_value_bytes) {
  static Store* const store = [&] {
    StoreOptions options;
    options.stripe_count = 4;
    options.active_expiry_interval = std::chrono::milliseconds(0);
    options.max_key_bytes = max_key_bytes;
    options.max_value_bytes = max_value_bytes;
    return Store::Open(options).value().release();
  }();
  return *store;
}

}  // namespace mirrorkv::testutil
