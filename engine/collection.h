// Collection: the value of a list, set, hash or sorted-set key, owned by its entry.
//
// A string entry holds its value bytes inline; a collection entry holds, in place of the
// value, a pointer to one of these heap objects (engine/entry.h). The object keeps an
// estimate of the bytes it holds, which the Store adds to its memory accounting on every
// change, so max_memory and eviction see collections as they see strings.
//
// The operations here are the pure data-structure parts of the commands; the Store
// (engine/typed_ops.cc) adds the locking, type checks, deletion of emptied keys and the
// reporting of effects. ApplyEffect applies one logged effect command (see
// docs/command_log_format.md) to a collection; the primary's operations and a replica's
// stream both go through the same functions, so the two cannot drift apart.
//
// Thread-compatible: the key's stripe lock serializes every call.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "mirrorkv/collections.h"
#include "mirrorkv/mutation.h"
#include "mirrorkv/status.h"

namespace mirrorkv::internal {

// Heterogeneous lookup for std::string keys by std::string_view (absl's string_view is
// not std's on Debian 12; see STYLE.md).
struct ViewHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const;
};
struct ViewEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return a == b; }
};

// The bytes a std::string of `n` bytes holds, its own object included (an estimate:
// glibc rounds heap blocks to 16 bytes; short strings live inside the object).
size_t StringBytes(size_t n);

// A sorted-set element in score order: ties are ordered by member bytes, as Redis does.
struct ScoredMember {
  double score;
  std::string member;
};
// A probe that compares with elements by member bytes alone (for the lex intervals,
// which assume equal scores).
struct MemberProbe {
  std::string_view member;
};
// The order, and the probes a bound search uses: a double compares with the scores alone.
struct ScoreOrder {
  using is_transparent = void;
  bool operator()(const ScoredMember& a, const ScoredMember& b) const {
    if (a.score != b.score) return a.score < b.score;
    return a.member < b.member;
  }
  bool operator()(const ScoredMember& a, double b) const { return a.score < b; }
  bool operator()(double a, const ScoredMember& b) const { return a < b.score; }
  bool operator()(const ScoredMember& a, MemberProbe b) const { return a.member < b.member; }
  bool operator()(MemberProbe a, const ScoredMember& b) const { return a.member < b.member; }
};

// A uniform random index below `bound` (> 0), from a per-thread generator.
uint64_t RandomIndex(uint64_t bound);

// Chooses elements at random as SRANDMEMBER and HRANDFIELD do: min(count, N) distinct
// ones when `count` >= 0 (a partial shuffle of `items`, uniform), or -count of them,
// repeats possible, when < 0. Calls pick(i, m, item) for each, m being how many.
template <typename T, typename Pick>
void SampleRandom(std::vector<T>& items, int64_t count, Pick&& pick) {
  const size_t n = items.size();
  if (count < 0) {
    const size_t m = static_cast<size_t>(-count);
    for (size_t i = 0; i < m; ++i) pick(i, m, items[RandomIndex(n)]);
    return;
  }
  const size_t m = std::min(static_cast<size_t>(count), n);
  for (size_t i = 0; i < m; ++i) {
    std::swap(items[i], items[i + RandomIndex(n - i)]);
    pick(i, m, items[i]);
  }
}

class Collection {
 public:
  // Deletes a collection of any type.
  static void Destroy(Collection* collection);
  // A new empty collection of `type` (not kString or kNone).
  static Collection* Create(KeyType type);

  KeyType type() const { return type_; }
  // The estimated bytes held, this object included.
  size_t bytes() const { return bytes_; }
  // Elements (list items, members, fields).
  size_t size() const;
  bool empty() const { return size() == 0; }

  // Applies one effect command (args[0] its name, args[1] the key), whose arguments the
  // caller validated with ValidateEffect. Effects that no longer fit (an index beyond
  // the end, a pivot not found) change nothing: see docs/design.md for why a replica
  // replaying a fuzzy snapshot's stream meets them only for data it will overwrite.
  void ApplyEffect(std::span<const std::string_view> args);

 protected:
  explicit Collection(KeyType type, size_t bytes) : type_(type), bytes_(bytes) {}
  ~Collection() = default;

  KeyType type_;
  size_t bytes_;
};

// Which type an effect command creates or changes, and whether its arguments are
// well-formed: kCorruption with the reason otherwise. kNone for a command that is not a
// collection effect.
Result<KeyType> ValidateEffect(std::span<const std::string_view> args);
// Whether the effect may create its key (pushes and adds) or only changes an existing
// one (pops, removals, LSET ...).
bool EffectCreates(std::span<const std::string_view> args);

class ListValue final : public Collection {
 public:
  ListValue() : Collection(KeyType::kList, sizeof(ListValue)) {}
  const std::deque<std::string>& items() const { return items_; }

