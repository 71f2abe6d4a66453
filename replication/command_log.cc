// CommandLog: encoding, the chunk ring, in-order publication.
#include "replication/command_log.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <limits>
#include <thread>

#include "absl/strings/str_cat.h"
#include "engine/base/check.h"
#include "engine/base/numbers.h"
#include "replication/resp.h"

namespace mirrorkv::internal {
namespace {

// A chunk's `base` while an append is re-claiming it, and before its first use.
constexpr uint64_t kClaiming = std::numeric_limits<uint64_t>::max();
constexpr uint64_t kNeverUsed = kClaiming - 1;

// Spins briefly, then yields: the awaited append or reader is usually mid-memcpy on
// another core, but on a machine with fewer cores than threads it may need this one.
// The CPU's pause hint makes 64 spins last about a microsecond; without it they passed
// in ~50 ns and waiters went on to sched_yield so often (when appends still waited for
// each other) that two writers ran at half the speed.
void Pause(int* spins) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
  if (++*spins < 64) return;
  std::this_thread::yield();
}

uint64_t AlignDown(uint64_t offset, uint64_t unit) { return offset - offset % unit; }

// Calls `emit` with the arguments of the stream command that carries `m`, as an array
// whose size the compiler knows. Inlined, so that it does too.
template <typename Emit>
[[gnu::always_inline]] inline void WithCommand(const Mutation& m, Emit&& emit) {
  switch (m.kind) {
    case MutationKind::kSet:
      if (m.expire_at_ms > 0) {
        char digits[kMaxInt64Digits];
        const std::string_view args[] = {"SET", m.key, m.value, "PXAT",
                                         FormatInt64(m.expire_at_ms, digits)};
        emit(args);
      } else {
        const std::string_view args[] = {"SET", m.key, m.value};
        emit(args);
      }
      return;
    case MutationKind::kDelete: {
      const std::string_view args[] = {"DEL", m.key};
      emit(args);
      return;
    }
    case MutationKind::kExpireAt: {
      char digits[kMaxInt64Digits];
      const std::string_view args[] = {"PEXPIREAT", m.key, FormatInt64(m.expire_at_ms, digits)};
      emit(args);
      return;
    }
    case MutationKind::kPersist: {
      const std::string_view args[] = {"PERSIST", m.key};
      emit(args);
      return;
    }
    case MutationKind::kFlushAll: {
      const std::string_view args[] = {"FLUSHALL"};
      emit(args);
      return;
    }
    case MutationKind::kCollection:
      emit(m.effect);
      return;
  }
}

constexpr std::string_view kMulti[] = {"MULTI"};
constexpr std::string_view kExec[] = {"EXEC"};

// The size of the stream encoding of `batch`; `wrap`: inside MULTI ... EXEC.
size_t EncodedSize(std::span<const Mutation> batch, bool wrap) {
  size_t size = wrap ? CommandSize(std::span(kMulti)) + CommandSize(std::span(kExec)) : 0;
  for (const Mutation& m : batch) {
    WithCommand(m, [&](const auto& args) { size += CommandSize(std::span(args)); });
  }
  return size;
}

// At least EncodedSize(batch), without encoding anything: the arguments' bytes plus
// framing that no command exceeds (the longest, SET k v PXAT ms, frames its five
// arguments in fewer than 128 bytes; MULTI and EXEC take 29).
size_t EncodedSizeBound(std::span<const Mutation> batch) {
  size_t bound = 32;
  for (const Mutation& m : batch) {
    bound += 128 + m.key.size() + m.value.size();
    // A collection effect frames each argument in at most 16 bytes ("$" length CRLF
    // payload CRLF, plus its share of the array header).
    for (std::string_view arg : m.effect) bound += 16 + arg.size();
  }
  return bound;
}

// Writes the encoding of `batch` into memory of at least EncodedSize(batch, wrap) bytes,
// and returns the end of what it wrote.
char* EncodeInto(std::span<const Mutation> batch, bool wrap, char* out) {
  if (wrap) out = WriteCommand(out, std::span(kMulti));
  for (const Mutation& m : batch) {
    WithCommand(m, [&](const auto& args) { out = WriteCommand(out, std::span(args)); });
  }
  if (wrap) out = WriteCommand(out, std::span(kExec));
  return out;
}

// A batch of several mutations is one atomic change on the primary: MULTI ... EXEC makes
// it one on the replica too, as Redis does when a command propagates several. Inside an
// effect group the group's own MULTI ... EXEC does that (they do not nest).
bool NeedsWrap(std::span<const Mutation> batch, bool in_group) {
  return batch.size() > 1 && !in_group;
}

void AppendEncoding(std::span<const Mutation> batch, bool wrap, std::string* out) {
  size_t at = out->size();
  out->resize(at + EncodedSize(batch, wrap));
  EncodeInto(batch, wrap, out->data() + at);
}

// The stream encoding of a one-word command (MULTI, EXEC).
std::string Encoded(std::span<const std::string_view, 1> command) {
  char buffer[32];
  return std::string(buffer, WriteCommand(buffer, std::span<const std::string_view>(command)));
}

// The effect group open on this thread, if any (see CommandLog::BeginGroup).
struct ThreadGroup {
  CommandLog* log = nullptr;
  int depth = 0;
  bool started = false;  // its MULTI is in the stream
};
thread_local ThreadGroup current_group;

}  // namespace

