// The RDB writer and reader: CRC-64 and LZF, round trips through WriteRdb and LoadRdb of
// strings and collections, every encoding and opcode Redis writes (hand-made files with
// correct checksums, collections in every packed encoding), malformed collections, the
// refusal or skipping of what mirrorkv does not hold, and every truncation and bit flip
// of a small file rejected with the target store left as it was.
// Set MIRRORKV_TEST_SEED to replay a randomized run.
#include "mirrorkv/rdb.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <vector>

#include "engine/base/numbers.h"
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

// Every key of `store` described with its type, deadline and elements (a set's and a
// hash's sorted, a list's and a sorted set's in order), each element length-prefixed.
std::string Describe(Store& store, std::string_view key) {
  std::string out = std::string(KeyTypeName(TypeOf(store, key))) + " deadline " +
                    std::to_string(store.ExpireTime(key)) + ":";
  std::vector<std::string> parts;
  const auto add = [&parts](std::string_view a, std::string_view b = {}) {
    parts.push_back(std::to_string(a.size()) + "=" + std::string(a) + "/" +
                    std::to_string(b.size()) + "=" + std::string(b));
  };
  switch (TypeOf(store, key)) {
    case KeyType::kString:
      add(*store.Get(key));
      break;
    case KeyType::kList:
      EXPECT_TRUE(Lists(store).Range(key, 0, -1, [&](const Element& e) { add(e.member); }).ok());
      break;
    case KeyType::kSet:
      EXPECT_TRUE(Sets(store).Members(key, [&](const Element& e) { add(e.member); }).ok());
      std::sort(parts.begin(), parts.end());
      break;
    case KeyType::kHash:
      EXPECT_TRUE(
          Hashes(store).GetAll(key, [&](const Element& e) { add(e.member, e.value); }).ok());
      std::sort(parts.begin(), parts.end());
      break;
    case KeyType::kSortedSet:
      EXPECT_TRUE(SortedSets(store)
                      .RangeByRank(key, 0, -1, false,
                                   [&](const Element& e) {
                                     char score[64];
                                     std::snprintf(score, sizeof(score), "%.17g", e.score);
                                     add(e.member, score);
                                   })
                      .ok());
      break;
    case KeyType::kNone:
      break;
  }
  for (const std::string& part : parts) out += " " + part;
  return out;
}

std::map<std::string, std::string> Typed(Store& store) {
  std::map<std::string, std::string> out;
  uint64_t cursor = 0;
  do {
    ScanPage page = store.Scan(cursor, {.count = 1000});
    for (const std::string& key : page.keys) out[key] = Describe(store, key);
    cursor = page.cursor;
  } while (cursor != 0);
  return out;
}

