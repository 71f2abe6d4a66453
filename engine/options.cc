#include "mirrorkv/options.h"

#include <array>
#include <utility>

#include "engine/base/strings.h"

namespace mirrorkv {
namespace {

constexpr std::array<std::pair<EvictionPolicy, std::string_view>, 6> kPolicyNames = {{
    {EvictionPolicy::kNoEviction, "noeviction"},
    {EvictionPolicy::kAllKeysLru, "allkeys-lru"},
    {EvictionPolicy::kVolatileLru, "volatile-lru"},
    {EvictionPolicy::kAllKeysRandom, "allkeys-random"},
    {EvictionPolicy::kVolatileTtl, "volatile-ttl"},
    {EvictionPolicy::kAllKeysSieve, "allkeys-sieve"},
}};

}  // namespace

Result<EvictionPolicy> ParseEvictionPolicy(std::string_view name) {
  for (const auto& [policy, text] : kPolicyNames) {
    if (internal::EqualsIgnoreCase(name, text)) {
      return policy;
    }
  }
  return Status::InvalidArgument("unknown eviction policy");
}

std::string_view EvictionPolicyName(EvictionPolicy policy) {
  for (const auto& [p, text] : kPolicyNames) {
    if (p == policy) return text;
  }
  return "unknown";
}

}  // namespace mirrorkv
