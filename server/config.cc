// ServerConfig parsing, CONFIG GET/SET/REWRITE: see config.h.
//
// Every parameter is one row of kParams: its name, whether CONFIG SET may change it, how
// to apply its words and how to print its value. Start-up parsing, CONFIG SET and CONFIG
// REWRITE all go through that table, so a parameter can never be readable in one place
// and missing in another.
#include "server/config.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <set>
#include <span>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "engine/base/glob.h"
#include "engine/base/numbers.h"
#include "engine/base/strings.h"
#include "server/resp_parser.h"
#include "server/version.h"

namespace mirrorkv::server {
namespace {

using Words = std::span<const std::string>;

Status Invalid(std::string_view reason) { return Status::InvalidArgument(reason); }

// The value parsers return Redis's explanations, which CONFIG SET and the start-up
// errors quote verbatim after their own prefix.
Status ParseInt(const std::string& text, int64_t min, int64_t max, int64_t* out) {
  int64_t value;
  // Redis's config parser also takes memory units for integers ("1k"), but only
  // plain numbers matter for the integer parameters here.
  if (!internal::ParseInt64(text, &value)) {
    return Invalid("argument couldn't be parsed into an integer");
  }
  if (value < min || value > max) {
    return Invalid(absl::StrFormat("argument must be between %d and %d inclusive", min, max));
  }
  *out = value;
  return Status::Ok();
}

Status ParseBool(const std::string& text, bool* out) {
  std::string lower = absl::AsciiStrToLower(text);
  if (lower == "yes") {
    *out = true;
  } else if (lower == "no") {
    *out = false;
  } else {
    return Invalid("argument must be 'yes' or 'no'");
  }
  return Status::Ok();
}

Status ParseMemoryParam(const std::string& text, uint64_t min, uint64_t* out) {
  uint64_t value;
  if (!ParseMemory(text, &value)) return Invalid("argument must be a memory value");
  if (value < min) {
    return Invalid(absl::StrFormat("argument must be a memory value of at least %d", min));
  }
  *out = value;
  return Status::Ok();
}

// `save` takes "<seconds> <changes> ..." as separate words or as one string, or ""
// for none. Seconds >= 1, changes >= 0 (Redis's rule).
Status ParseSave(Words words, std::vector<SavePoint>* out) {
  std::vector<std::string> tokens;
  for (const std::string& word : words) {
    for (absl::string_view token : absl::StrSplit(word, ' ', absl::SkipWhitespace())) {
      tokens.emplace_back(token);
    }
  }
  if (tokens.size() % 2 != 0) return Invalid("Invalid save parameters");
  std::vector<SavePoint> points;
  for (size_t i = 0; i < tokens.size(); i += 2) {
    SavePoint point;
    if (!internal::ParseInt64(tokens[i], &point.seconds) || point.seconds < 1 ||
        !internal::ParseInt64(tokens[i + 1], &point.changes) || point.changes < 0) {
      return Invalid("Invalid save parameters");
    }
    points.push_back(point);
  }
  *out = std::move(points);
  return Status::Ok();
}

std::string FormatSave(const std::vector<SavePoint>& points) {
  std::vector<std::string> parts;
  for (const SavePoint& point : points) {
    parts.push_back(absl::StrCat(point.seconds, " ", point.changes));
  }
  return absl::StrJoin(parts, " ");
}

std::string YesNo(bool value) { return value ? "yes" : "no"; }

// client-output-buffer-limit: "<class> <hard> <soft> <seconds>" groups, as separate
// words or in one string; the classes named change, the others stay (Redis's rule).
Status ParseOutputBufferLimits(Words words, OutputBufferLimits* out) {
  std::vector<std::string> tokens;
  for (const std::string& word : words) {
    for (absl::string_view token : absl::StrSplit(word, ' ', absl::SkipWhitespace())) {
      tokens.emplace_back(token);
    }
  }
  if (tokens.empty() || tokens.size() % 4 != 0) {
    return Invalid("Wrong number of arguments in buffer limit configuration.");
  }
  OutputBufferLimits limits = *out;
  for (size_t i = 0; i < tokens.size(); i += 4) {
    std::string name = absl::AsciiStrToLower(tokens[i]);
    OutputBufferLimit* limit = name == "normal"                       ? &limits.normal
                               : name == "replica" || name == "slave" ? &limits.replica
                               : name == "pubsub"                     ? &limits.pubsub
                                                                      : nullptr;
    if (limit == nullptr)
      return Invalid("Invalid client class specified in buffer limit configuration.");
    if (!ParseMemory(tokens[i + 1], &limit->hard) || !ParseMemory(tokens[i + 2], &limit->soft) ||
        !internal::ParseInt64(tokens[i + 3], &limit->soft_seconds) || limit->soft_seconds < 0) {
      return Invalid("Error in hard, soft or soft_seconds setting in buffer limit configuration.");
    }
  }
  *out = limits;
  return Status::Ok();
}

// As Redis's CONFIG GET shows it: every class, "slave" for replicas, bytes.
std::string FormatOutputBufferLimits(const OutputBufferLimits& limits) {
  auto group = [](std::string_view name, const OutputBufferLimit& limit) {
    return absl::StrCat(internal::AsAbsl(name), " ", limit.hard, " ", limit.soft, " ",
                        limit.soft_seconds);
  };
  return absl::StrCat(group("normal", limits.normal), " ", group("slave", limits.replica), " ",
                      group("pubsub", limits.pubsub));
}

// How a parameter's words are counted: exactly one, or any number (bind, save).
enum class Arity : uint8_t { kOne, kMany };

// Who may change a parameter once the server runs.
enum class Mutability : uint8_t {
  kStartOnly,  // config file and flags only: CONFIG SET answers "can't set immutable config"
  kRuntime,    // CONFIG SET
  // CONFIG SET only where enable-protected-configs allows it: parameters that choose which
  // file the server writes. Left open, they let any client that can run CONFIG SET and
  // SAVE replace any file the server may write (a crontab, an authorized_keys file).
  kProtected,
};

struct Param {
  std::string_view name;
  Mutability mutability;
  Arity arity;
  Status (*apply)(ServerConfig& config, Words values);
  // The value as CONFIG GET shows it.
  std::string (*get)(const ServerConfig& config);
  // kMany parameters: the value as separate words, each quoted on its own by CONFIG
  // REWRITE. Null for kOne parameters, whose value is one word.
  std::vector<std::string> (*words)(const ServerConfig& config) = nullptr;
};

// The eviction policies mirrorkv implements, in the order CONFIG SET's error lists them.
constexpr std::string_view kPolicyNames =
    "noeviction, allkeys-lru, volatile-lru, allkeys-random, volatile-ttl, allkeys-sieve";

// The parameters, in the order CONFIG GET lists them and CONFIG REWRITE appends them.
// `runtime` false means CONFIG SET refuses them (they take effect at start only: the
// listening sockets, the thread count, the log file, the Store's sampling size).
const Param kParams[] = {
    {"bind", Mutability::kStartOnly, Arity::kMany,
     [](ServerConfig& c, Words v) {
       if (v.empty()) return Invalid("Too many bind addresses specified.");
       c.bind.assign(v.begin(), v.end());
       return Status::Ok();
     },
     [](const ServerConfig& c) { return absl::StrJoin(c.bind, " "); },
     [](const ServerConfig& c) { return c.bind; }},
    {"port", Mutability::kStartOnly, Arity::kOne,
     [](ServerConfig& c, Words v) { return ParseInt(v[0], 0, 65535, &c.port); },
     [](const ServerConfig& c) { return absl::StrCat(c.port); }},
    {"protected-mode", Mutability::kRuntime, Arity::kOne,
     [](ServerConfig& c, Words v) { return ParseBool(v[0], &c.protected_mode); },
     [](const ServerConfig& c) { return YesNo(c.protected_mode); }},
    {"requirepass", Mutability::kRuntime, Arity::kOne,
     [](ServerConfig& c, Words v) {
       c.requirepass = v[0];
       return Status::Ok();
     },
     [](const ServerConfig& c) { return c.requirepass; }},
    {"maxmemory", Mutability::kRuntime, Arity::kOne,
     [](ServerConfig& c, Words v) { return ParseMemoryParam(v[0], 0, &c.maxmemory); },
     [](const ServerConfig& c) { return absl::StrCat(c.maxmemory); }},
    {"maxmemory-policy", Mutability::kRuntime, Arity::kOne,
     [](ServerConfig& c, Words v) {
       Result<EvictionPolicy> policy = ParseEvictionPolicy(v[0]);
       if (!policy.ok()) {
         return Invalid(absl::StrCat("argument(s) must be one of the following: ",
                                     internal::AsAbsl(kPolicyNames)));
       }
       c.maxmemory_policy = *policy;
       return Status::Ok();
     },
     [](const ServerConfig& c) { return std::string(EvictionPolicyName(c.maxmemory_policy)); }},
    {"maxmemory-samples", Mutability::kStartOnly, Arity::kOne,
     [](ServerConfig& c, Words v) { return ParseInt(v[0], 1, 64, &c.maxmemory_samples); },
     [](const ServerConfig& c) { return absl::StrCat(c.maxmemory_samples); }},
    {"dir", Mutability::kProtected, Arity::kOne,
     [](ServerConfig& c, Words v) {
       c.dir = v[0];
       return Status::Ok();
     },
     [](const ServerConfig& c) { return c.dir; }},
    {"dbfilename", Mutability::kProtected, Arity::kOne,
     [](ServerConfig& c, Words v) {
       if (v[0].empty() || v[0].find('/') != std::string::npos) {
         return Invalid("dbfilename can't be a path, just a filename");
       }
       c.dbfilename = v[0];
       return Status::Ok();
     },
     [](const ServerConfig& c) { return c.dbfilename; }},
    {"enable-protected-configs", Mutability::kStartOnly, Arity::kOne,
     [](ServerConfig& c, Words v) {
       std::string lower = absl::AsciiStrToLower(v[0]);
       if (lower == "no") {
         c.enable_protected_configs = ProtectedConfigs::kNo;
       } else if (lower == "yes") {
         c.enable_protected_configs = ProtectedConfigs::kYes;
       } else if (lower == "local") {
         c.enable_protected_configs = ProtectedConfigs::kLocal;
       } else {
         return Invalid("argument(s) must be one of the following: no, yes, local");
       }
       return Status::Ok();
     },
     [](const ServerConfig& c) {
       switch (c.enable_protected_configs) {
         case ProtectedConfigs::kYes:
           return std::string("yes");
         case ProtectedConfigs::kLocal:
           return std::string("local");
         case ProtectedConfigs::kNo:
           break;
       }
       return std::string("no");
     }},
    {"save", Mutability::kRuntime, Arity::kMany,
     [](ServerConfig& c, Words v) { return ParseSave(v, &c.save); },
     [](const ServerConfig& c) { return FormatSave(c.save); },
     [](const ServerConfig& c) {
       std::vector<std::string> words;
       for (const SavePoint& point : c.save) {
         words.push_back(absl::StrCat(point.seconds));
         words.push_back(absl::StrCat(point.changes));
       }
       return words;
     }},
    {"appendonly", Mutability::kRuntime, Arity::kOne,
     [](ServerConfig& c, Words v) {
       bool on;
       MIRRORKV_RETURN_IF_ERROR(ParseBool(v[0], &on));
       if (on) {
         return Invalid(
             "appendonly yes is not supported: mirrorkv persists with snapshots "
             "(SAVE, BGSAVE, save)");
       }
       return Status::Ok();
     },
     [](const ServerConfig&) { return std::string("no"); }},
    {"loglevel", Mutability::kRuntime, Arity::kOne,
     [](ServerConfig& c, Words v) {
       Result<LogLevel> level = ParseLogLevel(v[0]);
       if (!level.ok()) return level.status();
       c.loglevel = *level;
       return Status::Ok();
     },
     [](const ServerConfig& c) { return std::string(LogLevelName(c.loglevel)); }},
    {"logfile", Mutability::kStartOnly, Arity::kOne,
     [](ServerConfig& c, Words v) {
       c.logfile = v[0];
       return Status::Ok();
     },
     [](const ServerConfig& c) { return c.logfile; }},
    {"pidfile", Mutability::kStartOnly, Arity::kOne,
     [](ServerConfig& c, Words v) {
       c.pidfile = v[0];
       return Status::Ok();
     },
     [](const ServerConfig& c) { return c.pidfile; }},
    {"io-threads", Mutability::kStartOnly, Arity::kOne,
     [](ServerConfig& c, Words v) { return ParseInt(v[0], 0, 128, &c.io_threads); },
     [](const ServerConfig& c) { return absl::StrCat(c.io_threads); }},
    {"timeout", Mutability::kRuntime, Arity::kOne,
     [](ServerConfig& c, Words v) { return ParseInt(v[0], 0, INT_MAX, &c.timeout); },
     [](const ServerConfig& c) { return absl::StrCat(c.timeout); }},
    {"maxclients", Mutability::kRuntime, Arity::kOne,
     [](ServerConfig& c, Words v) { return ParseInt(v[0], 1, INT_MAX, &c.maxclients); },
     [](const ServerConfig& c) { return absl::StrCat(c.maxclients); }},
    {"proto-max-bulk-len", Mutability::kRuntime, Arity::kOne,
     [](ServerConfig& c, Words v) {
       uint64_t bytes;
       MIRRORKV_RETURN_IF_ERROR(ParseMemoryParam(v[0], 1 << 20, &bytes));
       if (bytes > (uint64_t{1} << 62)) return Invalid("argument must be a memory value");
       c.proto_max_bulk_len = static_cast<int64_t>(bytes);
       return Status::Ok();
     },
     [](const ServerConfig& c) { return absl::StrCat(c.proto_max_bulk_len); }},
    {"client-query-buffer-limit", Mutability::kRuntime, Arity::kOne,
     [](ServerConfig& c, Words v) {
       uint64_t bytes;
       MIRRORKV_RETURN_IF_ERROR(ParseMemoryParam(v[0], 1 << 20, &bytes));
       if (bytes > (uint64_t{1} << 62)) return Invalid("argument must be a memory value");
       c.client_query_buffer_limit = static_cast<int64_t>(bytes);
       return Status::Ok();
     },
     [](const ServerConfig& c) { return absl::StrCat(c.client_query_buffer_limit); }},
    {"tcp-backlog", Mutability::kStartOnly, Arity::kOne,
     [](ServerConfig& c, Words v) { return ParseInt(v[0], 0, INT_MAX, &c.tcp_backlog); },
     [](const ServerConfig& c) { return absl::StrCat(c.tcp_backlog); }},
    {"tcp-keepalive", Mutability::kRuntime, Arity::kOne,
     [](ServerConfig& c, Words v) { return ParseInt(v[0], 0, INT_MAX, &c.tcp_keepalive); },
     [](const ServerConfig& c) { return absl::StrCat(c.tcp_keepalive); }},
    {"busy-reply-threshold", Mutability::kRuntime, Arity::kOne,
     [](ServerConfig& c, Words v) {
       return ParseInt(v[0], 0, INT64_MAX, &c.busy_reply_threshold_ms);
     },
     [](const ServerConfig& c) { return absl::StrCat(c.busy_reply_threshold_ms); }},
    {"hz", Mutability::kRuntime, Arity::kOne,
     [](ServerConfig& c, Words v) { return ParseInt(v[0], 1, 500, &c.hz); },
     [](const ServerConfig& c) { return absl::StrCat(c.hz); }},
    {"databases", Mutability::kStartOnly, Arity::kOne,
     [](ServerConfig& c, Words v) { return ParseInt(v[0], 1, INT_MAX, &c.databases); },
     [](const ServerConfig& c) { return absl::StrCat(c.databases); }},
    {"daemonize", Mutability::kStartOnly, Arity::kOne,
     [](ServerConfig&, Words v) {
       bool on;
       MIRRORKV_RETURN_IF_ERROR(ParseBool(v[0], &on));
       if (on) return Invalid("daemonize yes is not supported: run it under a supervisor");
       return Status::Ok();
     },
     [](const ServerConfig&) { return std::string("no"); }},
    // "replicaof <host> <port>", or "replicaof no one" (none). Changed at run time by the
    // REPLICAOF command, not by CONFIG SET (as in Redis).
    {"replicaof", Mutability::kStartOnly, Arity::kMany,
     [](ServerConfig& c, Words v) {
       if (v.size() != 2) return Invalid("wrong number of arguments");
       if (absl::AsciiStrToLower(v[0]) == "no" && absl::AsciiStrToLower(v[1]) == "one") {
         c.replicaof_host.clear();
         c.replicaof_port = 0;
         return Status::Ok();
       }
       MIRRORKV_RETURN_IF_ERROR(ParseInt(v[1], 0, 65535, &c.replicaof_port));
       c.replicaof_host = v[0];
       return Status::Ok();
     },
     [](const ServerConfig& c) {
       return c.replicaof_host.empty() ? std::string()
                                       : absl::StrCat(c.replicaof_host, " ", c.replicaof_port);
     },
     [](const ServerConfig& c) {
       return c.replicaof_host.empty()
                  ? std::vector<std::string>{}
                  : std::vector<std::string>{c.replicaof_host, absl::StrCat(c.replicaof_port)};
     }},
    {"masterauth", Mutability::kRuntime, Arity::kOne,
     [](ServerConfig& c, Words v) {
       c.masterauth = v[0];
       return Status::Ok();
     },
     [](const ServerConfig& c) { return c.masterauth; }},
    // Fixed while the server runs: the Primary's backlog is sized when it is created (a
    // change would need a new Primary, disconnecting every replica).
    {"repl-backlog-size", Mutability::kStartOnly, Arity::kOne,
     [](ServerConfig& c, Words v) {
       uint64_t bytes;
       MIRRORKV_RETURN_IF_ERROR(ParseMemoryParam(v[0], 16 * 1024, &bytes));
       if (bytes > (uint64_t{1} << 40)) return Invalid("argument must be a memory value");
       c.repl_backlog_size = static_cast<int64_t>(bytes);
       return Status::Ok();
     },
     [](const ServerConfig& c) { return absl::StrCat(c.repl_backlog_size); }},
    {"min-replicas-to-write", Mutability::kRuntime, Arity::kOne,
     [](ServerConfig& c, Words v) { return ParseInt(v[0], 0, INT_MAX, &c.min_replicas_to_write); },
     [](const ServerConfig& c) { return absl::StrCat(c.min_replicas_to_write); }},
    {"min-replicas-max-lag", Mutability::kRuntime, Arity::kOne,
     [](ServerConfig& c, Words v) { return ParseInt(v[0], 0, INT_MAX, &c.min_replicas_max_lag); },
     [](const ServerConfig& c) { return absl::StrCat(c.min_replicas_max_lag); }},
    {"replica-priority", Mutability::kRuntime, Arity::kOne,
     [](ServerConfig& c, Words v) { return ParseInt(v[0], 0, INT_MAX, &c.replica_priority); },
     [](const ServerConfig& c) { return absl::StrCat(c.replica_priority); }},
    // mirrorkv's own: Redis data it does not hold (docs/server.md, "Redis interoperability").
    // Read when a sync or a load starts.
    {"skip-unsupported-data", Mutability::kRuntime, Arity::kOne,
     [](ServerConfig& c, Words v) { return ParseBool(v[0], &c.skip_unsupported_data); },
     [](const ServerConfig& c) { return YesNo(c.skip_unsupported_data); }},
    {"load-rdb", Mutability::kStartOnly, Arity::kOne,
     [](ServerConfig& c, Words v) {
       c.load_rdb = v[0];
       return Status::Ok();
     },
     [](const ServerConfig& c) { return c.load_rdb; }},
    {"client-output-buffer-limit", Mutability::kRuntime, Arity::kMany,
     [](ServerConfig& c, Words v) { return ParseOutputBufferLimits(v, &c.output_buffer_limits); },
     [](const ServerConfig& c) { return FormatOutputBufferLimits(c.output_buffer_limits); },
     [](const ServerConfig& c) -> std::vector<std::string> {
       return absl::StrSplit(FormatOutputBufferLimits(c.output_buffer_limits), ' ');
     }},
    // The server had a second event loop (epoll) to measure Asio against; it was removed
    // (docs/server.md). Files that name either loop still load; Asio serves them.
    {"io-backend", Mutability::kStartOnly, Arity::kOne,
     [](ServerConfig&, Words v) {
       std::string lower = absl::AsciiStrToLower(v[0]);
       if (lower != "asio" && lower != "epoll") {
         return Invalid("argument(s) must be one of the following: asio, epoll");
       }
       return Status::Ok();
     },
     [](const ServerConfig&) { return std::string("asio"); }},
};

// Redis parameters that change nothing here but appear in configs written for Redis and
// in tools' CONFIG GET calls: accepted and kept as text. Each value is checked as Redis
// checks it, so that what Redis would refuse is refused here too and no value can carry a
// second config line into CONFIG REWRITE's output.
enum class TextKind : uint8_t {
  kBool,    // yes | no
  kInt,     // a 64-bit integer
  kMemory,  // a memory value, kept as bytes
  kEnum,    // one of `choices` (comma-separated)
  kFlags,   // any characters of `choices`, or empty
  kString,  // anything: CONFIG REWRITE quotes it
};

struct Passthrough {
  std::string_view name;
  std::string_view default_value;
  TextKind kind;
  std::string_view choices = {};
};
const Passthrough kPassthrough[] = {
    {"activerehashing", "yes", TextKind::kBool},
    {"always-show-logo", "no", TextKind::kBool},
    {"appendfilename", "appendonly.aof", TextKind::kString},
    {"appendfsync", "everysec", TextKind::kEnum, "always,everysec,no"},
    {"aof-use-rdb-preamble", "yes", TextKind::kBool},
    {"auto-aof-rewrite-min-size", "67108864", TextKind::kMemory},
    {"auto-aof-rewrite-percentage", "100", TextKind::kInt},
    {"crash-log-enabled", "yes", TextKind::kBool},
    {"crash-memcheck-enabled", "yes", TextKind::kBool},
    {"dynamic-hz", "yes", TextKind::kBool},
    {"io-threads-do-reads", "no", TextKind::kBool},
    {"jemalloc-bg-thread", "yes", TextKind::kBool},
    {"latency-monitor-threshold", "0", TextKind::kInt},
    {"lazyfree-lazy-eviction", "no", TextKind::kBool},
    {"lazyfree-lazy-expire", "no", TextKind::kBool},
    {"lazyfree-lazy-server-del", "no", TextKind::kBool},
    {"lazyfree-lazy-user-del", "no", TextKind::kBool},
    {"lazyfree-lazy-user-flush", "no", TextKind::kBool},
    {"no-appendfsync-on-rewrite", "no", TextKind::kBool},
    {"notify-keyspace-events", "", TextKind::kFlags, "AgKE$lshzxetmdn"},
    {"oom-score-adj", "no", TextKind::kEnum, "no,yes,relative,absolute"},
    {"rdb-del-sync-files", "no", TextKind::kBool},
    {"rdbchecksum", "yes", TextKind::kBool},
    {"rdbcompression", "yes", TextKind::kBool},
    {"repl-diskless-load", "disabled", TextKind::kEnum, "disabled,on-empty-db,swapdb"},
    {"repl-diskless-sync", "yes", TextKind::kBool},
    {"repl-diskless-sync-delay", "5", TextKind::kInt},
    {"repl-ping-replica-period", "10", TextKind::kInt},
    {"repl-timeout", "60", TextKind::kInt},
    {"replica-announced", "yes", TextKind::kBool},
    {"replica-lazy-flush", "no", TextKind::kBool},
    {"replica-read-only", "yes", TextKind::kBool},
    {"replica-serve-stale-data", "yes", TextKind::kBool},
    {"set-proc-title", "yes", TextKind::kBool},
    {"slowlog-log-slower-than", "10000", TextKind::kInt},
    {"slowlog-max-len", "128", TextKind::kInt},
    {"stop-writes-on-bgsave-error", "yes", TextKind::kBool},
    {"supervised", "no", TextKind::kEnum, "upstart,systemd,auto,no"},
    {"syslog-enabled", "no", TextKind::kBool},
    {"syslog-ident", "redis", TextKind::kString},
};

// Checks `values` for the kept-as-text parameter `entry` and gives the text to keep.
Status CheckText(const Passthrough& entry, Words values, std::string* normalized) {
  if (values.size() != 1) return Invalid("wrong number of arguments");
  const std::string& value = values[0];
  switch (entry.kind) {
    case TextKind::kBool: {
      bool on;
      MIRRORKV_RETURN_IF_ERROR(ParseBool(value, &on));
      *normalized = YesNo(on);
      return Status::Ok();
    }
    case TextKind::kInt: {
      int64_t number;
      MIRRORKV_RETURN_IF_ERROR(ParseInt(value, INT64_MIN, INT64_MAX, &number));
      *normalized = absl::StrCat(number);
      return Status::Ok();
    }
    case TextKind::kMemory: {
      uint64_t bytes;
      MIRRORKV_RETURN_IF_ERROR(ParseMemoryParam(value, 0, &bytes));
      *normalized = absl::StrCat(bytes);
      return Status::Ok();
    }
    case TextKind::kEnum: {
      std::string lower = absl::AsciiStrToLower(value);
      for (absl::string_view choice : absl::StrSplit(internal::AsAbsl(entry.choices), ',')) {
        if (choice == lower) {
          *normalized = lower;
          return Status::Ok();
        }
      }
      return Invalid(
          absl::StrCat("argument(s) must be one of the following: ",
                       absl::StrJoin(absl::StrSplit(internal::AsAbsl(entry.choices), ','), ", ")));
    }
    case TextKind::kFlags:
      for (char c : value) {
        if (entry.choices.find(c) == std::string_view::npos)
          return Invalid("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.");
      }
      *normalized = value;
      return Status::Ok();
    case TextKind::kString:
      break;
  }
  *normalized = value;
  return Status::Ok();
}

// Redis's older names, still accepted in files, flags and CONFIG SET.
constexpr std::pair<std::string_view, std::string_view> kAliases[] = {
    {"slaveof", "replicaof"},
    {"lua-time-limit", "busy-reply-threshold"},
    {"slave-priority", "replica-priority"},
    {"min-slaves-to-write", "min-replicas-to-write"},
    {"min-slaves-max-lag", "min-replicas-max-lag"},
};

const Param* FindParam(std::string_view lower_name) {
  for (const auto& [alias, name] : kAliases) {
    if (alias == lower_name) lower_name = name;
  }
  for (const Param& param : kParams) {
    if (param.name == lower_name) return &param;
  }
  return nullptr;
}

const Passthrough* FindPassthrough(std::string_view lower_name) {
  for (const Passthrough& entry : kPassthrough) {
    if (entry.name == lower_name) return &entry;
  }
  return nullptr;
}

// Quotes a value for a config line when sdssplitargs would not read it back as is:
// CONFIG REWRITE must produce a file that loads to the same configuration.
std::string QuoteIfNeeded(std::string_view value) {
  bool plain = !value.empty();
  for (char c : value) {
    if (c == ' ' || c == '"' || c == '\'' || c == '\\' || c == '#' ||
        !absl::ascii_isprint(static_cast<unsigned char>(c))) {
      plain = false;
    }
  }
  if (plain) return std::string(value);
  std::string quoted = "\"";
  for (unsigned char c : value) {
    switch (c) {
      case '\\':
        quoted += "\\\\";
        break;
      case '"':
        quoted += "\\\"";
        break;
      case '\n':
        quoted += "\\n";
        break;
      case '\r':
        quoted += "\\r";
        break;
      case '\t':
        quoted += "\\t";
        break;
      default:
        if (absl::ascii_isprint(c)) {
          quoted.push_back(static_cast<char>(c));
        } else {
          quoted += absl::StrFormat("\\x%02x", c);
        }
    }
  }
  quoted.push_back('"');
  return quoted;
}

// A config-file line: the name and each word quoted where the parser needs it.
std::string JoinLine(std::string_view name, const std::vector<std::string>& words) {
  std::string line(name);
  for (const std::string& word : words) absl::StrAppend(&line, " ", QuoteIfNeeded(word));
  return line;
}

// The config-file line that sets `param` to its current value; empty for no line (a
// server that follows no primary has no replicaof line).
std::string ConfigLine(const Param& param, const ServerConfig& config) {
  if (param.words == nullptr) return JoinLine(param.name, {param.get(config)});
  std::vector<std::string> words = param.words(config);
  if (param.name == "save" && words.empty()) return "save \"\"";
  if (param.name == "replicaof" && words.empty()) return {};
  return JoinLine(param.name, words);
}

// The line for a kept-as-text parameter: each has a single word.
std::string PassthroughLine(const Passthrough& entry, const std::string& value) {
  return JoinLine(entry.name, {value});
}

Result<std::vector<std::string>> SplitLine(std::string line) {
  std::vector<std::string_view> views;
  if (!SplitArgsInPlace({line.data(), line.size()}, &views)) {
    return Status::InvalidArgument("Unbalanced quotes in configuration line");
  }
  return std::vector<std::string>(views.begin(), views.end());
}

// One config line made of command-line arguments, and those arguments as given (for
// error messages).
struct FlagDirective {
  Result<std::vector<std::string>> split;
  std::string shown;
};

// Groups command-line arguments into config lines the way redis-server does: each
// argument that starts with "--" begins a line and is split as a line of the file is
// ("--port 6380" as one argument works); every other argument is one word of the current
// line, whatever it contains ("--replicaof '127.0.0.1 6379'" gives the word
// "127.0.0.1 6379", which a multi-word parameter splits again). A name given alone takes
// the next argument as its value even when that starts with "--" ("--requirepass
// --secret"), except that a bare "--save" followed by another option or at the end means
// `save ""`.
std::vector<FlagDirective> FlagsToDirectives(const std::vector<std::string>& flags) {
  std::vector<FlagDirective> directives;
  bool awaiting_value = false;
  for (size_t i = 0; i < flags.size(); ++i) {
    const std::string& flag = flags[i];
    const bool is_name = flag.size() >= 2 && flag.compare(0, 2, "--") == 0 && !awaiting_value;
    if (!is_name) {
      if (directives.empty()) {
        directives.push_back(
            {Status::InvalidArgument(absl::StrFormat(
                 "Unexpected argument '%s': options are given as --name value", flag)),
             flag});
        return directives;
      }
      FlagDirective& current = directives.back();
      if (current.split.ok()) current.split->push_back(flag);
      absl::StrAppend(&current.shown, " ", flag);
      awaiting_value = false;
      continue;
    }
    Result<std::vector<std::string>> words = SplitLine(flag.substr(2));
    awaiting_value = words.ok() && words->size() == 1;
    if (awaiting_value && absl::AsciiStrToLower((*words)[0]) == "save" &&
        (i + 1 == flags.size() || flags[i + 1].compare(0, 2, "--") == 0)) {
      words->emplace_back();  // "--save" with nothing after it: no snapshots
      awaiting_value = false;
    }
    directives.push_back({std::move(words), flag});
  }
  return directives;
}

}  // namespace

bool ParseMemory(std::string_view text, uint64_t* bytes) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 19) return false;
  uint64_t value = 0;
  for (size_t i = 0; i < digits; ++i) value = value * 10 + (text[i] - '0');
  std::string unit = absl::AsciiStrToLower(internal::AsAbsl(text.substr(digits)));
  uint64_t multiplier;
  if (unit.empty() || unit == "b") {
    multiplier = 1;
  } else if (unit == "k") {
    multiplier = 1000;
  } else if (unit == "kb") {
    multiplier = 1024;
  } else if (unit == "m") {
    multiplier = 1000 * 1000;
  } else if (unit == "mb") {
    multiplier = 1024 * 1024;
  } else if (unit == "g") {
    multiplier = 1000ull * 1000 * 1000;
  } else if (unit == "gb") {
    multiplier = 1024ull * 1024 * 1024;
  } else {
    return false;
  }
  if (__builtin_mul_overflow(value, multiplier, bytes)) return false;
  return true;
}