void PutLe(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

// The packed encodings, built as Redis builds them: integers in canonical decimal form
// are stored as integers, in the narrowest width.
std::string Listpack(const std::vector<std::string>& elements) {
  std::string body;
  for (const std::string& e : elements) {
    std::string entry;
    int64_t v;
    if (internal::ParseInt64(e, &v)) {
      if (v >= 0 && v <= 127) {
        entry.push_back(static_cast<char>(v));
      } else if (v >= -4096 && v <= 4095) {
        entry.push_back(static_cast<char>(0xc0 | ((v >> 8) & 0x1f)));
        entry.push_back(static_cast<char>(v & 0xff));
      } else if (v >= INT16_MIN && v <= INT16_MAX) {
        entry.push_back('\xf1');
        PutLe(&entry, static_cast<uint64_t>(v), 2);
      } else if (v >= -(1 << 23) && v < (1 << 23)) {
        entry.push_back('\xf2');
        PutLe(&entry, static_cast<uint64_t>(v), 3);
      } else if (v >= INT32_MIN && v <= INT32_MAX) {
        entry.push_back('\xf3');
        PutLe(&entry, static_cast<uint64_t>(v), 4);
      } else {
        entry.push_back('\xf4');
        PutLe(&entry, static_cast<uint64_t>(v), 8);
      }
    } else if (e.size() < 64) {
      entry.push_back(static_cast<char>(0x80 | e.size()));
      entry += e;
    } else if (e.size() < 4096) {
      entry.push_back(static_cast<char>(0xe0 | (e.size() >> 8)));
      entry.push_back(static_cast<char>(e.size() & 0xff));
      entry += e;
    } else {
      entry.push_back('\xf0');
      PutLe(&entry, e.size(), 4);
      entry += e;
    }
    const uint64_t l = entry.size();
    std::string back;
    if (l <= 127) {
      back.push_back(static_cast<char>(l));
    } else {
      back.push_back(static_cast<char>(l >> 7));
      back.push_back(static_cast<char>((l & 127) | 128));
    }
    body += entry + back;
  }
  std::string out;
  PutLe(&out, 6 + body.size() + 1, 4);
  PutLe(&out, elements.size(), 2);
  return out + body + "\xff";
}

std::string Ziplist(const std::vector<std::string>& elements) {
  std::string body;
  size_t previous = 0;
  size_t last = 10;
  for (const std::string& e : elements) {
    std::string entry;
    if (previous < 254) {
      entry.push_back(static_cast<char>(previous));
    } else {
      entry.push_back('\xfe');
      PutLe(&entry, previous, 4);
    }
    int64_t v;
    if (internal::ParseInt64(e, &v)) {
      if (v >= 0 && v <= 12) {
        entry.push_back(static_cast<char>(0xf1 + v));
      } else if (v >= INT8_MIN && v <= INT8_MAX) {
        entry.push_back('\xfe');
        PutLe(&entry, static_cast<uint64_t>(v), 1);
      } else if (v >= INT16_MIN && v <= INT16_MAX) {
        entry.push_back('\xc0');
        PutLe(&entry, static_cast<uint64_t>(v), 2);
      } else if (v >= -(1 << 23) && v < (1 << 23)) {
        entry.push_back('\xf0');
        PutLe(&entry, static_cast<uint64_t>(v), 3);
      } else if (v >= INT32_MIN && v <= INT32_MAX) {
        entry.push_back('\xd0');
        PutLe(&entry, static_cast<uint64_t>(v), 4);
      } else {
        entry.push_back('\xe0');
        PutLe(&entry, static_cast<uint64_t>(v), 8);
      }
    } else if (e.size() < 64) {
      entry.push_back(static_cast<char>(e.size()));
      entry += e;
    } else if (e.size() < 16384) {
      entry.push_back(static_cast<char>(0x40 | (e.size() >> 8)));
      entry.push_back(static_cast<char>(e.size() & 0xff));
      entry += e;
    } else {
      entry.push_back('\x80');
      for (int i = 3; i >= 0; --i) entry.push_back(static_cast<char>(e.size() >> (8 * i)));
      entry += e;
    }
    last = 10 + body.size();
    previous = entry.size();
    body += entry;
  }
  std::string out;
  PutLe(&out, 10 + body.size() + 1, 4);
  PutLe(&out, last, 4);
  PutLe(&out, elements.size(), 2);
  return out + body + "\xff";
}

std::string Intset(int width, const std::vector<int64_t>& values) {
  std::string out;
  PutLe(&out, width, 4);
  PutLe(&out, values.size(), 4);
  for (int64_t v : values) PutLe(&out, static_cast<uint64_t>(v), width);
  return out;
}

std::string Zipmap(const std::vector<std::pair<std::string, std::string>>& pairs) {
  std::string out(1, static_cast<char>(pairs.size()));
  for (const auto& [field, value] : pairs) {
    out.push_back(static_cast<char>(field.size()));
    out += field;
    out.push_back(static_cast<char>(value.size()));
    out.push_back('\x01');  // one free byte after the value
    out += value + "?";
  }
  return out + "\xff";
}

std::string BinaryScore(double score) {
  uint64_t bits;
  std::memcpy(&bits, &score, 8);
  std::string out;
  PutLe(&out, bits, 8);
  return out;
}

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

TEST_F(RdbTest, WriteThenLoadRoundTripsEveryCollectionTypeAndDeadline) {
  std::mt19937_64 rng(testutil::SeedFromEnv(13));
  auto source = testutil::OpenStore(options_);
  ASSERT_TRUE(source->Set("plain", "v").ok());
  // Small and large collections (Redis packs up to 128 elements of up to 64 bytes),
  // integer elements (packed specially), binary ones and long compressible ones.
  const auto element = [&](int i) {
    switch (rng() % 4) {
      case 0:
        return std::to_string(static_cast<int64_t>(rng()) >> (rng() % 64));
      case 1:
        return testutil::RandomBytes(rng, rng() % 80);
      case 2:
        return testutil::RandomBytes(rng, 100 + rng() % 400, /*compressible=*/true);
      default:
        return "e" + std::to_string(i);
    }
  };
  for (int k = 0; k < 40; ++k) {
    const size_t n = k % 4 == 0 ? 300 : 1 + rng() % 20;
    std::vector<std::string> elements;
    for (size_t i = 0; i < n; ++i) elements.push_back(element(static_cast<int>(i)));
    std::vector<std::string_view> views(elements.begin(), elements.end());
    const std::string key = "c" + std::to_string(k);
    switch (k % 4) {
      case 0:
        ASSERT_TRUE(Lists(*source).Push("list:" + key, ListEnd::kRight, views).ok());
        break;
      case 1:
        ASSERT_TRUE(Sets(*source).Add("set:" + key, views).ok());
        break;
      case 2: {
        std::vector<std::pair<std::string_view, std::string_view>> pairs;
        for (size_t i = 0; i + 1 < n; i += 2) pairs.emplace_back(views[i], views[i + 1]);
        pairs.emplace_back(views.back(), "last");
        ASSERT_TRUE(Hashes(*source).Set("hash:" + key, pairs).ok());
        break;
      }
      default: {
        std::vector<std::pair<double, std::string_view>> pairs;
        for (size_t i = 0; i < n; ++i) {
          const double scores[] = {0.0,
                                   -0.0,
                                   1.5,
                                   -1e300,
                                   1e-300,
                                   3.0,
                                   std::numeric_limits<double>::infinity(),
                                   -std::numeric_limits<double>::infinity()};
          pairs.emplace_back(scores[rng() % std::size(scores)] + static_cast<double>(i % 3),
                             views[i]);
        }
        ASSERT_TRUE(SortedSets(*source).Add("zset:" + key, pairs).ok());
      }
    }
  }
  // Integer sets, which Redis keeps as intsets.
  const std::string_view ints[] = {"1", "-5", "70000", "-9223372036854775808", "12"};
  ASSERT_TRUE(Sets(*source).Add("set:ints", ints).ok());
  const int64_t later = clock_.NowMillis() + 3'600'000;
  ASSERT_TRUE(source->Expire("list:c0", Expiry::At(later)).ok());
  ASSERT_TRUE(source->Expire("zset:c3", Expiry::At(later + 1)).ok());
  const std::map<std::string, std::string> expected = Typed(*source);
  ASSERT_EQ(expected.size(), 42u);
  EXPECT_THAT(expected.at("list:c0"), HasSubstr("deadline " + std::to_string(later)));

  std::string bytes;
  StringWritableFile sink(&bytes);
  Result<SnapshotInfo> written = WriteRdb(*source, sink);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_EQ(written->entries, expected.size());
  Result<RdbLoadInfo> loaded = Load(bytes);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->keys, expected.size());
  EXPECT_EQ(Typed(*target_), expected);
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
                                .Byte(7)
                                .String("module")
                                .Length(99)  // a module id
                                .Length(5)
                                .String("opaque")
                                .Length(0)  // its data: a string, then the end
                                .Byte(4)
                                .String("h")
                                .Length(1)
                                .String("f")
                                .String("v")  // a hash, loaded
                                .Op(rdb::Opcode::kSelectDb)
                                .Length(1)
                                .Byte(1)
                                .String("queue")
                                .Length(1)
                                .String("x")  // a list elsewhere
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
                "3 keys of a type mirrorkv does not hold (stream, module) or in a database "
                "other than 0 (the first: 'module' (module, db 0)) and 1 function libraries");
  RdbReadOptions skip;
  skip.skip_unsupported = true;
  Result<RdbLoadInfo> info = Load(bytes, skip);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->keys, 3u);
  EXPECT_EQ(info->skipped_keys, 3u);
  EXPECT_EQ(info->skipped_functions, 1u);
  EXPECT_EQ(info->first_skipped, "'module' (module, db 0)");
  EXPECT_EQ(AllEntries(*target_), (Contents{{"a", {"1", 0}}, {"b", {"3", 0}}}));
  EXPECT_EQ(Typed(*target_).at("h"), "hash deadline -1: 1=f/1=v");
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
  const std::string_view elements[] = {"1", "two", "-300", "four"};
  ASSERT_TRUE(Lists(*source).Push("list", ListEnd::kLeft, elements).ok());
  ASSERT_TRUE(Sets(*source).Add("set", elements).ok());
  ASSERT_TRUE(Hashes(*source).Set("hash", {{{"f", "v"}, {"g", "100000"}}}).ok());
  ASSERT_TRUE(SortedSets(*source).Add("zset", {{{1.5, "a"}, {-3, "b"}}}).ok());
  const std::map<std::string, std::string> typed = Typed(*source);
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
  EXPECT_EQ(Typed(*target_), typed);
}

