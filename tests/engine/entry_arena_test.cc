// EntryArena: size classes, page reuse and return, and in-place fitness.
#include "engine/entry_arena.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <utility>
#include <vector>

namespace mirrorkv::internal {
namespace {

TEST(EntryArenaTest, ClassesAreEightBytesApartUpToTheSlabLimit) {
  EXPECT_EQ(EntryArena::ClassBytes(1), 8u);
  EXPECT_EQ(EntryArena::ClassBytes(46), 48u);
  EXPECT_EQ(EntryArena::ClassBytes(48), 48u);
  EXPECT_EQ(EntryArena::ClassBytes(256), 256u);
  EXPECT_EQ(EntryArena::ClassBytes(257), 257u);  // large: malloc decides
}

TEST(EntryArenaTest, AllocationsDoNotOverlapAndSurviveChurn) {
  // Random sizes, random frees; every live block keeps its own fill byte.
  uint64_t seed = 20261126;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  EntryArena arena;
  struct Block {
    char* p;
    size_t n;
    size_t usable;
    char fill;
  };
  std::vector<Block> live;
  for (int step = 0; step < 20000; ++step) {
    if (live.empty() || rng() % 3 != 0) {
      size_t n = 9 + rng() % 400;
      size_t usable = 0;
      auto* p = static_cast<char*>(arena.Allocate(n, &usable));
      ASSERT_GE(usable, n);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 8, 0u);
      EXPECT_EQ(EntryArena::UsableBytes(p, n), usable);
      char fill = static_cast<char>(rng());
      std::memset(p, fill, n);
      live.push_back({p, n, usable, fill});
    } else {
      size_t i = rng() % live.size();
      Block b = live[i];
      for (size_t j = 0; j < b.n; ++j) ASSERT_EQ(b.p[j], b.fill) << "block corrupted";
      arena.Free(b.p, b.usable);
      live[i] = live.back();
      live.pop_back();
    }
  }
  for (const Block& b : live) {
    for (size_t j = 0; j < b.n; ++j) ASSERT_EQ(b.p[j], b.fill);
    arena.Free(b.p, b.usable);
  }
}

TEST(EntryArenaTest, EmptyPagesGoBackKeepingOneSparePerClass) {
  EntryArena arena;
  std::vector<std::pair<void*, size_t>> blocks;
  for (int i = 0; i < 10000; ++i) {
    size_t usable;
    void* p = arena.Allocate(48, &usable);
    blocks.emplace_back(p, usable);
  }
  size_t peak = arena.reserved_bytes();
  EXPECT_GE(peak, 10000u * 48);
  for (auto [p, usable] : blocks) arena.Free(p, usable);
#if !defined(MIRRORKV_SANITIZE_ADDRESS) && !defined(MIRRORKV_SANITIZE_THREAD)
  EXPECT_EQ(arena.reserved_bytes(), EntryArena::kPageBytes);  // the spare
  // 48-byte slots fill a page with 84 of them, with less than 2% of it unused.
  EXPECT_LT(peak, 10000u * 48 * 102 / 100 + 2 * EntryArena::kPageBytes);
#else
  EXPECT_EQ(arena.reserved_bytes(), 0u);
#endif
}

TEST(EntryArenaTest, FitsInPlaceKeepsTheClass) {
  EntryArena arena;
  size_t usable;
  void* p = arena.Allocate(46, &usable);
#if !defined(MIRRORKV_SANITIZE_ADDRESS) && !defined(MIRRORKV_SANITIZE_THREAD)
  EXPECT_TRUE(EntryArena::FitsInPlace(p, 46, 41));
  EXPECT_FALSE(EntryArena::FitsInPlace(p, 46, 40));  // a smaller class
  EXPECT_FALSE(EntryArena::FitsInPlace(p, 46, 49));
#endif
  arena.Free(p, usable);
  void* big = arena.Allocate(1000, &usable);
  EXPECT_TRUE(EntryArena::FitsInPlace(big, 1000, usable));
  EXPECT_FALSE(EntryArena::FitsInPlace(big, 1000, usable + 1));
#if !defined(MIRRORKV_SANITIZE_ADDRESS) && !defined(MIRRORKV_SANITIZE_THREAD)
  EXPECT_FALSE(EntryArena::FitsInPlace(big, 1000, 100));  // would change to a slab class
#endif
  arena.Free(big, usable);
}

}  // namespace
}  // namespace mirrorkv::internal
