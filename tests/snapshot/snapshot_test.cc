// Snapshot round trips and the documented outcomes of the writer, the reader and
// LoadSnapshot: random data sets (binary keys, empty and large values, deadlines),
// positions, expiry at save and at load, duplicates in fuzzy snapshots, progress,
// back-pressure, short reads, and what a load does to the target store.
// Set MIRRORKV_TEST_SEED to replay a randomized run.
#include "mirrorkv/snapshot.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

#include "engine/store_impl.h"
#include "mirrorkv/clock.h"
#include "snapshot/snapshot_format.h"
#include "tests/recording_listener.h"
#include "tests/snapshot/test_util.h"

namespace mirrorkv {
namespace {

using namespace std::chrono_literals;
using testutil::AllEntries;
using testutil::Contents;
using testutil::Item;
using testutil::OpenStore;
using testutil::SnapshotToString;

constexpr char kReplicationId[] = "8c3f5a2b9d0e1f4a6b7c8d9e0f1a2b3c4d5e6f70";

class SnapshotTest : public ::testing::Test {
 protected:
  StoreOptions Options(size_t stripes = 16) {
    StoreOptions options;
    options.stripe_count = stripes;
    options.clock = &clock_;
    options.active_expiry_interval = 0ms;
    return options;
  }

  // Loads `bytes` into a fresh store and returns its entries.
  Contents LoadToContents(std::string_view bytes, SnapshotInfo* info = nullptr) {
    auto store = OpenStore(Options());
    StringReadableFile source(bytes);
    Result<SnapshotInfo> loaded = LoadSnapshot(*store, source);
    EXPECT_TRUE(loaded.ok()) << loaded.status().ToString();
    if (loaded.ok() && info != nullptr) *info = *loaded;
    return AllEntries(*store);
  }

