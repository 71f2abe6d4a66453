// Lists, sets, hashes and sorted sets: the typed values of a Store beside its strings.
//
// A key holds one type at a time. Every operation here is atomic on its key (the
// key's stripe lock is held for its whole duration, so concurrent callers see it
// happen at one point), reports its effect to the Store's listener and replication log
// like a string write does, and obeys max_memory, TTLs and eviction like strings: a
// collection key expires, is evicted and is counted in StoreStats::memory_used as a
// whole. A collection is never empty: the operation that removes its last element
// deletes the key (and reports a delete).
//
// Errors, for every call:
//   - kFailedPrecondition with kWrongTypeMessage when the key holds another type;
//   - kFailedPrecondition (READONLY ...) for a write on a replica-mode Store, or the
//     refusal set by min_replicas_to_write;
//   - kResourceExhausted (OOM ...) when max_memory refuses a write under noeviction;
//   - kInvalidArgument for a key or element over the Store's size limits, and as stated
//     per call (a non-numeric increment, NaN ...).
// A call that fails changes nothing.
//
// Reads pass elements to a visitor while the stripe lock is held, without copying them:
// the views are valid only during the visitor call, and the visitor must not call back
// into the Store (that would deadlock). Complexities are stated with N the collection's
// size and M the number of elements the call passes, adds or removes.
//
// Thread-safe, as Store is. The classes here are light handles over a Store, which
// they borrow: it must outlive them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "mirrorkv/status.h"

namespace mirrorkv {

class Store;

// The message of the kFailedPrecondition an operation on the wrong type returns; the
// server replies it as is, as Redis does.
inline constexpr std::string_view kWrongTypeMessage =
    "WRONGTYPE Operation against a key holding the wrong kind of value";

enum class KeyType : uint8_t { kNone, kString, kList, kSet, kHash, kSortedSet };

// "none", "string", "list", "set", "hash", "zset": Redis's TYPE replies.
std::string_view KeyTypeName(KeyType type);
// The type of the live key, kNone when it does not exist. O(1).
KeyType TypeOf(const Store& store, std::string_view key);

// One element passed to a read visitor. `index` counts from 0 within this call and
// `count` is how many the call passes in all (known before the first), so a visitor can
// write an array header first. The views are valid during the visitor call only.
struct Element {
  size_t index = 0;
  size_t count = 0;
  std::string_view member;  // list item, set member, hash field, sorted-set member
  std::string_view value;   // hash value; empty otherwise
  double score = 0;         // sorted-set score; 0 otherwise
};

namespace internal {
// The type-erased form of a visitor, so that the header needs no std::function.
struct ElementVisitor {
  void* context = nullptr;
  void (*call)(void* context, const Element& element) = nullptr;
  void operator()(const Element& e) const {
    if (call != nullptr) call(context, e);
  }
  template <typename V>
  static ElementVisitor Of(V& visitor) {
    return {std::addressof(visitor), [](void* c, const Element& e) { (*static_cast<V*>(c))(e); }};
  }
};
}  // namespace internal

enum class ListEnd : uint8_t { kLeft, kRight };

// Lists: sequences of byte strings, Redis's LPUSH ... LRANGE.
class Lists {
 public:
  explicit Lists(Store& store) : store_(store) {}

