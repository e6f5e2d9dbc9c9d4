#!/usr/bin/env bash
# hamasq in one command: the same small LAN twice, inside network
# namespaces this script creates and removes (nothing touches the machine's
# own network or resolver):
#
#   1. a pair of hamasq boxes sharing a virtual gateway IP (VIP);
#   2. the common recipe it replaces: dnsmasq on both boxes (split DHCP
#      ranges) with keepalived moving the VIP.
#
# Each LAN has an upstream DNS server, three DHCP clients (dhclient) and a
# probe; in the hamasq LAN the probe is also a dual-stack IPv6 host that
# takes its address, default route (the virtual link-local fe80::1) and DNS
# server from the Active's router advertisements. Box a is killed; the script measures the longest DNS and DHCP
# gaps seen by the probe, and how many clients kept their address
# (confirmed by the box that took over) and their name (resolving through
# the VIP), then prints both outcomes side by side.
#
#   sudo ./contrib/demo.sh
#
# Needs root, iproute2, isc-dhcp-client, udhcpc, unbound, dig, tcpdump,
# dnsmasq, keepalived and ndisc6 (installed with apt-get if missing; no service is
# started by the install). Builds hamasq in release mode first (into
# $CARGO_TARGET_DIR if set, else target/); HAMASQ_BIN=PATH uses that binary
# instead. Colours only on a terminal.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (it creates network namespaces)" >&2; exit 1; }
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

if [ -t 1 ]; then BOLD=$'\033[1m'; OFF=$'\033[0m'; else BOLD=; OFF=; fi
say() { printf '\n%s== %s%s\n' "$BOLD" "$*" "$OFF"; }

missing=()
for pair in ip:iproute2 dhclient:isc-dhcp-client udhcpc:udhcpc unbound:unbound dig:bind9-dnsutils \
            tcpdump:tcpdump dnsmasq:dnsmasq-base keepalived:keepalived rdisc6:ndisc6; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "demo: installing ${missing[*]}"
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then   # keep the packages' services from starting
    printf '#!/bin/sh\n# demo.sh: no service starts during install\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d; made_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
  [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ "${rc:-0}" = 0 ] || { echo "demo: apt-get install failed" >&2; exit 1; }
fi

if [ -n "${HAMASQ_BIN:-}" ]; then
  BIN=$HAMASQ_BIN
else
  echo "demo: building hamasq (release; a first build takes a minute or two on two cores)"
  t0=$SECONDS
  cargo build --release --locked -q & bp=$!
  while kill -0 "$bp" 2>/dev/null; do
    sleep 5
    kill -0 "$bp" 2>/dev/null && echo "  still building... $((SECONDS - t0)) s"
  done
  wait "$bp" || { echo "demo: the build failed" >&2; exit 1; }
  echo "demo: built in $((SECONDS - t0)) s"
  BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/hamasq
fi
[ "${BIN#/}" != "$BIN" ] || BIN=$PWD/$BIN

P=hqdemo$$
DIR=$(mktemp -d /tmp/hamasq-demo.XXXXXX)
PIDS=()
stop_all() {
  {
    for p in "${PIDS[@]}"; do kill "$p" || true; done
    sleep 0.3
    for ns in $(ip netns list | awk '{print $1}' | grep "^$P-" || true); do
      for p in $(ip netns pids "$ns"); do kill -9 "$p" || true; done
      ip netns del "$ns" || true
    done
  } 2>/dev/null
  PIDS=()
}
cleanup() { stop_all; echo "demo: cleaned up (logs kept in $DIR)"; }
trap cleanup EXIT

ns() { ip netns exec "$P-$1" "${@:2}"; }
# Starts a long-running program with its output in LOG and prints its pid.
# Not a job of this shell (so killing a box prints no job notice); `ip
# netns exec` execs the program in place, so the pid is the program's.
launch() { # log cmd...
  local log=$1; shift
  ( "$@" >>"$log" 2>&1 </dev/null & echo $! )
}
VIP=192.168.77.1
ULA=fd00:77:0:1
VIP6=$ULA::1
CLIENTS="c1 c2 c3"
now() { date +%s.%N; }

