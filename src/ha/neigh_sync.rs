//! The IPv6 neighbours learnt by each box, over the pair link (design
//! §9, §10), sans-IO: the Backup's kernel never sees the clients'
//! traffic, so for the Backup to answer the same AAAA names the Active's
//! MAC → addresses travel, one frame per MAC whose set changed:
//!
//! ```text
//! NEIGH (37)  mac:6 | count:u8 | count × address:16   (count 0: none left)
//! ```
//!
//! Soft state, neither numbered, acknowledged nor stored on disk: on each
//! connection the sender sends its whole table again and the receiver
//! starts the peer's table afresh; a lost connection keeps what the peer
//! said last (a failover is exactly when the names matter), replaced at
//! the next connection. Each box sends only what its own kernel learnt,
//! never what it got from the peer, so nothing echoes.

use std::collections::{HashMap, VecDeque};
use std::net::Ipv6Addr;
use std::sync::Arc;

use super::stream::{Frame, Malformed};
use crate::neigh::Neighbours;
use crate::neigh::table::nameable;

pub const KIND_NEIGH: u8 = 37;
/// Addresses sent per MAC at most (a frame stays small).
const MAX_ADDRS: usize = 64;

/// One box's side of the neighbour exchange.
#[derive(Default)]
pub struct NeighSync {
    ours: Arc<Neighbours>,
    /// What the peer has from us on this connection.
    sent: HashMap<[u8; 6], Vec<Ipv6Addr>>,
    /// MACs whose set may differ from `sent`.
    dirty: VecDeque<[u8; 6]>,
    up: bool,
    theirs: HashMap<[u8; 6], Vec<Ipv6Addr>>,
    theirs_changed: bool,
}

impl NeighSync {
    /// Our own table changed.
    pub fn set_ours(&mut self, n: Arc<Neighbours>) {
        if self.up {
            let gone = self.sent.keys().filter(|m| n.addrs(&m[..]).is_empty());
            self.dirty
                .extend(gone.chain(n.iter().map(|(m, _)| m)).copied());
        }
        self.ours = n;
    }

    /// A connection authenticated: our whole table goes again, and the
    /// peer's table starts afresh.
    pub fn connected(&mut self) {
        self.up = true;
        self.sent.clear();
        self.dirty = self.ours.iter().map(|(m, _)| *m).collect();
        if !self.theirs.is_empty() {
            self.theirs.clear();
            self.theirs_changed = true;
        }
    }

    /// The connection ended; the peer's entries stay until the next one.
    pub fn disconnected(&mut self) {
        self.up = false;
        self.dirty.clear();
    }

    /// The next frame to send: a MAC whose set the peer does not have.
    pub fn poll_frame(&mut self) -> Option<Frame> {
        if !self.up {
            return None;
        }
        while let Some(mac) = self.dirty.pop_front() {
            let now = self.ours.addrs(&mac);
            let now = &now[..now.len().min(MAX_ADDRS)];
            let before = self.sent.get(&mac).map_or(&[][..], Vec::as_slice);
            if now == before {
                continue;
            }
            if now.is_empty() {
                self.sent.remove(&mac);
            } else {
                self.sent.insert(mac, now.to_vec());
            }
            let mut b = Vec::with_capacity(7 + 16 * now.len());
            b.extend_from_slice(&mac);
            b.push(now.len() as u8);
            for a in now {
                b.extend_from_slice(&a.octets());
            }
            return Some((KIND_NEIGH, b));
        }
        None
    }

    /// A NEIGH frame from the peer (authenticated by the link).
    pub fn handle_frame(&mut self, body: &[u8]) -> Result<(), Malformed> {
        if body.len() < 7 || body.len() != 7 + 16 * body[6] as usize {
            return Err(Malformed("neighbour frame length"));
        }
        let mac: [u8; 6] = body[..6].try_into().expect("6 bytes");
        let addrs: Vec<Ipv6Addr> = body[7..]
            .chunks(16)
            .map(|c| Ipv6Addr::from(<[u8; 16]>::try_from(c).expect("16 bytes")))
            .collect();
        if !addrs.iter().all(|a| nameable(*a)) {
            return Err(Malformed("neighbour address"));
        }
        let changed = if addrs.is_empty() {
            self.theirs.remove(&mac).is_some()
        } else {
            self.theirs.insert(mac, addrs.clone()) != Some(addrs)
        };
        self.theirs_changed |= changed;
        Ok(())
    }

