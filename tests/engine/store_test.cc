// Store semantics, one operation at a time: every outcome each method documents,
// deadlines with a ManualClock, the reported mutations, replica mode and limits.
#include "mirrorkv/store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "engine/store_impl.h"
#include "mirrorkv/clock.h"
#include "mirrorkv/mutation.h"
#include "tests/recording_listener.h"

namespace mirrorkv {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAreArray;
using namespace std::chrono_literals;

using testutil::RecordingListener;

class StoreTest : public ::testing::Test {
 protected:
  static constexpr int64_t kStart = 1'700'000'000'000;

  void SetUp() override { Reopen(); }

  void Reopen(StoreOptions options = {}) {
    store_.reset();
    options.clock = &clock_;
    options.listener = &listener_;
    options.active_expiry_interval = 0ms;  // tests drive expiry with ExpireDue()
    auto opened = Store::Open(options);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(*opened);
    listener_.TakeDescribed();
  }

  std::string GetOr(std::string_view key, std::string fallback = "<none>") {
    auto value = store_->Get(key);
    return value.ok() ? *value : fallback;
  }

  ManualClock clock_{kStart};
  RecordingListener listener_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, SetThenGetReturnsValue) {
  ASSERT_TRUE(store_->Set("k", "v").ok());
  EXPECT_EQ(GetOr("k"), "v");
  EXPECT_EQ(store_->size(), 1u);
  EXPECT_THAT(listener_.TakeDescribed(), ElementsAre("set k v @0"));
}

TEST_F(StoreTest, GetMissingIsBareNotFound) {
  auto value = store_->Get("nope");
  ASSERT_FALSE(value.ok());
  EXPECT_TRUE(value.status().IsNotFound());
  EXPECT_TRUE(value.status().message().empty());
  std::string buffer = "unchanged";
  EXPECT_TRUE(store_->Get("nope", &buffer).IsNotFound());
  EXPECT_EQ(buffer, "unchanged");
}

TEST_F(StoreTest, OverwriteReplacesValueOfAnySize) {
  ASSERT_TRUE(store_->Set("k", "short").ok());
  ASSERT_TRUE(store_->Set("k", std::string(5000, 'x')).ok());
  EXPECT_EQ(GetOr("k"), std::string(5000, 'x'));
  ASSERT_TRUE(store_->Set("k", "").ok());
  EXPECT_EQ(GetOr("k"), "");
  EXPECT_EQ(store_->size(), 1u);
}

TEST_F(StoreTest, BinaryKeysAndValuesWithNulBytes) {
  std::string key("a\0b", 3), other("a\0c", 3), value("\0\xff\0", 3);
  ASSERT_TRUE(store_->Set(key, value).ok());
  ASSERT_TRUE(store_->Set(other, "x").ok());
  EXPECT_EQ(GetOr(key), value);
  EXPECT_EQ(GetOr(other), "x");
  EXPECT_EQ(GetOr(std::string("a", 1)), "<none>");
}

TEST_F(StoreTest, EmptyKeyIsAValidKey) {
  ASSERT_TRUE(store_->Set("", "empty").ok());
  EXPECT_EQ(GetOr(""), "empty");
  EXPECT_TRUE(*store_->Del(""));
  EXPECT_FALSE(store_->Exists(""));
}

TEST_F(StoreTest, GetIntoBufferReusesCapacity) {
  ASSERT_TRUE(store_->Set("k", "value").ok());
  std::string buffer;
  buffer.reserve(64);
  const char* data = buffer.data();
  ASSERT_TRUE(store_->Get("k", &buffer).ok());
  EXPECT_EQ(buffer, "value");
  EXPECT_EQ(buffer.data(), data);  // no reallocation
}

TEST_F(StoreTest, ReadVisitsValueWithoutCopy) {
  ASSERT_TRUE(store_->Set("k", "value").ok());
  size_t seen = 0;
  EXPECT_TRUE(store_->Read("k", [&](std::string_view v) { seen = v.size(); }));
  EXPECT_EQ(seen, 5u);
  EXPECT_FALSE(store_->Read("missing", [&](std::string_view) { seen = 99; }));
  EXPECT_EQ(seen, 5u);
}

TEST_F(StoreTest, SetIfAbsentAndIfPresent) {
  EXPECT_FALSE(*store_->Set("k", "1", {.condition = SetCondition::kIfPresent}));
  EXPECT_EQ(GetOr("k"), "<none>");
  EXPECT_TRUE(*store_->Set("k", "1", {.condition = SetCondition::kIfAbsent}));
  EXPECT_FALSE(*store_->Set("k", "2", {.condition = SetCondition::kIfAbsent}));
  EXPECT_EQ(GetOr("k"), "1");
  EXPECT_TRUE(*store_->Set("k", "3", {.condition = SetCondition::kIfPresent}));
  EXPECT_EQ(GetOr("k"), "3");
  // Only effective writes are reported.
  EXPECT_THAT(listener_.TakeDescribed(), ElementsAre("set k 1 @0", "set k 3 @0"));
}

TEST_F(StoreTest, SetReturnsPreviousValueEvenWhenConditionFails) {
  std::optional<std::string> previous = "sentinel";
  ASSERT_TRUE(*store_->Set("k", "1", {.previous_value = &previous}));
  EXPECT_EQ(previous, std::nullopt);
  EXPECT_FALSE(
      *store_->Set("k", "2", {.condition = SetCondition::kIfAbsent, .previous_value = &previous}));
  EXPECT_EQ(previous, "1");
  EXPECT_EQ(GetOr("k"), "1");
}

TEST_F(StoreTest, SetWithRelativeExpiryLogsAbsoluteDeadline) {
  ASSERT_TRUE(store_->Set("k", "v", {.expiry = Expiry::After(1500ms)}).ok());
  EXPECT_EQ(store_->Ttl("k"), 1500);
  EXPECT_EQ(store_->ExpireTime("k"), kStart + 1500);
  EXPECT_THAT(listener_.TakeDescribed(), ElementsAre("set k v @" + std::to_string(kStart + 1500)));
}

TEST_F(StoreTest, SetRejectsNonPositiveRelativeExpiry) {
  for (auto ttl : {0ms, -5ms}) {
    auto r = store_->Set("k", "v", {.expiry = Expiry::After(ttl)});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  }
  auto huge = store_->Set("k", "v", {.expiry = Expiry::After(std::chrono::milliseconds::max())});
  EXPECT_EQ(huge.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(GetOr("k"), "<none>");
}

TEST_F(StoreTest, SetWithPastAbsoluteDeadlineDeletesKey) {
  ASSERT_TRUE(store_->Set("k", "old").ok());
  listener_.TakeDescribed();
  EXPECT_TRUE(*store_->Set("k", "new", {.expiry = Expiry::At(kStart - 1)}));
  EXPECT_EQ(GetOr("k"), "<none>");
  EXPECT_THAT(listener_.TakeDescribed(), ElementsAre("del k"));
}

TEST_F(StoreTest, SetClearsTtlUnlessKeepTtl) {
  ASSERT_TRUE(store_->Set("k", "v", {.expiry = Expiry::After(10s)}).ok());
  ASSERT_TRUE(store_->Set("k", "v2", {.expiry = Expiry::Keep()}).ok());
  EXPECT_EQ(store_->Ttl("k"), 10000);
  ASSERT_TRUE(store_->Set("k", "v3").ok());
  EXPECT_EQ(store_->Ttl("k"), kTtlNoExpiry);
}

TEST_F(StoreTest, ExpiredKeyReadsAsMissingBeforeAnySweep) {
  ASSERT_TRUE(store_->Set("k", "v", {.expiry = Expiry::After(100ms)}).ok());
  clock_.Advance(99);
  EXPECT_EQ(GetOr("k"), "v");
  clock_.Advance(1);
  listener_.TakeDescribed();
  EXPECT_EQ(GetOr("k"), "<none>");
  EXPECT_EQ(store_->Ttl("k"), kTtlMissingKey);
  // Lazy expiry deleted it and reported the delete as an expiry.
  EXPECT_THAT(listener_.TakeDescribed(), ElementsAre("del k expired"));
  EXPECT_EQ(store_->stats().expired, 1u);
}

TEST_F(StoreTest, GetWithDeadlineReadsValueAndDeadlineTogether) {
  ASSERT_TRUE(store_->Set("timed", "v", {.expiry = Expiry::After(100ms)}).ok());
  ASSERT_TRUE(store_->Set("plain", "w").ok());
  Result<Store::TimedValue> timed = store_->GetWithDeadline("timed");
  ASSERT_TRUE(timed.ok());
  EXPECT_EQ(timed->value, "v");
  EXPECT_EQ(timed->deadline_ms, kStart + 100);
  EXPECT_EQ(store_->GetWithDeadline("plain")->deadline_ms, kTtlNoExpiry);
  // Past the deadline the pair is gone together: never a value with no deadline.
  clock_.Advance(100);
  std::string value = "unchanged";
  int64_t deadline = 0;
  EXPECT_TRUE(store_->GetWithDeadline("timed", &value, &deadline).IsNotFound());
  EXPECT_EQ(value, "unchanged");
  EXPECT_TRUE(store_->GetWithDeadline("missing").status().IsNotFound());
}

TEST_F(StoreTest, ActiveExpiryDeletesUntouchedKeys) {
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(
        store_->Set("k" + std::to_string(i), "v", {.expiry = Expiry::After(1ms * (10 + i))}).ok());
  }
  ASSERT_TRUE(store_->Set("forever", "v").ok());
  clock_.Advance(59);
  EXPECT_EQ(store_->ExpireDue(), 50u);
  EXPECT_EQ(store_->size(), 51u);
  clock_.Advance(1000);
  EXPECT_EQ(store_->ExpireDue(), 50u);
  EXPECT_EQ(store_->size(), 1u);
  EXPECT_EQ(store_->stats().expired, 100u);
}

TEST_F(StoreTest, ActiveExpiryHonoursBudget) {
  StoreOptions options;
  options.active_expiry_budget = 7;
  Reopen(options);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(store_->Set("k" + std::to_string(i), "v", {.expiry = Expiry::After(5ms)}).ok());
  }
  clock_.Advance(10);
  EXPECT_EQ(store_->ExpireDue(), 7u);
  EXPECT_EQ(store_->ExpireDue(), 7u);
  EXPECT_EQ(store_->ExpireDue(), 6u);
  EXPECT_EQ(store_->ExpireDue(), 0u);
  EXPECT_EQ(store_->size(), 0u);
}

