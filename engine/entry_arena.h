// EntryArena: the allocator behind entries, one per stripe, guarded by the stripe lock.
//
// Small entries (up to kMaxSlabBytes) are carved from 4 KiB pages, one page list per size
// class, classes 8 bytes apart. A slot has no header and no rounding beyond 8 bytes, so
// an entry with a 16-byte key and a 16-byte value takes 48 bytes where glibc malloc would
// take a 64-byte chunk. No lock is needed: the stripe's lock already serializes every
// call, which is also why this is not shared across stripes. Larger entries come from
// malloc.
//
// Pages come from a process-wide pool of mmap'd memory and go back to it when their last
// slot is freed (one empty page per class is kept, so an insert/delete cycle at a page
// boundary does not thrash); the pool returns its surplus to the OS (entry_arena.cc).
//
// Sanitizer builds route every allocation to malloc so that ASan sees each entry's
// bounds and frees.
//
// Thread-compatible: the owner serializes calls.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace mirrorkv::internal {

class EntryArena {
 public:
  static constexpr size_t kPageBytes = 4096;
  static constexpr size_t kClassStep = 8;
  static constexpr size_t kMaxSlabBytes = 256;

  EntryArena() = default;
  // Frees every page. Allocations still outstanding from malloc (large ones) are the
  // owner's to free first.
  ~EntryArena();
  EntryArena(const EntryArena&) = delete;
  EntryArena& operator=(const EntryArena&) = delete;
  EntryArena(EntryArena&& other) noexcept;
  EntryArena& operator=(EntryArena&& other) noexcept;

  // The bytes an allocation of `n` bytes actually occupies: its class size, or for
  // large ones what malloc reports at allocation (see Allocate).
  static size_t ClassBytes(size_t n) {
    return n <= kMaxSlabBytes ? (n + kClassStep - 1) / kClassStep * kClassStep : n;
  }

  // Returns `n` bytes, 8-byte aligned. `*usable` receives the bytes reserved: the class
  // size for small requests (the caller must pass the same value to Free), malloc's
  // usable size for large ones. Allocation failure aborts.
  void* Allocate(size_t n, size_t* usable);
  // Frees `p`, which Allocate returned with `usable` reserved bytes.
  void Free(void* p, size_t usable);

  // The `usable` of `p`, an allocation whose owner now needs `n` bytes of it (n was
  // requested, or a rewrite that FitsInPlace changed it to n).
  static size_t UsableBytes(const void* p, size_t n);
  // Whether the allocation `p`, made for `old_n` bytes, may be reused in place for
  // `new_n` bytes without changing its UsableBytes class.
  static bool FitsInPlace(const void* p, size_t old_n, size_t new_n);

  // Bytes in pages held (used and free slots) plus large allocations: what the arena
  // takes from the system. The gap to the sum of `usable` is fragmentation.
  size_t reserved_bytes() const { return reserved_bytes_; }

 private:
  struct Page;
  static constexpr size_t kClasses = kMaxSlabBytes / kClassStep;

  void Unlink(size_t cls, Page* page);
  void PushFront(size_t cls, Page* page);
  void Swap(EntryArena& other) noexcept;

  // Per class, the pages that have at least one free slot, most recently freed-into
  // first; plus one cached empty page.
  std::array<Page*, kClasses> partial_{};
  std::array<Page*, kClasses> spare_{};
  size_t reserved_bytes_ = 0;
};

}  // namespace mirrorkv::internal