    /// The peer's table if it changed since the last call.
    pub fn poll_theirs(&mut self) -> Option<Arc<Neighbours>> {
        if !std::mem::take(&mut self.theirs_changed) {
            return None;
        }
        Some(Arc::new(Neighbours::new(
            self.theirs
                .iter()
                .flat_map(|(m, v)| v.iter().map(move |a| (*m, *a))),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
    const B: [u8; 6] = [2, 0, 0, 0, 0, 2];

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn table(pairs: &[([u8; 6], &str)]) -> Arc<Neighbours> {
        Arc::new(Neighbours::new(pairs.iter().map(|(m, a)| (*m, ip(a)))))
    }

    /// Moves every frame from `a` to `b`; how many.
    fn pump(a: &mut NeighSync, b: &mut NeighSync) -> usize {
        let mut n = 0;
        while let Some((kind, body)) = a.poll_frame() {
            assert_eq!(kind, KIND_NEIGH);
            b.handle_frame(&body).unwrap();
            n += 1;
        }
        n
    }

    #[test]
    fn the_actives_neighbours_reach_the_backup_and_leave_with_them() {
        let (mut active, mut backup) = (NeighSync::default(), NeighSync::default());
        active.set_ours(table(&[
            (A, "2001:db8::1"),
            (A, "2001:db8::2"),
            (B, "fd00::2"),
        ]));
        assert_eq!(active.poll_frame(), None, "nothing goes while down");
        active.connected();
        backup.connected();
        assert_eq!(pump(&mut active, &mut backup), 2, "one frame per MAC");
        let t = backup.poll_theirs().expect("the peer's table");
        assert_eq!(t.addrs(&A), &[ip("2001:db8::1"), ip("2001:db8::2")]);
        assert_eq!(t.addrs(&B), &[ip("fd00::2")]);
        // The backup sends nothing of what it got (no echo).
        assert_eq!(pump(&mut backup, &mut active), 0);
        // One address of A goes, B goes entirely: two frames, and the
        // unchanged table sends nothing.
        active.set_ours(table(&[(A, "2001:db8::1")]));
        assert_eq!(pump(&mut active, &mut backup), 2);
        let t = backup.poll_theirs().expect("changed");
        assert_eq!(t.addrs(&A), &[ip("2001:db8::1")]);
        assert_eq!(t.addrs(&B), &[] as &[Ipv6Addr]);
        active.set_ours(table(&[(A, "2001:db8::1")]));
        assert_eq!(pump(&mut active, &mut backup), 0);
        assert!(backup.poll_theirs().is_none());
        // A lost link keeps the peer's entries (a failover needs them);
        // the next connection sends the whole table again, and what the
        // peer forgot meanwhile is gone.
        active.disconnected();
        backup.disconnected();
        assert!(backup.poll_theirs().is_none());
        active.set_ours(table(&[(B, "fd00::9")]));
        assert_eq!(active.poll_frame(), None);
        active.connected();
        backup.connected();
        assert_eq!(pump(&mut active, &mut backup), 1);
        let t = backup.poll_theirs().expect("afresh");
        assert_eq!(t.addrs(&A), &[] as &[Ipv6Addr]);
        assert_eq!(t.addrs(&B), &[ip("fd00::9")]);
    }

    #[test]
    fn bad_frames_are_refused() {
        let mut s = NeighSync::default();
        s.connected();
        let mut f = A.to_vec();
        f.push(1);
        assert!(s.handle_frame(&f).is_err(), "short");
        f.extend_from_slice(&ip("fe80::1").octets());
        assert!(s.handle_frame(&f).is_err(), "link-local");
        f.truncate(7);
        f.extend_from_slice(&ip("2001:db8::1").octets());
        assert!(s.handle_frame(&f).is_ok());
        f.push(0);
        assert!(s.handle_frame(&f).is_err(), "trailing");
        assert!(s.handle_frame(&[]).is_err());
        assert_eq!(s.poll_theirs().unwrap().addrs(&A), &[ip("2001:db8::1")]);
    }
}
