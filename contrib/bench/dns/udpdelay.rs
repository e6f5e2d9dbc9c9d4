//! udpdelay: a UDP DNS proxy that holds every query for a fixed delay
//! before passing it on (the kernel here has no netem). Replies go back at
//! once. Used by contrib/bench/dns.sh; std only, built with
//! `rustc -O contrib/bench/dns/udpdelay.rs`.
//!
//!     udpdelay LISTEN_IP:PORT UPSTREAM_IP:PORT DELAY_MS
//!
//! Queries from any client to LISTEN get a fresh 16-bit ID (the index of a
//! slot remembering the client's address and ID), wait DELAY_MS in a FIFO
//! (one delay for all, so arrival order is deadline order) and leave from
//! one socket to UPSTREAM; a reply's ID picks the slot, gets the client's
//! ID back and leaves from LISTEN. 65,536 slots: far more than the queries
//! in flight at the rates benchmarked (rate x delay). Prints one line when
//! ready; SIGTERM ends it.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const EMPTY: u64 = u64::MAX;

fn pack(a: SocketAddrV4, id: u16) -> u64 {
    (u64::from(a.ip().to_bits()) << 32) | (u64::from(a.port()) << 16) | u64::from(id)
}

fn unpack(v: u64) -> (SocketAddrV4, u16) {
    let ip = Ipv4Addr::from_bits((v >> 32) as u32);
    (SocketAddrV4::new(ip, (v >> 16) as u16), v as u16)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: udpdelay LISTEN_IP:PORT UPSTREAM_IP:PORT DELAY_MS");
        std::process::exit(2);
    }
    let listen: SocketAddr = args[1].parse().expect("LISTEN_IP:PORT");
    let upstream: SocketAddr = args[2].parse().expect("UPSTREAM_IP:PORT");
    let delay = Duration::from_secs_f64(args[3].parse::<f64>().expect("DELAY_MS") / 1000.0);

    let front = Arc::new(UdpSocket::bind(listen).expect("bind LISTEN"));
    let bind_any: SocketAddr = if upstream.ip().is_loopback() {
        "127.0.0.1:0".parse().unwrap()
    } else {
        "0.0.0.0:0".parse().unwrap()
    };
    let back = Arc::new(UdpSocket::bind(bind_any).expect("bind upstream side"));
    back.connect(upstream).expect("connect UPSTREAM");
    let slots: Arc<Vec<AtomicU64>> = Arc::new((0..65536).map(|_| AtomicU64::new(EMPTY)).collect());
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();

    // Clients -> slot + FIFO.
    {
        let front = Arc::clone(&front);
        let slots = Arc::clone(&slots);
        thread::spawn(move || {
            let mut buf = [0u8; 65535];
            let mut next: u16 = 0;
            loop {
                let Ok((n, from)) = front.recv_from(&mut buf) else { continue };
                let SocketAddr::V4(from) = from else { continue };
                if n < 12 {
                    continue;
                }
                let id = u16::from_be_bytes([buf[0], buf[1]]);
                let slot = next;
                next = next.wrapping_add(1);
                slots[usize::from(slot)].store(pack(from, id), Ordering::Release);
                let mut pkt = buf[..n].to_vec();
                pkt[..2].copy_from_slice(&slot.to_be_bytes());
                if tx.send((Instant::now() + delay, pkt)).is_err() {
                    return;
                }
            }
        });
    }
    // FIFO -> upstream, each at its deadline.
    {
        let back = Arc::clone(&back);
        thread::spawn(move || {
            for (due, pkt) in rx {
                let now = Instant::now();
                if due > now {
                    thread::sleep(due - now);
                }
                let _ = back.send(&pkt);
            }
        });
    }
    println!("udpdelay ready: {listen} -> {upstream} delay {delay:?}");
    // Upstream replies -> clients, at once.
    let mut buf = [0u8; 65535];
    loop {
        let Ok(n) = back.recv(&mut buf) else { continue };
        if n < 12 {
            continue;
        }
        let slot = u16::from_be_bytes([buf[0], buf[1]]);
        let v = slots[usize::from(slot)].swap(EMPTY, Ordering::AcqRel);
        if v == EMPTY {
            continue;
        }
        let (client, id) = unpack(v);
        buf[..2].copy_from_slice(&id.to_be_bytes());
        let _ = front.send_to(&buf[..n], client);
    }
}
