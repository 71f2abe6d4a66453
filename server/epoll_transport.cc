// The plain epoll transport (io-backend epoll): the same threading as the Asio one — N
// threads, each with its own epoll set, a connection owned by one thread — written
// directly against Linux. It exists to measure what Asio costs (docs/server.md has the
// numbers); Asio stays the default because the difference is well under the 20% that
// would justify maintaining an event loop of our own.
//
// Per thread: one epoll set, level-triggered. A readable socket gets one read into the
// parser's buffer, its commands run, and the replies are written at once; only when the
// kernel does not take everything is EPOLLOUT armed until the rest is out. Work from other
// threads (pub/sub deliveries, CLIENT KILL, shutdown) arrives through a locked queue and
// an eventfd. Closed clients are destroyed after the current batch of events, so an event
// later in the same batch never sees freed memory.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/client.h"
#include "server/io_thread.h"
#include "server/logger.h"
#include "server/server.h"

namespace mirrorkv::server {
namespace {

constexpr int kMaxEvents = 256;
constexpr size_t kMaxIdleOutputCapacity = 1u << 20;

// What an epoll event's data.ptr points to.
class EpollHandler {
 public:
  virtual ~EpollHandler() = default;
  virtual void OnEvents(uint32_t events) = 0;
};

class EpollIoThread;

class EpollClient final : public Client, public EpollHandler {
 public:
  EpollClient(Server& server, EpollIoThread& thread, int fd, ClientAddress address);
  ~EpollClient() override;

  void Register();
  void OnEvents(uint32_t events) override;
  void Flush() override;
  void Close() override;

 private:
  void ReadOnce();
  void WritePending();
  void HandOverSocket();
  void SetInterest(bool read, bool write);

  EpollIoThread& owner_;
  int fd_;
  std::string writing_;
  size_t written_ = 0;
  bool want_read_ = true;
  bool want_write_ = false;
  bool socket_closed_ = false;
};

class EpollIoThread final : public IoThread, public EpollHandler {
 public:
  explicit EpollIoThread(size_t index) : IoThread(index) {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.ptr = static_cast<EpollHandler*>(this);
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &event);
  }

  ~EpollIoThread() override {
    close(wake_fd_);
    close(epoll_fd_);
  }

  int epoll_fd() const { return epoll_fd_; }

  void Post(std::function<void()> task) override {
    bool was_empty;
    {
      MutexLock lock(&queue_mu_);
      was_empty = queue_.empty();
      queue_.push_back(std::move(task));
    }
    // One wake-up per batch of tasks: a non-empty queue already has one pending.
    if (was_empty) {
      uint64_t one = 1;
      ssize_t ignored = write(wake_fd_, &one, sizeof(one));
      (void)ignored;
    }
  }

  void Start() {
    thread_ = std::thread([this] { Run(); });
  }

  void StopAndJoin() {
    Post([this] { running_ = false; });
    if (thread_.joinable()) thread_.join();
  }

  void Adopt(std::shared_ptr<EpollClient> client) {
    EpollClient* raw = client.get();
    owned_.emplace(raw, std::move(client));
  }

  // Keeps a closed client alive until the current batch of events is handled.
  void Retire(EpollClient* client) {
    auto it = owned_.find(client);
    if (it == owned_.end()) return;
    retired_.push_back(std::move(it->second));
    owned_.erase(it);
  }

  void OnEvents(uint32_t) override {
    uint64_t count;
    ssize_t ignored = read(wake_fd_, &count, sizeof(count));
    (void)ignored;
    std::vector<std::function<void()>> tasks;
    {
      MutexLock lock(&queue_mu_);
      tasks.swap(queue_);
    }
    for (auto& task : tasks) task();
  }

