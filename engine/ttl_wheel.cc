// Out-of-line parts of TtlWheel: placing items, finding the earliest slot, cascading and
// freeing. The algorithm and its invariants are described at the top of ttl_wheel.h.

#include "engine/ttl_wheel.h"

#include <bit>
#include <limits>
#include <utility>

#include "engine/base/check.h"

namespace mirrorkv::internal {
namespace {

constexpr int64_t kMaxMs = std::numeric_limits<int64_t>::max();

// Division rounding toward minus and plus infinity (C++ rounds toward zero). `d` >= 1.
int64_t FloorDiv(int64_t n, int64_t d) { return n / d - (n % d < 0 ? 1 : 0); }
int64_t CeilDiv(int64_t n, int64_t d) { return n / d + (n % d > 0 ? 1 : 0); }

// The level an item with tick key `key` belongs to when the wheel is at `elapsed`: the highest
// 6-bit group in which they differ (0 if none). `| (kSlots - 1)` maps "no difference below
// bit 6" to level 0 without a branch.
int LevelFor(uint64_t key, uint64_t elapsed) {
  const uint64_t diff = (key ^ elapsed) | (TtlWheel::kSlots - 1);
  return (static_cast<int>(std::bit_width(diff)) - 1) / TtlWheel::kSlotBits;
}

}  // namespace

TtlWheel::TtlWheel(int64_t now_ms, int64_t tick_ms) : tick_ms_(tick_ms) {
  MIRRORKV_CHECK(tick_ms >= 1);
  elapsed_ = NowKey(now_ms);
  due_until_ = elapsed_;
}

TtlWheel::TtlWheel(TtlWheel&& other) noexcept
    : tick_ms_(other.tick_ms_), elapsed_(other.elapsed_), due_until_(other.due_until_) {
  *this = std::move(other);
}

TtlWheel& TtlWheel::operator=(TtlWheel&& other) noexcept {
  if (this == &other) return *this;
  tick_ms_ = other.tick_ms_;
  elapsed_ = other.elapsed_;
  due_until_ = other.due_until_;
  size_ = std::exchange(other.size_, 0);
  heap_bytes_ = std::exchange(other.heap_bytes_, 0);
  nonempty_levels_ = std::exchange(other.nonempty_levels_, 0);
  levels_ = std::move(other.levels_);
  return *this;
}

uint64_t TtlWheel::DeadlineKey(int64_t deadline_ms) const {
  // Rounding up is what makes delivery never early: the tick's start is >= the deadline.
  return KeyOfTick(tick_ms_ == 1 ? deadline_ms : CeilDiv(deadline_ms, tick_ms_));
}

uint64_t TtlWheel::NowKey(int64_t now_ms) const {
  // A deadline near INT64_MAX can round up to a tick that starts past INT64_MAX, which no
  // now_ms could reach; INT64_MAX itself therefore counts as the last tick, so every item is
  // due then (and at most one tick late, since its deadline is within a tick of INT64_MAX).
  if (now_ms == kMaxMs) return DeadlineKey(kMaxMs);
  return KeyOfTick(tick_ms_ == 1 ? now_ms : FloorDiv(now_ms, tick_ms_));
}

void TtlWheel::Schedule(uint64_t id, int64_t deadline_ms) {
  Insert(Item{id, deadline_ms}, DeadlineKey(deadline_ms));
  ++size_;
}

void TtlWheel::Insert(const Item& item, uint64_t key) {
  int level = 0;
  int slot = static_cast<int>(elapsed_ & (kSlots - 1));
  // At or before elapsed_, the item is due: it joins the level-0 slot of elapsed_, which is
  // always the first slot Advance visits.
  if (key > elapsed_) {
    level = LevelFor(key, elapsed_);
    slot = static_cast<int>((key >> (kSlotBits * level)) & (kSlots - 1));
  }
  std::unique_ptr<Level>& lv = levels_[level];
  if (lv == nullptr) {
    lv = std::make_unique<Level>();
    heap_bytes_ += sizeof(Level);
    nonempty_levels_ |= uint32_t{1} << level;
  }
  std::vector<Item>& v = lv->slots[slot];
  const size_t old_capacity = v.capacity();
  v.push_back(item);
  heap_bytes_ += (v.capacity() - old_capacity) * sizeof(Item);
  lv->occupied |= uint64_t{1} << slot;
}

bool TtlWheel::PeekEarliest(SlotPos* pos) const {
  if (nonempty_levels_ == 0) return false;
  // Items on a lower level are all due before those on a higher one, and within a level no
  // occupied slot lies behind elapsed_, so the lowest set bit needs no rotation.
  const int level = std::countr_zero(nonempty_levels_);
  const Level& lv = *levels_[level];
  MIRRORKV_DCHECK(lv.occupied != 0);
  const int slot = std::countr_zero(lv.occupied);
  // The slot shares every group above `level` with elapsed_.
  const int span_bits = kSlotBits * (level + 1);
  const uint64_t high = span_bits >= 64 ? 0 : elapsed_ & ~((uint64_t{1} << span_bits) - 1);
  pos->level = level;
  pos->slot = slot;
  pos->start = high | (static_cast<uint64_t>(slot) << (kSlotBits * level));
  MIRRORKV_DCHECK(pos->start >= elapsed_);
  return true;
}

TtlWheel::Item TtlWheel::PopDue(const SlotPos& pos) {
  MIRRORKV_DCHECK(pos.level == 0);
  elapsed_ = pos.start;
  std::vector<Item>& v = levels_[0]->slots[pos.slot];
  // Popping from the back keeps this O(1); items within one tick have no order.
  const Item item = v.back();
  v.pop_back();
  --size_;
  if (v.empty()) ReleaseSlot(0, pos.slot);
  return item;
}

void TtlWheel::Cascade(const SlotPos& pos) {
  MIRRORKV_DCHECK(pos.level > 0);
  // Every item in the slot shares the groups from pos.level up with pos.start, so once
  // elapsed_ is there each one lands on a strictly lower level (or is due, at level 0).
  elapsed_ = pos.start;
  std::vector<Item> items = std::move(levels_[pos.level]->slots[pos.slot]);
  heap_bytes_ -= items.capacity() * sizeof(Item);
  ReleaseSlot(pos.level, pos.slot);
  for (const Item& item : items) Insert(item, DeadlineKey(item.deadline_ms));
}

void TtlWheel::ReleaseSlot(int level, int slot) {
  Level& lv = *levels_[level];
  std::vector<Item>& v = lv.slots[slot];
  MIRRORKV_DCHECK(v.empty());
  heap_bytes_ -= v.capacity() * sizeof(Item);
  // Freeing on empty keeps an idle wheel at zero bytes; the cost is one allocation per slot
  // fill, paid for by the items that filled it.
  std::vector<Item>().swap(v);
  lv.occupied &= ~(uint64_t{1} << slot);
  if (lv.occupied == 0) {
    levels_[level].reset();
    heap_bytes_ -= sizeof(Level);
    nonempty_levels_ &= ~(uint32_t{1} << level);
  }
}

int64_t TtlWheel::NextDeadlineHint() const {
  SlotPos pos;
  if (!PeekEarliest(&pos)) return kMaxMs;
  // The slot's first tick in ms, saturated: a tick rounded up from a deadline near INT64_MAX
  // may start past it, and one rounded down from a time near INT64_MIN may start before it.
  const int64_t tick = TickOfKey(pos.start);
  int64_t ms;
  if (__builtin_mul_overflow(tick, tick_ms_, &ms)) {
    return tick > 0 ? kMaxMs : std::numeric_limits<int64_t>::min();
  }
  return ms;
}

void TtlWheel::Clear() {
  for (std::unique_ptr<Level>& lv : levels_) lv.reset();
  nonempty_levels_ = 0;
  size_ = 0;
  heap_bytes_ = 0;
}

}  // namespace mirrorkv::internal