TEST_F(StoreTest, RefreshedDeadlineIsNotExpiredEarly) {
  // A sliding session: the deadline moves forward on every access. The wheel item armed
  // for the first deadline must not expire the key at that first deadline.
  ASSERT_TRUE(store_->Set("s", "v", {.expiry = Expiry::After(100ms)}).ok());
  for (int i = 0; i < 10; ++i) {
    clock_.Advance(50);
    ASSERT_TRUE(*store_->Expire("s", Expiry::After(100ms)));
    EXPECT_EQ(store_->ExpireDue(), 0u);
  }
  EXPECT_EQ(GetOr("s"), "v");
  clock_.Advance(100);
  EXPECT_EQ(store_->ExpireDue(), 1u);
  EXPECT_EQ(store_->size(), 0u);
}

TEST_F(StoreTest, ShortenedDeadlineExpiresAtTheNewTime) {
  ASSERT_TRUE(store_->Set("k", "v", {.expiry = Expiry::After(1h)}).ok());
  ASSERT_TRUE(*store_->Expire("k", Expiry::After(10ms)));
  clock_.Advance(10);
  EXPECT_EQ(store_->ExpireDue(), 1u);
  EXPECT_EQ(store_->size(), 0u);
}

TEST_F(StoreTest, PersistedKeyIsNotExpiredByItsOldItem) {
  ASSERT_TRUE(store_->Set("k", "v", {.expiry = Expiry::After(10ms)}).ok());
  EXPECT_TRUE(*store_->Persist("k"));
  EXPECT_FALSE(*store_->Persist("k"));
  clock_.Advance(1000);
  EXPECT_EQ(store_->ExpireDue(), 0u);
  EXPECT_EQ(GetOr("k"), "v");
  EXPECT_EQ(store_->Ttl("k"), kTtlNoExpiry);
  EXPECT_THAT(listener_.TakeDescribed(),
              ElementsAre("set k v @" + std::to_string(kStart + 10), "persist k"));
}

