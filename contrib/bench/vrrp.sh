#!/usr/bin/env bash
# contrib/bench/vrrp.sh: VRRP failover gap, CPU and loss stability of hamasq
# vs keepalived (RFC 9568, VRRPv3).
#
# Run as root:   contrib/bench/vrrp.sh            (full: 5 runs, 600 s soak, ~28 min)
#                QUICK=1 contrib/bench/vrrp.sh    (3 runs, 60 s soak, ~13 min)
#                SKIP_GAPS=1 SKIP_CPU=1 SKIP_SOAK=1 SKIP_KNOB=1 contrib/bench/vrrp.sh
#                                                 (the frozen-Active rows only, ~5 min)
#
# Lab (all namespaces made here, named "<pid>-vb-*", nothing leaves them):
#   * "<pid>-vb-br": bridge br0 (STP off, forward delay 0, multicast snooping
#     off: a hub that floods the VRRP multicast), ports p-a, p-b, p-c;
#   * "<pid>-vb-a" router A 10.77.0.1/24, "<pid>-vb-b" router B 10.77.0.2/24,
#     "<pid>-vb-c" client C 10.77.0.10/24; each has one veth eth0. IPv6 off
#     (turned on, without DAD, before the dual-stack rows).
#   * VIP 10.77.0.254/24, VRID 51, A priority 150, B priority 100, both
#     preempting, garp delay 0 (one GARP burst on becoming Active).
#   * The client has net.ipv4.neigh.eth0.locktime = 0 (CLIENT_LOCKTIME), so
#     the first GARP of the new Active router is always taken; with Linux's
#     default of 1 s a GARP arriving < 1 s after the last update of the ARP
#     entry is ignored, which measures the client, not the router.
#
# Failover gap (pairs x intervals x failures x RUNS, fresh processes each run):
#   start A, wait until A is Active and holds the VIP; start B, wait until it
#   is Backup, settle; start the pinger in C (an ICMP echo to the VIP every
#   PING_INTERVAL = 10 ms, SCHED_FIFO, kernel receive timestamp per reply),
#   wait a random 0 .. 1 advert interval (so that the failure hits A's advert
#   cycle at a random phase), trigger the failure, wait until B holds the
#   VIP, keep pinging POST_SECS, stop the pinger. gap = longest interval
#   between consecutive replies whose later reply comes after the trigger
#   ("none" if no reply came back). The gap includes up to one ping interval
#   on each side of the outage (10 ms resolution). Failures:
#     cut   `ip link set p-a down` in the bridge namespace (A's eth0 loses
#           carrier; no priority-0 advert can get out): B takes over after
#           Master_Down_Interval;
#     term  SIGTERM to A (graceful: priority-0 advert, VIP removed): B takes
#           over after Skew_Time.
#   Targets (RFC 9568 6.1, for B's priority 100 and interval I):
#     Skew_Time = (256 - 100) * I / 256, MDI = 3 * I + Skew_Time;
#     cut <= MDI + 20 ms, term <= Skew_Time + 20 ms. PASS/FAIL on the median.
#   For hamasq runs the table also shows the median "takeover" time: B's
#   `vrrp.state ... role=active` log timestamp (ms) minus the trigger time.
#   keepalived below 0.1 s is run only if a probe sees it send at least half
#   the expected adverts per second (KA_MIN_INTERVAL=0.1 skips it outright).
#
# CPU: the pair at CPU_INTERVALS (default 0.1 s) for CPU_SECONDS (60): utime +
#   stime from /proc/PID/stat before/after of each hamasq (A Active, B Backup)
#   and of each keepalived's VRRP child (and its parent), as % of one core.
#
# Loss soak: the SOAK_PAIRS (hamasq) pair at 0.1 s with nftables in B's
#   namespace dropping LOSS_PCT (1) % of incoming IP protocol 112 at random
#   (`numgen random mod 100 < N drop`) for SOAK_SECONDS (600; QUICK: 60):
#   spurious takeovers = B's `role=active` (keepalived: Entering MASTER)
#   lines, and A's steps down; the client pings the VIP meanwhile (longest
#   gap, gaps >= 50 ms). Then the knob, for KNOB_PAIRS (hamasq keepalived):
#   KNOB_LOSS (20) % loss for KNOB_SECONDS (120; QUICK: 45) with
#   down-timer-adverts = 3 and = 10 (keepalived: down_timer_adverts; set on
#   both routers).
#
# Dual stack (issue 15), for DUAL_PAIRS (hamasq keepalived) x DUAL_INTERVALS
#   (INTERVALS) x DUAL_FAILURES (cut) x RUNS: IPv6 on (no DAD), A and B each
#   run an IPv4 instance (VIP as above) and an IPv6 one (fe80::1/64 first,
#   2001:db8:77::1/64; VRID 51 for both, RFC 9568 §7.3). The client pings
#   the IPv4 VIP and, with contrib/bench/ping6probe.py, the virtual
#   link-local fe80::1%eth0, each every PING_INTERVAL, in the same run; the
#   failure and the gap are as above, once per family. The table gives the
#   median v4 and v6 gaps and their difference (issue 15: the v6 gap is to
#   be no longer than the v4 gap + 50 ms). The client's
#   net.ipv6.neigh.eth0.locktime is CLIENT_LOCKTIME too.
#
# Frozen Active (issue 13 item 6), for FREEZE_PAIRS (hamasq keepalived) at
#   FREEZE_INTERVAL (1 s), FREEZE_RUNS (RUNS) runs each: A Active, B Backup;
#   SIGSTOP to A (keepalived: its parent and its VRRP child). For
#   FREEZE_SECS (12 s) the client C probes as a new client every ~100 ms:
#   flush its neighbour table, ping the VIP once (300 ms), and note the MAC
#   the VIP resolved to; a probe "reaches B" when it got a reply and the MAC
#   is B's (A's kernel answers ARP and ping for a VIP it still holds, so a
#   reply alone proves nothing). Measured from the SIGSTOP: "B holds" = B
#   has the VIP; "A lost" = the VIP is gone from the frozen A ("kept" if it
#   never went); "clean from" = from this probe on every probe reached B
#   ("never" if the last did not). Then SIGCONT, 6 s, and who holds the VIP
#   ("a", "b", "both", "none"). Medians over the runs.
#
# Knobs (environment): QUICK RUNS PAIRS INTERVALS FAILURES SOAK_SECONDS
# KNOB_SECONDS KNOB_LOSS LOSS_PCT SOAK_PAIRS KNOB_PAIRS CPU_SECONDS CPU_INTERVALS POST_SECS
# PING_INTERVAL PING_RT ROUTER_PREFIX CLIENT_LOCKTIME KA_MIN_INTERVAL
# SKIP_GAPS SKIP_CPU SKIP_SOAK SKIP_KNOB SKIP_FREEZE FREEZE_PAIRS
# SKIP_DUAL DUAL_PAIRS DUAL_INTERVALS DUAL_FAILURES
# FREEZE_INTERVAL FREEZE_RUNS FREEZE_SECS HAMASQ (binary; default: cargo build
# --release of this repo into CARGO_TARGET_DIR, default /work/target-vrrpbench
# if it exists, else target/).
#
# Everything (configs, daemon logs, ping output, results.tsv) is kept in a
# directory under /var/tmp printed at start and end. An EXIT trap stops the
# processes this script started (by pid) and deletes its namespaces.

