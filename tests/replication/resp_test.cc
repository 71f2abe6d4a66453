// RESP encoding and the command parser: whole, partial and malformed input.
#include "replication/resp.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mirrorkv::internal {
namespace {

using ::testing::ElementsAre;

TEST(RespTest, EncodesCommandsAsArraysOfBulks) {
  std::string out;
  AppendCommand(&out, {"SET", "k", std::string_view("a\0b", 3)});
  EXPECT_EQ(out, std::string("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\na\0b\r\n", 29));
  out.clear();
  AppendBulkInt(&out, -42);
  EXPECT_EQ(out, "$3\r\n-42\r\n");
}

TEST(RespTest, ParsesPipelinedCommandsAndEveryPrefixAsIncomplete) {
  std::string input;
  AppendCommand(&input, {"SET", "key", "value"});
  AppendCommand(&input, {"DEL", ""});
  std::vector<std::string_view> args;
  size_t consumed = 0;
  for (size_t cut = 0; cut < 33; ++cut) {  // every strict prefix of the first command
    ASSERT_TRUE(ParseCommand(std::string_view(input).substr(0, cut), {}, &args, &consumed).ok());
    EXPECT_EQ(consumed, 0u) << cut;
  }
  ASSERT_TRUE(ParseCommand(input, {}, &args, &consumed).ok());
  EXPECT_THAT(args, ElementsAre("SET", "key", "value"));
  ASSERT_TRUE(ParseCommand(std::string_view(input).substr(consumed), {}, &args, &consumed).ok());
  EXPECT_THAT(args, ElementsAre("DEL", ""));
}

TEST(RespTest, RejectsMalformedInputWithPosition) {
  std::vector<std::string_view> args;
  size_t consumed;
  for (std::string bad : std::initializer_list<std::string>{
           "+OK\r\n", "*0\r\n", "*-1\r\n", "*1\r\n:5\r\n", "*1\r\n$-1\r\n", "*1\r\n$3\r\nabcXY",
           "*x\r\n", "*1\r\n$01\r\na\r\n", "*1" + std::string(40, '1')}) {
    Status s = ParseCommand(bad, {}, &args, &consumed);
    EXPECT_EQ(s.code(), StatusCode::kCorruption) << bad;
    EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("at byte")) << bad;
  }
}

TEST(RespTest, LengthsRoundTripAtEveryDigitCount) {
  // The writer and the parser special-case short lengths: cover each side of them.
  for (size_t size : {0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 12345, 100000}) {
    SCOPED_TRACE(size);
    const std::string value(size, 'v');
    const std::vector<std::string_view> command = {"SET", "k", value};
    std::string input;
    AppendCommand(&input, {"SET", "k", value});
    EXPECT_EQ(input.size(), CommandSize(std::span(command)));
    std::vector<std::string_view> args;
    size_t consumed = 0;
    ASSERT_TRUE(ParseCommand(input, {}, &args, &consumed).ok());
    EXPECT_EQ(consumed, input.size());
    ASSERT_EQ(args.size(), 3u);
    EXPECT_EQ(args[2], value);
  }
}

TEST(RespTest, RejectsNonCanonicalAndOverlongIntegers) {
  std::vector<std::string_view> args;
  size_t consumed = 0;
  for (std::string bad : std::initializer_list<std::string>{
           "*-0\r\n", "*1a\r\n", "* 1\r\n", "*1\rX", "*\r\n", "*1\r\n$1a\r\n", "*1\r\n$00\r\n",
           "*1\r\n$+1\r\n",
           "*1\r\n$99999999999999999999\r\n",    // 20 digits: beyond int64
           "*1\r\n$" + std::string(21, '1')}) {  // no integer is this long
    EXPECT_EQ(ParseCommand(bad, {}, &args, &consumed).code(), StatusCode::kCorruption) << bad;
  }
  // Nineteen digits parse (and are then refused as too long a bulk, not as malformed).
  EXPECT_EQ(ParseCommand("*1\r\n$9223372036854775807\r\n", {}, &args, &consumed).code(),
            StatusCode::kInvalidArgument);
  // A header cut in the middle of its digits is incomplete, not malformed.
  ASSERT_TRUE(ParseCommand("*1\r\n$12345", {}, &args, &consumed).ok());
  EXPECT_EQ(consumed, 0u);
}

TEST(RespTest, EnforcesLimitsBeforeBuffering) {
  std::vector<std::string_view> args;
  size_t consumed;
  RespLimits limits{.max_bulk_bytes = 10, .max_arguments = 2};
  EXPECT_EQ(ParseCommand("*3\r\n", limits, &args, &consumed).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseCommand("*1\r\n$11\r\n", limits, &args, &consumed).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseCommand("*1\r\n$600000000\r\n", {}, &args, &consumed).code(),
            StatusCode::kInvalidArgument);
  size_t needed = 0;
  ASSERT_TRUE(ParseCommand("*1\r\n$10\r\nabc", limits, &args, &consumed, &needed).ok());
  EXPECT_EQ(needed, 21u);
}

TEST(RespTest, ReadLineSplitsAtCrLf) {
  std::string_view line;
  size_t consumed;
  EXPECT_FALSE(ReadLine("+FULLRESYNC abc 0", &line, &consumed));
  ASSERT_TRUE(ReadLine("+OK\r\nrest", &line, &consumed));
  EXPECT_EQ(line, "+OK");
  EXPECT_EQ(consumed, 5u);
}

}  // namespace
}  // namespace mirrorkv::internal
