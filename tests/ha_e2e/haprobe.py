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

    haprobe.py ping DST INTERVAL SECS
        An ICMP echo to DST every INTERVAL on an absolute schedule.
            reply T SEQ              (T: kernel receive time)

    haprobe.py dns SERVER NAME INTERVAL SECS
        A UDP query (A NAME, RD) to SERVER:53 every INTERVAL, fresh ID.
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


def dhcp_packet(msgtype, xid, mac, extra_opts=b"", ciaddr=b"\0\0\0\0", bcast=True):
    hdr = struct.pack(
        "!BBBBIHH4s4s4s4s16s64s128s",
        1, 1, 6, 0, xid, 0, 0x8000 if bcast else 0,
        ciaddr, b"\0" * 4, b"\0" * 4, b"\0" * 4,
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
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    pending = set()
    st = {"qid": random.randrange(1 << 16), "recv": 0}

    def send_one():
        st["qid"] = qid = (st["qid"] + 1) & 0xFFFF
        pending.add(qid)
        if len(pending) > 1000:
            pending.pop()
        s.sendto(dns_query(qid, name), (server, 53))

    def on_datagram(data, addr, ts):
        if addr[0] != server:
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
