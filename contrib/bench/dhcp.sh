#!/usr/bin/env bash
# contrib/bench/dhcp.sh: DHCPv4 DORA throughput of hamasq vs ISC Kea vs dnsmasq.
#
# Run as root:   contrib/bench/dhcp.sh            (full: 3 runs per case, ~20 min)
#                QUICK=1 contrib/bench/dhcp.sh    (1 run, shorter steps, ~5 min)
#
# Method (all three servers, one after the other in the same run):
#   * Lab: two network namespaces made here, "<pid>-hqb-srv" (server,
#     10.200.0.1/24) and "<pid>-hqb-cli" (perfdhcp, 10.200.0.2/24 plus the
#     relay address 10.201.0.1/16), joined by one veth pair. No traffic leaves
#     them. perfdhcp (Debian kea-admin) is given a unicast server address and
#     `-l 10.201.0.1`, so it acts as a relay: giaddr = 10.201.0.1, replies go
#     to 10.201.0.1:67. Every server serves the RELAYED subnet 10.201.0.0/16
#     (pool 10.201.0.10 - 10.201.255.250, 65,521 addresses), chosen by giaddr;
#     the server namespace routes 10.201.0.0/16 back via 10.200.0.2.
#   * Servers: hamasq (this repo), dnsmasq --no-ping (and --quiet-dhcp, so it
#     does not log every packet while the others log nothing), and Kea 2.2
#     kea-dhcp4 with the memfile lease database (persist = true; Kea writes the
#     CSV without ever calling fsync) and multi-threading (2 threads, queue 64).
#   * Cases: disk   lease file on ext4 (the machine's disk), durable commit
#                   (hamasq dhcp-lease-fsync = true; dnsmasq fsyncs its lease
#                   file on its own; Kea never fsyncs);
#            tmpfs  the same with the lease directory on a tmpfs mount
#                   (hamasq still has fsync on; it costs ~nothing there);
#            50k    as disk, with 50,000 valid unexpired leases already in each
#                   server's own lease file (one block from the pool start,
#                   or scattered with PREFILL_LAYOUT=spread; MACs 02:42:...,
#                   which perfdhcp never uses);
#            nofsync (extra row, hamasq only, skipped with QUICK=1) disk with
#                   dhcp-lease-fsync = false.
#   * One step = start the server on a FRESH copy of the case's initial lease
#     file, check it is up, run perfdhcp at a fixed offered rate for STEP_SECS
#     seconds with CLIENTS distinct clients (MACs 00:0c:01:..), read the
#     server's VmRSS, stop the server. A step passes when the REQUEST-ACK drops
#     are <= DROP_PCT % of the REQUESTs sent (perfdhcp's own accounting; a
#     reply later than 1 s is a drop).
#   * Search per (case, server): offered rate goes up by FACTOR while steps
#     pass (down by FACTOR while they fail, from the first step), capped at
#     MAX_RATE; then REFINE bisections (geometric) between the best passing and
#     the lowest failing rate. The result is the highest COMPLETED rate
#     (REQUEST-ACK replies received / STEP_SECS) among passing steps, with the
#     perfdhcp average delays of that step (DISCOVER-OFFER + REQUEST-ACK).
#     Later searches start one FACTOR below the previous result of the same
#     server, to save steps.
#   * RUNS runs interleave cases and servers; the table shows medians, and
#     every run's value. RSS = the highest VmRSS seen at the end of any step of
#     the search (the server has loaded its lease file and served the test, so
#     holds up to CLIENTS more leases); "RSS load" = the highest VmRSS once up,
#     before any traffic. Both count against the 15 MB target in the 50k
#     case; the peak (VmHWM, loading included) is reported for information.
#   * dnsmasq with 50,000 leases takes seconds per DISCOVER (its address
#     choice scans its lease list for each candidate), so it completes nothing
#     within perfdhcp's 1 s drop time: its rate shows as 0 (< MIN_RATE) and
#     ratios against it are lower bounds.
#
# Everything (configs, server logs, perfdhcp output, steps.tsv) is kept in a
# temp dir under /var/tmp (on disk), printed at start and end. An EXIT trap
# stops the processes this script started (by pid), deletes its namespaces
# and unmounts its tmpfs.
#
# Starvation row (issue 17, item 3; STARVE=0 skips it, STARVE_ONLY=1 runs
# only it): hamasq and dnsmasq, one after the other, serve a relayed pool
# of 200 addresses (10.201.0.10 - .209) while tests/ha_e2e/haprobe.py's
# `starve` mode plays the relay for STARVE_RATE (30) DISCOVERs a second
# from random MACs that never REQUEST, and for STARVE_CLIENTS (60) real
# clients, the first 10 s in, then one every STARVE_EVERY (0.5) s, each
# REQUESTing its first OFFER and otherwise DISCOVERing again after 4, 8,
# 16, 32, 64 s (RFC 2131 §4.1). Reported: how many of the 60 got a lease
# within STARVE_SECS (100), and the longest wait (first DISCOVER -> ACK;
# a client never served counts until the end), median of RUNS runs.
#
# Knobs (environment): QUICK RUNS STEP_SECS REFINE FACTOR START_RATE
# DNSMASQ_START_RATE MIN_RATE MAX_RATE DROP_PCT CLIENTS PREFILL SERVERS CASES
# SEARCH_SECS HAMASQ (binary; default: cargo build --release of this repo)
# HAMASQ_LOCAL_RANGE (default 0, see hamasq_conf below) KEEP_STATE=1
# PREFILL_LAYOUT (low | spread).
# HAMASQ_BASE=/path/to/other/hamasq adds a server "hamasq0" (same config,
# that binary) to SERVERS, interleaved with the others: an A/B of two
# builds in the same run, which two separate runs on a noisy machine are
# not. Its ratio to hamasq is printed with the targets.
#
# CLIENT_RCVBUF (bytes, default 4194304; 0 = off): perfdhcp's UDP receive
# buffer. perfdhcp never sets one, so it gets net.core.rmem_default
# (212,992 bytes here: ~166 replies). On this 2-core machine perfdhcp
# shares the CPUs with the server, and a few milliseconds without its
# receive thread running overflowed that buffer: most failed steps were
# perfdhcp's own drops (cli_rcvbuf= below), which measured scheduling
# jitter, and punished a server for sending its replies in bursts (as a
# group commit does) rather than for being slow. rmem_default cannot be
# set per network namespace here, so a tiny LD_PRELOAD shim (built with
# cc into the work dir) sets SO_RCVBUF on perfdhcp's UDP sockets; the
# kernel caps it at net.core.rmem_max (and doubles it). Same for every
# server. Without cc, or with CLIENT_RCVBUF=0, perfdhcp runs as before.
#
# Each step also notes the UDP receive-buffer drops (UdpRcvbufErrors) of
# the client namespace (perfdhcp could not keep up: cli_rcvbuf=) and of
# the server namespace (the server could not: srv_rcvbuf=), to tell whose
# drops failed a step.

