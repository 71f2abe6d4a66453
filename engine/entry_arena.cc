// EntryArena: size-class pages with intrusive free lists.
//
// A page is kPageBytes aligned to kPageBytes, so a slot finds its page by masking its
// address. The page header holds the free list, the live count and the links of the
// class's partial-page list. A full page is on no list; it rejoins the front of its
// class's list when a slot is freed, so allocation favours pages that are already
// partly used and lets nearly empty pages drain and be returned.
#include "engine/entry_arena.h"

#include <cstdlib>
#include <utility>

#if defined(MIRRORKV_SANITIZE_ADDRESS) || defined(MIRRORKV_SANITIZE_THREAD)
#define MIRRORKV_ARENA_USES_MALLOC 1
#endif

#include <malloc.h>
#include <sys/mman.h>

#include <algorithm>
#include <vector>

#include "engine/base/check.h"
#include "engine/base/mutex.h"

namespace mirrorkv::internal {

struct EntryArena::Page {
  Page* prev;
  Page* next;
  void* free_list;  // singly linked through the first 8 bytes of each free slot
  uint32_t live;
  uint32_t capacity;
  // Slots follow, starting at the first multiple of 8 after the header.
};

namespace {

// Page header size, rounded so that slots stay 8-byte aligned.
[[maybe_unused]] constexpr size_t kHeaderBytes = 32;  // unused when entries use malloc

// Where pages come from: mmap'd chunks of kPagesPerChunk pages, shared by every arena of
// the process. Memory from mmap is page-aligned by construction; aligned_alloc would
// leave most of a 4 KiB alignment gap unused next to every page. Chunks are mapped with
// MAP_POPULATE: faulting pages in one by one on first use made loading a snapshot
// several times slower (measured, docs/benchmarks.md). Freed pages stay resident for
// reuse up to kRetainedPages; beyond that, the surplus is returned to the OS
// (MADV_DONTNEED) in address order, one call per contiguous run, so that freeing a large
// store costs a few system calls rather than one per page. One mutex guards the pool: it
// is taken once per page, i.e. about once per 85 small inserts or deletes.
class PagePool {
 public:
  static PagePool& Get() {
    static PagePool* const pool = new PagePool();  // never destroyed: arenas may outlive exit
    return *pool;
  }

