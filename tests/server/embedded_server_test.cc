// mirrorkv::Server embedded in a process: two nodes on their own Stores (ports from 0)
// replicating to each other, the role-change callback, Stop under load, and writes made
// on a replica node (forwarded to the primary, read-your-writes).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mirrorkv/server.h"

namespace mirrorkv {
namespace {

using namespace std::chrono_literals;

// A blocking loopback connection with a 5 s timeout on every call; closed on destruction.
class Connection {
 public:
  explicit Connection(uint16_t port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    timeval timeout{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  }
  ~Connection() { close(fd_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends an inline command and returns the first reply line ("" on error or timeout).
  std::string Call(const std::string& command) {
    std::string line = command + "\r\n";
    if (!connected_ || send(fd_, line.data(), line.size(), MSG_NOSIGNAL) < 0) return "";
    std::string reply;
    char c;
    while (recv(fd_, &c, 1, 0) == 1) {
      if (c == '\n') break;
      if (c != '\r') reply += c;
    }
    return reply;
  }
  // Sends an inline command without reading its reply (a command that blocks).
  bool Send(const std::string& command) {
    std::string line = command + "\r\n";
    return connected_ && send(fd_, line.data(), line.size(), MSG_NOSIGNAL) >= 0;
  }

 private:
  int fd_;
  bool connected_ = false;
};

ServerOptions NodeOptions() {
  ServerOptions options;
  options.port = 0;
  options.io_threads = 1;
  options.settings = {"--loglevel", "warning"};
  return options;
}

template <typename Predicate>
bool WaitFor(Predicate predicate, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return predicate();
}

TEST(EmbeddedServerTest, TwoNodesInOneProcessReplicateAndReportRoleChanges) {
  auto primary = Server::Start(NodeOptions());
  ASSERT_TRUE(primary.ok()) << primary.status().ToString();
  ASSERT_NE((*primary)->port(), 0);

  std::mutex mu;
  std::vector<RoleChange> changes;
  ServerOptions replica_options = NodeOptions();
  replica_options.replicaof = "127.0.0.1 " + std::to_string((*primary)->port());
  replica_options.on_role_change = [&](const RoleChange& change) {
    std::lock_guard<std::mutex> lock(mu);
    changes.push_back(change);
  };
  auto replica = Server::Start(replica_options);
  ASSERT_TRUE(replica.ok()) << replica.status().ToString();
  ASSERT_NE((*replica)->port(), (*primary)->port());
  EXPECT_TRUE((*replica)->is_replica());
  EXPECT_FALSE((*primary)->is_replica());

  // Written in process on the primary, read in process on the replica.
  ASSERT_TRUE((*primary)->store().Set("session:1", "alice").ok());
  Result<size_t> acked = (*primary)->WaitForReplicas(1, 10s);
  ASSERT_TRUE(acked.ok());
  EXPECT_EQ(*acked, 1u);
  EXPECT_EQ(*(*replica)->store().Get("session:1"), "alice");
  EXPECT_EQ((*replica)->store().Set("x", "y").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ((*replica)->WaitForReplicas(1, 10ms).status().code(), StatusCode::kFailedPrecondition);

  // What Sentinel does: REPLICAOF NO ONE over the node's endpoint.
  Connection admin((*replica)->port());
  EXPECT_EQ(admin.Call("REPLICAOF NO ONE"), "+OK");
  EXPECT_FALSE((*replica)->is_replica());
  EXPECT_TRUE((*replica)->store().Set("x", "y").ok());
  EXPECT_EQ(admin.Call("REPLICAOF 127.0.0.1 " + std::to_string((*primary)->port())), "+OK");
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_FALSE(changes[0].replica);
  EXPECT_TRUE(changes[1].replica);
  EXPECT_EQ(changes[1].primary_host, "127.0.0.1");
  EXPECT_EQ(changes[1].primary_port, (*primary)->port());
}

TEST(EmbeddedServerTest, StopUnder300ClientsAndTwoReplicasReturnsWithinASecond) {
  auto primary = Server::Start(NodeOptions());
  ASSERT_TRUE(primary.ok()) << primary.status().ToString();
  const uint16_t port = (*primary)->port();
  ServerOptions replica_options = NodeOptions();
  replica_options.replicaof = "127.0.0.1 " + std::to_string(port);
  auto first = Server::Start(replica_options);
  auto second = Server::Start(replica_options);
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_TRUE((*primary)->store().Set("k", "v").ok());
  ASSERT_EQ(*(*primary)->WaitForReplicas(2, 10s), 2u);

  // Two thirds of the clients are blocked (BLPOP without and with a timeout): their
  // wait is event-loop state with a timer, which must not hold Stop back.
  std::vector<std::unique_ptr<Connection>> clients;
  for (int i = 0; i < 300; ++i) {
    clients.push_back(std::make_unique<Connection>(port));
    ASSERT_EQ(clients.back()->Call("PING"), "+PONG") << "client " << i;
    if (i % 3 == 1) ASSERT_TRUE(clients.back()->Send("BLPOP empty " + std::to_string(i) + " 0"));
    if (i % 3 == 2) ASSERT_TRUE(clients.back()->Send("BLPOP empty 60"));
  }
  // Writers keep going while the node stops; their errors are expected.
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      Connection writer(port);
      for (int i = 0; !stop.load(); ++i) {
        if (writer.Call("SET w" + std::to_string(w) + " " + std::to_string(i)).empty()) break;
      }
    });
  }
  std::this_thread::sleep_for(100ms);
  auto start = std::chrono::steady_clock::now();
  (*primary)->Stop();
  auto took = std::chrono::steady_clock::now() - start;
  stop.store(true);
  for (auto& writer : writers) writer.join();
  EXPECT_LT(took, 1s) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                      << " ms";
  // The replicas notice and keep their data.
  EXPECT_TRUE(WaitFor([&] { return (*first)->store().Exists("k"); }));
  primary->reset();
  EXPECT_EQ(*(*second)->store().Get("k"), "v");
}

// A primary and a replica of it, both in this process.
struct TwoNodes {
  std::unique_ptr<Server> primary;
  std::unique_ptr<Server> replica;
};

TwoNodes StartTwoNodes(ServerOptions primary_options = NodeOptions()) {
  TwoNodes nodes;
  auto primary = Server::Start(primary_options);
  EXPECT_TRUE(primary.ok()) << primary.status().ToString();
  if (!primary.ok()) return nodes;
  nodes.primary = std::move(*primary);
  ServerOptions replica_options = NodeOptions();
  replica_options.replicaof = "127.0.0.1 " + std::to_string(nodes.primary->port());
  replica_options.masterauth = primary_options.requirepass;
  auto replica = Server::Start(replica_options);
  EXPECT_TRUE(replica.ok()) << replica.status().ToString();
  if (replica.ok()) nodes.replica = std::move(*replica);
  return nodes;
}

TEST(EmbeddedServerTest, WritesOnAReplicaNodeAreReadableThereAsSoonAsTheCallReturns) {
  ServerOptions primary_options = NodeOptions();
  primary_options.requirepass = "s3cret";  // the forwarder authenticates with masterauth
  TwoNodes nodes = StartTwoNodes(primary_options);
  ASSERT_TRUE(nodes.replica != nullptr);
  Store& local = nodes.replica->store();
  for (int i = 0; i < 10000; ++i) {
    std::string key = "session:" + std::to_string(i);
    std::string value = "user-" + std::to_string(i);
    Result<ServerReply> reply = nodes.replica->Write({"SET", key, value, "PX", "600000"}, 5s);
    ASSERT_TRUE(reply.ok()) << i << ": " << reply.status().ToString();
    ASSERT_EQ(reply->type, ServerReply::Type::kStatus);
    ASSERT_EQ(reply->text, "OK");
    // No wait, no retry: the local replica already holds it.
    Result<std::string> read = local.Get(key);
    ASSERT_TRUE(read.ok()) << i << ": " << read.status().ToString();
    ASSERT_EQ(*read, value) << i;
  }
  // A one-time code checked and deleted on the primary: the value comes back, and the
  // local copy is gone when the call returns.
  ASSERT_TRUE(nodes.replica->Write({"SET", "otp:7", "123456"}, 5s).ok());
  Result<ServerReply> code = nodes.replica->Write({"GETDEL", "otp:7"}, 5s);
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(code->type, ServerReply::Type::kBulk);
  EXPECT_EQ(code->text, "123456");
  EXPECT_FALSE(local.Exists("otp:7"));
  EXPECT_EQ(nodes.replica->Write({"GETDEL", "otp:7"}, 5s)->type, ServerReply::Type::kNil);
  // The primary's error replies are the call's Status.
  ASSERT_TRUE(nodes.replica->Write({"HSET", "h", "f", "v"}, 5s).ok());
  Result<ServerReply> wrong = nodes.replica->Write({"INCR", "h"}, 5s);
  EXPECT_EQ(wrong.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(wrong.status().message().find("WRONGTYPE"), std::string_view::npos)
      << wrong.status().ToString();
  // On the primary node the same call runs there.
  Result<ServerReply> counted = nodes.primary->Write({"INCRBY", "counter", "5"}, 5s);
  ASSERT_TRUE(counted.ok()) << counted.status().ToString();
  EXPECT_EQ(counted->type, ServerReply::Type::kInteger);
  EXPECT_EQ(counted->integer, 5);
  EXPECT_EQ(*nodes.primary->store().Get("counter"), "5");
}

TEST(EmbeddedServerTest, APrimaryStoppedMidForwardGivesAnErrorNeverAFalseOk) {
  TwoNodes nodes = StartTwoNodes();
  ASSERT_TRUE(nodes.replica != nullptr);
  Store& local = nodes.replica->store();
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::atomic<int> false_ok{0};
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop.load(); ++i) {
      std::string key = "k" + std::to_string(i);
      Result<ServerReply> reply = nodes.replica->Write({"SET", key, "v"}, 500ms);
      if (!reply.ok()) {
        ++failed;
        const StatusCode code = reply.status().code();
        if (code != StatusCode::kUnavailable && code != StatusCode::kDeadlineExceeded) {
          ADD_FAILURE() << "unexpected error: " << reply.status().ToString();
        }
        continue;
      }
      ++ok;
      if (!local.Exists(key)) ++false_ok;
    }
  });
  ASSERT_TRUE(WaitFor([&] { return ok.load() >= 200; }));
  nodes.primary->Stop();  // mid-forward: the writer is in a call most of the time
  ASSERT_TRUE(WaitFor([&] { return failed.load() >= 3; }));
  stop.store(true);
  writer.join();
  EXPECT_EQ(false_ok.load(), 0);
  EXPECT_GE(ok.load(), 200);
}

}  // namespace
}  // namespace mirrorkv
