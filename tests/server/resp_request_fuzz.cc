// libFuzzer target for the server's request parser (RESP multibulk and inline).
//
// The first input byte chooses how the rest arrives (in pieces of 1 to 256 bytes, or at
// once) and whether the client is authenticated (Redis's tighter limits otherwise). The
// bytes are parsed twice, whole and in those pieces; both must give the same commands
// and end the same way, since a client's bytes may arrive split anywhere. The parser must
// not crash, read outside its buffer (ASan) or exceed its limits.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "server/resp_parser.h"
#include "tests/fuzz_check.h"

namespace {

using mirrorkv::server::ParserLimits;
using mirrorkv::server::RequestParser;

struct Parsed {
  std::vector<std::vector<std::string>> commands;
  bool failed = false;
  std::string error;
};

// Feeds `input` in pieces of `piece` bytes (0: as much as the parser takes at once).
Parsed Parse(std::string_view input, size_t piece, bool authenticated) {
  // Small limits, so that the fuzzer reaches them with short inputs.
  ParserLimits limits;
  limits.max_bulk_len = 4096;
  limits.max_query_buffer = 64 << 10;
  RequestParser parser;
  Parsed out;
  std::vector<std::string_view> args;
  size_t offset = 0;
  while (true) {
    while (true) {
      RequestParser::Outcome outcome = parser.Next(limits, authenticated, &args);
      if (outcome == RequestParser::Outcome::kNeedMore) break;
      if (outcome == RequestParser::Outcome::kError) {
        out.failed = true;
        out.error = std::string(parser.error());
        FUZZ_CHECK(!out.error.empty());
        return out;
      }
      FUZZ_CHECK(!args.empty());
      auto& command = out.commands.emplace_back();
      for (std::string_view arg : args) {
        // A bulk argument respects the limit; an inline one is bounded by the line.
        FUZZ_CHECK(arg.size() <= static_cast<size_t>(limits.max_bulk_len) ||
                   arg.size() < limits.max_query_buffer);
        command.emplace_back(arg);
      }
    }
    if (offset == input.size()) return out;
    std::span<char> space = parser.ReadSpace();
    FUZZ_CHECK(!space.empty());
    size_t n = std::min(space.size(), input.size() - offset);
    if (piece > 0) n = std::min(n, piece);
    std::memcpy(space.data(), input.data() + offset, n);
    parser.CommitRead(n);
    offset += n;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool authenticated = (data[0] & 1) != 0;
  const size_t piece = data[0] >> 1 == 0 ? 0 : (data[0] >> 1) * 2;  // 0 or 2..254
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  Parsed whole = Parse(input, 0, authenticated);
  Parsed pieces = Parse(input, piece == 0 ? 1 : piece, authenticated);
  FUZZ_CHECK(whole.failed == pieces.failed);
  FUZZ_CHECK(whole.commands == pieces.commands);
  FUZZ_CHECK(whole.error == pieces.error);
  return 0;
}