# The LAN: a bridge, boxes a and b, an upstream DNS server, the clients and
# a probe, each host in its namespace with eth0 on the bridge.
lan() {
  ip netns add "$P-br"; ip -n "$P-br" link add br0 type bridge; ip -n "$P-br" link set br0 up
  local n=0 h
  for h in a b up probe $CLIENTS; do
    n=$((n+1)); ip netns add "$P-$h"
    ip -n "$P-br" link add "p$n" type veth peer name eth0 netns "$P-$h"
    ip -n "$P-br" link set "p$n" master br0 up
    ip -n "$P-$h" link set lo up; ip -n "$P-$h" link set eth0 up
  done
  ip -n "$P-a" addr add 192.168.77.2/24 dev eth0
  ip -n "$P-b" addr add 192.168.77.3/24 dev eth0
  ip -n "$P-up" addr add 192.168.77.4/24 dev eth0
  ip -n "$P-probe" addr add 192.168.77.9/24 dev eth0
  # IPv6: the boxes have their own ULA addresses; the probe is a
  # dual-stack host that takes router advertisements (SLAAC by its kernel).
  for h in a b up probe $CLIENTS; do
    ns "$h" sysctl -qw net.ipv6.conf.eth0.disable_ipv6=0 net.ipv6.conf.eth0.accept_dad=0 \
      net.ipv6.conf.eth0.accept_ra=0
  done
  ns probe sysctl -qw net.ipv6.conf.eth0.accept_ra=2 net.ipv6.conf.eth0.autoconf=1
  ip -n "$P-a" -6 addr add $ULA::2/64 dev eth0 nodad
  ip -n "$P-b" -6 addr add $ULA::3/64 dev eth0 nodad
  # The upstream: unbound serving a small zone, as an ISP or corporate
  # resolver would; the boxes forward what is not local to it.
  cat > "$DIR/unbound.conf" <<CONF
server:
  interface: 192.168.77.4
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "$DIR"
  pidfile: ""
  use-syslog: no
  logfile: ""
  do-ip6: no
  access-control: 192.168.77.0/24 allow
  module-config: "iterator"
  local-zone: "corp.example." static
  local-data: "corp.example. 3600 IN SOA ns.corp.example. admin.corp.example. 1 3600 600 86400 60"
  local-data: "intranet.corp.example. 300 IN A 10.9.9.9"
CONF
  PIDS+=("$(launch "$DIR/unbound.log" ip netns exec "$P-up" unbound -d -c "$DIR/unbound.conf")")
}

# --- hamasq ---------------------------------------------------------------
hamasq_conf() { # box priority own-range peer-range
  mkdir -p "$DIR/hq-$1"
  cat > "$DIR/hq-$1/hamasq.conf" <<CONF
[general]
pid-file = none
state-dir = $DIR/hq-$1/state
log-target = stderr

[dns]
server = 192.168.77.4
no-resolv = true
domain = lan
local = /lan/
host-record = router.lan,$VIP,$VIP6

[dhcp]
interface = eth0
dhcp-range = $3,1h
dhcp-peer-range = $4
dhcp-option = option:T1,3
dhcp-option = option:T2,6

[vrrp lan]
interface = eth0
virtual-router-id = 51
priority = $2
advert-int = 0.1
virtual-ipaddress = $VIP/24

[vrrp lan6]
interface = eth0
virtual-router-id = 51
priority = $2
advert-int = 0.1
virtual-ipaddress = fe80::1/64
virtual-ipaddress = $VIP6/64

[ra lan]
interface = eth0
prefix = $ULA::/64

[dhcpv6 lan]
interface = eth0

[ha]
pair = 192.168.77.2, 192.168.77.3
key-file = $DIR/ha.key
CONF
}
hamasq_start() { # box
  local pid
  pid=$(launch "$DIR/hq-$1.log" ip netns exec "$P-$1" "$BIN" -f -c "$DIR/hq-$1/hamasq.conf")
  PIDS+=("$pid")
}

