// Every malformed snapshot is rejected with a clear kCorruption (or the source's
// kIOError) and leaves the target store as it was: truncation at every byte, every
// single-bit flip of a small snapshot, random damage to a larger one, and hand-made
// streams with correct checksums that break one rule of the grammar each.
// Set MIRRORKV_TEST_SEED to replay a randomized run.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "mirrorkv/clock.h"
#include "mirrorkv/snapshot.h"
#include "snapshot/snapshot_format.h"
#include "tests/snapshot/test_util.h"

namespace mirrorkv {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using testutil::AllEntries;
using testutil::Contents;
using testutil::Item;
using testutil::StreamBuilder;
namespace fmt = internal::snapshot;

class CorruptionTest : public ::testing::Test {
 protected:
  CorruptionTest() {
    StoreOptions options;
    options.stripe_count = 4;
    options.clock = &clock_;
    options.active_expiry_interval = 0ms;
    target_ = testutil::OpenStore(options);
    EXPECT_TRUE(target_->Set("existing", "value").ok());
    baseline_ = AllEntries(*target_);
  }

  // Loads `bytes` into the target and returns the status, checking that a failed load
  // left the target untouched.
  Status Load(std::string_view bytes, bool sized = true, size_t max_read = SIZE_MAX,
              const SnapshotReadOptions& options = {}) {
    testutil::TrickleReadableFile source(bytes, max_read, sized);
    Result<SnapshotInfo> info = LoadSnapshot(*target_, source, options);
    if (!info.ok()) {
      EXPECT_EQ(AllEntries(*target_), baseline_) << info.status().ToString();
    }
    return info.status();
  }

  // Expects kCorruption whose message contains `what`, both with a sized source and
  // with one of unknown size read a few bytes at a time.
  void ExpectCorrupt(std::string_view bytes, std::string_view what,
                     const SnapshotReadOptions& options = {}) {
    for (bool sized : {true, false}) {
      Status status = Load(bytes, sized, sized ? SIZE_MAX : 5, options);
      EXPECT_EQ(status.code(), StatusCode::kCorruption) << status.ToString();
      EXPECT_THAT(std::string(status.message()), HasSubstr(std::string(what))) << "sized=" << sized;
    }
  }

  // A snapshot with two blocks, one lz4-compressed and one stored raw, holding keys
  // with and without deadlines.
  std::string SmallSnapshot(size_t text_bytes, size_t random_bytes) {
    std::mt19937_64 rng(1);
    std::string out;
    StringWritableFile sink(&out);
    SnapshotOptions options;
    options.block_bytes = 4096;
    auto writer = SnapshotWriter::Create(sink, {std::string(40, 'c'), 99}, options);
    EXPECT_TRUE(writer.ok());
    int i = 0;
    for (size_t n = 0; n < text_bytes; n += 60, ++i) {
      EXPECT_TRUE((*writer)
                      ->Add("text" + std::to_string(i),
                            testutil::RandomBytes(rng, 50, /*compressible=*/true),
                            i % 2 ? clock_.NowMillis() + 100'000 : 0)
                      .ok());
    }
    EXPECT_TRUE((*writer)->Add("", "").ok());  // the smallest entry there is
    EXPECT_TRUE((*writer)->Add("raw", testutil::RandomBytes(rng, random_bytes)).ok());
    EXPECT_TRUE((*writer)->Finish().ok());
    return out;
  }

  ManualClock clock_;
  std::unique_ptr<Store> target_;
  Contents baseline_;
};

TEST_F(CorruptionTest, IntactSnapshotLoads) {
  std::string bytes = SmallSnapshot(5000, 500);
  ASSERT_TRUE(Load(bytes).ok());
  EXPECT_EQ(target_->size(), 86u);
}

TEST_F(CorruptionTest, EveryTruncationIsCorruption) {
  const std::string bytes = SmallSnapshot(5000, 500);
  for (size_t n = 0; n < bytes.size(); ++n) {
    for (bool sized : {true, false}) {
      Status status = Load(std::string_view(bytes).substr(0, n), sized);
      ASSERT_EQ(status.code(), StatusCode::kCorruption)
          << "truncated to " << n << " bytes, sized=" << sized << ": " << status.ToString();
    }
  }
}

TEST_F(CorruptionTest, EveryBitFlipIsRejected) {
  // Small enough to flip each of its bits: one lz4 block, one raw block.
  const std::string bytes = SmallSnapshot(4200, 300);
  ASSERT_LT(bytes.size(), 3000u);
  std::string damaged = bytes;
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      damaged[i] = static_cast<char>(bytes[i] ^ (1 << bit));
      Status status = Load(damaged);
      ASSERT_EQ(status.code(), StatusCode::kCorruption)
          << "bit " << bit << " of byte " << i << ": " << status.ToString();
      damaged[i] = bytes[i];
    }
  }
}

