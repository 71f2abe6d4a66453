#include "tests/snapshot/test_util.h"

#include <gtest/gtest.h>
#include <lz4.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "engine/store_impl.h"
#include "tests/test_seed.h"

namespace mirrorkv::testutil {

namespace fmt = internal::snapshot;

uint64_t SeedFromEnv(uint64_t fallback) { return mirrorkv::testutil::TestSeed(fallback); }

Contents AllEntries(Store& store) {
  Contents out;
  uint64_t cursor = 0;
  do {
    cursor = store.impl().Walk(cursor, 1000,
                               [&](std::string_view key, std::string_view value, int64_t deadline) {
                                 out[std::string(key)] = Item{std::string(value), deadline};
                               });
  } while (cursor != 0);
  return out;
}

Contents LiveEntries(Store& store, int64_t now_ms) {
  Contents out = AllEntries(store);
  std::erase_if(
      out, [&](const auto& kv) { return kv.second.deadline != 0 && kv.second.deadline <= now_ms; });
  return out;
}

std::string RandomBytes(std::mt19937_64& rng, size_t n, bool compressible) {
  std::string out;
  out.reserve(n + 16);
  if (compressible) {
    static constexpr std::string_view kWords[] = {
        "session", "user:", "token", "=", std::string_view("\0\1", 2), "cafe", "{\"id\":", "}"};
    // Whole words at a time (one memcpy each), which keeps sanitizer builds fast.
    while (out.size() < n) out.append(kWords[rng() % std::size(kWords)]);
    out.resize(n);
    return out;
  }
  out.resize(n);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t word = rng();
    std::memcpy(&out[i], &word, 8);
  }
  for (; i < n; ++i) out[i] = static_cast<char>(rng());
  return out;
}

Contents RandomContents(std::mt19937_64& rng, size_t count, size_t max_value, int64_t now_ms) {
  Contents out;
  out[""] = Item{"the empty key", 0};
  while (out.size() < count) {
    std::string key = RandomBytes(rng, 1 + rng() % 24, rng() % 2 == 0);
    key += std::to_string(out.size());  // distinct even when the bytes collide
    size_t value_size = rng() % 8 == 0 ? 0 : rng() % (max_value + 1);
    Item item{RandomBytes(rng, value_size, rng() % 2 == 0), 0};
    if (rng() % 3 == 0) item.deadline = now_ms + 1000 + static_cast<int64_t>(rng() % 86'400'000);
    out.emplace(std::move(key), std::move(item));
  }
  return out;
}

void Fill(Store& store, const Contents& contents) {
  for (const auto& [key, item] : contents) {
    Status status = store.impl().Apply(Mutation{.kind = MutationKind::kSet,
                                                .key = key,
                                                .value = item.value,
                                                .expire_at_ms = item.deadline});
    ASSERT_TRUE(status.ok()) << status.ToString();
  }
}

std::string SnapshotToString(Store& store, const SnapshotPosition& position,
                             const SnapshotOptions& options) {
  std::string out;
  StringWritableFile sink(&out);
  Result<SnapshotInfo> info = WriteSnapshot(store, position, sink, options);
  EXPECT_TRUE(info.ok()) << info.status().ToString();
  if (info.ok()) {
    EXPECT_EQ(info->bytes, out.size());
  }
  return out;
}

// --- FaultyWritableFile ---

Status FaultyWritableFile::Append(std::string_view data) {
  if (failed_ || ++appends_ == fail_at_) {
    failed_ = true;
    return Status::IOError("injected write failure");
  }
  return inner_ ? inner_->Append(data) : Status::Ok();
}

Status FaultyWritableFile::Flush() {
  if (failed_) return Status::IOError("injected write failure");
  return inner_ ? inner_->Flush() : Status::Ok();
}

Status FaultyWritableFile::Sync() {
  if (failed_ || fail_sync_) {
    failed_ = true;
    return Status::IOError("injected sync failure");
  }
  return inner_ ? inner_->Sync() : Status::Ok();
}

Status FaultyWritableFile::Close() { return inner_ ? inner_->Close() : Status::Ok(); }

// --- TrickleReadableFile ---

Result<size_t> TrickleReadableFile::Read(char* buffer, size_t n) {
  if (fail_at_.has_value() && offset_ >= *fail_at_) {
    return Status::IOError("injected read failure");
  }
  size_t count = std::min({n, max_read_, data_.size() - offset_});
  if (fail_at_.has_value()) count = std::min(count, *fail_at_ - offset_);
  std::memcpy(buffer, data_.data() + offset_, count);
  offset_ += count;
  return count;
}

std::optional<uint64_t> TrickleReadableFile::size() const {
  if (!sized_) return std::nullopt;
  return data_.size();
}

// --- StreamBuilder ---

StreamBuilder::StreamBuilder(const SnapshotPosition& position, uint32_t version) {
  char header[fmt::kHeaderBytes];
  fmt::EncodeHeader(position, version, 1'700'000'000'000, header);
  out_.assign(header, sizeof(header));
}

StreamBuilder& StreamBuilder::Block(std::string_view raw, uint32_t entries, fmt::Codec codec) {
  std::string stored(raw);
  if (codec == fmt::Codec::kLz4) {
    stored.resize(LZ4_compressBound(static_cast<int>(raw.size())));
    int n = LZ4_compress_default(raw.data(), stored.data(), static_cast<int>(raw.size()),
                                 static_cast<int>(stored.size()));
    EXPECT_GT(n, 0);
    stored.resize(n);
  }
  return RawBlock(codec, entries, static_cast<uint32_t>(raw.size()), stored);
}

StreamBuilder& StreamBuilder::RawBlock(fmt::Codec codec, uint32_t entries, uint32_t raw_len,
                                       std::string_view stored) {
  char head[fmt::kBlockHeadBytes];
  fmt::EncodeBlockHead(codec, entries, raw_len, stored, head);
  out_.append(head, sizeof(head));
  out_.append(stored);
  entries_ += entries;
  ++blocks_;
  return *this;
}

StreamBuilder& StreamBuilder::Bytes(std::string_view bytes) {
  out_.append(bytes);
  return *this;
}

StreamBuilder& StreamBuilder::History(std::string_view stream, std::optional<uint64_t> length) {
  char head[fmt::kHistoryHeadBytes];
  head[0] = static_cast<char>(fmt::FrameTag::kHistory);
  fmt::PutU64(head + 1, length.value_or(stream.size()));
  out_.append(head, sizeof(head));
  out_.append(stream);
  return *this;
}

std::string StreamBuilder::Finish(std::optional<uint64_t> entries, std::optional<uint64_t> blocks) {
  char counts[fmt::kFooterHashedBytes];
  fmt::EncodeFooterCounts(entries.value_or(entries_), blocks.value_or(blocks_), counts);
  out_.append(counts, sizeof(counts));
  char checksum[8];
  fmt::PutU64(checksum, fmt::Hash64(out_));
  out_.append(checksum, sizeof(checksum));
  return out_;
}

std::string StreamBuilder::Entry(std::string_view key, std::string_view value, int64_t deadline) {
  std::string out(fmt::EntryBytes(key.size(), value.size(), deadline > 0), '\0');
  fmt::EncodeEntry(out.data(), key, value, deadline);
  return out;
}

}  // namespace mirrorkv::testutil
