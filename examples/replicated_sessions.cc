// replicated_sessions: a session store kept on three in-process copies, surviving the
// loss of its primary.
//
//   1. A primary Store with two replicas, each following it over an in-process link.
//   2. Logins write sessions on the primary; WAIT confirms each write on both replicas.
//   3. The primary is lost. Replica A is promoted; replica B re-points to it and
//      continues with a partial resync (no snapshot transfer), as Redis Sentinel's
//      failover would arrange.
//   4. Every confirmed session is still there, and new logins go to the new primary.
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

#include "mirrorkv/replication.h"
#include "mirrorkv/store.h"

using namespace std::chrono_literals;

namespace {

// Where replicas connect: the current primary, switched on failover.
class PrimaryAddress {
 public:
  void Set(mirrorkv::Primary* primary) {
    std::lock_guard<std::mutex> lock(mu_);
    primary_ = primary;
  }
  mirrorkv::Replica::Connector Connector() {
    return [this]() -> mirrorkv::Result<std::unique_ptr<mirrorkv::Transport>> {
      std::lock_guard<std::mutex> lock(mu_);
      if (primary_ == nullptr) return mirrorkv::Status::Unavailable("no primary");
      auto [replica_end, primary_end] = mirrorkv::CreateInProcessTransportPair();
      primary_->Serve(std::move(primary_end));
      return std::move(replica_end);
    };
  }

 private:
  std::mutex mu_;
  mirrorkv::Primary* primary_ = nullptr;
};

bool WaitCaughtUp(const mirrorkv::Replica& replica, const mirrorkv::Primary& primary) {
  for (int i = 0; i < 5000; ++i) {
    if (replica.position() == primary.position()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

std::unique_ptr<mirrorkv::Store> OpenStore() { return std::move(*mirrorkv::Store::Open({})); }

}  // namespace

int main() {
  auto store_p = OpenStore(), store_a = OpenStore(), store_b = OpenStore();
  auto primary = std::move(*mirrorkv::Primary::Create(*store_p, {}));
  PrimaryAddress address;
  address.Set(primary.get());
  mirrorkv::ReplicaOptions options;
  options.ack_interval = 50ms;
  options.reconnect_delay = 20ms;
  auto a = std::move(*mirrorkv::Replica::Create(*store_a, address.Connector(), options));
  auto b = std::move(*mirrorkv::Replica::Create(*store_b, address.Connector(), options));
  a->Start();
  b->Start();

  int confirmed = 0;
  for (int user = 0; user < 1000; ++user) {
    std::string key = "session:" + std::to_string(user);
    (void)store_p->Set(key, "user=" + std::to_string(user),
                       {.expiry = mirrorkv::Expiry::After(30min)});
    if (user % 100 == 99 && primary->WaitForReplicas(2, 1s) == 2) confirmed = user + 1;
  }
  std::printf("primary %s at offset %llu: %d sessions confirmed on both replicas\n",
              primary->position().replication_id.substr(0, 8).c_str(),
              static_cast<unsigned long long>(primary->position().offset), confirmed);

  // The primary is lost.
  address.Set(nullptr);
  primary.reset();
  std::printf("primary lost\n");

  auto promoted = a->Promote({});
  if (!promoted.ok()) {
    std::fprintf(stderr, "promotion failed: %s\n", promoted.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<mirrorkv::Primary> new_primary = std::move(*promoted);
  address.Set(new_primary.get());
  b->SetConnector(address.Connector());
  std::printf("replica A promoted: id %s, previous history valid up to offset %llu\n",
              new_primary->position().replication_id.substr(0, 8).c_str(),
              static_cast<unsigned long long>(new_primary->secondary_position().offset));

  (void)store_a->Set("session:new", "user=after-failover");
  if (!WaitCaughtUp(*b, *new_primary)) {
    std::fprintf(stderr, "replica B did not catch up\n");
    return 1;
  }
  mirrorkv::ReplicaStatus status = b->status();
  int missing = 0;
  for (int user = 0; user < confirmed; ++user) {
    missing += !store_b->Exists("session:" + std::to_string(user));
  }
  std::printf(
      "replica B follows A: %llu full resync(s) in all, %llu partial; "
      "%d confirmed sessions missing; new session %s\n",
      static_cast<unsigned long long>(status.full_resyncs),
      static_cast<unsigned long long>(status.partial_resyncs), missing,
      store_b->Exists("session:new") ? "replicated" : "missing");
  b->Stop();
  return missing == 0 && status.full_resyncs == 1 && status.partial_resyncs >= 1 ? 0 : 1;
}
