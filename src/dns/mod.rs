//! DNS: the caching forwarder's sans-IO core pieces (design §1, §6).
//!
//! * [`message`]: wire helpers for the fast path (header, names, EDNS).
//! * [`cache`]: the answer cache; a hit is one parse, one lookup, one copy
//!   and a few patches.
//! * [`local`]: answers that never go upstream, merged from
//!   [`hosts`] files, the dnsmasq-style records of [`grammar`], the DHCP
//!   host table and the [`special_use`] names (RFC 6761/6303/8375).
//! * [`forward`]: the upstream forwarder (RFC 5452 matching, coalescing,
//!   server selection, retries, TCP fallback).
//! * [`resolver`]: the per-query decisions joining all of the above.
//! * [`querylog`]: where each answer came from ([`querylog::Source`], which
//!   every reply of the cores carries) and the text of a `log-queries`
//!   line, which only the driver writes.
//! * [`driver`]: the task with the sockets; [`acl`] says who may ask;
//!   [`config`] reads `[dns]`; `setup` turns it into the cores' settings
//!   and local data; `metrics` publishes the counters; `error` classes the
//!   driver's errors (fault, level, counter).
//!
//! The cores follow the contract of design §3: `handle_*(now, input)`,
//! `poll_timeout()`, `handle_timeout(now)`, `poll_action()` (one
//! [`forward::Action`] type for the forwarder and the resolver: upstream
//! sends and closes, and replies to clients whose query was forwarded,
//! each addressed to the [`forward::Peer`] its query came from: destination
//! and source address, quinn's `Transmit`) and
//! `poll_event()` for what the driver logs. A client query is parsed once
//! ([`message::QueryView`]) and that view goes to the cache, the local data,
//! and the forwarder.
//!
//! # Dependencies
//! `hickory-proto` builds and reads records on the slow paths (local data,
//! CHAOS, RFC 8482, cache insertion). `hickory-server` is not used, and was
//! removed from `Cargo.toml`: it is an async server framework (its own
//! socket loop, a `RequestHandler` that gets every request decoded into a
//! `Message`, authorities and catalogs for authoritative zones). hamasq's
//! answers come from a byte-level cache hit path with `recvmmsg` /
//! `sendmmsg` batches and a sans-IO forwarder that the framework would
//! replace rather than serve; what it could add (authoritative zones,
//! DNSSEC signing) is out of scope for a LAN forwarder, and its extra
//! crates (hickory-net, async-trait, futures-util, ipnet...) would cost
//! binary size for nothing.

pub(crate) mod acl;
pub mod cache;
pub(crate) mod config;
pub(crate) mod driver;
mod error;
pub mod forward;
pub(crate) mod grammar;
pub(crate) mod hosts;
pub mod local;
pub mod message;
mod metrics;
pub(crate) mod querylog;
pub mod resolver;
mod setup;
pub(crate) mod special_use;

pub use cache::{Cache, CacheConfig, CacheStats, Lookup, NotCached, Question};
pub use grammar::{
    parse_address, parse_cname, parse_dns_name, parse_domain, parse_host_record, parse_local,
    parse_ptr_record, parse_srv_host, parse_txt_record,
};
pub use hosts::HostsFile;
pub use local::{LocalAnswer, LocalData, LocalSources, respond};
pub use message::Transport;