set -uo pipefail   # no -e: a failing step is data, not an error

# ---------------------------------------------------------------- settings
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
    RUNS=${RUNS:-1}; STEP_SECS=${STEP_SECS:-3}; REFINE=${REFINE:-2}
    CASES=${CASES:-"disk tmpfs 50k"}
else
    RUNS=${RUNS:-3}; STEP_SECS=${STEP_SECS:-5}; REFINE=${REFINE:-3}
    CASES=${CASES:-"disk tmpfs 50k nofsync"}
fi
FACTOR=${FACTOR:-1.5}                     # coarse step multiplier
START_RATE=${START_RATE:-500}             # first offered rate, DORA/s
DNSMASQ_START_RATE=${DNSMASQ_START_RATE:-100}  # dnsmasq is far slower
MIN_RATE=${MIN_RATE:-5}                   # give up below this
MAX_RATE=${MAX_RATE:-40000}               # never offer more than this
DROP_PCT=${DROP_PCT:-2.5}                 # REQUEST-ACK drop limit, %
CLIENTS=${CLIENTS:-10000}                 # perfdhcp -R (must fit the free pool)
PREFILL=${PREFILL:-50000}                 # leases in the 50k case
PREFILL_LAYOUT=${PREFILL_LAYOUT:-low}     # low: one block from the pool start; spread: scattered
SERVERS=${SERVERS:-"hamasq kea dnsmasq"}
HAMASQ_BASE=${HAMASQ_BASE:-}
CLIENT_RCVBUF=${CLIENT_RCVBUF:-4194304}
if [ -n "$HAMASQ_BASE" ]; then
    case " $SERVERS " in *" hamasq0 "*) ;; *) SERVERS="hamasq0 $SERVERS" ;; esac
fi
STARVE=${STARVE:-1}; STARVE_ONLY=${STARVE_ONLY:-0}
STARVE_RATE=${STARVE_RATE:-30}; STARVE_CLIENTS=${STARVE_CLIENTS:-60}
STARVE_EVERY=${STARVE_EVERY:-0.5}; STARVE_SECS=${STARVE_SECS:-100}
STARVE_POOL_HI=10.201.0.209                # 200 addresses from POOL_LO
PYTHON=${PYTHON:-/usr/bin/python3}
SEARCH_SECS=${SEARCH_SECS:-240}           # time bound of one search
MAX_STEPS=20                              # step bound of one search
HAMASQ_LOCAL_RANGE=${HAMASQ_LOCAL_RANGE:-0}
KEEP_STATE=${KEEP_STATE:-0}

SRV_ADDR=10.200.0.1; CLI_ADDR=10.200.0.2; RELAY_ADDR=10.201.0.1
POOL_LO=10.201.0.10; POOL_HI=10.201.255.250; POOL_MASK=255.255.0.0
LEASE_SECS=43200

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NS_SRV="$$-hqb-srv"; NS_CLI="$$-hqb-cli"
IF_SRV="hqb$$s"; IF_CLI="hqb$$c"          # <= 15 chars for any pid
T0=$(date +%s)

# log, die, apt_install
. "$REPO/contrib/bench/lib.sh"
fcalc() { awk "BEGIN { printf \"%s\", ($1) }"; }       # float arithmetic
fint()  { awk "BEGIN { printf \"%d\", ($1) + 0.5 }"; } # rounded

[ "$(id -u)" = 0 ] || die "run as root (network namespaces, tmpfs mount, apt-get)"

# ---------------------------------------------------------------- install
# perfdhcp (kea-admin), kea-dhcp4 (kea-dhcp4-server), dnsmasq (dnsmasq-base),
# ip/ss (iproute2). A policy-rc.d answering 101 keeps Debian's maintainer
# scripts from starting kea-dhcp4-server (or anything else) during install.
need_pkgs=()
# The starvation row alone needs neither perfdhcp nor Kea.
if [ "$STARVE_ONLY" != 1 ]; then
    command -v perfdhcp  >/dev/null || need_pkgs+=(kea-admin)
    case " $SERVERS " in *" kea "*) command -v kea-dhcp4 >/dev/null || need_pkgs+=(kea-dhcp4-server) ;; esac
