#!/usr/bin/env bash
# contrib/bench/ha.sh: DHCP service gap of a failing-over DHCP+DNS pair, and
# what the clients keep: hamasq vs dnsmasq + keepalived vs Kea HA (issue 6),
# and the names the new Active resolves at once (issue 13: the pair link).
#
# Run as root:   contrib/bench/ha.sh            (full: 5 runs, 20 clients, ~13 min)
#                QUICK=1 contrib/bench/ha.sh    (3 runs, 10 clients, ~8 min)
#
# Lab (namespaces "<pid>-hab-*" made here; no traffic leaves them): a bridge
# (STP off, forward delay 0, multicast snooping off), box A 10.78.0.2/16,
# box B 10.78.0.3/16, VIP 10.78.0.1/16 (VRRP systems), a measuring host Q
# 10.78.0.9/16 and CLIENTS client namespaces c1..cN (odd: dhclient, even:
# busybox udhcpc; host names hc1..hcN; their scripts only record events and
# set the address on the client's own eth0). IPv6 off. The measuring host
# and the clients have net.ipv4.neigh.eth0.locktime = 0, so the first
# gratuitous ARP of the new box is always taken (Linux's default of 1 s
# ignores a GARP within 1 s of the last ARP update: that measures the
# client, not the pair).
#
# Systems (A priority 150, B 100, both preempting; leases 2 min, T1 2 s,
# T2 4 s so that clients renew during the run):
#   hamasq@I   the hamasq pair, one config each, advert-int I (ADVERTS, default
#              "1 0.1"): A serves 10.78.1.0-10.78.31.255 and knows B's
#              10.78.32.0-10.78.63.255 as dhcp-peer-range, B the other way
#              round; server identifier, router and DNS server = the VIP;
#              [dns] domain lan, local /lan/; and the pair link: [ha]
#              pair = 10.78.0.2, 10.78.0.3, key-file = a fresh key per run
#              (`hamasq ha-keygen`, mode 0600, the same file content on
#              both boxes). The pair is up when A is Active, B Backup and
#              both logged ha.caught_up (B learned A's leases, and the
#              other way round). Each box stores the other's leases and
#              publishes their names, so "names now" should be 100 %.
#   solo@I     (only when named in SYSTEMS) the same pair WITHOUT [ha]: what
#              hamasq did before the pair link (each box knows only its own
#              leases; B learns a name only when its client renews).
#   ka+dnsmasq the common recipe: keepalived (VRRPv3, advert_int KA_ADVERT,
#              default 1) holds the VIP; notify_master starts dnsmasq,
#              notify_backup / notify_fault stop it; split ranges (the same
#              two), dnsmasq's defaults otherwise (server identifier = the
#              box's own address, not authoritative), router and DNS server
#              = the VIP, domain lan, local /lan/, and no-ping (as in
#              contrib/bench/dhcp.sh): with dnsmasq's default ping check
#              every new address waits 3 s, during which dnsmasq is deaf to
#              DHCP, so one DORA every 100 ms would measure that, not the
#              failover (DNSMASQ_PING=1 runs the default).
#   kea        Kea 2.2 kea-dhcp4 with libdhcp_ha.so + libdhcp_lease_cmds.so,
#              hot-standby (A primary, B standby), heartbeat-delay 10000,
#              max-response-delay 10000, max-ack-delay 5000,
#              max-unacked-clients 0, multi-threading with the HA hook's own
#              HTTP listener (port 8000); one pool 10.78.1.0-10.78.63.255;
#              memfile leases. Kea has no DNS: the name columns are n/a.
#
# One run (fresh processes and state): start the pair, wait until A serves
# and B stands by; start the clients, wait until all are bound (addresses
# recorded), check their names through the VIP; start the DORA probe on Q
# (tests/ha_e2e/haprobe.py: a full DISCOVER-OFFER-REQUEST-ACK every
# DORA_INTERVAL = 100 ms from a fresh MAC, broadcast flag, each exchange
# abandoned after 3 s); after a random 0..1 advert interval cut A's link
# (`ip link set p-a down` in the bridge namespace); wait for the first
# completed exchange after the cut; resolve the names at once ("names now":
# before any client renewed); tell the udhcpc clients to renew (SIGUSR1;
# dhclient renews by itself at T1) and wait up to RENEW_WAIT s until every
# client completed an exchange after the cut; keep the probe going POST_SECS
# more, then measure:
#   gap      the longest interval between consecutive completed exchanges
#            whose later one is after the cut. Exchanges start on a grid of
#            DORA_INTERVAL, so gaps come in steps of it: with adverts every
#            100 ms B takes over 261-361 ms after the cut (Master_Down_Interval
#            after A's last advert), and the gap is 300, 400 or 500 ms with
#            probabilities of about 8, 74 and 18 % (median 400);
#   answer   first completed exchange started after the cut, minus the cut;
#   keep     clients whose address after the failover is the one before;
#   names    clients whose NAME.lan resolves through the VIP to the address
#            they hold (right after the failover / after the renewals);
#   dups     addresses bound to two MACs in the union of both boxes'
#            unexpired leases at the end (hamasq: snapshot + journal;
#            dnsmasq: its lease files; Kea: its memfile CSVs);
#   NAK/B    DHCPNAKs sent by B (tcpdump -Q out on B's eth0) before B took
#            over (B's first VRRP advert after the cut; Kea: B's transition
#            to PARTNER-DOWN in its log); NAK/new counts B's NAKs after.
# The table shows medians over RUNS runs (and every run's gap); a target
# holds when the median does. The machine may be shared: numbers are noisy.
#
# Knobs (environment): QUICK RUNS CLIENTS SYSTEMS ("hamasq ka kea"; add
# "solo" for the pair without [ha], e.g. SYSTEMS="hamasq solo ka kea")
# ADVERTS KA_ADVERT DORA_INTERVAL POST_SECS RENEW_WAIT KEA_WAIT DNSMASQ_PING
# HAMASQ (binary; default: cargo build --release of this repo into
# CARGO_TARGET_DIR, default target/).
#
# Everything (configs, logs, captures, probe output, results.tsv) is kept in
# a directory under /var/tmp printed at start and end. An EXIT trap stops
# the processes this script started (by pid, then any left inside its own
# namespaces) and deletes its namespaces.

