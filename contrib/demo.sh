#!/usr/bin/env bash
# hamasq in one command: a pair of boxes sharing a virtual gateway IP, an
# upstream DNS server, real DHCP clients, and a failover, all inside
# network namespaces that this script creates and removes (nothing touches
# the machine's own network or resolver).
#
#   sudo ./contrib/demo.sh
#
# Needs root, iproute2, isc-dhcp-client, unbound and dig (installed with
# apt-get if missing; no service is started by the install). Builds hamasq
# in release mode first (into $CARGO_TARGET_DIR if set, else target/).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (it creates network namespaces)" >&2; exit 1; }
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v dhclient >/dev/null || missing+=(isc-dhcp-client)
command -v unbound >/dev/null || missing+=(unbound)
command -v dig >/dev/null || missing+=(bind9-dnsutils)
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
cargo build --release --locked -q
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/hamasq
[ "${BIN#/}" != "$BIN" ] || BIN=$PWD/$BIN

P=hqdemo$$
DIR=$(mktemp -d /tmp/hamasq-demo.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.3
  for ns in $(ip netns list | awk '{print $1}' | grep "^$P-" || true); do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  echo "demo: cleaned up (logs kept in $DIR)"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
ns() { ip netns exec "$P-$1" "${@:2}"; }
VIP=192.168.77.1
CLIENTS="c1 c2 c3"

say "Building a LAN: a bridge, two hamasq boxes (a, b), an upstream DNS server (up) and three clients"
ip netns add "$P-br"; ip -n "$P-br" link add br0 type bridge; ip -n "$P-br" link set br0 up
n=0
for h in a b up $CLIENTS; do
  n=$((n+1)); ip netns add "$P-$h"
  ip -n "$P-br" link add "p$n" type veth peer name eth0 netns "$P-$h"
  ip -n "$P-br" link set "p$n" master br0 up
  ip -n "$P-$h" link set lo up; ip -n "$P-$h" link set eth0 up
done
ip -n "$P-a" addr add 192.168.77.2/24 dev eth0
ip -n "$P-b" addr add 192.168.77.3/24 dev eth0
ip -n "$P-up" addr add 192.168.77.4/24 dev eth0

# The upstream: unbound serving a small zone, as an ISP or corporate
# resolver would; hamasq forwards everything that is not local to it.
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
ns up unbound -d -c "$DIR/unbound.conf" >>"$DIR/unbound.log" 2>&1 & PIDS+=($!)
echo "up: unbound on 192.168.77.4 serving corp.example (intranet.corp.example = 10.9.9.9)"

conf() { # name priority own-range peer-range
  mkdir -p "$DIR/$1"
  cat > "$DIR/$1/hamasq.conf" <<CONF
[general]
pid-file = none
state-dir = $DIR/$1/state

[dns]
server = 192.168.77.4
no-resolv = true
domain = lan
local = /lan/

[dhcp]
interface = eth0
dhcp-range = $3,1h
dhcp-peer-range = $4
dhcp-option = option:T1,3
dhcp-option = option:T2,6
log-dhcp = true

[vrrp lan]
interface = eth0
virtual-router-id = 51
priority = $2
advert-int = 0.1
virtual-ipaddress = $VIP/24
CONF
}
conf a 150 192.168.77.100,192.168.77.149 192.168.77.150,192.168.77.199
conf b 100 192.168.77.150,192.168.77.199 192.168.77.100,192.168.77.149
echo "a serves .100-.149 and knows b's .150-.199; b the other way round; VIP $VIP"
echo "both answer DNS (names of DHCP clients as NAME.lan, the rest forwarded to up)"
ns a "$BIN" --test -c "$DIR/a/hamasq.conf"

# `ip netns exec` execs hamasq in place, so $! is hamasq's own pid.
start() { ip netns exec "$P-$1" "$BIN" -f -c "$DIR/$1/hamasq.conf" >>"$DIR/$1.log" 2>&1 & PIDS+=($!); eval "PID_$1=$!"; }
start a; sleep 0.5; start b; sleep 1
grep -h "vrrp.state" "$DIR/a.log" "$DIR/b.log" | sed 's/^/  /'

say "Clients ask for addresses (dhclient with a host name, and a hook that only records)"
for c in $CLIENTS; do
  cat > "$DIR/$c.sh" <<HOOK
#!/bin/sh
echo "\$reason \$new_ip_address via \$new_dhcp_server_identifier dns \$new_domain_name_servers" >> $DIR/$c.rec
case "\$reason" in BOUND|RENEW|REBIND|REBOOT) ip addr replace "\$new_ip_address/\$new_subnet_mask" dev "\$interface" ;; esac
HOOK
  chmod +x "$DIR/$c.sh"
  printf 'send host-name "%s";\nrequest subnet-mask, routers, domain-name-servers;\n' "$c" > "$DIR/$c.conf"
  ip netns exec "$P-$c" dhclient -d -cf "$DIR/$c.conf" -sf "$DIR/$c.sh" -lf "$DIR/$c.leases" -pf "$DIR/$c.pid" eth0 >>"$DIR/$c.log" 2>&1 & PIDS+=($!)
done
for i in $(seq 1 40); do [ "$(cat "$DIR"/c?.rec 2>/dev/null | grep -c BOUND)" -ge 3 ] && break; sleep 0.5; done
for c in $CLIENTS; do echo "  $c: $(grep BOUND "$DIR/$c.rec" | tail -1)"; done
echo "  a's lease journal:"; sed 's/^/    /' "$DIR/a/state/dhcp.leases.journal"

# names CLIENT-TO-ASK: every client's name, and an upstream name, through the VIP
names() {
  local c ip
  for c in $CLIENTS; do
    ip=$(ns "$1" dig +short +time=1 +tries=3 "@$VIP" "$c.lan" | tail -1)
    echo "  dig @$VIP $c.lan -> ${ip:-(no answer)}"
  done
  echo "  dig @$VIP intranet.corp.example -> $(ns "$1" dig +short +time=1 +tries=3 "@$VIP" intranet.corp.example | tail -1) (forwarded to up)"
}
say "Names resolve through the VIP (asked from c1; a holds the VIP)"
names c1

say "Box a dies (SIGKILL). b takes the VIP; renewals to the VIP now reach b"
kill -9 "$PID_a"; wait "$PID_a" 2>/dev/null || true
sleep 1
grep -h "vrrp.state" "$DIR/b.log" | tail -1 | sed 's/^/  /'
ns b ip -4 -o addr show dev eth0 | awk '{print "  b holds " $4}'
sleep 7
for c in $CLIENTS; do echo "  $c: $(tail -1 "$DIR/$c.rec")"; done
echo "  b adopted them (its log):"; grep "msg=Ack" "$DIR/b.log" | tail -3 | sed 's/^/    /'

say "The names still resolve through the VIP, now answered by b (it learned them from the renewals)"
names c1

say "Box a comes back and preempts; the clients keep their addresses and names"
start a; sleep 8
grep -h "vrrp.state" "$DIR/a.log" | tail -1 | sed 's/^/  /'
for c in $CLIENTS; do echo "  $c: $(tail -1 "$DIR/$c.rec")"; done
names c1
