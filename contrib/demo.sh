#!/usr/bin/env bash
# hamasq in one command: a pair of boxes sharing a virtual gateway IP, real
# DHCP clients, and a failover, all inside network namespaces that this
# script creates and removes (nothing touches the machine's own network).
#
#   sudo ./contrib/demo.sh
#
# Needs root, iproute2 and isc-dhcp-client (installed with apt-get if
# missing). Builds hamasq in release mode first.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (it creates network namespaces)" >&2; exit 1; }
for c in ip dhclient; do
  command -v "$c" >/dev/null || { export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; apt-get install -y -qq iproute2 isc-dhcp-client >/dev/null; break; }
done
cargo build --release --locked -q
BIN=$PWD/target/release/hamasq

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
  echo "demo: cleaned up (logs kept in $DIR)"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
ns() { ip netns exec "$P-$1" "${@:2}"; }

say "Building a LAN: a bridge, two hamasq boxes (a, b) and three clients"
ip netns add "$P-br"; ip -n "$P-br" link add br0 type bridge; ip -n "$P-br" link set br0 up
n=0
for h in a b c1 c2 c3; do
  n=$((n+1)); ip netns add "$P-$h"
  ip -n "$P-br" link add "p$n" type veth peer name eth0 netns "$P-$h"
  ip -n "$P-br" link set "p$n" master br0 up
  ip -n "$P-$h" link set lo up; ip -n "$P-$h" link set eth0 up
done
ip -n "$P-a" addr add 192.168.77.2/24 dev eth0
ip -n "$P-b" addr add 192.168.77.3/24 dev eth0

conf() { # name priority own-range peer-range
  mkdir -p "$DIR/$1"
  cat > "$DIR/$1/hamasq.conf" <<CONF
[general]
pid-file = none
state-dir = $DIR/$1/state

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
virtual-ipaddress = 192.168.77.1/24
CONF
}
conf a 150 192.168.77.100,192.168.77.149 192.168.77.150,192.168.77.199
conf b 100 192.168.77.150,192.168.77.199 192.168.77.100,192.168.77.149
echo "a serves .100-.149 and knows b's .150-.199; b the other way round; VIP 192.168.77.1"
ns a "$BIN" --test -c "$DIR/a/hamasq.conf"

# `ip netns exec` execs hamasq in place, so $! is hamasq's own pid.
start() { ip netns exec "$P-$1" "$BIN" -f -c "$DIR/$1/hamasq.conf" >>"$DIR/$1.log" 2>&1 & PIDS+=($!); eval "PID_$1=$!"; }
start a; sleep 0.5; start b; sleep 1
grep -h "vrrp.state" "$DIR/a.log" "$DIR/b.log" | sed 's/^/  /'

say "Clients ask for addresses (dhclient, with a hook that only records)"
for c in c1 c2 c3; do
  cat > "$DIR/$c.sh" <<HOOK
#!/bin/sh
echo "\$reason \$new_ip_address via \$new_dhcp_server_identifier" >> $DIR/$c.rec
case "\$reason" in BOUND|RENEW|REBIND|REBOOT) ip addr replace "\$new_ip_address/\$new_subnet_mask" dev "\$interface" ;; esac
HOOK
  chmod +x "$DIR/$c.sh"
  echo "send host-name \"$c\";" > "$DIR/$c.conf"
  ip netns exec "$P-$c" dhclient -d -cf "$DIR/$c.conf" -sf "$DIR/$c.sh" -lf "$DIR/$c.leases" -pf "$DIR/$c.pid" eth0 >>"$DIR/$c.log" 2>&1 & PIDS+=($!)
done
for i in $(seq 1 40); do [ "$(cat "$DIR"/c?.rec 2>/dev/null | grep -c BOUND)" -ge 3 ] && break; sleep 0.5; done
for c in c1 c2 c3; do echo "  $c: $(grep BOUND "$DIR/$c.rec" | tail -1)"; done
echo "  a's lease journal:"; sed 's/^/    /' "$DIR/a/state/dhcp.leases.journal"

say "Box a dies (SIGKILL). b takes the VIP; renewals to the VIP now reach b"
kill -9 "$PID_a"; wait "$PID_a" 2>/dev/null || true
sleep 1
grep -h "vrrp.state" "$DIR/b.log" | tail -1 | sed 's/^/  /'
ns b ip -4 -o addr show dev eth0 | awk '{print "  b holds " $4}'
sleep 7
for c in c1 c2 c3; do echo "  $c: $(tail -1 "$DIR/$c.rec")"; done
echo "  b adopted them (its log):"; grep "msg=Ack" "$DIR/b.log" | tail -3 | sed 's/^/    /'

say "Box a comes back and preempts; the clients keep their addresses"
start a; sleep 8
grep -h "vrrp.state" "$DIR/a.log" | tail -1 | sed 's/^/  /'
for c in c1 c2 c3; do echo "  $c: $(tail -1 "$DIR/$c.rec")"; done
echo
echo "Names: hamasq publishes each client's host name to its DNS side; the DNS"
echo "forwarder that answers them on the VIP is not built yet (see README)."