set -uo pipefail   # no -e: a failing run is data, not an error

# ---------------------------------------------------------------- settings
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
    RUNS=${RUNS:-3}; SOAK_SECONDS=${SOAK_SECONDS:-60}; KNOB_SECONDS=${KNOB_SECONDS:-45}
else
    RUNS=${RUNS:-5}; SOAK_SECONDS=${SOAK_SECONDS:-600}; KNOB_SECONDS=${KNOB_SECONDS:-120}
fi
PAIRS=${PAIRS:-"hamasq keepalived"}
INTERVALS=${INTERVALS:-"1 0.1 0.01"}
FAILURES=${FAILURES:-"cut term"}
LOSS_PCT=${LOSS_PCT:-1}
KNOB_LOSS=${KNOB_LOSS:-20}
SOAK_PAIRS=${SOAK_PAIRS:-hamasq}      # pairs of the LOSS_PCT soak
KNOB_PAIRS=${KNOB_PAIRS:-"hamasq keepalived"}   # pairs of the KNOB_LOSS runs
CPU_SECONDS=${CPU_SECONDS:-60}
CPU_INTERVALS=${CPU_INTERVALS:-0.1}
POST_SECS=${POST_SECS:-0.5}           # keep pinging after B holds the VIP
PING_INTERVAL=${PING_INTERVAL:-0.01}
CLIENT_LOCKTIME=${CLIENT_LOCKTIME:-0}
PING_RT=${PING_RT:-50}                # SCHED_FIFO priority of the pinger, 0 = normal
read -r -a ROUTER_PREFIX <<< "${ROUTER_PREFIX:-}"   # e.g. "chrt -f 10" for the daemons
KA_MIN_INTERVAL=${KA_MIN_INTERVAL:-}  # empty: probe keepalived once
SKIP_GAPS=${SKIP_GAPS:-0}; SKIP_CPU=${SKIP_CPU:-0}; SKIP_SOAK=${SKIP_SOAK:-0}; SKIP_KNOB=${SKIP_KNOB:-0}
SKIP_FREEZE=${SKIP_FREEZE:-0}
FREEZE_PAIRS=${FREEZE_PAIRS:-"hamasq keepalived"}
FREEZE_INTERVAL=${FREEZE_INTERVAL:-1}
FREEZE_RUNS=${FREEZE_RUNS:-$RUNS}
FREEZE_SECS=${FREEZE_SECS:-12}
SKIP_DUAL=${SKIP_DUAL:-0}
DUAL_PAIRS=${DUAL_PAIRS:-"hamasq keepalived"}
DUAL_INTERVALS=${DUAL_INTERVALS:-$INTERVALS}
DUAL_FAILURES=${DUAL_FAILURES:-cut}
VLL=fe80::1; VIP6=2001:db8:77::1
MARGIN_MS=20
B_PRIO=100; A_PRIO=150
VIP=10.77.0.254; VRID=51
declare -A ADDR=([a]=10.77.0.1 [b]=10.77.0.2 [c]=10.77.0.10)
declare -A MACN=([a]=1 [b]=2 [c]=3)

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
P=$$
NS_BR="$P-vb-br"
declare -A NS=([a]="$P-vb-a" [b]="$P-vb-b" [c]="$P-vb-c")
T0=$(date +%s)

# log, die, apt_install
. "$REPO/contrib/bench/lib.sh"
fcalc() { awk "BEGIN { printf \"%s\", ($1) }"; }
fms()   { awk "BEGIN { printf \"%.1f\", ($1) }"; }
now()   { date +%s.%N; }

[ "$(id -u)" = 0 ] || die "run as root (network namespaces, nftables, apt-get)"

# ---------------------------------------------------------------- install
need_pkgs=()
command -v nft  >/dev/null || need_pkgs+=(nftables)
command -v ping >/dev/null || need_pkgs+=(iputils-ping)
command -v ip   >/dev/null || need_pkgs+=(iproute2)
[ -x /usr/sbin/keepalived ] || case " $PAIRS " in *" keepalived "*) need_pkgs+=(keepalived);; esac
if [ ${#need_pkgs[@]} -gt 0 ]; then
    apt_install "${need_pkgs[@]}" || die "apt-get install ${need_pkgs[*]} failed"
fi
KEEPALIVED=/usr/sbin/keepalived

# ---------------------------------------------------------------- hamasq
if [ -z "${HAMASQ:-}" ]; then
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$( [ -d /work/target-vrrpbench ] && echo /work/target-vrrpbench || echo "$REPO/target")}
    log "building hamasq (cargo build --release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
    (cd "$REPO" && cargo build --release -q) || die "cargo build failed"
    HAMASQ="$CARGO_TARGET_DIR/release/hamasq"
fi
[ -x "$HAMASQ" ] || die "no hamasq binary at $HAMASQ"

WORK=$(mktemp -d "/var/tmp/vrrpbench.$P.XXXX")
RESULTS="$WORK/results.tsv"
printf 'pair\tinterval\tfailure\trun\tgap_ms\ttakeover_ms\n' > "$RESULTS"
log "work dir: $WORK"

# The client's pinger: tests/ha_e2e/haprobe.py's ping mode, one ICMP echo
# every PING_INTERVAL on an absolute schedule, one line `reply T SEQ` per
# reply with the kernel receive time (SO_TIMESTAMPNS). iputils ping is not
# used: here `ping -i 0.01` sends every ~18 ms on average (and bursts after
# stalls). It runs SCHED_FIFO (PING_RT) so that the measuring instrument is
# not the noise; the routers run at normal priority (ROUTER_PREFIX, e.g.
# "chrt -f 10", to change that).
PYTHON=$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || command -v python3 ) || die "python3 is needed (pinger)"
PINGER=("$PYTHON" "$REPO/tests/ha_e2e/haprobe.py" ping)
[ "$PING_RT" -gt 0 ] 2>/dev/null && PINGER=(chrt -f "$PING_RT" "${PINGER[@]}")

