// Snapshot files: the atomic save (every failing write, a failing sync, a failing
// rename, a crash at a random moment leave the old file whole), loading, and opening a
// store from a file (missing means empty, corrupt means an error).
// Set MIRRORKV_TEST_SEED to replay a randomized run.
#include "snapshot/snapshot_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "mirrorkv/clock.h"
#include "mirrorkv/snapshot.h"
#include "tests/snapshot/test_util.h"

namespace mirrorkv {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using testutil::AllEntries;
using testutil::Contents;
using testutil::Item;
namespace fs = std::filesystem;

constexpr char kReplicationId[] = "0123456789abcdef0123456789abcdef01234567";

class SnapshotFileTest : public ::testing::Test {
 protected:
  SnapshotFileTest() {
    std::string pattern = (fs::temp_directory_path() / "mirrorkv_snapshot_XXXXXX").string();
    EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    path_ = (fs::path(dir_) / "dump.mkv").string();
  }
  ~SnapshotFileTest() override { fs::remove_all(dir_); }

  StoreOptions Options() {
    StoreOptions options;
    options.stripe_count = 8;
    options.clock = &clock_;
    options.active_expiry_interval = 0ms;
    return options;
  }

  std::unique_ptr<Store> StoreWith(const Contents& contents) {
    auto store = testutil::OpenStore(Options());
    testutil::Fill(*store, contents);
    return store;
  }

  Contents LoadFile() {
    auto store = testutil::OpenStore(Options());
    Result<SnapshotInfo> info = LoadSnapshotFile(*store, path_);
    EXPECT_TRUE(info.ok()) << info.status().ToString();
    return AllEntries(*store);
  }

  // Files in the directory other than the snapshot itself (temporary files).
  std::vector<std::string> Strays() {
    std::vector<std::string> out;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      if (entry.path() != path_) out.push_back(entry.path().filename().string());
    }
    return out;
  }

  void WriteRaw(std::string_view bytes) {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  ManualClock clock_;
  std::string dir_;
  std::string path_;
};

Contents Numbered(const std::string& prefix, int n, size_t value_bytes) {
  Contents out;
  for (int i = 0; i < n; ++i) {
    out[prefix + std::to_string(i)] =
        Item{std::string(value_bytes, static_cast<char>('a' + i % 26)), 0};
  }
  return out;
}

TEST_F(SnapshotFileTest, SaveThenLoad) {
  std::mt19937_64 rng(testutil::SeedFromEnv(3));
  Contents contents = testutil::RandomContents(rng, 3000, 500, clock_.NowMillis());
  auto store = StoreWith(contents);
  Result<SnapshotInfo> saved = SaveSnapshotFile(*store, path_, {kReplicationId, 77});
  ASSERT_TRUE(saved.ok()) << saved.status().ToString();
  EXPECT_EQ(saved->bytes, fs::file_size(path_));
  EXPECT_THAT(Strays(), ::testing::IsEmpty());
  auto loaded = testutil::OpenStore(Options());
  Result<SnapshotInfo> info = LoadSnapshotFile(*loaded, path_);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->position, (SnapshotPosition{kReplicationId, 77}));
  EXPECT_EQ(AllEntries(*loaded), contents);
  // Saving again replaces the file.
  ASSERT_TRUE(store->Set("more", "x").ok());
  ASSERT_TRUE(SaveSnapshotFile(*store, path_, {}).ok());
  EXPECT_EQ(LoadFile().size(), contents.size() + 1);
  EXPECT_THAT(Strays(), ::testing::IsEmpty());
}

// A save killed midway leaves its temporary file. The next process removes those whose
// writer is gone, including one named with its own pid (a restarted container's PID 1
// gets the same pid every time), and its own saves never collide with them.
TEST_F(SnapshotFileTest, StaleTemporaryFilesAreRemovedAndNeverCollide) {
  const std::string dead = path_ + ".tmp.4194304.00000000deadbeef.0";  // above pid_max
  const std::string own = path_ + ".tmp." + std::to_string(::getpid()) + ".00000000deadbeef.0";
  const std::string foreign = path_ + ".tmp.not-a-pid";
  for (const std::string& file : {dead, own, foreign}) std::ofstream(file) << "partial";

  Result<std::vector<std::string>> removed = RemoveStaleSnapshotTemporaries(path_);
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_THAT(*removed, ::testing::UnorderedElementsAre(dead, own));
  EXPECT_THAT(Strays(), ::testing::ElementsAre(fs::path(foreign).filename().string()));

  // A leftover under this process's pid with the first counter value does not block a save.
  std::ofstream(own) << "partial";
  auto store = StoreWith(Numbered("k", 10, 8));
  ASSERT_TRUE(SaveSnapshotFile(*store, path_, {}).ok());
  EXPECT_EQ(LoadFile().size(), 10u);
}

