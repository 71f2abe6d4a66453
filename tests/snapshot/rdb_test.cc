// The RDB writer and reader: CRC-64 and LZF, round trips through WriteRdb and LoadRdb,
// every encoding and opcode Redis writes (hand-made files with correct checksums), the
// refusal or skipping of what mirrorkv does not hold, and every truncation and bit flip
// of a small file rejected with the target store left as it was.
// Set MIRRORKV_TEST_SEED to replay a randomized run.
#include "mirrorkv/rdb.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "mirrorkv/clock.h"
#include "mirrorkv/collections.h"
#include "snapshot/crc64.h"
#include "snapshot/lzf.h"
#include "snapshot/rdb_format.h"
#include "snapshot/snapshot_format.h"
#include "tests/snapshot/test_util.h"

namespace mirrorkv {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using testutil::AllEntries;
using testutil::Contents;
using testutil::Item;
namespace rdb = internal::rdb;

TEST(Crc64Test, CheckValueAndIncrementalUse) {
  EXPECT_EQ(internal::Crc64(0, "123456789"), 0xe9c6d914c4b8d9caULL);
  EXPECT_EQ(internal::Crc64(0, ""), 0u);
  std::mt19937_64 rng(testutil::SeedFromEnv(7));
  const std::string data = testutil::RandomBytes(rng, 1000);
  for (size_t split : {0, 1, 7, 8, 9, 500, 999, 1000}) {
    const std::string_view all(data);
    EXPECT_EQ(internal::Crc64(internal::Crc64(0, all.substr(0, split)), all.substr(split)),
              internal::Crc64(0, all))
        << split;
  }
}

TEST(LzfTest, RoundTripsAndRefusesMalformedInput) {
  std::mt19937_64 rng(testutil::SeedFromEnv(11));
  for (int i = 0; i < 200; ++i) {
    const bool compressible = i % 2 == 0;
    const std::string in = testutil::RandomBytes(rng, 1 + rng() % 20000, compressible);
    std::string out(in.size() + in.size() / 16 + 64, '\0');
    const size_t n = internal::LzfCompress(in, out.data(), out.size());
    ASSERT_GT(n, 0u);
    if (compressible && in.size() > 1000) {
      EXPECT_LT(n, in.size() / 2);
    }
    std::string back(in.size(), '\0');
    ASSERT_TRUE(internal::LzfDecompress({out.data(), n}, back.data(), back.size()));
    EXPECT_EQ(back, in);
    // Every shorter input, and a wrong expected length, is refused without overrun.
    EXPECT_FALSE(internal::LzfDecompress({out.data(), n / 2}, back.data(), back.size()));
    EXPECT_FALSE(internal::LzfDecompress({out.data(), n}, back.data(), back.size() - 1));
  }
  // No room: 0, so the caller stores the input raw.
  const std::string random = testutil::RandomBytes(rng, 100);
  char small[50];
  EXPECT_EQ(internal::LzfCompress(random, small, sizeof(small)), 0u);
  // A back reference before the output's start.
  char out[8];
  EXPECT_FALSE(internal::LzfDecompress(std::string_view("\x20\x05", 2), out, 3));
}

class RdbTest : public ::testing::Test {
 protected:
  RdbTest() {
    options_.stripe_count = 4;
    options_.clock = &clock_;
    options_.active_expiry_interval = 0ms;
    target_ = testutil::OpenStore(options_);
    EXPECT_TRUE(target_->Set("existing", "value").ok());
    baseline_ = AllEntries(*target_);
  }

  Result<RdbLoadInfo> Load(std::string_view bytes, const RdbReadOptions& options = {},
                           bool sized = true, size_t max_read = SIZE_MAX) {
    testutil::TrickleReadableFile source(bytes, max_read, sized);
    Result<RdbLoadInfo> info = LoadRdb(*target_, source, options);
    if (!info.ok()) {
      EXPECT_EQ(AllEntries(*target_), baseline_) << info.status().ToString();
    }
    return info;
  }

  void ExpectRefused(std::string_view bytes, StatusCode code, std::string_view what,
                     const RdbReadOptions& options = {}) {
    for (bool sized : {true, false}) {
      Result<RdbLoadInfo> info = Load(bytes, options, sized, sized ? SIZE_MAX : 3);
      ASSERT_FALSE(info.ok());
      EXPECT_EQ(info.status().code(), code) << info.status().ToString();
      EXPECT_THAT(std::string(info.status().message()), HasSubstr(std::string(what)));
    }
  }

