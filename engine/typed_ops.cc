// Store::Impl for collections: the one locked access path every list, set, hash and
// sorted-set operation takes, the replica's application of collection effects and the
// replay floors of a snapshot load. The per-type operations (engine/list_ops.cc ...)
// are built on Access.
//
// Access follows the shape of the string writes (store_impl.cc): validate, make room
// under the memory limit, lock the key's stripe, find the live entry, run the
// operation, account its bytes and report its effects while still holding the lock.
#include <algorithm>

#include "engine/base/check.h"
#include "engine/store_impl.h"

namespace mirrorkv {

using internal::Collection;
using internal::EffectBuffer;
using internal::Entry;
using internal::Stripe;
using internal::StripedTable;

std::string_view KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kNone:
      return "none";
    case KeyType::kString:
      return "string";
    case KeyType::kList:
      return "list";
    case KeyType::kSet:
      return "set";
    case KeyType::kHash:
      return "hash";
    case KeyType::kSortedSet:
      return "zset";
  }
  return "none";
}

KeyType TypeOf(const Store& store, std::string_view key) {
  return const_cast<Store&>(store).impl().TypeOf(key);
}

KeyType Store::Impl::TypeOf(std::string_view key) {
  uint64_t hash = StripedTable::Hash(key);
  Stripe& stripe = table_.StripeFor(hash);
  LazyNow now(clock_);
  MutexLock lock(&stripe.mu);
  Entry** link = FindLive(stripe, hash, key, now);
  return link == nullptr ? KeyType::kNone : (*link)->type();
}

Status Store::Impl::CheckElements(std::span<const std::string_view> elements,
                                  size_t* incoming) const {
  for (std::string_view element : elements) {
    MIRRORKV_RETURN_IF_ERROR(CheckSizes({}, element));
    *incoming += internal::StringBytes(element.size());
  }
  return Status::Ok();
}

Status Store::Impl::Access(std::string_view key, KeyType type, AccessMode mode, size_t incoming,
                           CollectionOp op) {
  const bool write = mode != AccessMode::kRead;
  if (write) {
    MIRRORKV_RETURN_IF_ERROR(CheckWritable());
    MIRRORKV_RETURN_IF_ERROR(CheckSizes(key, {}));
    MIRRORKV_RETURN_IF_ERROR(MakeRoom(incoming));
  }
  uint64_t hash = StripedTable::Hash(key);
  Stripe& stripe = table_.StripeFor(hash);
  LazyNow now(clock_);
  MutexLock lock(&stripe.mu);
  Entry** link = FindLive(stripe, hash, key, now);
  if (link != nullptr && (*link)->type() != type) {
    return Status::FailedPrecondition(kWrongTypeMessage);
  }
  if (link == nullptr) {
    ++stripe.misses;
  } else {
    ++stripe.hits;
    Touch(stripe, *link);
  }
  Collection* collection = link != nullptr ? (*link)->collection() : nullptr;
  const bool created = collection == nullptr && mode == AccessMode::kWriteCreate;
  if (created) collection = Collection::Create(type);
  const size_t before = collection != nullptr ? collection->bytes() : 0;
  EffectBuffer effects;
  Status status = op(collection, effects);
  if (!write) return status;
  if (created) {
    if (!status.ok() || collection->empty()) {
      Collection::Destroy(collection);
      return status;
    }
    size_t bytes = 0;
    Entry* entry = Entry::CreateCollection(stripe.arena, key, collection, 0, 0, &bytes);
    table_.AddMemory(static_cast<int64_t>(bytes));
    table_.InsertCreated(stripe, hash, entry);
    NoteInserted(stripe, hash, entry);
  } else if (collection != nullptr) {
    table_.AddMemory(static_cast<int64_t>(collection->bytes()) - static_cast<int64_t>(before));
    if (collection->empty()) {
      // Reported as a delete, not as the effect that emptied it: a replica replaying a
      // snapshot's stream then removes the key (and its deadline) exactly as here.
      Remove(stripe, link, MutationCause::kWrite);
      return status;
    }
  }
  if (!effects.empty() && reporting()) {
    std::vector<Mutation> batch = effects.Mutations(key);
    Report(batch);
  }
  return status;
}

void Store::Impl::InsertCollection(std::string_view key, Collection* collection,
                                   int64_t deadline_ms) {
  uint64_t hash = StripedTable::Hash(key);
  Stripe& stripe = table_.StripeFor(hash);
  MutexLock lock(&stripe.mu);
  Entry** link = StripedTable::FindLink(stripe, hash, key);
  if (link != nullptr) table_.Erase(stripe, link);
  uint8_t epoch = ArmDeadline(stripe, nullptr, hash, deadline_ms);
  size_t bytes = 0;
  Entry* entry = Entry::CreateCollection(stripe.arena, key, collection, deadline_ms, epoch, &bytes);
  table_.AddMemory(static_cast<int64_t>(bytes));
  table_.InsertCreated(stripe, hash, entry);
  NoteInserted(stripe, hash, entry);
}

