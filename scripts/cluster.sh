#!/usr/bin/env bash
# Starts, inspects and stops a sharded mirrorkv deployment on this machine, on loopback
# only, from Debian's packages and the built mirrorkv-server (docs/scale-out.md):
#
#   clients -> nutcracker (twemproxy, ketama over S shard names)
#           -> HAProxy, one `listen` section per shard, forwarding to whichever node of
#              the shard answers `role:master` to its health check
#           -> mirrorkv-server: per shard one primary and R replicas
#   3 redis-sentinels (quorum 2) monitor every shard and fail it over.
#
#   scripts/cluster.sh start [--shards S] [--replicas R] [--server PATH] [--dir DIR]
#   scripts/cluster.sh status [--dir DIR]
#   scripts/cluster.sh restart --shard N --node M [--dir DIR]
#   scripts/cluster.sh stop [--dir DIR]
#
# `restart` starts a stopped node again as a replica of its shard's current primary (as
# Sentinel names it). A failed primary restarted on its own configuration would come
# back as an empty primary, which HAProxy's role check would accept beside the promoted
# one until Sentinel demotes it (docs/scale-out.md, "Failure modes").
#
# Ports are chosen free at start. Every process's configuration, log and pid live in the
# state directory, printed by `start` (default: a new /tmp/mirrorkv-cluster.XXXXXX), whose
# cluster.env names every port; `status` and `stop` default to the last one started.
# Timing knobs for tests and experiments (environment): CLUSTER_DOWN_AFTER_MS (Sentinel's
# down-after-milliseconds, default 1000), CLUSTER_CHECK_INTER_MS (HAProxy's check
# interval, default 500), CLUSTER_PROXY_TIMEOUT_MS (nutcracker's timeout for a reply,
# default 2000).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
last_file="${TMPDIR:-/tmp}/mirrorkv-cluster.last"

shards=3
replicas=1
server=""
dir=""
restart_shard=""
restart_node=""
down_after_ms="${CLUSTER_DOWN_AFTER_MS:-1000}"
check_inter_ms="${CLUSTER_CHECK_INTER_MS:-500}"
proxy_timeout_ms="${CLUSTER_PROXY_TIMEOUT_MS:-2000}"
wait_seconds=30  # bound on every wait for a process to answer or to exit

die() { echo "cluster.sh: $*" >&2; exit 1; }

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
  exit "${1:-0}"
}

# Prints $1 distinct TCP ports that nothing on 127.0.0.1 listens on right now. All are
# held open together while choosing, so none is chosen twice.
free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
held = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    held.append(s)
print(" ".join(str(s.getsockname()[1]) for s in held))
EOF
}

# Waits until something answers PING with +PONG on 127.0.0.1:$1 (bounded); with a pid
# file $3, gives up as soon as that process has exited.
wait_pong() {
  local port=$1 what=$2 pidfile=${3:-}
  local deadline=$((SECONDS + wait_seconds))
  while ((SECONDS < deadline)); do
    if [ "$(redis-cli -h 127.0.0.1 -p "$port" PING 2>/dev/null)" = "PONG" ]; then return 0; fi
    if [ -n "$pidfile" ] && ! alive "$pidfile"; then
      die "$what on port $port exited: see $(dirname "$pidfile")"
    fi
    sleep 0.1
  done
  die "$what on port $port did not answer PING within ${wait_seconds}s (logs in $dir)"
}

# Field $3 of `SENTINEL MASTER $2` asked of the sentinel on port $1.
sentinel_field() {
  redis-cli -p "$1" SENTINEL MASTER "$2" 2>/dev/null | awk -v f="$3" 'p { print; exit } $0 == f { p = 1 }'
}

# Waits until the sentinel on port $1 can fail shard $2 over: it knows its $3 replicas with
# their links up and the two other sentinels (a failover needs a quorum and a leader).
wait_sentinel_ready() {
  local port=$1 shard=$2 want=$3
  local deadline=$((SECONDS + wait_seconds))
  while ((SECONDS < deadline)); do
    if [ "$(sentinel_field "$port" "$shard" num-slaves)" = "$want" ] &&
      [ "$(sentinel_field "$port" "$shard" num-other-sentinels)" = "2" ] &&
      [ "$(redis-cli -p "$port" SENTINEL REPLICAS "$shard" 2>/dev/null |
        grep -cx ok)" = "$want" ]; then
      return 0
    fi
    sleep 0.1
  done
  die "sentinel on port $port does not see $shard's replicas and peers within ${wait_seconds}s"
}

