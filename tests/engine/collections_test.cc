// Lists, sets, hashes and sorted sets against simple reference models under random
// operations (seeded: MIRRORKV_TEST_SEED replays a run), plus the rules every type
// shares: WRONGTYPE, deletion of emptied keys, TTLs, memory accounting and effects.
#include "mirrorkv/collections.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine/base/numbers.h"
#include "engine/store_impl.h"
#include "mirrorkv/clock.h"
#include "mirrorkv/mutation.h"
#include "mirrorkv/store.h"
#include "tests/recording_listener.h"
#include "tests/store_util.h"
#include "tests/test_seed.h"

namespace mirrorkv {
namespace {

// A small Store whose keys expire only when read (the tests move the clock).
std::unique_ptr<Store> OpenStore(const Clock* clock = nullptr,
                                 MutationListener* listener = nullptr) {
  StoreOptions options;
  options.stripe_count = 4;
  options.active_expiry_interval = std::chrono::milliseconds(0);
  options.clock = clock;
  options.listener = listener;
  return testutil::OpenStore(options);
}

std::vector<std::string> ListOf(Store& store, const std::string& key) {
  std::vector<std::string> items;
  EXPECT_TRUE(
      Lists(store).Range(key, 0, -1, [&](const Element& e) { items.emplace_back(e.member); }).ok());
  return items;
}

TEST(CollectionsModelTest, ListMatchesADequeUnderRandomOperations) {
  std::mt19937_64 rng(testutil::TestSeed(11));
  auto store = OpenStore();
  Lists lists(*store);
  std::deque<std::string> model;
  for (int step = 0; step < 20000; ++step) {
    std::string v = std::to_string(rng() % 8);
    int64_t i = static_cast<int64_t>(rng() % 12) - 6;
    int64_t j = static_cast<int64_t>(rng() % 12) - 6;
    switch (rng() % 8) {
      case 0:
      case 1: {
        const std::string_view values[] = {v};
        bool left = rng() % 2;
        ASSERT_EQ(*lists.Push("l", left ? ListEnd::kLeft : ListEnd::kRight, values),
                  model.size() + 1);
        if (left) {
          model.push_front(v);
        } else {
          model.push_back(v);
        }
        break;
      }
      case 2: {
        size_t count = rng() % 3;
        bool left = rng() % 2;
        std::vector<std::string> popped;
        bool found = *lists.Pop("l", left ? ListEnd::kLeft : ListEnd::kRight, count,
                                [&](const Element& e) { popped.emplace_back(e.member); });
        ASSERT_EQ(found, !model.empty());
        for (size_t n = 0; n < count && !model.empty(); ++n) {
          ASSERT_EQ(popped[n], left ? model.front() : model.back());
          left ? model.pop_front() : model.pop_back();
        }
        break;
      }
      case 3: {
        int64_t n = static_cast<int64_t>(model.size());
        int64_t at = i < 0 ? i + n : i;
        Status set = lists.SetAt("l", i, v);
        if (model.empty()) {
          ASSERT_TRUE(set.IsNotFound());
        } else if (at < 0 || at >= n) {
          ASSERT_EQ(set.code(), StatusCode::kInvalidArgument);
        } else {
          ASSERT_TRUE(set.ok());
          model[static_cast<size_t>(at)] = v;
        }
        break;
      }
      case 4: {
        int64_t count = static_cast<int64_t>(rng() % 5) - 2;
        size_t removed = 0;
        size_t limit = count == 0 ? model.size() : static_cast<size_t>(std::abs(count));
        if (count >= 0) {
          for (auto it = model.begin(); it != model.end() && removed < limit;) {
            if (*it == v) {
              it = model.erase(it);
              ++removed;
            } else {
              ++it;
            }
          }
        } else {
          for (size_t k = model.size(); k-- > 0 && removed < limit;) {
            if (model[k] == v) {
              model.erase(model.begin() + static_cast<ptrdiff_t>(k));
              ++removed;
            }
          }
        }
        ASSERT_EQ(*lists.Remove("l", count, v), removed);
        break;
      }
      case 5: {
        ASSERT_TRUE(lists.Trim("l", i, j + 6).ok());
        int64_t n = static_cast<int64_t>(model.size());
        int64_t start = i < 0 ? i + n : i, stop = j + 6 < 0 ? j + 6 + n : j + 6;
        start = std::max<int64_t>(start, 0);
        std::deque<std::string> kept;
        for (int64_t k = start; k <= std::min(stop, n - 1); ++k) kept.push_back(model[k]);
        model = kept;
        break;
      }
      case 6: {
        std::string pivot = std::to_string(rng() % 8);
        bool after = rng() % 2;
        auto it = std::find(model.begin(), model.end(), pivot);
        int64_t expected = model.empty() ? 0 : it == model.end() ? -1 : model.size() + 1;
        ASSERT_EQ(*lists.Insert("l", after, pivot, v), expected);
        if (expected > 0) model.insert(after ? it + 1 : it, v);
        break;
      }
      default: {
        std::vector<std::string> got;
        ASSERT_TRUE(lists
                        .Range("l", i, j,
                               [&](const Element& e) {
                                 EXPECT_EQ(e.index, got.size());
                                 got.emplace_back(e.member);
                               })
                        .ok());
        int64_t n = static_cast<int64_t>(model.size());
        int64_t start = std::max<int64_t>(i < 0 ? i + n : i, 0);
        int64_t stop = std::min<int64_t>(j < 0 ? j + n : j, n - 1);
        std::vector<std::string> want;
        for (int64_t k = start; k <= stop; ++k) want.push_back(model[k]);
        ASSERT_EQ(got, want);
      }
    }
    ASSERT_EQ(*lists.Length("l"), model.size());
    ASSERT_EQ(TypeOf(*store, "l"), model.empty() ? KeyType::kNone : KeyType::kList);
  }
  EXPECT_EQ(ListOf(*store, "l"), std::vector<std::string>(model.begin(), model.end()));
}

TEST(CollectionsModelTest, SetHashAndSortedSetMatchTheirModels) {
  std::mt19937_64 rng(testutil::TestSeed(12));
  auto store = OpenStore();
  Sets sets(*store);
  Hashes hashes(*store);
  SortedSets zsets(*store);
  std::set<std::string> set_model;
  std::map<std::string, std::string> hash_model;
  std::map<std::string, double> zset_model;
  for (int step = 0; step < 20000; ++step) {
    std::string m = "m" + std::to_string(rng() % 30);
    const std::string_view one[] = {m};
    switch (rng() % 9) {
      case 0:
        ASSERT_EQ(*sets.Add("s", one), set_model.insert(m).second ? 1u : 0u);
        break;
      case 1:
        ASSERT_EQ(*sets.Remove("s", one), set_model.erase(m));
        break;
      case 2: {
        size_t count = rng() % 3;
        const bool existed = !set_model.empty();
        const size_t before = set_model.size();
        ASSERT_EQ(*sets.Pop("s", count,
                            [&](const Element& e) {
                              ASSERT_EQ(set_model.erase(std::string(e.member)), 1u);
                            }),
                  existed);
        ASSERT_EQ(before - set_model.size(), std::min(count, before));
        break;
      }
      case 3: {
        std::string v = std::to_string(rng());
        const std::pair<std::string_view, std::string_view> pair{m, v};
        bool fresh = !hash_model.count(m);
        ASSERT_EQ(*hashes.Set("h", {&pair, 1}), fresh ? 1u : 0u);
        hash_model[m] = v;
        break;
      }
      case 4:
        ASSERT_EQ(*hashes.Remove("h", one), hash_model.erase(m));
        break;
      case 5: {
        int64_t current = 0;
        if (hash_model.count(m) && !internal::ParseInt64(hash_model[m], &current)) {
          ASSERT_FALSE(hashes.IncrBy("h", m, 2).ok());
        } else {
          ASSERT_EQ(*hashes.IncrBy("h", m, 2), current + 2);
          hash_model[m] = std::to_string(current + 2);
        }
        break;
      }
      case 6: {
        double score = static_cast<double>(rng() % 7) - 3;
        bool incr = rng() % 2;
        const std::pair<double, std::string_view> pair{score, m};
        SortedSetAddResult r = *zsets.Add("z", {&pair, 1}, {.incr = incr});
        bool fresh = !zset_model.count(m);
        ASSERT_EQ(r.added, fresh ? 1u : 0u);
        zset_model[m] = incr && !fresh ? zset_model[m] + score : score;
        if (incr) {
          ASSERT_EQ(*r.score, zset_model[m]);
        }
        break;
      }
      case 7: {
        bool max = rng() % 2;
        size_t count = rng() % 3;
        std::vector<std::pair<double, std::string>> order;
        for (const auto& [member, score] : zset_model) order.push_back({score, member});
        std::sort(order.begin(), order.end());
        if (max) std::reverse(order.begin(), order.end());
        size_t i = 0;
        ASSERT_TRUE(zsets
                        .Pop("z", count, max,
                             [&](const Element& e) {
                               ASSERT_EQ(std::string(e.member), order[i].second);
                               ASSERT_EQ(e.score, order[i].first);
                               zset_model.erase(order[i++].second);
                             })
                        .ok());
        ASSERT_EQ(i, std::min(count, order.size()));
        break;
      }
      default: {
        std::vector<std::pair<double, std::string>> order;
        for (const auto& [member, score] : zset_model) order.push_back({score, member});
        std::sort(order.begin(), order.end());
        std::vector<std::pair<double, std::string>> got;
        ASSERT_TRUE(zsets
                        .RangeByRank("z", 0, -1, false,
                                     [&](const Element& e) {
                                       got.push_back({e.score, std::string(e.member)});
                                     })
                        .ok());
        ASSERT_EQ(got, order);
        if (zset_model.count(m)) {
          size_t rank = std::find(order.begin(), order.end(), std::make_pair(zset_model[m], m)) -
                        order.begin();
          ASSERT_EQ(*zsets.Rank("z", m, false), rank);
          ASSERT_EQ(*zsets.Rank("z", m, true), order.size() - 1 - rank);
        }
      }
    }
    ASSERT_EQ(*sets.Size("s"), set_model.size());
    ASSERT_EQ(*hashes.Length("h"), hash_model.size());
    ASSERT_EQ(*zsets.Size("z"), zset_model.size());
    ASSERT_EQ(*sets.Contains("s", m), set_model.count(m) == 1);
  }
}

// Score and lex ranges (reads, counts, LIMIT, REV, removals) against a brute-force
// filter of a sorted model, with random bounds over small integer scores (many ties).
TEST(CollectionsModelTest, SortedSetRangesMatchAFilteredModel) {
  const uint64_t seed = testutil::TestSeed(16);
  std::mt19937_64 rng(seed);
  auto store = OpenStore();
  SortedSets zsets(*store);
  using Pair = std::pair<double, std::string>;
  std::set<Pair> model;
  auto sorted = [&] { return std::vector<Pair>(model.begin(), model.end()); };
  auto score_in = [](const ScoreRange& r, double s) {
    return (r.min_exclusive ? s > r.min : s >= r.min) && (r.max_exclusive ? s < r.max : s <= r.max);
  };
  auto lex_in = [](const LexRange& r, const std::string& m) {
    auto above_min = [&] {
      switch (r.min.kind) {
        case LexBound::Kind::kMinusInfinity:
          return true;
        case LexBound::Kind::kPlusInfinity:
          return false;
        case LexBound::Kind::kInclusive:
          return m >= r.min.value;
        case LexBound::Kind::kExclusive:
          return m > r.min.value;
      }
      return false;
    };
    auto below_max = [&] {
      switch (r.max.kind) {
        case LexBound::Kind::kMinusInfinity:
          return false;
        case LexBound::Kind::kPlusInfinity:
          return true;
        case LexBound::Kind::kInclusive:
          return m <= r.max.value;
        case LexBound::Kind::kExclusive:
          return m < r.max.value;
      }
      return false;
    };
    return above_min() && below_max();
  };
  auto apply_limit = [](std::vector<Pair> all, bool reverse, RangeLimit limit) {
    if (reverse) std::reverse(all.begin(), all.end());
    std::vector<Pair> out;
    if (limit.offset < 0) return out;
    for (size_t i = static_cast<size_t>(limit.offset); i < all.size(); ++i) {
      if (limit.count >= 0 && out.size() == static_cast<size_t>(limit.count)) break;
      out.push_back(all[i]);
    }
    return out;
  };
  auto collect = [](std::vector<Pair>* out) {
    return [out](const Element& e) {
      ASSERT_EQ(e.index, out->size());
      out->push_back({e.score, std::string(e.member)});
    };
  };
  const std::string bounds[] = {"a", "b", "c", "d", "e"};
  for (int step = 0; step < 5000; ++step) {
    // Lex steps use score 0 only (lex ranges assume equal scores).
    const bool lex = rng() % 2;
    std::string key = lex ? "lex" : "z";
    if (rng() % 3 == 0) {
      std::string m = std::string(1, static_cast<char>('a' + rng() % 5)) + (rng() % 2 ? "x" : "");
      double score = lex ? 0 : static_cast<double>(rng() % 5);
      const std::pair<double, std::string_view> pair{score, m};
      ASSERT_TRUE(zsets.Add(key, {&pair, 1}).ok());
      continue;
    }
    // The model holds one key at a time: rebuild it from the store's content.
    model.clear();
    ASSERT_TRUE(zsets
                    .RangeByRank(key, 0, -1, false,
                                 [&](const Element& e) {
                                   model.insert({e.score, std::string(e.member)});
                                 })
                    .ok());
    const bool reverse = rng() % 2;
    RangeLimit limit;
    if (rng() % 2)
      limit = {static_cast<int64_t>(rng() % 4) - 1, static_cast<int64_t>(rng() % 5) - 1};
    std::vector<Pair> expected;
    std::vector<Pair> got;
    const bool remove = rng() % 4 == 0;
    if (!lex) {
      ScoreRange range{static_cast<double>(rng() % 7) - 1, static_cast<double>(rng() % 7) - 1,
                       rng() % 2 == 0, rng() % 2 == 0};
      for (const Pair& p : sorted()) {
        if (score_in(range, p.first)) expected.push_back(p);
      }
      ASSERT_EQ(*zsets.CountByScore(key, range), expected.size()) << "seed " << seed;
      if (remove) {
        ASSERT_EQ(*zsets.RemoveRangeByScore(key, range), expected.size()) << "seed " << seed;
        for (const Pair& p : expected) model.erase(p);
      } else {
        ASSERT_TRUE(zsets.RangeByScore(key, range, reverse, limit, collect(&got)).ok());
        ASSERT_EQ(got, apply_limit(expected, reverse, limit)) << "seed " << seed;
      }
    } else {
      auto random_bound = [&] {
        LexBound b;
        b.kind = static_cast<LexBound::Kind>(rng() % 4);
        b.value = bounds[rng() % 5];
        return b;
      };
      LexRange range{random_bound(), random_bound()};
      for (const Pair& p : sorted()) {
        if (lex_in(range, p.second)) expected.push_back(p);
      }
      ASSERT_EQ(*zsets.CountByLex(key, range), expected.size()) << "seed " << seed;
      if (remove) {
        ASSERT_EQ(*zsets.RemoveRangeByLex(key, range), expected.size()) << "seed " << seed;
        for (const Pair& p : expected) model.erase(p);
      } else {
        ASSERT_TRUE(zsets.RangeByLex(key, range, reverse, limit, collect(&got)).ok());
        ASSERT_EQ(got, apply_limit(expected, reverse, limit)) << "seed " << seed;
      }
    }
    if (!remove && rng() % 8 == 0) {
      int64_t start = static_cast<int64_t>(rng() % 8) - 4;
      int64_t stop = static_cast<int64_t>(rng() % 8) - 4;
      std::vector<Pair> all = sorted();
      const int64_t size = static_cast<int64_t>(all.size());
      int64_t a = start < 0 ? std::max<int64_t>(start + size, 0) : start;
      int64_t b = std::min(stop < 0 ? stop + size : stop, size - 1);
      for (int64_t i = b; i >= a && i < size; --i) model.erase(all[static_cast<size_t>(i)]);
      ASSERT_EQ(*zsets.RemoveRangeByRank(key, start, stop), all.size() - model.size())
          << "seed " << seed;
    }
    ASSERT_EQ(*zsets.Size(key), model.size()) << "seed " << seed;
  }
}

TEST(CollectionsTest, ListPositionsFollowRankCountAndMaxLen) {
  auto store = OpenStore();
  Lists lists(*store);
  const std::string_view items[] = {"a", "b", "c", "b", "a", "b"};
  ASSERT_TRUE(lists.Push("l", ListEnd::kRight, items).ok());
  using V = std::vector<size_t>;
  EXPECT_EQ(*lists.Positions("l", "b", 1, 1, 0), V({1}));
  EXPECT_EQ(*lists.Positions("l", "b", 2, 0, 0), V({3, 5}));
  EXPECT_EQ(*lists.Positions("l", "b", -1, 0, 0), V({5, 3, 1}));
  EXPECT_EQ(*lists.Positions("l", "b", -2, 1, 0), V({3}));
  EXPECT_EQ(*lists.Positions("l", "b", 1, 0, 4), V({1, 3}));
  EXPECT_EQ(*lists.Positions("l", "b", -1, 0, 2), V({5}));
  EXPECT_EQ(*lists.Positions("l", "b", 4, 0, 0), V());
  EXPECT_EQ(*lists.Positions("l", "z", 1, 0, 0), V());
  EXPECT_EQ(*lists.Positions("missing", "b", 1, 0, 0), V());
}

TEST(CollectionsTest, RandomMembersAndFieldsAreDistinctOrRepeatedByTheCountsSign) {
  auto store = OpenStore();
  Sets sets(*store);
  Hashes hashes(*store);
  const std::string_view members[] = {"a", "b", "c", "d"};
  ASSERT_TRUE(sets.Add("s", members).ok());
  const std::pair<std::string_view, std::string_view> fields[] = {{"f", "1"}, {"g", "2"}};
  ASSERT_TRUE(hashes.Set("h", fields).ok());
  std::vector<std::string> got;
  auto collect = [&](const Element& e) { got.emplace_back(e.member); };
  ASSERT_TRUE(*sets.RandomMembers("s", 3, collect));
  EXPECT_EQ(got.size(), 3u);
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()).size(), 3u);
  got.clear();
  ASSERT_TRUE(*sets.RandomMembers("s", 10, collect));
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()),
            std::set<std::string>({"a", "b", "c", "d"}));
  got.clear();
  ASSERT_TRUE(*sets.RandomMembers("s", -10, collect));
  EXPECT_EQ(got.size(), 10u);
  got.clear();
  ASSERT_FALSE(*sets.RandomMembers("missing", 3, collect));
  EXPECT_TRUE(got.empty());
  std::map<std::string, std::string> pairs;
  ASSERT_TRUE(*hashes.RandomFields(
      "h", -5, [&](const Element& e) { pairs[std::string(e.member)] = std::string(e.value); }));
  for (const auto& [field, value] : pairs) EXPECT_EQ(value, field == "f" ? "1" : "2");
  EXPECT_EQ(*sets.Size("s"), 4u);  // nothing removed
}

