// The primary's side of the PSYNC handshake (docs/replication_protocol.md), as one state
// machine that both ways a replica reaches a Primary use: the Primary's receiver thread
// (Primary::Serve, the TCP listener of Primary::ListenTcp), which feeds it every command
// until PSYNC, and the RESP server, whose command table dispatches REPLCONF and PSYNC to
// it (the server authenticates the connection itself) and then hands the connection to
// the Primary with ServeHandshaken.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "mirrorkv/replication.h"
#include "mirrorkv/status.h"
#include "mirrorkv/transport.h"

namespace mirrorkv::internal {

// What a replica announced before PSYNC, and what PSYNC asked for. Not thread-safe: one
// per connection.
class ReplicaHandshake {
 public:
  // `password` empty: no AUTH needed (the server passes it empty: it checks AUTH itself).
  explicit ReplicaHandshake(std::string password = {}) : password_(std::move(password)) {}

  // Feeds one command of the handshake (AUTH, PING, REPLCONF, PSYNC or SYNC) and appends
  // its RESP reply to `reply`. Returns true once PSYNC or SYNC was accepted: nothing is
  // appended then, the resync reply comes from the Primary. Any other command, or one
  // before a required AUTH, gets an error reply and the handshake goes on.
  bool Handle(std::span<const std::string_view> args, std::string* reply);

  // REPLCONF <option> <value> ...: true if the reply is +OK, false if there is none
  // (ACK and GETACK, which belong to an established link and change nothing here), or
  // kInvalidArgument with the error reply's text (no leading '-') for an odd argument
  // count, a bad port or an unknown option.
  Result<bool> Replconf(std::span<const std::string_view> args);
  // PSYNC <replication id> <offset> or SYNC: OK, or kInvalidArgument with the error
  // reply's text for a bad offset.
  Status Psync(std::span<const std::string_view> args);

  uint16_t listening_port() const { return listening_port_; }
  bool mirrorkv_snapshot() const { return mirrorkv_snapshot_; }  // "capa mirrorkv-snapshot"
  bool eof() const { return eof_; }  // "capa eof": takes the payload with $EOF: framing
  // The old SYNC command (redis-cli --rdb sends it): a full sync whose payload comes
  // without a +FULLRESYNC line.
  bool legacy_sync() const { return legacy_sync_; }
  const std::string& replication_id() const { return replication_id_; }  // "?" for none
  int64_t offset() const { return offset_; }  // PSYNC's argument: the replica's + 1, or -1

 private:
  std::string password_;
  bool authenticated_ = password_.empty();
  uint16_t listening_port_ = 0;
  bool mirrorkv_snapshot_ = false;
  bool eof_ = false;
  bool legacy_sync_ = false;
  std::string replication_id_ = "?";
  int64_t offset_ = -1;
};

// Serves a replica whose handshake was read by the caller (the RESP server): `transport`
// is the connection, positioned after PSYNC. Returns at once; the Primary answers PSYNC
// and streams on a session of its own, as for Primary::Serve.
void ServeHandshaken(Primary& primary, std::unique_ptr<Transport> transport,
                     const ReplicaHandshake& handshake);

// Primary::Impl for the functions of this module that the public API does not offer.
class PrimaryAccess {
 public:
  static Primary::Impl& impl(Primary& primary) { return *primary.impl_; }
};

}  // namespace mirrorkv::internal
