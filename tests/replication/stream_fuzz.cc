// libFuzzer target for the replication stream decoder (replication/resp.h ParseCommand),
// which reads every command a primary sends and every command of a replica's handshake.
//
// The input is parsed command by command, as a replica does. Every command accepted must
// be the canonical encoding of its arguments (the decoder accepts nothing else: no
// leading zeros, no missing CRLF), so re-encoding it gives back exactly the bytes
// consumed; every proper prefix of it must ask for more bytes, never fail or return
// another command. A failure ends the input, as it ends the link.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "replication/resp.h"
#include "tests/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using mirrorkv::internal::ParseCommand;
  mirrorkv::internal::RespLimits limits;
  limits.max_bulk_bytes = 1 << 16;  // small, so that the fuzzer reaches them
  limits.max_arguments = 1 << 10;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> args;
  std::vector<std::string_view> prefix_args;
  std::string encoded;
  while (!input.empty()) {
    size_t consumed = 0;
    size_t needed = 0;
    if (!ParseCommand(input, limits, &args, &consumed, &needed).ok()) return 0;
    if (consumed == 0) {
      FUZZ_CHECK(needed > input.size());
      return 0;
    }
    FUZZ_CHECK(consumed <= input.size());
    FUZZ_CHECK(args.size() <= limits.max_arguments);
    encoded.clear();
    mirrorkv::internal::AppendArrayHeader(&encoded, args.size());
    for (std::string_view arg : args) {
      FUZZ_CHECK(arg.size() <= limits.max_bulk_bytes);
      mirrorkv::internal::AppendBulk(&encoded, arg);
    }
    FUZZ_CHECK(encoded == input.substr(0, consumed));
    // A prefix of the command (its length chosen by the command's own bytes).
    size_t cut = consumed > 1 ? static_cast<unsigned char>(input[consumed / 2]) % consumed : 0;
    size_t prefix_consumed = 1;
    FUZZ_CHECK(ParseCommand(input.substr(0, cut), limits, &prefix_args, &prefix_consumed).ok());
    FUZZ_CHECK(prefix_consumed == 0);
    input.remove_prefix(consumed);
  }
  return 0;
}