 private:
  void Run() {
    BindToCurrentThread();
    epoll_event events[kMaxEvents];
    while (running_) {
      int n = epoll_wait(epoll_fd_, events, kMaxEvents, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        Log(LogLevel::kWarning, "epoll_wait: %s", std::strerror(errno));
        break;
      }
      for (int i = 0; i < n; ++i) {
        static_cast<EpollHandler*>(events[i].data.ptr)->OnEvents(events[i].events);
      }
      retired_.clear();
    }
    // Drop the clients still owned (their sockets are closed by Stop's task).
    retired_.clear();
  }

  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  bool running_ = true;
  std::thread thread_;
  Mutex queue_mu_;
  std::vector<std::function<void()>> queue_ ABSL_GUARDED_BY(queue_mu_);
  absl::flat_hash_map<EpollClient*, std::shared_ptr<EpollClient>> owned_;
  std::vector<std::shared_ptr<EpollClient>> retired_;
};

EpollClient::EpollClient(Server& server, EpollIoThread& thread, int fd, ClientAddress address)
    : Client(server, thread, std::move(address)), owner_(thread), fd_(fd) {}

EpollClient::~EpollClient() {
  if (!socket_closed_) close(fd_);
}

void EpollClient::Register() {
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.ptr = static_cast<EpollHandler*>(this);
  epoll_ctl(owner_.epoll_fd(), EPOLL_CTL_ADD, fd_, &event);
}

void EpollClient::SetInterest(bool read, bool write) {
  if (read == want_read_ && write == want_write_) return;
  want_read_ = read;
  want_write_ = write;
  epoll_event event{};
  event.events = (read ? uint32_t{EPOLLIN} : 0u) | (write ? uint32_t{EPOLLOUT} : 0u);
  event.data.ptr = static_cast<EpollHandler*>(this);
  epoll_ctl(owner_.epoll_fd(), EPOLL_CTL_MOD, fd_, &event);
}

void EpollClient::OnEvents(uint32_t events) {
  if (socket_closed_) return;
  if (events & EPOLLOUT) WritePending();
  if (socket_closed_) return;
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) ReadOnce();
}

// Level-triggered: one read per readiness event is enough; if more bytes are waiting,
// epoll reports the socket again in the next round.
void EpollClient::ReadOnce() {
  if (!want_read_) return;
  std::span<char> space = ReadSpace();
  if (space.empty()) {
    Close();
    return;
  }
  ssize_t n = read(fd_, space.data(), space.size());
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    Close();
    return;
  }
  OnRead(static_cast<size_t>(n));
  Flush();
  if (!socket_closed_ && (close_after_reply() || handover_pending())) {
    SetInterest(false, want_write_);
  }
}

void EpollClient::Flush() {
  if (socket_closed_ || !writing_.empty()) return;  // EPOLLOUT will come back here
  if (output().empty()) {
    if (handover_pending()) {
      HandOverSocket();
    } else if (close_after_reply()) {
      Close();
    }
    return;
  }
  writing_.swap(output());
  written_ = 0;
  WritePending();
}

void EpollClient::WritePending() {
  while (written_ < writing_.size()) {
    ssize_t n = write(fd_, writing_.data() + written_, writing_.size() - written_);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      SetInterest(want_read_, true);
      return;
    }
    if (n <= 0) {
      Close();
      return;
    }
    written_ += static_cast<size_t>(n);
    OnWritten(static_cast<size_t>(n));
  }
  writing_.clear();
  written_ = 0;
  if (writing_.capacity() > kMaxIdleOutputCapacity) std::string().swap(writing_);
  SetInterest(want_read_, false);
  Flush();  // replies added meanwhile, or the close after the last reply
}

void EpollClient::Close() {
  if (socket_closed_) return;
  socket_closed_ = true;
  epoll_ctl(owner_.epoll_fd(), EPOLL_CTL_DEL, fd_, nullptr);
  close(fd_);
  OnClosed();
  owner_.Retire(this);
}

// Like Close, but the descriptor stays open: the replication session owns it now.
void EpollClient::HandOverSocket() {
  socket_closed_ = true;
  epoll_ctl(owner_.epoll_fd(), EPOLL_CTL_DEL, fd_, nullptr);
  HandOver(fd_);
  owner_.Retire(this);
}

std::string SocketAddressText(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (address.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
    inet_ntop(AF_INET, &v4->sin_addr, text, sizeof(text));
    port = ntohs(v4->sin_port);
  } else if (address.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
    inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof(text));
    port = ntohs(v6->sin6_port);
  }
  return absl::StrCat(text, ":", port);
}

bool IsLoopback(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
    return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
  }
  if (address.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
    if (IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr) && v6->sin6_addr.s6_addr[12] == 127;
  }
  return false;
}

class EpollTransport;

class Listener final : public EpollHandler {
 public:
  Listener(EpollTransport& transport, int fd) : transport_(transport), fd_(fd) {}
  ~Listener() override { close(fd_); }
  int fd() const { return fd_; }
  void OnEvents(uint32_t) override;

 private:
  EpollTransport& transport_;
  int fd_;
};

class EpollTransport final : public Transport {
 public:
  EpollTransport(Server& server, size_t threads) : server_(server) {
    for (size_t i = 0; i < threads; ++i) {
      threads_.push_back(std::make_unique<EpollIoThread>(i));
      thread_views_.push_back(threads_.back().get());
    }
  }

  ~EpollTransport() override { Stop(); }