TEST(CollectionsTest, RandomSortedSetMembersCarryTheirScores) {
  auto store = OpenStore();
  SortedSets zsets(*store);
  const std::pair<double, std::string_view> pairs[] = {{1, "a"}, {2.5, "b"}, {-3, "c"}};
  ASSERT_TRUE(zsets.Add("z", pairs).ok());
  const std::map<std::string, double> expected = {{"a", 1}, {"b", 2.5}, {"c", -3}};
  std::map<std::string, double> distinct;
  size_t passed = 0;
  auto collect = [&](const Element& e) {
    ++passed;
    distinct[std::string(e.member)] = e.score;
  };
  ASSERT_TRUE(*zsets.RandomMembers("z", 2, collect));
  EXPECT_EQ(passed, 2u);
  EXPECT_EQ(distinct.size(), 2u);
  for (const auto& [member, score] : distinct) EXPECT_EQ(score, expected.at(member));
  distinct.clear();
  ASSERT_TRUE(*zsets.RandomMembers("z", 10, collect));
  EXPECT_EQ(distinct, expected);
  passed = 0;
  std::map<std::string, double> repeated;
  ASSERT_TRUE(*zsets.RandomMembers("z", -7, [&](const Element& e) {
    ++passed;
    EXPECT_EQ(e.count, 7u);
    repeated[std::string(e.member)] = e.score;
  }));
  EXPECT_EQ(passed, 7u);
  for (const auto& [member, score] : repeated) EXPECT_EQ(score, expected.at(member));
  ASSERT_FALSE(*zsets.RandomMembers("missing", 3, collect));
  EXPECT_EQ(*zsets.Size("z"), 3u);  // nothing removed
}

