// libFuzzer target for the snapshot reader and LoadSnapshot.
//
// Each input is read twice: as is (mostly rejected by a checksum, which exercises the
// framing and the length checks), and with every checksum recomputed over whatever
// structure the bytes declare (FixChecksums), so that the fuzzer also reaches the entry
// parser and the lz4 decoder. Either way the reader must not crash or hang, must respect
// its limits, and a failed load must leave the store exactly as it was.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "mirrorkv/file.h"
#include "mirrorkv/snapshot.h"
#include "mirrorkv/store.h"
#include "snapshot/snapshot_format.h"
#include "tests/snapshot/fuzz_util.h"

namespace {

namespace fmt = mirrorkv::internal::snapshot;

constexpr size_t kMaxKeyBytes = 1 << 12;
constexpr size_t kMaxValueBytes = 1 << 16;

// Reads at most `max_read` bytes per call, so that short reads are exercised too.
class ChoppySource final : public mirrorkv::ReadableFile {
 public:
  ChoppySource(std::string_view data, size_t max_read) : data_(data), max_read_(max_read) {}
  mirrorkv::Result<size_t> Read(char* buffer, size_t n) override {
    size_t count = std::min({n, max_read_, data_.size() - offset_});
    __builtin_memcpy(buffer, data_.data() + offset_, count);
    offset_ += count;
    return count;
  }

 private:
  std::string_view data_;
  size_t max_read_;
  size_t offset_ = 0;
};

// Recomputes the header, block and footer checksums of `s` as far as its declared
// structure goes.
std::string FixChecksums(std::string s) {
  if (s.size() < fmt::kHeaderBytes) return s;
  fmt::PutU64(&s[72], fmt::Hash64(std::string_view(s).substr(0, fmt::kHeaderHashedBytes)));
  size_t pos = fmt::kHeaderBytes;
  while (pos < s.size()) {
    const uint8_t tag = static_cast<uint8_t>(s[pos]);
    if (tag == static_cast<uint8_t>(fmt::FrameTag::kBlock) &&
        pos + fmt::kBlockHeadBytes <= s.size()) {
      const uint64_t stored = fmt::GetU32(&s[pos + 10]);
      if (pos + fmt::kBlockHeadBytes + stored > s.size()) break;
      fmt::PutU64(
          &s[pos + fmt::kBlockHashedHeadBytes],
          fmt::BlockHash(&s[pos], std::string_view(s).substr(pos + fmt::kBlockHeadBytes, stored)));
      pos += fmt::kBlockHeadBytes + stored;
    } else if (tag == static_cast<uint8_t>(fmt::FrameTag::kHistory) &&
               pos + fmt::kHistoryHeadBytes <= s.size()) {
      const uint64_t length = fmt::GetU64(&s[pos + 1]);  // covered by stream_hash only
      if (length > s.size() - pos - fmt::kHistoryHeadBytes) break;
      pos += fmt::kHistoryHeadBytes + length;
    } else if (tag == static_cast<uint8_t>(fmt::FrameTag::kFooter) &&
               pos + fmt::kFooterBytes <= s.size()) {
      fmt::PutU64(&s[pos + fmt::kFooterHashedBytes],
                  fmt::Hash64(std::string_view(s).substr(0, pos + fmt::kFooterHashedBytes)));
      break;
    } else {
      break;
    }
  }
  return s;
}

void ReadAll(std::string_view bytes, size_t max_read) {
  mirrorkv::SnapshotReadOptions options;
  options.max_key_bytes = kMaxKeyBytes;
  options.max_value_bytes = kMaxValueBytes;
  ChoppySource source(bytes, max_read);
  auto reader = mirrorkv::SnapshotReader::Open(source, options);
  if (!reader.ok()) {
    FUZZ_CHECK(reader.status().code() == mirrorkv::StatusCode::kCorruption);
    return;
  }
  mirrorkv::SnapshotEntry entry;
  uint64_t entries = 0;
  while ((*reader)->Next(&entry)) {
    ++entries;
    FUZZ_CHECK(entry.key.size() <= kMaxKeyBytes);
    FUZZ_CHECK(entry.value.size() <= kMaxValueBytes);
    FUZZ_CHECK(entry.expire_at_ms >= 0);
  }
  const mirrorkv::Status& status = (*reader)->status();
  FUZZ_CHECK(status.ok() || status.code() == mirrorkv::StatusCode::kCorruption);
  if (status.ok()) {
    FUZZ_CHECK((*reader)->info().entries == entries);
    FUZZ_CHECK((*reader)->info().bytes <= bytes.size());
  }
}

mirrorkv::Store& TargetStore() {
  return mirrorkv::testutil::FuzzTargetStore(kMaxKeyBytes, kMaxValueBytes);
}

void Load(std::string_view bytes) {
  mirrorkv::Store& store = TargetStore();
  (void)store.FlushAll();
  FUZZ_CHECK(store.Set("sentinel", "unchanged").ok());
  mirrorkv::StringReadableFile source(bytes);
  mirrorkv::Result<mirrorkv::SnapshotInfo> info = mirrorkv::LoadSnapshot(store, source);
  if (!info.ok()) {
    FUZZ_CHECK(info.status().code() == mirrorkv::StatusCode::kCorruption);
    FUZZ_CHECK(store.size() == 1);
    FUZZ_CHECK(store.Get("sentinel").value_or("") == "unchanged");
  } else {
    FUZZ_CHECK(store.size() <= info->entries);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  const size_t max_read = size == 0 ? 1 : 1 + data[size - 1] % 64;
  ReadAll(raw, SIZE_MAX);
  ReadAll(raw, max_read);
  Load(raw);
  const std::string fixed = FixChecksums(std::string(raw));
  ReadAll(fixed, max_read);
  Load(fixed);
  return 0;
}
