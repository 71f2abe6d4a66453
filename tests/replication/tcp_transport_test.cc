// Replication over TCP on the loopback interface, and the TCP transport's contract:
// timeouts, back-pressure release on Close, and refused connections.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "mirrorkv/replication.h"
#include "mirrorkv/transport.h"

namespace mirrorkv {
namespace {

using namespace std::chrono_literals;

// A listening socket on 127.0.0.1 with a kernel-chosen free port.
class Listener {
 public:
  Listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t length = sizeof(address);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
  }
  ~Listener() { ::close(fd_); }
  uint16_t port() const { return port_; }
  // Accepts one connection, waiting at most `timeout`.
  std::unique_ptr<Transport> Accept(std::chrono::milliseconds timeout) {
    timeval tv{static_cast<time_t>(timeout.count() / 1000),
               static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return nullptr;
    return TcpTransportFromSocket(fd, "test-peer");
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

TEST(TcpTransportTest, SendReceiveTimeoutAndClose) {
  Listener listener;
  std::unique_ptr<Transport> server;
  std::thread acceptor([&] { server = listener.Accept(5s); });
  auto client = ConnectTcp("127.0.0.1", listener.port(), 5s);
  acceptor.join();
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE((*client)->Send("hello").ok());
  char buffer[16];
  std::string got;
  while (got.size() < 5) {
    auto n = server->Receive(buffer, sizeof(buffer), 5s);
    ASSERT_TRUE(n.ok());
    got.append(buffer, *n);
  }
  EXPECT_EQ(got, "hello");
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(server->Receive(buffer, sizeof(buffer), 50ms).status().code(),
            StatusCode::kDeadlineExceeded);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
  // A receiver blocked for long is woken by Close from another thread.
  std::thread closer([&] {
    std::this_thread::sleep_for(50ms);
    server->Close();
  });
  EXPECT_EQ(server->Receive(buffer, sizeof(buffer), 10s).status().code(), StatusCode::kUnavailable);
  closer.join();
  // The peer sees the close.
  EXPECT_EQ((*client)->Receive(buffer, sizeof(buffer), 5s).status().code(),
            StatusCode::kUnavailable);
}

TEST(TcpTransportTest, ConnectionRefusedIsUnavailable) {
  uint16_t port;
  {
    Listener listener;  // bound then closed: nothing listens on the port afterwards
    port = listener.port();
  }
  auto client = ConnectTcp("127.0.0.1", port, 2s);
  EXPECT_EQ(client.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(ConnectTcp("not a host name", 1, 1s).status().code(), StatusCode::kInvalidArgument);
}

TEST(TcpReplicationTest, ReplicaFollowsAPrimaryOverLoopback) {
  auto primary_store = std::move(*Store::Open({}));
  auto replica_store = std::move(*Store::Open({}));
  for (int i = 0; i < 10000; ++i) {
    ASSERT_TRUE(primary_store->Set("k" + std::to_string(i), std::string(50, 'x')).ok());
  }
  auto primary = std::move(*Primary::Create(*primary_store, {}));
  Listener listener;
  std::atomic<bool> stop{false};
  std::thread acceptor([&] {
    while (!stop.load()) {
      if (auto t = listener.Accept(100ms)) primary->Serve(std::move(t));
    }
  });
  ReplicaOptions options;
  options.ack_interval = 20ms;
  options.reconnect_delay = 20ms;
  uint16_t port = listener.port();
  auto replica = std::move(*Replica::Create(
      *replica_store, [port] { return ConnectTcp("127.0.0.1", port, 2s); }, options));
  replica->Start();
  ASSERT_TRUE(primary_store->Set("live", "write").ok());
  EXPECT_EQ(primary->WaitForReplicas(1, 10s), 1u);
  EXPECT_EQ(*replica_store->Get("live"), "write");
  EXPECT_EQ(replica_store->size(), 10001u);
  auto infos = primary->replicas();
  ASSERT_EQ(infos.size(), 1u);
  EXPECT_TRUE(infos[0].online);
  EXPECT_EQ(infos[0].acked_offset, primary->position().offset);
  replica->Stop();
  stop = true;
  acceptor.join();
}

}  // namespace
}  // namespace mirrorkv