# Prints, one per line, "<shard> <node> <status> <last check>" for every node behind
# HAProxy, from its stats socket.
haproxy_servers() {
  python3 - "$dir/haproxy/stats.sock" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(b"show stat\n")
data = b""
while chunk := s.recv(65536):
    data += chunk
for line in data.decode().splitlines():
    f = line.split(",")
    if len(f) > 36 and not line.startswith("#") and f[1] not in ("FRONTEND", "BACKEND"):
        print(f[0], f[1], f[17], f[36])
EOF
}

# Waits until HAProxy's section for shard $1 forwards to node $2 only.
wait_haproxy_primary() {
  local shard=$1 node=$2
  local deadline=$((SECONDS + wait_seconds))
  while ((SECONDS < deadline)); do
    if [ "$(haproxy_servers 2>/dev/null | awk -v s="$shard" '$1 == s && $3 == "UP" { print $2 }')" \
      = "$node" ]; then
      return 0
    fi
    sleep 0.1
  done
  die "HAProxy does not see $shard/$node as the only primary within ${wait_seconds}s"
}

# Starts "$@" in the background, detached from this shell, in the directory of $pidfile
# (which is how alive() recognizes it later), with its output in $log and its pid in
# $pidfile.
spawn() {
  local log=$1 pidfile=$2
  shift 2
  (cd "$(dirname "$pidfile")" && exec nohup "$@" >>"$log" 2>&1 </dev/null) &
  echo $! >"$pidfile"
}

find_server() {
  if [ -n "$server" ]; then
    [ -x "$server" ] || die "--server $server is not an executable"
    return
  fi
  local candidate
  for candidate in "$repo"/build/*/server/mirrorkv-server; do
    if [ -x "$candidate" ]; then server="$candidate"; return; fi
  done
  die "no mirrorkv-server under $repo/build/*/server/: build it or pass --server PATH"
}

