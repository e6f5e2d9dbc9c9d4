#!/usr/bin/python3
"""Paced DNS load with per-query accounting (standard library only).

Used by tests/dns_e2e.rs and contrib/bench/dns.sh; run with
/usr/bin/python3 inside a lab namespace.

    dnsprobe.py SERVER QPS SECONDS TEMPLATE [GRACE_S]

Sends QPS A queries a second for SECONDS to SERVER:53 over UDP from one
socket, without waiting for answers (open loop: a slow server does not slow
the sender down). The names come from TEMPLATE, where `{n}` is the query's
sequence number and `{r}` a random 10-letter label, e.g. `{r}.corp` (a
water-torture flood) or `n{n}.miss.example`. Each query has its own ID, so
up to 65,536 queries can be told apart. After the last send it keeps
reading for GRACE_S seconds (default 6: past a 5 s upstream give-up).

Prints one line:
    asked=N answered=N noerror=N nxdomain=N servfail=N refused=N other=N
    lat_med_ms=X lat_p90_ms=X lat_max_ms=X
where lat_* are over the answered queries (send to reply), and a reply
only counts if it carries an ID we sent and the name we asked.
"""

import random
import select
import socket
import string
import struct
import sys
import time

# Beside this script (Python puts its directory first on sys.path).
from fake_upstream import encode_name


def main():
    server, qps, secs, template = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    grace = float(sys.argv[5]) if len(sys.argv) > 5 else 6.0
    total = min(int(qps * secs), 65536)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.setblocking(False)
    rng = random.Random()
    ids = list(range(65536))
    rng.shuffle(ids)
    sent = {}  # id -> (question bytes, send time)
    got = {}   # id -> (rcode, latency s)
    counts = {0: "noerror", 2: "servfail", 3: "nxdomain", 5: "refused"}
    start = time.monotonic()
    n = 0

    def read():
        while True:
            try:
                pkt = sock.recv(4096)
            except BlockingIOError:
                return
            if len(pkt) < 12:
                continue
            qid, flags = struct.unpack("!HH", pkt[:4])
            s = sent.get(qid)
            if s is None or qid in got or not flags & 0x8000:
                continue
            question, t = s
            if pkt[12:12 + len(question)].lower() != question:
                continue
            got[qid] = (flags & 0xF, time.monotonic() - t)

    while n < total:
        now = time.monotonic()
        due = start + n / qps
        if now < due:
            select.select([sock], [], [], due - now)
            read()
            continue
        name = template.replace("{n}", str(n)).replace(
            "{r}", "".join(rng.choice(string.ascii_lowercase) for _ in range(10)))
        qid = ids[n]
        question = encode_name(name.lower()) + struct.pack("!HH", 1, 1)
        msg = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question
        sent[qid] = (question, time.monotonic())
        try:
            sock.sendto(msg, (server, 53))
        except (BlockingIOError, OSError):
            pass
        n += 1
        read()
    end = time.monotonic() + grace
    while len(got) < len(sent) and time.monotonic() < end:
        select.select([sock], [], [], max(0.0, end - time.monotonic()))
        read()

    tally = {"noerror": 0, "nxdomain": 0, "servfail": 0, "refused": 0, "other": 0}
    for rc, _ in got.values():
        tally[counts.get(rc, "other")] += 1
    lat = sorted(l * 1000 for _, l in got.values())

    def pct(p):
        if not lat:
            return "nan"
        return "%.1f" % lat[min(len(lat) - 1, int(len(lat) * p))]

    print("asked=%d answered=%d %s lat_med_ms=%s lat_p90_ms=%s lat_max_ms=%s" % (
        len(sent), len(got), " ".join("%s=%d" % kv for kv in tally.items()),
        pct(0.5), pct(0.9), "%.1f" % lat[-1] if lat else "nan"), flush=True)


if __name__ == "__main__":
    main()
