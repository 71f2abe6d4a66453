// StreamApplier: turns the replication stream a replica receives into changes of its
// Store, command by command, with nothing half-applied.
//
// The stream holds effect commands (SET k v [PXAT ms], DEL k..., PEXPIREAT k ms,
// PERSIST k, FLUSHALL), MULTI ... EXEC around multi-key changes, and the control
// commands PING, SELECT 0 and REPLCONF GETACK. Every command is validated whole before
// anything is applied; a MULTI block is applied at its EXEC as one atomic batch. A
// malformed or unknown command is an error and leaves the Store as it was before it.
//
// Thread-compatible: one replica link thread owns it.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mirrorkv/mutation.h"
#include "mirrorkv/status.h"
#include "mirrorkv/store.h"

namespace mirrorkv::internal {

class StreamApplier {
 public:
  // `store` is borrowed. `on_getack` is called for REPLCONF GETACK, after the command's
  // bytes count as applied.
  StreamApplier(Store& store, std::function<Status()> on_getack)
      : store_(store), on_getack_(std::move(on_getack)) {}

  // Applies one parsed command. `in_transaction()` tells whether a MULTI is open (its
  // commands are queued, not yet applied). kCorruption for anything malformed or
  // unknown (naming it); the Store's error if it refused a change.
  // `offset` is where the command starts in the primary's stream: collection effects
  // already in a loaded snapshot are skipped by it (Store::Impl::ApplyBatch); a MULTI
  // block applies with the offset of its MULTI.
  Status ApplyCommand(std::span<const std::string_view> args, uint64_t offset);

  bool in_transaction() const { return in_transaction_; }

 private:
  // Appends the mutations of one effect command to `out`; their views point into
  // `args`, which must outlive the batch's application.
  Status Translate(std::span<const std::string_view> args, std::vector<Mutation>* out);

  Store& store_;
  std::function<Status()> on_getack_;
  bool in_transaction_ = false;
  uint64_t transaction_offset_ = 0;  // where the open MULTI started
  // The queued commands of an open MULTI, copied (the input buffer moves on).
  std::vector<std::vector<std::string>> queued_;
  // Reused for every command outside MULTI, so that applying one allocates nothing.
  std::vector<Mutation> single_;
};

}  // namespace mirrorkv::internal
