#!/usr/bin/env bash
# contrib/bench/dns.sh: DNS forwarder speed and memory, hamasq vs dnsmasq.
#
# Run as root:   contrib/bench/dns.sh            (3 runs, ~5 min)
#                QUICK=1 contrib/bench/dns.sh    (1 run, short steps, ~1 min)
#
# Method:
#   * Lab: three network namespaces made here: "<pid>-hqd-cli" (dnsperf,
#     10.210.0.2), "<pid>-hqd-srv" (the server, 10.210.0.1 towards the client
#     and 10.211.0.1 towards the upstream) and "<pid>-hqd-up" (10.211.0.2),
#     joined by two veth pairs. No traffic leaves them.
#   * Upstream, the same for both servers: Debian's unbound (1 thread) on
#     127.0.0.1:5300 in the upstream namespace, behind udpdelay
#     (contrib/bench/dns/udpdelay.rs, built here with rustc), which listens on
#     10.211.0.2:53 and holds every query DELAY_MS (20) before passing it on.
#     unbound serves hit.example (HIT_NAMES names h0..h999, TTL 1 day) and
#     miss.example (a redirect zone: every name under it has an A record).
#   * Servers: hamasq (this repo, cargo build --release) and dnsmasq
#     (/usr/sbin/dnsmasq), both: that one upstream only, no resolv file, no
#     hosts file, cache-size CACHE_SIZE, dns-forward-max FORWARD_MAX, no query
#     logging. Each run starts each server afresh; the order alternates run
#     by run.
#   * Cases, dnsperf from the client namespace (UDP):
#       cached  HIT_NAMES names, warmed by one pass first, so every query is
#               a cache hit. qps: SECS s with HIT_Q queries outstanding
#               (closed loop, saturating). Latency: a separate LAT_SECS s run
#               paced at HIT_LAT_QPS (dnsperf -Q, one socket: with several,
#               dnsperf itself adds ms of jitter) with per-query times (-v):
#               average and p99. (At saturation the latency is only the queue,
#               outstanding / qps, so it is measured under a fixed load.)
#       miss    unique names under miss.example, never asked before, so every
#               query misses and waits the upstream's DELAY_MS. qps: SECS s
#               with MISS_Q outstanding (ceiling MISS_Q / DELAY_MS when the
#               server keeps up); latency: paced at MISS_LAT_QPS.
#       RSS     a fresh server: VmRSS once up, then after FILL (10,000) unique
#               names went through it (dnsperf, one pass), so its cache holds
#               them (CHAOS insertions/evictions are shown when answered).
#               "peak" is VmHWM at the end of the speed cases.
#   * Hardening cases (issue 17), a fresh server each, with two more
#     upstreams in the upstream namespace: DEAD_ADDR (10.211.0.3, port 53
#     dropped by nftables: a dead VPN, silent) as server=/corp/, and
#     SLOW_ADDR (10.211.0.4, a second udpdelay holding queries SLOW_MS,
#     1200) as server=/slow.miss.example/. Load from
#     tests/dns_e2e/dnsprobe.py (open loop, paced, one query per ID):
#       dead    FLOOD_QPS (200) random names under corp for FLOOD_SECS (10)
#               while, from 0.5 s on, a second client asks NORMAL_QPS (12)
#               new names a second under miss.example (the healthy
#               upstream): normal answered/asked and latency, flood
#               answered/asked (its overflow should be answered at once).
#       slow    SLOW_N (10) new names under slow.miss.example, one a second:
#               answered (NOERROR) / asked and latency.
#   * IPV6=1: the client asks over IPv6 (SRV6_ADDR fd10:210::1 from
#     fd10:210::2, addresses added without DAD); the upstream stays on IPv4,
#     the same for both servers. The hardening cases are off (their probe
#     speaks IPv4 only).
#   * The table shows medians over RUNS runs and each run's qps.
#   * HAMASQ_BASE=/path/to/other/hamasq adds a server "hamasq0" (same
#     config, another build, e.g. the base commit's release binary) run in
#     the same runs, interleaved: an A/B of two builds (ratios printed).
#
# Knobs (environment): QUICK RUNS SECS LAT_SECS DELAY_MS CACHE_SIZE
# FORWARD_MAX HIT_NAMES HIT_Q HIT_LAT_QPS MISS_Q MISS_LAT_QPS FILL CLIENTS
# SERVERS ("hamasq dnsmasq") HAMASQ (binary; default: cargo build --release
# of this repo) HAMASQ_BASE (A/B, above) HARDEN=0 (skip the hardening
# cases) FLOOD_QPS FLOOD_SECS NORMAL_QPS SLOW_MS SLOW_N KEEP=1 (keep the
# dnsperf outputs) IPV6=1 (clients over IPv6, above).
#
# Everything (configs, logs, dnsperf outputs, report.txt) goes to a temp dir
# under /var/tmp, printed at start and end. An EXIT trap stops the processes
# this script started (by pid) and deletes its namespaces.

