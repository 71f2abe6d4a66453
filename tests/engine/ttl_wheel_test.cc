// Tests for TtlWheel: deadlines at every distance (past, now, next tick, years, the top level,
// INT64_MAX), time jumps, delivery budgets, memory accounting, and a randomized differential
// test against a sorted-set model. Set MIRRORKV_TEST_SEED to replay a randomized run.

#include "engine/ttl_wheel.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "tests/test_seed.h"

namespace mirrorkv::internal {
namespace {

using Item = TtlWheel::Item;

constexpr int64_t kMaxMs = std::numeric_limits<int64_t>::max();
constexpr int64_t kMinMs = std::numeric_limits<int64_t>::min();
constexpr size_t kNoLimit = std::numeric_limits<size_t>::max();
constexpr int64_t kNow = 1'700'000'000'000;  // a Unix time in ms (Nov 2023)
constexpr int64_t kSecond = 1000;
constexpr int64_t kDay = 24 * 3600 * kSecond;
constexpr int64_t kYear = 365 * kDay;

// Advances and returns what was delivered.
std::vector<Item> AdvanceTo(TtlWheel& wheel, int64_t now_ms, size_t max_items = kNoLimit) {
  std::vector<Item> out;
  const size_t n = wheel.Advance(now_ms, max_items, [&](const Item& item) { out.push_back(item); });
  EXPECT_EQ(n, out.size());
  return out;
}

std::vector<uint64_t> Ids(const std::vector<Item>& items) {
  std::vector<uint64_t> ids;
  for (const Item& item : items) ids.push_back(item.id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

uint64_t SeedFromEnv() { return testutil::TestSeed(0x6d69'7272'6f72'6b76); }  // "mirrorkv"

TEST(TtlWheelTest, EmptyWheelDeliversNothingAndOwnsNoMemory) {
  TtlWheel wheel(kNow);
  EXPECT_EQ(wheel.size(), 0u);
  EXPECT_TRUE(wheel.empty());
  EXPECT_EQ(wheel.MemoryBytes(), 0u);
  EXPECT_EQ(wheel.NextDeadlineHint(), kMaxMs);
  EXPECT_TRUE(AdvanceTo(wheel, kMaxMs).empty());
}

TEST(TtlWheelTest, ItemDueExactlyAtDeadline) {
  TtlWheel wheel(kNow);
  wheel.Schedule(7, kNow + 5);
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_TRUE(AdvanceTo(wheel, kNow + 4).empty());
  const std::vector<Item> got = AdvanceTo(wheel, kNow + 5);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id, 7u);
  EXPECT_EQ(got[0].deadline_ms, kNow + 5);
  EXPECT_EQ(wheel.size(), 0u);
  EXPECT_TRUE(AdvanceTo(wheel, kNow + 6).empty());
}

TEST(TtlWheelTest, PastAndPresentDeadlinesDueAtNextAdvance) {
  TtlWheel wheel(kNow);
  wheel.Schedule(1, kNow - 1);
  wheel.Schedule(2, kNow);
  wheel.Schedule(3, kNow - kYear);
  wheel.Schedule(4, kMinMs);
  wheel.Schedule(5, kNow + 1);  // not due yet
  EXPECT_LE(wheel.NextDeadlineHint(), kNow);
  // Even an Advance to an earlier time delivers what is already due.
  EXPECT_EQ(Ids(AdvanceTo(wheel, kNow - 100)), (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(wheel.NextDeadlineHint(), kNow + 1);
  EXPECT_EQ(Ids(AdvanceTo(wheel, kNow + 1)), (std::vector<uint64_t>{5}));
}

TEST(TtlWheelTest, OneTickAheadWithCoarseTick) {
  TtlWheel wheel(kNow, /*tick_ms=*/10);
  wheel.Schedule(1, kNow + 10);  // on a tick boundary
  wheel.Schedule(2, kNow + 15);  // between boundaries: rounds up to kNow + 20
  EXPECT_TRUE(AdvanceTo(wheel, kNow + 9).empty());
  EXPECT_EQ(Ids(AdvanceTo(wheel, kNow + 10)), (std::vector<uint64_t>{1}));
  EXPECT_TRUE(AdvanceTo(wheel, kNow + 14).empty());  // never early
  EXPECT_TRUE(AdvanceTo(wheel, kNow + 19).empty());  // late, but by less than a tick
  EXPECT_EQ(wheel.NextDeadlineHint(), kNow + 20);
  EXPECT_EQ(Ids(AdvanceTo(wheel, kNow + 20)), (std::vector<uint64_t>{2}));
}

TEST(TtlWheelTest, FarFutureDeadlineDeliveredOnTimeAfterManyJumps) {
  TtlWheel wheel(kNow);
  const int64_t deadline = kNow + 3 * kYear + 12345;
  wheel.Schedule(9, deadline);
  wheel.Schedule(8, kNow + kDay);
  // Walk in uneven day-sized steps, checking nothing arrives early.
  int64_t t = kNow;
  std::vector<Item> got;
  while (t < deadline - 1) {
    t = std::min(deadline - 1, t + kDay + 777);
    for (const Item& item : AdvanceTo(wheel, t)) {
      EXPECT_LE(item.deadline_ms, t);
      got.push_back(item);
    }
  }
  EXPECT_EQ(Ids(got), (std::vector<uint64_t>{8}));
  EXPECT_EQ(Ids(AdvanceTo(wheel, deadline)), (std::vector<uint64_t>{9}));
}

TEST(TtlWheelTest, SleepingUntilHintTakesFewWakeups) {
  // An expiry thread that sleeps until NextDeadlineHint must reach a deadline years away in
  // about one wakeup per level, and the hint must never pass the deadline.
  TtlWheel wheel(kNow);
  const int64_t deadline = kNow + 5 * kYear + 987654321;
  wheel.Schedule(1, deadline);
  int wakeups = 0;
  size_t delivered = 0;
  while (delivered == 0) {
    const int64_t hint = wheel.NextDeadlineHint();
    ASSERT_LE(hint, deadline);
    ASSERT_GT(hint, kNow);
    delivered = wheel.Advance(hint, kNoLimit, [&](const Item& item) {
      EXPECT_EQ(item.deadline_ms, deadline);
      EXPECT_EQ(hint, deadline);
    });
    ASSERT_LE(++wakeups, TtlWheel::kLevels + 1);
  }
  EXPECT_EQ(wheel.NextDeadlineHint(), kMaxMs);
}

TEST(TtlWheelTest, TopLevelAndMaximumDeadlines) {
  // Eleven levels of 64 slots cover every 64-bit tick, so nothing is "beyond the top level":
  // these deadlines differ from now in the top bits and land on the highest levels.
  TtlWheel wheel(kNow);
  const int64_t top1 = kNow + (int64_t{1} << 61);
  const int64_t top2 = kNow + (int64_t{1} << 62);
  wheel.Schedule(1, top1);
  wheel.Schedule(2, top2);
  wheel.Schedule(3, kMaxMs - 1);
  wheel.Schedule(4, kMaxMs);
  EXPECT_TRUE(AdvanceTo(wheel, top1 - 1).empty());
  EXPECT_EQ(Ids(AdvanceTo(wheel, top1)), (std::vector<uint64_t>{1}));
  EXPECT_TRUE(AdvanceTo(wheel, top2 - 1).empty());
  EXPECT_EQ(Ids(AdvanceTo(wheel, top2)), (std::vector<uint64_t>{2}));
  EXPECT_TRUE(AdvanceTo(wheel, kMaxMs - 2).empty());
  EXPECT_EQ(Ids(AdvanceTo(wheel, kMaxMs - 1)), (std::vector<uint64_t>{3}));
  EXPECT_EQ(Ids(AdvanceTo(wheel, kMaxMs)), (std::vector<uint64_t>{4}));
  EXPECT_EQ(wheel.MemoryBytes(), 0u);
}

TEST(TtlWheelTest, MaximumDeadlineWithTickNotDividingIt) {
  // INT64_MAX % 10 == 7, so the tick of a deadline near INT64_MAX starts past INT64_MAX.
  TtlWheel wheel(kNow, /*tick_ms=*/10);
  wheel.Schedule(1, kMaxMs);
  wheel.Schedule(2, kMaxMs - 5);
  EXPECT_TRUE(AdvanceTo(wheel, kMaxMs - 6).empty());
  EXPECT_EQ(wheel.NextDeadlineHint(), kMaxMs);
  EXPECT_EQ(Ids(AdvanceTo(wheel, kMaxMs)), (std::vector<uint64_t>{1, 2}));
}

TEST(TtlWheelTest, NegativeTimesCrossingZero) {
  // A fake clock may start anywhere; tick numbers cross zero without reordering.
  for (int64_t tick : {1, 3}) {
    SCOPED_TRACE(tick);
    TtlWheel wheel(-1000, tick);
    wheel.Schedule(1, -500);
    wheel.Schedule(2, 0);
    wheel.Schedule(3, 600);
    EXPECT_EQ(Ids(AdvanceTo(wheel, -1 - tick)), (std::vector<uint64_t>{1}));
    EXPECT_EQ(Ids(AdvanceTo(wheel, 0 + tick - 1)), (std::vector<uint64_t>{2}));
    EXPECT_TRUE(AdvanceTo(wheel, 599).empty());
    EXPECT_EQ(Ids(AdvanceTo(wheel, 600 + tick - 1)), (std::vector<uint64_t>{3}));
  }
}

TEST(TtlWheelTest, TimeJumpOfDaysDeliversAllDueAndNothingEarly) {
  TtlWheel wheel(kNow);
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int64_t> offset(0, 10 * kDay);
  std::vector<Item> scheduled;
  for (uint64_t id = 0; id < 5000; ++id) {
    const int64_t deadline = kNow + offset(rng);
    scheduled.push_back({id, deadline});
    wheel.Schedule(id, deadline);
  }
  // Successive cuts must deliver exactly the items that became due since the previous cut.
  int64_t previous = kNow;
  for (int64_t cut : {kNow + 5 * kDay, kNow + 5 * kDay + 1, kNow + 10 * kDay}) {
    std::vector<uint64_t> expected;
    for (const Item& item : scheduled) {
      if (item.deadline_ms > previous && item.deadline_ms <= cut) expected.push_back(item.id);
    }
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(Ids(AdvanceTo(wheel, cut)), expected) << "cut=" << cut - kNow;
    previous = cut;
  }
  EXPECT_EQ(wheel.size(), 0u);
  EXPECT_EQ(wheel.MemoryBytes(), 0u);
}

TEST(TtlWheelTest, BudgetDeliversExactlyKThenTheRest) {
  TtlWheel wheel(kNow);
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int64_t> offset(-kDay, kDay);
  for (uint64_t id = 0; id < 100; ++id) wheel.Schedule(id, kNow + offset(rng));
  std::vector<uint64_t> seen;
  const int64_t later = kNow + 2 * kDay;
  for (int call = 0; call < 14; ++call) {
    const std::vector<Item> got = AdvanceTo(wheel, later, 7);
    ASSERT_EQ(got.size(), 7u) << "call " << call;
    for (const Item& item : got) {
      EXPECT_LE(item.deadline_ms, later);
      seen.push_back(item.id);
    }
    EXPECT_EQ(wheel.size(), 100u - seen.size());
  }
  for (uint64_t id : Ids(AdvanceTo(wheel, later, 7))) seen.push_back(id);
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_TRUE(AdvanceTo(wheel, later, 7).empty());
  // Every id exactly once.
  std::sort(seen.begin(), seen.end());
  std::vector<uint64_t> all(100);
  for (uint64_t id = 0; id < 100; ++id) all[id] = id;
  EXPECT_EQ(seen, all);
}

TEST(TtlWheelTest, BudgetOfZeroDeliversNothingAndKeepsItems) {
  TtlWheel wheel(kNow);
  wheel.Schedule(1, kNow - 5);
  wheel.Schedule(2, kNow + kDay);
  EXPECT_TRUE(AdvanceTo(wheel, kNow + 2 * kDay, 0).empty());
  EXPECT_EQ(wheel.size(), 2u);
  // The hint says items are due: the expiry thread would come back at once.
  EXPECT_LE(wheel.NextDeadlineHint(), kNow + 2 * kDay);
  EXPECT_EQ(Ids(AdvanceTo(wheel, kNow + 2 * kDay)), (std::vector<uint64_t>{1, 2}));
}

TEST(TtlWheelTest, LeftoversDeliveredEvenIfTimeGoesBack) {
  TtlWheel wheel(kNow);
  for (uint64_t id = 0; id < 10; ++id) wheel.Schedule(id, kNow + 100 + static_cast<int64_t>(id));
  wheel.Schedule(99, kNow + 250);
  EXPECT_EQ(AdvanceTo(wheel, kNow + 200, 3).size(), 3u);
  // Due at kNow + 200 already, so a smaller now still delivers them, but not id 99.
  EXPECT_EQ(AdvanceTo(wheel, kNow + 50).size(), 7u);
  EXPECT_EQ(wheel.size(), 1u);
  // Scheduled at or before the wheel's time (kNow + 200): due whatever now is passed.
  wheel.Schedule(100, kNow + 150);
  EXPECT_EQ(Ids(AdvanceTo(wheel, kNow)), (std::vector<uint64_t>{100}));
  EXPECT_EQ(Ids(AdvanceTo(wheel, kNow + 250)), (std::vector<uint64_t>{99}));
}

TEST(TtlWheelTest, ScheduleFromCallbackIsSafe) {
  TtlWheel wheel(kNow);
  for (uint64_t id = 0; id < 200; ++id) wheel.Schedule(id, kNow + static_cast<int64_t>(id % 70));
  std::vector<uint64_t> seen;
  const size_t n = wheel.Advance(kNow + 100, kNoLimit, [&](const Item& item) {
    seen.push_back(item.id);
    if (item.id < 1000) {
      wheel.Schedule(item.id + 1000, kNow);          // due now: delivered in this call
      wheel.Schedule(item.id + 2000, kNow + kYear);  // far away: stays
    }
  });
  EXPECT_EQ(n, 400u);
  EXPECT_EQ(wheel.size(), 200u);
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::unique(seen.begin(), seen.end()), seen.end());
  EXPECT_EQ(seen.front(), 0u);
  EXPECT_EQ(seen.back(), 1199u);
}

TEST(TtlWheelTest, ClearFromCallbackStopsDelivery) {
  TtlWheel wheel(kNow);
  for (uint64_t id = 0; id < 50; ++id) wheel.Schedule(id, kNow - 1);
  const size_t n = wheel.Advance(kNow, kNoLimit, [&](const Item&) { wheel.Clear(); });
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(wheel.size(), 0u);
  EXPECT_EQ(wheel.MemoryBytes(), 0u);
}

TEST(TtlWheelTest, ClearDropsEverythingAndWheelStaysUsable) {
  TtlWheel wheel(kNow);
  for (uint64_t id = 0; id < 1000; ++id) {
    wheel.Schedule(id, kNow + static_cast<int64_t>(id) * 997 * kSecond);
  }
  EXPECT_GT(wheel.MemoryBytes(), 0u);
  wheel.Clear();
  EXPECT_EQ(wheel.size(), 0u);
  EXPECT_EQ(wheel.MemoryBytes(), 0u);
  EXPECT_EQ(wheel.NextDeadlineHint(), kMaxMs);
  EXPECT_TRUE(AdvanceTo(wheel, kNow + kDay).empty());
  wheel.Schedule(5000, kNow + kDay + 10);
  EXPECT_TRUE(AdvanceTo(wheel, kNow + kDay + 9).empty());
  EXPECT_EQ(Ids(AdvanceTo(wheel, kNow + kDay + 10)), (std::vector<uint64_t>{5000}));
}

TEST(TtlWheelTest, MemoryBytesTracksItemsAndReturnsToZero) {
  TtlWheel wheel(kNow);
  ASSERT_EQ(wheel.MemoryBytes(), 0u);
  wheel.Schedule(1, kNow + 10);
  EXPECT_GE(wheel.MemoryBytes(), sizeof(Item));
  const size_t one = wheel.MemoryBytes();

  std::mt19937_64 rng(3);
  std::uniform_int_distribution<int64_t> offset(1, 3600 * kSecond);
  constexpr size_t kItems = 100'000;
  size_t last = one;
  for (uint64_t id = 2; id <= kItems; ++id) {
    wheel.Schedule(id, kNow + offset(rng));
    ASSERT_GE(wheel.MemoryBytes(), last);  // scheduling never shrinks
    last = wheel.MemoryBytes();
  }
  const size_t full = wheel.MemoryBytes();
  // Vectors hold at least their items, and doubling wastes at most half, plus a few levels.
  EXPECT_GE(full, kItems * sizeof(Item));
  EXPECT_LE(full, 2 * kItems * sizeof(Item) + 4 * 2048 +
                      TtlWheel::kLevels * TtlWheel::kSlots * sizeof(Item));
  std::cout << "MemoryBytes: one item " << one << ", " << kItems << " items over an hour " << full
            << " (" << static_cast<double>(full) / kItems << " per item)" << std::endl;

  EXPECT_EQ(AdvanceTo(wheel, kNow + 1800 * kSecond, kItems / 2).size(), kItems / 2);
  EXPECT_LT(wheel.MemoryBytes(), full);
  AdvanceTo(wheel, kNow + 3600 * kSecond);
  EXPECT_EQ(wheel.size(), 0u);
  EXPECT_EQ(wheel.MemoryBytes(), 0u);
}

TEST(TtlWheelTest, MoveKeepsItems) {
  TtlWheel wheel(kNow);
  wheel.Schedule(1, kNow + kDay);
  TtlWheel moved = std::move(wheel);
  EXPECT_EQ(moved.size(), 1u);
  EXPECT_GT(moved.MemoryBytes(), 0u);
  EXPECT_EQ(Ids(AdvanceTo(moved, kNow + kDay)), (std::vector<uint64_t>{1}));
  // The moved-from wheel is documented to be empty and usable.
  EXPECT_EQ(wheel.size(), 0u);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(wheel.MemoryBytes(), 0u);
  wheel.Schedule(2, kNow + 1);
  EXPECT_EQ(Ids(AdvanceTo(wheel, kNow + 1)), (std::vector<uint64_t>{2}));
  wheel = std::move(moved);
  EXPECT_TRUE(wheel.empty());
}

// Picks a deadline around `now` at one of many scales, so every level, the past, the present
// and the int64 extremes all get exercised.
int64_t RandomDeadline(std::mt19937_64& rng, int64_t now, int64_t tick) {
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  auto clamp_add = [](int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) return b > 0 ? kMaxMs : kMinMs;
    return r;
  };
  switch (uniform(0, 9)) {
    case 0:
      return clamp_add(now, -uniform(0, kDay));
    case 1:
      return now;
    case 2:
      return clamp_add(now, uniform(1, 64 * tick));
    case 3:
      return clamp_add(now, uniform(1, 4096 * tick));
    case 4:
      return clamp_add(now, uniform(1, 300'000 * tick));
    case 5:
      return clamp_add(now, uniform(1, 30 * kDay));
    case 6:
      return clamp_add(now, uniform(1, 10 * kYear));
    case 7:
      return clamp_add(now, uniform(1, int64_t{1} << uniform(40, 62)));
    case 8:
      return uniform(0, 1) ? kMaxMs - uniform(0, 100) : kMinMs + uniform(0, 100);
    default:
      return clamp_add(now, uniform(-64 * tick, 64 * tick));
  }
}

// Whether an item with `deadline` must have been delivered by a complete Advance at `now`:
// its deadline rounded up to a tick boundary has been reached (INT64_MAX reaches everything).
bool DueAt(int64_t deadline, int64_t now, int64_t tick) {
  if (now == kMaxMs) return true;
  const int64_t due_tick = deadline / tick + (deadline % tick > 0 ? 1 : 0);
  const int64_t now_tick = now / tick - (now % tick < 0 ? 1 : 0);
  return due_tick <= now_tick;
}

// Random schedules and advances with random budgets, checked against a sorted set of
// (deadline, id): every item is delivered exactly once, never before its deadline, and, when
// the budget was not spent, nothing a full tick overdue is left behind.
void RunDifferential(uint64_t seed, int64_t start, int64_t tick) {
  SCOPED_TRACE(testing::Message() << "seed=" << seed << " start=" << start << " tick=" << tick);
  std::mt19937_64 rng(seed);
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  TtlWheel wheel(start, tick);
  std::set<std::pair<int64_t, uint64_t>> model;  // items not yet delivered
  int64_t wheel_time = start;                    // the largest now passed so far
  uint64_t next_id = 1;
  size_t total_delivered = 0;
  bool complete = true;  // the last Advance did not run out of budget

  for (int op = 0; op < 20'000; ++op) {
    if (uniform(0, 9) < 6) {
      // Ids are unique here so a duplicate delivery is detectable; scramble them so that
      // their order carries no information.
      const uint64_t id = next_id++ * 0x9E3779B97F4A7C15ull;
      const int64_t deadline = RandomDeadline(rng, wheel_time, tick);
      wheel.Schedule(id, deadline);
      model.emplace(deadline, id);
    } else {
      int64_t now = wheel_time;
      const int64_t step_kind = uniform(0, 5);
      if (step_kind == 1) now += uniform(1, 100);
      if (step_kind == 2) now += uniform(1, 100'000);
      if (step_kind == 3) now += uniform(1, 10 * kDay);
      if (step_kind == 4) now -= uniform(1, 5000);  // a clock step backwards
      if (step_kind == 5) now += uniform(0, 3 * tick);
      const int64_t budget_kind = uniform(0, 3);
      size_t budget = kNoLimit;
      if (budget_kind == 0) budget = 0;
      if (budget_kind == 1) budget = 1;
      if (budget_kind == 2) budget = static_cast<size_t>(uniform(2, 20));
      wheel_time = std::max(wheel_time, now);
      size_t calls = 0;
      const size_t n = wheel.Advance(now, budget, [&](const Item& item) {
        ++calls;
        const auto it = model.find({item.deadline_ms, item.id});
        ASSERT_NE(it, model.end()) << "unknown or duplicate id " << item.id;
        EXPECT_LE(item.deadline_ms, wheel_time) << "delivered early";
        model.erase(it);
      });
      if (testing::Test::HasFatalFailure()) return;
      ASSERT_EQ(n, calls);
      ASSERT_LE(n, budget);
      total_delivered += n;
      complete = n < budget;
      if (complete && !model.empty()) {
        // Nothing may be left that is a whole tick overdue (exactly due, for a 1 ms tick).
        const int64_t earliest = model.begin()->first;
        ASSERT_GT(earliest, wheel_time - (tick - 1)) << "left behind id " << model.begin()->second;
        ASSERT_FALSE(DueAt(earliest, wheel_time, tick)) << "left behind " << model.begin()->second;
      }
    }
    if (complete) {
      // Once an Advance has finished, the hint reaches the wheel's time exactly when some item
      // is due by tick arithmetic; a stale position would make an expiry thread spin.
      const bool any_due = !model.empty() && DueAt(model.begin()->first, wheel_time, tick);
      ASSERT_EQ(wheel.NextDeadlineHint() <= wheel_time, any_due);
    }
    ASSERT_EQ(wheel.size(), model.size());
    ASSERT_GE(wheel.MemoryBytes(), wheel.size() * sizeof(Item));
    if (model.empty()) {
      ASSERT_EQ(wheel.MemoryBytes(), 0u);
    } else {
      // The hint is a lower bound on the next delivery: never past the earliest item's tick,
      // or the wheel's time for an item scheduled already due.
      const int64_t earliest = model.begin()->first;
      const int64_t due_by = earliest > kMaxMs - tick ? kMaxMs : earliest + tick - 1;
      ASSERT_LE(wheel.NextDeadlineHint(), std::max(due_by, wheel_time));
    }
  }
  const size_t rest = AdvanceTo(wheel, kMaxMs).size();
  EXPECT_EQ(rest, model.size());
  EXPECT_EQ(wheel.size(), 0u);
  EXPECT_EQ(wheel.MemoryBytes(), 0u);
  std::cout << "tick=" << tick << " start=" << start << ": " << next_id - 1 << " scheduled, "
            << total_delivered + rest << " delivered" << std::endl;
}

TEST(TtlWheelTest, RandomizedAgainstSortedSetModel) {
  const uint64_t seed = SeedFromEnv();
  uint64_t run = 0;
  for (int64_t tick : {1, 7, 1000}) {
    for (int64_t start : {kNow, int64_t{-123'456}, kMaxMs / 2}) {
      RunDifferential(seed + run++, start, tick);
      if (HasFatalFailure()) return;
    }
  }
}

}  // namespace
}  // namespace mirrorkv::internal
