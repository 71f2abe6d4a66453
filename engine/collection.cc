// Collections: the data-structure operations, their byte estimates, and the effect
// commands the replication stream carries for them.
#include "engine/collection.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>

#include "engine/base/check.h"
#include "engine/base/numbers.h"
#include "engine/base/strings.h"
#include "engine/striped_table.h"

namespace mirrorkv::internal {
namespace {

// Per-element overheads beyond the strings themselves, measured against the
// containers' layouts: a flat hash slot's control byte and its share of empty slots
// (load factor 7/8), a B-tree node's share per value.
constexpr size_t kHashSlotOverhead = 8;
constexpr size_t kTreeValueOverhead = 16;

size_t HashFieldBytes(size_t field, size_t value) {
  return StringBytes(field) + StringBytes(value) + kHashSlotOverhead;
}
size_t SortedMemberBytes(size_t member) {
  // The member is held twice: as the score map's key and in the ordered tree.
  return 2 * StringBytes(member) + sizeof(double) * 2 + kHashSlotOverhead + kTreeValueOverhead;
}

// Redis's index normalization for LRANGE, LTRIM ...: negative from the end, then
// clamped; returns false for an empty range.
bool NormalizeRange(int64_t size, int64_t* start, int64_t* stop) {
  if (*start < 0) *start += size;
  if (*stop < 0) *stop += size;
  if (*start < 0) *start = 0;
  if (*start > *stop || *start >= size) return false;
  if (*stop >= size) *stop = size - 1;
  return true;
}

bool ParseCount(std::string_view text, int64_t* value) { return ParseInt64(text, value); }

}  // namespace

uint64_t RandomIndex(uint64_t bound) {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return std::uniform_int_distribution<uint64_t>(0, bound - 1)(generator);
}

size_t ViewHash::operator()(std::string_view s) const { return StripedTable::Hash(s); }

size_t StringBytes(size_t n) {
  // libstdc++ keeps up to 15 bytes inside the 32-byte object; longer ones take a heap
  // block of n + 1 bytes plus malloc's 8-byte header, rounded to 16.
  if (n <= 15) return sizeof(std::string);
  return sizeof(std::string) + ((n + 1 + 8 + 15) & ~size_t{15});
}

// --- Collection ---

Collection* Collection::Create(KeyType type) {
  switch (type) {
    case KeyType::kList:
      return new ListValue();
    case KeyType::kSet:
      return new SetValue();
    case KeyType::kHash:
      return new HashValue();
    case KeyType::kSortedSet:
      return new SortedSetValue();
    case KeyType::kNone:
    case KeyType::kString:
      break;
  }
  MIRRORKV_CHECK(false);
  return nullptr;
}

void Collection::Destroy(Collection* collection) {
  switch (collection->type()) {
    case KeyType::kList:
      delete static_cast<ListValue*>(collection);
      return;
    case KeyType::kSet:
      delete static_cast<SetValue*>(collection);
      return;
    case KeyType::kHash:
      delete static_cast<HashValue*>(collection);
      return;
    case KeyType::kSortedSet:
      delete static_cast<SortedSetValue*>(collection);
      return;
    case KeyType::kNone:
    case KeyType::kString:
      break;
  }
  MIRRORKV_CHECK(false);
}

size_t Collection::size() const {
  switch (type_) {
    case KeyType::kList:
      return static_cast<const ListValue*>(this)->items().size();
    case KeyType::kSet:
      return static_cast<const SetValue*>(this)->members().size();
    case KeyType::kHash:
      return static_cast<const HashValue*>(this)->fields().size();
    case KeyType::kSortedSet:
      return static_cast<const SortedSetValue*>(this)->order().size();
    case KeyType::kNone:
    case KeyType::kString:
      break;
  }
  return 0;
}

// --- List ---

void ListValue::Push(ListEnd end, std::string_view value) {
  if (end == ListEnd::kLeft) {
    items_.emplace_front(value);
  } else {
    items_.emplace_back(value);
  }
  bytes_ += StringBytes(value.size());
}

bool ListValue::Set(size_t index, std::string_view value) {
  if (index >= items_.size()) return false;
  bytes_ += StringBytes(value.size()) - StringBytes(items_[index].size());
  items_[index].assign(value);
  return true;
}

size_t ListValue::Remove(int64_t count, std::string_view value) {
  size_t limit = count == 0 ? items_.size() : static_cast<size_t>(count < 0 ? -count : count);
  size_t removed = 0;
  if (count >= 0) {
    for (auto it = items_.begin(); it != items_.end() && removed < limit;) {
      if (*it == value) {
        bytes_ -= StringBytes(it->size());
        it = items_.erase(it);
        ++removed;
      } else {
        ++it;
      }
    }
  } else {
    for (size_t i = items_.size(); i-- > 0 && removed < limit;) {
      if (items_[i] == value) {
        bytes_ -= StringBytes(items_[i].size());
        items_.erase(items_.begin() + static_cast<ptrdiff_t>(i));
        ++removed;
      }
    }
  }
  return removed;
}

void ListValue::Trim(int64_t start, int64_t stop) {
  int64_t size = static_cast<int64_t>(items_.size());
  if (!NormalizeRange(size, &start, &stop)) {
    start = size;
    stop = size - 1;
  }
  for (int64_t i = 0; i < start; ++i) {
    bytes_ -= StringBytes(items_.front().size());
    items_.pop_front();
  }
  for (int64_t i = stop + 1; i < size; ++i) {
    bytes_ -= StringBytes(items_.back().size());
    items_.pop_back();
  }
}

bool ListValue::Insert(bool after, std::string_view pivot, std::string_view value) {
  for (auto it = items_.begin(); it != items_.end(); ++it) {
    if (*it != pivot) continue;
    items_.emplace(after ? it + 1 : it, value);
    bytes_ += StringBytes(value.size());
    return true;
  }
  return false;
}

// --- Set ---

bool SetValue::Add(std::string_view member) {
  if (!members_.emplace(member).second) return false;
  bytes_ += StringBytes(member.size()) + kHashSlotOverhead;
  return true;
}

bool SetValue::Remove(std::string_view member) {
  auto it = members_.find(member);
  if (it == members_.end()) return false;
  bytes_ -= StringBytes(it->size()) + kHashSlotOverhead;
  members_.erase(it);
  return true;
}

// --- Hash ---

const std::string* HashValue::Find(std::string_view field) const {
  auto it = fields_.find(field);
  return it == fields_.end() ? nullptr : &it->second;
}

bool HashValue::Set(std::string_view field, std::string_view value) {
  auto it = fields_.find(field);
  if (it != fields_.end()) {
    bytes_ += StringBytes(value.size()) - StringBytes(it->second.size());
    it->second.assign(value);
    return false;
  }
  fields_.emplace(std::string(field), std::string(value));
  bytes_ += HashFieldBytes(field.size(), value.size());
  return true;
}

bool HashValue::Remove(std::string_view field) {
  auto it = fields_.find(field);
  if (it == fields_.end()) return false;
  bytes_ -= HashFieldBytes(it->first.size(), it->second.size());
  fields_.erase(it);
  return true;
}

// --- Sorted set ---

const double* SortedSetValue::Find(std::string_view member) const {
  auto it = scores_.find(member);
  return it == scores_.end() ? nullptr : &it->second;
}

bool SortedSetValue::Set(std::string_view member, double score) {
  auto it = scores_.find(member);
  if (it != scores_.end()) {
    if (it->second == score) return false;
    auto node = order_.extract(ScoredMember{it->second, it->first});
    node.value().score = score;
    order_.insert(std::move(node));
    it->second = score;
    return false;
  }
  scores_.emplace(std::string(member), score);
  order_.insert(ScoredMember{score, std::string(member)});
  bytes_ += SortedMemberBytes(member.size());
  return true;
}

bool SortedSetValue::Remove(std::string_view member) {
  auto it = scores_.find(member);
  if (it == scores_.end()) return false;
  order_.erase(ScoredMember{it->second, it->first});
  bytes_ -= SortedMemberBytes(member.size());
  scores_.erase(it);
  return true;
}

size_t SortedSetValue::Rank(std::string_view member) const {
  const double* score = Find(member);
  MIRRORKV_DCHECK(score != nullptr);
  auto at = order_.find(ScoredMember{*score, std::string(member)});
  return static_cast<size_t>(std::distance(order_.begin(), at));
}

std::pair<SortedSetValue::Order::const_iterator, SortedSetValue::Order::const_iterator>
SortedSetValue::ScoreSpan(const ScoreRange& range) const {
  if (range.min > range.max ||
      (range.min == range.max && (range.min_exclusive || range.max_exclusive))) {
    return {order_.end(), order_.end()};
  }
  // With min <= max the first bound is never after the second.
  auto first = range.min_exclusive ? order_.upper_bound(range.min) : order_.lower_bound(range.min);
  auto last = range.max_exclusive ? order_.lower_bound(range.max) : order_.upper_bound(range.max);
  return {first, last};
}

namespace {

// Orders lex bounds as points: -1, 0, 1 as `a` is below, at or above `b`.
int CompareLexBounds(const LexBound& a, const LexBound& b) {
  auto rank = [](LexBound::Kind kind) {
    return kind == LexBound::Kind::kMinusInfinity  ? 0
           : kind == LexBound::Kind::kPlusInfinity ? 2
                                                   : 1;
  };
  if (rank(a.kind) != rank(b.kind)) return rank(a.kind) < rank(b.kind) ? -1 : 1;
  if (rank(a.kind) != 1) return 0;
  return a.value < b.value ? -1 : (a.value == b.value ? 0 : 1);
}

}  // namespace

std::pair<SortedSetValue::Order::const_iterator, SortedSetValue::Order::const_iterator>
SortedSetValue::LexSpan(const LexRange& range) const {
  // The infinities count as exclusive: "- -" and "+ +" select nothing, as in Redis.
  auto exclusive = [](const LexBound& b) { return b.kind != LexBound::Kind::kInclusive; };
  const int cmp = CompareLexBounds(range.min, range.max);
  if (cmp > 0 || (cmp == 0 && (exclusive(range.min) || exclusive(range.max)))) {
    return {order_.end(), order_.end()};
  }
  auto bound = [&](const LexBound& b, bool upper_end) {
    switch (b.kind) {
      case LexBound::Kind::kMinusInfinity:
        return order_.begin();
      case LexBound::Kind::kPlusInfinity:
        return order_.end();
      case LexBound::Kind::kInclusive:
        return upper_end ? order_.upper_bound(MemberProbe{b.value})
                         : order_.lower_bound(MemberProbe{b.value});
      case LexBound::Kind::kExclusive:
        break;
    }
    return upper_end ? order_.lower_bound(MemberProbe{b.value})
                     : order_.upper_bound(MemberProbe{b.value});
  };
  auto first = bound(range.min, false);
  auto last = bound(range.max, true);
  // Members out of lex order (unequal scores) can put the bounds the wrong way round.
  if (first == order_.end() || (last != order_.end() && order_.key_comp()(*last, *first))) {
    return {order_.end(), order_.end()};
  }
  return {first, last};
}

// --- Effects ---

Result<KeyType> ValidateEffect(std::span<const std::string_view> args) {
  auto bad = [&](std::string_view why) {
    return Status::Corruption(std::string("replication stream: ") + std::string(why) + " in '" +
                              std::string(args[0].substr(0, 32)) + "'");
  };
  const std::string_view name = args[0];
  const size_t n = args.size();
  int64_t number;
  if (EqualsIgnoreCase(name, "LPUSH") || EqualsIgnoreCase(name, "RPUSH")) {
    if (n < 3) return bad("wrong number of arguments");
    return KeyType::kList;
  }
  if (EqualsIgnoreCase(name, "LPOP") || EqualsIgnoreCase(name, "RPOP")) {
    if (n != 3 || !ParseCount(args[2], &number) || number < 1) return bad("bad count");
    return KeyType::kList;
  }
  if (EqualsIgnoreCase(name, "LSET")) {
    if (n != 4 || !ParseCount(args[2], &number) || number < 0) return bad("bad index");
    return KeyType::kList;
  }
  if (EqualsIgnoreCase(name, "LREM") || EqualsIgnoreCase(name, "LTRIM")) {
    if (n != 4 || !ParseCount(args[2], &number)) return bad("bad arguments");
    if (EqualsIgnoreCase(name, "LTRIM") && !ParseCount(args[3], &number)) {
      return bad("bad arguments");
    }
    return KeyType::kList;
  }
  if (EqualsIgnoreCase(name, "LINSERT")) {
    if (n != 5 || (!EqualsIgnoreCase(args[2], "BEFORE") && !EqualsIgnoreCase(args[2], "AFTER"))) {
      return bad("bad arguments");
    }
    return KeyType::kList;
  }
  if (EqualsIgnoreCase(name, "SADD") || EqualsIgnoreCase(name, "SREM")) {
    if (n < 3) return bad("wrong number of arguments");
    return KeyType::kSet;
  }
  if (EqualsIgnoreCase(name, "HSET")) {
    if (n < 4 || n % 2 != 0) return bad("wrong number of arguments");
    return KeyType::kHash;
  }
  if (EqualsIgnoreCase(name, "HDEL")) {
    if (n < 3) return bad("wrong number of arguments");
    return KeyType::kHash;
  }
  if (EqualsIgnoreCase(name, "ZADD")) {
    if (n < 4 || n % 2 != 0) return bad("wrong number of arguments");
    double score;
    for (size_t i = 2; i < n; i += 2) {
      if (!ParseScore(args[i], &score)) return bad("bad score");
    }
    return KeyType::kSortedSet;
  }
  if (EqualsIgnoreCase(name, "ZREM")) {
    if (n < 3) return bad("wrong number of arguments");
    return KeyType::kSortedSet;
  }
  return KeyType::kNone;
}

bool EffectCreates(std::span<const std::string_view> args) {
  const std::string_view name = args[0];
  return EqualsIgnoreCase(name, "LPUSH") || EqualsIgnoreCase(name, "RPUSH") ||
         EqualsIgnoreCase(name, "LINSERT") || EqualsIgnoreCase(name, "SADD") ||
         EqualsIgnoreCase(name, "HSET") || EqualsIgnoreCase(name, "ZADD");
}

void Collection::ApplyEffect(std::span<const std::string_view> args) {
  const std::string_view name = args[0];
  const size_t n = args.size();
  int64_t a = 0;
  int64_t b = 0;
  switch (type_) {
    case KeyType::kList: {
      auto& list = *static_cast<ListValue*>(this);
      if (EqualsIgnoreCase(name, "LPUSH") || EqualsIgnoreCase(name, "RPUSH")) {
        ListEnd end = EqualsIgnoreCase(name, "LPUSH") ? ListEnd::kLeft : ListEnd::kRight;
        for (size_t i = 2; i < n; ++i) list.Push(end, args[i]);
      } else if (EqualsIgnoreCase(name, "LPOP") || EqualsIgnoreCase(name, "RPOP")) {
        ParseCount(args[2], &a);
        ListEnd end = EqualsIgnoreCase(name, "LPOP") ? ListEnd::kLeft : ListEnd::kRight;
        list.Pop(end, static_cast<size_t>(a), [](std::string&&) {});
      } else if (EqualsIgnoreCase(name, "LSET")) {
        ParseCount(args[2], &a);
        list.Set(static_cast<size_t>(a), args[3]);
      } else if (EqualsIgnoreCase(name, "LREM")) {
        ParseCount(args[2], &a);
        list.Remove(a, args[3]);
      } else if (EqualsIgnoreCase(name, "LTRIM")) {
        ParseCount(args[2], &a);
        ParseCount(args[3], &b);
        list.Trim(a, b);
      } else if (EqualsIgnoreCase(name, "LINSERT")) {
        list.Insert(EqualsIgnoreCase(args[2], "AFTER"), args[3], args[4]);
      }
      return;
    }
    case KeyType::kSet: {
      auto& set = *static_cast<SetValue*>(this);
      bool add = EqualsIgnoreCase(name, "SADD");
      for (size_t i = 2; i < n; ++i) add ? set.Add(args[i]) : set.Remove(args[i]);
      return;
    }
    case KeyType::kHash: {
      auto& hash = *static_cast<HashValue*>(this);
      if (EqualsIgnoreCase(name, "HSET")) {
        for (size_t i = 2; i + 1 < n; i += 2) hash.Set(args[i], args[i + 1]);
      } else {
        for (size_t i = 2; i < n; ++i) hash.Remove(args[i]);
      }
      return;
    }
    case KeyType::kSortedSet: {
      auto& zset = *static_cast<SortedSetValue*>(this);
      if (EqualsIgnoreCase(name, "ZADD")) {
        for (size_t i = 2; i + 1 < n; i += 2) {
          double score = 0;
          ParseScore(args[i], &score);
          zset.Set(args[i + 1], score);
        }
      } else {
        for (size_t i = 2; i < n; ++i) zset.Remove(args[i]);
      }
      return;
    }
    case KeyType::kNone:
    case KeyType::kString:
      break;
  }
}

void AppendRebuildEffects(std::string_view key, const Collection& collection,
                          EffectBuffer& effects) {
  if (collection.empty()) return;
  switch (collection.type()) {
    case KeyType::kList:
      effects.Begin("RPUSH", key);
      for (const std::string& item : static_cast<const ListValue&>(collection).items()) {
        effects.Arg(item);
      }
      return;
    case KeyType::kSet:
      effects.Begin("SADD", key);
      for (const std::string& member : static_cast<const SetValue&>(collection).members()) {
        effects.Arg(member);
      }
      return;
    case KeyType::kHash:
      effects.Begin("HSET", key);
      for (const auto& [field, value] : static_cast<const HashValue&>(collection).fields()) {
        effects.Arg(field);
        effects.Arg(value);
      }
      return;
    case KeyType::kSortedSet:
      effects.Begin("ZADD", key);
      for (const ScoredMember& e : static_cast<const SortedSetValue&>(collection).order()) {
        effects.OwnedArg(FormatScore(e.score));
        effects.Arg(e.member);
      }
      return;
    case KeyType::kNone:
    case KeyType::kString:
      return;
  }
}

namespace {

void PutVarint64(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void PutBytes(std::string* out, std::string_view bytes) {
  PutVarint64(out, bytes.size());
  out->append(bytes);
}

// Reads from a payload, remembering the first problem.
class PayloadReader {
 public:
  explicit PayloadReader(std::string_view bytes) : rest_(bytes) {}
  bool Varint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64 && !rest_.empty(); shift += 7) {
      uint8_t byte = static_cast<uint8_t>(rest_[0]);
      rest_.remove_prefix(1);
      result |= uint64_t{byte & 0x7fu} << shift;
      if (byte < 0x80) {
        *v = result;
        return true;
      }
    }
    return false;
  }
  bool Bytes(std::string_view* out) {
    uint64_t n;
    if (!Varint(&n) || n > rest_.size()) return false;
    *out = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return true;
  }
  bool Score(double* out) {
    if (rest_.size() < 8) return false;
    uint64_t bits = 0;
    for (int i = 7; i >= 0; --i) bits = (bits << 8) | static_cast<uint8_t>(rest_[i]);
    rest_.remove_prefix(8);
    std::memcpy(out, &bits, sizeof(bits));
    return !std::isnan(*out);
  }
  bool done() const { return rest_.empty(); }
  size_t left() const { return rest_.size(); }