bool Store::Impl::ApplyEffectLocked(Stripe& stripe, const Mutation& m) {
  uint64_t hash = StripedTable::Hash(m.key);
  // Validated by ApplyBatch before any lock was taken.
  KeyType type = *internal::ValidateEffect(m.effect);
  Entry** link = StripedTable::FindLink(stripe, hash, m.key);
  const bool creates = internal::EffectCreates(m.effect);
  if (link != nullptr && (*link)->type() != type) {
    // Only while replaying the stream over a fuzzy snapshot: the key's later whole-key
    // write, also in the stream, settles it (docs/design.md).
    if (!creates) return false;
    table_.Erase(stripe, link);
    link = nullptr;
  }
  if (link == nullptr) {
    if (!creates) return false;
    Collection* collection = Collection::Create(type);
    collection->ApplyEffect(m.effect);
    if (collection->empty()) {
      Collection::Destroy(collection);
      return false;
    }
    size_t bytes = 0;
    Entry* entry = Entry::CreateCollection(stripe.arena, m.key, collection, 0, 0, &bytes);
    table_.AddMemory(static_cast<int64_t>(bytes));
    table_.InsertCreated(stripe, hash, entry);
    NoteInserted(stripe, hash, entry);
    return true;
  }
  Collection* collection = (*link)->collection();
  size_t before = collection->bytes();
  collection->ApplyEffect(m.effect);
  table_.AddMemory(static_cast<int64_t>(collection->bytes()) - static_cast<int64_t>(before));
  if (collection->empty()) table_.Erase(stripe, link);
  return true;
}

void Store::Impl::RenameCollectionLocked(Stripe& from, Entry** source_link, Stripe& to,
                                         uint64_t destination_hash, std::string_view destination) {
  Entry* source = *source_link;
  const int64_t deadline = source->deadline();
  Collection* collection = source->collection();
  // Reported before the entries change, while the collection and the source key are
  // intact: the destination is logged whole (delete, rebuild, deadline), which is
  // exact on a replica whatever it held there.
  if (reporting()) {
    EffectBuffer rebuild;
    internal::AppendRebuildEffects(destination, *collection, rebuild);
    std::vector<Mutation> batch;
    batch.push_back({MutationKind::kDelete, MutationCause::kWrite, source->key(), {}, 0});
    batch.push_back({MutationKind::kDelete, MutationCause::kWrite, destination, {}, 0});
    for (const Mutation& m : rebuild.Mutations(destination)) batch.push_back(m);
    if (deadline > 0) {
      batch.push_back({MutationKind::kExpireAt, MutationCause::kWrite, destination, {}, deadline});
    }
    Report(batch);
  }
  source->release_collection();
  // The source's bytes for the collection move with it: Erase no longer counts them.
  table_.AddMemory(-static_cast<int64_t>(collection->bytes()));
  table_.Erase(from, source_link);
  Entry** destination_link = StripedTable::FindLink(to, destination_hash, destination);
  if (destination_link != nullptr) table_.Erase(to, destination_link);
  uint8_t epoch = ArmDeadline(to, nullptr, destination_hash, deadline);
  size_t bytes = 0;
  Entry* entry =
      Entry::CreateCollection(to.arena, destination, collection, deadline, epoch, &bytes);
  table_.AddMemory(static_cast<int64_t>(bytes));
  table_.InsertCreated(to, destination_hash, entry);
  NoteInserted(to, destination_hash, entry);
}

// --- Replay floors ---

void Store::Impl::AddReplayFloor(std::string_view key, uint64_t offset) {
  MutexLock lock(&floors_mu_);
  floors_[key] = offset;
  max_floor_ = std::max(max_floor_, offset);
  has_floors_.store(true, std::memory_order_relaxed);
}

bool Store::Impl::BelowReplayFloor(std::string_view key, uint64_t stream_offset) {
  if (!has_floors_.load(std::memory_order_relaxed)) return false;
  MutexLock lock(&floors_mu_);
  if (stream_offset >= max_floor_) {
    // The stream has passed every copy: nothing more to skip.
    floors_.clear();
    has_floors_.store(false, std::memory_order_relaxed);
    return false;
  }
  auto it = floors_.find(key);
  return it != floors_.end() && stream_offset < it->second;
}

void Store::Impl::ForgetReplayFloor(std::string_view key, bool all) {
  if (!has_floors_.load(std::memory_order_relaxed)) return;
  MutexLock lock(&floors_mu_);
  if (all) {
    floors_.clear();
  } else {
    floors_.erase(key);
  }
  has_floors_.store(!floors_.empty(), std::memory_order_relaxed);
}

}  // namespace mirrorkv
