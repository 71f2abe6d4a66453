// The usage example at the top of include/mirrorkv/replication.h, compiled and run as it
// stands: CMake extracts it into replication_h_example.inc (see CMakeLists.txt).
#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "mirrorkv/replication.h"
#include "replication_h_example.inc"

namespace {

TEST(HeaderExampleTest, ReplicationHeaderExampleRunsAsDocumented) {
  auto primary_store = mirrorkv::Store::Open({});
  auto replica_store = mirrorkv::Store::Open({});
  ASSERT_TRUE(primary_store.ok() && replica_store.ok());
  mirrorkv::Status status = FollowInProcess(**primary_store, **replica_store);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(*(*replica_store)->Get("session:42"), "alice");
}

}  // namespace
