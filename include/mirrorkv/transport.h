// Transport: the byte pipe between a primary and a replica.
//
// Replication speaks the same protocol (Redis's PSYNC handshake and stream) over every
// transport; only the pipe differs. An in-process pair connects a Primary and a Replica
// living in the same process without a socket; a TCP transport connects processes.
// Tests use the in-process pair (and can wrap it to inject faults).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "mirrorkv/status.h"

namespace mirrorkv {

// A bidirectional, ordered, reliable byte stream. Send and Receive may be called
// concurrently from two threads (one sending, one receiving); each by itself is
// thread-compatible. Close may be called from any thread at any time.
class Transport {
 public:
  virtual ~Transport() = default;

  // Sends all of `bytes`, blocking while the peer is not reading (back-pressure).
  // kUnavailable once either end has closed; kIOError for an OS failure.
  virtual Status Send(std::string_view bytes) = 0;
  // Sends as much of `bytes` as the transport takes without waiting for the peer and
  // returns how much (0 when the peer is not reading). Errors as Send. A primary serves
  // all its replicas from one thread with it, so that a replica that stops reading holds
  // up no other. The default calls Send, and so blocks: transports that can tell should
  // override it.
  virtual Result<size_t> TrySend(std::string_view bytes) {
    Status sent = Send(bytes);
    if (!sent.ok()) return sent;
    return bytes.size();
  }

  // Receives at least one and at most `capacity` bytes into `buffer`. kDeadlineExceeded
  // if nothing arrived within `timeout`; kUnavailable when the peer closed and every
  // byte it sent was received, or this end was closed; kIOError for an OS failure.
  virtual Result<size_t> Receive(char* buffer, size_t capacity,
                                 std::chrono::milliseconds timeout) = 0;

  // Closes both directions. Wakes any Send or Receive blocked on either end, which then
  // return kUnavailable. Idempotent.
  virtual void Close() = 0;

  // A description of the peer for logs and INFO ("127.0.0.1:6380", "in-process").
  virtual std::string peer() const = 0;
};

// Two connected in-process transports. Each direction buffers up to `buffer_bytes`
// before Send blocks.
std::pair<std::unique_ptr<Transport>, std::unique_ptr<Transport>> CreateInProcessTransportPair(
    size_t buffer_bytes = 1 << 20);

// Connects to host:port over TCP (numeric IPv4 or IPv6 address, or a name resolved with
// getaddrinfo). kDeadlineExceeded if not connected within `timeout`; kUnavailable if
// refused; kInvalidArgument for an unusable address.
Result<std::unique_ptr<Transport>> ConnectTcp(const std::string& host, uint16_t port,
                                              std::chrono::milliseconds timeout);

// Wraps a connected socket; the transport owns and closes it. `peer` describes it.
std::unique_ptr<Transport> TcpTransportFromSocket(int fd, std::string peer);

}  // namespace mirrorkv
