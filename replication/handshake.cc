// ReplicaHandshake: the primary's side of the PSYNC handshake. See handshake.h.
#include "replication/handshake.h"

#include "absl/strings/str_cat.h"
#include "engine/base/numbers.h"
#include "engine/base/strings.h"
#include "replication/primary_impl.h"

namespace mirrorkv::internal {
namespace {

constexpr std::string_view kNotAnInteger = "ERR value is not an integer or out of range";

}  // namespace

bool ReplicaHandshake::Handle(std::span<const std::string_view> args, std::string* reply) {
  auto error = [reply](std::string_view message) {
    absl::StrAppend(reply, "-", AsAbsl(message), "\r\n");
  };
  if (EqualsIgnoreCase(args[0], "AUTH") && (args.size() == 2 || args.size() == 3)) {
    authenticated_ = !password_.empty() && args.back() == password_;
    if (authenticated_) {
      reply->append("+OK\r\n");
    } else {
      error("WRONGPASS invalid username-password pair or user is disabled.");
    }
    return false;
  }
  if (!authenticated_) {
    error("NOAUTH Authentication required.");
    return false;
  }
  if (EqualsIgnoreCase(args[0], "PING")) {
    reply->append("+PONG\r\n");
    return false;
  }
  if (EqualsIgnoreCase(args[0], "REPLCONF")) {
    Result<bool> replied = Replconf(args);
    if (!replied.ok()) {
      error(replied.status().message());
    } else if (*replied) {
      reply->append("+OK\r\n");
    }
    return false;
  }
  if ((EqualsIgnoreCase(args[0], "PSYNC") && args.size() == 3) ||
      (EqualsIgnoreCase(args[0], "SYNC") && args.size() == 1)) {
    Status accepted = Psync(args);
    if (accepted.ok()) return true;
    error(accepted.message());
    return false;
  }
  error(absl::StrCat("ERR unknown command '", AsAbsl(args[0].substr(0, 64)),
                     "' during the replication handshake"));
  return false;
}

Result<bool> ReplicaHandshake::Replconf(std::span<const std::string_view> args) {
  if (args.size() % 2 == 0) return Status::InvalidArgument("ERR syntax error");
  for (size_t i = 1; i < args.size(); i += 2) {
    std::string_view option = args[i];
    std::string_view value = args[i + 1];
    if (EqualsIgnoreCase(option, "listening-port")) {
      int64_t port = 0;
      if (!ParseInt64(value, &port) || port < 0 || port > 65535) {
        return Status::InvalidArgument(kNotAnInteger);
      }
      listening_port_ = static_cast<uint16_t>(port);
    } else if (EqualsIgnoreCase(option, "capa")) {
      if (EqualsIgnoreCase(value, "mirrorkv-snapshot")) mirrorkv_snapshot_ = true;
      if (EqualsIgnoreCase(value, "eof")) eof_ = true;
    } else if (EqualsIgnoreCase(option, "ack") || EqualsIgnoreCase(option, "getack")) {
      return false;
    } else if (!EqualsIgnoreCase(option, "ip-address") && !EqualsIgnoreCase(option, "rdb-only") &&
               !EqualsIgnoreCase(option, "rdb-filter-only")) {
      // Options Redis accepts that change nothing for mirrorkv pass above; others fail.
      return Status::InvalidArgument(
          absl::StrCat("ERR Unrecognized REPLCONF option: ", AsAbsl(option.substr(0, 64))));
    }
  }
  return true;
}

Status ReplicaHandshake::Psync(std::span<const std::string_view> args) {
  if (args.size() < 3) {             // SYNC: no position, a full resync
    replication_id_.assign(1, '?');  // not = "?": GCC 12 warns falsely (-Wrestrict)
    offset_ = -1;
    legacy_sync_ = true;
    return Status::Ok();
  }
  int64_t offset = 0;
  if (!ParseInt64(args[2], &offset)) return Status::InvalidArgument(kNotAnInteger);
  replication_id_ = std::string(args[1]);
  offset_ = offset;
  return Status::Ok();
}

void ServeHandshaken(Primary& primary, std::unique_ptr<Transport> transport,
                     const ReplicaHandshake& handshake) {
  PrimaryAccess::impl(primary).ServeHandshaken(std::move(transport), handshake);
}

}  // namespace mirrorkv::internal
