// mirrorkv_hit_ratio: how well each eviction policy keeps a cache's hot keys.
//
// Replays one Zipf-distributed trace of read-through requests (GET; on a miss, SET the
// value) against a Store under each eviction policy, with max_memory sized to hold about
// 10% of the key universe, and against an exact LRU (a list plus a hash map) holding as
// many keys as the allkeys-lru Store held at steady state. Prints one table row per
// policy. The volatile policies evict only keys with a deadline, so in their runs every
// key is written with a one-hour TTL (which nothing reaches during a run).
//
//   mirrorkv_hit_ratio                # 2,000,000 requests over 1,000,000 keys, alpha 0.99
//   mirrorkv_hit_ratio --quick        # 200,000 requests over 100,000 keys
//   mirrorkv_hit_ratio --alpha=0.8 --requests=5000000 --keys=2000000 --cache=0.05 --seed=7
//
// Keys are 16 bytes ("key:" and 12 digits), values 64 bytes. The trace, the permutation
// of popularity ranks onto keys and hence every figure are fixed by --seed; the engine's
// own sampling randomness is not seeded, so sampled policies vary in the third decimal.
// Uses only the public API: link mirrorkv::mirrorkv.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <list>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mirrorkv/options.h"
#include "mirrorkv/status.h"
#include "mirrorkv/store.h"

namespace {

using mirrorkv::EvictionPolicy;

struct Config {
  uint64_t requests = 2'000'000;
  uint64_t keys = 1'000'000;
  double alpha = 0.99;
  double cache_fraction = 0.10;
  uint64_t seed = 20240611;
  size_t stripes = 64;
  // The first warmup_fraction of the trace fills the cache; the second hit-ratio column
  // counts only the requests after it.
  double warmup_fraction = 0.2;
};

void Usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--quick] [--requests=N] [--keys=N] [--alpha=A] [--cache=FRACTION]\n"
               "          [--seed=S] [--stripes=N] [--warmup=FRACTION]\n",
               argv0);
}

bool ParseArgs(int argc, char** argv, Config* config) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value_of = [&](std::string_view name, const char** value) {
      if (arg.substr(0, name.size()) != name || arg.size() <= name.size() ||
          arg[name.size()] != '=') {
        return false;
      }
      *value = argv[i] + name.size() + 1;
      return true;
    };
    const char* v = nullptr;
    if (arg == "--quick") {
      config->requests = 200'000;
      config->keys = 100'000;
    } else if (value_of("--requests", &v)) {
      config->requests = std::strtoull(v, nullptr, 10);
    } else if (value_of("--keys", &v)) {
      config->keys = std::strtoull(v, nullptr, 10);
    } else if (value_of("--alpha", &v)) {
      config->alpha = std::strtod(v, nullptr);
    } else if (value_of("--cache", &v)) {
      config->cache_fraction = std::strtod(v, nullptr);
    } else if (value_of("--seed", &v)) {
      config->seed = std::strtoull(v, nullptr, 0);
    } else if (value_of("--stripes", &v)) {
      config->stripes = std::strtoull(v, nullptr, 10);
    } else if (value_of("--warmup", &v)) {
      config->warmup_fraction = std::strtod(v, nullptr);
    } else {
      return false;
    }
  }
  return config->requests > 0 && config->keys > 0 && config->keys <= UINT32_MAX &&
         config->alpha > 0 && config->cache_fraction > 0 && config->cache_fraction < 1 &&
         config->warmup_fraction >= 0 && config->warmup_fraction < 1;
}

// The trace: for each request, the id of the key asked for. Rank r (0 = most popular) is
// drawn with probability proportional to 1 / (r + 1)^alpha by inverting the cumulative
// distribution (a binary search over a table of `keys` doubles); a random permutation
// then maps ranks to key ids, so that popular keys are spread over the key space.
std::vector<uint32_t> MakeTrace(const Config& config) {
  std::vector<double> cdf(config.keys);
  double sum = 0;
  for (uint64_t r = 0; r < config.keys; ++r) {
    sum += 1.0 / std::pow(static_cast<double>(r + 1), config.alpha);
    cdf[r] = sum;
  }
  std::vector<uint32_t> key_of_rank(config.keys);
  for (uint64_t r = 0; r < config.keys; ++r) key_of_rank[r] = static_cast<uint32_t>(r);
  std::mt19937_64 rng(config.seed);
  std::shuffle(key_of_rank.begin(), key_of_rank.end(), rng);
  std::uniform_real_distribution<double> uniform(0.0, sum);
  std::vector<uint32_t> trace(config.requests);
  for (uint64_t i = 0; i < config.requests; ++i) {
    size_t rank = std::upper_bound(cdf.begin(), cdf.end(), uniform(rng)) - cdf.begin();
    trace[i] = key_of_rank[std::min<size_t>(rank, config.keys - 1)];
  }
  return trace;
}

