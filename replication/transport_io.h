// Adapters between a Transport and the byte interfaces the rest of the code uses: a
// WritableFile that sends (a snapshot streamed to a replica), a buffered reader that
// receives lines, commands and exact byte counts (the replica's side of the protocol),
// and a ReadableFile over that reader (a snapshot loaded from the link).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "mirrorkv/file.h"
#include "mirrorkv/status.h"
#include "mirrorkv/transport.h"
#include "replication/resp.h"

namespace mirrorkv::internal {

// A transport over a socket descriptor that poll(2) can wait on (the TCP transport), so
// that one thread can wait for many replicas at once.
class SocketTransport : public Transport {
 public:
  // The descriptor, valid for the transport's life; poll(2) only, never read or close it.
  virtual int descriptor() const = 0;
};

// `transport`'s descriptor if it is a SocketTransport, -1 otherwise (a transport that can
// only be asked, with a zero timeout).
inline int PollDescriptor(const Transport& transport) {
  const auto* socket = dynamic_cast<const SocketTransport*>(&transport);
  return socket != nullptr ? socket->descriptor() : -1;
}

// Sends every Append. Flush, Sync and Close do nothing: the transport has no buffer of
// its own to flush and stays open.
class TransportWritableFile final : public WritableFile {
 public:
  explicit TransportWritableFile(Transport& transport) : transport_(transport) {}
  Status Append(std::string_view data) override { return transport_.Send(data); }
  Status Flush() override { return Status::Ok(); }
  Status Sync() override { return Status::Ok(); }
  Status Close() override { return Status::Ok(); }

 private:
  Transport& transport_;
};

// Receives into a buffer and hands out complete units of it. Every wait is bounded by
// `timeout` (kDeadlineExceeded). Thread-compatible.
class TransportReader {
 public:
  TransportReader(Transport& transport, std::chrono::milliseconds timeout)
      : transport_(transport), timeout_(timeout) {}

  // Reads one "\r\n"-terminated line (without the terminator); lines longer than
  // `max_line` are kCorruption.
  Result<std::string> ReadLine(size_t max_line = 64 << 10);
  // Reads exactly n bytes into `out`.
  Status ReadExact(char* out, size_t n);
  // Receives more bytes into the buffer (at least one) within the timeout given at
  // construction, or within `timeout`.
  Status Fill();
  Status Fill(std::chrono::milliseconds timeout);

  // The bytes received and not yet consumed, and consuming them.
  std::string_view buffered() const { return {buffer_.get() + start_, end_ - start_}; }
  void Consume(size_t n);

 private:
  // Makes room for at least one full receive after the unconsumed bytes.
  void Reserve();

  Transport& transport_;
  const std::chrono::milliseconds timeout_;
  // [start_, end_) is received and not yet consumed. A raw buffer rather than a
  // std::string: growing a string zero-fills, which cost more than the receive itself
  // when the stream arrives a few records at a time.
  std::unique_ptr<char[]> buffer_;
  size_t capacity_ = 0;
  size_t start_ = 0;
  size_t end_ = 0;
};

// A ReadableFile over a TransportReader: the snapshot reader pulls exactly the bytes it
// needs, so what follows the snapshot stays in the reader's buffer.
class TransportReadableFile final : public ReadableFile {
 public:
  explicit TransportReadableFile(TransportReader& reader) : reader_(reader) {}
  Result<size_t> Read(char* buffer, size_t n) override;

 private:
  TransportReader& reader_;
};

}  // namespace mirrorkv::internal