set -uo pipefail   # no -e: a failing step is data, not an error

# ---------------------------------------------------------------- settings
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
    RUNS=${RUNS:-1}; SECS=${SECS:-4}; LAT_SECS=${LAT_SECS:-3}
else
    RUNS=${RUNS:-3}; SECS=${SECS:-10}; LAT_SECS=${LAT_SECS:-5}
fi
DELAY_MS=${DELAY_MS:-20}
CACHE_SIZE=${CACHE_SIZE:-10000}
FORWARD_MAX=${FORWARD_MAX:-150}       # both servers' default
HIT_NAMES=${HIT_NAMES:-1000}
HIT_Q=${HIT_Q:-100}                   # dnsperf's default
HIT_LAT_QPS=${HIT_LAT_QPS:-5000}
MISS_Q=${MISS_Q:-140}                 # below FORWARD_MAX: nothing dropped for that
MISS_LAT_QPS=${MISS_LAT_QPS:-2000}
FILL=${FILL:-10000}
CLIENTS=${CLIENTS:-4}                 # dnsperf -c (source ports)
SERVERS=${SERVERS:-"hamasq dnsmasq"}
KEEP=${KEEP:-0}
HAMASQ_BASE=${HAMASQ_BASE:-}
if [ -n "$HAMASQ_BASE" ]; then
    case " $SERVERS " in *" hamasq0 "*) ;; *) SERVERS="hamasq0 $SERVERS" ;; esac
fi
IPV6=${IPV6:-0}
if [ "$IPV6" = 1 ]; then HARDEN=${HARDEN:-0}; else HARDEN=${HARDEN:-1}; fi
FLOOD_QPS=${FLOOD_QPS:-200}
FLOOD_SECS=${FLOOD_SECS:-10}
NORMAL_QPS=${NORMAL_QPS:-12}
SLOW_MS=${SLOW_MS:-1200}
SLOW_N=${SLOW_N:-10}

CLI_ADDR=10.210.0.2; SRV_ADDR=10.210.0.1; SRV_UP_ADDR=10.211.0.1; UP_ADDR=10.211.0.2
DEAD_ADDR=10.211.0.3; SLOW_ADDR=10.211.0.4
CLI6_ADDR=fd10:210::2; SRV6_ADDR=fd10:210::1
# The address the clients ask.
if [ "$IPV6" = 1 ]; then Q_ADDR=$SRV6_ADDR; else Q_ADDR=$SRV_ADDR; fi
PY=/usr/bin/python3
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NS_CLI="$$-hqd-cli"; NS_SRV="$$-hqd-srv"; NS_UP="$$-hqd-up"
T0=$(date +%s)
PROBE=$REPO/tests/dns_e2e/dnsprobe.py

# log, die, apt_install
. "$REPO/contrib/bench/lib.sh"
fcalc() { awk "BEGIN { printf \"%s\", ($1) }"; }

[ "$(id -u)" = 0 ] || die "run as root (network namespaces, apt-get)"

# ---------------------------------------------------------------- install
need_pkgs=()
command -v unbound >/dev/null || need_pkgs+=(unbound)
command -v dnsperf >/dev/null || need_pkgs+=(dnsperf)
command -v dig     >/dev/null || need_pkgs+=(bind9-dnsutils)
[ -x /usr/sbin/dnsmasq ]      || need_pkgs+=(dnsmasq-base)
{ command -v ip && command -v ss; } >/dev/null || need_pkgs+=(iproute2)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    apt_install "${need_pkgs[@]}" || die "apt-get install ${need_pkgs[*]} failed"
    for svc in unbound dnsmasq; do
        if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
            log "stopping service $svc started by its package"; systemctl stop "$svc"
        fi
    done
fi
DNSMASQ=/usr/sbin/dnsmasq; UNBOUND=$(command -v unbound); DNSPERF=$(command -v dnsperf)
command -v rustc >/dev/null || die "rustc is needed to build contrib/bench/dns/udpdelay.rs"
if [ "$HARDEN" = 1 ]; then
    [ -x "$PY" ] || die "the hardening cases need $PY (HARDEN=0 skips them)"
    command -v nft >/dev/null || die "the hardening cases need nft (HARDEN=0 skips them)"
fi
[ -z "$HAMASQ_BASE" ] || [ -x "$HAMASQ_BASE" ] || die "no hamasq binary at HAMASQ_BASE=$HAMASQ_BASE"

