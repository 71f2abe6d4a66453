// The TCP transport: a blocking socket driven with poll(2) for timeouts.
//
// Close() shuts the socket down rather than closing it, so that a thread blocked in poll
// on the same descriptor wakes (the descriptor stays valid until the destructor; closing
// it while another thread polls could let the number be reused under that thread).
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/base/strings.h"
#include "mirrorkv/transport.h"
#include "replication/transport_io.h"

namespace mirrorkv {
namespace {

Status ErrnoStatus(std::string_view what, int error) {
  return Status::IOError(absl::StrCat(internal::AsAbsl(what), ": ", std::strerror(error)));
}

int PollOne(int fd, short events, std::chrono::milliseconds timeout) {
  pollfd p{fd, events, 0};
  while (true) {
    int r = poll(&p, 1, static_cast<int>(std::min<int64_t>(timeout.count(), INT32_MAX)));
    if (r >= 0 || errno != EINTR) return r;
  }
}

class TcpTransport final : public internal::SocketTransport {
 public:
  TcpTransport(int fd, std::string peer) : fd_(fd), peer_(std::move(peer)) {
    int one = 1;
    // Replication sends many small commands; waiting to coalesce them adds latency.
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~TcpTransport() override { ::close(fd_); }

  Status Send(std::string_view bytes) override {
    while (!bytes.empty()) {
      if (closed_.load(std::memory_order_acquire)) return Status::Unavailable("transport closed");
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        bytes.remove_prefix(static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        // Back-pressure: wait until the peer reads; re-check Close every second.
        if (PollOne(fd_, POLLOUT, std::chrono::milliseconds(1000)) < 0) {
          return ErrnoStatus("poll", errno);
        }
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
        return Status::Unavailable(absl::StrCat("connection to ", peer_, " lost"));
      }
      return ErrnoStatus("send", errno);
    }
    return Status::Ok();
  }

  Result<size_t> TrySend(std::string_view bytes) override {
    size_t sent = 0;
    while (sent < bytes.size()) {
      if (closed_.load(std::memory_order_acquire)) return Status::Unavailable("transport closed");
      ssize_t n =
          ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
        return Status::Unavailable(absl::StrCat("connection to ", peer_, " lost"));
      }
      return ErrnoStatus("send", errno);
    }
    return sent;
  }

  Result<size_t> Receive(char* buffer, size_t capacity,
                         std::chrono::milliseconds timeout) override {
    if (closed_.load(std::memory_order_acquire)) return Status::Unavailable("transport closed");
    int ready = PollOne(fd_, POLLIN, timeout);
    if (ready < 0) return ErrnoStatus("poll", errno);
    if (ready == 0) return Status::DeadlineExceeded("no data within the timeout");
    while (true) {
      ssize_t n = ::recv(fd_, buffer, capacity, MSG_DONTWAIT);
      if (n > 0) return static_cast<size_t>(n);
      if (n == 0) return Status::Unavailable(absl::StrCat("connection closed by ", peer_));
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return Status::DeadlineExceeded("no data within the timeout");
      }
      if (errno == ECONNRESET)
        return Status::Unavailable(absl::StrCat("connection reset by ", peer_));
      return ErrnoStatus("recv", errno);
    }
  }

  void Close() override {
    if (!closed_.exchange(true, std::memory_order_acq_rel)) ::shutdown(fd_, SHUT_RDWR);
  }

  std::string peer() const override { return peer_; }
  int descriptor() const override { return fd_; }

 private:
  const int fd_;
  const std::string peer_;
  std::atomic<bool> closed_{false};
};

}  // namespace

std::unique_ptr<Transport> TcpTransportFromSocket(int fd, std::string peer) {
  return std::make_unique<TcpTransport>(fd, std::move(peer));
}

Result<std::unique_ptr<Transport>> ConnectTcp(const std::string& host, uint16_t port,
                                              std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* addresses = nullptr;
  std::string service = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &addresses);
  if (rc != 0) {
    return Status::InvalidArgument(absl::StrCat("cannot resolve ", host, ": ", gai_strerror(rc)));
  }
  Status last = Status::Unavailable(absl::StrCat("no address for ", host));
  for (addrinfo* a = addresses; a != nullptr; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last = ErrnoStatus("socket", errno);
      continue;
    }
    int r = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (r < 0 && errno == EINPROGRESS) {
      int ready = PollOne(fd, POLLOUT, timeout);
      if (ready == 0) {
        ::close(fd);
        last =
            Status::DeadlineExceeded(absl::StrCat("connecting to ", host, ":", port, " timed out"));
        continue;
      }
      int error = 0;
      socklen_t len = sizeof(error);
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
      r = error == 0 ? 0 : -1;
      errno = error;
    }
    if (r < 0) {
      last = Status::Unavailable(
          absl::StrCat("connecting to ", host, ":", port, ": ", std::strerror(errno)));
      ::close(fd);
      continue;
    }
    freeaddrinfo(addresses);
    return TcpTransportFromSocket(fd, absl::StrCat(host, ":", port));
  }
  freeaddrinfo(addresses);
  return last;
}

}  // namespace mirrorkv