TEST_F(StoreTest, WheelItemsDoNotAccumulateForSlidingSessions) {
  ASSERT_TRUE(store_->Set("s", "v", {.expiry = Expiry::After(1h)}).ok());
  uint64_t memory = store_->stats().memory_used;
  for (int i = 0; i < 10000; ++i) {
    clock_.Advance(1);
    ASSERT_TRUE(*store_->Expire("s", Expiry::After(1h)));
  }
  EXPECT_EQ(store_->stats().memory_used, memory);
}

TEST_F(StoreTest, ExpireConditions) {
  ASSERT_TRUE(store_->Set("k", "v").ok());
  EXPECT_FALSE(*store_->Expire("k", Expiry::After(10s), ExpireCondition::kIfHasExpiry));
  EXPECT_FALSE(*store_->Expire("k", Expiry::After(10s), ExpireCondition::kIfGreater));
  EXPECT_TRUE(*store_->Expire("k", Expiry::After(10s), ExpireCondition::kIfNoExpiry));
  EXPECT_FALSE(*store_->Expire("k", Expiry::After(20s), ExpireCondition::kIfNoExpiry));
  EXPECT_FALSE(*store_->Expire("k", Expiry::After(5s), ExpireCondition::kIfGreater));
  EXPECT_TRUE(*store_->Expire("k", Expiry::After(20s), ExpireCondition::kIfGreater));
  EXPECT_FALSE(*store_->Expire("k", Expiry::After(30s), ExpireCondition::kIfLess));
  EXPECT_TRUE(*store_->Expire("k", Expiry::After(5s), ExpireCondition::kIfLess));
  EXPECT_EQ(store_->Ttl("k"), 5000);
  EXPECT_FALSE(*store_->Expire("missing", Expiry::After(5s)));
}

