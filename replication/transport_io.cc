#include "replication/transport_io.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace mirrorkv::internal {

Status TransportReader::Fill() { return Fill(timeout_); }

Status TransportReader::Fill(std::chrono::milliseconds timeout) {
  if (start_ > 0 && start_ >= buffer_.size() / 2) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
  size_t old_size = buffer_.size();
  constexpr size_t kReceiveBytes = 64 << 10;
  buffer_.resize(old_size + kReceiveBytes);
  Result<size_t> n = transport_.Receive(buffer_.data() + old_size, kReceiveBytes, timeout);
  buffer_.resize(old_size + (n.ok() ? *n : 0));
  return n.status();
}

void TransportReader::Consume(size_t n) { start_ += std::min(n, buffer_.size() - start_); }

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