  ManualClock clock_;
  StoreOptions options_;
  std::unique_ptr<Store> target_;
  Contents baseline_;
};

// Builds an RDB byte by byte; Finish appends the end marker and the CRC-64.
class RdbBuilder {
 public:
  explicit RdbBuilder(std::string_view version = "0010") { out_ = "REDIS" + std::string(version); }
  RdbBuilder& Byte(uint8_t b) {
    out_.push_back(static_cast<char>(b));
    return *this;
  }
  RdbBuilder& Op(rdb::Opcode op) { return Byte(static_cast<uint8_t>(op)); }
  RdbBuilder& Length(uint64_t n) {
    char buf[rdb::kMaxLengthBytes];
    out_.append(buf, rdb::PutLength(buf, n));
    return *this;
  }
  RdbBuilder& Raw(std::string_view s) {
    out_.append(s);
    return *this;
  }
  RdbBuilder& String(std::string_view s) { return Length(s.size()).Raw(s); }
  RdbBuilder& Aux(std::string_view k, std::string_view v) {
    return Op(rdb::Opcode::kAux).String(k).String(v);
  }
  RdbBuilder& Key(std::string_view k, std::string_view v) { return Byte(0).String(k).String(v); }
  std::string Finish(bool checksum = true) {
    Op(rdb::Opcode::kEof);
    char crc[8];
    internal::snapshot::PutU64(crc, checksum ? internal::Crc64(0, out_) : 0);
    return out_ + std::string(crc, 8);
  }

 private:
  std::string out_;
};

TEST_F(RdbTest, WriteThenLoadRoundTripsEveryKeyAndDeadline) {
  std::mt19937_64 rng(testutil::SeedFromEnv(3));
  Contents contents = testutil::RandomContents(rng, 3000, 300, clock_.NowMillis());
  // Integers in every width the writer encodes specially, and their non-canonical lookalikes.
  for (const char* v : {"0", "-1", "127", "-128", "128", "32767", "-32768", "32768", "2147483647",
                        "-2147483648", "2147483648", "007", "+5", "-0", "12345678901"}) {
    contents[std::string("int:") + v] = Item{v, 0};
  }
  contents["expired"] = Item{"gone", clock_.NowMillis() - 1};
  auto source = testutil::OpenStore(options_);
  testutil::Fill(*source, contents);
  for (bool compress : {true, false}) {
    std::string bytes;
    StringWritableFile sink(&bytes);
    RdbWriteOptions options;
    options.compress = compress;
    options.position = {std::string(40, 'a'), 12345};
    Result<SnapshotInfo> written = WriteRdb(*source, sink, options);
    ASSERT_TRUE(written.ok()) << written.status().ToString();
    EXPECT_EQ(written->entries, contents.size() - 1);
    EXPECT_EQ(written->expired, 1u);
    EXPECT_EQ(written->bytes, bytes.size());
    EXPECT_TRUE(LooksLikeRdb(bytes));
    EXPECT_EQ(bytes.substr(0, 9), "REDIS0010");

    Result<RdbLoadInfo> loaded = Load(bytes, {}, /*sized=*/compress, compress ? SIZE_MAX : 7);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    Contents expected = contents;
    expected.erase("expired");
    EXPECT_EQ(AllEntries(*target_), expected);
    EXPECT_EQ(loaded->keys, expected.size());
    EXPECT_EQ(loaded->version, 10);
    EXPECT_EQ(loaded->position, options.position);
    EXPECT_EQ(loaded->bytes, bytes.size());
  }
}

// The RDB encodings of the collection types are not written yet: a store that holds one
// is refused, naming it, rather than written without it (a Redis replica synced from such
// an RDB would lack the key, then apply its later effects to nothing).
TEST_F(RdbTest, AStoreWithCollectionsIsRefusedNotWrittenWithoutThem) {
  auto source = testutil::OpenStore(options_);
  ASSERT_TRUE(source->Set("plain", "v").ok());
  const std::string_view items[] = {"a", "b"};
  ASSERT_TRUE(Lists(*source).Push("queue", ListEnd::kRight, items).ok());
  std::string bytes;
  StringWritableFile sink(&bytes);
  Result<SnapshotInfo> written = WriteRdb(*source, sink, {});
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(written.status().message()), HasSubstr("1 such keys, the first 'queue'"));
}