// An RDB holding a key in every collection encoding Redis has written (what
// EveryCollectionEncodingRedisHasWritten expects it to load).
std::string AllCollectionEncodings(bool checksum = true) {
  const std::string big(300, 'b');
  const auto rdb_type = [](rdb::ValueType t) { return static_cast<uint8_t>(t); };
  RdbBuilder b;
  b.Byte(rdb_type(rdb::ValueType::kList)).String("list").Length(3).String("a").String("-7");
  b.Byte(0xc0).Byte(5);  // an integer-encoded element
  b.Byte(rdb_type(rdb::ValueType::kSet)).String("set").Length(2).String("x").String("y");
  b.Byte(rdb_type(rdb::ValueType::kZset)).String("zset-text").Length(3);
  b.String("m1").Byte(3).Raw("1.5").String("m2").Byte(254).String("m3").Byte(255);
  b.Byte(rdb_type(rdb::ValueType::kHash)).String("hash").Length(1).String("f").String("v");
  b.Byte(rdb_type(rdb::ValueType::kZset2)).String("zset2").Length(2);
  b.String("p").Raw(BinaryScore(-2.25)).String("q").Raw(BinaryScore(1e100));
  b.Byte(rdb_type(rdb::ValueType::kHashZipmap)).String("zipmap");
  b.String(Zipmap({{"f1", "v1"}, {"f2", ""}}));
  b.Byte(rdb_type(rdb::ValueType::kListZiplist)).String("ziplist");
  b.String(
      Ziplist({"s", "0", "12", "13", "-100", "1000", "100000", "10000000", "5000000000", big}));
  b.Byte(rdb_type(rdb::ValueType::kSetIntset)).String("intset16");
  b.String(Intset(2, {-3, 0, 7}));
  b.Byte(rdb_type(rdb::ValueType::kSetIntset)).String("intset64");
  b.String(Intset(8, {INT64_MIN, 1, INT64_MAX}));
  b.Byte(rdb_type(rdb::ValueType::kZsetZiplist)).String("zset-ziplist");
  b.String(Ziplist({"a", "1", "b", "2.5", "c", "inf"}));
  b.Byte(rdb_type(rdb::ValueType::kHashZiplist)).String("hash-ziplist");
  b.String(Ziplist({"f", "v", "n", "42"}));
  b.Byte(rdb_type(rdb::ValueType::kListQuicklist)).String("quicklist").Length(2);
  b.String(Ziplist({"1", "2"})).String(Ziplist({"three"}));
  b.Byte(rdb_type(rdb::ValueType::kHashListpack)).String("hash-listpack");
  b.String(Listpack({"f", "v", "n", "-4096", big, "x"}));
  b.Byte(rdb_type(rdb::ValueType::kZsetListpack)).String("zset-listpack");
  b.String(Listpack({"a", "1", "b", "-0.5", "c", "-inf"}));
  // Quicklist 2: a packed node, a plain node (one large item), an empty packed node.
  b.Byte(rdb_type(rdb::ValueType::kListQuicklist2)).String("quicklist2").Length(3);
  b.Length(2).String(Listpack({"0", "127", "128", "-1", "4095", "-4097", "40000", "-8388608",
                               "2147483647", "9223372036854775807", "text", big}));
  b.Length(1).String(big + "plain");
  b.Length(2).String(Listpack({}));
  // An empty collection is left out, as Redis does.
  b.Byte(rdb_type(rdb::ValueType::kList)).String("empty").Length(0);
  return b.Finish(checksum);
}

