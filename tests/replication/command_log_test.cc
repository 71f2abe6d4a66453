// CommandLog: the encoding of each mutation, offsets, the backlog window, and
// concurrent appends read back while the ring wraps.
#include "replication/command_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <charconv>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "replication/resp.h"
#include "tests/test_seed.h"

namespace mirrorkv::internal {
namespace {

using ::testing::ElementsAre;
using namespace std::chrono_literals;

uint64_t TestSeed() { return testutil::TestSeed(20261126); }

std::vector<std::vector<std::string>> ParseAll(std::string_view stream) {
  std::vector<std::vector<std::string>> commands;
  std::vector<std::string_view> args;
  size_t consumed = 0;
  while (!stream.empty()) {
    Status s = ParseCommand(stream, {}, &args, &consumed);
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (!s.ok() || consumed == 0) break;
    commands.emplace_back(args.begin(), args.end());
    stream.remove_prefix(consumed);
  }
  return commands;
}

std::string ReadAll(const CommandLog& log, uint64_t from) {
  std::string out;
  auto n = log.Read(from, SIZE_MAX, &out);
  EXPECT_TRUE(n.ok()) << n.status().ToString();
  return out;
}

TEST(CommandLogTest, EncodesEveryMutationKindAsRedisDoes) {
  std::string out;
  Mutation set{MutationKind::kSet, MutationCause::kWrite, "k", "v", 0};
  Mutation set_pxat{MutationKind::kSet, MutationCause::kWrite, "k", "v", 1700000000123};
  Mutation del{MutationKind::kDelete, MutationCause::kExpired, "k", {}, 0};
  Mutation expire{MutationKind::kExpireAt, MutationCause::kWrite, "k", {}, 99};
  Mutation persist{MutationKind::kPersist, MutationCause::kWrite, "k", {}, 0};
  Mutation flush{MutationKind::kFlushAll, MutationCause::kWrite, {}, {}, 0};
  for (const Mutation& m : {set, set_pxat, del, expire, persist, flush})
    EncodeMutations({&m, 1}, &out);
  EXPECT_EQ(out,
            "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
            "*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$4\r\nPXAT\r\n$13\r\n1700000000123\r\n"
            "*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n"
            "*3\r\n$9\r\nPEXPIREAT\r\n$1\r\nk\r\n$2\r\n99\r\n"
            "*2\r\n$7\r\nPERSIST\r\n$1\r\nk\r\n"
            "*1\r\n$8\r\nFLUSHALL\r\n");
}

TEST(CommandLogTest, BatchIsWrappedInMultiExec) {
  std::string out;
  Mutation batch[2] = {{MutationKind::kSet, MutationCause::kWrite, "a", "1", 0},
                       {MutationKind::kSet, MutationCause::kWrite, "b", "2", 0}};
  EncodeMutations(batch, &out);
  auto commands = ParseAll(out);
  ASSERT_EQ(commands.size(), 4u);
  EXPECT_THAT(commands[0], ElementsAre("MULTI"));
  EXPECT_THAT(commands[3], ElementsAre("EXEC"));
}

TEST(CommandLogTest, OffsetsCountBytesFromTheStartOffset) {
  CommandLog log(1 << 20, 1000);
  EXPECT_EQ(log.end_offset(), 1000u);
  EXPECT_EQ(log.first_offset(), 1000u);
  EXPECT_EQ(log.Append("*1\r\n$4\r\nPING\r\n"), 1014u);
  Mutation m{MutationKind::kDelete, MutationCause::kWrite, "key", {}, 0};
  log.OnMutations({&m, 1});
  EXPECT_EQ(log.end_offset(), 1014u + 22);
  EXPECT_EQ(ReadAll(log, 1014), "*2\r\n$3\r\nDEL\r\n$3\r\nkey\r\n");
  std::string out;
  EXPECT_EQ(*log.Read(log.end_offset(), 100, &out), 0u);
  EXPECT_EQ(log.Read(log.end_offset() + 1, 100, &out).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(log.Read(999, 100, &out).status().code(), StatusCode::kNotFound);
}

TEST(CommandLogTest, OldBytesFallOutOfTheBacklogExplicitly) {
  CommandLog log(64 << 10, 0);  // four chunks
  std::string record(1000, 'x');
  for (int i = 0; i < 200; ++i) log.Append(record);
  EXPECT_EQ(log.end_offset(), 200000u);
  uint64_t first = log.first_offset();
  EXPECT_GT(first, 200000u - log.capacity());
  EXPECT_LE(first, 200000u - (log.capacity() - 2 * CommandLog::kChunkBytes));
  std::string out;
  EXPECT_TRUE(log.Read(first, SIZE_MAX, &out).ok());
  EXPECT_EQ(out, std::string(200000 - first, 'x'));
  auto gone = log.Read(first - 1, 10, &out);
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(std::string(gone.status().message()), ::testing::HasSubstr("fell out"));
}

TEST(CommandLogTest, OversizedAppendIsCountedButNotServed) {
  CommandLog log(64 << 10, 0);
  log.Append("before");
  log.Append(std::string(100 << 10, 'y'));
  EXPECT_EQ(log.end_offset(), 6u + (100 << 10));
  std::string out;
  EXPECT_EQ(log.Read(0, 10, &out).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(log.first_offset(), log.end_offset());
  log.Append("after");
  EXPECT_EQ(ReadAll(log, 6u + (100 << 10)), "after");
}

TEST(CommandLogTest, OversizedAppendEndingOnAChunkBoundary) {
  // The next append then owns the chunk's first byte and claims it itself.
  CommandLog log(64 << 10, 0);
  log.Append("before");
  log.Append(std::string(5 * CommandLog::kChunkBytes - 6, 'y'));
  ASSERT_EQ(log.end_offset(), 5 * CommandLog::kChunkBytes);
  log.Append("after");
  EXPECT_EQ(ReadAll(log, 5 * CommandLog::kChunkBytes), "after");
}

TEST(CommandLogTest, WaitForDataWakesOnAppendAndTimesOut) {
  CommandLog log(1 << 20, 0);
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(log.WaitForData(0, 20ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
  std::thread writer([&] {
    std::this_thread::sleep_for(10ms);
    log.Append("x");
  });
  EXPECT_TRUE(log.WaitForData(0, 5s));
  writer.join();
  log.Close();
  EXPECT_FALSE(log.WaitForData(1, 5s));  // closed: returns at once
}

// Writers append numbered records concurrently while a reader follows the stream and
// the ring wraps many times. The reader must see each writer's records in order,
// complete, with no byte torn, and must either keep up or learn it fell out.
TEST(CommandLogTest, ConcurrentAppendsArePublishedWholeAndInOrderPerWriter) {
  uint64_t seed = TestSeed();
  constexpr int kWriters = 3;
  constexpr int kRecords = 20000;
  CommandLog log(256 << 10, 0);
  std::atomic<bool> done{false};
  std::vector<std::thread> writers;
  writers.reserve(kWriters);
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937_64 rng(seed + w);
      for (int i = 0; i < kRecords; ++i) {
        std::string key = "w" + std::to_string(w);
        std::string value = std::to_string(i) + ":" + std::string(rng() % 300, 'a' + w);
        Mutation m{MutationKind::kSet, MutationCause::kWrite, key, value, 0};
        log.OnMutations({&m, 1});
      }
    });
  }
  std::thread joiner([&] {
    for (auto& t : writers) t.join();
    done = true;
  });
  // The reader's checks; any failure stops it, and the threads are joined either way.
  std::vector<int> next(kWriters, 0);  // -1: unknown after falling out
  int fell_out = 0;
  std::string failure;
  auto follow = [&] {
    uint64_t pos = 0;
    std::string pending;
    while (true) {
      bool finished = done.load();
      std::string chunk;
      auto n = log.Read(pos, 64 << 10, &chunk);
      if (!n.ok()) {
        if (n.status().code() != StatusCode::kNotFound) return n.status().ToString();
        // Fell behind: continue from the end published now, as a replica would after a
        // full resync; per-writer order is checked again from the next record seen.
        ++fell_out;
        pos = log.end_offset();
        pending.clear();
        next.assign(kWriters, -1);
        continue;
      }
      pos += *n;
      pending += chunk;
      std::vector<std::string_view> args;
      size_t consumed;
      std::string_view view(pending);
      while (true) {
        Status s = ParseCommand(view, {}, &args, &consumed);
        if (!s.ok()) return s.ToString();
        if (consumed == 0) break;
        if (args.size() != 3 || args[1].size() != 2) return std::string("wrong arguments");
        int w = args[1][1] - '0';
        size_t colon = args[2].find(':');
        int i = -1;
        std::from_chars(args[2].data(), args[2].data() + colon, i);
        if (w < 0 || w >= kWriters || colon == std::string_view::npos || i < 0) {
          return "garbled record: " + std::string(args[2].substr(0, 40));
        }
        if (next[w] >= 0 && i != next[w]) {
          return "writer " + std::to_string(w) + ": record " + std::to_string(i) + " where " +
                 std::to_string(next[w]) + " was due";
        }
        next[w] = i + 1;
        for (char c : args[2].substr(colon + 1)) {
          if (c != 'a' + w) return "torn record of writer " + std::to_string(w);
        }
        view.remove_prefix(consumed);
      }
      pending.erase(0, pending.size() - view.size());
      if (finished && pos == log.end_offset()) {
        return pending.empty() ? std::string() : std::string("partial record at the end");
      }
      log.WaitForData(pos, 1ms);
    }
  };
  failure = follow();
  if (!failure.empty()) done = true;
  joiner.join();
  std::printf("reader fell out %d times\n", fell_out);
  ASSERT_EQ(failure, "");
  for (int w = 0; w < kWriters; ++w) {
    // After falling out, a writer that published nothing more is unknown (-1).
    if (fell_out == 0 || next[w] != -1) {
      EXPECT_EQ(next[w], kRecords) << w;
    }
  }
}

// Oversized appends (longer than the ring can keep) among concurrent small ones: no
// writer stalls, every byte counts, and a reader sees only whole records.
TEST(CommandLogTest, OversizedAppendsAmongConcurrentWritersNeitherStallNorTear) {
  uint64_t seed = TestSeed();
  CommandLog log(64 << 10, 0);
  std::atomic<uint64_t> appended{0};
  std::atomic<int> running{3};
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937_64 rng(seed + w);
      for (int i = 0; i < (w == 0 ? 200 : 20000); ++i) {
        // Writer 0 appends records between 48 KiB (the most the ring keeps) and 80 KiB.
        size_t size = w == 0 ? (48 << 10) + rng() % (32 << 10) : rng() % 200;
        std::string record;
        AppendCommand(&record, {"SET", "w" + std::to_string(w), std::string(size, 'a' + w)});
        log.Append(record);
        appended.fetch_add(record.size());
      }
      running.fetch_sub(1);
    });
  }
  std::string failure;
  uint64_t pos = 0;
  std::string pending;
  while (failure.empty()) {
    bool finished = running.load() == 0;
    std::string chunk;
    auto n = log.Read(pos, 1 << 20, &chunk);
    if (!n.ok()) {
      if (n.status().code() != StatusCode::kNotFound) failure = n.status().ToString();
      pos = log.end_offset();  // fell out: start again at a record boundary
      pending.clear();
      continue;
    }
    pos += *n;
    pending += chunk;
    std::vector<std::string_view> args;
    size_t consumed = 0;
    std::string_view view(pending);
    while (failure.empty()) {
      Status parsed = ParseCommand(view, {}, &args, &consumed);
      if (!parsed.ok()) failure = parsed.ToString();
      if (!parsed.ok() || consumed == 0) break;
      char mark = static_cast<char>('a' + (args[1][1] - '0'));
      if (args.size() != 3 || args[2].find_first_not_of(mark) != std::string_view::npos) {
        failure = "torn record";
      }
      view.remove_prefix(consumed);
    }
    pending.erase(0, pending.size() - view.size());
    if (finished && pos == log.end_offset()) break;
    log.WaitForData(pos, 1ms);
  }
  for (auto& t : writers) t.join();
  ASSERT_EQ(failure, "");
  EXPECT_EQ(log.end_offset(), appended.load());
}