# --- dnsmasq + keepalived, the common recipe --------------------------------
# Each box: dnsmasq serving half of the range (no lease sharing: dnsmasq has
# none), handing out the VIP as router and DNS server; keepalived with the
# usual 1 s adverts moving the VIP.
classic_conf() { # box priority own-range
  mkdir -p "$DIR/dk-$1"
  cat > "$DIR/dk-$1/dnsmasq.conf" <<CONF
interface=eth0
except-interface=lo
user=root
no-resolv
server=192.168.77.4
domain=lan
local=/lan/
dhcp-range=$3,2m
dhcp-option=option:router,$VIP
dhcp-option=option:dns-server,$VIP
dhcp-option=option:T1,3
dhcp-option=option:T2,6
dhcp-leasefile=$DIR/dk-$1/dnsmasq.leases
pid-file=$DIR/dk-$1/dnsmasq.pid
CONF
  cat > "$DIR/dk-$1/keepalived.conf" <<CONF
global_defs {
  script_user root
  enable_script_security
}
vrrp_instance lan {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority $2
  advert_int 1
  virtual_ipaddress {
    $VIP/24
  }
}
CONF
}
classic_start() { # box
  local d=$DIR/dk-$1
  PIDS+=("$(launch "$d/keepalived.log" ip netns exec "$P-$1" keepalived -n -l -D -P \
    -f "$d/keepalived.conf" -p "$d/ka.pid" -r "$d/ka-vrrp.pid")")
  PIDS+=("$(launch "$d/dnsmasq.out" ip netns exec "$P-$1" dnsmasq -k -C "$d/dnsmasq.conf" \
    --log-facility="$d/dnsmasq.log")")
}

# --- what both stories share ------------------------------------------------
clients_up() { # tag
  local c
  for c in $CLIENTS; do
    cat > "$DIR/$1-$c.sh" <<HOOK
#!/bin/sh
echo "\$(date +%s.%N) \$reason \$new_ip_address" >> $DIR/$1-$c.rec
case "\$reason" in BOUND|RENEW|REBIND|REBOOT) ip addr replace "\$new_ip_address/\$new_subnet_mask" dev "\$interface" ;; esac
case "\$reason" in EXPIRE|FAIL|RELEASE|STOP) [ -n "\$old_ip_address" ] && ip addr del "\$old_ip_address/\$old_subnet_mask" dev "\$interface" ;; esac
exit 0
HOOK
    chmod +x "$DIR/$1-$c.sh"
    printf 'send host-name "%s";\nrequest subnet-mask, routers, domain-name-servers;\n' "$c" > "$DIR/$1-$c.conf"
    PIDS+=("$(launch "$DIR/$1-$c.log" ip netns exec "$P-$c" dhclient -d -cf "$DIR/$1-$c.conf" \
      -sf "$DIR/$1-$c.sh" -lf "$DIR/$1-$c.leases" -pf "$DIR/$1-$c.pid" eth0)")
  done
  local i
  for i in $(seq 1 60); do
    [ "$(cat "$DIR/$1"-c?.rec 2>/dev/null | grep -c BOUND)" -ge 3 ] && break
    sleep 0.5
  done
  for c in $CLIENTS; do echo "  $c: $(grep BOUND "$DIR/$1-$c.rec" | tail -1 | cut -d' ' -f2-)"; done
}

# The address client $2 holds now (its last record).
addr_of() { tail -1 "$DIR/$1-$2.rec" | awk '{print $3}'; }

names() { # tag: every client's name through the VIP, from the probe
  local c ip
  for c in $CLIENTS; do
    ip=$(ns probe dig +short +time=1 +tries=2 "@$VIP" "$c.lan" 2>/dev/null | tail -1)
    echo "  dig @$VIP $c.lan -> ${ip:-(no answer)}"
  done
  echo "  dig @$VIP intranet.corp.example -> $(ns probe dig +short +time=1 +tries=2 "@$VIP" intranet.corp.example 2>/dev/null | tail -1) (forwarded upstream)"
}

