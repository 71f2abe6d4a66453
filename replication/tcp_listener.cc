// TcpListener: bind, listen, and an accept loop on its own thread. See tcp_listener.h.
//
// The loop polls with a short timeout and re-checks the stop flag: shutdown(2) on a
// listening socket also wakes the poll on Linux, but the timeout bounds the stop time
// wherever it does not.
#include "replication/tcp_listener.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace mirrorkv::internal {
namespace {

// The longest a stop waits for the accepting thread to notice it.
constexpr int kPollMillis = 100;

Status ErrnoStatus(const char* what, const std::string& address, uint16_t port) {
  return Status::IOError(absl::StrCat(what, " ", address, ":", port, ": ", std::strerror(errno)));
}

// "ip:port" of a socket address, for Transport::peer.
std::string Describe(const sockaddr_storage& address) {
  char host[NI_MAXHOST] = "?";
  char service[NI_MAXSERV] = "?";
  getnameinfo(reinterpret_cast<const sockaddr*>(&address), sizeof(address), host, sizeof(host),
              service, sizeof(service), NI_NUMERICHOST | NI_NUMERICSERV);
  return absl::StrCat(host, ":", service);
}

}  // namespace

Result<std::unique_ptr<TcpListener>> TcpListener::Open(const std::string& address, uint16_t port,
                                                       AcceptCallback accept, LogCallback log) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  std::string service = std::to_string(port);
  int rc = getaddrinfo(address.c_str(), service.c_str(), &hints, &found);
  if (rc != 0) {
    return Status::InvalidArgument(
        absl::StrCat("cannot resolve listening address ", address, ": ", gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addresses(found, freeaddrinfo);
  int fd = ::socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, found->ai_protocol);
  if (fd < 0) return ErrnoStatus("socket for", address, port);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd, found->ai_addr, found->ai_addrlen) != 0) {
    Status status = ErrnoStatus("cannot bind", address, port);
    ::close(fd);
    return status;
  }
  if (::listen(fd, SOMAXCONN) != 0) {
    Status status = ErrnoStatus("cannot listen on", address, port);
    ::close(fd);
    return status;
  }
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
  uint16_t bound_port =
      ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  // std::thread reports a thread it cannot create by throwing: an error of this call.
  try {
    return std::unique_ptr<TcpListener>(
        new TcpListener(fd, bound_port, std::move(accept), std::move(log)));
  } catch (const std::system_error& error) {
    ::close(fd);
    return Status::ResourceExhausted(
        absl::StrCat("cannot start the thread accepting replicas: ", error.what()));
  }
}

TcpListener::TcpListener(int fd, uint16_t port, AcceptCallback accept, LogCallback log)
    : fd_(fd), port_(port), accept_(std::move(accept)), log_(std::move(log)) {
  thread_ = std::thread([this] { AcceptLoop(); });
}

TcpListener::~TcpListener() {
  stopping_.store(true, std::memory_order_release);
  ::shutdown(fd_, SHUT_RDWR);
  thread_.join();
  ::close(fd_);
}

void TcpListener::AcceptLoop() {
  while (!stopping_.load(std::memory_order_acquire)) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, kPollMillis) <= 0) continue;  // timeout, EINTR: re-check the flag
    sockaddr_storage peer{};
    socklen_t length = sizeof(peer);
    int fd = ::accept4(fd_, reinterpret_cast<sockaddr*>(&peer), &length, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // The connection stays queued and the socket readable: say why, and back off
        // rather than spin until a descriptor is free.
        if (log_) {
          log_(absl::StrCat("Cannot accept a replica on port ", port_, ": ", std::strerror(errno),
                            "; retrying"));
        }
        poll(nullptr, 0, kPollMillis);
      }
      continue;  // otherwise the peer gave up, or the socket is shutting down
    }
    if (stopping_.load(std::memory_order_acquire)) {
      ::close(fd);
      break;
    }
    accept_(TcpTransportFromSocket(fd, Describe(peer)));
  }
}

}  // namespace mirrorkv::internal