TEST_F(StoreTest, ExpireInThePastDeletesAndLogsDelete) {
  ASSERT_TRUE(store_->Set("a", "v").ok());
  ASSERT_TRUE(store_->Set("b", "v").ok());
  listener_.TakeDescribed();
  EXPECT_TRUE(*store_->Expire("a", Expiry::After(0ms)));
  EXPECT_TRUE(*store_->Expire("b", Expiry::At(kStart - 1000)));
  EXPECT_EQ(store_->size(), 0u);
  EXPECT_THAT(listener_.TakeDescribed(), ElementsAre("del a", "del b"));
}

TEST_F(StoreTest, ExpireRejectsClearAndKeep) {
  ASSERT_TRUE(store_->Set("k", "v").ok());
  EXPECT_EQ(store_->Expire("k", Expiry::Clear()).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Expire("k", Expiry::Keep()).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(StoreTest, ExpireLogsAbsoluteDeadline) {
  ASSERT_TRUE(store_->Set("k", "v").ok());
  listener_.TakeDescribed();
  ASSERT_TRUE(*store_->Expire("k", Expiry::After(3s)));
  EXPECT_THAT(listener_.TakeDescribed(),
              ElementsAre("expireat k " + std::to_string(kStart + 3000)));
}

TEST_F(StoreTest, GetDelReturnsAndRemoves) {
  ASSERT_TRUE(store_->Set("k", "v").ok());
  EXPECT_EQ(*store_->GetDel("k"), "v");
  EXPECT_TRUE(store_->GetDel("k").status().IsNotFound());
  EXPECT_EQ(store_->size(), 0u);
}

TEST_F(StoreTest, GetExChangesOrKeepsDeadline) {
  ASSERT_TRUE(store_->Set("k", "v").ok());
  EXPECT_EQ(*store_->GetEx("k", Expiry::After(5s)), "v");
  EXPECT_EQ(store_->Ttl("k"), 5000);
  EXPECT_EQ(*store_->GetEx("k", Expiry::Keep()), "v");
  EXPECT_EQ(store_->Ttl("k"), 5000);
  EXPECT_EQ(*store_->GetEx("k", Expiry::Clear()), "v");
  EXPECT_EQ(store_->Ttl("k"), kTtlNoExpiry);
  EXPECT_EQ(*store_->GetEx("k", Expiry::At(kStart - 1)), "v");
  EXPECT_FALSE(store_->Exists("k"));
  EXPECT_TRUE(store_->GetEx("k", Expiry::Keep()).status().IsNotFound());
  EXPECT_EQ(store_->GetEx("k", Expiry::After(0ms)).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(StoreTest, DelManyCountsLiveKeysOnce) {
  ASSERT_TRUE(store_->Set("a", "1").ok());
  ASSERT_TRUE(store_->Set("b", "2").ok());
  std::vector<std::string_view> keys = {"a", "b", "a", "c"};
  EXPECT_EQ(*store_->Del(keys), 2u);
  EXPECT_EQ(store_->size(), 0u);
}

TEST_F(StoreTest, ExistsCountsRepeats) {
  ASSERT_TRUE(store_->Set("a", "1").ok());
  std::vector<std::string_view> keys = {"a", "a", "b"};
  EXPECT_EQ(store_->Exists(keys), 2u);
}

TEST_F(StoreTest, IncrByCreatesAndAdds) {
  EXPECT_EQ(*store_->IncrBy("n", 5), 5);
  EXPECT_EQ(*store_->IncrBy("n", -7), -2);
  EXPECT_EQ(GetOr("n"), "-2");
  EXPECT_THAT(listener_.TakeDescribed(), ElementsAre("set n 5 @0", "set n -2 @0"));
}

TEST_F(StoreTest, IncrByKeepsDeadlineAndLogsIt) {
  ASSERT_TRUE(store_->Set("n", "10", {.expiry = Expiry::After(1s)}).ok());
  listener_.TakeDescribed();
  EXPECT_EQ(*store_->IncrBy("n", 1), 11);
  EXPECT_EQ(store_->Ttl("n"), 1000);
  EXPECT_THAT(listener_.TakeDescribed(), ElementsAre("set n 11 @" + std::to_string(kStart + 1000)));
}

TEST_F(StoreTest, IncrByRejectsNonIntegersAndLeavesValue) {
  for (std::string bad : {"abc", "", " 1", "1 ", "+1", "01", "-0", "1.5", "99999999999999999999"}) {
    ASSERT_TRUE(store_->Set("n", bad).ok());
    auto r = store_->IncrBy("n", 1);
    ASSERT_FALSE(r.ok()) << "value '" << bad << "'";
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message(), "value is not an integer or out of range");
    EXPECT_EQ(GetOr("n"), bad);
  }
}

TEST_F(StoreTest, IncrByOverflowIsAnErrorAndLeavesValue) {
  ASSERT_TRUE(store_->Set("n", "9223372036854775807").ok());
  auto r = store_->IncrBy("n", 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "increment or decrement would overflow");
  EXPECT_EQ(GetOr("n"), "9223372036854775807");
  ASSERT_TRUE(store_->Set("m", "-9223372036854775808").ok());
  EXPECT_FALSE(store_->IncrBy("m", -1).ok());
  EXPECT_EQ(*store_->IncrBy("m", 0), INT64_MIN);
}

TEST_F(StoreTest, MultiSetIsOneBatchAndLastValueWins) {
  std::vector<std::pair<std::string_view, std::string_view>> pairs = {
      {"a", "1"}, {"b", "2"}, {"a", "3"}};
  ASSERT_TRUE(store_->MultiSet(pairs).ok());
  EXPECT_EQ(GetOr("a"), "3");
  EXPECT_EQ(GetOr("b"), "2");
  EXPECT_THAT(listener_.batch_sizes(), ElementsAre(3u));
}

TEST_F(StoreTest, MultiSetIfAbsentIsAllOrNothing) {
  ASSERT_TRUE(store_->Set("b", "old").ok());
  std::vector<std::pair<std::string_view, std::string_view>> pairs = {{"a", "1"}, {"b", "2"}};
  EXPECT_FALSE(*store_->MultiSetIfAbsent(pairs));
  EXPECT_EQ(GetOr("a"), "<none>");
  EXPECT_EQ(GetOr("b"), "old");
  ASSERT_TRUE(*store_->Del("b"));
  EXPECT_TRUE(*store_->MultiSetIfAbsent(pairs));
  EXPECT_EQ(GetOr("a"), "1");
}

TEST_F(StoreTest, MultiGetReturnsNulloptForMissing) {
  ASSERT_TRUE(store_->Set("a", "1").ok());
  std::vector<std::string_view> keys = {"a", "x", "a"};
  EXPECT_THAT(store_->MultiGet(keys), ElementsAre(std::optional<std::string>("1"), std::nullopt,
                                                  std::optional<std::string>("1")));
}

TEST_F(StoreTest, FlushAllRemovesEverythingAndReportsOnce) {
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(store_->Set("k" + std::to_string(i), "v", {.expiry = Expiry::After(1s)}).ok());
  }
  uint64_t empty_memory;
  {
    StoreOptions options;
    options.clock = &clock_;
    options.active_expiry_interval = 0ms;
    empty_memory = (*Store::Open(options))->stats().memory_used;
  }
  listener_.TakeDescribed();
  ASSERT_TRUE(store_->FlushAll().ok());
  EXPECT_EQ(store_->size(), 0u);
  EXPECT_EQ(store_->stats().memory_used, empty_memory);
  EXPECT_THAT(listener_.TakeDescribed(), ElementsAre("flushall"));
  clock_.Advance(2000);
  EXPECT_EQ(store_->ExpireDue(), 0u);
}

TEST_F(StoreTest, ScanReturnsEveryKeyOnceWithoutConcurrentChanges) {
  std::vector<std::string> keys;
  for (int i = 0; i < 5000; ++i) keys.push_back("key:" + std::to_string(i));
  for (const auto& k : keys) ASSERT_TRUE(store_->Set(k, "v").ok());
  std::vector<std::string> seen;
  uint64_t cursor = 0;
  int calls = 0;
  do {
    ScanPage page = store_->Scan(cursor, {.count = 100});
    seen.insert(seen.end(), page.keys.begin(), page.keys.end());
    cursor = page.cursor;
    ++calls;
  } while (cursor != 0);
  EXPECT_THAT(seen, UnorderedElementsAreArray(keys));
  EXPECT_GT(calls, 10);
}

TEST_F(StoreTest, ScanMatchFiltersAndSkipsExpired) {
  ASSERT_TRUE(store_->Set("user:1", "v").ok());
  ASSERT_TRUE(store_->Set("user:2", "v", {.expiry = Expiry::After(5ms)}).ok());
  ASSERT_TRUE(store_->Set("code:1", "v").ok());
  clock_.Advance(10);
  std::vector<std::string> seen;
  uint64_t cursor = 0;
  do {
    ScanPage page = store_->Scan(cursor, {.count = 1000, .match = "user:*"});
    seen.insert(seen.end(), page.keys.begin(), page.keys.end());
    cursor = page.cursor;
  } while (cursor != 0);
  EXPECT_THAT(seen, ElementsAre("user:1"));
}

TEST_F(StoreTest, ScanOfEmptyStoreEnds) {
  EXPECT_EQ(store_->Scan(0).cursor, 0u);
  // Any cursor value is accepted; iteration still terminates.
  uint64_t cursor = 0xdeadbeefcafe;
  for (int i = 0; i < 10000 && cursor != 0; ++i) cursor = store_->Scan(cursor).cursor;
  EXPECT_EQ(cursor, 0u);
}

TEST_F(StoreTest, KeyAndValueLimitsAreEnforced) {
  StoreOptions options;
  options.max_key_bytes = 8;
  options.max_value_bytes = 16;
  Reopen(options);
  EXPECT_EQ(store_->Set("123456789", "v").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Set("k", std::string(17, 'x')).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(store_->Set("12345678", std::string(16, 'x')).ok());
  EXPECT_EQ(store_->size(), 1u);
}

TEST_F(StoreTest, ReplicaModeRefusesWritesButApplies) {
  StoreOptions options;
  options.replica = true;
  Reopen(options);
  Status s = store_->Set("k", "v");
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("READONLY"));
  EXPECT_EQ(store_->Del("k").status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->IncrBy("k", 1).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->FlushAll().code(), StatusCode::kFailedPrecondition);

  auto& impl = store_->impl();
  ASSERT_TRUE(impl.Apply({MutationKind::kSet, MutationCause::kWrite, "k", "v", kStart + 100}).ok());
  EXPECT_EQ(GetOr("k"), "v");
  // Past its deadline the key reads as missing but stays until the primary deletes it.
  clock_.Advance(200);
  EXPECT_EQ(GetOr("k"), "<none>");
  EXPECT_EQ(store_->ExpireDue(), 0u);
  EXPECT_EQ(store_->size(), 1u);
  ASSERT_TRUE(impl.Apply({MutationKind::kDelete, MutationCause::kWrite, "k", {}, 0}).ok());
  EXPECT_EQ(store_->size(), 0u);
}

TEST_F(StoreTest, PromotedReplicaExpiresWhatItHeld) {
  StoreOptions options;
  options.replica = true;
  Reopen(options);
  auto& impl = store_->impl();
  ASSERT_TRUE(impl.Apply({MutationKind::kSet, MutationCause::kWrite, "k", "v", kStart + 10}).ok());
  clock_.Advance(20);
  impl.SetReplicaMode(false);
  EXPECT_EQ(store_->ExpireDue(), 1u);
  EXPECT_EQ(store_->size(), 0u);
  EXPECT_TRUE(store_->Set("k", "v").ok());
}

TEST_F(StoreTest, ApplyOfEveryKindMatchesItsEffect) {
  auto& impl = store_->impl();
  ASSERT_TRUE(impl.Apply({MutationKind::kSet, MutationCause::kWrite, "k", "v", 0}).ok());
  ASSERT_TRUE(
      impl.Apply({MutationKind::kExpireAt, MutationCause::kWrite, "k", {}, kStart + 50}).ok());
  EXPECT_EQ(store_->ExpireTime("k"), kStart + 50);
  ASSERT_TRUE(impl.Apply({MutationKind::kPersist, MutationCause::kWrite, "k", {}, 0}).ok());
  EXPECT_EQ(store_->ExpireTime("k"), kTtlNoExpiry);
  ASSERT_TRUE(impl.Apply({MutationKind::kFlushAll, MutationCause::kWrite, {}, {}, 0}).ok());
  EXPECT_EQ(store_->size(), 0u);
  EXPECT_EQ(impl.Apply({MutationKind::kSet, MutationCause::kWrite, "k", "v", -1}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->size(), 0u);
}

TEST_F(StoreTest, StatsCountHitsMissesAndMemory) {
  uint64_t empty = store_->stats().memory_used;
  ASSERT_TRUE(store_->Set("k", "v").ok());
  (void)store_->Get("k");
  (void)store_->Get("k");
  (void)store_->Get("x");
  StoreStats stats = store_->stats();
  EXPECT_EQ(stats.hits, 2u);
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.keys, 1u);
  EXPECT_GT(stats.memory_used, empty);
  EXPECT_EQ(stats.stripe_keys.size(), 64u);
  ASSERT_TRUE(*store_->Del("k"));
  EXPECT_EQ(store_->stats().memory_used, empty);
}

TEST_F(StoreTest, OpenRejectsBadOptions) {
  StoreOptions options;
  options.stripe_count = 0;
  EXPECT_EQ(Store::Open(options).status().code(), StatusCode::kInvalidArgument);
  options.stripe_count = 1 << 20;
  EXPECT_EQ(Store::Open(options).status().code(), StatusCode::kInvalidArgument);
  options.stripe_count = 3;  // rounded up to 4
  options.active_expiry_interval = 0ms;
  auto store = Store::Open(options);
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->stats().stripe_keys.size(), 4u);
}

TEST_F(StoreTest, UpdateAppendsKeepingDeadline) {
  auto append = [](std::string_view suffix) {
    return [suffix](const std::string_view* current, std::string& out) {
      if (current != nullptr) out = *current;
      out += suffix;
      return UpdateAction::kWrite;
    };
  };
  EXPECT_EQ(*store_->Update("k", append("ab")), UpdateAction::kWrite);
  ASSERT_TRUE(*store_->Expire("k", Expiry::After(5s)));
  EXPECT_EQ(*store_->Update("k", append("cd")), UpdateAction::kWrite);
  EXPECT_EQ(GetOr("k"), "abcd");
  EXPECT_EQ(store_->Ttl("k"), 5000);
  EXPECT_EQ(listener_.TakeDescribed().back(), "set k abcd @" + std::to_string(kStart + 5000));
}

TEST_F(StoreTest, UpdateErrorOrKeepChangesNothing) {
  ASSERT_TRUE(store_->Set("k", "v").ok());
  listener_.TakeDescribed();
  auto failed =
      store_->Update("k", [](const std::string_view*, std::string& out) -> Result<UpdateAction> {
        out = "partial";
        return Status::InvalidArgument("value is not a valid float");
      });
  EXPECT_EQ(failed.status().code(), StatusCode::kInvalidArgument);
  auto kept = store_->Update("absent", [](const std::string_view* current, std::string&) {
    EXPECT_EQ(current, nullptr);
    return UpdateAction::kKeep;
  });
  EXPECT_EQ(*kept, UpdateAction::kKeep);
  EXPECT_EQ(GetOr("k"), "v");
  EXPECT_FALSE(store_->Exists("absent"));
  EXPECT_TRUE(listener_.TakeDescribed().empty());
}

TEST_F(StoreTest, UpdateEvictsToMakeRoomForAGrowingValue) {
  StoreOptions options;
  options.max_memory = 256 << 10;
  options.eviction_policy = EvictionPolicy::kAllKeysLru;
  Reopen(options);
  for (int i = 0; i < 3000; ++i) {
    ASSERT_TRUE(store_->Set("k" + std::to_string(i), std::string(100, 'x')).ok());
  }
  uint64_t evicted_before = store_->stats().evicted;
  auto grow = [](const std::string_view*, std::string& out) {
    out.assign(64 << 10, 'y');
    return UpdateAction::kWrite;
  };
  ASSERT_TRUE(store_->Update("big", grow).ok());
  EXPECT_EQ(GetOr("big").size(), 64u << 10);
  EXPECT_LE(store_->stats().memory_used, options.max_memory);
  // 64 KiB of room for the new value came from evicting about 64 KiB of small keys.
  EXPECT_GT(store_->stats().evicted, evicted_before + 300);
}

TEST_F(StoreTest, RenameMovesValueAndDeadlineAsOneBatch) {
  ASSERT_TRUE(store_->Set("a", "1", {.expiry = Expiry::After(5s)}).ok());
  ASSERT_TRUE(store_->Set("b", "old").ok());
  listener_.TakeDescribed();
  EXPECT_TRUE(*store_->Rename("a", "b"));
  EXPECT_FALSE(store_->Exists("a"));
  EXPECT_EQ(GetOr("b"), "1");
  EXPECT_EQ(store_->Ttl("b"), 5000);
  EXPECT_THAT(listener_.TakeDescribed(),
              ElementsAre("del a", "set b 1 @" + std::to_string(kStart + 5000)));
  EXPECT_EQ(listener_.batch_sizes().back(), 2u);
}

TEST_F(StoreTest, RenameEdgeCases) {
  EXPECT_TRUE(store_->Rename("missing", "x").status().IsNotFound());
  ASSERT_TRUE(store_->Set("a", "1").ok());
  ASSERT_TRUE(store_->Set("b", "2").ok());
  EXPECT_FALSE(*store_->Rename("a", "b", /*only_if_absent=*/true));
  EXPECT_EQ(GetOr("a"), "1");
  EXPECT_TRUE(*store_->Rename("a", "a"));
  EXPECT_EQ(GetOr("a"), "1");
  EXPECT_TRUE(*store_->Rename("a", "c", /*only_if_absent=*/true));
  EXPECT_EQ(GetOr("c"), "1");
  // Many renames inside one stripe, so that inserting the destination resizes it.
  StoreOptions options;
  options.stripe_count = 1;
  Reopen(options);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(store_->Set("s" + std::to_string(i), std::to_string(i)).ok());
    ASSERT_TRUE(*store_->Rename("s" + std::to_string(i), "d" + std::to_string(i)));
  }
  for (int i = 0; i < 100; ++i) EXPECT_EQ(GetOr("d" + std::to_string(i)), std::to_string(i));
}