  Status Listen(const std::vector<std::string>& addresses, int* port_inout, int backlog) override {
    int& port = *port_inout;
    for (const std::string& entry : addresses) {
      const auto [text, optional] = ParseBindAddress(entry);
      sockaddr_storage address{};
      socklen_t length;
      auto* v4 = reinterpret_cast<sockaddr_in*>(&address);
      auto* v6 = reinterpret_cast<sockaddr_in6*>(&address);
      if (inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(static_cast<uint16_t>(port));
        length = sizeof(sockaddr_in);
      } else if (inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<uint16_t>(port));
        length = sizeof(sockaddr_in6);
      } else {
        return Status::InvalidArgument(absl::StrFormat("Invalid bind address '%s'", text));
      }
      int fd = socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      int one = 1;
      bool ok = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
                (address.ss_family != AF_INET6 ||
                 setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == 0) &&
                bind(fd, reinterpret_cast<sockaddr*>(&address), length) == 0 &&
                listen(fd, backlog) == 0;
      if (!ok) {
        int error = errno;
        if (fd >= 0) close(fd);
        if (optional) continue;
        return Status::IOError(
            absl::StrFormat("Could not create server TCP listening socket %s:%d: %s", text, port,
                            std::strerror(error)));
      }
      if (port == 0) {  // a free port was asked for: the others bind the one found
        socklen_t bound_length = sizeof(address);
        getsockname(fd, reinterpret_cast<sockaddr*>(&address), &bound_length);
        port = ntohs(address.ss_family == AF_INET ? v4->sin_port : v6->sin6_port);
      }
      listeners_.push_back(std::make_unique<Listener>(*this, fd));
    }
    if (listeners_.empty()) return Status::IOError("No address to listen on");
    return Status::Ok();
  }

  void Start() override {
    for (auto& listener : listeners_) {
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.ptr = static_cast<EpollHandler*>(listener.get());
      epoll_ctl(threads_[0]->epoll_fd(), EPOLL_CTL_ADD, listener->fd(), &event);
    }
    for (auto& thread : threads_) thread->Start();
  }

  void Stop() override {
    if (stopped_.exchange(true)) return;
    stopping_.store(true, std::memory_order_release);
    threads_[0]->Post([this] {
      for (auto& listener : listeners_) {
        epoll_ctl(threads_[0]->epoll_fd(), EPOLL_CTL_DEL, listener->fd(), nullptr);
      }
    });
    for (auto& thread : threads_) {
      EpollIoThread* raw = thread.get();
      raw->Post([raw] {
        std::vector<Client*> clients(raw->clients().begin(), raw->clients().end());
        for (Client* client : clients) client->Close();
      });
    }
    for (auto& thread : threads_) thread->StopAndJoin();
  }

  std::span<IoThread* const> threads() const override { return thread_views_; }

  // Accepts every pending connection on a listening socket (thread 0).
  void AcceptAll(int listen_fd) {
    while (true) {
      sockaddr_storage peer{};
      socklen_t peer_length = sizeof(peer);
      int fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &peer_length,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          Log(LogLevel::kWarning, "Accepting client connection: %s", std::strerror(errno));
        }
        return;
      }
      ClientAddress address;
      address.peer = SocketAddressText(peer);
      sockaddr_storage local{};
      socklen_t local_length = sizeof(local);
      if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_length) == 0) {
        address.local = SocketAddressText(local);
      }
      address.loopback = IsLoopback(peer);
      address.fd = fd;
      std::string_view refusal = server_.AdmitConnection(address.loopback);
      if (!refusal.empty()) {
        ssize_t ignored = write(fd, refusal.data(), refusal.size());
        (void)ignored;
        close(fd);
        continue;
      }
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      EpollIoThread& target = *threads_[next_thread_++ % threads_.size()];
      target.Post([this, &target, fd, address = std::move(address)]() mutable {
        if (stopping_.load(std::memory_order_acquire)) {
          close(fd);
          return;
        }
        auto client = std::make_shared<EpollClient>(server_, target, fd, std::move(address));
        target.Adopt(client);
        server_.OnClientConnected(client);
        client->Register();
      });
    }
  }

 private:
  Server& server_;
  std::vector<std::unique_ptr<EpollIoThread>> threads_;
  std::vector<IoThread*> thread_views_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  size_t next_thread_ = 0;  // thread 0 only
  std::atomic<bool> stopping_{false};
  std::atomic<bool> stopped_{false};
};

void Listener::OnEvents(uint32_t) { transport_.AcceptAll(fd_); }

}  // namespace

std::unique_ptr<Transport> NewEpollTransport(Server& server, size_t threads) {
  return std::make_unique<EpollTransport>(server, threads);
}

}  // namespace mirrorkv::server
