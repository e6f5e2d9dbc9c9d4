#!/usr/bin/python3
"""Measuring clients for the HA tests (tests/ha_e2e.rs) and the HA
benchmark (contrib/bench/ha.sh). Standard library only; run with
/usr/bin/python3 inside a lab namespace, as root.

Every mode runs until SECS have passed or SIGINT/SIGTERM arrives, prints
one line per event with a wall-clock time (Unix seconds, microseconds),
flushed at once, and a final `# ...` summary line. Every loop is bounded
by SECS.

    haprobe.py dora IFACE INTERVAL SECS MACPREFIX [release] [timeout=S]
        Starts a full DORA every INTERVAL seconds, each from a fresh MAC
        (MACPREFIX, two bytes like 02:aa, then a 4-byte counter), with
        the broadcast flag set, so replies come back broadcast whatever
        address this host has. Exchanges run side by side, each matched by
        its xid; one that has no ACK after `timeout` (default 3 s) is
        abandoned (no retransmissions: the next exchange starts anyway).
            ack T IP SID MAC MS      exchange done (MS: DISCOVER -> ACK)
            nak T SID MAC            a NAK ended the exchange
            offer T IP SID MAC       (every OFFER, first one taken)
        With `release`, each ACKed address is released at once (unicast
        RELEASE to the server identifier), so a small pool lasts.

    haprobe.py starve SERVER GIADDR FLOOD_RATE CLIENTS START EVERY SECS
        Plays a DHCP relay at GIADDR (binds GIADDR:67) for two kinds of
        clients of SERVER (issue 17, item 3): a flood of FLOOD_RATE
        DISCOVERs a second, each from a random MAC (02:f1:...), that never
        REQUEST; and CLIENTS real clients (02:c1:00:00:NN:NN), the first
        START seconds in, then one every EVERY seconds. A real client
        REQUESTs the first OFFER it gets; without one (or without an ACK
        4 s after its REQUEST, or after a NAK) it DISCOVERs again after 4,
        8, 16, 32, 64, 64, ... s (RFC 2131 §4.1, without the jitter).
            lease T IP MAC WAIT_MS TRIES   (WAIT: first DISCOVER -> ACK)
        Summary: `# clients N leased M longest_ms W flood_sent F
        flood_offers O`; clients never leased count as waiting until SECS.

    haprobe.py ping DST INTERVAL SECS
        An ICMP echo to DST every INTERVAL on an absolute schedule.
            reply T SEQ              (T: kernel receive time)

    haprobe.py dns SERVER NAME INTERVAL SECS
        A UDP query (A NAME, RD) to SERVER:53 every INTERVAL, fresh ID;
        SERVER is IPv4 or IPv6 (fe80::1%eth0 for a link-local one).
            answer T RCODE IPS       (IPS: comma-separated A records or -)

The summary lines: `# sent N received M`.
"""

import os
import random
import select
import signal
import socket
import struct
import sys
import time

stop = False


def on_sig(*_):
    global stop
    stop = True


signal.signal(signal.SIGINT, on_sig)
signal.signal(signal.SIGTERM, on_sig)
out = sys.stdout


def emit(line):
    out.write(line + "\n")
    out.flush()


# ----------------------------------------------------------------- DHCP
MAGIC = b"\x63\x82\x53\x63"


def dhcp_packet(msgtype, xid, mac, extra_opts=b"", ciaddr=b"\0\0\0\0", bcast=True,
                giaddr=b"\0\0\0\0"):
    hops = 0 if giaddr == b"\0\0\0\0" else 1
    hdr = struct.pack(
        "!BBBBIHH4s4s4s4s16s64s128s",
        1, 1, 6, hops, xid, 0, 0x8000 if bcast else 0,
        ciaddr, b"\0" * 4, b"\0" * 4, giaddr,
        mac + b"\0" * 10, b"", b"",
    )
    opts = bytes([53, 1, msgtype])
    opts += bytes([61, 7, 1]) + mac
    opts += bytes([55, 4, 1, 3, 6, 51])
    opts += extra_opts + b"\xff"
    return hdr + MAGIC + opts


