// The in-process transport: two bounded byte rings under one mutex.
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "engine/base/mutex.h"
#include "mirrorkv/transport.h"

namespace mirrorkv {
namespace {

// A fixed-capacity byte ring; copies in and out take at most two memcpy each.
class Ring {
 public:
  explicit Ring(size_t capacity) : data_(capacity) {}
  size_t size() const { return size_; }
  size_t space() const { return data_.size() - size_; }
  bool empty() const { return size_ == 0; }

  void Push(const char* bytes, size_t n) {  // n <= space()
    size_t tail = (head_ + size_) % data_.size();
    size_t first = std::min(n, data_.size() - tail);
    std::memcpy(data_.data() + tail, bytes, first);
    std::memcpy(data_.data(), bytes + first, n - first);
    size_ += n;
  }
  void Pop(char* out, size_t n) {  // n <= size()
    size_t first = std::min(n, data_.size() - head_);
    std::memcpy(out, data_.data() + head_, first);
    std::memcpy(out + first, data_.data(), n - first);
    head_ = (head_ + n) % data_.size();
    size_ -= n;
  }

 private:
  std::vector<char> data_;
  size_t head_ = 0;
  size_t size_ = 0;
};

// What the two ends share: a ring per direction and the closed flag.
class Pipe {
 public:
  explicit Pipe(size_t buffer_bytes) : queue_{Ring(buffer_bytes), Ring(buffer_bytes)} {}

  Status Send(int to, std::string_view bytes) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    while (!bytes.empty()) {
      while (!closed_ && queue_[to].space() == 0) changed_.Wait(&mu_);
      if (closed_) return Status::Unavailable("transport closed");
      size_t n = std::min(bytes.size(), queue_[to].space());
      queue_[to].Push(bytes.data(), n);
      bytes.remove_prefix(n);
      changed_.SignalAll();
    }
    return Status::Ok();
  }

  Result<size_t> TrySend(int to, std::string_view bytes) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    if (closed_) return Status::Unavailable("transport closed");
    size_t n = std::min(bytes.size(), queue_[to].space());
    queue_[to].Push(bytes.data(), n);
    if (n > 0) changed_.SignalAll();
    return n;
  }

  Result<size_t> Receive(int from, char* buffer, size_t capacity, std::chrono::milliseconds timeout)
      ABSL_LOCKS_EXCLUDED(mu_) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    MutexLock lock(&mu_);
    while (queue_[from].empty() && !closed_) {
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return Status::DeadlineExceeded("no data within the timeout");
      changed_.WaitWithTimeout(&mu_, deadline - now);
    }
    // Bytes sent before the close are still delivered, as a socket does.
    if (queue_[from].empty()) return Status::Unavailable("transport closed");
    size_t n = std::min(capacity, queue_[from].size());
    queue_[from].Pop(buffer, n);
    changed_.SignalAll();
    return n;
  }

  void Close() ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    closed_ = true;
    changed_.SignalAll();
  }

 private:
  Mutex mu_;
  CondVar changed_;
  Ring queue_[2] ABSL_GUARDED_BY(mu_);  // queue_[i]: bytes for end i
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

class InProcessTransport final : public Transport {
 public:
  InProcessTransport(std::shared_ptr<Pipe> pipe, int self) : pipe_(std::move(pipe)), self_(self) {}
  ~InProcessTransport() override { Close(); }

  Status Send(std::string_view bytes) override { return pipe_->Send(1 - self_, bytes); }
  Result<size_t> TrySend(std::string_view bytes) override {
    return pipe_->TrySend(1 - self_, bytes);
  }
  Result<size_t> Receive(char* buffer, size_t capacity,
                         std::chrono::milliseconds timeout) override {
    return pipe_->Receive(self_, buffer, capacity, timeout);
  }
  void Close() override { pipe_->Close(); }
  std::string peer() const override { return "in-process"; }

 private:
  std::shared_ptr<Pipe> pipe_;
  const int self_;
};

}  // namespace

std::pair<std::unique_ptr<Transport>, std::unique_ptr<Transport>> CreateInProcessTransportPair(
    size_t buffer_bytes) {
  auto pipe = std::make_shared<Pipe>(std::max<size_t>(buffer_bytes, 1));
  return {std::make_unique<InProcessTransport>(pipe, 0),
          std::make_unique<InProcessTransport>(pipe, 1)};
}

}  // namespace mirrorkv
