// Hashes and SortedSets (include/mirrorkv/collections.h) over Store::Impl::Access.
// Increments are recorded as the values they produced (HINCRBY as HSET, ZADD INCR as
// ZADD of the new score) and pops as the removals they made, so that every effect
// means the same on any copy holding the same collection.
#include <algorithm>
#include <cmath>
#include <iterator>
#include <string>
#include <vector>

#include "engine/base/numbers.h"
#include "engine/store_impl.h"

namespace mirrorkv {

using internal::Collection;
using internal::EffectBuffer;
using internal::HashValue;
using internal::ScoredMember;
using internal::SortedSetValue;
using Mode = Store::Impl::AccessMode;

namespace {

HashValue& AsHash(Collection* c) { return *static_cast<HashValue*>(c); }
SortedSetValue& AsSortedSet(Collection* c) { return *static_cast<SortedSetValue*>(c); }

}  // namespace

// --- Hashes ---

Result<size_t> Hashes::Set(std::string_view key,
                           std::span<const std::pair<std::string_view, std::string_view>> pairs,
                           bool only_if_absent) {
  Store::Impl& impl = store_.impl();
  size_t incoming = 0;
  for (const auto& [field, value] : pairs) {
    const std::string_view parts[] = {field, value};
    MIRRORKV_RETURN_IF_ERROR(impl.CheckElements(parts, &incoming));
  }
  size_t added = 0;
  MIRRORKV_RETURN_IF_ERROR(impl.Access(key, KeyType::kHash, Mode::kWriteCreate, incoming,
                                       [&](Collection* c, EffectBuffer& effects) {
                                         HashValue& hash = AsHash(c);
                                         bool begun = false;
                                         for (const auto& [field, value] : pairs) {
                                           if (only_if_absent && hash.Find(field) != nullptr)
                                             continue;
                                           added += hash.Set(field, value);
                                           if (!begun) effects.Begin("HSET", key);
                                           begun = true;
                                           effects.Arg(field);
                                           effects.Arg(value);
                                         }
                                         return Status::Ok();
                                       }));
  return added;
}

Result<std::string> Hashes::Get(std::string_view key, std::string_view field) const {
  std::string value;
  bool found = false;
  MIRRORKV_RETURN_IF_ERROR(
      store_.impl().Access(key, KeyType::kHash, Mode::kRead, 0, [&](Collection* c, EffectBuffer&) {
        const std::string* v = c != nullptr ? AsHash(c).Find(field) : nullptr;
        if (v != nullptr) {
          value = *v;
          found = true;
        }
        return Status::Ok();
      }));
  if (!found) return Status::NotFound();
  return value;
}

Result<bool> Hashes::GetAllWith(std::string_view key, internal::ElementVisitor visitor) const {
  bool found = false;
  MIRRORKV_RETURN_IF_ERROR(
      store_.impl().Access(key, KeyType::kHash, Mode::kRead, 0, [&](Collection* c, EffectBuffer&) {
        if (c == nullptr) return Status::Ok();
        found = true;
        const auto& fields = AsHash(c).fields();
        size_t i = 0;
        for (const auto& [field, value] : fields) {
          visitor({.index = i++, .count = fields.size(), .member = field, .value = value});
        }
        return Status::Ok();
      }));
  return found;
}

Result<bool> Hashes::RandomFieldsWith(std::string_view key, int64_t count,
                                      internal::ElementVisitor visitor) const {
  bool found = false;
  MIRRORKV_RETURN_IF_ERROR(
      store_.impl().Access(key, KeyType::kHash, Mode::kRead, 0, [&](Collection* c, EffectBuffer&) {
        if (c == nullptr) return Status::Ok();
        found = true;
        std::vector<const HashValue::Fields::value_type*> fields;
        fields.reserve(c->size());
        for (const auto& field : AsHash(c).fields()) fields.push_back(&field);
        internal::SampleRandom(fields, count, [&](size_t i, size_t m, const auto* field) {
          visitor({.index = i, .count = m, .member = field->first, .value = field->second});
        });
        return Status::Ok();
      }));
  return found;
}

Result<size_t> Hashes::Remove(std::string_view key, std::span<const std::string_view> fields) {
  size_t removed = 0;
  MIRRORKV_RETURN_IF_ERROR(store_.impl().Access(key, KeyType::kHash, Mode::kWrite, 0,
                                                [&](Collection* c, EffectBuffer& effects) {
                                                  if (c == nullptr) return Status::Ok();
                                                  for (std::string_view field : fields) {
                                                    if (!AsHash(c).Remove(field)) continue;
                                                    if (removed++ == 0) effects.Begin("HDEL", key);
                                                    effects.Arg(field);
                                                  }
                                                  return Status::Ok();
                                                }));
  return removed;
}

Result<size_t> Hashes::Length(std::string_view key) const {
  size_t length = 0;
  MIRRORKV_RETURN_IF_ERROR(
      store_.impl().Access(key, KeyType::kHash, Mode::kRead, 0, [&](Collection* c, EffectBuffer&) {
        if (c != nullptr) length = c->size();
        return Status::Ok();
      }));
  return length;
}

Result<int64_t> Hashes::IncrBy(std::string_view key, std::string_view field, int64_t delta) {
  Store::Impl& impl = store_.impl();
  size_t incoming = 0;
  MIRRORKV_RETURN_IF_ERROR(impl.CheckElements({&field, 1}, &incoming));
  incoming += internal::StringBytes(internal::kMaxInt64Digits);
  int64_t result = 0;
  MIRRORKV_RETURN_IF_ERROR(impl.Access(
      key, KeyType::kHash, Mode::kWriteCreate, incoming, [&](Collection* c, EffectBuffer& effects) {
        HashValue& hash = AsHash(c);
        int64_t current = 0;
        const std::string* value = hash.Find(field);
        if (value != nullptr && !internal::ParseInt64(*value, &current)) {
          return Status::InvalidArgument("hash value is not an integer");
        }
        if (__builtin_add_overflow(current, delta, &result)) {
          return Status::InvalidArgument("increment or decrement would overflow");
        }
        char buffer[internal::kMaxInt64Digits];
        std::string_view text = internal::FormatInt64(result, buffer);
        hash.Set(field, text);
        effects.Begin("HSET", key);
        effects.Arg(field);
        effects.OwnedArg(std::string(text));
        return Status::Ok();
      }));
  return result;
}

Result<std::string> Hashes::IncrByFloat(std::string_view key, std::string_view field,
                                        long double delta) {
  Store::Impl& impl = store_.impl();
  size_t incoming = 0;
  MIRRORKV_RETURN_IF_ERROR(impl.CheckElements({&field, 1}, &incoming));
  incoming += internal::StringBytes(64);
  std::string result;
  MIRRORKV_RETURN_IF_ERROR(impl.Access(
      key, KeyType::kHash, Mode::kWriteCreate, incoming, [&](Collection* c, EffectBuffer& effects) {
        HashValue& hash = AsHash(c);
        long double current = 0;
        const std::string* value = hash.Find(field);
        if (value != nullptr && !internal::ParseLongDouble(*value, &current)) {
          return Status::InvalidArgument("hash value is not a float");
        }
        current += delta;
        if (std::isnan(current) || std::isinf(current)) {
          return Status::InvalidArgument("increment would produce NaN or Infinity");
        }
        result = internal::FormatLongDouble(current);
        hash.Set(field, result);
        effects.Begin("HSET", key);
        effects.Arg(field);
        effects.OwnedArg(result);
        return Status::Ok();
      }));
  return result;
}

// --- Sorted sets ---

Result<SortedSetAddResult> SortedSets::Add(
    std::string_view key, std::span<const std::pair<double, std::string_view>> pairs,
    const SortedSetAddOptions& options) {
  Store::Impl& impl = store_.impl();
  size_t incoming = 0;
  for (const auto& pair : pairs) {
    MIRRORKV_RETURN_IF_ERROR(impl.CheckElements({&pair.second, 1}, &incoming));
    incoming += internal::StringBytes(pair.second.size()) + 32;
  }
  SortedSetAddResult result;
  MIRRORKV_RETURN_IF_ERROR(impl.Access(
      key, KeyType::kSortedSet, options.only_if_present ? Mode::kWrite : Mode::kWriteCreate,
      incoming, [&](Collection* c, EffectBuffer& effects) {
        if (c == nullptr) return Status::Ok();
        SortedSetValue& zset = AsSortedSet(c);
        // An increment's NaN is refused before anything changes (INCR takes one pair).
        if (options.incr) {
          for (const auto& [score, member] : pairs) {
            const double* current = zset.Find(member);
            if (current != nullptr && std::isnan(*current + score)) {
              return Status::InvalidArgument("resulting score is not a number (NaN)");
            }
          }
        }
        bool begun = false;
        for (const auto& [score, member] : pairs) {
          const double* current = zset.Find(member);
          double target = score;
          if (current != nullptr) {
            if (options.only_if_absent) continue;
            if (options.incr) target = *current + score;
            if ((options.only_if_greater && !(target > *current)) ||
                (options.only_if_less && !(target < *current))) {
              continue;
            }
            if (options.incr) result.score = target;
            if (target == *current) continue;
            ++result.changed;
          } else {
            if (options.only_if_present) continue;
            ++result.added;
            ++result.changed;
            if (options.incr) result.score = target;
          }
          zset.Set(member, target);
          if (!begun) effects.Begin("ZADD", key);
          begun = true;
          effects.OwnedArg(internal::FormatScore(target));
          effects.Arg(member);
        }
        return Status::Ok();
      }));
  return result;
}

Result<size_t> SortedSets::Remove(std::string_view key, std::span<const std::string_view> members) {
  size_t removed = 0;
  MIRRORKV_RETURN_IF_ERROR(store_.impl().Access(key, KeyType::kSortedSet, Mode::kWrite, 0,
                                                [&](Collection* c, EffectBuffer& effects) {
                                                  if (c == nullptr) return Status::Ok();
                                                  for (std::string_view member : members) {
                                                    if (!AsSortedSet(c).Remove(member)) continue;
                                                    if (removed++ == 0) effects.Begin("ZREM", key);
                                                    effects.Arg(member);
                                                  }
                                                  return Status::Ok();
                                                }));
  return removed;
}

Result<double> SortedSets::Score(std::string_view key, std::string_view member) const {
  const double* found = nullptr;
  double score = 0;
  MIRRORKV_RETURN_IF_ERROR(store_.impl().Access(
      key, KeyType::kSortedSet, Mode::kRead, 0, [&](Collection* c, EffectBuffer&) {
        found = c != nullptr ? AsSortedSet(c).Find(member) : nullptr;
        if (found != nullptr) score = *found;
        return Status::Ok();
      }));
  if (found == nullptr) return Status::NotFound();
  return score;
}

Result<size_t> SortedSets::Size(std::string_view key) const {
  size_t size = 0;
  MIRRORKV_RETURN_IF_ERROR(store_.impl().Access(key, KeyType::kSortedSet, Mode::kRead, 0,
                                                [&](Collection* c, EffectBuffer&) {
                                                  if (c != nullptr) size = c->size();
                                                  return Status::Ok();
                                                }));
  return size;
}

Result<bool> SortedSets::PopWith(std::string_view key, size_t count, bool max,
                                 internal::ElementVisitor visitor) {
  bool found = false;
  MIRRORKV_RETURN_IF_ERROR(store_.impl().Access(
      key, KeyType::kSortedSet, Mode::kWrite, 0, [&](Collection* c, EffectBuffer& effects) {
        if (c == nullptr) return Status::Ok();
        found = true;
        SortedSetValue& zset = AsSortedSet(c);
        const size_t n = std::min(count, zset.order().size());
        if (n == 0) return Status::Ok();
        effects.Begin("ZREM", key);
        for (size_t i = 0; i < n; ++i) {
          const ScoredMember& e = max ? *zset.order().rbegin() : *zset.order().begin();
          std::string member = e.member;
          double score = e.score;
          zset.Remove(member);
          visitor({.index = i, .count = n, .member = member, .score = score});
          effects.OwnedArg(std::move(member));
        }
        return Status::Ok();
      }));
  return found;
}

Result<bool> SortedSets::RandomMembersWith(std::string_view key, int64_t count,
                                           internal::ElementVisitor visitor) const {
  bool found = false;
  MIRRORKV_RETURN_IF_ERROR(store_.impl().Access(
      key, KeyType::kSortedSet, Mode::kRead, 0, [&](Collection* c, EffectBuffer&) {
        if (c == nullptr) return Status::Ok();
        found = true;
        const auto& order = AsSortedSet(c).order();
        std::vector<const ScoredMember*> members;
        members.reserve(order.size());
        for (const auto& member : order) members.push_back(&member);
        internal::SampleRandom(members, count, [&](size_t i, size_t m, const ScoredMember* e) {
          visitor({.index = i, .count = m, .member = e->member, .score = e->score});
        });
        return Status::Ok();
      }));
  return found;
}

Result<bool> SortedSets::RangeByRankWith(std::string_view key, int64_t start, int64_t stop,
                                         bool reverse, internal::ElementVisitor visitor) const {
  bool found = false;
  MIRRORKV_RETURN_IF_ERROR(store_.impl().Access(
      key, KeyType::kSortedSet, Mode::kRead, 0, [&](Collection* c, EffectBuffer&) {
        if (c == nullptr) return Status::Ok();
        found = true;
        const auto& order = AsSortedSet(c).order();
        const int64_t size = static_cast<int64_t>(order.size());
        if (start < 0) start += size;
        if (stop < 0) stop += size;
        if (start < 0) start = 0;
        if (start > stop || start >= size) return Status::Ok();
        if (stop >= size) stop = size - 1;
        const size_t n = static_cast<size_t>(stop - start + 1);
        auto emit = [&](auto it) {
          std::advance(it, start);
          for (size_t i = 0; i < n; ++i, ++it) {
            visitor({.index = i, .count = n, .member = it->member, .score = it->score});
          }
        };
        if (reverse) {
          emit(order.rbegin());
        } else {
          emit(order.begin());
        }
        return Status::Ok();
      }));
  return found;
}

namespace {

// Passes the elements of [first, last) within `limit`, forward or backward, each with
// the count of the elements passed.
void EmitSpan(SortedSetValue::Order::const_iterator first,
              SortedSetValue::Order::const_iterator last, bool reverse, RangeLimit limit,
              const internal::ElementVisitor& visitor) {
  if (limit.offset < 0 || limit.count == 0) return;
  std::vector<const ScoredMember*> selected;
  int64_t skip = limit.offset;
  auto take = [&](const ScoredMember& e) {
    if (skip > 0) {
      --skip;
      return true;
    }
    selected.push_back(&e);
    return limit.count < 0 || static_cast<int64_t>(selected.size()) < limit.count;
  };
  if (reverse) {
    for (auto it = last; it != first;) {
      if (!take(*--it)) break;
    }
  } else {
    for (auto it = first; it != last; ++it) {
      if (!take(*it)) break;
    }
  }
  for (size_t i = 0; i < selected.size(); ++i) {
    visitor({.index = i,
             .count = selected.size(),
             .member = selected[i]->member,
             .score = selected[i]->score});
  }
}

// Removes the elements of [first, last) and logs them as one ZREM; returns how many.
size_t RemoveSpan(std::string_view key, SortedSetValue& zset,
                  SortedSetValue::Order::const_iterator first,
                  SortedSetValue::Order::const_iterator last, EffectBuffer& effects) {
  std::vector<std::string> members;
  for (auto it = first; it != last; ++it) members.push_back(it->member);
  if (members.empty()) return 0;
  effects.Begin("ZREM", key);
  for (std::string& member : members) {
    zset.Remove(member);
    effects.OwnedArg(std::move(member));
  }
  return members.size();
}

}  // namespace

Result<bool> SortedSets::RangeByScoreWith(std::string_view key, const ScoreRange& range,
                                          bool reverse, RangeLimit limit,
                                          internal::ElementVisitor visitor) const {
  bool found = false;
  MIRRORKV_RETURN_IF_ERROR(store_.impl().Access(
      key, KeyType::kSortedSet, Mode::kRead, 0, [&](Collection* c, EffectBuffer&) {
        if (c == nullptr) return Status::Ok();
        found = true;
        auto [first, last] = AsSortedSet(c).ScoreSpan(range);
        EmitSpan(first, last, reverse, limit, visitor);
        return Status::Ok();
      }));
  return found;
}

Result<bool> SortedSets::RangeByLexWith(std::string_view key, const LexRange& range, bool reverse,
                                        RangeLimit limit, internal::ElementVisitor visitor) const {
  bool found = false;
  MIRRORKV_RETURN_IF_ERROR(store_.impl().Access(
      key, KeyType::kSortedSet, Mode::kRead, 0, [&](Collection* c, EffectBuffer&) {
        if (c == nullptr) return Status::Ok();
        found = true;
        auto [first, last] = AsSortedSet(c).LexSpan(range);
        EmitSpan(first, last, reverse, limit, visitor);
        return Status::Ok();
      }));
  return found;
}

Result<size_t> SortedSets::CountByScore(std::string_view key, const ScoreRange& range) const {
  size_t count = 0;
  MIRRORKV_RETURN_IF_ERROR(store_.impl().Access(
      key, KeyType::kSortedSet, Mode::kRead, 0, [&](Collection* c, EffectBuffer&) {
        if (c == nullptr) return Status::Ok();
        auto [first, last] = AsSortedSet(c).ScoreSpan(range);
        count = static_cast<size_t>(std::distance(first, last));
        return Status::Ok();
      }));
  return count;
}

Result<size_t> SortedSets::CountByLex(std::string_view key, const LexRange& range) const {
  size_t count = 0;
  MIRRORKV_RETURN_IF_ERROR(store_.impl().Access(
      key, KeyType::kSortedSet, Mode::kRead, 0, [&](Collection* c, EffectBuffer&) {
        if (c == nullptr) return Status::Ok();
        auto [first, last] = AsSortedSet(c).LexSpan(range);
        count = static_cast<size_t>(std::distance(first, last));
        return Status::Ok();
      }));
  return count;
}

Result<size_t> SortedSets::RemoveRangeByRank(std::string_view key, int64_t start, int64_t stop) {
  size_t removed = 0;
  MIRRORKV_RETURN_IF_ERROR(store_.impl().Access(
      key, KeyType::kSortedSet, Mode::kWrite, 0, [&](Collection* c, EffectBuffer& effects) {
        if (c == nullptr) return Status::Ok();
        SortedSetValue& zset = AsSortedSet(c);
        const int64_t size = static_cast<int64_t>(zset.order().size());
        if (start < 0) start += size;
        if (stop < 0) stop += size;
        if (start < 0) start = 0;
        if (start > stop || start >= size) return Status::Ok();
        if (stop >= size) stop = size - 1;
        auto first = std::next(zset.order().begin(), start);
        auto last = std::next(first, stop - start + 1);
        removed = RemoveSpan(key, zset, first, last, effects);
        return Status::Ok();
      }));
  return removed;
}

Result<size_t> SortedSets::RemoveRangeByScore(std::string_view key, const ScoreRange& range) {
  size_t removed = 0;
  MIRRORKV_RETURN_IF_ERROR(store_.impl().Access(
      key, KeyType::kSortedSet, Mode::kWrite, 0, [&](Collection* c, EffectBuffer& effects) {
        if (c == nullptr) return Status::Ok();
        auto [first, last] = AsSortedSet(c).ScoreSpan(range);
        removed = RemoveSpan(key, AsSortedSet(c), first, last, effects);
        return Status::Ok();
      }));
  return removed;
}

Result<size_t> SortedSets::RemoveRangeByLex(std::string_view key, const LexRange& range) {
  size_t removed = 0;
  MIRRORKV_RETURN_IF_ERROR(store_.impl().Access(
      key, KeyType::kSortedSet, Mode::kWrite, 0, [&](Collection* c, EffectBuffer& effects) {
        if (c == nullptr) return Status::Ok();
        auto [first, last] = AsSortedSet(c).LexSpan(range);
        removed = RemoveSpan(key, AsSortedSet(c), first, last, effects);
        return Status::Ok();
      }));
  return removed;
}

Result<size_t> SortedSets::Rank(std::string_view key, std::string_view member, bool reverse) const {
  bool found = false;
  size_t rank = 0;
  MIRRORKV_RETURN_IF_ERROR(store_.impl().Access(
      key, KeyType::kSortedSet, Mode::kRead, 0, [&](Collection* c, EffectBuffer&) {
        if (c == nullptr || AsSortedSet(c).Find(member) == nullptr) return Status::Ok();
        found = true;
        rank = AsSortedSet(c).Rank(member);
        if (reverse) rank = c->size() - 1 - rank;
        return Status::Ok();
      }));
  if (!found) return Status::NotFound();
  return rank;
}

}  // namespace mirrorkv
