// The latency of a write made through the embedded node (include/mirrorkv/server.h), in
// one process: a primary node and its replica node (mirrorkv::Server, 127.0.0.1, free
// ports, one I/O thread each), and four ways to SET one key:
//
//   replica Write    Server::Write({"SET", k, v}) on the replica node: forwarded to the
//                    primary, pipelined with INFO replication, then a wait until the local
//                    replica has applied the primary's offset (read-your-writes);
//   primary Write    the same call on the primary node: its own server, over loopback,
//                    and the fence checked against its own position;
//   client SET       a blocking RESP client's SET to the primary over loopback: one round
//                    trip, the baseline;
//   client SET+INFO  that client sending the SET pipelined with INFO replication, as the
//                    forwarder does: the replica Write without its local wait.
//
// For each value size the modes run in rounds of --batch writes, in a random order in
// every round (seed printed), so that a busy phase of the shared machine hits all of them
// alike. Printed per mode: median and p99 latency, their ratios to client SET, and the
// CPU time of the whole process (both nodes and the caller) per write.
//
//   forwarded_write_bench [--writes 20000] [--batch 1000] [--seed N]
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "mirrorkv/server.h"
#include "mirrorkv/transport.h"
#include "replication/resp.h"
#include "replication/transport_io.h"

namespace mirrorkv {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kTimeout = 10s;
constexpr int kKeys = 100'000;
constexpr std::array<size_t, 2> kValueSizes = {10, 1024};

enum Mode { kReplicaWrite, kPrimaryWrite, kClientSet, kClientSetInfo, kModes };
constexpr std::array<const char*, kModes> kModeNames = {"replica Write", "primary Write",
                                                        "client SET", "client SET+INFO"};

[[noreturn]] void Die(const std::string& what, const Status& status) {
  std::fprintf(stderr, "%s: %s\n", what.c_str(), status.ToString().c_str());
  std::exit(1);
}

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// A blocking RESP client on one connection, the way an application's client library
// talks to the primary: send, then read the whole reply.
class Client {
 public:
  explicit Client(uint16_t port) {
    Result<std::unique_ptr<Transport>> connection = ConnectTcp("127.0.0.1", port, kTimeout);
    if (!connection.ok()) Die("cannot connect the client", connection.status());
    connection_ = std::move(*connection);
    reader_ = std::make_unique<internal::TransportReader>(*connection_, kTimeout);
  }

  // SET, and with `with_info` INFO replication pipelined after it; fails on anything but
  // +OK (and a bulk reply to INFO).
  void Set(std::string_view key, std::string_view value, bool with_info) {
    request_.clear();
    internal::AppendCommand(&request_, {"SET", key, value});
    if (with_info) internal::AppendCommand(&request_, {"INFO", "replication"});
    Status status = connection_->Send(request_);
    if (!status.ok()) Die("client send", status);
    Result<std::string> line = reader_->ReadLine();
    if (!line.ok()) Die("client SET", line.status());
    if (*line != "+OK") Die("client SET", Status::Corruption(*line));
    if (!with_info) return;
    line = reader_->ReadLine();
    if (!line.ok()) Die("client INFO", line.status());
    if (line->empty() || (*line)[0] != '$') Die("client INFO", Status::Corruption(*line));
    info_.resize(std::strtoull(line->c_str() + 1, nullptr, 10) + 2);
    status = reader_->ReadExact(info_.data(), info_.size());
    if (!status.ok()) Die("client INFO", status);
  }

 private:
  std::unique_ptr<Transport> connection_;
  std::unique_ptr<internal::TransportReader> reader_;
  std::string request_;
  std::string info_;
};

struct Samples {
  std::vector<double> latency_us;
  double cpu_seconds = 0;
};

double Percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  size_t rank = static_cast<size_t>(p * static_cast<double>(values.size()));
  return values[std::min(rank, values.size() - 1)];
}

std::unique_ptr<Server> StartNode(const std::string& replicaof) {
  ServerOptions options;
  options.port = 0;
  options.io_threads = 1;
  options.replicaof = replicaof;
  options.settings = {"--loglevel", "warning"};
  Result<std::unique_ptr<Server>> node = Server::Start(options);
  if (!node.ok()) Die("cannot start a node", node.status());
  return std::move(*node);
}