cmd_start() {
  find_server
  local tool
  for tool in nutcracker haproxy redis-sentinel redis-cli python3; do
    command -v "$tool" >/dev/null || die "$tool is not installed (scripts/install-deps.sh)"
  done
  [ "$shards" -ge 1 ] || die "--shards must be at least 1"
  if [ "$replicas" -lt 1 ] || [ "$replicas" -gt 2 ]; then die "--replicas must be 1 or 2"; fi
  if [ -z "$dir" ]; then dir="$(mktemp -d "${TMPDIR:-/tmp}/mirrorkv-cluster.XXXXXX")"; fi
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  [ ! -e "$dir/cluster.env" ] || die "$dir already holds a cluster (stop it first)"
  server="$(cd "$(dirname "$server")" && pwd)/$(basename "$server")"

  local nodes=$((replicas + 1))
  local -a ports
  read -r -a ports <<<"$(free_ports $((shards * nodes + shards + 3 + 2)))"
  local next=0 s n
  {
    echo "SHARDS=$shards"
    echo "NODES_PER_SHARD=$nodes"
    echo "SERVER=$server"
  } >"$dir/cluster.env"
  # A start that fails half-way stops what it started (the logs stay in $dir).
  trap 'echo "cluster.sh: start failed; stopping what started (logs in $dir)" >&2; stop_all' EXIT

  # Shards: node 0 starts as the primary, the others as its replicas. Each node has a
  # config file so that Sentinel's CONFIG REWRITE records role changes in it.
  for ((s = 0; s < shards; s++)); do
    local -a shard_ports=()
    for ((n = 0; n < nodes; n++)); do
      local port=${ports[next]} node_dir="$dir/shard-$s/node-$n"
      next=$((next + 1))
      shard_ports+=("$port")
      mkdir -p "$node_dir"
      {
        echo "port $port"
        echo "bind 127.0.0.1"
        echo "dir $node_dir"
        echo "save \"\""
        if [ "$n" -gt 0 ]; then echo "replicaof 127.0.0.1 ${shard_ports[0]}"; fi
      } >"$node_dir/mirrorkv.conf"
      spawn "$node_dir/server.log" "$node_dir/pid" "$server" "$node_dir/mirrorkv.conf"
    done
    echo "SHARD_${s}_PORTS=\"${shard_ports[*]}\"" >>"$dir/cluster.env"
  done
  # shellcheck source=/dev/null
  source "$dir/cluster.env"
  for ((s = 0; s < shards; s++)); do
    local var="SHARD_${s}_PORTS"
    n=0
    for port in ${!var}; do
      wait_pong "$port" "mirrorkv-server (shard $s)" "$dir/shard-$s/node-$n/pid"
      n=$((n + 1))
    done
  done

  # Sentinels: three, each monitoring every shard with quorum 2.
  local -a sentinel_ports=()
  for ((n = 0; n < 3; n++)); do
    local port=${ports[next]} sentinel_dir="$dir/sentinel-$n"
    next=$((next + 1))
    sentinel_ports+=("$port")
    mkdir -p "$sentinel_dir"
    {
      echo "port $port"
      echo "bind 127.0.0.1"
      echo "dir $sentinel_dir"
      for ((s = 0; s < shards; s++)); do
        local var="SHARD_${s}_PORTS"
        read -r primary_port _ <<<"${!var}"
        echo "sentinel monitor shard-$s 127.0.0.1 $primary_port 2"
        echo "sentinel down-after-milliseconds shard-$s $down_after_ms"
        echo "sentinel failover-timeout shard-$s 10000"
        echo "sentinel parallel-syncs shard-$s 1"
      done
    } >"$sentinel_dir/sentinel.conf"
    spawn "$sentinel_dir/sentinel.log" "$sentinel_dir/pid" \
      redis-sentinel "$sentinel_dir/sentinel.conf"
  done
  echo "SENTINEL_PORTS=\"${sentinel_ports[*]}\"" >>"$dir/cluster.env"

  # HAProxy: one process, one `listen` section per shard. A node is "up" only while it
  # answers PING and reports role:master, so each section forwards to the shard's current
  # primary; sessions to a node marked down are cut so that clients reconnect to the new one.
  local -a haproxy_ports=()
  mkdir -p "$dir/haproxy"
  {
    echo "global"
    echo "  maxconn 4096"
    echo "  stats socket $dir/haproxy/stats.sock mode 600 level admin"
    echo "defaults"
    echo "  mode tcp"
    echo "  timeout connect 1s"
    echo "  timeout client 1h"
    echo "  timeout server 1h"
    echo "  timeout check 1s"
    for ((s = 0; s < shards; s++)); do
      local port=${ports[next]} var="SHARD_${s}_PORTS"
      next=$((next + 1))
      haproxy_ports+=("$port")
      echo "listen shard-$s"
      echo "  bind 127.0.0.1:$port"
      echo "  option tcp-check"
      echo "  tcp-check connect"
      echo "  tcp-check send PING\\r\\n"
      echo "  tcp-check expect string +PONG"
      # QUIT goes with INFO, so that a replica's answer ends with a close and fails the
      # check at once instead of at `timeout check`.
      echo "  tcp-check send info\\ replication\\r\\nQUIT\\r\\n"
      echo "  tcp-check expect string role:master"
      echo "  tcp-check expect string +OK"
      n=0
      for node_port in ${!var}; do
        echo "  server node-$n 127.0.0.1:$node_port check inter ${check_inter_ms}ms" \
          "fall 1 rise 1 on-marked-down shutdown-sessions"
        n=$((n + 1))
      done
    done
  } >"$dir/haproxy/haproxy.cfg"
  haproxy -c -q -f "$dir/haproxy/haproxy.cfg" || die "HAProxy rejected $dir/haproxy/haproxy.cfg"
  spawn "$dir/haproxy/haproxy.log" "$dir/haproxy/pid" haproxy -db -f "$dir/haproxy/haproxy.cfg"
  echo "HAPROXY_PORTS=\"${haproxy_ports[*]}\"" >>"$dir/cluster.env"

  # twemproxy: ketama over the shards' names (not their addresses), so that a shard keeps
  # its keys whatever port its HAProxy section gets. murmur, not the fnv1a_64 of
  # twemproxy's examples: with ketama, fnv1a_64 put all of 60 keys user:0..user:59 on one
  # of 3 shards and 11533 of 30000 session:N keys on another (docs/scale-out.md).
  # Hosts are never ejected: ejecting a shard would send its keys to another shard (wrong
  # answers), while a failed request is retried by the client.
  local proxy_port=${ports[next]} stats_port=${ports[next + 1]}
  next=$((next + 2))
  mkdir -p "$dir/nutcracker"
  {
    echo "mirrorkv:"
    echo "  listen: 127.0.0.1:$proxy_port"
    echo "  hash: murmur"
    echo "  distribution: ketama"
    echo "  redis: true"
    echo "  auto_eject_hosts: false"
    echo "  timeout: $proxy_timeout_ms"
    echo "  servers:"
    for ((s = 0; s < shards; s++)); do
      echo "   - 127.0.0.1:${haproxy_ports[s]}:1 shard-$s"
    done
  } >"$dir/nutcracker/nutcracker.yml"
  nutcracker -t -c "$dir/nutcracker/nutcracker.yml" >/dev/null 2>&1 ||
    die "nutcracker rejected $dir/nutcracker/nutcracker.yml"
  spawn "$dir/nutcracker/nutcracker.log" "$dir/nutcracker/pid" \
    nutcracker -c "$dir/nutcracker/nutcracker.yml" -s "$stats_port" -a 127.0.0.1
  {
    echo "PROXY_PORT=$proxy_port"
    echo "NUTCRACKER_STATS_PORT=$stats_port"
  } >>"$dir/cluster.env"
  echo "$dir" >"$last_file"

  for port in "${sentinel_ports[@]}"; do wait_pong "$port" "redis-sentinel"; done
  # HAProxy counts a server up until its first check fails: wait for the checks to have
  # sorted the nodes, so that no request reaches a replica.
  for ((s = 0; s < shards; s++)); do wait_haproxy_primary "shard-$s" node-0; done
  for port in "${haproxy_ports[@]}"; do wait_pong "$port" "HAProxy (shard primary)"; done
  wait_pong "$proxy_port" "nutcracker"
  for port in "${sentinel_ports[@]}"; do
    for ((s = 0; s < shards; s++)); do wait_sentinel_ready "$port" "shard-$s" "$replicas"; done
  done
  trap - EXIT
  echo "cluster started: $shards shards x $nodes nodes, 3 sentinels"
  echo "state: $dir"
  echo "proxy: redis-cli -p $proxy_port"
}