# Who talks on the LAN for 3 s while the probe asks for an address: VRRP
# adverts and DHCP replies by sender.
who_talks() { # tag
  ns probe timeout 4 tcpdump -l -n -i eth0 'ip proto 112 or udp src port 67' >"$DIR/$1-talk.txt" 2>/dev/null & local t=$!
  sleep 0.5
  ns probe timeout 3 udhcpc -i eth0 -n -q -f -t 2 -T 1 -s /bin/true >/dev/null 2>&1 || true
  wait "$t" 2>/dev/null || true
  local box ip
  for box in a:192.168.77.2 b:192.168.77.3; do
    ip=${box#*:}
    printf '  %s (%s): %3d VRRP adverts, %d DHCP replies\n' "${box%%:*}" "$ip" \
      "$(grep -c "IP $ip > 224.0.0.18" "$DIR/$1-talk.txt" || true)" \
      "$(grep -Ec "IP $ip\\.(67|bootps) " "$DIR/$1-talk.txt" || true)"
  done
}

# Probes through the failover: a DNS query every 100 ms and a fresh DHCP
# exchange (udhcpc, DISCOVER to ACK) in a loop, each success timestamped.
probes_start() { # tag
  ( while :; do
      if ns probe dig +short +time=1 +tries=1 "@$VIP" intranet.corp.example 2>/dev/null | grep -q 10.9.9.9; then
        now >> "$DIR/$1-dns.ok"
      fi
      sleep 0.1
    done ) & PROBE_DNS=$!
  ( while :; do
      ns probe timeout 3 udhcpc -i eth0 -n -q -f -t 2 -T 1 -A 1 -s /bin/true >/dev/null 2>&1 && now >> "$DIR/$1-dhcp.ok"
      sleep 0.2
    done ) & PROBE_DHCP=$!
}
probes_stop() { kill "$PROBE_DNS" "$PROBE_DHCP" 2>/dev/null || true; wait "$PROBE_DNS" "$PROBE_DHCP" 2>/dev/null || true; }

# Longest gap (ms) between successes in FILE from T0 on (the kill), counting
# the stretch from T0 to the first success.
gap_ms() { # file t0
  awk -v t0="$2" 'BEGIN{last=t0; g=0} $1>=t0 {d=$1-last; if(d>g)g=d; last=$1} END{printf "%d", g*1000}' "$1"
}

# The dual-stack probe's IPv6 view: its default route and the DNS server
# the RAs give it (rdisc6 sends a Router Solicitation).
v6_view() {
  local route rdnss
  route=$(ns probe ip -6 route show default | awk '{print $2, $3, $4, $5}' | head -1)
  rdnss=$(ns probe rdisc6 -1 -n -r 1 -w 1000 eth0 2>/dev/null | awk -F': ' '/Recursive DNS server/ {print $2}' | head -1)
  echo "default route ${route:-(none)}; DNS server from the RAs: ${rdnss:-(none)}"
}
# The failover and its numbers: kill box a, watch for WAIT seconds.
failover() { # tag wait
  local tag=$1 c
  declare -gA BEFORE
  for c in $CLIENTS; do BEFORE[$c]=$(addr_of "$tag" "$c"); done
  probes_start "$tag"
  local ping6=
  if [ "$tag" = hq ]; then
    V6_BEFORE=$(v6_view)
    # An ICMPv6 echo to the virtual router's link-local every 10 ms.
    ping6=$(launch "$DIR/$tag-ping6.log" ip netns exec "$P-probe" ping -6 -D -n -i 0.01 -w $(( $2 + 4 )) fe80::1%eth0)
    PIDS+=("$ping6")
  fi
  sleep 2
  local t0; t0=$(now)
  # The box dies: every process in its namespace, at once, by SIGKILL.
  for p in $(ip netns pids "$P-a" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
  echo "  box a killed at $(date +%T)"
  # The names at once: as soon as b holds the VIP, before any client
  # renews with it (a renewal is what would teach b a name without the
  # pair link).
  for _ in $(seq 1 100); do ns b ip -4 -o addr show dev eth0 | grep -q "$VIP/" && break; sleep 0.05; done
  NOW_NAMED=0
  for c in $CLIENTS; do
    ans=$(ns probe dig +short +time=1 +tries=1 "@$VIP" "$c.lan" 2>/dev/null | tail -1)
    [ -n "$ans" ] && [ "$ans" = "${BEFORE[$c]}" ] && NOW_NAMED=$((NOW_NAMED+1))
  done
  local tq; tq=$(now)
  RENEWED=$(awk -v t0="$t0" -v tq="$tq" '$1>t0 && $1<tq && ($2=="RENEW"||$2=="REBIND"||$2=="REBOOT"||$2=="BOUND") {n++} END{print n+0}' "$DIR/$tag"-c?.rec)
  echo "  names resolving on b $(awk -v a="$t0" -v b="$tq" 'BEGIN{printf "%.1f", b-a}') s after the kill: $NOW_NAMED/$(echo $CLIENTS | wc -w) (clients renewed with b by then: $RENEWED)"
  sleep "$2"
  probes_stop
  DNS_GAP=$(gap_ms "$DIR/$tag-dns.ok" "$t0")
  DHCP_GAP=$(gap_ms "$DIR/$tag-dhcp.ok" "$t0")
  # Kept its address: the same address, confirmed (ACKed) after the kill.
  KEPT=0; NAMED=0
  for c in $CLIENTS; do
    local confirmed
    confirmed=$(awk -v t0="$t0" -v ip="${BEFORE[$c]}" '$1>t0 && ($2=="RENEW"||$2=="REBIND"||$2=="BOUND"||$2=="REBOOT") && $3==ip {n++} END{print n+0}' "$DIR/$tag-$c.rec")
    local now_ip; now_ip=$(addr_of "$tag" "$c")
    local state="kept ${BEFORE[$c]}"
    if [ "$confirmed" -gt 0 ]; then KEPT=$((KEPT+1)); else state="${BEFORE[$c]}, but no ACK since the kill (b does not know the lease)"; fi
    local ans; ans=$(ns probe dig +short +time=1 +tries=2 "@$VIP" "$c.lan" 2>/dev/null | tail -1)
    if [ -n "$ans" ] && [ "$ans" = "$now_ip" ]; then NAMED=$((NAMED+1)); fi
    echo "  $c: $state; $c.lan -> ${ans:-(no answer)}"
  done
  echo "  longest DNS gap ${DNS_GAP} ms, longest DHCP gap ${DHCP_GAP} ms (probe)"
  if [ -n "$ping6" ]; then
    kill "$ping6" 2>/dev/null || true
    sed -n 's/^\[\([0-9.]*\)\].*bytes from.*/\1/p' "$DIR/$tag-ping6.log" > "$DIR/$tag-ping6.ok"
    PING6_GAP=$(gap_ms "$DIR/$tag-ping6.ok" "$t0")
    V6_AFTER=$(v6_view)
    local aaaa; aaaa=$(ns probe dig +short +time=1 +tries=2 "@$VIP6" router.lan AAAA 2>/dev/null | tail -1)
    echo "  dual-stack probe before: $V6_BEFORE"
    echo "  dual-stack probe after:  $V6_AFTER"
    echo "  longest ping6 gap to the virtual router fe80::1: ${PING6_GAP} ms; DNS over IPv6 at $VIP6 after: router.lan AAAA -> ${aaaa:-(no answer)}"
    V6_KEPT=no; [ "$V6_BEFORE" = "$V6_AFTER" ] && [ -n "$aaaa" ] && V6_KEPT=yes
  fi
}

WAIT=12

# ============================================================================
say "1. A hamasq pair: boxes a (priority 150) and b (100) share the VIP $VIP"
lan
(umask 077; "$BIN" ha-keygen > "$DIR/ha.key")
hamasq_conf a 150 192.168.77.100,192.168.77.149 192.168.77.150,192.168.77.199
hamasq_conf b 100 192.168.77.150,192.168.77.199 192.168.77.100,192.168.77.149
echo "  the two configs, side by side (a | b): each serves its half of the range and knows the other's"
pr -m -t -w 120 "$DIR/hq-a/hamasq.conf" "$DIR/hq-b/hamasq.conf" | grep -v '^[[:space:]]*$' | sed 's/^/    /'
ns a "$BIN" --test -c "$DIR/hq-a/hamasq.conf" | sed 's/^/  hamasq --test: /'
hamasq_start a; sleep 0.5; hamasq_start b; sleep 1.5

say "Three clients ask for addresses (dhclient, sending a host name)"
clients_up hq

say "hamasq status on both boxes"
for box in a b; do
  echo "  --- $box"
  ns "$box" "$BIN" status -c "$DIR/hq-$box/hamasq.conf" | sed '/^counters:/,$d' | sed 's/^/  /'
done

say "The Backup stays silent: who talks on the LAN for 3 s while a new client asks"
who_talks hq

say "Names resolve through the VIP"
names hq

say "IPv6: the dual-stack probe took its address and router from the Active's RAs (from fe80::1)"
for _ in $(seq 1 50); do ns probe ip -6 route show default | grep -q fe80::1 && break; sleep 0.2; done
echo "  $(ns probe ip -6 -o addr show dev eth0 scope global | awk '{print $4}' | head -1) (SLAAC); $(v6_view)"

say "Box a dies (SIGKILL); b takes over; $WAIT s of probing"
failover hq "$WAIT"
HQ=("$DNS_GAP" "$DHCP_GAP" "$KEPT" "$NAMED" "$NOW_NAMED")
stop_all

# ============================================================================
say "2. The same LAN with dnsmasq + keepalived on both boxes (the common recipe)"
lan
classic_conf a 150 192.168.77.100,192.168.77.149
classic_conf b 100 192.168.77.150,192.168.77.199
echo "  box a: dnsmasq.conf | keepalived.conf (b: the other half of the range, priority 100)"
pr -m -t -w 140 "$DIR/dk-a/dnsmasq.conf" "$DIR/dk-a/keepalived.conf" | grep -v '^[[:space:]]*$' | sed 's/^/    /'
classic_start a; sleep 0.5; classic_start b
for i in $(seq 1 50); do ns a ip -4 -o addr show dev eth0 | grep -q "$VIP/" && break; sleep 0.2; done

say "Three clients ask for addresses"
clients_up dk

say "Who talks on the LAN for 3 s while a new client asks"
who_talks dk

say "Names resolve through the VIP"
names dk

say "Box a dies (SIGKILL to dnsmasq and keepalived); b takes over; $WAIT s of probing"
failover dk "$WAIT"
DK=("$DNS_GAP" "$DHCP_GAP" "$KEPT" "$NAMED" "$NOW_NAMED")
stop_all

# ============================================================================
say "The failover, side by side"
n=$(echo $CLIENTS | wc -w)
printf '  %-44s %-14s %s\n' "" "hamasq pair" "dnsmasq + keepalived"
printf '  %-44s %-14s %s\n' "VRRP advert interval" "0.1 s" "1 s (keepalived's usual)"
printf '  %-44s %-14s %s\n' "longest DNS gap (query every 100 ms)" "${HQ[0]} ms" "${DK[0]} ms"
printf '  %-44s %-14s %s\n' "longest DHCP gap (new client in a loop)" "${HQ[1]} ms" "${DK[1]} ms"
printf '  %-44s %-14s %s\n' "clients that kept their address (ACKed by b)" "${HQ[2]}/$n" "${DK[2]}/$n"
printf '  %-44s %-14s %s\n' "names resolving at once (before renewals)" "${HQ[4]}/$n" "${DK[4]}/$n"
printf '  %-44s %-14s %s\n' "client names still resolving via the VIP" "${HQ[3]}/$n" "${DK[3]}/$n"
printf '  %-44s %-14s %s\n' "IPv6 router and DNS server kept (dual-stack)" "$V6_KEPT, gap ${PING6_GAP} ms" "n/a (keepalived sends no RAs)"