set -uo pipefail   # no -e: a failing run is data, not an error

# ---------------------------------------------------------------- settings
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
    RUNS=${RUNS:-3}; CLIENTS=${CLIENTS:-10}
else
    RUNS=${RUNS:-5}; CLIENTS=${CLIENTS:-20}
fi
SYSTEMS=${SYSTEMS:-"hamasq ka kea"}
ADVERTS=${ADVERTS:-"1 0.1"}
KA_ADVERT=${KA_ADVERT:-1}
DORA_INTERVAL=${DORA_INTERVAL:-0.1}
POST_SECS=${POST_SECS:-1}
RENEW_WAIT=${RENEW_WAIT:-40}
KEA_WAIT=${KEA_WAIT:-60}       # longest wait for Kea's first answer after the cut
DNSMASQ_PING=${DNSMASQ_PING:-0}
MARGIN_MS=50
A_PRIO=150; B_PRIO=100
VIP=10.78.0.1; MASK=16
A_LO=10.78.1.0;  A_HI=10.78.31.255
B_LO=10.78.32.0; B_HI=10.78.63.255
declare -A ADDR=([a]=10.78.0.2 [b]=10.78.0.3 [q]=10.78.0.9)
KEA_HOOKS=/usr/lib/x86_64-linux-gnu/kea/hooks

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PROBE=$REPO/tests/ha_e2e/haprobe.py
P=$$
NS_BR="$P-hab-br"
T0=$(date +%s)

# log, die, apt_install; fcalc, now, x, lab_up, lab_down, start_bg,
# stop_pid, wait_until, log_has, ha_key, ha_section
. "$REPO/contrib/bench/lib.sh"
. "$REPO/contrib/bench/labkit.sh"

[ "$(id -u)" = 0 ] || die "run as root (network namespaces, apt-get)"

# ---------------------------------------------------------------- install
need_pkgs=()
command -v ip       >/dev/null || need_pkgs+=(iproute2)
command -v tcpdump  >/dev/null || need_pkgs+=(tcpdump)
command -v dhclient >/dev/null || need_pkgs+=(isc-dhcp-client)
command -v udhcpc   >/dev/null || need_pkgs+=(udhcpc)
command -v dig      >/dev/null || need_pkgs+=(bind9-dnsutils)
[ -x /usr/bin/python3 ]        || need_pkgs+=(python3)
case " $SYSTEMS " in *" ka "*)
    [ -x /usr/sbin/keepalived ] || need_pkgs+=(keepalived)
    [ -x /usr/sbin/dnsmasq ]    || need_pkgs+=(dnsmasq-base) ;;
esac
case " $SYSTEMS " in *" kea "*)
    { command -v kea-dhcp4 >/dev/null && [ -e "$KEA_HOOKS/libdhcp_ha.so" ]; } || need_pkgs+=(kea-dhcp4-server) ;;
esac
if [ ${#need_pkgs[@]} -gt 0 ]; then
    apt_install "${need_pkgs[@]}" || log "WARNING: apt-get install ${need_pkgs[*]} failed; missing systems are skipped"
    for svc in kea-dhcp4-server kea-ctrl-agent dnsmasq keepalived; do
        if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
            log "stopping service $svc started by its package"; systemctl stop "$svc"
        fi
    done
fi
PY=/usr/bin/python3
[ -x "$PY" ] || die "no /usr/bin/python3 (the DORA probe)"
for c in ip tcpdump dhclient udhcpc dig; do command -v "$c" >/dev/null || die "$c is missing"; done
KEA_NOTE=""
KEA_BIN=$(command -v kea-dhcp4 || true)
if [ -z "$KEA_BIN" ] || [ ! -e "$KEA_HOOKS/libdhcp_ha.so" ] || [ ! -e "$KEA_HOOKS/libdhcp_lease_cmds.so" ]; then
    KEA_NOTE="Kea or its HA hook (libdhcp_ha.so, libdhcp_lease_cmds.so) is not installed"
fi
KA_NOTE=""
[ -x /usr/sbin/keepalived ] && [ -x /usr/sbin/dnsmasq ] || KA_NOTE="keepalived or dnsmasq is not installed"

if [ -z "${HAMASQ:-}" ]; then
    log "building hamasq (cargo build --release in $REPO)"
    (cd "$REPO" && cargo build --release -q) || die "cargo build failed"
    HAMASQ="${CARGO_TARGET_DIR:-$REPO/target}/release/hamasq"
fi
[ -x "$HAMASQ" ] || die "no hamasq binary at $HAMASQ"

WORK=$(mktemp -d "/var/tmp/habench.$P.XXXX")
RESULTS="$WORK/results.tsv"
printf 'system\tadvert\trun\tgap_ms\tanswer_ms\tclients\tkeep\tnames_now\tnames_after\tdups\tnak_backup\tnak_new\ttakeover_ms\tnote\n' > "$RESULTS"
log "work dir: $WORK"
others=$(ip netns list 2>/dev/null | awk '/-(hab|vb|hqb)-/ { print $1 }' | tr '\n' ' ')
[ -n "$others" ] && log "WARNING: other benchmark namespaces exist ($others): results will be distorted"
log "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"

# ---------------------------------------------------------------- cleanup
declare -A LIVE   # background processes started here and not yet reaped
HOSTS=(a b q)
for i in $(seq "$CLIENTS"); do HOSTS+=("c$i"); done
ns_of() { echo "$P-hab-$1"; }
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    lab_down
    log "cleaned up; logs and results in $WORK ($(( $(date +%s) - T0 )) s)"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- lab
lab_up 02:68:62
for h in "${HOSTS[@]}"; do
    case $h in a|b) ;; *) x "$h" sysctl -qw net.ipv4.neigh.eth0.locktime=0 ;; esac
