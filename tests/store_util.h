// OpenStore: a Store for a test, opened with `options`; a failure to open fails the test
// (and returns nullptr, which the test's next use turns into a crash it reports).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <utility>

#include "mirrorkv/options.h"
#include "mirrorkv/store.h"

namespace mirrorkv::testutil {

inline std::unique_ptr<Store> OpenStore(const StoreOptions& options = {}) {
  Result<std::unique_ptr<Store>> store = Store::Open(options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(*store) : nullptr;
}

}  // namespace mirrorkv::testutil
