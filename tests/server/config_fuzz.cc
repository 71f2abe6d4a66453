// libFuzzer target for the configuration file parser (LoadConfig): each input is
// written to a file and loaded as mirrorkv-server loads its redis.conf-style file. Every
// file must be either accepted or refused with the FATAL CONFIG FILE ERROR message that
// names the line (or the FATAL CONFIG ERROR of a setting unusable as a whole, such as a
// dir that does not exist); an accepted one must answer CONFIG GET for every parameter.
// Nothing may crash or read out of bounds (ASan). The file lives in a private temporary
// directory, removed at exit.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "server/config.h"
#include "tests/fuzz_check.h"

namespace {

// A directory of this process's own, removed when the fuzzer exits.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "mirrorkv-config-fuzz-XXXXXX");
    char* made = mkdtemp(pattern.data());
    FUZZ_CHECK(made != nullptr);
    path_ = made;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static ScratchDir scratch;
  const std::string file = scratch.path() + "/fuzz.conf";
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  mirrorkv::Result<mirrorkv::server::ServerConfig> config = mirrorkv::server::LoadConfig(file, {});
  if (!config.ok()) {
    // A bad line ("FATAL CONFIG FILE ERROR ... at line N"), or a setting that cannot be
    // used as a whole ("FATAL CONFIG ERROR": a dir that does not exist).
    FUZZ_CHECK(config.status().message().find("*** FATAL CONFIG") != std::string_view::npos);
    return 0;
  }
  auto all = mirrorkv::server::ConfigGet(*config, {"*"});
  FUZZ_CHECK(!all.empty());
  return 0;
}