struct CommandLog::Chunk {
  // First offset of the range this chunk holds, kNeverUsed, or kClaiming.
  std::atomic<uint64_t> base{kNeverUsed};
  // Readers copying out of this chunk right now.
  std::atomic<uint32_t> pins{0};
  std::unique_ptr<char[]> data;
};

void EncodeMutations(std::span<const Mutation> batch, std::string* out) {
  AppendEncoding(batch, NeedsWrap(batch, false), out);
}

CommandLog::CommandLog(size_t backlog_bytes, uint64_t start_offset)
    : chunk_count_(std::max<size_t>(2, (backlog_bytes + kChunkBytes - 1) / kChunkBytes)),
      start_offset_(start_offset),
      chunks_(new Chunk[chunk_count_]),
      min_valid_(start_offset),
      reserved_(start_offset),
      published_(start_offset),
      slots_(new WriterSlot[kWriterSlots]) {
  for (size_t i = 0; i < chunk_count_; ++i) chunks_[i].data.reset(new char[kChunkBytes]);
  // The chunk holding the start offset has no append owning its first byte: claim it.
  Claim(AlignDown(start_offset, kChunkBytes));
}

CommandLog::Chunk& CommandLog::ChunkFor(uint64_t base) const {
  return chunks_[(base / kChunkBytes) % chunk_count_];
}

void CommandLog::Claim(uint64_t base) {
  Chunk& chunk = ChunkFor(base);
  // Readers are shut out, and the ones inside are waited for. The seq_cst pair (this
  // store, then the pins load; a reader's pin, then its base load) guarantees that
  // either this sees the reader's pin, or the reader sees kClaiming.
  chunk.base.store(kClaiming, std::memory_order_seq_cst);
  int spins = 0;
  while (chunk.pins.load(std::memory_order_seq_cst) != 0) Pause(&spins);
  chunk.base.store(base, std::memory_order_release);
}

CommandLog::~CommandLog() {
  // The destroying thread's group ends with the log (a REPLICAOF inside the transaction
  // being grouped). No other thread may have a group open on it (see BeginGroup).
  if (current_group.log == this) current_group = {};
  Close();
}

