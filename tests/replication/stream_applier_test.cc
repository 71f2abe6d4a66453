// StreamApplier on the collection commands a Redis primary propagates in its own forms:
// each one, applied to a replica's store, must leave what the command left on the
// primary (here: the same call through the public collection API on a twin store). The
// ZADD options are checked on random inputs. Set MIRRORKV_TEST_SEED to replay.
#include "replication/stream_applier.h"

#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "engine/base/numbers.h"
#include "mirrorkv/collections.h"
#include "tests/store_util.h"
#include "tests/test_seed.h"

namespace mirrorkv {
namespace {

// A sorted set's members and scores, as text.
std::map<std::string, double> Scores(Store& store, std::string_view key) {
  std::map<std::string, double> out;
  EXPECT_TRUE(SortedSets(store)
                  .RangeByRank(key, 0, -1, false,
                               [&](const Element& e) { out[std::string(e.member)] = e.score; })
                  .ok());
  return out;
}

std::vector<std::string> Items(Store& store, std::string_view key) {
  std::vector<std::string> out;
  EXPECT_TRUE(
      Lists(store).Range(key, 0, -1, [&](const Element& e) { out.emplace_back(e.member); }).ok());
  return out;
}

class StreamApplierTest : public ::testing::Test {
 protected:
  StreamApplierTest()
      : replica_(testutil::OpenStore()),
        applier_(*replica_, [] { return Status::Ok(); }),
        skipping_(
            *replica_, [] { return Status::Ok(); }, /*skip_unsupported=*/true) {}

  Status Apply(std::vector<std::string> command, internal::StreamApplier* applier = nullptr) {
    std::vector<std::string_view> args(command.begin(), command.end());
    return (applier != nullptr ? *applier : applier_).ApplyCommand(args, offset_++);
  }