done
x q ping -c 1 -W 2 "${ADDR[a]}" >/dev/null && x q ping -c 1 -W 2 "${ADDR[b]}" >/dev/null \
    || die "lab: Q cannot reach A and B"
log "lab up: $NS_BR and ${#HOSTS[@]} hosts"

# ---------------------------------------------------------------- helpers
has_vip() { ip -n "$(ns_of "$1")" -4 -o addr show dev eth0 2>/dev/null | grep -q "inet $VIP/"; }
median() {  # of the numeric args ("-"/"none" count as +inf)
    printf '%s\n' "$@" | awk '{ print ($1 ~ /^-?[0-9.]+$/) ? $1 : 1e12 }' | sort -g \
        | awk '{ a[NR] = $1 } END { if (!NR) { print "-"; exit } n = NR
              m = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
              if (m >= 1e12) print "none"; else printf "%.0f\n", m }'
}
mdi_ms() { fcalc "3 * $1 * 1000 + (256 - $B_PRIO) * $1 * 1000 / 256"; }
# epoch of a log timestamp: hamasq "2026-01-02T03:04:05.678Z", Kea "2026-01-02 03:04:05.678"
ts_epoch() { date -d "$1" +%s.%N 2>/dev/null; }

# ---------------------------------------------------------------- configs
hamasq_conf() {   # DIR HOST ADVERT LINK(1: with [ha], the key in DIR/ha.key)
    local d=$1 h=$2 iv=$3 link=$4 prio own peer
    if [ "$h" = a ]; then prio=$A_PRIO; own="$A_LO,$A_HI"; peer="$B_LO,$B_HI"
    else prio=$B_PRIO; own="$B_LO,$B_HI"; peer="$A_LO,$A_HI"; fi
    cat > "$d/$h/hamasq.conf" <<EOF
[general]
pid-file = none
state-dir = $d/$h/state
log-level = info

[dns]
no-resolv = true
domain = lan
local = /lan/

[dhcp]
interface = eth0
dhcp-range = $own,2m
dhcp-peer-range = $peer
dhcp-option = option:T1,2
dhcp-option = option:T2,4
log-dhcp = true

[vrrp lan]
interface = eth0
virtual-router-id = 51
priority = $prio
advert-int = $iv
virtual-ipaddress = $VIP/$MASK
EOF
    [ "$link" = 1 ] && ha_section "$d" "$h" "${ADDR[a]}" "${ADDR[b]}"
    return 0
}

ka_conf() {   # DIR HOST ADVERT: keepalived.conf, notify.sh, dnsmasq.conf
    local d=$1 h=$2 iv=$3 prio lo hi
    if [ "$h" = a ]; then prio=$A_PRIO; lo=$A_LO; hi=$A_HI; else prio=$B_PRIO; lo=$B_LO; hi=$B_HI; fi
    cat > "$d/$h/dnsmasq.conf" <<EOF
interface=eth0
user=root
group=root
no-resolv
no-hosts
domain=lan
local=/lan/
dhcp-range=$lo,$hi,255.255.0.0,2m
dhcp-option=option:router,$VIP
dhcp-option=option:dns-server,$VIP
dhcp-option=option:T1,2
dhcp-option=option:T2,4
dhcp-leasefile=$d/$h/dnsmasq.leases
pid-file=$d/$h/dnsmasq.pid
log-dhcp
log-facility=$d/$h/dnsmasq.log
EOF
    [ "$DNSMASQ_PING" = 1 ] || echo no-ping >> "$d/$h/dnsmasq.conf"
    cat > "$d/$h/notify.sh" <<EOF
#!/bin/sh
# keepalived notify: the common recipe (dnsmasq runs only on the MASTER)
echo "\$(date +%s.%N) \$1" >> $d/$h/notify.rec
case "\$1" in
    master) /usr/sbin/dnsmasq --conf-file=$d/$h/dnsmasq.conf ;;
    *) [ -f $d/$h/dnsmasq.pid ] && kill "\$(cat $d/$h/dnsmasq.pid)" 2>/dev/null; rm -f $d/$h/dnsmasq.pid ;;
esac
exit 0
EOF
    chmod 755 "$d/$h/notify.sh"
    cat > "$d/$h/keepalived.conf" <<EOF
global_defs {
  vrrp_version 3
  script_user root
}
vrrp_instance lan {
  state BACKUP
  interface eth0
  virtual_router_id 52
  priority $prio
  advert_int $iv
  virtual_ipaddress {
    $VIP/$MASK
  }
  notify_master "$d/$h/notify.sh master"
  notify_backup "$d/$h/notify.sh backup"
  notify_fault "$d/$h/notify.sh fault"
}
EOF
}

