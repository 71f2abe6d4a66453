// StreamApplier: turns the replication stream a replica receives into changes of its
// Store, command by command, with nothing half-applied.
//
// The stream holds effect commands (SET k v [PXAT ms], DEL k..., PEXPIREAT k ms,
// PERSIST k, FLUSHALL), MULTI ... EXEC around multi-key changes, and the control
// commands PING, SELECT 0 and REPLCONF GETACK. Every command is validated whole before
// anything is applied; a MULTI block is applied at its EXEC as one atomic batch. A
// malformed command is kCorruption and leaves the Store as it was before it.
//
// A Redis primary propagates many collection commands in forms of its own (LPOP without a
// count, HINCRBY, ZADD with options, LMOVE ...): they are translated into the same
// effects, relative ones made absolute from the Store's state at that point of the stream
// (see TranslateRedisForm).
//
// A Redis primary's stream may also hold well-formed commands mirrorkv cannot apply
// (other data types, other databases after a SELECT, options it lacks). They are
// kInvalidArgument, with the Store unchanged, or, with `skip_unsupported`, skipped and
// counted: one policy, chosen by the replica's options (ReplicaOptions::skip_unsupported).
//
// Thread-compatible: one replica link thread owns it.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mirrorkv/collections.h"
#include "mirrorkv/mutation.h"
#include "mirrorkv/status.h"
#include "mirrorkv/store.h"

namespace mirrorkv::internal {

class StreamApplier {
 public:
  // `store` is borrowed. `on_getack` is called for REPLCONF GETACK, after the command's
  // bytes count as applied.
  StreamApplier(Store& store, std::function<Status()> on_getack, bool skip_unsupported = false)
      : store_(store), on_getack_(std::move(on_getack)), skip_unsupported_(skip_unsupported) {}

  // Applies one parsed command. `in_transaction()` tells whether a MULTI is open (its
  // commands are queued, not yet applied). kCorruption for anything malformed;
  // kInvalidArgument for a command mirrorkv cannot apply (unless skipped: see above),
  // naming it; the Store's error if it refused a change.
  // `offset` is where the command starts in the primary's stream: collection effects
  // already in a loaded snapshot are skipped by it (Store::Impl::ApplyBatch); a MULTI
  // block applies with the offset of its MULTI.
  Status ApplyCommand(std::span<const std::string_view> args, uint64_t offset);

  bool in_transaction() const { return in_transaction_; }
  // Commands skipped so far, and the name of the last one.
  uint64_t skipped() const { return skipped_; }
  const std::string& last_skipped() const { return last_skipped_; }

 private:
  // Appends the mutations of one effect command to `out`; their views point into
  // `args`, which must outlive the batch's application.
  Status Translate(std::span<const std::string_view> args, std::vector<Mutation>* out);

  // The forms a Redis primary propagates for collection commands that are not
  // mirrorkv's effect commands: renamed ones (LPUSHX, LPOP without a count, HMSET,
  // HSETNX, SMOVE) and relative ones (HINCRBY, ZINCRBY, ZADD with options,
  // ZPOPMIN/ZPOPMAX, ZREMRANGEBYRANK/SCORE/LEX, LSET with a negative index, LMOVE,
  // RPOPLPUSH, RENAME, RENAMENX, COPY, the set and sorted-set STORE forms but
  // ZRANGESTORE), which are made absolute from the Store's state. Others are
  // kInvalidArgument (unsupported).
  Status TranslateRedisForm(std::span<const std::string_view> args, std::vector<Mutation>* out);
  // ZADD with options (NX XX GT LT CH INCR) as the ZADD of the scores it leaves.
  Status TranslateZaddOptions(std::span<const std::string_view> args, std::vector<Mutation>* out);
  // RENAME, RENAMENX, COPY: `from`'s value and deadline as the writes that give `to` the
  // same (a SET, or a DEL and the rebuild of a collection).
  Status AppendCopy(std::span<const std::string_view> args, std::string_view from,
                    std::string_view to, std::vector<Mutation>* out);
  // SUNIONSTORE SINTERSTORE SDIFFSTORE as the DEL and SADD of the result, and
  // ZUNIONSTORE ZINTERSTORE ZDIFFSTORE (WEIGHTS, AGGREGATE) as the DEL and ZADD of it.
  Status TranslateSetStore(std::span<const std::string_view> args, std::vector<Mutation>* out);
  Status TranslateSortedSetStore(std::span<const std::string_view> args,
                                 std::vector<Mutation>* out);
  // A ZREMRANGEBYSCORE bound ("1.5", "(1.5", "-inf") and a ZREMRANGEBYLEX one ("[a",
  // "(a", "-", "+"); false when malformed.
  static bool ParseScoreBound(std::string_view text, double* score, bool* exclusive);
  static bool ParseLexBound(std::string_view text, LexBound* bound);
  // Whether the translation of the command reads the Store.
  static bool ReadsStore(std::span<const std::string_view> args);
  // Whether the command is a Redis form under the name of one of mirrorkv's effects
  // (LPOP without a count, LSET with a negative index).
  static bool IsRedisForm(std::span<const std::string_view> args);
  // Appends the kCollection mutation of `effect` (a command, key second).
  static void AddEffect(std::span<const std::string_view> effect, std::vector<Mutation>* out);
  // A rewritten command (`head` then `tail`) and an owned argument, kept until the next
  // command (or EXEC) so that the mutations' views stay valid while they apply.
  std::span<const std::string_view> Rewritten(std::initializer_list<std::string_view> head,
                                              std::span<const std::string_view> tail);
  std::string_view Owned(std::string s);
  void ClearRewrites() {
    rewritten_.clear();
    owned_.clear();
  }

  // Skips (and counts) an unsupported command, or returns `unsupported`.
  Status SkipOrFail(std::string_view name, Status unsupported);

  Store& store_;
  std::function<Status()> on_getack_;
  const bool skip_unsupported_;
  bool in_transaction_ = false;
  // The database of the data commands that follow (SELECT); only 0 exists here.
  int64_t selected_db_ = 0;
  uint64_t skipped_ = 0;
  std::string last_skipped_;
  uint64_t transaction_offset_ = 0;  // where the open MULTI started
  // The queued commands of an open MULTI, copied (the input buffer moves on).
  std::vector<std::vector<std::string>> queued_;
  // Reused for every command outside MULTI, so that applying one allocates nothing.
  std::vector<Mutation> single_;
  // See Rewritten; deques, so that what they hold never moves.
  std::deque<std::vector<std::string_view>> rewritten_;
  std::deque<std::string> owned_;
};

}  // namespace mirrorkv::internal