TEST_F(CorruptionTest, RandomDamageToALargerSnapshotIsRejected) {
  std::mt19937_64 rng(testutil::SeedFromEnv(0xbad));
  auto store = testutil::OpenStore(StoreOptions{.active_expiry_interval = 0ms});
  testutil::Fill(*store, testutil::RandomContents(rng, 2000, 200, clock_.NowMillis()));
  const std::string bytes = testutil::SnapshotToString(*store);
  for (int round = 0; round < 300; ++round) {
    std::string damaged = bytes;
    const int changes = 1 + static_cast<int>(rng() % 8);
    for (int c = 0; c < changes; ++c) {
      size_t at = rng() % damaged.size();
      damaged[at] = static_cast<char>(damaged[at] ^ (1 + rng() % 255));
    }
    Status status = Load(damaged, rng() % 2 == 0, 1 + rng() % 5000);
    ASSERT_EQ(status.code(), StatusCode::kCorruption)
        << "round " << round << ": " << status.ToString();
  }
}

TEST_F(CorruptionTest, NotASnapshot) {
  ExpectCorrupt("", "the stream is empty");
  ExpectCorrupt("hello world, this is not a snapshot at all, but it is long enough to be",
                "at byte 0: bad magic");
  ExpectCorrupt("\x89MKV", "snapshot truncated at byte 4");
  ExpectCorrupt("\x89MKVSNAP", "into the header");
  std::string bytes = SmallSnapshot(100, 10);
  bytes[3] = 'X';
  ExpectCorrupt(bytes, "bad magic");
}

// A header with a chosen field changed and its checksum recomputed.
std::string PatchedHeader(size_t at, std::string_view bytes) {
  std::string stream = StreamBuilder().Finish();
  stream.replace(at, bytes.size(), bytes);
  char hash[8];
  fmt::PutU64(hash, fmt::Hash64(std::string_view(stream).substr(0, fmt::kHeaderHashedBytes)));
  stream.replace(fmt::kHeaderHashedBytes, 8, hash, 8);
  return stream;
}

TEST_F(CorruptionTest, UnknownVersionFlagsAndBadIds) {
  ExpectCorrupt(PatchedHeader(8, std::string("\x04\0\0\0", 4)),
                "at byte 8: unsupported snapshot version 4 (this build reads versions 1 to 3)");
  ExpectCorrupt(PatchedHeader(8, std::string("\0\0\0\0", 4)),
                "at byte 8: unsupported snapshot version 0 (this build reads versions 1 to 3)");
  ExpectCorrupt(PatchedHeader(12, std::string("\x01\0\0\0", 4)),
                "at byte 12: unknown header flags");
  ExpectCorrupt(PatchedHeader(16, "ABCDEF"), "at byte 16: the replication id");
  std::string stream = StreamBuilder().Finish();
  stream[60] ^= 1;  // the offset, without fixing the header checksum
  ExpectCorrupt(stream, "at byte 72: header checksum mismatch");
}

