// Store::Impl: the string commands over the striped table, lazy and active expiry,
// eviction, and mutation reporting.
//
// Every operation follows the same shape: validate (no lock), make room under the
// memory limit (eviction takes stripe locks one at a time), then lock the key's stripe,
// find the live entry (deleting it first if its deadline passed), change it, report the
// effect while still holding the lock, unlock. Holding the lock while reporting is what
// makes the reported order per key equal the order in which the changes took effect.
//
// Active expiry. Each stripe has a TTL wheel of (hash|epoch, deadline) items. Items are
// never removed when a key changes: a delivered item is checked against the table and
// dropped if stale. To keep a key whose deadline is refreshed on every request (a
// sliding session) from piling up items, a later deadline re-uses the armed item: when
// that item fires early, it is rescheduled to the key's current deadline. Only an
// earlier deadline (or a key that had none) arms a new item, under a new epoch, which
// makes the older item stale. The epoch is 8 bits: once in 256 re-arms an old item can
// look current, which costs one extra reschedule per firing and never an early expiry
// (the deadline is always checked).
#include "engine/store_impl.h"

#include <algorithm>
#include <limits>

#include "absl/container/flat_hash_set.h"
#include "engine/base/check.h"
#include "engine/base/glob.h"
#include "engine/base/numbers.h"

