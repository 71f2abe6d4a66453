// mirrorkv-server: a Redis-protocol server over a mirrorkv Store.
//
//   mirrorkv-server                          in memory on 127.0.0.1:6379
//   mirrorkv-server /etc/mirrorkv.conf       a redis.conf-style file
//   mirrorkv-server --port 7000 --save ""    flags, as redis-server takes them
//
// Exit code 0 after SHUTDOWN or SIGTERM, 1 for a bad configuration or a port that cannot
// be bound; the error names the file line or the flag.
#include <limits.h>
#include <signal.h>
#include <stdlib.h>

#include <cstdio>
#include <string>
#include <vector>

#include "server/config.h"
#include "server/server.h"
#include "server/version.h"

namespace {

void PrintUsage() {
  std::fprintf(stderr,
               "Usage: mirrorkv-server [/path/to/redis.conf] [--name value ...]\n"
               "       mirrorkv-server -v or --version\n"
               "       mirrorkv-server -h or --help\n\n"
               "Examples:\n"
               "       mirrorkv-server (run in memory on 127.0.0.1:6379)\n"
               "       mirrorkv-server /etc/mirrorkv/6379.conf\n"
               "       mirrorkv-server --port 7777 --maxmemory 100mb\n"
               "       mirrorkv-server /etc/mirrorkv.conf --loglevel verbose\n");
}

}  // namespace

int main(int argc, char** argv) {
  using namespace mirrorkv::server;
  // Writes to a peer that went away must fail with EPIPE, not kill the process.
  signal(SIGPIPE, SIG_IGN);

  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && (args[0] == "-v" || args[0] == "--version")) {
    std::printf("mirrorkv-server v=%s (Redis protocol %s)\n", std::string(kServerVersion).c_str(),
                std::string(kRedisVersion).c_str());
    return 0;
  }
  if (!args.empty() && (args[0] == "-h" || args[0] == "--help")) {
    PrintUsage();
    return 0;
  }
  std::string config_file;
  size_t first_flag = 0;
  if (!args.empty() && args[0].compare(0, 2, "--") != 0) {
    config_file = args[0];
    first_flag = 1;
  }
  std::vector<std::string> flags(args.begin() + first_flag, args.end());

  mirrorkv::Result<ServerConfig> config = LoadConfig(config_file, flags);
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", std::string(config.status().message()).c_str());
    return 1;
  }
  mirrorkv::Result<std::unique_ptr<Server>> server = Server::Create(std::move(*config));
  if (!server.ok()) {
    std::fprintf(stderr, "Fatal error: %s\n", server.status().ToString().c_str());
    return 1;
  }
  char executable[PATH_MAX];
  if (realpath("/proc/self/exe", executable) != nullptr) (*server)->set_executable(executable);
  return (*server)->Run();
}
