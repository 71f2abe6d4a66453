// Full resync payloads: framing on the primary's side, framing and format detection on
// the replica's. See sync_payload.h.
#include "replication/sync_payload.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/base/strings.h"
#include "mirrorkv/rdb.h"
#include "mirrorkv/replication.h"
#include "snapshot/snapshot_format.h"

namespace mirrorkv::internal {
namespace {

constexpr size_t kMarkBytes = 40;
// A payload header is short; anything longer is not one.
constexpr size_t kMaxHeaderBytes = 128;
// Both formats are told apart by their first bytes: "REDIS" or the snapshot's magic.
constexpr size_t kMagicBytes = 5;

}  // namespace

Status SendFramed(Transport& transport, bool eof,
                  const std::function<Status(WritableFile&)>& produce) {
  if (eof) {
    // The mark is random, so it cannot be guessed by data that happens to end the same.
    const std::string mark = NewReplicationId();
    MIRRORKV_RETURN_IF_ERROR(transport.Send(absl::StrCat("$EOF:", mark, "\r\n")));
    TransportWritableFile sink(transport);
    MIRRORKV_RETURN_IF_ERROR(produce(sink));
    return transport.Send(mark);
  }
  std::string payload;
  StringWritableFile sink(&payload);
  MIRRORKV_RETURN_IF_ERROR(produce(sink));
  MIRRORKV_RETURN_IF_ERROR(transport.Send(absl::StrCat("$", payload.size(), "\r\n")));
  return transport.Send(payload);
}

Status SkipKeepAliveNewlines(TransportReader& reader) {
  while (true) {
    if (reader.buffered().empty()) MIRRORKV_RETURN_IF_ERROR(reader.Fill());
    const size_t newlines = reader.buffered().find_first_not_of('\n');
    reader.Consume(newlines == std::string_view::npos ? reader.buffered().size() : newlines);
    if (newlines != std::string_view::npos) return Status::Ok();
  }
}

Result<std::unique_ptr<PayloadReader>> PayloadReader::Open(TransportReader& reader) {
  MIRRORKV_RETURN_IF_ERROR(SkipKeepAliveNewlines(reader));
  MIRRORKV_ASSIGN_OR_RETURN(std::string header, reader.ReadLine(kMaxHeaderBytes));
  std::unique_ptr<PayloadReader> payload;
  if (header.starts_with("$EOF:") && header.size() == 5 + kMarkBytes) {
    payload.reset(new PayloadReader(reader, header.substr(5), std::nullopt));
  } else if (uint64_t length;
             header.starts_with('$') &&
             absl::SimpleAtoi(AsAbsl(std::string_view(header).substr(1)), &length)) {
    payload.reset(new PayloadReader(reader, "", length));
  } else {
    return Status::Corruption(
        absl::StrCat("expected a payload header ($<length> or $EOF:<mark>) "
                     "after FULLRESYNC, got '",
                     header.substr(0, 60), "'"));
  }
  // The magic, without consuming it: the format's own reader starts at byte 0.
  while (reader.buffered().size() < kMagicBytes) MIRRORKV_RETURN_IF_ERROR(reader.Fill());
  const std::string_view magic = reader.buffered().substr(0, kMagicBytes);
  if (magic == std::string_view(snapshot::kMagic, kMagicBytes)) {
    payload->format_ = Format::kMirrorkvSnapshot;
  } else if (magic == "REDIS") {
    payload->format_ = Format::kRdb;
  } else {
    return Status::Corruption(
        "the full resync payload is neither an RDB nor a mirrorkv snapshot (bad magic)");
  }
  return payload;
}

Result<size_t> PayloadReader::Read(char* buffer, size_t n) {
  if (length_.has_value()) n = std::min<uint64_t>(n, *length_ - consumed_);
  if (n == 0) return size_t{0};
  if (reader_.buffered().empty()) MIRRORKV_RETURN_IF_ERROR(reader_.Fill());
  const size_t take = std::min(n, reader_.buffered().size());
  std::memcpy(buffer, reader_.buffered().data(), take);
  reader_.Consume(take);
  consumed_ += take;
  return take;
}

std::optional<uint64_t> PayloadReader::size() const { return length_; }

Status PayloadReader::Finish() {
  if (length_.has_value()) {
    if (consumed_ != *length_) {
      return Status::Corruption(absl::StrCat("the payload ended after ", consumed_, " of its ",
                                             *length_, " framed bytes"));
    }
    return Status::Ok();
  }
  std::string trailer(kMarkBytes, '\0');
  MIRRORKV_RETURN_IF_ERROR(reader_.ReadExact(trailer.data(), trailer.size()));
  if (trailer != mark_) return Status::Corruption("the payload is not followed by its end mark");
  return Status::Ok();
}

}  // namespace mirrorkv::internal