# ---------------------------------------------------------------- cleanup
declare -A LIVE   # background processes started here and not yet reaped
cleanup() {
    local rc=$? p ns
    trap - EXIT INT TERM
    for p in "${!LIVE[@]}"; do kill -TERM "$p" 2>/dev/null; done
    sleep 0.3
    for p in "${!LIVE[@]}"; do kill -KILL "$p" 2>/dev/null; done
    # Anything still inside OUR namespaces (e.g. a keepalived child).
    for ns in "${NS[a]}" "${NS[b]}" "${NS[c]}" "$NS_BR"; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    done
    for p in "${!LIVE[@]}"; do wait "$p" 2>/dev/null; done
    for ns in "${NS[a]}" "${NS[b]}" "${NS[c]}" "$NS_BR"; do
        ip netns del "$ns" 2>/dev/null
    done
    log "cleaned up; logs and results in $WORK ($(( $(date +%s) - T0 )) s)"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- lab
xa()  { ip netns exec "${NS[$1]}" "${@:2}"; }     # run in host a|b|c
xbr() { ip netns exec "$NS_BR" "$@"; }

ip netns add "$NS_BR" || die "ip netns add"
xbr sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n "$NS_BR" link set lo up
ip -n "$NS_BR" link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0 || die "bridge"
ip -n "$NS_BR" link set br0 up
for h in a b c; do
    ip netns add "${NS[$h]}" || die "ip netns add ${NS[$h]}"
    xa $h sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "${NS[$h]}" link set lo up
    ip -n "$NS_BR" link add "p-$h" type veth peer name eth0 netns "${NS[$h]}" || die "veth $h"
    ip -n "$NS_BR" link set "p-$h" master br0 up
    ip -n "${NS[$h]}" link set eth0 address "02:76:62:00:00:0${MACN[$h]}"
    xa $h sysctl -qw net.ipv6.conf.eth0.disable_ipv6=1
    ip -n "${NS[$h]}" addr add "${ADDR[$h]}/24" dev eth0
    ip -n "${NS[$h]}" link set eth0 up
done
xa c sysctl -qw "net.ipv4.neigh.eth0.locktime=$CLIENT_LOCKTIME"
xa c ping -c 1 -W 2 "${ADDR[a]}" >/dev/null && xa c ping -c 1 -W 2 "${ADDR[b]}" >/dev/null \
    || die "lab: the client cannot reach A and B"
log "lab up: $NS_BR ${NS[a]} ${NS[b]} ${NS[c]}"

# ---------------------------------------------------------------- helpers
has_vip() { ip -n "${NS[$1]}" -4 -o addr show dev eth0 2>/dev/null | grep -q "inet $VIP/"; }
# wait_until TIMEOUT_S CMD...: polls every 20 ms
wait_until() {
    # %.6f, not fcalc's %s: mawk prints an epoch as 1.79581e+09 with %s,
    # a deadline already past.
    local end; end=$(awk "BEGIN { printf \"%.6f\", ($(now) + $1) }"); shift
    while :; do
        "$@" && return 0
        awk "BEGIN { exit !($(now) > $end) }" && return 1
        sleep 0.02
    done
}
log_has() { grep -q -- "$2" "$1" 2>/dev/null; }
skew_ms() { fcalc "(256 - $B_PRIO) * $1 * 1000 / 256"; }
mdi_ms()  { fcalc "3 * $1 * 1000 + (256 - $B_PRIO) * $1 * 1000 / 256"; }

# start_bg HOST LOG CMD...: starts CMD in HOST's namespace; pid in LAST_PID.
# (`ip netns exec` execs the command, so the pid is the daemon's.)
start_bg() {
    local h=$1 logf=$2; shift 2
    ip netns exec "${NS[$h]}" "$@" >"$logf" 2>&1 &
    LAST_PID=$!
    LIVE[$LAST_PID]=1
}
# stop_pid PID SIG: signal, wait up to 5 s, then SIGKILL; reaps.
stop_pid() {
    local p=$1 sig=${2:-TERM} i
    [ -n "$p" ] || return 0
    kill -"$sig" "$p" 2>/dev/null
    for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    unset "LIVE[$p]"
    return 0
}

# conf PAIR HOST INTERVAL DIR [DOWN_ADVERTS]: writes the config, prints its path
conf() {
    local pair=$1 h=$2 iv=$3 dir=$4 dta=${5:-} prio
    [ "$h" = a ] && prio=$A_PRIO || prio=$B_PRIO
    mkdir -p "$dir/$h"
    if [ "$pair" = hamasq ]; then
        {
            printf '[general]\npid-file = none\nstate-dir = %s\nlog-level = info\n\n' "$dir/$h/state"
            printf '[vrrp lan]\ninterface = eth0\nvirtual-router-id = %s\npriority = %s\n' "$VRID" "$prio"
            printf 'advert-int = %s\nvirtual-ipaddress = %s/24\ngarp-master-delay = 0\n' "$iv" "$VIP"
            [ -n "$dta" ] && printf 'down-timer-adverts = %s\n' "$dta"
        } > "$dir/$h/hamasq.conf"
        echo "$dir/$h/hamasq.conf"
    else
        cat > "$dir/$h/keepalived.conf" <<EOF
global_defs {
  vrrp_version 3
  script_user root
  enable_script_security
}
vrrp_instance lan {
  state BACKUP
  interface eth0
  virtual_router_id $VRID
  priority $prio
  advert_int $iv${dta:+
  down_timer_adverts $dta}
  virtual_ipaddress {
    $VIP/24
  }
}
EOF
        echo "$dir/$h/keepalived.conf"
    fi
}

# start_router PAIR HOST CONF DIR: pid in RPID[HOST], log in RLOG[HOST]
declare -A RPID RLOG
start_router() {
    local pair=$1 h=$2 cf=$3 dir=$4
    RLOG[$h]="$dir/$h/$pair.log"
    if [ "$pair" = hamasq ]; then
        start_bg "$h" "${RLOG[$h]}" ${ROUTER_PREFIX[@]+"${ROUTER_PREFIX[@]}"} "$HAMASQ" -f -c "$cf"
    else
        rm -f "$dir/$h/ka.pid" "$dir/$h/ka-vrrp.pid"
        start_bg "$h" "${RLOG[$h]}" ${ROUTER_PREFIX[@]+"${ROUTER_PREFIX[@]}"} "$KEEPALIVED" -n -l -D -P -f "$cf" \
            -p "$dir/$h/ka.pid" -r "$dir/$h/ka-vrrp.pid"
    fi
    RPID[$h]=$LAST_PID
}
active_re() { [ "$1" = hamasq ] && echo 'vrrp.state instance=lan role=active' || echo 'Entering MASTER STATE'; }
backup_re() { [ "$1" = hamasq ] && echo 'vrrp.state instance=lan role=backup' || echo 'Entering BACKUP STATE'; }

# Stops both routers, clears leftovers, link up: a clean slate.
reset_lab() {
    local h
    for h in b a; do
        if [ -n "${RPID[$h]:-}" ]; then stop_pid "${RPID[$h]}" TERM; RPID[$h]=""; fi
    done
    ip -n "$NS_BR" link set p-a up
    for h in a b; do
        ip -n "${NS[$h]}" addr del "$VIP/24" dev eth0 2>/dev/null
        ip -n "${NS[$h]}" -6 addr del "$VLL/64" dev eth0 2>/dev/null
        ip -n "${NS[$h]}" -6 addr del "$VIP6/64" dev eth0 2>/dev/null
        ip netns exec "${NS[$h]}" nft delete table inet vrrpbench 2>/dev/null
    done
    ip -n "${NS[c]}" neigh flush dev eth0 2>/dev/null
    return 0
}

# bring_up PAIR INTERVAL DIR [DOWN_ADVERTS]: A Active with the VIP, B Backup.
bring_up() {
    local pair=$1 iv=$2 dir=$3 dta=${4:-} ca cb tmo
    tmo=$(fcalc "$(mdi_ms "$iv") / 1000 * 2 + 10")
    ca=$(conf "$pair" a "$iv" "$dir" "$dta"); cb=$(conf "$pair" b "$iv" "$dir" "$dta")
    start_router "$pair" a "$ca" "$dir"
    wait_until "$tmo" log_has "${RLOG[a]}" "$(active_re "$pair")" || { log "A did not become Active: $(tail -3 "${RLOG[a]}")"; return 1; }
    wait_until 5 has_vip a || { log "A is Active without the VIP"; return 1; }
    start_router "$pair" b "$cb" "$dir"
    wait_until 10 log_has "${RLOG[b]}" "$(backup_re "$pair")" || { log "B did not become Backup: $(tail -3 "${RLOG[b]}")"; return 1; }
    sleep "$(fcalc "$iv * 2 + 0.3")"   # B has heard adverts
    if has_vip b; then log "B holds the VIP while A is Active"; return 1; fi
    if log_has "${RLOG[b]}" "$(active_re "$pair")"; then log "B went Active at start"; return 1; fi
    return 0
}

# gap_ms PINGFILE TRIGGER_EPOCH: longest reply gap ending after the trigger.
gap_ms() {
    awk -v tf="$2" '
        /^reply / {
            t = $2 + 0
            if (have && t > tf && t - prev > max) max = t - prev
            prev = t; have = 1; if (t > tf) after = 1
        }
        END { if (!after) print "none"; else printf "%.1f\n", max * 1000 }' "$1"
}
# takeover_ms LOG TRIGGER_EPOCH: first role=active in a hamasq log, minus trigger.
takeover_ms() {
    local ts
    ts=$(grep -m1 'vrrp.state instance=lan role=active' "$1" 2>/dev/null | awk '{print $1}')
    [ -n "$ts" ] || { echo "-"; return; }
    fcalc "($(date -d "$ts" +%s.%N) - $2) * 1000" | awk '{ printf "%.0f", $1 }'
}
median() {  # of the numeric args ("none"/"ERR" count as +inf)
    printf '%s\n' "$@" | awk '{ print ($1 ~ /^-?[0-9.]+$/) ? $1 : 1e12 }' | sort -g \
        | awk '{ a[NR] = $1 } END { if (!NR) { print "-"; exit } n = NR
              m = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
              if (m >= 1e12) print "none"; else printf "%.1f\n", m }'
}
# cpu_ticks PID: utime + stime (clock ticks) of the whole process
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------- keepalived 10 ms probe
# keepalived (v3) parses advert_int as centiseconds but may refuse or round
# small values; one probe (A alone) tells whether it really advertises at it.
ka_can() {   # ka_can INTERVAL -> 0 if keepalived sends adverts at INTERVAL
    local iv=$1 dir="$WORK/ka-probe-$1" cf n rc=1
    cf=$(conf keepalived a "$iv" "$dir")
    start_router keepalived a "$cf" "$dir"
    if wait_until 10 log_has "${RLOG[a]}" 'Entering MASTER STATE'; then
        # count the adverts reaching B's namespace in 2 s (prerouting: B has
        # no daemon, so no multicast membership, and input never sees them)
        ip netns exec "${NS[b]}" nft -f - <<EOF
table inet vrrpbench {
  chain input {
    type filter hook prerouting priority 0; policy accept;
    ip protocol 112 counter
  }
}
EOF
        sleep 2
        n=$(ip netns exec "${NS[b]}" nft list table inet vrrpbench | awk '/counter/ { for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1) }')
        n=$(( ${n:-0} / 2 ))
        log "keepalived advert_int $iv: $n adverts/s (expect ~$(fcalc "1 / $iv"))"
        [ "$n" -ge "$(awk "BEGIN { printf \"%d\", 0.5 / $iv }")" ] && rc=0
    fi
    grep -iE 'advert|interval|invalid|warn' "${RLOG[a]}" | head -5 | sed 's/^/    ka: /' >&2
    reset_lab
    return $rc
}

# ka_skip INTERVAL: true (and noted in SKIPPED) when keepalived is not run
# at INTERVAL: below KA_MIN_INTERVAL, or below 0.1 s when the probe sees it
# fall short; each interval is decided once.
declare -A KA_DECIDED
ka_skip() {
    local iv=$1
    if [ -z "${KA_DECIDED[$iv]:-}" ]; then
        KA_DECIDED[$iv]=run
        if [ -n "$KA_MIN_INTERVAL" ]; then
            awk "BEGIN { exit !($iv < $KA_MIN_INTERVAL) }" && KA_DECIDED[$iv]=skip
        elif awk "BEGIN { exit !($iv < 0.1) }" && ! ka_can "$iv"; then
            log "keepalived cannot advertise every $iv s here: skipped"
            KA_DECIDED[$iv]=skip
        fi
        [ "${KA_DECIDED[$iv]}" = skip ] && SKIPPED+=("keepalived@$iv")
    fi
    [ "${KA_DECIDED[$iv]}" = skip ]
}

# ---------------------------------------------------------------- failover runs
SKIPPED=()
run_once() {   # run_once PAIR INTERVAL FAILURE IDX
    local pair=$1 iv=$2 fail=$3 i=$4 dir pf ppid tf gap tko tmo
    dir="$WORK/runs/$pair-$iv-$fail-$i"; mkdir -p "$dir"
    reset_lab
    if ! bring_up "$pair" "$iv" "$dir"; then
        printf '%s\t%s\t%s\t%s\tERR\t-\n' "$pair" "$iv" "$fail" "$i" >> "$RESULTS"
        reset_lab; return
    fi
    pf="$dir/ping.txt"
    start_bg c "$pf" "${PINGER[@]}" "$VIP" "$PING_INTERVAL" 120
    ppid=$LAST_PID
    wait_until 3 awk 'END { exit !(n >= 20) } /^reply / { n++ }' "$pf"
    # Random phase against A's advert timer (uniform over one interval):
    # otherwise every run cuts at the same point of A's advert cycle.
    sleep "$(awk -v r="$RANDOM" -v iv="$iv" 'BEGIN { printf "%.3f", 0.2 + r / 32768 * iv }')"
    tf=$(now)
    case $fail in
        cut)  ip -n "$NS_BR" link set p-a down ;;
        term) kill -TERM "${RPID[a]}" ;;
    esac
    tmo=$(fcalc "$(mdi_ms "$iv") / 1000 * 3 + 5")
    wait_until "$tmo" has_vip b || log "  B did not take the VIP within $tmo s"
    sleep "$POST_SECS"
    stop_pid "$ppid" INT
    gap=$(gap_ms "$pf" "$tf")
    tko="-"; [ "$pair" = hamasq ] && tko=$(takeover_ms "${RLOG[b]}" "$tf")
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$pair" "$iv" "$fail" "$i" "$gap" "$tko" >> "$RESULTS"
    echo "$tf" > "$dir/trigger"
    log "  $pair iv=$iv $fail #$i: gap $gap ms, B active after $tko ms"
    reset_lab
}

