#!/bin/bash
# contrib/bench/soak.sh: a long run of mixed LAN floods and reloads against
# one hamasq, recording its memory and descriptors over time (issue 17,
# "a soak of an hour with mixed floods and reloads").
#
#   * Lab: two network namespaces made here, "soak<pid>-srv" (hamasq) and
#     "soak<pid>-cli" (the floods, and dnsmasq as hamasq's upstream),
#     joined by one veth pair (eth0 in each), 10.98.0.1/16 and
#     10.98.0.2/16. Removed at exit, with every process started here
#     (by pid).
#   * hamasq serves DNS (upstream: the dnsmasq, which answers every name),
#     DHCP on a /16 pool, VRRP instance 51 (VIP 10.98.0.254), metrics.
#   * Load, from the client namespace (soakload.py, paced, bounded):
#     DNS_QPS queries (half cached names, half fresh random names that go
#     upstream), DHCP_PPS DISCOVERs from random MACs, VRRP_PPS forged
#     lower-priority adverts, and every FORGE255_EVERY s three forged
#     priority-255 adverts with a 40.95 s interval; plus full DORA +
#     RELEASE exchanges at DORA_PPS (tests/ha_e2e/haprobe.py), so the
#     lease journal keeps growing and compacting.
#   * SIGHUP every RELOAD_EVERY s.
#   * Every SAMPLE s: RSS, peak RSS, open descriptors, and counters from
#     /metrics. At the end a table and a verdict line: the growth of RSS
#     and descriptors between the first and the last quarter of the run.
#
# Knobs (environment): DURATION (s, 600), SAMPLE (s, 30), RELOAD_EVERY
# (s, 5), DNS_QPS (300), DHCP_PPS (20), DORA_PPS (2), VRRP_PPS (2),
# FORGE255_EVERY (s, 120; 0 = never), HAMASQ (binary; default
# target/release/hamasq, else target/debug/hamasq), KEEP=1 keeps the
# work dir. Needs root, ip, dnsmasq, curl, /usr/bin/python3.
set -u
export PYTHONDONTWRITEBYTECODE=1   # no __pycache__ in the tree (soakload imports haprobe)
REPO=$(cd "$(dirname "$0")/../.." && pwd)
. "$REPO/contrib/bench/lib.sh"

DURATION=${DURATION:-600}
SAMPLE=${SAMPLE:-30}
RELOAD_EVERY=${RELOAD_EVERY:-5}
DNS_QPS=${DNS_QPS:-300}
DHCP_PPS=${DHCP_PPS:-20}
DORA_PPS=${DORA_PPS:-2}
VRRP_PPS=${VRRP_PPS:-2}
FORGE255_EVERY=${FORGE255_EVERY:-120}
if [ -z "${HAMASQ:-}" ]; then
    HAMASQ=$REPO/target/release/hamasq
    [ -x "$HAMASQ" ] || HAMASQ=$REPO/target/debug/hamasq
fi
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
[ -x "$HAMASQ" ] || die "no hamasq binary at $HAMASQ (cargo build first)"
for c in ip curl /usr/sbin/dnsmasq /usr/bin/python3; do
    command -v "$c" >/dev/null || die "missing $c"
done

