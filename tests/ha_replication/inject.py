#!/usr/bin/python3
"""Connects to a hamasq pair link as an attacker or a stranger would, for
tests/ha_replication.rs. Standard library only.

    inject.py --to IP [--port 6740] --bind IP [--key FILE] [--pcap FILE] MODE

Modes (the test's namespace holds the --bind address):

* stranger        a correct handshake with the right key, from an address
                  that is not the configured peer's: refused at accept.
* junk            random bytes instead of a HELLO.
* wrong-proof     a well-formed HELLO, then an AUTH with a random proof.
* replay-session  every byte the real peer sent on a connection recorded
                  in --pcap (HELLO, AUTH, RESUME, CHANGE, ...), sent again
                  on a new connection: the old AUTH cannot match the new
                  nonces.
* bad-tag         a correct handshake (--key) and RESUME, then a CHANGE
                  frame (a lease named "forged") whose tag is random.
* replay-frame    a correct handshake (--key) and RESUME, then the first
                  CHANGE frame of the recorded connection, byte for byte
                  (its tag belongs to the old session).
* control         a correct handshake, RESUME and a correctly tagged CHANGE
                  (a lease named "control"); waits for the ACK. Shows that
                  the framing above is right, so what was refused was
                  refused for its tag or proof alone.

Prints one line: `MODE result=... after_ms=N kinds=[...]`, where result
is `closed` (the box ended the connection), `acked` (control only) or
`open` (nothing happened within 8 s), and kinds the frame kinds received.
"""

import argparse
import hashlib
import hmac
import os
import socket
import struct
import sys
import time

MAGIC = b"HQHA"
KIND_HELLO, KIND_AUTH = 1, 2
KIND_RESUME, KIND_CHANGE, KIND_ACK = 32, 33, 36
TAG_LEN = 16


def mac(key, *parts):
    m = hmac.new(key, digestmod=hashlib.sha256)
    for p in parts:
        m.update(p)
    return m.digest()


def frame(kind, body, tag=b""):
    return struct.pack(">IB", 1 + len(body) + len(tag), kind) + body + tag


class Conn:
    def __init__(self, to, port, bind):
        self.s = socket.create_connection((to, port), timeout=8, source_address=(bind, 0))
        self.buf = b""
        self.kinds = []
        self.t0 = time.monotonic()

    def read_frame(self):
        """One frame (kind, body+tag), or None at EOF or a reset."""
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    f, self.buf = self.buf[: 4 + n], self.buf[4 + n :]
                    self.kinds.append(f[4])
                    return f[4], f[5:]
            try:
                b = self.s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                return None
            if not b:
                return None
            self.buf += b

    def until_closed(self):
        while self.read_frame() is not None:
            pass
        return int((time.monotonic() - self.t0) * 1000)


class Session:
    """The connector's keys (src/ha/auth.rs)."""

    def __init__(self, psk, c_hello, a_hello):
        self.session = mac(psk, b"hamasq-ha-v1", c_hello, a_hello)
        self.send_key = mac(self.session, b"frames connector")
        self.sent = 0

    def proof(self):
        return mac(self.session, b"proof connector")

    def sealed(self, kind, body):
        head = struct.pack(">IB", 1 + len(body) + TAG_LEN, kind)
        tag = mac(self.send_key, struct.pack(">Q", self.sent), head, body)[:TAG_LEN]
        self.sent += 1
        return head + body + tag


def hello(bind):
    return MAGIC + b"\x01" + os.urandom(32) + socket.inet_aton(bind)


def handshake(c, psk, bind):
    """HELLO and AUTH as the connector; the session, or None if the box
    closed first."""
    mine = hello(bind)
    c.s.sendall(frame(KIND_HELLO, mine))
    f = c.read_frame()
    if f is None or f[0] != KIND_HELLO:
        return None
    s = Session(psk, mine, f[1])
    c.s.sendall(frame(KIND_AUTH, s.proof()))
    f = c.read_frame()
    if f is None or f[0] != KIND_AUTH:
        return None
    return s


def resume(s):
    body = struct.pack(">QQQQ", int.from_bytes(os.urandom(8), "big") | 1, 0, 0, int(time.time()))
    return s.sealed(KIND_RESUME, body)


def upsert(ip, name, mac6):
    """A CHANGE body: seq 1, an upsert of ip for 600 s."""
    n = name.encode()
    rec = (
        b"\x01" + socket.inet_aton(ip) + struct.pack(">I", 600)
        + b"\x01\x06" + mac6 + b"\xff" + bytes([len(n)]) + n
    )
    return struct.pack(">Q", 1) + rec