TEST_F(CorruptionTest, FooterCountsMustAgree) {
  const std::string entry = StreamBuilder::Entry("k", "v");
  ExpectCorrupt(StreamBuilder().Block(entry, 1).Finish(2, std::nullopt),
                "the footer counts 2 entries, the blocks hold 1");
  ExpectCorrupt(StreamBuilder().Block(entry, 1).Finish(std::nullopt, 0),
                "the footer counts 0 blocks, the stream holds 1");
  // With the true counts the same stream loads.
  EXPECT_TRUE(Load(StreamBuilder().Block(entry, 1).Finish()).ok());
}

TEST_F(CorruptionTest, StreamChecksumCoversEverything) {
  std::string stream = StreamBuilder().Block(StreamBuilder::Entry("k", "v"), 1).Finish();
  stream[stream.size() - 1] ^= 0x40;
  ExpectCorrupt(stream, "stream checksum mismatch");
}

TEST_F(CorruptionTest, MissingFooterAndUnknownFrames) {
  const std::string entry = StreamBuilder::Entry("k", "v");
  std::string no_footer = StreamBuilder().Block(entry, 1).Finish();
  no_footer.resize(no_footer.size() - fmt::kFooterBytes);
  ExpectCorrupt(no_footer, "the stream ended before the footer");
  ExpectCorrupt(StreamBuilder().Bytes("\x07").Finish(), "at byte 80: unknown frame tag 0x07");
  ExpectCorrupt(StreamBuilder().Bytes(std::string(30, '\0')).Finish(), "unknown frame tag 0x00");
}

// The history frame (version 3): once, after the blocks, whole, and never in an older
// version's stream.
TEST_F(CorruptionTest, HistoryFrameOnlyOnceAfterTheBlocksOfAVersion3Stream) {
  const std::string entry = StreamBuilder::Entry("k", "v");
  const SnapshotPosition at{std::string(40, 'a'), 7};
  const std::string history = "*1\r\n$4\r\nPING\r\n";
  ExpectCorrupt(StreamBuilder(at).Block(entry, 1).History(history).Finish(),
                "at byte 107: a history frame in a version 2 snapshot");
  ExpectCorrupt(StreamBuilder(at, 3).History(history).History(history).Finish(),
                "a second history frame");
  ExpectCorrupt(StreamBuilder(at, 3).History(history).Block(entry, 1).Finish(),
                "a block after the history frame");
  // A length beyond the stream: refused before reading when the size is known, at the
  // end of what arrived otherwise.
  const std::string lying = StreamBuilder(at, 3).History(history, 1 << 30).Finish();
  EXPECT_THAT(std::string(Load(lying, /*sized=*/true).message()),
              HasSubstr("the history claims 1073741824 bytes but only"));
  EXPECT_THAT(std::string(Load(lying, /*sized=*/false, 5).message()),
              HasSubstr("into the history of 1048576 bytes"));
  // Well formed, it loads; a plain load leaves the history aside.
  const std::string whole = StreamBuilder(at, 3).Block(entry, 1).History(history).Finish();
  testutil::TrickleReadableFile source(whole, SIZE_MAX, true);
  Result<SnapshotInfo> info = LoadSnapshot(*target_, source, {});
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_TRUE(info->has_history);
  EXPECT_EQ(info->history_bytes, history.size());
  EXPECT_EQ(info->position, at);
}

