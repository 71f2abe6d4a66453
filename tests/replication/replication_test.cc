// Primary and Replica over in-process transports: full and partial resync, streaming,
// WAIT, min-replicas, promotion with partial re-attachment, and bad stream input.
#include "mirrorkv/replication.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "engine/base/numbers.h"
#include "engine/collection.h"
#include "engine/store_impl.h"
#include "mirrorkv/clock.h"
#include "mirrorkv/collections.h"
#include "replication/resp.h"
#include "tests/store_util.h"
#include "tests/test_seed.h"

namespace mirrorkv {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using ::testing::HasSubstr;

uint64_t TestSeed() { return testutil::TestSeed(424242); }

// The raw content of a store: key -> (value, deadline), expired entries included.
using Content = std::map<std::string, std::pair<std::string, int64_t>>;

// A collection in a canonical text: its type, then its elements (sets and hashes sorted:
// their iteration order depends on each copy's history).
std::string CanonicalCollection(const internal::Collection& c) {
  std::vector<std::string> parts;
  switch (c.type()) {
    case KeyType::kList:
      for (const auto& item : static_cast<const internal::ListValue&>(c).items()) {
        parts.push_back(item);
      }
      break;
    case KeyType::kSet:
      for (const auto& m : static_cast<const internal::SetValue&>(c).members()) parts.push_back(m);
      std::sort(parts.begin(), parts.end());
      break;
    case KeyType::kHash:
      for (const auto& [f, v] : static_cast<const internal::HashValue&>(c).fields()) {
        parts.push_back(f + "=" + v);
      }
      std::sort(parts.begin(), parts.end());
      break;
    case KeyType::kSortedSet:
      for (const auto& e : static_cast<const internal::SortedSetValue&>(c).order()) {
        parts.push_back(e.member + "=" + internal::FormatScore(e.score));
      }
      break;
    case KeyType::kNone:
    case KeyType::kString:
      break;
  }
  std::string out(KeyTypeName(c.type()));
  for (const std::string& part : parts) out += "|" + part;
  return out;
}

Content ContentOf(Store& store) {
  Content content;
  uint64_t cursor = 0;
  do {
    cursor = store.impl().WalkEntries(cursor, 1000, [&](const internal::Entry& e) {
      std::string value =
          e.is_string() ? std::string(e.value()) : "<" + CanonicalCollection(*e.collection()) + ">";
      content[std::string(e.key())] = {value, e.deadline()};
    });
  } while (cursor != 0);
  return content;
}

// One random collection write on `key` (any type: a key of another type makes it a
// WRONGTYPE no-op, which the replicas must skip too).
void RandomCollectionWrite(Store& store, std::mt19937_64& rng, const std::string& key) {
  std::string a = "e" + std::to_string(rng() % 12);
  std::string b = "e" + std::to_string(rng() % 12);
  const std::string_view two[] = {a, b};
  switch (rng() % 16) {
    case 0:
      (void)Lists(store).Push(key, ListEnd::kLeft, two);
      break;
    case 1:
      (void)Lists(store).Push(key, ListEnd::kRight, two);
      break;
    case 2:
      (void)Lists(store).Pop(key, rng() % 2 ? ListEnd::kLeft : ListEnd::kRight, rng() % 3 + 1,
                             [](const Element&) {});
      break;
    case 3:
      (void)Lists(store).Trim(key, static_cast<int64_t>(rng() % 3), -1);
      break;
    case 4:
      (void)Lists(store).SetAt(key, static_cast<int64_t>(rng() % 4) - 2, a);
      break;
    case 5:
      (void)Lists(store).Insert(key, rng() % 2, a, b);
      break;
    case 6:
      (void)Lists(store).Remove(key, static_cast<int64_t>(rng() % 3) - 1, a);
      break;
    case 7:
      (void)Sets(store).Add(key, two);
      break;
    case 8:
      (void)Sets(store).Remove(key, two);
      break;
    case 9:
      (void)Sets(store).Pop(key, rng() % 2 + 1, [](const Element&) {});
      break;
    case 10: {
      const std::pair<std::string_view, std::string_view> pair{a, b};
      (void)Hashes(store).Set(key, {&pair, 1});
      break;
    }
    case 11:
      (void)Hashes(store).IncrBy(key, a, 3);
      break;
    case 12:
      (void)Hashes(store).Remove(key, two);
      break;
    case 13: {
      const std::pair<double, std::string_view> pair{static_cast<double>(rng() % 5), a};
      (void)SortedSets(store).Add(key, {&pair, 1}, {.incr = rng() % 2 == 0});
      break;
    }
    case 14:
      (void)SortedSets(store).Pop(key, rng() % 2 + 1, rng() % 2, [](const Element&) {});
      break;
    default:
      (void)SortedSets(store).Remove(key, two);
      break;
  }
}

// The keys where `replica` differs from `primary`, at most ten, described: empty when
// they are equal. Readable where printing two whole stores is not.
std::string ContentDiff(const Content& replica, const Content& primary) {
  std::string out;
  int shown = 0;
  auto describe = [](const Content& content, const std::string& key) -> std::string {
    auto it = content.find(key);
    if (it == content.end()) return "absent";
    return "'" + it->second.first.substr(0, 20) + "' (" + std::to_string(it->second.first.size()) +
           " bytes, deadline " + std::to_string(it->second.second) + ")";
  };
  std::set<std::string> keys;
  for (const auto& [key, entry] : replica) keys.insert(key);
  for (const auto& [key, entry] : primary) keys.insert(key);
  for (const std::string& key : keys) {
    auto r = replica.find(key);
    auto p = primary.find(key);
    bool same = r != replica.end() && p != primary.end() && r->second == p->second;
    if (same || (r == replica.end() && p == primary.end())) continue;
    if (++shown > 10) break;
    out +=
        key + ": replica " + describe(replica, key) + ", primary " + describe(primary, key) + "\n";
  }
  return out;
}

std::unique_ptr<Store> OpenStore(const Clock* clock = nullptr) {
  StoreOptions options;
  options.clock = clock;
  options.stripe_count = 8;
  return testutil::OpenStore(options);
}

// Counts the bytes a replica receives, to check what a resync transferred.
class CountingTransport : public Transport {
 public:
  CountingTransport(std::unique_ptr<Transport> inner, std::atomic<uint64_t>* received)
      : inner_(std::move(inner)), received_(received) {}
  Status Send(std::string_view bytes) override { return inner_->Send(bytes); }
  Result<size_t> Receive(char* buffer, size_t capacity,
                         std::chrono::milliseconds timeout) override {
    Result<size_t> n = inner_->Receive(buffer, capacity, timeout);
    if (n.ok()) received_->fetch_add(*n);
    return n;
  }
  void Close() override { inner_->Close(); }
  std::string peer() const override { return inner_->peer(); }

 private:
  std::unique_ptr<Transport> inner_;
  std::atomic<uint64_t>* received_;
};

// Which primary replicas connect to; switched (or emptied, as when a primary dies)
// while their link threads may be connecting.
class PrimarySlot {
 public:
  explicit PrimarySlot(Primary* primary = nullptr) : primary_(primary) {}
  void Set(Primary* primary) {
    std::lock_guard<std::mutex> lock(mu_);
    primary_ = primary;
  }
  Result<std::unique_ptr<Transport>> Connect(std::atomic<uint64_t>* received) {
    std::lock_guard<std::mutex> lock(mu_);
    if (primary_ == nullptr) return Status::Unavailable("no primary");
    auto [near, far] = CreateInProcessTransportPair();
    primary_->Serve(std::move(far));
    if (received != nullptr) {
      return std::unique_ptr<Transport>(new CountingTransport(std::move(near), received));
    }
    return std::move(near);
  }

