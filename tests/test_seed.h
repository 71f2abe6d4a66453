// The seed of a randomized test: MIRRORKV_TEST_SEED from the environment if set, else the
// test's fixed default. Printed and recorded in the test's XML properties, so that any
// failure can be replayed with the same seed.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>

namespace mirrorkv::testutil {

inline uint64_t TestSeed(uint64_t default_seed) {
  uint64_t seed = default_seed;
  if (const char* env = std::getenv("MIRRORKV_TEST_SEED"); env != nullptr && *env != '\0') {
    seed = std::strtoull(env, nullptr, 0);
  }
  std::cout << "MIRRORKV_TEST_SEED=" << seed << std::endl;
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  return seed;
}

}  // namespace mirrorkv::testutil
