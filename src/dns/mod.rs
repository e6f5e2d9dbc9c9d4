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
//! * [`driver`]: the task with the sockets; [`acl`] says who may ask;
//!   [`config`] reads `[dns]`.

pub mod acl;
pub mod cache;
pub mod config;
pub mod driver;
pub mod forward;
pub mod grammar;
pub mod hosts;
pub mod local;
pub mod message;
pub mod resolver;
pub mod special_use;

pub use cache::{Cache, CacheConfig, CacheStats, Lookup, NotCached, Question};
pub use grammar::{
    parse_address, parse_cname, parse_dns_name, parse_domain, parse_host_record, parse_local,
    parse_ptr_record, parse_srv_host, parse_txt_record,
};
pub use hosts::HostsFile;
pub use local::{LocalAnswer, LocalData, LocalSources, respond};
pub use message::Transport;
