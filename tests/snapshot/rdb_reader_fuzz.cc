// libFuzzer target for the RDB reader (LoadRdb).
//
// Each input is loaded as is (mostly rejected by the CRC-64, which exercises the lengths,
// encodings and opcodes up to the end), and again with its last 8 bytes zeroed, which an
// RDB reads as "no checksum", so that the fuzzer also reaches publication. Either way the
// reader must not crash or hang, must respect its limits, and a failed load must leave the
// store exactly as it was; a successful one holds no more keys than the file declared.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mirrorkv/file.h"
#include "mirrorkv/rdb.h"
#include "mirrorkv/store.h"
#include "tests/snapshot/fuzz_util.h"

namespace {

constexpr size_t kMaxKeyBytes = 1 << 12;
constexpr size_t kMaxValueBytes = 1 << 16;

mirrorkv::Store& TargetStore() {
  return mirrorkv::testutil::FuzzTargetStore(kMaxKeyBytes, kMaxValueBytes);
}

void Load(std::string_view bytes, bool skip_unsupported) {
  mirrorkv::Store& store = TargetStore();
  (void)store.FlushAll();
  FUZZ_CHECK(store.Set("sentinel", "unchanged").ok());
  mirrorkv::StringReadableFile source(bytes);
  mirrorkv::RdbReadOptions options;
  options.skip_unsupported = skip_unsupported;
  mirrorkv::Result<mirrorkv::RdbLoadInfo> info = mirrorkv::LoadRdb(store, source, options);
  if (!info.ok()) {
    FUZZ_CHECK(info.status().code() == mirrorkv::StatusCode::kCorruption ||
               info.status().code() == mirrorkv::StatusCode::kInvalidArgument);
    FUZZ_CHECK(store.size() == 1);
    FUZZ_CHECK(store.Get("sentinel").value_or("") == "unchanged");
  } else {
    FUZZ_CHECK(store.size() <= info->keys);
    FUZZ_CHECK(info->bytes <= bytes.size());
    FUZZ_CHECK(skip_unsupported || info->skipped_keys == 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  const bool skip = size > 0 && (data[0] & 1);
  Load(raw, skip);
  if (size >= 8) {
    std::string unchecked(raw);
    unchecked.replace(size - 8, 8, 8, '\0');
    Load(unchecked, !skip);
  }
  return 0;
}
