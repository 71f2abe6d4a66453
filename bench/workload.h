// Workload: the keys, values and random access sequences the mirrorkv benchmark binaries
// share (engine_bench.cc, peer_bench.cc, memory_per_key.cc), so that every figure in
// docs/benchmarks.md is measured on the same 16-byte keys and 16-byte values with the
// same fixed seeds.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string_view>
#include <vector>

namespace mirrorkv::bench {

inline constexpr size_t kKeyBytes = 16;
inline constexpr size_t kValueBytes = 16;

// Writes `prefix` (4 bytes, e.g. "key:") followed by the low 12 decimal digits of
// `index`, zero-padded, into out[0..16): "key:000000001234". The format Redis users know
// from redis-benchmark, and one every program here (and bench/redis_memory.py) reproduces.
inline void FormatKey(std::string_view prefix, uint64_t index, char* out) {
  std::memcpy(out, prefix.data(), 4);
  for (size_t i = kKeyBytes; i > 4; --i) {
    out[i - 1] = static_cast<char>('0' + index % 10);
    index /= 10;
  }
}

// A set of `count` 16-byte keys held back to back in one buffer: a vector of
// std::string would add one heap block per key (16 bytes do not fit libstdc++'s
// 15-byte inline buffer) and blur every cache-miss-bound measurement.
class KeySet {
 public:
  KeySet(size_t count, std::string_view prefix) : bytes_(count * kKeyBytes) {
    for (size_t i = 0; i < count; ++i) FormatKey(prefix, i, &bytes_[i * kKeyBytes]);
  }
  std::string_view operator[](size_t i) const { return {&bytes_[i * kKeyBytes], kKeyBytes}; }
  size_t size() const { return bytes_.size() / kKeyBytes; }

 private:
  std::vector<char> bytes_;
};

// `count` indices drawn uniformly from [0, bound) by a generator seeded with `seed`.
// Benchmarks walk such a stream instead of drawing numbers in the timed loop, so the
// loop measures the table and not the random number generator.
inline std::vector<uint32_t> UniformIndices(size_t count, size_t bound, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<uint32_t> pick(0, static_cast<uint32_t>(bound - 1));
  std::vector<uint32_t> indices(count);
  for (uint32_t& index : indices) index = pick(rng);
  return indices;
}

// Removes `--<name>=<N>` from argv (so Google Benchmark does not reject it) and returns
// N, or `fallback` when the flag is absent. Exits with a message on a malformed value.
inline size_t TakeSizeFlag(std::string_view name, size_t fallback, int* argc, char** argv) {
  size_t result = fallback;
  int kept = 1;
  for (int i = 1; i < *argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.size() > name.size() + 3 && arg.substr(0, 2) == "--" &&
        arg.substr(2, name.size()) == name && arg[name.size() + 2] == '=') {
      const std::string_view text = arg.substr(name.size() + 3);
      const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), result);
      if (error != std::errc() || end != text.data() + text.size()) {
        std::fprintf(stderr, "bad value for --%.*s: %s\n", static_cast<int>(name.size()),
                     name.data(), argv[i]);
        std::exit(2);
      }
      continue;
    }
    argv[kept++] = argv[i];
  }
  *argc = kept;
  return result;
}

}  // namespace mirrorkv::bench