def recorded_stream(pcap, src, port):
    """The bytes `src` sent to `port` on the first connection that carried
    any in a pcap (Ethernet, IPv4, TCP), in sequence order, each segment
    once (refused attempts and retransmissions skipped)."""
    data = open(pcap, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    at, segs, sport = 24, {}, None
    while at + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[at : at + 16])
        pkt = data[at + 16 : at + 16 + incl]
        at += 16 + incl
        if len(pkt) < 34 or pkt[12:14] != b"\x08\x00" or pkt[23] != 6:
            continue
        ip = pkt[14:]
        ihl = (ip[0] & 15) * 4
        if socket.inet_ntoa(ip[12:16]) != src:
            continue
        total = struct.unpack(">H", ip[2:4])[0]
        tcp = ip[ihl:total]
        sp, dp, seq = struct.unpack(">HHI", tcp[:8])
        payload = tcp[(tcp[12] >> 4) * 4 :]
        if dp != port or not payload:
            continue
        if sport is None:
            sport = sp
        if sp == sport:
            segs.setdefault(seq, payload)
    return b"".join(segs[k] for k in sorted(segs))


def frames_of(stream):
    out, at = [], 0
    while at + 4 <= len(stream):
        n = struct.unpack(">I", stream[at : at + 4])[0]
        out.append(stream[at : at + 4 + n])
        at += 4 + n
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--to", required=True)
    ap.add_argument("--port", type=int, default=6740)
    ap.add_argument("--bind", required=True)
    ap.add_argument("--key")
    ap.add_argument("--pcap")
    ap.add_argument("--peer", help="the recorded sender's address (replay modes)")
    ap.add_argument("mode")
    a = ap.parse_args()
    psk = bytes.fromhex("".join(open(a.key).read().split())) if a.key else b""
    c = Conn(a.to, a.port, a.bind)
    try:
        return attack(a, psk, c)
    except (BrokenPipeError, ConnectionResetError):
        ms = int((time.monotonic() - c.t0) * 1000)
        print(f"{a.mode} result=closed after_ms={ms} kinds={c.kinds}")
        return 0


def attack(a, psk, c):
    result = "closed"
    if a.mode == "stranger":
        handshake(c, psk, a.bind)
    elif a.mode == "junk":
        c.s.sendall(os.urandom(64))
    elif a.mode == "wrong-proof":
        c.s.sendall(frame(KIND_HELLO, hello(a.bind)))
        if c.read_frame() is not None:
            c.s.sendall(frame(KIND_AUTH, os.urandom(32)))
    elif a.mode == "replay-session":
        c.s.sendall(recorded_stream(a.pcap, a.peer, a.port))
    elif a.mode in ("bad-tag", "replay-frame", "control"):
        s = handshake(c, psk, a.bind)
        if s is None:
            print(f"{a.mode} result=no_handshake kinds={c.kinds}")
            return 1
        c.s.sendall(resume(s))
        if a.mode == "bad-tag":
            body = upsert("192.168.79.97", "forged", b"\x02\x00\x00\x00\x00\x97")
            c.s.sendall(frame(KIND_CHANGE, body, os.urandom(TAG_LEN)))
        elif a.mode == "replay-frame":
            old = [f for f in frames_of(recorded_stream(a.pcap, a.peer, a.port)) if f[4] == KIND_CHANGE]
            if not old:
                print(f"{a.mode} result=nothing_recorded kinds={c.kinds}")
                return 1
            c.s.sendall(old[0])
        else:
            body = upsert("192.168.79.98", "control", b"\x02\x00\x00\x00\x00\x98")
            c.s.sendall(s.sealed(KIND_CHANGE, body))
            while True:
                f = c.read_frame()
                if f is None:
                    break
                if f[0] == KIND_ACK:
                    result = "acked"
                    break
            ms = int((time.monotonic() - c.t0) * 1000)
            print(f"{a.mode} result={result} after_ms={ms} kinds={c.kinds}")
            return 0 if result == "acked" else 1
    else:
        print(f"unknown mode {a.mode}", file=sys.stderr)
        return 2
    try:
        ms = c.until_closed()
    except OSError:
        ms = int((time.monotonic() - c.t0) * 1000)
    if ms >= 8000:
        result = "open"
    print(f"{a.mode} result={result} after_ms={ms} kinds={c.kinds}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