  ManualClock clock_;
};

TEST_F(SnapshotTest, EmptyStoreRoundTrips) {
  auto store = OpenStore(Options());
  std::string bytes = SnapshotToString(*store);
  // Header and footer only.
  EXPECT_EQ(bytes.size(), internal::snapshot::kHeaderBytes + internal::snapshot::kFooterBytes);
  SnapshotInfo info;
  EXPECT_TRUE(LoadToContents(bytes, &info).empty());
  EXPECT_EQ(info.entries, 0u);
  EXPECT_EQ(info.blocks, 0u);
  EXPECT_EQ(info.bytes, bytes.size());
}

TEST_F(SnapshotTest, RandomDataSetsRoundTrip) {
  const uint64_t seed = testutil::SeedFromEnv(0x736e'6170'7368'6f74);  // "snapshot"
  std::mt19937_64 rng(seed);
  for (size_t count : {1, 10, 1000, 20000}) {
    for (bool compress : {true, false}) {
      SCOPED_TRACE(::testing::Message() << "count=" << count << " compress=" << compress);
      Contents contents = testutil::RandomContents(rng, count, 300, clock_.NowMillis());
      auto store = OpenStore(Options());
      testutil::Fill(*store, contents);
      SnapshotOptions options;
      options.compress = compress;
      options.block_bytes = 4096 << (rng() % 6);
      options.batch_bytes = 1024 << (rng() % 4);
      SnapshotPosition position{kReplicationId, rng()};
      std::string bytes = SnapshotToString(*store, position, options);
      SnapshotInfo info;
      EXPECT_EQ(LoadToContents(bytes, &info), contents);
      EXPECT_EQ(info.position, position);
      EXPECT_EQ(info.entries, contents.size());
      EXPECT_EQ(info.expired, 0u);
    }
  }
}

TEST_F(SnapshotTest, LargeValuesRoundTrip) {
  std::mt19937_64 rng(testutil::SeedFromEnv(42));
  Contents contents;
  contents["random"] = Item{testutil::RandomBytes(rng, 20 << 20), 0};
  contents["text"] = Item{testutil::RandomBytes(rng, 10 << 20, /*compressible=*/true),
                          clock_.NowMillis() + 60'000};
  contents["empty"] = Item{"", 0};
  contents["small"] = Item{"v", 0};
  auto store = OpenStore(Options());
  testutil::Fill(*store, contents);
  std::string bytes = SnapshotToString(*store);
  // Random bytes are stored raw, text compresses: the stream is much smaller than both.
  EXPECT_LT(bytes.size(), (20u << 20) + (5u << 20));
  EXPECT_EQ(LoadToContents(bytes), contents);
}

TEST_F(SnapshotTest, PositionRoundTripsAndEmptyIdReadsBackEmpty) {
  auto store = OpenStore(Options());
  ASSERT_TRUE(store->Set("k", "v").ok());
  for (const SnapshotPosition& position :
       {SnapshotPosition{}, SnapshotPosition{kReplicationId, 0},
        SnapshotPosition{kReplicationId, UINT64_MAX}, SnapshotPosition{"", 12345}}) {
    std::string bytes = SnapshotToString(*store, position);
    StringReadableFile source(bytes);
    auto reader = SnapshotReader::Open(source);
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    EXPECT_EQ((*reader)->position(), position);
  }
}

TEST_F(SnapshotTest, BadReplicationIdRejectedBeforeWriting) {
  auto store = OpenStore(Options());
  for (std::string id : {std::string(39, 'a'), std::string(41, 'a'), std::string(40, 'A'),
                         std::string(39, 'a') + "g", std::string(40, '\0')}) {
    std::string out;
    StringWritableFile sink(&out);
    Result<SnapshotInfo> info = WriteSnapshot(*store, {id, 0}, sink);
    EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(SnapshotWriter::Create(sink, {id, 0}).status().code(), StatusCode::kInvalidArgument);
  }
}

TEST_F(SnapshotTest, WriterAndReaderByHand) {
  std::string out;
  StringWritableFile sink(&out);
  SnapshotOptions options;
  options.block_bytes = 4096;
  auto writer = SnapshotWriter::Create(sink, {kReplicationId, 7}, options);
  ASSERT_TRUE(writer.ok());
  std::vector<std::tuple<std::string, std::string, int64_t>> added;
  for (int i = 0; i < 500; ++i) {
    added.emplace_back("key" + std::to_string(i), std::string(i % 50, 'x'), i % 3 ? 0 : 1000 + i);
    auto& [k, v, d] = added.back();
    ASSERT_TRUE((*writer)->Add(k, v, d).ok());
  }
  EXPECT_EQ((*writer)->Add("k", "v", -1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*writer)->Add("k", "v", int64_t{1} << 56).code(), StatusCode::kInvalidArgument);
  Result<SnapshotInfo> info = (*writer)->Finish();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->entries, 500u);
  EXPECT_GT(info->blocks, 1u);
  EXPECT_EQ(info->bytes, out.size());
  EXPECT_EQ((*writer)->Finish().status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ((*writer)->Add("k", "v").code(), StatusCode::kFailedPrecondition);

  StringReadableFile source(out);
  auto reader = SnapshotReader::Open(source);
  ASSERT_TRUE(reader.ok());
  SnapshotEntry entry;
  size_t i = 0;
  while ((*reader)->Next(&entry)) {
    ASSERT_LT(i, added.size());
    EXPECT_EQ(entry.key, std::get<0>(added[i]));
    EXPECT_EQ(entry.value, std::get<1>(added[i]));
    EXPECT_EQ(entry.expire_at_ms, std::get<2>(added[i]));
    ++i;
  }
  EXPECT_TRUE((*reader)->status().ok()) << (*reader)->status().ToString();
  EXPECT_EQ(i, added.size());
  EXPECT_FALSE((*reader)->Next(&entry));  // stays at the end
  EXPECT_EQ((*reader)->info().entries, 500u);
  EXPECT_EQ((*reader)->info().bytes, out.size());
}

TEST_F(SnapshotTest, WriterSkipsExpiredEntries) {
  auto store = OpenStore(Options());
  ASSERT_TRUE(store->Set("stays", "1").ok());
  ASSERT_TRUE(store->Set("goes", "2", {.expiry = Expiry::After(10ms)}).ok());
  clock_.Advance(20);
  std::string out;
  StringWritableFile sink(&out);
  Result<SnapshotInfo> info = WriteSnapshot(*store, {}, sink);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->entries, 1u);
  EXPECT_EQ(info->expired, 1u);
  EXPECT_EQ(LoadToContents(out), (Contents{{"stays", Item{"1", 0}}}));
}

TEST_F(SnapshotTest, ReplicaSnapshotKeepsExpiredEntries) {
  StoreOptions options = Options();
  options.replica = true;
  auto store = OpenStore(options);
  const int64_t deadline = clock_.NowMillis() + 10;
  ASSERT_TRUE(
      store->impl()
          .Apply(Mutation{
              .kind = MutationKind::kSet, .key = "k", .value = "v", .expire_at_ms = deadline})
          .ok());
  clock_.Advance(20);
  std::string bytes = SnapshotToString(*store);
  // A replica target keeps it too: the primary's delete will come.
  auto replica = OpenStore(options);
  StringReadableFile source(bytes);
  Result<SnapshotInfo> info = LoadSnapshot(*replica, source);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->expired, 0u);
  EXPECT_EQ(AllEntries(*replica), (Contents{{"k", Item{"v", deadline}}}));
  // A primary target drops it.
  SnapshotInfo primary_info;
  EXPECT_TRUE(LoadToContents(bytes, &primary_info).empty());
  EXPECT_EQ(primary_info.expired, 1u);
}

TEST_F(SnapshotTest, KeysExpiredAtLoadTimeAreDropped) {
  auto store = OpenStore(Options());
  ASSERT_TRUE(store->Set("short", "1", {.expiry = Expiry::After(100ms)}).ok());
  ASSERT_TRUE(store->Set("long", "2", {.expiry = Expiry::After(1h)}).ok());
  ASSERT_TRUE(store->Set("none", "3").ok());
  std::string bytes = SnapshotToString(*store);
  clock_.Advance(100);  // "short" reaches its deadline: expired
  SnapshotInfo info;
  Contents loaded = LoadToContents(bytes, &info);
  EXPECT_EQ(info.entries, 3u);
  EXPECT_EQ(info.expired, 1u);
  EXPECT_EQ(loaded.count("short"), 0u);
  EXPECT_EQ(loaded.size(), 2u);
}

TEST_F(SnapshotTest, LastDuplicateWinsAndExpiredDuplicateDeletesEarlierCopy) {
  std::string out;
  StringWritableFile sink(&out);
  auto writer = SnapshotWriter::Create(sink, {});
  ASSERT_TRUE(writer.ok());
  const int64_t past = clock_.NowMillis() - 1;
  ASSERT_TRUE((*writer)->Add("a", "old").ok());
  ASSERT_TRUE((*writer)->Add("a", "new").ok());
  ASSERT_TRUE((*writer)->Add("b", "old").ok());
  ASSERT_TRUE((*writer)->Add("b", "expired", past).ok());
  ASSERT_TRUE((*writer)->Finish().ok());
  EXPECT_EQ(LoadToContents(out), (Contents{{"a", Item{"new", 0}}}));
}

TEST_F(SnapshotTest, ProgressIsReportedPerBlock) {
  auto store = OpenStore(Options());
  for (int i = 0; i < 5000; ++i) {
    ASSERT_TRUE(store->Set("key" + std::to_string(i), std::string(40, 'v')).ok());
  }
  std::vector<SnapshotProgress> saves;
  SnapshotOptions options;
  options.block_bytes = 8192;
  options.progress = [&](const SnapshotProgress& p) { saves.push_back(p); };
  std::string bytes = SnapshotToString(*store, {}, options);
  ASSERT_GT(saves.size(), 5u);
  for (size_t i = 1; i < saves.size(); ++i) {
    EXPECT_GT(saves[i].entries_done, saves[i - 1].entries_done);
    EXPECT_GT(saves[i].bytes_done, saves[i - 1].bytes_done);
  }
  EXPECT_EQ(saves.back().entries_done, 5000u);
  EXPECT_EQ(saves.back().entries_expected, 5000u);

  std::vector<SnapshotProgress> loads;
  SnapshotReadOptions read_options;
  read_options.progress = [&](const SnapshotProgress& p) { loads.push_back(p); };
  auto target = OpenStore(Options());
  StringReadableFile source(bytes);
  ASSERT_TRUE(LoadSnapshot(*target, source, read_options).ok());
  EXPECT_EQ(loads.size(), saves.size());
  EXPECT_EQ(loads.back().bytes_expected, bytes.size());
  EXPECT_LT(loads.back().bytes_done, bytes.size());  // reported before the footer
}

// A sink whose Append blocks until released: the writer must simply wait.
class GateWritableFile final : public WritableFile {
 public:
  Status Append(std::string_view data) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++waiting_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
    out_.append(data);
    return Status::Ok();
  }
  Status Flush() override { return Status::Ok(); }
  Status Sync() override { return Status::Ok(); }
  Status Close() override { return Status::Ok(); }
  void WaitUntilBlocked() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return waiting_ > 0; });
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  std::string contents() {
    std::lock_guard<std::mutex> lock(mu_);
    return out_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int waiting_ = 0;
  bool open_ = false;
  std::string out_;
};

