// session_cache: mirrorkv used as a login-session and one-time-code store, the job the
// project grew from (a hackathon's Redis for sessions and auth codes).
//
// It shows, printing what happens at each step:
//   - sessions stored with a sliding 30-minute TTL, refreshed on each request (GETEX);
//   - one-time codes that expire after 3 minutes and can be redeemed once (GETDEL);
//   - a rate limit counter per user (INCR with a TTL);
//   - active expiry reclaiming keys nobody reads again;
//   - a memory limit with allkeys-lru evicting cold sessions while hot ones stay;
//   - a MutationListener counting what an embedder (or a replica) would see.
// Time is simulated with a ManualClock so the run takes milliseconds and is the same
// every time.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>

#include "mirrorkv/clock.h"
#include "mirrorkv/mutation.h"
#include "mirrorkv/store.h"

using namespace std::chrono_literals;

namespace {

// Counts mutations by cause; a real embedder might invalidate a near cache here.
class CountingListener : public mirrorkv::MutationListener {
 public:
  void OnMutations(std::span<const mirrorkv::Mutation> batch) override {
    for (const auto& m : batch) {
      switch (m.cause) {
        case mirrorkv::MutationCause::kWrite:
          writes_.fetch_add(1, std::memory_order_relaxed);
          break;
        case mirrorkv::MutationCause::kExpired:
          expired_.fetch_add(1, std::memory_order_relaxed);
          break;
        case mirrorkv::MutationCause::kEvicted:
          evicted_.fetch_add(1, std::memory_order_relaxed);
          break;
      }
    }
  }
  void Print() const {
    std::printf("listener saw: %llu writes, %llu expiries, %llu evictions\n",
                static_cast<unsigned long long>(writes_.load()),
                static_cast<unsigned long long>(expired_.load()),
                static_cast<unsigned long long>(evicted_.load()));
  }

 private:
  // Relaxed: independent counters, read after the work is done.
  std::atomic<uint64_t> writes_{0}, expired_{0}, evicted_{0};
};

int Fail(const char* what, const mirrorkv::Status& status) {
  std::fprintf(stderr, "%s: %s\n", what, status.ToString().c_str());
  return 1;
}

}  // namespace

int main() {
  mirrorkv::ManualClock clock;
  CountingListener listener;
  mirrorkv::StoreOptions options;
  options.clock = &clock;
  options.listener = &listener;
  options.active_expiry_interval = 0ms;  // driven below with ExpireDue(), in simulated time
  options.max_memory = 4 << 20;
  options.eviction_policy = mirrorkv::EvictionPolicy::kAllKeysLru;
  auto opened = mirrorkv::Store::Open(options);
  if (!opened.ok()) return Fail("open", opened.status());
  mirrorkv::Store& store = **opened;

  // 1. Login: a session with a sliding 30-minute TTL.
  auto ok = store.Set("session:alice", "user=alice;role=admin",
                      {.expiry = mirrorkv::Expiry::After(30min)});
  if (!ok.ok()) return Fail("set session", ok.status());
  std::printf("login: session:alice stored, ttl %lld s\n",
              static_cast<long long>(store.Ttl("session:alice") / 1000));

  // 2. Requests 20 minutes apart refresh the session; without them it would have expired.
  for (int request = 1; request <= 3; ++request) {
    clock.Advance(20 * 60 * 1000);
    auto session = store.GetEx("session:alice", mirrorkv::Expiry::After(30min));
    std::printf("request %d at +%d min: %s\n", request, request * 20,
                session.ok() ? session->c_str() : "session expired");
  }

  // 3. A one-time code: valid 3 minutes, redeemable once.
  (void)store.Set("otp:alice", "493817", {.expiry = mirrorkv::Expiry::After(3min)});
  auto first = store.GetDel("otp:alice");
  auto second = store.GetDel("otp:alice");
  std::printf("otp redeemed: first %s, second %s\n", first.ok() ? "accepted" : "rejected",
              second.ok() ? "accepted" : "rejected");
  (void)store.Set("otp:bob", "120044", {.expiry = mirrorkv::Expiry::After(3min)});
  clock.Advance(4 * 60 * 1000);
  std::printf("otp:bob after 4 min: %s\n", store.Exists("otp:bob") ? "still valid" : "expired");

  // 4. Rate limiting: at most 5 login attempts per minute.
  for (int attempt = 1; attempt <= 7; ++attempt) {
    auto count = store.IncrBy("ratelimit:bob", 1);
    if (*count == 1) (void)store.Expire("ratelimit:bob", mirrorkv::Expiry::After(1min));
    if (*count > 5) std::printf("login attempt %d by bob: refused (rate limit)\n", attempt);
  }

  // 5. Ten thousand sessions nobody touches again expire; active expiry reclaims them.
  for (int i = 0; i < 10000; ++i) {
    (void)store.Set("session:guest" + std::to_string(i), "user=guest",
                    {.expiry = mirrorkv::Expiry::After(std::chrono::minutes(1 + i % 10))});
  }
  std::printf("guest sessions stored: %zu keys\n", store.size());
  clock.Advance(11 * 60 * 1000);
  size_t reclaimed = 0;
  while (size_t n = store.ExpireDue()) reclaimed += n;
  std::printf("after 11 min, active expiry reclaimed %zu keys; %zu remain\n", reclaimed,
              store.size());

  // 6. Memory limit: 50,000 sessions of ~200 bytes do not fit in 4 MiB. The admin's
  //    session is read between batches, so LRU keeps it while cold sessions go.
  std::string payload(200, 'x');
  for (int i = 0; i < 50000; ++i) {
    auto r = store.Set("session:user" + std::to_string(i), payload,
                       {.expiry = mirrorkv::Expiry::After(30min)});
    if (!r.ok()) return Fail("set under memory limit", r.status());
    if (i % 100 == 0) (void)store.Get("session:alice");
  }
  mirrorkv::StoreStats stats = store.stats();
  std::printf(
      "memory limit: %llu of %llu bytes used, %llu keys, %llu evicted; "
      "session:alice %s\n",
      static_cast<unsigned long long>(stats.memory_used),
      static_cast<unsigned long long>(stats.max_memory),
      static_cast<unsigned long long>(stats.keys), static_cast<unsigned long long>(stats.evicted),
      store.Exists("session:alice") ? "kept" : "evicted");
  listener.Print();
  return stats.memory_used <= stats.max_memory && store.Exists("session:alice") ? 0 : 1;
}