kea_conf() {   # DIR HOST
    local d=$1 h=$2 me role
    if [ "$h" = a ]; then me=server1; else me=server2; fi
    cat > "$d/$h/kea.json" <<EOF
{ "Dhcp4": {
  "interfaces-config": { "interfaces": [ "eth0" ], "dhcp-socket-type": "raw" },
  "lease-database": { "type": "memfile", "persist": true, "lfc-interval": 0,
                      "name": "$d/$h/kea-leases4.csv" },
  "valid-lifetime": 120, "renew-timer": 2, "rebind-timer": 4,
  "multi-threading": { "enable-multi-threading": true, "thread-pool-size": 2, "packet-queue-size": 64 },
  "hooks-libraries": [
    { "library": "$KEA_HOOKS/libdhcp_lease_cmds.so" },
    { "library": "$KEA_HOOKS/libdhcp_ha.so",
      "parameters": { "high-availability": [ {
        "this-server-name": "$me",
        "mode": "hot-standby",
        "heartbeat-delay": 10000,
        "max-response-delay": 10000,
        "max-ack-delay": 5000,
        "max-unacked-clients": 0,
        "multi-threading": { "enable-multi-threading": true, "http-dedicated-listener": true,
                             "http-listener-threads": 1, "http-client-threads": 1 },
        "peers": [
          { "name": "server1", "url": "http://${ADDR[a]}:8000/", "role": "primary", "auto-failover": true },
          { "name": "server2", "url": "http://${ADDR[b]}:8000/", "role": "standby", "auto-failover": true }
        ] } ] } } ],
  "subnet4": [ { "id": 1, "subnet": "10.78.0.0/16",
                 "pools": [ { "pool": "$A_LO - $B_HI" } ],
                 "option-data": [ { "name": "routers", "data": "$VIP" } ] } ],
  "loggers": [ { "name": "kea-dhcp4", "output_options": [ { "output": "stdout" } ], "severity": "INFO" } ]
} }
EOF
}

# ---------------------------------------------------------------- pair
declare -A RPID
start_pair() {   # SYSTEM ADVERT DIR: A serving, B standing by; 0 on success
    local sys=$1 iv=$2 d=$3 h
    mkdir -p "$d/a" "$d/b"
    case $sys in
    hamasq|solo)
        local link=0
        if [ "$sys" = hamasq ]; then
            link=1
            ha_key "$d" || { log "hamasq ha-keygen failed"; return 1; }
        fi
        for h in a b; do hamasq_conf "$d" "$h" "$iv" "$link"; done
        start_bg a "$d/a/hamasq.log" "$HAMASQ" -f -c "$d/a/hamasq.conf"; RPID[a]=$LAST_PID
        wait_until 10 log_has "$d/a/hamasq.log" 'role=active' || { log "A not Active"; return 1; }
        start_bg b "$d/b/hamasq.log" "$HAMASQ" -f -c "$d/b/hamasq.conf"; RPID[b]=$LAST_PID
        wait_until 10 log_has "$d/b/hamasq.log" 'role=backup' || { log "B not Backup"; return 1; }
        if [ "$link" = 1 ]; then
            for h in b a; do
                wait_until 15 log_has "$d/$h/hamasq.log" 'ha.caught_up' \
                    || { log "$h: no ha.caught_up within 15 s"; return 1; }
            done
        fi
        ;;
    ka)
        for h in a b; do ka_conf "$d" "$h" "$iv"; done
        start_bg a "$d/a/keepalived.log" /usr/sbin/keepalived -n -l -D -P -f "$d/a/keepalived.conf" \
            -p "$d/a/ka.pid" -r "$d/a/ka-vrrp.pid"; RPID[a]=$LAST_PID
        wait_until 15 log_has "$d/a/notify.rec" master || { log "A not MASTER"; return 1; }
        start_bg b "$d/b/keepalived.log" /usr/sbin/keepalived -n -l -D -P -f "$d/b/keepalived.conf" \
            -p "$d/b/ka.pid" -r "$d/b/ka-vrrp.pid"; RPID[b]=$LAST_PID
        wait_until 15 log_has "$d/b/keepalived.log" 'Entering BACKUP STATE' || { log "B not BACKUP"; return 1; }
        ;;
    kea)
        for h in a b; do kea_conf "$d" "$h"; mkdir -p "$d/$h/run"; done
        start_bg a "$d/a/kea.log" env KEA_LOCKFILE_DIR="$d/a/run" KEA_PIDFILE_DIR="$d/a/run" \
            "$KEA_BIN" -c "$d/a/kea.json"; RPID[a]=$LAST_PID
        start_bg b "$d/b/kea.log" env KEA_LOCKFILE_DIR="$d/b/run" KEA_PIDFILE_DIR="$d/b/run" \
            "$KEA_BIN" -c "$d/b/kea.json"; RPID[b]=$LAST_PID
        wait_until 60 log_has "$d/a/kea.log" 'to HOT-STANDBY state' \
            || { log "Kea A not in hot-standby: $(grep -m3 -E 'ERROR|FATAL' "$d/a/kea.log")"; return 1; }
        wait_until 30 log_has "$d/b/kea.log" 'to HOT-STANDBY state' || { log "Kea B not in hot-standby"; return 1; }
        ;;
    esac
    sleep 0.5
    return 0
}

