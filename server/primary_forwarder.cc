// PrimaryForwarder: one connection, a pipelined command and INFO replication, RESP2
// replies. See
// primary_forwarder.h.
#include "server/primary_forwarder.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/base/numbers.h"
#include "engine/base/strings.h"
#include "replication/resp.h"
#include "replication/transport_io.h"

namespace mirrorkv::server {
namespace {

// Replies nest at most this deep and hold at most this many elements: a forwarded
// write's reply is small; anything bigger is a confused peer, not a reply to trust.
constexpr int kMaxDepth = 8;
constexpr int64_t kMaxElements = 1 << 20;
constexpr int64_t kMaxBulk = int64_t{512} << 20;

// An error reply as a Status, by its first word (Redis's error codes).
Status ErrorReplyStatus(std::string_view text) {
  std::string_view code = text.substr(0, text.find(' '));
  for (std::string_view retryable : {"READONLY", "MASTERDOWN", "LOADING", "BUSY", "TRYAGAIN"}) {
    if (code == retryable) return Status::Unavailable(text);
  }
  if (code == "OOM") return Status::ResourceExhausted(text);
  if (code == "NOAUTH" || code == "WRONGPASS" || code == "NOPERM") {
    return Status::FailedPrecondition(text);
  }
  return Status::InvalidArgument(text);
}

// Reads the fence out of INFO replication's text ("field:value" lines): false unless
// the server is a primary and reports its replication id and offset.
bool ParseReplicationInfo(std::string_view text, PrimaryForwarder::Outcome* outcome) {
  bool primary = false;
  bool has_offset = false;
  outcome->streamed = true;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view field = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    int64_t number = 0;
    if (field == "role") {
      primary = value == "master";
    } else if (field == "master_replid") {
      outcome->position.replication_id = std::string(value);
    } else if (field == "master_repl_offset") {
      has_offset = internal::ParseInt64(value, &number) && number >= 0;
      outcome->position.offset = static_cast<uint64_t>(number);
    } else if (field == "repl_backlog_active") {
      outcome->streamed = value != "0";
    }
  }
  return primary && has_offset && !outcome->position.replication_id.empty();
}

// Reads one RESP2 reply. An error reply is returned as a reply of type kStatus with
// `error` set, so that the caller can still read what was pipelined after it.
Status ReadReply(internal::TransportReader& reader, int depth, ServerReply* reply, bool* error) {
  MIRRORKV_ASSIGN_OR_RETURN(std::string line, reader.ReadLine());
  if (line.empty()) return Status::Corruption("empty reply line");
  const char tag = line[0];
  std::string_view rest = std::string_view(line).substr(1);
  int64_t n = 0;
  switch (tag) {
    case '+':
    case '-':
      if (tag == '-' && error != nullptr) *error = true;
      reply->type = ServerReply::Type::kStatus;
      reply->text = std::string(rest);
      return Status::Ok();
    case ':':
      if (!internal::ParseInt64(rest, &reply->integer)) {
        return Status::Corruption("bad integer reply");
      }
      reply->type = ServerReply::Type::kInteger;
      return Status::Ok();
    case '$':
      if (!internal::ParseInt64(rest, &n) || n < -1 || n > kMaxBulk) {
        return Status::Corruption("bad bulk length");
      }
      if (n == -1) {
        reply->type = ServerReply::Type::kNil;
        return Status::Ok();
      }
      reply->type = ServerReply::Type::kBulk;
      reply->text.resize(static_cast<size_t>(n) + 2);
      MIRRORKV_RETURN_IF_ERROR(reader.ReadExact(reply->text.data(), reply->text.size()));
      if (reply->text.substr(reply->text.size() - 2) != "\r\n") {
        return Status::Corruption("bulk reply without its CRLF");
      }
      reply->text.resize(static_cast<size_t>(n));
      return Status::Ok();
    case '*':
      if (!internal::ParseInt64(rest, &n) || n < -1 || n > kMaxElements || depth >= kMaxDepth) {
        return Status::Corruption("bad array reply");
      }
      if (n == -1) {
        reply->type = ServerReply::Type::kNil;
        return Status::Ok();
      }
      reply->type = ServerReply::Type::kArray;
      reply->elements.resize(static_cast<size_t>(n));
      for (ServerReply& element : reply->elements) {
        // An error inside an array (EXEC's) stays an element: not the call's error.
        MIRRORKV_RETURN_IF_ERROR(ReadReply(reader, depth + 1, &element, nullptr));
      }
      return Status::Ok();
    default:
      return Status::Corruption(
          absl::StrCat("unexpected reply type '", internal::AsAbsl(line.substr(0, 1)), "'"));
  }
}

}  // namespace