TEST_F(RdbTest, EveryCollectionEncodingRedisHasWritten) {
  const std::string big(300, 'b');
  Result<RdbLoadInfo> info = Load(AllCollectionEncodings());
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->skipped_keys, 0u);

  const auto scratch = testutil::OpenStore(options_);
  Store& e = *scratch;
  const auto push = [&](std::string_view key, std::vector<std::string_view> items) {
    ASSERT_TRUE(Lists(e).Push(key, ListEnd::kRight, items).ok());
  };
  const auto add = [&](std::string_view key, std::vector<std::string_view> members) {
    ASSERT_TRUE(Sets(e).Add(key, members).ok());
  };
  const auto hset = [&](std::string_view key,
                        std::vector<std::pair<std::string_view, std::string_view>> pairs) {
    ASSERT_TRUE(Hashes(e).Set(key, pairs).ok());
  };
  const auto zadd = [&](std::string_view key, std::vector<std::pair<double, std::string_view>> p) {
    ASSERT_TRUE(SortedSets(e).Add(key, p).ok());
  };
  const double inf = std::numeric_limits<double>::infinity();
  push("list", {"a", "-7", "5"});
  add("set", {"x", "y"});
  zadd("zset-text", {{1.5, "m1"}, {inf, "m2"}, {-inf, "m3"}});
  hset("hash", {{"f", "v"}});
  zadd("zset2", {{-2.25, "p"}, {1e100, "q"}});
  hset("zipmap", {{"f1", "v1"}, {"f2", ""}});
  push("ziplist", {"s", "0", "12", "13", "-100", "1000", "100000", "10000000", "5000000000", big});
  add("intset16", {"-3", "0", "7"});
  add("intset64", {"-9223372036854775808", "1", "9223372036854775807"});
  zadd("zset-ziplist", {{1, "a"}, {2.5, "b"}, {inf, "c"}});
  hset("hash-ziplist", {{"f", "v"}, {"n", "42"}});
  push("quicklist", {"1", "2", "three"});
  hset("hash-listpack", {{"f", "v"}, {"n", "-4096"}, {big, "x"}});
  zadd("zset-listpack", {{1, "a"}, {-0.5, "b"}, {-inf, "c"}});
  push("quicklist2", {"0", "127", "128", "-1", "4095", "-4097", "40000", "-8388608", "2147483647",
                      "9223372036854775807", "text", big, big + "plain"});
  EXPECT_EQ(Typed(*target_), Typed(e));
}