 private:
  std::mutex mu_;
  Primary* primary_;
};

// A connector that opens an in-process link to the slot's primary. The slot must
// outlive the replica.
Replica::Connector ConnectTo(PrimarySlot* slot, std::atomic<uint64_t>* received = nullptr) {
  return [slot, received] { return slot->Connect(received); };
}

ReplicaOptions FastReplicaOptions() {
  ReplicaOptions options;
  options.ack_interval = 20ms;
  options.reconnect_delay = 10ms;
  options.timeout = 5s;
  return options;
}

// Waits until the replica has applied everything the primary logged.
bool CaughtUp(const Replica& replica, const Primary& primary,
              std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    ReplicationPosition p = primary.position();
    ReplicationPosition r = replica.position();
    if (r.offset == p.offset && r.replication_id == p.replication_id) return true;
    std::this_thread::sleep_for(2ms);
  }
  return false;
}

class ReplicationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    primary_store_ = OpenStore();
    replica_store_ = OpenStore();
    auto primary = Primary::Create(*primary_store_, primary_options_);
    ASSERT_TRUE(primary.ok()) << primary.status().ToString();
    primary_ = std::move(*primary);
    slot_.Set(primary_.get());
  }

  std::unique_ptr<Replica> StartReplica(Store& store, ReplicaOptions options = FastReplicaOptions(),
                                        std::atomic<uint64_t>* received = nullptr) {
    auto replica = Replica::Create(store, ConnectTo(&slot_, received), options);
    EXPECT_TRUE(replica.ok());
    (*replica)->Start();
    return std::move(*replica);
  }

  // A backlog large enough that a replica slowed down by a loaded machine never falls
  // out of it in these tests (which then expect an exact number of resyncs).
  PrimaryOptions primary_options_{.backlog_bytes = 64 << 20};
  std::unique_ptr<Store> primary_store_, replica_store_;
  std::unique_ptr<Primary> primary_;
  PrimarySlot slot_;
};

TEST_F(ReplicationTest, FullResyncThenStreamConverges) {
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(primary_store_->Set("pre" + std::to_string(i), "v" + std::to_string(i)).ok());
  }
  auto replica = StartReplica(*replica_store_);
  ASSERT_TRUE(CaughtUp(*replica, *primary_));
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(
        primary_store_->Set("post" + std::to_string(i), "w", {.expiry = Expiry::After(1h)}).ok());
  }
  ASSERT_TRUE(*primary_store_->Del("pre7"));
  ASSERT_TRUE(*primary_store_->IncrBy("counter", 5));
  ASSERT_TRUE(CaughtUp(*replica, *primary_));
  EXPECT_EQ(ContentOf(*replica_store_), ContentOf(*primary_store_));
  ReplicaStatus status = replica->status();
  EXPECT_EQ(status.link, LinkState::kConnected);
  EXPECT_EQ(status.full_resyncs, 1u);
  EXPECT_EQ(status.partial_resyncs, 0u);
  EXPECT_EQ(status.pending_bytes, 0u);  // caught up: everything received is applied
  EXPECT_EQ(status.apply_lag, 0ms);
  // Its own backlog starts at the snapshot it loaded.
  EXPECT_GT(status.backlog_first_offset, 0u);
  EXPECT_LE(status.backlog_first_offset, status.position.offset);
  // The replica's store is read-only to everyone else.
  EXPECT_EQ(replica_store_->Set("x", "y").code(), StatusCode::kFailedPrecondition);
}

TEST_F(ReplicationTest, ValuesLargerThanAReceiveAndAChunkStreamWhole) {
  auto replica = StartReplica(*replica_store_);
  ASSERT_TRUE(CaughtUp(*replica, *primary_));
  // Records spanning many log chunks (16 KiB), receives (64 KiB) and the in-process
  // pipe's buffer (1 MiB), between small ones.
  for (size_t size : {size_t{100} << 10, size_t{3} << 20, size_t{17}, size_t{1} << 20}) {
    std::string value(size, 'a');
    for (size_t i = 0; i < size; i += 4096) value[i] = static_cast<char>('a' + i % 26);
    ASSERT_TRUE(primary_store_->Set("big" + std::to_string(size), value).ok());
    ASSERT_TRUE(primary_store_->Set("small" + std::to_string(size), "s").ok());
  }
  ASSERT_TRUE(CaughtUp(*replica, *primary_));
  EXPECT_EQ(ContentOf(*replica_store_), ContentOf(*primary_store_));
  EXPECT_EQ(replica->status().full_resyncs, 1u);
}

TEST_F(ReplicationTest, PartialResyncTransfersOnlyTheMissedBytes) {
  std::atomic<uint64_t> received{0};
  auto replica = StartReplica(*replica_store_, FastReplicaOptions(), &received);
  ASSERT_TRUE(primary_store_->Set("a", "1").ok());
  ASSERT_TRUE(CaughtUp(*replica, *primary_));
  replica->Stop();
  uint64_t before = primary_->position().offset;
  for (int i = 0; i < 200; ++i)
    ASSERT_TRUE(primary_store_->Set("k" + std::to_string(i), std::string(100, 'x')).ok());
  uint64_t missed = primary_->position().offset - before;
  received = 0;
  replica->Start();
  ASSERT_TRUE(CaughtUp(*replica, *primary_));
  EXPECT_EQ(replica->status().partial_resyncs, 1u);
  EXPECT_EQ(replica->status().full_resyncs, 1u);
  EXPECT_EQ(ContentOf(*replica_store_), ContentOf(*primary_store_));
  // The handshake replies ("+PONG\r\n", "+OK\r\n", "+CONTINUE <id>\r\n") plus
  // exactly the missed stream.
  uint64_t handshake = 7 + 5 + (10 + 40 + 2);
  EXPECT_GE(received.load(), missed + handshake);
  EXPECT_LE(received.load(), missed + handshake + 200);  // a PING or GETACK at most
}