// An effect group: the calling thread's changes between BeginGroup and EndGroup are one
// MULTI ... EXEC block; a multi-key batch inside it is not wrapped again; groups nest;
// an empty group logs nothing.
TEST(CommandLogTest, EffectGroupWrapsTheThreadsChangesOnce) {
  CommandLog log(1 << 20, 0);
  Mutation a{MutationKind::kSet, MutationCause::kWrite, "a", "1", 0};
  Mutation batch[2] = {{MutationKind::kSet, MutationCause::kWrite, "b", "2", 0},
                       {MutationKind::kDelete, MutationCause::kWrite, "c", {}, 0}};
  log.BeginGroup();
  log.EndGroup();
  EXPECT_EQ(log.end_offset(), 0u);

  log.BeginGroup();
  log.OnMutations({&a, 1});
  log.BeginGroup();  // nested: part of the outer group
  log.OnMutations(batch);
  log.EndGroup();
  log.OnMutations({&a, 1});
  log.EndGroup();
  log.OnMutations({&a, 1});  // after the group: on its own
  auto commands = ParseAll(ReadAll(log, 0));
  ASSERT_EQ(commands.size(), 7u);
  EXPECT_THAT(commands[0], ElementsAre("MULTI"));
  EXPECT_THAT(commands[1], ElementsAre("SET", "a", "1"));
  EXPECT_THAT(commands[2], ElementsAre("SET", "b", "2"));
  EXPECT_THAT(commands[3], ElementsAre("DEL", "c"));
  EXPECT_THAT(commands[4], ElementsAre("SET", "a", "1"));
  EXPECT_THAT(commands[5], ElementsAre("EXEC"));
  EXPECT_THAT(commands[6], ElementsAre("SET", "a", "1"));
}