TEST(CollectionsTest, HashIncrByFloatStoresAndLogsTheFormattedResult) {
  testutil::RecordingListener log;
  auto store = OpenStore(nullptr, &log);
  Hashes hashes(*store);
  EXPECT_EQ(*hashes.IncrByFloat("h", "f", 10.5L), "10.5");
  EXPECT_EQ(*hashes.IncrByFloat("h", "f", 0.1L), "10.6");
  EXPECT_EQ(*hashes.IncrByFloat("h", "e", 5.0e3L), "5000");
  EXPECT_EQ(*hashes.Get("h", "f"), "10.6");
  EXPECT_EQ(log.TakeDescribed().back(), "HSET h e 5000");
  const std::pair<std::string_view, std::string_view> text{"t", "abc"};
  ASSERT_TRUE(hashes.Set("h", {&text, 1}).ok());
  EXPECT_EQ(hashes.IncrByFloat("h", "t", 1).status().message(), "hash value is not a float");
  const std::pair<std::string_view, std::string_view> big{"b", "1e4932"};
  ASSERT_TRUE(hashes.Set("h", {&big, 1}).ok());
  EXPECT_EQ(hashes.IncrByFloat("h", "b", 1e4932L).status().message(),
            "increment would produce NaN or Infinity");
  EXPECT_EQ(*hashes.Get("h", "b"), "1e4932");
}

