// Writes a small seed corpus for mirrorkv_snapshot_fuzz: valid snapshots that between
// them hold every kind of frame, codec and entry (empty, small, with deadlines, an lz4
// block and a raw one, several blocks, a history frame).
//
//   mirrorkv_snapshot_fuzz_seeds <directory>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "mirrorkv/file.h"
#include "mirrorkv/snapshot.h"
#include "mirrorkv/store.h"
#include "snapshot/snapshot_file.h"

namespace {

int Write(const std::filesystem::path& dir, const std::string& name,
          const mirrorkv::SnapshotPosition& position, int entries, size_t value_bytes,
          bool compressible, bool deadlines) {
  std::string out;
  mirrorkv::StringWritableFile sink(&out);
  mirrorkv::SnapshotOptions options;
  options.block_bytes = 4096;
  auto writer = mirrorkv::SnapshotWriter::Create(sink, position, options);
  if (!writer.ok()) return 1;
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < entries; ++i) {
    std::string value(value_bytes, 'a');
    for (char& c : value) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      c = compressible ? "ab"[x & 1] : static_cast<char>(x);
    }
    if (!(*writer)
             ->Add("key" + std::to_string(i), value, deadlines && i % 2 ? 1'700'000'000'000 + i : 0)
             .ok()) {
      return 1;
    }
  }
  if (!(*writer)->Finish().ok()) return 1;
  std::ofstream(dir / name, std::ios::binary) << out;
  return 0;
}

// A version 3 snapshot of a small store, with a history frame of a few commands.
int WriteWithHistory(const std::filesystem::path& dir, const std::string& id) {
  auto store = mirrorkv::Store::Open({});
  if (!store.ok() || !(*store)->Set("k", "v").ok()) return 1;
  std::string out;
  mirrorkv::StringWritableFile sink(&out);
  auto written = mirrorkv::internal::WriteSnapshotAt(
      **store, {id, 100}, sink, {}, [] { return uint64_t{100}; },
      []() -> std::optional<std::string> {
        return "*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nw\r\n";
      });
  if (!written.ok()) return 1;
  std::ofstream(dir / "history.mkv", std::ios::binary) << out;
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
  const std::string id = "0123456789abcdef0123456789abcdef01234567";
  int failed = 0;
  failed += Write(dir, "empty.mkv", {}, 0, 0, false, false);
  failed += Write(dir, "one.mkv", {id, 42}, 1, 1, false, false);
  failed += Write(dir, "deadlines.mkv", {id, 7}, 6, 3, false, true);
  failed += Write(dir, "lz4.mkv", {}, 40, 100, true, true);
  failed += Write(dir, "raw.mkv", {}, 20, 100, false, false);
  failed += Write(dir, "blocks.mkv", {id, 1}, 120, 60, true, true);
  failed += WriteWithHistory(dir, id);
  return failed == 0 ? 0 : 1;
}