// One line or flag. Parameters are matched case-insensitively, as Redis does, and the
// arity is checked here so that each parser sees exactly the words it expects.
Status ApplyDirective(ServerConfig& config, const std::vector<std::string>& words,
                      bool* first_save) {
  if (words.empty()) return Status::Ok();
  std::string name = absl::AsciiStrToLower(words[0]);
  Words values(words.data() + 1, words.size() - 1);
  if (const Param* param = FindParam(name)) {
    if (param->arity == Arity::kOne && values.size() != 1) {
      return Invalid("wrong number of arguments");
    }
    // A multi-word parameter given as one word is that word split again, as Redis does:
    // `replicaof "127.0.0.1 6379"`, `bind "127.0.0.1 ::1"`.
    std::vector<std::string> resplit;
    if (param->arity == Arity::kMany && values.size() == 1 && !values[0].empty()) {
      MIRRORKV_ASSIGN_OR_RETURN(resplit, SplitLine(values[0]));
      values = Words(resplit);
    }
    if (name == "save") {
      // The first save directive replaces the default list; later ones add to it.
      std::vector<SavePoint> before = *first_save ? std::vector<SavePoint>{} : config.save;
      MIRRORKV_RETURN_IF_ERROR(param->apply(config, values));
      before.insert(before.end(), config.save.begin(), config.save.end());
      config.save = std::move(before);
      *first_save = false;
      return Status::Ok();
    }
    return param->apply(config, values);
  }
  if (const Passthrough* entry = FindPassthrough(name)) {
    std::string normalized;
    MIRRORKV_RETURN_IF_ERROR(CheckText(*entry, values, &normalized));
    config.passthrough[name] = std::move(normalized);
    return Status::Ok();
  }
  return Invalid("Bad directive or wrong number of arguments");
}

