// TcpListener: accepts TCP connections on one address and hands each, as a Transport, to
// a callback. Primary::ListenTcp uses it to accept replicas.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "mirrorkv/status.h"
#include "mirrorkv/transport.h"

namespace mirrorkv::internal {

// Thread-safe. One thread accepts; the callback runs on it, so it must not block long.
class TcpListener {
 public:
  using AcceptCallback = std::function<void(std::unique_ptr<Transport>)>;
  using LogCallback = std::function<void(std::string_view)>;

  // Binds `address`:`port` (port 0: any free one) and starts accepting. `log` hears why
  // an accept failed (out of descriptors, for instance). kInvalidArgument if the address
  // does not resolve; kIOError if it cannot be bound or listened on.
  static Result<std::unique_ptr<TcpListener>> Open(const std::string& address, uint16_t port,
                                                   AcceptCallback accept, LogCallback log);
  // Stops accepting, closes the socket, and joins the accepting thread: no callback runs
  // after this returns. Connections already handed over are not affected.
  ~TcpListener();
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;

  uint16_t port() const { return port_; }

 private:
  TcpListener(int fd, uint16_t port, AcceptCallback accept, LogCallback log);
  void AcceptLoop();

  const int fd_;
  const uint16_t port_;
  const AcceptCallback accept_;
  const LogCallback log_;
  // Release/acquire: the destructor's stop request, seen by the accepting thread.
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace mirrorkv::internal
