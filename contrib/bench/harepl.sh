#!/usr/bin/env bash
# contrib/bench/harepl.sh: the hamasq pair link (issue 13, design §9) under
# load: replication lag, DHCP throughput with the link on vs off, catch-up
# time and memory with 50,000 leases. hamasq only (dnsmasq and keepalived
# replicate nothing; Kea HA's lease updates are measured by nobody here).
#
# Run as root:   contrib/bench/harepl.sh          (RUNS=3, ~15 min)
#                QUICK=1 contrib/bench/harepl.sh  (RUNS=1, shorter steps)
#
# Lab (namespaces "<pid>-hrb-*" made here; no traffic leaves them): a bridge,
# box A 10.80.0.2/15, box B 10.80.0.3/15 and a client host C 10.80.0.9/15
# that also holds the relay address 10.201.0.1/16 (perfdhcp's giaddr); A
# routes 10.201.0.0/16 back via C. Both boxes: [ha] pair = A, B with one
# fresh key file per run (`hamasq ha-keygen`, mode 0600), [dns] domain
# lan (names are published on both boxes), no [vrrp] (both serve; only A
# gets DHCP traffic). Ranges: A owns 10.80.1.0-10.80.255.254 (its link)
# and 10.201.0.10-10.201.254.255 (relayed), B owns 10.81.0.1-10.81.255.254
# and 10.201.255.0-10.201.255.250, each knows the other's as
# dhcp-peer-range. Leases 12 h; the lease store on /var/tmp (disk),
# dhcp-lease-fsync on (the default). B is started first (it listens, the
# lower address A connects), then A; "the pair is up" = both logged
# ha.caught_up.
#
# Cases (CASES, default "lag tput catchup"):
#   lag      A and B at log-level debug, which makes the link driver log
#            `ha.committed wall_us=T ... addrs=IP,...` on A (a batch of A's
#            committed changes, after its fdatasync, as the link task takes
#            it) and `ha.peer_stored wall_us=T ... addrs=IP,...` on B (a batch
#            of A's changes durably in B's store and its names published).
#            Both boxes share this machine's clock. perfdhcp offers LAG_RATE
#            (1,000) relayed DORA/s to A for LAG_SECS (20) s (PCLIENTS
#            clients, so later exchanges renew), and at the same time
#            tests/ha_e2e/haprobe.py on C runs a broadcast DORA every
#            PROBE_INTERVAL (50 ms) from a fresh MAC on the link (B answers
#            about half of them: only A's ACKs count). Reported, p50 and p99
#            of:
#              ACK->B    the probe's ACK received on C (client clock) to
#                        B's ha.peer_stored for that address (a negative
#                        value: B had it before the client read its ACK);
#              commit->B every change of A (perfdhcp's and the probe's):
#                        A's ha.committed to the first ha.peer_stored of
#                        that address after it.
#            Also: the DORA/s perfdhcp completed, and the changes A
#            committed that B never stored (should be 0).
#   tput     the highest relayed DORA/s A completes with REQUEST-ACK drops
#            <= DROP_PCT (2.5) %, perfdhcp -R PCLIENTS, STEP_SECS per step:
#            up by FACTOR from START_RATE while passing, then REFINE
#            geometric bisections (as contrib/bench/dhcp.sh); "on" = A with
#            [ha] and B running, connected and caught up before each step;
#            "off" = A alone without [ha]. Log level info, log-dhcp off.
#            On and off alternate within each run.
#   catchup  A's store preloaded with CATCHUP (50,000) leases (a snapshot
#            file in dnsmasq's format written into its state dir before the
#            start, 10.80.1.0 upwards, named h1..hN, 12 h left), B's store
#            empty: B's ha.connected -> ha.caught_up (log timestamps, ms),
#            the leases B then holds, and VmRSS of both once caught up.
#            Then "both": B also preloaded with CATCHUP leases of its own
#            (10.81.0.1 upwards): each box ends up holding the peer's
#            50,000 as well as its own 50,000; the slower box's connected ->
#            caught_up, and VmRSS of both.
# The table shows medians over RUNS runs (every run's value after it). The
# machine has 2 cores shared with other builds: numbers are noisy; the
# load average is printed.
#
# Knobs (environment): QUICK RUNS CASES LAG_RATE LAG_SECS PROBE_INTERVAL
# STEP_SECS REFINE FACTOR START_RATE DROP_PCT PCLIENTS CATCHUP
# HAMASQ (binary; default: cargo build --release of this repo into
# CARGO_TARGET_DIR, default target/).
#
# Everything (configs, logs, perfdhcp output, results.tsv) is kept in a
# directory under /var/tmp printed at start and end (the bulky lease files
# are deleted). An EXIT trap stops the processes this script started (by
# pid) and deletes its namespaces.

