// Entry: the single allocation that holds one key, its value and its metadata.
//
// Layout (all multi-byte fields little-endian, unaligned; see docs/design.md):
//
//   offset 0   Entry* next          chain link within the bucket
//   offset 8   uint32 meta          bits 0-23: LRU stamp (the stripe's access clock)
//                                   bits 24-31: flags (kHasExpiry, kVisited) and
//                                   the value's type (bits 26-28, kTypeShift)
//   offset 12  [uint64 expiry]      only if kHasExpiry: bits 0-55 deadline (Unix ms),
//                                   bits 56-63 the TTL-wheel epoch (see store_impl.cc)
//   then       varint key length, varint value length, key bytes, value bytes
//
// A 16-byte key with a 16-byte value takes 12 + 2 + 32 = 46 bytes, which the stripe's
// EntryArena serves from its 48-byte class with no per-object header: glibc malloc would
// use a 64-byte chunk. The deadline costs 8 bytes only for keys that have one.
//
// A collection entry (list, set, hash, sorted set) holds in place of the value bytes an
// 8-byte pointer to its Collection (engine/collection.h), which it owns: Destroy frees
// it. The string path never looks at the type bits beyond one test.
//
// Entries are created and destroyed only by these functions; they are never copied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "engine/collection.h"
#include "engine/entry_arena.h"
#include "mirrorkv/collections.h"

namespace mirrorkv::internal {

class Entry {
 public:
  static constexpr uint32_t kHasExpiry = 1u << 24;
  static constexpr uint32_t kVisited = 1u << 25;
  static constexpr uint32_t kLruMask = (1u << 24) - 1;
  static constexpr int kTypeShift = 26;
  static constexpr uint32_t kTypeMask = 7u << kTypeShift;
  static constexpr int64_t kMaxDeadline = (int64_t{1} << 56) - 1;

  // Allocates from `arena` an entry holding key and value, with a deadline when
  // deadline_ms > 0. `*allocated_bytes` receives the bytes reserved (for accounting).
  // Never returns null (allocation failure aborts).
  static Entry* Create(EntryArena& arena, std::string_view key, std::string_view value,
                       int64_t deadline_ms, uint8_t epoch, size_t* allocated_bytes);
  // Allocates an entry holding `key` and owning `collection` (which must not be null),
  // whose bytes are counted in `*allocated_bytes` too.
  static Entry* CreateCollection(EntryArena& arena, std::string_view key, Collection* collection,
                                 int64_t deadline_ms, uint8_t epoch, size_t* allocated_bytes);
  // Returns `entry` to `arena`, which must be the one it came from, frees its collection
  // if it owns one, and returns the bytes both had reserved.
  static size_t Destroy(EntryArena& arena, Entry* entry);
  // The bytes an entry with these sizes would reserve, for eviction's estimate.
  static size_t AllocationSize(size_t key_size, size_t value_size, bool has_expiry);

  // Rewrites value and deadline in place when the new layout fits in this entry's
  // allocation, returning true; returns false (entry untouched) when it does not.
  // `value` must not point into this entry.
  bool TryRewrite(std::string_view value, int64_t deadline_ms, uint8_t epoch);
  // The bytes this entry's layout needs (what it would request from the arena).
  size_t LayoutBytes() const {
    std::string_view k = key();
    return kHeaderBytes + BodyBytes(k.size(), value().size(), has_expiry());
  }

  Entry* next() const { return next_; }
  void set_next(Entry* next) { next_ = next; }
  // The address of the `next` field, so a chain can be edited through links.
  Entry** next_link() { return &next_; }

  std::string_view key() const {
    const char* p = Lengths();
    uint64_t key_size = DecodeVarint(&p);
    DecodeVarint(&p);
    return {p, key_size};
  }
  std::string_view value() const {
    const char* p = Lengths();
    uint64_t key_size = DecodeVarint(&p);
    uint64_t value_size = DecodeVarint(&p);
    return {p + key_size, value_size};
  }

  // kString for a string entry; the collection's type otherwise.
  KeyType type() const {
    uint32_t bits = (meta_ & kTypeMask) >> kTypeShift;
    return bits == 0 ? KeyType::kString : static_cast<KeyType>(bits);
  }
  bool is_string() const { return (meta_ & kTypeMask) == 0; }
  // The owned collection; only for an entry whose type is not kString.
  Collection* collection() const {
    Collection* c;
    std::memcpy(&c, value().data(), sizeof(c));
    return c;
  }
  // Gives the collection up without freeing it: the entry becomes a string entry whose
  // value bytes are meaningless, ready for Destroy. Used when an entry is reallocated
  // and another takes the collection over.
  void release_collection() { meta_ &= ~kTypeMask; }
  // Makes this entry own `collection` instead of the one it had: the caller frees the
  // old one (or handed it on).
  void set_collection(Collection* collection) {
    std::memcpy(const_cast<char*>(value().data()), &collection, sizeof(collection));
  }

  bool has_expiry() const { return meta_ & kHasExpiry; }
  // The deadline in Unix ms, or 0 when the entry has none.
  int64_t deadline() const {
    if (!has_expiry()) return 0;
    return static_cast<int64_t>(ExpiryWord() & kMaxDeadline);
  }
  uint8_t epoch() const { return has_expiry() ? static_cast<uint8_t>(ExpiryWord() >> 56) : 0; }
  // Whether the deadline has passed at `now_ms`.
  bool ExpiredAt(int64_t now_ms) const { return has_expiry() && deadline() <= now_ms; }

  uint32_t lru() const { return meta_ & kLruMask; }
  void set_lru(uint32_t stamp) { meta_ = (meta_ & ~kLruMask) | (stamp & kLruMask); }
  bool visited() const { return meta_ & kVisited; }
  void set_visited(bool visited) { meta_ = visited ? (meta_ | kVisited) : (meta_ & ~kVisited); }

  // Sets the deadline of an entry that already has one (the layout stays the same).
  void set_deadline(int64_t deadline_ms, uint8_t epoch) {
    uint64_t word =
        (static_cast<uint64_t>(deadline_ms) & kMaxDeadline) | (static_cast<uint64_t>(epoch) << 56);
    std::memcpy(reinterpret_cast<char*>(this) + kHeaderBytes, &word, sizeof(word));
  }

  static uint64_t DecodeVarint(const char** p) {
    uint64_t result = 0;
    for (int shift = 0;; shift += 7) {
      uint8_t byte = static_cast<uint8_t>(*(*p)++);
      result |= uint64_t{byte & 0x7fu} << shift;
      if (byte < 0x80) return result;
    }
  }

 private:
  static constexpr size_t kHeaderBytes = 12;  // next + meta, without padding

  Entry() = delete;

  uint64_t ExpiryWord() const {
    uint64_t word;
    std::memcpy(&word, reinterpret_cast<const char*>(this) + kHeaderBytes, sizeof(word));
    return word;
  }
  const char* Lengths() const {
    return reinterpret_cast<const char*>(this) + kHeaderBytes + (has_expiry() ? 8 : 0);
  }
  // Writes the part after the header: expiry word, lengths, key, value.
  void WriteBody(std::string_view key, std::string_view value, int64_t deadline_ms, uint8_t epoch);
  static size_t BodyBytes(size_t key_size, size_t value_size, bool has_expiry);

  Entry* next_;
  uint32_t meta_;
  // The body follows at offset kHeaderBytes, overlapping the struct's tail padding.
};

}  // namespace mirrorkv::internal