reset_lab() {
    local h p
    for h in b a; do
        if [ -n "${RPID[$h]:-}" ]; then stop_pid "${RPID[$h]}" TERM; RPID[$h]=""; fi
    done
    for p in "${!LIVE[@]}"; do stop_pid "$p" TERM; done
    for h in "${HOSTS[@]}"; do   # dnsmasq daemonised by a notify script, etc.
        for p in $(ip netns pids "$(ns_of "$h")" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    done
    ip -n "$NS_BR" link set p-a up
    for h in "${HOSTS[@]}"; do
        case $h in
            a|b) ip -n "$(ns_of "$h")" addr del "$VIP/$MASK" dev eth0 2>/dev/null ;;
            c*) ip -n "$(ns_of "$h")" -4 addr flush dev eth0 2>/dev/null ;;
        esac
        ip -n "$(ns_of "$h")" neigh flush dev eth0 2>/dev/null
    done
    return 0
}

# ---------------------------------------------------------------- clients
declare -A CPID
start_client() {   # DIR I
    local d=$1 i=$2 rec="$1/c$2.rec" sc="$1/c$2.sh"
    if [ $((i % 2)) = 1 ]; then
        cat > "$sc" <<EOF
#!/bin/sh
echo "\$reason ip=\$new_ip_address" >> $rec
case "\$reason" in BOUND|RENEW|REBIND|REBOOT) ip addr replace "\$new_ip_address/\$new_subnet_mask" dev "\$interface" ;; esac
exit 0
EOF
        chmod 755 "$sc"
        printf 'send host-name "hc%s";\nrequest subnet-mask, routers, domain-name-servers;\n' "$i" > "$d/c$i.conf"
        start_bg "c$i" "$d/c$i.log" dhclient -d -cf "$d/c$i.conf" -sf "$sc" -lf "$d/c$i.leases" -pf "$d/c$i.pid" eth0
    else
        cat > "$sc" <<EOF
#!/bin/sh
echo "\$(echo "\$1" | tr a-z A-Z) ip=\$ip" >> $rec
case "\$1" in bound|renew) ip addr replace "\$ip/\$mask" dev "\$interface" ;; deconfig) ip -4 addr flush dev "\$interface" ;; esac
exit 0
EOF
        chmod 755 "$sc"
        start_bg "c$i" "$d/c$i.log" udhcpc -f -i eth0 -s "$sc" -x "hostname:hc$i" -T 1 -t 3 -A 1
    fi
    CPID[$i]=$LAST_PID
}
binds() { grep -cE '^(BOUND|RENEW|REBIND|REBOOT) ' "$1" 2>/dev/null; }
last_ip() { grep -E '^(BOUND|RENEW|REBIND|REBOOT) ' "$1" 2>/dev/null | tail -1 | sed 's/.*ip=//'; }
all_bound() {   # DIR
    local i
    for i in $(seq "$CLIENTS"); do [ "$(binds "$1/c$i.rec")" -ge 1 ] || return 1; done
}
all_rebound() {   # DIR: every client has more binds than in BEFORE_N
    local i
    for i in $(seq "$CLIENTS"); do [ "$(binds "$1/c$i.rec")" -gt "${BEFORE_N[$i]}" ] || return 1; done
}
# names_ok DIR MODE: how many hcI.lan resolve through the VIP to the
# client's address (MODE before: the address before the cut; now: current)
names_ok() {
    local d=$1 mode=$2 i args=() n=0 want got
    for i in $(seq "$CLIENTS"); do args+=("hc$i.lan"); done
    x q dig "@$VIP" +time=1 +tries=2 +noall +answer "${args[@]}" > "$d/dig-$mode.txt" 2>&1
    for i in $(seq "$CLIENTS"); do
        if [ "$mode" = now ]; then want=$(last_ip "$d/c$i.rec"); else want=${BEFORE_IP[$i]}; fi
        got=$(awk -v n="hc$i.lan." '$1 == n && $4 == "A" { print $5 }' "$d/dig-$mode.txt" | sort | paste -sd,)
        [ -n "$want" ] && [ "$got" = "$want" ] && n=$((n + 1))
    done
    echo "$n"
}

# ---------------------------------------------------------------- leases
# dups DIR SYSTEM: addresses bound to two MACs among unexpired leases in
# the union of both boxes' stores.
dups() {
    local d=$1 sys=$2 h
    {
        for h in a b; do
            case $sys in
            hamasq|solo)
                { cat "$d/$h/state/dhcp.leases" 2>/dev/null | sed 's/^/S /'
                  cat "$d/$h/state/dhcp.leases.journal" 2>/dev/null; } \
                | awk -v box="$h" '
                    $1 == "S" && NF == 6 { ex[$4] = $2; mac[$4] = $3; next }
                    $1 == "L" && NF == 7 { ex[$4] = $2; mac[$4] = $3; next }
                    $1 == "D" && NF == 3 { delete ex[$2]; delete mac[$2] }
                    END { for (ip in ex) print ip, mac[ip], ex[ip], box }' ;;
            ka)
                awk -v box="$h" 'NF >= 5 && $1 ~ /^[0-9]+$/ { print $3, $2, $1, box }' "$d/$h/dnsmasq.leases" 2>/dev/null ;;
            kea)
                awk -F, -v box="$h" 'NR > 1 && NF >= 10 { last[$1] = $2 " " $5 " " $4 " " $10 }
                    END { for (ip in last) { split(last[ip], f, " ")
                          if (f[3] > 0 && f[4] == 0) print ip, f[1], f[2], box } }' \
                    "$d/$h/kea-leases4.csv" 2>/dev/null ;;
            esac
        done
    } | awk -v now="$(date +%s)" '($3 == 0 || $3 > now) { if (!(($1, $2) in seen)) { seen[$1, $2] = 1; n[$1]++ } }
            END { c = 0; for (ip in n) if (n[ip] > 1) c++; print c }'
}