fi
[ -x /usr/sbin/dnsmasq ]        || need_pkgs+=(dnsmasq-base)
{ command -v ip && command -v ss; } >/dev/null || need_pkgs+=(iproute2)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    apt_install "${need_pkgs[@]}" || die "apt-get install ${need_pkgs[*]} failed"
    # Belt and braces: if a service of a package we just installed runs
    # anyway (no policy-rc.d support), stop it by its service name.
    for svc in kea-dhcp4-server kea-ctrl-agent dnsmasq; do
        if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
            log "stopping service $svc started by its package"; systemctl stop "$svc"
        elif [ -x "/etc/init.d/$svc" ] && service "$svc" status >/dev/null 2>&1; then
            log "stopping service $svc started by its package"; service "$svc" stop
        fi
    done
fi
KEA_BIN=$(command -v kea-dhcp4 || echo kea-dhcp4); PERFDHCP=$(command -v perfdhcp || echo perfdhcp); DNSMASQ=/usr/sbin/dnsmasq

if [ -z "${HAMASQ:-}" ]; then
    log "building hamasq (cargo build --release in $REPO)"
    (cd "$REPO" && cargo build --release -q) || die "cargo build failed"
    HAMASQ="${CARGO_TARGET_DIR:-$REPO/target}/release/hamasq"
fi
[ -x "$HAMASQ" ] || die "no hamasq binary at $HAMASQ"
[ -z "$HAMASQ_BASE" ] || [ -x "$HAMASQ_BASE" ] || die "no hamasq binary at HAMASQ_BASE=$HAMASQ_BASE"

# ---------------------------------------------------------------- workdir
WORK=$(mktemp -d /var/tmp/hqbench.XXXXXX)   # /var/tmp: on disk, not tmpfs
STEPS_TSV=$WORK/steps.tsv
printf 'run\tcase\tserver\toffered\tdo_sent\tdo_drop%%\tra_sent\tra_recv\tra_drop%%\tcompleted/s\tdo_ms\tra_ms\trss_kb\tpass\tloadavg1\tnote\trss_load_kb\thwm_kb\n' > "$STEPS_TSV"
log "logs and state in $WORK"

# perfdhcp's receive buffer (see CLIENT_RCVBUF above).
PERF_ENV=()
if [ "$CLIENT_RCVBUF" -gt 0 ] 2>/dev/null; then
    rcvbuf_shim "$WORK" "$CLIENT_RCVBUF"
    case $? in
        0) log "perfdhcp receive buffer: SO_RCVBUF $CLIENT_RCVBUF (rmem_max $(cat /proc/sys/net/core/rmem_max))" ;;
        1) log "WARNING: no cc: perfdhcp keeps the default receive buffer ($(cat /proc/sys/net/core/rmem_default) bytes)" ;;
        *) log "WARNING: could not build the SO_RCVBUF shim; perfdhcp keeps the default receive buffer" ;;
    esac
fi

# ---------------------------------------------------------------- cleanup
SRV_PID=""; PERF_PID=""; TMPFS_MOUNTED=0
cleanup() {
    trap - EXIT INT TERM
    for p in $PERF_PID $SRV_PID; do
        kill -TERM "$p" 2>/dev/null && { sleep 0.5; kill -KILL "$p" 2>/dev/null; }
    done
    ip netns del "$NS_SRV" 2>/dev/null
    ip netns del "$NS_CLI" 2>/dev/null
    [ "$TMPFS_MOUNTED" = 1 ] && umount "$WORK/tmpfs" 2>/dev/null
    if [ "$KEEP_STATE" != 1 ]; then    # keep logs, drop bulky lease copies
        rm -rf "$WORK"/seed "$WORK"/disk/state "$WORK"/disk50k/state "$WORK"/tmpfs 2>/dev/null
    fi
    log "logs kept in $WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- lab
# Two runs at once share the 2 cores and distort each other: say so.
others=$(ip netns list 2>/dev/null | awk '/-hqb-srv/ { print $1 }' | tr '\n' ' ')
[ -n "$others" ] && log "WARNING: another dhcp.sh run seems active (namespaces: $others); results will be distorted"
ip netns add "$NS_SRV" || die "ip netns add $NS_SRV"
ip netns add "$NS_CLI" || die "ip netns add $NS_CLI"
ip link add "$IF_SRV" netns "$NS_SRV" type veth peer name "$IF_CLI" netns "$NS_CLI" || die "veth"
ip -n "$NS_SRV" link set lo up
ip -n "$NS_CLI" link set lo up
ip -n "$NS_SRV" addr add "$SRV_ADDR/24" dev "$IF_SRV"
ip -n "$NS_CLI" addr add "$CLI_ADDR/24" dev "$IF_CLI"
ip -n "$NS_CLI" addr add "$RELAY_ADDR/16" dev "$IF_CLI"    # the relay's (giaddr) side
ip -n "$NS_SRV" link set "$IF_SRV" up
ip -n "$NS_CLI" link set "$IF_CLI" up
ip -n "$NS_SRV" route add 10.201.0.0/16 via "$CLI_ADDR"   # replies to giaddr
ip netns exec "$NS_CLI" ping -c1 -W2 "$SRV_ADDR" >/dev/null || die "lab: no ping across the veth"

mkdir -p "$WORK/disk" "$WORK/disk50k" "$WORK/tmpfs"
mount -t tmpfs -o size=1g,mode=0755 hqbench "$WORK/tmpfs" || die "tmpfs mount"
TMPFS_MOUNTED=1

# ---------------------------------------------------------------- seeds
# Initial lease files, one set per case: empty, or PREFILL leases at
# 10.201.0.10 upwards (skipping .0 and .255), MAC 02:42:00:xx:xx:xx, client id
# 01:MAC, expiring LEASE_SECS from now, in each server's own format.
# PREFILL_LAYOUT=spread instead takes a pseudo-random ~78 % of the pool
# (pool index i is taken when i * 40503 mod 65521 < 51000; 65521 is prime).
make_seed() {   # $1 = dir, $2 = number of leases
    local d=$1 n=$2 now
    mkdir -p "$d"; now=$(date +%s)
    awk -v n="$n" -v expiry=$((now + LEASE_SECS)) -v life=$LEASE_SECS -v d="$d" \
        -v spread=$([ "$PREFILL_LAYOUT" = spread ] && echo 1 || echo 0) 'BEGIN {
        kea = d "/leases4.csv"; dm = d "/dnsmasq.leases"; hq = d "/dhcp.leases"
        print "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context" > kea
        printf "" > dm; printf "" > hq
        a = 10; made = 0
        while (made < n && a < 65531) {
            c = int(a / 256); o = a % 256; a++
            if (o == 0 || o == 255) continue
            if (spread && ((a - 11) * 40503) % 65521 >= 51000) continue
            ip = sprintf("10.201.%d.%d", c, o)
            mac = sprintf("02:42:00:%02x:%02x:%02x", int(made / 65536), int(made / 256) % 256, made % 256)
            line = sprintf("%d %s %s * 01:%s", expiry, mac, ip, mac)
            print line > dm; print line > hq
            printf "%s,%s,01:%s,%d,%d,1,0,0,,0,\n", ip, mac, mac, life, expiry > kea
            made++
        }
    }'
}
make_seed "$WORK/seed/empty" 0
make_seed "$WORK/seed/50k" "$PREFILL"
case_dir()  { case $1 in disk|nofsync|starve) echo "$WORK/disk" ;; tmpfs) echo "$WORK/tmpfs" ;; 50k) echo "$WORK/disk50k" ;; esac; }
case_seed() { case $1 in 50k) echo "$WORK/seed/50k" ;; *) echo "$WORK/seed/empty" ;; esac; }