int Run(int writes, int batch, uint32_t seed) {
  std::unique_ptr<Server> primary = StartNode("");
  std::unique_ptr<Server> replica = StartNode("127.0.0.1 " + std::to_string(primary->port()));
  Client client(primary->port());
  std::printf(
      "primary on port %d, replica on port %d, %d writes per mode and size in "
      "batches of %d, seed %u\n",
      primary->port(), replica->port(), writes, batch, seed);

  std::vector<std::string> keys(kKeys);
  char buffer[32];
  for (int i = 0; i < kKeys; ++i) {
    std::snprintf(buffer, sizeof(buffer), "key:%012d", i);
    keys[i] = buffer;
  }
  std::mt19937 random(seed);
  int next_key = 0;

  auto write = [&](Mode mode, std::string_view value) {
    std::string_view key = keys[next_key++ % kKeys];
    if (mode == kClientSet || mode == kClientSetInfo) {
      client.Set(key, value, mode == kClientSetInfo);
      return;
    }
    Server& node = mode == kReplicaWrite ? *replica : *primary;
    Result<ServerReply> reply = node.Write({"SET", key, value}, kTimeout);
    if (!reply.ok()) Die(std::string(kModeNames[mode]), reply.status());
  };

  std::printf("\n%-7s %-16s %7s %9s %9s %10s %10s %13s\n", "value", "mode", "writes", "p50 us",
              "p99 us", "p50/client", "p99/client", "CPU us/write");
  for (size_t value_size : kValueSizes) {
    const std::string value(value_size, 'v');
    // Warm-up: the replica's first Write also waits for its full resync.
    for (int m = 0; m < kModes; ++m) {
      for (int i = 0; i < std::min(batch, 1000); ++i) write(static_cast<Mode>(m), value);
    }
    std::array<Samples, kModes> samples;
    std::array<Mode, kModes> order = {kReplicaWrite, kPrimaryWrite, kClientSet, kClientSetInfo};
    for (int done = 0; done < writes; done += batch) {
      std::shuffle(order.begin(), order.end(), random);
      const int n = std::min(batch, writes - done);
      for (Mode mode : order) {
        Samples& s = samples[mode];
        const double cpu_before = CpuSeconds();
        for (int i = 0; i < n; ++i) {
          const auto start = SteadyClock::now();
          write(mode, value);
          s.latency_us.push_back(
              std::chrono::duration<double, std::micro>(SteadyClock::now() - start).count());
        }
        s.cpu_seconds += CpuSeconds() - cpu_before;
      }
    }
    const double client_p50 = Percentile(samples[kClientSet].latency_us, 0.5);
    const double client_p99 = Percentile(samples[kClientSet].latency_us, 0.99);
    for (int m = 0; m < kModes; ++m) {
      const Samples& s = samples[m];
      const double p50 = Percentile(s.latency_us, 0.5);
      const double p99 = Percentile(s.latency_us, 0.99);
      std::printf("%5zu B %-16s %7zu %9.1f %9.1f %10.2f %10.2f %13.1f\n", value_size, kModeNames[m],
                  s.latency_us.size(), p50, p99, p50 / client_p50, p99 / client_p99,
                  s.cpu_seconds * 1e6 / static_cast<double>(s.latency_us.size()));
    }
  }
  replica->Stop();
  primary->Stop();
  return 0;
}

}  // namespace
}  // namespace mirrorkv

int main(int argc, char** argv) {
  int writes = 20'000;
  int batch = 1'000;
  uint32_t seed = std::random_device{}();
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--writes" && i + 1 < argc) {
      writes = std::atoi(argv[++i]);
    } else if (arg == "--batch" && i + 1 < argc) {
      batch = std::atoi(argv[++i]);
    } else if (arg == "--seed" && i + 1 < argc) {
      seed = static_cast<uint32_t>(std::strtoul(argv[++i], nullptr, 10));
    } else {
      std::fprintf(stderr, "usage: forwarded_write_bench [--writes N] [--batch N] [--seed N]\n");
      return 2;
    }
  }
  if (writes <= 0 || batch <= 0) {
    std::fprintf(stderr, "--writes and --batch must be positive\n");
    return 2;
  }
  return mirrorkv::Run(writes, batch, seed);
}