// Read-your-writes: a position read on the primary after a write is reached only by a
// replica linked to that primary's history, never by an offset that is merely larger.
TEST_F(ReplicationTest, WaitForPositionNeedsTheLinkAndTheSameHistory) {
  ReplicaOptions options = FastReplicaOptions();
  options.resume_from = {std::string(40, 'f'), 1'000'000};  // another history, further on
  auto created = Replica::Create(*replica_store_, ConnectTo(&slot_), options);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  std::unique_ptr<Replica> replica = std::move(*created);
  ASSERT_TRUE(primary_store_->Set("first", "1").ok());
  const ReplicationPosition fence = primary_->position();
  EXPECT_FALSE(replica->WaitForPosition(fence, 50ms));
  EXPECT_FALSE(replica->WaitForFullResync(0, 50ms));
  replica->Start();
  ASSERT_TRUE(replica->WaitForPosition(fence, 10s));
  EXPECT_EQ(*replica_store_->Get("first"), "1");
  EXPECT_TRUE(replica->WaitForFullResync(0, 10s));
  EXPECT_FALSE(replica->WaitForFullResync(1, 50ms));  // linked, but no second one
  for (int i = 0; i < 200; ++i) {
    const std::string key = "k" + std::to_string(i);
    ASSERT_TRUE(primary_store_->Set(key, "v").ok());
    ASSERT_TRUE(replica->WaitForPosition(primary_->position(), 10s)) << i;
    ASSERT_TRUE(replica_store_->Exists(key)) << i;  // no retry: it is there
  }
  replica->Stop();
  ASSERT_TRUE(primary_store_->Set("after-stop", "v").ok());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(replica->WaitForPosition(primary_->position(), 10s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);  // a stopped replica: at once
}

TEST(ReplicationBacklogTest, OffsetOutsideTheBacklogForcesFullResync) {
  auto primary_store = OpenStore();
  auto replica_store = OpenStore();
  PrimaryOptions options;
  options.backlog_bytes = 32 << 10;
  auto primary = std::move(*Primary::Create(*primary_store, options));
  PrimarySlot slot(primary.get());
  auto replica =
      std::move(*Replica::Create(*replica_store, ConnectTo(&slot), FastReplicaOptions()));
  replica->Start();
  ASSERT_TRUE(primary_store->Set("a", "1").ok());
  ASSERT_TRUE(CaughtUp(*replica, *primary));
  replica->Stop();
  for (int i = 0; i < 2000; ++i)
    ASSERT_TRUE(primary_store->Set("k" + std::to_string(i), std::string(100, 'x')).ok());
  replica->Start();
  ASSERT_TRUE(CaughtUp(*replica, *primary));
  EXPECT_EQ(replica->status().full_resyncs, 2u);
  EXPECT_EQ(replica->status().partial_resyncs, 0u);
  EXPECT_EQ(ContentOf(*replica_store), ContentOf(*primary_store));
}

TEST_F(ReplicationTest, SnapshotUnderConcurrentWritesPlusStreamIsExact) {
  uint64_t seed = TestSeed();
  for (int i = 0; i < 20000; ++i)
    ASSERT_TRUE(primary_store_->Set("k" + std::to_string(i), "0").ok());
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    std::mt19937_64 rng(seed);
    for (int n = 0; !stop.load(); ++n) {
      std::string key = "k" + std::to_string(rng() % 25000);
      switch (rng() % 7) {
        case 5:
        case 6:
          // Collections on their own keys and on the string keys.
          RandomCollectionWrite(*primary_store_, rng,
                                rng() % 2 ? key : "c" + std::to_string(rng() % 2000));
          break;
        case 0:
          (void)primary_store_->Del(key);
          break;
        case 1:
          (void)primary_store_->IncrBy(key, 1);
          break;
        case 2:
          (void)primary_store_->Expire(key, Expiry::After(1h));
          break;
        case 3:
          (void)primary_store_->Persist(key);
          break;
        default:
          (void)primary_store_->Set(key, std::to_string(n));
          break;
      }
    }
  });
  auto replica = StartReplica(*replica_store_);
  std::this_thread::sleep_for(300ms);
  stop = true;
  writer.join();
  ASSERT_TRUE(CaughtUp(*replica, *primary_));
  EXPECT_EQ(replica->status().full_resyncs, 1u) << replica->status().last_error.ToString();
  EXPECT_EQ(ContentOf(*replica_store_), ContentOf(*primary_store_));
}

TEST(ReplicationExpiryTest, ExpiryAndEvictionReachReplicasAsDeletes) {
  ManualClock clock;
  StoreOptions options;
  options.clock = &clock;
  options.active_expiry_interval = 0ms;
  options.max_memory = 256 << 10;
  options.eviction_policy = EvictionPolicy::kAllKeysLru;
  auto primary_store = std::move(*Store::Open(options));
  options.max_memory = 0;
  auto replica_store = std::move(*Store::Open(options));
  auto primary = std::move(*Primary::Create(*primary_store, {}));
  PrimarySlot slot(primary.get());
  auto replica =
      std::move(*Replica::Create(*replica_store, ConnectTo(&slot), FastReplicaOptions()));
  replica->Start();
  ASSERT_TRUE(primary_store->Set("session", "s", {.expiry = Expiry::After(100ms)}).ok());
  ASSERT_TRUE(CaughtUp(*replica, *primary));
  clock.Advance(200);
  // Past its deadline the replica hides the key but keeps it for the primary to delete.
  EXPECT_FALSE(replica_store->Exists("session"));
  EXPECT_EQ(replica_store->size(), 1u);
  EXPECT_EQ(replica_store->ExpireDue(), 0u);
  EXPECT_EQ(primary_store->ExpireDue(), 1u);
  ASSERT_TRUE(CaughtUp(*replica, *primary));
  EXPECT_EQ(replica_store->size(), 0u);
  // Eviction on the primary: the replica follows it exactly.
  for (int i = 0; i < 5000; ++i)
    ASSERT_TRUE(primary_store->Set("k" + std::to_string(i), std::string(100, 'x')).ok());
  ASSERT_GT(primary_store->stats().evicted, 0u);
  ASSERT_TRUE(CaughtUp(*replica, *primary));
  EXPECT_EQ(ContentOf(*replica_store), ContentOf(*primary_store));
}

TEST_F(ReplicationTest, WaitCountsAcknowledgedReplicasAndHonoursTimeout) {
  EXPECT_EQ(primary_->WaitForReplicas(1, 50ms), 0u);  // nobody connected
  auto store_b = OpenStore();
  auto a = StartReplica(*replica_store_);
  auto b = StartReplica(*store_b);
  ASSERT_TRUE(primary_store_->Set("k", "v").ok());
  EXPECT_EQ(primary_->WaitForReplicas(2, 5s), 2u);
  b->Stop();
  ASSERT_TRUE(primary_store_->Set("k", "v2").ok());
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(primary_->WaitForReplicas(2, 200ms), 1u);
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, 200ms);
  EXPECT_LT(waited, 2s);
  EXPECT_EQ(*replica_store_->Get("k"), "v2");
}

// Holds back what the replica receives after the primary's +FULLRESYNC line until
// Open(), so that a test can act while the replica is still loading its snapshot.
class SnapshotGate : public Transport {
 public:
  explicit SnapshotGate(std::unique_ptr<Transport> inner) : inner_(std::move(inner)) {}
  Status Send(std::string_view bytes) override { return inner_->Send(bytes); }
  Result<size_t> Receive(char* buffer, size_t capacity,
                         std::chrono::milliseconds timeout) override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (!open_ && syncing_ && !opened_.wait_for(lock, timeout, [&] { return open_; })) {
        return Status::DeadlineExceeded("gate closed");
      }
    }
    Result<size_t> n = inner_->Receive(buffer, capacity, timeout);
    if (n.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      seen_.append(buffer, *n);
      syncing_ = syncing_ || seen_.find("+FULLRESYNC") != std::string::npos;
      if (!syncing_ && seen_.size() > 16) seen_.erase(0, seen_.size() - 16);
    }
    return n;
  }
  void Close() override { inner_->Close(); }
  std::string peer() const override { return inner_->peer(); }

  bool syncing() {
    std::lock_guard<std::mutex> lock(mu_);
    return syncing_;
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    opened_.notify_all();
  }

 private:
  std::unique_ptr<Transport> inner_;
  std::mutex mu_;
  std::condition_variable opened_;
  std::string seen_;  // the tail of what was received, to find the line across receives
  bool syncing_ = false;
  bool open_ = false;
};