def parse_dhcp(data):
    if len(data) < 240 or data[0] != 2 or data[236:240] != MAGIC:
        return None
    xid = struct.unpack("!I", data[4:8])[0]
    yiaddr = socket.inet_ntoa(data[16:20])
    mac = data[28:34]
    opts = {}
    i = 240
    while i < len(data):
        code = data[i]
        if code == 255:
            break
        if code == 0:
            i += 1
            continue
        if i + 1 >= len(data):
            break
        ln = data[i + 1]
        opts[code] = data[i + 2:i + 2 + ln]
        i += 2 + ln
    mt = opts.get(53, b"\0")[0]
    sid = socket.inet_ntoa(opts[54]) if len(opts.get(54, b"")) == 4 else "-"
    return xid, mt, yiaddr, sid, mac


def macstr(mac):
    return ":".join("%02x" % b for b in mac)


def dora(iface, interval, secs, prefix, release, timeout):
    pre = bytes(int(x, 16) for x in prefix.split(":"))
    assert len(pre) == 2
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
    s.bind(("0.0.0.0", 68))
    live = {}  # xid -> [mac, start, state]  state: 0 discover, 1 request
    st = {"counter": random.randrange(1 << 20) << 8, "acks": 0, "naks": 0}

    def send_one():
        now = time.monotonic()
        for x in [x for x, v in live.items() if now - v[1] > timeout]:
            del live[x]
        st["counter"] += 1
        mac = pre + struct.pack("!I", st["counter"] & 0xFFFFFFFF)
        xid = random.randrange(1 << 32)
        live[xid] = [mac, now, 0]
        try:
            s.sendto(dhcp_packet(1, xid, mac), ("255.255.255.255", 67))
        except OSError as e:
            emit("# send error %s" % e)
            raise

    def on_datagram(data, _addr, t):
        p = parse_dhcp(data)
        if p is None:
            return
        xid, mt, yiaddr, sid, mac = p
        ex = live.get(xid)
        if ex is None or ex[0] != mac:
            return
        if mt == 2:  # OFFER
            emit("offer %.6f %s %s %s" % (t, yiaddr, sid, macstr(mac)))
            if ex[2] != 0:
                return
            ex[2] = 1
            opts = bytes([50, 4]) + socket.inet_aton(yiaddr)
            if sid != "-":
                opts += bytes([54, 4]) + socket.inet_aton(sid)
            try:
                s.sendto(dhcp_packet(3, xid, mac, opts), ("255.255.255.255", 67))
            except OSError as e:
                emit("# send error %s" % e)
        elif mt == 5 and ex[2] == 1:  # ACK
            st["acks"] += 1
            emit("ack %.6f %s %s %s %.1f" % (t, yiaddr, sid, macstr(mac),
                                             (time.monotonic() - ex[1]) * 1000))
            del live[xid]
            if release and sid != "-":
                rel = dhcp_packet(7, random.randrange(1 << 32), mac,
                                  bytes([54, 4]) + socket.inet_aton(sid),
                                  ciaddr=socket.inet_aton(yiaddr), bcast=False)
                try:
                    s.sendto(rel, (sid, 67))
                except OSError as e:
                    emit("# release error %s" % e)
        elif mt == 6:  # NAK
            st["naks"] += 1
            emit("nak %.6f %s %s" % (t, sid, macstr(mac)))
            del live[xid]

    sent = paced(s, interval, secs, send_one, on_datagram)
    acks, naks = st["acks"], st["naks"]
    emit("# sent %d received %d naks %d" % (sent, acks, naks))


