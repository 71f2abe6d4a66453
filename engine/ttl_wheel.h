// TtlWheel: the hierarchical timing wheel behind active TTL expiry. The striped table keeps
// one per lock stripe, guarded by that stripe's mutex; the store's expiry thread advances each
// wheel and deletes the keys it hands back. Lazy expiry on access does not involve the wheel.
//
// How it works (after Varghese & Lauck's hierarchical timing wheels, with a bitmap of occupied
// slots per level as in the Linux and Tokio timer wheels):
//
// Time is cut into ticks of `tick_ms`. An item belongs to the first tick boundary at or after
// its deadline, so it is never handed out early and at most one tick late. A tick number is a
// 64-bit value read as 11 groups of 6 bits (group 0 is the low 6 bits, group 10 the top 4).
// Level L has 64 slots, one per value of group L. The wheel keeps its current tick, `elapsed_`.
// An item goes to the level of the highest group in which its tick differs from `elapsed_`, in
// the slot named by its own value of that group; an item at or before `elapsed_` goes to
// level 0, slot `elapsed_`. Level 0 thus holds the current 64-tick span, level 1 the rest of
// the current 4096-tick span, and so on: every item at a lower level is due before every item
// at a higher one, and inside a level no occupied slot lies behind `elapsed_`. The earliest
// item is therefore in the first occupied slot of the lowest non-empty level, which two
// count-trailing-zeros find whatever the gap in time.
//
// Advance repeats one step until its budget is spent or the earliest slot starts after `now`.
// The step moves `elapsed_` to the start of the earliest slot. If that slot is on level 0,
// all its items are due and it hands one out. Otherwise it empties the slot and inserts its
// items again relative to the new `elapsed_`, which puts each one on a strictly lower level
// (a cascade). When nothing more is due, `elapsed_` jumps straight to `now`. Time moves from
// one occupied slot to the next, so an idle hour or a fake clock skipping years costs a few
// slot visits plus the items actually moved, never a loop over ticks.
//
// The 11 levels span all 2^64 ticks, so no deadline is beyond the top level and no overflow
// list is needed. A level's 64 slots are allocated only while it holds items, and a slot's
// vector only while the slot is occupied, so an empty wheel owns no heap memory.
//
// Work per call: an Advance that delivers n items visits at most (n + 1) * kLevels slots,
// because each visit either delivers an item or cascades a slot, and the cascades between two
// deliveries go to strictly lower levels. The items moved by one cascade are not bounded per
// call (one slot may hold many items), but an item inserted at level L is moved at most L
// times in its life, so cascading costs amortized O(kLevels) moves per Schedule.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace mirrorkv::internal {

// A hierarchical timing wheel of opaque (id, deadline) items.
//
// Not thread-safe (thread-compatible): the owner serializes every call, in the store by holding
// the stripe's mutex. Ids are never interpreted and may repeat. There is no removal: when a key
// is deleted or its TTL changes, its old item stays and is delivered at its deadline, and the
// caller drops it after checking the table.
class TtlWheel {
 public:
  struct Item {
    uint64_t id;
    int64_t deadline_ms;
  };

  // Levels of 64 slots; 11 * 6 bits covers every 64-bit tick number.
  static constexpr int kLevels = 11;
  static constexpr int kSlotBits = 6;
  static constexpr int kSlots = 1 << kSlotBits;

  // `now_ms` is the current time (Unix ms, though any monotonic ms scale works); the wheel
  // starts there. `tick_ms` (>= 1, else a CHECK failure) is the resolution: an item is
  // delivered at most `tick_ms` - 1 ms after its deadline. The default of 1 ms makes delivery
  // exact, matching Redis's millisecond TTLs; a big time jump costs the same at any tick, and a
  // coarser tick only saves about one cascade per item per factor of 64.
  explicit TtlWheel(int64_t now_ms, int64_t tick_ms = 1);

  TtlWheel(const TtlWheel&) = delete;
  TtlWheel& operator=(const TtlWheel&) = delete;
  // Moving takes the items and the time; the moved-from wheel is left empty and usable.
  TtlWheel(TtlWheel&& other) noexcept;
  TtlWheel& operator=(TtlWheel&& other) noexcept;
  ~TtlWheel() = default;

  // Adds an item; any int64 deadline is accepted. A deadline at or before the wheel's current
  // time (the largest `now_ms` seen so far) is due at the next Advance, whatever `now_ms` that
  // Advance is given. O(1); may allocate (a slot's vector, or a level's slot array).
  // May be called from inside an Advance callback.
  void Schedule(uint64_t id, int64_t deadline_ms);