TEST_F(ReplicationTest, WaitDoesNotCountAReplicaStillLoadingItsSnapshot) {
  // Large enough that the snapshot cannot arrive in the receive that ends the handshake.
  for (int i = 0; i < 20000; ++i) {
    ASSERT_TRUE(primary_store_->Set("k" + std::to_string(i), std::string(100, 'x')).ok());
  }
  // A Primary that has logged nothing: WAIT's target offset is 0, which a replica that
  // has not acknowledged anything yet must not be taken to have reached.
  slot_.Set(nullptr);
  primary_.reset();
  primary_ = std::move(*Primary::Create(*primary_store_, primary_options_));
  slot_.Set(primary_.get());
  std::atomic<SnapshotGate*> live_gate{nullptr};  // set on the replica's link thread
  Replica::Connector connector = [&]() -> Result<std::unique_ptr<Transport>> {
    // Room for the whole snapshot: the primary finishes sending it, and takes the replica
    // online, while the replica has not loaded it.
    auto [near, far] = CreateInProcessTransportPair(8 << 20);
    primary_->Serve(std::move(far));
    auto gated = std::make_unique<SnapshotGate>(std::move(near));
    live_gate.store(gated.get());
    return std::unique_ptr<Transport>(std::move(gated));
  };
  ReplicaOptions options = FastReplicaOptions();
  options.reconnect_delay = 1h;  // one connection, so `gate` stays the live one
  auto replica = std::move(*Replica::Create(*replica_store_, connector, options));
  replica->Start();
  auto deadline = std::chrono::steady_clock::now() + 5s;
  SnapshotGate* gate = nullptr;
  while (!((gate = live_gate.load()) != nullptr && gate->syncing()) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(2ms);
  }
  ASSERT_TRUE(gate != nullptr && gate->syncing());
  // Nothing is written after the snapshot's start: the replica would hold everything
  // WAIT asks for once loaded, but it has not loaded it yet.
  EXPECT_EQ(primary_->WaitForReplicas(1, 200ms), 0u);
  std::promise<size_t> async_count;
  primary_->WaitForReplicasAsync(
      1, std::chrono::steady_clock::now() + 200ms, [] { return false; },
      [&](size_t n) { async_count.set_value(n); });
  EXPECT_EQ(async_count.get_future().get(), 0u);
  EXPECT_EQ(replica->status().link, LinkState::kSyncing);
  gate->Open();
  EXPECT_EQ(primary_->WaitForReplicas(1, 5s), 1u);
  ASSERT_TRUE(CaughtUp(*replica, *primary_));
  EXPECT_EQ(ContentOf(*replica_store_), ContentOf(*primary_store_));
  replica->Stop();
}

TEST(ReplicationMinReplicasTest, WritesRefusedWithoutEnoughGoodReplicas) {
  auto primary_store = OpenStore();
  auto replica_store = OpenStore();
  PrimaryOptions options;
  options.min_replicas_to_write = 1;
  options.min_replicas_max_lag = 1s;
  auto primary = std::move(*Primary::Create(*primary_store, options));
  PrimarySlot slot(primary.get());
  Status refused = primary_store->Set("k", "v");
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.message()), HasSubstr("NOREPLICAS"));
  auto replica =
      std::move(*Replica::Create(*replica_store, ConnectTo(&slot), FastReplicaOptions()));
  replica->Start();
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!primary_store->Set("k", "v").ok() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(primary_store->Set("k", "v").ok());
  replica->Stop();
  deadline = std::chrono::steady_clock::now() + 5s;
  while (primary_store->Set("k", "v").ok() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(primary_store->Set("k", "v").code(), StatusCode::kFailedPrecondition);
  primary.reset();
  EXPECT_TRUE(primary_store->Set("k", "v").ok());  // no Primary, no refusal
}

TEST(ReplicationMinReplicasTest, SetMinReplicasTakesEffectAtOnce) {
  auto store = OpenStore();
  auto primary = std::move(*Primary::Create(*store, {}));
  ASSERT_TRUE(store->Set("k", "v").ok());
  primary->SetMinReplicas(1, 1s);  // no replica: refused before the call returns
  EXPECT_EQ(store->Set("k", "v").code(), StatusCode::kFailedPrecondition);
  std::this_thread::sleep_for(250ms);  // a few monitor ticks change nothing
  EXPECT_EQ(store->Set("k", "v").code(), StatusCode::kFailedPrecondition);
  primary->SetMinReplicas(0, 1s);
  EXPECT_TRUE(store->Set("k", "v").ok());
  primary->SetMinReplicas(1, 1s);
  primary.reset();
  EXPECT_TRUE(store->Set("k", "v").ok());  // no Primary, no refusal
}

TEST(ReplicationBacklogTest, FirstOffsetFollowsWhatTheBacklogStillHolds) {
  auto store = OpenStore();
  PrimaryOptions options;
  options.backlog_bytes = 64 << 10;
  auto primary = std::move(*Primary::Create(*store, options));
  EXPECT_EQ(primary->backlog_first_offset(), 0u);
  for (int i = 0; i < 2000; ++i)
    ASSERT_TRUE(store->Set("k" + std::to_string(i), std::string(100, 'x')).ok());
  const uint64_t end = primary->position().offset;
  const uint64_t first = primary->backlog_first_offset();
  EXPECT_GT(first, 0u);
  EXPECT_LE(first, end);
  EXPECT_GE(first + (64 << 10), end);  // at most the backlog's size behind the end
}

TEST_F(ReplicationTest, PromotionLetsOthersAndTheOldPrimaryContinuePartially) {
  auto store_c = OpenStore();
  auto b = StartReplica(*replica_store_);
  auto c = StartReplica(*store_c);
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(primary_store_->Set("k" + std::to_string(i), "a").ok());
  ASSERT_TRUE(CaughtUp(*b, *primary_));
  ASSERT_TRUE(CaughtUp(*c, *primary_));
  // The primary goes away; B becomes the primary.
  ReplicationPosition old_position = primary_->position();
  slot_.Set(nullptr);
  primary_.reset();
  auto promoted = b->Promote({});
  ASSERT_TRUE(promoted.ok()) << promoted.status().ToString();
  std::unique_ptr<Primary> new_primary = std::move(*promoted);
  PrimarySlot new_slot(new_primary.get());
  EXPECT_NE(new_primary->position().replication_id, old_position.replication_id);
  EXPECT_EQ(new_primary->secondary_position(), old_position);
  ASSERT_TRUE(replica_store_->Set("after", "promotion").ok());
  // C follows B; A (the old primary's store) rejoins as a replica of B.
  c->SetConnector(ConnectTo(&new_slot));
  ReplicaOptions rejoin = FastReplicaOptions();
  rejoin.resume_from = old_position;
  auto a = std::move(*Replica::Create(*primary_store_, ConnectTo(&new_slot), rejoin));
  a->Start();
  ASSERT_TRUE(CaughtUp(*c, *new_primary));
  ASSERT_TRUE(CaughtUp(*a, *new_primary));
  EXPECT_EQ(c->status().full_resyncs, 1u);  // only its first sync
  EXPECT_GE(c->status().partial_resyncs, 1u);
  EXPECT_EQ(a->status().full_resyncs, 0u);
  EXPECT_EQ(a->status().partial_resyncs, 1u);
  EXPECT_EQ(ContentOf(*store_c), ContentOf(*replica_store_));
  EXPECT_EQ(ContentOf(*primary_store_), ContentOf(*replica_store_));
  EXPECT_EQ(*primary_store_->Get("after"), "promotion");
  // C's connector points at new_slot, which goes out of scope before C does.
  a->Stop();
  c->Stop();
}