// The server never chdir()s (it is multi-threaded and the snapshot path is built from
// dir), so dir is resolved once here, and a missing directory fails at start, not at the
// first SAVE.
Status FinalizeConfig(ServerConfig& config) {
  char resolved[PATH_MAX];
  if (realpath(config.dir.c_str(), resolved) == nullptr) {
    return Status::InvalidArgument(
        absl::StrFormat("Can't chdir to '%s': %s", config.dir, std::strerror(errno)));
  }
  struct stat info;
  if (stat(resolved, &info) != 0 || !S_ISDIR(info.st_mode)) {
    return Status::InvalidArgument(
        absl::StrFormat("Can't chdir to '%s': Not a directory", config.dir));
  }
  config.dir = resolved;
  return Status::Ok();
}

Result<ServerConfig> LoadConfig(const std::string& path, const std::vector<std::string>& flags) {
  ServerConfig config;
  bool first_save = true;
  if (!path.empty()) {
    std::ifstream file(path);
    if (!file) {
      return Status::InvalidArgument(absl::StrFormat("Fatal error, can't open config file '%s': %s",
                                                     path, std::strerror(errno)));
    }
    std::string line;
    int line_number = 0;
    while (std::getline(file, line)) {
      ++line_number;
      absl::string_view stripped = absl::StripAsciiWhitespace(line);
      std::string_view trimmed(stripped.data(), stripped.size());
      if (trimmed.empty() || trimmed[0] == '#') continue;
      Result<std::vector<std::string>> words = SplitLine(std::string(trimmed));
      Status status = words.ok() ? ApplyDirective(config, *words, &first_save) : words.status();
      if (!status.ok()) {
        return Status::InvalidArgument(
            absl::StrFormat("\n*** FATAL CONFIG FILE ERROR (mirrorkv-server %s) ***\n"
                            "Reading the configuration file '%s', at line %d\n>>> '%s'\n%s",
                            kServerVersion, path, line_number, trimmed, status.message()));
      }
    }
    char resolved[PATH_MAX];
    config.config_file = realpath(path.c_str(), resolved) != nullptr ? resolved : path;
  }
  for (const FlagDirective& directive : FlagsToDirectives(flags)) {
    Status status = directive.split.ok() ? ApplyDirective(config, *directive.split, &first_save)
                                         : directive.split.status();
    if (!status.ok()) {
      return Status::InvalidArgument(
          absl::StrFormat("\n*** FATAL CONFIG ERROR (mirrorkv-server %s) ***\n"
                          "Reading the command line, at flag '%s'\n%s",
                          kServerVersion, directive.shown, status.message()));
    }
  }
  Status status = FinalizeConfig(config);
  if (!status.ok()) {
    return Status::InvalidArgument(absl::StrFormat(
        "\n*** FATAL CONFIG ERROR (mirrorkv-server %s) ***\n%s", kServerVersion, status.message()));
  }
  return config;
}