void CommandLog::OnMutations(std::span<const Mutation> batch) {
  // Encoded outside any shared state: on the stack for the usual record of a few dozen
  // bytes (this runs for every write on a primary), else in a buffer that the thread
  // reuses. Encoding first and copying measured cheaper than sizing first and encoding
  // in place: the sizing pass costs more than the copy.
  const bool in_group = current_group.log == this;
  if (in_group && !current_group.started) StartGroup();
  const bool wrap = NeedsWrap(batch, in_group);
  constexpr size_t kStackBytes = 512;
  if (EncodedSizeBound(batch) <= kStackBytes) {
    char encoded[kStackBytes];
    char* end = EncodeInto(batch, wrap, encoded);
    Append({encoded, static_cast<size_t>(end - encoded)});
    return;
  }
  thread_local std::string encoded;
  encoded.clear();
  AppendEncoding(batch, wrap, &encoded);
  Append(encoded);
}

// A group's MULTI goes into the stream with its first change, under that change's stripe
// lock like any record, so the group's records keep their place in every key's order.
// A group that changes nothing leaves nothing in the stream.
void CommandLog::StartGroup() {
  {
    MutexLock lock(&group_mu_);
    ++started_groups_;
  }
  current_group.started = true;
  static const std::string multi = Encoded(kMulti);
  Append(multi);
}

void CommandLog::BeginGroup() {
  if (current_group.log == this) {
    ++current_group.depth;
    return;
  }
  MIRRORKV_CHECK(current_group.log == nullptr);  // one log per thread's group
  current_group = {this, 1, false};
}

void CommandLog::EndGroup() {
  MIRRORKV_CHECK(current_group.log == this);
  if (--current_group.depth > 0) return;
  bool started = current_group.started;
  current_group = {};
  if (!started) return;
  static const std::string exec = Encoded(kExec);
  Append(exec);
  {
    MutexLock lock(&group_mu_);
    --started_groups_;
  }
  group_cv_.SignalAll();
}

uint64_t CommandLog::OffsetOutsideGroups() {
  return *OffsetOutsideGroupsUnless([] { return false; });
}

std::optional<uint64_t> CommandLog::OffsetOutsideGroupsUnless(
    const std::function<bool()>& cancelled) {
  uint64_t offset;
  {
    MutexLock lock(&group_mu_);
    while (started_groups_ > 0) {
      if (cancelled()) return std::nullopt;
      group_cv_.WaitWithTimeout(&group_mu_, std::chrono::milliseconds(10));
    }
    // Every byte reserved so far belongs to a finished group or to no group; the ones
    // reserved from now on come after it.
    offset = reserved_end();
  }
  WaitPublished(offset);
  return offset;
}

uint64_t CommandLog::Append(std::string_view bytes) {
  if (bytes.empty()) return end_offset();
  const size_t slot = AcquireSlot();
  const uint64_t start = reserved_.fetch_add(bytes.size(), std::memory_order_seq_cst);
  const uint64_t end = start + bytes.size();
  slots_[slot].start.store(start, std::memory_order_release);
  // The chunk being written always starts a re-claim of the chunk its range wraps onto,
  // so a range longer than the ring minus one chunk would wait on itself.
  if (bytes.size() > capacity() - kChunkBytes) {
    AppendOversized(start, end);
  } else {
    CopyIn(start, bytes);
  }
  ReleaseSlot(slot);
  WakeWaiters();
  return end;
}

size_t CommandLog::AcquireSlot() {
  // A thread goes back to the slot it had last, whose line is then still in its cache.
  thread_local size_t hint = std::hash<std::thread::id>{}(std::this_thread::get_id());
  int spins = 0;
  for (size_t i = hint;; ++i) {
    const size_t slot = i % kWriterSlots;
    uint64_t idle = kSlotIdle;
    // seq_cst, before the reservation: a reader that loads reserved_ after the
    // reservation then sees this slot taken (see end_offset()).
    if (slots_[slot].start.compare_exchange_strong(idle, kSlotReserving,
                                                   std::memory_order_seq_cst)) {
      hint = slot;
      return slot;
    }
    if (slot == kWriterSlots - 1) Pause(&spins);  // every slot busy: more writers than slots
  }
}