// A replica that joins while another streams starts outside every effect group, even
// while groups are being logged: it never sees an EXEC without its MULTI, so its one full
// resync is all it needs.
TEST_F(ReplicationTest, ReplicaJoiningOthersMidGroupStartsOutsideIt) {
  auto first = StartReplica(*replica_store_);
  ASSERT_TRUE(CaughtUp(*first, *primary_));
  std::atomic<bool> stop{false};
  std::thread groups([&] {
    for (int n = 0; !stop.load(); ++n) {
      primary_->BeginEffectGroup();
      for (int k = 0; k < 20; ++k) {
        (void)primary_store_->Set("g" + std::to_string(k), std::to_string(n));
      }
      primary_->EndEffectGroup();
    }
  });
  for (int i = 0; i < 20; ++i) {
    auto store = OpenStore();
    auto joining = StartReplica(*store);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (joining->status().link != LinkState::kConnected &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    std::this_thread::sleep_for(20ms);  // streaming while the groups go on
    ReplicaStatus status = joining->status();
    EXPECT_EQ(status.full_resyncs, 1u) << "join " << i << ": " << status.last_error.ToString();
    EXPECT_TRUE(status.last_error.ok()) << "join " << i << ": " << status.last_error.ToString();
    joining->Stop();
  }
  stop = true;
  groups.join();
  ASSERT_TRUE(CaughtUp(*first, *primary_));
  EXPECT_EQ(ContentOf(*replica_store_), ContentOf(*primary_store_));
}

// --- A primary's snapshot on disk, resumed after a restart ---

class SavedSnapshotTest : public ReplicationTest {
 protected:
  SavedSnapshotTest() {
    std::string pattern = (fs::temp_directory_path() / "mirrorkv_resume_XXXXXX").string();
    EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    path_ = (fs::path(dir_) / "dump.mkv").string();
  }
  ~SavedSnapshotTest() override {
    StopWriter();
    fs::remove_all(dir_);
  }

  // Random writes of every kind (the seed is printed) on a thread, until StopWriter.
  void StartWriter() {
    for (int i = 0; i < 5000; ++i) {
      ASSERT_TRUE(primary_store_->Set("k" + std::to_string(i), "0").ok());
    }
    writer_ = std::thread([this, seed = TestSeed()] {
      std::mt19937_64 rng(seed);
      for (int n = 0; !stop_.load(); ++n) {
        std::string key = "k" + std::to_string(rng() % 6000);
        if (rng() % 3 == 0) {
          RandomCollectionWrite(*primary_store_, rng,
                                rng() % 2 ? key : "c" + std::to_string(rng() % 500));
        } else if (rng() % 5 == 0) {
          (void)primary_store_->Del(key);
        } else {
          (void)primary_store_->Set(key, std::to_string(n));
        }
        writes_.fetch_add(1);
      }
    });
  }
  void StopWriter() {
    stop_ = true;
    if (writer_.joinable()) writer_.join();
  }
  // Save options that make the walk slow enough for the writer to change what it walks:
  // small blocks, and a pause after each until `writes` more writes were made.
  SnapshotOptions InterleavedSave(uint64_t writes_per_block) {
    SnapshotOptions options;
    options.block_bytes = 4096;
    options.batch_bytes = 1024;
    options.progress = [this, writes_per_block](const SnapshotProgress&) {
      const uint64_t target = writes_.load() + writes_per_block;
      const auto deadline = std::chrono::steady_clock::now() + 2s;
      while (writes_.load() < target && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(100us);
      }
    };
    return options;
  }

  std::string dir_, path_;
  std::thread writer_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> writes_{0};
};

// The fuzzy walk plus its history, replayed at load, is the data exactly at the returned
// position: a replica resuming there with a partial resync ends equal to the primary.
TEST_F(SavedSnapshotTest, PrimarySaveResumesExactlyWithAPartialResync) {
  StartWriter();
  SnapshotInfo saved_info;
  {
    Result<SnapshotInfo> saved = primary_->SaveSnapshotFile(path_, InterleavedSave(20));
    ASSERT_TRUE(saved.ok()) << saved.status().ToString();
    saved_info = *saved;
  }
  ASSERT_TRUE(saved_info.has_history);
  EXPECT_GT(saved_info.history_bytes, 0u) << "the writer changed nothing during the walk";
  StopWriter();

  auto restored = OpenStore();
  SnapshotInfo info;
  Result<ReplicationPosition> position = LoadSnapshotFileToResume(*restored, path_, {}, &info);
  ASSERT_TRUE(position.ok()) << position.status().ToString();
  EXPECT_EQ(position->replication_id, primary_->position().replication_id);
  EXPECT_EQ(position->offset, saved_info.position.offset + saved_info.history_bytes);
  EXPECT_EQ(info.history_bytes, saved_info.history_bytes);

  ReplicaOptions options = FastReplicaOptions();
  options.resume_from = *position;
  auto replica = StartReplica(*restored, options);
  ASSERT_TRUE(CaughtUp(*replica, *primary_));
  EXPECT_EQ(replica->status().full_resyncs, 0u) << replica->status().last_error.ToString();
  EXPECT_EQ(replica->status().partial_resyncs, 1u);
  EXPECT_EQ(ContentOf(*restored), ContentOf(*primary_store_));
  // A plain load of the same file is only as good as a fuzzy walk: it reports the start.
  auto plain = OpenStore();
  Result<SnapshotInfo> plain_info = LoadSnapshotFile(*plain, path_);
  ASSERT_TRUE(plain_info.ok());
  EXPECT_EQ(plain_info->position, saved_info.position);
}

// A Primary whose history outlasted the backlog during the save writes the snapshot
// without it, and the load then offers no position to resume from.
TEST_F(SavedSnapshotTest, HistoryLostToTheBacklogLeavesNoPositionToResume) {
  slot_.Set(nullptr);
  primary_.reset();
  auto primary = Primary::Create(*primary_store_, {.backlog_bytes = 1});  // two chunks
  ASSERT_TRUE(primary.ok());
  primary_ = std::move(*primary);
  StartWriter();
  // Each write logs 30 bytes or more: 2000 of them fill the two 16 KiB chunks.
  SnapshotOptions options = InterleavedSave(2000);
  Result<SnapshotInfo> saved = primary_->SaveSnapshotFile(path_, options);
  StopWriter();
  ASSERT_TRUE(saved.ok()) << saved.status().ToString();
  EXPECT_FALSE(saved->has_history);
  auto restored = OpenStore();
  Result<ReplicationPosition> position = LoadSnapshotFileToResume(*restored, path_);
  ASSERT_TRUE(position.ok()) << position.status().ToString();
  EXPECT_TRUE(position->replication_id.empty());
}

// Cancelled mid-walk, the save fails and the file saved before stays as it was.
TEST_F(SavedSnapshotTest, CancelledSaveLeavesThePreviousFile) {
  ASSERT_TRUE(primary_store_->Set("before", "1").ok());
  ASSERT_TRUE(primary_->SaveSnapshotFile(path_).ok());
  for (int i = 0; i < 5000; ++i)
    ASSERT_TRUE(primary_store_->Set("k" + std::to_string(i), "v").ok());
  SnapshotOptions options;
  options.block_bytes = 4096;
  int polls = 0;
  options.cancelled = [&polls] { return ++polls > 3; };
  Result<SnapshotInfo> saved = primary_->SaveSnapshotFile(path_, options);
  EXPECT_EQ(saved.status().code(), StatusCode::kFailedPrecondition) << saved.status().ToString();
  auto restored = OpenStore();
  ASSERT_TRUE(LoadSnapshotFileToResume(*restored, path_).ok());
  EXPECT_EQ(restored->size(), 1u);
  EXPECT_EQ(*restored->Get("before"), "1");
}

TEST_F(ReplicationTest, WriteConfirmedByWaitSurvivesPromotionOfThatReplica) {
  auto replica = StartReplica(*replica_store_);
  ASSERT_TRUE(CaughtUp(*replica, *primary_));
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(primary_store_->Set("acked" + std::to_string(i), std::to_string(i)).ok());
  }
  ASSERT_EQ(primary_->WaitForReplicas(1, 5s), 1u);
  // The primary dies at once, before any further acknowledgement or PING.
  slot_.Set(nullptr);
  primary_.reset();
  auto promoted = replica->Promote({});
  ASSERT_TRUE(promoted.ok());
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(*replica_store_->Get("acked" + std::to_string(i)), std::to_string(i));
  }
  EXPECT_TRUE(replica_store_->Set("new", "write").ok());  // now a primary
}

// A hand-written primary: answers the handshake with +CONTINUE, then sends `stream`.
class FakePrimary {
 public:
  explicit FakePrimary(std::string stream) : stream_(std::move(stream)) {}
  Replica::Connector connector() {
    return [this]() -> Result<std::unique_ptr<Transport>> {
      auto [near, far] = CreateInProcessTransportPair();
      threads_.emplace_back([this, t = std::shared_ptr<Transport>(std::move(far))] { Serve(*t); });
      return std::move(near);
    };
  }
  ~FakePrimary() {
    for (auto& t : threads_) t.join();
  }