if [ "$SKIP_GAPS" != 1 ]; then
    for pair in $PAIRS; do
        for iv in $INTERVALS; do
            [ "$pair" = keepalived ] && ka_skip "$iv" && continue
            for fail in $FAILURES; do
                log "$pair advert-int $iv s, failure $fail: $RUNS runs"
                for i in $(seq "$RUNS"); do run_once "$pair" "$iv" "$fail" "$i"; done
            done
        done
    done
fi

# ---------------------------------------------------------------- CPU
CPU_LINES=()
cpu_case() {   # cpu_case PAIR INTERVAL
    local pair=$1 iv=$2 dir="$WORK/cpu-$1-$2" h pids=() names=() b0=() b1=() k t0 t1 secs vp
    reset_lab
    bring_up "$pair" "$iv" "$dir" || { CPU_LINES+=("$pair $iv s: setup failed"); reset_lab; return; }
    for h in a b; do
        if [ "$pair" = hamasq ]; then
            pids+=("${RPID[$h]}"); names+=("$h")
        else
            vp=$(cat "$dir/$h/ka-vrrp.pid" 2>/dev/null)
            pids+=("$vp" "${RPID[$h]}"); names+=("$h-vrrp" "$h-parent")
        fi
    done
    t0=$(now); for k in "${!pids[@]}"; do b0[$k]=$(cpu_ticks "${pids[$k]}"); done
    sleep "$CPU_SECONDS"
    t1=$(now); for k in "${!pids[@]}"; do b1[$k]=$(cpu_ticks "${pids[$k]}"); done
    secs=$(fcalc "$t1 - $t0")
    local line="$pair @ $iv s:"
    for k in "${!pids[@]}"; do
        line+=$(awk -v n="${names[$k]}" -v d="$(( b1[k] - b0[k] ))" -v hz="$CLK_TCK" -v s="$secs" \
            'BEGIN { printf "  %s %.3f %%", n, d / hz / s * 100 }')
    done
    has_vip b && line+="  (WARNING: B took the VIP during the measurement)"
    CPU_LINES+=("$line")
    log "cpu: $line"
    reset_lab
}
if [ "$SKIP_CPU" != 1 ]; then
    for iv in $CPU_INTERVALS; do
        for pair in $PAIRS; do
            [ "$pair" = keepalived ] && [[ " ${SKIPPED[*]:-} " == *" keepalived@$iv "* ]] && continue
            log "cpu: $pair at $iv s for $CPU_SECONDS s"
            cpu_case "$pair" "$iv"
        done
    done