TEST_F(RdbTest, EveryStringEncodingAndOpcode) {
  const int64_t later_ms = clock_.NowMillis() + 60'000;
  char ms[8];
  internal::snapshot::PutU64(ms, static_cast<uint64_t>(later_ms));
  char seconds[4];
  internal::snapshot::PutU32(seconds, static_cast<uint32_t>(later_ms / 1000 + 1));
  const std::string text(300, 'x');
  std::string lzf(400, '\0');
  lzf.resize(internal::LzfCompress(text, lzf.data(), lzf.size()));
  const std::string bytes = RdbBuilder()
                                .Aux("redis-ver", "7.0.15")
                                .Aux("unknown-field", "ignored")
                                .Op(rdb::Opcode::kModuleAux)
                                .Length(12345)
                                .Length(2)
                                .Length(2)  // module id, "when" as an unsigned int
                                .Length(1)
                                .Length(7)
                                .Length(3)
                                .Raw("abcd")
                                .Length(4)
                                .Raw("12345678")
                                .Length(5)
                                .String("s")
                                .Length(0)  // typed module items, then the end
                                .Op(rdb::Opcode::kSelectDb)
                                .Length(0)
                                .Op(rdb::Opcode::kResizeDb)
                                .Length(7)
                                .Length(2)
                                .Key("raw", "plain value")
                                .Byte(0)
                                .String("i8")
                                .Byte(0xc0)
                                .Byte(0x85)  // -123
                                .Byte(0)
                                .String("i16")
                                .Byte(0xc1)
                                .Raw(std::string("\x39\x30", 2))  // 12345
                                .Byte(0)
                                .String("i32")
                                .Byte(0xc2)
                                .Raw(std::string("\x00\x00\x00\x80", 4))  // INT32_MIN
                                .Byte(0)
                                .String("lzf")
                                .Byte(0xc3)
                                .Length(lzf.size())
                                .Length(text.size())
                                .Raw(lzf)
                                .Op(rdb::Opcode::kExpireTimeMs)
                                .Raw({ms, 8})
                                .Key("ttl-ms", "a")
                                .Op(rdb::Opcode::kExpireTime)
                                .Raw({seconds, 4})
                                .Key("ttl-s", "b")
                                .Op(rdb::Opcode::kIdle)
                                .Length(1000)
                                .Op(rdb::Opcode::kFreq)
                                .Byte(5)
                                .Key("lru", "c")
                                .Finish();
  Result<RdbLoadInfo> info = Load(bytes);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->redis_version, "7.0.15");
  EXPECT_EQ(info->keys, 8u);
  Contents expected{{"raw", {"plain value", 0}},
                    {"i8", {"-123", 0}},
                    {"i16", {"12345", 0}},
                    {"i32", {"-2147483648", 0}},
                    {"lzf", {text, 0}},
                    {"ttl-ms", {"a", later_ms}},
                    {"ttl-s", {"b", (later_ms / 1000 + 1) * 1000}},
                    {"lru", {"c", 0}}};
  EXPECT_EQ(AllEntries(*target_), expected);
}

TEST_F(RdbTest, ZeroChecksumMeansNoneAndAWrongOneIsCorrupt) {
  RdbBuilder builder;
  builder.Key("k", "v");
  std::string unchecked = builder.Finish(/*checksum=*/false);
  ASSERT_TRUE(Load(unchecked).ok());
  baseline_ = AllEntries(*target_);
  std::string wrong = unchecked;
  wrong[wrong.size() - 1] = 1;
  ExpectRefused(wrong, StatusCode::kCorruption, "checksum mismatch");
}

TEST_F(RdbTest, OtherTypesAndDatabasesAreRefusedWithTheFirstKeyOrSkippedOnRequest) {
  const std::string bytes = RdbBuilder()
                                .Key("a", "1")
                                .Byte(1)
                                .String("queue")
                                .Length(2)
                                .String("x")
                                .String("y")  // list
                                .Byte(4)
                                .String("h")
                                .Length(1)
                                .String("f")
                                .String("v")  // hash
                                .Op(rdb::Opcode::kSelectDb)
                                .Length(3)
                                .Key("elsewhere", "2")
                                .Op(rdb::Opcode::kFunction2)
                                .String("#!lua name=lib\n...")
                                .Op(rdb::Opcode::kSelectDb)
                                .Length(0)
                                .Key("b", "3")
                                .Finish();
  ExpectRefused(bytes, StatusCode::kInvalidArgument,
                "3 keys of another type than string or in a database other than 0 (the first: "
                "'queue' (list, db 0)) and 1 function libraries");
  RdbReadOptions skip;
  skip.skip_unsupported = true;
  Result<RdbLoadInfo> info = Load(bytes, skip);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->keys, 2u);
  EXPECT_EQ(info->skipped_keys, 3u);
  EXPECT_EQ(info->skipped_functions, 1u);
  EXPECT_EQ(info->first_skipped, "'queue' (list, db 0)");
  EXPECT_EQ(AllEntries(*target_), (Contents{{"a", {"1", 0}}, {"b", {"3", 0}}}));
}

