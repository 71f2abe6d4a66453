// A snapshot taken while other threads keep writing is fuzzy; replaying every effect
// recorded from the snapshot's start position makes it exact. Until the command log
// exists, the store's mutation listener records the effects (the same idempotent effects
// the log will hold) and the replay applies them with Store::Impl::Apply, as a replica
// does. Run under ThreadSanitizer too. Set MIRRORKV_TEST_SEED to replay a randomized run
// (the thread interleaving differs from run to run regardless).
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "engine/store_impl.h"
#include "mirrorkv/clock.h"
#include "mirrorkv/mutation.h"
#include "mirrorkv/snapshot.h"
#include "tests/recording_listener.h"
#include "tests/snapshot/test_util.h"

namespace mirrorkv {
namespace {

using namespace std::chrono_literals;

// The listener records per key the order the changes took effect (the store reports
// under the key's stripe lock).
using testutil::RecordingListener;

std::string Key(uint64_t i) { return "k" + std::to_string(i); }

// One writer thread's random mix of every kind of write, deadlines included.
void WriteRandomly(Store& store, const Clock& clock, uint64_t seed, size_t key_space,
                   const std::atomic<bool>& stop) {
  std::mt19937_64 rng(seed);
  while (!stop.load(std::memory_order_relaxed)) {
    const std::string key = Key(rng() % key_space);
    const std::string value(rng() % 64, static_cast<char>('a' + rng() % 26));
    const auto ttl = std::chrono::milliseconds(1 + rng() % 300);
    switch (rng() % 20) {
      case 0:
      case 1:
      case 2:
      case 3:
      case 4:
      case 5:
        (void)store.Set(key, value);
        break;
      case 6:
      case 7:
      case 8:
        (void)store.Set(key, value, {.expiry = Expiry::After(ttl)});
        break;
      case 9:
        (void)store.Del(key);
        break;
      case 10:
        (void)store.IncrBy("n" + key, static_cast<int64_t>(rng() % 100));
        break;
      case 11:
        (void)store.Expire(key, Expiry::After(ttl));
        break;
      case 12:
        (void)store.Expire(key, Expiry::At(clock.NowMillis() + 1'000'000));
        break;
      case 13:
        (void)store.Persist(key);
        break;
      case 14:
        (void)store.GetDel(key);
        break;
      case 15:
        (void)store.GetEx(key, Expiry::After(ttl));
        break;
      case 16: {
        const std::string a = Key(rng() % key_space), b = Key(rng() % key_space);
        std::pair<std::string_view, std::string_view> pairs[] = {{key, value}, {a, "x"}, {b, ""}};
        (void)store.MultiSet(pairs);
        break;
      }
      case 17:
        (void)store.Set(key, value, {.expiry = Expiry::Keep()});
        break;
      case 18:
        (void)store.Set(key, value,
                        {.condition = SetCondition::kIfAbsent, .expiry = Expiry::After(ttl)});
        break;
      case 19:
        if (rng() % 50'000 == 0) {
          (void)store.FlushAll();
        } else {
          (void)store.Expire(key, Expiry::At(clock.NowMillis() - 1));  // deletes
        }
        break;
    }
  }
}

TEST(FuzzySnapshotTest, SnapshotPlusReplayFromItsStartIsExact) {
  const uint64_t seed = testutil::SeedFromEnv(0x66757a7a79);  // "fuzzy"
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(::testing::Message() << "round " << round);
    ManualClock clock;
    RecordingListener log;
    StoreOptions options;
    options.stripe_count = 16;
    options.clock = &clock;
    options.listener = &log;
    options.active_expiry_interval = 1ms;  // expiry deletes go on during the snapshot too
    auto source = testutil::OpenStore(options);
    constexpr size_t kKeySpace = 30'000;
    for (size_t i = 0; i < 20'000; ++i) {
      ASSERT_TRUE(source
                      ->Set(Key(i), std::string(i % 50, 'p'),
                            {.expiry = i % 4 == 0 ? Expiry::After(
                                                        std::chrono::milliseconds(1 + rng() % 2000))
                                                  : Expiry::Clear()})
                      .ok());
    }

    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t) {
      threads.emplace_back(WriteRandomly, std::ref(*source), std::cref(clock), rng(), kKeySpace,
                           std::cref(stop));
    }
    threads.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        clock.Advance(1);
        std::this_thread::sleep_for(200us);
      }
    });
    std::this_thread::sleep_for(20ms);

    // The snapshot's start position is taken before the walk starts.
    const size_t start = log.size();
    std::string bytes;
    StringWritableFile sink(&bytes);
    SnapshotOptions snapshot_options;
    snapshot_options.block_bytes = round == 0 ? 4096 : 64 << 10;
    snapshot_options.batch_bytes = round == 0 ? 1024 : 8192;
    Result<SnapshotInfo> info = WriteSnapshot(*source, {"", start}, sink, snapshot_options);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    // Writes go on after the snapshot too (however slowly a loaded machine runs the
    // writers), so that the replay has more than the walk's concurrent changes.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (log.size() < start + 1000 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    stop = true;
    for (std::thread& thread : threads) thread.join();
    const std::vector<testutil::RecordedMutation> effects = log.From(start);
    std::cout << "snapshot of " << info->entries << " entries in " << info->blocks << " blocks; "
              << effects.size() << " effects to replay; longest lock hold "
              << info->longest_lock_hold.count() << " ns\n";
    ASSERT_GT(effects.size(), 0u);

    // As a replica does: load into a replica-mode store (which keeps keys whose deadline
    // passed until the log deletes them), then apply the log from the start position.
    StoreOptions replica_options;
    replica_options.stripe_count = 8;
    replica_options.clock = &clock;
    replica_options.replica = true;
    replica_options.active_expiry_interval = 0ms;
    auto replica = testutil::OpenStore(replica_options);
    StringReadableFile source_bytes(bytes);
    Result<SnapshotInfo> loaded = LoadSnapshot(*replica, source_bytes);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    EXPECT_EQ(loaded->position.offset, start);
    for (const testutil::RecordedMutation& e : effects) {
      Status applied = replica->impl().Apply(
          Mutation{.kind = e.kind, .key = e.key, .value = e.value, .expire_at_ms = e.expire_at_ms});
      ASSERT_TRUE(applied.ok()) << applied.ToString();
    }
    const int64_t now = clock.NowMillis();
    const testutil::Contents expected = testutil::LiveEntries(*source, now);
    const testutil::Contents actual = testutil::LiveEntries(*replica, now);
    ASSERT_EQ(expected.size(), actual.size());
    EXPECT_TRUE(expected == actual) << "the replayed snapshot differs from the source";
  }
}

}  // namespace
}  // namespace mirrorkv