# ---------------------------------------------------------------- servers
# Each writes its config into $dir and starts in the server namespace, in
# the foreground, stderr/stdout appended to $WORK/<case>-<server>.log.

hamasq_conf() {   # $1 = state dir, $2 = fsync true|false, $3 = last pool address
    cat <<EOF
[general]
pid-file = none
state-dir = $1
log-level = info
[dhcp]
interface = $IF_SRV
dhcp-range = $POOL_LO,$3,$POOL_MASK,12h
dhcp-lease-max = 1000000
dhcp-lease-fsync = $2
EOF
    # Like Kea's and dnsmasq's, hamasq's config has only the relayed subnet.
    # Builds before commit 4de90f4 gave relayed clients server identifier
    # 0.0.0.0 when no served interface had a dhcp-range, then ignored the
    # REQUESTs carrying it (OFFERs, no ACKs: the sanity check fails).
    # HAMASQ_LOCAL_RANGE=1 adds a small range on the server's own link,
    # which works around that in such builds.
    [ "$HAMASQ_LOCAL_RANGE" = 1 ] && echo "dhcp-range = 10.200.0.100,10.200.0.200,12h"
}

kea_conf() {      # $1 = dir
    cat <<EOF
{ "Dhcp4": {
  "interfaces-config": { "interfaces": [ "$IF_SRV" ], "dhcp-socket-type": "udp" },
  "lease-database": { "type": "memfile", "persist": true,
                      "name": "$1/leases4.csv", "lfc-interval": 0 },
  "multi-threading": { "enable-multi-threading": true,
                       "thread-pool-size": 2, "packet-queue-size": 64 },
  "valid-lifetime": $LEASE_SECS, "renew-timer": $((LEASE_SECS / 2)), "rebind-timer": $((LEASE_SECS * 7 / 8)),
  "subnet4": [ { "id": 1, "subnet": "10.201.0.0/16",
                 "pools": [ { "pool": "$POOL_LO - $POOL_HI" } ] } ],
  "loggers": [ { "name": "kea-dhcp4", "severity": "WARN",
                 "output_options": [ { "output": "stderr" } ] } ]
} }
EOF
}

start_server() {  # $1 = server, $2 = case; sets SRV_PID; returns 1 if it is not up
    local srv=$1 cs=$2 dir seed log fsync=true hi=$POOL_HI
    [ "$cs" = starve ] && hi=$STARVE_POOL_HI
    dir=$(case_dir "$cs")/state; seed=$(case_seed "$cs"); log=$WORK/$cs-$srv.log
    rm -rf "$dir"; mkdir -p "$dir"
    echo "---- $(date +%T) start" >> "$log"
    case $srv in
    hamasq|hamasq0)
        [ -f "$seed/dhcp.leases" ] && [ -s "$seed/dhcp.leases" ] && cp "$seed/dhcp.leases" "$dir/"
        [ "$cs" = nofsync ] && fsync=false
        hamasq_conf "$dir" "$fsync" "$hi" > "$dir/hamasq.conf"
        local bin=$HAMASQ; [ "$srv" = hamasq0 ] && bin=$HAMASQ_BASE
        ip netns exec "$NS_SRV" "$bin" -f -c "$dir/hamasq.conf" >> "$log" 2>&1 &
        ;;
    kea)
        [ -s "$seed/leases4.csv" ] && [ "$(wc -l < "$seed/leases4.csv")" -gt 1 ] && cp "$seed/leases4.csv" "$dir/"
        kea_conf "$dir" > "$dir/kea.json"
        KEA_LOCKFILE_DIR=$dir KEA_PIDFILE_DIR=$dir \
            ip netns exec "$NS_SRV" "$KEA_BIN" -c "$dir/kea.json" >> "$log" 2>&1 &
        ;;
    dnsmasq)
        cp "$seed/dnsmasq.leases" "$dir/dnsmasq.leases"
        ip netns exec "$NS_SRV" "$DNSMASQ" -d --no-ping --quiet-dhcp --port=0 \
            --dhcp-range=$POOL_LO,$hi,$POOL_MASK,12h \
            --dhcp-leasefile="$dir/dnsmasq.leases" --dhcp-lease-max=1000000 \
            --interface="$IF_SRV" --bind-interfaces --conf-file=/dev/null \
            --pid-file="$dir/dnsmasq.pid" --user=root --group=root >> "$log" 2>&1 &
        ;;
    esac
    SRV_PID=$!   # `ip netns exec` execs the server: this is the server's pid
    # Up = alive and a UDP socket on port 67 in the server namespace (every
    # server here loads its lease file before it opens its sockets).
    local i
    for i in $(seq 1 150); do
        kill -0 "$SRV_PID" 2>/dev/null || { log "$srv ($cs) exited at start; tail of $log:"; tail -5 "$log" >&2; SRV_PID=""; return 1; }
        ip netns exec "$NS_SRV" ss -Hlun 'sport = :67' 2>/dev/null | grep -q . && { sleep 0.3; return 0; }
        sleep 0.1
    done
    log "$srv ($cs) did not open port 67 within 15 s"; stop_server; return 1
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