std::string ConfigValue(const ServerConfig& config, std::string_view name) {
  std::string lower = absl::AsciiStrToLower(internal::AsAbsl(name));
  if (const Param* param = FindParam(lower)) return param->get(config);
  if (const Passthrough* entry = FindPassthrough(lower)) {
    auto it = config.passthrough.find(lower);
    return it != config.passthrough.end() ? it->second : std::string(entry->default_value);
  }
  return {};
}

std::vector<std::pair<std::string, std::string>> ConfigGet(
    const ServerConfig& config, const std::vector<std::string_view>& patterns) {
  std::vector<std::string> lowered;
  for (std::string_view pattern : patterns) {
    lowered.push_back(absl::AsciiStrToLower(internal::AsAbsl(pattern)));
  }
  auto matches = [&](std::string_view name) {
    for (const std::string& pattern : lowered) {
      if (internal::GlobMatch(pattern, name)) return true;
    }
    return false;
  };
  std::vector<std::pair<std::string, std::string>> result;
  for (const Param& param : kParams) {
    if (matches(param.name)) result.emplace_back(param.name, param.get(config));
  }
  for (const Passthrough& entry : kPassthrough) {
    if (matches(entry.name)) result.emplace_back(entry.name, ConfigValue(config, entry.name));
  }
  return result;
}