TEST(CollectionsTest, WrongTypeLeavesTheKeyAsItWas) {
  auto store = OpenStore();
  ASSERT_TRUE(store->Set("str", "v").ok());
  const std::string_view one[] = {"x"};
  Result<size_t> pushed = Lists(*store).Push("str", ListEnd::kLeft, one);
  ASSERT_EQ(pushed.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(pushed.status().message(), kWrongTypeMessage);
  ASSERT_TRUE(Sets(*store).Add("set", one).ok());
  EXPECT_EQ(store->IncrBy("set", 1).status().message(), kWrongTypeMessage);
  EXPECT_EQ(store->GetDel("set").status().message(), kWrongTypeMessage);
  EXPECT_FALSE(store->Read("set", [](std::string_view) {}));
  EXPECT_TRUE(store->Exists("set"));
  EXPECT_EQ(Hashes(*store).Length("set").status().message(), kWrongTypeMessage);
  EXPECT_EQ(*store->Get("str"), "v");
  EXPECT_EQ(TypeOf(*store, "set"), KeyType::kSet);
  // A SET replaces a collection whole.
  ASSERT_TRUE(store->Set("set", "now a string").ok());
  EXPECT_EQ(TypeOf(*store, "set"), KeyType::kString);
}

TEST(CollectionsTest, EmptiedKeysAreDeletedAndReportedAsDeletes) {
  testutil::RecordingListener log;
  auto store = OpenStore(nullptr, &log);
  const std::string_view items[] = {"a", "b"};
  ASSERT_EQ(*Lists(*store).Push("l", ListEnd::kRight, items), 2u);
  ASSERT_TRUE(Lists(*store).Pop("l", ListEnd::kLeft, 1, [](const Element&) {}).ok());
  ASSERT_TRUE(Lists(*store).Pop("l", ListEnd::kLeft, 5, [](const Element&) {}).ok());
  EXPECT_FALSE(store->Exists("l"));
  const std::pair<double, std::string_view> pair{1.5, "m"};
  ASSERT_TRUE(SortedSets(*store).Add("z", {&pair, 1}, {.incr = true}).ok());
  ASSERT_TRUE(SortedSets(*store).Add("z", {&pair, 1}, {.incr = true}).ok());
  EXPECT_EQ(log.TakeDescribed(), (std::vector<std::string>{"RPUSH l a b", "LPOP l 1", "del l",
                                                           "ZADD z 1.5 m", "ZADD z 3 m"}));
}

TEST(CollectionsTest, MemoryIsAccountedAndReturned) {
  auto store = OpenStore();
  const uint64_t empty = store->stats().memory_used;
  std::vector<std::string> values(1000, std::string(100, 'x'));
  std::vector<std::string_view> views(values.begin(), values.end());
  ASSERT_TRUE(Lists(*store).Push("l", ListEnd::kRight, views).ok());
  EXPECT_GT(store->stats().memory_used, empty + 100 * 1000);
  ASSERT_TRUE(*store->Del("l"));
  EXPECT_EQ(store->stats().memory_used, empty);
  ASSERT_TRUE(Sets(*store).Add("s", views).ok());
  ASSERT_TRUE(store->Set("s", "x").ok());
  ASSERT_TRUE(*store->Del("s"));
  EXPECT_EQ(store->stats().memory_used, empty);
}

TEST(CollectionsTest, CollectionsExpireAndAreEvictedLikeStrings) {
  ManualClock clock;
  auto store = OpenStore(&clock);
  const std::string_view one[] = {"x"};
  ASSERT_TRUE(Sets(*store).Add("s", one).ok());
  ASSERT_TRUE(*store->Expire("s", Expiry::After(std::chrono::milliseconds(100))));
  ASSERT_TRUE(Sets(*store).Add("s", one).ok());  // a write keeps the deadline
  EXPECT_GT(store->Ttl("s"), 0);
  clock.Advance(101);
  EXPECT_EQ(*Sets(*store).Size("s"), 0u);
  EXPECT_EQ(TypeOf(*store, "s"), KeyType::kNone);

  store->SetEvictionPolicy(EvictionPolicy::kAllKeysRandom);
  std::vector<std::string> values(200, std::string(100, 'y'));
  std::vector<std::string_view> views(values.begin(), values.end());
  ASSERT_TRUE(Lists(*store).Push("big", ListEnd::kRight, views).ok());
  store->SetMaxMemory(store->stats().memory_used + 1000);
  ASSERT_TRUE(store->Set("other", std::string(2000, 'z')).ok());
  EXPECT_FALSE(store->Exists("big"));  // evicted whole to make room
}

}  // namespace
}  // namespace mirrorkv
