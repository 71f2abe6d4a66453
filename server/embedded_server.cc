// mirrorkv::Server (include/mirrorkv/server.h): the server embedded in an application.
// The options become the binary's command-line words and go through the same LoadConfig,
// so that every setting is checked and named exactly as for mirrorkv-server; the server
// listens on the caller's thread (so a bind error is returned) and serves its control
// loop on a thread of its own, without taking the process's signals.
#include <future>
#include <thread>

#include "absl/strings/str_split.h"
#include "mirrorkv/server.h"
#include "server/config.h"
#include "server/primary_forwarder.h"
#include "server/replication_role.h"
#include "server/server.h"

namespace mirrorkv {
namespace {

std::vector<std::string> ToFlags(const ServerOptions& options) {
  std::vector<std::string> flags = {"--bind"};
  flags.insert(flags.end(), options.bind.begin(), options.bind.end());
  flags.insert(flags.end(), {"--port", std::to_string(options.port)});
  flags.insert(flags.end(), {"--protected-mode", options.protected_mode ? "yes" : "no"});
  flags.insert(flags.end(), {"--maxclients", std::to_string(options.maxclients)});
  flags.insert(flags.end(), {"--maxmemory", std::to_string(options.max_memory)});
  if (options.io_threads > 0) {
    flags.insert(flags.end(), {"--io-threads", std::to_string(options.io_threads)});
  }
  if (!options.requirepass.empty())
    flags.insert(flags.end(), {"--requirepass", options.requirepass});
  if (!options.masterauth.empty()) flags.insert(flags.end(), {"--masterauth", options.masterauth});
  if (!options.replicaof.empty()) {
    flags.push_back("--replicaof");
    for (absl::string_view word : absl::StrSplit(options.replicaof, ' ', absl::SkipEmpty())) {
      flags.emplace_back(word);
    }
  }
  // No snapshot file unless asked for: an embedded node's data is the application's.
  flags.insert(flags.end(), {"--save", ""});
  flags.insert(flags.end(), options.settings.begin(), options.settings.end());
  return flags;
}

// Where a primary node reaches itself: its first listening address, with a wildcard
// replaced by the loopback of its family.
std::string SelfAddress(const server::ServerConfig& config) {
  if (config.bind.empty()) return "127.0.0.1";
  std::string address = server::ParseBindAddress(config.bind.front()).literal;
  if (address == "0.0.0.0") return "127.0.0.1";
  if (address == "::") return "::1";
  return address;
}

}  // namespace

class Server::Impl {
 public:
  explicit Impl(std::unique_ptr<server::Server> server) : server_(std::move(server)) {}
  ~Impl() { Stop(); }

  Status Start() {
    MIRRORKV_RETURN_IF_ERROR(server_->Listen());
    thread_ = std::thread([this] { server_->Serve(/*handle_signals=*/false); });
    return Status::Ok();
  }

  void Stop() {
    server_->StopServing();
    if (thread_.joinable()) thread_.join();
  }

  server::Server& server() { return *server_; }
  server::PrimaryForwarder& forwarder() { return forwarder_; }

 private:
  std::unique_ptr<server::Server> server_;
  server::PrimaryForwarder forwarder_;
  std::thread thread_;
};

Result<std::unique_ptr<Server>> Server::Start(const ServerOptions& options) {
  MIRRORKV_ASSIGN_OR_RETURN(server::ServerConfig config, server::LoadConfig("", ToFlags(options)));
  MIRRORKV_ASSIGN_OR_RETURN(std::unique_ptr<server::Server> inner,
                            server::Server::Create(std::move(config)));
  if (options.on_role_change) {
    inner->set_role_listener(
        [callback = options.on_role_change](const std::string& host, uint16_t port) {
          callback(RoleChange{!host.empty(), host, port});
        });
  }
  auto impl = std::make_unique<Impl>(std::move(inner));
  MIRRORKV_RETURN_IF_ERROR(impl->Start());
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;
void Server::Stop() { impl_->Stop(); }
uint16_t Server::port() const { return static_cast<uint16_t>(impl_->server().port()); }
Store& Server::store() { return impl_->server().store(); }
bool Server::is_replica() const { return impl_->server().replication().is_replica(); }

Result<size_t> Server::WaitForReplicas(size_t count, std::chrono::milliseconds timeout) {
  std::promise<Result<size_t>> done;
  std::future<Result<size_t>> result = done.get_future();
  impl_->server().replication().WaitForReplicas(
      count, timeout, /*block=*/timeout.count() > 0, [] { return false; },
      [&done](Result<size_t> acked) { done.set_value(std::move(acked)); });
  return result.get();
}

// A primary node runs the command through its own server, like any client's, so that
// both roles give the same semantics; a replica node forwards it and then waits for the
// fence (replication_role.h).
Result<ServerReply> Server::Write(std::span<const std::string_view> command,
                                  std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  server::ServerReplication& replication = impl_->server().replication();
  std::optional<server::ServerReplication::WriteTarget> target = replication.ForwardTarget();
  if (!target.has_value()) {
    server::ServerConfig config = impl_->server().config();
    target = server::ServerReplication::WriteTarget{
        SelfAddress(config), static_cast<uint16_t>(impl_->server().port()), config.requirepass,
        /*full_resyncs=*/0};
  }
  MIRRORKV_ASSIGN_OR_RETURN(
      server::PrimaryForwarder::Outcome outcome,
      impl_->forwarder().Run(target->host, target->port, target->password, command, timeout));
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  server::ServerReplication::WriteFence fence{std::move(outcome.position), outcome.streamed,
                                              target->full_resyncs};
  MIRRORKV_RETURN_IF_ERROR(
      replication.WaitForApplied(fence, std::max(left, std::chrono::milliseconds(0))));
  return std::move(outcome.reply);
}

}  // namespace mirrorkv
