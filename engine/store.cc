// Store: the public face of Store::Impl, plus option validation.
#include "mirrorkv/store.h"

#include <bit>

#include "engine/store_impl.h"

namespace mirrorkv {
namespace {

Status ValidateOptions(const StoreOptions& options) {
  if (options.stripe_count == 0 || options.stripe_count > 65536) {
    return Status::InvalidArgument("stripe_count must be in [1, 65536]");
  }
  if (options.eviction_samples == 0) {
    return Status::InvalidArgument("eviction_samples must be at least 1");
  }
  if (options.active_expiry_interval.count() < 0) {
    return Status::InvalidArgument("active_expiry_interval must not be negative");
  }
  if (options.active_expiry_budget == 0) {
    return Status::InvalidArgument("active_expiry_budget must be at least 1");
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  MIRRORKV_RETURN_IF_ERROR(ValidateOptions(options));
  StoreOptions adjusted = options;
  adjusted.stripe_count = std::bit_ceil(options.stripe_count);
  return std::unique_ptr<Store>(new Store(std::make_unique<Impl>(adjusted)));
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

Status Store::Set(std::string_view key, std::string_view value) {
  return Set(key, value, SetOptions{}).status();
}

Result<bool> Store::Set(std::string_view key, std::string_view value, const SetOptions& options) {
  return impl_->Set(key, value, options);
}

Result<std::string> Store::GetDel(std::string_view key) { return impl_->GetDel(key); }

Result<std::string> Store::GetEx(std::string_view key, Expiry expiry) {
  return impl_->GetEx(key, expiry);
}

Result<bool> Store::Del(std::string_view key) { return impl_->Del(key); }

Result<size_t> Store::Del(std::span<const std::string_view> keys) {
  size_t removed = 0;
  for (std::string_view key : keys) {
    MIRRORKV_ASSIGN_OR_RETURN(bool gone, impl_->Del(key));
    removed += gone;
  }
  return removed;
}

Result<int64_t> Store::IncrBy(std::string_view key, int64_t delta) {
  return impl_->IncrBy(key, delta);
}

Result<bool> Store::Expire(std::string_view key, Expiry expiry, ExpireCondition condition) {
  return impl_->Expire(key, expiry, condition);
}

Result<bool> Store::Persist(std::string_view key) { return impl_->Persist(key); }

Status Store::MultiSet(std::span<const std::pair<std::string_view, std::string_view>> pairs) {
  bool written;
  return impl_->MultiSet(pairs, /*only_if_none_exists=*/false, &written);
}

Result<bool> Store::MultiSetIfAbsent(
    std::span<const std::pair<std::string_view, std::string_view>> pairs) {
  bool written;
  MIRRORKV_RETURN_IF_ERROR(impl_->MultiSet(pairs, /*only_if_none_exists=*/true, &written));
  return written;
}

Status Store::FlushAll() { return impl_->FlushAll(); }

Result<UpdateAction> Store::UpdateWithCallback(std::string_view key, UpdateCallback callback,
                                               void* context) {
  return impl_->Update(key, callback, context);
}

Result<bool> Store::Rename(std::string_view source, std::string_view destination,
                           bool only_if_absent) {
  return impl_->Rename(source, destination, only_if_absent);
}

Result<std::string> Store::RandomKey() const { return impl_->RandomKey(); }

Result<std::string> Store::Get(std::string_view key) const {
  std::string value;
  MIRRORKV_RETURN_IF_ERROR(Get(key, &value));
  return value;
}

Status Store::Get(std::string_view key, std::string* value) const {
  bool found = Read(key, [value](std::string_view v) { value->assign(v); });
  return found ? Status::Ok() : Status::NotFound();
}

bool Store::ReadWithCallback(std::string_view key, ValueCallback callback, void* context) const {
  return impl_->Read(key, callback, context);
}

bool Store::Exists(std::string_view key) const { return impl_->Read(key, nullptr, nullptr); }

size_t Store::Exists(std::span<const std::string_view> keys) const {
  size_t live = 0;
  for (std::string_view key : keys) live += Exists(key);
  return live;
}

std::vector<std::optional<std::string>> Store::MultiGet(
    std::span<const std::string_view> keys) const {
  std::vector<std::optional<std::string>> values(keys.size());
  impl_->MultiRead(keys, [&](size_t i, std::string_view v) { values[i].emplace(v); });
  return values;
}

int64_t Store::Ttl(std::string_view key) const {
  int64_t deadline = impl_->ExpireTime(key);
  if (deadline < 0) return deadline;
  // Never negative for a live key: it expires at its deadline, not before.
  return std::max<int64_t>(deadline - impl_->clock().NowMillis(), 0);
}

int64_t Store::ExpireTime(std::string_view key) const { return impl_->ExpireTime(key); }

Result<Store::TimedValue> Store::GetWithDeadline(std::string_view key) const {
  TimedValue timed;
  MIRRORKV_RETURN_IF_ERROR(GetWithDeadline(key, &timed.value, &timed.deadline_ms));
  return timed;
}

Status Store::GetWithDeadline(std::string_view key, std::string* value,
                              int64_t* deadline_ms) const {
  return impl_->ReadWithDeadline(key, value, deadline_ms) ? Status::Ok() : Status::NotFound();
}

ScanPage Store::Scan(uint64_t cursor, const ScanOptions& options) const {
  return impl_->Scan(cursor, options);
}

size_t Store::size() const { return impl_->size(); }
StoreStats Store::stats() const { return impl_->stats(); }
size_t Store::ExpireDue() { return impl_->ExpireDue(); }
void Store::SetMaxMemory(size_t bytes) { impl_->SetMaxMemory(bytes); }
void Store::SetEvictionPolicy(EvictionPolicy policy) { impl_->SetEvictionPolicy(policy); }
bool Store::replica_mode() const { return impl_->replica(); }
Status Store::LeaveReplicaMode() { return impl_->LeaveReplicaMode(); }

}  // namespace mirrorkv
