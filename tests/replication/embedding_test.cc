// What an application embedding replication relies on: at most one Primary or Replica
// holds a Store (enforced), the state a Store is left in when its Replica goes, WAIT never
// confirming bytes not sent, a replica saying why its link went down, and a Primary
// accepting replicas over TCP by itself.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "mirrorkv/replication.h"
#include "replication/resp.h"
#include "tests/store_util.h"

namespace mirrorkv {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

std::unique_ptr<Store> OpenStore() { return testutil::OpenStore({.stripe_count = 4}); }

// A connector that serves each attempt with an in-process link to `primary`, which must
// outlive the replica.
Replica::Connector ConnectTo(Primary* primary) {
  return [primary]() -> Result<std::unique_ptr<Transport>> {
    auto [near, far] = CreateInProcessTransportPair();
    primary->Serve(std::move(far));
    return std::move(near);
  };
}

std::unique_ptr<Replica> StartReplica(Store& store, Primary* primary) {
  ReplicaOptions options;
  options.ack_interval = 20ms;
  options.reconnect_delay = 10ms;
  auto replica = Replica::Create(store, ConnectTo(primary), options);
  EXPECT_TRUE(replica.ok()) << replica.status().ToString();
  (*replica)->Start();
  return std::move(*replica);
}

bool CaughtUp(const Replica& replica, const Primary& primary) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (replica.position().offset == primary.position().offset &&
        replica.position().replication_id == primary.position().replication_id) {
      return true;
    }
    std::this_thread::sleep_for(2ms);
  }
  return false;
}

