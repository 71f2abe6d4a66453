// The server's event loop, on Asio: N I/O threads, each running its own io_context, so a
// connection's handlers always run on one thread and need no strand or lock.
//
// Per connection the loop is: async_read_some into the parser's buffer; parse and run
// every complete command (replies accumulate in the output string); write. The write is
// first tried synchronously on the non-blocking socket, which succeeds for nearly every
// reply, so a request costs one readiness wait, one read and one write, with no extra
// trip through the scheduler; only what the kernel does not take goes through
// async_write. Reading goes on while a write is pending (pipelined clients that write
// everything before reading must not deadlock), with replies collected behind it.
//
// Asio 1.22's epoll reactor registers each socket once (edge-triggered) and skips the
// speculative read after a read that drained the socket, so the steady state makes no
// epoll_ctl calls. docs/server.md has the measurement against a plain epoll loop (removed since).
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/client.h"
#include "server/io_thread.h"
#include "server/logger.h"
#include "server/server.h"

#define ASIO_NO_DEPRECATED
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

namespace mirrorkv::server {
namespace {

using asio::ip::tcp;

// Output buffers larger than this are released once written, so that one big reply does
// not pin its memory for the connection's life.
constexpr size_t kMaxIdleOutputCapacity = 1u << 20;
// After the process runs out of file descriptors, accepting pauses this long.
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);

// Destroying the steady_timer cancels its wait: the handler then runs with
// operation_aborted and drops the task, so a Stop() with blocked clients (whose timers
// go with them) leaves io_context::run() nothing to wait for.
struct AsioTimer final : IoTimer {
  AsioTimer(asio::io_context& io, std::chrono::milliseconds delay) : timer(io, delay) {}
  asio::steady_timer timer;
};

class AsioIoThread final : public IoThread {
 public:
  explicit AsioIoThread(size_t index)
      : IoThread(index), io_(1), work_(asio::make_work_guard(io_)) {}

  void Post(std::function<void()> task) override { asio::post(io_, std::move(task)); }
  std::unique_ptr<IoTimer> StartTimer(std::chrono::milliseconds delay,
                                      std::function<void()> task) override {
    auto timer = std::make_unique<AsioTimer>(io_, delay);
    timer->timer.async_wait([task = std::move(task)](const asio::error_code& error) {
      if (!error) task();
    });
    return timer;
  }
  asio::io_context& io() { return io_; }

  void Start() {
    thread_ = std::thread([this] {
      BindToCurrentThread();
      io_.run();
    });
  }
  // Lets run() return once the remaining handlers are done, and waits for it.
  void Join() {
    work_.reset();
    if (thread_.joinable()) thread_.join();
  }

 private:
  // concurrency_hint 1: one thread runs this context, so Asio may skip some locking.
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
};

std::string EndpointText(const tcp::endpoint& endpoint) {
  const asio::ip::address& address = endpoint.address();
  if (address.is_v6()) {
    return absl::StrCat(address.to_string(), ":", endpoint.port());
  }
  return absl::StrCat(address.to_string(), ":", endpoint.port());
}

bool IsLoopback(const asio::ip::address& address) {
  if (address.is_v4()) return address.to_v4().is_loopback();
  asio::ip::address_v6 v6 = address.to_v6();
  if (v6.is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, v6).is_loopback();
  }
  return v6.is_loopback();
}

class AsioClient final : public Client {
 public:
  AsioClient(Server& server, AsioIoThread& thread, tcp::socket socket, ClientAddress address)
      : Client(server, thread, std::move(address)), socket_(std::move(socket)) {}

  void Start() { ReadSome(); }

  void Flush() override {
    if (socket_closed_ || write_in_flight_) return;  // the write handler will come back here
    if (output().empty()) {
      if (handover_pending()) {
        HandOverSocket();
      } else if (close_after_reply()) {
        Close();
      }
      return;
    }
    writing_.swap(output());
    asio::error_code error;
    size_t written = socket_.write_some(asio::buffer(writing_), error);
    if (error == asio::error::would_block || error == asio::error::try_again) {
      written = 0;
      error.clear();
    }
    if (error) {
      Close();
      return;
    }
    OnWritten(written);
    if (written == writing_.size()) {
      FinishWrite();
      return;
    }
    write_in_flight_ = true;
    in_flight_bytes_ = writing_.size() - written;
    asio::async_write(socket_, asio::buffer(writing_.data() + written, writing_.size() - written),
                      [self = shared_from_this(), this](const asio::error_code& error, size_t n) {
                        write_in_flight_ = false;
                        in_flight_bytes_ = 0;
                        if (socket_closed_) return;
                        if (error) {
                          Close();
                          return;
                        }
                        OnWritten(n);
                        FinishWrite();
                      });
  }