TEST_F(SnapshotTest, BlockingSinkBlocksTheWriter) {
  auto store = OpenStore(Options());
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(store->Set(std::to_string(i), "value").ok());
  GateWritableFile sink;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    ASSERT_TRUE(WriteSnapshot(*store, {}, sink).ok());
    done = true;
  });
  sink.WaitUntilBlocked();
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(done);
  // The store stays usable while the writer waits on the sink: it holds no lock.
  ASSERT_TRUE(store->Set("during", "write").ok());
  sink.Open();
  writer.join();
  EXPECT_TRUE(done);
  EXPECT_GE(LoadToContents(sink.contents()).size(), 1000u);
}

TEST_F(SnapshotTest, ShortReadsAndUnknownSizeLoadTheSame) {
  std::mt19937_64 rng(testutil::SeedFromEnv(7));
  Contents contents = testutil::RandomContents(rng, 300, 200, clock_.NowMillis());
  auto store = OpenStore(Options());
  testutil::Fill(*store, contents);
  SnapshotOptions options;
  options.block_bytes = 4096;
  std::string bytes = SnapshotToString(*store, {}, options);
  for (size_t max_read : {1, 3, 22, 4096}) {
    for (bool sized : {true, false}) {
      testutil::TrickleReadableFile source(bytes, max_read, sized);
      auto target = OpenStore(Options());
      Result<SnapshotInfo> info = LoadSnapshot(*target, source);
      ASSERT_TRUE(info.ok()) << info.status().ToString();
      EXPECT_EQ(AllEntries(*target), contents);
    }
  }
}