# UDP datagrams dropped for a full receive buffer in namespace $1, so far.
rcvbuf_errors() { ip netns exec "$1" nstat -az UdpRcvbufErrors 2>/dev/null | awk '$1 == "UdpRcvbufErrors" { v = $2 } END { print v + 0 }'; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }   # peak RSS

# ---------------------------------------------------------------- perfdhcp
# Runs perfdhcp as a relay at $1 DORA/s for $2 s; output to $3. -W: wait
# 0.3 s after the last send for replies still in flight.
perf() {
    timeout -k 2 $(( $2 + 20 )) ip netns exec "$NS_CLI" "${PERF_ENV[@]}" "$PERFDHCP" -4 \
        -l "$RELAY_ADDR" -r "$1" -p "$2" -W 300000 -R "$CLIENTS" "$SRV_ADDR" > "$3" 2>&1 &
    PERF_PID=$!
    wait "$PERF_PID"; PERF_PID=""
}
# perfdhcp's report: two "***Statistics for: X***" blocks. Prints
# do_sent do_drops do_avg_ms ra_sent ra_recv ra_drops ra_avg_ms locallimit
parse_perf() {
    awk '
      /Statistics for: DISCOVER-OFFER/ { s = "do" } /Statistics for: REQUEST-ACK/ { s = "ra" }
      /^sent packets:/     { sent[s] = $3 }
      /^received packets:/ { recv[s] = $3 }
      /^drops:/            { drops[s] = $2 }
      /^avg delay: [0-9.]+ ms/ { avg[s] = $3 }
      /locallimit/         { ll = $NF }
      END { printf "%d %d %s %d %d %d %s %s\n", sent["do"], drops["do"], (avg["do"] == "" ? "nan" : avg["do"]),
                   sent["ra"], recv["ra"], drops["ra"], (avg["ra"] == "" ? "nan" : avg["ra"]), (ll == "" ? 0 : ll) }' "$1"
}

# ---------------------------------------------------------------- one step
# Fresh server on the case's initial leases, perfdhcp at offered rate $4.
# Sets S_PASS (1/0), S_DONE (completed DORA/s), S_DO_MS, S_RA_MS, S_RSS0
# (VmRSS once up, lease file loaded, kB) and S_RSS (VmRSS after the test).
STEP_NO=0
run_step() {   # $1 run, $2 case, $3 server, $4 rate
    local run=$1 cs=$2 srv=$3 rate=$4 out note=""
    STEP_NO=$((STEP_NO + 1)); out=$WORK/perf/$STEP_NO-$cs-$srv-$rate.txt
    S_PASS=0; S_DONE=0; S_DO_MS=nan; S_RA_MS=nan; S_RSS=0; S_RSS0=0; S_HWM=0; S_FATAL=0
    start_server "$srv" "$cs" || { note="server-not-up"; S_FATAL=1; printf '%s\t%s\t%s\t%s\t\t\t\t\t\t0\t\t\t0\t0\t\t%s\n' "$run" "$cs" "$srv" "$rate" "$note" >> "$STEPS_TSV"; return; }
    S_RSS0=$(rss_kb "$SRV_PID")
    local cli0 srv0
    cli0=$(rcvbuf_errors "$NS_CLI"); srv0=$(rcvbuf_errors "$NS_SRV")
    perf "$rate" "$STEP_SECS" "$out"
    local cli_drop=$(( $(rcvbuf_errors "$NS_CLI") - cli0 )) srv_drop=$(( $(rcvbuf_errors "$NS_SRV") - srv0 ))
    S_RSS=$(rss_kb "$SRV_PID"); S_HWM=$(hwm_kb "$SRV_PID")
    kill -0 "$SRV_PID" 2>/dev/null || note="server-died"
    stop_server
    local do_sent do_drops do_ms ra_sent ra_recv ra_drops ra_ms ll do_pct ra_pct
    read -r do_sent do_drops do_ms ra_sent ra_recv ra_drops ra_ms ll < <(parse_perf "$out")
    do_pct=$(fcalc "$do_sent > 0 ? 100 * $do_drops / $do_sent : 100")
    ra_pct=$(fcalc "$ra_sent > 0 ? 100 * $ra_drops / $ra_sent : 100")
    S_DONE=$(fint "$ra_recv / $STEP_SECS")
    S_DO_MS=$do_ms; S_RA_MS=$ra_ms
    # Pass: REQUEST-ACK drops within the limit (and some REQUESTs were sent).
    if [ "$ra_sent" -gt 0 ] && [ "$(fcalc "$ra_pct <= $DROP_PCT")" = 1 ] && [ -z "$note" ]; then S_PASS=1; fi
    # perfdhcp itself could not send the offered rate: say so in the log.
    [ "$(fcalc "$do_sent < 0.9 * $rate * $STEP_SECS")" = 1 ] && note="${note:+$note,}client-short(sent $do_sent)"
    [ "$ll" != 0 ] && note="${note:+$note,}locallimit=$ll"
    [ "$cli_drop" -gt 0 ] && note="${note:+$note,}cli_rcvbuf=$cli_drop"
    [ "$srv_drop" -gt 0 ] && note="${note:+$note,}srv_rcvbuf=$srv_drop"
    # 1-minute load average: this machine is shared; a high one explains outliers.
    printf '%s\t%s\t%s\t%s\t%s\t%.2f\t%s\t%s\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$cs" "$srv" "$rate" \
        "$do_sent" "$do_pct" "$ra_sent" "$ra_recv" "$ra_pct" "$S_DONE" "$do_ms" "$ra_ms" "$S_RSS" "$S_PASS" \
        "$(cut -d' ' -f1 /proc/loadavg)" "$note" "$S_RSS0" "$S_HWM" >> "$STEPS_TSV"
    log "  run $run $cs $srv offered $rate/s: done $S_DONE/s, DO drop $(printf %.1f "$do_pct")%, RA drop $(printf %.1f "$ra_pct")%, delay ${do_ms}+${ra_ms} ms, RSS ${S_RSS0}/${S_RSS} kB $( [ $S_PASS = 1 ] && echo pass || echo FAIL) $note"
}