load_state() {
  if [ -z "$dir" ]; then
    [ -f "$last_file" ] || die "no --dir given and no cluster started from here"
    dir="$(cat "$last_file")"
  fi
  [ -f "$dir/cluster.env" ] || die "$dir holds no cluster (no cluster.env)"
  # shellcheck source=/dev/null
  source "$dir/cluster.env"
}

# True while the process whose pid is in file $1 runs: it exists, and runs in that file's
# directory (so a recycled pid is never taken for it; a zombie has no working directory).
alive() {
  [ -f "$1" ] && [ "$(readlink "/proc/$(<"$1")/cwd" 2>/dev/null)" = "$(dirname "$1")" ]
}

cmd_status() {
  load_state
  echo "state: $dir"
  echo "proxy 127.0.0.1:$PROXY_PORT: $(redis-cli -p "$PROXY_PORT" PING 2>&1)"
  local s n sentinel
  read -r sentinel _ <<<"$SENTINEL_PORTS"
  for ((s = 0; s < SHARDS; s++)); do
    local var="SHARD_${s}_PORTS" ha
    ha=$(echo "$HAPROXY_PORTS" | cut -d' ' -f$((s + 1)))
    echo "shard-$s (HAProxy 127.0.0.1:$ha), Sentinel's primary:" \
      "$(redis-cli -p "$sentinel" SENTINEL GET-MASTER-ADDR-BY-NAME "shard-$s" 2>&1 | paste -sd:)"
    n=0
    for port in ${!var}; do
      local state="stopped"
      if alive "$dir/shard-$s/node-$n/pid"; then
        state="$(redis-cli -p "$port" ROLE 2>&1 | head -1), keys $(redis-cli -p "$port" DBSIZE 2>&1)"
      fi
      echo "  node-$n 127.0.0.1:$port: $state"
      n=$((n + 1))
    done
  done
  echo "HAProxy's view (shard node status last-check):"
  haproxy_servers 2>&1 | sed 's/^/  /'
  n=0
  for port in $SENTINEL_PORTS; do
    alive "$dir/sentinel-$n/pid" && echo "sentinel-$n 127.0.0.1:$port: running" ||
      echo "sentinel-$n 127.0.0.1:$port: stopped"
    n=$((n + 1))
  done
}

