# contrib/bench/labkit.sh: what the benchmarks that build a bridged LAN of
# network namespaces share (ha.sh, harepl.sh). Sourced (bash) after
# lib.sh. The script defines `ns_of HOST` (the namespace of HOST), the
# arrays HOSTS (host names) and ADDR (HOST -> IPv4 address, optional per
# host), MASK (prefix length), and `declare -A LIVE`; the bridge lives in
# the namespace `ns_of br`.

fcalc() { awk "BEGIN { printf \"%.6f\", ($1) }"; }   # %.6f: mawk prints %s as %.6g
now()   { date +%s.%N; }
x()     { ip netns exec "$(ns_of "$1")" "${@:2}"; }

# lab_up MACPREFIX: the bridge (STP off, forward delay 0, multicast
# snooping off) and one namespace per host with eth0 on it (MAC
# MACPREFIX:00:NN:NN, e.g. 02:68:62), IPv6 off, its ADDR if it has one.
lab_up() {
    local n=0 h ns br; br=$(ns_of br)
    ip netns add "$br" || die "ip netns add $br"
    ip netns exec "$br" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "$br" link set lo up
    ip -n "$br" link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0 || die "bridge"
    ip -n "$br" link set br0 up
    for h in "${HOSTS[@]}"; do
        n=$((n + 1)); ns=$(ns_of "$h")
        ip netns add "$ns" || die "ip netns add $ns"
        x "$h" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
        ip -n "$ns" link set lo up
        ip -n "$br" link add "p-$h" type veth peer name eth0 netns "$ns" || die "veth $h"
        ip -n "$br" link set "p-$h" master br0 up
        ip -n "$ns" link set eth0 address "$(printf '%s:00:%02x:%02x' "$1" $((n / 256)) $((n % 256)))"
        ip -n "$ns" link set eth0 up
        [ -n "${ADDR[$h]:-}" ] && ip -n "$ns" addr add "${ADDR[$h]}/$MASK" dev eth0
    done
}

# lab_down: stops every process started with start_bg (TERM, then KILL
# after 0.3 s) and every other one left in the lab's namespaces (a
# daemonised dnsmasq, keepalived's children), then deletes the namespaces.
lab_down() {
    local p h
    for p in "${!LIVE[@]}"; do kill -TERM "$p" 2>/dev/null; done
    sleep 0.3
    for p in "${!LIVE[@]}"; do kill -KILL "$p" 2>/dev/null; done
    for h in "${HOSTS[@]}" br; do
        for p in $(ip netns pids "$(ns_of "$h")" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    done
    for p in "${!LIVE[@]}"; do wait "$p" 2>/dev/null; done
    for h in "${HOSTS[@]}" br; do ip netns del "$(ns_of "$h")" 2>/dev/null; done
}

start_bg() {   # start_bg HOST LOG CMD...: pid in LAST_PID (ip netns exec execs CMD)
    local h=$1 logf=$2; shift 2
    ip netns exec "$(ns_of "$h")" "$@" >"$logf" 2>&1 &
    LAST_PID=$!
    LIVE[$LAST_PID]=1
}
stop_pid() {   # stop_pid PID [SIG]: signal, wait up to 3 s, SIGKILL, reap
    local p=$1 sig=${2:-TERM} i
    [ -n "$p" ] || return 0
    {   # (bash reports a job killed by a signal on stderr: not news here)
        kill -"$sig" "$p"
        for i in $(seq 30); do kill -0 "$p" || break; sleep 0.1; done
        kill -KILL "$p"
        wait "$p"
    } 2>/dev/null
    unset "LIVE[$p]"
    return 0
}
wait_until() {   # wait_until TIMEOUT_S CMD...: polls every 50 ms
    local end; end=$(fcalc "$(now) + $1"); shift
    while :; do
        "$@" && return 0
        awk "BEGIN { exit !($(now) > $end) }" && return 1
        sleep 0.05
    done
}
log_has() { grep -q -- "$2" "$1" 2>/dev/null; }

# ha_key DIR: a fresh [ha] key in DIR/ha.key (mode 0600), from $HAMASQ.
ha_key() { (umask 077; "$HAMASQ" ha-keygen > "$1/ha.key"); }
# ha_section DIR HOST A B: copies DIR/ha.key to DIR/HOST/ha.key and adds
# the [ha] section (pair = A, B) to DIR/HOST/hamasq.conf.
ha_section() {
    install -m 0600 "$1/ha.key" "$1/$2/ha.key"
    printf '\n[ha]\npair = %s, %s\nkey-file = %s\n' "$3" "$4" "$1/$2/ha.key" >> "$1/$2/hamasq.conf"
}
