// Concurrency tests for Store, meant to run under ThreadSanitizer as well:
//  - a randomized stress test with one writer per key, checked against exact per-key
//    models, and readers checking that every value they read was written for that key
//    and that reads of a key never go back in time;
//  - MultiSet's atomicity as the MutationListener sees it (one batch, at one point of
//    every key's order), and the property replication depends on: replaying the
//    listener's stream onto a map gives the Store's content, under concurrent writers,
//    FlushAll, expiry and eviction;
//  - SCAN returning every key present throughout while other keys make stripes grow and
//    shrink, concurrently and step by step;
//  - the expiry thread reclaiming every key and its memory;
//  - switching the eviction policy while writers run.
// Set MIRRORKV_TEST_SEED to replay a randomized run (thread interleavings still vary).

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/striped_table.h"
#include "gtest/gtest.h"
#include "mirrorkv/clock.h"
#include "mirrorkv/mutation.h"
#include "mirrorkv/options.h"
#include "mirrorkv/store.h"
#include "tests/recording_listener.h"
#include "tests/test_seed.h"

namespace mirrorkv {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

// ThreadSanitizer slows the engine down 5-15 times: sizes shrink so that each test stays
// within a few seconds on two cores.
#if defined(__SANITIZE_THREAD__) || defined(MIRRORKV_SANITIZE_THREAD)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
constexpr size_t Scaled(size_t normal, size_t sanitized) { return kSanitized ? sanitized : normal; }

uint64_t SeedFromEnv() { return testutil::TestSeed(0x636f'6e63'7572'7265); }  // "concurre"

std::string Key(std::string_view prefix, uint64_t i) {
  return std::string(prefix) + std::to_string(i);
}

size_t StripeOf(std::string_view key, size_t stripe_count) {
  if (stripe_count == 1) return 0;
  return static_cast<size_t>(internal::StripedTable::Hash(key) >>
                             (64 - std::countr_zero(stripe_count)));
}

// Collects failures from worker threads (gtest assertions only abort the thread's own
// function); the test thread checks count() == 0 and prints the first messages.
class Errors {
 public:
  void Add(std::string message) {
    std::lock_guard<std::mutex> lock(mu_);
    if (messages_.size() < 10) messages_.push_back(std::move(message));
    ++count_;
  }
  size_t count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return count_;
  }
  std::string Summary() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::string out;
    for (const std::string& m : messages_) out += "\n  " + m;
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> messages_;
  size_t count_ = 0;
};

// A key's state in a model: its value and deadline (0: none).
struct ModelValue {
  std::string value;
  int64_t deadline = 0;
  friend bool operator==(const ModelValue&, const ModelValue&) = default;
};
using Model = std::map<std::string, ModelValue>;

// The Store's live content, read with SCAN, GET and PEXPIRETIME. Only meaningful while
// no thread writes.
Model ReadContent(const Store& store) {
  std::set<std::string> keys;
  uint64_t cursor = 0;
  do {
    ScanPage page = store.Scan(cursor, {.count = 100});
    keys.insert(page.keys.begin(), page.keys.end());
    cursor = page.cursor;
  } while (cursor != 0);
  Model content;
  for (const std::string& key : keys) {
    auto value = store.Get(key);
    if (!value.ok()) continue;  // expired between Scan and Get
    int64_t deadline = store.ExpireTime(key);
    content[key] = {*value, deadline == kTtlNoExpiry ? 0 : deadline};
  }
  return content;
}

// Describes the first few differences between two models.
std::string Diff(const Model& expected, const Model& actual) {
  std::string out;
  int shown = 0;
  for (const auto& [key, value] : expected) {
    auto it = actual.find(key);
    if (it == actual.end()) {
      out += "\n  missing " + key + " = " + value.value;
    } else if (!(it->second == value)) {
      out += "\n  " + key + ": expected " + value.value + " @" + std::to_string(value.deadline) +
             ", got " + it->second.value + " @" + std::to_string(it->second.deadline);
    } else {
      continue;
    }
    if (++shown == 10) return out;
  }
  for (const auto& [key, value] : actual) {
    if (expected.count(key) == 0) {
      out += "\n  unexpected " + key + " = " + value.value;
      if (++shown == 10) return out;
    }
  }
  return out;
}

// Runs every function on its own thread and joins them all.
void RunThreads(std::vector<std::function<void()>> functions) {
  std::vector<std::thread> threads;
  threads.reserve(functions.size());
  for (auto& f : functions) threads.emplace_back(std::move(f));
  for (std::thread& t : threads) t.join();
}

// --- Per-key linearizability with one writer per key ------------------------------------

// Keys "s<w>:<i>" hold strings "<key>|<w>|<seq>"; keys "c<w>:<i>" hold counters whose
// value only grows: a Set writes seq << 20 (seq is above every earlier seq), an IncrBy
// adds at most 100 and also consumes a seq. Writer w owns the keys with its number.
constexpr int kLinWriters = 3;
constexpr int kStringKeys = 40;
constexpr int kCounterKeys = 6;

std::string StringKey(int w, int i) { return "s" + std::to_string(w) + ":" + std::to_string(i); }
std::string CounterKey(int w, int i) { return "c" + std::to_string(w) + ":" + std::to_string(i); }
int OwnerOf(std::string_view key) { return key[1] - '0'; }

struct ParsedValue {
  std::string key;
  int writer = -1;
  uint64_t seq = 0;
};

std::optional<ParsedValue> ParseStringValue(std::string_view v) {
  size_t a = v.find('|');
  size_t b = v.rfind('|');
  if (a == std::string_view::npos || a == b) return std::nullopt;
  ParsedValue p;
  p.key = std::string(v.substr(0, a));
  p.writer = std::atoi(std::string(v.substr(a + 1, b - a - 1)).c_str());
  p.seq = std::strtoull(std::string(v.substr(b + 1)).c_str(), nullptr, 10);
  return p;
}

class LinearizabilityRun {
 public:
  LinearizabilityRun(uint64_t seed, size_t ops_per_writer)
      : seed_(seed), ops_per_writer_(ops_per_writer) {
    StoreOptions options;
    options.stripe_count = 8;
    options.clock = &clock_;  // never moves: deadlines are exact and nothing expires
    options.active_expiry_interval = milliseconds(1);  // runs ExpireDue alongside
    store_ = std::move(*Store::Open(options));
  }

  void Run() {
    std::vector<std::function<void()>> threads;
    for (int w = 0; w < kLinWriters; ++w) threads.push_back([this, w] { Writer(w); });
    for (int r = 0; r < 2; ++r) threads.push_back([this, r] { Reader(r); });
    RunThreads(std::move(threads));
  }

  Model Expected() const {
    Model all;
    for (const Model& m : models_) all.insert(m.begin(), m.end());
    return all;
  }
  const Store& store() const { return *store_; }
  const Errors& errors() const { return errors_; }
  uint64_t reads_checked() const { return reads_checked_.load(); }

 private:
  void Writer(int w) {
    std::mt19937_64 rng(seed_ + 1000 * w);
    Model& model = models_[w];
    uint64_t seq = 0;
    auto next_seq = [&] {
      ++seq;
      // Published before the write: a reader that sees seq then finds issued >= seq.
      issued_[w].store(seq, std::memory_order_release);
      return seq;
    };
    auto string_value = [&](const std::string& key) {
      return key + "|" + std::to_string(w) + "|" + std::to_string(next_seq());
    };
    auto fail = [&](const std::string& what, const std::string& key) {
      errors_.Add("writer " + std::to_string(w) + ": " + what + " on " + key);
    };
    const int64_t now = clock_.NowMillis();
    for (size_t op = 0; op < ops_per_writer_; ++op) {
      const bool counter = rng() % 5 == 0;
      const std::string key =
          counter ? CounterKey(w, rng() % kCounterKeys) : StringKey(w, rng() % kStringKeys);
      auto it = model.find(key);
      const bool present = it != model.end();
      const int kind = static_cast<int>(rng() % 14);
      if (counter) {
        // Counters: IncrBy or an upward Set, and the deadline operations below.
        if (kind < 7) {
          if (present && rng() % 8 != 0) {
            int64_t delta = 1 + static_cast<int64_t>(rng() % 100);
            next_seq();
            int64_t expected = std::stoll(it->second.value) + delta;
            auto r = store_->IncrBy(key, delta);
            if (!r.ok() || *r != expected) fail("IncrBy returned " + r.status().ToString(), key);
            it->second.value = std::to_string(expected);
          } else {
            std::string v = std::to_string(next_seq() << 20);
            if (!store_->Set(key, v).ok()) fail("Set counter", key);
            model[key] = {v, 0};
          }
          continue;
        }
      }
      switch (kind) {
        case 0: {  // SET
          std::string v = string_value(key);
          if (!store_->Set(key, v).ok()) fail("Set", key);
          model[key] = {v, 0};
          break;
        }
        case 1: {  // SET PX
          std::string v = string_value(key);
          int64_t ttl = 1000 + static_cast<int64_t>(rng() % 1'000'000);
          auto r = store_->Set(key, v, {.expiry = Expiry::After(milliseconds(ttl))});
          if (!r.ok() || !*r) fail("Set PX", key);
          model[key] = {v, now + ttl};
          break;
        }
        case 2: {  // SET KEEPTTL
          std::string v = string_value(key);
          auto r = store_->Set(key, v, {.expiry = Expiry::Keep()});
          if (!r.ok() || !*r) fail("Set KEEPTTL", key);
          model[key] = {v, present ? it->second.deadline : 0};
          break;
        }
        case 3:
        case 4: {  // SET NX GET / SET XX GET
          std::string v = string_value(key);
          std::optional<std::string> previous;
          SetOptions options{
              .condition = kind == 3 ? SetCondition::kIfAbsent : SetCondition::kIfPresent,
              .previous_value = &previous};
          auto r = store_->Set(key, v, options);
          bool should_write = (kind == 3) != present;
          if (!r.ok() || *r != should_write) fail("Set NX/XX result", key);
          if (previous != (present ? std::optional<std::string>(it->second.value) : std::nullopt)) {
            fail("Set GET previous value", key);
          }
          if (should_write) model[key] = {v, 0};
          break;
        }
        case 5: {  // GETDEL
          auto r = store_->GetDel(key);
          if (present ? (!r.ok() || *r != it->second.value) : !r.status().IsNotFound()) {
            fail("GetDel", key);
          }
          model.erase(key);
          break;
        }
        case 6: {  // DEL
          auto r = store_->Del(key);
          if (!r.ok() || *r != present) fail("Del", key);
          model.erase(key);
          break;
        }
        case 7: {  // PEXPIRE
          int64_t ttl = 1000 + static_cast<int64_t>(rng() % 1'000'000);
          auto r = store_->Expire(key, Expiry::After(milliseconds(ttl)));
          if (!r.ok() || *r != present) fail("Expire", key);
          if (present) it->second.deadline = now + ttl;
          break;
        }
        case 8: {  // PEXPIREAT in the past: deletes
          auto r = store_->Expire(key, Expiry::At(now - 1000));
          if (!r.ok() || *r != present) fail("Expire in the past", key);
          model.erase(key);
          break;
        }
        case 9: {  // PERSIST
          auto r = store_->Persist(key);
          if (!r.ok() || *r != (present && it->second.deadline != 0)) fail("Persist", key);
          if (present) it->second.deadline = 0;
          break;
        }
        case 10: {  // MSET over keys in several stripes
          size_t n = 2 + rng() % 5;
          std::vector<std::string> keys, values;
          for (size_t i = 0; i < n; ++i) {
            keys.push_back(StringKey(w, rng() % kStringKeys));
            values.push_back(string_value(keys.back()));
          }
          std::vector<std::pair<std::string_view, std::string_view>> pairs;
          for (size_t i = 0; i < n; ++i) pairs.emplace_back(keys[i], values[i]);
          if (!store_->MultiSet(pairs).ok()) fail("MultiSet", keys[0]);
          for (size_t i = 0; i < n; ++i) model[keys[i]] = {values[i], 0};
          break;
        }
        case 11: {  // GET: read-your-writes, exactly
          auto r = store_->Get(key);
          if (present ? (!r.ok() || *r != it->second.value) : !r.status().IsNotFound()) {
            fail("Get", key);
          }
          break;
        }
        default: {  // PEXPIRETIME
          int64_t expected = !present                   ? kTtlMissingKey
                             : it->second.deadline == 0 ? kTtlNoExpiry
                                                        : it->second.deadline;
          if (store_->ExpireTime(key) != expected) fail("ExpireTime", key);
          break;
        }
      }
    }
    writers_done_.fetch_add(1);
  }

  // Checks one value read for `key`; `last` holds, per key, the largest seq (or counter)
  // this reader has seen.
  void CheckRead(const std::string& key, std::string_view value,
                 std::unordered_map<std::string, uint64_t>& last) {
    const int owner = OwnerOf(key);
    uint64_t order;
    if (key[0] == 's') {
      std::optional<ParsedValue> p = ParseStringValue(value);
      if (!p || p->key != key || p->writer != owner) {
        errors_.Add("read " + key + " = " + std::string(value) + ": not a value of this key");
        return;
      }
      order = p->seq;
      if (order > issued_[owner].load(std::memory_order_acquire)) {
        errors_.Add("read " + key + " = " + std::string(value) + ": seq not yet issued");
      }
    } else {
      order = std::strtoull(std::string(value).c_str(), nullptr, 10);
      if ((order >> 20) > issued_[owner].load(std::memory_order_acquire)) {
        errors_.Add("read " + key + " = " + std::string(value) + ": counter not yet written");
      }
    }
    uint64_t& seen = last[key];
    if (order < seen) {
      errors_.Add("read " + key + " = " + std::string(value) + " after " + std::to_string(seen) +
                  ": went back in time");
    }
    seen = std::max(seen, order);
    reads_checked_.fetch_add(1, std::memory_order_relaxed);
  }

  void Reader(int r) {
    std::mt19937_64 rng(seed_ + 7 + r);
    std::unordered_map<std::string, uint64_t> last;
    auto random_key = [&] {
      int w = static_cast<int>(rng() % kLinWriters);
      return rng() % 5 == 0 ? CounterKey(w, rng() % kCounterKeys)
                            : StringKey(w, rng() % kStringKeys);
    };
    // Bounded: stops when the writers are done, or after a generous number of rounds.
    for (size_t round = 0; writers_done_.load() < kLinWriters && round < 50 * ops_per_writer_;
         ++round) {
      switch (rng() % 4) {
        case 0: {
          std::string key = random_key();
          auto v = store_->Get(key);
          if (v.ok()) CheckRead(key, *v, last);
          break;
        }
        case 1: {
          std::vector<std::string> keys;
          for (int i = 0; i < 8; ++i) keys.push_back(random_key());
          std::vector<std::string_view> views(keys.begin(), keys.end());
          auto values = store_->MultiGet(views);
          for (size_t i = 0; i < keys.size(); ++i) {
            if (values[i]) CheckRead(keys[i], *values[i], last);
          }
          break;
        }
        case 2: {
          std::string key = random_key();
          std::string copy;
          if (store_->Read(key, [&](std::string_view v) { copy.assign(v); })) {
            CheckRead(key, copy, last);
          }
          break;
        }
        default:
          if (r == 0) {
            (void)store_->stats();
          } else {
            (void)store_->Scan(rng(), {.count = 4});
          }
          break;
      }
    }
  }

  const uint64_t seed_;
  const size_t ops_per_writer_;
  ManualClock clock_;
  std::unique_ptr<Store> store_;
  Model models_[kLinWriters];  // models_[w] is touched by writer w only, then the test
  std::atomic<uint64_t> issued_[kLinWriters] = {};
  std::atomic<int> writers_done_{0};
  std::atomic<uint64_t> reads_checked_{0};
  Errors errors_;
};

TEST(ConcurrencyTest, PerKeyLinearizableWithOneWriterPerKey) {
  LinearizabilityRun run(SeedFromEnv(), Scaled(200'000, 40'000));
  run.Run();
  EXPECT_EQ(run.errors().count(), 0u) << run.errors().Summary();
  EXPECT_GT(run.reads_checked(), 1000u);
  // The final content equals the union of the per-writer models, deadlines included.
  Model expected = run.Expected();
  Model actual = ReadContent(run.store());
  EXPECT_TRUE(actual == expected) << Diff(expected, actual);
  StoreStats stats = run.store().stats();
  EXPECT_EQ(stats.keys, expected.size());
  size_t with_deadline = 0;
  for (const auto& [key, value] : expected) with_deadline += value.deadline != 0;
  EXPECT_EQ(stats.keys_with_expiry, with_deadline);
  EXPECT_EQ(stats.expired, 0u);
  EXPECT_EQ(stats.evicted, 0u);
}

// --- MultiSet through the listener -------------------------------------------------------

using testutil::RecordedMutation;
using testutil::RecordingListener;

// Applies one mutation to a model; returns an error message, or "" if it applied cleanly.
// A Store reports only effective changes, so deleting, re-timing or persisting a key the
// model does not hold means the stream is out of order (or spurious).
std::string ApplyToModel(Model& model, const RecordedMutation& m, int64_t now) {
  switch (m.kind) {
    case MutationKind::kSet:
      if (m.cause != MutationCause::kWrite) return "kSet with a cause other than kWrite";
      model[m.key] = {m.value, m.expire_at_ms};
      return "";
    case MutationKind::kDelete: {
      auto it = model.find(m.key);
      if (it == model.end()) return "kDelete of absent key " + m.key;
      if (m.cause == MutationCause::kExpired &&
          (it->second.deadline == 0 || it->second.deadline > now)) {
        return "kExpired delete of " + m.key + " whose deadline " +
               std::to_string(it->second.deadline) + " is not past at " + std::to_string(now);
      }
      model.erase(it);
      return "";
    }
    case MutationKind::kExpireAt: {
      auto it = model.find(m.key);
      if (it == model.end()) return "kExpireAt of absent key " + m.key;
      if (m.expire_at_ms <= 0) return "kExpireAt without a deadline";
      it->second.deadline = m.expire_at_ms;
      return "";
    }
    case MutationKind::kPersist: {
      auto it = model.find(m.key);
      if (it == model.end()) return "kPersist of absent key " + m.key;
      if (it->second.deadline == 0) return "kPersist of " + m.key + " which had no deadline";
      it->second.deadline = 0;
      return "";
    }
    case MutationKind::kFlushAll:
      model.clear();
      return "";
    case MutationKind::kCollection:
      return "a collection effect from a string-only workload";
  }
  return "unknown kind";
}

// Checks each batch that sets "gen:" keys as it arrives: it must set all kGenKeys of
// them, to one value.
struct GenBatchCheck {
  static constexpr size_t kGenKeys = 24;

  void Check(std::span<const Mutation> batch) {
    bool sets_gen = false;
    for (const Mutation& m : batch) {
      sets_gen |= m.kind == MutationKind::kSet && m.key.substr(0, 4) == "gen:";
    }
    if (!sets_gen) return;
    std::set<std::string_view> keys;
    bool ok = batch.size() == kGenKeys;
    for (const Mutation& m : batch) {
      ok &= m.kind == MutationKind::kSet && m.value == batch[0].value;
      keys.insert(m.key);
    }
    ok &= keys.size() == kGenKeys;
    if (!ok) errors.Add("a MultiSet of gen keys arrived split or mixed");
    gen_values.emplace_back(batch[0].value);
  }

  std::vector<std::string> gen_values;  // each gen batch's value, in report order
  Errors errors;
};

TEST(ConcurrencyTest, MultiSetArrivesAsOneBatchAndOrdersLikeItsEffects) {
  const uint64_t seed = SeedFromEnv();
  GenBatchCheck gen_check;
  RecordingListener listener(
      [&gen_check](std::span<const Mutation> batch) { gen_check.Check(batch); });
  StoreOptions options;
  options.stripe_count = 16;
  options.listener = &listener;
  auto store = std::move(*Store::Open(options));

  std::vector<std::string> gen_keys;
  std::set<size_t> stripes;
  for (size_t i = 0; i < GenBatchCheck::kGenKeys; ++i) {
    gen_keys.push_back(Key("gen:", i));
    stripes.insert(StripeOf(gen_keys.back(), 16));
  }
  ASSERT_GE(stripes.size(), 8u) << "the batch should span many stripes";

  const size_t kGenerations = Scaled(4000, 1500);
  Errors errors;
  std::atomic<int> writers_done{0};
  auto multi_setter = [&](int w) {
    for (size_t g = 1; g <= kGenerations; ++g) {
      std::string value = "w" + std::to_string(w) + "g" + std::to_string(g);
      std::vector<std::pair<std::string_view, std::string_view>> pairs;
      for (const std::string& key : gen_keys) pairs.emplace_back(key, value);
      if (!store->MultiSet(pairs).ok()) errors.Add("MultiSet failed");
    }
    writers_done.fetch_add(1);
  };
  // Writes other keys, some in the same stripes, and reads the gen keys.
  auto other = [&] {
    std::mt19937_64 rng(seed);
    std::vector<std::string_view> views(gen_keys.begin(), gen_keys.end());
    for (size_t i = 0; writers_done.load() < 2 && i < 100 * kGenerations; ++i) {
      std::string key = Key("other:", rng() % 64);
      switch (rng() % 4) {
        case 0:
          if (!store->Set(key, std::to_string(i)).ok()) errors.Add("Set failed");
          break;
        case 1:
          (void)store->Del(key);
          break;
        case 2:
          (void)store->IncrBy(Key("count:", rng() % 8), 1);
          break;
        default:
          for (const auto& v : store->MultiGet(views)) {
            if (v && v->front() != 'w') errors.Add("gen key holds " + *v);
          }
          break;
      }
    }
  };
  RunThreads({[&] { multi_setter(0); }, [&] { multi_setter(1); }, other});
  EXPECT_EQ(errors.count(), 0u) << errors.Summary();
  EXPECT_EQ(gen_check.errors.count(), 0u) << gen_check.errors.Summary();

  // Each MultiSet was one batch; the last batch's value is on every key.
  const std::vector<std::string>& gen_values = gen_check.gen_values;
  ASSERT_EQ(gen_values.size(), 2 * kGenerations);
  for (const std::string& key : gen_keys) {
    EXPECT_EQ(store->Get(key).value_or("<missing>"), gen_values.back()) << key;
  }
  // Replaying the whole stream gives the Store's content.
  Model model;
  for (const RecordedMutation& m : listener.From()) {
    std::string error = ApplyToModel(model, m, 0);
    ASSERT_EQ(error, "");
  }
  Model actual = ReadContent(*store);
  EXPECT_TRUE(actual == model) << Diff(model, actual);
}

// --- Replaying the stream under FlushAll, expiry and eviction -----------------------------

// Applies every mutation to a model as it arrives, checking each against it.
struct ModelReplay {
  explicit ModelReplay(const Clock& clock) : clock(clock) {}

  void Apply(std::span<const Mutation> batch) {
    // The clock only moves forward: a deadline past when the Store decided is past now.
    const int64_t now = clock.NowMillis();
    for (const Mutation& m : batch) {
      if (m.cause != MutationCause::kWrite && m.kind != MutationKind::kDelete) {
        errors.Add("kExpired or kEvicted on a mutation that is not a delete");
      }
      std::string error = ApplyToModel(
          model, {m.kind, m.cause, std::string(m.key), std::string(m.value), m.expire_at_ms, {}},
          now);
      if (!error.empty()) errors.Add(error);
      flushes += m.kind == MutationKind::kFlushAll;
    }
  }

  const Clock& clock;
  Model model;
  uint64_t flushes = 0;
  Errors errors;
};

TEST(ConcurrencyTest, MutationStreamReplaysToStoreContentUnderFlushExpiryAndEviction) {
  const uint64_t seed = SeedFromEnv();
  ManualClock clock;
  ModelReplay replay(clock);
  RecordingListener listener([&replay](std::span<const Mutation> batch) { replay.Apply(batch); });
  StoreOptions options;
  options.stripe_count = 8;
  options.clock = &clock;
  options.listener = &listener;
  options.max_memory = 128 << 10;  // about 600 of the 820 keys below
  options.eviction_policy = EvictionPolicy::kAllKeysLru;
  options.active_expiry_interval = milliseconds(1);
  auto store = std::move(*Store::Open(options));
  const uint64_t empty_memory = store->stats().memory_used;

  const size_t kOps = Scaled(100'000, 20'000);
  Errors errors;
  // Writes the memory limit refused. It should refuse none under allkeys-lru, but the
  // TTL wheel's stale items count against the limit (EvictionTest.
  // EvictedKeysWheelItemsDoNotCrowdOutLiveKeys), and when the expiry thread falls behind
  // they can crowd out every key. Refused writes must change nothing, which the replay
  // comparison checks too.
  std::atomic<uint64_t> refused{0};
  auto writer = [&](int w) {
    std::mt19937_64 rng(seed + 31 * w);
    auto key = [&] { return Key("k:", rng() % 800); };
    auto number_key = [&] { return Key("n:", rng() % 20); };
    auto value = [&] { return std::string(60 + rng() % 200, static_cast<char>('a' + w)); };
    auto ttl = [&] { return milliseconds(1 + rng() % 40); };
    auto check = [&](const Status& status, const char* what) {
      if (status.code() == StatusCode::kResourceExhausted) {
        refused.fetch_add(1, std::memory_order_relaxed);
      } else if (!status.ok() && !status.IsNotFound()) {
        errors.Add(what + (": " + status.ToString()));
      }
    };
    for (size_t op = 0; op < kOps; ++op) {
      if (w == 0 && op % 16 == 0) clock.Advance(1);
      switch (rng() % 16) {
        case 0:
        case 1:
          check(store->Set(key(), value()), "Set");
          break;
        case 2:
        case 3:
          check(store->Set(key(), value(), {.expiry = Expiry::After(ttl())}).status(), "Set PX");
          break;
        case 4:
          check(store->Set(key(), value(), {.expiry = Expiry::Keep()}).status(), "Set KEEPTTL");
          break;
        case 5:
          check(store->Set(key(), value(), {.condition = SetCondition::kIfAbsent}).status(),
                "Set NX");
          break;
        case 6:
          check(store->GetDel(key()).status(), "GetDel");
          break;
        case 7:
          check(store->Del(key()).status(), "Del");
          break;
        case 8:
          check(store->IncrBy(number_key(), 1 + rng() % 5).status(), "IncrBy");
          break;
        case 9:
          check(store->Expire(rng() % 2 ? key() : number_key(), Expiry::After(ttl())).status(),
                "Expire");
          break;
        case 10:
          check(store->Persist(rng() % 2 ? key() : number_key()).status(), "Persist");
          break;
        case 11:
          check(store->GetEx(key(), Expiry::After(ttl())).status(), "GetEx");
          break;
        case 12: {
          std::vector<std::string> keys, values;
          for (size_t i = 0, n = 2 + rng() % 4; i < n; ++i) {
            keys.push_back(key());
            values.push_back(value());
          }
          std::vector<std::pair<std::string_view, std::string_view>> pairs;
          for (size_t i = 0; i < keys.size(); ++i) pairs.emplace_back(keys[i], values[i]);
          check(store->MultiSet(pairs), "MultiSet");
          break;
        }
        case 13:
          if (w == 1 && rng() % 256 == 0) {
            check(store->FlushAll(), "FlushAll");
            break;
          }
          [[fallthrough]];
        default:
          check(store->Get(key()).status(), "Get");  // may expire the key lazily
          break;
      }
    }
  };
  RunThreads({[&] { writer(0); }, [&] { writer(1); }, [&] { writer(2); }});
  EXPECT_EQ(errors.count(), 0u) << errors.Summary();

  // Reclaim whatever is due, so that the Store holds no expired entry; the clock is
  // stopped, so nothing changes afterwards (the expiry thread finds nothing to do).
  for (int i = 0; i < 100 && store->ExpireDue() > 0; ++i) {
  }
  EXPECT_EQ(replay.errors.count(), 0u) << replay.errors.Summary();
  const Model& model = replay.model;
  Model actual = ReadContent(*store);
  EXPECT_TRUE(actual == model) << Diff(model, actual);
  StoreStats stats = store->stats();
  EXPECT_EQ(stats.keys, model.size());
  // Every expiry and eviction the Store counted was reported, and the run exercised
  // all three kinds of interleaved deletes.
  EXPECT_EQ(listener.Count(MutationCause::kExpired), stats.expired);
  EXPECT_EQ(listener.Count(MutationCause::kEvicted), stats.evicted);
  EXPECT_GT(stats.expired, 0u);
  EXPECT_GT(stats.evicted, 0u);
  EXPECT_GT(replay.flushes, 0u);
  std::cout << "expired " << stats.expired << ", evicted " << stats.evicted << ", flushes "
            << replay.flushes << ", keys left " << stats.keys << ", writes refused "
            << refused.load() << std::endl;
  // The memory accounting did not drift under the races: an empty Store is back to its
  // starting size.
  ASSERT_TRUE(store->FlushAll().ok());
  EXPECT_EQ(store->stats().memory_used, empty_memory);
}

// --- SCAN ----------------------------------------------------------------------------------

// Runs a full SCAN iteration with random COUNTs and returns the keys seen.
std::set<std::string> FullScan(const Store& store, std::mt19937_64& rng) {
  std::set<std::string> seen;
  uint64_t cursor = 0;
  size_t calls = 0;
  do {
    ScanPage page = store.Scan(cursor, {.count = 1 + rng() % 64});
    seen.insert(page.keys.begin(), page.keys.end());
    cursor = page.cursor;
  } while (cursor != 0 && ++calls < 100'000);  // a few hundred are needed
  EXPECT_EQ(cursor, 0u) << "the iteration did not end";
  return seen;
}

TEST(ConcurrencyTest, ScanReturnsStableKeysWhileOtherKeysResizeStripes) {
  std::mt19937_64 rng(SeedFromEnv());
  StoreOptions options;
  options.stripe_count = 4;  // few stripes, so that churn resizes each of them
  options.active_expiry_interval = milliseconds(0);
  auto store = std::move(*Store::Open(options));
  constexpr size_t kStable = 300;
  for (size_t i = 0; i < kStable; ++i) ASSERT_TRUE(store->Set(Key("stable:", i), "s").ok());

  // Each churner inserts kChurn keys, taking each stripe from ~75 to ~75+kChurn/4 keys
  // (several doublings), then deletes them (several halvings), until told to stop.
  const size_t kChurn = Scaled(4000, 1500);
  std::atomic<bool> stop{false};
  std::atomic<size_t> cycles{0};
  auto churner = [&](int t) {
    for (size_t cycle = 0; !stop.load() && cycle < 100'000; ++cycle) {
      for (size_t i = 0; i < kChurn; ++i)
        (void)store->Set(Key("churn" + std::to_string(t) + ":", i), "c");
      for (size_t i = 0; i < kChurn; ++i)
        (void)store->Del(Key("churn" + std::to_string(t) + ":", i));
      cycles.fetch_add(1);
    }
  };
  size_t scans = 0;
  size_t missed = 0;
  std::string first_missed;
  auto scanner = [&] {
    const auto deadline = SteadyClock::now() + std::chrono::seconds(kSanitized ? 5 : 3);
    // At least kMinScans full scans, and on until the churners finished 4 cycles (so
    // that the scans overlapped growing and shrinking), within the deadline.
    const size_t kMinScans = Scaled(30, 10);
    while ((scans < kMinScans || cycles.load() < 4) && SteadyClock::now() < deadline) {
      std::set<std::string> seen = FullScan(*store, rng);
      for (size_t i = 0; i < kStable; ++i) {
        if (seen.count(Key("stable:", i)) == 0) {
          if (missed++ == 0) first_missed = Key("stable:", i);
        }
      }
      for (const std::string& key : seen) {
        if (key.rfind("stable:", 0) != 0 && key.rfind("churn", 0) != 0) {
          ADD_FAILURE() << "scan returned a key never written: " << key;
        }
      }
      ++scans;
    }
    stop.store(true);
  };
  RunThreads({[&] { churner(0); }, [&] { churner(1); }, scanner});
  std::cout << scans << " full scans during " << cycles.load() << " churn cycles" << std::endl;
  EXPECT_EQ(missed, 0u) << "first missed: " << first_missed;
  EXPECT_GE(scans, Scaled(30, 10));
  EXPECT_GE(cycles.load(), 1u);
}

// Step by step: SCAN with COUNT 1, and between calls enough inserts or deletes of other
// keys to double or halve the stripes several times over.
class ScanResizeTest : public ::testing::TestWithParam<size_t> {};

TEST_P(ScanResizeTest, CountOneScanSeesStableKeysAcrossDoublingAndHalving) {
  const size_t stripe_count = GetParam();
  StoreOptions options;
  options.stripe_count = stripe_count;
  options.active_expiry_interval = milliseconds(0);
  auto store = std::move(*Store::Open(options));
  constexpr size_t kStable = 64;
  for (size_t i = 0; i < kStable; ++i) ASSERT_TRUE(store->Set(Key("stable:", i), "s").ok());

  // Three schedules, so that resizes fall on different cursor positions: grow on even
  // calls and shrink on odd ones, the reverse, and grow or shrink every third call.
  const size_t kChurn = Scaled(1000, 400);
  for (int schedule = 0; schedule < 3; ++schedule) {
    SCOPED_TRACE(testing::Message() << "schedule " << schedule);
    std::set<std::string> seen;
    uint64_t cursor = 0;
    size_t calls = 0;
    bool grown = false;
    do {
      ScanPage page = store->Scan(cursor, {.count = 1});
      seen.insert(page.keys.begin(), page.keys.end());
      cursor = page.cursor;
      ++calls;
      bool act = schedule < 2 ? true : calls % 3 == 0;
      bool grow = schedule == 1 ? calls % 2 == 0 : !grown;
      if (!act) continue;
      if (grow && !grown) {
        for (size_t i = 0; i < kChurn; ++i) ASSERT_TRUE(store->Set(Key("churn:", i), "c").ok());
        grown = true;
      } else if (grown) {
        for (size_t i = 0; i < kChurn; ++i) ASSERT_TRUE(store->Del(Key("churn:", i)).ok());
        grown = false;
      }
    } while (cursor != 0 && calls < 5000);  // about 250 calls needed; bounds a broken cursor
    ASSERT_EQ(cursor, 0u) << "the iteration did not end";
    for (size_t i = 0; i < kStable; ++i) {
      EXPECT_EQ(seen.count(Key("stable:", i)), 1u) << Key("stable:", i);
    }
    // Leave the churn keys out for the next schedule.
    for (size_t i = 0; i < kChurn; ++i) (void)store->Del(Key("churn:", i));
    EXPECT_EQ(store->size(), kStable);
  }
}

INSTANTIATE_TEST_SUITE_P(StripeCounts, ScanResizeTest, ::testing::Values(1, 4),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return "Stripes" + std::to_string(info.param);
                         });

// --- The expiry thread ---------------------------------------------------------------------

TEST(ConcurrencyTest, ExpiryThreadReclaimsEveryKeyAndItsMemory) {
  std::mt19937_64 rng(SeedFromEnv());
  StoreOptions options;
  options.stripe_count = 16;
  options.active_expiry_interval = milliseconds(1);  // SystemClock: real time
  auto store = std::move(*Store::Open(options));
  const uint64_t empty_memory = store->stats().memory_used;

  const size_t kKeys = Scaled(5000, 2000);
  std::atomic<bool> stop{false};
  Errors errors;
  // Readers read the keys throughout (lazy expiry racing the thread); a key read must
  // hold its own value.
  auto reader = [&](uint64_t seed) {
    std::mt19937_64 r(seed);
    const auto deadline = SteadyClock::now() + std::chrono::seconds(10);
    while (!stop.load() && SteadyClock::now() < deadline) {
      std::string key = Key("ttl:", r() % kKeys);
      auto v = store->Get(key);
      if (v.ok() && *v != key) errors.Add(key + " holds " + *v);
    }
  };
  int64_t last_deadline = 0;
  auto writer = [&] {
    for (size_t i = 0; i < kKeys; ++i) {
      std::string key = Key("ttl:", i);
      int64_t ttl = 1 + static_cast<int64_t>(rng() % 50);
      auto r = store->Set(key, key, {.expiry = Expiry::After(milliseconds(ttl))});
      if (!r.ok()) errors.Add("Set " + key + ": " + r.status().ToString());
      last_deadline = std::max(last_deadline, SystemClock::Default()->NowMillis() + ttl);
    }
    // Wait for the last deadline, then up to 2 s for the thread to reclaim everything.
    const auto give_up =
        SteadyClock::now() + std::chrono::seconds(2) +
        milliseconds(std::max<int64_t>(0, last_deadline - SystemClock::Default()->NowMillis()));
    while (SteadyClock::now() < give_up && store->stats().keys > 0) {
      std::this_thread::sleep_for(milliseconds(5));
    }
    stop.store(true);
  };
  const uint64_t seed1 = rng(), seed2 = rng();  // drawn here: rng belongs to the writer
  RunThreads({writer, [&] { reader(seed1); }, [&] { reader(seed2); }});
  EXPECT_EQ(errors.count(), 0u) << errors.Summary();
  StoreStats stats = store->stats();
  EXPECT_EQ(stats.keys, 0u);
  EXPECT_EQ(stats.keys_with_expiry, 0u);
  EXPECT_EQ(stats.expired, kKeys);  // by the thread or by the readers, each key once
  // Entries, the grown bucket arrays and the wheels' slots are all given back.
  EXPECT_EQ(stats.memory_used, empty_memory);
}

// --- Eviction policy switches under writers ---------------------------------------------------

TEST(ConcurrencyTest, SwitchingEvictionPolicyUnderWritersKeepsAccountingExact) {
  const uint64_t seed = SeedFromEnv();
  RecordingListener listener;
  StoreOptions options;
  options.stripe_count = 8;
  options.max_memory = 96 << 10;
  options.eviction_policy = EvictionPolicy::kAllKeysLru;
  options.listener = &listener;
  options.active_expiry_interval = milliseconds(0);
  auto store = std::move(*Store::Open(options));
  const uint64_t empty_memory = store->stats().memory_used;

  const size_t kOps = Scaled(200'000, 30'000);
  std::atomic<int> writers_done{0};
  Errors errors;
  auto writer = [&](int w) {
    std::mt19937_64 rng(seed + w);
    for (size_t i = 0; i < kOps; ++i) {
      std::string key = Key("w" + std::to_string(w) + ":", rng() % 5000);
      if (rng() % 3 == 0) {
        (void)store->Exists(key);
      } else {
        Status s = store->Set(key, std::string(32, 'v'));
        if (!s.ok()) errors.Add("Set: " + s.ToString());
      }
    }
    writers_done.fetch_add(1);
  };
  size_t switches = 0;
  auto switcher = [&] {
    const EvictionPolicy policies[] = {EvictionPolicy::kAllKeysSieve, EvictionPolicy::kAllKeysLru,
                                       EvictionPolicy::kAllKeysSieve,
                                       EvictionPolicy::kAllKeysRandom};
    while (writers_done.load() < 2 && switches < 100'000) {
      store->SetEvictionPolicy(policies[switches++ % 4]);
      std::this_thread::sleep_for(milliseconds(1));
    }
  };
  RunThreads({[&] { writer(0); }, [&] { writer(1); }, switcher});
  EXPECT_EQ(errors.count(), 0u) << errors.Summary();
  EXPECT_GT(switches, 4u);
  StoreStats stats = store->stats();
  EXPECT_GT(stats.evicted, 0u);
  EXPECT_EQ(listener.Count(MutationCause::kEvicted), stats.evicted);
  // Concurrent writers may each overshoot by about one entry (and its stripe's growth);
  // one more write alone brings memory back under the single-writer bound.
  ASSERT_TRUE(store->Set("last", std::string(32, 'v')).ok());
  stats = store->stats();
  size_t biggest_stripe = *std::max_element(stats.stripe_keys.begin(), stats.stripe_keys.end());
  // Slack: a bucket-array doubling (8 bytes per key of the stripe) and a SIEVE queue
  // doubling (8 bytes per queued hash, at most 2 per key + 16), see eviction_test.cc.
  EXPECT_LE(stats.memory_used,
            stats.max_memory + 8 * biggest_stripe + 8 * (2 * biggest_stripe + 16));
  ASSERT_TRUE(store->FlushAll().ok());
  EXPECT_EQ(store->stats().memory_used, empty_memory);
}

}  // namespace
}  // namespace mirrorkv
