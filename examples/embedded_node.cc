// One application process embedding a replicated node: its Store, served over RESP
// (mirrorkv/server.h), so that replicas and redis-sentinel reach it, while the
// application writes login sessions to the Store in process. Run three of these and
// three redis-sentinels, and Sentinel fails the nodes over as it would redis-servers;
// the application only learns of it through on_role_change.
//
//   embedded_node --port 7001 [--replicaof 127.0.0.1 7000] [--write] [--dir DIR]
//
// With --dir, the node saves its Store to DIR/dump.mkv once a second while it changes,
// and starts from that file: a node restarted after a crash comes back with its data
// and its place in the replication history, so that when Sentinel turns it into a
// replica of the primary that replaced it, it catches up with a partial resync. Without
// --dir it saves nothing.
//
// With --write, while the node is the primary, it writes one login session (1 h TTL)
// and one one-time code (5 min TTL) per 10 ms and confirms them with WAIT for one
// replica; it prints "acked <session> <code>" for every confirmed pair (the keys no
// failover may lose), "written <n>" once a second, and "role ..." on every role change.
// It runs until SIGTERM or SIGINT.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "mirrorkv/server.h"

namespace {

volatile sig_atomic_t stop_requested = 0;

void OnSignal(int) { stop_requested = 1; }

}  // namespace

int main(int argc, char** argv) {
  mirrorkv::ServerOptions options;
  options.io_threads = 1;
  options.settings = {"--loglevel", "warning"};
  std::string dir;
  bool write = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--port" && i + 1 < argc) {
      options.port = static_cast<uint16_t>(std::atoi(argv[++i]));
    } else if (arg == "--replicaof" && i + 2 < argc) {
      options.replicaof = std::string(argv[i + 1]) + " " + argv[i + 2];
      i += 2;
    } else if (arg == "--write") {
      write = true;
    } else if (arg == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: embedded_node --port P [--replicaof HOST PORT] [--write] [--dir DIR]\n");
      return 2;
    }
  }
  if (dir.empty()) {
    options.settings.insert(options.settings.end(), {"--save", ""});
  } else {
    options.settings.insert(options.settings.end(), {"--dir", dir, "--save", "1 1"});
  }
  options.on_role_change = [](const mirrorkv::RoleChange& change) {
    if (change.replica) {
      std::printf("role replica of %s:%d\n", change.primary_host.c_str(), change.primary_port);
    } else {
      std::printf("role primary\n");
    }
    std::fflush(stdout);
  };
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  signal(SIGPIPE, SIG_IGN);

  auto node = mirrorkv::Server::Start(options);
  if (!node.ok()) {
    std::fprintf(stderr, "cannot start the node: %s\n", node.status().ToString().c_str());
    return 1;
  }
  std::printf("listening on %d\n", (*node)->port());
  std::fflush(stdout);

  // The key names carry the port and a counter, so that writes of successive primaries
  // never collide.
  uint64_t next = 0;
  auto last_report = std::chrono::steady_clock::now();
  while (!stop_requested) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (write && std::chrono::steady_clock::now() - last_report >= std::chrono::seconds(1)) {
      last_report = std::chrono::steady_clock::now();
      std::printf("written %llu\n", static_cast<unsigned long long>(next));
      std::fflush(stdout);
    }
    if (!write || (*node)->is_replica()) continue;
    std::string id = std::to_string((*node)->port()) + ":" + std::to_string(next);
    std::string session = "session:" + id;
    std::string code = "otp:" + id;
    mirrorkv::Store& store = (*node)->store();
    mirrorkv::Status status = store
                                  .Set(session, "user-" + std::to_string(next),
                                       {.expiry = mirrorkv::Expiry::After(std::chrono::hours(1))})
                                  .status();
    if (status.ok()) {
      status = store
                   .Set(code, std::to_string(100000 + next % 900000),
                        {.expiry = mirrorkv::Expiry::After(std::chrono::minutes(5))})
                   .status();
    }
    if (!status.ok()) continue;  // became a replica meanwhile (READONLY), or refused
    ++next;
    mirrorkv::Result<size_t> acked = (*node)->WaitForReplicas(1, std::chrono::milliseconds(500));
    if (acked.ok() && *acked >= 1) {
      std::printf("acked %s %s\n", session.c_str(), code.c_str());
      std::fflush(stdout);
    }
  }
  (*node)->Stop();
  return 0;
}