def starve(server, giaddr, flood_rate, clients, start, every, secs):
    gi = socket.inet_aton(giaddr)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((giaddr, 67))
    t0 = time.monotonic()
    # Real clients: mac, first DISCOVER, tries, xid, state (0 waiting to
    # DISCOVER at `due`, 1 DISCOVERed, 2 REQUESTed, 3 leased), due.
    real = []
    for i in range(clients):
        mac = bytes([2, 0xC1, 0, 0, i >> 8, i & 0xFF])
        real.append({"mac": mac, "first": None, "tries": 0, "xid": 0,
                     "state": 0, "due": t0 + start + i * every})
    by_xid = {}
    st = {"flood_sent": 0, "flood_offers": 0, "leased": 0}
    waits = []
    flood_xids = set()

    def send(pkt):
        try:
            s.sendto(pkt, (server, 67))
        except OSError as e:
            emit("# send error %s" % e)

    def discover(c, now):
        if c["first"] is None:
            c["first"] = now
        by_xid.pop(c["xid"], None)
        c["xid"] = random.randrange(1 << 32)
        by_xid[c["xid"]] = c
        c["state"] = 1
        back = min(64.0, 4.0 * (2 ** c["tries"]))
        c["tries"] += 1
        c["due"] = now + back
        send(dhcp_packet(1, c["xid"], c["mac"], giaddr=gi, bcast=False))

    def send_one():
        # Paced at the flood's rate: one flood DISCOVER, and every real
        # client whose timer ran out DISCOVERs (again).
        now = time.monotonic()
        if flood_rate > 0:
            x = random.randrange(1 << 32)
            flood_xids.add(x)
            if len(flood_xids) > 100000:
                flood_xids.clear()
            st["flood_sent"] += 1
            send(dhcp_packet(1, x, bytes([2, 0xF1]) + os.urandom(4), giaddr=gi, bcast=False))
        for c in real:
            if c["state"] != 3 and now >= c["due"]:
                discover(c, now)

    def on_datagram(data, _addr, _ts):
        p = parse_dhcp(data)
        if p is None:
            return
        xid, mt, yiaddr, sid, mac = p
        if xid in flood_xids:
            st["flood_offers"] += mt == 2
            return
        c = by_xid.get(xid)
        if c is None or c["mac"] != mac:
            return
        t = time.monotonic()
        if mt == 2 and c["state"] == 1:
            c["state"] = 2
            c["due"] = t + 4.0
            opts = bytes([50, 4]) + socket.inet_aton(yiaddr)
            if sid != "-":
                opts += bytes([54, 4]) + socket.inet_aton(sid)
            send(dhcp_packet(3, xid, mac, opts, giaddr=gi, bcast=False))
        elif mt == 5 and c["state"] == 2:
            c["state"] = 3
            st["leased"] += 1
            waits.append((t - c["first"]) * 1000)
            emit("lease %.6f %s %s %.1f %d" % (time.time(), yiaddr, macstr(mac),
                                               waits[-1], c["tries"]))
        elif mt == 6:
            c["state"] = 0
            c["due"] = t

    paced(s, 1.0 / flood_rate if flood_rate > 0 else 0.05, secs, send_one, on_datagram)
    end = time.monotonic()
    waits += [(end - c["first"]) * 1000
              for c in real if c["state"] != 3 and c["first"] is not None]
    emit("# clients %d leased %d longest_ms %.0f flood_sent %d flood_offers %d" % (
        clients, st["leased"], max([0.0] + waits), st["flood_sent"], st["flood_offers"]))


# ----------------------------------------------------------------- ICMP
def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xFFFF)
    t += t >> 16
    return ~t & 0xFFFF


def paced(s, interval, secs, send_one, on_datagram, bufsize=2048):
    """Calls send_one() every INTERVAL on an absolute schedule (no burst
    after falling behind) and on_datagram(data, addr, ts) for each datagram
    on socket s (ts: kernel receive time, SO_TIMESTAMPNS), until SECS have
    passed or a signal stops us. Returns how many sends succeeded."""
    s.setsockopt(socket.SOL_SOCKET, 35, 1)  # SO_TIMESTAMPNS
    s.setblocking(False)
    sent = 0
    t_end = time.monotonic() + secs
    nxt = time.monotonic()
    while not stop and time.monotonic() < t_end:
        now = time.monotonic()
        if now >= nxt:
            try:
                send_one()
                sent += 1
            except OSError:
                pass
            nxt += interval
            if nxt < now:
                nxt = now + interval
            continue
        try:
            r, _, _ = select.select([s], [], [], max(0.0, nxt - now))
        except InterruptedError:
            continue
        if not r:
            continue
        while True:
            try:
                data, anc, _, addr = s.recvmsg(bufsize, 256)
            except BlockingIOError:
                break
            ts = time.time()
            for lvl, t, d in anc:
                if lvl == socket.SOL_SOCKET and t == 35:
                    sec, nsec = struct.unpack("qq", d[:16])
                    ts = sec + nsec / 1e9
            on_datagram(data, addr, ts)
    return sent


