// Lists and Sets (include/mirrorkv/collections.h) over Store::Impl::Access. Each write
// records its effect in the form docs/command_log_format.md lists: pushes with their
// items, pops with the count actually popped, LSET with a non-negative index, SPOP as
// the SREM of the members it chose.
#include <algorithm>
#include <string>
#include <vector>

#include "engine/store_impl.h"

namespace mirrorkv {

using internal::Collection;
using internal::EffectBuffer;
using internal::ListValue;
using internal::SetValue;
using Mode = Store::Impl::AccessMode;

namespace {

// Redis's index rules: negative counts from the end; the range is clamped. False when
// it is empty.
bool NormalizeRange(size_t size, int64_t* start, int64_t* stop) {
  const int64_t n = static_cast<int64_t>(size);
  if (*start < 0) *start += n;
  if (*stop < 0) *stop += n;
  if (*start < 0) *start = 0;
  if (*start > *stop || *start >= n) return false;
  if (*stop >= n) *stop = n - 1;
  return true;
}

// A non-negative index for `index` into `size` items, or false when out of range.
bool NormalizeIndex(size_t size, int64_t index, size_t* out) {
  if (index < 0) index += static_cast<int64_t>(size);
  if (index < 0 || index >= static_cast<int64_t>(size)) return false;
  *out = static_cast<size_t>(index);
  return true;
}

ListValue& AsList(Collection* c) { return *static_cast<ListValue*>(c); }
SetValue& AsSet(Collection* c) { return *static_cast<SetValue*>(c); }

}  // namespace

// --- Lists ---

Result<size_t> Lists::Push(std::string_view key, ListEnd end,
                           std::span<const std::string_view> values, bool only_if_exists) {
  Store::Impl& impl = store_.impl();
  size_t incoming = 0;
  MIRRORKV_RETURN_IF_ERROR(impl.CheckElements(values, &incoming));
  size_t length = 0;
  MIRRORKV_RETURN_IF_ERROR(
      impl.Access(key, KeyType::kList, only_if_exists ? Mode::kWrite : Mode::kWriteCreate, incoming,
                  [&](Collection* c, EffectBuffer& effects) {
                    if (c == nullptr) return Status::Ok();
                    ListValue& list = AsList(c);
                    effects.Begin(end == ListEnd::kLeft ? "LPUSH" : "RPUSH", key);
                    for (std::string_view value : values) {
                      list.Push(end, value);
                      effects.Arg(value);
                    }
                    length = list.items().size();
                    return Status::Ok();
                  }));
  return length;
}

Result<bool> Lists::PopWith(std::string_view key, ListEnd end, size_t count,
                            internal::ElementVisitor visitor) {
  bool found = false;
  MIRRORKV_RETURN_IF_ERROR(store_.impl().Access(
      key, KeyType::kList, Mode::kWrite, 0, [&](Collection* c, EffectBuffer& effects) {
        if (c == nullptr) return Status::Ok();
        found = true;
        ListValue& list = AsList(c);
        const size_t n = std::min(count, list.items().size());
        if (n == 0) return Status::Ok();
        effects.Begin(end == ListEnd::kLeft ? "LPOP" : "RPOP", key);
        effects.OwnedArg(std::to_string(n));
        size_t index = 0;
        list.Pop(end, n, [&](std::string&& item) {
          visitor({.index = index++, .count = n, .member = item});
        });
        return Status::Ok();
      }));
  return found;
}

Result<size_t> Lists::Length(std::string_view key) const {
  size_t length = 0;
  MIRRORKV_RETURN_IF_ERROR(
      store_.impl().Access(key, KeyType::kList, Mode::kRead, 0, [&](Collection* c, EffectBuffer&) {
        if (c != nullptr) length = c->size();
        return Status::Ok();
      }));
  return length;
}

Result<bool> Lists::RangeWith(std::string_view key, int64_t start, int64_t stop,
                              internal::ElementVisitor visitor) const {
  bool found = false;
  MIRRORKV_RETURN_IF_ERROR(
      store_.impl().Access(key, KeyType::kList, Mode::kRead, 0, [&](Collection* c, EffectBuffer&) {
        if (c == nullptr) return Status::Ok();
        found = true;
        const auto& items = AsList(c).items();
        if (!NormalizeRange(items.size(), &start, &stop)) return Status::Ok();
        const size_t n = static_cast<size_t>(stop - start + 1);
        auto it = items.begin() + start;
        for (size_t i = 0; i < n; ++i, ++it) visitor({.index = i, .count = n, .member = *it});
        return Status::Ok();
      }));
  return found;
}

Result<std::string> Lists::Index(std::string_view key, int64_t index) const {
  std::string item;
  bool found = false;
  MIRRORKV_RETURN_IF_ERROR(
      store_.impl().Access(key, KeyType::kList, Mode::kRead, 0, [&](Collection* c, EffectBuffer&) {
        size_t at;
        if (c == nullptr || !NormalizeIndex(c->size(), index, &at)) return Status::Ok();
        item = AsList(c).items()[at];
        found = true;
        return Status::Ok();
      }));
  if (!found) return Status::NotFound();
  return item;
}

Result<std::vector<size_t>> Lists::Positions(std::string_view key, std::string_view element,
                                             int64_t rank, size_t count, size_t max_len) const {
  std::vector<size_t> positions;
  MIRRORKV_RETURN_IF_ERROR(
      store_.impl().Access(key, KeyType::kList, Mode::kRead, 0, [&](Collection* c, EffectBuffer&) {
        if (c == nullptr) return Status::Ok();
        const auto& items = AsList(c).items();
        const size_t n = items.size();
        const size_t scan = max_len == 0 ? n : std::min(max_len, n);
        // Matches to pass over before the first one reported (rank 1 and -1 skip none).
        uint64_t skip =
            rank > 0 ? static_cast<uint64_t>(rank) - 1 : static_cast<uint64_t>(-(rank + 1));
        for (size_t i = 0; i < scan; ++i) {
          const size_t at = rank > 0 ? i : n - 1 - i;
          if (items[at] != element) continue;
          if (skip > 0) {
            --skip;
            continue;
          }
          positions.push_back(at);
          if (count != 0 && positions.size() == count) break;
        }
        return Status::Ok();
      }));
  return positions;
}

Status Lists::SetAt(std::string_view key, int64_t index, std::string_view value) {
  Store::Impl& impl = store_.impl();
  size_t incoming = 0;
  MIRRORKV_RETURN_IF_ERROR(impl.CheckElements({&value, 1}, &incoming));
  return impl.Access(key, KeyType::kList, Mode::kWrite, incoming,
                     [&](Collection* c, EffectBuffer& effects) {
                       if (c == nullptr) return Status::NotFound("no such key");
                       size_t at;
                       if (!NormalizeIndex(c->size(), index, &at)) {
                         return Status::InvalidArgument("index out of range");
                       }
                       AsList(c).Set(at, value);
                       effects.Begin("LSET", key);
                       effects.OwnedArg(std::to_string(at));
                       effects.Arg(value);
                       return Status::Ok();
                     });
}

Result<size_t> Lists::Remove(std::string_view key, int64_t count, std::string_view value) {
  size_t removed = 0;
  MIRRORKV_RETURN_IF_ERROR(store_.impl().Access(key, KeyType::kList, Mode::kWrite, 0,
                                                [&](Collection* c, EffectBuffer& effects) {
                                                  if (c == nullptr) return Status::Ok();
                                                  removed = AsList(c).Remove(count, value);
                                                  if (removed > 0) {
                                                    effects.Begin("LREM", key);
                                                    effects.OwnedArg(std::to_string(count));
                                                    effects.Arg(value);
                                                  }
                                                  return Status::Ok();
                                                }));
  return removed;
}

Status Lists::Trim(std::string_view key, int64_t start, int64_t stop) {
  return store_.impl().Access(key, KeyType::kList, Mode::kWrite, 0,
                              [&](Collection* c, EffectBuffer& effects) {
                                if (c == nullptr) return Status::Ok();
                                size_t before = c->size();
                                AsList(c).Trim(start, stop);
                                if (c->size() != before) {
                                  effects.Begin("LTRIM", key);
                                  effects.OwnedArg(std::to_string(start));
                                  effects.OwnedArg(std::to_string(stop));
                                }
                                return Status::Ok();
                              });
}

Result<int64_t> Lists::Insert(std::string_view key, bool after, std::string_view pivot,
                              std::string_view value) {
  Store::Impl& impl = store_.impl();
  size_t incoming = 0;
  MIRRORKV_RETURN_IF_ERROR(impl.CheckElements({&value, 1}, &incoming));
  int64_t result = 0;
  MIRRORKV_RETURN_IF_ERROR(impl.Access(key, KeyType::kList, Mode::kWrite, incoming,
                                       [&](Collection* c, EffectBuffer& effects) {
                                         if (c == nullptr) return Status::Ok();
                                         if (!AsList(c).Insert(after, pivot, value)) {
                                           result = -1;
                                           return Status::Ok();
                                         }
                                         result = static_cast<int64_t>(c->size());
                                         effects.Begin("LINSERT", key);
                                         effects.Arg(after ? "AFTER" : "BEFORE");
                                         effects.Arg(pivot);
                                         effects.Arg(value);
                                         return Status::Ok();
                                       }));
  return result;
}

// --- Sets ---

Result<size_t> Sets::Add(std::string_view key, std::span<const std::string_view> members) {
  Store::Impl& impl = store_.impl();
  size_t incoming = 0;
  MIRRORKV_RETURN_IF_ERROR(impl.CheckElements(members, &incoming));
  size_t added = 0;
  MIRRORKV_RETURN_IF_ERROR(impl.Access(key, KeyType::kSet, Mode::kWriteCreate, incoming,
                                       [&](Collection* c, EffectBuffer& effects) {
                                         SetValue& set = AsSet(c);
                                         for (std::string_view member : members) {
                                           if (!set.Add(member)) continue;
                                           if (added++ == 0) effects.Begin("SADD", key);
                                           effects.Arg(member);
                                         }
                                         return Status::Ok();
                                       }));
  return added;
}

Result<size_t> Sets::Remove(std::string_view key, std::span<const std::string_view> members) {
  size_t removed = 0;
  MIRRORKV_RETURN_IF_ERROR(store_.impl().Access(key, KeyType::kSet, Mode::kWrite, 0,
                                                [&](Collection* c, EffectBuffer& effects) {
                                                  if (c == nullptr) return Status::Ok();
                                                  SetValue& set = AsSet(c);
                                                  for (std::string_view member : members) {
                                                    if (!set.Remove(member)) continue;
                                                    if (removed++ == 0) effects.Begin("SREM", key);
                                                    effects.Arg(member);
                                                  }
                                                  return Status::Ok();
                                                }));
  return removed;
}

Result<bool> Sets::PopWith(std::string_view key, size_t count, internal::ElementVisitor visitor) {
  bool found = false;
  MIRRORKV_RETURN_IF_ERROR(store_.impl().Access(
      key, KeyType::kSet, Mode::kWrite, 0, [&](Collection* c, EffectBuffer& effects) {
        if (c == nullptr) return Status::Ok();
        found = true;
        SetValue& set = AsSet(c);
        const size_t n = std::min(count, set.members().size());
        if (n == 0) return Status::Ok();
        effects.Begin("SREM", key);
        for (size_t i = 0; i < n; ++i) {
          // The members sit in hash order, unrelated to their content; a random number
          // of steps (at most 16) from the first varies the choice without walking the
          // whole set. Not uniform, as Redis's SPOP is not either.
          auto it = set.members().begin();
          for (uint64_t skip = internal::RandomIndex(std::min<size_t>(set.members().size(), 16));
               skip > 0; --skip) {
            ++it;
          }
          std::string member = *it;
          set.Remove(member);
          visitor({.index = i, .count = n, .member = member});
          effects.OwnedArg(std::move(member));
        }
        return Status::Ok();
      }));
  return found;
}

Result<bool> Sets::RandomMembersWith(std::string_view key, int64_t count,
                                     internal::ElementVisitor visitor) const {
  bool found = false;
  MIRRORKV_RETURN_IF_ERROR(
      store_.impl().Access(key, KeyType::kSet, Mode::kRead, 0, [&](Collection* c, EffectBuffer&) {
        if (c == nullptr) return Status::Ok();
        found = true;
        std::vector<const std::string*> members;
        members.reserve(c->size());
        for (const std::string& member : AsSet(c).members()) members.push_back(&member);
        internal::SampleRandom(members, count, [&](size_t i, size_t m, const std::string* member) {
          visitor({.index = i, .count = m, .member = *member});
        });
        return Status::Ok();
      }));
  return found;
}

Result<bool> Sets::MembersWith(std::string_view key, internal::ElementVisitor visitor) const {
  bool found = false;
  MIRRORKV_RETURN_IF_ERROR(
      store_.impl().Access(key, KeyType::kSet, Mode::kRead, 0, [&](Collection* c, EffectBuffer&) {
        if (c == nullptr) return Status::Ok();
        found = true;
        const auto& members = AsSet(c).members();
        size_t i = 0;
        for (const std::string& member : members) {
          visitor({.index = i++, .count = members.size(), .member = member});
        }
        return Status::Ok();
      }));
  return found;
}

Result<bool> Sets::Contains(std::string_view key, std::string_view member) const {
  bool present = false;
  MIRRORKV_RETURN_IF_ERROR(
      store_.impl().Access(key, KeyType::kSet, Mode::kRead, 0, [&](Collection* c, EffectBuffer&) {
        present = c != nullptr && AsSet(c).Contains(member);
        return Status::Ok();
      }));
  return present;
}

Result<size_t> Sets::Size(std::string_view key) const {
  size_t size = 0;
  MIRRORKV_RETURN_IF_ERROR(
      store_.impl().Access(key, KeyType::kSet, Mode::kRead, 0, [&](Collection* c, EffectBuffer&) {
        if (c != nullptr) size = c->size();
        return Status::Ok();
      }));
  return size;
}

}  // namespace mirrorkv
