// ServerConfig: what mirrorkv-server is configured with, and the one table of parameters
// that reads it from a redis.conf-style file and `--name value` flags at start, and
// serves CONFIG GET / CONFIG SET / CONFIG REWRITE at run time.
//
//   port 6380
//   maxmemory 100mb
//   save 3600 1 300 100
//
// Names, value syntax (memory units 1k = 1000, 1kb = 1024 ..., yes/no, quoted strings),
// defaults and error texts follow Redis 7.0, so existing files and tools work. Parameters
// Redis has but mirrorkv does not need (rdbcompression, appendfsync, ...) are accepted and
// kept as text so that configs written for Redis load; anything else is an error naming
// the line or flag.
//
// Thread-compatible: the Server keeps one ServerConfig under its own lock.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "mirrorkv/options.h"
#include "mirrorkv/status.h"
#include "server/logger.h"

namespace mirrorkv::server {

struct SavePoint {
  int64_t seconds = 0;
  int64_t changes = 0;
  friend bool operator==(const SavePoint&, const SavePoint&) = default;
};

// One class of client-output-buffer-limit: a client of that class is disconnected when
// its unsent output passes `hard` bytes, or stays above `soft` bytes for `soft_seconds`.
// 0 disables a limit.
struct OutputBufferLimit {
  uint64_t hard = 0;
  uint64_t soft = 0;
  int64_t soft_seconds = 0;
  friend bool operator==(const OutputBufferLimit&, const OutputBufferLimit&) = default;
};

// client-output-buffer-limit, with Redis's defaults.
struct OutputBufferLimits {
  OutputBufferLimit normal;
  OutputBufferLimit replica{256u << 20, 64u << 20, 60};
  OutputBufferLimit pubsub{32u << 20, 8u << 20, 60};
  friend bool operator==(const OutputBufferLimits&, const OutputBufferLimits&) = default;
};

// Whether CONFIG SET may change the protected parameters (dir, dbfilename), which choose
// the files the server writes: Redis 7's enable-protected-configs.
enum class ProtectedConfigs : uint8_t {
  kNo,     // never at run time (the default)
  kYes,    // from any client
  kLocal,  // from clients connected over loopback only
};

struct ServerConfig {
  // Addresses to listen on. Loopback only by default: mirrorkv-server is safe to start.
  std::vector<std::string> bind = {"127.0.0.1"};
  int64_t port = 6379;
  // With no password set, refuse clients that do not come from a loopback address.
  bool protected_mode = true;
  std::string requirepass;
  uint64_t maxmemory = 0;
  EvictionPolicy maxmemory_policy = EvictionPolicy::kNoEviction;
  int64_t maxmemory_samples = 5;
  // Where snapshots go. Made absolute at start (CONFIG GET dir shows the absolute path).
  std::string dir = ".";
  std::string dbfilename = "dump.mkv";
  ProtectedConfigs enable_protected_configs = ProtectedConfigs::kNo;
  // Automatic BGSAVE after `seconds` if at least `changes` writes happened. Empty (the
  // default): no automatic snapshots, the server runs purely in memory.
  std::vector<SavePoint> save;
  LogLevel loglevel = LogLevel::kNotice;
  std::string logfile;  // empty: standard output
  std::string pidfile;
  // I/O threads; 0 picks half the CPUs (at least one).
  int64_t io_threads = 0;
  // Seconds of idleness after which a client is closed; 0: never.
  int64_t timeout = 0;
  int64_t maxclients = 10000;
  int64_t proto_max_bulk_len = 512ll << 20;
  int64_t client_query_buffer_limit = 1ll << 30;
  int64_t tcp_backlog = 511;
  int64_t tcp_keepalive = 300;
  int64_t hz = 10;
  // busy-reply-threshold (alias lua-time-limit): after this long a running script makes
  // other commands answer -BUSY and may be stopped with SCRIPT KILL; 0 never.
  int64_t busy_reply_threshold_ms = 5000;
  int64_t databases = 1;
  // Replication (docs/server.md, "Replication"). The primary this server follows
  // (replicaof; empty host: none, a primary itself).
  std::string replicaof_host;
  int64_t replicaof_port = 0;
  // Sent as AUTH to the primary.
  std::string masterauth;
  // Bytes of stream kept for partial resyncs (also a replica's, for after its promotion).
  int64_t repl_backlog_size = 1 << 20;
  // Writes are refused with -NOREPLICAS while fewer replicas than this acknowledged
  // within min_replicas_max_lag seconds; 0 disables the check.
  int64_t min_replicas_to_write = 0;
  int64_t min_replicas_max_lag = 10;
  // Reported to Sentinel (slave_priority): 0 means never promote this replica.
  int64_t replica_priority = 100;
  // client-output-buffer-limit <class> <hard> <soft> <seconds> ... (class normal,
  // replica or its old name slave, pubsub); CONFIG SET changes the classes it names.
  OutputBufferLimits output_buffer_limits;
  // What to do with Redis data mirrorkv does not hold (keys of other types or databases,
  // function libraries in an RDB; commands it cannot apply in a Redis primary's stream):
  // no refuses (the load or sync fails, logged), yes skips and counts (logged, INFO).
  bool skip_unsupported_data = false;
  // An RDB file (a Redis dump.rdb) to load at start instead of dbfilename; empty: none.
  std::string load_rdb;
  // Redis parameters accepted for compatibility and kept as text (name -> value).
  std::map<std::string, std::string> passthrough;