def ping(dst, interval, secs):
    ident = os.getpid() & 0xFFFF
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    st = {"seq": 0, "recv": 0}
    body = b"hamasq-ha-probe"

    def send_one():
        st["seq"] = seq = (st["seq"] + 1) & 0xFFFF
        hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
        pkt = struct.pack("!BBHHH", 8, 0, csum(hdr + body), ident, seq) + body
        s.sendto(pkt, (dst, 0))

    def on_datagram(data, addr, ts):
        ihl = (data[0] & 15) * 4
        if len(data) < ihl + 8:
            return
        typ, _, _, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
        if typ != 0 or rid != ident or addr[0] != dst:
            return
        st["recv"] += 1
        emit("reply %.6f %d" % (ts, rseq))

    sent = paced(s, interval, secs, send_one, on_datagram)
    emit("# sent %d received %d" % (sent, st["recv"]))


# ----------------------------------------------------------------- DNS
def dns_query(qid, name):
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack("!HH", 1, 1)


def skip_name(data, i):
    while i < len(data):
        ln = data[i]
        if ln == 0:
            return i + 1
        if ln & 0xC0 == 0xC0:
            return i + 2
        i += 1 + ln
    return i


def parse_answer(data):
    if len(data) < 12:
        return None
    qid, flags, qd, an = struct.unpack("!HHHH", data[:8])
    i = 12
    for _ in range(qd):
        i = skip_name(data, i) + 4
    ips = []
    for _ in range(an):
        i = skip_name(data, i)
        if i + 10 > len(data):
            break
        typ, _, _, rdlen = struct.unpack("!HHIH", data[i:i + 10])
        i += 10
        if typ == 1 and rdlen == 4:
            ips.append(socket.inet_ntoa(data[i:i + 4]))
        i += rdlen
    return qid, flags & 15, ips


def dns(server, name, interval, secs):
    # An IPv6 server (a VIP, or a link-local one with %SCOPE) as well.
    fam = socket.AF_INET6 if ":" in server else socket.AF_INET
    want = socket.inet_pton(fam, server.split("%")[0])
    to = socket.getaddrinfo(server, 53, fam, socket.SOCK_DGRAM)[0][4]
    s = socket.socket(fam, socket.SOCK_DGRAM)
    pending = set()
    st = {"qid": random.randrange(1 << 16), "recv": 0}

    def send_one():
        st["qid"] = qid = (st["qid"] + 1) & 0xFFFF
        pending.add(qid)
        if len(pending) > 1000:
            pending.pop()
        s.sendto(dns_query(qid, name), to)

    def on_datagram(data, addr, ts):
        if socket.inet_pton(fam, addr[0].split("%")[0]) != want:
            return
        p = parse_answer(data)
        if p is None or p[0] not in pending:
            return
        pending.discard(p[0])
        st["recv"] += 1
        emit("answer %.6f %d %s" % (ts, p[1], ",".join(p[2]) or "-"))

    sent = paced(s, interval, secs, send_one, on_datagram, bufsize=4096)
    emit("# sent %d received %d" % (sent, st["recv"]))


def main(argv):
    mode = argv[1] if len(argv) > 1 else ""
    if mode == "dora" and len(argv) >= 6:
        extra = argv[6:]
        timeout = 3.0
        for e in extra:
            if e.startswith("timeout="):
                timeout = float(e[8:])
        dora(argv[2], float(argv[3]), float(argv[4]), argv[5], "release" in extra, timeout)
    elif mode == "starve" and len(argv) == 9:
        starve(argv[2], argv[3], float(argv[4]), int(argv[5]), float(argv[6]),
               float(argv[7]), float(argv[8]))
    elif mode == "ping" and len(argv) == 5:
        ping(argv[2], float(argv[3]), float(argv[4]))
    elif mode == "dns" and len(argv) == 6:
        dns(argv[2], argv[3], float(argv[4]), float(argv[5]))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