  void* Take() {
    MutexLock lock(&mu_);
    if (resident_.empty() && released_.empty()) {
      void* chunk = mmap(nullptr, kPagesPerChunk * EntryArena::kPageBytes, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
      MIRRORKV_CHECK(chunk != MAP_FAILED);
      for (size_t i = kPagesPerChunk; i-- > 0;) {
        resident_.push_back(static_cast<char*>(chunk) + i * EntryArena::kPageBytes);
      }
    }
    std::vector<char*>& from = resident_.empty() ? released_ : resident_;
    char* page = from.back();
    from.pop_back();
    return page;
  }

  void Give(void* page) {
    MutexLock lock(&mu_);
    resident_.push_back(static_cast<char*>(page));
    if (resident_.size() <= 2 * kRetainedPages) return;
    // Keep the most recently freed kRetainedPages; release the rest in runs.
    std::vector<char*> surplus(resident_.begin(), resident_.end() - kRetainedPages);
    resident_.erase(resident_.begin(), resident_.end() - kRetainedPages);
    std::sort(surplus.begin(), surplus.end());
    for (size_t i = 0; i < surplus.size();) {
      size_t j = i + 1;
      while (j < surplus.size() && surplus[j] == surplus[j - 1] + EntryArena::kPageBytes) ++j;
      madvise(surplus[i], (j - i) * EntryArena::kPageBytes, MADV_DONTNEED);
      i = j;
    }
    released_.insert(released_.end(), surplus.begin(), surplus.end());
  }

 private:
  static constexpr size_t kPagesPerChunk = 256;   // 1 MiB per mmap
  static constexpr size_t kRetainedPages = 2048;  // 8 MiB kept resident for reuse

  Mutex mu_;
  std::vector<char*> resident_ ABSL_GUARDED_BY(mu_);  // free, still backed by memory
  std::vector<char*> released_ ABSL_GUARDED_BY(mu_);  // free, returned to the OS
};

}  // namespace

EntryArena::~EntryArena() {
  // Every slot must have been freed by the owner; pages left are the spares and any
  // partial pages of a table that was never cleared (a bug caught in debug builds).
  for (size_t c = 0; c < kClasses; ++c) {
    MIRRORKV_DCHECK(partial_[c] == nullptr || partial_[c]->live == 0);
    for (Page* p = partial_[c]; p != nullptr;) {
      Page* next = p->next;
      PagePool::Get().Give(p);
      p = next;
    }
    if (spare_[c] != nullptr) PagePool::Get().Give(spare_[c]);
  }
}

EntryArena::EntryArena(EntryArena&& other) noexcept { Swap(other); }

EntryArena& EntryArena::operator=(EntryArena&& other) noexcept {
  Swap(other);
  return *this;
}

void EntryArena::Swap(EntryArena& other) noexcept {
  std::swap(partial_, other.partial_);
  std::swap(spare_, other.spare_);
  std::swap(reserved_bytes_, other.reserved_bytes_);
}

void EntryArena::Unlink(size_t cls, Page* page) {
  if (page->prev != nullptr) page->prev->next = page->next;
  if (page->next != nullptr) page->next->prev = page->prev;
  if (partial_[cls] == page) partial_[cls] = page->next;
  page->prev = page->next = nullptr;
}

void EntryArena::PushFront(size_t cls, Page* page) {
  page->prev = nullptr;
  page->next = partial_[cls];
  if (page->next != nullptr) page->next->prev = page;
  partial_[cls] = page;
}

void* EntryArena::Allocate(size_t n, size_t* usable) {
#ifndef MIRRORKV_ARENA_USES_MALLOC
  static_assert(sizeof(Page) <= kHeaderBytes);
  if (n <= kMaxSlabBytes) {
    size_t size = ClassBytes(n);
    size_t cls = size / kClassStep - 1;
    Page* page = partial_[cls];
    if (page == nullptr) {
      page = std::exchange(spare_[cls], nullptr);
      if (page == nullptr) {
        page = static_cast<Page*>(PagePool::Get().Take());
        reserved_bytes_ += kPageBytes;
        page->live = 0;
        page->capacity = static_cast<uint32_t>((kPageBytes - kHeaderBytes) / size);
        // Thread the free list through every slot, lowest address first.
        char* first = reinterpret_cast<char*>(page) + kHeaderBytes;
        for (uint32_t i = 0; i < page->capacity; ++i) {
          void* next = i + 1 < page->capacity ? first + (i + 1) * size : nullptr;
          *reinterpret_cast<void**>(first + i * size) = next;
        }
        page->free_list = first;
      }
      PushFront(cls, page);
    }
    void* slot = page->free_list;
    page->free_list = *static_cast<void**>(slot);
    if (++page->live == page->capacity) Unlink(cls, page);
    *usable = size;
    return slot;
  }
#endif
  void* p = std::malloc(n);
  MIRRORKV_CHECK(p != nullptr);
  *usable = malloc_usable_size(p);
  reserved_bytes_ += *usable;
  return p;
}

size_t EntryArena::UsableBytes(const void* p, size_t n) {
#ifndef MIRRORKV_ARENA_USES_MALLOC
  if (n <= kMaxSlabBytes) return ClassBytes(n);
#endif
  return malloc_usable_size(const_cast<void*>(p));
}

bool EntryArena::FitsInPlace(const void* p, size_t old_n, size_t new_n) {
#ifndef MIRRORKV_ARENA_USES_MALLOC
  if (old_n <= kMaxSlabBytes || new_n <= kMaxSlabBytes) {
    // A slot must stay in its class: Free finds the class from the entry's size.
    return old_n <= kMaxSlabBytes && new_n <= kMaxSlabBytes &&
           ClassBytes(old_n) == ClassBytes(new_n);
  }
#endif
  return new_n <= malloc_usable_size(const_cast<void*>(p));
}

void EntryArena::Free(void* p, size_t usable) {
#ifndef MIRRORKV_ARENA_USES_MALLOC
  if (usable <= kMaxSlabBytes) {
    size_t cls = usable / kClassStep - 1;
    auto* page = reinterpret_cast<Page*>(reinterpret_cast<uintptr_t>(p) & ~(kPageBytes - 1));
    bool was_full = page->live == page->capacity;
    *static_cast<void**>(p) = page->free_list;
    page->free_list = p;
    --page->live;
    if (was_full) {
      PushFront(cls, page);
    } else if (page->live == 0) {
      Unlink(cls, page);
      if (spare_[cls] == nullptr) {
        spare_[cls] = page;
      } else {
        PagePool::Get().Give(page);
        reserved_bytes_ -= kPageBytes;
      }
    }
    return;
  }
#endif
  reserved_bytes_ -= usable;
  std::free(p);
}

}  // namespace mirrorkv::internal