TEST_F(CorruptionTest, ImpossibleBlockHeads) {
  const std::string entry = StreamBuilder::Entry("k", "v");
  ExpectCorrupt(StreamBuilder().RawBlock(static_cast<fmt::Codec>(9), 1, 5, entry).Finish(),
                "at byte 81: block 0 has unknown codec 0x09");
  ExpectCorrupt(StreamBuilder().Block(entry, 0).Finish(), "at byte 82: block 0 has no entries");
  ExpectCorrupt(StreamBuilder().Block(entry, 2).Finish(), "claims 2 entries, more than fit in 5");
  ExpectCorrupt(StreamBuilder().RawBlock(fmt::Codec::kNone, 1, 6, entry).Finish(),
                "stored raw but its lengths differ");
  // More raw bytes than any block may hold under the limits in force.
  SnapshotReadOptions small;
  small.max_key_bytes = 1000;
  small.max_value_bytes = 1000;
  ExpectCorrupt(StreamBuilder().RawBlock(fmt::Codec::kLz4, 1, 20 << 20, "xx").Finish(),
                "over the limit of 16777216", small);
  // An lz4 expansion no lz4 block can have: rejected before allocating for it.
  ExpectCorrupt(StreamBuilder().RawBlock(fmt::Codec::kLz4, 1, 10 << 20, "0123456789").Finish(),
                "impossible lz4 lengths");
}

TEST_F(CorruptionTest, LengthLongerThanWhatRemains) {
  // A block head claiming 4 MiB of payload in a stream of 140 bytes.
  std::string head(fmt::kBlockHeadBytes, '\0');
  std::string stored(4 << 20, 'x');
  fmt::EncodeBlockHead(fmt::Codec::kNone, 1, 4 << 20, stored, head.data());
  std::string stream = StreamBuilder().Bytes(head).Bytes("only a few bytes").Finish();
  Status sized = Load(stream, /*sized=*/true);
  EXPECT_EQ(sized.code(), StatusCode::kCorruption);
  EXPECT_THAT(std::string(sized.message()),
              HasSubstr("at byte 90: block 0 claims 4194304 stored bytes but only"));
  Status unsized = Load(stream, /*sized=*/false);
  EXPECT_EQ(unsized.code(), StatusCode::kCorruption);
  EXPECT_THAT(std::string(unsized.message()), HasSubstr("into the payload of block 0"));
}

TEST_F(CorruptionTest, Lz4PayloadsThatDoNotDecode) {
  const std::string raw = StreamBuilder::Entry("key", std::string(200, 'a'));
  std::string good = StreamBuilder().Block(raw, 1, fmt::Codec::kLz4).Finish();
  ASSERT_TRUE(Load(good).ok());
  baseline_ = AllEntries(*target_);
  // A well-checksummed payload that is not lz4 at all.
  ExpectCorrupt(
      StreamBuilder().RawBlock(fmt::Codec::kLz4, 1, 300, std::string(40, '\xff')).Finish(),
      "does not decode to its 300 bytes");
  // Real lz4 whose raw length is claimed one byte too long.
  std::string stored = good.substr(fmt::kHeaderBytes + fmt::kBlockHeadBytes);
  stored.resize(stored.size() - fmt::kFooterBytes);
  ExpectCorrupt(StreamBuilder()
                    .RawBlock(fmt::Codec::kLz4, 1, static_cast<uint32_t>(raw.size() + 1), stored)
                    .Finish(),
                "does not decode");
}

TEST_F(CorruptionTest, MalformedEntries) {
  const std::string entry = StreamBuilder::Entry("key", "value");
  ExpectCorrupt(StreamBuilder().Block("\x07" + entry.substr(1), 1).Finish(),
                "block 0, entry 0 at raw offset 0: unknown entry tag 0x07");
  ExpectCorrupt(StreamBuilder().Block(entry.substr(0, entry.size() - 1) + "", 1).Finish(),
                "run past the 7 bytes left in the block");
  ExpectCorrupt(StreamBuilder().Block(entry + "xx", 1).Finish(),
                "2 bytes follow the block's last entry");
  ExpectCorrupt(StreamBuilder().Block(entry + entry + std::string(3, '\x01'), 3).Finish(),
                "entry 2 at raw offset 22");
  ExpectCorrupt(StreamBuilder().Block(entry + entry, 3).Finish(),
                "the block ends after 2 of its 3 entries");
  // A non-canonical length (0x80 0x00 for zero) and one longer than five bytes.
  ExpectCorrupt(StreamBuilder().Block(std::string("\x01\x80\x00\x00", 4), 1).Finish(),
                "malformed key length");
  ExpectCorrupt(
      StreamBuilder().Block(std::string("\x01\x00\xff\xff\xff\xff\xff\x01", 8), 1).Finish(),
      "malformed value length");
  // Deadlines must be in [1, 2^56).
  std::string zero_deadline = StreamBuilder::Entry("k", "v", 1);
  std::memset(&zero_deadline[3], 0, 8);
  ExpectCorrupt(StreamBuilder().Block(zero_deadline, 1).Finish(), "deadline 0 outside");
  std::string huge_deadline = StreamBuilder::Entry("k", "v", 1);
  fmt::PutU64(&huge_deadline[3], uint64_t{1} << 56);
  ExpectCorrupt(StreamBuilder().Block(huge_deadline, 1).Finish(), "outside [1, 2^56)");
  std::string cut_deadline = StreamBuilder::Entry("", "", 1).substr(0, 7);
  ExpectCorrupt(StreamBuilder().Block(cut_deadline, 1).Finish(),
                "the deadline runs past the end of the block");
}