WORK=$(mktemp -d /var/tmp/hqsoak.XXXXXX)
cp "$HAMASQ" "$WORK/hamasq"   # cargo may rebuild the original meanwhile
NS_SRV="soak$$-srv"; NS_CLI="soak$$-cli"
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    sleep 0.5
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    ip netns del "$NS_SRV" 2>/dev/null; ip netns del "$NS_CLI" 2>/dev/null
    [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$NS_SRV" || die "ip netns add"
ip netns add "$NS_CLI" || die "ip netns add"
ip link add "sk$$a" type veth peer name "sk$$b" || die "veth"
ip link set "sk$$a" netns "$NS_SRV"; ip link set "sk$$b" netns "$NS_CLI"
ip -n "$NS_SRV" link set "sk$$a" name eth0; ip -n "$NS_CLI" link set "sk$$b" name eth0
for ns in "$NS_SRV" "$NS_CLI"; do ip -n "$ns" link set lo up; ip -n "$ns" link set eth0 up; done
ip -n "$NS_SRV" addr add 10.98.0.1/16 dev eth0
ip -n "$NS_CLI" addr add 10.98.0.2/16 dev eth0
ip -n "$NS_CLI" route add 224.0.0.0/4 dev eth0 2>/dev/null
ip netns exec "$NS_CLI" ping -c1 -W2 10.98.0.1 >/dev/null || die "lab: no ping"

ip netns exec "$NS_CLI" /usr/sbin/dnsmasq -k -C /dev/null --no-resolv --no-hosts \
    --listen-address=10.98.0.2 --bind-interfaces --port=53 --address=/#/192.0.2.1 \
    --cache-size=0 --pid-file= > "$WORK/dnsmasq.log" 2>&1 &
PIDS+=($!)

cat > "$WORK/hamasq.conf" <<EOF
[general]
pid-file = none
state-dir = $WORK/state
log-level = info
metrics-listen = 127.0.0.1:9153

[dns]
interface = eth0
no-resolv = true
no-hosts = true
server = 10.98.0.2
cache-size = 10000
address = /local.soak/10.98.0.1

[dhcp]
interface = eth0
dhcp-range = 10.98.1.0,10.98.255.250,255.255.0.0,10m
dhcp-option = option:dns-server,10.98.0.254

[vrrp lan]
interface = eth0
virtual-router-id = 51
priority = 150
advert-int = 1
virtual-ipaddress = 10.98.0.254/16
EOF
"$WORK/hamasq" --test -c "$WORK/hamasq.conf" || die "config refused"
ip netns exec "$NS_SRV" "$WORK/hamasq" -f -c "$WORK/hamasq.conf" > "$WORK/hamasq.log" 2>&1 &
HQ=$!; PIDS+=($HQ)
for _ in $(seq 50); do grep -q daemon.ready "$WORK/hamasq.log" && break; sleep 0.2; done
grep -q daemon.ready "$WORK/hamasq.log" || die "hamasq did not start: $(tail -5 "$WORK/hamasq.log")"
log "hamasq pid $HQ, work dir $WORK, ${DURATION}s"

ip netns exec "$NS_CLI" /usr/bin/python3 "$REPO/contrib/bench/soakload.py" eth0 10.98.0.1 \
    "$DURATION" "$DNS_QPS" "$DHCP_PPS" "$VRRP_PPS" "$FORGE255_EVERY" > "$WORK/load.log" 2>&1 &
PIDS+=($!)
if awk "BEGIN { exit !($DORA_PPS > 0) }"; then
    ip netns exec "$NS_CLI" /usr/bin/python3 "$REPO/tests/ha_e2e/haprobe.py" dora eth0 \
        "$(awk "BEGIN { print 1 / $DORA_PPS }")" "$DURATION" 02:ab release > "$WORK/dora.log" 2>&1 &
    PIDS+=($!)
fi

metric() { awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' "$WORK/metrics.now"; }
sample() {
    local t=$1 rss hwm fds
    rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$HQ/status" 2>/dev/null)
    hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$HQ/status" 2>/dev/null)
    fds=$(ls "/proc/$HQ/fd" 2>/dev/null | wc -l)
    ip netns exec "$NS_SRV" curl -s -m 5 http://127.0.0.1:9153/metrics > "$WORK/metrics.now" 2>/dev/null
    printf '%s %s %s %s %s %s %s %s %s %s\n' "$t" "${rss:-0}" "${hwm:-0}" "$fds" \
        "$(metric hamasq_dns_queries_total)" "$(metric hamasq_dhcp_pkt4_discover_received_total)" \
        "$(metric hamasq_dhcp_pkt4_ack_sent_total)" "$(metric hamasq_vrrp_become_master_total)" \
        "$(metric hamasq_config_reloads_total)" "$(metric hamasq_config_reload_failures_total)" \
        >> "$WORK/samples"
}

start=$(date +%s); next_sample=$start; next_reload=$((start + RELOAD_EVERY)); reloads=0
while :; do
    now=$(date +%s); t=$((now - start))
    kill -0 "$HQ" 2>/dev/null || { log "hamasq DIED at ${t}s"; break; }
    if [ "$now" -ge "$next_sample" ]; then sample "$t"; next_sample=$((next_sample + SAMPLE)); fi
    [ "$t" -ge "$DURATION" ] && break
    if [ "$RELOAD_EVERY" -gt 0 ] && [ "$now" -ge "$next_reload" ]; then
        kill -HUP "$HQ"; reloads=$((reloads + 1)); next_reload=$((next_reload + RELOAD_EVERY))
    fi
    sleep 1
done
kill -0 "$HQ" 2>/dev/null && sample "$(( $(date +%s) - start ))"
alive=$(kill -0 "$HQ" 2>/dev/null && echo yes || echo NO)
sleep 1

{
    echo "# soak: ${DURATION}s, DNS ${DNS_QPS}/s, DISCOVER ${DHCP_PPS}/s, DORA ${DORA_PPS}/s, forged adverts ${VRRP_PPS}/s + 3x prio 255 every ${FORGE255_EVERY}s, SIGHUP every ${RELOAD_EVERY}s"
    echo "# binary: $HAMASQ ($("$WORK/hamasq" --version 2>&1 | head -1))"
    echo
    echo "| t (s) | RSS (KiB) | peak RSS (KiB) | open fds | DNS queries | DISCOVERs | ACKs | became Active | reloads | reload failures |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    awk '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 }' "$WORK/samples"
    echo
    awk -v alive="$alive" -v sent="$reloads" '
        { t[NR] = $1; rss[NR] = $2; fd[NR] = $4 }
        END {
            q = int(NR / 4); if (q < 1) q = 1
            for (i = 1; i <= q; i++) { r1 += rss[i]; f1 += fd[i] }
            for (i = NR - q + 1; i <= NR; i++) { r2 += rss[i]; f2 += fd[i] }
            printf "# first quarter: RSS %.0f KiB, %.1f fds; last quarter: RSS %.0f KiB, %.1f fds; growth RSS %+.0f KiB, fds %+.1f; SIGHUPs sent %d; alive at end: %s\n",
                r1 / q, f1 / q, r2 / q, f2 / q, (r2 - r1) / q, (f2 - f1) / q, sent, alive
        }' "$WORK/samples"
    echo "# load: $(tail -1 "$WORK/load.log")"
    [ -f "$WORK/dora.log" ] && echo "# dora: $(grep -c '^ack' "$WORK/dora.log") ACKs; $(tail -1 "$WORK/dora.log")"
    echo "# hamasq log: $(grep -c ' warn ' "$WORK/hamasq.log") warn lines, $(grep -c ' error ' "$WORK/hamasq.log") error lines; $(grep -c 'vrrp.interval_mismatch' "$WORK/hamasq.log") interval mismatches logged; $(grep -c 'role=active' "$WORK/hamasq.log") times Active"
    # The longest stretch not Active after having been Active once (the
    # forged priority-255 adverts; bounded by item 7's learned-interval cap).
    awk '/vrrp.state instance=lan/ {
            split($1, a, "T"); split(a[2], h, ":"); ts = h[1] * 3600 + h[2] * 60 + h[3]
            if ($0 ~ /role=active/) { if (down) { d = ts - since; if (d > worst) worst = d; n++ } ; up = 1; down = 0 }
            else if (up && !down && $0 !~ /role=initialize/) { down = 1; since = ts }
         }
         END { printf "# VRRP: %d returns to Active after a forged takeover, longest gap %.2f s\n", n, worst }' "$WORK/hamasq.log"
} | tee "$WORK/report.txt"
[ "${KEEP:-0}" = 1 ] && log "kept $WORK"
[ "$alive" = yes ]
