// RequestParser and SplitArgsInPlace: well-formed requests in every split, Redis's exact
// errors for malformed ones, the limits, and random input that must never crash.
#include "server/resp_parser.h"

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mirrorkv::server {
namespace {

using ::testing::ElementsAre;

class RequestParserTest : public ::testing::Test {
 protected:
  // Feeds `bytes` in chunks of `chunk` bytes and collects every command parsed.
  std::vector<std::vector<std::string>> Feed(std::string_view bytes, size_t chunk = 1 << 20) {
    std::vector<std::vector<std::string>> commands;
    for (size_t at = 0; at < bytes.size();) {
      std::span<char> space = parser_.ReadSpace();
      size_t n = std::min({chunk, space.size(), bytes.size() - at});
      std::memcpy(space.data(), bytes.data() + at, n);
      parser_.CommitRead(n);
      at += n;
      Drain(&commands);
      if (failed_) break;
    }
    return commands;
  }

  void Drain(std::vector<std::vector<std::string>>* commands) {
    while (true) {
      auto outcome = parser_.Next(limits_, authenticated_, &args_);
      if (outcome == RequestParser::Outcome::kNeedMore) return;
      if (outcome == RequestParser::Outcome::kError) {
        failed_ = true;
        return;
      }
      commands->emplace_back(args_.begin(), args_.end());
    }
  }

  RequestParser parser_;
  ParserLimits limits_;
  bool authenticated_ = true;
  bool failed_ = false;
  std::vector<std::string_view> args_;
};

TEST_F(RequestParserTest, ParsesMultibulkCommands) {
  auto commands = Feed("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n*1\r\n$4\r\nPING\r\n");
  EXPECT_FALSE(failed_);
  EXPECT_THAT(commands, ElementsAre(ElementsAre("SET", "k", "value"), ElementsAre("PING")));
}

TEST_F(RequestParserTest, EverySplitGivesTheSameCommands) {
  // A binary argument (with NUL and CRLF inside), an inline command, an empty
  // multibulk and an empty argument.
  std::string request = std::string("*3\r\n$3\r\nSET\r\n$3\r\na") + '\0' +
                        "b\r\n$4\r\n\r\n\r\n\r\nPING\r\n*0\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n";
  for (size_t chunk = 1; chunk <= request.size(); ++chunk) {
    RequestParser parser;
    std::vector<std::vector<std::string>> commands;
    std::vector<std::string_view> args;
    for (size_t at = 0; at < request.size(); at += chunk) {
      std::span<char> space = parser.ReadSpace();
      size_t n = std::min(chunk, request.size() - at);
      std::memcpy(space.data(), request.data() + at, n);
      parser.CommitRead(n);
      while (parser.Next({}, true, &args) == RequestParser::Outcome::kCommand) {
        commands.emplace_back(args.begin(), args.end());
      }
    }
    ASSERT_EQ(commands.size(), 3u) << "chunk " << chunk;
    EXPECT_EQ(commands[0][1], std::string("a\0b", 3));
    EXPECT_EQ(commands[0][2], "\r\n\r\n");
    EXPECT_THAT(commands[1], ElementsAre("PING"));
    EXPECT_THAT(commands[2], ElementsAre("ECHO", ""));
  }
}

TEST_F(RequestParserTest, ParsesInlineCommands) {
  auto commands = Feed("PING\r\n\r\nSET k  v\n  ECHO \"a\\x41\\tb\" 'it\\'s'\r\n");
  EXPECT_FALSE(failed_);
  EXPECT_THAT(commands, ElementsAre(ElementsAre("PING"), ElementsAre("SET", "k", "v"),
                                    ElementsAre("ECHO", "aA\tb", "it's")));
}

TEST_F(RequestParserTest, LargeBulkArrivesInPlace) {
  std::string value(5 << 20, 'x');
  std::string request =
      "*2\r\n$4\r\nECHO\r\n$" + std::to_string(value.size()) + "\r\n" + value + "\r\n";
  auto commands = Feed(request, 64 * 1024);
  ASSERT_EQ(commands.size(), 1u);
  EXPECT_EQ(commands[0][1].size(), value.size());
  parser_.ShrinkIfIdle();
  EXPECT_EQ(parser_.capacity(), 0u);
}

struct BadInput {
  std::string name;  // the test's name suffix
  std::string bytes;
  std::string error;
};

class RequestParserErrorTest : public RequestParserTest,
                               public ::testing::WithParamInterface<BadInput> {};

TEST_P(RequestParserErrorTest, ReportsRedisError) {
  Feed(GetParam().bytes);
  EXPECT_TRUE(failed_);
  EXPECT_EQ(parser_.error(), GetParam().error);
  // The parser stays failed.
  EXPECT_EQ(parser_.Next(limits_, true, &args_), RequestParser::Outcome::kError);
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, RequestParserErrorTest,
    ::testing::Values(
        BadInput{"HugeCount", "*99999999999\r\n", "ERR Protocol error: invalid multibulk length"},
        BadInput{"CountOverIntMax", "*2147483648\r\n",
                 "ERR Protocol error: invalid multibulk length"},
        BadInput{"LetterCount", "*a\r\n", "ERR Protocol error: invalid multibulk length"},
        BadInput{"LeadingZeroCount", "*01\r\n", "ERR Protocol error: invalid multibulk length"},
        BadInput{"NegativeBulk", "*1\r\n$-5\r\n", "ERR Protocol error: invalid bulk length"},
        BadInput{"NullBulk", "*1\r\n$-1\r\n", "ERR Protocol error: invalid bulk length"},
        BadInput{"BulkOverLimit", "*1\r\n$600000000\r\n",
                 "ERR Protocol error: invalid bulk length"},
        BadInput{"MissingDollar", "*1\r\nx4\r\n", "ERR Protocol error: expected '$', got 'x'"},
        BadInput{"NewlineForDollar", "*1\r\n\n\r\n", "ERR Protocol error: expected '$', got ' '"},
        BadInput{"UnbalancedQuotes", "PING \"a\r\n",
                 "ERR Protocol error: unbalanced quotes in request"},
        BadInput{"TextAfterQuote", "ECHO \"a\"b\r\n",
                 "ERR Protocol error: unbalanced quotes in request"},
        BadInput{"NulInInline", std::string("SET k v\0x\r\n", 11),
                 "ERR Protocol error: NUL byte in inline request"},
        BadInput{"TooBigInline", std::string(70000, 'a'),
                 "ERR Protocol error: too big inline request"},
        BadInput{"TooBigCount", "*" + std::string(70000, '1'),
                 "ERR Protocol error: too big mbulk count string"},
        BadInput{"TooBigBulkCount", "*1\r\n$" + std::string(70000, '1'),
                 "ERR Protocol error: too big bulk count string"}),
    [](const ::testing::TestParamInfo<BadInput>& info) { return info.param.name; });

TEST_F(RequestParserTest, UnauthenticatedLimits) {
  authenticated_ = false;
  Feed("*11\r\n");
  EXPECT_EQ(parser_.error(), "ERR Protocol error: unauthenticated multibulk length");

  RequestParser other;
  std::span<char> space = other.ReadSpace();
  std::string bytes = "*1\r\n$16385\r\n";
  std::memcpy(space.data(), bytes.data(), bytes.size());
  other.CommitRead(bytes.size());
  EXPECT_EQ(other.Next({}, false, &args_), RequestParser::Outcome::kError);
  EXPECT_EQ(other.error(), "ERR Protocol error: unauthenticated bulk length");
}

TEST_F(RequestParserTest, QueryBufferLimit) {
  limits_.max_query_buffer = 1 << 20;
  Feed("*1\r\n$2000000\r\n" + std::string(1100000, 'x'), 64 * 1024);
  EXPECT_TRUE(failed_);
  EXPECT_TRUE(parser_.query_buffer_overflow());
  EXPECT_EQ(parser_.error(), "ERR Protocol error: client query buffer limit exceeded");
}

TEST_F(RequestParserTest, AnnouncedHugeBulkDoesNotAllocateItUpFront) {
  limits_.max_bulk_len = 512ll << 20;
  Feed("*1\r\n$536870000\r\nabc");
  EXPECT_FALSE(failed_);
  EXPECT_LE(parser_.capacity(), 64u << 20);
}

TEST_F(RequestParserTest, RandomInputNeverCrashes) {
  std::mt19937 rng(42);
  const std::string kPieces[] = {"*",   "$",    "\r\n", "\r",   "\n",
                                 "-1",  "0",    "3",    "12",   "\"",
                                 "'",   "\\x4", " ",    "PING", std::string(1, '\0'),
                                 "\xff"};
  for (int round = 0; round < 2000; ++round) {
    RequestParser parser;
    std::string bytes;
    int pieces = std::uniform_int_distribution<int>(1, 30)(rng);
    for (int i = 0; i < pieces; ++i) bytes += kPieces[rng() % std::size(kPieces)];
    size_t at = 0;
    std::vector<std::string_view> args;
    while (at < bytes.size()) {
      std::span<char> space = parser.ReadSpace();
      ASSERT_FALSE(space.empty());
      size_t n = std::min<size_t>(1 + rng() % 7, bytes.size() - at);
      std::memcpy(space.data(), bytes.data() + at, n);
      parser.CommitRead(n);
      at += n;
      RequestParser::Outcome outcome;
      while ((outcome = parser.Next({}, rng() % 2, &args)) == RequestParser::Outcome::kCommand) {
        ASSERT_FALSE(args.empty());
      }
      if (outcome == RequestParser::Outcome::kError) break;
    }
  }
}

TEST(SplitArgsTest, FollowsSdsSplitArgs) {
  auto split = [](std::string line, bool* ok) {
    std::vector<std::string_view> views;
    *ok = SplitArgsInPlace({line.data(), line.size()}, &views);
    return std::vector<std::string>(views.begin(), views.end());
  };
  bool ok;
  EXPECT_THAT(split("  a  b\tc ", &ok), ElementsAre("a", "b", "c"));
  EXPECT_TRUE(ok);
  EXPECT_THAT(split("\"\\x41\\x4\\n\\\"\" ''", &ok), ElementsAre("Ax4\n\"", ""));
  EXPECT_TRUE(ok);
  EXPECT_THAT(split("a\"b c\" d", &ok), ElementsAre("ab c", "d"));
  EXPECT_TRUE(ok);
  split("\"unterminated", &ok);
  EXPECT_FALSE(ok);
  split("'x'y", &ok);
  EXPECT_FALSE(ok);
  EXPECT_THAT(split(std::string("a b\0c d", 7), &ok), ElementsAre("a", "b"));  // NUL ends it
  EXPECT_TRUE(ok);
}

}  // namespace
}  // namespace mirrorkv::server