// CONFIG SET applies every pair to a copy and commits only if all succeed, so a failed
// call changes nothing (Redis 7 does the same for multi-parameter CONFIG SET).
Status ConfigSet(ServerConfig& config, const std::vector<std::string_view>& args,
                 bool loopback_client) {
  ServerConfig updated = config;
  std::set<std::string> seen;
  for (size_t i = 0; i + 1 < args.size(); i += 2) {
    std::string name = absl::AsciiStrToLower(internal::AsAbsl(args[i]));
    const Param* param = FindParam(name);
    if (param == nullptr && FindPassthrough(name) == nullptr) {
      return Status::InvalidArgument(absl::StrFormat(
          "ERR Unknown option or number of arguments for CONFIG SET - '%s'", args[i]));
    }
    auto failed = [&](std::string_view reason) {
      return Status::InvalidArgument(absl::StrFormat(
          "ERR CONFIG SET failed (possibly related to argument '%s') - %s", args[i], reason));
    };
    if (!seen.insert(name).second) return failed("duplicate parameter");
    if (param != nullptr && param->mutability == Mutability::kStartOnly) {
      return failed("can't set immutable config");
    }
    if (param != nullptr && param->mutability == Mutability::kProtected &&
        !(config.enable_protected_configs == ProtectedConfigs::kYes ||
          (config.enable_protected_configs == ProtectedConfigs::kLocal && loopback_client))) {
      return failed("can't set protected config");
    }
    std::vector<std::string> words = {name, std::string(args[i + 1])};
    bool first_save = true;  // CONFIG SET save replaces the whole list
    Status status = ApplyDirective(updated, words, &first_save);
    if (!status.ok()) return failed(status.message());
    if (name == "dir") {
      Status resolved = FinalizeConfig(updated);
      if (!resolved.ok()) return failed(std::strerror(ENOENT));
    }
  }
  config = std::move(updated);
  return Status::Ok();
}