  // Pushes `values` one by one at `end` (so LPUSH a b c leaves c first) and returns the
  // new length. With `only_if_exists` (LPUSHX) a missing key stays missing and 0 is
  // returned. O(M).
  Result<size_t> Push(std::string_view key, ListEnd end, std::span<const std::string_view> values,
                      bool only_if_exists = false);
  // Removes up to `count` items from `end`, passing each to `visitor` (count: how many
  // were removed). Returns whether the key existed. O(M).
  template <typename V>
  Result<bool> Pop(std::string_view key, ListEnd end, size_t count, V&& visitor) {
    return PopWith(key, end, count, internal::ElementVisitor::Of(visitor));
  }
  // The number of items, 0 for a missing key. O(1).
  Result<size_t> Length(std::string_view key) const;
  // Passes the items from `start` to `stop` inclusive, Redis indexes: negative ones
  // count from the end (-1 is the last), out-of-range ones are clamped. Returns whether
  // the key existed. O(M), plus O(min(start, N - start)) to reach the first.
  template <typename V>
  Result<bool> Range(std::string_view key, int64_t start, int64_t stop, V&& visitor) const {
    return RangeWith(key, start, stop, internal::ElementVisitor::Of(visitor));
  }
  // The item at `index` (negative from the end); kNotFound when the key is missing or
  // the index is out of range. O(1).
  Result<std::string> Index(std::string_view key, int64_t index) const;
  // LPOS: the indexes (from the left) of the items equal to `element`, scanning from
  // the left, or from the right when `rank` < 0, skipping the first |rank| - 1 matches
  // (rank must not be 0); at most `count` of them (0: all), comparing at most `max_len`
  // items (0: all). Empty for a missing key. O(N), or O(max_len).
  Result<std::vector<size_t>> Positions(std::string_view key, std::string_view element,
                                        int64_t rank, size_t count, size_t max_len) const;
  // LSET: replaces the item at `index`. kNotFound ("no such key") for a missing key,
  // kInvalidArgument ("index out of range") beyond the ends. O(1).
  Status SetAt(std::string_view key, int64_t index, std::string_view value);
  // LREM: removes the first |count| items equal to `value` (from the left when count >
  // 0, from the right when < 0, all of them when 0); returns how many. O(N).
  Result<size_t> Remove(std::string_view key, int64_t count, std::string_view value);
  // LTRIM: keeps the items from `start` to `stop` (Redis indexes). O(removed).
  Status Trim(std::string_view key, int64_t start, int64_t stop);
  // LINSERT: inserts `value` before or after the first `pivot`. Returns the new length,
  // -1 when the pivot is absent, 0 when the key is missing. O(N).
  Result<int64_t> Insert(std::string_view key, bool after, std::string_view pivot,
                         std::string_view value);

 private:
  Result<bool> PopWith(std::string_view key, ListEnd end, size_t count,
                       internal::ElementVisitor visitor);
  Result<bool> RangeWith(std::string_view key, int64_t start, int64_t stop,
                         internal::ElementVisitor visitor) const;
  Store& store_;
};

// Sets: unordered collections of distinct byte strings, Redis's SADD ... SMEMBERS.
class Sets {
 public:
  explicit Sets(Store& store) : store_(store) {}

  // Adds the members and returns how many were new. O(M).
  Result<size_t> Add(std::string_view key, std::span<const std::string_view> members);
  // Removes the members and returns how many were present. O(M).
  Result<size_t> Remove(std::string_view key, std::span<const std::string_view> members);
  // Removes up to `count` members chosen at random, passing each to `visitor`. Returns
  // whether the key existed. O(M).
  template <typename V>
  Result<bool> Pop(std::string_view key, size_t count, V&& visitor) {
    return PopWith(key, count, internal::ElementVisitor::Of(visitor));
  }
  // Passes every member, in no particular order. Returns whether the key existed. O(N).
  template <typename V>
  Result<bool> Members(std::string_view key, V&& visitor) const {
    return MembersWith(key, internal::ElementVisitor::Of(visitor));
  }
  // SRANDMEMBER: passes members chosen at random, without removing them: min(count, N)
  // distinct ones when `count` >= 0, or -count of them, repeats possible, when < 0.
  // Returns whether the key existed. O(N) (the hash set has no random access).
  template <typename V>
  Result<bool> RandomMembers(std::string_view key, int64_t count, V&& visitor) const {
    return RandomMembersWith(key, count, internal::ElementVisitor::Of(visitor));
  }
  // Whether `member` is in the set (false for a missing key). O(1).
  Result<bool> Contains(std::string_view key, std::string_view member) const;
  // The number of members, 0 for a missing key. O(1).
  Result<size_t> Size(std::string_view key) const;

 private:
  Result<bool> PopWith(std::string_view key, size_t count, internal::ElementVisitor visitor);
  Result<bool> MembersWith(std::string_view key, internal::ElementVisitor visitor) const;
  Result<bool> RandomMembersWith(std::string_view key, int64_t count,
                                 internal::ElementVisitor visitor) const;
  Store& store_;
};

// Hashes: maps of fields to values within one key, Redis's HSET ... HGETALL.
class Hashes {
 public:
  explicit Hashes(Store& store) : store_(store) {}

