// StripedTable: growth and shrink of one stripe, and the reverse-binary cursor's
// guarantee across resizes.
#include "engine/striped_table.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace mirrorkv::internal {
namespace {

class StripedTableTest : public ::testing::Test {
 protected:
  // One stripe, so every key lands in it and its resizes are easy to provoke.
  StripedTable table_{1, 1'000};
  Stripe& stripe_ = table_.stripe(0);

  void Insert(const std::string& key) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    uint64_t hash = StripedTable::Hash(key);
    ASSERT_EQ(StripedTable::Find(stripe_, hash, key), nullptr);
    table_.Insert(stripe_, hash, key, "value-of-" + key, 0, 0);
  }
  void Erase(const std::string& key) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    Entry** link = StripedTable::FindLink(stripe_, StripedTable::Hash(key), key);
    ASSERT_NE(link, nullptr);
    table_.Erase(stripe_, link);
  }
  size_t Buckets() ABSL_NO_THREAD_SAFETY_ANALYSIS { return stripe_.bucket_mask + 1; }
};

TEST_F(StripedTableTest, GrowsAtOneEntryPerBucketAndShrinksWhenSparse) {
  int64_t empty_memory = table_.memory_bytes();
  for (int i = 0; i < 1000; ++i) Insert("k" + std::to_string(i));
  EXPECT_EQ(Buckets(), 1024u);
  for (int i = 0; i < 1000; ++i) {
    std::string key = "k" + std::to_string(i);
    MutexLock lock(&stripe_.mu);
    Entry* e = StripedTable::Find(stripe_, StripedTable::Hash(key), key);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->value(), "value-of-" + key);
  }
  for (int i = 0; i < 990; ++i) Erase("k" + std::to_string(i));
  EXPECT_LE(Buckets(), 64u);
  for (int i = 990; i < 1000; ++i) Erase("k" + std::to_string(i));
  EXPECT_EQ(Buckets(), size_t{1} << StripedTable::kMinBucketBits);
  EXPECT_EQ(table_.memory_bytes(), empty_memory);
}

TEST_F(StripedTableTest, ReplaceKeepsKeyAndAccountsMemory) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  Insert("k");
  int64_t before = table_.memory_bytes();
  uint64_t hash = StripedTable::Hash("k");
  Entry* e = table_.Replace(stripe_, StripedTable::FindLink(stripe_, hash, "k"),
                            std::string(1000, 'x'), 123456, 7);
  EXPECT_EQ(e->key(), "k");
  EXPECT_EQ(e->value(), std::string(1000, 'x'));
  EXPECT_EQ(e->deadline(), 123456);
  EXPECT_EQ(e->epoch(), 7);
  EXPECT_GT(table_.memory_bytes(), before + 900);
  // Changing only the deadline (passing the entry's own value) keeps the value intact.
  e = table_.Replace(stripe_, StripedTable::FindLink(stripe_, hash, "k"), e->value(), 0, 0);
  EXPECT_FALSE(e->has_expiry());
  EXPECT_EQ(e->value(), std::string(1000, 'x'));
  e = table_.Replace(stripe_, StripedTable::FindLink(stripe_, hash, "k"), e->value(), 99, 1);
  EXPECT_EQ(e->deadline(), 99);
  EXPECT_EQ(e->value(), std::string(1000, 'x'));
}

TEST_F(StripedTableTest, InPlaceRewriteThatAddsOrDropsTheDeadlineKeepsTheKey)
ABSL_NO_THREAD_SAFETY_ANALYSIS {
  // Sizes chosen so that old and new layouts share an arena class and the entry is
  // rewritten in place while its key shifts by the 8-byte deadline word.
  Insert("abcdefgh");  // 12 + 2 + 8 + 17 bytes: the 40-byte class
  uint64_t hash = StripedTable::Hash("abcdefgh");
  Entry* before = StripedTable::Find(stripe_, hash, "abcdefgh");
  Entry* e = table_.Replace(stripe_, StripedTable::FindLink(stripe_, hash, "abcdefgh"), "xyz12",
                            5000, 3);  // 12 + 8 + 2 + 8 + 5: still 40
#if !defined(MIRRORKV_SANITIZE_ADDRESS) && !defined(MIRRORKV_SANITIZE_THREAD)
  EXPECT_EQ(e, before);  // rewritten in place, the case under test
#endif
  EXPECT_EQ(e->key(), "abcdefgh");
  EXPECT_EQ(e->value(), "xyz12");
  EXPECT_EQ(e->deadline(), 5000);
  e = table_.Replace(stripe_, StripedTable::FindLink(stripe_, hash, "abcdefgh"), "value-longer-15",
                     0, 0);  // 12 + 2 + 8 + 15: still 40
#if !defined(MIRRORKV_SANITIZE_ADDRESS) && !defined(MIRRORKV_SANITIZE_THREAD)
  EXPECT_EQ(e, before);
#endif
  EXPECT_EQ(e->key(), "abcdefgh");
  EXPECT_EQ(e->value(), "value-longer-15");
  EXPECT_FALSE(e->has_expiry());
}

TEST_F(StripedTableTest, CursorVisitsStableKeysAcrossGrowthAndShrink) {
  std::set<std::string> stable;
  for (int i = 0; i < 200; ++i) {
    stable.insert("stable" + std::to_string(i));
    Insert("stable" + std::to_string(i));
  }
  std::set<std::string> seen;
  uint64_t cursor = 0;
  int step = 0;
  do {
    {
      MutexLock lock(&stripe_.mu);
      cursor = StripedTable::VisitBucket(stripe_, cursor,
                                         [&](const Entry& e) { seen.emplace(e.key()); });
    }
    // Alternate big growth and shrink between cursor steps.
    if (step % 7 == 3) {
      for (int i = 0; i < 2000; ++i)
        Insert("churn" + std::to_string(step) + "_" + std::to_string(i));
    } else if (step % 7 == 6) {
      for (int i = 0; i < 2000; ++i)
        Erase("churn" + std::to_string(step - 3) + "_" + std::to_string(i));
    }
    ++step;
  } while (cursor != 0);
  for (const auto& key : stable) EXPECT_TRUE(seen.count(key)) << key;
}

TEST(StripedTableCursorTest, NextCursorWalksEveryBucketOnce) {
  for (uint64_t mask : {0ull, 1ull, 7ull, 1023ull}) {
    std::set<uint64_t> buckets;
    uint64_t cursor = 0;
    do {
      EXPECT_TRUE(buckets.insert(cursor & mask).second);
      cursor = StripedTable::NextCursor(cursor, mask);
    } while (cursor != 0);
    EXPECT_EQ(buckets.size(), mask + 1);
  }
}

}  // namespace
}  // namespace mirrorkv::internal