  size_t bytes_in_flight() const override { return in_flight_bytes_; }

  // Closing cancels the pending read and write; their handlers still run (with
  // operation_aborted) and hold `self`, so the object outlives them.
  void Close() override {
    if (socket_closed_) return;
    socket_closed_ = true;
    asio::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);  // cancels the pending operations
    OnClosed();
  }

 private:
  void ReadSome() {
    if (socket_closed_) return;
    std::span<char> space = ReadSpace();
    if (space.empty()) {
      Log(LogLevel::kWarning, "Closing client id=%d: no memory for its query buffer", id());
      Close();
      return;
    }
    socket_.async_read_some(
        asio::buffer(space.data(), space.size()),
        [self = shared_from_this(), this](const asio::error_code& error, size_t n) {
          if (socket_closed_) return;
          if (error) {
            if (error != asio::error::eof && error != asio::error::connection_reset) {
              Log(LogLevel::kVerbose, "Reading from client id=%d: %s", id(), error.message());
            }
            Close();
            return;
          }
          OnRead(n);
          Flush();
          // After QUIT or a protocol error nothing more is read; Flush closes once the
          // last reply is out. After PSYNC nothing more is read either: the socket goes to
          // the replication primary with no read pending that could take its bytes.
          if (!close_after_reply() && !handover_pending()) ReadSome();
        });
  }

  // release() deregisters the socket from the reactor and gives up its descriptor, which
  // the replication session then owns.
  void HandOverSocket() {
    socket_closed_ = true;
    asio::error_code error;
    int fd = socket_.release(error);
    if (error) {
      Log(LogLevel::kWarning, "Handing over replica id=%d: %s", id(), error.message());
      socket_.close(error);
      OnClosed();
      return;
    }
    HandOver(fd);
  }

  void FinishWrite() {
    writing_.clear();
    if (writing_.capacity() > kMaxIdleOutputCapacity) std::string().swap(writing_);
    if (output().empty() && output().capacity() > kMaxIdleOutputCapacity) {
      std::string().swap(output());
    }
    Flush();  // replies added meanwhile, or the close after the last reply
  }

  tcp::socket socket_;
  // The bytes being written; swapped with output() so that replies built meanwhile go
  // to the other buffer. Both keep their capacity: no allocation in the steady state.
  std::string writing_;
  bool write_in_flight_ = false;
  size_t in_flight_bytes_ = 0;  // what the pending async_write has left, at its start
  bool socket_closed_ = false;
};

class AsioEventLoop final : public EventLoop {
 public:
  AsioEventLoop(Server& server, size_t threads) : server_(server) {
    for (size_t i = 0; i < threads; ++i) {
      threads_.push_back(std::make_unique<AsioIoThread>(i));
      thread_views_.push_back(threads_.back().get());
    }
  }

  ~AsioEventLoop() override { Stop(); }

  Status Listen(const std::vector<std::string>& addresses, int* port_inout, int backlog) override {
    int& port = *port_inout;
    asio::io_context& io = threads_[0]->io();
    for (const std::string& entry : addresses) {
      const auto [text, optional] = ParseBindAddress(entry);
      asio::error_code error;
      asio::ip::address address = asio::ip::make_address(text, error);
      if (error) {
        return Status::InvalidArgument(absl::StrFormat("Invalid bind address '%s'", text));
      }
      auto acceptor = std::make_unique<tcp::acceptor>(io);
      tcp::endpoint endpoint(address, static_cast<uint16_t>(port));
      acceptor->open(endpoint.protocol(), error);
      if (!error) acceptor->set_option(tcp::acceptor::reuse_address(true), error);
      if (!error && address.is_v6()) acceptor->set_option(asio::ip::v6_only(true), error);
      if (!error) acceptor->bind(endpoint, error);
      if (!error) acceptor->listen(backlog, error);
      if (error) {
        if (optional) {
          Log(LogLevel::kNotice, "Skipping optional bind address %s: %s", text, error.message());
          continue;
        }
        return Status::IOError(absl::StrFormat(
            "Could not create server TCP listening socket %s:%d: %s", text, port, error.message()));
      }
      // A free port was asked for: the other addresses bind the one found.
      if (port == 0) port = acceptor->local_endpoint().port();
      acceptors_.push_back(std::move(acceptor));
    }
    if (acceptors_.empty()) return Status::IOError("No address to listen on");
    return Status::Ok();
  }