// Another thread's change made during a group lands inside it (it is applied at the EXEC),
// and a full resync's start offset waits for the group to end rather than fall inside it.
TEST(CommandLogTest, OffsetOutsideGroupsWaitsForTheOpenGroup) {
  CommandLog log(1 << 20, 0);
  Mutation a{MutationKind::kSet, MutationCause::kWrite, "a", "1", 0};
  Mutation other{MutationKind::kDelete, MutationCause::kExpired, "x", {}, 0};
  log.BeginGroup();
  log.OnMutations({&a, 1});
  std::thread expiry([&] { log.OnMutations({&other, 1}); });
  expiry.join();
  std::atomic<uint64_t> start{0};
  std::atomic<bool> returned{false};
  std::thread resync([&] {
    start = log.OffsetOutsideGroups();
    returned = true;
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(returned.load());  // the group is open: no offset inside it is handed out
  log.OnMutations({&a, 1});
  log.EndGroup();
  resync.join();
  EXPECT_EQ(start.load(), log.end_offset());
  auto commands = ParseAll(ReadAll(log, 0));
  ASSERT_EQ(commands.size(), 5u);
  EXPECT_THAT(commands[0], ElementsAre("MULTI"));
  EXPECT_THAT(commands[2], ElementsAre("DEL", "x"));
  EXPECT_THAT(commands[4], ElementsAre("EXEC"));
}

}  // namespace
}  // namespace mirrorkv::internal