// Issue 9: a second Primary::Create on a Store returned OK and took the Store's log over;
// replication to the first Primary's replica stopped while its WaitForReplicas kept
// confirming writes that were never sent.
TEST(OwnershipTest, Issue9SecondPrimaryIsRefusedAndWaitConfirmsOnlyWhatWasSent) {
  auto store = OpenStore();
  auto replica_store = OpenStore();
  auto p1 = std::move(*Primary::Create(*store, {}));
  auto replica = StartReplica(*replica_store, p1.get());
  ASSERT_TRUE(store->Set("before", "1").ok());
  ASSERT_EQ(p1->WaitForReplicas(1, 10s), 1u);

  Result<std::unique_ptr<Primary>> p2 = Primary::Create(*store, {});
  ASSERT_FALSE(p2.ok());
  EXPECT_EQ(p2.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(p2.status().message(), HasSubstr("held by a Primary"));

  ASSERT_TRUE(store->Set("after", "2").ok());
  ASSERT_EQ(p1->WaitForReplicas(1, 10s), 1u);
  EXPECT_EQ(*replica_store->Get("after"), "2");
}

TEST(OwnershipTest, ReplicaOnAStoreWithAPrimaryIsRefusedAndTheStoreStaysWritable) {
  auto store = OpenStore();
  auto other = OpenStore();
  auto primary = std::move(*Primary::Create(*other, {}));
  auto own_primary = std::move(*Primary::Create(*store, {}));
  Result<std::unique_ptr<Replica>> replica =
      Replica::Create(*store, ConnectTo(primary.get()), ReplicaOptions{});
  ASSERT_FALSE(replica.ok());
  EXPECT_EQ(replica.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(replica.status().message(), HasSubstr("held by a Primary"));
  EXPECT_FALSE(store->replica_mode());
  EXPECT_TRUE(store->Set("k", "v").ok());
}

TEST(OwnershipTest, SecondReplicaOnAStoreIsRefused) {
  auto store = OpenStore();
  auto primary_store = OpenStore();
  auto primary = std::move(*Primary::Create(*primary_store, {}));
  auto first = StartReplica(*store, primary.get());
  Result<std::unique_ptr<Replica>> second =
      Replica::Create(*store, ConnectTo(primary.get()), ReplicaOptions{});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr("held by a Replica"));

  // Nor can a Primary take a Store a Replica holds.
  Result<std::unique_ptr<Primary>> primary_on_replica = Primary::Create(*store, {});
  ASSERT_FALSE(primary_on_replica.ok());
  EXPECT_THAT(primary_on_replica.status().message(), HasSubstr("held by a Replica"));
}

TEST(OwnershipTest, DestroyedReplicaLeavesAReadOnlyStoreWithItsDataAndAWayBackToWritable) {
  auto store = OpenStore();
  auto primary_store = OpenStore();
  auto primary = std::move(*Primary::Create(*primary_store, {}));
  ASSERT_TRUE(primary_store->Set("k", "v").ok());
  auto replica = StartReplica(*store, primary.get());
  ASSERT_TRUE(CaughtUp(*replica, *primary));

  // While the Replica holds the Store, only promotion makes it writable.
  Status early = store->LeaveReplicaMode();
  EXPECT_EQ(early.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(early.message(), HasSubstr("held by a Replica"));

  replica.reset();
  EXPECT_TRUE(store->replica_mode());
  EXPECT_EQ(*store->Get("k"), "v");
  EXPECT_EQ(store->Set("k", "w").code(), StatusCode::kFailedPrecondition);
  // A Primary is refused until the application decides the copy becomes writable.
  EXPECT_EQ(Primary::Create(*store, {}).status().code(), StatusCode::kFailedPrecondition);

  ASSERT_TRUE(store->LeaveReplicaMode().ok());
  EXPECT_FALSE(store->replica_mode());
  EXPECT_TRUE(store->Set("k", "w").ok());
  EXPECT_TRUE(Primary::Create(*store, {}).ok());
  // Or it follows a primary again.
  auto again = StartReplica(*store, primary.get());
  EXPECT_TRUE(CaughtUp(*again, *primary));
  EXPECT_EQ(*store->Get("k"), "v");
}

TEST(OwnershipTest, PromotionHandsTheStoreToTheNewPrimary) {
  auto store = OpenStore();
  auto primary_store = OpenStore();
  auto primary = std::move(*Primary::Create(*primary_store, {}));
  auto replica = StartReplica(*store, primary.get());
  ASSERT_TRUE(CaughtUp(*replica, *primary));
  auto promoted = std::move(*replica->Promote({}));
  replica.reset();  // does not release what the new Primary holds
  EXPECT_FALSE(store->replica_mode());
  EXPECT_THAT(Primary::Create(*store, {}).status().message(), HasSubstr("held by a Primary"));
  EXPECT_THAT(Replica::Create(*store, ConnectTo(primary.get()), {}).status().message(),
              HasSubstr("held by a Primary"));
  promoted.reset();
  EXPECT_TRUE(Primary::Create(*store, {}).ok());
}

// Holds every Send made after hold() until Close: the primary's session thread blocks
// with the stream not handed over.
class HoldingTransport : public Transport {
 public:
  explicit HoldingTransport(std::unique_ptr<Transport> inner) : inner_(std::move(inner)) {}
  void hold() {
    std::lock_guard<std::mutex> lock(mu_);
    holding_ = true;
  }
  Status Send(std::string_view bytes) override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return !holding_ || closed_; });
      if (closed_) return Status::Unavailable("closed");
    }
    return inner_->Send(bytes);
  }
  Result<size_t> Receive(char* buffer, size_t capacity,
                         std::chrono::milliseconds timeout) override {
    return inner_->Receive(buffer, capacity, timeout);
  }
  void Close() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
    inner_->Close();
  }
  std::string peer() const override { return inner_->peer(); }

 private:
  std::unique_ptr<Transport> inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool holding_ = false;
  bool closed_ = false;
};

// A replica that acknowledges an offset the primary never sent it (a bug, or a peer of
// another history) must not be counted by WAIT.
TEST(OwnershipTest, WaitNeverCountsAnAcknowledgementOfBytesNotSent) {
  auto store = OpenStore();
  auto primary = std::move(*Primary::Create(*store, {}));
  ASSERT_TRUE(store->Set("k", "v").ok());
  auto [near, far] = CreateInProcessTransportPair();
  auto holding = std::make_unique<HoldingTransport>(std::move(far));
  HoldingTransport* gate = holding.get();
  primary->Serve(std::move(holding));

  // A hand-made replica at the primary's position: a partial resync with nothing to send.
  ReplicationPosition at = primary->position();
  std::string command;
  internal::AppendCommand(&command, {"PSYNC", at.replication_id, std::to_string(at.offset + 1)});
  ASSERT_TRUE(near->Send(command).ok());
  char reply[128];
  Result<size_t> n = near->Receive(reply, sizeof(reply), 5s);
  ASSERT_TRUE(n.ok());
  ASSERT_THAT(std::string(reply, *n), HasSubstr("+CONTINUE"));

  gate->hold();
  ASSERT_TRUE(store->Set("unsent", "x").ok());
  command.clear();
  internal::AppendCommand(&command, {"REPLCONF", "ACK", "1000000000"});
  ASSERT_TRUE(near->Send(command).ok());
  EXPECT_EQ(primary->WaitForReplicas(1, 300ms), 0u);
}