// Builds an RDB holding one key of `type` whose value is `value` (raw bytes after the
// key's name).
std::string OneValue(rdb::ValueType type, std::string_view value) {
  return RdbBuilder().Byte(static_cast<uint8_t>(type)).String("k").Raw(value).Finish();
}

std::string AsString(std::string_view bytes) {
  char buf[rdb::kMaxLengthBytes];
  return std::string(buf, rdb::PutLength(buf, bytes.size())) + std::string(bytes);
}

// Every truncation and every bit flip of the packed encodings' file, its checksum zeroed
// so that damage the checksum would catch reaches the decoders and publication: each
// load fails cleanly (the store unchanged, checked by Load) or loads something.
TEST_F(RdbTest, DamagedPackedEncodingsNeverCrashOrHalfLoad) {
  const std::string bytes = AllCollectionEncodings(/*checksum=*/false);
  for (size_t n = 0; n + 8 < bytes.size(); ++n) {
    ASSERT_FALSE(Load(std::string_view(bytes).substr(0, n)).ok()) << n;
  }
  size_t loaded = 0;
  for (size_t bit = 9 * 8; bit < (bytes.size() - 9) * 8; ++bit) {
    std::string damaged = bytes;
    damaged[bit / 8] = static_cast<char>(damaged[bit / 8] ^ (1 << (bit % 8)));
    Result<RdbLoadInfo> info = Load(damaged);
    if (info.ok()) {
      ++loaded;
      ASSERT_TRUE(target_->FlushAll().ok());
      ASSERT_TRUE(target_->Set("existing", "value").ok());
    } else {
      EXPECT_EQ(info.status().code(), StatusCode::kCorruption) << info.status().ToString();
    }
  }
  // Flips inside element bytes load (other bytes); most others are caught.
  EXPECT_GT(loaded, 0u);
}

