#!/usr/bin/python3
"""A slow fake DNS upstream that forges replies to the forwarder querying it.

Used by tests/dns_e2e.rs (forged-reply tests); standard library only, run
with /usr/bin/python3 inside the upstream's lab namespace, as root (raw
socket).

    fake_upstream.py LISTEN_IP DELAY_MS GENUINE_IP POISON_PREFIX

It listens on LISTEN_IP:53/udp; LISTEN_IP may be IPv6, link-local with its
interface (fe80::5%eth0): forgeries then go out through a raw IPv6
socket, and "srcip" comes from LISTEN_IP + 0x100. For every query it prints one line
`query id=ID sport=PORT name=NAME` (the forwarder's query as seen on the
wire of the upstream's namespace: source port, ID and question), then at
once injects, through a raw IP socket, the forged replies chosen by the
first label of the name, and only DELAY_MS later sends the genuine answer
(A GENUINE_IP, TTL 300) from its own socket, so that every forgery reaches
the forwarder first.

Forgeries (each carries the poisoned address POISON_PREFIX.N, N per kind;
everything not named is exactly right):
    port        source port 5353 instead of 53                 N = 1
    id          query ID + 1                                   N = 2
    question    question section for another name (evil.NAME's
                zone), answer for the queried name            N = 3
    noquestion  QDCOUNT 0, answer for the queried name         N = 4
    srcip       source address LISTEN_IP's last octet + 100    N = 5
    all         all of the above, in that order
    perfect     nothing wrong at all: the control, which any forwarder
                must take (it cannot be told from the genuine answer),
                proving the injected packets arrive, and arrive first  N = 9
    (anything else: no forgery)
A line `forged KIND id=ID dport=PORT` is printed per forgery sent and
`answered id=ID name=NAME` once the genuine answer is sent.
"""

import ipaddress
import socket
import struct
import sys
import threading

KINDS = ["port", "id", "question", "noquestion", "srcip"]


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def parse_query(pkt):
    """(id, flags, qname, qtype, qclass, question_bytes) or None."""
    if len(pkt) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", pkt[:6])
    if qd != 1 or flags & 0x8000:
        return None
    off, labels = 12, []
    while True:
        if off >= len(pkt):
            return None
        n = pkt[off]
        off += 1
        if n == 0:
            break
        if n & 0xC0:
            return None
        labels.append(pkt[off:off + n].decode("ascii", "replace"))
        off += n
    if off + 4 > len(pkt):
        return None
    qtype, qclass = struct.unpack("!HH", pkt[off:off + 4])
    return qid, flags, ".".join(labels), qtype, qclass, pkt[12:off + 4]


def reply(qid, rd, question, owner, addr, qdcount=1):
    """A reply with one A record `owner` -> `addr` (TTL 300)."""
    flags = 0x8400 | rd  # QR AA (+RD copied), NOERROR
    hdr = struct.pack("!HHHHHH", qid, flags, qdcount, 1, 0, 0)
    rr = encode_name(owner) + struct.pack("!HHIH", 1, 1, 300, 4) + socket.inet_aton(addr)
    return hdr + (question if qdcount else b"") + rr


def raw_udp6(raw, src, sport, dst, dport, payload, scope):
    # An IPPROTO_RAW socket of AF_INET6 includes the header (Linux raw(7));
    # UDP checksum over the RFC 8200 §8.1 pseudo-header.
    s6, d6 = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
    udp_len = 8 + len(payload)
    pseudo = s6 + d6 + struct.pack("!I3xB", udp_len, 17)
    udp = struct.pack("!HHHH", sport, dport, udp_len, 0) + payload
    csum = checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", csum) + udp[8:]
    ip = struct.pack("!IHBB16s16s", 0x60000000, udp_len, 17, 64, s6, d6)
    raw.sendto(ip + udp, (dst, 0, 0, scope))


def raw_udp(raw, src, sport, dst, dport, payload):
    if ":" in src:
        return raw_udp6(raw, src, sport, dst, dport, payload, raw_udp.scope)
    udp_len = 8 + len(payload)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 17, udp_len)
    udp = struct.pack("!HHHH", sport, dport, udp_len, 0) + payload
    csum = checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", csum) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0x4242, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    raw.sendto(ip + udp, (dst, 0))


def main():
    listen, delay_ms, genuine, poison = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    if ":" in listen:
        listen, _, ifname = listen.partition("%")
        scope = socket.if_nametoindex(ifname) if ifname else 0
        other_src = str(ipaddress.IPv6Address(listen) + 0x100)
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((listen, 53, 0, scope))
        raw = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
        raw_udp.scope = scope
    else:
        other_src = ".".join(listen.split(".")[:3] + [str((int(listen.split(".")[3]) + 100) % 256)])
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((listen, 53))
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    lock = threading.Lock()

    def say(line):
        with lock:
            print(line, flush=True)

    say("fake-upstream ready on %s:53 delay=%dms" % (listen, delay_ms))
    while True:
        pkt, peer = sock.recvfrom(4096)
        cip, cport = peer[0], peer[1]
        q = parse_query(pkt)
        if q is None:
            continue
        qid, flags, name, qtype, qclass, question = q
        rd = flags & 0x0100
        say("query id=%d sport=%d name=%s type=%d" % (qid, cport, name, qtype))
        first = name.split(".")[0].lower()
        kinds = KINDS if first == "all" else [first] if first in KINDS + ["perfect"] else []
        if qtype != 1:
            kinds = []  # only A queries are forged (and answered with data)
        for kind in kinds:
            n = KINDS.index(kind) + 1 if kind in KINDS else 9
            bad = "%s.%d" % (poison, n)
            src, sport, rid, qd, qsec = listen, 53, qid, 1, question
            if kind == "port":
                sport = 5353
            elif kind == "id":
                rid = (qid + 1) & 0xFFFF
            elif kind == "question":
                qsec = encode_name("evil." + name.split(".", 1)[1]) + struct.pack("!HH", 1, 1)
            elif kind == "noquestion":
                qd = 0
            elif kind == "srcip":
                src = other_src
            raw_udp(raw, src, sport, cip, cport, reply(rid, rd, qsec, name, bad, qd))
            say("forged %s id=%d dport=%d addr=%s" % (kind, rid, cport, bad))

        def answer(qid=qid, rd=rd, question=question, name=name, qtype=qtype, dst=peer):
            if qtype == 1:
                msg = reply(qid, rd, question, name, genuine)
            else:  # NOERROR, no data
                msg = struct.pack("!HHHHHH", qid, 0x8400 | rd, 1, 0, 0, 0) + question
            sock.sendto(msg, dst)
            say("answered id=%d name=%s" % (qid, name))

        threading.Timer(delay_ms / 1000.0, answer).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
