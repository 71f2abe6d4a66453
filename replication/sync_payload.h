// The payload of a full resync, after `+FULLRESYNC <id> <offset>`: its two framings and
// its two formats, on both sides of the link.
//
// Framings, as Redis has them:
//   $<length>\r\n<length bytes>                  when the replica did not announce
//                                                `capa eof` (the length comes first)
//   $EOF:<40 bytes>\r\n<payload><the 40 bytes>   when it did: streamed as produced
// Before the header a primary may send lone "\n" bytes, to keep the link alive while it
// prepares the payload (Redis does while its BGSAVE runs).
//
// Formats: a mirrorkv snapshot (magic "\x89MKVSNAP", for replicas that announced `capa
// mirrorkv-snapshot`) or an RDB (magic "REDIS", for all others, and what a Redis primary
// sends). The receiving side tells them apart by the magic.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "mirrorkv/file.h"
#include "mirrorkv/status.h"
#include "mirrorkv/transport.h"
#include "replication/transport_io.h"

namespace mirrorkv::internal {

// Consumes the lone "\n" bytes a Redis primary sends to keep the link alive while it
// prepares a full resync, before its PSYNC reply and before the payload header; waits
// for the first other byte. The reader's error (timeout, closed link).
Status SkipKeepAliveNewlines(TransportReader& reader);

// Sends the payload that `produce` writes, framed with `$EOF:` (streamed as produced)
// when `eof`, else with `$<length>` (then produced into memory first, since the length
// goes first). The transport's or `produce`'s error.
Status SendFramed(Transport& transport, bool eof,
                  const std::function<Status(WritableFile&)>& produce);

// The receiving side. Not thread-safe: the replica's link thread owns it.
class PayloadReader final : public ReadableFile {
 public:
  enum class Format { kMirrorkvSnapshot, kRdb };

  // Reads the framing header (skipping keep-alive newlines) and enough of the payload
  // to tell its format. kCorruption naming what arrived instead of a header or a known
  // magic; the reader's error (kDeadlineExceeded, kUnavailable ...) otherwise.
  static Result<std::unique_ptr<PayloadReader>> Open(TransportReader& reader);

  Format format() const { return format_; }
  // "disk-based" ($<length>) or "diskless" ($EOF:), for the log.
  const char* framing() const { return mark_.empty() ? "disk-based" : "diskless"; }

  // The payload's bytes, ending where the framing says (a `$<length>` payload's size()
  // is known; an `$EOF:` one has no end of its own: its reader stops at its own end).
  Result<size_t> Read(char* buffer, size_t n) override;
  std::optional<uint64_t> size() const override;

  // After the payload's reader finished: checks that exactly the framed bytes were
  // used, and for `$EOF:`, that the 40-byte mark follows. kCorruption otherwise.
  Status Finish();

 private:
  PayloadReader(TransportReader& reader, std::string mark, std::optional<uint64_t> length)
      : reader_(reader), mark_(std::move(mark)), length_(length) {}

  TransportReader& reader_;
  const std::string mark_;                // `$EOF:` framing; empty for `$<length>`
  const std::optional<uint64_t> length_;  // `$<length>` framing
  uint64_t consumed_ = 0;
  Format format_ = Format::kRdb;
};

}  // namespace mirrorkv::internal