// "key:" and the id in 12 zero-padded digits: 16 bytes.
void FormatKey(uint32_t id, char out[16]) {
  std::memcpy(out, "key:000000000000", 16);
  for (int i = 15; id != 0; --i, id /= 10) out[i] = static_cast<char>('0' + id % 10);
}

const std::string kValue(64, 'v');

bool IsVolatile(EvictionPolicy policy) {
  return policy == EvictionPolicy::kVolatileLru || policy == EvictionPolicy::kVolatileTtl;
}

std::unique_ptr<mirrorkv::Store> OpenStore(const Config& config, EvictionPolicy policy,
                                           size_t max_memory) {
  mirrorkv::StoreOptions options;
  options.stripe_count = config.stripes;
  options.max_memory = max_memory;
  options.eviction_policy = policy;
  options.active_expiry_interval = std::chrono::milliseconds(0);
  auto store = mirrorkv::Store::Open(options);
  if (!store.ok()) {
    std::fprintf(stderr, "Store::Open: %s\n", store.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(*store);
}

// The memory budget: what a Store without a limit reports after holding `cache_keys`
// distinct keys written as the measured runs write them (no TTL). Every policy gets the
// same bytes; policies with more bookkeeping per key (SIEVE's queue, a deadline and its
// wheel item) hold fewer keys in them.
size_t MeasureBudget(const Config& config, uint64_t cache_keys) {
  auto store = OpenStore(config, EvictionPolicy::kNoEviction, 0);
  char key[16];
  for (uint64_t i = 0; i < cache_keys; ++i) {
    FormatKey(static_cast<uint32_t>(i), key);
    if (!store->Set(std::string_view(key, 16), kValue).ok()) std::exit(1);
  }
  return store->stats().memory_used;
}

struct RunResult {
  std::string name;
  double hit_ratio = 0;
  double hit_ratio_after_warmup = 0;
  double steady_keys = 0;  // mean keys held over the second half of the trace
  uint64_t evicted = 0;
  uint64_t refused = 0;  // SETs the Store refused (kResourceExhausted)
  double seconds = 0;
};

RunResult RunStore(const Config& config, const std::vector<uint32_t>& trace, EvictionPolicy policy,
                   size_t budget) {
  auto store = OpenStore(config, policy, budget);
  mirrorkv::SetOptions set_options;
  if (IsVolatile(policy)) set_options.expiry = mirrorkv::Expiry::After(std::chrono::hours(1));
  const uint64_t warmup = static_cast<uint64_t>(config.warmup_fraction * trace.size());
  const uint64_t sample_every = std::max<uint64_t>(trace.size() / 200, 1);
  uint64_t hits = 0, hits_after_warmup = 0, refused = 0;
  double keys_sum = 0;
  uint64_t samples = 0;
  std::string value;
  char key[16];
  auto start = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < trace.size(); ++i) {
    FormatKey(trace[i], key);
    std::string_view k(key, 16);
    if (store->Get(k, &value).ok()) {
      ++hits;
      hits_after_warmup += i >= warmup;
    } else {
      auto written = store->Set(k, kValue, set_options);
      refused += !written.ok();
    }
    if (i >= trace.size() / 2 && i % sample_every == 0) {
      keys_sum += static_cast<double>(store->size());
      ++samples;
    }
  }
  RunResult result;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.name = std::string(mirrorkv::EvictionPolicyName(policy));
  if (IsVolatile(policy)) result.name += " (all keys TTL 1h)";
  result.hit_ratio = static_cast<double>(hits) / trace.size();
  result.hit_ratio_after_warmup =
      static_cast<double>(hits_after_warmup) / static_cast<double>(trace.size() - warmup);
  result.steady_keys = samples ? keys_sum / samples : 0;
  result.evicted = store->stats().evicted;
  result.refused = refused;
  return result;
}

// An exact LRU of `capacity` keys: most recent at the front of the list.
RunResult RunExactLru(const Config& config, const std::vector<uint32_t>& trace, size_t capacity) {
  std::list<uint32_t> order;
  std::unordered_map<uint32_t, std::list<uint32_t>::iterator> where;
  where.reserve(capacity * 2);
  const uint64_t warmup = static_cast<uint64_t>(config.warmup_fraction * trace.size());
  uint64_t hits = 0, hits_after_warmup = 0, evicted = 0;
  auto start = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < trace.size(); ++i) {
    uint32_t id = trace[i];
    auto it = where.find(id);
    if (it != where.end()) {
      ++hits;
      hits_after_warmup += i >= warmup;
      order.splice(order.begin(), order, it->second);
      continue;
    }
    if (where.size() == capacity) {
      where.erase(order.back());
      order.pop_back();
      ++evicted;
    }
    order.push_front(id);
    where.emplace(id, order.begin());
  }
  RunResult result;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.name = "exact LRU (simulated)";
  result.hit_ratio = static_cast<double>(hits) / trace.size();
  result.hit_ratio_after_warmup =
      static_cast<double>(hits_after_warmup) / static_cast<double>(trace.size() - warmup);
  result.steady_keys = static_cast<double>(capacity);
  result.evicted = evicted;
  return result;
}