// CONFIG REWRITE follows Redis's rewriteConfig: the file keeps its comments, unknown
// lines and order; the first line of each known parameter is replaced by its current
// value and later duplicates are dropped; parameters changed from their defaults that
// the file did not mention are appended under a marker comment.
Status ConfigRewrite(const ServerConfig& config) {
  if (config.config_file.empty()) {
    return Status::FailedPrecondition("ERR The server is running without a config file");
  }
  std::vector<std::string> lines;
  {
    std::ifstream file(config.config_file);
    std::string line;
    while (file && std::getline(file, line)) lines.push_back(line);
  }
  std::vector<std::string> output;
  std::set<std::string> written;
  for (const std::string& line : lines) {
    absl::string_view stripped = absl::StripAsciiWhitespace(line);
    std::string_view trimmed(stripped.data(), stripped.size());
    Result<std::vector<std::string>> words = SplitLine(std::string(trimmed));
    if (trimmed.empty() || trimmed[0] == '#' || !words.ok() || words->empty()) {
      output.push_back(line);
      continue;
    }
    std::string name = absl::AsciiStrToLower((*words)[0]);
    const Param* param = FindParam(name);
    if (param == nullptr && FindPassthrough(name) == nullptr) {
      output.push_back(line);
      continue;
    }
    if (param != nullptr) name = param->name;    // an alias (slaveof) is the same parameter
    if (!written.insert(name).second) continue;  // later duplicates are folded into one line
    if (param != nullptr) {
      std::string replaced = ConfigLine(*param, config);
      if (!replaced.empty()) output.push_back(std::move(replaced));
    } else {
      output.push_back(PassthroughLine(*FindPassthrough(name), ConfigValue(config, name)));
    }
  }
  // Parameters set away from their defaults that the file did not mention.
  ServerConfig defaults;
  bool header = false;
  for (const Param& param : kParams) {
    if (written.count(std::string(param.name)) || param.get(config) == param.get(defaults)) {
      continue;
    }
    if (!header) {
      output.push_back("# Generated by CONFIG REWRITE");
      header = true;
    }
    output.push_back(ConfigLine(param, config));
  }
  for (const auto& [name, value] : config.passthrough) {
    if (written.count(name)) continue;
    if (!header) {
      output.push_back("# Generated by CONFIG REWRITE");
      header = true;
    }
    output.push_back(PassthroughLine(*FindPassthrough(name), value));
  }

  std::string content = absl::StrJoin(output, "\n") + "\n";
  std::string temporary = absl::StrCat(config.config_file, ".tmp-", getpid());
  int fd = open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Status::IOError(absl::StrFormat("ERR Rewriting config file: %s", std::strerror(errno)));
  }
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int error = errno;
      close(fd);
      unlink(temporary.c_str());
      return Status::IOError(
          absl::StrFormat("ERR Rewriting config file: %s", std::strerror(error)));
    }
    done += static_cast<size_t>(n);
  }
  // Always close, even when fsync failed, so the descriptor is not leaked.
  int error = fsync(fd) == 0 ? 0 : errno;
  if (close(fd) != 0 && error == 0) error = errno;
  if (error == 0 && rename(temporary.c_str(), config.config_file.c_str()) != 0) error = errno;
  if (error != 0) {
    unlink(temporary.c_str());
    return Status::IOError(absl::StrFormat("ERR Rewriting config file: %s", std::strerror(error)));
  }
  return Status::Ok();
}

}  // namespace mirrorkv::server
