// INFO: the server report, with Redis 7.0's section and field names and format
// ("# Section\r\nname:value\r\n...", sections separated by a blank line), so that tools
// that parse INFO (redis-cli, monitoring agents, redis-sentinel) read it unchanged.
//
// used_memory is what the Store accounts for its entries, buckets and TTL bookkeeping
// (StoreStats::memory_used, the number maxmemory is checked against); used_memory_rss is
// the process's resident size from /proc.
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/base/strings.h"
#include "mirrorkv/clock.h"
#include "mirrorkv/store.h"
#include "server/io_thread.h"
#include "server/keyspace_listener.h"
#include "server/persistence.h"
#include "server/pubsub.h"
#include "server/replication_role.h"
#include "server/server.h"
#include "server/version.h"

namespace mirrorkv::server {
namespace {

// Redis's bytesToHuman.
std::string Human(uint64_t bytes) {
  double value = static_cast<double>(bytes);
  if (bytes < 1024) return absl::StrCat(bytes, "B");
  if (bytes < (1ull << 20)) return absl::StrFormat("%.2fK", value / 1024);
  if (bytes < (1ull << 30)) return absl::StrFormat("%.2fM", value / (1 << 20));
  if (bytes < (1ull << 40)) return absl::StrFormat("%.2fG", value / (1ull << 30));
  return absl::StrFormat("%.2fT", value / (1ull << 40));
}

uint64_t ResidentBytes() {
  FILE* file = std::fopen("/proc/self/statm", "r");
  if (file == nullptr) return 0;
  unsigned long pages = 0, resident = 0;
  int fields = std::fscanf(file, "%lu %lu", &pages, &resident);
  std::fclose(file);
  return fields == 2 ? resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

struct Totals {
  uint64_t commands = 0, input = 0, output = 0, errors = 0, connections = 0;
};

Totals SumThreads(const Server& server) {
  Totals totals;
  for (const IoThread* thread : server.threads()) {
    const ThreadStats& stats = thread->stats();
    totals.commands += stats.commands.load(std::memory_order_relaxed);
    totals.input += stats.net_input_bytes.load(std::memory_order_relaxed);
    totals.output += stats.net_output_bytes.load(std::memory_order_relaxed);
    totals.errors += stats.error_replies.load(std::memory_order_relaxed);
    totals.connections += stats.connections.load(std::memory_order_relaxed);
  }
  return totals;
}

// Appends "name:value\r\n".
template <typename T>
void Field(std::string* out, std::string_view name, const T& value) {
  if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    absl::StrAppend(out, internal::AsAbsl(name), ":", internal::AsAbsl(std::string_view(value)),
                    "\r\n");
  } else {
    absl::StrAppend(out, internal::AsAbsl(name), ":", value, "\r\n");
  }
}

void ServerSection(Server& server, const ServerConfig& config, std::string* out) {
  struct utsname name;
  uname(&name);
  int64_t now = SystemClock::Default()->NowMillis();
  int64_t uptime = (now - server.start_time_ms()) / 1000;
  Field(out, "redis_version", kRedisVersion);
  Field(out, "redis_git_sha1", "00000000");
  Field(out, "redis_git_dirty", 0);
  Field(out, "redis_build_id", "0");
  Field(out, "redis_mode", "standalone");
  Field(out, "os", absl::StrCat(name.sysname, " ", name.release, " ", name.machine));
  Field(out, "arch_bits", sizeof(void*) * 8);
  Field(out, "monotonic_clock", "POSIX clock_gettime");
  Field(out, "multiplexing_api", "epoll");
  Field(out, "atomicvar_api", "c11-builtin");
  Field(out, "gcc_version",
        absl::StrFormat("%d.%d.%d", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__));
  Field(out, "process_id", getpid());
  Field(out, "process_supervised", "no");
  Field(out, "run_id", server.run_id());
  Field(out, "tcp_port", server.port());
  Field(out, "server_time_usec", now * 1000);
  Field(out, "uptime_in_seconds", uptime);
  Field(out, "uptime_in_days", uptime / 86400);
  Field(out, "hz", config.hz);
  Field(out, "configured_hz", config.hz);
  Field(out, "lru_clock", (now / 1000) & ((1 << 24) - 1));
  Field(out, "executable", server.executable());
  Field(out, "config_file", config.config_file);
  Field(out, "io_threads_active", server.threads().size() > 1 ? 1 : 0);
  Field(out, "mirrorkv_version", kServerVersion);
  Field(out, "io_threads", server.threads().size());
}

void ClientsSection(Server& server, const ServerConfig& config, std::string* out) {
  Field(out, "connected_clients", server.clients().size());
  Field(out, "cluster_connections", 0);
  Field(out, "maxclients", config.maxclients);
  Field(out, "client_recent_max_input_buffer", 0);
  Field(out, "client_recent_max_output_buffer", 0);
  // Clients blocked on keys (BLPOP ...); WAIT and script callers are not counted.
  Field(out, "blocked_clients", server.keyspace().blocked_clients());
  Field(out, "tracking_clients", 0);
  Field(out, "clients_in_timeout_table", 0);
}

// The peak is not tracked separately: the Store reports what it holds now, and tools
// only compare used_memory with maxmemory.
void MemorySection(const StoreStats& stats, const ServerConfig& config, std::string* out) {
  uint64_t rss = ResidentBytes();
  Field(out, "used_memory", stats.memory_used);
  Field(out, "used_memory_human", Human(stats.memory_used));
  Field(out, "used_memory_rss", rss);
  Field(out, "used_memory_rss_human", Human(rss));
  Field(out, "used_memory_peak", stats.memory_used);
  Field(out, "used_memory_peak_human", Human(stats.memory_used));
  Field(out, "used_memory_dataset", stats.memory_used);
  uint64_t total =
      static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  Field(out, "total_system_memory", total);
  Field(out, "total_system_memory_human", Human(total));
  Field(out, "maxmemory", config.maxmemory);
  Field(out, "maxmemory_human", Human(config.maxmemory));
  Field(out, "maxmemory_policy", EvictionPolicyName(config.maxmemory_policy));
  Field(out, "mem_fragmentation_ratio",
        absl::StrFormat(
            "%.2f", stats.memory_used > 0 ? static_cast<double>(rss) / stats.memory_used : 0.0));
  Field(out, "mem_allocator", "libc");
  Field(out, "lazyfree_pending_objects", 0);
}

void PersistenceSection(Server& server, std::string* out) {
  Persistence::Stats stats = server.persistence().stats();
  Field(out, "loading", 0);
  Field(out, "async_loading", 0);
  Field(out, "rdb_changes_since_last_save", stats.changes_since_last_save);
  Field(out, "rdb_bgsave_in_progress", stats.bgsave_in_progress ? 1 : 0);
  Field(out, "rdb_last_save_time", stats.last_save_unix);
  Field(out, "rdb_last_bgsave_status", stats.last_bgsave_ok ? "ok" : "err");
  Field(out, "rdb_last_bgsave_time_sec", stats.last_bgsave_seconds);
  Field(out, "rdb_current_bgsave_time_sec", stats.current_bgsave_seconds);
  Field(out, "rdb_saves", stats.saves);
  Field(out, "rdb_last_load_keys_expired", stats.last_load_keys_expired);
  Field(out, "rdb_last_load_keys_loaded", stats.last_load_keys_loaded);
  Field(out, "mirrorkv_last_load_keys_skipped", stats.last_load_keys_skipped);
  Field(out, "aof_enabled", 0);
  Field(out, "aof_rewrite_in_progress", 0);
  Field(out, "aof_rewrite_scheduled", 0);
  Field(out, "aof_last_rewrite_time_sec", -1);
  Field(out, "aof_current_rewrite_time_sec", -1);
  Field(out, "aof_last_bgrewrite_status", "ok");
  Field(out, "aof_last_write_status", "ok");
}

void StatsSection(Server& server, const StoreStats& stats, std::string* out) {
  Totals totals = SumThreads(server);
  Field(out, "total_connections_received",
        server.counters().connections_received.load(std::memory_order_relaxed));
  Field(out, "total_commands_processed", totals.commands);
  Field(out, "instantaneous_ops_per_sec", server.instantaneous_ops());
  Field(out, "total_net_input_bytes", totals.input);
  Field(out, "total_net_output_bytes", totals.output);
  Field(out, "instantaneous_input_kbps", "0.00");
  Field(out, "instantaneous_output_kbps", "0.00");
  Field(out, "rejected_connections",
        server.counters().rejected_connections.load(std::memory_order_relaxed));
  ResyncCounters resyncs = server.replication().Report().resyncs;
  Field(out, "sync_full", resyncs.full);
  Field(out, "sync_partial_ok", resyncs.partial_ok);
  Field(out, "sync_partial_err", resyncs.partial_refused);
  Field(out, "expired_keys", stats.expired);
  Field(out, "evicted_keys", stats.evicted);
  Field(out, "keyspace_hits", stats.hits);
  Field(out, "keyspace_misses", stats.misses);
  Field(out, "pubsub_channels", server.pubsub().channel_count());
  Field(out, "pubsub_patterns", server.pubsub().pattern_count());
  Field(out, "latest_fork_usec", 0);
  Field(out, "total_forks", 0);
  Field(out, "total_error_replies", totals.errors);
}

// Redis 7.0's fields in its order; redis-sentinel reads role, master_host/port,
// master_link_status, master_link_down_since_seconds, slave_priority, slave_repl_offset,
// replica_announced and the slaveN lines.
void ReplicationSection(Server& server, const ServerConfig& config, std::string* out) {
  ReplicationReport report = server.replication().Report();
  Field(out, "role", report.replica ? "slave" : "master");
  if (report.replica) {
    const ReplicaStatus& link = report.link;
    bool up = link.link == LinkState::kConnected;
    Field(out, "master_host", report.master_host);
    Field(out, "master_port", report.master_port);
    Field(out, "master_link_status", up ? "up" : "down");
    Field(out, "master_last_io_seconds_ago",
          up ? static_cast<int64_t>(link.since_last_io.count() / 1000) : -1);
    Field(out, "master_sync_in_progress", link.link == LinkState::kSyncing ? 1 : 0);
    Field(out, "slave_read_repl_offset", link.position.offset + link.pending_bytes);
    Field(out, "slave_repl_offset", link.position.offset);
    if (!up) {
      // -1: the link was never up (Redis's repl_down_since of 0).
      Field(out, "master_link_down_since_seconds",
            link.down_for.count() > 0 ? static_cast<int64_t>(link.down_for.count() / 1000) : -1);
    }
    Field(out, "slave_priority", config.replica_priority);
    Field(out, "slave_read_only", 1);
    Field(out, "replica_announced", 1);
    // mirrorkv's own: how this replica synchronized so far (tests and operators check
    // that a failover needed only partial resyncs).
    Field(out, "mirrorkv_full_resyncs", link.full_resyncs);
    Field(out, "mirrorkv_partial_resyncs", link.partial_resyncs);
    // Why the link last went down or the last sync failed (empty: never), on one line.
    std::string reason(link.last_error.message());
    std::replace_if(
        reason.begin(), reason.end(), [](char c) { return c == '\r' || c == '\n'; }, ' ');
    Field(out, "mirrorkv_last_link_error", reason);
    // What skip-unsupported-data left out: keys of the last full resync from a Redis
    // primary, and commands of its stream.
    Field(out, "mirrorkv_skipped_keys", link.skipped_keys);
    Field(out, "mirrorkv_skipped_commands", link.skipped_commands);
  }
  Field(out, "connected_slaves", report.replicas.size());
  for (size_t i = 0; i < report.replicas.size(); ++i) {
    const ReplicaInfo& replica = report.replicas[i];
    Field(out, absl::StrCat("slave", i),
          absl::StrCat(
              "ip=", internal::AsAbsl(ReplicaHost(replica.peer)), ",port=", replica.listening_port,
              ",state=", replica.online ? "online" : "wait_bgsave",
              ",offset=", replica.acked_offset, ",lag=", replica.since_ack.count() / 1000));
  }
  uint64_t offset = report.position.offset;
  Field(out, "master_failover_state", "no-failover");
  Field(out, "master_replid", report.position.replication_id);
  bool has_secondary = !report.secondary.replication_id.empty();
  Field(out, "master_replid2",
        has_secondary ? report.secondary.replication_id : std::string(40, '0'));
  Field(out, "master_repl_offset", offset);
  Field(out, "second_repl_offset",
        has_secondary ? static_cast<int64_t>(report.secondary.offset) + 1 : -1);
  // Redis counts the backlog's first byte from 1; an inactive backlog reports 0 and 0.
  uint64_t histlen = report.backlog_active && offset > report.backlog_first_offset
                         ? offset - report.backlog_first_offset
                         : 0;
  Field(out, "repl_backlog_active", report.backlog_active ? 1 : 0);
  Field(out, "repl_backlog_size", report.backlog_bytes);
  Field(out, "repl_backlog_first_byte_offset",
        report.backlog_active ? report.backlog_first_offset + 1 : 0);
  Field(out, "repl_backlog_histlen", histlen);
}

void CpuSection(std::string* out) {
  struct rusage self, children;
  getrusage(RUSAGE_SELF, &self);
  getrusage(RUSAGE_CHILDREN, &children);
  auto seconds = [](const struct timeval& tv) {
    return absl::StrFormat("%.6f", tv.tv_sec + tv.tv_usec / 1e6);
  };
  Field(out, "used_cpu_sys", seconds(self.ru_stime));
  Field(out, "used_cpu_user", seconds(self.ru_utime));
  Field(out, "used_cpu_sys_children", seconds(children.ru_stime));
  Field(out, "used_cpu_user_children", seconds(children.ru_utime));
}

void KeyspaceSection(const StoreStats& stats, std::string* out) {
  if (stats.keys == 0) return;
  Field(out, "db0",
        absl::StrCat("keys=", stats.keys, ",expires=", stats.keys_with_expiry, ",avg_ttl=0"));
}

}  // namespace

// "all", "everything" and "default" select every section this server has; an unknown
// section name yields an empty reply, as in Redis.
std::string BuildInfo(Server& server, const std::vector<std::string>& requested) {
  static constexpr std::string_view kDefault[] = {
      "server", "clients", "memory",     "persistence", "stats",   "replication",
      "cpu",    "modules", "errorstats", "cluster",     "keyspace"};
  auto wanted = [&](std::string_view section) {
    if (requested.empty()) return true;
    for (const std::string& name : requested) {
      if (name == section || name == "all" || name == "everything" || name == "default") {
        return true;
      }
    }
    return false;
  };
  ServerConfig config = server.config();
  StoreStats stats = server.store().stats();
  std::string out;
  int sections = 0;
  for (std::string_view section : kDefault) {
    if (!wanted(section)) continue;
    if (sections++ > 0) out += "\r\n";
    if (section == "server") {
      out += "# Server\r\n";
      ServerSection(server, config, &out);
    } else if (section == "clients") {
      out += "# Clients\r\n";
      ClientsSection(server, config, &out);
    } else if (section == "memory") {
      out += "# Memory\r\n";
      MemorySection(stats, config, &out);
    } else if (section == "persistence") {
      out += "# Persistence\r\n";
      PersistenceSection(server, &out);
    } else if (section == "stats") {
      out += "# Stats\r\n";
      StatsSection(server, stats, &out);
    } else if (section == "replication") {
      out += "# Replication\r\n";
      ReplicationSection(server, config, &out);
    } else if (section == "cpu") {
      out += "# CPU\r\n";
      CpuSection(&out);
    } else if (section == "modules") {
      out += "# Modules\r\n";
    } else if (section == "errorstats") {
      out += "# Errorstats\r\n";
    } else if (section == "cluster") {
      out += "# Cluster\r\n";
      Field(&out, "cluster_enabled", 0);
    } else if (section == "keyspace") {
      out += "# Keyspace\r\n";
      KeyspaceSection(stats, &out);
    }
  }
  return out;
}

}  // namespace mirrorkv::server