  // Sets each (field, value) and returns how many fields were new. With
  // `only_if_absent` (HSETNX) existing fields keep their values. O(M).
  Result<size_t> Set(std::string_view key,
                     std::span<const std::pair<std::string_view, std::string_view>> pairs,
                     bool only_if_absent = false);
  // The field's value; kNotFound when the key or the field is missing. O(1).
  Result<std::string> Get(std::string_view key, std::string_view field) const;
  // Passes each field with its value, in no particular order. Returns whether the key
  // existed. O(N).
  template <typename V>
  Result<bool> GetAll(std::string_view key, V&& visitor) const {
    return GetAllWith(key, internal::ElementVisitor::Of(visitor));
  }
  // Removes the fields and returns how many were present. O(M).
  Result<size_t> Remove(std::string_view key, std::span<const std::string_view> fields);
  // The number of fields, 0 for a missing key. O(1).
  Result<size_t> Length(std::string_view key) const;
  // HINCRBY: adds `delta` to the field's integer value (a missing field counts as 0)
  // and returns the result. kInvalidArgument ("hash value is not an integer",
  // "increment or decrement would overflow") otherwise. O(1).
  Result<int64_t> IncrBy(std::string_view key, std::string_view field, int64_t delta);
  // HRANDFIELD: passes fields chosen at random, each with its value, without removing
  // them: min(count, N) distinct ones when `count` >= 0, or -count of them, repeats
  // possible, when < 0. Returns whether the key existed. O(N).
  template <typename V>
  Result<bool> RandomFields(std::string_view key, int64_t count, V&& visitor) const {
    return RandomFieldsWith(key, count, internal::ElementVisitor::Of(visitor));
  }
  // HINCRBYFLOAT: adds `delta` to the field's value read as a long double (a missing
  // field counts as 0) and returns the result as Redis formats it ("10.5", "3000"),
  // which is also what is stored and logged. kInvalidArgument ("hash value is not a
  // float", "increment would produce NaN or Infinity") otherwise. O(1).
  Result<std::string> IncrByFloat(std::string_view key, std::string_view field, long double delta);

 private:
  Result<bool> GetAllWith(std::string_view key, internal::ElementVisitor visitor) const;
  Result<bool> RandomFieldsWith(std::string_view key, int64_t count,
                                internal::ElementVisitor visitor) const;
  Store& store_;
};

// ZADD's conditions (Redis's NX XX GT LT CH INCR).
struct SortedSetAddOptions {
  bool only_if_absent = false;   // NX: never update existing members
  bool only_if_present = false;  // XX: never add new members
  bool only_if_greater = false;  // GT: update only to a greater score
  bool only_if_less = false;     // LT: update only to a lesser score
  bool incr = false;             // INCR: the one score is an increment
};

// What ZADD did.
struct SortedSetAddResult {
  size_t added = 0;    // new members
  size_t changed = 0;  // new members plus members whose score changed (CH)
  // With INCR: the member's new score, or nullopt when a condition prevented the change.
  std::optional<double> score;
};

// A score interval, Redis's ZRANGEBYSCORE min max: each end inclusive ("1") or
// exclusive ("(1"), and may be infinite ("-inf", "+inf").
struct ScoreRange {
  double min = 0;
  double max = 0;
  bool min_exclusive = false;
  bool max_exclusive = false;
};

// One end of a member interval, Redis's ZRANGEBYLEX items: "-" and "+" (below and above
// every member), "[a" (a, inclusive) and "(a" (a, exclusive).
struct LexBound {
  enum class Kind : uint8_t { kMinusInfinity, kInclusive, kExclusive, kPlusInfinity };
  Kind kind = Kind::kMinusInfinity;
  std::string_view value;  // for kInclusive and kExclusive
};
// A member interval. It selects by member bytes, as Redis does, only when every member
// has the same score; otherwise which members it selects is unspecified.
struct LexRange {
  LexBound min;
  LexBound max;
};

// LIMIT offset count of a range read: skips `offset` members of the interval (a
// negative offset selects none), then passes at most `count` (a negative count: all).
struct RangeLimit {
  int64_t offset = 0;
  int64_t count = -1;
};

// Sorted sets: members ordered by a double score, Redis's ZADD ... ZRANGE.
class SortedSets {
 public:
  explicit SortedSets(Store& store) : store_(store) {}

