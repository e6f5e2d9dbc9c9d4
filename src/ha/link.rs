//! The pair link's connection, sans-IO (design §3, §9): bytes in, bytes
//! out, events up, with `now` passed in. The driver owns the TCP socket;
//! this core owns the handshake, the framing, the MACs, the heartbeat and
//! the dead-peer timer.
//!
//! # Wire format
//!
//! Every frame is `len:u32 | kind:u8 | body | tag`, `len` counting what
//! follows it. The two handshake frames have no tag; every later frame
//! has a 16-byte tag ([`super::auth`]).
//!
//! ```text
//! HELLO  kind 1: "HQHA" | version:u8 (1) | nonce:32 | box address:4
//! AUTH   kind 2: proof:32
//! then   kind ≥ 16, tagged: heartbeat (16) and the replication frames
//! ```
//!
//! Both ends send HELLO at once, then AUTH once they have the other's
//! HELLO, and accept frames only after the other's AUTH checks out. A
//! wrong key, a bad tag (forged, replayed, reordered), an oversized or
//! malformed frame, or silence past the dead-peer time closes the link
//! with a reason that says whose fault it is; the driver counts and logs
//! it and reconnects with backoff.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::Duration;

use super::auth::{End, NONCE_LEN, Psk, Session, TAG_LEN};
use crate::clock::Mono;

const MAGIC: &[u8; 4] = b"HQHA";
const VERSION: u8 = 1;
const KIND_HELLO: u8 = 1;
const KIND_AUTH: u8 = 2;
/// The first kind of an authenticated frame.
pub const KIND_HEARTBEAT: u8 = 16;

/// The largest frame accepted (a full transfer sends many small ones).
pub const MAX_FRAME: usize = 64 * 1024;
const HELLO_LEN: usize = 4 + 1 + NONCE_LEN + 4;

/// Timers of the link.
#[derive(Clone, Copy, Debug)]
pub struct Timers {
    /// A heartbeat goes out when nothing else did for this long.
    pub heartbeat: Duration,
    /// The link closes when nothing came in for this long (also the
    /// handshake's limit).
    pub dead_after: Duration,
}

impl Default for Timers {
    fn default() -> Timers {
        Timers {
            heartbeat: Duration::from_millis(500),
            dead_after: Duration::from_secs(3),
        }
    }
}

/// Why a link closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Close {
    /// The peer does not speak this protocol (not a hamasq, or a port
    /// scan): the peer's fault.
    NotOurProtocol,
    /// Another protocol version.
    Version(u8),
    /// The peer's proof failed: it has another key.
    WrongKey,
    /// A frame failed its tag: forged, replayed, reordered or damaged.
    BadTag,
    /// A frame over [`MAX_FRAME`] or shorter than its header.
    BadLength(usize),
    /// A frame of a kind not allowed at this point.
    Unexpected(u8),
    /// Nothing from the peer for [`Timers::dead_after`].
    Silent,
    /// The peer closed the connection.
    PeerClosed,
    /// This box's lease store could not keep the peer's changes (our
    /// disk's fault): nothing was acknowledged; the next connection
    /// brings them again.
    StoreFailed,
    /// This box is stopping.
    Stopping,
}

impl Close {
    /// A stable name, for counters and log lines.
    pub fn as_str(&self) -> &'static str {
        match self {
            Close::NotOurProtocol => "not_our_protocol",
            Close::Version(_) => "version",
            Close::WrongKey => "wrong_key",
            Close::BadTag => "bad_tag",
            Close::BadLength(_) => "bad_length",
            Close::Unexpected(_) => "unexpected_frame",
            Close::Silent => "peer_silent",
            Close::PeerClosed => "peer_closed",
            Close::StoreFailed => "store_failed",
            Close::Stopping => "stopping",
        }
    }

    /// Whether this is an authentication failure (counted apart: a peer
    /// with the wrong key or someone forging frames).
    pub fn is_auth_failure(&self) -> bool {
        matches!(self, Close::WrongKey | Close::BadTag)
    }

    /// Whether the other end broke the protocol (junk, another version,
    /// a frame too long or out of place): refused and counted like an
    /// authentication failure, but apart from it, since it says "not a
    /// hamasq peer, or another release", not "wrong key".
    pub fn is_protocol_error(&self) -> bool {
        matches!(
            self,
            Close::NotOurProtocol | Close::Version(_) | Close::BadLength(_) | Close::Unexpected(_)
        )
    }
}