fi

# ---------------------------------------------------------------- loss soak
SOAK_LINES=()
soak() {   # soak PAIR NAME LOSS_PCT SECONDS [DOWN_ADVERTS]
    local pair=$1 name="$1 $2" loss=$3 secs=$4 dta=${5:-} dir="$WORK/soak-$1-$2" nb na drops
    reset_lab
    bring_up "$pair" 0.1 "$dir" "$dta" || { SOAK_LINES+=("$name: setup failed"); reset_lab; return; }
    ip netns exec "${NS[b]}" nft -f - <<EOF || { SOAK_LINES+=("$name: nft failed"); reset_lab; return; }
table inet vrrpbench {
  chain input {
    type filter hook input priority 0; policy accept;
    ip protocol 112 numgen random mod 100 < $loss counter drop
    ip protocol 112 counter
  }
}
EOF
    local la lb pp pf="$dir/ping.txt" gaps
    la=$(wc -l < "${RLOG[a]}"); lb=$(wc -l < "${RLOG[b]}")   # count from here
    start_bg c "$pf" "${PINGER[@]}" "$VIP" "$PING_INTERVAL" "$(( secs + 30 ))"; pp=$LAST_PID
    log "soak $name: ${loss}% loss of B's incoming adverts, down-timer-adverts=${dta:-3 (default)}, $secs s"
    sleep "$secs"
    stop_pid "$pp" INT
    # client view: longest reply gap, and gaps >= 50 ms
    gaps=$(awk '/^reply / { t = $2 + 0
                 if (p) { d = (t - p) * 1000; if (d > m) m = d; if (d >= 50) n++ } p = t; r++ }
                END { printf "client: %d replies, longest gap %.0f ms, %d gaps >= 50 ms", r, m, n }' "$pf")
    drops=$(ip netns exec "${NS[b]}" nft list table inet vrrpbench | awk '/counter/ { for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1) }' | paste -sd/)
    nb=$(tail -n "+$((lb + 1))" "${RLOG[b]}" | grep -c -- "$(active_re "$pair")")
    na=$(tail -n "+$((la + 1))" "${RLOG[a]}" | grep -c -- "$(backup_re "$pair")")
    local fs=""; [ "$nb" -gt 0 ] && [ "$pair" = hamasq ] && fs=" first at $(tail -n "+$((lb + 1))" "${RLOG[b]}" | grep -m1 'role=active' | awk '{print $1}')"
    SOAK_LINES+=("$name: loss ${loss}%, down-timer-adverts ${dta:-3}, ${secs} s: B went Active $nb times, A stepped down $na times${fs} (adverts dropped/passed at B: $drops); $gaps")
    log "soak: ${SOAK_LINES[-1]}"
    reset_lab
}
for pair in $SOAK_PAIRS; do
    [ "$SKIP_SOAK" != 1 ] && soak "$pair" "loss${LOSS_PCT}" "$LOSS_PCT" "$SOAK_SECONDS"