# ---------------------------------------------------------------- search
# Sets R_RATE (best completed DORA/s, 0 = none), R_DELAY (DO+RA avg ms at
# that step), R_RSS (peak VmRSS after a step of the search, kB), R_RSS0
# (peak VmRSS at start, lease file loaded, before any traffic, kB), R_HWM
# (peak VmHWM of a step: the most the process ever held, loading included).
declare -A HINT
search() {   # $1 run, $2 case, $3 server
    local run=$1 cs=$2 srv=$3 r lo=0 hi=0 steps=0 t0 i m
    t0=$(date +%s)
    R_RATE=0; R_DELAY=nan; R_RSS=0; R_RSS0=0; R_HWM=0
    # Start one FACTOR below this case's previous result for this server,
    # else below this server's last result in any case, else START_RATE.
    if [ -n "${HINT[$cs,$srv]:-}" ]; then r=$(fint "${HINT[$cs,$srv]} / $FACTOR")
    elif [ -n "${HINT[$srv]:-}" ]; then r=$(fint "${HINT[$srv]} / $FACTOR")
    elif [ "$srv" = dnsmasq ]; then r=$DNSMASQ_START_RATE
    else r=$START_RATE; fi
    [ "$r" -lt "$MIN_RATE" ] && r=$MIN_RATE
    [ "$r" -gt "$MAX_RATE" ] && r=$MAX_RATE
    record() {   # keep the best passing step and the peak RSS
        [ "$S_RSS" -gt "$R_RSS" ] && R_RSS=$S_RSS
        [ "$S_RSS0" -gt "$R_RSS0" ] && R_RSS0=$S_RSS0
        [ "$S_HWM" -gt "$R_HWM" ] && R_HWM=$S_HWM
        if [ "$S_PASS" = 1 ] && [ "$S_DONE" -gt "$R_RATE" ]; then
            R_RATE=$S_DONE; R_DELAY=$(fcalc "$S_DO_MS + $S_RA_MS")
        fi
    }
    bounded() { [ $steps -lt $MAX_STEPS ] && [ $(( $(date +%s) - t0 )) -lt "$SEARCH_SECS" ]; }
    # Coarse: up by FACTOR while passing, down by FACTOR while failing.
    while bounded; do
        run_step "$run" "$cs" "$srv" "$r"; steps=$((steps + 1)); record
        [ "$S_FATAL" = 1 ] && { log "  $srv did not start: search abandoned"; break; }
        if [ "$S_PASS" = 1 ]; then
            lo=$r
            [ "$hi" -gt 0 ] && break
            [ "$r" -ge "$MAX_RATE" ] && { log "  $srv reached MAX_RATE $MAX_RATE"; break; }
            r=$(fint "$r * $FACTOR"); [ "$r" -gt "$MAX_RATE" ] && r=$MAX_RATE
        else
            hi=$r
            [ "$lo" -gt 0 ] && break
            # Nothing at all completed: far off, go down three steps at once.
            if [ "$S_DONE" = 0 ]; then r=$(fint "$r / ($FACTOR ^ 3)"); else r=$(fint "$r / $FACTOR"); fi
            [ "$r" -lt "$MIN_RATE" ] && { log "  $srv fails even at $MIN_RATE/s"; break; }
        fi
    done
    # Refine between the best passing and the lowest failing offered rate.
    if [ "$lo" -gt 0 ] && [ "$hi" -gt 0 ]; then
        for i in $(seq 1 "$REFINE"); do
            bounded || break
            m=$(fint "sqrt($lo * $hi)")
            { [ "$m" -le "$lo" ] || [ "$m" -ge "$hi" ]; } && break
            run_step "$run" "$cs" "$srv" "$m"; steps=$((steps + 1)); record
            if [ "$S_PASS" = 1 ]; then lo=$m; else hi=$m; fi
        done
    fi
    bounded || log "  search bound reached ($steps steps, $(( $(date +%s) - t0 )) s)"
    [ "$R_RATE" -gt 0 ] && HINT[$srv]=$R_RATE
    HINT[$cs,$srv]=$R_RATE   # 0: the next run tries MIN_RATE once
    log "run $run $cs $srv: max $R_RATE DORA/s, delay $R_DELAY ms, peak RSS $R_RSS0 kB loaded, $R_RSS kB after test ($steps steps, $(( $(date +%s) - t0 )) s)"
}