# ---------------------------------------------------------------- one run
gap_ms() {   # PROBE_OUT CUT_EPOCH: longest gap between ACKs ending after the cut
    awk -v tf="$2" '$1 == "ack" { t = $2 + 0
            if (have && t > tf && t - prev > max) max = t - prev
            prev = t; have = 1; if (t > tf) after = 1 }
        END { if (!after) print "none"; else printf "%.0f\n", max * 1000 }' "$1"
}
# first ACK of an exchange started after the cut (not one already in flight)
first_ms() { awk -v tf="$2" '$1 == "ack" && $2 - $6 / 1000 > tf { printf "%.0f\n", ($2 - tf) * 1000; exit }' "$1"; }
# NAKs in a tcpdump -v capture sent before / from EPOCH
naks_split() {   # CAPTURE EPOCH -> "before after"
    awk -v te="$2" '/^[0-9]+\.[0-9]+ IP / { t = $1 + 0 }
        /DHCP-Message \(53\), length 1: NACK/ { if (t < te) b++; else a++ }
        END { printf "%d %d\n", b, a }' "$1"
}
first_advert_after() {   # CAPTURE EPOCH: first outgoing VRRP advert after EPOCH
    awk -v te="$2" '/^[0-9]+\.[0-9]+ IP / && / proto VRRP / { t = $1 + 0; if (t > te) { printf "%.6f\n", t; exit } }' "$1"
}

declare -A BEFORE_IP BEFORE_N
run_once() {   # SYSTEM ADVERT IDX
    local sys=$1 iv=$2 idx=$3 d i pf pp capb capa tf gap ans keep=0 nnow nafter dup tko nb na note="" t_take
    d="$WORK/runs/$sys-$iv-$idx"; mkdir -p "$d"
    reset_lab
    if ! start_pair "$sys" "$iv" "$d"; then
        printf '%s\t%s\t%s\tERR\t-\t%s\t-\t-\t-\t-\t-\t-\t-\tsetup failed\n' "$sys" "$iv" "$idx" "$CLIENTS" >> "$RESULTS"
        reset_lab; return
    fi
    start_bg a "$d/cap-a.txt" tcpdump -l -n -tt -v -Q out -i eth0 'udp src port 67 or ip proto 112'; capa=$LAST_PID
    start_bg b "$d/cap-b.txt" tcpdump -l -n -tt -v -Q out -i eth0 'udp src port 67 or ip proto 112'; capb=$LAST_PID
    wait_until 5 log_has "$d/cap-b.txt" 'listening on'
    for i in $(seq "$CLIENTS"); do start_client "$d" "$i"; done
    if ! wait_until 60 all_bound "$d"; then
        note="not every client bound before the cut"
    fi
    for i in $(seq "$CLIENTS"); do BEFORE_IP[$i]=$(last_ip "$d/c$i.rec"); BEFORE_N[$i]=$(binds "$d/c$i.rec"); done
    local nbefore="-"
    [ "$sys" != kea ] && nbefore=$(names_ok "$d" before)
    # the udhcpc clients renew once, so each has the VIP's MAC in its ARP cache
    for i in $(seq 2 2 "$CLIENTS"); do kill -USR1 "${CPID[$i]}" 2>/dev/null; done
    sleep 1.5

    pf="$d/dora.txt"
    start_bg q "$pf" "$PY" "$PROBE" dora eth0 "$DORA_INTERVAL" 300 02:bb timeout=3; pp=$LAST_PID
    wait_until 10 awk 'END { exit !(n >= 5) } $1 == "ack" { n++ }' "$pf" || note+=" probe got no answers before the cut"
    sleep "$(awk -v r="$RANDOM" -v iv="$iv" 'BEGIN { printf "%.3f", 0.3 + r / 32768 * (iv > 1 ? 1 : iv) }')"
    for i in $(seq "$CLIENTS"); do BEFORE_N[$i]=$(binds "$d/c$i.rec"); done
    tf=$(now)
    ip -n "$NS_BR" link set p-a down
    local wait_first=15; [ "$sys" = kea ] && wait_first=$KEA_WAIT
    wait_until "$wait_first" awk -v tf="$tf" '$1 == "ack" && $2 > tf { f = 1 } END { exit !f }' "$pf" \
        || note+=" no answer within ${wait_first}s"
    nnow="n/a"; [ "$sys" != kea ] && nnow=$(names_ok "$d" before)
    # A name missing "now" is either not known on B or a query that got no
    # answer in time (DNS on the VIP not reachable yet): say which.
    local nto; nto=$(grep -c 'no servers could be reached' "$d/dig-before.txt" 2>/dev/null)
    [ "${nto:-0}" -gt 0 ] && note+=" names now: $nto names unanswered (dig +time=1 +tries=2)"
    for i in $(seq 2 2 "$CLIENTS"); do kill -USR1 "${CPID[$i]}" 2>/dev/null; done
    wait_until "$RENEW_WAIT" all_rebound "$d" || note+=" not every client renewed within ${RENEW_WAIT}s"
    sleep "$POST_SECS"
    stop_pid "$pp" INT
    for i in $(seq "$CLIENTS"); do
        [ -n "${BEFORE_IP[$i]}" ] && [ "$(binds "$d/c$i.rec")" -gt "${BEFORE_N[$i]}" ] \
            && [ "$(last_ip "$d/c$i.rec")" = "${BEFORE_IP[$i]}" ] && keep=$((keep + 1))
    done
    nafter="n/a"; [ "$sys" != kea ] && nafter=$(names_ok "$d" now)
    gap=$(gap_ms "$pf" "$tf"); ans=$(first_ms "$pf" "$tf"); ans=${ans:--}
    if [ "$sys" = kea ]; then
        t_take=$(grep -m1 'to PARTNER-DOWN state' "$d/b/kea.log" | awk '{ print $1 " " $2 }')
        [ -n "$t_take" ] && t_take=$(ts_epoch "$t_take")
    else
        t_take=$(first_advert_after "$d/cap-b.txt" "$tf")
    fi
    tko="-"; [ -n "$t_take" ] && tko=$(fcalc "($t_take - $tf) * 1000" | awk '{ printf "%.0f", $1 }')
    read -r nb na < <(naks_split "$d/cap-b.txt" "${t_take:-9e18}")
    # stop the servers before reading their lease files
    for i in $(seq "$CLIENTS"); do stop_pid "${CPID[$i]}" TERM; done
    stop_pid "${RPID[b]}" TERM; RPID[b]=""
    stop_pid "${RPID[a]}" TERM; RPID[a]=""
    for i in a b; do for p in $(ip netns pids "$(ns_of "$i")" 2>/dev/null); do
        [ "$p" = "$capa" ] || [ "$p" = "$capb" ] || kill -TERM "$p" 2>/dev/null; done; done
    sleep 0.5
    stop_pid "$capa" INT; stop_pid "$capb" INT
    dup=$(dups "$d" "$sys")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sys" "$iv" "$idx" "$gap" "$ans" "$CLIENTS" \
        "$keep" "$nnow" "$nafter" "$dup" "$nb" "$na" "$tko" "${note# }" >> "$RESULTS"
    echo "$tf" > "$d/cut"
    log "  $sys@$iv #$idx: gap $gap ms, first answer $ans ms, takeover $tko ms, keep $keep/$CLIENTS, names before $nbefore now $nnow after $nafter, dups $dup, NAK backup $nb new $na${note:+ ($note)}"
    reset_lab
}

# ---------------------------------------------------------------- runs
CASES=()
for s in $SYSTEMS; do
    case $s in
        hamasq|solo) for iv in $ADVERTS; do CASES+=("$s $iv"); done ;;
        ka) [ -z "$KA_NOTE" ] && CASES+=("ka $KA_ADVERT") ;;
        kea) [ -z "$KEA_NOTE" ] && CASES+=("kea -") ;;
        *) die "unknown system $s (hamasq solo ka kea)" ;;
    esac