  void Start() override {
    for (auto& thread : threads_) thread->Start();
    for (auto& acceptor : acceptors_) {
      tcp::acceptor* raw = acceptor.get();
      asio::post(threads_[0]->io(), [this, raw] { Accept(*raw); });
    }
  }

  // Acceptors first (no new clients), then every connection on its own thread, then the
  // threads: run() returns once no handler is left.
  void Stop() override {
    if (stopped_.exchange(true)) return;
    stopping_.store(true, std::memory_order_release);
    // Acceptors belong to thread 0's context: close them there.
    asio::post(threads_[0]->io(), [this] {
      for (auto& acceptor : acceptors_) {
        asio::error_code ignored;
        acceptor->close(ignored);
      }
    });
    for (auto& thread : threads_) {
      AsioIoThread* raw = thread.get();
      thread->Post([raw] {
        std::vector<Client*> clients(raw->clients().begin(), raw->clients().end());
        for (Client* client : clients) client->Close();
      });
    }
    for (auto& thread : threads_) thread->Join();
  }

  std::span<IoThread* const> threads() const override { return thread_views_; }

 private:
  void Accept(tcp::acceptor& acceptor) {
    if (stopping_.load(std::memory_order_acquire)) return;
    AsioIoThread& target = *threads_[next_thread_++ % threads_.size()];
    acceptor.async_accept(target.io(), [this, &acceptor, &target](const asio::error_code& error,
                                                                  tcp::socket socket) {
      if (error == asio::error::operation_aborted || stopping_.load(std::memory_order_acquire)) {
        return;
      }
      if (error) {
        Log(LogLevel::kWarning, "Accepting client connection: %s", error.message());
        // Out of descriptors (or similar): wait a little instead of spinning.
        auto timer = std::make_shared<asio::steady_timer>(threads_[0]->io(), kAcceptRetryDelay);
        timer->async_wait([this, &acceptor, timer](const asio::error_code&) { Accept(acceptor); });
        return;
      }
      OnAccepted(target, std::move(socket));
      Accept(acceptor);
    });
  }

  void OnAccepted(AsioIoThread& target, tcp::socket socket) {
    asio::error_code error;
    tcp::endpoint remote = socket.remote_endpoint(error);
    if (error) return;  // the peer is already gone
    tcp::endpoint local = socket.local_endpoint(error);
    ClientAddress address;
    address.peer = EndpointText(remote);
    address.local = error ? std::string() : EndpointText(local);
    address.loopback = IsLoopback(remote.address());
    address.fd = socket.native_handle();
    socket.non_blocking(true, error);
    std::string_view refusal = server_.AdmitConnection(address.loopback);
    if (!refusal.empty()) {
      // Best effort, as Redis: the socket is new, so the kernel takes these few bytes.
      socket.write_some(asio::buffer(refusal.data(), refusal.size()), error);
      socket.close(error);
      return;
    }
    socket.set_option(tcp::no_delay(true), error);
    int keepalive = static_cast<int>(server_.config().tcp_keepalive);
    if (keepalive > 0) {
      socket.set_option(asio::socket_base::keep_alive(true), error);
      int fd = socket.native_handle();
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &keepalive, sizeof(keepalive));
      int interval = std::max(1, keepalive / 3);
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
    }
    asio::post(target.io(),
               [this, &target, socket = std::move(socket), address = std::move(address)]() mutable {
                 if (stopping_.load(std::memory_order_acquire)) {
                   asio::error_code ignored;
                   socket.close(ignored);
                   return;
                 }
                 auto client = std::make_shared<AsioClient>(server_, target, std::move(socket),
                                                            std::move(address));
                 server_.OnClientConnected(client);
                 client->Start();
               });
  }

  Server& server_;
  std::vector<std::unique_ptr<AsioIoThread>> threads_;
  std::vector<IoThread*> thread_views_;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors_;
  size_t next_thread_ = 0;  // touched by thread 0 only (accept handlers)
  std::atomic<bool> stopping_{false};
  std::atomic<bool> stopped_{false};
};

}  // namespace

std::unique_ptr<EventLoop> NewAsioEventLoop(Server& server, size_t threads) {
  return std::make_unique<AsioEventLoop>(server, threads);
}

}  // namespace mirrorkv::server