  std::unique_ptr<Store> replica_;
  internal::StreamApplier applier_;
  internal::StreamApplier skipping_;
  uint64_t offset_ = 1;
};

TEST_F(StreamApplierTest, RedisFormsOfListCommands) {
  ASSERT_TRUE(Apply({"RPUSH", "l", "a", "b", "c", "d"}).ok());
  ASSERT_TRUE(Apply({"LPUSHX", "l", "z"}).ok());
  ASSERT_TRUE(Apply({"LPOP", "l"}).ok());
  ASSERT_TRUE(Apply({"LSET", "l", "-1", "last"}).ok());
  ASSERT_TRUE(Apply({"LMOVE", "l", "m", "LEFT", "RIGHT"}).ok());
  ASSERT_TRUE(Apply({"RPOPLPUSH", "l", "m"}).ok());
  ASSERT_TRUE(Apply({"LMOVE", "missing", "m", "LEFT", "RIGHT"}).ok());  // moved nothing
  EXPECT_EQ(Items(*replica_, "l"), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(Items(*replica_, "m"), (std::vector<std::string>{"last", "a"}));
  // Redis would not have propagated an LSET out of range: the copy has diverged.
  Status out_of_range = Apply({"LSET", "l", "-3", "x"});
  EXPECT_EQ(out_of_range.code(), StatusCode::kInvalidArgument) << out_of_range.ToString();
  EXPECT_NE(out_of_range.message().find("out of range"), std::string_view::npos);
  ASSERT_TRUE(Apply({"LSET", "l", "-3", "x"}, &skipping_).ok());
  EXPECT_EQ(skipping_.skipped(), 1u);
  EXPECT_EQ(Items(*replica_, "l"), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(Apply({"LMOVE", "l", "m", "UP", "RIGHT"}).code(), StatusCode::kCorruption);
}

TEST_F(StreamApplierTest, RedisFormsOfHashSetAndSortedSetCommands) {
  ASSERT_TRUE(Apply({"HMSET", "h", "f", "1", "g", "x"}).ok());
  ASSERT_TRUE(Apply({"HSETNX", "h", "new", "v"}).ok());
  ASSERT_TRUE(Apply({"HINCRBY", "h", "f", "41"}).ok());
  ASSERT_TRUE(Apply({"HINCRBY", "h", "absent", "-5"}).ok());
  EXPECT_EQ(*Hashes(*replica_).Get("h", "f"), "42");
  EXPECT_EQ(*Hashes(*replica_).Get("h", "absent"), "-5");
  EXPECT_EQ(*Hashes(*replica_).Get("h", "new"), "v");
  EXPECT_EQ(Apply({"HINCRBY", "h", "g", "1"}).code(), StatusCode::kInvalidArgument);

  ASSERT_TRUE(Apply({"SADD", "s", "a", "b"}).ok());
  ASSERT_TRUE(Apply({"SMOVE", "s", "t", "a"}).ok());
  EXPECT_FALSE(*Sets(*replica_).Contains("s", "a"));
  EXPECT_TRUE(*Sets(*replica_).Contains("t", "a"));

  ASSERT_TRUE(Apply({"ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e"}).ok());
  ASSERT_TRUE(Apply({"ZINCRBY", "z", "0.5", "a"}).ok());
  ASSERT_TRUE(Apply({"ZINCRBY", "z", "7", "new"}).ok());
  ASSERT_TRUE(Apply({"ZPOPMIN", "z"}).ok());
  ASSERT_TRUE(Apply({"ZPOPMAX", "z", "2"}).ok());
  ASSERT_TRUE(Apply({"ZREMRANGEBYRANK", "z", "-1", "-1"}).ok());
  EXPECT_EQ(Scores(*replica_, "z"), (std::map<std::string, double>{{"b", 2}, {"c", 3}}));
  // A command mirrorkv does not translate: named, and the store unchanged.
  Status store_form = Apply({"ZRANGESTORE", "u", "z", "0", "-1"});
  EXPECT_EQ(store_form.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(store_form.message().find("ZRANGESTORE"), std::string_view::npos);
  EXPECT_EQ(TypeOf(*replica_, "u"), KeyType::kNone);
}

TEST_F(StreamApplierTest, RangeRemovalsRenamesCopiesAndSetStores) {
  ASSERT_TRUE(Apply({"ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"}).ok());
  ASSERT_TRUE(Apply({"ZREMRANGEBYSCORE", "z", "(1", "2"}).ok());
  ASSERT_TRUE(Apply({"ZREMRANGEBYSCORE", "z", "4", "+inf"}).ok());
  EXPECT_EQ(Scores(*replica_, "z"), (std::map<std::string, double>{{"a", 1}, {"c", 3}}));
  ASSERT_TRUE(Apply({"ZADD", "lex", "0", "a", "0", "b", "0", "c", "0", "d"}).ok());
  ASSERT_TRUE(Apply({"ZREMRANGEBYLEX", "lex", "(a", "[c"}).ok());
  EXPECT_EQ(Scores(*replica_, "lex"), (std::map<std::string, double>{{"a", 0}, {"d", 0}}));
  EXPECT_EQ(Apply({"ZREMRANGEBYLEX", "lex", "a", "+"}).code(), StatusCode::kCorruption);

  ASSERT_TRUE(Apply({"RPUSH", "l", "x", "y"}).ok());
  ASSERT_TRUE(Apply({"PEXPIREAT", "l", "4000000000000"}).ok());
  ASSERT_TRUE(Apply({"SET", "dst", "old"}).ok());
  ASSERT_TRUE(Apply({"RENAME", "l", "dst"}).ok());
  EXPECT_EQ(TypeOf(*replica_, "l"), KeyType::kNone);
  EXPECT_EQ(Items(*replica_, "dst"), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(replica_->ExpireTime("dst"), 4000000000000);
  ASSERT_TRUE(Apply({"COPY", "dst", "copy", "REPLACE"}).ok());
  EXPECT_EQ(Items(*replica_, "copy"), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(replica_->ExpireTime("copy"), 4000000000000);
  ASSERT_TRUE(Apply({"SET", "s", "v", "PXAT", "4000000000001"}).ok());
  ASSERT_TRUE(Apply({"RENAMENX", "s", "t"}).ok());
  EXPECT_EQ(*replica_->Get("t"), "v");
  EXPECT_EQ(replica_->ExpireTime("t"), 4000000000001);
  EXPECT_EQ(Apply({"COPY", "t", "u", "DB", "1"}).code(), StatusCode::kInvalidArgument);

  ASSERT_TRUE(Apply({"SADD", "s1", "a", "b", "c"}).ok());
  ASSERT_TRUE(Apply({"SADD", "s2", "b", "c", "d"}).ok());
  ASSERT_TRUE(Apply({"SUNIONSTORE", "union", "s1", "s2", "missing"}).ok());
  ASSERT_TRUE(Apply({"SINTERSTORE", "inter", "s1", "s2"}).ok());
  ASSERT_TRUE(Apply({"SDIFFSTORE", "s1", "s1", "s2"}).ok());  // the destination a source
  ASSERT_TRUE(Apply({"SINTERSTORE", "inter2", "s1", "missing"}).ok());
  EXPECT_EQ(*Sets(*replica_).Size("union"), 4u);
  EXPECT_EQ(*Sets(*replica_).Size("inter"), 2u);
  EXPECT_EQ(*Sets(*replica_).Size("s1"), 1u);
  EXPECT_TRUE(*Sets(*replica_).Contains("s1", "a"));
  EXPECT_EQ(TypeOf(*replica_, "inter2"), KeyType::kNone);

  ASSERT_TRUE(Apply({"ZADD", "za", "1", "a", "2", "b", "inf", "c"}).ok());
  ASSERT_TRUE(Apply({"ZADD", "zb", "10", "b", "20", "c", "30", "d"}).ok());
  ASSERT_TRUE(Apply({"ZUNIONSTORE", "zu", "3", "za", "zb", "s2", "WEIGHTS", "2", "1", "0"}).ok());
  EXPECT_EQ(Scores(*replica_, "zu"),
            (std::map<std::string, double>{
                {"a", 2}, {"b", 14}, {"c", std::numeric_limits<double>::infinity()}, {"d", 30}}));
  ASSERT_TRUE(Apply({"ZINTERSTORE", "zi", "2", "za", "zb", "AGGREGATE", "MIN"}).ok());
  EXPECT_EQ(Scores(*replica_, "zi"), (std::map<std::string, double>{{"b", 2}, {"c", 20}}));
  ASSERT_TRUE(Apply({"ZDIFFSTORE", "zd", "2", "za", "zb"}).ok());
  EXPECT_EQ(Scores(*replica_, "zd"), (std::map<std::string, double>{{"a", 1}}));
  EXPECT_EQ(Apply({"ZUNIONSTORE", "zu", "3", "za"}).code(), StatusCode::kCorruption);
}

TEST_F(StreamApplierTest, RelativeCommandsInATransactionSeeTheBlocksEarlierCommands) {
  ASSERT_TRUE(Apply({"MULTI"}).ok());
  ASSERT_TRUE(Apply({"RPUSH", "l", "a", "b", "c"}).ok());
  ASSERT_TRUE(Apply({"LSET", "l", "-1", "last"}).ok());
  ASSERT_TRUE(Apply({"LMOVE", "l", "m", "LEFT", "LEFT"}).ok());
  ASSERT_TRUE(Apply({"HINCRBY", "h", "n", "3"}).ok());
  ASSERT_TRUE(Apply({"HINCRBY", "h", "n", "4"}).ok());
  ASSERT_TRUE(Apply({"ZADD", "z", "NX", "1", "a"}).ok());
  ASSERT_TRUE(Apply({"ZADD", "z", "NX", "5", "a"}).ok());
  EXPECT_EQ(TypeOf(*replica_, "l"), KeyType::kNone);  // nothing before the EXEC
  ASSERT_TRUE(Apply({"EXEC"}).ok());
  EXPECT_EQ(Items(*replica_, "l"), (std::vector<std::string>{"b", "last"}));
  EXPECT_EQ(Items(*replica_, "m"), (std::vector<std::string>{"a"}));
  EXPECT_EQ(*Hashes(*replica_).Get("h", "n"), "7");
  EXPECT_EQ(Scores(*replica_, "z"), (std::map<std::string, double>{{"a", 1}}));
  // A malformed one is refused where it stands, not at the EXEC.
  ASSERT_TRUE(Apply({"MULTI"}).ok());
  EXPECT_EQ(Apply({"HINCRBY", "h", "n", "x"}).code(), StatusCode::kCorruption);
  EXPECT_EQ(Apply({"RENAME", "l"}).code(), StatusCode::kCorruption);
}

// ZADD with options, on random sets and arguments, against SortedSets::Add (what the
// primary did) on a twin store.
TEST_F(StreamApplierTest, ZaddOptionsLeaveWhatTheyLeftOnThePrimary) {
  std::mt19937_64 rng(testutil::TestSeed(17));
  auto primary = testutil::OpenStore();
  const char* members[] = {"a", "b", "c", "d"};
  for (int round = 0; round < 2000; ++round) {
    const std::string key = "z" + std::to_string(round % 20);
    SortedSetAddOptions options;
    std::vector<std::string> command = {"ZADD", key};
    switch (rng() % 4) {  // the combinations Redis accepts
      case 0:
        options.only_if_absent = true;
        command.push_back("NX");
        break;
      case 1:
        options.only_if_present = true;
        command.push_back("XX");
        break;
      default:
        break;
    }
    if (!options.only_if_absent && rng() % 2 == 0) {
      const bool greater = rng() % 2 == 0;
      (greater ? options.only_if_greater : options.only_if_less) = true;
      command.push_back(greater ? "GT" : "LT");
    }
    if (rng() % 3 == 0) command.push_back("CH");
    options.incr = rng() % 4 == 0;
    if (options.incr) command.push_back("INCR");
    std::vector<std::pair<double, std::string_view>> pairs;
    const size_t n = options.incr ? 1 : 1 + rng() % 4;
    for (size_t i = 0; i < n; ++i) {
      const double score = static_cast<double>(static_cast<int>(rng() % 11) - 5) / 2;
      pairs.emplace_back(score, members[rng() % 4]);
      command.push_back(internal::FormatScore(score));
      command.emplace_back(pairs.back().second);
    }
    ASSERT_TRUE(SortedSets(*primary).Add(key, pairs, options).ok());
    ASSERT_TRUE(Apply(command).ok()) << round;
    ASSERT_EQ(Scores(*replica_, key), Scores(*primary, key)) << "round " << round;
  }
}

}  // namespace
}  // namespace mirrorkv