set -uo pipefail   # no -e: a failing step is data, not an error

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
    RUNS=${RUNS:-1}; LAG_SECS=${LAG_SECS:-10}; STEP_SECS=${STEP_SECS:-3}; REFINE=${REFINE:-1}
else
    RUNS=${RUNS:-3}; LAG_SECS=${LAG_SECS:-20}; STEP_SECS=${STEP_SECS:-5}; REFINE=${REFINE:-2}
fi
CASES=${CASES:-"lag tput catchup"}
LAG_RATE=${LAG_RATE:-1000}
PROBE_INTERVAL=${PROBE_INTERVAL:-0.05}
FACTOR=${FACTOR:-1.5}
START_RATE=${START_RATE:-1000}
MAX_RATE=${MAX_RATE:-40000}
DROP_PCT=${DROP_PCT:-2.5}
PCLIENTS=${PCLIENTS:-10000}
CATCHUP=${CATCHUP:-50000}
MAX_STEPS=12
LEASE_SECS=43200

A=10.80.0.2; B=10.80.0.3; C=10.80.0.9; MASK=15; RELAY=10.201.0.1
A_LINK="10.80.1.0,10.80.255.254";       B_LINK="10.81.0.1,10.81.255.254"
A_RELAY="10.201.0.10,10.201.254.255";   B_RELAY="10.201.255.0,10.201.255.250"

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PROBE=$REPO/tests/ha_e2e/haprobe.py
PY=/usr/bin/python3
P=$$
T0=$(date +%s)

# log, die, apt_install; fcalc, now, x, lab_up, lab_down, start_bg,
# stop_pid, wait_until, log_has, ha_key, ha_section
. "$REPO/contrib/bench/lib.sh"
. "$REPO/contrib/bench/labkit.sh"
fint()  { awk "BEGIN { printf \"%d\", ($1) + 0.5 }"; }

[ "$(id -u)" = 0 ] || die "run as root (network namespaces, apt-get)"

need_pkgs=()
command -v perfdhcp >/dev/null || need_pkgs+=(kea-admin)
command -v ip       >/dev/null || need_pkgs+=(iproute2)
[ -x "$PY" ]                   || need_pkgs+=(python3)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    apt_install "${need_pkgs[@]}" || die "apt-get install ${need_pkgs[*]} failed"
fi
PERFDHCP=$(command -v perfdhcp) || die "no perfdhcp"

if [ -z "${HAMASQ:-}" ]; then
    log "building hamasq (cargo build --release in $REPO)"
    (cd "$REPO" && cargo build --release -q) || die "cargo build failed"
    HAMASQ="${CARGO_TARGET_DIR:-$REPO/target}/release/hamasq"
fi
[ -x "$HAMASQ" ] || die "no hamasq binary at $HAMASQ"

WORK=$(mktemp -d "/var/tmp/harepl.$P.XXXX")
RESULTS=$WORK/results.tsv
printf 'run\tcase\tmetric\tvalue\tnote\n' > "$RESULTS"
log "work dir: $WORK"
others=$(ip netns list 2>/dev/null | awk '/-(hab|hrb|hqb|vb)-/ { print $1 }' | tr '\n' ' ')
[ -n "$others" ] && log "WARNING: other benchmark namespaces exist ($others): results will be distorted"
log "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"