done
if [ "$SKIP_KNOB" != 1 ]; then
    for pair in $KNOB_PAIRS; do
        soak "$pair" "loss${KNOB_LOSS}-dta3" "$KNOB_LOSS" "$KNOB_SECONDS" 3
        soak "$pair" "loss${KNOB_LOSS}-dta10" "$KNOB_LOSS" "$KNOB_SECONDS" 10
    done
fi

# ---------------------------------------------------------------- frozen Active
FREEZE_LINES=()
# The pids to stop for a frozen A: hamasq itself; keepalived's parent and
# its VRRP child (the child owns the VIP and the adverts).
freeze_pids() {
    local pair=$1 dir=$2
    echo "${RPID[a]}"
    [ "$pair" = keepalived ] && cat "$dir/a/ka-vrrp.pid" 2>/dev/null
}
# probe_b: one new client's look at the VIP: "B" if it got a reply from
# B's MAC, "A" if the VIP resolved to the frozen A's MAC, "-" otherwise.
probe_b() {
    local ok=0 mac
    ip -n "${NS[c]}" neigh flush dev eth0 2>/dev/null
    ip netns exec "${NS[c]}" ping -n -q -c 1 -W 0.3 "$VIP" >/dev/null 2>&1 && ok=1
    mac=$(ip -n "${NS[c]}" neigh show "$VIP" dev eth0 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1) }')
    if [ "$mac" = "02:76:62:00:00:0${MACN[a]}" ]; then echo A
    elif [ "$ok" = 1 ] && [ "$mac" = "02:76:62:00:00:0${MACN[b]}" ]; then echo B
    else echo -; fi
}
freeze_once() {   # freeze_once PAIR IDX
    local pair=$1 i=$2 dir="$WORK/freeze/$1-$2" tf t rel pids p b_at="-" a_at="kept" clean="never" last_bad=0 to_a=0 r holders
    reset_lab
    bring_up "$pair" "$FREEZE_INTERVAL" "$dir" || { FREEZE_ROWS+=("$pair	$i	ERR	ERR	ERR	ERR	ERR"); reset_lab; return; }
    sleep 1
    pids=$(freeze_pids "$pair" "$dir")
    tf=$(now)
    for p in $pids; do kill -STOP "$p" 2>/dev/null; done
    : > "$dir/probes.txt"
    while :; do
        t=$(now); rel=$(fcalc "($t - $tf) * 1000" | awk '{ printf "%.0f", $1 }')
        [ "$rel" -ge $(( FREEZE_SECS * 1000 )) ] && break
        [ "$b_at" = "-" ] && has_vip b && b_at=$rel
        [ "$a_at" = "kept" ] && ! has_vip a && a_at=$rel
        r=$(probe_b)
        echo "$rel $r" >> "$dir/probes.txt"
        [ "$r" = A ] && [ "$b_at" != "-" ] && to_a=$(( to_a + 1 ))
        if [ "$r" = B ]; then [ "$clean" = never ] && clean=$rel; else clean=never; last_bad=$rel; fi
        sleep 0.1
    done
    for p in $pids; do kill -CONT "$p" 2>/dev/null; done
    sleep 6
    holders=""; has_vip a && holders+="a"; has_vip b && holders+="b"
    case $holders in ab) holders=both;; "") holders=none;; esac
    FREEZE_ROWS+=("$pair	$i	$b_at	$a_at	$clean	$holders	$to_a")
    log "  freeze $pair #$i: B holds after $b_at ms, A lost it after $a_at ms, new clients reach B from $clean ms (last miss $last_bad ms, $to_a probes sent to the frozen A after B held the VIP); after SIGCONT: $holders"
    reset_lab
}
FREEZE_ROWS=()
if [ "$SKIP_FREEZE" != 1 ]; then
    for pair in $FREEZE_PAIRS; do
        log "frozen Active: $pair, advert-int $FREEZE_INTERVAL s, $FREEZE_RUNS runs"
        for i in $(seq "$FREEZE_RUNS"); do freeze_once "$pair" "$i"; done
    done
fi

# ---------------------------------------------------------------- dual stack
DUAL_RESULTS="$WORK/dual.tsv"
printf 'pair\tinterval\tfailure\trun\tgap4_ms\tgap6_ms\n' > "$DUAL_RESULTS"
PINGER6=("$PYTHON" "$REPO/contrib/bench/ping6probe.py")
[ "$PING_RT" -gt 0 ] 2>/dev/null && PINGER6=(chrt -f "$PING_RT" "${PINGER6[@]}")
has_vip6() {
    local a; a=$(ip -n "${NS[$1]}" -6 -o addr show dev eth0 2>/dev/null)
    grep -q "inet6 $VLL/64" <<< "$a" && grep -q "inet6 $VIP6/64" <<< "$a"
}
has_both() { has_vip "$1" && has_vip6 "$1"; }

