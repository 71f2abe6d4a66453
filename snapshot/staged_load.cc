// StagedLoad; see staged_load.h.
#include "snapshot/staged_load.h"

#include <bit>

#include "engine/striped_table.h"

namespace mirrorkv::internal {

Result<std::unique_ptr<StagedLoad>> StagedLoad::Create(Store::Impl& target) {
  StoreOptions options = target.options();
  options.listener = nullptr;
  options.active_expiry_interval = std::chrono::milliseconds(0);
  options.max_memory = 0;
  options.eviction_policy = EvictionPolicy::kNoEviction;
  MIRRORKV_ASSIGN_OR_RETURN(std::unique_ptr<Store> staging, Store::Open(options));
  return std::unique_ptr<StagedLoad>(new StagedLoad(target, std::move(staging)));
}

StagedLoad::StagedLoad(Store::Impl& target, std::unique_ptr<Store> staging)
    : target_(target),
      staging_(std::move(staging)),
      drop_expired_(!target.replica()),
      // The grouping mirrors the table's choice of stripe (the top bits of the key's
      // hash); it only affects speed, never the result.
      stripe_shift_(64 - std::countr_zero(target.options().stripe_count)),
      now_(target.clock().NowMillis()),
      groups_(target.options().stripe_count) {}

void StagedLoad::Add(std::string_view key, std::string_view value, int64_t deadline_ms) {
  Mutation m{.kind = MutationKind::kSet, .key = key, .value = value, .expire_at_ms = deadline_ms};
  if (drop_expired_ && deadline_ms != 0 && deadline_ms <= now_) {
    ++expired_;
    m = Mutation{.kind = MutationKind::kDelete, .key = key};
  }
  const uint64_t hash = StripedTable::Hash(key);
  groups_[stripe_shift_ == 64 ? 0 : hash >> stripe_shift_].push_back(m);
}

void StagedLoad::AddCollection(std::string_view key, Collection* collection, int64_t deadline_ms) {
  if (drop_expired_ && deadline_ms != 0 && deadline_ms <= now_) {
    ++expired_;
    Collection::Destroy(collection);
    return;
  }
  staging_->impl().InsertCollection(key, collection, deadline_ms);
}

Status StagedLoad::Apply() {
  Store::Impl& staging = staging_->impl();
  Status status;
  for (std::vector<Mutation>& group : groups_) {
    if (group.empty()) continue;
    if (status.ok()) status = staging.ApplyBatch(group);
    group.clear();
  }
  now_ = target_.clock().NowMillis();
  return status;
}

Status StagedLoad::Publish() {
  MIRRORKV_RETURN_IF_ERROR(Apply());
  return target_.SwapContents(staging_->impl());
}

}  // namespace mirrorkv::internal
