// ParseInt64 / FormatInt64: Redis's strict integer text.
#include "engine/base/numbers.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace mirrorkv::internal {
namespace {

TEST(NumbersTest, ParsesCanonicalIntegers) {
  int64_t v = 0;
  EXPECT_TRUE(ParseInt64("0", &v));
  EXPECT_EQ(v, 0);
  EXPECT_TRUE(ParseInt64("-17", &v));
  EXPECT_EQ(v, -17);
  EXPECT_TRUE(ParseInt64("9223372036854775807", &v));
  EXPECT_EQ(v, INT64_MAX);
  EXPECT_TRUE(ParseInt64("-9223372036854775808", &v));
  EXPECT_EQ(v, INT64_MIN);
}

TEST(NumbersTest, RejectsNonCanonicalTextAndLeavesOutput) {
  for (std::string bad : std::initializer_list<std::string>{
           "", "-", "+1", " 1", "1 ", "01", "-0", "00", "1e3", "0x10", "9223372036854775808",
           "-9223372036854775809", "123456789012345678901", std::string("1\0", 2)}) {
    int64_t v = 42;
    EXPECT_FALSE(ParseInt64(bad, &v)) << bad;
    EXPECT_EQ(v, 42);
  }
}

TEST(NumbersTest, FormatRoundTrips) {
  char buffer[kMaxInt64Digits];
  for (int64_t v : {int64_t{0}, int64_t{-1}, int64_t{123}, INT64_MAX, INT64_MIN}) {
    int64_t back = 0;
    ASSERT_TRUE(ParseInt64(FormatInt64(v, buffer), &back));
    EXPECT_EQ(back, v);
  }
}

}  // namespace
}  // namespace mirrorkv::internal
