// mirrorkv_memory_probe: what one key costs in memory. Loads N keys ("key:%012d", 16
// bytes) with 16-byte values ("val:%012d") into a default Store, optionally each with a
// deadline, and prints the growth of the process's resident set per key next to the
// Store's own accounting (StoreStats::memory_used per key). bench/run_memory.py runs it
// beside bench/redis_memory.py, which loads the same keys into redis-server.
//
//   mirrorkv_memory_probe [--keys=1000000] [--ttl]
//
// Output is one `name=value` per line so that scripts can parse it. The values are not
// decimal integers on purpose: Redis would store those as integers, not strings, and
// the comparison would no longer be like for like.
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "bench/workload.h"
#include "mirrorkv/options.h"
#include "mirrorkv/status.h"
#include "mirrorkv/store.h"

namespace mirrorkv::bench {
namespace {

// Far enough ahead that nothing expires while the probe runs.
constexpr auto kTtl = std::chrono::hours(1);

// Resident set size in bytes, from the second field of /proc/self/statm (in pages).
uint64_t ResidentBytes() {
  std::FILE* file = std::fopen("/proc/self/statm", "r");
  unsigned long long size_pages = 0;
  unsigned long long resident_pages = 0;
  const bool parsed =
      file != nullptr && std::fscanf(file, "%llu %llu", &size_pages, &resident_pages) == 2;
  if (file != nullptr) std::fclose(file);
  if (!parsed) {
    std::fprintf(stderr, "cannot read /proc/self/statm\n");
    std::exit(1);
  }
  return resident_pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

[[noreturn]] void Die(const char* what, const Status& status) {
  std::fprintf(stderr, "%s: %s\n", what, status.ToString().c_str());
  std::exit(1);
}

int Run(size_t key_count, bool with_ttl) {
  // Measured before Open, so the per-key figure includes the Store's fixed overhead
  // (stripes, expiry thread stack), spread over N keys; negligible at N = 1M.
  const uint64_t rss_before = ResidentBytes();
  Result<std::unique_ptr<Store>> opened = Store::Open(StoreOptions{});
  if (!opened.ok()) Die("Store::Open", opened.status());
  Store& store = **opened;

  // Keys and values are formatted into stack buffers: the probe itself allocates
  // nothing per key, so the RSS growth is the Store's alone.
  char key[kKeyBytes];
  char value[kValueBytes];
  const SetOptions options{.expiry = with_ttl ? Expiry::After(kTtl) : Expiry::Clear()};
  for (size_t i = 0; i < key_count; ++i) {
    FormatKey("key:", i, key);
    FormatKey("val:", i, value);
    const Result<bool> written = store.Set({key, kKeyBytes}, {value, kValueBytes}, options);
    if (!written.ok()) Die("Store::Set", written.status());
  }
  const uint64_t rss_after = ResidentBytes();
  const StoreStats stats = store.stats();

  const double n = static_cast<double>(key_count);
  std::printf("keys=%zu\n", key_count);
  std::printf("ttl=%d\n", with_ttl ? 1 : 0);
  std::printf("stored_keys=%llu\n", static_cast<unsigned long long>(stats.keys));
  std::printf("keys_with_expiry=%llu\n", static_cast<unsigned long long>(stats.keys_with_expiry));
  std::printf("rss_before_bytes=%llu\n", static_cast<unsigned long long>(rss_before));
  std::printf("rss_after_bytes=%llu\n", static_cast<unsigned long long>(rss_after));
  std::printf("rss_bytes_per_key=%.1f\n", static_cast<double>(rss_after - rss_before) / n);
  std::printf("memory_used_bytes_per_key=%.1f\n", static_cast<double>(stats.memory_used) / n);
  return stats.keys == key_count ? 0 : 1;
}

}  // namespace
}  // namespace mirrorkv::bench

int main(int argc, char** argv) {
  bool with_ttl = false;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--ttl") {
      with_ttl = true;
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  const size_t key_count = mirrorkv::bench::TakeSizeFlag("keys", 1'000'000, &argc, argv);
  if (argc != 1 || key_count == 0) {
    std::fprintf(stderr, "usage: %s [--keys=N (N > 0)] [--ttl]\n", argv[0]);
    return 2;
  }
  return mirrorkv::bench::Run(key_count, with_ttl);
}
