#include "replication/transport_io.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace mirrorkv::internal {

Status TransportReader::Fill() { return Fill(timeout_); }

namespace {
// What one Fill asks the transport for, at least.
constexpr size_t kReceiveBytes = 64 << 10;
}  // namespace

void TransportReader::Reserve() {
  if (capacity_ - end_ >= kReceiveBytes) return;
  size_t pending = end_ - start_;
  if (pending + kReceiveBytes > capacity_) {
    size_t capacity = std::max(2 * capacity_, pending + kReceiveBytes);
    std::unique_ptr<char[]> grown(new char[capacity]);
    if (pending > 0) std::memcpy(grown.get(), buffer_.get() + start_, pending);
    buffer_ = std::move(grown);
    capacity_ = capacity;
  } else if (pending > 0) {
    std::memmove(buffer_.get(), buffer_.get() + start_, pending);
  }
  start_ = 0;
  end_ = pending;
}

Status TransportReader::Fill(std::chrono::milliseconds timeout) {
  Reserve();
  Result<size_t> n = transport_.Receive(buffer_.get() + end_, capacity_ - end_, timeout);
  if (n.ok()) end_ += *n;
  return n.status();
}

void TransportReader::Consume(size_t n) { start_ += std::min(n, end_ - start_); }

Result<std::string> TransportReader::ReadLine(size_t max_line) {
  while (true) {
    std::string_view line;
    size_t consumed;
    if (internal::ReadLine(buffered(), &line, &consumed)) {
      std::string result(line);
      Consume(consumed);
      return result;
    }
    if (buffered().size() > max_line) {
      return Status::Corruption(absl::StrCat("a line longer than ", max_line, " bytes"));
    }
    MIRRORKV_RETURN_IF_ERROR(Fill());
  }
}

Status TransportReader::ReadExact(char* out, size_t n) {
  while (n > 0) {
    if (buffered().empty()) MIRRORKV_RETURN_IF_ERROR(Fill());
    size_t take = std::min(n, buffered().size());
    std::memcpy(out, buffered().data(), take);
    Consume(take);
    out += take;
    n -= take;
  }
  return Status::Ok();
}

Result<size_t> TransportReadableFile::Read(char* buffer, size_t n) {
  if (n == 0) return size_t{0};
  if (reader_.buffered().empty()) MIRRORKV_RETURN_IF_ERROR(reader_.Fill());
  size_t take = std::min(n, reader_.buffered().size());
  std::memcpy(buffer, reader_.buffered().data(), take);
  reader_.Consume(take);
  return take;
}

}  // namespace mirrorkv::internal