TEST(ReplicaStatusTest, LastErrorSaysWhereTheLinkFailedAndClearsOnAGoodReconnect) {
  auto primary_store = OpenStore();
  auto store = OpenStore();
  auto primary = std::move(*Primary::Create(*primary_store, {}));
  std::mutex mu;
  Transport* live = nullptr;  // the replica's end of its current link
  Replica::Connector connector = [&]() -> Result<std::unique_ptr<Transport>> {
    auto [near, far] = CreateInProcessTransportPair();
    primary->Serve(std::move(far));
    std::lock_guard<std::mutex> lock(mu);
    live = near.get();
    return std::move(near);
  };
  ReplicaOptions options;
  options.reconnect_delay = 500ms;  // long enough to see the reason before the reconnect
  auto replica = std::move(*Replica::Create(*store, connector, options));
  replica->Start();
  ASSERT_TRUE(CaughtUp(*replica, *primary));
  EXPECT_TRUE(replica->status().last_error.ok());

  {
    std::lock_guard<std::mutex> lock(mu);
    live->Close();
  }
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (replica->status().link != LinkState::kDown &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  Status reason = replica->status().last_error;
  EXPECT_EQ(reason.code(), StatusCode::kUnavailable);
  EXPECT_THAT(reason.message(), HasSubstr("Connection with master lost at offset"));

  ASSERT_TRUE(primary_store->Set("k", "v").ok());
  ASSERT_TRUE(CaughtUp(*replica, *primary));
  EXPECT_TRUE(replica->status().last_error.ok()) << replica->status().last_error.ToString();
}

TEST(PrimaryListenTest, AcceptsAuthenticatedReplicasOverTcpAndStopsBeforeThePrimaryGoes) {
  auto primary_store = OpenStore();
  PrimaryOptions primary_options;
  primary_options.password = "secret";
  auto primary = std::move(*Primary::Create(*primary_store, primary_options));
  Result<uint16_t> port = primary->ListenTcp("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status().ToString();
  ASSERT_NE(*port, 0);
  // The port is taken; a name that does not resolve is refused.
  EXPECT_EQ(primary->ListenTcp("127.0.0.1", *port).status().code(), StatusCode::kIOError);
  EXPECT_EQ(primary->ListenTcp("no-such-host.invalid", 0).status().code(),
            StatusCode::kInvalidArgument);
  ASSERT_TRUE(primary_store->Set("k", "v").ok());

  auto connect = [port = *port]() { return ConnectTcp("127.0.0.1", port, 1s); };
  ReplicaOptions options;
  options.ack_interval = 20ms;
  options.reconnect_delay = 20ms;
  options.password = "wrong";
  auto refused_store = OpenStore();
  auto refused = std::move(*Replica::Create(*refused_store, connect, options));
  refused->Start();
  options.password = "secret";
  auto store = OpenStore();
  auto replica = std::move(*Replica::Create(*store, connect, options));
  replica->Start();
  ASSERT_TRUE(CaughtUp(*replica, *primary));
  EXPECT_EQ(*store->Get("k"), "v");
  ASSERT_TRUE(primary_store->Set("k2", "v2").ok());
  EXPECT_EQ(primary->WaitForReplicas(1, 10s), 1u);
  Status reason = refused->status().last_error;
  EXPECT_THAT(reason.message(), HasSubstr("WRONGPASS")) << reason.ToString();
  EXPECT_FALSE(refused_store->Exists("k"));

  // Destroyed while replicas are connected and reconnecting: returns promptly, and the
  // port no longer accepts.
  auto start = std::chrono::steady_clock::now();
  primary.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_FALSE(connect().ok());
}

}  // namespace
}  // namespace mirrorkv