TEST_F(SnapshotTest, ReaderNeverReadsPastTheFooter) {
  auto store = OpenStore(Options());
  ASSERT_TRUE(store->Set("k", "v").ok());
  std::string stream = SnapshotToString(*store) + "+NEXT";
  StringReadableFile source(stream);
  auto target = OpenStore(Options());
  ASSERT_TRUE(LoadSnapshot(*target, source).ok());
  char rest[16];
  Result<size_t> got = source.Read(rest, sizeof(rest));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(std::string_view(rest, *got), "+NEXT");
}

TEST_F(SnapshotTest, LoadReplacesContentSilently) {
  auto source_store = OpenStore(Options());
  ASSERT_TRUE(source_store->Set("new", "1").ok());
  std::string bytes = SnapshotToString(*source_store);

  testutil::RecordingListener listener;
  StoreOptions options = Options();
  options.listener = &listener;
  auto target = OpenStore(options);
  ASSERT_TRUE(target->Set("old", "0").ok());
  const size_t before = listener.size();
  StringReadableFile source(bytes);
  ASSERT_TRUE(LoadSnapshot(*target, source).ok());
  EXPECT_EQ(listener.size(), before);
  EXPECT_EQ(AllEntries(*target), (Contents{{"new", Item{"1", 0}}}));
  EXPECT_EQ(target->size(), 1u);
  // The store works as usual afterwards, listener included.
  ASSERT_TRUE(target->Set("after", "2").ok());
  EXPECT_EQ(listener.size(), before + 1);
  EXPECT_EQ(target->Get("new").value_or(""), "1");
}

TEST_F(SnapshotTest, LoadAcrossStripeCountsAndPolicies) {
  auto source_store = OpenStore(Options(64));
  for (int i = 0; i < 2000; ++i) {
    ASSERT_TRUE(source_store->Set("key" + std::to_string(i), "v").ok());
  }
  std::string bytes = SnapshotToString(*source_store);
  for (EvictionPolicy policy :
       {EvictionPolicy::kNoEviction, EvictionPolicy::kAllKeysSieve, EvictionPolicy::kAllKeysLru}) {
    StoreOptions options = Options(4);
    options.eviction_policy = policy;
    options.max_memory = 64 << 20;
    auto target = OpenStore(options);
    StringReadableFile source(bytes);
    ASSERT_TRUE(LoadSnapshot(*target, source).ok());
    EXPECT_EQ(AllEntries(*target), AllEntries(*source_store));
    // Eviction still works on the loaded content.
    target->SetMaxMemory(target->stats().memory_used / 2);
    Status set = target->Set("trigger", "x");
    if (policy == EvictionPolicy::kNoEviction) {
      EXPECT_EQ(set.code(), StatusCode::kResourceExhausted);
    } else {
      ASSERT_TRUE(set.ok()) << set.ToString();
      EXPECT_LT(target->size(), 2000u);
    }
  }
}

TEST_F(SnapshotTest, TargetLimitsApplyAtLoad) {
  auto source_store = OpenStore(Options());
  ASSERT_TRUE(source_store->Set("k", std::string(100, 'v')).ok());
  std::string bytes = SnapshotToString(*source_store);
  StoreOptions options = Options();
  options.max_value_bytes = 50;
  auto target = OpenStore(options);
  ASSERT_TRUE(target->Set("kept", "1").ok());
  StringReadableFile source(bytes);
  Result<SnapshotInfo> info = LoadSnapshot(*target, source);
  EXPECT_EQ(info.status().code(), StatusCode::kCorruption);
  EXPECT_THAT(std::string(info.status().message()), ::testing::HasSubstr("over the limit of 50"));
  EXPECT_EQ(AllEntries(*target), (Contents{{"kept", Item{"1", 0}}}));
}

TEST_F(SnapshotTest, SnapshotReportsItsLongestLockHold) {
  auto store = OpenStore(Options());
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(store->Set(std::to_string(i), "value").ok());
  std::string out;
  StringWritableFile sink(&out);
  Result<SnapshotInfo> info = WriteSnapshot(*store, {}, sink);
  ASSERT_TRUE(info.ok());
  EXPECT_GT(info->longest_lock_hold.count(), 0);
  EXPECT_LE(info->longest_lock_hold, info->elapsed);
}

}  // namespace
}  // namespace mirrorkv