cmd_restart() {
  load_state
  [ -n "$restart_shard" ] && [ -n "$restart_node" ] || die "restart needs --shard N --node M"
  local var="SHARD_${restart_shard}_PORTS" node_dir="$dir/shard-$restart_shard/node-$restart_node"
  local -a node_ports
  read -r -a node_ports <<<"${!var:-}"
  local port=${node_ports[restart_node]:-}
  [ -n "$port" ] || die "no node $restart_node in shard $restart_shard"
  if alive "$node_dir/pid"; then die "shard-$restart_shard/node-$restart_node is running"; fi
  local sentinel primary=""
  for sentinel in $SENTINEL_PORTS; do
    primary=$(redis-cli -p "$sentinel" SENTINEL GET-MASTER-ADDR-BY-NAME "shard-$restart_shard" \
      2>/dev/null | paste -sd' ') && [ -n "$primary" ] && break
  done
  [ -n "$primary" ] || die "no sentinel answers: cannot tell shard-$restart_shard's primary"
  if [ "${primary#* }" = "$port" ]; then
    # Sentinel still counts this node as the primary (no failover happened): it comes
    # back as the primary, with what its replicas kept being theirs to resync from.
    spawn "$node_dir/server.log" "$node_dir/pid" "$SERVER" "$node_dir/mirrorkv.conf"
  else
    # shellcheck disable=SC2086 # "host port"
    spawn "$node_dir/server.log" "$node_dir/pid" "$SERVER" "$node_dir/mirrorkv.conf" \
      --replicaof $primary
  fi
  wait_pong "$port" "mirrorkv-server (shard $restart_shard)" "$node_dir/pid"
  echo "shard-$restart_shard/node-$restart_node restarted on port $port, following $primary"
}

# Stops the processes whose pids are in files "$@": SIGTERM to all, then SIGKILL to any
# still running after $wait_seconds.
stop_pids() {
  local pidfile running
  for pidfile in "$@"; do
    if alive "$pidfile"; then kill -TERM "$(cat "$pidfile")" 2>/dev/null || true; fi
  done
  local deadline=$((SECONDS + wait_seconds))
  while ((SECONDS < deadline)); do
    running=0
    for pidfile in "$@"; do
      if alive "$pidfile"; then running=1; fi
    done
    [ "$running" -eq 1 ] || break
    sleep 0.1
  done
  for pidfile in "$@"; do
    if alive "$pidfile"; then
      echo "cluster.sh: pid $(cat "$pidfile") did not stop on SIGTERM; killing it" >&2
      kill -KILL "$(cat "$pidfile")" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  done
}

# Stops every process of the cluster in $dir: front to back, and the sentinels before the
# shards, so that no failover starts while the shards go down.
stop_all() {
  shopt -s nullglob
  stop_pids "$dir/nutcracker/pid" "$dir/haproxy/pid"
  stop_pids "$dir"/sentinel-*/pid
  stop_pids "$dir"/shard-*/node-*/pid
}

cmd_stop() {
  load_state
  stop_all
  echo "cluster stopped; state and logs kept in $dir"
  [ "$(cat "$last_file" 2>/dev/null)" != "$dir" ] || rm -f "$last_file"
}

[ $# -ge 1 ] || usage 2
command=$1
shift
while [ $# -gt 0 ]; do
  case "$1" in
    --shards) shards=$2; shift 2 ;;
    --replicas) replicas=$2; shift 2 ;;
    --server) server=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --shard) restart_shard=$2; shift 2 ;;
    --node) restart_node=$2; shift 2 ;;
    -h | --help) usage 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
case "$command" in
  start) cmd_start ;;
  status) cmd_status ;;
  restart) cmd_restart ;;
  stop) cmd_stop ;;
  -h | --help | help) usage 0 ;;
  *) die "unknown command $command (start, status, restart or stop)" ;;
esac
