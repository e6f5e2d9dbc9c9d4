# contrib/bench/lib.sh: what every benchmark script here shares. Sourced
# (bash), right after the script sets REPO.

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

# apt_install PKG...: installs Debian packages quietly, without letting
# their services start (a temporary policy-rc.d, removed again if we made
# it); retries once after `apt-get update`. Returns apt-get's status.
apt_install() {
    local made_policy=0 rc
    log "installing $*"
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\n# contrib/bench: no service starts during install\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d; made_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1 || {
        apt-get update -q >/dev/null 2>&1
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1
    }
    rc=$?
    [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
    return $rc
}

# rcvbuf_shim DIR BYTES: builds (with cc) an LD_PRELOAD shim that gives
# every UDP socket of the process SO_RCVBUF = BYTES, and sets the array
# PERF_ENV to the `env ...` prefix that loads it. perfdhcp never sets a
# receive buffer, and on 2 shared cores a few ms without its receive
# thread overflowed the default one (contrib/bench/dhcp.sh, CLIENT_RCVBUF).
# Returns 1 without cc, 2 if the build fails (PERF_ENV then stays empty).
rcvbuf_shim() {
    PERF_ENV=()
    command -v cc >/dev/null || return 1
    cat > "$1/rcvbuf.c" <<'EOF_C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/socket.h>
/* Every UDP socket the process opens gets SO_RCVBUF = $RCVBUF_BYTES. */
int socket(int domain, int type, int protocol) {
    static int (*real)(int, int, int);
    if (!real) real = (int (*)(int, int, int))dlsym(RTLD_NEXT, "socket");
    int fd = real(domain, type, protocol);
    const char *e = getenv("RCVBUF_BYTES");
    int n = e ? atoi(e) : 0;
    if (fd >= 0 && (type & 0xf) == SOCK_DGRAM && n > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &n, sizeof n);
    return fd;
}
EOF_C
    cc -O2 -shared -fPIC -o "$1/rcvbuf.so" "$1/rcvbuf.c" -ldl 2>/dev/null || return 2
    PERF_ENV=(env "LD_PRELOAD=$1/rcvbuf.so" "RCVBUF_BYTES=$2")
}