case " $SERVERS " in *" hamasq "*)
    if [ -z "${HAMASQ:-}" ]; then
        log "building hamasq (cargo build --release in $REPO)"
        (cd "$REPO" && cargo build --release -q) || die "cargo build failed"
        HAMASQ="${CARGO_TARGET_DIR:-$REPO/target}/release/hamasq"
    fi
    [ -x "$HAMASQ" ] || die "no hamasq binary at $HAMASQ" ;;
esac

# ---------------------------------------------------------------- workdir
WORK=$(mktemp -d /var/tmp/hqdnsbench.XXXXXX)
log "logs and outputs in $WORK"
rustc --edition 2021 -O -o "$WORK/udpdelay" "$REPO/contrib/bench/dns/udpdelay.rs" 2>"$WORK/udpdelay-build.log" \
    || { cat "$WORK/udpdelay-build.log" >&2; die "cannot build udpdelay"; }

# ---------------------------------------------------------------- cleanup
SRV_PID=""; UNB_PID=""; DLY_PID=""; SLOW_PID=""; PERF_PID=""; FLOOD_PID=""
cleanup() {
    trap - EXIT INT TERM
    for p in $PERF_PID $FLOOD_PID $SRV_PID $SLOW_PID $DLY_PID $UNB_PID; do
        kill -TERM "$p" 2>/dev/null && { sleep 0.3; kill -KILL "$p" 2>/dev/null; }
    done
    for ns in "$NS_CLI" "$NS_SRV" "$NS_UP"; do ip netns del "$ns" 2>/dev/null; done
    [ "$KEEP" = 1 ] || rm -f "$WORK"/perf/*.v "$WORK"/names/* 2>/dev/null
    log "logs kept in $WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- lab
others=$(ip netns list 2>/dev/null | awk '/-hqd-srv/ { print $1 }' | tr '\n' ' ')
[ -n "$others" ] && log "WARNING: another dns.sh run seems active (namespaces: $others); results will be distorted"
for ns in "$NS_CLI" "$NS_SRV" "$NS_UP"; do
    ip netns add "$ns" || die "ip netns add $ns"
    ip -n "$ns" link set lo up
done
ip link add "hqd$$c" netns "$NS_CLI" type veth peer name "hqd$$s" netns "$NS_SRV" || die "veth cli-srv"
ip link add "hqd$$u" netns "$NS_UP" type veth peer name "hqd$$v" netns "$NS_SRV" || die "veth srv-up"
ip -n "$NS_CLI" addr add "$CLI_ADDR/24" dev "hqd$$c"
ip -n "$NS_SRV" addr add "$SRV_ADDR/24" dev "hqd$$s"
ip -n "$NS_SRV" addr add "$SRV_UP_ADDR/24" dev "hqd$$v"
ip -n "$NS_UP" addr add "$UP_ADDR/24" dev "hqd$$u"
ip -n "$NS_CLI" link set "hqd$$c" up; ip -n "$NS_SRV" link set "hqd$$s" up
ip -n "$NS_SRV" link set "hqd$$v" up; ip -n "$NS_UP" link set "hqd$$u" up
ip netns exec "$NS_CLI" ping -c1 -W2 "$SRV_ADDR" >/dev/null || die "lab: no ping cli -> srv"
if [ "$IPV6" = 1 ]; then
    [ "$HARDEN" = 1 ] && die "IPV6=1: the hardening cases speak IPv4 only; leave HARDEN unset or 0"
    for ns in "$NS_CLI" "$NS_SRV"; do
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0
    done
    ip netns exec "$NS_CLI" sysctl -qw "net.ipv6.conf.hqd$$c.disable_ipv6=0"
    ip netns exec "$NS_SRV" sysctl -qw "net.ipv6.conf.hqd$$s.disable_ipv6=0"
    ip -n "$NS_CLI" -6 addr add "$CLI6_ADDR/64" dev "hqd$$c" nodad
    ip -n "$NS_SRV" -6 addr add "$SRV6_ADDR/64" dev "hqd$$s" nodad
    ip netns exec "$NS_CLI" ping -6 -c1 -W2 "$SRV6_ADDR" >/dev/null || die "lab: no ping -6 cli -> srv"
fi
if [ "$HARDEN" = 1 ]; then
    ip -n "$NS_UP" addr add "$DEAD_ADDR/24" dev "hqd$$u"
    ip -n "$NS_UP" addr add "$SLOW_ADDR/24" dev "hqd$$u"
    ip netns exec "$NS_UP" nft -f - <<EOF || die "nft in $NS_UP"
table inet hqdead {
  chain in { type filter hook input priority 0; ip daddr $DEAD_ADDR udp dport 53 drop; ip daddr $DEAD_ADDR tcp dport 53 drop; }
}
EOF
fi
ip netns exec "$NS_SRV" ping -c1 -W2 "$UP_ADDR" >/dev/null || die "lab: no ping srv -> up"

# ---------------------------------------------------------------- upstream
mkdir -p "$WORK/names" "$WORK/perf"
{
    cat <<EOF
server:
  interface: 127.0.0.1
  port: 5300
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "$WORK"
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 0
  num-threads: 1
  access-control: 127.0.0.0/8 allow
  do-ip6: no
  module-config: "iterator"
  local-zone: "hit.example." static
  local-data: "hit.example. 86400 IN SOA ns.hit.example. admin.hit.example. 1 3600 600 86400 86400"
  local-zone: "miss.example." redirect
  local-data: "miss.example. 86400 IN A 10.99.0.1"
EOF
    awk -v n="$HIT_NAMES" 'BEGIN { for (i = 0; i < n; i++) printf "  local-data: \"h%d.hit.example. 86400 IN A 10.98.%d.%d\"\n", i, int(i / 250), i % 250 + 1 }'
} > "$WORK/unbound.conf"
ip netns exec "$NS_UP" "$UNBOUND" -d -c "$WORK/unbound.conf" > "$WORK/unbound.log" 2>&1 &
UNB_PID=$!
ip netns exec "$NS_UP" "$WORK/udpdelay" "$UP_ADDR:53" "127.0.0.1:5300" "$DELAY_MS" > "$WORK/udpdelay.log" 2>&1 &
DLY_PID=$!
if [ "$HARDEN" = 1 ]; then
    ip netns exec "$NS_UP" "$WORK/udpdelay" "$SLOW_ADDR:53" "127.0.0.1:5300" "$SLOW_MS" > "$WORK/udpdelay-slow.log" 2>&1 &
    SLOW_PID=$!
fi
for i in $(seq 1 100); do
    ip netns exec "$NS_SRV" dig +time=1 +tries=1 +short @"$UP_ADDR" h0.hit.example 2>/dev/null | grep -q . && break
    [ "$i" = 100 ] && { tail -5 "$WORK/unbound.log" "$WORK/udpdelay.log" >&2; die "upstream (unbound behind udpdelay) does not answer"; }
    sleep 0.1
done
awk -v n="$HIT_NAMES" 'BEGIN { for (i = 0; i < n; i++) printf "h%d.hit.example A\n", i }' > "$WORK/names/hit.txt"

# unique names: $1 file, $2 prefix, $3 count
unique_names() { awk -v n="$3" -v p="$2" 'BEGIN { for (i = 0; i < n; i++) printf "%s%d.miss.example A\n", p, i }' > "$1"; }

# ---------------------------------------------------------------- servers
start_server() {   # $1 = server, $2 = tag, [$3 = harden]; sets SRV_PID; 1 if not up
    local srv=$1 tag=$2 dir=$WORK/$1 log=$WORK/$1.log
    # The hardening cases add the dead and the slow per-domain upstreams.
    local extra=() line
    [ "${3:-}" = harden ] && extra=("/corp/$DEAD_ADDR" "/slow.miss.example/$SLOW_ADDR")
    mkdir -p "$dir/state"
    echo "---- $(date +%T) start $tag" >> "$log"
    case $srv in
    hamasq|hamasq0)
        local bin=$HAMASQ; [ "$srv" = hamasq0 ] && bin=$HAMASQ_BASE
        cat > "$dir/hamasq.conf" <<EOF
[general]
pid-file = none
state-dir = $dir/state
log-level = info
[dns]
no-resolv = true
no-hosts = true
server = $UP_ADDR
cache-size = $CACHE_SIZE
dns-forward-max = $FORWARD_MAX
EOF
        for line in "${extra[@]}"; do echo "server = $line" >> "$dir/hamasq.conf"; done
        ip netns exec "$NS_SRV" "$bin" --foreground -c "$dir/hamasq.conf" >> "$log" 2>&1 &
        ;;
    dnsmasq)
        ip netns exec "$NS_SRV" "$DNSMASQ" --no-daemon --conf-file=/dev/null --pid-file= \
            --user=root --group=root --no-resolv --no-hosts --server="$UP_ADDR" \
            "${extra[@]/#/--server=}" \
            --cache-size="$CACHE_SIZE" --dns-forward-max="$FORWARD_MAX" >> "$log" 2>&1 &
        ;;
    esac
    SRV_PID=$!   # `ip netns exec` execs the server: this is its pid
    local i
    for i in $(seq 1 100); do
        kill -0 "$SRV_PID" 2>/dev/null || { log "$srv exited at start; tail of $log:"; tail -5 "$log" >&2; SRV_PID=""; return 1; }
        ip netns exec "$NS_CLI" dig +time=1 +tries=1 +short @"$Q_ADDR" h0.hit.example 2>/dev/null | grep -q . && return 0
        sleep 0.1
    done
    log "$srv does not answer h0.hit.example within 10 s"; stop_server; return 1
}

stop_server() {
    [ -n "$SRV_PID" ] || return 0
    kill -TERM "$SRV_PID" 2>/dev/null
    local i
    for i in $(seq 1 20); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SRV_PID" 2>/dev/null
    wait "$SRV_PID" 2>/dev/null
    SRV_PID=""
}

status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
chaos() { ip netns exec "$NS_CLI" dig +time=1 +tries=1 +short @"$Q_ADDR" CH TXT "$1" 2>/dev/null | tr -d '"' | head -1; }

# ---------------------------------------------------------------- dnsperf
# $1 output, then dnsperf arguments. Sets P_QPS, P_LOST (%), P_AVG_MS, P_P99_MS
# (p99 only with -v).
perf() {
    local out=$1; shift
    timeout -k 2 $(( SECS + LAT_SECS + 60 )) ip netns exec "$NS_CLI" "$DNSPERF" -s "$Q_ADDR" -t 2 "$@" > "$out" 2>&1 &
    PERF_PID=$!
    wait "$PERF_PID"; PERF_PID=""
    P_QPS=$(awk '/Queries per second:/ { print $4 }' "$out"); P_QPS=${P_QPS:-0}
    P_LOST=$(awk '/Queries lost:/ { gsub(/[()%]/, "", $4); print $4 }' "$out"); P_LOST=${P_LOST:-100}
    P_AVG_MS=$(awk '/Average Latency \(s\):/ { printf "%.3f", $4 * 1000 }' "$out"); P_AVG_MS=${P_AVG_MS:-nan}
    P_P99_MS=$(awk '/^> / { print $NF }' "$out" | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else { i = int(NR * 0.99 + 0.999); if (i > NR) i = NR; printf "%.3f", v[i] * 1000 } }')
}

# ---------------------------------------------------------------- sanity
declare -A BROKEN
for srv in $SERVERS; do
    if start_server "$srv" sanity; then
        stop_server; log "sanity $srv: answers"
    else
        BROKEN[$srv]=1; log "sanity $srv: does NOT answer; skipped (see $WORK/$srv.log)"
    fi
done

# ---------------------------------------------------------------- runs
declare -A QPS LOST LAVG AVG P99 RSS0 RSSF HWM NOTE
declare -A N_asked N_noerror N_lat_med_ms N_lat_p90_ms F_asked F_answered F_lat_med_ms S_asked S_noerror S_lat_med_ms
# $1 = dnsprobe output, $2 = key of its summary line
probe_kv() { awk -v k="$2" '/^asked=/ { for (i = 1; i <= NF; i++) { split($i, a, "="); if (a[1] == k) v = a[2] } } END { print (v == "" ? "nan" : v) }' "$1"; }
LOADS=""
add() { eval "$1[\$2]+=\"\$3 \""; }
for run in $(seq 1 "$RUNS"); do
    order=$SERVERS
    [ $((run % 2)) = 0 ] && order=$(echo "$SERVERS" | tr ' ' '\n' | tac | tr '\n' ' ')
    for srv in $order; do
        [ -n "${BROKEN[$srv]:-}" ] && continue
        p=$WORK/perf/$run-$srv
        # ---- speed: cached, then miss
        start_server "$srv" "run $run speed" || { log "run $run $srv: not up"; continue; }
        perf "$p-warm.txt" -d "$WORK/names/hit.txt" -n 1 -q "$HIT_Q"
        [ "$P_LOST" = 0.00 ] || log "  warm-up lost $P_LOST %"
        perf "$p-hit-qps.txt" -d "$WORK/names/hit.txt" -l "$SECS" -q "$HIT_Q" -c "$CLIENTS"
        add QPS "hit,$srv" "$P_QPS"; add LOST "hit,$srv" "$P_LOST"; add LAVG "hit,$srv" "$P_AVG_MS"; LOADS+="$(cut -d' ' -f1 /proc/loadavg) "
        log "run $run $srv cached: $P_QPS qps, avg $P_AVG_MS ms, lost $P_LOST %"
        perf "$p-hit-lat.v" -d "$WORK/names/hit.txt" -l "$LAT_SECS" -Q "$HIT_LAT_QPS" -c 1 -v
        add AVG "hit,$srv" "$P_AVG_MS"; add P99 "hit,$srv" "$P_P99_MS"
        log "run $run $srv cached at $HIT_LAT_QPS qps: avg $P_AVG_MS ms, p99 $P_P99_MS ms, lost $P_LOST %"
        n=$(awk -v q="$MISS_Q" -v d="$DELAY_MS" -v s="$SECS" 'BEGIN { printf "%d", q / (d / 1000) * s * 1.5 + 1000 }')
        unique_names "$WORK/names/miss-$run-$srv.txt" "m$run$srv" "$n"
        perf "$p-miss-qps.txt" -d "$WORK/names/miss-$run-$srv.txt" -n 1 -l "$SECS" -q "$MISS_Q" -c "$CLIENTS"
        add QPS "miss,$srv" "$P_QPS"; add LOST "miss,$srv" "$P_LOST"; add LAVG "miss,$srv" "$P_AVG_MS"; LOADS+="$(cut -d' ' -f1 /proc/loadavg) "
        log "run $run $srv miss: $P_QPS qps, avg $P_AVG_MS ms, lost $P_LOST %"
        unique_names "$WORK/names/missl-$run-$srv.txt" "l$run$srv" $(( MISS_LAT_QPS * LAT_SECS + 1000 ))
        perf "$p-miss-lat.v" -d "$WORK/names/missl-$run-$srv.txt" -n 1 -l "$LAT_SECS" -Q "$MISS_LAT_QPS" -c 1 -v
        add AVG "miss,$srv" "$P_AVG_MS"; add P99 "miss,$srv" "$P_P99_MS"
        log "run $run $srv miss at $MISS_LAT_QPS qps: avg $P_AVG_MS ms, p99 $P_P99_MS ms, lost $P_LOST %"
        add HWM "$srv" "$(status_kb "$SRV_PID" VmHWM)"
        kill -0 "$SRV_PID" 2>/dev/null || NOTE[$srv]+="died-in-run-$run "
        stop_server
        # ---- memory: fresh server, FILL unique names
        start_server "$srv" "run $run rss" || continue
        add RSS0 "$srv" "$(status_kb "$SRV_PID" VmRSS)"
        unique_names "$WORK/names/fill-$run-$srv.txt" "f$run$srv" "$FILL"
        perf "$p-fill.txt" -d "$WORK/names/fill-$run-$srv.txt" -n 1 -q 100
        sleep 0.2
        add RSSF "$srv" "$(status_kb "$SRV_PID" VmRSS)"
        log "run $run $srv RSS: $(status_kb "$SRV_PID" VmRSS) kB after $FILL names (lost $P_LOST %; CHAOS insertions $(chaos insertions.bind), evictions $(chaos evictions.bind))"
        stop_server
        # ---- hardening: a flood to a dead domain, a slow upstream
        [ "$HARDEN" = 1 ] || continue
        start_server "$srv" "run $run harden" harden || continue
        timeout -k 2 $(( FLOOD_SECS + 30 )) ip netns exec "$NS_CLI" "$PY" "$PROBE" "$SRV_ADDR" \
            "$FLOOD_QPS" "$FLOOD_SECS" "{r}.corp" 6 > "$p-flood.txt" 2>&1 &
        FLOOD_PID=$!
        sleep 0.5
        timeout -k 2 $(( FLOOD_SECS + 30 )) ip netns exec "$NS_CLI" "$PY" "$PROBE" "$SRV_ADDR" \
            "$NORMAL_QPS" "$(fcalc "$FLOOD_SECS - 1")" "n{n}r$run$srv.miss.example" 3 > "$p-normal.txt" 2>&1
        wait "$FLOOD_PID"; FLOOD_PID=""
        for k in asked noerror lat_med_ms lat_p90_ms; do add "N_$k" "$srv" "$(probe_kv "$p-normal.txt" $k)"; done
        for k in asked answered lat_med_ms; do add "F_$k" "$srv" "$(probe_kv "$p-flood.txt" $k)"; done
        log "run $run $srv dead domain: normal $(tail -1 "$p-normal.txt"); flood $(tail -1 "$p-flood.txt")"
        timeout -k 2 $(( SLOW_N + 40 )) ip netns exec "$NS_CLI" "$PY" "$PROBE" "$SRV_ADDR" \
            1 "$SLOW_N" "s{n}r$run$srv.slow.miss.example" 6 > "$p-slow.txt" 2>&1
        for k in asked noerror lat_med_ms; do add "S_$k" "$srv" "$(probe_kv "$p-slow.txt" $k)"; done
        log "run $run $srv slow upstream: $(tail -1 "$p-slow.txt")"
        kill -0 "$SRV_PID" 2>/dev/null || NOTE[$srv]+="died-in-harden-$run "
        stop_server
    done
done

# ---------------------------------------------------------------- report
median() { tr ' ' '\n' | grep -v '^$' | grep -v nan | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A M
{
echo
echo "DNS forwarder, dnsperf over UDP$([ "$IPV6" = 1 ] && echo "/IPv6 (to $Q_ADDR)") from another namespace; median of $RUNS run(s)"
echo "hamasq $([ -n "${HAMASQ:-}" ] && "$HAMASQ" --version 2>/dev/null | head -1) | dnsmasq $("$DNSMASQ" -v | head -1 | awk '{print $3}') | unbound $("$UNBOUND" -V | awk '/^Version/ { print $2 }') behind udpdelay ${DELAY_MS} ms | dnsperf $("$DNSPERF" -h 2>&1 | awk '/^Version/ { print $2 }')"
echo "cache-size $CACHE_SIZE, dns-forward-max $FORWARD_MAX; qps: ${SECS}s closed loop (cached -q $HIT_Q, miss -q $MISS_Q, -c $CLIENTS); latency: ${LAT_SECS}s paced (cached $HIT_LAT_QPS qps, miss $MISS_LAT_QPS qps); $(nproc) cores, everything on this machine"
echo
printf '%-14s | %-8s | %8s | %8s | %7s | %11s | %9s | %9s | %s\n' case server "qps" "best qps" "lost %" "avg ms @max" "avg ms" "p99 ms" "qps per run"
printf -- '---------------+----------+----------+----------+---------+-------------+-----------+-----------+-------------\n'
for cs in hit miss; do
    label=$([ $cs = hit ] && echo "cached ${HIT_NAMES}" || echo "miss +${DELAY_MS}ms")
    for srv in $SERVERS; do
        [ -n "${QPS[$cs,$srv]:-}" ] || continue
        M[qps,$cs,$srv]=$(echo "${QPS[$cs,$srv]}" | median)
        M[avg,$cs,$srv]=$(echo "${AVG[$cs,$srv]}" | median)
        M[p99,$cs,$srv]=$(echo "${P99[$cs,$srv]}" | median)
        printf '%-14s | %-8s | %8.0f | %8.0f | %7s | %11s | %9s | %9s | %s\n' "$label" "$srv" "${M[qps,$cs,$srv]}" \
            "$(echo "${QPS[$cs,$srv]}" | tr ' ' '\n' | grep -v '^$' | sort -gr | head -1)" \
            "$(echo "${LOST[$cs,$srv]}" | median)" "$(echo "${LAVG[$cs,$srv]}" | median)" "${M[avg,$cs,$srv]}" "${M[p99,$cs,$srv]}" \
            "$(for q in ${QPS[$cs,$srv]}; do printf '%.0f ' "$q"; done)"
    done
done
echo
printf '%-8s | %12s | %22s | %24s | %s\n' server "RSS idle MB" "RSS ${FILL} names MB" "peak (VmHWM) speed MB" note
printf -- '---------+--------------+------------------------+--------------------------+-----\n'
for srv in $SERVERS; do
    [ -n "${RSSF[$srv]:-}" ] || { [ -n "${BROKEN[$srv]:-}" ] && printf '%-8s | %12s |\n' "$srv" "NO ANSWER"; continue; }
    M[rss,$srv]=$(fcalc "$(echo "${RSSF[$srv]}" | median) / 1024")
    printf '%-8s | %12.1f | %22.1f | %24.1f | %s\n' "$srv" "$(fcalc "$(echo "${RSS0[$srv]}" | median) / 1024")" \
        "${M[rss,$srv]}" "$(fcalc "$(echo "${HWM[$srv]}" | median) / 1024")" "${NOTE[$srv]:-}"
done
if [ "$HARDEN" = 1 ]; then
echo
echo "Hardening, fresh server each (dnsprobe, open loop; medians of runs, per-run values in brackets):"
echo "  dead: $FLOOD_QPS qps of random names under corp (server=/corp/ silent) for ${FLOOD_SECS}s; meanwhile $NORMAL_QPS qps of new names through the healthy upstream"
printf '%-8s | %-22s | %-17s | %-22s | %s
' server "normal NOERROR/asked" "normal med/p90 ms" "flood answered/asked" "flood med ms"
printf -- '---------+------------------------+-------------------+------------------------+-------------
'
for srv in $SERVERS; do
    [ -n "${N_asked[$srv]:-}" ] || continue
    printf '%-8s | %-22s | %-17s | %-22s | %s
' "$srv" \
        "$(echo "${N_noerror[$srv]}" | median)/$(echo "${N_asked[$srv]}" | median) [${N_noerror[$srv]% }]" \
        "$(echo "${N_lat_med_ms[$srv]}" | median) / $(echo "${N_lat_p90_ms[$srv]}" | median)" \
        "$(echo "${F_answered[$srv]}" | median)/$(echo "${F_asked[$srv]}" | median) [${F_answered[$srv]% }]" \
        "$(echo "${F_lat_med_ms[$srv]}" | median)"
done
echo "  slow: $SLOW_N new names, one a second, through an upstream that answers after ${SLOW_MS} ms (server=/slow.miss.example/), no client retry"
printf '%-8s | %-22s | %s
' server "NOERROR/asked" "med ms"
printf -- '---------+------------------------+-------
'
for srv in $SERVERS; do
    [ -n "${S_asked[$srv]:-}" ] || continue
    printf '%-8s | %-22s | %s
' "$srv" "$(echo "${S_noerror[$srv]}" | median)/$(echo "${S_asked[$srv]}" | median) [${S_noerror[$srv]% }]" \
        "$(echo "${S_lat_med_ms[$srv]}" | median)"
done
fi
echo
echo "qps = median of runs; best = the highest run (other load on the machine only lowers rates)."
echo "qps, lost, avg ms @max: the closed-loop run (its latency is mostly queueing: outstanding / qps)."
echo "avg ms, p99 ms: the paced run (cached $HIT_LAT_QPS qps, miss $MISS_LAT_QPS qps, one dnsperf socket), per-query times."
echo "miss qps ceiling: MISS_Q / (DELAY_MS + upstream time) < $(fcalc "$MISS_Q * 1000 / $DELAY_MS") qps."
echo
echo "Targets (same run):"
verdict() { if [ "$(fcalc "$1")" = 1 ]; then echo PASS; else echo FAIL; fi; }
have() { [ -n "${M[$1]:-}" ] && [ "${M[$1]}" != nan ]; }
if have qps,hit,hamasq && have qps,hit,dnsmasq; then
    q=$(fcalc "${M[qps,hit,hamasq]} / ${M[qps,hit,dnsmasq]}")
    printf '  %-46s %8.2f  (target >= 1.3)  %s\n' "cached qps, hamasq / dnsmasq" "$q" "$(verdict "$q >= 1.3")"
else printf '  %-46s  n/a\n' "cached qps, hamasq / dnsmasq"; fi
if have avg,hit,hamasq && have avg,hit,dnsmasq; then
    printf '  %-46s %8s vs %s ms  (target <=)  %s\n' "cached avg latency, hamasq vs dnsmasq" "${M[avg,hit,hamasq]}" "${M[avg,hit,dnsmasq]}" \
        "$(verdict "${M[avg,hit,hamasq]} <= ${M[avg,hit,dnsmasq]}")"
else printf '  %-46s  n/a\n' "cached avg latency, hamasq vs dnsmasq"; fi
if have qps,miss,hamasq && have qps,miss,dnsmasq; then
    q=$(fcalc "${M[qps,miss,hamasq]} / ${M[qps,miss,dnsmasq]}")
    printf '  %-46s %8.2f  (target >= 1, 1 %% noise allowed)  %s\n' "miss-path qps, hamasq / dnsmasq" "$q" "$(verdict "$q >= 0.99")"
else printf '  %-46s  n/a\n' "miss-path qps, hamasq / dnsmasq"; fi
if have rss,hamasq; then
    printf '  %-46s %8.1f MB  (target <= 8 MB)  %s\n' "hamasq RSS with $FILL cached names" "${M[rss,hamasq]}" "$(verdict "${M[rss,hamasq]} <= 8")"
else printf '  %-46s  n/a\n' "hamasq RSS with $FILL cached names"; fi
if [ -n "$HAMASQ_BASE" ]; then   # A/B: information, no target
    echo "A/B (hamasq0 = $HAMASQ_BASE, hamasq = $HAMASQ):"
    for cs in hit miss; do
        if have qps,$cs,hamasq && have qps,$cs,hamasq0; then
            printf '  %-46s %8.3f  (A/B, no target)\n' "qps hamasq / hamasq0 [$cs]" "$(fcalc "${M[qps,$cs,hamasq]} / ${M[qps,$cs,hamasq0]}")"
        fi
        if have avg,$cs,hamasq && have avg,$cs,hamasq0; then
            printf '  %-46s %8s vs %s ms\n' "paced avg latency hamasq vs hamasq0 [$cs]" "${M[avg,$cs,hamasq]}" "${M[avg,$cs,hamasq0]}"
        fi
    done
fi
echo
echo "load average (1 min) at the closed-loop runs: $(echo "$LOADS" | tr ' ' '\n' | awk 'NF { v = $1 + 0; if (n == 0 || v < lo) lo = v; if (v > hi) hi = v; sum += v; n++ } END { if (n) printf "min %.2f, mean %.2f, max %.2f", lo, sum / n, hi }') ($(nproc) cores; above ~2.5 something else was running)"
echo "total time $(( $(date +%s) - T0 )) s; outputs in $WORK"
} | tee "$WORK/report.txt"
