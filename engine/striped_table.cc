// StripedTable: chains, growth and the reverse-binary cursor.
#include "engine/striped_table.h"

#include <bit>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "engine/base/check.h"

namespace mirrorkv::internal {
namespace {

uint64_t ReverseBits(uint64_t v) {
  v = ((v >> 1) & 0x5555555555555555ull) | ((v & 0x5555555555555555ull) << 1);
  v = ((v >> 2) & 0x3333333333333333ull) | ((v & 0x3333333333333333ull) << 2);
  v = ((v >> 4) & 0x0f0f0f0f0f0f0f0full) | ((v & 0x0f0f0f0f0f0f0f0full) << 4);
  return __builtin_bswap64(v);
}

// A stripe shrinks when fewer than one bucket in kShrinkRatio holds an entry on average;
// the gap to the growth threshold (one entry per bucket) keeps a stripe whose size
// hovers around a power of two from resizing back and forth.
constexpr size_t kShrinkRatio = 8;

}  // namespace

StripedTable::StripedTable(size_t stripe_count, int64_t now_ms)
    : stripe_count_(stripe_count),
      stripe_shift_(64 - std::countr_zero(stripe_count)),
      stripes_(new Stripe[stripe_count]) {
  MIRRORKV_CHECK(std::has_single_bit(stripe_count));
  AddMemory(static_cast<int64_t>(stripe_count * sizeof(Stripe)));
  for (size_t i = 0; i < stripe_count_; ++i) {
    Stripe& s = stripes_[i];
    MutexLock lock(&s.mu);
    s.wheel = TtlWheel(now_ms);
    s.buckets = std::make_unique<Entry*[]>(size_t{1} << kMinBucketBits);
    s.bucket_mask = (size_t{1} << kMinBucketBits) - 1;
    AddMemory(static_cast<int64_t>(BucketArrayBytes(s)));
  }
}

StripedTable::~StripedTable() {
  for (size_t i = 0; i < stripe_count_; ++i) {
    Stripe& s = stripes_[i];
    MutexLock lock(&s.mu);
    Clear(s);
  }
}

uint64_t StripedTable::Hash(std::string_view key) { return XXH3_64bits(key.data(), key.size()); }

Entry** StripedTable::FindLink(Stripe& stripe, uint64_t hash, std::string_view key) {
  Entry** link = &stripe.buckets[hash & stripe.bucket_mask];
  for (; *link != nullptr; link = (*link)->next_link()) {
    if ((*link)->key() == key) return link;
  }
  return nullptr;
}

void StripedTable::Link(Stripe& stripe, uint64_t hash, Entry* entry) {
  Entry*& head = stripe.buckets[hash & stripe.bucket_mask];
  entry->set_next(head);
  head = entry;
}

Entry* StripedTable::Insert(Stripe& stripe, uint64_t hash, std::string_view key,
                            std::string_view value, int64_t deadline_ms, uint8_t epoch) {
  size_t bytes = 0;
  Entry* entry = Entry::Create(stripe.arena, key, value, deadline_ms, epoch, &bytes);
  AddMemory(static_cast<int64_t>(bytes));
  InsertCreated(stripe, hash, entry);
  return entry;
}

void StripedTable::InsertCreated(Stripe& stripe, uint64_t hash, Entry* entry) {
  Link(stripe, hash, entry);
  ++stripe.count;
  if (entry->has_expiry()) ++stripe.with_expiry;
  if (stripe.count > stripe.bucket_mask + 1) {
    Resize(stripe, std::countr_zero(stripe.bucket_mask + 1) + 1);
  }
}

Entry* StripedTable::Replace(Stripe& stripe, Entry** link, std::string_view value,
                             int64_t deadline_ms, uint8_t epoch) {
  Entry* old = *link;
  bool had_expiry = old->has_expiry();
  Entry* entry = old;
  // A caller changing only the deadline passes the entry's own value. If the layout
  // stays the same, only the deadline word changes; otherwise rewriting in place would
  // move the value over itself, so the entry is copied into a new allocation.
  bool same_value = value.data() == old->value().data();
  bool rewritten = false;
  if (same_value && had_expiry == (deadline_ms > 0)) {
    if (had_expiry) old->set_deadline(deadline_ms, epoch);
    rewritten = true;
  } else if (!same_value) {
    rewritten = old->TryRewrite(value, deadline_ms, epoch);
  }
  if (!rewritten) {
    size_t bytes = 0;
    if (old->is_string()) {
      entry = Entry::Create(stripe.arena, old->key(), value, deadline_ms, epoch, &bytes);
    } else {
      // The collection moves to the new entry; its bytes stay counted once.
      Collection* collection = old->collection();
      entry =
          Entry::CreateCollection(stripe.arena, old->key(), collection, deadline_ms, epoch, &bytes);
      bytes -= collection->bytes();
      old->release_collection();
    }
    entry->set_next(old->next());
    entry->set_lru(old->lru());
    entry->set_visited(old->visited());
    *link = entry;
    AddMemory(static_cast<int64_t>(bytes) -
              static_cast<int64_t>(Entry::Destroy(stripe.arena, old)));
  }
  stripe.with_expiry += static_cast<size_t>(entry->has_expiry()) - static_cast<size_t>(had_expiry);
  return entry;
}

void StripedTable::Erase(Stripe& stripe, Entry** link) {
  Entry* entry = *link;
  *link = entry->next();
  --stripe.count;
  if (entry->has_expiry()) --stripe.with_expiry;
  AddMemory(-static_cast<int64_t>(Entry::Destroy(stripe.arena, entry)));
  size_t buckets = stripe.bucket_mask + 1;
  if (buckets > (size_t{1} << kMinBucketBits) && stripe.count * kShrinkRatio < buckets) {
    Resize(stripe, std::countr_zero(buckets) - 1);
  }
}

void StripedTable::Clear(Stripe& stripe) {
  int64_t freed = 0;
  for (size_t b = 0; b <= stripe.bucket_mask; ++b) {
    for (Entry* e = stripe.buckets[b]; e != nullptr;) {
      Entry* next = e->next();
      freed += static_cast<int64_t>(Entry::Destroy(stripe.arena, e));
      e = next;
    }
    stripe.buckets[b] = nullptr;
  }
  AddMemory(-freed);
  stripe.count = 0;
  stripe.with_expiry = 0;
  if (stripe.bucket_mask + 1 > (size_t{1} << kMinBucketBits)) Resize(stripe, kMinBucketBits);
}

void StripedTable::Resize(Stripe& stripe, int bits) {
  size_t old_size = stripe.bucket_mask + 1;
  size_t new_size = size_t{1} << bits;
  std::unique_ptr<Entry*[]> old = std::move(stripe.buckets);
  stripe.buckets = std::make_unique<Entry*[]>(new_size);
  stripe.bucket_mask = new_size - 1;
  // Entries do not store their hash (8 bytes each); rehashing the key is cheaper
  // than the memory, and a resize is rare: amortized O(1) per insert.
  for (size_t b = 0; b < old_size; ++b) {
    for (Entry* e = old[b]; e != nullptr;) {
      Entry* next = e->next();
      Link(stripe, Hash(e->key()), e);
      e = next;
    }
  }
  AddMemory(static_cast<int64_t>((new_size - old_size) * sizeof(Entry*)));
}

void StripedTable::SwapContents(StripedTable& other) {
  MIRRORKV_CHECK(stripe_count_ == other.stripe_count_);
  for (size_t i = 0; i < stripe_count_; ++i) {
    Stripe& a = stripes_[i];
    Stripe& b = other.stripes_[i];
    std::swap(a.arena, b.arena);
    std::swap(a.buckets, b.buckets);
    std::swap(a.bucket_mask, b.bucket_mask);
    std::swap(a.count, b.count);
    std::swap(a.with_expiry, b.with_expiry);
    std::swap(a.access_clock, b.access_clock);
    std::swap(a.next_epoch, b.next_epoch);
    std::swap(a.wheel, b.wheel);
    std::swap(a.sieve_queue, b.sieve_queue);
    std::swap(a.sieve_hand, b.sieve_hand);
  }
  int64_t mine = memory_bytes_.load(std::memory_order_relaxed);
  memory_bytes_.store(other.memory_bytes_.load(std::memory_order_relaxed),
                      std::memory_order_relaxed);
  other.memory_bytes_.store(mine, std::memory_order_relaxed);
}

uint64_t StripedTable::NextCursor(uint64_t cursor, uint64_t mask) {
  // Increment the bits under the mask in reverse order: the cursor then walks buckets
  // so that, when the table doubles or halves between calls, every bucket already
  // visited maps to buckets that the cursor also counts as visited.
  cursor |= ~mask;
  cursor = ReverseBits(cursor);
  ++cursor;
  return ReverseBits(cursor);
}

}  // namespace mirrorkv::internal