# conf_dual PAIR HOST INTERVAL DIR: conf's IPv4 instance plus an IPv6 one,
# VRID 51 each (RFC 9568 §7.3); prints the config's path
conf_dual() {
    local pair=$1 h=$2 iv=$3 dir=$4 prio cf
    [ "$h" = a ] && prio=$A_PRIO || prio=$B_PRIO
    cf=$(conf "$pair" "$h" "$iv" "$dir")
    if [ "$pair" = hamasq ]; then
        printf '\n[vrrp lan6]\ninterface = eth0\nvirtual-router-id = %s\npriority = %s\n' "$VRID" "$prio"
        printf 'advert-int = %s\nvirtual-ipaddress = %s/64\nvirtual-ipaddress = %s/64\n' "$iv" "$VLL" "$VIP6"
        printf 'garp-master-delay = 0\n'
    else
        printf 'vrrp_instance lan6 {\n  state BACKUP\n  interface eth0\n  virtual_router_id %s\n' "$VRID"
        printf '  priority %s\n  advert_int %s\n  virtual_ipaddress {\n    %s/64\n    %s/64\n  }\n}\n' \
            "$prio" "$iv" "$VLL" "$VIP6"
    fi >> "$cf"
    echo "$cf"
}
backup6_re() { [ "$1" = hamasq ] && echo 'vrrp.state instance=lan6 role=backup' || echo '(lan6) Entering BACKUP STATE'; }

dual_up() {   # dual_up PAIR INTERVAL DIR: A Active for both families, B Backup
    local pair=$1 iv=$2 dir=$3 ca cb tmo
    tmo=$(fcalc "$(mdi_ms "$iv") / 1000 * 2 + 10")
    ca=$(conf_dual "$pair" a "$iv" "$dir"); cb=$(conf_dual "$pair" b "$iv" "$dir")
    start_router "$pair" a "$ca" "$dir"
    wait_until "$tmo" has_both a || { log "A does not hold both VIPs: $(tail -3 "${RLOG[a]}")"; return 1; }
    start_router "$pair" b "$cb" "$dir"
    wait_until 10 log_has "${RLOG[b]}" "$(backup6_re "$pair")" || { log "B did not become Backup (v6): $(tail -3 "${RLOG[b]}")"; return 1; }
    sleep "$(fcalc "$iv * 2 + 0.3")"
    if has_vip b || has_vip6 b; then log "B holds a VIP while A is Active"; return 1; fi
    return 0
}

dual_once() {   # dual_once PAIR INTERVAL FAILURE IDX
    local pair=$1 iv=$2 fail=$3 i=$4 dir pf4 pf6 p4 p6 tf g4 g6 tmo
    dir="$WORK/dual/$pair-$iv-$fail-$i"; mkdir -p "$dir"
    reset_lab
    if ! dual_up "$pair" "$iv" "$dir"; then
        printf '%s\t%s\t%s\t%s\tERR\tERR\n' "$pair" "$iv" "$fail" "$i" >> "$DUAL_RESULTS"
        reset_lab; return
    fi
    pf4="$dir/ping4.txt"; pf6="$dir/ping6.txt"
    start_bg c "$pf4" "${PINGER[@]}" "$VIP" "$PING_INTERVAL" 120; p4=$LAST_PID
    start_bg c "$pf6" "${PINGER6[@]}" "$VLL%eth0" "$PING_INTERVAL" 120; p6=$LAST_PID
    wait_until 3 awk 'END { exit !(n >= 20) } /^reply / { n++ }' "$pf4"
    wait_until 3 awk 'END { exit !(n >= 20) } /^reply / { n++ }' "$pf6"
    sleep "$(awk -v r="$RANDOM" -v iv="$iv" 'BEGIN { printf "%.3f", 0.2 + r / 32768 * iv }')"
    tf=$(now)
    case $fail in
        cut)  ip -n "$NS_BR" link set p-a down ;;
        term) kill -TERM "${RPID[a]}" ;;
    esac
    tmo=$(fcalc "$(mdi_ms "$iv") / 1000 * 3 + 5")
    wait_until "$tmo" has_both b || log "  B did not take both VIPs within $tmo s"
    sleep "$POST_SECS"
    stop_pid "$p4" INT; stop_pid "$p6" INT
    g4=$(gap_ms "$pf4" "$tf"); g6=$(gap_ms "$pf6" "$tf")
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$pair" "$iv" "$fail" "$i" "$g4" "$g6" >> "$DUAL_RESULTS"
    log "  dual $pair iv=$iv $fail #$i: gap v4 $g4 ms, v6 $g6 ms"
    reset_lab
}

if [ "$SKIP_DUAL" != 1 ]; then
    for h in a b c; do
        xa $h sysctl -qw net.ipv6.conf.eth0.accept_dad=0 net.ipv6.conf.all.accept_dad=0
        xa $h sysctl -qw net.ipv6.conf.eth0.disable_ipv6=0
    done
    xa c sysctl -qw "net.ipv6.neigh.eth0.locktime=$CLIENT_LOCKTIME"
    for pair in $DUAL_PAIRS; do
        for iv in $DUAL_INTERVALS; do
            [ "$pair" = keepalived ] && ka_skip "$iv" && continue
            for fail in $DUAL_FAILURES; do
                log "dual stack: $pair advert-int $iv s, failure $fail: $RUNS runs"
                for i in $(seq "$RUNS"); do dual_once "$pair" "$iv" "$fail" "$i"; done
            done
        done
    done
fi