done
# Runs interleave the systems, so slow drifts of the machine's load hit all.
for r in $(seq "$RUNS"); do
    for c in "${CASES[@]}"; do
        read -r s iv <<< "$c"
        log "run $r/$RUNS: $s${iv:+ advert $iv}"
        run_once "$s" "$iv" "$r"
    done
done

# ---------------------------------------------------------------- report
col() { awk -F'\t' -v s="$1" -v i="$2" -v c="$3" '$1 == s && $2 == i { print $c }' "$RESULTS"; }
pct() {   # median of per-run counts, as % of CLIENTS
    local m; m=$(median "$@"); [[ "$m" =~ ^[0-9]+$ ]] && fcalc "$m * 100 / $CLIENTS" | awk '{ printf "%.0f %%", $1 }' || echo "$m"
}
echo
echo "HA failover: DHCP service gap and what $CLIENTS clients keep, median of $RUNS runs ($(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores)"
echo "DHCP gap = longest interval between completed DORAs (one started every $(awk "BEGIN { printf \"%.0f\", $DORA_INTERVAL * 1000 }") ms from a fresh MAC) across A's link cut,"
echo "  so in steps of that interval; answer = first DORA started after the cut, done; takeover = B's first advert (Kea: PARTNER-DOWN)"
echo "keep = clients holding the same address after renewing/rebinding; names = NAME.lan via the VIP -> the client's address,"
echo "  now = right after the takeover (before any renewal), after = after every client renewed; dups = addresses bound to two MACs"
echo "  in the union of both lease stores; NAK/B = NAKs from B before it took over, NAK/new = from B after"
echo
printf '%-18s | %6s | %8s | %8s | %9s | %8s | %6s | %9s | %9s | %4s | %5s | %7s | %s\n' \
    system advert "gap ms" "target" "answer ms" "takeover" keep "names now" "names aft" dups "NAK/B" "NAK/new" "runs: gap ms"