void PrintRow(const RunResult& r) {
  std::printf("| %-30s | %9.0f | %9.4f | %12.4f | %10llu | %8llu | %6.2f |\n", r.name.c_str(),
              r.steady_keys, r.hit_ratio, r.hit_ratio_after_warmup,
              static_cast<unsigned long long>(r.evicted),
              static_cast<unsigned long long>(r.refused), r.seconds);
}

}  // namespace

int main(int argc, char** argv) {
  Config config;
  if (!ParseArgs(argc, argv, &config)) {
    Usage(argv[0]);
    return 2;
  }
  const uint64_t cache_keys = static_cast<uint64_t>(config.cache_fraction * config.keys);
  std::printf(
      "requests %llu, keys %llu (16-byte keys, 64-byte values), zipf alpha %.3f, "
      "seed %llu, stripes %zu\n",
      static_cast<unsigned long long>(config.requests),
      static_cast<unsigned long long>(config.keys), config.alpha,
      static_cast<unsigned long long>(config.seed), config.stripes);

  auto start = std::chrono::steady_clock::now();
  std::vector<uint32_t> trace = MakeTrace(config);
  const size_t budget = MeasureBudget(config, cache_keys);
  std::printf(
      "max_memory %zu bytes: what %llu keys (%.0f%% of the universe) take, "
      "%.1f bytes per key; trace built in %.2f s\n",
      budget, static_cast<unsigned long long>(cache_keys), config.cache_fraction * 100,
      static_cast<double>(budget) / cache_keys,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  std::printf(
      "read-through: GET, and SET on a miss; hit ratio over all requests and over "
      "those after the first %.0f%%\n\n",
      config.warmup_fraction * 100);

  std::printf("| %-30s | %9s | %9s | %12s | %10s | %8s | %6s |\n", "policy", "keys held",
              "hit ratio", "after warmup", "evicted", "refused", "secs");
  std::printf(
      "|--------------------------------|-----------|-----------|--------------|"
      "------------|----------|--------|\n");
  std::vector<RunResult> results;
  const EvictionPolicy policies[] = {EvictionPolicy::kAllKeysLru, EvictionPolicy::kAllKeysRandom,
                                     EvictionPolicy::kAllKeysSieve, EvictionPolicy::kVolatileLru,
                                     EvictionPolicy::kVolatileTtl};
  double lru_steady_keys = 0;
  for (EvictionPolicy policy : policies) {
    RunResult r = RunStore(config, trace, policy, budget);
    if (policy == EvictionPolicy::kAllKeysLru) lru_steady_keys = r.steady_keys;
    PrintRow(r);
    std::fflush(stdout);
  }
  PrintRow(RunExactLru(config, trace, static_cast<size_t>(std::llround(lru_steady_keys))));
  std::printf(
      "\nkeys held: mean Store::size() over the second half of the trace (for the "
      "exact LRU, its capacity: the allkeys-lru figure).\n"
      "refused: SETs that returned kResourceExhausted.\n");
  return 0;
}