 private:
  std::string_view rest_;
};

}  // namespace

void EncodeCollection(const Collection& collection, std::string* out) {
  PutVarint64(out, collection.size());
  switch (collection.type()) {
    case KeyType::kList:
      for (const std::string& item : static_cast<const ListValue&>(collection).items()) {
        PutBytes(out, item);
      }
      return;
    case KeyType::kSet:
      for (const std::string& member : static_cast<const SetValue&>(collection).members()) {
        PutBytes(out, member);
      }
      return;
    case KeyType::kHash:
      for (const auto& [field, value] : static_cast<const HashValue&>(collection).fields()) {
        PutBytes(out, field);
        PutBytes(out, value);
      }
      return;
    case KeyType::kSortedSet:
      for (const ScoredMember& e : static_cast<const SortedSetValue&>(collection).order()) {
        PutBytes(out, e.member);
        uint64_t bits;
        std::memcpy(&bits, &e.score, sizeof(bits));
        for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(bits >> (8 * i)));
      }
      return;
    case KeyType::kNone:
    case KeyType::kString:
      return;
  }
}

Result<Collection*> DecodeCollection(KeyType type, std::string_view payload) {
  if (type == KeyType::kNone || type == KeyType::kString) {
    return Status::Corruption("collection payload of a non-collection type");
  }
  PayloadReader in(payload);
  uint64_t count;
  // Every element takes at least one byte, which bounds the count before any
  // allocation is sized by it.
  if (!in.Varint(&count) || count == 0 || count > in.left()) {
    return Status::Corruption("collection payload: bad element count");
  }
  std::unique_ptr<Collection, void (*)(Collection*)> collection(Collection::Create(type),
                                                                &Collection::Destroy);
  for (uint64_t i = 0; i < count; ++i) {
    std::string_view a;
    std::string_view b;
    double score = 0;
    if (!in.Bytes(&a)) return Status::Corruption("collection payload: truncated element");
    bool fresh = true;
    switch (type) {
      case KeyType::kList:
        static_cast<ListValue*>(collection.get())->Push(ListEnd::kRight, a);
        break;
      case KeyType::kSet:
        fresh = static_cast<SetValue*>(collection.get())->Add(a);
        break;
      case KeyType::kHash:
        if (!in.Bytes(&b)) return Status::Corruption("collection payload: truncated hash value");
        fresh = static_cast<HashValue*>(collection.get())->Set(a, b);
        break;
      case KeyType::kSortedSet:
        if (!in.Score(&score)) return Status::Corruption("collection payload: bad score");
        fresh = static_cast<SortedSetValue*>(collection.get())->Set(a, score);
        break;
      case KeyType::kNone:
      case KeyType::kString:
        break;
    }
    if (!fresh) return Status::Corruption("collection payload: duplicate member or field");
  }
  if (!in.done()) return Status::Corruption("collection payload: bytes after the last element");
  return collection.release();
}

}  // namespace mirrorkv::internal