void CommandLog::ReleaseSlot(size_t slot) {
  // Release: the copied bytes are visible to a reader that sees the slot free. seq_cst:
  // ordered before WakeWaiters' load of reader_asleep_.
  slots_[slot].start.store(kSlotIdle, std::memory_order_seq_cst);
}

uint64_t CommandLog::end_offset() const {
  // Every append before the loaded reserved end took its slot before reserving, so the
  // loop below sees it: in its slot, or done (the slot's release then makes its bytes
  // visible). An append only reserving holds the end at the published end known before
  // the loop, which is at most its start: a published end is only ever computed while
  // the append is seen in flight, or from a reserved end loaded before it reserved.
  const uint64_t known = published_.load(std::memory_order_acquire);
  uint64_t end = reserved_.load(std::memory_order_seq_cst);
  for (size_t i = 0; i < kWriterSlots; ++i) {
    const uint64_t start = slots_[i].start.load(std::memory_order_seq_cst);
    if (start == kSlotIdle) continue;
    end = std::min(end, start == kSlotReserving ? known : start);
  }
  // A reader that saw a slot reserving may compute less than another already returned.
  uint64_t seen = known;
  while (end > seen && !published_.compare_exchange_weak(seen, end, std::memory_order_acq_rel)) {
  }
  return std::max(end, seen);
}

void CommandLog::WaitPublished(uint64_t offset) const {
  int spins = 0;
  while (published_.load(std::memory_order_acquire) < offset && end_offset() < offset) {
    Pause(&spins);
  }
}

char* CommandLog::WritableAt(uint64_t pos) {
  const uint64_t capacity = this->capacity();
  const uint64_t base = AlignDown(pos, kChunkBytes);
  Chunk& chunk = ChunkFor(base);
  int spins = 0;
  if (pos == base && chunk.base.load(std::memory_order_acquire) != base) {
    // This append owns the chunk's first byte, so it re-claims the chunk (unless the
    // constructor or an oversized append already did). First, every append into the
    // range the chunk held before must have finished copying; they all precede this
    // one, so waiting for their publication suffices.
    uint64_t old_end = base + kChunkBytes - capacity;  // may wrap: compared below
    if (base + kChunkBytes > start_offset_ + capacity) {
      WaitPublished(old_end);
      // And the retained reader must have copied that range (see Retain).
      while (retained_from_.load(std::memory_order_acquire) < old_end) Pause(&spins);
    }
    Claim(base);
  } else {
    // Another append owns the first byte; it may not have re-claimed the chunk yet.
    while (chunk.base.load(std::memory_order_acquire) != base) Pause(&spins);
  }
  return chunk.data.get() + (pos - base);
}

void CommandLog::CopyIn(uint64_t start, std::string_view bytes) {
  const uint64_t end = start + bytes.size();
  for (uint64_t pos = start; pos < end;) {
    uint64_t n = std::min(end, AlignDown(pos, kChunkBytes) + kChunkBytes) - pos;
    std::memcpy(WritableAt(pos), bytes.data() + (pos - start), n);
    pos += n;
  }
}

void CommandLog::AppendOversized(uint64_t start, uint64_t end) {
  // Nothing of this range is kept; readers before `end` fall out, and offsets keep
  // counting its bytes as Redis does. Unless `end` starts a chunk (the next append then
  // owns its first byte), appends after this one start inside the chunk holding `end`,
  // whose first byte no append writes: it is claimed for them, as the constructor does
  // for the start, once the appends before this one, which may hold that chunk's
  // previous range, are done.
  WaitPublished(start);
  if (end % kChunkBytes != 0) Claim(AlignDown(end, kChunkBytes));
  min_valid_.store(end, std::memory_order_release);
}

