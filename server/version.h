// The versions mirrorkv-server reports.
#pragma once

#include <string_view>

namespace mirrorkv::server {

// mirrorkv's own version (INFO's mirrorkv_version, the banner, config errors).
inline constexpr std::string_view kServerVersion = "0.1.0";
// The Redis version the server claims in INFO and HELLO: the command set and replies
// follow Redis 7.0, and clients pick features by this number.
inline constexpr std::string_view kRedisVersion = "7.0.0";

}  // namespace mirrorkv::server