  void Push(ListEnd end, std::string_view value);
  // Removes and passes to `out` up to `count` items from `end`.
  template <typename Out>
  void Pop(ListEnd end, size_t count, Out&& out) {
    for (; count > 0 && !items_.empty(); --count) {
      std::string& item = end == ListEnd::kLeft ? items_.front() : items_.back();
      bytes_ -= StringBytes(item.size());
      out(std::move(item));
      if (end == ListEnd::kLeft) {
        items_.pop_front();
      } else {
        items_.pop_back();
      }
    }
  }
  // Replaces the item at `index` (0-based from the left); false when out of range.
  bool Set(size_t index, std::string_view value);
  // Removes up to |count| items equal to `value`: from the left when count > 0, from the
  // right when < 0, all when 0. Returns how many.
  size_t Remove(int64_t count, std::string_view value);
  // Keeps the items in [start, stop] (Redis indexes, already normalized to the length).
  void Trim(int64_t start, int64_t stop);
  // Inserts `value` before or after the first item equal to `pivot`; false if none.
  bool Insert(bool after, std::string_view pivot, std::string_view value);

 private:
  std::deque<std::string> items_;
};

class SetValue final : public Collection {
 public:
  using Members = absl::flat_hash_set<std::string, ViewHash, ViewEq>;
  SetValue() : Collection(KeyType::kSet, sizeof(SetValue)) {}
  const Members& members() const { return members_; }
  bool Contains(std::string_view member) const { return members_.contains(member); }
  bool Add(std::string_view member);
  bool Remove(std::string_view member);

 private:
  Members members_;
};

class HashValue final : public Collection {
 public:
  using Fields = absl::flat_hash_map<std::string, std::string, ViewHash, ViewEq>;
  HashValue() : Collection(KeyType::kHash, sizeof(HashValue)) {}
  const Fields& fields() const { return fields_; }
  // The field's value, or null.
  const std::string* Find(std::string_view field) const;
  // Returns true when the field is new.
  bool Set(std::string_view field, std::string_view value);
  bool Remove(std::string_view field);

 private:
  Fields fields_;
};

class SortedSetValue final : public Collection {
 public:
  using Order = absl::btree_set<ScoredMember, ScoreOrder>;
  SortedSetValue() : Collection(KeyType::kSortedSet, sizeof(SortedSetValue)) {}
  const Order& order() const { return order_; }
  // The member's score, or null.
  const double* Find(std::string_view member) const;
  // Sets the member's score; returns true when the member is new.
  bool Set(std::string_view member, double score);
  bool Remove(std::string_view member);
  // The 0-based rank of a present member in ascending order. O(rank).
  size_t Rank(std::string_view member) const;
  // The elements with scores in `range` (or members in the lex interval `range`), as
  // [first, last) of the order; first == last when there are none. O(log N).
  std::pair<Order::const_iterator, Order::const_iterator> ScoreSpan(const ScoreRange& range) const;
  std::pair<Order::const_iterator, Order::const_iterator> LexSpan(const LexRange& range) const;

 private:
  absl::flat_hash_map<std::string, double, ViewHash, ViewEq> scores_;
  Order order_;
};

// The effects one collection operation reports: Redis commands (name first, key
// second) whose arguments are views of the caller's arguments or copies kept here.
// Thread-compatible; one per operation.
class EffectBuffer {
 public:
  // Starts a command.
  void Begin(std::string_view name, std::string_view key) {
    commands_.push_back({args_.size(), 0});
    Arg(name);
    Arg(key);
  }
  // Appends an argument that stays valid until the report (the caller's).
  void Arg(std::string_view arg) {
    args_.push_back(arg);
    ++commands_.back().second;
  }
  // Appends a copy of `arg` (a popped item, a formatted number).
  void OwnedArg(std::string arg) { Arg(owned_.emplace_back(std::move(arg))); }
  bool empty() const { return commands_.empty(); }
  // One kCollection mutation per command, for `key`.
  std::vector<Mutation> Mutations(std::string_view key) const {
    std::vector<Mutation> out;
    out.reserve(commands_.size());
    for (const auto& [first, count] : commands_) {
      Mutation m{MutationKind::kCollection, MutationCause::kWrite, key, {}, 0};
      m.effect = std::span<const std::string_view>(args_).subspan(first, count);
      out.push_back(m);
    }
    return out;
  }

 private:
  std::deque<std::string> owned_;  // a deque: its strings never move
  std::vector<std::string_view> args_;
  std::vector<std::pair<size_t, size_t>> commands_;  // (first argument, count)
};

// The collection's bytes in the snapshot format (docs/snapshot-format.md, "collection
// payload"): an element count, then each element (list items in order; set members;
// hash fields each followed by its value; sorted-set members each followed by its score
// as 8 bytes of IEEE 754, little-endian), every byte string as a varint length and its
// bytes.
void EncodeCollection(const Collection& collection, std::string* out);
// The inverse of EncodeCollection for a collection of `type`. kCorruption, naming what
// is wrong, for truncated or trailing bytes, impossible lengths, an empty collection,
// duplicate members or fields, or a NaN score. The caller owns the result.
Result<Collection*> DecodeCollection(KeyType type, std::string_view payload);

// Appends the effects that rebuild `collection` at `key` from nothing (RPUSH, SADD,
// HSET, ZADD of every element), for a whole-key write (RENAME, COPY, the STORE forms).
// The arguments are views into the collection, valid while its lock is held.
void AppendRebuildEffects(std::string_view key, const Collection& collection,
                          EffectBuffer& effects);

}  // namespace mirrorkv::internal