TEST_F(RdbTest, MalformedCollectionsAreCorruptionAndChangeNothing) {
  using T = rdb::ValueType;
  const std::string listpack = Listpack({"a", "b", "300", std::string(70, 'z')});
  // Truncated: every shorter prefix of the blob, its length claiming the whole.
  for (size_t n = 0; n < listpack.size(); ++n) {
    std::string cut = listpack.substr(0, n);
    ExpectRefused(OneValue(T::kHashListpack, AsString(cut)), StatusCode::kCorruption,
                  "key 'k' (hash)");
  }
  std::string bad_count = listpack;
  bad_count[4] = 5;
  ExpectRefused(OneValue(T::kHashListpack, AsString(bad_count)), StatusCode::kCorruption,
                "listpack at byte 4: header counts 5 entries, but it holds 4");
  std::string bad_total = listpack;
  bad_total[0] = static_cast<char>(bad_total[0] + 1);
  ExpectRefused(OneValue(T::kZsetListpack, AsString(bad_total)), StatusCode::kCorruption,
                "bytes, but it holds");
  std::string bad_backlen = listpack;
  bad_backlen[6 + 2] = 9;  // the first entry's back length
  ExpectRefused(OneValue(T::kHashListpack, AsString(bad_backlen)), StatusCode::kCorruption,
                "back length does not match");
  std::string bad_encoding = listpack;
  bad_encoding[6] = '\xf7';
  ExpectRefused(OneValue(T::kHashListpack, AsString(bad_encoding)), StatusCode::kCorruption,
                "unknown entry encoding 0xf7");
  ExpectRefused(OneValue(T::kHashListpack, AsString(Listpack({"f", "v", "odd"}))),
                StatusCode::kCorruption, "an odd number of elements");
  ExpectRefused(OneValue(T::kZsetListpack, AsString(Listpack({"m", "not a number"}))),
                StatusCode::kCorruption, "score is not a number");
  ExpectRefused(OneValue(T::kHashListpack, AsString(Listpack({"f", "1", "f", "2"}))),
                StatusCode::kCorruption, "a duplicate hash field");

  ExpectRefused(OneValue(T::kSetIntset, AsString(Intset(3, {1, 2}))), StatusCode::kCorruption,
                "intset at byte 0: unknown integer width 3");
  ExpectRefused(OneValue(T::kSetIntset, AsString(Intset(4, {2, 1}))), StatusCode::kCorruption,
                "not strictly increasing");
  std::string short_intset = Intset(4, {1, 2});
  short_intset.pop_back();
  ExpectRefused(OneValue(T::kSetIntset, AsString(short_intset)), StatusCode::kCorruption,
                "2 integers of 4 bytes");

  std::string ziplist = Ziplist({"a", "bb", "7"});
  std::string bad_prev = ziplist;
  bad_prev[10 + 3] = 5;  // the second entry's previous length
  ExpectRefused(OneValue(T::kListZiplist, AsString(bad_prev)), StatusCode::kCorruption,
                "previous length does not match");
  std::string bad_tail = ziplist;
  bad_tail[4] = 10;
  ExpectRefused(OneValue(T::kListZiplist, AsString(bad_tail)), StatusCode::kCorruption,
                "places the last entry at 10");
  for (size_t n = 0; n < ziplist.size(); ++n) {
    ExpectRefused(OneValue(T::kZsetZiplist, AsString(ziplist.substr(0, n))),
                  StatusCode::kCorruption, "key 'k' (zset)");
  }
  std::string zipmap = Zipmap({{"f", "v"}});
  zipmap[2 + 1] = 100;  // the value's length, past the end
  ExpectRefused(OneValue(T::kHashZipmap, AsString(zipmap)), StatusCode::kCorruption,
                "a value runs past the end");

  RdbBuilder dup_set;
  dup_set.Byte(static_cast<uint8_t>(T::kSet)).String("k").Length(2).String("x").String("x");
  ExpectRefused(dup_set.Finish(), StatusCode::kCorruption, "a duplicate set member");
  RdbBuilder nan_score;
  nan_score.Byte(static_cast<uint8_t>(T::kZset2)).String("k").Length(1).String("m");
  nan_score.Raw(BinaryScore(std::numeric_limits<double>::quiet_NaN()));
  ExpectRefused(nan_score.Finish(), StatusCode::kCorruption, "a NaN sorted set score");
  RdbBuilder container;
  container.Byte(static_cast<uint8_t>(T::kListQuicklist2)).String("k").Length(1).Length(3);
  container.String("x");
  ExpectRefused(container.Finish(), StatusCode::kCorruption, "unknown quicklist node container 3");
  // A count far beyond the bytes: the stream ends first, nothing is allocated for it.
  RdbBuilder huge;
  huge.Byte(static_cast<uint8_t>(T::kList)).String("k").Length(uint64_t{1} << 40).String("x");
  ExpectRefused(huge.Finish(), StatusCode::kCorruption, "");
  RdbReadOptions small;
  small.max_value_bytes = 10;
  RdbBuilder long_element;
  long_element.Byte(static_cast<uint8_t>(T::kSet)).String("k").Length(1);
  long_element.String(std::string(11, 'x'));
  ExpectRefused(long_element.Finish(), StatusCode::kCorruption, "over the limit of 10", small);
  ExpectRefused(OneValue(T::kHashListpack, AsString(Listpack({"f", std::string(11, 'v')}))),
                StatusCode::kCorruption, "over the limit of 10", small);
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
