// Writes a small seed corpus for mirrorkv_rdb_fuzz: RDBs written by WriteRdb that between
// them hold every string encoding (raw, integers of 8, 16 and 32 bits, LZF), deadlines,
// AUX fields with a replication position, a list, a set, a hash and a sorted set, and an
// empty data set; each also with its checksum zeroed, which the fuzzer keeps when it
// mutates the body.
//
//   mirrorkv_rdb_fuzz_seeds <directory>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "mirrorkv/collections.h"
#include "mirrorkv/file.h"
#include "mirrorkv/rdb.h"
#include "mirrorkv/store.h"

namespace {

int Write(const std::filesystem::path& dir, const std::string& name, int entries, bool deadlines,
          bool position, bool collections = false) {
  mirrorkv::StoreOptions store_options;
  store_options.stripe_count = 4;
  store_options.active_expiry_interval = std::chrono::milliseconds(0);
  auto store = mirrorkv::Store::Open(store_options);
  if (!store.ok()) return 1;
  for (int i = 0; i < entries; ++i) {
    const std::string key = "key" + std::to_string(i);
    std::string value;
    switch (i % 4) {
      case 0:
        value = std::to_string(i * 7919 - 40000);  // 8, 16 or 32-bit integers
        break;
      case 1:
        value = std::string(40 + i, 'a' + i % 26);  // LZF
        break;
      case 2:
        value = "v" + std::to_string(i);  // raw
        break;
      default:
        value = std::to_string(int64_t{1} << 40);  // too wide: raw text
    }
    if (!(*store)->Set(key, value).ok()) return 1;
    if (deadlines && i % 2 == 1) {
      if (!(*store)->Expire(key, mirrorkv::Expiry::After(std::chrono::hours(1))).ok()) return 1;
    }
  }
  if (collections) {
    // One of each type, with integer, short and LZF-compressible elements.
    const std::string long_item(60, 'c');
    const std::string_view items[] = {"1", "-300", "item", long_item};
    mirrorkv::Store& s = **store;
    if (!mirrorkv::Lists(s).Push("list", mirrorkv::ListEnd::kRight, items).ok() ||
        !mirrorkv::Sets(s).Add("set", items).ok() ||
        !mirrorkv::Hashes(s).Set("hash", {{{"f", "1"}, {"g", long_item}}}).ok() ||
        !mirrorkv::SortedSets(s).Add("zset", {{{1.5, "a"}, {-2, "b"}}}).ok() ||
        !s.Expire("list", mirrorkv::Expiry::After(std::chrono::hours(1))).ok()) {
      return 1;
    }
  }
  std::string out;
  mirrorkv::StringWritableFile sink(&out);
  mirrorkv::RdbWriteOptions options;
  if (position) options.position = {"0123456789abcdef0123456789abcdef01234567", 42};
  if (!mirrorkv::WriteRdb(**store, sink, options).ok()) return 1;
  std::ofstream(dir / name, std::ios::binary) << out;
  out.replace(out.size() - 8, 8, 8, '\0');
  std::ofstream(dir / (name + ".unchecked"), std::ios::binary) << out;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <directory>\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  int failed = 0;
  failed += Write(dir, "empty.rdb", 0, false, false);
  failed += Write(dir, "strings.rdb", 12, false, true);
  failed += Write(dir, "deadlines.rdb", 8, true, false);
  failed += Write(dir, "collections.rdb", 2, false, false, /*collections=*/true);
  return failed == 0 ? 0 : 1;
}