TEST_F(RdbTest, NotAnRdbAndUnsupportedVersions) {
  ExpectRefused("", StatusCode::kCorruption, "the stream is empty");
  ExpectRefused("\x89MKVSNAP and more", StatusCode::kCorruption, "bad magic");
  ExpectRefused("REDIS0011\xff", StatusCode::kCorruption, "unsupported RDB version 11");
  ExpectRefused("REDIS00x1\xff", StatusCode::kCorruption, "not 4 digits");
  ExpectRefused("REDIS001", StatusCode::kCorruption, "truncated");
  ExpectRefused(RdbBuilder().Op(rdb::Opcode::kSelectDb).Byte(0xc3).Finish(),
                StatusCode::kCorruption, "a string encoding in place of a database number");
  ExpectRefused(RdbBuilder().Byte(42).String("k").Finish(), StatusCode::kCorruption,
                "unknown value type 42");
  ExpectRefused(RdbBuilder().Byte(6).String("m").Finish(), StatusCode::kCorruption,
                "cannot be read or skipped");
  // Bytes after the end are refused in a file, left to the caller in a stream.
  const std::string trailing = RdbBuilder().Key("k", "v").Finish() + "+more";
  const std::string path = ::testing::TempDir() + "/trailing.rdb";
  {
    auto file = NewWritableFile(path);
    ASSERT_TRUE(file.ok());
    ASSERT_TRUE((*file)->Append(trailing).ok());
    ASSERT_TRUE((*file)->Close().ok());
  }
  Result<RdbLoadInfo> from_file = LoadRdbFile(*target_, path);
  EXPECT_EQ(from_file.status().code(), StatusCode::kCorruption);
  EXPECT_THAT(std::string(from_file.status().message()), HasSubstr("after the end"));
  EXPECT_TRUE(Load(trailing).ok());
}

TEST_F(RdbTest, LengthsOverTheLimitsOrPastTheEndAreRefusedBeforeAllocating) {
  RdbReadOptions small;
  small.max_value_bytes = 10;
  ExpectRefused(RdbBuilder().Key("k", std::string(11, 'v')).Finish(), StatusCode::kCorruption,
                "over the limit of 10", small);
  // A 4 GiB string claimed by a tiny file.
  ExpectRefused(RdbBuilder().Byte(0).String("k").Length(uint64_t{1} << 32).Finish(),
                StatusCode::kCorruption, "a string value of 4294967296 bytes");
  // LZF whose lengths are impossible, or which does not decode.
  ExpectRefused(
      RdbBuilder().Byte(0).String("k").Byte(0xc3).Length(1).Length(1000).Raw("x").Finish(),
      StatusCode::kCorruption, "impossible LZF lengths");
  ExpectRefused(
      RdbBuilder().Byte(0).String("k").Byte(0xc3).Length(2).Length(5).Raw("\x20\x05").Finish(),
      StatusCode::kCorruption, "does not decompress");
}

TEST_F(RdbTest, EveryTruncationAndEveryBitFlipIsRejected) {
  auto source = testutil::OpenStore(options_);
  std::mt19937_64 rng(testutil::SeedFromEnv(5));
  Contents contents = testutil::RandomContents(rng, 30, 60, clock_.NowMillis());
  contents["number"] = Item{"123456", 0};
  contents["text"] = Item{std::string(100, 'z'), 0};
  testutil::Fill(*source, contents);
  std::string bytes;
  StringWritableFile sink(&bytes);
  ASSERT_TRUE(WriteRdb(*source, sink).ok());
  for (size_t n = 0; n < bytes.size(); ++n) {
    Result<RdbLoadInfo> info = Load(std::string_view(bytes).substr(0, n));
    ASSERT_FALSE(info.ok()) << "truncated to " << n;
    EXPECT_EQ(info.status().code(), StatusCode::kCorruption) << n;
  }
  for (size_t bit = 0; bit < bytes.size() * 8; ++bit) {
    std::string damaged = bytes;
    damaged[bit / 8] = static_cast<char>(damaged[bit / 8] ^ (1 << (bit % 8)));
    Result<RdbLoadInfo> info = Load(damaged);
    ASSERT_FALSE(info.ok()) << "bit " << bit;
  }
  ASSERT_TRUE(Load(bytes).ok());
  EXPECT_EQ(AllEntries(*target_), contents);
}

TEST_F(RdbTest, SaveRdbFileIsAtomicAndLoadsBack) {
  auto source = testutil::OpenStore(options_);
  ASSERT_TRUE(source->Set("k", "v").ok());
  const std::string path = ::testing::TempDir() + "/save.rdb";
  Result<SnapshotInfo> saved = SaveRdbFile(*source, path);
  ASSERT_TRUE(saved.ok()) << saved.status().ToString();
  ASSERT_TRUE(LoadRdbFile(*target_, path).ok());
  EXPECT_EQ(AllEntries(*target_), (Contents{{"k", {"v", 0}}}));
  EXPECT_EQ(LoadRdbFile(*target_, path + ".missing").status().code(), StatusCode::kNotFound);
  RdbWriteOptions bad;
  bad.position.replication_id = "not hex";
  EXPECT_EQ(SaveRdbFile(*source, path, bad).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mirrorkv
