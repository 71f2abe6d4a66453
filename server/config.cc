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
#include "engine/base/numbers.h"
#include "engine/base/strings.h"
#include "engine/glob.h"
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

// How a parameter's words are counted: exactly one, or any number (bind, save).
enum class Arity : uint8_t { kOne, kMany };

struct Param {
  std::string_view name;
  bool runtime;  // CONFIG SET may change it
  Arity arity;
  Status (*apply)(ServerConfig& config, Words values);
  std::string (*get)(const ServerConfig& config);
  // Quote the value in CONFIG REWRITE (strings); lists and numbers are written bare.
  bool quoted = false;
};

// The eviction policies mirrorkv implements, in the order CONFIG SET's error lists them.
constexpr std::string_view kPolicyNames =
    "noeviction, allkeys-lru, volatile-lru, allkeys-random, volatile-ttl, allkeys-sieve";

// The parameters, in the order CONFIG GET lists them and CONFIG REWRITE appends them.
// `runtime` false means CONFIG SET refuses them (they take effect at start only: the
// listening sockets, the thread count, the log file, the Store's sampling size).
const Param kParams[] = {
    {"bind", false, Arity::kMany,
     [](ServerConfig& c, Words v) {
       if (v.empty()) return Invalid("Too many bind addresses specified.");
       c.bind.assign(v.begin(), v.end());
       return Status::Ok();
     },
     [](const ServerConfig& c) { return absl::StrJoin(c.bind, " "); }},
    {"port", false, Arity::kOne,
     [](ServerConfig& c, Words v) { return ParseInt(v[0], 0, 65535, &c.port); },
     [](const ServerConfig& c) { return absl::StrCat(c.port); }},
    {"protected-mode", true, Arity::kOne,
     [](ServerConfig& c, Words v) { return ParseBool(v[0], &c.protected_mode); },
     [](const ServerConfig& c) { return YesNo(c.protected_mode); }},
    {"requirepass", true, Arity::kOne,
     [](ServerConfig& c, Words v) {
       c.requirepass = v[0];
       return Status::Ok();
     },
     [](const ServerConfig& c) { return c.requirepass; }, true},
    {"maxmemory", true, Arity::kOne,
     [](ServerConfig& c, Words v) { return ParseMemoryParam(v[0], 0, &c.maxmemory); },
     [](const ServerConfig& c) { return absl::StrCat(c.maxmemory); }},
    {"maxmemory-policy", true, Arity::kOne,
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
    {"maxmemory-samples", false, Arity::kOne,
     [](ServerConfig& c, Words v) { return ParseInt(v[0], 1, 64, &c.maxmemory_samples); },
     [](const ServerConfig& c) { return absl::StrCat(c.maxmemory_samples); }},
    {"dir", true, Arity::kOne,
     [](ServerConfig& c, Words v) {
       c.dir = v[0];
       return Status::Ok();
     },
     [](const ServerConfig& c) { return c.dir; }, true},
    {"dbfilename", true, Arity::kOne,
     [](ServerConfig& c, Words v) {
       if (v[0].empty() || v[0].find('/') != std::string::npos) {
         return Invalid("dbfilename can't be a path, just a filename");
       }
       c.dbfilename = v[0];
       return Status::Ok();
     },
     [](const ServerConfig& c) { return c.dbfilename; }, true},
    {"save", true, Arity::kMany, [](ServerConfig& c, Words v) { return ParseSave(v, &c.save); },
     [](const ServerConfig& c) { return FormatSave(c.save); }},
    {"appendonly", true, Arity::kOne,
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
    {"loglevel", true, Arity::kOne,
     [](ServerConfig& c, Words v) {
       Result<LogLevel> level = ParseLogLevel(v[0]);
       if (!level.ok()) return level.status();
       c.loglevel = *level;
       return Status::Ok();
     },
     [](const ServerConfig& c) { return std::string(LogLevelName(c.loglevel)); }},
    {"logfile", false, Arity::kOne,
     [](ServerConfig& c, Words v) {
       c.logfile = v[0];
       return Status::Ok();
     },
     [](const ServerConfig& c) { return c.logfile; }, true},
    {"pidfile", false, Arity::kOne,
     [](ServerConfig& c, Words v) {
       c.pidfile = v[0];
       return Status::Ok();
     },
     [](const ServerConfig& c) { return c.pidfile; }, true},
    {"io-threads", false, Arity::kOne,
     [](ServerConfig& c, Words v) { return ParseInt(v[0], 0, 128, &c.io_threads); },
     [](const ServerConfig& c) { return absl::StrCat(c.io_threads); }},
    {"timeout", true, Arity::kOne,
     [](ServerConfig& c, Words v) { return ParseInt(v[0], 0, INT_MAX, &c.timeout); },
     [](const ServerConfig& c) { return absl::StrCat(c.timeout); }},
    {"maxclients", true, Arity::kOne,
     [](ServerConfig& c, Words v) { return ParseInt(v[0], 1, INT_MAX, &c.maxclients); },
     [](const ServerConfig& c) { return absl::StrCat(c.maxclients); }},
    {"proto-max-bulk-len", true, Arity::kOne,
     [](ServerConfig& c, Words v) {
       uint64_t bytes;
       MIRRORKV_RETURN_IF_ERROR(ParseMemoryParam(v[0], 1 << 20, &bytes));
       if (bytes > (uint64_t{1} << 62)) return Invalid("argument must be a memory value");
       c.proto_max_bulk_len = static_cast<int64_t>(bytes);
       return Status::Ok();
     },
     [](const ServerConfig& c) { return absl::StrCat(c.proto_max_bulk_len); }},
    {"client-query-buffer-limit", true, Arity::kOne,
     [](ServerConfig& c, Words v) {
       uint64_t bytes;
       MIRRORKV_RETURN_IF_ERROR(ParseMemoryParam(v[0], 1 << 20, &bytes));
       if (bytes > (uint64_t{1} << 62)) return Invalid("argument must be a memory value");
       c.client_query_buffer_limit = static_cast<int64_t>(bytes);
       return Status::Ok();
     },
     [](const ServerConfig& c) { return absl::StrCat(c.client_query_buffer_limit); }},
    {"tcp-backlog", false, Arity::kOne,
     [](ServerConfig& c, Words v) { return ParseInt(v[0], 0, INT_MAX, &c.tcp_backlog); },
     [](const ServerConfig& c) { return absl::StrCat(c.tcp_backlog); }},
    {"tcp-keepalive", true, Arity::kOne,
     [](ServerConfig& c, Words v) { return ParseInt(v[0], 0, INT_MAX, &c.tcp_keepalive); },
     [](const ServerConfig& c) { return absl::StrCat(c.tcp_keepalive); }},
    {"hz", true, Arity::kOne,
     [](ServerConfig& c, Words v) { return ParseInt(v[0], 1, 500, &c.hz); },
     [](const ServerConfig& c) { return absl::StrCat(c.hz); }},
    {"databases", false, Arity::kOne,
     [](ServerConfig& c, Words v) { return ParseInt(v[0], 1, INT_MAX, &c.databases); },
     [](const ServerConfig& c) { return absl::StrCat(c.databases); }},
    {"daemonize", false, Arity::kOne,
     [](ServerConfig&, Words v) {
       bool on;
       MIRRORKV_RETURN_IF_ERROR(ParseBool(v[0], &on));
       if (on) return Invalid("daemonize yes is not supported: run it under a supervisor");
       return Status::Ok();
     },
     [](const ServerConfig&) { return std::string("no"); }},
    // "replicaof <host> <port>", or "replicaof no one" (none). Changed at run time by the
    // REPLICAOF command, not by CONFIG SET (as in Redis).
    {"replicaof", false, Arity::kMany,
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
     }},
    {"masterauth", true, Arity::kOne,
     [](ServerConfig& c, Words v) {
       c.masterauth = v[0];
       return Status::Ok();
     },
     [](const ServerConfig& c) { return c.masterauth; }, true},
    // Fixed while the server runs: the Primary's backlog is sized when it is created (a
    // change would need a new Primary, disconnecting every replica).
    {"repl-backlog-size", false, Arity::kOne,
     [](ServerConfig& c, Words v) {
       uint64_t bytes;
       MIRRORKV_RETURN_IF_ERROR(ParseMemoryParam(v[0], 16 * 1024, &bytes));
       if (bytes > (uint64_t{1} << 40)) return Invalid("argument must be a memory value");
       c.repl_backlog_size = static_cast<int64_t>(bytes);
       return Status::Ok();
     },
     [](const ServerConfig& c) { return absl::StrCat(c.repl_backlog_size); }},
    {"min-replicas-to-write", true, Arity::kOne,
     [](ServerConfig& c, Words v) { return ParseInt(v[0], 0, INT_MAX, &c.min_replicas_to_write); },
     [](const ServerConfig& c) { return absl::StrCat(c.min_replicas_to_write); }},
    {"min-replicas-max-lag", true, Arity::kOne,
     [](ServerConfig& c, Words v) { return ParseInt(v[0], 0, INT_MAX, &c.min_replicas_max_lag); },
     [](const ServerConfig& c) { return absl::StrCat(c.min_replicas_max_lag); }},
    {"replica-priority", true, Arity::kOne,
     [](ServerConfig& c, Words v) { return ParseInt(v[0], 0, INT_MAX, &c.replica_priority); },
     [](const ServerConfig& c) { return absl::StrCat(c.replica_priority); }},
    // mirrorkv's own: Redis data it does not hold (docs/server.md, "Redis interoperability").
    // Read when a sync or a load starts.
    {"skip-unsupported-data", true, Arity::kOne,
     [](ServerConfig& c, Words v) { return ParseBool(v[0], &c.skip_unsupported_data); },
     [](const ServerConfig& c) { return YesNo(c.skip_unsupported_data); }},
    {"load-rdb", false, Arity::kOne,
     [](ServerConfig& c, Words v) {
       c.load_rdb = v[0];
       return Status::Ok();
     },
     [](const ServerConfig& c) { return c.load_rdb; }, true},
    {"io-backend", false, Arity::kOne,
     [](ServerConfig& c, Words v) {
       std::string lower = absl::AsciiStrToLower(v[0]);
       if (lower != "asio" && lower != "epoll") {
         return Invalid("argument(s) must be one of the following: asio, epoll");
       }
       c.io_backend = lower;
       return Status::Ok();
     },
     [](const ServerConfig& c) { return c.io_backend; }},
};

// Redis parameters that change nothing here but appear in configs written for Redis and
// in tools' CONFIG GET calls: accepted with any value and kept as text.
struct Passthrough {
  std::string_view name;
  std::string_view default_value;
};
const Passthrough kPassthrough[] = {
    {"activerehashing", "yes"},
    {"always-show-logo", "no"},
    {"appendfilename", "appendonly.aof"},
    {"appendfsync", "everysec"},
    {"aof-use-rdb-preamble", "yes"},
    {"auto-aof-rewrite-min-size", "67108864"},
    {"auto-aof-rewrite-percentage", "100"},
    {"client-output-buffer-limit",
     "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"},
    {"crash-log-enabled", "yes"},
    {"crash-memcheck-enabled", "yes"},
    {"dynamic-hz", "yes"},
    {"io-threads-do-reads", "no"},
    {"jemalloc-bg-thread", "yes"},
    {"latency-monitor-threshold", "0"},
    {"lazyfree-lazy-eviction", "no"},
    {"lazyfree-lazy-expire", "no"},
    {"lazyfree-lazy-server-del", "no"},
    {"lazyfree-lazy-user-del", "no"},
    {"lazyfree-lazy-user-flush", "no"},
    {"lua-time-limit", "5000"},
    {"no-appendfsync-on-rewrite", "no"},
    {"notify-keyspace-events", ""},
    {"oom-score-adj", "no"},
    {"rdb-del-sync-files", "no"},
    {"rdbchecksum", "yes"},
    {"rdbcompression", "yes"},
    {"repl-diskless-load", "disabled"},
    {"repl-diskless-sync", "yes"},
    {"repl-diskless-sync-delay", "5"},
    {"repl-ping-replica-period", "10"},
    {"repl-timeout", "60"},
    {"replica-announced", "yes"},
    {"replica-lazy-flush", "no"},
    {"replica-read-only", "yes"},
    {"replica-serve-stale-data", "yes"},
    {"set-proc-title", "yes"},
    {"slowlog-log-slower-than", "10000"},
    {"slowlog-max-len", "128"},
    {"stop-writes-on-bgsave-error", "yes"},
    {"supervised", "no"},
    {"syslog-enabled", "no"},
    {"syslog-ident", "redis"},
};

// Redis's older names, still accepted in files, flags and CONFIG SET.
constexpr std::pair<std::string_view, std::string_view> kAliases[] = {
    {"slaveof", "replicaof"},
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

// Quotes a value for a config line when sdssplitargs would not read it back as is.
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

// The config-file line that sets `param` to its current value; empty for no line (a
// server that follows no primary has no replicaof line).
std::string ConfigLine(const Param& param, const ServerConfig& config) {
  std::string value = param.get(config);
  if (param.name == "save" && value.empty()) return "save \"\"";
  if (param.name == "replicaof" && value.empty()) return {};
  if (param.quoted) return absl::StrCat(internal::AsAbsl(param.name), " ", QuoteIfNeeded(value));
  return absl::StrCat(internal::AsAbsl(param.name), " ", value);
}

Result<std::vector<std::string>> SplitLine(std::string line) {
  std::vector<std::string_view> views;
  if (!SplitArgsInPlace({line.data(), line.size()}, &views)) {
    return Status::InvalidArgument("Unbalanced quotes in configuration line");
  }
  return std::vector<std::string>(views.begin(), views.end());
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
  if (FindPassthrough(name) != nullptr) {
    config.passthrough[name] = absl::StrJoin(values, " ");
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
  // Flags: "--name value..." groups, each applied like a config line.
  for (size_t i = 0; i < flags.size();) {
    if (flags[i].size() < 3 || flags[i].compare(0, 2, "--") != 0) {
      return Status::InvalidArgument(
          absl::StrFormat("\n*** FATAL CONFIG ERROR (mirrorkv-server %s) ***\n"
                          "Unexpected argument '%s': options are given as --name value",
                          kServerVersion, flags[i]));
    }
    std::vector<std::string> words = {flags[i].substr(2)};
    size_t j = i + 1;
    while (j < flags.size() && flags[j].compare(0, 2, "--") != 0) words.push_back(flags[j++]);
    Status status = ApplyDirective(config, words, &first_save);
    if (!status.ok()) {
      std::string shown = absl::StrJoin(flags.begin() + i, flags.begin() + j, " ");
      return Status::InvalidArgument(
          absl::StrFormat("\n*** FATAL CONFIG ERROR (mirrorkv-server %s) ***\n"
                          "Reading the command line, at flag '%s'\n%s",
                          kServerVersion, shown, status.message()));
    }
    i = j;
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
Status ConfigSet(ServerConfig& config, const std::vector<std::string_view>& args) {
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
    if (param != nullptr && !param->runtime) return failed("can't set immutable config");
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
      output.push_back(absl::StrCat(name, " ", ConfigValue(config, name)));
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
    output.push_back(absl::StrCat(name, " ", value));
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
