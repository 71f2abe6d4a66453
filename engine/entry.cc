// Entry encoding; the bytes come from the stripe's EntryArena.
#include "engine/entry.h"

#include "engine/base/check.h"

namespace mirrorkv::internal {
namespace {

size_t VarintBytes(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

char* EncodeVarint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

}  // namespace

size_t Entry::BodyBytes(size_t key_size, size_t value_size, bool has_expiry) {
  return (has_expiry ? 8 : 0) + VarintBytes(key_size) + VarintBytes(value_size) + key_size +
         value_size;
}

size_t Entry::AllocationSize(size_t key_size, size_t value_size, bool has_expiry) {
  return EntryArena::ClassBytes(kHeaderBytes + BodyBytes(key_size, value_size, has_expiry));
}

Entry* Entry::Create(EntryArena& arena, std::string_view key, std::string_view value,
                     int64_t deadline_ms, uint8_t epoch, size_t* allocated_bytes) {
  size_t n = kHeaderBytes + BodyBytes(key.size(), value.size(), deadline_ms > 0);
  auto* entry = static_cast<Entry*>(arena.Allocate(n, allocated_bytes));
  entry->next_ = nullptr;
  entry->meta_ = 0;
  entry->WriteBody(key, value, deadline_ms, epoch);
  return entry;
}

Entry* Entry::CreateCollection(EntryArena& arena, std::string_view key, Collection* collection,
                               int64_t deadline_ms, uint8_t epoch, size_t* allocated_bytes) {
  MIRRORKV_DCHECK(collection != nullptr);
  char pointer[sizeof(collection)];
  std::memcpy(pointer, &collection, sizeof(collection));
  Entry* entry =
      Create(arena, key, {pointer, sizeof(pointer)}, deadline_ms, epoch, allocated_bytes);
  entry->meta_ |= static_cast<uint32_t>(collection->type()) << kTypeShift;
  *allocated_bytes += collection->bytes();
  return entry;
}

size_t Entry::Destroy(EntryArena& arena, Entry* entry) {
  const size_t entry_bytes = EntryArena::UsableBytes(entry, entry->LayoutBytes());
  size_t collection_bytes = 0;
  if (!entry->is_string()) {
    Collection* collection = entry->collection();
    collection_bytes = collection->bytes();
    Collection::Destroy(collection);
  }
  // The arena finds the slot's class from the entry's own bytes only.
  arena.Free(entry, entry_bytes);
  return entry_bytes + collection_bytes;
}

void Entry::WriteBody(std::string_view key, std::string_view value, int64_t deadline_ms,
                      uint8_t epoch) {
  MIRRORKV_DCHECK(deadline_ms >= 0 && deadline_ms <= kMaxDeadline);
  char* body = reinterpret_cast<char*>(this) + kHeaderBytes;
  bool has_expiry = deadline_ms > 0;
  char* key_at = body + (has_expiry ? 8 : 0) + VarintBytes(key.size()) + VarintBytes(value.size());
  // The key first: when rewriting in place, `key` points at the key's old position, which
  // the new deadline word or lengths may overlap. memmove copes with the overlap of the
  // old and new key positions themselves.
  std::memmove(key_at, key.data(), key.size());
  if (has_expiry) {
    meta_ |= kHasExpiry;
    set_deadline(deadline_ms, epoch);
  } else {
    meta_ &= ~kHasExpiry;
  }
  char* p = body + (has_expiry ? 8 : 0);
  p = EncodeVarint(p, key.size());
  EncodeVarint(p, value.size());
  if (!value.empty()) std::memcpy(key_at + key.size(), value.data(), value.size());
}

bool Entry::TryRewrite(std::string_view value, int64_t deadline_ms, uint8_t epoch) {
  std::string_view old_key = key();
  size_t n = kHeaderBytes + BodyBytes(old_key.size(), value.size(), deadline_ms > 0);
  if (!EntryArena::FitsInPlace(this, LayoutBytes(), n)) return false;
  // The key view aliases this entry: WriteBody moves it with memmove before writing
  // the value after it.
  WriteBody(old_key, value, deadline_ms, epoch);
  return true;
}

}  // namespace mirrorkv::internal