# ---------------------------------------------------------------- cleanup
declare -A LIVE
HOSTS=(a b c)
ns_of() { echo "$P-hrb-$1"; }
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    lab_down
    rm -rf "$WORK"/run-*/*/state "$WORK"/seed 2>/dev/null
    log "cleaned up; logs and results in $WORK ($(( $(date +%s) - T0 )) s)"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- lab
declare -A ADDR=([a]=$A [b]=$B [c]=$C)
lab_up 02:68:72
ip -n "$(ns_of c)" addr add "$RELAY/16" dev eth0
ip -n "$(ns_of a)" route add 10.201.0.0/16 via "$C"
x c ping -c 1 -W 2 "$A" >/dev/null && x c ping -c 1 -W 2 "$B" >/dev/null || die "lab: C cannot reach A and B"
log "lab up"

# ---------------------------------------------------------------- helpers
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# epoch (s.ms) of the first log line with EVENT: "2026-01-02T03:04:05.678Z LEVEL EVENT ..."
log_time() { local t; t=$(grep -m1 -- " $2" "$1" | awk '{ print $1 }'); [ -n "$t" ] && date -d "$t" +%s.%N; }
median() {   # of the numeric args
    printf '%s\n' "$@" | awk '$1 ~ /^-?[0-9.]+$/' | sort -g \
        | awk '{ a[NR] = $1 } END { if (!NR) { print "-"; exit }
              m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; print m }'
}
# p50 and p99 (nearest rank) of the numbers on stdin: "P50 P99 N"
pcts() { sort -g | awk '{ v[NR] = $1 } END { if (!NR) { print "- - 0"; exit }
    i = int(NR * 0.5); if (i < NR * 0.5) i++; j = int(NR * 0.99); if (j < NR * 0.99) j++
    printf "%.2f %.2f %d\n", v[i], v[j], NR }'; }
result() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${5:-}" >> "$RESULTS"; }

# perfdhcp's UDP receive buffer: perfdhcp never sets one (212,992 bytes
# here), and on 2 shared cores a few ms without its receive thread running
# overflowed it (see contrib/bench/dhcp.sh, CLIENT_RCVBUF): an LD_PRELOAD
# shim sets SO_RCVBUF on its UDP sockets, when cc is there.
rcvbuf_shim "$WORK" 4194304 || true
perf() {   # RATE SECS OUT: perfdhcp as the relay 10.201.0.1, unicast to A
    timeout -k 2 $(( $2 + 20 )) ip netns exec "$(ns_of c)" "${PERF_ENV[@]}" "$PERFDHCP" -4 \
        -l "$RELAY" -r "$1" -p "$2" -W 300000 -R "$PCLIENTS" "$A" > "$3" 2>&1
}
# perfdhcp's report -> "ra_sent ra_recv ra_drops"
parse_perf() {
    awk '/Statistics for: DISCOVER-OFFER/ { s = "do" } /Statistics for: REQUEST-ACK/ { s = "ra" }
         /^sent packets:/ { sent[s] = $3 } /^received packets:/ { recv[s] = $3 } /^drops:/ { drops[s] = $2 }
         END { printf "%d %d %d\n", sent["ra"], recv["ra"], drops["ra"] }' "$1"
}

# ---------------------------------------------------------------- boxes
# box_conf DIR HOST LINK(0/1) LEVEL: DIR/HOST/hamasq.conf
box_conf() {
    local d=$1 h=$2 link=$3 lvl=$4 own peer rown rpeer
    if [ "$h" = a ]; then own=$A_LINK; peer=$B_LINK; rown=$A_RELAY; rpeer=$B_RELAY
    else own=$B_LINK; peer=$A_LINK; rown=$B_RELAY; rpeer=$A_RELAY; fi
    mkdir -p "$d/$h/state"
    cat > "$d/$h/hamasq.conf" <<EOF
[general]
pid-file = none
state-dir = $d/$h/state
log-level = $lvl

[dns]
no-resolv = true
domain = lan
local = /lan/

[dhcp]
interface = eth0
dhcp-range = $own,12h
dhcp-peer-range = $peer
dhcp-range = $rown,255.255.0.0,12h
dhcp-peer-range = $rpeer
dhcp-lease-max = 1000000
EOF
    [ "$link" = 1 ] && ha_section "$d" "$h" "$A" "$B"
    return 0
}
# seed FILE N FIRST_IP_PREFIX: N leases in dnsmasq's snapshot format
# (expiry mac ip name client-id), PREFIX.1.0 upwards (A) or PREFIX.0.1 (B)
seed() {
    awk -v n="$2" -v pfx="$3" -v first="$4" -v expiry=$(( $(date +%s) + LEASE_SECS )) -v tag="$5" 'BEGIN {
        a = first
        for (i = 1; i <= n; a++) {
            c = int(a / 256); o = a % 256
            if (o == 0 || o == 255) continue
            mac = sprintf("02:%s:00:%02x:%02x:%02x", tag, int(i / 65536), int(i / 256) % 256, i % 256)
            printf "%d %s %s.%d.%d %s%d 01:%s\n", expiry, mac, pfx, c, o, (tag == "aa" ? "h" : "g"), i, mac
            i++
        }
    }' > "$1"
}
declare -A BPID
# start_pair DIR LINK LEVEL [SEED_A] [SEED_B]: B first (it listens), then
# A; with LINK, until both logged ha.caught_up. 0 when up.
start_pair() {
    local d=$1 link=$2 lvl=$3 sa=${4:-} sb=${5:-} h
    mkdir -p "$d"
    [ "$link" = 1 ] && { ha_key "$d" || return 1; }
    for h in a b; do box_conf "$d" "$h" "$link" "$lvl"; done
    [ -n "$sa" ] && cp "$sa" "$d/a/state/dhcp.leases"
    [ -n "$sb" ] && cp "$sb" "$d/b/state/dhcp.leases"
    BPID[a]=""; BPID[b]=""
    if [ "$link" = 1 ]; then
        start_bg b "$d/b/hamasq.log" "$HAMASQ" -f -c "$d/b/hamasq.conf"; BPID[b]=$LAST_PID
        wait_until 20 log_has "$d/b/hamasq.log" daemon.ready || { log "B not ready"; return 1; }
    fi
    start_bg a "$d/a/hamasq.log" "$HAMASQ" -f -c "$d/a/hamasq.conf"; BPID[a]=$LAST_PID
    wait_until 20 log_has "$d/a/hamasq.log" daemon.ready || { log "A not ready"; return 1; }
    if [ "$link" = 1 ]; then
        for h in b a; do
            wait_until 60 log_has "$d/$h/hamasq.log" ha.caught_up || { log "$h: no ha.caught_up within 60 s"; return 1; }
        done
    fi
    return 0
}
stop_pair() { stop_pid "${BPID[a]:-}"; stop_pid "${BPID[b]:-}"; BPID[a]=""; BPID[b]=""; }

# ---------------------------------------------------------------- lag
lag_run() {   # RUN
    local r=$1 d="$WORK/run-$r/lag" pp sent recv drops
    if ! start_pair "$d" 1 debug; then result "$r" lag error - "pair did not come up"; stop_pair; return; fi
    start_bg c "$d/probe.txt" "$PY" "$PROBE" dora eth0 "$PROBE_INTERVAL" $(( LAG_SECS + 30 )) 02:cc timeout=3; pp=$LAST_PID
    perf "$LAG_RATE" "$LAG_SECS" "$d/perf.txt"
    stop_pid "$pp" INT
    sleep 1   # the last changes cross
    stop_pair
    read -r sent recv drops < <(parse_perf "$d/perf.txt")
    # "T ADDR A|B" per address of every ha.committed (A) / ha.peer_stored (B) line
    events() {
        awk -v w="$2" -v ev="$3" '$3 == ev { t = ""; as = ""
              for (i = 4; i <= NF; i++) { if ($i ~ /^wall_us=/) t = substr($i, 9); if ($i ~ /^addrs=/) as = substr($i, 7) }
              n = split(as, ips, ","); for (k = 1; k <= n; k++) printf "%.6f %s %s\n", t / 1e6, ips[k], w }' "$1"
    }
    { events "$d/a/hamasq.log" A ha.committed; events "$d/b/hamasq.log" B ha.peer_stored; } | sort -g -k1,1 > "$d/events.txt"
    # commit -> B: each commit of A matched with B's next store of that address
    awk '$3 == "A" { c[$2] = $1; next } $3 == "B" && ($2 in c) { printf "%.3f\n", ($1 - c[$2]) * 1000; delete c[$2] }
         END { n = 0; for (ip in c) n++; print n > "/dev/stderr" }' "$d/events.txt" > "$d/lag-commit.txt" 2> "$d/unmatched.txt"
    # ACK -> B: the probe's ACKs (client clock) to B's first store of the address
    # (B serves the link too: only exchanges A answered, server id = A)
    awk -v sid="$A" 'FNR == NR { if ($3 == "B" && !($2 in b)) b[$2] = $1; next }
         $1 == "ack" && $4 == sid && ($3 in b) { printf "%.3f\n", (b[$3] - $2) * 1000 }
         $1 == "ack" && $4 == sid && !($3 in b) { miss++ } END { print miss + 0 > "/dev/stderr" }' \
        "$d/events.txt" "$d/probe.txt" > "$d/lag-ack.txt" 2> "$d/probe-missing.txt"
    local c50 c99 cn a50 a99 an
    read -r c50 c99 cn < <(pcts < "$d/lag-commit.txt")
    read -r a50 a99 an < <(pcts < "$d/lag-ack.txt")
    result "$r" lag rate "$(fint "$recv / $LAG_SECS")" "perfdhcp REQUEST-ACK sent $sent recv $recv drops $drops"
    result "$r" lag commit_p50 "$c50" "$cn changes"; result "$r" lag commit_p99 "$c99" "$cn changes"
    result "$r" lag ack_p50 "$a50" "$an probe leases"; result "$r" lag ack_p99 "$a99" "$an probe leases"
    result "$r" lag unmatched "$(cat "$d/unmatched.txt")" "A's commits B never stored"
    result "$r" lag probe_missing "$(cat "$d/probe-missing.txt")" "probe ACKs B never stored"
    log "run $r lag: $(fint "$recv / $LAG_SECS") DORA/s done; commit->B p50 $c50 p99 $c99 ms ($cn); ACK->B p50 $a50 p99 $a99 ms ($an); unmatched $(cat "$d/unmatched.txt"), probe missing $(cat "$d/probe-missing.txt")"
}

# ---------------------------------------------------------------- tput
declare -A HINT
STEP=0
tput_step() {   # RUN MODE(on|off) RATE -> S_PASS S_DONE
    local r=$1 m=$2 rate=$3 d sent recv drops link=0
    STEP=$((STEP + 1)); d="$WORK/run-$r/tput-$m-$STEP-$rate"
    [ "$m" = on ] && link=1
    S_PASS=0; S_DONE=0
    if ! start_pair "$d" "$link" info; then stop_pair; log "  $m: pair did not come up"; return; fi
    perf "$rate" "$STEP_SECS" "$d/perf.txt"
    kill -0 "${BPID[a]}" 2>/dev/null || log "  A died"
    stop_pair
    read -r sent recv drops < <(parse_perf "$d/perf.txt")
    S_DONE=$(fint "$recv / $STEP_SECS")
    [ "$sent" -gt 0 ] && [ "$(awk "BEGIN { print (100 * $drops / $sent <= $DROP_PCT) }")" = 1 ] && S_PASS=1
    log "  run $r tput $m offered $rate/s: done $S_DONE/s, RA drops $drops/$sent $( [ $S_PASS = 1 ] && echo pass || echo FAIL)"
}
tput_search() {   # RUN MODE: result row "tput_MODE"
    local r=$1 m=$2 rate lo=0 hi=0 best=0 steps=0 i mid
    rate=${HINT[$m]:-$START_RATE}
    while [ $steps -lt $MAX_STEPS ]; do
        tput_step "$r" "$m" "$rate"; steps=$((steps + 1))
        [ "$S_PASS" = 1 ] && [ "$S_DONE" -gt "$best" ] && best=$S_DONE
        if [ "$S_PASS" = 1 ]; then
            lo=$rate; [ "$hi" -gt 0 ] && break; [ "$rate" -ge "$MAX_RATE" ] && break
            rate=$(fint "$rate * $FACTOR")
        else
            hi=$rate; [ "$lo" -gt 0 ] && break
            rate=$(fint "$rate / $FACTOR"); [ "$rate" -lt 20 ] && break
        fi
    done
    if [ "$lo" -gt 0 ] && [ "$hi" -gt 0 ]; then
        for i in $(seq "$REFINE"); do
            mid=$(fint "sqrt($lo * $hi)"); { [ "$mid" -le "$lo" ] || [ "$mid" -ge "$hi" ]; } && break
            tput_step "$r" "$m" "$mid"
            if [ "$S_PASS" = 1 ]; then lo=$mid; [ "$S_DONE" -gt "$best" ] && best=$S_DONE; else hi=$mid; fi
        done
    fi
    [ "$best" -gt 0 ] && HINT[$m]=$(fint "$best / $FACTOR")
    result "$r" tput "tput_$m" "$best" ""
    log "run $r tput $m: max $best DORA/s"
}

# ---------------------------------------------------------------- catchup
store_count() {   # STATE_DIR: addresses in snapshot + journal (unexpired or not)
    { cat "$1/dhcp.leases" 2>/dev/null | sed 's/^/S /'; cat "$1/dhcp.leases.journal" 2>/dev/null; } \
        | awk '$1 == "S" && NF == 6 { ip[$4] = 1; next } $1 == "L" && NF == 7 { ip[$4] = 1; next }
               $1 == "D" && NF == 3 { delete ip[$2] } END { n = 0; for (k in ip) n++; print n }'
}
catchup_run() {   # RUN
    local r=$1 d t1 t2 ta1 ta2 tb tab
    d="$WORK/run-$r/catchup-empty"
    if start_pair "$d" 1 info "$WORK/seed/a.leases"; then
        t1=$(log_time "$d/b/hamasq.log" ha.connected); t2=$(log_time "$d/b/hamasq.log" ha.caught_up)
        sleep 1
        result "$r" catchup empty_ms "$(fcalc "($t2 - $t1) * 1000" | awk '{ printf "%.0f", $1 }')" ""
        result "$r" catchup empty_rss_a "$(rss_kb "${BPID[a]}")" ""
        result "$r" catchup empty_rss_b "$(rss_kb "${BPID[b]}")" ""
        stop_pair
        result "$r" catchup empty_b_leases "$(store_count "$d/b/state")" ""
    else result "$r" catchup error - "empty: pair did not come up"; stop_pair; fi
    d="$WORK/run-$r/catchup-both"
    if start_pair "$d" 1 info "$WORK/seed/a.leases" "$WORK/seed/b.leases"; then
        ta1=$(log_time "$d/a/hamasq.log" ha.connected); ta2=$(log_time "$d/a/hamasq.log" ha.caught_up)
        t1=$(log_time "$d/b/hamasq.log" ha.connected); t2=$(log_time "$d/b/hamasq.log" ha.caught_up)
        sleep 1
        tb=$(fcalc "($t2 - $t1) * 1000"); tab=$(fcalc "($ta2 - $ta1) * 1000")
        result "$r" catchup both_ms "$(awk -v a="$tb" -v b="$tab" 'BEGIN { printf "%.0f", (a > b ? a : b) }')" ""
        result "$r" catchup both_rss_a "$(rss_kb "${BPID[a]}")" ""
        result "$r" catchup both_rss_b "$(rss_kb "${BPID[b]}")" ""
        stop_pair
        result "$r" catchup both_a_leases "$(store_count "$d/a/state")" ""
        result "$r" catchup both_b_leases "$(store_count "$d/b/state")" ""
    else result "$r" catchup error - "both: pair did not come up"; stop_pair; fi
    log "run $r catchup: $(awk -F'\t' -v r="$r" '$1 == r && $2 == "catchup" { printf "%s=%s ", $3, $4 }' "$RESULTS")"
}

# ---------------------------------------------------------------- runs
case " $CASES " in *" catchup "*)
    mkdir -p "$WORK/seed"
    seed "$WORK/seed/a.leases" "$CATCHUP" 10.80 256 aa   # 10.80.1.0 upwards
    seed "$WORK/seed/b.leases" "$CATCHUP" 10.81 1 bb     # 10.81.0.1 upwards
    ;;
esac
for r in $(seq "$RUNS"); do
    for cs in $CASES; do
        log "run $r/$RUNS: $cs (load $(cut -d' ' -f1 /proc/loadavg))"
        case $cs in
            lag) lag_run "$r" ;;
            tput) if [ $((r % 2)) = 1 ]; then tput_search "$r" on; tput_search "$r" off
                  else tput_search "$r" off; tput_search "$r" on; fi ;;
            catchup) catchup_run "$r" ;;
            *) die "unknown case $cs (lag tput catchup)" ;;
        esac
    done
done

# ---------------------------------------------------------------- report
vals() { awk -F'\t' -v c="$1" -v m="$2" '$2 == c && $3 == m { print $4 }' "$RESULTS"; }
med() { median $(vals "$1" "$2"); }
runs() { vals "$1" "$2" | paste -sd' '; }
row() {   # METRIC VALUE TARGET VERDICT RUNS
    printf '%-52s | %12s | %-12s | %-4s | %s\n' "$1" "$2" "$3" "$4" "$5"
}
verdict() { [[ "$1" =~ ^-?[0-9.]+$ ]] || { echo "n/a"; return; }; awk "BEGIN { exit !($1 $2) }" && echo PASS || echo FAIL; }
mb() { [[ "$1" =~ ^[0-9.]+$ ]] && awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }' || echo "$1"; }
{
echo
echo "hamasq pair link (issue 13): median of $RUNS runs ($(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores shared with other builds: noisy)"
echo "hamasq $("$HAMASQ" --version 2>/dev/null | head -1); perfdhcp relayed DORA to A; B connected over [ha]"
echo
row metric "value" target "" "runs"
printf -- '-----------------------------------------------------+--------------+--------------+------+------------------\n'
case " $CASES " in *" lag "*)
    row "DORA/s completed during the lag test (offered $LAG_RATE)" "$(med lag rate)" "-" "" "$(runs lag rate)"
    v=$(med lag ack_p50); row "lag ACK (client) -> stored on B, p50, ms" "$v" "-" "" "$(runs lag ack_p50)"
    v=$(med lag ack_p99); row "lag ACK (client) -> stored on B, p99, ms" "$v" "<= 50" "$(verdict "$v" "<= 50")" "$(runs lag ack_p99)"
    v=$(med lag commit_p50); row "lag commit on A -> stored on B, p50, ms" "$v" "-" "" "$(runs lag commit_p50)"
    v=$(med lag commit_p99); row "lag commit on A -> stored on B, p99, ms" "$v" "<= 50" "$(verdict "$v" "<= 50")" "$(runs lag commit_p99)"
    row "A's changes never stored on B (max of runs)" "$(vals lag unmatched | sort -n | tail -1)" "0" "" "$(runs lag unmatched)"
    ;;
esac
case " $CASES " in *" tput "*)
    on=$(med tput tput_on); off=$(med tput tput_off)
    row "max DORA/s, A with [ha], B connected" "$on" "-" "" "$(runs tput tput_on)"
    row "max DORA/s, A without [ha]" "$off" "-" "" "$(runs tput tput_off)"
    q=$(awk -v a="$on" -v b="$off" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    row "throughput ratio on / off" "$q" ">= 0.8" "$(verdict "$q" ">= 0.8")" ""
    ;;
esac
case " $CASES " in *" catchup "*)
    v=$(med catchup empty_ms); row "catch-up of $CATCHUP leases, empty B, ms" "$v" "<= 5000" "$(verdict "$v" "<= 5000")" "$(runs catchup empty_ms)"
    row "  leases B holds after it" "$(med catchup empty_b_leases)" "$CATCHUP" "" "$(runs catchup empty_b_leases)"
    row "  RSS A (own $CATCHUP)" "$(mb "$(med catchup empty_rss_a)")" "-" "" "$(runs catchup empty_rss_a) kB"
    row "  RSS B (peer's $CATCHUP)" "$(mb "$(med catchup empty_rss_b)")" "-" "" "$(runs catchup empty_rss_b) kB"
    v=$(med catchup both_ms); row "catch-up both ways, $CATCHUP each, slower box, ms" "$v" "<= 5000" "$(verdict "$v" "<= 5000")" "$(runs catchup both_ms)"
    row "  leases A / B hold after it" "$(med catchup both_a_leases) / $(med catchup both_b_leases)" "$((2 * CATCHUP))" "" ""
    row "  RSS A (own + peer's $CATCHUP)" "$(mb "$(med catchup both_rss_a)")" "-" "" "$(runs catchup both_rss_a) kB"
    row "  RSS B (own + peer's $CATCHUP)" "$(mb "$(med catchup both_rss_b)")" "-" "" "$(runs catchup both_rss_b) kB"
    ;;
esac
echo
echo "lag: A's ha.committed / B's ha.peer_stored debug lines (wall clock, us) and the probe's ACK times;"
echo "     ACK->B can be negative (B stored it before the client read its ACK)."
echo "raw results: $RESULTS"
} | tee "$WORK/report.txt"