# ---------------------------------------------------------------- sanity
# Each server must ACK a few relayed exchanges before any stepping.
mkdir -p "$WORK/perf"
declare -A BROKEN
for srv in $SERVERS; do
    [ "$STARVE_ONLY" = 1 ] && break   # the row reports its own leases
    out=$WORK/perf/sanity-$srv.txt
    if start_server "$srv" disk; then
        perf 20 1 "$out"
        stop_server
        read -r do_sent do_drops do_ms ra_sent ra_recv ra_drops ra_ms ll < <(parse_perf "$out")
    else ra_recv=0; ra_sent=0; do_sent=0; do_drops=0; fi
    if [ "$ra_recv" -gt 0 ]; then
        log "sanity $srv: $ra_recv relayed DORA completed"
    else
        BROKEN[$srv]=1
        log "sanity $srv: NO completed DORA (DISCOVERs $do_sent, OFFERs $((do_sent - do_drops)), REQUESTs $ra_sent) - skipped; see $out and $WORK/disk-$srv.log"
        tail -5 "$WORK/disk-$srv.log" >&2
    fi
done

# ---------------------------------------------------------------- runs
declare -A RATES DELAYS RSSES RSS0S HWMS
[ "$STARVE_ONLY" = 1 ] && { CASES=""; STARVE=1; }
for run in $(seq 1 "$RUNS"); do
    for cs in $CASES; do
        for srv in $SERVERS; do
            [ -n "${BROKEN[$srv]:-}" ] && continue
            [ "$cs" = nofsync ] && [ "${srv%0}" != hamasq ] && continue   # hamasq-only extra row
            search "$run" "$cs" "$srv"
            RATES[$cs,$srv]+="$R_RATE "; DELAYS[$cs,$srv]+="$R_DELAY "; RSSES[$cs,$srv]+="$R_RSS "; RSS0S[$cs,$srv]+="$R_RSS0 "; HWMS[$cs,$srv]+="$R_HWM "
        done
    done
done

# ---------------------------------------------------------------- starvation
# See "Starvation row" at the top.
declare -A S_LEASED S_LONGEST
STARVE_SERVERS=""
for srv in $SERVERS; do case $srv in hamasq|hamasq0|dnsmasq) STARVE_SERVERS+="$srv " ;; esac; done
if [ "$STARVE" = 1 ]; then
    for run in $(seq 1 "$RUNS"); do
        for srv in $STARVE_SERVERS; do
            [ -n "${BROKEN[$srv]:-}" ] && continue
            start_server "$srv" starve || continue
            out=$WORK/perf/starve-$run-$srv.txt
            timeout -k 2 $(( ${STARVE_SECS%.*} + 20 )) ip netns exec "$NS_CLI" "$PYTHON" \
                "$REPO/tests/ha_e2e/haprobe.py" starve "$SRV_ADDR" "$RELAY_ADDR" "$STARVE_RATE" \
                "$STARVE_CLIENTS" 10 "$STARVE_EVERY" "$STARVE_SECS" > "$out" 2>&1 &
            PERF_PID=$!; wait "$PERF_PID"; PERF_PID=""
            stop_server
            read -r leased longest flood_offers < <(awk '/^# clients/ { print $5, $7, $11 }' "$out")
            S_LEASED[$srv]+="${leased:-0} "; S_LONGEST[$srv]+="${longest:-nan} "
            log "run $run starve $srv: ${leased:-0} of $STARVE_CLIENTS real clients leased, longest wait ${longest:-?} ms ($flood_offers flood OFFERs); $out"
        done
    done
fi