  // Adds or updates (score, member) pairs under `options`. kInvalidArgument ("resulting
  // score is not a number (NaN)") when an increment gives NaN. O(M log N).
  Result<SortedSetAddResult> Add(std::string_view key,
                                 std::span<const std::pair<double, std::string_view>> pairs,
                                 const SortedSetAddOptions& options = {});
  // Removes the members and returns how many were present. O(M log N).
  Result<size_t> Remove(std::string_view key, std::span<const std::string_view> members);
  // The member's score; kNotFound when the key or member is missing. O(1).
  Result<double> Score(std::string_view key, std::string_view member) const;
  // The number of members, 0 for a missing key. O(1).
  Result<size_t> Size(std::string_view key) const;
  // Removes up to `count` members with the lowest (or, with `max`, highest) scores,
  // passing each with its score, in pop order. Returns whether the key existed.
  // O(M log N).
  template <typename V>
  Result<bool> Pop(std::string_view key, size_t count, bool max, V&& visitor) {
    return PopWith(key, count, max, internal::ElementVisitor::Of(visitor));
  }
  // Passes the members of ranks `start` to `stop` (Redis indexes, ascending order, or
  // descending with `reverse`) with their scores. Returns whether the key existed.
  // O(start + M).
  template <typename V>
  Result<bool> RangeByRank(std::string_view key, int64_t start, int64_t stop, bool reverse,
                           V&& visitor) const {
    return RangeByRankWith(key, start, stop, reverse, internal::ElementVisitor::Of(visitor));
  }
  // Passes the members whose scores are in `range`, ascending (or, with `reverse`,
  // descending), within `limit`, with their scores. Returns whether the key existed.
  // O(log N + offset + M).
  template <typename V>
  Result<bool> RangeByScore(std::string_view key, const ScoreRange& range, bool reverse,
                            RangeLimit limit, V&& visitor) const {
    return RangeByScoreWith(key, range, reverse, limit, internal::ElementVisitor::Of(visitor));
  }
  // As RangeByScore, for the members in the lex interval `range`.
  template <typename V>
  Result<bool> RangeByLex(std::string_view key, const LexRange& range, bool reverse,
                          RangeLimit limit, V&& visitor) const {
    return RangeByLexWith(key, range, reverse, limit, internal::ElementVisitor::Of(visitor));
  }
  // The number of members whose scores (or members) are in `range`; 0 for a missing key.
  // O(log N + M), M the count (the B-tree keeps no subtree counts).
  Result<size_t> CountByScore(std::string_view key, const ScoreRange& range) const;
  Result<size_t> CountByLex(std::string_view key, const LexRange& range) const;
  // Removes the members of ranks `start` to `stop` (Redis indexes, ascending order), of
  // scores in `range`, or in the lex interval `range`; returns how many. Logged as the
  // ZREM of the members removed. O(M log N), plus O(log N) to find a score or lex bound
  // or O(start) to reach a rank (no subtree counts).
  Result<size_t> RemoveRangeByRank(std::string_view key, int64_t start, int64_t stop);
  Result<size_t> RemoveRangeByScore(std::string_view key, const ScoreRange& range);
  Result<size_t> RemoveRangeByLex(std::string_view key, const LexRange& range);
  // The member's 0-based rank in ascending (or, with `reverse`, descending) order;
  // kNotFound when the key or member is missing. O(N) (the order is a B-tree without
  // subtree counts).
  Result<size_t> Rank(std::string_view key, std::string_view member, bool reverse) const;
  // ZRANDMEMBER: passes members chosen at random with their scores, without removing
  // them: min(count, N) distinct ones when `count` >= 0, or -count of them, repeats
  // possible, when < 0. Returns whether the key existed. O(N + M).
  template <typename V>
  Result<bool> RandomMembers(std::string_view key, int64_t count, V&& visitor) const {
    return RandomMembersWith(key, count, internal::ElementVisitor::Of(visitor));
  }

 private:
  Result<bool> PopWith(std::string_view key, size_t count, bool max,
                       internal::ElementVisitor visitor);
  Result<bool> RandomMembersWith(std::string_view key, int64_t count,
                                 internal::ElementVisitor visitor) const;
  Result<bool> RangeByRankWith(std::string_view key, int64_t start, int64_t stop, bool reverse,
                               internal::ElementVisitor visitor) const;
  Result<bool> RangeByScoreWith(std::string_view key, const ScoreRange& range, bool reverse,
                                RangeLimit limit, internal::ElementVisitor visitor) const;
  Result<bool> RangeByLexWith(std::string_view key, const LexRange& range, bool reverse,
                              RangeLimit limit, internal::ElementVisitor visitor) const;
  Store& store_;
};

}  // namespace mirrorkv