printf -- '-------------------+--------+----------+----------+-----------+----------+--------+-----------+-----------+------+-------+---------+-------------\n'
declare -A MED
for c in "${CASES[@]}"; do
    read -r s iv <<< "$c"
    mapfile -t g < <(col "$s" "$iv" 4)
    [ ${#g[@]} -gt 0 ] || continue
    med=$(median "${g[@]}"); MED[$s/$iv]=$med
    case $s in
        hamasq) name="hamasq pair+link"; tgt=$(fcalc "$(mdi_ms "$iv") + $MARGIN_MS" | awk '{ printf "%.0f", $1 }') ;;
        solo) name="hamasq, no [ha]"; tgt=$(fcalc "$(mdi_ms "$iv") + $MARGIN_MS" | awk '{ printf "%.0f", $1 }') ;;
        ka) name="dnsmasq+keepalived"; tgt="-" ;;
        kea) name="Kea HA hot-standby"; tgt="-" ;;
    esac
    mapfile -t an < <(col "$s" "$iv" 5); mapfile -t tk < <(col "$s" "$iv" 13)
    mapfile -t kp < <(col "$s" "$iv" 7); mapfile -t nn < <(col "$s" "$iv" 8); mapfile -t na < <(col "$s" "$iv" 9)
    mapfile -t du < <(col "$s" "$iv" 10); mapfile -t nb < <(col "$s" "$iv" 11); mapfile -t nw < <(col "$s" "$iv" 12)
    if [ "$s" = kea ]; then nnp="n/a"; nap="n/a"; else nnp=$(pct "${nn[@]}"); nap=$(pct "${na[@]}"); fi
    printf '%-18s | %6s | %8s | %8s | %9s | %8s | %6s | %9s | %9s | %4s | %5s | %7s | %s\n' \
        "$name" "$( [ "$iv" = - ] && echo - || echo "${iv} s")" "$med" "<= $tgt" "$(median "${an[@]}")" "$(median "${tk[@]}")" \
        "$(pct "${kp[@]}")" "$nnp" "$nap" "$(printf '%s\n' "${du[@]}" | sort -n | tail -1)" \
        "$(printf '%s\n' "${nb[@]}" | sort -n | tail -1)" "$(printf '%s\n' "${nw[@]}" | sort -n | tail -1)" "$(echo "${g[*]}")"
done
[ -n "$KA_NOTE" ] && printf '%-18s | %s\n' "dnsmasq+keepalived" "not run: $KA_NOTE"
[ -n "$KEA_NOTE" ] && printf '%-18s | %s\n' "Kea HA hot-standby" "not run: $KEA_NOTE"
echo "(dups, NAK/B, NAK/new: the worst run)"
echo
echo "Targets (issue 6; names now: issue 13):"
check() { if [ "$2" = 1 ]; then echo "  PASS  $1"; else echo "  FAIL  $1"; fi; }
le() { [[ "$1" =~ ^[0-9.]+$ && "$2" =~ ^[0-9.]+$ ]] && awk "BEGIN { exit !($1 <= $2) }"; }
for iv in $ADVERTS; do
    h=${MED[hamasq/$iv]:-}; [ -n "$h" ] || continue
    t=$(fcalc "$(mdi_ms "$iv") + $MARGIN_MS" | awk '{ printf "%.0f", $1 }')
    le "$h" "$t"; check "hamasq@$iv s gap $h ms <= Master_Down_Interval + $MARGIN_MS ms = $t ms" $(( $? == 0 ))
done
k=${MED[ka/$KA_ADVERT]:-}; h=${MED[hamasq/$KA_ADVERT]:-}
if [ -n "$k" ] && [ -n "$h" ]; then
    le "$h" "$k"; check "hamasq@$KA_ADVERT s gap $h ms no worse than dnsmasq+keepalived@$KA_ADVERT s $k ms" $(( $? == 0 ))
fi
h=${MED[hamasq/0.1]:-}
if [ -n "$h" ]; then
    le "$h" 450; check "hamasq@0.1 s gap $h ms <= 450 ms" $(( $? == 0 ))
    ke=${MED[kea/-]:-}
    if [[ "$ke" =~ ^[0-9.]+$ && "$h" =~ ^[0-9.]+$ ]]; then
        r=$(fcalc "$ke / $h" | awk '{ printf "%.1f", $1 }')
        awk "BEGIN { exit !($r >= 30) }"; check "hamasq@0.1 s is ${r}x faster than Kea HA ($ke ms) (>= 30x)" $(( $? == 0 ))
    fi
fi
for c in "${CASES[@]}"; do
    read -r s iv <<< "$c"; [ "$s" = hamasq ] || [ "$s" = solo ] || continue
    mapfile -t kp < <(col "$s" "$iv" 7); mapfile -t na < <(col "$s" "$iv" 9)
    mapfile -t du < <(col "$s" "$iv" 10); mapfile -t nb < <(col "$s" "$iv" 11)
    ok=1; for v in "${kp[@]}"; do [ "$v" = "$CLIENTS" ] || ok=0; done
    check "$s@$iv s: 100 % of renewing clients keep their address (every run)" $ok
    ok=1; for v in "${na[@]}"; do [ "$v" = "$CLIENTS" ] || ok=0; done
    check "$s@$iv s: 100 % of renewing clients keep their name (every run)" $ok
    if [ "$s" = hamasq ]; then   # the pair link's promise (issue 13)
        mapfile -t nn < <(col "$s" "$iv" 8)
        ok=1; for v in "${nn[@]}"; do [ "$v" = "$CLIENTS" ] || ok=0; done
        check "$s@$iv s: 100 % of names resolve on B right after the cut, before any renewal (every run)" $ok
    fi
    ok=1; for v in "${du[@]}"; do [ "$v" = 0 ] || ok=0; done
    check "$s@$iv s: zero duplicate addresses (every run)" $ok
    ok=1; for v in "${nb[@]}"; do [ "$v" = 0 ] || ok=0; done
    check "$s@$iv s: zero NAKs from a Backup (every run)" $ok
done
echo
notes=$(awk -F'\t' 'NR > 1 && $14 != "" { print "  " $1 "@" $2 " run " $3 ": " $14 }' "$RESULTS")
[ -n "$notes" ] && { echo "Notes:"; echo "$notes"; echo; }
echo "raw results: $RESULTS"