// The rename's look-up of an expired destination deletes it, which may unlink the
// entry before the source in its chain or shrink the stripe: the source's link must be
// found again afterwards. One stripe, so that source and destination often share it,
// and a bucket too; then the whole table must hold exactly what the calls left.
TEST_F(StoreTest, RenameOntoAnExpiredDestinationInTheSameStripe) {
  StoreOptions options;
  options.stripe_count = 1;
  Reopen(options);
  std::map<std::string, std::string> expected;
  for (int i = 0; i < 400; ++i) {
    const std::string source = "s" + std::to_string(i), destination = "d" + std::to_string(i);
    // The destination second: where they share a bucket it comes first in the chain.
    ASSERT_TRUE(store_->Set(source, std::to_string(i)).ok());
    ASSERT_TRUE(store_->Set(destination, "old", {.expiry = Expiry::After(1ms)}).ok());
    clock_.Advance(2);
    ASSERT_TRUE(*store_->Rename(source, destination));
    expected[destination] = std::to_string(i);
    if (i % 3 == 0) {  // and deletes, which shrink the stripe now and then
      ASSERT_TRUE(*store_->Del(destination));
      expected.erase(destination);
    }
  }
  std::map<std::string, std::string> held;
  uint64_t cursor = 0;
  do {
    cursor = store_->impl().Walk(cursor, 100, [&](std::string_view k, std::string_view v, int64_t) {
      EXPECT_TRUE(held.emplace(std::string(k), std::string(v)).second) << "twice: " << k;
    });
  } while (cursor != 0);
  EXPECT_EQ(held, expected);
  EXPECT_EQ(store_->size(), expected.size());
}