# ---------------------------------------------------------------- report
median() { tr ' ' '\n' | grep -v '^$' | grep -v nan | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A MED
{
echo
echo "DHCPv4 relayed DORA, max completed rate with REQUEST-ACK drops <= $DROP_PCT %"
[ -n "$HAMASQ_BASE" ] && echo "hamasq0 = $HAMASQ_BASE; hamasq = $HAMASQ"
echo "hamasq $("$HAMASQ" --version 2>/dev/null | head -1) | Kea $("$KEA_BIN" -v 2>/dev/null) (memfile, MT 2 threads) | dnsmasq $("$DNSMASQ" -v | head -1 | awk '{print $3}') (--no-ping)"
echo "runs=$RUNS step=${STEP_SECS}s clients=$CLIENTS factor=$FACTOR refine=$REFINE; median of runs; $(nproc) cores, perfdhcp on the same machine"
echo "perfdhcp receive buffer: $([ ${#PERF_ENV[@]} -gt 0 ] && echo "SO_RCVBUF $CLIENT_RCVBUF (shim)" || echo "default ($(cat /proc/sys/net/core/rmem_default) bytes)")"
echo
printf '%-8s | %-8s | %12s | %14s | %8s | %11s | %8s | %s\n' case server "max DORA/s" "avg delay ms" "RSS MB" "RSS load MB" "best" "DORA/s per run"
printf -- '---------+----------+--------------+----------------+----------+-------------+----------+---------------\n'
for cs in $CASES; do
    for srv in $SERVERS; do
        [ -n "${RATES[$cs,$srv]:-}" ] || continue
        rate=$(echo "${RATES[$cs,$srv]}" | median); MED[$cs,$srv]=$rate
        delay=$(echo "${DELAYS[$cs,$srv]}" | median)
        rss=$(echo "${RSSES[$cs,$srv]}" | median)
        rss0=$(echo "${RSS0S[$cs,$srv]}" | median)
        best=$(echo "${RATES[$cs,$srv]}" | tr ' ' '\n' | sort -gr | head -1)
        printf '%-8s | %-8s | %12.0f | %14.2f | %8.1f | %11.1f | %8s | %s\n' "$cs" "$srv" "$rate" "$delay" \
            "$(fcalc "$rss / 1024")" "$(fcalc "$rss0 / 1024")" "$best" "${RATES[$cs,$srv]}"
    done
done
for srv in $SERVERS; do [ -n "${BROKEN[$srv]:-}" ] && printf '%-8s | %-8s | %12s |\n' all "$srv" "NO ACKS"; done
echo
if [ "$STARVE" = 1 ]; then
    echo "DISCOVER-only flood: $STARVE_RATE DISCOVER/s from random MACs + $STARVE_CLIENTS real clients (one every ${STARVE_EVERY}s from 10 s), pool 200, ${STARVE_SECS}s"
    printf '%-8s | %-8s | %14s | %16s | %s\n' case server "leased of $STARVE_CLIENTS" "longest wait ms" "leased / longest ms per run"
    printf -- '---------+----------+----------------+------------------+---------------------------\n'
    for srv in $STARVE_SERVERS; do
        [ -n "${S_LEASED[$srv]:-}" ] || continue
        printf '%-8s | %-8s | %14s | %16.0f | %s/ %s\n' starve "$srv" "$(echo "${S_LEASED[$srv]}" | median)" \
            "$(echo "${S_LONGEST[$srv]}" | median)" "${S_LEASED[$srv]}" "${S_LONGEST[$srv]}"
    done
    echo
fi
if [ -f "$WORK/50k-hamasq.log" ]; then
    echo "hamasq 50k case, last start: $(grep -o 'dhcp.leases_loaded.*' "$WORK/50k-hamasq.log" | tail -1)"
fi
echo "max DORA/s = median over runs; best = highest run (noise on a shared machine only lowers rates)."
echo "avg delay = perfdhcp DISCOVER-OFFER avg + REQUEST-ACK avg at the best passing step."
echo "RSS = peak VmRSS at the end of a step of that search (lease file loaded, test served: the"
echo "      server then holds up to $CLIENTS more leases); RSS load = peak VmRSS once up, before traffic."
echo
echo "Targets (same run):"
verdict() { if [ "$(fcalc "$1")" = 1 ]; then echo PASS; else echo FAIL; fi; }
ratio_line() {  # $1 label, $2 numerator key, $3 denominator key, $4 op+limit
    local a=${MED[$2]:-} b=${MED[$3]:-} q
    if [ -z "$a" ] || [ -z "$b" ] || [ "$a" = nan ] || [ "$b" = nan ]; then
        printf '  %-44s  n/a\n' "$1"; return
    fi
    if [ "$(fcalc "$b <= 0")" = 1 ]; then   # denominator below MIN_RATE
        q=$(fcalc "$a / $MIN_RATE")
        # Only a lower bound: it passes if the bound does, else it is unknown.
        local v=INCONCLUSIVE; [ "$(verdict "$q $4")" = PASS ] && v=PASS
        printf '  %-44s >%7.0f  (target %s; %s completed < %s/s)  %s\n' "$1" "$q" "$4" "${3#*,}" "$MIN_RATE" "$v"
        return
    fi
    q=$(fcalc "$a / $b")
    printf '  %-44s %8.2f  (target %s)  %s\n' "$1" "$q" "$4" "$(verdict "$q $4")"
}
for cs in disk tmpfs 50k; do
    case " $CASES " in *" $cs "*) ;; *) continue ;; esac
    ratio_line "hamasq / Kea memfile      [$cs]" "$cs,hamasq" "$cs,kea" ">= 2"
done
for cs in disk tmpfs 50k; do
    case " $CASES " in *" $cs "*) ;; *) continue ;; esac
    ratio_line "hamasq / dnsmasq          [$cs]" "$cs,hamasq" "$cs,dnsmasq" ">= 50"
done
if [ -n "$HAMASQ_BASE" ]; then   # A/B: information, no target
    for cs in $CASES; do
        a=${MED[$cs,hamasq]:-0} b=${MED[$cs,hamasq0]:-0}
        if [ "$(fcalc "$b > 0")" = 1 ]; then
            printf '  %-44s %8.2f  (A/B, no target)\n' "hamasq / hamasq0          [$cs]" "$(fcalc "$a / $b")"
        fi
    done
fi
for srv in $SERVERS; do   # the target is hamasq's; the others for comparison
    ratio_line "$srv 50k leases / empty file" "50k,$srv" "disk,$srv" ">= 0.9"
done
if [ -n "${RSSES[50k,hamasq]:-}" ]; then
    rss=$(fcalc "$(echo "${RSSES[50k,hamasq]}" | median) / 1024")
    printf '  %-44s %8.1f MB  (target <= 15 MB)  %s\n' "hamasq RSS with 50,000 leases, after test" "$rss" "$(verdict "$rss <= 15")"
    rss=$(fcalc "$(echo "${RSS0S[50k,hamasq]}" | median) / 1024")
    printf '  %-44s %8.1f MB  (target <= 15 MB)  %s\n' "hamasq RSS with 50,000 leases, loaded, idle" "$rss" "$(verdict "$rss <= 15")"
    rss=$(fcalc "$(echo "${HWMS[50k,hamasq]}" | median) / 1024")
    printf '  %-44s %8.1f MB  (info)\n' "hamasq peak RSS (VmHWM), 50,000 leases" "$rss"
fi
echo
echo "load average during the steps: $(awk -F'\t' 'NR > 1 && $15 != "" { v = $15 + 0; if (n == 0 || v < lo) lo = v; if (v > hi) hi = v; sum += v; n++ } END { if (n) printf "min %.2f, mean %.2f, max %.2f", lo, sum / n, hi }' "$STEPS_TSV") ($(nproc) cores)"
echo "total time $(( $(date +%s) - T0 )) s; steps in $STEPS_TSV; logs in $WORK"
} | tee "$WORK/report.txt"