TEST_F(SnapshotFileTest, OpenStoreFromMissingFileIsEmpty) {
  SnapshotInfo info;
  info.entries = 5;
  auto store = OpenStoreFromSnapshot(path_, Options(), &info);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->size(), 0u);
  EXPECT_EQ(info.bytes, 0u);
  EXPECT_EQ(info.entries, 0u);
}

TEST_F(SnapshotFileTest, OpenStoreFromSavedFile) {
  Contents contents = Numbered("k", 100, 10);
  auto store = StoreWith(contents);
  ASSERT_TRUE(SaveSnapshotFile(*store, path_, {kReplicationId, 5}).ok());
  SnapshotInfo info;
  auto reopened = OpenStoreFromSnapshot(path_, Options(), &info);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ(AllEntries(**reopened), contents);
  EXPECT_EQ(info.position, (SnapshotPosition{kReplicationId, 5}));
  EXPECT_EQ(info.entries, 100u);
  EXPECT_EQ(info.bytes, fs::file_size(path_));
  // Bad options are reported as such.
  StoreOptions bad = Options();
  bad.stripe_count = 0;
  EXPECT_EQ(OpenStoreFromSnapshot(path_, bad).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(SnapshotFileTest, CorruptOrUnreadableFileIsAnErrorNeverAnEmptyStore) {
  auto store = StoreWith(Numbered("k", 100, 10));
  ASSERT_TRUE(SaveSnapshotFile(*store, path_, {}).ok());
  std::string bytes;
  {
    std::ifstream in(path_, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  for (std::string damaged :
       {std::string(), bytes.substr(0, bytes.size() / 2), bytes.substr(0, bytes.size() - 1),
        bytes + "x", std::string("garbage")}) {
    WriteRaw(damaged);
    Result<std::unique_ptr<Store>> opened = OpenStoreFromSnapshot(path_, Options());
    EXPECT_EQ(opened.status().code(), StatusCode::kCorruption);
    EXPECT_THAT(std::string(opened.status().message()), HasSubstr("loading " + path_));
  }
  WriteRaw(bytes + "x");
  EXPECT_THAT(std::string(OpenStoreFromSnapshot(path_, Options()).status().message()),
              HasSubstr("unexpected bytes after the footer"));
  // A directory where the file should be.
  fs::remove(path_);
  fs::create_directory(path_);
  EXPECT_EQ(OpenStoreFromSnapshot(path_, Options()).status().code(), StatusCode::kIOError);
}

TEST_F(SnapshotFileTest, LoadMissingFileIsNotFoundAndChangesNothing) {
  auto store = StoreWith(Numbered("k", 3, 1));
  Result<SnapshotInfo> info = LoadSnapshotFile(*store, path_);
  EXPECT_EQ(info.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->size(), 3u);
}

// Counts the appends that pass through it into a caller-owned counter.
class CountingWritableFile final : public WritableFile {
 public:
  CountingWritableFile(std::unique_ptr<WritableFile> inner, int* appends)
      : inner_(std::move(inner)), appends_(appends) {}
  Status Append(std::string_view data) override {
    ++*appends_;
    return inner_->Append(data);
  }
  Status Flush() override { return inner_->Flush(); }
  Status Sync() override { return inner_->Sync(); }
  Status Close() override { return inner_->Close(); }

 private:
  std::unique_ptr<WritableFile> inner_;
  int* appends_;
};

TEST_F(SnapshotFileTest, FailingKthWriteOrSyncKeepsTheOldFile) {
  const Contents old_contents = Numbered("old", 50, 20);
  ASSERT_TRUE(SaveSnapshotFile(*StoreWith(old_contents), path_, {}).ok());
  auto store = StoreWith(Numbered("new", 5000, 40));
  SnapshotOptions options;
  options.block_bytes = 16 << 10;
  // Count the appends of a complete save.
  int appends = 0;
  const std::string other = path_ + ".other";
  ASSERT_TRUE(
      internal::SaveSnapshotFileVia(*store, other, {}, options,
                                    [&](std::unique_ptr<WritableFile> file) {
                                      return std::unique_ptr<WritableFile>(
                                          new CountingWritableFile(std::move(file), &appends));
                                    })
          .ok());
  fs::remove(other);
  ASSERT_GT(appends, 5);
  for (int k = 1; k <= appends + 1; ++k) {
    const bool fail_sync = k == appends + 1;
    SCOPED_TRACE(fail_sync ? std::string("failing sync") : "failing write " + std::to_string(k));
    Result<SnapshotInfo> saved = internal::SaveSnapshotFileVia(
        *store, path_, {}, options, [&](std::unique_ptr<WritableFile> file) {
          return std::unique_ptr<WritableFile>(new testutil::FaultyWritableFile(
              std::move(file), fail_sync ? INT32_MAX : k, fail_sync));
        });
    ASSERT_EQ(saved.status().code(), StatusCode::kIOError);
    EXPECT_THAT(std::string(saved.status().message()), HasSubstr("saving snapshot to " + path_));
    EXPECT_THAT(std::string(saved.status().message()), HasSubstr("injected"));
    EXPECT_EQ(LoadFile(), old_contents);
    EXPECT_THAT(Strays(), ::testing::IsEmpty());
  }
}

TEST_F(SnapshotFileTest, FailedRenameRemovesTheTemporaryFile) {
  fs::create_directory(path_);
  std::ofstream(fs::path(path_) / "occupant") << "x";
  auto store = StoreWith(Numbered("k", 10, 10));
  Result<SnapshotInfo> saved = SaveSnapshotFile(*store, path_, {});
  EXPECT_EQ(saved.status().code(), StatusCode::kIOError);
  EXPECT_THAT(std::string(saved.status().message()), HasSubstr("renaming"));
  EXPECT_THAT(Strays(), ::testing::IsEmpty());
}

TEST_F(SnapshotFileTest, SaveIntoMissingDirectoryIsAnIOError) {
  auto store = StoreWith(Numbered("k", 10, 10));
  Result<SnapshotInfo> saved =
      SaveSnapshotFile(*store, (fs::path(dir_) / "no" / "such" / "dir.mkv").string(), {});
  EXPECT_EQ(saved.status().code(), StatusCode::kIOError);
  EXPECT_THAT(std::string(saved.status().message()), HasSubstr("No such file or directory"));
  EXPECT_EQ(SaveSnapshotFile(*store, path_, {"not-hex", 0}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(path_));
  EXPECT_THAT(Strays(), ::testing::IsEmpty());
}

// Kills a process that saves in a loop at random moments: the file must always load,
// as the old content or the new, never as a mix, a truncation or nothing.
TEST_F(SnapshotFileTest, CrashDuringSaveLeavesOldOrNewFileWhole) {
  std::mt19937_64 rng(testutil::SeedFromEnv(0xc4a54));
  const Contents old_contents = Numbered("old", 20, 10);
  const Contents new_contents = Numbered("new", 40000, 100);
  auto old_store = StoreWith(old_contents);
  auto new_store = StoreWith(new_contents);  // no threads: safe to fork with
  // Kill times spread over a few saves (plus the fork), whatever the build's speed.
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(SaveSnapshotFile(*new_store, path_ + ".timing", {}).ok());
  const auto save_us = std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::steady_clock::now() - started)
                           .count();
  fs::remove(path_ + ".timing");
  int saw_old = 0;
  int saw_new = 0;
  for (int round = 0; round < 12; ++round) {
    ASSERT_TRUE(SaveSnapshotFile(*old_store, path_, {}).ok());
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      while (true) (void)SaveSnapshotFile(*new_store, path_, {});
    }
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % (6 * save_us + 20'000)));
    ::kill(child, SIGKILL);
    int wstatus = 0;
    ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
    Contents loaded = LoadFile();
    if (loaded == old_contents) {
      ++saw_old;
    } else {
      ASSERT_EQ(loaded, new_contents) << "round " << round;
      ++saw_new;
    }
    for (const std::string& stray : Strays()) fs::remove(fs::path(dir_) / stray);
  }
  std::cout << "one save: " << save_us << " us; old file " << saw_old << " times, new file "
            << saw_new << " times\n";
}

}  // namespace
}  // namespace mirrorkv