  // The configuration file given at start (absolute), empty if none: CONFIG REWRITE's
  // target.
  std::string config_file;
};

// Parses a memory value as Redis does: digits with an optional unit b, k, kb, m, mb, g,
// gb (case-insensitive; k = 1000, kb = 1024). False for anything else.
bool ParseMemory(std::string_view text, uint64_t* bytes);

// Applies one directive (a config line or a --flag, already split into words, name
// first) to `config`. `first_save` tracks the "save" rule of files: the first save
// directive replaces the default list, later ones append. Returns kInvalidArgument with
// Redis's explanation ("argument couldn't be parsed into an integer", "Bad directive or
// wrong number of arguments").
Status ApplyDirective(ServerConfig& config, const std::vector<std::string>& words,
                      bool* first_save);

// Loads `path` (if non-empty) and then `flags` (the command-line words after the
// file: "--port", "7000", "--save", "" ...) over the defaults, and checks the result.
// On error returns kInvalidArgument with a message naming the file line or the flag, in
// Redis's "*** FATAL CONFIG FILE ERROR ***" style, ready to print.
Result<ServerConfig> LoadConfig(const std::string& path, const std::vector<std::string>& flags);

// Checks the cross-parameter rules and resolves `dir` to an absolute path.
Status FinalizeConfig(ServerConfig& config);

// CONFIG GET: every (name, value) pair whose name matches one of the glob patterns
// (case-insensitive), each parameter at most once, in table order.
std::vector<std::pair<std::string, std::string>> ConfigGet(
    const ServerConfig& config, const std::vector<std::string_view>& patterns);

// CONFIG SET name value [name value ...]: applies all pairs to `config` or none. Every
// value is checked as a config file line would be, so that nothing CONFIG SET accepts can
// make CONFIG REWRITE write a line that means something else. `loopback_client` says
// whether the caller came over loopback (for enable-protected-configs local). On error
// returns the full reply text ("ERR Unknown option ...", "ERR CONFIG SET failed ...").
Status ConfigSet(ServerConfig& config, const std::vector<std::string_view>& args,
                 bool loopback_client);

// CONFIG REWRITE: rewrites config.config_file so that it holds the current values,
// keeping comments, unknown lines and order; parameters that differ from the defaults and
// were not in the file are appended. Every word of every line it writes is quoted where
// the config parser would otherwise read it differently (spaces, quotes, newlines, control
// bytes), so the file loads back to exactly this configuration and never to more lines
// than it has. Written to a temporary file, synced and renamed.
// kFailedPrecondition when there is no config file; kIOError on a write error.
Status ConfigRewrite(const ServerConfig& config);

// The value of one parameter as CONFIG GET shows it; empty if unknown.
std::string ConfigValue(const ServerConfig& config, std::string_view name);

}  // namespace mirrorkv::server