TEST_F(StoreTest, RandomKeyReturnsLiveKeys) {
  EXPECT_TRUE(store_->RandomKey().status().IsNotFound());
  ASSERT_TRUE(store_->Set("live", "v").ok());
  ASSERT_TRUE(store_->Set("dead", "v", {.expiry = Expiry::After(1ms)}).ok());
  clock_.Advance(5);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(*store_->RandomKey(), "live");
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(store_->Set("k" + std::to_string(i), "v").ok());
  for (int i = 0; i < 2000; ++i) seen.insert(*store_->RandomKey());
  EXPECT_GT(seen.size(), 40u);
}

TEST_F(StoreTest, SieveQueueStaysBoundedWhenTheSameKeysAreReinserted) {
  StoreOptions options;
  options.eviction_policy = EvictionPolicy::kAllKeysSieve;
  options.stripe_count = 1;
  Reopen(options);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(store_->Set("k" + std::to_string(i), "v").ok());
  uint64_t memory = store_->stats().memory_used;
  // Delete and insert the same keys many times: each insert queues the hash again.
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < 100; ++i) {
      ASSERT_TRUE(*store_->Del("k" + std::to_string(i)));
      ASSERT_TRUE(store_->Set("k" + std::to_string(i), "v").ok());
    }
  }
  EXPECT_LE(store_->stats().memory_used, memory + 100 * 8 + 1024);
}

TEST(EvictionPolicyTest, ParseAndNameRoundTrip) {
  for (auto policy : {EvictionPolicy::kNoEviction, EvictionPolicy::kAllKeysLru,
                      EvictionPolicy::kVolatileLru, EvictionPolicy::kAllKeysRandom,
                      EvictionPolicy::kVolatileTtl, EvictionPolicy::kAllKeysSieve}) {
    EXPECT_EQ(*ParseEvictionPolicy(EvictionPolicyName(policy)), policy);
  }
  EXPECT_EQ(*ParseEvictionPolicy("AllKeys-LRU"), EvictionPolicy::kAllKeysLru);
  EXPECT_FALSE(ParseEvictionPolicy("lru").ok());
}

}  // namespace
}  // namespace mirrorkv