Status PrimaryForwarder::ConnectLocked(const std::string& host, uint16_t port,
                                       const std::string& password,
                                       std::chrono::milliseconds timeout) {
  connection_.reset();
  MIRRORKV_ASSIGN_OR_RETURN(std::unique_ptr<Transport> connection, ConnectTcp(host, port, timeout));
  if (!password.empty()) {
    std::string auth;
    internal::AppendCommand(&auth, {"AUTH", password});
    MIRRORKV_RETURN_IF_ERROR(connection->Send(auth));
    internal::TransportReader reader(*connection, timeout);
    ServerReply reply;
    bool error = false;
    MIRRORKV_RETURN_IF_ERROR(ReadReply(reader, 0, &reply, &error));
    if (error) return ErrorReplyStatus(reply.text);
  }
  connection_ = std::move(connection);
  connected_host_ = host;
  connected_port_ = port;
  return Status::Ok();
}

Result<PrimaryForwarder::Outcome> PrimaryForwarder::Run(const std::string& host, uint16_t port,
                                                        const std::string& password,
                                                        std::span<const std::string_view> command,
                                                        std::chrono::milliseconds timeout) {
  if (command.empty()) return Status::InvalidArgument("an empty command");
  const std::string where = absl::StrCat(host, ":", port);
  MutexLock lock(&mu_);
  if (connection_ == nullptr || connected_host_ != host || connected_port_ != port) {
    Status connected = ConnectLocked(host, port, password, timeout);
    if (!connected.ok()) {
      connection_.reset();
      return connected.WithContext(absl::StrCat("cannot reach the primary at ", where));
    }
  }
  // The command and INFO replication in one send: the server runs them in order on this
  // connection, so the position INFO reports covers the command's effects.
  std::string request;
  internal::AppendArrayHeader(&request, command.size());
  for (std::string_view word : command) internal::AppendBulk(&request, word);
  internal::AppendCommand(&request, {"INFO", "replication"});
  Status sent = connection_->Send(request);
  if (!sent.ok()) {
    connection_.reset();
    // A failed send may still have delivered the command.
    return Status::Unavailable(absl::StrCat("the connection to the primary at ", where,
                                            " broke while sending; the write may or may not "
                                            "have been applied: ",
                                            internal::AsAbsl(sent.message())));
  }
  internal::TransportReader reader(*connection_, timeout);
  Outcome outcome;
  bool error = false;
  ServerReply info;
  Status read = ReadReply(reader, 0, &outcome.reply, &error);
  if (read.ok()) read = ReadReply(reader, 0, &info, nullptr);
  if (!read.ok()) {
    connection_.reset();  // a half-read reply would desynchronize the next call
    std::string why = absl::StrCat(
        "no complete reply from the primary at ", where,
        "; the write may or may not have been applied: ", internal::AsAbsl(read.message()));
    if (read.code() == StatusCode::kDeadlineExceeded) return Status::DeadlineExceeded(why);
    return Status::Unavailable(why);
  }
  if (error) return ErrorReplyStatus(outcome.reply.text);
  // A primary answers role:master with its position; anything else means the server is
  // no primary (the write itself was then refused with READONLY, handled above).
  if (info.type != ServerReply::Type::kBulk || !ParseReplicationInfo(info.text, &outcome)) {
    return Status::Unavailable(absl::StrCat(where, " is no longer the primary"));
  }
  return outcome;
}

}  // namespace mirrorkv::server