namespace mirrorkv {

using internal::Entry;
using internal::Stripe;
using internal::StripedTable;

namespace {

// The stripes to lock for an operation on several keys: each once, in ascending order
// (the one lock order every multi-stripe operation follows, so none can deadlock).
std::vector<size_t> LockOrder(std::vector<size_t> stripes) {
  std::sort(stripes.begin(), stripes.end());
  stripes.erase(std::unique(stripes.begin(), stripes.end()), stripes.end());
  return stripes;
}

// The low 56 bits of a key hash identify it in a wheel item; the top 8 hold the epoch.
constexpr uint64_t kHashIdMask = (uint64_t{1} << 56) - 1;

uint64_t WheelId(uint64_t hash, uint8_t epoch) {
  return (hash & kHashIdMask) | (static_cast<uint64_t>(epoch) << 56);
}

// A small fast generator for eviction sampling; one per thread, so no sharing.
uint64_t NextRandom() {
  thread_local uint64_t state =
      0x9e3779b97f4a7c15ull ^ reinterpret_cast<uintptr_t>(&state) ^
      static_cast<uint64_t>(std::hash<std::thread::id>()(std::this_thread::get_id()));
  // splitmix64
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Adds ttl to now, or returns false when the sum leaves the representable range.
bool DeadlineAfter(int64_t now, int64_t ttl, int64_t* deadline) {
  if (ttl > Entry::kMaxDeadline - now) return false;
  *deadline = now + ttl;
  return true;
}

// An absolute deadline past what an entry holds (kMaxDeadline, some 2.28 million years
// from 1970) is kept as that one: Redis accepts any positive 64-bit deadline (PEXPIREAT
// k 9223372036854775807 answers 1), and no key lives to see the difference.
int64_t ClampDeadline(int64_t unix_ms) { return std::min(unix_ms, Entry::kMaxDeadline); }

}  // namespace

Store::Impl::Impl(const StoreOptions& options)
    : options_(options),
      clock_(options.clock != nullptr ? options.clock : SystemClock::Default()),
      table_(options.stripe_count, clock_->NowMillis()),
      listener_(options.listener),
      max_memory_(options.max_memory),
      policy_(options.eviction_policy),
      replica_(options.replica) {
  if (options_.eviction_policy == EvictionPolicy::kAllKeysSieve) {
    SetEvictionPolicy(EvictionPolicy::kAllKeysSieve);
  }
  if (options_.active_expiry_interval.count() > 0) {
    expiry_thread_ = std::thread([this] { ExpiryThreadMain(); });
  }
}

Store::Impl::~Impl() {
  {
    MutexLock lock(&thread_mu_);
    stopping_ = true;
  }
  thread_cv_.SignalAll();
  if (expiry_thread_.joinable()) expiry_thread_.join();
}

void Store::Impl::ExpiryThreadMain() {
  MutexLock lock(&thread_mu_);
  while (!stopping_) {
    thread_cv_.WaitWithTimeout(&thread_mu_, options_.active_expiry_interval);
    if (stopping_) break;
    thread_mu_.Unlock();
    ExpireDue();
    thread_mu_.Lock();
  }
}

// --- Checks ---

Status Store::Impl::CheckWritable() const {
  if (replica()) return Status::FailedPrecondition(kReadOnlyMessage);
  if (writes_refused_.load(std::memory_order_acquire)) {
    MutexLock lock(&refusal_mu_);
    if (!refusal_.ok()) return refusal_;
  }
  return Status::Ok();
}

void Store::Impl::SetWriteRefusal(Status refusal) {
  MutexLock lock(&refusal_mu_);
  writes_refused_.store(!refusal.ok(), std::memory_order_release);
  refusal_ = std::move(refusal);
}

Status Store::Impl::CheckSizes(std::string_view key, std::string_view value) const {
  if (key.size() > options_.max_key_bytes) {
    return Status::InvalidArgument("key exceeds the configured max_key_bytes");
  }
  if (value.size() > options_.max_value_bytes) {
    return Status::InvalidArgument("value exceeds the configured max_value_bytes");
  }
  return Status::Ok();
}

// --- Lookup, change, report ---

Entry** Store::Impl::FindLive(Stripe& stripe, uint64_t hash, std::string_view key, LazyNow& now) {
  Entry** link = StripedTable::FindLink(stripe, hash, key);
  if (link == nullptr || !(*link)->has_expiry() || (*link)->deadline() > now.get()) return link;
  if (!replica()) {
    ++stripe.expired;
    Remove(stripe, link, MutationCause::kExpired);
  }
  return nullptr;
}

void Store::Impl::Touch(Stripe& stripe, Entry* entry) {
  // Only the recency policies read these; under the others a read writes nothing to
  // the entry. (After a switch to such a policy, recency builds up from there.)
  switch (policy_.load(std::memory_order_relaxed)) {
    case EvictionPolicy::kAllKeysLru:
    case EvictionPolicy::kVolatileLru:
      entry->set_lru(++stripe.access_clock);
      break;
    case EvictionPolicy::kAllKeysSieve:
      entry->set_visited(true);
      break;
    case EvictionPolicy::kNoEviction:
    case EvictionPolicy::kAllKeysRandom:
    case EvictionPolicy::kVolatileTtl:
      break;
  }
}

uint8_t Store::Impl::ArmDeadline(Stripe& stripe, const Entry* old, uint64_t hash,
                                 int64_t deadline_ms) {
  if (deadline_ms <= 0) return 0;
  if (old != nullptr && old->has_expiry() && deadline_ms >= old->deadline()) {
    return old->epoch();  // the armed item fires no later than needed; see the top
  }
  uint8_t epoch = stripe.next_epoch++;
  size_t before = stripe.wheel.MemoryBytes();
  // Items of deleted, evicted or re-armed keys stay until their old deadline. When
  // they outnumber the live ones, the wheel is rebuilt from the entries: O(stripe) once
  // per that many stale items, so amortized O(1), and stale items never hold more than
  // about as much memory as live ones (which matters under eviction: memory held by
  // dead items would otherwise be paid for by evicting live keys).
  if (stripe.wheel.size() > 2 * stripe.with_expiry + 64) RebuildWheel(stripe);
  stripe.wheel.Schedule(WheelId(hash, epoch), deadline_ms);
  table_.AddMemory(static_cast<int64_t>(stripe.wheel.MemoryBytes()) - static_cast<int64_t>(before));
  return epoch;
}

void Store::Impl::RebuildWheel(Stripe& stripe) {
  internal::TtlWheel fresh(clock_->NowMillis());
  for (size_t b = 0; b <= stripe.bucket_mask; ++b) {
    for (Entry* e = stripe.buckets[b]; e != nullptr; e = e->next()) {
      if (e->has_expiry()) {
        fresh.Schedule(WheelId(StripedTable::Hash(e->key()), e->epoch()), e->deadline());
      }
    }
  }
  stripe.wheel = std::move(fresh);
}

Entry* Store::Impl::Upsert(Stripe& stripe, Entry** link, uint64_t hash, std::string_view key,
                           std::string_view value, int64_t deadline_ms) {
  Entry* entry;
  if (link != nullptr && !(*link)->is_string()) {
    // A string replacing a collection: the collection goes with its entry (the key is
    // at the same place in the SIEVE queue, so only LRU restarts).
    table_.Erase(stripe, link);
    link = StripedTable::FindLink(stripe, hash, key);
  }
  if (link != nullptr) {
    uint8_t epoch = ArmDeadline(stripe, *link, hash, deadline_ms);
    entry = table_.Replace(stripe, link, value, deadline_ms, epoch);
    Touch(stripe, entry);
  } else {
    uint8_t epoch = ArmDeadline(stripe, nullptr, hash, deadline_ms);
    entry = table_.Insert(stripe, hash, key, value, deadline_ms, epoch);
    NoteInserted(stripe, hash, entry);
  }
  return entry;
}

void Store::Impl::NoteInserted(Stripe& stripe, uint64_t hash, Entry* entry) {
  // A new key is recent for LRU but not "visited" for SIEVE: only a later access
  // earns it a pass of the hand.
  entry->set_lru(++stripe.access_clock);
  if (policy_.load(std::memory_order_relaxed) == EvictionPolicy::kAllKeysSieve) {
    int64_t before = static_cast<int64_t>(stripe.sieve_queue.capacity());
    stripe.sieve_queue.push_back(hash);
    table_.AddMemory((static_cast<int64_t>(stripe.sieve_queue.capacity()) - before) * 8);
    // Compacted once a fifth of it is hashes of keys gone: O(queue) per count/4
    // inserts, amortized O(1), and at most ~10 bytes of queue per key.
    if (stripe.sieve_queue.size() > stripe.count + stripe.count / 4 + 16) {
      CompactSieveQueue(stripe);
    }
  }
}

Entry* Store::Impl::ChangeDeadline(Stripe& stripe, Entry** link, uint64_t hash,
                                   int64_t deadline_ms) {
  uint8_t epoch = ArmDeadline(stripe, *link, hash, deadline_ms);
  return table_.Replace(stripe, link, (*link)->value(), deadline_ms, epoch);
}

void Store::Impl::Remove(Stripe& stripe, Entry** link, MutationCause cause) {
  ReportOne(MutationKind::kDelete, cause, (*link)->key());
  table_.Erase(stripe, link);
}

// --- Writes ---

Result<bool> Store::Impl::Set(std::string_view key, std::string_view value,
                              const SetOptions& options) {
  MIRRORKV_RETURN_IF_ERROR(CheckWritable());
  MIRRORKV_RETURN_IF_ERROR(CheckSizes(key, value));
  LazyNow now(clock_);
  int64_t deadline = 0;
  switch (options.expiry.kind()) {
    case Expiry::Kind::kClear:
    case Expiry::Kind::kKeep:
      break;
    case Expiry::Kind::kAfter:
      if (options.expiry.millis() <= 0 ||
          !DeadlineAfter(now.get(), options.expiry.millis(), &deadline)) {
        return Status::InvalidArgument("invalid expire time");
      }
      break;
    case Expiry::Kind::kAt:
      if (options.expiry.millis() <= 0) return Status::InvalidArgument("invalid expire time");
      deadline = ClampDeadline(options.expiry.millis());
      break;
  }
  bool keep_ttl = options.expiry.kind() == Expiry::Kind::kKeep;
  MIRRORKV_RETURN_IF_ERROR(
      MakeRoom(Entry::AllocationSize(key.size(), value.size(), deadline > 0 || keep_ttl)));

  uint64_t hash = StripedTable::Hash(key);
  Stripe& stripe = table_.StripeFor(hash);
  MutexLock lock(&stripe.mu);
  Entry** link = FindLive(stripe, hash, key, now);
  if (options.previous_value != nullptr) {
    if (link != nullptr && !(*link)->is_string()) {
      return Status::FailedPrecondition(kWrongTypeMessage);
    }
    *options.previous_value = link ? std::optional<std::string>((*link)->value()) : std::nullopt;
  }
  if ((options.condition == SetCondition::kIfAbsent && link != nullptr) ||
      (options.condition == SetCondition::kIfPresent && link == nullptr)) {
    return false;
  }
  if (keep_ttl) deadline = link ? (*link)->deadline() : 0;
  if (deadline > 0 && deadline <= now.get() && options.expiry.kind() == Expiry::Kind::kAt) {
    // A deadline already past: the write leaves the key deleted, as in Redis.
    if (link != nullptr) Remove(stripe, link, MutationCause::kWrite);
    return true;
  }
  Entry* entry = Upsert(stripe, link, hash, key, value, deadline);
  ReportOne(MutationKind::kSet, MutationCause::kWrite, entry->key(), entry->value(), deadline);
  return true;
}

Result<std::string> Store::Impl::GetDel(std::string_view key) {
  MIRRORKV_RETURN_IF_ERROR(CheckWritable());
  uint64_t hash = StripedTable::Hash(key);
  Stripe& stripe = table_.StripeFor(hash);
  LazyNow now(clock_);
  MutexLock lock(&stripe.mu);
  Entry** link = FindLive(stripe, hash, key, now);
  if (link == nullptr) {
    ++stripe.misses;
    return Status::NotFound();
  }
  if (!(*link)->is_string()) return Status::FailedPrecondition(kWrongTypeMessage);
  ++stripe.hits;
  std::string value((*link)->value());
  Remove(stripe, link, MutationCause::kWrite);
  return value;
}

Result<std::string> Store::Impl::GetEx(std::string_view key, Expiry expiry) {
  if (expiry.kind() != Expiry::Kind::kKeep) MIRRORKV_RETURN_IF_ERROR(CheckWritable());
  LazyNow now(clock_);
  int64_t deadline = 0;
  if (expiry.kind() == Expiry::Kind::kAfter) {
    if (expiry.millis() <= 0 || !DeadlineAfter(now.get(), expiry.millis(), &deadline)) {
      return Status::InvalidArgument("invalid expire time");
    }
  } else if (expiry.kind() == Expiry::Kind::kAt) {
    if (expiry.millis() <= 0) return Status::InvalidArgument("invalid expire time");
    deadline = ClampDeadline(expiry.millis());
  }
  uint64_t hash = StripedTable::Hash(key);
  Stripe& stripe = table_.StripeFor(hash);
  MutexLock lock(&stripe.mu);
  Entry** link = FindLive(stripe, hash, key, now);
  if (link == nullptr) {
    ++stripe.misses;
    return Status::NotFound();
  }
  if (!(*link)->is_string()) return Status::FailedPrecondition(kWrongTypeMessage);
  ++stripe.hits;
  std::string value((*link)->value());
  switch (expiry.kind()) {
    case Expiry::Kind::kKeep:
      Touch(stripe, *link);
      break;
    case Expiry::Kind::kClear:
      if ((*link)->has_expiry()) {
        Entry* entry = ChangeDeadline(stripe, link, hash, 0);
        ReportOne(MutationKind::kPersist, MutationCause::kWrite, entry->key());
      }
      break;
    case Expiry::Kind::kAfter:
    case Expiry::Kind::kAt:
      if (deadline <= now.get()) {
        Remove(stripe, link, MutationCause::kWrite);
      } else {
        Entry* entry = ChangeDeadline(stripe, link, hash, deadline);
        ReportOne(MutationKind::kExpireAt, MutationCause::kWrite, entry->key(), {}, deadline);
      }
      break;
  }
  return value;
}

Result<bool> Store::Impl::Del(std::string_view key) {
  MIRRORKV_RETURN_IF_ERROR(CheckWritable());
  uint64_t hash = StripedTable::Hash(key);
  Stripe& stripe = table_.StripeFor(hash);
  LazyNow now(clock_);
  MutexLock lock(&stripe.mu);
  Entry** link = FindLive(stripe, hash, key, now);
  if (link == nullptr) return false;
  Remove(stripe, link, MutationCause::kWrite);
  return true;
}

Result<int64_t> Store::Impl::IncrBy(std::string_view key, int64_t delta) {
  MIRRORKV_RETURN_IF_ERROR(CheckWritable());
  MIRRORKV_RETURN_IF_ERROR(CheckSizes(key, {}));
  MIRRORKV_RETURN_IF_ERROR(
      MakeRoom(Entry::AllocationSize(key.size(), internal::kMaxInt64Digits, true)));
  uint64_t hash = StripedTable::Hash(key);
  Stripe& stripe = table_.StripeFor(hash);
  LazyNow now(clock_);
  MutexLock lock(&stripe.mu);
  Entry** link = FindLive(stripe, hash, key, now);
  int64_t current = 0;
  if (link != nullptr && !(*link)->is_string()) {
    return Status::FailedPrecondition(kWrongTypeMessage);
  }
  if (link != nullptr && !internal::ParseInt64((*link)->value(), &current)) {
    return Status::InvalidArgument("value is not an integer or out of range");
  }
  int64_t result;
  if (__builtin_add_overflow(current, delta, &result)) {
    return Status::InvalidArgument("increment or decrement would overflow");
  }
  char buffer[internal::kMaxInt64Digits];
  std::string_view text = internal::FormatInt64(result, buffer);
  int64_t deadline = link ? (*link)->deadline() : 0;
  Entry* entry = Upsert(stripe, link, hash, key, text, deadline);
  // Logged as the resulting value, never as "add delta": replaying it is idempotent.
  ReportOne(MutationKind::kSet, MutationCause::kWrite, entry->key(), entry->value(), deadline);
  return result;
}

Result<bool> Store::Impl::Expire(std::string_view key, Expiry expiry, ExpireCondition condition) {
  MIRRORKV_RETURN_IF_ERROR(CheckWritable());
  LazyNow now(clock_);
  int64_t deadline;
  if (expiry.kind() == Expiry::Kind::kAfter) {
    // A negative ttl is allowed and means "already expired"; only overflow is an error.
    if (expiry.millis() > 0 && !DeadlineAfter(now.get(), expiry.millis(), &deadline)) {
      return Status::InvalidArgument("invalid expire time");
    }
    if (expiry.millis() <= 0) deadline = 0;
  } else if (expiry.kind() == Expiry::Kind::kAt) {
    deadline = ClampDeadline(expiry.millis());
  } else {
    return Status::InvalidArgument("Expire takes Expiry::After or Expiry::At");
  }
  uint64_t hash = StripedTable::Hash(key);
  Stripe& stripe = table_.StripeFor(hash);
  MutexLock lock(&stripe.mu);
  Entry** link = FindLive(stripe, hash, key, now);
  if (link == nullptr) return false;
  int64_t current = (*link)->deadline();  // 0: none, which counts as infinite
  bool applies = true;
  switch (condition) {
    case ExpireCondition::kAlways:
      break;
    case ExpireCondition::kIfNoExpiry:
      applies = current == 0;
      break;
    case ExpireCondition::kIfHasExpiry:
      applies = current != 0;
      break;
    case ExpireCondition::kIfGreater:
      applies = current != 0 && deadline > current;
      break;
    case ExpireCondition::kIfLess:
      applies = current == 0 || deadline < current;
      break;
  }
  if (!applies) return false;
  if (deadline <= now.get()) {
    Remove(stripe, link, MutationCause::kWrite);
    return true;
  }
  Entry* entry = ChangeDeadline(stripe, link, hash, deadline);
  ReportOne(MutationKind::kExpireAt, MutationCause::kWrite, entry->key(), {}, deadline);
  return true;
}

Result<bool> Store::Impl::Persist(std::string_view key) {
  MIRRORKV_RETURN_IF_ERROR(CheckWritable());
  uint64_t hash = StripedTable::Hash(key);
  Stripe& stripe = table_.StripeFor(hash);
  LazyNow now(clock_);
  MutexLock lock(&stripe.mu);
  Entry** link = FindLive(stripe, hash, key, now);
  if (link == nullptr || !(*link)->has_expiry()) return false;
  Entry* entry = ChangeDeadline(stripe, link, hash, 0);
  ReportOne(MutationKind::kPersist, MutationCause::kWrite, entry->key());
  return true;
}

void Store::Impl::MultiRead(std::span<const std::string_view> keys,
                            const std::function<void(size_t, std::string_view)>& found) {
  std::vector<uint64_t> hashes(keys.size());
  std::vector<size_t> stripes(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    hashes[i] = StripedTable::Hash(keys[i]);
    stripes[i] = table_.StripeIndex(hashes[i]);
  }
  const std::vector<size_t> order = LockOrder(stripes);
  LazyNow now(clock_);
  LockStripes(order);
  for (size_t i = 0; i < keys.size(); ++i) {
    Stripe& stripe = table_.stripe(stripes[i]);
    stripe.mu.AssertHeld();
    Entry** link = FindLive(stripe, hashes[i], keys[i], now);
    if (link == nullptr) {
      ++stripe.misses;
      continue;
    }
    ++stripe.hits;
    Touch(stripe, *link);
    if ((*link)->is_string()) found(i, (*link)->value());
  }
  UnlockStripes(order);
}

void Store::Impl::LockStripes(std::span<const size_t> indices) {
  for (size_t i : indices) table_.stripe(i).mu.Lock();
}

void Store::Impl::UnlockStripes(std::span<const size_t> indices) {
  for (size_t i : indices) table_.stripe(i).mu.Unlock();
}

Status Store::Impl::MultiSet(std::span<const std::pair<std::string_view, std::string_view>> pairs,
                             bool only_if_none_exists, bool* written) {
  *written = false;
  MIRRORKV_RETURN_IF_ERROR(CheckWritable());
  size_t incoming = 0;
  for (const auto& [key, value] : pairs) {
    MIRRORKV_RETURN_IF_ERROR(CheckSizes(key, value));
    incoming += Entry::AllocationSize(key.size(), value.size(), false);
  }
  MIRRORKV_RETURN_IF_ERROR(MakeRoom(incoming));

  std::vector<uint64_t> hashes(pairs.size());
  std::vector<size_t> stripes(pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) {
    hashes[i] = StripedTable::Hash(pairs[i].first);
    stripes[i] = table_.StripeIndex(hashes[i]);
  }
  const std::vector<size_t> order = LockOrder(stripes);

  LazyNow now(clock_);
  LockStripes(order);
  bool blocked = false;
  if (only_if_none_exists) {
    for (size_t i = 0; i < pairs.size() && !blocked; ++i) {
      Stripe& stripe = table_.stripe(stripes[i]);
      stripe.mu.AssertHeld();
      blocked = FindLive(stripe, hashes[i], pairs[i].first, now) != nullptr;
    }
  }
  if (!blocked) {
    std::vector<Mutation> batch;
    if (reporting()) batch.reserve(pairs.size());
    for (size_t i = 0; i < pairs.size(); ++i) {
      Stripe& stripe = table_.stripe(stripes[i]);
      stripe.mu.AssertHeld();
      const auto& [key, value] = pairs[i];
      Upsert(stripe, FindLive(stripe, hashes[i], key, now), hashes[i], key, value, 0);
      // The caller's views, not the entry's: a repeated key may reallocate an entry
      // reported earlier in the batch.
      if (reporting()) batch.push_back({MutationKind::kSet, MutationCause::kWrite, key, value, 0});
    }
    if (reporting()) Report(batch);
    *written = true;
  }
  UnlockStripes(order);
  return Status::Ok();
}

Status Store::Impl::FlushAll() {
  MIRRORKV_RETURN_IF_ERROR(CheckWritable());
  LockAllStripes();
  ClearAllLocked();
  ReportOne(MutationKind::kFlushAll, MutationCause::kWrite, {});
  UnlockAllStripes();
  return Status::Ok();
}

void Store::Impl::LockAllStripes() {
  for (size_t i = 0; i < table_.stripe_count(); ++i) table_.stripe(i).mu.Lock();
}

void Store::Impl::UnlockAllStripes() {
  for (size_t i = table_.stripe_count(); i-- > 0;) table_.stripe(i).mu.Unlock();
}

void Store::Impl::ClearAllLocked() {
  for (size_t i = 0; i < table_.stripe_count(); ++i) {
    Stripe& stripe = table_.stripe(i);
    table_.Clear(stripe);
    int64_t freed = static_cast<int64_t>(stripe.wheel.MemoryBytes()) +
                    static_cast<int64_t>(stripe.sieve_queue.capacity() * 8);
    stripe.wheel.Clear();
    std::vector<uint64_t>().swap(stripe.sieve_queue);
    stripe.sieve_hand = 0;
    table_.AddMemory(static_cast<int64_t>(stripe.wheel.MemoryBytes()) - freed);
  }
}

Result<UpdateAction> Store::Impl::Update(std::string_view key, Store::UpdateCallback callback,
                                         void* context) {
  MIRRORKV_RETURN_IF_ERROR(CheckWritable());
  MIRRORKV_RETURN_IF_ERROR(CheckSizes(key, {}));
  uint64_t hash = StripedTable::Hash(key);
  Stripe& stripe = table_.StripeFor(hash);
  size_t room = Entry::AllocationSize(key.size(), 0, true);
  std::string replacement;
  // Eviction cannot run under the stripe lock (it takes other stripes' locks), so when
  // the result needs more room than was made, unlock, make that much room, and retry.
  while (true) {
    MIRRORKV_RETURN_IF_ERROR(MakeRoom(room));
    LazyNow now(clock_);
    MutexLock lock(&stripe.mu);
    Entry** link = FindLive(stripe, hash, key, now);
    std::string_view current_value;
    if (link != nullptr && !(*link)->is_string()) {
      return Status::FailedPrecondition(kWrongTypeMessage);
    }
    if (link != nullptr) current_value = (*link)->value();
    replacement.clear();
    MIRRORKV_ASSIGN_OR_RETURN(UpdateAction action,
                              callback(context, link ? &current_value : nullptr, replacement));
    if (action == UpdateAction::kKeep) return action;
    MIRRORKV_RETURN_IF_ERROR(CheckSizes(key, replacement));
    size_t needed = Entry::AllocationSize(key.size(), replacement.size(), true);
    size_t limit = max_memory_.load(std::memory_order_relaxed);
    if (limit != 0 && needed > room &&
        static_cast<size_t>(std::max<int64_t>(table_.memory_bytes(), 0)) + needed > limit) {
      room = needed;
      continue;
    }
    int64_t deadline = link ? (*link)->deadline() : 0;
    Entry* entry = Upsert(stripe, link, hash, key, replacement, deadline);
    ReportOne(MutationKind::kSet, MutationCause::kWrite, entry->key(), entry->value(), deadline);
    return action;
  }
}

Result<bool> Store::Impl::Rename(std::string_view source, std::string_view destination,
                                 bool only_if_absent) {
  MIRRORKV_RETURN_IF_ERROR(CheckWritable());
  MIRRORKV_RETURN_IF_ERROR(CheckSizes(destination, {}));
  uint64_t source_hash = StripedTable::Hash(source);
  uint64_t destination_hash = StripedTable::Hash(destination);
  size_t indices[2] = {table_.StripeIndex(source_hash), table_.StripeIndex(destination_hash)};
  if (indices[0] > indices[1]) std::swap(indices[0], indices[1]);
  std::span<const size_t> order(indices, indices[0] == indices[1] ? 1 : 2);
  Stripe& from = table_.StripeFor(source_hash);
  Stripe& to = table_.StripeFor(destination_hash);
  LazyNow now(clock_);
  LockStripes(order);
  from.mu.AssertHeld();
  to.mu.AssertHeld();
  Status status;
  bool moved = false;
  Entry** source_link = FindLive(from, source_hash, source, now);
  if (source_link == nullptr) {
    status = Status::NotFound("no such key");
  } else if (source == destination) {
    moved = !only_if_absent;
  } else {
    Entry** destination_link = FindLive(to, destination_hash, destination, now);
    // That look-up deletes an expired destination, which may have held the source's
    // link (the entry before it in a shared chain) or shrunk a shared stripe: find the
    // source again.
    source_link = StripedTable::FindLink(from, source_hash, source);
    if (!(only_if_absent && destination_link != nullptr) && !(*source_link)->is_string()) {
      RenameCollectionLocked(from, source_link, to, destination_hash, destination);
      moved = true;
    } else if (!(only_if_absent && destination_link != nullptr)) {
      // Copy out before the source goes: the destination insert may resize its stripe
      // (the same stripe, possibly), which would invalidate the source link.
      std::string value((*source_link)->value());
      int64_t deadline = (*source_link)->deadline();
      if (reporting()) {
        Mutation batch[2] = {
            {MutationKind::kDelete, MutationCause::kWrite, source, {}, 0},
            {MutationKind::kSet, MutationCause::kWrite, destination, value, deadline}};
        Report(batch);
      }
      table_.Erase(from, source_link);
      Upsert(to, StripedTable::FindLink(to, destination_hash, destination), destination_hash,
             destination, value, deadline);
      moved = true;
    }
  }
  UnlockStripes(order);
  if (!status.ok()) return status;
  return moved;
}

Result<std::string> Store::Impl::RandomKey() {
  const size_t stripes = table_.stripe_count();
  // A bounded number of tries: expired keys met on the way are deleted (on a primary)
  // and skipped, and an empty store is detected after one pass over the stripes.
  for (int attempt = 0; attempt < 100; ++attempt) {
    size_t start = NextRandom() & (stripes - 1);
    for (size_t i = 0; i < stripes; ++i) {
      Stripe& stripe = table_.stripe((start + i) & (stripes - 1));
      MutexLock lock(&stripe.mu);
      if (stripe.count == 0) continue;
      size_t bucket = NextRandom() & stripe.bucket_mask;
      for (size_t probe = 0; probe <= stripe.bucket_mask; ++probe) {
        Entry* e = stripe.buckets[(bucket + probe) & stripe.bucket_mask];
        if (e == nullptr) continue;
        LazyNow now(clock_);
        std::string key(e->key());
        if (FindLive(stripe, StripedTable::Hash(key), key, now) != nullptr) return key;
        break;  // it was expired; try another stripe
      }
      break;
    }
  }
  return Status::NotFound();
}

// --- Reads ---

// A read of one live key: counts the hit or miss, touches the entry for eviction, and
// returns visit(const Entry&), called with the stripe locked.
template <typename Visit>
bool Store::Impl::ReadEntry(std::string_view key, Visit&& visit) {
  uint64_t hash = StripedTable::Hash(key);
  Stripe& stripe = table_.StripeFor(hash);
  LazyNow now(clock_);
  MutexLock lock(&stripe.mu);
  Entry** link = FindLive(stripe, hash, key, now);
  if (link == nullptr) {
    ++stripe.misses;
    return false;
  }
  ++stripe.hits;
  Touch(stripe, *link);
  return visit(**link);
}

bool Store::Impl::Read(std::string_view key, Store::ValueCallback callback, void* context) {
  return ReadEntry(key, [&](const Entry& entry) {
    if (callback == nullptr) return true;  // an existence check: any type counts
    if (!entry.is_string()) return false;
    callback(context, entry.value());
    return true;
  });
}

bool Store::Impl::ReadWithDeadline(std::string_view key, std::string* value, int64_t* deadline) {
  return ReadEntry(key, [&](const Entry& entry) {
    if (!entry.is_string()) return false;
    value->assign(entry.value());
    *deadline = entry.has_expiry() ? entry.deadline() : kTtlNoExpiry;
    return true;
  });
}

int64_t Store::Impl::ExpireTime(std::string_view key) {
  uint64_t hash = StripedTable::Hash(key);
  Stripe& stripe = table_.StripeFor(hash);
  LazyNow now(clock_);
  MutexLock lock(&stripe.mu);
  Entry** link = FindLive(stripe, hash, key, now);
  if (link == nullptr) return kTtlMissingKey;
  return (*link)->has_expiry() ? (*link)->deadline() : kTtlNoExpiry;
}

ScanPage Store::Impl::Scan(uint64_t cursor, const ScanOptions& options) {
  ScanPage page;
  int64_t now = clock_->NowMillis();
  page.cursor = WalkEntries(cursor, std::max<size_t>(options.count, 1), [&](const Entry& e) {
    std::string_view key = e.key();
    int64_t deadline = e.deadline();
    if (deadline > 0 && deadline <= now) return;
    if (options.type != KeyType::kNone && e.type() != options.type) return;
    if (!options.match.empty() && !internal::GlobMatch(options.match, key)) {
      return;
    }
    page.keys.emplace_back(key);
  });
  return page;
}

size_t Store::Impl::size() const {
  size_t total = 0;
  for (size_t i = 0; i < table_.stripe_count(); ++i) {
    Stripe& stripe = table_.stripe(i);
    MutexLock lock(&stripe.mu);
    total += stripe.count;
  }
  return total;
}

StoreStats Store::Impl::stats() const {
  StoreStats stats;
  stats.stripe_keys.reserve(table_.stripe_count());
  for (size_t i = 0; i < table_.stripe_count(); ++i) {
    Stripe& stripe = table_.stripe(i);
    MutexLock lock(&stripe.mu);
    stats.keys += stripe.count;
    stats.keys_with_expiry += stripe.with_expiry;
    stats.hits += stripe.hits;
    stats.misses += stripe.misses;
    stats.expired += stripe.expired;
    stats.evicted += stripe.evicted;
    stats.stripe_keys.push_back(stripe.count);
  }
  stats.memory_used = static_cast<uint64_t>(std::max<int64_t>(table_.memory_bytes(), 0));
  stats.max_memory = max_memory_.load(std::memory_order_relaxed);
  return stats;
}

// --- Active expiry ---

size_t Store::Impl::ExpireDue() {
  if (replica()) return 0;
  size_t budget = options_.active_expiry_budget;
  size_t expired = 0;
  const size_t stripes = table_.stripe_count();
  size_t start = expiry_cursor_.fetch_add(1, std::memory_order_relaxed);
  int64_t now = clock_->NowMillis();
  for (size_t i = 0; i < stripes && expired < budget; ++i) {
    Stripe& stripe = table_.stripe((start + i) & (stripes - 1));
    MutexLock lock(&stripe.mu);
    expired += ExpireStripe(stripe, now, budget - expired);
  }
  return expired;
}

size_t Store::Impl::ExpireStripe(Stripe& stripe, int64_t now, size_t budget) {
  if (stripe.wheel.size() == 0) return 0;
  // Delivered items are collected first: handling one may reschedule into the wheel.
  thread_local std::vector<internal::TtlWheel::Item> due;
  due.clear();
  size_t wheel_before = stripe.wheel.MemoryBytes();
  stripe.wheel.Advance(now, budget,
                       [](const internal::TtlWheel::Item& item) { due.push_back(item); });
  size_t expired = 0;
  for (const auto& item : due) {
    int epoch = static_cast<int>(item.id >> 56);
    Entry** link = FindByHash(stripe, item.id, kHashIdMask, epoch);
    if (link == nullptr) continue;  // stale: the key was deleted or re-armed
    if ((*link)->deadline() <= now) {
      ++stripe.expired;
      ++expired;
      Remove(stripe, link, MutationCause::kExpired);
    } else {
      stripe.wheel.Schedule(item.id, (*link)->deadline());
    }
  }
  table_.AddMemory(static_cast<int64_t>(stripe.wheel.MemoryBytes()) -
                   static_cast<int64_t>(wheel_before));
  return expired;
}

Entry** Store::Impl::FindByHash(Stripe& stripe, uint64_t hash, uint64_t hash_mask, int epoch) {
  Entry** link = &stripe.buckets[hash & stripe.bucket_mask];
  for (; *link != nullptr; link = (*link)->next_link()) {
    Entry* e = *link;
    if (epoch >= 0 && (!e->has_expiry() || e->epoch() != epoch)) continue;
    if (((StripedTable::Hash(e->key()) ^ hash) & hash_mask) == 0) return link;
  }
  return nullptr;
}

// --- Eviction ---

Status Store::Impl::MakeRoom(size_t incoming) {
  size_t limit = max_memory_.load(std::memory_order_relaxed);
  if (limit == 0) return Status::Ok();
  while (static_cast<size_t>(std::max<int64_t>(table_.memory_bytes(), 0)) + incoming > limit) {
    EvictionPolicy policy = policy_.load(std::memory_order_relaxed);
    if (policy == EvictionPolicy::kNoEviction || !EvictOne(policy)) {
      return Status::ResourceExhausted(kOutOfMemoryMessage);
    }
  }
  return Status::Ok();
}

bool Store::Impl::EvictOne(EvictionPolicy policy) {
  const size_t stripes = table_.stripe_count();
  size_t start = NextRandom() & (stripes - 1);
  for (size_t i = 0; i < stripes; ++i) {
    Stripe& stripe = table_.stripe((start + i) & (stripes - 1));
    MutexLock lock(&stripe.mu);
    Entry** victim = PickVictim(stripe, policy);
    if (victim == nullptr) continue;
    ++stripe.evicted;
    Remove(stripe, victim, MutationCause::kEvicted);
    return true;
  }
  return false;
}

Entry** Store::Impl::PickVictim(Stripe& stripe, EvictionPolicy policy) {
  if (stripe.count == 0) return nullptr;
  bool volatile_only =
      policy == EvictionPolicy::kVolatileLru || policy == EvictionPolicy::kVolatileTtl;
  if (volatile_only && stripe.with_expiry == 0) return nullptr;
  if (policy == EvictionPolicy::kAllKeysSieve) return PickSieve(stripe);
  return PickSampled(stripe, policy);
}

Entry** Store::Impl::PickSampled(Stripe& stripe, EvictionPolicy policy) {
  // Redis's approximation: look at a few random keys and evict the best of them.
  bool volatile_only =
      policy == EvictionPolicy::kVolatileLru || policy == EvictionPolicy::kVolatileTtl;
  const size_t want =
      policy == EvictionPolicy::kAllKeysRandom ? 1 : std::max<size_t>(options_.eviction_samples, 1);
  Entry** best = nullptr;
  size_t seen = 0;
  // Copied out of the stripe for the lambdas, which the thread-safety analysis cannot
  // see run under the lock.
  const uint32_t access_clock = stripe.access_clock;
  Entry** const bucket_heads = stripe.buckets.get();
  auto consider = [&](Entry** link) {
    Entry* e = *link;
    if (volatile_only && !e->has_expiry()) return;
    ++seen;
    if (best == nullptr) {
      best = link;
      return;
    }
    Entry* b = *best;
    if (policy == EvictionPolicy::kVolatileTtl) {
      if (e->deadline() < b->deadline()) best = link;
    } else {
      // Ages in the stripe's access clock; the 24-bit difference handles wrap-around.
      uint32_t age_e = (access_clock - e->lru()) & Entry::kLruMask;
      uint32_t age_b = (access_clock - b->lru()) & Entry::kLruMask;
      if (age_e > age_b) best = link;
    }
  };
  auto scan_bucket = [&](size_t b) {
    for (Entry** link = &bucket_heads[b]; *link != nullptr && seen < want;
         link = (*link)->next_link()) {
      consider(link);
    }
  };
  // Consecutive buckets from a random start (as Redis's dictGetSomeKeys): the hash
  // makes neighbours as random as any, and a walk fills the sample even in a sparse
  // stripe. It stops at the sample size, after 16 buckets per wanted key if that
  // found at least one candidate, or after the whole stripe.
  const size_t buckets = stripe.bucket_mask + 1;
  size_t start = NextRandom() & stripe.bucket_mask;
  for (size_t i = 0; i < buckets && seen < want; ++i) {
    if (best != nullptr && i >= 16 * want) break;
    scan_bucket((start + i) & stripe.bucket_mask);
  }
  return best;
}

Entry** Store::Impl::PickSieve(Stripe& stripe) {
  // SIEVE: the hand moves from the oldest key towards the newest. A key visited since
  // the hand last passed keeps its place (its bit is cleared); the first unvisited key
  // is the victim. The queue holds hashes, not pointers, so deletes elsewhere need not
  // touch it: a hash whose key is gone is skipped and compacted away.
  std::vector<uint64_t>& queue = stripe.sieve_queue;
  if (queue.empty()) RebuildSieveQueue(stripe);
  // Two full turns suffice: the first clears every visited bit.
  for (size_t steps = 0; steps < 2 * queue.size() + 2; ++steps) {
    if (stripe.sieve_hand >= queue.size()) {
      CompactSieveQueue(stripe);
      stripe.sieve_hand = 0;
      if (queue.empty()) return nullptr;
    }
    uint64_t hash = queue[stripe.sieve_hand];
    Entry** link = FindByHash(stripe, hash, ~uint64_t{0}, -1);
    if (link == nullptr) {
      queue[stripe.sieve_hand++] = 0;  // a tombstone; the key is gone
      continue;
    }
    if ((*link)->visited()) {
      (*link)->set_visited(false);
      ++stripe.sieve_hand;
      continue;
    }
    queue[stripe.sieve_hand++] = 0;
    return link;
  }
  return nullptr;
}

void Store::Impl::CompactSieveQueue(Stripe& stripe) {
  // Drops tombstones, hashes of keys that are gone, and older copies of a hash (a key
  // deleted and inserted again sits at its latest insertion), keeping FIFO order and the
  // hand on the same key. O(queue), after which the queue holds at most one hash per
  // key; see Upsert for how often.
  std::vector<uint64_t>& queue = stripe.sieve_queue;
  std::vector<bool> keep(queue.size());
  absl::flat_hash_set<uint64_t> seen;
  seen.reserve(stripe.count);
  for (size_t i = queue.size(); i-- > 0;) {
    keep[i] = queue[i] != 0 && seen.insert(queue[i]).second &&
              FindByHash(stripe, queue[i], ~uint64_t{0}, -1) != nullptr;
  }
  size_t out = 0;
  size_t new_hand = 0;
  for (size_t i = 0; i < queue.size(); ++i) {
    if (i == stripe.sieve_hand) new_hand = out;
    if (keep[i]) queue[out++] = queue[i];
  }
  if (stripe.sieve_hand >= queue.size()) new_hand = out;
  queue.resize(out);
  stripe.sieve_hand = new_hand;
  int64_t before = static_cast<int64_t>(queue.capacity());
  if (queue.capacity() > 2 * queue.size() + 16) queue.shrink_to_fit();
  table_.AddMemory((static_cast<int64_t>(queue.capacity()) - before) * 8);
}

void Store::Impl::RebuildSieveQueue(Stripe& stripe) {
  size_t before = stripe.sieve_queue.capacity();
  stripe.sieve_queue.clear();
  stripe.sieve_hand = 0;
  for (size_t b = 0; b <= stripe.bucket_mask; ++b) {
    for (Entry* e = stripe.buckets[b]; e != nullptr; e = e->next()) {
      stripe.sieve_queue.push_back(StripedTable::Hash(e->key()));
    }
  }
  table_.AddMemory(
      (static_cast<int64_t>(stripe.sieve_queue.capacity()) - static_cast<int64_t>(before)) * 8);
}

void Store::Impl::SetEvictionPolicy(EvictionPolicy policy) {
  policy_.store(policy, std::memory_order_relaxed);
  // Stored before the rebuild: an insert that still saw the old policy is covered by
  // the rebuild of its stripe, one that sees the new policy pushes its own hash.
  for (size_t i = 0; i < table_.stripe_count(); ++i) {
    Stripe& stripe = table_.stripe(i);
    MutexLock lock(&stripe.mu);
    if (policy == EvictionPolicy::kAllKeysSieve) {
      RebuildSieveQueue(stripe);
    } else if (!stripe.sieve_queue.empty()) {
      table_.AddMemory(-static_cast<int64_t>(stripe.sieve_queue.capacity()) * 8);
      std::vector<uint64_t>().swap(stripe.sieve_queue);
      stripe.sieve_hand = 0;
    }
  }
}

// --- Replication entry points ---

Status Store::Impl::ApplyBatch(std::span<const Mutation> batch, uint64_t stream_offset) {
  bool flush = false;
  for (const Mutation& m : batch) {
    if (m.kind == MutationKind::kFlushAll) {
      flush = true;
      continue;
    }
    if (m.kind == MutationKind::kCollection) {
      if (m.effect.size() < 2 || m.effect[1] != m.key) {
        return Status::Corruption("collection effect without its key");
      }
      MIRRORKV_ASSIGN_OR_RETURN(KeyType type, internal::ValidateEffect(m.effect));
      if (type == KeyType::kNone) return Status::Corruption("unknown collection effect");
      for (std::string_view arg : m.effect) MIRRORKV_RETURN_IF_ERROR(CheckSizes(m.key, arg));
      continue;
    }
    MIRRORKV_RETURN_IF_ERROR(CheckSizes(m.key, m.value));
    if (m.expire_at_ms < 0 || m.expire_at_ms > Entry::kMaxDeadline) {
      return Status::InvalidArgument("deadline out of range");
    }
  }
  if (batch.size() == 1 && !flush) {
    // The common case, a single command of the stream: one stripe, no allocation.
    const Mutation& m = batch[0];
    if (m.kind == MutationKind::kCollection && BelowReplayFloor(m.key, stream_offset)) {
      return Status::Ok();
    }
    Stripe& stripe = table_.StripeFor(StripedTable::Hash(m.key));
    MutexLock lock(&stripe.mu);
    if (ApplyLocked(m)) Report(batch);
    return Status::Ok();
  }
  std::vector<size_t> order;
  if (flush) {
    LockAllStripes();
  } else {
    order.reserve(batch.size());
    for (const Mutation& m : batch) order.push_back(table_.StripeIndex(StripedTable::Hash(m.key)));
    order = LockOrder(std::move(order));
    LockStripes(order);
  }
  std::vector<Mutation> effective;
  for (const Mutation& m : batch) {
    // Every mutation of a MULTI block carries the block's offset: a snapshot copied
    // each stripe either before the whole block or after it (the block was logged with
    // all its stripes locked), so this decides each key right (docs/design.md).
    if (m.kind == MutationKind::kCollection && BelowReplayFloor(m.key, stream_offset)) continue;
    // The caller's views stay valid for the call, unlike the entries' (a later mutation
    // of the batch may replace an entry).
    if (ApplyLocked(m) && reporting()) effective.push_back(m);
  }
  if (!effective.empty()) Report(effective);
  if (flush) {
    UnlockAllStripes();
  } else {
    UnlockStripes(order);
  }
  return Status::Ok();
}

bool Store::Impl::ApplyLocked(const Mutation& m) {
  if (m.kind == MutationKind::kFlushAll) {
    ForgetReplayFloor({}, /*all=*/true);
    ClearAllLocked();
    return true;
  }
  uint64_t hash = StripedTable::Hash(m.key);
  Stripe& stripe = table_.StripeFor(hash);
  if (m.kind == MutationKind::kCollection) return ApplyEffectLocked(stripe, m);
  // A whole-key write replaces whatever a snapshot copied: the effects after it apply.
  if (m.kind == MutationKind::kSet || m.kind == MutationKind::kDelete) {
    ForgetReplayFloor(m.key, /*all=*/false);
  }
  // Expired entries are still entries here: the primary decides when they go.
  Entry** link = StripedTable::FindLink(stripe, hash, m.key);
  switch (m.kind) {
    case MutationKind::kSet:
      Upsert(stripe, link, hash, m.key, m.value, m.expire_at_ms);
      return true;
    case MutationKind::kDelete:
      if (link == nullptr) return false;
      table_.Erase(stripe, link);
      return true;
    case MutationKind::kExpireAt:
      if (link == nullptr || m.expire_at_ms <= 0) return false;
      ChangeDeadline(stripe, link, hash, m.expire_at_ms);
      return true;
    case MutationKind::kPersist:
      if (link == nullptr || !(*link)->has_expiry()) return false;
      ChangeDeadline(stripe, link, hash, 0);
      return true;
    case MutationKind::kFlushAll:
    case MutationKind::kCollection:
      break;  // handled above
  }
  return false;
}

Status Store::Impl::SwapContents(Impl& source) {
  if (&source == this) return Status::Ok();
  if (source.table_.stripe_count() != table_.stripe_count()) {
    return Status::InvalidArgument("SwapContents needs stores with the same stripe count");
  }
  LockAllStripes();
  source.LockAllStripes();
  table_.SwapContents(source.table_);
  {
    MutexLock floors(&floors_mu_);
    MutexLock source_floors(&source.floors_mu_);
    floors_.swap(source.floors_);
    std::swap(max_floor_, source.max_floor_);
    has_floors_.store(!floors_.empty(), std::memory_order_relaxed);
    source.has_floors_.store(!source.floors_.empty(), std::memory_order_relaxed);
  }
  // SIEVE queues follow the entries; rebuild where the policies differ.
  bool sieve = policy_.load(std::memory_order_relaxed) == EvictionPolicy::kAllKeysSieve;
  for (size_t i = 0; i < table_.stripe_count(); ++i) {
    Stripe& stripe = table_.stripe(i);
    if (sieve && stripe.sieve_queue.empty() && stripe.count > 0) RebuildSieveQueue(stripe);
  }
  source.UnlockAllStripes();
  UnlockAllStripes();
  return Status::Ok();
}

void Store::Impl::SetReplicationSink(MutationListener* sink) {
  LockAllStripes();
  sink_ = sink;
  UnlockAllStripes();
}

void Store::Impl::SetReplicaMode(bool replica) {
  replica_.store(replica, std::memory_order_relaxed);
}

Status Store::Impl::ClaimReplicationRole(std::string_view holder) {
  MutexLock lock(&holder_mu_);
  if (!holder_.empty()) {
    return Status::FailedPrecondition(
        "the Store is already held by " + holder_ +
        "; a Store has at most one Primary or Replica (destroy it first)");
  }
  holder_ = std::string(holder);
  return Status::Ok();
}

void Store::Impl::TransferReplicationRole(std::string_view holder) {
  MutexLock lock(&holder_mu_);
  holder_ = std::string(holder);
}

void Store::Impl::ReleaseReplicationRole() {
  MutexLock lock(&holder_mu_);
  holder_.clear();
}

Status Store::Impl::LeaveReplicaMode() {
  MutexLock lock(&holder_mu_);
  if (!holder_.empty() && replica()) {
    return Status::FailedPrecondition(
        "the Store is held by " + holder_ +
        "; stop following with Replica::Promote or by destroying the Replica");
  }
  SetReplicaMode(false);
  return Status::Ok();
}

}  // namespace mirrorkv
