#!/usr/bin/env python3
"""ping6probe.py DST INTERVAL SECS

An ICMPv6 echo to DST (a link-local one with its scope, fe80::1%eth0)
every INTERVAL on an absolute schedule; the IPv6 twin of
`tests/ha_e2e/haprobe.py ping`, with its pacing and output:
    reply T SEQ              (T: kernel receive time)
and the summary `# sent N received M`. Used by contrib/bench/vrrp.sh for
the failover gap to the virtual link-local address.
"""

import os
import socket
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../tests/ha_e2e"))
import haprobe  # noqa: E402  (pacing, signal handling, output)


def ping6(dst, interval, secs):
    ident = os.getpid() & 0xFFFF
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    want, _, scope = dst.partition("%")
    to = (want, 0, 0, socket.if_nametoindex(scope) if scope else 0)
    st = {"seq": 0, "recv": 0}
    body = b"hamasq-vrrp6-probe"

    def send_one():
        # The kernel fills in the ICMPv6 checksum (RFC 3542 §3.1).
        st["seq"] = seq = (st["seq"] + 1) & 0xFFFF
        s.sendto(struct.pack("!BBHHH", 128, 0, 0, ident, seq) + body, to)

    def on_datagram(data, addr, ts):
        if len(data) < 8:
            return
        typ, _, _, rid, rseq = struct.unpack("!BBHHH", data[:8])
        if typ != 129 or rid != ident or addr[0].split("%")[0] != want:
            return
        st["recv"] += 1
        haprobe.emit("reply %.6f %d" % (ts, rseq))

    sent = haprobe.paced(s, interval, secs, send_one, on_datagram)
    haprobe.emit("# sent %d received %d" % (sent, st["recv"]))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    ping6(sys.argv[1], float(sys.argv[2]), float(sys.argv[3]))
