#!/usr/bin/python3
"""Mixed LAN floods for contrib/bench/soak.sh. Standard library only; run
with /usr/bin/python3 inside the soak's client namespace, as root.

    soakload.py IFACE SERVER SECS DNS_QPS DHCP_PPS VRRP_PPS FORGE255_EVERY

Paced on one absolute schedule per kind, for SECS seconds (or until
SIGINT/SIGTERM), all bounded:
  * DNS: DNS_QPS UDP queries to SERVER:53, half for 200 names that stay
    cached, half for fresh random names (each a cache miss forwarded
    upstream); answers are counted.
  * DHCP: DHCP_PPS DISCOVERs, each from a fresh random MAC, broadcast on
    IFACE; OFFERs to them (xid 0x5A......) are counted.
  * VRRP: VRRP_PPS forged VRRPv3 adverts for VRID 51 at priority 50 (a
    lower claim the Active router must assert over, RFC 9568 §6.4.3), and
    every FORGE255_EVERY seconds (0 = never) three priority-255 adverts
    with a 40.95 s interval (issue 17 item 7: the Backup must be Active
    again within a few seconds, not minutes).
Every 10 s, and at the end, one line:
    load T dns_sent N dns_answered N dhcp_sent N dhcp_offers N vrrp_sent N forged255 N
"""

import os
import random
import select
import socket
import struct
import sys
import time

# The packet builders are haprobe.py's (the HA tests' and benchmarks' probe).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../tests/ha_e2e"))
import haprobe  # noqa: E402  (also installs the SIGINT/SIGTERM handlers: haprobe.stop)
from haprobe import csum, dhcp_packet, dns_query  # noqa: E402


def advert(prio, centis, vip):
    """A VRRPv3 advert, checksum over the message (RFC 9568 §5.2.8)."""
    body = struct.pack("!BBBBHH", 0x31, 51, prio, 1, centis & 0x0FFF, 0) + socket.inet_aton(vip)
    c = csum(body)
    return body[:6] + struct.pack("!H", c) + body[8:]


def due(now, nxt, rate, send_one):
    """Calls send_one for each slot of a `rate`/s schedule that is due at
    `now` (at most 50 per call); returns the next slot."""
    for _ in range(50):
        if rate <= 0 or now < nxt:
            break
        send_one()
        nxt += 1.0 / rate
    return nxt


def main(argv):
    iface, server, secs = argv[1], argv[2], float(argv[3])
    dns_qps, dhcp_pps, vrrp_pps = float(argv[4]), float(argv[5]), float(argv[6])
    forge_every = float(argv[7])
    vip = os.environ.get("SOAK_VIP", "10.98.0.254")

    d = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    d.setblocking(False)
    h = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    h.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    h.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    h.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
    h.bind(("0.0.0.0", 68))
    h.setblocking(False)
    v = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
    v.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
    v.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 255)
    v.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())

    n = dict(dns_sent=0, dns_answered=0, dhcp_sent=0, dhcp_offers=0, vrrp_sent=0, forged255=0)
    t0 = time.monotonic()
    next_dns = next_dhcp = next_vrrp = t0
    next_forge = t0 + forge_every if forge_every > 0 else float("inf")
    next_report = t0 + 10
    low = advert(50, 100, vip)
    high = advert(255, 4095, vip)

    def send(sock, data, to, counter):
        try:
            sock.sendto(data, to)
            n[counter] += 1
        except OSError:
            pass

    def send_dns():
        if random.random() < 0.5:
            name = "h%d.cached.soak" % random.randrange(200)
        else:
            name = "r%016x.fresh.soak" % random.getrandbits(64)
        send(d, dns_query(random.getrandbits(16), name), (server, 53), "dns_sent")

    def send_discover():
        mac = bytes([0x02, 0x5A] + [random.randrange(256) for _ in range(4)])
        # xid 0x5A...... marks ours: haprobe's DORA clients share port 68.
        xid = 0x5A000000 | random.getrandbits(24)
        send(h, dhcp_packet(1, xid, mac), ("255.255.255.255", 67), "dhcp_sent")

    def send_low():
        send(v, low, ("224.0.0.18", 0), "vrrp_sent")

    def report():
        print("load %.3f %s" % (time.time(), " ".join("%s %d" % kv for kv in n.items())), flush=True)

    while not haprobe.stop:
        now = time.monotonic()
        if now - t0 >= secs:
            break
        # Bounded catch-up: at most 50 of each kind per turn.
        next_dns = due(now, next_dns, dns_qps, send_dns)
        next_dhcp = due(now, next_dhcp, dhcp_pps, send_discover)
        next_vrrp = due(now, next_vrrp, vrrp_pps, send_low)
        if now >= next_forge:
            for _ in range(3):
                send(v, high, ("224.0.0.18", 0), "forged255")
            next_forge += forge_every
        if now >= next_report:
            report()
            next_report += 10
        wait = max(0.0, min(next_dns, next_dhcp, next_vrrp, next_forge, next_report) - time.monotonic())
        r, _, _ = select.select([d, h], [], [], min(wait, 0.05))
        for s in r:
            for _ in range(256):
                try:
                    data = s.recv(2048)
                except (BlockingIOError, InterruptedError):
                    break
                if s is d:
                    n["dns_answered"] += 1
                elif len(data) > 242 and data[4] == 0x5A and b"\x35\x01\x02" in data[240:]:
                    n["dhcp_offers"] += 1
    report()


if __name__ == "__main__":
    main(sys.argv)