 private:
  void Serve(Transport& t) {
    char buffer[4096];
    std::string received;
    std::vector<std::string_view> args;
    size_t consumed = 0;
    while (true) {  // answer until PSYNC
      auto n = t.Receive(buffer, sizeof(buffer), 2s);
      if (!n.ok()) return;
      received.append(buffer, *n);
      std::string_view view(received);
      bool psync = false;
      while (internal::ParseCommand(view, {}, &args, &consumed).ok() && consumed > 0) {
        psync = args[0] == "PSYNC";
        (void)t.Send(args[0] == "PING" ? "+PONG\r\n" : psync ? "+CONTINUE\r\n" : "+OK\r\n");
        view.remove_prefix(consumed);
      }
      received.erase(0, received.size() - view.size());
      if (psync) break;
    }
    (void)t.Send(stream_);
    while (t.Receive(buffer, sizeof(buffer), 1s).ok()) {
    }
  }
  std::string stream_;
  std::vector<std::thread> threads_;
};

TEST(ReplicationBadStreamTest, BadRecordStopsTheLinkAndLeavesDataAsBefore) {
  const std::string kId(40, 'a');
  std::string good;
  internal::AppendCommand(&good, {"SET", "a", "1"});
  internal::AppendCommand(&good, {"MULTI"});
  internal::AppendCommand(&good, {"SET", "b", "2"});
  struct Case {
    std::string name, bad;
    StatusCode code = StatusCode::kCorruption;
  };
  std::vector<Case> cases = {
      // Well-formed but not applicable here (see ReplicaOptions::skip_unsupported).
      {"unknown command", "*2\r\n$4\r\nINCR\r\n$1\r\na\r\n", StatusCode::kInvalidArgument},
      {"other database", "*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n", StatusCode::kInvalidArgument},
      {"bad integer", "*3\r\n$9\r\nPEXPIREAT\r\n$1\r\na\r\n$3\r\nabc\r\n"},
      {"wrong type", ":5\r\n"},
      {"bad length", "*1\r\n$-3\r\n"},
      {"wrong arity", "*2\r\n$3\r\nSET\r\n$1\r\na\r\n"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto store = OpenStore();
    FakePrimary fake(good + c.bad);
    ReplicaOptions options = FastReplicaOptions();
    options.resume_from = {kId, 0};
    options.reconnect_delay = 1h;  // one attempt: the error stays visible
    auto replica = std::move(*Replica::Create(*store, fake.connector(), options));
    replica->Start();
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (replica->status().link != LinkState::kDown &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    ReplicaStatus status = replica->status();
    EXPECT_EQ(status.link, LinkState::kDown);
    EXPECT_EQ(status.last_error.code(), c.code) << status.last_error.ToString();
    // The record before the bad one is applied; the open MULTI block is not.
    EXPECT_EQ(*store->Get("a"), "1");
    EXPECT_FALSE(store->Exists("b"));
    std::string first;
    internal::AppendCommand(&first, {"SET", "a", "1"});
    EXPECT_EQ(status.position.offset, first.size());  // exactly the first SET's bytes
    replica->Stop();
  }
}

TEST(ReplicationBadStreamTest, UnsupportedCommandsAreSkippedAndCountedOnRequest) {
  const std::string kId(40, 'a');
  std::string stream;
  internal::AppendCommand(&stream, {"SET", "a", "1"});
  internal::AppendCommand(&stream, {"XADD", "events", "1-1", "f", "v"});
  internal::AppendCommand(&stream, {"SELECT", "2"});
  internal::AppendCommand(&stream, {"SET", "in-db-2", "x"});
  internal::AppendCommand(&stream, {"SELECT", "0"});
  internal::AppendCommand(&stream, {"MULTI"});
  internal::AppendCommand(&stream, {"PFADD", "visitors", "m"});
  internal::AppendCommand(&stream, {"SET", "b", "2"});
  internal::AppendCommand(&stream, {"EXEC"});
  auto store = OpenStore();
  FakePrimary fake(stream);
  ReplicaOptions options = FastReplicaOptions();
  options.resume_from = {kId, 0};
  options.skip_unsupported = true;
  std::vector<std::string> events;
  Mutex events_mu;
  options.on_event = [&](bool warning, const std::string& message) {
    MutexLock lock(&events_mu);
    if (warning) events.push_back(message);
  };
  auto replica = std::move(*Replica::Create(*store, fake.connector(), options));
  replica->Start();
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (replica->position().offset < stream.size() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(replica->position().offset, stream.size());
  EXPECT_EQ(*store->Get("a"), "1");
  EXPECT_EQ(*store->Get("b"), "2");
  EXPECT_FALSE(store->Exists("in-db-2"));
  ReplicaStatus status = replica->status();
  // XADD, SELECT 2, the SET in database 2, PFADD: types mirrorkv does not hold.
  EXPECT_EQ(status.skipped_commands, 4u);
  replica->Stop();
  MutexLock lock(&events_mu);
  ASSERT_FALSE(events.empty());
  EXPECT_THAT(events.front(), ::testing::HasSubstr("cannot apply"));
}

TEST(ReplicationTruncatedStreamTest, LinkLossMidRecordKeepsThePrefixOnly) {
  const std::string kId(40, 'b');
  std::string stream;
  internal::AppendCommand(&stream, {"SET", "a", "1"});
  std::string half;
  internal::AppendCommand(&half, {"SET", "b", "2"});
  stream += half.substr(0, half.size() / 2);
  auto store = OpenStore();
  FakePrimary fake(stream);
  ReplicaOptions options = FastReplicaOptions();
  options.resume_from = {kId, 0};
  options.reconnect_delay = 1h;
  options.timeout = 300ms;
  auto replica = std::move(*Replica::Create(*store, fake.connector(), options));
  replica->Start();
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (replica->status().link != LinkState::kDown &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  std::string first;
  internal::AppendCommand(&first, {"SET", "a", "1"});
  EXPECT_EQ(replica->status().position.offset, first.size());
  EXPECT_EQ(*store->Get("a"), "1");
  EXPECT_FALSE(store->Exists("b"));
  replica->Stop();
}

TEST(ReplicationStatusTest, ReportsBytesReceivedButNotYetApplied) {
  const std::string kId(40, 'c');
  std::string first, second;
  internal::AppendCommand(&first, {"SET", "a", "1"});
  internal::AppendCommand(&second, {"SET", "b", "2"});
  const size_t half = second.size() / 2;
  auto store = OpenStore();
  FakePrimary fake(first + second.substr(0, half));
  ReplicaOptions options = FastReplicaOptions();
  options.resume_from = {kId, 0};
  options.timeout = 10s;  // the link stays up while the record waits for its rest
  auto replica = std::move(*Replica::Create(*store, fake.connector(), options));
  replica->Start();
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (replica->status().position.offset != first.size() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  std::this_thread::sleep_for(60ms);
  ReplicaStatus status = replica->status();
  EXPECT_EQ(status.link, LinkState::kConnected);
  EXPECT_EQ(status.position.offset, first.size());
  EXPECT_EQ(status.pending_bytes, half);
  EXPECT_GE(status.apply_lag, 50ms);
  EXPECT_LT(status.apply_lag, 10s);
  replica->Stop();
  EXPECT_EQ(replica->status().pending_bytes, 0u);  // discarded with the link
}

}  // namespace
}  // namespace mirrorkv

namespace mirrorkv {
namespace {

// Writers do random sets, deletes, increments, expires, persists, multi-sets, renames
// and flushes while replicas attach, detach, fall out of a small backlog and come back.
// At quiescence every replica holds exactly the primary's data.
TEST(ReplicationConvergenceTest, RandomizedWritesWithChurningReplicasConverge) {
  uint64_t seed = TestSeed();
  // Time moves with the churn below and stops before the stores are compared: with a
  // running clock the primary would go on expiring keys while they are read.
  ManualClock clock;
  auto primary_store = OpenStore(&clock);
  PrimaryOptions options;
  options.backlog_bytes = 1 << 20;  // short detaches resync partially, long ones fully
  auto primary = std::move(*Primary::Create(*primary_store, options));
  PrimarySlot slot(primary.get());
  constexpr int kReplicas = 3;
  std::vector<std::unique_ptr<Store>> stores;
  std::vector<std::unique_ptr<Replica>> replicas;
  for (int i = 0; i < kReplicas; ++i) {
    stores.push_back(OpenStore(&clock));
    replicas.push_back(
        std::move(*Replica::Create(*stores.back(), ConnectTo(&slot), FastReplicaOptions())));
    replicas.back()->Start();
  }
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937_64 rng(seed * 31 + w);
      auto key = [&] { return "k" + std::to_string(rng() % 500); };
      for (int n = 0; !stop.load(); ++n) {
        // Paced, so that a short detach stays within the backlog (a partial resync)
        // while a long one does not (a full resync).
        if (n % 64 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        switch (rng() % 24) {
          case 23:
            // Collections expire (and their deletes stream) like strings.
            (void)primary_store->Expire("c" + std::to_string(rng() % 100),
                                        Expiry::After(std::chrono::milliseconds(rng() % 2000 + 1)));
            break;
          case 20:
          case 21:
          case 22:
            // Every collection type, on shared keys (type changes, WRONGTYPE) and on
            // keys of their own; renames and expiries above reach them too.
            RandomCollectionWrite(*primary_store, rng,
                                  rng() % 4 ? "c" + std::to_string(rng() % 100) : key());
            break;
          case 0:
            (void)primary_store->Del(key());
            break;
          case 1:
          case 2:
            (void)primary_store->IncrBy("n" + std::to_string(rng() % 20), 1);
            break;
          case 3:
            (void)primary_store->Expire(key(),
                                        Expiry::After(std::chrono::milliseconds(rng() % 2000 + 1)));
            break;
          case 4:
            (void)primary_store->Persist(key());
            break;
          case 5: {
            std::string a = key(), b = key();
            std::pair<std::string_view, std::string_view> pairs[] = {{a, "m1"}, {b, "m2"}};
            (void)primary_store->MultiSet(pairs);
            break;
          }
          case 6:
            (void)primary_store->Rename(key(), key());
            break;
          case 7:
            if (rng() % 50 == 0) (void)primary_store->FlushAll();
            break;
          default:
            (void)primary_store->Set(key(), std::string(rng() % 200, 'a' + (n % 26)));
        }
      }
    });
  }
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 20; ++round) {
    const int64_t pause_ms = 10 + rng() % 30;
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
    clock.Advance(pause_ms);
    auto& r = replicas[rng() % kReplicas];
    if (rng() % 2) {
      r->Stop();
    } else {
      r->Start();
    }
  }
  for (auto& r : replicas) r->Start();
  // Past every deadline set so far (at most 2 s ahead), while the writers go on.
  clock.Advance(2001);
  std::this_thread::sleep_for(20ms);
  stop = true;
  for (auto& t : writers) t.join();
  // Everything due at the final time expires now, so that nothing changes below.
  while (primary_store->impl().ExpireDue() > 0) {
  }
  for (int i = 0; i < kReplicas; ++i) {
    ASSERT_TRUE(CaughtUp(*replicas[i], *primary, 20s)) << "replica " << i;
    EXPECT_EQ(ContentDiff(ContentOf(*stores[i]), ContentOf(*primary_store)), "") << "replica " << i;
  }
  uint64_t full = 0, partial = 0;
  for (auto& r : replicas) {
    full += r->status().full_resyncs;
    partial += r->status().partial_resyncs;
  }
  std::printf("resyncs: %llu full, %llu partial\n", static_cast<unsigned long long>(full),
              static_cast<unsigned long long>(partial));
  EXPECT_GE(full, static_cast<uint64_t>(kReplicas));  // every replica's first sync
  EXPECT_GT(primary_store->stats().expired, 0u);      // expiry deletes were streamed too
}

// The process's thread count, from /proc/self/status.
int ThreadCount() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

// Hands out at most `slice` bytes per receive, after a pause: a replica that reads
// slower than the primary writes.
class SlowTransport : public Transport {
 public:
  SlowTransport(std::unique_ptr<Transport> inner, size_t slice)
      : inner_(std::move(inner)), slice_(slice) {}
  Status Send(std::string_view bytes) override { return inner_->Send(bytes); }
  Result<size_t> Receive(char* buffer, size_t capacity,
                         std::chrono::milliseconds timeout) override {
    std::this_thread::sleep_for(200us);
    return inner_->Receive(buffer, std::min(capacity, slice_), timeout);
  }
  void Close() override { inner_->Close(); }
  std::string peer() const override { return inner_->peer(); }

 private:
  std::unique_ptr<Transport> inner_;
  const size_t slice_;
};

// Replicas that connect, ask for a sync and then never read (or read nothing more)
// cost the primary no thread each: the same few threads serve them all, and a real
// replica attached among them is still served.
TEST_F(ReplicationTest, ManyReplicasAreServedByAFixedSetOfThreads) {
  const int before = ThreadCount();
  ASSERT_GT(before, 0);
  std::vector<std::unique_ptr<Transport>> idle;
  for (int i = 0; i < 300; ++i) {
    // Room for the whole full sync (an RDB of the store as it is then, up to the 2000
    // keys written below): these replicas stop reading after it.
    auto [near, far] = CreateInProcessTransportPair(1 << 20);
    ASSERT_TRUE(near->Send("*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n").ok());
    primary_->Serve(std::move(far));
    idle.push_back(std::move(near));
  }
  auto replica = StartReplica(*replica_store_);
  for (int i = 0; i < 2000; ++i) {
    ASSERT_TRUE(primary_store_->Set("k" + std::to_string(i), std::string(100, 'x')).ok());
  }
  ASSERT_TRUE(CaughtUp(*replica, *primary_));
  EXPECT_EQ(ContentOf(*replica_store_), ContentOf(*primary_store_));
  // The replica's own link thread is the only new one.
  EXPECT_LE(ThreadCount(), before + 2);
  EXPECT_GE(primary_->replica_count(), 2u);
  EXPECT_GE(primary_->resync_counters().full, 301u);
}

// Replicas that stop reading in the middle of their full sync occupy every sync worker;
// each is dropped once its sync has waited replica_timeout for it, and the next replica
// is served.
TEST(ReplicationSyncTimeoutTest, ReplicasThatStopReadingMidSyncAreDropped) {
  auto primary_store = OpenStore();
  for (int i = 0; i < 20000; ++i) {
    ASSERT_TRUE(primary_store->Set("k" + std::to_string(i), std::string(100, 'x')).ok());
  }
  std::mutex events_mu;
  std::vector<std::string> events;
  PrimaryOptions options;
  options.replica_timeout = 500ms;
  options.event_logger = [&](std::string_view line) {
    std::lock_guard<std::mutex> lock(events_mu);
    events.emplace_back(line);
  };
  auto primary = std::move(*Primary::Create(*primary_store, options));
  std::vector<std::unique_ptr<Transport>> stuck;
  for (size_t i = 0; i < 2; ++i) {  // Primary::Impl::kSyncWorkers
    // 64 KiB of room for a snapshot of about 2 MB: the sync blocks in its first blocks.
    auto [near, far] = CreateInProcessTransportPair(64 << 10);
    ASSERT_TRUE(near->Send("*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n").ok());
    primary->Serve(std::move(far));
    stuck.push_back(std::move(near));
  }
  auto replica_store = OpenStore();
  PrimarySlot slot(primary.get());
  auto replica =
      std::move(*Replica::Create(*replica_store, ConnectTo(&slot), FastReplicaOptions()));
  replica->Start();
  ASSERT_TRUE(CaughtUp(*replica, *primary, 20s)) << replica->status().last_error.ToString();
  EXPECT_EQ(ContentOf(*replica_store), ContentOf(*primary_store));
  std::lock_guard<std::mutex> lock(events_mu);
  EXPECT_EQ(std::count_if(events.begin(), events.end(),
                          [](const std::string& line) {
                            return line.find("it has read nothing of its sync for") !=
                                   std::string::npos;
                          }),
            2)
      << testing::PrintToString(events);
  replica->Stop();
}

// A peer that pipelines handshake commands and never reads the replies is dropped, and
// the thread that reads every replica keeps serving the others.
TEST(ReplicationSyncTimeoutTest, PeerThatReadsNoHandshakeReplyIsDropped) {
  auto primary_store = OpenStore();
  std::mutex events_mu;
  std::vector<std::string> events;
  PrimaryOptions options;
  options.event_logger = [&](std::string_view line) {
    std::lock_guard<std::mutex> lock(events_mu);
    events.emplace_back(line);
  };
  auto primary = std::move(*Primary::Create(*primary_store, options));
  Result<uint16_t> port = primary->ListenTcp("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status().ToString();
  auto flooder = ConnectTcp("127.0.0.1", *port, 5s);
  ASSERT_TRUE(flooder.ok());
  // Flooded from a thread: if the primary never dropped it, its Send would block for
  // good once the primary stopped reading; the test then closes it after 20 s.
  std::atomic<bool> dropped{false};
  std::thread flood([&, transport = flooder->get()] {
    std::string pings;
    for (int i = 0; i < 10000; ++i) pings += "*1\r\n$4\r\nPING\r\n";
    while (transport->Send(pings).ok()) {
    }
    dropped = true;
  });
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!dropped.load() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(dropped.load()) << "the primary kept a peer that reads nothing";
  (*flooder)->Close();
  flood.join();
  // A replica still syncs and streams.
  ASSERT_TRUE(primary_store->Set("k", "v").ok());
  auto replica_store = OpenStore();
  auto replica = std::move(*Replica::Create(
      *replica_store, [port = *port] { return ConnectTcp("127.0.0.1", port, 5s); },
      FastReplicaOptions()));
  replica->Start();
  ASSERT_TRUE(CaughtUp(*replica, *primary, 20s)) << replica->status().last_error.ToString();
  replica->Stop();
  std::lock_guard<std::mutex> lock(events_mu);
  EXPECT_THAT(testing::PrintToString(events), HasSubstr("does not read the replies"));
}

// A replica far behind keeps its place in the replication buffer, whatever the backlog
// size: the backlog only bounds where a reconnecting replica resumes from.
TEST(ReplicationBufferTest, SlowReplicaFarPastTheBacklogIsNotResynced) {
  auto primary_store = OpenStore();
  auto replica_store = OpenStore();
  PrimaryOptions options;
  options.backlog_bytes = 32 << 10;
  auto primary = std::move(*Primary::Create(*primary_store, options));
  auto [near, far] = CreateInProcessTransportPair(16 << 10);
  primary->Serve(std::move(far));
  auto link = std::make_shared<std::unique_ptr<Transport>>(
      std::make_unique<SlowTransport>(std::move(near), 4 << 10));
  auto replica = std::move(*Replica::Create(
      *replica_store,
      [link]() -> Result<std::unique_ptr<Transport>> {
        if (*link == nullptr) return Status::Unavailable("one link only");
        return std::move(*link);
      },
      FastReplicaOptions()));
  replica->Start();
  for (int i = 0; i < 20000; ++i) {  // ~2.4 MB of stream, 75 times the backlog
    ASSERT_TRUE(primary_store->Set("k" + std::to_string(i), std::string(100, 'x')).ok());
  }
  ASSERT_TRUE(CaughtUp(*replica, *primary, 60s))
      << "replica at " << replica->position().offset << " of " << primary->position().offset
      << ", link error: " << replica->status().last_error.ToString()
      << ", replicas: " << primary->replica_count();
  EXPECT_EQ(replica->status().full_resyncs, 1u);
  EXPECT_EQ(ContentOf(*replica_store), ContentOf(*primary_store));
}

// A replica that stops reading is dropped once its output buffer passes the hard limit,
// with Redis's words in the primary's log; the others keep streaming.
TEST(ReplicationBufferTest, NonReadingReplicaIsDroppedAtItsOutputBufferLimit) {
  auto primary_store = OpenStore();
  auto replica_store = OpenStore();
  std::mutex log_mu;
  std::vector<std::string> lines;
  PrimaryOptions options;
  options.sync_buffer_limit = 1 << 20;
  options.event_logger = [&](std::string_view line) {
    std::lock_guard<std::mutex> lock(log_mu);
    lines.emplace_back(line);
  };
  auto primary = std::move(*Primary::Create(*primary_store, options));
  PrimarySlot slot(primary.get());
  auto [stalled, far] = CreateInProcessTransportPair(16 << 10);
  ASSERT_TRUE(stalled->Send("*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n").ok());
  primary->Serve(std::move(far));
  // Its full sync (an RDB of the still empty store) fits the transport: it is streaming,
  // and not reading, before the writes start. (A replica that stops reading during its
  // full sync is another case: it holds a sync worker until it disconnects.)
  auto synced = [&] {
    std::lock_guard<std::mutex> lock(log_mu);
    return ::testing::PrintToString(lines).find("Synchronization with replica") !=
           std::string::npos;
  };
  for (auto until = std::chrono::steady_clock::now() + 10s;
       !synced() && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(synced());
  auto replica =
      std::move(*Replica::Create(*replica_store, ConnectTo(&slot), FastReplicaOptions()));
  replica->Start();
  for (int i = 0; i < 4000; ++i) {  // ~0.5 MB each round, 3 rounds
    for (int round = 0; round < 3; ++round) {
      ASSERT_TRUE(
          primary_store
              ->Set("k" + std::to_string(i) + "-" + std::to_string(round), std::string(100, 'x'))
              .ok());
    }
  }
  ASSERT_TRUE(CaughtUp(*replica, *primary, 30s));
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (primary->replica_count() > 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(primary->replica_count(), 1u);
  EXPECT_EQ(replica->status().full_resyncs, 1u);
  std::lock_guard<std::mutex> lock(log_mu);
  EXPECT_THAT(::testing::PrintToString(lines),
              HasSubstr("scheduled to be closed ASAP for overcoming of output buffer limits"));
}

// WAITs block no thread: a thousand of them are completed by the ACKs that satisfy them,
// or by their deadline.
TEST_F(ReplicationTest, AsyncWaitsAreCompletedByAcksWithoutThreads) {
  auto replica = StartReplica(*replica_store_);
  ASSERT_TRUE(primary_store_->Set("k", "v").ok());
  ASSERT_TRUE(CaughtUp(*replica, *primary_));
  const int before = ThreadCount();
  std::atomic<int> satisfied{0};
  std::atomic<int> timed_out{0};
  auto forever = std::chrono::steady_clock::time_point::max();
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(primary_store_->Set("w" + std::to_string(i), "1").ok());
    primary_->WaitForReplicasAsync(
        1, forever, [] { return false; }, [&](size_t n) { satisfied += n == 1; });
    primary_->WaitForReplicasAsync(
        2, std::chrono::steady_clock::now() + 200ms, [] { return false; },
        [&](size_t n) { timed_out += n == 1; });
  }
  EXPECT_LE(ThreadCount(), before);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while ((satisfied < 1000 || timed_out < 1000) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(satisfied.load(), 1000);
  EXPECT_EQ(timed_out.load(), 1000);
}

}  // namespace
}  // namespace mirrorkv