/// What the link tells its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Authenticated; the peer said this is its address.
    Up { peer: Ipv4Addr },
    /// An authenticated frame (kind ≥ 16, heartbeats excluded).
    Frame { kind: u8, body: Vec<u8> },
    /// Closed; no more events, and nothing more is sent.
    Closed(Close),
}

enum State {
    /// Our HELLO is out; waiting for the peer's.
    Hello,
    /// Both HELLOs known; waiting for the peer's AUTH.
    Auth(Box<Session>),
    Up(Box<Session>),
    Closed,
}

/// One connection of the pair link.
pub struct Link {
    end: End,
    psk: Psk,
    my_hello: Vec<u8>,
    state: State,
    timers: Timers,
    input: Vec<u8>,
    output: VecDeque<Vec<u8>>,
    /// Bytes in `output`.
    queued: usize,
    events: VecDeque<Event>,
    last_in: Mono,
    last_out: Mono,
    /// The address in the peer's HELLO, reported once it authenticated.
    pending_peer: Option<Ipv4Addr>,
}

impl Link {
    /// A link for one TCP connection; `nonce` must be fresh from the OS.
    /// Our HELLO is queued at once.
    pub fn new(
        end: End,
        psk: Psk,
        nonce: [u8; NONCE_LEN],
        me: Ipv4Addr,
        timers: Timers,
        now: Mono,
    ) -> Link {
        let mut hello = Vec::with_capacity(HELLO_LEN);
        hello.extend_from_slice(MAGIC);
        hello.push(VERSION);
        hello.extend_from_slice(&nonce);
        hello.extend_from_slice(&me.octets());
        let mut l = Link {
            end,
            psk,
            my_hello: hello,
            state: State::Hello,
            timers,
            input: Vec::new(),
            output: VecDeque::new(),
            queued: 0,
            events: VecDeque::new(),
            last_in: now,
            last_out: now,
            pending_peer: None,
        };
        let h = l.my_hello.clone();
        l.queue(KIND_HELLO, &h, None);
        l
    }