  // Moves the wheel's time forward to `now_ms` and calls `due(const Item&)` for items whose
  // deadline has passed, at most `max_items` times. Returns the number of calls made.
  //
  // - Time never goes back: a `now_ms` below one seen before only delivers what was already
  //   due at that earlier, larger time.
  // - An item is never delivered before its deadline (deadline_ms <= now_ms) and, when the
  //   budget allows, is delivered by the first Advance whose `now_ms` is at least
  //   deadline_ms + tick_ms - 1 (exactly at its deadline with the default 1 ms tick).
  //   `now_ms` = INT64_MAX delivers every item.
  // - If the budget runs out, the items left due are delivered first by the next calls; none
  //   is lost or delivered twice. Within one tick the order is unspecified.
  // - `due` may call Schedule or Clear on this wheel, but not Advance.
  // Work: see "Work per call" at the top of this file.
  template <typename Fn>
  size_t Advance(int64_t now_ms, size_t max_items, Fn&& due);

  // A time before which an Advance would deliver nothing: the deadline tick of the next item
  // if it is in the lowest level, otherwise the start of the earliest occupied slot (a lower
  // bound, after which Advance cascades and the hint becomes tighter). INT64_MAX when empty.
  // A value at or below the last `now_ms` means items are already due (left by a spent budget).
  // For an expiry thread to sleep until; O(1).
  int64_t NextDeadlineHint() const;

  // Items held, stale ones included.
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  int64_t tick_ms() const { return tick_ms_; }

  // Heap bytes owned, for the store's memory accounting: the slot arrays of non-empty levels
  // plus the capacity of every slot vector. Excludes sizeof(TtlWheel) (the owner counts its own
  // footprint) and malloc's per-block overhead. Zero when empty: a slot's vector is freed when
  // the slot empties and a level's array when the level does. O(1).
  size_t MemoryBytes() const { return heap_bytes_; }

  // Drops every item and frees all heap memory (FLUSHALL). The wheel's time is kept.
  void Clear();

 private:
  struct Level {
    uint64_t occupied = 0;  // bit s set iff slots[s] is non-empty
    std::array<std::vector<Item>, kSlots> slots;
  };

  // The earliest occupied slot.
  struct SlotPos {
    int level;
    int slot;
    uint64_t start;  // first tick key the slot covers
  };

  // Tick keys are tick numbers with the sign bit flipped, so unsigned order is time order.
  static constexpr uint64_t kSignBit = uint64_t{1} << 63;
  static uint64_t KeyOfTick(int64_t tick) { return static_cast<uint64_t>(tick) ^ kSignBit; }
  static int64_t TickOfKey(uint64_t key) { return static_cast<int64_t>(key ^ kSignBit); }
  // The key of the tick an item with this deadline is due at (rounding up).
  uint64_t DeadlineKey(int64_t deadline_ms) const;
  // The key of the last tick that has fully begun at `now_ms` (rounding down).
  uint64_t NowKey(int64_t now_ms) const;

  // False if the wheel is empty.
  bool PeekEarliest(SlotPos* pos) const;
  // Removes and returns one item of the level-0 slot at `pos`, which must be due.
  Item PopDue(const SlotPos& pos);
  // Empties the slot at `pos` (level >= 1) and inserts its items on lower levels.
  void Cascade(const SlotPos& pos);
  // Places `item`, whose due tick key is `key`, relative to `elapsed_`.
  void Insert(const Item& item, uint64_t key);
  // Frees the (now empty) slot's vector, and the level if it became empty.
  void ReleaseSlot(int level, int slot);

  int64_t tick_ms_;
  uint64_t elapsed_;    // the wheel's position; every held item is due at or after it
  uint64_t due_until_;  // largest NowKey passed in; >= elapsed_
  size_t size_ = 0;
  size_t heap_bytes_ = 0;
  uint32_t nonempty_levels_ = 0;  // bit L set iff levels_[L] holds items (and is allocated)
  std::array<std::unique_ptr<Level>, kLevels> levels_;
};

template <typename Fn>
size_t TtlWheel::Advance(int64_t now_ms, size_t max_items, Fn&& due) {
  const uint64_t now_key = NowKey(now_ms);
  if (now_key > due_until_) due_until_ = now_key;
  size_t delivered = 0;
  // Each pass looks the earliest slot up again, so `due` may Schedule or Clear freely.
  for (;;) {
    SlotPos pos;
    if (!PeekEarliest(&pos) || pos.start > due_until_) {
      // Nothing is due up to due_until_, so jumping there keeps every slot ahead of elapsed_.
      elapsed_ = due_until_;
      break;
    }
    if (delivered == max_items) break;
    if (pos.level > 0) {
      Cascade(pos);
      continue;
    }
    const Item item = PopDue(pos);
    ++delivered;
    due(static_cast<const Item&>(item));
  }
  return delivered;
}

}  // namespace mirrorkv::internal