TEST_F(CorruptionTest, LengthsOverTheLimits) {
  SnapshotReadOptions options;
  options.max_key_bytes = 8;
  options.max_value_bytes = 16;
  ExpectCorrupt(StreamBuilder().Block(StreamBuilder::Entry("a-long-key", "v"), 1).Finish(),
                "key of 10 bytes, over the limit of 8", options);
  ExpectCorrupt(StreamBuilder().Block(StreamBuilder::Entry("k", std::string(17, 'v')), 1).Finish(),
                "value of 17 bytes, over the limit of 16", options);
  // A length varint claiming 2 GiB - 1, in a tiny block, with the default limits.
  std::string claim("\x01\x01\xff\xff\xff\xff\x07k", 8);
  ExpectCorrupt(StreamBuilder().Block(claim, 1).Finish(),
                "value of 2147483647 bytes, over the limit of 536870912");
  // Within the limits but longer than the block.
  std::string within("\x01\x01\x80\x80\x01k", 6);
  ExpectCorrupt(StreamBuilder().Block(within, 1).Finish(), "run past the 1 bytes left");
}

TEST_F(CorruptionTest, SourceErrorsAreReportedAsTheSourceSaysAndLeaveTheStore) {
  const std::string bytes = SmallSnapshot(5000, 500);
  for (size_t fail_at : {size_t{0}, size_t{10}, size_t{80}, size_t{300}, bytes.size() - 3}) {
    testutil::TrickleReadableFile source(bytes, 64, true, fail_at);
    Result<SnapshotInfo> info = LoadSnapshot(*target_, source);
    EXPECT_EQ(info.status().code(), StatusCode::kIOError);
    EXPECT_THAT(std::string(info.status().message()), HasSubstr("reading snapshot at byte"));
    EXPECT_THAT(std::string(info.status().message()), HasSubstr("injected read failure"));
    EXPECT_EQ(AllEntries(*target_), baseline_);
  }
}

TEST_F(CorruptionTest, ReaderReportsTheFirstErrorAndStops) {
  std::string bytes = SmallSnapshot(5000, 500);
  bytes[bytes.size() - 40] ^= 1;  // in the raw block, near the end
  StringReadableFile source(bytes);
  auto reader = SnapshotReader::Open(source);
  ASSERT_TRUE(reader.ok());
  SnapshotEntry entry;
  size_t entries = 0;
  while ((*reader)->Next(&entry)) ++entries;
  Status first = (*reader)->status();
  EXPECT_EQ(first.code(), StatusCode::kCorruption);
  EXPECT_THAT(std::string(first.message()), HasSubstr("block 1 checksum mismatch"));
  // The first block's entries were handed out; nothing of the damaged one.
  EXPECT_GT(entries, 0u);
  EXPECT_FALSE((*reader)->Next(&entry));
  EXPECT_EQ((*reader)->status(), first);
}

}  // namespace
}  // namespace mirrorkv