# ---------------------------------------------------------------- report
echo
echo "VRRP failover: longest ping gap (client pings the VIP every $(fms "$PING_INTERVAL * 1000") ms), median of $RUNS"
echo "target: cut <= Master_Down_Interval + $MARGIN_MS ms, term <= Skew_Time + $MARGIN_MS ms (B priority $B_PRIO)"
echo "takeover = B's role=active log time - trigger (hamasq only)"
echo
printf '%-10s | %8s | %-7s | %13s | %9s | %-6s | %11s | %s\n' pair interval failure "median gap ms" "target ms" result "takeover ms" "runs (gap ms)"
printf -- '-----------+----------+---------+---------------+-----------+--------+-------------+--------------\n'
declare -A MED
for pair in $PAIRS; do
    for iv in $INTERVALS; do
        for fail in $FAILURES; do
            mapfile -t gaps < <(awk -F'\t' -v p="$pair" -v i="$iv" -v f="$fail" '$1 == p && $2 == i && $3 == f { print $5 }' "$RESULTS")
            [ ${#gaps[@]} -gt 0 ] || {
                [[ " ${SKIPPED[*]:-} " == *" $pair@$iv "* ]] && printf '%-10s | %8s | %-7s | %13s | %9s | %-6s | %11s | %s\n' "$pair" "${iv} s" "$fail" "-" "-" "SKIP" "-" "keepalived cannot do it"
                continue; }
            mapfile -t tkos < <(awk -F'\t' -v p="$pair" -v i="$iv" -v f="$fail" '$1 == p && $2 == i && $3 == f && $6 != "-" { print $6 }' "$RESULTS")
            med=$(median "${gaps[@]}")
            MED[$pair/$iv/$fail]=$med
            tk="-"; [ ${#tkos[@]} -gt 0 ] && tk=$(median "${tkos[@]}")
            if [ "$fail" = cut ]; then tgt=$(fms "$(mdi_ms "$iv") + $MARGIN_MS"); else tgt=$(fms "$(skew_ms "$iv") + $MARGIN_MS"); fi
            res=FAIL; [[ "$med" =~ ^[0-9.]+$ ]] && awk "BEGIN { exit !($med <= $tgt) }" && res=PASS
            printf '%-10s | %8s | %-7s | %13s | %9s | %-6s | %11s | %s\n' "$pair" "${iv} s" "$fail" "$med" "$tgt" "$res" "$tk" "$(echo "${gaps[*]}")"
        done
    done
done
echo
echo "keepalived / hamasq median gap ratio (>1: hamasq fails over faster)"
for iv in $INTERVALS; do
    for fail in $FAILURES; do
        h=${MED[hamasq/$iv/$fail]:-}; k=${MED[keepalived/$iv/$fail]:-}
        [ -z "$h$k" ] && continue
        if [[ "$h" =~ ^[0-9.]+$ && "$k" =~ ^[0-9.]+$ ]]; then
            printf '  %6s s %-5s keepalived %8s ms / hamasq %8s ms = %s\n' "$iv" "$fail" "$k" "$h" "$(awk "BEGIN { printf \"%.2f\", $k / $h }")"
        else
            printf '  %6s s %-5s keepalived %8s / hamasq %8s\n' "$iv" "$fail" "${k:--}" "${h:--}"
        fi
    done
done
if [ ${#CPU_LINES[@]} -gt 0 ]; then
    echo; echo "CPU (% of one core, utime+stime over $CPU_SECONDS s; target: hamasq < 1 % at 0.1 s)"
    printf '  %s\n' "${CPU_LINES[@]}"
fi
if [ ${#SOAK_LINES[@]} -gt 0 ]; then
    echo; echo "Loss soak (0.1 s adverts, random loss of B's incoming VRRP via nftables; B went Active = spurious takeovers)"
    printf '  %s\n' "${SOAK_LINES[@]}"
fi
if [ ${#FREEZE_ROWS[@]} -gt 0 ]; then
    echo
    echo "Frozen Active (SIGSTOP on A, advert-int $FREEZE_INTERVAL s, $FREEZE_SECS s watched; ms from the SIGSTOP, median of $FREEZE_RUNS)"
    echo "new clients = C flushes its neighbour table, pings the VIP once, must get B's MAC and a reply"
    echo "to frozen A = probes (after B held the VIP) whose VIP resolved to the frozen A, all runs"
    printf '%-10s | %12s | %14s | %22s | %11s | %s\n' pair "B holds ms" "A lost VIP ms" "new clients reach B ms" "to frozen A" "after SIGCONT (per run)"
    printf -- '-----------+--------------+----------------+------------------------+-------------+------------------------\n'
    for pair in $FREEZE_PAIRS; do
        col() { printf '%s\n' "${FREEZE_ROWS[@]}" | awk -F'\t' -v p="$pair" -v c="$1" '$1 == p { print $c }'; }
        mapfile -t c3 < <(col 3); mapfile -t c4 < <(col 4); mapfile -t c5 < <(col 5); mapfile -t c6 < <(col 6); mapfile -t c7 < <(col 7)
        [ ${#c3[@]} -gt 0 ] || continue
        m4=$(median "${c4[@]}"); [ "$m4" = none ] && m4="kept (${c4[*]})"
        m5=$(median "${c5[@]}"); [ "$m5" = none ] && m5="never (${c5[*]})"
        printf '%-10s | %12s | %14s | %22s | %11s | %s\n' "$pair" "$(median "${c3[@]}")" "$m4" "$m5" "$(printf '%s\n' "${c7[@]}" | awk '$1 ~ /^[0-9]+$/ { n += $1 } END { print n + 0 }')" "${c6[*]}"
    done
fi
[ ${#SKIPPED[@]} -gt 0 ] && { echo; echo "skipped: ${SKIPPED[*]}"; }
if [ "$SKIP_DUAL" != 1 ]; then
    echo
    echo "Dual stack: the same pair runs an IPv4 and an IPv6 instance; the client pings the IPv4 VIP and"
    echo "the virtual link-local $VLL every $(fms "$PING_INTERVAL * 1000") ms in the same run; longest gap, median of $RUNS"
    echo "(issue 15 target: v6 gap <= v4 gap + 50 ms)"
    printf '%-10s | %8s | %-7s | %10s | %10s | %9s | %-6s | %s\n' pair interval failure "v4 gap ms" "v6 gap ms" "v6 - v4" result "runs v4/v6 (ms)"
    printf -- '-----------+----------+---------+------------+------------+-----------+--------+-----------------\n'
    for pair in $DUAL_PAIRS; do
        for iv in $DUAL_INTERVALS; do
            for fail in $DUAL_FAILURES; do
                mapfile -t g4 < <(awk -F'\t' -v p="$pair" -v i="$iv" -v f="$fail" '$1 == p && $2 == i && $3 == f { print $5 }' "$DUAL_RESULTS")
                mapfile -t g6 < <(awk -F'\t' -v p="$pair" -v i="$iv" -v f="$fail" '$1 == p && $2 == i && $3 == f { print $6 }' "$DUAL_RESULTS")
                if [ ${#g4[@]} -eq 0 ]; then
                    [[ " ${SKIPPED[*]:-} " == *" $pair@$iv "* ]] && printf '%-10s | %8s | %-7s | %10s | %10s | %9s | %-6s | %s\n' "$pair" "${iv} s" "$fail" - - - SKIP "keepalived cannot do it"
                    continue
                fi
                m4=$(median "${g4[@]}"); m6=$(median "${g6[@]}")
                d="-"; res=FAIL
                if [[ "$m4" =~ ^[0-9.]+$ && "$m6" =~ ^[0-9.]+$ ]]; then
                    d=$(fms "$m6 - $m4")
                    awk "BEGIN { exit !($m6 <= $m4 + 50) }" && res=PASS
                fi
                runs=$(paste -d/ <(printf '%s\n' "${g4[@]}") <(printf '%s\n' "${g6[@]}") | paste -sd' ')
                printf '%-10s | %8s | %-7s | %10s | %10s | %9s | %-6s | %s\n' "$pair" "${iv} s" "$fail" "$m4" "$m6" "$d" "$res" "$runs"
            done
        done
    done
    echo "raw dual-stack results: $DUAL_RESULTS"
fi
echo; echo "raw results: $RESULTS"