uint64_t CommandLog::first_offset() const {
  uint64_t end = end_offset();
  uint64_t floor = min_valid_.load(std::memory_order_acquire);
  // The chunk holding `end` may already be re-claimed by an append in flight, so only
  // the chunks before it are certain: capacity minus one chunk, aligned.
  uint64_t window = capacity() - kChunkBytes;
  uint64_t aligned_end = AlignDown(end, kChunkBytes);
  if (aligned_end > window) floor = std::max(floor, aligned_end - window);
  return std::min(floor, end);
}

Result<size_t> CommandLog::Read(uint64_t from, size_t max_bytes, std::string* out) const {
  uint64_t end = end_offset();
  if (from > end) {
    return Status::InvalidArgument(absl::StrCat("offset ", from, " is beyond the end ", end));
  }
  // Not first_offset(), which is conservative (it gives up the chunk an append may be
  // re-claiming): a retained reader (Retain) must be able to read right up to the chunk
  // the next append waits to re-claim. Each chunk's base, checked under its pin below,
  // tells whether it still holds the range.
  if (from < min_valid_.load(std::memory_order_acquire)) {
    return Status::NotFound(absl::StrCat("offset ", from, " fell out of the backlog"));
  }
  uint64_t to = end - from > max_bytes ? from + max_bytes : end;  // no overflow near 2^64
  size_t appended_before = out->size();
  for (uint64_t pos = from; pos < to;) {
    uint64_t base = AlignDown(pos, kChunkBytes);
    Chunk& chunk = ChunkFor(base);
    chunk.pins.fetch_add(1, std::memory_order_seq_cst);
    if (chunk.base.load(std::memory_order_seq_cst) != base) {
      chunk.pins.fetch_sub(1, std::memory_order_release);
      out->resize(appended_before);
      return Status::NotFound(absl::StrCat("offset ", pos, " fell out of the backlog"));
    }
    uint64_t n = std::min(to, base + kChunkBytes) - pos;
    out->append(chunk.data.get() + (pos - base), n);
    // Release: the copy above happens before an append that re-claims the chunk.
    chunk.pins.fetch_sub(1, std::memory_order_release);
    pos += n;
  }
  return static_cast<size_t>(to - from);
}

bool CommandLog::WaitForData(uint64_t from, std::chrono::milliseconds timeout) const {
  if (end_offset() > from) return true;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  // First two short naps without asking to be woken. Under a steady stream of writes the
  // next bytes come within them, and the appends are spared the futex wake-up they
  // would otherwise pay each time this reader goes to sleep: with one in-process replica
  // following a writer, that wake-up doubled to quadrupled the writer's CPU per SET.
  // The price is latency: the lag p50 at 200K writes/s went from ~75 to ~120 µs (p99
  // 0.53 -> 0.62 ms). Only a reader that found nothing for that long sleeps until an
  // append wakes it.
  constexpr int kNaps = 2;
  constexpr auto kNap = std::chrono::microseconds(50);
  for (int nap = 0; nap < kNaps && std::chrono::steady_clock::now() + kNap < deadline; ++nap) {
    std::this_thread::sleep_for(kNap);
    if (end_offset() > from) return true;
  }
  MutexLock lock(&wait_mu_);
  while (!closed_) {
    // seq_cst, pairing with ReleaseSlot and WakeWaiters: either an append finishing
    // after the loads in end_offset() sees the flag (and signals, under wait_mu_, which
    // is held until the wait), or those loads see its slot free.
    reader_asleep_.store(true, std::memory_order_seq_cst);
    if (end_offset() > from) return true;
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    wait_cv_.WaitWithTimeout(&wait_mu_, deadline - now);
  }
  return end_offset() > from;
}

void CommandLog::WakeWaiters() {
  if (!reader_asleep_.load(std::memory_order_seq_cst)) return;
  if (!reader_asleep_.exchange(false, std::memory_order_seq_cst)) return;
  MutexLock lock(&wait_mu_);
  wait_cv_.SignalAll();
}

void CommandLog::Close() {
  MutexLock lock(&wait_mu_);
  closed_ = true;
  wait_cv_.SignalAll();
}

}  // namespace mirrorkv::internal
