// ReplyBuilder: every reply type in RESP2 and RESP3, and error sanitizing.
#include "server/reply_builder.h"

#include <string>

#include "gtest/gtest.h"

namespace mirrorkv::server {
namespace {

TEST(ReplyBuilderTest, Resp2Encodings) {
  std::string out;
  ReplyBuilder reply(&out);
  reply.Ok();
  reply.SimpleString("PONG");
  reply.Error("ERR bad\r\nthing");
  reply.Integer(0);
  reply.Integer(-9223372036854775807 - 1);
  reply.Bulk(std::string("a\0b", 3));
  reply.Bulk("");
  reply.Null();
  reply.NullArray();
  reply.ArrayHeader(2);
  reply.MapHeader(2);
  reply.SetHeader(3);
  reply.PushHeader(3);
  reply.Verbatim("text");
  reply.Double(1.5);
  using namespace std::string_literals;
  EXPECT_EQ(out,
            "+OK\r\n+PONG\r\n-ERR bad  thing\r\n:0\r\n:-9223372036854775808\r\n$3\r\na\0b\r\n"
            "$0\r\n\r\n$-1\r\n*-1\r\n*2\r\n*4\r\n*3\r\n*3\r\n$4\r\ntext\r\n$3\r\n1.5\r\n"s);
  EXPECT_EQ(reply.errors(), 1u);
}

TEST(ReplyBuilderTest, Resp3Encodings) {
  std::string out;
  ReplyBuilder reply(&out, 3);
  reply.Null();
  reply.NullArray();
  reply.MapHeader(2);
  reply.SetHeader(3);
  reply.PushHeader(3);
  reply.Verbatim("text");
  reply.Double(1.5);
  reply.ArrayHeader(1);
  EXPECT_EQ(out, "_\r\n_\r\n%2\r\n~3\r\n>3\r\n=8\r\ntxt:text\r\n,1.5\r\n*1\r\n");
}

TEST(ReplyBuilderTest, AppendsWithoutClearing) {
  std::string out = "prefix";
  ReplyBuilder reply(&out);
  reply.Integer(42);
  EXPECT_EQ(out, "prefix:42\r\n");
}

}  // namespace
}  // namespace mirrorkv::server