    pub fn is_up(&self) -> bool {
        matches!(self.state, State::Up(_))
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Bytes waiting to be written: the owner stops feeding the link
    /// while this is high (bounded buffers; a slow peer holds up nothing).
    pub fn queued(&self) -> usize {
        self.queued
    }

    fn queue(&mut self, kind: u8, body: &[u8], tag: Option<[u8; TAG_LEN]>) {
        let len = 1 + body.len() + tag.map_or(0, |t| t.len());
        let mut f = Vec::with_capacity(4 + len);
        f.extend_from_slice(&(len as u32).to_be_bytes());
        f.push(kind);
        f.extend_from_slice(body);
        if let Some(t) = tag {
            f.extend_from_slice(&t);
        }
        self.queued += f.len();
        self.output.push_back(f);
    }

    /// Sends an authenticated frame; `false` (nothing sent) unless up.
    pub fn send(&mut self, now: Mono, kind: u8, body: &[u8]) -> bool {
        assert!(kind >= KIND_HEARTBEAT, "handshake kinds are the link's own");
        assert!(1 + body.len() + TAG_LEN <= MAX_FRAME, "frame too long");
        let State::Up(s) = &mut self.state else {
            return false;
        };
        let len = (1 + body.len() + TAG_LEN) as u32;
        let mut head = [0u8; 5];
        head[..4].copy_from_slice(&len.to_be_bytes());
        head[4] = kind;
        let tag = s.seal(&head, body);
        self.queue(kind, body, Some(tag));
        self.last_out = now;
        true
    }

    /// The next bytes to write, in order.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        let f = self.output.pop_front()?;
        self.queued -= f.len();
        Some(f)
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Link::handle_timeout`] wants to run.
    pub fn poll_timeout(&self) -> Option<Mono> {
        match self.state {
            State::Closed => None,
            State::Up(_) => Some(
                (self.last_out + self.timers.heartbeat).min(self.last_in + self.timers.dead_after),
            ),
            _ => Some(self.last_in + self.timers.dead_after),
        }
    }

    pub fn handle_timeout(&mut self, now: Mono) {
        if self.is_closed() {
            return;
        }
        if now >= self.last_in + self.timers.dead_after {
            self.close(Close::Silent);
            return;
        }
        if self.is_up() && now >= self.last_out + self.timers.heartbeat {
            self.send(now, KIND_HEARTBEAT, &[]);
        }
    }

    fn close(&mut self, why: Close) {
        // Before AUTH only handshake frames are queued: our proof still
        // goes out, so the other end can tell its operator "wrong key"
        // too. Anything later is dropped.
        if why != Close::WrongKey {
            self.output.clear();
            self.queued = 0;
        }
        self.state = State::Closed;
        self.input = Vec::new();
        self.events.push_back(Event::Closed(why));
    }

    /// The peer closed the connection (EOF or a reset).
    pub fn handle_eof(&mut self) {
        if !self.is_closed() {
            self.close(Close::PeerClosed);
        }
    }

    /// Bytes read from the socket.
    pub fn handle_input(&mut self, now: Mono, bytes: &[u8]) {
        if self.is_closed() {
            return;
        }
        self.input.extend_from_slice(bytes);
        let mut at = 0;
        while !self.is_closed() {
            let rest = &self.input[at..];
            if rest.len() < 4 {
                break;
            }
            let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            if len == 0 || len > MAX_FRAME {
                let why = if matches!(self.state, State::Hello) {
                    Close::NotOurProtocol
                } else {
                    Close::BadLength(len)
                };
                self.close(why);
                return;
            }
            if rest.len() < 4 + len {
                break;
            }
            let frame = rest[..4 + len].to_vec();
            at += 4 + len;
            self.last_in = now;
            self.frame(now, &frame);
        }
        if !self.is_closed() {
            self.input.drain(..at);
        }
    }

    /// One whole frame (header included).
    fn frame(&mut self, now: Mono, f: &[u8]) {
        let kind = f[4];
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Hello => {
                let body = &f[5..];
                if kind != KIND_HELLO || body.len() != HELLO_LEN || &body[..4] != MAGIC {
                    return self.close(Close::NotOurProtocol);
                }
                if body[4] != VERSION {
                    return self.close(Close::Version(body[4]));
                }
                let (c, a) = match self.end {
                    End::Connector => (self.my_hello.as_slice(), body),
                    End::Acceptor => (body, self.my_hello.as_slice()),
                };
                let s = Session::new(&self.psk, self.end, c, a);
                let proof = s.proof();
                self.state = State::Auth(Box::new(s));
                self.queue(KIND_AUTH, &proof, None);
                self.last_out = now;
                let a = &body[5 + NONCE_LEN..];
                self.pending_peer = Some(Ipv4Addr::new(a[0], a[1], a[2], a[3]));
            }
            State::Auth(s) => {
                if kind != KIND_AUTH {
                    return self.close(Close::Unexpected(kind));
                }
                if !s.verify_proof(&f[5..]) {
                    return self.close(Close::WrongKey);
                }
                self.state = State::Up(s);
                let peer = self.pending_peer.take().unwrap_or(Ipv4Addr::UNSPECIFIED);
                self.events.push_back(Event::Up { peer });
            }
            State::Up(mut s) => {
                if f.len() < 5 + TAG_LEN || kind < KIND_HEARTBEAT {
                    return self.close(if kind < KIND_HEARTBEAT {
                        Close::Unexpected(kind)
                    } else {
                        Close::BadLength(f.len() - 4)
                    });
                }
                let (body, tag) = f[5..].split_at(f.len() - 5 - TAG_LEN);
                if !s.open(&f[..5], body, tag) {
                    return self.close(Close::BadTag);
                }
                self.state = State::Up(s);
                if kind != KIND_HEARTBEAT {
                    self.events.push_back(Event::Frame {
                        kind,
                        body: body.to_vec(),
                    });
                }
            }
            State::Closed => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Rng;

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);

    fn psk(b: u8) -> Psk {
        Psk::from_hex(&format!("{b:02x}").repeat(32)).unwrap()
    }

    fn pair(ka: u8, kb: u8) -> (Link, Link) {
        let t = Timers::default();
        (
            Link::new(End::Connector, psk(ka), [1; NONCE_LEN], A, t, Mono(0)),
            Link::new(End::Acceptor, psk(kb), [2; NONCE_LEN], B, t, Mono(0)),
        )
    }

    /// Moves every queued byte from `from` to `to`, `chunk` bytes a time;
    /// returns what crossed.
    fn pump(from: &mut Link, to: &mut Link, now: Mono, chunk: usize) -> Vec<u8> {
        let mut all = Vec::new();
        while let Some(b) = from.poll_transmit() {
            all.extend_from_slice(&b);
        }
        for c in all.chunks(chunk.max(1)) {
            to.handle_input(now, c);
        }
        all
    }

    fn events(l: &mut Link) -> Vec<Event> {
        std::iter::from_fn(|| l.poll_event()).collect()
    }

    fn up(chunk: usize) -> (Link, Link) {
        let (mut c, mut a) = pair(7, 7);
        for _ in 0..3 {
            pump(&mut c, &mut a, Mono(1), chunk);
            pump(&mut a, &mut c, Mono(1), chunk);
        }
        assert_eq!(events(&mut c), vec![Event::Up { peer: B }]);
        assert_eq!(events(&mut a), vec![Event::Up { peer: A }]);
        (c, a)
    }

    #[test]
    fn the_same_key_comes_up_and_frames_cross_both_ways_in_any_chunking() {
        for chunk in [1, 3, 7, 64, 4096] {
            let (mut c, mut a) = up(chunk);
            assert!(c.send(Mono(2), 20, b"lease one"));
            assert!(c.send(Mono(2), 21, b""));
            assert!(a.send(Mono(2), 22, b"ack"));
            pump(&mut c, &mut a, Mono(3), chunk);
            pump(&mut a, &mut c, Mono(3), chunk);
            assert_eq!(
                events(&mut a),
                vec![
                    Event::Frame {
                        kind: 20,
                        body: b"lease one".to_vec()
                    },
                    Event::Frame {
                        kind: 21,
                        body: vec![]
                    },
                ]
            );
            assert_eq!(
                events(&mut c),
                vec![Event::Frame {
                    kind: 22,
                    body: b"ack".to_vec()
                }]
            );
        }
    }

    #[test]
    fn a_wrong_key_is_refused_on_both_ends_and_nothing_passes() {
        let (mut c, mut a) = pair(7, 8);
        for _ in 0..3 {
            pump(&mut c, &mut a, Mono(1), 64);
            pump(&mut a, &mut c, Mono(1), 64);
        }
        assert_eq!(events(&mut c), vec![Event::Closed(Close::WrongKey)]);
        assert_eq!(events(&mut a), vec![Event::Closed(Close::WrongKey)]);
        assert!(!c.send(Mono(2), 20, b"x"));
        assert!(Close::WrongKey.is_auth_failure());
        assert!(!Close::WrongKey.is_protocol_error());
    }

    #[test]
    fn each_close_is_one_kind_of_fault_or_none() {
        // Counted as exactly one of auth failure / protocol error, or
        // neither (the peer went away: nobody's fault to count).
        for (c, auth, proto) in [
            (Close::NotOurProtocol, false, true),
            (Close::Version(2), false, true),
            (Close::WrongKey, true, false),
            (Close::BadTag, true, false),
            (Close::BadLength(1 << 20), false, true),
            (Close::Unexpected(KIND_AUTH), false, true),
            (Close::Silent, false, false),
            (Close::PeerClosed, false, false),
        ] {
            assert_eq!(
                (c.is_auth_failure(), c.is_protocol_error()),
                (auth, proto),
                "{c:?}"
            );
        }
    }

    #[test]
    fn a_replayed_frame_closes_the_link() {
        let (mut c, mut a) = up(64);
        c.send(Mono(2), 20, b"bind 192.168.1.50");
        let bytes = pump(&mut c, &mut a, Mono(2), 64);
        assert_eq!(events(&mut a).len(), 1);
        a.handle_input(Mono(3), &bytes);
        assert_eq!(events(&mut a), vec![Event::Closed(Close::BadTag)]);
        assert!(a.is_closed());
    }

    #[test]
    fn forged_frames_change_nothing() {
        let mut rng = Rng::new(5);
        for _ in 0..200 {
            let (_c, mut a) = up(64);
            // A frame of a random kind and body with a random tag, as one
            // on the segment could inject into the stream.
            let body = (0..rng.below(40))
                .map(|_| rng.next_u64() as u8)
                .collect::<Vec<_>>();
            let kind = 16 + rng.below(8) as u8;
            let len = (1 + body.len() + TAG_LEN) as u32;
            let mut f = len.to_be_bytes().to_vec();
            f.push(kind);
            f.extend_from_slice(&body);
            f.extend((0..TAG_LEN).map(|_| rng.next_u64() as u8));
            a.handle_input(Mono(5), &f);
            assert_eq!(events(&mut a), vec![Event::Closed(Close::BadTag)]);
        }
    }

    #[test]
    fn junk_and_other_protocols_are_refused_without_reading_much() {
        let t = Timers::default();
        let mut a = Link::new(End::Acceptor, psk(1), [2; NONCE_LEN], B, t, Mono(0));
        a.handle_input(Mono(1), b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(events(&mut a), vec![Event::Closed(Close::NotOurProtocol)]);
        // A frame header announcing 16 MB once up.
        let (_c, mut a) = up(64);
        a.handle_input(Mono(1), &(16u32 << 20).to_be_bytes());
        assert_eq!(
            events(&mut a),
            vec![Event::Closed(Close::BadLength(16 << 20))]
        );
        // An AUTH frame after the handshake.
        let (_c, mut a) = up(64);
        let mut f = 33u32.to_be_bytes().to_vec();
        f.push(KIND_AUTH);
        f.extend_from_slice(&[0; 32]);
        a.handle_input(Mono(1), &f);
        assert_eq!(
            events(&mut a),
            vec![Event::Closed(Close::Unexpected(KIND_AUTH))]
        );
        // Random bytes never panic.
        let mut rng = Rng::new(9);
        for _ in 0..500 {
            let mut l = Link::new(End::Acceptor, psk(1), [2; NONCE_LEN], B, t, Mono(0));
            let n = rng.below(200) as usize;
            let junk: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            l.handle_input(Mono(1), &junk);
        }
    }

    #[test]
    fn heartbeats_keep_a_quiet_link_up_and_silence_closes_it() {
        let (mut c, mut a) = up(64);
        let t = Timers::default();
        let mut now = Mono(1);
        // Ten seconds of idle traffic: only heartbeats, no events.
        while now < Mono(10_000) {
            now = c.poll_timeout().unwrap().min(a.poll_timeout().unwrap());
            c.handle_timeout(now);
            a.handle_timeout(now);
            pump(&mut c, &mut a, now, 64);
            pump(&mut a, &mut c, now, 64);
            assert!(events(&mut c).is_empty() && events(&mut a).is_empty());
        }
        // The acceptor stops hearing anything: dead after `dead_after`.
        let stop = now;
        loop {
            now = a.poll_timeout().unwrap();
            a.handle_timeout(now);
            if a.is_closed() {
                break;
            }
            let _ = a.poll_transmit();
        }
        assert_eq!(events(&mut a), vec![Event::Closed(Close::Silent)]);
        assert_eq!(now.since(stop), t.dead_after);
    }
}
