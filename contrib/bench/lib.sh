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
